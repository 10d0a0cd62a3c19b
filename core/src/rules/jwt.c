/* core/src/jwt.c — JWT (RFC 7519) verification: compact JWS (RFC 7515) with the
 * algorithms of RFC 7518 and EdDSA (RFC 8037), checked against a key set.
 *
 * Runs on every authenticated request: no lock of our own, no shared mutable
 * state, one stack buffer for decoding; the keys were made ready in jwks.c.
 * The token is never logged and never copied to the heap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "rules/jwt_int.h"

static const struct jwt_alg algs[] = {
    {"HS256", BFF_ALG_HS256, JWT_HMAC, JWT_SHA256, 32, NULL},
    {"HS384", BFF_ALG_HS384, JWT_HMAC, JWT_SHA384, 48, NULL},
    {"HS512", BFF_ALG_HS512, JWT_HMAC, JWT_SHA512, 64, NULL},
    {"RS256", BFF_ALG_RS256, JWT_RSA, JWT_SHA256, 0, NULL},
    {"RS384", BFF_ALG_RS384, JWT_RSA, JWT_SHA384, 0, NULL},
    {"RS512", BFF_ALG_RS512, JWT_RSA, JWT_SHA512, 0, NULL},
    {"PS256", BFF_ALG_PS256, JWT_PSS, JWT_SHA256, 0, NULL},
    {"PS384", BFF_ALG_PS384, JWT_PSS, JWT_SHA384, 0, NULL},
    {"PS512", BFF_ALG_PS512, JWT_PSS, JWT_SHA512, 0, NULL},
    {"ES256", BFF_ALG_ES256, JWT_ECDSA, JWT_SHA256, 64, "P-256"},
    {"ES384", BFF_ALG_ES384, JWT_ECDSA, JWT_SHA384, 96, "P-384"},
    {"ES512", BFF_ALG_ES512, JWT_ECDSA, JWT_SHA512, 132, "P-521"},
    {"EdDSA", BFF_ALG_EDDSA, JWT_EDDSA, JWT_SHA512, 64, NULL},
};

const struct jwt_alg *bff_jwt_alg_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strlen(algs[i].name) == len && memcmp(algs[i].name, name, len) == 0)
            return &algs[i];
    return NULL;
}

static int b64v(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* @out may be NULL to check @in only. */
int bff_jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap,
                          size_t *outlen)
{
    size_t   rem = len % 4, n = len / 4 * 3 + (rem ? rem - 1 : 0), o = 0;
    uint32_t acc = 0;
    int      bits = 0;

    if (rem == 1 || (out != NULL && n > cap))
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64v((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out != NULL)
                out[o] = (unsigned char)(acc >> bits);
            o++;
        }
    }
    /* The 2 or 4 bits left over must be zero (RFC 4648 section 3.5). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    if (outlen != NULL)
        *outlen = o;
    return 0;
}

/* A strict RFC 8259 recogniser, run before json-c, which is lenient (single
 * quotes, NaN, keys cut at "\u0000") and keeps the last of duplicate members. */
struct jscan {
    const unsigned char *p, *end;
    int                  depth;
};

#define JSCAN_MAX_DEPTH 24

static void js_ws(struct jscan *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int js_string(struct jscan *j, int is_key)
{
    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    while (j->p < j->end) {
        unsigned char c = *j->p++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
        if (c != '\\')
            continue;
        if (j->p >= j->end)
            return -1;
        c = *j->p++;
        if (c == 'u') {
            if (j->end - j->p < 4)
                return -1;
            for (int i = 0; i < 4; i++)
                if (!((j->p[i] >= '0' && j->p[i] <= '9') ||
                      (j->p[i] >= 'a' && j->p[i] <= 'f') ||
                      (j->p[i] >= 'A' && j->p[i] <= 'F')))
                    return -1;
            if (is_key && memcmp(j->p, "0000", 4) == 0)
                return -1;
            j->p += 4;
        } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
            return -1;
        }
    }
    return -1;
}

static int js_digits(struct jscan *j)
{
    const unsigned char *start = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start ? 0 : -1;
}

