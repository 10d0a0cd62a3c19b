/* tests/unit/rules/test_ratelimit.c — GCRA and the in-memory store */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/config.h"
#include "bff/err.h"
#include "bff/ratelimit.h"

static const struct bff_rate per_min_100 = {100, 60000};

START_TEST(gcra_burst_then_refused)
{
    struct bff_rl_verdict v;
    uint64_t              tat = 0, before;

    for (uint32_t i = 0; i < 100; i++) {
        bff_gcra(&per_min_100, 1000, &tat, &v);
        ck_assert_int_eq(v.allowed, 1);
        ck_assert_uint_eq(v.limit, 100);
        ck_assert_uint_eq(v.remaining, 99 - i);
        ck_assert_uint_eq(v.reset_ms, 600 * (i + 1));
        ck_assert_uint_eq(v.retry_after_ms, 0);
    }
    ck_assert_uint_eq(tat, 1000 + 60000);
    before = tat;
    bff_gcra(&per_min_100, 1000, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.retry_after_ms, 600);
    ck_assert_uint_eq(v.reset_ms, 60000);
    ck_assert_uint_eq(tat, before); /* unchanged when refused */

    /* 1 ms early: still refused, 1 ms to go */
    bff_gcra(&per_min_100, 1599, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 1);
    /* after T exactly one more passes */
    bff_gcra(&per_min_100, 1600, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.reset_ms, 60000);
    bff_gcra(&per_min_100, 1600, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 600);
}
END_TEST

START_TEST(gcra_full_period_and_partial)
{
    struct bff_rl_verdict v;
    uint64_t              tat = 0;
    int                   n = 0;

    for (int i = 0; i < 100; i++)
        bff_gcra(&per_min_100, 0, &tat, &v);
    /* a whole period later the whole burst is back, and no more */
    for (int i = 0; i < 150; i++) {
        bff_gcra(&per_min_100, 60000, &tat, &v);
        n += v.allowed;
    }
    ck_assert_int_eq(n, 100);

    /* 10 taken, then 3 s later (5 intervals) one more */
    tat = 0;
    for (int i = 0; i < 10; i++)
        bff_gcra(&per_min_100, 500000, &tat, &v);
    ck_assert_uint_eq(v.remaining, 90);
    ck_assert_uint_eq(v.reset_ms, 6000);
    bff_gcra(&per_min_100, 503000, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 94);
    ck_assert_uint_eq(v.reset_ms, 3600);
    /* a key whose budget is whole again starts fresh */
    bff_gcra(&per_min_100, 600000, &tat, &v);
    ck_assert_uint_eq(v.remaining, 99);
    ck_assert_uint_eq(v.reset_ms, 600);
}
END_TEST

