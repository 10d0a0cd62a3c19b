/* core/src/pipeline/head.c — the head step, the front door (SPEC §4,
 * docs/http.md): the request's id and trace context, the head as it arrived
 * rebuilt from libmicrohttpd's buffer and checked (bff/http_strict.h), the
 * target and its path normalized, the method known. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "base/rand.h"
#include "bff/config.h"
#include "bff/headers.h"
#include "bff/http_strict.h"
#include "bff/router.h"
#include "http/mhd_head.h"
#include "pipeline/pipeline.h"
#include "request/request.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

static int client_addr(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return -1;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  out, (socklen_t)cap);
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

struct ts_join {
    struct bff_request *r;
    char               *buf; /* BFF_TRACESTATE_MAX_BYTES + 1 */
    size_t              len;
    int                 n, over;
};

static int ts_collect(void *cls, const char *name, const char *value)
{
    struct ts_join *j = cls;
    size_t          vl;

    if (strcasecmp(name, "tracestate") != 0)
        return 1;
    vl = strlen(value);
    if (j->len + (j->n > 0) + vl > BFF_TRACESTATE_MAX_BYTES) {
        j->over = 1;
        return 0;
    }
    if (j->n++ > 0)
        j->buf[j->len++] = ',';
    memcpy(j->buf + j->len, value, vl);
    j->len += vl;
    return 1;
}

/* The client's tracestate lines joined and checked (W3C Trace Context), in
 * request memory; NULL when there is none, it is empty, or it is invalid or
 * over its bounds (then it is dropped whole, never passed on in part). */
static const char *tracestate_in(struct bff_request *r)
{
    struct ts_join j = {r, NULL, 0, 0, 0};
    char          *out;
    int            n;

    if (!req_header(r, "tracestate"))
        return NULL;
    j.buf = bff_arena_alloc(&r->arena, 2 * (BFF_TRACESTATE_MAX_BYTES + 1));
    if (!j.buf)
        return NULL;
    req_each_header(r, ts_collect, &j);
    if (j.over)
        return NULL;
    out = j.buf + BFF_TRACESTATE_MAX_BYTES + 1;
    n = bff_tracestate_normalize(j.buf, j.len, out, BFF_TRACESTATE_MAX_BYTES + 1);
    return n > 0 ? out : NULL;
}

/* Answers a head the front door refuses and closes the connection: the
 * answer is queued on the first call (libmicrohttpd then reads nothing
 * more from the connection) and says Connection: close. */
void step_refuse(struct bff_request *r, int status, const char *why)
{
    static const struct bff_hdr close_hdr = {"Connection", "close"};
    r->close_now = 1;
    req_problem(r, status, why, &close_hdr, 1);
}

/* The front door (SPEC §4, docs/http.md): the ids of the request and its
 * trace, the head as it arrived checked, the target and its path made
 * safe, the method known. Refusals close the connection. */
enum bff_step_result step_head(struct bff_request *r)
{
    const struct bff_config *cfg = r->snap->cfg;
    const char              *method = r->method, *version = r->version;
    const char              *v;

    client_addr(r->conn, r->client_ip, sizeof(r->client_ip));

    v = req_header(r, "X-Request-Id");
    if (v && bff_request_id_sane(v))
        snprintf(r->request_id, sizeof(r->request_id), "%s", v);
    else
        req_new_id(r->w, r->request_id);
    v = req_header(r, "traceparent");
    if (v && bff_traceparent_valid(v)) {
        /* the caller decided: its sampled flag (bit 0 of trace-flags) is
         * passed on, and its tracestate with it */
        memcpy(r->trace_id, v + 3, 32), r->trace_id[32] = '\0';
        r->trace_sampled = (hexval(v[54]) & 1) != 0;
        r->tracestate = tracestate_in(r);
    } else {
        /* a trace started here is sampled by tracing.sample_ratio */
        double ratio = cfg->tracing.sample_ratio;
        req_new_id(r->w, r->trace_id);
        r->trace_sampled =
            ratio >= 1.0 ||
            (ratio > 0.0 && (double)(bff_rand(&r->w->rng) >> 11) * 0x1p-53 < ratio);
        r->tracestate = NULL; /* W3C: never without a valid traceparent */
    }

    {
        struct bff_http_head h;
        const char          *why;
        size_t               size = mhd_head_size(r->conn);
        char                *scratch = size ? bff_arena_alloc(&r->arena, size) : NULL;
        int st = mhd_head_check(r->conn, method, version, r->mhd_uri, r->mhd_uri_len,
                                r->raw_uri, scratch, size, &h, &why);
        if (st) {
            step_refuse(r, st, why);
            return STEP_DONE;
        }
        r->content_length = h.has_cl ? h.content_length : 0;
        r->has_body = r->content_length > 0 || h.chunked;
        r->chunked = h.chunked;
    }
    if (!r->raw_uri || r->raw_uri[0] != '/') {
        step_refuse(r, 400, "the request target must be an absolute path");
        return STEP_DONE;
    }
    char *hash = strchr(r->raw_uri, '#'); /* a fragment never reaches a service */
    if (hash)
        *hash = '\0';
    const char *q = strchr(r->raw_uri, '?');
    size_t      plen = q ? (size_t)(q - r->raw_uri) : strlen(r->raw_uri);
    r->query = q ? q + 1 : NULL;
    if (bff_path_hidden_dots(r->raw_uri, plen)) {
        step_refuse(r, 400,
                    "the path hides a dot segment in an escape, a backslash or a ';' "
                    "(it could leave its route at the service)");
        return STEP_DONE;
    }
    r->path = bff_arena_alloc(&r->arena, plen + 1);
    if (!r->path || bff_path_normalize(r->raw_uri, plen, r->path, plen + 1,
                                       &r->path_len) != 0) {
        r->path = NULL;
        step_refuse(r, 400, "the request path is malformed");
        return STEP_DONE;
    }
    if (!r->mbit) {
        req_problem(r, 501, "this method is not supported", NULL, 0);
        return STEP_DONE;
    }
    return STEP_NEXT;
}
