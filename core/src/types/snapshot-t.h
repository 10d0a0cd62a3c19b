/* core/src/types/snapshot-t.h — the config in force (types only)
 *
 * A snapshot is immutable once installed and reference counted: each worker
 * holds one, requests borrow their worker's (snapshot/snapshot.c). */
#ifndef BFF_TYPES_SNAPSHOT_T_H
#define BFF_TYPES_SNAPSHOT_T_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bff/config.h"
#include "bff/jwt.h"

struct bff_router;
struct bff_keyset;
struct jwks_src;
struct tokcache_set;
struct rl_snap;
struct idem_snap;
struct res_svc;
struct bff_tls_cert;

/* ---- config snapshot: immutable, reference counted -------------------- */

struct bff_service_rt {
    const struct bff_service_conf *conf;
    _Atomic uint32_t               in_flight; /* bulkhead, over all workers */
    uint32_t                       mslot;     /* metrics slot (metrics.c) */
    struct res_svc                *res;       /* breaker, bulkhead, health: the
                                                 registry entry (resilience.c) */
};

struct bff_snapshot {
    _Atomic unsigned        refs;
    struct bff_config      *cfg;
    struct bff_router      *router;
    struct bff_service_rt  *services; /* cfg->nservices */
    struct bff_keyset      *keys;     /* jwks_file's; NULL when auth.jwt is off */
    struct jwks_src        *jwks;     /* jwks_url's key sets, shared across
                                         reloads of the same URL (jwks_fetch.c) */
    struct tokcache_set    *tokcache; /* verified tokens, per worker (tokcache.c) */
    struct bff_jwt_policy   policy;
    uint8_t                *sign_key; /* NULL when forwarding unsigned */
    size_t                  sign_keylen;
    uint32_t               *route_mslot; /* cfg->nroutes metrics slots (metrics.c) */
    struct rl_snap         *rl; /* rate-limit policies and counters (rl_store.c) */
    struct bff_tls_cert    *tls; /* the listener's certificate (tls:); NULL = plain
                                    HTTP (snapshot/tls.c) */
    struct idem_snap       *idem; /* idempotency store (pipeline/idempotency.c) */
};

#endif
