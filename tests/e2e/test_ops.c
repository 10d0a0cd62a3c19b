/* tests/e2e/test_ops.c — operations end to end: the admin listener, Prometheus
 * metrics (checked by promtool), reload under traffic, drain on SIGTERM,
 * trace context through the shop's /echo. shop-services + bff-mobile. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>

#include "common.h"

static const char   *dir;
static struct h_shop shop;
static struct h_keys keys;

static const char *yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "drain_timeout: 10s\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 5s }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 5s }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 5s }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "routes:\n"
    "  - path: /inventory\n"
    "    service: inventory\n"
    "  - path: /echo\n"
    "    service: users\n"
    "    auth: optional\n"
    "  - path: /orders\n"
    "    service: orders\n"
    "    auth: required\n"
    "  - path: /x\"y\\z\n" /* a label value to escape */
    "    service: users\n";

static void setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
}

static void teardown(void)
{
    h_stop(&shop.proc);
    h_cleanup_dir(dir);
}

/* The BFF of the running test, killed at exit if a failed assertion ends the
 * test (Check exits the forked child) before it stops it itself. */
static struct h_bff bff;

static void kill_bff(void)
{
    if (bff.proc.pid > 0) {
        kill(bff.proc.pid, SIGKILL);
        waitpid(bff.proc.pid, NULL, 0);
        bff.proc.pid = 0;
    }
}

static void start_bff(void)
{
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);
    atexit(kill_bff);
}

static char *url(int port, const char *path)
{
    static char u[8][512];
    static int  i;
    char       *p = u[i++ % 8];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", port, path);
    return p;
}

/* GET @path on the admin port: the body (malloc'd), or NULL. */
static char *admin_get(const char *path, long *status)
{
    struct h_resp r;
    if (h_http("GET", url(bff.admin, path), NULL, NULL, &r) != 0) {
        h_resp_free(&r);
        return NULL;
    }
    char *body = r.body;
    if (status)
        *status = r.status;
    r.body = NULL;
    h_resp_free(&r);
    return body;
}

