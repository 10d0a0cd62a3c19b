/* core/src/agg.c — the aggregation engine: stages of parallel service calls
 *
 * A request's calls run on its worker's multi handle; a stage's calls all
 * start together and the next stage runs when the last one has finished, so
 * a stage costs its slowest call. Each call's time is cut to what is left of
 * the route's deadline. See bff/endpoint.h for the contract. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/err.h"
#include "bff/router.h"
#include "bff/util.h"
#include "handlers/encode.h"
#include "handlers/fields.h"
#include "handlers/handlers.h"
#include "request/request.h"
#include "rules/breaker.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

#define DEFAULT_HANDLER_TIMEOUT_MS 5000

enum call_state { CALL_PENDING = 0, CALL_OK, CALL_FAILED };

struct agg_call {
    const char        *part;
    int                svc;
    enum bff_part_kind kind;
    uint32_t           timeout_ms;
    const char        *path;
    enum call_state    state;
    int                status;      /* HTTP status from the service, 0 if none */
    int                fail_status; /* what a required failure answers */
    const char        *fail_detail;
    const char        *desc; /* Server-Timing desc on failure */
    int                cached; /* enum up_cached: from the cache, stale or shared */
    double             ms;
    uint64_t           start_us; /* when the call was started (or tried) */
    json_object       *json;
    struct up_call     up;
    struct bff_agg    *agg;
};

struct bff_agg {
    struct bff_request *req;
    struct agg_call    *calls[BFF_AGG_MAX_CALLS]; /* in the arena, as declared */
    unsigned            ncalls;
    unsigned            stage_first; /* first call of the running stage */
    unsigned            pending;
    bff_stage_fn        next;
    uint64_t            deadline_ms;
    uint64_t            begin_us;      /* when the aggregation began */
    uint32_t            budget_ms;     /* the route's timeout: deadline - begin */
    int                 in_stage;      /* inside a stage function */
    int                 bad_fields;    /* bff_agg_part read a malformed field list */
    uint32_t            retry_after_s; /* a required part was refused (503) */
};

static struct agg_call *find(struct bff_agg *a, const char *part)
{
    for (unsigned i = 0; i < a->ncalls; i++)
        if (strcmp(a->calls[i]->part, part) == 0)
            return a->calls[i];
    return NULL;
}

const char *bff_agg_param(struct bff_agg *a, const char *name)
{
    struct bff_request *r = a->req;
    size_t              nl = strlen(name);
    for (size_t i = 0; i < r->params.n; i++) {
        if (r->params.p[i].name_len != nl || memcmp(r->params.p[i].name, name, nl) != 0)
            continue;
        size_t len = r->params.p[i].value_len, out_len;
        char  *out = bff_arena_alloc(&r->arena, len + 1);
        if (!out || bff_pct_decode(r->params.p[i].value, len, out, &out_len) != 0)
            return NULL;
        return out;
    }
    return NULL;
}

