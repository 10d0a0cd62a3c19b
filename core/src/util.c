/* core/src/util.c — not written yet */
