/* tests/e2e/h_redis.c — a redis-server of the test's own (h_redis.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "h_redis.h"

static const char *redis_bin(void)
{
    static char path[512];
    char       *p = h_run("command -v redis-server");
    ck_assert_msg(p && *p, "redis-server is not installed (scripts/install-deps.sh)");
    snprintf(path, sizeof(path), "%s", p);
    free(p);
    return path;
}

redisContext *redis_connect(int port)
{
    struct timeval tv = {1, 0};
    redisContext  *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

int redis_ping(int port)
{
    redisContext *c = redis_connect(port);
    int           ok = 0;
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "PING");
    ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

static char *const *redis_argv(int port, void *ud)
{
    static char  p[16];
    static char *argv[] = {NULL, "--port",       p,    "--bind", "127.0.0.1", "--save",
                           "",   "--appendonly", "no", NULL};
    (void)ud;
    argv[0] = (char *)redis_bin();
    snprintf(p, sizeof(p), "%d", port);
    return argv;
}

void redis_start(struct redis *rd, const char *dir)
{
    char name[32];
    snprintf(name, sizeof(name), "redis-%d", (int)getpid());
    if (!rd->port) {
        rd->port = h_spawn_on_port(&rd->proc, name, dir, redis_argv, NULL, &rd->hold);
        ck_assert_msg(rd->port > 0, "redis-server did not start");
    } else {
        ck_assert_int_eq(h_spawn_listening(&rd->proc, name, redis_argv(rd->port, NULL),
                                           dir, rd->port),
                         0);
    }
    for (int i = 0; i < 500 && !redis_ping(rd->port); i++) { /* bounded: 10 s */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(redis_ping(rd->port), "redis-server did not answer PING");
}

void redis_stop_keeping_port(struct redis *rd)
{
    h_stop(&rd->proc);
}

void redis_stop(struct redis *rd)
{
    h_stop(&rd->proc);
    if (rd->port)
        h_port_release(&rd->hold);
}
