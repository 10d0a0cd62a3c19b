/* tests/e2e/test_mtls.c — mutual TLS to services (services.*.tls): the demo
 * shop serves HTTPS and requires a client certificate signed by its client
 * CA; bff-mobile calls it with and without the right certificate.
 *
 * Certificates are made here, with the openssl command line, in the test's
 * temporary folder: a CA (the service's and the client's), the service's
 * certificate for 127.0.0.1, the gateway's client certificate, and a rogue
 * CA with a client certificate of its own. Nothing is committed. */
#include "common.h"

static const char   *dir;
static struct h_shop shop;
static struct h_bff  bff;
static char          base[64];

static const char *yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users:\n" /* the right CA and a client certificate it signed */
    "    url: \"https://127.0.0.1:%3$d\"\n"
    "    timeout: 2s\n"
    "    tls: { ca: @DIR@/ca.crt, cert: @DIR@/client.crt, key: @DIR@/client.key }\n"
    "  orders:\n" /* no tls: the service's certificate is not trusted */
    "    url: \"https://127.0.0.1:%4$d\"\n"
    "    timeout: 2s\n"
    "  inventory:\n" /* a client certificate from another CA */
    "    url: \"https://127.0.0.1:%5$d\"\n"
    "    timeout: 2s\n"
    "    tls: { ca: @DIR@/ca.crt, cert: @DIR@/rogue.crt, key: @DIR@/rogue.key }\n"
    "  nocert:\n" /* the service is trusted, but we show no certificate */
    "    url: \"https://127.0.0.1:%3$d\"\n"
    "    timeout: 2s\n"
    "    tls: { ca: @DIR@/ca.crt }\n"
    "  plain:\n" /* http:// to a TLS port */
    "    url: \"http://127.0.0.1:%3$d\"\n"
    "    timeout: 2s\n"
    "routes:\n"
    "  - { path: /users, service: users }\n"
    "  - { path: /echo, service: users }\n"
    "  - { path: /orders, service: orders }\n"
    "  - { path: /inventory, service: inventory }\n"
    "  - { path: /nocert, service: nocert, strip_prefix: true }\n"
    "  - { path: /plain, service: plain, strip_prefix: true }\n";

/* Makes the certificates with openssl; returns 0 or -1. */
static int make_certs(void)
{
    char cmd[4096];
    snprintf(
        cmd, sizeof(cmd),
        "set -e; cd '%s'\n"
        "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout $1.key -out $1.crt -days 2 -subj \"/CN=$2\" "
        "-addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign; }\n"
        "leaf() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout $1.key -out $1.csr -subj \"/CN=$2\"; printf \"$4\" > $1.ext; "
        "openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial "
        "-days 2 -out $1.crt -extfile $1.ext; }\n"
        "ca ca 'portico e2e CA'; ca rogueca 'rogue CA'\n"
        "leaf server 127.0.0.1 ca 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n"
        "extendedKeyUsage=serverAuth\\n'\n"
        "leaf client bff-mobile ca 'extendedKeyUsage=clientAuth\\n'\n"
        "leaf rogue bff-mobile rogueca 'extendedKeyUsage=clientAuth\\n'\n",
        dir);
    char *out = h_run(cmd);
    int   ok = out != NULL;
    free(out);
    return ok ? 0 : -1;
}

static int shop_start_tls(void)
{
    char url[128], cert[512], key[512], ca[512];
    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    char *extra[] = {"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca, NULL};
    if (h_shop_spawn(&shop, dir, "shop-services-tls", extra) != 0)
        return -1;
    /* the ready line comes once all four listen; the control port is plain */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", shop.control);
    return h_wait_status(url, 200, 10000);
}

static void setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(make_certs(), 0);
    ck_assert_int_eq(shop_start_tls(), 0);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", bff.port);
}

static void teardown(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    h_stop(&shop.proc);
    h_cleanup_dir(dir);
}

static long get(const char *path, struct h_resp *r)
{
    char u[256];
    snprintf(u, sizeof(u), "%s%s", base, path);
    ck_assert_int_eq(h_http("GET", u, NULL, NULL, r), 0);
    return r->status;
}

START_TEST(the_right_client_certificate_passes)
{
    struct h_resp r;
    ck_assert_int_eq(get("/users/4412", &r), 200);
    json_object *j = body_json(&r);
    ck_assert_str_eq(jstr(j, "name"), "Ada Lovelace");
    json_object_put(j);
    h_resp_free(&r);
    /* and the service sees a proxied request like any other */
    ck_assert_int_eq(get("/echo", &r), 200);
    j = body_json(&r);
    ck_assert_str_eq(jstr(j, "service"), "users");
    ck_assert_ptr_nonnull(jstr(j, "headers.x-request-id"));
    json_object_put(j);
    h_resp_free(&r);
}
END_TEST

START_TEST(without_tls_config_is_502)
{
    struct h_resp r;
    ck_assert_int_eq(get("/orders/o-1", &r), 502);
    assert_problem(&r, 502);
    h_resp_free(&r);
}
END_TEST

START_TEST(a_certificate_from_another_ca_is_502)
{
    long          before = h_shop_requests(&shop, "inventory");
    struct h_resp r;
    ck_assert_int_eq(get("/inventory/SKU-1", &r), 502);
    assert_problem(&r, 502);
    h_resp_free(&r);
    /* refused in the handshake: the service never saw a request */
    ck_assert_int_eq(h_shop_requests(&shop, "inventory"), before);
}
END_TEST

START_TEST(no_client_certificate_is_502)
{
    long          before = h_shop_requests(&shop, "users");
    struct h_resp r;
    ck_assert_int_eq(get("/nocert/users/4412", &r), 502);
    assert_problem(&r, 502);
    h_resp_free(&r);
    ck_assert_int_eq(h_shop_requests(&shop, "users"), before);
}
END_TEST

START_TEST(plain_http_to_a_tls_port_is_502)
{
    struct h_resp r;
    ck_assert_int_eq(get("/plain/users/4412", &r), 502);
    h_resp_free(&r);
    /* and the gateway still serves the good route afterwards */
    ck_assert_int_eq(get("/users/4412", &r), 200);
    h_resp_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_mtls");
    TCase *tc = tcase_create("mtls");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, the_right_client_certificate_passes);
    tcase_add_test(tc, without_tls_config_is_502);
    tcase_add_test(tc, a_certificate_from_another_ca_is_502);
    tcase_add_test(tc, no_client_certificate_is_502);
    tcase_add_test(tc, plain_http_to_a_tls_port_is_502);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
