/* tests/e2e/test_auth.c — authentication at the edge and the trust boundary,
 * end to end: bff-mobile in front of a shop that checks X-Gateway-Signature
 * (SPEC §4, §5), and key sets fetched from a jwks_url.
 *
 * Fixtures: "modes" runs a signing shop and one gateway with a jwks_file
 * (ES256 and HS256 keys); "jwks_url" and "jwks_refresh" serve jwks.json with
 * python3's http.server from the test's folder and rotate it. */
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bff/sign.h"
#include "common.h"

static const char   *dir;
static struct h_shop shop;
static struct h_bff  bff;
static struct h_proc web; /* the jwks.json server */
static int           web_port;
static char          base[64];
static char         *tok;    /* ES256, sub 4412, roles customer */
static char         *tok_hs; /* HS256, sub 4412, roles support */
static char          ec_key[512], hs_key[512], sign_key[512];

/* ---- helpers ------------------------------------------------------------ */

static char *url(const char *path)
{
    static char u[8][512];
    static int  i;
    char       *p = u[i++ % 8];
    snprintf(p, sizeof(u[0]), "%s%s", base, path);
    return p;
}

/* bff-token with @key (PEM or HS secret), @kid and more flags. */
static char *mint(const char *key, const char *kid, const char *flags)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' --key '%s' --kid '%s' %s", h_bin("demo/bff-token"),
             key, kid, flags);
    char *t = h_run(cmd);
    ck_assert_msg(t != NULL && *t, "bff-token failed: %s", cmd);
    return t;
}

/* The public JWKS of @key as a JSON array body ("{...},{...}" without []). */
static char *jwk_of(const char *key, const char *kid, const char *alg)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "'%s' --jwks --key '%s' --kid '%s' %s%s | /usr/bin/python3 -c "
             "'import json,sys; print(json.dumps(json.load(sys.stdin)[\"keys\"][0]))'",
             h_bin("demo/bff-token"), key, kid, alg ? "--alg " : "", alg ? alg : "");
    char *j = h_run(cmd);
    ck_assert_msg(j != NULL && *j == '{', "jwks failed: %s", cmd);
    return j;
}

/* Writes {"keys":[@a, @b]} to @dir/jwks.json atomically (rename). */
static void write_jwks(const char *a, const char *b)
{
    char tmp[600], dst[600], body[16384];
    snprintf(body, sizeof(body), "{\"keys\":[%s%s%s]}\n", a ? a : "", a && b ? "," : "",
             b ? b : "");
    snprintf(tmp, sizeof(tmp), "%s/jwks.json.tmp", dir);
    snprintf(dst, sizeof(dst), "%s/jwks.json", dir);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(body, f);
    fclose(f);
    ck_assert_int_eq(rename(tmp, dst), 0);
}

static void gen_key(const char *type, const char *name, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(out, cap, "%s/%s", dir, name);
    snprintf(cmd, sizeof(cmd), "'%s' --gen-key %s --out '%s' >/dev/null",
             h_bin("demo/bff-token"), type, out);
    ck_assert_int_eq(system(cmd), 0);
}

/* GET @path with "Authorization: @authz" (NULL: none) and @extra headers.
 * noinline: at -O3 gcc unrolls the copy loop over a caller's array and
 * warns (-Warray-bounds) about subscripts the NULL terminator never reaches. */
__attribute__((noinline)) static void get(const char *path, const char *authz, const char *const *extra,
                struct h_resp *r)
{
    const char *hdrs[16];
    char        a[20000];
    size_t      n = 0;
    if (authz) {
        snprintf(a, sizeof(a), "Authorization: %s", authz);
        hdrs[n++] = a;
    }
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        hdrs[n++] = extra[i];
    hdrs[n] = NULL;
    ck_assert_int_eq(h_http("GET", url(path), hdrs, NULL, r), 0);
}

static const char *bearer(const char *t)
{
    static char b[4][20000];
    static int  i;
    char       *p = b[i++ % 4];
    snprintf(p, sizeof(b[0]), "Bearer %s", t);
    return p;
}

/* Asserts a 401 for a request without credentials (RFC 6750 §3.1): the
 * challenge is exactly the realm, with no error attribute, and the problem's
 * detail is @desc. */
static void assert_401_no_credentials(const struct h_resp *r, const char *desc)
{
    assert_problem(r, 401);
    const char *www = h_header(r, "WWW-Authenticate");
    ck_assert_ptr_nonnull(www);
    ck_assert_str_eq(www, "Bearer realm=\"portico\"");
    json_object *j = body_json(r);
    ck_assert_str_eq(jstr(j, "detail"), desc);
    json_object_put(j);
}

