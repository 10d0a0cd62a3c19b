/* core/src/request/upgrade.h — answering a request with 101 Switching
 * Protocols and taking its client connection over (RFC 9110 §7.8): the
 * libmicrohttpd upgrade API behind two calls, for handlers/websocket.c.
 *
 * The request object outlives the upgrade: libmicrohttpd completes the
 * request (front's completed callback: metrics, the access-log line, the
 * request's memory given back) only once req_upgrade_close() has handed
 * the socket back, at the daemon's next run. */
#ifndef BFF_REQUEST_UPGRADE_H
#define BFF_REQUEST_UPGRADE_H

#include <stddef.h>

#include "types/request-t.h"

/* Called once libmicrohttpd has sent the 101 (from inside MHD_run, on the
 * worker's thread): @fd is the client's socket (non-blocking; read and
 * write it, never close it), @extra the @nextra bytes the client sent after
 * its head (already read from @fd; valid during the call only), @handle
 * what req_upgrade_close() takes. Never called when the client leaves first
 * (the request then completes, and r->cancel runs). */
typedef void (*req_upgraded_fn)(void *cls, int fd, const char *extra, size_t nextra,
                                void *handle);

/* Answers @r 101 with @hdrs (Upgrade and the protocol's own fields; the
 * response carries Connection: Upgrade itself), then X-Request-Id and the
 * headers pushed on the request; resumes it if it was suspended. @fn gets
 * the connection once the 101 is out. Returns 0, or BFF_ENOMEM (nothing was
 * answered: the caller answers otherwise), or BFF_EINVAL when @r has an
 * answer already. */
int req_respond_upgrade(struct bff_request *r, const struct bff_hdr *hdrs, size_t nhdrs,
                        req_upgraded_fn fn, void *cls);

/* Gives an upgraded connection back: libmicrohttpd closes the socket and
 * completes @r at its next run, which the worker's loop makes happen in the
 * same turn. Call once per connection. */
void req_upgrade_close(struct bff_request *r, void *handle);

#endif
