/* core/include/bff/server.h — the process: flags, config, workers, signals */
#ifndef BFF_SERVER_H
#define BFF_SERVER_H

#include <stddef.h>
#include "bff/endpoint.h"

struct bff_app {
    const char                *name;           /* "bff-mobile" */
    const char                *default_config; /* "bff-mobile/bff-mobile.yaml" */
    const struct bff_endpoint *endpoints;
    size_t                     nendpoints;
};

/* The whole program: parses flags (--config, --check-config, --version,
 * --help), loads the config, runs the workers until SIGTERM/SIGINT, drains,
 * and returns the exit status. Call it from main() and return its result. */
int bff_main(const struct bff_app *app, int argc, char **argv);

#endif
