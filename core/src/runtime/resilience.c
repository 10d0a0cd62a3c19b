/* core/src/resilience.c — circuit breakers, bulkheads, retries with a budget,
 * health checks, and cancelling the calls of a client that left
 *
 * Threads. The request path (admission, outcome, retry decision) runs on the
 * worker threads and touches only atomics of the service's registry entry.
 * Retries wait on a per-worker timerfd in the worker's epoll set; client
 * sockets of suspended requests sit in the same set (EPOLLRDHUP). Active
 * health checks run on one thread of their own with blocking GETs; the
 * registry's mutex guards the entry list and the checker's settings, never
 * touched on the request path. See docs/resilience.md. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bff/err.h"
#include "bff/util.h"
#include "types/internal.h"
#include "runtime/resilience.h"
#include "loop/worker_tags.h"

#define MIN_ATTEMPT_MS 10u          /* a retry needs at least this much deadline */
#define DOWN_UNTIL_CHECK UINT64_MAX /* down until an active check passes */

/* ---- circuit breaker ------------------------------------------------------- */

#define UNTIL_BITS 37
#define UNTIL_MASK ((1ull << UNTIL_BITS) - 1)

static unsigned w_state(uint64_t w)
{
    return (unsigned)(w & 3u);
}
static unsigned w_level(uint64_t w)
{
    return (unsigned)((w >> 2) & 7u);
}
static unsigned w_in(uint64_t w)
{
    return (unsigned)((w >> 5) & 0x7ffu);
}
static unsigned w_ok(uint64_t w)
{
    return (unsigned)((w >> 16) & 0x7ffu);
}
static uint64_t w_until(uint64_t w)
{
    return w >> 27;
}

static uint64_t mkword(unsigned st, unsigned level, unsigned in, unsigned ok,
                       uint64_t until)
{
    return (uint64_t)st | (uint64_t)level << 2 | (uint64_t)in << 5 |
           (uint64_t)ok << 16 | (until & UNTIL_MASK) << 27;
}

static unsigned probes_of(const struct res_breaker_conf *c)
{
    unsigned p = c->half_open_probes;
    return p < 1 ? 1 : p > RES_BREAKER_MAX_PROBES ? RES_BREAKER_MAX_PROBES : p;
}

int res_breaker_admit(struct res_breaker *b, const struct res_breaker_conf *c,
                      uint64_t now_ms, struct res_ticket *t, uint32_t *retry_after_ms)
{
    uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);

    t->probe = 0;
    t->until = 0;
    for (;;) {
        uint64_t nw;
        switch (w_state(w)) {
        case RES_OPEN:
            if (now_ms < w_until(w)) {
                uint64_t left = w_until(w) - now_ms;
                *retry_after_ms = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
                return RES_REJ_OPEN;
            }
            nw = mkword(RES_HALF_OPEN, w_level(w), 1, 0, w_until(w));
            break;
        case RES_HALF_OPEN:
            if (w_in(w) >= probes_of(c)) {
                *retry_after_ms = 1000; /* the probes' answers are due any moment */
                return RES_REJ_HALF_OPEN;
            }
            nw = w + (1ull << 5);
            break;
        default:
            return RES_PASS;
        }
        if (atomic_compare_exchange_weak_explicit(
                &b->word, &w, nw, memory_order_acq_rel, memory_order_acquire)) {
            t->probe = 1;
            t->until = w_until(nw);
            return RES_PASS;
        }
    }
}

static void trip(struct res_breaker *b, const struct res_breaker_conf *c,
                 uint64_t now_ms)
{
    uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
    while (w_state(w) == RES_CLOSED) {
        uint64_t nw = mkword(RES_OPEN, 0, 0, 0, now_ms + c->open_for_ms);
        if (atomic_compare_exchange_weak_explicit(
                &b->word, &w, nw, memory_order_acq_rel, memory_order_acquire)) {
            atomic_store_explicit(&b->consec, 0, memory_order_relaxed);
            return;
        }
    }
}

