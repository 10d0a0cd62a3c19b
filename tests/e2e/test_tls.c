/* tests/e2e/test_tls.c — HTTPS on the listener (tls: {cert, key}): a
 * certificate made here with openssl, verified by libcurl against the
 * test's CA; the protocol and cipher policy; session resumption; a reload
 * onto a new certificate under traffic (new handshakes see the new serial,
 * open connections keep going, no request fails); a bad key is a rejected
 * reload and the old certificate keeps serving; plain HTTP to the TLS port
 * is closed at once, never left hanging.
 *
 * Certificates are made with the openssl command line in the test's
 * temporary folder; nothing is committed. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char  *dir;
static struct h_bff bff;
static char         ca[600], cur_crt[600], cur_key[600];

static const char *yaml = "listen: 127.0.0.1:%1$d\n"
                          "admin_listen: 127.0.0.1:%2$d\n"
                          "workers: 2\n"
                          "access_log: false\n"
                          "tls: { cert: @DIR@/cur.crt, key: @DIR@/cur.key }\n"
                          "routes:\n"
                          "  - { path: /s, static: @DIR@/www }\n";

/* A CA, and two server certificates for 127.0.0.1 it signed (serials 0a
 * and 0b), a key of neither, and cur.{crt,key} = a. Returns 0 or -1. */
static int make_certs(void)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "set -e; cd '%s'\n"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.crt -days 2 -subj '/CN=portico e2e CA' "
             "-addext basicConstraints=critical,CA:TRUE "
             "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null\n"
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n"
             "extendedKeyUsage=serverAuth\\n' > leaf.ext\n"
             "for s in a b; do\n"
             "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout $s.key -out $s.csr -subj /CN=127.0.0.1 2>/dev/null\n"
             "  openssl x509 -req -in $s.csr -CA ca.crt -CAkey ca.key -set_serial 0x0$s "
             "-days 2 -out $s.crt -extfile leaf.ext 2>/dev/null\n"
             "done\n"
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key\n"
             "cp a.crt cur.crt; cp a.key cur.key\n"
             "mkdir -p www; printf hello > www/hello.txt\n",
             dir);
    char *out = h_run(cmd);
    int   ok = out != NULL;
    free(out);
    return ok ? 0 : -1;
}

/* Puts @name.crt and @name.key (or @key) in place as cur.*: written aside
 * and renamed, as an operator's deploy would. */
static void install(const char *crt, const char *key)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && cp %s.crt cur.crt.new && cp %s.key cur.key.new && "
             "mv cur.crt.new cur.crt && mv cur.key.new cur.key && echo ok",
             dir, crt, key);
    char *out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "ok");
    free(out);
}

static void setup(void)
{
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(make_certs(), 0);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(cur_crt, sizeof(cur_crt), "%s/cur.crt", dir);
    snprintf(cur_key, sizeof(cur_key), "%s/cur.key", dir);
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, NULL), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    h_cleanup_dir(dir);
}

static size_t sink(char *d, size_t s, size_t n, void *u)
{
    struct h_resp *r = u;
    char          *nb = realloc(r->body, r->len + s * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, d, s * n);
    r->len += s * n;
    nb[r->len] = '\0';
    r->body = nb;
    return s * n;
}

/* What one HTTPS request saw. */
struct seen {
    CURLcode rc;
    long     status;
    long     new_conns;  /* CURLINFO_NUM_CONNECTS: 0 when a connection was reused */
    char     serial[32]; /* the leaf's serial on a new connection ("0a") */
    char     body[64];
};

/* An easy handle for https://127.0.0.1:PORT@path, verifying with the test CA.
 * With @fresh, every request is a new connection and a full handshake (no
 * session resumption). */
static CURL *tls_handle(const char *path, int fresh)
{
    char  u[256];
    CURL *e = curl_easy_init();
    snprintf(u, sizeof(u), "https://127.0.0.1:%d%s", bff.port, path);
    curl_easy_setopt(e, CURLOPT_URL, u);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    if (fresh) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    }
    return e;
}