static int js_number(struct jscan *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (js_digits(j) < 0)
        return -1;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (js_digits(j) < 0)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (js_digits(j) < 0)
            return -1;
    }
    return 0;
}

static int js_value(struct jscan *j, size_t *members);

static int js_object(struct jscan *j, size_t *members)
{
    size_t n = 0;

    if (++j->depth > JSCAN_MAX_DEPTH)
        return -1;
    j->p++; /* '{' */
    js_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        goto done;
    }
    for (;;) {
        js_ws(j);
        if (js_string(j, 1) < 0)
            return -1;
        js_ws(j);
        if (j->p >= j->end || *j->p++ != ':')
            return -1;
        js_ws(j);
        if (js_value(j, NULL) < 0)
            return -1;
        n++;
        js_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == '}') {
            j->p++;
            break;
        }
        if (*j->p++ != ',')
            return -1;
    }
done:
    j->depth--;
    if (members != NULL)
        *members = n;
    return 0;
}

static int js_array(struct jscan *j)
{
    if (++j->depth > JSCAN_MAX_DEPTH)
        return -1;
    j->p++; /* '[' */
    js_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        js_ws(j);
        if (js_value(j, NULL) < 0)
            return -1;
        js_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == ']') {
            j->p++;
            break;
        }
        if (*j->p++ != ',')
            return -1;
    }
    j->depth--;
    return 0;
}

static int js_literal(struct jscan *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

static int js_value(struct jscan *j, size_t *members)
{
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
        return js_object(j, members);
    case '[':
        return js_array(j);
    case '"':
        return js_string(j, 0);
    case 't':
        return js_literal(j, "true");
    case 'f':
        return js_literal(j, "false");
    case 'n':
        return js_literal(j, "null");
    default:
        return js_number(j);
    }
}

struct json_object *bff_jwt_json_object(struct json_tokener *tok, const char *s,
                                        size_t len)
{
    struct jscan j = {(const unsigned char *)s, (const unsigned char *)s + len, 0};
    struct json_object *o;
    size_t              members = 0;

    if (len == 0 || len > INT32_MAX)
        return NULL;
    js_ws(&j);
    if (j.p >= j.end || *j.p != '{' || js_object(&j, &members) < 0)
        return NULL;
    js_ws(&j);
    if (j.p != j.end)
        return NULL;

    json_tokener_reset(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, s, (int)len);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(o, json_type_object) ||
        (size_t)json_object_object_length(o) != members) {
        json_object_put(o);
        return NULL;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
        if (!strchr(" \t\r\n", s[i]) || s[i] == '\0') {
            json_object_put(o);
            return NULL;
        }
    return o;
}

/* ---- signatures ---- */

static int verify_hmac(const struct jwk *k, const struct jwt_alg *a,
                       const unsigned char *msg, size_t msglen,
                       const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t        maclen = 0;
    EVP_MAC_CTX  *ctx;
    int           ok;

    if (siglen != a->siglen || k->mac[a->hash] == NULL)
        return 0;
    ctx = EVP_MAC_CTX_dup(k->mac[a->hash]);
    ok = ctx != NULL && EVP_MAC_update(ctx, msg, msglen) == 1 &&
         EVP_MAC_final(ctx, mac, &maclen, sizeof mac) == 1 && maclen == siglen &&
         CRYPTO_memcmp(mac, sig, siglen) == 0;
    EVP_MAC_CTX_free(ctx);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok;
}

/* JWS carries r‖s, each left-padded to the curve size (RFC 7518 3.4);
 * OpenSSL wants an ASN.1 DER ECDSA-Sig-Value. */