const char *bff_agg_query(struct bff_agg *a, const char *name)
{
    struct bff_request *r = a->req;
    size_t              nl = strlen(name);
    const char         *q = r->query;

    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t      len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t      kl = eq ? (size_t)(eq - q) : len;
        if (kl == nl && memcmp(q, name, nl) == 0) {
            const char *v = eq ? eq + 1 : q + len;
            size_t      vl = (size_t)(q + len - v), out_len;
            char       *out = bff_arena_alloc(&r->arena, vl + 1);
            if (!out)
                return NULL;
            /* '+' means space in a query */
            char *tmp = bff_arena_strndup(&r->arena, v, vl);
            if (!tmp)
                return NULL;
            for (char *p = tmp; *p; p++)
                if (*p == '+')
                    *p = ' ';
            if (bff_pct_decode(tmp, vl, out, &out_len) != 0)
                return NULL;
            return out;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

const char *bff_agg_user_id(struct bff_agg *a)
{
    return a->req->authenticated ? a->req->ident.user_id : NULL;
}

const char *bff_agg_roles(struct bff_agg *a)
{
    return a->req->authenticated ? a->req->ident.roles : NULL;
}

char *bff_agg_printf(struct bff_agg *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = bff_arena_vprintf(&a->req->arena, fmt, ap);
    va_end(ap);
    return p;
}

const char *bff_agg_escape(struct bff_agg *a, const char *s)
{
    char *out = bff_arena_alloc(&a->req->arena, strlen(s) * 3 + 1);
    if (out)
        bff_pct_encode(s, out);
    return out;
}

int bff_agg_call(struct bff_agg *a, const char *part, const char *service,
                 enum bff_part_kind kind, uint32_t timeout_ms, const char *path_fmt,
                 ...)
{
    struct bff_request *r = a->req;
    int                 svc = bff_config_service(r->snap->cfg, service);
    va_list             ap;

    if (svc < 0 || a->ncalls >= BFF_AGG_MAX_CALLS || find(a, part))
        return BFF_EINVAL;
    struct agg_call *c = bff_arena_alloc(&r->arena, sizeof(*c));
    if (!c)
        return BFF_ENOMEM;
    memset(c, 0, sizeof(*c));
    va_start(ap, path_fmt);
    c->path = bff_arena_vprintf(&r->arena, path_fmt, ap);
    va_end(ap);
    c->part = bff_arena_strdup(&r->arena, part);
    if (!c->path || !c->part || c->path[0] != '/')
        return BFF_EINVAL;
    c->svc = svc;
    c->kind = kind;
    c->timeout_ms = timeout_ms;
    c->agg = a;
    a->calls[a->ncalls++] = c;
    return 0;
}

void bff_agg_then(struct bff_agg *a, bff_stage_fn next)
{
    a->next = next;
}

json_object *bff_agg_result(struct bff_agg *a, const char *part)
{
    struct agg_call *c = find(a, part);
    return c && c->state == CALL_OK ? c->json : NULL;
}

int bff_agg_status(struct bff_agg *a, const char *part)
{
    struct agg_call *c = find(a, part);
    return c ? c->status : 0;
}

json_object *bff_agg_partial(struct bff_agg *a)
{
    json_object *arr = json_object_new_array();
    for (unsigned i = 0; arr && i < a->ncalls; i++)
        if (a->calls[i]->kind == BFF_OPTIONAL && a->calls[i]->state == CALL_FAILED)
            json_object_array_add(arr, json_object_new_string(a->calls[i]->part));
    return arr;
}

json_object *bff_agg_stale(struct bff_agg *a)
{
    json_object *arr = json_object_new_array();
    for (unsigned i = 0; arr && i < a->ncalls; i++)
        if (a->calls[i]->state == CALL_OK && a->calls[i]->cached == UP_CACHED_STALE)
            json_object_array_add(arr, json_object_new_string(a->calls[i]->part));
    return arr;
}

json_object *bff_agg_timings(struct bff_agg *a)
{
    json_object *o = json_object_new_object();
    for (unsigned i = 0; o && i < a->ncalls; i++) {
        const struct agg_call *c = a->calls[i];
        if (c->state == CALL_PENDING)
            continue;
        json_object *t = json_object_new_object();
        char         ms[32];
        double       v = (double)(long)(c->ms * 10 + 0.5) / 10.0;
        snprintf(ms, sizeof(ms), "%.1f",
                 v); /* printed as 12.3, not 12.300000000000001 */
        json_object_object_add(t, "ms", json_object_new_double_s(v, ms));
        /* the offset of the call's start on the same axis as deadline_ms */
        double st =
            c->start_us > a->begin_us
                ? (double)(long)((double)(c->start_us - a->begin_us) / 100.0 + 0.5) /
                      10.0
                : 0.0;
        snprintf(ms, sizeof(ms), "%.1f", st);
        json_object_object_add(t, "start_ms", json_object_new_double_s(st, ms));
        json_object_object_add(t, "status", json_object_new_int(c->status));
        if (c->state == CALL_FAILED)
            json_object_object_add(
                t, "error", json_object_new_string(c->desc ? c->desc : "failed"));
        json_object_object_add(o, c->part, t);
    }
    return o;
}

uint32_t bff_agg_deadline_ms(const struct bff_agg *a)
{
    return a->budget_ms;
}

const char *bff_json_str(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

json_object *bff_json_ref(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return json_object_get(v);
}

/* bff_agg_require, collecting the members into @got (NULL: checks only). */
static int require(struct bff_agg *a, json_object *o, const char *what,
                   const char *fields, struct fields_got *got)
{
    struct field bad;
    int          rc = fields_get(o, fields, &bad, got);

    if (rc < 0) {
        bff_agg_fail(a, 500, "the endpoint's field list is malformed");
        return 0;
    }
    if (rc == 0) {
        const char *d = bff_arena_cat(&a->req->arena, what, " without ", bad.name, " (",
                                      fields_type_name(&bad), ")", NULL);
        bff_agg_fail(a, 502, d ? d : "a service answered without a field it needs");
        return 0;
    }
    return 1;
}

int bff_agg_require(struct bff_agg *a, json_object *o, const char *what,
                    const char *fields)
{
    return require(a, o, what, fields, NULL);
}

int bff_agg_require_each(struct bff_agg *a, json_object *arr, const char *what,
                         const char *fields)
{
    size_t n =
        json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
    for (size_t i = 0; i < n; i++)
        if (!bff_agg_require(a, json_object_array_get_idx(arr, i), what, fields))
            return 0;
    return 1;
}

int bff_agg_copy(struct bff_agg *a, json_object *to, json_object *from,
                 const char *what, const char *fields)
{
    struct fields_got got; /* one walk of the list: checked and collected */

    if (!json_object_is_type(to, json_type_object)) {
        bff_agg_fail(a, 500, "the endpoint copied into something not an object");
        return 0;
    }
    if (!require(a, from, what, fields, &got))
        return 0;
    fields_put(to, &got);
    return 1;
}

/* bff_agg_part, collecting the members into @got (NULL: checks only). */
static json_object *part(struct bff_agg *a, json_object *partial, const char *name,
                         const char *fields, struct fields_got *got)
{
    json_object *o = bff_agg_result(a, name);
    struct field bad;
    int          rc = o ? fields_get(o, fields, &bad, got) : 1;

    if (rc == 1)
        return o;
    if (rc < 0)
        a->bad_fields = 1; /* its answer becomes a 500 (bff_agg_respond_json) */
    else
        bff_json_partial_add(partial, name); /* answered, but not usable */
    return NULL;
}

json_object *bff_agg_part(struct bff_agg *a, json_object *partial, const char *name,
                          const char *fields)
{
    return part(a, partial, name, fields, NULL);
}

json_object *bff_agg_pick(struct bff_agg *a, json_object *partial, const char *name,
                          const char *fields)
{
    struct fields_got got;
    json_object      *out =
        part(a, partial, name, fields, &got) ? json_object_new_object() : NULL;
    if (out)
        fields_put(out, &got);
    return out;
}

int bff_json_has(json_object *o, const char *key, json_type t)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, t);
}

void bff_json_partial_add(json_object *partial, const char *part)
{
    size_t n = json_object_array_length(partial);
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(partial, i)),
                   part) == 0)
            return;
    json_object_array_add(partial, json_object_new_string(part));
}