/* The value of @series ("name{labels}" exactly as exposed) in @text, or -1. */
static double metric(const char *text, const char *series)
{
    size_t      n = strlen(series);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

static double scrape_one(const char *series)
{
    char  *m = admin_get("/metrics", NULL);
    double v = m ? metric(m, series) : -1;
    free(m);
    return v;
}

/* Polls /metrics until @series equals @want (counting happens when the
 * response is done, a moment after the client has it). Returns the value. */
static double wait_metric(const char *series, double want)
{
    double v = -1;
    for (int i = 0; i < 250; i++) {
        v = scrape_one(series);
        if (v == want)
            return v;
        sleep_ms(20);
    }
    return v;
}

static long get_status(const char *path, const char *const *hdrs)
{
    struct h_resp r;
    int           rc = h_http("GET", url(bff.port, path), hdrs, NULL, &r);
    long          st = rc == 0 ? r.status : -1;
    h_resp_free(&r);
    return st;
}

/* Reads the whole file @path into *out (malloc'd, NUL-terminated). */
static int read_all(const char *path, char **out, size_t *len)
{
    FILE  *f = fopen(path, "r");
    size_t cap = 4096, n = 0;
    char  *b = malloc(cap);
    if (!f || !b) {
        if (f)
            fclose(f);
        free(b);
        return -1;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                break;
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

static int promtool_ok(const char *text)
{
    char *p = h_write(dir, "scrape.txt", text);
    char  cmd[1024];
    ck_assert_ptr_nonnull(p);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 1>&2", p);
    return system(cmd) == 0;
}

START_TEST(metrics_count_what_was_sent_and_pass_promtool)
{
    start_bff();
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(get_status("/inventory/SKU-1", NULL), 200);
    ck_assert_int_eq(get_status("/nowhere", NULL), 404);
    const char *bad[] = {"Authorization: Bearer not.a.token", NULL};
    ck_assert_int_eq(get_status("/orders/o-1", bad), 401);
    ck_assert_int_eq(get_status("/orders/o-1", bad), 401);
    struct h_resp r;
    ck_assert_int_eq(h_http("DELETE", url(bff.port, "/echo/x"), NULL, NULL, &r), 0);
    h_resp_free(&r);

    ck_assert_int_eq(wait_metric("bff_requests_total{route=\"/inventory\","
                                 "method_class=\"read\",status_class=\"2xx\"}",
                                 7),
                     7);
    ck_assert_int_eq(wait_metric("bff_requests_total{route=\"/echo\","
                                 "method_class=\"write\",status_class=\"2xx\"}",
                                 1),
                     1);
    ck_assert_int_eq(wait_metric("bff_requests_total{route=\"none\","
                                 "method_class=\"read\",status_class=\"4xx\"}",
                                 1),
                     1);
    char *m = admin_get("/metrics", NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(metric(m, "bff_requests_total{route=\"/orders\","
                               "method_class=\"read\",status_class=\"4xx\"}"),
                     2);
    ck_assert_int_eq(metric(m, "bff_jwt_refusals_total{reason=\"malformed\"}"), 2);
    ck_assert_int_eq(metric(m, "bff_jwt_refusals_total{reason=\"expired\"}"), 0);
    ck_assert_int_eq(
        metric(m, "bff_request_duration_seconds_count{route=\"/inventory\"}"), 7);
    ck_assert_int_eq(metric(m,
                            "bff_request_duration_seconds_bucket{route=\"/inventory\","
                            "le=\"+Inf\"}"),
                     7);
    ck_assert(metric(m, "bff_request_duration_seconds_sum{route=\"/inventory\"}") > 0);
    ck_assert_int_eq(metric(m, "bff_upstream_calls_total{service=\"inventory\","
                               "outcome=\"ok\"}"),
                     7);
    ck_assert_int_eq(metric(m, "bff_upstream_calls_total{service=\"users\","
                               "outcome=\"ok\"}"),
                     1);
    ck_assert_int_eq(
        metric(m, "bff_upstream_duration_seconds_count{service=\"inventory\"}"), 7);
    ck_assert_int_eq(metric(m, "bff_upstream_in_flight{service=\"inventory\"}"), 0);
    ck_assert_int_eq(metric(m, "bff_config_reloads_total{result=\"ok\"}"), 0);
    ck_assert_int_eq(metric(m, "bff_config_reloads_total{result=\"rejected\"}"), 0);
    ck_assert_int_eq(metric(m, "bff_build_info{name=\"bff-mobile\",version=\"0.1.0\"}"),
                     1);
    ck_assert_int_eq(metric(m, "bff_ready"), 1);
    ck_assert_int_eq(metric(m, "bff_requests_in_flight"), 0);
    ck_assert(metric(m, "bff_connections") >= 0);
    /* the config's hash, as --check-config prints it */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "'%s' --check-config --config '%s'",
             h_bin("bff-mobile/bff-mobile"), bff.config);
    char *ok = h_run(cmd);
    ck_assert_ptr_nonnull(ok);
    ck_assert(strncmp(ok, "OK ", 3) == 0);
    char series[128];
    snprintf(series, sizeof(series), "bff_config_info{sha256=\"%s\"}", ok + 3);
    ck_assert_int_eq(metric(m, series), 1);
    free(ok);
    /* a label value with a quote and a backslash, escaped */
    ck_assert_int_eq(
        metric(m, "bff_request_duration_seconds_count{route=\"/x\\\"y\\\\z\"}"), 0);
    ck_assert_msg(promtool_ok(m), "promtool check metrics refused the scrape:\n%s", m);
    free(m);
    ck_assert_int_eq(h_stop(&bff.proc), 0);
}
END_TEST

START_TEST(admin_endpoints_answer)
{
    long st = 0;
    start_bff();
    char *b = admin_get("/healthz", &st);
    ck_assert_int_eq(st, 200);
    free(b);
    b = admin_get("/readyz", &st);
    ck_assert_int_eq(st, 200);
    ck_assert_ptr_nonnull(strstr(b, "\"ready\":true"));
    free(b);
    b = admin_get("/admin/config", &st);
    ck_assert_int_eq(st, 200);
    json_object *j = json_tokener_parse(b);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(strlen(jstr(j, "sha256")), 64);
    ck_assert_str_eq(jstr(j, "path"), bff.config);
    json_object *v;
    ck_assert(json_object_object_get_ex(j, "loaded_at", &v));
    ck_assert(json_object_get_int64(v) > 1600000000);
    ck_assert(json_object_object_get_ex(j, "last_rejected", &v));
    ck_assert_ptr_null(v);
    json_object_put(j);
    free(b);
    b = admin_get("/nope", &st);
    ck_assert_int_eq(st, 404);
    free(b);

    /* POST /admin/reload: 200, then with a broken file 422 and the errors */
    struct h_resp r;
    ck_assert_int_eq(h_http("POST", url(bff.admin, "/admin/reload"), NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    char  *cfg = NULL;
    size_t len = 0;
    FILE  *f = fopen(bff.config, "r");
    ck_assert_ptr_nonnull(f);
    cfg = calloc(1, 65536);
    len = fread(cfg, 1, 65535, f);
    fclose(f);
    ck_assert(len > 0);
    f = fopen(bff.config, "a");
    fputs("listen_typo: 1\n", f);
    fclose(f);
    ck_assert_int_eq(h_http("POST", url(bff.admin, "/admin/reload"), NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 422);
    ck_assert_ptr_nonnull(strstr(r.body, "listen_typo"));
    h_resp_free(&r);
    b = admin_get("/admin/config", &st);
    j = json_tokener_parse(b);
    ck_assert(json_object_object_get_ex(j, "reloads", &v));
    ck_assert_int_eq(json_object_get_int(v), 1);
    ck_assert(json_object_object_get_ex(j, "reloads_rejected", &v));
    ck_assert_int_eq(json_object_get_int(v), 1);
    ck_assert(json_object_object_get_ex(j, "last_rejected", &v));
    ck_assert_ptr_nonnull(v);
    json_object *errs, *at;
    ck_assert(json_object_object_get_ex(v, "errors", &errs));
    ck_assert(json_object_object_get_ex(v, "at", &at));
    ck_assert(json_object_get_int64(at) > 1600000000);
    ck_assert_int_ge(json_object_array_length(errs), 1);
    ck_assert_ptr_nonnull(strstr(
        json_object_get_string(json_object_array_get_idx(errs, 0)), "listen_typo"));
    json_object_put(j);
    free(b);
    /* the old config keeps serving */
    ck_assert_int_eq(get_status("/inventory/SKU-1", NULL), 200);
    free(cfg);
    ck_assert_int_eq(h_stop(&bff.proc), 0);
}
END_TEST

/* An admin request with "Authorization: Bearer @token" (none when NULL). */
static long admin_call(const char *method, const char *path, const char *token,
                       struct h_resp *r)
{
    char        auth[256];
    const char *hdrs[] = {auth, NULL};
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
    if (h_http(method, url(bff.admin, path), token ? hdrs : NULL,
               strcmp(method, "POST") == 0 ? "" : NULL, r) != 0)
        return -1;
    return r->status;
}

static long admin_status(const char *method, const char *path, const char *token)
{
    struct h_resp r;
    long          st = admin_call(method, path, token, &r);
    h_resp_free(&r);
    return st;
}

/* A 401 as docs/operations.md describes it: problem+json and the challenge. */
static void assert_401(const char *method, const char *path, const char *token)
{
    struct h_resp r;
    ck_assert_int_eq(admin_call(method, path, token, &r), 401);
    ck_assert_str_eq(h_header(&r, "Content-Type"), "application/problem+json");
    ck_assert_str_eq(h_header(&r, "WWW-Authenticate"), "Bearer realm=\"portico-admin\"");
    json_object *j = json_tokener_parse(r.body);
    ck_assert_ptr_nonnull(j);
    json_object *v;
    ck_assert(json_object_object_get_ex(j, "status", &v));
    ck_assert_int_eq(json_object_get_int(v), 401);
    json_object_put(j);
    h_resp_free(&r);
}

/* Replaces @dir/admin.token with @content at once (rename). */
static void write_token(const char *content)
{
    ck_assert_ptr_nonnull(h_write(dir, "admin.token.new", content));
    char from[600], to[600];
    snprintf(from, sizeof(from), "%s/admin.token.new", dir);
    snprintf(to, sizeof(to), "%s/admin.token", dir);
    ck_assert_int_eq(rename(from, to), 0);
}

START_TEST(admin_token_locks_metrics_and_admin)
{
    static const char tok_a[] = "tokA-0123456789abcdef-XYZ";
    static const char same_len[] = "tokA-0123456789abcdef-XYy"; /* one byte off */
    static const char tok_b[] = "tokB-fedcba9876543210-new";
    char              locked[4096];

    write_token("tokA-0123456789abcdef-XYZ\n");
    snprintf(locked, sizeof(locked), "admin_token_file: @DIR@/admin.token\n%s", yaml);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, locked, &shop), 0);
    atexit(kill_bff);

    /* the load balancer's probes stay open */
    ck_assert_int_eq(admin_status("GET", "/healthz", NULL), 200);
    ck_assert_int_eq(admin_status("GET", "/readyz", NULL), 200);
    /* everything else: 401 without the token, with a wrong one, with one of
     * the same length, with another scheme */
    assert_401("GET", "/metrics", NULL);
    assert_401("GET", "/admin/config", NULL);
    assert_401("GET", "/admin/resilience", NULL);
    assert_401("POST", "/admin/reload", NULL);
    assert_401("GET", "/metrics", "wrong");
    assert_401("GET", "/metrics", same_len);
    assert_401("GET", "/admin/config", same_len);
    assert_401("GET", "/metrics", "tokA-0123456789abcdef-XY"); /* a prefix */
    assert_401("GET", "/nope", NULL);
    {
        struct h_resp r;
        const char   *basic[] = {"Authorization: Basic dG9rQS0wMTIzNDU2Nzg5YWJjZGVm", NULL};
        ck_assert_int_eq(h_http("GET", url(bff.admin, "/metrics"), basic, NULL, &r), 0);
        ck_assert_int_eq(r.status, 401);
        h_resp_free(&r);
        const char *raw[] = {"Authorization: tokA-0123456789abcdef-XYZ", NULL};
        ck_assert_int_eq(h_http("GET", url(bff.admin, "/metrics"), raw, NULL, &r), 0);
        ck_assert_int_eq(r.status, 401);
        h_resp_free(&r);
    }
    /* with it: the usual answers; the token is not in /admin/config */
    ck_assert_int_eq(admin_status("GET", "/metrics", tok_a), 200);
    ck_assert_int_eq(admin_status("GET", "/admin/resilience", tok_a), 200);
    ck_assert_int_eq(admin_status("GET", "/nope", tok_a), 404);
    {
        struct h_resp r;
        ck_assert_int_eq(admin_call("GET", "/admin/config", tok_a, &r), 200);
        ck_assert_ptr_null(strstr(r.body, "tokA"));
        h_resp_free(&r);
        /* the scheme is case-insensitive (RFC 9110 11.1) */
        const char *lower[] = {"Authorization: bearer tokA-0123456789abcdef-XYZ", NULL};
        ck_assert_int_eq(h_http("GET", url(bff.admin, "/metrics"), lower, NULL, &r), 0);
        ck_assert_int_eq(r.status, 200);
        h_resp_free(&r);
    }
    /* POST /admin/reload with the token; a 401 reload did not count */
    ck_assert_int_eq(admin_status("POST", "/admin/reload", tok_a), 200);
    {
        struct h_resp r;
        ck_assert_int_eq(admin_call("GET", "/admin/config", tok_a, &r), 200);
        json_object *j = json_tokener_parse(r.body), *v;
        ck_assert(json_object_object_get_ex(j, "reloads", &v));
        ck_assert_int_eq(json_object_get_int(v), 1);
        json_object_put(j);
        h_resp_free(&r);
    }
    /* a new token: the reload that reads it is asked with the old one; then
     * the old one is 401 and the new one 200 */
    write_token("tokB-fedcba9876543210-new\n");
    ck_assert_int_eq(admin_status("GET", "/metrics", tok_a), 200); /* not yet */
    ck_assert_int_eq(admin_status("POST", "/admin/reload", tok_a), 200);
    assert_401("GET", "/metrics", tok_a);
    assert_401("POST", "/admin/reload", tok_a);
    ck_assert_int_eq(admin_status("GET", "/metrics", tok_b), 200);
    /* a bad token file is a rejected reload: the token in force stays */
    write_token("short\n");
    {
        struct h_resp r;
        ck_assert_int_eq(admin_call("POST", "/admin/reload", tok_b, &r), 422);
        ck_assert_ptr_nonnull(strstr(r.body, "admin_token_file"));
        ck_assert_ptr_null(strstr(r.body, "short\\n"));
        h_resp_free(&r);
    }
    ck_assert_int_eq(admin_status("GET", "/metrics", tok_b), 200);
    assert_401("GET", "/metrics", "short");
    /* SIGHUP reads the file too */
    write_token("tokA-0123456789abcdef-XYZ\n");
    ck_assert_int_eq(kill(bff.proc.pid, SIGHUP), 0);
    long st = 0;
    for (int i = 0; i < 250 && (st = admin_status("GET", "/metrics", tok_a)) != 200; i++)
        sleep_ms(20);
    ck_assert_int_eq(st, 200);
    assert_401("GET", "/metrics", tok_b);
    ck_assert_int_eq(admin_status("GET", "/healthz", NULL), 200);
    ck_assert_int_eq(h_stop(&bff.proc), 0);

    /* neither token is in the process's log */
    char  *log = NULL;
    size_t len = 0;
    ck_assert_int_eq(read_all(bff.proc.log, &log, &len), 0);
    ck_assert(len > 0);
    ck_assert_ptr_nonnull(strstr(log, "admin_token_file"));
    ck_assert_ptr_null(strstr(log, "tokA-"));
    ck_assert_ptr_null(strstr(log, "tokB-"));
    free(log);
}
END_TEST

START_TEST(trace_context_reaches_the_service_and_the_log)
{
    start_bff();
    const char   *parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const char   *hdrs[] = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
                              "00f067aa0ba902b7-01",
                            "X-Request-Id: trace-test-1", NULL};
    struct h_resp r;
    char          spans[2][17] = {"", ""};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(h_http("GET", url(bff.port, "/echo/t"), hdrs, NULL, &r), 0);
        ck_assert_int_eq(r.status, 200);
        json_object *j = body_json(&r);
        const char  *tp = jstr(j, "headers.traceparent");
        ck_assert_ptr_nonnull(tp);
        ck_assert_int_eq(strlen(tp), 55);
        ck_assert(strncmp(tp, parent, 36) == 0); /* same version and trace id */
        ck_assert(strncmp(tp + 36, parent + 36, 16) != 0); /* a child span */
        memcpy(spans[k], tp + 36, 16);
        json_object_put(j);
        h_resp_free(&r);
    }
    ck_assert_str_ne(spans[0], spans[1]); /* one span per upstream call */

    /* no traceparent: the gateway starts a trace, and logs its id */
    const char *h2[] = {"X-Request-Id: trace-test-2", NULL};
    ck_assert_int_eq(h_http("GET", url(bff.port, "/echo/t"), h2, NULL, &r), 0);
    json_object *j = body_json(&r);
    const char  *tp = jstr(j, "headers.traceparent");
    ck_assert_ptr_nonnull(tp);
    ck_assert_int_eq(strlen(tp), 55);
    ck_assert_str_eq(tp + 52, "-01"); /* started here: sampled (ratio 1.0) */
    char trace[33];
    memcpy(trace, tp + 3, 32);
    trace[32] = '\0';
    json_object_put(j);
    h_resp_free(&r);
    ck_assert_int_eq(h_stop(&bff.proc), 0);

    char  *log = NULL;
    size_t n = 0;
    ck_assert_int_eq(read_all(bff.proc.log, &log, &n), 0);
    int seen1 = 0, seen2 = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "\"request_id\":\"trace-test-1\"")) {
            ck_assert_ptr_nonnull(
                strstr(line, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""));
            seen1++;
        }
        if (strstr(line, "\"request_id\":\"trace-test-2\"")) {
            char want[64];
            snprintf(want, sizeof(want), "\"trace_id\":\"%s\"", trace);
            ck_assert_ptr_nonnull(strstr(line, want));
            seen2++;
        }
    }
    ck_assert_int_eq(seen1, 2);
    ck_assert_int_eq(seen2, 1);
    free(log);
}
END_TEST

