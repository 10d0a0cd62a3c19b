/* core/src/http/mhd_head.h — a libmicrohttpd request's head checked as it
 * arrived (SPEC §4, docs/http.md) */
#ifndef BFF_HTTP_MHD_HEAD_H
#define BFF_HTTP_MHD_HEAD_H

#include <stddef.h>

struct MHD_Connection;
struct bff_http_head;

/* The size of @conn's head in libmicrohttpd's read buffer (0: unknown). */
size_t mhd_head_size(struct MHD_Connection *conn);
/* Checks the head libmicrohttpd parsed for @conn, rebuilt in @scratch (at
 * least mhd_head_size() bytes). Returns 0 and fills @h, or the status to
 * answer with a reason in *@why. */
int mhd_head_check(struct MHD_Connection *conn, const char *method, const char *version,
                   const char *uri, size_t uri_len, const char *pristine, char *scratch,
                   size_t size, struct bff_http_head *h, const char **why);

#endif
