/* core/src/request/request.c — the request object (request/request.h) */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "base/log.h"
#include "base/problem.h"
#include "base/rand.h"
#include "bff/util.h"
#include "request/request.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

const char *req_header(struct bff_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct each_ctx {
    int (*fn)(void *cls, const char *name, const char *value);
    void *cls;
};

static enum MHD_Result each_hdr(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct each_ctx *c = cls;
    (void)kind;
    return c->fn(c->cls, key, value ? value : "") ? MHD_YES : MHD_NO;
}

void req_each_header(struct bff_request *r,
                     int (*fn)(void *cls, const char *name, const char *value),
                     void *cls)
{
    struct each_ctx c = {fn, cls};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, each_hdr, &c);
}

size_t req_header_count(struct bff_request *r)
{
    int n = MHD_get_connection_values(r->conn, MHD_HEADER_KIND, NULL, NULL);
    return n > 0 ? (size_t)n : 0;
}

void req_new_id(struct bff_worker *w, char out[33])
{
    uint8_t  b[16];
    uint64_t a = bff_rand(&w->rng), c = bff_rand(&w->rng);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    bff_hex(b, 16, out);
}

/* "traceparent: 00-<trace>-<new span>-<flags>", the header a service call
 * carries: flags 01 when the trace is sampled, else 00. */
const char *req_child_traceparent_header(struct bff_request *r)
{
    static const char pre[] = "traceparent: 00-";
    char             *out = bff_arena_alloc(&r->arena, sizeof(pre) - 1 + 32 + 1 + 16 + 3 + 1);
    uint64_t          v = bff_rand(&r->w->rng) | 1u;
    if (!out)
        return NULL;
    char *p = out;
    memcpy(p, pre, sizeof(pre) - 1), p += sizeof(pre) - 1;
    memcpy(p, r->trace_id, 32), p += 32;
    *p++ = '-';
    bff_hex((const uint8_t *)&v, 8, p), p += 16;
    memcpy(p, r->trace_sampled ? "-01" : "-00", 4);
    return out;
}

/* @ms with one decimal, as Server-Timing's dur (no printf: this runs per
 * service call). */
static void fmt_ms(double ms, char out[24])
{
    uint64_t t = ms <= 0 ? 0 : ms >= 1e12 ? (uint64_t)1e13 : (uint64_t)(ms * 10.0 + 0.5);
    char     tmp[24];
    int      n = 0;
    tmp[n++] = (char)('0' + t % 10);
    tmp[n++] = '.';
    t /= 10;
    do
        tmp[n++] = (char)('0' + t % 10);
    while ((t /= 10) != 0);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

void req_add_timing(struct bff_request *r, const char *name, double ms, const char *desc)
{
    char  dur[24];
    char *t;
    fmt_ms(ms, dur);
    t = bff_arena_cat(&r->arena, r->timings ? r->timings : "", r->timings ? ", " : "", name,
                      ";dur=", dur, desc ? ";desc=\"" : "", desc ? desc : "",
                      desc ? "\"" : "", NULL);
    if (t)
        r->timings = t;
}

void req_suspend(struct bff_request *r)
{
    if (!r->suspended && !r->answered) {
        r->suspended = 1;
        r->suspended_ms = bff_now_ms();
        MHD_suspend_connection(r->conn);
        /* MHD does not see a suspended client leave; server_watch_waiting()
         * has the worker's epoll watch it once it has waited a while */
    }
}

void req_resume(struct bff_request *r)
{
    if (r->suspended && !r->answered) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
        r->w->mhd_resumed = 1;
    }
}

void req_response_headers(struct bff_request *r, void *resp_, const char *content_type,
                          const struct bff_hdr *hdrs, size_t nhdrs)
{
    struct MHD_Response *resp = resp_;
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; i < nhdrs; i++)
        MHD_add_response_header(resp, hdrs[i].name, hdrs[i].value);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    for (unsigned i = 0; i < r->nrhdrs; i++)
        MHD_add_response_header(resp, r->rhdrs[i].name, r->rhdrs[i].value);
}

void req_set_answer(struct bff_request *r, void *resp, int status, size_t bytes_out)
{
    r->resp = resp;
    r->status = status;
    r->bytes_out = bytes_out;
    r->answered = 1;
    req_unwatch(r);
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
        r->w->mhd_resumed = 1;
    }
}

