/* core/include/bff/config.h — the YAML config of one BFF, parsed and validated
 *
 * A struct bff_config is an immutable snapshot: once bff_config_load() returns
 * it, nothing writes to it. The server holds it by reference count and swaps
 * snapshots atomically on reload. */
#ifndef BFF_CONFIG_H
#define BFF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct bff_endpoint; /* bff/endpoint.h */

/* "100/min" parsed: @count requests per @period_ms. */
struct bff_rate {
    uint32_t count;
    uint32_t period_ms;
};

/* Parses "N/s", "N/sec", "N/min" or "N/hour" (N in 1..1000000000).
 * Returns 0, or BFF_EINVAL with a message for the operator in @why. */
int bff_rate_parse(const char *text, struct bff_rate *out, const char **why);
/* Parses "250ms", "2s", "5m", "1h" (a bare 0 is allowed) into milliseconds. */
int bff_duration_parse(const char *text, uint64_t *out_ms, const char **why);
/* Parses "512KiB", "1MiB", "1GiB", "64B" or a bare byte count. */
int bff_size_parse(const char *text, uint64_t *out_bytes, const char **why);

enum bff_auth_mode { BFF_AUTH_NONE = 0, BFF_AUTH_OPTIONAL, BFF_AUTH_REQUIRED };
/* A route's Idempotency-Key handling (SPEC section 4, docs/idempotency.md). */
enum bff_idem_mode { BFF_IDEM_OFF = 0, BFF_IDEM_OPTIONAL, BFF_IDEM_REQUIRED };
enum bff_route_kind { BFF_ROUTE_PROXY = 0, BFF_ROUTE_HANDLER, BFF_ROUTE_STATIC };
enum bff_rl_key { BFF_RL_KEY_USER_OR_IP = 0, BFF_RL_KEY_IP, BFF_RL_KEY_USER };

/* HTTP methods as bits, for route allowlists. */
enum bff_method {
    BFF_M_GET = 1u << 0,
    BFF_M_HEAD = 1u << 1,
    BFF_M_POST = 1u << 2,
    BFF_M_PUT = 1u << 3,
    BFF_M_PATCH = 1u << 4,
    BFF_M_DELETE = 1u << 5,
    BFF_M_OPTIONS = 1u << 6,
};
#define BFF_M_ALL 0x7fu
/* Returns the bit of method @name ("GET"), or 0 when unknown. */
uint32_t bff_method_bit(const char *name);

/* JWT algorithms as bits for the allowlist (bff/jwt.h uses the same bits). */
enum bff_jwt_alg_bit {
    BFF_ALG_HS256 = 1u << 0, BFF_ALG_HS384 = 1u << 1, BFF_ALG_HS512 = 1u << 2,
    BFF_ALG_RS256 = 1u << 3, BFF_ALG_RS384 = 1u << 4, BFF_ALG_RS512 = 1u << 5,
    BFF_ALG_PS256 = 1u << 6, BFF_ALG_PS384 = 1u << 7, BFF_ALG_PS512 = 1u << 8,
    BFF_ALG_ES256 = 1u << 9, BFF_ALG_ES384 = 1u << 10, BFF_ALG_ES512 = 1u << 11,
    BFF_ALG_EDDSA = 1u << 12,
};
/* Returns the bit of JOSE alg @name ("RS256"), or 0 when unknown or "none". */
uint32_t bff_jwt_alg_bit(const char *name);

/* Where a value came from in the YAML file (1-based), for later diagnostics. */
struct bff_pos {
    int line;
    int col;
};

enum bff_balance { BFF_BALANCE_LEAST_REQUEST = 0, BFF_BALANCE_ROUND_ROBIN };
#define BFF_MAX_ENDPOINTS 64 /* per service, after resolution */
#define BFF_MAX_RESOLVERS 4

