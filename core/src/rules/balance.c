/* core/src/rules/balance.c — endpoint choice and outlier ejection rules
 * (pure; rules/balance.h) */
#include "rules/balance.h"

size_t res_p2c(const uint32_t *load, size_t n, uint64_t rnd)
{
    if (n <= 1)
        return 0;
    size_t a = (size_t)(rnd % n);
    size_t b = (size_t)((rnd >> 32) % (n - 1));
    if (b >= a)
        b++; /* distinct from a */
    return load[b] < load[a] ? b : a;
}

size_t res_round_robin(size_t n, uint64_t turn)
{
    return n ? (size_t)(turn % n) : 0;
}

uint32_t res_max_ejected(size_t n, uint32_t pct)
{
    if (pct == 0 || n == 0)
        return 0;
    uint64_t m = (uint64_t)n * (pct > 100 ? 100 : pct) / 100;
    return m < 1 ? 1 : (uint32_t)m;
}

uint64_t res_eject_ms(uint32_t eject_for_ms, uint32_t ejections)
{
    uint32_t level = ejections > RES_EJECT_MAX_LEVEL ? RES_EJECT_MAX_LEVEL : ejections;
    return (uint64_t)eject_for_ms << level;
}

int res_should_eject(uint32_t fails, int refused, uint32_t threshold, uint32_t ejected,
                     uint32_t max)
{
    if (ejected >= max)
        return 0;
    return refused || fails >= threshold;
}

int res_eject_forgotten(uint64_t now, uint64_t back, uint32_t eject_for_ms)
{
    return now >= back + eject_for_ms;
}
