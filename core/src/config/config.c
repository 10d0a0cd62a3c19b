/* core/src/config.c — the YAML config of one BFF: parse, validate, free
 *
 * The file is loaded with libyaml's document API into a node tree, then each
 * section is walked against a fixed table of keys. Errors do not stop the
 * walk: every one found is collected with its position, sorted by line and
 * column, and handed to the caller's bff_diag as "FILE:LINE:COL: message".
 * Nothing here opens the files the config names (JWKS, keys, TLS, static
 * folders); the server checks those. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "bff/config.h"
#include "bff/router.h"
#include "bff/endpoint.h"
#include "bff/err.h"

#define MAX_FILE (4u << 20) /* bytes; a larger config file is refused */
#define ADMIN_TOKEN_MIN 16u  /* bytes of an admin token, after the newline trim */
#define ADMIN_TOKEN_MAX 4096u
#define MAX_MSGS 200        /* diagnostics handed out per load */
#define MAX_WORKERS 64
#define MAX_PARAMS BFF_MAX_PARAMS /* {name} segments per route path */
#define QLEN 96       /* a value quoted in a message, cut to fit */
#define LISTLEN 512   /* "known: a, b, c" lists in messages */

#define SEC 1000ull
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

#define WHY(w)                                                                         \
    do {                                                                               \
        if (why)                                                                       \
            *why = (w);                                                                \
    } while (0)

struct msg {
    int    line, col;
    size_t seq;
    char  *text;
};

struct ctx {
    const char                   *file;
    yaml_document_t              *doc;
    const struct bff_config_opts *opts;
    struct bff_config            *cfg;
    size_t                        svc_cap;
    struct msg                   *msgs;
    size_t                        nmsgs, msgs_cap;
    size_t                        nerr;
    int                           oom;
};

/* ---- value parsers (exported) ---------------------------------------- */

static int hasspace(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s))
            return 1;
    return 0;
}

/* Reads the decimal digits at *@p into @out, stopping at the first
 * non-digit. Returns 0, -1 when there is no digit, -2 past @max. */
static int digits(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t    n = 0;

    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (max - d) / 10)
            return -2;
        n = n * 10 + d;
    }
    *p = s;
    *out = n;
    return 0;
}

int bff_rate_parse(const char *text, struct bff_rate *out, const char **why)
{
    static const struct {
        const char *unit;
        uint32_t    ms;
    } units[] = {{"s", 1000}, {"sec", 1000}, {"min", 60000}, {"hour", 3600000}};
    const char *p = text;
    uint64_t    n;
    int         rc;

    if (!text || !*text) {
        WHY("empty; write N/s, N/sec, N/min or N/hour, like 100/min");
        return BFF_EINVAL;
    }
    if (hasspace(text)) {
        WHY("must not contain spaces; write it like 100/min");
        return BFF_EINVAL;
    }
    rc = digits(&p, UINT64_MAX, &n);
    if (rc == -1) {
        WHY("must be N/s, N/sec, N/min or N/hour, like 100/min");
        return BFF_EINVAL;
    }
    if (rc == -2 || n < 1 || n > 1000000000) {
        WHY("count must be a whole number from 1 to 1000000000");
        return BFF_EINVAL;
    }
    if (*p == '.') {
        WHY("count must be a whole number");
        return BFF_EINVAL;
    }
    if (*p != '/') {
        WHY("missing unit; write N/s, N/sec, N/min or N/hour, like 100/min");
        return BFF_EINVAL;
    }
    p++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(p, units[i].unit)) {
            out->count = (uint32_t)n;
            out->period_ms = units[i].ms;
            return 0;
        }
    }
    WHY("unit must be s, sec, min or hour");
    return BFF_EINVAL;
}

int bff_duration_parse(const char *text, uint64_t *out_ms, const char **why)
{
    static const struct {
        const char *unit;
        uint64_t    ms;
    } units[] = {{"ms", 1}, {"s", SEC}, {"m", MINUTE}, {"h", HOUR}};
    const char *p = text;
    uint64_t    n;
    int         rc;

    if (!text || !*text) {
        WHY("empty; write a duration like 250ms, 2s, 5m or 1h");
        return BFF_EINVAL;
    }
    if (hasspace(text)) {
        WHY("must not contain spaces; write it like 250ms or 2s");
        return BFF_EINVAL;
    }
    rc = digits(&p, UINT64_MAX, &n);
    if (rc == -1) {
        WHY("must be a whole number and a unit (ms, s, m or h), like 250ms");
        return BFF_EINVAL;
    }
    if (rc == -2) {
        WHY("too large");
        return BFF_EINVAL;
    }
    if (*p == '.' || *p == ',') {
        WHY("amount must be a whole number; write 1500ms, not 1.5s");
        return BFF_EINVAL;
    }
    if (!*p) {
        if (n == 0) {
            *out_ms = 0;
            return 0;
        }
        WHY("missing unit; write ms, s, m or h, like 250ms");
        return BFF_EINVAL;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(p, units[i].unit)) {
            if (n > UINT64_MAX / units[i].ms) {
                WHY("too large");
                return BFF_EINVAL;
            }
            *out_ms = n * units[i].ms;
            return 0;
        }
    }
    WHY("unit must be ms, s, m or h");
    return BFF_EINVAL;
}

int bff_size_parse(const char *text, uint64_t *out_bytes, const char **why)
{
    static const struct {
        const char *unit;
        uint64_t    bytes;
    } units[] = {{"", 1}, {"B", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}};
    const char *p = text;
    uint64_t    n;
    int         rc;

    if (!text || !*text) {
        WHY("empty; write a size like 64B, 512KiB or 1MiB");
        return BFF_EINVAL;
    }
    if (hasspace(text)) {
        WHY("must not contain spaces; write it like 512KiB");
        return BFF_EINVAL;
    }
    rc = digits(&p, UINT64_MAX, &n);
    if (rc == -1) {
        WHY("must be a whole number and a unit (B, KiB, MiB or GiB), like 512KiB");
        return BFF_EINVAL;
    }
    if (rc == -2) {
        WHY("too large");
        return BFF_EINVAL;
    }
    if (*p == '.' || *p == ',') {
        WHY("amount must be a whole number; write 1536KiB, not 1.5MiB");
        return BFF_EINVAL;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(p, units[i].unit)) {
            if (n > UINT64_MAX / units[i].bytes) {
                WHY("too large");
                return BFF_EINVAL;
            }
            *out_bytes = n * units[i].bytes;
            return 0;
        }
    }
    WHY("unit must be B, KiB, MiB or GiB (1KiB = 1024 bytes)");
    return BFF_EINVAL;
}

static const char *const method_names[] = {"GET",   "HEAD",   "POST",    "PUT",
                                           "PATCH", "DELETE", "OPTIONS", NULL};

uint32_t bff_method_bit(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; method_names[i]; i++)
        if (!strcmp(name, method_names[i]))
            return 1u << i;
    return 0;
}

/* In bit order: HS256 is bit 0 ... EdDSA is bit 12. */
static const char *const alg_names[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                        "RS512", "PS256", "PS384", "PS512", "ES256",
                                        "ES384", "ES512", "EdDSA", NULL};

uint32_t bff_jwt_alg_bit(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; alg_names[i]; i++)
        if (!strcmp(name, alg_names[i]))
            return 1u << i;
    return 0;
}

/* ---- diagnostics ------------------------------------------------------ */

void bff_diag_cleanup(struct bff_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    d->msgs = NULL;
    d->n = 0;
}

static void diag_add(struct bff_diag *d, char *line)
{
    char **p;

    if (!d || !line) {
        free(line);
        return;
    }
    p = realloc(d->msgs, (d->n + 1) * sizeof *p);
    if (!p) {
        free(line);
        return;
    }
    d->msgs = p;
    d->msgs[d->n++] = line;
}

__attribute__((format(printf, 4, 0))) static void
vrecord(struct ctx *c, int line, int col, const char *fmt, va_list ap)
{
    char *text;

    c->nerr++;
    if (vasprintf(&text, fmt, ap) < 0) {
        c->oom = 1;
        return;
    }
    if (c->nmsgs == c->msgs_cap) {
        size_t      cap = c->msgs_cap ? c->msgs_cap * 2 : 16;
        struct msg *p = realloc(c->msgs, cap * sizeof *p);
        if (!p) {
            free(text);
            c->oom = 1;
            return;
        }
        c->msgs = p;
        c->msgs_cap = cap;
    }
    c->msgs[c->nmsgs] = (struct msg){line, col, c->nmsgs, text};
    c->nmsgs++;
}

/* Records an error at 0-based libyaml mark @m. */
__attribute__((format(printf, 3, 4))) static void errat(struct ctx *c, yaml_mark_t m,
                                                        const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vrecord(c, (int)m.line + 1, (int)m.column + 1, fmt, ap);
    va_end(ap);
}

/* Records an error at the start of node @n. */
__attribute__((format(printf, 3, 4))) static void
err(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vrecord(c, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1, fmt, ap);
    va_end(ap);
}

