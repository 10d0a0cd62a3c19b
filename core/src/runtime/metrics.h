/* core/src/metrics.h — Prometheus metrics: per-worker counters, summed on scrape
 *
 * Threads. Every counter lives in a per-worker block and is written only by
 * that worker's thread (relaxed atomic load + store, no read-modify-write,
 * no lock); the admin thread reads all blocks with relaxed loads and sums
 * them when /metrics is scraped. A per-worker value only grows, so a sum
 * read later is never smaller than one read earlier: counters never go
 * backwards, across reloads included.
 *
 * Reloads. Routes are keyed by their path pattern as written in the YAML
 * ("/v1/order-screen/{id}"), services by name. A process-wide registry maps
 * each key ever seen to a slot that is never reused or freed; a config
 * snapshot carries the slot of each of its routes and services, resolved
 * when the snapshot is built (off the request path). Per-worker counter
 * storage grows in fixed chunks of slots at that moment, under the
 * registry's lock, and is never moved, so a worker indexes it without a
 * lock. A route that a reload removes keeps its counters; one that comes
 * back continues them. Bounds: METRICS_MAX_ROUTES distinct route paths and
 * METRICS_MAX_SERVICES service names over the life of the process; past
 * them new keys count under route="other" / service="other".
 *
 * Labels: a request that matched no route counts under route="none"; an
 * upstream call whose service is not known counts under service="unknown". */
#ifndef BFF_METRICS_H
#define BFF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "bff/jwt.h"
#include "types/request-t.h"
#include "types/snapshot-t.h"
#include "types/upstream-t.h"
#include "types/worker-t.h"

#define METRICS_MAX_ROUTES 4096
#define METRICS_MAX_SERVICES 1024

/* What became of one attempt of an upstream call (label outcome of
 * bff_upstream_calls_total; a retry is one more attempt). */
enum metrics_outcome {
    METRICS_UP_OK = 0,    /* an HTTP answer below 500 */
    METRICS_UP_HTTP_5XX,  /* an HTTP answer 500..599 */
    METRICS_UP_TIMEOUT,   /* connect or whole-call deadline passed */
    METRICS_UP_CONNECT,   /* refused / unreachable */
    METRICS_UP_TOO_LARGE, /* answer past max_body */
    METRICS_UP_BROKEN,    /* closed mid-answer, bad framing */
    METRICS_UP_NOUTCOMES
};
/* Calls refused before they were sent (outcomes circuit_open, bulkhead_full,
 * service_down) are the resilience module's counters (res_service_stats),
 * read at scrape time; so are bff_circuit_state, bff_upstream_in_flight,
 * bff_upstream_up and bff_upstream_retries_total. */

struct bff_metrics_worker; /* one per worker; opaque */

/* Sets up per-worker storage for @nworkers workers and for every slot
 * registered so far. Main thread, once, after the first snapshot is built
 * and before the workers start. Returns 0 or BFF_ENOMEM. */
int metrics_init(unsigned nworkers);
/* Frees everything; after the workers and the admin listener have stopped. */
void metrics_cleanup(void);
/* Worker @id's block (NULL before metrics_init). */
struct bff_metrics_worker *metrics_worker(unsigned id);

/* Resolves the slots of @s's routes and services (registering new keys and
 * growing worker storage). Any thread but a worker; before @s is
 * published. Returns 0 or BFF_ENOMEM. */
int  metrics_snapshot_init(struct bff_snapshot *s);
void metrics_snapshot_cleanup(struct bff_snapshot *s);

/* ---- the request path: worker thread only, never blocks, never allocates */

/* Counts a finished client request: route, method class, status class and
 * duration (from r->start_us). Call once, from the completed callback. */
void metrics_request_done(struct bff_request *r);
/* Counts one attempt of an upstream call to @rt's service (NULL:
 * service="unknown") with @outcome and wall time @us. */
void metrics_upstream_done(struct bff_worker *w, const struct bff_service_rt *rt,
                           enum metrics_outcome outcome, uint64_t us);
