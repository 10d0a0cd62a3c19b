/* core/src/request/stream.h — answers and request bodies that flow as they
 * arrive (the how: stream.c; the contract for users: docs/streaming.md) */
#ifndef BFF_REQUEST_STREAM_H
#define BFF_REQUEST_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/metrics.h"
#include "types/request-t.h"

/* What waits for the client, at most, per streamed answer (one more put
 * of any size fits when nothing waits); and per streamed request body. */
#define REQ_STREAM_MAX (64u * 1024u)
#define REQ_UPLOAD_MAX (64u * 1024u)
#define REQ_SIZE_UNKNOWN UINT64_MAX
#define REQ_STREAM_FULL (-2) /* req_stream_begin: the route's max_streams */

/* Gives @r an answer buffer (r->stream); @room is called (from the reader)
 * when a refused put would now fit. 0, or -1 out of memory. */
int   req_stream_open(struct bff_request *r, void (*room)(struct bff_request *r));
/* Appends @n bytes: 0, 1 when they do not fit (nothing taken; room() comes
 * later), -1 out of memory. Wakes a reader that waits. */
int   req_stream_put(struct bff_request *r, const char *p, size_t n);
/* Starts the answer: status, headers (as req_respond), @size bytes or
 * REQ_SIZE_UNKNOWN (chunked to an HTTP/1.1 client), counted as a stream of
 * @kind on the route. 0; REQ_STREAM_FULL when the route has max_streams
 * open (nothing sent); -1 otherwise. */
int   req_stream_begin(struct bff_request *r, int status, const char *content_type,
                       const struct bff_hdr *hdrs, size_t nhdrs, uint64_t size,
                       enum metrics_stream kind);
int   req_stream_began(const struct bff_request *r);
/* No more puts: @ok, the end after what waits (the last chunk); else a
 * close after it, never complete-looking. @how: for the metrics. */
void  req_stream_end(struct bff_request *r, int ok, enum metrics_stream_end how);
/* The bytes put and not yet begun (malloc'd, the caller frees), for an
 * answer that ended before it began: it goes out whole instead. */
char *req_stream_take(struct bff_request *r, size_t *len);
/* 1 with the time the reader began to wait, when it waits for bytes. */
int   req_stream_waiting(const struct bff_request *r, uint64_t *since_ms);
/* The request completed (front/): counts the stream's end and lets go of
 * the buffer; @client_gone when the client left before the end. */
void  req_stream_done(struct bff_request *r, int client_gone);

/* A streamed request body (r->body_streaming): takes what fits of @n bytes
 * and returns how many (the rest stays with libmicrohttpd: the caller sets
 * r->upload_blocked and suspends the connection when none fits). */
size_t req_upload_put(struct bff_request *r, const char *p, size_t n);
/* Up to @max bytes of it: n > 0, 0 at its end (r->upload_done), -1 when
 * none is there yet. Resumes a connection held back by a full buffer. */
long   req_upload_read(struct bff_request *r, char *out, size_t max);

#endif
