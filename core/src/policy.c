/* core/src/policy.c — authentication, roles and CORS at the edge */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bff/err.h"
#include "bff/jwt.h"
#include "bff/util.h"
#include "policy.h"

int policy_snapshot_init(struct bff_snapshot *s, FILE *err)
{
    const struct bff_config *cfg = s->cfg;
    char                     why[256] = "";

    if (!cfg->auth.enabled)
        return 0;
    if (cfg->auth.jwks_url) {
        fprintf(err, "%s:%d:%d: auth.jwt.jwks_url is not supported yet; use jwks_file\n",
                cfg->path, cfg->auth.pos.line, cfg->auth.pos.col);
        return BFF_EINVAL;
    }
    s->keys = bff_keyset_load_file(cfg->auth.jwks_file, why, sizeof(why));
    if (!s->keys) {
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
    return 0;
}

void policy_snapshot_cleanup(struct bff_snapshot *s)
{
    bff_keyset_unref(s->keys);
    s->keys = NULL;
}

static const char *allowed_origin(struct bff_request *r)
{
    const char *origin = req_header(r, "Origin");
    char *const *o = r->snap->cfg->cors.origins;
    if (!origin || !o)
        return NULL;
    for (; *o; o++) {
        if (strcmp(*o, "*") == 0)
            return r->snap->cfg->cors.credentials ? origin : "*";
        if (strcasecmp(*o, origin) == 0)
            return origin;
    }
    return NULL;
}

int policy_preflight(struct bff_request *r)
{
    const char *acrm = req_header(r, "Access-Control-Request-Method");
    if (r->mbit != BFF_M_OPTIONS || !acrm || !req_header(r, "Origin") ||
        !r->snap->cfg->cors.origins)
        return 0;
    const char *origin = allowed_origin(r);
    if (!origin) {
        req_problem(r, 403, "this origin is not allowed", NULL, 0);
        return 1;
    }
    uint32_t m = bff_method_bit(acrm);
    if (!m || !(r->route->methods & m)) {
        req_problem(r, 403, "this method is not allowed on this route", NULL, 0);
        return 1;
    }
    struct bff_hdr h[4];
    size_t         n = 0;
    h[n++] = (struct bff_hdr){"Access-Control-Allow-Methods", acrm};
    const char *acrh = req_header(r, "Access-Control-Request-Headers");
    if (acrh)
        h[n++] = (struct bff_hdr){"Access-Control-Allow-Headers", acrh};
    h[n++] = (struct bff_hdr){"Access-Control-Max-Age",
                              bff_arena_printf(&r->arena, "%u",
                                               r->snap->cfg->cors.max_age_ms / 1000)};
    req_respond(r, 204, NULL, NULL, 0, 0, h, n);
    return 1;
}

size_t policy_response_headers(struct bff_request *r, struct bff_hdr *out, size_t cap)
{
    size_t n = 0;
    if (!r->snap->cfg->cors.origins || cap < 3)
        return 0;
    const char *origin = allowed_origin(r);
    out[n++] = (struct bff_hdr){"Vary", "Origin"};
    if (!origin)
        return n;
    out[n++] = (struct bff_hdr){"Access-Control-Allow-Origin", origin};
    if (r->snap->cfg->cors.credentials)
        out[n++] = (struct bff_hdr){"Access-Control-Allow-Credentials", "true"};
    return n;
}

static void unauthorized(struct bff_request *r, const char *error, const char *desc)
{
    struct bff_hdr h = {"WWW-Authenticate",
                        bff_arena_printf(&r->arena,
                                         "Bearer realm=\"portico\", error=\"%s\", "
                                         "error_description=\"%s\"",
                                         error, desc)};
    req_problem(r, 401, desc, &h, 1);
}

int policy_check(struct bff_request *r)
{
    const struct bff_route_conf *route = r->route;
    const char                  *authz;

    r->authenticated = 0;
    if (route->auth == BFF_AUTH_NONE)
        return 0;
    authz = req_header(r, "Authorization");
    if (!authz) {
        if (route->auth == BFF_AUTH_OPTIONAL)
            return 0;
        unauthorized(r, "invalid_token", "a bearer token is required");
        return 1;
    }
    if (strncasecmp(authz, "Bearer ", 7) != 0) {
        unauthorized(r, "invalid_request", "the Authorization scheme must be Bearer");
        return 1;
    }
    const char *tok = authz + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (!r->snap->keys) {
        req_problem(r, 500, "this route needs auth but auth.jwt is not configured", NULL, 0);
        return 1;
    }
    enum bff_jwt_reason why = bff_jwt_verify(r->snap->keys, &r->snap->policy, tok, len,
                                             bff_unix_now(), &r->ident);
    if (why != BFF_JWT_OK) {
        unauthorized(r, "invalid_token", bff_jwt_reason_text(why));
        return 1;
    }
    r->authenticated = 1;
    if (route->roles && !bff_roles_match(r->ident.roles, route->roles)) {
        req_problem(r, 403, "the token has none of the roles this route needs", NULL, 0);
        return 1;
    }
    return 0;
}
