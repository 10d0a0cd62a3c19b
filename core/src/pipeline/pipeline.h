/* core/src/pipeline/pipeline.h — the per-request steps, as data
 *
 * A request runs an ordered table of steps (pipeline.c), in two phases: the
 * HEAD phase once the request line and headers are in (before any body is
 * read) and the BODY phase once the whole body is in. Every step has one
 * signature and answers, suspends or passes:
 *
 *   STEP_NEXT    go on with the next step
 *   STEP_DONE    the request is answered or suspended: stop here (a
 *                suspended request runs its phase again when resumed, so a
 *                step keeps what it decided on the request)
 *   STEP_REFUSED the step left a refusal for later (req_refuse_later): only
 *                steps marked after_refusal still run (the rate limit
 *                charges a refused token too); the refusal is answered at
 *                the end of the HEAD phase, or, when a step holds it
 *                (req_refusal_hold), in the BODY
 *                phase by the "refusal" step
 *
 * Adding a step: one file in pipeline/ with its function (and, when it has
 * per-snapshot or per-request state, its hooks), one entry in the table in
 * pipeline.c. Steps sit above the request object and below the handlers:
 * the "dispatch" step reaches a handler through srv->handle[kind]. */
#ifndef BFF_PIPELINE_PIPELINE_H
#define BFF_PIPELINE_PIPELINE_H

#include <stdio.h>

#include "types/request-t.h"

struct bff_snapshot;

enum bff_phase { BFF_PHASE_HEAD = 0, BFF_PHASE_BODY };

enum bff_step_result { STEP_NEXT = 0, STEP_DONE, STEP_REFUSED };

struct bff_step {
    const char *name;
    enum bff_phase phase;
    int after_refusal; /* runs when an earlier step refused for later */
    enum bff_step_result (*run)(struct bff_request *r);
    /* optional: the step's share of a snapshot (its config, built at load
     * and reload; 0 or -1 with the reason on @err), freed with it */
    int (*snapshot_init)(struct bff_snapshot *s, FILE *err);
    void (*snapshot_cleanup)(struct bff_snapshot *s);
    /* optional: the request completed (its per-request state) */
    void (*request_done)(struct bff_request *r);
};

/* Runs @phase's steps for @r. */
void pipeline_run(struct bff_request *r, enum bff_phase phase);
/* Every step's snapshot_init, in table order: 0, or -1 at the first that
 * fails (pipeline_snapshot_cleanup, run by the snapshot's last unref, frees
 * what was made; every cleanup takes a snapshot its init never saw). */
int pipeline_snapshot_init(struct bff_snapshot *s, FILE *err);
void pipeline_snapshot_cleanup(struct bff_snapshot *s);
/* Every step's request_done (the request completed). */
void pipeline_request_done(struct bff_request *r);
/* The table, for docs and tests: its entries and their number. */
const struct bff_step *pipeline_steps(size_t *n);

/* ---- the steps (one file each) ---------------------------------------------- */

enum bff_step_result step_cors_headers(struct bff_request *r);  /* cors.c */
enum bff_step_result step_preflight(struct bff_request *r);     /* cors.c */
enum bff_step_result step_head(struct bff_request *r);          /* head.c */
enum bff_step_result step_route(struct bff_request *r);         /* route.c */
enum bff_step_result step_allowed(struct bff_request *r);       /* route.c */
enum bff_step_result step_auth(struct bff_request *r);          /* auth.c */
enum bff_step_result step_roles(struct bff_request *r);         /* roles.c */
enum bff_step_result step_ratelimit_policy(struct bff_request *r); /* ratelimit.c */
enum bff_step_result step_ratelimit(struct bff_request *r);     /* ratelimit.c */
enum bff_step_result step_ratelimit_hold(struct bff_request *r); /* ratelimit.c */
enum bff_step_result step_body(struct bff_request *r);          /* body.c */
/* The trailer section of @r's chunked body breaks the head's field rules
 * (body.c): also checked at the end of a streamed body, before its last
 * chunk goes to the service. */
int pipeline_trailers_bad(struct bff_request *r);
enum bff_step_result step_idempotency(struct bff_request *r);   /* idempotency.c */
enum bff_step_result step_dispatch(struct bff_request *r);      /* dispatch.c */

/* The refusal left for later, answered (pipeline.c). */
enum bff_step_result step_refusal(struct bff_request *r);

/* A front-door refusal: answered at once with Connection: close, so that
 * libmicrohttpd reads nothing more from the connection (head.c). */
void step_refuse(struct bff_request *r, int status, const char *why);

#endif
