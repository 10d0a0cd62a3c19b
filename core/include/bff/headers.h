/* core/include/bff/headers.h — which request and response headers cross the gateway */
#ifndef BFF_HEADERS_H
#define BFF_HEADERS_H

#include <stddef.h>

/* Classes of a header name (bits; case-insensitive match on the name). */
enum bff_hdr_class {
    BFF_HDR_HOP = 1u << 0,      /* hop-by-hop (RFC 9110 7.6.1): Connection,
                                   Keep-Alive, Proxy-Connection, TE, Trailer,
                                   Transfer-Encoding, Upgrade, Proxy-Authenticate,
                                   Proxy-Authorization */
    BFF_HDR_IDENTITY = 1u << 1, /* X-User-* and X-Gateway-*: only the gateway sets them */
    BFF_HDR_AUTHZ = 1u << 2,    /* Authorization: never forwarded inward */
    BFF_HDR_SET = 1u << 3,      /* set by the gateway itself: Host, Content-Length,
                                   X-Forwarded-For/-Proto/-Host/-Port, Forwarded,
                                   X-Real-IP, X-Request-Id, traceparent,
                                   tracestate, Expect */
};

/* Returns the enum bff_hdr_class bits of header @name (@len bytes). */
unsigned bff_header_class(const char *name, size_t len);

/* Returns 1 when the value of a Connection header, @conn (a comma-separated
 * token list, NULL allowed), names header @name (case-insensitive). */
int bff_header_in_connection(const char *conn, const char *name);

/* Returns 1 when a request to the upstream may carry client header @name
 * given the client's Connection header @conn: not hop-by-hop, not named in
 * Connection, not identity, not Authorization, not one the gateway sets. */
int bff_header_forward_request(const char *name, const char *conn);

/* Returns 1 when a response header @name from a service may be passed back
 * to the client: not hop-by-hop, not named in the service's Connection
 * header @conn, not Content-Length (the server computes it). */
int bff_header_forward_response(const char *name, const char *conn);

/* Returns 1 when @v is a sane client X-Request-Id: 1 to 128 bytes of
 * [A-Za-z0-9._:-]. Anything else is replaced by a fresh id. */
int bff_request_id_sane(const char *v);

/* Returns 1 when @v is a valid W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>",
 * trace id and parent id not all zeros). */
int bff_traceparent_valid(const char *v);

#define BFF_TRACESTATE_MAX_BYTES 512  /* the header lines together */
#define BFF_TRACESTATE_MAX_MEMBERS 32 /* W3C Trace Context */

/* Checks a W3C tracestate (@len bytes; several header lines joined by ',')
 * and writes it to @out (at least @len + 1 bytes) as its list members joined
 * by ',' without blanks, empty members dropped. Every member must be
 * key=value per the W3C rules (a simple key of lcalpha then up to 255 of
 * lcalpha, DIGIT, "_-*\/", or tenant@system with 241 and 14 such
 * characters; a value of 1 to 256 printable ASCII bytes but ',' and '=',
 * not ending in a space), no key twice, at most BFF_TRACESTATE_MAX_MEMBERS
 * members, at most BFF_TRACESTATE_MAX_BYTES bytes in all. Returns the
 * output's length (0: nothing to pass on), or -1 when the whole header is
 * invalid (and must then be dropped). */
int bff_tracestate_normalize(const char *in, size_t len, char *out, size_t cap);

/* The token of an Authorization value "Bearer <token>" (RFC 6750 §2.1: the
 * scheme in any case, then SP or HTAB; blanks around the token trimmed).
 * Returns a pointer into @authz with its length in *@len, or NULL (and
 * *@len 0) when @authz is NULL or names another scheme; "Bearer" with only
 * blanks after it gives a pointer and *@len 0. */
const char *bff_bearer_token(const char *authz, size_t *len);

#endif
