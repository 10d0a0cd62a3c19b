/* core/src/types/request-t.h — one client request (types only; the
 * functions are request/request.h) */
#ifndef BFF_TYPES_REQUEST_T_H
#define BFF_TYPES_REQUEST_T_H

#include <stddef.h>
#include <stdint.h>

#include "bff/arena.h"
#include "bff/config.h"
#include "bff/endpoint.h"
#include "bff/jwt.h"
#include "bff/router.h"

struct bff_worker;
struct bff_snapshot;
struct MHD_Connection;
struct up_call;
struct bff_agg;
struct rl_req;
struct idem_req;
struct req_stream;
struct proxy_stream;
struct bff_ws;

#define REQ_MAX_RHDRS 8

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
    const char                  *version;   /* "HTTP/1.1", libmicrohttpd's */
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
    char                        *body;       /* malloc'd, bounded by max_body; a
                                                streamed body: its buffer */
    size_t                       body_len, body_cap;
    int                          body_too_large;
    /* a body streamed to the service as it arrives (request/stream.c):
     * body[body_off, body_len) waits to be read */
    int                          body_streaming;
    size_t                       body_off;
    uint64_t                     body_len_total; /* received so far */
    int                          upload_blocked; /* libmicrohttpd holds the rest */
    int                          upload_done;
    void                       (*upload_more)(struct bff_request *r); /* handler's */
    int                          dispatched; /* the dispatch step ran */
    struct req_stream           *stream;     /* a streamed answer, or NULL */
    int                          started;
    int                          suspended;
    uint64_t                     suspended_ms; /* when it was suspended */
    int                          answered;   /* a response is set */
    void                        *resp;       /* struct MHD_Response * */
    int                          status;
    size_t                       bytes_out;
    char                        *timings;    /* for the access log */
    /* what the request layer sends with any answer, in this order after
     * X-Request-Id: pipeline steps push them (req_push_header) */
    struct bff_hdr               rhdrs[REQ_MAX_RHDRS];
    unsigned                     nrhdrs;
    /* a refusal a step left for later (req_refuse_later): answered by the
     * pipeline once the steps that still run after a refusal are done */
    struct {
        int            pending;
        int            status;
        const char    *detail;
        struct bff_hdr hdrs[2];
        size_t         nhdrs;
        int            held; /* by a step: answered in the BODY phase */
    } refusal;
    /* the handler's way to stop what it started (client left, shutdown,
     * completion): set by the handler, called once by req_cancel() */
    void                       (*cancel)(struct bff_request *r);
    /* a step's way to see the answer as it is set (req_respond calls it
     * once, before the answer goes out, then clears it): the status, the
     * content type, the body and the headers given with it (not
     * X-Request-Id nor the pushed ones) */
    void                       (*on_answer)(struct bff_request *r, int status,
                                            const char *content_type, const char *body,
                                            size_t len, const struct bff_hdr *hdrs,
                                            size_t nhdrs);
    int                          client_fd; /* watched while suspended */
    int                          watching;  /* client_fd is in the epoll set */
    /* per-step and per-handler state */
    struct up_call              *proxy;     /* handlers/proxy.c */
    struct proxy_stream         *proxy_stream; /* handlers/proxy.c */
    struct bff_agg              *agg;       /* handlers/agg.c */
    struct rl_req               *rl;        /* pipeline/ratelimit.c */
    struct idem_req             *idem;      /* pipeline/idempotency.c */
    struct bff_ws               *ws;        /* handlers/websocket.c */
};

#endif
