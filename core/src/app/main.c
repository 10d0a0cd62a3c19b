/* core/src/app/main.c — the process: flags, the first config, the workers
 * and the admin listener started, signals (SIGHUP reload, SIGTERM/SIGINT
 * drain), the drain and the exit. bff_main() is what a BFF's main() calls. */
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
#include "handlers/websocket.h"
#include "http/mhd_shim.h"
#include "loop/worker.h"
#include "pipeline/auth.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"
#include "snapshot/snapshot.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

#ifndef BFF_VERSION /* meson passes project().version */
#define BFF_VERSION "0.1.0"
#endif
#ifndef BFF_SYSCONFDIR /* meson passes its sysconfdir (default /etc) */
#define BFF_SYSCONFDIR "/etc"
#endif

/* The installed default of @app's config: SYSCONFDIR/portico/ and the file
 * name of app->default_config ("/etc/portico/bff-mobile.yaml"), in @buf. */
static const char *installed_config(const struct bff_app *app, char *buf, size_t size)
{
    const char *base = strrchr(app->default_config, '/');
    snprintf(buf, size, "%s/portico/%s", BFF_SYSCONFDIR,
             base ? base + 1 : app->default_config);
    return buf;
}

static void usage(const struct bff_app *app, FILE *f)
{
    char installed[512];
    installed_config(app, installed, sizeof(installed));
    fprintf(f,
            "Usage: %s [--config FILE] [--check-config] [--version] [--help]\n"
            "\n"
            "  --config FILE    the YAML config. Default: $BFF_CONFIG when set, else\n"
            "                   %s when that file exists (relative\n"
            "                   to the working directory: the source tree), else\n"
            "                   %s (installed)\n"
            "  --check-config   load and validate the config, print \"OK <sha256>\" and\n"
            "                   exit 0, or print every error as FILE:LINE:COL: message\n"
            "                   and exit 1\n"
            "  --version        print the version and exit\n"
            "  --help           print this help and exit\n"
            "\n"
            "Signals: SIGHUP reloads the config (a config that fails validation is\n"
            "rejected and the old one keeps serving); SIGTERM/SIGINT stop accepting,\n"
            "finish in-flight requests (up to drain_timeout) and exit 0.\n"
            "Exit status: 0 done, 1 a config that does not load or a listener that\n"
            "does not start, 2 bad flags.\n",
            app->name, app->default_config, installed);
}

