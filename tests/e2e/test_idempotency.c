/* tests/e2e/test_idempotency.c — Idempotency-Key end to end: shop-services +
 * bff-mobile with the memory store. Whether a request reached the service
 * is read from the shop's own /stats counters; concurrent duplicates are
 * sent at once (curl multi, one connection each) while the shop holds the
 * first one (delay fault); the assertions are counts, never timings. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <hiredis/hiredis.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include "common.h"
#include "h_redis.h"

static const char   *dir;
static struct h_shop shop;
static struct h_keys keys;
static char         *tok_a, *tok_b;

static const char *yaml_tpl =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 5s, retries: 0 }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 5s, retries: 0 }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 5s }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "idempotency: { store: memory, ttl: @TTL@ }\n"
    "routes:\n"
    "  - path: /orders\n"
    "    service: orders\n"
    "    auth: required\n"
    "    idempotency: required\n"
    "  - path: /echo\n"
    "    service: users\n"
    "    auth: optional\n"
    "    idempotency: optional\n";

static char yaml[2048];

static const char *config(const char *ttl)
{
    const char *at = strstr(yaml_tpl, "@TTL@");
    snprintf(yaml, sizeof(yaml), "%.*s%s%s", (int)(at - yaml_tpl), yaml_tpl, ttl, at + 5);
    return yaml;
}

static void suite_setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    tok_a = h_token(&keys, "4412", "customer", NULL);
    tok_b = h_token(&keys, "4413", "customer", NULL);
    ck_assert_ptr_nonnull(tok_a);
    ck_assert_ptr_nonnull(tok_b);
}

static void suite_teardown(void)
{
    h_stop(&shop.proc);
    free(tok_a);
    free(tok_b);
    h_cleanup_dir(dir);
}

/* One POST with @tok (NULL: none) and Idempotency-Key @key (NULL: none). */
static void post(const struct h_bff *b, const char *path, const char *tok,
                 const char *key, const char *body, struct h_resp *out)
{
    char        kh[300];
    const char *h[4];
    int         n = 0;

    h[n++] = "Content-Type: application/json";
    if (tok)
        h[n++] = h_bearer(tok);
    if (key) {
        snprintf(kh, sizeof(kh), "Idempotency-Key: %s", key);
        h[n++] = kh;
    }
    h[n] = NULL;
    ck_assert_int_eq(h_http("POST", h_bff_url(b, path), h, body, out), 0);
}

/* The value of one series on @b's /metrics, or -1 when it is absent. */
static double metric(const struct h_bff *b, const char *series)
{
    char          u[128];
    struct h_resp r;
    double        v = -1;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", b->admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    const char *p = strstr(r.body, series);
    if (p && p[strlen(series)] == ' ')
        v = strtod(p + strlen(series) + 1, NULL);
    h_resp_free(&r);
    return v;
}

/* ---- concurrent POSTs ----------------------------------------------------------- */

struct res {
    long status;
    int  replayed;
    char body[1024];
};

static size_t on_hdr(char *d, size_t s, size_t n, void *ud)
{
    struct res *r = ud;
    if (s * n >= 20 && strncasecmp(d, "Idempotent-Replayed:", 20) == 0)
        r->replayed = 1;
    return s * n;
}

static size_t on_body(char *d, size_t s, size_t n, void *ud)
{
    struct res *r = ud;
    size_t      have = strlen(r->body), len = s * n;
    if (have + len < sizeof(r->body)) {
        memcpy(r->body + have, d, len);
        r->body[have + len] = '\0';
    }
    return len;
}

/* @n POSTs at once to @u with headers @hl and @body, each on its own
 * connection. */
static void burst(const char *u, struct curl_slist *hl, const char *body, int n,
                  struct res *out)
{
    CURLM *m = curl_multi_init();
    CURL **e = calloc((size_t)n, sizeof(*e));
    int    running = 0;

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(e);
    memset(out, 0, sizeof(*out) * (size_t)n);
    for (int i = 0; i < n; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, u);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e[i], CURLOPT_HEADERFUNCTION, on_hdr);
        curl_easy_setopt(e[i], CURLOPT_HEADERDATA, &out[i]);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &out[i]);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, e[i]);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);
    for (int i = 0; i < n; i++) {
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &out[i].status);
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    free(e);
}

