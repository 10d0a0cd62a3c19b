/* tests/e2e/test_agg.c — aggregation endpoints end to end: the mobile order
 * screen and the web order details against shop-services, with faults */
#include "common.h"

static const char *dir;
static struct h_shop  shop;
static struct h_bff   mobile, web;
static struct h_keys  keys;
static char          *token, *support_token;

static const char *services_yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 800ms,\n"
    "           health_check: { path: /healthz, interval: 100ms } }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 800ms,\n"
    "            health_check: { path: /healthz, interval: 100ms } }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 300ms,\n"
    "               health_check: { path: /healthz, interval: 100ms } }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "routes:\n";

static void setup(void)
{
    char y[4096];
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    snprintf(y, sizeof(y),
             "%s  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
             "    auth: required\n    roles: [customer, support]\n    timeout: 2s\n",
             services_yaml);
    ck_assert_int_eq(h_bff_start(&mobile, "bff-mobile/bff-mobile", dir, y, &shop), 0);
    snprintf(y, sizeof(y),
             "%s  - path: /api/orders/{id}\n    handler: order_details\n"
             "    auth: required\n    timeout: 2s\n",
             services_yaml);
    ck_assert_int_eq(h_bff_start(&web, "bff-web/bff-web", dir, y, &shop), 0);
    token = h_token(&keys, "4412", "customer", NULL);
    support_token = h_token(&keys, "9001", "support", NULL);
    ck_assert_ptr_nonnull(token);
    ck_assert_ptr_nonnull(support_token);
}

static void teardown(void)
{
    ck_assert_int_eq(h_stop(&mobile.proc), 0);
    ck_assert_int_eq(h_stop(&web.proc), 0);
    h_stop(&shop.proc);
    free(token);
    free(support_token);
    h_cleanup_dir(dir);
}

/* Clears every fault and waits (bounded) until both BFFs report every service
 * up again: a refused connection marks a service down until its health check
 * passes. */
static void recover(void)
{
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/reset", shop.control);
    ck_assert_int_eq(h_http("POST", u, NULL, "", &r), 0);
    h_resp_free(&r);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", mobile.admin);
    ck_assert_int_eq(h_wait_status(u, 200, 10000), 0);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", web.admin);
    ck_assert_int_eq(h_wait_status(u, 200, 10000), 0);
}

static int get(struct h_bff *b, const char *path, const char *tok, struct h_resp *r)
{
    char u[512], auth[4096];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", b->port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *hdrs[] = {auth, NULL};
    return h_http("GET", u, hdrs, NULL, r);
}

