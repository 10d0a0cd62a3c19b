/* core/src/upstream.c — not written yet */
