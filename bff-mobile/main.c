/* bff-mobile — the lean BFF for the mobile app: its endpoint table, nothing else */
#include "bff/server.h"
#include "endpoints.h"

int main(int argc, char **argv)
{
    const struct bff_endpoint endpoints[] = {order_screen_endpoint, home_endpoint};

    const struct bff_app app = {
        .name = "bff-mobile",
        .default_config = "bff-mobile/bff-mobile.yaml",
        .endpoints = endpoints,
        .nendpoints = sizeof(endpoints) / sizeof(endpoints[0]),
        /* a phone on bad data: br or gzip, and ETag + If-None-Match -> 304 */
        .encode = BFF_ENCODE_BR | BFF_ENCODE_GZIP | BFF_ENCODE_ETAG,
    };
    return bff_main(&app, argc, argv);
}
