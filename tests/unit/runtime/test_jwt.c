/* tests/unit/runtime/test_jwt.c — JWT verification and JWKS parsing (core/src/rules/jwt.c,
 * core/src/rules/jwks.c), and the bff-token tool.
 *
 * Keys are generated once in main() and inherited by Check's forked tests.
 * Tokens are signed here with OpenSSL directly (not with the code under
 * test), by the openssl command line, by the jose npm package (when node is
 * installed; tests/jwt-interop) and by bff-token. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "bff/jwt.h"
#include "runtime/tokcache.h"

#define NOW 1700000000LL

/* ---- keys ---- */

enum signer {
    K_HS,      /* the oct key "hs1" */
    K_RSA,     /* "rsa1": any RS and PS alg */
    K_RSA2,    /* "rsa-ps": JWK alg PS256 */
    K_EC256,   /* "ec256" */
    K_EC384,   /* "ec384" */
    K_EC521,   /* "ec521" */
    K_ED,      /* "ed1" */
    K_EC256B,  /* "ec-b", only in KS_TWO_EC (with ec256 as "ec-a") */
    K_ATK,     /* an attacker's P-256 key, in no set */
    K_RSA1024, /* too small for any set */
    K_RSAPEM,  /* HMAC with rsa1's public key PEM as the secret */
    K_NONE,    /* empty signature */
    K_COUNT
};

/* For helpers that also run in main(), outside Check's tests. */
#define REQUIRE(c)                                                                     \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #c);             \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static EVP_PKEY     *pk[K_COUNT];
static unsigned char hs_secret[64]; /* enough for HS512 (RFC 7518 §3.2) */
static char         *rsa_pem; /* rsa1's SubjectPublicKeyInfo PEM */

enum { KS_MAIN, KS_RSA, KS_TWO_EC, KS_COUNT };
static struct bff_keyset *ks[KS_COUNT];

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    REQUIRE(d);
    return d;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char   *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    REQUIRE(s);
    return s;
}

/* Base64url without padding, written here rather than taken from the code
 * under test. */
static char *b64(const void *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int   len;

    REQUIRE(out);
    len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static char *b64s(const char *s)
{
    return b64(s, strlen(s));
}

static size_t unb64(const char *in, unsigned char *out)
{
    char  *std = xstrdup(in);
    size_t n = strlen(std), pad = (4 - n % 4) % 4;
    char  *buf = malloc(n + pad + 1);
    int    len;

    for (size_t i = 0; i < n; i++)
        std[i] = std[i] == '-' ? '+' : std[i] == '_' ? '/' : std[i];
    memcpy(buf, std, n);
    memset(buf + n, '=', pad);
    buf[n + pad] = '\0';
    len = EVP_DecodeBlock(out, (unsigned char *)buf, (int)(n + pad));
    REQUIRE(len >= 0);
    free(std);
    free(buf);
    return (size_t)len - pad;
}

static char *bn_b64(EVP_PKEY *p, const char *name, int pad)
{
    BIGNUM       *bn = NULL;
    unsigned char bin[1024];
    int           n;

    REQUIRE(EVP_PKEY_get_bn_param(p, name, &bn));
    n = pad ? pad : BN_num_bytes(bn);
    REQUIRE(BN_bn2binpad(bn, bin, n) == n);
    BN_free(bn);
    return b64(bin, (size_t)n);
}

/* The public JWK members of @p, without braces: "kty":"RSA","n":..,"e":.. */
static char *jwk_members(EVP_PKEY *p)
{
    char  *a, *b, *out;
    char   grp[64] = "";
    size_t sz;

    if (EVP_PKEY_is_a(p, "RSA")) {
        a = bn_b64(p, OSSL_PKEY_PARAM_RSA_N, 0);
        b = bn_b64(p, OSSL_PKEY_PARAM_RSA_E, 0);
        out = xasprintf("\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", a, b);
    } else if (EVP_PKEY_is_a(p, "EC")) {
        REQUIRE(EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, grp,
                                               sizeof grp, NULL));
        sz = strcmp(grp, "prime256v1") == 0  ? 32
             : strcmp(grp, "secp384r1") == 0 ? 48
                                             : 66;
        a = bn_b64(p, OSSL_PKEY_PARAM_EC_PUB_X, (int)sz);
        b = bn_b64(p, OSSL_PKEY_PARAM_EC_PUB_Y, (int)sz);
        out = xasprintf("\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"",
                        sz == 32   ? "P-256"
                        : sz == 48 ? "P-384"
                                   : "P-521",
                        a, b);
    } else {
        unsigned char raw[32];
        size_t        rl = sizeof raw;
        REQUIRE(EVP_PKEY_get_raw_public_key(p, raw, &rl));
        a = b64(raw, rl);
        b = NULL;
        out = xasprintf("\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"", a);
    }
    free(a);
    free(b);
    return out;
}

/* The JWK members of an RSA "key" whose modulus gives the private key away,
 * made with OpenSSL's BN functions from published primes: -4 n = p (the
 * 2048-bit MODP prime of RFC 3526), -5 n = q^2 (q the 1024-bit prime of
 * RFC 2409, 2048 bits), -6 n = 3 p (a small factor). e = 65537. */
static char *rsa_bad_members(int which)
{
    BIGNUM *p = BN_get_rfc3526_prime_2048(NULL), *q = BN_get_rfc2409_prime_1024(NULL);
    BIGNUM *n = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    unsigned char buf[512];
    int           len;

    REQUIRE(p && q && n && ctx);
    if (which == -4)
        REQUIRE(BN_copy(n, p));
    else if (which == -5)
        REQUIRE(BN_sqr(n, q, ctx));
    else
        REQUIRE(BN_mul_word(p, 3) && BN_copy(n, p));
    REQUIRE(BN_is_odd(n) && BN_num_bits(n) >= 2048);
    len = BN_bn2bin(n, buf);
    char *nb = b64(buf, (size_t)len);
    char *out = xasprintf("\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"", nb);
    free(nb);
    BN_free(p);
    BN_free(q);
    BN_free(n);
    BN_CTX_free(ctx);
    return out;
}

/* Replaces $RSA, $EC256, ... in @tpl with the JWK members of those keys. */
static char *expand(const char *tpl)
{
    static const struct {
        const char *name;
        int         key; /* -1: oct hs1, -2: EC point off the curve,
                            -3: EC coordinates too short */
    } vars[] = {
        {"$RSAPRIME", -4},     {"$RSAPOW", -5},
        {"$RSA3P", -6},        {"$RSA1024", K_RSA1024},
        {"$EC256B", K_EC256B}, {"$ECSHORT", -3},
        {"$EC256", K_EC256},   {"$EC384", K_EC384},
        {"$EC521", K_EC521},   {"$ECBAD", -2},
        {"$RSA2", K_RSA2},     {"$RSA", K_RSA},
        {"$OCT", -1},          {"$ATK", K_ATK},
        {"$ED", K_ED},
    };
    size_t cap = strlen(tpl) * 4 + 16384, len = 0;
    char  *out = malloc(cap);

    REQUIRE(out);
    while (*tpl) {
        size_t i, nv = sizeof vars / sizeof vars[0];
        for (i = 0; i < nv; i++)
            if (strncmp(tpl, vars[i].name, strlen(vars[i].name)) == 0)
                break;
        if (*tpl != '$' || i == nv) {
            out[len++] = *tpl++;
            continue;
        }
        char *m;
        if (vars[i].key == -1) {
            char *k = b64(hs_secret, sizeof hs_secret);
            m = xasprintf("\"kty\":\"oct\",\"k\":\"%s\"", k);
            free(k);
        } else if (vars[i].key <= -4) {
            m = rsa_bad_members(vars[i].key);
        } else if (vars[i].key == -2 || vars[i].key == -3) {
            char *x = bn_b64(pk[K_EC256], OSSL_PKEY_PARAM_EC_PUB_X, 32);
            char *y = bn_b64(pk[K_EC256], OSSL_PKEY_PARAM_EC_PUB_Y, 32);
            if (vars[i].key == -2)
                y[5] = y[5] == 'A' ? 'B' : 'A'; /* (x, y') is not on P-256 */
            else
                x[strlen(x) - 3] = '\0'; /* 30 bytes */
            m = xasprintf("\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"",
                          x, y);
            free(x);
            free(y);
        } else {
            m = jwk_members(pk[vars[i].key]);
        }
        REQUIRE(len + strlen(m) < cap);
        memcpy(out + len, m, strlen(m));
        len += strlen(m);
        free(m);
        tpl += strlen(vars[i].name);
    }
    out[len] = '\0';
    return out;
}

static const char main_jwks[] =
    "{\"keys\":[{$RSA,\"kid\":\"rsa1\"},{$RSA2,\"kid\":\"rsa-ps\",\"alg\":\"PS256\"},"
    "{$EC256,\"kid\":\"ec256\",\"use\":\"sig\"},{$EC384,\"kid\":\"ec384\"},"
    "{$EC521,\"kid\":\"ec521\"},{$ED,\"kid\":\"ed1\"},{$OCT,\"kid\":\"hs1\"}]}";

static struct bff_keyset *keyset(const char *tpl)
{
    char               err[256];
    char              *json = expand(tpl);
    struct bff_keyset *k = bff_keyset_parse(json, strlen(json), err, sizeof err);

    if (k == NULL) {
        fprintf(stderr, "JWKS refused: %s\n", err);
        abort();
    }
    free(json);
    return k;
}

static void setup_keys(void)
{
    pk[K_RSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    pk[K_RSA2] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    pk[K_RSA1024] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    pk[K_EC256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pk[K_EC256B] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pk[K_ATK] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pk[K_EC384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    pk[K_EC521] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    pk[K_ED] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    for (int i = K_RSA; i <= K_RSA1024; i++)
        if (pk[i] == NULL)
            abort();
    if (RAND_bytes(hs_secret, sizeof hs_secret) != 1)
        abort();

    BIO  *bio = BIO_new(BIO_s_mem());
    char *mem;
    long  n;
    PEM_write_bio_PUBKEY(bio, pk[K_RSA]);
    n = BIO_get_mem_data(bio, &mem);
    rsa_pem = strndup(mem, (size_t)n);
    BIO_free(bio);

    ks[KS_MAIN] = keyset(main_jwks);
    ks[KS_RSA] = keyset("{\"keys\":[{$RSA,\"kid\":\"rsa1\"}]}");
    ks[KS_TWO_EC] =
        keyset("{\"keys\":[{$EC256,\"kid\":\"ec-a\"},{$EC256B,\"kid\":\"ec-b\"}]}");
}

static void teardown_keys(void)
{
    for (int i = 0; i < KS_COUNT; i++)
        bff_keyset_unref(ks[i]);
    for (int i = 0; i < K_COUNT; i++)
        EVP_PKEY_free(pk[i]);
    free(rsa_pem);
}

/* ---- signing, with OpenSSL directly ---- */

static const char *md_of(const char *alg)
{
    return strstr(alg, "256") ? "SHA256" : strstr(alg, "384") ? "SHA384" : "SHA512";
}

/* Signs @msg as JWS alg @alg with @who's key. @der keeps OpenSSL's DER ECDSA
 * signature instead of JWS r‖s. Returns the raw signature. */
static unsigned char *sign_raw(const char *alg, enum signer who, const char *msg,
                               int der, size_t *siglen)
{
    unsigned char *sig = malloc(1024);
    EVP_MD_CTX    *ctx;
    EVP_PKEY_CTX  *pctx = NULL;

    ck_assert_ptr_nonnull(sig);
    *siglen = 0;
    if (who == K_NONE)
        return sig;
    if (who == K_HS || who == K_RSAPEM) {
        const void *key = who == K_HS ? (const void *)hs_secret : (const void *)rsa_pem;
        size_t      klen = who == K_HS ? sizeof hs_secret : strlen(rsa_pem);
        ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, md_of(alg), NULL, key, klen,
                                        (const unsigned char *)msg, strlen(msg), sig,
                                        1024, siglen));
        return sig;
    }
    ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit_ex(ctx, &pctx,
                                           strcmp(alg, "EdDSA") ? md_of(alg) : NULL,
                                           NULL, NULL, pk[who], NULL),
                     1);
    if (alg[0] == 'P') {
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST),
                         1);
    }
    *siglen = 1024;
    ck_assert_int_eq(
        EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg[0] == 'E' && alg[1] == 'S' && !der) {
        const unsigned char *p = sig;
        ECDSA_SIG           *es = d2i_ECDSA_SIG(NULL, &p, (long)*siglen);
        const BIGNUM        *r, *s;
        int sz = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;
        ck_assert_ptr_nonnull(es);
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, sig, sz);
        BN_bn2binpad(s, sig + sz, sz);
        *siglen = 2 * (size_t)sz;
        ECDSA_SIG_free(es);
    }
    return sig;
}

