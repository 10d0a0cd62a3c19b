/* core/src/upstream.c — every call to a service, on the worker's curl multi
 *
 * One CURLM per worker, driven by curl_multi_socket_action from the worker's
 * epoll loop (curl's sockets sit in the same epoll set as the worker's
 * libmicrohttpd daemon; curl's timer is a deadline the loop waits for). Connections to
 * services are kept alive in the multi handle's pool; easy handles are recycled per
 * worker. Only DNS and TLS sessions are shared between workers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <curl/curl.h>

#include "bff/err.h"
#include "bff/http_strict.h"
#include "bff/util.h"
#include "base/buf.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"
#include "types/snapshot-t.h"
#include "types/tags-t.h"
#include "types/worker-t.h"
#include "upstream/cache.h"
#include "upstream/upstream.h"

#define EASY_POOL_MAX 256

static CURLSH         *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h, (void)a, (void)u;
    pthread_mutex_lock(&share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h, (void)u;
    pthread_mutex_unlock(&share_locks[d]);
}

int up_failure(enum up_result res, const char **desc, const char **what)
{
    static const struct {
        int         status;
        const char *desc, *what;
    } f[] = {
        [UP_TIMEOUT] = {504, "timeout", "did not answer in time"},
        [UP_CONNECT] = {502, "refused", "refused the connection"},
        [UP_TOO_LARGE] = {502, "too large", "answered more than max_body"},
        [UP_BROKEN] = {502, "broken", "broke off its answer or sent a malformed one"},
        [UP_BAD_HEAD] = {502, "bad head",
                         "sent an invalid head (a malformed field line, two different "
                         "Content-Lengths, or more than limits.max_header_bytes)"},
    };
    if (res == UP_OK || (size_t)res >= sizeof(f) / sizeof(f[0]))
        return 0;
    *desc = f[res].desc;
    *what = f[res].what;
    return f[res].status;
}

int up_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return BFF_EIO;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    share = curl_share_init();
    if (!share)
        return BFF_ENOMEM;
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

void up_global_cleanup(void)
{
    if (share)
        curl_share_cleanup(share);
    share = NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&share_locks[i]);
    curl_global_cleanup();
}

/* Which of curl's sockets are in the worker's epoll set, and for what.
 * One byte per fd: bits 0-1 the events registered in the kernel (1 = IN,
 * 2 = OUT), bits 2-3 the events curl wants now. A pooled keep-alive
 * connection stays registered for IN when curl lets go of it: it is quiet
 * until the service sends or closes, and the next transfer on it wants IN
 * again, so most proxied requests cost no epoll_ctl at all (ADD/MOD/DEL per
 * request was 10% of a request's CPU). An event on a socket curl does not
 * want is unregistered then. Sockets curl closes go through close_cb, which
 * forgets them (the kernel drops a closed fd from the set by itself). */
#define FD_IN 1u
#define FD_OUT 2u

static uint8_t *fd_slot(struct bff_worker *w, int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= w->nfdtab) {
        size_t n = w->nfdtab ? w->nfdtab : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        uint8_t *t = realloc(w->fdtab, n);
        if (!t)
            return NULL;
        memset(t + w->nfdtab, 0, n - w->nfdtab);
        w->fdtab = t;
        w->nfdtab = n;
    }
    return &w->fdtab[fd];
}

static int fd_register(struct bff_worker *w, int fd, unsigned reg, unsigned want)
{
    struct epoll_event ev = {0};
    ev.events = (want & FD_IN ? EPOLLIN : 0u) | (want & FD_OUT ? EPOLLOUT : 0u);
    ev.data.u64 = TAG(TAG_CURL, (uint64_t)(uint32_t)fd);
    int op = reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(w->epfd, op, fd, &ev) == 0)
        return 0;
    /* our table and the kernel disagree (an fd we never saw closed): redo */
    op = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
    return op < 0 ? -1 : epoll_ctl(w->epfd, op, fd, &ev);
}

