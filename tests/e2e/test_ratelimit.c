/* tests/e2e/test_ratelimit.c — per-route budgets end to end: shop-services +
 * bff-mobile, the in-memory store on one instance and a real redis-server
 * shared by two instances. Bursts are sent concurrently (curl multi, one
 * connection per request); the assertions are counts, never timings. */
#include <curl/curl.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bff/config.h"
#include "bff/ratelimit.h"
#include "common.h"
#include "h_redis.h"

/* The Lua step the gateway runs in Redis (core/src/pipeline/ratelimit.c). */
extern const char rl_lua[];

static const char   *dir;
static struct h_shop shop;
static struct h_keys keys;
static char         *tok_a, *tok_b;

static const char *policy_100 = "\"default\";q=100;w=60";

/* ---- one response, and a concurrent burst ---------------------------------- */

struct res {
    long status;
    char ratelimit[128];
    char policy[128];
    char retry_after[32];
    char body[512];
    int  has_rl, has_policy, has_ra;
};

static void trim_copy(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_hdr(char *d, size_t s, size_t n, void *ud)
{
    struct res *r = ud;
    size_t      len = s * n;
    static const struct {
        const char *name;
        size_t      off, cap, flag;
    } want[] = {
        {"ratelimit:", offsetof(struct res, ratelimit), 128,
         offsetof(struct res, has_rl)},
        {"ratelimit-policy:", offsetof(struct res, policy), 128,
         offsetof(struct res, has_policy)},
        {"retry-after:", offsetof(struct res, retry_after), 32,
         offsetof(struct res, has_ra)},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t nl = strlen(want[i].name);
        if (len > nl && strncasecmp(d, want[i].name, nl) == 0) {
            trim_copy((char *)r + want[i].off, want[i].cap, d + nl, len - nl);
            *(int *)((char *)r + want[i].flag) += 1;
        }
    }
    return len;
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

/* Sends @n GETs at once: request i goes to urls[i % nurls] with header
 * @hdr (may be NULL). Every request gets its own connection. */
static void burst(const char *const *urls, size_t nurls, const char *hdr, int n,
                  struct res *out)
{
    CURLM             *m = curl_multi_init();
    CURL             **e = calloc((size_t)n, sizeof(*e));
    struct curl_slist *hl = hdr ? curl_slist_append(NULL, hdr) : NULL;
    int                running = 0;

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(e);
    memset(out, 0, sizeof(*out) * (size_t)n);
    for (int i = 0; i < n; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, urls[(size_t)i % nurls]);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hl);
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
    curl_slist_free_all(hl);
    curl_multi_cleanup(m);
    free(e);
}

static void get1(const char *url, const char *hdr, struct res *out)
{
    const char *u[] = {url};
    burst(u, 1, hdr, 1, out);
}

/* "default";r=R;t=T → 1 and *r, *t; anything else → 0. */
static int parse_rl(const char *v, unsigned *r, unsigned *t)
{
    int n = -1;
    if (sscanf(v, "\"default\";r=%u;t=%u%n", r, t, &n) != 2 || n < 0)
        return 0;
    return v[n] == '\0';
}

static int count_status(const struct res *rs, int n, long status)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += rs[i].status == status;
    return c;
}

/* Checks what every answer of a limited 100/min route must say, and returns
 * how many passed (not 429). Passed answers count the budget down. */
