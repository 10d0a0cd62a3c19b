/* demo/bff_token.c — bff-token: mints demo JWTs, prints the JWKS of a key,
 * makes demo keys.
 *
 * Signing lives here, in a tool, never in the gateway: the core only
 * verifies. Keys are PEM private keys (RSA, EC, Ed25519) or, for HS*, a file
 * whose bytes are the shared secret. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

#define MAX_KEY_FILE (1024 * 1024)
#define MAX_CLAIMS 64

static const char usage[] =
    "usage: bff-token --sub ID [--roles R1[,R2...]] [--ttl 1h] [--aud X]... [--iss X]\n"
    "                 [--alg ALG] [--key FILE] [--kid ID | --no-kid]\n"
    "                 [--claim NAME=VALUE]... [--now UNIX]\n"
    "       bff-token --jwks --key FILE [--alg ALG] [--kid ID | --no-kid]\n"
    "       bff-token --gen-key rsa|rsa:BITS|ec|ec384|ec521|ed25519|hmac --out FILE\n"
    "\n"
    "Mints a signed JWT (compact JWS) and prints it and a newline.\n"
    "\n"
    "  --sub ID         the user id (claim \"sub\", a string)\n"
    "  --roles LIST     comma-separated roles (claim \"roles\", an array of strings)\n"
    "  --ttl DUR        lifetime: 90s, 30m, 1h, 7d or seconds; negative for an\n"
    "                   already expired token (default 1h)\n"
    "  --aud X          audience; repeat for several (then \"aud\" is an array)\n"
    "  --iss X          issuer\n"
    "  --alg ALG        HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512\n"
    "                   ES256 ES384 ES512 EdDSA. Default: from the key: RSA -> RS256,\n"
    "                   EC P-256/384/521 -> ES256/384/512, Ed25519 -> EdDSA,\n"
    "                   a file that is not a PEM private key -> HS256\n"
    "  --key FILE       a PEM private key (PKCS#8 or traditional) for RS*, PS*, ES*,\n"
    "                   EdDSA; for HS* the file's bytes are the secret, trailing\n"
    "                   whitespace removed (at least 16 bytes). With --alg HS* any\n"
    "                   file is taken as a secret. Default: $BFF_TOKEN_KEY\n"
    "  --kid ID         the key id; default: the RFC 7638 thumbprint of the public\n"
    "                   key (SHA-256, base64url), none for HS* keys\n"
    "  --no-kid         no kid in the token or the JWK\n"
    "  --claim N=V      set claim N to V, read as JSON when it parses (42, true,\n"
    "                   [\"a\"], {\"x\":1}) and as a string otherwise; an empty V\n"
    "                   removes the claim (--claim exp= mints a token without exp).\n"
    "                   Applied last, so it overrides the options above\n"
    "  --now UNIX       the clock, in seconds since the epoch (default: now)\n"
    "  --jwks           print the public JWKS of --key (\"use\":\"sig\"; \"alg\" only\n"
    "                   when --alg is given) instead of a token. For an HS* secret\n"
    "                   the JWK is {\"kty\":\"oct\",\"k\":...}: keep it as secret as "
    "the key\n"
    "  --gen-key TYPE   write a new key to --out (mode 0600, never overwrites):\n"
    "                   rsa (2048 bits), rsa:BITS, ec (P-256), ec384, ec521,\n"
    "                   ed25519 (PEM, PKCS#8), or hmac (86 random base64url\n"
    "                   characters, the secret being those characters: enough\n"
    "                   for HS512; an HS* secret must hold at least 32, 48 or\n"
    "                   64 bytes for HS256, HS384, HS512)\n"
    "  --help           this text\n"
    "\n"
    "Exit status: 0 done, 1 failure, 2 usage error.\n";

enum family { F_HMAC, F_RSA, F_PSS, F_ECDSA, F_EDDSA };

struct alg {
    const char *name;
    enum family family;
    const char *md;    /* digest name; NULL for EdDSA */
    const char *group; /* ECDSA: the curve's OpenSSL name */
    size_t      size;  /* ECDSA: bytes of one coordinate */
};

