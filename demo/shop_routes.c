/* demo/shop_routes.c — seed data and routes of users, orders and inventory
 *
 * Everything here is read-only after start-up except the counter that names
 * posted orders, so any connection thread may call shop_route(). An order's
 * status as answered is its current one from shop_sse.c (which changes it);
 * the seed's is where it starts. */
#include "shop.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100
#define SKUS_MAX 50
#define ITEMS_MAX 3

struct user {
    const char *id, *name, *email, *tier, *created_at;
};

struct item {
    const char *sku, *name;
    int         qty, price_cents;
};

struct order {
    const char *id, *user_id, *status, *created_at, *currency;
    struct item items[ITEMS_MAX];
};

struct stock {
    const char *sku;
    int         quantity;
    const char *warehouse;
};

static const struct user users[] = {
    {"4412", "Ada Lovelace", "ada@example.com", "gold", "2024-01-02T03:04:05Z"},
    {"4413", "Grace Hopper", "grace@example.com", "silver", "2024-01-15T09:30:00Z"},
    {"4414", "Alan Turing", "alan@example.com", "bronze", "2024-02-01T12:00:00Z"},
    {"4415", "Katherine Johnson", "katherine@example.com", "silver",
     "2024-02-20T08:00:00Z"},
};

/* o-1 is SPEC §6's example; for 4412, a higher number is a newer order. */
static const struct order orders[] = {
    {"o-1",
     "4412",
     "paid",
     "2024-03-04T05:06:07Z",
     "EUR",
     {{"SKU-1", "Kettle", 1, 2999}, {"SKU-2", "Mug", 2, 800}}},
    {"o-2",
     "4412",
     "shipped",
     "2024-03-18T10:20:30Z",
     "EUR",
     {{"SKU-3", "Teapot", 1, 3499}}},
    {"o-3",
     "4412",
     "delivered",
     "2024-04-02T08:15:00Z",
     "EUR",
     {{"SKU-2", "Mug", 4, 800}, {"SKU-4", "Tea Towel", 2, 650}}},
    {"o-4",
     "4412",
     "cancelled",
     "2024-04-20T16:45:10Z",
     "EUR",
     {{"SKU-5", "Espresso Machine", 1, 19900}}},
    {"o-5",
     "4412",
     "pending",
     "2024-05-01T09:00:00Z",
     "EUR",
     {{"SKU-1", "Kettle", 1, 2999}, {"SKU-6", "Coffee Beans 1kg", 3, 1850}}},
    {"o-6",
     "4413",
     "paid",
     "2024-03-10T12:00:00Z",
     "EUR",
     {{"SKU-3", "Teapot", 2, 3499}}},
    {"o-7",
     "4413",
     "shipped",
     "2024-04-11T14:30:00Z",
     "EUR",
     {{"SKU-6", "Coffee Beans 1kg", 1, 1850}}},
    {"o-8",
     "4414",
     "delivered",
     "2024-02-14T11:11:11Z",
     "EUR",
     {{"SKU-4", "Tea Towel", 1, 650}, {"SKU-2", "Mug", 1, 800}}},
};

