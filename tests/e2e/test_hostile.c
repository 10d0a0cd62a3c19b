/* tests/e2e/test_hostile.c — the front door holds (SPEC §4 "strict HTTP/1.1",
 * §5): every case of tests/e2e/hostile-cases.txt, byte-exact on a raw socket,
 * against bff-mobile in front of a logging upstream in this process that
 * records and strictly parses what it receives (tests/e2e/hostile.c).
 *
 * One Check test per case class; each runs all its cases and names every one
 * that fails, with what the client got and what the upstream saw. Runs with
 * CK_NOFORK: the upstream's threads live in this process, and a forked test
 * would not see what they record. HOSTILE_CASE=substring runs only the cases
 * whose name contains it. */
#include <signal.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "common.h"
#include "hostile.h"

static const char        *dir;
static struct h_keys      keys;
static struct h_bff       bff;
static struct hk_upstream up;
static struct hk_table    table;
static char              *token;
static int                up_started;

/* the classes, in table order (known before the suite is built) */
static char classes[64][32];
static int  nclasses;

static const char *yaml_fmt =
    "listen: 127.0.0.1:%%1$d\n"
    "admin_listen: 127.0.0.1:%%2$d\n"
    "workers: 2\n"
    "limits: { max_body: 64KiB, client_timeout: 1s }\n"
    "services:\n"
    "  echo:\n"
    "    url: \"http://127.0.0.1:%d\"\n"
    "    timeout: 2s\n"
    "    retries: 0\n"
    "    circuit_breaker: { failures: 1000000, open_for: 1s }\n"
    "auth:\n"
    "  jwt:\n"
    "    jwks_file: @DIR@/jwks.json\n"
    "    algorithms: [ES256]\n"
    "routes:\n"
    "  - path: /echo\n"
    "    service: echo\n"
    "    auth: none\n"
    "  - path: /secure\n"
    "    service: echo\n"
    "    auth: required\n";

static const char *cases_path(void)
{
    static char p[512];
    const char *src = getenv("BFF_SRC_ROOT");
    snprintf(p, sizeof(p), "%s/tests/e2e/hostile-cases.txt", src ? src : ".");
    return p;
}

static void kill_bff(void)
{
    if (bff.proc.pid > 0) {
        kill(bff.proc.pid, SIGKILL);
        waitpid(bff.proc.pid, NULL, 0);
        bff.proc.pid = 0;
    }
}

static void setup(void)
{
    char yaml[2048], err[512];
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(h_keys_make(&keys, dir), 0);
    token = h_token(&keys, "4412", "customer", NULL);
    ck_assert_ptr_nonnull(token);
    ck_assert_int_eq(hk_upstream_start(&up), 0);
    up_started = 1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(yaml, sizeof(yaml), yaml_fmt, up.port);
#pragma GCC diagnostic pop
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, NULL), 0);
    atexit(kill_bff);
    ck_assert_msg(hk_table_load(&table, cases_path(), token, err, sizeof(err)) == 0, "%s",
                  err);
}

static void teardown(void)
{
    if (bff.proc.pid > 0)
        ck_assert_int_eq(h_stop(&bff.proc), 0);
    if (up_started)
        hk_upstream_stop(&up);
    up_started = 0;
    hk_table_free(&table);
    free(token);
    h_cleanup_dir(dir);
}

START_TEST(front_door_class)
{
    const char *klass = classes[_i];
    const char *only = getenv("HOSTILE_CASE");
    static char names[16384]; /* static: a failed assertion (NOFORK) frees nothing */
    size_t      cap = sizeof(names), used = 0;
    int         ran = 0, failed = 0;
    long        ms = 0;

    names[0] = '\0';
    for (size_t i = 0; i < table.n; i++) {
        const struct hk_case *c = &table.cases[i];
        struct hk_result      r;
        if (strcmp(c->klass, klass) != 0 || (only && !strstr(c->name, only)))
            continue;
        ran++;
        hk_case_run(c, bff.port, &up, &r);
        ms += r.ms;
        if (r.fail[0]) {
            failed++;
            fprintf(stderr, "FAIL %s/%s (hostile-cases.txt:%d, %ld ms): got %s%s%s: %s\n",
                    klass, c->name, c->line, r.ms, r.cell, r.flags[0] ? ", upstream " : "",
                    r.flags, r.fail);
            if (used + 80 < cap)
                used += (size_t)snprintf(names + used, cap - used, "%s%s", used ? " " : "",
                                         c->name);
        }
    }
    printf("class %-16s %3d cases, %3d pass, %3d fail, %5ld ms\n", klass, ran, ran - failed,
           failed, ms);
    fflush(stdout);
    ck_assert_msg(failed == 0, "class %s: %d of %d cases fail (details on stderr): %s",
                  klass, failed, ran, names);
}
END_TEST

/* A table that does not load, or a class with no case, fails here instead of
 * passing quietly. */
START_TEST(table_is_whole)
{
    ck_assert_msg(table.n >= 100, "%zu cases", table.n);
    ck_assert_int_gt(nclasses, 10);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, table_is_whole);
    tcase_add_loop_test(tc, front_door_class, 0, nclasses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    struct hk_table t;
    char            err[512];
    signal(SIGPIPE, SIG_IGN);
    if (hk_table_load(&t, cases_path(), NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (size_t i = 0; i < t.n; i++) {
        int seen = 0;
        for (int k = 0; k < nclasses && !seen; k++)
            seen = strcmp(classes[k], t.cases[i].klass) == 0;
        if (!seen && nclasses < 64)
            snprintf(classes[nclasses++], sizeof(classes[0]), "%s", t.cases[i].klass);
    }
    printf("%zu cases in %d classes\n", t.n, nclasses);
    hk_table_free(&t);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
