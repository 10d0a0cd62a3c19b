/* demo/shop_services.c — the demo shop: users, orders and inventory on three
 * ports, and a control port that injects faults into them (SPEC §2, §5, §6)
 *
 * Each service is its own libmicrohttpd daemon in thread-per-connection mode,
 * so a delayed answer may simply sleep in its connection's thread; the limits
 * are set for a thousand and more concurrent connections. The control port
 * changes a service's fault at run time; a fault is copied at the start of
 * each request, so a request sees one fault from start to end.
 *
 * Lock order: a service's daemon_lock, then sleep_lock or its fault_lock.
 * fault_lock is never held across a call into libmicrohttpd, because stopping
 * a daemon joins connection threads that may be waiting for it.
 *
 * TLS: with --tls-cert and --tls-key the three service ports speak HTTPS
 * (libmicrohttpd over GnuTLS; the control port stays plain HTTP); with
 * --tls-client-ca as well, a client must present a certificate that CA
 * signed, or the TLS handshake fails (the lock for mutual TLS tests). */
#include "shop.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bff/config.h"
#include "bff/err.h"
#include "bff/sign.h"
#include "bff/util.h"
#include "shop_tls.h"
#include "shop_ws.h"

#define BODY_MAX (1u << 20)          /* request bodies past this get 413 */
#define CONN_LIMIT 4000u             /* per listener */
#define CONN_TIMEOUT_S 300u          /* idle keep-alive connections */
#define CONN_MEMORY (128u * 1024u)   /* per connection: headers and buffers */
#define THREAD_STACK (1024u * 1024u) /* per connection thread */
#define LISTEN_BACKLOG 4096u
#define DELAY_MAX_MS 600000u
#define MALFORMED_BODY "{\"id\": \"o-1\", \"status\": "

struct fault {
    unsigned int delay_ms;       /* sleep before answering */
    double       error_rate;     /* 0..1: every ceil(1/rate)-th request fails */
    unsigned int error_status;   /* of the injected failures */
    int          refuse;         /* the listener is closed */
    int          malformed;      /* 200 with a body that is not JSON */
    int          close_mid_body; /* Content-Length promised, half sent, closed */
    int          delay_healthz;  /* delay_ms applies to /healthz too */
    int          fail_healthz;   /* /healthz answers error_status */
    char         cache_control[128]; /* instead of the service's own on a GET
                                        200 ("none": no header); "" = its own */
};

/* What each service's GET 200 answers say (README "Caching"): stock is the
 * same for everyone and moves slowly enough that 5 s old is fine, and an
 * old flag beats none while inventory is down; a profile is the caller's
 * own and rarely changes; an order's status moves, so it is kept briefly,
 * for its user only, and shown stale only while orders is down. */
static const char *const own_cache_control[SHOP_NSVC] = {
    [SHOP_USERS] = "private, max-age=60, stale-if-error=3600",
    [SHOP_ORDERS] = "private, max-age=2, stale-if-error=60",
    [SHOP_INVENTORY] = "public, max-age=5, stale-while-revalidate=10, stale-if-error=300",
};

struct service {
    enum shop_svc      id;
    const char        *name;
    uint16_t           port;
    pthread_mutex_t    daemon_lock; /* serialises starting and stopping */
    struct MHD_Daemon *daemon;      /* NULL while refused; under daemon_lock */
    pthread_mutex_t    fault_lock;  /* guards fault and error_seq */
    struct fault       fault;
    uint64_t           error_seq; /* requests that could have been failed */
    int                closing;   /* under sleep_lock: the listener is going away */
    atomic_ullong      requests;  /* every request but /healthz */
    atomic_ullong      healthz;
    atomic_llong       in_flight; /* non-healthz requests not yet completed */
    atomic_llong       max_in_flight;
};

/* One request on a service port: created when its request line is parsed,
 * freed when libmicrohttpd says the request is complete. */
struct request {
    struct service *svc;
    char           *target; /* the request target as received */
    char           *body;
    size_t          len;
    size_t          cap;
    int             too_big;
    int             started;
    int             healthz;
    int             counted; /* holds one unit of svc->in_flight */
};

/* A truncated answer: @send of the bytes of @data, of which the response
 * announced more. */
struct partial {
    char  *data;
    size_t send;
};

static struct {
    struct sockaddr_storage addr; /* port filled per listener */
    int                     ipv6;
    const char             *host;
    uint16_t                control_port;
    uint8_t                *key; /* NULL: requests are not checked */
    size_t                  keylen;
    char                   *tls_cert, *tls_key; /* PEM; NULL: plain HTTP */
    char                   *tls_client_ca;      /* PEM; NULL: no client cert asked */
    struct MHD_Daemon      *control;
    struct service          svcs[SHOP_NSVC];
} shop;

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  sleep_cv; /* on CLOCK_MONOTONIC */
static int             stopping; /* under sleep_lock */

