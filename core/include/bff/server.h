/* core/include/bff/server.h — the process: flags, config, workers, signals */
#ifndef BFF_SERVER_H
#define BFF_SERVER_H

#include <stddef.h>
#include "bff/endpoint.h"

struct bff_app {
    const char                *name;           /* "bff-mobile" */
    const char                *default_config; /* "bff-mobile/bff-mobile.yaml":
                                                  used when it exists, else
                                                  SYSCONFDIR/portico/ + its
                                                  file name (installed) */
    const struct bff_endpoint *endpoints;
    size_t                     nendpoints;
    unsigned                   encode; /* BFF_ENCODE_* for every handler and
                                          static route (bff/endpoint.h); 0 = none */
};

/* The whole program: parses flags (--config, --check-config, --version,
 * --help), loads the config, runs the workers until SIGTERM/SIGINT, drains,
 * and returns the exit status (0; 1 for a config that does not load or a
 * listener that does not start; 2 for bad flags). Call it once, from main(),
 * and return its result.
 * @app, its endpoints and every string in them must stay valid until it
 * returns (main's locals do; the core keeps pointers to the endpoints). The
 * endpoint names must match the YAML's `handler:` names; a route naming a
 * handler that is not in the table, or an endpoint whose services are not
 * all under services:, fails config validation. The calling thread blocks
 * SIGHUP, SIGTERM, SIGINT and SIGPIPE and waits for them; the worker and
 * admin threads it starts inherit that mask. */
int bff_main(const struct bff_app *app, int argc, char **argv);

#endif
