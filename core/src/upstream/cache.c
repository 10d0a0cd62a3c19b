/* core/src/upstream/cache.c — services' GET answers kept per worker, and
 * identical calls coalesced (SPEC §4, RFC 9111, RFC 5861; docs/cache.md)
 *
 * Each worker has its own table: no lock on the request path, and an entry
 * is found by the thread that made it. Keys are (service, URL, scope): the
 * scope is the X-User-Id the call carried, or empty for an answer that said
 * `public`, so one user's answer never reaches another. Each service's
 * entries are bounded by its cache.max_entries (least recently used out)
 * and each answer by cache.max_body.
 *
 * Coalescing: the first call of a key that misses is the leader; identical
 * calls (same service, URL and user) that miss while it runs wait for it,
 * at most WAIT_MAX per key, each until its own deadline (on the worker's
 * retry timer). When the leader ends, every waiter gets a copy of its
 * answer (or of the stale entry used instead) on the loop's next turn. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bff/arena.h"
#include "bff/err.h"
#include "bff/config.h"
#include "bff/util.h"
#include "base/log.h"
#include "rules/cachectl.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/cache.h"
#include "upstream/upstream.h"

#define WAIT_MAX 256 /* waiters per key; past it a call is made */

struct cache_ans {
    int                status;
    size_t             nh;
    struct up_header  *h;    /* names and values in the same block */
    char              *body;
    size_t             len;
    uint64_t           stored_ms;
    uint32_t           age0_s; /* the Age the service said */
    struct cc_decision k;
};

struct cache_svc;

struct cache_ent {
    struct cache_ent *hnext;
    struct cache_ent *prev, *next; /* the service's LRU, most recent first */
    struct cache_svc *svc;
    uint64_t          hash;
    size_t            klen;
    char             *key;
    struct cache_ans *ans;
};

struct cache_svc {
    struct cache_svc *next;
    char             *name;
    unsigned          n;
    struct cache_ent *head, *tail;
};

struct cache_group {
    struct cache_group *next;
    uint64_t            hash;
    size_t              klen;
    char               *key;
    struct up_call     *leader;
    struct up_call     *whead, *wtail;
    unsigned            nwait;
};

/* A background refresh (stale-while-revalidate): a call of its own, in its
 * own memory, that no request waits for. */
struct cache_refresh {
    struct up_call        c;
    struct bff_arena      arena;
    struct cache_refresh *prev, *next;
    struct up_cache      *uc;
};

struct up_cache {
    struct cache_ent     **b;
    size_t                 nb, n;
    struct cache_svc      *svcs;
    struct cache_group    *groups;
    struct cache_refresh  *refreshes;
    int (*start)(struct bff_worker *w, struct up_call *c);
    void (*cancel)(struct up_call *c);
    struct cache_stats     st;
};

static uint64_t fnv(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    return h;
}

int cache_worker_init(struct bff_worker *w,
                      int (*start)(struct bff_worker *w, struct up_call *c),
                      void (*cancel)(struct up_call *c))
{
    struct up_cache *uc = calloc(1, sizeof(*uc));
    if (!uc)
        return BFF_ENOMEM;
    uc->nb = 256;
    uc->b = calloc(uc->nb, sizeof(*uc->b));
    if (!uc->b) {
        free(uc);
        return BFF_ENOMEM;
    }
    uc->start = start;
    uc->cancel = cancel;
    w->cache = uc;
    return 0;
}

static void ent_free(struct cache_ent *e)
{
    free(e->ans);
    free(e->key);
    free(e);
}

