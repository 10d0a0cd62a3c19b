/* bff-web/customer_orders.c — GET /api/customers/{id}/orders?limit=&cursor=
 *
 * A customer and one page of their orders, newest first:
 * {"customer":{…users record…}|null,"orders":[{…whole order…}],
 *  "next_cursor":"…"|null,"meta":{"timings":{…},"deadline_ms":N},"partial":[…]}
 * One stage, in parallel: users/{id} (optional: failed or of the wrong shape,
 * customer is null and "users" in partial; its 404 means no such customer: a
 * 404) and orders?user_id={id}&limit=&cursor= (required; a listing of the
 * wrong shape is a 502). limit: 1 to 100, default 20; anything else is a 400
 * (not clamped: a client asking for 500 has a bug it should hear about).
 * cursor: opaque, passed through (the orders service's 400 if it refuses it).
 * Who may see whose orders is the orders service's call (its 403 is ours). */
#include <stdlib.h>

#include "bff/endpoint.h"
#include "endpoints.h"

#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

static void answer(struct bff_agg *a)
{
    json_object *page = bff_agg_result(a, "orders"), *list;

    if (!bff_agg_result(a, "users") && bff_agg_status(a, "users") == 404) {
        bff_agg_fail(a, 404, "there is no customer with this id");
        return;
    }
    json_object *partial = bff_agg_partial(a), *body = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(
        body, "customer",
        json_object_get(bff_agg_part(a, partial, "users", "id:s name:s")));
    /* on a mismatch, a 502 naming the field; then the answer below is dropped */
    if (bff_agg_copy(a, body, page, "orders answered a listing",
                     "orders:a next_cursor:s?") &&
        json_object_object_get_ex(body, "orders", &list))
        bff_agg_require_each(
            a, list, "orders answered an order",
            "id:s status:s created_at:s total_cents:i currency:s items:a");
    json_object_object_add(meta, "timings", bff_agg_timings(a));
    json_object_object_add(meta, "deadline_ms",
                           json_object_new_int64(bff_agg_deadline_ms(a)));
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
    const char *more = cursor && *cursor
                           ? bff_agg_printf(a, "&cursor=%s", bff_agg_escape(a, cursor))
                           : "";
    bff_agg_call(a, "users", "users", BFF_OPTIONAL, 0, "/users/%s", eid);
    bff_agg_call(a, "orders", "orders", BFF_REQUIRED, 0,
                 "/orders?user_id=%s&limit=%ld%s", eid, limit, more);
    bff_agg_then(a, answer);
}

static const char *const services[] = {"users", "orders", NULL};

const struct bff_endpoint customer_orders_endpoint = {
    .name = "customer_orders", .services = services, .begin = begin};
