/* core/src/internal.h — types shared by the server, worker, upstream, proxy and
 * aggregation modules. Not part of the public face: BFF directories never
 * include it. MHD and curl types stay opaque here; only server.c/worker.c
 * touch libmicrohttpd and only upstream.c touches curl. */
#ifndef BFF_INTERNAL_H
#define BFF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bff/arena.h"
#include "bff/config.h"
#include "bff/endpoint.h"
#include "bff/jwt.h"
#include "bff/router.h"
#include "bff/server.h"
#include "runtime/resilience.h"

struct MHD_Daemon;
struct MHD_Connection;
struct bff_worker;
struct bff_request;
struct bff_metrics_worker;
struct bff_ratelimiter;
struct rl_snap;
struct rl_worker;
struct rl_req;
struct jwks_src;
struct tokcache_set;

/* ---- config snapshot: immutable, reference counted -------------------- */

struct bff_service_rt {
    const struct bff_service_conf *conf;
    _Atomic uint32_t               in_flight; /* bulkhead, over all workers */
    uint32_t                       mslot;     /* metrics slot (metrics.c) */
    struct res_svc                *res;       /* breaker, bulkhead, health: the
                                                 registry entry (resilience.c) */
};

struct bff_snapshot {
    _Atomic unsigned        refs;
    struct bff_config      *cfg;
    struct bff_router      *router;
    struct bff_service_rt  *services; /* cfg->nservices */
    struct bff_keyset      *keys;     /* jwks_file's; NULL when auth.jwt is off */
    struct jwks_src        *jwks;     /* jwks_url's key sets, shared across
                                         reloads of the same URL (jwks_fetch.c) */
    struct tokcache_set    *tokcache; /* verified tokens, per worker (tokcache.c) */
    struct bff_jwt_policy   policy;
    uint8_t                *sign_key; /* NULL when forwarding unsigned */
    size_t                  sign_keylen;
    uint32_t               *route_mslot; /* cfg->nroutes metrics slots (metrics.c) */
    struct rl_snap         *rl; /* rate-limit policies and counters (rl_store.c) */
};

struct bff_snapshot *snap_ref(struct bff_snapshot *s);
void snap_unref(struct bff_snapshot *s);

/* ---- upstream calls (upstream.c) --------------------------------------- */

enum up_result {
    UP_OK = 0,       /* an HTTP answer arrived (any status) */
    UP_TIMEOUT,      /* connect or whole-call deadline passed */
    UP_CONNECT,      /* refused / unreachable */
    UP_TOO_LARGE,    /* answer body past the cap */
    UP_BROKEN,       /* closed mid-answer, bad framing, other transport error */
    UP_BAD_HEAD,     /* an invalid head: a field line that is not one, two
                        different Content-Lengths, over max_header */
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

    /* private */
    void              *easy;
    int                easy_dirty; /* per-call options beyond the usual set */
    struct bff_worker *w;
    size_t             resp_cap;
    size_t             hdr_cap;
    uint64_t           start_us;
    int                running;
    struct res_call    res;       /* resilience.c */
};

/* Starts @c on worker @w's multi handle. Returns 0 and later calls c->done
 * exactly once on @w's thread (never from inside this call), or a negative
 * bff_err and never calls it. */
int up_call_start(struct bff_worker *w, struct up_call *c);
/* Stops a running call; done() is not called. Frees c->resp_body. */
void up_call_cancel(struct up_call *c);
/* Frees what a finished call still holds (c->resp_body). */
void up_call_cleanup(struct up_call *c);
/* resilience.c: starts the next attempt of admitted call @c (a retry).
 * Returns 0, or a negative bff_err (nothing started). */
int up_call_retry(struct up_call *c);
/* resilience.c, health thread: a blocking GET of @url, with the service's
 * tls: files (each may be NULL). Returns the HTTP status, or a negative
 * bff_err (BFF_ETIMEDOUT, BFF_EIO). */
int up_probe_get(const char *url, uint32_t connect_timeout_ms, uint32_t timeout_ms,
                 const char *tls_ca, const char *tls_cert, const char *tls_key);

/* What a call that got no usable HTTP answer means for the client: returns
 * 504 (timeout) or 502 and sets a short Server-Timing @desc ("timeout") and
 * a detail @what ("did not answer in time") to follow the service's name;
 * returns 0 for UP_OK. One mapping for proxy routes and aggregation parts. */
int up_failure(enum up_result res, const char **desc, const char **what);
/* Appends @n bytes at @p to the malloc'd buffer *@buf (*@len used, *@cap
 * allocated; first allocation @first_cap, then doubling) and keeps it
 * NUL-terminated. Returns 0, or BFF_ENOMEM with the buffer unchanged. The
 * caller bounds the total. */
int up_buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n,
                  size_t first_cap);
