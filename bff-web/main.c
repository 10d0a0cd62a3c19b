/* bff-web — the full BFF for the web dashboard: its endpoint table, nothing else */
#include "bff/server.h"
#include "endpoints.h"

int main(int argc, char **argv)
{
    const struct bff_endpoint endpoints[] = {order_details_endpoint};
    const struct bff_app      app = {
        .name = "bff-web",
        .default_config = "bff-web/bff-web.yaml",
        .endpoints = endpoints,
        .nendpoints = sizeof(endpoints) / sizeof(endpoints[0]),
    };
    return bff_main(&app, argc, argv);
}
