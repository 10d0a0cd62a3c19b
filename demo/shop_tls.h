/* demo/shop_tls.h — mutual TLS for the demo shop's service ports (GnuTLS
 * under libmicrohttpd), apart so that only shop_tls.c sees gnutls.h */
#ifndef SHOP_TLS_H
#define SHOP_TLS_H

#include <microhttpd.h>

/* MHD_OPTION_NOTIFY_CONNECTION callback; @cls non-NULL when a client CA is
 * set. A TLS connection is set up and its handshake not begun: the client
 * must send a certificate, and GnuTLS checks it against the client CA
 * during the handshake (none, or another CA's: the handshake fails and the
 * client sees a TLS error, as with any mutual-TLS server). */
void shop_tls_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode code);

/* 1 when the client of @c sent a certificate the client CA signed (checked
 * again per request, should the handshake check ever be skipped). */
int shop_tls_client_ok(struct MHD_Connection *c);

#endif
