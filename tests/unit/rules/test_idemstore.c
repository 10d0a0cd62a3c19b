/* tests/unit/rules/test_idemstore.c — the packed answer and the bounded
 * memory store of Idempotency-Key (core/src/rules/idemstore.h), with an
 * injected clock */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/idemstore.h"

static const uint8_t sha_a[IDEM_SHA_LEN] = {1};
static const uint8_t sha_b[IDEM_SHA_LEN] = {2};

static char *pack(const char *body, size_t *len)
{
    struct bff_hdr h[] = {{"Location", "/orders/o-1"}, {"ETag", "\"v1\""}};
    return idem_pack(201, "application/json", body, strlen(body), h, 2, len);
}

START_TEST(pack_and_unpack_round_trip)
{
    size_t               len = 0;
    char                *p = pack("{\"id\":\"o-1\"}\0tail", &len);
    struct idem_unpacked u;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(idem_unpack(p, len, &u), 0);
    ck_assert_int_eq(u.status, 201);
    ck_assert_str_eq(u.content_type, "application/json");
    ck_assert_uint_eq(u.nhdrs, 2);
    ck_assert_str_eq(u.hdrs[0].name, "Location");
    ck_assert_str_eq(u.hdrs[0].value, "/orders/o-1");
    ck_assert_str_eq(u.hdrs[1].value, "\"v1\"");
    ck_assert_uint_eq(u.body_len, strlen("{\"id\":\"o-1\"}"));
    ck_assert_mem_eq(u.body, "{\"id\":\"o-1\"}", u.body_len);
    /* cut short, or bytes added: not an answer */
    ck_assert_int_eq(idem_unpack(p, len - 1, &u), -1);
    ck_assert_int_eq(idem_unpack(p, 10, &u), -1);
    ck_assert_int_eq(idem_unpack("PI1 200 99 0\n", 13, &u), -1);
    ck_assert_int_eq(idem_unpack("HTTP/1.1 200\n", 13, &u), -1);
    free(p);
    /* a binary body with NULs, no content type */
    static const char bin[] = {'a', 0, 'b', 0};
    p = idem_pack(200, NULL, bin, sizeof(bin), NULL, 0, &len);
    ck_assert_int_eq(idem_unpack(p, len, &u), 0);
    ck_assert_ptr_null(u.content_type);
    ck_assert_uint_eq(u.body_len, 4);
    ck_assert_mem_eq(u.body, bin, 4);
    free(p);
}
END_TEST

START_TEST(claim_conflict_replay_mismatch)
{
    struct idem_store *st = idem_store_new(100, 1 << 20);
    char              *ans = NULL;
    size_t             alen = 0, len = 0;

    ck_assert_int_eq(idem_store_claim(st, "k", sha_a, 0, 1000, &ans, &alen), IDEM_NEW);
    ck_assert_int_eq(idem_store_claim(st, "k", sha_a, 1, 1000, &ans, &alen),
                     IDEM_CONFLICT);
    ck_assert_int_eq(idem_store_claim(st, "k", sha_b, 1, 1000, &ans, &alen),
                     IDEM_MISMATCH);
    char *p = pack("x", &len);
    ck_assert_int_eq(idem_store_keep(st, "k", p, len, 2, 5000), 0);
    ck_assert_int_eq(idem_store_claim(st, "k", sha_a, 3, 1000, &ans, &alen), IDEM_REPLAY);
    ck_assert_uint_eq(alen, len);
    free(ans);
    ck_assert_int_eq(idem_store_claim(st, "k", sha_b, 3, 1000, &ans, &alen),
                     IDEM_MISMATCH);
    /* another key is another request */
    ck_assert_int_eq(idem_store_claim(st, "k2", sha_a, 3, 1000, &ans, &alen), IDEM_NEW);
    /* a released claim can be made again */
    idem_store_release(st, "k2");
    ck_assert_int_eq(idem_store_claim(st, "k2", sha_a, 4, 1000, &ans, &alen), IDEM_NEW);
    /* release never drops a kept answer */
    idem_store_release(st, "k");
    ck_assert_int_eq(idem_store_claim(st, "k", sha_a, 5, 1000, &ans, &alen), IDEM_REPLAY);
    free(ans);
    /* the ttl passes: forgotten */
    ck_assert_int_eq(idem_store_claim(st, "k", sha_a, 5002, 1000, &ans, &alen), IDEM_NEW);
    /* a lost claim's lease passes too */
    ck_assert_int_eq(idem_store_claim(st, "k2", sha_a, 5004, 1000, &ans, &alen), IDEM_NEW);
    idem_store_free(st);
}
END_TEST