static int ecdsa_der(const unsigned char *sig, size_t siglen, unsigned char *der,
                     size_t cap, size_t *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM    *r = BN_bin2bn(sig, (int)(siglen / 2), NULL);
    BIGNUM    *s = BN_bin2bn(sig + siglen / 2, (int)(siglen / 2), NULL);
    int        n = -1;

    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        n = i2d_ECDSA_SIG(es, NULL);
        if (n > 0 && (size_t)n <= cap) {
            unsigned char *p = der;
            n = i2d_ECDSA_SIG(es, &p);
        } else {
            n = -1;
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return -1;
    *derlen = (size_t)n;
    return 0;
}

static int verify_pkey(const struct bff_keyset *ks, const struct jwk *k,
                       const struct jwt_alg *a, const unsigned char *msg, size_t msglen,
                       const unsigned char *sig, size_t siglen)
{
    unsigned char der[160];
    EVP_MD_CTX   *ctx;
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = a->family == JWT_EDDSA ? NULL : ks->md[a->hash];
    int           ok = 0;

    switch (a->family) {
    case JWT_RSA:
    case JWT_PSS:
        if (siglen != k->rsa_len)
            return 0;
        break;
    case JWT_ECDSA:
        if (siglen != a->siglen || ecdsa_der(sig, siglen, der, sizeof der, &siglen) < 0)
            return 0;
        sig = der;
        break;
    case JWT_EDDSA:
        if (siglen != a->siglen)
            return 0;
        break;
    default:
        return 0;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey) != 1)
        goto out;
    if (a->family == JWT_PSS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    ok = EVP_DigestVerify(ctx, sig, siglen, msg, msglen) == 1;
out:
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* ---- claims ---- */

#define TIME_LIMIT ((int64_t)1 << 52) /* far beyond any date; keeps sums exact */

static int64_t clamp_time(int64_t t)
{
    return t > TIME_LIMIT ? TIME_LIMIT : t < -TIME_LIMIT ? -TIME_LIMIT : t;
}

/* A NumericDate member: 1 and *out (rounded towards refusal: down for exp,
 * up for nbf and iat), 0 when absent, -1 when not a finite number. */
static int get_time(struct json_object *claims, const char *name, int round_up,
                    int64_t *out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(claims, name, &v))
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = clamp_time(json_object_get_int64(v));
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!isfinite(d))
            return -1;
        d = round_up ? ceil(d) : floor(d);
        *out = d >= (double)TIME_LIMIT    ? TIME_LIMIT
               : d <= -(double)TIME_LIMIT ? -TIME_LIMIT
                                          : (int64_t)d;
        return 1;
    }
    return -1;
}

static int str_is(struct json_object *v, const char *want)
{
    return json_object_is_type(v, json_type_string) &&
           (size_t)json_object_get_string_len(v) == strlen(want) &&
           memcmp(json_object_get_string(v), want, strlen(want)) == 0;
}

static int aud_ok(struct json_object *claims, const char *const *want)
{
    struct json_object *aud;
    size_t              n;
    int                 found = 0;

    if (!json_object_object_get_ex(claims, "aud", &aud))
        return 0;
    if (json_object_is_type(aud, json_type_string)) {
        for (size_t w = 0; want[w] != NULL; w++)
            found |= str_is(aud, want[w]);
        return found;
    }
    if (!json_object_is_type(aud, json_type_array))
        return 0;
    n = json_object_array_length(aud);
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(aud, i);
        if (!json_object_is_type(v, json_type_string))
            return 0;
        for (size_t w = 0; want[w] != NULL; w++)
            found |= str_is(v, want[w]);
    }
    return found;
}

/* The user id goes into X-User-Id and into rate-limit keys: no control
 * character (C0, DEL, C1), no ',', no leading or trailing space. */
static int user_id_ok(const unsigned char *s, size_t n)
{
    if (n == 0 || n >= BFF_JWT_MAX_USER_ID || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f || s[i] == ',')
            return 0;
        if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return 0; /* U+0080..U+009F */
    }
    return 1;
}

static int get_user_id(struct json_object *claims, const char *name, char *out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(claims, name, &v))
        return -1;
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        if (i < 0)
            snprintf(out, BFF_JWT_MAX_USER_ID, "%lld", (long long)i);
        else
            snprintf(out, BFF_JWT_MAX_USER_ID, "%llu",
                     (unsigned long long)json_object_get_uint64(v));
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return -1;
    size_t n = (size_t)json_object_get_string_len(v);
    if (!user_id_ok((const unsigned char *)json_object_get_string(v), n))
        return -1;
    memcpy(out, json_object_get_string(v), n);
    out[n] = '\0';
    return 0;
}

