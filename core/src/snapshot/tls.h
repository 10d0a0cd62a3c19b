/* core/src/snapshot/tls.h — the listener's certificate of a snapshot (tls:) */
#ifndef BFF_SNAPSHOT_TLS_H
#define BFF_SNAPSHOT_TLS_H

#include <stddef.h>

/* A certificate chain and its private key loaded as GnuTLS credentials,
 * reference counted: the snapshot holds one reference and every TLS
 * connection that was handed these credentials holds one until it closes,
 * so a reload never frees what an open connection's session points to. */
struct bff_tls_cert;

/* Reads the PEM chain @cert_file and the PEM key @key_file and checks that
 * the key is the certificate's. Returns the credentials (one reference),
 * or NULL with the reason in @why (naming the file at fault) and in *@which
 * 0 when the certificate is at fault, 1 when the key is. */
struct bff_tls_cert *tls_cert_load(const char *cert_file, const char *key_file,
                                   char *why, size_t cap, int *which);
struct bff_tls_cert *tls_cert_ref(struct bff_tls_cert *c);
void                 tls_cert_unref(struct bff_tls_cert *c);
/* The gnutls_certificate_credentials_t to give a session; borrowed, valid
 * while a reference to @c is held (take one per session that uses it). */
void *tls_cert_credentials(const struct bff_tls_cert *c);
/* The leaf's serial number in hex ("1f0a…"; borrowed, as long as @c) and
 * its notAfter (unix seconds). */
const char *tls_cert_serial(const struct bff_tls_cert *c);
long long   tls_cert_not_after(const struct bff_tls_cert *c);

#endif
