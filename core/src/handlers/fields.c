/* core/src/handlers/fields.c — field lists ("id:s total_cents:i note:s?"):
 * checking a service's answer against one and copying its members, and the
 * small json-c helpers of bff/endpoint.h built on them. See fields.h. */
#include <string.h>

#include "bff/endpoint.h"
#include "handlers/fields.h"

static const struct {
    char        letter;
    json_type   type;
    const char *name, *or_null;
} field_types[] = {
    {'s', json_type_string, "a string", "a string or null"},
    {'i', json_type_int, "an integer", "an integer or null"},
    {'b', json_type_boolean, "a boolean", "a boolean or null"},
    {'a', json_type_array, "an array", "an array or null"},
    {'o', json_type_object, "an object", "an object or null"},
};
#define NTYPES (int)(sizeof(field_types) / sizeof(field_types[0]))

/* Reads the next "name:T" or "name:T?" of the list at *@p into @f and moves
 * *@p past it. Returns 1, 0 at the end of the list, -1 when it is malformed. */
static int next_field(const char **p, struct field *f)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s)
        return 0;
    const char *colon = strchr(s, ':');
    size_t      nl = colon ? (size_t)(colon - s) : 0;
    if (!colon || nl == 0 || nl >= sizeof(f->name) || memchr(s, ' ', nl) || !colon[1])
        return -1;
    f->nullable = colon[2] == '?';
    char after = colon[2 + f->nullable];
    f->t = -1;
    for (int k = 0; k < NTYPES; k++)
        if (colon[1] == field_types[k].letter && (after == ' ' || after == '\0'))
            f->t = k;
    if (f->t < 0)
        return -1;
    memcpy(f->name, s, nl);
    f->name[nl] = '\0';
    *p = colon + 2 + f->nullable;
    return 1;
}

int fields_get(json_object *o, const char *fields, struct field *bad,
               struct fields_got *got)
{
    const char *p = fields;
    int         rc;
    if (got)
        got->n = 0;
    while ((rc = next_field(&p, bad)) == 1) {
        json_object *v;
        if (!json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, bad->name, &v))
            return 0;
        if (!(v ? json_object_is_type(v, field_types[bad->t].type) : bad->nullable))
            return 0;
        if (got) {
            if (got->n == FIELDS_MAX)
                return -1; /* a list longer than an answer needs */
            memcpy(got->m[got->n].name, bad->name, sizeof(bad->name));
            got->m[got->n++].v = v;
        }
    }
    return rc < 0 ? -1 : 1; /* the end of the list, or a mistake in it */
}

int fields_check(json_object *o, const char *fields, struct field *bad)
{
    return fields_get(o, fields, bad, NULL);
}

void fields_put(json_object *to, const struct fields_got *got)
{
    for (size_t i = 0; i < got->n; i++)
        json_object_object_add(to, got->m[i].name, json_object_get(got->m[i].v));
}

void fields_copy(json_object *to, json_object *from, const char *fields)
{
    struct field      f;
    struct fields_got got;
    if (fields_get(from, fields, &f, &got) == 1)
        fields_put(to, &got);
}

const char *fields_type_name(const struct field *f)
{
    return f->t < 0 || f->t >= NTYPES ? "?"
           : f->nullable              ? field_types[f->t].or_null
                                      : field_types[f->t].name;
}

json_object *bff_json_pick(json_object *from, const char *fields)
{
    struct field      bad;
    struct fields_got got;
    json_object      *out = NULL;
    if (fields_get(from, fields, &bad, &got) == 1 && (out = json_object_new_object()))
        fields_put(out, &got);
    return out;
}

json_object *bff_json_ref_if(json_object *o, const char *key, json_type t)
{
    json_object *v;
    return json_object_is_type(o, json_type_object) &&
                   json_object_object_get_ex(o, key, &v) && json_object_is_type(v, t)
               ? json_object_get(v)
               : NULL;
}

json_object *bff_json_find(json_object *arr, const char *key, const char *value)
{
    if (!value || !json_object_is_type(arr, json_type_array))
        return NULL;
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        json_object *el = json_object_array_get_idx(arr, i), *v;
        if (json_object_is_type(el, json_type_object) &&
            json_object_object_get_ex(el, key, &v) &&
            json_object_is_type(v, json_type_string) &&
            strcmp(json_object_get_string(v), value) == 0)
            return el;
    }
    return NULL;
}