static int count(const struct res *rs, int n, long status)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += rs[i].status == status;
    return c;
}

/* ---- the tests ------------------------------------------------------------------ */

START_TEST(same_post_twice_reaches_the_shop_once)
{
    struct h_bff  b;
    struct h_resp r1, r2;
    const char   *body = "{\"sku\":\"tea-1\",\"qty\":2}";

    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, config("1h"), &shop),
                     0);
    long before = h_shop_requests(&shop, "orders");
    post(&b, "/orders", tok_a, "k-once-1", body, &r1);
    ck_assert_int_eq(r1.status, 201);
    ck_assert_ptr_null(h_header(&r1, "Idempotent-Replayed"));
    char loc1[256];
    snprintf(loc1, sizeof(loc1), "%s", h_header(&r1, "Location"));
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1);

    post(&b, "/orders", tok_a, "k-once-1", body, &r2);
    ck_assert_int_eq(r2.status, 201);
    ck_assert_ptr_nonnull(h_header(&r2, "Idempotent-Replayed"));
    ck_assert_str_eq(h_header(&r2, "Idempotent-Replayed"), "true");
    ck_assert_str_eq(h_header(&r2, "Location"), loc1);
    ck_assert_str_eq(h_header(&r2, "Content-Type"), h_header(&r1, "Content-Type"));
    ck_assert_uint_eq(r2.len, r1.len);
    ck_assert_mem_eq(r2.body, r1.body, r1.len);
    /* the replay has its own request id */
    ck_assert_ptr_nonnull(h_header(&r2, "X-Request-Id"));
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1); /* not again */

    ck_assert(metric(&b, "bff_idempotency_total{route=\"/orders\",result=\"new\"}") == 1);
    ck_assert(metric(&b, "bff_idempotency_total{route=\"/orders\",result=\"replayed\"}") ==
              1);
    h_resp_free(&r1);
    h_resp_free(&r2);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(another_body_is_422_and_another_user_gets_its_own)
{
    struct h_bff  b;
    struct h_resp r1, r2, r3, r4;

    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, config("1h"), &shop),
                     0);
    long before = h_shop_requests(&shop, "orders");
    post(&b, "/orders", tok_a, "k-shared", "{\"sku\":\"a\"}", &r1);
    ck_assert_int_eq(r1.status, 201);
    post(&b, "/orders", tok_a, "k-shared", "{\"sku\":\"b\"}", &r2);
    assert_problem(&r2, 422);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1);
    /* user 4413 with the same key and body: its own order, never 4412's */
    post(&b, "/orders", tok_b, "k-shared", "{\"sku\":\"a\"}", &r3);
    ck_assert_int_eq(r3.status, 201);
    ck_assert_ptr_null(h_header(&r3, "Idempotent-Replayed"));
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 2);
    json_object *j = body_json(&r3);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(jstr(j, "user_id"), "4413");
    json_object_put(j);
    ck_assert_str_ne(h_header(&r3, "Location"), "");
    /* and 4413's repeat is 4413's answer */
    post(&b, "/orders", tok_b, "k-shared", "{\"sku\":\"a\"}", &r4);
    ck_assert_int_eq(r4.status, 201);
    ck_assert_ptr_nonnull(h_header(&r4, "Idempotent-Replayed"));
    ck_assert_uint_eq(r4.len, r3.len);
    ck_assert_mem_eq(r4.body, r3.body, r3.len);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 2);
    ck_assert(metric(&b, "bff_idempotency_total{route=\"/orders\",result=\"mismatch\"}") ==
              1);
    h_resp_free(&r1);
    h_resp_free(&r2);
    h_resp_free(&r3);
    h_resp_free(&r4);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(required_and_missing_is_400_and_bad_keys_too)
{
    struct h_bff  b;
    struct h_resp r;
    char          longkey[300];

    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, config("1h"), &shop),
                     0);
    long before = h_shop_requests(&shop, "orders");
    post(&b, "/orders", tok_a, NULL, "{}", &r);
    assert_problem(&r, 400);
    h_resp_free(&r);
    memset(longkey, 'k', 256);
    longkey[256] = '\0';
    post(&b, "/orders", tok_a, longkey, "{}", &r);
    assert_problem(&r, 400);
    h_resp_free(&r);
    post(&b, "/orders", tok_a, "has space", "{}", &r);
    assert_problem(&r, 400);
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before);
    /* 255 characters are fine */
    longkey[255] = '\0';
    post(&b, "/orders", tok_a, longkey, "{}", &r);
    ck_assert_int_eq(r.status, 201);
    h_resp_free(&r);
    /* an optional route without a key is forwarded as ever, every time */
    long ub = h_shop_requests(&shop, "users");
    post(&b, "/echo", NULL, NULL, "x", &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    post(&b, "/echo", NULL, NULL, "x", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(h_header(&r, "Idempotent-Replayed"));
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "users"), ub + 2);
    /* GET is never held to a key */
    const char *h[] = {h_bearer(tok_a), NULL};
    ck_assert_int_eq(h_http("GET", h_bff_url(&b, "/orders"), h, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(concurrent_duplicates_get_409)
{
    struct h_bff       b;
    static struct res  rs[8];
    struct curl_slist *hl = NULL;

    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, config("1h"), &shop),
                     0);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, h_bearer(tok_a));
    hl = curl_slist_append(hl, "Idempotency-Key: k-concurrent");
    /* the shop holds every order 1.5 s: the duplicates arrive meanwhile */
    ck_assert_int_eq(h_fault(&shop, "orders", "delay_ms=1500"), 0);
    long before = h_shop_requests(&shop, "orders");
    burst(h_bff_url(&b, "/orders"), hl, "{\"sku\":\"c\"}", 8, rs);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    ck_assert_int_eq(count(rs, 8, 201), 1);
    ck_assert_int_eq(count(rs, 8, 409), 7);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1);
    ck_assert(metric(&b, "bff_idempotency_total{route=\"/orders\",result=\"conflict\"}") ==
              7);
    /* once answered, a retry is the replay */
    burst(h_bff_url(&b, "/orders"), hl, "{\"sku\":\"c\"}", 1, rs);
    ck_assert_int_eq(rs[0].status, 201);
    ck_assert_int_eq(rs[0].replayed, 1);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1);
    curl_slist_free_all(hl);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(a_5xx_is_not_kept)
{
    struct h_bff  b;
    struct h_resp r;

    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, config("1h"), &shop),
                     0);
    long before = h_shop_requests(&shop, "orders");
    ck_assert_int_eq(h_fault(&shop, "orders", "error_rate=1&error_status=503"), 0);
    post(&b, "/orders", tok_a, "k-5xx", "{\"sku\":\"e\"}", &r);
    ck_assert_int_eq(r.status, 503);
    h_resp_free(&r);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    post(&b, "/orders", tok_a, "k-5xx", "{\"sku\":\"e\"}", &r);
    ck_assert_int_eq(r.status, 201); /* the retry went through */
    ck_assert_ptr_null(h_header(&r, "Idempotent-Replayed"));
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 2);
    /* a refusal (no token: 401) is not kept either: the same key works after */
    post(&b, "/orders", NULL, "k-refused", "{}", &r);
    assert_problem(&r, 401);
    h_resp_free(&r);
    post(&b, "/orders", tok_a, "k-refused", "{}", &r);
    ck_assert_int_eq(r.status, 201);
    ck_assert_ptr_null(h_header(&r, "Idempotent-Replayed"));
    h_resp_free(&r);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(a_kept_answer_expires_with_its_ttl)
{
    struct h_bff  b;
    struct h_resp r;
    int           replays = 0, fresh = 0;

    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, config("1s"), &shop),
                     0);
    long before = h_shop_requests(&shop, "users");
    post(&b, "/echo", NULL, "k-ttl", "t", &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    /* replayed until the ttl passes, then forwarded again (bounded: 5 s) */
    for (int i = 0; i < 100 && !fresh; i++) {
        post(&b, "/echo", NULL, "k-ttl", "t", &r);
        ck_assert_int_eq(r.status, 200);
        if (h_header(&r, "Idempotent-Replayed"))
            replays++;
        else
            fresh = 1;
        h_resp_free(&r);
        if (!fresh)
            sleep_ms(50); /* pacing the polls */
    }
    ck_assert_int_eq(fresh, 1);
    ck_assert_int_ge(replays, 1);
    ck_assert_int_eq(h_shop_requests(&shop, "users"), before + 2);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(config_errors_name_line_and_column)
{
    char        cmd[1024];
    const char *p = h_write(dir, "bad-idem.yaml",
                            "routes:\n"
                            "  - path: /orders\n"
                            "    service: http://127.0.0.1:1\n"
                            "    idempotency: sometimes\n"
                            "idempotency: { store: memory, ttl: 1h, max_body: lots }\n");
    snprintf(cmd, sizeof(cmd), "%s --check-config --config %s 2>&1; true",
             h_bin("bff-mobile/bff-mobile"), p);
    char *out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "bad-idem.yaml:4:18:"), "%s", out);
    ck_assert_msg(strstr(out, "bad-idem.yaml:5:"), "%s", out);
    free(out);
}
END_TEST

