/* core/src/base/problem.h — RFC 9457 problem+json and JSON escaping */
#ifndef BFF_BASE_PROBLEM_H
#define BFF_BASE_PROBLEM_H

#include <stddef.h>

#include "bff/arena.h"

/* The reason phrase of @status ("Not Found"), "Error" when unknown. */
const char *bff_status_title(int status);
/* The problem body in @a; sets *len. */
char *problem_body(struct bff_arena *a, int status, const char *detail,
                   const char *instance, const char *request_id, size_t *len);
/* Appends @s JSON-escaped (without quotes) to @out (cap bytes incl. NUL);
 * returns the new length or cap when truncated. */
size_t json_escape(char *out, size_t cap, size_t len, const char *s);

#endif