static const struct fault no_fault = {.error_status = 500};

/* plumbing ------------------------------------------------------------------ */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static void add_headers(struct MHD_Response *r, struct MHD_Connection *c,
                        const struct shop_resp *rs)
{
    const char *uid = header(c, "X-User-Id");

    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (uid != NULL)
        MHD_add_response_header(r, "X-Echo-User-Id", uid);
    if (rs != NULL && rs->location[0] != '\0')
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, rs->location);
    if (rs != NULL && rs->allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rs->allow);
    if (rs != NULL && rs->cache_control != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, rs->cache_control);
    if (rs != NULL && rs->retry_after != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, rs->retry_after);
}

/* Queues @rs as the answer and releases its body. */
static enum MHD_Result send_resp(struct MHD_Connection *c, struct shop_resp *rs)
{
    struct MHD_Response *r;
    enum MHD_Result      ret = MHD_NO;
    const char          *text;
    size_t               len = 0;

    text = shop_json(rs->body, &len);
    r = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        goto out;
    add_headers(r, c, rs);
    ret = MHD_queue_response(c, rs->status, r);
    MHD_destroy_response(r);
out:
    json_object_put(rs->body);
    rs->body = NULL;
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned int status,
                                  const char *code)
{
    struct shop_resp rs = {0};

    shop_error(&rs, status, code);
    return send_resp(c, &rs);
}

static enum MHD_Result send_malformed(struct MHD_Connection *c, struct shop_resp *rs)
{
    struct MHD_Response *r;
    enum MHD_Result      ret = MHD_NO;

    json_object_put(rs->body);
    rs->body = NULL;
    r = MHD_create_response_from_buffer(strlen(MALFORMED_BODY), (void *)MALFORMED_BODY,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    add_headers(r, c, NULL);
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static ssize_t partial_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct partial *p = cls;
    size_t          n;

    if (pos >= p->send)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* closes the connection */
    n = p->send - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, p->data + pos, n);
    return (ssize_t)n;
}

static void partial_free(void *cls)
{
    struct partial *p = cls;

    free(p->data);
    free(p);
}

/* Announces the whole of @rs's body, sends the first half and closes. */
static enum MHD_Result send_truncated(struct MHD_Connection *c, struct shop_resp *rs)
{
    struct MHD_Response *r = NULL;
    struct partial      *p;
    enum MHD_Result      ret = MHD_NO;
    const char          *text;
    size_t               len = 0;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto out;
    text = shop_json(rs->body, &len);
    p->data = strdup(text);
    if (p->data == NULL) {
        free(p);
        goto out;
    }
    p->send = len / 2;
    r = MHD_create_response_from_callback(len, 4096, partial_read, p, partial_free);
    if (r == NULL) {
        partial_free(p);
        goto out;
    }
    add_headers(r, c, rs);
    ret = MHD_queue_response(c, rs->status, r);
    MHD_destroy_response(r);
out:
    json_object_put(rs->body);
    rs->body = NULL;
    return ret;
}

/* faults -------------------------------------------------------------------- */

static void fault_get(struct service *s, struct fault *f)
{
    pthread_mutex_lock(&s->fault_lock);
    *f = s->fault;
    pthread_mutex_unlock(&s->fault_lock);
}

/* Sleeps @ms unless the service is refused or the process stops meanwhile.
 * Returns 0 after a full sleep, -1 when cut short (drop the connection). */
static int nap(struct service *s, unsigned int ms)
{
    struct timespec dl;
    int             rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sleep_lock);
    while (!stopping && !s->closing) {
        if (pthread_cond_timedwait(&sleep_cv, &sleep_lock, &dl) == ETIMEDOUT)
            break;
    }
    if (stopping || s->closing)
        rc = -1;
    pthread_mutex_unlock(&sleep_lock);
    return rc;
}

/* Ends the naps of @s's requests until it listens again, or of every
 * request for good when @s is NULL. */
static void wake(struct service *s, int closing)
{
    /* and the event streams of orders (shop_sse.c) */
    if (s == NULL)
        shop_sse_shutdown();
    else if (s->id == SHOP_ORDERS)
        shop_sse_closing(closing);
    pthread_mutex_lock(&sleep_lock);
    if (s != NULL)
        s->closing = closing;
    else
        stopping = 1;
    pthread_cond_broadcast(&sleep_cv);
    pthread_mutex_unlock(&sleep_lock);
}

/* Every ceil(1/rate)-th request fails: 1.0 all, 0.5 every 2nd, 0.3 every 4th. */
static int inject_error(struct service *s, const struct fault *f)
{
    uint64_t period, n;

    if (f->error_rate <= 0.0)
        return 0;
    period = (uint64_t)(1.0 / f->error_rate);
    if (period == 0)
        period = 1;
    if ((double)period * f->error_rate < 1.0 - 1e-9)
        period++;
    pthread_mutex_lock(&s->fault_lock);
    n = ++s->error_seq;
    pthread_mutex_unlock(&s->fault_lock);
    return n % period == 0;
}

