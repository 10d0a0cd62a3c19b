/* tests/unit/runtime/test_metrics.c — per-worker counters keyed by route pattern and
 * service name: they survive a snapshot swap and render as exposition text. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/util.h"
#include "types/worker-t.h"
#include "runtime/metrics.h"

static struct bff_snapshot *snap_of(const char *yaml)
{
    struct bff_diag        diag = {0};
    struct bff_config_opts opts = {NULL, 0};
    struct bff_config     *cfg =
        bff_config_parse("t.yaml", yaml, strlen(yaml), &opts, &diag);
    struct bff_snapshot *s = calloc(1, sizeof(*s));
    for (size_t i = 0; i < diag.n; i++)
        fprintf(stderr, "%s\n", diag.msgs[i]);
    bff_diag_cleanup(&diag);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_nonnull(s);
    s->cfg = cfg;
    s->services = calloc(cfg->nservices + 1, sizeof(*s->services));
    for (size_t i = 0; i < cfg->nservices; i++)
        s->services[i].conf = &cfg->services[i];
    ck_assert_int_eq(metrics_snapshot_init(s), 0);
    return s;
}

static void snap_free(struct bff_snapshot *s)
{
    metrics_snapshot_cleanup(s);
    free(s->services);
    bff_config_free(s->cfg);
    free(s);
}

static int route_of(const struct bff_snapshot *s, const char *path)
{
    for (size_t i = 0; i < s->cfg->nroutes; i++)
        if (strcmp(s->cfg->routes[i].path, path) == 0)
            return (int)i;
    return -1;
}

static void request(struct bff_worker *w, struct bff_snapshot *s, const char *route,
                    uint32_t mbit, int status)
{
    struct bff_request r = {0};
    r.w = w;
    r.snap = s;
    r.route_idx = route ? route_of(s, route) : -1;
    r.mbit = mbit;
    r.status = status;
    r.start_us = bff_now_us();
    metrics_request_done(&r);
}

static char *render(struct bff_snapshot *s)
{
    struct metrics_info in = {.name = "t", .version = "0", .snap = s};
    size_t              len = 0;
    char               *text = metrics_render(&in, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

static const char *yaml_a = "services:\n"
                            "  users: { url: \"http://127.0.0.1:1\" }\n"
                            "routes:\n"
                            "  - path: /a\n"
                            "    service: users\n"
                            "  - path: /b/{id}\n"
                            "    service: users\n";
/* a reload: /b gone, /c new, /a moved */
static const char *yaml_b = "services:\n"
                            "  users: { url: \"http://127.0.0.1:1\" }\n"
                            "routes:\n"
                            "  - path: /c\n"
                            "    service: users\n"
                            "  - path: /a\n"
                            "    service: users\n";

