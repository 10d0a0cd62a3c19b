/* tests/e2e/harness.c — not written yet */