static void tls_do(CURL *e, struct seen *s)
{
    struct h_resp        r = {0};
    struct curl_certinfo *ci = NULL;

    memset(s, 0, sizeof(*s));
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
    s->rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &s->new_conns);
    if (s->rc == CURLE_OK && curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
        ci->num_of_certs > 0)
        for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next)
            if (strncmp(l->data, "Serial Number:", 14) == 0)
                snprintf(s->serial, sizeof(s->serial), "%s", l->data + 14);
    snprintf(s->body, sizeof(s->body), "%s", r.body ? r.body : "");
    free(r.body);
}

/* The serial a new full handshake sees now. */
static void serial_now(char *out, size_t cap)
{
    CURL       *e = tls_handle("/s/hello.txt", 1);
    struct seen s;
    tls_do(e, &s);
    curl_easy_cleanup(e);
    ck_assert_msg(s.rc == CURLE_OK, "curl: %s", curl_easy_strerror(s.rc));
    ck_assert_int_eq(s.status, 200);
    snprintf(out, cap, "%s", s.serial);
}

static int admin_reload(struct h_resp *r)
{
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/admin/reload", bff.admin);
    ck_assert_int_eq(h_http("POST", u, NULL, "", r), 0);
    return (int)r->status;
}

START_TEST(https_verified_with_the_test_ca)
{
    CURL       *e = tls_handle("/s/hello.txt", 0);
    struct seen s;
    tls_do(e, &s);
    ck_assert_msg(s.rc == CURLE_OK, "curl: %s", curl_easy_strerror(s.rc));
    ck_assert_int_eq(s.status, 200);
    ck_assert_str_eq(s.body, "hello");
    ck_assert_str_eq(s.serial, "0a");
    /* keep-alive: the second request rides the same TLS connection */
    tls_do(e, &s);
    ck_assert_int_eq(s.status, 200);
    ck_assert_int_eq(s.new_conns, 0);
    curl_easy_cleanup(e);

    /* a client that does not trust the CA fails the handshake */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "curl -s -o /dev/null -w '%%{http_code}' https://127.0.0.1:%d/s/hello.txt; "
             "echo \" $?\"",
             bff.port);
    char *out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "000 60"); /* CURLE_PEER_FAILED_VERIFICATION */
    free(out);
    /* and plain http:// to the HTTPS port still says nothing */
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/s/hello.txt", bff.port);
    struct h_resp r = {0};
    int           rc = h_http("GET", u, NULL, NULL, &r);
    ck_assert_msg(rc != 0 || r.status != 200, "plain HTTP answered 200");
    h_resp_free(&r); /* what a failed call left too */
}
END_TEST

/* TLS 1.3 and 1.2 only, AEAD ciphers only, ALPN http/1.1 (openssl s_client). */
START_TEST(protocols_ciphers_and_alpn)
{
    char cmd[2048];
    struct {
        const char *args;
        const char *want; /* in s_client's output; NULL = the handshake fails */
    } cases[] = {
        {"-alpn http/1.1", "ALPN protocol: http/1.1"},
        {"-tls1_3", "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256"},
        {"-tls1_2", "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA", NULL}, /* CBC */
        {"-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384", NULL}, /* CBC */
        {"-tls1_1 -cipher DEFAULT@SECLEVEL=0", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "echo | timeout 10 openssl s_client -connect 127.0.0.1:%d -CAfile '%s' %s "
                 "2>&1; true",
                 bff.port, ca, cases[i].args);
        char *out = h_run(cmd);
        ck_assert_ptr_nonnull(out);
        if (cases[i].want) {
            ck_assert_msg(strstr(out, cases[i].want), "%s: no '%s' in: %s", cases[i].args,
                          cases[i].want, out);
            ck_assert_msg(strstr(out, "Verify return code: 0 (ok)"), "%s", out);
        } else {
            ck_assert_msg(!strstr(out, "BEGIN CERTIFICATE"), "%s: a handshake: %s",
                          cases[i].args, out);
        }
        free(out);
    }
}
END_TEST