int up_worker_init(struct bff_worker *w);
void up_worker_cleanup(struct bff_worker *w);
/* Drives curl after epoll reported @fd (or fd -1: the timer fired). */
void up_worker_event(struct bff_worker *w, int fd, uint32_t events);
int up_global_init(void);
void up_global_cleanup(void);

/* ---- workers ------------------------------------------------------------ */

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
    /* operations (server.c): guarded by snap_lock */
    int64_t               started_at;    /* unix seconds */
    int64_t               rejected_at;   /* last rejected reload; 0 = none */
    char                 *rejected_errs; /* its errors, one per line (malloc) */
    struct res_registry  *res;           /* per-service resilience state */
    /* the in-memory rate-limit store: one for the process, kept across
     * reloads, sized by the first config's max_keys (rl_store.c) */
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
    uint8_t             *fdtab;       /* curl sockets in the epoll set (upstream.c) */
    size_t               nfdtab;
    size_t               neasy_pool;
    struct bff_metrics_worker *metrics; /* written by this thread only */
    struct res_worker   *res;         /* retry timer (resilience.c) */
    struct rl_worker    *rl;          /* Redis connection + timer (rl_store.c) */
    void                *tok;         /* json_tokener reused for every part (agg.c) */
    struct bff_request  *free_reqs;   /* finished requests kept for reuse (server.c) */
    unsigned             nfree_reqs;
};

void worker_wake(struct bff_worker *w);
int worker_start(struct bff_worker *w);
void *worker_main(void *arg);
uint64_t worker_rand(struct bff_worker *w);

/* ---- one client request --------------------------------------------------- */

struct bff_hdr {
    const char *name;
    const char *value;
};

struct bff_request {
    struct bff_worker           *w;
    struct bff_snapshot         *snap;
    int                          snap_borrowed; /* counted in w->snap_borrowers,
                                                   not in snap->refs */
    struct MHD_Connection       *conn;
    struct bff_arena             arena;
    struct bff_request          *prev, *next;
    uint64_t                     start_us;
    const char                  *method;
    uint32_t                     mbit;
    char                        *raw_uri;   /* as it arrived (strlen: to a NUL) */
    const char                  *mhd_uri;   /* where libmicrohttpd holds it */
    size_t                       mhd_uri_len;
    uint64_t                     content_length; /* from the head check */
    int                          has_body;  /* Content-Length > 0 or chunked */
    int                          close_now; /* refused head: answer, then close */
    int                          chunked;   /* the body came chunked */
    char                        *path;      /* normalized */
    size_t                       path_len;
    const char                  *query;     /* raw, without '?'; NULL if none */
    int                          route_idx; /* -1 = none */
    const struct bff_route_conf *route;
    struct bff_route_params      params;
    size_t                       prefix_len;
    char                         request_id[129];
    char                         trace_id[33];
    int                          trace_sampled; /* the sampled flag we pass on */
    const char                  *tracestate;    /* normalized, NULL = none (only
                                                   with a valid traceparent) */
    char                         client_ip[64];
    int                          authenticated;
    struct bff_identity          ident;
    char                        *body;       /* malloc'd, bounded by max_body */
    size_t                       body_len, body_cap;
    int                          body_too_large;
    int                          started;
    int                          suspended;
    uint64_t                     suspended_ms; /* when it was suspended */
    int                          answered;   /* a response is set */
    void                        *resp;       /* struct MHD_Response * */
    int                          status;
    size_t                       bytes_out;
    char                        *timings;    /* for the access log */
    struct up_call              *proxy;
    struct bff_agg              *agg;
    int                          client_fd; /* watched while suspended */
    int                          watching;  /* client_fd is in the epoll set */
    struct rl_req               *rl;        /* rate-limit state (rl_store.c) */
};

/* The value of request header @name, or NULL. Borrowed for the request. */
const char *req_header(struct bff_request *r, const char *name);
/* Calls @fn for every request header, in order; stops when it returns 0. */
/* How many header lines the client sent. */
size_t req_header_count(struct bff_request *r);
void req_each_header(struct bff_request *r,
                     int (*fn)(void *cls, const char *name, const char *value),
                     void *cls);

/* Answers @r with @status and body @body (@len bytes; @body_malloced 1 when
 * it is a malloc'd buffer the response now owns, 0 when it lives in the
 * request's arena or is static). @hdrs (may be NULL) are added as given;
 * X-Request-Id and the standard headers are added here. Callable from the
 * access handler or from an upstream completion (it resumes the connection).
 * A request answers once; later calls are ignored. */
void req_respond(struct bff_request *r, int status, const char *content_type,
                 char *body, size_t len, int body_malloced,
                 const struct bff_hdr *hdrs, size_t nhdrs);
