/* bench/stream-bench.c — the service and the clients of bench/stream.sh.
 *
 *   stream-bench upstream             a service on a free loopback port (its
 *                                     port on stdout): GET …/bytes/N answers N
 *                                     bytes (Content-Length), GET …/sse opens an
 *                                     event stream (": ping" first), GET …/fire
 *                                     sends one event to every open stream,
 *                                     POST … reads the body (Content-Length or
 *                                     chunked) and answers {"bytes":N}
 *   stream-bench upload PORT PATH BYTES [chunked]
 *                                     sends BYTES as fast as the socket takes
 *                                     them; prints "bytes seconds answer"
 *   stream-bench sse PORT PATH K UPSTREAM_PORT GATEWAY_PID
 *                                     opens K event streams through the
 *                                     gateway, reads the gateway's VmRSS once
 *                                     all are open, fires one event at the
 *                                     service and times its arrival on all K
 *
 * One thread, epoll; everything on 127.0.0.1. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char big[256 * 1024];

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int tcp_connect(int port, int nb)
{
    struct sockaddr_in a = {0};
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (nb)
        nonblock(fd);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the service ---------------------------------------------------------- */
enum { S_HEAD, S_BYTES, S_BODY, S_SSE };

struct conn {
    int         fd, state;
    char        in[8192];
    size_t      inlen;
    char        out[512];
    size_t      outlen, outoff;
    long long   left;    /* S_BYTES: body bytes to send; S_BODY: Content-Length left */
    int         chunked; /* S_BODY */
    int         cst;     /* chunk parser state */
    long long   csz, got;
    struct conn *next_sse, *prev_sse;
};

static int          ep;
static struct conn *sse_head;
static int          nsse, fired;

static void want_out(struct conn *c, int on)
{
    struct epoll_event e = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void drop(struct conn *c)
{
    if (c->state == S_SSE) {
        if (c->prev_sse)
            c->prev_sse->next_sse = c->next_sse;
        else
            sse_head = c->next_sse;
        if (c->next_sse)
            c->next_sse->prev_sse = c->prev_sse;
        nsse--;
    }
    close(c->fd);
    free(c);
}

static void reply(struct conn *c, const char *s)
{
    size_t n = strlen(s);
    if (n > sizeof(c->out))
        n = sizeof(c->out);
    memcpy(c->out, s, n);
    c->outlen = n;
    c->outoff = 0;
}

/* Writes what is pending. Returns -1 when the connection is gone. */
static int flush(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            want_out(c, 1);
            return 0;
        }
        if (w <= 0)
            return -1;
        c->outoff += (size_t)w;
    }
    while (c->state == S_BYTES && c->left > 0) {
        size_t  n = c->left < (long long)sizeof(big) ? (size_t)c->left : sizeof(big);
        ssize_t w = send(c->fd, big, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            want_out(c, 1);
            return 0;
        }
        if (w <= 0)
            return -1;
        c->left -= w;
    }
    if (c->state == S_BYTES)
        c->state = S_HEAD;
    want_out(c, 0);
    return 0;
}

/* Consumes body bytes; returns 1 when the body is complete. */
static int body(struct conn *c, const char *p, size_t n)
{
    if (!c->chunked) {
        long long k = (long long)n < c->left ? (long long)n : c->left;
        c->left -= k;
        c->got += k;
        return c->left == 0;
    }
    const char *e = p + n;
    while (p < e) {
        char ch;
        switch (c->cst) {
        case 0: /* size line */
            ch = *p++;
            if (ch >= '0' && ch <= '9')
                c->csz = c->csz * 16 + (ch - '0');
            else if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
                c->csz = c->csz * 16 + ((ch | 32) - 'a' + 10);
            else if (ch == '\n')
                c->cst = c->csz ? 1 : 4;
            break;
        case 1: { /* data */
            long long k = (long long)(e - p) < c->csz ? (long long)(e - p) : c->csz;
            p += k;
            c->csz -= k;
            c->got += k;
            if (!c->csz)
                c->cst = 2;
            break;
        }
        case 2: /* CRLF after data */
            if (*p++ == '\n') {
                c->cst = 0;
                c->csz = 0;
            }
            break;
        case 4: /* trailer line start */
            ch = *p++;
            if (ch == '\n')
                return 1;
            if (ch != '\r')
                c->cst = 5;
            break;
        case 5:
            if (*p++ == '\n')
                c->cst = 4;
            break;
        }
    }
    return 0;
}