START_TEST(bounded_by_entries_oldest_kept_first_claims_never)
{
    struct idem_store *st = idem_store_new(3, 1 << 20);
    char              *ans = NULL, key[8];
    size_t             alen = 0, len = 0, n;
    uint64_t           bytes;

    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(idem_store_claim(st, key, sha_a, 10, 1000, &ans, &alen), IDEM_NEW);
        ck_assert_int_eq(idem_store_keep(st, key, pack("x", &len), len, 10 + i, 100000), 0);
    }
    /* full: a new claim drops the oldest kept answer (k0) */
    ck_assert_int_eq(idem_store_claim(st, "k3", sha_a, 20, 1000, &ans, &alen), IDEM_NEW);
    ck_assert_int_eq(idem_store_claim(st, "k0", sha_b, 21, 1000, &ans, &alen), IDEM_NEW);
    idem_store_usage(st, &n, &bytes);
    ck_assert_uint_eq(n, 3);
    /* k1 went for k0's claim; k2 is still kept */
    ck_assert_int_eq(idem_store_claim(st, "k2", sha_a, 22, 1000, &ans, &alen), IDEM_REPLAY);
    free(ans);
    /* k5 takes k2's room (the last kept answer): k3, k0, k5 are in flight */
    ck_assert_int_eq(idem_store_claim(st, "k5", sha_a, 23, 1000, &ans, &alen), IDEM_NEW);
    /* every entry a claim in flight: no room, a store error */
    ck_assert_int_eq(idem_store_claim(st, "k6", sha_a, 24, 1000, &ans, &alen), IDEM_FULL);
    ck_assert_int_eq(idem_store_claim(st, "k3", sha_a, 24, 1000, &ans, &alen),
                     IDEM_CONFLICT);
    idem_store_free(st);
}
END_TEST

START_TEST(bounded_by_bytes)
{
    struct idem_store *st = idem_store_new(1000, 4096);
    char              *ans = NULL, key[8], big[1500];
    size_t             alen = 0, len = 0, n;
    uint64_t           bytes;

    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(idem_store_claim(st, key, sha_a, 10, 1000, &ans, &alen), IDEM_NEW);
        ck_assert_int_eq(
            idem_store_keep(st, key, idem_pack(200, NULL, big, 1499, NULL, 0, &len), len,
                            10, 100000),
            0);
        idem_store_usage(st, &n, &bytes);
        ck_assert_uint_le(bytes, 4096);
    }
    ck_assert_uint_le(n, 2);
    /* the youngest is kept, the oldest gone */
    ck_assert_int_eq(idem_store_claim(st, "k9", sha_a, 11, 1000, &ans, &alen), IDEM_REPLAY);
    free(ans);
    ck_assert_int_eq(idem_store_claim(st, "k0", sha_a, 11, 1000, &ans, &alen), IDEM_NEW);
    /* an answer larger than the whole store is not kept; its claim goes */
    char *huge = malloc(8192);
    memset(huge, 'h', 8192);
    ck_assert_int_eq(idem_store_keep(st, "k0", huge, 8192, 12, 100000), -1);
    ck_assert_int_eq(idem_store_claim(st, "k0", sha_b, 13, 1000, &ans, &alen), IDEM_NEW);
    idem_store_free(st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("idemstore");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, pack_and_unpack_round_trip);
    tcase_add_test(tc, claim_conflict_replay_mismatch);
    tcase_add_test(tc, bounded_by_entries_oldest_kept_first_claims_never);
    tcase_add_test(tc, bounded_by_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
