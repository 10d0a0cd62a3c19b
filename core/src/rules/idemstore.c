/* core/src/rules/idemstore.c — packed answers and the bounded memory store
 * for Idempotency-Key (rules/idemstore.h) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/idemstore.h"

/* ---- packing ---------------------------------------------------------------- */

char *idem_pack(int status, const char *content_type, const char *body, size_t body_len,
                const struct bff_hdr *hdrs, size_t nhdrs, size_t *len)
{
    char   head[64];
    int    hl;
    size_t ct = content_type ? strlen(content_type) : 0, total;
    char  *out, *p;

    if (nhdrs > IDEM_MAX_HDRS || status < 100 || status > 999)
        return NULL;
    hl = snprintf(head, sizeof(head), "PI1 %d %zu %zu\n", status, nhdrs, body_len);
    if (hl <= 0 || (size_t)hl >= sizeof(head))
        return NULL;
    total = (size_t)hl + ct + 1 + body_len;
    for (size_t i = 0; i < nhdrs; i++)
        total += strlen(hdrs[i].name) + 1 + strlen(hdrs[i].value) + 1;
    if (!(out = malloc(total)))
        return NULL;
    p = out;
    memcpy(p, head, (size_t)hl), p += hl;
    if (ct)
        memcpy(p, content_type, ct), p += ct;
    *p++ = '\0';
    for (size_t i = 0; i < nhdrs; i++) {
        size_t n = strlen(hdrs[i].name) + 1, v = strlen(hdrs[i].value) + 1;
        memcpy(p, hdrs[i].name, n), p += n;
        memcpy(p, hdrs[i].value, v), p += v;
    }
    if (body_len)
        memcpy(p, body, body_len);
    *len = total;
    return out;
}

/* The next NUL-terminated string at *p within [.., end): NULL past the end. */
static const char *next_str(const char **p, const char *end)
{
    const char *s = *p, *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
    if (!nul)
        return NULL;
    *p = nul + 1;
    return s;
}

int idem_unpack(const char *buf, size_t len, struct idem_unpacked *u)
{
    const char *nl = memchr(buf, '\n', len < 64 ? len : 64), *p, *end = buf + len;
    char        head[64];
    int         status;
    size_t      nh, bl;
    char        tail;

    if (!nl || len < 4 || memcmp(buf, "PI1 ", 4) != 0)
        return -1;
    memcpy(head, buf, (size_t)(nl - buf));
    head[nl - buf] = '\0';
    if (sscanf(head, "PI1 %d %zu %zu%c", &status, &nh, &bl, &tail) != 3 || status < 100 ||
        status > 999 || nh > IDEM_MAX_HDRS)
        return -1;
    p = nl + 1;
    if (!(u->content_type = next_str(&p, end)))
        return -1;
    if (!u->content_type[0])
        u->content_type = NULL;
    for (size_t i = 0; i < nh; i++) {
        const char *n = next_str(&p, end), *v = n ? next_str(&p, end) : NULL;
        if (!v)
            return -1;
        u->hdrs[i] = (struct bff_hdr){n, v};
    }
    if ((size_t)(end - p) != bl)
        return -1;
    u->status = status;
    u->nhdrs = nh;
    u->body = p;
    u->body_len = bl;
    return 0;
}

/* ---- the memory store ------------------------------------------------------- */

struct ent {
    struct ent *hnext;        /* hash chain */
    struct ent *prev, *next;  /* age list (kept answers only) */
    uint64_t    hash;
    uint8_t     sha[IDEM_SHA_LEN];
    int         in_flight;
    uint64_t    expires_ms;   /* answer's end, or the claim's lease */
    char       *answer;
    size_t      answer_len;
    size_t      key_len;
    char        key[];
};

struct idem_store {
    pthread_mutex_t mu;
    struct ent    **buckets;
    size_t          nbuckets; /* a power of two */
    size_t          n, max_entries;
    uint64_t        bytes, max_bytes;
    struct ent     *old, *young; /* kept answers, oldest first */
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static size_t ent_bytes(const struct ent *e)
{
    return sizeof(*e) + e->key_len + 1 + e->answer_len;
}

struct idem_store *idem_store_new(size_t max_entries, uint64_t max_bytes)
{
    struct idem_store *st = calloc(1, sizeof(*st));
    size_t             nb = 64;