/* Asserts a 401 whose challenge is RFC 6750 with @error and @desc, the
 * description safe inside a quoted-string, and the problem's detail @desc. */
static void assert_401(const struct h_resp *r, const char *error, const char *desc)
{
    assert_problem(r, 401);
    const char *www = h_header(r, "WWW-Authenticate");
    ck_assert_ptr_nonnull(www);
    ck_assert_msg(strncmp(www, "Bearer ", 7) == 0, "challenge: %s", www);
    char want[512];
    snprintf(want, sizeof(want), "error=\"%s\"", error);
    ck_assert_msg(strstr(www, want) != NULL, "challenge: %s", www);
    const char *d = strstr(www, "error_description=\"");
    ck_assert_ptr_nonnull(d);
    d += strlen("error_description=\"");
    const char *end = strchr(d, '"');
    ck_assert_ptr_nonnull(end);
    ck_assert_str_eq(end + 1, ""); /* the last parameter */
    for (const char *p = d; p < end; p++)
        ck_assert_msg(*p >= 0x20 && *p <= 0x7e && *p != '\\', "unsafe char in %s", www);
    ck_assert_int_eq((int)(end - d), (int)strlen(desc));
    ck_assert_msg(strncmp(d, desc, strlen(desc)) == 0, "challenge %s, want %s", www,
                  desc);
    json_object *j = body_json(r);
    ck_assert_str_eq(jstr(j, "detail"), desc);
    json_object_put(j);
}

/* Serves @dir on @port (0: a free one, into web_port). */
static int web_start(int fixed)
{
    char port[16], u[128];
    web_port = fixed ? fixed : h_free_port();
    snprintf(port, sizeof(port), "%d", web_port);
    char *argv[] = {"/usr/bin/python3", "-m",          "http.server", port, "--bind",
                    "127.0.0.1",        "--directory", (char *)dir,   NULL};
    if (h_spawn(&web, "jwks-server", argv, dir) != 0)
        return -1;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/jwks.json", web_port);
    return h_wait_status(u, 200, 10000);
}