START_TEST(gcra_clock_back_and_jumps)
{
    struct bff_rl_verdict v;
    uint64_t              tat = 0, before;

    for (int i = 0; i < 100; i++)
        bff_gcra(&per_min_100, 10000, &tat, &v);
    before = tat;
    /* far back: no budget, bounded answers, state untouched */
    bff_gcra(&per_min_100, 5000, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 600);
    ck_assert_uint_eq(v.reset_ms, 60000);
    ck_assert_uint_eq(tat, before);
    bff_gcra(&per_min_100, 0, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(tat, before);

    /* a huge jump forward: a fresh burst */
    bff_gcra(&per_min_100, 1000000000000ull, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 99);
    ck_assert_uint_eq(tat, 1000000000000ull + 600);
    /* the end of time: clamped, no overflow */
    bff_gcra(&per_min_100, UINT64_MAX, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 99);
    ck_assert_uint_gt(tat, 1000000000000ull);
    bff_gcra(&per_min_100, UINT64_MAX, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 98);
    tat = UINT64_MAX;
    bff_gcra(&per_min_100, 0, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 600);
    ck_assert_uint_eq(tat, UINT64_MAX);
}
END_TEST

START_TEST(gcra_count_one_and_unlimited)
{
    struct bff_rate       one = {1, 1000}, none = {0, 60000}, zero_period = {5, 0};
    struct bff_rl_verdict v;
    uint64_t              tat = 0;

    bff_gcra(&one, 50, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.limit, 1);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.reset_ms, 1000);
    bff_gcra(&one, 50, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 1000);
    bff_gcra(&one, 1049, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 1);
    bff_gcra(&one, 1050, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);

    tat = 77;
    for (int i = 0; i < 1000; i++) {
        bff_gcra(&none, 0, &tat, &v);
        ck_assert_int_eq(v.allowed, 1);
    }
    ck_assert_uint_eq(v.limit, 0);
    ck_assert_uint_eq(tat, 77);
    bff_gcra(&zero_period, 0, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(tat, 77);
}
END_TEST

START_TEST(gcra_fractional_rates)
{
    struct bff_rate       three = {3, 1000}, fast = {5000, 1000};
    struct bff_rl_verdict v;
    uint64_t              tat = 0;
    int                   n = 0;

    /* 3/s: the interval is 333.33 ms; retry_after rounds up */
    for (int i = 0; i < 3; i++) {
        bff_gcra_ns(&three, 0, &tat, &v);
        ck_assert_int_eq(v.allowed, 1);
    }
    bff_gcra_ns(&three, 0, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 334);
    bff_gcra_ns(&three, 333, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    bff_gcra_ns(&three, 334, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    /* one try per ms: the burst, then the k-th more at k * 333.33 ms (rounded
     * up to the ns, so the 30th lands at 10000.00002 ms) */
    tat = 0;
    for (uint64_t t = 0; t <= 10001; t++) {
        bff_gcra_ns(&three, t, &tat, &v);
        n += v.allowed;
    }
    ck_assert_int_eq(n, 3 + 30);

    /* 5000/s: sub-ms interval, exact with the ns state */
    tat = 0;
    n = 0;
    for (int i = 0; i < 6000; i++) {
        bff_gcra_ns(&fast, 0, &tat, &v);
        n += v.allowed;
    }
    ck_assert_int_eq(n, 5000);
    n = 0;
    for (int i = 0; i < 100; i++) {
        bff_gcra_ns(&fast, 1, &tat, &v);
        n += v.allowed;
    }
    ck_assert_int_eq(n, 5); /* 1 ms = 5 intervals of 0.2 ms */

    /* the ms state rounds up: 3/s runs as one per 334 ms, never faster */
    tat = 0;
    n = 0;
    for (uint64_t t = 0; t <= 10001; t++) {
        bff_gcra(&three, t, &tat, &v);
        n += v.allowed;
    }
    ck_assert_int_le(n, 3 + 30);
    ck_assert_int_ge(n, 3 + 29);
}
END_TEST

START_TEST(store_150_at_once)
{
    struct bff_ratelimiter *rl = bff_ratelimiter_new(1000);
    struct bff_rl_verdict   v;
    int                     ok = 0, refused = 0;

    ck_assert_ptr_nonnull(rl);
    for (int i = 0; i < 150; i++) {
        ck_assert_int_eq(bff_ratelimit_take(rl, "user:4412", &per_min_100, 5000, &v),
                         0);
        if (v.allowed)
            ok++;
        else
            refused++;
    }
    ck_assert_int_eq(ok, 100);
    ck_assert_int_eq(refused, 50);
    ck_assert_uint_eq(v.retry_after_ms, 600);
    ck_assert_uint_eq(bff_ratelimiter_size(rl), 1);

    /* another key has its own budget */
    ck_assert_int_eq(bff_ratelimit_take(rl, "user:4413", &per_min_100, 5000, &v), 0);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 99);
    ck_assert_uint_eq(bff_ratelimiter_size(rl), 2);
    /* the first refills at its own pace */
    bff_ratelimit_take(rl, "user:4412", &per_min_100, 5600, &v);
    ck_assert_int_eq(v.allowed, 1);
    bff_ratelimit_take(rl, "user:4412", &per_min_100, 5600, &v);
    ck_assert_int_eq(v.allowed, 0);

    /* unlimited takes remember nothing */
    {
        struct bff_rate none = {0, 0};
        bff_ratelimit_take(rl, "user:other", &none, 5600, &v);
        ck_assert_int_eq(v.allowed, 1);
        ck_assert_uint_eq(bff_ratelimiter_size(rl), 2);
    }
    ck_assert_int_eq(bff_ratelimit_take(rl, NULL, &per_min_100, 0, &v), BFF_EINVAL);
    ck_assert_int_eq(bff_ratelimit_take(NULL, "k", &per_min_100, 0, &v), BFF_EINVAL);
    ck_assert_int_eq(bff_ratelimit_take(rl, "k", NULL, 0, &v), BFF_EINVAL);
    bff_ratelimiter_free(rl);
    bff_ratelimiter_free(NULL);
    ck_assert_ptr_null(bff_ratelimiter_new(0));
}
END_TEST

START_TEST(store_clock_back)
{
    struct bff_ratelimiter *rl = bff_ratelimiter_new(100);
    struct bff_rl_verdict   v;

    bff_ratelimit_take(rl, "k", &per_min_100, 10000, &v);
    ck_assert_uint_eq(v.remaining, 99);
    /* the clock steps back 5 s: treated as still 10000 */
    bff_ratelimit_take(rl, "k", &per_min_100, 5000, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 98);
    ck_assert_uint_eq(v.reset_ms, 1200);
    for (int i = 0; i < 98; i++)
        bff_ratelimit_take(rl, "k", &per_min_100, 0, &v);
    ck_assert_int_eq(v.allowed, 1);
    bff_ratelimit_take(rl, "k", &per_min_100, 0, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 600);
    /* and time resumes from there */
    bff_ratelimit_take(rl, "k", &per_min_100, 10600, &v);
    ck_assert_int_eq(v.allowed, 1);
    bff_ratelimiter_free(rl);
}
END_TEST

START_TEST(store_bounded)
{
    struct bff_ratelimiter *rl = bff_ratelimiter_new(10000);
    struct bff_rl_verdict   v;
    char                    key[32];

    ck_assert_ptr_nonnull(rl);
    for (int i = 0; i < 1000000; i++) {
        snprintf(key, sizeof(key), "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        ck_assert_int_eq(
            bff_ratelimit_take(rl, key, &per_min_100, (uint64_t)i / 100, &v), 0);
        ck_assert_int_eq(v.allowed, 1); /* a forgotten key errs on passing */
        if (i % 1000 == 0)
            ck_assert_uint_le(bff_ratelimiter_size(rl), 10000);
    }
    ck_assert_uint_eq(bff_ratelimiter_size(rl), 10000);
    bff_ratelimiter_free(rl);
}
END_TEST

START_TEST(store_evicts_least_in_debt)
{
    /* max_keys below 2 * 16: one shard, so the victim choice is visible */
    struct bff_ratelimiter *rl = bff_ratelimiter_new(4);
    struct bff_rate         ten = {10, 60000};
    struct bff_rl_verdict   v;

    for (int i = 0; i < 10; i++)
        bff_ratelimit_take(rl, "heavy", &ten, 0, &v);
    bff_ratelimit_take(rl, "heavy", &ten, 0, &v);
    ck_assert_int_eq(v.allowed, 0);
    bff_ratelimit_take(rl, "b", &ten, 0, &v);
    bff_ratelimit_take(rl, "c", &ten, 0, &v);
    bff_ratelimit_take(rl, "d", &ten, 0, &v);
    ck_assert_uint_eq(bff_ratelimiter_size(rl), 4);
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof(key), "new%d", i);
        bff_ratelimit_take(rl, key, &ten, 0, &v);
        ck_assert_int_eq(v.allowed, 1);
        ck_assert_uint_eq(bff_ratelimiter_size(rl), 4);
        /* the key deepest in debt is never the one forgotten */
        bff_ratelimit_take(rl, "heavy", &ten, 0, &v);
        ck_assert_int_eq(v.allowed, 0);
    }
    bff_ratelimiter_free(rl);

    /* a single slot: the newcomer replaces the only key */
    rl = bff_ratelimiter_new(1);
    bff_ratelimit_take(rl, "a", &ten, 0, &v);
    bff_ratelimit_take(rl, "b", &ten, 0, &v);
    ck_assert_uint_eq(bff_ratelimiter_size(rl), 1);
    bff_ratelimit_take(rl, "a", &ten, 0, &v);
    ck_assert_uint_eq(v.remaining, 9); /* forgotten, so whole again */
    bff_ratelimiter_free(rl);
}
END_TEST

