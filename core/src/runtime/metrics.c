/* core/src/metrics.c — Prometheus metrics: per-worker counters, summed on scrape
 *
 * See metrics.h for the threading and reload contract. In short: workers
 * write their own blocks with relaxed atomic stores and no lock; the
 * registry's mutex is taken only when a snapshot is built (reload, start)
 * and when /metrics is rendered (admin thread). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/err.h"
#include "bff/util.h"
#include "base/log.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"

#define CHUNK 64 /* slots per storage chunk */
#define NB 13    /* histogram buckets, +Inf apart */

/* Fixed buckets (seconds), shared by both histograms. */
static const char *const le_text[NB] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                        "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                        "2.5",   "5",      "10"};
static const uint64_t    le_us[NB] = {1000,    2500,    5000,    10000,  25000,
                                      50000,   100000,  250000,  500000, 1000000,
                                      2500000, 5000000, 10000000};

static const char *const method_class[2] = {"read", "write"};
static const char *const status_class[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const outcome_name[METRICS_UP_NOUTCOMES] = {
    "ok", "http_5xx", "timeout", "connect_error", "too_large", "broken"};

/* Per-worker counters of one route slot. Non-cumulative buckets; the last
 * one is +Inf. */
struct m_route {
    _Atomic uint64_t req[2][5];
    _Atomic uint64_t bucket[NB + 1];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t rl[3]; /* allowed, refused, store errors */
    _Atomic uint64_t idem[METRICS_IDEM_NRESULTS];
    _Atomic uint64_t streams[METRICS_STREAM_NKINDS][METRICS_END_NENDS];
    _Atomic uint64_t stream_bytes[2]; /* in, out */
};

struct m_svc {
    _Atomic uint64_t calls[METRICS_UP_NOUTCOMES];
    _Atomic uint64_t bucket[NB + 1];
    _Atomic uint64_t sum_us;
};

struct bff_metrics_worker {
    struct m_route  *routes[METRICS_MAX_ROUTES / CHUNK];
    struct m_svc    *svcs[METRICS_MAX_SERVICES / CHUNK];
    _Atomic uint64_t jwt[BFF_JWT_REASON_COUNT];
    _Atomic int64_t  connections;
};

/* Open streams per route slot and kind, the process's: written by every
 * worker (an atomic add when a stream opens or closes, never per byte). */
static _Atomic uint32_t open_streams[METRICS_MAX_ROUTES][METRICS_STREAM_NKINDS];
static _Atomic uint32_t open_total[METRICS_MAX_ROUTES];

/* Reserved slots. */
enum { ROUTE_NONE = 0, ROUTE_OTHER = 1, SVC_UNKNOWN = 0, SVC_OTHER = 1 };

static struct {
    pthread_mutex_t            lock; /* registry and chunk directories */
    char                      *route[METRICS_MAX_ROUTES];
    uint32_t                   nroutes;
    char                      *svc[METRICS_MAX_SERVICES];
    uint32_t                   nsvcs;
    struct bff_metrics_worker *wk;
    unsigned                   nworkers;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The single writer's increment: no lock prefix, still a clean read for
 * the admin thread. */
#define BUMP(x, n)                                                                     \
    atomic_store_explicit(&(x),                                                        \
                          atomic_load_explicit(&(x), memory_order_relaxed) + (n),      \
                          memory_order_relaxed)
#define READ(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* ---- registry (lock held) --------------------------------------------------- */

static int grow_chunks(uint32_t route_slot, uint32_t svc_slot)
{
    for (unsigned i = 0; i < reg.nworkers; i++) {
        struct bff_metrics_worker *w = &reg.wk[i];
        for (uint32_t c = 0; c <= route_slot / CHUNK; c++)
            if (!w->routes[c] &&
                !(w->routes[c] = calloc(CHUNK, sizeof(struct m_route))))
                return BFF_ENOMEM;
        for (uint32_t c = 0; c <= svc_slot / CHUNK; c++)
            if (!w->svcs[c] && !(w->svcs[c] = calloc(CHUNK, sizeof(struct m_svc))))
                return BFF_ENOMEM;
    }
    return 0;
}

static int reserve(void)
{
    if (reg.nroutes == 0) {
        reg.route[ROUTE_NONE] = strdup("none");
        reg.route[ROUTE_OTHER] = strdup("other");
        reg.nroutes = 2;
    }
    if (reg.nsvcs == 0) {
        reg.svc[SVC_UNKNOWN] = strdup("unknown");
        reg.svc[SVC_OTHER] = strdup("other");
        reg.nsvcs = 2;
    }
    return reg.route[0] && reg.route[1] && reg.svc[0] && reg.svc[1] ? 0 : BFF_ENOMEM;
}

/* The slot of @key in @names (registering it), @other when the table is
 * full, or -1 when out of memory. */
static int64_t lookup(char **names, uint32_t *n, uint32_t max, uint32_t other,
                      const char *key)
{
    for (uint32_t i = 2; i < *n; i++)
        if (strcmp(names[i], key) == 0)
            return i;
    if (*n >= max) {
        static int warned;
        if (!warned++)
            log_event("warn",
                      "metrics: more than %u distinct keys; new ones count as "
                      "\"other\"",
                      max);
        return other;
    }
    if (!(names[*n] = strdup(key)))
        return -1;
    return (*n)++;
}

/* ---- set-up --------------------------------------------------------------------- */

int metrics_init(unsigned nworkers)
{
    int rc;
    pthread_mutex_lock(&reg.lock);
    rc = reserve();
    if (rc == 0 && !reg.wk) {
        reg.wk = calloc(nworkers ? nworkers : 1, sizeof(*reg.wk));
        reg.nworkers = reg.wk ? nworkers : 0;
        rc = reg.wk ? grow_chunks(reg.nroutes - 1, reg.nsvcs - 1) : BFF_ENOMEM;
    }
    pthread_mutex_unlock(&reg.lock);
    return rc;
}

void metrics_cleanup(void)
{
    pthread_mutex_lock(&reg.lock);
    for (unsigned i = 0; i < reg.nworkers; i++) {
        for (size_t c = 0; c < METRICS_MAX_ROUTES / CHUNK; c++)
            free(reg.wk[i].routes[c]);
        for (size_t c = 0; c < METRICS_MAX_SERVICES / CHUNK; c++)
            free(reg.wk[i].svcs[c]);
    }
    free(reg.wk);
    reg.wk = NULL;
    reg.nworkers = 0;
    for (uint32_t i = 0; i < reg.nroutes; i++)
        free(reg.route[i]);
    for (uint32_t i = 0; i < reg.nsvcs; i++)
        free(reg.svc[i]);
    reg.nroutes = reg.nsvcs = 0;
    pthread_mutex_unlock(&reg.lock);
}

struct bff_metrics_worker *metrics_worker(unsigned id)
{
    return id < reg.nworkers ? &reg.wk[id] : NULL;
}

int metrics_snapshot_init(struct bff_snapshot *s)
{
    const struct bff_config *cfg = s->cfg;
    int                      rc = 0;

    s->route_mslot = calloc(cfg->nroutes ? cfg->nroutes : 1, sizeof(*s->route_mslot));
    if (!s->route_mslot)
        return BFF_ENOMEM;
    pthread_mutex_lock(&reg.lock);
    rc = reserve();
    for (size_t i = 0; rc == 0 && i < cfg->nroutes; i++) {
        int64_t slot = lookup(reg.route, &reg.nroutes, METRICS_MAX_ROUTES, ROUTE_OTHER,
                              cfg->routes[i].path);
        if (slot < 0)
            rc = BFF_ENOMEM;
        else
            s->route_mslot[i] = (uint32_t)slot;
    }
    for (size_t i = 0; rc == 0 && i < cfg->nservices; i++) {
        int64_t slot = lookup(reg.svc, &reg.nsvcs, METRICS_MAX_SERVICES, SVC_OTHER,
                              cfg->services[i].name);
        if (slot < 0)
            rc = BFF_ENOMEM;
        else
            s->services[i].mslot = (uint32_t)slot;
    }
    if (rc == 0)
        rc = grow_chunks(reg.nroutes - 1, reg.nsvcs - 1);
    pthread_mutex_unlock(&reg.lock);
    return rc;
}

void metrics_snapshot_cleanup(struct bff_snapshot *s)
{
    free(s->route_mslot);
    s->route_mslot = NULL;
}

/* ---- the request path ------------------------------------------------------------ */

static unsigned bucket_of(uint64_t us)
{
    unsigned i = 0;
    while (i < NB && us > le_us[i])
        i++;
    return i;
}

void metrics_request_done(struct bff_request *r)
{
    struct bff_metrics_worker *m = r->w->metrics;
    uint32_t                   slot = ROUTE_NONE;

    if (!m)
        return;
    if (r->route_idx >= 0 && r->snap->route_mslot)
        slot = r->snap->route_mslot[r->route_idx];
    struct m_route *c = &m->routes[slot / CHUNK][slot % CHUNK];
    uint64_t        us = bff_now_us() - r->start_us;
    unsigned        mc = (r->mbit & (BFF_M_GET | BFF_M_HEAD | BFF_M_OPTIONS)) ? 0 : 1;
    /* no answer at all (the gateway stopped first) counts as the gateway's fault */
    unsigned sc =
        r->status >= 100 && r->status < 600 ? (unsigned)r->status / 100 - 1 : 4;

    BUMP(c->req[mc][sc], 1);
    BUMP(c->bucket[bucket_of(us)], 1);
    BUMP(c->sum_us, us);
}

enum metrics_outcome metrics_up_outcome(enum up_result result, int status)
{
    switch (result) {
    case UP_OK:
        return status >= 500 ? METRICS_UP_HTTP_5XX : METRICS_UP_OK;
    case UP_TIMEOUT:
        return METRICS_UP_TIMEOUT;
    case UP_CONNECT:
        return METRICS_UP_CONNECT;
    case UP_TOO_LARGE:
        return METRICS_UP_TOO_LARGE;
    case UP_BROKEN:
    case UP_BAD_HEAD:
        break;
    }
    return METRICS_UP_BROKEN;
}

void metrics_upstream_done(struct bff_worker *w, const struct bff_service_rt *rt,
                           enum metrics_outcome outcome, uint64_t us)
{
    struct bff_metrics_worker *m = w->metrics;
    if (!m || outcome >= METRICS_UP_NOUTCOMES)
        return;
    uint32_t      slot = rt ? rt->mslot : SVC_UNKNOWN;
    struct m_svc *c = &m->svcs[slot / CHUNK][slot % CHUNK];
    BUMP(c->calls[outcome], 1);
    BUMP(c->bucket[bucket_of(us)], 1);
    BUMP(c->sum_us, us);
}

void metrics_ratelimit(struct bff_request *r, int allowed)
{
    struct bff_metrics_worker *m = r->w->metrics;
    if (!m || r->route_idx < 0 || !r->snap->route_mslot)
        return;
    uint32_t        slot = r->snap->route_mslot[r->route_idx];
    struct m_route *c = &m->routes[slot / CHUNK][slot % CHUNK];
    BUMP(c->rl[allowed ? 0 : 1], 1);
}

void metrics_ratelimit_store_error(struct bff_request *r)
{
    struct bff_metrics_worker *m = r->w->metrics;
    if (!m || r->route_idx < 0 || !r->snap->route_mslot)
        return;
    uint32_t        slot = r->snap->route_mslot[r->route_idx];
    struct m_route *c = &m->routes[slot / CHUNK][slot % CHUNK];
    BUMP(c->rl[2], 1);
}

void metrics_idempotency(struct bff_request *r, enum metrics_idem result)
{
    struct bff_metrics_worker *m = r->w->metrics;
    if (!m || r->route_idx < 0 || !r->snap->route_mslot ||
        (unsigned)result >= METRICS_IDEM_NRESULTS)
        return;
    uint32_t        slot = r->snap->route_mslot[r->route_idx];
    struct m_route *c = &m->routes[slot / CHUNK][slot % CHUNK];
    BUMP(c->idem[result], 1);
}

static int64_t route_slot(const struct bff_request *r)
{
    if (r->route_idx < 0 || !r->snap->route_mslot)
        return -1;
    return r->snap->route_mslot[r->route_idx];
}

int metrics_stream_open(struct bff_request *r, enum metrics_stream kind, uint32_t max,
                        int64_t *slotp)
{
    int64_t slot = route_slot(r);
    *slotp = -1;
    if (slot < 0 || (unsigned)kind >= METRICS_STREAM_NKINDS)
        return 0;
    uint32_t was = atomic_fetch_add_explicit(&open_total[slot], 1, memory_order_relaxed);
    if (max && was >= max) {
        atomic_fetch_sub_explicit(&open_total[slot], 1, memory_order_relaxed);
        return -1;
    }
    atomic_fetch_add_explicit(&open_streams[slot][kind], 1, memory_order_relaxed);
    *slotp = slot;
    return 0;
}

void metrics_stream_close(struct bff_worker *w, int64_t slot, enum metrics_stream kind,
                          enum metrics_stream_end end, uint64_t bytes_in,
                          uint64_t bytes_out)
{
    if (slot < 0 || slot >= METRICS_MAX_ROUTES || (unsigned)kind >= METRICS_STREAM_NKINDS ||
        (unsigned)end >= METRICS_END_NENDS)
        return;
    atomic_fetch_sub_explicit(&open_total[slot], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&open_streams[slot][kind], 1, memory_order_relaxed);
    struct bff_metrics_worker *m = w->metrics;
    if (!m)
        return;
    struct m_route *c = &m->routes[slot / CHUNK][slot % CHUNK];
    BUMP(c->streams[kind][end], 1);
    BUMP(c->stream_bytes[0], bytes_in);
    BUMP(c->stream_bytes[1], bytes_out);
}

uint32_t metrics_streams_open(struct bff_request *r)
{
    int64_t slot = route_slot(r);
    return slot < 0 ? 0 : atomic_load_explicit(&open_total[slot], memory_order_relaxed);
}

void metrics_jwt_refusal(struct bff_worker *w, enum bff_jwt_reason why)
{
    struct bff_metrics_worker *m = w->metrics;
    if (m && why > BFF_JWT_OK && why < BFF_JWT_REASON_COUNT)
        BUMP(m->jwt[why], 1);
}

void metrics_connection(struct bff_worker *w, int delta)
{
    struct bff_metrics_worker *m = w->metrics;
    if (m)
        BUMP(m->connections, delta);
}

/* ---- rendering (admin thread, lock held) ------------------------------------------
 */

/* @v as a label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\')
            fputs("\\\\", f);
        else if (*v == '"')
            fputs("\\\"", f);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct sum_route {
    uint64_t req[2][5];
    uint64_t bucket[NB + 1];
    uint64_t sum_us;
    uint64_t rl[3];
    uint64_t idem[METRICS_IDEM_NRESULTS];
    uint64_t streams[METRICS_STREAM_NKINDS][METRICS_END_NENDS];
    uint64_t stream_bytes[2];
};

struct sum_svc {
    uint64_t calls[METRICS_UP_NOUTCOMES];
    uint64_t bucket[NB + 1];
    uint64_t sum_us;
};

static void sum_route(uint32_t slot, struct sum_route *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned w = 0; w < reg.nworkers; w++) {
        struct m_route *c = &reg.wk[w].routes[slot / CHUNK][slot % CHUNK];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 5; j++)
                out->req[i][j] += READ(c->req[i][j]);
        for (int i = 0; i <= NB; i++)
            out->bucket[i] += READ(c->bucket[i]);
        out->sum_us += READ(c->sum_us);
        out->rl[0] += READ(c->rl[0]);
        out->rl[1] += READ(c->rl[1]);
        out->rl[2] += READ(c->rl[2]);
        for (int i = 0; i < METRICS_IDEM_NRESULTS; i++)
            out->idem[i] += READ(c->idem[i]);
        for (int i = 0; i < METRICS_STREAM_NKINDS; i++)
            for (int j = 0; j < METRICS_END_NENDS; j++)
                out->streams[i][j] += READ(c->streams[i][j]);
        out->stream_bytes[0] += READ(c->stream_bytes[0]);
        out->stream_bytes[1] += READ(c->stream_bytes[1]);
    }
}

static void sum_svc(uint32_t slot, struct sum_svc *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned w = 0; w < reg.nworkers; w++) {
        struct m_svc *c = &reg.wk[w].svcs[slot / CHUNK][slot % CHUNK];
        for (int i = 0; i < METRICS_UP_NOUTCOMES; i++)
            out->calls[i] += READ(c->calls[i]);
        for (int i = 0; i <= NB; i++)
            out->bucket[i] += READ(c->bucket[i]);
        out->sum_us += READ(c->sum_us);
    }
}

/* One histogram's series for one label pair; _count is the +Inf bucket so
 * the two always agree. */
static void histogram(FILE *f, const char *name, const char *lname, const char *lvalue,
                      const uint64_t bucket[NB + 1], uint64_t sum_us)
{
    uint64_t cum = 0;
    for (int i = 0; i <= NB; i++) {
        cum += bucket[i];
        fprintf(f, "%s_bucket{%s=\"", name, lname);
        label(f, lvalue);
        fprintf(f, "\",le=\"%s\"} %" PRIu64 "\n", i < NB ? le_text[i] : "+Inf", cum);
    }
    fprintf(f, "%s_sum{%s=\"", name, lname);
    label(f, lvalue);
    fprintf(f, "\"} %.6f\n", (double)sum_us / 1e6);
    fprintf(f, "%s_count{%s=\"", name, lname);
    label(f, lvalue);
    fprintf(f, "\"} %" PRIu64 "\n", cum);
}

static uint64_t hist_count(const uint64_t bucket[NB + 1])
{
    uint64_t n = 0;
    for (int i = 0; i <= NB; i++)
        n += bucket[i];
    return n;
}

/* The stream families: a route's series appear once it had a stream. */
static void render_streams(FILE *f, const struct sum_route *sums)
{
    static const char *const kind[METRICS_STREAM_NKINDS] = {"answer", "sse", "websocket"};
    static const char *const end[METRICS_END_NENDS] = {"complete", "broken", "client_gone",
                                                       "idle_timeout", "gateway"};
    uint8_t                  seen[METRICS_MAX_ROUTES] = {0};

    for (uint32_t k = 0; k < reg.nroutes; k++) {
        seen[k] = READ(open_total[k]) != 0 || sums[k].stream_bytes[0] ||
                  sums[k].stream_bytes[1];
        for (int i = 0; i < METRICS_STREAM_NKINDS && !seen[k]; i++)
            for (int j = 0; j < METRICS_END_NENDS; j++)
                seen[k] |= sums[k].streams[i][j] != 0;
    }
    head(f, "bff_streams_open", "gauge",
         "Streamed answers, Server-Sent Events streams and WebSockets open now, by "
         "route pattern and kind (max_streams bounds their sum per route).");
    for (uint32_t k = 0; k < reg.nroutes; k++)
        for (int i = 0; seen[k] && i < METRICS_STREAM_NKINDS; i++) {
            fputs("bff_streams_open{route=\"", f);
            label(f, reg.route[k]);
            fprintf(f, "\",kind=\"%s\"} %u\n", kind[i], READ(open_streams[k][i]));
        }
    head(f, "bff_streams_total", "counter",
         "Streams ended, by route pattern, kind and how they ended (complete: the "
         "service ended it; broken: the service broke off; client_gone; idle_timeout; "
         "gateway: drain or stop).");
    for (uint32_t k = 0; k < reg.nroutes; k++)
        for (int i = 0; seen[k] && i < METRICS_STREAM_NKINDS; i++)
            for (int j = 0; j < METRICS_END_NENDS; j++) {
                fputs("bff_streams_total{route=\"", f);
                label(f, reg.route[k]);
                fprintf(f, "\",kind=\"%s\",end=\"%s\"} %" PRIu64 "\n", kind[i], end[j],
                        sums[k].streams[i][j]);
            }
    head(f, "bff_stream_bytes_total", "counter",
         "Bytes carried by ended streams, by route pattern and direction (in: from the "
         "client, out: to it).");
    for (uint32_t k = 0; k < reg.nroutes; k++)
        for (int i = 0; seen[k] && i < 2; i++) {
            fputs("bff_stream_bytes_total{route=\"", f);
            label(f, reg.route[k]);
            fprintf(f, "\",direction=\"%s\"} %" PRIu64 "\n", i ? "out" : "in",
                    sums[k].stream_bytes[i]);
        }
}

static void render_routes(FILE *f, const struct bff_snapshot *s, struct sum_route *sums,
                          const uint8_t *inconf, const uint8_t *rlconf)
{
    head(f, "bff_requests_total", "counter",
         "Client requests by route pattern, method class and status class.");
    for (uint32_t k = 0; k < reg.nroutes; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 5; j++) {
                if (!sums[k].req[i][j])
                    continue;
                fputs("bff_requests_total{route=\"", f);
                label(f, reg.route[k]);
                fprintf(f, "\",method_class=\"%s\",status_class=\"%s\"} %" PRIu64 "\n",
                        method_class[i], status_class[j], sums[k].req[i][j]);
            }
    head(f, "bff_request_duration_seconds", "histogram",
         "Time from the request line to the end of the answer, by route pattern.");
    for (uint32_t k = 0; k < reg.nroutes; k++)
        if (inconf[k] || hist_count(sums[k].bucket))
            histogram(f, "bff_request_duration_seconds", "route", reg.route[k],
                      sums[k].bucket, sums[k].sum_us);
    head(f, "bff_ratelimit_total", "counter",
         "Rate-limit decisions by route pattern and result (store_error: the "
         "store gave no verdict; on_store_error decided).");
    static const char *const rl_result[3] = {"allowed", "refused", "store_error"};
    for (uint32_t k = 0; k < reg.nroutes; k++) {
        if (!(rlconf[k] & 1) && !sums[k].rl[0] && !sums[k].rl[1] && !sums[k].rl[2])
            continue;
        for (int i = 0; i < 3; i++) {
            fputs("bff_ratelimit_total{route=\"", f);
            label(f, reg.route[k]);
            fprintf(f, "\",result=\"%s\"} %" PRIu64 "\n", rl_result[i], sums[k].rl[i]);
        }
    }
    head(f, "bff_idempotency_total", "counter",
         "Idempotency-Key requests by route pattern and result (new: forwarded; "
         "replayed: the kept answer; conflict: 409 in flight; mismatch: 422 another "
         "body; store_error: on_store_error decided).");
    static const char *const idem_result[METRICS_IDEM_NRESULTS] = {
        "new", "replayed", "conflict", "mismatch", "store_error"};
    for (uint32_t k = 0; k < reg.nroutes; k++) {
        uint64_t any = 0;
        for (int i = 0; i < METRICS_IDEM_NRESULTS; i++)
            any |= sums[k].idem[i];
        if (!(rlconf[k] & 2) && !any)
            continue;
        for (int i = 0; i < METRICS_IDEM_NRESULTS; i++) {
            fputs("bff_idempotency_total{route=\"", f);
            label(f, reg.route[k]);
            fprintf(f, "\",result=\"%s\"} %" PRIu64 "\n", idem_result[i],
                    sums[k].idem[i]);
        }
    }
    render_streams(f, sums);
    (void)s;
}

/* The services with endpoints: one series per endpoint (the endpoint label
 * is the address called, "127.0.0.1:9102"), from the resilience counters. */
static void render_endpoints(FILE *f, const struct bff_snapshot *s)
{
    static const char *const fam[4] = {
        "bff_upstream_endpoint_calls_total", "bff_upstream_endpoint_in_flight",
        "bff_upstream_endpoint_ejected", "bff_upstream_endpoint_up"};
    static const char *const help[4] = {
        ("Attempts by endpoint of a service with endpoints: and outcome (ok, error, "
         "timeout, refused), and the endpoint's ejections (outcome ejected)."),
        "Attempts running now, by endpoint.",
        "1 while outlier detection keeps an endpoint out of rotation.",
        "0 while an endpoint's active health check fails."};
    struct res_ep_stats eps[BFF_MAX_ENDPOINTS];
    int                 any = 0;

    for (size_t i = 0; i < s->cfg->nservices && !any; i++)
        any = s->cfg->services[i].endpoints != NULL;
    if (!any)
        return;
    head(f, "bff_upstream_dns_changes_total", "counter",
         "Look-ups of a service's endpoint host names that changed its endpoints.");
    for (size_t i = 0; i < s->cfg->nservices; i++) {
        struct res_stats st;
        if (!s->cfg->services[i].endpoints)
            continue;
        res_service_stats(&s->services[i], &st);
        fputs("bff_upstream_dns_changes_total{service=\"", f);
        label(f, s->cfg->services[i].name);
        fprintf(f, "\"} %" PRIu64 "\n", st.dns_changes);
    }
    head(f, "bff_upstream_dns_failures_total", "counter",
         "Look-ups of endpoint host names that failed (the last addresses were kept).");
    for (size_t i = 0; i < s->cfg->nservices; i++) {
        struct res_stats st;
        if (!s->cfg->services[i].endpoints)
            continue;
        res_service_stats(&s->services[i], &st);
        fputs("bff_upstream_dns_failures_total{service=\"", f);
        label(f, s->cfg->services[i].name);
        fprintf(f, "\"} %" PRIu64 "\n", st.dns_failures);
    }
    for (int m = 0; m < 4; m++) {
        head(f, fam[m], m == 0 ? "counter" : "gauge", help[m]);
        for (size_t i = 0; i < s->cfg->nservices; i++) {
            size_t n = res_endpoint_stats(&s->services[i], eps, BFF_MAX_ENDPOINTS);
            for (size_t k = 0; k < n; k++) {
                for (int o = 0; o < (m == 0 ? RES_EP_N : 1); o++) {
                    fprintf(f, "%s{service=\"", fam[m]);
                    label(f, s->cfg->services[i].name);
                    fputs("\",endpoint=\"", f);
                    label(f, eps[k].label);
                    if (m == 0)
                        fprintf(f, "\",outcome=\"%s\"} %" PRIu64 "\n",
                                res_ep_counter_names[o], eps[k].n[o]);
                    else
                        fprintf(f, "\"} %" PRIu64 "\n",
                                m == 1   ? (uint64_t)eps[k].in_flight
                                : m == 2 ? (uint64_t)(eps[k].ejected_ms_left > 0)
                                         : (uint64_t)!eps[k].hc_down);
                }
            }
        }
    }
}

static void render_services(FILE *f, const struct bff_snapshot *s, struct sum_svc *sums,
                            const uint8_t *inconf)
{
    size_t           ns = s->cfg->nservices;
    struct res_stats st[ns ? ns : 1];
    for (size_t i = 0; i < ns; i++)
        res_service_stats(&s->services[i], &st[i]);

    head(f, "bff_upstream_calls_total", "counter",
         "Attempts of calls to services by service and outcome; circuit_open, "
         "bulkhead_full and service_down were refused before they were sent.");
    for (uint32_t k = 0; k < reg.nsvcs; k++)
        for (int i = 0; i < METRICS_UP_NOUTCOMES; i++) {
            if (!sums[k].calls[i] && !(i == METRICS_UP_OK && inconf[k]))
                continue;
            fputs("bff_upstream_calls_total{service=\"", f);
            label(f, reg.svc[k]);
            fprintf(f, "\",outcome=\"%s\"} %" PRIu64 "\n", outcome_name[i],
                    sums[k].calls[i]);
        }
    static const struct {
        int         n;
        const char *name;
    } refused[] = {{RES_N_REJ_OPEN, "circuit_open"},
                   {RES_N_REJ_BULKHEAD, "bulkhead_full"},
                   {RES_N_REJ_DOWN, "service_down"}};
    for (size_t i = 0; i < ns; i++)
        for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
            fputs("bff_upstream_calls_total{service=\"", f);
            label(f, s->cfg->services[i].name);
            fprintf(f, "\",outcome=\"%s\"} %" PRIu64 "\n", refused[k].name,
                    st[i].n[refused[k].n]);
        }
    head(f, "bff_upstream_retries_total", "counter", "Retries made, by service.");
    for (size_t i = 0; i < ns; i++) {
        fputs("bff_upstream_retries_total{service=\"", f);
        label(f, s->cfg->services[i].name);
        fprintf(f, "\"} %" PRIu64 "\n", st[i].n[RES_N_RETRIED]);
    }
    head(f, "bff_upstream_duration_seconds", "histogram",
         "Wall time of each attempt of a call to a service, by service.");
    for (uint32_t k = 0; k < reg.nsvcs; k++)
        if (inconf[k] || hist_count(sums[k].bucket))
            histogram(f, "bff_upstream_duration_seconds", "service", reg.svc[k],
                      sums[k].bucket, sums[k].sum_us);
    head(f, "bff_upstream_in_flight", "gauge",
         "Calls to a service holding a bulkhead slot now.");
    for (size_t i = 0; i < ns; i++) {
        fputs("bff_upstream_in_flight{service=\"", f);
        label(f, s->cfg->services[i].name);
        fprintf(f, "\"} %u\n", st[i].in_flight);
    }
    head(f, "bff_circuit_state", "gauge",
         "Circuit breaker by service: 0 closed, 1 half-open, 2 open.");
    for (size_t i = 0; i < ns; i++) {
        fputs("bff_circuit_state{service=\"", f);
        label(f, s->cfg->services[i].name);
        fprintf(f, "\"} %d\n",
                st[i].circuit == RES_OPEN        ? 2
                : st[i].circuit == RES_HALF_OPEN ? 1
                                                 : 0);
    }
    head(f, "bff_upstream_up", "gauge",
         "0 while health checks (active or passive) say a service is down.");
    for (size_t i = 0; i < ns; i++) {
        fputs("bff_upstream_up{service=\"", f);
        label(f, s->cfg->services[i].name);
        fprintf(f, "\"} %d\n", st[i].up ? 1 : 0);
    }
    render_endpoints(f, s);
}

char *metrics_render(const struct metrics_info *in, size_t *len)
{
    char                *buf = NULL;
    size_t               n = 0;
    FILE                *f = open_memstream(&buf, &n);
    struct bff_snapshot *s = in->snap;
    struct sum_route    *rs = NULL;
    struct sum_svc      *ss = NULL;
    uint8_t             *rin = NULL, *rrl = NULL, *sin = NULL;
    int                  ok = 0;

    if (!f)
        return NULL;
    pthread_mutex_lock(&reg.lock);
    rs = calloc(reg.nroutes ? reg.nroutes : 1, sizeof(*rs));
    ss = calloc(reg.nsvcs ? reg.nsvcs : 1, sizeof(*ss));
    rin = calloc(reg.nroutes + 1, 1);
    rrl = calloc(reg.nroutes + 1, 1);
    sin = calloc(reg.nsvcs + 1, 1);
    if (!rs || !ss || !rin || !rrl || !sin)
        goto out;
    for (size_t i = 0; s->route_mslot && i < s->cfg->nroutes; i++) {
        rin[s->route_mslot[i]] = 1;
        if (s->cfg->routes[i].rate.count)
            rrl[s->route_mslot[i]] |= 1;
        if (s->cfg->routes[i].idempotency != BFF_IDEM_OFF)
            rrl[s->route_mslot[i]] |= 2;
    }
    for (size_t i = 0; i < s->cfg->nservices; i++)
        sin[s->services[i].mslot] = 1;
    for (uint32_t k = 0; k < reg.nroutes; k++)
        sum_route(k, &rs[k]);
    for (uint32_t k = 0; k < reg.nsvcs; k++)
        sum_svc(k, &ss[k]);

    head(f, "bff_build_info", "gauge", "The build: always 1.");
    fputs("bff_build_info{name=\"", f);
    label(f, in->name);
    fputs("\",version=\"", f);
    label(f, in->version);
    fputs("\"} 1\n", f);
    head(f, "bff_start_time_seconds", "gauge", "Unix time the process started.");
    fprintf(f, "bff_start_time_seconds %" PRId64 "\n", in->start_at);
    head(f, "bff_config_info", "gauge",
         "The config in force, by its sha256: always 1.");
    fprintf(f, "bff_config_info{sha256=\"%s\"} 1\n", s->cfg->sha256);
    head(f, "bff_config_reloads_total", "counter", "Config reloads by result.");
    fprintf(f, "bff_config_reloads_total{result=\"ok\"} %" PRIu64 "\n", in->reloads_ok);
    fprintf(f, "bff_config_reloads_total{result=\"rejected\"} %" PRIu64 "\n",
            in->reloads_rejected);
    head(f, "bff_config_load_time_seconds", "gauge",
         "Unix time the config in force was loaded.");
    fprintf(f, "bff_config_load_time_seconds %" PRId64 "\n", in->reload_at);
    head(f, "bff_ready", "gauge", "1 when /readyz answers 200.");
    fprintf(f, "bff_ready %d\n", in->ready ? 1 : 0);
    head(f, "bff_draining", "gauge", "1 from SIGTERM/SIGINT until exit.");
    fprintf(f, "bff_draining %d\n", in->draining ? 1 : 0);

    int64_t conns = 0;
    for (unsigned w = 0; w < reg.nworkers; w++)
        conns += READ(reg.wk[w].connections);
    head(f, "bff_connections", "gauge", "Open client connections.");
    fprintf(f, "bff_connections %" PRId64 "\n", conns < 0 ? 0 : conns);
    head(f, "bff_requests_in_flight", "gauge", "Client requests not yet completed.");
    fprintf(f, "bff_requests_in_flight %" PRIu64 "\n", in->requests_in_flight);

    render_routes(f, s, rs, rin, rrl);
    render_services(f, s, ss, sin);

    head(f, "bff_jwt_refusals_total", "counter", "Bearer tokens refused, by reason.");
    for (int i = 1; i < BFF_JWT_REASON_COUNT; i++) {
        uint64_t v = 0;
        for (unsigned w = 0; w < reg.nworkers; w++)
            v += READ(reg.wk[w].jwt[i]);
        fputs("bff_jwt_refusals_total{reason=\"", f);
        label(f, bff_jwt_reason_name((enum bff_jwt_reason)i));
        fprintf(f, "\"} %" PRIu64 "\n", v);
    }
    ok = 1;
out:
    pthread_mutex_unlock(&reg.lock);
    free(rs);
    free(ss);
    free(rin);
    free(rrl);
    free(sin);
    if (fclose(f) != 0 || !ok) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
