/* bff-web — the full BFF for the web dashboard: its endpoint table, nothing else */
#include "bff/server.h"
#include "endpoints.h"

int main(int argc, char **argv)
{
    const struct bff_endpoint endpoints[] = {order_details_endpoint,
                                             customer_orders_endpoint};

    const struct bff_app app = {
        .name = "bff-web",
        .default_config = "bff-web/bff-web.yaml",
        .endpoints = endpoints,
        .nendpoints = sizeof(endpoints) / sizeof(endpoints[0]),
        /* br or gzip for the API and the dashboard's files; no ETag on the API:
         * its answers carry fresh timings, so a tag would never match */
        .encode = BFF_ENCODE_BR | BFF_ENCODE_GZIP,
    };
    return bff_main(&app, argc, argv);
}
