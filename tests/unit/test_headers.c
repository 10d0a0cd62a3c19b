/* tests/unit/test_headers.c — which headers cross the gateway */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bff/headers.h"

static unsigned cls(const char *name)
{
    return bff_header_class(name, strlen(name));
}

START_TEST(classes)
{
    static const char *hop[] = {
        "Connection",
        "connection",
        "CONNECTION",
        "Keep-Alive",
        "keep-ALIVE",
        "Proxy-Connection",
        "TE",
        "te",
        "Trailer",
        "Transfer-Encoding",
        "transfer-encoding",
        "Upgrade",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "PROXY-authorization",
    };
    static const char *set[] = {
        "X-Forwarded-Port", "Forwarded", "X-Real-IP", "x-real-ip",
        "Host",
        "HOST",
        "Content-Length",
        "content-length",
        "X-Forwarded-For",
        "x-forwarded-for",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Request-Id",
        "x-request-id",
        "traceparent",
        "Traceparent",
        "tracestate",
        "TraceState",
        "Expect",
    };
    static const char *identity[] = {
        "X-User-Id",  "x-user-roles",           "X-USER-ID",
        "X-User-",    "x-user-anything-at-all", "X-Gateway-Signature",
        "x-gateway-", "X-GATEWAY-Foo",
    };
    static const char *plain[] = {
        "Accept",
        "Content-Type",
        "Cookie",
        "X-Userid",
        "X-User",
        "x-user",
        "X-Users-Id",
        "X-Gateway",
        "X-Gatewayx-Foo",
        "Tex",
        "T",
        "Hosts",
        "Content-Length2",
        "Authorization2",
        "Set-Cookie",
        "Accept-Encoding",
    };

    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        ck_assert_msg(cls(hop[i]) == BFF_HDR_HOP, "%s", hop[i]);
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        ck_assert_msg(cls(set[i]) == BFF_HDR_SET, "%s", set[i]);
    for (size_t i = 0; i < sizeof(identity) / sizeof(identity[0]); i++)
        ck_assert_msg(cls(identity[i]) == BFF_HDR_IDENTITY, "%s", identity[i]);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        ck_assert_msg(cls(plain[i]) == 0, "%s", plain[i]);
    ck_assert_uint_eq(cls("Authorization"), BFF_HDR_AUTHZ);
    ck_assert_uint_eq(cls("authorization"), BFF_HDR_AUTHZ);
    ck_assert_uint_eq(cls(""), 0);
    ck_assert_uint_eq(bff_header_class(NULL, 0), 0);
    /* only @len bytes count: no NUL needed */
    ck_assert_uint_eq(bff_header_class("Connection: close", 10), BFF_HDR_HOP);
    ck_assert_uint_eq(bff_header_class("X-User-Id", 6), 0); /* "X-User" */
    ck_assert_uint_eq(bff_header_class("tex", 2), BFF_HDR_HOP);
}
END_TEST

START_TEST(connection_tokens)
{
    ck_assert_int_eq(bff_header_in_connection("close, X-Foo", "X-Foo"), 1);
    ck_assert_int_eq(bff_header_in_connection("close, X-Foo", "x-foo"), 1);
    ck_assert_int_eq(bff_header_in_connection("close, X-Foo", "close"), 1);
    ck_assert_int_eq(bff_header_in_connection("close,X-FOO", "x-foo"), 1);
    ck_assert_int_eq(bff_header_in_connection(" \tx-foo\t ,keep-alive", "X-Foo"), 1);
    ck_assert_int_eq(bff_header_in_connection("keep-alive , x-foo ", "X-Foo"), 1);
    ck_assert_int_eq(bff_header_in_connection(",,x-foo,,", "X-Foo"), 1);
    ck_assert_int_eq(bff_header_in_connection("close, X-Foo", "X-Fo"), 0);
    ck_assert_int_eq(bff_header_in_connection("close, X-Foo", "X-Foobar"), 0);
    ck_assert_int_eq(bff_header_in_connection("close, X-Foobar", "X-Foo"), 0);
    ck_assert_int_eq(bff_header_in_connection("close, X Foo", "X"), 0);
    ck_assert_int_eq(bff_header_in_connection("", "X-Foo"), 0);
    ck_assert_int_eq(bff_header_in_connection(" , ,", "X-Foo"), 0);
    ck_assert_int_eq(bff_header_in_connection(NULL, "X-Foo"), 0);
    ck_assert_int_eq(bff_header_in_connection("x-foo", NULL), 0);
    ck_assert_int_eq(bff_header_in_connection("x-foo", ""), 0);
}
END_TEST

