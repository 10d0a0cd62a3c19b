/* core/src/pipeline/ratelimit.c — the per-request rate-limit step and the Redis store
 *
 * A request on a limited route is charged one unit of the budget named by
 * its route path and its client key ("u:<user id>" or "i:<address>"), after
 * authentication. Authentication failures on a limited route are charged to
 * the client address before they are answered (rl_deny), so that every
 * answer after routing carries the RateLimit fields and a flood of bad
 * tokens is throttled like any other.
 *
 * Memory store: the server's one bff_ratelimiter (sharded, bounded, see
 * ratelimit.c), shared by all workers and kept across reloads; the step is
 * one shard lock, no allocation beyond the request's arena, no waiting.
 *
 * Redis store: one hiredis async connection per worker, driven from the
 * worker's epoll loop (the ev hooks below turn hiredis's add/del read/write
 * into epoll_ctl on w->epfd with TAG_RL | fd). At connect: SELECT db and
 * SCRIPT LOAD; per request one EVALSHA of rl_lua (EVAL when Redis answers
 * NOSCRIPT), which does the whole GCRA step atomically on Redis's own clock.
 * The request is suspended meanwhile. Each call has a deadline
 * (store_timeout) kept by one timerfd per worker; when it passes, when the
 * connection is lost, or when there is none, on_store_error decides (allow:
 * the request goes on; deny: 503 + Retry-After: 1), the error is counted and
 * logged (at most one line a second per worker, plus one line when the
 * store goes away and one when it is back). A connection that answers
 * nothing for max(1 s, 2 x store_timeout) while calls are out is dropped.
 * Reconnects are lazy (the next request) and at most one every 500 ms per
 * worker; meanwhile requests fail fast instead of waiting.
 *
 * A reply may arrive after its request stopped waiting (timeout, shutdown):
 * calls are worker-owned (a small free list) and outlive their request; the
 * request is only reached through call->r, cleared when it stops waiting.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "bff/err.h"
#include "bff/ratelimit.h"
#include "bff/util.h"
#include "base/log.h"
#include "pipeline/pipeline.h"
#include "pipeline/ratelimit.h"
#include "request/request.h"
#include "runtime/metrics.h"
#include "types/snapshot-t.h"
#include "types/tags-t.h"
#include "types/worker-t.h"

#define RL_BACKOFF_MS 500 /* at most one connect attempt per worker per this */
#define RL_STALL_MS                                                                    \
    1000                 /* no answer this long with calls out: drop (or 2 x timeout)  \
                          */
#define RL_MAX_OUT 4096  /* commands out per connection; beyond: store error */
#define RL_POOL_MAX 1024 /* idle call records kept per worker */
#define RL_LOG_MS 1000   /* at most one store-error line per worker per this */

/* GCRA on Redis's clock, in ns kept as "<unix s>:<ns>" so that Lua's doubles
 * stay exact (every debt is below 2^53 ns). Same arithmetic as gcra() in
 * ratelimit.c: debt capped at N*T, refused when debt > tau = (N-1)*T. The
 * key expires 1 s after its debt is paid: an idle key is forgotten. */
const char rl_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = tonumber(ARGV[1])\n"
    "local n = tonumber(ARGV[2])\n"
    "local tau = t * (n - 1)\n"
    "local now = redis.call('TIME')\n"
    "local ns = tonumber(now[1])\n"
    "local nf = tonumber(now[2]) * 1000\n"
    "local debt = 0\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local s, f = string.match(v, '^(%d+):(%d+)$')\n"
    "  if s then\n"
    "    local ds = tonumber(s) - ns\n"
    "    if ds > 4000000 then debt = t * n\n"
    "    elseif ds > -4000000 then debt = ds * 1000000000 + tonumber(f) - nf end\n"
    "  end\n"
    "end\n"
    "if debt < 0 then debt = 0 end\n"
    "if debt > t * n then debt = t * n end\n"
    "local function ms(x)\n"
    "  local r = x % 1000000\n"
    "  return (x - r) / 1000000 + (r > 0 and 1 or 0)\n"
    "end\n"
    "if debt > tau then return {0, 0, ms(debt), ms(debt - tau)} end\n"
    "debt = debt + t\n"
    "local total = nf + debt\n"
    "local frac = total % 1000000000\n"
    "redis.call('SET', KEYS[1], string.format('%d:%d', ns + (total - frac) / "
    "1000000000, frac), 'PX', ms(debt) + 1000)\n"
    "local rem = 0\n"
    "if debt <= tau then rem = (tau - debt - (tau - debt) % t) / t + 1 end\n"
    "return {1, rem, ms(debt), 0}\n";

