/* core/src/ratelimit.c — not written yet */
