/* tests/e2e/test_resilience.c — deadlines, circuit breakers, bulkheads,
 * retries with a budget, health checks and clients that leave, end to end:
 * shop-services with fault injection + bff-mobile.
 *
 * Every test starts its own shop and gateway (its own config), so that no
 * breaker, budget or napping shop request leaks from one test into the
 * next. Assertions are on counts and states: the shop's /stats counters and
 * the gateway's /readyz and /admin/resilience. Waiting is polling with a
 * bound, never a sleep that stands for synchronization. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char   *dir;
static struct h_shop shop;
static struct h_bff  bff;
static struct h_keys keys;
static char         *token;
static char          auth_hdr[4096];

/* ---- set-up ------------------------------------------------------------------ */

static const char *head = "listen: 127.0.0.1:%1$d\n"
                          "admin_listen: 127.0.0.1:%2$d\n"
                          "workers: 2\n"
                          "drain_timeout: 1s\n"
                          "auth:\n"
                          "  jwt:\n"
                          "    jwks_file: @DIR@/jwks.json\n"
                          "    algorithms: [ES256]\n";

/* Proxy routes to each shop service's /echo (which answers any method):
 * /u/echo -> users, /o/echo -> orders, /i/... -> inventory. */
static const char *proxy_routes =
    "  - path: /u\n    service: users\n    strip_prefix: true\n"
    "    methods: [GET, HEAD, POST, PUT, DELETE]\n"
    "  - path: /o\n    service: orders\n    strip_prefix: true\n"
    "  - path: /i\n    service: inventory\n    strip_prefix: true\n";

static void stop_all(void)
{
    if (bff.proc.pid > 0)
        h_stop(&bff.proc);
    if (shop.proc.pid > 0)
        h_stop(&shop.proc);
    if (dir)
        h_cleanup_dir(dir);
    dir = NULL;
}

/* Starts the shop and a bff-mobile with @services (a services: block) and
 * @routes (route items) after the common head. A failing assertion exits
 * the test's process: atexit stops what it started. */
static void start(const char *services, const char *routes)
{
    static int registered;
    char       yaml[8192];

    if (!registered) {
        atexit(stop_all);
        registered = 1;
    }
    memset(&shop, 0, sizeof(shop));
    memset(&bff, 0, sizeof(bff));
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    token = h_token(&keys, "4412", "customer", NULL);
    ck_assert_ptr_nonnull(token);
    snprintf(auth_hdr, sizeof(auth_hdr), "Authorization: Bearer %s", token);
    /* the template keeps its %N$d for h_bff_start: join, do not format */
    yaml[0] = '\0';
    strcat(yaml, head);
    strcat(yaml, "services:\n");
    strcat(yaml, services);
    strcat(yaml, "routes:\n");
    strcat(yaml, routes);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);
}

/* Stops the gateway (it must exit 0: no leak, no crash under ASan) and the shop. */
static void finish(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    h_stop(&shop.proc);
    free(token);
    token = NULL;
    h_cleanup_dir(dir);
    dir = NULL;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls @cond every 20 ms for at most @ms; evaluates to its last value. */
#define POLL(cond, ms)                                                                 \
    ({                                                                                 \
        int ok_ = 0;                                                                   \
        for (int t_ = 0; t_ <= (ms) && !(ok_ = (cond)); t_ += 20)                      \
            nap_ms(20);                                                                \
        ok_;                                                                           \
    })

/* ---- talking to the gateway and the shop -------------------------------------- */

static char *url(const char *path)
{
    static char u[8][512];
    static int  i;
    char       *p = u[i++ % 8];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", bff.port, path);
    return p;
}

static long req(const char *method, const char *path, int with_token, struct h_resp *r)
{
    const char   *hdrs[] = {with_token ? auth_hdr : NULL, NULL};
    struct h_resp tmp, *out = r ? r : &tmp;
    ck_assert_int_eq(
        h_http(method, url(path), hdrs, strcmp(method, "GET") ? "x" : NULL, out), 0);
    long st = out->status;
    if (!r)
        h_resp_free(&tmp);
    return st;
}

static long get(const char *path, struct h_resp *r)
{
    return req("GET", path, 1, r);
}

static json_object *fetch_json(const char *u, long *status)
{
    struct h_resp r;
    if (h_http("GET", u, NULL, NULL, &r) != 0) {
        h_resp_free(&r);
        return NULL;
    }
    if (status)
        *status = r.status;
    json_object *j = json_tokener_parse(r.body);
    h_resp_free(&r);
    return j;
}

static json_object *at(json_object *o, const char *path)
{
    char  buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, k, &o))
            return NULL;
    return o;
}

