/* core/src/router.c — path normalization and route matching
 *
 * Routes are compiled once into segment lists; matching is a linear scan over
 * them with the specificity order of bff/router.h. For the tens of routes a
 * BFF has, the scan touches a few cache lines and beats a trie's pointer
 * chasing; it allocates nothing and takes no lock, so one router is shared by
 * every worker.
 *
 * Matching and trailing slashes: a request path is split on '/' after its
 * leading slash; a final empty segment (the path ends in '/') is a trailing
 * slash, not a segment. So "/orders/" is matched by the prefix route "/orders"
 * (prefix_len 7), but not by a handler route "/orders" (exact match means the
 * same segments and no trailing slash). "/" has no segments: the prefix route
 * "/" matches every path (prefix_len 0) and the handler route "/" only "/".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bff/err.h"
#include "bff/router.h"

/* Longest pattern, in segments; longer patterns are malformed. */
#define MAX_SEGS 32

struct seg {
    const char *s; /* literal bytes, or the parameter's name */
    size_t      len;
    int         param;
};

struct croute {
    struct seg *segs;
    size_t      nsegs;
    int         exact; /* handler routes match the whole path */
};

struct bff_router {
    struct croute *routes;
    size_t         n;
    size_t         maxsegs; /* most segments of any pattern */
    struct seg    *segbuf;
};

/* A request path split into segments: at most MAX_SEGS + 1 are kept, which
 * is enough to tell "longer than any pattern". */
struct pathsegs {
    struct {
        const char *s;
        size_t      len;
    } seg[MAX_SEGS + 1];
    size_t n;
    int    trailing;
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int param_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_';
}

static const char hexup[] = "0123456789ABCDEF";

/* Checks a literal pattern segment: it must look exactly like a segment of a
 * normalized path, or it could never match one. */
static const char *literal_bad(const char *s, size_t n)
{
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return "\".\" and \"..\" segments are not allowed";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c >= 0x7f)
            return "spaces, control characters and non-ASCII bytes are not allowed";
        if (c == '{' || c == '}')
            return "a parameter must be a whole segment: {name}";
        if (c == '?' || c == '#')
            return "'?' and '#' are not allowed in a path";
        if (c == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || s[i + 1] != hexup[hi] || s[i + 2] != hexup[lo])
                return "a percent escape needs two uppercase hex digits";
            if ((hi | lo) == 0 || unreserved((unsigned char)(hi << 4 | lo)))
                return "escape of NUL or of an unreserved character";
            i += 2;
        }
    }
    return NULL;
}

/* Splits @pattern into @segs (room for MAX_SEGS). Returns NULL and sets
 * *nsegs and *nparams, or returns the reason the pattern is malformed. */
static const char *compile(const char *pattern, struct seg *segs, size_t *nsegs,
                           size_t *nparams)
{
    size_t      ns = 0, np = 0;
    const char *p;

    if (!pattern || pattern[0] != '/')
        return "a path must start with '/'";
    p = pattern + 1;
    if (*p == '\0')
        goto done; /* "/" */
    for (;;) {
        const char *end = strchr(p, '/');
        size_t      n = end ? (size_t)(end - p) : strlen(p);
        struct seg  sg = {p, n, 0};
        const char *why;

        if (n == 0)
            return end ? "empty segment (\"//\")" : "a path must not end with '/'";
        if (ns == MAX_SEGS)
            return "too many segments (at most 32)";
        if (p[0] == '{') {
            if (n < 3 || p[n - 1] != '}')
                return "a parameter is written {name}, as a whole segment";
            sg.s = p + 1;
            sg.len = n - 2;
            sg.param = 1;
            for (size_t i = 0; i < sg.len; i++)
                if (!param_char((unsigned char)sg.s[i]))
                    return "a parameter name is letters, digits and '_'";
            if (np == BFF_MAX_PARAMS)
                return "too many parameters (at most 8)";
            for (size_t i = 0; i < ns; i++)
                if (segs[i].param && segs[i].len == sg.len &&
                    memcmp(segs[i].s, sg.s, sg.len) == 0)
                    return "a parameter name is used twice";
            np++;
        } else if ((why = literal_bad(p, n)) != NULL) {
            return why;
        }
        segs[ns] = sg;
        ns++;
        if (!end)
            break;
        p = end + 1;
    }
done:
    *nsegs = ns;
    *nparams = np;
    return NULL;
}

int bff_router_pattern_check(const char *pattern, const char **why)
{
    struct seg  segs[MAX_SEGS];
    size_t      ns, np;
    const char *w = compile(pattern, segs, &ns, &np);

    if (why)
        *why = w;
    return w ? BFF_EINVAL : 0;
}

struct bff_router *bff_router_new(const struct bff_route_conf *routes, size_t n)
{
    struct bff_router *r;
    size_t             total = 0, used = 0;

    if (n && !routes)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t     ns, np;
        struct seg tmp[MAX_SEGS];
        if (compile(routes[i].path, tmp, &ns, &np))
            return NULL;
        total += ns;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->routes = calloc(n ? n : 1, sizeof(*r->routes));
    r->segbuf = calloc(total ? total : 1, sizeof(*r->segbuf));
    if (!r->routes || !r->segbuf) {
        bff_router_free(r);
        return NULL;
    }
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        struct croute *c = &r->routes[i];
        size_t         np;
        c->segs = r->segbuf + used;
        compile(routes[i].path, c->segs, &c->nsegs, &np);
        c->exact = routes[i].kind == BFF_ROUTE_HANDLER;
        used += c->nsegs;
        if (c->nsegs > r->maxsegs)
            r->maxsegs = c->nsegs;
    }
    return r;
}

void bff_router_free(struct bff_router *r)
{
    if (!r)
        return;
    free(r->segbuf);
    free(r->routes);
    free(r);
}

static void split(const char *path, size_t len, size_t keep, struct pathsegs *ps)
{
    const char *p = path + 1, *end = path + len;

    ps->n = 0;
    ps->trailing = 0;
    if (p == end)
        return;
    for (;;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        size_t      n = q ? (size_t)(q - p) : (size_t)(end - p);

        if (!q && n == 0) {
            ps->trailing = 1;
            return;
        }
        if (ps->n < keep) {
            ps->seg[ps->n].s = p;
            ps->seg[ps->n].len = n;
        }
        ps->n++;
        if (ps->n > keep || !q)
            return; /* longer than any pattern: the count is enough */
        p = q + 1;
    }
}

static int matches(const struct croute *c, const struct pathsegs *ps)
{
    if (c->nsegs > ps->n)
        return 0;
    if (c->exact && (c->nsegs != ps->n || ps->trailing))
        return 0;
    for (size_t i = 0; i < c->nsegs; i++) {
        const struct seg *s = &c->segs[i];
        if (s->param) {
            if (ps->seg[i].len == 0)
                return 0;
        } else if (s->len != ps->seg[i].len || memcmp(s->s, ps->seg[i].s, s->len)) {
            return 0;
        }
    }
    return 1;
}

/* Returns 1 when @a is more specific than @b (both match the same path). */
static int better(const struct croute *a, const struct croute *b)
{
    size_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;

    for (size_t i = 0; i < n; i++)
        if (a->segs[i].param != b->segs[i].param)
            return !a->segs[i].param;
    if (a->nsegs != b->nsegs)
        return a->nsegs > b->nsegs;
    return a->exact && !b->exact;
}

int bff_router_match(const struct bff_router *r, const char *path, size_t len,
                     struct bff_route_params *params, size_t *prefix_len)
{
    struct pathsegs      ps;
    const struct croute *best = NULL;
    size_t               bi = 0;

    if (!r || !path || len == 0 || path[0] != '/')
        return BFF_ENOENT;
    split(path, len, r->maxsegs, &ps);
    for (size_t i = 0; i < r->n; i++) {
        const struct croute *c = &r->routes[i];
        if (matches(c, &ps) && (!best || better(c, best))) {
            best = c;
            bi = i;
        }
    }
    if (!best)
        return BFF_ENOENT;
    if (params) {
        params->n = 0;
        for (size_t i = 0; i < best->nsegs; i++) {
            if (!best->segs[i].param)
                continue;
            params->p[params->n].name = best->segs[i].s;
            params->p[params->n].name_len = best->segs[i].len;
            params->p[params->n].value = ps.seg[i].s;
            params->p[params->n].value_len = ps.seg[i].len;
            params->n++;
        }
    }
    if (prefix_len)
        *prefix_len = best->nsegs == 0 ? 0
                                       : (size_t)(ps.seg[best->nsegs - 1].s +
                                                  ps.seg[best->nsegs - 1].len - path);
    return (int)bi;
}

/* Validates one raw path segment (no '/'), and tells its decoded length and
 * whether it decodes to "." (1) or ".." (2). */
static int seg_scan(const char *s, size_t n, size_t *dlen, int *dots)
{
    size_t d = 0, ndot = 0;
    int    other = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return BFF_EINVAL;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return BFF_EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (!unreserved(c)) {
                d += 3;
                other = 1;
                continue;
            }
        } else if (c < 0x21 || c >= 0x7f) {
            return BFF_EINVAL;
        }
        d++;
        if (c == '.')
            ndot++;
        else
            other = 1;
    }
    *dlen = d;
    *dots = other ? 0 : (int)ndot; /* 0 when empty; > 2 dots is a name */
    if (*dots > 2)
        *dots = 0;
    return 0;
}

/* Writes the decoded form of a segment seg_scan() accepted. */
static void seg_write(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hexval((unsigned char)s[i + 2]);
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (!unreserved(c)) {
                *out++ = '%';
                *out++ = hexup[hi];
                *out++ = hexup[lo];
                continue;
            }
        }
        *out++ = (char)c;
    }
}

