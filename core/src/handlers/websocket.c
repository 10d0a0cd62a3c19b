/* core/src/handlers/websocket.c — WebSocket on proxy routes (websocket.h)
 *
 * One WebSocket is a request object that lives on after its 101: the
 * request (and its arena, where struct bff_ws lives) completes only once
 * both connections are closed. Its life:
 *
 *   CONNECTING  non-blocking connect to the service (connect_timeout)
 *   HANDSHAKE   the upgrade request out, the service's head in (timeout,
 *               counted from the start; max_header_bytes)
 *   BODY        a service that did not switch: its answer's body (max_body),
 *               then passed on as an ordinary answer
 *   UPGRADING   the 101 queued to the client, libmicrohttpd sending it
 *   OPEN        bytes moved both ways, WS_BUF_BYTES buffered per direction
 *               (idle_timeout: no byte either way closes both)
 *   CLOSING     one side closed: what it sent goes to the other side
 *               (WS_LINGER_MS at most), then both are closed
 *
 * No frame is interpreted: pings, pongs and close frames pass as bytes;
 * only where each frame ends is followed (struct ws_track), so that the
 * gateway can put a close frame of its own between two frames when it
 * ends a WebSocket itself (idle_timeout, drain). The
 * service's socket and the client's are in the worker's epoll set (tags
 * TAG_WS_UP and TAG_WS_CLIENT, the struct as payload), level-triggered; the
 * deadlines are swept from one timerfd per worker (TAG_WS_TIMER), armed
 * every WS_SWEEP_MS while the worker has a WebSocket. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/rand.h"
#include "bff/err.h"
#include "bff/http_strict.h"
#include "bff/headers.h"
#include "bff/util.h"
#include "handlers/handlers.h"
#include "handlers/websocket.h"
#include "request/request.h"
#include "request/upgrade.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"
#include "types/snapshot-t.h"
#include "types/tags-t.h"
#include "types/worker-t.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_HEADERS 64 /* in the service's answer */

enum ws_state {
    WS_CONNECTING,
    WS_HANDSHAKE,
    WS_BODY,
    WS_UPGRADING,
    WS_OPEN,
    WS_CLOSING,
    WS_DONE,
};

/* Where the frames of one direction end (RFC 6455 §5.2), read from the
 * bytes as they cross: at a boundary when no header is half read and no
 * payload is left. */
struct ws_track {
    uint8_t  hdr[14];
    uint8_t  hlen, need;
    uint64_t left; /* payload bytes of the current frame still to come */
};

/* Bytes read from one side, waiting to be written to the other. */
struct ws_pipe {
    char  *buf;
    size_t off, len, cap;
};

/* Side 0 is the client, side 1 the service; pipe i carries what side i
 * sent to side 1 - i. */
struct bff_ws {
    struct bff_request *r;
    struct bff_worker  *w;
    struct bff_ws      *prev, *next; /* the worker's list */
    enum ws_state       state;
    int                 fd[2];
    int                 reg[2]; /* fd[i] is in the epoll set */
    uint32_t            ev[2];  /* its interest there */
    void               *handle; /* libmicrohttpd's, once upgraded */
    struct ws_pipe      p[2];
    struct ws_track     trk[2];      /* the frames of pipe i */
    int                 closed_side; /* CLOSING: the side that closed */
    const char         *req;         /* the upgrade request (request memory) */
    size_t              req_len, req_off;
    char               *in; /* the service's answer: head, then body */
    size_t              in_len, in_cap, head_end;
    int                 status;
    int64_t             clen; /* Content-Length of a non-101, -1 = none */
    int                 chunked;
    struct bff_hdr     *rh; /* a non-101's fields to pass on */
    size_t              nrh;
    const char         *ctype;
    char                accept[29];
    uint64_t            start_ms;
    uint64_t            deadline_ms;
    uint64_t            last_io_ms;
    uint32_t            idle_ms;
    int64_t             slot;
    int                 releasing; /* in the worker's releasing list */
    uint64_t            release_until_ms;
    uint64_t            bytes_in, bytes_out; /* from / to the client, after the 101 */
    uint64_t            start_us;
};

struct ws_worker {
    int            tfd;
    long           armed_ms;  /* the timer's interval now; 0 = off */
    struct bff_ws *list;      /* open (and opening) WebSockets */
    struct bff_ws *releasing; /* TLS: handed back, not yet completed */
};

/* ---- pure parts ------------------------------------------------------------ */

int ws_accept_key(const char *key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen = 0;
    char          buf[128];
    size_t        kl = strlen(key);

    if (kl > sizeof(buf) - sizeof(WS_GUID))
        return -1;
    memcpy(buf, key, kl);
    memcpy(buf + kl, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(buf, kl + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars and a NUL */
    return 0;
}

/* A Sec-WebSocket-Key: base64 of 16 bytes (RFC 6455 §4.1), 24 characters. */
static int key_valid(const char *k)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!k || strlen(k) != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (int i = 0; i < 22; i++)
        if (!memchr(b64, k[i], sizeof(b64) - 1))
            return 0;
    /* 16 bytes end on 4 bits of the 22nd character; the rest must be 0 */
    return (strchr(b64, k[21]) - b64) % 16 == 0;
}

struct ws_head {
    int            status;
    struct bff_hdr h[WS_MAX_HEADERS];
    size_t         n;
};

/* Parses the service's head in @buf (@end bytes, the last four CRLFCRLF),
 * cutting names and values in place. Returns 0, or -1 when it is not a
 * valid HTTP/1.x head (SPEC §4: a 502). */
static int parse_head(char *buf, size_t end, struct ws_head *h)
{
    char *p = buf, *lim = buf + end - 2; /* the last CRLF ends the section */

    h->n = 0;
    if (end < 16 || strncmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ')
        return -1;
    p += 9;
    if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' ||
        p[2] > '9')
        return -1;
    h->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    if (*p != ' ' && *p != '\r')
        return -1;
    for (; p < lim && *p != '\r'; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return -1;
    if (p >= lim || p[1] != '\n')
        return -1;
    p += 2;
    while (p < lim) { /* each field line held to the proxy's rule (http_strict) */
        char *eol = memchr(p, '\r', (size_t)(lim - p)), *colon, *v, *e;
        if (!eol || eol[1] != '\n' || h->n >= WS_MAX_HEADERS ||
            bff_http_check_field_line(p, (size_t)(eol - p)) != 0)
            return -1; /* obs-fold, a blank before the colon, too many fields */
        colon = memchr(p, ':', (size_t)(eol - p));
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        e = eol;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *colon = '\0';
        *e = '\0';
        h->h[h->n++] = (struct bff_hdr){p, v};
        p = eol + 2;
    }
    return 0;
}

static const char *head_get(const struct ws_head *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->h[i].name, name) == 0)
            return h->h[i].value;
    return NULL;
}