static char           rl_sha[41]; /* SHA-1 of rl_lua, hex */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_init(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  len = 0;

    if (EVP_Digest(rl_lua, strlen(rl_lua), md, &len, EVP_sha1(), NULL) == 1 &&
        len == 20)
        bff_hex(md, 20, rl_sha);
}

/* ---- types ---------------------------------------------------------------- */

struct rl_route {
    int  limited;
    char policy[64]; /* RateLimit-Policy value */
    char t_ns[24];   /* emission interval for the script */
    char count[12];
};

struct rl_snap {
    int              redis;
    char             url[320]; /* as configured (the config refuses credentials) */
    char             host[INET6_ADDRSTRLEN]; /* numeric */
    int              port;
    unsigned         db;
    uint32_t         timeout_ms;
    int              deny;
    struct rl_route *routes;
    size_t           nroutes;
};

enum { RL_NONE = 0, RL_WAITING, RL_VERDICT, RL_FAILED };

struct rl_call;

/* Per request, in its arena; only on limited routes. */
struct rl_req {
    int                   state;
    struct bff_rl_verdict v;
    struct rl_call       *call;    /* while waiting for Redis */
    int                   held;    /* dispatch waits for the verdict (suspended) */
    int                   expired; /* store_timeout passed before dispatch */
    int                   applied; /* the verdict was acted on */
    const char           *key;
};

struct rl_call {
    struct rl_call     *prev, *next; /* waiting list, or the free list */
    struct rl_worker   *rw;
    struct bff_request *r; /* NULL once the request stopped waiting */
    uint64_t            deadline_ms;
    int                 waiting;
    int                 retried; /* EVAL sent after NOSCRIPT */
    /* another step's command on the same connection (rl_redis_send): its
     * callback, or NULL for the rate limit's own EVALSHA */
    rl_redis_done       done;
    void               *ud;
    int                 generic;
};

struct rl_worker {
    struct bff_worker *w;
    int                timerfd;
    uint64_t           timer_at; /* armed deadline, 0 = disarmed */
    redisAsyncContext *ac;
    int                fd;
    uint32_t           mask; /* epoll events registered for fd */
    int                connected;
    char               host[INET6_ADDRSTRLEN]; /* the target of ac */
    int                port;
    unsigned           db;
    uint64_t           last_attempt_ms;
    uint64_t           last_progress_ms;
    uint32_t           stall_ms;
    uint32_t           out; /* commands sent, not yet answered */
    struct rl_call    *wait_head, *wait_tail;
    struct rl_call    *pool;
    size_t             npool;
    int                down; /* "unavailable" was logged */
    char               url[320];
    uint64_t           errs, last_log_ms;
};

/* ---- snapshot ---------------------------------------------------------------- */

static int parse_store(const struct bff_config *cfg, struct rl_snap *rs, FILE *err)
{
    const char     *p = cfg->rate_limit.store + 8, *slash, *colon;
    char            host[256];
    size_t          hlen;
    struct addrinfo hints = {0}, *ai = NULL;
    int             rc;

    snprintf(rs->url, sizeof(rs->url), "%s", cfg->rate_limit.store);
    slash = strchr(p, '/');
    hlen = slash ? (size_t)(slash - p) : strlen(p);
    if (*p == '[') {
        const char *close = memchr(p, ']', hlen);
        if (!close)
            goto bad;
        colon = close + 1;
        p++;
        hlen = (size_t)(close - p);
    } else {
        colon = memchr(p, ':', hlen);
        if (!colon)
            goto bad;
        hlen = (size_t)(colon - p);
    }
    if (*colon != ':' || hlen == 0 || hlen >= sizeof(host))
        goto bad;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    rs->port = atoi(colon + 1);
    rs->db = slash ? (unsigned)strtoul(slash + 1, NULL, 10) : 0;
    if (rs->port <= 0 || rs->port > 65535)
        goto bad;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || !ai) {
        fprintf(err, "%s: rate_limit.store \"%s\": cannot resolve \"%s\": %s\n",
                cfg->path, rs->url, host, rc ? gai_strerror(rc) : "no address");
        return BFF_EINVAL;
    }
    if (ai->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr,
                  rs->host, sizeof(rs->host));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr,
                  rs->host, sizeof(rs->host));
    freeaddrinfo(ai);
    return 0;
bad:
    fprintf(err, "%s: rate_limit.store \"%s\": expected redis://host:port[/db]\n",
            cfg->path, cfg->rate_limit.store);
    return BFF_EINVAL;
}

