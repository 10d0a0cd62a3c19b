/* core/src/server.c — the process: flags, config snapshots, signals, the admin
 * listener, and the libmicrohttpd callbacks that turn a client request into a
 * proxy call or an aggregation. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "bff/err.h"
#include "bff/headers.h"
#include "bff/http_strict.h"
#include "bff/sign.h"
#include "bff/util.h"
#include "pipeline/policy.h"
#include "types/internal.h"
#include "runtime/metrics.h"
#include "pipeline/rl_store.h"

#ifndef BFF_VERSION /* meson passes project().version */
#define BFF_VERSION "0.1.0"
#endif
#ifndef BFF_SYSCONFDIR /* meson passes its sysconfdir (default /etc) */
#define BFF_SYSCONFDIR "/etc"
#endif

/* ---- snapshots ---------------------------------------------------------- */

struct bff_snapshot *snap_ref(struct bff_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void snap_unref(struct bff_snapshot *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    bff_router_free(s->router);
    policy_snapshot_cleanup(s);
    metrics_snapshot_cleanup(s);
    free(s->sign_key);
    free(s->services);
    bff_config_free(s->cfg);
    free(s);
}

/* Replaces *@field with the value of environment variable @name when it is
 * set and not empty. Returns 0, or BFF_ENOMEM. */
static int env_override(char **field, const char *name)
{
    const char *v = getenv(name);
    char       *copy;
    if (!v || !*v)
        return 0;
    if (!(copy = strdup(v)))
        return BFF_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* Loads @path into a new snapshot with everything the request path needs
 * prepared. BFF_LISTEN and BFF_ADMIN_LISTEN, when set, override listen and
 * admin_listen, so that one file (one sha256) can run as several instances
 * on one host (docs/operations.md). On failure prints every problem as
 * FILE:LINE:COL: message (or
 * FILE: message) to @err and returns NULL. */
static struct bff_snapshot *snap_load(const struct bff_app *app, const char *path,
                                      FILE *err)
{
    struct bff_diag         diag = {0};
    struct bff_config_opts  opts = {app->endpoints, app->nendpoints};
    struct bff_snapshot    *s = NULL;
    struct bff_config      *cfg = bff_config_load(path, &opts, &diag);

    if (!cfg) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(err, "%s\n", diag.msgs[i]);
        if (diag.n == 0)
            fprintf(err, "%s: cannot load config\n", path);
        bff_diag_cleanup(&diag);
        return NULL;
    }
    bff_diag_cleanup(&diag);
    if (env_override(&cfg->listen, "BFF_LISTEN") != 0 ||
        env_override(&cfg->admin_listen, "BFF_ADMIN_LISTEN") != 0)
        goto fail;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    atomic_init(&s->refs, 1);
    s->cfg = cfg;
    s->services = calloc(cfg->nservices ? cfg->nservices : 1, sizeof(*s->services));
    s->router = bff_router_new(cfg->routes, cfg->nroutes);
    if (!s->services || !s->router) {
        fprintf(err, "%s: out of memory building the route table\n", path);
        goto fail;
    }
    for (size_t i = 0; i < cfg->nservices; i++)
        s->services[i].conf = &cfg->services[i];
    if (policy_snapshot_init(s, err) != 0)
        goto fail;
    if (cfg->auth.internal_signing_key_file) {
        const char *why = NULL;
        int rc = bff_sign_key_load(cfg->auth.internal_signing_key_file, &s->sign_key,
                                   &s->sign_keylen, &why);
        if (rc != 0) {
            fprintf(err, "%s:%d:%d: internal_signing_key_file \"%s\": %s\n", path,
                    cfg->auth.pos.line, cfg->auth.pos.col,
                    cfg->auth.internal_signing_key_file, why ? why : bff_strerror(rc));
            goto fail;
        }
    }
    if (metrics_snapshot_init(s) != 0) {
        fprintf(err, "%s: out of memory building the metrics table\n", path);
        goto fail;
    }
    return s;
fail:
    if (s) {
        s->cfg = cfg;
        atomic_store(&s->refs, 1);
        snap_unref(s);
    } else {
        bff_config_free(cfg);
    }
    return NULL;
}

/* ---- request helpers ------------------------------------------------------ */

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
    uint64_t a = worker_rand(w), c = worker_rand(w);
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
    uint64_t          v = worker_rand(r->w) | 1u;
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

/* Watches the sockets of requests suspended for WATCH_AFTER_MS or more, so
 * a client that leaves is seen (EPOLLRDHUP) and its calls cancelled. Fast
 * requests never pay the two epoll_ctl calls; a slow one is watched within
 * 2 x WATCH_AFTER_MS. Called from the worker loop. */
void server_watch_waiting(struct bff_worker *w, uint64_t now_ms)
{
    for (struct bff_request *r = w->requests; r; r = r->next) {
        if (!r->suspended || r->watching || r->answered ||
            now_ms - r->suspended_ms < WATCH_AFTER_MS)
            continue;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            res_client_watch(r, ci->connect_fd);
    }
}

void req_resume(struct bff_request *r)
{
    if (r->suspended && !r->answered) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
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
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; i < nhdrs; i++)
        MHD_add_response_header(resp, hdrs[i].name, hdrs[i].value);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    {
        struct bff_hdr extra[8];
        size_t         ne = policy_response_headers(r, extra, 8);
        for (size_t i = 0; i < ne; i++)
            MHD_add_response_header(resp, extra[i].name, extra[i].value);
    }
    if (!r->close_now &&
        (atomic_load_explicit(&r->w->srv->draining, memory_order_relaxed) || status == 400 ||
         status == 408 || status == 413 || status == 414 || status == 431 || status == 501 ||
         status == 505))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->resp = resp;
    r->status = status;
    r->bytes_out = len;
    r->answered = 1;
    res_client_unwatch(r);
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
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

static enum MHD_Result queue(struct bff_request *r)
{
    struct MHD_Response *resp = r->resp;
    r->resp = NULL;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the libmicrohttpd callbacks -------------------------------------------- */

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s); /* the router normalizes paths itself */
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct bff_worker  *w = cls;
    struct bff_request *r = w->free_reqs;
    (void)conn;

    if (r) { /* a finished request's memory, its arena chunk kept */
        struct bff_arena keep = r->arena;
        w->free_reqs = r->next;
        w->nfree_reqs--;
        memset(r, 0, sizeof(*r));
        r->arena = keep;
    } else {
        r = calloc(1, sizeof(*r));
        if (!r)
            return NULL;
        bff_arena_init(&r->arena, 0);
    }
    r->w = w;
    r->start_us = bff_now_us();
    r->snap = w->snap; /* borrowed: see server_worker_snap_swap() */
    r->snap_borrowed = 1;
    w->snap_borrowers++;
    r->route_idx = -1;
    r->raw_uri = bff_arena_strdup(&r->arena, uri);
    r->mhd_uri = uri; /* in libmicrohttpd's read buffer, before it cuts the query */
    r->mhd_uri_len = strlen(uri);
    r->next = w->requests;
    if (w->requests)
        w->requests->prev = r;
    w->requests = r;
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct bff_worker  *w = cls;
    struct bff_request *r = *con_cls;
    (void)conn;

    if (!r)
        return;
    *con_cls = NULL;
    res_client_unwatch(r);
    if (r->proxy)
        up_call_cancel(r->proxy);
    if (r->agg)
        agg_cancel(r);
    if (r->rl)
        rl_request_done(r);
    if (r->resp)
        MHD_destroy_response(r->resp);
    if (!r->answered || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        if (toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
            toe == MHD_REQUEST_TERMINATED_READ_ERROR)
            r->status = 499; /* the client left before the answer (nginx's code) */
        else if (!r->answered && toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
            r->status = 408;
    }
    if (r->method)
        metrics_request_done(r);
    if (r->snap->cfg->access_log && r->method)
        log_access(r);
    if (r->prev)
        r->prev->next = r->next;
    else
        w->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    free(r->body);
    if (r->snap_borrowed)
        w->snap_borrowers--;
    else
        snap_unref(r->snap);
    if (w->nfree_reqs < REQ_POOL_MAX) {
        bff_arena_reset(&r->arena, REQ_ARENA_KEEP);
        r->next = w->free_reqs;
        w->free_reqs = r;
        w->nfree_reqs++;
        return;
    }
    bff_arena_cleanup(&r->arena);
    free(r);
}

/* The worker's snapshot becomes @s. Requests borrow the worker's reference
 * instead of each taking one (an atomic on a cache line every worker
 * shares); the ones still running on the old snapshot get a reference of
 * their own here, before the worker drops its own. */
void server_worker_snap_swap(struct bff_worker *w, struct bff_snapshot *s)
{
    struct bff_snapshot *old = w->snap;
    for (struct bff_request *r = w->requests; r; r = r->next)
        if (r->snap_borrowed) {
            r->snap_borrowed = 0;
            snap_ref(r->snap);
        }
    w->snap_borrowers = 0;
    w->snap = s;
    snap_unref(old);
}

void server_worker_free_requests(struct bff_worker *w)
{
    while (w->free_reqs) {
        struct bff_request *r = w->free_reqs;
        w->free_reqs = r->next;
        bff_arena_cleanup(&r->arena);
        free(r);
    }
    w->nfree_reqs = 0;
}

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

static const char *allow_list(struct bff_arena *a, uint32_t methods)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT",
                                        "PATCH", "DELETE", "OPTIONS"};
    char   buf[64] = "";
    size_t n = 0;
    for (unsigned i = 0; i < 7; i++)
        if (methods & (1u << i))
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "",
                                  names[i]);
    return bff_arena_strdup(a, buf);
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