/* A number from the gateway's GET /admin/resilience ("services.users.in_flight",
 * "clients_gone"); -1 when missing. */
static long gw(const char *path)
{
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/resilience", bff.admin);
    json_object *j = fetch_json(u, NULL), *v = at(j, path);
    long         n = v ? (long)json_object_get_int64(v) : -1;
    json_object_put(j);
    return n;
}

/* The circuit state of @svc as the gateway reports it. */
static int circuit_is(const char *svc, const char *state)
{
    char u[128], p[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/resilience", bff.admin);
    snprintf(p, sizeof(p), "services.%s.circuit", svc);
    json_object *j = fetch_json(u, NULL), *v = at(j, p);
    int          ok = v && !strcmp(json_object_get_string(v), state);
    json_object_put(j);
    return ok;
}

/* GET /readyz: its status, and its body in @body (caller frees) when wanted. */
static long readyz(char **body)
{
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", bff.admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    long st = r.status;
    if (body)
        *body = strdup(r.body);
    h_resp_free(&r);
    return st;
}

/* A number from the shop's GET /stats/@svc ("requests", "in_flight",
 * "max_in_flight", "healthz"). */
static long shop_stat(const char *svc, const char *key)
{
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/stats/%s", shop.control, svc);
    json_object *j = fetch_json(u, NULL), *v = at(j, key);
    long         n = v ? (long)json_object_get_int64(v) : -1;
    json_object_put(j);
    return n;
}

static void fault(const char *svc, const char *q)
{
    ck_assert_int_eq(h_fault(&shop, svc, q), 0);
}

/* The entries of the JSON array at @key of @j, comma-joined, in @out. */
static const char *list(json_object *j, const char *key, char *out, size_t cap)
{
    json_object *a = at(j, key);
    out[0] = '\0';
    for (size_t i = 0; a && i < json_object_array_length(a); i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "",
                 json_object_get_string(json_object_array_get_idx(a, i)));
    return out;
}

/* ---- many requests at once (a thread with a curl multi handle) ----------------- */

#define BURST_MAX 600

struct burst {
    char      path[256];
    int       n;
    int       with_token;
    long      status[BURST_MAX];
    pthread_t thread;
};

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static void *burst_main(void *arg)
{
    struct burst      *b = arg;
    CURLM             *m = curl_multi_init();
    CURL              *e[BURST_MAX];
    struct curl_slist *hl = b->with_token ? curl_slist_append(NULL, auth_hdr) : NULL;
    int                running = 0;

    for (int i = 0; i < b->n; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url(b->path));
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e[i], CURLOPT_PRIVATE, (char *)(intptr_t)i);
        curl_multi_add_handle(m, e[i]);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    CURLMsg *msg;
    int      left;
    while ((msg = curl_multi_info_read(m, &left))) {
        char *idx = NULL;
        long  st = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &idx);
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
        b->status[(intptr_t)idx] = st;
    }
    for (int i = 0; i < b->n; i++) {
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_slist_free_all(hl);
    curl_multi_cleanup(m);
    return NULL;
}

static void burst_start(struct burst *b, const char *path, int n, int with_token)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->path, sizeof(b->path), "%s", path);
    b->n = n;
    b->with_token = with_token;
    ck_assert_int_eq(pthread_create(&b->thread, NULL, burst_main, b), 0);
}

