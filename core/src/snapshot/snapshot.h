/* core/src/snapshot/snapshot.h — the config in force (types/snapshot-t.h) */
#ifndef BFF_SNAPSHOT_SNAPSHOT_H
#define BFF_SNAPSHOT_SNAPSHOT_H

#include <stddef.h>
#include <stdio.h>

struct bff_app;
struct bff_server;
struct bff_snapshot;

struct bff_snapshot *snap_ref(struct bff_snapshot *s);
/* Drops a reference; the last one frees the snapshot (every share of it:
 * the pipeline steps', the metrics slots, the router, the config). */
void snap_unref(struct bff_snapshot *s);
/* Loads @path into a new snapshot with everything the request path needs
 * prepared. BFF_LISTEN and BFF_ADMIN_LISTEN, when set, override listen and
 * admin_listen, so that one file (one sha256) can run as several instances
 * on one host (docs/operations.md). On failure prints every problem as
 * FILE:LINE:COL: message (or FILE: message) to @err and returns NULL. */
struct bff_snapshot *snap_load(const struct bff_app *app, const char *path, FILE *err);
/* A reference to the server's snapshot in force (any thread). */
struct bff_snapshot *snap_current(struct bff_server *srv);
/* Whether snapshot @s can serve; else 0 and a reason in @why: no JWT key
 * set (yet), or a service a route uses known down. */
int snap_ready(struct bff_snapshot *s, char *why, size_t cap);

#endif
