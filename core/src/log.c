/* core/src/log.c — not written yet */