static int msgcmp(const void *a, const void *b)
{
    const struct msg *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hands the collected errors, in file order, to @d and frees them. */
static void flush(struct ctx *c, struct bff_diag *d)
{
    char *line;

    if (c->nmsgs)
        qsort(c->msgs, c->nmsgs, sizeof *c->msgs, msgcmp);
    for (size_t i = 0; i < c->nmsgs; i++) {
        struct msg *m = &c->msgs[i];
        if (i == MAX_MSGS) {
            if (asprintf(&line, "%s:%d:%d: %zu more errors not shown", c->file, m->line,
                         m->col, c->nmsgs - MAX_MSGS) >= 0)
                diag_add(d, line);
            break;
        }
        if (asprintf(&line, "%s:%d:%d: %s", c->file, m->line, m->col, m->text) >= 0)
            diag_add(d, line);
    }
    if (c->oom &&
        asprintf(&line, "%s:1:1: out of memory while loading the config", c->file) >= 0)
        diag_add(d, line);
    for (size_t i = 0; i < c->nmsgs; i++)
        free(c->msgs[i].text);
    free(c->msgs);
    c->msgs = NULL;
    c->nmsgs = c->msgs_cap = 0;
}

/* Writes @s in double quotes into @buf for a one-line message: quotes,
 * backslashes and control characters escaped, cut with "..." to fit. */
static const char *q(char *buf, size_t size, const char *s)
{
    size_t o = 0;

    buf[o++] = '"';
    for (; *s && o + 8 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (ch == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Appends @s to the list in @buf (", " between items), cutting with "...". */
static void cat(char *buf, size_t size, const char *s)
{
    size_t o = strlen(buf);

    if (o && o + 2 < size) {
        memcpy(buf + o, ", ", 3);
        o += 2;
    }
    if (o + strlen(s) + 4 >= size) {
        if (!strstr(buf, "...") && o + 4 < size)
            memcpy(buf + o, "...", 4);
        return;
    }
    memcpy(buf + o, s, strlen(s) + 1);
}

/* Writes "a, b or c" for NULL-terminated @names into @buf. */
static const char *alts(char *buf, size_t size, const char *const *names)
{
    size_t n = 0, o = 0;

    while (names[n])
        n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        o += (size_t)snprintf(buf + o, size - o, "%s%s", sep, names[i]);
    }
    return buf;
}

/* Edit distance of two short strings, capped: 99 when either is long. */
static size_t dist(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[33];

    if (la > 32 || lb > 32)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
                                  tolower((unsigned char)b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The name in @names closest to @s when it is a likely typo, else NULL. */
static const char *nearest(const char *s, const char *const *names)
{
    const char *best = NULL;
    size_t      bd = 3;

    for (size_t i = 0; names[i]; i++) {
        size_t d = dist(s, names[i]);
        if (d < bd && d < strlen(names[i])) {
            bd = d;
            best = names[i];
        }
    }
    return best;
}

/* "1h", "10s", "250ms": the largest unit that divides @ms. */
static const char *fmt_ms(char *buf, size_t size, uint64_t ms)
{
    if (ms && ms % HOUR == 0)
        snprintf(buf, size, "%lluh", (unsigned long long)(ms / HOUR));
    else if (ms && ms % MINUTE == 0)
        snprintf(buf, size, "%llum", (unsigned long long)(ms / MINUTE));
    else if (ms && ms % SEC == 0)
        snprintf(buf, size, "%llus", (unsigned long long)(ms / SEC));
    else
        snprintf(buf, size, "%llums", (unsigned long long)ms);
    return buf;
}

static const char *fmt_size(char *buf, size_t size, uint64_t b)
{
    if (b && b % GIB == 0)
        snprintf(buf, size, "%lluGiB", (unsigned long long)(b / GIB));
    else if (b && b % MIB == 0)
        snprintf(buf, size, "%lluMiB", (unsigned long long)(b / MIB));
    else if (b && b % KIB == 0)
        snprintf(buf, size, "%lluKiB", (unsigned long long)(b / KIB));
    else
        snprintf(buf, size, "%lluB", (unsigned long long)b);
    return buf;
}

/* ---- nodes ------------------------------------------------------------ */

static yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A scalar that YAML reads as null: empty, or a plain ~ / null. */
static int isnull(const yaml_node_t *n)
{
    const char *s;

    if (n->type != YAML_SCALAR_NODE)
        return 0;
    s = sval(n);
    if (!*s)
        return 1;
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL"));
}

static const char *kind(const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (isnull(n))
        return "an empty value";
    return "a single value";
}

/* The text of scalar @n, the value of @key, or NULL after reporting why it
 * is not one (a list, a mapping, empty, or holding a NUL). */
static const char *scalar(struct ctx *c, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE) {
        err(c, n, "%s: expected a single value, got %s", key, kind(n));
        return NULL;
    }
    if (isnull(n)) {
        err(c, n, "%s: empty value", key);
        return NULL;
    }
    if (strlen(sval(n)) != n->data.scalar.length) {
        err(c, n, "%s: must not contain a NUL character", key);
        return NULL;
    }
    return sval(n);
}

/* Checks that @n, the value of @key, is a mapping whose keys are all in
 * @keys (NULL-terminated, at most 16) and appear once; stores each value in
 * @vals (same order as @keys, NULL when absent). Every offending key is
 * reported; @where says where for messages ("in limits").
 * Returns 0, or -1 when @n is no mapping. */
static int getmap(struct ctx *c, const yaml_node_t *n, const char *key,
                  const char *where, const char *const *keys, yaml_node_t **vals)
{
    yaml_node_t *seen[16] = {0};
    size_t       nkeys = 0;
    char         qb[QLEN], lb[LISTLEN];

    while (keys[nkeys])
        nkeys++;
    for (size_t i = 0; i < nkeys; i++)
        vals[i] = NULL;
    if (n->type != YAML_MAPPING_NODE) {
        err(c, n, "%s: expected a mapping (key: value), got %s", key, kind(n));
        return -1;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        size_t       i;

        if (k->type != YAML_SCALAR_NODE || isnull(k)) {
            err(c, k, "%s: keys must be plain names, got %s", key, kind(k));
            continue;
        }
        for (i = 0; i < nkeys; i++)
            if (!strcmp(sval(k), keys[i]))
                break;
        if (i == nkeys) {
            const char *near = nearest(sval(k), keys);
            if (near)
                err(c, k, "unknown key %s %s; did you mean \"%s\"?",
                    q(qb, sizeof qb, sval(k)), where, near);
            else
                err(c, k, "unknown key %s %s; expected %s", q(qb, sizeof qb, sval(k)),
                    where, alts(lb, sizeof lb, keys));
            continue;
        }
        if (seen[i]) {
            err(c, k, "duplicate key \"%s\" (first at %d:%d)", keys[i],
                (int)seen[i]->start_mark.line + 1, (int)seen[i]->start_mark.column + 1);
            continue;
        }
        seen[i] = k;
        vals[i] = v;
    }
    return 0;
}

/* ---- typed values ----------------------------------------------------- */

static void str(struct ctx *c, const yaml_node_t *n, const char *key, char **out)
{
    const char *s = scalar(c, n, key);

    if (!s)
        return;
    *out = strdup(s);
    if (!*out)
        c->oom = 1;
}

static void u32(struct ctx *c, const yaml_node_t *n, const char *key, uint32_t *out,
                uint32_t lo, uint32_t hi)
{
    const char *s = scalar(c, n, key), *p = s;
    uint64_t    v;
    char        qb[QLEN];

    if (!s)
        return;
    if (digits(&p, UINT64_MAX, &v) || *p || v < lo || v > hi) {
        err(c, n, "%s %s: must be a whole number from %u to %u", key,
            q(qb, sizeof qb, s), lo, hi);
        return;
    }
    *out = (uint32_t)v;
}

static void boolean(struct ctx *c, const yaml_node_t *n, const char *key, int *out)
{
    const char *s = scalar(c, n, key);
    char        qb[QLEN];

    if (!s)
        return;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = 0;
    else
        err(c, n, "%s %s: must be true or false", key, q(qb, sizeof qb, s));
}

/* A duration in [@lo, @hi] milliseconds into @out. */
static void dur(struct ctx *c, const yaml_node_t *n, const char *key, uint32_t *out,
                uint64_t lo, uint64_t hi)
{
    const char *s = scalar(c, n, key), *why;
    uint64_t    ms;
    char        qb[QLEN], b1[32], b2[32];

    if (!s)
        return;
    if (bff_duration_parse(s, &ms, &why)) {
        err(c, n, "%s %s: %s", key, q(qb, sizeof qb, s), why);
        return;
    }
    if (ms < lo || ms > hi) {
        if (lo == 0)
            err(c, n, "%s %s: must be at most %s", key, q(qb, sizeof qb, s),
                fmt_ms(b2, sizeof b2, hi));
        else
            err(c, n, "%s %s: must be between %s and %s", key, q(qb, sizeof qb, s),
                fmt_ms(b1, sizeof b1, lo), fmt_ms(b2, sizeof b2, hi));
        return;
    }
    *out = (uint32_t)ms;
}

static void bytes(struct ctx *c, const yaml_node_t *n, const char *key, uint64_t *out,
                  uint64_t lo, uint64_t hi)
{
    const char *s = scalar(c, n, key), *why;
    uint64_t    b;
    char        qb[QLEN], b1[32], b2[32];

    if (!s)
        return;
    if (bff_size_parse(s, &b, &why)) {
        err(c, n, "%s %s: %s", key, q(qb, sizeof qb, s), why);
        return;
    }
    if (b < lo || b > hi) {
        err(c, n, "%s %s: must be between %s and %s", key, q(qb, sizeof qb, s),
            fmt_size(b1, sizeof b1, lo), fmt_size(b2, sizeof b2, hi));
        return;
    }
    *out = b;
}

/* Index of @n's text in @names, or -1 after reporting it. */
static int oneof(struct ctx *c, const yaml_node_t *n, const char *key,
                 const char *const *names)
{
    const char *s = scalar(c, n, key);
    char        qb[QLEN], lb[LISTLEN];

    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    err(c, n, "%s %s: must be %s", key, q(qb, sizeof qb, s),
        alts(lb, sizeof lb, names));
    return -1;
}

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* The items of list @n (or a single value when @one) as a NULL-terminated
 * array of non-empty strings, each passing @check when given. */
static void strlist(struct ctx *c, const yaml_node_t *n, const char *key, int one,
                    int (*check)(struct ctx *, const yaml_node_t *, const char *,
                                 const char *),
                    char ***out, size_t *nout)
{
    const yaml_node_item_t *it, *end;
    int                     single;
    char                  **v;
    size_t                  k = 0;

    if (one && n->type == YAML_SCALAR_NODE) {
        it = NULL;
        end = NULL;
        single = 1;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        it = n->data.sequence.items.start;
        end = n->data.sequence.items.top;
        single = 0;
        if (it == end) {
            err(c, n, "%s: empty list; leave %s out instead", key, key);
            return;
        }
    } else {
        err(c, n, "%s: expected a list, got %s", key, kind(n));
        return;
    }
    v = calloc(single ? 2 : (size_t)(end - it) + 1, sizeof *v);
    if (!v) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; single ? i < 1 : it + i < end; i++) {
        const yaml_node_t *item = single ? n : node(c, it[i]);
        const char        *s = scalar(c, item, key);
        if (!s || (check && check(c, item, key, s)))
            continue;
        v[k] = strdup(s);
        if (!v[k]) {
            c->oom = 1;
            break;
        }
        k++;
    }
    *out = v;
    *nout = k;
}

/* ---- addresses and URLs ----------------------------------------------- */

static int portnum(const char *p, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (n < 1 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

static int ctlchars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 1;
    return 0;
}

/* Checks the authority "host[:port]" or "[v6][:port]" of @len bytes at @p;
 * the port is required when @need_port. Returns 0, or -1 with @why. */
static int hostport(const char *p, size_t len, int need_port, const char **why)
{
    const char *end = p + len, *rest;
    unsigned    port;

    if (len == 0) {
        *why = "has no host";
        return -1;
    }
    if (memchr(p, '@', len)) {
        *why = "must not carry user:password@ (credentials in URLs are not supported)";
        return -1;
    }
    if (*p == '[') {
        const char *close = memchr(p, ']', len);
        char        v6[64];
        uint8_t     a[16];
        if (!close || (size_t)(close - p - 1) >= sizeof v6) {
            *why = "has a bad [IPv6] host";
            return -1;
        }
        memcpy(v6, p + 1, (size_t)(close - p - 1));
        v6[close - p - 1] = '\0';
        if (inet_pton(AF_INET6, v6, a) != 1) {
            *why = "has a bad [IPv6] host";
            return -1;
        }
        rest = close + 1;
    } else {
        rest = memchr(p, ':', len);
        if (!rest)
            rest = end;
        if (rest == p) {
            *why = "has no host";
            return -1;
        }
        for (const char *h = p; h < rest; h++) {
            if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_') {
                *why = "has a bad host name";
                return -1;
            }
        }
    }
    if (rest == end) {
        if (need_port) {
            *why = "needs a port (host:port)";
            return -1;
        }
        return 0;
    }
    if (*rest != ':' || portnum(rest + 1, (size_t)(end - rest - 1), &port)) {
        *why = "port must be a number from 1 to 65535";
        return -1;
    }
    return 0;
}

/* Checks "http(s)://host[:port][/path]" and sets *@keep to its length
 * without trailing slashes. Returns 0, or -1 with @why. */
static int urlcheck(const char *s, size_t *keep, const char **why)
{
    const char *p;
    size_t      alen, n;

    if (!strncasecmp(s, "http://", 7)) {
        p = s + 7;
    } else if (!strncasecmp(s, "https://", 8)) {
        p = s + 8;
    } else {
        *why = "must start with http:// or https://";
        return -1;
    }
    if (ctlchars(s)) {
        *why = "must not contain spaces or control characters";
        return -1;
    }
    if (strpbrk(p, "?#")) {
        *why = "must not have a query or fragment";
        return -1;
    }
    alen = strcspn(p, "/");
    if (hostport(p, alen, 0, why))
        return -1;
    n = strlen(s);
    while (n > (size_t)(p - s) + alen && s[n - 1] == '/')
        n--;
    *keep = n;
    return 0;
}

/* Checks a CORS origin: "*" or "scheme://host[:port]". */
static int origincheck(const char *s, const char **why)
{
    const char *p = s, *sep;

    if (!strcmp(s, "*"))
        return 0;
    sep = strstr(s, "://");
    if (!sep || sep == s || !isalpha((unsigned char)*s)) {
        *why = "must be * or scheme://host[:port], like https://app.example";
        return -1;
    }
    for (; p < sep; p++) {
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.') {
            *why = "has a bad scheme";
            return -1;
        }
    }
    if (ctlchars(s)) {
        *why = "must not contain spaces or control characters";
        return -1;
    }
    p = sep + 3;
    if (strpbrk(p, "/?#")) {
        *why = strcmp(p + strcspn(p, "/"), "/") == 0
                   ? "an origin has no path; drop the trailing '/'"
                   : "an origin is scheme://host[:port], without a path";
        return -1;
    }
    return hostport(p, strlen(p), 0, why);
}

/* Checks "redis://host:port[/db]". */
static int redischeck(const char *s, const char **why)
{
    const char *p = s + 8, *slash;
    uint64_t    db;

    if (ctlchars(s)) {
        *why = "must not contain spaces or control characters";
        return -1;
    }
    slash = strchr(p, '/');
    if (hostport(p, slash ? (size_t)(slash - p) : strlen(p), 1, why))
        return -1;
    if (slash) {
        const char *d = slash + 1;
        if (digits(&d, 1000000, &db) || *d) {
            *why = "the database after '/' must be a number, like /0";
            return -1;
        }
    }
    return 0;
}

struct addr {
    char     host[64];
    unsigned port;
};

/* Parses a listen address: "IPv4:port", "localhost:port" or "[IPv6]:port". */
static int addrparse(const char *s, struct addr *a, const char **why)
{
    const char *colon;
    size_t      hlen;
    uint8_t     buf[16];

    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            *why = "must be HOST:PORT, like [::1]:8080";
            return -1;
        }
        hlen = (size_t)(close - s - 1);
        if (hlen >= sizeof a->host) {
            *why = "has a bad IPv6 address";
            return -1;
        }
        memcpy(a->host, s + 1, hlen);
        a->host[hlen] = '\0';
        if (inet_pton(AF_INET6, a->host, buf) != 1) {
            *why = "has a bad IPv6 address";
            return -1;
        }
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "must be HOST:PORT, like 127.0.0.1:8080";
            return -1;
        }
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen)) {
            *why = "write IPv6 addresses in brackets, like [::1]:8080";
            return -1;
        }
        if (hlen >= sizeof a->host) {
            *why = "host must be an IPv4 address, localhost or [IPv6]";
            return -1;
        }
        memcpy(a->host, s, hlen);
        a->host[hlen] = '\0';
        if (strcmp(a->host, "localhost") && inet_pton(AF_INET, a->host, buf) != 1) {
            *why = "host must be an IPv4 address, localhost or [IPv6]";
            return -1;
        }
    }
    /* port 0: any free port, chosen at bind time (logged at start-up) */
    size_t plen = strlen(colon + 1);
    if (plen >= 1 && plen <= 5 && strspn(colon + 1, "0") == plen) {
        a->port = 0;
        return 0;
    }
    if (portnum(colon + 1, plen, &a->port)) {
        *why = "port must be a number from 0 to 65535 (0: any free port)";
        return -1;
    }
    return 0;
}