static void answer_body(struct conn *c)
{
    char b[160], j[64];
    int  n = snprintf(j, sizeof(j), "{\"bytes\":%lld}", c->got);
    snprintf(b, sizeof(b),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
             n, j);
    reply(c, b);
    c->state = S_HEAD;
}

static int on_head(struct conn *c, size_t hl)
{
    char *h = c->in, *nl = strstr(h, "\r\n");
    char  line[256] = "";
    if (nl && (size_t)(nl - h) < sizeof(line))
        memcpy(line, h, (size_t)(nl - h));
    const char *cl = strcasestr(h, "\r\ncontent-length:");
    const char *te = strcasestr(h, "\r\ntransfer-encoding:");
    size_t      rest = c->inlen - hl;
    char        b[512];

    if (strncmp(line, "POST ", 5) == 0 || strncmp(line, "PUT ", 4) == 0) {
        c->state = S_BODY;
        c->chunked = te && te < h + hl && strncasecmp(te + 20, " chunked", 8) == 0;
        c->left = !c->chunked && cl ? atoll(cl + 17) : 0;
        c->cst = 0;
        c->csz = c->got = 0;
        int done = body(c, c->in + hl, rest);
        c->inlen = 0;
        if (done || (!c->chunked && c->left == 0))
            answer_body(c);
        return flush(c);
    }
    c->inlen = 0;
    if (strstr(line, "/fire")) {
        fired++;
        int  n = snprintf(b, sizeof(b), "data: fire %d\n\n", fired);
        char chunk[128];
        int  m = snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", n, b);
        int  sent = 0, failed = 0;
        for (struct conn *s = sse_head; s; s = s->next_sse)
            if (send(s->fd, chunk, (size_t)m, MSG_NOSIGNAL) == m)
                sent++;
            else
                failed++;
        char j[64];
        int  jn = snprintf(j, sizeof(j), "{\"sent\":%d,\"failed\":%d}", sent, failed);
        snprintf(b, sizeof(b), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", jn, j);
        reply(c, b);
        return flush(c);
    }
    if (strstr(line, "/sse")) {
        reply(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "8\r\n: ping\n\n\r\n");
        c->state = S_SSE;
        c->next_sse = sse_head;
        c->prev_sse = NULL;
        if (sse_head)
            sse_head->prev_sse = c;
        sse_head = c;
        nsse++;
        return flush(c);
    }
    const char *by = strstr(line, "/bytes/");
    long long   n = by ? atoll(by + 7) : 2;
    snprintf(b, sizeof(b),
             "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
             "Content-Length: %lld\r\n\r\n", n);
    reply(c, b);
    c->state = S_BYTES;
    c->left = n;
    return flush(c);
}

static int on_read(struct conn *c)
{
    for (;;) {
        if (c->state == S_BODY) {
            ssize_t r = recv(c->fd, big, sizeof(big), 0);
            if (r < 0 && errno == EAGAIN)
                return 0;
            if (r <= 0)
                return -1;
            if (body(c, big, (size_t)r)) {
                answer_body(c);
                return flush(c);
            }
            continue;
        }
        if (c->inlen >= sizeof(c->in) - 1)
            return -1;
        ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen, 0);
        if (r < 0 && errno == EAGAIN)
            return 0;
        if (r <= 0)
            return -1;
        if (c->state != S_HEAD)
            continue; /* nothing is expected while sending or streaming */
        c->inlen += (size_t)r;
        c->in[c->inlen] = '\0';
        char *e = strstr(c->in, "\r\n\r\n");
        if (e && on_head(c, (size_t)(e + 4 - c->in)) != 0)
            return -1;
    }
}