struct hammer {
    struct bff_ratelimiter *rl;
    int                     allowed;
};

static void *hammer_run(void *arg)
{
    struct hammer        *h = arg;
    struct bff_rl_verdict v;

    for (int i = 0; i < 1000; i++) {
        bff_ratelimit_take(h->rl, "shared", &per_min_100, 7000, &v);
        h->allowed += v.allowed;
        /* other keys in between, to mix shards and locks */
        bff_ratelimit_take(h->rl, i & 1 ? "other-a" : "other-b", &per_min_100, 7000,
                           &v);
    }
    return NULL;
}

START_TEST(store_threads)
{
    struct bff_ratelimiter *rl = bff_ratelimiter_new(10000);
    struct hammer           h[4];
    pthread_t               th[4];
    int                     total = 0;

    for (int i = 0; i < 4; i++) {
        h[i].rl = rl;
        h[i].allowed = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += h[i].allowed;
    }
    ck_assert_int_eq(total, 100);
    ck_assert_uint_eq(bff_ratelimiter_size(rl), 3);
    bff_ratelimiter_free(rl);
}
END_TEST

START_TEST(fields_policy)
{
    char b[64];
    static const struct {
        struct bff_rate rate;
        const char     *want;
    } cases[] = {
        {{100, 60000}, "\"default\";q=100;w=60"},
        {{500, 60000}, "\"default\";q=500;w=60"},
        {{3, 1000}, "\"default\";q=3;w=1"},
        {{1, 3600000}, "\"default\";q=1;w=3600"},
        {{1000000000, 3600000}, "\"default\";q=1000000000;w=3600"},
        {{1, 1500}, "\"default\";q=1;w=2"}, /* whole seconds, rounded up */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_uint_eq(bff_ratelimit_policy_field(&cases[i].rate, b, sizeof(b)),
                          strlen(cases[i].want));
        ck_assert_str_eq(b, cases[i].want);
    }
    /* unlimited: no policy; too small a buffer: nothing, and an empty string */
    struct bff_rate none = {0, 60000}, nop = {10, 0};
    ck_assert_uint_eq(bff_ratelimit_policy_field(&none, b, sizeof(b)), 0);
    ck_assert_uint_eq(bff_ratelimit_policy_field(&nop, b, sizeof(b)), 0);
    ck_assert_uint_eq(bff_ratelimit_policy_field(&per_min_100, b, 10), 0);
    ck_assert_str_eq(b, "");
    ck_assert_uint_eq(bff_ratelimit_policy_field(&per_min_100, b, 21), 20);
    ck_assert_uint_eq(bff_ratelimit_policy_field(&per_min_100, b, 20), 0);
}
END_TEST