/* service ports ------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *rq = calloc(1, sizeof(*rq));

    (void)c;
    if (rq == NULL)
        return NULL;
    rq->svc = cls;
    rq->target = strdup(uri);
    if (rq->target == NULL) {
        free(rq);
        return NULL;
    }
    return rq;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (rq == NULL)
        return;
    if (rq->counted)
        atomic_fetch_sub(&rq->svc->in_flight, 1);
    free(rq->target);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

static void count_request(struct service *s, struct request *rq)
{
    long long now, max;

    if (rq->healthz) {
        atomic_fetch_add(&s->healthz, 1);
        return;
    }
    atomic_fetch_add(&s->requests, 1);
    now = atomic_fetch_add(&s->in_flight, 1) + 1;
    rq->counted = 1;
    max = atomic_load(&s->max_in_flight);
    while (now > max && !atomic_compare_exchange_weak(&s->max_in_flight, &max, now))
        ;
}

static void take_body(struct request *rq, const char *data, size_t n)
{
    if (rq->too_big || n > BODY_MAX - rq->len) {
        rq->too_big = 1;
        return;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 1024;
        char  *b;

        while (cap < rq->len + n + 1)
            cap *= 2;
        b = realloc(rq->body, cap);
        if (b == NULL) {
            rq->too_big = 1;
            return;
        }
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
}

static int signature_ok(struct MHD_Connection *c, const char *method,
                        const struct request *rq)
{
    return bff_sign_verify(shop.key, shop.keylen, header(c, "X-Gateway-Signature"),
                           (int64_t)time(NULL), BFF_SIGN_MAX_AGE_S, method, rq->target,
                           header(c, "X-User-Id"), header(c, "X-User-Roles"),
                           header(c, "X-Request-Id")) == 0;
}

static enum MHD_Result answer_healthz(struct service *s, struct MHD_Connection *c,
                                      const char *method)
{
    struct shop_resp rs = {0};
    struct fault     f;

    fault_get(s, &f);
    if (f.delay_healthz && f.delay_ms > 0 && nap(s, f.delay_ms) != 0)
        return MHD_NO;
    if (!is_get(method)) {
        shop_error(&rs, 405, "method_not_allowed");
        rs.allow = "GET, HEAD";
    } else if (f.fail_healthz) {
        shop_error(&rs, f.error_status, "injected");
    } else {
        rs.status = 200;
        rs.body = json_object_new_object();
        json_object_object_add(rs.body, "status", json_object_new_string("ok"));
    }
    return send_resp(c, &rs);
}

/* GET /orders/{id}/events: a stream (shop_sse.c), or its refusal. */
static enum MHD_Result answer_events(struct MHD_Connection *c, const struct shop_req *rq,
                                     struct shop_resp *rs, int cut)
{
    struct MHD_Response *r = shop_sse_open(rq, rs, cut);
    enum MHD_Result      ret;