int rl_snapshot_init(struct bff_snapshot *s, FILE *err)
{
    const struct bff_config *cfg = s->cfg;
    struct rl_snap          *rs = calloc(1, sizeof(*rs));
    size_t                   n = cfg->nroutes ? cfg->nroutes : 1;

    if (!rs)
        goto oom;
    s->rl = rs;
    rs->nroutes = cfg->nroutes;
    rs->timeout_ms =
        cfg->rate_limit.store_timeout_ms ? cfg->rate_limit.store_timeout_ms : 50;
    rs->deny = cfg->rate_limit.on_store_error_deny;
    rs->routes = calloc(n, sizeof(*rs->routes));
    if (!rs->routes)
        goto oom;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct bff_rate *rate = &cfg->routes[i].rate;
        struct rl_route       *rt = &rs->routes[i];
        if (!rate->count || !rate->period_ms)
            continue;
        uint64_t period = (uint64_t)rate->period_ms * 1000000u;
        rt->limited = 1;
        bff_ratelimit_policy_field(rate, rt->policy, sizeof(rt->policy));
        snprintf(rt->t_ns, sizeof(rt->t_ns), "%" PRIu64,
                 (period + rate->count - 1) / rate->count);
        snprintf(rt->count, sizeof(rt->count), "%" PRIu32, rate->count);
    }
    if (cfg->rate_limit.store && strncmp(cfg->rate_limit.store, "redis://", 8) == 0) {
        rs->redis = 1;
        pthread_once(&sha_once, sha_init);
        if (!rl_sha[0]) {
            fprintf(err,
                    "%s: rate_limit: cannot hash the Redis script (OpenSSL SHA-1)\n",
                    cfg->path);
            return BFF_EINVAL;
        }
        return parse_store(cfg, rs, err);
    }
    return 0;
oom:
    fprintf(err, "%s: out of memory preparing rate limits\n", cfg->path);
    return BFF_ENOMEM;
}

void rl_snapshot_cleanup(struct bff_snapshot *s)
{
    if (!s->rl)
        return;
    free(s->rl->routes);
    free(s->rl);
    s->rl = NULL;
}

/* ---- the verdict ---------------------------------------------------------------- */

static const struct rl_route *route_of(struct bff_request *r)
{
    const struct rl_snap *rs = r->snap->rl;

    if (!rs || !r->route || r->route_idx < 0 || (size_t)r->route_idx >= rs->nroutes ||
        !rs->routes[r->route_idx].limited)
        return NULL;
    return &rs->routes[r->route_idx];
}

static struct rl_req *req_state(struct bff_request *r)
{
    if (!r->rl) {
        r->rl = bff_arena_alloc(&r->arena, sizeof(*r->rl));
        if (r->rl)
            memset(r->rl, 0, sizeof(*r->rl));
    }
    return r->rl;
}

/* The RateLimit field of the verdict, pushed on the request when it is in
 * (a store that failed: the cautious hint "default";r=0;t=1). */
static void push_field(struct bff_request *r)
{
    struct rl_req *q = r->rl;
    char           buf[64];

    if (q->state == RL_VERDICT) {
        if (bff_ratelimit_field(&q->v, buf, sizeof(buf)))
            req_push_header(r, "RateLimit", bff_arena_strdup(&r->arena, buf));
    } else if (q->state == RL_FAILED) {
        req_push_header(r, "RateLimit", "\"default\";r=0;t=1");
    }
}

/* Acts on the verdict at dispatch: 429, on_store_error: deny, or the answer
 * authentication left. Returns 1 when it answered. */
static int apply(struct bff_request *r)
{
    struct rl_req *q = r->rl;

    q->applied = 1;
    if (q->state == RL_VERDICT && !q->v.allowed) {
        uint32_t       s = bff_ratelimit_retry_after_s(&q->v);
        struct bff_hdr h = {"Retry-After", bff_arena_printf(&r->arena, "%" PRIu32, s)};
        const char    *detail = bff_arena_printf(
               &r->arena,
               "the rate limit of this route (%s) is used up; retry in %" PRIu32 " s",
               r->route->path, s);
        req_problem(r, 429, detail ? detail : "the rate limit of this route is used up",
                    h.value ? &h : NULL, h.value ? 1 : 0);
        return 1;
    }
    if (q->state == RL_FAILED && r->snap->rl->deny) {
        static const struct bff_hdr h = {"Retry-After", "1"};
        req_problem(r, 503, "the rate-limit store is unavailable", &h, 1);
        return 1;
    }
    return 0;
}

/* The verdict is in: when dispatch already waits for it, act now (or let
 * the request go on: resumed, dispatch runs again). */
