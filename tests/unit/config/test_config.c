/* tests/unit/config/test_config.c — the config module: SPEC examples, defaults, and
 * every class of error with its exact FILE:LINE:COL */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bff/config.h"
#include "bff/endpoint.h"

static const char *const         os_svcs[] = {"users", "orders", "inventory", NULL};
static const char *const         home_svcs[] = {"users", "orders", NULL};
static const struct bff_endpoint eps[] = {
    {"order_screen", os_svcs, NULL},
    {"home", home_svcs, NULL},
};
static const struct bff_config_opts opts = {eps, 2};

/* SPEC §3, the full example, verbatim but for one word: the SPEC gives the
 * users service `url: http://...` next to `tls:`, where tls has no effect;
 * since that is an error (err_keys_without_effect), users is https:// here. */
static const char spec_full[] =
    "listen: 127.0.0.1:8081            # client-facing\n"
    "workers: 2                        # event-loop threads; default: one per core\n"
    "admin_listen: 127.0.0.1:9081      # /healthz /readyz /metrics /admin/config — "
    "never on the public port\n"
    "drain_timeout: 10s\n"
    "limits: { max_body: 1MiB, max_header_bytes: 16KiB, max_connections: 10000, "
    "client_timeout: 30s }\n"
    "\n"
    "services:                          # named upstreams\n"
    "  users:\n"
    "    url: https://127.0.0.1:9101\n"
    "    connect_timeout: 200ms\n"
    "    timeout: 800ms                 # whole call, per attempt\n"
    "    max_in_flight: 256             # bulkhead: beyond it, fail fast with 503\n"
    "    retries: 1                     # idempotent methods only, within a retry "
    "budget\n"
    "    circuit_breaker: { failures: 5, open_for: 10s, half_open_probes: 1 }\n"
    "    health_check: { path: /healthz, interval: 5s }\n"
    "    tls: { ca: FILE, cert: FILE, key: FILE }   # optional mTLS to the service\n"
    "  orders:    { url: http://127.0.0.1:9102 }\n"
    "  inventory: { url: http://127.0.0.1:9103 }\n"
    "\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: secrets/jwks.json   # RFC 7517 key set; or jwks_url: with "
    "periodic refresh\n"
    "                                   # a token's kid picks its key; a token "
    "without kid is checked\n"
    "                                   # only when exactly one key fits its alg\n"
    "    algorithms: [RS256, ES256, HS256]\n"
    "    issuer: https://auth.shop.example\n"
    "    audience: shop-mobile\n"
    "    leeway: 30s\n"
    "    claims: { user_id: sub, roles: roles }\n"
    "  internal_signing_key_file: secrets/internal.key   # signs forwarded "
    "identity (section 5)\n"
    "\n"
    "rate_limit:\n"
    "  store: memory                    # or redis://127.0.0.1:6379/0 to share "
    "limits across instances\n"
    "  key: user_or_ip                  # the user id when authenticated, else the "
    "client address\n"
    "  on_store_error: allow            # or deny\n"
    "\n"
    "cors:                              # bff-web: the dashboard's origins "
    "(preflight answered here)\n"
    "  origins: [https://dashboard.shop.example]\n"
    "  credentials: false\n"
    "  max_age: 10m\n"
    "\n"
    "routes:\n"
    "  - path: /orders                  # a proxy route: prefix match on whole "
    "segments\n"
    "    service: http://orders:8080    # a literal URL, or a name from services:\n"
    "    auth: required                 # required | optional | none\n"
    "    rate_limit: 100/min\n"
    "  - path: /inventory\n"
    "    service: inventory\n"
    "    auth: required\n"
    "    rate_limit: 500/min   # reads are cheap, let 'em through\n"
    "  - path: /v1/order-screen/{id}    # an aggregation route: {name} binds one "
    "segment\n"
    "    handler: order_screen          # compiled into this BFF\n"
    "    auth: required\n"
    "    roles: [customer, support]\n"
    "    rate_limit: 60/min\n"
    "    timeout: 1s                    # overall deadline of the fan-out\n"
    "  - path: /                        # a static route: files under a folder "
    "(bff-web's dashboard)\n"
    "    static: bff-web/www\n"
    "    auth: none\n";

/* SPEC §3, the design's routing config, verbatim. */
static const char spec_design[] = "routes:\n"
                                  "  - path: /orders\n"
                                  "    service: http://orders:8080\n"
                                  "    auth: required\n"
                                  "    rate_limit: 100/min\n"
                                  "  - path: /inventory\n"
                                  "    service: http://inventory:8080\n"
                                  "    auth: required\n"
                                  "    rate_limit: 500/min   # reads are cheap, let "
                                  "'em through\n";

/* A minimal valid tail for configs that test one section. */
#define ROUTE "routes:\n  - path: /a\n    service: http://a:1\n"

static struct bff_config *parse(const char *yaml, struct bff_diag *d)
{
    return bff_config_parse("t.yaml", yaml, strlen(yaml), &opts, d);
}

/* All messages of @d, one per line, for failure output. */
static const char *dump(const struct bff_diag *d)
{
    static char buf[8192];
    size_t      o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < d->n && o < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "  %s\n", d->msgs[i]);
    return buf;
}

static int has(const struct bff_diag *d, const char *line)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->msgs[i], line))
            return 1;
    return 0;
}

/* @yaml must fail, and one of its messages must be exactly @line. */
static void expect_err(const char *yaml, const char *line)
{
    struct bff_diag    d = {0};
    struct bff_config *c = parse(yaml, &d);

    ck_assert_msg(c == NULL, "config loaded, expected: %s", line);
    ck_assert_msg(has(&d, line), "expected:\n  %s\ngot:\n%s", line, dump(&d));
    bff_diag_cleanup(&d);
}

/* Like expect_err, for a message that starts with @prefix. */
static void expect_err_prefix(const char *yaml, const char *prefix)
{
    struct bff_diag    d = {0};
    struct bff_config *c = parse(yaml, &d);
    int                found = 0;

    ck_assert_msg(c == NULL, "config loaded, expected: %s", prefix);
    for (size_t i = 0; i < d.n; i++)
        if (strncmp(d.msgs[i], prefix, strlen(prefix)) == 0)
            found = 1;
    ck_assert_msg(found, "expected a line starting:\n  %s\ngot:\n%s", prefix, dump(&d));
    bff_diag_cleanup(&d);
}

static struct bff_config *expect_ok(const char *yaml)
{
    struct bff_diag    d = {0};
    struct bff_config *c = parse(yaml, &d);

    ck_assert_msg(c != NULL, "config refused:\n%s", dump(&d));
    ck_assert_uint_eq(d.n, 0);
    bff_diag_cleanup(&d);
    return c;
}

