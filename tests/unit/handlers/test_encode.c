/* tests/unit/handlers/test_encode.c — ETags, If-None-Match, Accept-Encoding, gzip and
 * HTTP dates (core/src/handlers/encode.c); the 304 and gzip answers themselves are
 * tested end to end in tests/e2e/test_bff.c */
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
    tcase_add_test(tc, http_dates_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