void req_respond(struct bff_request *r, int status, const char *content_type, char *body,
                 size_t len, int body_malloced, const struct bff_hdr *hdrs, size_t nhdrs)
{
    struct MHD_Response *resp;

    if (r->answered) {
        if (body_malloced)
            free(body);
        return;
    }
    if (r->on_answer) {
        void (*fn)(struct bff_request *, int, const char *, const char *, size_t,
                   const struct bff_hdr *, size_t) = r->on_answer;
        r->on_answer = NULL;
        fn(r, status, content_type, body, body ? len : 0, hdrs, nhdrs);
    }
    resp = MHD_create_response_from_buffer(len, body ? body : (char *)"",
                                           body_malloced ? MHD_RESPMEM_MUST_FREE
                                                         : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (body_malloced)
            free(body);
        static char oops[] = "{\"type\":\"about:blank\",\"title\":\"Internal Server "
                             "Error\",\"status\":500}";
        resp = MHD_create_response_from_buffer(sizeof(oops) - 1, oops,
                                               MHD_RESPMEM_PERSISTENT);
        status = 500;
        content_type = "application/problem+json";
        nhdrs = 0;
        if (!resp)
            return; /* MHD closes the connection */
    }
    req_response_headers(r, resp, content_type, hdrs, nhdrs);
    if (!r->close_now &&
        (atomic_load_explicit(&r->w->srv->draining, memory_order_relaxed) || status == 400 ||
         status == 408 || status == 413 || status == 414 || status == 431 || status == 501 ||
         status == 505))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    req_set_answer(r, resp, status, len);
}

void req_problem(struct bff_request *r, int status, const char *detail,
                 const struct bff_hdr *hdrs, size_t nhdrs)
{
    size_t len = 0;
    char  *body = problem_body(&r->arena, status, detail, r->path ? r->path : r->raw_uri,
                               r->request_id, &len);
    req_respond(r, status, "application/problem+json", body, body ? len : 0, 0, hdrs,
                nhdrs);
}

int req_push_header(struct bff_request *r, const char *name, const char *value)
{
    if (r->nrhdrs >= REQ_MAX_RHDRS || !name || !value)
        return -1;
    r->rhdrs[r->nrhdrs++] = (struct bff_hdr){name, value};
    return 0;
}

void req_refuse_later(struct bff_request *r, int status, const char *detail,
                      const struct bff_hdr *hdrs, size_t nhdrs)
{
    if (r->refusal.pending)
        return;
    r->refusal.pending = 1;
    r->refusal.status = status;
    r->refusal.detail = detail;
    r->refusal.nhdrs = nhdrs < 2 ? nhdrs : 2;
    for (size_t i = 0; i < r->refusal.nhdrs; i++)
        r->refusal.hdrs[i] = hdrs[i];
}

int req_refusal_answer(struct bff_request *r)
{
    if (!r->refusal.pending)
        return 0;
    r->refusal.pending = 0;
    req_problem(r, r->refusal.status, r->refusal.detail, r->refusal.hdrs,
                r->refusal.nhdrs);
    return 1;
}

void req_cancel(struct bff_request *r)
{
    void (*fn)(struct bff_request *) = r->cancel;
    r->cancel = NULL;
    if (fn)
        fn(r);
}

void req_log_access(struct bff_request *r)
{
    struct log_access_line l = {
        .request_id = r->request_id,
        .trace_id = r->trace_id[0] ? r->trace_id : NULL,
        .method = r->method,
        .path = r->path ? r->path : r->raw_uri,
        .route = r->route ? r->route->path : NULL,
        .status = r->status,
        .duration_ms = (double)(bff_now_us() - r->start_us) / 1000.0,
        .user_id = r->authenticated ? r->ident.user_id : NULL,
        .client = r->client_ip,
        .upstream = r->timings,
        .bytes_in = r->body_len_total ? r->body_len_total : r->body_len,
        .bytes_out = r->bytes_out,
    };
    log_access(&l);
}

void req_unwatch(struct bff_request *r)
{
    if (!r->watching)
        return;
    epoll_ctl(r->w->epfd, EPOLL_CTL_DEL, r->client_fd, NULL);
    r->watching = 0;
}

void req_refusal_hold(struct bff_request *r)
{
    r->refusal.held = 1;
}
