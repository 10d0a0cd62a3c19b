/* core/src/request/watch.c — seeing a client leave while its request waits
 *
 * libmicrohttpd does not watch a suspended connection, so a client that
 * closes while its request waits for services would go unseen until the
 * answer. Requests suspended for WATCH_AFTER_MS or more get their socket in
 * the worker's epoll set (EPOLLRDHUP, tagged TAG_CLIENT | the request); fast
 * requests never pay the two epoll_ctl calls, a slow one is watched within
 * 2 x WATCH_AFTER_MS. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "request/request.h"
#include "request/stream.h"
#include "types/tags-t.h"
#include "types/worker-t.h"

static void watch(struct bff_request *r, int fd)
{
    struct epoll_event ev = {0};
    uintptr_t          p = (uintptr_t)r;

    if (r->watching || fd < 0 || ((uint64_t)p & TAG_MASK) != 0)
        return;
    ev.events = EPOLLRDHUP;
    ev.data.u64 = TAG(TAG_CLIENT, (uint64_t)p);
    if (epoll_ctl(r->w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        r->client_fd = fd;
        r->watching = 1;
    }
}

void req_watch_waiting(struct bff_worker *w, uint64_t now_ms)
{
    for (struct bff_request *r = w->requests; r; r = r->next) {
        uint64_t since;
        if (r->watching)
            continue;
        if (req_stream_waiting(r, &since)) { /* a stream waiting for bytes */
            if (now_ms - since < WATCH_AFTER_MS)
                continue;
        } else if (!r->suspended || r->answered ||
                   now_ms - r->suspended_ms < WATCH_AFTER_MS) {
            continue;
        }
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            watch(r, ci->connect_fd);
    }
}

/* The client closed its end while its request waited for services: cancel
 * the calls (giving their slots back) and end the request. The answer
 * (499, nginx's "client closed request", for the access log) is never read. */
void req_client_event(struct bff_worker *w, uint64_t payload)
{
    struct bff_request *r = (struct bff_request *)(uintptr_t)payload;
    (void)w;
    if (!r->watching) /* unwatched earlier in this epoll batch */
        return;
    req_unwatch(r);
    if (req_stream_began(r)) { /* gone mid-stream: stop the service, close */
        req_cancel(r);
        req_stream_end(r, 0, METRICS_END_CLIENT);
        return;
    }
    if (r->answered)
        return;
    atomic_fetch_add(&r->w->srv->clients_gone, 1);
    req_cancel(r);
    struct bff_hdr h = {"Connection", "close"};
    req_respond(r, 499, NULL, NULL, 0, 0, &h, 1);
}
