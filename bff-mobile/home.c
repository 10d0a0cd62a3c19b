/* bff-mobile/home.c — GET /v1/home
 *
 * The app's first screen for the signed-in caller: a greeting and their three
 * latest orders, nothing else:
 * {"name":"Ada Lovelace"|null,
 *  "orders":[{"id","status","total_cents","currency","created_at"}],  (<= 3)
 *  "partial":[]}
 * One stage, in parallel: users/{uid} (optional: failed or without a string
 * name, the app greets without a name and "users" is in partial) and
 * orders?user_id={uid}&limit=3 (required: the list is the screen; an answer
 * without the fields it draws is a 502). The caller is the token's subject. */
#include "bff/endpoint.h"
#include "endpoints.h"

#define HOME_ORDERS 3

static void answer(struct bff_agg *a)
{
    json_object *page = bff_agg_result(a, "orders"), *list;

    if (!bff_agg_require(a, page, "orders answered a listing", "orders:a"))
        return;
    json_object_object_get_ex(page, "orders", &list);
    json_object *partial = bff_agg_partial(a), *body = json_object_new_object();
    json_object *user = bff_agg_part(a, partial, "users", "name:s");
    json_object *orders = json_object_new_array();
    json_object_object_add(body, "name", bff_json_ref(user, "name"));
    for (size_t i = 0; i < json_object_array_length(list) && i < HOME_ORDERS; i++) {
        json_object *o = json_object_new_object();
        json_object_array_add(orders, o);
        /* a 502 naming the field on a mismatch; then the answer below is dropped */
        bff_agg_copy(a, o, json_object_array_get_idx(list, i),
                     "orders answered an order",
                     "id:s status:s total_cents:i currency:s created_at:s");
    }
    json_object_object_add(body, "orders", orders);
    json_object_object_add(body, "partial", partial);
    bff_agg_respond_json(a, 200, body);
}

static void begin(struct bff_agg *a)
{
    const char *uid = bff_agg_user_id(a);
    if (!uid || !*uid) {
        /* only when the route is not `auth: required`: a config mistake */
        bff_agg_fail(a, 500,
                     "home needs a signed-in caller: give its route auth: required");
        return;
    }
    const char *id = bff_agg_escape(a, uid);
    bff_agg_call(a, "users", "users", BFF_OPTIONAL, 0, "/users/%s", id);
    bff_agg_call(a, "orders", "orders", BFF_REQUIRED, 0, "/orders?user_id=%s&limit=%d",
                 id, HOME_ORDERS);
    bff_agg_then(a, answer);
}

static const char *const services[] = {"users", "orders", NULL};

const struct bff_endpoint home_endpoint = {
    .name = "home", .services = services, .begin = begin};