static int burst_count(struct burst *b, long status)
{
    int n = 0;
    for (int i = 0; i < b->n; i++)
        n += b->status[i] == status;
    return n;
}

/* ---- 1. deadlines ------------------------------------------------------------- */

/* The motivating scenario: inventory is slow (900 ms) behind a 300 ms
 * service timeout and a 1 s route deadline. The order screen still answers
 * 200 with what it has; users and orders are whole. */
START_TEST(motivating_scenario_is_partial_not_late)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\", timeout: 800ms }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 800ms }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 300ms }\n",
          "  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
          "    auth: required\n    timeout: 1s\n");
    fault("inventory", "delay_ms=900");

    struct h_resp r;
    ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 200);
    json_object *j = body_json(&r);
    char         l[256];
    ck_assert_str_eq(list(j, "partial", l, sizeof(l)), "inventory");
    ck_assert_str_eq(jstr(j, "customer.name"), "Ada Lovelace");
    ck_assert_str_eq(jstr(j, "order.id"), "o-1");
    ck_assert_str_eq(jstr(j, "order.status"), "paid");
    ck_assert_str_eq(jstr(j, "order.currency"), "EUR");
    ck_assert_int_eq(json_object_get_int(at(j, "order.total_cents")), 4599);
    json_object *items = at(j, "items");
    ck_assert_int_eq((int)json_object_array_length(items), 2);
    ck_assert_str_eq(jstr(json_object_array_get_idx(items, 0), "name"), "Kettle");
    ck_assert_ptr_null(at(json_object_array_get_idx(items, 0), "in_stock"));
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    ck_assert_ptr_nonnull(strstr(h_header(&r, "Server-Timing"), "desc=\"timeout\""));
    json_object_put(j);
    h_resp_free(&r);

    /* one inventory call and one retry (inside the deadline), both cut at
     * 300 ms; users and orders once each */
    ck_assert_int_eq(shop_stat("inventory", "requests"), 2);
    ck_assert_int_eq(shop_stat("users", "requests"), 1);
    ck_assert_int_eq(shop_stat("orders", "requests"), 1);
    ck_assert_int_eq(gw("services.inventory.calls.timeout"), 2);
    ck_assert_int_eq(gw("services.inventory.calls.retried"), 1);
    ck_assert_int_eq(gw("services.inventory.in_flight"), 0);
    finish();
}
END_TEST

/* One deadline for the whole fan-out: each call gets the smaller of its own
 * timeout and what is left. A required call past it is 504. A timed-out
 * call's connection is never reused (the late answer is not read). */
START_TEST(deadline_cuts_calls_and_timed_out_connections_are_dropped)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\", timeout: 2s }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 300ms }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 2s }\n",
          "  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
          "    auth: required\n    timeout: 500ms\n");

    /* users may take 2 s, the route only 500 ms: users is cut, and partial */
    fault("users", "delay_ms=1500");
    struct h_resp r;
    ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 200);
    json_object *j = body_json(&r);
    char         l[256];
    ck_assert_str_eq(list(j, "partial", l, sizeof(l)), "users");
    ck_assert_str_eq(jstr(j, "order.status"), "paid");
    json_object_put(j);
    h_resp_free(&r);
    ck_assert_int_eq(shop_stat("users", "requests"), 1); /* no time left to retry */
    fault("users", "");

    /* orders (required) slower than its 300 ms: 504, after one retry */
    fault("orders", "delay_ms=900");
    ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 504);
    assert_problem(&r, 504);
    h_resp_free(&r);
    ck_assert_int_eq(shop_stat("orders", "requests"), 3);
    fault("orders", "");

    /* the next answers are the right ones: no stale o-1 read off a reused
     * connection */
    ck_assert_int_eq(get("/v1/order-screen/o-2", &r), 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "order.id"), "o-2");
    ck_assert_str_eq(list(j, "partial", l, sizeof(l)), "");
    json_object_put(j);
    h_resp_free(&r);
    ck_assert_int_eq(gw("services.orders.in_flight"), 0);
    ck_assert_int_eq(gw("services.users.in_flight"), 0);
    finish();
}
END_TEST

