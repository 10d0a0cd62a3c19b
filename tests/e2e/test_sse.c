/* tests/e2e/test_sse.c — the demo shop's event stream, straight at the
 * orders service: GET /orders/{id}/events (docs/streaming.md, "Server-Sent
 * Events in the demo shop and the dashboard").
 *
 * One shop-services for the suite, with a short ping (200ms), a cap of 4
 * streams and o-7 advancing by itself every 100ms; statuses are changed
 * through the control port (POST /orders/{id}/status?to=) and every test
 * starts from the seed statuses (POST /reset). What is asserted is the order
 * and content of what arrives, never how fast: every wait is bounded and
 * polled. */
#include <json-c/json.h>
#include <sys/wait.h>

#include "common.h"
#include "h_sse.h"

#define WAIT_MS 5000

static const char   *dir;
static struct h_shop shop;

static void setup(void)
{
    char *extra[] = {"--sse-ping", "200ms", "--sse-max-streams", "4", "--advance", "o-7",
                     "--advance-every", "100ms", NULL};

    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_spawn(&shop, dir, "shop-services", extra), 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", shop.orders);
    ck_assert_int_eq(h_wait_status(url, 200, 10000), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(h_stop(&shop.proc), 0);
    h_cleanup_dir(dir);
}

/* A control-port call; the body parsed into *@out when @out (put it). */
static long control(const char *method, const char *path, json_object **out)
{
    char          url[512];
    struct h_resp r;
    long          st;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", shop.control, path);
    ck_assert_int_eq(h_http(method, url, NULL, strcmp(method, "GET") ? "" : NULL, &r), 0);
    st = r.status;
    if (out != NULL)
        *out = body_json(&r);
    h_resp_free(&r);
    return st;
}

static void set_status(const char *id, const char *to)
{
    char path[128];

    snprintf(path, sizeof(path), "/orders/%s/status?to=%s", id, to);
    ck_assert_int_eq(control("POST", path, NULL), 200);
}

static long open_streams(void)
{
    json_object *j = NULL, *n;
    long         v = -1;

    ck_assert_int_eq(control("GET", "/stats/orders", &j), 200);
    if (json_object_object_get_ex(j, "event_streams", &n))
        v = json_object_get_int64(n);
    json_object_put(j);
    return v;
}

/* Each test from the seed statuses, with no stream left from the last one
 * (a stream whose client went away is noticed at its next ping). */
static void fresh(void)
{
    ck_assert_int_eq(control("POST", "/reset", NULL), 200);
    for (int t = 0; t < WAIT_MS && open_streams() != 0; t += 20)
        sleep_ms(20);
    ck_assert_int_eq(open_streams(), 0);
}

/* GET /orders/@id/events as @user (with @roles and @last_id when non-NULL). */
static int stream_open(struct h_sse *s, const char *id, const char *user,
                       const char *roles, const char *last_id)
{
    char        path[128], uh[64], rh[64], lh[64];
    const char *hdr[4] = {0};
    int         n = 0;

    snprintf(path, sizeof(path), "/orders/%s/events", id);
    snprintf(uh, sizeof(uh), "X-User-Id: %s", user);
    hdr[n++] = uh;
    if (roles != NULL) {
        snprintf(rh, sizeof(rh), "X-User-Roles: %s", roles);
        hdr[n++] = rh;
    }
    if (last_id != NULL) {
        snprintf(lh, sizeof(lh), "Last-Event-ID: %s", last_id);
        hdr[n++] = lh;
    }
    ck_assert_int_eq(h_sse_open(s, shop.orders, path, hdr), 0);
    return s->status;
}

/* Opens a stream that must be a 200 event stream. */
static void stream_ok(struct h_sse *s, const char *id, const char *user, const char *roles,
                      const char *last_id)
{
    ck_assert_int_eq(stream_open(s, id, user, roles, last_id), 200);
    ck_assert_str_eq(h_sse_header(s, "Content-Type"), "text/event-stream");
    ck_assert_str_eq(h_sse_header(s, "Cache-Control"), "no-cache");
    ck_assert_ptr_null(h_sse_header(s, "Content-Length"));
    ck_assert_str_eq(h_sse_header(s, "Transfer-Encoding"), "chunked");
}

static int rfc3339(const char *t)
{
    int y, mo, d, h, mi, se;
    char z;

    return strlen(t) == 20 &&
           sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) == 7 &&
           z == 'Z' && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 &&
           se < 61;
}

static int schema_check; /* validate event data with shared-schemas/ too */

