/* core/src/jwt_int.h — what jwt.c (tokens) and jwks.c (keys) share.
 * Private to the core: nothing outside core/src includes it. */
#ifndef BFF_JWT_INT_H
#define BFF_JWT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "bff/jwt.h"

enum jwt_family { JWT_HMAC, JWT_RSA, JWT_PSS, JWT_ECDSA, JWT_EDDSA };
enum jwt_hash { JWT_SHA256, JWT_SHA384, JWT_SHA512, JWT_NHASH };

/* One JOSE signature algorithm (RFC 7518 section 3, RFC 8037). */
struct jwt_alg {
    const char     *name; /* "RS256", case-sensitive as in RFC 7518 */
    uint32_t        bit;  /* BFF_ALG_* */
    enum jwt_family family;
    enum jwt_hash   hash;   /* unused for EdDSA */
    size_t          siglen; /* bytes; 0 for RSA (the modulus size) */
    const char     *curve;  /* ECDSA: the only curve this alg may use */
};

/* The algorithm named by the @len bytes at @name, or NULL (also for "none"). */
const struct jwt_alg *bff_jwt_alg_find(const char *name, size_t len);

/* Decodes unpadded base64url (RFC 4648 section 5) strictly: only A-Z a-z 0-9
 * - _, no '=', no whitespace, no length of the form 4k+1, and the unused low
 * bits of the last character must be zero, so that every byte string has
 * exactly one accepted encoding. Writes at most @cap bytes to @out.
 * Returns 0 and sets @outlen, or -1. */
int bff_jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap,
                          size_t *outlen);

/* Parses the @len bytes at @s as one JSON object under strict RFC 8259
 * grammar (no single quotes, NaN, comments, trailing commas or trailing
 * garbage), valid UTF-8, no "\u0000" in member names and no member name
 * twice in the top-level object. @tok is reset and reused.
 * Returns a new reference, or NULL. */
struct json_object *bff_jwt_json_object(struct json_tokener *tok, const char *s,
                                        size_t len);

struct jwk {
    char        *kid;            /* NULL when the JWK has no "kid" */
    size_t       kid_len;        /* a kid may hold any bytes, compared by length */
    uint32_t     algs;           /* BFF_ALG_* bits this key may verify */
    EVP_PKEY    *pkey;           /* RSA, EC, Ed25519; NULL for oct */
    EVP_MAC_CTX *mac[JWT_NHASH]; /* oct: keyed HMAC, duplicated per verify */
    size_t       rsa_len;        /* RSA: modulus bytes, the only signature length */
};

/* Immutable once built, apart from @refs. */
struct bff_keyset {
    atomic_uint refs;
    size_t      n;
    struct jwk *keys;
    EVP_MD     *md[JWT_NHASH]; /* fetched once, used by every verify */
};

#endif
