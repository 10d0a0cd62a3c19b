/* tests/e2e/test_endpoints.c — several endpoints per service, end to end:
 * three shop-services processes are three instances of the orders service
 * behind one services.orders.endpoints list of bff-mobile.
 *
 * Counted with each instance's own /stats: the split (round_robin,
 * least_request), a retry that goes to another instance, one instance
 * killed under traffic (ejected, brought back, taken back into rotation),
 * a slow instance getting fewer calls, and a host name resolved by a
 * dnsmasq this test starts on a loopback port (two addresses, then one).
 * The kill-one-of-three figures are printed ("endpoints figures: ...").
 * Waiting is polling with a bound, never a sleep that stands for
 * synchronization. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define NSHOP 3

static const char   *dir;
static struct h_shop shops[NSHOP];
static struct h_bff  bff;
static struct h_proc dns;

static void stop_all(void)
{
    if (bff.proc.pid > 0)
        h_stop(&bff.proc);
    for (int i = 0; i < NSHOP; i++)
        if (shops[i].proc.pid > 0)
            h_stop(&shops[i].proc);
    if (dns.pid > 0)
        h_stop(&dns);
    if (dir)
        h_cleanup_dir(dir);
    dir = NULL;
}

static void nap_ms(long ms)
{
    sleep_ms(ms);
}

/* Polls @cond every 20 ms for at most @ms; evaluates to its last value. */
#define POLL(cond, ms)                                                                 \
    ({                                                                                 \
        int ok_ = 0;                                                                   \
        for (int t_ = 0; t_ <= (ms) && !(ok_ = (cond)); t_ += 20)                      \
            nap_ms(20);                                                                \
        ok_;                                                                           \
    })

static void setup(void)
{
    static int registered;
    if (!registered) {
        atexit(stop_all);
        registered = 1;
    }
    memset(shops, 0, sizeof(shops));
    memset(&bff, 0, sizeof(bff));
    memset(&dns, 0, sizeof(dns));
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
}

/* Shop @i on 127.0.0.1 (its orders port @orders_port, 0: any). */
static void shop_start(int i, int orders_port)
{
    char name[32], port[16], url[128];
    snprintf(name, sizeof(name), "shop-%d", i);
    snprintf(port, sizeof(port), "%d", orders_port);
    char *extra[] = {"--orders-port", port, NULL};
    ck_assert_int_eq(h_shop_spawn(&shops[i], dir, name, extra), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", shops[i].orders);
    ck_assert_int_eq(h_wait_status(url, 200, 10000), 0);
}

/* A gateway whose orders service is @services (the whole services: block),
 * with a proxy route /o -> orders. */
static void bff_start_routes(const char *services, const char *routes)
{
    char yaml[8192];
    snprintf(yaml, sizeof(yaml),
             "listen: 127.0.0.1:%%1$d\n"
             "admin_listen: 127.0.0.1:%%2$d\n"
             "workers: 2\n"
             "drain_timeout: 1s\n"
             "%s"
             "routes:\n"
             "  - path: /o\n    service: orders\n    strip_prefix: true\n"
             "%s",
             services, routes);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, NULL), 0);
}

static void bff_start(const char *services)
{
    bff_start_routes(services, "");
}

static void finish(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    stop_all();
}

static char *gw(const char *path)
{
    static char u[4][256];
    static int  k;
    char       *p = u[k++ % 4];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", bff.port, path);
    return p;
}

static long get(const char *path)
{
    struct h_resp r;
    ck_assert_int_eq(h_http("GET", gw(path), NULL, NULL, &r), 0);
    long st = r.status;
    if (st != 200)
        fprintf(stderr, "GET %s: %ld %s\n", path, st, r.body ? r.body : "");
    h_resp_free(&r);
    return st;
}

static long orders_seen(int i)
{
    return h_shop_requests(&shops[i], "orders");
}

/* GET /admin/resilience, parsed (the caller puts it). */
static json_object *resilience(void)
{
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/resilience", bff.admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *o = body_json(&r);
    h_resp_free(&r);
    ck_assert_ptr_nonnull(o);
    return o;
}

static json_object *get_path(json_object *o, const char *a, const char *b, const char *c)
{
    const char *k[3] = {a, b, c};
    for (int i = 0; i < 3 && k[i] && o; i++)
        if (!json_object_object_get_ex(o, k[i], &o))
            return NULL;
    return o;
}