/* ---- the front door (SPEC §4, docs/http.md) --------------------------------- */

static enum MHD_Result unmangle_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    bff_http_unmangle_field(cls, key, key_size, value, value_size);
    return MHD_YES;
}

size_t server_head_size(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    return ci ? ci->header_size : 0;
}

/* The bytes that arrived are rebuilt from libmicrohttpd's read buffer, where
 * it parsed them in place (bff/http_strict.h), then checked: one copy and one
 * pass over the head, in request memory. */
int server_head_check(struct MHD_Connection *conn, const char *method, const char *version,
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

/* Answers a head the front door refuses and closes the connection: the
 * answer is queued on the first call (libmicrohttpd then reads nothing
 * more from the connection) and says Connection: close. */
static void refuse(struct bff_request *r, int status, const char *why)
{
    static const struct bff_hdr close_hdr = {"Connection", "close"};
    r->close_now = 1;
    req_problem(r, status, why, &close_hdr, 1);
}

/* The first call for a request: everything decided from the request line and
 * headers, before any body is read. May answer. */
static void begin(struct bff_request *r, const char *method, const char *version)
{
    const struct bff_config *cfg = r->snap->cfg;
    const char              *v;

    r->method = method;
    r->mbit = bff_method_bit(method);
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
            (ratio > 0.0 && (double)(worker_rand(r->w) >> 11) * 0x1p-53 < ratio);
        r->tracestate = NULL; /* W3C: never without a valid traceparent */
    }

    {
        struct bff_http_head h;
        const char          *why;
        size_t               size = server_head_size(r->conn);
        char                *scratch = size ? bff_arena_alloc(&r->arena, size) : NULL;
        int st = server_head_check(r->conn, method, version, r->mhd_uri, r->mhd_uri_len,
                                   r->raw_uri, scratch, size, &h, &why);
        if (st) {
            refuse(r, st, why);
            return;
        }
        r->content_length = h.has_cl ? h.content_length : 0;
        r->has_body = r->content_length > 0 || h.chunked;
        r->chunked = h.chunked;
    }
    if (!r->raw_uri || r->raw_uri[0] != '/') {
        refuse(r, 400, "the request target must be an absolute path");
        return;
    }
    char *hash = strchr(r->raw_uri, '#'); /* a fragment never reaches a service */
    if (hash)
        *hash = '\0';
    const char *q = strchr(r->raw_uri, '?');
    size_t      plen = q ? (size_t)(q - r->raw_uri) : strlen(r->raw_uri);
    r->query = q ? q + 1 : NULL;
    if (bff_path_hidden_dots(r->raw_uri, plen)) {
        refuse(r, 400, "the path hides a dot segment in an escape, a backslash or a ';' "
                       "(it could leave its route at the service)");
        return;
    }
    r->path = bff_arena_alloc(&r->arena, plen + 1);
    if (!r->path || bff_path_normalize(r->raw_uri, plen, r->path, plen + 1,
                                       &r->path_len) != 0) {
        r->path = NULL;
        refuse(r, 400, "the request path is malformed");
        return;
    }
    if (!r->mbit) {
        req_problem(r, 501, "this method is not supported", NULL, 0);
        return;
    }
    int idx = bff_router_match(r->snap->router, r->path, r->path_len, &r->params,
                               &r->prefix_len);
    if (idx < 0) {
        req_problem(r, 404, "no route matches this path", NULL, 0);
        return;
    }
    r->route_idx = idx;
    r->route = &cfg->routes[idx];
    if (policy_preflight(r))
        return; /* CORS preflight answered */
    if (!(r->route->methods & r->mbit)) {
        struct bff_hdr h = {"Allow", allow_list(&r->arena, r->route->methods)};
        req_problem(r, 405, "this method is not allowed on this route", &h, 1);
        return;
    }
    if (r->content_length > cfg->limits.max_body) {
        refuse(r, 413, "the request body is larger than max_body");
        return;
    }
    if (policy_check(r))
        return; /* 401, 403 or 429 answered */
}

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
static int trailers_bad(struct bff_request *r)
{
    int bad = 0;
    MHD_get_connection_values_n(r->conn, MHD_FOOTER_KIND, trailer_check, &bad);
    return bad;
}