/* ---- Redis ------------------------------------------------------------------- */

static char redis_yaml[4096];

static const char *redis_config(int port, const char *on_error)
{
    snprintf(redis_yaml, sizeof(redis_yaml),
             "listen: 127.0.0.1:%%1$d\n"
             "admin_listen: 127.0.0.1:%%2$d\n"
             "workers: 2\n"
             "services:\n"
             "  users: { url: \"http://127.0.0.1:%%3$d\", timeout: 5s, retries: 0 }\n"
             "  orders: { url: \"http://127.0.0.1:%%4$d\", timeout: 5s, retries: 0 }\n"
             "  inventory: { url: \"http://127.0.0.1:%%5$d\", timeout: 5s }\n"
             "auth:\n"
             "  jwt:\n"
             "    jwks_file: @DIR@/jwks.json\n"
             "    algorithms: [ES256]\n"
             "rate_limit: { store: \"redis://127.0.0.1:%d/3\" }\n"
             "idempotency:\n"
             "  store: redis://127.0.0.1:%d/3\n"
             "  ttl: 1h\n"
             "  on_store_error: %s\n"
             "  store_timeout: 500ms\n"
             "routes:\n"
             "  - path: /orders\n"
             "    service: orders\n"
             "    auth: required\n"
             "    idempotency: required\n",
             port, port, on_error);
    return redis_yaml;
}