static int run_upstream(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t          al = sizeof(a);
    int                lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 4096) != 0) {
        perror("stream-bench: listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&a, &al);
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    nonblock(lfd);
    ep = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept(lfd, NULL, NULL)) >= 0) {
                    nonblock(fd);
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *k = calloc(1, sizeof(*k));
                    k->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = k};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int bad = 0;
            if (ev[i].events & (EPOLLERR | EPOLLHUP))
                bad = 1;
            if (!bad && (ev[i].events & EPOLLOUT))
                bad = flush(c) != 0;
            if (!bad && (ev[i].events & EPOLLIN))
                bad = on_read(c) != 0;
            if (bad)
                drop(c);
        }
    }
}

/* ---- an upload ------------------------------------------------------------ */
static int run_upload(int port, const char *path, long long n, int chunked)
{
    int fd = tcp_connect(port, 0);
    if (fd < 0) {
        perror("stream-bench: connect");
        return 1;
    }
    char   h[512];
    double t0 = now_s();
    if (chunked)
        snprintf(h, sizeof(h),
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n", path);
    else
        snprintf(h, sizeof(h),
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Length: %lld\r\n\r\n", path, n);
    if (send_all(fd, h, strlen(h)) != 0)
        return 1;
    for (long long off = 0; off < n;) {
        size_t k = n - off < (long long)sizeof(big) ? (size_t)(n - off) : sizeof(big);
        char   sz[32];
        if (chunked) {
            int m = snprintf(sz, sizeof(sz), "%zx\r\n", k);
            if (send_all(fd, sz, (size_t)m) != 0)
                return 1;
        }
        if (send_all(fd, big, k) != 0 || (chunked && send_all(fd, "\r\n", 2) != 0)) {
            fprintf(stderr, "stream-bench: upload stopped at %lld\n", off);
            return 1;
        }
        off += (long long)k;
    }
    if (chunked && send_all(fd, "0\r\n\r\n", 5) != 0)
        return 1;
    char   in[4096];
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, in + got, sizeof(in) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        in[got] = '\0';
        char *e = strstr(in, "\r\n\r\n");
        const char *cl = strcasestr(in, "\r\ncontent-length:");
        if (e && cl && got >= (size_t)(e + 4 - in) + (size_t)atol(cl + 17))
            break;
    }
    in[got] = '\0';
    double t = now_s() - t0;
    char  *e = strstr(in, "\r\n\r\n");
    printf("%lld\t%.3f\t%s\n", n, t, e ? e + 4 : "(no answer)");
    close(fd);
    return strncmp(in, "HTTP/1.1 200", 12) == 0 ? 0 : 1;
}

/* ---- K event streams -------------------------------------------------------- */
struct sc {
    int    fd, state; /* 0 connecting, 1 head sent, 2 ping seen, 3 event seen */
    size_t sent;
    char   buf[1024];
    size_t len;
};

static long rss_kib(int pid)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

static int fire(int port, char *out, size_t cap)
{
    int fd = tcp_connect(port, 0);
    if (fd < 0)
        return -1;
    const char *req = "GET /fire HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    send_all(fd, req, strlen(req));
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = '\0';
        if (strstr(out, "}"))
            break;
    }
    out[got] = '\0';
    close(fd);
    return 0;
}