void cache_worker_cleanup(struct bff_worker *w)
{
    struct up_cache *uc = w->cache;
    if (!uc)
        return;
    if (uc->st.hits || uc->st.stale || uc->st.coalesced || uc->st.stored)
        log_event("info",
                  "worker %u cache: hits %llu stale %llu coalesced %llu kept %llu "
                  "evicted %llu refreshed %llu",
                  w->id, (unsigned long long)uc->st.hits, (unsigned long long)uc->st.stale,
                  (unsigned long long)uc->st.coalesced, (unsigned long long)uc->st.stored,
                  (unsigned long long)uc->st.evicted, (unsigned long long)uc->st.refreshed);
    for (size_t i = 0; i < uc->nb; i++)
        for (struct cache_ent *e = uc->b[i], *n; e; e = n) {
            n = e->hnext;
            ent_free(e);
        }
    for (struct cache_svc *s = uc->svcs, *n; s; s = n) {
        n = s->next;
        free(s->name);
        free(s);
    }
    /* every call was cancelled before: no group is left */
    free(uc->b);
    free(uc);
    w->cache = NULL;
}

void cache_stats(const struct bff_worker *w, struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (w->cache)
        *out = w->cache->st;
}

/* ---- keys ------------------------------------------------------------------ */

/* "service \0 url \0 scope" in the call's arena. */
static char *make_key(struct up_call *c, const char *scope, size_t *len)
{
    const char *svc = c->rt->conf->name;
    size_t      a = strlen(svc), b = strlen(c->url), s = strlen(scope);
    char       *k = bff_arena_alloc(c->arena, a + b + s + 3);
    if (!k)
        return NULL;
    memcpy(k, svc, a + 1);
    memcpy(k + a + 1, c->url, b + 1);
    memcpy(k + a + b + 2, scope, s + 1);
    *len = a + b + s + 2;
    return k;
}

