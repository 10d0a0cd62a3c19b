/* core/src/router.c — not written yet */
