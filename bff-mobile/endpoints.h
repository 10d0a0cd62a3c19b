/* bff-mobile/endpoints.h — the aggregation endpoints of the mobile BFF */
#ifndef BFF_MOBILE_ENDPOINTS_H
#define BFF_MOBILE_ENDPOINTS_H

#include "bff/endpoint.h"

extern const struct bff_endpoint order_screen_endpoint; /* GET /v1/order-screen/{id} */
extern const struct bff_endpoint home_endpoint;         /* GET /v1/home */

#endif
