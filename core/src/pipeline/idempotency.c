/* core/src/pipeline/idempotency.c — the Idempotency-Key step (SPEC section 4,
 * docs/idempotency.md)
 *
 * On a route with `idempotency: optional | required`, a POST or PATCH with
 * Idempotency-Key is scoped to (route, user id when authenticated or else
 * the client address, key) and claimed in the store with the SHA-256 of its
 * body. The first claim is forwarded and its answer seen through
 * r->on_answer (request/): kept for `ttl` unless it is a 5xx, a 499 (the
 * client left) or larger than `max_body`, in which case the claim is
 * released and the client may retry. A repeat with the same body gets the
 * kept answer and `Idempotent-Replayed: true` without reaching the
 * service; while the first is in flight, 409 (Retry-After: 1); with another
 * body, 422; without a key on a required route, 400.
 *
 * Its place in the table: in the BODY phase (the body's hash is part of the
 * claim), after the rate limit's verdict, the held refusals and the body
 * checks (a request refused there never claims a key, so a refusal is never
 * kept), right before dispatch.
 *
 * The memory store (rules/idemstore.c) is one per process, shared by every
 * worker and kept across reloads: each snapshot holds a reference, the
 * bounds are those of the first config that uses it. A claim the store
 * cannot make (every entry in flight, out of memory) is a store error:
 * idempotency.on_store_error decides (deny: 503 + Retry-After: 1; allow:
 * forwarded, not kept). */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "bff/util.h"
#include "base/log.h"
#include "pipeline/idempotency.h"
#include "pipeline/pipeline.h"
#include "pipeline/ratelimit.h"
#include "request/request.h"
#include "rules/idemstore.h"
#include "runtime/metrics.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

#define IDEM_LEASE_MS 60000 /* a claim whose request was lost lasts this long */

struct idem_snap {
    struct idem_store *mem;   /* NULL with a redis:// store */
    int                redis;
    uint32_t           timeout_ms;
    uint64_t           ttl_ms;
    uint64_t           max_body;
    int                deny;
};

enum { IQ_NONE = 0, IQ_WAITING, IQ_DECIDED, IQ_FAILED };

/* Per request, in its arena, once it carries a key. */
struct idem_req {
    const char     *scope;
    int             claimed; /* in flight: keep or release */
    int             state;   /* the Redis claim */
    enum idem_claim res;
    char           *packed;  /* a replay's answer from Redis (malloc'd) */
    size_t          plen;
    struct rl_call *call;    /* while waiting for Redis */
    /* "F" + hex SHA-256 + a random nonce: the in-flight value in Redis (the
     * nonce lets a release delete this request's claim and no other) */
    char            mark[1 + 64 + 32 + 1];
};

/* The claim, atomic in Redis: unknown → in flight ("F" + body hash + nonce,
 * for the lease) and {0}; known with another hash → {3}; in flight → {2}; kept
 * ("D" + hash + packed answer) → {1, answer}. */
static const char claim_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then\n"
    "  redis.call('SET', KEYS[1], 'F' .. ARGV[1] .. ARGV[3], 'PX', ARGV[2])\n"
    "  return {0}\n"
    "end\n"
    "if string.sub(v, 2, 65) ~= ARGV[1] then return {3} end\n"
    "if string.sub(v, 1, 1) == 'F' then return {2} end\n"
    "return {1, string.sub(v, 66)}\n";
/* The answer, kept only while the key still holds our own claim (a claim
 * whose lease ran out may belong to another request by now). */
static const char keep_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
    "end\n"
    "return 0\n";
/* The release: only our own in-flight mark goes. */
static const char release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* ---- store errors, logged at most once a second per worker thread --------------- */

#define IDEM_LOG_MS 1000

static _Thread_local uint64_t log_last_ms, log_skipped;

static void store_error_log(struct bff_request *r, const char *why)
{
    uint64_t    now = bff_now_ms();
    const char *url = r->snap->idem && r->snap->idem->redis && rl_redis_url(r->snap)
                          ? rl_redis_url(r->snap)
                          : "memory";

    if (log_last_ms && now - log_last_ms < IDEM_LOG_MS) {
        log_skipped++;
        return;
    }
    log_event("warn",
              "idempotency store %s: %s (route %s; %" PRIu64
              " more since the last line); on_store_error %s",
              url, why, r->route->path, log_skipped,
              r->snap->idem && r->snap->idem->deny ? "deny" : "allow");
    log_last_ms = now;
    log_skipped = 0;
}

/* ---- the process's memory store ----------------------------------------------- */

static pthread_mutex_t    mem_mu = PTHREAD_MUTEX_INITIALIZER;
static struct idem_store *mem_store;
static unsigned           mem_refs;