START_TEST(order_screen_has_the_spec_shape)
{
    struct h_resp r;
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r);
    ck_assert_ptr_nonnull(j);
    json_object *expect = json_tokener_parse(
        "{\"order\":{\"id\":\"o-1\",\"status\":\"paid\",\"total_cents\":4599,"
        "\"currency\":\"EUR\"},\"customer\":{\"name\":\"Ada Lovelace\"},"
        "\"items\":[{\"sku\":\"SKU-1\",\"name\":\"Kettle\",\"qty\":1,\"in_stock\":true},"
        "{\"sku\":\"SKU-2\",\"name\":\"Mug\",\"qty\":2,\"in_stock\":true}],"
        "\"partial\":[],\"stale\":[]}");
    ck_assert_msg(json_object_equal(j, expect), "got %s", r.body);
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    const char *st = h_header(&r, "Server-Timing");
    ck_assert_ptr_nonnull(st);
    ck_assert_ptr_nonnull(strstr(st, "orders;dur="));
    ck_assert_ptr_nonnull(strstr(st, "users;dur="));
    ck_assert_ptr_nonnull(strstr(st, "inventory;dur="));
    /* each dur is milliseconds with one decimal: "orders;dur=0.4, users;..." */
    for (const char *d = strstr(st, "dur="); d; d = strstr(d + 1, "dur=")) {
        const char *p = d + 4;
        ck_assert_msg(*p >= '0' && *p <= '9', "dur in %s", st);
        while (*p >= '0' && *p <= '9')
            p++;
        ck_assert_msg(p[0] == '.' && p[1] >= '0' && p[1] <= '9' &&
                          (p[2] == ',' || p[2] == ';' || p[2] == '\0'),
                      "dur in %s", st);
    }
    json_object_put(expect);
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(slow_optional_part_is_partial)
{
    struct h_resp r;
    ck_assert_int_eq(h_fault(&shop, "inventory", "delay_ms=900"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "inventory", ""), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r);
    json_object *partial, *items;
    ck_assert(json_object_object_get_ex(j, "partial", &partial));
    ck_assert_int_eq((int)json_object_array_length(partial), 1);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(partial, 0)),
                     "inventory");
    ck_assert_str_eq(jstr(j, "customer.name"), "Ada Lovelace");
    ck_assert_str_eq(jstr(j, "order.status"), "paid");
    ck_assert(json_object_object_get_ex(j, "items", &items));
    ck_assert_int_eq((int)json_object_array_length(items), 2);
    json_object *in_stock = (json_object *)1;
    json_object_object_get_ex(json_object_array_get_idx(items, 0), "in_stock", &in_stock);
    ck_assert_ptr_null(in_stock);
    ck_assert_ptr_nonnull(strstr(h_header(&r, "Server-Timing"), "inventory;dur="));
    ck_assert_ptr_nonnull(strstr(h_header(&r, "Server-Timing"), "desc=\"timeout\""));
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(dead_required_part_fails_the_request)
{
    struct h_resp r;
    ck_assert_int_eq(h_fault(&shop, "orders", "refuse=1"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    recover();
    /* refused (502), unless the 100 ms health check saw the refusal first and
     * marked orders down (503 + Retry-After): both are the documented answer
     * (docs/resilience.md) to a required service that refuses connections */
    if (r.status == 503) {
        assert_problem(&r, 503);
        ck_assert_ptr_nonnull(h_header(&r, "Retry-After"));
        ck_assert_ptr_nonnull(strstr(r.body, "orders is not called: service down"));
    } else {
        assert_problem(&r, 502);
        ck_assert_ptr_nonnull(strstr(r.body, "orders refused the connection"));
    }
    h_resp_free(&r);

    ck_assert_int_eq(h_fault(&shop, "orders", "error_rate=1&error_status=503"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    recover();
    assert_problem(&r, 502);
    h_resp_free(&r);

    ck_assert_int_eq(h_fault(&shop, "orders", "malformed=1"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    recover();
    assert_problem(&r, 502);
    h_resp_free(&r);

    /* and it recovers by itself */
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
}
END_TEST

START_TEST(unknown_or_foreign_order_is_404)
{
    struct h_resp r;
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-999", token, &r), 0);
    assert_problem(&r, 404);
    ck_assert_int_eq(h_schema_valid("problem.schema.json", r.body), 0);
    h_resp_free(&r);
}
END_TEST

START_TEST(missing_role_is_403)
{
    char *t = h_token(&keys, "4412", "guest", NULL);
    struct h_resp r;
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", t, &r), 0);
    assert_problem(&r, 403);
    h_resp_free(&r);
    free(t);
}
END_TEST

START_TEST(web_order_details_are_whole)
{
    struct h_resp r;
    ck_assert_int_eq(get(&web, "/api/orders/o-1", support_token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r);
    ck_assert_str_eq(jstr(j, "order.id"), "o-1");
    ck_assert_str_eq(jstr(j, "order.created_at"), "2024-03-04T05:06:07Z");
    ck_assert_str_eq(jstr(j, "customer.email"), "ada@example.com");
    json_object *items, *timings, *partial;
    ck_assert(json_object_object_get_ex(j, "items", &items));
    json_object *first = json_object_array_get_idx(items, 0);
    ck_assert_str_eq(jstr(first, "sku"), "SKU-1");
    ck_assert_str_eq(jstr(first, "inventory.warehouse"), "BER-1");
    json_object *price;
    ck_assert(json_object_object_get_ex(first, "price_cents", &price));
    ck_assert_int_eq(json_object_get_int(price), 2999);
    json_object *meta;
    ck_assert(json_object_object_get_ex(j, "meta", &meta));
    ck_assert(json_object_object_get_ex(meta, "timings", &timings));
    ck_assert(json_object_object_get_ex(timings, "orders", NULL));
    ck_assert(json_object_object_get_ex(timings, "users", NULL));
    ck_assert(json_object_object_get_ex(timings, "inventory", NULL));
    ck_assert(json_object_object_get_ex(j, "partial", &partial));
    ck_assert_int_eq((int)json_object_array_length(partial), 0);
    ck_assert_int_eq(h_schema_valid("bff-web.order-details.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(web_marks_missing_customer)
{
    struct h_resp r;
    ck_assert_int_eq(h_fault(&shop, "users", "refuse=1"), 0);
    ck_assert_int_eq(get(&web, "/api/orders/o-1", support_token, &r), 0);
    recover();
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r), *partial, *customer = (json_object *)1;
    ck_assert(json_object_object_get_ex(j, "partial", &partial));
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(partial, 0)), "users");
    json_object_object_get_ex(j, "customer", &customer);
    ck_assert_ptr_null(customer);
    ck_assert_int_eq(h_schema_valid("bff-web.order-details.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_agg");
    TCase *tc = tcase_create("agg");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, order_screen_has_the_spec_shape);
    tcase_add_test(tc, slow_optional_part_is_partial);
    tcase_add_test(tc, dead_required_part_fails_the_request);
    tcase_add_test(tc, unknown_or_foreign_order_is_404);
    tcase_add_test(tc, missing_role_is_403);
    tcase_add_test(tc, web_order_details_are_whole);
    tcase_add_test(tc, web_marks_missing_customer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
