/* demo/shop.h — the demo shop's routes and seed data (SPEC §6), shared by the
 * three services of shop-services. The server plumbing (listeners, signing,
 * fault injection, the control port) lives in shop_services.c; this interface
 * is only the part that turns one request into one JSON answer. */
#ifndef SHOP_H
#define SHOP_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <microhttpd.h>

enum shop_svc {
    SHOP_USERS,
    SHOP_ORDERS,
    SHOP_INVENTORY,
    SHOP_NSVC,
};

struct shop_req {
    struct MHD_Connection *conn; /* for query arguments and headers */
    const char            *service;
    const char            *method;
    const char            *path;    /* percent-decoded by MHD, without the query */
    const char            *target;  /* the request target as received: path?query */
    const char            *user_id; /* X-User-Id, NULL when absent */
    const char            *roles;   /* X-User-Roles, NULL when absent */
    const char            *body;    /* never NULL; NUL-terminated after body_len */
    size_t                 body_len;
};

struct shop_resp {
    unsigned int status;
    json_object *body;         /* owned by the response */
    char         location[64]; /* a Location header when non-empty */
    const char  *allow;        /* an Allow header when non-NULL (405) */
    const char  *cache_control; /* a Cache-Control header when non-NULL */
    const char  *retry_after;   /* a Retry-After header when non-NULL (503) */
};

/* Answers @rq for service @svc: its own routes, /echo and 404 for the rest.
 * /healthz, signing and faults are the caller's business. Safe from any
 * thread: the seed data is read-only. */
void shop_route(enum shop_svc svc, const struct shop_req *rq, struct shop_resp *rs);

/* {"error": @code} with status @status into @rs. */
void shop_error(struct shop_resp *rs, unsigned int status, const char *code);

/* Serialises @obj the way every answer of the shop is written: compact, and
 * '/' left unescaped. The string lives as long as @obj. */
const char *shop_json(json_object *obj, size_t *len);

/* Server-Sent Events ------------------------------------------------------
 * GET /orders/{id}/events: the order's status changes (shop_sse.c,
 * docs/streaming.md). The seed orders as shop_routes.c has them: */
size_t      shop_orders_count(void);
long        shop_order_find(const char *id); /* its index, or -1 */
const char *shop_order_id(size_t i);
const char *shop_order_owner(size_t i);
const char *shop_order_seed_status(size_t i);
/* Where an order's answers read its current status (shop_sse.c's, handed
 * in by main so that the routes call nothing above them); NULL or unset:
 * the seed status. */
typedef const char *(*shop_status_fn)(size_t i, char *buf, size_t len);
void shop_order_status_source(shop_status_fn fn);
const char *shop_order_created(size_t i);
/* 1 when the caller of @rq may see an order of @owner: theirs, or support. */
int shop_may_see(const struct shop_req *rq, const char *owner);

struct shop_sse_opts {
    uint64_t     ping_ms;     /* ": ping" after this long without an event */
    unsigned int max_streams; /* open event streams at once; past it 503 */
    const char  *advance;     /* an order that moves on by itself, or NULL */
    uint64_t     advance_ms;  /* how often it does */
};
/* Sets the statuses to the seed data's. Returns 0 or -1 (with a message). */
int  shop_sse_init(const struct shop_sse_opts *opts);
int  shop_sse_start(void);         /* the advancer; 0 or -1 */
void shop_sse_closing(int closing); /* the orders listener goes (1) or is back (0) */
void shop_sse_shutdown(void);      /* ends every stream and the advancer for good */
void shop_sse_cleanup(void);
/* Order @i's current status, copied into @buf. */
const char  *shop_sse_status(size_t i, char *buf, size_t len);
unsigned int shop_sse_streams(void); /* open now */
void         shop_sse_reset(void);   /* every order back to its seed status */
/* 1 when @path is /orders/{id}/events. */
int shop_sse_is_events(const char *path);
/* The stream for @rq (queue it with 200 and destroy it), or NULL with the
 * answer in @rs (an error, or a 204 without body). With @cut, the stream
 * breaks off after its first write (the close_mid_body fault). */
struct MHD_Response *shop_sse_open(const struct shop_req *rq, struct shop_resp *rs,
                                   int cut);
/* POST|PUT /orders/{id}/status?to=STATUS, GET /orders/{id}/status on the
 * control port: 1 with the answer in @rs when @url is one, else 0. */
int shop_sse_control(struct MHD_Connection *c, const char *method, const char *url,
                     struct shop_resp *rs);

#endif
