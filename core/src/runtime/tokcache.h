/* core/src/tokcache.h — verified-token cache: one per worker per snapshot
 *
 * A token that bff_jwt_verify accepted is remembered with the identity it
 * gave, so the same token on the same worker skips the signature check
 * until it expires. Bounds and rules:
 *  - per worker, TOKCACHE_ENTRIES entries (TOKCACHE_WAYS-way set
 *    associative, least recently used out) and TOKCACHE_MAX_BYTES of token
 *    and identity bytes; tokens longer than TOKCACHE_MAX_TOKEN are never
 *    cached;
 *  - keyed by SHA-256 of the token; a hit also compares the whole token,
 *    in constant time, so no other token can ever be taken for it;
 *  - never used once now > exp + leeway (the verifier's own rule), and
 *    dropped then;
 *  - tied to one snapshot (its policy: algorithms, issuer, audience,
 *    leeway, claims) and to one key-set generation: a reload builds new
 *    caches, and a key-set swap (jwks_url) empties the worker's cache at
 *    its next lookup.
 * Threads: a worker uses only its own cache, without locks; tokcache_set_new
 * and tokcache_set_free run off the request path (snapshot build and free).
 * The request path allocates only when it stores a token (one malloc for
 * the token and identity bytes, freed on eviction). */
#ifndef BFF_TOKCACHE_H
#define BFF_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "bff/jwt.h"
#include "runtime/jwks_fetch.h"

#define TOKCACHE_WAYS 4
#define TOKCACHE_SETS 1024 /* power of two */
#define TOKCACHE_ENTRIES (TOKCACHE_WAYS * TOKCACHE_SETS)
#define TOKCACHE_MAX_TOKEN 4096
#define TOKCACHE_MAX_BYTES (4u << 20) /* per worker: token + user id + roles */

struct tokcache_set; /* a snapshot's caches, one per worker */
struct tokcache;     /* one worker's */

struct tokcache_stats {
    uint64_t hits, misses, stores, evictions, expired, flushes;
    size_t   entries, bytes;
};

/* Caches for workers 0 .. @nworkers-1. NULL when out of memory (the
 * gateway then verifies every token). */
struct tokcache_set *tokcache_set_new(unsigned nworkers);
void                 tokcache_set_free(struct tokcache_set *set); /* NULL is fine */

/* Worker @id's cache, or NULL (no set, or @id past the count it was made
 * for: a reload that lowered `workers:` before the restart it needs). */
struct tokcache *tokcache_worker(struct tokcache_set *set, unsigned id);
/* The worker's reference to a jwks_url key set (see jwks_fetch.h). */
struct jwks_hold *tokcache_hold(struct tokcache *c);

/* Looks @tok (@len bytes) up for key-set generation @gen at unix time @now.
 * On a hit fills @out's user_id, roles and exp and returns 1. Always sets
 * @key (the token's SHA-256) for a tokcache_put that may follow. */
int tokcache_get(struct tokcache *c, uint64_t gen, const char *tok, size_t len,
                 int64_t now, int64_t leeway_s, struct bff_identity *out,
                 uint8_t key[32]);
/* Remembers that @tok (with @key from tokcache_get) verified to @id under
 * generation @gen. Silently does nothing when it may not (too long, no
 * memory). */
void tokcache_put(struct tokcache *c, uint64_t gen, const uint8_t key[32],
                  const char *tok, size_t len, const struct bff_identity *id);

void tokcache_stats(const struct tokcache *c, struct tokcache_stats *out);

#endif