/* Keys of kept answers and claims in db @db. */
static long redis_keys(int port, int db)
{
    redisContext *c = redis_connect(port);
    long          n = -1;
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, "SELECT %d", db);
    freeReplyObject(r);
    r = redisCommand(c, "KEYS portico:idem:*");
    if (r && r->type == REDIS_REPLY_ARRAY)
        n = (long)r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

START_TEST(two_instances_sharing_redis_forward_one_of_50_duplicates)
{
    struct redis       rd = {0};
    struct h_bff       b1, b2;
    static struct res  rs[50];
    struct curl_slist *hl = NULL;

    redis_start(&rd, dir);
    const char *cfg = redis_config(rd.port, "deny");
    ck_assert_int_eq(h_bff_start(&b1, "bff-mobile/bff-mobile", dir, cfg, &shop), 0);
    ck_assert_int_eq(h_bff_start(&b2, "bff-mobile/bff-mobile", dir, cfg, &shop), 0);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, h_bearer(tok_a));
    hl = curl_slist_append(hl, "Idempotency-Key: k-fleet-50");

    /* 25 to each instance at once, while the shop holds the one it gets */
    ck_assert_int_eq(h_fault(&shop, "orders", "delay_ms=1500"), 0);
    long        before = h_shop_requests(&shop, "orders");
    const char *u1 = h_bff_url(&b1, "/orders"), *u2 = h_bff_url(&b2, "/orders");
    /* one multi handle, alternating instances */
    CURLM *m = curl_multi_init();
    CURL  *e[50];
    int    running = 0;
    memset(rs, 0, sizeof(rs));
    for (int i = 0; i < 50; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, i % 2 ? u2 : u1);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, "{\"sku\":\"fleet\"}");
        curl_easy_setopt(e[i], CURLOPT_HEADERFUNCTION, on_hdr);
        curl_easy_setopt(e[i], CURLOPT_HEADERDATA, &rs[i]);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &rs[i]);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, e[i]);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);
    for (int i = 0; i < 50; i++) {
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &rs[i].status);
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    ck_assert_int_eq(count(rs, 50, 201), 1);
    ck_assert_int_eq(count(rs, 50, 409), 49);
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1);
    const char *first = NULL;
    for (int i = 0; i < 50; i++)
        if (rs[i].status == 201)
            first = rs[i].body;
    ck_assert_ptr_nonnull(first);

    /* the answer is kept in Redis: either instance replays it */
    struct h_resp r;
    for (int k = 0; k < 2; k++) {
        post(k ? &b2 : &b1, "/orders", tok_a, "k-fleet-50", "{\"sku\":\"fleet\"}", &r);
        ck_assert_int_eq(r.status, 201);
        ck_assert_ptr_nonnull(h_header(&r, "Idempotent-Replayed"));
        ck_assert_str_eq(r.body, first);
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_shop_requests(&shop, "orders"), before + 1);
    ck_assert_int_eq(redis_keys(rd.port, 3), 1);
    ck_assert_int_eq(redis_keys(rd.port, 0), 0);
    double c1 = metric(&b1, "bff_idempotency_total{route=\"/orders\",result=\"conflict\"}");
    double c2 = metric(&b2, "bff_idempotency_total{route=\"/orders\",result=\"conflict\"}");
    ck_assert(c1 + c2 == 49);
    curl_slist_free_all(hl);
    ck_assert_int_eq(h_stop(&b1.proc), 0);
    ck_assert_int_eq(h_stop(&b2.proc), 0);
    redis_stop(&rd);
}
END_TEST

