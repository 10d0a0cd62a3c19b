/* core/src/snapshot/snapshot.c — the config in force: a snapshot loaded
 * from the file with everything the request path needs prepared (routes,
 * services, the pipeline steps' shares, the signing key, metrics slots),
 * reference counted; which one is current. Loaded on the main thread (start,
 * SIGHUP) or the admin thread (POST /admin/reload). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/config.h"
#include "bff/err.h"
#include "bff/router.h"
#include "bff/server.h"
#include "bff/sign.h"
#include "bff/util.h"
#include "pipeline/auth.h"
#include "pipeline/pipeline.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"
#include "snapshot/snapshot.h"
#include "snapshot/tls.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

struct bff_snapshot *snap_ref(struct bff_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void snap_unref(struct bff_snapshot *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    bff_router_free(s->router);
    pipeline_snapshot_cleanup(s);
    metrics_snapshot_cleanup(s);
    free(s->sign_key);
    tls_cert_unref(s->tls);
    free(s->services);
    bff_config_free(s->cfg);
    free(s);
}

/* Replaces *@field with the value of environment variable @name when it is
 * set and not empty. Returns 0, or BFF_ENOMEM. */
static int env_override(char **field, const char *name)
{
    const char *v = getenv(name);
    char       *copy;
    if (!v || !*v)
        return 0;
    if (!(copy = strdup(v)))
        return BFF_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* Loads @path into a new snapshot with everything the request path needs
 * prepared. BFF_LISTEN and BFF_ADMIN_LISTEN, when set, override listen and
 * admin_listen, so that one file (one sha256) can run as several instances
 * on one host (docs/operations.md). On failure prints every problem as
 * FILE:LINE:COL: message (or
 * FILE: message) to @err and returns NULL. */
struct bff_snapshot *snap_load(const struct bff_app *app, const char *path,
                                      FILE *err)
{
    struct bff_diag         diag = {0};
    struct bff_config_opts  opts = {app->endpoints, app->nendpoints};
    struct bff_snapshot    *s = NULL;
    struct bff_config      *cfg = bff_config_load(path, &opts, &diag);

    if (!cfg) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(err, "%s\n", diag.msgs[i]);
        if (diag.n == 0)
            fprintf(err, "%s: cannot load config\n", path);
        bff_diag_cleanup(&diag);
        return NULL;
    }
    bff_diag_cleanup(&diag);
    if (env_override(&cfg->listen, "BFF_LISTEN") != 0 ||
        env_override(&cfg->admin_listen, "BFF_ADMIN_LISTEN") != 0)
        goto fail;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    atomic_init(&s->refs, 1);
    s->cfg = cfg;
    s->services = calloc(cfg->nservices ? cfg->nservices : 1, sizeof(*s->services));
    s->router = bff_router_new(cfg->routes, cfg->nroutes);
    if (!s->services || !s->router) {
        fprintf(err, "%s: out of memory building the route table\n", path);
        goto fail;
    }
    for (size_t i = 0; i < cfg->nservices; i++)
        s->services[i].conf = &cfg->services[i];
    if (pipeline_snapshot_init(s, err) != 0)
        goto fail;
    if (cfg->auth.internal_signing_key_file) {
        const char *why = NULL;
        int rc = bff_sign_key_load(cfg->auth.internal_signing_key_file, &s->sign_key,
                                   &s->sign_keylen, &why);
        if (rc != 0) {
            fprintf(err, "%s:%d:%d: internal_signing_key_file \"%s\": %s\n", path,
                    cfg->auth.pos.line, cfg->auth.pos.col,
                    cfg->auth.internal_signing_key_file, why ? why : bff_strerror(rc));
            goto fail;
        }
    }
    if (cfg->tls.cert) {
        char why[768];
        int  which = 0;
        if (!(s->tls = tls_cert_load(cfg->tls.cert, cfg->tls.key, why, sizeof(why),
                                     &which))) {
            const struct bff_pos *at = which ? &cfg->tls.key_pos : &cfg->tls.cert_pos;
            fprintf(err, "%s:%d:%d: tls.%s: %s\n", path, at->line, at->col,
                    which ? "key" : "cert", why);
            goto fail;
        }
    }
    if (metrics_snapshot_init(s) != 0) {
        fprintf(err, "%s: out of memory building the metrics table\n", path);
        goto fail;
    }
    return s;
fail:
    if (s) {
        s->cfg = cfg;
        atomic_store(&s->refs, 1);
        snap_unref(s);
    } else {
        bff_config_free(cfg);
    }
    return NULL;
}

struct bff_snapshot *snap_current(struct bff_server *srv)
{
    pthread_mutex_lock(&srv->snap_lock);
    struct bff_snapshot *s = snap_ref(srv->snap);
    pthread_mutex_unlock(&srv->snap_lock);
    return s;
}

/* Whether snapshot @s can serve; else 0 and a reason in @why. */
int snap_ready(struct bff_snapshot *s, char *why, size_t cap)
{
    if (!auth_snapshot_ready(s, why, cap)) /* no JWT key set (yet) */
        return 0;
    /* a service that a route uses and that is known down (health checks,
     * refused connections; an open circuit alone does not count: see
     * docs/resilience.md) */
    char down[256];
    if (res_snapshot_down_json(s, down, sizeof(down)) > 0) {
        snprintf(why, cap, "required services are down: %.64s", down);
        return 0;
    }
    return 1;
}

