/* core/src/pipeline/ratelimit.h — the rate-limit steps (pipeline.h): the budget key, the
 * store (in-memory, or Redis driven from the worker's own epoll loop), the
 * verdict's headers. Private to the core. Decisions are counted per worker
 * by metrics.c (bff_ratelimit_total{result=allowed|refused|store_error}).
 *
 * Threads: everything here runs on the worker thread that owns the request,
 * except rl_snapshot_init/cleanup (main thread, at load and last unref). */
#ifndef BFF_PIPELINE_RATELIMIT_H
#define BFF_PIPELINE_RATELIMIT_H

#include <stdint.h>
#include <stdio.h>

struct bff_snapshot;
struct bff_worker;
struct bff_request;

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

/* @r is completed (answered and sent, or the client left): a Redis reply
 * still due for it will find no request. Called by the completed callback. */
void rl_request_done(struct bff_request *r);

/* ---- the connection, for another step (idempotency.c) ---------------------
 * The worker's one Redis connection, to rate_limit.store, carries other
 * steps' commands too. */
struct rl_call;
struct redisReply;
/* A command's reply (NULL with @why: timeout, connection lost). Not
 * called once the call was cancelled. */
typedef void (*rl_redis_done)(void *ud, struct redisReply *reply, const char *why);
/* Sends @argc @argv (@lens bytes each) on @r's worker connection, made
 * when there is none. With @done: the reply or @timeout_ms, whichever is
 * first, reaches @done(@ud, ...); the call is returned (rl_redis_cancel).
 * Without: the reply is dropped (NULL is returned). On failure NULL and
 * *why; @done is not called. */
struct rl_call *rl_redis_send(struct bff_request *r, int argc, const char **argv,
                              const size_t *lens, uint32_t timeout_ms, rl_redis_done done,
                              void *ud, const char **why);
/* The call's @done will not be called (its request completed). */
void rl_redis_cancel(struct rl_call *c);
/* rate_limit.store when it is redis://, else NULL. */
const char *rl_redis_url(const struct bff_snapshot *s);

/* The Lua GCRA step run by Redis (EVALSHA, or EVAL after NOSCRIPT). KEYS[1]
 * the budget, ARGV[1] the emission interval in ns, ARGV[2] the burst.
 * Returns {allowed, remaining, reset_ms, retry_after_ms}. */
extern const char rl_lua[];

#endif
