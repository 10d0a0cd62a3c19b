/* core/src/request/stream.c — answers and request bodies that flow as they
 * arrive (request/stream.h; docs/streaming.md)
 *
 * An answer: the handler puts bytes into a bounded buffer (REQ_STREAM_MAX)
 * and, once it knows the head, begins a libmicrohttpd callback response
 * whose reader takes them out. An empty buffer suspends the connection in
 * the reader (libmicrohttpd's way: return 0 with the connection suspended);
 * a put resumes it. A put that does not fit is refused whole, the handler
 * holds its source back (curl paused) and hears room() once the client has
 * taken half of what waits. The end is the last chunk (or, with a length,
 * the last byte) after the buffer drains; a broken end closes the
 * connection after it drains, never as a complete-looking answer.
 *
 * A request body: libmicrohttpd hands the access handler pieces as they
 * arrive; they go into a bounded buffer of their own (REQ_UPLOAD_MAX) that
 * the handler reads from. A piece that does not fit stays with
 * libmicrohttpd and the connection is suspended until the handler read
 * some (so the client is held back by TCP, nothing is buffered past the
 * bound). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "bff/util.h"
#include "request/request.h"
#include "request/stream.h"
#include "runtime/metrics.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

struct req_stream {
    struct bff_request     *r;    /* NULL once the request completed */
    int                     refs; /* the request's, and the response's */
    char                   *buf;  /* bytes not yet given to the client: [off, len) */
    size_t                  off, len, cap;
    int                     began;   /* the callback response exists */
    int                     waiting; /* the reader suspended the connection */
    uint64_t                waiting_ms;
    int                     full;    /* a put was refused: room() is owed */
    int                     ended;   /* 1: complete, -1: broken */
    void                  (*room)(struct bff_request *r);
    enum metrics_stream     kind;
    enum metrics_stream_end end;
    int64_t                 slot; /* metrics: counted when >= 0 */
    int                     counted;
    uint64_t                bytes_out;
};

static void unref(struct req_stream *st)
{
    if (--st->refs > 0)
        return;
    free(st->buf);
    free(st);
}

int req_stream_open(struct bff_request *r, void (*room)(struct bff_request *r))
{
    struct req_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    st->r = r;
    st->refs = 1;
    st->room = room;
    st->slot = -1;
    r->stream = st;
    return 0;
}

static void wake(struct req_stream *st)
{
    struct bff_request *r = st->r;
    if (!st->waiting || !r)
        return;
    st->waiting = 0;
    req_unwatch(r);
    MHD_resume_connection(r->conn);
    r->w->mhd_resumed = 1;
}

int req_stream_put(struct bff_request *r, const char *p, size_t n)
{
    struct req_stream *st = r->stream;
    size_t             have = st->len - st->off;

    if (have + n > REQ_STREAM_MAX && have > 0) {
        st->full = 1;
        return 1; /* held back until the client takes some */
    }
    if (st->len + n > st->cap) {
        if (st->off) { /* what the client took: reuse the room */
            memmove(st->buf, st->buf + st->off, have);
            st->off = 0;
            st->len = have;
        }
        if (st->len + n > st->cap) {
            size_t cap = st->cap ? st->cap : 4096;
            while (cap < st->len + n)
                cap *= 2;
            char *nb = realloc(st->buf, cap);
            if (!nb)
                return -1;
            st->buf = nb;
            st->cap = cap;
        }
    }
    memcpy(st->buf + st->len, p, n);
    st->len += n;
    wake(st);
    return 0;
}

