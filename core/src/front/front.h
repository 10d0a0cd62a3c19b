/* core/src/front/front.h — the libmicrohttpd front of a worker */
#ifndef BFF_FRONT_FRONT_H
#define BFF_FRONT_FRONT_H

#include <stddef.h>

struct bff_worker;
struct bff_snapshot;
struct MHD_Connection;

/* Finished requests are kept per worker for the next ones (at most
 * REQ_POOL_MAX, each with one arena chunk of at most REQ_ARENA_KEEP bytes). */
#define REQ_POOL_MAX 64
#define REQ_ARENA_KEEP 16384

/* Starts @w's daemon on w->listen_fd (external epoll: the worker's loop
 * drives it). Returns 0 or BFF_EIO. */
int front_daemon(struct bff_worker *w);
/* Stops every request still waiting (its handler's calls cancelled) and
 * answers it 503, so the daemon can stop. */
void front_abort_all(struct bff_worker *w);
/* Swaps the worker's snapshot for @s (a reference the worker now owns). */
void front_snap_swap(struct bff_worker *w, struct bff_snapshot *s);
/* Frees the worker's pool of finished requests (the worker stops). */
void front_free_requests(struct bff_worker *w);
/* libmicrohttpd's unescape callback that leaves the target as it came (the
 * router normalizes paths itself); for every daemon of the process. */
size_t front_no_unescape(void *cls, struct MHD_Connection *c, char *s);

#endif
