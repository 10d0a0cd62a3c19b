/* tests/unit/http/test_sign.c — the signed identity (core/src/http/sign.c, SPEC §5) */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bff/err.h"
#include "bff/sign.h"

static const uint8_t KEY[] = "portico-test-key-0123456789abcdef";
#define KEYLEN (sizeof(KEY) - 1)
#define T0 ((int64_t)1700000000)

/* Signs the reference request at @t into @out. */
static void sign_ref(int64_t t, char out[BFF_SIGN_HEADER_MAX])
{
    ck_assert_int_eq(bff_sign_identity(KEY, KEYLEN, t, "GET",
                                       "/orders/o-1?expand=items", "4412",
                                       "customer,support", "req-abc-123", out),
                     0);
}

static int verify_ref(const char *sig, int64_t now)
{
    return bff_sign_verify(KEY, KEYLEN, sig, now, BFF_SIGN_MAX_AGE_S, "GET",
                           "/orders/o-1?expand=items", "4412", "customer,support",
                           "req-abc-123");
}

START_TEST(round_trip)
{
    char sig[BFF_SIGN_HEADER_MAX];

    sign_ref(T0, sig);
    ck_assert_int_eq(strncmp(sig, "t=1700000000,v1=", 16), 0);
    ck_assert_uint_eq(strlen(sig), 16 + 64);
    ck_assert_int_eq(verify_ref(sig, T0), 0);
    ck_assert_int_eq(verify_ref(sig, T0 + BFF_SIGN_MAX_AGE_S), 0);
    ck_assert_int_eq(verify_ref(sig, T0 - BFF_SIGN_MAX_AGE_S), 0);
}
END_TEST

START_TEST(null_fields_count_as_empty)
{
    char sig[BFF_SIGN_HEADER_MAX];

    ck_assert_int_eq(
        bff_sign_identity(KEY, KEYLEN, T0, "POST", "/orders", NULL, NULL, NULL, sig),
        0);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, T0, 60, "POST", "/orders", "", "", ""), 0);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, T0, 60, "POST", "/orders", NULL, NULL, NULL),
        0);
    /* An absent user id is not the same request as one with a user id. */
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, "POST", "/orders",
                                     "4412", NULL, NULL),
                     BFF_EAUTH);
}
END_TEST

START_TEST(tampered_fields_refused)
{
    char        sig[BFF_SIGN_HEADER_MAX];
    const char *m = "GET", *pq = "/orders/o-1?expand=items", *u = "4412";
    const char *r = "customer,support", *id = "req-abc-123";

    sign_ref(T0, sig);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, "POST", pq, u, r, id),
                     BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, "get", pq, u, r, id),
                     BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m,
                                     "/orders/o-2?expand=items", u, r, id),
                     BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m,
                                     "/orders/o-1?expand=user", u, r, id),
                     BFF_EAUTH);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, "/orders/o-1", u, r, id),
        BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, "4413", r, id),
                     BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, NULL, r, id),
                     BFF_EAUTH);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, u, "customer", id), BFF_EAUTH);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, u, "customer,admin", id),
        BFF_EAUTH);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, u, r, "req-abc-124"),
        BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, u, r, NULL),
                     BFF_EAUTH);
    /* Moving a newline between fields must not keep the MAC. */
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, "4412\ncustomer",
                                     "support", id),
                     BFF_EAUTH);
    /* Another key. */
    ck_assert_int_eq(
        bff_sign_verify((const uint8_t *)"another-key-of-enough-length-000", 32, sig,
                        T0, 60, m, pq, u, r, id),
        BFF_EAUTH);
    /* And the untouched request still passes. */
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, m, pq, u, r, id), 0);
}
END_TEST

