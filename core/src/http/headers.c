/* core/src/headers.c — which request and response headers cross the gateway
 *
 * Called once per header per request: no allocation, no locale. A name is
 * classified by a switch on its length and one ASCII case-insensitive compare
 * against the few names of that length.
 *
 * The identity prefixes are "x-user-" and "x-gateway-" with the dash:
 * "X-User-Id", "x-user-roles", "X-User-" and "X-Gateway-Signature" are
 * identity headers; "X-Userid" and "X-User" are not (they are forwarded like
 * any other header).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "bff/headers.h"

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Compares @n bytes of @a, any case, with lowercase @b. */
static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != (unsigned char)b[i])
            return 0;
    return 1;
}

/* Compares @n bytes of @a and @b, any case. */
static int caseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

#define IS(lit) ieq(name, lit, sizeof(lit) - 1)

unsigned bff_header_class(const char *name, size_t len)
{
    if (!name)
        return 0;
    if ((len >= 7 && IS("x-user-")) || (len >= 10 && IS("x-gateway-")))
        return BFF_HDR_IDENTITY;
    switch (len) {
    case 2:
        return IS("te") ? BFF_HDR_HOP : 0;
    case 4:
        return IS("host") ? BFF_HDR_SET : 0;
    case 6:
        return IS("expect") ? BFF_HDR_SET : 0;
    case 9:
        /* a client must not choose the address a service believes */
        return IS("forwarded") || IS("x-real-ip") ? BFF_HDR_SET : 0;
    case 7:
        return IS("trailer") || IS("upgrade") ? BFF_HDR_HOP : 0;
    case 10:
        if (IS("connection") || IS("keep-alive"))
            return BFF_HDR_HOP;
        return IS("tracestate") ? BFF_HDR_SET : 0;
    case 11:
        return IS("traceparent") ? BFF_HDR_SET : 0;
    case 12:
        return IS("x-request-id") ? BFF_HDR_SET : 0;
    case 13:
        return IS("authorization") ? BFF_HDR_AUTHZ : 0;
    case 14:
        return IS("content-length") ? BFF_HDR_SET : 0;
    case 15:
        return IS("x-forwarded-for") ? BFF_HDR_SET : 0;
    case 16:
        if (IS("proxy-connection"))
            return BFF_HDR_HOP;
        return IS("x-forwarded-host") || IS("x-forwarded-port") ? BFF_HDR_SET : 0;
    case 17:
        if (IS("transfer-encoding"))
            return BFF_HDR_HOP;
        return IS("x-forwarded-proto") ? BFF_HDR_SET : 0;
    case 18:
        return IS("proxy-authenticate") ? BFF_HDR_HOP : 0;
    case 19:
        return IS("proxy-authorization") ? BFF_HDR_HOP : 0;
    }
    return 0;
}

/* Tokens are separated by ',' with optional spaces or tabs around them
 * (RFC 9110 5.6.1); empty list elements are skipped. */
int bff_header_in_connection(const char *conn, const char *name)
{
    size_t nlen;

    if (!conn || !name)
        return 0;
    nlen = strlen(name);
    if (nlen == 0)
        return 0;
    while (*conn) {
        const char *s, *e;
        while (*conn == ' ' || *conn == '\t' || *conn == ',')
            conn++;
        s = conn;
        while (*conn && *conn != ',')
            conn++;
        e = conn;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == nlen && caseeq(s, name, nlen))
            return 1;
    }
    return 0;
}

int bff_header_forward_request(const char *name, const char *conn)
{
    if (!name || !*name)
        return 0;
    if (bff_header_class(name, strlen(name)))
        return 0; /* hop, identity, authorization or set by the gateway */
    return !bff_header_in_connection(conn, name);
}

int bff_header_forward_response(const char *name, const char *conn)
{
    size_t len;

    if (!name || !*name)
        return 0;
    len = strlen(name);
    if (bff_header_class(name, len) & BFF_HDR_HOP)
        return 0;
    if (len == 14 && IS("content-length"))
        return 0;
    return !bff_header_in_connection(conn, name);
}