/* curl tells us which sockets to watch; they go into the worker's epoll. */
static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    struct bff_worker *w = userp;
    uint8_t           *st = fd_slot(w, s);
    unsigned           want = 0, reg;
    (void)e, (void)sockp;

    if (what != CURL_POLL_REMOVE)
        want =
            (what & CURL_POLL_IN ? FD_IN : 0u) | (what & CURL_POLL_OUT ? FD_OUT : 0u);
    if (!st) { /* out of memory for the table: plain registration */
        if (want == 0)
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
        else
            fd_register(w, s, 1, want);
        return 0;
    }
    reg = *st & 3u;
    if (want == 0) {
        if (reg & FD_OUT) { /* a writable idle socket would wake us for ever */
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
            reg = 0;
        }
    } else if (reg != want) {
        reg = fd_register(w, s, reg, want) == 0 ? want : 0;
    }
    *st = (uint8_t)(reg | want << 2);
    return 0;
}

/* curl closes its sockets through here, so the table forgets them. */
static int close_cb(void *clientp, curl_socket_t s)
{
    struct bff_worker *w = clientp;
    if (s >= 0 && (size_t)s < w->nfdtab)
        w->fdtab[s] = 0;
    return close(s);
}

/* curl's timer: a deadline the worker loop turns into its epoll_wait
 * timeout. curl moves it on nearly every transfer step, so a timerfd would
 * cost a system call each time (it was 29% of a proxy request's CPU). */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct bff_worker *w = userp;
    (void)m;
    w->curl_due_us = timeout_ms < 0 ? 0 : bff_now_us() + (uint64_t)timeout_ms * 1000u;
    return 0;
}

static int call_make(struct bff_worker *w, struct up_call *c);

int up_worker_init(struct bff_worker *w)
{
    if (cache_worker_init(w, call_make, up_call_cancel) != 0)
        return BFF_ENOMEM;
    CURLM *m = curl_multi_init();
    if (!m)
        return BFF_ENOMEM;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 1024L);
    w->multi = m;
    w->easy_pool = calloc(EASY_POOL_MAX, sizeof(void *));
    w->neasy_pool = 0;
    return w->easy_pool ? 0 : BFF_ENOMEM;
}

void up_worker_cleanup(struct bff_worker *w)
{
    cache_refresh_stop(w);
    for (size_t i = 0; i < w->neasy_pool; i++)
        curl_easy_cleanup(w->easy_pool[i]);
    free(w->easy_pool);
    w->easy_pool = NULL;
    free(w->fdtab);
    w->fdtab = NULL;
    w->nfdtab = 0;
    w->neasy_pool = 0;
    if (w->multi)
        curl_multi_cleanup(w->multi);
    w->multi = NULL;
    cache_worker_cleanup(w);
}

/* ---- stream calls: their deadlines and the turn's new heads ------------------ */

static void due_set(struct up_call *c, uint64_t due)
{
    struct bff_worker *w = c->w;
    c->due_ms = due;
    if (due && (!w->ustream_due_ms || due < w->ustream_due_ms))
        w->ustream_due_ms = due;
}

static void stream_list(struct up_call *c)
{
    struct bff_worker *w = c->w;
    if (c->listed)
        return;
    c->listed = 1;
    c->st_prev = NULL;
    c->st_next = w->ustreams;
    if (w->ustreams)
        w->ustreams->st_prev = c;
    w->ustreams = c;
}

static void stream_unlist_fresh(struct up_call *c)
{
    struct bff_worker *w = c->w;
    if (!c->fresh)
        return;
    c->fresh = 0;
    if (c->fr_prev)
        c->fr_prev->fr_next = c->fr_next;
    else
        w->ufresh = c->fr_next;
    if (c->fr_next)
        c->fr_next->fr_prev = c->fr_prev;
}

static void stream_unlist(struct up_call *c)
{
    struct bff_worker *w = c->w;
    stream_unlist_fresh(c);
    if (!c->listed)
        return;
    c->listed = 0;
    if (c->st_prev)
        c->st_prev->st_next = c->st_next;
    else
        w->ustreams = c->st_next;
    if (c->st_next)
        c->st_next->st_prev = c->st_prev;
    c->due_ms = 0;
}

static void fresh_add(struct up_call *c)
{
    struct bff_worker *w = c->w;
    c->fresh = 1;
    c->fr_prev = NULL;
    c->fr_next = w->ufresh;
    if (w->ufresh)
        w->ufresh->fr_prev = c;
    w->ufresh = c;
}