/* The orders endpoint labelled @label in @res, or NULL. */
static json_object *endpoint(json_object *res, const char *label)
{
    json_object *a = get_path(res, "services", "orders", "endpoints");
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        const char  *l = jstr(e, "endpoint");
        if (l && strcmp(l, label) == 0)
            return e;
    }
    return NULL;
}

static int n_endpoints(void)
{
    json_object *res = resilience();
    json_object *a = get_path(res, "services", "orders", "endpoints");
    int          n = a ? (int)json_object_array_length(a) : -1;
    json_object_put(res);
    return n;
}

/* The state ("ok", "ejected", ...) of orders endpoint 127.0.0.1:@port. */
static int endpoint_state_is(int port, const char *state)
{
    char label[64];
    snprintf(label, sizeof(label), "127.0.0.1:%d", port);
    json_object *res = resilience();
    const char  *s = jstr(endpoint(res, label), "state");
    int          ok = s && strcmp(s, state) == 0;
    json_object_put(res);
    return ok;
}

static long svc_counter(const char *name)
{
    json_object *res = resilience();
    json_object *v = get_path(res, "services", "orders", "calls");
    long         n = -1;
    if (v && json_object_object_get_ex(v, name, &v))
        n = (long)json_object_get_int64(v);
    json_object_put(res);
    return n;
}

static char *three_endpoints(char *buf, size_t cap, const char *extra)
{
    snprintf(buf, cap,
             "services:\n"
             "  orders:\n"
             "    endpoints: [http://127.0.0.1:%d, http://127.0.0.1:%d, "
             "http://127.0.0.1:%d]\n"
             "%s",
             shops[0].orders, shops[1].orders, shops[2].orders, extra);
    return buf;
}

/* ---- the split ------------------------------------------------------------------ */

START_TEST(round_robin_splits_evenly_over_three_instances)
{
    char svc[1024];
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    bff_start(three_endpoints(svc, sizeof(svc), "    balance: round_robin\n"));
    ck_assert_int_eq(n_endpoints(), 3);
    long before[NSHOP];
    for (int i = 0; i < NSHOP; i++)
        before[i] = orders_seen(i);
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    /* one at a time: the turn goes round exactly */
    for (int i = 0; i < NSHOP; i++)
        ck_assert_int_eq(orders_seen(i) - before[i], 20);
    /* /metrics carries the endpoint label */
    char          u[128], want[160];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", bff.admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    snprintf(want, sizeof(want),
             "bff_upstream_endpoint_calls_total{service=\"orders\",endpoint=\"127.0.0.1:%d\","
             "outcome=\"ok\"} 20",
             shops[1].orders);
    ck_assert_msg(strstr(r.body, want), "no '%s' in /metrics", want);
    h_resp_free(&r);
    /* /readyz lists each endpoint */
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", bff.admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "\"endpoint\":\"127.0.0.1:%d\"", shops[2].orders);
    ck_assert_msg(strstr(r.body, want), "no '%s' in /readyz: %s", want, r.body);
    h_resp_free(&r);
    finish();
}
END_TEST

