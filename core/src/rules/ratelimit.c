/* core/src/ratelimit.c — per-key request budgets (GCRA) and the in-memory store
 *
 * GCRA with count N per period P: emission interval T = P/N, burst tolerance
 * tau = (N-1)*T. A request at time t passes when tat - t <= tau and then
 * moves tat to max(tat, t) + T. A fresh key (tat <= t) takes exactly N at
 * once; the next is refused with retry_after = T; every T one more passes.
 * The state is computed in nanoseconds with T rounded up to the next ns, so
 * rates like 3/s or 5000/s are exact to the ns and never looser than
 * configured.
 *
 * The store: a power of two of shards (up to 64), each a mutex and a
 * preallocated linear-probing table filled to at most one half. An entry is
 * not the key but its 128-bit SipHash-2-4 under a per-limiter random seed
 * (getrandom), plus tat and the last time seen: 32 bytes, fixed, so memory
 * never grows after bff_ratelimiter_new() and a client cannot flood one
 * bucket with chosen keys. Two keys share a budget only on a 128-bit
 * collision. At a shard's cap, inserting a key first evicts, among up to
 * EVICT_SAMPLE entries probed from the new key's slot, the one with the
 * smallest tat: an idle key (budget whole again) if there is one, else the
 * one least in debt — forgetting a key only ever gives it budget back, and a
 * flood of new keys cannot lock anyone out.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bff/err.h"
#include "bff/ratelimit.h"

#define NS_PER_MS 1000000ull
/* Times are clamped here (about 146 years of ms) so ns never overflow. */
#define MAX_MS (UINT64_MAX / 4 / NS_PER_MS)
#define MAX_SHARDS 64
/* A shard holds at least this many keys when max_keys allows. */
#define MIN_SHARD_KEYS 16
/* Entries looked at to choose a victim when a shard is full. */
#define EVICT_SAMPLE 8

static uint32_t ms_ceil(uint64_t ns)
{
    uint64_t ms = ns / NS_PER_MS + (ns % NS_PER_MS != 0);
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

static int unlimited(const struct bff_rate *rate, struct bff_rl_verdict *out)
{
    if (rate->count && rate->period_ms)
        return 0;
    memset(out, 0, sizeof(*out));
    out->allowed = 1;
    return 1;
}

/* The GCRA step on a nanosecond state. The debt (tat - now) is capped at
 * N*T, the most a key can owe right after a request passed: a larger one
 * means the clock stepped back (or the rate shrank), and then the key is
 * treated as fully spent, never as having budget. */
static void gcra(const struct bff_rate *rate, uint64_t now, uint64_t *tat,
                 struct bff_rl_verdict *out)
{
    uint64_t count = rate->count;
    uint64_t period = (uint64_t)rate->period_ms * NS_PER_MS;
    uint64_t t = (period + count - 1) / count;
    uint64_t tau = t * (count - 1);
    uint64_t debt = *tat > now ? *tat - now : 0;

    if (debt > t * count)
        debt = t * count;
    out->limit = rate->count;
    if (debt > tau) {
        out->allowed = 0;
        out->remaining = 0;
        out->reset_ms = ms_ceil(debt);
        out->retry_after_ms = ms_ceil(debt - tau);
        return;
    }
    debt += t;
    *tat = now + debt;
    out->allowed = 1;
    out->remaining = debt <= tau ? (uint32_t)((tau - debt) / t + 1) : 0;
    out->reset_ms = ms_ceil(debt);
    out->retry_after_ms = 0;
}

void bff_gcra(const struct bff_rate *rate, uint64_t now_ms, uint64_t *tat,
              struct bff_rl_verdict *out)
{
    uint64_t tn;

    if (unlimited(rate, out))
        return;
    if (now_ms > MAX_MS)
        now_ms = MAX_MS;
    tn = (*tat > 2 * MAX_MS ? 2 * MAX_MS : *tat) * NS_PER_MS;
    gcra(rate, now_ms * NS_PER_MS, &tn, out);
    if (out->allowed)
        *tat = tn / NS_PER_MS + (tn % NS_PER_MS != 0);
}

void bff_gcra_ns(const struct bff_rate *rate, uint64_t now_ms, uint64_t *tat_ns,
                 struct bff_rl_verdict *out)
{
    if (unlimited(rate, out))
        return;
    if (*tat_ns > 2 * MAX_MS * NS_PER_MS)
        *tat_ns = 2 * MAX_MS * NS_PER_MS;
    gcra(rate, (now_ms > MAX_MS ? MAX_MS : now_ms) * NS_PER_MS, tat_ns, out);
}

/* SipHash-2-4 with 128-bit output (Aumasson and Bernstein). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                       \
    do {                                                                               \
        v0 += v1;                                                                      \
        v1 = ROTL(v1, 13);                                                             \
        v1 ^= v0;                                                                      \
        v0 = ROTL(v0, 32);                                                             \
        v2 += v3;                                                                      \
        v3 = ROTL(v3, 16);                                                             \
        v3 ^= v2;                                                                      \
        v0 += v3;                                                                      \
        v3 = ROTL(v3, 21);                                                             \
        v3 ^= v0;                                                                      \
        v2 += v1;                                                                      \
        v1 = ROTL(v1, 17);                                                             \
        v1 ^= v2;                                                                      \
        v2 = ROTL(v2, 32);                                                             \
    } while (0)

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void siphash128(const uint64_t k[2], const void *data, size_t len,
                       uint64_t out[2])
{
    const unsigned char *p = data;
    uint64_t             v0 = 0x736f6d6570736575ull ^ k[0];
    uint64_t             v1 = 0x646f72616e646f6dull ^ k[1] ^ 0xee;
    uint64_t             v2 = 0x6c7967656e657261ull ^ k[0];
    uint64_t             v3 = 0x7465646279746573ull ^ k[1];
    uint64_t             b = (uint64_t)len << 56;
    size_t               left = len & 7;

    for (const unsigned char *end = p + (len - left); p != end; p += 8) {
        uint64_t m = le64(p);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)p[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xee;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    v1 ^= 0xdd;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

struct entry {
    uint64_t h1, h2;  /* the key's hash; h2 == 0 marks a free slot */
    uint64_t tat_ns;  /* theoretical arrival time */
    uint64_t last_ms; /* latest now seen for this key */
};