static void settled(struct bff_request *r)
{
    struct rl_req *q = r->rl;

    if (!q->held)
        return;
    q->held = 0;
    if (!apply(r))
        req_resume(r);
}

static void decide(struct bff_request *r, const struct bff_rl_verdict *v)
{
    struct rl_req *q = r->rl;

    q->v = *v;
    q->state = RL_VERDICT;
    metrics_ratelimit(r, v->allowed);
    push_field(r);
    settled(r);
}

static void note_error(struct bff_request *r, const char *why)
{
    struct rl_worker *rw = r->w->rl;
    uint64_t          now = bff_now_ms();

    if (!rw)
        return;
    rw->errs++;
    if (rw->last_log_ms && now - rw->last_log_ms < RL_LOG_MS)
        return;
    log_event("warn",
              "rate_limit store %s: %" PRIu64
              " request(s) without a verdict on worker %u "
              "(latest: %s, route %s); on_store_error %s",
              r->snap->rl->redis ? r->snap->rl->url : "memory", rw->errs, r->w->id, why,
              r->route->path, r->snap->rl->deny ? "deny" : "allow");
    rw->errs = 0;
    rw->last_log_ms = now;
}

/* The store gave no verdict: on_store_error decides (at dispatch). */
static void fail(struct bff_request *r, const char *why)
{
    struct rl_req *q = r->rl;

    q->state = RL_FAILED;
    push_field(r);
    metrics_ratelimit_store_error(r);
    metrics_ratelimit(r, !r->snap->rl->deny);
    note_error(r, why);
    settled(r);
}

/* ---- the budget's key ------------------------------------------------------ */

static const char *budget_key(struct bff_request *r)
{
    const char *path = r->route->path;
    int user = r->snap->cfg->rate_limit.key != BFF_RL_KEY_IP && r->authenticated &&
               r->ident.user_id[0];

    /* "user" without a verified identity falls back to the address, like
     * "user_or_ip"; the route path is length-prefixed so that no path and
     * client pair can spell another's key. */
    return bff_arena_printf(&r->arena, "portico:rl:%zu:%s:%s:%s", strlen(path), path,
                            user ? "u" : "i", user ? r->ident.user_id : r->client_ip);
}

/* ---- Redis: calls -------------------------------------------------------- */

static struct rl_call *call_get(struct rl_worker *rw)
{
    struct rl_call *c = rw->pool;

    if (c) {
        rw->pool = c->next;
        rw->npool--;
    } else {
        c = malloc(sizeof(*c));
        if (!c)
            return NULL;
    }
    memset(c, 0, sizeof(*c));
    c->rw = rw;
    return c;
}

static void call_put(struct rl_worker *rw, struct rl_call *c)
{
    if (rw->npool >= RL_POOL_MAX) {
        free(c);
        return;
    }
    c->next = rw->pool;
    rw->pool = c;
    rw->npool++;
}

static void wait_add(struct rl_worker *rw, struct rl_call *c)
{
    c->waiting = 1;
    c->next = NULL;
    c->prev = rw->wait_tail;
    if (rw->wait_tail)
        rw->wait_tail->next = c;
    else
        rw->wait_head = c;
    rw->wait_tail = c;
}

static void wait_remove(struct rl_worker *rw, struct rl_call *c)
{
    if (!c->waiting)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        rw->wait_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        rw->wait_tail = c->prev;
    c->prev = c->next = NULL;
    c->waiting = 0;
}

/* Detaches the request from @c; the call lives on until its reply. */
static struct bff_request *call_detach(struct rl_worker *rw, struct rl_call *c)
{
    struct bff_request *r = c->r;

    wait_remove(rw, c);
    c->r = NULL;
    if (r && r->rl && r->rl->call == c)
        r->rl->call = NULL;
    return r;
}

static void timer_arm(struct rl_worker *rw, uint64_t at_ms)
{
    struct itimerspec its = {0};

    if (at_ms) {
        its.it_value.tv_sec = (time_t)(at_ms / 1000);
        its.it_value.tv_nsec = (long)(at_ms % 1000) * 1000000L;
    }
    if (timerfd_settime(rw->timerfd, at_ms ? TFD_TIMER_ABSTIME : 0, &its, NULL) == 0)
        rw->timer_at = at_ms;
}

/* ---- Redis: the connection ------------------------------------------------- */

