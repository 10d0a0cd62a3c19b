/* core/src/pipeline/dispatch.c — the last step: the route's handler runs
 * (proxy, aggregation or static). The handlers sit above the pipeline, so
 * they are reached through the server's table (srv->handle, set by app/). */
#include "pipeline/pipeline.h"
#include "request/request.h"
#include "types/worker-t.h"

enum bff_step_result step_dispatch(struct bff_request *r)
{
    unsigned kind = (unsigned)r->route->kind;
    void (*handle)(struct bff_request *) =
        kind < sizeof(r->w->srv->handle) / sizeof(r->w->srv->handle[0])
            ? r->w->srv->handle[kind]
            : NULL;
    if (!handle) {
        req_problem(r, 500, "this route's kind has no handler", NULL, 0);
        return STEP_DONE;
    }
    r->dispatched = 1;
    handle(r);
    return STEP_DONE;
}
