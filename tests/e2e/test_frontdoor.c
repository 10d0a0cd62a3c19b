/* tests/e2e/test_frontdoor.c — the front door (SPEC §4): bff-mobile in front of
 * a logging raw upstream in this process; raw sockets on the client side. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char   *dir;
static struct h_bff  bff;
static int           up_fd = -1, up_port;
static pthread_t     up_thread;
static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;
static char          up_log[1 << 20]; /* every byte the upstream received */
static size_t        up_len;

static const char *yaml = "listen: 127.0.0.1:%1$d\n"
                          "admin_listen: 127.0.0.1:%2$d\n"
                          "workers: 1\n"
                          "limits: { max_body: 64KiB, client_timeout: 10s }\n"
                          "services:\n"
                          "  raw: { url: \"http://127.0.0.1:%3$d\", timeout: 2s }\n"
                          "routes:\n"
                          "  - path: /echo\n"
                          "    service: raw\n"
                          "    auth: none\n";

/* The answer the upstream gives for @path (by a word in it). */
static void answer(int fd, const char *path)
{
    static char big[70000];
    const char *a = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    if (strstr(path, "bighead")) {
        memset(big, 0, sizeof(big));
        strcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ");
        memset(big + strlen(big), 'a', 65536);
        strcat(big, "\r\nContent-Length: 2\r\n\r\nok");
        a = big;
    } else if (strstr(path, "twocl")) {
        a = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok";
    } else if (strstr(path, "badline")) {
        a = "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok";
    } else if (strstr(path, "nothttp")) {
        a = "HTXP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    }
    for (size_t off = 0, n = strlen(a); off < n;) {
        ssize_t w = send(fd, a + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static void *conn_main(void *arg)
{
    int    fd = (int)(intptr_t)arg;
    char   buf[1 << 16];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        pthread_mutex_lock(&up_lock);
        if (up_len + (size_t)n < sizeof(up_log)) {
            memcpy(up_log + up_len, buf + len, (size_t)n);
            up_len += (size_t)n;
        }
        pthread_mutex_unlock(&up_lock);
        len += (size_t)n;
        buf[len] = '\0';
        char *end;
        while ((end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            const char *te = strcasestr(buf, "\r\nTransfer-Encoding: chunked\r\n");
            size_t      body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            size_t      total = (size_t)(end + 4 - buf) + body;
            if (te && te < end) { /* the gateway's own chunks: up to the last one */
                const char *last = strstr(end + 2, "\r\n0\r\n\r\n");
                if (!last)
                    break;
                total = (size_t)(last + 7 - buf);
            }
            if (len < total)
                break;
            char path[256] = "";
            sscanf(buf, "%*s %255s", path);
            answer(fd, path);
            memmove(buf, buf + total, len - total);
            len -= total;
            buf[len] = '\0';
        }
    }
    close(fd);
    return NULL;
}

static void *up_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(up_fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}

static void setup(void)
{
    struct sockaddr_in a = {0};
    socklen_t          al = sizeof(a);
    int                one = 1;
    dir = h_tmpdir();
    ck_assert_ptr_nonnull(dir);
    up_fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(up_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(up_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(up_fd, 64), 0);
    getsockname(up_fd, (struct sockaddr *)&a, &al);
    up_port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&up_thread, NULL, up_main, NULL), 0);
    struct h_shop fake = {.users = up_port, .orders = up_port, .inventory = up_port};
    ck_assert_int_eq(h_bff_start(&bff, "bff-mobile/bff-mobile", dir, yaml, &fake), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(h_stop(&bff.proc), 0);
    shutdown(up_fd, SHUT_RDWR);
    close(up_fd);
    pthread_join(up_thread, NULL);
    h_cleanup_dir(dir);
}

/* What the upstream received so far (a copy, NUL-terminated). */
static char *up_bytes(size_t *len)
{
    pthread_mutex_lock(&up_lock);
    char *s = malloc(up_len + 1);
    memcpy(s, up_log, up_len);
    s[up_len] = '\0';
    *len = up_len;
    pthread_mutex_unlock(&up_lock);
    return s;
}

/* Sends @req (@len bytes) and reads until the gateway closes (3 s at most).
 * Returns the bytes read into @out; *@closed tells whether it closed. */
static size_t exchange(const char *req, size_t len, char *out, size_t cap, int *closed)
{
    struct sockaddr_in a = {0};
    struct timeval     tv = {3, 0};
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t             got = 0;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)bff.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq((int)send(fd, req, len, MSG_NOSIGNAL), (int)len);
    *closed = 0;
    while (got + 1 < cap) {
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            *closed = 1;
            break;
        }
        if (n < 0)
            break;
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

#define SMUGGLED "GET /echo/SMUGGLED HTTP/1.1\r\nHost: h\r\nX-User-Id: 1\r\n\r\n"
#define H "Host: h\r\n"

START_TEST(refused_heads_never_reach_the_service_and_close)
{
    static const struct {
        const char *req;
        size_t      len;
        int         status;
    } c[] = {
#define C(s, st) {s SMUGGLED, sizeof(s SMUGGLED) - 1, st}
        C("POST /echo HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Transfer-Encoding\t: chunked\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n", 501),
        C("POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: \x0b" "chunked\r\n\r\n", 400),
        C("POST /echo HTTP/1.1\r\n" H "Content-Length: abc\r\n\r\n", 400),
        C("GET /echo HTTP/1.1\r\n" H "X-A: a\rX-User-Id: 1\r\n\r\n", 400),
        C("GET /echo HTTP/1.1\r\n" H "X-A: a\0X-User-Id: 1\r\n\r\n", 400),
        C("GET /echo HTTP/1.1\r\n X-User-Id: 1\r\n" H "\r\n", 400),
        C("GET /echo HTTP/1.1\r\n" H "X-A: a\r\n X-User-Id: 1\r\n\r\n", 400),
        C("GET /echo HTTP/1.1\r\n" H "Bad Name: 1\r\n\r\n", 400),
        C("GET /echo HTTP/1.1\r\n" H ": 1\r\n\r\n", 400),
        C("GET /echo HTTP/1.1\r\n" H H "\r\n", 400),
        C("GET /echo HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
        C("GET /echo\0x HTTP/1.1\r\n" H "\r\n", 400),
        C("GET  /echo  HTTP/1.1\r\n" H "\r\n", 400),
        C("GET /echo/..%2Fadmin HTTP/1.1\r\n" H "\r\n", 400),
        C("GET /echo HTTP/2.0\r\n" H "\r\n", 505),
        C("GET /echo\r\n" H "\r\n", 400),
#undef C
    };
    char out[16384];
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        size_t before, after;
        free(up_bytes(&before));
        int closed;
        exchange(c[i].req, c[i].len, out, sizeof(out), &closed);
        char *seen = up_bytes(&after);
        char  want[32];
        snprintf(want, sizeof(want), "HTTP/1.1 %d ", c[i].status);
        ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "case %zu: %.60s", i, out);
        ck_assert_msg(strstr(out, "\r\nContent-Type: application/problem+json\r\n"), "case %zu", i);
        ck_assert_msg(strcasestr(out, "\r\nConnection: close\r\n"), "case %zu", i);
        ck_assert_msg(count(out, "\r\nX-Request-Id: ") == 1, "case %zu", i);
        ck_assert_msg(closed, "case %zu: the connection stayed open", i);
        ck_assert_msg(count(out, "HTTP/1.1 ") == 1 + count(out, "an HTTP/1.1 "),
                      "case %zu: a second answer: %s", i, out);
        ck_assert_msg(after == before, "case %zu: the service got %s", i, seen + before);
        free(seen);
    }
}
END_TEST

START_TEST(legal_variants_reach_the_service_framed_by_the_gateway)
{
    static const char *c[] = {
        "POST /echo HTTP/1.1\r\n" H "Content-Length:  5 \t\r\nConnection: close\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "2;ext=1\r\nhe\r\n3\r\nllo\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nhOST: h\r\ntransfer-ENCODING: Chunked\r\nte: trailers\r\n"
        "Expect: 100-continue\r\nUpgrade: h2c\r\nConnection: Upgrade, close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    };
    char out[16384];
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        size_t before, after;
        free(up_bytes(&before));
        int closed;
        exchange(c[i], strlen(c[i]), out, sizeof(out), &closed);
        const char *o = out; /* after libmicrohttpd's interim answer to Expect */
        if (strncmp(o, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0)
            o += 25;
        ck_assert_msg(strncmp(o, "HTTP/1.1 200 ", 13) == 0, "case %zu: %.200s", i, out);
        char *seen = up_bytes(&after);
        char *got = seen + before;
        char *end = strstr(got, "\r\n\r\n");
        ck_assert_msg(end != NULL, "case %zu: %s", i, got);
        /* The body streams (docs/streaming.md): a client's Content-Length is
         * sent as the gateway's own; a chunked body goes in chunks the
         * gateway frames itself, without the client's extensions or
         * trailers. */
        int chunked = i > 0;
        ck_assert_msg(chunked ? strcmp(end + 4, "5\r\nhello\r\n0\r\n\r\n") == 0 ||
                                    strcmp(end + 4, "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n") == 0
                              : strcmp(end + 4, "hello") == 0,
                      "case %zu: %s", i, got);
        ck_assert_msg(!strstr(end + 4, "ext=1"), "case %zu: %s", i, got);
        *end = '\0';
        ck_assert_msg(chunked ? strcasestr(got, "\r\nTransfer-Encoding: chunked") != NULL &&
                                    !strcasestr(got, "Content-Length")
                              : strcasestr(got, "\r\nContent-Length: 5") != NULL,
                      "case %zu: %s", i, got);
        ck_assert_msg(!strcasestr(got, "\r\nTE:") &&
                          !strcasestr(got, "Expect") && !strcasestr(got, "Upgrade") &&
                          !strcasestr(got, "X-Trailer"),
                      "case %zu: %s", i, got);
        free(seen);
    }
}
END_TEST

START_TEST(invalid_upstream_heads_are_502_and_the_gateway_keeps_serving)
{
    static const char *paths[] = {"/echo/bighead", "/echo/twocl", "/echo/badline",
                                  "/echo/nothttp"};
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", bff.port);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct h_resp r;
        char          u[256];
        snprintf(u, sizeof(u), "%s%s", base, paths[i]);
        ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
        ck_assert_msg(r.status == 502, "%s: %ld", paths[i], (long)r.status);
        ck_assert_str_eq(h_header(&r, "Content-Type"), "application/problem+json");
        h_resp_free(&r);
        snprintf(u, sizeof(u), "%s/echo/fine", base);
        ck_assert_int_eq(h_http("GET", u, NULL, NULL, &r), 0);
        ck_assert_int_eq(r.status, 200);
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(libmicrohttpd_errors_are_problem_json)
{
    static char big[80000];
    char        out[16384];
    int         closed;
    snprintf(big, sizeof(big), "GET /echo HTTP/1.1\r\n" H "X-A: ");
    memset(big + strlen(big), 'a', 70000);
    strcat(big, "\r\n\r\n");
    exchange(big, strlen(big), out, sizeof(out), &closed);
    ck_assert_msg(strncmp(out, "HTTP/1.1 431 ", 13) == 0, "%.80s", out);
    ck_assert_ptr_nonnull(strstr(out, "application/problem+json"));
    ck_assert_ptr_nonnull(strstr(out, "\"status\":431"));

    static const char chunk[] = "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
                                "zz\r\nabc\r\n0\r\n\r\n";
    exchange(chunk, sizeof(chunk) - 1, out, sizeof(out), &closed);
    ck_assert_msg(strncmp(out, "HTTP/1.1 400 ", 13) == 0, "%.80s", out);
    ck_assert_ptr_nonnull(strstr(out, "application/problem+json"));
    ck_assert(closed);
}
END_TEST

static Suite *frontdoor_suite(void)
{
    Suite *s = suite_create("e2e_frontdoor");
    TCase *tc = tcase_create("frontdoor");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, refused_heads_never_reach_the_service_and_close);
    tcase_add_test(tc, legal_variants_reach_the_service_framed_by_the_gateway);
    tcase_add_test(tc, invalid_upstream_heads_are_502_and_the_gateway_keeps_serving);
    tcase_add_test(tc, libmicrohttpd_errors_are_problem_json);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_run_suite(frontdoor_suite());
}