static void ev_set(struct rl_worker *rw, uint32_t mask)
{
    struct epoll_event ev = {0};
    int                op;

    if (mask == rw->mask || rw->fd < 0)
        return;
    op = rw->mask == 0 ? EPOLL_CTL_ADD : mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    ev.events = mask;
    ev.data.u64 = TAG(TAG_RL, (uint32_t)rw->fd);
    if (epoll_ctl(rw->w->epfd, op, rw->fd, &ev) == 0 || op == EPOLL_CTL_DEL)
        rw->mask = mask;
}

static void ev_add_read(void *p)
{
    struct rl_worker *rw = p;
    ev_set(rw, rw->mask | EPOLLIN);
}

static void ev_del_read(void *p)
{
    struct rl_worker *rw = p;
    ev_set(rw, rw->mask & ~(uint32_t)EPOLLIN);
}

static void ev_add_write(void *p)
{
    struct rl_worker *rw = p;
    ev_set(rw, rw->mask | EPOLLOUT);
}

static void ev_del_write(void *p)
{
    struct rl_worker *rw = p;
    ev_set(rw, rw->mask & ~(uint32_t)EPOLLOUT);
}

static void ev_cleanup(void *p)
{
    struct rl_worker *rw = p;
    ev_set(rw, 0);
    rw->fd = -1;
}

static void store_down(struct rl_worker *rw, const char *why)
{
    if (rw->down)
        return;
    rw->down = 1;
    log_event(
        "warn",
        "rate_limit store %s unavailable on worker %u: %s; on_store_error decides "
        "until it is back (reconnect at most every %d ms)",
        rw->url, rw->w->id, why, RL_BACKOFF_MS);
}

/* Closes the connection; waiting requests get on_store_error at once. */
static void store_drop(struct rl_worker *rw, const char *why, int log)
{
    redisAsyncContext *ac = rw->ac;

    if (!ac)
        return;
    rw->ac = NULL;
    rw->connected = 0;
    if (log)
        store_down(rw, why);
    redisAsyncFree(ac); /* runs every pending callback with a NULL reply */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rl_worker *rw = ac->data;

    if (rw->ac != ac)
        return;
    if (status != REDIS_OK) {
        rw->ac = NULL; /* hiredis frees it after this returns */
        rw->connected = 0;
        store_down(rw, ac->errstr ? ac->errstr : "cannot connect");
        return;
    }
    rw->connected = 1;
    rw->last_progress_ms = bff_now_ms();
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rl_worker *rw = ac->data;

    (void)status;
    if (rw->ac != ac)
        return; /* store_drop() let it go */
    rw->ac = NULL;
    rw->connected = 0;
    store_down(rw, ac->err && ac->errstr ? ac->errstr : "connection closed");
}

/* SELECT and SCRIPT LOAD: their replies only tell whether the store works. */
static void on_setup(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rl_worker *rw = privdata;
    redisReply       *rep = reply;

    rw->out--;
    if (!rep)
        return;
    rw->last_progress_ms = bff_now_ms();
    if (rep->type == REDIS_REPLY_ERROR) {
        log_event("error", "rate_limit store %s on worker %u: %s", rw->url, rw->w->id,
                  rep->str ? rep->str : "error");
        if (rw->ac == ac) {
            /* a wrong db must not silently count in db 0: drop; the next
             * attempt says the same thing until an operator fixes it */
            rw->ac = NULL;
            rw->connected = 0;
            store_down(rw, rep->str ? rep->str : "setup refused");
            redisAsyncDisconnect(ac);
        }
        return;
    }
    if (rw->down && rw->ac == ac && rep->type == REDIS_REPLY_STRING) {
        rw->down = 0; /* SCRIPT LOAD came back: the store works again */
        log_event("info", "rate_limit store %s available again on worker %u", rw->url,
                  rw->w->id);
    }
}

static int same_target(const struct rl_worker *rw, const struct rl_snap *rs)
{
    return rw->port == rs->port && rw->db == rs->db && strcmp(rw->host, rs->host) == 0;
}

static int store_connect(struct rl_worker *rw, const struct rl_snap *rs, uint64_t now)
{
    redisAsyncContext *ac;

    rw->last_attempt_ms = now;
    snprintf(rw->url, sizeof(rw->url), "%s", rs->url);
    ac = redisAsyncConnect(rs->host, rs->port);
    if (!ac) {
        store_down(rw, "out of memory");
        return BFF_ENOMEM;
    }
    if (ac->err) {
        store_down(rw, ac->errstr);
        redisAsyncFree(ac);
        return BFF_EIO;
    }
    ac->data = rw;
    ac->ev.data = rw;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    rw->ac = ac;
    rw->fd = ac->c.fd;
    rw->mask = 0;
    rw->connected = 0;
    snprintf(rw->host, sizeof(rw->host), "%s", rs->host);
    rw->port = rs->port;
    rw->db = rs->db;
    rw->last_progress_ms = now;
    rw->stall_ms = rs->timeout_ms * 2 > RL_STALL_MS ? rs->timeout_ms * 2 : RL_STALL_MS;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (rs->db && redisAsyncCommand(ac, on_setup, rw, "SELECT %u", rs->db) == REDIS_OK)
        rw->out++;
    if (redisAsyncCommand(ac, on_setup, rw, "SCRIPT LOAD %s", rl_lua) == REDIS_OK)
        rw->out++;
    return 0;
}

