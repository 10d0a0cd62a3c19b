/* core/src/encode.h — how an answer's representation is chosen and validated:
 * strong ETags, If-None-Match / If-Modified-Since → 304, and gzip.
 *
 * Used by the aggregation engine (bff_agg_respond_json) and by static routes;
 * which of it applies is BFF_ENCODE_* (bff/endpoint.h), set per BFF in
 * struct bff_app.encode and per endpoint in struct bff_endpoint.encode.
 *
 * The ETag is strong: it names the exact bytes of the identity body
 * ("<22 base64url chars of SHA-256>"). The gzip variant is another
 * representation, so it gets another tag: the identity tag with "-gzip"
 * before the closing quote, as Apache's mod_deflate does (nginx and Envoy
 * weaken the tag to W/ instead, which gives up byte-exactness; a suffix
 * keeps both variants strong). If-None-Match is compared weakly (RFC 9110
 * §13.1.2: W/ ignored) against the tag of the representation this request
 * would get. Everything here runs on the request's worker thread and takes
 * no lock. */
#ifndef BFF_ENCODE_H
#define BFF_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "request/request.h"

/* A quoted tag: '"' + 22 + "-gzip" + '"' + NUL fits. */
#define ENCODE_ETAG_MAX 40

/* Writes the strong entity tag of @body (quotes included) into @out. */
void encode_etag(const void *body, size_t len, char out[ENCODE_ETAG_MAX]);

/* 1 when the If-None-Match field value @inm names @etag (a quoted tag as
 * encode_etag writes it) under weak comparison, or is "*". */
int encode_inm_match(const char *inm, const char *etag);

/* 1 when the Accept-Encoding field value @ae accepts gzip with q > 0
 * ("gzip", "x-gzip", or "*" when gzip is not named). NULL: 0. */
int encode_accepts_gzip(const char *ae);

/* Compresses @in into a new malloc'd gzip member (*out, *outlen; free() it).
 * Returns 0 or a negative bff_err. */
int encode_gzip(const void *in, size_t len, char **out, size_t *outlen);

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into unix seconds.
 * Returns 0, or BFF_EINVAL for anything else. */
int encode_http_date_parse(const char *s, int64_t *out);
/* Formats @t as an IMF-fixdate into @out (30 bytes is enough). */
void encode_http_date(int64_t t, char *out, size_t cap);

/* The BFF_ENCODE_* bits in force for @r: its BFF's, OR'd with its
 * endpoint's on a handler route. */
unsigned encode_flags(struct bff_request *r);

/* One answer, before encoding. @body is malloc'd (@body_malloced 1; always
 * consumed) or lives in the request's arena (0). */
struct encode_answer {
    int                   status;
    const char           *type; /* Content-Type */
    char                 *body;
    size_t                len;
    int                   body_malloced;
    unsigned              flags;         /* BFF_ENCODE_* */
    int                   compressible;  /* the type is worth gzipping */
    int64_t               last_modified; /* unix seconds; 0 = none */
    const char           *cache_control; /* NULL = none */
    const struct bff_hdr *hdrs;          /* more headers, as given */
    size_t                nhdrs;
};

/* Answers @r with @ans: on a 200 to GET or HEAD, a matching If-None-Match
 * (or, without one, an If-Modified-Since not older than last_modified) makes
 * it a 304 with no body; else the body is gzipped when the flags, the type,
 * the size (>= BFF_GZIP_MIN) and the client's Accept-Encoding allow. Adds
 * ETag, Vary: Accept-Encoding, Last-Modified and Cache-Control as they apply.
 * Other statuses go out as they are. */
void encode_respond(struct bff_request *r, const struct encode_answer *ans);

#endif
