/* core/src/problem.c — not written yet */
