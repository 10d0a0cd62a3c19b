/* core/include/bff/router.h — path normalization and route matching */
#ifndef BFF_ROUTER_H
#define BFF_ROUTER_H

#include <stddef.h>
#include "bff/config.h"

#define BFF_MAX_PARAMS 8

/* Values point into the path given to bff_router_match(); names point into
 * the route table. Both stay valid while those do. Neither is NUL-terminated. */
struct bff_route_params {
    size_t n;
    struct {
        const char *name;
        size_t      name_len;
        const char *value;
        size_t      value_len;
    } p[BFF_MAX_PARAMS];
};

struct bff_router; /* immutable once built; safe to share between threads */

/* Builds a matcher over @routes (kept by pointer: they must outlive it).
 * Proxy and static routes match by prefix on whole segments ("/orders"
 * matches "/orders" and "/orders/o-1", never "/ordersx"); handler routes
 * match the whole path. "{name}" binds exactly one non-empty segment.
 * Returns NULL when out of memory or a pattern is malformed. */
struct bff_router *bff_router_new(const struct bff_route_conf *routes, size_t n);
void bff_router_free(struct bff_router *r);

/* Checks one route pattern by the rules bff_router_new() applies, so config
 * validation can report FILE:LINE:COL. A pattern starts with '/', "/" alone
 * is the root; otherwise it is 1 to 32 non-empty segments (no "//", no
 * trailing '/'), each a literal in normalized form (bytes 0x21-0x7e except
 * '{', '}', '?', '#'; no "." or ".."; escapes only as %XX with uppercase hex
 * and never of NUL or an unreserved character) or a whole-segment parameter
 * "{name}" (name: letters, digits, '_'; at most BFF_MAX_PARAMS, no name
 * twice). Returns 0, or BFF_EINVAL with a static English reason in @why
 * (@why may be NULL). (Addition to the original contract.) */
int bff_router_pattern_check(const char *pattern, const char **why);

/* Finds the most specific route for normalized @path (len bytes, no query):
 * at the first segment where two candidates differ a literal beats a
 * parameter, then the one with more segments wins, then an exact route beats
 * a prefix one, then the one written first. Returns the route index, or
 * BFF_ENOENT. @params and @prefix_len (bytes of @path the pattern covered)
 * may be NULL. */
int bff_router_match(const struct bff_router *r, const char *path, size_t len,
                     struct bff_route_params *params, size_t *prefix_len);

/* Normalizes the path of a request target (no query) into @out:
 * percent-encodings of unreserved characters are decoded (%2e -> '.',
 * %41 -> 'A'), other encodings are kept with uppercase hex, runs of '/' become
 * one, "." and ".." segments are resolved (RFC 3986 5.2.4).
 * Fails with BFF_EINVAL when the path does not start with '/', has a bad or
 * NUL (%00) escape, a raw control character or space, or ".." climbs above
 * the root; with BFF_ERANGE when @outcap (which must leave room for a NUL)
 * is too small. On success writes the NUL-terminated result and its length. */
int bff_path_normalize(const char *in, size_t len, char *out, size_t outcap,
                       size_t *outlen);

/* Returns 1 when raw request path @in (len bytes, no query) spells a dot
 * segment that a service could resolve but the gateway's normalization
 * does not see (docs/http.md, "Paths"): a segment, or a part of one
 * between an escaped '/' or '\' (%2F, %5C, any case) or a raw '\', that is
 * "." or ".." once "%2E" is decoded and anything from ';' on is dropped,
 * when it was spelled with an escape, was such a part, or had a ';'; or a
 * double-encoded '.', '/' or '\' (%252E, %252F, %255C). Plain "." and ".."
 * segments return 0 (bff_path_normalize() resolves them). Else 0. */
int bff_path_hidden_dots(const char *in, size_t len);

/* Percent-decodes @in (len bytes) into @out (at least len+1 bytes) and
 * NUL-terminates it. Fails with BFF_EINVAL on a bad escape or %00. */
int bff_pct_decode(const char *in, size_t len, char *out, size_t *outlen);

/* Percent-encodes @in for use as one path segment or query value: every
 * byte outside ALPHA / DIGIT / "-._~" becomes %XX. @out needs 3*strlen+1. */
void bff_pct_encode(const char *in, char *out);

#endif
