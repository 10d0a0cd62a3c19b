/* tests/e2e/test_bff.c — the two BFFs end to end: mobile /v1/home and the
 * order screen with br, gzip, ETag and 304; web /api/customers/{id}/orders with
 * pagination and CORS; the dashboard's static files; every answer checked
 * against shared-schemas/; service answers of the wrong shape (from a fake
 * upstream in this file) turned into 502 or partial, never a crash. */
#include <pthread.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zlib.h>

#include <brotli/decode.h>

#include "common.h"

#define GZIP_MIN 256 /* BFF_GZIP_MIN in bff/endpoint.h */
#define BR_MIN 128   /* BFF_BR_MIN */
/* users answers 500: its health check stays green, so the next test finds
 * it called again (refuse=1 would mark it down until the next check) */
#define USERS_DOWN "error_rate=1&error_status=500"

static const char   *dir;
static struct h_shop shop;
static struct h_bff  mobile, web, web_cred, fake_mobile, fake_web;
static struct h_keys keys;
static char         *token, *grace, *support, *web_support;

/* ---- a fake upstream: canned answers for users, orders and inventory ---- */

static struct {
    int             fd, port;
    pthread_t       thread;
    pthread_mutex_t lock;
    char            users[1024], orders[2048], inventory[1024];
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void fake_set(const char *users, const char *orders, const char *inventory)
{
    /* a canned body that does not fit would be cut silently: fail instead */
    ck_assert_uint_lt(strlen(users), sizeof(fake.users));
    ck_assert_uint_lt(strlen(orders), sizeof(fake.orders));
    ck_assert_uint_lt(strlen(inventory), sizeof(fake.inventory));
    pthread_mutex_lock(&fake.lock);
    memcpy(fake.users, users, strlen(users) + 1);
    memcpy(fake.orders, orders, strlen(orders) + 1);
    memcpy(fake.inventory, inventory, strlen(inventory) + 1);
    pthread_mutex_unlock(&fake.lock);
}

static void *fake_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(fake.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char   req[8192];
        size_t n = 0;
        while (n + 1 < sizeof(req)) {
            ssize_t k = read(c, req + n, sizeof(req) - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[n] = '\0';
        char body[sizeof(fake.orders)];
        pthread_mutex_lock(&fake.lock);
        const char *b = strncmp(req, "GET /users", 10) == 0    ? fake.users
                        : strncmp(req, "GET /orders", 11) == 0 ? fake.orders
                                                               : fake.inventory;
        memcpy(body, b, strlen(b) + 1); /* every canned body fits (fake_set) */
        pthread_mutex_unlock(&fake.lock);
        char    out[sizeof(body) + 256];
        int     len = snprintf(out, sizeof(out),
                               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                               strlen(body), body);
        ssize_t w = write(c, out, (size_t)len);
        (void)w;
        close(c);
    }
}

/* Binds the fake's socket (in the fixture, before the BFFs start). */
static void fake_listen(void)
{
    struct sockaddr_in a = {0};
    socklen_t          al = sizeof(a);
    int                one = 1;
    fake.fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fake.fd, 0);
    setsockopt(fake.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fake.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fake.fd, (struct sockaddr *)&a, &al), 0);
    ck_assert_int_eq(listen(fake.fd, 64), 0);
    fake.port = ntohs(a.sin_port);
}

/* Serves from the test's own process: Check forks each test, and the canned
 * answers a test sets live in its process. Ends with the test's process. */
static void fake_serve(void)
{
    ck_assert_int_eq(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
    pthread_detach(fake.thread);
}

static void fake_close(void)
{
    shutdown(fake.fd, SHUT_RDWR);
    close(fake.fd);
}

/* ---- set-up ---------------------------------------------------------------- */

static const char *head_yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 800ms }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 800ms }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 300ms }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n";

static const char *mobile_routes = "routes:\n"
                                   "  - path: /v1/order-screen/{id}\n"
                                   "    handler: order_screen\n"
                                   "    auth: required\n"
                                   "    timeout: 2s\n"
                                   "  - path: /v1/home\n"
                                   "    handler: home\n"
                                   "    auth: required\n"
                                   "    roles: [customer]\n"
                                   "    timeout: 2s\n";

#define WEB_ROUTES                                                                     \
    "routes:\n"                                                                        \
    "  - path: /api/orders/{id}\n"                                                     \
    "    handler: order_details\n"                                                     \
    "    auth: required\n"                                                             \
    "    timeout: 2s\n"                                                                \
    "  - path: /api/customers/{id}/orders\n"                                           \
    "    handler: customer_orders\n"                                                   \
    "    auth: required\n"                                                             \
    "    roles: [support, customer]\n"                                                 \
    "    timeout: 2s\n"                                                                \
    "  - path: /\n"                                                                    \
    "    static: %s/bff-web/www\n"                                                     \
    "    auth: none\n"

/* The fake's port stands in for all three services. */
static int start_fake_bff(struct h_bff *b, const char *bin, const char *yaml)
{
    struct h_shop s = shop;
    s.users = s.orders = s.inventory = fake.port;
    return h_bff_start(b, bin, dir, yaml, &s);
}

static void setup(void)
{
    char        y[8192], routes[2048];
    const char *src = getenv("BFF_SRC_ROOT");
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    fake_listen();

    snprintf(y, sizeof(y), "%s%s", head_yaml, mobile_routes);
    ck_assert_int_eq(h_bff_start(&mobile, "bff-mobile/bff-mobile", dir, y, &shop), 0);
    ck_assert_int_eq(start_fake_bff(&fake_mobile, "bff-mobile/bff-mobile", y), 0);

    snprintf(routes, sizeof(routes), WEB_ROUTES, src ? src : ".");
    snprintf(
        y, sizeof(y),
        "%scors:\n  origins: [http://dash.example, https://dashboard.shop.example]\n"
        "  credentials: false\n  max_age: 10m\n%s",
        head_yaml, routes);
    ck_assert_int_eq(h_bff_start(&web, "bff-web/bff-web", dir, y, &shop), 0);
    ck_assert_int_eq(start_fake_bff(&fake_web, "bff-web/bff-web", y), 0);
    snprintf(y, sizeof(y),
             "%scors:\n  origins: [http://dash.example]\n  credentials: true\n"
             "  headers: [Authorization, X-Dashboard-Build]\n%s",
             head_yaml, routes);
    ck_assert_int_eq(h_bff_start(&web_cred, "bff-web/bff-web", dir, y, &shop), 0);

    token = h_token(&keys, "4412", "customer", NULL);
    grace = h_token(&keys, "4413", "customer", NULL);
    support = h_token(&keys, "9001", "support", NULL);
    ck_assert_ptr_nonnull(token);
    ck_assert_ptr_nonnull(grace);
    ck_assert_ptr_nonnull(support);
}

