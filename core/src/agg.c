/* core/src/agg.c — not written yet */