static void listen_addr(struct ctx *c, const yaml_node_t *n, const char *key,
                        char **out)
{
    const char *s = scalar(c, n, key), *why;
    struct addr a;
    char        qb[QLEN];

    if (!s)
        return;
    if (addrparse(s, &a, &why)) {
        err(c, n, "%s %s: %s", key, q(qb, sizeof qb, s), why);
        return;
    }
    str(c, n, key, out);
}

/* Whether two listen addresses would take the same socket (two port 0s
 * never do: each gets a port of its own). */
static int same_socket(const char *x, const char *y)
{
    struct addr a, b;
    const char *why;

    if (addrparse(x, &a, &why) || addrparse(y, &b, &why) || a.port != b.port ||
        a.port == 0)
        return 0;
    if (!strcmp(a.host, "localhost"))
        strcpy(a.host, "127.0.0.1");
    if (!strcmp(b.host, "localhost"))
        strcpy(b.host, "127.0.0.1");
    return !strcmp(a.host, b.host) || !strcmp(a.host, "0.0.0.0") ||
           !strcmp(b.host, "0.0.0.0") || !strcmp(a.host, "::") || !strcmp(b.host, "::");
}

/* ---- services --------------------------------------------------------- */

/* Appends a service with default settings. Returns its index, or -1. */
static int svc_add(struct ctx *c)
{
    struct bff_config       *cfg = c->cfg;
    struct bff_service_conf *s;

    if (cfg->nservices == c->svc_cap) {
        size_t                   cap = c->svc_cap ? c->svc_cap * 2 : 8;
        struct bff_service_conf *p = realloc(cfg->services, cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return -1;
        }
        cfg->services = p;
        c->svc_cap = cap;
    }
    s = &cfg->services[cfg->nservices];
    memset(s, 0, sizeof *s);
    s->connect_timeout_ms = 200;
    s->timeout_ms = 800;
    s->idle_timeout_ms = 60000;
    s->max_in_flight = 256;
    s->retries = 1;
    s->cb.failures = 5;
    s->cb.open_for_ms = 10000;
    s->cb.half_open_probes = 1;
    s->hc.interval_ms = 5000;
    s->resolve_every_ms = 30000;
    s->outlier.failures = 5;
    s->outlier.eject_for_ms = 10000;
    s->outlier.max_ejected_pct = 50;
    return (int)cfg->nservices++;
}

static void url(struct ctx *c, const yaml_node_t *n, const char *key, char **out)
{
    const char *s = scalar(c, n, key), *why;
    size_t      keep;
    char        qb[QLEN];

    if (!s)
        return;
    if (urlcheck(s, &keep, &why)) {
        err(c, n, "%s %s: %s", key, q(qb, sizeof qb, s), why);
        return;
    }
    *out = strndup(s, keep);
    if (!*out)
        c->oom = 1;
}

static int svcname_ok(const char *s)
{
    if (!isalnum((unsigned char)*s) && *s != '_')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

/* "50%": a whole percentage 0..100. */
static void percent(struct ctx *c, const yaml_node_t *n, const char *key, uint32_t *out)
{
    const char *s = scalar(c, n, key), *p;
    uint64_t    v;
    char        qb[QLEN];

    if (!s)
        return;
    p = s;
    if (digits(&p, 100, &v) || strcmp(p, "%") != 0) {
        err(c, n, "%s %s: must be a percentage from 0%% to 100%%, like 50%%", key,
            q(qb, sizeof qb, s));
        return;
    }
    *out = (uint32_t)v;
}

/* endpoints: [URL, ...]: every URL like url:, all of one scheme and one
 * path (a request's path goes after it, whichever endpoint is chosen), no
 * two alike; s->url becomes the first. */
static void endpoints(struct ctx *c, const yaml_node_t *n, struct bff_service_conf *s)
{
    char   qb[QLEN];
    char **v;
    size_t nv = 0;

    if (n->type != YAML_SEQUENCE_NODE) {
        err(c, n, "endpoints: expected a list of URLs, got %s", kind(n));
        return;
    }
    size_t total = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (total == 0) {
        err(c, n, "endpoints: empty list; give at least one URL");
        return;
    }
    if (total > BFF_MAX_ENDPOINTS) {
        err(c, n, "endpoints: %zu URLs; at most %d", total, BFF_MAX_ENDPOINTS);
        return;
    }
    v = calloc(total + 1, sizeof *v);
    if (!v) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < total; i++) {
        const yaml_node_t *item = node(c, n->data.sequence.items.start[i]);
        char              *u = NULL;
        url(c, item, "endpoints", &u);
        if (!u)
            continue;
        const char *rest = strstr(u, "://") + 3, *path = rest + strcspn(rest, "/");
        for (size_t k = 0; k < nv; k++) {
            const char *r0 = strstr(v[k], "://") + 3, *p0 = r0 + strcspn(r0, "/");
            if (strcasecmp(v[k], u) == 0) {
                err(c, item, "endpoints %s: listed twice", q(qb, sizeof qb, u));
                goto bad;
            }
            if ((r0 - v[k]) != (rest - u) || strcmp(p0, path) != 0) {
                err(c, item,
                    "endpoints %s: every endpoint must have the scheme and path of "
                    "the first (%s)",
                    q(qb, sizeof qb, u), v[0]);
                goto bad;
            }
        }
        v[nv++] = u;
        continue;
    bad:
        free(u);
    }
    s->endpoints = v;
    s->nendpoints = nv;
    if (nv > 0 && !(s->url = strdup(v[0])))
        c->oom = 1;
}