static struct cache_ent *ent_find(struct up_cache *uc, const char *k, size_t n,
                                  uint64_t h)
{
    for (struct cache_ent *e = uc->b[h & (uc->nb - 1)]; e; e = e->hnext)
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct cache_ent *e)
{
    struct cache_svc *s = e->svc;
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct cache_ent *e)
{
    struct cache_svc *s = e->svc;
    e->next = s->head;
    e->prev = NULL;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

static void ent_remove(struct up_cache *uc, struct cache_ent *e)
{
    struct cache_ent **pp = &uc->b[e->hash & (uc->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    e->svc->n--;
    uc->n--;
    ent_free(e);
}

static struct cache_svc *svc_of(struct up_cache *uc, const char *name)
{
    for (struct cache_svc *s = uc->svcs; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    struct cache_svc *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->next = uc->svcs;
    uc->svcs = s;
    return s;
}

static void grow(struct up_cache *uc)
{
    size_t             nb = uc->nb * 2;
    struct cache_ent **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < uc->nb; i++)
        for (struct cache_ent *e = uc->b[i], *n; e; e = n) {
            n = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(uc->b);
    uc->b = b;
    uc->nb = nb;
}

/* ---- answers ------------------------------------------------------------- */

static uint32_t age_of(const struct cache_ans *a, uint64_t now_ms)
{
    uint64_t age = a->age0_s + (now_ms > a->stored_ms ? (now_ms - a->stored_ms) / 1000 : 0);
    return age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
}

/* The call's answer in one malloc'd block (NULL when out of memory). */
static struct cache_ans *ans_of(const struct up_call *c, uint64_t now_ms)
{
    size_t sz = sizeof(struct cache_ans) + c->nresp_headers * sizeof(struct up_header) +
                c->resp_len + 1;
    for (size_t i = 0; i < c->nresp_headers; i++)
        sz += strlen(c->resp_headers[i].name) + strlen(c->resp_headers[i].value) + 2;
    struct cache_ans *a = malloc(sz);
    if (!a)
        return NULL;
    memset(a, 0, sizeof(*a));
    char *p = (char *)(a + 1);
    a->h = (struct up_header *)p;
    p += c->nresp_headers * sizeof(struct up_header);
    a->body = p;
    if (c->resp_len)
        memcpy(p, c->resp_body, c->resp_len);
    p[c->resp_len] = '\0';
    p += c->resp_len + 1;
    for (size_t i = 0; i < c->nresp_headers; i++) {
        size_t nl = strlen(c->resp_headers[i].name) + 1;
        size_t vl = strlen(c->resp_headers[i].value) + 1;
        memcpy(p, c->resp_headers[i].name, nl);
        a->h[i].name = p;
        p += nl;
        memcpy(p, c->resp_headers[i].value, vl);
        a->h[i].value = p;
        p += vl;
    }
    a->nh = c->nresp_headers;
    a->len = c->resp_len;
    a->status = c->status;
    a->stored_ms = now_ms;
    return a;
}

/* Gives @c a copy of @a: the body malloc'd, the headers in its arena, with
 * Age when it comes from an entry. 0, or -1 when out of memory. */
static int fill(struct up_call *c, const struct cache_ans *a, int how, uint64_t now_ms)
{
    int               with_age = how == UP_CACHED_FRESH || how == UP_CACHED_STALE;
    struct up_header *h = bff_arena_alloc(c->arena, (a->nh + 1) * sizeof(*h));
    char             *body = malloc(a->len + 1);
    size_t            n = 0;
    if (!h || !body) {
        free(body);
        return -1;
    }
    memcpy(body, a->body, a->len);
    body[a->len] = '\0';
    for (size_t i = 0; i < a->nh; i++) {
        if (with_age && strcasecmp(a->h[i].name, "Age") == 0)
            continue;
        h[n].name = bff_arena_strdup(c->arena, a->h[i].name);
        h[n].value = bff_arena_strdup(c->arena, a->h[i].value);
        if (!h[n].name || !h[n].value) {
            free(body);
            return -1;
        }
        n++;
    }
    c->age_s = with_age ? age_of(a, now_ms) : 0;
    if (with_age) {
        h[n].name = "Age";
        h[n].value = bff_arena_printf(c->arena, "%u", c->age_s);
        if (!h[n].value) {
            free(body);
            return -1;
        }
        n++;
    }
    free(c->resp_body);
    c->resp_body = body;
    c->resp_len = a->len;
    c->resp_cap = a->len + 1;
    c->resp_headers = h;
    c->nresp_headers = n;
    c->hdr_cap = a->nh + 1;
    c->status = a->status;
    c->result = UP_OK;
    c->cached = how;
    return 0;
}

/* done() on the loop's next turn (never from inside up_call_start). */
static void deliver_later(struct up_call *c)
{
    c->cache_role = CACHE_DELIVER;
    c->res.due_ms = 1; /* due at once (0 would read as "timer not armed") */
    up_retry_add(c);
}

/* ---- eligibility and lookups ---------------------------------------------- */

/* A GET of a service with cache:, without Range. Sets c->cache_user. */
static int eligible(struct up_call *c)
{
    if (!c->rt || !c->rt->conf || c->rt->conf->cache.max_entries == 0 || c->head ||
        strcmp(c->method, "GET") != 0 || !c->arena || !c->url)
        return 0;
    c->cache_user = NULL;
    for (size_t i = 0; i < c->nheaders; i++) {
        const char *l = c->headers[i];
        if (strncmp(l, "X-User-Id: ", 11) == 0)
            c->cache_user = l + 11;
        else if (strncasecmp(l, "Range:", 6) == 0)
            return 0; /* parts of an answer are not kept */
    }
    return 1;
}

/* The entry for @c (shared first, then its user's), or NULL; an entry past
 * every window is dropped on the way. */
static struct cache_ent *lookup(struct up_cache *uc, struct up_call *c, uint64_t now_ms)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !c->cache_user)
            break;
        size_t      kl;
        const char *k = make_key(c, pass ? c->cache_user : "", &kl);
        if (!k)
            return NULL;
        struct cache_ent *e = ent_find(uc, k, kl, fnv(k, kl));
        if (!e)
            continue;
        const struct cc_decision *d = &e->ans->k;
        uint64_t max = (uint64_t)d->fresh_s +
                       (d->stale_error_s > d->stale_reval_s ? d->stale_error_s
                                                            : d->stale_reval_s);
        if (age_of(e->ans, now_ms) >= max) {
            ent_remove(uc, e);
            continue;
        }
        return e;
    }
    return NULL;
}

static struct cache_group *group_find(struct up_cache *uc, const char *k, size_t n,
                                      uint64_t h)
{
    for (struct cache_group *g = uc->groups; g; g = g->next)
        if (g->hash == h && g->klen == n && memcmp(g->key, k, n) == 0)
            return g;
    return NULL;
}

static void group_unlink(struct up_cache *uc, struct cache_group *g)
{
    struct cache_group **pp = &uc->groups;
    while (*pp && *pp != g)
        pp = &(*pp)->next;
    if (*pp)
        *pp = g->next;
}

static void waiter_unlink(struct cache_group *g, struct up_call *c)
{
    if (c->cw_prev)
        c->cw_prev->cw_next = c->cw_next;
    else
        g->whead = c->cw_next;
    if (c->cw_next)
        c->cw_next->cw_prev = c->cw_prev;
    else
        g->wtail = c->cw_prev;
    c->cw_prev = c->cw_next = NULL;
    c->cgroup = NULL;
    g->nwait--;
}

static void refresh_free(struct cache_refresh *f)
{
    struct up_cache *uc = f->uc;
    if (f->prev)
        f->prev->next = f->next;
    else
        uc->refreshes = f->next;
    if (f->next)
        f->next->prev = f->prev;
    free(f->c.resp_body);
    bff_arena_cleanup(&f->arena);
    free(f);
}

static void refresh_done(struct up_call *c)
{
    refresh_free(c->ud); /* cache_end kept the answer, or left the entry */
}

void cache_refresh_stop(struct bff_worker *w)
{
    struct up_cache *uc = w->cache;
    while (uc && uc->refreshes) {
        struct cache_refresh *f = uc->refreshes;
        uc->cancel(&f->c);
        refresh_free(f);
    }
}

/* Starts a refresh of @c's key, led by a call of its own (the group @k so
 * that identical calls wait for it), unless one runs. Only for a service of
 * the worker's own snapshot: a refresh is stopped when it is swapped. */
static void refresh_start(struct bff_worker *w, struct up_call *c, const char *k,
                          size_t kl, uint64_t h)
{
    struct up_cache *uc = w->cache;
    const struct bff_snapshot *snap = w->snap;
    if (group_find(uc, k, kl, h) || !snap || c->rt < snap->services ||
        c->rt >= snap->services + snap->cfg->nservices)
        return;
    struct cache_refresh *f = calloc(1, sizeof(*f));
    struct cache_group   *g = calloc(1, sizeof(*g));
    if (!f || !g || !(g->key = malloc(kl)))
        goto fail;
    bff_arena_init(&f->arena, 0);
    f->uc = uc;
    struct up_call *r = &f->c;
    const char    **hl = bff_arena_alloc(&f->arena, (c->nheaders + 1) * sizeof(char *));
    r->url = bff_arena_strdup(&f->arena, c->url);
    if (!hl || !r->url)
        goto fail_arena;
    for (size_t i = 0; i < c->nheaders; i++)
        if (!(hl[i] = bff_arena_strdup(&f->arena, c->headers[i])))
            goto fail_arena;
    r->method = "GET";
    r->headers = hl;
    r->nheaders = c->nheaders;
    r->connect_timeout_ms = c->connect_timeout_ms;
    r->timeout_ms = c->timeout_ms;
    r->max_body = c->max_body;
    r->max_header = c->max_header;
    r->done = refresh_done;
    r->ud = f;
    r->arena = &f->arena;
    r->rt = c->rt;
    r->cache_user = NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strncmp(hl[i], "X-User-Id: ", 11) == 0)
            r->cache_user = hl[i] + 11;
    memcpy(g->key, k, kl);
    g->klen = kl;
    g->hash = h;
    g->leader = r;
    g->next = uc->groups;
    uc->groups = g;
    r->cache_role = CACHE_LEADER;
    r->cgroup = g;
    f->next = uc->refreshes;
    if (f->next)
        f->next->prev = f;
    uc->refreshes = f;
    r->w = w;
    if (uc->start(w, r) != 0) { /* refused: the entry stays as it is */
        group_unlink(uc, g);
        free(g->key);
        free(g);
        r->cgroup = NULL;
        r->cache_role = CACHE_NONE;
        refresh_free(f);
        return;
    }
    uc->st.refreshed++;
    return;
fail_arena:
    bff_arena_cleanup(&f->arena);
fail:
    if (g)
        free(g->key);
    free(g);
    free(f);
}

