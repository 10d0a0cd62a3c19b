/* core/src/runtime/resilience.c — each service's resilience state: the
 * registry of breakers, bulkheads, retry budgets and health, admission of a
 * call and the decision after each attempt, the active health checker
 *
 * Threads. The request path (admission, outcome, retry decision) runs on the
 * worker threads and touches only atomics of the service's registry entry.
 * This file decides; the upstream layer acts: it makes the calls, waits
 * for a retry on its worker's timer (upstream/retry.c) and hands the health
 * checker its probe function. Active health checks run on one thread of
 * their own with blocking GETs; the registry's mutex guards the entry list
 * and the checker's settings, never touched on the request path. See
 * docs/resilience.md. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bff/err.h"
#include "bff/util.h"
#include "base/log.h"
#include "bff/endpoint.h"
#include "base/problem.h"
#include "base/rand.h"
#include "rules/breaker.h"
#include "runtime/resilience.h"
#include "types/snapshot-t.h"
#include "types/upstream-t.h"
#include "types/worker-t.h"

#define MIN_ATTEMPT_MS 10u          /* a retry needs at least this much deadline */
#define DOWN_UNTIL_CHECK UINT64_MAX /* down until an active check passes */

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
    res_probe_fn     probe; /* the upstream layer's blocking GET */
};

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
                health_result(j->s, reg->probe(j->url, j->connect_ms, j->timeout_ms,
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

int res_health_start(struct res_registry *reg, res_probe_fn probe)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
    reg->probe = probe;
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

char *res_snapshot_json(const struct bff_snapshot *s, uint64_t clients_gone)
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
                           json_object_new_int64((int64_t)clients_gone));
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
void res_call_end(struct up_call *c)
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
        uint32_t delay = res_backoff_ms(c->res.retries + 1, bff_rand(&c->w->rng));
        if (abs + delay + MIN_ATTEMPT_MS <= c->deadline_ms &&
            res_budget_take_retry(&s->budget, now)) {
            c->res.due_ms = abs + delay;
            c->res.backoff = 1;
            return 1;
        }
    }
    res_call_end(c);
    return 0;
}

int res_call_readmit(struct up_call *c)
{
    struct res_svc                *s = c->res.svc;
    const struct bff_service_conf *conf = c->rt->conf;
    struct res_breaker_conf        bc = breaker_conf(conf);
    uint64_t                       now = res_now(), abs = bff_now_ms();
    uint32_t                       ra;

    c->res.backoff = 0;
    if (is_down(s, now) || abs + MIN_ATTEMPT_MS > c->deadline_ms ||
        res_breaker_admit(&s->brk, &bc, now, &c->res.ticket, &ra) != RES_PASS) {
        res_call_end(c);
        return -1;
    }
    uint64_t left = c->deadline_ms - abs;
    c->timeout_ms =
        c->res.attempt_timeout_ms < left ? c->res.attempt_timeout_ms : (uint32_t)left;
    c->connect_timeout_ms = c->res.attempt_connect_ms < c->timeout_ms
                                ? c->res.attempt_connect_ms
                                : c->timeout_ms;
    c->res.retries++;
    count(s, RES_N_RETRIED);
    return 0;
}

void res_call_cancel(struct up_call *c)
{
    if (!c->res.active)
        return;
    count(c->res.svc, RES_N_CANCELLED);
    res_call_end(c);
}

void res_call_abandon(struct up_call *c)
{
    if (c->res.active)
        res_call_end(c);
}
