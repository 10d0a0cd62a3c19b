/* core/src/pipeline/body.c — the body step, once the whole body is in: past
 * max_body (a chunked body has no Content-Length to refuse early: 413), and
 * the trailer section of a chunked body, held to the head's field rules
 * (trailers are never forwarded). */
#include <string.h>

#include <microhttpd.h>

#include "bff/http_strict.h"
#include "pipeline/pipeline.h"
#include "request/request.h"

static enum MHD_Result trailer_check(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    int *bad = cls;
    (void)kind;
    char line[1024];
    if (key_size + value_size + 2 > sizeof(line)) {
        *bad = 1;
        return MHD_NO;
    }
    memcpy(line, key, key_size);
    line[key_size] = ':';
    memcpy(line + key_size + 1, value, value_size);
    if (bff_http_check_field_line(line, key_size + 1 + value_size) != 0 ||
        strnlen(key, key_size) != key_size || strnlen(value, value_size) != value_size) {
        *bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

/* The trailer section of a chunked body, as libmicrohttpd parsed it (its
 * footers): the same field rules as the head (they are never forwarded). */
int pipeline_trailers_bad(struct bff_request *r)
{
    int bad = 0;
    MHD_get_connection_values_n(r->conn, MHD_FOOTER_KIND, trailer_check, &bad);
    return bad;
}

enum bff_step_result step_body(struct bff_request *r)
{
    if (r->body_too_large) {
        step_refuse(r, 413, "the request body is larger than max_body");
        return STEP_DONE;
    }
    if (r->chunked && pipeline_trailers_bad(r)) {
        step_refuse(r, 400, "a trailer field is not a token name with a valid value");
        return STEP_DONE;
    }
    return STEP_NEXT;
}
