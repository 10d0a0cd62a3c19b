/* bff-mobile/order_screen.c — GET /v1/order-screen/{id}
 *
 * What the phone draws for one order, nothing more:
 * {"order":{"id","status","total_cents","currency"},"customer":{"name"},
 *  "items":[{"sku","name","qty","in_stock"}],"partial":[]}
 * Stage 1: orders/{id} (required). Stage 2, in parallel: users/{user_id} and
 * inventory?skus=… (both optional: a missing part is null and listed in
 * "partial"). An orders answer without the fields the screen draws is a 502;
 * a users or inventory answer of the wrong shape counts as missing. */
#include <string.h>

#include "bff/endpoint.h"
#include "endpoints.h"

/* Adds @v under the literal key @k of a new object: json-c neither copies
 * the key nor looks for an old one (each key is added once). */
static void put(json_object *o, const char *k, json_object *v)
{
    json_object_object_add_ex(o, k, v,
                              JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY);
}

static void answer(struct bff_agg *a)
{
    json_object *order = bff_agg_result(a, "orders");
    json_object *user = bff_agg_result(a, "users");
    json_object *inv = bff_agg_result(a, "inventory");
    json_object *items_in, *inv_items = NULL;
    json_object *partial = bff_agg_partial(a);
    json_object *body = json_object_new_object();

    json_object *o = json_object_new_object();
    put(o, "id", bff_json_ref(order, "id"));
    put(o, "status", bff_json_ref(order, "status"));
    put(o, "total_cents", bff_json_ref(order, "total_cents"));
    put(o, "currency", bff_json_ref(order, "currency"));
    put(body, "order", o);

    if (user && bff_json_str(user, "name")) {
        json_object *c = json_object_new_object();
        put(c, "name", bff_json_ref(user, "name"));
        put(body, "customer", c);
    } else {
        put(body, "customer", NULL);
        if (user)
            bff_json_partial_add(partial, "users");
    }

    if (inv && (!json_object_object_get_ex(inv, "items", &inv_items) ||
                !json_object_is_type(inv_items, json_type_array))) {
        inv_items = NULL; /* answered, but not a batch: as good as missing */
        bff_json_partial_add(partial, "inventory");
    }
    json_object *items = json_object_new_array();
    json_object_object_get_ex(order, "items", &items_in);
    size_t n = json_object_array_length(items_in);
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(items_in, i);
        const char  *sku = bff_json_str(it, "sku");
        json_object *out = json_object_new_object();
        json_object *in_stock = NULL;
        size_t       m = inv_items ? json_object_array_length(inv_items) : 0;
        for (size_t j = 0; sku && j < m; j++) {
            json_object *rec = json_object_array_get_idx(inv_items, j);
            const char  *rs = bff_json_str(rec, "sku");
            if (rs && strcmp(rs, sku) == 0 &&
                bff_json_has(rec, "in_stock", json_type_boolean))
                in_stock = bff_json_ref(rec, "in_stock");
        }
        put(out, "sku", bff_json_ref(it, "sku"));
        put(out, "name", bff_json_ref(it, "name"));
        put(out, "qty", bff_json_ref(it, "qty"));
        put(out, "in_stock", in_stock);
        json_object_array_add(items, out);
    }
    put(body, "items", items);
    put(body, "partial", partial);
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
                             "orders answered an item", "sku:s name:s qty:i"))
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

const struct bff_endpoint order_screen_endpoint = {
    .name = "order_screen",
    .services = services,
    .begin = begin,
};
