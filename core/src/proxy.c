/* core/src/proxy.c — not written yet */