/* Sequential POSTs with fresh keys; counts by status. */
struct tally {
    int sent, created, replayed, unavailable, other;
};

static void send_fresh(const struct h_bff *b, const char *tag, int n, struct tally *t)
{
    for (int i = 0; i < n; i++) {
        char          key[64];
        struct h_resp r;
        snprintf(key, sizeof(key), "k-%s-%d", tag, i);
        post(b, "/orders", tok_a, key, "{\"sku\":\"kill\"}", &r);
        t->sent++;
        if (r.status == 201 && h_header(&r, "Idempotent-Replayed"))
            t->replayed++;
        else if (r.status == 201)
            t->created++;
        else if (r.status == 503)
            t->unavailable++;
        else
            t->other++;
        h_resp_free(&r);
    }
}

static void redis_killed_mid_run(const char *on_error)
{
    struct redis rd = {0};
    struct h_bff b;
    struct tally up = {0}, down = {0}, back = {0}, again = {0};
    int          deny = strcmp(on_error, "deny") == 0;

    redis_start(&rd, dir);
    ck_assert_int_eq(
        h_bff_start(&b, "bff-mobile/bff-mobile", dir, redis_config(rd.port, on_error), &shop),
        0);
    long s0 = h_shop_requests(&shop, "orders");
    send_fresh(&b, on_error, 50, &up); /* Redis up: every one new */
    ck_assert_int_eq(up.created, 50);
    long s1 = h_shop_requests(&shop, "orders");
    ck_assert_int_eq(s1 - s0, 50);

    redis_stop_keeping_port(&rd); /* killed mid-run */
    send_fresh(&b, on_error, 50, &again); /* the same keys, Redis gone */
    char tag[32];
    snprintf(tag, sizeof(tag), "%s-down", on_error);
    send_fresh(&b, tag, 50, &down); /* new keys, Redis gone */
    long s2 = h_shop_requests(&shop, "orders");
    if (deny) {
        /* nothing reaches the shop: 503 + Retry-After, the client retries */
        ck_assert_int_eq(again.unavailable, 50);
        ck_assert_int_eq(down.unavailable, 50);
        ck_assert_int_eq(s2, s1);
    } else {
        /* forwarded unprotected, not kept */
        ck_assert_int_eq(again.created + down.created, 100);
        ck_assert_int_eq(s2 - s1, 100);
    }
    double se = metric(&b, "bff_idempotency_total{route=\"/orders\",result=\"store_error\"}");
    ck_assert(se == 100);

    /* Redis back (empty: nothing persisted): claims work again by themselves */
    redis_start(&rd, dir);
    /* every worker has its connection back once 10 probes in a row were
     * claims (no store error counted): bounded, 200 probes */
    int         streak = 0;
    const char *se_name = "bff_idempotency_total{route=\"/orders\",result=\"store_error\"}";
    for (int i = 0; i < 200 && streak < 10; i++) {
        struct tally t = {0};
        char         k[32];
        double       se0 = metric(&b, se_name);
        snprintf(k, sizeof(k), "%s-probe%d", on_error, i);
        send_fresh(&b, k, 1, &t);
        if (t.created == 1 && metric(&b, se_name) == se0) {
            streak++;
        } else {
            streak = 0;
            sleep_ms(50); /* pacing the probes */
        }
    }
    ck_assert_int_eq(streak, 10);
    snprintf(tag, sizeof(tag), "%s-back", on_error);
    send_fresh(&b, tag, 50, &back);
    ck_assert_int_eq(back.created, 50);
    send_fresh(&b, tag, 50, &back); /* and they are kept again */
    ck_assert_msg(back.replayed == 50, "back: %d created, %d replayed, %d 503, %d other",
                  back.created, back.replayed, back.unavailable, back.other);
    fprintf(stderr,
            "idempotency, Redis killed mid-run, on_store_error %s: up: %d sent, %d created; "
            "down (same keys): %d sent, %d created, %d replayed, %d 503, %d other; "
            "down (new keys): %d sent, %d created, %d 503, %d other; shop reached "
            "while down: %ld; back: %d sent, %d created, %d replayed\n",
            on_error, up.sent, up.created, again.sent, again.created, again.replayed,
            again.unavailable, again.other, down.sent, down.created, down.unavailable,
            down.other, s2 - s1, back.sent, back.created, back.replayed);
    ck_assert_int_eq(h_stop(&b.proc), 0);
    redis_stop(&rd);
}