/* The head of a stream call's answer is complete: pass the body on as it
 * comes, unless it is one to keep whole (see up_stream_ops). */
static void stream_head(struct up_call *c)
{
    int code = c->status_line;
    if (code < 200 || code >= 500 || code == 204 || code == 304 || c->head ||
        (c->resp_cl && strcmp(c->resp_cl, "0") == 0))
        return;
    c->streaming = 1;
    c->status = code;
    c->ms = (double)(bff_now_us() - c->start_us) / 1000.0;
    metrics_upstream_done(c->w, c->rt, metrics_up_outcome(UP_OK, code),
                          bff_now_us() - c->start_us);
    if (c->res.active) { /* the outcome is in; the slot goes back */
        c->res.retryable_method = 0;
        c->result = UP_OK;
        res_call_attempt_done(c);
    }
    due_set(c, bff_now_ms() + c->idle_timeout_ms);
    c->stream->head(c);
    fresh_add(c);
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct up_call *c = ud;
    size_t          len = size * n;

    if (c->streaming) {
        if (c->stream_bytes + len > c->max_body) {
            c->result = UP_TOO_LARGE;
            return 0;
        }
        int rc = c->stream->data(c, p, len);
        if (rc == UP_DATA_PAUSE) {
            c->paused |= CURLPAUSE_RECV;
            c->due_ms = 0; /* held back by us: no idle deadline */
            return CURL_WRITEFUNC_PAUSE;
        }
        if (rc != UP_DATA_TAKEN) {
            c->result = UP_BROKEN;
            return 0;
        }
        c->stream_bytes += len;
        c->due_ms = bff_now_ms() + c->idle_timeout_ms; /* later: no list min */
        return len;
    }
    if (c->resp_len + len > c->max_body) {
        c->result = UP_TOO_LARGE;
        return 0; /* aborts the transfer */
    }
    if (bff_buf_append(&c->resp_body, &c->resp_len, &c->resp_cap, p, len, 4096) != 0)
        return 0;
    return len;
}

/* Refuses the answer's head: curl aborts the transfer (CURLE_WRITE_ERROR)
 * and the call fails with UP_BAD_HEAD, a 502 (SPEC §4). */
static size_t bad_head(struct up_call *c)
{
    c->result = UP_BAD_HEAD;
    return 0;
}

/* curl hands over the status line, each field line and the empty line, one
 * at a time, with their line ends (also after a 1xx, and trailers of a
 * chunked answer). curl itself refuses a status line that is not HTTP
 * (CURLE_UNSUPPORTED_PROTOCOL: HTTP/0.9 is not allowed) and a bad chunk;
 * the rest of SPEC §4's checks on an answer's head are here. */
static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    struct up_call *c = ud;
    size_t          len = size * n;
    size_t          end = len;
    size_t          max = c->max_header ? c->max_header : 16384;

    if (c->streaming)
        return len; /* trailers of a streamed chunked answer: not passed on */
    c->head_bytes += len;
    if (c->head_bytes > max)
        return bad_head(c);
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        c->nresp_headers = 0; /* a new header block (after 1xx) */
        c->head_bytes = len;
        c->resp_cl = NULL;
        c->resp_te = 0;
        const char *sp = memchr(p, ' ', len);
        c->status_line = 0;
        for (int i = 1; sp && i <= 3 && sp + i < p + len && sp[i] >= '0' && sp[i] <= '9';
             i++)
            c->status_line = c->status_line * 10 + (sp[i] - '0');
        return len;
    }
    if (end >= 2 && p[end - 2] == '\r' && p[end - 1] == '\n')
        end -= 2;
    else if (end >= 1 && p[end - 1] == '\n')
        end -= 1; /* curl accepts a bare LF; the line itself is checked */
    if (end == 0) { /* the empty line */
        if (c->stream && c->status_line >= 200)
            stream_head(c);
        return len;
    }
    if (bff_http_check_field_line(p, end) != 0)
        return bad_head(c);
    const char *colon = memchr(p, ':', end);
    if (c->nresp_headers == c->hdr_cap) {
        size_t            cap = c->hdr_cap ? c->hdr_cap * 2 : 16;
        struct up_header *nh = bff_arena_alloc(c->arena, cap * sizeof(*nh));
        if (!nh)
            return 0;
        if (c->nresp_headers)
            memcpy(nh, c->resp_headers, c->nresp_headers * sizeof(*nh));
        c->resp_headers = nh;
        c->hdr_cap = cap;
    }
    const char *v = colon + 1;
    while (v < p + end && (*v == ' ' || *v == '\t'))
        v++;
    struct up_header *h = &c->resp_headers[c->nresp_headers];
    const char *ve = p + end;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    h->name = bff_arena_strndup(c->arena, p, (size_t)(colon - p));
    h->value = bff_arena_strndup(c->arena, v, (size_t)(ve - v));
    if (!h->name || !h->value)
        return 0;
    if (strcasecmp(h->name, "Content-Length") == 0) {
        if (c->resp_cl && strcmp(c->resp_cl, h->value) != 0)
            return bad_head(c); /* two different lengths: which one frames it? */
        c->resp_cl = h->value;
    } else if (strcasecmp(h->name, "Transfer-Encoding") == 0) {
        c->resp_te = 1;
    }
    if (c->resp_cl && c->resp_te)
        return bad_head(c); /* both: the framing is ambiguous (RFC 9112 §6.3) */
    c->nresp_headers++;
    return len;
}