static char *mktoken_n(const char *alg, enum signer who, const char *hdr, size_t hlen,
                       const char *pay, int der)
{
    char  *h = b64(hdr, hlen), *p = b64s(pay), *msg = xasprintf("%s.%s", h, p), *s, *t;
    size_t sl;
    unsigned char *sig = sign_raw(alg, who, msg, der, &sl);

    s = b64(sig, sl);
    t = xasprintf("%s.%s", msg, s);
    free(h);
    free(p);
    free(msg);
    free(s);
    free(sig);
    return t;
}

static char *mktoken(const char *alg, enum signer who, const char *hdr, const char *pay,
                     int der)
{
    return mktoken_n(alg, who, hdr, strlen(hdr), pay, der);
}

/* ---- policies ---- */

enum { P_DEF, P_RS256, P_OPEN, P_STRICT, P_CLAIMS, P_COUNT };

static const char *const audiences[] = {"shop", "shop-web", NULL};

static struct bff_jwt_policy policy(int which)
{
    struct bff_jwt_policy p = {
        .algorithms = 0x1fff,
        .issuer = "https://auth.test",
        .audience = audiences,
        .leeway_s = 30,
        .claim_user_id = "sub",
        .claim_roles = "roles",
    };
    switch (which) {
    case P_RS256:
        p.algorithms = BFF_ALG_RS256;
        break;
    case P_OPEN:
        p.issuer = NULL;
        p.audience = NULL;
        break;
    case P_STRICT:
        p.leeway_s = 0;
        break;
    case P_CLAIMS:
        p.claim_user_id = "uid";
        p.claim_roles = "groups";
        break;
    }
    return p;
}

/* ---- the verification table ---- */

enum mutate {
    M_NONE,
    M_DER,        /* ECDSA signature left in DER */
    M_TAMPER_HDR, /* header replaced by @after, signature kept */
    M_TAMPER_PAY, /* payload replaced by @after, signature kept */
    M_TAMPER_SIG, /* one bit of the signature flipped */
    M_SIG_TRUNC,  /* signature shortened by whole base64 quanta */
    M_SIG_EXTRA,  /* "AAAA" appended to the signature */
    M_PAD_SIG,    /* "=" appended */
    M_PAD_HDR,    /* "=" after the header */
    M_PLUS,       /* '+' as the first signature character */
    M_SLASH,      /* '/' as the first payload character */
    M_SPACE,      /* ' ' after the first dot */
    M_NL,         /* "\n" appended */
    M_BADBITS,    /* the unused low bits of the last character set */
    M_2SEG,       /* signature segment dropped */
    M_4SEG,       /* ".AAAA" appended */
    M_5SEG,       /* ".AAAA.AAAA" appended (JWE shape) */
    M_EMPTY,      /* "" */
    M_DOTS,       /* ".." */
    M_HUGE,       /* a valid token of 16385 bytes */
    M_FIT,        /* a valid token of exactly 16384 bytes */
    M_DOTS_HUGE,  /* 20000 dots */
    M_HDR_NUL,    /* a NUL byte after the header's JSON, signed */
};

struct vcase {
    const char         *name;
    int                 ks;
    enum signer         who;
    const char         *alg; /* the signing algorithm */
    const char         *hdr; /* NULL: {"alg":alg,"typ":"JWT","kid":<who's kid>} */
    const char         *pay; /* NULL: the default claims */
    enum mutate         mut;
    const char         *after; /* M_TAMPER_* */
    int                 pol;
    enum bff_jwt_reason want;
    const char         *user, *roles; /* checked when want is OK */
};

#define CL(extra)                                                                      \
    "{\"iss\":\"https://auth.test\",\"aud\":\"shop\",\"iat\":1699999990" extra "}"
#define STD ",\"sub\":\"4412\",\"roles\":[\"customer\"],\"exp\":1700000300"
#define EXPOK ",\"exp\":1700000300"
#define DEFPAY CL(STD)

static const char *const kids[K_COUNT] = {
    [K_HS] = "hs1",      [K_RSA] = "rsa1",     [K_RSA2] = "rsa-ps", [K_EC256] = "ec256",
    [K_EC384] = "ec384", [K_EC521] = "ec521",  [K_ED] = "ed1",      [K_EC256B] = "ec-b",
    [K_ATK] = "ec256",   [K_RSA1024] = "rsa1", [K_RSAPEM] = "rsa1", [K_NONE] = "hs1",
};

static char long_sub_255[512], long_sub_256[512], role_64[512], role_65[512],
    many_roles[2000], utf8_pay[300];

#define LONG_SUB_255 "@sub255"
#define LONG_SUB_256 "@sub256"
#define ROLE_64 "@role64"
#define ROLE_65 "@role65"
#define MANY_ROLES "@many"
#define NOT_UTF8 "@notutf8"

