/* core/include/bff/http_strict.h — the front door's HTTP/1.1 head check
 *
 * Pure functions over plain bytes: no allocation, no locale, no global state,
 * safe on any input (a fuzzer calls them directly). SPEC §4 "The front door is
 * strict HTTP/1.1"; the rules and every judgment call are in docs/http.md. */
#ifndef BFF_HTTP_STRICT_H
#define BFF_HTTP_STRICT_H

#include <stddef.h>
#include <stdint.h>

/* What bff_http_check_head() learnt about an accepted head. Pointers point
 * into the checked buffer. */
struct bff_http_head {
    const char *method;
    size_t      method_len;
    const char *target;
    size_t      target_len;
    int         minor;          /* HTTP/1.<minor> */
    size_t      nfields;        /* field lines */
    int         has_cl;         /* one valid Content-Length */
    uint64_t    content_length; /* its value */
    int         chunked;        /* Transfer-Encoding: chunked */
    int         has_host;       /* one Host (the value may be empty) */
    const char *host;
    size_t      host_len;
};

/* Checks one complete request head: the request line, the field lines and
 * the empty line that ends it, exactly @len bytes at @buf (no NUL needed;
 * NUL bytes inside are data, and refused). Leading empty lines before the
 * request line must not be included (RFC 9112 §2.2 lets a server ignore
 * them; libmicrohttpd drops them).
 *
 * Returns 0 when the head is acceptable (and fills @out, which may be NULL),
 * else the status to answer: 400 (malformed or ambiguous framing or header
 * section), 413 (a Content-Length too large to represent), 501 (a transfer
 * coding other than chunked) or 505 (an HTTP major version other than 1).
 * On failure *@why (may be NULL) is a static English reason without
 * trailing punctuation, fit for a problem+json detail. Reads only
 * buf[0..len), never writes it; one pass; O(len). */
int bff_http_check_head(const char *buf, size_t len, struct bff_http_head *out,
                        const char **why);

/* Returns 0 when one response field line from a service (without its line
 * end: "Name: value", @len bytes) is well formed: a token name, ':' right
 * after it, and a value of visible ASCII, obs-text, SP and HTAB only; else -1.
 * A line starting with SP or HTAB (obs-fold) is -1. */
int bff_http_check_field_line(const char *line, size_t len);

/* ---- libmicrohttpd 0.9.75 ----------------------------------------------
 * libmicrohttpd parses a request head in place in its read buffer: it writes
 * NUL over the SP after the method and before the version, over the query's
 * '?', '&' and '=', over each field's ':' and over CR and LF at line ends,
 * and hands over pointers into that buffer (docs/http.md lists what else it
 * does: a NUL in a value cuts the value short, a field line with an empty
 * name is dropped, an obs-fold continuation is glued onto the field's name
 * elsewhere in memory). These functions rebuild the bytes that arrived from
 * what it hands over, so that bff_http_check_head() sees them; anything they
 * cannot explain is left as NUL (which the check refuses).
 *
 * begin: @base is the method pointer the access handler gets (the start of the
 * request line), @len MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE, @out a buffer
 * of @len bytes. @uri/@uri_len are the pointer and strlen() the URI log
 * callback got, @pristine a copy of those @uri_len bytes taken there (before
 * libmicrohttpd cut the query apart), @version the version pointer the
 * access handler gets. Then field() for every MHD_HEADER_KIND value in the
 * order MHD_get_connection_values_n() gives them, then end().
 * end() returns 0 with @out ready for bff_http_check_head(), or -1 when a
 * pointer lies outside the head or out of order (libmicrohttpd moved a field:
 * an obs-fold), in which case the head must be refused. */
struct bff_http_unmangle {
    const char *base;
    size_t      len;
    char       *out;
    size_t      cursor; /* where the next field line may start */
    int         bad;
};

void bff_http_unmangle_begin(struct bff_http_unmangle *u, const char *base, size_t len,
                             char *out, const char *uri, size_t uri_len,
                             const char *pristine, const char *version);
void bff_http_unmangle_field(struct bff_http_unmangle *u, const char *key, size_t key_len,
                             const char *value, size_t value_len);
int bff_http_unmangle_end(struct bff_http_unmangle *u);

#endif