/* Decodes the chunked body @in (@n bytes) into @out (at least @n bytes).
 * Returns 1 when complete (*@outlen set), 0 when more is needed, -1 when
 * it is not valid chunked coding. Trailer fields are read and dropped. */
static int dechunk(const char *in, size_t n, char *out, size_t *outlen)
{
    size_t i = 0, o = 0;
    for (;;) {
        uint64_t sz = 0;
        int      digits = 0;
        for (; i < n; i++, digits++) {
            char c = in[i];
            int  d = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : -1;
            if (d < 0)
                break;
            if (sz > (UINT64_MAX >> 4))
                return -1;
            sz = sz * 16 + (uint64_t)d;
        }
        if (i >= n)
            return 0;
        if (!digits)
            return -1;
        while (i < n && in[i] != '\n') /* chunk extensions */
            i++;
        if (i >= n)
            return 0;
        i++;
        if (sz == 0) { /* trailers, up to an empty line */
            for (;;) {
                const char *nl = memchr(in + i, '\n', n - i);
                if (!nl)
                    return 0;
                size_t ll = (size_t)(nl - (in + i));
                i += ll + 1;
                if (ll == 0 || (ll == 1 && in[i - 2] == '\r')) {
                    *outlen = o;
                    return 1;
                }
            }
        }
        if (sz > n - i)
            return 0;
        memcpy(out + o, in + i, sz);
        o += sz;
        i += sz;
        if (n - i < 2)
            return 0;
        if (in[i] != '\r' || in[i + 1] != '\n')
            return -1;
        i += 2;
    }
}

static void track(struct ws_track *t, const unsigned char *p, size_t n)
{
    while (n) {
        if (t->left) {
            uint64_t k = t->left < n ? t->left : n;
            t->left -= k;
            p += k;
            n -= (size_t)k;
            continue;
        }
        t->hdr[t->hlen++] = *p++;
        n--;
        if (t->hlen == 2) {
            unsigned l7 = t->hdr[1] & 0x7f;
            t->need = (uint8_t)(2 +
                                (l7 == 126   ? 2
                                 : l7 == 127 ? 8
                                             : 0) +
                                (t->hdr[1] & 0x80 ? 4 : 0));
        }
        if (t->hlen >= 2 && t->hlen == t->need) {
            unsigned l7 = t->hdr[1] & 0x7f;
            uint64_t len = l7;
            if (l7 == 126) {
                len = ((uint64_t)t->hdr[2] << 8) | t->hdr[3];
            } else if (l7 == 127) {
                len = 0;
                for (int i = 0; i < 8; i++)
                    len = (len << 8) | t->hdr[2 + i];
            }
            t->left = len;
            t->hlen = t->need = 0;
        }
    }
}

static int at_boundary(const struct ws_track *t)
{
    return t->left == 0 && t->hlen == 0;
}

/* ---- the worker's list and timer ---------------------------------------- */

static struct ws_worker *worker_of(struct bff_worker *w)
{
    struct ws_worker  *ww = w->ws;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG(TAG_WS_TIMER, 0)};

    if (ww)
        return ww;
    ww = calloc(1, sizeof(*ww));
    if (!ww)
        return NULL;
    ww->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ww->tfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, ww->tfd, &ev) != 0) {
        if (ww->tfd >= 0)
            close(ww->tfd);
        free(ww);
        return NULL;
    }
    w->ws = ww;
    return ww;
}

/* Every WS_RELEASE_TICK_MS while a TLS connection is being handed back,
 * else every WS_SWEEP_MS while the worker has a WebSocket, else off. */
static void timer_update(struct ws_worker *ww)
{
    struct itimerspec its = {{0, 0}, {0, 0}};
    long ms = ww->releasing ? WS_RELEASE_TICK_MS : ww->list ? WS_SWEEP_MS : 0;
    if (ms == ww->armed_ms)
        return;
    its.it_interval.tv_nsec = its.it_value.tv_nsec = ms * 1000000L;
    timerfd_settime(ww->tfd, 0, &its, NULL);
    ww->armed_ms = ms;
}

static void list_add(struct bff_ws **head, struct bff_ws *ws)
{
    ws->prev = NULL;
    ws->next = *head;
    if (*head)
        (*head)->prev = ws;
    *head = ws;
}

static void list_del(struct bff_ws **head, struct bff_ws *ws)
{
    if (ws->prev)
        ws->prev->next = ws->next;
    else if (*head == ws)
        *head = ws->next;
    if (ws->next)
        ws->next->prev = ws->prev;
    ws->prev = ws->next = NULL;
}