static const struct vcase vcases[] = {
    /* every algorithm, signed with OpenSSL here */
    {"HS256", KS_MAIN, K_HS, "HS256", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"HS384", KS_MAIN, K_HS, "HS384", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"HS512", KS_MAIN, K_HS, "HS512", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"RS256", KS_MAIN, K_RSA, "RS256", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"RS384", KS_MAIN, K_RSA, "RS384", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"RS512", KS_MAIN, K_RSA, "RS512", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"PS256", KS_MAIN, K_RSA, "PS256", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"PS384", KS_MAIN, K_RSA, "PS384", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"PS512", KS_MAIN, K_RSA, "PS512", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"ES256", KS_MAIN, K_EC256, "ES256", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"ES384", KS_MAIN, K_EC384, "ES384", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"ES512", KS_MAIN, K_EC521, "ES512", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"EdDSA", KS_MAIN, K_ED, "EdDSA", NULL, NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     "customer"},
    {"PS256 key restricted by JWK alg", KS_MAIN, K_RSA2, "PS256", NULL, NULL, 0, NULL,
     P_DEF, BFF_JWT_OK, "4412", "customer"},
    {"typ at+jwt and jku/x5u ignored", KS_MAIN, K_EC256, "ES256",
     "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"typ\":\"at+jwt\",\"jku\":\"https://evil/"
     "\",\"x5u\":\"https://evil/\"}",
     NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412", "customer"},

    /* choosing the key */
    {"RS256 without kid: one RSA key fits", KS_MAIN, K_RSA, "RS256",
     "{\"alg\":\"RS256\"}", NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412", NULL},
    {"PS256 without kid: two RSA keys fit", KS_MAIN, K_RSA, "PS256",
     "{\"alg\":\"PS256\"}", NULL, 0, NULL, P_DEF, BFF_JWT_UNKNOWN_KID, NULL, NULL},
    {"ES256 without kid: one P-256 key", KS_MAIN, K_EC256, "ES256",
     "{\"alg\":\"ES256\"}", NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412", NULL},
    {"ES256 without kid: two P-256 keys", KS_TWO_EC, K_EC256, "ES256",
     "{\"alg\":\"ES256\"}", NULL, 0, NULL, P_DEF, BFF_JWT_UNKNOWN_KID, NULL, NULL},
    {"ES256 kid picks the second key", KS_TWO_EC, K_EC256B, "ES256", NULL, NULL, 0,
     NULL, P_DEF, BFF_JWT_OK, "4412", NULL},
    {"ES256 kid picks a key that did not sign", KS_TWO_EC, K_EC256, "ES256",
     "{\"alg\":\"ES256\",\"kid\":\"ec-b\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"unknown kid", KS_MAIN, K_HS, "HS256", "{\"alg\":\"HS256\",\"kid\":\"nope\"}",
     NULL, 0, NULL, P_DEF, BFF_JWT_UNKNOWN_KID, NULL, NULL},
    {"kid is a number", KS_MAIN, K_HS, "HS256", "{\"alg\":\"HS256\",\"kid\":1}", NULL,
     0, NULL, P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"RS256 names a PS256-only key", KS_MAIN, K_RSA2, "RS256",
     "{\"alg\":\"RS256\",\"kid\":\"rsa-ps\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"ES384 names the P-256 key", KS_MAIN, K_EC384, "ES384",
     "{\"alg\":\"ES384\",\"kid\":\"ec256\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"ES256 names the Ed25519 key", KS_MAIN, K_EC256, "ES256",
     "{\"alg\":\"ES256\",\"kid\":\"ed1\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"HS256 names the RSA key", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"HS256 MAC'd with the RSA PEM, kid", KS_RSA, K_RSAPEM, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"HS256 MAC'd with the RSA PEM, no kid", KS_RSA, K_RSAPEM, "HS256",
     "{\"alg\":\"HS256\"}", NULL, 0, NULL, P_DEF, BFF_JWT_UNKNOWN_KID, NULL, NULL},
    {"HS256 MAC'd with the RSA PEM, RS256 policy", KS_RSA, K_RSAPEM, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", NULL, 0, NULL, P_RS256,
     BFF_JWT_ALG_REFUSED, NULL, NULL},

    /* algorithms */
    {"alg none", KS_MAIN, K_NONE, "none", "{\"alg\":\"none\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"alg None", KS_MAIN, K_NONE, "none", "{\"alg\":\"None\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"alg NONE", KS_MAIN, K_NONE, "none", "{\"alg\":\"NONE\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"alg nOnE with kid", KS_MAIN, K_NONE, "none", "{\"alg\":\"nOnE\",\"kid\":\"hs1\"}",
     NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"alg none with a MAC", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"none\",\"kid\":\"hs1\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"alg none, unknown kid", KS_MAIN, K_NONE, "none",
     "{\"alg\":\"none\",\"kid\":\"x\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"alg hs256 (wrong case)", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"hs256\",\"kid\":\"hs1\"}", NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED,
     NULL, NULL},
    {"alg HS1 (unknown)", KS_MAIN, K_HS, "HS256", "{\"alg\":\"HS1\",\"kid\":\"hs1\"}",
     NULL, 0, NULL, P_DEF, BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"alg with NUL", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\\u0000\",\"kid\":\"hs1\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"HS256 outside the allowlist", KS_MAIN, K_HS, "HS256", NULL, NULL, 0, NULL,
     P_RS256, BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"ES256 outside the allowlist", KS_MAIN, K_EC256, "ES256", NULL, NULL, 0, NULL,
     P_RS256, BFF_JWT_ALG_REFUSED, NULL, NULL},
    {"RS256 inside the allowlist", KS_MAIN, K_RSA, "RS256", NULL, NULL, 0, NULL,
     P_RS256, BFF_JWT_OK, "4412", NULL},
    {"alg missing", KS_MAIN, K_HS, "HS256", "{\"kid\":\"hs1\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"alg is a number", KS_MAIN, K_HS, "HS256", "{\"alg\":256,\"kid\":\"hs1\"}", NULL,
     0, NULL, P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"crit [exp]", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\",\"crit\":[\"exp\"],\"exp\":1}", NULL, 0, NULL,
     P_DEF, BFF_JWT_CRIT, NULL, NULL},
    {"crit [] ", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\",\"crit\":[]}", NULL, 0, NULL, P_DEF,
     BFF_JWT_CRIT, NULL, NULL},
    {"crit b64 false", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\",\"b64\":false,\"crit\":[\"b64\"]}", NULL, 0,
     NULL, P_DEF, BFF_JWT_CRIT, NULL, NULL},
    {"crit before the signature", KS_MAIN, K_NONE, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\",\"crit\":[\"x\"]}", NULL, 0, NULL, P_DEF,
     BFF_JWT_CRIT, NULL, NULL},
    {"embedded jwk, set's kid", KS_MAIN, K_ATK, "ES256",
     "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"jwk\":{$ATK}}", NULL, 0, NULL, P_DEF,
     BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"embedded jwk, no kid", KS_MAIN, K_ATK, "ES256",
     "{\"alg\":\"ES256\",\"jwk\":{$ATK}}", NULL, 0, NULL, P_DEF, BFF_JWT_BAD_SIGNATURE,
     NULL, NULL},
    {"embedded jwk, its own kid", KS_MAIN, K_ATK, "ES256",
     "{\"alg\":\"ES256\",\"kid\":\"atk\",\"jwk\":{$ATK,\"kid\":\"atk\"}}", NULL, 0,
     NULL, P_DEF, BFF_JWT_UNKNOWN_KID, NULL, NULL},
    {"x5c and jku with an attacker's key", KS_MAIN, K_ATK, "ES256",
     "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"x5c\":[\"MIIB\"],\"jku\":\"https://evil/"
     "jwks\"}",
     NULL, 0, NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},

    /* signature and encoding */
    {"tampered header", KS_MAIN, K_HS, "HS256", NULL, NULL, M_TAMPER_HDR,
     "{\"alg\":\"HS256\",\"kid\":\"hs1\",\"typ\":\"JWS\"}", P_DEF,
     BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered payload", KS_MAIN, K_RSA, "RS256", NULL, NULL, M_TAMPER_PAY,
     CL(",\"sub\":\"1\",\"roles\":[\"admin\"],\"exp\":1700000300"), P_DEF,
     BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered payload, ES256", KS_MAIN, K_EC256, "ES256", NULL, NULL, M_TAMPER_PAY,
     CL(",\"sub\":\"1\",\"exp\":1700000300"), P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered signature HS256", KS_MAIN, K_HS, "HS256", NULL, NULL, M_TAMPER_SIG, NULL,
     P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered signature RS256", KS_MAIN, K_RSA, "RS256", NULL, NULL, M_TAMPER_SIG,
     NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered signature PS384", KS_MAIN, K_RSA, "PS384", NULL, NULL, M_TAMPER_SIG,
     NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered signature ES256", KS_MAIN, K_EC256, "ES256", NULL, NULL, M_TAMPER_SIG,
     NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered signature ES512", KS_MAIN, K_EC521, "ES512", NULL, NULL, M_TAMPER_SIG,
     NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"tampered signature EdDSA", KS_MAIN, K_ED, "EdDSA", NULL, NULL, M_TAMPER_SIG, NULL,
     P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"RS256 signed, PS256 claimed", KS_MAIN, K_RSA, "RS256",
     "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"DER ECDSA signature ES256", KS_MAIN, K_EC256, "ES256", NULL, NULL, M_DER, NULL,
     P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"DER ECDSA signature ES384", KS_MAIN, K_EC384, "ES384", NULL, NULL, M_DER, NULL,
     P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"DER ECDSA signature ES512", KS_MAIN, K_EC521, "ES512", NULL, NULL, M_DER, NULL,
     P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"empty signature", KS_MAIN, K_NONE, "HS256", NULL, NULL, 0, NULL, P_DEF,
     BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"truncated signature HS256", KS_MAIN, K_HS, "HS256", NULL, NULL, M_SIG_TRUNC, NULL,
     P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"truncated signature RS256", KS_MAIN, K_RSA, "RS256", NULL, NULL, M_SIG_TRUNC,
     NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"signature with extra bytes", KS_MAIN, K_ED, "EdDSA", NULL, NULL, M_SIG_EXTRA,
     NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL, NULL},
    {"padded signature", KS_MAIN, K_HS, "HS256", NULL, NULL, M_PAD_SIG, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"padded header", KS_MAIN, K_HS, "HS256", NULL, NULL, M_PAD_HDR, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"'+' in the signature", KS_MAIN, K_HS, "HS256", NULL, NULL, M_PLUS, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"'/' in the payload", KS_MAIN, K_HS, "HS256", NULL, NULL, M_SLASH, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"space in the token", KS_MAIN, K_HS, "HS256", NULL, NULL, M_SPACE, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"newline after the token", KS_MAIN, K_HS, "HS256", NULL, NULL, M_NL, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"non-canonical base64 (unused bits set)", KS_MAIN, K_HS, "HS256", NULL, NULL,
     M_BADBITS, NULL, P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"2 segments", KS_MAIN, K_HS, "HS256", NULL, NULL, M_2SEG, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"4 segments", KS_MAIN, K_HS, "HS256", NULL, NULL, M_4SEG, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"5 segments", KS_MAIN, K_HS, "HS256", NULL, NULL, M_5SEG, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"empty token", KS_MAIN, K_HS, "HS256", NULL, NULL, M_EMPTY, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"two dots", KS_MAIN, K_HS, "HS256", NULL, NULL, M_DOTS, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header is an array", KS_MAIN, K_HS, "HS256", "[\"HS256\"]", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header is a string", KS_MAIN, K_HS, "HS256", "\"HS256\"", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header is a number", KS_MAIN, K_HS, "HS256", "256", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header is empty", KS_MAIN, K_HS, "HS256", "", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header with trailing garbage", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\"}x", NULL, 0, NULL, P_DEF, BFF_JWT_MALFORMED,
     NULL, NULL},
    {"header with two objects", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\"}{}", NULL, 0, NULL, P_DEF, BFF_JWT_MALFORMED,
     NULL, NULL},
    {"header with trailing space", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\"} \n", NULL, 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     NULL},
    {"header with single quotes", KS_MAIN, K_HS, "HS256", "{'alg':'HS256','kid':'hs1'}",
     NULL, 0, NULL, P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"header with a trailing comma", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\",}", NULL, 0, NULL, P_DEF, BFF_JWT_MALFORMED,
     NULL, NULL},
    {"header with a NUL byte", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\":\"hs1\"}", NULL, M_HDR_NUL, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header with alg twice", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"hs1\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"header member name with \\u0000", KS_MAIN, K_HS, "HS256",
     "{\"alg\":\"HS256\",\"kid\\u0000x\":\"hs1\"}", NULL, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"payload is an array", KS_MAIN, K_HS, "HS256", NULL, "[" DEFPAY "]", 0, NULL,
     P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"payload is a string", KS_MAIN, K_HS, "HS256", NULL, "\"4412\"", 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"payload is a number", KS_MAIN, K_HS, "HS256", NULL, "4412", 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"payload with sub twice", KS_MAIN, K_HS, "HS256", NULL, CL(STD ",\"sub\":\"1\""),
     0, NULL, P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"payload not UTF-8", KS_MAIN, K_HS, "HS256", NULL, NOT_UTF8, 0, NULL, P_DEF,
     BFF_JWT_MALFORMED, NULL, NULL},
    {"payload with NaN", KS_MAIN, K_HS, "HS256", NULL, CL(STD ",\"x\":NaN"), 0, NULL,
     P_DEF, BFF_JWT_MALFORMED, NULL, NULL},
    {"token over 16 KiB", KS_MAIN, K_HS, "HS256", NULL, NULL, M_HUGE, NULL, P_DEF,
     BFF_JWT_TOO_LARGE, NULL, NULL},
    {"token of exactly 16 KiB", KS_MAIN, K_HS, "HS256", NULL, NULL, M_FIT, NULL, P_DEF,
     BFF_JWT_OK, "4412", NULL},
    {"20000 dots", KS_MAIN, K_HS, "HS256", NULL, NULL, M_DOTS_HUGE, NULL, P_DEF,
     BFF_JWT_TOO_LARGE, NULL, NULL},

    /* times */
    {"expired", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1699999969"), 0, NULL, P_DEF, BFF_JWT_EXPIRED, NULL,
     NULL},
    {"expired within leeway", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1699999970"), 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     ""},
    {"expired a second ago, no leeway", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1699999999"), 0, NULL, P_STRICT, BFF_JWT_EXPIRED,
     NULL, NULL},
    {"expires now, no leeway", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1700000000"), 0, NULL, P_STRICT, BFF_JWT_OK, "4412",
     NULL},
    {"expired, bad signature", KS_MAIN, K_NONE, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1"), 0, NULL, P_DEF, BFF_JWT_BAD_SIGNATURE, NULL,
     NULL},
    {"nbf in the future", KS_MAIN, K_HS, "HS256", NULL, CL(STD ",\"nbf\":1700000031"),
     0, NULL, P_DEF, BFF_JWT_NOT_YET_VALID, NULL, NULL},
    {"nbf within leeway", KS_MAIN, K_HS, "HS256", NULL, CL(STD ",\"nbf\":1700000030"),
     0, NULL, P_DEF, BFF_JWT_OK, "4412", NULL},
    {"nbf fractional, rounded up", KS_MAIN, K_HS, "HS256", NULL,
     CL(STD ",\"nbf\":1700000030.2"), 0, NULL, P_DEF, BFF_JWT_NOT_YET_VALID, NULL,
     NULL},
    {"nbf is a string", KS_MAIN, K_HS, "HS256", NULL, CL(STD ",\"nbf\":\"0\""), 0, NULL,
     P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"iat in the future", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":\"shop\",\"iat\":1700000031" STD "}", 0,
     NULL, P_DEF, BFF_JWT_NOT_YET_VALID, NULL, NULL},
    {"iat within leeway", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":\"shop\",\"iat\":1700000030" STD "}", 0,
     NULL, P_DEF, BFF_JWT_OK, "4412", NULL},
    {"exp missing", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"4412\""), 0, NULL,
     P_DEF, BFF_JWT_NO_EXP, NULL, NULL},
    {"exp is a string", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":\"1700000300\""), 0, NULL, P_DEF, BFF_JWT_NO_EXP,
     NULL, NULL},
    {"exp is true", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"4412\",\"exp\":true"),
     0, NULL, P_DEF, BFF_JWT_NO_EXP, NULL, NULL},
    {"exp is null", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"4412\",\"exp\":null"),
     0, NULL, P_DEF, BFF_JWT_NO_EXP, NULL, NULL},
    {"exp is fractional", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1700000300.5"), 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     NULL},
    {"exp is 1e999", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":1e999"), 0, NULL, P_DEF, BFF_JWT_NO_EXP, NULL, NULL},
    {"exp is huge", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":99999999999999999999"), 0, NULL, P_DEF, BFF_JWT_OK,
     "4412", NULL},
    {"exp is very negative", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"exp\":-9223372036854775808"), 0, NULL, P_DEF,
     BFF_JWT_EXPIRED, NULL, NULL},

    /* issuer and audience */
    {"wrong iss", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://evil.test\",\"aud\":\"shop\"" STD "}", 0, NULL, P_DEF,
     BFF_JWT_BAD_ISSUER, NULL, NULL},
    {"iss with a suffix", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test/\",\"aud\":\"shop\"" STD "}", 0, NULL, P_DEF,
     BFF_JWT_BAD_ISSUER, NULL, NULL},
    {"iss missing", KS_MAIN, K_HS, "HS256", NULL, "{\"aud\":\"shop\"" STD "}", 0, NULL,
     P_DEF, BFF_JWT_BAD_ISSUER, NULL, NULL},
    {"iss is a number", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":1,\"aud\":\"shop\"" STD "}", 0, NULL, P_DEF, BFF_JWT_BAD_ISSUER, NULL,
     NULL},
    {"no iss, no aud, policy checks neither", KS_MAIN, K_HS, "HS256", NULL,
     "{\"sub\":\"4412\",\"roles\":[\"customer\"],\"exp\":1700000300}", 0, NULL, P_OPEN,
     BFF_JWT_OK, "4412", "customer"},
    {"aud string, second audience", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":\"shop-web\"" STD "}", 0, NULL, P_DEF,
     BFF_JWT_OK, "4412", NULL},
    {"aud array matches", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":[\"x\",\"shop\"]" STD "}", 0, NULL, P_DEF,
     BFF_JWT_OK, "4412", NULL},
    {"aud array mismatch", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":[\"x\",\"y\"]" STD "}", 0, NULL, P_DEF,
     BFF_JWT_BAD_AUDIENCE, NULL, NULL},
    {"aud string mismatch", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":\"shopx\"" STD "}", 0, NULL, P_DEF,
     BFF_JWT_BAD_AUDIENCE, NULL, NULL},
    {"aud empty array", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":[]" STD "}", 0, NULL, P_DEF,
     BFF_JWT_BAD_AUDIENCE, NULL, NULL},
    {"aud missing", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\"" STD "}", 0, NULL, P_DEF, BFF_JWT_BAD_AUDIENCE,
     NULL, NULL},
    {"aud array with a number", KS_MAIN, K_HS, "HS256", NULL,
     "{\"iss\":\"https://auth.test\",\"aud\":[1,\"shop\"]" STD "}", 0, NULL, P_DEF,
     BFF_JWT_BAD_AUDIENCE, NULL, NULL},

    /* the user id */
    {"sub with CRLF", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"44\\r\\n12\"" EXPOK),
     0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub with a comma", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"44,12\"" EXPOK),
     0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub missing", KS_MAIN, K_HS, "HS256", NULL, CL(",\"roles\":[\"customer\"]" EXPOK),
     0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub numeric", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":4412" EXPOK), 0, NULL,
     P_DEF, BFF_JWT_OK, "4412", ""},
    {"sub numeric, large", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":18446744073709551615" EXPOK), 0, NULL, P_DEF, BFF_JWT_OK,
     "18446744073709551615", ""},
    {"sub fractional", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":4412.5" EXPOK), 0,
     NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub true", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":true" EXPOK), 0, NULL,
     P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub empty", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"\"" EXPOK), 0, NULL,
     P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub of 255 bytes", KS_MAIN, K_HS, "HS256", NULL, LONG_SUB_255, 0, NULL, P_DEF,
     BFF_JWT_OK, NULL, NULL},
    {"sub of 256 bytes", KS_MAIN, K_HS, "HS256", NULL, LONG_SUB_256, 0, NULL, P_DEF,
     BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub in UTF-8", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"Zo\\u00eb\"" EXPOK),
     0, NULL, P_DEF, BFF_JWT_OK, "Zo\xc3\xab", ""},
    {"sub with \\u0000", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\\u0000admin\"" EXPOK), 0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL,
     NULL},
    {"sub with DEL", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"44\\u007f\"" EXPOK),
     0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub with U+0085", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"44\\u0085\"" EXPOK), 0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub with a leading space", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\" 4412\"" EXPOK), 0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"sub with inner space", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"Ada Lovelace\"" EXPOK), 0, NULL, P_DEF, BFF_JWT_OK, "Ada Lovelace",
     ""},
    {"user id from another claim", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"uid\":\"u-1\",\"sub\":\"x,y\",\"groups\":\"a b\"" EXPOK), 0, NULL, P_CLAIMS,
     BFF_JWT_OK, "u-1", "a,b"},

    /* roles */
    {"roles array", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[\"customer\",\"support\"]" EXPOK), 0, NULL, P_DEF,
     BFF_JWT_OK, "4412", "customer,support"},
    {"roles string", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":\"customer support\"" EXPOK), 0, NULL, P_DEF,
     BFF_JWT_OK, "4412", "customer,support"},
    {"roles string with commas", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":\" a, b,,c \"" EXPOK), 0, NULL, P_DEF, BFF_JWT_OK,
     "4412", "a,b,c"},
    {"roles with every allowed character", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[\"shop:admin-2.read_all\"]" EXPOK), 0, NULL,
     P_DEF, BFF_JWT_OK, "4412", "shop:admin-2.read_all"},
    {"roles missing", KS_MAIN, K_HS, "HS256", NULL, CL(",\"sub\":\"4412\"" EXPOK), 0,
     NULL, P_DEF, BFF_JWT_OK, "4412", ""},
    {"roles empty array", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[]" EXPOK), 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     ""},
    {"roles null", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":null" EXPOK), 0, NULL, P_DEF, BFF_JWT_OK, "4412",
     ""},
    {"role with a space", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[\"adm in\"]" EXPOK), 0, NULL, P_DEF,
     BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"role with a comma", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[\"customer,admin\"]" EXPOK), 0, NULL, P_DEF,
     BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"role with CRLF", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[\"ok\",\"x\\r\\nX-Admin: 1\"]" EXPOK), 0, NULL,
     P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"role string with CRLF", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":\"ok\\r\\nx\"" EXPOK), 0, NULL, P_DEF,
     BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"role empty string in array", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[\"\"]" EXPOK), 0, NULL, P_DEF, BFF_JWT_BAD_CLAIM,
     NULL, NULL},
    {"roles is a number", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":1" EXPOK), 0, NULL, P_DEF, BFF_JWT_BAD_CLAIM, NULL,
     NULL},
    {"roles array of numbers", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":[1]" EXPOK), 0, NULL, P_DEF, BFF_JWT_BAD_CLAIM,
     NULL, NULL},
    {"roles is an object", KS_MAIN, K_HS, "HS256", NULL,
     CL(",\"sub\":\"4412\",\"roles\":{\"a\":1}" EXPOK), 0, NULL, P_DEF,
     BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"role of 64 characters", KS_MAIN, K_HS, "HS256", NULL, ROLE_64, 0, NULL, P_DEF,
     BFF_JWT_OK, "4412", NULL},
    {"role of 65 characters", KS_MAIN, K_HS, "HS256", NULL, ROLE_65, 0, NULL, P_DEF,
     BFF_JWT_BAD_CLAIM, NULL, NULL},
    {"roles too long together", KS_MAIN, K_HS, "HS256", NULL, MANY_ROLES, 0, NULL,
     P_DEF, BFF_JWT_BAD_CLAIM, NULL, NULL},
};