/* ---- 2. isolation and bulkheads ---------------------------------------------- */

/* 500 requests pile onto a dead-slow inventory (5 s, max_in_flight 50): 50
 * wait, 450 are refused at once, and proxy requests to users meanwhile all
 * succeed. */
START_TEST(isolation_slow_inventory_does_not_touch_users)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 20s,\n"
          "               max_in_flight: 50 }\n",
          proxy_routes);
    fault("inventory", "delay_ms=5000");

    struct burst *b = calloc(1, sizeof(*b));
    burst_start(b, "/i/inventory/SKU-1", 500, 0);
    ck_assert(POLL(gw("services.inventory.calls.rejected_bulkhead") == 450, 15000));
    ck_assert(POLL(shop_stat("inventory", "in_flight") == 50, 5000)); /* all arrived */

    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(req("GET", "/u/echo", 0, NULL), 200);
    ck_assert_int_eq(shop_stat("users", "requests"), 100);
    /* ... and all of that while the 50 were still hanging */
    ck_assert_int_eq(shop_stat("inventory", "in_flight"), 50);
    ck_assert_int_eq(gw("services.inventory.in_flight"), 50);

    pthread_join(b->thread, NULL);
    ck_assert_int_eq(burst_count(b, 200), 50);
    ck_assert_int_eq(burst_count(b, 503), 450);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 50);
    ck_assert_int_eq(shop_stat("inventory", "max_in_flight"), 50);
    ck_assert_int_eq(gw("services.inventory.in_flight"), 0);
    free(b);
    finish();
}
END_TEST

/* Past max_in_flight a proxy call is 503 with Retry-After at once, and an
 * optional aggregation part is partial; nothing queues. */
START_TEST(bulkhead_refuses_past_max_in_flight)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 20s,\n"
          "               max_in_flight: 5 }\n",
          "  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
          "    auth: required\n    timeout: 10s\n"
          "  - path: /i\n    service: inventory\n    strip_prefix: true\n");
    fault("inventory", "delay_ms=3000");

    struct burst b;
    burst_start(&b, "/i/inventory/SKU-1", 20, 0);
    ck_assert(POLL(gw("services.inventory.calls.rejected_bulkhead") == 15, 10000));
    ck_assert(POLL(shop_stat("inventory", "in_flight") == 5, 5000));

    struct h_resp r;
    ck_assert_int_eq(req("GET", "/i/inventory/SKU-2", 0, &r), 503);
    assert_problem(&r, 503);
    ck_assert_str_eq(h_header(&r, "Retry-After"), "1");
    ck_assert_ptr_nonnull(strstr(r.body, "bulkhead full"));
    h_resp_free(&r);

    ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 200);
    json_object *j = body_json(&r);
    char         l[256];
    ck_assert_str_eq(list(j, "partial", l, sizeof(l)), "inventory");
    ck_assert_str_eq(jstr(j, "customer.name"), "Ada Lovelace");
    ck_assert_ptr_nonnull(
        strstr(h_header(&r, "Server-Timing"), "desc=\"bulkhead full\""));
    json_object_put(j);
    h_resp_free(&r);
    ck_assert_int_eq(gw("services.inventory.calls.rejected_bulkhead"), 17);

    pthread_join(b.thread, NULL);
    ck_assert_int_eq(burst_count(&b, 200), 5);
    ck_assert_int_eq(burst_count(&b, 503), 15);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 5);
    ck_assert_int_eq(shop_stat("inventory", "max_in_flight"), 5);
    finish();
}
END_TEST

/* ---- 3. circuit breakers -----------------------------------------------------------
 */