/* A second connection resumes the first one's session (TLS 1.3 tickets and
 * TLS 1.2 tickets), on either worker. */
START_TEST(session_resumption)
{
    const char *vers[] = {"-tls1_3", "-tls1_2"};
    for (size_t v = 0; v < 2; v++) {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && req='GET /s/hello.txt HTTP/1.1\\r\\nHost: x\\r\\n"
                 "Connection: close\\r\\n\\r\\n'; rm -f sess.pem; "
                 "printf \"$req\" | timeout 10 openssl s_client %s -connect 127.0.0.1:%d "
                 "-CAfile ca.crt -sess_out sess.pem -ign_eof 2>/dev/null | grep -c '^New,'; "
                 "for i in 1 2 3 4; do printf \"$req\" | timeout 10 openssl s_client %s "
                 "-connect 127.0.0.1:%d -CAfile ca.crt -sess_in sess.pem -ign_eof "
                 "2>/dev/null; done | grep -c '^Reused,'",
                 dir, vers[v], bff.port, vers[v], bff.port);
        char *out = h_run(cmd);
        ck_assert_ptr_nonnull(out);
        /* 1 new session, then 4 resumed (whichever worker accepted them) */
        ck_assert_msg(strcmp(out, "1\n4") == 0, "%s: %s", vers[v], out);
        free(out);
    }
}
END_TEST

/* Plain HTTP to the TLS port: closed at once (the handshake fails on the
 * first bytes), never a hang. */
START_TEST(plain_http_to_the_tls_port)
{
    const char     req[] = "GET /s/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    char           out[4096];
    struct timeval t0, t1;

    for (int i = 0; i < 5; i++) {
        gettimeofday(&t0, NULL);
        int n = h_raw(bff.port, req, sizeof(req) - 1, out, sizeof(out), 0);
        gettimeofday(&t1, NULL);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
        ck_assert_int_ge(n, 0);
        /* a close (nothing, or a TLS alert) or a 400: never a 200 */
        ck_assert_msg(n == 0 || out[0] == 0x15 || strncmp(out, "HTTP/1.1 400", 12) == 0,
                      "got %d bytes: %.40s", n, out);
        ck_assert_msg(ms < 2000, "took %ld ms to close", ms); /* h_raw gives up at 5 s */
    }
    /* and HTTPS still works */
    char serial[32];
    serial_now(serial, sizeof(serial));
}
END_TEST

static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name */
    long        ut = 0, st = 0;
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
                            &ut, &st),
                     2);
    return ut + st;
}

/* Connections that stop in the middle of their handshake (a ClientHello's
 * first bytes, or nothing at all) cost the gateway no CPU while they wait:
 * libmicrohttpd alone would spin on them (front/tls.c). */
START_TEST(a_stalled_handshake_does_not_spin)
{
    int fds[6];
    for (int i = 0; i < 6; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)bff.port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
        if (i % 2) /* a TLS record header of a ClientHello, then silence */
            ck_assert_int_eq(send(fds[i], "\x16\x03\x01\x02", 4, MSG_NOSIGNAL), 4);
    }
    sleep_ms(200); /* accepted by the workers (pacing: the check is the CPU below) */
    long t0 = cpu_ticks(bff.proc.pid);
    sleep_ms(1000);
    long used = cpu_ticks(bff.proc.pid) - t0;
    long hz = sysconf(_SC_CLK_TCK);
    /* spinning, two workers would burn most of 2 cores: allow 10% of one */
    ck_assert_msg(used * 10 <= hz, "the gateway used %ld of %ld ticks in 1 s", used, hz);
    /* and the gateway still answers */
    char serial[32];
    serial_now(serial, sizeof(serial));
    for (int i = 0; i < 6; i++)
        close(fds[i]);
}
END_TEST

/* A key that is not the certificate's, a file that is not PEM, a missing
 * file: each a rejected reload naming the file's line in the config, and
 * the certificate in force keeps serving. */
