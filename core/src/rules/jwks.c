/* core/src/jwks.c — JSON Web Key Sets (RFC 7517, RFC 7518 section 6, RFC 8037)
 *
 * Every key becomes a ready-to-use OpenSSL object here, once, when the set is
 * parsed: an EVP_PKEY for RSA, EC and Ed25519, keyed HMAC contexts for oct.
 * The request path (jwt.c) only reads them. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include "rules/jwt_int.h"

#define JWKS_MAX_BYTES (1024 * 1024)
#define JWKS_MAX_KEYS 256
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define OCT_MIN_BYTES 32 /* RFC 7518 §3.2: the hash size, HS256's at least */
#define OCT_MAX_BYTES 4096

static const char *const hash_names[JWT_NHASH] = {"SHA256", "SHA384", "SHA512"};
/* RFC 7518 §3.2: an HS* key holds at least as many bytes as its hash. */
static const size_t hash_bytes[JWT_NHASH] = {32, 48, 64};

/* The HS* bit of each hash, to know which HMAC contexts an oct key needs. */
static const uint32_t hs_bits[JWT_NHASH] = {BFF_ALG_HS256, BFF_ALG_HS384,
                                            BFF_ALG_HS512};

#define RSA_ALGS                                                                       \
    (BFF_ALG_RS256 | BFF_ALG_RS384 | BFF_ALG_RS512 | BFF_ALG_PS256 | BFF_ALG_PS384 |   \
     BFF_ALG_PS512)
#define HS_ALGS (BFF_ALG_HS256 | BFF_ALG_HS384 | BFF_ALG_HS512)

struct curve {
    const char *crv;   /* JWK name */
    const char *group; /* OpenSSL name */
    uint32_t    alg;
    size_t      size; /* bytes of one coordinate */
};

static const struct curve curves[] = {
    {"P-256", "prime256v1", BFF_ALG_ES256, 32},
    {"P-384", "secp384r1", BFF_ALG_ES384, 48},
    {"P-521", "secp521r1", BFF_ALG_ES512, 66},
};

/* Where in the document a key is, for messages: keys[2] (kid "abc"). */
struct where {
    size_t      index;
    const char *kid;
};

static void seterr(char *err, size_t errlen, const struct where *w, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static void seterr(char *err, size_t errlen, const struct where *w, const char *fmt,
                   ...)
{
    char    msg[256], kid[68];
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w == NULL) {
        snprintf(err, errlen, "%s", msg);
        return;
    }
    if (w->kid == NULL) {
        snprintf(err, errlen, "keys[%zu]: %s", w->index, msg);
        return;
    }
    /* A kid is attacker-reachable text in a fetched JWKS: print it tamed. */
    size_t i;
    for (i = 0; w->kid[i] != '\0' && i < 64; i++) {
        unsigned char c = (unsigned char)w->kid[i];
        kid[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (w->kid[i] != '\0') {
        memcpy(kid + i, "...", 3);
        i += 3;
    }
    kid[i] = '\0';
    snprintf(err, errlen, "keys[%zu] (kid \"%s\"): %s", w->index, kid, msg);
}

static void jwk_cleanup(struct jwk *k)
{
    free(k->kid);
    EVP_PKEY_free(k->pkey);
    for (int h = 0; h < JWT_NHASH; h++)
        EVP_MAC_CTX_free(k->mac[h]);
    memset(k, 0, sizeof *k);
}

static void keyset_free(struct bff_keyset *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->n; i++)
        jwk_cleanup(&ks->keys[i]);
    free(ks->keys);
    for (int h = 0; h < JWT_NHASH; h++)
        EVP_MD_free(ks->md[h]);
    free(ks);
}

static struct bff_keyset *keyset_new(size_t cap, char *err, size_t errlen)
{
    struct bff_keyset *ks = calloc(1, sizeof *ks);

    if (ks == NULL)
        goto nomem;
    atomic_init(&ks->refs, 1);
    ks->keys = calloc(cap ? cap : 1, sizeof *ks->keys);
    if (ks->keys == NULL)
        goto nomem;
    for (int h = 0; h < JWT_NHASH; h++) {
        ks->md[h] = EVP_MD_fetch(NULL, hash_names[h], NULL);
        if (ks->md[h] == NULL) {
            seterr(err, errlen, NULL, "OpenSSL has no %s digest", hash_names[h]);
            keyset_free(ks);
            return NULL;
        }
    }
    return ks;
nomem:
    seterr(err, errlen, NULL, "out of memory");
    keyset_free(ks);
    return NULL;
}

/* A string member: 1 and *out set, 0 when absent, -1 when not a string. */
static int get_str(struct json_object *o, const char *name, const char **out,
                   size_t *outlen)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, name, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *out = json_object_get_string(v);
    if (outlen != NULL)
        *outlen = (size_t)json_object_get_string_len(v);
    return 1;
}