/* failures: 3, open_for: 1s. After 3 errors the shop sees no call while the
 * circuit is open; after open_for one probe goes; a failed probe reopens it
 * for twice as long; a good probe closes it. 4xx never counts. */
START_TEST(breaker_opens_probes_backs_off_and_closes)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", retries: 0,\n"
          "               circuit_breaker: { failures: 3, open_for: 1s,\n"
          "                                  half_open_probes: 1 } }\n",
          proxy_routes);
    struct h_resp r;

    /* 4xx, injected and genuine, many times: still closed */
    fault("inventory", "error_rate=1&error_status=404");
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(req("GET", "/i/echo", 0, NULL), 404);
    fault("inventory", "error_rate=1&error_status=429");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(req("GET", "/i/echo", 0, NULL), 429);
    fault("inventory", "");
    ck_assert_int_eq(req("GET", "/i/inventory/NOPE", 0, NULL), 404);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 16);
    ck_assert(circuit_is("inventory", "closed"));

    /* three 5xx open it */
    fault("inventory", "error_rate=1&error_status=500");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(req("GET", "/i/echo", 0, NULL), 500);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 19);
    ck_assert(circuit_is("inventory", "open"));

    /* open: 503 problem+json with Retry-After, and the shop sees nothing */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(req("GET", "/i/echo", 0, &r), 503);
        assert_problem(&r, 503);
        ck_assert_str_eq(h_header(&r, "Retry-After"), "1");
        ck_assert_ptr_nonnull(strstr(r.body, "circuit open"));
        h_resp_free(&r);
    }
    ck_assert_int_eq(shop_stat("inventory", "requests"), 19);
    ck_assert_int_eq(gw("services.inventory.calls.rejected_open"), 5);

    /* after open_for, one probe reaches the shop; it fails: open again, for 2 s */
    long probe_status = 0;
    ck_assert(POLL((probe_status = req("GET", "/i/echo", 0, NULL),
                    shop_stat("inventory", "requests") == 20),
                   5000));
    ck_assert_int_eq(probe_status, 500);
    ck_assert(circuit_is("inventory", "open"));
    ck_assert_int_eq(req("GET", "/i/echo", 0, &r), 503);
    ck_assert_str_eq(h_header(&r, "Retry-After"), "2");
    h_resp_free(&r);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 20);

    /* the service heals: the next probe succeeds and closes the circuit */
    fault("inventory", "");
    ck_assert(POLL(req("GET", "/i/echo", 0, NULL) == 200, 8000));
    ck_assert_int_eq(shop_stat("inventory", "requests"), 21); /* exactly one probe */
    ck_assert(circuit_is("inventory", "closed"));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(req("GET", "/i/echo", 0, NULL), 200);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 24);
    /* an open circuit is not "down": the instance stayed ready */
    ck_assert_int_eq(readyz(NULL), 200);
    finish();
}
END_TEST

/* An open circuit in an aggregation: an optional part is partial at once,
 * a required part is 503 with Retry-After; the shop sees neither. */
START_TEST(breaker_in_an_aggregation)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\", retries: 0,\n"
          "            circuit_breaker: { failures: 2, open_for: 30s } }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", retries: 0,\n"
          "               circuit_breaker: { failures: 2, open_for: 30s } }\n",
          "  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
          "    auth: required\n");
    struct h_resp r;
    char          l[256];

    fault("inventory", "error_rate=1&error_status=500");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 200);
        json_object *j = body_json(&r);
        ck_assert_str_eq(list(j, "partial", l, sizeof(l)), "inventory");
        json_object_put(j);
        if (i == 2)
            ck_assert_ptr_nonnull(strstr(h_header(&r, "Server-Timing"),
                                         "inventory;dur=0.0;desc=\"circuit open\""));
        h_resp_free(&r);
    }
    ck_assert_int_eq(shop_stat("inventory", "requests"), 2);

    fault("orders", "error_rate=1&error_status=500");
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 502);
        h_resp_free(&r);
    }
    ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 503);
    assert_problem(&r, 503);
    const char *ra = h_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    ck_assert_int_ge(atoi(ra), 1);
    ck_assert_int_le(atoi(ra), 30);
    h_resp_free(&r);
    ck_assert_int_eq(shop_stat("orders", "requests"), 5); /* 3 good + 2 errors */
    ck_assert_int_eq(readyz(NULL), 200);
    finish();
}
END_TEST