/* The next event (pings skipped) must be status @status (NULL: any) of
 * order @id with event id @n (0: any); returns its id. Into @out when
 * non-NULL: its "at", or with @status NULL its status. */
static long expect_event(struct h_sse *s, const char *id, long n, const char *status,
                         char *out, size_t outlen)
{
    struct h_sse_event ev;
    json_object       *j;
    long               got;

    ck_assert_int_eq(h_sse_next_event(s, &ev, WAIT_MS, NULL), 0);
    ck_assert_str_eq(ev.event, "status");
    ck_assert(ev.id[0] != '\0');
    got = strtol(ev.id, NULL, 10);
    if (n != 0)
        ck_assert_int_eq(got, n);
    j = json_tokener_parse(ev.data);
    ck_assert_msg(j != NULL, "data is not JSON: %s", ev.data);
    ck_assert_str_eq(jstr(j, "id"), id);
    if (status != NULL)
        ck_assert_str_eq(jstr(j, "status"), status);
    ck_assert_msg(jstr(j, "at") && rfc3339(jstr(j, "at")), "at: %s", ev.data);
    ck_assert_int_eq(json_object_object_length(j), 3);
    if (schema_check)
        ck_assert_int_eq(h_schema_valid("orders.status-event.schema.json", ev.data), 0);
    if (out != NULL)
        snprintf(out, outlen, "%s", jstr(j, status == NULL ? "status" : "at"));
    json_object_put(j);
    return got;
}

/* The next @n blocks must be pings (and nothing else). */
static void expect_pings(struct h_sse *s, int n)
{
    struct h_sse_event ev;

    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(h_sse_next(s, &ev, WAIT_MS), 0);
        ck_assert_str_eq(ev.comment, "ping");
        ck_assert_int_eq(ev.has_data, 0);
        ck_assert_str_eq(ev.id, "");
        ck_assert_str_eq(ev.event, "");
    }
}

