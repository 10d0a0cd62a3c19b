/* tests/fuzz/fuzz_jwt.c — JWT verification (core/src/rules/jwt.c) against a fixed
 * key set (fuzz_keys.h: HS256 "hs1", ES256 "ec1") and bff-mobile's policy.
 *
 * The first input byte picks what the rest is:
 *   '0' (and any byte = 0 mod 3): a token, verified as it is;
 *   '1' (= 1 mod 3): "HEADER-JSON\nCLAIMS-JSON", which this target encodes
 *       and signs with hs1 (OpenSSL HMAC here, not the code under test), so
 *       that the header and claim checks behind the signature are reached;
 *   '2' (= 2 mod 3): "HEADER.PAYLOAD" already encoded, signed the same way.
 * Properties, beyond memory safety:
 * - the reason is a known one, with a name and a text;
 * - a refused token leaves the identity all zero;
 * - an accepted token gives a user id and roles safe for a header (no
 *   control byte, no ',' in the user id, no leading or trailing space; roles
 *   are [A-Za-z0-9_.:-] joined by single commas) and an exp not past;
 * - an accepted token is refused once any one byte of its header, payload
 *   or signature is changed: one signature stands for one token. */
#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bff/jwt.h"
#include "fuzz_keys.h"

static struct bff_keyset *ks;
static int                verbose; /* FUZZ_VERBOSE=1: print each verdict */
static unsigned char      hs1[64];
static const char *const  audience[] = {"shop-mobile", "shop-web", NULL};
static const struct bff_jwt_policy policy = {
    .algorithms = BFF_ALG_HS256 | BFF_ALG_ES256 | BFF_ALG_RS256 | BFF_ALG_EDDSA,
    .issuer = FUZZ_ISSUER,
    .audience = audience,
    .leeway_s = 30,
    .claim_user_id = "sub",
    .claim_roles = "roles",
};

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of @n bytes into @out (room for 4*(n+2)/3+1). */
static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = b64chars[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = b64chars[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int unb64(const char *s, unsigned char *out)
{
    size_t o = 0, bits = 0;
    uint32_t acc = 0;
    for (; *s; s++) {
        const char *c = strchr(b64chars, *s);
        if (c == NULL)
            return -1;
        acc = acc << 6 | (uint32_t)(c - b64chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (int)o;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];

    (void)argc;
    (void)argv;
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    ks = bff_keyset_parse(FUZZ_JWKS, strlen(FUZZ_JWKS), err, sizeof err);
    if (ks == NULL || bff_keyset_count(ks) != 2 || unb64(FUZZ_HS1_B64, hs1) != 64) {
        fprintf(stderr, "fuzz_jwt: key set: %s\n", err);
        abort();
    }
    return 0;
}

static void check_identity(const struct bff_identity *id)
{
    size_t n = strnlen(id->user_id, sizeof id->user_id);

    FUZZ_CHECK(n > 0 && n < sizeof id->user_id, "user id of %zu bytes", n);
    FUZZ_CHECK(id->user_id[0] != ' ' && id->user_id[n - 1] != ' ',
               "user id with a leading or trailing space");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id->user_id[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != ',', "user id byte 0x%02x", c);
        if (c == 0xc2 && i + 1 < n)
            FUZZ_CHECK((unsigned char)id->user_id[i + 1] < 0x80 ||
                           (unsigned char)id->user_id[i + 1] > 0x9f,
                       "user id holds a C1 control");
    }
    n = strnlen(id->roles, sizeof id->roles);
    FUZZ_CHECK(n < sizeof id->roles, "roles not terminated");
    FUZZ_CHECK(strspn(id->roles, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789_.:-,") == n,
               "roles \"%s\" hold an unsafe byte", id->roles);
    FUZZ_CHECK(n == 0 || (id->roles[0] != ',' && id->roles[n - 1] != ',' &&
                          strstr(id->roles, ",,") == NULL),
               "roles \"%s\" hold an empty role", id->roles);
    FUZZ_CHECK(id->exp + policy.leeway_s >= FUZZ_NOW, "accepted an expired token");
}

static int zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void check(const char *token, size_t len)
{
    struct bff_identity id;
    enum bff_jwt_reason r = bff_jwt_verify(ks, &policy, token, len, FUZZ_NOW, &id);

    if (verbose)
        fprintf(stderr, "fuzz_jwt: %s\n", bff_jwt_reason_name(r));
    FUZZ_CHECK((unsigned)r < BFF_JWT_REASON_COUNT, "reason %d", (int)r);
    FUZZ_CHECK(bff_jwt_reason_name(r) != NULL && bff_jwt_reason_text(r) != NULL,
               "reason %d has no name or text", (int)r);
    if (r != BFF_JWT_OK) {
        FUZZ_CHECK(zero(&id, sizeof id), "a refused token (%s) left an identity",
                   bff_jwt_reason_name(r));
        return;
    }
    check_identity(&id);

    /* one byte changed anywhere: refused */
    char *copy = fuzz_strndup(token, len);
    for (size_t i = 0; i < len; i++) {
        char was = copy[i];
        copy[i] = was == 'A' ? 'B' : 'A';
        enum bff_jwt_reason r2 = bff_jwt_verify(ks, &policy, copy, len, FUZZ_NOW, &id);
        FUZZ_CHECK(r2 != BFF_JWT_OK, "still accepted with byte %zu changed to '%c'", i,
                   copy[i]);
        copy[i] = was;
    }
    free(copy);
}

/* Appends "." and the HS256 MAC of the @n bytes at @signing_input. */
static char *sign_hs1(const char *signing_input, size_t n, size_t *outlen)
{
    unsigned char mac[32];
    unsigned int  maclen = 0;
    char         *t = malloc(n + 1 + 44 + 1);

    if (t == NULL || HMAC(EVP_sha256(), hs1, sizeof hs1, (const unsigned char *)signing_input,
                          n, mac, &maclen) == NULL)
        abort();
    memcpy(t, signing_input, n);
    t[n] = '.';
    *outlen = n + 1 + b64url(mac, maclen, t + n + 1);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > BFF_JWT_MAX_TOKEN + 2)
        return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        check((const char *)data, size);
    } else if (mode == 2) {
        size_t len;
        char  *t = sign_hs1((const char *)data, size, &len);
        check(t, len);
        free(t);
    } else {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t         hl = nl ? (size_t)(nl - data) : size;
        size_t         cl = nl ? size - hl - 1 : 0;
        char          *in = malloc(4 * (hl + cl + 6) / 3 + 8), *t;
        size_t         n, len;

        if (in == NULL)
            abort();
        n = b64url(data, hl, in);
        in[n++] = '.';
        n += b64url(nl ? nl + 1 : data, cl, in + n);
        t = sign_hs1(in, n, &len);
        check(t, len);
        free(t);
        free(in);
    }
    return 0;
}
