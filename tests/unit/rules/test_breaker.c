/* tests/unit/rules/test_breaker.c — the circuit breaker's state machine, the retry
 * budget's arithmetic and the retry policy (core/src/rules/breaker.h), with an
 * injected clock */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rules/breaker.h"
#include "types/upstream-t.h"

static const struct res_breaker_conf conf = {
    .failures = 3, .open_for_ms = 1000, .half_open_probes = 1};

/* Admits at @now and records @failed: one whole call. Returns the verdict. */
static int call(struct res_breaker *b, const struct res_breaker_conf *c, uint64_t now,
                int failed)
{
    struct res_ticket t;
    uint32_t          ra = 0;
    int               v = res_breaker_admit(b, c, now, &t, &ra);
    if (v == RES_PASS)
        res_breaker_record(b, c, now, &t, failed);
    return v;
}

START_TEST(closed_passes_and_opens_after_consecutive_failures)
{
    struct res_breaker b = {0};
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
    ck_assert_int_eq(call(&b, &conf, 10, 1), RES_PASS);
    ck_assert_int_eq(call(&b, &conf, 11, 1), RES_PASS);
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
    ck_assert_int_eq(call(&b, &conf, 12, 1), RES_PASS);
    ck_assert_int_eq(res_breaker_state(&b), RES_OPEN);
    ck_assert_uint_eq(res_breaker_until(&b), 12 + 1000);
}
END_TEST

START_TEST(a_success_resets_the_count)
{
    struct res_breaker b = {0};
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(call(&b, &conf, 100 + i * 3, 1), RES_PASS);
        ck_assert_int_eq(call(&b, &conf, 101 + i * 3, 1), RES_PASS);
        ck_assert_int_eq(call(&b, &conf, 102 + i * 3, 0), RES_PASS);
    }
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
}
END_TEST

START_TEST(four_xx_is_not_a_failure)
{
    struct res_breaker b = {0};
    for (int st = 400; st < 500; st++)
        ck_assert_int_eq(res_outcome_failed(UP_OK, st), 0);
    for (int i = 0; i < 100; i++)
        call(&b, &conf, 5 + i, res_outcome_failed(UP_OK, 404));
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
    ck_assert_int_eq(res_outcome_failed(UP_OK, 500), 1);
    ck_assert_int_eq(res_outcome_failed(UP_OK, 503), 1);
    ck_assert_int_eq(res_outcome_failed(UP_OK, 200), 0);
    ck_assert_int_eq(res_outcome_failed(UP_TIMEOUT, 0), 1);
    ck_assert_int_eq(res_outcome_failed(UP_CONNECT, 0), 1);
    ck_assert_int_eq(res_outcome_failed(UP_BROKEN, 0), 1);
    ck_assert_int_eq(res_outcome_failed(UP_TOO_LARGE, 200), 0);
}
END_TEST

START_TEST(open_rejects_with_the_time_left)
{
    struct res_breaker b = {0};
    struct res_ticket  t;
    uint32_t           ra = 0;
    for (int i = 0; i < 3; i++)
        call(&b, &conf, 50, 1);
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 50, &t, &ra), RES_REJ_OPEN);
    ck_assert_uint_eq(ra, 1000);
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 800, &t, &ra), RES_REJ_OPEN);
    ck_assert_uint_eq(ra, 250);
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 1049, &t, &ra), RES_REJ_OPEN);
    ck_assert_uint_eq(ra, 1);
    ck_assert_int_eq(res_breaker_state(&b), RES_OPEN);
}
END_TEST

START_TEST(half_open_lets_exactly_the_probes_through)
{
    struct res_breaker_conf c = conf;
    struct res_breaker      b = {0};
    struct res_ticket       t[4];
    uint32_t                ra;
    c.half_open_probes = 2;
    for (int i = 0; i < 3; i++)
        call(&b, &c, 0, 1);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1000, &t[0], &ra), RES_PASS);
    ck_assert_int_eq(t[0].probe, 1);
    ck_assert_int_eq(res_breaker_state(&b), RES_HALF_OPEN);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1001, &t[1], &ra), RES_PASS);
    ck_assert_int_eq(t[1].probe, 1);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1002, &t[2], &ra), RES_REJ_HALF_OPEN);
    ck_assert_uint_eq(ra, 1000);
    /* one success is not enough with two probes */
    res_breaker_record(&b, &c, 1010, &t[0], 0);
    ck_assert_int_eq(res_breaker_state(&b), RES_HALF_OPEN);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1011, &t[2], &ra), RES_REJ_HALF_OPEN);
    res_breaker_record(&b, &c, 1020, &t[1], 0);
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1021, &t[3], &ra), RES_PASS);
    ck_assert_int_eq(t[3].probe, 0);
}
END_TEST