static void on_eval(redisAsyncContext *ac, void *reply, void *privdata);

static int send_call(struct rl_worker *rw, struct rl_call *c, int eval)
{
    struct bff_request    *r = c->r;
    const struct rl_route *rt = route_of(r);
    const char            *argv[6];
    size_t                 lens[6];

    if (!rw->ac || !rt)
        return BFF_EIO;
    argv[0] = eval ? "EVAL" : "EVALSHA";
    argv[1] = eval ? rl_lua : rl_sha;
    argv[2] = "1";
    argv[3] = r->rl->key;
    argv[4] = rt->t_ns;
    argv[5] = rt->count;
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(rw->ac, on_eval, c, 6, argv, lens) != REDIS_OK)
        return BFF_EIO;
    rw->out++;
    return 0;
}

static const char *parse_reply(const redisReply *rep, struct bff_rl_verdict *v)
{
    if (!rep)
        return "connection lost";
    if (rep->type == REDIS_REPLY_ERROR)
        return "script error";
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4)
        return "unexpected reply";
    for (int i = 0; i < 4; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER ||
            rep->element[i]->integer < 0 || rep->element[i]->integer > UINT32_MAX)
            return "unexpected reply";
    v->allowed = rep->element[0]->integer != 0;
    v->remaining = (uint32_t)rep->element[1]->integer;
    v->reset_ms = (uint32_t)rep->element[2]->integer;
    v->retry_after_ms = (uint32_t)rep->element[3]->integer;
    return NULL;
}

static void on_eval(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rl_call       *c = privdata;
    struct rl_worker     *rw = c->rw;
    redisReply           *rep = reply;
    struct bff_request   *r;
    struct bff_rl_verdict v = {0};
    const char           *why;

    rw->out--;
    if (rep)
        rw->last_progress_ms = bff_now_ms();
    if (!c->r) {
        call_put(rw, c);
        return;
    }
    if (rep && rep->type == REDIS_REPLY_ERROR && !c->retried && rep->str &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0 && rw->ac == ac) {
        c->retried = 1;
        if (send_call(rw, c, 1) == 0)
            return;
    }
    r = call_detach(rw, c);
    call_put(rw, c);
    why = parse_reply(rep, &v);
    if (why) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            log_event("error", "rate_limit store %s: %s", rw->url,
                      rep->str ? rep->str : "error");
        fail(r, why);
        return;
    }
    v.limit = r->route->rate.count;
    decide(r, &v);
}

/* Deadlines passed: those requests get on_store_error; a connection that
 * has answered nothing for stall_ms is dropped. */
static void on_timer(struct rl_worker *rw)
{
    uint64_t        now = bff_now_ms(), next = 0;
    struct rl_call *c, *nx;

    rw->timer_at = 0;
    for (c = rw->wait_head; c; c = nx) {
        nx = c->next;
        if (c->deadline_ms > now)
            continue;
        if (c->generic) {
            rl_redis_done done = c->done;
            void         *ud = c->ud;
            c->done = NULL;
            if (call_detach(rw, c) && done)
                done(ud, NULL, "timeout");
            continue;
        }
        if (c->r && !c->r->rl->held) {
            /* still reading the request: a reply may yet come before
             * dispatch; if not, dispatch counts it as a timeout */
            c->r->rl->expired = 1;
            wait_remove(rw, c);
            continue;
        }
        struct bff_request *r = call_detach(rw, c);
        if (r)
            fail(r, "timeout");
    }
    if (rw->ac && rw->out && now - rw->last_progress_ms >= rw->stall_ms)
        store_drop(rw, "no answer within the stall limit", 1);
    for (c = rw->wait_head; c; c = c->next)
        if (!next || c->deadline_ms < next)
            next = c->deadline_ms;
    timer_arm(rw, next);
}

/* ---- the step ------------------------------------------------------------------ */

/* The worker's connection to @rs's store, made when there is none (at most
 * one attempt per RL_BACKOFF_MS): NULL with *why when there is none. */