static int streq(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Decodes base64url member @name of @o into a new buffer of at most @max
 * bytes. Returns 0, or -1 with a message. The caller frees *out with
 * OPENSSL_clear_free(*out, *outlen) (it may be a secret). */
static int get_b64(struct json_object *o, const char *name, size_t max,
                   unsigned char **out, size_t *outlen, const struct where *w,
                   char *err, size_t errlen)
{
    const char *s;
    size_t      slen;
    int         rc = get_str(o, name, &s, &slen);

    *out = NULL;
    if (rc == 0) {
        seterr(err, errlen, w, "\"%s\" is missing", name);
        return -1;
    }
    if (rc < 0) {
        seterr(err, errlen, w, "\"%s\" is not a string", name);
        return -1;
    }
    if (slen > (max + 2) / 3 * 4) {
        seterr(err, errlen, w, "\"%s\" is longer than %zu bytes", name, max);
        return -1;
    }
    *out = OPENSSL_malloc(slen / 4 * 3 + 3);
    if (*out == NULL) {
        seterr(err, errlen, w, "out of memory");
        return -1;
    }
    if (bff_jwt_b64url_decode(s, slen, *out, slen / 4 * 3 + 3, outlen) < 0) {
        OPENSSL_free(*out);
        *out = NULL;
        seterr(err, errlen, w, "\"%s\" is not unpadded base64url", name);
        return -1;
    }
    if (*outlen > max) {
        OPENSSL_clear_free(*out, *outlen);
        *out = NULL;
        seterr(err, errlen, w, "\"%s\" is longer than %zu bytes", name, max);
        return -1;
    }
    return 0;
}

static int pkey_fromdata(const char *type, OSSL_PARAM *params, EVP_PKEY **out)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    int           ok;

    *out = NULL;
    ok = pctx != NULL && EVP_PKEY_fromdata_init(pctx) == 1 &&
         EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(pctx);
    if (!ok) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return ok ? 0 : -1;
}

static int public_check(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int           ok = pctx != NULL && EVP_PKEY_public_check(pctx) == 1;

    EVP_PKEY_CTX_free(pctx);
    return ok ? 0 : -1;
}

static int jwk_rsa(struct jwk *k, struct json_object *o, const struct where *w,
                   char *err, size_t errlen)
{
    unsigned char  *nb = NULL, *eb = NULL;
    size_t          nlen = 0, elen = 0;
    BIGNUM         *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM     *params = NULL;
    int             rc = -1, bits;

    if (get_b64(o, "n", RSA_MAX_BITS / 8 + 1, &nb, &nlen, w, err, errlen) < 0 ||
        get_b64(o, "e", 8, &eb, &elen, w, err, errlen) < 0)
        goto out;
    n = BN_bin2bn(nb, (int)nlen, NULL);
    e = BN_bin2bn(eb, (int)elen, NULL);
    if (n == NULL || e == NULL) {
        seterr(err, errlen, w, "out of memory");
        goto out;
    }
    bits = BN_num_bits(n);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        seterr(err, errlen, w,
               "RSA modulus of %d bits; %d to %d bits are accepted "
               "(replace the key or drop it from the set)",
               bits, RSA_MIN_BITS, RSA_MAX_BITS);
        goto out;
    }
    if (!BN_is_odd(n) || !BN_is_odd(e) || BN_num_bits(e) < 2 || BN_cmp(e, n) >= 0) {
        seterr(err, errlen, w, "RSA \"n\" or \"e\" is not a valid public key");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        pkey_fromdata("RSA", params, &k->pkey) < 0) {
        seterr(err, errlen, w, "OpenSSL refused the RSA key");
        goto out;
    }
    /* A modulus that is prime (or a prime power, or has a small factor)
     * makes the private key easy to find: anyone could sign. OpenSSL's
     * public-key check (SP 800-56B) refuses those; BN_check_prime then
     * names the commonest case. Both cost one Miller-Rabin round for a
     * real modulus, at load only. */
    if (public_check(k->pkey) < 0) {
        BN_CTX *bctx = BN_CTX_new();
        int     prime = bctx != NULL && BN_check_prime(n, bctx, NULL) == 1;
        BN_CTX_free(bctx);
        ERR_clear_error();
        seterr(err, errlen, w,
               prime ? "RSA modulus \"n\" is a prime, so the key is no secret "
                       "(anyone can sign); replace the key"
                     : "RSA key fails OpenSSL's public-key check (the modulus is a "
                       "prime power or has a small factor); replace the key");
        goto out;
    }
    k->rsa_len = (size_t)BN_num_bytes(n);
    rc = 0;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    OPENSSL_free(nb);
    OPENSSL_free(eb);
    return rc;
}

