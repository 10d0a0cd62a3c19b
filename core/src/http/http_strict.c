/* core/src/http_strict.c — the front door's HTTP/1.1 head check (RFC 9112 §2.2,
 * §3, §5, §6.1, §6.3; RFC 9110 §5), and the rebuilding of the bytes that
 * arrived from what libmicrohttpd hands over. Contracts in bff/http_strict.h,
 * rules and judgment calls in docs/http.md. */
#include <string.h>

#include "bff/http_strict.h"

/* Byte classes as 128-bit maps of ASCII (bit c of word c / 64): tchar
 * (RFC 9110 §5.6.2); field-vchar, SP and HTAB (obs-text, >= 0x80, is
 * allowed in values separately); Host characters (RFC 3986 reg-name,
 * IP-literal and port: unreserved, sub-delims, '%', ':', '[', ']'). */
static const uint64_t tchar_map[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
static const uint64_t value_map[2] = {0xffffffff00000200ull, 0x7fffffffffffffffull};
static const uint64_t host_map[2] = {0x2fff7ff200000000ull, 0x47fffffeaffffffeull};

static int in_map(const uint64_t *m, char ch)
{
    unsigned char c = (unsigned char)ch;
    return c < 128 && (m[c >> 6] >> (c & 63) & 1u);
}

#define TCHAR(c) in_map(tchar_map, c)
#define VALUE(c) (in_map(value_map, c) || (unsigned char)(c) >= 0x80)
#define HOSTC(c) in_map(host_map, c)

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* @n bytes of @a equal lowercase @b, any case */
static int ieq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != (unsigned char)b[i])
            return 0;
    return 1;
}

#define FAIL(status, text)                                                              \
    do {                                                                                \
        if (why)                                                                        \
            *why = text;                                                                \
        return status;                                                                  \
    } while (0)

/* Transfer-Encoding's value (OWS trimmed): 0 for exactly "chunked", 501 for
 * a well-formed list naming another coding, 400 otherwise. */
static int te_value(const char *v, size_t n, const char **why)
{
    size_t i = 0, nel = 0, nchunked = 0, other = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++; /* empty list elements are allowed (RFC 9110 §5.6.1.2) */
        if (i >= n)
            break;
        size_t s = i;
        while (i < n && TCHAR(v[i]))
            i++;
        if (i == s)
            FAIL(400, "Transfer-Encoding is not a list of transfer codings");
        size_t e = i;
        int    params = 0;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i < n && v[i] == ';') { /* parameters: skipped up to the next ',' */
            params = 1;
            while (i < n && v[i] != ',') {
                if (v[i] == '"')
                    FAIL(400, "Transfer-Encoding is not a list of transfer codings");
                i++;
            }
        }
        if (i < n && v[i] != ',')
            FAIL(400, "Transfer-Encoding is not a list of transfer codings");
        nel++;
        if (!params && ieq(v + s, e - s, "chunked"))
            nchunked++;
        else
            other++;
    }
    if (nel == 0)
        FAIL(400, "Transfer-Encoding is empty");
    if (nchunked > 1)
        FAIL(400, "Transfer-Encoding applies chunked more than once");
    if (other)
        FAIL(501, "the only transfer coding accepted is chunked");
    return 0;
}

/* The line end at *@p: CRLF (returns 0 and moves past it), else an error. */
static int eol(const char **p, const char *end, const char **why)
{
    const char *q = *p;
    if (q + 1 < end && q[0] == '\r' && q[1] == '\n') {
        *p = q + 2;
        return 0;
    }
    if (q < end && q[0] == '\n')
        FAIL(400, "a line ends in LF without CR");
    if (q < end && q[0] == '\r')
        FAIL(400, "a CR not followed by LF");
    FAIL(400, "the header section is not terminated");
}

