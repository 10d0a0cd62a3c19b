/* bff-web/order_details.c — not written yet */