int bff_request_id_sane(const char *v)
{
    size_t n = 0;

    if (!v)
        return 0;
    for (; v[n]; n++) {
        unsigned char c = (unsigned char)v[n];
        if (n == 128)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* Checks @n lowercase hex digits; returns -1 when not hex, 0 when all are
 * zero, 1 otherwise. */
static int lowhex(const char *s, size_t n)
{
    int nonzero = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        nonzero |= c != '0';
    }
    return nonzero;
}

/* Only version 00 is accepted, exactly as the W3C Trace Context level 1
 * format: "00-" 32 hex "-" 16 hex "-" 2 hex, 55 bytes, lowercase. A header of
 * a later version (or "ff") is treated as invalid and a new trace is started. */
int bff_traceparent_valid(const char *v)
{
    if (!v || strnlen(v, 56) != 55)
        return 0;
    if (v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-')
        return 0;
    return lowhex(v + 3, 32) == 1 && lowhex(v + 36, 16) == 1 && lowhex(v + 53, 2) >= 0;
}

static int ts_keychar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '*' || c == '/';
}

/* A tracestate key: simple-key, or tenant-id "@" system-id. */
static int ts_key_ok(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);

    if (!at) {
        if (n < 1 || n > 256 || !(k[0] >= 'a' && k[0] <= 'z'))
            return 0;
        for (size_t i = 1; i < n; i++)
            if (!ts_keychar((unsigned char)k[i]))
                return 0;
        return 1;
    }
    size_t      tn = (size_t)(at - k), sn = n - tn - 1;
    const char *sys = at + 1;
    if (tn < 1 || tn > 241 || sn < 1 || sn > 14)
        return 0;
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
        return 0;
    for (size_t i = 1; i < tn; i++)
        if (!ts_keychar((unsigned char)k[i]))
            return 0;
    if (!(sys[0] >= 'a' && sys[0] <= 'z'))
        return 0;
    for (size_t i = 1; i < sn; i++)
        if (!ts_keychar((unsigned char)sys[i]))
            return 0;
    return 1;
}

/* A tracestate value: 1 to 256 of %x20-2B / %x2D-3C / %x3E-7E, the last not
 * a space. */
static int ts_value_ok(const char *v, size_t n)
{
    if (n < 1 || n > 256 || v[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return 0;
    }
    return 1;
}

int bff_tracestate_normalize(const char *in, size_t len, char *out, size_t cap)
{
    struct {
        size_t off, klen;
    } seen[BFF_TRACESTATE_MAX_MEMBERS];
    size_t nseen = 0, o = 0, i = 0;

    if (!in || !out || cap < len + 1 || len > BFF_TRACESTATE_MAX_BYTES)
        return -1;
    while (i <= len) {
        size_t s = i, e;
        while (i < len && in[i] != ',')
            i++;
        e = i++; /* past the ',' (or the end) */
        while (s < e && (in[s] == ' ' || in[s] == '\t'))
            s++;
        while (e > s && (in[e - 1] == ' ' || in[e - 1] == '\t'))
            e--;
        if (s == e)
            continue; /* an empty member is allowed and dropped */
        const char *eq = memchr(in + s, '=', e - s);
        if (!eq)
            return -1;
        size_t klen = (size_t)(eq - (in + s)), vlen = e - s - klen - 1;
        if (!ts_key_ok(in + s, klen) || !ts_value_ok(eq + 1, vlen))
            return -1;
        if (nseen == BFF_TRACESTATE_MAX_MEMBERS)
            return -1;
        for (size_t k = 0; k < nseen; k++)
            if (seen[k].klen == klen && memcmp(out + seen[k].off, in + s, klen) == 0)
                return -1; /* a key twice */
        if (o)
            out[o++] = ',';
        seen[nseen].off = o;
        seen[nseen++].klen = klen;
        memcpy(out + o, in + s, e - s);
        o += e - s;
    }
    out[o] = '\0';
    return (int)o;
}

const char *bff_bearer_token(const char *authz, size_t *len)
{
    const char *tok;
    size_t      n;

    *len = 0;
    if (!authz || strncasecmp(authz, "Bearer", 6) != 0 ||
        (authz[6] != ' ' && authz[6] != '\t'))
        return NULL;
    tok = authz + 7;
    while (*tok == ' ' || *tok == '\t')
        tok++;
    n = strlen(tok);
    while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
        n--;
    *len = n;
    return tok;
}