int bff_main(const struct bff_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char       *path = getenv("BFF_CONFIG");
    char              installed[512];
    int               check = 0, opt;
    struct bff_server srv = {0};
    int               status = 1;

    /* A fixed mmap threshold keeps glibc from growing it after large frees
     * (which parks freed buffers in the heap for good); no top pad. Peak RSS
     * under the yardstick's load: 20 -> 16 MiB. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    mallopt(M_TOP_PAD, 0);
    if (!path || !*path) {
        /* the source tree's relative file, else the installed one; when
         * neither is there, say so naming both */
        path = app->default_config;
        if (access(path, F_OK) != 0) {
            path = installed_config(app, installed, sizeof(installed));
            if (access(path, F_OK) != 0)
                path = NULL;
        }
    }
    while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check = 1; break;
        case 'V': printf("%s %s\n", app->name, BFF_VERSION); return 0;
        case 'h': usage(app, stdout); return 0;
        default: usage(app, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", app->name, argv[optind]);
        usage(app, stderr);
        return 2;
    }
    if (!path) {
        fprintf(stderr,
                "%s: no config: neither %s nor %s exists; pass --config FILE or set "
                "BFF_CONFIG\n",
                app->name, app->default_config,
                installed_config(app, installed, sizeof(installed)));
        return 1;
    }

    if (mhd_shim_init() != 0) {
        fprintf(stderr, "%s: cannot find libmicrohttpd's own functions (dlsym)\n",
                app->name);
        return 1;
    }
    if (up_global_init() != 0) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", app->name);
        return 1;
    }
    srv.app = app;
    srv.config_path = path;
    /* what the pipeline's dispatch step runs for each kind of route */
    srv.handle[BFF_ROUTE_PROXY] = ws_or_proxy_start; /* handlers/websocket.c */
    srv.handle[BFF_ROUTE_HANDLER] = agg_start;
    srv.handle[BFF_ROUTE_STATIC] = static_serve;
    srv.started_at = bff_unix_now();
    pthread_mutex_init(&srv.snap_lock, NULL);
    srv.snap = snap_load(app, path, check ? stdout : stderr);
    if (!srv.snap)
        goto out;
    if (check) {
        printf("OK %s\n", srv.snap->cfg->sha256);
        status = 0;
        goto out;
    }
    srv.res = res_registry_new();
    if (!srv.res || res_snapshot_bind(srv.res, srv.snap) != 0) {
        fprintf(stderr, "%s: out of memory\n", app->name);
        goto out;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    const struct bff_config *cfg = srv.snap->cfg;
    srv.nworkers = cfg->workers ? cfg->workers : 1;
    srv.workers = calloc(srv.nworkers, sizeof(*srv.workers));
    if (!srv.workers || metrics_init(srv.nworkers) != 0)
        goto out;
    /* Every worker has its own SO_REUSEPORT socket on one port: the first
     * binds the configured address, the others the address it got, so that
     * a port of 0 (any free one) is the same port for all of them. */
    char bound[128] = "", admin_bound[128] = "";
    for (unsigned i = 0; i < srv.nworkers; i++) {
        char err[256];
        struct bff_worker *w = &srv.workers[i];
        w->srv = &srv;
        w->id = i;
        w->snap = snap_ref(srv.snap);
        w->metrics = metrics_worker(i);
        w->listen_fd = server_listen(i ? bound : cfg->listen, 1, err, sizeof(err));
        if (w->listen_fd < 0) {
            fprintf(stderr, "%s: listen %s: %s\n", path, i ? bound : cfg->listen, err);
            srv.nworkers = i + 1;
            goto stop;
        }
        if (i == 0 && server_bound_addr(w->listen_fd, bound, sizeof(bound)) != 0) {
            fprintf(stderr, "%s: listen %s: %s\n", path, cfg->listen, strerror(errno));
            srv.nworkers = i + 1;
            goto stop;
        }
        if (worker_start(w) != 0) {
            fprintf(stderr, "%s: cannot start worker %u\n", app->name, i);
            srv.nworkers = i + 1;
            goto stop;
        }
    }
    if (cfg->admin_listen) {
        char err[256];
        int  fd = server_listen(cfg->admin_listen, 0, err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "%s: admin_listen %s: %s\n", path, cfg->admin_listen, err);
            goto stop;
        }
        if (server_bound_addr(fd, admin_bound, sizeof(admin_bound)) != 0) {
            fprintf(stderr, "%s: admin_listen %s: %s\n", path, cfg->admin_listen,
                    strerror(errno));
            close(fd);
            goto stop;
        }
        if (admin_start(&srv, fd) != 0) {
            close(fd);
            fprintf(stderr, "%s: cannot start the admin listener\n", app->name);
            goto stop;
        }
    }
    if (res_health_start(srv.res, up_probe_get) != 0) {
        fprintf(stderr, "%s: cannot start the health checker\n", app->name);
        goto stop;
    }
    log_listening(bound, cfg->admin_listen ? admin_bound : NULL); /* before ready */
    atomic_store(&srv.ready, 1);
    log_event("info",
              "%s %s listening on %s (admin %s), %u workers, config %s sha256 %s",
              app->name, BFF_VERSION, bound, cfg->admin_listen ? admin_bound : "off",
              srv.nworkers, path, cfg->sha256);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            app_reload(&srv, NULL); /* errors go to the log */
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
    }

    /* Drain (docs/operations.md). /readyz answers 503 at once and answers
     * say Connection: close; the listeners keep accepting for a grace period,
     * min(1 s, drain_timeout / 4), so that a load balancer polling /readyz
     * takes this instance out before connections are refused; then they
     * close, and in-flight requests get what is left of drain_timeout
     * (counted from the signal). A second SIGTERM/SIGINT cuts it short. */
    atomic_store(&srv.draining, 1);
    {
        struct bff_snapshot *ds = snap_current(&srv); /* POST /admin/reload may swap */
        uint32_t             drain_ms = ds->cfg->drain_timeout_ms;
        snap_unref(ds);
        uint32_t grace_ms = drain_ms / 4 < 1000 ? drain_ms / 4 : 1000;
        uint64_t t0 = bff_now_ms(), deadline = t0 + drain_ms;
        int      quiesced = 0, hurry = 0;
        log_event("info", "draining: not ready; accepting for %u ms more, then up to %u ms "
                          "for in-flight requests",
                  grace_ms, drain_ms);
        for (;;) {
            uint64_t now = bff_now_ms();
            if (!quiesced && (hurry || now >= t0 + grace_ms)) {
                for (unsigned i = 0; i < srv.nworkers; i++) {
                    atomic_store(&srv.workers[i].quiesce, 1);
                    worker_wake(&srv.workers[i]);
                }
                quiesced = 1;
            }
            uint32_t busy = 0;
            for (unsigned i = 0; i < srv.nworkers; i++)
                busy += atomic_load(&srv.workers[i].in_flight);
            if (hurry || now >= deadline || (quiesced && busy == 0)) {
                if (busy)
                    log_event("warn", "drain: %u requests still in flight are cut off",
                              busy);
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            int             sig = sigtimedwait(&set, NULL, &ts);
            if (sig == SIGTERM || sig == SIGINT)
                hurry = 1;
        }
    }
    status = 0;
stop:
    for (unsigned i = 0; i < srv.nworkers; i++) {
        atomic_store(&srv.workers[i].stop, 1);
        worker_wake(&srv.workers[i]);
    }
    for (unsigned i = 0; i < srv.nworkers; i++) {
        struct bff_worker *w = &srv.workers[i];
        if (w->thread)
            pthread_join(w->thread, NULL);
        else if (w->listen_fd > 0)
            close(w->listen_fd);
        snap_unref(w->snap);
    }
    if (srv.admin)
        MHD_stop_daemon(srv.admin);
    free(srv.workers);
    if (status == 0)
        log_event("info", "%s stopped", app->name);
out:
    if (srv.snap)
        snap_unref(srv.snap);
    free(srv.rejected_errs);
    res_registry_free(srv.res); /* stops the health checker */
    metrics_cleanup();
    pthread_mutex_destroy(&srv.snap_lock);
    up_global_cleanup();
    return status;
}