static int jwk_ec(struct jwk *k, struct json_object *o, const struct curve *c,
                  const struct where *w, char *err, size_t errlen)
{
    unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 66];
    size_t         xlen = 0, ylen = 0;
    int            rc = -1;

    if (get_b64(o, "x", c->size, &x, &xlen, w, err, errlen) < 0 ||
        get_b64(o, "y", c->size, &y, &ylen, w, err, errlen) < 0)
        goto out;
    /* RFC 7518 6.2.1.2: the full coordinate size, leading zeros kept. */
    if (xlen != c->size || ylen != c->size) {
        seterr(err, errlen, w, "%s \"x\" and \"y\" must be %zu bytes each", c->crv,
               c->size);
        goto out;
    }
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, c->size);
    memcpy(pub + 1 + c->size, y, c->size);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->group,
                                         0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub,
                                          1 + 2 * c->size),
        OSSL_PARAM_construct_end(),
    };
    if (pkey_fromdata("EC", params, &k->pkey) < 0 || public_check(k->pkey) < 0) {
        seterr(err, errlen, w, "the point (x, y) is not on curve %s", c->crv);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_free(x);
    OPENSSL_free(y);
    return rc;
}

/* ---- Ed25519 public keys that are no keys ---------------------------
 *
 * A key of small order (one of the 8 points of the curve's torsion
 * subgroup) lets a forged signature verify for many messages under some
 * verifiers; a non-canonical encoding (y >= p, or x = 0 with the sign bit
 * set) names a point twice. Neither comes from a real key generator, so
 * both are refused. The 8 small-order encodings are computed here, once,
 * from the curve's equation -x^2 + y^2 = 1 + d x^2 y^2 over p = 2^255 - 19:
 *   order 1, 2:  (0, 1), (0, -1)
 *   order 4:     (+-sqrt(-1), 0)
 *   order 8:     x^2 = -y^2 with d y^4 + 2 y^2 - 1 = 0, so
 *                y^2 = (-1 +- sqrt(1 + d)) / d (the root that is a square),
 *                four points (+-x, +-y). */
#define ED_SMALL 8
static unsigned char  ed_small[ED_SMALL][32];
static int            ed_small_ok;
static pthread_once_t ed_once = PTHREAD_ONCE_INIT;

/* 32-byte little-endian encoding of y with x's sign (its low bit) on top. */
static int ed_encode(const BIGNUM *y, int xodd, unsigned char out[32])
{
    if (BN_bn2lebinpad(y, out, 32) != 32)
        return -1;
    out[31] |= (unsigned char)(xodd ? 0x80 : 0);
    return 0;
}

