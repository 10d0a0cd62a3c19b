/* tests/e2e/test_fleet.c — a fleet: redis-server, two bff-mobile behind haproxy
 * (health-checked on their admin /readyz), rate limits shared through Redis,
 * an instance killed under traffic, and bff-fleet finding the stale one.
 *
 * Both instances run the same config file content (one sha256): their
 * ports come from BFF_LISTEN / BFF_ADMIN_LISTEN. */
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

struct inst {
    struct h_proc proc;
    int           port, admin;
    char          config[512];
};

static const char   *dir;
static struct h_shop shop;
static struct h_proc redis, haproxy;
static int           redis_port, fe_port;
static struct inst   a, b;

/* %1$d: redis port, %2$d: inventory port. listen/admin_listen are the
 * environment's. */
static const char *fleet_yaml =
    "listen: 127.0.0.1:8081      # BFF_LISTEN overrides\n"
    "admin_listen: 127.0.0.1:9081 # BFF_ADMIN_LISTEN overrides\n"
    "workers: 2\n"
    "drain_timeout: 5s\n"
    "rate_limit: { store: \"redis://127.0.0.1:%1$d/0\" }\n"
    "services:\n"
    "  inventory: { url: \"http://127.0.0.1:%2$d\", timeout: 5s }\n"
    "routes:\n"
    "  - path: /inventory\n"
    "    service: inventory\n"
    "  - path: /limited\n"
    "    service: inventory\n"
    "    strip_prefix: true\n"
    "    rate_limit: 10/min\n";

static const char *haproxy_cfg =
    "global\n"
    "    maxconn 2000\n"
    "defaults\n"
    "    mode http\n"
    "    timeout connect 500ms\n"
    "    timeout client 10s\n"
    "    timeout server 10s\n"
    "    timeout check 500ms\n"
    "    retries 3\n"
    "    option redispatch 1\n"
    "    retry-on all-retryable-errors\n"
    "frontend fe\n"
    "    bind 127.0.0.1:%1$d\n"
    "    default_backend bff\n"
    "backend bff\n"
    "    balance roundrobin\n"
    "    option httpchk GET /readyz\n"
    "    http-check expect status 200\n"
    "    default-server inter 100ms fastinter 100ms downinter "
    "100ms fall 1 rise 2\n"
    "    server a 127.0.0.1:%2$d check port %3$d\n"
    "    server b 127.0.0.1:%4$d check port %5$d\n";

static char *url(int port, const char *path)
{
    static char u[8][512];
    static int  i;
    char       *p = u[i++ % 8];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", port, path);
    return p;
}

/* Renders @tmpl (printf with %1$d…) into @dir/@name. */
static char *render(const char *name, const char *tmpl, int p1, int p2, int p3, int p4,
                    int p5)
{
    char text[8192];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(text, sizeof(text), tmpl, p1, p2, p3, p4, p5);
#pragma GCC diagnostic pop
    return h_write(dir, name, text);
}

/* 1 when a Redis server on @port answers PING. */
static int redis_ping(int port)
{
    struct sockaddr_in sa = {0};
    char               buf[16] = "";
    int                fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof(buf) - 1) > 0)
        ok = strncmp(buf, "+PONG", 5) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Starts bff-mobile with config @path; the environment gives it port 0 for
 * both listeners (the file stays the same), its line the ports it got. */
static int inst_start(struct inst *in, const char *path, const char *name)
{
    char ready[128];
    snprintf(in->config, sizeof(in->config), "%s", path);
    setenv("BFF_LISTEN", "127.0.0.1:0", 1);
    setenv("BFF_ADMIN_LISTEN", "127.0.0.1:0", 1);
    char *argv[] = {(char *)h_bin("bff-mobile/bff-mobile"), "--config", in->config,
                    NULL};
    int   rc = h_spawn(&in->proc, name, argv, dir);
    unsetenv("BFF_LISTEN");
    unsetenv("BFF_ADMIN_LISTEN");
    if (rc != 0 || h_bff_ports(&in->proc, &in->port, &in->admin, 20000) != 0)
        return -1;
    snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", in->admin);
    return h_wait_status(ready, 200, 10000);
}

static char *const *redis_argv(int port, void *ud)
{
    static char  p[16];
    static char *argv[] = {
        "/usr/bin/redis-server", "--port", p,   "--bind", "127.0.0.1", "--save", "",
        "--appendonly",          "no",     NULL};
    (void)ud;
    snprintf(p, sizeof(p), "%d", port);
    return argv;
}