START_TEST(a_bad_key_is_a_rejected_reload)
{
    char          before[32], after[32];
    struct h_resp r;

    serial_now(before, sizeof(before));
    install("b", "other"); /* b's certificate, another key */
    ck_assert_int_eq(admin_reload(&r), 422);
    ck_assert_msg(strstr(r.body, ".yaml:5:") && strstr(r.body, "tls.key") &&
                      strstr(r.body, "is not the private key of the certificate"),
                  "%s", r.body);
    h_resp_free(&r);
    serial_now(after, sizeof(after));
    ck_assert_str_eq(after, before);

    h_write(dir, "cur.key", "not a key\n");
    ck_assert_int_eq(admin_reload(&r), 422);
    ck_assert_msg(strstr(r.body, "tls.key") && strstr(r.body, "not an unencrypted PEM"),
                  "%s", r.body);
    h_resp_free(&r);
    h_write(dir, "cur.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    ck_assert_int_eq(admin_reload(&r), 422);
    ck_assert_msg(strstr(r.body, "tls.cert") && strstr(r.body, "cur.crt"), "%s", r.body);
    h_resp_free(&r);
    char gone[700];
    snprintf(gone, sizeof(gone), "%s/cur.key", dir);
    unlink(gone);
    kill(bff.proc.pid, SIGHUP); /* the same through SIGHUP: errors go to the log */
    char line[1024];
    ck_assert_int_eq(h_wait_log(&bff.proc, "No such file or directory", line, sizeof(line),
                                5000),
                     0);
    ck_assert_ptr_nonnull(strstr(line, "tls."));
    serial_now(after, sizeof(after));
    ck_assert_str_eq(after, before);

    ck_assert_str_eq(before, "0a");
    install("a", "a");
    ck_assert_int_eq(admin_reload(&r), 200);
    h_resp_free(&r);
}
END_TEST

/* Traffic for the reload: keep-alive on one connection, or a new
 * connection with a full handshake for every request. */
struct load {
    int          fresh;
    _Atomic int *stop;
    _Atomic int *switched; /* set once a new handshake saw the new serial */
    long         ok, failed, old_after, new_seen, reused;
    char         first_failure[256];
    char         want_old[32], want_new[32];
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    CURL        *e = tls_handle("/s/hello.txt", l->fresh);
    while (!atomic_load(l->stop)) {
        int         after = atomic_load(l->switched);
        struct seen s;
        tls_do(e, &s);
        if (s.rc != CURLE_OK || s.status != 200 || strcmp(s.body, "hello") != 0) {
            if (l->failed++ == 0)
                snprintf(l->first_failure, sizeof(l->first_failure),
                         "curl %d (%s), status %ld", s.rc, curl_easy_strerror(s.rc),
                         s.status);
            continue;
        }
        l->ok++;
        if (!l->fresh) {
            if (s.new_conns == 0)
                l->reused++;
            continue;
        }
        if (strcmp(s.serial, l->want_new) == 0)
            l->new_seen++;
        else if (after) /* started after the switch was seen: must be the new one */
            l->old_after++;
    }
    curl_easy_cleanup(e);
    return NULL;
}

START_TEST(reload_onto_a_new_certificate_under_traffic)
{
    char old[32], now[32];
    serial_now(old, sizeof(old));
    const char *next = strcmp(old, "0a") == 0 ? "b" : "a";

    _Atomic int stop = 0, switched = 0;
    struct load l[3] = {{.fresh = 1}, {.fresh = 1}, {.fresh = 0}};
    pthread_t   th[3];
    for (int i = 0; i < 3; i++) {
        l[i].stop = &stop;
        l[i].switched = &switched;
        snprintf(l[i].want_old, sizeof(l[i].want_old), "%s", old);
        snprintf(l[i].want_new, sizeof(l[i].want_new), "0%s", next);
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_main, &l[i]), 0);
    }
    sleep_ms(500); /* traffic on the old certificate (pacing, not synchronization) */

    install(next, next);
    kill(bff.proc.pid, SIGHUP);
    /* new handshakes see the new serial within a bound: 20 in a row, so
     * that both workers (SO_REUSEPORT spreads the connections) swapped */
    int in_a_row = 0;
    for (int i = 0; i < 400 && in_a_row < 20; i++) {
        serial_now(now, sizeof(now));
        in_a_row = now[1] == next[0] ? in_a_row + 1 : 0;
        if (!in_a_row)
            sleep_ms(10);
    }
    ck_assert_msg(in_a_row >= 20, "new handshakes still see serial %s", now);
    atomic_store(&switched, 1);
    sleep_ms(700); /* traffic after the switch */
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);

    fprintf(stderr,
            "reload under traffic: full handshakes %ld + %ld (%ld + %ld on the new "
            "certificate), keep-alive %ld on one connection\n",
            l[0].ok, l[1].ok, l[0].new_seen, l[1].new_seen, l[2].ok);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(l[i].failed == 0, "thread %d: %ld failed: %s", i, l[i].failed,
                      l[i].first_failure);
        ck_assert_int_gt(l[i].ok, 5);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_gt(l[i].new_seen, 0);
        ck_assert_msg(l[i].old_after == 0, "%ld handshakes after the switch saw %s",
                      l[i].old_after, old);
    }
    /* the keep-alive connection opened before the reload went on after it */
    ck_assert_int_eq(l[2].reused, l[2].ok - 1);
    char line[1024], want[64];
    snprintf(want, sizeof(want), "certificate serial 0%s", next);
    ck_assert_int_eq(h_wait_log(&bff.proc, want, line, sizeof(line), 5000), 0);
}
END_TEST

