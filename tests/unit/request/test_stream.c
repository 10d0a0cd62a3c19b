/* tests/unit/request/test_stream.c — the bounds of a streamed answer's
 * buffer and of a streamed request body's (request/stream.c): what fits is
 * taken whole and in order, what does not is refused whole (the caller holds
 * its source back), never a byte past the bound. No connection is involved:
 * nothing here waits, so nothing is suspended or resumed. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "request/stream.h"
#include "types/request-t.h"

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (seed + i) % 26);
}

START_TEST(answer_puts_stop_at_the_bound_and_come_out_in_order)
{
    struct bff_request r;
    static char        piece[16384], want[REQ_STREAM_MAX + 16384];
    size_t             put = 0;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(req_stream_open(&r, NULL), 0);
    /* 16 KiB pieces (curl's largest) fit until 64 KiB wait */
    for (unsigned i = 0; i < 4; i++) {
        fill(piece, sizeof(piece), i);
        ck_assert_int_eq(req_stream_put(&r, piece, sizeof(piece)), 0);
        memcpy(want + put, piece, sizeof(piece));
        put += sizeof(piece);
    }
    ck_assert_uint_eq(put, REQ_STREAM_MAX);
    /* one more byte does not: refused whole, nothing taken */
    ck_assert_int_eq(req_stream_put(&r, "x", 1), 1);
    size_t len = 0;
    char  *got = req_stream_take(&r, &len);
    ck_assert_uint_eq(len, REQ_STREAM_MAX);
    ck_assert_int_eq(memcmp(got, want, len), 0);
    free(got);
    /* empty again: a piece of any size fits (it is the one that waits) */
    char *big = malloc(REQ_STREAM_MAX + 1);
    fill(big, REQ_STREAM_MAX + 1, 7);
    ck_assert_int_eq(req_stream_put(&r, big, REQ_STREAM_MAX + 1), 0);
    ck_assert_int_eq(req_stream_put(&r, "x", 1), 1);
    got = req_stream_take(&r, &len);
    ck_assert_uint_eq(len, REQ_STREAM_MAX + 1);
    ck_assert_int_eq(memcmp(got, big, len), 0);
    free(got);
    free(big);
    ck_assert_int_eq(req_stream_began(&r), 0);
    req_stream_done(&r, 0);
    ck_assert_ptr_null(r.stream);
}
END_TEST

START_TEST(upload_takes_what_fits_and_reads_back_in_order)
{
    struct bff_request r;
    static char        in[REQ_UPLOAD_MAX + 1000], out[REQ_UPLOAD_MAX + 1000];
    char               buf[3000];

    memset(&r, 0, sizeof(r));
    fill(in, sizeof(in), 3);
    /* more than the bound offered at once: only the bound is taken */
    size_t took = req_upload_put(&r, in, sizeof(in));
    ck_assert_uint_eq(took, REQ_UPLOAD_MAX);
    ck_assert_uint_eq(req_upload_put(&r, in + took, sizeof(in) - took), 0);
    /* the service reads some: room for the rest, which goes in after it */
    size_t got = 0;
    long   n = req_upload_read(&r, buf, sizeof(buf));
    ck_assert_int_eq(n, (long)sizeof(buf));
    memcpy(out, buf, (size_t)n);
    got += (size_t)n;
    ck_assert_uint_eq(req_upload_put(&r, in + took, sizeof(in) - took), 1000);
    while ((n = req_upload_read(&r, buf, sizeof(buf))) > 0) {
        ck_assert_uint_le(got + (size_t)n, sizeof(out));
        memcpy(out + got, buf, (size_t)n);
        got += (size_t)n;
    }
    /* empty, the body not over yet: "none now"; then its end */
    ck_assert_int_eq(n, -1);
    ck_assert_uint_eq(got, sizeof(in));
    ck_assert_int_eq(memcmp(in, out, got), 0);
    ck_assert_uint_eq(r.body_len_total, sizeof(in));
    r.upload_done = 1;
    ck_assert_int_eq(req_upload_read(&r, buf, sizeof(buf)), 0);
    free(r.body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, answer_puts_stop_at_the_bound_and_come_out_in_order);
    tcase_add_test(tc, upload_takes_what_fits_and_reads_back_in_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