/* ---- the call's life ------------------------------------------------------ */

int cache_begin(struct bff_worker *w, struct up_call *c)
{
    struct up_cache *uc = w->cache;
    c->cache_role = CACHE_NONE;
    c->cgroup = NULL;
    c->cw_prev = c->cw_next = NULL;
    c->cached = UP_CACHED_NO;
    c->age_s = 0;
    if (!uc || !eligible(c))
        return 0;
    uint64_t          now = bff_now_ms();
    struct cache_ent *e = lookup(uc, c, now);
    if (e && age_of(e->ans, now) < (uint64_t)e->ans->k.fresh_s) {
        if (fill(c, e->ans, UP_CACHED_FRESH, now) == 0) {
            lru_unlink(e);
            lru_front(e);
            uc->st.hits++;
            c->ms = 0;
            deliver_later(c);
            return 1;
        }
    }
    if (e && c->cache_user &&
        age_of(e->ans, now) < (uint64_t)e->ans->k.fresh_s + e->ans->k.stale_reval_s) {
        /* stale-while-revalidate: this entry answers now, a call of its own
         * refreshes it (one per key at a time) */
        size_t kl;
        char  *k = make_key(c, e->ans->k.scope == CC_SHARED ? "" : c->cache_user, &kl);
        if (k && fill(c, e->ans, UP_CACHED_FRESH, now) == 0) {
            lru_unlink(e);
            lru_front(e);
            uc->st.hits++;
            c->ms = 0;
            refresh_start(w, c, k, kl, fnv(k, kl));
            deliver_later(c);
            return 1;
        }
    }
    c->cache_role = CACHE_LEADER;
    if (!c->cache_user)
        return 0; /* anonymous: kept when public, never coalesced (their
                     forwarded headers may differ) */
    /* identical calls of one user wait for each other; when the entry that
     * just went stale was public, every user's call does */
    size_t kl;
    char  *k = make_key(c, e && e->ans->k.scope == CC_SHARED ? "" : c->cache_user, &kl);
    if (!k)
        return 0;
    uint64_t            h = fnv(k, kl);
    struct cache_group *g = group_find(uc, k, kl, h);
    if (g && g->leader && g->nwait < WAIT_MAX) {
        c->cache_role = CACHE_WAITER;
        c->cgroup = g;
        c->cw_prev = g->wtail;
        if (g->wtail)
            g->wtail->cw_next = c;
        else
            g->whead = c;
        g->wtail = c;
        g->nwait++;
        uint64_t due = now + c->timeout_ms;
        if (c->deadline_ms && c->deadline_ms < due)
            due = c->deadline_ms;
        c->res.due_ms = due;
        c->start_us = bff_now_us();
        up_retry_add(c);
        return 1;
    }
    if (g)
        return 0; /* too many wait already: a call of its own, not a leader */
    g = calloc(1, sizeof(*g));
    if (g && !(g->key = malloc(kl))) {
        free(g);
        g = NULL;
    }
    if (!g)
        return 0;
    memcpy(g->key, k, kl);
    g->klen = kl;
    g->hash = h;
    g->leader = c;
    g->next = uc->groups;
    uc->groups = g;
    c->cgroup = g;
    return 0;
}