static void ed_small_compute(void)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p, *d, *t, *u, *y2, *y, *ny, *x, *zero, *one, *m1;
    int     ok = 0, n = 0;

    if (ctx == NULL)
        return;
    BN_CTX_start(ctx);
    p = BN_CTX_get(ctx), d = BN_CTX_get(ctx), t = BN_CTX_get(ctx);
    u = BN_CTX_get(ctx), y2 = BN_CTX_get(ctx), y = BN_CTX_get(ctx);
    ny = BN_CTX_get(ctx), x = BN_CTX_get(ctx), zero = BN_CTX_get(ctx);
    one = BN_CTX_get(ctx), m1 = BN_CTX_get(ctx);
    if (m1 == NULL)
        goto out;
    /* p = 2^255 - 19; d = -121665 / 121666 */
    if (!BN_set_bit(p, 255) || !BN_sub_word(p, 19) || !BN_set_word(t, 121666) ||
        !BN_mod_inverse(t, t, p, ctx) || !BN_set_word(d, 121665) ||
        !BN_mod_mul(d, d, t, p, ctx) || !BN_sub(d, p, d))
        goto out;
    BN_zero(zero);
    if (!BN_one(one) || !BN_sub(m1, p, one))
        goto out;
    /* order 1 and 2: x = 0, y = 1 and y = -1 */
    if (ed_encode(one, 0, ed_small[n++]) || ed_encode(m1, 0, ed_small[n++]))
        goto out;
    /* order 4: y = 0, x = +-sqrt(-1) (both signs) */
    if (ed_encode(zero, 0, ed_small[n++]) || ed_encode(zero, 1, ed_small[n++]))
        goto out;
    /* order 8: y^2 = (-1 + s) / d for s = +-sqrt(1 + d), the one that is a
     * square; then x = +-sqrt(-y^2) (both signs) for y and -y */
    if (!BN_mod_add(t, one, d, p, ctx) || BN_mod_sqrt(u, t, p, ctx) == NULL ||
        !BN_mod_inverse(t, d, p, ctx))
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        if (pass && !BN_sub(u, p, u)) /* the other root of 1 + d */
            goto out;
        if (!BN_mod_sub(y2, u, one, p, ctx) || !BN_mod_mul(y2, y2, t, p, ctx))
            goto out;
        if (BN_mod_sqrt(y, y2, p, ctx) != NULL)
            break;
        ERR_clear_error();
        if (pass)
            goto out;
    }
    /* check the point: x^2 = -y^2 must be a square too */
    if (!BN_sub(x, p, y2) || BN_mod_sqrt(x, x, p, ctx) == NULL || !BN_sub(ny, p, y))
        goto out;
    if (ed_encode(y, 0, ed_small[n++]) || ed_encode(y, 1, ed_small[n++]) ||
        ed_encode(ny, 0, ed_small[n++]) || ed_encode(ny, 1, ed_small[n++]))
        goto out;
    ok = n == ED_SMALL;
out:
    ERR_clear_error();
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    ed_small_ok = ok;
}

/* NULL when @x (32 bytes) may be an Ed25519 public key, else why not. */
static const char *ed25519_refused(const unsigned char x[32])
{
    static const unsigned char p_le[32] = {
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    int ge = 1; /* y >= p, compared from the top byte down */

    pthread_once(&ed_once, ed_small_compute);
    if (!ed_small_ok)
        return "cannot check the Ed25519 key (OpenSSL failed)";
    for (int i = 31; i >= 0; i--) {
        unsigned char b = i == 31 ? (unsigned char)(x[i] & 0x7f) : x[i];
        if (b != p_le[i]) {
            ge = b > p_le[i];
            break;
        }
    }
    if (ge)
        return "Ed25519 \"x\" is not canonical (y >= 2^255 - 19)";
    for (int i = 0; i < ED_SMALL; i++)
        if (memcmp(x, ed_small[i], 32) == 0)
            return "Ed25519 \"x\" is a point of small order, no real key";
    /* x = 0 (y = 1 or y = -1) with the sign bit set: another name of a
     * small-order point, caught here with its canonical twin above */
    for (int i = 0; i < 2; i++)
        if (memcmp(x, ed_small[i], 31) == 0 && x[31] == (ed_small[i][31] | 0x80))
            return "Ed25519 \"x\" is not canonical (x = 0 with the sign bit set)";
    return NULL;
}

static int jwk_ed25519(struct jwk *k, struct json_object *o, const struct where *w,
                       char *err, size_t errlen)
{
    const char    *why;
    unsigned char *x = NULL;
    size_t         xlen = 0;
    int            rc = -1;

    if (get_b64(o, "x", 32, &x, &xlen, w, err, errlen) < 0)
        goto out;
    if (xlen != 32) {
        seterr(err, errlen, w, "Ed25519 \"x\" must be 32 bytes");
        goto out;
    }
    if ((why = ed25519_refused(x)) != NULL) {
        seterr(err, errlen, w, "%s; replace the key", why);
        goto out;
    }
    k->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen);
    if (k->pkey == NULL) {
        seterr(err, errlen, w, "OpenSSL refused the Ed25519 key");
        goto out;
    }
    rc = 0;
out:
    OPENSSL_free(x);
    return rc;
}