int bff_http_check_head(const char *buf, size_t len, struct bff_http_head *out,
                        const char **why)
{
    struct bff_http_head h = {0};
    const char          *p = buf, *end = buf + len;
    const char          *cl = NULL, *te = NULL;
    size_t               cl_len = 0, te_len = 0;
    unsigned             ncl = 0, nte = 0, nhost = 0;
    int                  rc;

    if (!buf)
        FAIL(400, "empty request");
    /* request-line = method SP request-target SP HTTP-version CRLF */
    h.method = p;
    while (p < end && TCHAR(*p))
        p++;
    h.method_len = (size_t)(p - h.method);
    if (h.method_len == 0)
        FAIL(400, "the request line does not start with a method");
    if (p >= end || *p != ' ')
        FAIL(400, "the request line is not method SP target SP version");
    h.target = ++p;
    while (p < end && (unsigned char)*p >= 0x21 && (unsigned char)*p <= 0x7e)
        p++;
    h.target_len = (size_t)(p - h.target);
    if (h.target_len == 0)
        FAIL(400, "the request line is not method SP target SP version");
    if (p >= end || *p != ' ') {
        if (p < end && (*p == '\r' || *p == '\n'))
            FAIL(400, "the request line has no HTTP version");
        FAIL(400, "the request target holds a control character, whitespace or a "
                  "non-ASCII byte");
    }
    p++;
    if (end - p < 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' ||
        p[6] != '.' || p[7] < '0' || p[7] > '9')
        FAIL(400, "the HTTP version is malformed");
    if (p[5] != '1')
        FAIL(505, "only HTTP/1.x is served");
    h.minor = p[7] - '0';
    p += 8;
    if (p < end && *p != '\r' && *p != '\n')
        FAIL(400, "the request line is not method SP target SP version");
    if ((rc = eol(&p, end, why)) != 0)
        return rc;

    /* *( field-line CRLF ) CRLF */
    for (;;) {
        if (p >= end)
            FAIL(400, "the header section is not terminated");
        if (*p == '\r' || *p == '\n') {
            if ((rc = eol(&p, end, why)) != 0)
                return rc;
            break;
        }
        if (*p == ' ' || *p == '\t') {
            if (h.nfields == 0)
                FAIL(400, "whitespace before the first field line");
            FAIL(400, "a field line continues on the next line (obs-fold)");
        }
        const char *name = p;
        while (p < end && TCHAR(*p))
            p++;
        size_t nlen = (size_t)(p - name);
        if (p >= end || *p != ':') {
            if (p < end && (*p == ' ' || *p == '\t'))
                FAIL(400, "whitespace between a field name and its colon");
            FAIL(400, "a field name is not a token (a control character, separator, "
                      "non-ASCII byte or a line without a colon)");
        }
        if (nlen == 0)
            FAIL(400, "a field line has an empty name");
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *v = p;
        while (p < end && VALUE(*p))
            p++;
        if (p < end && *p != '\r' && *p != '\n') {
            if (*p == '\0')
                FAIL(400, "a field value holds a NUL");
            FAIL(400, "a field value holds a control character");
        }
        if (p + 1 < end && p[0] == '\r' && p[1] != '\n')
            FAIL(400, "a field value holds a CR not followed by LF");
        const char *ve = p;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if ((rc = eol(&p, end, why)) != 0)
            return rc;
        h.nfields++;
        size_t vlen = (size_t)(ve - v);
        switch (nlen) {
        case 4:
            if (ieq(name, 4, "host")) {
                nhost++;
                h.host = v;
                h.host_len = vlen;
            }
            break;
        case 14:
            if (ieq(name, 14, "content-length")) {
                ncl++;
                cl = v;
                cl_len = vlen;
            }
            break;
        case 17:
            if (ieq(name, 17, "transfer-encoding")) {
                nte++;
                te = v;
                te_len = vlen;
            }
            break;
        }
    }
    if (p != end)
        FAIL(400, "bytes after the end of the header section");

    /* framing (RFC 9112 §6.1, §6.3) */
    if (nte) {
        if (ncl)
            FAIL(400, "Content-Length together with Transfer-Encoding");
        if (h.minor == 0)
            FAIL(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (nte > 1)
            FAIL(400, "more than one Transfer-Encoding field");
        if ((rc = te_value(te, te_len, why)) != 0)
            return rc;
        h.chunked = 1;
    }
    if (ncl > 1)
        FAIL(400, "more than one Content-Length field");
    if (ncl) {
        uint64_t n = 0;
        if (cl_len == 0)
            FAIL(400, "Content-Length is not a decimal number");
        for (size_t i = 0; i < cl_len; i++) {
            if (cl[i] < '0' || cl[i] > '9')
                FAIL(400, "Content-Length is not a decimal number");
            if (n > (UINT64_MAX - 9) / 10)
                FAIL(413, "Content-Length is too large");
            n = n * 10 + (uint64_t)(cl[i] - '0');
        }
        h.has_cl = 1;
        h.content_length = n;
    }
    /* Host (RFC 9112 §3.2) */
    if (nhost > 1)
        FAIL(400, "more than one Host field");
    if (nhost == 0 && h.minor >= 1)
        FAIL(400, "an HTTP/1.1 request without Host");
    for (size_t i = 0; i < h.host_len; i++)
        if (!HOSTC(h.host[i]))
            FAIL(400, "Host is not a host and port");
    if (h.host_len) { /* uri-host [ ":" port ]: IP-literal or reg-name, port *DIGIT */
        const char *s = h.host, *e = h.host + h.host_len, *port = NULL;
        if (*s == '[') {
            const char *rb = memchr(s, ']', h.host_len);
            if (!rb || memchr(s + 1, '[', (size_t)(rb - s - 1)))
                FAIL(400, "Host is not a host and port");
            if (rb + 1 < e && rb[1] != ':')
                FAIL(400, "Host is not a host and port");
            port = rb + 1 < e ? rb + 2 : e;
        } else {
            const char *colon = memchr(s, ':', h.host_len);
            if (memchr(s, '[', h.host_len) || memchr(s, ']', h.host_len) || colon == s)
                FAIL(400, "Host is not a host and port");
            port = colon ? colon + 1 : e;
        }
        for (const char *q = port; q < e; q++)
            if (*q < '0' || *q > '9')
                FAIL(400, "Host is not a host and port");
    }
    h.has_host = nhost == 1;
    if (out)
        *out = h;
    return 0;
}

int bff_http_check_field_line(const char *line, size_t len)
{
    size_t i = 0;
    if (!line)
        return -1;
    while (i < len && TCHAR(line[i]))
        i++;
    if (i == 0 || i >= len || line[i] != ':')
        return -1;
    for (i++; i < len; i++)
        if (!VALUE(line[i]))
            return -1;
    return 0;
}

/* ---- rebuilding what libmicrohttpd parsed in place -------------------------- */

/* Gives back the line end at the end of out[lo..*hi): the NULs that were LF
 * and, before it, CR. */
static void restore_eol(struct bff_http_unmangle *u, size_t lo, size_t *hi)
{
    if (*hi > lo && u->base[*hi - 1] == '\0') {
        u->out[--*hi] = '\n';
        if (*hi > lo && u->base[*hi - 1] == '\0')
            u->out[--*hi] = '\r';
    }
}

/* Whether [p, p+n) lies in the head at or after offset @from. */
static int inside(const struct bff_http_unmangle *u, const char *p, size_t n, size_t from)
{
    return p >= u->base + from && p <= u->base + u->len && n <= (size_t)(u->base + u->len - p);
}

void bff_http_unmangle_begin(struct bff_http_unmangle *u, const char *base, size_t len,
                             char *out, const char *uri, size_t uri_len,
                             const char *pristine, const char *version)
{
    u->base = base;
    u->len = len;
    u->out = out;
    u->cursor = 0;
    u->bad = !base || !out || !len;
    if (u->bad)
        return;
    memcpy(out, base, len);
    size_t m = strnlen(base, len);
    if (m < len)
        out[m] = ' ';
    if (!uri || !pristine || !inside(u, uri, uri_len, m + 1)) {
        u->bad = 1;
        return;
    }
    memcpy(out + (uri - base), pristine, uri_len);
    size_t from = (size_t)(uri - base) + uri_len + 1;
    if (!version || !inside(u, version, 0, from) || version == base + len) {
        u->bad = 1;
        return;
    }
    size_t v = (size_t)(version - base);
    if (base[v - 1] == '\0')
        out[v - 1] = ' ';
    u->cursor = v + strnlen(version, len - v);
}

void bff_http_unmangle_field(struct bff_http_unmangle *u, const char *key, size_t key_len,
                             const char *value, size_t value_len)
{
    if (u->bad)
        return;
    if (!key || !value || !inside(u, key, key_len + 1, u->cursor)) {
        u->bad = 1;
        return;
    }
    size_t k = (size_t)(key - u->base), hi = k;
    restore_eol(u, u->cursor, &hi);
    if (u->base[k + key_len] == '\0')
        u->out[k + key_len] = ':';
    if (!inside(u, value, value_len, k + key_len + 1)) {
        u->bad = 1;
        return;
    }
    u->cursor = (size_t)(value - u->base) + value_len;
}

int bff_http_unmangle_end(struct bff_http_unmangle *u)
{
    if (u->bad)
        return -1;
    size_t hi = u->len;
    restore_eol(u, u->cursor, &hi); /* the empty line */
    restore_eol(u, u->cursor, &hi); /* the last line's */
    return 0;
}