struct shard {
    pthread_mutex_t mu;
    struct entry   *slots;
    uint32_t        nslots; /* 2 * cap */
    uint32_t        cap;
    size_t          count; /* written under mu, read atomically */
    char            pad[64];
};

struct bff_ratelimiter {
    uint64_t      seed[2];
    uint32_t      nshards;
    uint32_t      shift; /* 64 - log2(nshards) */
    struct shard *shards;
};

static uint32_t home(const struct shard *sh, uint64_t h1)
{
    return (uint32_t)(((h1 & 0xffffffffu) * sh->nslots) >> 32);
}

static uint32_t next(const struct shard *sh, uint32_t i)
{
    return i + 1 == sh->nslots ? 0 : i + 1;
}

/* 1 when @k lies cyclically in (@i, @j]. */
static int between(uint32_t i, uint32_t k, uint32_t j)
{
    return i <= j ? i < k && k <= j : i < k || k <= j;
}

/* Removes slot @i, shifting later entries of its cluster back so that no
 * tombstones are needed. */
static void slot_delete(struct shard *sh, uint32_t i)
{
    for (uint32_t j = next(sh, i);; j = next(sh, j)) {
        if (sh->slots[j].h2 == 0)
            break;
        if (!between(i, home(sh, sh->slots[j].h1), j)) {
            sh->slots[i] = sh->slots[j];
            i = j;
        }
    }
    memset(&sh->slots[i], 0, sizeof(sh->slots[i]));
    __atomic_store_n(&sh->count, sh->count - 1, __ATOMIC_RELAXED);
}

static void evict(struct shard *sh, uint32_t from)
{
    uint32_t victim = UINT32_MAX, seen = 0, i = from;

    for (uint32_t k = 0; k < sh->nslots && seen < EVICT_SAMPLE; k++, i = next(sh, i)) {
        if (sh->slots[i].h2 == 0)
            continue;
        seen++;
        if (victim == UINT32_MAX || sh->slots[i].tat_ns < sh->slots[victim].tat_ns)
            victim = i;
    }
    if (victim != UINT32_MAX)
        slot_delete(sh, victim);
}

/* Finds @h's entry, or makes one (evicting at the cap). Never fails: the
 * table always has a free slot. */
static struct entry *lookup(struct shard *sh, const uint64_t h[2])
{
    uint32_t i = home(sh, h[0]), start = i;

    for (; sh->slots[i].h2; i = next(sh, i))
        if (sh->slots[i].h1 == h[0] && sh->slots[i].h2 == h[1])
            return &sh->slots[i];
    if (sh->count >= sh->cap) {
        evict(sh, start);
        for (i = start; sh->slots[i].h2; i = next(sh, i))
            ;
    }
    sh->slots[i].h1 = h[0];
    sh->slots[i].h2 = h[1];
    sh->slots[i].tat_ns = 0;
    sh->slots[i].last_ms = 0;
    __atomic_store_n(&sh->count, sh->count + 1, __ATOMIC_RELAXED);
    return &sh->slots[i];
}

