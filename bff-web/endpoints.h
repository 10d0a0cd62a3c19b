/* bff-web/endpoints.h — the aggregation endpoints of the web BFF */
#ifndef BFF_WEB_ENDPOINTS_H
#define BFF_WEB_ENDPOINTS_H

#include "bff/endpoint.h"

extern const struct bff_endpoint order_details_endpoint; /* GET /api/orders/{id} */

#endif