static const char *ensure_conn(struct rl_worker *rw, const struct rl_snap *rs,
                               uint64_t now)
{
    if (rw->ac && !same_target(rw, rs)) {
        store_drop(rw, "the config names another store", 0);
        rw->last_attempt_ms = 0;
        rw->down = 0;
    }
    if (!rw->ac) {
        if (rw->last_attempt_ms && now - rw->last_attempt_ms < RL_BACKOFF_MS)
            return "not connected";
        if (store_connect(rw, rs, now) != 0)
            return "cannot connect";
    }
    return NULL;
}

static int step_redis(struct bff_request *r)
{
    struct rl_worker     *rw = r->w->rl;
    const struct rl_snap *rs = r->snap->rl;
    struct rl_call       *c;
    uint64_t              now = bff_now_ms();
    const char           *why;

    if (!rw) {
        fail(r, "no store on this worker");
        return 0;
    }
    if ((why = ensure_conn(rw, rs, now))) {
        fail(r, why);
        return 0;
    }
    if (rw->out >= RL_MAX_OUT || !(c = call_get(rw))) {
        fail(r, "too many calls waiting");
        return 0;
    }
    c->r = r;
    c->deadline_ms = now + rs->timeout_ms;
    if (send_call(rw, c, 0) != 0) {
        call_put(rw, c);
        fail(r, "cannot send");
        return 0;
    }
    wait_add(rw, c);
    r->rl->call = c;
    r->rl->state = RL_WAITING;
    if (!rw->timer_at || c->deadline_ms < rw->timer_at)
        timer_arm(rw, c->deadline_ms);
    return 0;
}

/* Every answer of a limited route says its policy (RateLimit-Policy), even
 * one given before the budget is consulted (405, a preflight). */
enum bff_step_result step_ratelimit_policy(struct bff_request *r)
{
    const struct rl_route *rt = route_of(r);
    if (rt)
        req_push_header(r, "RateLimit-Policy", rt->policy);
    return STEP_NEXT;
}

/* The budget is consulted with the head: the in-memory store decides now,
 * Redis answers later (the verdict is acted on in the BODY phase). A
 * refusal left by auth or roles is charged too and held until then, to go
 * out with the RateLimit fields (or a 429 instead). */
enum bff_step_result step_ratelimit(struct bff_request *r)
{
    struct rl_req *q;

    if (!route_of(r))
        return STEP_NEXT;
    if (r->refusal.pending)
        req_refusal_hold(r);
    if (!(q = req_state(r))) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return STEP_DONE;
    }
    if (!(q->key = budget_key(r))) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return STEP_DONE;
    }
    if (r->snap->rl->redis) {
        step_redis(r);
    } else {
        struct bff_rl_verdict v;
        if (bff_ratelimit_take(r->w->srv->rl_mem, q->key, &r->route->rate, bff_now_ms(),
                               &v) == 0)
            decide(r, &v);
        else
            fail(r, "no in-memory store");
    }
    return r->answered ? STEP_DONE : STEP_NEXT;
}

static int rl_hold(struct bff_request *r)
{
    struct rl_req *q = r->rl;

    if (!q || q->applied || q->state == RL_NONE)
        return 0;
    if (q->state == RL_WAITING) {
        if (!q->expired) {
            q->held = 1;
            req_suspend(r);
            return 1;
        }
        if (q->call)
            call_detach(q->call->rw, q->call);
        fail(r, "timeout");
    }
    return apply(r);
}

/* The verdict acted on once the body is in: 429, on_store_error: deny, or
 * waiting (suspended) for Redis. */
enum bff_step_result step_ratelimit_hold(struct bff_request *r)
{
    return rl_hold(r) ? STEP_DONE : STEP_NEXT;
}

/* ---- another step's commands on the same connection -------------------------- */

static void on_generic(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rl_call   *c = privdata;
    struct rl_worker *rw = c->rw;
    rl_redis_done     done = c->done;
    void             *ud = c->ud;

    (void)ac;
    rw->out--;
    if (reply)
        rw->last_progress_ms = bff_now_ms();
    if (!c->r && c->waiting == 0 && !done) {
        call_put(rw, c);
        return;
    }
    struct bff_request *r = call_detach(rw, c);
    call_put(rw, c);
    if (r && done)
        done(ud, reply, reply ? NULL : "connection lost");
}

