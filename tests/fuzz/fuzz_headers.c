/* tests/fuzz/fuzz_headers.c — header hygiene (core/src/http/headers.c)
 *
 * Input: "NAME\nCONNECTION\nVALUE" (missing pieces are absent; NAME may hold
 * NUL bytes, the others end at their first NUL).
 * Each function is compared with a plain reference written here from the
 * contract in bff/headers.h (a list of names and a case-insensitive compare,
 * no switch on lengths), and the trust-boundary properties are checked on
 * their own: a name starting with X-User- or X-Gateway- (any case), and
 * Authorization, are never forwarded to a service; a hop-by-hop name and
 * Content-Length never cross in either direction; a name the Connection
 * header lists never crosses.
 * VALUE is also a tracestate: bff_tracestate_normalize() gives -1 or a
 * result no longer than the input, of at most 32 members with distinct keys,
 * without blanks or empty members, that normalizes to itself. */
#include "fuzz.h"

#include "bff/headers.h"

static const struct {
    const char *name;
    unsigned    cls;
} names[] = {
    {"connection", BFF_HDR_HOP},         {"keep-alive", BFF_HDR_HOP},
    {"proxy-connection", BFF_HDR_HOP},   {"te", BFF_HDR_HOP},
    {"trailer", BFF_HDR_HOP},            {"transfer-encoding", BFF_HDR_HOP},
    {"upgrade", BFF_HDR_HOP},            {"proxy-authenticate", BFF_HDR_HOP},
    {"proxy-authorization", BFF_HDR_HOP}, {"authorization", BFF_HDR_AUTHZ},
    {"host", BFF_HDR_SET},               {"content-length", BFF_HDR_SET},
    {"x-forwarded-for", BFF_HDR_SET},    {"x-forwarded-proto", BFF_HDR_SET},
    {"x-forwarded-host", BFF_HDR_SET},   {"x-forwarded-port", BFF_HDR_SET},
    {"forwarded", BFF_HDR_SET},          {"x-real-ip", BFF_HDR_SET},
    {"x-request-id", BFF_HDR_SET},       {"traceparent", BFF_HDR_SET},
    {"tracestate", BFF_HDR_SET},         {"expect", BFF_HDR_SET},
};

static int lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* @n bytes of @a equal @m bytes of @b, ASCII case-insensitively */
static int same(const char *a, size_t n, const char *b, size_t m)
{
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
            return 0;
    return 1;
}

static int starts(const char *a, size_t n, const char *prefix)
{
    size_t m = strlen(prefix);
    return n >= m && same(a, m, prefix, m);
}

static unsigned ref_class(const char *name, size_t len)
{
    if (starts(name, len, "x-user-") || starts(name, len, "x-gateway-"))
        return BFF_HDR_IDENTITY;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (same(name, len, names[i].name, strlen(names[i].name)))
            return names[i].cls;
    return 0;
}

/* Connection: 1#token, elements split at ',' with SP/HTAB around them */
static int ref_in_connection(const char *conn, const char *name)
{
    if (conn == NULL || name == NULL || *name == '\0')
        return 0;
    for (const char *p = conn;;) {
        const char *e = strchr(p, ',');
        const char *s = p, *t = e ? e : p + strlen(p);
        while (s < t && (*s == ' ' || *s == '\t'))
            s++;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (same(s, (size_t)(t - s), name, strlen(name)))
            return 1;
        if (e == NULL)
            return 0;
        p = e + 1;
    }
}

static int ref_request_id(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > 128)
        return 0;
    return strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
           n;
}

static int ref_traceparent(const char *v)
{
    static const char hex[] = "0123456789abcdef";
    if (strlen(v) != 55 || strncmp(v, "00-", 3) != 0 || v[35] != '-' || v[52] != '-')
        return 0;
    if (strspn(v + 3, hex) != 32 || strspn(v + 36, hex) != 16 || strspn(v + 53, hex) != 2)
        return 0;
    return strspn(v + 3, "0") < 32 && strspn(v + 36, "0") < 16;
}