const char *bff_agg_join(struct bff_agg *a, json_object *arr, const char *key, char sep)
{
    struct bff_arena *ar = &a->req->arena;
    size_t            n = json_object_array_length(arr), len = 0, cap = 0;
    char             *out;

    for (size_t i = 0; i < n; i++) {
        const char *v = bff_json_str(json_object_array_get_idx(arr, i), key);
        if (!v)
            return NULL;
        cap += strlen(v) * 3 + 1;
    }
    out = bff_arena_alloc(ar, cap + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[len++] = sep;
        bff_pct_encode(bff_json_str(json_object_array_get_idx(arr, i), key), out + len);
        len += strlen(out + len);
    }
    out[len] = '\0';
    return out;
}

static void server_timing(struct bff_agg *a)
{
    for (unsigned i = 0; i < a->ncalls; i++) {
        const struct agg_call *c = a->calls[i];
        if (c->state != CALL_PENDING)
            req_add_timing(a->req, c->part, c->ms,
                           c->state == CALL_FAILED            ? c->desc
                           : c->cached == UP_CACHED_STALE     ? "stale"
                           : c->cached == UP_CACHED_FRESH     ? "cache"
                           : c->cached == UP_CACHED_SHARED    ? "shared"
                                                              : NULL);
    }
}

