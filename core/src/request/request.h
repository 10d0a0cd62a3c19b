/* core/src/request/request.h — the request object: what every step and
 * handler does with a client request (read its headers, answer it, suspend
 * and resume it, push response headers, leave a refusal for later), and the
 * request's life on the worker (the client-left watch, the access log line).
 *
 * Bottom of the request path: it calls nothing above it. What lies above
 * reaches back only through the request's own hooks (r->cancel, set by the
 * handler). The fields: types/request-t.h. */
#ifndef BFF_REQUEST_REQUEST_H
#define BFF_REQUEST_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "types/request-t.h"

struct bff_worker;

/* The value of request header @name, or NULL. Borrowed for the request. */
const char *req_header(struct bff_request *r, const char *name);
/* How many header lines the client sent. */
size_t req_header_count(struct bff_request *r);
/* Calls @fn for every request header, in order; stops when it returns 0. */
void req_each_header(struct bff_request *r,
                     int (*fn)(void *cls, const char *name, const char *value),
                     void *cls);

/* Answers @r with @status and body @body (@len bytes; @body_malloced 1 when
 * it is a malloc'd buffer the response now owns, 0 when it lives in the
 * request's arena or is static). @hdrs (may be NULL) are added as given,
 * then X-Request-Id, then the headers pushed on the request. Callable from a
 * step, a handler or an upstream completion (it resumes the connection). A
 * request answers once; later calls are ignored. A step that set
 * r->on_answer sees the answer first (once). */
/* @r's answer is libmicrohttpd response @resp (queued at the daemon's next
 * call, which a suspended request is resumed for): every kind of answer
 * (plain, streamed, upgrade) ends here. */
void req_set_answer(struct bff_request *r, void *resp, int status, size_t bytes_out);
/* Adds to libmicrohttpd response @resp what every answer carries, in this
 * order: Content-Type, @hdrs, X-Request-Id, the pushed headers. */
void req_response_headers(struct bff_request *r, void *resp, const char *content_type,
                          const struct bff_hdr *hdrs, size_t nhdrs);
void req_respond(struct bff_request *r, int status, const char *content_type,
                 char *body, size_t len, int body_malloced,
                 const struct bff_hdr *hdrs, size_t nhdrs);
/* Answers with an RFC 9457 problem+json body. */
void req_problem(struct bff_request *r, int status, const char *detail,
                 const struct bff_hdr *hdrs, size_t nhdrs);
/* A header every answer of @r carries (CORS, RateLimit, ...): @name and
 * @value must live as long as the request (static, request memory or the
 * request's headers). Returns 0, or -1 when REQ_MAX_RHDRS are pushed. */
int req_push_header(struct bff_request *r, const char *name, const char *value);
/* Leaves a refusal (status, detail, at most 2 headers) to be answered later
 * by the pipeline (pipeline/pipeline.c), so that steps that run after a
 * refusal (the rate limit charges a refused token too) still run. The first
 * one stays. */
void req_refuse_later(struct bff_request *r, int status, const char *detail,
                      const struct bff_hdr *hdrs, size_t nhdrs);
/* A step keeps the refusal left for later until the BODY phase (the
 * pipeline then answers it in its "refusal" step, not at the end of HEAD). */
void req_refusal_hold(struct bff_request *r);
/* Answers the refusal left for later, if any: 1 when it did. */
int req_refusal_answer(struct bff_request *r);

/* Suspends the connection while upstream calls run. */
void req_suspend(struct bff_request *r);
/* Resumes a suspended request without answering it (it goes on). */
void req_resume(struct bff_request *r);
/* Stops what the handler started (r->cancel), once: the client left, the
 * gateway stops, or the request completed. */
void req_cancel(struct bff_request *r);

/* A fresh 16-byte id as 32 lowercase hex digits, from the worker's rng. */
void req_new_id(struct bff_worker *w, char out[33]);
/* "traceparent: 00-<trace>-<new span>-<flags>" for one upstream call (flags
 * 01 when sampled, else 00), in request memory (NULL when out of memory). */
const char *req_child_traceparent_header(struct bff_request *r);
/* Appends "name;dur=12.3[;desc=\"x\"]" to the request's timings. */
void req_add_timing(struct bff_request *r, const char *name, double ms,
                    const char *desc);
/* Writes the request's access-log line. */
void req_log_access(struct bff_request *r);

/* ---- the client leaving (watch.c) ---------------------------------------- */

/* Requests suspended this long get their client socket watched. */
#define WATCH_AFTER_MS 50
/* Watches the client sockets of requests suspended for WATCH_AFTER_MS or
 * more (EPOLLRDHUP on the worker's epoll, tagged TAG_CLIENT). Called from
 * the worker loop at most every WATCH_AFTER_MS. */
void req_watch_waiting(struct bff_worker *w, uint64_t now_ms);
/* Stops watching @r's socket (answered, completed). Idempotent. */
void req_unwatch(struct bff_request *r);
/* An epoll event tagged TAG_CLIENT: @payload is the request. The client
 * left while its request waited: its calls are cancelled (r->cancel), it is
 * counted (srv->clients_gone) and answered 499 for the access log. */
void req_client_event(struct bff_worker *w, uint64_t payload);

#endif
