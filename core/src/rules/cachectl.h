/* core/src/rules/cachectl.h — an upstream answer's Cache-Control, and what
 * it allows the gateway's answer cache to do (RFC 9111, RFC 5861)
 *
 * Pure: no clock, no I/O. upstream/cache.c decides with these rules; the
 * scoping SPEC §4 sets (a per-user entry unless the answer says `public`)
 * is here too, so that tests/unit/rules/test_cachectl.c covers it. */
#ifndef BFF_RULES_CACHECTL_H
#define BFF_RULES_CACHECTL_H

#include <stddef.h>
#include <stdint.h>

#define CC_NONE UINT32_MAX /* a delta-seconds directive that was not given */

struct cc_directives {
    unsigned no_store : 1, no_cache : 1, private_ : 1, public_ : 1,
        must_revalidate : 1, proxy_revalidate : 1;
    uint32_t max_age;                /* seconds, or CC_NONE */
    uint32_t s_maxage;               /* seconds, or CC_NONE */
    uint32_t stale_if_error;         /* RFC 5861; CC_NONE when absent */
    uint32_t stale_while_revalidate; /* RFC 5861; CC_NONE when absent */
};

/* Parses one Cache-Control field value (@len bytes; several fields are
 * parsed into the same @d one after the other, which is their list
 * combination). Directive names are case-insensitive; a value may be a
 * token or a quoted string; a delta-seconds that does not parse makes the
 * directive count as absent, except for max-age and s-maxage, which then
 * count as 0 (stale at once: RFC 9111 §4.2.1, "invalid ... treated as
 * stale"). Duplicates: the smallest value wins. Unknown directives are
 * ignored. */
void cc_init(struct cc_directives *d);
void cc_parse(struct cc_directives *d, const char *v, size_t len);

enum cc_scope {
    CC_NOT_KEPT = 0, /* never stored */
    CC_USER,         /* kept for the user whose request it answered */
    CC_SHARED,       /* kept for every user (public) */
};

struct cc_decision {
    enum cc_scope scope;
    uint32_t      fresh_s;       /* freshness lifetime */
    uint32_t      stale_error_s; /* past it, usable this long after a failure */
    uint32_t      stale_reval_s; /* past it, usable this long while refreshing */
};

/* What the cache may do with an answer of @status carrying @d, to a request
 * that named a user (@has_user) or none. Kept only with an explicit
 * lifetime (max-age, or s-maxage for a shared entry; no heuristics), a
 * status that is final and cacheable by default (200 203 204 300 301 404
 * 405 410 414 501), and neither no-store nor no-cache (the cache does not
 * revalidate); `public` makes it shared, `private` or nothing keeps it per
 * user, and an anonymous request's answer is kept only when public.
 * must-revalidate / proxy-revalidate forbid serving it stale. */
struct cc_decision cc_decide(const struct cc_directives *d, int status, int has_user);

#endif