/* haproxy's config for frontend port @port (the backends are a and b). */
static char *const *haproxy_argv(int port, void *ud)
{
    static char  path[512];
    static char *argv[] = {"/usr/sbin/haproxy", "-f", path, "-db", NULL};
    (void)ud;
    char *cfg =
        render("haproxy.cfg", haproxy_cfg, port, a.port, a.admin, b.port, b.admin);
    snprintf(path, sizeof(path), "%s", cfg ? cfg : "/nonexistent");
    return argv;
}

static char *admin_get(const struct inst *in, const char *path)
{
    struct h_resp r;
    if (h_http("GET", url(in->admin, path), NULL, NULL, &r) != 0 || r.status != 200) {
        h_resp_free(&r);
        return NULL;
    }
    char *body = r.body;
    r.body = NULL;
    h_resp_free(&r);
    return body;
}

/* Sum of every bff_requests_total series of @route on @in. */
static double route_requests(const struct inst *in, const char *route)
{
    char  *m = admin_get(in, "/metrics");
    char   want[256];
    double sum = 0;
    if (!m)
        return -1;
    snprintf(want, sizeof(want), "bff_requests_total{route=\"%s\",", route);
    for (char *line = strtok(m, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, want, strlen(want)) == 0) {
            char *sp = strrchr(line, ' ');
            sum += sp ? strtod(sp + 1, NULL) : 0;
        }
    free(m);
    return sum;
}

static void setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_shop_start(&shop, dir, NULL), 0);

    redis_port = h_spawn_on_port(&redis, "redis-server", dir, redis_argv, NULL, NULL);
    ck_assert_msg(redis_port > 0, "redis-server did not start");
    int up = 0;
    for (int i = 0; i < 500 && !up; i++)
        if (!(up = redis_ping(redis_port)))
            sleep_ms(10);
    ck_assert_msg(up, "redis-server did not answer PING");

    char *cfg = render("fleet.yaml", fleet_yaml, redis_port, shop.inventory, 0, 0, 0);
    ck_assert_ptr_nonnull(cfg);
    char path[512];
    snprintf(path, sizeof(path), "%s", cfg);
    ck_assert_int_eq(inst_start(&a, path, "bff-a"), 0);
    /* b runs its own copy of the same content */
    cfg = render("fleet-b.yaml", fleet_yaml, redis_port, shop.inventory, 0, 0, 0);
    snprintf(path, sizeof(path), "%s", cfg);
    ck_assert_int_eq(inst_start(&b, path, "bff-b"), 0);

    fe_port = h_spawn_on_port(&haproxy, "haproxy", dir, haproxy_argv, NULL, NULL);
    ck_assert_msg(fe_port > 0, "haproxy did not start");
    ck_assert_int_eq(h_wait_status(url(fe_port, "/inventory/SKU-1"), 200, 10000), 0);
    /* both servers in rotation: each has answered through haproxy */
    int both = 0;
    for (int i = 0; i < 500 && !both; i++) {
        struct h_resp r;
        h_http("GET", url(fe_port, "/inventory/SKU-1"), NULL, NULL, &r);
        h_resp_free(&r);
        both = route_requests(&a, "/inventory") > 0 &&
               route_requests(&b, "/inventory") > 0;
        if (!both)
            sleep_ms(10);
    }
    ck_assert_msg(both, "haproxy did not send traffic to both instances");
}

static void teardown(void)
{
    h_stop(&haproxy);
    h_stop(&a.proc);
    h_stop(&b.proc);
    h_stop(&redis);
    h_stop(&shop.proc);
    h_cleanup_dir(dir);
}

START_TEST(rate_limit_is_shared_across_the_fleet)
{
    int passed = 0, refused = 0, other = 0;
    for (int i = 0; i < 20; i++) {
        struct h_resp r;
        ck_assert_int_eq(
            h_http("GET", url(fe_port, "/limited/inventory/SKU-1"), NULL, NULL, &r), 0);
        if (r.status == 200)
            passed++;
        else if (r.status == 429)
            refused++;
        else
            other++;
        h_resp_free(&r);
    }
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(passed, 10); /* 10/min over both instances, not 10 each */
    ck_assert_int_eq(refused, 10);
    /* and both instances took part */
    ck_assert(route_requests(&a, "/limited") >= 1);
    ck_assert(route_requests(&b, "/limited") >= 1);
}
END_TEST

/* The extra instance of the bff-fleet test, killed at exit if a failed
 * assertion ends the test (Check exits the forked child) first. */
static struct inst c;

static void kill_c(void)
{
    if (c.proc.pid > 0) {
        kill(c.proc.pid, SIGKILL);
        waitpid(c.proc.pid, NULL, 0);
        c.proc.pid = 0;
    }
}