START_TEST(tampered_t_refused)
{
    char sig[BFF_SIGN_HEADER_MAX];
    char forged[BFF_SIGN_HEADER_MAX + 8];

    sign_ref(T0, sig);
    /* Same MAC, t moved by one second, still within the window. */
    snprintf(forged, sizeof(forged), "t=%lld%s", (long long)(T0 + 1), sig + 12);
    ck_assert_int_eq(verify_ref(forged, T0), BFF_EAUTH);
    /* Same MAC, t written with a leading zero. */
    snprintf(forged, sizeof(forged), "t=0%s", sig + 2);
    ck_assert_int_eq(verify_ref(forged, T0), BFF_EAUTH);
    /* One flipped hex digit of the MAC. */
    strcpy(forged, sig);
    forged[20] = forged[20] == '0' ? '1' : '0';
    ck_assert_int_eq(verify_ref(forged, T0), BFF_EAUTH);
    forged[20] = sig[20];
    forged[strlen(forged) - 1] = sig[strlen(sig) - 1] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(verify_ref(forged, T0), BFF_EAUTH);
}
END_TEST

START_TEST(stale_and_future_refused)
{
    char sig[BFF_SIGN_HEADER_MAX];

    sign_ref(T0, sig);
    ck_assert_int_eq(verify_ref(sig, T0 + BFF_SIGN_MAX_AGE_S + 1), BFF_EAUTH);
    ck_assert_int_eq(verify_ref(sig, T0 + 3600), BFF_EAUTH);
    ck_assert_int_eq(verify_ref(sig, T0 - BFF_SIGN_MAX_AGE_S - 1), BFF_EAUTH);
    ck_assert_int_eq(verify_ref(sig, T0 - 3600), BFF_EAUTH);
    ck_assert_int_eq(verify_ref(sig, 0), BFF_EAUTH);
    ck_assert_int_eq(verify_ref(sig, -1), BFF_EAUTH);
    ck_assert_int_eq(verify_ref(sig, INT64_MAX), BFF_EAUTH);
    /* A zero window accepts only the very second. */
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 0, "GET",
                                     "/orders/o-1?expand=items", "4412",
                                     "customer,support", "req-abc-123"),
                     0);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0 + 1, 0, "GET",
                                     "/orders/o-1?expand=items", "4412",
                                     "customer,support", "req-abc-123"),
                     BFF_EAUTH);
}
END_TEST

START_TEST(malformed_refused)
{
    char        sig[BFF_SIGN_HEADER_MAX];
    char        bad[256];
    const char *hex;

    sign_ref(T0, sig);
    hex = sig + 16;

    ck_assert_int_eq(verify_ref(NULL, T0), BFF_EAUTH);
    ck_assert_int_eq(verify_ref("", T0), BFF_EAUTH);
    ck_assert_int_eq(verify_ref("junk", T0), BFF_EAUTH);
    ck_assert_int_eq(verify_ref("t=1700000000", T0), BFF_EAUTH);
    ck_assert_int_eq(verify_ref("t=1700000000,", T0), BFF_EAUTH);
    ck_assert_int_eq(verify_ref("t=1700000000,v1=", T0), BFF_EAUTH);

    /* v1 only, t missing or empty */
    snprintf(bad, sizeof(bad), "v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "t=,v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* fields swapped */
    snprintf(bad, sizeof(bad), "v1=%s,t=1700000000", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* uppercase hex */
    snprintf(bad, sizeof(bad), "t=1700000000,v1=%s", hex);
    for (char *p = bad + 16; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ck_assert_str_ne(bad, sig);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* short hex, long hex */
    snprintf(bad, sizeof(bad), "t=1700000000,v1=%.63s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "t=1700000000,v1=%s0", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "t=1700000000,v1=%s%s", hex, hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* non-hex digit */
    snprintf(bad, sizeof(bad), "t=1700000000,v1=%.63sg", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* spaces, trailing separators, a second scheme, capitals in the names */
    snprintf(bad, sizeof(bad), "t=1700000000, v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), " t=1700000000,v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "%s ", sig);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "%s,", sig);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "%s,v0=00", sig);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "T=1700000000,V1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* signs and overflowing times */
    snprintf(bad, sizeof(bad), "t=+1700000000,v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "t=-1700000000,v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "t=99999999999999999999,v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    snprintf(bad, sizeof(bad), "t=9223372036854775808,v1=%s", hex);
    ck_assert_int_eq(verify_ref(bad, T0), BFF_EAUTH);
    /* a NUL inside the header ends it: what follows cannot matter */
    ck_assert_int_eq(verify_ref("t=1700000000\0,v1=00", T0), BFF_EAUTH);
}
END_TEST

START_TEST(bad_arguments)
{
    char sig[BFF_SIGN_HEADER_MAX];

    ck_assert_int_eq(bff_sign_identity(NULL, 0, T0, "GET", "/", NULL, NULL, NULL, sig),
                     BFF_EINVAL);
    ck_assert_int_eq(bff_sign_identity(KEY, 0, T0, "GET", "/", NULL, NULL, NULL, sig),
                     BFF_EINVAL);
    ck_assert_int_eq(
        bff_sign_identity(KEY, KEYLEN, -1, "GET", "/", NULL, NULL, NULL, sig),
        BFF_EINVAL);
    sign_ref(T0, sig);
    ck_assert_int_eq(bff_sign_verify(NULL, 0, sig, T0, 60, "GET",
                                     "/orders/o-1?expand=items", "4412",
                                     "customer,support", "req-abc-123"),
                     BFF_EAUTH);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, -1, "GET",
                                     "/orders/o-1?expand=items", "4412",
                                     "customer,support", "req-abc-123"),
                     BFF_EAUTH);
}
END_TEST

START_TEST(largest_header_fits)
{
    char sig[BFF_SIGN_HEADER_MAX];

    ck_assert_int_eq(
        bff_sign_identity(KEY, KEYLEN, INT64_MAX, "GET", "/", "1", "r", "x", sig), 0);
    ck_assert_uint_eq(strlen(sig), 2 + 19 + 4 + 64);
    ck_assert_int_eq(
        bff_sign_verify(KEY, KEYLEN, sig, INT64_MAX, 0, "GET", "/", "1", "r", "x"), 0);
    ck_assert_int_eq(bff_sign_identity(KEY, KEYLEN, 0, "GET", "/", "1", "r", "x", sig),
                     0);
    ck_assert_int_eq(strncmp(sig, "t=0,v1=", 7), 0);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, 0, 0, "GET", "/", "1", "r", "x"),
                     0);
}
END_TEST

