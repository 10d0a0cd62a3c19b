/* core/src/pipeline/auth.c — the auth step: the client's bearer token
 * verified once, at the edge (the worker's token cache first), and the
 * key set's share of a snapshot (jwks_file, or jwks_url fetched and kept
 * fresh by runtime/jwks_fetch.c). Roles: roles.c. docs/auth.md. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "bff/err.h"
#include "bff/headers.h"
#include "bff/jwt.h"
#include "bff/util.h"
#include "pipeline/auth.h"
#include "pipeline/pipeline.h"
#include "request/request.h"
#include "runtime/jwks_fetch.h"
#include "runtime/metrics.h"
#include "runtime/tokcache.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

/* Set once the first snapshot with auth.jwt is built (the start): from then
 * on, a reload whose new jwks_url cannot be fetched is refused (see below). */
static _Atomic int keys_ever;

int auth_snapshot_init(struct bff_snapshot *s, FILE *err)
{
    const struct bff_config *cfg = s->cfg;
    char                     why[256] = "";

    if (!cfg->auth.enabled)
        return 0;
    if (cfg->auth.jwks_url) {
        /* Shared with the snapshot in force when the URL is the same. A new
         * URL is fetched here (bounded wait); when that fails, a start goes
         * on not ready (503 on auth routes, /readyz says why, the fetch is
         * retried) but a reload is refused, so the set in force stays. */
        int failed = 0;
        s->jwks = jwks_src_get(cfg->auth.jwks_url, cfg->auth.jwks_refresh_ms, &failed,
                               why, sizeof(why));
        if (!s->jwks || (failed && atomic_load(&keys_ever))) {
            fprintf(err, "%s:%d:%d: jwks_url \"%s\": %s\n", cfg->path,
                    cfg->auth.pos.line, cfg->auth.pos.col, cfg->auth.jwks_url,
                    why[0] ? why : "cannot fetch");
            return BFF_EINVAL;
        }
    } else if (!(s->keys =
                     bff_keyset_load_file(cfg->auth.jwks_file, why, sizeof(why)))) {
        fprintf(err, "%s:%d:%d: jwks_file \"%s\": %s\n", cfg->path, cfg->auth.pos.line,
                cfg->auth.pos.col, cfg->auth.jwks_file, why[0] ? why : "cannot load");
        return BFF_EINVAL;
    }
    s->policy.algorithms = cfg->auth.algorithms;
    s->policy.issuer = cfg->auth.issuer;
    s->policy.audience = (const char *const *)cfg->auth.audience;
    s->policy.leeway_s = cfg->auth.leeway_ms / 1000;
    s->policy.claim_user_id = cfg->auth.claim_user_id;
    s->policy.claim_roles = cfg->auth.claim_roles;
    /* Verified tokens, per worker; without memory every token is verified.
     * BFF_TOKEN_CACHE=off turns it off (A/B runs: bench/auth.sh). */
    const char *tc = getenv("BFF_TOKEN_CACHE");
    if (!tc || strcmp(tc, "off") != 0)
        s->tokcache = tokcache_set_new(cfg->workers);
    atomic_store(&keys_ever, 1);
    return 0;
}

void auth_snapshot_cleanup(struct bff_snapshot *s)
{
    bff_keyset_unref(s->keys);
    s->keys = NULL;
    tokcache_set_free(s->tokcache); /* before the source: it holds its sets */
    s->tokcache = NULL;
    jwks_src_put(s->jwks);
    s->jwks = NULL;
}

/* @s made safe for an RFC 6750 quoted-string (error_description allows
 * %x20-21 / %x23-5B / %x5D-7E): anything else becomes '?'. Request memory. */