static struct idem_store *mem_ref(const struct bff_config *cfg)
{
    struct idem_store *st;

    pthread_mutex_lock(&mem_mu);
    if (!mem_store)
        mem_store =
            idem_store_new(cfg->idempotency.max_entries, cfg->idempotency.max_bytes);
    if (mem_store)
        mem_refs++;
    st = mem_store;
    pthread_mutex_unlock(&mem_mu);
    return st;
}

static void mem_unref(void)
{
    pthread_mutex_lock(&mem_mu);
    if (mem_refs && --mem_refs == 0) {
        idem_store_free(mem_store);
        mem_store = NULL;
    }
    pthread_mutex_unlock(&mem_mu);
}

/* ---- snapshot ------------------------------------------------------------------- */

int idem_snapshot_init(struct bff_snapshot *s, FILE *err)
{
    const struct bff_config *cfg = s->cfg;
    struct idem_snap        *is;
    int                      used = 0;

    for (size_t i = 0; i < cfg->nroutes; i++)
        used |= cfg->routes[i].idempotency != BFF_IDEM_OFF;
    if (!used)
        return 0;
    if (!(is = calloc(1, sizeof(*is))))
        goto oom;
    s->idem = is;
    is->ttl_ms = cfg->idempotency.ttl_ms;
    is->max_body = cfg->idempotency.max_body;
    is->deny = cfg->idempotency.on_store_error_deny;
    is->timeout_ms = cfg->idempotency.store_timeout_ms;
    if (cfg->idempotency.store && strcmp(cfg->idempotency.store, "memory") != 0) {
        /* the rate limiter's connection (config.c checks the URLs agree) */
        is->redis = 1;
        return 0;
    }
    if (!(is->mem = mem_ref(cfg)))
        goto oom;
    return 0;
oom:
    fprintf(err, "%s: out of memory preparing idempotency\n", cfg->path);
    return -1;
}

void idem_snapshot_cleanup(struct bff_snapshot *s)
{
    if (!s->idem)
        return;
    if (s->idem->mem)
        mem_unref();
    free(s->idem);
    s->idem = NULL;
}

/* ---- the answer --------------------------------------------------------------- */

/* A command nobody waits for (keep, release); a failure is only logged:
 * the in-flight mark then ends with its lease. */
static void fire(struct bff_request *r, int argc, const char **argv, const size_t *lens)
{
    const char *why = NULL;
    rl_redis_send(r, argc, argv, lens, 0, NULL, NULL, &why);
    if (why)
        store_error_log(r, why);
}

static void release(struct bff_request *r)
{
    struct idem_req *q = r->idem;

    if (!q || !q->claimed)
        return;
    q->claimed = 0;
    if (r->snap->idem->redis) {
        const char *argv[] = {"EVAL", release_lua, "1", q->scope, q->mark};
        size_t      lens[5];
        for (int i = 0; i < 5; i++)
            lens[i] = strlen(argv[i]);
        fire(r, 5, argv, lens);
        return;
    }
    idem_store_release(r->snap->idem->mem, q->scope);
}

static void keep(struct bff_request *r, char *packed, size_t plen)
{
    struct idem_req        *q = r->idem;
    const struct idem_snap *is = r->snap->idem;

    if (!is->redis) {
        idem_store_keep(is->mem, q->scope, packed, plen, bff_now_ms(), is->ttl_ms);
        return;
    }
    char  px[24];
    char *val = malloc(65 + plen);
    if (val) {
        val[0] = 'D';
        memcpy(val + 1, q->mark + 1, 64);
        memcpy(val + 65, packed, plen);
        snprintf(px, sizeof(px), "%" PRIu64, is->ttl_ms);
        const char *argv[] = {"EVAL", keep_lua, "1", q->scope, q->mark, val, px};
        size_t      lens[] = {4,           sizeof(keep_lua) - 1, 1, strlen(q->scope),
                              strlen(q->mark), 65 + plen,    strlen(px)};
        fire(r, 7, argv, lens);
        free(val);
    } else {
        q->claimed = 1;
        release(r);
    }
    free(packed);
}

/* r->on_answer of a request that claimed its key. */
static void on_answer(struct bff_request *r, int status, const char *content_type,
                      const char *body, size_t len, const struct bff_hdr *hdrs,
                      size_t nhdrs)
{
    struct idem_req        *q = r->idem;
    const struct idem_snap *is = r->snap->idem;
    char                   *packed;
    size_t                  plen = 0;

    if (!q || !q->claimed)
        return;
    /* 5xx: the service or the gateway failed, the client may retry; 499:
     * the client left; 1xx never reach here */
    if (status < 200 || status >= 500 || status == 499 || len > is->max_body ||
        !(packed = idem_pack(status, content_type, body, len, hdrs, nhdrs, &plen))) {
        release(r);
        return;
    }
    q->claimed = 0;
    keep(r, packed, plen);
}

