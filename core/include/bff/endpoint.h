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
 * A stage does exactly one of: answer; or declare calls (zero or more) and
 * name the next stage. A stage that does neither ends the request with 500
 * "the endpoint ended without an answer". Once a stage has answered, the
 * request is over: calls it declared are never started, no next stage runs,
 * and the first answer stands (a later bff_agg_respond_json or bff_agg_fail
 * in the same stage does nothing but free its body, so a stage whose
 * bff_agg_copy failed may still finish building); after the stage has
 * returned, no bff_agg_* call on @agg is allowed (the request may be
 * freed). Part names are unique over the whole request, not per stage.
 *
 * Threads: every stage of a request runs on the worker thread that accepted
 * it, one stage at a time, never two stages of one request at once; stages of
 * different requests run at the same time on other workers. A stage must not
 * block (no sleep, no blocking I/O, no lock a worker could wait on): while it
 * runs, every other request of its worker waits. Keep no mutable state
 * outside the request; a struct bff_endpoint is a constant with static
 * storage (the core keeps a pointer to it for the life of the process).
 *
 * Memory: strings a bff_agg_* function returns (bff_agg_param, _query,
 * _user_id, _roles, _printf, _escape) live in the request's memory until it
 * completes; do not free them. JSON: bff_agg_result() is borrowed (do not
 * json_object_put it; json_object_get it to keep it in your answer);
 * bff_agg_partial(), bff_agg_timings() and bff_json_ref() return a new
 * reference that you own (adding it to your answer hands it over).
 *
 * Trust: a part's JSON is whatever the service sent, parsed: any type, any
 * shape. Check before use (json_object_is_type, bff_json_str): json-c's
 * array functions abort on a value that is not an array. A required part of
 * the wrong shape is a 502 with a detail saying what was missing; an optional
 * one is best treated as missing (null, and its name added to partial). */
#ifndef BFF_ENDPOINT_H
#define BFF_ENDPOINT_H

#include <stdint.h>
#include <json-c/json.h>

struct bff_agg;
typedef void (*bff_stage_fn)(struct bff_agg *agg);

/* How the core encodes a 200 answer (bff_agg_respond_json, static files).
 * Set per BFF in struct bff_app.encode (bff/server.h) and per endpoint in
 * struct bff_endpoint.encode; a handler route gets the two OR'd, a static
 * route gets the BFF's (and always an ETag). Zero: as before, no change.
 * - BFF_ENCODE_GZIP: gzip the body when the client's Accept-Encoding takes
 *   gzip with q > 0 and the body has at least BFF_GZIP_MIN bytes (below
 *   that, gzip's 18-byte frame and the CPU cost more than they save);
 *   always adds Vary: Accept-Encoding.
 * - BFF_ENCODE_BR: brotli (quality 5, 64 KiB window) when the client's
 *   Accept-Encoding gives br a q above 0 and at least gzip's, and the body
 *   has at least BFF_BR_MIN bytes; always adds Vary: Accept-Encoding. With
 *   both bits, a client that takes both equally ("gzip, deflate, br") gets
 *   br; one that ranks gzip higher ("br;q=0.5, gzip") gets gzip.
 * - BFF_ENCODE_ETAG: a strong ETag, "<22 base64url chars of the SHA-256 of
 *   the identity body>", with "-gzip" or "-br" appended inside the quotes
 *   for the compressed variants; a GET/HEAD whose If-None-Match names it
 *   (weak comparison, lists and "*" included) gets 304 Not Modified and no
 *   body. The answer's
 *   Cache-Control becomes "private, no-cache" (a client may keep it and must
 *   revalidate) instead of "no-store". */
enum bff_encode {
    BFF_ENCODE_GZIP = 1u << 0,
    BFF_ENCODE_ETAG = 1u << 1,
    BFF_ENCODE_BR = 1u << 2,
};
#define BFF_GZIP_MIN 256
#define BFF_BR_MIN 128

struct bff_endpoint {
    const char        *name;     /* the `handler:` name in the YAML */
    const char *const *services; /* NULL-terminated service names it calls */
    bff_stage_fn       begin;    /* first stage */
    unsigned           encode;   /* BFF_ENCODE_* bits added to the BFF's; 0 = none */
};

