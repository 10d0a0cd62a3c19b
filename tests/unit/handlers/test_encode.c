/* tests/unit/handlers/test_encode.c — ETags, If-None-Match, Accept-Encoding, gzip,
 * brotli and HTTP dates (core/src/handlers/encode.c); the 304, gzip and br answers
 * themselves are tested end to end in tests/e2e/test_bff.c */
#include <brotli/decode.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bff/err.h"
#include "handlers/encode.h"

START_TEST(etag_is_strong_stable_and_short)
{
    char a[ENCODE_ETAG_MAX], b[ENCODE_ETAG_MAX], c[ENCODE_ETAG_MAX];
    encode_etag("{\"a\":1}", 7, a);
    encode_etag("{\"a\":1}", 7, b);
    encode_etag("{\"a\":2}", 7, c);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_uint_eq(strlen(a), 24); /* '"' + 22 base64url + '"' */
    ck_assert_int_eq(a[0], '"');
    ck_assert_int_eq(a[23], '"');
    for (int i = 1; i < 23; i++)
        ck_assert_ptr_nonnull(strchr(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    /* SHA-256("") = e3b0c442…: its first 16 bytes in base64url */
    encode_etag("", 0, a);
    ck_assert_str_eq(a, "\"47DEQpj8HBSa-_TImW-5JA\"");
}
END_TEST

START_TEST(if_none_match_compares_weakly)
{
    const char *t = "\"abc\"";
    ck_assert(encode_inm_match("\"abc\"", t));
    ck_assert(encode_inm_match("W/\"abc\"", t));
    ck_assert(encode_inm_match("*", t));
    ck_assert(encode_inm_match("\"x\", \"abc\"", t));
    ck_assert(encode_inm_match("\"x\",W/\"y\" ,  \"abc\"  ", t));
    ck_assert(encode_inm_match(" ,\"abc\"", t));
    ck_assert(!encode_inm_match("\"abcd\"", t));
    ck_assert(!encode_inm_match("\"ab\"", t));
    ck_assert(!encode_inm_match("abc", t));
    ck_assert(!encode_inm_match("\"abc", t));
    ck_assert(!encode_inm_match("", t));
    ck_assert(!encode_inm_match(NULL, t));
    ck_assert(!encode_inm_match("w/\"abc\"", t)); /* W/ is case-sensitive */
    ck_assert(!encode_inm_match("\"abc-gzip\"", t));
    ck_assert(encode_inm_match("\"abc-gzip\"", "\"abc-gzip\""));
}
END_TEST

START_TEST(accept_encoding_reads_q_values)
{
    ck_assert(encode_accepts_gzip("gzip"));
    ck_assert(encode_accepts_gzip("GZip"));
    ck_assert(encode_accepts_gzip("x-gzip"));
    ck_assert(encode_accepts_gzip("br, gzip, deflate"));
    ck_assert(encode_accepts_gzip("gzip;q=0.001"));
    ck_assert(encode_accepts_gzip("gzip ; q=1"));
    ck_assert(encode_accepts_gzip("*"));
    ck_assert(encode_accepts_gzip("identity;q=1, *;q=0.5"));
    ck_assert(!encode_accepts_gzip("gzip;q=0"));
    ck_assert(!encode_accepts_gzip("gzip;q=0.0"));
    ck_assert(!encode_accepts_gzip("gzip;q=0.000, *"));
    ck_assert(!encode_accepts_gzip("*;q=0"));
    ck_assert(!encode_accepts_gzip("br"));
    ck_assert(!encode_accepts_gzip("identity"));
    ck_assert(!encode_accepts_gzip("gzipx"));
    ck_assert(!encode_accepts_gzip(""));
    ck_assert(!encode_accepts_gzip(NULL));
}
END_TEST

START_TEST(gzip_round_trips)
{
    char   in[4096];
    char  *z = NULL, out[8192];
    size_t zlen = 0;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = "{\"orders\":[],\"name\":\"Ada\"}"[i % 26];
    ck_assert_int_eq(encode_gzip(in, sizeof(in), &z, &zlen), 0);
    ck_assert_uint_lt(zlen, sizeof(in) / 4);
    ck_assert_int_eq((unsigned char)z[0], 0x1f); /* a gzip member */
    ck_assert_int_eq((unsigned char)z[1], 0x8b);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)z;
    zs.avail_in = (uInt)zlen;
    zs.next_out = (Bytef *)out;
    zs.avail_out = sizeof(out);
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.total_out, sizeof(in));
    ck_assert_int_eq(memcmp(in, out, sizeof(in)), 0);
    inflateEnd(&zs);
    free(z);
    /* the empty body is a valid member too */
    ck_assert_int_eq(encode_gzip("", 0, &z, &zlen), 0);
    ck_assert_uint_gt(zlen, 0);
    free(z);
}
END_TEST

