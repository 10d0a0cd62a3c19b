/* core/src/worker.c — one event loop per core
 *
 * Each worker owns an epoll set holding: its libmicrohttpd daemon's epoll fd
 * (external-epoll mode, its own SO_REUSEPORT listen socket, all on one
 * port: the first worker's, see bff_main), its curl multi
 * handle's sockets (curl's timer is a deadline folded into epoll_wait's
 * timeout) and an eventfd for wake-ups
 * (stop, drain, reload). Everything a request touches runs on this thread. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <microhttpd.h>

#include "bff/err.h"
#include "bff/util.h"
#include "front/front.h"
#include "front/tls.h"
#include "handlers/handlers.h"
#include "handlers/websocket.h"
#include "loop/worker.h"
#include "pipeline/ratelimit.h"
#include "request/request.h"
#include "snapshot/snapshot.h"
#include "types/snapshot-t.h"
#include "types/tags-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

#define STOP_FLUSH_MS 500 /* streams ended at the stop get this to go out */

void worker_wake(struct bff_worker *w)
{
    uint64_t one = 1;
    if (w->wakefd >= 0) {
        ssize_t n = write(w->wakefd, &one, sizeof(one));
        (void)n;
    }
}

/* Parses "host:port" ("127.0.0.1:8080", "localhost:80", "[::1]:8080"),
 * binds and listens. Returns the fd or -1 with a reason in @err. */
int server_listen(const char *hostport, int reuseport, char *err, size_t errlen)
{
    char             host[256];
    const char      *colon = strrchr(hostport, ':');
    struct addrinfo  hints = {0}, *ai = NULL;
    int              fd = -1, one = 1;

    if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
        snprintf(err, errlen, "expected HOST:PORT");
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 2 || host[l - 1] != ']') {
            snprintf(err, errlen, "bad IPv6 literal");
            return -1;
        }
        memmove(host, host + 1, l - 2);
        host[l - 2] = '\0';
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s", gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        goto fail;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0)
        goto fail;
    freeaddrinfo(ai);
    return fd;
fail:
    snprintf(err, errlen, "%s", strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

int server_bound_addr(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage a;
    socklen_t               len = sizeof(a);
    char                    ip[INET6_ADDRSTRLEN];

    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    if (a.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a;
        if (!inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip)))
            return -1;
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(a6->sin6_port));
    } else if (a.ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a;
        if (!inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip)))
            return -1;
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(a4->sin_port));
    } else {
        return -1;
    }
    return 0;
}

int worker_start(struct bff_worker *w)
{
    struct epoll_event ev = {0};

    if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
        w->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)w;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->timerfd < 0 || w->wakefd < 0)
        return BFF_EIO;
    if (up_worker_init(w) != 0 || front_daemon(w) != 0)
        return BFF_EIO;
    if (up_retry_init(w, up_retry_due) != 0) /* the retry timer */
        return BFF_EIO;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di)
        return BFF_EIO;
    ev.events = EPOLLIN;
    ev.data.u64 = TAG(TAG_MHD, 0);
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, di->epoll_fd, &ev) != 0)
        return BFF_EIO;
    ev.data.u64 = TAG(TAG_TIMER, 0);
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev) != 0)
        return BFF_EIO;
    ev.data.u64 = TAG(TAG_WAKE, 0);
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) != 0)
        return BFF_EIO;
    if (rl_worker_init(w) != 0) /* rate-limit store: Redis timer, memory store ref */
        return BFF_EIO;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        w->thread = 0;
        rl_worker_cleanup(w);
        return BFF_EIO;
    }
    return 0;
}

static void on_wake(struct bff_worker *w)
{
    uint64_t v;
    ssize_t  n = read(w->wakefd, &v, sizeof(v));
    (void)n;
    if (atomic_exchange(&w->reload, 0)) {
        front_snap_swap(w, snap_current(w->srv));
    }
    if (atomic_exchange(&w->quiesce, 0) && w->listen_fd >= 0) {
        MHD_socket fd = MHD_quiesce_daemon(w->mhd);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        w->listen_fd = -1;
    }
}

/* Fires curl's timer if it is due: the transfers a turn started (a 0 ms
 * timer after curl_multi_add_handle) take their first step in the same
 * turn instead of costing one more epoll_wait. */
static void curl_timer_due(struct bff_worker *w)
{
    for (int i = 0; i < 4 && w->curl_due_us && bff_now_us() >= w->curl_due_us; i++) {
        w->curl_due_us = 0;
        up_worker_event(w, -1, 0);
    }
}

/* Whether libmicrohttpd has work without its fd firing: a connection was
 * resumed, or its timeout is due (0 also while it holds connections whose
 * socket it has not read or written to EAGAIN yet). @again: the daemon ran
 * in this turn already; a TLS daemon's 0 may then be a handshake waiting
 * for its peer (front/tls.c), which one run a turn is enough for. */