static int check_burst(const struct res *rs, int n, int want_pass)
{
    int seen[100] = {0}, pass = 0;

    for (int i = 0; i < n; i++) {
        unsigned r, t;
        ck_assert_msg(rs[i].status == 200 || rs[i].status == 429, "status %ld",
                      rs[i].status);
        ck_assert_int_eq(rs[i].has_policy, 1);
        ck_assert_str_eq(rs[i].policy, policy_100);
        ck_assert_int_eq(rs[i].has_rl, 1);
        ck_assert_msg(parse_rl(rs[i].ratelimit, &r, &t), "RateLimit: %s",
                      rs[i].ratelimit);
        if (rs[i].status == 429) {
            ck_assert_uint_eq(r, 0);
            ck_assert_int_eq(rs[i].has_ra, 1);
            ck_assert_str_eq(rs[i].retry_after, "1"); /* 600 ms, rounded up */
            ck_assert_uint_eq(t, 1);                  /* never past Retry-After */
            json_object *j = json_tokener_parse(rs[i].body);
            ck_assert_ptr_nonnull(j);
            json_object *st;
            ck_assert(json_object_object_get_ex(j, "status", &st));
            ck_assert_int_eq(json_object_get_int(st), 429);
            ck_assert_str_eq(jstr(j, "title"), "Too Many Requests");
            json_object_put(j);
            continue;
        }
        ck_assert_int_eq(rs[i].has_ra, 0);
        ck_assert_uint_lt(r, 100);
        ck_assert_int_eq(seen[r], 0); /* each remaining value once: a countdown */
        seen[r] = 1;
        /* t: until the budget is whole again, (100 - r) x 0.6 s, rounded up */
        ck_assert_uint_ge(t, 1);
        ck_assert_uint_le(t, ((100 - r) * 600 + 999) / 1000);
        pass++;
    }
    if (want_pass >= 0) {
        ck_assert_int_eq(pass, want_pass);
        for (int k = 0; k < want_pass; k++)
            ck_assert_msg(seen[k], "no pass said r=%d", k);
    }
    return pass;
}

/* POSTs a body to @echo_url through the gateway, then GETs @url twice more on
 * the same connection. Checks the body arrived whole, and returns how many
 * connections the three requests needed (1: the connection was kept). */
static long post_then_two_gets(const char *echo_url, const char *url_)
{
    struct res out = {0};
    long       conns = 0, n = 0;
    CURL      *e = curl_easy_init();

    ck_assert_ptr_nonnull(e);
    curl_easy_setopt(e, CURLOPT_URL, echo_url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "a body that must arrive");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out.status);
    ck_assert_int_eq(out.status, 200);
    json_object *j = json_tokener_parse(out.body);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(jstr(j, "body"), "a body that must arrive");
    json_object_put(j);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &n);
    conns += n;
    for (int i = 0; i < 2; i++) {
        memset(&out, 0, sizeof(out));
        curl_easy_setopt(e, CURLOPT_URL, url_);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &n);
        conns += n;
    }
    curl_easy_cleanup(e);
    return conns;
}

/* ---- processes ----------------------------------------------------------------- */

static const char *mem_yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 5s }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 5s }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 5s }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "rate_limit: { store: memory, key: user_or_ip }\n"
    "routes:\n"
    "  - path: /orders\n"
    "    service: orders\n"
    "    auth: required\n"
    "    rate_limit: 100/min\n"
    "  - path: /inventory\n"
    "    service: inventory\n"
    "    auth: optional\n"
    "    rate_limit: 100/min\n"
    "    methods: [GET]\n"
    "  - path: /users\n"
    "    service: users\n"
    "    auth: optional\n"
    "  - path: /echo\n"
    "    service: users\n"
    "    rate_limit: 100/min\n";

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

static struct res rs[300];

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

/* ---- in-memory store ---------------------------------------------------------- */