static const struct alg algs[] = {
    {"HS256", F_HMAC, "SHA256", NULL, 0},
    {"HS384", F_HMAC, "SHA384", NULL, 0},
    {"HS512", F_HMAC, "SHA512", NULL, 0},
    {"RS256", F_RSA, "SHA256", NULL, 0},
    {"RS384", F_RSA, "SHA384", NULL, 0},
    {"RS512", F_RSA, "SHA512", NULL, 0},
    {"PS256", F_PSS, "SHA256", NULL, 0},
    {"PS384", F_PSS, "SHA384", NULL, 0},
    {"PS512", F_PSS, "SHA512", NULL, 0},
    {"ES256", F_ECDSA, "SHA256", "prime256v1", 32},
    {"ES384", F_ECDSA, "SHA384", "secp384r1", 48},
    {"ES512", F_ECDSA, "SHA512", "secp521r1", 66},
    {"EdDSA", F_EDDSA, NULL, NULL, 0},
};

struct key {
    EVP_PKEY      *pkey;   /* NULL for a secret */
    unsigned char *secret; /* HS* */
    size_t         slen;
};

static void ssl_error(const char *what)
{
    unsigned long e = ERR_get_error();
    fprintf(stderr, "bff-token: %s%s%s\n", what, e ? ": " : "",
            e ? ERR_reason_error_string(e) : "");
}

static const struct alg *alg_find(const char *name)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

/* Writes the unpadded base64url of @n bytes at @in to new memory. */
static char *b64url(const unsigned char *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int   len;

    if (out == NULL)
        return NULL;
    len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;

    *out = NULL;
    if (f == NULL) {
        fprintf(stderr, "bff-token: %s: %s\n", path, strerror(errno));
        return -1;
    }
    *out = malloc(cap);
    while (*out != NULL) {
        n += fread(*out + n, 1, cap - n, f);
        if (n < cap || cap >= MAX_KEY_FILE)
            break;
        unsigned char *bigger = realloc(*out, cap * 2);
        if (bigger == NULL) {
            free(*out);
            *out = NULL;
        }
        *out = bigger;
        cap *= 2;
    }
    if (*out == NULL || ferror(f) || n >= MAX_KEY_FILE) {
        fprintf(stderr, "bff-token: %s: unreadable or larger than %d bytes\n", path,
                MAX_KEY_FILE);
        fclose(f);
        free(*out);
        *out = NULL;
        return -1;
    }
    fclose(f);
    *len = n;
    return 0;
}

/* Loads @path as a PEM private key, or as a secret when @alg is HS* or when
 * no alg is given and the file is not a PEM private key. */
static int key_load(const char *path, const struct alg *alg, struct key *k)
{
    unsigned char *buf;
    size_t         len;

    memset(k, 0, sizeof *k);
    if (read_file(path, &buf, &len) < 0)
        return -1;
    if (alg == NULL || alg->family != F_HMAC) {
        BIO *bio = BIO_new_mem_buf(buf, (int)len);
        k->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        ERR_clear_error();
        if (k->pkey != NULL) {
            OPENSSL_clear_free(buf, len);
            return 0;
        }
        if (alg != NULL) {
            fprintf(stderr, "bff-token: %s: not a PEM private key (needed for %s)\n",
                    path, alg->name);
            OPENSSL_clear_free(buf, len);
            return -1;
        }
        /* A public key or certificate given by mistake must not quietly
         * become an HMAC secret (that is the alg-confusion attack). */
        if (len >= 10 && memmem(buf, len, "-----BEGIN", 10) != NULL) {
            fprintf(stderr,
                    "bff-token: %s: PEM, but not a private key this tool can read; "
                    "to use the file's bytes as an HMAC secret, pass --alg HS256\n",
                    path);
            OPENSSL_clear_free(buf, len);
            return -1;
        }
    }
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
                       buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    /* RFC 7518 §3.2: at least the hash size (32, 48, 64 bytes for HS256,
     * HS384, HS512); the gateway refuses shorter keys too */
    size_t need = alg == NULL || strcmp(alg->md, "SHA256") == 0 ? 32
                  : strcmp(alg->md, "SHA384") == 0              ? 48
                                                                : 64;
    if (len < need) {
        fprintf(stderr,
                "bff-token: %s: an HMAC secret of %zu bytes; %s needs at least %zu "
                "(RFC 7518 section 3.2)\n",
                path, len, alg ? alg->name : "HS256", need);
        OPENSSL_clear_free(buf, len);
        return -1;
    }
    k->secret = buf;
    k->slen = len;
    return 0;
}

