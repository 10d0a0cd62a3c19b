/* core/src/server.c — not written yet */
