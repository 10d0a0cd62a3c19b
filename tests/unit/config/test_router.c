/* tests/unit/config/test_router.c — path normalization and route matching */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/err.h"
#include "bff/router.h"

/* Route tables are built by hand: config.c is not needed here. */
struct table {
    struct bff_route_conf r[16];
    size_t                n;
};

static void add(struct table *t, const char *path, enum bff_route_kind kind)
{
    memset(&t->r[t->n], 0, sizeof(t->r[t->n]));
    t->r[t->n].path = (char *)path;
    t->r[t->n].kind = kind;
    t->r[t->n].methods = BFF_M_ALL;
    t->n++;
}

static int match(const struct bff_router *r, const char *path)
{
    return bff_router_match(r, path, strlen(path), NULL, NULL);
}

static size_t prefix(const struct bff_router *r, const char *path)
{
    size_t pl = 12345;
    ck_assert_int_ge(bff_router_match(r, path, strlen(path), NULL, &pl), 0);
    return pl;
}

START_TEST(specificity)
{
    struct table       t = {0};
    struct bff_router *r;

    add(&t, "/v1", BFF_ROUTE_PROXY);                  /* 0 */
    add(&t, "/v1/orders/{id}", BFF_ROUTE_HANDLER);    /* 1 */
    add(&t, "/v1/orders/special", BFF_ROUTE_HANDLER); /* 2 */
    add(&t, "/a/b", BFF_ROUTE_PROXY);                 /* 3 */
    add(&t, "/a/{x}/c", BFF_ROUTE_HANDLER);           /* 4 */
    add(&t, "/p", BFF_ROUTE_PROXY);                   /* 5 */
    add(&t, "/p/q", BFF_ROUTE_PROXY);                 /* 6 */
    add(&t, "/dup", BFF_ROUTE_PROXY);                 /* 7 */
    add(&t, "/dup", BFF_ROUTE_STATIC);                /* 8 */
    add(&t, "/{any}/z", BFF_ROUTE_HANDLER);           /* 9 */
    add(&t, "/p/{y}/z", BFF_ROUTE_HANDLER);           /* 10 */
    r = bff_router_new(t.r, t.n);
    ck_assert_ptr_nonnull(r);

    ck_assert_int_eq(match(r, "/v1/orders/special"), 2);
    ck_assert_int_eq(match(r, "/v1/orders/o-1"), 1);
    ck_assert_int_eq(match(r, "/v1/orders"), 0);
    ck_assert_int_eq(match(r, "/v1"), 0);
    ck_assert_int_eq(match(r, "/v1/other/x"), 0);
    ck_assert_int_eq(match(r, "/v1/orders/o-1/more"), 0); /* handler is exact */
    ck_assert_int_eq(match(r, "/v1/orders/special/"), 0);
    /* a literal at the first differing segment beats a longer pattern */
    ck_assert_int_eq(match(r, "/a/b/c"), 3);
    ck_assert_int_eq(match(r, "/a/x/c"), 4);
    /* then more segments win */
    ck_assert_int_eq(match(r, "/p/q/r"), 6);
    ck_assert_int_eq(match(r, "/p/r"), 5);
    /* literal "p" beats parameter {any} at the first segment */
    ck_assert_int_eq(match(r, "/p/w/z"), 10);
    ck_assert_int_eq(match(r, "/k/z"), 9);
    /* then the one written first */
    ck_assert_int_eq(match(r, "/dup/x"), 7);
    ck_assert_int_eq(match(r, "/nothing"), BFF_ENOENT);
    bff_router_free(r);
}
END_TEST