/* resolver: [IP[:port], ...]: IPv4 addresses of DNS servers (port 53 when
 * not given). */
static void resolvers(struct ctx *c, const yaml_node_t *n)
{
    struct bff_config *cfg = c->cfg;
    char               qb[QLEN];

    strlist(c, n, "resolver", 1, NULL, &cfg->resolvers, &cfg->nresolvers);
    if (cfg->nresolvers > BFF_MAX_RESOLVERS)
        err(c, n, "resolver: %zu servers; at most %d", cfg->nresolvers,
            BFF_MAX_RESOLVERS);
    for (size_t i = 0; cfg->resolvers && i < cfg->nresolvers; i++) {
        const char *r = cfg->resolvers[i], *colon = strchr(r, ':');
        char        host[32];
        uint8_t     a[4];
        unsigned    port;
        size_t      hl = colon ? (size_t)(colon - r) : strlen(r);
        if (hl >= sizeof host || (memcpy(host, r, hl), host[hl] = '\0',
                                  inet_pton(AF_INET, host, a) != 1) ||
            (colon && portnum(colon + 1, strlen(colon + 1), &port))) {
            err(c, n, "resolver %s: must be an IPv4 address with an optional port, "
                      "like 127.0.0.1:53",
                q(qb, sizeof qb, r));
            return;
        }
    }
}

/* Fills services[@idx] (name set, defaults in place) from mapping @n. */
static void service(struct ctx *c, const yaml_node_t *n, int idx)
{
    static const char *const keys[] = {
        "url",           "connect_timeout", "timeout",      "max_in_flight", "retries",
        "retry_non_get", "circuit_breaker", "health_check", "tls",
        "endpoints",     "balance",         "resolve_every", "outlier",      "cache",
        "idle_timeout",  NULL};
    enum { URL, CONNECT, TIMEOUT, INFLIGHT, RETRIES, NONGET, CB, HC, TLS,
           ENDPOINTS, BALANCE, RESOLVE, OUTLIER, CACHE, IDLE };
    static const char *const cache_keys[] = {"max_entries", "max_body", NULL};
    static const char *const cb_keys[] = {"failures", "open_for", "half_open_probes",
                                          NULL};
    static const char *const hc_keys[] = {"path", "interval", NULL};
    static const char *const tls_keys[] = {"ca", "cert", "key", NULL};
    struct bff_service_conf *s = &c->cfg->services[idx];
    yaml_node_t             *v[15], *w[3];
    char                     where[160];
    const char              *name = s->name;

    if (n->type != YAML_MAPPING_NODE) {
        err(c, n, "service \"%s\": expected a mapping (url: ...), got %s", name,
            kind(n));
        return;
    }
    snprintf(where, sizeof where, "in services.%s", name);
    if (getmap(c, n, name, where, keys, v))
        return;
    if (v[URL] && v[ENDPOINTS])
        err(c, v[ENDPOINTS],
            "service \"%s\": endpoints: and url: do not go together; list every "
            "instance under endpoints:", name);
    else if (v[URL])
        url(c, v[URL], "url", &s->url);
    else if (v[ENDPOINTS])
        endpoints(c, v[ENDPOINTS], s);
    else
        err(c, n, "service \"%s\": url: is required", name);
    if (!v[ENDPOINTS]) {
        const int only[] = {BALANCE, RESOLVE, OUTLIER};
        for (size_t k = 0; k < 3; k++)
            if (v[only[k]])
                err(c, v[only[k]],
                    "%s: applies to endpoints: only; with url: there is one "
                    "endpoint (write endpoints: [URL] to use it)",
                    keys[only[k]]);
    } else {
        static const char *const bal[] = {"least_request", "round_robin", NULL};
        static const char *const ol_keys[] = {"failures", "eject_for", "max_ejected",
                                              NULL};
        if (v[BALANCE]) {
            int b = oneof(c, v[BALANCE], "balance", bal);
            if (b >= 0)
                s->balance = b;
        }
        if (v[RESOLVE])
            dur(c, v[RESOLVE], "resolve_every", &s->resolve_every_ms, 100, HOUR);
        snprintf(where, sizeof where, "in services.%s.outlier", name);
        if (v[OUTLIER] && !getmap(c, v[OUTLIER], "outlier", where, ol_keys, w)) {
            if (w[0])
                u32(c, w[0], "failures", &s->outlier.failures, 1, 1000000);
            if (w[1])
                dur(c, w[1], "eject_for", &s->outlier.eject_for_ms, 1, HOUR);
            if (w[2])
                percent(c, w[2], "max_ejected", &s->outlier.max_ejected_pct);
        }
    }
    if (v[CONNECT])
        dur(c, v[CONNECT], "connect_timeout", &s->connect_timeout_ms, 1, HOUR);
    if (v[TIMEOUT])
        dur(c, v[TIMEOUT], "timeout", &s->timeout_ms, 1, HOUR);
    if (v[IDLE])
        dur(c, v[IDLE], "idle_timeout", &s->idle_timeout_ms, 1, 24 * HOUR);
    if (v[INFLIGHT])
        u32(c, v[INFLIGHT], "max_in_flight", &s->max_in_flight, 1, 1000000);
    if (v[RETRIES])
        u32(c, v[RETRIES], "retries", &s->retries, 0, 10);
    if (v[NONGET]) {
        boolean(c, v[NONGET], "retry_non_get", &s->retry_put_delete);
        if (s->retry_put_delete && v[RETRIES] && s->retries == 0)
            err(c, v[NONGET],
                "retry_non_get: has no effect with retries: 0 (nothing is retried); "
                "drop it or allow retries");
    }
    snprintf(where, sizeof where, "in services.%s.circuit_breaker", name);
    if (v[CB] && !getmap(c, v[CB], "circuit_breaker", where, cb_keys, w)) {
        if (w[0])
            u32(c, w[0], "failures", &s->cb.failures, 1, 1000000);
        if (w[1])
            dur(c, w[1], "open_for", &s->cb.open_for_ms, 1, HOUR);
        if (w[2])
            u32(c, w[2], "half_open_probes", &s->cb.half_open_probes, 1, 1000);
    }
    snprintf(where, sizeof where, "in services.%s.health_check", name);
    if (v[HC] && !getmap(c, v[HC], "health_check", where, hc_keys, w)) {
        if (w[0]) {
            const char *p = scalar(c, w[0], "path");
            char        qb[QLEN];
            if (p && (*p != '/' || ctlchars(p)))
                err(c, w[0], "path %s: must start with '/' and have no spaces",
                    q(qb, sizeof qb, p));
            else if (p)
                str(c, w[0], "path", &s->hc.path);
        } else {
            err(c, v[HC], "health_check: path: is required");
        }
        if (w[1])
            dur(c, w[1], "interval", &s->hc.interval_ms, 100, HOUR);
    }
    snprintf(where, sizeof where, "in services.%s.cache", name);
    if (v[CACHE] && !getmap(c, v[CACHE], "cache", where, cache_keys, w)) {
        s->cache.max_entries = 10000;
        s->cache.max_body = 64 * KIB;
        if (w[0])
            u32(c, w[0], "max_entries", &s->cache.max_entries, 1, 10000000);
        if (w[1])
            bytes(c, w[1], "max_body", &s->cache.max_body, 1, 64 * MIB);
    }
    snprintf(where, sizeof where, "in services.%s.tls", name);
    if (v[TLS] && !getmap(c, v[TLS], "tls", where, tls_keys, w)) {
        if (w[0])
            str(c, w[0], "ca", &s->tls.ca);
        if (w[1])
            str(c, w[1], "cert", &s->tls.cert);
        if (w[2])
            str(c, w[2], "key", &s->tls.key);
        if (!w[1] != !w[2])
            err(c, v[TLS], "tls: cert: and key: go together; give both or neither");
        if (!w[0] && !w[1] && !w[2])
            err(c, v[TLS], "tls: empty; give ca:, cert: and key:, or leave tls out");
        else if (s->url && strncmp(s->url, "https://", 8) != 0)
            err(c, v[TLS],
                "tls: has no effect on \"%s\" (plain http://); use an https:// url "
                "or drop tls:",
                s->url);
    }
}

/* Walks services: and appends one entry per name, in file order. An entry
 * with bad settings is still added, so that routes naming it do not report
 * it a second time as unknown. */
static void services(struct ctx *c, const yaml_node_t *n)
{
    char qb[QLEN];

    if (n->type != YAML_MAPPING_NODE) {
        err(c, n, "services: expected a mapping (name: {url: ...}), got %s", kind(n));
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        const char  *name;
        int          idx, dup = 0;

        if (k->type != YAML_SCALAR_NODE || isnull(k)) {
            err(c, k, "services: a service name must be a plain name, got %s", kind(k));
            continue;
        }
        name = sval(k);
        if (!svcname_ok(name)) {
            err(c, k,
                "service name %s: use letters, digits, '_', '-' and '.', starting "
                "with a letter, digit or '_'",
                q(qb, sizeof qb, name));
            continue;
        }
        for (yaml_node_pair_t *o = n->data.mapping.pairs.start; o < p; o++) {
            yaml_node_t *ok = node(c, o->key);
            if (ok->type == YAML_SCALAR_NODE && !strcmp(sval(ok), name)) {
                err(c, k, "duplicate service \"%s\" (first at %d:%d)", name,
                    (int)ok->start_mark.line + 1, (int)ok->start_mark.column + 1);
                dup = 1;
                break;
            }
        }
        if (dup)
            continue;
        idx = svc_add(c);
        if (idx < 0)
            return;
        c->cfg->services[idx].pos = (struct bff_pos){(int)k->start_mark.line + 1,
                                                     (int)k->start_mark.column + 1};
        c->cfg->services[idx].name = strdup(name);
        if (!c->cfg->services[idx].name) {
            c->oom = 1;
            return;
        }
        service(c, v, idx);
    }
}

/* Names of the services: entries (not the implicit ones), for messages. */
static const char *svc_names(struct ctx *c, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < c->cfg->nservices; i++)
        if (!c->cfg->services[i].implicit && c->cfg->services[i].name)
            cat(buf, size, c->cfg->services[i].name);
    return buf;
}

/* ---- auth, rate_limit, cors ------------------------------------------- */