#define ROLE_MAX 64

static int role_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

/* Appends role @s (@n bytes) to @out (@len used). Returns 0 or -1. */
static int role_add(char *out, size_t *len, const char *s, size_t n)
{
    if (n == 0 || n > ROLE_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!role_char((unsigned char)s[i]))
            return -1;
    if (*len + (*len > 0) + n >= BFF_JWT_MAX_ROLES)
        return -1;
    if (*len > 0)
        out[(*len)++] = ',';
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

static int get_roles(struct json_object *claims, const char *name, char *out)
{
    struct json_object *v;
    size_t              len = 0;

    out[0] = '\0';
    if (name == NULL || !json_object_object_get_ex(claims, name, &v) || v == NULL)
        return 0; /* absent or null: no roles */
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t      n = (size_t)json_object_get_string_len(v), i = 0;
        while (i < n) {
            size_t start;
            while (i < n && (s[i] == ' ' || s[i] == ','))
                i++;
            start = i;
            while (i < n && s[i] != ' ' && s[i] != ',')
                i++;
            if (i > start && role_add(out, &len, s + start, i - start) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_object_is_type(v, json_type_array))
        return -1;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        struct json_object *r = json_object_array_get_idx(v, i);
        if (!json_object_is_type(r, json_type_string) ||
            role_add(out, &len, json_object_get_string(r),
                     (size_t)json_object_get_string_len(r)) < 0)
            return -1;
    }
    return 0;
}

static enum bff_jwt_reason check_claims(struct json_object          *claims,
                                        const struct bff_jwt_policy *policy,
                                        int64_t now, struct bff_identity *out)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    int64_t leeway = policy->leeway_s < 0                    ? 0
                     : policy->leeway_s > ((int64_t)1 << 40) ? ((int64_t)1 << 40)
                                                             : policy->leeway_s;
    int     rc;

    now = clamp_time(now);
    if (get_time(claims, "exp", 0, &exp) <= 0)
        return BFF_JWT_NO_EXP;
    if (now > exp + leeway)
        return BFF_JWT_EXPIRED;
    rc = get_time(claims, "nbf", 1, &nbf);
    if (rc < 0)
        return BFF_JWT_BAD_CLAIM;
    if (rc > 0 && nbf > now + leeway)
        return BFF_JWT_NOT_YET_VALID;
    rc = get_time(claims, "iat", 1, &iat);
    if (rc < 0)
        return BFF_JWT_BAD_CLAIM;
    if (rc > 0 && iat > now + leeway)
        return BFF_JWT_NOT_YET_VALID;
    if (policy->issuer != NULL) {
        struct json_object *iss;
        if (!json_object_object_get_ex(claims, "iss", &iss) ||
            !str_is(iss, policy->issuer))
            return BFF_JWT_BAD_ISSUER;
    }
    if (policy->audience != NULL && !aud_ok(claims, policy->audience))
        return BFF_JWT_BAD_AUDIENCE;
    if (get_user_id(claims, policy->claim_user_id ? policy->claim_user_id : "sub",
                    out->user_id) < 0 ||
        get_roles(claims, policy->claim_roles, out->roles) < 0)
        return BFF_JWT_BAD_CLAIM;
    out->exp = exp;
    return BFF_JWT_OK;
}

/* ---- the token ---- */

/* Picks the one key for @a: by kid when the token names one, else the only
 * key of the set that fits @a. */