START_TEST(q_values_read_as_thousandths)
{
    ck_assert_int_eq(encode_ae_q("gzip", "gzip"), 1000);
    ck_assert_int_eq(encode_ae_q("gzip;q=0.5", "gzip"), 500);
    ck_assert_int_eq(encode_ae_q("gzip; q=0.25", "gzip"), 250);
    ck_assert_int_eq(encode_ae_q("gzip;level=1;Q=0.125", "gzip"), 125);
    ck_assert_int_eq(encode_ae_q("gzip;q=1.000", "gzip"), 1000);
    ck_assert_int_eq(encode_ae_q("gzip;q=0.001", "gzip"), 1);
    ck_assert_int_eq(encode_ae_q("gzip;q=0", "gzip"), 0);
    ck_assert_int_eq(encode_ae_q("gzip;q=x", "gzip"), 0); /* unreadable: refused */
    ck_assert_int_eq(encode_ae_q("gzip;q=", "gzip"), 0);
    ck_assert_int_eq(encode_ae_q("gzip;q=2", "gzip"), 1000);
    ck_assert_int_eq(encode_ae_q("x-gzip;q=0.3", "gzip"), 300);
    ck_assert_int_eq(encode_ae_q("gzip;q=0.2, gzip;q=0.7", "gzip"), 700);
    ck_assert_int_eq(encode_ae_q("BR;q=0.9", "br"), 900);
    ck_assert_int_eq(encode_ae_q("*;q=0.4", "br"), 400);
    ck_assert_int_eq(encode_ae_q("br;q=0, *", "br"), 0); /* named beats "*" */
    ck_assert_int_eq(encode_ae_q("gzip", "br"), -1);
    ck_assert_int_eq(encode_ae_q("brotli", "br"), -1);
    ck_assert_int_eq(encode_ae_q("x-br", "br"), -1);
    ck_assert_int_eq(encode_ae_q(NULL, "br"), -1);
}
END_TEST

