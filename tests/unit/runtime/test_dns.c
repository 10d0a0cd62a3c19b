/* tests/unit/runtime/test_dns.c — the DNS wire format of the endpoint
 * resolver (core/src/runtime/dns.h): the query, answers with compressed
 * names, CNAME before A, NXDOMAIN, SERVFAIL, cut and hostile answers */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/dns.h"

/* An answer to query @id for "a.test" (question copied from the query)
 * with @n records; each record is given as raw bytes after the name. */
static size_t answer(uint8_t *m, uint16_t id, int rcode, int nan)
{
    size_t ql = (size_t)dns_query_a("a.test", id, m, 512);
    m[2] = 0x81; /* QR, RD */
    m[3] = (uint8_t)(0x80 | rcode);
    m[7] = (uint8_t)nan;
    return ql;
}

static size_t add_a(uint8_t *m, size_t off, const char *ip)
{
    static const uint8_t head[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
    memcpy(m + off, head, sizeof(head));
    inet_pton(AF_INET, ip, m + off + sizeof(head));
    return off + sizeof(head) + 4;
}

START_TEST(query_is_one_question_for_a_records)
{
    uint8_t q[300];
    int     n = dns_query_a("orders.shop.test", 0x1234, q, sizeof(q));
    ck_assert_int_eq(n, 12 + 18 + 4);
    ck_assert_uint_eq(q[0], 0x12);
    ck_assert_uint_eq(q[1], 0x34);
    ck_assert_uint_eq(q[2], 0x01); /* RD */
    ck_assert_uint_eq(q[5], 1);
    ck_assert_int_eq(memcmp(q + 12, "\006orders\004shop\004test\000", 18), 0);
    ck_assert_int_eq(memcmp(q + 30, "\000\001\000\001", 4), 0);
    ck_assert_int_eq(dns_query_a("", 1, q, sizeof(q)), -1);
    ck_assert_int_eq(dns_query_a("a..b", 1, q, sizeof(q)), -1);
    char long_label[80];
    memset(long_label, 'x', 70);
    long_label[70] = '\0';
    ck_assert_int_eq(dns_query_a(long_label, 1, q, sizeof(q)), -1);
    ck_assert_int_eq(dns_query_a("a.test", 1, q, 10), -1);
}
END_TEST

START_TEST(answers_give_sorted_unique_addresses)
{
    uint8_t  m[512];
    uint32_t a[16];
    size_t   off = answer(m, 7, 0, 3);
    off = add_a(m, off, "127.0.0.3");
    off = add_a(m, off, "127.0.0.2");
    off = add_a(m, off, "127.0.0.3");
    ck_assert_int_eq(dns_parse_a(m, off, 7, a, 16), 2);
    ck_assert_uint_eq(ntohl(a[0]), 0x7f000002);
    ck_assert_uint_eq(ntohl(a[1]), 0x7f000003);
    ck_assert_int_eq(dns_parse_a(m, off, 8, a, 16), -1); /* not our id */
    ck_assert_int_eq(dns_parse_a(m, off, 7, a, 1), 1);   /* the cap */
}
END_TEST

START_TEST(a_cname_before_the_a_record_is_skipped)
{
    uint8_t  m[512];
    uint32_t a[16];
    size_t   off = answer(m, 9, 0, 2);
    /* CNAME: name pointer, type 5, class 1, ttl, rdlen 4, "\001b\300\014" */
    static const uint8_t cname[] = {0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4,
                                    1,    'b',  0xc0, 0x0c};
    memcpy(m + off, cname, sizeof(cname));
    off += sizeof(cname);
    off = add_a(m, off, "10.0.0.9");
    ck_assert_int_eq(dns_parse_a(m, off, 9, a, 16), 1);
    ck_assert_uint_eq(ntohl(a[0]), 0x0a000009);
}
END_TEST

START_TEST(nxdomain_servfail_and_no_record)
{
    uint8_t  m[512];
    uint32_t a[16];
    size_t   off = answer(m, 3, 3, 0);
    ck_assert_int_eq(dns_parse_a(m, off, 3, a, 16), 0);
    off = answer(m, 3, 2, 0);
    ck_assert_int_eq(dns_parse_a(m, off, 3, a, 16), -1);
    off = answer(m, 3, 5, 0); /* REFUSED */
    ck_assert_int_eq(dns_parse_a(m, off, 3, a, 16), -1);
    off = answer(m, 3, 0, 0);
    ck_assert_int_eq(dns_parse_a(m, off, 3, a, 16), 0);
    m[2] = 0x01; /* a query, not an answer */
    ck_assert_int_eq(dns_parse_a(m, off, 3, a, 16), -1);
}
END_TEST

START_TEST(cut_and_hostile_answers_stay_in_bounds)
{
    uint8_t  m[512];
    uint32_t a[16];
    size_t   off = answer(m, 4, 0, 2);
    size_t   one = add_a(m, off, "127.0.0.2");
    size_t   two = add_a(m, one, "127.0.0.3");
    /* every cut of the message: exactly the records that are whole, never a
     * crash (none before the first ends, one until the second ends) */
    for (size_t len = 0; len <= two; len++) {
        int n = dns_parse_a(m, len, 4, a, 16);
        ck_assert_int_eq(n < 0 ? 0 : n, len < one ? 0 : len < two ? 1 : 2);
    }
    /* a record whose rdlength runs past the end: the ones before it count */
    m[two - 5] = 0xff;
    ck_assert_int_eq(dns_parse_a(m, two, 4, a, 16), 1);
    m[one - 5] = 0xff;
    ck_assert_int_eq(dns_parse_a(m, two, 4, a, 16), 0);
    /* a name that points at itself */
    off = answer(m, 5, 0, 1);
    m[off] = 0xc0;
    m[off + 1] = (uint8_t)off;
    ck_assert_int_eq(dns_parse_a(m, off + 2, 5, a, 16), 0);
    /* a question whose name never ends */
    off = answer(m, 6, 0, 1);
    memset(m + 12, 5, off - 12);
    ck_assert_int_eq(dns_parse_a(m, off, 6, a, 16), -1);
    /* 255 answers announced, none there */
    off = answer(m, 7, 0, 255);
    ck_assert_int_eq(dns_parse_a(m, off, 7, a, 16), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("dns");
    tcase_add_test(tc, query_is_one_question_for_a_records);
    tcase_add_test(tc, answers_give_sorted_unique_addresses);
    tcase_add_test(tc, a_cname_before_the_a_record_is_skipped);
    tcase_add_test(tc, nxdomain_servfail_and_no_record);
    tcase_add_test(tc, cut_and_hostile_answers_stay_in_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
