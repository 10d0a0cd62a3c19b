/* core/src/headers.c — not written yet */