/* A stale entry for failed call @c, filled in: 1, or 0 when none. */
static int use_stale(struct up_cache *uc, struct up_call *c, uint64_t now)
{
    struct cache_ent *e = lookup(uc, c, now);
    if (!e)
        return 0;
    uint32_t age = age_of(e->ans, now);
    if ((uint64_t)age >= (uint64_t)e->ans->k.fresh_s + e->ans->k.stale_error_s)
        return 0;
    if (fill(c, e->ans, UP_CACHED_STALE, now) != 0)
        return 0;
    uc->st.stale++;
    return 1;
}

/* Hands @a (how: SHARED, or STALE) to every waiter of @g and frees @g. */
static void group_finish(struct up_cache *uc, struct cache_group *g,
                         const struct cache_ans *a, int how, const struct up_call *from)
{
    uint64_t        now = bff_now_ms();
    struct up_call *c;
    group_unlink(uc, g);
    while ((c = g->whead)) {
        waiter_unlink(g, c);
        up_retry_del(c);
        c->ms = (double)(bff_now_us() - c->start_us) / 1000.0;
        if (a && fill(c, a, how, now) == 0) {
            uc->st.coalesced++;
        } else {
            c->result = from->result == UP_OK ? UP_BROKEN : from->result;
            c->status = 0;
            c->cached = UP_CACHED_NO;
        }
        deliver_later(c);
    }
    free(g->key);
    free(g);
}