/* Keys HMAC contexts for every hash in @k->algs; verify duplicates them.
 * RFC 7518 §3.2: a key shorter than an algorithm's hash is refused when the
 * key names that algorithm (@named) and is shorter than 32 bytes in any case;
 * a key that names none serves only the HS* whose hash it covers. */
static int oct_init(struct jwk *k, const unsigned char *secret, size_t len, int named,
                    const struct where *w, char *err, size_t errlen)
{
    EVP_MAC *mac;
    int      rc = 0;

    if (len < OCT_MIN_BYTES || len > OCT_MAX_BYTES) {
        seterr(err, errlen, w,
               "oct key of %zu bytes; %d to %d bytes are accepted (RFC 7518 section "
               "3.2: at least the hash size)",
               len, OCT_MIN_BYTES, OCT_MAX_BYTES);
        return -1;
    }
    for (int h = 0; h < JWT_NHASH; h++) {
        if (!(k->algs & hs_bits[h]) || len >= hash_bytes[h])
            continue;
        if (named) {
            seterr(err, errlen, w,
                   "oct key of %zu bytes for HS%d; at least %zu bytes are needed "
                   "(RFC 7518 section 3.2)",
                   len,
                   h == 0   ? 256
                   : h == 1 ? 384
                            : 512,
                   hash_bytes[h]);
            return -1;
        }
        k->algs &= ~hs_bits[h];
    }
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        seterr(err, errlen, w, "OpenSSL has no HMAC");
        return -1;
    }
    for (int h = 0; h < JWT_NHASH && rc == 0; h++) {
        if (!(k->algs & hs_bits[h]))
            continue;
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             (char *)hash_names[h], 0),
            OSSL_PARAM_construct_end(),
        };
        k->mac[h] = EVP_MAC_CTX_new(mac);
        if (k->mac[h] == NULL || EVP_MAC_init(k->mac[h], secret, len, params) != 1) {
            seterr(err, errlen, w, "OpenSSL refused the HMAC key");
            rc = -1;
        }
    }
    EVP_MAC_free(mac);
    return rc;
}

static int jwk_oct(struct jwk *k, struct json_object *o, const struct where *w,
                   char *err, size_t errlen)
{
    unsigned char *s = NULL;
    size_t         slen = 0;
    int            rc;

    if (get_b64(o, "k", OCT_MAX_BYTES, &s, &slen, w, err, errlen) < 0)
        return -1;
    rc = oct_init(k, s, slen, k->algs != HS_ALGS, w, err, errlen);
    OPENSSL_clear_free(s, slen);
    return rc;
}

/* Parses keys[@index] into @k. Returns 1 (a key), 0 (skipped: not for JWS
 * signatures or not supported) or -1 (malformed, with a message). */
