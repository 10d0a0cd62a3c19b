/* bff-web/customer_orders.c — GET /api/customers/{id}/orders?limit=&cursor=
 *
 * A customer and one page of their orders, newest first:
 * {"customer":{…users record…}|null,"orders":[{…whole order…}],
 *  "next_cursor":"…"|null,"meta":{"timings":{…},"deadline_ms":N},"partial":[…]}
 * One stage, in parallel: users/{id} (optional: without it the page still
 * lists the orders, and "users" is in partial; a 404 from it means there is
 * no such customer, and the answer is 404) and
 * orders?user_id={id}&limit=&cursor= (required).
 *
 * limit: 1 to 100, default 20; 0, more than 100 or not a number is a 400
 * (not clamped: a client asking for 500 has a bug it should hear about).
 * cursor: opaque, passed through; one the orders service refuses comes back
 * as its 400. Who may see whose orders is the orders service's call (the
 * owner, or role support); its 403 comes back as a 403. */
#include <stdlib.h>
#include <string.h>

#include "bff/endpoint.h"
#include "endpoints.h"

#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

static void answer(struct bff_agg *a)
{
    json_object *user = bff_agg_result(a, "users");
    json_object *page = bff_agg_result(a, "orders");
    json_object *list, *next = NULL;

    if (!user && bff_agg_status(a, "users") == 404) {
        bff_agg_fail(a, 404, "there is no customer with this id");
        return;
    }
    if (!json_object_object_get_ex(page, "orders", &list) ||
        !json_object_is_type(list, json_type_array) ||
        !json_object_object_get_ex(page, "next_cursor", &next) ||
        (next && !json_object_is_type(next, json_type_string))) {
        bff_agg_fail(a, 502, "orders answered a listing without orders or next_cursor");
        return;
    }
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++)
        if (!bff_agg_require(a, json_object_array_get_idx(list, i),
                             "orders answered an order",
                             "id:s status:s created_at:s total_cents:i currency:s items:a"))
            return;

    json_object *body = json_object_new_object();
    json_object *partial = bff_agg_partial(a);
    if (user && !(bff_json_has(user, "id", json_type_string) &&
                  bff_json_has(user, "name", json_type_string))) {
        user = NULL; /* answered, but not a user record: as good as missing */
        json_object_array_add(partial, json_object_new_string("users"));
    }
    json_object_object_add(body, "customer", json_object_get(user));
    json_object_object_add(body, "orders", json_object_get(list));
    json_object_object_add(body, "next_cursor", json_object_get(next));
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "timings", bff_agg_timings(a));
    json_object_object_add(meta, "deadline_ms",
                           json_object_new_int64((int64_t)bff_agg_deadline_ms(a)));
    json_object_object_add(body, "meta", meta);
    json_object_object_add(body, "partial", partial);
    bff_agg_respond_json(a, 200, body);
}

static void begin(struct bff_agg *a)
{
    const char *id = bff_agg_param(a, "id");
    const char *lim = bff_agg_query(a, "limit");
    const char *cursor = bff_agg_query(a, "cursor");
    long        limit = LIMIT_DEFAULT;

    if (!id || !*id) {
        bff_agg_fail(a, 400, "the customer id is missing or malformed");
        return;
    }
    if (lim) {
        char *end;
        limit = lim[0] >= '0' && lim[0] <= '9' ? strtol(lim, &end, 10) : -1;
        if (limit < 1 || limit > LIMIT_MAX || *end != '\0') {
            bff_agg_fail(a, 400, "limit must be a whole number from 1 to 100");
            return;
        }
    }
    const char *eid = bff_agg_escape(a, id);
    bff_agg_call(a, "users", "users", BFF_OPTIONAL, 0, "/users/%s", eid);
    if (cursor && *cursor)
        bff_agg_call(a, "orders", "orders", BFF_REQUIRED, 0,
                     "/orders?user_id=%s&limit=%ld&cursor=%s", eid, limit,
                     bff_agg_escape(a, cursor));
    else
        bff_agg_call(a, "orders", "orders", BFF_REQUIRED, 0,
                     "/orders?user_id=%s&limit=%ld", eid, limit);
    bff_agg_then(a, answer);
}

static const char *const services[] = {"users", "orders", NULL};

const struct bff_endpoint customer_orders_endpoint = {
    .name = "customer_orders",
    .services = services,
    .begin = begin,
};
