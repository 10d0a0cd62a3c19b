/* core/src/jwks.c — not written yet */