static enum bff_jwt_reason pick_key(const struct bff_keyset *ks,
                                    const struct jwt_alg *a, struct json_object *hdr,
                                    const struct jwk **out)
{
    struct json_object *kidv;
    const struct jwk   *found = NULL;
    size_t              fits = 0, named = 0;

    if (json_object_object_get_ex(hdr, "kid", &kidv)) {
        const char *kid;
        size_t      kidlen;
        if (!json_object_is_type(kidv, json_type_string))
            return BFF_JWT_MALFORMED;
        kid = json_object_get_string(kidv);
        kidlen = (size_t)json_object_get_string_len(kidv);
        for (size_t i = 0; i < ks->n; i++) {
            const struct jwk *k = &ks->keys[i];
            if (k->kid == NULL || k->kid_len != kidlen || memcmp(k->kid, kid, kidlen))
                continue;
            named++;
            if (k->algs & a->bit) {
                found = k;
                fits++;
            }
        }
        if (named == 0)
            return BFF_JWT_UNKNOWN_KID;
        if (fits == 0)
            return BFF_JWT_ALG_REFUSED; /* the named key is of another type */
    } else {
        for (size_t i = 0; i < ks->n; i++)
            if (ks->keys[i].algs & a->bit) {
                found = &ks->keys[i];
                fits++;
            }
    }
    if (fits != 1) /* jwks.c makes a kid unique per algorithm */
        return BFF_JWT_UNKNOWN_KID;
    *out = found;
    return BFF_JWT_OK;
}

static enum bff_jwt_reason verify(const struct bff_keyset     *ks,
                                  const struct bff_jwt_policy *policy,
                                  const char *token, size_t len, int64_t now,
                                  struct bff_identity *out, struct json_tokener *tok)
{
    /* One buffer, used in turn by the header, the signature and the claims. */
    unsigned char         buf[BFF_JWT_MAX_TOKEN / 4 * 3 + 3];
    const char           *dot1 = NULL, *dot2 = NULL;
    const char           *p, *sig;
    size_t                hlen, plen, slen, n;
    struct json_object   *hdr = NULL, *claims = NULL, *v;
    const struct jwt_alg *a;
    const struct jwk     *key = NULL;
    enum bff_jwt_reason   r;

    for (size_t i = 0; i < len; i++) {
        if (token[i] != '.')
            continue;
        if (dot1 == NULL)
            dot1 = token + i;
        else if (dot2 == NULL)
            dot2 = token + i;
        else
            return BFF_JWT_MALFORMED; /* JWE (5 parts) or worse */
    }
    if (dot2 == NULL)
        return BFF_JWT_MALFORMED;
    hlen = (size_t)(dot1 - token);
    p = dot1 + 1;
    plen = (size_t)(dot2 - p);
    sig = dot2 + 1;
    slen = (size_t)(token + len - sig);
    if (bff_jwt_b64url_decode(p, plen, NULL, 0, NULL) < 0 ||
        bff_jwt_b64url_decode(sig, slen, NULL, 0, NULL) < 0 ||
        bff_jwt_b64url_decode(token, hlen, buf, sizeof buf, &n) < 0)
        return BFF_JWT_MALFORMED;

    hdr = bff_jwt_json_object(tok, (const char *)buf, n);
    if (hdr == NULL)
        return BFF_JWT_MALFORMED;
    if (!json_object_object_get_ex(hdr, "alg", &v) ||
        !json_object_is_type(v, json_type_string)) {
        r = BFF_JWT_MALFORMED;
        goto out;
    }
    /* "none" in any case, unknown names, and names in the wrong case. */
    a = bff_jwt_alg_find(json_object_get_string(v),
                         (size_t)json_object_get_string_len(v));
    if (a == NULL || !(policy->algorithms & a->bit)) {
        r = BFF_JWT_ALG_REFUSED;
        goto out;
    }
    /* We implement no header extension, so any "crit" names one we lack. */
    if (json_object_object_get_ex(hdr, "crit", NULL)) {
        r = BFF_JWT_CRIT;
        goto out;
    }
    /* "jwk", "jku", "x5u", "x5c" are never read: keys come from the set only. */
    r = pick_key(ks, a, hdr, &key);
    if (r != BFF_JWT_OK)
        goto out;

    if (bff_jwt_b64url_decode(sig, slen, buf, sizeof buf, &n) < 0) {
        r = BFF_JWT_MALFORMED;
        goto out;
    }
    if (!(a->family == JWT_HMAC ? verify_hmac(key, a, (const unsigned char *)token,
                                              hlen + 1 + plen, buf, n)
                                : verify_pkey(ks, key, a, (const unsigned char *)token,
                                              hlen + 1 + plen, buf, n))) {
        ERR_clear_error();
        r = BFF_JWT_BAD_SIGNATURE;
        goto out;
    }

