/* core/include/bff/sign.h — the signed identity a service can check (SPEC §5)
 *
 * X-Gateway-Signature: t=<unix seconds>,v1=<64 lowercase hex>
 * where v1 = HMAC-SHA256(key, t "\n" METHOD "\n" path?query "\n" X-User-Id "\n"
 *                            X-User-Roles "\n" X-Request-Id)
 * and an absent header counts as the empty string. A field holding a control
 * character (any byte below 0x20, which covers CR, LF and TAB, or 0x7f) is
 * never signed and never verifies: with the fields joined by "\n", one
 * signature then stands for exactly one request. */
#ifndef BFF_SIGN_H
#define BFF_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define BFF_SIGN_HEADER_MAX 96 /* "t=" + 20 digits + ",v1=" + 64 hex + NUL fits */
#define BFF_SIGN_MAX_AGE_S 60  /* what the demo services accept, either way */
#define BFF_SIGN_KEY_MIN 32    /* bytes a key file must hold */

/* Loads a signing key: the file's bytes with trailing whitespace removed.
 * Fails (BFF_EINVAL, reason in @why) when shorter than BFF_SIGN_KEY_MIN or
 * larger than 4 KiB, or the file is unreadable (BFF_EIO). *@key is malloc'd. */
int bff_sign_key_load(const char *path, uint8_t **key, size_t *keylen,
                      const char **why);

/* Writes the header value for one forwarded request into @out. NULL fields
 * count as empty. Returns 0, or BFF_EINVAL (nothing written that is usable)
 * when a field holds a control character, t is negative or the key is empty. */
int bff_sign_identity(const uint8_t *key, size_t keylen, int64_t t,
                      const char *method, const char *path_query,
                      const char *user_id, const char *roles,
                      const char *request_id, char out[BFF_SIGN_HEADER_MAX]);

/* Checks header value @sig for the given fields at time @now: returns 0 when
 * the HMAC matches (constant-time compare) and |now - t| <= @max_age_s, else
 * BFF_EAUTH (missing, malformed, tampered or stale, or a field holds a
 * control character). */
int bff_sign_verify(const uint8_t *key, size_t keylen, const char *sig,
                    int64_t now, int64_t max_age_s, const char *method,
                    const char *path_query, const char *user_id,
                    const char *roles, const char *request_id);

#endif