/* Runs bff-fleet with @args; returns its exit status, its output in *out. */
static int fleet(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s; echo \"exit=$?\"", h_bin("demo/bff-fleet"),
             args);
    *out = h_run(cmd);
    ck_assert_ptr_nonnull(*out);
    const char *e = strstr(*out, "exit=");
    ck_assert_ptr_nonnull(e);
    return atoi(e + 5);
}

START_TEST(bff_fleet_names_the_stale_instance)
{
    char args[1024], *out = NULL;
    char ua[64], ub[64], uc[64];
    snprintf(ua, sizeof(ua), "http://127.0.0.1:%d", a.admin);
    snprintf(ub, sizeof(ub), "http://127.0.0.1:%d", b.admin);

    /* the fleet agrees */
    snprintf(args, sizeof(args), "%s %s", ua, ub);
    ck_assert_int_eq(fleet(args, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "all 2 agree"));
    free(out);

    /* c starts with an older config (different content) */
    char *cfg =
        render("fleet-old.yaml", fleet_yaml, redis_port, shop.inventory, 0, 0, 0);
    ck_assert_ptr_nonnull(cfg);
    char path[512];
    snprintf(path, sizeof(path), "%s", cfg);
    FILE *f = fopen(path, "a");
    fputs("# the release before\n", f);
    fclose(f);
    atexit(kill_c);
    ck_assert_int_eq(inst_start(&c, path, "bff-c"), 0);
    snprintf(uc, sizeof(uc), "http://127.0.0.1:%d", c.admin);

    snprintf(args, sizeof(args), "%s %s %s", ua, ub, uc);
    ck_assert_int_eq(fleet(args, &out), 1);
    fprintf(stderr, "%s\n", out);
    /* the stale one is named, the others are not */
    char line[256];
    snprintf(line, sizeof(line), "%s  sha256=", uc);
    char *l = strstr(out, line);
    ck_assert_ptr_nonnull(l);
    ck_assert(strstr(l, "DIFFERS") && strstr(l, "DIFFERS") < strchr(l, '\n'));
    snprintf(line, sizeof(line), "disagree: 1 of 3 (%s)", uc);
    ck_assert_ptr_nonnull(strstr(out, line));
    snprintf(line, sizeof(line), "%s  sha256=", ua);
    l = strstr(out, line);
    ck_assert_ptr_nonnull(l);
    ck_assert(strncmp(strchr(l, '\n') - 2, "ok", 2) == 0);
    free(out);

    /* two of a kind and no majority: --expect names the stale one */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' --check-config --config '%s'",
             h_bin("bff-mobile/bff-mobile"), a.config);
    char *ok = h_run(cmd);
    ck_assert_ptr_nonnull(ok);
    ck_assert(strncmp(ok, "OK ", 3) == 0);
    snprintf(args, sizeof(args), "--expect %s %s %s", ok + 3, ua, uc);
    ck_assert_int_eq(fleet(args, &out), 1);
    snprintf(line, sizeof(line), "disagree: 1 of 2 (%s)", uc);
    ck_assert_ptr_nonnull(strstr(out, line));
    free(out);
    free(ok);

    /* deploy the current file to c and reload it: the fleet agrees again */
    char *text = NULL;
    snprintf(cmd, sizeof(cmd), "cat '%s'", a.config);
    text = h_run(cmd);
    ck_assert_ptr_nonnull(text);
    f = fopen(path, "w");
    fprintf(f, "%s\n", text);
    fclose(f);
    free(text);
    struct h_resp r;
    ck_assert_int_eq(h_http("POST", url(c.admin, "/admin/reload"), NULL, "", &r), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    snprintf(args, sizeof(args), "%s %s %s", ua, ub, uc);
    ck_assert_int_eq(fleet(args, &out), 0);
    free(out);

    /* an instance that does not answer: exit 2, named */
    ck_assert_int_eq(h_stop(&c.proc), 0);
    ck_assert_int_eq(fleet(args, &out), 2);
    snprintf(line, sizeof(line), "%s  unreachable", uc);
    ck_assert_ptr_nonnull(strstr(out, line));
    free(out);
}
END_TEST

/* An instance whose admin port is locked (admin_token_file): bff-fleet
 * needs --token-file to ask it. */