START_TEST(redis_killed_mid_run_deny)
{
    redis_killed_mid_run("deny");
}
END_TEST

START_TEST(redis_killed_mid_run_allow)
{
    redis_killed_mid_run("allow");
}
END_TEST

/* ---- Redis killed under load ------------------------------------------------- */

/* Keyed POSTs one after another from a thread, each with a fresh key
 * and, every third, a repeat of the one before (the client's retry). */
struct hammer {
    const char *url, *auth, *tag;
    _Atomic int stop;
    _Atomic int sent, created, replayed, unavailable, conflict, other;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    char           key[96], kh[128];
    int            n = 0;

    while (!atomic_load(&h->stop)) {
        if (n % 3 != 2)
            snprintf(key, sizeof(key), "k-%s-load-%d", h->tag, n);
        n++;
        snprintf(kh, sizeof(kh), "Idempotency-Key: %s", key);
        const char   *hd[] = {"Content-Type: application/json", h->auth, kh, NULL};
        struct h_resp r;
        if (h_http("POST", h->url, hd, "{\"sku\":\"load\"}", &r) != 0) {
            atomic_fetch_add(&h->other, 1);
            continue;
        }
        atomic_fetch_add(&h->sent, 1);
        if (r.status == 201 && h_header(&r, "Idempotent-Replayed"))
            atomic_fetch_add(&h->replayed, 1);
        else if (r.status == 201)
            atomic_fetch_add(&h->created, 1);
        else if (r.status == 503)
            atomic_fetch_add(&h->unavailable, 1);
        else if (r.status == 409)
            atomic_fetch_add(&h->conflict, 1); /* the repeat beat the kept answer */
        else
            atomic_fetch_add(&h->other, 1);
        h_resp_free(&r);
    }
    return NULL;
}

