/* core/src/encode.c — strong ETags, conditional GETs (304) and gzip for
 * answers. See encode.h for the contract and bff/endpoint.h for the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <brotli/encode.h>
#include <zlib.h>

#include "bff/err.h"
#include "handlers/encode.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "bff/server.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* SHA-256 fetched once: SHA256() looks the algorithm up on every call. */
static EVP_MD        *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void encode_etag(const void *body, size_t len, char out[ENCODE_ETAG_MAX])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    size_t  o = 0;

    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md ||
        EVP_Digest(body ? body : (const void *)"", len, md, NULL, sha256_md, NULL) != 1)
        SHA256(body ? body : (const void *)"", len, md); /* the slow way still works */
    out[o++] = '"';
    /* 16 bytes (128 bits) of the digest: 5 groups of 3 bytes, then 1 byte */
    for (size_t i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 | md[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    out[o++] = b64url[md[15] >> 2];
    out[o++] = b64url[(md[15] & 3) << 4];
    out[o++] = '"';
    out[o] = '\0';
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int encode_inm_match(const char *inm, const char *etag)
{
    size_t tl = strlen(etag);

    if (!inm)
        return 0;
    for (const char *p = inm; *p;) {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2; /* weak comparison: the W/ does not matter */
        if (*p != '"')
            return 0; /* not an entity-tag: stop at what we cannot read */
        const char *end = strchr(p + 1, '"');
        if (!end)
            return 0;
        size_t n = (size_t)(end + 1 - p);
        if (n == tl && memcmp(p, etag, tl) == 0)
            return 1;
        p = end + 1;
    }
    return 0;
}

/* The q of the parameters @p (up to @end, ";q=0.5;x=y") in thousandths
 * (RFC 9110 §12.4.2: "0" to "1", up to three decimals); without a q: 1000.
 * A q that is not a number reads as 0 (refused: we cannot tell what the
 * client meant), one above 1 as 1000. */
static int q_of(const char *p, const char *end)
{
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi)
            return 1000;
        p = skip_ows(semi + 1);
        if (p < end && (*p == 'q' || *p == 'Q')) {
            const char *v = skip_ows(p + 1);
            if (v < end && *v == '=') {
                v = skip_ows(v + 1);
                if (v >= end || *v < '0' || *v > '9')
                    return 0;
                int q = 0;
                for (; v < end && *v >= '0' && *v <= '9'; v++)
                    q = q < 10 ? q * 10 + (*v - '0') : 10;
                if (q >= 1)
                    return 1000;
                if (v < end && *v == '.')
                    for (int scale = 100, i = 0; ++v < end && *v >= '0' && *v <= '9';
                         i++, scale /= 10)
                        q += i < 3 ? (*v - '0') * scale : 0;
                return q;
            }
        }
    }
    return 1000;
}