/* GETs /echo/t with @hdrs; returns the traceparent and tracestate the service
 * saw (tracestate "" when none) in @tp and @ts. */
static void echo_trace(const char *const *hdrs, char tp[64], char ts[1024])
{
    struct h_resp r;
    ck_assert_int_eq(h_http("GET", url(bff.port, "/echo/t"), hdrs, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r);
    const char  *v = jstr(j, "headers.traceparent");
    ck_assert_ptr_nonnull(v);
    snprintf(tp, 64, "%s", v);
    v = jstr(j, "headers.tracestate");
    snprintf(ts, 1024, "%s", v ? v : "");
    json_object_put(j);
    h_resp_free(&r);
}

/* W3C Trace Context: the caller's sampled flag is passed on (not set), its
 * tracestate too when valid and within 32 members and 512 bytes (else
 * dropped whole, as with an invalid traceparent), and a trace started here
 * follows tracing.sample_ratio (0 here: never sampled). */
START_TEST(trace_flags_and_tracestate_are_the_callers)
{
    static const char extra[] = "tracing: { sample_ratio: 0 }\n";
    char             *cfg = malloc(strlen(yaml) + sizeof(extra));
    ck_assert_ptr_nonnull(cfg);
    strcpy(cfg, yaml);
    strcat(cfg, extra);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, cfg, &shop), 0);
    atexit(kill_bff);

    char        tp[64], ts[1024];
    const char *unsampled[] = {
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "tracestate: congo=t61rcWkgMzE, rojo=00f067aa0ba902b7", NULL};
    echo_trace(unsampled, tp, ts);
    ck_assert_int_eq(strncmp(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36), 0);
    ck_assert_str_eq(tp + 52, "-00");
    ck_assert_str_eq(ts, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");

    /* sampled, with an unknown flag bit: only "sampled" is passed on; two
     * tracestate lines are one list, empty members dropped */
    const char *sampled[] = {
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
        "tracestate: t@vendor=a b,,", "tracestate: x=1", NULL};
    echo_trace(sampled, tp, ts);
    ck_assert_str_eq(tp + 52, "-01");
    ck_assert_str_eq(ts, "t@vendor=a b,x=1");

    /* invalid tracestates are dropped whole */
    char many[1024] = "tracestate: ", big[1024] = "tracestate: k0=";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sk%d=v",
                 i ? "," : "", i);
    /* k0=<250 v>,k1=<253 v>: 253 + 1 + 256 = 510 bytes, fits */
    memset(big + strlen(big), 'v', 250);
    strcat(big, ",k1=");
    memset(big + strlen(big), 'v', 253);
    const char *bad[] = {"tracestate: Congo=1", /* upper-case key */
                         "tracestate: a=1,a=2", /* a key twice */
                         "tracestate: a=1,b",   /* no '=' */
                         "tracestate: a=x=y",   /* '=' in the value */
                         many,                  /* 33 members */
                         NULL};
    for (int i = 0; bad[i]; i++) {
        const char *h[] = {unsampled[0], bad[i], NULL};
        echo_trace(h, tp, ts);
        ck_assert_msg(ts[0] == '\0', "%s passed on as %s", bad[i], ts);
        ck_assert_str_eq(tp + 52, "-00");
    }
    const char *h_big[] = {unsampled[0], big, NULL};
    echo_trace(h_big, tp, ts);
    ck_assert_uint_eq(strlen(ts), 510);
    strcat(big, "vvv"); /* 513 bytes, each member still valid */
    echo_trace(h_big, tp, ts);
    ck_assert_str_eq(ts, "");
    many[strrchr(many, ',') - many] = '\0'; /* 32 members: fine */
    const char *h_many[] = {unsampled[0], many, NULL};
    echo_trace(h_many, tp, ts);
    ck_assert_str_eq(ts, many + strlen("tracestate: "));

    /* no valid traceparent: a trace starts here, unsampled at ratio 0, and
     * a tracestate is not passed on */
    const char *started[] = {"traceparent: 01-4bf92f3577b34da6a3ce929d0e0e4736-"
                             "00f067aa0ba902b7-01",
                             "tracestate: congo=t61rcWkgMzE", NULL};
    echo_trace(started, tp, ts);
    ck_assert_int_ne(strncmp(tp + 3, "4bf92f3577b34da6a3ce929d0e0e4736", 32), 0);
    ck_assert_str_eq(tp + 52, "-00");
    ck_assert_str_eq(ts, "");
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    free(cfg);
}
END_TEST

