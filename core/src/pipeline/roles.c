/* core/src/pipeline/roles.c — the roles step: a route's roles: list against
 * the verified token's roles (any one of them is enough). A refusal (403)
 * is left for later, like auth's, for the rate-limit step. */
#include "bff/jwt.h"
#include "pipeline/pipeline.h"
#include "request/request.h"

enum bff_step_result step_roles(struct bff_request *r)
{
    if (!r->authenticated || !r->route->roles ||
        bff_roles_match(r->ident.roles, r->route->roles))
        return STEP_NEXT;
    req_refuse_later(r, 403, "the token has none of the roles this route needs", NULL, 0);
    return STEP_REFUSED;
}