START_TEST(params)
{
    struct table            t = {0};
    struct bff_router      *r;
    struct bff_route_params p;
    const char             *path = "/v1/users/42/orders/o-7";
    size_t                  pl;

    add(&t, "/v1/users/{uid}/orders/{oid}", BFF_ROUTE_HANDLER);
    add(&t, "/v1/order-screen/{id}", BFF_ROUTE_HANDLER);
    add(&t, "/svc/{name}", BFF_ROUTE_PROXY);
    r = bff_router_new(t.r, t.n);
    ck_assert_ptr_nonnull(r);

    memset(&p, 0xaa, sizeof(p));
    ck_assert_int_eq(bff_router_match(r, path, strlen(path), &p, &pl), 0);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_uint_eq(p.p[0].name_len, 3);
    ck_assert_int_eq(memcmp(p.p[0].name, "uid", 3), 0);
    ck_assert_ptr_eq(p.p[0].value, path + 10); /* points into the path */
    ck_assert_uint_eq(p.p[0].value_len, 2);
    ck_assert_int_eq(memcmp(p.p[1].name, "oid", 3), 0);
    ck_assert_uint_eq(p.p[1].value_len, 3);
    ck_assert_int_eq(memcmp(p.p[1].value, "o-7", 3), 0);
    ck_assert_uint_eq(pl, strlen(path));

    /* a parameter binds exactly one non-empty segment */
    ck_assert_int_eq(match(r, "/v1/order-screen/"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/v1/order-screen"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/v1/order-screen/a/b"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/v1/users//orders/o-7"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/v1/order-screen/o-1"), 1);

    /* a prefix route with a parameter */
    path = "/svc/users/4412";
    ck_assert_int_eq(bff_router_match(r, path, strlen(path), &p, &pl), 2);
    ck_assert_uint_eq(p.n, 1);
    ck_assert_uint_eq(p.p[0].value_len, 5);
    ck_assert_uint_eq(pl, 10);

    /* @len bounds the path: no NUL needed */
    ck_assert_int_eq(bff_router_match(r, "/v1/order-screen/o-1?q", 20, &p, NULL), 1);
    ck_assert_uint_eq(p.p[0].value_len, 3);
    bff_router_free(r);
}
END_TEST

START_TEST(whole_segments)
{
    struct table       t = {0};
    struct bff_router *r;

    add(&t, "/orders", BFF_ROUTE_PROXY);
    r = bff_router_new(t.r, t.n);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(match(r, "/orders"), 0);
    ck_assert_int_eq(match(r, "/orders/o-1"), 0);
    ck_assert_int_eq(match(r, "/orders/o-1/items/2"), 0);
    ck_assert_int_eq(match(r, "/orders/"), 0);
    ck_assert_int_eq(match(r, "/ordersx"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/order"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/"), BFF_ENOENT);
    ck_assert_int_eq(match(r, "/Orders"), BFF_ENOENT); /* case-sensitive */
    ck_assert_uint_eq(prefix(r, "/orders"), 7);
    ck_assert_uint_eq(prefix(r, "/orders/o-1"), 7);
    ck_assert_uint_eq(prefix(r, "/orders/"), 7);
    /* not a path */
    ck_assert_int_eq(bff_router_match(r, "", 0, NULL, NULL), BFF_ENOENT);
    ck_assert_int_eq(match(r, "orders"), BFF_ENOENT);
    bff_router_free(r);
}
END_TEST

START_TEST(catch_all)
{
    struct table       t = {0};
    struct bff_router *r;
    char               deep[512];

    add(&t, "/", BFF_ROUTE_STATIC);
    add(&t, "/orders", BFF_ROUTE_PROXY);
    add(&t, "/v1/home", BFF_ROUTE_HANDLER);
    r = bff_router_new(t.r, t.n);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(match(r, "/"), 0);
    ck_assert_int_eq(match(r, "/index.html"), 0);
    ck_assert_int_eq(match(r, "/a/b/c/d"), 0);
    ck_assert_int_eq(match(r, "/ordersx"), 0);
    ck_assert_int_eq(match(r, "/orders/o-1"), 1);
    ck_assert_int_eq(match(r, "/v1/home"), 2);
    ck_assert_int_eq(match(r, "/v1/home/"), 0); /* handler exact: falls to "/" */
    ck_assert_uint_eq(prefix(r, "/a/b"), 0);
    ck_assert_uint_eq(prefix(r, "/"), 0);
    /* more segments than any pattern */
    deep[0] = '\0';
    for (int i = 0; i < 60; i++)
        strcat(deep, "/orders");
    ck_assert_int_eq(match(r, deep), 1);
    bff_router_free(r);

    /* a handler on "/" matches "/" only */
    memset(&t, 0, sizeof(t));
    add(&t, "/", BFF_ROUTE_HANDLER);
    r = bff_router_new(t.r, t.n);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(match(r, "/"), 0);
    ck_assert_int_eq(match(r, "/a"), BFF_ENOENT);
    bff_router_free(r);

    /* no routes: nothing matches */
    r = bff_router_new(NULL, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(match(r, "/"), BFF_ENOENT);
    bff_router_free(r);
    bff_router_free(NULL);
}
END_TEST

START_TEST(exact_vs_prefix_and_trailing)
{
    struct table       t = {0};
    struct bff_router *r;

    add(&t, "/orders", BFF_ROUTE_PROXY);
    add(&t, "/orders", BFF_ROUTE_HANDLER);
    r = bff_router_new(t.r, t.n);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(match(r, "/orders"), 1);  /* exact beats prefix */
    ck_assert_int_eq(match(r, "/orders/"), 0); /* trailing '/': prefix only */
    ck_assert_int_eq(match(r, "/orders/1"), 0);
    bff_router_free(r);

    memset(&t, 0, sizeof(t));
    add(&t, "/v1/home", BFF_ROUTE_HANDLER);
    r = bff_router_new(t.r, t.n);
    ck_assert_int_eq(match(r, "/v1/home"), 0);
    ck_assert_int_eq(match(r, "/v1/home/"), BFF_ENOENT);
    bff_router_free(r);
}
END_TEST

START_TEST(bad_patterns)
{
    static const char *bad[] = {
        "orders",  "",      "/a//b",        "/a/",
        "//",      "/{",    "/{}",          "/{a",
        "/a{b}",   "/{a}b", "/{a-b}",       "/{id}/{id}",
        "/a/../b", "/./a",  "/%2e",         "/%2f",
        "/%2",     "/%41",  "/%00",         "/a b",
        "/a?b",    "/a#b",  "/caf\xc3\xa9", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
    };
    static const char *good[] = {"/",
                                 "/a",
                                 "/a/%2F",
                                 "/{id}",
                                 "/v1/order-screen/{id}",
                                 "/a:b@c!$&'()*+,;=",
                                 "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"};
    char               many[200] = "";
    const char        *why;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct bff_route_conf rc = {.path = (char *)bad[i], .kind = BFF_ROUTE_PROXY};
        why = NULL;
        ck_assert_msg(bff_router_pattern_check(bad[i], &why) == BFF_EINVAL, "%s",
                      bad[i]);
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_null(bff_router_new(&rc, 1));
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct bff_route_conf rc = {.path = (char *)good[i], .kind = BFF_ROUTE_PROXY};
        struct bff_router    *r;
        ck_assert_msg(bff_router_pattern_check(good[i], &why) == 0, "%s", good[i]);
        ck_assert_ptr_null(why);
        r = bff_router_new(&rc, 1);
        ck_assert_ptr_nonnull(r);
        bff_router_free(r);
    }
    ck_assert_int_eq(bff_router_pattern_check(NULL, NULL), BFF_EINVAL);
    for (int i = 0; i < 32; i++)
        strcat(many, "/s");
    ck_assert_int_eq(bff_router_pattern_check(many, NULL), 0);
    strcat(many, "/s");
    ck_assert_int_eq(bff_router_pattern_check(many, NULL), BFF_EINVAL);
    ck_assert_ptr_null(bff_router_new(NULL, 1));
}
END_TEST

/* Normalizes @in and compares with @want (NULL: expect @err). */
static void norm(const char *in, const char *want, int err)
{
    char   out[256];
    size_t n = 999;
    int    rc = bff_path_normalize(in, strlen(in), out, sizeof(out), &n);

    if (!want) {
        ck_assert_msg(rc == err, "%s: got %d, want %d", in, rc, err);
        return;
    }
    ck_assert_msg(rc == 0, "%s: got %d", in, rc);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(normalize)
{
    norm("/", "/", 0);
    norm("/a/./b/../c", "/a/c", 0);
    norm("//a///b", "/a/b", 0);
    norm("/a/%2e%2e/b", "/b", 0);
    norm("/a/%2E%2e%2fb", "/a/..%2Fb", 0);
    norm("/%41", "/A", 0);
    norm("/%7e%7E%2D%5f", "/~~-_", 0);
    norm("/a%2fb", "/a%2Fb", 0);
    norm("/a%20b%c3%a9", "/a%20b%C3%A9", 0);
    norm("/a/b/", "/a/b/", 0);
    norm("/a//", "/a/", 0);
    norm("//", "/", 0);
    norm("/a/.", "/a/", 0);
    norm("/a/b/..", "/a/", 0);
    norm("/a/..", "/", 0);
    norm("/a/../", "/", 0);
    norm("/./", "/", 0);
    norm("/...", "/...", 0);
    norm("/.a/a./..b", "/.a/a./..b", 0);
    norm("/a/%2e", "/a/", 0);
    norm("/a/b/c/./../../g", "/a/g", 0);
    norm("/mid/content=5/../6", "/mid/6", 0);
    norm("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", 0);

    norm("/..", NULL, BFF_EINVAL);
    norm("/a/../../b", NULL, BFF_EINVAL);
    norm("/%2e%2e/a", NULL, BFF_EINVAL);
    norm("/a/../..", NULL, BFF_EINVAL);
    norm("/a%00", NULL, BFF_EINVAL);
    norm("/a/%zz", NULL, BFF_EINVAL);
    norm("/a%4", NULL, BFF_EINVAL);
    norm("/a%4/b", NULL, BFF_EINVAL);
    norm("/a%", NULL, BFF_EINVAL);
    norm("/a%g1", NULL, BFF_EINVAL);
    norm("a/b", NULL, BFF_EINVAL);
    norm("", NULL, BFF_EINVAL);
    norm("/a b", NULL, BFF_EINVAL);
    norm("/a\tb", NULL, BFF_EINVAL);
    norm("/a\r\nb", NULL, BFF_EINVAL);
    norm("/a\x7f", NULL, BFF_EINVAL);
    norm("/caf\xc3\xa9", NULL, BFF_EINVAL);
    norm("/\x80", NULL, BFF_EINVAL);
}
END_TEST

START_TEST(normalize_bounds)
{
    char   out[8];
    size_t n;

    /* a raw NUL inside @len is a control character */
    ck_assert_int_eq(bff_path_normalize("/a\0b", 4, out, sizeof(out), &n), BFF_EINVAL);
    /* only @len bytes are read */
    ck_assert_int_eq(bff_path_normalize("/abc?x=1", 4, out, sizeof(out), &n), 0);
    ck_assert_str_eq(out, "/abc");
    /* room for the result and its NUL, no more */
    ck_assert_int_eq(bff_path_normalize("/abc", 4, out, 4, &n), BFF_ERANGE);
    ck_assert_int_eq(bff_path_normalize("/abc", 4, out, 5, &n), 0);
    ck_assert_str_eq(out, "/abc");
    ck_assert_int_eq(bff_path_normalize("/", 1, out, 1, &n), BFF_ERANGE);
    ck_assert_int_eq(bff_path_normalize("/", 1, out, 2, &n), 0);
    ck_assert_int_eq(bff_path_normalize("/abc", 4, NULL, 0, &n), BFF_ERANGE);
    /* ERANGE is about the result, not the input */
    ck_assert_int_eq(bff_path_normalize("/xxxxxxxxxx/../bcd", 18, out, 5, &n), 0);
    ck_assert_str_eq(out, "/bcd");
    ck_assert_int_eq(bff_path_normalize("/%41%42%43", 10, out, 5, &n), 0);
    ck_assert_str_eq(out, "/ABC");
    ck_assert_uint_eq(n, 4);
    /* an invalid path is EINVAL whatever the room */
    ck_assert_int_eq(bff_path_normalize("/..", 3, out, 0, &n), BFF_EINVAL);
    ck_assert_int_eq(bff_path_normalize("/xxxxxxxxxx/%zz", 15, out, 2, &n), BFF_EINVAL);
    ck_assert_int_eq(bff_path_normalize(NULL, 0, out, sizeof(out), &n), BFF_EINVAL);
    /* @outlen may be NULL */
    ck_assert_int_eq(bff_path_normalize("/a", 2, out, sizeof(out), NULL), 0);
}
END_TEST

START_TEST(escape_attempt)
{
    struct table       t = {0};
    struct bff_router *r;
    char               out[64];
    size_t             n;
    const char        *in = "/orders/%2e%2e/admin";

    ck_assert_int_eq(bff_path_normalize(in, strlen(in), out, sizeof(out), &n), 0);
    ck_assert_str_eq(out, "/admin");

    add(&t, "/orders", BFF_ROUTE_PROXY);
    r = bff_router_new(t.r, t.n);
    ck_assert_int_eq(bff_router_match(r, out, n, NULL, NULL), BFF_ENOENT);
    bff_router_free(r);

    add(&t, "/admin", BFF_ROUTE_HANDLER);
    r = bff_router_new(t.r, t.n);
    ck_assert_int_eq(bff_router_match(r, out, n, NULL, NULL), 1);
    bff_router_free(r);

    /* an encoded slash stays inside one segment: never a way out */
    in = "/orders/..%2fadmin";
    ck_assert_int_eq(bff_path_normalize(in, strlen(in), out, sizeof(out), &n), 0);
    ck_assert_str_eq(out, "/orders/..%2Fadmin");
    in = "/orders/%2e%2e%2f%2e%2e%2fadmin";
    ck_assert_int_eq(bff_path_normalize(in, strlen(in), out, sizeof(out), &n), 0);
    ck_assert_str_eq(out, "/orders/..%2F..%2Fadmin");
}
END_TEST

START_TEST(pct)
{
    char   out[64];
    size_t n;

    ck_assert_int_eq(bff_pct_decode("a%2Fb%41+%c3%A9", 15, out, &n), 0);
    ck_assert_str_eq(out, "a/bA+\xc3\xa9");
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(bff_pct_decode("", 0, out, &n), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(bff_pct_decode("%00", 3, out, &n), BFF_EINVAL);
    ck_assert_int_eq(bff_pct_decode("ab%4", 4, out, &n), BFF_EINVAL);
    ck_assert_int_eq(bff_pct_decode("ab%", 3, out, &n), BFF_EINVAL);
    ck_assert_int_eq(bff_pct_decode("%g0", 3, out, &n), BFF_EINVAL);
    ck_assert_int_eq(bff_pct_decode("%41%42", 3, out, &n), 0); /* stops at @len */
    ck_assert_str_eq(out, "A");
    ck_assert_int_eq(bff_pct_decode("%41", 3, out, NULL), 0);

    bff_pct_encode("a b/\xc3\xbc~-._Z9?&=%", out);
    ck_assert_str_eq(out, "a%20b%2F%C3%BC~-._Z9%3F%26%3D%25");
    bff_pct_encode("", out);
    ck_assert_str_eq(out, "");
    /* round trip */
    bff_pct_encode("o-1/../x y", out);
    {
        char back[64];
        ck_assert_int_eq(bff_pct_decode(out, strlen(out), back, &n), 0);
        ck_assert_str_eq(back, "o-1/../x y");
    }
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, specificity);
    tcase_add_test(tc, params);
    tcase_add_test(tc, whole_segments);
    tcase_add_test(tc, catch_all);
    tcase_add_test(tc, exact_vs_prefix_and_trailing);
    tcase_add_test(tc, bad_patterns);
    tcase_add_test(tc, normalize);
    tcase_add_test(tc, normalize_bounds);
    tcase_add_test(tc, escape_attempt);
    tcase_add_test(tc, pct);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
