/* tests/fuzz/fuzz_router.c — path normalization and route matching
 * (core/src/config/router.c)
 *
 * Input: "PATTERN\nTARGET-PATH", or a bare TARGET-PATH when there is no '\n'.
 * Properties, beyond memory safety:
 * - bff_path_normalize: the result is never longer than the input, is in
 *   normal form (starts with '/', no "//", no "." or ".." segment, no
 *   control byte, space or non-ASCII, every escape two uppercase hex digits
 *   of a reserved byte other than NUL), is a fixed point (normalizing it
 *   again gives it back), and BFF_ERANGE means exactly "the result and its
 *   NUL do not fit";
 * - bff_router_match over the BFFs' route table: the index is in range, the
 *   prefix ends at a segment boundary, parameters are non-empty segments of
 *   the path;
 * - bff_pct_encode then bff_pct_decode gives the string back;
 * - a pattern bff_router_pattern_check accepts is one bff_router_new
 *   accepts, its literal segments are in normal form, and a path made from it
 *   (every {name} filled in) matches it with every parameter bound; a pattern
 *   it refuses comes with a reason and is refused by bff_router_new. */
#include "fuzz.h"

#include "bff/err.h"
#include "bff/router.h"

/* bff-mobile.yaml, bff-web.yaml, and the shapes of tests/unit/test_router.c */
static const struct {
    const char         *path;
    enum bff_route_kind kind;
} table[] = {
    {"/v1/order-screen/{id}", BFF_ROUTE_HANDLER},
    {"/v1/home", BFF_ROUTE_HANDLER},
    {"/orders", BFF_ROUTE_PROXY},
    {"/inventory", BFF_ROUTE_PROXY},
    {"/api/orders/{id}", BFF_ROUTE_HANDLER},
    {"/api/customers/{id}/orders", BFF_ROUTE_HANDLER},
    {"/", BFF_ROUTE_STATIC},
    {"/a/{x}/c", BFF_ROUTE_HANDLER},
    {"/{any}/z", BFF_ROUTE_HANDLER},
    {"/p/q", BFF_ROUTE_PROXY},
    {"/files%2Fx/{name}", BFF_ROUTE_PROXY},
};
#define NTABLE (sizeof table / sizeof table[0])

static struct bff_route_conf routes[NTABLE];
static struct bff_router    *router;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < NTABLE; i++) {
        routes[i].path = (char *)table[i].path;
        routes[i].kind = table[i].kind;
        routes[i].methods = BFF_M_ALL;
    }
    router = bff_router_new(routes, NTABLE);
    if (router == NULL)
        abort();
    return 0;
}

static int hexup(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int hv(char c)
{
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Asserts that @s (@n bytes) is a normalized path. */
static void check_normal(const char *s, size_t n)
{
    FUZZ_CHECK(n >= 1 && s[0] == '/', "result \"%.*s\" does not start with '/'",
               (int)n, s);
    FUZZ_CHECK(strlen(s) == n, "result has a NUL inside");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7f, "result byte 0x%02x at %zu", c, i);
        if (c == '/') {
            size_t j = i + 1;
            while (j < n && s[j] != '/')
                j++;
            size_t sl = j - i - 1;
            FUZZ_CHECK(sl > 0 || j == n, "result \"%s\" has \"//\"", s);
            FUZZ_CHECK(!(sl == 1 && s[i + 1] == '.') &&
                           !(sl == 2 && s[i + 1] == '.' && s[i + 2] == '.'),
                       "result \"%s\" keeps a dot segment", s);
        }
        if (c == '%') {
            FUZZ_CHECK(i + 2 < n && hexup(s[i + 1]) && hexup(s[i + 2]),
                       "result \"%s\": escape at %zu is not two uppercase hex", s, i);
            int v = hv(s[i + 1]) << 4 | hv(s[i + 2]);
            FUZZ_CHECK(v != 0 && !unreserved((unsigned char)v),
                       "result \"%s\": escape of NUL or an unreserved byte", s);
            i += 2;
        }
    }
}

static void check_match(const char *path, size_t len)
{
    struct bff_route_params ps;
    size_t                  plen = (size_t)-1;
    int                     r = bff_router_match(router, path, len, &ps, &plen);

    FUZZ_CHECK(r == BFF_ENOENT || (r >= 0 && (size_t)r < NTABLE), "match gave %d", r);
    if (r < 0)
        return; /* "/" is a prefix route: only a non-path fails */
    FUZZ_CHECK(plen <= len, "prefix_len %zu > %zu", plen, len);
    FUZZ_CHECK(plen == 0 || plen == len || path[plen] == '/',
               "prefix of route %d ends inside a segment of \"%s\" at %zu", r, path,
               plen);
    FUZZ_CHECK(ps.n <= BFF_MAX_PARAMS, "%zu params", ps.n);
    for (size_t i = 0; i < ps.n; i++) {
        const char *v = ps.p[i].value;
        FUZZ_CHECK(v > path && v + ps.p[i].value_len <= path + len && v[-1] == '/',
                   "parameter %zu is not a segment of the path", i);
        FUZZ_CHECK(ps.p[i].value_len > 0 && !memchr(v, '/', ps.p[i].value_len),
                   "parameter %zu is empty or holds '/'", i);
    }
    if (table[r].kind == BFF_ROUTE_HANDLER && strcmp(table[r].path, "/") != 0)
        FUZZ_CHECK(plen == len, "handler route %d matched a longer path \"%s\"", r,
                   path);
}

static void check_normalize(const uint8_t *in, size_t len)
{
    char  *out = malloc(len + 1), *again;
    size_t n = 0, n2 = 0;
    int    rc;

    if (out == NULL)
        abort();
    rc = bff_path_normalize((const char *)in, len, out, len + 1, &n);
    FUZZ_CHECK(rc == 0 || rc == BFF_EINVAL, "normalize gave %d with room for %zu bytes",
               rc, len);
    if (rc == 0) {
        FUZZ_CHECK(n <= len, "result of %zu bytes from %zu", n, len);
        check_normal(out, n);
        again = malloc(n + 1);
        if (again == NULL)
            abort();
        rc = bff_path_normalize(out, n, again, n + 1, &n2);
        FUZZ_CHECK(rc == 0 && n2 == n && memcmp(again, out, n) == 0,
                   "not a fixed point: \"%s\" -> %d \"%.*s\"", out, rc,
                   rc == 0 ? (int)n2 : 0, again);
        /* one byte short: ERANGE, whatever else */
        rc = bff_path_normalize((const char *)in, len, again, n, NULL);
        FUZZ_CHECK(rc == BFF_ERANGE, "room for %zu bytes of a %zu-byte result gave %d",
                   n, n, rc);
        free(again);
        check_match(out, n);
    }
    free(out);
}

static void check_pct(const uint8_t *in, size_t len)
{
    char  *dec = malloc(len + 1), *s = fuzz_strndup(in, len), *enc, *back;
    size_t n = 0, sl = strlen(s);

    if (dec == NULL)
        abort();
    if (bff_pct_decode((const char *)in, len, dec, &n) == 0)
        FUZZ_CHECK(n <= len && dec[n] == '\0', "decoded %zu bytes from %zu", n, len);
    enc = malloc(3 * sl + 1);
    back = malloc(3 * sl + 1);
    if (enc == NULL || back == NULL)
        abort();
    bff_pct_encode(s, enc);
    FUZZ_CHECK(bff_pct_decode(enc, strlen(enc), back, &n) == 0 && n == sl &&
                   memcmp(back, s, sl) == 0,
               "encode then decode does not give the string back");
    free(enc);
    free(back);
    free(dec);
    free(s);
}

/* @pattern as a concrete path: each {name} segment becomes "v<i>". */
static char *fill(const char *pattern, size_t *nparams)
{
    char  *out = malloc(strlen(pattern) * 2 + 8), *o = out;
    size_t np = 0;

    if (out == NULL)
        abort();
    for (const char *p = pattern; *p;) {
        if (p[0] == '{' && p[-1] == '/') {
            const char *e = strchr(p, '}');
            o += sprintf(o, "v%zu", np++);
            p = e + 1;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *nparams = np;
    return out;
}

static void check_pattern(const uint8_t *in, size_t len)
{
    char                   *pattern = fuzz_strndup(in, len);
    const char             *why = (const char *)1;
    struct bff_route_conf   rc[1] = {{0}};
    struct bff_router      *r;
    int                     ok = bff_router_pattern_check(pattern, &why);

    rc[0].path = pattern;
    rc[0].kind = len % 2 ? BFF_ROUTE_HANDLER : BFF_ROUTE_PROXY;
    rc[0].methods = BFF_M_ALL;
    r = bff_router_new(rc, 1);
    if (ok != 0) {
        FUZZ_CHECK(ok == BFF_EINVAL && why != NULL && why != (const char *)1,
                   "refused pattern without a reason");
        FUZZ_CHECK(r == NULL, "bff_router_new took a pattern the check refuses");
        free(pattern);
        return;
    }
    FUZZ_CHECK(why == NULL, "accepted pattern with a reason");
    FUZZ_CHECK(r != NULL, "bff_router_new refused \"%s\", which the check accepts",
               pattern);

    size_t                  np = 0, plen = 0, n = 0;
    char                   *path = fill(pattern, &np), *norm;
    size_t                  pl = strlen(path);
    struct bff_route_params ps;

    norm = malloc(pl + 1);
    if (norm == NULL)
        abort();
    FUZZ_CHECK(bff_path_normalize(path, pl, norm, pl + 1, &n) == 0 && n == pl &&
                   memcmp(norm, path, pl) == 0,
               "pattern \"%s\" is not in normal form", pattern);
    FUZZ_CHECK(bff_router_match(r, path, pl, &ps, &plen) == 0,
               "\"%s\" does not match its own pattern \"%s\"", path, pattern);
    FUZZ_CHECK(ps.n == np && plen == (strcmp(pattern, "/") ? pl : 0),
               "\"%s\" on \"%s\": %zu of %zu params, prefix %zu", path, pattern, ps.n,
               np, plen);
    for (size_t i = 0; i < ps.n; i++) {
        char want[24];
        snprintf(want, sizeof want, "v%zu", i);
        FUZZ_CHECK(ps.p[i].value_len == strlen(want) &&
                       memcmp(ps.p[i].value, want, ps.p[i].value_len) == 0,
                   "parameter %zu bound to the wrong segment", i);
    }
    free(norm);
    free(path);
    bff_router_free(r);
    free(pattern);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);

    if (nl != NULL) {
        check_pattern(data, (size_t)(nl - data));
        size -= (size_t)(nl + 1 - data);
        data = nl + 1;
    }
    check_normalize(data, size);
    check_pct(data, size);
    return 0;
}