enum bff_part_kind { BFF_REQUIRED = 0, BFF_OPTIONAL = 1 };

/* Route parameter @name ("id"), percent-decoded (so it may hold '/', '?' or
 * any byte but NUL: bff_agg_escape it before putting it in a path); NULL
 * when absent or out of memory. */
const char *bff_agg_param(struct bff_agg *a, const char *name);
/* The first query argument @name, percent-decoded ('+' is a space); "" for
 * "?name" or "?name="; NULL when absent or out of memory. */
const char *bff_agg_query(struct bff_agg *a, const char *name);
/* The verified caller's user id and roles ("a,b"), or NULL without a token
 * (a route with auth: none, or auth: optional and no token sent). */
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
 * duplicate part, a path that does not start with '/' or more than
 * BFF_AGG_MAX_CALLS calls per request (BFF_ENOMEM when out of memory); a
 * call that was not declared never
 * runs, and its part reads as not declared (bff_agg_result NULL, status 0,
 * not in partial). The call is a GET with Accept: application/json and the
 * caller's identity headers (bff/sign.h); 2xx with a JSON body is a success,
 * anything else a failure. */
#define BFF_AGG_MAX_CALLS 32
int bff_agg_call(struct bff_agg *a, const char *part, const char *service,
                 enum bff_part_kind kind, uint32_t timeout_ms,
                 const char *path_fmt, ...) __attribute__((format(printf, 6, 7)));

/* The stage to run when every call declared so far has finished; the last
 * bff_agg_then() of a stage wins. */
void bff_agg_then(struct bff_agg *a, bff_stage_fn next);

/* The parsed JSON body of a finished part, or NULL when it failed (optional),
 * was not declared, or is still running. Borrowed until the request ends. */
struct json_object *bff_agg_result(struct bff_agg *a, const char *part);
/* HTTP status a finished part got from its service; 0 when it got none
 * (timeout, refused, not started, not declared). Lets a stage tell an
 * optional part's 404 ("no such thing") from an outage. */
int bff_agg_status(struct bff_agg *a, const char *part);
/* A new JSON array of the names of failed optional parts (caller owns it). */
struct json_object *bff_agg_partial(struct bff_agg *a);
/* A new JSON array of the names of parts answered from the cache past their
 * freshness because their service failed (stale-if-error, SPEC §4); caller
 * owns it. bff_agg_respond_json adds it as "stale" to a 200 object that has
 * "partial" and no "stale", so an endpoint need not call it. */
struct json_object *bff_agg_stale(struct bff_agg *a);
/* A new JSON object {"part": {"ms": 12.3, "start_ms": 0.4, "status": 200}}
 * per call made (caller owns it), for endpoints that show their timings:
 * start_ms is when the call started, in ms after the aggregation began (the
 * axis of bff_agg_deadline_ms); a call never made (deadline passed, circuit
 * open) has the time it was tried and ms 0. */
struct json_object *bff_agg_timings(struct bff_agg *a);
/* The route's overall deadline in ms after the aggregation began (its
 * timeout: or 5 s): where a waterfall of bff_agg_timings marks the end. */
uint32_t bff_agg_deadline_ms(const struct bff_agg *a);

/* Small json-c helpers for shaping answers. bff_json_str: the string at
 * @key of object @o, or NULL (missing, not a string, @o NULL); borrowed from
 * @o. bff_json_ref: a new reference to the value at @key (NULL if missing),
 * ready to be added to another object. */
const char *bff_json_str(json_object *o, const char *key);
json_object *bff_json_ref(json_object *o, const char *key);
/* 1 when object @o has a member @key of json-c type @t (checking a
 * service's answer before shaping it). */
int bff_json_has(json_object *o, const char *key, json_type t);
/* Checks a service's answer before it is shaped: object @o must have every
 * member of @fields, a space-separated list of "name:T" with T one of s
 * (string), i (integer), b (boolean), a (array), o (object), e.g.
 * "id:s total_cents:i items:a"; "name:T?" takes null too (the member must
 * still be there: a schema's "required" with "type": [T, "null"]). Returns 1
 * when it does. Otherwise fails the request with 502 and the detail "@what
 * without NAME (a TYPE)" for the first member missing or of another type
 * (@o not an object: its first member) and returns 0: the stage returns at
 * once. A malformed @fields (an unknown T, a name over 63 bytes) fails it
 * with 500. */