void bff_agg_respond_json(struct bff_agg *a, int status, json_object *body)
{
    struct bff_request *r = a->req;
    size_t              len = 0;

    if (r->answered || a->bad_fields) { /* a check failed the request already */
        json_object_put(body);
        if (!r->answered)
            bff_agg_fail(a, 500, "the endpoint's field list is malformed");
        return;
    }
    json_object *have;
    /* "stale" next to "partial" (SPEC §4), unless the endpoint set it */
    if (status == 200 && json_object_is_type(body, json_type_object) &&
        json_object_object_get_ex(body, "partial", &have) &&
        !json_object_object_get_ex(body, "stale", &have))
        json_object_object_add(body, "stale", bff_agg_stale(a));
    const char *s = json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char *copy = s ? bff_arena_strndup(&r->arena, s, len) : NULL;
    json_object_put(body);
    server_timing(a);
    if (!copy) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    struct bff_hdr       h = {"Server-Timing", r->timings ? r->timings : ""};
    unsigned             flags = encode_flags(r);
    struct encode_answer ans = {.status = status,
                                .type = "application/json",
                                .body = copy,
                                .len = len,
                                .flags = flags,
                                .compressible = 1,
                                .hdrs = &h,
                                .nhdrs = 1,
                                .cache_control =
                                    (flags & BFF_ENCODE_ETAG) && status == 200
                                        ? "private, no-cache"
                                        : "no-store"};
    encode_respond(r, &ans); /* gzip, ETag and 304 as this BFF asks */
}

void bff_agg_fail(struct bff_agg *a, int status, const char *detail)
{
    if (a->req->answered)
        return; /* the first answer stands */
    server_timing(a);
    struct bff_hdr h[2];
    size_t         nh = 0;
    if (a->req->timings)
        h[nh++] = (struct bff_hdr){"Server-Timing", a->req->timings};
    if (status == 503 && a->retry_after_s) /* breaker, bulkhead or health said no */
        h[nh++] = (struct bff_hdr){
            "Retry-After", bff_arena_printf(&a->req->arena, "%u", a->retry_after_s)};
    req_problem(a->req, status, detail, h, nh);
}

static void run_stage(struct bff_agg *a, bff_stage_fn fn);

static void call_failed(struct agg_call *c, int fail_status, const char *detail,
                        const char *desc)
{
    c->state = CALL_FAILED;
    c->fail_status = fail_status;
    c->fail_detail = detail;
    c->desc = desc;
}

/* The stage is over: fail on a required part, else run the next stage. */
static void stage_done(struct bff_agg *a)
{
    for (unsigned i = a->stage_first; i < a->ncalls; i++) {
        struct agg_call *c = a->calls[i];
        if (c->kind == BFF_REQUIRED && c->state == CALL_FAILED) {
            bff_agg_fail(a, c->fail_status, c->fail_detail);
            return;
        }
    }
    bff_stage_fn next = a->next;
    a->next = NULL;
    if (!next) {
        bff_agg_fail(a, 500, "the endpoint ended without an answer");
        return;
    }
    run_stage(a, next);
}

/* The worker's tokener, reset for a new document (one per worker: a
 * tokener is a few KiB to allocate per part). NULL when out of memory. */
static struct json_tokener *worker_tokener(struct bff_worker *w)
{
    if (!w->tok)
        w->tok = json_tokener_new();
    else
        json_tokener_reset(w->tok);
    return w->tok;
}

void agg_worker_cleanup(struct bff_worker *w)
{
    if (w->tok)
        json_tokener_free(w->tok);
    w->tok = NULL;
}