static void hex_sha256(const char *s, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int  len = 0;

    ck_assert(EVP_Digest(s, n, md, &len, EVP_sha256(), NULL));
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- the SPEC examples ------------------------------------------------ */

START_TEST(spec_full_loads)
{
    struct bff_config *c = expect_ok(spec_full);
    int                users, inv, lit;
    char               sha[65];

    ck_assert_str_eq(c->path, "t.yaml");
    hex_sha256(spec_full, strlen(spec_full), sha);
    ck_assert_str_eq(c->sha256, sha);
    ck_assert_int_gt(c->loaded_at, 0);
    ck_assert_str_eq(c->listen, "127.0.0.1:8081");
    ck_assert_uint_eq(c->workers, 2);
    ck_assert_str_eq(c->admin_listen, "127.0.0.1:9081");
    ck_assert_uint_eq(c->drain_timeout_ms, 10000);
    ck_assert_uint_eq(c->limits.max_body, 1024 * 1024);
    ck_assert_uint_eq(c->limits.max_header_bytes, 16 * 1024);
    ck_assert_uint_eq(c->limits.max_connections, 10000);
    ck_assert_uint_eq(c->limits.client_timeout_ms, 30000);

    ck_assert_uint_eq(c->nservices, 4); /* three named, one literal URL */
    users = bff_config_service(c, "users");
    inv = bff_config_service(c, "inventory");
    lit = bff_config_service(c, "http://orders:8080");
    ck_assert_int_eq(users, 0);
    ck_assert_int_eq(bff_config_service(c, "orders"), 1);
    ck_assert_int_eq(inv, 2);
    ck_assert_int_eq(lit, 3);
    ck_assert_int_eq(bff_config_service(c, "nope"), -1);
    ck_assert_str_eq(c->services[users].url, "https://127.0.0.1:9101");
    ck_assert_uint_eq(c->services[users].connect_timeout_ms, 200);
    ck_assert_uint_eq(c->services[users].timeout_ms, 800);
    ck_assert_uint_eq(c->services[users].max_in_flight, 256);
    ck_assert_uint_eq(c->services[users].retries, 1);
    ck_assert_uint_eq(c->services[users].cb.failures, 5);
    ck_assert_uint_eq(c->services[users].cb.open_for_ms, 10000);
    ck_assert_uint_eq(c->services[users].cb.half_open_probes, 1);
    ck_assert_str_eq(c->services[users].hc.path, "/healthz");
    ck_assert_uint_eq(c->services[users].hc.interval_ms, 5000);
    ck_assert_str_eq(c->services[users].tls.ca, "FILE");
    ck_assert_str_eq(c->services[users].tls.cert, "FILE");
    ck_assert_str_eq(c->services[users].tls.key, "FILE");
    ck_assert_int_eq(c->services[users].implicit, 0);
    ck_assert_int_eq(c->services[users].pos.line, 8);
    ck_assert_int_eq(c->services[users].pos.col, 3);
    ck_assert_ptr_null(c->services[inv].hc.path);
    ck_assert_int_eq(c->services[lit].implicit, 1);
    ck_assert_str_eq(c->services[lit].url, "http://orders:8080");

    ck_assert_int_eq(c->auth.enabled, 1);
    ck_assert_str_eq(c->auth.jwks_file, "secrets/jwks.json");
    ck_assert_ptr_null(c->auth.jwks_url);
    ck_assert_uint_eq(c->auth.algorithms,
                      BFF_ALG_RS256 | BFF_ALG_ES256 | BFF_ALG_HS256);
    ck_assert_str_eq(c->auth.issuer, "https://auth.shop.example");
    ck_assert_uint_eq(c->auth.naudience, 1);
    ck_assert_str_eq(c->auth.audience[0], "shop-mobile");
    ck_assert_ptr_null(c->auth.audience[1]);
    ck_assert_uint_eq(c->auth.leeway_ms, 30000);
    ck_assert_str_eq(c->auth.claim_user_id, "sub");
    ck_assert_str_eq(c->auth.claim_roles, "roles");
    ck_assert_str_eq(c->auth.internal_signing_key_file, "secrets/internal.key");

    ck_assert_str_eq(c->rate_limit.store, "memory");
    ck_assert_int_eq(c->rate_limit.key, BFF_RL_KEY_USER_OR_IP);
    ck_assert_int_eq(c->rate_limit.on_store_error_deny, 0);

    ck_assert_uint_eq(c->cors.norigins, 1);
    ck_assert_str_eq(c->cors.origins[0], "https://dashboard.shop.example");
    ck_assert_int_eq(c->cors.credentials, 0);
    ck_assert_uint_eq(c->cors.max_age_ms, 600000);

    ck_assert_uint_eq(c->nroutes, 4);
    ck_assert_str_eq(c->routes[0].path, "/orders");
    ck_assert_int_eq(c->routes[0].kind, BFF_ROUTE_PROXY);
    ck_assert_int_eq(c->routes[0].service, lit);
    ck_assert_int_eq(c->routes[0].auth, BFF_AUTH_REQUIRED);
    ck_assert_uint_eq(c->routes[0].rate.count, 100);
    ck_assert_uint_eq(c->routes[0].rate.period_ms, 60000);
    ck_assert_uint_eq(c->routes[0].methods, BFF_M_ALL);
    ck_assert_int_eq(c->routes[0].pos.line, 43);
    ck_assert_int_eq(c->routes[0].pos.col, 5);
    ck_assert_int_eq(c->routes[1].service, inv);
    ck_assert_uint_eq(c->routes[1].rate.count, 500);
    ck_assert_int_eq(c->routes[2].kind, BFF_ROUTE_HANDLER);
    ck_assert_str_eq(c->routes[2].handler, "order_screen");
    ck_assert_ptr_eq(c->routes[2].endpoint, &eps[0]);
    ck_assert_uint_eq(c->routes[2].nroles, 2);
    ck_assert_str_eq(c->routes[2].roles[0], "customer");
    ck_assert_str_eq(c->routes[2].roles[1], "support");
    ck_assert_ptr_null(c->routes[2].roles[2]);
    ck_assert_uint_eq(c->routes[2].timeout_ms, 1000);
    ck_assert_uint_eq(c->routes[2].methods, BFF_M_GET | BFF_M_HEAD);
    ck_assert_int_eq(c->routes[3].kind, BFF_ROUTE_STATIC);
    ck_assert_str_eq(c->routes[3].static_dir, "bff-web/www");
    ck_assert_int_eq(c->routes[3].auth, BFF_AUTH_NONE);
    ck_assert_uint_eq(c->routes[3].methods, BFF_M_GET | BFF_M_HEAD);
    bff_config_free(c);
}
END_TEST

START_TEST(spec_design_loads)
{
    struct bff_config *c = expect_ok(spec_design);

    ck_assert_uint_eq(c->nservices, 2);
    ck_assert_str_eq(c->services[0].name, "http://orders:8080");
    ck_assert_str_eq(c->services[1].url, "http://inventory:8080");
    ck_assert_int_eq(c->services[1].implicit, 1);
    ck_assert_int_eq(c->services[1].pos.line, 7);
    ck_assert_int_eq(c->services[1].pos.col, 14);
    ck_assert_uint_eq(c->nroutes, 2);
    ck_assert_int_eq(c->routes[0].service, 0);
    ck_assert_int_eq(c->routes[1].service, 1);
    ck_assert_uint_eq(c->routes[1].rate.count, 500);
    ck_assert_uint_eq(c->routes[1].rate.period_ms, 60000);
    bff_config_free(c);
}
END_TEST

/* Without opts the design config still loads: it names no handler. */
START_TEST(spec_design_without_opts)
{
    struct bff_diag    d = {0};
    struct bff_config *c =
        bff_config_parse("d.yaml", spec_design, strlen(spec_design), NULL, &d);

    ck_assert_msg(c != NULL, "%s", dump(&d));
    bff_config_free(c);
    bff_diag_cleanup(&d);
}
END_TEST

START_TEST(defaults)
{
    struct bff_config *c = expect_ok(spec_design);
    long               cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t           want = cores < 1 ? 1 : cores > 64 ? 64 : (uint32_t)cores;
    const struct bff_service_conf *s = &c->services[0];

    ck_assert_str_eq(c->listen, "127.0.0.1:8080");
    ck_assert_ptr_null(c->admin_listen);
    ck_assert_uint_eq(c->workers, want);
    ck_assert_uint_eq(c->drain_timeout_ms, 10000);
    ck_assert_int_eq(c->access_log, 1);
    ck_assert_uint_eq(c->limits.max_body, 1 << 20);
    ck_assert_uint_eq(c->limits.max_header_bytes, 16 << 10);
    ck_assert_uint_eq(c->limits.max_connections, 10000);
    ck_assert_uint_eq(c->limits.client_timeout_ms, 30000);

    ck_assert_uint_eq(s->connect_timeout_ms, 200);
    ck_assert_uint_eq(s->timeout_ms, 800);
    ck_assert_uint_eq(s->max_in_flight, 256);
    ck_assert_uint_eq(s->retries, 1);
    ck_assert_int_eq(s->retry_put_delete, 0);
    ck_assert_uint_eq(s->cb.failures, 5);
    ck_assert_uint_eq(s->cb.open_for_ms, 10000);
    ck_assert_uint_eq(s->cb.half_open_probes, 1);
    ck_assert_ptr_null(s->hc.path);
    ck_assert_uint_eq(s->hc.interval_ms, 5000);
    ck_assert_ptr_null(s->tls.ca);
    ck_assert_ptr_null(s->tls.cert);
    ck_assert_ptr_null(s->tls.key);

    ck_assert_int_eq(c->auth.enabled, 0);
    ck_assert_ptr_null(c->auth.jwks_file);
    ck_assert_ptr_null(c->auth.jwks_url);
    ck_assert_uint_eq(c->auth.jwks_refresh_ms, 300000);
    ck_assert_uint_eq(c->auth.algorithms, BFF_ALG_RS256 | BFF_ALG_ES256);
    ck_assert_ptr_null(c->auth.issuer);
    ck_assert_ptr_null(c->auth.audience);
    ck_assert_uint_eq(c->auth.leeway_ms, 30000);
    ck_assert_str_eq(c->auth.claim_user_id, "sub");
    ck_assert_str_eq(c->auth.claim_roles, "roles");
    ck_assert_ptr_null(c->auth.internal_signing_key_file);

    ck_assert_str_eq(c->rate_limit.store, "memory");
    ck_assert_int_eq(c->rate_limit.key, BFF_RL_KEY_USER_OR_IP);
    ck_assert_int_eq(c->rate_limit.on_store_error_deny, 0);
    ck_assert_uint_eq(c->rate_limit.store_timeout_ms, 50);
    ck_assert_uint_eq(c->rate_limit.max_keys, 100000);

    ck_assert_ptr_null(c->cors.origins);
    ck_assert_int_eq(c->cors.credentials, 0);
    ck_assert_uint_eq(c->cors.max_age_ms, 600000);
    ck_assert(c->tracing.sample_ratio == 1.0);
    bff_config_free(c);
}
END_TEST

/* tracing.sample_ratio: a plain decimal from 0 to 1. */
START_TEST(tracing_sample_ratio)
{
    static const struct {
        const char *text;
        double      want;
    } ok[] = {{"0", 0}, {"1", 1}, {"0.1", 0.1}, {"1.0", 1}, {".25", 0.25}, {"0.", 0}};
    static const char *bad[] = {"1.5", "-0.1",  "1e-1", "0x1", "nan",
                                "inf", "0.1.2", ".",    "10%", "+0.5"};
    char               yaml[256], want[256];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(yaml, sizeof yaml, "tracing: { sample_ratio: \"%s\" }\n" ROUTE,
                 ok[i].text);
        struct bff_config *c = expect_ok(yaml);
        ck_assert_msg(c->tracing.sample_ratio == ok[i].want, "%s", ok[i].text);
        bff_config_free(c);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(yaml, sizeof yaml, ROUTE "tracing:\n  sample_ratio: %s\n", bad[i]);
        snprintf(want, sizeof want,
                 "t.yaml:5:17: sample_ratio \"%s\": must be a number from 0 to 1 "
                 "(like 0.1)",
                 bad[i]);
        expect_err(yaml, want);
    }
    expect_err("tracing: { ratio: 0.5 }\n" ROUTE,
               "t.yaml:1:12: unknown key \"ratio\" in tracing; expected sample_ratio");
}
END_TEST