void res_breaker_record(struct res_breaker *b, const struct res_breaker_conf *c,
                        uint64_t now_ms, const struct res_ticket *t, int failed)
{
    if (t->probe) {
        uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
        while (w_state(w) == RES_HALF_OPEN && w_until(w) == (t->until & UNTIL_MASK)) {
            uint64_t nw;
            int      closes = 0;
            if (failed) {
                unsigned level = w_level(w) + 1;
                if (level > RES_BREAKER_MAX_LEVEL)
                    level = RES_BREAKER_MAX_LEVEL;
                nw = mkword(RES_OPEN, level, 0, 0,
                            now_ms + ((uint64_t)c->open_for_ms << level));
            } else if (w_ok(w) + 1 >= probes_of(c)) {
                nw = mkword(RES_CLOSED, 0, 0, 0, w_until(w));
                closes = 1;
            } else {
                nw = w + (1ull << 16);
            }
            if (atomic_compare_exchange_weak_explicit(
                    &b->word, &w, nw, memory_order_acq_rel, memory_order_acquire)) {
                if (closes)
                    atomic_store_explicit(&b->consec, 0, memory_order_relaxed);
                return;
            }
        }
        /* a probe of an episode that is over: a plain call */
    }
    if (failed) {
        uint32_t n = atomic_fetch_add_explicit(&b->consec, 1, memory_order_relaxed) + 1;
        if (n >= c->failures)
            trip(b, c, now_ms);
    } else if (atomic_load_explicit(&b->consec, memory_order_relaxed) != 0) {
        atomic_store_explicit(&b->consec, 0, memory_order_relaxed);
    }
}

void res_breaker_release(struct res_breaker *b, const struct res_ticket *t)
{
    if (!t->probe)
        return;
    uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
    while (w_state(w) == RES_HALF_OPEN && w_until(w) == (t->until & UNTIL_MASK) &&
           w_in(w) > w_ok(w)) {
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, w - (1ull << 5),
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
    }
}

enum res_circuit res_breaker_state(const struct res_breaker *b)
{
    return (enum res_circuit)w_state(
        atomic_load_explicit((_Atomic uint64_t *)&b->word, memory_order_acquire));
}

uint64_t res_breaker_until(const struct res_breaker *b)
{
    return w_until(
        atomic_load_explicit((_Atomic uint64_t *)&b->word, memory_order_acquire));
}

unsigned res_breaker_level(const struct res_breaker *b)
{
    return w_level(
        atomic_load_explicit((_Atomic uint64_t *)&b->word, memory_order_acquire));
}

/* ---- retry budget ------------------------------------------------------------ */

#define B_SEC_MASK 0xffffffull
#define B_CALLS_MAX 0xffffffull
#define B_RETRIES_MAX 0xffffull

static uint64_t b_sec(uint64_t w)
{
    return w >> 40;
}
static uint64_t b_calls(uint64_t w)
{
    return (w >> 16) & B_CALLS_MAX;
}
static uint64_t b_retries(uint64_t w)
{
    return w & B_RETRIES_MAX;
}
static uint64_t b_make(uint64_t sec, uint64_t calls, uint64_t retries)
{
    return (sec & B_SEC_MASK) << 40 | calls << 16 | retries;
}

/* Adds @calls and @retries to the bucket of @now_ms (starting it afresh
 * when it still holds an older second). Returns 0 when a retry could not
 * be counted (the bucket's retry count is saturated). */
