/* core/src/handlers/encode.h — how an answer's representation is chosen and
 * validated: strong ETags, If-None-Match / If-Modified-Since → 304, gzip and
 * brotli.
 *
 * Used by the aggregation engine (bff_agg_respond_json) and by static routes;
 * which of it applies is BFF_ENCODE_* (bff/endpoint.h), set per BFF in
 * struct bff_app.encode and per endpoint in struct bff_endpoint.encode.
 *
 * The ETag is strong: it names the exact bytes of the identity body
 * ("<22 base64url chars of SHA-256>"). The gzip and br variants are other
 * representations, so they get other tags: the identity tag with "-gzip" or
 * "-br" before the closing quote, as Apache's mod_deflate and mod_brotli do
 * (nginx and Envoy weaken the tag to W/ instead, which gives up
 * byte-exactness; a suffix keeps every variant strong). If-None-Match is
 * compared weakly (RFC 9110 §13.1.2: W/ ignored) against the tag of the
 * representation this request would get.
 *
 * Which coding (RFC 9110 §12.5.3, encode_choose): each coding's q is the one
 * Accept-Encoding gives it by name ("x-gzip" is gzip), else the one of "*",
 * else 0 (not acceptable). br is sent when its q is above 0 and at least
 * gzip's, gzip when its q is above 0, else the identity. The identity is
 * never refused (no 406): "identity;q=0" still gets the body uncompressed
 * when nothing else is acceptable, and the identity's own q does not weigh
 * against a coding the client accepts. A coding is only considered from its
 * floor up (BFF_GZIP_MIN, BFF_BR_MIN), and a coded body that is not smaller
 * than the identity is not sent. Everything here runs on the request's
 * worker thread and takes no lock. */
#ifndef BFF_ENCODE_H
#define BFF_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "request/request.h"

/* A quoted tag: '"' + 22 + "-gzip" + '"' + NUL fits. */
#define ENCODE_ETAG_MAX 40

/* Brotli's settings for answers, measured on the order screen, home and
 * the web order (bench/encoding.sh, BENCHMARKS.md "Answer encoding"):
 * quality 5 costs 9-15 µs of CPU per answer (gzip: 5-7 µs) and gives
 * 7-12 % fewer bytes than gzip; quality 11 saves 3-6 % more than 5 for
 * 45-60x the CPU (450-900 µs), worth it only for files compressed once.
 * 6-9 give about the bytes of 5. The window: answers are a few KiB, so a 64 KiB
 * window (lgwin 16) loses nothing, lets quality 5-9 use brotli's small
 * hashers, and caps the ring buffer a phone's decoder may need. */
#define ENCODE_BR_QUALITY 5
#define ENCODE_BR_LGWIN 16

enum encode_coding { ENCODE_IDENTITY = 0, ENCODE_GZIP = 1, ENCODE_BR = 2 };

/* Writes the strong entity tag of @body (quotes included) into @out. */
void encode_etag(const void *body, size_t len, char out[ENCODE_ETAG_MAX]);

/* 1 when the If-None-Match field value @inm names @etag (a quoted tag as
 * encode_etag writes it) under weak comparison, or is "*". */
int encode_inm_match(const char *inm, const char *etag);

/* The q that the Accept-Encoding field value @ae gives @coding ("gzip",
 * "br"; "x-gzip" counts as gzip), in thousandths (0-1000): its own, else
 * that of "*"; -1 when neither is named or @ae is NULL. */
int encode_ae_q(const char *ae, const char *coding);

/* 1 when @ae accepts gzip with q > 0 ("gzip", "x-gzip", or "*" when gzip
 * is not named). NULL: 0. */
int encode_accepts_gzip(const char *ae);

/* The coding for a client that sent @ae (NULL: none), among those @offer
 * allows (BFF_ENCODE_GZIP | BFF_ENCODE_BR bits): the rule above. */
enum encode_coding encode_choose(const char *ae, unsigned offer);

/* Compresses @in into a new malloc'd gzip member (*out, *outlen; free() it).
 * Returns 0 or a negative bff_err. */
int encode_gzip(const void *in, size_t len, char **out, size_t *outlen);

/* Compresses @in into a new malloc'd brotli stream (*out, *outlen; free()
 * it) at ENCODE_BR_QUALITY and ENCODE_BR_LGWIN; encode_br_with takes them
 * (quality 0-11, lgwin 10-24). Returns 0 or a negative bff_err. */
int encode_br(const void *in, size_t len, char **out, size_t *outlen);
int encode_br_with(const void *in, size_t len, int quality, int lgwin, char **out,
                   size_t *outlen);

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
 * it a 304 with no body; else the body is compressed (br or gzip) when the
 * flags, the type, the size (BFF_BR_MIN, BFF_GZIP_MIN) and the client's
 * Accept-Encoding allow. Adds
 * ETag, Vary: Accept-Encoding, Last-Modified and Cache-Control as they apply.
 * Other statuses go out as they are. */
void encode_respond(struct bff_request *r, const struct encode_answer *ans);

#endif