START_TEST(burst_of_150_gives_100_passes_and_50_refusals)
{
    struct h_bff b;
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, mem_yaml, &shop), 0);
    const char *u[] = {h_bff_url(&b, "/inventory/SKU-1")};

    burst(u, 1, NULL, 150, rs);
    ck_assert_int_eq(count_status(rs, 150, 200), 100);
    ck_assert_int_eq(count_status(rs, 150, 429), 50);
    check_burst(rs, 150, 100);

    /* the next one is still refused, as problem+json with the fields */
    struct h_resp r;
    ck_assert_int_eq(h_http("GET", u[0], NULL, NULL, &r), 0);
    assert_problem(&r, 429);
    ck_assert_str_eq(h_header(&r, "Retry-After"), "1");
    ck_assert_str_eq(h_header(&r, "RateLimit-Policy"), policy_100);
    ck_assert_str_eq(h_header(&r, "RateLimit"), "\"default\";r=0;t=1");
    h_resp_free(&r);
    /* and the operator sees the same counts */
    ck_assert_double_eq(
        metric(&b, "bff_ratelimit_total{route=\"/inventory\",result=\"allowed\"}"), 100);
    ck_assert_double_eq(
        metric(&b, "bff_ratelimit_total{route=\"/inventory\",result=\"refused\"}"), 51);
    ck_assert_double_eq(
        metric(&b, "bff_ratelimit_total{route=\"/inventory\",result=\"store_error\"}"), 0);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(two_clients_have_separate_budgets)
{
    struct h_bff b;
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, mem_yaml, &shop), 0);
    const char *u[] = {h_bff_url(&b, "/orders")};

    burst(u, 1, h_bearer(tok_a), 150, rs);
    check_burst(rs, 150, 100);
    burst(u, 1, h_bearer(tok_b), 150, rs);
    check_burst(rs, 150, 100);
    /* and an anonymous client (by address) on the other route is untouched */
    const char *inv[] = {h_bff_url(&b, "/inventory/SKU-1")};
    burst(inv, 1, NULL, 120, rs);
    check_burst(rs, 120, 100);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(two_routes_have_separate_budgets)
{
    struct h_bff b;
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, mem_yaml, &shop), 0);
    const char *inv[] = {h_bff_url(&b, "/inventory/SKU-1")};
    const char *ord[] = {h_bff_url(&b, "/orders")};

    /* the same user on both routes */
    burst(inv, 1, h_bearer(tok_a), 150, rs);
    check_burst(rs, 150, 100);
    burst(ord, 1, h_bearer(tok_a), 150, rs);
    check_burst(rs, 150, 100);
    /* an unlimited route carries no RateLimit fields */
    get1(h_bff_url(&b, "/users/4412"), NULL, &rs[0]);
    ck_assert_int_eq(rs[0].status, 200);
    ck_assert_int_eq(rs[0].has_rl + rs[0].has_policy, 0);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(every_answer_of_a_limited_route_carries_the_fields)
{
    struct h_bff b;
    unsigned     r, t;
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, mem_yaml, &shop), 0);

    /* a service's own 404 */
    get1(h_bff_url(&b, "/inventory/NOPE"), NULL, &rs[0]);
    ck_assert_int_eq(rs[0].status, 404);
    ck_assert_str_eq(rs[0].policy, policy_100);
    ck_assert(parse_rl(rs[0].ratelimit, &r, &t));
    ck_assert_uint_eq(r, 99);
    ck_assert_uint_eq(t, 1);
    /* a refused token: charged to the address, answered 401 with the fields */
    get1(h_bff_url(&b, "/orders"), "Authorization: Bearer not.a.token", &rs[0]);
    ck_assert_int_eq(rs[0].status, 401);
    ck_assert_str_eq(rs[0].policy, policy_100);
    ck_assert(parse_rl(rs[0].ratelimit, &r, &t));
    ck_assert_uint_eq(r, 99);
    get1(h_bff_url(&b, "/orders"), NULL, &rs[0]);
    ck_assert_int_eq(rs[0].status, 401);
    ck_assert(parse_rl(rs[0].ratelimit, &r, &t));
    ck_assert_uint_eq(r, 98);
    /* a flood without tokens runs into 429 like anything else (98 left, or
     * 99 when this test took longer than one interval, 0.6 s, so far) */
    const char *ord[] = {h_bff_url(&b, "/orders")};
    burst(ord, 1, NULL, 120, rs);
    int n401 = count_status(rs, 120, 401);
    ck_assert_msg(n401 == 98 || n401 == 99, "%d answers 401", n401);
    ck_assert_int_eq(count_status(rs, 120, 429), 120 - n401);
    /* ... while a verified user keeps their own budget */
    get1(h_bff_url(&b, "/orders"), h_bearer(tok_a), &rs[0]);
    ck_assert_int_eq(rs[0].status, 200);
    ck_assert(parse_rl(rs[0].ratelimit, &r, &t));
    ck_assert_uint_eq(r, 99);
    /* answered before the budget is consulted (405): the policy only */
    struct h_resp h;
    ck_assert_int_eq(h_http("POST", h_bff_url(&b, "/inventory/SKU-1"), NULL, "x", &h), 0);
    ck_assert_int_eq(h.status, 405);
    ck_assert_str_eq(h_header(&h, "RateLimit-Policy"), policy_100);
    ck_assert_ptr_null(h_header(&h, "RateLimit"));
    h_resp_free(&h);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

