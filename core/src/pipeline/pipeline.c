/* core/src/pipeline/pipeline.c — the table of steps and its runner
 * (pipeline.h says what a step is and how to add one) */
#include <stddef.h>

#include "pipeline/auth.h"
#include "pipeline/idempotency.h"
#include "pipeline/pipeline.h"
#include "pipeline/ratelimit.h"
#include "request/request.h"

/* In order. HEAD: everything decided from the request line and headers,
 * before any body is read; BODY: once the body is in. */
static const struct bff_step steps[] = {
    {"cors", BFF_PHASE_HEAD, 0, step_cors_headers, NULL, NULL, NULL},
    {"head", BFF_PHASE_HEAD, 0, step_head, NULL, NULL, NULL},
    {"route", BFF_PHASE_HEAD, 0, step_route, NULL, NULL, NULL},
    {"ratelimit_policy", BFF_PHASE_HEAD, 0, step_ratelimit_policy, rl_snapshot_init,
     rl_snapshot_cleanup, rl_request_done},
    {"preflight", BFF_PHASE_HEAD, 0, step_preflight, NULL, NULL, NULL},
    {"allowed", BFF_PHASE_HEAD, 0, step_allowed, NULL, NULL, NULL},
    {"auth", BFF_PHASE_HEAD, 0, step_auth, auth_snapshot_init, auth_snapshot_cleanup,
     NULL},
    {"roles", BFF_PHASE_HEAD, 0, step_roles, NULL, NULL, NULL},
    {"ratelimit", BFF_PHASE_HEAD, 1, step_ratelimit, NULL, NULL, NULL},
    {"ratelimit_hold", BFF_PHASE_BODY, 0, step_ratelimit_hold, NULL, NULL, NULL},
    {"refusal", BFF_PHASE_BODY, 0, step_refusal, NULL, NULL, NULL},
    {"body", BFF_PHASE_BODY, 0, step_body, NULL, NULL, NULL},
    {"idempotency", BFF_PHASE_BODY, 0, step_idempotency, idem_snapshot_init,
     idem_snapshot_cleanup, idem_request_done},
    {"dispatch", BFF_PHASE_BODY, 0, step_dispatch, NULL, NULL, NULL},
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

const struct bff_step *pipeline_steps(size_t *n)
{
    *n = NSTEPS;
    return steps;
}

void pipeline_run(struct bff_request *r, enum bff_phase phase)
{
    int refused = 0;

    for (size_t i = 0; i < NSTEPS; i++) {
        const struct bff_step *s = &steps[i];
        if (s->phase != phase || (refused && !s->after_refusal))
            continue;
        enum bff_step_result res = s->run(r);
        if (res == STEP_DONE)
            return;
        if (res == STEP_REFUSED)
            refused = 1;
    }
    if (phase == BFF_PHASE_HEAD && r->refusal.pending && !r->refusal.held)
        req_refusal_answer(r);
}

enum bff_step_result step_refusal(struct bff_request *r)
{
    return req_refusal_answer(r) ? STEP_DONE : STEP_NEXT;
}

int pipeline_snapshot_init(struct bff_snapshot *s, FILE *err)
{
    for (size_t i = 0; i < NSTEPS; i++)
        if (steps[i].snapshot_init && steps[i].snapshot_init(s, err) != 0)
            return -1;
    return 0;
}

void pipeline_snapshot_cleanup(struct bff_snapshot *s)
{
    for (size_t i = NSTEPS; i-- > 0;)
        if (steps[i].snapshot_cleanup)
            steps[i].snapshot_cleanup(s);
}

void pipeline_request_done(struct bff_request *r)
{
    for (size_t i = 0; i < NSTEPS; i++)
        if (steps[i].request_done)
            steps[i].request_done(r);
}
