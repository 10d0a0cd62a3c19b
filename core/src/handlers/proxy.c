/* core/src/proxy.c — proxy routes: one client request, one service call
 *
 * The request body is buffered (bounded by limits.max_body) and sent with a
 * Content-Length; the answer is buffered (same bound) and passed back with
 * its status and end-to-end headers. Header hygiene per SPEC §5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/err.h"
#include "bff/headers.h"
#include "bff/sign.h"
#include "bff/util.h"
#include "handlers/handlers.h"
#include "request/request.h"
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

static void on_proxy_done(struct up_call *c)
{
    struct bff_request *r = c->ud;
    struct bff_hdr     *hdrs;
    size_t              nh = 0;
    const char         *conn = NULL;
    const char         *svc = r->snap->cfg->services[r->route->service].name;

    r->proxy = NULL;
    const char *desc, *what;
    int         fail = up_failure(c->result, &desc, &what);
    if (fail) {
        req_add_timing(r, svc, c->ms, desc);
        req_problem(r, fail, bff_arena_printf(&r->arena, "%s %s", svc, what), NULL, 0);
        up_call_cleanup(c);
        return;
    }
    req_add_timing(r, svc, c->ms,
                   c->cached == UP_CACHED_STALE   ? "stale"
                   : c->cached == UP_CACHED_FRESH ? "cache"
                   : c->cached == UP_CACHED_SHARED ? "shared"
                                                  : NULL);
    hdrs = bff_arena_alloc(&r->arena, (c->nresp_headers + 1) * sizeof(*hdrs));
    if (!hdrs) {
        up_call_cleanup(c);
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    for (size_t i = 0; i < c->nresp_headers; i++)
        if (strcasecmp(c->resp_headers[i].name, "Connection") == 0)
            conn = c->resp_headers[i].value;
    const char *ctype = NULL;
    for (size_t i = 0; i < c->nresp_headers; i++) {
        const struct up_header *h = &c->resp_headers[i];
        if (strcasecmp(h->name, "Content-Type") == 0) {
            ctype = h->value;
            continue;
        }
        if (strcasecmp(h->name, "X-Request-Id") == 0 || strcasecmp(h->name, "Date") == 0)
            continue; /* ours */
        if (bff_header_forward_response(h->name, conn))
            hdrs[nh++] = (struct bff_hdr){h->name, h->value};
    }
    char  *body = c->resp_body;
    size_t len = c->resp_len;
    c->resp_body = NULL;
    req_respond(r, c->status, ctype, body, len, body != NULL, hdrs, nh);
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

void proxy_start(struct bff_request *r)
{
    const struct bff_config       *cfg = r->snap->cfg;
    const struct bff_service_conf *svc = &cfg->services[r->route->service];
    struct up_call                *c = bff_arena_alloc(&r->arena, sizeof(*c));
    const char                    *path = r->path;
    /* a line per client header, then X-Forwarded-For/-Proto/-Host and the
     * identity lines (at most 8: identity_headers) */
    size_t                         ncopy = req_header_count(r), cap = ncopy + 3 + 8;
    struct hdr_ctx                 hc;

    if (!c)
        goto oom;
    memset(c, 0, sizeof(*c));
    if (r->route->strip_prefix) {
        path = r->path + r->prefix_len;
        if (r->prefix_len == 1) /* route "/" */
            path = r->path;
        if (*path == '\0')
            path = "/";
    }
    const char *pq = r->query ? bff_arena_cat(&r->arena, path, "?", r->query, NULL)
                              : path;
    c->url = bff_arena_cat(&r->arena, svc->url, pq, NULL);
    c->headers = NULL;
    hc = (struct hdr_ctx){r, req_header(r, "Connection"), NULL, 0, ncopy, NULL};
    hc.out = bff_arena_alloc(&r->arena, cap * sizeof(char *));
    if (!pq || !c->url || !hc.out)
        goto oom;
    req_each_header(r, copy_hdr, &hc);
    const char *host = req_header(r, "Host");
    hc.out[hc.n++] = bff_arena_cat(&r->arena, "X-Forwarded-For: ", hc.xff ? hc.xff : "",
                                   hc.xff ? ", " : "", r->client_ip, NULL);
    hc.out[hc.n++] = "X-Forwarded-Proto: http";
    if (host)
        hc.out[hc.n++] = bff_arena_cat(&r->arena, "X-Forwarded-Host: ", host, NULL);
    const char *idh[8];
    size_t      ni = 0;
    int         irc = identity_headers(r, r->method, svc->url, pq, idh, &ni);
    if (irc == BFF_EINVAL) {
        req_problem(r, 500, "the forwarded identity cannot be signed", NULL, 0);
        return;
    }
    if (irc)
        goto oom;
    for (size_t i = 0; i < ni && hc.n < cap; i++)
        hc.out[hc.n++] = idh[i];
    for (size_t i = 0; i < hc.n; i++)
        if (!hc.out[i])
            goto oom;

    c->method = r->method;
    c->head = r->mbit == BFF_M_HEAD;
    c->headers = hc.out;
    c->nheaders = hc.n;
    c->body = r->body;
    c->body_len = r->body_len;
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
    req_suspend(r);
    return;
oom:
    req_problem(r, 500, "out of memory", NULL, 0);
}
