/* bench/encode-cpu.c — bytes and CPU per answer of the core's encoders
 * (encode_gzip, encode_br_with from core/src/handlers/encode.c) on bodies
 * given as files: what bench/encoding.sh measures brotli's quality and
 * window with. Usage: encode-cpu [-n ITER] NAME=FILE...
 * One row per body and setting: name, coding, quality, lgwin, bytes, µs of
 * CPU per answer (this thread's CPU clock, the median of 5 rounds of ITER
 * encodings each). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bff/util.h"
#include "handlers/encode.h"

#define ROUNDS 5

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* quality -1: gzip (level 6, as encode_gzip) */
static void row(const char *name, const char *body, size_t len, int quality, int lgwin,
                int iter)
{
    double us[ROUNDS];
    size_t zlen = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_us();
        for (int i = 0; i < iter; i++) {
            char *z = NULL;
            int   rc = quality < 0 ? encode_gzip(body, len, &z, &zlen)
                                   : encode_br_with(body, len, quality, lgwin, &z, &zlen);
            if (rc != 0) {
                fprintf(stderr, "encode-cpu: %s: error %d\n", name, rc);
                exit(1);
            }
            free(z);
        }
        us[r] = (now_us() - t0) / iter;
    }
    qsort(us, ROUNDS, sizeof(us[0]), cmp);
    if (quality < 0)
        printf("%s\tgzip\t6\t15\t%zu\t%.1f\n", name, zlen, us[ROUNDS / 2]);
    else
        printf("%s\tbr\t%d\t%d\t%zu\t%.1f\n", name, quality, lgwin, zlen,
               us[ROUNDS / 2]);
}

int main(int argc, char **argv)
{
    static const int qualities[] = {1, 4, 5, 6, 9, 11};
    static const int windows[] = {16, 22};
    int              iter = 2000, a = 1;

    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        iter = atoi(argv[2]);
        a = 3;
    }
    if (a >= argc || iter < 1) {
        fprintf(stderr, "usage: encode-cpu [-n ITER] NAME=FILE...\n");
        return 2;
    }
    printf("body\tcoding\tquality\tlgwin\tbytes\tcpu_us\n");
    for (; a < argc; a++) {
        char       *eq = strchr(argv[a], '='), *body = NULL;
        size_t      len = 0;
        const char *name = argv[a];
        if (!eq) {
            fprintf(stderr, "encode-cpu: %s: want NAME=FILE\n", argv[a]);
            return 2;
        }
        *eq = '\0';
        if (bff_read_file(eq + 1, 16 << 20, &body, &len) != 0) {
            fprintf(stderr, "encode-cpu: cannot read %s\n", eq + 1);
            return 1;
        }
        printf("%s\tidentity\t-\t-\t%zu\t0\n", name, len);
        row(name, body, len, -1, 0, iter);
        for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++)
            for (size_t q = 0; q < sizeof(qualities) / sizeof(qualities[0]); q++)
                row(name, body, len, qualities[q], windows[w],
                    qualities[q] >= 9 ? (iter / 10 > 0 ? iter / 10 : 1) : iter);
        free(body);
    }
    return 0;
}