/* ---- reload under traffic ------------------------------------------------------ */


/* Writes @text as the BFF's config the way an operator's deploy should: a new
 * file renamed over the old one, so a reload never reads half a file. */
static void write_config(const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.new", bff.config);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, bff.config), 0);
}

static long config_count(const char *key)
{
    char *b = admin_get("/admin/config", NULL);
    long  v = -1;
    if (b) {
        json_object *j = json_tokener_parse(b), *o;
        if (j && json_object_object_get_ex(j, key, &o))
            v = json_object_get_int(o);
        json_object_put(j);
        free(b);
    }
    return v;
}

START_TEST(reload_under_traffic_drops_nothing)
{
    enum { THREADS = 4, RELOADS = 10, INVALID = 6 };
    start_bff();
    char  *base = NULL;
    size_t blen = 0;
    ck_assert_int_eq(read_all(bff.config, &base, &blen), 0);
    ck_assert_int_eq(get_status("/r1/echo", NULL), 404);

    struct h_traffic t = {.url = url(bff.port, "/inventory/SKU-1")};
    pthread_mutex_init(&t.lock, NULL);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, h_traffic_main, &t), 0);
    for (int i = 0; i < 4000 && atomic_load(&t.ok) < 200 && atomic_load(&t.failed) == 0;
         i++)
        sleep_ms(5);
    double before = scrape_one("bff_requests_total{route=\"/inventory\","
                               "method_class=\"read\",status_class=\"2xx\"}");

    for (int k = 1; k <= RELOADS; k++) {
        size_t cap = blen + 4096;
        char  *text = malloc(cap);
        size_t o = (size_t)snprintf(text, cap, "%s", base);
        for (int r = 1; r <= k; r++)
            o += (size_t)snprintf(text + o, cap - o,
                                  "  - path: /r%d\n    service: users\n"
                                  "    strip_prefix: true\n",
                                  r);
        if (k == INVALID)
            snprintf(text + o, cap - o, "  - path: /broken\n    service: nowhere\n");
        write_config(text);
        free(text);
        long ok0 = config_count("reloads"), bad0 = config_count("reloads_rejected");
        ck_assert_int_eq(kill(bff.proc.pid, SIGHUP), 0);
        int done = 0;
        for (int i = 0; i < 500 && !done; i++) {
            done = config_count("reloads") + config_count("reloads_rejected") ==
                   ok0 + bad0 + 1;
            if (!done)
                sleep_ms(10);
        }
        ck_assert_msg(done, "reload %d was not counted", k);
        /* a little traffic on each config */
        long mark = atomic_load(&t.ok);
        for (int i = 0;
             i < 5000 && atomic_load(&t.ok) < mark + 300 && !atomic_load(&t.failed);
             i++)
            sleep_ms(2);
    }
    for (int i = 0;
         i < 4000 && atomic_load(&t.ok) < 4000 && atomic_load(&t.failed) == 0; i++)
        sleep_ms(5);
    atomic_store(&t.stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_msg(atomic_load(&t.failed) == 0, "%ld of %ld requests failed; first: %s",
                  atomic_load(&t.failed), atomic_load(&t.ok) + atomic_load(&t.failed),
                  t.first_failure);
    ck_assert_int_ge(atomic_load(&t.ok), 4000);

    ck_assert_int_eq(config_count("reloads"), RELOADS - 1);
    ck_assert_int_eq(config_count("reloads_rejected"), 1);
    for (int r = 1; r <= RELOADS; r++) {
        char p[32];
        snprintf(p, sizeof(p), "/r%d/echo", r);
        ck_assert_int_eq(get_status(p, NULL), 200);
    }
    ck_assert_int_eq(get_status("/broken", NULL), 404);
    ck_assert_int_eq(
        wait_metric("bff_requests_total{route=\"/r10\",method_class=\"read\","
                    "status_class=\"2xx\"}",
                    1),
        1);
    /* counters survived every swap and only grew */
    double after = scrape_one("bff_requests_total{route=\"/inventory\","
                              "method_class=\"read\",status_class=\"2xx\"}");
    ck_assert(after >= before + 3000);
    ck_assert_int_eq(scrape_one("bff_config_reloads_total{result=\"rejected\"}"), 1);
    ck_assert_int_eq(scrape_one("bff_config_reloads_total{result=\"ok\"}"),
                     RELOADS - 1);
    free(base);
    pthread_mutex_destroy(&t.lock);
    ck_assert_int_eq(h_stop(&bff.proc), 0);
}
END_TEST