START_TEST(fields_ratelimit_and_retry_after)
{
    char                  b[64];
    struct bff_rl_verdict v = {1, 100, 99, 600, 0};

    /* passed: t = until the budget is whole again, rounded up */
    ck_assert_uint_gt(bff_ratelimit_field(&v, b, sizeof(b)), 0);
    ck_assert_str_eq(b, "\"default\";r=99;t=1");
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 0);
    v = (struct bff_rl_verdict){1, 100, 0, 60000, 0};
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=60");
    v.reset_ms = 60001;
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=61");
    v.reset_ms = 1;
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=1");

    /* refused: t and Retry-After are the wait for the next unit, rounded up */
    v = (struct bff_rl_verdict){0, 100, 0, 60000, 600};
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=1");
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 1);
    v.retry_after_ms = 1000;
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 1);
    v.retry_after_ms = 1001;
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 2);
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=2");
    v.retry_after_ms = 3600000;
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 3600);
    v.retry_after_ms = 0; /* never from gcra(), but never "Retry-After: 0" */
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 1);
    v.retry_after_ms = UINT32_MAX;
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 4294968);

    /* too small a buffer: nothing */
    v = (struct bff_rl_verdict){1, 100, 99, 600, 0};
    ck_assert_uint_eq(bff_ratelimit_field(&v, b, 5), 0);
    ck_assert_str_eq(b, "");
}
END_TEST

