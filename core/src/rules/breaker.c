/* core/src/rules/breaker.c — circuit breaker, retry budget, retry policy
 * (pure: see rules/breaker.h) */
#include <string.h>

#include "rules/breaker.h"
#include "types/upstream-t.h"

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