START_TEST(budgets_survive_a_reload)
{
    struct h_bff b;
    char         cmd[1024], *before, *after = NULL;
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, mem_yaml, &shop), 0);
    const char *inv[] = {h_bff_url(&b, "/inventory/SKU-1")};

    burst(inv, 1, NULL, 150, rs);
    check_burst(rs, 150, 100);
    /* a new config: one more route first, so /inventory has another index */
    char  text[8192];
    FILE *f = fopen(b.config, "r");
    ck_assert_ptr_nonnull(f);
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    char *routes = strstr(text, "routes:\n");
    ck_assert_ptr_nonnull(routes);
    routes += strlen("routes:\n");
    f = fopen(b.config, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s  - path: /aaa\n    service: users\n%s", (int)(routes - text), text,
            routes);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "curl -s http://127.0.0.1:%d/admin/config", b.admin);
    before = h_run(cmd);
    ck_assert_ptr_nonnull(before);
    kill(b.proc.pid, SIGHUP);
    for (int i = 0; i < 500; i++) { /* bounded: until the new sha is in force */
        free(after);
        after = h_run(cmd);
        if (after && strcmp(after, before) != 0)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_ptr_nonnull(after);
    ck_assert_str_ne(after, before);
    free(before);
    free(after);
    get1(inv[0], NULL, &rs[0]);
    ck_assert_int_eq(rs[0].status, 429);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

/* A 429 (and any verdict) is answered in MHD's final call: the body of a
 * passed POST is forwarded whole and the connection stays open after a
 * refusal (an answer from the first call would close it). */
START_TEST(refusals_keep_the_connection_and_bodies_arrive)
{
    struct h_bff b;
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, mem_yaml, &shop), 0);
    const char *inv[] = {h_bff_url(&b, "/inventory/SKU-1")};
    burst(inv, 1, NULL, 100, rs);
    check_burst(rs, 100, 100);
    ck_assert_int_eq(post_then_two_gets(h_bff_url(&b, "/echo/x"), inv[0]), 1);
    ck_assert_int_eq(h_stop(&b.proc), 0);
}
END_TEST

/* ---- Redis ------------------------------------------------------------------- */

static char redis_yaml[4096];

static const char *redis_config(int port, const char *on_error, const char *timeout)
{
    snprintf(redis_yaml, sizeof(redis_yaml),
             "listen: 127.0.0.1:%%1$d\n"
             "admin_listen: 127.0.0.1:%%2$d\n"
             "workers: 2\n"
             "services:\n"
             "  users: { url: \"http://127.0.0.1:%%3$d\", timeout: 5s }\n"
             "  orders: { url: \"http://127.0.0.1:%%4$d\", timeout: 5s }\n"
             "  inventory: { url: \"http://127.0.0.1:%%5$d\", timeout: 5s }\n"
             "auth:\n"
             "  jwt:\n"
             "    jwks_file: @DIR@/jwks.json\n"
             "    algorithms: [ES256]\n"
             "rate_limit:\n"
             "  store: redis://127.0.0.1:%d/3\n"
             "  on_store_error: %s\n"
             "  store_timeout: %s\n"
             "routes:\n"
             "  - path: /orders\n"
             "    service: orders\n"
             "    auth: required\n"
             "    rate_limit: 100/min\n"
             "  - path: /inventory\n"
             "    service: inventory\n"
             "    auth: optional\n"
             "    rate_limit: 100/min\n"
             "  - path: /echo\n"
             "    service: users\n"
             "    rate_limit: 100/min\n",
             port, on_error, timeout);
    return redis_yaml;
}

