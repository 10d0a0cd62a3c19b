/* core/src/app/admin.c — the admin listener (SPEC §5): /healthz, /readyz,
 * /metrics, /admin/config, /admin/resilience, POST /admin/reload, locked
 * with admin_token_file. Its own libmicrohttpd daemon and thread. */
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
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "app/app.h"
#include "base/log.h"
#include "base/problem.h"
#include "bff/err.h"
#include "bff/headers.h"
#include "bff/server.h"
#include "bff/util.h"
#include "bff/http_strict.h"
#include "front/front.h"
#include "http/mhd_head.h"
#include "handlers/handlers.h"
#include "http/mhd_shim.h"
#include "loop/worker.h"
#include "pipeline/auth.h"
#include "runtime/metrics.h"
#include "runtime/resilience.h"
#include "snapshot/snapshot.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"
#include "upstream/upstream.h"

/* Queues @body (heap, taken over; NULL is out of memory) with @ctype and
 * no-store, and @hdr: @val when @hdr is not NULL. */
static enum MHD_Result admin_reply_hdr(struct MHD_Connection *c, unsigned status,
                                       const char *ctype, char *body, const char *hdr,
                                       const char *val)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hdr)
        MHD_add_response_header(resp, hdr, val);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result admin_reply(struct MHD_Connection *c, unsigned status,
                                   const char *ctype, char *body)
{
    return admin_reply_hdr(c, status, ctype, body, NULL, NULL);
}

/* An admin answer in problem+json (RFC 9457): @detail and @instance may be
 * NULL; @hdr/@val, when not NULL, one more header (a challenge, or
 * Connection: close). */
static enum MHD_Result admin_problem(struct MHD_Connection *c, unsigned status,
                                     const char *detail, const char *instance,
                                     const char *hdr, const char *val)
{
    char  d[512], in[512], *body = NULL;
    json_escape(d, sizeof(d), 0, detail ? detail : "");
    json_escape(in, sizeof(in), 0, instance ? instance : "");
    if (asprintf(&body,
                 "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,"
                 "\"detail\":\"%s\",\"instance\":\"%s\"}\n",
                 bff_status_title((int)status), status, d, in) < 0)
        return MHD_NO;
    return admin_reply_hdr(c, status, "application/problem+json", body, hdr, val);
}

/* /readyz: 1 when this instance should get traffic; else 0 and @why. */
static int instance_ready(struct bff_server *srv, char *why, size_t cap)
{
    if (atomic_load(&srv->draining)) {
        snprintf(why, cap, "draining");
        return 0;
    }
    if (!atomic_load(&srv->ready)) {
        snprintf(why, cap, "starting");
        return 0;
    }
    struct bff_snapshot *s = snap_current(srv);
    int                  ok = snap_ready(s, why, cap);
    snap_unref(s);
    return ok;
}

/* /admin/config: the config in force and the reload history (json-c). */
static char *admin_config_json(struct bff_server *srv)
{
    struct bff_snapshot *s = snap_current(srv);
    json_object         *o = json_object_new_object();
    char                *out = NULL;

    if (!o)
        goto out;
    json_object_object_add(o, "name", json_object_new_string(srv->app->name));
    json_object_object_add(o, "version", json_object_new_string(BFF_VERSION));
    json_object_object_add(o, "sha256", json_object_new_string(s->cfg->sha256));
    json_object_object_add(o, "loaded_at", json_object_new_int64(s->cfg->loaded_at));
    json_object_object_add(o, "path", json_object_new_string(s->cfg->path));
    json_object_object_add(o, "started_at", json_object_new_int64(srv->started_at));
    json_object_object_add(o, "reloads",
                           json_object_new_int64((int64_t)atomic_load(&srv->reloads)));
    json_object_object_add(
        o, "reloads_rejected",
        json_object_new_int64((int64_t)atomic_load(&srv->reloads_rejected)));
    json_object *last = NULL;
    pthread_mutex_lock(&srv->snap_lock);
    if (srv->rejected_at) {
        json_object *errs = json_object_new_array();
        last = json_object_new_object();
        for (const char *p = srv->rejected_errs; errs && p && *p;) {
            const char *nl = strchr(p, '\n');
            size_t      n = nl ? (size_t)(nl - p) : strlen(p);
            if (n)
                json_object_array_add(errs, json_object_new_string_len(p, (int)n));
            p = nl ? nl + 1 : p + n;
        }
        json_object_object_add(last, "at", json_object_new_int64(srv->rejected_at));
        json_object_object_add(last, "errors", errs);
    }
    pthread_mutex_unlock(&srv->snap_lock);
    json_object_object_add(o, "last_rejected", last);
    const char *txt = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (txt && asprintf(&out, "%s\n", txt) < 0)
        out = NULL;
out:
    json_object_put(o);
    snap_unref(s);
    return out;
}

