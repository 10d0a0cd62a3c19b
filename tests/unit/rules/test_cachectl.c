/* tests/unit/rules/test_cachectl.c — Cache-Control parsing and what the
 * answer cache may keep, for whom and how long (core/src/rules/cachectl.h) */
#include <check.h>
#include <string.h>

#include "rules/cachectl.h"

static struct cc_directives parse(const char *v)
{
    struct cc_directives d;
    cc_init(&d);
    cc_parse(&d, v, strlen(v));
    return d;
}

START_TEST(directives_parse)
{
    struct cc_directives d =
        parse("Public, MAX-AGE=60 ,stale-if-error=\"300\", stale-while-revalidate=30");
    ck_assert(d.public_);
    ck_assert(!d.private_ && !d.no_store);
    ck_assert_uint_eq(d.max_age, 60);
    ck_assert_uint_eq(d.s_maxage, CC_NONE);
    ck_assert_uint_eq(d.stale_if_error, 300);
    ck_assert_uint_eq(d.stale_while_revalidate, 30);
    d = parse("private=\"Set-Cookie, X-A\", no-store");
    ck_assert(d.private_ && d.no_store);
    ck_assert_uint_eq(d.max_age, CC_NONE);
}
END_TEST

START_TEST(bad_and_duplicate_values)
{
    struct cc_directives d = parse("max-age=abc, stale-if-error=-1");
    ck_assert_uint_eq(d.max_age, 0); /* invalid max-age: stale at once */
    ck_assert_uint_eq(d.stale_if_error, CC_NONE);
    d = parse("max-age=60, max-age=10");
    ck_assert_uint_eq(d.max_age, 10);
    d = parse("max-age=99999999999999");
    ck_assert_uint_eq(d.max_age, 2147483648u);
    d = parse(",,, ,");
    ck_assert_uint_eq(d.max_age, CC_NONE);
    d = parse("max-age");
    ck_assert_uint_eq(d.max_age, 0);
    /* two fields parsed into one: their list */
    d = parse("private");
    cc_parse(&d, "max-age=5", 9);
    ck_assert(d.private_);
    ck_assert_uint_eq(d.max_age, 5);
}
END_TEST

START_TEST(scope_per_user_unless_public)
{
    struct cc_directives d = parse("max-age=60");
    struct cc_decision   k = cc_decide(&d, 200, 1);
    ck_assert_int_eq(k.scope, CC_USER);
    ck_assert_uint_eq(k.fresh_s, 60);
    ck_assert_int_eq(cc_decide(&d, 200, 0).scope, CC_NOT_KEPT); /* anonymous */
    d = parse("public, max-age=60");
    ck_assert_int_eq(cc_decide(&d, 200, 1).scope, CC_SHARED);
    ck_assert_int_eq(cc_decide(&d, 200, 0).scope, CC_SHARED);
    d = parse("public, private, max-age=60"); /* private wins */
    ck_assert_int_eq(cc_decide(&d, 200, 1).scope, CC_USER);
    d = parse("private, max-age=60");
    ck_assert_int_eq(cc_decide(&d, 200, 1).scope, CC_USER);
}
END_TEST

START_TEST(never_kept)
{
    const char *never[] = {"no-store, max-age=60", "no-cache, max-age=60", "public",
                           "private", "", "max-age=0"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        struct cc_directives d = parse(never[i]);
        ck_assert_msg(cc_decide(&d, 200, 1).scope == CC_NOT_KEPT, "%s", never[i]);
    }
    struct cc_directives d = parse("public, max-age=60");
    ck_assert_int_eq(cc_decide(&d, 500, 1).scope, CC_NOT_KEPT);
    ck_assert_int_eq(cc_decide(&d, 201, 1).scope, CC_NOT_KEPT);
    ck_assert_int_eq(cc_decide(&d, 404, 1).scope, CC_SHARED);
}
END_TEST

START_TEST(lifetimes_and_stale_windows)
{
    struct cc_directives d = parse("public, max-age=10, s-maxage=30");
    struct cc_decision   k = cc_decide(&d, 200, 1);
    ck_assert_uint_eq(k.fresh_s, 30); /* s-maxage for a shared entry */
    ck_assert_uint_eq(k.stale_error_s, 0);
    d = parse("private, max-age=10, s-maxage=30, stale-if-error=5");
    k = cc_decide(&d, 200, 1);
    ck_assert_uint_eq(k.fresh_s, 10); /* per user: max-age */
    ck_assert_uint_eq(k.stale_error_s, 5);
    d = parse("max-age=0, stale-if-error=60"); /* stale at once, kept for errors */
    k = cc_decide(&d, 200, 1);
    ck_assert_int_eq(k.scope, CC_USER);
    ck_assert_uint_eq(k.fresh_s, 0);
    ck_assert_uint_eq(k.stale_error_s, 60);
    d = parse("max-age=5, must-revalidate, stale-if-error=60, stale-while-revalidate=9");
    k = cc_decide(&d, 200, 1);
    ck_assert_uint_eq(k.stale_error_s, 0);
    ck_assert_uint_eq(k.stale_reval_s, 0);
    d = parse("public, max-age=5, s-maxage=5, stale-if-error=60");
    ck_assert_uint_eq(cc_decide(&d, 200, 1).stale_error_s, 0); /* s-maxage: proxy-revalidate */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cachectl");
    TCase *tc = tcase_create("cachectl");
    tcase_add_test(tc, directives_parse);
    tcase_add_test(tc, bad_and_duplicate_values);
    tcase_add_test(tc, scope_per_user_unless_public);
    tcase_add_test(tc, never_kept);
    tcase_add_test(tc, lifetimes_and_stale_windows);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
