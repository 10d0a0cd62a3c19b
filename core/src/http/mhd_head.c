/* core/src/http/mhd_head.c — the head of a libmicrohttpd request as it
 * arrived, rebuilt and checked (bff/http_strict.h): for the client listener's
 * head step and the admin listener alike. */
#include <stddef.h>

#include <microhttpd.h>

#include "bff/http_strict.h"
#include "http/mhd_head.h"

static enum MHD_Result unmangle_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    bff_http_unmangle_field(cls, key, key_size, value, value_size);
    return MHD_YES;
}

size_t mhd_head_size(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    return ci ? ci->header_size : 0;
}

/* The bytes that arrived are rebuilt from libmicrohttpd's read buffer, where
 * it parsed them in place (bff/http_strict.h), then checked: one copy and one
 * pass over the head, in request memory. */
int mhd_head_check(struct MHD_Connection *conn, const char *method, const char *version,
                   const char *uri, size_t uri_len, const char *pristine, char *scratch,
                   size_t size, struct bff_http_head *h, const char **why)
{
    struct bff_http_unmangle u;

    *why = "the request head could not be read back";
    if (!scratch || size == 0)
        return 400;
    bff_http_unmangle_begin(&u, method, size, scratch, uri, uri_len, pristine, version);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, unmangle_field, &u);
    if (bff_http_unmangle_end(&u) != 0) {
        /* the one known cause: libmicrohttpd glued an obs-fold line onto
         * the field's name somewhere else in memory */
        *why = "a field line continues on the next line (obs-fold)";
        return 400;
    }
    return bff_http_check_head(scratch, size, h, why);
}

