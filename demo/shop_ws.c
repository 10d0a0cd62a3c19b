/* demo/shop_ws.c — the orders service's WebSocket (shop_ws.h)
 *
 * A session is blocking code on the connection's thread, which
 * libmicrohttpd gives to the upgrade handler in thread-per-connection
 * mode. Frames up to SHOP_WS_MAX bytes (1009 past it); a client frame that
 * is not masked is a protocol error (1002). No extension is negotiated. */
#include "shop_ws.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#define SHOP_WS_MAX (1u << 20)
#define SHOP_WS_IDLE_MS 600000 /* a silent session ends after 10 min */
#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static atomic_int stopping;

static int has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    while (list && *list) {
        while (*list == ' ' || *list == '\t' || *list == ',')
            list++;
        const char *s = list;
        while (*list && *list != ',')
            list++;
        const char *e = list;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == n && strncasecmp(s, tok, n) == 0)
            return 1;
    }
    return 0;
}

int shop_ws_wanted(struct MHD_Connection *c, const char *path)
{
    return strcmp(path, "/live") == 0 &&
           has_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade"),
                     "websocket");
}

/* Waits for @fd to be readable (@ms at most, in slices that watch the stop
 * flag). Returns 1 ready, 0 timed out or stopping, -1 error. */
static int wait_in(int fd, int ms)
{
    while (ms > 0 && !atomic_load(&stopping)) {
        struct pollfd p = {fd, POLLIN, 0};
        int           rc = poll(&p, 1, ms < 200 ? ms : 200);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
        ms -= 200;
    }
    return 0;
}

static int read_full(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (wait_in(fd, SHOP_WS_IDLE_MS) != 1)
            return -1;
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k == 0)
            return -1;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const unsigned char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, buf + done, n - done, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd p = {fd, POLLOUT, 0};
                if (poll(&p, 1, 1000) <= 0)
                    return -1;
                continue;
            }
            return -1;
        }
        done += (size_t)k;
    }
    return 0;
}

/* One unmasked frame (the server's side), FIN as @fin; in one send when
 * small (a frame in two would wait for the peer's delayed ACK). */
static int send_frame(int fd, int opcode, int fin, const unsigned char *p, size_t n)
{
    unsigned char h[10 + 4096];
    size_t        hl = 2;
    h[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    if (n <= sizeof(h) - hl) {
        if (n)
            memcpy(h + hl, p, n);
        return write_full(fd, h, hl + n);
    }
    return write_full(fd, h, hl) || write_full(fd, p, n) ? -1 : 0;
}

static void send_close(int fd, unsigned code, const char *reason)
{
    unsigned char b[125];
    size_t        rl = strlen(reason) > 120 ? 120 : strlen(reason);
    b[0] = (unsigned char)(code >> 8);
    b[1] = (unsigned char)code;
    memcpy(b + 2, reason, rl);
    send_frame(fd, 0x8, 1, b, 2 + rl);
}

static void session(int fd, const char *user, const char *extra, size_t nextra)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char           hello[256];
    unsigned char *buf = malloc(SHOP_WS_MAX);
    int            n = snprintf(hello, sizeof hello,
                                "{\"type\":\"notification\",\"event\":\"connected\","
                                           "\"user_id\":\"%s\"}",
                                user);

    (void)extra;
    if (!buf || nextra) { /* a client that did not wait for the 101: not served */
        free(buf);
        return;
    }
    if (send_frame(fd, 0x1, 1, (const unsigned char *)hello, (size_t)n) != 0) {
        free(buf);
        return;
    }
    for (;;) {
        unsigned char h[14];
        if (read_full(fd, h, 2) != 0)
            break;
        int      fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            if (read_full(fd, h + 2, 2) != 0)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
        } else if (len == 127) {
            if (read_full(fd, h + 2, 8) != 0)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
        }
        if (!masked) {
            send_close(fd, 1002, "client frames are masked");
            break;
        }
        if (len > SHOP_WS_MAX) {
            send_close(fd, 1009, "too big");
            break;
        }
        unsigned char mask[4];
        if (read_full(fd, mask, 4) != 0 ||
            (len && read_full(fd, buf, (size_t)len) != 0))
            break;
        for (uint64_t i = 0; i < len; i++)
            buf[i] ^= mask[i % 4];
        if (op == 0x8) { /* close: answered with its code, then done */
            if (len >= 2)
                send_frame(fd, 0x8, 1, buf, 2);
            else
                send_frame(fd, 0x8, 1, NULL, 0);
            break;
        }
        if (op == 0x9) {
            if (send_frame(fd, 0xA, 1, buf, (size_t)len) != 0)
                break;
            continue;
        }
        if (op == 0xA)
            continue;
        if (op == 0x1 && fin && len == 5 && memcmp(buf, "close", 5) == 0) {
            send_close(fd, 1000, "closed by the service");
            break;
        }
        if (op > 0x2) {
            send_close(fd, 1002, "unknown opcode");
            break;
        }
        if (send_frame(fd, op, fin, buf, (size_t)len) != 0) /* the echo */
            break;
    }
    shutdown(fd, SHUT_WR);
    free(buf);
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls,
                       const char *extra, size_t nextra, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    char *user = cls;
    (void)c, (void)con_cls;
    session(sock, user, extra, nextra);
    free(user);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status,
                              const char *why)
{
    char                 body[160];
    int                  n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", why);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 426)
        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result shop_ws_answer(struct MHD_Connection *c, const char *user_id)
{
    const char *key =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *ver =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen = 0;
    char          cat[128], accept[32], *user;

    if (!key || strlen(key) != 24)
        return refuse(c, 400, "bad_websocket_key");
    if (!ver || strcmp(ver, "13") != 0)
        return refuse(c, 426, "websocket_version_13");
    for (const char *p = user_id; p && *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return refuse(c, 400, "bad_user_id");
    if (user_id && strlen(user_id) > 100)
        return refuse(c, 400, "bad_user_id");
    snprintf(cat, sizeof cat, "%s%s", key, GUID);
    if (EVP_Digest(cat, strlen(cat), md, &mdlen, EVP_sha1(), NULL) != 1)
        return MHD_NO;
    EVP_EncodeBlock((unsigned char *)accept, md, (int)mdlen);
    user = strdup(user_id ? user_id : "anonymous");
    if (!user)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, user);
    if (!r) {
        free(user);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Upgrade", "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    if (ret != MHD_YES)
        free(user); /* never upgraded: the handler will not run */
    return ret;
}

void shop_ws_stop(void)
{
    atomic_store(&stopping, 1);
}