/* @tmpl with "@WEB@" replaced by the jwks server's port (static buffer). */
static const char *with_web_port(const char *tmpl)
{
    static char out[8192];
    char        port[16];
    size_t      o = 0;
    snprintf(port, sizeof(port), "%d", web_port);
    for (const char *p = tmpl; *p && o + 16 < sizeof(out);) {
        if (strncmp(p, "@WEB@", 5) == 0) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", port);
            p += 5;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

static json_object *admin_json(const char *path, long *status)
{
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", bff.admin, path);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    if (status)
        *status = r.status;
    json_object *j = body_json(&r);
    h_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

static int64_t jint(json_object *o, const char *a, const char *b)
{
    json_object *v;
    if (!json_object_object_get_ex(o, a, &o) || !json_object_object_get_ex(o, b, &v) ||
        !json_object_is_type(v, json_type_int))
        return -1;
    return json_object_get_int64(v);
}

/* Polls GET @path with @authz until it answers @want (at most @ms). */
static long poll_status(const char *path, const char *authz, long want, int ms)
{
    long st = 0;
    for (int waited = 0; waited <= ms; waited += 50) {
        struct h_resp r;
        get(path, authz, NULL, &r);
        st = r.status;
        h_resp_free(&r);
        if (st == want)
            break;
        sleep_ms(50);
    }
    return st;
}

/* ---- fixture "modes": a signing shop, a jwks_file ------------------------ */

static const char *modes_yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\", timeout: 2s }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\", timeout: 2s }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 2s }\n"
    "  based: { url: \"http://127.0.0.1:%3$d/echo/base\", timeout: 2s }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256, HS256]\n"
    "    issuer: https://auth.e2e\n"
    "    audience: shop-mobile\n"
    "    leeway: 5s\n"
    "  internal_signing_key_file: @DIR@/internal.key\n"
    "routes:\n"
    "  - { path: /req, service: users, auth: required, strip_prefix: true }\n"
    "  - { path: /opt, service: users, auth: optional, strip_prefix: true }\n"
    "  - { path: /none, service: users, auth: none, strip_prefix: true }\n"
    "  - { path: /based, service: based, auth: required, strip_prefix: true }\n"
    "  - { path: /staff, service: users, auth: required, roles: [support, admin],\n"
    "      strip_prefix: true }\n"
    "  - path: /v1/order-screen/{id}\n"
    "    handler: order_screen\n"
    "    auth: required\n";

#define CLAIMS "--iss https://auth.e2e --aud shop-mobile"

static void modes_setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    gen_key("ec", "ec.pem", ec_key, sizeof(ec_key));
    gen_key("hmac", "hs.secret", hs_key, sizeof(hs_key));
    char *a = jwk_of(ec_key, "e2e", NULL), *b = jwk_of(hs_key, "hs", "HS256");
    write_jwks(a, b);
    free(a);
    free(b);
    /* the key the gateway signs with and the shop checks */
    char *k =
        h_write(dir, "internal.key",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
    ck_assert_ptr_nonnull(k);
    snprintf(sign_key, sizeof(sign_key), "%s", k);
    ck_assert_int_eq(h_shop_start(&shop, dir, sign_key), 0);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, modes_yaml, &shop),
                     0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", bff.port);
    tok = mint(ec_key, "e2e", "--sub 4412 --roles customer " CLAIMS);
    tok_hs = mint(hs_key, "hs", "--alg HS256 --sub 4412 --roles support " CLAIMS);
}

static void modes_teardown(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    h_stop(&shop.proc);
    free(tok);
    free(tok_hs);
    h_cleanup_dir(dir);
}

static const char *forged[] = {"X-User-Id: 1",
                               "X-User-Roles: admin",
                               "X-User-Email: root@example.com",
                               "X-Gateway-Signature: t=1,v1=00",
                               "X-Gateway-Trusted: yes",
                               NULL};

/* What the shop's echo saw: the identity headers, never a client's. */
static json_object *echo(const char *path, const char *authz, long want)
{
    struct h_resp r;
    get(path, authz, forged, &r);
    ck_assert_msg(r.status == want, "%s: %ld, want %ld: %s", path, r.status, want,
                  r.body);
    json_object *j = body_json(&r);
    h_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void assert_no_client_identity(json_object *j)
{
    ck_assert_ptr_null(jstr(j, "headers.authorization"));
    ck_assert_ptr_null(jstr(j, "headers.x-user-email"));
    ck_assert_ptr_null(jstr(j, "headers.x-gateway-trusted"));
    const char *sig = jstr(j, "headers.x-gateway-signature");
    ck_assert_ptr_nonnull(sig); /* the gateway's own, fresh */
    ck_assert_str_ne(sig, "t=1,v1=00");
    ck_assert_int_eq((int)strlen(sig), (int)strlen("t=1700000000,v1=") + 64);
}

START_TEST(required_forwards_the_identity)
{
    json_object *j = echo("/req/echo", bearer(tok), 200);
    ck_assert_str_eq(jstr(j, "path"), "/echo");
    ck_assert_str_eq(jstr(j, "headers.x-user-id"), "4412");
    ck_assert_str_eq(jstr(j, "headers.x-user-roles"), "customer");
    assert_no_client_identity(j);
    json_object_put(j);

    struct h_resp r;
    get("/req/echo", NULL, forged, &r);
    assert_401_no_credentials(&r, "a bearer token is required");
    h_resp_free(&r);
}
END_TEST

START_TEST(optional_forwards_a_valid_identity_and_refuses_a_bad_one)
{
    json_object *j = echo("/opt/echo", bearer(tok_hs), 200);
    ck_assert_str_eq(jstr(j, "headers.x-user-id"), "4412");
    ck_assert_str_eq(jstr(j, "headers.x-user-roles"), "support");
    assert_no_client_identity(j);
    json_object_put(j);

    j = echo("/opt/echo", NULL, 200); /* anonymous: no identity at all */
    ck_assert_ptr_null(jstr(j, "headers.x-user-id"));
    ck_assert_ptr_null(jstr(j, "headers.x-user-roles"));
    assert_no_client_identity(j);
    json_object_put(j);

    struct h_resp r;
    char          bad[8192];
    snprintf(bad, sizeof(bad), "%sx", tok);
    get("/opt/echo", bearer(bad), NULL, &r);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);
}
END_TEST

START_TEST(none_never_forwards_an_identity)
{
    json_object *j = echo("/none/echo", bearer(tok), 200);
    ck_assert_ptr_null(jstr(j, "headers.x-user-id"));
    ck_assert_ptr_null(jstr(j, "headers.x-user-roles"));
    assert_no_client_identity(j);
    json_object_put(j);
    /* not even looked at */
    j = echo("/none/echo", "Bearer not-a-token", 200);
    ck_assert_ptr_null(jstr(j, "headers.x-user-id"));
    assert_no_client_identity(j);
    json_object_put(j);
}
END_TEST

START_TEST(roles_gate_a_route_with_403)
{
    struct h_resp r;
    get("/staff/echo", bearer(tok), NULL, &r); /* customer */
    assert_problem(&r, 403);
    ck_assert_ptr_null(h_header(&r, "WWW-Authenticate"));
    h_resp_free(&r);
    json_object *j = echo("/staff/echo", bearer(tok_hs), 200); /* support */
    ck_assert_str_eq(jstr(j, "headers.x-user-roles"), "support");
    json_object_put(j);
}
END_TEST

START_TEST(bearer_scheme_is_case_insensitive)
{
    const char *schemes[] = {"bearer", "BEARER", "BeArEr"};
    for (size_t i = 0; i < 3; i++) {
        char a[8192];
        snprintf(a, sizeof(a), "%s %s", schemes[i], tok);
        json_object *j = echo("/req/echo", a, 200);
        ck_assert_str_eq(jstr(j, "headers.x-user-id"), "4412");
        json_object_put(j);
    }
}
END_TEST

/* RFC 6750 §3.1: another scheme, or "Bearer" with nothing after it, is no
 * credentials at all: on a required route the challenge names the realm and
 * no error; on an optional route the request passes without an identity. A
 * token that was sent and refused is the only invalid_token. */
START_TEST(another_scheme_is_no_credentials)
{
    struct h_resp r;
    get("/req/echo", "Basic dXNlcjpwYXNz", NULL, &r);
    assert_401_no_credentials(
        &r, "a bearer token is required (the Authorization scheme is not Bearer)");
    h_resp_free(&r);
    get("/req/echo", "Bearer   ", NULL, &r);
    assert_401_no_credentials(
        &r, "a bearer token is required (the Bearer credentials are empty)");
    h_resp_free(&r);
    get("/req/echo", "Bearertoken", NULL, &r); /* not the Bearer scheme */
    assert_401_no_credentials(
        &r, "a bearer token is required (the Authorization scheme is not Bearer)");
    h_resp_free(&r);

    json_object *j = echo("/opt/echo", "Basic dXNlcjpwYXNz", 200);
    ck_assert_ptr_null(jstr(j, "headers.x-user-id"));
    ck_assert_ptr_null(jstr(j, "headers.x-user-roles"));
    ck_assert_ptr_null(jstr(j, "headers.authorization"));
    json_object_put(j);

    get("/req/echo", "Bearer not-a-token", NULL, &r);
    assert_401(&r, "invalid_token", "the token is not a well-formed compact JWS");
    h_resp_free(&r);
}
END_TEST

/* A compact JWS with header @hdr_json over @tok's payload and signature @sig. */
static char *craft(const char *hdr_json, const char *sig)
{
    char        cmd[2048];
    const char *dot = strchr(tok, '.');
    const char *dot2 = strchr(dot + 1, '.');
    snprintf(cmd, sizeof(cmd),
             "printf '%%s' '%s' | base64 -w0 | tr '+/' '-_' | tr -d '='", hdr_json);
    char *h = h_run(cmd);
    ck_assert_ptr_nonnull(h);
    char *out = malloc(8192);
    snprintf(out, 8192, "%s.%.*s.%s", h, (int)(dot2 - dot - 1), dot + 1, sig);
    free(h);
    return out;
}

START_TEST(refused_tokens_say_why)
{
    struct {
        const char *what;
        char       *token;
        const char *desc;
    } cases[12];
    size_t n = 0;
    char  *t;

    cases[n++] = (typeof(cases[0])){
        "expired", mint(ec_key, "e2e", "--sub 4412 --ttl -60s " CLAIMS),
        "the token has expired"};
    cases[n++] =
        (typeof(cases[0])){"alg none", craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", ""),
                           "the token's algorithm is not accepted"};
    cases[n++] = (typeof(cases[0])){"alg NONE with a kid",
                                    craft("{\"alg\":\"NONE\",\"kid\":\"e2e\"}", "AAAA"),
                                    "the token's algorithm is not accepted"};
    /* tampered: one payload character changed, the signature kept */
    t = strdup(tok);
    char *p = strchr(t, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    cases[n++] = (typeof(cases[0])){"tampered", t, "the token's signature is invalid"};
    cases[n++] = (typeof(cases[0])){
        "wrong audience",
        mint(ec_key, "e2e", "--sub 4412 --iss https://auth.e2e --aud shop-web"),
        "the token is not meant for this service"};
    cases[n++] = (typeof(cases[0])){
        "wrong issuer",
        mint(ec_key, "e2e", "--sub 4412 --iss https://evil --aud shop-mobile"),
        "the token's issuer is not accepted"};
    cases[n++] = (typeof(cases[0])){
        "no exp", mint(ec_key, "e2e", "--sub 4412 --claim exp= " CLAIMS),
        "the token has no expiry time"};
    char nbf[128];
    snprintf(nbf, sizeof(nbf), "--sub 4412 --claim nbf=%lld " CLAIMS,
             (long long)time(NULL) + 3600);
    cases[n++] = (typeof(cases[0])){"not yet valid", mint(ec_key, "e2e", nbf),
                                    "the token is not valid yet"};
    cases[n++] =
        (typeof(cases[0])){"unknown kid", mint(ec_key, "nobody", "--sub 4412 " CLAIMS),
                           "no key of this server fits the token"};
    cases[n++] = (typeof(cases[0])){"garbage", strdup("a.b"),
                                    "the token is not a well-formed compact JWS"};
    /* HS256 signed with the ES key's PEM as the secret (key confusion) */
    cases[n++] = (typeof(cases[0])){
        "hs with another secret", mint(ec_key, "hs", "--alg HS256 --sub 4412 " CLAIMS),
        "the token's signature is invalid"};

    for (size_t i = 0; i < n; i++) {
        struct h_resp r;
        get("/req/echo", bearer(cases[i].token), forged, &r);
        ck_assert_msg(r.status == 401, "%s: %ld", cases[i].what, r.status);
        assert_401(&r, "invalid_token", cases[i].desc);
        h_resp_free(&r);
        free(cases[i].token);
    }

    /* each reason counted for the metrics engineer's bff_jwt_refusals_total */
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", bff.admin);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
    const char *reasons[] = {"expired",       "alg_refused", "bad_signature",
                             "bad_audience",  "bad_issuer",  "no_exp",
                             "not_yet_valid", "unknown_kid", "malformed"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "bff_jwt_refusals_total{reason=\"%s\"} ",
                 reasons[i]);
        const char *l = strstr(r.body, line);
        ck_assert_msg(l != NULL, "no %s in /metrics", line);
        ck_assert_msg(atoi(l + strlen(line)) >= 1, "%s is 0", line);
    }
    h_resp_free(&r);
}
END_TEST

START_TEST(the_same_token_again_is_still_checked_for_roles_and_routes)
{
    /* the second time comes from the worker's cache: same answers */
    for (int i = 0; i < 6; i++) {
        json_object *j = echo("/req/echo", bearer(tok), 200);
        ck_assert_str_eq(jstr(j, "headers.x-user-id"), "4412");
        json_object_put(j);
        struct h_resp r;
        get("/staff/echo", bearer(tok), NULL, &r);
        ck_assert_int_eq(r.status, 403);
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(signing_shop_accepts_the_gateway_and_refuses_forgeries)
{
    /* through the gateway: signed, accepted (the echo above proves it too) */
    struct h_resp r;
    get("/req/users/4412", bearer(tok), NULL, &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);

    char        u[256];
    uint8_t    *key = NULL;
    size_t      keylen = 0;
    const char *why = NULL;
    ck_assert_int_eq(bff_sign_key_load(sign_key, &key, &keylen, &why), 0);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/users/4412", shop.users);

    /* straight to the service, a forged identity, no signature: 401 */
    const char *h1[] = {"X-User-Id: 4412", "X-User-Roles: admin", NULL};
    ck_assert_int_eq(h_http("GET", u, h1, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);

    /* a signature made 120 s ago (stale), otherwise right: 401 */
    char sig[BFF_SIGN_HEADER_MAX], hs[256];
    ck_assert_int_eq(bff_sign_identity(key, keylen, (int64_t)time(NULL) - 120, "GET",
                                       "/users/4412", "4412", "admin", "rid-1", sig),
                     0);
    snprintf(hs, sizeof(hs), "X-Gateway-Signature: %s", sig);
    const char *h2[] = {"X-User-Id: 4412", "X-User-Roles: admin", "X-Request-Id: rid-1",
                        hs, NULL};
    ck_assert_int_eq(h_http("GET", u, h2, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);

    /* fresh, but for user 4412 while the request says 1 (tampered): 401 */
    ck_assert_int_eq(bff_sign_identity(key, keylen, (int64_t)time(NULL), "GET",
                                       "/users/4412", "4412", "admin", "rid-2", sig),
                     0);
    snprintf(hs, sizeof(hs), "X-Gateway-Signature: %s", sig);
    const char *h3[] = {"X-User-Id: 1", "X-User-Roles: admin", "X-Request-Id: rid-2",
                        hs, NULL};
    ck_assert_int_eq(h_http("GET", u, h3, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);

    /* one hex digit of the MAC changed: 401 */
    char *last = sig + strlen(sig) - 1;
    *last = *last == '0' ? '1' : '0';
    snprintf(hs, sizeof(hs), "X-Gateway-Signature: %s", sig);
    const char *h4[] = {"X-User-Id: 4412", "X-User-Roles: admin", "X-Request-Id: rid-2",
                        hs, NULL};
    ck_assert_int_eq(h_http("GET", u, h4, NULL, &r), 0);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);

    /* control: the same request properly signed now passes */
    ck_assert_int_eq(bff_sign_identity(key, keylen, (int64_t)time(NULL), "GET",
                                       "/users/4412", "4412", "admin", "rid-3", sig),
                     0);
    snprintf(hs, sizeof(hs), "X-Gateway-Signature: %s", sig);
    const char *h5[] = {"X-User-Id: 4412", "X-User-Roles: admin", "X-Request-Id: rid-3",
                        hs, NULL};
    ck_assert_int_eq(h_http("GET", u, h5, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    free(key);
}
END_TEST

START_TEST(aggregation_calls_carry_the_signed_identity)
{
    struct h_resp r;
    get("/v1/order-screen/o-1", bearer(tok), forged, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    json_object *j = body_json(&r);
    ck_assert_str_eq(jstr(j, "customer.name"), "Ada Lovelace");
    ck_assert_str_eq(jstr(j, "order.id"), "o-1");
    json_object_put(j);
    h_resp_free(&r);
    /* all three services checked a signature and answered */
    ck_assert_int_gt(h_shop_requests(&shop, "users"), 0);
    ck_assert_int_gt(h_shop_requests(&shop, "orders"), 0);
    ck_assert_int_gt(h_shop_requests(&shop, "inventory"), 0);
}
END_TEST

START_TEST(a_service_url_with_a_base_path_is_signed_as_received)
{
    struct h_resp r;
    /* the signing shop sees /echo/base/x?q=1: the signature must cover that */
    get("/based/x?q=1", bearer(tok), NULL, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    json_object *j = body_json(&r);
    ck_assert_str_eq(jstr(j, "path"), "/echo/base/x");
    ck_assert_str_eq(jstr(j, "headers.x-user-id"), "4412");
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(readyz_shows_the_key_set)
{
    long         st = 0;
    json_object *j = admin_json("/readyz", &st);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(jstr(j, "jwt_keys.source"), "jwks_file");
    ck_assert_int_eq(jint(j, "jwt_keys", "keys"), 2);
    json_object_put(j);
}
END_TEST

/* ---- fixture "jwks_url": rotation through the unknown-kid refetch -------- */

static char *k1_jwk, *k2_jwk, *k3_jwk;
static char  k1[512], k2[512], k3[512];

static const char *url_yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\" }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\" }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_url: http://127.0.0.1:@WEB@/jwks.json\n"
    "    jwks_refresh: %6$s\n"
    "    algorithms: [ES256]\n"
    "routes:\n"
    "  - { path: /req, service: users, auth: required, strip_prefix: true }\n";

static void url_fixture(const char *refresh)
{
    char yaml[4096];
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    gen_key("ec", "k1.pem", k1, sizeof(k1));
    gen_key("ec", "k2.pem", k2, sizeof(k2));
    gen_key("ec", "k3.pem", k3, sizeof(k3));
    k1_jwk = jwk_of(k1, "k1", NULL);
    k2_jwk = jwk_of(k2, "k2", NULL);
    k3_jwk = jwk_of(k3, "k3", NULL);
    write_jwks(k1_jwk, NULL);
    ck_assert_int_eq(web_start(0), 0);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    /* %6$s is ours; h_bff_start fills %1$d .. %5$d */
    const char *t = with_web_port(url_yaml);
    char       *six = strstr(t, "%6$s");
    ck_assert_ptr_nonnull(six);
    snprintf(yaml, sizeof(yaml), "%.*s%s%s", (int)(six - t), t, refresh, six + 4);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", bff.port);
}

static void url_setup(void)
{
    url_fixture("1h");
}

static void refresh_setup(void)
{
    url_fixture("1s");
}

static void url_teardown(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    h_stop(&shop.proc);
    if (web.pid > 0)
        h_stop(&web);
    free(k1_jwk);
    free(k2_jwk);
    free(k3_jwk);
    h_cleanup_dir(dir);
}

START_TEST(rotation_through_the_unknown_kid_refetch)
{
    char *t1 = mint(k1, "k1", "--sub 4412");
    char *t2 = mint(k2, "k2", "--sub 4413");
    char *t3 = mint(k3, "k3", "--sub 4414");
    long  st = 0;

    json_object *j = admin_json("/readyz", &st);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(jstr(j, "jwt_keys.source"), "jwks_url");
    ck_assert_int_eq(jint(j, "jwt_keys", "keys"), 1);
    int64_t fetches = jint(j, "jwt_keys", "fetches");
    json_object_put(j);

    ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 200, 0), 200);

    /* the identity provider adds k2; a k2 token is refused at first (its
     * request does not wait) but asks for a refetch, and is then accepted */
    write_jwks(k1_jwk, k2_jwk);
    struct h_resp r;
    get("/req/echo", bearer(t2), NULL, &r);
    assert_401(&r, "invalid_token", "no key of this server fits the token");
    h_resp_free(&r);
    ck_assert_int_eq(poll_status("/req/echo", bearer(t2), 200, 3000), 200);
    ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 200, 0), 200);
    j = admin_json("/readyz", NULL);
    ck_assert_int_eq(jint(j, "jwt_keys", "keys"), 2);
    ck_assert_int_eq(jint(j, "jwt_keys", "fetches"), fetches + 1);
    json_object_put(j);

    /* k3 right after: unknown kids refetch at most once per 10 s, so k3
     * stays unknown for now, however often it is tried */
    write_jwks(k2_jwk, k3_jwk);
    for (int i = 0; i < 10; i++) {
        get("/req/echo", bearer(t3), NULL, &r);
        ck_assert_int_eq(r.status, 401);
        h_resp_free(&r);
        sleep_ms(100);
    }
    j = admin_json("/readyz", NULL);
    ck_assert_int_eq(jint(j, "jwt_keys", "fetches"), fetches + 1);
    json_object_put(j);

    /* a reload with the same URL keeps the set without fetching it again */
    kill(bff.proc.pid, SIGHUP);
    sleep_ms(500);
    ck_assert_int_eq(poll_status("/req/echo", bearer(t2), 200, 0), 200);
    j = admin_json("/readyz", NULL);
    ck_assert_int_eq(jint(j, "jwt_keys", "fetches"), fetches + 1);
    json_object_put(j);
    j = admin_json("/admin/config", NULL);
    json_object *v;
    ck_assert(json_object_object_get_ex(j, "reloads", &v));
    ck_assert_int_eq(json_object_get_int(v), 1);
    json_object_put(j);
    free(t1);
    free(t2);
    free(t3);
}
END_TEST

START_TEST(a_reload_to_an_unreachable_url_is_refused)
{
    char *t1 = mint(k1, "k1", "--sub 4412");
    /* point the config at a port nobody listens on */
    char cmd[1024];
    int  dead = h_free_port();
    snprintf(cmd, sizeof(cmd),
             "sed -i 's|127.0.0.1:%d/jwks.json|127.0.0.1:%d/jwks.json|' '%s'", web_port,
             dead, bff.config);
    ck_assert_int_eq(system(cmd), 0);
    char          u[128];
    struct h_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/reload", bff.admin);
    ck_assert_int_eq(h_http("POST", u, NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 422);
    ck_assert_ptr_nonnull(strstr(r.body, "jwks_url"));
    h_resp_free(&r);
    ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 200, 0), 200);
    free(t1);
}
END_TEST

/* ---- fixture "jwks_refresh": jwks_refresh 1s ------------------------------ */

START_TEST(a_swapped_set_is_never_answered_from_the_cache)
{
    char *t1 = mint(k1, "k1", "--sub 4412");
    for (int i = 0; i < 4; i++) /* cached on both workers */
        ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 200, 0), 200);
    write_jwks(k2_jwk, NULL); /* k1 withdrawn */
    struct h_resp r;
    for (int waited = 0; waited < 5000; waited += 100) {
        get("/req/echo", bearer(t1), NULL, &r);
        long st = r.status;
        if (st == 401)
            break;
        h_resp_free(&r);
        sleep_ms(100);
    }
    assert_401(&r, "invalid_token", "no key of this server fits the token");
    h_resp_free(&r);
    for (int i = 0; i < 4; i++) /* on every worker */
        ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 401, 0), 401);
    free(t1);
}
END_TEST

START_TEST(the_last_good_set_outlives_its_server)
{
    char *t1 = mint(k1, "k1", "--sub 4412");
    write_jwks(k1_jwk, NULL); /* (the test before withdrew it) */
    ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 200, 5000), 200);
    /* The server stops. (It is the fixture's child: teardown reaps it.) */
    kill(web.pid, SIGTERM);
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/jwks.json", web_port);
    for (int i = 0; i < 100; i++) { /* until nothing answers */
        struct h_resp gone;
        int           rc = h_http("GET", u, NULL, NULL, &gone);
        h_resp_free(&gone);
        if (rc != 0)
            break;
        sleep_ms(50);
    }
    sleep_ms(3500); /* refreshes every second: at least two fail */
    long         st = 0;
    json_object *j = admin_json("/readyz", &st);
    ck_assert_int_eq(st, 200); /* still ready: the last good set serves */
    ck_assert_int_eq(jint(j, "jwt_keys", "keys"), 1);
    ck_assert_int_ge(jint(j, "jwt_keys", "failures"), 1);
    ck_assert_ptr_nonnull(jstr(j, "jwt_keys.last_error"));
    ck_assert_int_ge(jint(j, "jwt_keys", "age_s"), 2);
    json_object_put(j);
    ck_assert_int_eq(poll_status("/req/echo", bearer(t1), 200, 0), 200);
    /* a token minted for a new key cannot pass meanwhile */
    char         *t2 = mint(k2, "k2", "--sub 4413");
    struct h_resp r;
    get("/req/echo", bearer(t2), NULL, &r);
    assert_401(&r, "invalid_token", "no key of this server fits the token");
    h_resp_free(&r);
    free(t1);
    free(t2);
}
END_TEST