/* libmicrohttpd asks for the next bytes of the answer. */
static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct req_stream  *st = cls;
    struct bff_request *r = st->r;
    size_t              have = st->len - st->off;
    (void)pos;

    if (!r)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (have) {
        size_t n = have < max ? have : max;
        memcpy(out, st->buf + st->off, n);
        st->off += n;
        st->bytes_out += n;
        r->bytes_out += n;
        if (st->off == st->len) { /* drained: a quiet stream holds no buffer */
            st->off = st->len = 0;
            free(st->buf);
            st->buf = NULL;
            st->cap = 0;
        }
        if (st->full && st->len - st->off <= REQ_STREAM_MAX / 2) {
            st->full = 0;
            if (st->room)
                st->room(r); /* may put at once */
        }
        return (ssize_t)n;
    }
    if (st->ended > 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (st->ended < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    st->waiting = 1; /* nothing yet: wait, suspended, for the next put */
    st->waiting_ms = bff_now_ms();
    MHD_suspend_connection(r->conn);
    return 0;
}

static void response_gone(void *cls)
{
    unref(cls);
}

int req_stream_begin(struct bff_request *r, int status, const char *content_type,
                     const struct bff_hdr *hdrs, size_t nhdrs, uint64_t size,
                     enum metrics_stream kind)
{
    struct req_stream   *st = r->stream;
    struct MHD_Response *resp;
    uint32_t             max = r->route ? r->route->max_streams : 0;

    if (r->answered)
        return -1;
    if (metrics_stream_open(r, kind, max, &st->slot) != 0)
        return REQ_STREAM_FULL;
    st->counted = 1;
    st->kind = kind;
    resp = MHD_create_response_from_callback(size == REQ_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN
                                                                      : size,
                                             REQ_STREAM_MAX / 4, reader, st,
                                             response_gone);
    if (!resp) {
        metrics_stream_close(r->w, st->slot, kind, METRICS_END_BROKEN, 0, 0);
        st->counted = 0;
        return -1;
    }
    st->refs++;
    st->began = 1;
    req_response_headers(r, resp, content_type, hdrs, nhdrs);
    if (kind == METRICS_STREAM_SSE) /* nothing on the way may hold events back */
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    if (atomic_load_explicit(&r->w->srv->draining, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->w->nstreams++;
    req_set_answer(r, resp, status, 0);
    return 0;
}

int req_stream_began(const struct bff_request *r)
{
    return r->stream && r->stream->began;
}

void req_stream_end(struct bff_request *r, int ok, enum metrics_stream_end how)
{
    struct req_stream *st = r->stream;
    if (!st || st->ended)
        return;
    st->ended = ok ? 1 : -1;
    st->end = how;
    wake(st);
}

char *req_stream_take(struct bff_request *r, size_t *len)
{
    struct req_stream *st = r->stream;
    char              *b;

    *len = 0;
    if (!st || !st->buf)
        return NULL;
    if (st->off)
        memmove(st->buf, st->buf + st->off, st->len - st->off);
    b = st->buf;
    *len = st->len - st->off;
    st->buf = NULL;
    st->off = st->len = st->cap = 0;
    return b;
}

int req_stream_waiting(const struct bff_request *r, uint64_t *since_ms)
{
    const struct req_stream *st = r->stream;
    if (!st || !st->waiting)
        return 0;
    *since_ms = st->waiting_ms;
    return 1;
}

void req_stream_done(struct bff_request *r, int client_gone)
{
    struct req_stream *st = r->stream;
    if (!st)
        return;
    r->stream = NULL;
    if (st->counted) {
        enum metrics_stream_end how = st->ended ? st->end
                                      : client_gone ? METRICS_END_CLIENT
                                                    : METRICS_END_DRAIN;
        if (st->ended > 0 && client_gone && how == METRICS_END_COMPLETE)
            how = METRICS_END_CLIENT; /* left before the end reached it */
        metrics_stream_close(r->w, st->slot, st->kind, how, r->body_len_total,
                             st->bytes_out);
        r->w->nstreams--;
    }
    st->r = NULL;
    unref(st);
}

/* ---- request bodies ------------------------------------------------------------ */

size_t req_upload_put(struct bff_request *r, const char *p, size_t n)
{
    size_t have = r->body_len - r->body_off, take;

    if (r->body_off && r->body_off == r->body_len)
        r->body_off = r->body_len = 0, have = 0;
    take = REQ_UPLOAD_MAX - have < n ? REQ_UPLOAD_MAX - have : n;
    if (take == 0)
        return 0;
    if (r->body_len + take > r->body_cap) {
        if (r->body_off) {
            memmove(r->body, r->body + r->body_off, have);
            r->body_len = have;
            r->body_off = 0;
        }
        if (r->body_len + take > r->body_cap) {
            char *nb = realloc(r->body, REQ_UPLOAD_MAX);
            if (!nb)
                return 0;
            r->body = nb;
            r->body_cap = REQ_UPLOAD_MAX;
        }
    }
    memcpy(r->body + r->body_len, p, take);
    r->body_len += take;
    r->body_len_total += take;
    return take;
}

long req_upload_read(struct bff_request *r, char *out, size_t max)
{
    size_t have = r->body_len - r->body_off;
    if (have == 0)
        return r->upload_done ? 0 : -1;
    size_t n = have < max ? have : max;
    memcpy(out, r->body + r->body_off, n);
    r->body_off += n;
    if (r->upload_blocked) { /* libmicrohttpd holds the rest: let it hand it over */
        r->upload_blocked = 0;
        if (r->suspended) {
            r->suspended = 0;
            MHD_resume_connection(r->conn);
            r->w->mhd_resumed = 1;
        }
    }
    return (long)n;
}
