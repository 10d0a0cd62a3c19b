/* demo/shop_ws.h — the orders service's WebSocket, GET /live (RFC 6455):
 * a notification on connect, every text and binary message echoed, pings
 * answered, "close" closes it from the service's side. */
#ifndef SHOP_WS_H
#define SHOP_WS_H

#include <microhttpd.h>

/* 1 when @c asks for a WebSocket on @path (/live: an Upgrade naming
 * websocket). */
int shop_ws_wanted(struct MHD_Connection *c, const char *path);
/* Answers the handshake: 101 and the session on the connection's own
 * thread (the daemons are thread-per-connection), or 400/426. @user_id is
 * X-User-Id (NULL: "anonymous"). */
enum MHD_Result shop_ws_answer(struct MHD_Connection *c, const char *user_id);
/* Ends every session within 200 ms (before the daemons stop). */
void shop_ws_stop(void);

#endif