/* r->cancel of a TLS WebSocket handed back: its request completed. */
static void ws_released(struct bff_request *r)
{
    struct bff_ws    *ws = r->ws;
    struct ws_worker *ww = r->w->ws;
    if (ws && ws->releasing && ww) {
        list_del(&ww->releasing, ws);
        ws->releasing = 0;
        timer_update(ww);
    }
}

/* ---- epoll interest ------------------------------------------------------ */

static uint64_t tag_of(struct bff_ws *ws, int side)
{
    return TAG(side ? TAG_WS_UP : TAG_WS_CLIENT, (uint64_t)(uintptr_t)ws);
}

/* Sets side @s's interest to @want (registering it the first time). */
static int interest(struct bff_ws *ws, int s, uint32_t want)
{
    struct epoll_event ev = {.events = want, .data.u64 = tag_of(ws, s)};
    if (ws->reg[s] && ws->ev[s] == want)
        return 0;
    if (epoll_ctl(ws->w->epfd, ws->reg[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, ws->fd[s],
                  &ev) != 0)
        return -1;
    ws->reg[s] = 1;
    ws->ev[s] = want;
    return 0;
}

static void unregister(struct bff_ws *ws, int s)
{
    if (ws->reg[s]) {
        epoll_ctl(ws->w->epfd, EPOLL_CTL_DEL, ws->fd[s], NULL);
        ws->reg[s] = 0;
    }
}

/* OPEN and CLOSING: read side s while its pipe has room, write it while
 * the pipe towards it has bytes. */
static int spliced_interest(struct bff_ws *ws)
{
    for (int s = 0; s < 2; s++) {
        uint32_t want = 0;
        if (ws->state == WS_CLOSING && s == ws->closed_side)
            continue; /* out of the set */
        if (ws->state == WS_OPEN && ws->p[s].len < ws->p[s].cap)
            want |= EPOLLIN;
        if (ws->p[1 - s].len > ws->p[1 - s].off)
            want |= EPOLLOUT;
        if (interest(ws, s, want) != 0)
            return -1;
    }
    return 0;
}

/* ---- the end -------------------------------------------------------------- */

/* The gateway ends an open WebSocket (idle_timeout, drain): a close frame
 * (1001, @why) to each side whose direction is between two frames with
 * nothing left to send, best effort (one non-blocking send); to the
 * service masked, as a client's frames are (RFC 6455 §5.3). */
static void goodbye(struct bff_ws *ws, const char *why)
{
    unsigned char f[2 + 4 + 125];
    size_t        rl = strlen(why) > 100 ? 100 : strlen(why);

    for (int side = 0; side < 2; side++) {
        const struct ws_pipe *towards = &ws->p[1 - side];
        size_t                n = 0;
        if (ws->fd[side] < 0 || towards->len > towards->off ||
            !at_boundary(&ws->trk[1 - side]))
            continue;
        f[n++] = 0x88; /* FIN, close */
        f[n++] = (unsigned char)((side ? 0x80 : 0) | (2 + rl));
        unsigned char mask[4] = {0, 0, 0, 0};
        if (side) {
            uint64_t m = bff_rand(&ws->w->rng);
            memcpy(mask, &m, 4);
            memcpy(f + n, mask, 4);
            n += 4;
        }
        unsigned char *pl = f + n;
        pl[0] = 1001 >> 8;
        pl[1] = 1001 & 0xff;
        memcpy(pl + 2, why, rl);
        for (size_t i = 0; i < 2 + rl; i++)
            pl[i] ^= mask[i % 4];
        n += 2 + rl;
        ssize_t k = send(ws->fd[side], f, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0 && side == 0)
            ws->bytes_out += (size_t)k;
    }
}

static void finish(struct bff_ws *ws, enum metrics_stream_end end)
{
    struct bff_request *r = ws->r;
    int                 upgraded;

    if (ws->state == WS_DONE)
        return;
    upgraded = ws->state >= WS_OPEN || ws->handle;
    if (ws->state == WS_OPEN && (end == METRICS_END_IDLE || end == METRICS_END_DRAIN))
        goodbye(ws,
                end == METRICS_END_IDLE ? "idle timeout" : "the gateway is stopping");
    ws->state = WS_DONE;
    unregister(ws, 0);
    unregister(ws, 1);
    if (ws->fd[1] >= 0)
        close(ws->fd[1]);
    ws->fd[1] = -1;
    int tls_release = ws->handle && ws->w->mhd_tls;
    if (ws->handle) /* libmicrohttpd closes the client's socket and completes r */
        req_upgrade_close(r, ws->handle);
    ws->handle = NULL;
    ws->fd[0] = -1;
    metrics_stream_close(ws->w, ws->slot, METRICS_STREAM_WEBSOCKET, end, ws->bytes_in,
                         ws->bytes_out);
    ws->slot = -1;
    if (upgraded) { /* what the access-log line says, when r completes */
        r->bytes_out = ws->bytes_out;
        r->body_len_total = ws->bytes_in;
    }
    for (int i = 0; i < 2; i++) {
        free(ws->p[i].buf);
        ws->p[i].buf = NULL;
        ws->p[i].off = ws->p[i].len = ws->p[i].cap = 0;
    }
    free(ws->in);
    ws->in = NULL;
    r->cancel = NULL;
    struct ws_worker *ww = ws->w->ws;
    if (!ww)
        return;
    list_del(&ww->list, ws);
    if (tls_release) {
        /* With TLS, libmicrohttpd forwards what is left and closes the
         * connection over several runs of its own that no event of ours
         * brings about: the timer runs it until the request completes. */
        ws->releasing = 1;
        ws->release_until_ms = bff_now_ms() + WS_RELEASE_MS;
        list_add(&ww->releasing, ws);
        r->cancel = ws_released;
    }
    timer_update(ww);
}

/* Before the 101: ends the attempt and answers the client. */
static void fail(struct bff_ws *ws, int status, const char *detail)
{
    struct bff_request *r = ws->r;
    const char         *svc = r->snap->cfg->services[r->route->service].name;

    req_add_timing(r, svc, (double)(bff_now_us() - ws->start_us) / 1000.0,
                   status == 504 ? "timeout" : "error");
    finish(ws, METRICS_END_BROKEN);
    req_problem(r, status, bff_arena_printf(&r->arena, "%s %s", svc, detail), NULL, 0);
}

/* r->cancel: the client left while it waited, the request completed before
 * the upgrade, or the gateway stops. */
static void ws_cancel(struct bff_request *r)
{
    struct bff_ws *ws = r->ws;
    if (ws)
        finish(ws, atomic_load_explicit(&r->w->stop, memory_order_relaxed)
                       ? METRICS_END_DRAIN
                       : METRICS_END_CLIENT);
}

/* ---- spliced -------------------------------------------------------------- */

/* Writes pipe @i to side 1 - i. Returns 0, or -1 when that side failed. */
static int flush(struct bff_ws *ws, int i)
{
    struct ws_pipe *p = &ws->p[i];
    while (p->len > p->off) {
        ssize_t n = send(ws->fd[1 - i], p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        p->off += (size_t)n;
        if (i == 1)
            ws->bytes_out += (size_t)n;
    }
    if (p->off == p->len)
        p->off = p->len = 0;
    return 0;
}

/* Reads side @s into pipe @s while it has room. Returns 1 at EOF, 0, or -1
 * on an error. */
static int fill(struct bff_ws *ws, int s)
{
    struct ws_pipe *p = &ws->p[s];
    if (p->off) {
        memmove(p->buf, p->buf + p->off, p->len - p->off);
        p->len -= p->off;
        p->off = 0;
    }
    while (p->len < p->cap) {
        ssize_t n = recv(ws->fd[s], p->buf + p->len, p->cap - p->len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        if (n == 0)
            return 1;
        size_t want = p->cap - p->len;
        track(&ws->trk[s], (const unsigned char *)p->buf + p->len, (size_t)n);
        p->len += (size_t)n;
        ws->last_io_ms = bff_now_ms();
        if (s == 0)
            ws->bytes_in += (size_t)n;
        if ((size_t)n < want)
            return 0; /* drained; level-triggered epoll says when there is more
                         (a recv less, to EAGAIN, per message) */
    }
    return 0;
}

static enum metrics_stream_end broken(int side)
{
    return side == 0 ? METRICS_END_CLIENT : METRICS_END_BROKEN;
}

static void spliced_event(struct bff_ws *ws, int s, uint32_t events)
{
    if (ws->state == WS_CLOSING && s == ws->closed_side)
        return; /* a late event of the side that is out of the set */
    if ((events & EPOLLOUT) && flush(ws, 1 - s) != 0) {
        finish(ws, broken(s));
        return;
    }
    if (ws->state == WS_OPEN && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        int rc = ws->p[s].len < ws->p[s].cap ? fill(ws, s) : 0;
        if (rc < 0 || (events & EPOLLERR)) {
            finish(ws, broken(s));
            return;
        }
        if (rc == 1 || (events & EPOLLHUP)) { /* side s is done: flush, then close */
            ws->state = WS_CLOSING;
            ws->closed_side = s;
            ws->deadline_ms = bff_now_ms() + WS_LINGER_MS;
            unregister(ws, s);
        }
        if (flush(ws, s) != 0) {
            finish(ws, broken(1 - s));
            return;
        }
    } else if (ws->state == WS_CLOSING && (events & (EPOLLHUP | EPOLLERR))) {
        finish(ws, broken(s));
        return;
    }
    if (ws->state == WS_CLOSING && ws->p[ws->closed_side].len == 0) {
        finish(ws, METRICS_END_COMPLETE);
        return;
    }
    if (spliced_interest(ws) != 0)
        finish(ws, METRICS_END_BROKEN);
}

/* The 101 is out: the client's socket is ours until req_upgrade_close. */
static void on_upgraded(void *cls, int fd, const char *extra, size_t nextra,
                        void *handle)
{
    struct bff_ws *ws = cls;

    ws->handle = handle;
    if (ws->state != WS_UPGRADING) { /* ended meanwhile (the gateway stops) */
        req_upgrade_close(ws->r, handle);
        ws->handle = NULL;
        return;
    }
    ws->fd[0] = fd; /* TCP_NODELAY: request/upgrade.c */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        finish(ws, METRICS_END_CLIENT);
        return;
    }
    if (nextra > ws->p[0].cap - ws->p[0].len) { /* pipelined past the head */
        char *nb = realloc(ws->p[0].buf, ws->p[0].len + nextra);
        if (!nb) {
            finish(ws, METRICS_END_BROKEN);
            return;
        }
        ws->p[0].buf = nb;
        ws->p[0].cap = ws->p[0].len + nextra;
    }
    memcpy(ws->p[0].buf + ws->p[0].len, extra, nextra);
    track(&ws->trk[0], (const unsigned char *)extra, nextra);
    ws->p[0].len += nextra;
    ws->bytes_in += nextra;
    ws->state = WS_OPEN;
    ws->last_io_ms = bff_now_ms();
    if (spliced_interest(ws) != 0)
        finish(ws, METRICS_END_BROKEN);
}

/* ---- the handshake with the service --------------------------------------- */

/* The service's 101 checked and passed on, or its answer passed on. */
static void on_head(struct bff_ws *ws)
{
    struct bff_request *r = ws->r;
    struct ws_head      h;
    struct bff_hdr      out[WS_MAX_HEADERS + 1];
    size_t              no = 0;
    const char         *svc = r->snap->cfg->services[r->route->service].name;

    if (parse_head(ws->in, ws->head_end, &h) != 0) {
        fail(ws, 502, "answered the upgrade with an invalid head");
        return;
    }
    ws->status = h.status;
    if (h.status != 101) {
        const char *cl = NULL, *te = NULL;
        for (size_t i = 0; i < h.n; i++) {
            if (strcasecmp(h.h[i].name, "Content-Length") == 0) {
                if (cl && strcmp(cl, h.h[i].value) != 0) {
                    fail(ws, 502, "answered with two Content-Lengths");
                    return;
                }
                cl = h.h[i].value;
            } else if (strcasecmp(h.h[i].name, "Transfer-Encoding") == 0) {
                te = h.h[i].value;
            }
        }
        if (h.status < 200) {
            fail(ws, 502, "answered the upgrade with an interim answer other than 101");
            return;
        }
        ws->clen = -1;
        if (te) {
            if (strcasecmp(te, "chunked") != 0) {
                fail(ws, 502, "answered with a transfer coding other than chunked");
                return;
            }
            ws->chunked = 1;
        } else if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (!*cl || *end || errno || cl[0] == '-' || cl[0] == '+') {
                fail(ws, 502, "answered with an invalid Content-Length");
                return;
            }
            ws->clen = (int64_t)v;
        }
        if (h.status == 204 || h.status == 304)
            ws->clen = 0, ws->chunked = 0;
        if (ws->clen > (int64_t)r->snap->cfg->limits.max_body) {
            fail(ws, 502, "answered with a body past max_body");
            return;
        }
        /* the fields to pass on, copied: ws->in moves as the body comes */
        ws->rh = bff_arena_alloc(&r->arena, (h.n + 1) * sizeof(*ws->rh));
        if (!ws->rh) {
            fail(ws, 500, "out of memory");
            return;
        }
        for (size_t i = 0; i < h.n; i++) {
            const char *n = h.h[i].name;
            if (strcasecmp(n, "Content-Type") == 0) {
                ws->ctype = bff_arena_strdup(&r->arena, h.h[i].value);
                continue;
            }
            if (strcasecmp(n, "X-Request-Id") == 0 || strcasecmp(n, "Date") == 0 ||
                !bff_header_forward_response(n, head_get(&h, "Connection")))
                continue;
            ws->rh[ws->nrh].name = bff_arena_strdup(&r->arena, n);
            ws->rh[ws->nrh].value = bff_arena_strdup(&r->arena, h.h[i].value);
            if (!ws->rh[ws->nrh].name || !ws->rh[ws->nrh].value) {
                fail(ws, 500, "out of memory");
                return;
            }
            ws->nrh++;
        }
        ws->state = WS_BODY;
        return;
    }
    /* 101: a WebSocket handshake, RFC 6455 §4.1 (the client's checks) */
    const char *up = head_get(&h, "Upgrade"), *conn = head_get(&h, "Connection");
    const char *acc = head_get(&h, "Sec-WebSocket-Accept");
    if (!up || strcasecmp(up, "websocket") != 0 ||
        !bff_header_in_connection(conn, "upgrade") || !acc ||
        strcmp(acc, ws->accept) != 0) {
        fail(ws, 502, "answered 101 without a valid WebSocket handshake");
        return;
    }
    out[no++] = (struct bff_hdr){"Upgrade", "websocket"};
    for (size_t i = 0; i < h.n; i++) {
        const char *n = h.h[i].name;
        if (strcasecmp(n, "X-Request-Id") == 0 || strcasecmp(n, "Date") == 0 ||
            strcasecmp(n, "Content-Type") == 0 || !bff_header_forward_response(n, conn))
            continue;
        out[no].name = bff_arena_strdup(&r->arena, n);
        out[no].value = bff_arena_strdup(&r->arena, h.h[i].value);
        if (!out[no].name || !out[no].value) {
            fail(ws, 500, "out of memory");
            return;
        }
        no++;
    }
    /* what the service sent after its head is the first of its frames */
    size_t extra = ws->in_len - ws->head_end;
    memcpy(ws->p[1].buf, ws->in + ws->head_end, extra);
    ws->p[1].len = extra;
    track(&ws->trk[1], (const unsigned char *)ws->p[1].buf, extra);
    free(ws->in);
    ws->in = NULL;
    /* out of the set until the client's socket is ours */
    unregister(ws, 1);
    ws->state = WS_UPGRADING;
    if (req_respond_upgrade(r, out, no, on_upgraded, ws) != 0) {
        fail(ws, 500, "out of memory");
        return;
    }
    req_add_timing(r, svc, (double)(bff_now_us() - ws->start_us) / 1000.0, NULL);
}

/* A non-101 answer's body in: passed on as an ordinary answer. */
static void body_event(struct bff_ws *ws, int eof)
{
    struct bff_request *r = ws->r;
    size_t              blen = ws->in_len - ws->head_end, len = 0;
    char               *body = NULL;
    uint64_t            max = r->snap->cfg->limits.max_body;

    if (ws->chunked) {
        body = malloc(blen + 1);
        if (!body) {
            fail(ws, 500, "out of memory");
            return;
        }
        int rc = dechunk(ws->in + ws->head_end, blen, body, &len);
        if (rc < 0 || (rc == 0 && eof)) {
            free(body);
            fail(ws, 502,
                 rc < 0 ? "answered with invalid chunked coding"
                        : "closed the connection in its answer's body");
            return;
        }
        if (rc == 0) {
            free(body);
            if (blen > max + max / 8 + 4096)
                fail(ws, 502, "answered with a body past max_body");
            return;
        }
        if (len > max) {
            free(body);
            fail(ws, 502, "answered with a body past max_body");
            return;
        }
    } else if (ws->clen >= 0) {
        if (blen < (uint64_t)ws->clen) {
            if (eof)
                fail(ws, 502, "closed the connection in its answer's body");
            return;
        }
        len = (size_t)ws->clen;
    } else {
        if (blen > max) {
            fail(ws, 502, "answered with a body past max_body");
            return;
        }
        if (!eof)
            return;
        len = blen;
    }
    if (!body) {
        body = malloc(len + 1);
        if (!body) {
            fail(ws, 500, "out of memory");
            return;
        }
        memcpy(body, ws->in + ws->head_end, len);
    }
    const char *svc = r->snap->cfg->services[r->route->service].name;
    req_add_timing(r, svc, (double)(bff_now_us() - ws->start_us) / 1000.0, NULL);
    finish(ws, METRICS_END_COMPLETE);
    req_respond(r, ws->status, ws->ctype, body, len, 1, ws->rh, ws->nrh);
}

/* Reads the service's answer (head, then a non-101's body). */
static void answer_event(struct bff_ws *ws)
{
    struct bff_request *r = ws->r;
    uint64_t            max_head = r->snap->cfg->limits.max_header_bytes;
    uint64_t            max_body = r->snap->cfg->limits.max_body;

    for (;;) {
        if (ws->in_len == ws->in_cap) {
            size_t lim = ws->state == WS_BODY
                             ? ws->head_end + max_body + max_body / 8 + 4096
                             : max_head;
            if (ws->in_cap >= lim) {
                if (ws->state == WS_BODY)
                    fail(ws, 502, "answered with a body past max_body");
                else
                    fail(ws, 502, "answered with a head past max_header_bytes");
                return;
            }
            size_t cap = ws->in_cap * 2 < lim ? ws->in_cap * 2 : lim;
            char  *nb = realloc(ws->in, cap + 1);
            if (!nb) {
                fail(ws, 500, "out of memory");
                return;
            }
            ws->in = nb;
            ws->in_cap = cap;
        }
        /* a 101's head is read alone: what follows it is WebSocket data,
         * read once the client can take it (p[1] has room for a head's
         * worth, see ws_start) */
        ssize_t n = recv(ws->fd[1], ws->in + ws->in_len, ws->in_cap - ws->in_len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            fail(ws, 502, "broke the connection");
            return;
        }
        if (n == 0) {
            if (ws->state == WS_BODY)
                body_event(ws, 1);
            else
                fail(ws, 502, "closed the connection before its answer's head");
            return;
        }
        size_t from = ws->in_len > 3 ? ws->in_len - 3 : 0;
        ws->in_len += (size_t)n;
        ws->in[ws->in_len] = '\0';
        if (ws->state == WS_HANDSHAKE) {
            char *e = memmem(ws->in + from, ws->in_len - from, "\r\n\r\n", 4);
            if (!e)
                continue;
            ws->head_end = (size_t)(e - ws->in) + 4;
            on_head(ws);
            if (ws->state != WS_BODY)
                return;
        }
        body_event(ws, 0);
        if (ws->state != WS_BODY)
            return;
    }
}

static void up_event(struct bff_ws *ws, uint32_t events)
{
    if (ws->state == WS_CONNECTING) {
        int       err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(ws->fd[1], SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            err = errno;
        if (err) {
            fail(ws, 502,
                 bff_arena_printf(&ws->r->arena, "refused the connection (%s)",
                                  strerror(err)));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        ws->state = WS_HANDSHAKE;
        uint32_t tmo =
            ws->r->route->timeout_ms
                ? ws->r->route->timeout_ms
                : ws->r->snap->cfg->services[ws->r->route->service].timeout_ms;
        ws->deadline_ms = ws->start_ms + tmo;
    }
    if (ws->state == WS_HANDSHAKE && ws->req_off < ws->req_len) {
        while (ws->req_off < ws->req_len) {
            ssize_t n = send(ws->fd[1], ws->req + ws->req_off,
                             ws->req_len - ws->req_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                fail(ws, 502, "broke the connection");
                return;
            }
            ws->req_off += (size_t)n;
        }
        if (interest(ws, 1, EPOLLIN | (ws->req_off < ws->req_len ? EPOLLOUT : 0)) !=
            0) {
            fail(ws, 500, "cannot watch the service's connection");
            return;
        }
    }
    if ((ws->state == WS_HANDSHAKE || ws->state == WS_BODY) &&
        (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        answer_event(ws);
}

void ws_worker_event(struct bff_worker *w, uint64_t u64, uint32_t events)
{
    if (TAG_OF(u64) == TAG_WS_TIMER) {
        struct ws_worker *ww = w->ws;
        uint64_t          exp, now = bff_now_ms();
        if (!ww)
            return;
        ssize_t n = read(ww->tfd, &exp, sizeof(exp));
        (void)n;
        for (struct bff_ws *ws = ww->releasing, *next; ws; ws = next) {
            next = ws->next;
            if (now >= ws->release_until_ms) { /* its client_timeout will do */
                list_del(&ww->releasing, ws);
                ws->releasing = 0;
                ws->r->cancel = NULL;
            }
        }
        if (ww->releasing)
            w->mhd_resumed = 1; /* the daemon runs this turn */
        timer_update(ww);
        for (struct bff_ws *ws = ww->list, *next; ws; ws = next) {
            next = ws->next;
            switch (ws->state) {
            case WS_CONNECTING:
            case WS_HANDSHAKE:
            case WS_BODY:
                if (now >= ws->deadline_ms)
                    fail(ws, 504,
                         ws->state == WS_CONNECTING
                             ? "did not accept the connection in time"
                             : "did not answer the upgrade in time");
                break;
            case WS_OPEN:
                if (now - ws->last_io_ms >= ws->idle_ms)
                    finish(ws, METRICS_END_IDLE);
                break;
            case WS_CLOSING:
                if (now >= ws->deadline_ms)
                    finish(ws, METRICS_END_COMPLETE);
                break;
            default:
                break;
            }
        }
        return;
    }
    struct bff_ws *ws = (struct bff_ws *)(uintptr_t)TAG_PAYLOAD(u64);
    int            side = TAG_OF(u64) == TAG_WS_UP;
    if (ws->state == WS_DONE)
        return; /* ended by an earlier event of this turn */
    if (ws->state == WS_OPEN || ws->state == WS_CLOSING)
        spliced_event(ws, side, events);
    else if (side == 1)
        up_event(ws, events);
}

void ws_worker_cleanup(struct bff_worker *w)
{
    struct ws_worker *ww = w->ws;
    if (!ww)
        return;
    while (ww->list)
        finish(ww->list, METRICS_END_DRAIN);
    while (ww->releasing) { /* the daemon stops next: it closes them */
        struct bff_ws *ws = ww->releasing;
        list_del(&ww->releasing, ws);
        ws->releasing = 0;
        ws->r->cancel = NULL;
    }
    close(ww->tfd);
    free(ww);
    w->ws = NULL;
}

/* ---- the start ------------------------------------------------------------- */

int ws_wanted(struct bff_request *r)
{
    return r->route && r->route->kind == BFF_ROUTE_PROXY && r->route->websocket &&
           bff_header_in_connection(req_header(r, "Upgrade"), "websocket");
}

void ws_or_proxy_start(struct bff_request *r)
{
    if (ws_wanted(r))
        ws_start(r);
    else
        proxy_start(r);
}

/* "http://host:port/base": host (IPv6 without brackets), port, and the
 * Host field ("host:port" as written). Returns 0 or -1. */
static int url_split(struct bff_arena *a, const char *url, char **host, char **port,
                     char **hostfield)
{
    const char *p = strstr(url, "://"), *hs, *he, *ps = NULL, *end;
    if (!p || strncasecmp(url, "http://", 7) != 0)
        return -1;
    hs = p + 3;
    end = hs + strcspn(hs, "/?#");
    *hostfield = bff_arena_strndup(a, hs, (size_t)(end - hs));
    if (*hs == '[') {
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return -1;
        *host = bff_arena_strndup(a, hs + 1, (size_t)(he - hs - 1));
        if (he + 1 < end && he[1] == ':')
            ps = he + 2;
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (he)
            ps = he + 1;
        else
            he = end;
        *host = bff_arena_strndup(a, hs, (size_t)(he - hs));
    }
    *port =
        ps ? bff_arena_strndup(a, ps, (size_t)(end - ps)) : bff_arena_strdup(a, "80");
    return *host && *port && *hostfield && **host ? 0 : -1;
}

/* endpoints: the first endpoint in force whose state is "ok" (else the
 * first "failing" one, else the first): its address as host and port
 * (@host_out, @port_out in request memory). Returns 0, or -1 for a url:
 * service (no endpoints in force). */
static int pick_endpoint(struct bff_request *r, char **host_out, char **port_out)
{
    struct res_ep_stats eps[BFF_MAX_ENDPOINTS];
    size_t n = res_endpoint_stats(&r->snap->services[r->route->service], eps,
                                  BFF_MAX_ENDPOINTS);
    size_t pick = n;

    for (size_t i = 0; i < n && pick == n; i++)
        if (strcmp(eps[i].state, "ok") == 0)
            pick = i;
    for (size_t i = 0; i < n && pick == n; i++)
        if (strcmp(eps[i].state, "failing") == 0)
            pick = i;
    if (n == 0)
        return -1;
    if (pick == n)
        pick = 0;
    const char *l = eps[pick].label, *colon = strrchr(l, ':');
    if (!colon)
        return -1;
    *host_out = bff_arena_strndup(&r->arena, l, (size_t)(colon - l));
    *port_out = bff_arena_strdup(&r->arena, colon + 1);
    return *host_out && *port_out ? 0 : -1;
}

void ws_start(struct bff_request *r)
{
    const struct bff_config       *cfg = r->snap->cfg;
    const struct bff_service_conf *svc = &cfg->services[r->route->service];
    const char                    *key = req_header(r, "Sec-WebSocket-Key");
    const char                    *ver = req_header(r, "Sec-WebSocket-Version");
    struct bff_ws                 *ws;
    char                          *host, *port, *hostfield;
    int64_t                        slot;

    if (r->mbit != BFF_M_GET || !r->version || strcmp(r->version, "HTTP/1.1") != 0 ||
        r->has_body) {
        req_problem(r, 400, "a WebSocket upgrade is a GET on HTTP/1.1 without a body",
                    NULL, 0);
        return;
    }
    if (!bff_header_in_connection(req_header(r, "Connection"), "upgrade")) {
        req_problem(r, 400, "a WebSocket upgrade names upgrade in Connection", NULL, 0);
        return;
    }
    if (!key_valid(key)) {
        req_problem(r, 400, "Sec-WebSocket-Key is missing or not 16 bytes in base64",
                    NULL, 0);
        return;
    }
    if (!ver) {
        req_problem(r, 400, "Sec-WebSocket-Version is missing", NULL, 0);
        return;
    }
    if (strcmp(ver, "13") != 0) { /* RFC 6455 §4.4 */
        struct bff_hdr h = {"Sec-WebSocket-Version", "13"};
        req_problem(r, 426, "this gateway speaks WebSocket version 13", &h, 1);
        return;
    }
    if (url_split(&r->arena, svc->url, &host, &port, &hostfield) != 0) {
        req_problem(r, 501, "WebSocket needs an http:// service", NULL, 0);
        return;
    }
    if (svc->nendpoints && pick_endpoint(r, &host, &port) == 0)
        hostfield = bff_arena_cat(&r->arena, strchr(host, ':') ? "[" : "", host,
                                  strchr(host, ':') ? "]:" : ":", port, NULL);
    if (!hostfield) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    if (metrics_stream_open(r, METRICS_STREAM_WEBSOCKET, r->route->max_streams,
                            &slot) != 0) {
        struct bff_hdr h = {"Retry-After", "1"};
        req_problem(r, 503,
                    bff_arena_printf(&r->arena, "the route has its %u streams open",
                                     r->route->max_streams),
                    &h, 1);
        return;
    }
    ws = bff_arena_alloc(&r->arena, sizeof(*ws));
    if (!ws) {
        metrics_stream_close(r->w, slot, METRICS_STREAM_WEBSOCKET, METRICS_END_BROKEN,
                             0, 0);
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    memset(ws, 0, sizeof(*ws));
    ws->r = r;
    ws->w = r->w;
    ws->fd[0] = ws->fd[1] = -1;
    ws->slot = slot;
    ws->start_us = bff_now_us();
    ws->start_ms = bff_now_ms();
    ws->idle_ms = svc->idle_timeout_ms ? svc->idle_timeout_ms : 60000;
    ws->state = WS_CONNECTING;
    struct ws_worker *ww = worker_of(r->w);
    if (!ww) {
        finish(ws, METRICS_END_BROKEN);
        req_problem(r, 500, "cannot watch the service's connection", NULL, 0);
        return;
    }
    list_add(&ww->list, ws);
    timer_update(ww);
    r->ws = ws;
    if (ws_accept_key(key, ws->accept) != 0)
        goto oom;
    /* service to client: a whole head's worth too (what follows the 101) */
    size_t cap1 = WS_BUF_BYTES > cfg->limits.max_header_bytes
                      ? WS_BUF_BYTES
                      : cfg->limits.max_header_bytes;
    ws->p[0].buf = malloc(WS_BUF_BYTES);
    ws->p[0].cap = WS_BUF_BYTES;
    ws->p[1].buf = malloc(cap1);
    ws->p[1].cap = cap1;
    ws->in_cap =
        4096 < cfg->limits.max_header_bytes ? 4096 : cfg->limits.max_header_bytes;
    ws->in = malloc(ws->in_cap + 1);
    if (!ws->p[0].buf || !ws->p[1].buf || !ws->in)
        goto oom;

    /* the upgrade request: what proxy.c forwards, in a head of our own */
    const char  *pq, **lines;
    size_t       nlines;
    int          frc = proxy_forward(r, "GET", &pq, &lines, &nlines);
    if (frc == BFF_EINVAL) {
        finish(ws, METRICS_END_BROKEN);
        req_problem(r, 500, "the forwarded identity cannot be signed", NULL, 0);
        return;
    }
    if (frc)
        goto oom;
    const char *base = strchr(svc->url + 7, '/');
    const char *target = base ? bff_arena_cat(&r->arena, base, pq, NULL) : pq;
    char       *out = target ? bff_arena_cat(&r->arena, "GET ", target,
                                             " HTTP/1.1\r\nHost: ", hostfield,
                                             "\r\nUpgrade: websocket\r\nConnection: "
                                             "Upgrade\r\n",
                                             NULL)
                             : NULL;
    for (size_t i = 0; i < nlines && out; i++)
        out = bff_arena_cat(&r->arena, out, lines[i], "\r\n", NULL);
    if (out)
        out = bff_arena_cat(&r->arena, out, "\r\n", NULL);
    if (!out)
        goto oom;
    ws->req = out;
    ws->req_len = strlen(out);

    /* the connection: a literal address is not looked up; a host name is
     * resolved here, on the worker (docs/streaming.md) */
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    int grc = getaddrinfo(host, port, &hints, &ai);
    if (grc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        grc = getaddrinfo(host, port, &hints, &ai);
    }
    if (grc != 0 || !ai) {
        fail(ws, 502,
             bff_arena_printf(&r->arena, "cannot be resolved (%s)", gai_strerror(grc)));
        return;
    }
    ws->fd[1] = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ws->fd[1] < 0) {
        freeaddrinfo(ai);
        fail(ws, 502, "cannot be connected to (no socket)");
        return;
    }
    int one = 1;
    setsockopt(ws->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int crc = connect(ws->fd[1], ai->ai_addr, ai->ai_addrlen);
    int cerr = errno;
    freeaddrinfo(ai);
    if (crc != 0 && cerr != EINPROGRESS) {
        fail(
            ws, 502,
            bff_arena_printf(&r->arena, "refused the connection (%s)", strerror(cerr)));
        return;
    }
    ws->deadline_ms = ws->start_ms + svc->connect_timeout_ms;
    if (interest(ws, 1, EPOLLOUT) != 0) {
        fail(ws, 500, "cannot watch the service's connection");
        return;
    }
    r->cancel = ws_cancel;
    req_suspend(r);
    return;
oom:
    finish(ws, METRICS_END_BROKEN);
    req_problem(r, 500, "out of memory", NULL, 0);
}