/* Keys the gateway wrote in db @db. */
static long redis_keys(int port, int db)
{
    redisContext *c = redis_connect(port);
    long          n = -1;
    ck_assert_ptr_nonnull(c);
    redisReply *r = redisCommand(c, "SELECT %d", db);
    freeReplyObject(r);
    r = redisCommand(c, "KEYS portico:rl:*");
    if (r && r->type == REDIS_REPLY_ARRAY)
        n = (long)r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

START_TEST(two_instances_share_one_limit)
{
    struct redis rd = {0};
    struct h_bff b1, b2;
    redis_start(&rd, dir);
    const char *yaml = redis_config(rd.port, "deny", "2s");
    ck_assert_int_eq(h_bff_start(&b1, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);
    ck_assert_int_eq(h_bff_start(&b2, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);

    const char *both[] = {h_bff_url(&b1, "/orders"), h_bff_url(&b2, "/orders")};
    burst(both, 2, h_bearer(tok_a), 150, rs);
    ck_assert_int_eq(count_status(rs, 150, 200), 100);
    ck_assert_int_eq(count_status(rs, 150, 429), 50);
    check_burst(rs, 150, 100);
    /* both instances answered, and refused */
    int pass1 = 0, pass2 = 0;
    for (int i = 0; i < 150; i++)
        *(i % 2 ? &pass2 : &pass1) += rs[i].status == 200;
    ck_assert_int_gt(pass1, 0);
    ck_assert_int_gt(pass2, 0);
    /* another user: their own budget */
    burst(both, 2, h_bearer(tok_b), 110, rs);
    check_burst(rs, 110, 100);
    /* the budgets live in the configured db */
    ck_assert_int_eq(redis_keys(rd.port, 3), 2);
    ck_assert_int_eq(redis_keys(rd.port, 0), 0);

    ck_assert_int_eq(h_stop(&b1.proc), 0);
    ck_assert_int_eq(h_stop(&b2.proc), 0);
    redis_stop(&rd);
}
END_TEST

/* The bug this guards against: suspended in MHD's first call, the request
 * was dispatched before its body was read, and every answer closed the
 * connection. */
START_TEST(redis_limited_post_keeps_body_and_connection)
{
    struct redis rd = {0};
    struct h_bff b;
    redis_start(&rd, dir);
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir,
                                 redis_config(rd.port, "deny", "2s"), &shop),
                     0);
    /* passes */
    ck_assert_int_eq(post_then_two_gets(h_bff_url(&b, "/echo/x"), h_bff_url(&b, "/echo/y")), 1);
    /* refusals */
    const char *inv[] = {h_bff_url(&b, "/inventory/SKU-1")};
    burst(inv, 1, NULL, 100, rs);
    check_burst(rs, 100, 100);
    ck_assert_int_eq(post_then_two_gets(h_bff_url(&b, "/echo/x"), inv[0]), 1);
    ck_assert_int_eq(h_stop(&b.proc), 0);
    redis_stop(&rd);
}
END_TEST

/* Requests in a loop from another thread while Redis goes away. */
struct hammer {
    const char *url;
    _Atomic int stop;
    _Atomic int bursts;
    _Atomic int store_errors;
    _Atomic int bad; /* an answer that is neither a verdict nor on_store_error */
    int         deny;
    char        why[256];
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    struct res    *out = calloc(20, sizeof(*out));
    const char    *u[] = {h->url};

    while (!atomic_load(&h->stop) && out) {
        burst(u, 1, NULL, 20, out);
        for (int i = 0; i < 20; i++) {
            unsigned r = 0, t = 0;
            int      ok_rl = parse_rl(out[i].ratelimit, &r, &t);
            int      err_rl = strcmp(out[i].ratelimit, "\"default\";r=0;t=1") == 0;
            int      verdict = (out[i].status == 200 || out[i].status == 429) && ok_rl;
            int      on_err = h->deny ? out[i].status == 503 && err_rl &&
                                       strcmp(out[i].retry_after, "1") == 0
                                      : out[i].status == 200 && err_rl;
            /* at 100/min a real verdict never says r=0;t=1 on a 200 */
            if (on_err)
                atomic_fetch_add(&h->store_errors, 1);
            else if (!verdict && !atomic_exchange(&h->bad, 1))
                snprintf(h->why, sizeof(h->why), "status %ld RateLimit \"%s\"",
                         out[i].status, out[i].ratelimit);
        }
        atomic_fetch_add(&h->bursts, 1);
    }
    free(out);
    return NULL;
}

static void wait_until(_Atomic int *v, int at_least, const char *what)
{
    for (int i = 0; i < 1500 && atomic_load(v) < at_least; i++) { /* bounded: 30 s */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(atomic_load(v) >= at_least, "never saw %s", what);
}

/* Polls (bounded) until a request on @u gets a verdict from the store again;
 * returns the budget left after it. */
static unsigned until_store_answers(const char *u)
{
    for (int i = 0; i < 500; i++) { /* bounded: 500 requests, 20 ms apart */
        unsigned r, t;
        get1(u, NULL, &rs[0]);
        if ((rs[0].status == 200 || rs[0].status == 429) &&
            parse_rl(rs[0].ratelimit, &r, &t) &&
            strcmp(rs[0].ratelimit, "\"default\";r=0;t=1") != 0)
            return r;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("the store never answered again");
    return 0;
}

static void redis_goes_away_and_comes_back(int deny)
{
    struct redis  rd = {0};
    struct h_bff  b;
    struct hammer h = {0};
    pthread_t     th;

    redis_start(&rd, dir);
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir,
                                 redis_config(rd.port, deny ? "deny" : "allow", "2s"),
                                 &shop),
                     0);
    h.url = h_bff_url(&b, "/inventory/SKU-1");
    h.deny = deny;
    ck_assert_int_eq(pthread_create(&th, NULL, hammer_main, &h), 0);
    wait_until(&h.bursts, 1, "a first burst");
    redis_stop_keeping_port(&rd); /* mid-run */
    wait_until(&h.store_errors, 40, "on_store_error answers");
    atomic_store(&h.stop, 1);
    pthread_join(th, NULL);
    ck_assert_double_ge(
        metric(&b, "bff_ratelimit_total{route=\"/inventory\",result=\"store_error\"}"),
        (double)atomic_load(&h.store_errors));
    ck_assert_msg(!atomic_load(&h.bad), "unexpected answer: %s", h.why);

    /* still serving, by on_store_error */
    get1(h.url, NULL, &rs[0]);
    ck_assert_int_eq(rs[0].status, deny ? 503 : 200);
    ck_assert_str_eq(rs[0].ratelimit, "\"default\";r=0;t=1");
    ck_assert_str_eq(rs[0].policy, policy_100);
    if (deny) {
        ck_assert_str_eq(rs[0].retry_after, "1");
        json_object *j = json_tokener_parse(rs[0].body);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(jstr(j, "title"), "Service Unavailable");
        json_object_put(j);
    }

    /* Redis back on the same port (empty): limits work again by themselves */
    redis_start(&rd, dir);
    unsigned left = until_store_answers(h.url);
    ck_assert_uint_le(left, 99);
    const char *u[] = {h.url};
    burst(u, 1, NULL, 150, rs);
    ck_assert_int_eq(count_status(rs, 150, 200), (int)left);
    ck_assert_int_eq(count_status(rs, 150, 429), 150 - (int)left);

    /* the operator was told: the store went away and came back */
    char cmd[700];
    snprintf(cmd, sizeof(cmd),
             "grep -c 'rate_limit store redis://127.0.0.1:%d/3 unavailable' '%s'",
             rd.port, b.proc.log);
    char *n = h_run(cmd);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_ge(atoi(n), 1);
    free(n);
    snprintf(cmd, sizeof(cmd), "grep -c 'available again' '%s'", b.proc.log);
    n = h_run(cmd);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_ge(atoi(n), 1);
    free(n);

    ck_assert_int_eq(h_stop(&b.proc), 0); /* no crash: a clean exit */
    redis_stop(&rd);
}

START_TEST(redis_stopped_mid_run_allow)
{
    redis_goes_away_and_comes_back(0);
}
END_TEST

START_TEST(redis_stopped_mid_run_deny)
{
    redis_goes_away_and_comes_back(1);
}
END_TEST

START_TEST(redis_hung_times_out_and_recovers)
{
    struct redis rd = {0};
    struct h_bff b;
    unsigned     r, t;

    redis_start(&rd, dir);
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir,
                                 redis_config(rd.port, "allow", "100ms"), &shop),
                     0);
    const char *u = h_bff_url(&b, "/inventory/SKU-1");
    get1(u, NULL, &rs[0]);
    ck_assert_int_eq(rs[0].status, 200);
    ck_assert(parse_rl(rs[0].ratelimit, &r, &t));
    ck_assert_uint_eq(r, 99);

    kill(rd.proc.pid, SIGSTOP); /* connected, but answers nothing */
    const char *us[] = {u};
    burst(us, 1, NULL, 30, rs);
    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(rs[i].status, 200); /* on_store_error: allow */
        ck_assert_str_eq(rs[i].ratelimit, "\"default\";r=0;t=1");
    }
    kill(rd.proc.pid, SIGCONT);
    /* the calls that timed out may still count once Redis wakes up */
    unsigned left = until_store_answers(u);
    ck_assert_uint_le(left, 98);
    ck_assert_int_eq(h_stop(&b.proc), 0);
    redis_stop(&rd);
}
END_TEST

