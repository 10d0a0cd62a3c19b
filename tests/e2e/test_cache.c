/* tests/e2e/test_cache.c — the answer cache of services with cache: (SPEC
 * §4): kept answers spare the service, no-store and other users' private
 * answers are never served, identical calls coalesce, and a failed part is
 * served stale within stale-if-error, against shop-services. Each test
 * starts its own BFF, so no entry outlives its test. */
#include <pthread.h>

#include "common.h"

static const char *dir;
static struct h_shop shop;
static struct h_keys keys;
static char         *token, *other_token;

static const char *yaml_head =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: ";
static const char *yaml_rest =
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 2s,\n"
    "           cache: { max_entries: 100 } }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 2s }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 2s, retries: 0,\n"
    "               cache: { max_entries: 100, max_body: 64KiB } }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "routes:\n"
    "  - path: /v1/order-screen/{id}\n"
    "    handler: order_screen\n"
    "    auth: required\n"
    "    timeout: 3s\n"
    "  - path: /inventory\n"
    "    service: inventory\n"
    "    auth: required\n"
    "  - path: /users\n"
    "    service: users\n"
    "    auth: required\n";

static void start(struct h_bff *b, int workers)
{
    char y[4096];
    snprintf(y, sizeof(y), "%s%d\n%s", yaml_head, workers, yaml_rest);
    ck_assert_int_eq(h_bff_start(b, "bff-mobile/bff-mobile", dir, y, &shop), 0);
}

static void setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    token = h_token(&keys, "4412", "customer", NULL);
    other_token = h_token(&keys, "9001", "support", NULL);
    ck_assert_ptr_nonnull(token);
    ck_assert_ptr_nonnull(other_token);
}

static void teardown(void)
{
    h_stop(&shop.proc);
    free(token);
    free(other_token);
    h_cleanup_dir(dir);
}

/* Every test begins with the shop as seeded: no fault, counts at 0. */
static void reset(void)
{
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/reset", shop.control);
    ck_assert_int_eq(h_http("POST", u, NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
}

static int get(struct h_bff *b, const char *path, const char *tok, struct h_resp *r)
{
    char u[512], auth[4096];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", b->port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *hdrs[] = {auth, NULL};
    return h_http("GET", u, hdrs, NULL, r);
}

/* The names in array @key of @j, joined with ',' ("" for none). */
static const char *names(json_object *j, const char *key, char *buf, size_t cap)
{
    json_object *a;
    buf[0] = '\0';
    if (!json_object_object_get_ex(j, key, &a) || !json_object_is_type(a, json_type_array))
        return "(missing)";
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%s", i ? "," : "",
                 json_object_get_string(json_object_array_get_idx(a, i)));
    }
    return buf;
}

