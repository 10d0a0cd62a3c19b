/* tests/e2e/h_redis.h — a redis-server of the test's own, for the suites
 * that run the gateway against Redis (rate limits, idempotency keys): on a
 * loopback port it holds for its whole life, stopped and started again on
 * the same port (to kill Redis mid-run), PING-polled with a bound. */
#ifndef H_REDIS_H
#define H_REDIS_H

#include <hiredis/hiredis.h>

#include "harness.h"

struct redis {
    struct h_proc proc;
    int           port; /* 0 until the first start */
    struct h_port hold; /* the port, held across restarts */
};

/* A connection to the test's Redis (1 s timeouts), or NULL. */
redisContext *redis_connect(int port);
/* 1 when Redis on @port answers PING. */
int redis_ping(int port);
/* Starts Redis (its files under @dir): the first time on a port of its own
 * (held from then on), again after redis_stop_keeping_port on the same
 * port; fails the test when it does not answer PING within 10 s. */
void redis_start(struct redis *rd, const char *dir);
/* Stops Redis; its port stays ours for redis_start to come back on. */
void redis_stop_keeping_port(struct redis *rd);
/* Stops Redis and gives its port back. */
void redis_stop(struct redis *rd);

#endif