/* SKU-5 is known but out of stock. */
static const struct stock stocks[] = {
    {"SKU-1", 42, "BER-1"},  {"SKU-2", 120, "BER-1"}, {"SKU-3", 7, "HAM-2"},
    {"SKU-4", 300, "BER-1"}, {"SKU-5", 0, "MUC-1"},   {"SKU-6", 15, "HAM-2"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static atomic_uint posted_orders;

const char *shop_json(json_object *obj, size_t *len)
{
    return json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

void shop_error(struct shop_resp *rs, unsigned int status, const char *code)
{
    if (rs->body != NULL)
        json_object_put(rs->body);
    rs->status = status;
    rs->body = json_object_new_object();
    json_object_object_add(rs->body, "error", json_object_new_string(code));
}

static void answer(struct shop_resp *rs, unsigned int status, json_object *body)
{
    if (rs->body != NULL)
        json_object_put(rs->body);
    rs->status = status;
    rs->body = body;
}

static void not_allowed(struct shop_resp *rs, const char *allow)
{
    shop_error(rs, 405, "method_not_allowed");
    rs->allow = allow;
}

static int is_get(const struct shop_req *rq)
{
    return strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
}

/* Returns the single segment after @prefix ("/users/") in @path, or NULL when
 * @path is not exactly prefix + one non-empty segment. */
static const char *one_segment(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(path, prefix, n) != 0 || path[n] == '\0' || strchr(path + n, '/'))
        return NULL;
    return path + n;
}

static const char *query_arg(const struct shop_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* 1 when the comma-separated @roles hold @role (blanks around names allowed). */
static int has_role(const char *roles, const char *role)
{
    size_t n = strlen(role);

    while (roles != NULL && *roles != '\0') {
        const char *end = strchr(roles, ',');
        const char *a = roles;
        const char *b = end != NULL ? end : roles + strlen(roles);

        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if ((size_t)(b - a) == n && strncmp(a, role, n) == 0)
            return 1;
        roles = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

/* users --------------------------------------------------------------------- */

static json_object *user_json(const struct user *u)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_string(u->id));
    json_object_object_add(o, "name", json_object_new_string(u->name));
    json_object_object_add(o, "email", json_object_new_string(u->email));
    json_object_object_add(o, "tier", json_object_new_string(u->tier));
    json_object_object_add(o, "created_at", json_object_new_string(u->created_at));
    return o;
}

static int users_route(const struct shop_req *rq, struct shop_resp *rs)
{
    const char *id = one_segment(rq->path, "/users/");

    if (id == NULL)
        return 0;
    if (!is_get(rq)) {
        not_allowed(rs, "GET, HEAD");
        return 1;
    }
    for (size_t i = 0; i < COUNT(users); i++) {
        if (strcmp(users[i].id, id) == 0) {
            answer(rs, 200, user_json(&users[i]));
            return 1;
        }
    }
    shop_error(rs, 404, "user_not_found");
    return 1;
}

/* orders -------------------------------------------------------------------- */


static shop_status_fn status_source;

void shop_order_status_source(shop_status_fn fn)
{
    status_source = fn;
}

static const char *order_status(size_t i, char *buf, size_t len)
{
    if (status_source)
        return status_source(i, buf, len);
    snprintf(buf, len, "%s", shop_order_seed_status(i));
    return buf;
}

static json_object *order_json(const struct order *o)
{
    json_object *j = json_object_new_object();
    json_object *items = json_object_new_array();
    int64_t      total = 0;
    char         status[32];

    for (size_t i = 0; i < ITEMS_MAX && o->items[i].sku != NULL; i++) {
        const struct item *it = &o->items[i];
        json_object       *ji = json_object_new_object();

        json_object_object_add(ji, "sku", json_object_new_string(it->sku));
        json_object_object_add(ji, "name", json_object_new_string(it->name));
        json_object_object_add(ji, "qty", json_object_new_int(it->qty));
        json_object_object_add(ji, "price_cents", json_object_new_int(it->price_cents));
        json_object_array_add(items, ji);
        total += (int64_t)it->qty * it->price_cents;
    }
    json_object_object_add(j, "id", json_object_new_string(o->id));
    json_object_object_add(j, "user_id", json_object_new_string(o->user_id));
    json_object_object_add(
        j, "status",
        json_object_new_string(order_status((size_t)(o - orders), status, sizeof(status))));
    json_object_object_add(j, "created_at", json_object_new_string(o->created_at));
    json_object_object_add(j, "total_cents", json_object_new_int64(total));
    json_object_object_add(j, "currency", json_object_new_string(o->currency));
    json_object_object_add(j, "items", items);
    return j;
}

/* The caller may see @o: it is theirs, or they are support. */
static int may_see(const struct shop_req *rq, const char *owner)
{
    return strcmp(rq->user_id, owner) == 0 || has_role(rq->roles, "support");
}

/* for shop_sse.c ------------------------------------------------------------ */

size_t shop_orders_count(void)
{
    return COUNT(orders);
}

long shop_order_find(const char *id)
{
    for (size_t i = 0; i < COUNT(orders); i++)
        if (strcmp(orders[i].id, id) == 0)
            return (long)i;
    return -1;
}

const char *shop_order_id(size_t i)
{
    return orders[i].id;
}

const char *shop_order_owner(size_t i)
{
    return orders[i].user_id;
}

const char *shop_order_seed_status(size_t i)
{
    return orders[i].status;
}

const char *shop_order_created(size_t i)
{
    return orders[i].created_at;
}

int shop_may_see(const struct shop_req *rq, const char *owner)
{
    return may_see(rq, owner);
}

static int newest_first(const void *a, const void *b)
{
    const struct order *x = *(const struct order *const *)a;
    const struct order *y = *(const struct order *const *)b;
    int                 c = strcmp(y->created_at, x->created_at);

    return c != 0 ? c : strcmp(y->id, x->id);
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Cursors are base64url("<user_id>:<offset>"): opaque to callers, checked
 * against the listing they continue. */
static void cursor_encode(const char *user_id, size_t offset, char *out, size_t outlen)
{
    char     plain[96];
    size_t   n = (size_t)snprintf(plain, sizeof(plain), "%s:%zu", user_id, offset);
    size_t   o = 0;
    uint32_t v;

    if (n >= sizeof(plain))
        n = sizeof(plain) - 1;
    for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
        size_t left = n - i;

        v = (uint32_t)(uint8_t)plain[i] << 16;
        if (left > 1)
            v |= (uint32_t)(uint8_t)plain[i + 1] << 8;
        if (left > 2)
            v |= (uint8_t)plain[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (left > 1)
            out[o++] = b64url[(v >> 6) & 63];
        if (left > 2)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

/* Returns the offset a cursor for @user_id's listing of @count orders points
 * to, or -1 when it is not such a cursor. */
static long cursor_decode(const char *cur, const char *user_id, size_t count)
{
    char        plain[96];
    size_t      n = strlen(cur), o = 0;
    uint32_t    v = 0;
    int         bits = 0;
    char       *colon, *end;
    long        off;
    const char *p;

    if (n == 0 || n > 120 || n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        p = strchr(b64url, cur[i]);
        if (cur[i] == '\0' || p == NULL)
            return -1;
        v = (v << 6) | (uint32_t)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= sizeof(plain))
                return -1;
            plain[o++] = (char)((v >> bits) & 0xff);
        }
    }
    plain[o] = '\0';
    if (strlen(plain) != o)
        return -1;
    colon = strrchr(plain, ':');
    if (colon == NULL || !isdigit((unsigned char)colon[1]))
        return -1;
    *colon = '\0';
    if (strcmp(plain, user_id) != 0)
        return -1;
    off = strtol(colon + 1, &end, 10);
    if (*end != '\0' || off <= 0 || (size_t)off > count)
        return -1;
    return off;
}

static void orders_list(const struct shop_req *rq, struct shop_resp *rs)
{
    const char         *who = query_arg(rq, "user_id");
    const char         *lim = query_arg(rq, "limit");
    const char         *cur = query_arg(rq, "cursor");
    const struct order *mine[COUNT(orders)];
    size_t              count = 0, start = 0, limit = LIST_LIMIT_DEFAULT;
    json_object        *list, *page;
    char                next[160];

    if (who == NULL || *who == '\0')
        who = rq->user_id;
    if (!may_see(rq, who)) {
        shop_error(rs, 403, "forbidden");
        return;
    }
    if (lim != NULL) {
        char *end;
        long  l;

        if (!isdigit((unsigned char)lim[0]))
            goto bad_limit;
        l = strtol(lim, &end, 10);
        if (*end != '\0' || l < 1 || l > LIST_LIMIT_MAX)
            goto bad_limit;
        limit = (size_t)l;
    }
    for (size_t i = 0; i < COUNT(orders); i++)
        if (strcmp(orders[i].user_id, who) == 0)
            mine[count++] = &orders[i];
    qsort(mine, count, sizeof(mine[0]), newest_first);
    if (cur != NULL) {
        long off = cursor_decode(cur, who, count);

        if (off < 0) {
            shop_error(rs, 400, "bad_cursor");
            return;
        }
        start = (size_t)off;
    }
    list = json_object_new_array();
    for (size_t i = start; i < count && i < start + limit; i++)
        json_object_array_add(list, order_json(mine[i]));
    page = json_object_new_object();
    json_object_object_add(page, "orders", list);
    if (start + limit < count) {
        cursor_encode(who, start + limit, next, sizeof(next));
        json_object_object_add(page, "next_cursor", json_object_new_string(next));
    } else {
        json_object_object_add(page, "next_cursor", NULL);
    }
    answer(rs, 200, page);
    return;
bad_limit:
    shop_error(rs, 400, "bad_limit");
}

static void orders_post(const struct shop_req *rq, struct shop_resp *rs)
{
    json_tokener *tok = json_tokener_new();
    json_object  *in = NULL, *out;
    unsigned int  n;

    if (tok == NULL) {
        shop_error(rs, 500, "out_of_memory");
        return;
    }
    in = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
    if (in == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(in, json_type_object)) {
        shop_error(rs, 400, "bad_json");
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < rq->body_len; i++) {
        if (!isspace((unsigned char)rq->body[i])) {
            shop_error(rs, 400, "bad_json");
            goto out;
        }
    }
    n = atomic_fetch_add(&posted_orders, 1) + 1;
    out = json_object_new_object();
    snprintf(rs->location, sizeof(rs->location), "/orders/o-new-%u", n);
    json_object_object_add(out, "id", json_object_new_string(rs->location + 8));
    json_object_object_foreach(in, key, val)
    {
        if (strcmp(key, "id") != 0 && strcmp(key, "user_id") != 0)
            json_object_object_add(out, key, json_object_get(val));
    }
    json_object_object_add(out, "user_id", json_object_new_string(rq->user_id));
    answer(rs, 201, out);
out:
    json_object_put(in);
    json_tokener_free(tok);
}

static int orders_route(const struct shop_req *rq, struct shop_resp *rs)
{
    const char *id = one_segment(rq->path, "/orders/");
    int         list = strcmp(rq->path, "/orders") == 0;

    if (id == NULL && !list)
        return 0;
    if (rq->user_id == NULL || *rq->user_id == '\0') {
        shop_error(rs, 401, "no_identity");
        return 1;
    }
    if (list) {
        if (is_get(rq))
            orders_list(rq, rs);
        else if (strcmp(rq->method, "POST") == 0)
            orders_post(rq, rs);
        else
            not_allowed(rs, "GET, HEAD, POST");
        return 1;
    }
    if (!is_get(rq)) {
        not_allowed(rs, "GET, HEAD");
        return 1;
    }
    for (size_t i = 0; i < COUNT(orders); i++) {
        /* Someone else's order is as absent as a missing one. */
        if (strcmp(orders[i].id, id) == 0 && may_see(rq, orders[i].user_id)) {
            answer(rs, 200, order_json(&orders[i]));
            return 1;
        }
    }
    shop_error(rs, 404, "order_not_found");
    return 1;
}

/* inventory ----------------------------------------------------------------- */

static const struct stock *stock_find(const char *sku, size_t len)
{
    for (size_t i = 0; i < COUNT(stocks); i++)
        if (strlen(stocks[i].sku) == len && strncmp(stocks[i].sku, sku, len) == 0)
            return &stocks[i];
    return NULL;
}

static json_object *stock_json(const char *sku, size_t len, const struct stock *s)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "sku", json_object_new_string_len(sku, (int)len));
    json_object_object_add(o, "in_stock",
                           json_object_new_boolean(s && s->quantity > 0));
    json_object_object_add(o, "quantity", json_object_new_int(s ? s->quantity : 0));
    json_object_object_add(o, "warehouse",
                           s ? json_object_new_string(s->warehouse) : NULL);
    return o;
}

static void inventory_batch(const struct shop_req *rq, struct shop_resp *rs)
{
    const char  *skus = query_arg(rq, "skus");
    const char  *p;
    json_object *items, *page;
    int          n = 0;

    if (skus == NULL || *skus == '\0') {
        shop_error(rs, 400, "bad_skus");
        return;
    }
    items = json_object_new_array();
    for (p = skus;; p++) {
        const char *end = strchr(p, ',');
        size_t      len = end != NULL ? (size_t)(end - p) : strlen(p);

        if (len == 0 || ++n > SKUS_MAX) {
            json_object_put(items);
            shop_error(rs, 400, "bad_skus");
            return;
        }
        json_object_array_add(items, stock_json(p, len, stock_find(p, len)));
        if (end == NULL)
            break;
        p = end;
    }
    page = json_object_new_object();
    json_object_object_add(page, "items", items);
    answer(rs, 200, page);
}

static int inventory_route(const struct shop_req *rq, struct shop_resp *rs)
{
    const char         *sku = one_segment(rq->path, "/inventory/");
    const struct stock *s;

    if (sku == NULL && strcmp(rq->path, "/inventory") != 0)
        return 0;
    if (!is_get(rq)) {
        not_allowed(rs, "GET, HEAD");
        return 1;
    }
    if (sku == NULL) {
        inventory_batch(rq, rs);
        return 1;
    }
    s = stock_find(sku, strlen(sku));
    if (s == NULL)
        shop_error(rs, 404, "sku_not_found");
    else
        answer(rs, 200, stock_json(sku, strlen(sku), s));
    return 1;
}

/* echo ---------------------------------------------------------------------- */

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    json_object *headers = cls;
    json_object *prev;
    char         name[256];
    size_t       i;

    (void)kind;
    for (i = 0; key[i] != '\0' && i + 1 < sizeof(name); i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    if (value == NULL)
        value = "";
    /* A repeated header reads as one, joined the way RFC 9110 allows. */
    if (json_object_object_get_ex(headers, name, &prev)) {
        const char *old = json_object_get_string(prev);
        size_t      len = strlen(old) + 2 + strlen(value) + 1;
        char       *both = malloc(len);

        if (both != NULL) {
            snprintf(both, len, "%s, %s", old, value);
            json_object_object_add(headers, name, json_object_new_string(both));
            free(both);
        }
        return MHD_YES;
    }
    json_object_object_add(headers, name, json_object_new_string(value));
    return MHD_YES;
}

static void echo(const struct shop_req *rq, struct shop_resp *rs)
{
    json_object *o = json_object_new_object();
    json_object *headers = json_object_new_object();
    const char  *q = strchr(rq->target, '?');
    size_t       plen = q != NULL ? (size_t)(q - rq->target) : strlen(rq->target);

    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, add_header, headers);
    json_object_object_add(o, "service", json_object_new_string(rq->service));
    json_object_object_add(o, "method", json_object_new_string(rq->method));
    json_object_object_add(o, "path",
                           json_object_new_string_len(rq->target, (int)plen));
    json_object_object_add(o, "query", json_object_new_string(q != NULL ? q + 1 : ""));
    json_object_object_add(o, "headers", headers);
    json_object_object_add(o, "body",
                           json_object_new_string_len(rq->body, (int)rq->body_len));
    answer(rs, 200, o);
}

void shop_route(enum shop_svc svc, const struct shop_req *rq, struct shop_resp *rs)
{
    int done = 0;

    if (strcmp(rq->path, "/echo") == 0 || strncmp(rq->path, "/echo/", 6) == 0) {
        echo(rq, rs);
        return;
    }
    switch (svc) {
    case SHOP_USERS:
        done = users_route(rq, rs);
        break;
    case SHOP_ORDERS:
        done = orders_route(rq, rs);
        break;
    case SHOP_INVENTORY:
        done = inventory_route(rq, rs);
        break;
    default:
        break;
    }
    if (!done)
        shop_error(rs, 404, "not_found");
}