static const char *qstring_safe(struct bff_arena *a, const char *s)
{
    char *out = bff_arena_strdup(a, s);
    for (char *p = out; p && *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            *p = '?';
    return out ? out : "";
}

/* 401 with an RFC 6750 §3.1 challenge. @error NULL: no credentials were
 * sent (none, another scheme, or an empty token), so the challenge names the
 * realm only; else a token was sent and refused, and the challenge says
 * error="invalid_token" with @desc (the problem's detail) as
 * error_description. */
static void unauthorized(struct bff_request *r, const char *error, const char *desc)
{
    struct bff_hdr *h = bff_arena_alloc(&r->arena, sizeof(*h));
    if (!h) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    h->name = "WWW-Authenticate";
    if (!error)
        h->value = "Bearer realm=\"portico\"";
    else
        h->value = bff_arena_printf(&r->arena,
                                    "Bearer realm=\"portico\", error=\"%s\", "
                                    "error_description=\"%s\"",
                                    error, qstring_safe(&r->arena, desc));
    if (!h->value) {
        req_problem(r, 500, "out of memory", NULL, 0);
        return;
    }
    req_refuse_later(r, 401, desc, h, 1); /* on a limited route: after the budget */
}

/* Verifies @tok against the snapshot's key set: the worker's cache first,
 * then the verifier (and the cache is told). */
static enum bff_jwt_reason verify(struct bff_request *r, const char *tok, size_t len)
{
    struct bff_snapshot     *s = r->snap;
    struct tokcache         *tc = tokcache_worker(s->tokcache, r->w->id);
    struct jwks_hold         once = {0};
    const struct bff_keyset *ks = s->keys;
    uint64_t                 gen = 0;
    uint8_t                  key[32];
    int64_t                  now = bff_unix_now();
    enum bff_jwt_reason      why;

    if (s->jwks) {
        struct jwks_hold *h = tc ? tokcache_hold(tc) : &once;
        ks = jwks_hold_update(s->jwks, h);
        gen = h->gen;
        if (!ks) {
            jwks_hold_release(&once);
            return BFF_JWT_REASON_COUNT; /* no key set yet */
        }
    }
    if (tc && tokcache_get(tc, gen, tok, len, now, s->policy.leeway_s, &r->ident, key))
        return BFF_JWT_OK;
    why = bff_jwt_verify(ks, &s->policy, tok, len, now, &r->ident);
    if (why == BFF_JWT_OK && tc)
        tokcache_put(tc, gen, key, tok, len, &r->ident);
    if (why == BFF_JWT_UNKNOWN_KID && s->jwks)
        jwks_src_kick(s->jwks); /* this request is refused; a later one may pass */
    jwks_hold_release(&once);
    return why;
}

static int authenticate(struct bff_request *r)
{
    const struct bff_route_conf *route = r->route;
    const char                  *authz;

    r->authenticated = 0;
    if (route->auth == BFF_AUTH_NONE)
        return 0;
    /* Credentials are a Bearer token (the scheme is case-insensitive); no
     * Authorization header, another scheme (Basic, ...) or "Bearer" with
     * nothing after it is no credentials at all (RFC 6750 §3.1). */
    authz = req_header(r, "Authorization");
    size_t      len;
    const char *tok = bff_bearer_token(authz, &len);
    if (len == 0) {
        if (route->auth == BFF_AUTH_OPTIONAL)
            return 0;
        unauthorized(
            r, NULL,
            !authz ? "a bearer token is required"
            : tok  ? "a bearer token is required (the Bearer credentials are empty)"
                   : "a bearer token is required (the Authorization scheme is not "
                     "Bearer)");
        return 1;
    }
    if (!r->snap->keys && !r->snap->jwks) {
        req_problem(r, 500, "this route needs auth but auth.jwt is not configured", NULL, 0);
        return 1;
    }
    enum bff_jwt_reason why = verify(r, tok, len);
    if (why == BFF_JWT_REASON_COUNT) {
        struct bff_hdr *h = bff_arena_alloc(&r->arena, sizeof(*h));
        if (h)
            *h = (struct bff_hdr){"Retry-After", "1"};
        req_refuse_later(r, 503, "the key set from jwks_url is not loaded yet", h,
                         h ? 1 : 0);
        return 1;
    }
    if (why != BFF_JWT_OK) {
        metrics_jwt_refusal(r->w, why);
        unauthorized(r, "invalid_token", bff_jwt_reason_text(why));
        return 1;
    }
    r->authenticated = 1;
    return 0;
}

/* Authentication (auth: required / optional / none) with the snapshot's key
 * set: a refusal (401, or 503 while the jwks_url set is not loaded) is left
 * for later, so that the rate-limit step charges it too. */
enum bff_step_result step_auth(struct bff_request *r)
{
    if (authenticate(r) == 0)
        return STEP_NEXT;
    return r->answered ? STEP_DONE : STEP_REFUSED;
}

int auth_snapshot_ready(struct bff_snapshot *s, char *why, size_t cap)
{
    if (!s->cfg->auth.enabled)
        return 1;
    if (s->jwks) {
        struct jwks_health h;
        jwks_src_health(s->jwks, &h);
        if (h.keys == 0) {
            snprintf(why, cap, "no JWT key set from jwks_url yet%s%s",
                     h.last_error[0] ? ": " : "", h.last_error);
            return 0;
        }
        return 1;
    }
    if (!s->keys || bff_keyset_count(s->keys) == 0) {
        snprintf(why, cap, "the JWT key set is empty");
        return 0;
    }
    return 1;
}

char *auth_keys_health_json(struct bff_snapshot *s)
{
    json_object *o;
    char        *out = NULL;
    int64_t      now = bff_unix_now();

    if (!s->cfg->auth.enabled || !(o = json_object_new_object()))
        return NULL;
    if (s->jwks) {
        struct jwks_health h;
        jwks_src_health(s->jwks, &h);
        json_object_object_add(o, "source", json_object_new_string("jwks_url"));
        json_object_object_add(o, "url", json_object_new_string(jwks_src_url(s->jwks)));
        json_object_object_add(o, "keys", json_object_new_int64((int64_t)h.keys));
        json_object_object_add(o, "generation",
                               json_object_new_int64((int64_t)h.generation));
        json_object_object_add(o, "refresh_s",
                               json_object_new_int64(h.refresh_ms / 1000));
        json_object_object_add(o, "last_success",
                               h.last_success ? json_object_new_int64(h.last_success)
                                              : NULL);
        json_object_object_add(
            o, "age_s",
            h.last_success ? json_object_new_int64(now - h.last_success) : NULL);
        json_object_object_add(o, "changed_at",
                               h.last_change ? json_object_new_int64(h.last_change)
                                             : NULL);
        json_object_object_add(o, "last_error",
                               h.last_error[0] ? json_object_new_string(h.last_error)
                                               : NULL);
        json_object_object_add(o, "last_error_at",
                               h.last_error_at ? json_object_new_int64(h.last_error_at)
                                               : NULL);
        json_object_object_add(o, "fetches", json_object_new_int64((int64_t)h.fetches));
        json_object_object_add(o, "failures",
                               json_object_new_int64((int64_t)h.failures));
    } else {
        json_object_object_add(o, "source", json_object_new_string("jwks_file"));
        json_object_object_add(o, "path",
                               json_object_new_string(s->cfg->auth.jwks_file));
        json_object_object_add(
            o, "keys", json_object_new_int64((int64_t)bff_keyset_count(s->keys)));
        json_object_object_add(o, "changed_at",
                               json_object_new_int64(s->cfg->loaded_at));
    }
    const char *txt = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    out = txt ? strdup(txt) : NULL;
    json_object_put(o);
    return out;
}