static void setup_payloads(void)
{
    char s[300];

    memset(s, 'u', 255);
    s[255] = '\0';
    snprintf(long_sub_255, sizeof long_sub_255, CL(",\"sub\":\"%s\"" EXPOK), s);
    snprintf(long_sub_256, sizeof long_sub_256, CL(",\"sub\":\"%su\"" EXPOK), s);
    s[64] = '\0';
    snprintf(role_64, sizeof role_64, CL(",\"sub\":\"4412\",\"roles\":[\"%s\"]" EXPOK),
             s);
    snprintf(role_65, sizeof role_65, CL(",\"sub\":\"4412\",\"roles\":[\"%su\"]" EXPOK),
             s);
    /* 17 roles of 60 characters: 1036 bytes joined, over 1023 */
    size_t n = (size_t)snprintf(many_roles, sizeof many_roles,
                                "{\"sub\":\"4412\",\"iss\":\"https://auth.test\","
                                "\"aud\":\"shop\"" EXPOK ",\"roles\":[");
    s[60] = '\0';
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(many_roles + n, sizeof many_roles - n, "%s\"%s\"",
                              i ? "," : "", s);
    snprintf(many_roles + n, sizeof many_roles - n, "]}");
    snprintf(utf8_pay, sizeof utf8_pay,
             CL(",\"sub\":\"4412\",\"name\":\"\xff\"" EXPOK));
}

static const char *payload_of(const struct vcase *c)
{
    if (c->pay == NULL)
        return DEFPAY;
    if (strcmp(c->pay, LONG_SUB_255) == 0)
        return long_sub_255;
    if (strcmp(c->pay, LONG_SUB_256) == 0)
        return long_sub_256;
    if (strcmp(c->pay, ROLE_64) == 0)
        return role_64;
    if (strcmp(c->pay, ROLE_65) == 0)
        return role_65;
    if (strcmp(c->pay, MANY_ROLES) == 0)
        return many_roles;
    if (strcmp(c->pay, NOT_UTF8) == 0)
        return utf8_pay;
    return c->pay;
}

/* Replaces segment @seg (0..2) of @t with @with; frees @t. */
static char *replace_seg(char *t, int seg, const char *with)
{
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.'), *r;

    *d1 = *d2 = '\0';
    r = xasprintf("%s.%s.%s", seg == 0 ? with : t, seg == 1 ? with : d1 + 1,
                  seg == 2 ? with : d2 + 1);
    free(t);
    return r;
}

/* A valid HS256 token of exactly @want bytes, grown by a filler claim. */
static char *token_of_size(size_t want)
{
    char *filler = malloc(want + 1), *pay, *t;

    for (size_t n = want * 3 / 4 - 200; n < want; n++) {
        memset(filler, 'f', n);
        filler[n] = '\0';
        pay = xasprintf(CL(STD ",\"f\":\"%s\""), filler);
        t = mktoken("HS256", K_HS, "{\"alg\":\"HS256\",\"kid\":\"hs1\"}", pay, 0);
        free(pay);
        if (strlen(t) == want) {
            free(filler);
            return t;
        }
        free(t);
    }
    free(filler);
    ck_abort_msg("cannot build a token of %zu bytes", want);
    return NULL;
}

static char *build(const struct vcase *c)
{
    char *hdr, *t, *s;

    switch (c->mut) {
    case M_EMPTY:
        return xstrdup("");
    case M_DOTS:
        return xstrdup("..");
    case M_DOTS_HUGE:
        t = malloc(20001);
        memset(t, '.', 20000);
        t[20000] = '\0';
        return t;
    case M_HUGE:
        return token_of_size(BFF_JWT_MAX_TOKEN + 1);
    case M_FIT:
        return token_of_size(BFF_JWT_MAX_TOKEN);
    default:
        break;
    }
    if (c->hdr != NULL)
        hdr = expand(c->hdr);
    else
        hdr = xasprintf("{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", c->alg,
                        kids[c->who]);
    t = mktoken_n(c->alg, c->who, hdr, strlen(hdr) + (c->mut == M_HDR_NUL),
                  payload_of(c), c->mut == M_DER);
    free(hdr);

    char  *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.'), *r = NULL;
    size_t len = strlen(t);
    switch (c->mut) {
    case M_TAMPER_HDR:
        s = b64s(c->after);
        t = replace_seg(t, 0, s);
        free(s);
        return t;
    case M_TAMPER_PAY:
        s = b64s(c->after);
        t = replace_seg(t, 1, s);
        free(s);
        return t;
    case M_TAMPER_SIG: {
        unsigned char raw[1024];
        size_t        n = unb64(d2 + 1, raw);
        raw[n / 2] ^= 0x01;
        s = b64(raw, n);
        t = replace_seg(t, 2, s);
        free(s);
        return t;
    }
    case M_SIG_TRUNC: {
        size_t sl = strlen(d2 + 1);
        t[len - (sl % 4 ? sl % 4 : 4)] = '\0';
        return t;
    }
    case M_SIG_EXTRA:
        r = xasprintf("%sAAAA", t);
        break;
    case M_PAD_SIG:
        r = xasprintf("%s=", t);
        break;
    case M_PAD_HDR:
        *d1 = '\0';
        r = xasprintf("%s=.%s", t, d1 + 1);
        break;
    case M_PLUS:
        d2[1] = '+';
        return t;
    case M_SLASH:
        d1[1] = '/';
        return t;
    case M_SPACE:
        *d1 = '\0';
        r = xasprintf("%s. %s", t, d1 + 1);
        break;
    case M_NL:
        r = xasprintf("%s\n", t);
        break;
    case M_BADBITS: {
        /* HS256: 43 characters, the last carrying 2 unused bits */
        static const char alpha[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        ck_assert_uint_eq(strlen(d2 + 1), 43);
        t[len - 1] = alpha[(strchr(alpha, t[len - 1]) - alpha) | 1];
        return t;
    }
    case M_2SEG:
        *d2 = '\0';
        return t;
    case M_4SEG:
        r = xasprintf("%s.AAAA", t);
        break;
    case M_5SEG:
        r = xasprintf("%s.AAAA.AAAA", t);
        break;
    default:
        return t;
    }
    free(t);
    return r;
}

START_TEST(verify_table)
{
    const struct vcase   *c = &vcases[_i];
    struct bff_jwt_policy pol = policy(c->pol);
    struct bff_identity   id;
    char                 *t = build(c);
    enum bff_jwt_reason   r;

    memset(&id, 0x55, sizeof id);
    r = bff_jwt_verify(ks[c->ks], &pol, t, strlen(t), NOW, &id);
    ck_assert_msg(r == c->want, "%s: got %s, want %s", c->name, bff_jwt_reason_name(r),
                  bff_jwt_reason_name(c->want));
    if (r == BFF_JWT_OK) {
        if (c->user != NULL)
            ck_assert_str_eq(id.user_id, c->user);
        if (c->roles != NULL)
            ck_assert_str_eq(id.roles, c->roles);
        ck_assert_uint_gt(strlen(id.user_id), 0);
        ck_assert_int_gt(id.exp, NOW - 31);
    } else {
        /* a refused token leaves no identity behind */
        ck_assert_str_eq(id.user_id, "");
        ck_assert_str_eq(id.roles, "");
        ck_assert_int_eq(id.exp, 0);
    }
    free(t);
}
END_TEST

START_TEST(verify_bad_arguments)
{
    struct bff_jwt_policy pol = policy(P_DEF);
    struct bff_identity   id;
    char                 *t = mktoken("HS256", K_HS, "{\"alg\":\"HS256\"}", DEFPAY, 0);

    ck_assert_int_eq(bff_jwt_verify(NULL, &pol, t, strlen(t), NOW, &id),
                     BFF_JWT_MALFORMED);
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], NULL, t, strlen(t), NOW, &id),
                     BFF_JWT_MALFORMED);
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, NULL, 0, NOW, &id),
                     BFF_JWT_MALFORMED);
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, t, strlen(t), NOW, NULL),
                     BFF_JWT_MALFORMED);
    /* the length is what counts, not a NUL */
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, t, strlen(t) - 3, NOW, &id),
                     BFF_JWT_BAD_SIGNATURE);
    /* size is checked before anything else */
    ck_assert_int_eq(bff_jwt_verify(NULL, NULL, t, BFF_JWT_MAX_TOKEN + 1, NOW, &id),
                     BFF_JWT_TOO_LARGE);
    /* an empty audience list accepts no audience */
    const char *const none[] = {NULL};
    pol.audience = none;
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, t, strlen(t), NOW, &id),
                     BFF_JWT_BAD_AUDIENCE);
    free(t);
}
END_TEST