static int jwk_parse(struct jwk *k, struct json_object *o, size_t index, char *err,
                     size_t errlen)
{
    struct where        w = {index, NULL};
    const char         *s, *kty, *crv = NULL;
    size_t              slen, ktylen, crvlen = 0;
    const struct curve *curve = NULL;
    uint32_t            algbit = 0;
    struct json_object *ops;
    int                 rc;

    if (!json_object_is_type(o, json_type_object)) {
        seterr(err, errlen, &w, "not a JSON object");
        return -1;
    }
    rc = get_str(o, "kid", &s, &slen);
    if (rc < 0) {
        seterr(err, errlen, &w, "\"kid\" is not a string");
        return -1;
    }
    if (rc > 0) {
        k->kid = malloc(slen + 1);
        if (k->kid == NULL) {
            seterr(err, errlen, &w, "out of memory");
            return -1;
        }
        memcpy(k->kid, s, slen + 1);
        k->kid_len = slen;
        w.kid = k->kid;
    }

    /* Not meant for verifying signatures: skip, whatever else it holds. */
    rc = get_str(o, "use", &s, &slen);
    if (rc < 0) {
        seterr(err, errlen, &w, "\"use\" is not a string");
        return -1;
    }
    if (rc > 0 && !streq(s, slen, "sig"))
        return 0;
    if (json_object_object_get_ex(o, "key_ops", &ops)) {
        int found = 0;
        if (!json_object_is_type(ops, json_type_array)) {
            seterr(err, errlen, &w, "\"key_ops\" is not an array");
            return -1;
        }
        for (size_t i = 0; i < json_object_array_length(ops); i++) {
            struct json_object *op = json_object_array_get_idx(ops, i);
            if (json_object_is_type(op, json_type_string) &&
                streq(json_object_get_string(op),
                      (size_t)json_object_get_string_len(op), "verify"))
                found = 1;
        }
        if (!found)
            return 0;
    }
    rc = get_str(o, "alg", &s, &slen);
    if (rc < 0) {
        seterr(err, errlen, &w, "\"alg\" is not a string");
        return -1;
    }
    if (rc > 0) {
        const struct jwt_alg *a;
        if (slen == 4 && strncasecmp(s, "none", 4) == 0) {
            seterr(err, errlen, &w, "\"alg\": \"none\" is never accepted");
            return -1;
        }
        a = bff_jwt_alg_find(s, slen);
        if (a == NULL)
            return 0; /* an encryption algorithm, or one we do not support */
        algbit = a->bit;
    }

    rc = get_str(o, "kty", &kty, &ktylen);
    if (rc <= 0) {
        seterr(err, errlen, &w, "\"kty\" is %s", rc == 0 ? "missing" : "not a string");
        return -1;
    }
    if (streq(kty, ktylen, "EC") || streq(kty, ktylen, "OKP")) {
        rc = get_str(o, "crv", &crv, &crvlen);
        if (rc <= 0) {
            seterr(err, errlen, &w, "\"crv\" is %s",
                   rc == 0 ? "missing" : "not a string");
            return -1;
        }
    }
    if (streq(kty, ktylen, "RSA")) {
        k->algs = RSA_ALGS;
    } else if (streq(kty, ktylen, "oct")) {
        k->algs = HS_ALGS;
    } else if (streq(kty, ktylen, "EC")) {
        for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
            if (streq(crv, crvlen, curves[i].crv))
                curve = &curves[i];
        if (curve == NULL)
            return 0; /* secp256k1 and friends */
        k->algs = curve->alg;
    } else if (streq(kty, ktylen, "OKP")) {
        if (!streq(crv, crvlen, "Ed25519"))
            return 0; /* Ed448, X25519 */
        k->algs = BFF_ALG_EDDSA;
    } else {
        return 0;
    }
    if (algbit != 0) {
        if (!(k->algs & algbit)) {
            seterr(err, errlen, &w, "\"alg\" does not fit kty \"%.*s\"%s%.*s",
                   (int)ktylen, kty, crv ? " crv " : "", crv ? (int)crvlen : 0,
                   crv ? crv : "");
            return -1;
        }
        k->algs = algbit;
    }

    if (streq(kty, ktylen, "RSA"))
        rc = jwk_rsa(k, o, &w, err, errlen);
    else if (streq(kty, ktylen, "oct"))
        rc = jwk_oct(k, o, &w, err, errlen);
    else if (curve != NULL)
        rc = jwk_ec(k, o, curve, &w, err, errlen);
    else
        rc = jwk_ed25519(k, o, &w, err, errlen);
    return rc < 0 ? -1 : 1;
}

/* Two keys with one kid and a common algorithm would make a token's kid
 * ambiguous; refuse such a set rather than guess. */
static int check_kids(const struct bff_keyset *ks, char *err, size_t errlen)
{
    for (size_t i = 0; i < ks->n; i++) {
        const struct jwk *a = &ks->keys[i];
        if (a->kid == NULL)
            continue;
        for (size_t j = i + 1; j < ks->n; j++) {
            const struct jwk *b = &ks->keys[j];
            if (b->kid != NULL && a->kid_len == b->kid_len &&
                memcmp(a->kid, b->kid, a->kid_len) == 0 && (a->algs & b->algs)) {
                struct where w = {j, b->kid};
                seterr(err, errlen, &w,
                       "the kid is also used by an earlier key of the same type");
                return -1;
            }
        }
    }
    return 0;
}