static void teardown(void)
{
    ck_assert_int_eq(h_stop(&mobile.proc), 0);
    ck_assert_int_eq(h_stop(&web.proc), 0);
    ck_assert_int_eq(h_stop(&web_cred.proc), 0);
    ck_assert_int_eq(h_stop(&fake_mobile.proc), 0);
    ck_assert_int_eq(h_stop(&fake_web.proc), 0);
    h_stop(&shop.proc);
    fake_close();
    free(token);
    free(grace);
    free(support);
    free(web_support);
    h_cleanup_dir(dir);
}

/* GET (or @method) @path on @b with bearer @tok (NULL: none) and up to four
 * more header lines. */
static int req(const char *method, struct h_bff *b, const char *path, const char *tok,
               const char *h1, const char *h2, const char *h3, struct h_resp *r)
{
    char        u[1024], auth[4096];
    const char *hdrs[6];
    size_t      n = 0;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", b->port, path);
    if (tok) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
        hdrs[n++] = auth;
    }
    if (h1)
        hdrs[n++] = h1;
    if (h2)
        hdrs[n++] = h2;
    if (h3)
        hdrs[n++] = h3;
    hdrs[n] = NULL;
    return h_http(method, u, hdrs, NULL, r);
}

static int get(struct h_bff *b, const char *path, const char *tok, struct h_resp *r)
{
    return req("GET", b, path, tok, NULL, NULL, NULL, r);
}

static char *hdr_dup(const struct h_resp *r, const char *name)
{
    const char *v = h_header(r, name);
    return v ? strdup(v) : NULL;
}

/* Inflates a gzip body with zlib; returns a malloc'd NUL-terminated copy. */
static char *gunzip(const char *in, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    size_t cap = 1 << 20;
    char  *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap - 1;
    int rc = inflate(&zs, Z_FINISH);
    ck_assert_int_eq(rc, Z_STREAM_END);
    *outlen = zs.total_out;
    out[*outlen] = '\0';
    inflateEnd(&zs);
    return out;
}

/* Decodes a br body with libbrotli; returns a malloc'd NUL-terminated copy. */
static char *unbrotli(const char *in, size_t len, size_t *outlen)
{
    size_t cap = 1 << 20;
    char  *out = malloc(cap);
    *outlen = cap - 1;
    ck_assert_int_eq(
        BrotliDecoderDecompress(len, (const uint8_t *)in, outlen, (uint8_t *)out),
        BROTLI_DECODER_RESULT_SUCCESS);
    out[*outlen] = '\0';
    return out;
}

static int partial_has(json_object *j, const char *part)
{
    json_object *p;
    if (!json_object_object_get_ex(j, "partial", &p))
        return 0;
    for (size_t i = 0; i < json_object_array_length(p); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(p, i)), part) == 0)
            return 1;
    return 0;
}

static size_t array_len(json_object *j, const char *key)
{
    json_object *a;
    ck_assert(json_object_object_get_ex(j, key, &a));
    ck_assert(json_object_is_type(a, json_type_array));
    return json_object_array_length(a);
}

/* ---- mobile: /v1/home ------------------------------------------------------ */

