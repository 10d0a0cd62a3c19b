/* bff-mobile/home.c — GET /v1/home
 *
 * The app's first screen for the signed-in caller: a greeting and their three
 * latest orders, nothing else:
 * {"name":"Ada Lovelace"|null,
 *  "orders":[{"id","status","total_cents","currency","created_at"}],  (<= 3)
 *  "partial":[]}
 * One stage, in parallel: users/{uid} (optional: without it the app greets
 * without a name; "users" is then in partial) and
 * orders?user_id={uid}&limit=3 (required: the list is the screen). The caller
 * is the token's subject, never a parameter. An orders answer without the
 * fields the screen draws is a 502; a users answer without a string name
 * counts as missing. */
#include <string.h>

#include "bff/endpoint.h"
#include "endpoints.h"

#define HOME_ORDERS 3

/* One order as the home screen draws it (@o checked by the caller). */
static json_object *summary(json_object *o)
{
    json_object             *s = json_object_new_object();
    static const char *const keys[] = {"id", "status", "total_cents", "currency",
                                       "created_at"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        json_object_object_add(s, keys[i], bff_json_ref(o, keys[i]));
    return s;
}

static void answer(struct bff_agg *a)
{
    json_object *page = bff_agg_result(a, "orders");
    json_object *user = bff_agg_result(a, "users");
    json_object *list;

    if (!bff_agg_require(a, page, "orders answered a listing", "orders:a"))
        return;
    json_object_object_get_ex(page, "orders", &list);
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n && i < HOME_ORDERS; i++)
        if (!bff_agg_require(a, json_object_array_get_idx(list, i),
                             "orders answered an order",
                             "id:s status:s total_cents:i currency:s created_at:s"))
            return;
    json_object *orders = json_object_new_array();
    for (size_t i = 0; i < n && i < HOME_ORDERS; i++)
        json_object_array_add(orders, summary(json_object_array_get_idx(list, i)));

    json_object *body = json_object_new_object();
    json_object *partial = bff_agg_partial(a);
    if (user && bff_json_str(user, "name")) {
        json_object_object_add(body, "name", bff_json_ref(user, "name"));
    } else {
        json_object_object_add(body, "name", NULL);
        if (user) /* it answered, but not with a name: as good as missing */
            json_object_array_add(partial, json_object_new_string("users"));
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
    .name = "home",
    .services = services,
    .begin = begin,
};