struct rl_call *rl_redis_send(struct bff_request *r, int argc, const char **argv,
                              const size_t *lens, uint32_t timeout_ms, rl_redis_done done,
                              void *ud, const char **why)
{
    struct rl_worker     *rw = r->w->rl;
    const struct rl_snap *rs = r->snap->rl;
    struct rl_call       *c;
    uint64_t              now = bff_now_ms();

    *why = NULL;
    if (!rw || !rs || !rs->redis) {
        *why = "no Redis store on this worker";
        return NULL;
    }
    if ((*why = ensure_conn(rw, rs, now)))
        return NULL;
    if (rw->out >= RL_MAX_OUT || !(c = call_get(rw))) {
        *why = "too many calls waiting";
        return NULL;
    }
    c->generic = 1;
    c->done = done;
    c->ud = ud;
    c->r = done ? r : NULL;
    if (redisAsyncCommandArgv(rw->ac, on_generic, c, argc, argv, lens) != REDIS_OK) {
        call_put(rw, c);
        *why = "cannot send";
        return NULL;
    }
    rw->out++;
    if (!done && rw->connected) {
        /* written now, not at the next turn of the loop: a kept answer
         * reaches Redis before its client can read the answer and ask
         * again on another connection */
        redisAsyncHandleWrite(rw->ac);
        return NULL;
    }
    if (done) {
        c->deadline_ms = now + timeout_ms;
        wait_add(rw, c);
        if (!rw->timer_at || c->deadline_ms < rw->timer_at)
            timer_arm(rw, c->deadline_ms);
    }
    return done ? c : NULL;
}

void rl_redis_cancel(struct rl_call *c)
{
    if (!c)
        return;
    c->done = NULL;
    call_detach(c->rw, c);
}

const char *rl_redis_url(const struct bff_snapshot *s)
{
    return s->rl && s->rl->redis ? s->rl->url : NULL;
}

/* ---- per worker -------------------------------------------------------------- */

int rl_worker_init(struct bff_worker *w)
{
    struct bff_server *srv = w->srv;
    struct rl_worker  *rw;

    if (!srv->rl_mem) {
        srv->rl_mem = bff_ratelimiter_new(w->snap->cfg->rate_limit.max_keys
                                              ? w->snap->cfg->rate_limit.max_keys
                                              : 100000);
        if (!srv->rl_mem)
            return BFF_ENOMEM;
    }
    rw = calloc(1, sizeof(*rw));
    if (!rw)
        goto fail;
    rw->w = w;
    rw->fd = -1;
    rw->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (rw->timerfd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG(TAG_RL_TIMER, 0)};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, rw->timerfd, &ev) != 0)
        goto fail;
    w->rl = rw;
    atomic_fetch_add(&srv->rl_users, 1);
    return 0;
fail:
    if (rw && rw->timerfd >= 0)
        close(rw->timerfd);
    free(rw);
    if (atomic_load(&srv->rl_users) == 0) {
        bff_ratelimiter_free(srv->rl_mem);
        srv->rl_mem = NULL;
    }
    return BFF_EIO;
}

void rl_request_done(struct bff_request *r)
{
    if (r->rl && r->rl->call)
        call_detach(r->rl->call->rw, r->rl->call);
}

static void rl_worker_stop(struct bff_worker *w)
{
    struct rl_worker *rw = w->rl;

    if (!rw)
        return;
    while (rw->wait_head)
        call_detach(rw, rw->wait_head);
}

void rl_worker_cleanup(struct bff_worker *w)
{
    struct rl_worker  *rw = w->rl;
    struct bff_server *srv = w->srv;

    if (!rw)
        return;
    rl_worker_stop(w);
    store_drop(rw, "stopping", 0);
    if (rw->timerfd >= 0)
        close(rw->timerfd);
    while (rw->pool) {
        struct rl_call *c = rw->pool;
        rw->pool = c->next;
        free(c);
    }
    free(rw);
    w->rl = NULL;
    if (atomic_fetch_sub(&srv->rl_users, 1) == 1) {
        bff_ratelimiter_free(srv->rl_mem);
        srv->rl_mem = NULL;
    }
}

void rl_worker_event(struct bff_worker *w, uint64_t tag, uint32_t events)
{
    struct rl_worker  *rw = w->rl;
    redisAsyncContext *ac;

    if (!rw)
        return;
    if (TAG_OF(tag) == TAG_RL_TIMER) {
        uint64_t exp;
        ssize_t  n = read(rw->timerfd, &exp, sizeof(exp));
        (void)n;
        on_timer(rw);
        return;
    }
    ac = rw->ac;
    if (!ac || (int)(uint32_t)tag != rw->fd)
        return; /* an event of a connection already gone */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        redisAsyncHandleRead(ac);
    if (rw->ac == ac && (events & (EPOLLOUT | EPOLLERR)))
        redisAsyncHandleWrite(ac);
}