START_TEST(home_is_name_and_three_latest_orders)
{
    struct h_resp r;
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(h_schema_valid("bff-mobile.home.schema.json", r.body), 0);
    json_object *j = body_json(&r);
    json_object *expect =
        json_tokener_parse("{\"name\":\"Ada Lovelace\",\"orders\":["
                           "{\"id\":\"o-5\",\"status\":\"pending\",\"total_cents\":"
                           "8549,\"currency\":\"EUR\","
                           "\"created_at\":\"2024-05-01T09:00:00Z\"},"
                           "{\"id\":\"o-4\",\"status\":\"cancelled\",\"total_cents\":"
                           "19900,\"currency\":\"EUR\","
                           "\"created_at\":\"2024-04-20T16:45:10Z\"},"
                           "{\"id\":\"o-3\",\"status\":\"delivered\",\"total_cents\":"
                           "4500,\"currency\":\"EUR\","
                           "\"created_at\":\"2024-04-02T08:15:00Z\"}],\"partial\":[],\"stale\":[]}");
    ck_assert_msg(json_object_equal(j, expect), "got %s", r.body);
    ck_assert_str_eq(h_header(&r, "Content-Type"), "application/json");
    ck_assert_ptr_nonnull(strstr(h_header(&r, "Server-Timing"), "users;dur="));
    ck_assert_ptr_nonnull(strstr(h_header(&r, "Server-Timing"), "orders;dur="));
    ck_assert_str_eq(h_header(&r, "Cache-Control"), "private, no-cache");
    json_object_put(expect);
    json_object_put(j);
    h_resp_free(&r);

    /* the caller is the token's subject: Grace sees her own two orders */
    ck_assert_int_eq(get(&mobile, "/v1/home", grace, &r), 0);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "name"), "Grace Hopper");
    ck_assert_int_eq(array_len(j, "orders"), 2);
    ck_assert_int_eq(h_schema_valid("bff-mobile.home.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);

    /* support has no home of its own: the route wants role customer */
    ck_assert_int_eq(get(&mobile, "/v1/home", support, &r), 0);
    assert_problem(&r, 403);
    h_resp_free(&r);
    ck_assert_int_eq(get(&mobile, "/v1/home", NULL, &r), 0);
    assert_problem(&r, 401);
    h_resp_free(&r);
}
END_TEST

START_TEST(home_without_users_greets_without_a_name)
{
    struct h_resp r;
    ck_assert_int_eq(h_fault(&shop, "users", USERS_DOWN), 0);
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "users", ""), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r), *name = (json_object *)1;
    ck_assert(json_object_object_get_ex(j, "name", &name));
    ck_assert_ptr_null(name);
    ck_assert(partial_has(j, "users"));
    ck_assert_int_eq(array_len(j, "orders"), 3);
    ck_assert_int_eq(h_schema_valid("bff-mobile.home.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(home_without_orders_is_the_orders_error)
{
    struct h_resp r;
    ck_assert_int_eq(h_fault(&shop, "orders", "malformed=1"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    assert_problem(&r, 502);
    ck_assert_int_eq(h_schema_valid("problem.schema.json", r.body), 0);
    h_resp_free(&r);

    ck_assert_int_eq(h_fault(&shop, "orders", "delay_ms=1500"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    assert_problem(&r, 504);
    h_resp_free(&r);
}
END_TEST

/* ---- gzip, ETag, 304 ----------------------------------------------------- */

START_TEST(gzip_round_trips_to_the_identity_body)
{
    struct h_resp id, gz;
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &id), 0);
    ck_assert_int_eq(id.status, 200);
    ck_assert_uint_ge(id.len, GZIP_MIN);
    ck_assert_ptr_null(h_header(&id, "Content-Encoding"));
    ck_assert_str_eq(h_header(&id, "Vary"), "Accept-Encoding");
    char *etag = hdr_dup(&id, "ETag");
    ck_assert_ptr_nonnull(etag);
    ck_assert_int_eq(etag[0], '"');

    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token,
                         "Accept-Encoding: br;q=0.9, gzip", NULL, NULL, &gz),
                     0);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(h_header(&gz, "Content-Encoding"), "gzip");
    ck_assert_str_eq(h_header(&gz, "Vary"), "Accept-Encoding");
    ck_assert_uint_lt(gz.len, id.len);
    ck_assert_int_eq(atoi(h_header(&gz, "Content-Length")), (int)gz.len);
    size_t plain_len;
    char  *plain = gunzip(gz.body, gz.len, &plain_len);
    ck_assert_uint_eq(plain_len, id.len);
    ck_assert_int_eq(memcmp(plain, id.body, id.len), 0);
    /* the gzip variant's tag is the identity's with -gzip inside the quotes */
    char want[128];
    snprintf(want, sizeof(want), "%.*s-gzip\"", (int)strlen(etag) - 1, etag);
    ck_assert_str_eq(h_header(&gz, "ETag"), want);
    free(plain);
    h_resp_free(&gz);

    /* q-values: q=0 refuses a coding, "*" accepts it, an explicit q=0 wins over "*";
     * br when its q is at least gzip's */
    static const struct {
        const char *ae;
        const char *ce; /* NULL: the identity */
    } cases[] = {
        {"Accept-Encoding: gzip;q=0", NULL},
        {"Accept-Encoding: br", "br"},
        {"Accept-Encoding: *", "br"},
        {"Accept-Encoding: gzip;q=0, *;q=1", "br"},
        {"Accept-Encoding: br;q=0, gzip;q=0, *;q=1", NULL},
        {"Accept-Encoding: GZIP; q=0.5", "gzip"},
        {"Accept-Encoding: identity, x-gzip", "gzip"},
        {"Accept-Encoding: gzip;q=0.000", NULL},
        {"Accept-Encoding: deflate, gzip;q=1.0", "gzip"},
        {"Accept-Encoding: gzip, deflate, br", "br"},
        {"Accept-Encoding: br;q=0.5, gzip;q=0.6", "gzip"},
        {"Accept-Encoding: br;q=0.6, gzip;q=0.6", "br"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(
            req("GET", &mobile, "/v1/home", token, cases[i].ae, NULL, NULL, &gz), 0);
        ck_assert_int_eq(gz.status, 200);
        const char *ce = h_header(&gz, "Content-Encoding");
        ck_assert_msg(cases[i].ce ? ce && strcmp(ce, cases[i].ce) == 0 : !ce,
                      "%s: Content-Encoding %s", cases[i].ae, ce ? ce : "(none)");
        if (!cases[i].ce) {
            ck_assert_uint_eq(gz.len, id.len);
            ck_assert_str_eq(h_header(&gz, "ETag"), etag);
        }
        h_resp_free(&gz);
    }
    free(etag);
    h_resp_free(&id);
}
END_TEST

START_TEST(br_round_trips_to_the_identity_body)
{
    struct h_resp id, br, gz;
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &id), 0);
    ck_assert_int_eq(id.status, 200);
    char *etag = hdr_dup(&id, "ETag");
    ck_assert_ptr_nonnull(etag);

    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token,
                         "Accept-Encoding: gzip, deflate, br", NULL, NULL, &br),
                     0);
    ck_assert_int_eq(br.status, 200);
    ck_assert_str_eq(h_header(&br, "Content-Encoding"), "br");
    ck_assert_str_eq(h_header(&br, "Vary"), "Accept-Encoding");
    ck_assert_int_eq(atoi(h_header(&br, "Content-Length")), (int)br.len);
    size_t plain_len;
    char  *plain = unbrotli(br.body, br.len, &plain_len);
    ck_assert_uint_eq(plain_len, id.len);
    ck_assert_int_eq(memcmp(plain, id.body, id.len), 0);
    free(plain);
    ck_assert_int_eq(h_schema_valid("bff-mobile.home.schema.json", id.body), 0);
    /* smaller than gzip on the same answer */
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token, "Accept-Encoding: gzip",
                         NULL, NULL, &gz),
                     0);
    ck_assert_str_eq(h_header(&gz, "Content-Encoding"), "gzip");
    ck_assert_uint_lt(br.len, gz.len);
    /* its own strong tag: the identity's with -br inside the quotes */
    char want[128], inm[160];
    snprintf(want, sizeof(want), "%.*s-br\"", (int)strlen(etag) - 1, etag);
    ck_assert_str_eq(h_header(&br, "ETag"), want);
    h_resp_free(&br);
    h_resp_free(&gz);

    /* the br tag revalidates the br variant (304), not the gzip one nor identity */
    snprintf(inm, sizeof(inm), "If-None-Match: %s", want);
    ck_assert_int_eq(
        req("GET", &mobile, "/v1/home", token, inm, "Accept-Encoding: br", NULL, &br),
        0);
    ck_assert_int_eq(br.status, 304);
    ck_assert_uint_eq(br.len, 0);
    ck_assert_str_eq(h_header(&br, "ETag"), want);
    ck_assert_str_eq(h_header(&br, "Vary"), "Accept-Encoding");
    ck_assert_ptr_null(h_header(&br, "Content-Encoding"));
    h_resp_free(&br);
    ck_assert_int_eq(
        req("GET", &mobile, "/v1/home", token, inm, "Accept-Encoding: gzip", NULL, &br),
        0);
    ck_assert_int_eq(br.status, 200);
    ck_assert_str_eq(h_header(&br, "Content-Encoding"), "gzip");
    h_resp_free(&br);
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token, inm, NULL, NULL, &br), 0);
    ck_assert_int_eq(br.status, 200);
    ck_assert_str_eq(h_header(&br, "ETag"), etag);
    h_resp_free(&br);

    /* the web API: br too, and it decodes to an answer of the shared shape */
    ck_assert_int_eq(req("GET", &web, "/api/orders/o-1", support, "Accept-Encoding: br",
                         NULL, NULL, &br),
                     0);
    ck_assert_int_eq(br.status, 200);
    ck_assert_str_eq(h_header(&br, "Content-Encoding"), "br");
    plain = unbrotli(br.body, br.len, &plain_len);
    ck_assert_int_eq(h_schema_valid("bff-web.order-details.schema.json", plain), 0);
    free(plain);
    h_resp_free(&br);
    free(etag);
    h_resp_free(&id);
}
END_TEST

