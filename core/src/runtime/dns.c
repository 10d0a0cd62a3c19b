/* core/src/runtime/dns.c — A-record look-ups (runtime/dns.h): a minimal DNS
 * client over UDP (RFC 1035: one question, recursion desired, answers read
 * for type A class IN, names compressed or not) for resolver:, and
 * getaddrinfo otherwise. A truncated answer (TC) is used as far as it goes;
 * TCP is never tried. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "bff/util.h"
#include "runtime/dns.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = ntohl(*(const uint32_t *)a), y = ntohl(*(const uint32_t *)b);
    return x < y ? -1 : x > y;
}

/* Sorts @a and drops duplicates; returns the count left. */
static size_t uniq(uint32_t *a, size_t n)
{
    size_t k = 0;
    qsort(a, n, sizeof(*a), cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || a[k - 1] != a[i])
            a[k++] = a[i];
    return k;
}

static int by_getaddrinfo(const char *host, uint32_t *out, size_t cap)
{
    struct addrinfo hints = {0}, *res = NULL;
    size_t          n = 0;

    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_NODATA)
        return 0;
    if (rc != 0)
        return -1;
    for (struct addrinfo *a = res; a && n < cap; a = a->ai_next)
        out[n++] = ((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr;
    freeaddrinfo(res);
    return (int)uniq(out, n);
}

int dns_query_a(const char *host, uint16_t id, uint8_t *q, size_t cap)
{
    size_t n = 12, hl = strlen(host);
    if (hl == 0 || hl > 253 || 12 + hl + 2 + 4 > cap)
        return -1;
    memset(q, 0, 12);
    q[0] = (uint8_t)(id >> 8);
    q[1] = (uint8_t)id;
    q[2] = 0x01; /* RD */
    q[5] = 1;    /* QDCOUNT */
    for (const char *p = host; *p;) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63)
            return -1;
        q[n++] = (uint8_t)l;
        memcpy(q + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = 1; /* type A */
    q[n++] = 0, q[n++] = 1; /* class IN */
    return (int)n;
}

/* Skips the name at @off in @m (@len bytes); returns the offset after it or -1. */
static long skip_name(const uint8_t *m, size_t len, size_t off)
{
    for (int hops = 0; off < len && hops < 128; hops++) {
        uint8_t l = m[off];
        if (l == 0)
            return (long)off + 1;
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? (long)off + 2 : -1;
        if (l & 0xc0)
            return -1;
        off += 1u + l;
    }
    return -1;
}

int dns_parse_a(const uint8_t *m, size_t len, uint16_t id, uint32_t *out, size_t cap)
{
    if (len < 12 || ((m[0] << 8) | m[1]) != id || !(m[2] & 0x80))
        return -1;
    int rcode = m[3] & 0x0f;
    if (rcode == 3)
        return 0; /* NXDOMAIN */
    if (rcode != 0)
        return -1; /* SERVFAIL, REFUSED, ...: ask the next server */
    unsigned qd = (unsigned)(m[4] << 8 | m[5]), an = (unsigned)(m[6] << 8 | m[7]);
    long     off = 12;
    for (unsigned i = 0; i < qd; i++) {
        off = skip_name(m, len, (size_t)off);
        if (off < 0 || (size_t)off + 4 > len)
            return -1;
        off += 4;
    }
    size_t n = 0;
    for (unsigned i = 0; i < an; i++) {
        off = skip_name(m, len, (size_t)off);
        if (off < 0 || (size_t)off + 10 > len)
            break;
        const uint8_t *r = m + off;
        unsigned       type = (unsigned)(r[0] << 8 | r[1]), cls = (unsigned)(r[2] << 8 | r[3]);
        size_t         rdlen = (size_t)(r[8] << 8 | r[9]);
        off += 10;
        if ((size_t)off + rdlen > len)
            break;
        if (type == 1 && cls == 1 && rdlen == 4 && n < cap)
            memcpy(&out[n++], m + off, 4);
        off += (long)rdlen;
    }
    return (int)uniq(out, n);
}

static int ask(const struct sockaddr_in *server, const char *host, uint32_t *out,
               size_t cap)
{
    uint8_t  q[300], a[1500];
    uint16_t id;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    id = (uint16_t)(ts.tv_nsec ^ (ts.tv_nsec >> 16) ^ getpid());
    int ql = dns_query_a(host, id, q, sizeof(q));
    if (ql < 0)
        return 0; /* not a name DNS can carry */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (connect(fd, (const struct sockaddr *)server, sizeof(*server)) != 0 ||
        send(fd, q, (size_t)ql, 0) != ql)
        goto out;
    uint64_t end = bff_now_ms() + DNS_TIMEOUT_MS;
    for (;;) {
        uint64_t now = bff_now_ms();
        if (now >= end)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        int           pr = poll(&p, 1, (int)(end - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t n = recv(fd, a, sizeof(a), 0);
        if (n < 0)
            break; /* ECONNREFUSED: nothing listens there */
        rc = dns_parse_a(a, (size_t)n, id, out, cap);
        if (rc >= 0 || ((a[0] << 8) | a[1]) == id)
            break; /* an answer to us (a stray datagram is skipped) */
    }
out:
    close(fd);
    return rc;
}

int dns_lookup_a(const char *host, const struct sockaddr_in *servers, size_t nservers,
                 uint32_t *out, size_t cap)
{
    if (nservers == 0)
        return by_getaddrinfo(host, out, cap);
    for (size_t i = 0; i < nservers; i++) {
        int n = ask(&servers[i], host, out, cap);
        if (n >= 0)
            return n;
    }
    return -1;
}
