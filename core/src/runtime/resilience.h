/* core/src/resilience.h — keeping one slow or dead service from taking the
 * gateway down: circuit breakers, bulkheads, retries with a budget, health
 * checks (active and passive), and cancelling the calls of a client that left.
 *
 * State lives in one struct res_svc per service name, in a registry owned by
 * the server (struct bff_server.res). Entries survive config reloads: a new
 * snapshot looks its services up once, by name, when it is bound
 * (res_snapshot_bind) and keeps a pointer in bff_service_rt.res. Entries are
 * freed only with the registry, at exit.
 *
 * On the request path everything here is atomics: no lock, no allocation.
 * The breaker's whole state is one 64-bit word changed by compare-and-swap.
 *
 * The first half of this file is pure (an injected clock, no globals) and is
 * what tests/unit/test_breaker.c exercises; the second half is the glue that
 * upstream.c, proxy.c, agg.c, worker.c and server.c call. docs/resilience.md
 * describes every behaviour and limit. */
#ifndef BFF_RESILIENCE_H
#define BFF_RESILIENCE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct bff_request;
struct bff_server;
struct bff_service_rt;
struct bff_snapshot;
struct bff_worker;
struct up_call;

/* ---- why a call was refused before it was made ------------------------------ */

enum res_reject {
    RES_PASS = 0,
    RES_REJ_OPEN,      /* circuit open */
    RES_REJ_HALF_OPEN, /* half-open and every probe slot is taken */
    RES_REJ_BULKHEAD,  /* max_in_flight calls already running */
    RES_REJ_DOWN,      /* health: the service is known down */
};

/* A short text for @why ("circuit open"), for Server-Timing and details. */
const char *res_reject_text(int why);

/* ---- circuit breaker (pure) ------------------------------------------------- */

enum res_circuit { RES_CLOSED = 0, RES_OPEN = 1, RES_HALF_OPEN = 2 };

struct res_breaker_conf {
    uint32_t failures;         /* consecutive failures that open it (>= 1) */
    uint32_t open_for_ms;      /* first wait before half-open (>= 1) */
    uint32_t half_open_probes; /* calls let through when half-open (>= 1) */
};

/* Reopening after a failed probe doubles the wait, at most this many times:
 * the longest wait is open_for << RES_BREAKER_MAX_LEVEL (8 x open_for). */
#define RES_BREAKER_MAX_LEVEL 3
/* At most this many probes are tracked; larger half_open_probes are cut. */
#define RES_BREAKER_MAX_PROBES 2047u

struct res_breaker {
    /* state (2 bits) | level (3) | probes admitted (11) | probes ok (11) |
     * until (37 bits: ms on the caller's clock when the open period ends;
     * it also names the open episode a probe belongs to) */
    _Atomic uint64_t word;
    _Atomic uint32_t consec; /* consecutive failures counted while closed */
};

/* What admission handed a call; give it back to record or release. */
struct res_ticket {
    int      probe; /* 1: a half-open probe of episode @until */
    uint64_t until;
};

/* Decides whether a call may go at @now_ms (any monotonic ms clock that
 * starts small, below 2^37). Returns RES_PASS with @t filled, or
 * RES_REJ_OPEN / RES_REJ_HALF_OPEN with *@retry_after_ms set (ms until the
 * open period ends; 1000 when waiting for probes). Moves open to half-open
 * when the open period is over. Lock-free; safe from any thread. */
int res_breaker_admit(struct res_breaker *b, const struct res_breaker_conf *c,
                      uint64_t now_ms, struct res_ticket *t, uint32_t *retry_after_ms);
/* Records the outcome of a call admitted with @t: @failed is 1 for a
 * transport error, timeout or 5xx, 0 for any other answer (4xx included).
 * Closed: @failures consecutive failures open it. Half-open: a failed probe
 * reopens it with the next level's wait; when all half_open_probes probes
 * succeeded it closes. A probe of an older episode counts as a plain call. */
