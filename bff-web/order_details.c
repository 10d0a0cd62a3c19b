/* bff-web/order_details.c — GET /api/orders/{id}
 *
 * Everything the dashboard shows for one order: the whole order, the whole
 * customer, each item with its inventory record, per-call timings and the
 * parts that are missing:
 * {"order":{…},"customer":{…}|null,
 *  "items":[{…order item…,"inventory":{"quantity","warehouse","in_stock"}|null}],
 *  "meta":{"timings":{"orders":{"ms","start_ms","status"},…},"deadline_ms":N},"partial":[…]}
 * Stage 1: orders/{id} (required: an answer without the fields the page shows
 * is a 502). Stage 2, in parallel: users/{user_id} and inventory?skus=…
 * (optional: failed or of the wrong shape, the part is null and in partial). */
#include "bff/endpoint.h"
#include "endpoints.h"

static void answer(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders"), *items_in, *inv = NULL;
    json_object *partial = bff_agg_partial(a), *body = json_object_new_object();
    json_object *items = json_object_new_array(), *meta = json_object_new_object();

    json_object_object_add(body, "order", json_object_get(order));
    json_object_object_add(
        body, "customer",
        json_object_get(bff_agg_part(a, partial, "users", "id:s name:s")));
    json_object_object_get_ex(bff_agg_part(a, partial, "inventory", "items:a"), "items",
                              &inv);
    json_object_object_get_ex(order, "items", &items_in);
    for (size_t i = 0; i < json_object_array_length(items_in); i++) {
        json_object *it = json_object_array_get_idx(items_in, i),
                    *out = json_object_new_object();
        json_object *rec = bff_json_find(inv, "sku", bff_json_str(it, "sku"));
        json_object_object_foreach(it, k, v)
            json_object_object_add(out, k, json_object_get(v));
        json_object_object_add(
            out, "inventory", bff_json_pick(rec, "quantity:i warehouse:s? in_stock:b"));
        json_object_array_add(items, out);
    }
    json_object_object_add(body, "items", items);
    json_object_object_add(meta, "timings", bff_agg_timings(a));
    json_object_object_add(meta, "deadline_ms",
                           json_object_new_int64(bff_agg_deadline_ms(a)));
    json_object_object_add(body, "meta", meta);
    json_object_object_add(body, "partial", partial);
    bff_agg_respond_json(a, 200, body);
}

static void fan_out(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders"), *items = NULL;

    if (!bff_agg_require(a, order, "orders answered",
                         "id:s user_id:s status:s total_cents:i currency:s items:a") ||
        !json_object_object_get_ex(order, "items", &items) ||
        !bff_agg_require_each(a, items, "orders answered an item",
                              "sku:s name:s qty:i price_cents:i"))
        return;
    bff_agg_call(a, "users", "users", BFF_OPTIONAL, 0, "/users/%s",
                 bff_agg_escape(a, bff_json_str(order, "user_id")));
    const char *skus = bff_agg_join(a, items, "sku", ',');
    if (skus && *skus)
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
    .name = "order_details", .services = services, .begin = begin};
