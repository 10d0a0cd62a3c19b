/* tests/unit/http/test_headers.c — which headers cross the gateway */
#include <check.h>
#include <stdlib.h>
#include <stdio.h>
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

/* @in normalized: the output, or NULL when refused. */
static const char *ts(const char *in)
{
    static char out[2048];
    int         n = bff_tracestate_normalize(in, strlen(in), out, sizeof(out));
    if (n < 0)
        return NULL;
    ck_assert_uint_eq((size_t)n, strlen(out));
    return out;
}

START_TEST(tracestate)
{
    char key[300], buf[2048];

    ck_assert_str_eq(ts("congo=t61rcWkgMzE"), "congo=t61rcWkgMzE");
    ck_assert_str_eq(ts(" rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE\t"),
                     "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    ck_assert_str_eq(ts(""), "");
    ck_assert_str_eq(ts(" , ,"), "");
    ck_assert_str_eq(ts("a=1,,b=2,"), "a=1,b=2");
    ck_assert_str_eq(ts("a=b c"), "a=b c"); /* inner space in a value */
    ck_assert_str_eq(ts("a=  b"), "a=  b"); /* leading spaces are value */
    ck_assert_str_eq(ts("t0-_*/9@sys_-*/x=~!"), "t0-_*/9@sys_-*/x=~!");
    ck_assert_str_eq(ts("0tenant@s=1"),
                     "0tenant@s=1"); /* a tenant may start with a digit */

    static const char *bad[] = {
        "Congo=1",             /* upper case key */
        "0a=1",                /* a simple key starts with lcalpha */
        "a b=1",               /* space in the key */
        "a",                   /* no '=' */
        "a=",                  /* empty value */
        "=1",                  /* empty key */
        "a=1=2",               /* '=' in the value */
        "a=\x7f",              /* DEL */
        "a=\x01",              /* control */
        "a=\xc3\xa9",          /* not ASCII */
        "a@=1",                /* empty system */
        "@s=1",                /* empty tenant */
        "a@0s=1",              /* a system id starts with lcalpha */
        "a@sys@x=1",           /* two '@' */
        "a@abcdefghijklmno=1", /* system id of 15 */
        "a=1,a=2",             /* a key twice */
        "a=1, b=2,a=3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ts(bad[i]) == NULL, "accepted: %s", bad[i]);

    /* key lengths: 256 is the longest simple key, 241@14 the longest pair */
    memset(key, 'k', 256);
    strcpy(key + 256, "=v");
    ck_assert_ptr_nonnull(ts(key));
    memset(key, 'k', 257);
    strcpy(key + 257, "=v");
    ck_assert_ptr_null(ts(key));
    memset(key, 't', 241);
    key[241] = '@';
    memset(key + 242, 's', 14);
    strcpy(key + 256, "=v");
    ck_assert_ptr_nonnull(ts(key));
    memset(key, 't', 242);
    key[242] = '@';
    memset(key + 243, 's', 14);
    strcpy(key + 257, "=v");
    ck_assert_ptr_null(ts(key));

    /* values: 256 bytes is the most */
    strcpy(buf, "a=");
    memset(buf + 2, 'v', 256);
    buf[258] = '\0';
    ck_assert_ptr_nonnull(ts(buf));
    strcat(buf, "v");
    ck_assert_ptr_null(ts(buf));

    /* 32 members pass, 33 do not */
    buf[0] = '\0';
    for (int i = 0; i < 32; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%sk%d=v", i ? "," : "",
                 i);
    ck_assert_str_eq(ts(buf), buf);
    strcat(buf, ",k32=v");
    ck_assert_ptr_null(ts(buf));
    /* an empty member does not count */
    buf[strlen(buf) - 6] = '\0';
    strcat(buf, ",,");
    ck_assert_ptr_nonnull(ts(buf));

    /* 512 bytes in all pass, 513 do not (even when each member is valid) */
    snprintf(buf, sizeof(buf), "a=%0254d,b=%0253d", 0, 0);
    ck_assert_uint_eq(strlen(buf), 512);
    ck_assert_ptr_nonnull(ts(buf));
    snprintf(buf, sizeof(buf), "a=%0254d,b=%0254d", 0, 0);
    ck_assert_uint_eq(strlen(buf), 513);
    ck_assert_ptr_null(ts(buf));
    /* the output needs room for the input */
    ck_assert_int_eq(bff_tracestate_normalize("a=1", 3, buf, 3), -1);
    ck_assert_int_eq(bff_tracestate_normalize(NULL, 0, buf, 3), -1);
}
END_TEST

START_TEST(bearer_token)
{
    size_t      n = 99;
    const char *t = bff_bearer_token("Bearer abc.def", &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(memcmp(t, "abc.def", 7), 0);
    t = bff_bearer_token("bEARER\t  tok \t", &n); /* any case, blanks trimmed */
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(t, "tok", 3), 0);
    t = bff_bearer_token("Bearer   ", &n); /* the scheme, no token */
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(bff_bearer_token("Basic dXNlcjpwYXNz", &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(bff_bearer_token("Bearertoken", &n));
    ck_assert_ptr_null(bff_bearer_token("Bearer", &n));
    ck_assert_ptr_null(bff_bearer_token(NULL, &n));
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
    tcase_add_test(tc, tracestate);
    tcase_add_test(tc, bearer_token);
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