/* auth.jwt.algorithms: a non-empty list; "none" is refused with the reason. */
static void algorithms(struct ctx *c, const yaml_node_t *n)
{
    char lb[LISTLEN], qb[QLEN];

    if (n->type != YAML_SEQUENCE_NODE) {
        err(c, n, "algorithms: expected a list, like [RS256, ES256], got %s", kind(n));
        return;
    }
    if (n->data.sequence.items.start == n->data.sequence.items.top) {
        err(c, n, "algorithms: empty list; leave algorithms out for RS256 and ES256");
        return;
    }
    c->cfg->auth.algorithms = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
        yaml_node_t *item = node(c, *it);
        const char  *s = scalar(c, item, "algorithms");
        uint32_t     bit;

        if (!s)
            continue;
        bit = bff_jwt_alg_bit(s);
        if (bit) {
            c->cfg->auth.algorithms |= bit;
        } else if (!strcasecmp(s, "none")) {
            err(c, item,
                "algorithms \"%s\": unsigned tokens are never accepted; with "
                "\"none\" anyone could forge a token",
                s);
        } else {
            const char *near = nearest(s, alg_names);
            if (near)
                err(c, item, "algorithms %s: unknown; did you mean %s?",
                    q(qb, sizeof qb, s), near);
            else
                err(c, item, "algorithms %s: unknown; use %s", q(qb, sizeof qb, s),
                    alts(lb, sizeof lb, alg_names));
        }
    }
}

/* auth.jwt: exactly one of jwks_file / jwks_url. Files are not opened here. */
static void jwt(struct ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"jwks_file",  "jwks_url", "jwks_refresh",
                                       "algorithms", "issuer",   "audience",
                                       "leeway",     "claims",   NULL};
    enum { FILE_, URL, REFRESH, ALGS, ISS, AUD, LEEWAY, CLAIMS };
    static const char *const claim_keys[] = {"user_id", "roles", NULL};
    struct bff_config       *cfg = c->cfg;
    yaml_node_t             *v[8], *w[2];

    cfg->auth.enabled = 1;
    cfg->auth.pos =
        (struct bff_pos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    if (getmap(c, n, "jwt", "in auth.jwt", keys, v))
        return;
    if (v[FILE_] && v[URL])
        err(c, v[URL], "jwt: jwks_file: and jwks_url: exclude each other; keep one");
    else if (!v[FILE_] && !v[URL])
        err(c, n, "jwt: needs jwks_file: (a local key set) or jwks_url:");
    if (v[FILE_])
        str(c, v[FILE_], "jwks_file", &cfg->auth.jwks_file);
    if (v[URL])
        url(c, v[URL], "jwks_url", &cfg->auth.jwks_url);
    if (v[REFRESH]) {
        dur(c, v[REFRESH], "jwks_refresh", &cfg->auth.jwks_refresh_ms, SEC, 24 * HOUR);
        if (!v[URL])
            err(c, v[REFRESH],
                "jwks_refresh: applies to jwks_url: only; a jwks_file is re-read on "
                "reload (SIGHUP)");
    }
    if (v[ALGS])
        algorithms(c, v[ALGS]);
    if (v[ISS])
        str(c, v[ISS], "issuer", &cfg->auth.issuer);
    if (v[AUD])
        strlist(c, v[AUD], "audience", 1, NULL, &cfg->auth.audience,
                &cfg->auth.naudience);
    if (v[LEEWAY])
        dur(c, v[LEEWAY], "leeway", &cfg->auth.leeway_ms, 0, HOUR);
    if (v[CLAIMS] &&
        !getmap(c, v[CLAIMS], "claims", "in auth.jwt.claims", claim_keys, w)) {
        if (w[0])
            str(c, w[0], "user_id", &cfg->auth.claim_user_id);
        if (w[1])
            str(c, w[1], "roles", &cfg->auth.claim_roles);
    }
}

/* auth: jwt (optional) and the key that signs forwarded identity. */
static void auth(struct ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"jwt", "internal_signing_key_file", NULL};
    yaml_node_t             *v[2];

    if (getmap(c, n, "auth", "in auth", keys, v))
        return;
    if (v[0])
        jwt(c, v[0]);
    if (v[1])
        str(c, v[1], "internal_signing_key_file",
            &c->cfg->auth.internal_signing_key_file);
}

/* rate_limit: the shared store and how requests are keyed. */
static void rate_limit(struct ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"store",         "key",      "on_store_error",
                                       "store_timeout", "max_keys", NULL};
    static const char *const key_names[] = {"user_or_ip", "ip", "user", NULL};
    static const char *const onerr_names[] = {"allow", "deny", NULL};
    struct bff_config       *cfg = c->cfg;
    yaml_node_t             *v[5];
    int                      i;

    if (getmap(c, n, "rate_limit", "in rate_limit", keys, v))
        return;
    if (v[0]) {
        const char *s = scalar(c, v[0], "store"), *why = NULL;
        char        qb[QLEN];
        if (s && strcmp(s, "memory")) {
            if (strncmp(s, "redis://", 8))
                why = "must be memory or redis://host:port[/db]";
            else
                redischeck(s, &why);
            if (why)
                err(c, v[0], "store %s: %s", q(qb, sizeof qb, s), why);
        }
        if (s && !why)
            str(c, v[0], "store", &cfg->rate_limit.store);
    }
    if (v[1] && (i = oneof(c, v[1], "key", key_names)) >= 0)
        cfg->rate_limit.key = (enum bff_rl_key)i;
    if (v[2] && (i = oneof(c, v[2], "on_store_error", onerr_names)) >= 0)
        cfg->rate_limit.on_store_error_deny = i;
    if (v[3]) {
        dur(c, v[3], "store_timeout", &cfg->rate_limit.store_timeout_ms, 1, 10 * SEC);
        if (!v[0] ||
            (cfg->rate_limit.store && !strcmp(cfg->rate_limit.store, "memory")))
            err(c, v[3],
                "store_timeout: applies to a redis:// store only; the memory store "
                "never waits");
    }
    if (v[4])
        u32(c, v[4], "max_keys", &cfg->rate_limit.max_keys, 1, 100000000);
}

/* idempotency: where kept answers live, for how long, how large
 * (docs/idempotency.md). */
static void idempotency(struct ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"store",       "ttl",       "max_body",
                                       "max_entries", "max_bytes", "on_store_error",
                                       "store_timeout", NULL};
    static const char *const onerr_names[] = {"allow", "deny", NULL};
    struct bff_config       *cfg = c->cfg;
    yaml_node_t             *v[7];
    int                      i;

    if (getmap(c, n, "idempotency", "in idempotency", keys, v))
        return;
    if (v[0]) {
        const char *s = scalar(c, v[0], "store"), *why = NULL;
        char        qb[QLEN];
        if (s && strcmp(s, "memory")) {
            if (strncmp(s, "redis://", 8))
                why = "must be memory or redis://host:port[/db]";
            else
                redischeck(s, &why);
            if (why)
                err(c, v[0], "store %s: %s", q(qb, sizeof qb, s), why);
        }
        if (s && !why)
            str(c, v[0], "store", &cfg->idempotency.store);
    }
    if (v[1])
        dur(c, v[1], "ttl", &cfg->idempotency.ttl_ms, SEC, 30 * 24 * HOUR);
    if (v[2])
        bytes(c, v[2], "max_body", &cfg->idempotency.max_body, 0, 64 * MIB);
    if (v[3])
        u32(c, v[3], "max_entries", &cfg->idempotency.max_entries, 1, 100000000);
    if (v[4])
        bytes(c, v[4], "max_bytes", &cfg->idempotency.max_bytes, KIB, 64 * GIB);
    if (v[5] && (i = oneof(c, v[5], "on_store_error", onerr_names)) >= 0)
        cfg->idempotency.on_store_error_deny = i;
    if (v[6])
        dur(c, v[6], "store_timeout", &cfg->idempotency.store_timeout_ms, 1, 10 * SEC);
    int redis = cfg->idempotency.store && strcmp(cfg->idempotency.store, "memory");
    if (redis && (v[3] || v[4]))
        err(c, v[3] ? v[3] : v[4],
            "%s: applies to the memory store only; Redis keeps what its own "
            "maxmemory allows",
            v[3] ? "max_entries" : "max_bytes");
    if (redis && (!cfg->rate_limit.store || strcmp(cfg->rate_limit.store,
                                                     cfg->idempotency.store) != 0))
        err(c, v[0],
            "store: a redis:// idempotency store must be rate_limit.store too: "
            "each worker has one Redis connection, shared by both");
    if (!redis && v[6])
        err(c, v[6],
            "store_timeout: applies to a redis:// store only; the memory store "
            "never waits");
}

/* A request header a preflight may allow: an RFC 9110 token. */
static int corsheadercheck(struct ctx *c, const yaml_node_t *n, const char *key,
                           const char *s)
{
    char qb[QLEN];

    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p))) {
            err(c, n, "%s %s: a header name is a token (letters, digits, -, ...)", key,
                q(qb, sizeof qb, s));
            return -1;
        }
    return 0;
}

/* cors.headers joined by ", " (or the default list) for preflight answers;
 * a name listed twice (in any case) is reported at its second place. */
static void cors_headers(struct ctx *c, const yaml_node_t *n)
{
    struct bff_config *cfg = c->cfg;
    size_t             len = 0;

    if (n) {
        strlist(c, n, "headers", 1, corsheadercheck, &cfg->cors.headers,
                &cfg->cors.nheaders);
        for (size_t i = 1; i < cfg->cors.nheaders; i++)
            for (size_t j = 0; j < i; j++)
                if (!strcasecmp(cfg->cors.headers[i], cfg->cors.headers[j])) {
                    char qb[QLEN];
                    err(c, n, "headers %s: listed twice",
                        q(qb, sizeof qb, cfg->cors.headers[i]));
                    break;
                }
    }
    if (!cfg->cors.headers) {
        cfg->cors.allow_headers = strdup(BFF_CORS_DEFAULT_HEADERS);
        if (!cfg->cors.allow_headers)
            c->oom = 1;
        return;
    }
    for (size_t i = 0; i < cfg->cors.nheaders; i++)
        len += strlen(cfg->cors.headers[i]) + 2;
    cfg->cors.allow_headers = calloc(1, len + 1);
    if (!cfg->cors.allow_headers) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < cfg->cors.nheaders; i++) {
        if (i)
            strcat(cfg->cors.allow_headers, ", ");
        strcat(cfg->cors.allow_headers, cfg->cors.headers[i]);
    }
}

/* cors: origins are required once cors: is present; "*" never goes with
 * credentials, which browsers would refuse anyway. */