/* The breaker of a service that stays in the config survives a reload: the
 * registry entry is found again by name, with its state and counters. */
START_TEST(breaker_state_survives_a_reload)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", retries: 0,\n"
          "               circuit_breaker: { failures: 2, open_for: 30s } }\n",
          proxy_routes);
    fault("inventory", "error_rate=1&error_status=503");
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(req("GET", "/i/echo", 0, NULL), 503);
    ck_assert(circuit_is("inventory", "open"));

    /* a new snapshot (the file changed) */
    FILE *f = fopen(bff.config, "a");
    ck_assert_ptr_nonnull(f);
    fputs("# reloaded by the test\n", f);
    fclose(f);
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/reload", bff.admin);
    ck_assert_int_eq(h_http("POST", u, NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);

    ck_assert(circuit_is("inventory", "open"));
    ck_assert_int_eq(req("GET", "/i/echo", 0, &r), 503);
    ck_assert_ptr_nonnull(strstr(r.body, "circuit open"));
    h_resp_free(&r);
    ck_assert_int_eq(shop_stat("inventory", "requests"), 2);
    ck_assert_int_eq(gw("services.inventory.calls.error"), 2);
    ck_assert_int_eq(gw("services.inventory.calls.rejected_open"), 1);
    finish();
}
END_TEST

/* ---- 4. retries -------------------------------------------------------------------
 */

/* Idempotent calls that fail with 503 are retried within a budget: at least
 * 3, then at most 20 % of the window's calls. POST is never retried, nor
 * PUT/DELETE without retry_non_get, nor a 4xx. */
START_TEST(retries_stop_at_the_budget_and_never_retry_a_post)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\", retries: 1,\n"
          "           circuit_breaker: { failures: 1000 } }\n"
          "  users_rw: { url: \"http://127.0.0.1:%3$d\", retries: 2, retry_non_get: "
          "true,\n"
          "              circuit_breaker: { failures: 1000 } }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\" }\n",
          "  - path: /u\n    service: users\n    strip_prefix: true\n"
          "    methods: [GET, POST, PUT, DELETE]\n"
          "  - path: /rw\n    service: users_rw\n    strip_prefix: true\n"
          "    methods: [GET, PUT, DELETE]\n");
    fault("users", "error_rate=1&error_status=503");

    /* 20 GETs: the budget allows retries for the 1st, 2nd, 3rd (the floor)
     * and the 16th (4 retries < 20 % of 16 calls): 24 requests in all */
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(req("GET", "/u/echo", 0, NULL), 503);
    ck_assert_int_eq(shop_stat("users", "requests"), 24);
    ck_assert_int_eq(gw("services.users.calls.retried"), 4);

    /* POST: never; PUT without retry_non_get: never */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(req("POST", "/u/echo", 0, NULL), 503);
    ck_assert_int_eq(shop_stat("users", "requests"), 29);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(req("PUT", "/u/echo", 0, NULL), 503);
    ck_assert_int_eq(shop_stat("users", "requests"), 32);
    ck_assert_int_eq(gw("services.users.calls.retried"), 4);

    /* users_rw (its own budget): PUT retried twice; then DELETE once, when
     * the floor of 3 is spent */
    ck_assert_int_eq(req("PUT", "/rw/echo", 0, NULL), 503);
    ck_assert_int_eq(shop_stat("users", "requests"), 35);
    ck_assert_int_eq(req("DELETE", "/rw/echo", 0, NULL), 503);
    ck_assert_int_eq(shop_stat("users", "requests"), 37);
    ck_assert_int_eq(gw("services.users_rw.calls.retried"), 3);

    /* never on a 4xx */
    fault("users", "error_rate=1&error_status=404");
    ck_assert_int_eq(req("GET", "/rw/echo", 0, NULL), 404);
    ck_assert_int_eq(shop_stat("users", "requests"), 38);

    /* and a healthy service is called once per request */
    fault("users", "");
    ck_assert_int_eq(req("GET", "/u/echo", 0, NULL), 200);
    ck_assert_int_eq(shop_stat("users", "requests"), 39);
    finish();
}
END_TEST

