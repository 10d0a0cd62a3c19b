/* core/src/handlers/fields.h — field lists: the "id:s total_cents:i note:s?"
 * strings with which an endpoint says which members of a service's answer it
 * needs and copies (bff_agg_require, bff_agg_copy, bff_agg_part,
 * bff_agg_pick, bff_json_pick in bff/endpoint.h). Pure functions of their
 * inputs over json-c; the answers and the 502s are agg.c's. */
#ifndef BFF_FIELDS_H
#define BFF_FIELDS_H

#include <json-c/json.h>

/* One member of a list, as read. */
struct field {
    char name[64];
    int  t;        /* index of its type (fields_type_name) */
    int  nullable; /* "T?": null is fine too (the member must still be there) */
};

/* Checks object @o against the list @fields: 1 when it has every member,
 * each of its type; 0 when it does not (@bad: the first member missing or of
 * another type; @o NULL or not an object: the first member); -1 when the
 * list is malformed (an unknown T, no name, a name over 63 bytes). */
int fields_check(json_object *o, const char *fields, struct field *bad);

/* Adds a new reference to each member of @fields of @from to object @to, in
 * the list's order (checked first with fields_check). */
void fields_copy(json_object *to, json_object *from, const char *fields);

/* What the member should have been, for a detail: "a string", "an integer or
 * null", … */
const char *fields_type_name(const struct field *f);

#endif