START_TEST(bff_fleet_sends_the_admin_token)
{
    char args[2048], *out = NULL, line[256], ua[64], ud[64], cfg[8192];
    ck_assert_ptr_nonnull(h_write(dir, "admin.token", "fleet-token-0123456789abcdef\n"));
    ck_assert_ptr_nonnull(h_write(dir, "wrong.token", "fleet-token-0123456789abcdeF\n"));
    char *plain = render("fleet-locked.yaml", fleet_yaml, redis_port, shop.inventory, 0, 0, 0);
    ck_assert_ptr_nonnull(plain);
    char *text = NULL;
    snprintf(line, sizeof(line), "cat '%s'", plain);
    text = h_run(line);
    ck_assert_ptr_nonnull(text);
    snprintf(cfg, sizeof(cfg), "admin_token_file: %s/admin.token\n%s\n", dir, text);
    free(text);
    char *path = h_write(dir, "fleet-locked.yaml", cfg);
    ck_assert_ptr_nonnull(path);
    atexit(kill_c);
    ck_assert_int_eq(inst_start(&c, path, "bff-locked"), 0);
    snprintf(ud, sizeof(ud), "http://127.0.0.1:%d", c.admin);
    snprintf(ua, sizeof(ua), "http://127.0.0.1:%d", a.admin);

    /* without the token: 401, named, exit 2 (the fleet's state is not known) */
    ck_assert_int_eq(fleet(ud, &out), 2);
    snprintf(line, sizeof(line), "%s  /admin/config answered 401", ud);
    ck_assert_ptr_nonnull(strstr(out, line));
    ck_assert_ptr_nonnull(strstr(out, "--token-file"));
    free(out);
    /* a wrong token of the same length: the same */
    snprintf(args, sizeof(args), "--token-file %s/wrong.token %s", dir, ud);
    ck_assert_int_eq(fleet(args, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "answered 401"));
    free(out);
    /* the token: answered; an open instance does not mind it */
    snprintf(args, sizeof(args), "--token-file %s/admin.token %s", dir, ud);
    ck_assert_int_eq(fleet(args, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "all 1 agree"));
    free(out);
    snprintf(args, sizeof(args), "--token-file %s/admin.token %s %s", dir, ua, ud);
    ck_assert_int_eq(fleet(args, &out), 1); /* other file content: other sha256 */
    /* never refused ("answered 401"; a bare "401" can be part of a sha256 or
     * a port in the report) */
    ck_assert_ptr_null(strstr(out, "answered 401"));
    ck_assert_ptr_null(strstr(out, "fleet-token"));
    free(out);
    /* a missing or empty token file is bad usage */
    snprintf(args, sizeof(args), "--token-file %s/nope.token %s 2>&1", dir, ud);
    ck_assert_int_eq(fleet(args, &out), 64);
    ck_assert_ptr_nonnull(strstr(out, "nope.token"));
    free(out);
    ck_assert_ptr_nonnull(h_write(dir, "empty.token", ""));
    snprintf(args, sizeof(args), "--token-file %s/empty.token %s 2>&1", dir, ud);
    ck_assert_int_eq(fleet(args, &out), 64);
    ck_assert_ptr_nonnull(strstr(out, "empty"));
    free(out);
    ck_assert_int_eq(h_stop(&c.proc), 0);
}
END_TEST

/* ---- an instance dies under traffic
 * -------------------------------------------------- */


START_TEST(killing_an_instance_costs_at_most_its_in_flight_requests)
{
    enum { THREADS = 4 };
    struct h_traffic t = {.url = url(fe_port, "/inventory/SKU-1")};
    pthread_t      th[THREADS];
    pthread_mutex_init(&t.lock, NULL);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, h_traffic_main, &t), 0);
    for (int i = 0; i < 2000 && atomic_load(&t.ok) < 500; i++)
        sleep_ms(5);
    ck_assert_int_ge(atomic_load(&t.ok), 500);
    double a_before = route_requests(&a, "/inventory");

    ck_assert_int_eq(kill(b.proc.pid, SIGKILL), 0);
    long mark = atomic_load(&t.ok);
    for (int i = 0; i < 4000 && atomic_load(&t.ok) < mark + 1500; i++)
        sleep_ms(5);
    atomic_store(&t.stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    long ok = atomic_load(&t.ok), failed = atomic_load(&t.failed);
    fprintf(stderr, "fleet: %ld ok, %ld failed around the kill%s%s\n", ok, failed,
            failed ? "; first: " : "", failed ? t.first_failure : "");
    ck_assert_int_ge(ok, mark + 1500);
    /* at most the requests b had in flight when it died (one per client) */
    ck_assert_int_le(failed, THREADS);
    ck_assert(route_requests(&a, "/inventory") >= a_before + 1500);
    pthread_mutex_destroy(&t.lock);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_fleet");
    TCase *tc = tcase_create("fleet");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rate_limit_is_shared_across_the_fleet);
    tcase_add_test(tc, bff_fleet_names_the_stale_instance);
    tcase_add_test(tc, bff_fleet_sends_the_admin_token);
    tcase_add_test(tc, killing_an_instance_costs_at_most_its_in_flight_requests);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
