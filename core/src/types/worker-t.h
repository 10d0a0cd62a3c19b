/* core/src/types/worker-t.h — the process and its workers (types only) */
#ifndef BFF_TYPES_WORKER_T_H
#define BFF_TYPES_WORKER_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct bff_app;
struct bff_snapshot;
struct bff_request;
struct bff_metrics_worker;
struct bff_ratelimiter;
struct res_registry;
struct up_retry;
struct up_cache;
struct rl_worker;
struct ws_worker;
struct MHD_Daemon;

struct bff_server {
    const struct bff_app *app;
    const char           *config_path;
    pthread_mutex_t       snap_lock;   /* guards snap (not on the request path) */
    struct bff_snapshot  *snap;
    struct bff_worker    *workers;
    unsigned              nworkers;
    _Atomic int           draining;
    _Atomic int           ready;
    _Atomic uint64_t      reloads;
    _Atomic uint64_t      reloads_rejected;
    struct MHD_Daemon    *admin;
    /* operations (front/front.c): guarded by snap_lock */
    int64_t               started_at;    /* unix seconds */
    int64_t               rejected_at;   /* last rejected reload; 0 = none */
    char                 *rejected_errs; /* its errors, one per line (malloc) */
    struct res_registry  *res;           /* per-service resilience state */
    _Atomic uint64_t      clients_gone;  /* requests whose client left while
                                            they waited (request/watch.c) */
    /* what a route of each kind runs once the pipeline passes it
     * (enum bff_route_kind: proxy, handler, static); set by app/ */
    void                (*handle[3])(struct bff_request *r);
    /* the in-memory rate-limit store: one for the process, kept across
     * reloads, sized by the first config's max_keys (pipeline/ratelimit.c) */
    struct bff_ratelimiter *rl_mem;
    _Atomic unsigned        rl_users;    /* workers holding rl_mem */
};

struct bff_worker {
    struct bff_server   *srv;
    unsigned             id;
    pthread_t            thread;
    int                  epfd;
    int                  timerfd;     /* unused by curl: see curl_due_us */
    uint64_t             curl_due_us; /* when curl wants its timeout action; 0 = never */
    uint64_t             next_watch_ms; /* next server_watch_waiting() sweep */
    int                  wakefd;      /* eventfd: stop / reload / drain */
    int                  listen_fd;
    struct MHD_Daemon   *mhd;
    int                  mhd_tls;     /* the daemon serves HTTPS (front/tls.c) */
    unsigned             mhd_resumed; /* a connection was resumed since the
                                         daemon last ran (loop/worker.c) */
    void                *multi;       /* CURLM */
    struct bff_snapshot *snap;        /* this worker's config; swapped on wake */
    unsigned             snap_borrowers; /* requests using snap on the worker's
                                            own ref (no shared atomic each) */
    _Atomic int          stop;
    _Atomic int          quiesce;
    _Atomic int          reload;
    _Atomic uint32_t     in_flight;   /* requests not yet completed */
    struct bff_request  *requests;    /* live requests (for stop) */
    uint64_t             rng;
    void               **easy_pool;   /* idle curl handles */
    uint8_t             *fdtab;       /* curl sockets in the epoll set (upstream/upstream.c) */
    size_t               nfdtab;
    size_t               neasy_pool;
    struct bff_metrics_worker *metrics; /* written by this thread only */
    struct up_retry     *retry;       /* retry timer (upstream/retry.c) */
    struct up_cache     *cache;       /* answers kept, calls coalesced (upstream/cache.c) */
    struct up_call      *ustreams;    /* calls with stream ops (their deadlines) */
    uint64_t             ustream_due_ms; /* no deadline of theirs is before it; 0 none */
    struct up_call      *ufresh;      /* heads this turn, flow() pending */
    unsigned             nstreams;    /* streamed answers begun, not completed */
    struct rl_worker    *rl;          /* Redis connection + timer (pipeline/ratelimit.c) */
    void                *tok;         /* json_tokener reused for every part (handlers/agg.c) */
    struct bff_request  *free_reqs;   /* finished requests kept for reuse (front/front.c) */
    unsigned             nfree_reqs;
    struct ws_worker    *ws;          /* open WebSockets, their timer (handlers/websocket.c) */
};

#endif
