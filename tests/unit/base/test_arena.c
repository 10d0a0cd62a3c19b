/* tests/unit/base/test_arena.c — the request arena (core/src/base/arena.c) */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bff/arena.h"

START_TEST(alloc_aligned_and_disjoint)
{
    struct bff_arena a;
    bff_arena_init(&a, 0);
    char *p = bff_arena_alloc(&a, 3), *q = bff_arena_alloc(&a, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    ck_assert_uint_eq((uintptr_t)q % 16, 0);
    ck_assert(q >= p + 3 || q + 100 <= p);
    /* larger than a chunk: its own chunk */
    char *big = bff_arena_alloc(&a, 100000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 100000);
    bff_arena_cleanup(&a);
    ck_assert_uint_eq(a.total, 0);
}
END_TEST

START_TEST(limit_refuses)
{
    struct bff_arena a;
    bff_arena_init(&a, 8192);
    ck_assert_ptr_nonnull(bff_arena_alloc(&a, 4000));
    ck_assert_ptr_null(bff_arena_alloc(&a, 20000));
    bff_arena_cleanup(&a);
}
END_TEST

START_TEST(cat_joins_like_printf)
{
    struct bff_arena a;
    char             want[64];
    bff_arena_init(&a, 0);
    ck_assert_str_eq(bff_arena_cat(&a, "X-User-Id: ", "4412", NULL), "X-User-Id: 4412");
    ck_assert_str_eq(bff_arena_cat(&a, NULL), "");
    ck_assert_str_eq(bff_arena_cat(&a, "", "a", "", NULL), "a");
    /* more parts than the length cache holds */
    const char *s = bff_arena_cat(&a, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a",
                                  "b", "c", "d", "e", "f", "g", "h", "ij", NULL);
    snprintf(want, sizeof(want), "%s", "0123456789abcdefghij");
    ck_assert_str_eq(s, want);
    bff_arena_cleanup(&a);
}
END_TEST

START_TEST(reset_keeps_one_small_chunk)
{
    struct bff_arena a;
    bff_arena_init(&a, 0);
    char *first = bff_arena_alloc(&a, 1000);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(bff_arena_alloc(&a, 5000)); /* a second chunk */
    ck_assert_ptr_nonnull(bff_arena_alloc(&a, 200000)); /* a large one */
    ck_assert_uint_gt(a.total, 200000);
    bff_arena_reset(&a, 16384);
    /* the largest chunk under the bound stays, empty */
    ck_assert_uint_gt(a.total, 0);
    ck_assert_uint_le(a.total, 16384);
    size_t kept = a.total;
    char  *p = bff_arena_alloc(&a, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(a.total, kept); /* served from the kept chunk */
    strcpy(p, "reused");
    ck_assert_str_eq(p, "reused");
    bff_arena_reset(&a, 0); /* nothing small enough: all freed */
    ck_assert_uint_eq(a.total, 0);
    ck_assert_ptr_nonnull(bff_arena_alloc(&a, 10));
    bff_arena_cleanup(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arena");
    TCase *t = tcase_create("arena");
    tcase_add_test(t, alloc_aligned_and_disjoint);
    tcase_add_test(t, limit_refuses);
    tcase_add_test(t, cat_joins_like_printf);
    tcase_add_test(t, reset_keeps_one_small_chunk);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
