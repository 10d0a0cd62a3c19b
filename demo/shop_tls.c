/* demo/shop_tls.c — mutual TLS for the demo shop's service ports */
#include <gnutls/gnutls.h>

#include "shop_tls.h"

void shop_tls_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    const union MHD_ConnectionInfo *ci;

    (void)socket_context;
    if (cls == NULL || code != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return;
    gnutls_certificate_server_set_request(ci->tls_session, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(ci->tls_session, NULL, 0);
}

int shop_tls_client_ok(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci;
    unsigned int                    status = 1;

    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return ci != NULL && ci->tls_session != NULL &&
           gnutls_certificate_get_peers(ci->tls_session, NULL) != NULL &&
           gnutls_certificate_verify_peers2(ci->tls_session, &status) ==
               GNUTLS_E_SUCCESS &&
           status == 0;
}
