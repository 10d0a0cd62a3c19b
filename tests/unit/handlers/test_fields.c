/* tests/unit/handlers/test_fields.c — field lists (core/src/handlers/fields.c):
 * the check behind bff_agg_require and bff_agg_copy (types checked, the first
 * missing member named), the copy, and bff_json_pick / _find / _ref_if. The
 * 502 answers that carry the name are asserted end to end in
 * tests/e2e/test_bff.c (wrong_shapes_never_make_half_answers). */
#include <check.h>
#include <string.h>

#include "bff/endpoint.h"
#include "handlers/fields.h"

static const char *order_json =
    "{\"id\":\"o-1\",\"user_id\":\"4412\",\"status\":\"paid\",\"total_cents\":4599,"
    "\"currency\":\"EUR\",\"paid\":true,\"items\":[{\"sku\":\"SKU-1\"}],\"meta\":{},"
    "\"note\":null,\"extra\":\"x\"}";

START_TEST(check_takes_every_type)
{
    json_object *o = json_tokener_parse(order_json);
    struct field bad;
    ck_assert_int_eq(fields_check(o, "id:s total_cents:i paid:b items:a meta:o", &bad),
                     1);
    ck_assert_int_eq(fields_check(o, "  id:s   currency:s ", &bad), 1);
    ck_assert_int_eq(fields_check(o, "", &bad), 1);
    ck_assert_int_eq(fields_check(o, "note:s?", &bad), 1); /* null is fine with ? */
    ck_assert_int_eq(fields_check(o, "id:s? items:a?", &bad), 1);
    json_object_put(o);
}
END_TEST

START_TEST(check_names_the_first_missing_or_mistyped_member)
{
    json_object *o = json_tokener_parse(order_json);
    struct field bad;
    ck_assert_int_eq(fields_check(o, "id:s price_cents:i currency:s", &bad), 0);
    ck_assert_str_eq(bad.name, "price_cents");
    ck_assert_str_eq(fields_type_name(&bad), "an integer");
    ck_assert_int_eq(fields_check(o, "id:s total_cents:s", &bad),
                     0); /* of another type */
    ck_assert_str_eq(bad.name, "total_cents");
    ck_assert_str_eq(fields_type_name(&bad), "a string");
    ck_assert_int_eq(fields_check(o, "items:o", &bad), 0);
    ck_assert_str_eq(fields_type_name(&bad), "an object");
    ck_assert_int_eq(fields_check(o, "note:s", &bad), 0); /* null without ? */
    ck_assert_str_eq(bad.name, "note");
    ck_assert_int_eq(fields_check(o, "gone:s?", &bad), 0); /* ? still needs it there */
    ck_assert_str_eq(fields_type_name(&bad), "a string or null");
    ck_assert_int_eq(fields_check(o, "paid:i", &bad), 0); /* a boolean is no integer */
    ck_assert_int_eq(fields_check(o, "user_id:b", &bad), 0);
    ck_assert_str_eq(fields_type_name(&bad), "a boolean");
    ck_assert_int_eq(fields_check(o, "meta:a", &bad), 0);
    ck_assert_str_eq(fields_type_name(&bad), "an array");
    /* not an object, or none: its first member is what is missing */
    json_object *arr = json_tokener_parse("[1,2]");
    ck_assert_int_eq(fields_check(arr, "id:s status:s", &bad), 0);
    ck_assert_str_eq(bad.name, "id");
    ck_assert_int_eq(fields_check(NULL, "id:s", &bad), 0);
    ck_assert_str_eq(bad.name, "id");
    json_object_put(arr);
    json_object_put(o);
}
END_TEST

