/* tests/fuzz/fuzz_sign.c — the signed identity (core/src/http/sign.c, SPEC §5)
 *
 * The oracle: a signature verifies only for the fields it was made for.
 * Tuple A (t, method, path?query, user id, roles, request id) is signed with
 * bff_sign_identity(); the signature is then checked with bff_sign_verify()
 * against tuple B, and must pass only when B is A.
 *
 * The first input byte picks how B is given (the rest is NUL-separated):
 *   even ('0'): "tA\0method\0path\0user\0roles\0rid\0tB\0method\0path\0user\0roles\0rid";
 *         a missing B field is A's; tB, when given, is written into the
 *         header in place of A's t ("t=<tB>,v1=<A's MAC>");
 *   odd ('1'): two bytes K, D, then A's six fields; B is A with the boundary
 *         between field K % 4 + 1 and the next moved by (int8_t)D bytes (what
 *         a client who controls two adjacent fields would try).
 * tA is the decimal digits of its field (default 1700000000), and is also
 * the verifier's clock.
 * Properties: A's own signature verifies (at t +- 60 s, not 61) unless A was
 * refused for a control character; B passes only when every field of B
 * equals A's and its t is spelled as A's; a signature header other than the
 * one the signer wrote never passes; fields holding a control character
 * never verify, even with an HMAC made over them by another signer. */
#include "fuzz.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bff/err.h"
#include "bff/sign.h"

static const uint8_t KEY[] = "fuzzing-key-never-used-elsewhere-0123456789";
#define KEYLEN (sizeof KEY - 1)
#define NF 5 /* string fields */

struct tuple {
    int64_t t;
    char   *f[NF]; /* method, path?query, user id, roles, request id */
};

static const char *const fname[NF] = {"method", "path", "user", "roles", "rid"};