void idem_request_done(struct bff_request *r)
{
    struct idem_req *q = r->idem;

    if (!q)
        return;
    if (q->call) {
        /* the claim may have been made: the release after it (same
         * connection, so Redis runs it second) deletes it if it was */
        rl_redis_cancel(q->call);
        q->call = NULL;
        q->claimed = 1;
    }
    free(q->packed);
    q->packed = NULL;
    release(r); /* completed without an answer we saw (the client left) */
}

/* ---- the step --------------------------------------------------------------------- */

/* 1-255 visible ASCII characters (SPEC section 4). */
static int key_ok(const char *k)
{
    size_t n = 0;
    for (; k[n]; n++)
        if ((unsigned char)k[n] < 0x21 || (unsigned char)k[n] > 0x7e)
            return 0;
    return n >= 1 && n <= 255;
}

/* (route, user or address, key), each part length-prefixed so that no
 * route, client and key can spell another's scope. */
static const char *scope_of(struct bff_request *r, const char *key)
{
    const char *path = r->route->path;
    int         user = r->authenticated && r->ident.user_id[0];
    const char *who = user ? r->ident.user_id : r->client_ip;

    return bff_arena_printf(&r->arena, "portico:idem:%zu:%s:%s:%zu:%s:%s", strlen(path),
                            path, user ? "u" : "i", strlen(who), who, key);
}

static void replay(struct bff_request *r, char *packed, size_t len)
{
    struct idem_unpacked u;
    struct bff_hdr      *h;
    char                *body;

    if (idem_unpack(packed, len, &u) != 0 ||
        !(h = bff_arena_alloc(&r->arena, (u.nhdrs + 1) * sizeof(*h))) ||
        !(body = malloc(u.body_len ? u.body_len : 1))) {
        req_problem(r, 500, "the kept answer cannot be read", NULL, 0);
        return;
    }
    memcpy(h, u.hdrs, u.nhdrs * sizeof(*h));
    h[u.nhdrs] = (struct bff_hdr){"Idempotent-Replayed", "true"};
    memcpy(body, u.body, u.body_len);
    /* req_respond copies the headers and owns the body: @packed can go */
    req_respond(r, u.status, u.content_type, body, u.body_len, 1, h, u.nhdrs + 1);
}

/* The claim's reply from Redis (or its failure): the BODY phase runs
 * again (resumed) and acts on it. */
static void on_claim(void *ud, redisReply *rep, const char *why)
{
    struct bff_request *r = ud;
    struct idem_req    *q = r->idem;

    q->call = NULL;
    q->state = IQ_FAILED;
    if (!why && rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER) {
        long long k = rep->element[0]->integer;
        if (k == 0 || k == 2 || k == 3) {
            q->res = k == 0 ? IDEM_NEW : k == 2 ? IDEM_CONFLICT : IDEM_MISMATCH;
            q->state = IQ_DECIDED;
        } else if (k == 1 && rep->elements == 2 &&
                   rep->element[1]->type == REDIS_REPLY_STRING &&
                   (q->packed = malloc(rep->element[1]->len ? rep->element[1]->len : 1))) {
            memcpy(q->packed, rep->element[1]->str, rep->element[1]->len);
            q->plen = rep->element[1]->len;
            q->res = IDEM_REPLAY;
            q->state = IQ_DECIDED;
        }
    }
    if (q->state == IQ_FAILED) {
        store_error_log(r, why                                             ? why
                           : rep && rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str
                                                                           : "unexpected reply");
        /* a claim that timed out may yet be made: released behind it, on
         * the same connection. Not when the connection is going (this
         * runs inside hiredis freeing it: no command can be sent); the
         * claim, if made, then ends with its lease. */
        if (why && strcmp(why, "timeout") == 0) {
            q->claimed = 1;
            release(r);
        }
    }
    req_resume(r);
}

/* Sends the claim; 0 when the request now waits for it. */
static int claim_redis(struct bff_request *r, struct idem_req *q)
{
    const struct idem_snap *is = r->snap->idem;
    char                    lease[24];
    const char             *why = NULL;
    uint64_t lease_ms = is->ttl_ms < IDEM_LEASE_MS ? is->ttl_ms : IDEM_LEASE_MS;

    snprintf(lease, sizeof(lease), "%" PRIu64, lease_ms);
    const char *argv[] = {"EVAL", claim_lua, "1", q->scope, q->mark + 1, lease,
                          q->mark + 65};
    size_t      lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    lens[4] = 64; /* the hash, without the nonce */
    q->call = rl_redis_send(r, 7, argv, lens, is->timeout_ms, on_claim, r, &why);
    if (!q->call) {
        store_error_log(r, why ? why : "cannot send");
        return -1;
    }
    q->state = IQ_WAITING;
    req_suspend(r);
    return 0;
}

