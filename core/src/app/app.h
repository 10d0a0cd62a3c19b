/* core/src/app/app.h — the top layer's own parts, for each other */
#ifndef BFF_APP_APP_H
#define BFF_APP_APP_H

#include <stdio.h>

struct bff_server;

/* Loads the config file again into a new snapshot and installs it, or
 * rejects it (counted, logged, kept for /admin/config, written to @err when
 * not NULL) and keeps the one in force. One reload at a time. Returns 0 or
 * a negative bff_err. */
int app_reload(struct bff_server *srv, FILE *err);
/* Starts the admin listener on @fd (its own thread). Returns 0 or BFF_EIO. */
int admin_start(struct bff_server *srv, int fd);

#ifndef BFF_VERSION /* meson passes project().version */
#define BFF_VERSION "0.1.0"
#endif

#endif