START_TEST(forward_request)
{
    ck_assert_int_eq(bff_header_forward_request("Accept", NULL), 1);
    ck_assert_int_eq(bff_header_forward_request("Content-Type", "close"), 1);
    ck_assert_int_eq(bff_header_forward_request("X-Foo", "close, X-Foo"), 0);
    ck_assert_int_eq(bff_header_forward_request("x-foo", "close, X-Foo"), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Bar", "close, X-Foo"), 1);
    ck_assert_int_eq(bff_header_forward_request("Connection", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("Keep-Alive", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("Transfer-Encoding", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("Authorization", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-User-Id", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("x-user-roles", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Gateway-Signature", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Userid", NULL), 1); /* no dash */
    ck_assert_int_eq(bff_header_forward_request("Host", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("Content-Length", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Forwarded-For", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Request-Id", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("traceparent", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("Expect", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("Forwarded", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Real-IP", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("X-Forwarded-Port", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request("", NULL), 0);
    ck_assert_int_eq(bff_header_forward_request(NULL, NULL), 0);
}
END_TEST

START_TEST(forward_response)
{
    ck_assert_int_eq(bff_header_forward_response("Content-Type", NULL), 1);
    ck_assert_int_eq(bff_header_forward_response("Set-Cookie", NULL), 1);
    ck_assert_int_eq(bff_header_forward_response("ETag", "close"), 1);
    ck_assert_int_eq(bff_header_forward_response("X-Request-Id", NULL), 1);
    ck_assert_int_eq(bff_header_forward_response("X-User-Id", NULL), 1);
    ck_assert_int_eq(bff_header_forward_response("Content-Length", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response("CONTENT-LENGTH", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response("Transfer-Encoding", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response("Connection", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response("Keep-Alive", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response("Proxy-Authenticate", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response("X-Bar", "close, x-bar"), 0);
    ck_assert_int_eq(bff_header_forward_response("X-Baz", "close, x-bar"), 1);
    ck_assert_int_eq(bff_header_forward_response("", NULL), 0);
    ck_assert_int_eq(bff_header_forward_response(NULL, NULL), 0);
}
END_TEST

START_TEST(request_id)
{
    char v[200];

    ck_assert_int_eq(bff_request_id_sane("3fa85f64-5717-4562-b3fc-2c963f66afa6"), 1);
    ck_assert_int_eq(bff_request_id_sane("a"), 1);
    ck_assert_int_eq(bff_request_id_sane("node-1:req.42_x"), 1);
    ck_assert_int_eq(bff_request_id_sane(""), 0);
    ck_assert_int_eq(bff_request_id_sane(NULL), 0);
    ck_assert_int_eq(bff_request_id_sane("a b"), 0);
    ck_assert_int_eq(bff_request_id_sane(" abc"), 0);
    ck_assert_int_eq(bff_request_id_sane("abc\r\nSet-Cookie: x=1"), 0);
    ck_assert_int_eq(bff_request_id_sane("abc\n"), 0);
    ck_assert_int_eq(bff_request_id_sane("a/b"), 0);
    ck_assert_int_eq(bff_request_id_sane("a\"b"), 0);
    ck_assert_int_eq(bff_request_id_sane("caf\xc3\xa9"), 0);
    memset(v, 'a', 128);
    v[128] = '\0';
    ck_assert_int_eq(bff_request_id_sane(v), 1);
    v[128] = 'a';
    v[129] = '\0';
    ck_assert_int_eq(bff_request_id_sane(v), 0);
}
END_TEST

START_TEST(traceparent)
{
    static const char *good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    static const char *bad[] = {
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* not 00 */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* 54 bytes */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010", /* 56 bytes */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  /* flags */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47 6-00f067aa0ba902b7-01",
        "",
    };

    ck_assert_int_eq(bff_traceparent_valid(good), 1);
    ck_assert_int_eq(bff_traceparent_valid(
                         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
                     1);
    ck_assert_int_eq(bff_traceparent_valid(
                         "00-00000000000000000000000000000001-0000000000000001-ff"),
                     1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bff_traceparent_valid(bad[i]) == 0, "%s", bad[i]);
    ck_assert_int_eq(bff_traceparent_valid(NULL), 0);
}
END_TEST

static Suite *headers_suite(void)
{
    Suite *s = suite_create("headers");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, classes);
    tcase_add_test(tc, connection_tokens);
    tcase_add_test(tc, forward_request);
    tcase_add_test(tc, forward_response);
    tcase_add_test(tc, request_id);
    tcase_add_test(tc, traceparent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(headers_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