/* ---- 5. health checks -------------------------------------------------------------
 */

/* An active check marks users down (503 at once, without a call) and up
 * again; /readyz names it while it is down. A service no route uses does
 * not make the instance unready. */
START_TEST(active_health_check_marks_down_and_up)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\",\n"
          "           health_check: { path: /healthz, interval: 100ms } }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\" }\n"
          "  spare: { url: \"http://127.0.0.1:1\",\n"
          "           health_check: { path: /healthz, interval: 100ms } }\n",
          proxy_routes);
    char         *body = NULL;
    struct h_resp r;

    /* spare (nothing listens there) is down, but no route uses it */
    ck_assert(
        POLL(shop_stat("users", "healthz") >= 2 && gw("services.spare.up") == 0, 5000));
    ck_assert_int_eq(gw("services.spare.required"), 0);
    ck_assert_int_eq(readyz(&body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"down\":[]"));
    free(body);

    fault("users", "fail_healthz=1&error_status=503");
    ck_assert(POLL(readyz(NULL) == 503, 5000));
    ck_assert_int_eq(readyz(&body), 503);
    ck_assert_ptr_nonnull(strstr(body, "\"ready\":false"));
    ck_assert_ptr_nonnull(strstr(body, "\"down\":[\"users\"]"));
    free(body);

    long before = shop_stat("users", "requests");
    ck_assert_int_eq(req("GET", "/u/echo", 0, &r), 503);
    assert_problem(&r, 503);
    ck_assert_str_eq(h_header(&r, "Retry-After"), "1");
    ck_assert_ptr_nonnull(strstr(r.body, "service down"));
    h_resp_free(&r);
    ck_assert_int_eq(shop_stat("users", "requests"), before); /* not even connected */
    ck_assert_int_eq(gw("services.users.calls.rejected_down"), 1);
    ck_assert_int_eq(req("GET", "/o/echo", 0, NULL), 200); /* the others serve */

    fault("users", "");
    ck_assert(POLL(readyz(NULL) == 200, 5000));
    ck_assert_int_eq(req("GET", "/u/echo", 0, NULL), 200);
    ck_assert_int_eq(shop_stat("users", "requests"), before + 1);

    /* passive: a refused connection marks it down at once; the active
     * check brings it back */
    fault("users", "refuse=1");
    long st = req("GET", "/u/echo", 0, NULL); /* 503: the checker was refused first */
    ck_assert_msg(st == 502 || st == 503, "got %ld", st);
    ck_assert_int_eq(readyz(&body), 503);
    ck_assert_ptr_nonnull(strstr(body, "\"down\":[\"users\"]"));
    free(body);
    fault("users", "");
    ck_assert(POLL(readyz(NULL) == 200, 5000));
    ck_assert_int_eq(req("GET", "/u/echo", 0, NULL), 200);
    finish();
}
END_TEST

/* Without an active check, a refused connection marks the service down at
 * once and the mark expires after open_for. */