static void dispatch(struct bff_request *r)
{
    if (rl_hold(r))
        return; /* 429, store error, deferred 401/403, or waiting for Redis */
    if (r->body_too_large) {
        refuse(r, 413, "the request body is larger than max_body");
        return;
    }
    if (r->chunked && trailers_bad(r)) {
        refuse(r, 400, "a trailer field is not a token name with a valid value");
        return;
    }
    switch (r->route->kind) {
    case BFF_ROUTE_PROXY:
        proxy_start(r);
        break;
    case BFF_ROUTE_HANDLER:
        agg_start(r);
        break;
    case BFF_ROUTE_STATIC:
        static_serve(r);
        break;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct bff_request *r = *con_cls;
    (void)cls, (void)url;

    if (!r)
        return MHD_NO; /* out of memory at the request line */
    if (r->resp)
        return queue(r);
    if (!r->started) {
        r->started = 1;
        r->conn = conn;
        begin(r, method, version);
        /* An answer queued on the first call makes libmicrohttpd close the
         * connection (the body may be unread). Without a body, hold it for
         * the last call and keep the connection alive; a refused head is
         * answered at once, so nothing after it is read. */
        if (r->resp && !r->has_body && !r->close_now)
            return MHD_YES;
        return r->resp ? queue(r) : MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->body_too_large)
            return MHD_YES;
        size_t max = r->snap->cfg->limits.max_body;
        if (r->body_len + n > max) {
            r->body_too_large = 1;
            free(r->body);
            r->body = NULL;
            r->body_len = 0;
            return MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
            while (cap < r->body_len + n)
                cap *= 2;
            if (cap > max)
                cap = max;
            char *nb = realloc(r->body, cap);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }
    if (!r->answered && !r->suspended)
        dispatch(r);
    if (r->resp)
        return queue(r);
    return MHD_YES;
}

/* ---- workers -------------------------------------------------------------- */

/* Client connections opened and closed, for the bff_connections gauge. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)c, (void)socket_context;
    metrics_connection(cls, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static int start_daemon(struct bff_worker *w)
{
    const struct bff_config *cfg = w->snap->cfg;
    unsigned                 limit = cfg->limits.max_connections / w->srv->nworkers;
    size_t                   mem = (size_t)cfg->limits.max_header_bytes + 16384;
    unsigned                 tmo = (cfg->limits.client_timeout_ms + 999) / 1000;

    if (limit < 16)
        limit = 16;
    w->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL,
        on_request, w, MHD_OPTION_LISTEN_SOCKET, w->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, tmo,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        w, MHD_OPTION_URI_LOG_CALLBACK, on_uri, w, MHD_OPTION_UNESCAPE_CALLBACK,
        no_unescape, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
        MHD_OPTION_END);
    return w->mhd ? 0 : BFF_EIO;
}

int server_worker_daemon(struct bff_worker *w)
{
    return start_daemon(w);
}

/* Resumes and answers every request still waiting, so the daemon can stop. */
void server_worker_abort_all(struct bff_worker *w)
{
    for (struct bff_request *r = w->requests; r; r = r->next) {
        if (r->proxy) {
            up_call_cancel(r->proxy);
            r->proxy = NULL;
        }
        if (r->agg)
            agg_cancel(r);
        if (r->suspended && !r->answered)
            req_problem(r, 503, "the gateway is shutting down", NULL, 0);
    }
}

/* ---- admin listener ----------------------------------------------------------- */

static struct bff_server *g_srv;

/* Queues @body (heap, taken over; NULL is out of memory) with @ctype and
 * no-store, and @hdr: @val when @hdr is not NULL. */
static enum MHD_Result admin_reply_hdr(struct MHD_Connection *c, unsigned status,
                                       const char *ctype, char *body, const char *hdr,
                                       const char *val)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hdr)
        MHD_add_response_header(resp, hdr, val);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result admin_reply(struct MHD_Connection *c, unsigned status,
                                   const char *ctype, char *body)
{
    return admin_reply_hdr(c, status, ctype, body, NULL, NULL);
}

