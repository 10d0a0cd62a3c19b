/* core/src/loop/worker.h — one event loop per worker thread, and the listen
 * sockets */
#ifndef BFF_LOOP_WORKER_H
#define BFF_LOOP_WORKER_H

#include <stddef.h>

struct bff_worker;

/* Wakes @w's loop (stop, drain, reload: set the flag first). */
void worker_wake(struct bff_worker *w);
/* Sets up @w (epoll set, timers, curl, Redis, its daemon) and starts its
 * thread. Returns 0 or a negative bff_err. */
int worker_start(struct bff_worker *w);
void *worker_main(void *arg);
/* Parses "host:port" ("127.0.0.1:8080", "localhost:80", "[::1]:8080"),
 * binds and listens. Returns the fd or -1 with a reason in @err. */
int server_listen(const char *hostport, int reuseport, char *err, size_t errlen);
/* The address @fd is bound to, as HOST:PORT ("127.0.0.1:41234",
 * "[::1]:41234"): the real port when the config said 0. Returns 0 or -1. */
int server_bound_addr(int fd, char *out, size_t outlen);

#endif
