/* core/src/front/front.c — the libmicrohttpd front: one daemon per worker
 * (external epoll), its callbacks turning a connection's request into a
 * request object run through the pipeline, the worker's pool of request
 * objects, and the worker's snapshot swap. docs/http.md. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "bff/config.h"
#include "bff/err.h"
#include "bff/util.h"
#include "front/front.h"
#include "front/tls.h"
#include "handlers/handlers.h"
#include "pipeline/pipeline.h"
#include "request/request.h"
#include "request/stream.h"
#include "runtime/metrics.h"
#include "snapshot/snapshot.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/cache.h"

static enum MHD_Result queue(struct bff_request *r)
{
    struct MHD_Response *resp = r->resp;
    r->resp = NULL;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

size_t front_no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s); /* the router normalizes paths itself */
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct bff_worker  *w = cls;
    struct bff_request *r = w->free_reqs;
    (void)conn;

    if (r) { /* a finished request's memory, its arena chunk kept */
        struct bff_arena keep = r->arena;
        w->free_reqs = r->next;
        w->nfree_reqs--;
        memset(r, 0, sizeof(*r));
        r->arena = keep;
    } else {
        r = calloc(1, sizeof(*r));
        if (!r)
            return NULL;
        bff_arena_init(&r->arena, 0);
    }
    r->w = w;
    r->start_us = bff_now_us();
    r->snap = w->snap; /* borrowed: see front_snap_swap() */
    r->snap_borrowed = 1;
    w->snap_borrowers++;
    r->route_idx = -1;
    r->raw_uri = bff_arena_strdup(&r->arena, uri);
    r->mhd_uri = uri; /* in libmicrohttpd's read buffer, before it cuts the query */
    r->mhd_uri_len = strlen(uri);
    r->next = w->requests;
    if (w->requests)
        w->requests->prev = r;
    w->requests = r;
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct bff_worker  *w = cls;
    struct bff_request *r = *con_cls;
    (void)conn;

    if (!r)
        return;
    *con_cls = NULL;
    req_unwatch(r);
    req_cancel(r);
    req_stream_done(r, toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
                           toe == MHD_REQUEST_TERMINATED_READ_ERROR ||
                           toe == MHD_REQUEST_TERMINATED_WITH_ERROR);
    pipeline_request_done(r);
    if (r->resp)
        MHD_destroy_response(r->resp);
    if (!r->answered || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        if (toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
            toe == MHD_REQUEST_TERMINATED_READ_ERROR)
            r->status = 499; /* the client left before the answer (nginx's code) */
        else if (!r->answered && toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
            r->status = 408;
    }
    if (r->method)
        metrics_request_done(r);
    if (r->snap->cfg->access_log && r->method)
        req_log_access(r);
    if (r->prev)
        r->prev->next = r->next;
    else
        w->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    free(r->body);
    if (r->snap_borrowed)
        w->snap_borrowers--;
    else
        snap_unref(r->snap);
    if (w->nfree_reqs < REQ_POOL_MAX) {
        bff_arena_reset(&r->arena, REQ_ARENA_KEEP);
        r->next = w->free_reqs;
        w->free_reqs = r;
        w->nfree_reqs++;
        return;
    }
    bff_arena_cleanup(&r->arena);
    free(r);
}

/* The worker's snapshot becomes @s. Requests borrow the worker's reference
 * instead of each taking one (an atomic on a cache line every worker
 * shares); the ones still running on the old snapshot get a reference of
 * their own here, before the worker drops its own. */
void front_snap_swap(struct bff_worker *w, struct bff_snapshot *s)
{
    struct bff_snapshot *old = w->snap;
    cache_refresh_stop(w); /* a refresh holds no ref on the old snapshot */
    for (struct bff_request *r = w->requests; r; r = r->next)
        if (r->snap_borrowed) {
            r->snap_borrowed = 0;
            snap_ref(r->snap);
        }
    w->snap_borrowers = 0;
    w->snap = s;
    snap_unref(old);
}

void front_free_requests(struct bff_worker *w)
{
    while (w->free_reqs) {
        struct bff_request *r = w->free_reqs;
        w->free_reqs = r->next;
        bff_arena_cleanup(&r->arena);
        free(r);
    }
    w->nfree_reqs = 0;
}

/* Holds the client back while its streamed body waits for the service:
 * libmicrohttpd keeps what was not taken and reads no more. */
static void upload_hold(struct bff_request *r)
{
    r->upload_blocked = 1;
    if (!r->suspended) {
        r->suspended = 1;
        r->suspended_ms = bff_now_ms();
        MHD_suspend_connection(r->conn);
    }
}

/* The whole body is in: the service gets its end. */
static void upload_end(struct bff_request *r)
{
    if (r->upload_done)
        return;
    r->upload_done = 1;
    if (r->upload_more)
        r->upload_more(r);
}

