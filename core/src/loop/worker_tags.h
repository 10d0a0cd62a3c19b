/* core/src/worker_tags.h — what an epoll event of a worker refers to */
#ifndef BFF_WORKER_TAGS_H
#define BFF_WORKER_TAGS_H

#define TAG_MASK 0xff00000000000000ull
#define TAG_MHD 0x0100000000000000ull
#define TAG_TIMER 0x0200000000000000ull
#define TAG_WAKE 0x0300000000000000ull
#define TAG_CURL 0x0400000000000000ull
/* 0x05: resilience (RES_TAG in resilience.h) */
#define TAG_RL 0x0600000000000000ull       /* | fd: the worker's Redis connection */
#define TAG_RL_TIMER 0x0700000000000000ull /* rate-limit store deadlines */

#endif
