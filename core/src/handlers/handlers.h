/* core/src/handlers/handlers.h — what a route runs once the pipeline passed
 * it (reached through srv->handle[kind]: app/main.c sets the table) */
#ifndef BFF_HANDLERS_HANDLERS_H
#define BFF_HANDLERS_HANDLERS_H

#include <stddef.h>

struct bff_request;
struct bff_worker;

/* Proxy route: forwards @r to its service (proxy.c). */
void proxy_start(struct bff_request *r);
/* Whether @r's body goes to the service as it arrives (a proxy route, not
 * one that keeps answers for Idempotency-Key): docs/streaming.md. */
int  proxy_body_streams(const struct bff_request *r);
/* Aggregation route: runs the endpoint's stages (agg.c). */
void agg_start(struct bff_request *r);
/* Frees what agg.c keeps per worker (its json_tokener). */
void agg_worker_cleanup(struct bff_worker *w);
/* Static route: serves a file under the route's folder (static.c). */
void static_serve(struct bff_request *r);

/* What @r becomes when forwarded to its route's service with @method: the
 * path and query the service gets (*@path_query: the route's prefix cut
 * with strip_prefix) and the header lines it carries (*@lines, *@nlines,
 * "Name: value" in request memory): the client's end-to-end fields,
 * X-Forwarded-For/-Proto/-Host and the identity lines. 0, BFF_ENOMEM, or
 * BFF_EINVAL when the identity cannot be signed (identity_headers). */
int proxy_forward(struct bff_request *r, const char *method, const char **path_query,
                  const char ***lines, size_t *nlines);

/* Builds the upstream identity headers for @r into @out ("Name: value"
 * lines in request memory), for a call of @method on @path_query of the
 * service at @service_url (the signature covers the URL's own base path too,
 * as the service sees it).
 * Sets *@nout to how many were written (at most 7). Returns 0, BFF_ENOMEM,
 * or BFF_EINVAL when the signer refuses a field (a control character): the
 * caller then answers 500 and forwards nothing. */
int identity_headers(struct bff_request *r, const char *method, const char *service_url,
                     const char *path_query, const char **out, size_t *nout);

#endif