static void check_tracestate(const char *v, size_t len)
{
    char  *out = malloc(len + 1), *again = malloc(len + 1);
    int    r, r2;
    size_t members = 0;

    if (out == NULL || again == NULL)
        abort();
    r = bff_tracestate_normalize(v, len, out, len + 1);
    FUZZ_CHECK(r >= -1 && r <= (int)len, "tracestate of %zu bytes gave %d", len, r);
    if (len > BFF_TRACESTATE_MAX_BYTES)
        FUZZ_CHECK(r == -1, "a tracestate of %zu bytes was kept", len);
    if (r > 0) {
        FUZZ_CHECK(strlen(out) == (size_t)r, "tracestate result length");
        for (const char *m = out; m != NULL;) {
            const char *e = strchr(m, ','), *end = e ? e : out + r;
            const char *eq = memchr(m, '=', (size_t)(end - m));
            FUZZ_CHECK(end > m && m[0] != ' ' && m[0] != '\t' && end[-1] != ' ' &&
                           end[-1] != '\t' && eq != NULL && eq > m,
                       "tracestate member %zu of \"%s\" is not key=value without blanks",
                       members, out);
            for (const char *o = out; o < m;) {
                const char *oe = strchr(o, '=');
                FUZZ_CHECK(oe - o != eq - m || memcmp(o, m, (size_t)(eq - m)) != 0,
                           "tracestate \"%s\" keeps a key twice", out);
                o = strchr(o, ',') + 1;
            }
            members++;
            m = e ? e + 1 : NULL;
        }
        FUZZ_CHECK(members <= BFF_TRACESTATE_MAX_MEMBERS, "%zu tracestate members",
                   members);
    }
    if (r >= 0) {
        r2 = bff_tracestate_normalize(out, (size_t)r, again, (size_t)r + 1);
        FUZZ_CHECK(r2 == r && memcmp(again, out, (size_t)r) == 0,
                   "tracestate \"%s\" is not a fixed point (%d)", out, r2);
    }
    FUZZ_CHECK(bff_tracestate_normalize(v, len, out, len) == -1,
               "tracestate output room below len + 1 accepted");
    free(out);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_split sp;
    size_t            nlen = 0, clen = 0, vlen = 0;
    const uint8_t    *np, *cp, *vp;

    fuzz_split_init(&sp, data, size, '\n');
    np = fuzz_next(&sp, &nlen);
    cp = fuzz_next(&sp, &clen);
    vp = fuzz_next(&sp, &vlen);

    char    *name = fuzz_strndup(np, nlen);
    char    *conn = cp ? fuzz_strndup(cp, clen) : NULL;
    char    *value = fuzz_strndup(vp ? vp : np, vp ? vlen : nlen);
    char    *upper = fuzz_strndup(np, nlen);
    size_t   sl = strlen(name);
    unsigned cls = bff_header_class(name, nlen);

    for (size_t i = 0; i < nlen; i++)
        if (upper[i] >= 'a' && upper[i] <= 'z')
            upper[i] = (char)(upper[i] - 32);
    FUZZ_CHECK(cls == ref_class(name, nlen), "class of \"%s\": %u, want %u", name, cls,
               ref_class(name, nlen));
    FUZZ_CHECK(bff_header_class(upper, nlen) == cls, "class of \"%s\" depends on case",
               name);
    FUZZ_CHECK(bff_header_class(NULL, nlen) == 0, "class of NULL");

    int inc = bff_header_in_connection(conn, name);
    FUZZ_CHECK(inc == ref_in_connection(conn, name),
               "Connection \"%s\" names \"%s\": %d", conn ? conn : "(null)", name, inc);
    FUZZ_CHECK(bff_header_in_connection(conn, upper) == inc,
               "Connection match depends on case");

    int fq = bff_header_forward_request(name, conn);
    int fr = bff_header_forward_response(name, conn);
    unsigned scls = ref_class(name, sl);
    FUZZ_CHECK(fq == (sl > 0 && scls == 0 && !inc), "request forward of \"%s\": %d", name,
               fq);
    FUZZ_CHECK(fr == (sl > 0 && !(scls & BFF_HDR_HOP) &&
                      !same(name, sl, "content-length", 14) && !inc),
               "response forward of \"%s\": %d", name, fr);
    /* the trust boundary, stated on its own */
    if (starts(name, sl, "x-user-") || starts(name, sl, "x-gateway-") ||
        same(name, sl, "authorization", 13) || same(name, sl, "proxy-authorization", 19))
        FUZZ_CHECK(!fq, "\"%s\" would reach a service", name);

    FUZZ_CHECK(bff_request_id_sane(value) == ref_request_id(value),
               "X-Request-Id \"%s\"", value);
    FUZZ_CHECK(bff_traceparent_valid(value) == ref_traceparent(value),
               "traceparent \"%s\"", value);
    FUZZ_CHECK(!bff_request_id_sane(NULL) && !bff_traceparent_valid(NULL), "NULL value");
    check_tracestate(vp ? (const char *)vp : (const char *)np, vp ? vlen : nlen);

    free(name);
    free(conn);
    free(value);
    free(upper);
    return 0;
}
