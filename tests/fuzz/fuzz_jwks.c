/* tests/fuzz/fuzz_jwks.c — JWKS parsing (core/src/rules/jwks.c)
 *
 * Input: a document, parsed as a key set; the set is then asked to verify
 * four tokens signed with the keys of fuzz_keys.h (HS256 and ES256, with and
 * without kid), which runs key selection over whatever the set holds.
 * Properties, beyond memory safety and no leak:
 * - a refused document comes with a reason that is one line of printable
 *   ASCII (it is logged, and a fetched JWKS is not trusted);
 * - an accepted one holds 1 to 256 keys;
 * - verification against it gives a known reason. */
#include "fuzz.h"

#include "bff/jwt.h"
#include "fuzz_keys.h"

static const char *const tokens[] = {
    /* hs1, kid "hs1" */
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhzMSJ9.eyJpc3MiOiJodHRwczovL2F1dG"
    "guc2hvcC5leGFtcGxlIiwiYXVkIjoic2hvcC1tb2JpbGUiLCJzdWIiOiJ1LTEwMDEiLCJyb2xlcyI6"
    "WyJjdXN0b21lciJdLCJpYXQiOjE2OTk5OTk5NDAsImV4cCI6MTcwMDAwMzYwMH0.U5TdsVWmyIJf1t"
    "Bjz7-ZdwJLnJOvoQsEuEzvC_umH2g",
    /* ec1, kid "ec1" */
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMSJ9.eyJpc3MiOiJodHRwczovL2F1dGguc2hvcC5leGFtcG"
    "xlIiwiYXVkIjpbInNob3Atd2ViIiwib3RoZXIiXSwic3ViIjoidS0xMDAxIiwicm9sZXMiOlsiY3Vz"
    "dG9tZXIiXSwiaWF0IjoxNjk5OTk5OTQwLCJleHAiOjE3MDAwMDM2MDB9.wCKwS-ZWuLRhnmwKb-Mkv"
    "nIasPXwN-GucKN-BkoqmYf4oiGC_VlTCdGy_q4RKODtEJilaiH87yILG9O7ExdhaA",
    /* hs1, no kid */
    "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2F1dGguc2hvcC5leGFtcGxlIiwiYXVkIjoic2"
    "hvcC1tb2JpbGUiLCJzdWIiOiJ1LTEwMDEiLCJyb2xlcyI6ImN1c3RvbWVyIHN1cHBvcnQiLCJpYXQi"
    "OjE2OTk5OTk5NDAsImV4cCI6MTcwMDAwMzYwMCwibmJmIjoxNjk5OTk5OTk1fQ.0nLJmORQkX_1QV9"
    "OO-kSLm0Mi29ozEyDeIcUJJ-Enl4",
    /* ec1, no kid */
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2F1dGguc2hvcC5leGFtcGxlIiwiYXVkIjoic2"
    "hvcC1tb2JpbGUiLCJzdWIiOjQyNDIsInJvbGVzIjpbImN1c3RvbWVyIl0sImlhdCI6MTY5OTk5OTk0"
    "MCwiZXhwIjoxNzAwMDAzNjAwfQ.swywn0d95_RwPz5cF5qrgeRW_eu_bEgNaDMUZAuYEz8n2VfdgJv"
    "Vb-_5Z0km9v8YvAjl3Uwp_AQi_XT6XGj4pQ",
};

static const char *const           audience[] = {"shop-mobile", "shop-web", NULL};
static const struct bff_jwt_policy policy = {
    .algorithms = 0x1fff, /* every algorithm: the key set decides */
    .issuer = FUZZ_ISSUER,
    .audience = audience,
    .leeway_s = 30,
    .claim_user_id = "sub",
    .claim_roles = "roles",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               err[256];
    struct bff_keyset *ks;

    memset(err, 'x', sizeof err);
    ks = bff_keyset_parse((const char *)data, size, err, sizeof err);
    if (ks == NULL) {
        size_t n = strnlen(err, sizeof err);
        FUZZ_CHECK(n > 0 && n < sizeof err, "refused without a reason (%zu bytes)", n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f,
                       "reason holds byte 0x%02x at %zu: %s", (unsigned char)err[i], i,
                       err);
        return 0;
    }
    size_t n = bff_keyset_count(ks);
    FUZZ_CHECK(n >= 1 && n <= 256, "a key set of %zu keys", n);
    FUZZ_CHECK(bff_keyset_ref(ks) == ks, "ref");
    bff_keyset_unref(ks);
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        struct bff_identity id;
        enum bff_jwt_reason r =
            bff_jwt_verify(ks, &policy, tokens[i], strlen(tokens[i]), FUZZ_NOW, &id);
        FUZZ_CHECK((unsigned)r < BFF_JWT_REASON_COUNT, "reason %d", (int)r);
    }
    bff_keyset_unref(ks);
    return 0;
}