/* ---- drain ------------------------------------------------------------------------
 */

struct slow {
    const char *url;
    long        status;
    _Atomic int done;
};

static void *slow_main(void *arg)
{
    struct slow  *s = arg;
    struct h_resp r;
    s->status = h_http("GET", s->url, NULL, NULL, &r) == 0 ? r.status : -1;
    h_resp_free(&r);
    atomic_store(&s->done, 1);
    return NULL;
}

static int connect_refused(int port)
{
    struct sockaddr_in a = {0};
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    int refused = rc != 0 && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

/* A reload while requests wait on a service: they finish on the config they
 * started with (the old snapshot lives until the last of them is done);
 * requests after it see the new one. */
START_TEST(in_flight_requests_finish_on_their_config)
{
    enum { N = 4 };
    start_bff();
    ck_assert_int_eq(h_fault(&shop, "inventory", "delay_ms=1500"), 0);
    struct slow s[N];
    pthread_t   th[N];
    for (int i = 0; i < N; i++) {
        s[i] = (struct slow){.url = url(bff.port, "/inventory/SKU-1")};
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_main, &s[i]), 0);
    }
    ck_assert_int_eq(wait_metric("bff_requests_in_flight", N), N);

    char  *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(read_all(bff.config, &text, &len), 0);
    char *route = strstr(text, "  - path: /inventory\n    service: inventory\n");
    ck_assert_ptr_nonnull(route);
    memcpy(strstr(route, "service: inventory") + 9, "users    ", 9); /* same length */
    write_config(text);
    free(text);
    long ok0 = config_count("reloads");
    ck_assert_int_eq(kill(bff.proc.pid, SIGHUP), 0);
    for (int i = 0; i < 500 && config_count("reloads") == ok0; i++)
        sleep_ms(10);
    ck_assert_int_eq(config_count("reloads"), ok0 + 1);
    /* the new config: /inventory now goes to users, which has no such path */
    ck_assert_int_eq(get_status("/inventory/SKU-1", NULL), 404);

    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(s[i].status == 200, "in-flight request %d: %ld", i, s[i].status);
    }
    h_fault(&shop, "inventory", "");
    ck_assert_int_eq(h_stop(&bff.proc), 0);
}
END_TEST