/* The outcome label of an upstream call's result. */
enum metrics_outcome metrics_up_outcome(enum up_result result, int status);
/* Counts a rate-limit decision on @r's route (for the rate-limit module). */
void metrics_ratelimit(struct bff_request *r, int allowed);
/* A rate-limit store that gave no verdict for @r (on_store_error decided). */
void metrics_ratelimit_store_error(struct bff_request *r);
/* An Idempotency-Key request's result on @r's route
 * (bff_idempotency_total{route,result}). */
enum metrics_idem {
    METRICS_IDEM_NEW = 0,
    METRICS_IDEM_REPLAYED,
    METRICS_IDEM_CONFLICT,
    METRICS_IDEM_MISMATCH,
    METRICS_IDEM_STORE_ERROR,
    METRICS_IDEM_NRESULTS
};
void metrics_idempotency(struct bff_request *r, enum metrics_idem result);

/* Streams: answers passed on as they arrive (proxy routes), Server-Sent
 * Events (text/event-stream answers) and WebSockets, by route pattern.
 * bff_streams_open{route,kind} (gauge), bff_streams_total{route,kind,end}
 * and bff_stream_bytes_total{route,direction} (in: from the client, out: to
 * it). The open count per route is the process's (every worker's), kept
 * across reloads like the route's other series: it is what a route's
 * max_streams bounds. */
enum metrics_stream {
    METRICS_STREAM_ANSWER = 0, /* a streamed answer that is not SSE */
    METRICS_STREAM_SSE,
    METRICS_STREAM_WEBSOCKET,
    METRICS_STREAM_NKINDS
};
enum metrics_stream_end {
    METRICS_END_COMPLETE = 0, /* the service ended it (or closed a WebSocket) */
    METRICS_END_BROKEN,       /* the service broke off or mis-framed it */
    METRICS_END_CLIENT,       /* the client went away */
    METRICS_END_IDLE,         /* idle_timeout passed */
    METRICS_END_DRAIN,        /* the gateway ended it (drain, stop) */
    METRICS_END_NENDS
};
/* Opens a stream of @kind on @r's route: 0 with the route's slot in *slot
 * (for metrics_stream_close, which needs no request: a WebSocket outlives
 * its request object), or -1 when the route has @max (0: no limit) open
 * already (nothing counted then). *slot is -1 for a request without a
 * route (nothing counted). */
int  metrics_stream_open(struct bff_request *r, enum metrics_stream kind, uint32_t max,
                         int64_t *slot);
/* Closes what metrics_stream_open counted, on worker @w's counters, with how
 * it ended and the bytes it carried each way. */
void metrics_stream_close(struct bff_worker *w, int64_t slot, enum metrics_stream kind,
                          enum metrics_stream_end end, uint64_t bytes_in,
                          uint64_t bytes_out);
uint32_t metrics_streams_open(struct bff_request *r);
/* Counts a token that bff_jwt_verify refused with @why. */
void metrics_jwt_refusal(struct bff_worker *w, enum bff_jwt_reason why);
/* Client connections of @w opened (+1) or closed (-1). */
void metrics_connection(struct bff_worker *w, int delta);

/* ---- the admin thread ---------------------------------------------------- */

/* Everything /metrics shows that is not a per-worker counter. */
struct metrics_info {
    const char          *name;    /* "bff-mobile" */
    const char          *version; /* "0.1.0" */
    struct bff_snapshot *snap;    /* the config in force (for its keys) */
    uint64_t             reloads_ok, reloads_rejected;
    int64_t              reload_at; /* unix seconds of the last good load */
    int64_t              start_at;  /* unix seconds the process started */
    uint64_t             requests_in_flight;
    int                  ready, draining;
};

/* The whole scrape in the text exposition format 0.0.4, malloc'd (NUL
 * terminated, *len without it), or NULL when out of memory. */
char *metrics_render(const struct metrics_info *info, size_t *len);

#endif