START_TEST(route_defaults)
{
    struct bff_config *c = expect_ok("routes:\n"
                                     "  - path: /p\n"
                                     "    service: http://a:1\n"
                                     "  - path: /h/{id}\n"
                                     "    handler: home\n"
                                     "  - path: /\n"
                                     "    static: www\n"
                                     "services:\n"
                                     "  users: { url: http://u:1 }\n"
                                     "  orders: { url: http://o:1 }\n");

    ck_assert_int_eq(c->routes[0].auth, BFF_AUTH_NONE);
    ck_assert_ptr_null(c->routes[0].roles);
    ck_assert_uint_eq(c->routes[0].rate.count, 0);
    ck_assert_uint_eq(c->routes[0].timeout_ms, 0);
    ck_assert_uint_eq(c->routes[0].methods, BFF_M_ALL);
    ck_assert_int_eq(c->routes[0].strip_prefix, 0);
    ck_assert_uint_eq(c->routes[1].methods, BFF_M_GET | BFF_M_HEAD);
    ck_assert_uint_eq(c->routes[2].methods, BFF_M_GET | BFF_M_HEAD);
    /* services: came after routes: in the file; the handler still resolves */
    ck_assert_ptr_eq(c->routes[1].endpoint, &eps[1]);
    bff_config_free(c);
}
END_TEST

/* Every value kind, block and flow style, written out. */
START_TEST(all_keys)
{
    struct bff_config *c = expect_ok(
        "listen: \"[::1]:8443\"\n"
        "workers: 64\n"
        "admin_listen: localhost:9000\n"
        "drain_timeout: 0\n"
        "access_log: false\n"
        "limits:\n"
        "  max_body: 512KiB\n"
        "  max_header_bytes: 8192\n"
        "  max_connections: 5\n"
        "  client_timeout: 2m\n"
        "services:\n"
        "  users:\n"
        "    url: https://users.internal:8443/api/\n"
        "    retries: 3\n"
        "    retry_non_get: true\n"
        "    health_check: { path: /h }\n"
        "auth:\n"
        "  jwt:\n"
        "    jwks_url: https://auth.example/.well-known/jwks.json\n"
        "    jwks_refresh: 1h\n"
        "    algorithms: [EdDSA, PS512]\n"
        "    audience: [a, b]\n"
        "    leeway: 0\n"
        "    claims: { user_id: uid, roles: groups }\n"
        "rate_limit: { store: \"redis://127.0.0.1:6379/2\", key: user, "
        "on_store_error: deny, store_timeout: 20ms, max_keys: 10 }\n"
        "cors: { origins: \"*\", max_age: 0 }\n"
        "routes:\n"
        "  - { path: /u, service: users, methods: [GET, POST], strip_prefix: true, "
        "auth: optional, roles: [admin], timeout: 250ms, rate_limit: 5/sec }\n"
        "  - path: /x\n"
        "    service: http://x:1\n"
        "    rate_limit: 7/hour\n");

    ck_assert_str_eq(c->listen, "[::1]:8443");
    ck_assert_uint_eq(c->workers, 64);
    ck_assert_str_eq(c->admin_listen, "localhost:9000");
    ck_assert_uint_eq(c->drain_timeout_ms, 0);
    ck_assert_int_eq(c->access_log, 0);
    ck_assert_uint_eq(c->limits.max_body, 512 * 1024);
    ck_assert_uint_eq(c->limits.max_header_bytes, 8192);
    ck_assert_uint_eq(c->limits.max_connections, 5);
    ck_assert_uint_eq(c->limits.client_timeout_ms, 120000);
    ck_assert_str_eq(c->services[0].url, "https://users.internal:8443/api");
    ck_assert_uint_eq(c->services[0].retries, 3);
    ck_assert_int_eq(c->services[0].retry_put_delete, 1);
    ck_assert_str_eq(c->services[0].hc.path, "/h");
    ck_assert_str_eq(c->auth.jwks_url, "https://auth.example/.well-known/jwks.json");
    ck_assert_uint_eq(c->auth.jwks_refresh_ms, 3600000);
    ck_assert_uint_eq(c->auth.algorithms, BFF_ALG_EDDSA | BFF_ALG_PS512);
    ck_assert_uint_eq(c->auth.naudience, 2);
    ck_assert_str_eq(c->auth.audience[1], "b");
    ck_assert_uint_eq(c->auth.leeway_ms, 0);
    ck_assert_str_eq(c->auth.claim_user_id, "uid");
    ck_assert_str_eq(c->auth.claim_roles, "groups");
    ck_assert_str_eq(c->rate_limit.store, "redis://127.0.0.1:6379/2");
    ck_assert_int_eq(c->rate_limit.key, BFF_RL_KEY_USER);
    ck_assert_int_eq(c->rate_limit.on_store_error_deny, 1);
    ck_assert_uint_eq(c->rate_limit.store_timeout_ms, 20);
    ck_assert_uint_eq(c->rate_limit.max_keys, 10);
    ck_assert_uint_eq(c->cors.norigins, 1);
    ck_assert_str_eq(c->cors.origins[0], "*");
    ck_assert_uint_eq(c->cors.max_age_ms, 0);
    ck_assert_uint_eq(c->routes[0].methods, BFF_M_GET | BFF_M_POST);
    ck_assert_int_eq(c->routes[0].strip_prefix, 1);
    ck_assert_int_eq(c->routes[0].auth, BFF_AUTH_OPTIONAL);
    ck_assert_uint_eq(c->routes[0].timeout_ms, 250);
    ck_assert_uint_eq(c->routes[0].rate.count, 5);
    ck_assert_uint_eq(c->routes[0].rate.period_ms, 1000);
    ck_assert_int_eq(c->routes[0].pos.col, 5);
    ck_assert_uint_eq(c->routes[1].rate.period_ms, 3600000);
    bff_config_free(c);
}
END_TEST

START_TEST(literal_urls_dedup)
{
    struct bff_config *c = expect_ok("services:\n"
                                     "  orders: { url: http://orders:8080 }\n"
                                     "routes:\n"
                                     "  - path: /a\n"
                                     "    service: http://orders:8080\n"
                                     "  - path: /b\n"
                                     "    service: http://other:1\n"
                                     "  - path: /c\n"
                                     "    service: http://orders:8080/\n"
                                     "  - path: /d\n"
                                     "    service: orders\n");

    /* orders, then one implicit service per distinct URL */
    ck_assert_uint_eq(c->nservices, 3);
    ck_assert_int_eq(c->services[0].implicit, 0);
    ck_assert_int_eq(c->services[1].implicit, 1);
    ck_assert_str_eq(c->services[1].name, "http://orders:8080");
    ck_assert_int_eq(c->services[1].pos.line, 5);
    ck_assert_str_eq(c->services[2].name, "http://other:1");
    ck_assert_int_eq(c->routes[0].service, 1);
    ck_assert_int_eq(c->routes[1].service, 2);
    ck_assert_int_eq(c->routes[2].service, 1);
    ck_assert_int_eq(c->routes[3].service, 0);
    /* implicit services get the defaults */
    ck_assert_uint_eq(c->services[2].timeout_ms, 800);
    ck_assert_uint_eq(c->services[2].max_in_flight, 256);
    bff_config_free(c);
}
END_TEST

START_TEST(load_file)
{
    char               path[] = "/tmp/test_config_XXXXXX";
    int                fd = mkstemp(path);
    struct bff_diag    d = {0};
    struct bff_config *c;
    char               sha[65];
    FILE              *f;

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(spec_design, 1, strlen(spec_design), f),
                      strlen(spec_design));
    fclose(f);
    c = bff_config_load(path, &opts, &d);
    ck_assert_msg(c != NULL, "%s", dump(&d));
    ck_assert_str_eq(c->path, path);
    hex_sha256(spec_design, strlen(spec_design), sha);
    ck_assert_str_eq(c->sha256, sha);
    bff_config_free(c);

    /* an error names the file as given */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("routes:\n  - path: /a\n    servic: http://a:1\n", f);
    fclose(f);
    c = bff_config_load(path, &opts, &d);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(d.n, 2);
    {
        char want[256];
        snprintf(want, sizeof want,
                 "%s:3:5: unknown key \"servic\" in a route; did you mean "
                 "\"service\"?",
                 path);
        ck_assert_msg(has(&d, want), "got:\n%s", dump(&d));
    }
    bff_diag_cleanup(&d);
    unlink(path);

    c = bff_config_load(path, &opts, &d);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_ptr_nonnull(strstr(d.msgs[0], ":1:1: cannot read the config: "));
    ck_assert_ptr_nonnull(strstr(d.msgs[0], "No such file"));
    bff_diag_cleanup(&d);
    ck_assert_ptr_null(d.msgs);
    ck_assert_uint_eq(d.n, 0);
}
END_TEST

/* ---- errors, one class each, with exact positions --------------------- */

