/* demo/shop_sse.c — an order's status changes as Server-Sent Events
 * (docs/streaming.md, "Server-Sent Events in the demo shop and the dashboard")
 *
 * The orders' statuses live here (they start as the seed data's and change
 * through the control port, /reset, or the advancer of --advance); every
 * change is one event with the next id of its order. GET /orders/{id}/events
 * answers text/event-stream: the current status, then one event per change,
 * ": ping" comments while nothing happens, and the end after a final status
 * (delivered, cancelled). libmicrohttpd runs a thread per connection, so a
 * stream's content reader simply waits on the condition variable below.
 *
 * Locking: lock guards everything in sse; it is a leaf (no call into
 * libmicrohttpd or the rest of the shop while it is held). */
#include "shop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY 16     /* events kept per order, for Last-Event-ID */
#define STATUS_MAX 16  /* "delivered" and the like */
#define BLOCK 4096     /* a stream's buffer: HISTORY events fit with room */
#define PING ": ping\n\n"
#define STOP_FLUSH_MS 2000 /* at stop, for the streams' last chunks */

struct event {
    uint64_t id;
    char     status[STATUS_MAX];
    char     at[32]; /* RFC 3339, UTC */
};

struct order_state {
    struct event ring[HISTORY]; /* event n at ring[n % HISTORY] */
    uint64_t     last;          /* the current event's id, from 1 */
};

/* One open event stream, owned by its libmicrohttpd response. */
struct stream {
    size_t   order;
    uint64_t sent;     /* the id of the last event written */
    uint64_t ping_due; /* CLOCK_MONOTONIC ms */
    int      ending;   /* 1: clean end once buf is out; 2: cut (no last chunk) */
    int      cut;      /* close_mid_body: cut after the first write */
    size_t   len, off;
    char     buf[BLOCK];
};

static const char *const statuses[] = {"pending", "paid", "shipped", "delivered",
                                       "cancelled"};

static struct {
    pthread_mutex_t     lock;
    pthread_cond_t      cv; /* on CLOCK_MONOTONIC: any change, stop, closing */
    struct order_state *orders;
    size_t              n;
    unsigned int        streams;
    struct shop_sse_opts opts;
    long                advance; /* the order index of --advance, or -1 */
    int                 closing; /* the orders listener is going away */
    int                 stopping;
    pthread_t           advancer;
    int                 advancer_started;
} sse = {.lock = PTHREAD_MUTEX_INITIALIZER, .advance = -1};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec abs_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};

    return ts;
}

static int is_final(const char *status)
{
    return strcmp(status, "delivered") == 0 || strcmp(status, "cancelled") == 0;
}