/* ---- JWKS parsing ---- */

struct kcase {
    const char *name;
    const char *jwks;  /* with $KEY placeholders */
    size_t      count; /* 0: refused */
    const char *err;   /* a part of the message when refused */
};

/* unpadded base64url of 31, 32, 48 and 64 zero bytes */
#define B64_31 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define B64_32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define B64_48 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define B64_64 B64_48 "AAAAAAAAAAAAAAAAAAAAAA"

static const struct kcase kcases[] = {
    {"the main set", main_jwks, 7, NULL},
    {"not JSON", "keys", 0, "not one JSON object"},
    {"an array", "[{$RSA}]", 0, "not one JSON object"},
    {"trailing garbage", "{\"keys\":[{$RSA}]}x", 0, "not one JSON object"},
    {"keys missing", "{\"key\":[{$RSA}]}", 0, "no \"keys\" array"},
    {"keys not an array", "{\"keys\":{$RSA}}", 0, "no \"keys\" array"},
    {"keys empty", "{\"keys\":[]}", 0, "no usable signature key"},
    {"key not an object", "{\"keys\":[{$RSA},\"x\"]}", 0, "keys[1]: not a JSON object"},
    {"kty missing", "{\"keys\":[{\"kid\":\"a\",\"n\":\"AQAB\"}]}", 0,
     "\"kty\" is missing"},
    {"RSA 1024 bits", "{\"keys\":[{$RSA,\"kid\":\"a\"},{$RSA1024,\"kid\":\"old\"}]}", 0,
     "keys[1] (kid \"old\"): RSA modulus of 1024 bits"},
    {"RSA n missing", "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}", 0,
     "\"n\" is missing"},
    {"RSA e even", "{\"keys\":[{$RSA,\"e\":\"AQAA\"}]}", 0,
     "is not a valid public key"},
    {"RSA private members ignored", "{\"keys\":[{$RSA,\"d\":\"AAAA\",\"p\":\"AAAA\"}]}",
     1, NULL},
    {"EC point off the curve", "{\"keys\":[{$ECBAD,\"kid\":\"bad\"}]}", 0,
     "not on curve P-256"},
    {"EC coordinates too short", "{\"keys\":[{$ECSHORT}]}", 0, "must be 32 bytes"},
    {"EC P-256 with alg ES384", "{\"keys\":[{$EC256,\"alg\":\"ES384\"}]}", 0,
     "does not fit"},
    {"EC P-384 with alg ES384", "{\"keys\":[{$EC384,\"alg\":\"ES384\"}]}", 1, NULL},
    {"EC crv missing", "{\"keys\":[{\"kty\":\"EC\",\"x\":\"AA\",\"y\":\"AA\"}]}", 0,
     "\"crv\" is missing"},
    {"secp256k1 skipped",
     "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"},{$"
     "EC256}]}",
     1, NULL},
    {"Ed448 and X25519 skipped",
     "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"},{\"kty\":\"OKP\","
     "\"crv\":\"X25519\",\"x\":\"AA\"},{$ED}]}",
     1, NULL},
    {"Ed25519 x of 31 bytes",
     "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
     0, "must be 32 bytes"},
    {"use enc only", "{\"keys\":[{$RSA,\"use\":\"enc\"}]}", 0,
     "no usable signature key (1 skipped"},
    {"use enc and sig", "{\"keys\":[{$RSA,\"use\":\"enc\"},{$EC256,\"use\":\"sig\"}]}",
     1, NULL},
    {"use not a string", "{\"keys\":[{$RSA,\"use\":1}]}", 0, "\"use\" is not a string"},
    {"unknown kty skipped", "{\"keys\":[{\"kty\":\"foo\"},{$RSA}]}", 1, NULL},
    {"alg RSA-OAEP skipped", "{\"keys\":[{$RSA,\"alg\":\"RSA-OAEP\"},{$EC256}]}", 1,
     NULL},
    {"alg none refused", "{\"keys\":[{$OCT,\"alg\":\"none\"}]}", 0, "never accepted"},
    {"key_ops without verify skipped",
     "{\"keys\":[{$RSA,\"key_ops\":[\"encrypt\"]},{$ED}]}", 1, NULL},
    {"key_ops with verify", "{\"keys\":[{$RSA,\"key_ops\":[\"sign\",\"verify\"]}]}", 1,
     NULL},
    /* RFC 7518 §3.2: at least the hash size */
    {"oct of 16 bytes",
     "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}]}", 0,
     "oct key of 16 bytes; 32 to 4096"},
    {"oct of 31 bytes", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" B64_31 "\"}]}", 0,
     "oct key of 31 bytes"},
    {"oct of 32 bytes", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" B64_32 "\"}]}", 1, NULL},
    {"oct of 32 bytes for HS384",
     "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS384\",\"k\":\"" B64_32 "\"}]}", 0,
     "oct key of 32 bytes for HS384; at least 48 bytes"},
    {"oct of 48 bytes for HS512",
     "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"" B64_48 "\"}]}", 0,
     "oct key of 48 bytes for HS512; at least 64 bytes"},
    {"oct of 48 bytes for HS384",
     "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS384\",\"k\":\"" B64_48 "\"}]}", 1, NULL},
    {"oct of 64 bytes for HS512",
     "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"" B64_64 "\"}]}", 1, NULL},
    /* RSA moduli that give the private key away (built in setup_keys) */
    {"RSA modulus a prime", "{\"keys\":[{$RSAPRIME,\"kid\":\"p\"}]}", 0,
     "keys[0] (kid \"p\"): RSA modulus \"n\" is a prime"},
    {"RSA modulus a prime square", "{\"keys\":[{$RSAPOW}]}", 0,
     "fails OpenSSL's public-key check"},
    {"RSA modulus with a factor 3", "{\"keys\":[{$RSA3P}]}", 0,
     "fails OpenSSL's public-key check"},
    {"oct with alg RS256", "{\"keys\":[{$OCT,\"alg\":\"RS256\"}]}", 0,
     "does not fit kty \"oct\""},
    {"padded base64",
     "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}]}", 0,
     "not unpadded base64url"},
    {"standard base64",
     "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAA+/w\"}]}", 0,
     "not unpadded base64url"},
    {"kid not a string", "{\"keys\":[{$RSA,\"kid\":7}]}", 0, "\"kid\" is not a string"},
    {"duplicate kid, same type",
     "{\"keys\":[{$RSA,\"kid\":\"k\"},{$RSA2,\"kid\":\"k\"}]}", 0,
     "keys[1] (kid \"k\"): the kid is also used"},
    {"duplicate kid, other type",
     "{\"keys\":[{$RSA,\"kid\":\"k\"},{$EC256,\"kid\":\"k\"}]}", 2, NULL},
    {"duplicate kid, split RSA algs",
     "{\"keys\":[{$RSA,\"kid\":\"k\",\"alg\":\"RS256\"},{$RSA2,\"kid\":\"k\",\"alg\":"
     "\"PS256\"}]}",
     2, NULL},
    {"kid with control characters in messages",
     "{\"keys\":[{$RSA1024,\"kid\":\"a\\nb\\\"c\"}]}", 0, "(kid \"a?b?c\")"},
    {"duplicate member", "{\"keys\":[{$RSA}],\"keys\":[]}", 0, "not one JSON object"},
};

START_TEST(jwks_table)
{
    const struct kcase *c = &kcases[_i];
    char                err[512] = "untouched";
    char               *json = expand(c->jwks);
    struct bff_keyset  *k = bff_keyset_parse(json, strlen(json), err, sizeof err);

    if (c->count == 0) {
        ck_assert_msg(k == NULL, "%s: accepted", c->name);
        ck_assert_msg(strstr(err, c->err) != NULL, "%s: message \"%s\" lacks \"%s\"",
                      c->name, err, c->err);
    } else {
        ck_assert_msg(k != NULL, "%s: refused: %s", c->name, err);
        ck_assert_uint_eq(bff_keyset_count(k), c->count);
        ck_assert_str_eq(err, "");
    }
    bff_keyset_unref(k);
    free(json);
}
END_TEST

START_TEST(jwks_file)
{
    char               dir[] = "/tmp/test_jwt.XXXXXX", path[64], err[512];
    char              *json = expand(main_jwks);
    struct bff_keyset *k;
    FILE              *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    k = bff_keyset_load_file(path, err, sizeof err);
    ck_assert_ptr_null(k);
    ck_assert_msg(strcmp(err, "No such file or directory") == 0, "%s", err);
    f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    k = bff_keyset_load_file(path, err, sizeof err);
    ck_assert_msg(k != NULL, "%s", err);
    ck_assert_uint_eq(bff_keyset_count(k), 7);
    bff_keyset_unref(k);
    f = fopen(path, "w");
    fputs("{\"keys\":[]}", f);
    fclose(f);
    k = bff_keyset_load_file(path, err, sizeof err);
    ck_assert_ptr_null(k);
    ck_assert_msg(strncmp(err, "the JWKS has no usable", 22) == 0, "%s", err);
    ck_assert_ptr_null(bff_keyset_load_file(dir, err, sizeof err));
    ck_assert_str_eq(err, "not a regular file");
    unlink(path);
    rmdir(dir);
    free(json);
}
END_TEST

START_TEST(keyset_from_secret)
{
    struct bff_jwt_policy pol = policy(P_DEF);
    struct bff_identity   id;
    char                  err[256];
    struct bff_keyset    *k;
    char                 *t = mktoken("HS384", K_HS, "{\"alg\":\"HS384\"}", DEFPAY, 0);

    k = bff_keyset_from_secret(hs_secret, sizeof hs_secret, NULL, BFF_ALG_HS384, err,
                               sizeof err);
    ck_assert_msg(k != NULL, "%s", err);
    ck_assert_int_eq(bff_jwt_verify(k, &pol, t, strlen(t), NOW, &id), BFF_JWT_OK);
    bff_keyset_unref(k);
    /* an HS256-only key does not verify HS384 */
    k = bff_keyset_from_secret(hs_secret, sizeof hs_secret, "x", BFF_ALG_HS256, err,
                               sizeof err);
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(bff_jwt_verify(k, &pol, t, strlen(t), NOW, &id),
                     BFF_JWT_UNKNOWN_KID);
    bff_keyset_unref(k);
    ck_assert_ptr_null(
        bff_keyset_from_secret("short", 5, NULL, BFF_ALG_HS256, err, sizeof err));
    ck_assert_msg(strstr(err, "5 bytes"), "%s", err);
    ck_assert_ptr_null(bff_keyset_from_secret(hs_secret, sizeof hs_secret, NULL,
                                              BFF_ALG_RS256, err, sizeof err));
    free(t);
}
END_TEST

/* An oct key that names no algorithm serves only the HS* its length covers
 * (RFC 7518 §3.2): 32 bytes verify HS256, never HS384 or HS512. */
START_TEST(short_oct_key_serves_only_what_it_covers)
{
    struct bff_jwt_policy pol = policy(P_DEF);
    struct bff_identity   id;
    char                  err[256], *json, *k64;
    struct bff_keyset    *k;

    k64 = b64(hs_secret, 32);
    json =
        xasprintf("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"hs1\",\"k\":\"%s\"}]}", k64);
    k = bff_keyset_parse(json, strlen(json), err, sizeof err);
    ck_assert_msg(k != NULL, "%s", err);
    /* mktoken signs with hs_secret's first 64 bytes; sign with 32 here */
    static const char *algs[] = {"HS256", "HS384", "HS512"};
    for (int i = 0; i < 3; i++) {
        char         *hdr = xasprintf("{\"alg\":\"%s\",\"kid\":\"hs1\"}", algs[i]);
        char         *h64 = b64(hdr, strlen(hdr)), *p64 = b64(DEFPAY, strlen(DEFPAY));
        char         *in = xasprintf("%s.%s", h64, p64);
        unsigned char mac[64];
        size_t        maclen = 0;
        REQUIRE(EVP_Q_mac(NULL, "HMAC", NULL, md_of(algs[i]), NULL, hs_secret, 32,
                          (unsigned char *)in, strlen(in), mac, sizeof mac, &maclen));
        char *s64 = b64(mac, maclen);
        char *tok = xasprintf("%s.%s", in, s64);
        ck_assert_int_eq(bff_jwt_verify(k, &pol, tok, strlen(tok), NOW, &id),
                         i == 0 ? BFF_JWT_OK : BFF_JWT_ALG_REFUSED);
        free(hdr), free(h64), free(p64), free(in), free(s64), free(tok);
    }
    bff_keyset_unref(k);
    free(json);
    free(k64);
    /* a secret given directly names its algorithms: too short is refused */
    ck_assert_ptr_null(
        bff_keyset_from_secret(hs_secret, 32, NULL, BFF_ALG_HS512, err, sizeof err));
    ck_assert_msg(strstr(err, "oct key of 32 bytes for HS512; at least 64 bytes"), "%s",
                  err);
    ck_assert_ptr_null(bff_keyset_from_secret(
        hs_secret, 47, NULL, BFF_ALG_HS256 | BFF_ALG_HS384, err, sizeof err));
    ck_assert_msg(strstr(err, "for HS384"), "%s", err);
    k = bff_keyset_from_secret(hs_secret, 48, NULL, BFF_ALG_HS256 | BFF_ALG_HS384, err,
                               sizeof err);
    ck_assert_msg(k != NULL, "%s", err);
    bff_keyset_unref(k);
}
END_TEST