static int run_sse(int port, const char *path, int k, int upport, int pid)
{
    struct sc *s = calloc((size_t)k, sizeof(*s));
    char       req[512];
    int        rl = snprintf(req, sizeof(req),
                             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
                             path);
    int        e = epoll_create1(0), opened = 0, pinged = 0, pending = 0, failed = 0;
    long       rss0 = rss_kib(pid);
    double     t0 = now_s();
    struct epoll_event ev[512];
    char       want[64];

    ep = e;
    while (pinged + failed < k) {
        /* at most 256 handshakes at a time: the listen backlog stays short */
        while (opened < k && pending < 256) {
            struct sc *c = &s[opened++];
            c->fd = tcp_connect(port, 1);
            if (c->fd < 0) {
                failed++;
                continue;
            }
            struct epoll_event x = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
            epoll_ctl(e, EPOLL_CTL_ADD, c->fd, &x);
            pending++;
        }
        int n = epoll_wait(e, ev, 512, 10000);
        if (n == 0) {
            fprintf(stderr, "stream-bench: 10 s without progress (%d of %d open)\n", pinged, k);
            break;
        }
        for (int i = 0; i < n; i++) {
            struct sc *c = ev[i].data.ptr;
            if (ev[i].events & (EPOLLERR | EPOLLHUP)) {
                failed++, pending--;
                epoll_ctl(e, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->state = -1;
                continue;
            }
            if (c->state == 0 && (ev[i].events & EPOLLOUT)) {
                if (send(c->fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
                    failed++, pending--;
                    continue;
                }
                c->state = 1;
                struct epoll_event x = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(e, EPOLL_CTL_MOD, c->fd, &x);
            }
            if (ev[i].events & EPOLLIN) {
                ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
                if (r <= 0) {
                    failed++, pending--;
                    epoll_ctl(e, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->state = -1;
                    continue;
                }
                c->len += (size_t)r;
                c->buf[c->len] = '\0';
                if (c->state == 1 && strstr(c->buf, "\r\n\r\n") &&
                    strncmp(c->buf, "HTTP/1.1 200", 12) != 0) {
                    if (!failed)
                        fprintf(stderr, "stream-bench: a stream was refused: %.60s\n", c->buf);
                    failed++, pending--;
                    epoll_ctl(e, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->state = -1;
                } else if (c->state == 1 && strstr(c->buf, ": ping\n\n")) {
                    pinged++, pending--;
                    c->state = 2;
                    c->len = 0;
                }
            }
        }
    }
    double t_open = now_s() - t0;
    long   rss1 = rss_kib(pid);

    char out[512] = "";
    double t1 = now_s();
    fire(upport, out, sizeof(out));
    snprintf(want, sizeof(want), "data: fire");
    int got = 0;
    while (got < pinged) {
        int n = epoll_wait(e, ev, 512, 10000);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            struct sc *c = ev[i].data.ptr;
            if (c->state != 2)
                continue;
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
            if (r <= 0) {
                c->state = -1;
                epoll_ctl(e, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            c->len += (size_t)r;
            c->buf[c->len] = '\0';
            if (strstr(c->buf, want)) {
                c->state = 3;
                got++;
            }
        }
    }
    double t_event = now_s() - t1;
    long   rss2 = rss_kib(pid);
    /* K  open  failed  rss_before  rss_open  KiB/stream  open_s  event_reached  event_ms  rss_after_event */
    printf("%d\t%d\t%d\t%ld\t%ld\t%.1f\t%.2f\t%d\t%.1f\t%ld\n", k, pinged, failed, rss0, rss1,
           pinged ? (double)(rss1 - rss0) / pinged : 0.0, t_open, got, t_event * 1000.0, rss2);
    for (int i = 0; i < opened; i++)
        if (s[i].state >= 0 && s[i].fd > 0)
            close(s[i].fd);
    free(s);
    return got == k && !failed ? 0 : 1;
}

int main(int argc, char **argv)
{
    memset(big, 'x', sizeof(big));
    if (argc >= 2 && strcmp(argv[1], "upstream") == 0)
        return run_upstream();
    if (argc >= 5 && strcmp(argv[1], "upload") == 0)
        return run_upload(atoi(argv[2]), argv[3], atoll(argv[4]),
                          argc >= 6 && strcmp(argv[5], "chunked") == 0);
    if (argc >= 7 && strcmp(argv[1], "sse") == 0)
        return run_sse(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    fprintf(stderr, "usage: stream-bench upstream | upload PORT PATH BYTES [chunked] | "
                    "sse PORT PATH K UPSTREAM_PORT GATEWAY_PID\n");
    return 2;
}