int cache_refused(struct up_call *c)
{
    struct up_cache *uc = c->w->cache;
    if (c->cache_role != CACHE_LEADER)
        return 0;
    if (!use_stale(uc, c, bff_now_ms())) {
        cache_abandon(c);
        return 0;
    }
    c->ms = 0;
    c->rejected = 0;
    c->attempts = 0;
    cache_end(c); /* hands the stale answer to its waiters, if any */
    deliver_later(c);
    return 1;
}

/* The leader stops: the first waiter makes the call instead, or (when it
 * cannot) every waiter ends at once with what the leader had. */
void cache_abandon(struct up_call *c)
{
    struct up_cache    *uc = c->w->cache;
    struct cache_group *g = c->cgroup;
    c->cache_role = CACHE_NONE;
    c->cgroup = NULL;
    if (!g)
        return;
    g->leader = NULL;
    while (g->whead) {
        struct up_call *n = g->whead;
        waiter_unlink(g, n);
        up_retry_del(n);
        n->cache_role = CACHE_LEADER;
        n->cgroup = g;
        g->leader = n;
        if (uc->start(n->w, n) == 0)
            return; /* it leads the rest; its end hands them its answer */
        /* not made (refused): a stale entry, or it ends with that */
        g->leader = NULL;
        n->cgroup = NULL;
        n->cache_role = CACHE_NONE;
        if (!use_stale(uc, n, bff_now_ms())) {
            n->result = UP_CONNECT;
            n->status = 0;
        }
        deliver_later(n);
    }
    group_unlink(uc, g);
    free(g->key);
    free(g);
}

