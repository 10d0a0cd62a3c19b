/* core/src/jwt.c — not written yet */
