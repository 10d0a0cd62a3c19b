/* core/src/tokcache.c — verified-token cache (see tokcache.h for the rules) */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "runtime/tokcache.h"

struct entry {
    uint8_t  digest[32];
    int64_t  exp;
    uint64_t stamp; /* last use, for LRU within the set; 0 = empty */
    uint32_t toklen;
    uint16_t uidlen, roleslen;
    char    *blob; /* token, user id NUL, roles NUL */
};

struct tokcache {
    struct entry         *e;     /* TOKCACHE_ENTRIES */
    uint64_t              gen;   /* key-set generation of every entry */
    uint64_t              clock; /* never wraps */
    size_t                bytes;
    size_t                hand; /* where trimming to TOKCACHE_MAX_BYTES goes on */
    EVP_MD               *md;
    EVP_MD_CTX           *ctx;
    struct jwks_hold      hold;
    struct tokcache_stats st;
};

struct tokcache_set {
    unsigned         n;
    struct tokcache *c[];
};

static void drop(struct tokcache *c, struct entry *e)
{
    if (!e->stamp)
        return;
    c->bytes -= (size_t)e->toklen + e->uidlen + e->roleslen + 2;
    c->st.entries--;
    OPENSSL_clear_free(e->blob, (size_t)e->toklen + e->uidlen + e->roleslen + 2);
    memset(e, 0, sizeof(*e));
}

static void flush(struct tokcache *c)
{
    for (size_t i = 0; i < TOKCACHE_ENTRIES; i++)
        drop(c, &c->e[i]);
    c->st.flushes++;
}

static void cache_free(struct tokcache *c)
{
    if (!c)
        return;
    if (c->e)
        for (size_t i = 0; i < TOKCACHE_ENTRIES; i++)
            drop(c, &c->e[i]);
    free(c->e);
    EVP_MD_CTX_free(c->ctx);
    EVP_MD_free(c->md);
    jwks_hold_release(&c->hold);
    free(c);
}

static struct tokcache *cache_new(void)
{
    struct tokcache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    /* calloc of this size maps fresh zero pages: untouched sets cost nothing */
    c->e = calloc(TOKCACHE_ENTRIES, sizeof(*c->e));
    c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->ctx = EVP_MD_CTX_new();
    if (!c->e || !c->md || !c->ctx) {
        cache_free(c);
        return NULL;
    }
    return c;
}

struct tokcache_set *tokcache_set_new(unsigned nworkers)
{
    struct tokcache_set *set = calloc(1, sizeof(*set) + nworkers * sizeof(set->c[0]));

    if (!set)
        return NULL;
    set->n = nworkers;
    for (unsigned i = 0; i < nworkers; i++)
        if (!(set->c[i] = cache_new())) {
            tokcache_set_free(set);
            return NULL;
        }
    return set;
}

void tokcache_set_free(struct tokcache_set *set)
{
    if (!set)
        return;
    for (unsigned i = 0; i < set->n; i++)
        cache_free(set->c[i]);
    free(set);
}

struct tokcache *tokcache_worker(struct tokcache_set *set, unsigned id)
{
    return set && id < set->n ? set->c[id] : NULL;
}

struct jwks_hold *tokcache_hold(struct tokcache *c)
{
    return &c->hold;
}

static int digest(struct tokcache *c, const char *tok, size_t len, uint8_t key[32])
{
    unsigned int n = 0;

    return EVP_DigestInit_ex2(c->ctx, c->md, NULL) == 1 &&
                   EVP_DigestUpdate(c->ctx, tok, len) == 1 &&
                   EVP_DigestFinal_ex(c->ctx, key, &n) == 1 && n == 32
               ? 0
               : -1;
}

static struct entry *set_of(struct tokcache *c, const uint8_t key[32])
{
    uint32_t h;
    memcpy(&h, key, sizeof(h));
    return &c->e[(h & (TOKCACHE_SETS - 1)) * TOKCACHE_WAYS];
}

