/* core/src/rules/cachectl.c — Cache-Control parsing and the cache's rules
 * (see cachectl.h) */
#include <string.h>
#include <strings.h>

#include "rules/cachectl.h"

void cc_init(struct cc_directives *d)
{
    memset(d, 0, sizeof(*d));
    d->max_age = d->s_maxage = d->stale_if_error = d->stale_while_revalidate = CC_NONE;
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* delta-seconds (RFC 9111 §1.2.2): 1*DIGIT; a value past 2^31 counts as
 * 2^31. Returns 0, or -1 when @v is not one. */
static int delta(const char *v, size_t n, uint32_t *out)
{
    uint64_t x = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x < 2147483648u)
            x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x > 2147483648u ? 2147483648u : (uint32_t)x;
    return 0;
}

static void keep_min(uint32_t *slot, uint32_t v)
{
    if (*slot == CC_NONE || v < *slot)
        *slot = v;
}

static int named(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

void cc_parse(struct cc_directives *d, const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t ns = i;
        while (i < len && v[i] != '=' && v[i] != ',' && !is_ows(v[i]))
            i++;
        size_t      nl = i - ns;
        const char *val = NULL;
        size_t      vl = 0;
        while (i < len && is_ows(v[i]))
            i++;
        if (i < len && v[i] == '=') {
            i++;
            while (i < len && is_ows(v[i]))
                i++;
            if (i < len && v[i] == '"') { /* quoted-string */
                val = v + ++i;
                while (i < len && v[i] != '"') {
                    if (v[i] == '\\' && i + 1 < len)
                        i++;
                    i++;
                }
                vl = (size_t)(v + i - val);
                if (i < len)
                    i++; /* the closing quote */
            } else {
                val = v + i;
                while (i < len && v[i] != ',' && !is_ows(v[i]))
                    i++;
                vl = (size_t)(v + i - val);
            }
        }
        while (i < len && v[i] != ',')
            i++; /* anything else up to the next directive */
        if (nl == 0)
            continue;
        const char *nm = v + ns;
        uint32_t    s = 0;
        int         ok = val ? delta(val, vl, &s) == 0 : 0;
        if (named(nm, nl, "no-store"))
            d->no_store = 1;
        else if (named(nm, nl, "no-cache"))
            d->no_cache = 1; /* with a field list too: we keep no partial entries */
        else if (named(nm, nl, "private"))
            d->private_ = 1;
        else if (named(nm, nl, "public"))
            d->public_ = 1;
        else if (named(nm, nl, "must-revalidate"))
            d->must_revalidate = 1;
        else if (named(nm, nl, "proxy-revalidate"))
            d->proxy_revalidate = 1;
        else if (named(nm, nl, "max-age"))
            keep_min(&d->max_age, ok ? s : 0);
        else if (named(nm, nl, "s-maxage"))
            keep_min(&d->s_maxage, ok ? s : 0);
        else if (named(nm, nl, "stale-if-error") && ok)
            keep_min(&d->stale_if_error, s);
        else if (named(nm, nl, "stale-while-revalidate") && ok)
            keep_min(&d->stale_while_revalidate, s);
    }
}

static int cacheable_status(int status)
{
    static const int ok[] = {200, 203, 204, 300, 301, 404, 405, 410, 414, 501};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (status == ok[i])
            return 1;
    return 0;
}

struct cc_decision cc_decide(const struct cc_directives *d, int status, int has_user)
{
    struct cc_decision out = {CC_NOT_KEPT, 0, 0, 0};
    if (d->no_store || d->no_cache || !cacheable_status(status))
        return out;
    /* `private` wins over `public` when an answer says both */
    enum cc_scope scope = d->public_ && !d->private_ ? CC_SHARED : CC_USER;
    if (scope == CC_USER && !has_user)
        return out; /* no user to keep it for */
    uint32_t life = d->max_age;
    if (scope == CC_SHARED && d->s_maxage != CC_NONE)
        life = d->s_maxage; /* s-maxage is for shared caches only */
    if (life == CC_NONE)
        return out; /* no explicit lifetime: no heuristic freshness here */
    int may_stale = !d->must_revalidate && !(scope == CC_SHARED && d->proxy_revalidate) &&
                    !(scope == CC_SHARED && d->s_maxage != CC_NONE);
    /* (s-maxage implies proxy-revalidate for a shared cache: RFC 9111 §5.2.2.10) */
    out.fresh_s = life;
    if (may_stale) {
        out.stale_error_s = d->stale_if_error == CC_NONE ? 0 : d->stale_if_error;
        out.stale_reval_s =
            d->stale_while_revalidate == CC_NONE ? 0 : d->stale_while_revalidate;
    }
    if (out.fresh_s == 0 && out.stale_error_s == 0 && out.stale_reval_s == 0)
        return out; /* never usable: not worth a slot */
    out.scope = scope;
    return out;
}
