/* core/src/handlers/websocket.h — WebSocket on proxy routes (RFC 6455):
 * a route with websocket: true passes an upgrade to its service and, on the
 * service's 101, splices the two connections on the worker's epoll.
 * docs/streaming.md, "WebSocket". */
#ifndef BFF_HANDLERS_WEBSOCKET_H
#define BFF_HANDLERS_WEBSOCKET_H

#include <stdint.h>

struct bff_request;
struct bff_worker;

/* Bytes buffered per direction (client to service, service to client):
 * a side is not read while the other side's buffer is full. */
#define WS_BUF_BYTES 65536
/* How long the bytes left for one side may take to go out once the other
 * side closed, before both are closed anyway. */
#define WS_LINGER_MS 1000
/* How often the worker's WebSockets are swept for their deadlines (connect,
 * head, idle, linger) while any is open on it. */
#define WS_SWEEP_MS 100
/* An HTTPS listener: after a WebSocket ends, libmicrohttpd is run every
 * WS_RELEASE_TICK_MS until it has closed the connection (WS_RELEASE_MS at
 * most; then the connection's client_timeout closes it). */
#define WS_RELEASE_TICK_MS 5
#define WS_RELEASE_MS 2000

/* 1 when @r asks for a WebSocket on a route with websocket: true (an
 * Upgrade header naming websocket): ws_start() then owns it. Elsewhere
 * Upgrade stays a hop-by-hop header, stripped like the others. */
int ws_wanted(struct bff_request *r);
/* What a proxy route runs: ws_start() when ws_wanted(), else proxy_start()
 * (in app/main.c's handler table: websocket.c calls proxy.c's
 * identity_headers, so proxy.c cannot call back here). */
void ws_or_proxy_start(struct bff_request *r);
/* Checks @r's handshake (400/426 when malformed), counts it against the
 * route's max_streams (503), connects to the service and sends it the
 * upgrade; the service's 101 becomes the client's, any other answer is
 * passed on, a failure is a 502/504. Answers or suspends @r. */
void ws_start(struct bff_request *r);

/* Sec-WebSocket-Accept for @key (RFC 6455 §4.2.2: base64 of the SHA-1 of
 * the key and the protocol's GUID) into @out (28 characters and a NUL).
 * Returns 0, or -1 when the digest fails. */
int ws_accept_key(const char *key, char out[29]);

/* An epoll event tagged TAG_WS_UP, TAG_WS_CLIENT or TAG_WS_TIMER (@u64 the
 * event's data, @events its bits). */
void ws_worker_event(struct bff_worker *w, uint64_t u64, uint32_t events);
/* Frees what the worker keeps for its WebSockets (its sweep timer). Every
 * WebSocket is closed before, by its request's cancel hook (the worker's
 * stop cancels every live request). */
void ws_worker_cleanup(struct bff_worker *w);

#endif
