/* core/src/upstream/cache.h — the answer cache and the coalescing of
 * identical calls, for services with `cache:` (SPEC §4; docs/cache.md)
 *
 * Per worker, lock-free: each worker keeps its own entries and its own
 * groups of identical calls in flight. upstream.c calls these around a
 * call's life; the caller's done() sees c->cached and c->age_s. */
#ifndef BFF_UPSTREAM_CACHE_H
#define BFF_UPSTREAM_CACHE_H

#include "types/upstream-t.h"

struct bff_worker;

enum cache_role {
    CACHE_NONE = 0,
    CACHE_LEADER,  /* a real call whose answer may be kept and shared */
    CACHE_WAITER,  /* waits for its group's leader (or its own deadline) */
    CACHE_DELIVER, /* its answer is filled in; done() runs on the next turn */
};

/* @start makes a real call for a promoted waiter (upstream.c's admission
 * and first attempt). Returns 0 or a negative bff_err. */
int cache_worker_init(struct bff_worker *w,
                      int (*start)(struct bff_worker *w, struct up_call *c),
                      void (*cancel)(struct up_call *c));
/* Stops every background refresh (stale-while-revalidate) of @w: before its
 * snapshot is swapped (a refresh uses the snapshot's service entry) and
 * before the worker stops. */
void cache_refresh_stop(struct bff_worker *w);
void cache_worker_cleanup(struct bff_worker *w);

/* Before a call: returns 1 when the cache took it (a hit, or it waits for
 * an identical call; done() runs later), 0 when it must be made (it is then
 * CACHE_LEADER when its answer may be kept). */
int cache_begin(struct bff_worker *w, struct up_call *c);
/* The leader was refused before it was made (circuit open, bulkhead,
 * down): returns 1 when a stale entry answers it instead (done() later). */
int cache_refused(struct up_call *c);
/* The leader will not be made or was stopped: its waiters go on without it. */
void cache_abandon(struct up_call *c);
/* The leader's final outcome, just before its done(): kept when its
 * Cache-Control allows, replaced by a stale entry when it failed, handed to
 * its waiters. */
void cache_end(struct up_call *c);
/* The retry timer's turn for a CACHE_WAITER or CACHE_DELIVER call. */
void cache_due(struct up_call *c);
/* Stops a waiting or delivering call (done() is not called). */
void cache_cancel(struct up_call *c);

struct cache_stats {
    uint64_t hits, stale, coalesced, stored, evicted, refreshed;
};
void cache_stats(const struct bff_worker *w, struct cache_stats *out);

#endif