struct bff_keyset *bff_keyset_parse(const char *json, size_t len, char *err,
                                    size_t errlen)
{
    struct json_tokener *tok = NULL;
    struct json_object  *root = NULL, *keys;
    struct bff_keyset   *ks = NULL;
    size_t               n, skipped = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (json == NULL || len > JWKS_MAX_BYTES) {
        seterr(err, errlen, NULL, "the JWKS is empty or larger than %d bytes",
               JWKS_MAX_BYTES);
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        seterr(err, errlen, NULL, "out of memory");
        return NULL;
    }
    root = bff_jwt_json_object(tok, json, len);
    json_tokener_free(tok);
    if (root == NULL) {
        seterr(err, errlen, NULL,
               "the JWKS is not one JSON object (strict JSON, no duplicate members)");
        goto fail;
    }
    if (!json_object_object_get_ex(root, "keys", &keys) ||
        !json_object_is_type(keys, json_type_array)) {
        seterr(err, errlen, NULL, "the JWKS has no \"keys\" array");
        goto fail;
    }
    n = json_object_array_length(keys);
    if (n > JWKS_MAX_KEYS) {
        seterr(err, errlen, NULL, "the JWKS has %zu keys; at most %d are accepted", n,
               JWKS_MAX_KEYS);
        goto fail;
    }
    ks = keyset_new(n, err, errlen);
    if (ks == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        struct jwk *k = &ks->keys[ks->n];
        int rc = jwk_parse(k, json_object_array_get_idx(keys, i), i, err, errlen);
        if (rc < 0) {
            jwk_cleanup(k);
            goto fail;
        }
        if (rc == 0) {
            jwk_cleanup(k);
            skipped++;
            continue;
        }
        ks->n++;
    }
    if (ks->n == 0) {
        seterr(err, errlen, NULL,
               "the JWKS has no usable signature key (%zu skipped: \"use\" not "
               "\"sig\", or an unsupported kty, crv or alg)",
               skipped);
        goto fail;
    }
    if (check_kids(ks, err, errlen) < 0)
        goto fail;
    json_object_put(root);
    ERR_clear_error();
    return ks;
fail:
    json_object_put(root);
    keyset_free(ks);
    ERR_clear_error();
    return NULL;
}

/* @err does not repeat @path: the caller names the file (config position). */
struct bff_keyset *bff_keyset_load_file(const char *path, char *err, size_t errlen)
{
    char              *buf = NULL;
    size_t             len = 0;
    struct bff_keyset *ks = NULL;
    struct stat        st;
    FILE              *f;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    f = fopen(path, "rb");
    if (f == NULL) {
        seterr(err, errlen, NULL, "%s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        seterr(err, errlen, NULL, "not a regular file");
        goto out;
    }
    if (st.st_size > JWKS_MAX_BYTES) {
        seterr(err, errlen, NULL, "larger than %d bytes", JWKS_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        seterr(err, errlen, NULL, "out of memory");
        goto out;
    }
    len = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (ferror(f) || len > (size_t)st.st_size) {
        seterr(err, errlen, NULL, "read failed, or the file grew while read");
        goto out;
    }
    ks = bff_keyset_parse(buf, len, err, errlen);
out:
    fclose(f);
    free(buf);
    return ks;
}

struct bff_keyset *bff_keyset_from_secret(const void *secret, size_t len,
                                          const char *kid, uint32_t algs, char *err,
                                          size_t errlen)
{
    struct bff_keyset *ks;
    struct where       w = {0, kid};

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    algs &= HS_ALGS;
    if (secret == NULL || algs == 0) {
        seterr(err, errlen, NULL,
               "no secret, or no HS256/HS384/HS512 in the algorithms");
        return NULL;
    }
    ks = keyset_new(1, err, errlen);
    if (ks == NULL)
        return NULL;
    ks->keys[0].algs = algs;
    if (kid != NULL) {
        ks->keys[0].kid = strdup(kid);
        ks->keys[0].kid_len = strlen(kid);
        if (ks->keys[0].kid == NULL) {
            seterr(err, errlen, NULL, "out of memory");
            goto fail;
        }
    }
    ks->n = 1;
    if (oct_init(&ks->keys[0], secret, len, 1, &w, err, errlen) < 0)
        goto fail;
    return ks;
fail:
    keyset_free(ks);
    ERR_clear_error();
    return NULL;
}

struct bff_keyset *bff_keyset_ref(struct bff_keyset *ks)
{
    if (ks != NULL)
        atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
    return ks;
}

void bff_keyset_unref(struct bff_keyset *ks)
{
    if (ks != NULL &&
        atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) == 1)
        keyset_free(ks);
}

size_t bff_keyset_count(const struct bff_keyset *ks)
{
    return ks != NULL ? ks->n : 0;
}