static void key_cleanup(struct key *k)
{
    EVP_PKEY_free(k->pkey);
    OPENSSL_clear_free(k->secret, k->slen);
    memset(k, 0, sizeof *k);
}

/* The OpenSSL group name of an EC key, or "". */
static void ec_group(EVP_PKEY *pkey, char *out, size_t cap)
{
    out[0] = '\0';
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, out, cap,
                                        NULL))
        out[0] = '\0';
}

/* The alg a key signs with when none is asked for. */
static const struct alg *alg_default(const struct key *k)
{
    char group[64];

    if (k->pkey == NULL)
        return alg_find("HS256");
    if (EVP_PKEY_is_a(k->pkey, "RSA"))
        return alg_find("RS256");
    if (EVP_PKEY_is_a(k->pkey, "ED25519"))
        return alg_find("EdDSA");
    if (EVP_PKEY_is_a(k->pkey, "EC")) {
        ec_group(k->pkey, group, sizeof group);
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
            if (algs[i].group != NULL && strcmp(algs[i].group, group) == 0)
                return &algs[i];
    }
    return NULL;
}

static int alg_fits(const struct alg *a, const struct key *k)
{
    char group[64];

    switch (a->family) {
    case F_HMAC:
        return k->pkey == NULL;
    case F_RSA:
    case F_PSS:
        return k->pkey != NULL && EVP_PKEY_is_a(k->pkey, "RSA");
    case F_ECDSA:
        if (k->pkey == NULL || !EVP_PKEY_is_a(k->pkey, "EC"))
            return 0;
        ec_group(k->pkey, group, sizeof group);
        return strcmp(group, a->group) == 0;
    case F_EDDSA:
        return k->pkey != NULL && EVP_PKEY_is_a(k->pkey, "ED25519");
    }
    return 0;
}

/* Signs @n bytes at @msg; returns the base64url signature in new memory. */
static char *sign(const struct alg *a, const struct key *k, const char *msg, size_t n)
{
    unsigned char *sig = NULL, raw[132];
    size_t         siglen = 0;
    EVP_MD_CTX    *ctx = NULL;
    EVP_PKEY_CTX  *pctx = NULL;
    ECDSA_SIG     *es = NULL;
    char          *out = NULL;

    if (a->family == F_HMAC) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        if (EVP_Q_mac(NULL, "HMAC", NULL, a->md, NULL, k->secret, k->slen,
                      (const unsigned char *)msg, n, mac, sizeof mac,
                      &siglen) == NULL) {
            ssl_error("HMAC failed");
            return NULL;
        }
        return b64url(mac, siglen);
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL ||
        EVP_DigestSignInit_ex(ctx, &pctx, a->md, NULL, NULL, k->pkey, NULL) != 1)
        goto fail;
    if (a->family == F_PSS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto fail;
    if (EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)msg, n) != 1 ||
        (sig = malloc(siglen)) == NULL ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, n) != 1)
        goto fail;
    if (a->family == F_ECDSA) {
        /* DER ECDSA-Sig-Value -> JWS r‖s (RFC 7518 3.4) */
        const unsigned char *p = sig;
        const BIGNUM        *r, *s;
        es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
        if (es == NULL)
            goto fail;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2binpad(r, raw, (int)a->size) < 0 ||
            BN_bn2binpad(s, raw + a->size, (int)a->size) < 0)
            goto fail;
        out = b64url(raw, 2 * a->size);
    } else {
        out = b64url(sig, siglen);
    }
    goto done;
