/* core/src/upstream/retry.c — retries wait here: one timerfd per worker in
 * its epoll set (TAG_RETRY), calls waiting in due order
 *
 * The upstream layer owns retries: when an attempt ends, runtime/resilience.c
 * decides (retry or not, and when: c->res.due_ms); this file waits and, when
 * the time comes, hands the call to the function upstream.c gave it, which
 * asks again (res_call_readmit) and starts the next attempt. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bff/err.h"
#include "bff/util.h"
#include "types/tags-t.h"
#include "types/upstream-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

struct up_retry {
    int             tfd;
    uint64_t        armed; /* due (bff_now_ms) the timerfd is set for; 0 = none */
    struct up_call *head;  /* retries waiting, earliest first */
    void          (*due)(struct up_call *c); /* upstream.c: the next attempt */
};

int up_retry_init(struct bff_worker *w, void (*due)(struct up_call *c))
{
    struct up_retry   *rw = calloc(1, sizeof(*rw));
    struct epoll_event ev = {0};

    if (!rw)
        return BFF_ENOMEM;
    rw->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.u64 = TAG(TAG_RETRY, 0);
    if (rw->tfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, rw->tfd, &ev) != 0) {
        if (rw->tfd >= 0)
            close(rw->tfd);
        free(rw);
        return BFF_EIO;
    }
    rw->due = due;
    w->retry = rw;
    return 0;
}

void up_retry_cleanup(struct bff_worker *w)
{
    struct up_retry *rw = w->retry;
    if (!rw)
        return;
    /* every request was answered and cancelled before the daemon stopped */
    close(rw->tfd);
    free(rw);
    w->retry = NULL;
}

static void timer_arm(struct up_retry *rw)
{
    if (!rw->head || rw->head->res.due_ms == rw->armed)
        return;
    uint64_t          due = rw->head->res.due_ms;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(due / 1000);
    its.it_value.tv_nsec = (long)(due % 1000) * 1000000L;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(rw->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    rw->armed = due;
}

void up_retry_add(struct up_call *c)
{
    struct up_retry *rw = c->w->retry;
    struct up_call **pp = &rw->head, *prev = NULL;
    while (*pp && (*pp)->res.due_ms <= c->res.due_ms) {
        prev = *pp;
        pp = &(*pp)->retry_next;
    }
    c->retry_next = *pp;
    c->retry_prev = prev;
    if (*pp)
        (*pp)->retry_prev = c;
    *pp = c;
    timer_arm(rw);
}

void up_retry_del(struct up_call *c)
{
    struct up_retry *rw = c->w->retry;
    if (c->retry_prev)
        c->retry_prev->retry_next = c->retry_next;
    else
        rw->head = c->retry_next;
    if (c->retry_next)
        c->retry_next->retry_prev = c->retry_prev;
    c->retry_prev = c->retry_next = NULL;
}

void up_retry_event(struct bff_worker *w)
{
    struct up_retry *rw = w->retry;
    uint64_t         exp;
    ssize_t          n = read(rw->tfd, &exp, sizeof(exp));
    (void)n;
    rw->armed = 0;
    uint64_t        now = bff_now_ms();
    struct up_call *c;
    /* done() may cancel or add retries: take the head afresh every time */
    while ((c = rw->head) && c->res.due_ms <= now) {
        up_retry_del(c);
        rw->due(c);
    }
    timer_arm(rw);
}