START_TEST(least_request_spreads_and_uses_every_instance)
{
    char svc[1024];
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    bff_start(three_endpoints(svc, sizeof(svc), ""));
    for (int i = 0; i < 90; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    /* sequential calls: every load is 0, the two choices are random */
    for (int i = 0; i < NSHOP; i++)
        ck_assert_int_ge(orders_seen(i), 10);
    finish();
}
END_TEST

/* The order screen (an aggregation) calls orders through its endpoints too. */
START_TEST(an_aggregation_splits_its_calls_over_the_endpoints)
{
    char          svc[2048];
    struct h_keys keys;
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    snprintf(svc, sizeof(svc),
             "auth:\n  jwt:\n    jwks_file: %s\n    algorithms: [ES256]\n"
             "services:\n"
             "  users: { url: \"http://127.0.0.1:%d\" }\n"
             "  inventory: { url: \"http://127.0.0.1:%d\" }\n"
             "  orders:\n"
             "    endpoints: [http://127.0.0.1:%d, http://127.0.0.1:%d, "
             "http://127.0.0.1:%d]\n"
             "    balance: round_robin\n",
             keys.jwks, shops[0].users, shops[0].inventory, shops[0].orders,
             shops[1].orders, shops[2].orders);
    bff_start_routes(svc, "  - path: /v1/order-screen/{id}\n    handler: order_screen\n"
                          "    auth: required\n    roles: [customer]\n    timeout: 2s\n");
    char *token = h_token(&keys, "4412", "customer", NULL);
    ck_assert_ptr_nonnull(token);
    char hdr[4096];
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
    const char *hdrs[] = {hdr, NULL};
    long        before[NSHOP];
    for (int i = 0; i < NSHOP; i++)
        before[i] = orders_seen(i);
    for (int i = 0; i < 9; i++) {
        struct h_resp r;
        ck_assert_int_eq(h_http("GET", gw("/v1/order-screen/o-1"), hdrs, NULL, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body, "\"customer\":{\"name\":\"Ada Lovelace\"}"));
        h_resp_free(&r);
    }
    for (int i = 0; i < NSHOP; i++)
        ck_assert_int_eq(orders_seen(i) - before[i], 3);
    free(token);
    finish();
}
END_TEST

/* ---- retries -------------------------------------------------------------------- */

START_TEST(a_retry_goes_to_another_instance)
{
    char svc[1024];
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    ck_assert_int_eq(h_fault(&shops[1], "orders", "error_rate=1&error_status=503"), 0);
    /* never ejected: the retry alone saves each call that went to shop 1 */
    bff_start(three_endpoints(svc, sizeof(svc),
                              "    balance: round_robin\n"
                              "    retries: 1\n"
                              "    outlier: { failures: 1000 }\n"));
    /* 6 calls; the turn also moves for a retry, so shop 1 is first for
     * every other call: 3 retries, the retry budget's floor per window */
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    ck_assert_int_eq(orders_seen(1), 3);
    ck_assert_int_eq(svc_counter("retried"), 3);
    ck_assert_int_eq(orders_seen(0) + orders_seen(2), 6);
    finish();
}
END_TEST

/* ---- one instance killed under traffic -------------------------------------------- */

/* Kills shop 1 under closed-loop traffic of @threads clients, waits until
 * it is ejected, restarts it on its port and waits until it takes calls
 * again. Prints the figures; returns the failed requests. */
static long kill_one(int retries, int threads, long *sent_out)
{
    char svc[1024], extra[256];
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    snprintf(extra, sizeof(extra),
             "    retries: %d\n"
             "    outlier: { failures: 3, eject_for: 1s, max_ejected: 50%% }\n",
             retries);
    bff_start(three_endpoints(svc, sizeof(svc), extra));
    int port1 = shops[1].orders;

    struct h_traffic t = {.url = gw("/o/echo")};
    pthread_mutex_init(&t.lock, NULL);
    pthread_t th[16];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, h_traffic_main, &t);
    /* every instance takes calls before the kill */
    ck_assert(POLL(orders_seen(0) > 20 && orders_seen(1) > 20 && orders_seen(2) > 20,
                   10000));
    kill(shops[1].proc.pid, SIGKILL);
    waitpid(shops[1].proc.pid, NULL, 0);
    shops[1].proc.pid = 0;
    ck_assert_msg(POLL(endpoint_state_is(port1, "ejected"), 5000),
                  "the killed instance was not ejected");
    long ok_at_eject = atomic_load(&t.ok);
    ck_assert(POLL(atomic_load(&t.ok) > ok_at_eject + 200, 10000));
    /* brought back on its port: taken back into rotation after eject_for */
    shop_start(1, port1);
    ck_assert_msg(POLL(orders_seen(1) > 20, 10000),
                  "the instance brought back takes no calls");
    ck_assert(POLL(endpoint_state_is(port1, "ok"), 5000));
    atomic_store(&t.stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    long sent = atomic_load(&t.ok) + atomic_load(&t.failed);
    long failed = atomic_load(&t.failed);
    long retried = svc_counter("retried");
    fprintf(stderr,
            "endpoints figures: kill one of three instances under %d clients, "
            "retries: %d: requests sent %ld, failed %ld, retried %ld%s%s\n",
            threads, retries, sent, failed, retried, failed ? "; first failure: " : "",
            failed ? t.first_failure : "");
    *sent_out = sent;
    finish();
    return failed;
}

START_TEST(kill_one_of_three_with_retries_fails_nothing)
{
    long sent;
    long failed = kill_one(1, 4, &sent);
    ck_assert_int_gt(sent, 500);
    ck_assert_int_eq(failed, 0);
}
END_TEST

START_TEST(kill_one_of_three_without_retries_fails_at_most_its_in_flight)
{
    long sent;
    long failed = kill_one(0, 4, &sent);
    ck_assert_int_gt(sent, 500);
    /* 4 clients, one request each at a time: at most 4 were in flight at
     * the killed instance */
    ck_assert_int_le(failed, 4);
}
END_TEST

/* ---- a slow instance ------------------------------------------------------------ */

START_TEST(least_request_sends_fewer_calls_to_a_slow_instance)
{
    char svc[1024];
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    ck_assert_int_eq(h_fault(&shops[2], "orders", "delay_ms=100"), 0);
    bff_start(three_endpoints(svc, sizeof(svc), "    timeout: 2s\n"));
    struct h_traffic t = {.url = gw("/o/echo")};
    pthread_mutex_init(&t.lock, NULL);
    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, h_traffic_main, &t);
    ck_assert(POLL(atomic_load(&t.ok) > 600, 20000));
    atomic_store(&t.stop, 1);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    long f0 = orders_seen(0), f1 = orders_seen(1), slow = orders_seen(2);
    fprintf(stderr, "endpoints figures: least_request with one instance 100 ms slow: "
                    "%ld, %ld calls to the fast ones, %ld to the slow one\n",
            f0, f1, slow);
    ck_assert_int_eq(atomic_load(&t.failed), 0);
    ck_assert_int_lt(slow * 4, f0);
    ck_assert_int_lt(slow * 4, f1);
    finish();
}
END_TEST