    if (r == NULL && rs->body != NULL)
        return send_resp(c, rs);
    if (r == NULL) /* 204: caught up with a final status */
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    ret = MHD_queue_response(c, rs->status != 0 ? rs->status : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* The order of things: delay, signature, injected error, the route (or, for
 * an event stream, shop_sse.c); then a malformed or truncated rendering of
 * the route's answer. */
static enum MHD_Result on_service(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct service  *s = cls;
    struct request  *rq = *con_cls;
    struct shop_resp rs = {0};
    struct shop_req  req;
    struct fault     f;

    (void)version;
    if (rq == NULL)
        return MHD_NO;
    if (!rq->started) {
        if (shop.tls_client_ca != NULL && !shop_tls_client_ok(c))
            return MHD_NO; /* closes the connection without an answer */
        rq->started = 1;
        rq->healthz = strcmp(url, "/healthz") == 0;
        count_request(s, rq);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        take_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->healthz)
        return answer_healthz(s, c, method);

    fault_get(s, &f);
    if (f.delay_ms > 0 && nap(s, f.delay_ms) != 0)
        return MHD_NO;
    if (shop.key != NULL && !signature_ok(c, method, rq))
        return send_error(c, 401, "bad_signature");
    if (inject_error(s, &f))
        return send_error(c, f.error_status, "injected");
    if (rq->too_big)
        return send_error(c, 413, "body_too_large");

    req = (struct shop_req){
        .conn = c,
        .service = s->name,
        .method = method,
        .path = url,
        .target = rq->target,
        .user_id = header(c, "X-User-Id"),
        .roles = header(c, "X-User-Roles"),
        .body = rq->body != NULL ? rq->body : "",
        .body_len = rq->len,
    };
    if (s->id == SHOP_ORDERS && shop_sse_is_events(url))
        return answer_events(c, &req, &rs, f.close_mid_body);
    if (s->id == SHOP_ORDERS && shop_ws_wanted(c, url)) /* shop_ws.c */
        return shop_ws_answer(c, req.user_id);
    shop_route(s->id, &req, &rs);
    if (strcmp(method, "GET") == 0 && rs.status == 200 &&
        strcmp(f.cache_control, "none") != 0)
        rs.cache_control = f.cache_control[0] ? f.cache_control : own_cache_control[s->id];
    if (f.malformed)
        return send_malformed(c, &rs);
    if (f.close_mid_body)
        return send_truncated(c, &rs);
    return send_resp(c, &rs);
}

static void addr_text(uint16_t port, char *out, size_t outlen)
{
    if (shop.ipv6)
        snprintf(out, outlen, "[%s]:%u", shop.host, (unsigned)port);
    else
        snprintf(out, outlen, "%s:%u", shop.host, (unsigned)port);
}

static struct MHD_Daemon *listen_on(uint16_t port, MHD_AccessHandlerCallback cb,
                                    struct service *s)
{
    struct sockaddr_storage a = shop.addr;
    unsigned int            flags = MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                         MHD_ALLOW_UPGRADE; /* GET /live on orders (shop_ws.c) */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, shop.tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, shop.tls_cert},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)shop_tls_on_connection,
         shop.tls_client_ca},
        {shop.tls_client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
         shop.tls_client_ca},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem plain[] = {{MHD_OPTION_END, 0, NULL}};

    if (shop.ipv6) {
        ((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
        flags |= MHD_USE_IPv6;
    } else {
        ((struct sockaddr_in *)&a)->sin_port = htons(port);
    }
    if (s == NULL)
        return MHD_start_daemon(flags, port, NULL, NULL, cb, NULL, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&a, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned int)64, MHD_OPTION_THREAD_STACK_SIZE,
                                (size_t)THREAD_STACK, MHD_OPTION_END);
    if (shop.tls_cert != NULL)
        flags |= MHD_USE_TLS;
    return MHD_start_daemon(flags, port, NULL, NULL, cb, s, MHD_OPTION_ARRAY,
                            shop.tls_cert != NULL ? tls : plain, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&a, MHD_OPTION_CONNECTION_LIMIT,
                            CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_END);
}

/* The port @d listens on (the one the kernel chose for port 0), or 0. */
static uint16_t bound_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

    return di != NULL ? di->port : 0;
}

/* Both under s->daemon_lock. A service started on port 0 keeps the port
 * the kernel gave it: a listener opened again after refuse= binds that
 * one, so the gateway in front still finds it. */
static int listener_start(struct service *s)
{
    if (s->daemon == NULL) {
        wake(s, 0);
        s->daemon = listen_on(s->port, on_service, s);
        if (s->daemon != NULL && s->port == 0)
            s->port = bound_port(s->daemon);
    }
    return s->daemon != NULL ? 0 : -1;
}

/* Closes the listen socket first, so that new connections are refused at
 * once, then ends the naps of delayed requests and stops the daemon, which
 * closes the connections that remain: the service looks dead. */
static void listener_stop(struct service *s)
{
    struct MHD_Daemon *d = s->daemon;
    MHD_socket         fd;

    if (d == NULL)
        return;
    s->daemon = NULL;
    fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    wake(s, 1);
    MHD_stop_daemon(d);
}

/* Makes @f the fault of @s and opens or closes its listener to match.
 * Returns 0, or -1 when the listener could not be opened again. */
static int fault_set(struct service *s, const struct fault *f)
{
    int rc = 0;

    pthread_mutex_lock(&s->daemon_lock);
    pthread_mutex_lock(&s->fault_lock);
    s->fault = *f;
    s->error_seq = 0;
    pthread_mutex_unlock(&s->fault_lock);
    if (f->refuse) {
        listener_stop(s);
    } else if (listener_start(s) != 0) {
        pthread_mutex_lock(&s->fault_lock);
        s->fault.refuse = 1;
        pthread_mutex_unlock(&s->fault_lock);
        rc = -1;
    }
    pthread_mutex_unlock(&s->daemon_lock);
    return rc;
}

/* control port -------------------------------------------------------------- */

struct params {
    struct fault f;
    const char  *bad;   /* the first offending parameter */
    const char  *error; /* "bad_param" or "unknown_param" */
};

static int parse_uint(const char *v, unsigned int max, unsigned int *out)
{
    unsigned long n = 0;

    if (v == NULL || *v == '\0')
        return -1;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        n = n * 10 + (unsigned long)(*v - '0');
        if (n > max)
            return -1;
    }
    *out = (unsigned int)n;
    return 0;
}