START_TEST(small_answers_are_not_gzipped)
{
    struct h_resp r;
    ck_assert_int_eq(req("GET", &mobile, "/v1/order-screen/o-1", token,
                         "Accept-Encoding: gzip", NULL, NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_lt(r.len, GZIP_MIN);
    ck_assert_ptr_null(h_header(&r, "Content-Encoding"));
    ck_assert_str_eq(h_header(&r, "Vary"), "Accept-Encoding"); /* it could have been */
    ck_assert_ptr_nonnull(h_header(&r, "ETag"));
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    char  *plain_tag = hdr_dup(&r, "ETag");
    char  *plain = malloc(r.len + 1);
    size_t plain_len = r.len, n;
    memcpy(plain, r.body, r.len);
    plain[r.len] = '\0';
    h_resp_free(&r);

    /* br's frame is a few bytes: it starts at BFF_BR_MIN (128), below gzip's floor */
    ck_assert_uint_ge(plain_len, BR_MIN);
    ck_assert_int_eq(req("GET", &mobile, "/v1/order-screen/o-1", token,
                         "Accept-Encoding: gzip, br", NULL, NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "Content-Encoding"), "br");
    ck_assert_uint_lt(r.len, plain_len);
    char *dec = unbrotli(r.body, r.len, &n);
    ck_assert_uint_eq(n, plain_len);
    ck_assert_str_eq(dec, plain);
    ck_assert_str_ne(h_header(&r, "ETag"), plain_tag);
    free(dec);
    free(plain);
    free(plain_tag);
    h_resp_free(&r);

    /* problems are never compressed nor tagged */
    ck_assert_int_eq(req("GET", &mobile, "/v1/order-screen/o-404", token,
                         "Accept-Encoding: gzip, br", NULL, NULL, &r),
                     0);
    assert_problem(&r, 404);
    ck_assert_ptr_null(h_header(&r, "Content-Encoding"));
    ck_assert_ptr_null(h_header(&r, "ETag"));
    h_resp_free(&r);
}
END_TEST

START_TEST(if_none_match_gives_304)
{
    struct h_resp r, nm;
    ck_assert_int_eq(get(&mobile, "/v1/home", token, &r), 0);
    char  *etag = hdr_dup(&r, "ETag");
    size_t full = r.len;
    h_resp_free(&r);
    ck_assert_ptr_nonnull(etag);

    char inm[5][256];
    snprintf(inm[0], sizeof(inm[0]), "If-None-Match: %s", etag);
    snprintf(inm[1], sizeof(inm[1]), "If-None-Match: \"nope\", W/\"other\",%s", etag);
    snprintf(inm[2], sizeof(inm[2]), "If-None-Match: W/%s", etag); /* weak comparison */
    snprintf(inm[3], sizeof(inm[3]), "If-None-Match: *");
    snprintf(inm[4], sizeof(inm[4]), "If-None-Match:   %s  ", etag);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(
            req("GET", &mobile, "/v1/home", token, inm[i], NULL, NULL, &nm), 0);
        ck_assert_msg(nm.status == 304, "%s: %ld", inm[i], nm.status);
        ck_assert_uint_eq(nm.len, 0);
        ck_assert_str_eq(h_header(&nm, "ETag"), etag);
        ck_assert_str_eq(h_header(&nm, "Vary"), "Accept-Encoding");
        ck_assert_str_eq(h_header(&nm, "Cache-Control"), "private, no-cache");
        ck_assert_ptr_nonnull(h_header(&nm, "X-Request-Id"));
        /* a 304 states the 200's length or none, never 0 (RFC 9110 §8.6) */
        const char *cl = h_header(&nm, "Content-Length");
        ck_assert(!cl || (size_t)atol(cl) == full);
        h_resp_free(&nm);
    }
    /* HEAD revalidates too */
    ck_assert_int_eq(req("HEAD", &mobile, "/v1/home", token, inm[0], NULL, NULL, &nm),
                     0);
    ck_assert_int_eq(nm.status, 304);
    h_resp_free(&nm);

    /* a tag that is not this answer's: the whole answer */
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token, "If-None-Match: \"stale\"",
                         NULL, NULL, &nm),
                     0);
    ck_assert_int_eq(nm.status, 200);
    ck_assert_uint_eq(nm.len, full);
    h_resp_free(&nm);

    /* the gzip variant's tag revalidates the gzip variant, not identity */
    char gz_inm[300];
    snprintf(gz_inm, sizeof(gz_inm), "If-None-Match: %.*s-gzip\"",
             (int)strlen(etag) - 1, etag);
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token, gz_inm,
                         "Accept-Encoding: gzip", NULL, &nm),
                     0);
    ck_assert_int_eq(nm.status, 304);
    ck_assert_ptr_null(h_header(&nm, "Content-Encoding"));
    h_resp_free(&nm);
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token, gz_inm, NULL, NULL, &nm),
                     0);
    ck_assert_int_eq(nm.status, 200);
    ck_assert_str_eq(h_header(&nm, "ETag"), etag);
    h_resp_free(&nm);

    /* another caller's home is another representation */
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", grace, inm[0], NULL, NULL, &nm),
                     0);
    ck_assert_int_eq(nm.status, 200);
    ck_assert_str_ne(h_header(&nm, "ETag"), etag);
    h_resp_free(&nm);

    /* and when the data changes (users gone), so does the tag */
    ck_assert_int_eq(h_fault(&shop, "users", USERS_DOWN), 0);
    ck_assert_int_eq(req("GET", &mobile, "/v1/home", token, inm[0], NULL, NULL, &nm),
                     0);
    ck_assert_int_eq(h_fault(&shop, "users", ""), 0);
    ck_assert_int_eq(nm.status, 200);
    ck_assert_str_ne(h_header(&nm, "ETag"), etag);
    h_resp_free(&nm);
    free(etag);
}
END_TEST