fail:
    ssl_error("signing failed");
done:
    ECDSA_SIG_free(es);
    free(sig);
    EVP_MD_CTX_free(ctx);
    return out;
}

static char *bn_b64(EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM        *bn = NULL;
    unsigned char *bin;
    char          *out = NULL;
    int            n;

    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        return NULL;
    n = pad > 0 ? pad : BN_num_bytes(bn);
    bin = malloc((size_t)n + 1);
    if (bin != NULL && BN_bn2binpad(bn, bin, n) == n)
        out = b64url(bin, (size_t)n);
    free(bin);
    BN_free(bn);
    return out;
}

/* Builds the public JWK members of @k (RFC 7638 order) into @jwk and its
 * thumbprint into @thumb (new memory). */
static int jwk_public(const struct key *k, struct json_object *jwk, char **thumb)
{
    char          canon[4096], group[64];
    char         *a = NULL, *b = NULL;
    const char   *crv = NULL;
    unsigned char digest[32];
    int           rc = -1;

    *thumb = NULL;
    if (k->pkey == NULL) {
        a = b64url(k->secret, k->slen);
        if (a == NULL)
            goto out;
        json_object_object_add(jwk, "kty", json_object_new_string("oct"));
        json_object_object_add(jwk, "k", json_object_new_string(a));
        snprintf(canon, sizeof canon, "{\"k\":\"%s\",\"kty\":\"oct\"}", a);
    } else if (EVP_PKEY_is_a(k->pkey, "RSA")) {
        a = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        b = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        if (a == NULL || b == NULL)
            goto out;
        json_object_object_add(jwk, "kty", json_object_new_string("RSA"));
        json_object_object_add(jwk, "n", json_object_new_string(a));
        json_object_object_add(jwk, "e", json_object_new_string(b));
        snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b,
                 a);
    } else if (EVP_PKEY_is_a(k->pkey, "EC")) {
        const struct alg *al = alg_default(k);
        ec_group(k->pkey, group, sizeof group);
        if (al == NULL) {
            fprintf(stderr, "bff-token: EC curve %s is not P-256, P-384 or P-521\n",
                    group);
            goto out;
        }
        crv = al->size == 32 ? "P-256" : al->size == 48 ? "P-384" : "P-521";
        a = bn_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, (int)al->size);
        b = bn_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, (int)al->size);
        if (a == NULL || b == NULL)
            goto out;
        json_object_object_add(jwk, "kty", json_object_new_string("EC"));
        json_object_object_add(jwk, "crv", json_object_new_string(crv));
        json_object_object_add(jwk, "x", json_object_new_string(a));
        json_object_object_add(jwk, "y", json_object_new_string(b));
        snprintf(canon, sizeof canon,
                 "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv, a,
                 b);
    } else if (EVP_PKEY_is_a(k->pkey, "ED25519")) {
        unsigned char raw[32];
        size_t        rawlen = sizeof raw;
        if (!EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) ||
            (a = b64url(raw, rawlen)) == NULL)
            goto out;
        json_object_object_add(jwk, "kty", json_object_new_string("OKP"));
        json_object_object_add(jwk, "crv", json_object_new_string("Ed25519"));
        json_object_object_add(jwk, "x", json_object_new_string(a));
        snprintf(canon, sizeof canon,
                 "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", a);
    } else {
        fprintf(stderr, "bff-token: unsupported key type\n");
        goto out;
    }
    if (EVP_Digest(canon, strlen(canon), digest, NULL, EVP_sha256(), NULL) != 1 ||
        (*thumb = b64url(digest, sizeof digest)) == NULL)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        ssl_error("cannot read the public key");
    OPENSSL_cleanse(canon, sizeof canon);
    free(a);
    free(b);
    return rc;
}