static char *admin_metrics(struct bff_server *srv)
{
    struct bff_snapshot *s = snap_current(srv);
    char                 why[128];
    struct metrics_info  in = {
         .name = srv->app->name,
         .version = BFF_VERSION,
         .snap = s,
         .reloads_ok = atomic_load(&srv->reloads),
         .reloads_rejected = atomic_load(&srv->reloads_rejected),
         .reload_at = s->cfg->loaded_at,
         .start_at = srv->started_at,
         .ready = instance_ready(srv, why, sizeof(why)),
         .draining = atomic_load(&srv->draining),
    };
    size_t len = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        in.requests_in_flight += atomic_load(&srv->workers[i].in_flight);
    char *body = metrics_render(&in, &len);
    snap_unref(s);
    return body;
}

/* Whether the request may see /metrics and the admin paths: yes without an
 * admin_token_file, else only with "Authorization: Bearer <token>". The
 * SHA-256 digests are compared, in constant time, so that neither the bytes
 * nor the length of the token leak through timing. */
static int admin_authorized(struct bff_server *srv, struct MHD_Connection *c)
{
    struct bff_snapshot *s = snap_current(srv);
    const char          *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_AUTHORIZATION);
    unsigned char        want[32], got[32];
    int                  ok = 1;

    if (s->cfg->admin_token) {
        ok = 0;
        size_t      n;
        const char *t = bff_bearer_token(h, &n);
        if (t && SHA256((const unsigned char *)s->cfg->admin_token, s->cfg->admin_token_len,
                        want)) {
            if (SHA256((const unsigned char *)t, n, got))
                ok = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
            OPENSSL_cleanse(got, sizeof(got));
        }
        OPENSSL_cleanse(want, sizeof(want));
    }
    snap_unref(s);
    return ok;
}

static enum MHD_Result admin_unauthorized(struct MHD_Connection *c, const char *url)
{
    return admin_problem(c, MHD_HTTP_UNAUTHORIZED,
                         "this admin endpoint needs Authorization: Bearer and the token of "
                         "admin_token_file",
                         url, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"portico-admin\"");
}

/* An admin request as its URI arrived (the URI log callback's copy, for the
 * head check), then whether its first call has run. */
struct admin_req {
    const char *uri;
    size_t      uri_len;
    int         started;
    char        pristine[];
};

static void *on_admin_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    size_t            n = strlen(uri);
    struct admin_req *a = malloc(sizeof(*a) + n + 1);
    (void)cls, (void)c;
    if (!a)
        return NULL;
    a->uri = uri;
    a->uri_len = n;
    a->started = 0;
    memcpy(a->pristine, uri, n + 1);
    return a;
}