void cache_end(struct up_call *c)
{
    struct up_cache *uc = c->w->cache;
    uint64_t         now = bff_now_ms();
    int              failed = c->result != UP_OK || c->status >= 500;
    struct cache_ans *a = NULL;
    int               owned = 1, how = UP_CACHED_SHARED;

    c->cache_role = CACHE_NONE;
    if (c->cached == UP_CACHED_STALE) { /* refused, and a stale entry stood in */
        failed = 0;
        how = UP_CACHED_STALE;
    } else if (failed) {
        if (use_stale(uc, c, now))
            how = UP_CACHED_STALE;
    } else {
        struct cc_directives d;
        int                  vary = 0;
        uint32_t             age0 = 0;
        cc_init(&d);
        for (size_t i = 0; i < c->nresp_headers; i++) {
            const struct up_header *h = &c->resp_headers[i];
            if (strcasecmp(h->name, "Cache-Control") == 0)
                cc_parse(&d, h->value, strlen(h->value));
            else if (strcasecmp(h->name, "Vary") == 0)
                vary = 1; /* the key does not hold the varying headers */
            else if (strcasecmp(h->name, "Age") == 0)
                age0 = (uint32_t)strtoul(h->value, NULL, 10);
        }
        struct cc_decision k = cc_decide(&d, c->status, c->cache_user != NULL);
        if (k.scope != CC_NOT_KEPT && !vary && c->resp_len <= c->rt->conf->cache.max_body &&
            (a = ans_of(c, now))) {
            a->k = k;
            a->age0_s = age0;
            size_t      kl;
            const char *key = make_key(c, k.scope == CC_SHARED ? "" : c->cache_user, &kl);
            uint64_t    hh = key ? fnv(key, kl) : 0;
            struct cache_ent *e = key ? ent_find(uc, key, kl, hh) : NULL;
            struct cache_svc *s = e ? e->svc : svc_of(uc, c->rt->conf->name);
            if (e) {
                free(e->ans);
                e->ans = a;
                lru_unlink(e);
                lru_front(e);
                owned = 0;
            } else if (key && s && (e = calloc(1, sizeof(*e))) &&
                       (e->key = malloc(kl))) {
                memcpy(e->key, key, kl);
                e->klen = kl;
                e->hash = hh;
                e->ans = a;
                e->svc = s;
                while (s->n >= c->rt->conf->cache.max_entries && s->tail) {
                    ent_remove(uc, s->tail);
                    uc->st.evicted++;
                }
                e->hnext = uc->b[hh & (uc->nb - 1)];
                uc->b[hh & (uc->nb - 1)] = e;
                lru_front(e);
                s->n++;
                if (++uc->n > uc->nb * 2)
                    grow(uc);
                owned = 0;
            } else if (e) {
                free(e);
            }
            if (!owned)
                uc->st.stored++;
        }
    }
    struct cache_group *g = c->cgroup;
    c->cgroup = NULL;
    if (g) {
        /* waiters share the answer the leader got (the same user, target and
         * moment), or the stale entry that stood in for it */
        const struct cache_ans *share = a;
        struct cache_ans       *tmp = NULL;
        if (!share && (c->result == UP_OK) && (share = tmp = ans_of(c, now)) &&
            how == UP_CACHED_STALE) {
            tmp->stored_ms = now;
            tmp->age0_s = c->age_s;
        }
        group_finish(uc, g, share, how, c);
        free(tmp);
    }
    if (owned)
        free(a);
}

void cache_due(struct up_call *c)
{
    if (c->cache_role == CACHE_WAITER) { /* its own deadline came first */
        struct up_cache *uc = c->w->cache;
        if (c->cgroup)
            waiter_unlink(c->cgroup, c);
        c->ms = (double)(bff_now_us() - c->start_us) / 1000.0;
        if (!use_stale(uc, c, bff_now_ms())) {
            c->result = UP_TIMEOUT;
            c->status = 0;
        }
    }
    c->cache_role = CACHE_NONE;
    c->done(c);
}

void cache_cancel(struct up_call *c)
{
    switch (c->cache_role) {
    case CACHE_WAITER:
        if (c->cgroup)
            waiter_unlink(c->cgroup, c);
        up_retry_del(c);
        break;
    case CACHE_DELIVER:
        up_retry_del(c);
        break;
    case CACHE_LEADER:
        cache_abandon(c);
        return;
    default:
        return;
    }
    c->cache_role = CACHE_NONE;
    free(c->resp_body);
    c->resp_body = NULL;
}
