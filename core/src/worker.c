/* core/src/worker.c — not written yet */
