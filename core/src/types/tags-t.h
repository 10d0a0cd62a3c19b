/* core/src/types/tags-t.h — what an epoll event of a worker refers to
 *
 * Every fd in a worker's epoll set carries a tag in the top byte of its
 * epoll_data.u64; the rest is the tag's payload (an fd or a pointer, which
 * must leave the top byte clear). One enum for all of them: the loop
 * (loop/worker.c) routes each event by its tag. Types only. */
#ifndef BFF_TYPES_TAGS_T_H
#define BFF_TYPES_TAGS_T_H

#define TAG_MASK 0xff00000000000000ull
#define TAG_SHIFT 56

enum bff_tag {
    TAG_NONE = 0,
    TAG_MHD = 1,      /* the libmicrohttpd daemon's epoll fd (front) */
    TAG_TIMER = 2,    /* the worker's timerfd (unused by curl: curl_due_us) */
    TAG_WAKE = 3,     /* the wake eventfd: stop / drain / reload */
    TAG_CURL = 4,     /* | fd: a curl socket (upstream/upstream.c) */
    TAG_RETRY = 5,    /* the retry timerfd (upstream/retry.c) */
    TAG_RL = 6,       /* | fd: the worker's Redis connection (pipeline/ratelimit) */
    TAG_RL_TIMER = 7, /* rate-limit store deadlines (pipeline/ratelimit) */
    TAG_CLIENT = 8,   /* | request pointer: a waiting client's socket (request/) */
    /* WebSockets (handlers/websocket.c) */
    TAG_WS_UP = 9,     /* | WebSocket pointer: its service's socket */
    TAG_WS_CLIENT = 10, /* | WebSocket pointer: its client's upgraded socket */
    TAG_WS_TIMER = 11, /* the worker's WebSocket deadline sweep */
};

/* The epoll_data.u64 value of @tag with @payload. */
#define TAG(tag, payload) (((unsigned long long)(tag) << TAG_SHIFT) | (payload))
#define TAG_OF(u64) ((enum bff_tag)((u64) >> TAG_SHIFT))
#define TAG_PAYLOAD(u64) ((u64) & ~TAG_MASK)

#endif