static void cors(struct ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"origins", "credentials", "max_age", "headers",
                                       NULL};
    struct bff_config       *cfg = c->cfg;
    yaml_node_t             *v[4];
    char                     qb[QLEN];

    if (getmap(c, n, "cors", "in cors", keys, v))
        return;
    cors_headers(c, v[3]);
    if (v[1])
        boolean(c, v[1], "credentials", &cfg->cors.credentials);
    if (v[2])
        dur(c, v[2], "max_age", &cfg->cors.max_age_ms, 0, 24 * HOUR);
    if (!v[0]) {
        err(c, n, "cors: origins: is required (a list like [https://app.example])");
        return;
    }
    strlist(c, v[0], "origins", 1, NULL, &cfg->cors.origins, &cfg->cors.norigins);
    /* strlist() reported the shape; check each origin here, at its position */
    for (size_t i = 0;; i++) {
        const yaml_node_t *item;
        const char        *s, *why;
        if (v[0]->type == YAML_SCALAR_NODE) {
            if (i)
                break;
            item = v[0];
        } else if (v[0]->type == YAML_SEQUENCE_NODE &&
                   v[0]->data.sequence.items.start + i <
                       v[0]->data.sequence.items.top) {
            item = node(c, v[0]->data.sequence.items.start[i]);
        } else {
            break;
        }
        if (item->type != YAML_SCALAR_NODE || isnull(item))
            continue;
        s = sval(item);
        if (origincheck(s, &why))
            err(c, item, "origins %s: %s", q(qb, sizeof qb, s), why);
        else if (!strcmp(s, "*") && cfg->cors.credentials)
            err(c, item,
                "origins \"*\": cannot go with credentials: true (browsers refuse "
                "it); list the origins instead");
    }
}

/* tracing: the share of traces started here (a request without a valid
 * traceparent) that are sampled. A plain decimal from 0 to 1: no sign,
 * exponent, hex, inf or nan. */
static void tracing(struct ctx *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"sample_ratio", NULL};
    yaml_node_t             *v[1];
    char                     qb[QLEN];

    if (getmap(c, n, "tracing", "in tracing", keys, v) || !v[0])
        return;
    const char *s = scalar(c, v[0], "sample_ratio");
    if (!s)
        return;
    size_t ndig = 0, ndot = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            ndig++;
        else if (*p == '.')
            ndot++;
        else
            ndot = 2;
    }
    double d = ndig && ndot < 2 && strlen(s) <= 32 ? strtod(s, NULL) : -1;
    if (d < 0 || d > 1) {
        err(c, v[0], "sample_ratio %s: must be a number from 0 to 1 (like 0.1)",
            q(qb, sizeof qb, s));
        return;
    }
    c->cfg->tracing.sample_ratio = d;
}

/* ---- routes ----------------------------------------------------------- */

/* Checks a route path: starts with '/', no '?', no empty segment, each
 * {name} a whole segment with a unique identifier. Returns 0 or -1 + @why. */
static int pathcheck(const char *p, const char **why)
{
    const char *names[MAX_PARAMS];
    size_t      lens[MAX_PARAMS], np = 0;

    if (*p != '/') {
        *why = "must start with '/'";
        return -1;
    }
    if (strchr(p, '?')) {
        *why = "must not contain '?'; a route matches the path only";
        return -1;
    }
    if (strchr(p, '#') || ctlchars(p)) {
        *why = "must not contain '#', spaces or control characters";
        return -1;
    }
    while (*p) {
        const char *seg = ++p; /* past '/' */
        size_t      len = strcspn(seg, "/");
        p = seg + len;
        if (len == 0) {
            if (*p) {
                *why = "has an empty segment ('//')";
                return -1;
            }
            break; /* "/" or a trailing slash */
        }
        if (!memchr(seg, '{', len) && !memchr(seg, '}', len))
            continue;
        if (seg[0] != '{' || seg[len - 1] != '}' || len < 3 ||
            memchr(seg + 1, '{', len - 2) || memchr(seg + 1, '}', len - 2)) {
            *why = "a {name} parameter must be a whole segment, like /users/{id}";
            return -1;
        }
        if (!isalpha((unsigned char)seg[1]) && seg[1] != '_') {
            *why = "a parameter name is letters, digits and '_', not starting with a "
                   "digit";
            return -1;
        }
        for (size_t i = 2; i < len - 1; i++) {
            if (!isalnum((unsigned char)seg[i]) && seg[i] != '_') {
                *why = "a parameter name is letters, digits and '_', not starting "
                       "with a digit";
                return -1;
            }
        }
        for (size_t i = 0; i < np; i++) {
            if (lens[i] == len - 2 && !memcmp(names[i], seg + 1, len - 2)) {
                *why = "names the same parameter twice";
                return -1;
            }
        }
        if (np == MAX_PARAMS) {
            *why = "has more than 8 parameters";
            return -1;
        }
        names[np] = seg + 1;
        lens[np++] = len - 2;
    }
    return 0;
}

/* Whether two checked paths match the same requests ({a} equals {b}). */
static int samepath(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a == '{' && *b == '{') {
            a = strchr(a, '}') + 1;
            b = strchr(b, '}') + 1;
            continue;
        }
        if (*a++ != *b++)
            return 0;
    }
    return *a == *b;
}

/* Resolves a route's service: a name from services:, or a literal URL that
 * becomes an implicit service (one per distinct URL). */
