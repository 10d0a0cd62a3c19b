/* bff-web/order_details.c — GET /api/orders/{id}
 *
 * Everything the dashboard shows for one order: the whole order, the whole
 * customer, each item with its inventory record, per-call timings and the
 * parts that are missing:
 * {"order":{…},"customer":{…}|null,
 *  "items":[{…order item…,"inventory":{"quantity","warehouse","in_stock"}|null}],
 *  "meta":{"timings":{"orders":{"ms","status"},…}},"partial":[…]}
 * Stage 1: orders/{id} (required). Stage 2, in parallel: users/{user_id} and
 * inventory?skus=… (both optional). */
#include <string.h>

#include "bff/endpoint.h"
#include "endpoints.h"

static json_object *inventory_of(json_object *inv, const char *sku)
{
    json_object *items;
    if (!inv || !sku || !json_object_object_get_ex(inv, "items", &items))
        return NULL;
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        json_object *rec = json_object_array_get_idx(items, i);
        const char  *s = bff_json_str(rec, "sku");
        if (s && strcmp(s, sku) == 0) {
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
    json_object *items_in;
    json_object *body = json_object_new_object();

    json_object_object_add(body, "order", json_object_get(order));
    json_object_object_add(body, "customer", json_object_get(bff_agg_result(a, "users")));
    json_object *items = json_object_new_array();
    json_object_object_get_ex(order, "items", &items_in);
    size_t n = json_object_array_length(items_in);
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(items_in, i);
        json_object *out = json_object_new_object();
        json_object_object_foreach(it, k, v) json_object_object_add(out, k, json_object_get(v));
        json_object_object_add(out, "inventory", inventory_of(inv, bff_json_str(it, "sku")));
        json_object_array_add(items, out);
    }
    json_object_object_add(body, "items", items);
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "timings", bff_agg_timings(a));
    json_object_object_add(body, "meta", meta);
    json_object_object_add(body, "partial", bff_agg_partial(a));
    bff_agg_respond_json(a, 200, body);
}

static void fan_out(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders");
    json_object *items;
    const char  *user_id = bff_json_str(order, "user_id");

    if (!user_id || !bff_json_str(order, "id") ||
        !json_object_object_get_ex(order, "items", &items) ||
        !json_object_is_type(items, json_type_array)) {
        bff_agg_fail(a, 502, "orders answered without id, user_id or items");
        return;
    }
    bff_agg_call(a, "users", "users", BFF_OPTIONAL, 0, "/users/%s",
                 bff_agg_escape(a, user_id));
    size_t n = json_object_array_length(items);
    char  *skus = bff_agg_printf(a, "%s", "");
    for (size_t i = 0; skus && i < n; i++) {
        const char *sku = bff_json_str(json_object_array_get_idx(items, i), "sku");
        if (!sku) {
            bff_agg_fail(a, 502, "orders answered an item without sku");
            return;
        }
        skus = bff_agg_printf(a, "%s%s%s", skus, i ? "," : "", bff_agg_escape(a, sku));
    }
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
