/* core/include/bff/endpoint.h — what a BFF directory writes: aggregation endpoints
 *
 * An endpoint is a chain of stages. Each stage function runs on the worker
 * thread that owns the request, declares the service calls of its stage with
 * bff_agg_call(), and names the next stage with bff_agg_then(). The core runs
 * all calls of a stage at once and calls the next stage when the last one
 * has finished. A stage that answers (bff_agg_respond_json / bff_agg_fail)
 * ends the request. A required call that fails ends the request with that
 * call's error (404/4xx passed through, 502 bad answer or refused, 503 circuit
 * open or bulkhead full, 504 timeout); its next stage is never called.
 * An optional call that fails leaves its part NULL and listed in partial.
 *
 * Memory: everything a bff_agg_* function returns is owned by the request and
 * lives until it completes; do not free it. */
#ifndef BFF_ENDPOINT_H
#define BFF_ENDPOINT_H

#include <stdint.h>
#include <json-c/json.h>

struct bff_agg;
typedef void (*bff_stage_fn)(struct bff_agg *agg);

struct bff_endpoint {
    const char        *name;     /* the `handler:` name in the YAML */
    const char *const *services; /* NULL-terminated service names it calls */
    bff_stage_fn       begin;    /* first stage */
};

enum bff_part_kind { BFF_REQUIRED = 0, BFF_OPTIONAL = 1 };

/* Route parameter @name ("id"), percent-decoded; NULL when absent. */
const char *bff_agg_param(struct bff_agg *a, const char *name);
/* Query argument @name, percent-decoded; NULL when absent. */
const char *bff_agg_query(struct bff_agg *a, const char *name);
/* The verified caller's user id and roles ("a,b"), or NULL without a token. */
const char *bff_agg_user_id(struct bff_agg *a);
const char *bff_agg_roles(struct bff_agg *a);
/* Formats into request memory; NULL when out of memory. */
char *bff_agg_printf(struct bff_agg *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* @s percent-encoded for a path segment or query value, in request memory. */
const char *bff_agg_escape(struct bff_agg *a, const char *s);

/* Declares a GET of @path_fmt (printf, must start with '/'; escape what you
 * put in it) on service @service as part @part of this stage. @timeout_ms 0
 * means the service's timeout; either way it is cut to what is left of the
 * route's deadline. Returns 0, or BFF_EINVAL for an unknown service, a
 * duplicate part or more than BFF_AGG_MAX_CALLS calls per request. */
#define BFF_AGG_MAX_CALLS 32
int bff_agg_call(struct bff_agg *a, const char *part, const char *service,
                 enum bff_part_kind kind, uint32_t timeout_ms,
                 const char *path_fmt, ...) __attribute__((format(printf, 6, 7)));

/* The stage to run when every call declared so far has finished. */
void bff_agg_then(struct bff_agg *a, bff_stage_fn next);

/* The parsed JSON body of a finished part, or NULL when it failed (optional),
 * was not declared, or is still running. Borrowed until the request ends. */
struct json_object *bff_agg_result(struct bff_agg *a, const char *part);
/* HTTP status a finished part got from its service; 0 when it got none. */
int bff_agg_status(struct bff_agg *a, const char *part);
/* A new JSON array of the names of failed optional parts (caller owns it). */
struct json_object *bff_agg_partial(struct bff_agg *a);
/* A new JSON object {"part": {"ms": 12.3, "status": 200}} per call made
 * (caller owns it), for endpoints that show their timings. */
struct json_object *bff_agg_timings(struct bff_agg *a);

/* Small json-c helpers for shaping answers. bff_json_str: the string at
 * @key of object @o, or NULL (missing, not a string, @o NULL); borrowed from
 * @o. bff_json_ref: a new reference to the value at @key (NULL if missing),
 * ready to be added to another object. */
const char *bff_json_str(json_object *o, const char *key);
json_object *bff_json_ref(json_object *o, const char *key);

/* Answers with @body (takes ownership; serialized compactly) and ends the
 * request. The core adds Server-Timing and the request's standard headers. */
void bff_agg_respond_json(struct bff_agg *a, int status, struct json_object *body);
/* Answers with an RFC 9457 problem (@detail: for the client, no secrets). */
void bff_agg_fail(struct bff_agg *a, int status, const char *detail);

#endif