/* An admin answer in problem+json (RFC 9457): @detail and @instance may be
 * NULL; @hdr/@val, when not NULL, one more header (a challenge, or
 * Connection: close). */
static enum MHD_Result admin_problem(struct MHD_Connection *c, unsigned status,
                                     const char *detail, const char *instance,
                                     const char *hdr, const char *val)
{
    char  d[512], in[512], *body = NULL;
    json_escape(d, sizeof(d), 0, detail ? detail : "");
    json_escape(in, sizeof(in), 0, instance ? instance : "");
    if (asprintf(&body,
                 "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,"
                 "\"detail\":\"%s\",\"instance\":\"%s\"}\n",
                 bff_status_title((int)status), status, d, in) < 0)
        return MHD_NO;
    return admin_reply_hdr(c, status, "application/problem+json", body, hdr, val);
}

static struct bff_snapshot *current_snap(struct bff_server *srv)
{
    pthread_mutex_lock(&srv->snap_lock);
    struct bff_snapshot *s = snap_ref(srv->snap);
    pthread_mutex_unlock(&srv->snap_lock);
    return s;
}

static int reload(struct bff_server *srv, FILE *err);

/* Whether snapshot @s can serve; else 0 and a reason in @why. */
static int snapshot_ready(struct bff_snapshot *s, char *why, size_t cap)
{
    if (!policy_snapshot_ready(s, why, cap)) /* no JWT key set (yet) */
        return 0;
    /* a service that a route uses and that is known down (health checks,
     * refused connections; an open circuit alone does not count: see
     * docs/resilience.md) */
    char down[256];
    if (res_snapshot_down_json(s, down, sizeof(down)) > 0) {
        snprintf(why, cap, "required services are down: %.64s", down);
        return 0;
    }
    return 1;
}

/* /readyz: 1 when this instance should get traffic; else 0 and @why. */
static int instance_ready(struct bff_server *srv, char *why, size_t cap)
{
    if (atomic_load(&srv->draining)) {
        snprintf(why, cap, "draining");
        return 0;
    }
    if (!atomic_load(&srv->ready)) {
        snprintf(why, cap, "starting");
        return 0;
    }
    struct bff_snapshot *s = current_snap(srv);
    int                  ok = snapshot_ready(s, why, cap);
    snap_unref(s);
    return ok;
}

/* /admin/config: the config in force and the reload history (json-c). */
static char *admin_config_json(struct bff_server *srv)
{
    struct bff_snapshot *s = current_snap(srv);
    json_object         *o = json_object_new_object();
    char                *out = NULL;

    if (!o)
        goto out;
    json_object_object_add(o, "name", json_object_new_string(srv->app->name));
    json_object_object_add(o, "version", json_object_new_string(BFF_VERSION));
    json_object_object_add(o, "sha256", json_object_new_string(s->cfg->sha256));
    json_object_object_add(o, "loaded_at", json_object_new_int64(s->cfg->loaded_at));
    json_object_object_add(o, "path", json_object_new_string(s->cfg->path));
    json_object_object_add(o, "started_at", json_object_new_int64(srv->started_at));
    json_object_object_add(o, "reloads",
                           json_object_new_int64((int64_t)atomic_load(&srv->reloads)));
    json_object_object_add(
        o, "reloads_rejected",
        json_object_new_int64((int64_t)atomic_load(&srv->reloads_rejected)));
    json_object *last = NULL;
    pthread_mutex_lock(&srv->snap_lock);
    if (srv->rejected_at) {
        json_object *errs = json_object_new_array();
        last = json_object_new_object();
        for (const char *p = srv->rejected_errs; errs && p && *p;) {
            const char *nl = strchr(p, '\n');
            size_t      n = nl ? (size_t)(nl - p) : strlen(p);
            if (n)
                json_object_array_add(errs, json_object_new_string_len(p, (int)n));
            p = nl ? nl + 1 : p + n;
        }
        json_object_object_add(last, "at", json_object_new_int64(srv->rejected_at));
        json_object_object_add(last, "errors", errs);
    }
    pthread_mutex_unlock(&srv->snap_lock);
    json_object_object_add(o, "last_rejected", last);
    const char *txt = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (txt && asprintf(&out, "%s\n", txt) < 0)
        out = NULL;
out:
    json_object_put(o);
    snap_unref(s);
    return out;
}

static char *admin_metrics(struct bff_server *srv)
{
    struct bff_snapshot *s = current_snap(srv);
    char                 why[128];
    struct metrics_info  in = {
         .name = srv->app->name,
         .version = BFF_VERSION,
         .snap = s,
         .reloads_ok = atomic_load(&srv->reloads),
         .reloads_rejected = atomic_load(&srv->reloads_rejected),
         .reload_at = s->cfg->loaded_at,
         .start_at = srv->started_at,
         .ready = instance_ready(srv, why, sizeof(why)),
         .draining = atomic_load(&srv->draining),
    };
    size_t len = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        in.requests_in_flight += atomic_load(&srv->workers[i].in_flight);
    char *body = metrics_render(&in, &len);
    snap_unref(s);
    return body;
}

/* Whether the request may see /metrics and the admin paths: yes without an
 * admin_token_file, else only with "Authorization: Bearer <token>". The
 * SHA-256 digests are compared, in constant time, so that neither the bytes
 * nor the length of the token leak through timing. */
static int admin_authorized(struct bff_server *srv, struct MHD_Connection *c)
{
    struct bff_snapshot *s = current_snap(srv);
    const char          *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_AUTHORIZATION);
    unsigned char        want[32], got[32];
    int                  ok = 1;

    if (s->cfg->admin_token) {
        ok = 0;
        size_t      n;
        const char *t = bff_bearer_token(h, &n);
        if (t && SHA256((const unsigned char *)s->cfg->admin_token, s->cfg->admin_token_len,
                        want)) {
            if (SHA256((const unsigned char *)t, n, got))
                ok = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
            OPENSSL_cleanse(got, sizeof(got));
        }
        OPENSSL_cleanse(want, sizeof(want));
    }
    snap_unref(s);
    return ok;
}

static enum MHD_Result admin_unauthorized(struct MHD_Connection *c, const char *url)
{
    return admin_problem(c, MHD_HTTP_UNAUTHORIZED,
                         "this admin endpoint needs Authorization: Bearer and the token of "
                         "admin_token_file",
                         url, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"portico-admin\"");
}

/* An admin request as its URI arrived (the URI log callback's copy, for the
 * head check), then whether its first call has run. */
struct admin_req {
    const char *uri;
    size_t      uri_len;
    int         started;
    char        pristine[];
};

static void *on_admin_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    size_t            n = strlen(uri);
    struct admin_req *a = malloc(sizeof(*a) + n + 1);
    (void)cls, (void)c;
    if (!a)
        return NULL;
    a->uri = uri;
    a->uri_len = n;
    a->started = 0;
    memcpy(a->pristine, uri, n + 1);
    return a;
}

