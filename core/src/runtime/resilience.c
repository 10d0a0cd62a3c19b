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
#include <arpa/inet.h>
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
#include "rules/balance.h"
#include "rules/breaker.h"
#include "runtime/dns.h"
#include "runtime/resilience.h"
#include "types/snapshot-t.h"
#include "types/upstream-t.h"
#include "types/worker-t.h"

#define MIN_ATTEMPT_MS 10u          /* a retry needs at least this much deadline */
#define DOWN_UNTIL_CHECK UINT64_MAX /* down until an active check passes */

/* ---- registry -------------------------------------------------------------------- */

/* One endpoint of a service with endpoints: (one address of a host name,
 * or one literal address). Entries live until the registry is freed: a
 * reload or a new DNS answer that names the same endpoint again finds its
 * state (ejection, counters) again. */
enum { EP_OK = 0, EP_ERROR, EP_TIMEOUT, EP_REFUSED, EP_EJECTED, EP_N = RES_EP_N };
const char *const res_ep_counter_names[RES_EP_N] = {"ok", "error", "timeout", "refused",
                                                    "ejected"};

struct res_ep {
    char            *key;        /* the config URL, or "URL ip" for an address of a name */
    char            *label;      /* "127.0.0.1:9102": the endpoint label */
    char            *host;       /* the DNS name, or NULL */
    char            *base;       /* the URL the request's path goes after */
    char            *connect_to; /* curl's "name:port:ip:port", or NULL */
    _Atomic uint32_t in_flight;  /* attempts running */
    _Atomic uint32_t fails;      /* consecutive failures */
    _Atomic uint32_t ejections;  /* in a row (the next one lasts longer) */
    _Atomic uint64_t ejected_until; /* res clock; in rotation once past */
    _Atomic uint64_t last_fail;     /* res clock */
    _Atomic int      hc_down;       /* its active check failed */
    _Atomic uint64_t n[EP_N];
    uint64_t         hc_next; /* under reg->lock */
    struct res_ep   *next;    /* every endpoint the service ever had */
};

/* The endpoints in force: immutable once published; a replaced set is kept
 * (on the retired list) until the registry is freed, so a worker that
 * loaded the old pointer never reads freed memory. */
struct res_epset {
    size_t            n;
    struct res_epset *retired;
    struct res_ep    *ep[];
};

/* One URL of endpoints:, with the addresses its host name last resolved to. */
struct res_src {
    char    *url;
    char    *host;    /* NULL: a literal address */
    unsigned port;
    int      resolved; /* at least one answer with addresses */
    size_t   naddr;
    uint32_t addr[DNS_MAX_ADDRS];
};

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

    /* endpoints: (NULL set: url: alone) */
    _Atomic(struct res_epset *) eps;
    struct res_epset           *sets;  /* every set published (freed at exit) */
    struct res_ep              *all;   /* under reg->lock */
    _Atomic uint64_t            dns_changes, dns_failures;
    _Atomic uint64_t            rr;    /* round_robin's turn */
    _Atomic int                 ejecting; /* a worker is deciding an ejection */
    struct res_src             *src;   /* under reg->lock */
    size_t                      nsrc;
    uint32_t                    resolve_every_ms;
    uint64_t                    dns_next; /* bff_now_ms() of the next look-up */
    int                         dns_names; /* some src has a host name */
    char                       *hc_path;   /* the endpoints' check path, or NULL */
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
    pthread_t        dns_thread;
    int              dns_started;
    struct sockaddr_in resolvers[BFF_MAX_RESOLVERS]; /* under lock */
    size_t           nresolvers;
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

static int eps_down(const struct res_epset *set, uint64_t now);
static int ep_ejected(const struct res_ep *e, uint64_t now);
static int ep_healthy(const struct res_ep *e, const struct bff_service_conf *conf,
                      uint64_t now);