void res_breaker_record(struct res_breaker *b, const struct res_breaker_conf *c,
                        uint64_t now_ms, const struct res_ticket *t, int failed);
/* Gives back a probe slot of a call that ended without an outcome
 * (cancelled, or refused by the bulkhead after the breaker let it pass). */
void res_breaker_release(struct res_breaker *b, const struct res_ticket *t);
/* The state as stored (open stays open until a call finds its time over). */
enum res_circuit res_breaker_state(const struct res_breaker *b);
/* The current open period's end and backoff level (for tests and stats). */
uint64_t res_breaker_until(const struct res_breaker *b);
unsigned res_breaker_level(const struct res_breaker *b);

/* ---- retry budget (pure) ------------------------------------------------------ */

/* A sliding window of RES_BUDGET_BUCKETS one-second buckets, each one 64-bit
 * word: second (24 bits) | calls (24 bits, saturating) | retries (16 bits). */
#define RES_BUDGET_BUCKETS 10
#define RES_BUDGET_BUCKET_MS 1000u
#define RES_BUDGET_PERCENT 20u /* retries at most 20% of the window's calls */
#define RES_BUDGET_MIN 3u      /* ... but at least 3 per window */

struct res_budget {
    _Atomic uint64_t bucket[RES_BUDGET_BUCKETS];
};

/* Counts one call (a first attempt) at @now_ms. */
void res_budget_note_call(struct res_budget *b, uint64_t now_ms);
/* Takes one retry from the budget at @now_ms when the window's retries are
 * below RES_BUDGET_MIN or below RES_BUDGET_PERCENT of its calls. Returns 1
 * when taken (and counted), 0 when the budget is spent. Two workers racing
 * can overshoot by one retry each; never more. */
int res_budget_take_retry(struct res_budget *b, uint64_t now_ms);
/* The window's totals at @now_ms. */
void res_budget_counts(struct res_budget *b, uint64_t now_ms, uint32_t *calls,
                       uint32_t *retries);

/* ---- retry policy (pure) ------------------------------------------------------ */

/* 1 when @method may be retried: GET, HEAD, OPTIONS; PUT and DELETE only
 * with @retry_put_delete (the service's retry_non_get); never POST or PATCH. */
int res_method_retryable(const char *method, int retry_put_delete);
/* 1 when an attempt that ended with @up_result (enum up_result) and HTTP
 * @status may be retried: refused, timed out, broken off, or 502/503/504. */
int res_outcome_retryable(int up_result, int status);
/* 1 when the outcome is a failure for the breaker: transport error, timeout
 * or 5xx. 4xx, 2xx, 3xx and answers past max_body are not. */
int res_outcome_failed(int up_result, int status);
/* The jittered wait before retry number @n (1-based): uniform in
 * [10, 50] ms << (n-1), at most 1 s; @rnd is any random 64-bit value. */
uint32_t res_backoff_ms(unsigned n, uint64_t rnd);

/* ---- one service's shared state (the registry entry) ------------------------- */

enum res_counter {
    RES_N_OK = 0,       /* an answer that is not a failure (2xx-4xx) */
    RES_N_ERROR,        /* 5xx, broken off, or past max_body */
    RES_N_TIMEOUT,      /* connect or call timeout */
    RES_N_REFUSED,      /* connection refused / unreachable */
    RES_N_REJ_OPEN,     /* refused by the breaker (open or half-open full) */
    RES_N_REJ_BULKHEAD, /* refused by the bulkhead */
    RES_N_REJ_DOWN,     /* refused: the service is known down */
    RES_N_RETRIED,      /* retries made */
    RES_N_CANCELLED,    /* calls cancelled (client left, required part failed) */
    RES_N_COUNTERS
};

struct res_svc; /* opaque: resilience.c */
struct res_registry;

/* What the metrics code reads for one service. */
struct res_stats {
    uint64_t         n[RES_N_COUNTERS]; /* by enum res_counter */
    enum res_circuit circuit;
    uint32_t         in_flight;                    /* calls holding a bulkhead slot */
    int              up;                           /* 0 while known down (health) */
    uint32_t         budget_calls, budget_retries; /* the retry window */
};

