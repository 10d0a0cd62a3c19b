/* tests/fuzz/fuzz_config.c — the config loader (core/src/config/config.c)
 *
 * Input: a YAML document, given to bff_config_parse() (the buffer form of
 * bff_config_load(); the file form only adds reading the file) with the
 * handlers of bff-mobile and bff-web compiled in. The value parsers
 * (durations, sizes, rates, method and algorithm names) get the input's first
 * line as well.
 * Properties, beyond memory safety and no leak:
 * - a refused config has at least one diagnostic, each "fuzz.yaml:LINE:COL: "
 *   and a message; an accepted one has none;
 * - an accepted config is usable: its routes build a router, every proxy
 *   route names a service that exists, every handler route has its
 *   endpoint, every service has a URL and a name that finds it again, and a
 *   rate limit has a period. */
#include "fuzz.h"

#include "bff/config.h"
#include "bff/endpoint.h"
#include "bff/router.h"

static const char *const os_svcs[] = {"orders", "users", "inventory", NULL};
static const char *const home_svcs[] = {"users", "orders", NULL};
static const struct bff_endpoint eps[] = {
    {"order_screen", os_svcs, NULL, 0},
    {"home", home_svcs, NULL, 0},
    {"order_details", os_svcs, NULL, 0},
    {"customer_orders", home_svcs, NULL, 0},
};
static const struct bff_config_opts opts = {eps, sizeof eps / sizeof eps[0]};

#define NAME "fuzz.yaml"

static int verbose; /* FUZZ_VERBOSE=1: print each verdict */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    return 0;
}

static void check_diag(const struct bff_diag *d)
{
    FUZZ_CHECK(d->n > 0, "a refused config without a diagnostic");
    for (size_t i = 0; i < d->n; i++) {
        const char *m = d->msgs[i];
        int         line = 0, col = 0, used = 0;
        FUZZ_CHECK(m != NULL && sscanf(m, NAME ":%d:%d: %n", &line, &col, &used) == 2 &&
                       used > 0 && m[used] != '\0' && line >= 1 && col >= 1,
                   "diagnostic %zu is not FILE:LINE:COL: message: \"%s\"", i,
                   m ? m : "(null)");
    }
}

static void check_config(const struct bff_config *c)
{
    struct bff_router *r;

    FUZZ_CHECK(c->listen != NULL && c->path != NULL && strcmp(c->path, NAME) == 0,
               "listen or path missing");
    FUZZ_CHECK(strlen(c->sha256) == 64, "sha256 \"%s\"", c->sha256);
    for (size_t i = 0; i < c->nservices; i++) {
        const struct bff_service_conf *s = &c->services[i];
        FUZZ_CHECK(s->name != NULL && s->url != NULL, "service %zu without name or url",
                   i);
        FUZZ_CHECK(bff_config_service(c, s->name) == (int)i,
                   "service \"%s\" is found at %d, not %zu", s->name,
                   bff_config_service(c, s->name), i);
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct bff_route_conf *rt = &c->routes[i];
        const char                  *why = NULL;
        FUZZ_CHECK(rt->path != NULL && bff_router_pattern_check(rt->path, &why) == 0,
                   "route %zu path \"%s\": %s", i, rt->path ? rt->path : "(null)",
                   why ? why : "");
        FUZZ_CHECK(rt->rate.count == 0 || rt->rate.period_ms > 0,
                   "route %zu: a rate without a period", i);
        FUZZ_CHECK(rt->methods != 0 && (rt->methods & ~BFF_M_ALL) == 0,
                   "route %zu: methods 0x%x", i, rt->methods);
        switch (rt->kind) {
        case BFF_ROUTE_PROXY:
            FUZZ_CHECK(rt->service >= 0 && (size_t)rt->service < c->nservices,
                       "route %zu: service %d of %zu", i, rt->service, c->nservices);
            break;
        case BFF_ROUTE_HANDLER:
            FUZZ_CHECK(rt->endpoint != NULL && rt->handler != NULL &&
                           strcmp(rt->endpoint->name, rt->handler) == 0,
                       "route %zu: handler without its endpoint", i);
            break;
        case BFF_ROUTE_STATIC:
            FUZZ_CHECK(rt->static_dir != NULL, "route %zu: static without a folder", i);
            break;
        default:
            FUZZ_CHECK(0, "route %zu: kind %d", i, (int)rt->kind);
        }
        for (size_t k = 0; k < rt->nroles; k++)
            FUZZ_CHECK(rt->roles != NULL && rt->roles[k] != NULL, "route %zu role %zu",
                       i, k);
        FUZZ_CHECK(rt->roles == NULL || rt->roles[rt->nroles] == NULL,
                   "route %zu: roles not NULL-terminated", i);
    }
    r = bff_router_new(c->routes, c->nroutes);
    FUZZ_CHECK(r != NULL, "the routes of an accepted config build no router");
    bff_router_free(r);
}

static void check_values(const uint8_t *data, size_t size)
{
    const uint8_t  *nl = memchr(data, '\n', size);
    char           *s = fuzz_strndup(data, nl ? (size_t)(nl - data) : size);
    const char     *why = NULL;
    struct bff_rate rate;
    uint64_t        v;

    if (bff_rate_parse(s, &rate, &why) == 0)
        FUZZ_CHECK(rate.count >= 1 && rate.count <= 1000000000 && rate.period_ms > 0,
                   "rate \"%s\": %u per %u ms", s, rate.count, rate.period_ms);
    else
        FUZZ_CHECK(why != NULL, "rate refused without a reason");
    why = NULL;
    if (bff_duration_parse(s, &v, &why) != 0)
        FUZZ_CHECK(why != NULL, "duration refused without a reason");
    why = NULL;
    if (bff_size_parse(s, &v, &why) != 0)
        FUZZ_CHECK(why != NULL, "size refused without a reason");
    uint32_t m = bff_method_bit(s);
    FUZZ_CHECK(m == 0 || (m & (m - 1)) == 0, "method bits 0x%x", m);
    uint32_t a = bff_jwt_alg_bit(s);
    FUZZ_CHECK(a == 0 || (a & (a - 1)) == 0, "alg bits 0x%x", a);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bff_diag    d = {0};
    struct bff_config *c = bff_config_parse(NAME, (const char *)data, size, &opts, &d);

    if (verbose) {
        fprintf(stderr, "fuzz_config: %s\n", c ? "accepted" : "refused");
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  %s\n", d.msgs[i]);
    }
    if (c == NULL) {
        check_diag(&d);
    } else {
        FUZZ_CHECK(d.n == 0, "an accepted config with %zu diagnostics", d.n);
        check_config(c);
        bff_config_free(c);
    }
    bff_diag_cleanup(&d);
    check_values(data, size);
    return 0;
}