/* A pair that does not match stops the start and --check-config, naming
 * the config's line. */
START_TEST(a_bad_pair_at_start)
{
    char cfg[700], cmd[2048];
    snprintf(cfg, sizeof(cfg), "%s/bad.yaml", dir);
    char text[1024];
    snprintf(text, sizeof(text),
             "listen: 127.0.0.1:0\n"
             "tls:\n"
             "  cert: %s/a.crt\n"
             "  key: %s/b.key\n"
             "routes:\n"
             "  - { path: /s, static: %s/www }\n",
             dir, dir, dir);
    h_write(dir, "bad.yaml", text);
    snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --check-config 2>&1; echo \"rc=$?\"",
             h_bin("bff-mobile/bff-mobile"), cfg);
    char *out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "bad.yaml:4:8: tls.key: ") &&
                      strstr(out, "b.key is not the private key of the certificate in ") &&
                      strstr(out, "rc=1"),
                  "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "timeout 10 '%s' --config '%s' 2>&1; echo \"rc=$?\"",
             h_bin("bff-mobile/bff-mobile"), cfg);
    out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "tls.key") && !strstr(out, "rc=0") && !strstr(out, "rc=124"),
                  "%s", out);
    free(out);
    /* one of the two alone */
    snprintf(text, sizeof(text),
             "listen: 127.0.0.1:0\n"
             "tls: { cert: %s/a.crt }\n"
             "routes:\n"
             "  - { path: /s, static: %s/www }\n",
             dir, dir);
    h_write(dir, "bad.yaml", text);
    snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --check-config 2>&1; echo \"rc=$?\"",
             h_bin("bff-mobile/bff-mobile"), cfg);
    out = h_run(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(strstr(out, "bad.yaml:2:6: tls: needs both cert:") && strstr(out, "rc=1"),
                  "%s", out);
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_tls");
    TCase *tc = tcase_create("tls");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, https_verified_with_the_test_ca);
    tcase_add_test(tc, protocols_ciphers_and_alpn);
    tcase_add_test(tc, session_resumption);
    tcase_add_test(tc, plain_http_to_the_tls_port);
    tcase_add_test(tc, a_stalled_handshake_does_not_spin);
    tcase_add_test(tc, a_bad_key_is_a_rejected_reload);
    tcase_add_test(tc, reload_onto_a_new_certificate_under_traffic);
    tcase_add_test(tc, a_bad_pair_at_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(suite());
}
