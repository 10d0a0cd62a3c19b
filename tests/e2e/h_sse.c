/* tests/e2e/h_sse.c — see h_sse.h */
#include "h_sse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX (4u << 20) /* a test stream never gets near this */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap ? *cap : 4096;
    char  *p;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    if (c > BUF_MAX)
        return -1;
    p = realloc(*buf, c);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

/* Waits until @deadline for bytes and appends them to raw. Returns 1 when
 * some came, 0 at the peer's close, -1 at the deadline or an error. */
static int read_some(struct h_sse *s, long long deadline)
{
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    long long     left = deadline - now_ms();
    ssize_t       n;

    if (left < 0)
        left = 0;
    if (poll(&pfd, 1, (int)left) <= 0)
        return -1;
    if (grow(&s->raw, &s->raw_cap, s->raw_len + 4096) != 0)
        return -1;
    n = recv(s->fd, s->raw + s->raw_len, 4096, 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (n == 0)
        return 0;
    s->raw_len += (size_t)n;
    return 1;
}

static void drop_raw(struct h_sse *s, size_t n)
{
    memmove(s->raw, s->raw + n, s->raw_len - n);
    s->raw_len -= n;
}

/* Appends @n bytes to body, CRs dropped (SSE's CRLF and LF read the same). */
static int body_add(struct h_sse *s, const char *p, size_t n)
{
    if (grow(&s->body, &s->body_cap, s->body_len + n + 1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r')
            s->body[s->body_len++] = p[i];
    s->body[s->body_len] = '\0';
    return 0;
}

/* De-chunks what raw holds. Returns 0, or -1 on bad framing. */
static int decode(struct h_sse *s)
{
    if (!s->chunked) {
        if (body_add(s, s->raw, s->raw_len) != 0)
            return -1;
        s->raw_len = 0;
        return 0;
    }
    while (!s->last_chunk) {
        if (s->chunk_left > 0) {
            size_t n = s->raw_len < s->chunk_left ? s->raw_len : s->chunk_left;

            if (n == 0)
                return 0;
            if (body_add(s, s->raw, n) != 0)
                return -1;
            drop_raw(s, n);
            s->chunk_left -= n;
            if (s->chunk_left == 0)
                s->chunk_crlf = 1;
            continue;
        }
        if (s->chunk_crlf) {
            if (s->raw_len < 2)
                return 0;
            if (s->raw[0] != '\r' || s->raw[1] != '\n')
                return -1;
            drop_raw(s, 2);
            s->chunk_crlf = 0;
            continue;
        }
        char *eol = memchr(s->raw, '\n', s->raw_len);
        if (eol == NULL)
            return s->raw_len > 64 ? -1 : 0;
        char          line[80];
        size_t        ll = (size_t)(eol - s->raw);
        char         *end;
        unsigned long size;

        if (ll == 0 || ll >= sizeof(line) || s->raw[ll - 1] != '\r')
            return -1;
        memcpy(line, s->raw, ll - 1);
        line[ll - 1] = '\0';
        if (!isxdigit((unsigned char)line[0]))
            return -1;
        size = strtoul(line, &end, 16);
        if (*end != '\0' && *end != ';')
            return -1;
        drop_raw(s, ll + 1);
        if (size == 0)
            s->last_chunk = 1; /* trailers and the final CRLF are not needed */
        else
            s->chunk_left = size;
    }
    return 0;
}

int h_sse_open(struct h_sse *s, int port, const char *path, const char *const *headers)
{
    struct sockaddr_in a = {0};
    char               req[4096];
    size_t             len = 0;
    long long          deadline = now_ms() + 5000;
    char              *end;

    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto fail;
    len = (size_t)snprintf(req, sizeof(req),
                           "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Accept: text/event-stream\r\n",
                           path, port);
    for (size_t i = 0; headers != NULL && headers[i] != NULL && len < sizeof(req); i++)
        len += (size_t)snprintf(req + len, sizeof(req) - len, "%s\r\n", headers[i]);
    if (len + 3 > sizeof(req))
        goto fail;
    memcpy(req + len, "\r\n", 3);
    len += 2;
    for (size_t off = 0; off < len;) {
        ssize_t w = send(s->fd, req + off, len - off, MSG_NOSIGNAL);

        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    for (;;) {
        if (s->raw_len > 0) {
            if (grow(&s->raw, &s->raw_cap, s->raw_len + 1) != 0)
                goto fail;
            s->raw[s->raw_len] = '\0';
            end = strstr(s->raw, "\r\n\r\n");
            if (end != NULL)
                break;
        }
        if (s->raw_len >= sizeof(s->head) - 1 || read_some(s, deadline) != 1)
            goto fail;
    }
    len = (size_t)(end - s->raw) + 4;
    memcpy(s->head, s->raw, len);
    s->head[len] = '\0';
    drop_raw(s, len);
    if (sscanf(s->head, "HTTP/1.%*c %d", &s->status) != 1)
        goto fail;
    const char *te = h_sse_header(s, "Transfer-Encoding");
    s->chunked = te != NULL && strcasecmp(te, "chunked") == 0;
    return decode(s) == 0 ? 0 : -1;
fail:
    h_sse_close(s);
    return -1;
}

const char *h_sse_header(const struct h_sse *s, const char *name)
{
    static char value[1024];
    size_t      n = strlen(name);

    for (const char *p = strstr(s->head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e = strstr(v, "\r\n");

            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(value, sizeof(value), "%.*s", (int)(e != NULL ? e - v : 0), v);
            return value;
        }
    }
    return NULL;
}

/* Parses the block @b (@n bytes, without its blank line) into @ev. */
static void parse_block(const char *b, size_t n, struct h_sse_event *ev)
{
    size_t data_len = 0;

    memset(ev, 0, sizeof(*ev));
    while (n > 0) {
        const char *eol = memchr(b, '\n', n);
        size_t      ll = eol != NULL ? (size_t)(eol - b) : n;
        const char *colon = memchr(b, ':', ll);
        size_t      kl = colon != NULL ? (size_t)(colon - b) : ll;
        const char *v = colon != NULL ? colon + 1 : b + ll;
        size_t      vl = (size_t)(b + ll - v);

        if (vl > 0 && *v == ' ') {
            v++;
            vl--;
        }
        if (kl == 0) {
            snprintf(ev->comment, sizeof(ev->comment), "%.*s", (int)vl, v);
        } else if (kl == 2 && strncmp(b, "id", 2) == 0) {
            snprintf(ev->id, sizeof(ev->id), "%.*s", (int)vl, v);
        } else if (kl == 5 && strncmp(b, "event", 5) == 0) {
            snprintf(ev->event, sizeof(ev->event), "%.*s", (int)vl, v);
        } else if (kl == 4 && strncmp(b, "data", 4) == 0) {
            if (ev->has_data && data_len + 1 < sizeof(ev->data))
                ev->data[data_len++] = '\n';
            if (vl > sizeof(ev->data) - 1 - data_len)
                vl = sizeof(ev->data) - 1 - data_len;
            memcpy(ev->data + data_len, v, vl);
            data_len += vl;
            ev->data[data_len] = '\0';
            ev->has_data = 1;
        }
        if (eol == NULL)
            break;
        n -= ll + 1;
        b = eol + 1;
    }
}

int h_sse_next(struct h_sse *s, struct h_sse_event *ev, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        char *end = s->body_len > 0 ? strstr(s->body, "\n\n") : NULL;

        if (end != NULL) {
            size_t n = (size_t)(end - s->body);

            parse_block(s->body, n, ev);
            memmove(s->body, end + 2, s->body_len - n - 2 + 1);
            s->body_len -= n + 2;
            return 0;
        }
        if (s->last_chunk || (s->eof && !s->chunked))
            return 1;
        if (s->eof || s->fd < 0)
            return -2;
        int r = read_some(s, deadline);
        if (r < 0)
            return -1;
        if (r == 0)
            s->eof = 1;
        if (decode(s) != 0)
            return -2;
    }
}

int h_sse_next_event(struct h_sse *s, struct h_sse_event *ev, int timeout_ms,
                     int *pings)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        long long left = deadline - now_ms();
        int       rc = h_sse_next(s, ev, left > 0 ? (int)left : 0);

        if (rc != 0)
            return rc;
        if (ev->has_data || ev->id[0] != '\0' || ev->event[0] != '\0')
            return 0;
        if (pings != NULL && strcmp(ev->comment, "ping") == 0)
            (*pings)++;
    }
}

void h_sse_close(struct h_sse *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->raw);
    free(s->body);
    s->raw = s->body = NULL;
    s->raw_len = s->raw_cap = s->body_len = s->body_cap = 0;
}