/* Answers with an RFC 9457 problem+json body. */
void req_problem(struct bff_request *r, int status, const char *detail,
                 const struct bff_hdr *hdrs, size_t nhdrs);
/* Suspends the connection while upstream calls run. */
void req_suspend(struct bff_request *r);
/* Watches the client sockets of requests suspended for a while (server.c). */
#define WATCH_AFTER_MS 50
void server_watch_waiting(struct bff_worker *w, uint64_t now_ms);
/* Resumes a suspended request without answering it (it goes on). */
void req_resume(struct bff_request *r);

/* A fresh 16-byte id as 32 lowercase hex digits. */
void req_new_id(struct bff_worker *w, char out[33]);
/* "traceparent: 00-<trace>-<new span>-<flags>" for one upstream call (flags
 * 01 when sampled, else 00), in request
 * memory (NULL when out of memory). */
const char *req_child_traceparent_header(struct bff_request *r);
/* Appends "name;dur=12.3[;desc=\"x\"]" to the request's timings. */
void req_add_timing(struct bff_request *r, const char *name, double ms,
                    const char *desc);

/* ---- problem+json (problem.c) ------------------------------------------- */

const char *bff_status_title(int status);
/* Resolves the libmicrohttpd functions mhd_shim.c wraps; 0 or -1. */
int mhd_shim_init(void);
/* The front door (SPEC §4): checks the head libmicrohttpd parsed for @conn,
 * rebuilt in @scratch (at least MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE
 * bytes, see server_head_size()). Returns 0 and fills @h, or the status to
 * answer with a reason in *@why. */
struct bff_http_head;
size_t server_head_size(struct MHD_Connection *conn);
int server_head_check(struct MHD_Connection *conn, const char *method, const char *version,
                      const char *uri, size_t uri_len, const char *pristine, char *scratch,
                      size_t size, struct bff_http_head *h, const char **why);
/* The problem body for @r in its arena; sets *len. */
char *problem_body(struct bff_arena *a, int status, const char *detail,
                   const char *instance, const char *request_id, size_t *len);
/* Appends @s JSON-escaped (without quotes) to @out (cap bytes incl. NUL);
 * returns the new length or cap when truncated. */
size_t json_escape(char *out, size_t cap, size_t len, const char *s);

/* ---- route kinds ------------------------------------------------------- */

/* Proxy route: forwards @r to its service. */
void proxy_start(struct bff_request *r);
/* Aggregation route: runs the endpoint's stages. */
void agg_start(struct bff_request *r);
/* Cancels an aggregation's pending calls (client gone or shutting down). */
void agg_cancel(struct bff_request *r);
/* Frees what agg.c keeps per worker (its json_tokener). */
void agg_worker_cleanup(struct bff_worker *w);
/* Finished requests are kept per worker for the next ones (at most
 * REQ_POOL_MAX, each with one arena chunk of at most REQ_ARENA_KEEP bytes);
 * this frees them when the worker stops. */
#define REQ_POOL_MAX 64
#define REQ_ARENA_KEEP 16384
void server_worker_free_requests(struct bff_worker *w);
/* Swaps the worker's snapshot for @s (a reference the worker now owns). */
void server_worker_snap_swap(struct bff_worker *w, struct bff_snapshot *s);
/* Builds the upstream identity headers for @r into @out ("Name: value"
 * lines in request memory), for a call of @method on @path_query of the
 * service at @service_url (the signature covers the URL's own base path too,
 * as the service sees it).
 * Sets *@nout to how many were written (at most 7). Returns 0, BFF_ENOMEM,
 * or BFF_EINVAL when the signer refuses a field (a control character): the
 * caller then answers 500 and forwards nothing. */
int identity_headers(struct bff_request *r, const char *method, const char *service_url,
                     const char *path_query, const char **out, size_t *nout);

/* Static route: serves a file under the route's folder (static.c). */
void static_serve(struct bff_request *r);

/* server.c for worker.c */
int server_listen(const char *hostport, int reuseport, char *err, size_t errlen);
/* The address @fd is bound to, as HOST:PORT ("127.0.0.1:41234",
 * "[::1]:41234"): the real port when the config said 0. Returns 0 or -1. */
int server_bound_addr(int fd, char *out, size_t outlen);
int server_worker_daemon(struct bff_worker *w);
void server_worker_abort_all(struct bff_worker *w);
struct bff_snapshot *server_current_snapshot(struct bff_server *srv);

/* ---- access log (log.c) -------------------------------------------------- */

void log_access(struct bff_request *r);
/* One JSON line for operators: level "info"/"warn"/"error", a message. */
void log_event(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The start-up line on stderr, {"msg":"listening","listen":…,"admin":…}
 * with the bound addresses (@admin NULL: off), for whoever waits for the
 * ports (a port of 0 in the config is only known here). */
void log_listening(const char *listen, const char *admin);

#endif
