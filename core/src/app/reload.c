/* core/src/app/reload.c — a config reload (SIGHUP, POST /admin/reload): the
 * file loaded and validated into a new snapshot, installed only when whole;
 * a rejected one is counted, logged and kept for /admin/config, and the
 * config in force keeps serving. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "app/app.h"
#include "base/log.h"
#include "base/problem.h"
#include "bff/err.h"
#include "bff/headers.h"
#include "bff/server.h"
#include "bff/util.h"
#include "front/front.h"
#include "handlers/handlers.h"
#include "http/mhd_shim.h"
#include "loop/worker.h"
#include "pipeline/auth.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"
#include "snapshot/snapshot.h"
#include "snapshot/tls.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

/* SIGHUP (main thread) and POST /admin/reload (admin thread) may overlap;
 * one at a time, so the file read last is the config in force. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* Rejects a reload: counts it, logs each error, keeps them for
 * /admin/config (takes @msgs), and writes them to @err. */
static void reload_rejected(struct bff_server *srv, char *msgs, FILE *err)
{
    atomic_fetch_add(&srv->reloads_rejected, 1);
    log_event("error", "config reload rejected: %s; the config with sha256 %s keeps serving",
              srv->config_path, srv->snap->cfg->sha256);
    for (const char *p = msgs; p && *p;) {
        const char *nl = strchr(p, '\n');
        int         n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > 0) {
            log_event("error", "config reload: %.*s", n, p);
            if (err)
                fprintf(err, "%.*s\n", n, p);
        }
        p = nl ? nl + 1 : p + n;
    }
    pthread_mutex_lock(&srv->snap_lock);
    free(srv->rejected_errs);
    srv->rejected_errs = msgs;
    srv->rejected_at = bff_unix_now();
    pthread_mutex_unlock(&srv->snap_lock);
}

/* Loads the config file again, off the request path, and swaps it in; a
 * config that fails validation is rejected and the old one keeps serving.
 * Errors also go to @err when it is not NULL.
 * Requests in flight keep the snapshot they started with. Returns 0 or
 * BFF_EINVAL. Never called on a worker thread. */
int app_reload(struct bff_server *srv, FILE *err)
{
    char  *msgs = NULL;
    size_t msglen = 0;
    FILE  *mf;

    pthread_mutex_lock(&reload_lock);
    mf = open_memstream(&msgs, &msglen);
    struct bff_snapshot *s = snap_load(srv->app, srv->config_path, mf ? mf : stderr);
    if (mf)
        fclose(mf);
    if (!s) {
        reload_rejected(srv, msgs ? msgs : strdup("cannot load the config"), err);
        pthread_mutex_unlock(&reload_lock);
        return BFF_EINVAL;
    }
    free(msgs);
    if (res_snapshot_bind(srv->res, s) != 0) {
        snap_unref(s);
        reload_rejected(srv, strdup("out of memory binding the services"), err);
        pthread_mutex_unlock(&reload_lock);
        return BFF_ENOMEM;
    }
    const struct bff_config *old = srv->snap->cfg;
    if (strcmp(old->listen, s->cfg->listen) != 0 || old->workers != s->cfg->workers ||
        (old->admin_listen == NULL) != (s->cfg->admin_listen == NULL) ||
        (old->admin_listen && strcmp(old->admin_listen, s->cfg->admin_listen) != 0)) {
        if (err)
            fprintf(err, "%s: listen, admin_listen and workers take effect only on restart\n",
                    srv->config_path);
        log_event("warn", "config reload: listen, admin_listen and workers changes need a "
                          "restart");
    }
    /* The listener is HTTPS or plain from the start: tls: added by a reload
     * waits for a restart; tls: dropped keeps the certificate in force, as
     * the daemons still speak TLS. A changed file pair is the usual case:
     * new handshakes get it (front/tls.c). */
    int https = srv->nworkers > 0 && srv->workers[0].mhd_tls;
    if (https != (s->tls != NULL)) {
        if (err)
            fprintf(err, "%s: tls: %s takes effect only on restart%s\n", srv->config_path,
                    https ? "removed" : "added",
                    https ? "; the certificate in force keeps serving" : "");
        log_event("warn", "config reload: tls: %s needs a restart%s",
                  https ? "removed" : "added",
                  https ? "; the certificate in force keeps serving" : "");
        if (https)
            s->tls = tls_cert_ref(srv->snap->tls);
    }
    pthread_mutex_lock(&srv->snap_lock);
    struct bff_snapshot *old_s = srv->snap;
    srv->snap = s;
    pthread_mutex_unlock(&srv->snap_lock);
    snap_unref(old_s);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        atomic_store(&srv->workers[i].reload, 1);
        worker_wake(&srv->workers[i]);
    }
    atomic_fetch_add(&srv->reloads, 1);
    if (s->tls)
        log_event("info", "config reloaded: %s sha256 %s, certificate serial %s",
                  srv->config_path, s->cfg->sha256, tls_cert_serial(s->tls));
    else
        log_event("info", "config reloaded: %s sha256 %s", srv->config_path,
                  s->cfg->sha256);
    pthread_mutex_unlock(&reload_lock);
    return 0;
}