static int64_t digits(const uint8_t *p, size_t n)
{
    int64_t v = 0;
    int     seen = 0;

    for (size_t i = 0; i < n && seen < 18; i++)
        if (p[i] >= '0' && p[i] <= '9') {
            v = v * 10 + (p[i] - '0');
            seen++;
        }
    return seen ? v : 1700000000;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int tuple_ctl(const struct tuple *a)
{
    for (int i = 0; i < NF; i++)
        if (has_ctl(a->f[i]))
            return 1;
    return 0;
}

static int verify(const char *sig, int64_t now, const struct tuple *b)
{
    return bff_sign_verify(KEY, KEYLEN, sig, now, BFF_SIGN_MAX_AGE_S, b->f[0], b->f[1],
                           b->f[2], b->f[3], b->f[4]);
}

static void show(const char *what, const struct tuple *a)
{
    fprintf(stderr, "%s: t=%" PRId64, what, a->t);
    for (int i = 0; i < NF; i++) {
        fprintf(stderr, " %s=\"", fname[i]);
        for (const char *p = a->f[i]; *p; p++)
            fprintf(stderr, (unsigned char)*p < 0x20 || *p == 0x7f || *p == '"'
                                ? "\\x%02x"
                                : "%c",
                    (unsigned char)*p);
        fputc('"', stderr);
    }
    fputc('\n', stderr);
}

/* The header another signer would write for @a: HMAC over the joined
 * fields, computed here and not by the code under test. */
static void raw_sign(const struct tuple *a, char out[BFF_SIGN_HEADER_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     mac[32];
    unsigned int      maclen = 0;
    size_t            n = 0, cap = 32;
    char             *msg;
    int               o;

    for (int i = 0; i < NF; i++)
        cap += strlen(a->f[i]) + 1;
    msg = malloc(cap);
    if (msg == NULL)
        abort();
    n = (size_t)sprintf(msg, "%" PRId64, a->t);
    for (int i = 0; i < NF; i++)
        n += (size_t)sprintf(msg + n, "\n%s", a->f[i]);
    if (HMAC(EVP_sha256(), KEY, KEYLEN, (unsigned char *)msg, n, mac, &maclen) == NULL)
        abort();
    free(msg);
    o = snprintf(out, BFF_SIGN_HEADER_MAX, "t=%" PRId64 ",v1=", a->t);
    for (unsigned i = 0; i < maclen && o + 2 < BFF_SIGN_HEADER_MAX; i++) {
        out[o++] = hex[mac[i] >> 4];
        out[o++] = hex[mac[i] & 15];
    }
    out[o] = '\0';
}

/* SPEC §5: fields holding a control character are never signed and never
 * verify, whoever made the MAC. */
static void check_ctl(const struct tuple *a, int rc, int64_t now)
{
    char forged[BFF_SIGN_HEADER_MAX];

    if (!tuple_ctl(a))
        return;
    raw_sign(a, forged);
    if (rc == 0 || verify(forged, now, a) == 0)
        show("A (holds a control character)", a);
    FUZZ_CHECK(rc != 0, "a field with a control character was signed");
    FUZZ_CHECK(verify(forged, now, a) != 0, "a field with a control character verified");
}

static void run(const struct tuple *a, const struct tuple *b, const char *tb_text)
{
    char    sig[BFF_SIGN_HEADER_MAX], hdr[BFF_SIGN_HEADER_MAX + 64], t_text[24];
    int     rc = bff_sign_identity(KEY, KEYLEN, a->t, a->f[0], a->f[1], a->f[2], a->f[3],
                                   a->f[4], sig);
    int64_t now = a->t;

    snprintf(t_text, sizeof t_text, "%" PRId64, a->t);
    if (rc != 0) {
        FUZZ_CHECK(tuple_ctl(a), "signing failed: %d", rc);
        check_ctl(a, rc, now);
        return;
    }
    FUZZ_CHECK(strncmp(sig, "t=", 2) == 0 && strncmp(sig + 2, t_text, strlen(t_text)) == 0 &&
                   strlen(sig) == 2 + strlen(t_text) + 4 + 64,
               "header \"%s\"", sig);
    FUZZ_CHECK(verify(sig, now, a) == 0, "A's own signature is refused");
    FUZZ_CHECK(verify(sig, now + BFF_SIGN_MAX_AGE_S, a) == 0 &&
                   (now < BFF_SIGN_MAX_AGE_S || verify(sig, now - BFF_SIGN_MAX_AGE_S, a) == 0),
               "refused within max age"); /* a clock before 1970 is refused */
    FUZZ_CHECK(verify(sig, now + BFF_SIGN_MAX_AGE_S + 1, a) != 0, "accepted when stale");

    if (tb_text != NULL)
        snprintf(hdr, sizeof hdr, "t=%s,v1=%s", tb_text, strchr(sig, ',') + 4);
    else
        snprintf(hdr, sizeof hdr, "%s", sig);
    if (verify(hdr, now, b) == 0) {
        int same = tb_text == NULL || strcmp(tb_text, t_text) == 0;
        for (int i = 0; i < NF; i++)
            same &= strcmp(a->f[i], b->f[i]) == 0;
        if (!same) {
            show("signed   A", a);
            show("verified B", b);
            fprintf(stderr, "header: %s\n", hdr);
        }
        FUZZ_CHECK(same, "a signature made for A verifies for a different B");
    }
    /* any other spelling of the header is refused */
    if (tb_text != NULL && verify(tb_text, now, a) == 0)
        FUZZ_CHECK(strcmp(tb_text, sig) == 0, "header \"%s\" passes for \"%s\"", tb_text,
                   sig);
    check_ctl(a, rc, now);
}

static void tuple_free(struct tuple *t)
{
    for (int i = 0; i < NF; i++)
        free(t->f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_split sp;
    struct tuple      a = {0}, b = {0};
    const uint8_t    *p;
    size_t            n;
    char             *tb_text = NULL;

    if (size < 3)
        return 0;
    int shift = data[0] & 1;
    int k = data[1] % 4;
    int d = (int8_t)data[2];

    fuzz_split_init(&sp, data + (shift ? 3 : 1), size - (shift ? 3 : 1), 0);
    p = fuzz_next(&sp, &n);
    a.t = digits(p, n);
    for (int i = 0; i < NF; i++) {
        p = fuzz_next(&sp, &n);
        a.f[i] = p ? fuzz_strndup(p, n) : fuzz_strndup("", 0);
    }
    b.t = a.t;
    if (!shift) {
        p = fuzz_next(&sp, &n);
        if (p)
            tb_text = fuzz_strndup(p, n);
        for (int i = 0; i < NF; i++) {
            p = fuzz_next(&sp, &n);
            b.f[i] = p ? fuzz_strndup(p, n) : fuzz_strndup(a.f[i], strlen(a.f[i]));
        }
    } else {
        /* move |d| bytes across the boundary after field k */
        const char *l = a.f[k], *r = a.f[k + 1];
        size_t      ll = strlen(l), rl = strlen(r);
        if (d > 0 && (size_t)d > ll)
            d = (int)ll;
        if (d < 0 && (size_t)-d > rl)
            d = -(int)rl;
        size_t nl = (size_t)((ptrdiff_t)ll - d);
        char  *cat = malloc(ll + rl + 1);
        if (cat == NULL)
            abort();
        memcpy(cat, l, ll);
        memcpy(cat + ll, r, rl + 1);
        for (int i = 0; i < NF; i++)
            b.f[i] = fuzz_strndup(a.f[i], strlen(a.f[i]));
        free(b.f[k]);
        free(b.f[k + 1]);
        b.f[k] = fuzz_strndup(cat, nl);
        b.f[k + 1] = fuzz_strndup(cat + nl, ll + rl - nl);
        free(cat);
    }
    run(&a, &b, tb_text);
    free(tb_text);
    tuple_free(&a);
    tuple_free(&b);
    return 0;
}