    if (bff_jwt_b64url_decode(p, plen, buf, sizeof buf, &n) < 0 ||
        (claims = bff_jwt_json_object(tok, (const char *)buf, n)) == NULL) {
        r = BFF_JWT_MALFORMED;
        goto out;
    }
    r = check_claims(claims, policy, now, out);
out:
    json_object_put(hdr);
    json_object_put(claims);
    return r;
}

enum bff_jwt_reason bff_jwt_verify(const struct bff_keyset     *ks,
                                   const struct bff_jwt_policy *policy,
                                   const char *token, size_t len, int64_t now,
                                   struct bff_identity *out)
{
    struct json_tokener *tok;
    enum bff_jwt_reason  r;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (len > BFF_JWT_MAX_TOKEN)
        return BFF_JWT_TOO_LARGE;
    if (ks == NULL || policy == NULL || token == NULL || out == NULL)
        return BFF_JWT_MALFORMED;
    tok = json_tokener_new();
    if (tok == NULL)
        return BFF_JWT_MALFORMED;
    r = verify(ks, policy, token, len, now, out, tok);
    json_tokener_free(tok);
    if (r != BFF_JWT_OK)
        memset(out, 0, sizeof *out);
    return r;
}

static const struct {
    const char *name, *text;
} reasons[BFF_JWT_REASON_COUNT] = {
    [BFF_JWT_OK] = {"ok", "the token is valid"},
    [BFF_JWT_MALFORMED] = {"malformed", "the token is not a well-formed compact JWS"},
    [BFF_JWT_TOO_LARGE] = {"too_large", "the token is too large"},
    [BFF_JWT_ALG_REFUSED] = {"alg_refused", "the token's algorithm is not accepted"},
    [BFF_JWT_CRIT] = {"crit",
                      "the token has a critical header parameter this server does "
                      "not understand"},
    [BFF_JWT_UNKNOWN_KID] = {"unknown_kid", "no key of this server fits the token"},
    [BFF_JWT_BAD_SIGNATURE] = {"bad_signature", "the token's signature is invalid"},
    [BFF_JWT_EXPIRED] = {"expired", "the token has expired"},
    [BFF_JWT_NOT_YET_VALID] = {"not_yet_valid", "the token is not valid yet"},
    [BFF_JWT_NO_EXP] = {"no_exp", "the token has no expiry time"},
    [BFF_JWT_BAD_ISSUER] = {"bad_issuer", "the token's issuer is not accepted"},
    [BFF_JWT_BAD_AUDIENCE] = {"bad_audience",
                              "the token is not meant for this service"},
    [BFF_JWT_BAD_CLAIM] = {"bad_claim",
                           "the token's user id or roles are missing or invalid"},
};

const char *bff_jwt_reason_name(enum bff_jwt_reason r)
{
    return (unsigned)r < BFF_JWT_REASON_COUNT ? reasons[r].name : "unknown";
}

const char *bff_jwt_reason_text(enum bff_jwt_reason r)
{
    return (unsigned)r < BFF_JWT_REASON_COUNT ? reasons[r].text
                                              : "the token is refused";
}

int bff_roles_match(const char *roles, char *const *want)
{
    if (want == NULL)
        return 1; /* a route without roles: any authenticated caller */
    if (roles == NULL)
        return 0;
    for (size_t w = 0; want[w] != NULL; w++) {
        size_t      wl = strlen(want[w]);
        const char *r = roles;
        if (wl == 0)
            continue;
        while (*r != '\0') {
            const char *end = strchr(r, ',');
            size_t      rl = end ? (size_t)(end - r) : strlen(r);
            if (rl == wl && memcmp(r, want[w], wl) == 0)
                return 1;
            r += rl;
            if (*r == ',')
                r++;
        }
    }
    return 0;
}