static enum bff_step_result act(struct bff_request *r, struct idem_req *q,
                                enum idem_claim res, char *packed, size_t plen)
{
    const struct idem_snap *is = r->snap->idem;

    switch (res) {
    case IDEM_NEW:
        q->claimed = 1;
        r->on_answer = on_answer;
        metrics_idempotency(r, METRICS_IDEM_NEW);
        return STEP_NEXT;
    case IDEM_REPLAY:
        metrics_idempotency(r, METRICS_IDEM_REPLAYED);
        replay(r, packed, plen);
        return STEP_DONE;
    case IDEM_CONFLICT: {
        static const struct bff_hdr h = {"Retry-After", "1"};
        metrics_idempotency(r, METRICS_IDEM_CONFLICT);
        req_problem(r, 409,
                    "a request with this Idempotency-Key is still in progress; retry "
                    "once it is answered",
                    &h, 1);
        return STEP_DONE;
    }
    case IDEM_MISMATCH:
        metrics_idempotency(r, METRICS_IDEM_MISMATCH);
        req_problem(r, 422,
                    "this Idempotency-Key was used with another request body; use a new "
                    "key for a new request",
                    NULL, 0);
        return STEP_DONE;
    case IDEM_FULL:
    default:
        break;
    }
    metrics_idempotency(r, METRICS_IDEM_STORE_ERROR);
    if (is->deny) {
        static const struct bff_hdr h = {"Retry-After", "1"};
        req_problem(r, 503, "the idempotency store is unavailable", &h, 1);
        return STEP_DONE;
    }
    return STEP_NEXT; /* on_store_error: allow: forwarded, not kept */
}

enum bff_step_result step_idempotency(struct bff_request *r)
{
    const struct idem_snap *is = r->snap->idem;
    const char             *key;
    uint8_t                 sha[IDEM_SHA_LEN];
    unsigned int            shalen = 0;
    char                   *packed = NULL;
    size_t                  plen = 0;
    struct idem_req        *q = r->idem;
    enum bff_step_result    res;

    if (q) { /* resumed: the Redis claim is in (or failed) */
        if (q->state == IQ_WAITING) {
            req_suspend(r);
            return STEP_DONE;
        }
        if (q->state == IQ_NONE)
            return STEP_NEXT; /* acted on already */
        res = act(r, q, q->state == IQ_DECIDED ? q->res : IDEM_FULL, q->packed, q->plen);
        q->state = IQ_NONE;
        free(q->packed);
        q->packed = NULL;
        return res;
    }
    if (!is || !r->route || r->route->idempotency == BFF_IDEM_OFF ||
        (strcmp(r->method, "POST") != 0 && strcmp(r->method, "PATCH") != 0))
        return STEP_NEXT;
    key = req_header(r, "Idempotency-Key");
    if (!key) {
        if (r->route->idempotency != BFF_IDEM_REQUIRED)
            return STEP_NEXT;
        req_problem(r, 400,
                    "this route requires an Idempotency-Key header (1 to 255 visible "
                    "ASCII characters)",
                    NULL, 0);
        return STEP_DONE;
    }
    if (!key_ok(key)) {
        req_problem(r, 400, "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    NULL, 0);
        return STEP_DONE;
    }
    if (EVP_Digest(r->body ? r->body : "", r->body_len, sha, &shalen, EVP_sha256(),
                   NULL) != 1 ||
        shalen != IDEM_SHA_LEN || !(q = bff_arena_alloc(&r->arena, sizeof(*q))) ||
        (memset(q, 0, sizeof(*q)), !(q->scope = scope_of(r, key)))) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return STEP_DONE;
    }
    q->mark[0] = 'F';
    bff_hex(sha, IDEM_SHA_LEN, q->mark + 1);
    req_new_id(r->w, q->mark + 65);
    r->idem = q;
    if (is->redis) {
        if (claim_redis(r, q) == 0)
            return STEP_DONE; /* suspended: resumed with the reply */
        return act(r, q, IDEM_FULL, NULL, 0);
    }
    enum idem_claim c =
        idem_store_claim(is->mem, q->scope, sha, bff_now_ms(),
                         is->ttl_ms < IDEM_LEASE_MS ? is->ttl_ms : IDEM_LEASE_MS, &packed,
                         &plen);
    if (c == IDEM_FULL)
        store_error_log(r, "no room for a claim (every entry in flight) or out of memory");
    res = act(r, q, c, packed, plen);
    free(packed);
    return res;
}