static int budget_add(struct res_budget *b, uint64_t now_ms, uint64_t calls,
                      uint64_t retries)
{
    uint64_t          sec = (now_ms / RES_BUDGET_BUCKET_MS) & B_SEC_MASK;
    _Atomic uint64_t *slot =
        &b->bucket[(now_ms / RES_BUDGET_BUCKET_MS) % RES_BUDGET_BUCKETS];
    uint64_t w = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        uint64_t c = 0, r = 0;
        if (b_sec(w) == sec) {
            c = b_calls(w);
            r = b_retries(w);
        }
        if (r + retries > B_RETRIES_MAX)
            return 0;
        c = c + calls > B_CALLS_MAX ? B_CALLS_MAX : c + calls;
        uint64_t nw = b_make(sec, c, r + retries);
        if (atomic_compare_exchange_weak_explicit(slot, &w, nw, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
}

void res_budget_note_call(struct res_budget *b, uint64_t now_ms)
{
    budget_add(b, now_ms, 1, 0);
}

void res_budget_counts(struct res_budget *b, uint64_t now_ms, uint32_t *calls,
                       uint32_t *retries)
{
    uint64_t cur = (now_ms / RES_BUDGET_BUCKET_MS) & B_SEC_MASK, c = 0, r = 0;
    for (unsigned i = 0; i < RES_BUDGET_BUCKETS; i++) {
        uint64_t w = atomic_load_explicit(&b->bucket[i], memory_order_relaxed);
        if (w == 0)
            continue;
        if (((cur - b_sec(w)) & B_SEC_MASK) < RES_BUDGET_BUCKETS) {
            c += b_calls(w);
            r += b_retries(w);
        }
    }
    *calls = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    *retries = r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

int res_budget_take_retry(struct res_budget *b, uint64_t now_ms)
{
    uint32_t calls, retries;
    res_budget_counts(b, now_ms, &calls, &retries);
    if (retries >= RES_BUDGET_MIN &&
        (uint64_t)retries * 100u >= (uint64_t)calls * RES_BUDGET_PERCENT)
        return 0;
    return budget_add(b, now_ms, 0, 1);
}

/* ---- retry policy -------------------------------------------------------------- */

int res_method_retryable(const char *method, int retry_put_delete)
{
    if (!method)
        return 0;
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(method, "OPTIONS"))
        return 1;
    if (!strcmp(method, "PUT") || !strcmp(method, "DELETE"))
        return retry_put_delete != 0;
    return 0;
}

int res_outcome_retryable(int up_result, int status)
{
    switch (up_result) {
    case UP_TIMEOUT:
    case UP_CONNECT:
    case UP_BROKEN:
        return 1;
    case UP_OK:
        return status == 502 || status == 503 || status == 504;
    default:
        return 0;
    }
}

int res_outcome_failed(int up_result, int status)
{
    switch (up_result) {
    case UP_OK:
        return status >= 500;
    case UP_TOO_LARGE:
        return 0; /* the service answered; our cap is the problem */
    default:
        return 1;
    }
}

uint32_t res_backoff_ms(unsigned n, uint64_t rnd)
{
    unsigned shift = n < 1 ? 0 : n - 1;
    if (shift > 6)
        shift = 6;
    uint32_t base = 10u << shift, span = 40u << shift;
    uint32_t d = base + (uint32_t)(rnd % (span + 1u));
    return d > 1000u ? 1000u : d;
}

const char *res_reject_text(int why)
{
    switch (why) {
    case RES_REJ_OPEN:
        return "circuit open";
    case RES_REJ_HALF_OPEN:
        return "circuit half-open";
    case RES_REJ_BULKHEAD:
        return "bulkhead full";
    case RES_REJ_DOWN:
        return "service down";
    }
    return "passed";
}

/* ---- registry -------------------------------------------------------------------- */

struct res_svc {
    char              *name;
    struct res_breaker brk;
    struct res_budget  budget;
    _Atomic uint32_t   in_flight;
    _Atomic uint64_t   down_until; /* res clock; 0 = up; DOWN_UNTIL_CHECK */
    _Atomic uint64_t   n[RES_N_COUNTERS];
    _Atomic uint64_t   hc_interval_ms; /* 0 = no active check (for Retry-After) */

    /* the health checker's settings and schedule: under reg->lock */
    unsigned        gen;       /* == reg->gen while in the config in force */
    char           *hc_url;    /* NULL: no active check */
    char           *hc_tls[3]; /* the service's tls: ca, cert, key (or NULL) */
    uint32_t        hc_connect_ms, hc_timeout_ms;
    uint64_t        hc_next; /* bff_now_ms() of the next check */
    struct res_svc *next;
};

struct res_registry {
    pthread_mutex_t  lock;
    pthread_cond_t   cv; /* CLOCK_MONOTONIC: wakes the health thread */
    int              stop;
    int              started;
    pthread_t        thread;
    unsigned         gen;
    struct res_svc  *head;
    _Atomic uint64_t clients_gone;
};

struct res_worker {
    int             tfd;
    uint64_t        armed; /* due (bff_now_ms) the timerfd is set for; 0 = none */
    struct up_call *head;  /* retries waiting, earliest first */
};

const char *const res_counter_names[RES_N_COUNTERS] = {
    "ok",
    "error",
    "timeout",
    "refused",
    "rejected_open",
    "rejected_bulkhead",
    "rejected_down",
    "retried",
    "cancelled",
};

const char *res_circuit_name(enum res_circuit c)
{
    return c == RES_OPEN ? "open" : c == RES_HALF_OPEN ? "half_open" : "closed";
}

/* The breakers' clock: ms since the first registry, from 1, so that it fits
 * the breaker word's 37 bits for 4 years of uptime. */
static _Atomic uint64_t clock_base;

static uint64_t res_now(void)
{
    return bff_now_ms() - atomic_load_explicit(&clock_base, memory_order_relaxed) + 1;
}

static void count(struct res_svc *s, enum res_counter k)
{
    atomic_fetch_add_explicit(&s->n[k], 1, memory_order_relaxed);
}

static struct res_breaker_conf breaker_conf(const struct bff_service_conf *c)
{
    struct res_breaker_conf b = {c->cb.failures, c->cb.open_for_ms,
                                 c->cb.half_open_probes};
    if (b.failures < 1)
        b.failures = 1;
    if (b.open_for_ms < 1)
        b.open_for_ms = 1;
    return b;
}

static int is_down(struct res_svc *s, uint64_t now)
{
    uint64_t d = atomic_load_explicit(&s->down_until, memory_order_relaxed);
    return d != 0 && now < d;
}

struct res_registry *res_registry_new(void)
{
    struct res_registry *reg = calloc(1, sizeof(*reg));
    pthread_condattr_t   ca;

    if (!reg)
        return NULL;
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&clock_base, &zero, bff_now_ms());
    pthread_mutex_init(&reg->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&reg->cv, &ca);
    pthread_condattr_destroy(&ca);
    return reg;
}

void res_registry_free(struct res_registry *reg)
{
    if (!reg)
        return;
    if (reg->started) {
        pthread_mutex_lock(&reg->lock);
        reg->stop = 1;
        pthread_cond_broadcast(&reg->cv);
        pthread_mutex_unlock(&reg->lock);
        pthread_join(reg->thread, NULL);
    }
    for (struct res_svc *s = reg->head, *n; s; s = n) {
        n = s->next;
        free(s->name);
        free(s->hc_url);
        for (int k = 0; k < 3; k++)
            free(s->hc_tls[k]);
        free(s);
    }
    pthread_cond_destroy(&reg->cv);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

int res_snapshot_bind(struct res_registry *reg, struct bff_snapshot *snap)
{
    const struct bff_config *cfg = snap->cfg;
    int                      rc = 0;
    uint64_t                 now = res_now();

    pthread_mutex_lock(&reg->lock);
    reg->gen++;
    for (size_t i = 0; i < cfg->nservices; i++) {
        const struct bff_service_conf *c = &cfg->services[i];
        struct res_svc                *s = reg->head;
        while (s && strcmp(s->name, c->name) != 0)
            s = s->next;
        if (!s) {
            s = calloc(1, sizeof(*s));
            if (!s || !(s->name = strdup(c->name))) {
                free(s);
                rc = BFF_ENOMEM;
                break;
            }
            s->next = reg->head;
            reg->head = s;
        }
        s->gen = reg->gen;
        char *url = NULL;
        if (c->hc.path && c->url && asprintf(&url, "%s%s", c->url, c->hc.path) < 0) {
            rc = BFF_ENOMEM;
            break;
        }
        if (url && (!s->hc_url || strcmp(url, s->hc_url) != 0))
            s->hc_next = 0; /* a new or moved check runs at once */
        free(s->hc_url);
        s->hc_url = url;
        const char *tls[3] = {c->tls.ca, c->tls.cert, c->tls.key};
        for (int k = 0; k < 3; k++) {
            free(s->hc_tls[k]);
            s->hc_tls[k] = tls[k] ? strdup(tls[k]) : NULL;
            if (tls[k] && !s->hc_tls[k])
                rc = BFF_ENOMEM;
        }
        s->hc_connect_ms = c->connect_timeout_ms;
        s->hc_timeout_ms =
            c->timeout_ms < c->hc.interval_ms ? c->timeout_ms : c->hc.interval_ms;
        atomic_store(&s->hc_interval_ms, url ? c->hc.interval_ms : 0);
        /* down "until a check passes" with no check left: the passive rule */
        uint64_t d = atomic_load(&s->down_until);
        if (!url && d == DOWN_UNTIL_CHECK)
            atomic_store(&s->down_until, now + c->cb.open_for_ms);
        snap->services[i].res = s;
    }
    pthread_cond_broadcast(&reg->cv);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* ---- health checks --------------------------------------------------------------- */

struct hc_job {
    struct res_svc *s;
    char           *url;
    char           *tls[3];
    uint32_t        connect_ms, timeout_ms;
};

static void job_free(struct hc_job *j)
{
    free(j->url);
    for (int k = 0; k < 3; k++)
        free(j->tls[k]);
}

static void health_result(struct res_svc *s, int status)
{
    int      ok = status >= 200 && status < 300;
    uint64_t was = atomic_exchange(&s->down_until, ok ? 0 : DOWN_UNTIL_CHECK);
    int      was_down = was != 0 && res_now() < was;

    if (ok && was_down)
        log_event("info", "service %s is up again: its health check passed", s->name);
    else if (!ok && !was_down) {
        if (status > 0)
            log_event("warn", "service %s is down: its health check answered %d",
                      s->name, status);
        else
            log_event("warn", "service %s is down: its health check failed (%s)",
                      s->name, bff_strerror(status));
    }
}

static void *health_main(void *arg)
{
    struct res_registry *reg = arg;

    pthread_mutex_lock(&reg->lock);
    while (!reg->stop) {
        uint64_t       now = bff_now_ms(), next = now + 1000;
        size_t         n = 0, cap = 0;
        struct hc_job *jobs = NULL;

        for (struct res_svc *s = reg->head; s; s = s->next) {
            if (s->gen != reg->gen || !s->hc_url)
                continue;
            uint64_t interval = atomic_load(&s->hc_interval_ms);
            if (s->hc_next > now) {
                if (s->hc_next < next)
                    next = s->hc_next;
                continue;
            }
            if (n == cap) {
                size_t         nc = cap ? cap * 2 : 8;
                struct hc_job *nj = realloc(jobs, nc * sizeof(*nj));
                if (!nj)
                    break;
                jobs = nj;
                cap = nc;
            }
            struct hc_job *j = &jobs[n];
            *j = (struct hc_job){s,
                                 strdup(s->hc_url),
                                 {NULL, NULL, NULL},
                                 s->hc_connect_ms,
                                 s->hc_timeout_ms};
            int ok = j->url != NULL;
            for (int k = 0; k < 3; k++)
                if (s->hc_tls[k] && !(j->tls[k] = strdup(s->hc_tls[k])))
                    ok = 0;
            if (!ok) {
                job_free(j);
                break;
            }
            n++;
            s->hc_next = now + interval;
            if (s->hc_next < next)
                next = s->hc_next;
        }
        if (n > 0) {
            /* the checks block: run them without the lock */
            pthread_mutex_unlock(&reg->lock);
            for (size_t i = 0; i < n; i++) {
                struct hc_job *j = &jobs[i];
                health_result(j->s, up_probe_get(j->url, j->connect_ms, j->timeout_ms,
                                                 j->tls[0], j->tls[1], j->tls[2]));
                job_free(j);
            }
            free(jobs);
            pthread_mutex_lock(&reg->lock);
            continue; /* reschedule from a fresh clock */
        }
        free(jobs);
        struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&reg->cv, &reg->lock, &ts);
    }
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}

int res_health_start(struct res_registry *reg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
    int rc = pthread_create(&reg->thread, NULL, health_main, reg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return BFF_EIO;
    reg->started = 1;
    return 0;
}

/* Passive health: a refused connection marks @s down at once; an active
 * check brings it back, or without one the mark expires after open_for. */
static void passive_down(struct res_svc *s, const struct bff_service_conf *c,
                         uint64_t now)
{
    uint64_t until = c->hc.path ? DOWN_UNTIL_CHECK : now + c->cb.open_for_ms;
    uint64_t was =
        atomic_exchange_explicit(&s->down_until, until, memory_order_relaxed);
    if (was == 0 || now >= was)
        log_event("warn", "service %s is down: it refused a connection", s->name);
}

/* ---- stats ------------------------------------------------------------------------
 */

void res_service_stats(const struct bff_service_rt *svc, struct res_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->up = 1;
    if (!svc || !svc->res)
        return;
    struct res_svc *s = svc->res;
    uint64_t        now = res_now();
    for (int i = 0; i < RES_N_COUNTERS; i++)
        out->n[i] = atomic_load_explicit(&s->n[i], memory_order_relaxed);
    out->circuit = res_breaker_state(&s->brk);
    out->in_flight = atomic_load_explicit(&s->in_flight, memory_order_relaxed);
    out->up = !is_down(s, now);
    res_budget_counts(&s->budget, now, &out->budget_calls, &out->budget_retries);
}

uint64_t res_clients_gone(const struct bff_server *srv)
{
    return srv && srv->res ? atomic_load(&srv->res->clients_gone) : 0;
}

/* Marks in @used the services that routes of @s name (the "required" ones). */
static char *used_services(const struct bff_snapshot *s)
{
    const struct bff_config *cfg = s->cfg;
    char                    *used = calloc(cfg->nservices ? cfg->nservices : 1, 1);
    if (!used)
        return NULL;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct bff_route_conf *r = &cfg->routes[i];
        if (r->kind == BFF_ROUTE_PROXY && r->service >= 0 &&
            (size_t)r->service < cfg->nservices)
            used[r->service] = 1;
        if (r->kind == BFF_ROUTE_HANDLER && r->endpoint)
            for (const char *const *n = r->endpoint->services; n && *n; n++) {
                int k = bff_config_service(cfg, *n);
                if (k >= 0)
                    used[k] = 1;
            }
    }
    return used;
}

size_t res_snapshot_down_json(const struct bff_snapshot *s, char *out, size_t cap)
{
    char  *used = used_services(s);
    size_t len = 0, ndown = 0;

    if (cap < 3)
        return 0;
    out[len++] = '[';
    for (size_t i = 0; used && i < s->cfg->nservices; i++) {
        struct res_svc *e = s->services[i].res;
        if (!used[i] || !e || !is_down(e, res_now()))
            continue;
        if (len + 4 >= cap)
            break;
        if (ndown)
            out[len++] = ',';
        out[len++] = '"';
        out[len] = '\0';
        len = json_escape(out, cap - 2, len, s->cfg->services[i].name);
        if (len >= cap - 2)
            break;
        out[len++] = '"';
        ndown++;
    }
    if (len + 2 > cap)
        len = cap - 2;
    out[len++] = ']';
    out[len] = '\0';
    free(used);
    return ndown;
}

char *res_snapshot_json(const struct bff_server *srv, const struct bff_snapshot *s)
{
    json_object *root = json_object_new_object(), *svcs = json_object_new_object();
    char        *used = used_services(s);
    char        *text = NULL;

    if (!root || !svcs || !used)
        goto out;
    for (size_t i = 0; i < s->cfg->nservices; i++) {
        struct res_stats st;
        json_object *o = json_object_new_object(), *calls = json_object_new_object();
        res_service_stats(&s->services[i], &st);
        json_object_object_add(o, "circuit",
                               json_object_new_string(res_circuit_name(st.circuit)));
        json_object_object_add(o, "up", json_object_new_boolean(st.up));
        json_object_object_add(o, "required", json_object_new_boolean(used[i]));
        json_object_object_add(o, "in_flight", json_object_new_int64(st.in_flight));
        json_object_object_add(
            o, "max_in_flight",
            json_object_new_int64(s->cfg->services[i].max_in_flight));
        for (int k = 0; k < RES_N_COUNTERS; k++)
            json_object_object_add(calls, res_counter_names[k],
                                   json_object_new_int64((int64_t)st.n[k]));
        json_object_object_add(o, "calls", calls);
        json_object *win = json_object_new_object();
        json_object_object_add(win, "calls", json_object_new_int64(st.budget_calls));
        json_object_object_add(win, "retries",
                               json_object_new_int64(st.budget_retries));
        json_object_object_add(o, "retry_window", win);
        json_object_object_add(svcs, s->cfg->services[i].name, o);
    }
    json_object_object_add(root, "services", svcs);
    svcs = NULL;
    json_object_object_add(root, "clients_gone",
                           json_object_new_int64((int64_t)res_clients_gone(srv)));
    const char *t = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (t && asprintf(&text, "%s\n", t) < 0)
        text = NULL;
out:
    json_object_put(svcs);
    json_object_put(root);
    free(used);
    return text;
}

/* ---- the worker's retry timer --------------------------------------------------- */

int res_worker_init(struct bff_worker *w)
{
    struct res_worker *rw = calloc(1, sizeof(*rw));
    struct epoll_event ev = {0};

    if (!rw)
        return BFF_ENOMEM;
    rw->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.u64 = RES_TAG;
    if (rw->tfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, rw->tfd, &ev) != 0) {
        if (rw->tfd >= 0)
            close(rw->tfd);
        free(rw);
        return BFF_EIO;
    }
    w->res = rw;
    return 0;
}

void res_worker_cleanup(struct bff_worker *w)
{
    struct res_worker *rw = w->res;
    if (!rw)
        return;
    /* every request was answered and cancelled before the daemon stopped */
    close(rw->tfd);
    free(rw);
    w->res = NULL;
}

static void timer_arm(struct res_worker *rw)
{
    if (!rw->head || rw->head->res.due_ms == rw->armed)
        return;
    uint64_t          due = rw->head->res.due_ms;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(due / 1000);
    its.it_value.tv_nsec = (long)(due % 1000) * 1000000L;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(rw->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    rw->armed = due;
}

static void timer_add(struct res_worker *rw, struct up_call *c)
{
    struct up_call **pp = &rw->head, *prev = NULL;
    while (*pp && (*pp)->res.due_ms <= c->res.due_ms) {
        prev = *pp;
        pp = &(*pp)->res.tnext;
    }
    c->res.tnext = *pp;
    c->res.tprev = prev;
    if (*pp)
        (*pp)->res.tprev = c;
    *pp = c;
    timer_arm(rw);
}

static void timer_del(struct res_worker *rw, struct up_call *c)
{
    if (c->res.tprev)
        c->res.tprev->res.tnext = c->res.tnext;
    else
        rw->head = c->res.tnext;
    if (c->res.tnext)
        c->res.tnext->res.tprev = c->res.tprev;
    c->res.tprev = c->res.tnext = NULL;
}

/* ---- one call ------------------------------------------------------------------- */

int res_call_admit(struct up_call *c)
{
    struct res_svc                *s = c->rt->res;
    const struct bff_service_conf *conf = c->rt->conf;
    struct res_breaker_conf        bc = breaker_conf(conf);
    uint64_t                       now = res_now();
    uint32_t                       ra = 0;
    int                            why;
    enum res_counter               k;

    uint64_t down = atomic_load_explicit(&s->down_until, memory_order_relaxed);
    if (down != 0 && now < down) {
        uint64_t iv = atomic_load_explicit(&s->hc_interval_ms, memory_order_relaxed);
        uint64_t left =
            down == DOWN_UNTIL_CHECK ? (iv ? iv : conf->cb.open_for_ms) : down - now;
        ra = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
        why = RES_REJ_DOWN;
        k = RES_N_REJ_DOWN;
        goto reject;
    }
    why = res_breaker_admit(&s->brk, &bc, now, &c->res.ticket, &ra);
    if (why != RES_PASS) {
        k = RES_N_REJ_OPEN;
        goto reject;
    }
    if (atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed) >=
        conf->max_in_flight) {
        atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
        res_breaker_release(&s->brk, &c->res.ticket);
        why = RES_REJ_BULKHEAD;
        ra = 1000;
        k = RES_N_REJ_BULKHEAD;
        goto reject;
    }
    res_budget_note_call(&s->budget, now);
    c->res.svc = s;
    c->res.active = 1;
    c->res.backoff = 0;
    c->res.retries = 0;
    c->res.retryable_method =
        conf->retries > 0 && res_method_retryable(c->method, conf->retry_put_delete);
    c->res.attempt_timeout_ms = c->timeout_ms;
    c->res.attempt_connect_ms = c->connect_timeout_ms;
    c->res.first_us = bff_now_us();
    c->res.tprev = c->res.tnext = NULL;
    if (c->deadline_ms == 0)
        c->deadline_ms = bff_now_ms() + c->timeout_ms;
    return 0;
reject:
    count(s, k);
    c->rejected = why;
    c->retry_after_ms = ra;
    return BFF_EBUSY;
}

/* The call is over for good: give back its slot, fix its total time. */
static void call_end(struct up_call *c)
{
    struct res_svc *s = c->res.svc;
    res_breaker_release(&s->brk, &c->res.ticket);
    c->res.ticket.probe = 0;
    atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
    c->res.active = 0;
    c->res.backoff = 0;
    c->ms = (double)(bff_now_us() - c->res.first_us) / 1000.0;
}

int res_call_attempt_done(struct up_call *c)
{
    struct res_svc                *s = c->res.svc;
    const struct bff_service_conf *conf = c->rt->conf;
    struct res_breaker_conf        bc = breaker_conf(conf);
    uint64_t                       now = res_now();
    int failed = res_outcome_failed((int)c->result, c->status);

    switch (c->result) {
    case UP_OK:
        count(s, c->status >= 500 ? RES_N_ERROR : RES_N_OK);
        break;
    case UP_TIMEOUT:
        count(s, RES_N_TIMEOUT);
        break;
    case UP_CONNECT:
        count(s, RES_N_REFUSED);
        break;
    default:
        count(s, RES_N_ERROR);
        break;
    }
    res_breaker_record(&s->brk, &bc, now, &c->res.ticket, failed);
    c->res.ticket.probe = 0; /* used up; a retry is admitted afresh */
    if (c->result == UP_CONNECT)
        passive_down(s, conf, now);

    if (c->res.retryable_method && c->res.retries < conf->retries &&
        res_outcome_retryable((int)c->result, c->status) && !is_down(s, now) &&
        res_breaker_state(&s->brk) == RES_CLOSED) {
        uint64_t abs = bff_now_ms();
        uint32_t delay = res_backoff_ms(c->res.retries + 1, worker_rand(c->w));
        if (abs + delay + MIN_ATTEMPT_MS <= c->deadline_ms &&
            res_budget_take_retry(&s->budget, now)) {
            c->res.due_ms = abs + delay;
            c->res.backoff = 1;
            timer_add(c->w->res, c);
            return 1;
        }
    }
    call_end(c);
    return 0;
}

/* A retry's time has come: admit it again (the breaker may have opened, the
 * service may be down) and start it, or end the call with the last answer. */
static void retry_now(struct up_call *c)
{
    struct res_svc                *s = c->res.svc;
    const struct bff_service_conf *conf = c->rt->conf;
    struct res_breaker_conf        bc = breaker_conf(conf);
    uint64_t                       now = res_now(), abs = bff_now_ms();
    uint32_t                       ra;

    c->res.backoff = 0;
    if (is_down(s, now) || abs + MIN_ATTEMPT_MS > c->deadline_ms ||
        res_breaker_admit(&s->brk, &bc, now, &c->res.ticket, &ra) != RES_PASS)
        goto give_up;
    uint64_t left = c->deadline_ms - abs;
    c->timeout_ms =
        c->res.attempt_timeout_ms < left ? c->res.attempt_timeout_ms : (uint32_t)left;
    c->connect_timeout_ms = c->res.attempt_connect_ms < c->timeout_ms
                                ? c->res.attempt_connect_ms
                                : c->timeout_ms;
    enum up_result last = c->result;
    int            last_status = c->status;
    c->res.retries++;
    count(s, RES_N_RETRIED);
    if (up_call_retry(c) == 0)
        return;
    c->result = last == UP_OK ? UP_BROKEN : last; /* the answer is gone */
    c->status = last == UP_OK ? 0 : last_status;
give_up:
    call_end(c);
    c->done(c);
}

void res_call_cancel(struct up_call *c)
{
    if (!c->res.active)
        return;
    if (c->res.backoff) {
        timer_del(c->w->res, c);
        up_call_cleanup(c);
    }
    count(c->res.svc, RES_N_CANCELLED);
    call_end(c);
}

void res_call_abandon(struct up_call *c)
{
    if (c->res.active)
        call_end(c);
}

/* ---- the client leaving ---------------------------------------------------------- */

void res_client_watch(struct bff_request *r, int fd)
{
    struct epoll_event ev = {0};
    uintptr_t          p = (uintptr_t)r;

    if (r->watching || fd < 0 || ((uint64_t)p & TAG_MASK) != 0)
        return;
    ev.events = EPOLLRDHUP;
    ev.data.u64 = RES_TAG | (uint64_t)p;
    if (epoll_ctl(r->w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        r->client_fd = fd;
        r->watching = 1;
    }
}

void res_client_unwatch(struct bff_request *r)
{
    if (!r->watching)
        return;
    epoll_ctl(r->w->epfd, EPOLL_CTL_DEL, r->client_fd, NULL);
    r->watching = 0;
}

/* The client closed its end while its request waited for services: cancel
 * the calls (giving their slots back) and end the request. The answer
 * (499, nginx's "client closed request", for the access log) is never read. */
static void client_gone(struct bff_request *r)
{
    res_client_unwatch(r);
    if (r->answered)
        return;
    if (r->w->srv->res)
        atomic_fetch_add(&r->w->srv->res->clients_gone, 1);
    if (r->proxy) {
        up_call_cancel(r->proxy);
        r->proxy = NULL;
    }
    if (r->agg)
        agg_cancel(r);
    struct bff_hdr h = {"Connection", "close"};
    req_respond(r, 499, NULL, NULL, 0, 0, &h, 1);
}

void res_worker_event(struct bff_worker *w, uint64_t data)
{
    struct res_worker *rw = w->res;

    if (data != 0) {
        struct bff_request *r = (struct bff_request *)(uintptr_t)data;
        if (r->watching) /* else: unwatched earlier in this epoll batch */
            client_gone(r);
        return;
    }
    uint64_t exp;
    ssize_t  n = read(rw->tfd, &exp, sizeof(exp));
    (void)n;
    rw->armed = 0;
    uint64_t        now = bff_now_ms();
    struct up_call *c;
    /* done() may cancel or add retries: take the head afresh every time */
    while ((c = rw->head) && c->res.due_ms <= now) {
        timer_del(rw, c);
        retry_now(c);
    }
    timer_arm(rw);
}
