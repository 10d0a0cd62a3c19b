/* core/src/sign.c — the signed identity a service can check (SPEC §5)
 *
 * The MAC covers t "\n" METHOD "\n" path?query "\n" X-User-Id "\n"
 * X-User-Roles "\n" X-Request-Id, fed to HMAC-SHA256 piece by piece so that no
 * field needs copying or a length bound. A field holding a control character
 * is refused, so the joined string stands for exactly one request. The MAC algorithm is
 * fetched once per process; every call gets its own context, so any thread may sign or
 * verify. */
#include "bff/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "bff/err.h"

#define KEY_FILE_MAX 4096
#define MAC_LEN 32
#define HEX_LEN (2 * MAC_LEN)
#define T_DIGITS_MAX 19 /* INT64_MAX has 19 digits */

static EVP_MAC       *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* 1 when @s holds a byte the signed string could not tell apart from its own
 * framing: any control character (< 0x20, which covers CR, LF and TAB) or DEL.
 * NUL cannot be inside a C string; a caller holding a length would check it. */
static int has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static int feed(EVP_MAC_CTX *ctx, const char *s, int newline)
{
    if (s != NULL && *s != '\0' && !EVP_MAC_update(ctx, (const uint8_t *)s, strlen(s)))
        return BFF_EINVAL;
    if (newline && !EVP_MAC_update(ctx, (const uint8_t *)"\n", 1))
        return BFF_EINVAL;
    return 0;
}

/* Writes the 64 lowercase hex digits (and a NUL) of the MAC over the fields
 * into @hex. @t_text is the canonical decimal form of t. */
static int mac_hex(const uint8_t *key, size_t keylen, const char *t_text,
                   const char *method, const char *path_query, const char *user_id,
                   const char *roles, const char *request_id, char hex[HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    EVP_MAC_CTX      *ctx = NULL;
    OSSL_PARAM        params[2];
    uint8_t           mac[MAC_LEN];
    size_t            maclen = 0;
    int               rc = BFF_EINVAL;

    if (key == NULL || keylen == 0)
        return BFF_EINVAL;
    /* The fields are joined by "\n": a field holding one (or any other
     * control character) could make two different requests one string, so it
     * is never signed and never verifies (SPEC §5). */
    if (has_ctl(method) || has_ctl(path_query) || has_ctl(user_id) || has_ctl(roles) ||
        has_ctl(request_id))
        return BFF_EINVAL;
    pthread_once(&hmac_once, hmac_fetch);
    if (hmac_alg == NULL)
        return BFF_EINVAL;
    ctx = EVP_MAC_CTX_new(hmac_alg);
    if (ctx == NULL)
        return BFF_ENOMEM;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(ctx, key, keylen, params))
        goto out;
    if (feed(ctx, t_text, 1) || feed(ctx, method, 1) || feed(ctx, path_query, 1) ||
        feed(ctx, user_id, 1) || feed(ctx, roles, 1) || feed(ctx, request_id, 0))
        goto out;
    if (!EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) || maclen != MAC_LEN)
        goto out;
    for (size_t i = 0; i < MAC_LEN; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 0xf];
    }
    hex[HEX_LEN] = '\0';
    rc = 0;
out:
    OPENSSL_cleanse(mac, sizeof(mac));
    EVP_MAC_CTX_free(ctx);
    return rc;
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Parses "t=<digits>,v1=<64 lowercase hex>" and nothing else. t has no sign,
 * no leading zero (the signer never writes one) and fits an int64. On success
 * *@t is set and @hex holds the 64 digits and a NUL. */