/* A piece of a body that streams to the service (proxy_body_streams). */
static enum MHD_Result upload_piece(struct bff_request *r, const char *data,
                                    size_t *size)
{
    size_t n = *size, max = r->snap->cfg->limits.max_body;

    if (r->answered || r->body_too_large) { /* the rest is not forwarded */
        *size = 0;
        return MHD_YES;
    }
    if (r->body_len_total + n > max) {
        /* The service never gets the end of it; the client gets 413 once it
         * has sent it all (read and dropped, as a buffered body's excess is:
         * an answer before that would be lost to a reset). */
        r->body_too_large = 1;
        *size = 0;
        req_cancel(r);
        return MHD_YES;
    }
    size_t took = req_upload_put(r, data, n);
    *size = n - took;
    if (!r->chunked && r->body_len_total >= r->content_length)
        r->upload_done = 1; /* all of its Content-Length: the end now */
    if (took && r->upload_more)
        r->upload_more(r); /* may read at once */
    if (*size && r->body_len - r->body_off >= REQ_UPLOAD_MAX)
        upload_hold(r); /* until the service took some (req_upload_read) */
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct bff_request *r = *con_cls;
    (void)cls, (void)url;

    if (!r)
        return MHD_NO; /* out of memory at the request line */
    if (r->resp)
        return queue(r);
    if (!r->started) {
        r->started = 1;
        r->conn = conn;
        r->method = method;
        r->mbit = bff_method_bit(method);
        r->version = version;
        pipeline_run(r, BFF_PHASE_HEAD);
        /* A body that streams: the rest of the pipeline runs now, and the
         * call starts before the first byte of the body is read. */
        if (!r->resp && !r->answered && r->has_body && proxy_body_streams(r)) {
            r->body_streaming = 1;
            pipeline_run(r, BFF_PHASE_BODY);
        }
        /* An answer queued on the first call makes libmicrohttpd close the
         * connection (the body may be unread). Without a body, hold it for
         * the last call and keep the connection alive; a refused head is
         * answered at once, so nothing after it is read. */
        if (r->resp && !r->has_body && !r->close_now)
            return MHD_YES;
        return r->resp ? queue(r) : MHD_YES;
    }
    if (r->body_streaming) {
        /* A call without data is the end of the body, except the one right
         * after a verdict from Redis resumed the request (libmicrohttpd
         * calls again in the state it was suspended in, before any of the
         * body): the dispatch it held runs now. */
        int held = 0;
        if (!r->dispatched && !r->answered && !r->suspended) {
            pipeline_run(r, BFF_PHASE_BODY);
            held = 1;
        }
        if (r->resp)
            return queue(r);
        if (*upload_data_size)
            return r->suspended ? MHD_YES : upload_piece(r, upload_data, upload_data_size);
        if (held || r->suspended)
            return MHD_YES;
        if (r->body_too_large && !r->answered)
            req_problem(r, 413, "the request body is larger than max_body", NULL, 0);
        if (r->resp)
            return queue(r);
        if (!r->upload_done && !r->answered && r->chunked && pipeline_trailers_bad(r)) {
            /* the service never gets the end of this body: a 400, closed */
            req_cancel(r);
            req_problem(r, 400, "a trailer field is not a token name with a valid value",
                        NULL, 0);
            return r->resp ? queue(r) : MHD_YES;
        }
        upload_end(r);
        if (r->resp)
            return queue(r);
        if (!r->answered)
            req_suspend(r); /* until the service's head */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->body_too_large)
            return MHD_YES;
        size_t max = r->snap->cfg->limits.max_body;
        if (r->body_len + n > max) {
            r->body_too_large = 1;
            free(r->body);
            r->body = NULL;
            r->body_len = 0;
            return MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
            while (cap < r->body_len + n)
                cap *= 2;
            if (cap > max)
                cap = max;
            char *nb = realloc(r->body, cap);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }
    if (!r->answered && !r->suspended)
        pipeline_run(r, BFF_PHASE_BODY);
    if (r->resp)
        return queue(r);
    return MHD_YES;
}

/* Client connections opened and closed, for the bff_connections gauge; on
 * a TLS listener, each gets the certificate in force (front/tls.c). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct bff_worker *w = cls;
    int                started = toe == MHD_CONNECTION_NOTIFY_STARTED;

    if (w->mhd_tls) {
        if (started)
            front_tls_connection_started(w, c, socket_context);
        else
            front_tls_connection_closed(socket_context);
    }
    metrics_connection(w, started ? 1 : -1);
}

static int start_daemon(struct bff_worker *w)
{
    const struct bff_config *cfg = w->snap->cfg;
    unsigned                 limit = cfg->limits.max_connections / w->srv->nworkers;
    size_t                   mem = (size_t)cfg->limits.max_header_bytes + 16384;
    unsigned                 tmo = (cfg->limits.client_timeout_ms + 999) / 1000;
    struct MHD_OptionItem    tls[FRONT_TLS_NOPTS] = {{MHD_OPTION_END, 0, NULL}};
    unsigned                 flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;

    flags |= MHD_ALLOW_UPGRADE; /* WebSocket (handlers/websocket.c) */

    if (limit < 16)
        limit = 16;
    w->mhd_tls = w->snap->tls != NULL; /* HTTPS: tls: at start (docs/operations.md) */
    if (w->mhd_tls) {
        if (front_tls_options(tls) < 0)
            return BFF_EIO;
        flags = (flags & ~(unsigned)MHD_USE_TURBO) | MHD_USE_TLS; /* front/tls.c */
    }
    w->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL,
        on_request, w, MHD_OPTION_LISTEN_SOCKET, w->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, tmo,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        w, MHD_OPTION_URI_LOG_CALLBACK, on_uri, w, MHD_OPTION_UNESCAPE_CALLBACK,
        front_no_unescape, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
        MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    return w->mhd ? 0 : BFF_EIO;
}

int front_daemon(struct bff_worker *w)
{
    return start_daemon(w);
}

/* Resumes and answers every request still waiting, so the daemon can stop. */
void front_abort_all(struct bff_worker *w)
{
    for (struct bff_request *r = w->requests; r; r = r->next) {
        if (req_stream_began(r)) { /* ended cleanly: the last chunk */
            req_cancel(r);
            req_stream_end(r, 1, METRICS_END_DRAIN);
            continue;
        }
        req_cancel(r);
        if (r->suspended && !r->answered)
            req_problem(r, 503, "the gateway is shutting down", NULL, 0);
    }
}