START_TEST(counters_survive_a_swap_and_never_go_back)
{
    struct bff_snapshot *a = snap_of(yaml_a);
    ck_assert_int_eq(metrics_init(2), 0);
    struct bff_worker w0 = {.id = 0, .metrics = metrics_worker(0), .snap = a};
    struct bff_worker w1 = {.id = 1, .metrics = metrics_worker(1), .snap = a};
    ck_assert_ptr_nonnull(w0.metrics);
    ck_assert_ptr_nonnull(w1.metrics);

    request(&w0, a, "/a", BFF_M_GET, 200);
    request(&w1, a, "/a", BFF_M_GET, 200);
    request(&w1, a, "/a", BFF_M_POST, 503);
    request(&w0, a, "/b/{id}", BFF_M_HEAD, 404);
    request(&w0, a, NULL, BFF_M_GET, 404);
    request(&w0, a, NULL, BFF_M_DELETE, 0); /* no answer at all: the gateway's */

    struct bff_snapshot *b = snap_of(yaml_b);
    w0.snap = w1.snap = b;
    request(&w1, b, "/a", BFF_M_GET, 200);
    request(&w0, b, "/c", BFF_M_OPTIONS, 204);

    char *t = render(b);
    ck_assert_ptr_nonnull(
        strstr(t, "bff_requests_total{route=\"/"
                  "a\",method_class=\"read\",status_class=\"2xx\"} 3\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_requests_total{route=\"/"
                  "a\",method_class=\"write\",status_class=\"5xx\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_requests_total{route=\"/b/"
                  "{id}\",method_class=\"read\",status_class=\"4xx\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "bff_requests_total{route=\"none\",method_class="
                                    "\"read\",status_class=\"4xx\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "bff_requests_total{route=\"none\",method_class="
                                    "\"write\",status_class=\"5xx\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_requests_total{route=\"/"
                  "c\",method_class=\"read\",status_class=\"2xx\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_request_duration_seconds_count{route=\"/a\"} 4\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"));
    /* a removed route keeps its series while it has counts */
    ck_assert_ptr_nonnull(
        strstr(t, "bff_request_duration_seconds_count{route=\"/b/{id}\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE bff_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE bff_request_duration_seconds histogram\n"));
    free(t);
    snap_free(a);
    snap_free(b);
    metrics_cleanup();
}
END_TEST

START_TEST(upstream_and_jwt_counters)
{
    struct bff_snapshot *a = snap_of(yaml_a);
    ck_assert_int_eq(metrics_init(1), 0);
    struct bff_worker w = {.id = 0, .metrics = metrics_worker(0), .snap = a};

    metrics_upstream_done(&w, &a->services[0], metrics_up_outcome(UP_OK, 200), 1500);
    metrics_upstream_done(&w, &a->services[0], metrics_up_outcome(UP_OK, 502), 20000);
    metrics_upstream_done(&w, &a->services[0], metrics_up_outcome(UP_TIMEOUT, 0),
                          800000);
    metrics_upstream_done(&w, NULL, metrics_up_outcome(UP_CONNECT, 0), 100);
    metrics_jwt_refusal(&w, BFF_JWT_EXPIRED);
    metrics_jwt_refusal(&w, BFF_JWT_EXPIRED);
    metrics_connection(&w, 1);
    metrics_connection(&w, 1);
    metrics_connection(&w, -1);

    char *t = render(a);
    ck_assert_ptr_nonnull(
        strstr(t, "bff_upstream_calls_total{service=\"users\",outcome=\"ok\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        t, "bff_upstream_calls_total{service=\"users\",outcome=\"http_5xx\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        t, "bff_upstream_calls_total{service=\"users\",outcome=\"timeout\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        t,
        "bff_upstream_calls_total{service=\"unknown\",outcome=\"connect_error\"} 1\n"));
    /* 1.5 ms lands in le=0.0025, 20 ms in 0.025, 800 ms in 1 */
    ck_assert_ptr_nonnull(strstr(
        t, "bff_upstream_duration_seconds_bucket{service=\"users\",le=\"0.001\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(
        t,
        "bff_upstream_duration_seconds_bucket{service=\"users\",le=\"0.0025\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        t, "bff_upstream_duration_seconds_bucket{service=\"users\",le=\"0.025\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        t, "bff_upstream_duration_seconds_bucket{service=\"users\",le=\"0.5\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        t, "bff_upstream_duration_seconds_bucket{service=\"users\",le=\"1\"} 3\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_upstream_duration_seconds_sum{service=\"users\"} 0.821500\n"));
    ck_assert_ptr_nonnull(strstr(t, "bff_jwt_refusals_total{reason=\"expired\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "bff_jwt_refusals_total{reason=\"bad_signature\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "bff_connections 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "bff_circuit_state{service=\"users\"} 0\n"));
    free(t);
    snap_free(a);
    metrics_cleanup();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, counters_survive_a_swap_and_never_go_back);
    tcase_add_test(tc, upstream_and_jwt_counters);
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
