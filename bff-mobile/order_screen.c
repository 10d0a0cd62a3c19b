/* bff-mobile/order_screen.c — GET /v1/order-screen/{id}
 *
 * What the phone draws for one order, nothing more:
 * {"order":{"id","status","total_cents","currency"},"customer":{"name"},
 *  "items":[{"sku","name","qty","in_stock"}],"partial":[]}
 * Stage 1: orders/{id} (required: an answer without the fields the screen
 * draws is a 502). Stage 2, in parallel: users/{user_id} and inventory?skus=…
 * (optional: failed or of the wrong shape, the part is null and in partial). */
#include "bff/endpoint.h"
#include "endpoints.h"

static void answer(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders"), *items_in, *inv = NULL;
    json_object *partial = bff_agg_partial(a), *body = json_object_new_object();
    json_object *items = json_object_new_array();

    /* orders was checked by fan_out: bff_json_pick cannot miss here */
    json_object_object_add(
        body, "order", bff_json_pick(order, "id:s status:s total_cents:i currency:s"));
    json_object_object_add(body, "customer",
                           bff_agg_pick(a, partial, "users", "name:s"));
    json_object_object_get_ex(bff_agg_part(a, partial, "inventory", "items:a"), "items",
                              &inv);
    json_object_object_get_ex(order, "items", &items_in);
    for (size_t i = 0; i < json_object_array_length(items_in); i++) {
        json_object *it = json_object_array_get_idx(items_in, i);
        json_object *out = bff_json_pick(it, "sku:s name:s qty:i");
        json_object *rec = bff_json_find(inv, "sku", bff_json_str(it, "sku"));
        json_object_object_add(out, "in_stock",
                               bff_json_ref_if(rec, "in_stock", json_type_boolean));
        json_object_array_add(items, out);
    }
    json_object_object_add(body, "items", items);
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
                              "sku:s name:s qty:i"))
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

const struct bff_endpoint order_screen_endpoint = {
    .name = "order_screen", .services = services, .begin = begin};