/* The Lua step against the C step: the same verdicts for a burst at one
 * instant, for rates whose interval is not a whole number of ms or µs. */
START_TEST(redis_script_matches_the_c_step)
{
    static const struct bff_rate rates[] = {
        {100, 60000}, {3, 1000},    {7, 60000},
        {1, 3600000}, {5000, 1000}, {1000000, 1000},
    };
    struct redis rd = {0};
    redis_start(&rd, dir);
    redisContext *c = redis_connect(rd.port);
    ck_assert_ptr_nonnull(c);
    for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
        const struct bff_rate *rate = &rates[k];
        uint64_t               tat = 0, period = (uint64_t)rate->period_ms * 1000000u;
        char                   tns[32], cnt[16], key[32];
        uint32_t               n = rate->count < 120 ? rate->count + 3 : 120;
        int                    slow =
            (uint64_t)rate->period_ms * 1000 / rate->count >= 1000; /* T >= 1 ms */
        snprintf(tns, sizeof(tns), "%llu",
                 (unsigned long long)((period + rate->count - 1) / rate->count));
        snprintf(cnt, sizeof(cnt), "%u", rate->count);
        snprintf(key, sizeof(key), "t:%zu", k);
        for (uint32_t i = 0; i < n; i++) {
            struct bff_rl_verdict v;
            bff_gcra_ns(rate, 1000000, &tat, &v);
            redisReply *rep =
                redisCommand(c, "EVAL %s 1 %s %s %s", rl_lua, key, tns, cnt);
            ck_assert_ptr_nonnull(rep);
            ck_assert_msg(rep->type == REDIS_REPLY_ARRAY && rep->elements == 4,
                          "reply type %d: %s", rep->type,
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "");
            long long a = rep->element[0]->integer, rem = rep->element[1]->integer;
            long long reset = rep->element[2]->integer,
                      retry = rep->element[3]->integer;
            freeReplyObject(rep);
            if (slow) {
                /* the calls are far less than one interval apart */
                ck_assert_int_eq(a, v.allowed);
                ck_assert_int_eq(rem, v.remaining);
                ck_assert_int_le(reset, v.reset_ms);
                ck_assert_int_ge(reset + 1000, v.reset_ms);
                ck_assert_int_le(retry, v.retry_after_ms);
                ck_assert_int_ge(retry + 1000, v.retry_after_ms);
            } else {
                /* fast rates: budget comes back between calls; 120 fit anyway */
                ck_assert_int_eq(a, 1);
                ck_assert_int_ge(rem, v.remaining);
            }
        }
    }
    redisFree(c);
    redis_stop(&rd);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_ratelimit");
    TCase *mem = tcase_create("memory");
    TCase *red = tcase_create("redis");

    tcase_add_unchecked_fixture(mem, suite_setup, suite_teardown);
    tcase_add_unchecked_fixture(red, suite_setup, suite_teardown);
    tcase_set_timeout(mem, 120);
    tcase_set_timeout(red, 180);
    tcase_add_test(mem, burst_of_150_gives_100_passes_and_50_refusals);
    tcase_add_test(mem, two_clients_have_separate_budgets);
    tcase_add_test(mem, two_routes_have_separate_budgets);
    tcase_add_test(mem, every_answer_of_a_limited_route_carries_the_fields);
    tcase_add_test(mem, budgets_survive_a_reload);
    tcase_add_test(mem, refusals_keep_the_connection_and_bodies_arrive);
    tcase_add_test(red, redis_script_matches_the_c_step);
    tcase_add_test(red, two_instances_share_one_limit);
    tcase_add_test(red, redis_limited_post_keeps_body_and_connection);
    tcase_add_test(red, redis_stopped_mid_run_allow);
    tcase_add_test(red, redis_stopped_mid_run_deny);
    tcase_add_test(red, redis_hung_times_out_and_recovers);
    suite_add_tcase(s, mem);
    suite_add_tcase(s, red);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
