/* tests/e2e/h_sse.h — a text/event-stream client for the e2e suites: one
 * GET over a plain socket (HTTP/1.1, chunked or close-delimited body), read
 * block by block (an event or a comment, up to its blank line) with a bound
 * on every wait, and told apart: a clean end (the last chunk) from a
 * connection that breaks off. */
#ifndef BFF_E2E_H_SSE_H
#define BFF_E2E_H_SSE_H

#include <stddef.h>

struct h_sse {
    int    fd;
    int    status;      /* of the answer's head */
    char   head[8192];  /* the head as received, NUL-terminated */
    int    chunked;     /* Transfer-Encoding: chunked */
    char  *raw;         /* bytes after the head, not yet de-chunked */
    size_t raw_len, raw_cap;
    char  *body;        /* de-chunked bytes not yet handed out */
    size_t body_len, body_cap;
    size_t chunk_left;  /* of the chunk being read */
    int    chunk_crlf;  /* the CRLF after a chunk's data is due */
    int    last_chunk;  /* the 0-size chunk was seen */
    int    eof;         /* the peer closed */
};

/* One event or comment block as parsed (SSE: "field: value" lines; data
 * lines joined with "\n"; a comment's text without its ':' and one space). */
struct h_sse_event {
    char id[32];      /* "" when the block has no id: */
    char event[32];   /* "" when it has no event: */
    char data[1024];
    char comment[128]; /* the last comment line of the block */
    int  has_data;
};

/* Connects to 127.0.0.1:@port, sends GET @path with @headers ("Name: value",
 * NULL-terminated, may be NULL) and reads the head (5 s at most).
 * Returns 0 (see @s->status and @s->head) or -1. */
int h_sse_open(struct h_sse *s, int port, const char *path, const char *const *headers);
/* The value of header @name in the head (case-insensitive), in a static
 * buffer, or NULL. */
const char *h_sse_header(const struct h_sse *s, const char *name);
/* The next block into @ev. Returns 0; 1 at a clean end (the last chunk, or
 * the close of a close-delimited body) with no block left; -1 when nothing
 * came within @timeout_ms; -2 when the connection broke off (closed inside
 * a chunked body, or bad chunk framing). */
int h_sse_next(struct h_sse *s, struct h_sse_event *ev, int timeout_ms);
/* The next block that is not a comment-only one (pings are skipped and
 * counted in @pings, which may be NULL). Same returns as h_sse_next;
 * @timeout_ms bounds the whole wait. */
int h_sse_next_event(struct h_sse *s, struct h_sse_event *ev, int timeout_ms,
                     int *pings);
/* Closes @s (one h_sse_open was called on; fine on a closed one). */
void h_sse_close(struct h_sse *s);

#endif
