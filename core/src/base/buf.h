/* core/src/base/buf.h — a growing, NUL-terminated heap buffer */
#ifndef BFF_BASE_BUF_H
#define BFF_BASE_BUF_H

#include <stddef.h>

/* Appends @n bytes at @p to the malloc'd buffer *@buf (*@len used, *@cap
 * allocated; first allocation @first_cap, then doubling) and keeps it
 * NUL-terminated. Returns 0, or BFF_ENOMEM with the buffer unchanged. The
 * caller bounds the total. */
int bff_buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n,
                   size_t first_cap);

#endif