struct bff_service_conf {
    char           *name;
    char           *url;              /* "http://127.0.0.1:9101", no trailing '/' */
    uint32_t        connect_timeout_ms; /* default 200 */
    uint32_t        timeout_ms;         /* default 800; whole call, per attempt
                                           (a streamed answer: until its head) */
    uint32_t        idle_timeout_ms;    /* default 60000: a streamed answer or
                                           body, longest gap between bytes */
    uint32_t        max_in_flight;      /* default 256; bulkhead */
    uint32_t        retries;            /* default 1 */
    int             retry_put_delete;   /* retry_non_get: true; default 0 */
    struct {
        uint32_t failures;          /* default 5 consecutive */
        uint32_t open_for_ms;       /* default 10000 */
        uint32_t half_open_probes;  /* default 1 */
    } cb;
    struct {
        char    *path;              /* NULL = no active health check */
        uint32_t interval_ms;       /* default 5000 */
    } hc;
    struct {
        char *ca, *cert, *key;      /* all NULL = plain or system CAs */
    } tls;
    /* endpoints: [URL, ...] instead of url: (url is then the first one, for
     * the path and scheme every endpoint shares). NULL = url: alone. */
    char          **endpoints;        /* NULL-terminated, at most 64 */
    size_t          nendpoints;
    int             balance;          /* BFF_BALANCE_*; default least_request */
    uint32_t        resolve_every_ms; /* host names re-resolved; default 30000 */
    struct {
        uint32_t failures;          /* consecutive; default 5 */
        uint32_t eject_for_ms;      /* default 10000; doubles on repeat, to 8x */
        uint32_t max_ejected_pct;   /* default 50 (at least one endpoint) */
    } outlier;
    struct {                        /* cache: (upstream/cache.c), per worker */
        uint32_t max_entries;       /* 0 = no cache: key; with it default 10000 */
        uint64_t max_body;          /* an answer past it is not kept; default 64KiB */
    } cache;
    int             implicit;       /* 1 when made from a literal URL in a route */
    struct bff_pos  pos;
};

/* cors.headers when the file does not say: what the dashboard sends. */
#define BFF_CORS_DEFAULT_HEADERS                                                       \
    "Authorization, Content-Type, If-None-Match, Idempotency-Key, traceparent"
/* What answers to a configured origin let its JavaScript read. */
#define BFF_CORS_EXPOSE_HEADERS                                                        \
    "ETag, Server-Timing, RateLimit, RateLimit-Policy, Retry-After, X-Request-Id"

struct bff_route_conf {
    char               *path;        /* "/v1/order-screen/{id}" as written */
    enum bff_route_kind kind;
    int                 service;     /* index into bff_config.services (proxy) */
    char               *handler;     /* handler name (kind HANDLER) */
    const struct bff_endpoint *endpoint; /* resolved handler, or NULL */
    char               *static_dir;  /* folder (kind STATIC), relative to cwd */
    enum bff_auth_mode  auth;        /* default: none */
    char              **roles;       /* NULL-terminated; NULL = any role */
    size_t              nroles;
    struct bff_rate     rate;        /* count 0 = unlimited */
    uint32_t            timeout_ms;  /* 0 = the service's (proxy) or 5000 (handler) */
    uint32_t            methods;     /* enum bff_method bits */
    int                 strip_prefix;/* proxy: drop the route prefix; default 0 */
    enum bff_idem_mode  idempotency; /* default off */
    int                 websocket;   /* proxy: pass Upgrade: websocket; default 0 */
    uint32_t            max_streams; /* streamed answers and WebSockets open at
                                        once on the route, per process; 0 = none
                                        (default 1000 on proxy routes) */
    struct bff_pos      pos;
};

struct bff_config {
    char     *path;                  /* as given */
    char      sha256[65];            /* hex of the file's bytes */
    int64_t   loaded_at;             /* unix seconds */

    char     *listen;                /* "127.0.0.1:8080" default */
    char     *admin_listen;          /* NULL = no admin listener */
    char     *admin_token_file;      /* NULL = /metrics and the admin paths open */
    char     *admin_token;           /* the file's token, read at load; secret */
    size_t    admin_token_len;       /* 16..4096 bytes of visible ASCII */
    uint32_t  workers;               /* default: online cores */
    uint32_t  drain_timeout_ms;      /* default 10000 */
    int       access_log;            /* default 1 */