static int parse_flag(const char *v, int *out)
{
    if (v == NULL || strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || *v == '\0')
        *out = 1;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static enum MHD_Result parse_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct params *p = cls;
    struct fault  *f = &p->f;
    int            rc = 0;

    (void)kind;
    if (p->bad != NULL)
        return MHD_NO;
    if (strcmp(key, "delay_ms") == 0) {
        rc = parse_uint(value, DELAY_MAX_MS, &f->delay_ms);
    } else if (strcmp(key, "error_rate") == 0) {
        char  *end;
        double d;

        if (value == NULL || *value == '\0')
            rc = -1;
        else {
            d = strtod(value, &end);
            rc = (*end != '\0' || !(d >= 0.0 && d <= 1.0)) ? -1 : 0;
            if (rc == 0)
                f->error_rate = d;
        }
    } else if (strcmp(key, "error_status") == 0) {
        rc = parse_uint(value, 599, &f->error_status);
        if (rc == 0 && f->error_status < 200)
            rc = -1;
    } else if (strcmp(key, "refuse") == 0) {
        rc = parse_flag(value, &f->refuse);
    } else if (strcmp(key, "malformed") == 0) {
        rc = parse_flag(value, &f->malformed);
    } else if (strcmp(key, "close_mid_body") == 0) {
        rc = parse_flag(value, &f->close_mid_body);
    } else if (strcmp(key, "delay_healthz") == 0) {
        rc = parse_flag(value, &f->delay_healthz);
    } else if (strcmp(key, "fail_healthz") == 0) {
        rc = parse_flag(value, &f->fail_healthz);
    } else if (strcmp(key, "cache_control") == 0) {
        size_t n = value != NULL ? strlen(value) : 0;
        rc = n == 0 || n >= sizeof(f->cache_control) ? -1 : 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                rc = -1;
        if (rc == 0)
            memcpy(f->cache_control, value, n + 1);
    } else {
        p->bad = key;
        p->error = "unknown_param";
        return MHD_NO;
    }
    if (rc != 0) {
        p->bad = key;
        p->error = "bad_param";
        return MHD_NO;
    }
    return MHD_YES;
}

static json_object *fault_json(struct service *s)
{
    json_object *o = json_object_new_object();
    struct fault f;

    fault_get(s, &f);
    json_object_object_add(o, "service", json_object_new_string(s->name));
    json_object_object_add(o, "delay_ms", json_object_new_int64(f.delay_ms));
    json_object_object_add(o, "error_rate", json_object_new_double(f.error_rate));
    json_object_object_add(o, "error_status", json_object_new_int64(f.error_status));
    json_object_object_add(o, "refuse", json_object_new_boolean(f.refuse));
    json_object_object_add(o, "malformed", json_object_new_boolean(f.malformed));
    json_object_object_add(o, "close_mid_body",
                           json_object_new_boolean(f.close_mid_body));
    json_object_object_add(o, "delay_healthz",
                           json_object_new_boolean(f.delay_healthz));
    json_object_object_add(o, "fail_healthz", json_object_new_boolean(f.fail_healthz));
    json_object_object_add(o, "cache_control", json_object_new_string(f.cache_control));
    return o;
}

static json_object *stats_json(struct service *s)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "requests",
                           json_object_new_int64((int64_t)atomic_load(&s->requests)));
    json_object_object_add(o, "healthz",
                           json_object_new_int64((int64_t)atomic_load(&s->healthz)));
    json_object_object_add(o, "in_flight",
                           json_object_new_int64(atomic_load(&s->in_flight)));
    json_object_object_add(o, "max_in_flight",
                           json_object_new_int64(atomic_load(&s->max_in_flight)));
    if (s->id == SHOP_ORDERS)
        json_object_object_add(o, "event_streams",
                               json_object_new_int64(shop_sse_streams()));
    return o;
}

static void stats_reset(struct service *s)
{
    atomic_store(&s->requests, 0);
    atomic_store(&s->healthz, 0);
    atomic_store(&s->max_in_flight, atomic_load(&s->in_flight));
}

static struct service *service_named(const char *name)
{
    for (int i = 0; i < SHOP_NSVC; i++)
        if (strcmp(shop.svcs[i].name, name) == 0)
            return &shop.svcs[i];
    return NULL;
}

static enum MHD_Result send_obj(struct MHD_Connection *c, unsigned int status,
                                json_object *body)
{
    struct shop_resp rs = {.status = status, .body = body};

    return send_resp(c, &rs);
}

static enum MHD_Result control_fault(struct MHD_Connection *c, const char *method,
                                     struct service *s)
{
    struct params p = {.f = no_fault};

