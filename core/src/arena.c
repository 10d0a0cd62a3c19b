/* core/src/arena.c — not written yet */
