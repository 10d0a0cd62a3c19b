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

/* The members fields_get found, to add with fields_put: one walk of the
 * list checks and collects them. */
#define FIELDS_MAX 32
struct fields_got {
    size_t n;
    struct {
        char         name[64];
        json_object *v; /* borrowed from the checked object */
    } m[FIELDS_MAX];
};

/* fields_check that also collects the members into @got (NULL: only
 * checks); a list of more than FIELDS_MAX members reads as malformed. */
int fields_get(json_object *o, const char *fields, struct field *bad,
               struct fields_got *got);

/* Adds a new reference to each member in @got to object @to, in the list's
 * order. */
void fields_put(json_object *to, const struct fields_got *got);

/* Adds a new reference to each member of @fields of @from to object @to, in
 * the list's order, when @from has them all (fields_get then fields_put). */
void fields_copy(json_object *to, json_object *from, const char *fields);

/* What the member should have been, for a detail: "a string", "an integer or
 * null", … */
const char *fields_type_name(const struct field *f);

#endif