    if (is_get(method))
        return send_obj(c, 200, fault_json(s));
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, parse_param, &p);
        if (p.bad != NULL) {
            json_object *e = json_object_new_object();

            json_object_object_add(e, "error", json_object_new_string(p.error));
            json_object_object_add(e, "param", json_object_new_string(p.bad));
            return send_obj(c, 400, e);
        }
    } else if (strcmp(method, "DELETE") != 0) {
        return send_error(c, 405, "method_not_allowed");
    }
    if (fault_set(s, &p.f) != 0)
        return send_error(c, 500, "listen_failed");
    return send_obj(c, 200, fault_json(s));
}

static enum MHD_Result on_control(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    static int       started;
    struct service  *s = NULL;
    json_object     *all;
    struct shop_resp rs = {0};
    int              failed = 0;

    (void)cls;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* the control API reads no body */
        return MHD_YES;
    }
    if (strcmp(url, "/healthz") == 0) {
        all = json_object_new_object();
        json_object_object_add(all, "status", json_object_new_string("ok"));
        return send_obj(c, 200, all);
    }
    if (strcmp(url, "/reset") == 0) {
        if (strcmp(method, "POST") != 0)
            return send_error(c, 405, "method_not_allowed");
        for (int i = 0; i < SHOP_NSVC; i++) {
            failed |= fault_set(&shop.svcs[i], &no_fault);
            stats_reset(&shop.svcs[i]);
        }
        shop_sse_reset();
        if (failed)
            return send_error(c, 500, "listen_failed");
        all = json_object_new_object();
        json_object_object_add(all, "status", json_object_new_string("reset"));
        return send_obj(c, 200, all);
    }
    if (strcmp(url, "/fault") == 0 || strcmp(url, "/stats") == 0) {
        if (!is_get(method))
            return send_error(c, 405, "method_not_allowed");
        all = json_object_new_object();
        for (int i = 0; i < SHOP_NSVC; i++)
            json_object_object_add(all, shop.svcs[i].name,
                                   url[1] == 'f' ? fault_json(&shop.svcs[i])
                                                 : stats_json(&shop.svcs[i]));
        return send_obj(c, 200, all);
    }
    if (shop_sse_control(c, method, url, &rs))
        return send_resp(c, &rs);
    if (strncmp(url, "/fault/", 7) == 0 || strncmp(url, "/stats/", 7) == 0) {
        s = service_named(url + 7);
        if (s == NULL)
            return send_error(c, 404, "unknown_service");
        if (url[1] == 'f')
            return control_fault(c, method, s);
        if (!is_get(method))
            return send_error(c, 405, "method_not_allowed");
        return send_obj(c, 200, stats_json(s));
    }
    return send_error(c, 404, "not_found");
}

/* start-up ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shop-services [--host 127.0.0.1] [--users-port 9101]\n"
            "                     [--orders-port 9102] [--inventory-port 9103]\n"
            "                     [--control-port 9100] [--signing-key FILE]\n"
            "                     [--tls-cert FILE --tls-key FILE\n"
            "                      [--tls-client-ca FILE]]\n"
            "                     [--sse-ping 15s] [--sse-max-streams 100]\n"
            "                     [--advance ORDER [--advance-every 5s]]\n"
            "                     [--help]\n"
            "\n"
            "Serves the demo shop's users, orders and inventory services, one port\n"
            "each, and a control port for fault injection:\n"
            "  POST|PUT /fault/{service}?delay_ms=&error_rate=&error_status=&refuse=\n"
            "           &malformed=&close_mid_body=&delay_healthz=&fail_healthz=\n"
            "           &cache_control= (instead of the service's own; none: no header)\n"
            "  DELETE /fault/{service}   GET /fault[/{service}]\n"
            "  GET /stats[/{service}]    POST /reset    GET /healthz\n"
            "  POST|PUT /orders/{id}/status?to=pending|paid|shipped|delivered|cancelled\n"
            "  GET /orders/{id}/status\n"
            "With --signing-key, every request but /healthz must carry a valid\n"
            "X-Gateway-Signature (SPEC 5), else 401. With --tls-cert and --tls-key\n"
            "(PEM) the service ports speak HTTPS; with --tls-client-ca (PEM) too, a\n"
            "client without a certificate that CA signed fails the TLS handshake.\n"
            "The control port stays plain HTTP. SIGTERM or SIGINT stops it.\n"
            "\n"
            "GET /orders/{id}/events on orders streams the order's status changes\n"
            "as Server-Sent Events, with a \": ping\" comment every --sse-ping\n"
            "without one, until a final status (delivered, cancelled); at most\n"
            "--sse-max-streams at once (503 past it). --advance moves one order\n"
            "on by itself every --advance-every (pending, paid, shipped,\n"
            "delivered, then pending again). /reset restores the seed statuses.\n"
            "\n"
            "A port of 0 takes a free one from the kernel. Once all four listen,\n"
            "one line on stdout names the ports in use (also for fixed ports):\n"
            "  shop-services: ready users=127.0.0.1:9101 orders=127.0.0.1:9102\n"
            "                 inventory=127.0.0.1:9103 control=127.0.0.1:9100\n"
            "(on one line). A service stopped by refuse= listens again on the port\n"
            "it had.\n");
}

static int parse_port(const char *text, uint16_t *port)
{
    unsigned int p;

    if (parse_uint(text, 65535, &p) != 0)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

static int resolve_host(const char *host)
{
    struct addrinfo  hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int              rc;

    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "shop-services: --host %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(&shop.addr, res->ai_addr, res->ai_addrlen);
    shop.ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void services_init(void)
{
    static const char    *names[SHOP_NSVC] = {"users", "orders", "inventory"};
    static const uint16_t ports[SHOP_NSVC] = {9101, 9102, 9103};

    for (int i = 0; i < SHOP_NSVC; i++) {
        struct service *s = &shop.svcs[i];

        s->id = (enum shop_svc)i;
        s->name = names[i];
        s->port = ports[i];
        s->fault = no_fault;
        pthread_mutex_init(&s->daemon_lock, NULL);
        pthread_mutex_init(&s->fault_lock, NULL);
    }
    shop.host = "127.0.0.1";
    shop.control_port = 9100;
}

/* --tls-cert, --tls-key, --tls-client-ca */
static const char *tls_files[3];