/* Recorded once with
 *   printf '%s\n%s\n%s\n%s\n%s\n%s' 1700000000 GET '/orders/o-1?expand=items' 4412 \
 *       'customer,support' req-abc-123 \
 *   | openssl dgst -sha256 -hmac portico-test-key-0123456789abcdef
 * and cross-checked with Python's hmac module. */
START_TEST(known_answer_recorded)
{
    const char *want =
        "t=1700000000,v1="
        "d800dd52a7d6c7f5c05d568a167947f5734a2feff947b3e42fc9f62ff5eafa50";
    const char *empty =
        "t=1700000000,v1="
        "49bcbfb93c4dc6604ab9034ebf472bc3f6a39981930bcd3fcbad80fa8b9184cc";
    char sig[BFF_SIGN_HEADER_MAX];

    sign_ref(T0, sig);
    ck_assert_str_eq(sig, want);
    ck_assert_int_eq(verify_ref(want, T0 + 30), 0);
    ck_assert_int_eq(
        bff_sign_identity(KEY, KEYLEN, T0, "POST", "/orders", NULL, NULL, NULL, sig),
        0);
    ck_assert_str_eq(sig, empty);
}
END_TEST

/* Runs the openssl command line on the same fields; returns 0 and the hex MAC
 * in @hex, or -1 when the tool is not available. */
static int openssl_hmac(const char *key, const char *t, const char *method,
                        const char *pq, const char *user, const char *roles,
                        const char *rid, char hex[65])
{
    char  cmd[1024];
    char  line[512];
    FILE *p;
    char *eq;
    int   rc = -1;

    /* The fields hold no single quote, so single-quoting them is enough. */
    snprintf(cmd, sizeof(cmd),
             "printf '%%s\\n%%s\\n%%s\\n%%s\\n%%s\\n%%s' '%s' '%s' '%s' '%s' '%s' '%s'"
             " | openssl dgst -sha256 -hmac '%s' 2>/dev/null",
             t, method, pq, user, roles, rid, key);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    if (fgets(line, sizeof(line), p) != NULL) {
        eq = strrchr(line, '=');
        if (eq != NULL && eq[1] == ' ' && strlen(eq + 2) >= 64) {
            memcpy(hex, eq + 2, 64);
            hex[64] = '\0';
            rc = 0;
        }
    }
    if (pclose(p) != 0)
        rc = -1;
    return rc;
}

