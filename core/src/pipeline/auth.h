/* core/src/pipeline/auth.h — what the auth step tells the admin side */
#ifndef BFF_PIPELINE_AUTH_H
#define BFF_PIPELINE_AUTH_H

#include <stddef.h>
#include <stdio.h>

struct bff_snapshot;

/* The auth step's share of a snapshot (pipeline.c's table calls these). */
int auth_snapshot_init(struct bff_snapshot *s, FILE *err);
void auth_snapshot_cleanup(struct bff_snapshot *s);
/* 1 when @s can verify tokens (or auth is off); else 0 with a reason. */
int auth_snapshot_ready(struct bff_snapshot *s, char *why, size_t cap);
/* The key set's health for /readyz and /admin/config (malloc'd JSON), NULL
 * when auth is off. */
char *auth_keys_health_json(struct bff_snapshot *s);

#endif