static int mhd_due(struct bff_worker *w, int again)
{
    MHD_UNSIGNED_LONG_LONG mto;
    if (w->mhd_resumed)
        return 1;
    if (again && w->mhd_tls)
        return 0;
    return MHD_get_timeout(w->mhd, &mto) == MHD_YES && mto == 0;
}

/* One turn: one epoll_wait for every source, then curl's due timer, then
 * the daemon, only when its fd fired, a connection was resumed or its
 * timeout is due (MHD_run's own epoll_wait is a system call too). The
 * daemon runs again in the same turn while it still has work (after an
 * answer it takes two more runs to reach the next request's read), a few
 * times at most, so that a connection always ready cannot starve curl. */
void *worker_main(void *arg)
{
    struct bff_worker *w = arg;
    struct epoll_event evs[128];
    int                run_mhd = 1;

    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        MHD_UNSIGNED_LONG_LONG mto = 0;
        int                    timeout = 1000;
        if (w->mhd_resumed)
            timeout = 0;
        else if (MHD_get_timeout(w->mhd, &mto) == MHD_YES && mto < 1000)
            timeout = (int)mto;
        if (w->mhd_tls && front_tls_stalled() && timeout < FRONT_TLS_STALL_MS)
            timeout = FRONT_TLS_STALL_MS; /* a handshake waiting: not work (front/tls.c) */
        if (w->requests && timeout > WATCH_AFTER_MS)
            timeout = WATCH_AFTER_MS; /* the waiting-client sweep below */
        uint64_t sdue = up_stream_due(w);
        if (sdue) { /* a stream call's head or idle deadline */
            uint64_t now = bff_now_ms();
            int      t = now >= sdue ? 0 : (int)(sdue - now);
            if (t < timeout)
                timeout = t;
        }
        if (w->curl_due_us) {
            uint64_t now = bff_now_us();
            int t = now >= w->curl_due_us ? 0 : (int)((w->curl_due_us - now + 999) / 1000);
            if (t < timeout)
                timeout = t;
        }
        int n = epoll_wait(w->epfd, evs, 128, timeout);
        for (int i = 0; i < n; i++) {
            uint64_t u = evs[i].data.u64;
            switch (TAG_OF(u)) {
            case TAG_CURL:
                up_worker_event(w, (int)(uint32_t)u, evs[i].events);
                break;
            case TAG_TIMER: {
                uint64_t exp;
                ssize_t  r = read(w->timerfd, &exp, sizeof(exp));
                (void)r;
                up_worker_event(w, -1, 0);
                break;
            }
            case TAG_WAKE:
                on_wake(w);
                run_mhd = 1; /* a quiesce or a drain changes what it answers */
                break;
            case TAG_RETRY:
                up_retry_event(w);
                break;
            case TAG_CLIENT:
                req_client_event(w, TAG_PAYLOAD(u));
                break;
            case TAG_RL:
            case TAG_RL_TIMER:
                rl_worker_event(w, u, evs[i].events);
                break;
            case TAG_MHD:
                run_mhd = 1;
                break;
            case TAG_WS_UP:
            case TAG_WS_CLIENT:
            case TAG_WS_TIMER:
                ws_worker_event(w, u, evs[i].events);
                break;
            case TAG_NONE:
                break;
            }
        }
        if (w->requests) {
            uint64_t now_ms = bff_now_ms();
            if (now_ms >= w->next_watch_ms) {
                req_watch_waiting(w, now_ms);
                w->next_watch_ms = now_ms + WATCH_AFTER_MS;
            }
        }
        if (sdue)
            up_stream_sweep(w, bff_now_ms());
        curl_timer_due(w);
        for (int k = 0; k < 3 && (run_mhd || mhd_due(w, k > 0)); k++) {
            run_mhd = 0;
            w->mhd_resumed = 0;
            MHD_run(w->mhd);
            curl_timer_due(w);
        }
        if (n == 0 && timeout >= 1000)
            run_mhd = 1; /* an idle second: let the daemon look at its clock */
    }

    /* stopping: answer whatever still waits, end the streams (their last
     * chunk, flushed for half a second at most), then let the daemon close
     * it all */
    front_abort_all(w); /* WebSockets too: each request's cancel closes it */
    ws_worker_cleanup(w);
    MHD_run(w->mhd);
    for (uint64_t until = bff_now_ms() + STOP_FLUSH_MS; w->nstreams && bff_now_ms() < until;) {
        epoll_wait(w->epfd, evs, 128, 10);
        w->mhd_resumed = 0;
        MHD_run(w->mhd);
    }
    MHD_stop_daemon(w->mhd);
    w->mhd = NULL;
    up_worker_cleanup(w);
    agg_worker_cleanup(w);
    front_free_requests(w);
    up_retry_cleanup(w);
    rl_worker_cleanup(w); /* after the daemon: no request waits for Redis any more */
    close(w->epfd);
    close(w->timerfd);
    close(w->wakefd);
    w->wakefd = -1;
    w->listen_fd = -1; /* closed by MHD_stop_daemon or at quiesce */
    return NULL;
}