START_TEST(sigterm_drains_in_flight_requests)
{
    enum { N = 6 };
    start_bff();
    ck_assert_int_eq(h_fault(&shop, "inventory", "delay_ms=3000"), 0);
    struct slow s[N];
    pthread_t   th[N];
    for (int i = 0; i < N; i++) {
        s[i] = (struct slow){.url = url(bff.port, "/inventory/SKU-1")};
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_main, &s[i]), 0);
    }
    ck_assert_int_eq(wait_metric("bff_requests_in_flight", N), N);
    ck_assert_int_eq(kill(bff.proc.pid, SIGTERM), 0);

    /* not ready at once; then the listener closes while the requests still run */
    long st = 0;
    int  saw_503 = 0, refused = 0, all_done = 0;
    for (int i = 0; i < 400 && !(saw_503 && refused); i++) {
        if (!saw_503) {
            char *b = admin_get("/readyz", &st);
            saw_503 = b && st == 503 && strstr(b, "\"draining\":true");
            free(b);
        }
        if (saw_503 && !refused) {
            refused = connect_refused(bff.port);
            all_done = 1;
            for (int k = 0; k < N; k++)
                all_done &= atomic_load(&s[k].done);
        }
        if (!(saw_503 && refused))
            sleep_ms(10);
    }
    ck_assert_msg(saw_503, "/readyz did not turn 503 on SIGTERM");
    ck_assert_msg(refused, "the listener kept accepting during the drain");
    ck_assert_msg(!all_done, "the slow requests ended before the listener closed");

    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(s[i].status, 200);
    }
    int status = -1;
    for (int i = 0; i < 500; i++) {
        pid_t p = waitpid(bff.proc.pid, &status, WNOHANG);
        if (p == bff.proc.pid) {
            bff.proc.pid = 0;
            break;
        }
        sleep_ms(10);
    }
    ck_assert_int_eq(bff.proc.pid, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    h_fault(&shop, "inventory", "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_ops");
    TCase *tc = tcase_create("ops");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, metrics_count_what_was_sent_and_pass_promtool);
    tcase_add_test(tc, admin_endpoints_answer);
    tcase_add_test(tc, admin_token_locks_metrics_and_admin);
    tcase_add_test(tc, trace_context_reaches_the_service_and_the_log);
    tcase_add_test(tc, trace_flags_and_tracestate_are_the_callers);
    tcase_add_test(tc, reload_under_traffic_drops_nothing);
    tcase_add_test(tc, in_flight_requests_finish_on_their_config);
    tcase_add_test(tc, sigterm_drains_in_flight_requests);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
