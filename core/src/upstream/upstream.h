/* core/src/upstream/upstream.h — calls to the services through the worker's
 * libcurl multi handle: admission by the resilience state, the attempts,
 * retries on the worker's timer, the answer's head checks, mTLS, pooled
 * handles. The call's fields and their contract: types/upstream-t.h. */
#ifndef BFF_UPSTREAM_UPSTREAM_H
#define BFF_UPSTREAM_UPSTREAM_H

#include <stdint.h>

#include "types/upstream-t.h"

struct bff_worker;

/* Starts @c on worker @w's multi handle. Returns 0 and later calls c->done
 * exactly once on @w's thread (never from inside this call), or a negative
 * bff_err and never calls it. */
int up_call_start(struct bff_worker *w, struct up_call *c);
/* Stops a running call; done() is not called. Frees c->resp_body. */
void up_call_cancel(struct up_call *c);
/* Stream calls (c->stream): the client took bytes, the answer may flow
 * again (after UP_DATA_PAUSE); the client sent more of the body (after
 * UP_BODY_PAUSE). Either may call the ops at once. */
void up_call_resume_answer(struct up_call *c);
void up_call_resume_body(struct up_call *c);
/* The earliest deadline of @w's stream calls (bff_now_ms; 0: none), and
 * the sweep that ends those past theirs (the worker loop calls it). */
uint64_t up_stream_due(struct bff_worker *w);
void     up_stream_sweep(struct bff_worker *w, uint64_t now_ms);
/* Frees what a finished call still holds (c->resp_body). */
void up_call_cleanup(struct up_call *c);
/* retry.c: starts the next attempt of admitted call @c (a retry).
 * Returns 0, or a negative bff_err (nothing started). */
int up_call_retry(struct up_call *c);
/* The health thread's probe (res_health_start): a blocking GET of @url
 * (connected to @connect_to's address when not NULL), with the service's
 * tls: files (each may be NULL). Returns the HTTP status, or a negative
 * bff_err (BFF_ETIMEDOUT, BFF_EIO). */
int up_probe_get(const char *url, const char *connect_to, uint32_t connect_timeout_ms,
                 uint32_t timeout_ms, const char *tls_ca, const char *tls_cert,
                 const char *tls_key);

/* What a call that got no usable HTTP answer means for the client: returns
 * 504 (timeout) or 502 and sets a short Server-Timing @desc ("timeout") and
 * a detail @what ("did not answer in time") to follow the service's name;
 * returns 0 for UP_OK. One mapping for proxy routes and aggregation parts. */
int up_failure(enum up_result res, const char **desc, const char **what);
int up_worker_init(struct bff_worker *w);
void up_worker_cleanup(struct bff_worker *w);
/* Drives curl after epoll reported @fd (or fd -1: the timer fired). */
void up_worker_event(struct bff_worker *w, int fd, uint32_t events);
int up_global_init(void);
void up_global_cleanup(void);

/* ---- retries (retry.c): the worker's retry timer ------------------------- */

/* @due starts a call whose wait is over (upstream.c gives its own). */
int up_retry_init(struct bff_worker *w, void (*due)(struct up_call *c));
void up_retry_cleanup(struct bff_worker *w);
/* The retry timer fired (an epoll event tagged TAG_RETRY). */
void up_retry_event(struct bff_worker *w);
/* Waits until c->res.due_ms, then admits and starts the next attempt. */
void up_retry_add(struct up_call *c);
/* Stops waiting (the call is cancelled). */
void up_retry_del(struct up_call *c);
/* upstream.c, for up_retry_init: a call whose wait is over is admitted
 * again and its next attempt started, or it ends with its last answer. */
void up_retry_due(struct up_call *c);

#endif