static uint64_t tick(struct tokcache *c)
{
    return ++c->clock;
}

int tokcache_get(struct tokcache *c, uint64_t gen, const char *tok, size_t len,
                 int64_t now, int64_t leeway_s, struct bff_identity *out,
                 uint8_t key[32])
{
    struct entry *set;

    if (len > TOKCACHE_MAX_TOKEN || digest(c, tok, len, key) != 0) {
        memset(key, 0, 32);
        c->st.misses++;
        return 0;
    }
    if (gen != c->gen) {
        flush(c);
        c->gen = gen;
    }
    if (leeway_s < 0)
        leeway_s = 0;
    set = set_of(c, key);
    for (int w = 0; w < TOKCACHE_WAYS; w++) {
        struct entry *e = &set[w];
        if (!e->stamp || e->toklen != len || CRYPTO_memcmp(e->digest, key, 32) != 0 ||
            CRYPTO_memcmp(e->blob, tok, len) != 0)
            continue;
        if (now > e->exp + leeway_s) {
            drop(c, e);
            c->st.expired++;
            break;
        }
        const char *uid = e->blob + e->toklen;
        memcpy(out->user_id, uid, (size_t)e->uidlen + 1);
        memcpy(out->roles, uid + e->uidlen + 1, (size_t)e->roleslen + 1);
        out->exp = e->exp;
        e->stamp = tick(c);
        c->st.hits++;
        return 1;
    }
    c->st.misses++;
    return 0;
}

void tokcache_put(struct tokcache *c, uint64_t gen, const uint8_t key[32],
                  const char *tok, size_t len, const struct bff_identity *id)
{
    static const uint8_t zero[32];
    size_t               uidlen = strnlen(id->user_id, sizeof(id->user_id));
    size_t               roleslen = strnlen(id->roles, sizeof(id->roles));
    size_t               need = len + uidlen + roleslen + 2;

    if (gen != c->gen || len == 0 || len > TOKCACHE_MAX_TOKEN ||
        uidlen >= sizeof(id->user_id) || roleslen >= sizeof(id->roles) ||
        memcmp(key, zero, 32) == 0)
        return;
    struct entry *set = set_of(c, key), *victim = &set[0];
    for (int w = 0; w < TOKCACHE_WAYS; w++) {
        struct entry *e = &set[w];
        if (e->stamp && e->toklen == len && memcmp(e->digest, key, 32) == 0 &&
            memcmp(e->blob, tok, len) == 0)
            return; /* already in */
        if (!e->stamp) {
            if (victim->stamp)
                victim = e;
        } else if (victim->stamp && e->stamp < victim->stamp) {
            victim = e;
        }
    }
    if (victim->stamp) {
        drop(c, victim);
        c->st.evictions++;
    }
    /* Past the byte budget: drop entries in turn (a clock hand over the
     * whole cache) until the new one fits. */
    for (size_t i = 0; c->bytes + need > TOKCACHE_MAX_BYTES && i < TOKCACHE_ENTRIES;
         i++) {
        struct entry *e = &c->e[c->hand];
        c->hand = (c->hand + 1) % TOKCACHE_ENTRIES;
        if (e->stamp) {
            drop(c, e);
            c->st.evictions++;
        }
    }
    char *blob = malloc(need);
    if (!blob)
        return;
    memcpy(blob, tok, len);
    memcpy(blob + len, id->user_id, uidlen + 1);
    memcpy(blob + len + uidlen + 1, id->roles, roleslen + 1);
    memcpy(victim->digest, key, 32);
    victim->exp = id->exp;
    victim->toklen = (uint32_t)len;
    victim->uidlen = (uint16_t)uidlen;
    victim->roleslen = (uint16_t)roleslen;
    victim->blob = blob;
    victim->stamp = tick(c);
    c->bytes += need;
    c->st.entries++;
    c->st.stores++;
}

void tokcache_stats(const struct tokcache *c, struct tokcache_stats *out)
{
    *out = c->st;
    out->bytes = c->bytes;
}