/* Dot segments are resolved right to left: a ".." cancels the nearest kept
 * segment to its left, which gives RFC 3986 5.2.4's result (and a ".." left
 * over means it climbed above the root). A first pass validates and measures,
 * so the outcome never depends on @outcap except for BFF_ERANGE, and ERANGE
 * means exactly that the result and its NUL do not fit. The second pass
 * writes from the end. */
int bff_path_normalize(const char *in, size_t len, char *out, size_t outcap,
                       size_t *outlen)
{
    size_t total = 0, skip = 0, nkept = 0, rlen, pos;
    int    trailing = -1;

    if (!in || len == 0 || in[0] != '/')
        return BFF_EINVAL;
    for (size_t end = len; end > 0;) {
        size_t j = end, d;
        int    dots;
        while (in[j - 1] != '/')
            j--;
        if (seg_scan(in + j, end - j, &d, &dots))
            return BFF_EINVAL;
        if (trailing < 0)
            trailing = d == 0 || dots;
        if (dots == 2)
            skip++;
        else if (d > 0 && dots == 0) {
            if (skip) {
                skip--;
            } else {
                total += 1 + d;
                nkept++;
            }
        }
        end = j - 1;
    }
    if (skip)
        return BFF_EINVAL;
    rlen = nkept ? total + (size_t)trailing : 1;
    if (!out || outcap < rlen + 1)
        return BFF_ERANGE;

    out[rlen] = '\0';
    if (outlen)
        *outlen = rlen;
    if (!nkept) {
        out[0] = '/';
        return 0;
    }
    pos = rlen;
    if (trailing)
        out[--pos] = '/';
    skip = 0;
    for (size_t end = len; end > 0;) {
        size_t j = end, d;
        int    dots;
        while (in[j - 1] != '/')
            j--;
        seg_scan(in + j, end - j, &d, &dots);
        if (dots == 2) {
            skip++;
        } else if (d > 0 && dots == 0) {
            if (skip) {
                skip--;
            } else {
                pos -= d;
                seg_write(in + j, end - j, out + pos);
                out[--pos] = '/';
            }
        }
        end = j - 1;
    }
    return 0;
}

/* The two bytes at @q are hex digits @hex, any case. */
static int hex_pair(const char *q, const char *hex)
{
    return (q[0] | 0x20) == (hex[0] | 0x20) && (q[1] | 0x20) == (hex[1] | 0x20);
}

/* The 3 bytes at @p are the escape "%" @hex, any case. */
static int esc_is(const char *p, const char *hex)
{
    return p[0] == '%' && hex_pair(p + 1, hex);
}

/* One part of a segment, [s, e): "." or ".." once %2E is decoded and from
 * ';' on is dropped; *@escaped and *@semi tell how it was spelled. */
static int dot_part(const char *s, const char *e, int *escaped, int *semi)
{
    int n = 0;
    *escaped = *semi = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == ';') {
            *semi = 1;
            break;
        }
        if (*p == '.') {
            n++;
        } else if (e - p >= 3 && esc_is(p, "2E")) {
            n++;
            *escaped = 1;
            p += 2;
        } else {
            return 0;
        }
    }
    return n == 1 || n == 2;
}

int bff_path_hidden_dots(const char *in, size_t len)
{
    if (!in)
        return 0;
    const char *end = in + len;
    for (const char *p = in; end - p >= 5; p++)
        if (esc_is(p, "25") &&
            (hex_pair(p + 3, "2E") || hex_pair(p + 3, "2F") || hex_pair(p + 3, "5C")))
            return 1;
    for (const char *seg = in; seg < end;) {
        while (seg < end && *seg == '/')
            seg++;
        const char *segend = seg;
        while (segend < end && *segend != '/')
            segend++;
        int split = 0;
        for (const char *ps = seg, *p = seg;;) {
            size_t sep = 0;
            if (p < segend && *p == '\\')
                sep = 1;
            else if (segend - p >= 3 && (esc_is(p, "2F") || esc_is(p, "5C")))
                sep = 3;
            if (p >= segend || sep) {
                int escaped, semi;
                if (sep)
                    split = 1;
                if (dot_part(ps, p, &escaped, &semi) && (escaped || semi || split))
                    return 1;
                if (p >= segend)
                    break;
                p += sep;
                ps = p;
                continue;
            }
            p++;
        }
        seg = segend;
    }
    return 0;
}

int bff_pct_decode(const char *in, size_t len, char *out, size_t *outlen)
{
    size_t o = 0;

    if (!in || !out)
        return BFF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%') {
            int hi = i + 2 < len ? hexval((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return BFF_EINVAL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

void bff_pct_encode(const char *in, char *out)
{
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        if (unreserved(c)) {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = hexup[c >> 4];
            *out++ = hexup[c & 15];
        }
    }
    *out = '\0';
}