START_TEST(second_order_screen_within_max_age_makes_no_inventory_call)
{
    struct h_bff  b;
    struct h_resp r;
    reset();
    start(&b, 1); /* one worker: the second request finds the first's entry */
    ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), 1);
    ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), 1); /* max-age=5 */
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    ck_assert_msg(strstr(h_header(&r, "Server-Timing"), "inventory;dur=0.0;desc=\"cache\""),
                  "Server-Timing: %s", h_header(&r, "Server-Timing"));
    ck_assert_msg(strstr(r.body, "\"in_stock\":true"), "%s", r.body);
    h_resp_free(&r);
    /* inventory is public: another user's screen uses the same entry */
    ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", other_token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), 1);
    /* a proxy GET is kept too, and says its Age */
    ck_assert_int_eq(get(&b, "/inventory/SKU-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(h_header(&r, "Age"));
    h_resp_free(&r);
    ck_assert_int_eq(get(&b, "/inventory/SKU-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(h_header(&r, "Age"));
    ck_assert_str_eq(h_header(&r, "Cache-Control"),
                     "public, max-age=5, stale-while-revalidate=10, stale-if-error=300");
    ck_assert_ptr_nonnull(strstr(r.body, "\"sku\":\"SKU-1\""));
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), 2);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(no_store_is_never_kept)
{
    struct h_bff  b;
    struct h_resp r;
    reset();
    ck_assert_int_eq(
        h_fault(&shop, "inventory", "cache_control=no-store,%20max-age=60"), 0);
    start(&b, 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(get(&b, "/inventory/SKU-1", token, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_null(h_header(&r, "Age"));
        h_resp_free(&r);
        ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
        ck_assert_int_eq(r.status, 200);
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), 6);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(a_private_answer_never_reaches_another_user)
{
    struct h_bff  b;
    struct h_resp r;
    reset(); /* users says "private, max-age=60" */
    start(&b, 1);
    ck_assert_int_eq(get(&b, "/users/4412", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "X-Echo-User-Id"), "4412");
    h_resp_free(&r);
    ck_assert_int_eq(get(&b, "/users/4412", other_token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "X-Echo-User-Id"), "9001"); /* its own call */
    ck_assert_ptr_null(h_header(&r, "Age"));
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "users"), 2);
    /* each user's own entry serves that user */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(get(&b, "/users/4412", i ? other_token : token, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(h_header(&r, "X-Echo-User-Id"), i ? "9001" : "4412");
        ck_assert_ptr_nonnull(h_header(&r, "Age"));
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_shop_requests(&shop, "users"), 2);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

struct one_get {
    struct h_bff *b;
    long          status;
};

static void *one_get_main(void *arg)
{
    struct one_get *g = arg;
    struct h_resp   r;
    g->status = get(g->b, "/inventory/SKU-2", token, &r) == 0 ? r.status : -1;
    if (g->status > 0)
        h_resp_free(&r);
    return NULL;
}

START_TEST(concurrent_identical_gets_make_one_call_per_worker)
{
    enum { N = 200 };
    struct h_bff     b;
    static struct one_get g[N];
    pthread_t        t[N];
    reset();
    /* slow enough that all of them miss while the first call runs */
    ck_assert_int_eq(h_fault(&shop, "inventory", "delay_ms=500"), 0);
    start(&b, 2);
    for (int i = 0; i < N; i++) {
        g[i].b = &b;
        ck_assert_int_eq(pthread_create(&t[i], NULL, one_get_main, &g[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(g[i].status, 200);
    }
    long calls = h_shop_requests(&shop, "inventory");
    ck_assert_msg(calls >= 1 && calls <= 2, "%ld calls for %d requests on 2 workers",
                  calls, N);
    /* (the answer says max-age=5 but arrives after 500 ms: every other
     * request missed and waited for the call in flight on its worker) */
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(refused_inventory_is_served_stale)
{
    struct h_bff  b;
    struct h_resp r;
    char          buf[128];
    reset();
    /* stale at once, usable for a minute after a failure */
    ck_assert_int_eq(h_fault(&shop, "inventory",
                             "cache_control=public,%20max-age=0,%20stale-if-error=60"),
                     0);
    start(&b, 1);
    ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_fault(&shop, "inventory", "refuse=1"), 0);
    for (int i = 0; i < 8; i++) { /* refused, then the breaker opens: stale both */
        ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
        ck_assert_int_eq(r.status, 200);
        json_object *j = body_json(&r);
        ck_assert_str_eq(names(j, "stale", buf, sizeof(buf)), "inventory");
        ck_assert_str_eq(names(j, "partial", buf, sizeof(buf)), "");
        ck_assert_msg(strstr(r.body, "{\"sku\":\"SKU-1\",\"name\":\"Kettle\",\"qty\":1,"
                                     "\"in_stock\":true}"),
                      "%s", r.body);
        ck_assert_msg(strstr(h_header(&r, "Server-Timing"), "desc=\"stale\""), "%s",
                      h_header(&r, "Server-Timing"));
        ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
        json_object_put(j);
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(past_stale_if_error_is_partial)
{
    struct h_bff  b;
    struct h_resp r;
    char          buf[128];
    reset();
    ck_assert_int_eq(h_fault(&shop, "inventory",
                             "cache_control=public,%20max-age=0,%20stale-if-error=1"),
                     0);
    start(&b, 1);
    ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_fault(&shop, "inventory", "refuse=1"), 0);
    /* within the second: stale; then partial as without a cache (bounded) */
    int partial = 0, stale = 0;
    for (int i = 0; i < 60 && !partial; i++) {
        ck_assert_int_eq(get(&b, "/v1/order-screen/o-1", token, &r), 0);
        ck_assert_int_eq(r.status, 200);
        json_object *j = body_json(&r);
        if (strcmp(names(j, "partial", buf, sizeof(buf)), "inventory") == 0) {
            partial = 1;
            ck_assert_str_eq(names(j, "stale", buf, sizeof(buf)), "");
            ck_assert_ptr_nonnull(strstr(r.body, "\"in_stock\":null"));
        } else {
            ck_assert_str_eq(names(j, "stale", buf, sizeof(buf)), "inventory");
            stale++;
            sleep_ms(100); /* pacing while the window runs out, not a sync */
        }
        json_object_put(j);
        h_resp_free(&r);
    }
    ck_assert(partial);
    ck_assert_msg(stale >= 1, "no stale answer before the window ran out");
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(stale_while_revalidate_answers_at_once_and_refreshes)
{
    struct h_bff  b;
    struct h_resp r;
    reset();
    ck_assert_int_eq(h_fault(&shop, "inventory",
                             "cache_control=public,%20max-age=1,%20stale-while-revalidate=30"),
                     0);
    start(&b, 1);
    ck_assert_int_eq(get(&b, "/inventory/SKU-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    /* kept answers until it is a second old: then it still answers, and a
     * call of its own refreshes it */
    long age = 0;
    for (int i = 0; i < 50 && age < 1; i++) {
        ck_assert_int_eq(get(&b, "/inventory/SKU-1", token, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(h_header(&r, "Age"));
        age = strtol(h_header(&r, "Age"), NULL, 10);
        h_resp_free(&r);
        if (age < 1)
            sleep_ms(100); /* pacing while the entry ages, not a sync */
    }
    ck_assert_int_ge(age, 1);
    long calls = 1;
    for (int i = 0; i < 100 && calls < 2; i++) { /* the refresh, bounded */
        calls = h_shop_requests(&shop, "inventory");
        if (calls < 2)
            sleep_ms(20);
    }
    ck_assert_int_eq(calls, 2);
    ck_assert_int_eq(get(&b, "/inventory/SKU-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "Age"), "0"); /* the refreshed entry */
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), 2);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(cache_config_errors_have_positions)
{
    char        y[512], cmd[1024];
    const char *bad = "services:\n  inventory:\n    url: http://127.0.0.1:1\n"
                      "    cache: { max_entries: 0, max_bdy: 1KiB }\n"
                      "routes:\n  - { path: /i, service: inventory }\n";
    snprintf(y, sizeof(y), "%s", bad);
    char *f = h_write(dir, "badcache.yaml", y);
    ck_assert_ptr_nonnull(f);
    snprintf(cmd, sizeof(cmd), "%s --check-config --config %s 2>&1; true",
             h_bin("bff-mobile/bff-mobile"), f);
    char *out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "badcache.yaml:4:"), "%s", out);
    ck_assert_msg(strstr(out, "max_bdy"), "%s", out);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, second_order_screen_within_max_age_makes_no_inventory_call);
    tcase_add_test(tc, no_store_is_never_kept);
    tcase_add_test(tc, a_private_answer_never_reaches_another_user);
    tcase_add_test(tc, concurrent_identical_gets_make_one_call_per_worker);
    tcase_add_test(tc, refused_inventory_is_served_stale);
    tcase_add_test(tc, past_stale_if_error_is_partial);
    tcase_add_test(tc, stale_while_revalidate_answers_at_once_and_refreshes);
    tcase_add_test(tc, cache_config_errors_have_positions);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
