/* core/include/bff/util.h — small helpers: clocks, constant-time compare, hex */
#ifndef BFF_UTIL_H
#define BFF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (for deadlines and rates). */
uint64_t bff_now_ms(void);
/* Microseconds on CLOCK_MONOTONIC. */
uint64_t bff_now_us(void);
/* Seconds since the epoch (for token and signature times). */
int64_t bff_unix_now(void);

/* Returns 1 when the first @n bytes of @a and @b are equal; the time taken
 * depends only on @n, never on the contents. */
int bff_ct_equal(const void *a, const void *b, size_t n);

/* Writes 2*@n lowercase hex digits and a NUL into @out. */
void bff_hex(const uint8_t *in, size_t n, char *out);

/* Reads a whole file into a NUL-terminated heap buffer (free() it).
 * Fails with BFF_ERANGE past @max bytes. Returns 0 or a negative bff_err. */
int bff_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