/* A streamed request body, as the client sends it. */
static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct up_call *c = ud;
    long            got = c->stream->read(c, buf, size * n);
    if (got == UP_BODY_PAUSE) { /* the client is slower: not the service's gap */
        c->paused |= CURLPAUSE_SEND;
        c->due_ms = 0;
        return CURL_READFUNC_PAUSE;
    }
    if (got <= 0) {
        c->body_sent = 1; /* the head's deadline counts from here */
        due_set(c, bff_now_ms() + c->timeout_ms);
        return 0;
    }
    if (!c->streaming) /* a service that stops taking the body: idle_timeout */
        due_set(c, bff_now_ms() + c->idle_timeout_ms);
    return (size_t)got;
}

void up_call_resume_answer(struct up_call *c)
{
    if (!c->easy || !(c->paused & CURLPAUSE_RECV))
        return;
    c->paused &= ~(unsigned)CURLPAUSE_RECV;
    due_set(c, bff_now_ms() + c->idle_timeout_ms);
    curl_easy_pause(c->easy, (int)c->paused); /* may call write_cb at once */
}

void up_call_resume_body(struct up_call *c)
{
    if (!c->easy || !(c->paused & CURLPAUSE_SEND))
        return;
    c->paused &= ~(unsigned)CURLPAUSE_SEND;
    if (!c->streaming && !c->body_sent)
        due_set(c, bff_now_ms() + c->idle_timeout_ms);
    curl_easy_pause(c->easy, (int)c->paused);
}

/* What every transfer of a worker sets the same way: set once per easy
 * handle, not on every call (curl_easy_reset and a dozen setopts per call,
 * several of which strdup, were a tenth of a proxied request's CPU). */
static void easy_base(struct bff_worker *w, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* services are reached directly: no proxy, and no proxy environment
     * variables read on every transfer */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w);
}

/* A handle with easy_base()'s options and nothing else set. */
static CURL *easy_get(struct bff_worker *w)
{
    if (w->neasy_pool > 0)
        return w->easy_pool[--w->neasy_pool];
    CURL *e = curl_easy_init();
    if (e)
        easy_base(w, e);
    return e;
}

/* Back to the pool. A handle that carried per-call options beyond the URL,
 * headers, timeouts and user data (a method, a body, TLS files) is reset
 * first, so no call inherits another's. */
static void easy_put(struct bff_worker *w, CURL *e, int dirty)
{
    if (w->neasy_pool >= EASY_POOL_MAX) {
        curl_easy_cleanup(e);
        return;
    }
    if (dirty) {
        curl_easy_reset(e);
        easy_base(w, e);
    }
    w->easy_pool[w->neasy_pool++] = e;
}

/* The request's header lines as a curl_slist whose nodes live in the
 * call's arena (curl reads the list during the transfer and never frees or
 * changes it): no malloc and strdup per line. @quiet lines stop curl from
 * adding headers of its own. Returns NULL when out of memory. */
