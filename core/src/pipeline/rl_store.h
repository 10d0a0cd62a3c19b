/* core/src/rl_store.h — the per-request rate-limit step: the budget key, the
 * store (in-memory, or Redis driven from the worker's own epoll loop), the
 * verdict's headers. Private to the core. Decisions are counted per worker
 * by metrics.c (bff_ratelimit_total{result=allowed|refused|store_error}).
 *
 * Threads: everything here runs on the worker thread that owns the request,
 * except rl_snapshot_init/cleanup (main thread, at load and last unref). */
#ifndef BFF_RL_STORE_H
#define BFF_RL_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "types/internal.h"

/* Prepares snapshot @s: per-route RateLimit-Policy values and counters, and
 * the Redis address (host names are resolved here, on the main thread, so a
 * worker never waits for DNS). Prints problems to @err as FILE: message.
 * Returns 0 or a negative bff_err. */
int  rl_snapshot_init(struct bff_snapshot *s, FILE *err);
void rl_snapshot_cleanup(struct bff_snapshot *s);

/* Per worker, on the main thread before the worker's thread starts: its
 * Redis timer (registered in w->epfd) and a reference on the server's
 * in-memory store (created at the first call from the first config's
 * max_keys, freed with the last reference). Returns 0 or a negative bff_err;
 * on failure nothing is held. */
int rl_worker_init(struct bff_worker *w);
/* On the worker thread at exit (before w->epfd is closed), or on the main
 * thread when the worker never started: the Redis connection, the timer,
 * the store reference. Safe when rl_worker_init failed or never ran. */
void rl_worker_cleanup(struct bff_worker *w);
/* Drives the worker's Redis connection after epoll reported @tag
 * (TAG_RL | fd, or TAG_RL_TIMER) with @events. */
void rl_worker_event(struct bff_worker *w, uint64_t tag, uint32_t events);

/* The rate-limit step, at the end of policy_check() (MHD's first call for
 * the request). @denied is what authentication said (1: it answered, or
 * deferred its answer with rl_deny()). On a limited route it takes one unit
 * of the request's budget: at once from the in-memory store, or by sending
 * the Redis call (the request is not suspended: its body is read
 * meanwhile). Returns 1 when @r is answered (only when @denied and nothing
 * was deferred, or out of memory), else 0: the request goes on, and
 * rl_hold() acts on the verdict. */
int rl_check(struct bff_request *r, int denied);

/* At dispatch (MHD's final call), before the route's work: acts on the
 * verdict — 429 (Retry-After), on_store_error: deny (503), or the deferred
 * authentication answer — and returns 1; or suspends @r until Redis answers
 * (at most store_timeout after the call was sent), then resumes it so that
 * dispatch runs again, and returns 1; or returns 0: go on. Answers made
 * here are queued in the final call, so the connection stays open. */
int rl_hold(struct bff_request *r);

/* Answers @r with a problem — or, on a limited route, keeps the answer for
 * rl_hold(), after the request was charged to its budget, so that refused
 * authentication counts too and its answer carries the RateLimit fields.
 * @hdrs (at most 2) and @detail must live as long as the request. */
void rl_deny(struct bff_request *r, int status, const char *detail,
             const struct bff_hdr *hdrs, size_t nhdrs);

/* @r is completed (answered and sent, or the client left): a Redis reply
 * still due for it will find no request. Called by the completed callback. */
void rl_request_done(struct bff_request *r);

/* RateLimit-Policy and, once the budget was consulted, RateLimit for a
 * response to @r on a limited route. Returns how many were written (0..2). */
size_t rl_response_headers(struct bff_request *r, struct bff_hdr *out, size_t cap);

/* The Lua GCRA step run by Redis (EVALSHA, or EVAL after NOSCRIPT). KEYS[1]
 * the budget, ARGV[1] the emission interval in ns, ARGV[2] the burst.
 * Returns {allowed, remaining, reset_ms, retry_after_ms}. */
extern const char rl_lua[];

#endif