START_TEST(known_answer_openssl_cli)
{
    static const struct {
        const char *method, *pq, *user, *roles, *rid;
        int64_t     t;
    } cases[] = {
        {"GET", "/v1/order-screen/o-1", "4412", "customer", "0af7651916cd43dd", T0},
        {"POST", "/orders?dry_run=1&x=%2C", "4413", "customer,support", "r-1", T0 + 7},
        {"DELETE", "/echo/a/b", "", "", "", 1},
        {"PATCH", "/inventory?skus=SKU-1,SKU-2", "a b", "x,y,z", "rid with spaces",
         2000000000},
    };
    const char *key = "another-demo-key-ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char        hex[65];
    char        tt[24];
    char        sig[BFF_SIGN_HEADER_MAX];
    char        want[BFF_SIGN_HEADER_MAX];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(tt, sizeof(tt), "%lld", (long long)cases[i].t);
        ck_assert_msg(openssl_hmac(key, tt, cases[i].method, cases[i].pq, cases[i].user,
                                   cases[i].roles, cases[i].rid, hex) == 0,
                      "the openssl command line did not answer");
        snprintf(want, sizeof(want), "t=%s,v1=%s", tt, hex);
        ck_assert_int_eq(bff_sign_identity((const uint8_t *)key, strlen(key),
                                           cases[i].t, cases[i].method, cases[i].pq,
                                           cases[i].user, cases[i].roles, cases[i].rid,
                                           sig),
                         0);
        ck_assert_str_eq(sig, want);
        ck_assert_int_eq(bff_sign_verify((const uint8_t *)key, strlen(key), want,
                                         cases[i].t, 60, cases[i].method, cases[i].pq,
                                         cases[i].user, cases[i].roles, cases[i].rid),
                         0);
    }
}
END_TEST

/* Writes @len bytes of @data to a fresh temporary file; returns its path
 * (free it and unlink it). */
