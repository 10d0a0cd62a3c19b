/* core/src/request/upgrade.c — 101 answers and upgraded connections
 * (request/upgrade.h) */
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "bff/err.h"
#include "request/request.h"
#include "request/upgrade.h"
#include "types/worker-t.h"

struct upgrade_ctx {
    req_upgraded_fn fn;
    void           *cls;
};

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
                        const char *extra, size_t nextra, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    struct upgrade_ctx             *u = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    (void)con_cls;
    /* libmicrohttpd turns Nagle back on at the upgrade: a frame written in
     * two sends would wait for the client's delayed ACK. On HTTPS @sock is
     * a socket pair; the client's own socket is the connection's. */
    if (ci)
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    u->fn(u->cls, sock, extra, nextra, urh);
}

int req_respond_upgrade(struct bff_request *r, const struct bff_hdr *hdrs, size_t nhdrs,
                        req_upgraded_fn fn, void *cls)
{
    struct upgrade_ctx  *u;
    struct MHD_Response *resp;

    if (r->answered)
        return BFF_EINVAL;
    u = bff_arena_alloc(&r->arena, sizeof(*u));
    if (!u)
        return BFF_ENOMEM;
    u->fn = fn;
    u->cls = cls;
    resp = MHD_create_response_for_upgrade(on_upgraded, u);
    if (!resp)
        return BFF_ENOMEM;
    req_response_headers(r, resp, NULL, hdrs, nhdrs);
    /* no Connection: close while draining: an upgrade cannot carry it */
    req_set_answer(r, resp, MHD_HTTP_SWITCHING_PROTOCOLS, 0);
    return 0;
}

void req_upgrade_close(struct bff_request *r, void *handle)
{
    MHD_upgrade_action(handle, MHD_UPGRADE_ACTION_CLOSE);
    /* libmicrohttpd's own epoll fd does not fire for it: run it this turn */
    r->w->mhd_resumed = 1;
}
