/* tests/unit/rules/test_balance.c — endpoint choice (power of two choices,
 * round robin) and outlier ejection rules (core/src/rules/balance.h), with
 * injected random numbers and clock */
#include <check.h>
#include <stdlib.h>

#include "base/rand.h"
#include "rules/balance.h"

START_TEST(p2c_takes_the_less_loaded_of_two_distinct)
{
    uint32_t load[3] = {5, 1, 9};
    ck_assert_uint_eq(res_p2c(load, 1, 12345), 0);
    /* every draw is two distinct candidates: the busiest one (9) can only
     * win against itself, which never happens */
    uint64_t st = 88172645463325252ull;
    unsigned wins[3] = {0};
    for (int i = 0; i < 3000; i++)
        wins[res_p2c(load, 3, bff_rand(&st))]++;
    ck_assert_uint_eq(wins[2], 0);
    ck_assert_uint_gt(wins[1], wins[0]); /* 1 wins every draw it is in: 2/3 */
    ck_assert_uint_gt(wins[1], 1800);
    ck_assert_uint_gt(wins[0], 700); /* 0 wins against 2: 1/3 */
}
END_TEST

START_TEST(p2c_spreads_equal_loads)
{
    uint32_t load[4] = {0, 0, 0, 0};
    uint64_t st = 42;
    unsigned wins[4] = {0};
    for (int i = 0; i < 4000; i++)
        wins[res_p2c(load, 4, bff_rand(&st))]++;
    for (int k = 0; k < 4; k++)
        ck_assert_uint_gt(wins[k], 800);
}
END_TEST

START_TEST(round_robin_walks_in_turn)
{
    ck_assert_uint_eq(res_round_robin(3, 0), 0);
    ck_assert_uint_eq(res_round_robin(3, 1), 1);
    ck_assert_uint_eq(res_round_robin(3, 5), 2);
    ck_assert_uint_eq(res_round_robin(0, 5), 0);
}
END_TEST

START_TEST(max_ejected_rounds_down_but_allows_one)
{
    ck_assert_uint_eq(res_max_ejected(3, 50), 1);
    ck_assert_uint_eq(res_max_ejected(4, 50), 2);
    ck_assert_uint_eq(res_max_ejected(1, 50), 1);
    ck_assert_uint_eq(res_max_ejected(3, 20), 1);
    ck_assert_uint_eq(res_max_ejected(3, 0), 0);
    ck_assert_uint_eq(res_max_ejected(3, 100), 3);
    ck_assert_uint_eq(res_max_ejected(0, 50), 0);
}
END_TEST

START_TEST(ejection_doubles_up_to_8x)
{
    ck_assert_uint_eq(res_eject_ms(1000, 0), 1000);
    ck_assert_uint_eq(res_eject_ms(1000, 1), 2000);
    ck_assert_uint_eq(res_eject_ms(1000, 2), 4000);
    ck_assert_uint_eq(res_eject_ms(1000, 3), 8000);
    ck_assert_uint_eq(res_eject_ms(1000, 30), 8000);
}
END_TEST

START_TEST(eject_after_threshold_or_refusal_within_the_cap)
{
    ck_assert_int_eq(res_should_eject(4, 0, 5, 0, 1), 0);
    ck_assert_int_eq(res_should_eject(5, 0, 5, 0, 1), 1);
    ck_assert_int_eq(res_should_eject(1, 1, 5, 0, 1), 1); /* refused: at once */
    ck_assert_int_eq(res_should_eject(9, 1, 5, 1, 1), 0); /* the cap holds */
    ck_assert_int_eq(res_should_eject(9, 0, 5, 0, 0), 0);
    ck_assert_int_eq(res_eject_forgotten(1500, 1000, 1000), 0);
    ck_assert_int_eq(res_eject_forgotten(2000, 1000, 1000), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("balance");
    tcase_add_test(tc, p2c_takes_the_less_loaded_of_two_distinct);
    tcase_add_test(tc, p2c_spreads_equal_loads);
    tcase_add_test(tc, round_robin_walks_in_turn);
    tcase_add_test(tc, max_ejected_rounds_down_but_allows_one);
    tcase_add_test(tc, ejection_doubles_up_to_8x);
    tcase_add_test(tc, eject_after_threshold_or_refusal_within_the_cap);
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