    if (!st)
        return NULL;
    while (nb < max_entries && nb < ((size_t)1 << 24))
        nb <<= 1;
    st->buckets = calloc(nb, sizeof(*st->buckets));
    if (!st->buckets) {
        free(st);
        return NULL;
    }
    st->nbuckets = nb;
    st->max_entries = max_entries ? max_entries : 1;
    st->max_bytes = max_bytes;
    pthread_mutex_init(&st->mu, NULL);
    return st;
}

static void age_unlink(struct idem_store *st, struct ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else if (st->old == e)
        st->old = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else if (st->young == e)
        st->young = e->prev;
    e->prev = e->next = NULL;
}

static void age_push(struct idem_store *st, struct ent *e)
{
    e->next = NULL;
    e->prev = st->young;
    if (st->young)
        st->young->next = e;
    else
        st->old = e;
    st->young = e;
}

/* Unlinks and frees @e (found in its chain through @link). */
static void ent_drop(struct idem_store *st, struct ent **link, struct ent *e)
{
    *link = e->hnext;
    if (!e->in_flight)
        age_unlink(st, e);
    st->n--;
    st->bytes -= ent_bytes(e);
    free(e->answer);
    free(e);
}

static struct ent **find(struct idem_store *st, const char *key, size_t klen, uint64_t h)
{
    struct ent **link = &st->buckets[h & (st->nbuckets - 1)];
    for (; *link; link = &(*link)->hnext)
        if ((*link)->hash == h && (*link)->key_len == klen &&
            memcmp((*link)->key, key, klen) == 0)
            return link;
    return link;
}

/* Drops the oldest kept answers until @n more entries and @bytes more bytes
 * fit. Returns 0, or -1 when they cannot (everything left is in flight). */
static int make_room(struct idem_store *st, size_t n, uint64_t bytes)
{
    while (st->n + n > st->max_entries || st->bytes + bytes > st->max_bytes) {
        struct ent *e = st->old;
        if (!e)
            return -1;
        ent_drop(st, find(st, e->key, e->key_len, e->hash), e);
    }
    return 0;
}

enum idem_claim idem_store_claim(struct idem_store *st, const char *key,
                                 const uint8_t sha[IDEM_SHA_LEN], uint64_t now_ms,
                                 uint64_t lease_ms, char **answer, size_t *answer_len)
{
    size_t          klen = strlen(key);
    uint64_t        h = fnv(key, klen);
    struct ent    **link, *e;
    enum idem_claim res;

    pthread_mutex_lock(&st->mu);
    link = find(st, key, klen, h);
    e = *link;
    if (e && e->expires_ms <= now_ms) {
        ent_drop(st, link, e);
        e = NULL;
    }
    if (e) {
        if (memcmp(e->sha, sha, IDEM_SHA_LEN) != 0) {
            res = IDEM_MISMATCH;
        } else if (e->in_flight) {
            res = IDEM_CONFLICT;
        } else if ((*answer = malloc(e->answer_len ? e->answer_len : 1))) {
            memcpy(*answer, e->answer, e->answer_len);
            *answer_len = e->answer_len;
            res = IDEM_REPLAY;
        } else {
            res = IDEM_FULL;
        }
        pthread_mutex_unlock(&st->mu);
        return res;
    }
    res = IDEM_FULL;
    if (make_room(st, 1, sizeof(*e) + klen + 1) == 0 &&
        (e = calloc(1, sizeof(*e) + klen + 1))) {
        e->hash = h;
        e->key_len = klen;
        memcpy(e->key, key, klen + 1);
        memcpy(e->sha, sha, IDEM_SHA_LEN);
        e->in_flight = 1;
        e->expires_ms = now_ms + lease_ms;
        link = find(st, key, klen, h); /* make_room may have changed the chain */
        e->hnext = *link;
        *link = e;
        st->n++;
        st->bytes += ent_bytes(e);
        res = IDEM_NEW;
    }
    pthread_mutex_unlock(&st->mu);
    return res;
}

int idem_store_keep(struct idem_store *st, const char *key, char *packed, size_t len,
                    uint64_t now_ms, uint64_t ttl_ms)
{
    size_t       klen = strlen(key);
    uint64_t     h = fnv(key, klen);
    struct ent **link, *e;
    int          rc = -1;

    pthread_mutex_lock(&st->mu);
    link = find(st, key, klen, h);
    e = *link;
    if (e && e->in_flight) {
        /* out of the table while room is made, so that it is not counted */
        *link = e->hnext;
        st->n--;
        st->bytes -= ent_bytes(e);
        if (sizeof(*e) + klen + 1 + len <= st->max_bytes &&
            make_room(st, 1, sizeof(*e) + klen + 1 + len) == 0) {
            e->in_flight = 0;
            e->answer = packed;
            e->answer_len = len;
            e->expires_ms = now_ms + ttl_ms;
            packed = NULL;
            link = find(st, key, klen, h);
            e->hnext = *link;
            *link = e;
            st->n++;
            st->bytes += ent_bytes(e);
            age_push(st, e);
            rc = 0;
        } else {
            free(e);
        }
    }
    pthread_mutex_unlock(&st->mu);
    free(packed);
    return rc;
}

void idem_store_release(struct idem_store *st, const char *key)
{
    size_t       klen = strlen(key);
    uint64_t     h = fnv(key, klen);
    struct ent **link;

    pthread_mutex_lock(&st->mu);
    link = find(st, key, klen, h);
    if (*link && (*link)->in_flight)
        ent_drop(st, link, *link);
    pthread_mutex_unlock(&st->mu);
}

void idem_store_usage(struct idem_store *st, size_t *entries, uint64_t *bytes)
{
    pthread_mutex_lock(&st->mu);
    *entries = st->n;
    *bytes = st->bytes;
    pthread_mutex_unlock(&st->mu);
}

void idem_store_free(struct idem_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nbuckets; i++)
        while (st->buckets[i]) {
            struct ent *e = st->buckets[i];
            st->buckets[i] = e->hnext;
            free(e->answer);
            free(e);
        }
    free(st->buckets);
    pthread_mutex_destroy(&st->mu);
    free(st);
}