/* The order's status as GET /orders/@id answers it (as its owner 4412). */
static void order_status_is(const char *id, const char *want)
{
    char          url[128];
    struct h_resp r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders/%s", shop.orders, id);
    const char *hdr[] = {"X-User-Id: 4412", NULL};
    ck_assert_int_eq(h_http("GET", url, hdr, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r);
    ck_assert_str_eq(jstr(j, "status"), want);
    json_object_put(j);
    h_resp_free(&r);
}

START_TEST(owner_sees_each_change_then_the_end)
{
    struct h_sse       s;
    struct h_sse_event ev;
    char               at[32];

    fresh();
    stream_ok(&s, "o-1", "4412", "customer", NULL);
    schema_check = 1; /* this test's events against the shared schema */
    /* first the current status: the seed's, "at" its creation (o-1 has not
     * moved before this first test; ids go on across /reset) */
    long b = expect_event(&s, "o-1", 0, "paid", at, sizeof(at));
    ck_assert_str_eq(at, "2024-03-04T05:06:07Z");
    /* nothing but pings until the status changes */
    expect_pings(&s, 2);
    set_status("o-1", "shipped");
    expect_event(&s, "o-1", b + 1, "shipped", NULL, 0);
    order_status_is("o-1", "shipped");
    ck_assert_int_eq(h_sse_next_event(&s, &ev, 500, NULL), -1);
    set_status("o-1", "delivered");
    expect_event(&s, "o-1", b + 2, "delivered", NULL, 0);
    /* a final status ends the stream: the last chunk, cleanly */
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
    for (int t = 0; t < WAIT_MS && open_streams() != 0; t += 20)
        sleep_ms(20);
    ck_assert_int_eq(open_streams(), 0);
}
END_TEST

START_TEST(pings_keep_an_idle_stream)
{
    struct h_sse       s;
    struct h_sse_event ev;

    fresh();
    stream_ok(&s, "o-6", "4413", NULL, NULL);
    long b = expect_event(&s, "o-6", 0, "paid", NULL, 0);
    /* blocks that are just the comment ": ping", several in a row */
    expect_pings(&s, 3);
    /* and an event still comes after them */
    set_status("o-6", "cancelled");
    expect_event(&s, "o-6", b + 1, "cancelled", NULL, 0);
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
}
END_TEST

START_TEST(another_users_order_is_404_support_sees_it)
{
    struct h_sse  s;
    struct h_resp r;
    char          url[128];

    fresh();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders/o-1/events", shop.orders);
    const char *other[] = {"X-User-Id: 4413", "X-User-Roles: customer", NULL};
    ck_assert_int_eq(h_http("GET", url, other, NULL, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "{\"error\":\"order_not_found\"}");
    h_resp_free(&r);
    /* the same as for an order that does not exist */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders/o-99/events", shop.orders);
    const char *owner[] = {"X-User-Id: 4412", NULL};
    ck_assert_int_eq(h_http("GET", url, owner, NULL, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "{\"error\":\"order_not_found\"}");
    h_resp_free(&r);
    /* no identity at all: 401, like the order */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders/o-1/events", shop.orders);
    ck_assert_int_eq(h_http("GET", url, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);
    /* a stream is read-only */
    ck_assert_int_eq(h_http("POST", url, owner, "", &r), 0);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(h_header(&r, "Allow"), "GET, HEAD");
    h_resp_free(&r);
    ck_assert_int_eq(open_streams(), 0);
    /* support sees anyone's */
    stream_ok(&s, "o-1", "9001", "support", NULL);
    long b = expect_event(&s, "o-1", 0, "paid", NULL, 0);
    set_status("o-1", "shipped");
    expect_event(&s, "o-1", b + 1, "shipped", NULL, 0);
    h_sse_close(&s);
}
END_TEST

START_TEST(an_order_already_final_sends_one_event_and_ends)
{
    struct h_sse       s;
    struct h_sse_event ev;

    fresh();
    stream_ok(&s, "o-3", "4412", NULL, NULL);
    long b = expect_event(&s, "o-3", 0, "delivered", NULL, 0);
    char last[24];
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
    /* caught up with it: 204, nothing more will come */
    snprintf(last, sizeof(last), "%ld", b);
    ck_assert_int_eq(stream_open(&s, "o-3", "4412", NULL, last), 204);
    h_sse_close(&s);
}
END_TEST

START_TEST(last_event_id_resumes_after_it)
{
    struct h_sse       s;
    struct h_sse_event ev;

    char         id[24];

    fresh();
    stream_ok(&s, "o-5", "4412", NULL, NULL);
    long b = expect_event(&s, "o-5", 0, "pending", NULL, 0);
    h_sse_close(&s);
    set_status("o-5", "paid");    /* event b+1 */
    set_status("o-5", "shipped"); /* event b+2 */
    /* after b: b+1 and b+2, in order */
    snprintf(id, sizeof(id), "%ld", b);
    stream_ok(&s, "o-5", "4412", NULL, id);
    expect_event(&s, "o-5", b + 1, "paid", NULL, 0);
    expect_event(&s, "o-5", b + 2, "shipped", NULL, 0);
    ck_assert_int_eq(h_sse_next_event(&s, &ev, 500, NULL), -1);
    h_sse_close(&s);
    /* caught up: a ping at once, then what comes next */
    snprintf(id, sizeof(id), "%ld", b + 2);
    stream_ok(&s, "o-5", "4412", NULL, id);
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 0);
    ck_assert_str_eq(ev.comment, "ping");
    set_status("o-5", "delivered");
    expect_event(&s, "o-5", b + 3, "delivered", NULL, 0);
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
    /* an id from the future (a restarted shop) or not a number: the current */
    set_status("o-5", "pending"); /* event b+4 */
    snprintf(id, sizeof(id), "%ld", b + 100);
    stream_ok(&s, "o-5", "4412", NULL, id);
    expect_event(&s, "o-5", b + 4, "pending", NULL, 0);
    h_sse_close(&s);
    stream_ok(&s, "o-5", "4412", NULL, "x1");
    expect_event(&s, "o-5", b + 4, "pending", NULL, 0);
    h_sse_close(&s);
}
END_TEST

START_TEST(streams_past_the_cap_get_503)
{
    struct h_sse  s[4];
    struct h_resp r;
    char          url[128];

    fresh();
    for (int i = 0; i < 4; i++) {
        stream_ok(&s[i], "o-1", "4412", NULL, NULL);
        expect_event(&s[i], "o-1", 0, "paid", NULL, 0);
    }
    ck_assert_int_eq(open_streams(), 4);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders/o-2/events", shop.orders);
    const char *owner[] = {"X-User-Id: 4412", NULL};
    ck_assert_int_eq(h_http("GET", url, owner, NULL, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "{\"error\":\"too_many_streams\"}");
    ck_assert_str_eq(h_header(&r, "Retry-After"), "5");
    h_resp_free(&r);
    /* plain requests are not streams: they still pass */
    order_status_is("o-1", "paid");
    /* one client goes away: its slot comes free (at its next ping) */
    h_sse_close(&s[0]);
    for (int t = 0; t < WAIT_MS && open_streams() != 3; t += 20)
        sleep_ms(20);
    ck_assert_int_eq(open_streams(), 3);
    stream_ok(&s[0], "o-2", "4412", NULL, NULL);
    expect_event(&s[0], "o-2", 0, "shipped", NULL, 0);
    for (int i = 0; i < 4; i++)
        h_sse_close(&s[i]);
}
END_TEST

START_TEST(control_port_sets_reads_and_resets_statuses)
{
    json_object *j = NULL;
    struct h_sse s;

    json_object *n;
    long         b;

    fresh();
    ck_assert_int_eq(control("GET", "/orders/o-1/status", &j), 200);
    ck_assert_str_eq(jstr(j, "status"), "paid");
    ck_assert(json_object_object_get_ex(j, "event_id", &n));
    b = json_object_get_int64(n);
    json_object_put(j);
    ck_assert_int_eq(control("POST", "/orders/o-1/status?to=shipped", &j), 200);
    ck_assert_str_eq(jstr(j, "id"), "o-1");
    ck_assert_str_eq(jstr(j, "status"), "shipped");
    ck_assert(json_object_object_get_ex(j, "event_id", &n));
    ck_assert_int_eq(json_object_get_int64(n), b + 1);
    json_object_put(j);
    ck_assert_int_eq(control("POST", "/orders/o-99/status?to=paid", &j), 404);
    ck_assert_str_eq(jstr(j, "error"), "order_not_found");
    json_object_put(j);
    ck_assert_int_eq(control("POST", "/orders/o-1/status?to=lost", &j), 400);
    ck_assert_str_eq(jstr(j, "error"), "bad_status");
    json_object_put(j);
    ck_assert_int_eq(control("POST", "/orders/o-1/status", &j), 400);
    ck_assert_str_eq(jstr(j, "error"), "bad_status");
    json_object_put(j);
    ck_assert_int_eq(control("POST", "/orders/o-1/status?to=paid&colour=red", &j), 400);
    ck_assert_str_eq(jstr(j, "error"), "unknown_param");
    ck_assert_str_eq(jstr(j, "param"), "colour");
    json_object_put(j);
    ck_assert_int_eq(control("DELETE", "/orders/o-1/status", NULL), 405);
    order_status_is("o-1", "shipped");
    /* /reset puts the seed status back, as one more event */
    stream_ok(&s, "o-1", "4412", NULL, NULL);
    expect_event(&s, "o-1", b + 1, "shipped", NULL, 0);
    ck_assert_int_eq(control("POST", "/reset", NULL), 200);
    expect_event(&s, "o-1", b + 2, "paid", NULL, 0);
    order_status_is("o-1", "paid");
    h_sse_close(&s);
}
END_TEST

START_TEST(the_advancing_order_walks_its_statuses_to_the_end)
{
    static const char *const cycle[] = {"pending", "paid", "shipped", "delivered"};
    struct h_sse             s;
    struct h_sse_event       ev;
    char                     st[32];
    long                     id, prev_id = 0;
    int                      at = -1, seen = 0;

    fresh();
    /* o-7 (4413's) moves every 100ms: whatever it is now, each event is the
     * next status of the cycle with the next id, up to delivered, the end */
    stream_ok(&s, "o-7", "4413", NULL, NULL);
    for (;;) {
        id = expect_event(&s, "o-7", 0, NULL, st, sizeof(st));
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(st, cycle[i]) == 0)
                k = i;
        ck_assert_msg(k >= 0, "status %s", st);
        if (at >= 0) {
            ck_assert_int_eq(k, (at + 1) % 4);
            ck_assert_int_eq(id, prev_id + 1);
        }
        at = k;
        prev_id = id;
        seen++;
        if (k == 3)
            break;
        ck_assert_int_lt(seen, 8);
    }
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
    /* and it goes on (a demo loop): a new stream starts where it is now */
    stream_ok(&s, "o-7", "4413", NULL, NULL);
    ck_assert_int_ge(expect_event(&s, "o-7", 0, NULL, NULL, 0), prev_id);
    h_sse_close(&s);
}
END_TEST

START_TEST(a_refused_service_cuts_its_streams)
{
    struct h_sse       s;
    struct h_sse_event ev;

    fresh();
    stream_ok(&s, "o-1", "4412", NULL, NULL);
    expect_event(&s, "o-1", 0, "paid", NULL, 0);
    ck_assert_int_eq(h_fault(&shop, "orders", "refuse=1"), 0);
    /* broken off: no last chunk, as when the service dies */
    ck_assert_int_eq(h_sse_next_event(&s, &ev, WAIT_MS, NULL), -2);
    h_sse_close(&s);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    stream_ok(&s, "o-1", "4412", NULL, NULL);
    expect_event(&s, "o-1", 0, "paid", NULL, 0);
    h_sse_close(&s);
}
END_TEST

START_TEST(close_mid_body_cuts_after_the_first_event)
{
    struct h_sse       s;
    struct h_sse_event ev;

    fresh();
    ck_assert_int_eq(h_fault(&shop, "orders", "close_mid_body=1"), 0);
    stream_ok(&s, "o-1", "4412", NULL, NULL);
    expect_event(&s, "o-1", 0, "paid", NULL, 0);
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), -2);
    h_sse_close(&s);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
}
END_TEST

START_TEST(sigterm_ends_open_streams_cleanly)
{
    struct h_shop      other = {0};
    struct h_sse       s;
    struct h_sse_event ev;
    char              *extra[] = {"--sse-ping", "1h", NULL};

    ck_assert_int_eq(h_shop_spawn(&other, dir, "shop-term", extra), 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", other.orders);
    ck_assert_int_eq(h_wait_status(url, 200, 10000), 0);
    const char *hdr[] = {"X-User-Id: 4412", NULL};
    ck_assert_int_eq(h_sse_open(&s, other.orders, "/orders/o-1/events", hdr), 0);
    ck_assert_int_eq(s.status, 200);
    ck_assert_int_eq(h_sse_next_event(&s, &ev, WAIT_MS, NULL), 0);
    ck_assert_str_eq(ev.id, "1");
    /* a stream waiting for an hour-long ping does not hold the exit up */
    ck_assert_int_eq(h_stop(&other.proc), 0);
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
}
END_TEST

/* Waits (10 s at most) for @p to exit by itself; its exit status, or -1. */
static int exit_status(struct h_proc *p)
{
    int status = 0;

    for (int t = 0; t < 10000; t += 10) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    h_stop(p);
    return -1;
}

START_TEST(bad_flags_are_refused)
{
    struct h_proc p = {0};
    char          line[512];
    char         *argv1[] = {(char *)h_bin("demo/shop-services"), "--sse-ping", "5ms", NULL};
    char         *argv2[] = {(char *)h_bin("demo/shop-services"), "--advance", "o-99", NULL};
    char         *argv3[] = {(char *)h_bin("demo/shop-services"), "--sse-max-streams", "0",
                             NULL};

    ck_assert_int_eq(h_spawn(&p, "flag-ping", argv1, dir), 0);
    ck_assert_int_eq(exit_status(&p), 2);
    ck_assert_int_eq(h_wait_log(&p, "--sse-ping 5ms: must be 100ms..1h", line, sizeof(line), 0), 0);
    ck_assert_int_eq(h_spawn(&p, "flag-advance", argv2, dir), 0);
    ck_assert_int_eq(exit_status(&p), 1);
    ck_assert_int_eq(h_wait_log(&p, "--advance o-99: no such order", line, sizeof(line), 0),
                     0);
    ck_assert_int_eq(h_spawn(&p, "flag-max", argv3, dir), 0);
    ck_assert_int_eq(exit_status(&p), 2);
    ck_assert_int_eq(h_wait_log(&p, "--sse-max-streams 0: must be 1..4000", line,
                                sizeof(line), 0),
                     0);
}
END_TEST

/* ---- through bff-mobile ---------------------------------------------------
 * The same stream through the gateway, routed as the repo's configs route
 * it: a route of its own, the orders service's timeout (300ms here) only
 * until the head, idle_timeout well above the shop's ping. */

static struct h_bff  bff;
static struct h_keys keys;

static const char *bff_yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\" }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 300ms, idle_timeout: 5s }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\" }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "routes:\n"
    "  - path: /orders/{id}/events\n"
    "    service: orders\n"
    "    auth: required\n"
    "    methods: [GET, HEAD]\n"
    "    max_streams: 50\n"
    "  - path: /orders\n"
    "    service: orders\n"
    "    auth: required\n";

static void bff_setup(void)
{
    char *extra[] = {"--sse-ping", "200ms", NULL};

    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_spawn(&shop, dir, "shop-services", extra), 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", shop.orders);
    ck_assert_int_eq(h_wait_status(url, 200, 10000), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, bff_yaml, &shop), 0);
}

static void bff_teardown(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    ck_assert_int_eq(h_stop(&shop.proc), 0);
    h_cleanup_dir(dir);
}

/* Opens /orders/@id/events on the BFF with a token for @sub (@roles). */
static int bff_stream(struct h_sse *s, const char *id, const char *sub, const char *roles,
                      const char *last_id)
{
    char  path[128], lh[64];
    char *tok = h_token(&keys, sub, roles, NULL);
    int   rc;

    ck_assert_ptr_nonnull(tok);
    snprintf(path, sizeof(path), "/orders/%s/events", id);
    snprintf(lh, sizeof(lh), "Last-Event-ID: %s", last_id ? last_id : "");
    const char *hdr[] = {h_bearer(tok), "Accept-Encoding: gzip, br", last_id ? lh : NULL,
                         NULL};
    rc = h_sse_open(s, bff.port, path, hdr);
    free(tok);
    ck_assert_int_eq(rc, 0);
    return s->status;
}

START_TEST(through_the_gateway_events_arrive_one_by_one)
{
    struct h_sse       s;
    struct h_sse_event ev;

    fresh();
    ck_assert_int_eq(bff_stream(&s, "o-1", "4412", "customer", NULL), 200);
    ck_assert_str_eq(h_sse_header(&s, "Content-Type"), "text/event-stream");
    /* never compressed, never given an ETag (SPEC section 4) */
    ck_assert_ptr_null(h_sse_header(&s, "Content-Encoding"));
    ck_assert_ptr_null(h_sse_header(&s, "ETag"));
    ck_assert_ptr_null(h_sse_header(&s, "Content-Length"));
    long b = expect_event(&s, "o-1", 0, "paid", NULL, 0);
    /* pings come through, one by one; three of them 200ms apart outlast
     * the service's 300ms timeout: a started stream is not cut by it */
    expect_pings(&s, 3);
    set_status("o-1", "shipped");
    expect_event(&s, "o-1", b + 1, "shipped", NULL, 0);
    ck_assert_int_eq(h_sse_next_event(&s, &ev, 500, NULL), -1);
    set_status("o-1", "delivered");
    expect_event(&s, "o-1", b + 2, "delivered", NULL, 0);
    ck_assert_int_eq(h_sse_next(&s, &ev, WAIT_MS), 1);
    h_sse_close(&s);
}
END_TEST

START_TEST(through_the_gateway_visibility_and_last_event_id)
{
    struct h_sse s;
    char         id[24];

    fresh();
    /* another customer's order: the shop's 404, passed on */
    ck_assert_int_eq(bff_stream(&s, "o-1", "4413", "customer", NULL), 404);
    h_sse_close(&s);
    /* support sees it; Last-Event-ID reaches the shop */
    ck_assert_int_eq(bff_stream(&s, "o-1", "9001", "support", NULL), 200);
    long b = expect_event(&s, "o-1", 0, "paid", NULL, 0);
    h_sse_close(&s);
    set_status("o-1", "shipped");
    set_status("o-1", "paid");
    snprintf(id, sizeof(id), "%ld", b);
    ck_assert_int_eq(bff_stream(&s, "o-1", "9001", "support", id), 200);
    expect_event(&s, "o-1", b + 1, "shipped", NULL, 0);
    expect_event(&s, "o-1", b + 2, "paid", NULL, 0);
    h_sse_close(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_sse");
    TCase *tc = tcase_create("sse");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, owner_sees_each_change_then_the_end);
    tcase_add_test(tc, pings_keep_an_idle_stream);
    tcase_add_test(tc, another_users_order_is_404_support_sees_it);
    tcase_add_test(tc, an_order_already_final_sends_one_event_and_ends);
    tcase_add_test(tc, last_event_id_resumes_after_it);
    tcase_add_test(tc, streams_past_the_cap_get_503);
    tcase_add_test(tc, control_port_sets_reads_and_resets_statuses);
    tcase_add_test(tc, the_advancing_order_walks_its_statuses_to_the_end);
    tcase_add_test(tc, a_refused_service_cuts_its_streams);
    tcase_add_test(tc, close_mid_body_cuts_after_the_first_event);
    tcase_add_test(tc, sigterm_ends_open_streams_cleanly);
    tcase_add_test(tc, bad_flags_are_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("through_bff");
    tcase_add_unchecked_fixture(tc, bff_setup, bff_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, through_the_gateway_events_arrive_one_by_one);
    tcase_add_test(tc, through_the_gateway_visibility_and_last_event_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