START_TEST(ok_stream_keys)
{
    struct bff_config *c = expect_ok("services:\n"
                                     "  s: { url: http://s:1, idle_timeout: 5s }\n"
                                     "  t: { url: http://t:1 }\n"
                                     "routes:\n"
                                     "  - { path: /live, service: s, websocket: true, "
                                     "max_streams: 3 }\n"
                                     "  - { path: /t, service: t }\n"
                                     "  - { path: /, static: www }\n");
    ck_assert_uint_eq(c->services[0].idle_timeout_ms, 5000);
    ck_assert_uint_eq(c->services[1].idle_timeout_ms, 60000);
    ck_assert_int_eq(c->routes[0].websocket, 1);
    ck_assert_uint_eq(c->routes[0].max_streams, 3);
    ck_assert_int_eq(c->routes[1].websocket, 0);
    ck_assert_uint_eq(c->routes[1].max_streams, 1000);
    ck_assert_uint_eq(c->routes[2].max_streams, 0);
    bff_config_free(c);
    expect_err("routes:\n  - { path: /, static: www, websocket: true }\n",
               "t.yaml:2:40: websocket: applies to service: routes only");
    expect_err_prefix("routes:\n  - { path: /a, service: https://a:1, websocket: true }\n",
                      "t.yaml:2:50: websocket: the service https://a:1 is https://");
    expect_err("routes:\n  - { path: /a, service: http://a:1, max_streams: 0 }\n",
               "t.yaml:2:51: max_streams \"0\": must be a whole number from 1 to 10000000");
    expect_err_prefix("services:\n  s: { url: http://s:1, idle_timeout: 0 }\n"
                      "routes:\n  - { path: /a, service: s }\n",
                      "t.yaml:2:39: idle_timeout \"0\": must be between 1ms and 24h");
}
END_TEST

START_TEST(err_unknown_key_top)
{
    expect_err("lisen: 127.0.0.1:80\n" ROUTE,
               "t.yaml:1:1: unknown key \"lisen\" at the top level; did you mean "
               "\"listen\"?");
    expect_err(ROUTE "frobnicate: 1\n",
               "t.yaml:4:1: unknown key \"frobnicate\" at the top level; expected "
               "listen, workers, admin_listen, admin_token_file, drain_timeout, "
               "access_log, limits, services, auth, rate_limit, idempotency, cors, "
               "tracing, routes, resolver or tls");
}
END_TEST

/* tls: the listener's certificate and key, both or neither */
START_TEST(tls_listener)
{
    struct bff_diag    d = {0};
    struct bff_config *c = parse("tls: { cert: a.crt, key: a.key }\n" ROUTE, &d);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->tls.cert, "a.crt");
    ck_assert_str_eq(c->tls.key, "a.key");
    ck_assert_int_eq(c->tls.cert_pos.line, 1);
    ck_assert_int_eq(c->tls.cert_pos.col, 14);
    ck_assert_int_eq(c->tls.key_pos.col, 26);
    bff_config_free(c);
    bff_diag_cleanup(&d);
    c = parse(ROUTE, &d);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(c->tls.cert); /* plain HTTP */
    bff_config_free(c);
    bff_diag_cleanup(&d);
    expect_err("tls: { key: a.key }\n" ROUTE,
               "t.yaml:1:6: tls: needs both cert: (the PEM chain) and key: (its private "
               "key); leave tls out for plain HTTP");
    expect_err("tls: { cert: a.crt, key: a.key, ca: c.crt }\n" ROUTE,
               "t.yaml:1:33: unknown key \"ca\" in tls; expected cert or key");
    expect_err("tls: a.crt\n" ROUTE,
               "t.yaml:1:6: tls: expected a mapping (key: value), got a single value");
}
END_TEST

