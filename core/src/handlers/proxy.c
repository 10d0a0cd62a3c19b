/* core/src/handlers/proxy.c — proxy routes: one client request, one
 * service call
 *
 * The answer streams (docs/streaming.md): its status and end-to-end headers
 * go to the client when the service's head is in, its bytes as they come,
 * through the request's bounded stream buffer, curl paused while the
 * client is slower than the service. An answer that is all in within the
 * turn its head came in goes out whole, as a plain answer. Kept whole
 * (bounded by limits.max_body) instead: 5xx answers (retries), GETs of a
 * service with cache:, answers kept for Idempotency-Key. The request body
 * streams the same way (proxy_body_streams), or is buffered (bounded) and
 * sent with a Content-Length. Header hygiene per SPEC §5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/err.h"
#include "bff/headers.h"
#include "bff/sign.h"
#include "bff/util.h"
#include "handlers/handlers.h"
#include "request/request.h"
#include "request/stream.h"
#include "rules/breaker.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

/* The path part of a service URL ("http://h:1/base" -> "/base"; "" when the
 * URL has none): what the service sees in front of the path we send. */
static const char *url_base_path(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "";
}

int identity_headers(struct bff_request *r, const char *method, const char *service_url,
                     const char *path_query, const char **out, size_t *nout)
{
    size_t      n = 0;
    const char *uid = r->authenticated ? r->ident.user_id : NULL;
    const char *roles = r->authenticated ? r->ident.roles : NULL;

    *nout = 0;
    out[n++] = bff_arena_cat(&r->arena, "X-Request-Id: ", r->request_id, NULL);
    out[n++] = req_child_traceparent_header(r);
    if (out[n - 1] && r->tracestate)
        out[n++] = bff_arena_cat(&r->arena, "tracestate: ", r->tracestate, NULL);
    if (uid) {
        out[n++] = bff_arena_cat(&r->arena, "X-User-Id: ", uid, NULL);
        out[n++] = bff_arena_cat(&r->arena, "X-User-Roles: ", roles, NULL);
    }
    if (r->snap->sign_key) {
        char sig[BFF_SIGN_HEADER_MAX];
        /* signed over the request target exactly as the service receives it */
        const char *base = url_base_path(service_url);
        const char *target =
            *base ? bff_arena_cat(&r->arena, base, path_query, NULL) : path_query;
        if (!target)
            return BFF_ENOMEM;
        /* A field the signer refuses (a control character) is never sent
         * unsigned: the service would refuse it, or worse, trust it. */
        if (bff_sign_identity(r->snap->sign_key, r->snap->sign_keylen, bff_unix_now(),
                              method, target, uid, roles, r->request_id, sig) != 0)
            return BFF_EINVAL;
        out[n++] = bff_arena_cat(&r->arena, "X-Gateway-Signature: ", sig, NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (!out[i])
            return BFF_ENOMEM;
    *nout = n;
    return 0;
}

struct hdr_ctx {
    struct bff_request *r;
    const char         *conn;
    const char        **out;
    size_t              n, cap;
    const char         *xff;
};

static int copy_hdr(void *cls, const char *name, const char *value)
{
    struct hdr_ctx *c = cls;
    if (strcasecmp(name, "X-Forwarded-For") == 0) {
        c->xff = value;
        return 1;
    }
    if (!bff_header_forward_request(name, c->conn))
        return 1;
    if (c->n >= c->cap)
        return 1; /* cannot happen: out has a slot per client header */
    c->out[c->n++] = bff_arena_cat(&c->r->arena, name, ": ", value, NULL);
    return 1;
}

/* The service's end-to-end headers to pass on (not Content-Type: *ctype;
 * nor Content-Length, Date and X-Request-Id: ours). NULL when out of memory. */
static struct bff_hdr *answer_headers(struct bff_request *r, struct up_call *c,
                                      const char **ctype, size_t *nh)
{
    struct bff_hdr *hdrs = bff_arena_alloc(&r->arena, (c->nresp_headers + 1) * sizeof(*hdrs));
    const char     *conn = NULL;

    *ctype = NULL;
    *nh = 0;
    if (!hdrs)
        return NULL;
    for (size_t i = 0; i < c->nresp_headers; i++)
        if (strcasecmp(c->resp_headers[i].name, "Connection") == 0)
            conn = c->resp_headers[i].value;
    for (size_t i = 0; i < c->nresp_headers; i++) {
        const struct up_header *h = &c->resp_headers[i];
        if (strcasecmp(h->name, "Content-Type") == 0) {
            *ctype = h->value;
            continue;
        }
        if (strcasecmp(h->name, "X-Request-Id") == 0 || strcasecmp(h->name, "Date") == 0)
            continue; /* ours */
        if (bff_header_forward_response(h->name, conn))
            hdrs[(*nh)++] = (struct bff_hdr){h->name, h->value};
    }
    return hdrs;
}

static const char *timing_desc(const struct up_call *c)
{
    return c->cached == UP_CACHED_STALE    ? "stale"
           : c->cached == UP_CACHED_FRESH  ? "cache"
           : c->cached == UP_CACHED_SHARED ? "shared"
                                           : NULL;
}

/* A streamed answer's state, kept between head() and done(). */
struct proxy_stream {
    struct bff_hdr *hdrs;
    size_t          nh;
    const char     *ctype;
    uint64_t        size; /* the service's Content-Length, or REQ_SIZE_UNKNOWN */
};

static void on_streamed_done(struct up_call *c)
{
    struct bff_request  *r = c->ud;
    struct proxy_stream *ps = r->proxy_stream;
    const char          *svc = r->snap->cfg->services[r->route->service].name;

    r->proxy = NULL;
    if (req_stream_began(r)) { /* the client has the head: end it as it ended */
        req_add_timing(r, svc, c->ms,
                       c->result == UP_OK        ? NULL
                       : c->result == UP_TIMEOUT ? "idle_timeout"
                                                 : "broken");
        req_stream_end(r, c->result == UP_OK,
                       c->result == UP_OK        ? METRICS_END_COMPLETE
                       : c->result == UP_TIMEOUT ? METRICS_END_IDLE
                                                 : METRICS_END_BROKEN);
        return;
    }
    const char *desc, *what;
    int         fail = up_failure(c->result, &desc, &what);
    if (fail) { /* broken before the client saw anything: an honest 502 */
        req_add_timing(r, svc, c->ms, desc);
        req_problem(r, fail, bff_arena_printf(&r->arena, "%s %s", svc, what), NULL, 0);
        return;
    }
    size_t len = 0;
    char  *body = req_stream_take(r, &len); /* all of it came in one turn */
    req_add_timing(r, svc, c->ms, NULL);
    req_respond(r, c->status, ps->ctype, body, len, body != NULL, ps->hdrs, ps->nh);
}

static void on_proxy_done(struct up_call *c)
{
    struct bff_request *r = c->ud;
    const char         *svc = r->snap->cfg->services[r->route->service].name;

    if (c->streaming) {
        on_streamed_done(c);
        return;
    }
    r->proxy = NULL;
    const char *desc, *what;
    int         fail = up_failure(c->result, &desc, &what);
    if (fail) {
        req_add_timing(r, svc, c->ms, desc);
        req_problem(r, fail, bff_arena_printf(&r->arena, "%s %s", svc, what), NULL, 0);
        up_call_cleanup(c);
        return;
    }
    req_add_timing(r, svc, c->ms, timing_desc(c));
    const char     *ctype;
    size_t          nh;
    struct bff_hdr *hdrs = answer_headers(r, c, &ctype, &nh);
    if (!hdrs) {
        up_call_cleanup(c);
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    char  *body = c->resp_body;
    size_t len = c->resp_len;
    c->resp_body = NULL;
    req_respond(r, c->status, ctype, body, len, body != NULL, hdrs, nh);
}

/* ---- the stream ops (upstream-t.h) ------------------------------------------ */

static void room(struct bff_request *r)
{
    if (r->proxy)
        up_call_resume_answer(r->proxy);
}

static void st_head(struct up_call *c)
{
    struct bff_request  *r = c->ud;
    struct proxy_stream *ps = bff_arena_alloc(&r->arena, sizeof(*ps));
    uint64_t             size = REQ_SIZE_UNKNOWN;

    if (ps)
        ps->hdrs = answer_headers(r, c, &ps->ctype, &ps->nh);
    if (!ps || !ps->hdrs || req_stream_open(r, room) != 0) {
        r->proxy_stream = NULL;
        return; /* data() refuses: a 502 */
    }
    if (c->resp_cl) {
        uint64_t v = 0;
        const char *p = c->resp_cl;
        for (; *p >= '0' && *p <= '9' && v < UINT64_MAX / 10; p++)
            v = v * 10 + (uint64_t)(*p - '0');
        if (*p == '\0' && p != c->resp_cl)
            size = v;
    }
    ps->size = size;
    r->proxy_stream = ps;
}

static int st_data(struct up_call *c, const char *p, size_t len)
{
    struct bff_request *r = c->ud;
    if (!r->proxy_stream)
        return UP_DATA_ABORT;
    int rc = req_stream_put(r, p, len);
    return rc == 0 ? UP_DATA_TAKEN : rc == 1 ? UP_DATA_PAUSE : UP_DATA_ABORT;
}

/* The head came in a turn that did not bring the whole answer: the
 * client gets the head now, the bytes as they come. */
static void st_flow(struct up_call *c)
{
    struct bff_request  *r = c->ud;
    struct proxy_stream *ps = r->proxy_stream;
    if (!ps)
        return;
    int sse = ps->ctype && strncasecmp(ps->ctype, "text/event-stream", 17) == 0;
    int rc = req_stream_begin(r, c->status, ps->ctype, ps->hdrs, ps->nh, ps->size,
                              sse ? METRICS_STREAM_SSE : METRICS_STREAM_ANSWER);
    if (rc == 0)
        return;
    const char *svc = r->snap->cfg->services[r->route->service].name;
    up_call_cancel(c);
    r->proxy = NULL;
    req_add_timing(r, svc, c->ms, rc == REQ_STREAM_FULL ? "max_streams" : "broken");
    if (rc == REQ_STREAM_FULL) {
        struct bff_hdr h = {"Retry-After", "1"};
        req_problem(r, 503,
                    bff_arena_printf(&r->arena, "the route has max_streams (%u) open",
                                     r->route->max_streams),
                    &h, 1);
        return;
    }
    req_problem(r, 500, "out of memory", NULL, 0);
}

static long st_read(struct up_call *c, char *buf, size_t max)
{
    return req_upload_read(c->ud, buf, max);
}

static const struct up_stream_ops stream_ops = {st_head, st_flow, st_data, st_read};

static void upload_more(struct bff_request *r)
{
    if (r->proxy)
        up_call_resume_body(r->proxy);
}

int proxy_body_streams(const struct bff_request *r)
{
    if (!r->route || r->route->kind != BFF_ROUTE_PROXY || r->route->service < 0)
        return 0;
    if (r->route->idempotency != BFF_IDEM_OFF && (r->mbit & (BFF_M_POST | BFF_M_PATCH)))
        return 0; /* the body's hash and the kept answer need it whole */
    /* A body whose length is known and within one stream window is read
     * whole first: it can then be sent again by a retry, and costs no more
     * memory than streaming it would. */
    return r->chunked || r->content_length > REQ_UPLOAD_MAX;
}

/* r->cancel: the call stopped (the client left, the gateway stops, the
 * request completed); done() is not called. */
static void proxy_cancel(struct bff_request *r)
{
    if (r->proxy) {
        up_call_cancel(r->proxy);
        r->proxy = NULL;
    }
}

int proxy_forward(struct bff_request *r, const char *method, const char **path_query,
                  const char ***lines, size_t *nlines)
{
    const struct bff_service_conf *svc = &r->snap->cfg->services[r->route->service];
    const char                    *path = r->path;
    /* a line per client header, then X-Forwarded-For/-Proto/-Host and the
     * identity lines (at most 8: identity_headers) */
    size_t                         ncopy = req_header_count(r), cap = ncopy + 3 + 8;
    struct hdr_ctx                 hc;

    if (r->route->strip_prefix) {
        path = r->path + r->prefix_len;
        if (r->prefix_len == 1) /* route "/" */
            path = r->path;
        if (*path == '\0')
            path = "/";
    }
    const char *pq = r->query ? bff_arena_cat(&r->arena, path, "?", r->query, NULL)
                              : path;
    hc = (struct hdr_ctx){r, req_header(r, "Connection"), NULL, 0, ncopy, NULL};
    hc.out = bff_arena_alloc(&r->arena, cap * sizeof(char *));
    if (!pq || !hc.out)
        return BFF_ENOMEM;
    req_each_header(r, copy_hdr, &hc);
    const char *host = req_header(r, "Host");
    hc.out[hc.n++] = bff_arena_cat(&r->arena, "X-Forwarded-For: ", hc.xff ? hc.xff : "",
                                   hc.xff ? ", " : "", r->client_ip, NULL);
    hc.out[hc.n++] = "X-Forwarded-Proto: http";
    if (host)
        hc.out[hc.n++] = bff_arena_cat(&r->arena, "X-Forwarded-Host: ", host, NULL);
    const char *idh[8];
    size_t      ni = 0;
    int         irc = identity_headers(r, method, svc->url, pq, idh, &ni);
    if (irc)
        return irc;
    for (size_t i = 0; i < ni && hc.n < cap; i++)
        hc.out[hc.n++] = idh[i];
    for (size_t i = 0; i < hc.n; i++)
        if (!hc.out[i])
            return BFF_ENOMEM;
    *path_query = pq;
    *lines = hc.out;
    *nlines = hc.n;
    return 0;
}

void proxy_start(struct bff_request *r)
{
    const struct bff_config       *cfg = r->snap->cfg;
    const struct bff_service_conf *svc = &cfg->services[r->route->service];
    struct up_call                *c = bff_arena_alloc(&r->arena, sizeof(*c));
    const char                    *pq, **lines;
    size_t                         nlines;

    if (!c)
        goto oom;
    memset(c, 0, sizeof(*c));
    int frc = proxy_forward(r, r->method, &pq, &lines, &nlines);
    if (frc == BFF_EINVAL) {
        req_problem(r, 500, "the forwarded identity cannot be signed", NULL, 0);
        return;
    }
    if (frc)
        goto oom;
    c->url = bff_arena_cat(&r->arena, svc->url, pq, NULL);
    if (!c->url)
        goto oom;

    c->method = r->method;
    c->head = r->mbit == BFF_M_HEAD;
    c->headers = lines;
    c->nheaders = nlines;
    c->body = r->body;
    c->body_len = r->body_len;
    /* streams unless the answer is one to keep (cache:, Idempotency-Key) */
    if (!r->on_answer && !(svc->cache.max_entries && (r->mbit & (BFF_M_GET | BFF_M_HEAD)))) {
        c->stream = &stream_ops;
        c->idle_timeout_ms = svc->idle_timeout_ms;
    }
    if (r->body_streaming) {
        c->stream = &stream_ops;
        c->idle_timeout_ms = svc->idle_timeout_ms;
        c->body_streamed = 1;
        c->body_size = r->chunked ? -1 : (int64_t)r->content_length;
        c->body = NULL;
        c->body_len = 0;
        r->upload_more = upload_more;
    }
    c->connect_timeout_ms = svc->connect_timeout_ms;
    c->timeout_ms = r->route->timeout_ms ? r->route->timeout_ms : svc->timeout_ms;
    c->max_body = cfg->limits.max_body;
    c->max_header = cfg->limits.max_header_bytes;
    c->done = on_proxy_done;
    c->ud = r;
    c->rt = &r->snap->services[r->route->service];
    c->arena = &r->arena;
    if (up_call_start(r->w, c) != 0) {
        if (c->rejected) { /* circuit open, bulkhead full or service down */
            const char    *name = cfg->services[r->route->service].name;
            uint32_t       s = (c->retry_after_ms + 999) / 1000;
            struct bff_hdr h = {"Retry-After",
                                bff_arena_printf(&r->arena, "%u", s ? s : 1)};
            req_add_timing(r, name, 0, res_reject_text(c->rejected));
            req_problem(r, 503,
                        bff_arena_printf(&r->arena, "%s is not called: %s", name,
                                         res_reject_text(c->rejected)),
                        h.value ? &h : NULL, h.value ? 1 : 0);
            return;
        }
        goto oom;
    }
    r->proxy = c;
    r->cancel = proxy_cancel;
    if (!r->body_streaming)
        req_suspend(r); /* a streamed body: once it is all in (front/) */
    return;
oom:
    req_problem(r, 500, "out of memory", NULL, 0);
}
