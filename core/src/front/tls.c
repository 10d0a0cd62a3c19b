/* core/src/front/tls.c — HTTPS on the worker's daemon (tls: {cert, key}).
 *
 * libmicrohttpd fixes a daemon's certificate when the daemon starts; to
 * change it on reload without a restart, each new connection's GnuTLS
 * session is given the credentials of the worker's snapshot in force
 * (gnutls_credentials_set, before the handshake), and holds a reference to
 * them until it closes. The daemon itself only gets a certificate callback
 * that refuses: a session that did not get credentials fails its handshake
 * instead of serving a stale certificate. Session tickets (resumption, TLS
 * 1.3 and 1.2) use one key per process, so a ticket from one worker
 * resumes on any other and across reloads. ALPN is libmicrohttpd's own
 * (http/1.1, http/1.0). docs/operations.md "HTTPS". */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "front/tls.h"
#include "snapshot/tls.h"
#include "types/snapshot-t.h"
#include "types/worker-t.h"

/* TLS 1.3 and 1.2 only; AES-GCM and ChaCha20-Poly1305 (AEAD) only; ECDHE
 * only for TLS 1.2 (no static RSA or finite-field DHE key exchange, so
 * every session has forward secrecy); the groups X25519, P-256, P-384;
 * the server's order of preference. */
const char front_tls_priorities[] =
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
    "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE";

static pthread_once_t ticket_once = PTHREAD_ONCE_INIT;
static gnutls_datum_t ticket_key;
static int            ticket_ok;

static void ticket_init(void)
{
    ticket_ok = gnutls_session_ticket_key_generate(&ticket_key) == 0;
}

/* Only reached by a session that was not given credentials at its start. */
static int refuse_cert(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq,
                       const gnutls_pk_algorithm_t *algos, int nalgos,
                       gnutls_pcert_st **pcert, unsigned int *npcert,
                       gnutls_privkey_t *key)
{
    (void)s, (void)req_ca, (void)nreq, (void)algos, (void)nalgos;
    (void)pcert, (void)npcert, (void)key;
    return -1;
}

/* libmicrohttpd 0.9.75 in epoll mode keeps a connection whose handshake
 * waits for the client's next bytes on its ready list (the read-ready flag
 * is cleared only by its own record reads, not by GnuTLS's reads during
 * the handshake), so MHD_get_timeout() answers 0 until the client speaks:
 * the worker would spin at 100% CPU for every connection that is slow to
 * send its ClientHello or its Finished. GnuTLS's reads and writes go
 * through these two functions instead, which count them per worker thread;
 * the loop asks front_tls_stalled() each turn. (The TLS daemon runs without
 * MHD_USE_TURBO, which would leave a new connection's socket out of the
 * epoll set until that flag clears: its data would then wake nobody.) */
static _Thread_local unsigned io_done, io_again;

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
    ssize_t r = recv((int)(intptr_t)p, buf, n, 0);
    if (r >= 0)
        io_done++;
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        io_again++;
    return r;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t n)
{
    ssize_t r = send((int)(intptr_t)p, buf, n, MSG_NOSIGNAL);
    if (r >= 0)
        io_done++;
    return r;
}

int front_tls_stalled(void)
{
    int stalled = io_again > 0 && io_done == 0;
    io_again = io_done = 0;
    return stalled;
}

int front_tls_options(struct MHD_OptionItem *o)
{
    pthread_once(&ticket_once, ticket_init);
    if (!ticket_ok)
        return -1;
    o[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)refuse_cert};
    o[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                   (void *)front_tls_priorities};
    o[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 2;
}

void front_tls_connection_started(struct bff_worker *w, struct MHD_Connection *c,
                                  void **socket_context)
{
    struct bff_tls_cert *cert = w->snap->tls;
    if (!cert)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) /* a plain daemon: tls: came with a reload */
        return;
    gnutls_session_t s = ci->tls_session;
    if (gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, tls_cert_credentials(cert)) < 0)
        return; /* out of memory: the handshake fails (refuse_cert) */
    *socket_context = tls_cert_ref(cert);
    gnutls_transport_set_pull_function(s, pull); /* the fd stays MHD's (set_int) */
    gnutls_transport_set_push_function(s, push);
    gnutls_session_ticket_enable_server(s, &ticket_key);
}

void front_tls_connection_closed(void **socket_context)
{
    tls_cert_unref(*socket_context);
    *socket_context = NULL;
}