static void on_call_done(struct up_call *u)
{
    struct agg_call    *c = u->ud;
    struct bff_agg     *a = c->agg;
    struct bff_request *r = a->req;
    const char         *svc = r->snap->cfg->services[c->svc].name;

    c->ms = u->ms;
    c->status = u->status;
    c->cached = u->cached;
    switch (u->result) {
    case UP_OK:
        if (u->status >= 200 && u->status < 300) {
            struct json_tokener *tok = worker_tokener(r->w);
            json_object         *j =
                tok ? json_tokener_parse_ex(tok, u->resp_body ? u->resp_body : "",
                                                    (int)u->resp_len)
                            : NULL;
            if (j && json_tokener_get_error(tok) == json_tokener_success &&
                tok->char_offset == (int)u->resp_len) {
                c->json = j;
                c->state = CALL_OK;
            } else {
                json_object_put(j);
                call_failed(
                    c, 502,
                    bff_arena_printf(&r->arena, "%s answered with malformed JSON", svc),
                    "bad answer");
            }
        } else if (u->status >= 400 && u->status < 500) {
            call_failed(c, u->status,
                        bff_arena_printf(&r->arena, "%s answered %d for %s", svc,
                                         u->status, c->part),
                        bff_arena_printf(&r->arena, "status %d", u->status));
        } else {
            call_failed(c, 502,
                        bff_arena_printf(&r->arena, "%s answered %d", svc, u->status),
                        bff_arena_printf(&r->arena, "status %d", u->status));
        }
        break;
    default: {
        const char *desc, *what;
        int         st = up_failure(u->result, &desc, &what);
        call_failed(c, st, bff_arena_printf(&r->arena, "%s %s", svc, what), desc);
        break;
    }
    }
    up_call_cleanup(u);
    a->pending--;
    if (c->state == CALL_FAILED && c->kind == BFF_REQUIRED) {
        /* fail fast: the answer is this part's error, whatever the rest does */
        for (unsigned i = a->stage_first; i < a->ncalls; i++) {
            struct agg_call *o = a->calls[i];
            if (o->state != CALL_PENDING)
                continue;
            up_call_cancel(&o->up);
            o->ms = (double)(bff_now_us() - o->up.start_us) / 1000.0;
            call_failed(o, 0, NULL, "cancelled");
        }
        a->pending = 0;
        bff_agg_fail(a, c->fail_status, c->fail_detail);
        return;
    }
    if (a->pending == 0)
        stage_done(a);
}

static int start_call(struct bff_agg *a, struct agg_call *c)
{
    struct bff_request            *r = a->req;
    const struct bff_service_conf *svc = &r->snap->cfg->services[c->svc];
    uint64_t                       now = bff_now_ms();
    uint32_t     tmo = c->timeout_ms ? c->timeout_ms : svc->timeout_ms;
    const char **hdrs = bff_arena_alloc(&r->arena, 10 * sizeof(char *));

    c->start_us = bff_now_us();

    if (now >= a->deadline_ms) {
        call_failed(c, 504, "the route's deadline passed before this call", "timeout");
        return -1;
    }
    if (a->deadline_ms - now < tmo)
        tmo = (uint32_t)(a->deadline_ms - now);
    if (!hdrs)
        goto oom;
    size_t n = 0;
    int    irc = identity_headers(r, "GET", svc->url, c->path, hdrs, &n);
    if (irc == BFF_EINVAL) { /* never forwarded unsigned */
        call_failed(
            c, 500,
            bff_arena_printf(&r->arena, "the call to %s cannot be signed", svc->name),
            "error");
        return -1;
    }
    if (irc)
        goto oom;
    hdrs[n++] = "Accept: application/json";
    memset(&c->up, 0, sizeof(c->up));
    c->up.method = "GET";
    c->up.url = bff_arena_cat(&r->arena, svc->url, c->path, NULL);
    c->up.headers = hdrs;
    c->up.nheaders = n;
    c->up.connect_timeout_ms =
        svc->connect_timeout_ms < tmo ? svc->connect_timeout_ms : tmo;
    c->up.timeout_ms = tmo;
    c->up.max_body = r->snap->cfg->limits.max_body;
    c->up.max_header = r->snap->cfg->limits.max_header_bytes;
    c->up.done = on_call_done;
    c->up.ud = c;
    c->up.arena = &r->arena;
    c->up.rt = &r->snap->services[c->svc];
    c->up.deadline_ms = a->deadline_ms; /* retries fit in the route's deadline */
    if (!c->up.url)
        goto oom;
    if (up_call_start(r->w, &c->up) != 0) {
        if (!c->up.rejected)
            goto oom;
        /* not made: circuit open, bulkhead full or service down (503) */
        const char *why = res_reject_text(c->up.rejected);
        call_failed(c, 503,
                    bff_arena_printf(&r->arena, "%s is not called: %s", svc->name, why),
                    why);
        if (c->kind == BFF_REQUIRED)
            a->retry_after_s =
                c->up.retry_after_ms ? (c->up.retry_after_ms + 999) / 1000 : 1;
        return -1;
    }
    return 0;
oom:
    call_failed(c, 500, "out of memory", "error");
    return -1;
}

