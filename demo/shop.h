/* demo/shop.h — the demo shop's routes and seed data (SPEC §6), shared by the
 * three services of shop-services. The server plumbing (listeners, signing,
 * fault injection, the control port) lives in shop_services.c; this interface
 * is only the part that turns one request into one JSON answer. */
#ifndef SHOP_H
#define SHOP_H

#include <stddef.h>

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

#endif
