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

/* 1 when the parameters @p (up to @end, ";q=0.5;x=y") give q above zero;
 * without a q: 1. */
static int q_positive(const char *p, const char *end)
{
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi)
            return 1;
        p = skip_ows(semi + 1);
        if (p < end && (*p == 'q' || *p == 'Q')) {
            const char *v = skip_ows(p + 1);
            if (v < end && *v == '=') {
                for (v = skip_ows(v + 1); v < end && (*v == '0' || *v == '.'); v++)
                    ;
                return v < end && *v >= '1' && *v <= '9';
            }
        }
    }
    return 1;
}

int encode_accepts_gzip(const char *ae)
{
    int gzip = -1, star = -1;

    if (!ae)
        return 0;
    for (const char *p = ae; *p;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *tok = skip_ows(p);
        const char *te = tok;
        while (te < end && *te != ';' && *te != ' ' && *te != '\t')
            te++;
        size_t n = (size_t)(te - tok);
        int    q = q_positive(te, end);
        if ((n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            gzip = gzip > 0 ? 1 : q;
        else if (n == 1 && *tok == '*')
            star = q;
        p = comma ? comma + 1 : end;
    }
    return gzip >= 0 ? gzip : star > 0;
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
    struct bff_hdr h[16 + MAX_EXTRA];
    size_t         nh = 0;
    char          *body = ans->body;
    size_t         len = ans->len;
    int            owned = ans->body_malloced;
    unsigned       flags = ans->status == 200 ? ans->flags : 0;
    char           tag[ENCODE_ETAG_MAX], lm[40];
    int            gz = 0;

    for (size_t i = 0; i < ans->nhdrs && nh < 16; i++)
        h[nh++] = ans->hdrs[i];
    if (ans->cache_control)
        h[nh++] = (struct bff_hdr){"Cache-Control", ans->cache_control};
    if (ans->status != 200) {
        req_respond(r, ans->status, ans->type, body, len, owned, h, nh);
        return;
    }
    if (flags & BFF_ENCODE_GZIP) {
        h[nh++] = (struct bff_hdr){"Vary", "Accept-Encoding"};
        gz = ans->compressible && len >= BFF_GZIP_MIN &&
             encode_accepts_gzip(req_header(r, "Accept-Encoding"));
    }
    if (ans->last_modified > 0) {
        encode_http_date(ans->last_modified, lm, sizeof(lm));
        h[nh++] = (struct bff_hdr){"Last-Modified", lm};
    }
    if (flags & BFF_ENCODE_ETAG) {
        encode_etag(body, len, tag);
        if (gz)
            memcpy(tag + strlen(tag) - 1, "-gzip\"", 7);
    }
    size_t etag_at = nh;
    if (flags & BFF_ENCODE_ETAG)
        h[nh++] = (struct bff_hdr){"ETag", tag};

    if (gz) {
        char  *z = NULL;
        size_t zlen = 0;
        if (encode_gzip(body, len, &z, &zlen) == 0) {
            if (owned)
                free(body);
            body = z;
            len = zlen;
            owned = 1;
        } else if (flags & BFF_ENCODE_ETAG) {
            /* out of memory: send identity, with the identity's tag */
            encode_etag(body, len, tag);
            h[etag_at].value = tag;
            gz = 0;
        }
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
    if (gz)
        h[nh++] = (struct bff_hdr){"Content-Encoding", "gzip"};
    req_respond(r, 200, ans->type, body, len, owned, h, nh);
}