int bff_agg_require(struct bff_agg *a, json_object *o, const char *what,
                    const char *fields);

/* bff_agg_require for every element of array @arr (not an array: nothing
 * to check). */
int bff_agg_require_each(struct bff_agg *a, json_object *arr, const char *what,
                         const char *fields);

/* Shaping an answer from parts: copy the members an answer shows, checked.
 * bff_agg_copy: the members @fields (the bff_agg_require list) of @from
 * added to object @to in the list's order, each a new reference. All are
 * checked first: one missing or of another type fails the request as
 * bff_agg_require does (502 "@what without NAME (a TYPE)"), adds nothing
 * and returns 0. Returns 1. A list that copies (here, bff_agg_pick,
 * bff_json_pick) names at most 32 members; a longer one is malformed (a
 * 500; bff_json_pick: NULL).
 * The stage may go on building after a 0 (its
 * bff_agg_respond_json then only frees the body) or return at once. */
int bff_agg_copy(struct bff_agg *a, json_object *to, json_object *from,
                 const char *what, const char *fields);
/* For an optional part, which never fails the request: bff_agg_part is the
 * answer of part @part (borrowed, as bff_agg_result) when it has every
 * member of @fields, typed; else NULL: the part failed or was not declared,
 * or it answered without one of them, and then @part is added to @partial
 * (bff_json_partial_add: "as good as missing"). bff_agg_pick is those
 * members alone, in a new object that you own (adding it to your answer
 * hands it over), or NULL likewise. A malformed @fields makes the answer a
 * 500. */
json_object *bff_agg_part(struct bff_agg *a, json_object *partial, const char *part,
                          const char *fields);
json_object *bff_agg_pick(struct bff_agg *a, json_object *partial, const char *part,
                          const char *fields);
/* The same for any object: the members @fields of @from in a new object
 * that you own when @from has them all, typed; else NULL (@from NULL, or a
 * member missing or of another type; a malformed @fields matches nothing).
 * For data an answer may show without (an inventory record). */
json_object *bff_json_pick(json_object *from, const char *fields);
/* bff_json_ref when the member @key of @o is of type @t; else NULL. */
json_object *bff_json_ref_if(json_object *o, const char *key, json_type t);
/* The first object of array @arr whose string member @key is @value
 * (borrowed from @arr); NULL when there is none, @arr is not an array or
 * @value is NULL. */
json_object *bff_json_find(json_object *arr, const char *key, const char *value);
/* Appends @part to the JSON array @partial unless it is there already (a
 * part that answered but could not be used). */
void bff_json_partial_add(json_object *partial, const char *part);
/* The string member @key of every object in array @arr, each percent-encoded
 * for a query value and joined with @sep ("SKU-1,SKU-2"), in request memory;
 * "" for an empty array; NULL when an element lacks a string @key (the
 * service's answer is not what the endpoint needs) or out of memory. */
const char *bff_agg_join(struct bff_agg *a, json_object *arr, const char *key, char sep);

/* Answers with @body (takes ownership, also on failure; serialized compactly,
 * keys in the order added, '/' unescaped) and ends the request. The core
 * adds Server-Timing (a part from the cache says desc="cache", a stale one
 * desc="stale", one that waited for an identical call desc="shared"),
 * "stale" to a 200 object with "partial" (bff_agg_stale), X-Request-Id,
 * CORS, and on a 200 what the BFF's and the
 * endpoint's BFF_ENCODE_* ask for (br, gzip, ETag, 304); Cache-Control is
 * "no-store", or "private, no-cache" with BFF_ENCODE_ETAG. */
void bff_agg_respond_json(struct bff_agg *a, int status, struct json_object *body);
/* Answers with an RFC 9457 problem (@detail: for the client, no secrets;
 * copied, so it may be a temporary) and ends the request. 503 answers carry
 * Retry-After when a breaker or bulkhead refused a required part. */
void bff_agg_fail(struct bff_agg *a, int status, const char *detail);

#endif
