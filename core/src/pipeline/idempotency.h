/* core/src/pipeline/idempotency.h — the Idempotency-Key step's hooks
 * (the step itself is declared in pipeline.h; what it does: idempotency.c
 * and docs/idempotency.md). */
#ifndef BFF_PIPELINE_IDEMPOTENCY_H
#define BFF_PIPELINE_IDEMPOTENCY_H

#include <stdio.h>

struct bff_snapshot;
struct bff_request;

/* The snapshot's store (a reference on the process's memory store) and
 * its ttl, max_body and on_store_error; nothing when no route opts in. */
int  idem_snapshot_init(struct bff_snapshot *s, FILE *err);
void idem_snapshot_cleanup(struct bff_snapshot *s);
/* @r completed: a claim whose answer was never seen is released. */
void idem_request_done(struct bff_request *r);

#endif
