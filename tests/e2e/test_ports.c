/* tests/e2e/test_ports.c — port 0 end to end: the servers take the ports the
 * kernel gives them and say which, so that test runs never race for one.
 *
 * shop-services with --*-port 0 names four distinct ports that answer, and
 * keeps a refused service's port; bff-mobile with listen/admin_listen :0 and
 * two workers serves one port from both workers, and keeps it over SIGHUP. */
#include <signal.h>

#include "common.h"

static const char *yaml =
    "listen: 127.0.0.1:%1$d\n"
    "admin_listen: 127.0.0.1:%2$d\n"
    "workers: 2\n"
    "services:\n"
    "  users: { url: \"http://127.0.0.1:%3$d\" }\n"
    "  orders: { url: \"http://127.0.0.1:%4$d\" }\n"
    "  inventory: { url: \"http://127.0.0.1:%5$d\", timeout: 5s }\n"
    "routes:\n"
    "  - { path: /inventory, service: inventory }\n";

static char *url(int port, const char *path)
{
    static char u[8][256];
    static int  i;
    char       *p = u[i++ % 8];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", port, path);
    return p;
}

static long get_status(const char *u)
{
    struct h_resp r;
    int           rc = h_http("GET", u, NULL, NULL, &r);
    long          st = r.status;
    h_resp_free(&r);
    return rc == 0 ? st : -1;
}

/* GET /admin/config's "reloads", or -1. */
static long reloads(int admin)
{
    struct h_resp r;
    long          n = -1;
    if (h_http("GET", url(admin, "/admin/config"), NULL, NULL, &r) == 0 &&
        r.status == 200) {
        json_object *j = body_json(&r), *v;
        if (j && json_object_object_get_ex(j, "reloads", &v))
            n = json_object_get_int64(v);
        json_object_put(j);
    }
    h_resp_free(&r);
    return n;
}

/* Lines of @path that hold @needle. */
static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char  line[8192];
    int   n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

START_TEST(shop_services_names_four_ports_that_answer)
{
    const char   *dir = h_tmpdir();
    struct h_shop shop;
    ck_assert_ptr_nonnull(dir);
    /* h_shop_start passes --*-port 0 and reads them from the ready line */
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    const int ports[4] = {shop.users, shop.orders, shop.inventory, shop.control};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_gt(ports[i], 0);
        for (int k = 0; k < i; k++)
            ck_assert_int_ne(ports[i], ports[k]);
        ck_assert_msg(h_listens(shop.proc.pid, ports[i]), "port %d is not the shop's",
                      ports[i]);
        ck_assert_int_eq(get_status(url(ports[i], "/healthz")), 200);
    }
    /* each service answers as itself on its port */
    ck_assert_int_eq(get_status(url(shop.users, "/users/4412")), 200);
    ck_assert_int_eq(get_status(url(shop.inventory, "/inventory/SKU-1")), 200);

    /* refused, then back: on the port it had (the gateway's config names it) */
    ck_assert_int_eq(h_fault(&shop, "users", "refuse=1"), 0);
    ck_assert_int_eq(get_status(url(shop.users, "/healthz")), -1);
    ck_assert_int_eq(h_fault(&shop, "users", ""), 0);
    ck_assert_int_eq(get_status(url(shop.users, "/healthz")), 200);
    ck_assert(h_listens(shop.proc.pid, shop.users));

    ck_assert_int_eq(h_stop(&shop.proc), 0);
    h_cleanup_dir(dir);
}
END_TEST

START_TEST(a_bff_on_port_0_serves_one_port_from_both_workers_across_a_reload)
{
    const char   *dir = h_tmpdir();
    struct h_shop shop;
    struct h_bff  b;
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);
    /* listen and admin_listen :0; the ports come from the listening line */
    ck_assert_int_eq(h_bff_start(&b, "bff-mobile/bff-mobile", dir, yaml, &shop), 0);
    ck_assert_int_gt(b.port, 0);
    ck_assert_int_gt(b.admin, 0);
    ck_assert_int_ne(b.port, b.admin);
    ck_assert_int_eq(count_lines(b.proc.log, "\"msg\":\"listening\""), 1);

    for (int round = 0; round < 2; round++) {
        /* both workers listen on the one port (not each on a port of its own) */
        ck_assert_int_eq(h_listen_sockets(b.proc.pid, b.port), 2);
        ck_assert_int_eq(h_listen_sockets(b.proc.pid, b.admin), 1);
        /* a new connection per request: SO_REUSEPORT spreads them over both
         * sockets, so a worker that did not serve its socket would show */
        for (int i = 0; i < 64; i++)
            ck_assert_int_eq(get_status(url(b.port, "/inventory/SKU-1")), 200);
        if (round == 1)
            break;
        /* SIGHUP: the config still says :0, the ports stay */
        ck_assert_int_eq(reloads(b.admin), 0);
        ck_assert_int_eq(kill(b.proc.pid, SIGHUP), 0);
        long n = 0;
        for (int waited = 0; waited < 10000 && (n = reloads(b.admin)) < 1; waited += 20)
            sleep_ms(20);
        ck_assert_int_eq(n, 1);
    }
    ck_assert_int_eq(count_lines(b.proc.log, "\"msg\":\"listening\""), 1);

    ck_assert_int_eq(h_stop(&b.proc), 0);
    h_stop(&shop.proc);
    h_cleanup_dir(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_ports");
    TCase *tc = tcase_create("ports");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shop_services_names_four_ports_that_answer);
    tcase_add_test(tc,
                   a_bff_on_port_0_serves_one_port_from_both_workers_across_a_reload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