static struct curl_slist *header_list(struct up_call *c)
{
    static const char *const quiet[] = {"Expect:", "Accept:", "Content-Type:"};
    size_t                   n = 0, cap = c->nheaders + 3;
    struct curl_slist       *l = bff_arena_alloc(c->arena, cap * sizeof(*l));

    if (!l)
        return NULL;
    for (size_t i = 0; i < c->nheaders; i++)
        l[n++].data = (char *)c->headers[i];
    for (size_t i = 0; i < 3; i++) {
        int    have = 0;
        size_t ql = strlen(quiet[i]) - 1; /* the name, without ':' */
        for (size_t j = 0; j < c->nheaders && !have; j++)
            have = strncasecmp(c->headers[j], quiet[i], ql) == 0 &&
                   c->headers[j][ql] == ':';
        if (!have)
            l[n++].data = (char *)quiet[i];
    }
    for (size_t i = 0; i < n; i++)
        l[i].next = i + 1 < n ? &l[i + 1] : NULL;
    return l;
}

/* One attempt of @c on @w's multi handle (the first, or a retry). */
static int attempt_start(struct bff_worker *w, struct up_call *c)
{
    struct curl_slist *hl;
    CURL              *e = easy_get(w);

    if (!e)
        return BFF_ENOMEM;
    c->w = w;
    c->easy = e;
    c->easy_dirty = 0;
    c->result = UP_OK;
    c->status = 0;
    c->resp_body = NULL;
    c->resp_len = c->resp_cap = 0;
    c->resp_headers = NULL;
    c->nresp_headers = c->hdr_cap = 0;
    c->head_bytes = 0;
    c->resp_cl = NULL;
    c->resp_te = 0;
    c->start_us = bff_now_us();
    c->status_line = 0;
    c->streaming = 0;
    c->stream_bytes = 0;
    c->paused = 0;
    c->body_sent = 0;

    hl = header_list(c);
    if (!hl)
        goto fail;
    const char *url = c->url;
    if (c->res.ep) { /* endpoints: this attempt's endpoint, the request's path */
        const char *svc = c->rt->conf->url, *ct = res_ep_connect_to(c->res.ep);
        size_t      sl = strlen(svc);
        const char *path = strncmp(c->url, svc, sl) == 0 ? c->url + sl : "";
        url = bff_arena_cat(c->arena, res_ep_base(c->res.ep), path, NULL);
        if (!url)
            goto fail;
        if (ct) {
            struct curl_slist *l = bff_arena_alloc(c->arena, sizeof(*l));
            if (!l)
                goto fail;
            l->data = (char *)ct;
            l->next = NULL;
            curl_easy_setopt(e, CURLOPT_CONNECT_TO, l);
            c->easy_dirty = 1;
        }
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    if (c->stream) { /* the deadlines are ours: up_stream_sweep() */
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
        stream_list(c);
        due_set(c, bff_now_ms() + (c->body_streamed ? c->idle_timeout_ms : c->timeout_ms));
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    }
    if (c->rt) { /* services.NAME.tls: the CA that signed the service's
                    certificate, and ours for mutual TLS */
        const struct bff_service_conf *sc = c->rt->conf;
        if (sc->tls.ca) {
            curl_easy_setopt(e, CURLOPT_CAINFO, sc->tls.ca);
            c->easy_dirty = 1;
        }
        if (sc->tls.cert && sc->tls.key) {
            curl_easy_setopt(e, CURLOPT_SSLCERT, sc->tls.cert);
            curl_easy_setopt(e, CURLOPT_SSLKEY, sc->tls.key);
            c->easy_dirty = 1;
        }
    }
    if (c->head) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        c->easy_dirty = 1;
    } else if (c->body_streamed) { /* sent as the client sends it */
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, c);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_size);
        c->easy_dirty = 1;
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
        c->easy_dirty = 1;
        if (c->body_len > 0 || strcmp(c->method, "POST") == 0 ||
            strcmp(c->method, "PUT") == 0 || strcmp(c->method, "PATCH") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
        }
    }
    /* RFC 9110 §9.2.2's idempotent methods are the retry policy's with PUT
     * and DELETE allowed (TRACE never reaches a service: 501 at the door) */
    if (!res_method_retryable(c->method, 1)) {
        /* curl sends a request again, unasked, when a reused connection
         * closes before any answer: the service may have acted on the
         * first. A POST or PATCH gets a connection of its own, so a failure
         * is a 502 and never a second request (RFC 9110 §9.2.2). */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        c->easy_dirty = 1;
    }
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK)
        goto fail;
    c->running = 1;
    return 0;