/* --sse-ping, --sse-max-streams, --advance, --advance-every */
static struct shop_sse_opts sse_opts = {
    .ping_ms = 15000, .max_streams = 100, .advance_ms = 5000};

/* A duration flag within 100ms..1h. */
static int parse_dur_flag(const char *name, const char *text, uint64_t *ms)
{
    const char *why = NULL;

    if (bff_duration_parse(text, ms, &why) != 0 || *ms < 100 || *ms > 3600000) {
        fprintf(stderr, "shop-services: --%s %s: %s\n", name, text,
                why != NULL ? why : "must be 100ms..1h");
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, const char **key_file)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"users-port", required_argument, NULL, 'u'},
        {"orders-port", required_argument, NULL, 'o'},
        {"inventory-port", required_argument, NULL, 'i'},
        {"control-port", required_argument, NULL, 'c'},
        {"signing-key", required_argument, NULL, 'k'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-client-ca", required_argument, NULL, 'A'},
        {"sse-ping", required_argument, NULL, 'P'},
        {"sse-max-streams", required_argument, NULL, 'M'},
        {"advance", required_argument, NULL, 'a'},
        {"advance-every", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, idx = 0;

    while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        uint16_t *port = NULL;

        switch (opt) {
        case 'H':
            shop.host = optarg;
            break;
        case 'u':
            port = &shop.svcs[SHOP_USERS].port;
            break;
        case 'o':
            port = &shop.svcs[SHOP_ORDERS].port;
            break;
        case 'i':
            port = &shop.svcs[SHOP_INVENTORY].port;
            break;
        case 'c':
            port = &shop.control_port;
            break;
        case 'k':
            *key_file = optarg;
            break;
        case 'C':
            tls_files[0] = optarg;
            break;
        case 'K':
            tls_files[1] = optarg;
            break;
        case 'A':
            tls_files[2] = optarg;
            break;
        case 'P':
            if (parse_dur_flag("sse-ping", optarg, &sse_opts.ping_ms) != 0)
                return -1;
            break;
        case 'M':
            if (parse_uint(optarg, CONN_LIMIT, &sse_opts.max_streams) != 0 ||
                sse_opts.max_streams == 0) {
                fprintf(stderr, "shop-services: --sse-max-streams %s: must be 1..%u\n",
                        optarg, CONN_LIMIT);
                return -1;
            }
            break;
        case 'a':
            sse_opts.advance = optarg;
            break;
        case 'e':
            if (parse_dur_flag("advance-every", optarg, &sse_opts.advance_ms) != 0)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (port != NULL && parse_port(optarg, port) != 0) {
            fprintf(stderr, "shop-services: --%s %s: not a port (0-65535)\n",
                    opts[idx].name, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shop-services: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if ((tls_files[0] == NULL) != (tls_files[1] == NULL) ||
        (tls_files[2] != NULL && tls_files[0] == NULL)) {
        fprintf(stderr, "shop-services: --tls-cert and --tls-key go together, and "
                        "--tls-client-ca needs them\n");
        return -1;
    }
    return 0;
}

/* Reads the PEM files named by --tls-*. Returns 0 or -1 (with a message). */
static int tls_load(void)
{
    char **dst[3] = {&shop.tls_cert, &shop.tls_key, &shop.tls_client_ca};

    if (tls_files[0] != NULL && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(stderr, "shop-services: this libmicrohttpd is built without TLS\n");
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        int    err;

        if (tls_files[i] == NULL)
            continue;
        err = bff_read_file(tls_files[i], 1u << 20, dst[i], &len);
        if (err != 0) {
            fprintf(stderr, "shop-services: %s: %s\n", tls_files[i], bff_strerror(err));
            return -1;
        }
    }
    return 0;
}

/* The line a harness waits for: every listener is up, on these ports. */
static void ready_line(void)
{
    char addr[SHOP_NSVC + 1][300];

    for (int i = 0; i < SHOP_NSVC; i++)
        addr_text(shop.svcs[i].port, addr[i], sizeof(addr[i]));
    addr_text(shop.control_port, addr[SHOP_NSVC], sizeof(addr[SHOP_NSVC]));
    printf("shop-services: ready users=%s orders=%s inventory=%s control=%s\n",
           addr[SHOP_USERS], addr[SHOP_ORDERS], addr[SHOP_INVENTORY], addr[SHOP_NSVC]);
    fflush(stdout);
}

static void shutdown_all(void)
{
    wake(NULL, 1);
    shop_ws_stop(); /* its sessions end within 200 ms */
    if (shop.control != NULL)
        MHD_stop_daemon(shop.control);
    shop.control = NULL;
    for (int i = 0; i < SHOP_NSVC; i++) {
        struct service *s = &shop.svcs[i];

        pthread_mutex_lock(&s->daemon_lock);
        if (s->daemon != NULL)
            MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        pthread_mutex_unlock(&s->daemon_lock);
    }
}

int main(int argc, char **argv)
{
    const char        *key_file = NULL;
    const char        *why = NULL;
    pthread_condattr_t ca;
    sigset_t           stop_signals;
    char               where[300];
    int                sig = 0;
    int                rc = 1;

    setvbuf(stdout, NULL, _IOLBF, 0);
    services_init();
    if (parse_args(argc, argv, &key_file) != 0)
        return 2;
    if (key_file != NULL &&
        bff_sign_key_load(key_file, &shop.key, &shop.keylen, &why) != 0) {
        fprintf(stderr, "shop-services: --signing-key %s: %s\n", key_file,
                why != NULL ? why : "cannot load");
        return 1;
    }
    shop_order_status_source(shop_sse_status); /* the routes read what shop_sse.c keeps */
    if (shop_sse_init(&sse_opts) != 0)
        goto out;
    if (tls_load() != 0)
        goto out;
    if (resolve_host(shop.host) != 0)
        goto out;
    raise_fd_limit();

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sleep_cv, &ca);
    pthread_condattr_destroy(&ca);

    /* Every thread libmicrohttpd starts inherits this mask, so the signals
     * reach only sigwait below. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < SHOP_NSVC; i++) {
        struct service *s = &shop.svcs[i];

        addr_text(s->port, where, sizeof(where));
        pthread_mutex_lock(&s->daemon_lock);
        if (listener_start(s) != 0) {
            pthread_mutex_unlock(&s->daemon_lock);
            fprintf(stderr, "shop-services: %s: cannot listen on %s\n", s->name, where);
            goto stop;
        }
        pthread_mutex_unlock(&s->daemon_lock);
        addr_text(s->port, where, sizeof(where)); /* the port it got */
        printf("%s listening on %s%s\n", s->name, where,
               shop.tls_cert == NULL        ? ""
               : shop.tls_client_ca == NULL ? " (https)"
                                            : " (https, client certificate required)");
    }
    addr_text(shop.control_port, where, sizeof(where));
    shop.control = listen_on(shop.control_port, on_control, NULL);
    if (shop.control == NULL) {
        fprintf(stderr, "shop-services: control: cannot listen on %s\n", where);
        goto stop;
    }
    shop.control_port = bound_port(shop.control);
    addr_text(shop.control_port, where, sizeof(where));
    printf("control listening on %s\n", where);
    if (shop_sse_start() != 0) {
        fprintf(stderr, "shop-services: cannot start the --advance thread\n");
        goto stop;
    }
    ready_line();
    if (shop.key != NULL)
        fprintf(stderr, "shop-services: requests must carry X-Gateway-Signature\n");

    while (sigwait(&stop_signals, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
        ;
    rc = 0;
stop:
    shutdown_all();
    pthread_cond_destroy(&sleep_cv);
out:
    for (int i = 0; i < SHOP_NSVC; i++) {
        pthread_mutex_destroy(&shop.svcs[i].daemon_lock);
        pthread_mutex_destroy(&shop.svcs[i].fault_lock);
    }
    if (shop.key != NULL) {
        memset(shop.key, 0, shop.keylen);
        free(shop.key);
    }
    if (shop.tls_key != NULL)
        memset(shop.tls_key, 0, strlen(shop.tls_key));
    free(shop.tls_cert);
    free(shop.tls_key);
    free(shop.tls_client_ca);
    shop_sse_cleanup();
    return rc;
}
