/* core/src/policy.h — what the edge decides before a request reaches a
 * service: authentication (JWT), roles, CORS, and the headers those add. */
#ifndef BFF_POLICY_H
#define BFF_POLICY_H

#include <stdio.h>
#include "types/internal.h"

/* Prepares the key set and JWT policy of snapshot @s. Prints problems to
 * @err as FILE:LINE:COL: message. Returns 0 or a negative bff_err. */
int policy_snapshot_init(struct bff_snapshot *s, FILE *err);
void policy_snapshot_cleanup(struct bff_snapshot *s);

/* Answers a CORS preflight for @r. Returns 1 when it answered. */
int policy_preflight(struct bff_request *r);
/* Authenticates and authorizes @r for its route. Returns 1 when it answered
 * (401, 403), 0 when the request may go on (r->authenticated set). */
int policy_check(struct bff_request *r);
/* Headers every response to @r carries (CORS); returns how many. */
size_t policy_response_headers(struct bff_request *r, struct bff_hdr *out, size_t cap);

/* Admin thread. 1 when snapshot @s can verify tokens (or needs none), else
 * 0 and a reason in @why: no key set (yet) from jwks_url, or none at all. */
int policy_snapshot_ready(struct bff_snapshot *s, char *why, size_t cap);
/* The key set's health for /readyz as a JSON object (malloc'd), or NULL when
 * auth.jwt is off: source, keys, and for jwks_url the last success, age,
 * last error and fetch counts. Admin thread. */
char *policy_keys_health_json(struct bff_snapshot *s);

#endif