/* ---- no key set yet: a gateway that starts while the IdP is down --------- */

START_TEST(not_ready_until_the_first_fetch)
{
    char yaml[4096], cfg[600], u[128];
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    gen_key("ec", "k1.pem", k1, sizeof(k1));
    char *jwk = jwk_of(k1, "k1", NULL);
    web_port = h_free_port(); /* nobody listens yet */
    int port = h_free_port(), admin = h_free_port();
    snprintf(
        yaml, sizeof(yaml),
        "listen: 127.0.0.1:%d\nadmin_listen: 127.0.0.1:%d\nworkers: 1\n"
        "auth:\n  jwt:\n    jwks_url: http://127.0.0.1:%d/jwks.json\n"
        "    algorithms: [ES256]\n"
        "routes:\n  - { path: /req, service: \"http://127.0.0.1:1\", auth: required }\n"
        "  - { path: /open, service: \"http://127.0.0.1:1\" }\n",
        port, admin, web_port);
    snprintf(cfg, sizeof(cfg), "%s", h_write(dir, "late.yaml", yaml));
    char *argv[] = {(char *)h_bin("bff-mobile/bff-mobile"), "--config", cfg, NULL};
    ck_assert_int_eq(h_spawn(&bff.proc, "bff-late", argv, dir), 0);
    bff.admin = admin;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", admin);
    ck_assert_int_eq(h_wait_status(u, 503, 15000), 0);
    long         st = 0;
    json_object *j = admin_json("/readyz", &st);
    ck_assert_int_eq(st, 503);
    ck_assert_ptr_nonnull(strstr(jstr(j, "reason"), "jwks_url"));
    ck_assert_int_eq(jint(j, "jwt_keys", "keys"), 0);
    json_object_put(j);

    char         *t1 = mint(k1, "k1", "--sub 4412");
    struct h_resp r;
    get("/req/x", bearer(t1), NULL, &r);
    assert_problem(&r, 503);
    ck_assert_str_eq(h_header(&r, "Retry-After"), "1");
    h_resp_free(&r);

    /* the identity provider comes up: the retries (1 s, 2 s, ...) find it */
    write_jwks(jwk, NULL);
    ck_assert_int_eq(web_start(web_port), 0);
    ck_assert_int_eq(h_wait_status(u, 200, 10000), 0);
    get("/req/x", bearer(t1), NULL, &r);
    ck_assert_int_eq(r.status, 502); /* past auth: the service is dead */
    h_resp_free(&r);

    ck_assert_int_eq(h_stop(&bff.proc), 0);
    h_stop(&web);
    free(t1);
    free(jwk);
    h_cleanup_dir(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_auth");
    TCase *tc = tcase_create("modes");
    tcase_add_unchecked_fixture(tc, modes_setup, modes_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, required_forwards_the_identity);
    tcase_add_test(tc, optional_forwards_a_valid_identity_and_refuses_a_bad_one);
    tcase_add_test(tc, none_never_forwards_an_identity);
    tcase_add_test(tc, roles_gate_a_route_with_403);
    tcase_add_test(tc, bearer_scheme_is_case_insensitive);
    tcase_add_test(tc, another_scheme_is_no_credentials);
    tcase_add_test(tc, refused_tokens_say_why);
    tcase_add_test(tc, the_same_token_again_is_still_checked_for_roles_and_routes);
    tcase_add_test(tc, signing_shop_accepts_the_gateway_and_refuses_forgeries);
    tcase_add_test(tc, a_service_url_with_a_base_path_is_signed_as_received);
    tcase_add_test(tc, aggregation_calls_carry_the_signed_identity);
    tcase_add_test(tc, readyz_shows_the_key_set);
    suite_add_tcase(s, tc);

    tc = tcase_create("jwks_url");
    tcase_add_unchecked_fixture(tc, url_setup, url_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rotation_through_the_unknown_kid_refetch);
    tcase_add_test(tc, a_reload_to_an_unreachable_url_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("jwks_refresh");
    tcase_add_unchecked_fixture(tc, refresh_setup, url_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_swapped_set_is_never_answered_from_the_cache);
    tcase_add_test(tc, the_last_good_set_outlives_its_server);
    suite_add_tcase(s, tc);

    tc = tcase_create("jwks_late");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, not_ready_until_the_first_fetch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