START_TEST(a_malformed_list_is_told_apart)
{
    json_object             *o = json_tokener_parse(order_json);
    struct field             bad;
    static const char *const lists[] = {
        "id",
        "id:",
        "id:x",
        ":s",
        "id:ss",
        "id:s?x",
        "i d:s",
        "id:s total_cents",
        "a123456789a123456789a123456789a123456789a123456789"
        "a123456789abcd:s"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        ck_assert_msg(fields_check(o, lists[i], &bad) == -1, "%s", lists[i]);
    /* a member missing before the mistake is found first, as it is read */
    ck_assert_int_eq(fields_check(o, "gone:s id:x", &bad), 0);
    json_object_put(o);
}
END_TEST

START_TEST(copy_adds_references_in_the_lists_order)
{
    json_object *o = json_tokener_parse(order_json);
    json_object *to = json_object_new_object();
    json_object_object_add(to, "kept", json_object_new_int(1));
    fields_copy(to, o, "total_cents:i id:s note:s? items:a");
    ck_assert_str_eq(json_object_to_json_string_ext(to, JSON_C_TO_STRING_PLAIN),
                     "{\"kept\":1,\"total_cents\":4599,\"id\":\"o-1\",\"note\":null,"
                     "\"items\":[{\"sku\":\"SKU-1\"}]}");
    /* shared, not copied: the same items array, one more reference */
    json_object *a, *b;
    json_object_object_get_ex(o, "items", &a);
    json_object_object_get_ex(to, "items", &b);
    ck_assert_ptr_eq(a, b);
    json_object_put(o); /* the answer keeps what it took */
    ck_assert_int_eq(json_object_array_length(b), 1);
    json_object_put(to);
}
END_TEST

START_TEST(get_collects_in_one_walk)
{
    json_object      *o = json_tokener_parse(order_json);
    struct field      bad;
    struct fields_got got;
    ck_assert_int_eq(fields_get(o, "currency:s id:s note:s?", &bad, &got), 1);
    ck_assert_uint_eq(got.n, 3);
    ck_assert_str_eq(got.m[0].name, "currency");
    ck_assert_str_eq(json_object_get_string(got.m[0].v), "EUR");
    ck_assert_ptr_null(got.m[2].v); /* note is null */
    json_object *to = json_object_new_object();
    fields_put(to, &got);
    ck_assert_str_eq(json_object_to_json_string_ext(to, JSON_C_TO_STRING_PLAIN),
                     "{\"currency\":\"EUR\",\"id\":\"o-1\",\"note\":null}");
    json_object_put(to);
    /* a miss collects nothing usable and says so */
    ck_assert_int_eq(fields_get(o, "id:s gone:i", &bad, &got), 0);
    ck_assert_str_eq(bad.name, "gone");
    /* more members than FIELDS_MAX: malformed for collecting (no room for
     * them), while checking needs no room and passes */
    char long_list[FIELDS_MAX * 6 + 8] = "";
    for (int i = 0; i <= FIELDS_MAX; i++)
        strcat(long_list, "id:s ");
    ck_assert_int_eq(fields_get(o, long_list, &bad, &got), -1);
    ck_assert_int_eq(fields_check(o, long_list, &bad), 1); /* checking needs no room */
    json_object_put(o);
}
END_TEST

START_TEST(json_pick_is_all_or_nothing)
{
    json_object *o = json_tokener_parse(order_json);
    json_object *p = bff_json_pick(o, "id:s status:s");
    ck_assert_str_eq(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN),
                     "{\"id\":\"o-1\",\"status\":\"paid\"}");
    json_object_put(p);
    ck_assert_ptr_null(bff_json_pick(o, "id:s status:i"));
    ck_assert_ptr_null(bff_json_pick(o, "id:s gone:s"));
    ck_assert_ptr_null(bff_json_pick(o, "id:q"));
    ck_assert_ptr_null(bff_json_pick(NULL, "id:s"));
    json_object_put(o);
}
END_TEST

START_TEST(json_find_and_ref_if)
{
    json_object *inv = json_tokener_parse(
        "[7,{\"sku\":1},{\"sku\":\"SKU-1\",\"in_stock\":true},{\"sku\":\"SKU-2\","
        "\"in_stock\":\"yes\"},{\"sku\":\"SKU-1\",\"in_stock\":false}]");
    json_object *r = bff_json_find(inv, "sku", "SKU-1");
    ck_assert_ptr_eq(r, json_object_array_get_idx(inv, 2)); /* the first one */
    json_object *v = bff_json_ref_if(r, "in_stock", json_type_boolean);
    ck_assert(json_object_get_boolean(v));
    json_object_put(v);
    r = bff_json_find(inv, "sku", "SKU-2");
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(bff_json_ref_if(r, "in_stock", json_type_boolean));
    ck_assert_ptr_null(bff_json_ref_if(r, "gone", json_type_string));
    ck_assert_ptr_null(bff_json_ref_if(NULL, "in_stock", json_type_boolean));
    ck_assert_ptr_null(bff_json_find(inv, "sku", "SKU-3"));
    ck_assert_ptr_null(bff_json_find(inv, "sku", NULL));
    ck_assert_ptr_null(bff_json_find(NULL, "sku", "SKU-1"));
    json_object *obj = json_tokener_parse("{\"sku\":\"SKU-1\"}");
    ck_assert_ptr_null(bff_json_find(obj, "sku", "SKU-1")); /* not an array */
    json_object_put(obj);
    json_object_put(inv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fields");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, check_takes_every_type);
    tcase_add_test(tc, check_names_the_first_missing_or_mistyped_member);
    tcase_add_test(tc, a_malformed_list_is_told_apart);
    tcase_add_test(tc, copy_adds_references_in_the_lists_order);
    tcase_add_test(tc, get_collects_in_one_walk);
    tcase_add_test(tc, json_pick_is_all_or_nothing);
    tcase_add_test(tc, json_find_and_ref_if);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
