/* core/src/snapshot/tls.c — the listener's certificate (tls: {cert, key}):
 * both files read and checked into GnuTLS credentials when a snapshot is
 * built (start, SIGHUP, POST /admin/reload), reference counted so that
 * connections still open on the previous certificate keep it. The front
 * hands the current snapshot's credentials to each new TLS connection
 * (front/tls.c). docs/operations.md "HTTPS". */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "bff/util.h"
#include "snapshot/tls.h"

struct bff_tls_cert {
    _Atomic unsigned                 refs;
    gnutls_certificate_credentials_t cred;
    char                             serial[2 * 40 + 1];
    long long                        not_after;
};

/* Reads all of @path into a datum (NUL-terminated); 0 or an errno. */
static int slurp(const char *path, gnutls_datum_t *out)
{
    FILE  *f = fopen(path, "rb");
    char  *buf = NULL;
    size_t len = 0, cap = 0;
    int    e = 0;

    if (!f)
        return errno;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char  *nb;
            if (ncap > (1u << 20)) { /* a PEM chain or key is a few KiB */
                e = EFBIG;
                break;
            }
            if (!(nb = malloc(ncap))) {
                e = ENOMEM;
                break;
            }
            if (buf) {
                memcpy(nb, buf, len);
                explicit_bzero(buf, cap);
                free(buf);
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                e = EIO;
            break;
        }
    }
    fclose(f);
    if (e) {
        if (buf)
            explicit_bzero(buf, cap);
        free(buf);
        return e;
    }
    buf[len] = '\0';
    out->data = (unsigned char *)buf;
    out->size = (unsigned)len;
    return 0;
}

static void datum_wipe(gnutls_datum_t *d)
{
    if (d->data)
        explicit_bzero(d->data, d->size);
    free(d->data);
    d->data = NULL;
    d->size = 0;
}

/* Reads the leaf's serial and notAfter from the PEM chain; 0 or the GnuTLS
 * error (no certificate, bad PEM). */
static int leaf_info(const gnutls_datum_t *pem, struct bff_tls_cert *c)
{
    gnutls_x509_crt_t *list = NULL;
    unsigned           n = 0;
    int rc = gnutls_x509_crt_list_import2(&list, &n, pem, GNUTLS_X509_FMT_PEM,
                                          GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (rc < 0)
        return rc;
    if (n == 0) {
        gnutls_free(list);
        return GNUTLS_E_NO_CERTIFICATE_FOUND;
    }
    unsigned char raw[40];
    size_t        rawlen = sizeof(raw);
    if (gnutls_x509_crt_get_serial(list[0], raw, &rawlen) == 0)
        bff_hex(raw, rawlen, c->serial);
    c->not_after = (long long)gnutls_x509_crt_get_expiration_time(list[0]);
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    return 0;
}

struct bff_tls_cert *tls_cert_load(const char *cert_file, const char *key_file,
                                   char *why, size_t cap, int *which)
{
    gnutls_datum_t       cert = {0}, key = {0};
    struct bff_tls_cert *c = NULL;
    int                  e, rc;

    *which = 0;
    if ((e = slurp(cert_file, &cert)) != 0) {
        snprintf(why, cap, "cannot read %s: %s", cert_file, strerror(e));
        return NULL;
    }
    if ((e = slurp(key_file, &key)) != 0) {
        *which = 1;
        snprintf(why, cap, "cannot read %s: %s", key_file, strerror(e));
        goto out;
    }
    if (!(c = calloc(1, sizeof(*c)))) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    atomic_init(&c->refs, 1);
    if ((rc = leaf_info(&cert, c)) < 0) {
        snprintf(why, cap, "%s: not a PEM certificate chain (leaf first): %s", cert_file,
                 gnutls_strerror(rc));
        goto fail;
    }
    { /* the key alone first, so that a bad key is named as such */
        gnutls_x509_privkey_t pk;
        if (gnutls_x509_privkey_init(&pk) < 0) {
            snprintf(why, cap, "out of memory");
            goto fail;
        }
        rc = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL,
                                         GNUTLS_PKCS_PLAIN);
        gnutls_x509_privkey_deinit(pk);
        if (rc < 0) {
            *which = 1;
            snprintf(why, cap, "%s: not an unencrypted PEM private key: %s", key_file,
                     gnutls_strerror(rc));
            goto fail;
        }
    }
    if (gnutls_certificate_allocate_credentials(&c->cred) < 0) {
        c->cred = NULL;
        snprintf(why, cap, "out of memory");
        goto fail;
    }
    /* checks that the key is the leaf's (GNUTLS_E_CERTIFICATE_KEY_MISMATCH) */
    rc = gnutls_certificate_set_x509_key_mem2(c->cred, &cert, &key, GNUTLS_X509_FMT_PEM,
                                              NULL, 0);
    if (rc < 0) {
        *which = 1;
        if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
            snprintf(why, cap, "%s is not the private key of the certificate in %s",
                     key_file, cert_file);
        else
            snprintf(why, cap, "%s with %s: %s", cert_file, key_file, gnutls_strerror(rc));
        goto fail;
    }
    goto out;
fail:
    tls_cert_unref(c);
    c = NULL;
out:
    datum_wipe(&cert);
    datum_wipe(&key);
    return c;
}

struct bff_tls_cert *tls_cert_ref(struct bff_tls_cert *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void tls_cert_unref(struct bff_tls_cert *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    free(c);
}

void *tls_cert_credentials(const struct bff_tls_cert *c)
{
    return c->cred;
}

const char *tls_cert_serial(const struct bff_tls_cert *c)
{
    return c->serial;
}

long long tls_cert_not_after(const struct bff_tls_cert *c)
{
    return c->not_after;
}
