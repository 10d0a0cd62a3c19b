/* core/src/pipeline/cors.c — CORS: the response headers of a configured
 * origin (pushed on the request first, so that every answer carries them,
 * refusals included) and the preflight answer (SPEC §3 cors). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bff/config.h"
#include "pipeline/pipeline.h"
#include "request/request.h"
#include "types/snapshot-t.h"

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

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * of a routed path is answered here: 204 with the allowed method and the
 * configured headers, or 403. */
enum bff_step_result step_preflight(struct bff_request *r)
{
    const char *acrm = req_header(r, "Access-Control-Request-Method");
    if (r->mbit != BFF_M_OPTIONS || !acrm || !req_header(r, "Origin") ||
        !r->snap->cfg->cors.origins)
        return STEP_NEXT;
    const char *origin = allowed_origin(r);
    if (!origin) {
        req_problem(r, 403, "this origin is not allowed", NULL, 0);
        return STEP_DONE;
    }
    uint32_t m = bff_method_bit(acrm);
    if (!m || !(r->route->methods & m)) {
        req_problem(r, 403, "this method is not allowed on this route", NULL, 0);
        return STEP_DONE;
    }
    /* The allowed request headers are the configured list (cors.headers),
     * never an echo of what was asked: a browser then refuses a request
     * with any other header before it is sent. */
    struct bff_hdr h[4];
    size_t         n = 0;
    h[n++] = (struct bff_hdr){"Access-Control-Allow-Methods", acrm};
    h[n++] = (struct bff_hdr){"Access-Control-Allow-Headers",
                              r->snap->cfg->cors.allow_headers};
    h[n++] = (struct bff_hdr){"Access-Control-Max-Age",
                              bff_arena_printf(&r->arena, "%u",
                                               r->snap->cfg->cors.max_age_ms / 1000)};
    req_respond(r, 204, NULL, NULL, 0, 0, h, n);
    return STEP_DONE;
}

/* The CORS response headers, pushed before anything can answer: Vary:
 * Origin whenever origins are configured, the rest for an allowed one. */
enum bff_step_result step_cors_headers(struct bff_request *r)
{
    if (!r->snap->cfg->cors.origins)
        return STEP_NEXT;
    const char *origin = allowed_origin(r);
    req_push_header(r, "Vary", "Origin");
    if (!origin)
        return STEP_NEXT;
    req_push_header(r, "Access-Control-Allow-Origin", origin);
    if (r->snap->cfg->cors.credentials)
        req_push_header(r, "Access-Control-Allow-Credentials", "true");
    /* what the page's JavaScript may read: response.headers.get() and the
     * Resource Timing entries (Server-Timing among them) of this origin */
    req_push_header(r, "Access-Control-Expose-Headers", BFF_CORS_EXPOSE_HEADERS);
    req_push_header(r, "Timing-Allow-Origin", origin);
    return STEP_NEXT;
}