START_TEST(br_wins_only_at_gzips_q_or_above)
{
    const unsigned both = BFF_ENCODE_GZIP | BFF_ENCODE_BR;
    static const struct {
        const char        *ae;
        enum encode_coding want;
    } cases[] = {
        {"br", ENCODE_BR},
        {"gzip, deflate, br", ENCODE_BR}, /* equal q: br */
        {"br, gzip", ENCODE_BR},
        {"gzip;q=0.8, br;q=0.8", ENCODE_BR},
        {"*", ENCODE_BR},
        {"br;q=0.5, gzip", ENCODE_GZIP}, /* the client ranks gzip higher */
        {"gzip, br;q=0.999", ENCODE_GZIP},
        {"br;q=0, gzip", ENCODE_GZIP},
        {"gzip, *;q=0.5", ENCODE_GZIP}, /* br gets "*"'s q */
        {"br;q=0.1", ENCODE_BR},
        {"br;q=0, gzip;q=0", ENCODE_IDENTITY},
        {"identity", ENCODE_IDENTITY},
        {"*;q=0", ENCODE_IDENTITY},
        {"deflate", ENCODE_IDENTITY},
        {"", ENCODE_IDENTITY},
        {NULL, ENCODE_IDENTITY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(encode_choose(cases[i].ae, both) == cases[i].want, "%s: got %d",
                      cases[i].ae ? cases[i].ae : "(none)",
                      (int)encode_choose(cases[i].ae, both));
    /* only what is offered */
    ck_assert_int_eq(encode_choose("br, gzip", BFF_ENCODE_GZIP), ENCODE_GZIP);
    ck_assert_int_eq(encode_choose("br", BFF_ENCODE_GZIP), ENCODE_IDENTITY);
    ck_assert_int_eq(encode_choose("br;q=0.1, gzip", BFF_ENCODE_BR), ENCODE_BR);
    ck_assert_int_eq(encode_choose("gzip", BFF_ENCODE_BR), ENCODE_IDENTITY);
    ck_assert_int_eq(encode_choose("br, gzip", 0), ENCODE_IDENTITY);
}
END_TEST

/* Decodes @z with libbrotli's decoder into @out (@cap bytes); returns the length. */
static size_t unbrotli(const char *z, size_t zlen, char *out, size_t cap)
{
    size_t n = cap;
    ck_assert_int_eq(
        BrotliDecoderDecompress(zlen, (const uint8_t *)z, &n, (uint8_t *)out),
        BROTLI_DECODER_RESULT_SUCCESS);
    return n;
}

START_TEST(br_round_trips)
{
    static char in[70000]; /* past the 64 KiB window */
    static char out[80000];
    char       *z = NULL;
    size_t      zlen = 0;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = "{\"orders\":[],\"name\":\"Ada\"}"[i % 26];
    ck_assert_int_eq(encode_br(in, 4096, &z, &zlen), 0);
    ck_assert_uint_lt(zlen, 4096 / 4);
    ck_assert_uint_eq(unbrotli(z, zlen, out, sizeof(out)), 4096);
    ck_assert_int_eq(memcmp(in, out, 4096), 0);
    free(z);

    ck_assert_int_eq(encode_br(in, sizeof(in), &z, &zlen), 0);
    ck_assert_uint_eq(unbrotli(z, zlen, out, sizeof(out)), sizeof(in));
    ck_assert_int_eq(memcmp(in, out, sizeof(in)), 0);
    free(z);

    /* a real answer, and bytes that do not compress: still a valid stream */
    const char *home =
        "{\"name\":\"Ada Lovelace\",\"orders\":[{\"id\":\"o-5\",\"status\":"
        "\"paid\",\"total_cents\":1200,\"currency\":\"EUR\",\"created_at\":"
        "\"2024-07-01T10:00:00Z\"}],\"partial\":[]}";
    ck_assert_int_eq(encode_br(home, strlen(home), &z, &zlen), 0);
    ck_assert_uint_lt(zlen, strlen(home));
    ck_assert_uint_eq(unbrotli(z, zlen, out, sizeof(out)), strlen(home));
    ck_assert_int_eq(memcmp(home, out, strlen(home)), 0);
    free(z);
    for (size_t i = 0; i < 1000; i++)
        in[i] = (char)(i * 2654435761u >> 13);
    ck_assert_int_eq(encode_br(in, 1000, &z, &zlen), 0);
    ck_assert_uint_eq(unbrotli(z, zlen, out, sizeof(out)), 1000);
    ck_assert_int_eq(memcmp(in, out, 1000), 0);
    free(z);

    /* every quality and the window bounds give streams the decoder reads */
    for (int q = 0; q <= 11; q++)
        for (int w = 10; w <= 24; w += 14) {
            ck_assert_int_eq(encode_br_with(home, strlen(home), q, w, &z, &zlen), 0);
            ck_assert_uint_eq(unbrotli(z, zlen, out, sizeof(out)), strlen(home));
            ck_assert_int_eq(memcmp(home, out, strlen(home)), 0);
            free(z);
        }

    /* the empty body is a valid stream too */
    ck_assert_int_eq(encode_br("", 0, &z, &zlen), 0);
    ck_assert_uint_gt(zlen, 0);
    ck_assert_uint_eq(unbrotli(z, zlen, out, sizeof(out)), 0);
    free(z);
}
END_TEST

START_TEST(http_dates_round_trip)
{
    char    buf[40];
    int64_t t;
    encode_http_date(784111777, buf, sizeof(buf));
    ck_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_int_eq(encode_http_date_parse(buf, &t), 0);
    ck_assert_int_eq(t, 784111777);
    ck_assert_int_eq(encode_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT  ", &t), 0);
    ck_assert_int_eq(encode_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t),
                     BFF_EINVAL);
    ck_assert_int_eq(encode_http_date_parse("yesterday", &t), BFF_EINVAL);
    ck_assert_int_eq(encode_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT x", &t),
                     BFF_EINVAL);
    ck_assert_int_eq(encode_http_date_parse(NULL, &t), BFF_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("encode");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, etag_is_strong_stable_and_short);
    tcase_add_test(tc, if_none_match_compares_weakly);
    tcase_add_test(tc, accept_encoding_reads_q_values);
    tcase_add_test(tc, gzip_round_trips);
    tcase_add_test(tc, q_values_read_as_thousandths);
    tcase_add_test(tc, br_wins_only_at_gzips_q_or_above);
    tcase_add_test(tc, br_round_trips);
    tcase_add_test(tc, http_dates_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
