/* core/src/mhd_shim.c — three libmicrohttpd 0.9.75 functions, wrapped
 *
 * libmicrohttpd calls these exported functions of its own through its PLT
 * (objdump -d libmicrohttpd.so.12: MHD_lookup_connection_value_n@plt,
 * MHD_create_response_from_buffer@plt, MHD_queue_response@plt), so the
 * definitions here, in the executable, are the ones it runs; they call the
 * library's own through dlsym(RTLD_NEXT). 0.9.75 has no option for either
 * thing done here (docs/http.md, "What libmicrohttpd does by itself"):
 *
 * - Content-Length, as libmicrohttpd reads it to frame the body before the
 *   access handler runs: a value with trailing OWS ("5 ", legal) is given to
 *   it trimmed (it would answer 400 itself); a value that is not 1*DIGIT or
 *   does not fit 64 bits is hidden from it, so it frames no body, the handler
 *   runs and the head check answers 400/413 problem+json and closes (it would
 *   send an HTML 400/413 whose head is written twice).
 * - Transfer-Encoding, likewise: "chunked " (trailing OWS) is given to it as
 *   "chunked" (it compares the whole value and would read the body until the
 *   client closes); any other value is refused by the head check.
 * - The error pages it sends by itself (request line it cannot parse, head
 *   over the memory limit, HTTP/0.9 or 2.0, bad chunked body): its HTML
 *   bodies, matched exactly, are replaced by problem+json with an
 *   X-Request-Id and Connection: close. */

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <microhttpd.h>

#include "bff/util.h"
#include "base/problem.h"
#include "http/mhd_shim.h"

typedef enum MHD_Result (*lookup_fn)(struct MHD_Connection *, enum MHD_ValueKind,
                                     const char *, size_t, const char **, size_t *);
typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);
typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int,
                                    struct MHD_Response *);

static lookup_fn      real_lookup;
static create_fn      real_create;
static queue_fn       real_queue;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
    real_lookup = (lookup_fn)dlsym(RTLD_NEXT, "MHD_lookup_connection_value_n");
    real_create = (create_fn)dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");
    real_queue = (queue_fn)dlsym(RTLD_NEXT, "MHD_queue_response");
}

int mhd_shim_init(void)
{
    pthread_once(&once, resolve);
    return real_lookup && real_create && real_queue ? 0 : -1;
}

/* ---- Content-Length as libmicrohttpd frames the body ------------------------ */

static __thread char cl_copy[24];

enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *connection,
                                              enum MHD_ValueKind kind, const char *key,
                                              size_t key_size, const char **value_ptr,
                                              size_t *value_size_ptr)
{
    const char *v = NULL;
    size_t      n = 0;

    pthread_once(&once, resolve);
    if (!real_lookup)
        return MHD_NO;
    if (kind == MHD_HEADER_KIND && key_size == 17 && key &&
        strncasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING, 17) == 0) {
        /* "chunked " (trailing OWS, legal) would not be chunked to it, and it
         * would read the body until the client closes */
        if (real_lookup(connection, kind, key, key_size, &v, &n) != MHD_YES || !v)
            return MHD_NO;
        n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n == 7 && v[n] != '\0' && strncasecmp(v, "chunked", 7) == 0)
            v = "chunked";
        if (value_ptr)
            *value_ptr = v;
        if (value_size_ptr)
            *value_size_ptr = strlen(v);
        return MHD_YES;
    }
    if (kind != MHD_HEADER_KIND || key_size != 14 || !key ||
        strncasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH, 14) != 0)
        return real_lookup(connection, kind, key, key_size, value_ptr, value_size_ptr);
    if (real_lookup(connection, kind, key, key_size, &v, &n) != MHD_YES || !v)
        return MHD_NO;
    n = strlen(v); /* leading OWS is skipped by libmicrohttpd already */
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n > 19)
        return MHD_NO; /* the head check answers */
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return MHD_NO;
    if (v[n] != '\0') {
        memcpy(cl_copy, v, n);
        cl_copy[n] = '\0';
        v = cl_copy;
    }
    if (value_ptr)
        *value_ptr = v;
    if (value_size_ptr)
        *value_size_ptr = n;
    return MHD_YES;
}

/* ---- libmicrohttpd's own error pages ------------------------------------------ */

