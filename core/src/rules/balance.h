/* core/src/rules/balance.h — the pure rules of several endpoints per
 * service: which endpoint an attempt goes to (least_request: power of two
 * choices over in-flight counts; round_robin), and outlier ejection (how
 * long, how many at once).
 *
 * No globals, no clock, no I/O: the caller passes the endpoints' loads, its
 * random numbers and its clock's values (tests/unit/rules/test_balance.c).
 * The per-endpoint state is runtime/resilience.c's; docs/resilience.md §7
 * describes every behaviour and limit. */
#ifndef BFF_RULES_BALANCE_H
#define BFF_RULES_BALANCE_H

#include <stddef.h>
#include <stdint.h>

/* Power of two choices: of the @n candidates (in-flight counts @load[]),
 * two distinct ones drawn with @rnd, the one with fewer calls in flight
 * (the first drawn on a tie). Returns its index, 0 when n is 1; n must be
 * at least 1. */
size_t res_p2c(const uint32_t *load, size_t n, uint64_t rnd);

/* Round robin: the candidate at or after position @turn (a counter that
 * grows by one per pick) among @n candidates. */
size_t res_round_robin(size_t n, uint64_t turn);

/* How many of @n endpoints may be ejected at once with max_ejected @pct
 * percent: n * pct / 100 rounded down, but at least 1 when pct > 0. */
uint32_t res_max_ejected(size_t n, uint32_t pct);

/* Ejections double, at most this many times: the longest is
 * eject_for << RES_EJECT_MAX_LEVEL (8 x eject_for). */
#define RES_EJECT_MAX_LEVEL 3
/* How long an endpoint ejected for the (@ejections + 1)-th time in a row is
 * kept out: eject_for, x2, x4, x8, then x8. */
uint64_t res_eject_ms(uint32_t eject_for_ms, uint32_t ejections);

/* 1 when an endpoint that has just failed its @fails-th consecutive attempt
 * (outcome @refused: the connection was refused) should be ejected, with
 * @threshold = outlier.failures, @ejected endpoints of the service out
 * already and at most @max at once. A refused connection ejects at once. */
int res_should_eject(uint32_t fails, int refused, uint32_t threshold, uint32_t ejected,
                     uint32_t max);

/* 1 when an endpoint's run of ejections is forgotten: it answered well at
 * @now, having come back at @back (the end of its last ejection) at least
 * @eject_for_ms before. */
int res_eject_forgotten(uint64_t now, uint64_t back, uint32_t eject_for_ms);

#endif