static void run_stage(struct bff_agg *a, bff_stage_fn fn)
{
    struct bff_request *r = a->req;

    a->stage_first = a->ncalls;
    a->in_stage = 1;
    fn(a);
    a->in_stage = 0;
    if (r->answered)
        return;
    if (a->ncalls == a->stage_first) {
        /* no calls: the stage must have answered or named a next stage */
        bff_stage_fn next = a->next;
        a->next = NULL;
        if (next)
            run_stage(a, next);
        else
            bff_agg_fail(a, 500, "the endpoint ended without an answer");
        return;
    }
    a->pending = 0;
    for (unsigned i = a->stage_first; i < a->ncalls; i++) {
        if (start_call(a, a->calls[i]) == 0) {
            a->pending++;
        } else if (a->calls[i]->kind == BFF_REQUIRED) {
            /* a required part failed before it started: answer its error now */
            for (unsigned k = a->stage_first; k < i; k++)
                if (a->calls[k]->state == CALL_PENDING) {
                    up_call_cancel(&a->calls[k]->up);
                    a->calls[k]->ms =
                        (double)(bff_now_us() - a->calls[k]->up.start_us) / 1000.0;
                    call_failed(a->calls[k], 0, NULL, "cancelled");
                }
            a->pending = 0;
            bff_agg_fail(a, a->calls[i]->fail_status, a->calls[i]->fail_detail);
            return;
        }
    }
    if (a->pending == 0)
        stage_done(a);
    else
        req_suspend(r);
}

/* r->cancel: the aggregation's pending calls stopped (the client left, the
 * gateway stops, the request completed). */
static void agg_cancel(struct bff_request *r)
{
    struct bff_agg *a = r->agg;
    if (!a)
        return;
    for (unsigned i = 0; i < a->ncalls; i++) {
        up_call_cancel(&a->calls[i]->up);
        if (a->calls[i]->json) {
            json_object_put(a->calls[i]->json);
            a->calls[i]->json = NULL;
        }
    }
    a->pending = 0;
    r->agg = NULL;
}

void agg_start(struct bff_request *r)
{
    const struct bff_endpoint *ep = r->route->endpoint;
    struct bff_agg            *a = bff_arena_alloc(&r->arena, sizeof(*a));

    if (!ep || !a) {
        req_problem(r, 500, ep ? "out of memory" : "no such handler", NULL, 0);
        return;
    }
    memset(a, 0, sizeof(*a));
    a->req = r;
    a->budget_ms =
        r->route->timeout_ms ? r->route->timeout_ms : DEFAULT_HANDLER_TIMEOUT_MS;
    a->begin_us = bff_now_us();
    a->deadline_ms = bff_now_ms() + a->budget_ms;
    r->agg = a;
    r->cancel = agg_cancel;
    run_stage(a, ep->begin);
}