    struct {                         /* tls: HTTPS on `listen`; NULL = plain */
        char          *cert;         /* PEM chain, leaf first */
        char          *key;          /* PEM private key, unencrypted */
        struct bff_pos cert_pos, key_pos;
    } tls;

    struct {
        uint64_t max_body;           /* default 1 MiB */
        uint64_t max_header_bytes;   /* default 16 KiB */
        uint32_t max_connections;    /* default 10000 */
        uint32_t client_timeout_ms;  /* default 30000 */
    } limits;

    struct bff_service_conf *services;
    size_t                   nservices;
    /* resolver: [IP[:port], ...]: the DNS servers asked for endpoint host
     * names ("127.0.0.1:53"); NULL = the system's resolver (getaddrinfo) */
    char                   **resolvers;
    size_t                   nresolvers;

    struct {
        int       enabled;           /* 1 when auth.jwt is present */
        char     *jwks_file;
        char     *jwks_url;
        uint32_t  jwks_refresh_ms;   /* default 300000 */
        uint32_t  algorithms;        /* bits; default RS256|ES256 */
        char     *issuer;            /* NULL = not checked */
        char    **audience;          /* NULL-terminated; NULL = not checked */
        size_t    naudience;
        uint32_t  leeway_ms;         /* default 30000 */
        char     *claim_user_id;     /* default "sub" */
        char     *claim_roles;       /* default "roles" */
        char     *internal_signing_key_file; /* NULL = unsigned */
        struct bff_pos pos;
    } auth;

    struct {
        char     *store;             /* "memory" (default) or "redis://h:p/db" */
        enum bff_rl_key key;         /* default user_or_ip */
        int       on_store_error_deny; /* default 0 (allow) */
        uint32_t  store_timeout_ms;  /* default 50 */
        uint32_t  max_keys;          /* default 100000 */
    } rate_limit;

    struct {
        char     *store;             /* "memory" (default) or "redis://h:p/db" */
        uint32_t  ttl_ms;            /* default 24 h */
        uint64_t  max_body;          /* largest answer kept; default 256 KiB */
        uint32_t  max_entries;       /* memory store: keys kept; default 10000 */
        uint64_t  max_bytes;         /* memory store: answer bytes kept; 64 MiB */
        int       on_store_error_deny; /* default 1 (deny: 503) */
        uint32_t  store_timeout_ms;  /* redis: default 50 */
    } idempotency;

    struct {
        char    **origins;           /* NULL-terminated; NULL = CORS off */
        size_t    norigins;
        int       credentials;       /* default 0 */
        uint32_t  max_age_ms;        /* default 600000 */
        char    **headers;           /* allowed request headers; NULL-terminated */
        size_t    nheaders;          /* default: BFF_CORS_DEFAULT_HEADERS */
        char     *allow_headers;     /* the same joined by ", " (preflights) */
    } cors;

    struct {
        double sample_ratio; /* traces started here; default 1.0 */
    } tracing;

    struct bff_route_conf *routes;
    size_t                 nroutes;
};

/* One diagnostic per line: "FILE:LINE:COL: message". */
struct bff_diag {
    char  **msgs;
    size_t  n;
};
void bff_diag_cleanup(struct bff_diag *d);

/* What the BFF binary knows that the YAML must agree with. */
struct bff_config_opts {
    const struct bff_endpoint *endpoints; /* handlers compiled into this BFF */
    size_t                     nendpoints;
};

/* Loads and validates @path. Returns a new snapshot, or NULL with every error
 * found appended to @diag (as many as can be found in one pass). Unknown keys,
 * bad values, missing services and unknown handlers are errors. */
struct bff_config *bff_config_load(const char *path,
                                   const struct bff_config_opts *opts,
                                   struct bff_diag *diag);
/* The same from a buffer; @name is used in messages and as path. */
struct bff_config *bff_config_parse(const char *name, const char *text, size_t len,
                                    const struct bff_config_opts *opts,
                                    struct bff_diag *diag);
void bff_config_free(struct bff_config *cfg);

/* Index of service @name, or -1. */
int bff_config_service(const struct bff_config *cfg, const char *name);

#endif