/* The front door on the admin listener: the same check as the client's. */
static enum MHD_Result admin_head(struct MHD_Connection *c, struct admin_req *a,
                                  const char *method, const char *version)
{
    struct bff_http_head h;
    const char          *why;
    size_t               size = server_head_size(c);
    char                *scratch = size ? malloc(size) : NULL;
    int st = server_head_check(c, method, version, a->uri, a->uri_len, a->pristine, scratch,
                               size, &h, &why);
    free(scratch);
    if (st == 0)
        return MHD_YES;
    return admin_problem(c, (unsigned)st, why, NULL, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result on_admin(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload, size_t *upload_size, void **con_cls)
{
    struct bff_server *srv = cls;
    struct admin_req  *a = *con_cls;
    char              *body = NULL;
    (void)upload;

    if (!a)
        return MHD_NO; /* out of memory at the request line */
    if (!a->started) {
        a->started = 1;
        return admin_head(c, a, method, version);
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (is_get && strcmp(url, "/healthz") == 0) {
        return admin_reply(c, 200, "application/json", strdup("{\"status\":\"ok\"}\n"));
    }
    if (is_get && strcmp(url, "/readyz") == 0) {
        char why[128] = "", esc[256], down[1024];
        int  ready = instance_ready(srv, why, sizeof(why));
        json_escape(esc, sizeof(esc), 0, why);
        struct bff_snapshot *ds = current_snap(srv);
        res_snapshot_down_json(ds, down, sizeof(down));
        char *keys = policy_keys_health_json(ds); /* the JWT key set's health */
        snap_unref(ds);
        int n = asprintf(
            &body, "{\"ready\":%s,\"draining\":%s,\"down\":%s%s%s%s%s%s}\n",
            ready ? "true" : "false", atomic_load(&srv->draining) ? "true" : "false",
            down, keys ? ",\"jwt_keys\":" : "", keys ? keys : "",
            ready ? "" : ",\"reason\":\"", ready ? "" : esc, ready ? "" : "\"");
        free(keys);
        if (n < 0)
            return MHD_NO;
        return admin_reply(c, ready ? 200 : 503, "application/json", body);
    }
    /* everything but the two probes is locked by admin_token_file (an
     * unknown path too: it answers 404 only to who holds the token) */
    if (strcmp(url, "/healthz") != 0 && strcmp(url, "/readyz") != 0 &&
        !admin_authorized(srv, c))
        return admin_unauthorized(c, url);
    if (is_get && strcmp(url, "/admin/resilience") == 0) {
        struct bff_snapshot *rs = current_snap(srv);
        body = res_snapshot_json(srv, rs);
        snap_unref(rs);
        return body ? admin_reply(c, 200, "application/json", body) : MHD_NO;
    }
    if (is_get && strcmp(url, "/admin/config") == 0) {
        body = admin_config_json(srv);
        return body ? admin_reply(c, 200, "application/json", body) : MHD_NO;
    }
    if (is_get && strcmp(url, "/metrics") == 0) {
        body = admin_metrics(srv);
        return body ? admin_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body)
                    : MHD_NO;
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/admin/reload") == 0) {
        char  *msg = NULL;
        size_t msglen = 0;
        FILE  *f = open_memstream(&msg, &msglen);
        int    rc = f ? reload(srv, f) : BFF_ENOMEM;
        if (f)
            fclose(f);
        char esc[4096];
        json_escape(esc, sizeof(esc), 0, msg ? msg : "");
        free(msg);
        if (asprintf(&body, "{\"reloaded\":%s,\"errors\":\"%s\"}\n", rc ? "false" : "true",
                     esc) < 0)
            return MHD_NO;
        return admin_reply(c, rc ? 422 : 200, "application/json", body);
    }
    return admin_problem(c, MHD_HTTP_NOT_FOUND, "no such admin endpoint", url, NULL, NULL);
}

static void on_admin_done(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* ---- listen sockets --------------------------------------------------------------- */

int server_listen(const char *hostport, int reuseport, char *err, size_t errlen);

/* ---- reload and signals ---------------------------------------------------- */

/* SIGHUP (main thread) and POST /admin/reload (admin thread) may overlap;
 * one at a time, so the file read last is the config in force. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* Rejects a reload: counts it, logs each error, keeps them for
 * /admin/config (takes @msgs), and writes them to @err. */
static void reload_rejected(struct bff_server *srv, char *msgs, FILE *err)
{
    atomic_fetch_add(&srv->reloads_rejected, 1);
    log_event("error", "config reload rejected: %s; the config with sha256 %s keeps serving",
              srv->config_path, srv->snap->cfg->sha256);
    for (const char *p = msgs; p && *p;) {
        const char *nl = strchr(p, '\n');
        int         n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > 0) {
            log_event("error", "config reload: %.*s", n, p);
            if (err)
                fprintf(err, "%.*s\n", n, p);
        }
        p = nl ? nl + 1 : p + n;
    }
    pthread_mutex_lock(&srv->snap_lock);
    free(srv->rejected_errs);
    srv->rejected_errs = msgs;
    srv->rejected_at = bff_unix_now();
    pthread_mutex_unlock(&srv->snap_lock);
}

/* Loads the config file again, off the request path, and swaps it in; a
 * config that fails validation is rejected and the old one keeps serving.
 * Errors also go to @err when it is not NULL.
 * Requests in flight keep the snapshot they started with. Returns 0 or
 * BFF_EINVAL. Never called on a worker thread. */
static int reload(struct bff_server *srv, FILE *err)
{
    char  *msgs = NULL;
    size_t msglen = 0;
    FILE  *mf;

    pthread_mutex_lock(&reload_lock);
    mf = open_memstream(&msgs, &msglen);
    struct bff_snapshot *s = snap_load(srv->app, srv->config_path, mf ? mf : stderr);
    if (mf)
        fclose(mf);
    if (!s) {
        reload_rejected(srv, msgs ? msgs : strdup("cannot load the config"), err);
        pthread_mutex_unlock(&reload_lock);
        return BFF_EINVAL;
    }
    free(msgs);
    if (res_snapshot_bind(srv->res, s) != 0) {
        snap_unref(s);
        reload_rejected(srv, strdup("out of memory binding the services"), err);
        pthread_mutex_unlock(&reload_lock);
        return BFF_ENOMEM;
    }
    const struct bff_config *old = srv->snap->cfg;
    if (strcmp(old->listen, s->cfg->listen) != 0 || old->workers != s->cfg->workers ||
        (old->admin_listen == NULL) != (s->cfg->admin_listen == NULL) ||
        (old->admin_listen && strcmp(old->admin_listen, s->cfg->admin_listen) != 0)) {
        if (err)
            fprintf(err, "%s: listen, admin_listen and workers take effect only on restart\n",
                    srv->config_path);
        log_event("warn", "config reload: listen, admin_listen and workers changes need a "
                          "restart");
    }
    pthread_mutex_lock(&srv->snap_lock);
    struct bff_snapshot *old_s = srv->snap;
    srv->snap = s;
    pthread_mutex_unlock(&srv->snap_lock);
    snap_unref(old_s);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        atomic_store(&srv->workers[i].reload, 1);
        worker_wake(&srv->workers[i]);
    }
    atomic_fetch_add(&srv->reloads, 1);
    log_event("info", "config reloaded: %s sha256 %s", srv->config_path, s->cfg->sha256);
    pthread_mutex_unlock(&reload_lock);
    return 0;
}

struct bff_snapshot *server_current_snapshot(struct bff_server *srv)
{
    return current_snap(srv);
}

/* The installed default of @app's config: SYSCONFDIR/portico/ and the file
 * name of app->default_config ("/etc/portico/bff-mobile.yaml"), in @buf. */
static const char *installed_config(const struct bff_app *app, char *buf, size_t size)
{
    const char *base = strrchr(app->default_config, '/');
    snprintf(buf, size, "%s/portico/%s", BFF_SYSCONFDIR,
             base ? base + 1 : app->default_config);
    return buf;
}

static void usage(const struct bff_app *app, FILE *f)
{
    char installed[512];
    installed_config(app, installed, sizeof(installed));
    fprintf(f,
            "Usage: %s [--config FILE] [--check-config] [--version] [--help]\n"
            "\n"
            "  --config FILE    the YAML config. Default: $BFF_CONFIG when set, else\n"
            "                   %s when that file exists (relative\n"
            "                   to the working directory: the source tree), else\n"
            "                   %s (installed)\n"
            "  --check-config   load and validate the config, print \"OK <sha256>\" and\n"
            "                   exit 0, or print every error as FILE:LINE:COL: message\n"
            "                   and exit 1\n"
            "  --version        print the version and exit\n"
            "  --help           print this help and exit\n"
            "\n"
            "Signals: SIGHUP reloads the config (a config that fails validation is\n"
            "rejected and the old one keeps serving); SIGTERM/SIGINT stop accepting,\n"
            "finish in-flight requests (up to drain_timeout) and exit 0.\n"
            "Exit status: 0 done, 1 a config that does not load or a listener that\n"
            "does not start, 2 bad flags.\n",
            app->name, app->default_config, installed);
}

int bff_main(const struct bff_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char       *path = getenv("BFF_CONFIG");
    char              installed[512];
    int               check = 0, opt;
    struct bff_server srv = {0};
    int               status = 1;

    /* A fixed mmap threshold keeps glibc from growing it after large frees
     * (which parks freed buffers in the heap for good); no top pad. Peak RSS
     * under the yardstick's load: 20 -> 16 MiB. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    mallopt(M_TOP_PAD, 0);
    if (!path || !*path) {
        /* the source tree's relative file, else the installed one; when
         * neither is there, say so naming both */
        path = app->default_config;
        if (access(path, F_OK) != 0) {
            path = installed_config(app, installed, sizeof(installed));
            if (access(path, F_OK) != 0)
                path = NULL;
        }
    }
    while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check = 1; break;
        case 'V': printf("%s %s\n", app->name, BFF_VERSION); return 0;
        case 'h': usage(app, stdout); return 0;
        default: usage(app, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", app->name, argv[optind]);
        usage(app, stderr);
        return 2;
    }
    if (!path) {
        fprintf(stderr,
                "%s: no config: neither %s nor %s exists; pass --config FILE or set "
                "BFF_CONFIG\n",
                app->name, app->default_config,
                installed_config(app, installed, sizeof(installed)));
        return 1;
    }

    if (mhd_shim_init() != 0) {
        fprintf(stderr, "%s: cannot find libmicrohttpd's own functions (dlsym)\n",
                app->name);
        return 1;
    }
    if (up_global_init() != 0) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", app->name);
        return 1;
    }
    srv.app = app;
    srv.config_path = path;
    srv.started_at = bff_unix_now();
    pthread_mutex_init(&srv.snap_lock, NULL);
    srv.snap = snap_load(app, path, check ? stdout : stderr);
    if (!srv.snap)
        goto out;
    if (check) {
        printf("OK %s\n", srv.snap->cfg->sha256);
        status = 0;
        goto out;
    }
    g_srv = &srv;
    srv.res = res_registry_new();
    if (!srv.res || res_snapshot_bind(srv.res, srv.snap) != 0) {
        fprintf(stderr, "%s: out of memory\n", app->name);
        goto out;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    const struct bff_config *cfg = srv.snap->cfg;
    srv.nworkers = cfg->workers ? cfg->workers : 1;
    srv.workers = calloc(srv.nworkers, sizeof(*srv.workers));
    if (!srv.workers || metrics_init(srv.nworkers) != 0)
        goto out;
    /* Every worker has its own SO_REUSEPORT socket on one port: the first
     * binds the configured address, the others the address it got, so that
     * a port of 0 (any free one) is the same port for all of them. */
    char bound[128] = "", admin_bound[128] = "";
    for (unsigned i = 0; i < srv.nworkers; i++) {
        char err[256];
        struct bff_worker *w = &srv.workers[i];
        w->srv = &srv;
        w->id = i;
        w->snap = snap_ref(srv.snap);
        w->metrics = metrics_worker(i);
        w->listen_fd = server_listen(i ? bound : cfg->listen, 1, err, sizeof(err));
        if (w->listen_fd < 0) {
            fprintf(stderr, "%s: listen %s: %s\n", path, i ? bound : cfg->listen, err);
            srv.nworkers = i + 1;
            goto stop;
        }
        if (i == 0 && server_bound_addr(w->listen_fd, bound, sizeof(bound)) != 0) {
            fprintf(stderr, "%s: listen %s: %s\n", path, cfg->listen, strerror(errno));
            srv.nworkers = i + 1;
            goto stop;
        }
        if (worker_start(w) != 0) {
            fprintf(stderr, "%s: cannot start worker %u\n", app->name, i);
            srv.nworkers = i + 1;
            goto stop;
        }
    }
    if (cfg->admin_listen) {
        char err[256];
        int  fd = server_listen(cfg->admin_listen, 0, err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "%s: admin_listen %s: %s\n", path, cfg->admin_listen, err);
            goto stop;
        }
        if (server_bound_addr(fd, admin_bound, sizeof(admin_bound)) != 0) {
            fprintf(stderr, "%s: admin_listen %s: %s\n", path, cfg->admin_listen,
                    strerror(errno));
            close(fd);
            goto stop;
        }
        srv.admin = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_admin, &srv,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_NOTIFY_COMPLETED, on_admin_done,
            NULL, MHD_OPTION_URI_LOG_CALLBACK, on_admin_uri, NULL,
            MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_END);
        if (!srv.admin) {
            close(fd);
            fprintf(stderr, "%s: cannot start the admin listener\n", app->name);
            goto stop;
        }
    }
    if (res_health_start(srv.res) != 0) {
        fprintf(stderr, "%s: cannot start the health checker\n", app->name);
        goto stop;
    }
    log_listening(bound, cfg->admin_listen ? admin_bound : NULL); /* before ready */
    atomic_store(&srv.ready, 1);
    log_event("info",
              "%s %s listening on %s (admin %s), %u workers, config %s sha256 %s",
              app->name, BFF_VERSION, bound, cfg->admin_listen ? admin_bound : "off",
              srv.nworkers, path, cfg->sha256);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&srv, NULL); /* errors go to the log */
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
    }

    /* Drain (docs/operations.md). /readyz answers 503 at once and answers
     * say Connection: close; the listeners keep accepting for a grace period,
     * min(1 s, drain_timeout / 4), so that a load balancer polling /readyz
     * takes this instance out before connections are refused; then they
     * close, and in-flight requests get what is left of drain_timeout
     * (counted from the signal). A second SIGTERM/SIGINT cuts it short. */
    atomic_store(&srv.draining, 1);
    {
        struct bff_snapshot *ds = current_snap(&srv); /* POST /admin/reload may swap */
        uint32_t             drain_ms = ds->cfg->drain_timeout_ms;
        snap_unref(ds);
        uint32_t grace_ms = drain_ms / 4 < 1000 ? drain_ms / 4 : 1000;
        uint64_t t0 = bff_now_ms(), deadline = t0 + drain_ms;
        int      quiesced = 0, hurry = 0;
        log_event("info", "draining: not ready; accepting for %u ms more, then up to %u ms "
                          "for in-flight requests",
                  grace_ms, drain_ms);
        for (;;) {
            uint64_t now = bff_now_ms();
            if (!quiesced && (hurry || now >= t0 + grace_ms)) {
                for (unsigned i = 0; i < srv.nworkers; i++) {
                    atomic_store(&srv.workers[i].quiesce, 1);
                    worker_wake(&srv.workers[i]);
                }
                quiesced = 1;
            }
            uint32_t busy = 0;
            for (unsigned i = 0; i < srv.nworkers; i++)
                busy += atomic_load(&srv.workers[i].in_flight);
            if (hurry || now >= deadline || (quiesced && busy == 0)) {
                if (busy)
                    log_event("warn", "drain: %u requests still in flight are cut off",
                              busy);
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            int             sig = sigtimedwait(&set, NULL, &ts);
            if (sig == SIGTERM || sig == SIGINT)
                hurry = 1;
        }
    }
    status = 0;
stop:
    for (unsigned i = 0; i < srv.nworkers; i++) {
        atomic_store(&srv.workers[i].stop, 1);
        worker_wake(&srv.workers[i]);
    }
    for (unsigned i = 0; i < srv.nworkers; i++) {
        struct bff_worker *w = &srv.workers[i];
        if (w->thread)
            pthread_join(w->thread, NULL);
        else if (w->listen_fd > 0)
            close(w->listen_fd);
        snap_unref(w->snap);
    }
    if (srv.admin)
        MHD_stop_daemon(srv.admin);
    free(srv.workers);
    if (status == 0)
        log_event("info", "%s stopped", app->name);
out:
    if (srv.snap)
        snap_unref(srv.snap);
    free(srv.rejected_errs);
    res_registry_free(srv.res); /* stops the health checker */
    metrics_cleanup();
    pthread_mutex_destroy(&srv.snap_lock);
    up_global_cleanup();
    return status;
}
