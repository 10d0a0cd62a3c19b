/* tests/unit/handlers/test_websocket.c — the handshake's key
 * (core/src/handlers/websocket.c): Sec-WebSocket-Accept as RFC 6455
 * computes it. The splice itself is tested end to end (tests/ws/). */
#include <check.h>
#include <string.h>

#include "handlers/websocket.h"

START_TEST(accept_is_rfc6455s_example)
{
    char out[29];
    /* RFC 6455 §1.3 */
    ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ck_assert_uint_eq(strlen(out), 28);
}
END_TEST

START_TEST(accept_differs_with_the_key)
{
    char a[29], b[29];
    ck_assert_int_eq(ws_accept_key("AQIDBAUGBwgJCgsMDQ4PEA==", a), 0);
    ck_assert_int_eq(ws_accept_key("AQIDBAUGBwgJCgsMDQ4PEQ==", b), 0);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(accept_refuses_a_key_too_long_to_hash_here)
{
    char key[200], out[29];
    memset(key, 'A', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    ck_assert_int_eq(ws_accept_key(key, out), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("websocket");
    TCase *t = tcase_create("accept");
    tcase_add_test(t, accept_is_rfc6455s_example);
    tcase_add_test(t, accept_differs_with_the_key);
    tcase_add_test(t, accept_refuses_a_key_too_long_to_hash_here);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