/* ---- a reload ----------------------------------------------------------------- */

/* A reload that adds an endpoint keeps the state of the ones that stay (an
 * ejection included) and sends calls to the new one. */
START_TEST(a_reload_adds_an_endpoint_and_keeps_the_others_state)
{
    char svc[1024];
    setup();
    for (int i = 0; i < NSHOP; i++)
        shop_start(i, 0);
    snprintf(svc, sizeof(svc),
             "services:\n"
             "  orders:\n"
             "    endpoints: [http://127.0.0.1:%d, http://127.0.0.1:%d]\n"
             "    balance: round_robin\n"
             "    retries: 0\n"
             "    outlier: { failures: 2, eject_for: 1m }\n",
             shops[0].orders, shops[1].orders);
    bff_start(svc);
    ck_assert_int_eq(h_fault(&shops[1], "orders", "error_rate=1&error_status=500"), 0);
    for (int i = 0; i < 4; i++)
        get("/o/echo");
    ck_assert(endpoint_state_is(shops[1].orders, "ejected"));

    /* the same file with a third endpoint */
    char text[2048];
    FILE *f = fopen(bff.config, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char from[64], to[128];
    snprintf(from, sizeof(from), "http://127.0.0.1:%d]", shops[1].orders);
    snprintf(to, sizeof(to), "http://127.0.0.1:%d, http://127.0.0.1:%d]", shops[1].orders,
             shops[2].orders);
    char *at = strstr(text, from);
    ck_assert_ptr_nonnull(at);
    char out[2200];
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    f = fopen(bff.config, "w");
    ck_assert_ptr_nonnull(f);
    fputs(out, f);
    fclose(f);
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/reload", bff.admin);
    ck_assert_int_eq(h_http("POST", u, NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);

    ck_assert_int_eq(n_endpoints(), 3);
    ck_assert(endpoint_state_is(shops[1].orders, "ejected")); /* kept */
    long before = orders_seen(2);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    ck_assert_int_eq(orders_seen(2) - before, 5); /* half of them: 1 is out */
    finish();
}
END_TEST

/* ---- active health checks, per endpoint ------------------------------------------ */

static int readyz_status(void)
{
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", bff.admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    int st = (int)r.status;
    h_resp_free(&r);
    return st;
}

START_TEST(a_failing_health_check_takes_one_endpoint_out)
{
    char svc[1024];
    setup();
    for (int i = 0; i < 2; i++)
        shop_start(i, 0);
    snprintf(svc, sizeof(svc),
             "services:\n"
             "  orders:\n"
             "    endpoints: [http://127.0.0.1:%d, http://127.0.0.1:%d]\n"
             "    balance: round_robin\n"
             "    health_check: { path: /healthz, interval: 200ms }\n",
             shops[0].orders, shops[1].orders);
    bff_start(svc);
    ck_assert_int_eq(h_fault(&shops[1], "orders", "fail_healthz=1&error_status=503"), 0);
    ck_assert_msg(POLL(endpoint_state_is(shops[1].orders, "down"), 5000),
                  "the endpoint whose check fails is not down");
    long before = orders_seen(1);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    ck_assert_int_eq(orders_seen(1), before); /* none went to the one down */
    ck_assert_int_eq(readyz_status(), 200);   /* one endpoint is enough */

    /* both down: the service is down for /readyz and calls fail fast */
    ck_assert_int_eq(h_fault(&shops[0], "orders", "fail_healthz=1&error_status=503"), 0);
    ck_assert(POLL(endpoint_state_is(shops[0].orders, "down"), 5000));
    ck_assert_int_eq(readyz_status(), 503);
    ck_assert_int_eq(get("/o/echo"), 503);

    /* back: the checks pass again */
    ck_assert_int_eq(h_fault(&shops[0], "orders", ""), 0);
    ck_assert_int_eq(h_fault(&shops[1], "orders", ""), 0);
    ck_assert(POLL(endpoint_state_is(shops[0].orders, "ok") &&
                       endpoint_state_is(shops[1].orders, "ok"),
                   5000));
    ck_assert_int_eq(readyz_status(), 200);
    before = orders_seen(1);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    ck_assert_int_eq(orders_seen(1) - before, 5);
    finish();
}
END_TEST

/* ---- a host name with several addresses --------------------------------------------- */

static const char *dns_hosts;

static char *const *dnsmasq_argv(int port, void *ud)
{
    static char p[32], hosts[600], pid[600];
    static char *argv[16];
    (void)ud;
    snprintf(p, sizeof(p), "--port=%d", port);
    snprintf(hosts, sizeof(hosts), "--addn-hosts=%s", dns_hosts);
    snprintf(pid, sizeof(pid), "--pid-file=%s/dnsmasq.pid", dir);
    int n = 0;
    argv[n++] = "/usr/sbin/dnsmasq";
    argv[n++] = "--no-daemon";
    argv[n++] = p;
    argv[n++] = "--listen-address=127.0.0.1";
    argv[n++] = "--bind-interfaces";
    argv[n++] = "--no-resolv";
    argv[n++] = "--no-hosts";
    argv[n++] = hosts;
    argv[n++] = pid;
    if (geteuid() == 0)
        argv[n++] = "--user=root"; /* the hosts file stays readable on SIGHUP */
    argv[n] = NULL;
    return argv;
}

/* A shop on @host whose orders port is @orders_port (0: any). */
static void shop_on(int i, const char *host, int orders_port)
{
    char name[32], port[16], url[128];
    snprintf(name, sizeof(name), "shop-%d", i);
    snprintf(port, sizeof(port), "%d", orders_port);
    char *extra[] = {"--host", (char *)host, "--orders-port", port, NULL};
    ck_assert_int_eq(h_shop_spawn(&shops[i], dir, name, extra), 0);
    snprintf(url, sizeof(url), "http://%s:%d/healthz", host, shops[i].orders);
    ck_assert_int_eq(h_wait_status(url, 200, 10000), 0);
}

static long seen_on(int i, const char *host)
{
    char          url[128];
    struct h_resp r;
    long          n = -1;
    snprintf(url, sizeof(url), "http://%s:%d/stats/orders", host, shops[i].control);
    if (h_http("GET", url, NULL, NULL, &r) == 0 && r.status == 200) {
        const char *p = strstr(r.body, "\"requests\"");
        if (p && (p = strchr(p, ':')))
            n = strtol(p + 1, NULL, 10);
    }
    h_resp_free(&r);
    return n;
}

/* The orders endpoints' labels joined by ',' (static buffer). */
static const char *labels(void)
{
    static char out[512];
    json_object *res = resilience();
    json_object *a = get_path(res, "services", "orders", "endpoints");
    out[0] = '\0';
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        const char *l = jstr(json_object_array_get_idx(a, i), "endpoint");
        if (i)
            strncat(out, ",", sizeof(out) - strlen(out) - 1);
        strncat(out, l ? l : "?", sizeof(out) - strlen(out) - 1);
    }
    json_object_put(res);
    return out;
}

START_TEST(a_name_with_two_addresses_is_two_endpoints_and_follows_dns)
{
    char svc[1024], two[128], one[128];
    setup();
    shop_on(0, "127.0.0.2", 0);
    int port = shops[0].orders;
    shop_on(1, "127.0.0.3", port);
    char *hosts = h_write(dir, "hosts", "127.0.0.2 orders.shop.test\n"
                                        "127.0.0.3 orders.shop.test\n");
    ck_assert_ptr_nonnull(hosts);
    char hosts_path[512];
    snprintf(hosts_path, sizeof(hosts_path), "%s", hosts);
    dns_hosts = hosts_path;
    int dport = h_spawn_on_port(&dns, "dnsmasq", dir, dnsmasq_argv, NULL, NULL);
    ck_assert_msg(dport > 0, "dnsmasq did not start");
    snprintf(svc, sizeof(svc),
             "resolver: [127.0.0.1:%d]\n"
             "services:\n"
             "  orders:\n"
             "    endpoints: [http://orders.shop.test:%d]\n"
             "    balance: round_robin\n"
             "    resolve_every: 200ms\n",
             dport, port);
    bff_start(svc);
    snprintf(two, sizeof(two), "127.0.0.2:%d,127.0.0.3:%d", port, port);
    ck_assert_str_eq(labels(), two);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    ck_assert_int_eq(seen_on(0, "127.0.0.2"), 10);
    ck_assert_int_eq(seen_on(1, "127.0.0.3"), 10);

    /* the name now has one address: picked up after resolve_every */
    ck_assert_ptr_nonnull(h_write(dir, "hosts", "127.0.0.3 orders.shop.test\n"));
    kill(dns.pid, SIGHUP);
    snprintf(one, sizeof(one), "127.0.0.3:%d", port);
    ck_assert_msg(POLL(strcmp(labels(), one) == 0, 5000), "endpoints still %s", labels());
    ck_assert_int_ge(svc_counter("ok"), 20);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(get("/o/echo"), 200);
    ck_assert_int_eq(seen_on(0, "127.0.0.2"), 10);
    ck_assert_int_eq(seen_on(1, "127.0.0.3"), 20);
    json_object *res = resilience();
    json_object *ch = get_path(res, "services", "orders", "dns_changes");
    ck_assert_int_ge(json_object_get_int64(ch), 1);
    json_object_put(res);
    char          mu[128];
    struct h_resp mr;
    snprintf(mu, sizeof(mu), "http://127.0.0.1:%d/metrics", bff.admin);
    ck_assert_int_eq(h_http("GET", mu, NULL, NULL, &mr), 0);
    ck_assert_ptr_nonnull(strstr(mr.body, "bff_upstream_dns_changes_total{service=\"orders\"} "));
    ck_assert_ptr_null(strstr(mr.body, "bff_upstream_dns_changes_total{service=\"orders\"} 0\n"));
    h_resp_free(&mr);

    /* the name stops resolving: its last addresses are kept */
    ck_assert_ptr_nonnull(h_write(dir, "hosts", "\n"));
    kill(dns.pid, SIGHUP);
    ck_assert(POLL(({
                       json_object *r2 = resilience();
                       long f = (long)json_object_get_int64(
                           get_path(r2, "services", "orders", "dns_failures"));
                       json_object_put(r2);
                       f >= 1;
                   }),
                   5000));
    ck_assert_str_eq(labels(), one);
    ck_assert_int_eq(get("/o/echo"), 200);
    finish();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("endpoints");
    TCase *tc = tcase_create("endpoints");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_robin_splits_evenly_over_three_instances);
    tcase_add_test(tc, least_request_spreads_and_uses_every_instance);
    tcase_add_test(tc, an_aggregation_splits_its_calls_over_the_endpoints);
    tcase_add_test(tc, a_retry_goes_to_another_instance);
    tcase_add_test(tc, kill_one_of_three_with_retries_fails_nothing);
    tcase_add_test(tc, kill_one_of_three_without_retries_fails_at_most_its_in_flight);
    tcase_add_test(tc, least_request_sends_fewer_calls_to_a_slow_instance);
    tcase_add_test(tc, a_reload_adds_an_endpoint_and_keeps_the_others_state);
    tcase_add_test(tc, a_failing_health_check_takes_one_endpoint_out);
    tcase_add_test(tc, a_name_with_two_addresses_is_two_endpoints_and_follows_dns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = h_run_suite(suite());
    curl_global_cleanup();
    return rc;
}