START_TEST(failed_probe_doubles_the_wait_up_to_8x)
{
    struct res_breaker b = {0};
    struct res_ticket  t;
    uint32_t           ra;
    uint64_t           now = 1;
    for (int i = 0; i < 3; i++)
        call(&b, &conf, now, 1);
    ck_assert_uint_eq(res_breaker_until(&b) - now, 1000);
    const uint64_t waits[] = {2000, 4000, 8000, 8000, 8000};
    for (int i = 0; i < 5; i++) {
        now = res_breaker_until(&b);
        ck_assert_int_eq(res_breaker_admit(&b, &conf, now - 1, &t, &ra), RES_REJ_OPEN);
        ck_assert_int_eq(res_breaker_admit(&b, &conf, now, &t, &ra), RES_PASS);
        ck_assert_int_eq(t.probe, 1);
        res_breaker_record(&b, &conf, now + 5, &t, 1);
        ck_assert_int_eq(res_breaker_state(&b), RES_OPEN);
        ck_assert_uint_eq(res_breaker_until(&b) - (now + 5), waits[i]);
        ck_assert_uint_le(res_breaker_level(&b), RES_BREAKER_MAX_LEVEL);
    }
    /* a success closes it, and the next trip waits open_for again */
    now = res_breaker_until(&b);
    ck_assert_int_eq(res_breaker_admit(&b, &conf, now, &t, &ra), RES_PASS);
    res_breaker_record(&b, &conf, now, &t, 0);
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
    ck_assert_uint_eq(res_breaker_level(&b), 0);
    for (int i = 0; i < 3; i++)
        call(&b, &conf, now + 10, 1);
    ck_assert_uint_eq(res_breaker_until(&b) - (now + 10), 1000);
}
END_TEST

START_TEST(a_late_probe_of_an_old_episode_changes_nothing)
{
    struct res_breaker_conf c = conf;
    struct res_breaker      b = {0};
    struct res_ticket       old, t;
    uint32_t                ra;
    c.half_open_probes = 2;
    for (int i = 0; i < 3; i++)
        call(&b, &c, 0, 1);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1000, &old, &ra), RES_PASS);
    ck_assert_int_eq(res_breaker_admit(&b, &c, 1000, &t, &ra), RES_PASS);
    res_breaker_record(&b, &c, 1001, &t, 1); /* reopens: until 3001 */
    ck_assert_int_eq(res_breaker_state(&b), RES_OPEN);
    res_breaker_record(&b, &c, 1002, &old, 0); /* the old episode's probe */
    ck_assert_int_eq(res_breaker_state(&b), RES_OPEN);
    ck_assert_uint_eq(res_breaker_until(&b), 3001);
}
END_TEST

START_TEST(a_released_probe_slot_is_given_again)
{
    struct res_breaker b = {0};
    struct res_ticket  t, u;
    uint32_t           ra;
    for (int i = 0; i < 3; i++)
        call(&b, &conf, 0, 1);
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 1000, &t, &ra), RES_PASS);
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 1000, &u, &ra), RES_REJ_HALF_OPEN);
    res_breaker_release(&b, &t); /* e.g. the client left */
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 1001, &u, &ra), RES_PASS);
    ck_assert_int_eq(u.probe, 1);
    res_breaker_release(&b, &u);
    res_breaker_release(&b, &u); /* twice is harmless */
    ck_assert_int_eq(res_breaker_admit(&b, &conf, 1002, &u, &ra), RES_PASS);
    res_breaker_record(&b, &conf, 1003, &u, 0);
    ck_assert_int_eq(res_breaker_state(&b), RES_CLOSED);
}
END_TEST

START_TEST(budget_floor_and_twenty_percent)
{
    struct res_budget b;
    int               taken = 0;
    memset(&b, 0, sizeof(b));
    /* 20 calls that all fail, one retry wanted each, within one window */
    for (int k = 1; k <= 20; k++) {
        res_budget_note_call(&b, 5000 + (uint64_t)k * 100);
        taken += res_budget_take_retry(&b, 5000 + (uint64_t)k * 100);
    }
    ck_assert_int_eq(taken,
                     4); /* 3 (the floor), then the 16th call's (4 < 20% of 16+) */
    uint32_t calls, retries;
    res_budget_counts(&b, 7000, &calls, &retries);
    ck_assert_uint_eq(calls, 20);
    ck_assert_uint_eq(retries, 4);
}
END_TEST

START_TEST(budget_is_twenty_percent_of_many_calls)
{
    struct res_budget b;
    int               taken = 0;
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 1000; i++)
        res_budget_note_call(&b, 20000);
    for (int i = 0; i < 1000; i++)
        taken += res_budget_take_retry(&b, 20000);
    ck_assert_int_eq(taken, 200);
}
END_TEST

