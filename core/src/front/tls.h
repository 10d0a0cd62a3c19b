/* core/src/front/tls.h — HTTPS on the worker's daemon (tls:) */
#ifndef BFF_FRONT_TLS_H
#define BFF_FRONT_TLS_H

#include <stddef.h>

struct bff_worker;
struct MHD_Connection;
struct MHD_OptionItem;

/* The GnuTLS priority string of the listener: TLS 1.3 and 1.2 only, AEAD
 * ciphers with forward secrecy (docs/operations.md "HTTPS"). */
extern const char front_tls_priorities[];

/* Fills @o (room for FRONT_TLS_NOPTS items) with the daemon options of a
 * TLS listener. Returns the number of items filled, or -1 when the
 * session-ticket key cannot be made. */
#define FRONT_TLS_NOPTS 3
int front_tls_options(struct MHD_OptionItem *o);
/* A new connection on a TLS daemon: gives its session the worker's current
 * certificate (a reference kept in *@socket_context until it closes) and
 * the process's session-ticket key. Before the handshake. */
void front_tls_connection_started(struct bff_worker *w, struct MHD_Connection *c,
                                  void **socket_context);
/* Whether the last MHD_run() of this worker thread only met TLS reads that
 * would block (a handshake waiting for the client) and no TLS read or
 * write that moved bytes: then libmicrohttpd's 0 timeout is not work to do, and the loop
 * waits for the next event instead (at most FRONT_TLS_STALL_MS). Resets
 * the count. */
#define FRONT_TLS_STALL_MS 10
int front_tls_stalled(void);
/* The connection closed: drops the reference taken at its start. */
void front_tls_connection_closed(void **socket_context);

#endif