static int parse_header(const char *sig, int64_t *t, char hex[HEX_LEN + 1])
{
    const char *p = sig;
    int64_t     v = 0;
    int         n = 0;

    if (p == NULL || p[0] != 't' || p[1] != '=')
        return BFF_EAUTH;
    p += 2;
    if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
        return BFF_EAUTH;
    for (; *p >= '0' && *p <= '9'; p++, n++) {
        if (n == T_DIGITS_MAX || v > (INT64_MAX - (*p - '0')) / 10)
            return BFF_EAUTH;
        v = v * 10 + (*p - '0');
    }
    if (n == 0 || strncmp(p, ",v1=", 4) != 0)
        return BFF_EAUTH;
    p += 4;
    for (n = 0; n < HEX_LEN; n++) {
        if (!is_lower_hex(p[n]))
            return BFF_EAUTH;
        hex[n] = p[n];
    }
    if (p[HEX_LEN] != '\0')
        return BFF_EAUTH;
    hex[HEX_LEN] = '\0';
    *t = v;
    return 0;
}

int bff_sign_key_load(const char *path, uint8_t **key, size_t *keylen, const char **why)
{
    uint8_t    *buf = NULL;
    size_t      len = 0;
    struct stat st;
    const char *reason = NULL;
    int         fd = -1;
    int         rc = BFF_EIO;

    if (key != NULL)
        *key = NULL;
    if (keylen != NULL)
        *keylen = 0;
    if (path == NULL || key == NULL || keylen == NULL) {
        reason = "no key file given";
        rc = BFF_EINVAL;
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        reason = strerror(errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        reason = "not a regular file";
        rc = BFF_EINVAL;
        goto out;
    }
    buf = malloc(KEY_FILE_MAX + 1);
    if (buf == NULL) {
        reason = "out of memory";
        rc = BFF_ENOMEM;
        goto out;
    }
    /* Read one byte past the limit so that a file that grew since fstat or
     * lies about its size is still caught. */
    while (len <= KEY_FILE_MAX) {
        ssize_t n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            reason = strerror(errno);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > KEY_FILE_MAX) {
        reason = "key file is larger than 4 KiB";
        rc = BFF_EINVAL;
        goto out;
    }
    while (len > 0 &&
           (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\n' ||
            buf[len - 1] == '\r' || buf[len - 1] == '\v' || buf[len - 1] == '\f'))
        len--;
    if (len < BFF_SIGN_KEY_MIN) {
        reason = "key is shorter than 32 bytes";
        rc = BFF_EINVAL;
        goto out;
    }
    *key = buf;
    *keylen = len;
    buf = NULL;
    rc = 0;
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    if (why != NULL)
        *why = reason;
    return rc;
}

int bff_sign_identity(const uint8_t *key, size_t keylen, int64_t t, const char *method,
                      const char *path_query, const char *user_id, const char *roles,
                      const char *request_id, char out[BFF_SIGN_HEADER_MAX])
{
    char t_text[24];
    char hex[HEX_LEN + 1];
    int  rc;

    if (out == NULL || t < 0)
        return BFF_EINVAL;
    snprintf(t_text, sizeof(t_text), "%" PRId64, t);
    rc = mac_hex(key, keylen, t_text, method, path_query, user_id, roles, request_id,
                 hex);
    if (rc)
        return rc;
    snprintf(out, BFF_SIGN_HEADER_MAX, "t=%s,v1=%s", t_text, hex);
    return 0;
}

int bff_sign_verify(const uint8_t *key, size_t keylen, const char *sig, int64_t now,
                    int64_t max_age_s, const char *method, const char *path_query,
                    const char *user_id, const char *roles, const char *request_id)
{
    char    t_text[24];
    char    given[HEX_LEN + 1];
    char    want[HEX_LEN + 1];
    int64_t t = 0;
    int64_t age;

    if (key == NULL || keylen == 0 || now < 0 || max_age_s < 0)
        return BFF_EAUTH;
    if (parse_header(sig, &t, given))
        return BFF_EAUTH;
    /* Both are non-negative, so neither difference can overflow. */
    age = now >= t ? now - t : t - now;
    if (age > max_age_s)
        return BFF_EAUTH;
    snprintf(t_text, sizeof(t_text), "%" PRId64, t);
    if (mac_hex(key, keylen, t_text, method, path_query, user_id, roles, request_id,
                want))
        return BFF_EAUTH;
    if (CRYPTO_memcmp(given, want, HEX_LEN) != 0)
        return BFF_EAUTH;
    return 0;
}
