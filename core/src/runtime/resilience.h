/* core/src/runtime/resilience.h — keeping one slow or dead service from
 * taking the gateway down: each service's breaker, bulkhead, retry budget and
 * health, shared by all workers (the rules themselves: rules/breaker.h).
 *
 * State lives in one struct res_svc per service name, in a registry owned by
 * the server (struct bff_server.res). Entries survive config reloads: a new
 * snapshot looks its services up once, by name, when it is bound
 * (res_snapshot_bind) and keeps a pointer in bff_service_rt.res. Entries are
 * freed only with the registry, at exit.
 *
 * On the request path everything here is atomics: no lock, no allocation.
 * This layer decides; the upstream layer (upstream/) makes the calls and
 * the retries. docs/resilience.md describes every behaviour and limit. */
#ifndef BFF_RUNTIME_RESILIENCE_H
#define BFF_RUNTIME_RESILIENCE_H

#include <stddef.h>
#include <stdint.h>

#include "rules/breaker.h"

struct bff_service_rt;
struct bff_snapshot;
struct up_call;

/* ---- one service's shared state (the registry entry) ------------------------- */

struct res_svc; /* opaque: resilience.c */
struct res_registry;

/* What the metrics code reads for one service. */
struct res_stats {
    uint64_t         n[RES_N_COUNTERS]; /* by enum res_counter */
    enum res_circuit circuit;
    uint32_t         in_flight;                    /* calls holding a bulkhead slot */
    int              up;                           /* 0 while known down (health) */
    uint32_t         budget_calls, budget_retries; /* the retry window */
    uint64_t         dns_changes, dns_failures; /* endpoints: host name look-ups */
};

/* A consistent-enough copy of @svc's counters and state (each field is one
 * atomic load). @svc is an entry of a snapshot's services[]; when it is not
 * bound to the registry (config check mode) everything reads zero and up.
 * Cheap, lock-free, callable from any thread: this is the call for /metrics. */
void res_service_stats(const struct bff_service_rt *svc, struct res_stats *out);

/* What the metrics and admin code read for one endpoint of a service with
 * endpoints: (each field one atomic load). */
#define RES_EP_N 5 /* counters: ok, error, timeout, refused, ejected */
extern const char *const res_ep_counter_names[RES_EP_N];
struct res_ep_stats {
    const char *label;     /* "127.0.0.1:9102": lives as long as the process */
    const char *host;      /* the DNS name it came from, or NULL */
    const char *state;     /* "ok", "failing", "ejected", "down" */
    uint64_t    n[RES_EP_N]; /* attempts by outcome; ejections */
    uint32_t    in_flight, fails, ejections;
    uint64_t    ejected_ms_left;
    int         hc_down;
};
/* The endpoints in force of @svc (at most @cap) into @out; 0 for a url:
 * service. Lock-free, any thread. */
size_t res_endpoint_stats(const struct bff_service_rt *svc, struct res_ep_stats *out,
                          size_t cap);
/* A malloc'd JSON object {"orders":[{"endpoint":…,"state":…,"up":…,"ejected":…}]}
 * of the services with endpoints: in @s, for /readyz; NULL when none. */
char *res_snapshot_endpoints_json(const struct bff_snapshot *s);

/* ---- registry and health checks (main thread, admin thread) ------------------ */

/* A new registry; NULL when out of memory. Call before any worker starts. */
struct res_registry *res_registry_new(void);
/* Stops the health thread (if running) and frees every entry. */
void res_registry_free(struct res_registry *reg);
/* Points every service of @s at its registry entry (made when new) and
 * hands the health checker the services' current check settings. Call once
 * per snapshot, after it loaded and before it is installed. Returns 0 or
 * BFF_ENOMEM. */
int res_snapshot_bind(struct res_registry *reg, struct bff_snapshot *s);
/* The blocking GET the health checker runs (the upstream layer's
 * up_probe_get): the HTTP status, or a negative bff_err. */
typedef int (*res_probe_fn)(const char *url, const char *connect_to,
                            uint32_t connect_timeout_ms, uint32_t timeout_ms,
                            const char *tls_ca, const char *tls_cert,
                            const char *tls_key);
/* Starts the active health checker: one thread running @probe on each
 * checked service's health_check.path (each endpoint's, with endpoints:)
 * every interval; and the resolver thread, which looks endpoint host names
 * up again every resolve_every. Returns 0 or BFF_EIO. */
int res_health_start(struct res_registry *reg, res_probe_fn probe);
/* Writes into @out (cap bytes) a JSON array of the names of the services
 * that routes of @s use and that are known down: ["orders"]. Returns how
 * many are down. */
size_t res_snapshot_down_json(const struct bff_snapshot *s, char *out, size_t cap);
/* A malloc'd JSON object of every service's state and counters, and
 * @clients_gone, for GET /admin/resilience; NULL when out of memory. */
char *res_snapshot_json(const struct bff_snapshot *s, uint64_t clients_gone);

/* ---- the request path (worker threads) -------------------------------------- */

/* The endpoint an attempt was given (c->res.ep, set by res_call_admit and
 * res_call_readmit for a service with endpoints:): the URL its request's
 * path goes after, and curl's CONNECT_TO entry ("name:port:ip:port") when
 * it is one address of a host name, else NULL. Both live as long as the
 * process. */
const char *res_ep_base(const struct res_ep *e);
const char *res_ep_connect_to(const struct res_ep *e);

/* Admission of call @c (c->rt->res set), before its first attempt. Returns
 * 0 (the call holds a bulkhead slot until res_call_end or res_call_cancel),
 * or BFF_EBUSY with c->rejected and c->retry_after_ms set; the rejection is
 * counted. */
int res_call_admit(struct up_call *c);
/* An attempt ended (outputs set, easy handle released). Counts it, feeds the
 * breaker and passive health, and decides: 1 = retry at c->res.due_ms (the
 * caller waits for it, then calls res_call_readmit; done() must not be
 * called yet), 0 = the call's accounting is finished (call done()). */
int res_call_attempt_done(struct up_call *c);
/* A retry's time has come: admits it again (the breaker may have opened,
 * the service may be down, the deadline may be too close). Returns 0 with
 * the attempt's timeouts set and the retry counted, or -1 with the call's
 * accounting finished (the caller calls done() with the last answer). */
int res_call_readmit(struct up_call *c);
/* Finishes the call's accounting: slot and probe given back, c->ms set. */
void res_call_end(struct up_call *c);
/* The caller cancels @c: counted, slot and probe given back. Idempotent.
 * A retry waiting on the upstream layer's timer is the caller's to drop. */
void res_call_cancel(struct up_call *c);
/* @c could not be started after admission (out of memory). */
void res_call_abandon(struct up_call *c);

#endif
