/* core/include/bff/ratelimit.h — per-key request budgets (GCRA) */
#ifndef BFF_RATELIMIT_H
#define BFF_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include "bff/config.h" /* struct bff_rate */

struct bff_rl_verdict {
    int      allowed;        /* 1 when the request may pass */
    uint32_t limit;          /* the burst: rate.count */
    uint32_t remaining;      /* budget left after this request */
    uint32_t reset_ms;       /* until the budget is whole again */
    uint32_t retry_after_ms; /* 0 when allowed */
};

/* The pure GCRA step. @tat is the key's theoretical arrival time in ms
 * (0 for a new key); on return it holds the new value when allowed and is
 * unchanged when refused. A clock that steps backwards is treated as no time
 * having passed. */
void bff_gcra(const struct bff_rate *rate, uint64_t now_ms, uint64_t *tat,
              struct bff_rl_verdict *out);

/* The same step on a state kept in nanoseconds (@now_ms is still in ms).
 * bff_gcra() rounds its ms state up after every step, so a rate whose
 * interval period/count is not a whole number of ms is enforced as one per
 * ceil(interval) ms (3/s as one per 334 ms; 5000/s as 1000/s after the
 * burst); this variant is exact to the ns and is what the in-memory store
 * uses. A shared store should keep this state too. Rate count 0 or period 0
 * means unlimited for both: allowed, every other verdict field 0, state
 * untouched. Times past about 146 years of ms are clamped.
 * (Addition to the original contract.) */
void bff_gcra_ns(const struct bff_rate *rate, uint64_t now_ms, uint64_t *tat_ns,
                 struct bff_rl_verdict *out);

struct bff_ratelimiter; /* the in-memory store: sharded, bounded */

/* @max_keys: hard cap on remembered keys over all shards. */
struct bff_ratelimiter *bff_ratelimiter_new(uint32_t max_keys);
void                    bff_ratelimiter_free(struct bff_ratelimiter *rl);

/* Takes one unit of @key's budget under @rate at time @now_ms. Never blocks
 * for long (one shard's lock); safe from any worker thread. */
int bff_ratelimit_take(struct bff_ratelimiter *rl, const char *key,
                       const struct bff_rate *rate, uint64_t now_ms,
                       struct bff_rl_verdict *out);

/* Keys currently remembered. */
size_t bff_ratelimiter_size(const struct bff_ratelimiter *rl);

/* Client feedback, draft-ietf-httpapi-ratelimit-headers-10 (structured
 * fields, one policy named "default"). (Additions to the original contract.)
 *
 * Writes the RateLimit-Policy value for @rate, "default";q=<count>;w=<period
 * in seconds, rounded up>, NUL-terminated. Returns its length, or 0 when
 * @rate is unlimited or @cap is too small. */
size_t bff_ratelimit_policy_field(const struct bff_rate *rate, char *buf, size_t cap);

/* Writes the RateLimit value for @v, "default";r=<remaining>;t=<seconds>.
 * t is reset_ms rounded up to whole seconds when the request passed (when
 * the budget is whole again), and retry_after_ms rounded up when it was
 * refused, so that t is never later than Retry-After (draft §6). Returns the
 * length, or 0 when @cap is too small. */
size_t bff_ratelimit_field(const struct bff_rl_verdict *v, char *buf, size_t cap);

/* Retry-After of a refusal in whole seconds: retry_after_ms rounded up, at
 * least 1. 0 when @v passed. */
uint32_t bff_ratelimit_retry_after_s(const struct bff_rl_verdict *v);

#endif