static void seed_init(uint64_t seed[2])
{
    size_t got = 0;

    while (got < 2 * sizeof(uint64_t)) {
        ssize_t r = getrandom((char *)seed + got, 2 * sizeof(uint64_t) - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < 2 * sizeof(uint64_t)) {
        /* No getrandom: a weaker seed still differs per process and start. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)seed;
        seed[1] ^= (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uint64_t)getpid();
    }
}

struct bff_ratelimiter *bff_ratelimiter_new(uint32_t max_keys)
{
    struct bff_ratelimiter *rl;
    uint32_t                ns = 1, bits = 0;

    if (max_keys == 0)
        return NULL;
    while (ns * 2 <= MAX_SHARDS && ns * 2 * MIN_SHARD_KEYS <= max_keys) {
        ns *= 2;
        bits++;
    }
    rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->shards = calloc(ns, sizeof(*rl->shards));
    if (!rl->shards) {
        free(rl);
        return NULL;
    }
    seed_init(rl->seed);
    rl->shift = 64 - bits;
    for (uint32_t i = 0; i < ns; i++) {
        struct shard *sh = &rl->shards[i];
        sh->cap = max_keys / ns + (i < max_keys % ns);
        sh->nslots = 2 * sh->cap;
        sh->slots = calloc(sh->nslots, sizeof(*sh->slots));
        if (!sh->slots || pthread_mutex_init(&sh->mu, NULL) != 0) {
            free(sh->slots);
            rl->nshards = i;
            bff_ratelimiter_free(rl);
            return NULL;
        }
        rl->nshards = i + 1;
    }
    return rl;
}

void bff_ratelimiter_free(struct bff_ratelimiter *rl)
{
    if (!rl)
        return;
    for (uint32_t i = 0; i < rl->nshards; i++) {
        pthread_mutex_destroy(&rl->shards[i].mu);
        free(rl->shards[i].slots);
    }
    free(rl->shards);
    free(rl);
}

int bff_ratelimit_take(struct bff_ratelimiter *rl, const char *key,
                       const struct bff_rate *rate, uint64_t now_ms,
                       struct bff_rl_verdict *out)
{
    uint64_t      h[2];
    struct shard *sh;
    struct entry *e;

    if (!rl || !key || !rate || !out)
        return BFF_EINVAL;
    if (unlimited(rate, out))
        return 0;
    siphash128(rl->seed, key, strlen(key), h);
    h[1] |= 1; /* 0 marks a free slot */
    sh = &rl->shards[rl->shift == 64 ? 0 : h[0] >> rl->shift];

    pthread_mutex_lock(&sh->mu);
    e = lookup(sh, h);
    if (now_ms < e->last_ms)
        now_ms = e->last_ms; /* the clock stepped back: no time has passed */
    e->last_ms = now_ms;
    bff_gcra_ns(rate, now_ms, &e->tat_ns, out);
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

size_t bff_ratelimiter_size(const struct bff_ratelimiter *rl)
{
    size_t n = 0;

    if (!rl)
        return 0;
    for (uint32_t i = 0; i < rl->nshards; i++)
        n += __atomic_load_n(&rl->shards[i].count, __ATOMIC_RELAXED);
    return n;
}

static uint32_t s_ceil(uint64_t ms)
{
    return (uint32_t)(ms / 1000 + (ms % 1000 != 0));
}

size_t bff_ratelimit_policy_field(const struct bff_rate *rate, char *buf, size_t cap)
{
    int n;

    if (!rate->count || !rate->period_ms || cap == 0)
        return 0;
    n = snprintf(buf, cap, "\"default\";q=%" PRIu32 ";w=%" PRIu32, rate->count,
                 s_ceil(rate->period_ms));
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

size_t bff_ratelimit_field(const struct bff_rl_verdict *v, char *buf, size_t cap)
{
    uint32_t t = v->allowed ? s_ceil(v->reset_ms) : bff_ratelimit_retry_after_s(v);
    int      n;

    if (cap == 0)
        return 0;
    n = snprintf(buf, cap, "\"default\";r=%" PRIu32 ";t=%" PRIu32, v->remaining, t);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

uint32_t bff_ratelimit_retry_after_s(const struct bff_rl_verdict *v)
{
    uint32_t s;

    if (v->allowed)
        return 0;
    s = s_ceil(v->retry_after_ms);
    return s ? s : 1;
}
