/* core/src/base/rand.h — a per-thread pseudo-random sequence */
#ifndef BFF_BASE_RAND_H
#define BFF_BASE_RAND_H

#include <stdint.h>

/* xorshift64* over *@state (never 0): request, trace and span ids, sampling,
 * retry jitter; never secrets. Each worker owns its state. */
static inline uint64_t bff_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif
