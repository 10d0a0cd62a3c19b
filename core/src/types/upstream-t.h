/* core/src/types/upstream-t.h — one call to a service (types only)
 *
 * The call is owned by the upstream layer (upstream/upstream.c); its
 * contract, what the caller sets and what done() may read, is here with the
 * fields. Handlers fill the inputs and call up_call_start(). */
#ifndef BFF_TYPES_UPSTREAM_T_H
#define BFF_TYPES_UPSTREAM_T_H

#include <stddef.h>
#include <stdint.h>

#include "types/resilience-t.h"

struct bff_arena;
struct bff_service_rt;
struct bff_worker;
struct cache_group;

enum up_result {
    UP_OK = 0,       /* an HTTP answer arrived (any status) */
    UP_TIMEOUT,      /* connect or whole-call deadline passed */
    UP_CONNECT,      /* refused / unreachable */
    UP_TOO_LARGE,    /* answer body past the cap */
    UP_BROKEN,       /* closed mid-answer, bad framing, other transport error */
    UP_BAD_HEAD,     /* an invalid head: a field line that is not one, two
                        different Content-Lengths, over max_header */
};

/* Where a call's answer came from (upstream/cache.c, services with cache:). */
enum up_cached {
    UP_CACHED_NO = 0, /* the call itself reached the service */
    UP_CACHED_FRESH,  /* a fresh entry (or one within stale-while-revalidate) */
    UP_CACHED_STALE,  /* the service failed: an entry within stale-if-error */
    UP_CACHED_SHARED, /* an identical call made at the same time (coalesced) */
};

/* A call whose answer, and request body, flow as they arrive (proxy
 * routes). The upstream layer calls these on the worker's thread, between
 * up_call_start() and done() (never after done() or up_call_cancel()).
 * The answer streams only when it is one that would not be retried or
 * kept: a status below 500 other than 204 and 304, with a body to come;
 * otherwise it is kept whole (max_body) as without ops, and done() has it. */
enum up_data { UP_DATA_TAKEN = 0, UP_DATA_PAUSE = 1, UP_DATA_ABORT = -1 };
#define UP_BODY_PAUSE (-1L)
struct up_call;
struct up_stream_ops {
    /* The final head is in (status, resp_headers, resp_cl): the body goes
     * to data() from now on; the call's bulkhead slot is given back and
     * its outcome counted (a stream past its head is not retried). */
    void (*head)(struct up_call *c);
    /* The turn in which the head came is over and the call still runs (a
     * call that ended in that turn gets done() instead, its bytes all given
     * to data()): the bytes may start flowing to the client. */
    void (*flow)(struct up_call *c);
    /* Answer bytes: UP_DATA_TAKEN (all of them), UP_DATA_PAUSE (none; the
     * transfer waits for up_call_resume_answer()), UP_DATA_ABORT (the call
     * ends UP_BROKEN). */
    int (*data)(struct up_call *c, const char *p, size_t len);
    /* The request body (body_streamed): up to @max bytes into @buf; n > 0,
     * 0 at its end, or UP_BODY_PAUSE when none is there yet (the transfer
     * waits for up_call_resume_body()). */
    long (*read)(struct up_call *c, char *buf, size_t max);
};

struct up_header {
    const char *name;  /* request memory */
    const char *value;
};

struct up_call {
    /* inputs, owned by the caller, stable until done() */
    const char        *method;
    const char        *url;
    const char *const *headers;   /* "Name: value" lines */
    size_t             nheaders;
    const char        *body;
    size_t             body_len;
    uint32_t           connect_timeout_ms;
    uint32_t           timeout_ms;
    size_t             max_body;  /* answer cap */
    size_t             max_header; /* answer head cap (0: 16 KiB) */
    size_t             head_bytes; /* of the answer's head so far */
    const char        *resp_cl;    /* its Content-Length, request memory */
    int                resp_te;    /* it had a Transfer-Encoding */
    int                head;      /* HEAD request: no body expected */
    void             (*done)(struct up_call *c);
    void              *ud;
    struct bff_arena  *arena;     /* required: the header list sent and the
                                     answer headers are allocated here */
    const struct bff_service_rt *rt; /* the service called (resilience,
                                        metrics); NULL = none of services: */
    uint64_t           deadline_ms; /* bff_now_ms(): retries end before it;
                                       0 = timeout_ms after the start */
    /* streaming (NULL: the answer is kept whole in resp_body). With ops,
     * timeout_ms is the time to the answer's head (from the end of a
     * streamed body) and idle_timeout_ms the longest gap between bytes. */
    const struct up_stream_ops *stream;
    uint32_t           idle_timeout_ms;
    int                body_streamed; /* the body comes from stream->read */
    int64_t            body_size;     /* its length; -1: unknown (chunked) */

    /* outputs, valid in done() */
    enum up_result     result;
    int                status;
    char              *resp_body; /* malloc'd; done() may take it (set NULL) */
    size_t             resp_len;
    struct up_header  *resp_headers;
    size_t             nresp_headers;
    double             ms;        /* wall time of the call */
    int                rejected;  /* enum res_reject when start said BFF_EBUSY */
    uint32_t           retry_after_ms; /* with rejected */
    unsigned           attempts;  /* 1 + retries made */
    int                cached;    /* enum up_cached: where the answer came from */
    uint32_t           age_s;     /* with UP_CACHED_FRESH/STALE: the entry's Age */
    int                streaming; /* the head was given to stream->head() */
    uint64_t           stream_bytes; /* answer bytes given to stream->data() */

    /* private */
    void              *easy;
    int                easy_dirty; /* per-call options beyond the usual set */
    struct bff_worker *w;
    size_t             resp_cap;
    size_t             hdr_cap;
    uint64_t           start_us;
    int                running;
    struct res_call    res;       /* runtime/resilience.c: admission, outcome */
    struct up_call    *retry_prev, *retry_next; /* upstream/retry.c: waiting */
    int                cache_role; /* upstream/cache.c: enum cache_role */
    const char        *cache_user; /* the X-User-Id sent, or NULL */
    struct cache_group *cgroup;    /* the identical calls it leads or waits for */
    struct up_call    *cw_prev, *cw_next; /* cgroup's waiters */
    int                status_line; /* the status of the last status line */
    unsigned           paused;     /* CURLPAUSE_RECV / _SEND bits set */
    int                body_sent;  /* stream->read said 0 */
    uint64_t           due_ms;     /* stream calls: head or idle deadline; 0 none */
    int                listed;     /* in the worker's stream-call list */
    struct up_call    *st_prev, *st_next;
    int                fresh;      /* head came this turn; flow() pending */
    struct up_call    *fr_prev, *fr_next;
};

#endif
