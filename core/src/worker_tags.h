/* core/src/worker_tags.h — what an epoll event of a worker refers to */
#ifndef BFF_WORKER_TAGS_H
#define BFF_WORKER_TAGS_H

#define TAG_MASK 0xff00000000000000ull
#define TAG_MHD 0x0100000000000000ull
#define TAG_TIMER 0x0200000000000000ull
#define TAG_WAKE 0x0300000000000000ull
#define TAG_CURL 0x0400000000000000ull

#endif