/* Known down: by its health (url:), or with no endpoint left (endpoints:). */
static int svc_down(struct res_svc *s, uint64_t now)
{
    struct res_epset *set = atomic_load_explicit(&s->eps, memory_order_acquire);
    return set ? eps_down(set, now) : is_down(s, now);
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
    pthread_mutex_lock(&reg->lock);
    reg->stop = 1;
    pthread_cond_broadcast(&reg->cv);
    pthread_mutex_unlock(&reg->lock);
    if (reg->started)
        pthread_join(reg->thread, NULL);
    if (reg->dns_started)
        pthread_join(reg->dns_thread, NULL);
    for (struct res_svc *s = reg->head, *n; s; s = n) {
        n = s->next;
        for (struct res_epset *e = s->sets, *r; e; e = r) {
            r = e->retired;
            free(e);
        }
        for (struct res_ep *e = s->all, *en; e; e = en) {
            en = e->next;
            free(e->key);
            free(e->label);
            free(e->host);
            free(e->base);
            free(e->connect_to);
            free(e);
        }
        for (size_t k = 0; k < s->nsrc; k++) {
            free(s->src[k].url);
            free(s->src[k].host);
        }
        free(s->src);
        free(s->hc_path);
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

/* ---- endpoints: the sets in force ---------------------------------------------- */

/* The host and port of @url ("http://h:p/x"); *@literal when the host is an
 * address (IPv4 or [IPv6]) rather than a name. Returns the host, malloc'd. */
static char *url_host(const char *url, unsigned *port, int *literal)
{
    const char *p = strstr(url, "://");
    int         https = strncasecmp(url, "https", 5) == 0;
    uint8_t     a[4];

    p = p ? p + 3 : url;
    size_t      alen = strcspn(p, "/");
    const char *hend, *rest;
    if (*p == '[') {
        const char *close = memchr(p, ']', alen);
        hend = close ? close + 1 : p + alen;
        rest = hend;
    } else {
        const char *colon = memchr(p, ':', alen);
        hend = colon ? colon : p + alen;
        rest = hend;
    }
    *port = rest < p + alen && *rest == ':' ? (unsigned)atoi(rest + 1) : https ? 443u : 80u;
    char *h = strndup(p, (size_t)(hend - p));
    *literal = h && (*h == '[' || inet_pton(AF_INET, h, a) == 1);
    return h;
}

static struct res_ep *ep_get(struct res_svc *s, const char *key, const char *label,
                             const char *host, const char *base, const char *connect_to)
{
    for (struct res_ep *e = s->all; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    struct res_ep *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key = strdup(key);
    e->label = strdup(label);
    e->host = host ? strdup(host) : NULL;
    e->base = strdup(base);
    e->connect_to = connect_to ? strdup(connect_to) : NULL;
    if (!e->key || !e->label || !e->base || (host && !e->host) ||
        (connect_to && !e->connect_to)) {
        free(e->key), free(e->label), free(e->host), free(e->base), free(e->connect_to);
        free(e);
        return NULL;
    }
    e->next = s->all;
    s->all = e;
    return e;
}

/* Builds the set of @s's endpoints from its sources and publishes it when it
 * differs from the one in force. Under reg->lock. Returns 1 when changed, 0
 * when not, BFF_ENOMEM. */
static int set_build(struct res_svc *s)
{
    struct res_ep *list[BFF_MAX_ENDPOINTS];
    size_t         n = 0;
    char           key[1024], label[300], ct[600], ip[INET_ADDRSTRLEN];

    for (size_t i = 0; i < s->nsrc && n < BFF_MAX_ENDPOINTS; i++) {
        struct res_src *src = &s->src[i];
        if (!src->host || !src->resolved) {
            /* a literal address, or a name that never resolved: called by
             * the URL as it is (curl resolves a name then) */
            unsigned port;
            int      lit;
            char    *h = url_host(src->url, &port, &lit);
            if (!h)
                return BFF_ENOMEM;
            snprintf(label, sizeof(label), "%s:%u", h, port);
            free(h);
            struct res_ep *e = ep_get(s, src->url, label, src->host, src->url, NULL);
            if (!e)
                return BFF_ENOMEM;
            list[n++] = e;
            continue;
        }
        for (size_t k = 0; k < src->naddr && n < BFF_MAX_ENDPOINTS; k++) {
            inet_ntop(AF_INET, &src->addr[k], ip, sizeof(ip));
            snprintf(key, sizeof(key), "%s %s", src->url, ip);
            snprintf(label, sizeof(label), "%s:%u", ip, src->port);
            snprintf(ct, sizeof(ct), "%s:%u:%s:%u", src->host, src->port, ip, src->port);
            struct res_ep *e = ep_get(s, key, label, src->host, src->url, ct);
            if (!e)
                return BFF_ENOMEM;
            int dup = 0; /* two URLs that name one address: one endpoint */
            for (size_t j = 0; j < n && !dup; j++)
                dup = list[j] == e;
            if (!dup)
                list[n++] = e;
        }
    }
    struct res_epset *cur = atomic_load(&s->eps);
    if (cur && cur->n == n && memcmp(cur->ep, list, n * sizeof(list[0])) == 0)
        return 0;
    struct res_epset *set = malloc(sizeof(*set) + n * sizeof(list[0]));
    if (!set)
        return BFF_ENOMEM;
    set->n = n;
    memcpy(set->ep, list, n * sizeof(list[0]));
    set->retired = s->sets;
    s->sets = set;
    atomic_store_explicit(&s->eps, set, memory_order_release);
    return 1;
}

/* "[127.0.0.2:9102, 127.0.0.3:9102]" of the set in force, for a log line. */
static void set_text(struct res_svc *s, char *out, size_t cap)
{
    struct res_epset *set = atomic_load(&s->eps);
    size_t            len = 0;
    len += (size_t)snprintf(out, cap, "[");
    for (size_t i = 0; set && i < set->n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
                                set->ep[i]->label);
    if (len < cap)
        snprintf(out + len, cap - len, "]");
}

/* Replaces @s's sources by the endpoints of @c (a name keeps the addresses
 * it had under the previous config). Under reg->lock. */
static int src_bind(struct res_svc *s, const struct bff_service_conf *c)
{
    struct res_src *src = calloc(c->nendpoints ? c->nendpoints : 1, sizeof(*src));
    int             names = 0;

    if (!src)
        return BFF_ENOMEM;
    for (size_t i = 0; i < c->nendpoints; i++) {
        int lit;
        src[i].url = strdup(c->endpoints[i]);
        char *h = src[i].url ? url_host(src[i].url, &src[i].port, &lit) : NULL;
        if (!src[i].url || !h) {
            free(h);
            for (size_t k = 0; k <= i; k++)
                free(src[k].url), free(src[k].host);
            free(src);
            return BFF_ENOMEM;
        }
        if (lit) {
            free(h);
        } else {
            src[i].host = h;
            names = 1;
            for (size_t k = 0; k < s->nsrc; k++)
                if (strcmp(s->src[k].url, src[i].url) == 0) {
                    src[i].resolved = s->src[k].resolved;
                    src[i].naddr = s->src[k].naddr;
                    memcpy(src[i].addr, s->src[k].addr, sizeof(src[i].addr));
                }
        }
    }
    for (size_t k = 0; k < s->nsrc; k++)
        free(s->src[k].url), free(s->src[k].host);
    free(s->src);
    s->src = src;
    s->nsrc = c->nendpoints;
    s->dns_names = names;
    s->resolve_every_ms = c->resolve_every_ms;
    int moved = !s->hc_path != !c->hc.path ||
                (c->hc.path && strcmp(s->hc_path, c->hc.path) != 0);
    free(s->hc_path);
    s->hc_path = c->hc.path ? strdup(c->hc.path) : NULL;
    if (c->hc.path && !s->hc_path)
        return BFF_ENOMEM;
    for (struct res_ep *e = s->all; moved && e; e = e->next) {
        e->hc_next = 0; /* a new or moved check runs at once */
        if (!c->hc.path)
            atomic_store(&e->hc_down, 0); /* no check left to bring it back */
    }
    int rc = set_build(s);
    return rc < 0 ? rc : 0;
}

/* Looks up every host name of @s's endpoints (blocking, without the lock)
 * and publishes a new set when an answer changed. A name that stops
 * resolving keeps its last good addresses: logged when it starts and stops
 * failing, counted in dns_failures; a change is logged and counted in
 * dns_changes. Takes reg->lock. */
static void dns_refresh(struct res_registry *reg, struct res_svc *s)
{
    char             *hosts[BFF_MAX_ENDPOINTS], *urls[BFF_MAX_ENDPOINTS];
    size_t            n = 0, nres;
    struct sockaddr_in res[BFF_MAX_RESOLVERS];

    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < s->nsrc && n < BFF_MAX_ENDPOINTS; i++) {
        if (!s->src[i].host)
            continue;
        hosts[n] = strdup(s->src[i].host);
        urls[n] = strdup(s->src[i].url);
        if (!hosts[n] || !urls[n]) {
            free(hosts[n]), free(urls[n]);
            break;
        }
        n++;
    }
    nres = reg->nresolvers;
    memcpy(res, reg->resolvers, sizeof(res));
    s->dns_next = bff_now_ms() + s->resolve_every_ms;
    pthread_mutex_unlock(&reg->lock);

    for (size_t i = 0; i < n; i++) {
        uint32_t addr[DNS_MAX_ADDRS];
        int      got = dns_lookup_a(hosts[i], res, nres, addr, DNS_MAX_ADDRS);
        pthread_mutex_lock(&reg->lock);
        for (size_t k = 0; k < s->nsrc; k++) {
            struct res_src *src = &s->src[k];
            if (strcmp(src->url, urls[i]) != 0)
                continue;
            if (got <= 0) {
                atomic_fetch_add(&s->dns_failures, 1);
                log_event("warn",
                          "service %s: endpoint host %s %s; keeping its last addresses",
                          s->name, hosts[i],
                          got == 0 ? "has no address" : "could not be resolved");
            } else if (!src->resolved || src->naddr != (size_t)got ||
                       memcmp(src->addr, addr, (size_t)got * sizeof(addr[0])) != 0) {
                src->resolved = 1;
                src->naddr = (size_t)got;
                memcpy(src->addr, addr, (size_t)got * sizeof(addr[0]));
                if (set_build(s) == 1) {
                    char text[1024];
                    set_text(s, text, sizeof(text));
                    atomic_fetch_add(&s->dns_changes, 1);
                    log_event("info", "service %s: endpoint host %s resolved anew; "
                                      "endpoints now %s",
                              s->name, hosts[i], text);
                }
            }
        }
        pthread_mutex_unlock(&reg->lock);
        free(hosts[i]);
        free(urls[i]);
    }
}

static void *dns_main(void *arg)
{
    struct res_registry *reg = arg;

    pthread_mutex_lock(&reg->lock);
    while (!reg->stop) {
        uint64_t        now = bff_now_ms(), next = now + 1000;
        struct res_svc *due = NULL;
        for (struct res_svc *s = reg->head; s; s = s->next) {
            if (s->gen != reg->gen || !s->dns_names || !atomic_load(&s->eps))
                continue;
            if (s->dns_next <= now) {
                due = s;
                break;
            }
            if (s->dns_next < next)
                next = s->dns_next;
        }
        if (due) {
            pthread_mutex_unlock(&reg->lock);
            dns_refresh(reg, due); /* entries are never freed while running */
            pthread_mutex_lock(&reg->lock);
            continue;
        }
        struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&reg->cv, &reg->lock, &ts);
    }
    pthread_mutex_unlock(&reg->lock);
    return NULL;
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
        if (c->endpoints) {
            if ((rc = src_bind(s, c)) != 0)
                break;
        } else if (atomic_load(&s->eps)) {
            atomic_store(&s->eps, NULL); /* back to url: (the sets stay allocated) */
            s->dns_names = 0;
        }
        char *url = NULL;
        if (c->hc.path && c->url && !c->endpoints &&
            asprintf(&url, "%s%s", c->url, c->hc.path) < 0) {
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
        atomic_store(&s->hc_interval_ms, url || (c->endpoints && c->hc.path)
                                             ? c->hc.interval_ms
                                             : 0);
        /* down "until a check passes" with no check left: the passive rule */
        uint64_t d = atomic_load(&s->down_until);
        if (!url && d == DOWN_UNTIL_CHECK)
            atomic_store(&s->down_until, now + c->cb.open_for_ms);
        snap->services[i].res = s;
    }
    reg->nresolvers = 0;
    for (size_t i = 0; i < cfg->nresolvers && i < BFF_MAX_RESOLVERS; i++) {
        struct sockaddr_in *a = &reg->resolvers[reg->nresolvers];
        char                host[32];
        const char         *r = cfg->resolvers[i], *colon = strchr(r, ':');
        size_t              hl = colon ? (size_t)(colon - r) : strlen(r);
        if (hl >= sizeof(host))
            continue;
        memcpy(host, r, hl);
        host[hl] = '\0';
        memset(a, 0, sizeof(*a));
        a->sin_family = AF_INET;
        a->sin_port = htons(colon ? (uint16_t)atoi(colon + 1) : 53);
        if (inet_pton(AF_INET, host, &a->sin_addr) == 1)
            reg->nresolvers++;
    }
    pthread_mutex_unlock(&reg->lock);
    /* the first answers before the snapshot is in force (start, reload):
     * off the request path, at most DNS_TIMEOUT_MS per name and server */
    for (size_t i = 0; rc == 0 && i < cfg->nservices; i++) {
        struct res_svc *s = snap->services[i].res;
        if (s && cfg->services[i].endpoints && s->dns_names)
            dns_refresh(reg, s);
    }
    pthread_mutex_lock(&reg->lock);
    pthread_cond_broadcast(&reg->cv);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* ---- health checks --------------------------------------------------------------- */

struct hc_job {
    struct res_svc *s;
    struct res_ep  *ep; /* endpoints: the endpoint checked; NULL: the service */
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

/* An endpoint's check: 2xx puts it back, anything else takes it out of
 * rotation until a check passes (one check decides, both ways). */
static void ep_health_result(struct res_svc *s, struct res_ep *e, int status)
{
    int ok = status >= 200 && status < 300;
    int was_down = atomic_exchange(&e->hc_down, !ok);

    if (ok && was_down)
        log_event("info", "service %s: endpoint %s is up again: its health check passed",
                  s->name, e->label);
    else if (!ok && !was_down) {
        if (status > 0)
            log_event("warn", "service %s: endpoint %s is down: its health check "
                              "answered %d",
                      s->name, e->label, status);
        else
            log_event("warn", "service %s: endpoint %s is down: its health check "
                              "failed (%s)",
                      s->name, e->label, bff_strerror(status));
    }
}

/* Appends a job to @jobs (grown as needed); returns it, or NULL. */
static struct hc_job *job_add(struct hc_job **jobs, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t         nc = *cap ? *cap * 2 : 8;
        struct hc_job *nj = realloc(*jobs, nc * sizeof(*nj));
        if (!nj)
            return NULL;
        *jobs = nj;
        *cap = nc;
    }
    return &(*jobs)[(*n)++];
}

/* The due checks of @s's endpoints into @jobs; moves *@next earlier when
 * one is due before it. Under reg->lock. */
static void ep_jobs(struct res_svc *s, uint64_t now, uint64_t *next,
                    struct hc_job **jobs, size_t *n, size_t *cap)
{
    struct res_epset *set = atomic_load(&s->eps);
    uint64_t          interval = atomic_load(&s->hc_interval_ms);
    for (size_t i = 0; set && s->hc_path && i < set->n; i++) {
        struct res_ep *e = set->ep[i];
        if (e->hc_next > now) {
            if (e->hc_next < *next)
                *next = e->hc_next;
            continue;
        }
        struct hc_job *j = job_add(jobs, n, cap);
        if (!j)
            return;
        *j = (struct hc_job){s, e, NULL, {NULL, NULL, NULL}, s->hc_connect_ms,
                             s->hc_timeout_ms};
        int ok = asprintf(&j->url, "%s%s", e->base, s->hc_path) >= 0;
        if (!ok)
            j->url = NULL;
        for (int k = 0; k < 3; k++)
            if (s->hc_tls[k] && !(j->tls[k] = strdup(s->hc_tls[k])))
                ok = 0;
        if (!ok) {
            job_free(j);
            (*n)--;
            return;
        }
        e->hc_next = now + interval;
        if (e->hc_next < *next)
            *next = e->hc_next;
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
            if (s->gen == reg->gen && s->hc_path && atomic_load(&s->eps))
                ep_jobs(s, now, &next, &jobs, &n, &cap);
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
                                 NULL,
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
                /* an endpoint's connect_to lives as long as the registry */
                int st = reg->probe(j->url, j->ep ? res_ep_connect_to(j->ep) : NULL,
                                    j->connect_ms, j->timeout_ms, j->tls[0], j->tls[1],
                                    j->tls[2]);
                if (j->ep)
                    ep_health_result(j->s, j->ep, st);
                else
                    health_result(j->s, st);
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
    if (rc == 0) {
        reg->started = 1;
        rc = pthread_create(&reg->dns_thread, NULL, dns_main, reg);
        if (rc == 0)
            reg->dns_started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc != 0 ? BFF_EIO : 0;
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
    out->up = !svc_down(s, now);
    out->dns_changes = atomic_load_explicit(&s->dns_changes, memory_order_relaxed);
    out->dns_failures = atomic_load_explicit(&s->dns_failures, memory_order_relaxed);
    res_budget_counts(&s->budget, now, &out->budget_calls, &out->budget_retries);
}

static const char *ep_state(const struct res_ep *e, const struct bff_service_conf *conf,
                            uint64_t now)
{
    if (ep_ejected(e, now))
        return "ejected";
    if (atomic_load(&e->hc_down))
        return "down";
    return ep_healthy(e, conf, now) ? "ok" : "failing";
}

size_t res_endpoint_stats(const struct bff_service_rt *svc, struct res_ep_stats *out,
                          size_t cap)
{
    if (!svc || !svc->res)
        return 0;
    struct res_epset *set = atomic_load_explicit(&svc->res->eps, memory_order_acquire);
    uint64_t          now = res_now();
    size_t            n = 0;
    for (size_t i = 0; set && i < set->n && n < cap; i++, n++) {
        const struct res_ep *e = set->ep[i];
        struct res_ep_stats *o = &out[n];
        o->label = e->label;
        o->host = e->host;
        for (int k = 0; k < RES_EP_N; k++)
            o->n[k] = atomic_load_explicit(&e->n[k], memory_order_relaxed);
        o->in_flight = atomic_load_explicit(&e->in_flight, memory_order_relaxed);
        o->fails = atomic_load_explicit(&e->fails, memory_order_relaxed);
        o->ejections = atomic_load_explicit(&e->ejections, memory_order_relaxed);
        uint64_t u = atomic_load(&e->ejected_until);
        o->ejected_ms_left = u > now ? u - now : 0;
        o->hc_down = atomic_load(&e->hc_down);
        o->state = ep_state(e, svc->conf, now);
    }
    return n;
}

/* The endpoints of @svc as a JSON array (NULL for a url: service). */
static json_object *endpoints_json(const struct bff_service_rt *svc, int full)
{
    struct res_ep_stats st[BFF_MAX_ENDPOINTS];
    if (!svc->res || !atomic_load(&svc->res->eps))
        return NULL;
    size_t       n = res_endpoint_stats(svc, st, BFF_MAX_ENDPOINTS);
    json_object *a = json_object_new_array();
    for (size_t i = 0; a && i < n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "endpoint", json_object_new_string(st[i].label));
        if (st[i].host)
            json_object_object_add(o, "host", json_object_new_string(st[i].host));
        json_object_object_add(o, "state", json_object_new_string(st[i].state));
        json_object_object_add(o, "up", json_object_new_boolean(!st[i].hc_down));
        json_object_object_add(o, "ejected",
                               json_object_new_boolean(st[i].ejected_ms_left > 0));
        if (full) {
            json_object_object_add(o, "ejected_ms_left",
                                   json_object_new_int64((int64_t)st[i].ejected_ms_left));
            json_object_object_add(o, "ejections_in_a_row",
                                   json_object_new_int64(st[i].ejections));
            json_object_object_add(o, "consecutive_failures",
                                   json_object_new_int64(st[i].fails));
            json_object_object_add(o, "in_flight", json_object_new_int64(st[i].in_flight));
            json_object *calls = json_object_new_object();
            for (int k = 0; k < RES_EP_N; k++)
                json_object_object_add(calls, res_ep_counter_names[k],
                                       json_object_new_int64((int64_t)st[i].n[k]));
            json_object_object_add(o, "calls", calls);
        }
        json_object_array_add(a, o);
    }
    return a;
}

char *res_snapshot_endpoints_json(const struct bff_snapshot *s)
{
    json_object *root = NULL;
    char        *text = NULL;
    for (size_t i = 0; i < s->cfg->nservices; i++) {
        json_object *a = endpoints_json(&s->services[i], 0);
        if (!a)
            continue;
        if (!root)
            root = json_object_new_object();
        json_object_object_add(root, s->cfg->services[i].name, a);
    }
    if (!root)
        return NULL;
    const char *t = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (t)
        text = strdup(t);
    json_object_put(root);
    return text;
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
        if (!used[i] || !e || !svc_down(e, res_now()))
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
        json_object *eps = endpoints_json(&s->services[i], 1);
        if (eps) {
            const struct bff_service_conf *sc = &s->cfg->services[i];
            struct res_svc                *e = s->services[i].res;
            json_object_object_add(
                o, "balance",
                json_object_new_string(sc->balance == BFF_BALANCE_ROUND_ROBIN
                                           ? "round_robin"
                                           : "least_request"));
            json_object_object_add(o, "endpoints", eps);
            json_object_object_add(o, "dns_changes",
                                   json_object_new_int64((int64_t)atomic_load(&e->dns_changes)));
            json_object_object_add(o, "dns_failures",
                                   json_object_new_int64((int64_t)atomic_load(&e->dns_failures)));
        }
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

/* ---- one call's endpoint ----------------------------------------------------------- */

static int ep_ejected(const struct res_ep *e, uint64_t now)
{
    return now < atomic_load_explicit(&e->ejected_until, memory_order_relaxed);
}

/* Not ejected, its check not failing, and not in a run of failures (a run
 * is forgiven eject_for after its last failure, so an endpoint that the
 * max_ejected cap kept in is tried again). */
static int ep_healthy(const struct res_ep *e, const struct bff_service_conf *conf,
                      uint64_t now)
{
    if (ep_ejected(e, now) || atomic_load_explicit(&e->hc_down, memory_order_relaxed))
        return 0;
    return atomic_load_explicit(&e->fails, memory_order_relaxed) < conf->outlier.failures ||
           now >= atomic_load_explicit(&e->last_fail, memory_order_relaxed) +
                      conf->outlier.eject_for_ms;
}

/* 1 when some endpoint of @set is healthy: only then do failures stay the
 * endpoints' business and not the service breaker's. */
static int any_healthy(const struct res_epset *set, const struct bff_service_conf *conf,
                       uint64_t now)
{
    for (size_t i = 0; i < set->n; i++)
        if (ep_healthy(set->ep[i], conf, now))
            return 1;
    return 0;
}

/* No endpoint can take a call (every one ejected or failing its check). */
static int eps_down(const struct res_epset *set, uint64_t now)
{
    for (size_t i = 0; i < set->n; i++)
        if (!ep_ejected(set->ep[i], now) && !atomic_load(&set->ep[i]->hc_down))
            return 0;
    return 1;
}

/* Picks the endpoint of @c's next attempt and takes one of its bulkhead
 * slots: among the healthy endpoints other than @avoid, else those neither
 * ejected nor down other than @avoid, else @avoid itself when it is one of
 * them; by the service's balance. Returns RES_PASS, or RES_REJ_DOWN / RES_REJ_BULKHEAD with *@ra. */
static int ep_pick(struct up_call *c, struct res_svc *s, const struct res_epset *set,
                   struct res_ep *avoid, uint64_t now, uint32_t *ra)
{
    const struct bff_service_conf *conf = c->rt->conf;
    struct res_ep                 *cand[BFF_MAX_ENDPOINTS];
    uint32_t                       load[BFF_MAX_ENDPOINTS];
    size_t                         k = 0, full = 0;
    int                            avoided = 0; /* @avoid would have been a candidate */

    for (int tier = 0; tier < 2 && k == 0; tier++) {
        full = 0;
        for (size_t i = 0; i < set->n; i++) {
            struct res_ep *e = set->ep[i];
            if (tier == 0 ? !ep_healthy(e, conf, now)
                          : ep_ejected(e, now) || atomic_load(&e->hc_down))
                continue;
            uint32_t f = atomic_load_explicit(&e->in_flight, memory_order_relaxed);
            if (f >= conf->max_in_flight) {
                full++;
                continue;
            }
            if (e == avoid) {
                avoided = 1;
                continue;
            }
            load[k] = f;
            cand[k++] = e;
        }
    }
    if (k == 0 && avoided) { /* no other endpoint: the same one again */
        load[0] = atomic_load_explicit(&avoid->in_flight, memory_order_relaxed);
        cand[k++] = avoid;
    }
    if (k == 0) {
        if (full) {
            *ra = 1000;
            return RES_REJ_BULKHEAD;
        }
        uint64_t left = UINT64_MAX; /* the first ejection to end */
        for (size_t i = 0; i < set->n; i++) {
            uint64_t u = atomic_load(&set->ep[i]->ejected_until);
            if (u > now && u - now < left && !atomic_load(&set->ep[i]->hc_down))
                left = u - now;
        }
        if (left == UINT64_MAX)
            left = conf->hc.path ? conf->hc.interval_ms : conf->outlier.eject_for_ms;
        *ra = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
        return RES_REJ_DOWN;
    }
    size_t pick = conf->balance == BFF_BALANCE_ROUND_ROBIN
                      ? res_round_robin(k, atomic_fetch_add_explicit(
                                               &s->rr, 1, memory_order_relaxed))
                      : res_p2c(load, k, bff_rand(&c->w->rng));
    c->res.ep = cand[pick];
    atomic_fetch_add_explicit(&c->res.ep->in_flight, 1, memory_order_relaxed);
    return RES_PASS;
}

const char *res_ep_base(const struct res_ep *e)
{
    return e->base;
}

const char *res_ep_connect_to(const struct res_ep *e)
{
    return e->connect_to;
}

/* The attempt's endpoint slot is given back. */
static void ep_release(struct up_call *c)
{
    if (!c->res.ep)
        return;
    atomic_fetch_sub_explicit(&c->res.ep->in_flight, 1, memory_order_relaxed);
    c->res.last_ep = c->res.ep;
    c->res.ep = NULL;
}

/* Passive outlier detection: counts the attempt on its endpoint @e and
 * ejects @e after outlier.failures consecutive failures (at once for a
 * refused connection), within max_ejected. */
static void ep_outcome(struct res_svc *s, const struct bff_service_conf *conf,
                       const struct res_epset *set, struct res_ep *e, int result,
                       int status, int failed, uint64_t now)
{
    int k = result == UP_OK ? (status >= 500 ? EP_ERROR : EP_OK)
            : result == UP_TIMEOUT ? EP_TIMEOUT
            : result == UP_CONNECT ? EP_REFUSED
                                   : EP_ERROR;
    atomic_fetch_add_explicit(&e->n[k], 1, memory_order_relaxed);
    if (!failed) {
        atomic_store_explicit(&e->fails, 0, memory_order_relaxed);
        if (atomic_load_explicit(&e->ejections, memory_order_relaxed) &&
            res_eject_forgotten(now, atomic_load(&e->ejected_until),
                                conf->outlier.eject_for_ms))
            atomic_store(&e->ejections, 0);
        return;
    }
    atomic_store_explicit(&e->last_fail, now, memory_order_relaxed);
    uint32_t f = atomic_fetch_add_explicit(&e->fails, 1, memory_order_relaxed) + 1;
    int      refused = result == UP_CONNECT;
    if (!res_should_eject(f, refused, conf->outlier.failures, 0, 1))
        return;
    /* one worker at a time decides an ejection, so max_ejected holds; one
     * that finds another deciding does not wait: the endpoint's next
     * failure tries again */
    if (atomic_exchange_explicit(&s->ejecting, 1, memory_order_acquire))
        return;
    uint32_t out = 0;
    for (size_t i = 0; i < set->n; i++)
        out += set->ep[i] != e && ep_ejected(set->ep[i], now);
    if (!ep_ejected(e, now) &&
        res_should_eject(f, refused, conf->outlier.failures, out,
                         res_max_ejected(set->n, conf->outlier.max_ejected_pct))) {
        uint32_t times = atomic_load(&e->ejections);
        uint64_t ms = res_eject_ms(conf->outlier.eject_for_ms, times);
        atomic_store(&e->ejected_until, now + ms);
        atomic_store(&e->ejections, times + 1);
        atomic_store(&e->fails, 0);
        atomic_fetch_add(&e->n[EP_EJECTED], 1);
        log_event("warn",
                  "service %s: endpoint %s ejected for %llu ms (%s; ejection %u in a "
                  "row)",
                  s->name, e->label, (unsigned long long)ms,
                  refused ? "it refused a connection" : "consecutive failures",
                  times + 1);
    }
    atomic_store_explicit(&s->ejecting, 0, memory_order_release);
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

    struct res_epset *set = atomic_load_explicit(&s->eps, memory_order_acquire);
    uint64_t down = set ? 0 : atomic_load_explicit(&s->down_until, memory_order_relaxed);
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
    c->res.ep = c->res.last_ep = NULL;
    if (set) { /* endpoints: each its own bulkhead; the service only counts */
        why = ep_pick(c, s, set, NULL, now, &ra);
        if (why != RES_PASS) {
            res_breaker_release(&s->brk, &c->res.ticket);
            k = why == RES_REJ_DOWN ? RES_N_REJ_DOWN : RES_N_REJ_BULKHEAD;
            goto reject;
        }
        atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed);
    } else if (atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed) >=
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
    ep_release(c);
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
    struct res_epset *set = atomic_load_explicit(&s->eps, memory_order_acquire);
    int               brk_failed = failed;
    if (c->res.ep && set) {
        struct res_ep *e = c->res.ep;
        ep_release(c);
        ep_outcome(s, conf, set, e, (int)c->result, c->status, failed, now);
        /* the breaker hears of a failure only when no endpoint is healthy */
        brk_failed = failed && !any_healthy(set, conf, now);
    } else {
        ep_release(c);
    }
    res_breaker_record(&s->brk, &bc, now, &c->res.ticket, brk_failed);
    c->res.ticket.probe = 0; /* used up; a retry is admitted afresh */
    if (c->result == UP_CONNECT && !set)
        passive_down(s, conf, now);

    if (c->res.retryable_method && c->res.retries < conf->retries &&
        res_outcome_retryable((int)c->result, c->status) &&
        (set ? !eps_down(set, now) : !is_down(s, now)) &&
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

    struct res_epset *set = atomic_load_explicit(&s->eps, memory_order_acquire);
    c->res.backoff = 0;
    if ((!set && is_down(s, now)) || abs + MIN_ATTEMPT_MS > c->deadline_ms ||
        res_breaker_admit(&s->brk, &bc, now, &c->res.ticket, &ra) != RES_PASS) {
        res_call_end(c);
        return -1;
    }
    /* a retry goes to another endpoint than the attempt that failed */
    if (set && ep_pick(c, s, set, c->res.last_ep, now, &ra) != RES_PASS) {
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