START_TEST(passive_health_marks_down_at_once)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\",\n"
          "               circuit_breaker: { open_for: 1s } }\n",
          proxy_routes);
    char         *body = NULL;
    struct h_resp r;

    fault("inventory", "refuse=1");
    ck_assert_int_eq(req("GET", "/i/echo", 0, &r), 502);
    assert_problem(&r, 502);
    h_resp_free(&r);
    ck_assert_int_eq(readyz(&body), 503);
    ck_assert_ptr_nonnull(strstr(body, "\"down\":[\"inventory\"]"));
    free(body);
    ck_assert_int_eq(req("GET", "/i/echo", 0, &r), 503);
    assert_problem(&r, 503);
    ck_assert_ptr_nonnull(h_header(&r, "Retry-After"));
    h_resp_free(&r);
    ck_assert_int_eq(gw("services.inventory.calls.refused"), 1); /* no retry either */

    fault("inventory", "");
    ck_assert(POLL(req("GET", "/i/echo", 0, NULL) == 200, 5000));
    ck_assert_int_eq(readyz(NULL), 200);
    finish();
}
END_TEST

/* ---- 6. clients that leave ---------------------------------------------------------
 */

/* Opens a connection to the gateway and sends a GET of @path with the token. */
static int send_and_leave_open(const char *path)
{
    struct sockaddr_in a = {0};
    char               buf[8192];
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)bff.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    int n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", path,
                     auth_hdr);
    ck_assert_int_eq(write(fd, buf, (size_t)n), n);
    return fd;
}

/* A client that disconnects mid-aggregation (or mid-proxy) gets its calls
 * cancelled at once: the gateway's slots are free while the shop is still
 * sleeping on the abandoned requests. */
START_TEST(client_that_leaves_gets_its_calls_cancelled)
{
    start("  users: { url: \"http://127.0.0.1:%3$d\" }\n"
          "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
          "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 20s }\n",
          "  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
          "    auth: required\n    timeout: 30s\n"
          "  - path: /i\n    service: inventory\n    strip_prefix: true\n");
    fault("inventory", "delay_ms=8000");

    int fd = send_and_leave_open("/v1/order-screen/o-1");
    /* users (fast) has answered, inventory (8 s) is pending */
    ck_assert(POLL(gw("services.inventory.in_flight") == 1 &&
                       gw("services.users.in_flight") == 0 &&
                       shop_stat("inventory", "in_flight") == 1,
                   5000));
    close(fd);
    ck_assert(
        POLL(gw("clients_gone") == 1 && gw("services.inventory.in_flight") == 0, 3000));
    ck_assert_int_eq(gw("services.inventory.calls.cancelled"), 1);
    ck_assert_int_eq(shop_stat("inventory", "in_flight"), 1); /* the shop still naps */

    fd = send_and_leave_open("/i/echo");
    ck_assert(POLL(gw("services.inventory.in_flight") == 1 &&
                       shop_stat("inventory", "in_flight") == 2,
                   5000));
    close(fd);
    ck_assert(
        POLL(gw("clients_gone") == 2 && gw("services.inventory.in_flight") == 0, 3000));
    ck_assert_int_eq(gw("services.inventory.calls.cancelled"), 2);

    /* and the gateway carries on */
    fault("inventory", "");
    struct h_resp r;
    ck_assert_int_eq(get("/v1/order-screen/o-1", &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"partial\":[]"));
    h_resp_free(&r);
    finish();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_resilience");
    TCase *tc = tcase_create("resilience");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, motivating_scenario_is_partial_not_late);
    tcase_add_test(tc, deadline_cuts_calls_and_timed_out_connections_are_dropped);
    tcase_add_test(tc, isolation_slow_inventory_does_not_touch_users);
    tcase_add_test(tc, bulkhead_refuses_past_max_in_flight);
    tcase_add_test(tc, breaker_opens_probes_backs_off_and_closes);
    tcase_add_test(tc, breaker_in_an_aggregation);
    tcase_add_test(tc, breaker_state_survives_a_reload);
    tcase_add_test(tc, retries_stop_at_the_budget_and_never_retry_a_post);
    tcase_add_test(tc, active_health_check_marks_down_and_up);
    tcase_add_test(tc, passive_health_marks_down_at_once);
    tcase_add_test(tc, client_that_leaves_gets_its_calls_cancelled);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    struct rlimit rl; /* 500 connections at once */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return h_run_suite(suite());
}