int encode_ae_q(const char *ae, const char *coding)
{
    int    named = -1, star = -1;
    size_t cl = strlen(coding);
    int    gzip = cl == 4 && strncasecmp(coding, "gzip", 4) == 0;

    if (!ae)
        return -1;
    for (const char *p = ae; *p;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *tok = skip_ows(p);
        const char *te = tok;
        while (te < end && *te != ';' && *te != ' ' && *te != '\t')
            te++;
        size_t n = (size_t)(te - tok);
        int    q = q_of(te, end);
        if ((n == cl && strncasecmp(tok, coding, cl) == 0) ||
            (gzip && n == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            named = q > named ? q : named; /* named twice: the better one */
        else if (n == 1 && *tok == '*')
            star = q > star ? q : star;
        p = comma ? comma + 1 : end;
    }
    return named >= 0 ? named : star;
}

int encode_accepts_gzip(const char *ae)
{
    return encode_ae_q(ae, "gzip") > 0;
}

enum encode_coding encode_choose(const char *ae, unsigned offer)
{
    int qg = offer & BFF_ENCODE_GZIP ? encode_ae_q(ae, "gzip") : 0;
    int qb = offer & BFF_ENCODE_BR ? encode_ae_q(ae, "br") : 0;

    if (qb > 0 && qb >= qg)
        return ENCODE_BR;
    return qg > 0 ? ENCODE_GZIP : ENCODE_IDENTITY;
}

int encode_gzip(const void *in, size_t len, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    *out = NULL;
    *outlen = 0;
    if (len > UINT32_MAX)
        return BFF_ERANGE;
    /* 15 + 16: a gzip wrapper around a 32 KiB-window deflate stream */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return BFF_ENOMEM;
    size_t cap = deflateBound(&zs, (uLong)len);
    char  *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return BFF_ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)buf;
    zs.avail_out = (uInt)cap;
    int    rc = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return BFF_EIO;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int encode_br(const void *in, size_t len, char **out, size_t *outlen)
{
    return encode_br_with(in, len, ENCODE_BR_QUALITY, ENCODE_BR_LGWIN, out, outlen);
}

int encode_br_with(const void *in, size_t len, int quality, int lgwin, char **out,
                   size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t cap = BrotliEncoderMaxCompressedSize(len);
    if (cap == 0)
        return BFF_ERANGE; /* too large for one brotli stream */
    char *buf = malloc(cap);
    if (!buf)
        return BFF_ENOMEM;
    size_t n = cap;
    /* MODE_TEXT: JSON, HTML, JS and CSS are UTF-8 text */
    if (!BrotliEncoderCompress(quality, lgwin, BROTLI_MODE_TEXT, len,
                               (const uint8_t *)(len ? in : ""), &n, (uint8_t *)buf)) {
        free(buf);
        return BFF_ENOMEM; /* its only failure besides bad parameters */
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int encode_http_date_parse(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
    if (!end || *skip_ows(end) != '\0')
        return BFF_EINVAL;
    *out = (int64_t)timegm(&tm);
    return 0;
}

void encode_http_date(int64_t t, char *out, size_t cap)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm                tm;
    time_t                   tt = (time_t)t;

    /* by hand, not strftime: day and month names must not follow the locale */
    gmtime_r(&tt, &tm);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

unsigned encode_flags(struct bff_request *r)
{
    unsigned f = r->w && r->w->srv && r->w->srv->app ? r->w->srv->app->encode : 0;
    if (r->route && r->route->kind == BFF_ROUTE_HANDLER && r->route->endpoint)
        f |= r->route->endpoint->encode;
    return f;
}

/* Whether the request's validators say the client's copy is current. */
static int not_modified(struct bff_request *r, const char *etag, int64_t last_modified)
{
    if (!(r->mbit & (BFF_M_GET | BFF_M_HEAD)))
        return 0;
    const char *inm = req_header(r, "If-None-Match");
    if (inm) /* RFC 9110 §13.2.2: If-Modified-Since only without it */
        return etag && encode_inm_match(inm, etag);
    const char *ims = req_header(r, "If-Modified-Since");
    int64_t     since;
    return last_modified > 0 && ims && encode_http_date_parse(ims, &since) == 0 &&
           last_modified <= since;
}

void encode_respond(struct bff_request *r, const struct encode_answer *ans)
{
    enum { MAX_EXTRA = 6 };
    static const char *const suffix[] = {"", "-gzip\"", "-br\""};
    static const char *const name[] = {NULL, "gzip", "br"};
    struct bff_hdr           h[16 + MAX_EXTRA];
    size_t                   nh = 0;
    char                    *body = ans->body;
    size_t                   len = ans->len;
    int                      owned = ans->body_malloced;
    unsigned                 flags = ans->status == 200 ? ans->flags : 0;
    unsigned                 offer = flags & (BFF_ENCODE_GZIP | BFF_ENCODE_BR);
    char                     tag[ENCODE_ETAG_MAX], lm[40];
    enum encode_coding       coding = ENCODE_IDENTITY;

    for (size_t i = 0; i < ans->nhdrs && nh < 16; i++)
        h[nh++] = ans->hdrs[i];
    if (ans->cache_control)
        h[nh++] = (struct bff_hdr){"Cache-Control", ans->cache_control};
    if (ans->status != 200) {
        req_respond(r, ans->status, ans->type, body, len, owned, h, nh);
        return;
    }
    if (offer) {
        h[nh++] = (struct bff_hdr){"Vary", "Accept-Encoding"};
        /* each coding from its own floor up: br's frame is a few bytes,
         * gzip's 18 */
        if (len < BFF_GZIP_MIN)
            offer &= ~(unsigned)BFF_ENCODE_GZIP;
        if (len < BFF_BR_MIN)
            offer &= ~(unsigned)BFF_ENCODE_BR;
        if (ans->compressible && offer)
            coding = encode_choose(req_header(r, "Accept-Encoding"), offer);
    }
    if (ans->last_modified > 0) {
        encode_http_date(ans->last_modified, lm, sizeof(lm));
        h[nh++] = (struct bff_hdr){"Last-Modified", lm};
    }
    if (coding != ENCODE_IDENTITY) {
        char  *z = NULL;
        size_t zlen = 0;
        int    rc = coding == ENCODE_BR ? encode_br(body, len, &z, &zlen)
                                        : encode_gzip(body, len, &z, &zlen);
        if (rc == 0 && zlen < len) {
            if (flags & BFF_ENCODE_ETAG) /* the identity's tag, before the body goes */
                encode_etag(body, len, tag);
            if (owned)
                free(body);
            body = z;
            len = zlen;
            owned = 1;
        } else {
            /* out of memory, or no smaller: the identity, with its own tag */
            free(z);
            coding = ENCODE_IDENTITY;
        }
    }
    if (flags & BFF_ENCODE_ETAG) {
        if (coding == ENCODE_IDENTITY)
            encode_etag(body, len, tag);
        else /* the variant's tag: the identity's with a suffix inside the quotes */
            memcpy(tag + strlen(tag) - 1, suffix[coding], strlen(suffix[coding]) + 1);
        h[nh++] = (struct bff_hdr){"ETag", tag};
    }
    if (not_modified(r, flags & BFF_ENCODE_ETAG ? tag : NULL, ans->last_modified)) {
        /* the body goes along only so that the 304's Content-Length is the
         * one the 200 would have had (RFC 9110 §8.6); libmicrohttpd never
         * sends the body of a 304 */
        req_respond(r, 304, NULL, body, len, owned, h, nh);
        if (r->status == 304)
            r->bytes_out = 0; /* for the access log: no body was sent */
        return;
    }
    if (coding != ENCODE_IDENTITY)
        h[nh++] = (struct bff_hdr){"Content-Encoding", name[coding]};
    req_respond(r, 200, ans->type, body, len, owned, h, nh);
}