START_TEST(budget_window_slides)
{
    struct res_budget b;
    uint32_t          calls, retries;
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(res_budget_take_retry(&b, 1000), 1);
    ck_assert_int_eq(res_budget_take_retry(&b, 1000), 0);
    ck_assert_int_eq(res_budget_take_retry(&b, 10999), 0); /* 10 buckets: 1..10 s */
    ck_assert_int_eq(res_budget_take_retry(&b, 11000), 1); /* the 1 s bucket left */
    res_budget_counts(&b, 11000, &calls, &retries);
    ck_assert_uint_eq(retries, 1);
    res_budget_note_call(&b, 15500);
    res_budget_counts(&b, 15500, &calls, &retries);
    ck_assert_uint_eq(calls, 1);
    ck_assert_uint_eq(retries, 1);
    /* the bucket of second 11 is reused for second 21: it starts afresh */
    res_budget_note_call(&b, 21500);
    res_budget_counts(&b, 21500, &calls, &retries);
    ck_assert_uint_eq(calls, 2);
    ck_assert_uint_eq(retries, 0);
    res_budget_counts(&b, 40000, &calls, &retries);
    ck_assert_uint_eq(calls, 0);
    ck_assert_uint_eq(retries, 0);
}
END_TEST

START_TEST(retry_policy)
{
    ck_assert_int_eq(res_method_retryable("GET", 0), 1);
    ck_assert_int_eq(res_method_retryable("HEAD", 0), 1);
    ck_assert_int_eq(res_method_retryable("OPTIONS", 0), 1);
    ck_assert_int_eq(res_method_retryable("PUT", 0), 0);
    ck_assert_int_eq(res_method_retryable("DELETE", 0), 0);
    ck_assert_int_eq(res_method_retryable("PUT", 1), 1);
    ck_assert_int_eq(res_method_retryable("DELETE", 1), 1);
    ck_assert_int_eq(res_method_retryable("POST", 1), 0);
    ck_assert_int_eq(res_method_retryable("PATCH", 1), 0);
    ck_assert_int_eq(res_method_retryable(NULL, 1), 0);

    ck_assert_int_eq(res_outcome_retryable(UP_TIMEOUT, 0), 1);
    ck_assert_int_eq(res_outcome_retryable(UP_CONNECT, 0), 1);
    ck_assert_int_eq(res_outcome_retryable(UP_BROKEN, 0), 1);
    ck_assert_int_eq(res_outcome_retryable(UP_TOO_LARGE, 0), 0);
    ck_assert_int_eq(res_outcome_retryable(UP_OK, 502), 1);
    ck_assert_int_eq(res_outcome_retryable(UP_OK, 503), 1);
    ck_assert_int_eq(res_outcome_retryable(UP_OK, 504), 1);
    ck_assert_int_eq(res_outcome_retryable(UP_OK, 500), 0);
    ck_assert_int_eq(res_outcome_retryable(UP_OK, 501), 0);
    for (int st = 200; st < 500; st++)
        ck_assert_int_eq(res_outcome_retryable(UP_OK, st), 0);
}
END_TEST

START_TEST(backoff_is_jittered_and_bounded)
{
    uint64_t r = 88172645463325252ull;
    int      lo1 = 1000, hi1 = 0;
    for (int i = 0; i < 10000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint32_t d1 = res_backoff_ms(1, r), d2 = res_backoff_ms(2, r),
                 d9 = res_backoff_ms(9, r);
        ck_assert_uint_ge(d1, 10);
        ck_assert_uint_le(d1, 50);
        ck_assert_uint_ge(d2, 20);
        ck_assert_uint_le(d2, 100);
        ck_assert_uint_le(d9, 1000);
        lo1 = (int)d1 < lo1 ? (int)d1 : lo1;
        hi1 = (int)d1 > hi1 ? (int)d1 : hi1;
    }
    ck_assert_int_le(lo1, 12); /* the whole range is used */
    ck_assert_int_ge(hi1, 48);
    ck_assert_uint_eq(res_backoff_ms(1, 0), 10);
    ck_assert_uint_eq(res_backoff_ms(1, 40), 50);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("breaker");
    tcase_add_test(tc, closed_passes_and_opens_after_consecutive_failures);
    tcase_add_test(tc, a_success_resets_the_count);
    tcase_add_test(tc, four_xx_is_not_a_failure);
    tcase_add_test(tc, open_rejects_with_the_time_left);
    tcase_add_test(tc, half_open_lets_exactly_the_probes_through);
    tcase_add_test(tc, failed_probe_doubles_the_wait_up_to_8x);
    tcase_add_test(tc, a_late_probe_of_an_old_episode_changes_nothing);
    tcase_add_test(tc, a_released_probe_slot_is_given_again);
    suite_add_tcase(s, tc);
    tc = tcase_create("budget");
    tcase_add_test(tc, budget_floor_and_twenty_percent);
    tcase_add_test(tc, budget_is_twenty_percent_of_many_calls);
    tcase_add_test(tc, budget_window_slides);
    tcase_add_test(tc, retry_policy);
    tcase_add_test(tc, backoff_is_jittered_and_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