/* The Ed25519 encodings that are no public key: the 8 small-order points
 * (as published in libsodium's blocklist, written out here independently of
 * the core, which computes them) and non-canonical names (y >= p, or x = 0
 * with the sign bit set). A real key passes. */
START_TEST(ed25519_small_order_and_non_canonical_refused)
{
    static const char *bad[][2] = {
        /* order 1 and 2: y = 1, y = p - 1 */
        {"0100000000000000000000000000000000000000000000000000000000000000",
         "small order"},
        {"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
         "small order"},
        /* order 4: y = 0, both signs */
        {"0000000000000000000000000000000000000000000000000000000000000000",
         "small order"},
        {"0000000000000000000000000000000000000000000000000000000000000080",
         "small order"},
        /* order 8 */
        {"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
         "small order"},
        {"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
         "small order"},
        {"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
         "small order"},
        {"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
         "small order"},
        /* non-canonical: x = 0 with the sign bit, y = p, y = p + 1, y = 2^255 - 1 */
        {"0100000000000000000000000000000000000000000000000000000000000080",
         "not canonical"},
        {"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "not canonical"},
        {"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
         "not canonical"},
        {"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "not canonical"},
        {"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
         "not canonical"},
        {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
         "not canonical"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char raw[32];
        for (int j = 0; j < 32; j++)
            REQUIRE(sscanf(bad[i][0] + 2 * j, "%2hhx", &raw[j]) == 1);
        char *x = b64(raw, 32);
        char *json = xasprintf(
            "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}", x);
        struct bff_keyset *k = bff_keyset_parse(json, strlen(json), err, sizeof err);
        ck_assert_msg(k == NULL, "%s accepted", bad[i][0]);
        ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s: %s", bad[i][0], err);
        free(x);
        free(json);
    }
    /* a real key (generated in setup_keys) passes */
    char              *json = expand("{\"keys\":[{$ED}]}");
    struct bff_keyset *k = bff_keyset_parse(json, strlen(json), err, sizeof err);
    ck_assert_msg(k != NULL, "a real Ed25519 key: %s", err);
    bff_keyset_unref(k);
    free(json);
}
END_TEST

/* ---- reference counts and threads ---- */

struct tharg {
    struct bff_keyset *ks;
    char              *tokens[4];
    int                failures;
};

static void *hammer(void *p)
{
    struct tharg         *a = p;
    struct bff_jwt_policy pol = policy(P_DEF);
    struct bff_identity   id;

    for (int i = 0; i < 400; i++) {
        struct bff_keyset *k = bff_keyset_ref(a->ks);
        const char        *t = a->tokens[i % 4];
        if (bff_jwt_verify(k, &pol, t, strlen(t), NOW, &id) != BFF_JWT_OK ||
            strcmp(id.user_id, "4412") != 0)
            a->failures++;
        bff_keyset_unref(k);
    }
    return NULL;
}

START_TEST(threads_share_a_keyset)
{
    struct tharg a[8];
    pthread_t    th[8];
    char        *tokens[4] = {
               mktoken("HS256", K_HS, "{\"alg\":\"HS256\",\"kid\":\"hs1\"}", DEFPAY, 0),
               mktoken("ES256", K_EC256, "{\"alg\":\"ES256\",\"kid\":\"ec256\"}", DEFPAY, 0),
               mktoken("RS256", K_RSA, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", DEFPAY, 0),
               mktoken("EdDSA", K_ED, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", DEFPAY, 0),
    };
    struct bff_keyset *k = keyset(main_jwks);

    for (int i = 0; i < 8; i++) {
        a[i].ks = k;
        memcpy(a[i].tokens, tokens, sizeof tokens);
        a[i].failures = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].failures, 0);
    }
    ck_assert_ptr_eq(bff_keyset_ref(NULL), NULL);
    bff_keyset_unref(NULL);
    ck_assert_uint_eq(bff_keyset_count(NULL), 0);
    bff_keyset_unref(k); /* the last reference: freed (ASan checks) */
    for (int i = 0; i < 4; i++)
        free(tokens[i]);
}
END_TEST

/* ---- roles and reasons ---- */

START_TEST(roles_match)
{
    char *customer[] = {"customer", NULL};
    char *two[] = {"admin", "support", NULL};
    char *prefix[] = {"cust", NULL};
    char *empty_role[] = {"", NULL};
    char *nothing[] = {NULL};

    ck_assert_int_eq(bff_roles_match("customer", customer), 1);
    ck_assert_int_eq(bff_roles_match("support,customer", customer), 1);
    ck_assert_int_eq(bff_roles_match("customer,support", two), 1);
    ck_assert_int_eq(bff_roles_match("customers", customer), 0);
    ck_assert_int_eq(bff_roles_match("customer", prefix), 0);
    ck_assert_int_eq(bff_roles_match("xcustomer,customerx", customer), 0);
    ck_assert_int_eq(bff_roles_match("", customer), 0);
    ck_assert_int_eq(bff_roles_match("", empty_role), 0);
    ck_assert_int_eq(bff_roles_match("a,,b", empty_role), 0);
    ck_assert_int_eq(bff_roles_match(NULL, customer), 0);
    ck_assert_int_eq(bff_roles_match("customer", nothing), 0);
    /* NULL: the route asks for no role */
    ck_assert_int_eq(bff_roles_match("", NULL), 1);
}
END_TEST

START_TEST(reason_names)
{
    static const char *const names[] = {
        "ok",          "malformed",     "too_large", "alg_refused",   "crit",
        "unknown_kid", "bad_signature", "expired",   "not_yet_valid", "no_exp",
        "bad_issuer",  "bad_audience",  "bad_claim",
    };
    ck_assert_uint_eq(sizeof names / sizeof names[0], BFF_JWT_REASON_COUNT);
    for (int r = 0; r < BFF_JWT_REASON_COUNT; r++) {
        const char *t = bff_jwt_reason_text((enum bff_jwt_reason)r);
        ck_assert_str_eq(bff_jwt_reason_name((enum bff_jwt_reason)r), names[r]);
        ck_assert_ptr_nonnull(t);
        /* it goes into WWW-Authenticate error_description="...": RFC 6750
         * allows %x20-21 / %x23-5B / %x5D-7E */
        ck_assert_ptr_null(strpbrk(t, "\"\\\r\n"));
        for (const char *p = t; *p; p++)
            ck_assert(*p >= 0x20 && *p <= 0x7e);
    }
    ck_assert_str_eq(bff_jwt_reason_name(BFF_JWT_REASON_COUNT), "unknown");
    ck_assert_ptr_nonnull(bff_jwt_reason_text(BFF_JWT_REASON_COUNT));
    ck_assert_str_eq(bff_jwt_reason_text(BFF_JWT_EXPIRED), "the token has expired");
}
END_TEST

/* ---- the verified-token cache (core/src/runtime/tokcache.c) ---- */

static struct bff_identity ident(const char *uid, const char *roles, int64_t exp)
{
    struct bff_identity id;
    memset(&id, 0, sizeof id);
    snprintf(id.user_id, sizeof id.user_id, "%s", uid);
    snprintf(id.roles, sizeof id.roles, "%s", roles);
    id.exp = exp;
    return id;
}

/* A distinct token-like string of @len bytes for @i. */
static char *fake_token(unsigned i, size_t len)
{
    char *t = malloc(len + 1);
    REQUIRE(t);
    for (size_t k = 0; k < len; k++)
        t[k] =
            "abcdefghijklmnopqrstuvwxyz012345"[(i * 31 + k * 7 + (i >> (k % 13))) % 32];
    int n = snprintf(t, len + 1, "%u.", i);
    t[n] = '.';
    t[len] = '\0';
    return t;
}

START_TEST(tokcache_hit_miss_and_identity)
{
    struct tokcache_set  *set = tokcache_set_new(2);
    struct tokcache      *c = tokcache_worker(set, 1);
    struct bff_identity   id = ident("4412", "customer,support", NOW + 60), out;
    struct tokcache_stats st;
    uint8_t               key[32];
    const char           *t = "header.payload.signature";

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(tokcache_worker(set, 2));
    ck_assert_ptr_null(tokcache_worker(NULL, 0));
    ck_assert_ptr_nonnull(tokcache_hold(c));
    memset(&out, 0x55, sizeof out);
    ck_assert_int_eq(tokcache_get(c, 0, t, strlen(t), NOW, 30, &out, key), 0);
    tokcache_put(c, 0, key, t, strlen(t), &id);
    memset(&out, 0x55, sizeof out);
    ck_assert_int_eq(tokcache_get(c, 0, t, strlen(t), NOW, 30, &out, key), 1);
    ck_assert_str_eq(out.user_id, "4412");
    ck_assert_str_eq(out.roles, "customer,support");
    ck_assert_int_eq(out.exp, NOW + 60);
    /* a prefix, a longer token, one changed byte: misses */
    ck_assert_int_eq(tokcache_get(c, 0, t, strlen(t) - 1, NOW, 30, &out, key), 0);
    ck_assert_int_eq(
        tokcache_get(c, 0, "header.payload.signaturf", 24, NOW, 30, &out, key), 0);
    ck_assert_int_eq(
        tokcache_get(c, 0, "header.payload.signature.", 25, NOW, 30, &out, key), 0);
    /* worker 0 has a cache of its own */
    ck_assert_int_eq(
        tokcache_get(tokcache_worker(set, 0), 0, t, strlen(t), NOW, 30, &out, key), 0);
    /* empty roles come back empty */
    struct bff_identity anon = ident("7", "", NOW + 60);
    ck_assert_int_eq(tokcache_get(c, 0, "x.y.z", 5, NOW, 30, &out, key), 0);
    tokcache_put(c, 0, key, "x.y.z", 5, &anon);
    ck_assert_int_eq(tokcache_get(c, 0, "x.y.z", 5, NOW, 30, &out, key), 1);
    ck_assert_str_eq(out.user_id, "7");
    ck_assert_str_eq(out.roles, "");
    tokcache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.stores, 2);
    ck_assert_uint_eq(st.entries, 2);
    tokcache_set_free(set);
    tokcache_set_free(NULL);
}
END_TEST

START_TEST(tokcache_never_past_exp)
{
    struct tokcache_set  *set = tokcache_set_new(1);
    struct tokcache      *c = tokcache_worker(set, 0);
    struct bff_identity   id = ident("1", "r", NOW + 10), out;
    struct tokcache_stats st;
    uint8_t               key[32];
    const char           *t = "a.b.c";

    tokcache_get(c, 0, t, 5, NOW, 30, &out, key);
    tokcache_put(c, 0, key, t, 5, &id);
    /* the verifier's rule: refused once now > exp + leeway */
    ck_assert_int_eq(tokcache_get(c, 0, t, 5, NOW + 40, 30, &out, key), 1);
    ck_assert_int_eq(tokcache_get(c, 0, t, 5, NOW + 41, 30, &out, key), 0);
    tokcache_stats(c, &st);
    ck_assert_uint_eq(st.expired, 1);
    ck_assert_uint_eq(st.entries, 0); /* dropped, not kept */
    ck_assert_int_eq(tokcache_get(c, 0, t, 5, NOW, 30, &out, key), 0);
    /* a negative leeway counts as none */
    tokcache_put(c, 0, key, t, 5, &id);
    ck_assert_int_eq(tokcache_get(c, 0, t, 5, NOW + 10, -5, &out, key), 1);
    ck_assert_int_eq(tokcache_get(c, 0, t, 5, NOW + 11, -5, &out, key), 0);
    tokcache_set_free(set);
}
END_TEST

START_TEST(tokcache_is_tied_to_a_key_set_generation)
{
    struct tokcache_set  *set = tokcache_set_new(1);
    struct tokcache      *c = tokcache_worker(set, 0);
    struct bff_identity   id = ident("1", "r", NOW + 100), out;
    struct tokcache_stats st;
    uint8_t               key[32];
    const char           *t = "a.b.c";

    tokcache_get(c, 3, t, 5, NOW, 0, &out, key);
    tokcache_put(c, 3, key, t, 5, &id);
    ck_assert_int_eq(tokcache_get(c, 3, t, 5, NOW, 0, &out, key), 1);
    ck_assert_int_eq(tokcache_get(c, 4, t, 5, NOW, 0, &out, key), 0); /* swapped */
    ck_assert_int_eq(tokcache_get(c, 3, t, 5, NOW, 0, &out, key),
                     0); /* gone for good */
    /* a store for an older generation than the cache's is ignored */
    tokcache_put(c, 2, key, t, 5, &id);
    ck_assert_int_eq(tokcache_get(c, 3, t, 5, NOW, 0, &out, key), 0);
    tokcache_stats(c, &st);
    ck_assert_uint_ge(st.flushes, 2);
    ck_assert_uint_eq(st.entries, 0);
    tokcache_set_free(set);
}
END_TEST

START_TEST(tokcache_is_bounded)
{
    struct tokcache_set  *set = tokcache_set_new(1);
    struct tokcache      *c = tokcache_worker(set, 0);
    struct bff_identity   id = ident("u", "a,b", NOW + 100), out;
    struct tokcache_stats st;
    uint8_t               key[32];

    /* entries: many more tokens than slots */
    for (unsigned i = 0; i < 3 * TOKCACHE_ENTRIES; i++) {
        char *t = fake_token(i, 200);
        if (!tokcache_get(c, 0, t, 200, NOW, 0, &out, key))
            tokcache_put(c, 0, key, t, 200, &id);
        free(t);
    }
    tokcache_stats(c, &st);
    ck_assert_uint_le(st.entries, TOKCACHE_ENTRIES);
    ck_assert_uint_gt(st.entries, TOKCACHE_ENTRIES / 2);
    ck_assert_uint_gt(st.evictions, 0);
    /* the most recent ones are in */
    char *last = fake_token(3 * TOKCACHE_ENTRIES - 1, 200);
    ck_assert_int_eq(tokcache_get(c, 0, last, 200, NOW, 0, &out, key), 1);
    free(last);

    /* bytes: large tokens stay within the budget */
    for (unsigned i = 0; i < 3000; i++) {
        char *t = fake_token(100000 + i, TOKCACHE_MAX_TOKEN);
        if (!tokcache_get(c, 0, t, TOKCACHE_MAX_TOKEN, NOW, 0, &out, key))
            tokcache_put(c, 0, key, t, TOKCACHE_MAX_TOKEN, &id);
        free(t);
        tokcache_stats(c, &st);
        ck_assert_uint_le(st.bytes, TOKCACHE_MAX_BYTES);
    }
    ck_assert_uint_gt(st.bytes, TOKCACHE_MAX_BYTES / 2);

    /* longer than TOKCACHE_MAX_TOKEN: never stored */
    char *big = fake_token(7, TOKCACHE_MAX_TOKEN + 1);
    tokcache_get(c, 0, big, TOKCACHE_MAX_TOKEN + 1, NOW, 0, &out, key);
    tokcache_put(c, 0, key, big, TOKCACHE_MAX_TOKEN + 1, &id);
    ck_assert_int_eq(tokcache_get(c, 0, big, TOKCACHE_MAX_TOKEN + 1, NOW, 0, &out, key),
                     0);
    free(big);
    tokcache_set_free(set);
}
END_TEST

START_TEST(tokcache_with_the_verifier)
{
    /* what policy.c does: a miss verifies, a hit gives the same identity */
    struct tokcache_set  *set = tokcache_set_new(1);
    struct tokcache      *c = tokcache_worker(set, 0);
    struct bff_jwt_policy pol = {.algorithms = BFF_ALG_HS256,
                                 .leeway_s = 0,
                                 .claim_user_id = "sub",
                                 .claim_roles = "roles"};
    struct bff_identity   a, b;
    uint8_t               key[32];
    char *t = mktoken("HS256", K_HS, "{\"alg\":\"HS256\",\"kid\":\"hs1\"}",
                      "{\"sub\":\"4412\",\"roles\":[\"customer\"],"
                      "\"exp\":1700000100}",
                      0);

    ck_assert_int_eq(tokcache_get(c, 0, t, strlen(t), NOW, 0, &a, key), 0);
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, t, strlen(t), NOW, &a),
                     BFF_JWT_OK);
    tokcache_put(c, 0, key, t, strlen(t), &a);
    ck_assert_int_eq(tokcache_get(c, 0, t, strlen(t), NOW + 50, 0, &b, key), 1);
    ck_assert_str_eq(b.user_id, a.user_id);
    ck_assert_str_eq(b.roles, a.roles);
    ck_assert_int_eq(b.exp, a.exp);
    /* past exp the cache says no, and so does the verifier */
    ck_assert_int_eq(tokcache_get(c, 0, t, strlen(t), NOW + 101, 0, &b, key), 0);
    ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, t, strlen(t), NOW + 101, &b),
                     BFF_JWT_EXPIRED);
    free(t);
    tokcache_set_free(set);
}
END_TEST