/* Writes @len bytes of @content to a fresh temp file; its name into @path. */
static void token_file(char *path, const char *content, size_t len)
{
    int   fd;
    FILE *f;

    strcpy(path, "/tmp/test_config_tok_XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(content, 1, len, f), len);
    fclose(f);
}

/* The config error for token file content @content (of @len bytes), or a
 * loaded token compared to @want when @want is not NULL. */
static void token_case(const char *content, size_t len, const char *want,
                       const char *msg)
{
    char               path[64], yaml[512], line[256];
    struct bff_config *c;

    token_file(path, content, len);
    snprintf(yaml, sizeof yaml, "admin_token_file: %s\n" ROUTE, path);
    if (want) {
        c = expect_ok(yaml);
        ck_assert_str_eq(c->admin_token_file, path);
        ck_assert_uint_eq(c->admin_token_len, strlen(want));
        ck_assert_str_eq(c->admin_token, want);
        bff_config_free(c);
    } else {
        snprintf(line, sizeof line, "t.yaml:1:19: admin_token_file \"%s\": %s", path,
                 msg);
        expect_err(yaml, line);
    }
    unlink(path);
}

START_TEST(admin_token_file)
{
    struct bff_diag    d = {0};
    struct bff_config *c;

    /* absent: no token, the admin paths stay open */
    c = expect_ok(ROUTE);
    ck_assert_ptr_null(c->admin_token_file);
    ck_assert_ptr_null(c->admin_token);
    bff_config_free(c);

    token_case("0123456789abcdef\n", 17, "0123456789abcdef", NULL);
    token_case("0123456789abcdef\r\n", 18, "0123456789abcdef", NULL);
    token_case("tok-with.symbols~+/=_0123", 25, "tok-with.symbols~+/=_0123", NULL);
    token_case("", 0, NULL, "the file is empty; it must hold the token");
    token_case("\n", 1, NULL, "the file is empty; it must hold the token");
    token_case("0123456789abcde\n", 16, NULL, "the token has 15 bytes; at least 16 needed");
    token_case("0123456789 abcdef\n", 18, NULL,
               "the token holds whitespace, a control or a non-ASCII character (byte "
               "11); only visible ASCII is allowed");
    /* only one newline is trimmed: a second one is inside the token */
    token_case("0123456789abcdef\n\n", 18, NULL,
               "the token holds whitespace, a control or a non-ASCII character (byte "
               "17); only visible ASCII is allowed");
    token_case("\t0123456789abcdef", 17, NULL,
               "the token holds whitespace, a control or a non-ASCII character (byte "
               "1); only visible ASCII is allowed");
    token_case("0123456789abcdef\0x", 18, NULL,
               "the token holds whitespace, a control or a non-ASCII character (byte "
               "17); only visible ASCII is allowed");
    {
        static char big[5000];
        memset(big, 'a', sizeof big);
        token_case(big, sizeof big, NULL, "the token is longer than 4096 bytes");
    }

    /* missing file, and a directory */
    expect_err("admin_token_file: /nonexistent/admin.token\n" ROUTE,
               "t.yaml:1:19: admin_token_file \"/nonexistent/admin.token\": cannot "
               "read it: No such file or directory");
    expect_err("admin_token_file: /tmp\n" ROUTE,
               "t.yaml:1:19: admin_token_file \"/tmp\": cannot read it: Is a directory");
    expect_err("admin_token_file:\n" ROUTE, "t.yaml:1:18: admin_token_file: empty value");

    /* the token never appears in a message, not even a bad one */
    {
        char path[64], yaml[256];
        token_file(path, "secret-secret-secret x\n", 23);
        snprintf(yaml, sizeof yaml, "admin_token_file: %s\n" ROUTE, path);
        c = parse(yaml, &d);
        ck_assert_ptr_null(c);
        for (size_t i = 0; i < d.n; i++)
            ck_assert_ptr_null(strstr(d.msgs[i], "secret-secret"));
        bff_diag_cleanup(&d);
        unlink(path);
    }
}
END_TEST

START_TEST(err_unknown_key_service)
{
    expect_err("services:\n"
               "  users:\n"
               "    url: http://u:1\n"
               "    timout: 1s\n" ROUTE,
               "t.yaml:4:5: unknown key \"timout\" in services.users; did you mean "
               "\"timeout\"?");
    expect_err("services:\n"
               "  users:\n"
               "    url: http://u:1\n"
               "    circuit_breaker: { failures: 5, zz: 1 }\n" ROUTE,
               "t.yaml:4:37: unknown key \"zz\" in services.users.circuit_breaker; "
               "expected failures, open_for or half_open_probes");
}
END_TEST

START_TEST(err_unknown_key_route)
{
    expect_err("routes:\n"
               "  - path: /a\n"
               "    service: http://a:1\n"
               "    rate: 1/s\n",
               "t.yaml:4:5: unknown key \"rate\" in a route; did you mean "
               "\"path\"?");
    expect_err("routes:\n"
               "  - path: /a\n"
               "    service: http://a:1\n"
               "    cache: 1s\n",
               "t.yaml:4:5: unknown key \"cache\" in a route; expected path, "
               "service, handler, static, auth, roles, rate_limit, timeout, methods, "
               "strip_prefix, idempotency, websocket or max_streams");
}
END_TEST

START_TEST(err_bad_duration)
{
    expect_err("drain_timeout: 1.5s\n" ROUTE,
               "t.yaml:1:16: drain_timeout \"1.5s\": amount must be a whole number; "
               "write 1500ms, not 1.5s");
    expect_err(ROUTE "    timeout: 30\n",
               "t.yaml:4:14: timeout \"30\": missing unit; write ms, s, m or h, like "
               "250ms");
    expect_err(ROUTE "    timeout: 2d\n",
               "t.yaml:4:14: timeout \"2d\": unit must be ms, s, m or h");
    expect_err(ROUTE "    timeout: 2h\n",
               "t.yaml:4:14: timeout \"2h\": must be between 1ms and 1h");
    expect_err(ROUTE "    timeout: 0\n",
               "t.yaml:4:14: timeout \"0\": must be between 1ms and 1h");
    expect_err("drain_timeout: 99999999999999999999s\n" ROUTE,
               "t.yaml:1:16: drain_timeout \"99999999999999999999s\": too large");
}
END_TEST

START_TEST(err_bad_size)
{
    expect_err("limits:\n  max_body: 1MB\n" ROUTE,
               "t.yaml:2:13: max_body \"1MB\": unit must be B, KiB, MiB or GiB (1KiB "
               "= 1024 bytes)");
    expect_err("limits: { max_body: 65GiB }\n" ROUTE,
               "t.yaml:1:21: max_body \"65GiB\": must be between 0B and 64GiB");
    expect_err("limits: { max_header_bytes: 100 }\n" ROUTE,
               "t.yaml:1:29: max_header_bytes \"100\": must be between 1KiB and 1MiB");
}
END_TEST

START_TEST(err_bad_rate)
{
    expect_err("routes:\n"
               "  - path: /orders\n"
               "    service: http://orders:8080\n"
               "    rate_limit: 100/mn\n",
               "t.yaml:4:17: rate_limit \"100/mn\": unit must be s, sec, min or hour");
    expect_err(ROUTE "    rate_limit: 0/s\n",
               "t.yaml:4:17: rate_limit \"0/s\": count must be a whole number from 1 "
               "to 1000000000");
}
END_TEST

START_TEST(err_unknown_service)
{
    expect_err("services:\n"
               "  users: { url: http://u:1 }\n"
               "routes:\n"
               "  - path: /a\n"
               "    service: payments\n",
               "t.yaml:5:14: service \"payments\": not defined under services: "
               "(known: users)");
    expect_err("routes:\n"
               "  - path: /a\n"
               "    service: payments\n",
               "t.yaml:3:14: service \"payments\": not defined (services: is empty); "
               "name one there or write a URL like http://host:port");
}
END_TEST

START_TEST(err_unknown_handler)
{
    expect_err("routes:\n"
               "  - path: /a\n"
               "    handler: order_scren\n",
               "t.yaml:3:14: handler \"order_scren\": not compiled into this BFF "
               "(known: order_screen, home)");
}
END_TEST

START_TEST(err_handler_missing_service)
{
    expect_err("services:\n"
               "  users: { url: http://u:1 }\n"
               "  orders: { url: http://o:1 }\n"
               "routes:\n"
               "  - path: /v1/order-screen/{id}\n"
               "    handler: order_screen\n",
               "t.yaml:6:14: handler \"order_screen\" calls service \"inventory\", "
               "which services: does not define");
}
END_TEST

START_TEST(err_route_two_kinds)
{
    expect_err("routes:\n"
               "  - path: /a\n"
               "    service: http://a:1\n"
               "    handler: home\n",
               "t.yaml:2:5: route: service: and handler: exclude each other; keep one");
    expect_err("routes:\n"
               "  - {path: /a, static: www, handler: home, service: http://a:1}\n",
               "t.yaml:2:5: route: service:, handler: and static: exclude each other; "
               "keep one");
}
END_TEST

START_TEST(err_route_no_kind)
{
    expect_err("routes:\n"
               "  - path: /a\n"
               "    auth: none\n",
               "t.yaml:2:5: route: needs one of service: (proxy), handler: "
               "(aggregation) or static: (files)");
    expect_err("routes:\n"
               "  - service: http://a:1\n",
               "t.yaml:2:5: route: path: is required");
}
END_TEST

START_TEST(err_bad_path)
{
    expect_err("routes:\n  - path: /users/{1d}\n    service: http://a:1\n",
               "t.yaml:2:11: path \"/users/{1d}\": a parameter name is letters, "
               "digits and '_', not starting with a digit");
    expect_err("routes:\n  - path: /users/x{id}\n    service: http://a:1\n",
               "t.yaml:2:11: path \"/users/x{id}\": a {name} parameter must be a "
               "whole segment, like /users/{id}");
    expect_err("routes:\n  - path: /u/{id}/o/{id}\n    service: http://a:1\n",
               "t.yaml:2:11: path \"/u/{id}/o/{id}\": names the same parameter twice");
    expect_err("routes:\n  - path: /u?x=1\n    service: http://a:1\n",
               "t.yaml:2:11: path \"/u?x=1\": must not contain '?'; a route matches "
               "the path only");
    expect_err("routes:\n  - path: users\n    service: http://a:1\n",
               "t.yaml:2:11: path \"users\": must start with '/'");
    /* what the router would refuse is refused here, with its position */
    expect_err_prefix("routes:\n  - path: /orders/\n    service: http://a:1\n",
                      "t.yaml:2:11: path \"/orders/\": ");
    expect_err_prefix("routes:\n  - path: /a/../b\n    service: http://a:1\n",
                      "t.yaml:2:11: path \"/a/../b\": ");
}
END_TEST

START_TEST(err_duplicate_path)
{
    expect_err("routes:\n"
               "  - path: /a/{id}\n"
               "    service: http://a:1\n"
               "  - path: /b\n"
               "    static: www\n"
               "  - path: /a/{x}\n"
               "    static: www\n",
               "t.yaml:6:5: route path \"/a/{x}\": duplicate of the route at 2:5");
}
END_TEST

START_TEST(err_yaml_syntax)
{
    expect_err("routes:\n"
               "  - path: /a\n"
               "   service: http://a:1\n",
               "t.yaml:3:4: YAML syntax error: did not find expected '-' indicator "
               "(while parsing a block collection at 2:3)");
    expect_err("listen: \"127.0.0.1:80\n" ROUTE,
               "t.yaml:5:1: YAML syntax error: found unexpected end of stream (while "
               "scanning a quoted scalar at 1:9)");
    expect_err("routes:\n\t- path: /a\n",
               "t.yaml:2:1: YAML syntax error: found character that cannot start any "
               "token (while scanning for the next token at 2:1)");
}
END_TEST

START_TEST(err_wrong_type)
{
    expect_err("listen: [127.0.0.1:80]\n" ROUTE,
               "t.yaml:1:9: listen: expected a single value, got a list");
    expect_err("limits: 5\n" ROUTE,
               "t.yaml:1:9: limits: expected a mapping (key: value), got a single "
               "value");
    expect_err("routes:\n  path: /a\n",
               "t.yaml:2:3: routes: expected a list of routes (- path: ...), got a "
               "mapping");
    expect_err("- a\n", "t.yaml:1:1: the config must be a mapping (key: value) at "
                        "the top, got a list");
    expect_err("services:\n  users: http://u:1\n" ROUTE,
               "t.yaml:2:10: service \"users\": expected a mapping (url: ...), got a "
               "single value");
}
END_TEST

START_TEST(err_duplicate_key)
{
    expect_err("workers: 2\nworkers: 3\n" ROUTE,
               "t.yaml:2:1: duplicate key \"workers\" (first at 1:1)");
    expect_err("services:\n  u: { url: http://u:1 }\n  u: { url: http://v:1 }\n" ROUTE,
               "t.yaml:3:3: duplicate service \"u\" (first at 2:3)");
}
END_TEST

START_TEST(err_empty_and_range)
{
    expect_err("listen:\n" ROUTE, "t.yaml:1:8: listen: empty value");
    expect_err("workers: 65\n" ROUTE,
               "t.yaml:1:10: workers \"65\": must be a whole number from 1 to 64");
    expect_err("workers: -1\n" ROUTE,
               "t.yaml:1:10: workers \"-1\": must be a whole number from 1 to 64");
    expect_err("services:\n  u: { url: http://u:1, retries: 11 }\n" ROUTE,
               "t.yaml:2:34: retries \"11\": must be a whole number from 0 to 10");
    expect_err("", "t.yaml:1:1: the config is empty; it needs at least routes:");
    expect_err("workers: 2\n", "t.yaml:1:1: routes: missing; a BFF without routes "
                               "answers 404 to everything");
}
END_TEST

START_TEST(err_alg_none)
{
    expect_err("auth:\n"
               "  jwt:\n"
               "    jwks_file: k.json\n"
               "    algorithms: [RS256, none]\n" ROUTE,
               "t.yaml:4:25: algorithms \"none\": unsigned tokens are never accepted; "
               "with \"none\" anyone could forge a token");
    expect_err("auth: { jwt: { jwks_file: k, jwks_url: http://k } }\n" ROUTE,
               "t.yaml:1:40: jwt: jwks_file: and jwks_url: exclude each other; keep "
               "one");
    expect_err("auth: { jwt: { issuer: x } }\n" ROUTE,
               "t.yaml:1:14: jwt: needs jwks_file: (a local key set) or jwks_url:");
}
END_TEST

START_TEST(err_cors_star_credentials)
{
    expect_err("cors:\n"
               "  origins: [https://a.example, \"*\"]\n"
               "  credentials: true\n" ROUTE,
               "t.yaml:2:32: origins \"*\": cannot go with credentials: true (browsers "
               "refuse it); list the origins instead");
    expect_err("cors: { origins: [https://a.example/] }\n" ROUTE,
               "t.yaml:1:19: origins \"https://a.example/\": an origin has no path; "
               "drop the trailing '/'");
}
END_TEST

/* Keys that would have no effect where they are written are errors, at the
 * key, so that nobody believes in a setting the gateway ignores. */
START_TEST(err_keys_without_effect)
{
    /* the SPEC's own example as written: tls next to an http:// url */
    char  spec_http[sizeof(spec_full) + 8];
    char *u = strstr(strcpy(spec_http, spec_full), "https://127.0.0.1:9101");
    ck_assert_ptr_nonnull(u);
    memmove(u + 4, u + 5, strlen(u + 5) + 1);
    expect_err(spec_http,
               "t.yaml:16:10: tls: has no effect on \"http://127.0.0.1:9101\" "
               "(plain http://); use an https:// url or drop tls:");

    expect_err("services:\n  u:\n    url: http://u:1\n    tls: { ca: ca.pem }\n" ROUTE,
               "t.yaml:4:10: tls: has no effect on \"http://u:1\" (plain http://); use "
               "an https:// url or drop tls:");
    expect_err("services:\n  u: { url: https://u:1, tls: {} }\n" ROUTE,
               "t.yaml:2:31: tls: empty; give ca:, cert: and key:, or leave tls out");
    struct bff_config *c =
        expect_ok("services:\n  u: { url: https://u:1, tls: { ca: ca.pem } }\n" ROUTE);
    bff_config_free(c);

    expect_err(
        "services:\n  u: { url: http://u:1, retries: 0, retry_non_get: true }\n" ROUTE,
        "t.yaml:2:52: retry_non_get: has no effect with retries: 0 (nothing is "
        "retried); drop it or allow retries");
    c = expect_ok("services:\n  u: { url: http://u:1, retries: 0, retry_non_get: false "
                  "}\n" ROUTE);
    bff_config_free(c);

    expect_err("auth: { jwt: { jwks_file: k.json, jwks_refresh: 1m } }\n" ROUTE,
               "t.yaml:1:49: jwks_refresh: applies to jwks_url: only; a jwks_file is "
               "re-read on reload (SIGHUP)");

    expect_err(
        "rate_limit: { store_timeout: 20ms }\n" ROUTE,
        "t.yaml:1:30: store_timeout: applies to a redis:// store only; the memory "
        "store never waits");
    expect_err(
        "rate_limit: { store: memory, store_timeout: 20ms }\n" ROUTE,
        "t.yaml:1:45: store_timeout: applies to a redis:// store only; the memory "
        "store never waits");

    expect_err("routes:\n  - path: /\n    static: www\n    timeout: 2s\n",
               "t.yaml:4:14: timeout: has no effect on a static: route (files are read "
               "at once); drop it");
    /* already refused before: roles with auth: none, strip_prefix off a proxy */
    expect_err("routes:\n  - { path: /, static: www, roles: [a] }\n",
               "t.yaml:2:36: roles: need auth: required or optional; with auth: none "
               "no token is read, so no role can be checked");
    expect_err("routes:\n  - { path: /, static: www, strip_prefix: true }\n",
               "t.yaml:2:43: strip_prefix: applies to service: routes only");
}
END_TEST

START_TEST(cors_headers)
{
    struct bff_config *c = expect_ok("cors: { origins: [https://a.example] }\n" ROUTE);
    ck_assert_ptr_null(c->cors.headers);
    ck_assert_str_eq(c->cors.allow_headers, BFF_CORS_DEFAULT_HEADERS);
    bff_config_free(c);
    c = expect_ok("cors:\n  origins: [https://a.example]\n"
                  "  headers: [Authorization, X-Trace]\n" ROUTE);
    ck_assert_uint_eq(c->cors.nheaders, 2);
    ck_assert_str_eq(c->cors.allow_headers, "Authorization, X-Trace");
    bff_config_free(c);
    expect_err("cors:\n  origins: [https://a.example]\n"
               "  headers: [Authorization, \"X Bad\"]\n" ROUTE,
               "t.yaml:3:28: headers \"X Bad\": a header name is a token (letters, "
               "digits, -, ...)");
    expect_err("cors:\n  origins: [https://a.example]\n"
               "  headers: [Authorization, authorization]\n" ROUTE,
               "t.yaml:3:12: headers \"authorization\": listed twice");
    expect_err("cors:\n  origins: [https://a.example]\n  headers: []\n" ROUTE,
               "t.yaml:3:12: headers: empty list; leave headers out instead");
}
END_TEST

START_TEST(err_bad_listen)
{
    expect_err("listen: 127.0.0.1\n" ROUTE,
               "t.yaml:1:9: listen \"127.0.0.1\": must be HOST:PORT, like "
               "127.0.0.1:8080");
    expect_err("listen: example.com:80\n" ROUTE,
               "t.yaml:1:9: listen \"example.com:80\": host must be an IPv4 address, "
               "localhost or [IPv6]");
    expect_err("listen: 127.0.0.1:70000\n" ROUTE,
               "t.yaml:1:9: listen \"127.0.0.1:70000\": port must be a number from 0 "
               "to 65535 (0: any free port)");
    expect_err("listen: \"::1:80\"\n" ROUTE,
               "t.yaml:1:9: listen \"::1:80\": write IPv6 addresses in brackets, like "
               "[::1]:8080");
    expect_err("admin_listen: 127.0.0.1:8080\n" ROUTE,
               "t.yaml:1:15: admin_listen \"127.0.0.1:8080\": must differ from "
               "listen; the admin endpoints never share the public port");
}
END_TEST

/* Port 0 is any free port: on both listeners, never "the same socket". */
START_TEST(listen_port_zero)
{
    struct bff_config *c = expect_ok("listen: 127.0.0.1:0\n"
                                     "admin_listen: 127.0.0.1:0\n" ROUTE);
    ck_assert_str_eq(c->listen, "127.0.0.1:0");
    ck_assert_str_eq(c->admin_listen, "127.0.0.1:0");
    bff_config_free(c);
    c = expect_ok("listen: \"[::1]:0\"\nadmin_listen: localhost:0\n" ROUTE);
    ck_assert_str_eq(c->listen, "[::1]:0");
    bff_config_free(c);
}
END_TEST

START_TEST(spec_orders_endpoints_block_loads)
{
    /* SPEC §3's orders service and resolver, as written */
    struct bff_config *cfg = expect_ok(
        "resolver: [127.0.0.1:53]\n"
        "services:\n"
        "  orders:\n"
        "    endpoints: [http://127.0.0.1:9102, http://127.0.0.1:9112]  # instead of "
        "url: several instances\n"
        "    balance: least_request         # or round_robin\n"
        "    resolve_every: 30s             # host names are re-resolved; every address "
        "is one endpoint\n"
        "    outlier: { failures: 5, eject_for: 10s, max_ejected: 50% }  # per endpoint\n"
        "routes:\n  - path: /o\n    service: orders\n");
    const struct bff_service_conf *o = &cfg->services[0];
    ck_assert_uint_eq(o->nendpoints, 2);
    ck_assert_str_eq(o->endpoints[1], "http://127.0.0.1:9112");
    ck_assert_uint_eq(o->outlier.max_ejected_pct, 50);
    ck_assert_str_eq(cfg->resolvers[0], "127.0.0.1:53");
    bff_config_free(cfg);
}
END_TEST

START_TEST(endpoints_parse_and_defaults)
{
    struct bff_config *cfg = expect_ok(
        "resolver: [127.0.0.1:5353, 127.0.0.2]\n"
        "services:\n"
        "  o:\n"
        "    endpoints: [http://127.0.0.1:9102/, http://api.test:9112]\n"
        "    balance: round_robin\n"
        "    resolve_every: 2s\n"
        "    outlier: { failures: 3, eject_for: 1s, max_ejected: 34% }\n"
        "  p: { endpoints: [http://127.0.0.1:9103] }\n"
        "  u: { url: http://127.0.0.1:9101 }\n"
        "routes:\n  - path: /o\n    service: o\n");
    ck_assert_uint_eq(cfg->nresolvers, 2);
    ck_assert_str_eq(cfg->resolvers[0], "127.0.0.1:5353");
    const struct bff_service_conf *o = &cfg->services[bff_config_service(cfg, "o")];
    ck_assert_uint_eq(o->nendpoints, 2);
    ck_assert_str_eq(o->endpoints[0], "http://127.0.0.1:9102");
    ck_assert_str_eq(o->endpoints[1], "http://api.test:9112");
    ck_assert_str_eq(o->url, "http://127.0.0.1:9102");
    ck_assert_int_eq(o->balance, BFF_BALANCE_ROUND_ROBIN);
    ck_assert_uint_eq(o->resolve_every_ms, 2000);
    ck_assert_uint_eq(o->outlier.failures, 3);
    ck_assert_uint_eq(o->outlier.eject_for_ms, 1000);
    ck_assert_uint_eq(o->outlier.max_ejected_pct, 34);
    const struct bff_service_conf *p = &cfg->services[bff_config_service(cfg, "p")];
    ck_assert_int_eq(p->balance, BFF_BALANCE_LEAST_REQUEST);
    ck_assert_uint_eq(p->resolve_every_ms, 30000);
    ck_assert_uint_eq(p->outlier.failures, 5);
    ck_assert_uint_eq(p->outlier.eject_for_ms, 10000);
    ck_assert_uint_eq(p->outlier.max_ejected_pct, 50);
    const struct bff_service_conf *u = &cfg->services[bff_config_service(cfg, "u")];
    ck_assert_ptr_null(u->endpoints);
    ck_assert_uint_eq(u->nendpoints, 0);
    bff_config_free(cfg);
}
END_TEST

START_TEST(err_endpoints)
{
    expect_err("services:\n  u: { url: http://a:1, endpoints: [http://b:1] }\n" ROUTE,
               "t.yaml:2:36: service \"u\": endpoints: and url: do not go together; "
               "list every instance under endpoints:");
    expect_err("services:\n  u: { endpoints: [] }\n" ROUTE,
               "t.yaml:2:19: endpoints: empty list; give at least one URL");
    expect_err("services:\n  u: { endpoints: http://a:1 }\n" ROUTE,
               "t.yaml:2:19: endpoints: expected a list of URLs, got a single value");
    expect_err("services:\n  u: { endpoints: [http://a:1, http://a:1] }\n" ROUTE,
               "t.yaml:2:32: endpoints \"http://a:1\": listed twice");
    expect_err("services:\n  u: { endpoints: [http://a:1/x, http://b:1/y] }\n" ROUTE,
               "t.yaml:2:34: endpoints \"http://b:1/y\": every endpoint must have the "
               "scheme and path of the first (http://a:1/x)");
    expect_err("services:\n  u: { endpoints: [http://a:1, https://b:1] }\n" ROUTE,
               "t.yaml:2:32: endpoints \"https://b:1\": every endpoint must have the "
               "scheme and path of the first (http://a:1)");
    expect_err("services:\n  u: { url: http://a:1, balance: round_robin }\n" ROUTE,
               "t.yaml:2:34: balance: applies to endpoints: only; with url: there is one "
               "endpoint (write endpoints: [URL] to use it)");
    expect_err("services:\n  u: { endpoints: [http://a:1], balance: random }\n" ROUTE,
               "t.yaml:2:42: balance \"random\": must be least_request or round_robin");
    expect_err("services:\n  u: { endpoints: [http://a:1], outlier: { max_ejected: 50 } }\n"
               ROUTE,
               "t.yaml:2:57: max_ejected \"50\": must be a percentage from 0% to 100%, "
               "like 50%");
    expect_err("services:\n  u: { endpoints: [http://a:1], outlier: { bogus: 1 } }\n"
               ROUTE,
               "t.yaml:2:44: unknown key \"bogus\" in services.u.outlier; expected "
               "failures, eject_for or max_ejected");
    expect_err("resolver: [localhost:53]\n" ROUTE,
               "t.yaml:1:11: resolver \"localhost:53\": must be an IPv4 address with an "
               "optional port, like 127.0.0.1:53");
}
END_TEST

START_TEST(err_bad_urls)
{
    expect_err("services:\n  u: { url: ftp://u }\n" ROUTE,
               "t.yaml:2:13: url \"ftp://u\": must start with http:// or https://");
    expect_err("services:\n  u: { connect_timeout: 1s }\n" ROUTE,
               "t.yaml:2:6: service \"u\": url: is required");
    expect_err("routes:\n  - path: /a\n    service: http://a:0\n",
               "t.yaml:3:14: service \"http://a:0\": port must be a number from 1 to "
               "65535");
    expect_err("rate_limit: { store: redis://r }\n" ROUTE,
               "t.yaml:1:22: store \"redis://r\": needs a port (host:port)");
    expect_err("rate_limit: { store: mem }\n" ROUTE,
               "t.yaml:1:22: store \"mem\": must be memory or redis://host:port[/db]");
}
END_TEST

START_TEST(err_enums_and_lists)
{
    expect_err(ROUTE "    auth: maybe\n",
               "t.yaml:4:11: auth \"maybe\": must be none, optional or required");
    expect_err(ROUTE "    methods: [GET, get, FETCH]\n",
               "t.yaml:4:20: methods \"get\": write methods in upper case (GET)");
    expect_err(ROUTE "    methods: [FETCH]\n",
               "t.yaml:4:15: methods \"FETCH\": unknown; use GET, HEAD, POST, PUT, "
               "PATCH, DELETE or OPTIONS");
    expect_err(ROUTE "    auth: required\n    roles: []\n",
               "t.yaml:5:12: roles: empty list; leave roles out instead");
    expect_err(ROUTE "    roles: [admin]\n",
               "t.yaml:4:12: roles: need auth: required or optional; with auth: none "
               "no token is read, so no role can be checked");
    expect_err(ROUTE "    auth: required\n    roles: [\"\"]\n",
               "t.yaml:5:13: roles: empty value");
    expect_err("routes:\n  - path: /\n    static: www\n    strip_prefix: true\n",
               "t.yaml:4:19: strip_prefix: applies to service: routes only");
    expect_err("access_log: yes\n" ROUTE,
               "t.yaml:1:13: access_log \"yes\": must be true or false");
}
END_TEST

/* One pass reports every error, in file order, and nothing is returned. */
START_TEST(many_errors_one_pass)
{
    struct bff_diag    d = {0};
    struct bff_config *c = parse("routes:\n"
                                 "  - path: /a\n"
                                 "    service: nope\n"
                                 "    rate_limit: 1/day\n"
                                 "workers: 0\n"
                                 "services:\n"
                                 "  u: { url: http://u:1, timeout: 5 }\n"
                                 "bogus: 1\n",
                                 &d);

    ck_assert_ptr_null(c);
    ck_assert_msg(d.n == 5, "got %zu:\n%s", d.n, dump(&d));
    ck_assert_str_eq(d.msgs[0],
                     "t.yaml:3:14: service \"nope\": not defined under services: "
                     "(known: u)");
    ck_assert_str_eq(d.msgs[1],
                     "t.yaml:4:17: rate_limit \"1/day\": unit must be s, sec, min or "
                     "hour");
    ck_assert_str_eq(d.msgs[2],
                     "t.yaml:5:10: workers \"0\": must be a whole number from 1 to 64");
    ck_assert_str_eq(d.msgs[3], "t.yaml:7:34: timeout \"5\": missing unit; write ms, "
                                "s, m or h, like 250ms");
    ck_assert_str_eq(d.msgs[4], "t.yaml:8:1: unknown key \"bogus\" at the top level; "
                                "expected listen, workers, admin_listen, admin_token_file, "
                                "drain_timeout, access_log, limits, services, auth, "
                                "rate_limit, idempotency, cors, tracing, routes, resolver "
                                "or tls");
    bff_diag_cleanup(&d);
}
END_TEST

/* Messages are appended: a caller may collect several loads in one diag. */
START_TEST(diag_appends)
{
    struct bff_diag d = {0};

    ck_assert_ptr_null(parse("workers: 0\n" ROUTE, &d));
    ck_assert_ptr_null(parse("workers: 99\n" ROUTE, &d));
    ck_assert_uint_eq(d.n, 2);
    bff_diag_cleanup(&d);
    bff_diag_cleanup(&d); /* twice is fine */
    bff_diag_cleanup(NULL);
    ck_assert_ptr_null(parse("workers: 0\n" ROUTE, NULL)); /* no diag is fine */
    bff_config_free(NULL);
    ck_assert_int_eq(bff_config_service(NULL, "x"), -1);
}
END_TEST

/* ---- the value parsers ------------------------------------------------ */

START_TEST(rate_parse)
{
    struct bff_rate r;
    const char     *why = NULL;

    ck_assert_int_eq(bff_rate_parse("100/min", &r, &why), 0);
    ck_assert_uint_eq(r.count, 100);
    ck_assert_uint_eq(r.period_ms, 60000);
    ck_assert_int_eq(bff_rate_parse("1/s", &r, &why), 0);
    ck_assert_uint_eq(r.period_ms, 1000);
    ck_assert_int_eq(bff_rate_parse("3/sec", &r, &why), 0);
    ck_assert_uint_eq(r.period_ms, 1000);
    ck_assert_int_eq(bff_rate_parse("1000000000/hour", &r, &why), 0);
    ck_assert_uint_eq(r.count, 1000000000);
    ck_assert_uint_eq(r.period_ms, 3600000);

    ck_assert_int_eq(bff_rate_parse("100/mn", &r, &why), -2);
    ck_assert_str_eq(why, "unit must be s, sec, min or hour");
    ck_assert_int_eq(bff_rate_parse("100/m", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("100/MIN", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("0/s", &r, &why), -2);
    ck_assert_str_eq(why, "count must be a whole number from 1 to 1000000000");
    ck_assert_int_eq(bff_rate_parse("1000000001/s", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("99999999999999999999999/s", &r, &why), -2);
    ck_assert_str_eq(why, "count must be a whole number from 1 to 1000000000");
    ck_assert_int_eq(bff_rate_parse("100", &r, &why), -2);
    ck_assert_str_eq(why, "missing unit; write N/s, N/sec, N/min or N/hour, like "
                          "100/min");
    ck_assert_int_eq(bff_rate_parse("100/", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("100 / min", &r, &why), -2);
    ck_assert_str_eq(why, "must not contain spaces; write it like 100/min");
    ck_assert_int_eq(bff_rate_parse(" 100/min", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("/s", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("-1/s", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("1.5/s", &r, &why), -2);
    ck_assert_int_eq(bff_rate_parse("1/s", &r, NULL), 0); /* why is optional */
}
END_TEST

START_TEST(duration_parse)
{
    uint64_t    ms = 7;
    const char *why = NULL;

    ck_assert_int_eq(bff_duration_parse("0", &ms, &why), 0);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(bff_duration_parse("0s", &ms, &why), 0);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(bff_duration_parse("250ms", &ms, &why), 0);
    ck_assert_uint_eq(ms, 250);
    ck_assert_int_eq(bff_duration_parse("2s", &ms, &why), 0);
    ck_assert_uint_eq(ms, 2000);
    ck_assert_int_eq(bff_duration_parse("5m", &ms, &why), 0);
    ck_assert_uint_eq(ms, 300000);
    ck_assert_int_eq(bff_duration_parse("1h", &ms, &why), 0);
    ck_assert_uint_eq(ms, 3600000);
    ck_assert_int_eq(bff_duration_parse("18446744073709551615ms", &ms, &why), 0);
    ck_assert_uint_eq(ms, UINT64_MAX);

    ck_assert_int_eq(bff_duration_parse("18446744073709551616ms", &ms, &why), -2);
    ck_assert_str_eq(why, "too large");
    ck_assert_int_eq(bff_duration_parse("18446744073709551615s", &ms, &why), -2);
    ck_assert_str_eq(why, "too large");
    ck_assert_int_eq(bff_duration_parse("1.5s", &ms, &why), -2);
    ck_assert_int_eq(bff_duration_parse("5", &ms, &why), -2);
    ck_assert_str_eq(why, "missing unit; write ms, s, m or h, like 250ms");
    ck_assert_int_eq(bff_duration_parse("2 s", &ms, &why), -2);
    ck_assert_str_eq(why, "must not contain spaces; write it like 250ms or 2s");
    ck_assert_int_eq(bff_duration_parse("2sec", &ms, &why), -2);
    ck_assert_str_eq(why, "unit must be ms, s, m or h");
    ck_assert_int_eq(bff_duration_parse("1d", &ms, &why), -2);
    ck_assert_int_eq(bff_duration_parse("1m30s", &ms, &why), -2);
    ck_assert_int_eq(bff_duration_parse("-1s", &ms, &why), -2);
    ck_assert_int_eq(bff_duration_parse("s", &ms, &why), -2);
    ck_assert_int_eq(bff_duration_parse("", &ms, &why), -2);
    ck_assert_int_eq(bff_duration_parse(NULL, &ms, &why), -2);
}
END_TEST

START_TEST(size_parse)
{
    uint64_t    b = 7;
    const char *why = NULL;

    ck_assert_int_eq(bff_size_parse("0", &b, &why), 0);
    ck_assert_uint_eq(b, 0);
    ck_assert_int_eq(bff_size_parse("64B", &b, &why), 0);
    ck_assert_uint_eq(b, 64);
    ck_assert_int_eq(bff_size_parse("1000", &b, &why), 0);
    ck_assert_uint_eq(b, 1000);
    ck_assert_int_eq(bff_size_parse("512KiB", &b, &why), 0);
    ck_assert_uint_eq(b, 512 * 1024);
    ck_assert_int_eq(bff_size_parse("1MiB", &b, &why), 0);
    ck_assert_uint_eq(b, 1024 * 1024);
    ck_assert_int_eq(bff_size_parse("3GiB", &b, &why), 0);
    ck_assert_uint_eq(b, 3ull << 30);
    ck_assert_int_eq(bff_size_parse("17179869183GiB", &b, &why), 0);

    ck_assert_int_eq(bff_size_parse("17179869184GiB", &b, &why), -2);
    ck_assert_str_eq(why, "too large");
    ck_assert_int_eq(bff_size_parse("99999999999999999999", &b, &why), -2);
    ck_assert_str_eq(why, "too large");
    ck_assert_int_eq(bff_size_parse("1MB", &b, &why), -2);
    ck_assert_str_eq(why, "unit must be B, KiB, MiB or GiB (1KiB = 1024 bytes)");
    ck_assert_int_eq(bff_size_parse("1kib", &b, &why), -2);
    ck_assert_int_eq(bff_size_parse("1 MiB", &b, &why), -2);
    ck_assert_str_eq(why, "must not contain spaces; write it like 512KiB");
    ck_assert_int_eq(bff_size_parse("1.5MiB", &b, &why), -2);
    ck_assert_int_eq(bff_size_parse("MiB", &b, &why), -2);
    ck_assert_int_eq(bff_size_parse("", &b, &why), -2);
}
END_TEST

START_TEST(bits)
{
    ck_assert_uint_eq(bff_method_bit("GET"), BFF_M_GET);
    ck_assert_uint_eq(bff_method_bit("OPTIONS"), BFF_M_OPTIONS);
    ck_assert_uint_eq(bff_method_bit("get"), 0);
    ck_assert_uint_eq(bff_method_bit("TRACE"), 0);
    ck_assert_uint_eq(bff_method_bit(NULL), 0);
    ck_assert_uint_eq(bff_jwt_alg_bit("HS256"), BFF_ALG_HS256);
    ck_assert_uint_eq(bff_jwt_alg_bit("RS256"), BFF_ALG_RS256);
    ck_assert_uint_eq(bff_jwt_alg_bit("PS384"), BFF_ALG_PS384);
    ck_assert_uint_eq(bff_jwt_alg_bit("ES512"), BFF_ALG_ES512);
    ck_assert_uint_eq(bff_jwt_alg_bit("EdDSA"), BFF_ALG_EDDSA);
    ck_assert_uint_eq(bff_jwt_alg_bit("none"), 0);
    ck_assert_uint_eq(bff_jwt_alg_bit("rs256"), 0);
    ck_assert_uint_eq(bff_jwt_alg_bit(NULL), 0);
}
END_TEST

START_TEST(idempotency_keys)
{
    struct bff_diag    d = {0};
    struct bff_config *c = parse(ROUTE, &d);

    ck_assert_msg(c != NULL, "%s", dump(&d));
    /* the defaults */
    ck_assert_str_eq(c->idempotency.store, "memory");
    ck_assert_uint_eq(c->idempotency.ttl_ms, 24u * 3600 * 1000);
    ck_assert_uint_eq(c->idempotency.max_body, 256 * 1024);
    ck_assert_uint_eq(c->idempotency.max_entries, 10000);
    ck_assert_int_eq(c->idempotency.on_store_error_deny, 1);
    ck_assert_int_eq(c->routes[0].idempotency, BFF_IDEM_OFF);
    bff_config_free(c);
    c = parse("rate_limit: { store: \"redis://127.0.0.1:6379/2\" }\n"
              "idempotency: { store: \"redis://127.0.0.1:6379/2\", ttl: 10m,\n"
              "  max_body: 1KiB, on_store_error: allow, store_timeout: 20ms }\n"
              "routes:\n  - path: /a\n    service: http://a:1\n"
              "    idempotency: required\n",
              &d);
    ck_assert_msg(c != NULL, "%s", dump(&d));
    ck_assert_str_eq(c->idempotency.store, "redis://127.0.0.1:6379/2");
    ck_assert_uint_eq(c->idempotency.ttl_ms, 600000);
    ck_assert_uint_eq(c->idempotency.max_body, 1024);
    ck_assert_int_eq(c->idempotency.on_store_error_deny, 0);
    ck_assert_uint_eq(c->idempotency.store_timeout_ms, 20);
    ck_assert_int_eq(c->routes[0].idempotency, BFF_IDEM_REQUIRED);
    bff_config_free(c);

    expect_err("idempotency: { store: \"redis://127.0.0.1:6379/1\" }\n" ROUTE,
               "t.yaml:1:23: store: a redis:// idempotency store must be "
               "rate_limit.store too: each worker has one Redis connection, shared by "
               "both");
    expect_err_prefix(ROUTE "    idempotency: always\n",
                      "t.yaml:4:18: idempotency \"always\": must be off, optional or "
                      "required");
    expect_err_prefix("idempotency: { store_timeout: 1s }\n" ROUTE,
                      "t.yaml:1:31: store_timeout: applies to a redis:// store only");
    expect_err_prefix("idempotency: { ttl: 0s }\n" ROUTE, "t.yaml:1:21: ttl \"0s\"");
    expect_err_prefix("routes:\n  - path: /a\n    static: www\n    idempotency: optional\n",
                      "t.yaml:4:18: idempotency: a static: route answers GET and HEAD only");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *ok = tcase_create("load");
    TCase *bad = tcase_create("errors");
    TCase *val = tcase_create("values");

    tcase_add_test(ok, spec_full_loads);
    tcase_add_test(ok, spec_design_loads);
    tcase_add_test(ok, spec_design_without_opts);
    tcase_add_test(ok, defaults);
    tcase_add_test(ok, route_defaults);
    tcase_add_test(ok, all_keys);
    tcase_add_test(ok, listen_port_zero);
    tcase_add_test(ok, literal_urls_dedup);
    tcase_add_test(ok, load_file);
    tcase_add_test(ok, tracing_sample_ratio);
    suite_add_tcase(s, ok);

    tcase_add_test(bad, err_unknown_key_top);
    tcase_add_test(bad, ok_stream_keys);
    tcase_add_test(bad, tls_listener);
    tcase_add_test(bad, admin_token_file);
    tcase_add_test(bad, err_unknown_key_service);
    tcase_add_test(bad, err_unknown_key_route);
    tcase_add_test(bad, err_bad_duration);
    tcase_add_test(bad, err_bad_size);
    tcase_add_test(bad, err_bad_rate);
    tcase_add_test(bad, err_unknown_service);
    tcase_add_test(bad, err_unknown_handler);
    tcase_add_test(bad, err_handler_missing_service);
    tcase_add_test(bad, err_route_two_kinds);
    tcase_add_test(bad, err_route_no_kind);
    tcase_add_test(bad, err_bad_path);
    tcase_add_test(bad, err_duplicate_path);
    tcase_add_test(bad, err_yaml_syntax);
    tcase_add_test(bad, err_wrong_type);
    tcase_add_test(bad, err_duplicate_key);
    tcase_add_test(bad, err_empty_and_range);
    tcase_add_test(bad, err_alg_none);
    tcase_add_test(bad, err_cors_star_credentials);
    tcase_add_test(bad, cors_headers);
    tcase_add_test(bad, err_keys_without_effect);
    tcase_add_test(bad, err_bad_listen);
    tcase_add_test(bad, err_bad_urls);
    tcase_add_test(bad, err_endpoints);
    tcase_add_test(bad, endpoints_parse_and_defaults);
    tcase_add_test(bad, spec_orders_endpoints_block_loads);
    tcase_add_test(bad, err_enums_and_lists);
    tcase_add_test(bad, many_errors_one_pass);
    tcase_add_test(bad, diag_appends);
    tcase_add_test(bad, idempotency_keys);
    suite_add_tcase(s, bad);

    tcase_add_test(val, rate_parse);
    tcase_add_test(val, duration_parse);
    tcase_add_test(val, size_parse);
    tcase_add_test(val, bits);
    suite_add_tcase(s, val);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