static const char *status_known(const char *s)
{
    for (size_t i = 0; s != NULL && i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (strcmp(s, statuses[i]) == 0)
            return statuses[i];
    return NULL;
}

static struct event *current(size_t i)
{
    return &sse.orders[i].ring[sse.orders[i].last % HISTORY];
}

/* Under lock: @status becomes order @i's, as its next event. */
static void status_set(size_t i, const char *status)
{
    struct order_state *o = &sse.orders[i];
    struct event       *e;
    time_t              t = time(NULL);
    struct tm           tm;

    o->last++;
    e = &o->ring[o->last % HISTORY];
    e->id = o->last;
    snprintf(e->status, sizeof(e->status), "%s", status);
    gmtime_r(&t, &tm);
    strftime(e->at, sizeof(e->at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_cond_broadcast(&sse.cv);
}

/* The advancer: every advance_ms the order of --advance moves one status on
 * (pending, paid, shipped, delivered, then pending again: a demo loop). */
static void *advance_main(void *arg)
{
    static const char *const next[][2] = {
        {"pending", "paid"},       {"paid", "shipped"},       {"shipped", "delivered"},
        {"delivered", "pending"},  {"cancelled", "pending"},
    };
    uint64_t                 due;

    (void)arg;
    pthread_mutex_lock(&sse.lock);
    due = now_ms() + sse.opts.advance_ms;
    while (!sse.stopping) {
        struct timespec dl = abs_ms(due);

        if (pthread_cond_timedwait(&sse.cv, &sse.lock, &dl) != ETIMEDOUT &&
            now_ms() < due)
            continue;
        if (sse.stopping)
            break;
        for (size_t k = 0; k < sizeof(next) / sizeof(next[0]); k++) {
            if (strcmp(current((size_t)sse.advance)->status, next[k][0]) == 0) {
                status_set((size_t)sse.advance, next[k][1]);
                break;
            }
        }
        due += sse.opts.advance_ms;
    }
    pthread_mutex_unlock(&sse.lock);
    return NULL;
}

int shop_sse_init(const struct shop_sse_opts *opts)
{
    pthread_condattr_t ca;

    sse.opts = *opts;
    sse.n = shop_orders_count();
    sse.orders = calloc(sse.n, sizeof(*sse.orders));
    if (sse.orders == NULL)
        return -1;
    for (size_t i = 0; i < sse.n; i++) {
        struct event *e = &sse.orders[i].ring[1];

        sse.orders[i].last = 1;
        e->id = 1;
        snprintf(e->status, sizeof(e->status), "%s", shop_order_seed_status(i));
        snprintf(e->at, sizeof(e->at), "%s", shop_order_created(i));
    }
    if (opts->advance != NULL) {
        sse.advance = shop_order_find(opts->advance);
        if (sse.advance < 0) {
            fprintf(stderr, "shop-services: --advance %s: no such order\n", opts->advance);
            return -1;
        }
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sse.cv, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

int shop_sse_start(void)
{
    if (sse.advance < 0)
        return 0;
    if (pthread_create(&sse.advancer, NULL, advance_main, NULL) != 0)
        return -1;
    sse.advancer_started = 1;
    return 0;
}

void shop_sse_closing(int closing)
{
    pthread_mutex_lock(&sse.lock);
    sse.closing = closing;
    pthread_cond_broadcast(&sse.cv);
    pthread_mutex_unlock(&sse.lock);
}

void shop_sse_shutdown(void)
{
    struct timespec dl = abs_ms(now_ms() + STOP_FLUSH_MS);

    pthread_mutex_lock(&sse.lock);
    sse.stopping = 1;
    pthread_cond_broadcast(&sse.cv);
    /* Each stream writes its last chunk and is done before the daemons stop
     * (stopping one closes its connections at once, cutting a stream short
     * of it); a client that does not read is not waited for past the bound. */
    while (sse.streams > 0)
        if (pthread_cond_timedwait(&sse.cv, &sse.lock, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&sse.lock);
    if (sse.advancer_started)
        pthread_join(sse.advancer, NULL);
    sse.advancer_started = 0;
}

void shop_sse_cleanup(void)
{
    if (sse.orders != NULL)
        pthread_cond_destroy(&sse.cv);
    free(sse.orders);
    sse.orders = NULL;
}

const char *shop_sse_status(size_t order, char *buf, size_t len)
{
    pthread_mutex_lock(&sse.lock);
    snprintf(buf, len, "%s",
             sse.orders != NULL ? current(order)->status : shop_order_seed_status(order));
    pthread_mutex_unlock(&sse.lock);
    return buf;
}

unsigned int shop_sse_streams(void)
{
    unsigned int n;

    pthread_mutex_lock(&sse.lock);
    n = sse.streams;
    pthread_mutex_unlock(&sse.lock);
    return n;
}

void shop_sse_reset(void)
{
    pthread_mutex_lock(&sse.lock);
    for (size_t i = 0; i < sse.n; i++)
        if (strcmp(current(i)->status, shop_order_seed_status(i)) != 0)
            status_set(i, shop_order_seed_status(i));
    pthread_mutex_unlock(&sse.lock);
}

/* the stream ------------------------------------------------------------------ */

/* Under lock: the events of @st's order after the last one it wrote, into its
 * buffer; after a final status, no more. */
static void fill_events(struct stream *st)
{
    struct order_state *o = &sse.orders[st->order];
    uint64_t            from = st->sent + 1;

    if (o->last >= HISTORY && from <= o->last - HISTORY)
        from = o->last - HISTORY + 1; /* older ones are gone: the lost are lost */
    for (uint64_t id = from; id <= o->last; id++) {
        const struct event *e = &o->ring[id % HISTORY];
        int n = snprintf(st->buf + st->len, sizeof(st->buf) - st->len,
                         "id: %llu\nevent: status\n"
                         "data: {\"id\":\"%s\",\"status\":\"%s\",\"at\":\"%s\"}\n\n",
                         (unsigned long long)e->id, shop_order_id(st->order), e->status,
                         e->at);

        if (n < 0 || (size_t)n >= sizeof(st->buf) - st->len)
            break; /* the rest on the next read */
        st->len += (size_t)n;
        st->sent = id;
        if (is_final(e->status)) {
            st->ending = 1;
            break;
        }
    }
}

/* libmicrohttpd's content reader: waits (this connection's own thread) for
 * the next thing to write: events, a ping when ping_ms passed without one,
 * or the end. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    size_t         n;

    (void)pos;
    if (st->off == st->len) {
        st->off = st->len = 0;
        if (st->ending)
            return st->ending == 2 ? MHD_CONTENT_READER_END_WITH_ERROR
                                   : MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&sse.lock);
        for (;;) {
            uint64_t now = now_ms();

            if (sse.stopping) { /* the shop stops: a clean end */
                st->ending = 1;
                break;
            }
            if (sse.closing) { /* refuse=: the service looks dead */
                st->ending = 2;
                break;
            }
            if (sse.orders[st->order].last > st->sent) {
                fill_events(st);
                st->ping_due = now + sse.opts.ping_ms;
                break;
            }
            if (now >= st->ping_due) {
                memcpy(st->buf, PING, sizeof(PING) - 1);
                st->len = sizeof(PING) - 1;
                st->ping_due = now + sse.opts.ping_ms;
                break;
            }
            struct timespec dl = abs_ms(st->ping_due);
            pthread_cond_timedwait(&sse.cv, &sse.lock, &dl);
        }
        pthread_mutex_unlock(&sse.lock);
        if (st->cut && st->len > 0)
            st->ending = 2;
        if (st->len == 0)
            return st->ending == 2 ? MHD_CONTENT_READER_END_WITH_ERROR
                                   : MHD_CONTENT_READER_END_OF_STREAM;
    }
    n = st->len - st->off;
    if (n > max)
        n = max;
    memcpy(buf, st->buf + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    pthread_mutex_lock(&sse.lock);
    sse.streams--;
    pthread_cond_broadcast(&sse.cv); /* for shop_sse_shutdown */
    pthread_mutex_unlock(&sse.lock);
    free(cls);
}

int shop_sse_is_events(const char *path)
{
    const char *id = path + 8, *slash;

    if (strncmp(path, "/orders/", 8) != 0 || (slash = strchr(id, '/')) == NULL)
        return 0;
    return slash > id && strcmp(slash, "/events") == 0;
}

/* Last-Event-ID as a number, or 0 when absent or not one. */
static uint64_t last_event_id(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    uint64_t    n = 0;

    if (v == NULL || *v == '\0' || strlen(v) > 19)
        return 0;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9')
            return 0;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    return n;
}

struct MHD_Response *shop_sse_open(const struct shop_req *rq, struct shop_resp *rs, int cut)
{
    const char          *id = rq->path + 8;
    size_t               idlen = strlen(id) - strlen("/events");
    char                 oid[64];
    long                 i;
    uint64_t             resume = last_event_id(rq->conn);
    struct stream       *st;
    struct MHD_Response *r;

    if (rq->user_id == NULL || *rq->user_id == '\0') {
        shop_error(rs, 401, "no_identity");
        return NULL;
    }
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
        shop_error(rs, 405, "method_not_allowed");
        rs->allow = "GET, HEAD";
        return NULL;
    }
    snprintf(oid, sizeof(oid), "%.*s", (int)(idlen < sizeof(oid) ? idlen : 0), id);
    i = shop_order_find(oid);
    /* Someone else's order is as absent as a missing one (GET /orders/{id}). */
    if (i < 0 || !shop_may_see(rq, shop_order_owner((size_t)i))) {
        shop_error(rs, 404, "order_not_found");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        shop_error(rs, 500, "out_of_memory");
        return NULL;
    }
    st->order = (size_t)i;
    st->cut = cut;
    pthread_mutex_lock(&sse.lock);
    if (sse.streams >= sse.opts.max_streams) {
        pthread_mutex_unlock(&sse.lock);
        free(st);
        shop_error(rs, 503, "too_many_streams");
        rs->retry_after = "5";
        return NULL;
    }
    if (resume != 0 && resume == sse.orders[i].last && is_final(current((size_t)i)->status)) {
        /* caught up with a final status: nothing will come (204 stops an
         * EventSource from reconnecting) */
        pthread_mutex_unlock(&sse.lock);
        free(st);
        rs->status = 204;
        return NULL;
    }
    /* Resuming: what came after the client's last event (a ping at once
     * when it has them all, so the head goes out); else the current status. */
    st->sent = resume != 0 && resume <= sse.orders[i].last ? resume
                                                           : sse.orders[i].last - 1;
    st->ping_due = now_ms() + (st->sent == sse.orders[i].last ? 0 : sse.opts.ping_ms);
    sse.streams++;
    pthread_mutex_unlock(&sse.lock);
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, stream_read, st,
                                          stream_free);
    if (r == NULL) {
        stream_free(st);
        shop_error(rs, 500, "out_of_memory");
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return r;
}

/* the control port ----------------------------------------------------------- */

struct ctl_args {
    const char *to;
    const char *bad;
};

static enum MHD_Result ctl_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct ctl_args *a = cls;

    (void)kind;
    if (strcmp(key, "to") == 0) {
        a->to = value != NULL ? value : "";
        return MHD_YES;
    }
    a->bad = key;
    return MHD_NO;
}

static json_object *state_json(size_t i)
{
    json_object        *o = json_object_new_object();
    const struct event *e = current(i);

    json_object_object_add(o, "id", json_object_new_string(shop_order_id(i)));
    json_object_object_add(o, "status", json_object_new_string(e->status));
    json_object_object_add(o, "event_id", json_object_new_int64((int64_t)e->id));
    json_object_object_add(o, "at", json_object_new_string(e->at));
    json_object_object_add(o, "final", json_object_new_boolean(is_final(e->status)));
    return o;
}

int shop_sse_control(struct MHD_Connection *c, const char *method, const char *url,
                     struct shop_resp *rs)
{
    const char     *id = url + 8, *slash;
    char            oid[64];
    long            i;
    struct ctl_args a = {0};
    json_object    *body;
    const char     *to;

    if (strncmp(url, "/orders/", 8) != 0 || (slash = strchr(id, '/')) == NULL ||
        strcmp(slash, "/status") != 0)
        return 0;
    snprintf(oid, sizeof(oid), "%.*s",
             (int)((size_t)(slash - id) < sizeof(oid) ? slash - id : 0), id);
    i = shop_order_find(oid);
    if (i < 0) {
        shop_error(rs, 404, "order_not_found");
        return 1;
    }
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, ctl_arg, &a);
        to = status_known(a.to);
        if (a.bad != NULL || to == NULL) {
            shop_error(rs, 400, a.bad != NULL ? "unknown_param" : "bad_status");
            json_object_object_add(rs->body, "param",
                                   json_object_new_string(a.bad ? a.bad : "to"));
            return 1;
        }
        pthread_mutex_lock(&sse.lock);
        status_set((size_t)i, to);
    } else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        pthread_mutex_lock(&sse.lock);
    } else {
        shop_error(rs, 405, "method_not_allowed");
        rs->allow = "GET, HEAD, POST, PUT";
        return 1;
    }
    body = state_json((size_t)i);
    json_object_object_add(body, "streams", json_object_new_int64(sse.streams));
    pthread_mutex_unlock(&sse.lock);
    rs->status = 200;
    rs->body = body;
    return 1;
}