fail:
    stream_unlist(c);
    easy_put(w, e, 1);
    c->easy = NULL;
    return BFF_ENOMEM;
}

/* Admission and the first attempt of a call the cache did not answer. */
static int call_make(struct bff_worker *w, struct up_call *c)
{
    int rc;

    c->w = w;
    c->rejected = 0;
    c->retry_after_ms = 0;
    c->attempts = 0;
    c->running = 0;
    c->res.active = 0;
    c->res.backoff = 0;
    c->res.ep = c->res.last_ep = NULL;
    c->retry_prev = c->retry_next = NULL;
    if (c->rt && c->rt->res && (rc = res_call_admit(c)) != 0)
        return rc;
    if (c->body_streamed)
        c->res.retryable_method = 0; /* the body is sent once, as it comes */
    rc = attempt_start(w, c);
    if (rc == 0)
        c->attempts = 1;
    else if (c->res.active)
        res_call_abandon(c);
    return rc;
}

/* Every call goes through here: a GET of a service with cache: may be
 * answered from the worker's cache or wait for an identical call
 * (upstream/cache.c); otherwise, when it names its service (c->rt), the
 * resilience module admits it first (health, breaker, bulkhead; BFF_EBUSY
 * with c->rejected when refused, unless a stale entry answers) and may retry
 * it before done() runs. */
int up_call_start(struct bff_worker *w, struct up_call *c)
{
    c->w = w;
    c->rejected = 0;
    c->attempts = 0;
    c->running = 0;
    c->res.active = 0;
    c->res.backoff = 0;
    c->retry_prev = c->retry_next = NULL;
    c->resp_body = NULL;
    if (cache_begin(w, c))
        return 0;
    int rc = call_make(w, c);
    if (rc != 0 && c->cache_role == CACHE_LEADER) {
        if (c->rejected && cache_refused(c))
            return 0; /* a stale entry answers (stale-if-error) */
        cache_abandon(c);
    }
    return rc;
}

/* The call's last word: kept, shared with identical calls, or replaced by
 * a stale entry (cache.c), then done(). */
static void complete(struct up_call *c)
{
    if (c->cache_role == CACHE_LEADER)
        cache_end(c);
    c->done(c);
}

int up_call_retry(struct up_call *c)
{
    up_call_cleanup(c); /* the failed attempt's answer */
    int rc = attempt_start(c->w, c);
    if (rc == 0)
        c->attempts++;
    return rc;
}

/* A retry's time has come: admitted again and started, or the call ends
 * with the last answer. */
void up_retry_due(struct up_call *c)
{
    if (c->cache_role == CACHE_WAITER || c->cache_role == CACHE_DELIVER) {
        cache_due(c); /* the cache's turn: an answer to hand, or a wait over */
        return;
    }
    if (res_call_readmit(c) != 0) {
        complete(c);
        return;
    }
    enum up_result last = c->result;
    int            last_status = c->status;
    if (up_call_retry(c) == 0)
        return;
    c->result = last == UP_OK ? UP_BROKEN : last; /* the answer is gone */
    c->status = last == UP_OK ? 0 : last_status;
    res_call_end(c);
    complete(c);
}

static void release(struct up_call *c)
{
    stream_unlist(c);
    if (c->easy) {
        curl_multi_remove_handle(c->w->multi, c->easy);
        easy_put(c->w, c->easy, c->easy_dirty);
        c->easy = NULL;
    }
    c->running = 0;
}

void up_call_cancel(struct up_call *c)
{
    if (c->cache_role == CACHE_WAITER || c->cache_role == CACHE_DELIVER) {
        cache_cancel(c); /* waiting for an identical call, or a kept answer */
        return;
    }
    if (c->res.active && c->res.backoff) { /* a retry waiting on the timer */
        up_retry_del(c);
        up_call_cleanup(c);
    }
    if (c->res.active)
        res_call_cancel(c); /* slot, probe */
    if (c->running) {
        release(c);
        free(c->resp_body);
        c->resp_body = NULL;
    }
    if (c->cache_role == CACHE_LEADER)
        cache_abandon(c); /* a waiter makes the call instead */
}

