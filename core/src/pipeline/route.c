/* core/src/pipeline/route.c — the route steps: the path matched against the
 * routes (404), then what the route allows: its methods (405 with Allow)
 * and max_body against the announced Content-Length (413). */
#include <stdio.h>

#include "bff/router.h"
#include "pipeline/pipeline.h"
#include "request/request.h"
#include "types/snapshot-t.h"

static const char *allow_list(struct bff_arena *a, uint32_t methods)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT",
                                        "PATCH", "DELETE", "OPTIONS"};
    char   buf[64] = "";
    size_t n = 0;
    for (unsigned i = 0; i < 7; i++)
        if (methods & (1u << i))
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "",
                                  names[i]);
    return bff_arena_strdup(a, buf);
}

enum bff_step_result step_route(struct bff_request *r)
{
    int idx = bff_router_match(r->snap->router, r->path, r->path_len, &r->params,
                               &r->prefix_len);
    if (idx < 0) {
        req_problem(r, 404, "no route matches this path", NULL, 0);
        return STEP_DONE;
    }
    r->route_idx = idx;
    r->route = &r->snap->cfg->routes[idx];
    return STEP_NEXT;
}

enum bff_step_result step_allowed(struct bff_request *r)
{
    if (!(r->route->methods & r->mbit)) {
        struct bff_hdr h = {"Allow", allow_list(&r->arena, r->route->methods)};
        req_problem(r, 405, "this method is not allowed on this route", &h, 1);
        return STEP_DONE;
    }
    if (r->content_length > r->snap->cfg->limits.max_body) {
        step_refuse(r, 413, "the request body is larger than max_body");
        return STEP_DONE;
    }
    return STEP_NEXT;
}