static const struct canned {
    const char *html;
    const char *detail;
} canned[] = {
    {"<html><head><title>Request too big</title></head><body>Your HTTP header was too big "
     "for the memory constraints of this webserver.</body></html>",
     "the request head is larger than limits.max_header_bytes"},
    {"<html><head><title>Request malformed</title></head><body>Your HTTP request was "
     "syntactically incorrect.</body></html>",
     "the request line or a field line is malformed"},
    {"<html><head><title>Requested HTTP version is not supported</title></head><body>"
     "Requested HTTP version is too old and not supported.</body></html>",
     "only HTTP/1.x is served"},
    {"<html><head><title>Requested HTTP version is not supported</title></head><body>"
     "Requested HTTP version is not supported.</body></html>",
     "only HTTP/1.x is served"},
    {"<html><head><title>&quot;Host:&quot; header required</title></head><body>In HTTP "
     "1.1, requests must include a &quot;Host:&quot; header, and your HTTP 1.1 request "
     "lacked such a header.</body></html>",
     "an HTTP/1.1 request without Host"},
    {"<html><head><title>Request content too large</title></head><body>Your HTTP request "
     "has too large value for <b>Content-Length</b> header.</body></html>",
     "Content-Length is too large"},
    {"<html><head><title>Request malformed</title></head><body>Your HTTP request has wrong "
     "value for <b>Content-Length</b> header.</body></html>",
     "Content-Length is not a decimal number"},
    {"<html><head><title>Request malformed</title></head><body>Your HTTP chunked encoding "
     "was syntactically incorrect.</body></html>",
     "the chunked request body is malformed"},
    {"<html><head><title>Request content too large</title></head><body>The chunk size used "
     "in your HTTP chunked encoded request is too large.</body></html>",
     "a chunk of the request body is too large"},
    {"<html><head><title>Internal server error</title></head><body>Please ask the developer "
     "of this Web server to carefully read the GNU libmicrohttpd documentation about "
     "connection management and blocking.</body></html>",
     "the gateway failed to handle the request"},
};

/* The response libmicrohttpd is about to queue with one of its pages, and
 * which page: transmit_error_response() creates and queues it back to back on
 * one thread. */
static __thread struct MHD_Response *pending;
static __thread const struct canned *pending_page;
static __thread uint64_t             rng;

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    pthread_once(&once, resolve);
    if (!real_create)
        return NULL;
    struct MHD_Response *r = real_create(size, buffer, mode);
    if (r && mode == MHD_RESPMEM_PERSISTENT && buffer && size > 6 &&
        memcmp(buffer, "<html>", 6) == 0) {
        for (size_t i = 0; i < sizeof(canned) / sizeof(canned[0]); i++)
            if (strlen(canned[i].html) == size && memcmp(canned[i].html, buffer, size) == 0) {
                pending = r;
                pending_page = &canned[i];
                break;
            }
    }
    return r;
}

static void new_id(char out[33])
{
    uint8_t b[16];
    if (rng == 0 && (getrandom(&rng, sizeof(rng), 0) != sizeof(rng) || rng == 0))
        rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)out;
    for (int i = 0; i < 2; i++) {
        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        uint64_t x = rng * 0x2545F4914F6CDD1Dull;
        memcpy(b + 8 * i, &x, 8);
    }
    bff_hex(b, 16, out);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection,
                                   unsigned int status_code, struct MHD_Response *response)
{
    pthread_once(&once, resolve);
    if (!real_queue)
        return MHD_NO;
    if (!response || response != pending)
        return real_queue(connection, status_code, response);
    const struct canned *page = pending_page;
    pending = NULL;
    pending_page = NULL;

    char id[33], body[512];
    new_id(id);
    const char *detail = page->detail;
    if (status_code == 414)
        detail = "the request line is longer than the gateway accepts";
    int n = snprintf(body, sizeof(body),
                     "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,"
                     "\"detail\":\"%s\",\"request_id\":\"%s\"}",
                     bff_status_title((int)status_code), status_code, detail, id);
    struct MHD_Response *r =
        n > 0 && (size_t)n < sizeof(body)
            ? real_create((size_t)n, body, MHD_RESPMEM_MUST_COPY)
            : NULL;
    if (!r)
        return real_queue(connection, status_code, response);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    MHD_add_response_header(r, "X-Request-Id", id);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = real_queue(connection, status_code, r);
    MHD_destroy_response(r);
    return ret;
}
