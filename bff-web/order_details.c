/* bff-web/order_details.c — GET /api/orders/{id}
 *
 * Everything the dashboard shows for one order: the whole order, the whole
 * customer, each item with its inventory record, per-call timings and the
 * parts that are missing:
 * {"order":{…},"customer":{…}|null,
 *  "items":[{…order item…,"inventory":{"quantity","warehouse","in_stock"}|null}],
 *  "meta":{"timings":{"orders":{"ms","start_ms","status"},…},"deadline_ms":N},"partial":[…]}
 * Stage 1: orders/{id} (required). Stage 2, in parallel: users/{user_id} and
 * inventory?skus=… (both optional). An orders answer without the fields the
 * page shows is a 502; a users or inventory answer of the wrong shape counts
 * as missing (null, and named in partial). */
#include <string.h>

#include "bff/endpoint.h"
#include "endpoints.h"

/* @inv's record for @sku as the page shows it; NULL when there is none.
 * @inv is a batch whose items is an array (checked by the caller). */
static json_object *inventory_of(json_object *inv, const char *sku)
{
    json_object *items;
    if (!inv || !sku || !json_object_object_get_ex(inv, "items", &items))
        return NULL;
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        json_object *rec = json_object_array_get_idx(items, i);
        const char  *s = bff_json_str(rec, "sku");
        if (s && strcmp(s, sku) == 0 && bff_json_has(rec, "quantity", json_type_int) &&
            bff_json_has(rec, "in_stock", json_type_boolean)) {
            json_object *out = json_object_new_object();
            json_object_object_add(out, "quantity", bff_json_ref(rec, "quantity"));
            json_object_object_add(out, "warehouse", bff_json_ref(rec, "warehouse"));
            json_object_object_add(out, "in_stock", bff_json_ref(rec, "in_stock"));
            return out;
        }
    }
    return NULL;
}

static void answer(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders");
    json_object *inv = bff_agg_result(a, "inventory");
    json_object *user = bff_agg_result(a, "users");
    json_object *items_in, *inv_items;
    json_object *partial = bff_agg_partial(a);
    json_object *body = json_object_new_object();

    if (user && !(bff_json_has(user, "id", json_type_string) &&
                  bff_json_has(user, "name", json_type_string))) {
        user = NULL; /* answered, but not a user record: as good as missing */
        bff_json_partial_add(partial, "users");
    }
    if (inv && (!json_object_object_get_ex(inv, "items", &inv_items) ||
                !json_object_is_type(inv_items, json_type_array))) {
        inv = NULL; /* answered, but not a batch */
        bff_json_partial_add(partial, "inventory");
    }
    json_object_object_add(body, "order", json_object_get(order));
    json_object_object_add(body, "customer", json_object_get(user));
    json_object *items = json_object_new_array();
    json_object_object_get_ex(order, "items", &items_in);
    size_t n = json_object_array_length(items_in);
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(items_in, i);
        json_object *out = json_object_new_object();
        json_object_object_foreach(it, k, v)
            json_object_object_add(out, k, json_object_get(v));
        json_object_object_add(out, "inventory",
                               inventory_of(inv, bff_json_str(it, "sku")));
        json_object_array_add(items, out);
    }
    json_object_object_add(body, "items", items);
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "timings", bff_agg_timings(a));
    json_object_object_add(meta, "deadline_ms",
                           json_object_new_int64((int64_t)bff_agg_deadline_ms(a)));
    json_object_object_add(body, "meta", meta);
    json_object_object_add(body, "partial", partial);
    bff_agg_respond_json(a, 200, body);
}

static void fan_out(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders");
    json_object *items;

    if (!bff_agg_require(a, order, "orders answered",
                         "id:s user_id:s status:s total_cents:i currency:s items:a"))
        return;
    json_object_object_get_ex(order, "items", &items);
    bff_agg_call(a, "users", "users", BFF_OPTIONAL, 0, "/users/%s",
                 bff_agg_escape(a, bff_json_str(order, "user_id")));
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++)
        if (!bff_agg_require(a, json_object_array_get_idx(items, i),
                             "orders answered an item", "sku:s name:s qty:i price_cents:i"))
            return;
    const char *skus = bff_agg_join(a, items, "sku", ',');
    if (n > 0 && skus)
        bff_agg_call(a, "inventory", "inventory", BFF_OPTIONAL, 0, "/inventory?skus=%s",
                     skus);
    bff_agg_then(a, answer);
}

static void begin(struct bff_agg *a)
{
    const char *id = bff_agg_param(a, "id");
    if (!id || !*id) {
        bff_agg_fail(a, 400, "the order id is missing or malformed");
        return;
    }
    bff_agg_call(a, "orders", "orders", BFF_REQUIRED, 0, "/orders/%s",
                 bff_agg_escape(a, id));
    bff_agg_then(a, fan_out);
}

static const char *const services[] = {"orders", "users", "inventory", NULL};

const struct bff_endpoint order_details_endpoint = {
    .name = "order_details",
    .services = services,
    .begin = begin,
};