static char *temp_file(const void *data, size_t len)
{
    char *path = strdup("/tmp/test_sign_XXXXXX");
    int   fd;

    ck_assert_ptr_nonnull(path);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static int load(const char *data, size_t len, uint8_t **key, size_t *keylen,
                const char **why)
{
    char *path = temp_file(data, len);
    int   rc = bff_sign_key_load(path, key, keylen, why);

    unlink(path);
    free(path);
    return rc;
}

START_TEST(key_file_loading)
{
    uint8_t    *key = (uint8_t *)"not touched";
    size_t      keylen = 99;
    const char *why = NULL;
    char        big[5000];

    /* 32 bytes exactly, with a trailing newline trimmed */
    ck_assert_int_eq(
        load("0123456789abcdef0123456789abcdef\n", 33, &key, &keylen, &why), 0);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(keylen, 32);
    ck_assert_int_eq(memcmp(key, "0123456789abcdef0123456789abcdef", 32), 0);
    free(key);

    /* CRLF and trailing blanks trimmed, inner blanks kept */
    ck_assert_int_eq(
        load("0123456789abcdef 0123456789abcdef \t\r\n\n", 38, &key, &keylen, &why), 0);
    ck_assert_uint_eq(keylen, 33);
    ck_assert_int_eq(memcmp(key, "0123456789abcdef 0123456789abcdef", 33), 0);
    free(key);

    /* 31 bytes, padded with whitespace to look long enough */
    why = NULL;
    ck_assert_int_eq(
        load("0123456789abcdef0123456789abcde\n\n\n\n", 35, &key, &keylen, &why),
        BFF_EINVAL);
    ck_assert_ptr_null(key);
    ck_assert_uint_eq(keylen, 0);
    ck_assert_ptr_nonnull(why);

    /* empty */
    why = NULL;
    ck_assert_int_eq(load("", 0, &key, &keylen, &why), BFF_EINVAL);
    ck_assert_ptr_nonnull(why);

    /* larger than 4 KiB */
    memset(big, 'k', sizeof(big));
    why = NULL;
    ck_assert_int_eq(load(big, sizeof(big), &key, &keylen, &why), BFF_EINVAL);
    ck_assert_ptr_null(key);
    ck_assert_ptr_nonnull(why);
    /* 4 KiB exactly is fine */
    ck_assert_int_eq(load(big, 4096, &key, &keylen, &why), 0);
    ck_assert_uint_eq(keylen, 4096);
    free(key);

    /* binary bytes are kept as they are */
    ck_assert_int_eq(load("\0\1\2\3"
                          "456789abcdef0123456789abcdef",
                          32, &key, &keylen, &why),
                     0);
    ck_assert_uint_eq(keylen, 32);
    ck_assert_int_eq(key[0], 0);
    free(key);

    /* missing file, a directory */
    why = NULL;
    ck_assert_int_eq(bff_sign_key_load("/nonexistent/portico.key", &key, &keylen, &why),
                     BFF_EIO);
    ck_assert_ptr_null(key);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_lt(bff_sign_key_load("/tmp", &key, &keylen, &why), 0);
    ck_assert_ptr_null(key);
    /* @why is optional */
    ck_assert_int_eq(bff_sign_key_load("/nonexistent/portico.key", &key, &keylen, NULL),
                     BFF_EIO);
}
END_TEST

START_TEST(loaded_key_signs)
{
    uint8_t *key = NULL;
    size_t   keylen = 0;
    char     sig[BFF_SIGN_HEADER_MAX];

    ck_assert_int_eq(
        load("portico-test-key-0123456789abcdef\n", 34, &key, &keylen, NULL), 0);
    ck_assert_int_eq(bff_sign_identity(key, keylen, T0, "GET",
                                       "/orders/o-1?expand=items", "4412",
                                       "customer,support", "req-abc-123", sig),
                     0);
    ck_assert_int_eq(verify_ref(sig, T0), 0);
    free(key);
}
END_TEST

/* The header the signer would have written for the six fields joined as
 * they are signed, computed here without bff_sign_identity (which refuses
 * control characters): what a forger who saw the signature of one request
 * holds. */
static void raw_sig(int64_t t, const char *m, const char *pq, const char *u,
                    const char *r, const char *id, char joined[256],
                    char out[BFF_SIGN_HEADER_MAX])
{
    uint8_t      mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int          n;

    n = snprintf(joined, 256, "%lld\n%s\n%s\n%s\n%s\n%s", (long long)t, m, pq, u, r,
                 id);
    ck_assert_int_lt(n, 256);
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const uint8_t *)joined,
                               (size_t)n, mac, &maclen));
    ck_assert_uint_eq(maclen, 32);
    n = snprintf(out, BFF_SIGN_HEADER_MAX, "t=%lld,v1=", (long long)t);
    for (unsigned i = 0; i < maclen; i++)
        n += snprintf(out + n, BFF_SIGN_HEADER_MAX - (size_t)n, "%02x", mac[i]);
}

/* The two pairs the fuzzer found: with "\n" allowed inside a field, each pair
 * is one signed string, so one signature stood for two requests. Neither
 * member of a pair is signed, and a signature over the shared string
 * verifies for neither. */
START_TEST(newline_in_a_field_is_never_signed)
{
    static const struct {
        const char *m, *pq, *u, *r, *id;
    } pairs[][2] = {
        {{"A\n", "", "", "", ""}, {"A", "\n", "", "", ""}},
        {{"GET", "/orders\n", "4412", "customer", "req-1"},
         {"GET", "/orders", "\n4412", "customer", "req-1"}},
    };
    char sig[BFF_SIGN_HEADER_MAX], sig2[BFF_SIGN_HEADER_MAX];
    char joined[256], joined2[256];

    /* the helper signs as the core does: a clean request verifies */
    raw_sig(T0, "GET", "/orders", "4412", "customer", "req-1", joined, sig);
    ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, "GET", "/orders", "4412",
                                     "customer", "req-1"),
                     0);
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        raw_sig(T0, pairs[i][0].m, pairs[i][0].pq, pairs[i][0].u, pairs[i][0].r,
                pairs[i][0].id, joined, sig);
        raw_sig(T0, pairs[i][1].m, pairs[i][1].pq, pairs[i][1].u, pairs[i][1].r,
                pairs[i][1].id, joined2, sig2);
        /* the collision itself: two requests, one string, one MAC */
        ck_assert_str_eq(joined, joined2);
        ck_assert_str_eq(sig, sig2);
        for (int k = 0; k < 2; k++) {
            char out[BFF_SIGN_HEADER_MAX];
            ck_assert_int_eq(bff_sign_identity(KEY, KEYLEN, T0, pairs[i][k].m,
                                               pairs[i][k].pq, pairs[i][k].u,
                                               pairs[i][k].r, pairs[i][k].id, out),
                             BFF_EINVAL);
            ck_assert_int_eq(bff_sign_verify(KEY, KEYLEN, sig, T0, 60, pairs[i][k].m,
                                             pairs[i][k].pq, pairs[i][k].u,
                                             pairs[i][k].r, pairs[i][k].id),
                             BFF_EAUTH);
        }
    }
}
END_TEST