/* ---- interoperability ---- */

static char tmpdir[64];

static void mk_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_jwt.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

/* Runs @cmd through sh; returns its stdout (NUL-terminated) and exit status. */
static char *run(const char *cmd, int *status)
{
    FILE  *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0, got;
    char  *out = malloc(cap + 1);

    ck_assert_ptr_nonnull(p);
    while ((got = fread(out + n, 1, cap - n, p)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static size_t read_bin(const char *path, unsigned char *out, size_t cap)
{
    FILE  *f = fopen(path, "rb");
    size_t n;
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    n = fread(out, 1, cap, f);
    fclose(f);
    return n;
}

static void write_pem(EVP_PKEY *p, const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert(PEM_write_PrivateKey(f, p, NULL, NULL, 0, NULL, NULL));
    fclose(f);
}

static int have_openssl(void)
{
    int   st;
    char *out = run("openssl version 2>/dev/null", &st);
    free(out);
    return st == 0;
}

/* @tpl with @KEY, @IN, @OUT and @HEX replaced. */
static char *subst(const char *tpl, const char *key, const char *in, const char *out,
                   const char *hex)
{
    char  *r = malloc(strlen(tpl) + 4 * 128 + 1);
    size_t n = 0;

    while (*tpl) {
        const char *v = NULL;
        size_t      skip = 0;
        if (strncmp(tpl, "@KEY", 4) == 0)
            v = key, skip = 4;
        else if (strncmp(tpl, "@IN", 3) == 0)
            v = in, skip = 3;
        else if (strncmp(tpl, "@OUT", 4) == 0)
            v = out, skip = 4;
        else if (strncmp(tpl, "@HEX", 4) == 0)
            v = hex, skip = 4;
        if (v == NULL) {
            r[n++] = *tpl++;
            continue;
        }
        memcpy(r + n, v, strlen(v));
        n += strlen(v);
        tpl += skip;
    }
    r[n] = '\0';
    return r;
}

struct ocase {
    const char *alg;
    enum signer who;
    const char *cmd; /* @KEY key file, @IN input, @OUT output, @HEX secret */
};

static const struct ocase ocases[] = {
    {"HS256", K_HS,
     "openssl dgst -sha256 -mac HMAC -macopt hexkey:@HEX -binary -out @OUT @IN"},
    {"HS512", K_HS,
     "openssl dgst -sha512 -mac HMAC -macopt hexkey:@HEX -binary -out @OUT @IN"},
    {"RS256", K_RSA, "openssl dgst -sha256 -sign @KEY -binary -out @OUT @IN"},
    {"RS384", K_RSA, "openssl dgst -sha384 -sign @KEY -binary -out @OUT @IN"},
    {"PS256", K_RSA,
     "openssl dgst -sha256 -sign @KEY -sigopt rsa_padding_mode:pss -sigopt "
     "rsa_pss_saltlen:-1 -binary -out @OUT @IN"},
    {"PS512", K_RSA,
     "openssl dgst -sha512 -sign @KEY -sigopt rsa_padding_mode:pss -sigopt "
     "rsa_pss_saltlen:-1 -binary -out @OUT @IN"},
    {"ES256", K_EC256, "openssl dgst -sha256 -sign @KEY -binary -out @OUT @IN"},
    {"ES384", K_EC384, "openssl dgst -sha384 -sign @KEY -binary -out @OUT @IN"},
    {"ES512", K_EC521, "openssl dgst -sha512 -sign @KEY -binary -out @OUT @IN"},
    {"EdDSA", K_ED, "openssl pkeyutl -sign -inkey @KEY -rawin -in @IN -out @OUT"},
};

/* Tokens signed by the openssl command line, framed with `openssl base64`. */
START_TEST(interop_openssl_cli)
{
    const struct ocase   *c = &ocases[_i];
    struct bff_jwt_policy pol = policy(P_DEF);
    struct bff_identity   id;
    char                  key[96], in[96], sig[96], *cmd, *h, *p, *out, *t;
    char                  hex[2 * sizeof hs_secret + 1];
    unsigned char         raw[1024];
    size_t                n;
    int                   st;

    ck_assert_msg(have_openssl(),
                  "the openssl command is missing (scripts/install-deps.sh "
                  "installs it)");
    mk_tmpdir();
    snprintf(key, sizeof key, "%s/key.pem", tmpdir);
    snprintf(in, sizeof in, "%s/input", tmpdir);
    snprintf(sig, sizeof sig, "%s/sig", tmpdir);
    for (size_t i = 0; i < sizeof hs_secret; i++)
        snprintf(hex + 2 * i, 3, "%02x", hs_secret[i]);
    if (c->who != K_HS)
        write_pem(pk[c->who], key);

    /* header and payload encoded by openssl base64 | tr, not by us */
    cmd = xasprintf(
        "printf '%%s' '{\"alg\":\"%s\",\"kid\":\"%s\"}' | openssl base64 -A | "
        "tr '+/' '-_' | tr -d '='",
        c->alg, kids[c->who]);
    h = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    free(cmd);
    cmd = xasprintf("printf '%%s' '%s' | openssl base64 -A | tr '+/' '-_' | tr -d '='",
                    DEFPAY);
    p = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    free(cmd);
    t = xasprintf("%s.%s", h, p);
    write_file(in, t, strlen(t));

    cmd = subst(c->cmd, key, in, sig, hex);
    out = run(cmd, &st);
    ck_assert_msg(st == 0, "%s failed", cmd);
    free(out);
    free(cmd);
    n = read_bin(sig, raw, sizeof raw);
    if (c->alg[0] == 'E' && c->alg[1] == 'S') {
        /* openssl prints DER; JWS wants r‖s */
        const unsigned char *q = raw;
        ECDSA_SIG           *es = d2i_ECDSA_SIG(NULL, &q, (long)n);
        const BIGNUM        *r, *s;
        int                  sz = c->who == K_EC256 ? 32 : c->who == K_EC384 ? 48 : 66;
        char                *der = b64(raw, n), *td = xasprintf("%s.%s", t, der);
        /* as DER, refused */
        ck_assert_int_eq(bff_jwt_verify(ks[KS_MAIN], &pol, td, strlen(td), NOW, &id),
                         BFF_JWT_BAD_SIGNATURE);
        free(der);
        free(td);
        ck_assert_ptr_nonnull(es);
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, raw, sz);
        BN_bn2binpad(s, raw + sz, sz);
        n = 2 * (size_t)sz;
        ECDSA_SIG_free(es);
    }
    char               *s64 = b64(raw, n), *tok = xasprintf("%s.%s", t, s64);
    enum bff_jwt_reason r =
        bff_jwt_verify(ks[KS_MAIN], &pol, tok, strlen(tok), NOW, &id);
    ck_assert_msg(r == BFF_JWT_OK, "%s from openssl: %s", c->alg,
                  bff_jwt_reason_name(r));
    ck_assert_str_eq(id.user_id, "4412");
    ck_assert_str_eq(id.roles, "customer");
    free(s64);
    free(tok);
    free(h);
    free(p);
    free(t);
    rm_tmpdir();
}
END_TEST

static const char *src_root(void)
{
    const char *s = getenv("BFF_SRC_ROOT");
    ck_assert_msg(s != NULL, "BFF_SRC_ROOT is not set (run the test with meson test)");
    return s;
}

static int have_node(void)
{
    int   st;
    char *out = run("command -v node >/dev/null 2>&1 && node --version", &st);
    free(out);
    return st == 0;
}

/* The interop script and its installed jose; fails (never skips) when the
 * set-up did not install jose. */
static char *jose_script(void)
{
    char *mod =
        xasprintf("%s/tests/jwt-interop/node_modules/jose/package.json", src_root());
    struct stat st;

    ck_assert_msg(stat(mod, &st) == 0,
                  "node is installed but jose is not: run "
                  "`npm ci --prefix tests/jwt-interop` (missing %s)",
                  mod);
    free(mod);
    return xasprintf("%s/tests/jwt-interop/interop.mjs", src_root());
}

/* Keys made and tokens signed by jose, verified here. */
START_TEST(interop_jose_mint)
{
    struct bff_jwt_policy pol = policy(P_DEF);
    struct bff_identity   id;
    char                  err[512], *script, *cmd, *out;
    int                   st, n = 0;
    struct json_object   *doc, *jwks, *tokens;
    struct bff_keyset    *k;

    /* the set-up installs node's jose: a machine without node fails here
     * rather than report an interop check that never ran as passed */
    ck_assert_msg(have_node(), "node is not installed: the jose interoperability "
                               "check cannot run");
    script = jose_script();
    cmd = xasprintf("node '%s' mint %lld", script, NOW);
    out = run(cmd, &st);
    ck_assert_msg(st == 0, "%s failed", cmd);
    doc = json_tokener_parse(out);
    ck_assert_ptr_nonnull(doc);
    ck_assert(json_object_object_get_ex(doc, "jwks", &jwks));
    ck_assert(json_object_object_get_ex(doc, "tokens", &tokens));
    const char *js = json_object_to_json_string(jwks);
    k = bff_keyset_parse(js, strlen(js), err, sizeof err);
    ck_assert_msg(k != NULL, "jose's JWKS refused: %s", err);
    ck_assert_uint_eq(bff_keyset_count(k), 13);
    json_object_object_foreach(tokens, alg, tokv)
    {
        const char         *t = json_object_get_string(tokv);
        enum bff_jwt_reason r = bff_jwt_verify(k, &pol, t, strlen(t), NOW, &id);
        ck_assert_msg(r == BFF_JWT_OK, "%s from jose: %s", alg, bff_jwt_reason_name(r));
        ck_assert_str_eq(id.user_id, "4412");
        ck_assert_str_eq(id.roles, "customer,support");
        /* and jose's token a minute after its expiry */
        r = bff_jwt_verify(k, &pol, t, strlen(t), NOW + 360, &id);
        ck_assert_int_eq(r, BFF_JWT_EXPIRED);
        n++;
    }
    ck_assert_int_eq(n, 13);
    bff_keyset_unref(k);
    json_object_put(doc);
    free(out);
    free(cmd);
    free(script);
}
END_TEST

/* ---- bff-token ---- */

static char *tool(void)
{
    const char *b = getenv("BFF_BUILD_ROOT");
    char       *path;

    ck_assert_msg(b != NULL,
                  "BFF_BUILD_ROOT is not set (run the test with meson test)");
    path = xasprintf("%s/demo/bff-token", b);
    ck_assert_msg(access(path, X_OK) == 0, "%s is missing: build it first", path);
    return path;
}

struct tcase_tool {
    const char         *jwks;  /* options of --jwks */
    const char         *gen;   /* --gen-key type */
    const char         *alg;   /* --alg, or NULL for the key's default */
    const char         *extra; /* more options */
    enum bff_jwt_reason want;
    const char         *roles;
};

static const struct tcase_tool tool_cases[] = {
    {"", "rsa", NULL, "", BFF_JWT_OK, "customer,support"},
    {"", "rsa", "RS512", "", BFF_JWT_OK, "customer,support"},
    {"", "rsa", "PS256", "", BFF_JWT_OK, "customer,support"},
    {"", "rsa", "PS384", "--no-kid", BFF_JWT_OK, "customer,support"},
    {"", "ec", NULL, "", BFF_JWT_OK, "customer,support"},
    {"", "ec384", NULL, "", BFF_JWT_OK, "customer,support"},
    {"", "ec521", NULL, "", BFF_JWT_OK, "customer,support"},
    {"--kid my-key", "ed25519", NULL, "--kid my-key", BFF_JWT_OK, "customer,support"},
    {"", "hmac", NULL, "", BFF_JWT_OK, "customer,support"},
    {"--kid h", "hmac", "HS512", "--kid h", BFF_JWT_OK, "customer,support"},
    {"", "ec", NULL, "--ttl -1h", BFF_JWT_EXPIRED, NULL},
    {"", "ec", NULL, "--ttl 10s --now 1699999900", BFF_JWT_EXPIRED, NULL},
    {"", "ec", NULL, "--claim exp=", BFF_JWT_NO_EXP, NULL},
    {"", "ec", NULL, "--claim nbf=1800000000", BFF_JWT_NOT_YET_VALID, NULL},
    {"", "ec", NULL, "--iss https://other.test", BFF_JWT_BAD_ISSUER, NULL},
    {"", "ec", NULL, "--aud x --aud shop-web", BFF_JWT_OK, "customer,support"},
    {"", "ec", NULL, "--claim 'roles=\"a b\"'", BFF_JWT_OK, "a,b"},
    {"", "ec", NULL, "--claim 'sub=4412'", BFF_JWT_OK, "customer,support"},
    /* the key-confusion attack, minted by the tool: HS256 with the RSA PEM */
    {"", "rsa", "HS256", "", BFF_JWT_UNKNOWN_KID, NULL},
    {"--kid rsa", "rsa", "HS256", "--kid rsa", BFF_JWT_ALG_REFUSED, NULL},
};

START_TEST(bff_token_tool)
{
    const struct tcase_tool *c = &tool_cases[_i];
    struct bff_jwt_policy    pol = policy(P_DEF);
    struct bff_identity      id;
    char                     err[512], *bin = tool(), *cmd, *jwks, *tok, key[96];
    int                      st;
    struct bff_keyset       *k;

    mk_tmpdir();
    snprintf(key, sizeof key, "%s/key", tmpdir);
    cmd = xasprintf("'%s' --gen-key %s --out '%s'", bin, c->gen, key);
    free(run(cmd, &st));
    ck_assert_msg(st == 0, "%s: exit %d", cmd, st);
    free(cmd);
    /* the JWKS of the real key, whatever --alg the token claims */
    cmd = xasprintf("'%s' --jwks --key '%s' %s", bin, key, c->jwks);
    jwks = run(cmd, &st);
    ck_assert_msg(st == 0, "%s: exit %d", cmd, st);
    free(cmd);
    k = bff_keyset_parse(jwks, strlen(jwks), err, sizeof err);
    ck_assert_msg(k != NULL, "bff-token's JWKS refused: %s\n%s", err, jwks);
    cmd = xasprintf("'%s' --sub 4412 --roles customer,support --aud shop --iss "
                    "https://auth.test --now %lld --key '%s' %s%s %s",
                    bin, NOW, key, c->alg ? "--alg " : "", c->alg ? c->alg : "",
                    c->extra);
    tok = run(cmd, &st);
    ck_assert_msg(st == 0, "%s: exit %d", cmd, st);
    ck_assert_msg(strlen(tok) > 1 && tok[strlen(tok) - 1] == '\n', "%s", tok);
    tok[strlen(tok) - 1] = '\0';
    enum bff_jwt_reason r = bff_jwt_verify(k, &pol, tok, strlen(tok), NOW, &id);
    ck_assert_msg(r == c->want, "%s: got %s, want %s", cmd, bff_jwt_reason_name(r),
                  bff_jwt_reason_name(c->want));
    if (r == BFF_JWT_OK) {
        ck_assert_str_eq(id.user_id, "4412");
        ck_assert_str_eq(id.roles, c->roles);
    }

    /* and an independent verifier agrees (jose, when node is there) */
    if (c->want == BFF_JWT_OK && have_node()) {
        char *script = jose_script(), *jf = xasprintf("%s/jwks.json", tmpdir), *out;
        write_file(jf, jwks, strlen(jwks));
        free(cmd);
        cmd = xasprintf("node '%s' verify %lld '%s' '%s'", script, NOW, jf, tok);
        out = run(cmd, &st);
        ck_assert_msg(st == 0 && strstr(out, "\"ok\":true"),
                      "jose refused bff-token's token: %s", out);
        /* the default kid is the RFC 7638 thumbprint, as jose computes it */
        if (c->jwks[0] == '\0')
            ck_assert_msg(strstr(out, "\"thumbprint_ok\":true"),
                          "kid is not the "
                          "JWK thumbprint: %s",
                          out);
        free(out);
        free(jf);
        free(script);
    }
    bff_keyset_unref(k);
    free(cmd);
    free(jwks);
    free(tok);
    free(bin);
    rm_tmpdir();
}
END_TEST

START_TEST(bff_token_usage)
{
    char *bin = tool(), *cmd, *out;
    int   st;

    mk_tmpdir();
    cmd = xasprintf("'%s' --help", bin);
    out = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    ck_assert_ptr_nonnull(strstr(out, "--sub"));
    free(out);
    free(cmd);
    cmd = xasprintf("'%s' --sub 1 --key /nonexistent 2>/dev/null", bin);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 1);
    free(cmd);
    cmd = xasprintf("'%s' --bogus 2>/dev/null", bin);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 2);
    free(cmd);
    cmd = xasprintf("'%s' --gen-key ec --out '%s/k' && '%s' --gen-key ec --out '%s/k' "
                    "2>/dev/null",
                    bin, tmpdir, bin, tmpdir);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 1); /* never overwrites */
    free(cmd);
    cmd = xasprintf("'%s' --sub 1 --alg ES384 --key '%s/k' 2>/dev/null", bin, tmpdir);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 1); /* a P-256 key cannot sign ES384 */
    free(cmd);
    cmd =
        xasprintf("printf 'short\\n' > '%s/s' && '%s' --sub 1 --key '%s/s' 2>/dev/null",
                  tmpdir, bin, tmpdir);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 1); /* an HMAC secret under 32 bytes */
    free(cmd);
    /* a public key is not quietly taken for an HMAC secret */
    cmd =
        xasprintf("openssl pkey -in '%s/k' -pubout -out '%s/pub' && '%s' --sub 1 --key "
                  "'%s/pub' 2>/dev/null",
                  tmpdir, tmpdir, bin, tmpdir);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 1);
    free(cmd);
    /* keys from the openssl command line, PKCS#8 and traditional */
    cmd = xasprintf("openssl ecparam -genkey -name secp384r1 -noout -out '%s/trad' && "
                    "'%s' --sub 1 --key '%s/trad' && openssl genpkey -algorithm RSA "
                    "-out '%s/rsa' 2>/dev/null && '%s' --jwks --key '%s/rsa'",
                    tmpdir, bin, tmpdir, tmpdir, bin, tmpdir);
    out = run(cmd, &st);
    ck_assert_msg(st == 0 && strstr(out, "\"kty\": \"RSA\""), "%s", out);
    free(out);
    free(cmd);
    free(bin);
    rm_tmpdir();
}
END_TEST

static Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc;

    tc = tcase_create("verify");
    tcase_add_loop_test(tc, verify_table, 0, (int)(sizeof vcases / sizeof vcases[0]));
    tcase_add_test(tc, verify_bad_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("jwks");
    tcase_add_loop_test(tc, jwks_table, 0, (int)(sizeof kcases / sizeof kcases[0]));
    tcase_add_test(tc, jwks_file);
    tcase_add_test(tc, keyset_from_secret);
    tcase_add_test(tc, short_oct_key_serves_only_what_it_covers);
    tcase_add_test(tc, ed25519_small_order_and_non_canonical_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_add_test(tc, threads_share_a_keyset);
    tcase_add_test(tc, roles_match);
    tcase_add_test(tc, reason_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("tokcache");
    tcase_add_test(tc, tokcache_hit_miss_and_identity);
    tcase_add_test(tc, tokcache_never_past_exp);
    tcase_add_test(tc, tokcache_is_tied_to_a_key_set_generation);
    tcase_add_test(tc, tokcache_is_bounded);
    tcase_add_test(tc, tokcache_with_the_verifier);
    suite_add_tcase(s, tc);

    tc = tcase_create("interop");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, interop_openssl_cli, 0,
                        (int)(sizeof ocases / sizeof ocases[0]));
    tcase_add_test(tc, interop_jose_mint);
    suite_add_tcase(s, tc);

    tc = tcase_create("bff-token");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, bff_token_tool, 0,
                        (int)(sizeof tool_cases / sizeof tool_cases[0]));
    tcase_add_test(tc, bff_token_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int      failed;

    setup_keys();
    setup_payloads();
    sr = srunner_create(jwt_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    teardown_keys();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
