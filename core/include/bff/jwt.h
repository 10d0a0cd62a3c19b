/* core/include/bff/jwt.h — JWT (RFC 7519) verification against a JWKS (RFC 7517)
 *
 * Key sets are immutable, reference-counted snapshots: build one, share it
 * between worker threads, swap it atomically, unref the old one. */
#ifndef BFF_JWT_H
#define BFF_JWT_H

#include <stddef.h>
#include <stdint.h>
#include "bff/config.h" /* BFF_ALG_* bits */

#define BFF_JWT_MAX_TOKEN 16384 /* bytes; a longer token is refused */
#define BFF_JWT_MAX_USER_ID 256
#define BFF_JWT_MAX_ROLES 1024

enum bff_jwt_reason {
    BFF_JWT_OK = 0,
    BFF_JWT_MALFORMED,      /* not three base64url segments of JSON objects */
    BFF_JWT_TOO_LARGE,      /* over BFF_JWT_MAX_TOKEN */
    BFF_JWT_ALG_REFUSED,    /* none, unknown, not allowed, or not the key's type */
    BFF_JWT_CRIT,           /* an unknown "crit" header parameter */
    BFF_JWT_UNKNOWN_KID,    /* no key fits kid (or none/several fit without kid) */
    BFF_JWT_BAD_SIGNATURE,
    BFF_JWT_EXPIRED,
    BFF_JWT_NOT_YET_VALID,  /* nbf or iat in the future beyond leeway */
    BFF_JWT_NO_EXP,
    BFF_JWT_BAD_ISSUER,
    BFF_JWT_BAD_AUDIENCE,
    BFF_JWT_BAD_CLAIM,      /* user id or roles missing, wrong type or unsafe */
    BFF_JWT_REASON_COUNT
};
/* A stable snake_case name ("expired", "bad_signature") for logs and metrics. */
const char *bff_jwt_reason_name(enum bff_jwt_reason r);
/* An English sentence for error_description ("the token has expired"). */
const char *bff_jwt_reason_text(enum bff_jwt_reason r);

struct bff_keyset;

/* Parses a JWKS document (kty RSA, EC P-256/384/521, oct, OKP Ed25519).
 * Keys with "use" other than "sig" are skipped. Returns NULL with a reason in
 * @err when the document or a key in it is malformed. Refcount starts at 1. */
struct bff_keyset *bff_keyset_parse(const char *json, size_t len, char *err,
                                    size_t errlen);
struct bff_keyset *bff_keyset_load_file(const char *path, char *err, size_t errlen);
struct bff_keyset *bff_keyset_ref(struct bff_keyset *ks);
void bff_keyset_unref(struct bff_keyset *ks); /* NULL is fine */
size_t bff_keyset_count(const struct bff_keyset *ks);
/* A set of one oct key: the @len bytes at @secret (up to 4096, and at least
 * the hash size of every HS* bit in @algs: 32, 48, 64 bytes, RFC 7518 §3.2)
 * for the HS* bits in @algs, named @kid (NULL = no kid). For tests, benchmarks and
 * tools that hold a shared secret rather than a JWKS. Refcount starts at 1. */
struct bff_keyset *bff_keyset_from_secret(const void *secret, size_t len,
                                          const char *kid, uint32_t algs, char *err,
                                          size_t errlen);

struct bff_jwt_policy {
    uint32_t           algorithms;    /* BFF_ALG_* bits allowed */
    const char        *issuer;        /* NULL = not checked */
    const char *const *audience;      /* NULL-terminated; NULL = not checked */
    int64_t            leeway_s;
    const char        *claim_user_id; /* "sub" */
    const char        *claim_roles;   /* "roles": array of strings or one
                                         space/comma separated string */
};

struct bff_identity {
    char    user_id[BFF_JWT_MAX_USER_ID]; /* safe for a header: no CTL, no ',' */
    char    roles[BFF_JWT_MAX_ROLES];     /* "a,b"; each role safe, may be "" */
    int64_t exp;                          /* unix seconds */
};

/* Verifies compact JWS @token (@len bytes, without "Bearer ") at unix time
 * @now under @policy with the keys of @ks. Returns BFF_JWT_OK and fills @out,
 * or the first reason for refusal. Thread-safe; does not block; never logs
 * the token. Signature and MAC comparisons are constant time. */
enum bff_jwt_reason bff_jwt_verify(const struct bff_keyset *ks,
                                   const struct bff_jwt_policy *policy,
                                   const char *token, size_t len, int64_t now,
                                   struct bff_identity *out);

/* Returns 1 when @roles ("a,b") holds one of @want (NULL-terminated). */
int bff_roles_match(const char *roles, char *const *want);

#endif