START_TEST(web_api_is_gzipped_but_untagged)
{
    struct h_resp id, gz;
    ck_assert_int_eq(get(&web, "/api/orders/o-1", support, &id), 0);
    ck_assert_int_eq(id.status, 200);
    ck_assert_ptr_null(
        h_header(&id, "ETag")); /* fresh timings: a tag would never match */
    ck_assert_str_eq(h_header(&id, "Cache-Control"), "no-store");
    ck_assert_int_eq(req("GET", &web, "/api/orders/o-1", support,
                         "Accept-Encoding: gzip", NULL, NULL, &gz),
                     0);
    ck_assert_str_eq(h_header(&gz, "Content-Encoding"), "gzip");
    size_t n;
    char  *plain = gunzip(gz.body, gz.len, &n);
    ck_assert_int_eq(h_schema_valid("bff-web.order-details.schema.json", plain), 0);
    json_object *a = json_tokener_parse(plain), *b = body_json(&id);
    /* the same order, customer and items (timings differ by nature) */
    json_object_object_del(a, "meta");
    json_object_object_del(b, "meta");
    ck_assert(json_object_equal(a, b));
    json_object_put(a);
    json_object_put(b);
    free(plain);
    h_resp_free(&gz);
    h_resp_free(&id);
}
END_TEST

/* ---- web: /api/customers/{id}/orders ------------------------------------ */

