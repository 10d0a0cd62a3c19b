/* core/src/util.c — clocks, constant-time compare, hex, files, error names */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "bff/err.h"
#include "bff/util.h"

const char *bff_strerror(int err)
{
    switch (err) {
    case BFF_OK: return "success";
    case BFF_ENOMEM: return "out of memory";
    case BFF_EINVAL: return "invalid input";
    case BFF_ERANGE: return "out of range";
    case BFF_ENOENT: return "not found";
    case BFF_EIO: return "input/output error";
    case BFF_EAUTH: return "refused";
    case BFF_ETIMEDOUT: return "timed out";
    case BFF_EBUSY: return "busy";
    }
    return "unknown error";
}

uint64_t bff_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t bff_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t bff_unix_now(void)
{
    return (int64_t)time(NULL);
}

int bff_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void bff_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int bff_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int         rc = BFF_EIO;
    char       *buf = NULL;
    size_t      got = 0;
    struct stat st;
    int         fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return BFF_EIO;
    if (fstat(fd, &st) != 0)
        goto out;
    if ((uint64_t)st.st_size > max) {
        rc = BFF_ERANGE;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = BFF_ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    if (len)
        *len = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

int bff_buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n,
                   size_t first_cap)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : first_cap;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            return BFF_ENOMEM;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}