static void route_service(struct ctx *c, const yaml_node_t *n, struct bff_route_conf *r)
{
    struct bff_config *cfg = c->cfg;
    const char        *s = scalar(c, n, "service"), *why;
    char               qb[QLEN], lb[LISTLEN];
    size_t             keep;
    int                idx;

    if (!s)
        return;
    if (!strstr(s, "://")) {
        idx = bff_config_service(cfg, s);
        if (idx >= 0 && !cfg->services[idx].implicit) {
            r->service = idx;
            return;
        }
        svc_names(c, lb, sizeof lb);
        if (*lb)
            err(c, n, "service %s: not defined under services: (known: %s)",
                q(qb, sizeof qb, s), lb);
        else
            err(c, n,
                "service %s: not defined (services: is empty); name one there or "
                "write a URL like http://host:port",
                q(qb, sizeof qb, s));
        return;
    }
    if (urlcheck(s, &keep, &why)) {
        err(c, n, "service %s: %s", q(qb, sizeof qb, s), why);
        return;
    }
    for (size_t i = 0; i < cfg->nservices; i++) {
        struct bff_service_conf *sc = &cfg->services[i];
        if (sc->implicit && sc->url && strlen(sc->url) == keep &&
            !strncmp(sc->url, s, keep)) {
            r->service = (int)i;
            return;
        }
    }
    idx = svc_add(c);
    if (idx < 0)
        return;
    cfg->services[idx].implicit = 1;
    cfg->services[idx].pos =
        (struct bff_pos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    cfg->services[idx].url = strndup(s, keep);
    cfg->services[idx].name = strndup(s, keep);
    if (!cfg->services[idx].url || !cfg->services[idx].name)
        c->oom = 1;
    r->service = idx;
}

/* Resolves a handler name against opts->endpoints and checks that every
 * service the endpoint calls is defined under services:. */
static void route_handler(struct ctx *c, const yaml_node_t *n, struct bff_route_conf *r)
{
    const struct bff_endpoint *eps = c->opts ? c->opts->endpoints : NULL;
    size_t                     neps = c->opts ? c->opts->nendpoints : 0;
    const char                *s = scalar(c, n, "handler");
    char                       qb[QLEN], lb[LISTLEN] = "";

    if (!s)
        return;
    for (size_t i = 0; i < neps; i++) {
        if (eps[i].name && !strcmp(eps[i].name, s)) {
            r->endpoint = &eps[i];
            break;
        }
    }
    if (!r->endpoint) {
        for (size_t i = 0; i < neps; i++)
            if (eps[i].name)
                cat(lb, sizeof lb, eps[i].name);
        if (*lb)
            err(c, n, "handler %s: not compiled into this BFF (known: %s)",
                q(qb, sizeof qb, s), lb);
        else
            err(c, n, "handler %s: not compiled into this BFF (it has no handlers)",
                q(qb, sizeof qb, s));
        return;
    }
    for (const char *const *sv = r->endpoint->services; sv && *sv; sv++) {
        int idx = bff_config_service(c->cfg, *sv);
        if (idx < 0 || c->cfg->services[idx].implicit)
            err(c, n,
                "handler %s calls service \"%s\", which services: does not define",
                q(qb, sizeof qb, s), *sv);
    }
    r->handler = strdup(s);
    if (!r->handler)
        c->oom = 1;
}

/* A route's method allowlist; @out is left at the default on error. */
static void methods(struct ctx *c, const yaml_node_t *n, uint32_t *out)
{
    char     lb[LISTLEN], qb[QLEN];
    uint32_t bits = 0;

    if (n->type != YAML_SEQUENCE_NODE) {
        err(c, n, "methods: expected a list, like [GET, POST], got %s", kind(n));
        return;
    }
    if (n->data.sequence.items.start == n->data.sequence.items.top) {
        err(c, n, "methods: empty list; leave methods out to allow the defaults");
        return;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
        yaml_node_t *item = node(c, *it);
        const char  *s = scalar(c, item, "methods");
        uint32_t     bit;
        size_t       i;

        if (!s)
            continue;
        bit = bff_method_bit(s);
        if (bit) {
            bits |= bit;
            continue;
        }
        for (i = 0; method_names[i]; i++)
            if (!strcasecmp(s, method_names[i]))
                break;
        if (method_names[i])
            err(c, item, "methods %s: write methods in upper case (%s)",
                q(qb, sizeof qb, s), method_names[i]);
        else
            err(c, item, "methods %s: unknown; use %s", q(qb, sizeof qb, s),
                alts(lb, sizeof lb, method_names));
    }
    if (bits)
        *out = bits;
}

static int rolecheck(struct ctx *c, const yaml_node_t *n, const char *key,
                     const char *s)
{
    char qb[QLEN];

    if (strchr(s, ',') || ctlchars(s)) {
        err(c, n, "%s %s: a role has no commas, spaces or control characters", key,
            q(qb, sizeof qb, s));
        return -1;
    }
    return 0;
}

/* Fills route @r from mapping @n. Runs after services: is walked, wherever
 * the two sit in the file. */
static void route(struct ctx *c, const yaml_node_t *n, struct bff_route_conf *r)
{
    static const char *const keys[] = {
        "path",       "service", "handler", "static",       "auth", "roles",
        "rate_limit", "timeout", "methods", "strip_prefix", "idempotency",
        "websocket",  "max_streams", NULL};
    enum {
        PATH,
        SERVICE,
        HANDLER,
        STATIC,
        AUTH,
        ROLES,
        RATE,
        TIMEOUT,
        METHODS,
        STRIP,
        IDEM,
        WS,
        STREAMS
    };
    static const char *const auth_names[] = {"none", "optional", "required", NULL};
    static const char *const idem_names[] = {"off", "optional", "required", NULL};
    yaml_node_t             *v[13];
    char                     qb[QLEN];
    const char              *s, *why;
    int                      kinds, i, auth_bad = 0;

    r->service = -1;
    r->pos =
        (struct bff_pos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    if (n->type != YAML_MAPPING_NODE) {
        err(c, n, "routes: each route is a mapping (path: ..., service: ...), got %s",
            kind(n));
        return;
    }
    if (getmap(c, n, "route", "in a route", keys, v))
        return;
    if (!v[PATH]) {
        err(c, n, "route: path: is required");
    } else if ((s = scalar(c, v[PATH], "path"))) {
        if (pathcheck(s, &why) || bff_router_pattern_check(s, &why) != 0)
            err(c, v[PATH], "path %s: %s", q(qb, sizeof qb, s), why);
        else
            str(c, v[PATH], "path", &r->path);
    }
    kinds = !!v[SERVICE] + !!v[HANDLER] + !!v[STATIC];
    if (kinds == 0) {
        err(c, n,
            "route: needs one of service: (proxy), handler: (aggregation) or "
            "static: (files)");
    } else if (kinds > 1) {
        err(c, n, "route: %s exclude each other; keep one",
            !v[SERVICE]   ? "handler: and static:"
            : !v[HANDLER] ? "service: and static:"
            : !v[STATIC]  ? "service: and handler:"
                          : "service:, handler: and static:");
    } else if (v[SERVICE]) {
        r->kind = BFF_ROUTE_PROXY;
        r->methods = BFF_M_ALL;
        r->max_streams = 1000;
        route_service(c, v[SERVICE], r);
    } else if (v[HANDLER]) {
        r->kind = BFF_ROUTE_HANDLER;
        r->methods = BFF_M_GET | BFF_M_HEAD;
        route_handler(c, v[HANDLER], r);
    } else {
        r->kind = BFF_ROUTE_STATIC;
        r->methods = BFF_M_GET | BFF_M_HEAD;
        str(c, v[STATIC], "static", &r->static_dir);
    }
    if (v[AUTH]) {
        i = oneof(c, v[AUTH], "auth", auth_names);
        if (i >= 0)
            r->auth = (enum bff_auth_mode)i;
        else
            auth_bad = 1;
    }
    if (v[ROLES]) {
        strlist(c, v[ROLES], "roles", 0, rolecheck, &r->roles, &r->nroles);
        if (r->auth == BFF_AUTH_NONE && !auth_bad)
            err(c, v[ROLES],
                "roles: need auth: required or optional; with auth: none "
                "no token is read, so no role can be checked");
    }
    if (v[RATE] && (s = scalar(c, v[RATE], "rate_limit")) &&
        bff_rate_parse(s, &r->rate, &why))
        err(c, v[RATE], "rate_limit %s: %s", q(qb, sizeof qb, s), why);
    if (v[TIMEOUT]) {
        dur(c, v[TIMEOUT], "timeout", &r->timeout_ms, 1, HOUR);
        if (kinds == 1 && v[STATIC])
            err(c, v[TIMEOUT],
                "timeout: has no effect on a static: route (files are read at once); "
                "drop it");
    }
    if (v[METHODS])
        methods(c, v[METHODS], &r->methods);
    if (v[STRIP]) {
        boolean(c, v[STRIP], "strip_prefix", &r->strip_prefix);
        if (kinds == 1 && !v[SERVICE])
            err(c, v[STRIP], "strip_prefix: applies to service: routes only");
    }
    if (v[IDEM] && (i = oneof(c, v[IDEM], "idempotency", idem_names)) >= 0) {
        r->idempotency = (enum bff_idem_mode)i;
        if (i && kinds == 1 && v[STATIC])
            err(c, v[IDEM],
                "idempotency: a static: route answers GET and HEAD only; "
                "Idempotency-Key applies to POST and PATCH");
    }
    if (v[WS]) {
        boolean(c, v[WS], "websocket", &r->websocket);
        if (kinds == 1 && !v[SERVICE])
            err(c, v[WS], "websocket: applies to service: routes only");
        else if (r->websocket && r->service >= 0 && c->cfg->services[r->service].url &&
                 strncasecmp(c->cfg->services[r->service].url, "https://", 8) == 0)
            err(c, v[WS],
                "websocket: the service %s is https://; WebSockets are spliced to "
                "http:// services only (docs/streaming.md)",
                c->cfg->services[r->service].name);
    }
    if (v[STREAMS]) {
        u32(c, v[STREAMS], "max_streams", &r->max_streams, 1, 10000000);
        if (kinds == 1 && !v[SERVICE])
            err(c, v[STREAMS],
                "max_streams: applies to service: routes only (they stream)");
    }
}

/* routes: a non-empty list; paths that match the same requests twice are
 * refused at the later route. */
static void routes(struct ctx *c, const yaml_node_t *n)
{
    struct bff_config *cfg = c->cfg;
    size_t             count;

    if (n->type != YAML_SEQUENCE_NODE) {
        err(c, n, "routes: expected a list of routes (- path: ...), got %s", kind(n));
        return;
    }
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) {
        err(c, n, "routes: empty list; a BFF without routes answers 404 to everything");
        return;
    }
    cfg->routes = calloc(count, sizeof *cfg->routes);
    if (!cfg->routes) {
        c->oom = 1;
        return;
    }
    cfg->nroutes = count;
    for (size_t i = 0; i < count && !c->oom; i++)
        route(c, node(c, n->data.sequence.items.start[i]), &cfg->routes[i]);
    for (size_t i = 1; i < count; i++) {
        struct bff_route_conf *r = &cfg->routes[i];
        for (size_t j = 0; r->path && j < i; j++) {
            struct bff_route_conf *o = &cfg->routes[j];
            char                   qb[QLEN];
            if (o->path && samepath(o->path, r->path)) {
                err(c, node(c, n->data.sequence.items.start[i]),
                    "route path %s: duplicate of the route at %d:%d",
                    q(qb, sizeof qb, r->path), o->pos.line, o->pos.col);
                break;
            }
        }
    }
}

/* ---- top level -------------------------------------------------------- */

static int slurp(const char *path, char **out, size_t *outlen);

/* admin_token_file: read now, so that a reload re-reads it into the new
 * snapshot. One trailing "\n" or "\r\n" is trimmed; what is left must be
 * ADMIN_TOKEN_MIN..ADMIN_TOKEN_MAX bytes of visible ASCII (no whitespace or
 * control characters). The token itself never goes into a message. */
static void admin_token(struct ctx *c, const yaml_node_t *n)
{
    struct bff_config *cfg = c->cfg;
    char               qb[QLEN], *text = NULL;
    size_t             len = 0, all;

    str(c, n, "admin_token_file", &cfg->admin_token_file);
    if (!cfg->admin_token_file)
        return;
    if (slurp(cfg->admin_token_file, &text, &len)) {
        int e = errno;
        err(c, n, "admin_token_file %s: cannot read it: %s",
            q(qb, sizeof qb, cfg->admin_token_file),
            e == EFBIG ? "larger than 4MiB" : strerror(e));
        return;
    }
    all = len;
    if (len && text[len - 1] == '\n')
        len--;
    if (len && text[len - 1] == '\r')
        len--;
    if (len == 0) {
        err(c, n, "admin_token_file %s: the file is empty; it must hold the token",
            q(qb, sizeof qb, cfg->admin_token_file));
    } else if (len > ADMIN_TOKEN_MAX) {
        err(c, n, "admin_token_file %s: the token is longer than %u bytes",
            q(qb, sizeof qb, cfg->admin_token_file), ADMIN_TOKEN_MAX);
    } else {
        size_t bad = len;
        for (size_t i = 0; i < len && bad == len; i++)
            if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f)
                bad = i;
        if (bad != len)
            err(c, n,
                "admin_token_file %s: the token holds whitespace, a control or a "
                "non-ASCII character (byte %zu); only visible ASCII is allowed",
                q(qb, sizeof qb, cfg->admin_token_file), bad + 1);
        else if (len < ADMIN_TOKEN_MIN)
            err(c, n, "admin_token_file %s: the token has %zu bytes; at least %u needed",
                q(qb, sizeof qb, cfg->admin_token_file), len, ADMIN_TOKEN_MIN);
        else if (!(cfg->admin_token = malloc(len + 1)))
            c->oom = 1;
        else {
            memcpy(cfg->admin_token, text, len);
            cfg->admin_token[len] = '\0';
            cfg->admin_token_len = len;
        }
    }
    OPENSSL_cleanse(text, all);
    free(text);
}

