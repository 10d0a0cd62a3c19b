/* core/src/jwks_fetch.h — key sets fetched from auth.jwt.jwks_url
 *
 * One source per URL for the whole process, shared by every config snapshot
 * that names the URL, so a reload that keeps the URL keeps the key set (and
 * its refresher) as it is. Each source has one refresher thread of its own,
 * never a worker: it fetches the URL at start, every jwks_refresh after a
 * success, sooner after a failure (1 s, doubling, at most min(jwks_refresh,
 * 60 s)), and when a worker met a token whose kid no key has (at most once
 * per JWKS_KICK_MIN_MS). A fetch that fails, answers other than 200/304, or
 * holds a set the verifier refuses changes nothing: the last good set stays.
 *
 * The set in force is an immutable bff_keyset behind an atomic pointer with
 * a generation number. Readers never lock: a worker keeps a reference to
 * the set of the generation it saw last (struct jwks_hold) and takes a new
 * one only when the generation moved; see jwks_hold_update. */
#ifndef BFF_JWKS_FETCH_H
#define BFF_JWKS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "bff/jwt.h"

#define JWKS_KICK_MIN_MS 10000u      /* unknown-kid refetches: at most one per 10 s */
#define JWKS_FIRST_WAIT_MS 5000u     /* a new source: how long jwks_src_get waits */
#define JWKS_CONNECT_TIMEOUT_MS 2000 /* per fetch */
#define JWKS_TIMEOUT_MS 10000        /* per fetch, whole */
#define JWKS_RETRY_MAX_MS 60000u     /* backoff ceiling after failures */

struct jwks_src; /* opaque */

/* What /readyz and the logs say about a source. */
struct jwks_health {
    size_t   keys;          /* in the set in force; 0 = no set yet */
    uint64_t generation;    /* sets swapped in so far */
    int64_t  last_success;  /* unix s of the last good fetch (200 or 304); 0 = never */
    int64_t  last_change;   /* unix s the set in force was swapped in; 0 = never */
    int64_t  last_error_at; /* unix s of the last failed fetch; 0 = none */
    char     last_error[256]; /* "" = none; kept after later successes */
    uint64_t fetches;         /* attempts, good or bad */
    uint64_t failures;
    uint32_t refresh_ms;
};

/* The source for @url, refreshed every @refresh_ms: the one an earlier
 * snapshot made for the same URL (its refresh interval becomes
 * @refresh_ms), or a new one whose thread starts here. A new source is
 * waited for, up to JWKS_FIRST_WAIT_MS, until its first fetch ends; when it
 * failed, the reason is in @why and *@fresh_failed is 1 (the source is
 * returned anyway and keeps trying). Returns NULL (reason in @why) only when
 * out of memory or when no thread can be started. Any thread but a worker
 * (it may wait). */
struct jwks_src *jwks_src_get(const char *url, uint32_t refresh_ms, int *fresh_failed,
                              char *why, size_t whylen);
/* Drops a reference (NULL is fine). The last one stops the refresher; on
 * the process's main thread it is also joined and freed here (with any
 * other stopped one), elsewhere that waits for the next jwks_src_get or the
 * main thread's next drop, so a worker never waits. */
void jwks_src_put(struct jwks_src *s);

/* Copies the source's health (takes the source's mutex: not for workers). */
void        jwks_src_health(struct jwks_src *s, struct jwks_health *out);
const char *jwks_src_url(const struct jwks_src *s);

/* ---- the request path: no lock, no allocation, never blocks ---- */

/* A reference to one generation of a source's set, kept by one worker (or
 * for one request). Zero-initialise; release with jwks_hold_release. */
struct jwks_hold {
    struct bff_keyset *ks;
    uint64_t           gen;
};

/* The set in force (NULL before the first good fetch), held by @h: reuses
 * @h's reference while the generation is unchanged, else swaps it for a new
 * one. Borrowed until @h is updated or released. */
const struct bff_keyset *jwks_hold_update(struct jwks_src *s, struct jwks_hold *h);
void                     jwks_hold_release(struct jwks_hold *h);

/* A token named a kid the set lacks: asks the refresher for a refetch now,
 * unless one was asked in the last JWKS_KICK_MIN_MS (then nothing happens).
 * Never waits for the fetch. Returns 1 when it asked, 0 when rate-limited. */
int jwks_src_kick(struct jwks_src *s);

#endif