/* The header values along a whole burst on one key, as a client sees them. */
START_TEST(fields_along_a_burst)
{
    struct bff_ratelimiter *rl = bff_ratelimiter_new(64);
    struct bff_rl_verdict   v;
    char                    b[64], want[64];

    ck_assert_ptr_nonnull(rl);
    for (uint32_t i = 0; i < 100; i++) {
        bff_ratelimit_take(rl, "k", &per_min_100, 1000, &v);
        bff_ratelimit_field(&v, b, sizeof(b));
        snprintf(want, sizeof(want), "\"default\";r=%u;t=%u", 99 - i,
                 (600 * (i + 1) + 999) / 1000);
        ck_assert_str_eq(b, want);
    }
    bff_ratelimit_take(rl, "k", &per_min_100, 1000, &v);
    ck_assert_int_eq(v.allowed, 0);
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=1");
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 1);
    /* 1 h limit: one request, then an hour's wait, to the second */
    struct bff_rate hour1 = {1, 3600000};
    bff_ratelimit_take(rl, "h", &hour1, 5000, &v);
    ck_assert_int_eq(v.allowed, 1);
    bff_ratelimit_field(&v, b, sizeof(b));
    ck_assert_str_eq(b, "\"default\";r=0;t=3600");
    bff_ratelimit_take(rl, "h", &hour1, 5000 + 1, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(bff_ratelimit_retry_after_s(&v), 3600); /* 3599.999 s up */
    bff_ratelimiter_free(rl);
}
END_TEST

/* Rates at the edges of what the config accepts, parsed then enforced. */
START_TEST(parsed_rates_at_the_edges)
{
    struct bff_rate       r;
    struct bff_rl_verdict v;
    uint64_t              tat = 0;
    int                   n = 0;

    ck_assert_int_eq(bff_rate_parse("1000000000/hour", &r, NULL), 0);
    /* T = 3.6 us: the whole burst at once, then 1 more per 3.6 us */
    for (int i = 0; i < 1000; i++) {
        bff_gcra_ns(&r, 10, &tat, &v);
        n += v.allowed;
    }
    ck_assert_int_eq(n, 1000);
    ck_assert_uint_eq(v.remaining, 1000000000 - 1000);
    ck_assert_uint_eq(v.reset_ms, 4); /* 3.6 ms of debt, rounded up */
    tat = 0;
    ck_assert_int_eq(bff_rate_parse("1000000000/s", &r, NULL), 0);
    bff_gcra_ns(&r, 10, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 999999999);
    ck_assert_uint_eq(v.reset_ms, 1); /* 1 ns of debt is 1 ms rounded up */
    tat = 0;
    ck_assert_int_eq(bff_rate_parse("1/hour", &r, NULL), 0);
    bff_gcra_ns(&r, 10, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.reset_ms, 3600000);
    bff_gcra_ns(&r, 10 + 3599999, &tat, &v);
    ck_assert_int_eq(v.allowed, 0);
    ck_assert_uint_eq(v.retry_after_ms, 1);
    bff_gcra_ns(&r, 10 + 3600000, &tat, &v);
    ck_assert_int_eq(v.allowed, 1);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *g = tcase_create("gcra");
    TCase *st = tcase_create("store");

    tcase_add_test(g, gcra_burst_then_refused);
    tcase_add_test(g, gcra_full_period_and_partial);
    tcase_add_test(g, gcra_clock_back_and_jumps);
    tcase_add_test(g, gcra_count_one_and_unlimited);
    tcase_add_test(g, gcra_fractional_rates);
    tcase_add_test(st, store_150_at_once);
    tcase_add_test(st, store_clock_back);
    tcase_add_test(st, store_bounded);
    tcase_add_test(st, store_evicts_least_in_debt);
    tcase_add_test(st, store_threads);
    tcase_add_test(g, fields_policy);
    tcase_add_test(g, fields_ratelimit_and_retry_after);
    tcase_add_test(g, parsed_rates_at_the_edges);
    tcase_add_test(st, fields_along_a_burst);
    tcase_set_timeout(st, 120);
    suite_add_tcase(s, g);
    suite_add_tcase(s, st);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
