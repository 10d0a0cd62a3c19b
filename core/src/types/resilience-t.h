/* core/src/types/resilience-t.h — what a call carries for resilience
 * (types only; the rules are in rules/breaker.h, the per-service state in
 * runtime/resilience.h) */
#ifndef BFF_TYPES_RESILIENCE_T_H
#define BFF_TYPES_RESILIENCE_T_H

#include <stdint.h>

struct res_svc; /* opaque: runtime/resilience.c */
struct res_ep;  /* opaque: one endpoint of a service (runtime/resilience.c) */

/* What breaker admission handed a call; give it back to record or release. */
struct res_ticket {
    int      probe; /* 1: a half-open probe of episode @until */
    uint64_t until;
};

/* Per-call state kept inside struct up_call (the upstream layer owns the
 * call; runtime/resilience.c decides). */
struct res_call {
    struct res_svc   *svc; /* NULL: no resilience for this call */
    struct res_ticket ticket;
    int               active;  /* admitted and not yet finished or cancelled */
    int               backoff; /* waiting on the worker's retry timer */
    int               retryable_method;
    unsigned          retries; /* retries made so far */
    uint32_t          attempt_timeout_ms, attempt_connect_ms;
    uint64_t          due_ms;   /* when the retry starts (bff_now_ms clock) */
    uint64_t          first_us; /* the first attempt's start, for c->ms */
    /* services with endpoints: (res_call_endpoint) */
    struct res_ep    *ep;       /* the running attempt's endpoint (holds a slot) */
    struct res_ep    *last_ep;  /* the last attempt's, avoided by a retry */
};

#endif