/* Walks the whole document into c->cfg, reporting every error found. */
static void top(struct ctx *c, const yaml_node_t *root)
{
    static const char *const keys[] = {
        "listen",   "workers",    "admin_listen", "admin_token_file", "drain_timeout",
        "access_log", "limits", "services",     "auth",             "rate_limit",
        "idempotency", "cors",  "tracing",      "routes",           "resolver",
        "tls",      NULL};
    enum {
        LISTEN,
        WORKERS,
        ADMIN,
        TOKEN,
        DRAIN,
        ACCESS,
        LIMITS,
        SERVICES,
        AUTH,
        RL,
        IDEMP,
        CORS,
        TRACING,
        ROUTES,
        RESOLVER,
        TLS
    };
    static const char *const limit_keys[] = {
        "max_body", "max_connections", "max_header_bytes", "client_timeout", NULL};
    struct bff_config *cfg = c->cfg;
    static const char *const tls_keys[] = {"cert", "key", NULL};
    yaml_node_t       *v[sizeof(keys) / sizeof(keys[0])], *w[4];

    if (root->type != YAML_MAPPING_NODE) {
        err(c, root, "the config must be a mapping (key: value) at the top, got %s",
            kind(root));
        return;
    }
    getmap(c, root, "config", "at the top level", keys, v);
    if (v[LISTEN])
        listen_addr(c, v[LISTEN], "listen", &cfg->listen);
    if (v[ADMIN])
        listen_addr(c, v[ADMIN], "admin_listen", &cfg->admin_listen);
    if (cfg->admin_listen && (cfg->listen || !v[LISTEN]) &&
        same_socket(cfg->listen ? cfg->listen : "127.0.0.1:8080", cfg->admin_listen)) {
        char qb[QLEN];
        err(c, v[ADMIN],
            "admin_listen %s: must differ from listen; the admin "
            "endpoints never share the public port",
            q(qb, sizeof qb, cfg->admin_listen));
    }
    if (v[TOKEN])
        admin_token(c, v[TOKEN]);
    if (v[WORKERS])
        u32(c, v[WORKERS], "workers", &cfg->workers, 1, MAX_WORKERS);
    if (v[DRAIN])
        dur(c, v[DRAIN], "drain_timeout", &cfg->drain_timeout_ms, 0, HOUR);
    if (v[ACCESS])
        boolean(c, v[ACCESS], "access_log", &cfg->access_log);
    if (v[LIMITS] && !getmap(c, v[LIMITS], "limits", "in limits", limit_keys, w)) {
        if (w[0])
            bytes(c, w[0], "max_body", &cfg->limits.max_body, 0, 64 * GIB);
        if (w[1])
            u32(c, w[1], "max_connections", &cfg->limits.max_connections, 1, 1000000);
        if (w[2])
            bytes(c, w[2], "max_header_bytes", &cfg->limits.max_header_bytes, KIB, MIB);
        if (w[3])
            dur(c, w[3], "client_timeout", &cfg->limits.client_timeout_ms, 1, HOUR);
    }
    if (v[TLS] && !getmap(c, v[TLS], "tls", "in tls", tls_keys, w)) {
        if (w[0]) {
            str(c, w[0], "cert", &cfg->tls.cert);
            cfg->tls.cert_pos = (struct bff_pos){(int)w[0]->start_mark.line + 1,
                                                 (int)w[0]->start_mark.column + 1};
        }
        if (w[1]) {
            str(c, w[1], "key", &cfg->tls.key);
            cfg->tls.key_pos = (struct bff_pos){(int)w[1]->start_mark.line + 1,
                                                (int)w[1]->start_mark.column + 1};
        }
        if (!w[0] || !w[1])
            err(c, v[TLS], "tls: needs both cert: (the PEM chain) and key: (its private "
                           "key); leave tls out for plain HTTP");
    }
    if (v[SERVICES])
        services(c, v[SERVICES]);
    if (v[RESOLVER])
        resolvers(c, v[RESOLVER]);
    if (v[AUTH])
        auth(c, v[AUTH]);
    if (v[RL])
        rate_limit(c, v[RL]);
    if (v[CORS])
        cors(c, v[CORS]);
    if (v[TRACING])
        tracing(c, v[TRACING]);
    if (v[IDEMP])
        idempotency(c, v[IDEMP]);
    /* last: routes refer to services and may add implicit ones */
    if (c->oom)
        return;
    if (v[ROUTES])
        routes(c, v[ROUTES]);
    else
        err(c, root, "routes: missing; a BFF without routes answers 404 to everything");
}

static void defaults(struct bff_config *cfg)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    cfg->workers = n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (uint32_t)n;
    cfg->drain_timeout_ms = 10000;
    cfg->access_log = 1;
    cfg->limits.max_body = MIB;
    cfg->limits.max_header_bytes = 16 * KIB;
    cfg->limits.max_connections = 10000;
    cfg->limits.client_timeout_ms = 30000;
    cfg->auth.jwks_refresh_ms = 300000;
    cfg->auth.algorithms = BFF_ALG_RS256 | BFF_ALG_ES256;
    cfg->auth.leeway_ms = 30000;
    cfg->rate_limit.key = BFF_RL_KEY_USER_OR_IP;
    cfg->rate_limit.store_timeout_ms = 50;
    cfg->rate_limit.max_keys = 100000;
    cfg->cors.max_age_ms = 600000;
    cfg->idempotency.ttl_ms = 24 * HOUR;
    cfg->idempotency.max_body = 256 * KIB;
    cfg->idempotency.max_entries = 10000;
    cfg->idempotency.max_bytes = 64 * MIB;
    cfg->idempotency.on_store_error_deny = 1;
    cfg->idempotency.store_timeout_ms = 50;
    cfg->tracing.sample_ratio = 1.0;
}

/* Fills the string defaults the file left unset. */
static void string_defaults(struct ctx *c)
{
    struct bff_config *cfg = c->cfg;

    if (!cfg->listen && !(cfg->listen = strdup("127.0.0.1:8080")))
        c->oom = 1;
    if (!cfg->rate_limit.store && !(cfg->rate_limit.store = strdup("memory")))
        c->oom = 1;
    if (!cfg->idempotency.store && !(cfg->idempotency.store = strdup("memory")))
        c->oom = 1;
    if (!cfg->auth.claim_user_id && !(cfg->auth.claim_user_id = strdup("sub")))
        c->oom = 1;
    if (!cfg->auth.claim_roles && !(cfg->auth.claim_roles = strdup("roles")))
        c->oom = 1;
}

/* Reports a libyaml reader, scanner, parser or composer error. */
static void syntax(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    yaml_mark_t m = p->problem_mark;
    const char *what = p->problem ? p->problem : "cannot parse";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        c->oom = 1;
        return;
    case YAML_READER_ERROR:
        /* the reader gives a byte offset, not a mark */
        m.line = m.column = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
                m.column++;
            }
        }
        errat(c, m, "YAML: %s", what);
        return;
    default:
        if (p->context)
            errat(c, m, "YAML syntax error: %s (%s at %d:%d)", what, p->context,
                  (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        else
            errat(c, m, "YAML syntax error: %s", what);
    }
}

static int sha256_hex(const char *text, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      n = 0;

    out[0] = '\0';
    if (!EVP_Digest(text, len, md, &n, EVP_sha256(), NULL) || n != 32)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

struct bff_config *bff_config_parse(const char *name, const char *text, size_t len,
                                    const struct bff_config_opts *opts,
                                    struct bff_diag              *diag)
{
    struct ctx         c = {0};
    yaml_parser_t      parser;
    yaml_document_t    doc, extra;
    int                have_parser = 0, have_doc = 0;
    const yaml_node_t *root;

    c.file = name ? name : "<config>";
    c.opts = opts;
    if (!text)
        text = "";
    c.cfg = calloc(1, sizeof *c.cfg);
    if (!c.cfg) {
        c.oom = 1;
        goto out;
    }
    defaults(c.cfg);
    c.cfg->path = strdup(c.file);
    if (!c.cfg->path || !yaml_parser_initialize(&parser)) {
        c.oom = 1;
        goto out;
    }
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax(&c, &parser, text, len);
        goto out;
    }
    have_doc = 1;
    c.doc = &doc;
    root = yaml_document_get_root_node(&doc);
    if (!root) {
        errat(&c, doc.start_mark, "the config is empty; it needs at least routes:");
        goto out;
    }
    top(&c, root);
    /* a second document would be silently ignored: refuse it */
    if (!yaml_parser_load(&parser, &extra)) {
        syntax(&c, &parser, text, len);
    } else {
        const yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2)
            err(&c, r2, "only one YAML document per file; remove the '---' before it");
        yaml_document_delete(&extra);
    }
    string_defaults(&c);
    if (sha256_hex(text, len, c.cfg->sha256))
        c.oom = 1; /* EVP fails only for want of memory */
    c.cfg->loaded_at = (int64_t)time(NULL);
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (c.nerr || c.oom) {
        bff_config_free(c.cfg);
        c.cfg = NULL;
    }
    flush(&c, diag);
    return c.cfg;
}

/* Reads @path whole into a NUL-terminated heap buffer of at most MAX_FILE
 * bytes. Returns 0, or -1 with errno set (EFBIG when too large). */
static int slurp(const char *path, char **out, size_t *outlen)
{
    FILE  *f = fopen(path, "rb");
    char  *buf = NULL, *p;
    size_t len = 0, cap = 0, n;
    int    rc = -1, e = 0;

    if (!f)
        return -1;
    for (;;) {
        if (len == cap) {
            if (cap > MAX_FILE) {
                e = EFBIG;
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            p = realloc(buf, cap + 1);
            if (!p) {
                e = ENOMEM;
                goto out;
            }
            buf = p;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                e = errno ? errno : EIO;
                goto out;
            }
            break;
        }
    }
    if (len > MAX_FILE) {
        e = EFBIG;
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    if (rc)
        errno = e;
    return rc;
}

struct bff_config *bff_config_load(const char *path, const struct bff_config_opts *opts,
                                   struct bff_diag *diag)
{
    struct bff_config *cfg;
    char              *text, *line;
    size_t             len;

    if (slurp(path, &text, &len)) {
        int e = errno;
        int rc = e == EFBIG ? asprintf(&line,
                                       "%s:1:1: the config is larger than 4MiB; is "
                                       "this the right file?",
                                       path)
                            : asprintf(&line, "%s:1:1: cannot read the config: %s",
                                       path, strerror(e));
        diag_add(diag, rc < 0 ? NULL : line);
        return NULL;
    }
    cfg = bff_config_parse(path, text, len, opts, diag);
    free(text);
    return cfg;
}

void bff_config_free(struct bff_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nservices; i++) {
        struct bff_service_conf *s = &cfg->services[i];
        free(s->name);
        free(s->url);
        free(s->hc.path);
        free(s->tls.ca);
        free(s->tls.cert);
        free(s->tls.key);
        strv_free(s->endpoints);
    }
    free(cfg->services);
    strv_free(cfg->resolvers);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        struct bff_route_conf *r = &cfg->routes[i];
        free(r->path);
        free(r->handler);
        free(r->static_dir);
        strv_free(r->roles);
    }
    free(cfg->routes);
    free(cfg->auth.jwks_file);
    free(cfg->auth.jwks_url);
    free(cfg->auth.issuer);
    strv_free(cfg->auth.audience);
    free(cfg->auth.claim_user_id);
    free(cfg->auth.claim_roles);
    free(cfg->auth.internal_signing_key_file);
    free(cfg->rate_limit.store);
    free(cfg->idempotency.store);
    strv_free(cfg->cors.origins);
    strv_free(cfg->cors.headers);
    free(cfg->cors.allow_headers);
    free(cfg->path);
    free(cfg->listen);
    free(cfg->admin_listen);
    free(cfg->admin_token_file);
    free(cfg->tls.cert);
    free(cfg->tls.key);
    if (cfg->admin_token)
        OPENSSL_cleanse(cfg->admin_token, cfg->admin_token_len);
    free(cfg->admin_token);
    free(cfg);
}

int bff_config_service(const struct bff_config *cfg, const char *name)
{
    if (!cfg || !name)
        return -1;
    for (size_t i = 0; i < cfg->nservices; i++)
        if (cfg->services[i].name && !strcmp(cfg->services[i].name, name))
            return (int)i;
    return -1;
}