START_TEST(customer_orders_pages_through_every_order)
{
    const char *want[] = {"o-5", "o-4", "o-3", "o-2", "o-1"};
    char        path[512] = "/api/customers/4412/orders?limit=2";
    size_t      seen = 0;
    for (int page = 0; page < 4; page++) {
        struct h_resp r;
        ck_assert_int_eq(get(&web, path, support, &r), 0);
        ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
        ck_assert_int_eq(h_schema_valid("bff-web.customer-orders.schema.json", r.body),
                         0);
        json_object *j = body_json(&r), *orders, *next;
        ck_assert_str_eq(jstr(j, "customer.name"), "Ada Lovelace");
        ck_assert_str_eq(jstr(j, "customer.email"), "ada@example.com");
        ck_assert(json_object_object_get_ex(j, "orders", &orders));
        for (size_t i = 0; i < json_object_array_length(orders); i++) {
            ck_assert_uint_lt(seen, 5);
            ck_assert_str_eq(jstr(json_object_array_get_idx(orders, i), "id"),
                             want[seen++]);
        }
        ck_assert(json_object_object_get_ex(j, "meta", NULL));
        ck_assert(json_object_object_get_ex(j, "next_cursor", &next));
        if (!next) {
            ck_assert_int_eq(page, 2);
            ck_assert_int_eq(json_object_array_length(orders), 1);
            json_object_put(j);
            h_resp_free(&r);
            break;
        }
        ck_assert_int_eq(json_object_array_length(orders), 2);
        snprintf(path, sizeof(path), "/api/customers/4412/orders?limit=2&cursor=%s",
                 json_object_get_string(next));
        json_object_put(j);
        h_resp_free(&r);
    }
    ck_assert_uint_eq(seen, 5);

    /* default limit 20: all five on one page; limit 100 is fine */
    struct h_resp r;
    ck_assert_int_eq(get(&web, "/api/customers/4412/orders", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r), *next = (json_object *)1;
    ck_assert_int_eq(array_len(j, "orders"), 5);
    json_object_object_get_ex(j, "next_cursor", &next);
    ck_assert_ptr_null(next);
    json_object_put(j);
    h_resp_free(&r);
    ck_assert_int_eq(get(&web, "/api/customers/4412/orders?limit=100", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(get(&web, "/api/customers/4412/orders?limit=1", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_int_eq(array_len(j, "orders"), 1);
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(customer_orders_refuses_bad_pages)
{
    static const char *bad[] = {
        "/api/customers/4412/orders?limit=0",
        "/api/customers/4412/orders?limit=101",
        "/api/customers/4412/orders?limit=99999999999999999999999",
        "/api/customers/4412/orders?limit=-1",
        "/api/customers/4412/orders?limit=ten",
        "/api/customers/4412/orders?limit=5x",
        "/api/customers/4412/orders?limit=",
        "/api/customers/4412/orders?cursor=not-a-cursor",
        "/api/customers/4412/orders?cursor=%2F%2F%2F",
        /* a real cursor, but of someone else's listing */
        "/api/customers/4412/orders?limit=1&cursor=NDQxMzox",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct h_resp r;
        ck_assert_int_eq(get(&web, bad[i], support, &r), 0);
        ck_assert_msg(r.status == 400, "%s: %ld %s", bad[i], r.status, r.body);
        assert_problem(&r, 400);
        ck_assert_int_eq(h_schema_valid("problem.schema.json", r.body), 0);
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(customer_orders_access_and_faults)
{
    struct h_resp r;
    /* a customer sees their own listing, not someone else's */
    ck_assert_int_eq(get(&web, "/api/customers/4413/orders", grace, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(h_schema_valid("bff-web.customer-orders.schema.json", r.body), 0);
    h_resp_free(&r);
    ck_assert_int_eq(get(&web, "/api/customers/4412/orders", grace, &r), 0);
    assert_problem(&r, 403);
    ck_assert_ptr_null(strstr(r.body, "Ada")); /* nothing of the customer leaks */
    h_resp_free(&r);
    /* no such customer */
    ck_assert_int_eq(get(&web, "/api/customers/0000/orders", support, &r), 0);
    assert_problem(&r, 404);
    h_resp_free(&r);
    /* users down: the orders still come, the customer is missing */
    ck_assert_int_eq(h_fault(&shop, "users", USERS_DOWN), 0);
    ck_assert_int_eq(get(&web, "/api/customers/4412/orders", support, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "users", ""), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r), *c = (json_object *)1;
    json_object_object_get_ex(j, "customer", &c);
    ck_assert_ptr_null(c);
    ck_assert(partial_has(j, "users"));
    ck_assert_int_eq(array_len(j, "orders"), 5);
    ck_assert_int_eq(h_schema_valid("bff-web.customer-orders.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
    /* orders broken: 502 */
    ck_assert_int_eq(h_fault(&shop, "orders", "malformed=1"), 0);
    ck_assert_int_eq(get(&web, "/api/customers/4412/orders", support, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    assert_problem(&r, 502);
    h_resp_free(&r);
}
END_TEST

/* ---- CORS ------------------------------------------------------------------ */

START_TEST(cors_preflight_and_actual_requests)
{
    struct h_resp r;
    const char   *path = "/api/customers/4412/orders?limit=1";
    /* preflight from an allowed origin */
    ck_assert_int_eq(req("OPTIONS", &web, path, NULL, "Origin: http://dash.example",
                         "Access-Control-Request-Method: GET",
                         "Access-Control-Request-Headers: authorization, x-evil", &r),
                     0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Origin"),
                     "http://dash.example");
    ck_assert_ptr_nonnull(strstr(h_header(&r, "Access-Control-Allow-Methods"), "GET"));
    /* the configured list (here the default), never an echo of the ask */
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Headers"),
                     "Authorization, Content-Type, If-None-Match, Idempotency-Key, "
                     "traceparent");
    ck_assert_str_eq(h_header(&r, "Access-Control-Max-Age"), "600");
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Credentials"));
    ck_assert_ptr_nonnull(strstr(r.headers, "Vary: Origin"));
    h_resp_free(&r);
    /* preflight from a refused origin: 403, no CORS grant */
    ck_assert_int_eq(req("OPTIONS", &web, path, NULL, "Origin: https://evil.example",
                         "Access-Control-Request-Method: GET", NULL, &r),
                     0);
    assert_problem(&r, 403);
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Origin"));
    h_resp_free(&r);
    /* a method the route does not allow */
    ck_assert_int_eq(req("OPTIONS", &web, path, NULL, "Origin: http://dash.example",
                         "Access-Control-Request-Method: DELETE", NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 403);
    h_resp_free(&r);
    /* actual request, allowed origin: granted */
    ck_assert_int_eq(req("GET", &web, path, support,
                         "Origin: https://dashboard.shop.example", NULL, NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Origin"),
                     "https://dashboard.shop.example");
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Credentials"));
    /* the page may read the timing and the budget */
    ck_assert_str_eq(h_header(&r, "Access-Control-Expose-Headers"),
                     "ETag, Server-Timing, RateLimit, RateLimit-Policy, Retry-After, "
                     "X-Request-Id");
    ck_assert_str_eq(h_header(&r, "Timing-Allow-Origin"),
                     "https://dashboard.shop.example");
    h_resp_free(&r);
    /* actual request, refused origin: answered, but no grant, so the browser
     * keeps it from the page */
    ck_assert_int_eq(
        req("GET", &web, path, support, "Origin: https://evil.example", NULL, NULL, &r),
        0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Origin"));
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Credentials"));
    ck_assert_ptr_null(h_header(&r, "Access-Control-Expose-Headers"));
    ck_assert_ptr_null(h_header(&r, "Timing-Allow-Origin"));
    ck_assert_ptr_nonnull(strstr(r.headers, "Vary: Origin"));
    h_resp_free(&r);
    /* errors carry the grant too, so the page can read the problem */
    ck_assert_int_eq(req("GET", &web, "/api/customers/4412/orders?limit=0", support,
                         "Origin: http://dash.example", NULL, NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Origin"),
                     "http://dash.example");
    h_resp_free(&r);
}
END_TEST

START_TEST(cors_with_credentials_names_the_origin)
{
    struct h_resp r;
    const char   *path = "/api/orders/o-1";
    ck_assert_int_eq(req("OPTIONS", &web_cred, path, NULL,
                         "Origin: http://dash.example",
                         "Access-Control-Request-Method: GET", NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Origin"),
                     "http://dash.example");
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Credentials"), "true");
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Headers"),
                     "Authorization, X-Dashboard-Build"); /* cors.headers */
    h_resp_free(&r);
    ck_assert_int_eq(req("GET", &web_cred, path, support, "Origin: http://dash.example",
                         NULL, NULL, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Origin"),
                     "http://dash.example");
    ck_assert_str_eq(h_header(&r, "Access-Control-Allow-Credentials"), "true");
    h_resp_free(&r);
    ck_assert_int_eq(req("GET", &web_cred, path, support,
                         "Origin: http://other.example", NULL, NULL, &r),
                     0);
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Origin"));
    ck_assert_ptr_null(h_header(&r, "Access-Control-Allow-Credentials"));
    h_resp_free(&r);

    /* "*" with credentials never gets past config validation */
    char y[1024], cmd[2048];
    snprintf(
        y, sizeof(y),
        "listen: 127.0.0.1:1\nservices:\n  users: { url: \"http://127.0.0.1:1\" }\n"
        "cors:\n  origins: [\"*\"]\n  credentials: true\n"
        "routes:\n  - path: /u\n    service: users\n");
    char *p = h_write(dir, "star-cred.yaml", y);
    ck_assert_ptr_nonnull(p);
    snprintf(cmd, sizeof(cmd), "'%s' --check-config --config '%s' >/dev/null 2>&1",
             h_bin("bff-web/bff-web"), p);
    int rc = system(cmd);
    ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
}
END_TEST

/* ---- the dashboard's static files ---------------------------------------- */

START_TEST(static_files_have_types_and_validators)
{
    static const struct {
        const char *path, *type, *cache;
    } files[] = {
        {"/", "text/html; charset=utf-8", "no-cache"},
        {"/index.html", "text/html; charset=utf-8", "no-cache"},
        {"/app.js", "text/javascript; charset=utf-8", "public, max-age=300"},
        {"/app.css", "text/css; charset=utf-8", "public, max-age=300"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct h_resp r, c;
        ck_assert_int_eq(get(&web, files[i].path, NULL, &r), 0);
        ck_assert_msg(r.status == 200, "%s: %ld", files[i].path, r.status);
        ck_assert_str_eq(h_header(&r, "Content-Type"), files[i].type);
        ck_assert_str_eq(h_header(&r, "Cache-Control"), files[i].cache);
        ck_assert_str_eq(h_header(&r, "X-Content-Type-Options"), "nosniff");
        char *etag = hdr_dup(&r, "ETag"), *lm = hdr_dup(&r, "Last-Modified");
        ck_assert_ptr_nonnull(etag);
        ck_assert_ptr_nonnull(lm);
        ck_assert_ptr_nonnull(strstr(lm, " GMT"));
        char h1[256], h2[256];
        snprintf(h1, sizeof(h1), "If-None-Match: %s", etag);
        ck_assert_int_eq(req("GET", &web, files[i].path, NULL, h1, NULL, NULL, &c), 0);
        ck_assert_int_eq(c.status, 304);
        ck_assert_uint_eq(c.len, 0);
        ck_assert_str_eq(h_header(&c, "ETag"), etag);
        h_resp_free(&c);
        snprintf(h2, sizeof(h2), "If-Modified-Since: %s", lm);
        ck_assert_int_eq(req("GET", &web, files[i].path, NULL, h2, NULL, NULL, &c), 0);
        ck_assert_int_eq(c.status, 304);
        h_resp_free(&c);
        /* If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2) */
        ck_assert_int_eq(
            req("GET", &web, files[i].path, NULL, "If-None-Match: \"x\"", h2, NULL, &c),
            0);
        ck_assert_int_eq(c.status, 200);
        h_resp_free(&c);
        ck_assert_int_eq(req("GET", &web, files[i].path, NULL,
                             "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT", NULL,
                             NULL, &c),
                         0);
        ck_assert_int_eq(c.status, 200);
        h_resp_free(&c);
        /* gzip, and it inflates to the same file */
        ck_assert_int_eq(req("GET", &web, files[i].path, NULL, "Accept-Encoding: gzip",
                             NULL, NULL, &c),
                         0);
        ck_assert_int_eq(c.status, 200);
        if (r.len >= GZIP_MIN) {
            ck_assert_str_eq(h_header(&c, "Content-Encoding"), "gzip");
            size_t n;
            char  *plain = gunzip(c.body, c.len, &n);
            ck_assert_uint_eq(n, r.len);
            ck_assert_int_eq(memcmp(plain, r.body, n), 0);
            free(plain);
        }
        h_resp_free(&c);
        free(etag);
        free(lm);
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(static_paths_never_escape_the_folder)
{
    static const char *bad[] = {
        "/..%2f..%2fetc/passwd",
        "/..%2F..%2F..%2Fetc%2Fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd",
        "/.%2e/.%2e/etc/passwd",
        "/..%5c..%5cetc%5cpasswd",
        "/%252e%252e/etc/passwd",
        "//etc/passwd",
        "/index.html%00.js",
        "/app.js/../../../../etc/passwd",
        "/nope.html",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct h_resp r;
        ck_assert_int_eq(get(&web, bad[i], NULL, &r), 0);
        ck_assert_msg(r.status == 400 || r.status == 404, "%s: %ld", bad[i], r.status);
        ck_assert_ptr_null(strstr(r.body, "root:"));
        h_resp_free(&r);
    }
}
END_TEST

/* ---- service answers against their schemas, and answers of the wrong shape */

START_TEST(service_answers_match_their_schemas)
{
    static const struct {
        int         which; /* 0 users, 1 orders, 2 inventory */
        const char *path, *schema;
    } calls[] = {
        {0, "/users/4412", "users.user.schema.json"},
        {1, "/orders/o-1", "orders.order.schema.json"},
        {1, "/orders?user_id=4412&limit=2", "orders.list.schema.json"},
        {2, "/inventory/SKU-1", "inventory.record.schema.json"},
        {2, "/inventory?skus=SKU-1,SKU-5,SKU-404", "inventory.batch.schema.json"},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        int  ports[3] = {shop.users, shop.orders, shop.inventory};
        char u[256];
        snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", ports[calls[i].which],
                 calls[i].path);
        const char   *hdrs[] = {"X-User-Id: 4412", "X-User-Roles: customer", NULL};
        struct h_resp r;
        ck_assert_int_eq(h_http("GET", u, hdrs, NULL, &r), 0);
        ck_assert_msg(r.status == 200, "%s: %ld", u, r.status);
        ck_assert_msg(h_schema_valid(calls[i].schema, r.body) == 0, "%s",
                      calls[i].path);
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(malformed_parts_are_partial_or_502)
{
    struct h_resp r;
    /* inventory not JSON: optional, so partial, on both BFFs */
    ck_assert_int_eq(h_fault(&shop, "inventory", "malformed=1"), 0);
    ck_assert_int_eq(get(&mobile, "/v1/order-screen/o-1", token, &r), 0);
    ck_assert_int_eq(r.status, 200);
    json_object *j = body_json(&r);
    ck_assert(partial_has(j, "inventory"));
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
    ck_assert_int_eq(get(&web, "/api/orders/o-1", support, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "inventory", ""), 0);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert(partial_has(j, "inventory"));
    ck_assert_int_eq(h_schema_valid("bff-web.order-details.schema.json", r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
    /* orders not JSON: required, so 502 */
    ck_assert_int_eq(h_fault(&shop, "orders", "malformed=1"), 0);
    ck_assert_int_eq(get(&web, "/api/orders/o-1", support, &r), 0);
    ck_assert_int_eq(h_fault(&shop, "orders", ""), 0);
    assert_problem(&r, 502);
    h_resp_free(&r);
}
END_TEST

static const char *good_user =
    "{\"id\":\"4412\",\"name\":\"Ada Lovelace\",\"email\":\"a@x\","
    "\"tier\":\"gold\",\"created_at\":\"2024-01-02T03:04:05Z\"}";
static const char *good_order =
    "{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"created_at\":"
    "\"2024-03-04T05:06:07Z\",\"total_cents\":4599,\"currency\":\"EUR\",\"items\":["
    "{\"sku\":\"SKU-1\",\"name\":\"Kettle\",\"qty\":1,\"price_cents\":2999}]}";
static const char *good_inventory = "{\"items\":[{\"sku\":\"SKU-1\",\"in_stock\":true,"
                                    "\"quantity\":4,\"warehouse\":\"B\"}]}";

/* @path on @b must answer 502 with a detail naming orders. */
static void expect_502(struct h_bff *b, const char *path, const char *tok)
{
    struct h_resp r;
    ck_assert_int_eq(get(b, path, tok, &r), 0);
    ck_assert_msg(r.status == 502, "%s: %ld %s", path, r.status, r.body);
    assert_problem(&r, 502);
    json_object *j = body_json(&r);
    ck_assert_ptr_nonnull(strstr(jstr(j, "detail"), "orders answered"));
    json_object_put(j);
    h_resp_free(&r);
}

/* @path on @b must answer 200, valid against @schema, with @part in partial. */
static void expect_partial(struct h_bff *b, const char *path, const char *tok,
                           const char *schema, const char *part)
{
    struct h_resp r;
    ck_assert_int_eq(get(b, path, tok, &r), 0);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    json_object *j = body_json(&r);
    ck_assert_msg(partial_has(j, part), "%s: %s not in partial: %s", path, part,
                  r.body);
    ck_assert_int_eq(h_schema_valid(schema, r.body), 0);
    json_object_put(j);
    h_resp_free(&r);
}

START_TEST(wrong_shapes_never_make_half_answers)
{
    fake_serve();
    /* orders answers valid JSON that is not an order: 502, on every endpoint */
    static const char *bad_orders[] = {
        "[]",
        "{\"id\":\"o-1\"}",
        "{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"total_cents\":"
        "\"many\","
        "\"currency\":\"EUR\",\"items\":[]}",
        "{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"total_cents\":1,"
        "\"currency\":\"EUR\",\"items\":[{\"sku\":7}]}",
        "{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"total_cents\":1,"
        "\"currency\":\"EUR\",\"items\":{\"sku\":\"SKU-1\"}}",
        "{\"orders\":\"none\",\"next_cursor\":null}",
        "{\"orders\":[{\"id\":5}],\"next_cursor\":null}",
        "null",
    };
    for (size_t i = 0; i < sizeof(bad_orders) / sizeof(bad_orders[0]); i++) {
        fake_set(good_user, bad_orders[i], good_inventory);
        expect_502(&fake_mobile, "/v1/order-screen/o-1", support);
        expect_502(&fake_mobile, "/v1/home", token);
        expect_502(&fake_web, "/api/orders/o-1", support);
        expect_502(&fake_web, "/api/customers/4412/orders", support);
    }
    /* the detail names the first field the endpoint could not use */
    static const struct {
        const char *orders, *path, *detail;
    } named[] = {
        {"{\"id\":\"o-1\"}", "/v1/order-screen/o-1",
         "orders answered without user_id (a string)"},
        {"{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"total_cents\":"
         "\"many\",\"currency\":\"EUR\",\"items\":[]}",
         "/api/orders/o-1", "orders answered without total_cents (an integer)"},
        {"{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"total_cents\":1,"
         "\"currency\":\"EUR\",\"items\":[{\"sku\":\"S\",\"name\":\"N\",\"qty\":1}]}",
         "/api/orders/o-1", "orders answered an item without price_cents (an integer)"},
        {"{\"orders\":\"none\"}", "/v1/home",
         "orders answered a listing without orders (an array)"},
        /* bff_agg_copy: checked as it copies, the first member it lacks named */
        {"{\"orders\":[{\"id\":\"o-1\",\"status\":\"paid\",\"total_cents\":1,"
         "\"currency\":\"EUR\"}],\"next_cursor\":null}",
         "/v1/home", "orders answered an order without created_at (a string)"},
        {"{\"orders\":[],\"next_cursor\":42}", "/api/customers/4412/orders",
         "orders answered a listing without next_cursor (a string or null)"},
    };
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        struct h_resp r;
        fake_set(good_user, named[i].orders, good_inventory);
        int on_mobile = strncmp(named[i].path, "/v1/", 4) == 0;
        ck_assert_int_eq(
            get(on_mobile ? &fake_mobile : &fake_web, named[i].path,
                on_mobile && strcmp(named[i].path, "/v1/home") == 0 ? token : support,
                &r),
            0);
        assert_problem(&r, 502);
        json_object *j = body_json(&r);
        ck_assert_str_eq(jstr(j, "detail"), named[i].detail);
        json_object_put(j);
        h_resp_free(&r);
    }
    /* a cursor that is not a string: only the listing page reads it */
    fake_set(good_user, "{\"orders\":[],\"next_cursor\":42}", good_inventory);
    expect_502(&fake_web, "/api/customers/4412/orders", support);
    /* a list in the right shape for the listing endpoints */
    char list[2200];
    snprintf(list, sizeof(list), "{\"orders\":[%s],\"next_cursor\":null}", good_order);

    /* users or inventory of the wrong shape: missing, named in partial */
    static const char *bad_users[] = {"[]", "{\"name\":42}", "{\"id\":\"4412\"}", "7"};
    for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++) {
        fake_set(bad_users[i], good_order, good_inventory);
        expect_partial(&fake_mobile, "/v1/order-screen/o-1", support,
                       "bff-mobile.order-screen.schema.json", "users");
        expect_partial(&fake_web, "/api/orders/o-1", support,
                       "bff-web.order-details.schema.json", "users");
        fake_set(bad_users[i], list, good_inventory);
        expect_partial(&fake_mobile, "/v1/home", token, "bff-mobile.home.schema.json",
                       "users");
        expect_partial(&fake_web, "/api/customers/4412/orders", support,
                       "bff-web.customer-orders.schema.json", "users");
    }
    static const char *bad_inventory[] = {"{\"items\":{}}", "{\"items\":\"SKU-1\"}",
                                          "[1,2]", "{}"};
    for (size_t i = 0; i < sizeof(bad_inventory) / sizeof(bad_inventory[0]); i++) {
        fake_set(good_user, good_order, bad_inventory[i]);
        expect_partial(&fake_mobile, "/v1/order-screen/o-1", support,
                       "bff-mobile.order-screen.schema.json", "inventory");
        expect_partial(&fake_web, "/api/orders/o-1", support,
                       "bff-web.order-details.schema.json", "inventory");
    }
    /* records of the wrong shape inside a good batch: that item's stock is unknown */
    fake_set(
        good_user, good_order,
        "{\"items\":[{\"sku\":\"SKU-1\",\"in_stock\":\"yes\",\"quantity\":\"4\"}]}");
    struct h_resp r;
    ck_assert_int_eq(get(&fake_web, "/api/orders/o-1", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(h_schema_valid("bff-web.order-details.schema.json", r.body), 0);
    h_resp_free(&r);
    ck_assert_int_eq(get(&fake_mobile, "/v1/order-screen/o-1", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(h_schema_valid("bff-mobile.order-screen.schema.json", r.body), 0);
    h_resp_free(&r);

    /* and with good answers again, all is well: nobody crashed */
    fake_set(good_user, good_order, good_inventory);
    ck_assert_int_eq(get(&fake_mobile, "/v1/order-screen/o-1", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(get(&fake_web, "/api/orders/o-1", support, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_bff");
    TCase *tc = tcase_create("bff");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, home_is_name_and_three_latest_orders);
    tcase_add_test(tc, home_without_users_greets_without_a_name);
    tcase_add_test(tc, home_without_orders_is_the_orders_error);
    tcase_add_test(tc, gzip_round_trips_to_the_identity_body);
    tcase_add_test(tc, br_round_trips_to_the_identity_body);
    tcase_add_test(tc, small_answers_are_not_gzipped);
    tcase_add_test(tc, if_none_match_gives_304);
    tcase_add_test(tc, web_api_is_gzipped_but_untagged);
    tcase_add_test(tc, customer_orders_pages_through_every_order);
    tcase_add_test(tc, customer_orders_refuses_bad_pages);
    tcase_add_test(tc, customer_orders_access_and_faults);
    tcase_add_test(tc, cors_preflight_and_actual_requests);
    tcase_add_test(tc, cors_with_credentials_names_the_origin);
    tcase_add_test(tc, static_files_have_types_and_validators);
    tcase_add_test(tc, static_paths_never_escape_the_folder);
    tcase_add_test(tc, service_answers_match_their_schemas);
    tcase_add_test(tc, malformed_parts_are_partial_or_502);
    tcase_add_test(tc, wrong_shapes_never_make_half_answers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
