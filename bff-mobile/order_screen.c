/* bff-mobile/order_screen.c — not written yet */
