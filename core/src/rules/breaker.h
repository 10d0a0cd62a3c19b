/* core/src/rules/breaker.h — the pure rules of resilience: circuit breaker,
 * retry budget, retry policy, backoff, and the names of what is counted.
 *
 * No globals, no clock of its own (every function takes @now_ms), no I/O:
 * tests/unit/rules/test_breaker.c drives it with an injected clock. The
 * state that uses these rules per service lives in runtime/resilience.c;
 * docs/resilience.md describes every behaviour and limit. */
#ifndef BFF_RULES_BREAKER_H
#define BFF_RULES_BREAKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "types/resilience-t.h"

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

/* ---- what is counted per service ------------------------------------------- */

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

/* The counters' names as exposed ("ok", "error", ...), by enum res_counter. */
extern const char *const res_counter_names[RES_N_COUNTERS];
/* "closed", "open" or "half_open". */
const char *res_circuit_name(enum res_circuit c);

#endif
