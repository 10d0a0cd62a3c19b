/* core/src/sign.c — not written yet */