/* The counters' names as exposed ("ok", "error", ...), by enum res_counter. */
extern const char *const res_counter_names[RES_N_COUNTERS];
/* "closed", "open" or "half_open". */
const char *res_circuit_name(enum res_circuit c);

/* A consistent-enough copy of @svc's counters and state (each field is one
 * atomic load). @svc is an entry of a snapshot's services[]; when it is not
 * bound to the registry (config check mode) everything reads zero and up.
 * Cheap, lock-free, callable from any thread: this is the call for /metrics. */
void res_service_stats(const struct bff_service_rt *svc, struct res_stats *out);
/* Requests whose client left while they waited for services, since start. */
uint64_t res_clients_gone(const struct bff_server *srv);

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
/* Starts the active health checker: one thread running blocking GETs of
 * each checked service's health_check.path every interval. Returns 0 or
 * BFF_EIO. */
int res_health_start(struct res_registry *reg);
/* Writes into @out (cap bytes) a JSON array of the names of the services
 * that routes of @s use and that are known down: ["orders"]. Returns how
 * many are down. */
size_t res_snapshot_down_json(const struct bff_snapshot *s, char *out, size_t cap);
/* A malloc'd JSON object of every service's state and counters, for
 * GET /admin/resilience; NULL when out of memory. */
char *res_snapshot_json(const struct bff_server *srv, const struct bff_snapshot *s);

/* ---- the request path (worker threads) -------------------------------------- */

/* The worker's backoff timer and client-socket watches share one epoll tag;
 * see worker_tags.h (0x05 belongs to resilience). Low bits: 0 for the
 * timer, else a struct bff_request pointer. */
#define RES_TAG 0x0500000000000000ull

/* Per-call state kept inside struct up_call (upstream.c owns the call). */
struct res_call {
    struct res_svc   *svc; /* NULL: no resilience for this call */
    struct res_ticket ticket;
    int               active;  /* admitted and not yet finished or cancelled */
    int               backoff; /* waiting on the worker's timer for a retry */
    int               retryable_method;
    unsigned          retries; /* retries made so far */
    uint32_t          attempt_timeout_ms, attempt_connect_ms;
    uint64_t          due_ms;   /* when the retry starts (bff_now_ms clock) */
    uint64_t          first_us; /* the first attempt's start, for c->ms */
    struct up_call   *tprev, *tnext;
};

int  res_worker_init(struct bff_worker *w);
void res_worker_cleanup(struct bff_worker *w);
/* An epoll event tagged RES_TAG; @data is the event's low bits. */
void res_worker_event(struct bff_worker *w, uint64_t data);

/* upstream.c: admission of a call with c->svc set, before its first attempt.
 * Returns 0 (the call holds a bulkhead slot until res_call_finish or
 * res_call_cancel), or BFF_EBUSY with c->rejected and c->retry_after_ms set;
 * the rejection is counted. */
int res_call_admit(struct up_call *c);
/* upstream.c: an attempt ended (outputs set, easy handle released). Counts
 * it, feeds the breaker and passive health, and either schedules a retry on
 * the worker's timer (returns 1: done() must not be called yet) or finishes
 * the call's accounting (returns 0: call done()). */
int res_call_attempt_done(struct up_call *c);
/* upstream.c: the caller cancels @c; gives back its slot and probe, stops a
 * pending retry. Idempotent. */
void res_call_cancel(struct up_call *c);
/* upstream.c: @c could not be started after admission (out of memory). */
void res_call_abandon(struct up_call *c);

/* server.c: watches the client socket @fd of suspended request @r for the
 * client leaving (EPOLLRDHUP on the worker's epoll). */
void res_client_watch(struct bff_request *r, int fd);
/* server.c: stops watching (resume, completion). Idempotent. */
void res_client_unwatch(struct bff_request *r);

#endif
