/* bff-web/endpoints.h — the aggregation endpoints of the web BFF */
#ifndef BFF_WEB_ENDPOINTS_H
#define BFF_WEB_ENDPOINTS_H

#include "bff/endpoint.h"

extern const struct bff_endpoint order_details_endpoint; /* GET /api/orders/{id} */
/* GET /api/customers/{id}/orders?limit=&cursor= */
extern const struct bff_endpoint customer_orders_endpoint;

#endif