/* Every control character (1..0x1f and 0x7f) in every field is refused by
 * both sides; a space, '~' and bytes >= 0x80 (UTF-8) are ordinary. */
START_TEST(control_characters_refused_in_every_field)
{
    char sig[BFF_SIGN_HEADER_MAX];
    char f[5][16];

    for (int c = 1; c < 0x100; c++) {
        int ctl = c < 0x20 || c == 0x7f;
        for (int which = 0; which < 5; which++) {
            snprintf(f[0], 16, "GET");
            snprintf(f[1], 16, "/o");
            snprintf(f[2], 16, "4412");
            snprintf(f[3], 16, "customer");
            snprintf(f[4], 16, "req-1");
            f[which][1] = (char)c; /* inside, not at an end */
            int rc =
                bff_sign_identity(KEY, KEYLEN, T0, f[0], f[1], f[2], f[3], f[4], sig);
            ck_assert_msg(rc == (ctl ? BFF_EINVAL : 0), "byte 0x%02x in field %d: %d",
                          c, which, rc);
            if (ctl) {
                /* a signature over the same fields without the byte */
                f[which][1] = 'x';
                ck_assert_int_eq(bff_sign_identity(KEY, KEYLEN, T0, f[0], f[1], f[2],
                                                   f[3], f[4], sig),
                                 0);
                f[which][1] = (char)c;
            }
            ck_assert_int_eq(
                bff_sign_verify(KEY, KEYLEN, sig, T0, 60, f[0], f[1], f[2], f[3], f[4]),
                ctl ? BFF_EAUTH : 0);
        }
    }
}
END_TEST

static void *hammer(void *arg)
{
    char    sig[BFF_SIGN_HEADER_MAX];
    char    pq[32];
    long    id = (long)arg;
    int64_t t = T0 + id;

    for (int i = 0; i < 500; i++) {
        snprintf(pq, sizeof(pq), "/orders/o-%ld-%d", id, i);
        if (bff_sign_identity(KEY, KEYLEN, t, "GET", pq, "4412", "customer", "r",
                              sig) ||
            bff_sign_verify(KEY, KEYLEN, sig, t, 60, "GET", pq, "4412", "customer",
                            "r"))
            return (void *)1;
    }
    return NULL;
}

START_TEST(threads_share_nothing)
{
    pthread_t th[8];
    void     *res;

    for (long i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(pthread_join(th[i], &res), 0);
        ck_assert_ptr_null(res);
    }
}
END_TEST

static Suite *sign_suite(void)
{
    Suite *s = suite_create("sign");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, null_fields_count_as_empty);
    tcase_add_test(tc, tampered_fields_refused);
    tcase_add_test(tc, tampered_t_refused);
    tcase_add_test(tc, stale_and_future_refused);
    tcase_add_test(tc, malformed_refused);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, largest_header_fits);
    tcase_add_test(tc, known_answer_recorded);
    tcase_add_test(tc, known_answer_openssl_cli);
    tcase_add_test(tc, key_file_loading);
    tcase_add_test(tc, loaded_key_signs);
    tcase_add_test(tc, threads_share_nothing);
    tcase_add_test(tc, newline_in_a_field_is_never_signed);
    tcase_add_test(tc, control_characters_refused_in_every_field);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sign_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