/* Waits (bounded: 30 s) until *@v reaches @want. */
static void wait_count(_Atomic int *v, int want, const char *what)
{
    for (int i = 0; i < 3000 && atomic_load(v) < want; i++)
        sleep_ms(10); /* polling a counter, bounded */
    ck_assert_msg(atomic_load(v) >= want, "waited for %d %s, got %d", want, what,
                  atomic_load(v));
}

static void redis_killed_under_load(const char *on_error)
{
    struct redis  rd = {0};
    struct h_bff  b;
    struct hammer h = {0};
    pthread_t     th;
    char          auth[4096], tag[32];
    int           deny = strcmp(on_error, "deny") == 0;

    redis_start(&rd, dir);
    ck_assert_int_eq(
        h_bff_start(&b, "bff-mobile/bff-mobile", dir, redis_config(rd.port, on_error), &shop),
        0);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok_a);
    snprintf(tag, sizeof(tag), "%s-%d", on_error, (int)getpid());
    h.url = h_bff_url(&b, "/orders");
    h.auth = auth;
    h.tag = tag;
    long s0 = h_shop_requests(&shop, "orders");
    ck_assert_int_eq(pthread_create(&th, NULL, hammer_main, &h), 0);
    wait_count(&h.sent, 100, "answers before the kill");
    redis_stop_keeping_port(&rd); /* killed with requests running */
    int at_kill = atomic_load(&h.sent);
    if (deny)
        wait_count(&h.unavailable, 100, "503s while Redis is down");
    else
        wait_count(&h.sent, at_kill + 100, "answers while Redis is down");
    redis_start(&rd, dir); /* back, empty */
    wait_count(&h.replayed, atomic_load(&h.replayed) + 30, "replays after Redis is back");
    atomic_store(&h.stop, 1);
    pthread_join(th, NULL);
    long reached = h_shop_requests(&shop, "orders") - s0;
    fprintf(stderr,
            "idempotency, Redis killed under load, on_store_error %s: %d sent "
            "(%d before the kill), %d created, %d replayed, %d 503, %d 409, %d other; "
            "the shop reached %ld times\n",
            on_error, atomic_load(&h.sent), at_kill, atomic_load(&h.created),
            atomic_load(&h.replayed), atomic_load(&h.unavailable), atomic_load(&h.conflict),
            atomic_load(&h.other), reached);
    ck_assert_int_eq(atomic_load(&h.other), 0);
    /* every answer created once reached the shop once; replays and 503s never */
    ck_assert_int_eq(reached, atomic_load(&h.created));
    if (!deny)
        ck_assert_int_eq(atomic_load(&h.unavailable), 0);
    ck_assert_int_eq(h_stop(&b.proc), 0);
    redis_stop(&rd);
}

START_TEST(redis_killed_under_load_deny)
{
    redis_killed_under_load("deny");
}
END_TEST

START_TEST(redis_killed_under_load_allow)
{
    redis_killed_under_load("allow");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_idempotency");
    TCase *mem = tcase_create("memory");

    tcase_add_unchecked_fixture(mem, suite_setup, suite_teardown);
    tcase_set_timeout(mem, 120);
    tcase_add_test(mem, same_post_twice_reaches_the_shop_once);
    tcase_add_test(mem, another_body_is_422_and_another_user_gets_its_own);
    tcase_add_test(mem, required_and_missing_is_400_and_bad_keys_too);
    tcase_add_test(mem, concurrent_duplicates_get_409);
    tcase_add_test(mem, a_5xx_is_not_kept);
    tcase_add_test(mem, a_kept_answer_expires_with_its_ttl);
    tcase_add_test(mem, config_errors_name_line_and_column);
    suite_add_tcase(s, mem);
    TCase *red = tcase_create("redis");
    tcase_add_unchecked_fixture(red, suite_setup, suite_teardown);
    tcase_set_timeout(red, 180);
    tcase_add_test(red, two_instances_sharing_redis_forward_one_of_50_duplicates);
    tcase_add_test(red, redis_killed_mid_run_deny);
    tcase_add_test(red, redis_killed_mid_run_allow);
    tcase_add_test(red, redis_killed_under_load_deny);
    tcase_add_test(red, redis_killed_under_load_allow);
    suite_add_tcase(s, red);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