static int parse_ttl(const char *s, long long *out)
{
    char     *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "m") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else if (strcmp(end, "d") == 0)
        *out = v * 86400;
    else
        return -1;
    return (v > 100LL * 365 * 86400 || v < -100LL * 365 * 86400) ? -1 : 0;
}

static int gen_key(const char *type, const char *path)
{
    EVP_PKEY *pkey = NULL;
    BIO      *bio = NULL;
    int       fd, rc = 1;

    if (strcmp(type, "rsa") == 0 || strncmp(type, "rsa:", 4) == 0) {
        unsigned int bits = type[3] ? (unsigned int)strtoul(type + 4, NULL, 10) : 2048;
        if (bits < 2048 || bits > 16384) {
            fprintf(stderr, "bff-token: RSA keys of 2048 to 16384 bits only\n");
            return 2;
        }
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else if (strcmp(type, "ec") == 0 || strcasecmp(type, "P-256") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else if (strcmp(type, "ec384") == 0 || strcasecmp(type, "P-384") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    } else if (strcmp(type, "ec521") == 0 || strcasecmp(type, "P-521") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    } else if (strcasecmp(type, "ed25519") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else if (strcmp(type, "hmac") != 0) {
        fprintf(stderr, "bff-token: --gen-key: unknown type \"%s\"\n%s", type, usage);
        return 2;
    }
    if (strcmp(type, "hmac") != 0 && pkey == NULL) {
        ssl_error("key generation failed");
        return 1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bff-token: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (remove it first; keys are never overwritten)"
                                : "");
        EVP_PKEY_free(pkey);
        return 1;
    }
    if (pkey == NULL) {
        unsigned char rnd[64]; /* enough for HS512 */
        char         *text = NULL;
        if (RAND_bytes(rnd, sizeof rnd) == 1 &&
            (text = b64url(rnd, sizeof rnd)) != NULL) {
            size_t n = strlen(text);
            text[n] = '\n';
            rc = write(fd, text, n + 1) == (ssize_t)(n + 1) ? 0 : 1;
            OPENSSL_clear_free(text, n + 1);
        }
        OPENSSL_cleanse(rnd, sizeof rnd);
    } else {
        bio = BIO_new_fd(fd, BIO_NOCLOSE);
        if (bio != NULL &&
            PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
            rc = BIO_flush(bio) == 1 ? 0 : 1;
    }
    if (close(fd) < 0)
        rc = 1;
    if (rc != 0) {
        fprintf(stderr, "bff-token: %s: writing the key failed\n", path);
        unlink(path);
    }
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return rc;
}

static char *b64url_str(const char *s)
{
    return b64url((const unsigned char *)s, strlen(s));
}

static const int json_flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

int main(int argc, char **argv)
{
    enum {
        O_SUB = 256,
        O_ROLES,
        O_TTL,
        O_AUD,
        O_ISS,
        O_ALG,
        O_KEY,
        O_KID,
        O_NOKID,
        O_CLAIM,
        O_NOW,
        O_JWKS,
        O_GEN,
        O_OUT,
        O_HELP
    };
    static const struct option opts[] = {
        {"sub", required_argument, NULL, O_SUB},
        {"roles", required_argument, NULL, O_ROLES},
        {"ttl", required_argument, NULL, O_TTL},
        {"aud", required_argument, NULL, O_AUD},
        {"iss", required_argument, NULL, O_ISS},
        {"alg", required_argument, NULL, O_ALG},
        {"key", required_argument, NULL, O_KEY},
        {"kid", required_argument, NULL, O_KID},
        {"no-kid", no_argument, NULL, O_NOKID},
        {"claim", required_argument, NULL, O_CLAIM},
        {"now", required_argument, NULL, O_NOW},
        {"jwks", no_argument, NULL, O_JWKS},
        {"gen-key", required_argument, NULL, O_GEN},
        {"out", required_argument, NULL, O_OUT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char         *sub = NULL, *roles = NULL, *iss = NULL, *algname = NULL;
    const char         *keypath = getenv("BFF_TOKEN_KEY"), *kid = NULL, *gen = NULL;
    const char         *outpath = NULL, *aud[16], *claims[MAX_CLAIMS];
    size_t              naud = 0, nclaims = 0;
    long long           ttl = 3600, now = (long long)time(NULL);
    int                 jwks = 0, nokid = 0, c, rc = 1;
    const struct alg   *alg = NULL;
    struct key          key = {0};
    struct json_object *hdr = NULL, *pay = NULL, *set = NULL, *jwk = NULL;
    char *thumb = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *msg = NULL;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_SUB:
            sub = optarg;
            break;
        case O_ROLES:
            roles = optarg;
            break;
        case O_TTL:
            if (parse_ttl(optarg, &ttl) < 0) {
                fprintf(stderr, "bff-token: --ttl \"%s\": use 90s, 30m, 1h or 7d\n",
                        optarg);
                return 2;
            }
            break;
        case O_AUD:
            if (naud == sizeof aud / sizeof aud[0]) {
                fprintf(stderr, "bff-token: too many --aud\n");
                return 2;
            }
            aud[naud++] = optarg;
            break;
        case O_ISS:
            iss = optarg;
            break;
        case O_ALG:
            algname = optarg;
            break;
        case O_KEY:
            keypath = optarg;
            break;
        case O_KID:
            kid = optarg;
            break;
        case O_NOKID:
            nokid = 1;
            break;
        case O_CLAIM:
            if (nclaims == MAX_CLAIMS || strchr(optarg, '=') == NULL ||
                optarg[0] == '=') {
                fprintf(stderr, "bff-token: --claim \"%s\": use NAME=VALUE\n", optarg);
                return 2;
            }
            claims[nclaims++] = optarg;
            break;
        case O_NOW:
            errno = 0;
            now = strtoll(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg) {
                fprintf(stderr, "bff-token: --now \"%s\": seconds since the epoch\n",
                        optarg);
                return 2;
            }
            break;
        case O_JWKS:
            jwks = 1;
            break;
        case O_GEN:
            gen = optarg;
            break;
        case O_OUT:
            outpath = optarg;
            break;
        case O_HELP:
            fputs(usage, stdout);
            return 0;
        default:
            fprintf(stderr, "bff-token: unknown or incomplete option \"%s\"\n%s",
                    argv[optind - 1], usage);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bff-token: unexpected argument \"%s\"\n%s", argv[optind],
                usage);
        return 2;
    }
    if (gen != NULL) {
        if (outpath == NULL) {
            fprintf(stderr, "bff-token: --gen-key needs --out FILE\n");
            return 2;
        }
        return gen_key(gen, outpath);
    }
    if (algname != NULL && (alg = alg_find(algname)) == NULL) {
        fprintf(stderr, "bff-token: --alg \"%s\": unknown (see --help)\n", algname);
        return 2;
    }
    if (keypath == NULL || keypath[0] == '\0') {
        fprintf(stderr, "bff-token: no key: pass --key FILE or set BFF_TOKEN_KEY\n");
        return 2;
    }
    if (!jwks && (sub == NULL || sub[0] == '\0')) {
        fprintf(stderr, "bff-token: --sub ID is required\n%s", usage);
        return 2;
    }
    if (key_load(keypath, alg, &key) < 0)
        goto out;
    if (alg == NULL && (alg = alg_default(&key)) == NULL) {
        fprintf(stderr, "bff-token: %s: no algorithm for this key type\n", keypath);
        goto out;
    }
    if (!alg_fits(alg, &key)) {
        fprintf(stderr, "bff-token: %s: this key cannot sign %s\n", keypath, alg->name);
        goto out;
    }

    /* The kid: given, none, or the thumbprint of an asymmetric key. */
    set = json_object_new_object();
    jwk = json_object_new_object();
    json_object_object_add(set, "keys", json_object_new_array());
    json_object_array_add(json_object_object_get(set, "keys"), jwk);
    if (jwk_public(&key, jwk, &thumb) < 0)
        goto out;
    if (nokid)
        kid = NULL;
    else if (kid == NULL && key.pkey != NULL)
        kid = thumb;

    if (jwks) {
        json_object_object_add(jwk, "use", json_object_new_string("sig"));
        if (algname != NULL)
            json_object_object_add(jwk, "alg", json_object_new_string(alg->name));
        if (kid != NULL)
            json_object_object_add(jwk, "kid", json_object_new_string(kid));
        printf("%s\n", json_object_to_json_string_ext(
                           set, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                    JSON_C_TO_STRING_NOSLASHESCAPE));
        rc = fflush(stdout) == 0 ? 0 : 1;
        goto out;
    }

    hdr = json_object_new_object();
    json_object_object_add(hdr, "alg", json_object_new_string(alg->name));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    if (kid != NULL)
        json_object_object_add(hdr, "kid", json_object_new_string(kid));

    pay = json_object_new_object();
    if (iss != NULL)
        json_object_object_add(pay, "iss", json_object_new_string(iss));
    json_object_object_add(pay, "sub", json_object_new_string(sub));
    if (naud == 1) {
        json_object_object_add(pay, "aud", json_object_new_string(aud[0]));
    } else if (naud > 1) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < naud; i++)
            json_object_array_add(arr, json_object_new_string(aud[i]));
        json_object_object_add(pay, "aud", arr);
    }
    if (roles != NULL) {
        struct json_object *arr = json_object_new_array();
        const char         *r = roles;
        while (*r != '\0') {
            size_t n = strcspn(r, ",");
            if (n > 0)
                json_object_array_add(arr, json_object_new_string_len(r, (int)n));
            r += n;
            if (*r == ',')
                r++;
        }
        json_object_object_add(pay, "roles", arr);
    }
    json_object_object_add(pay, "iat", json_object_new_int64(now));
    json_object_object_add(pay, "exp", json_object_new_int64(now + ttl));
    for (size_t i = 0; i < nclaims; i++) {
        const char         *eq = strchr(claims[i], '=');
        char               *name = strndup(claims[i], (size_t)(eq - claims[i]));
        struct json_object *v = NULL;
        if (name == NULL)
            goto out;
        if (eq[1] == '\0') {
            json_object_object_del(pay, name);
        } else {
            enum json_tokener_error jerr;
            v = json_tokener_parse_verbose(eq + 1, &jerr);
            if (jerr != json_tokener_success)
                v = json_object_new_string(eq + 1);
            json_object_object_add(pay, name, v);
        }
        free(name);
    }

    h64 = b64url_str(json_object_to_json_string_ext(hdr, json_flags));
    p64 = b64url_str(json_object_to_json_string_ext(pay, json_flags));
    if (h64 == NULL || p64 == NULL ||
        (msg = malloc(strlen(h64) + strlen(p64) + 2)) == NULL)
        goto out;
    sprintf(msg, "%s.%s", h64, p64);
    s64 = sign(alg, &key, msg, strlen(msg));
    if (s64 == NULL)
        goto out;
    printf("%s.%s\n", msg, s64);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    json_object_put(hdr);
    json_object_put(pay);
    json_object_put(set);
    free(thumb);
    free(h64);
    free(p64);
    free(msg);
    free(s64);
    key_cleanup(&key);
    return rc;
}
