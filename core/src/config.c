/* core/src/config.c — not written yet */
