/* tests/e2e/common.h — the shop + BFF set-up shared by the end-to-end suites */
#ifndef BFF_E2E_COMMON_H
#define BFF_E2E_COMMON_H

#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Parses @r's body as JSON (the caller puts it). */
static inline json_object *body_json(const struct h_resp *r)
{
    return json_tokener_parse(r->body);
}

/* The string at dotted @path ("a.b") of @o, or NULL. */
static inline const char *jstr(json_object *o, const char *path)
{
    char  buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, k, &o))
            return NULL;
    return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o)
                                                          : NULL;
}

/* Asserts @r is an RFC 9457 problem with @status. */
static inline void assert_problem(const struct h_resp *r, long status)
{
    ck_assert_int_eq(r->status, status);
    const char *ct = h_header(r, "Content-Type");
    ck_assert_ptr_nonnull(ct);
    ck_assert_str_eq(ct, "application/problem+json");
    json_object *j = body_json(r);
    ck_assert_ptr_nonnull(j);
    json_object *st;
    ck_assert(json_object_object_get_ex(j, "status", &st));
    ck_assert_int_eq(json_object_get_int(st), status);
    ck_assert_ptr_nonnull(jstr(j, "title"));
    ck_assert_ptr_nonnull(jstr(j, "request_id"));
    json_object_put(j);
    ck_assert_ptr_nonnull(h_header(r, "X-Request-Id"));
}

#endif