void up_call_cleanup(struct up_call *c)
{
    free(c->resp_body);
    c->resp_body = NULL;
}

static void finish(struct up_call *c, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    c->status = (int)status;
    c->ms = (double)(bff_now_us() - c->start_us) / 1000.0;
    if (rc == CURLE_OK) {
        c->result = UP_OK;
    } else if (c->result == UP_TOO_LARGE || c->result == UP_BAD_HEAD) {
        /* set by write_cb or header_cb */
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        c->result = UP_TIMEOUT;
    } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        c->result = UP_CONNECT;
    } else {
        c->result = UP_BROKEN;
    }
    if (c->streaming) {
        c->status = c->status_line; /* the head was passed on: counted then */
        c->ms = (double)(bff_now_us() - c->start_us) / 1000.0;
    } else {
        if (c->result != UP_OK)
            c->status = 0;
        metrics_upstream_done(c->w, c->rt, metrics_up_outcome(c->result, c->status),
                              bff_now_us() - c->start_us);
    }
    release(c);
    if (c->res.active && res_call_attempt_done(c)) {
        up_retry_add(c); /* a retry waits on the worker's timer */
        return;
    }
    complete(c);
}

static void drain_done(struct bff_worker *w)
{
    CURLMsg *msg;
    int      left;
    while ((msg = curl_multi_info_read(w->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct up_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (c)
            finish(c, msg->data.result);
    }
}

void up_worker_event(struct bff_worker *w, int fd, uint32_t events)
{
    int running = 0;
    if (fd < 0) {
        curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    } else {
        uint8_t *st = (size_t)fd < w->nfdtab ? &w->fdtab[fd] : NULL;
        if (st && (*st >> 2) == 0) { /* an idle pooled socket: quiet it */
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
            *st = 0;
            return;
        }
        int flags = 0;
        if (events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(w->multi, fd, flags, &running);
    }
    drain_done(w);
    while (w->ufresh) { /* heads of this turn whose calls still run */
        struct up_call *c = w->ufresh;
        stream_unlist_fresh(c);
        c->stream->flow(c);
    }
}

uint64_t up_stream_due(struct bff_worker *w)
{
    return w->ustream_due_ms;
}

/* Ends the stream calls whose deadline passed: before the head, the
 * service's timeout (a 504, or a retry); after it, idle_timeout. The next
 * deadline is recomputed on the way. */
void up_stream_sweep(struct bff_worker *w, uint64_t now_ms)
{
    if (!w->ustream_due_ms || now_ms < w->ustream_due_ms)
        return;
    for (int again = 1, rounds = 0; again && rounds < 64; rounds++) {
        uint64_t next = 0;
        again = 0;
        for (struct up_call *c = w->ustreams; c; c = c->st_next) {
            if (c->due_ms && c->due_ms <= now_ms && c->easy) {
                c->result = UP_TIMEOUT;
                finish(c, CURLE_OPERATION_TIMEDOUT); /* may change the list */
                again = 1;
                break;
            }
            if (c->due_ms && (!next || c->due_ms < next))
                next = c->due_ms;
        }
        if (!again)
            w->ustream_due_ms = next;
    }
}

static size_t discard_cb(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

int up_probe_get(const char *url, const char *connect_to, uint32_t connect_timeout_ms,
                 uint32_t timeout_ms, const char *tls_ca, const char *tls_cert,
                 const char *tls_key)
{
    CURL             *e = curl_easy_init();
    long              status = 0;
    struct curl_slist ct = {(char *)connect_to, NULL};

    if (!e)
        return BFF_ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, &ct);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    if (tls_ca)
        curl_easy_setopt(e, CURLOPT_CAINFO, tls_ca);
    if (tls_cert && tls_key) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, tls_cert);
        curl_easy_setopt(e, CURLOPT_SSLKEY, tls_key);
    }
    CURLcode rc = curl_easy_perform(e);
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return BFF_ETIMEDOUT;
    return rc == CURLE_OK ? (int)status : BFF_EIO;
}