/* The front door on the admin listener: the same check as the client's. */
static enum MHD_Result admin_head(struct MHD_Connection *c, struct admin_req *a,
                                  const char *method, const char *version)
{
    struct bff_http_head h;
    const char          *why;
    size_t               size = mhd_head_size(c);
    char                *scratch = size ? malloc(size) : NULL;
    int st = mhd_head_check(c, method, version, a->uri, a->uri_len, a->pristine, scratch,
                               size, &h, &why);
    free(scratch);
    if (st == 0)
        return MHD_YES;
    return admin_problem(c, (unsigned)st, why, NULL, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result on_admin(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload, size_t *upload_size, void **con_cls)
{
    struct bff_server *srv = cls;
    struct admin_req  *a = *con_cls;
    char              *body = NULL;
    (void)upload;

    if (!a)
        return MHD_NO; /* out of memory at the request line */
    if (!a->started) {
        a->started = 1;
        return admin_head(c, a, method, version);
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (is_get && strcmp(url, "/healthz") == 0) {
        return admin_reply(c, 200, "application/json", strdup("{\"status\":\"ok\"}\n"));
    }
    if (is_get && strcmp(url, "/readyz") == 0) {
        char why[128] = "", esc[256], down[1024];
        int  ready = instance_ready(srv, why, sizeof(why));
        json_escape(esc, sizeof(esc), 0, why);
        struct bff_snapshot *ds = snap_current(srv);
        res_snapshot_down_json(ds, down, sizeof(down));
        char *keys = auth_keys_health_json(ds); /* the JWT key set's health */
        char *eps = res_snapshot_endpoints_json(ds); /* services with endpoints: */
        snap_unref(ds);
        int n = asprintf(
            &body, "{\"ready\":%s,\"draining\":%s,\"down\":%s%s%s%s%s%s%s%s}\n",
            ready ? "true" : "false", atomic_load(&srv->draining) ? "true" : "false",
            down, keys ? ",\"jwt_keys\":" : "", keys ? keys : "",
            eps ? ",\"endpoints\":" : "", eps ? eps : "",
            ready ? "" : ",\"reason\":\"", ready ? "" : esc, ready ? "" : "\"");
        free(keys);
        free(eps);
        if (n < 0)
            return MHD_NO;
        return admin_reply(c, ready ? 200 : 503, "application/json", body);
    }
    /* everything but the two probes is locked by admin_token_file (an
     * unknown path too: it answers 404 only to who holds the token) */
    if (strcmp(url, "/healthz") != 0 && strcmp(url, "/readyz") != 0 &&
        !admin_authorized(srv, c))
        return admin_unauthorized(c, url);
    if (is_get && strcmp(url, "/admin/resilience") == 0) {
        struct bff_snapshot *rs = snap_current(srv);
        body = res_snapshot_json(rs, atomic_load(&srv->clients_gone));
        snap_unref(rs);
        return body ? admin_reply(c, 200, "application/json", body) : MHD_NO;
    }
    if (is_get && strcmp(url, "/admin/config") == 0) {
        body = admin_config_json(srv);
        return body ? admin_reply(c, 200, "application/json", body) : MHD_NO;
    }
    if (is_get && strcmp(url, "/metrics") == 0) {
        body = admin_metrics(srv);
        return body ? admin_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body)
                    : MHD_NO;
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/admin/reload") == 0) {
        char  *msg = NULL;
        size_t msglen = 0;
        FILE  *f = open_memstream(&msg, &msglen);
        int    rc = f ? app_reload(srv, f) : BFF_ENOMEM;
        if (f)
            fclose(f);
        char esc[4096];
        json_escape(esc, sizeof(esc), 0, msg ? msg : "");
        free(msg);
        if (asprintf(&body, "{\"reloaded\":%s,\"errors\":\"%s\"}\n", rc ? "false" : "true",
                     esc) < 0)
            return MHD_NO;
        return admin_reply(c, rc ? 422 : 200, "application/json", body);
    }
    return admin_problem(c, MHD_HTTP_NOT_FOUND, "no such admin endpoint", url, NULL, NULL);
}

static void on_admin_done(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}


int admin_start(struct bff_server *srv, int fd)
{
    srv->admin = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_admin, srv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_NOTIFY_COMPLETED, on_admin_done, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_admin_uri, NULL, MHD_OPTION_UNESCAPE_CALLBACK,
        front_no_unescape, NULL, MHD_OPTION_END);
    return srv->admin ? 0 : BFF_EIO;
}
