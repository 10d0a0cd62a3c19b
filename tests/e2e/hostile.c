/* tests/e2e/hostile.c — the hostile-HTTP case table, the logging upstream and
 * the raw-socket case runner (see hostile.h). */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "hostile.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Appends printf text to @buf (bounded), with "; " between entries. */
__attribute__((format(printf, 3, 4))) static void addf(char *buf, size_t cap,
                                                       const char *fmt, ...)
{
    size_t  n = strlen(buf);
    va_list ap;
    if (n + 3 >= cap)
        return;
    if (n) {
        memcpy(buf + n, "; ", 3);
        n += 2;
    }
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* @s (of @n bytes) made printable into @out: CR, LF, TAB, NUL and other
 * bytes outside 0x20-0x7e as escapes. */
static const char *printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r')
            o += (size_t)snprintf(out + o, cap - o, "\\r");
        else if (ch == '\n')
            o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (ch == '\t')
            o += (size_t)snprintf(out + o, cap - o, "\\t");
        else if (ch < 0x20 || ch > 0x7e)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}

static const char *memcasemem(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0)
        return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (strncasecmp(h + i, nd, nn) == 0)
            return h + i;
    return NULL;
}

/* ---- the case table ----------------------------------------------------- */

/* Room for @more bytes and a NUL after @n in *@o (capacity *@cap). */
static int reserve(char **o, size_t *cap, size_t n, size_t more)
{
    if (n + more + 1 <= *cap)
        return 0;
    size_t nc = *cap * 2 > n + more + 64 ? *cap * 2 : n + more + 64;
    char  *np = realloc(*o, nc);
    if (!np)
        return -1;
    *o = np;
    *cap = nc;
    return 0;
}

/* Resolves C escapes (\r \n \t \0 \v \f \a \b \e \xHH \\ \" \s for a trailing
 * space), "{{N*c}}" (N copies of the byte c, itself maybe an escape) and
 * "@TOKEN@" in @src into a new buffer. Returns NULL on a bad escape. */
static char *unescape(const char *src, const char *token, size_t *outlen)
{
    size_t cap = strlen(src) + 64, n = 0;
    char  *o = malloc(cap);
    if (!o)
        return NULL;
    for (const char *p = src; *p;) {
        size_t need = 2;
        char   ch;
        if (strncmp(p, "{{", 2) == 0) {
            char         *end;
            unsigned long cnt = strtoul(p + 2, &end, 10);
            if (*end != '*' || cnt > 4 * 1024 * 1024)
                goto bad;
            const char *q = end + 1;
            if (*q == '\\') {
                size_t one;
                char   esc[6] = {0};
                size_t el = q[1] == 'x' ? 4 : 2;
                memcpy(esc, q, el);
                char *c1 = unescape(esc, NULL, &one);
                if (!c1 || one != 1) {
                    free(c1);
                    goto bad;
                }
                ch = c1[0];
                free(c1);
                q += el;
            } else {
                ch = *q++;
            }
            if (strncmp(q, "}}", 2) != 0)
                goto bad;
            if (reserve(&o, &cap, n, cnt) != 0)
                goto bad;
            memset(o + n, ch, cnt);
            n += cnt;
            p = q + 2;
            continue;
        }
        if (token && strncmp(p, "@TOKEN@", 7) == 0) {
            size_t tl = strlen(token);
            if (reserve(&o, &cap, n, tl) != 0)
                goto bad;
            memcpy(o + n, token, tl);
            n += tl;
            p += 7;
            continue;
        }
        if (*p != '\\') {
            ch = *p++;
        } else {
            switch (p[1]) {
            case 'r': ch = '\r'; break;
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case '0': ch = '\0'; break;
            case 'v': ch = '\v'; break;
            case 'f': ch = '\f'; break;
            case 'a': ch = '\a'; break;
            case 'b': ch = '\b'; break;
            case 'e': ch = 0x1b; break;
            case 's': ch = ' '; break;
            case '\\': ch = '\\'; break;
            case '"': ch = '"'; break;
            case 'x':
                if (!isxdigit((unsigned char)p[2]) || !isxdigit((unsigned char)p[3]))
                    goto bad;
                {
                    char hx[3] = {p[2], p[3], 0};
                    ch = (char)strtol(hx, NULL, 16);
                }
                need = 4;
                break;
            default: goto bad;
            }
            p += need;
        }
        if (reserve(&o, &cap, n, 1) != 0)
            goto bad;
        o[n++] = ch;
    }
    o[n] = '\0';
    *outlen = n;
    return o;
bad:
    free(o);
    return NULL;
}

static const char *const mode_names[HK_NMODES] = {
    "ok", "garbage", "bighead", "twocl", "badchunk", "reset", "earlyclose", "silent"};

static int valid_expect(const char *e)
{
    char        buf[64];
    char       *save = NULL;
    int         n = 0;
    snprintf(buf, sizeof(buf), "%s", e);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *s2 = NULL;
        for (char *alt = strtok_r(tok, "|", &s2); alt; alt = strtok_r(NULL, "|", &s2)) {
            if (strcmp(alt, "close") == 0 || strcmp(alt, "broken") == 0 ||
                (strlen(alt) == 3 && isdigit((unsigned char)alt[0]) &&
                 ((isdigit((unsigned char)alt[1]) && isdigit((unsigned char)alt[2])) ||
                  strcmp(alt + 1, "xx") == 0)))
                continue;
            return 0;
        }
        n++;
    }
    return n > 0 && n <= HK_MAX_RESP;
}

int hk_table_load(struct hk_table *t, const char *path, const char *token, char *err,
                  size_t errlen)
{
    FILE          *f = fopen(path, "r");
    char          *line = NULL;
    size_t         lcap = 0;
    ssize_t        len;
    int            lno = 0;
    struct hk_case *c = NULL;
    size_t         cap = 0;

    memset(t, 0, sizeof(*t));
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
#define FAIL(...)                                                                    \
    do {                                                                             \
        int k_ = snprintf(err, errlen, "%s:%d: ", path, lno);                        \
        snprintf(err + (k_ > 0 ? k_ : 0), errlen - (size_t)(k_ > 0 ? k_ : 0),        \
                 __VA_ARGS__);                                                       \
        goto fail;                                                                   \
    } while (0)
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (line[0] == '[') {
            char *end = strchr(line, ']');
            if (!end || end - line - 1 <= 0 || end - line - 1 >= 64)
                FAIL("bad case header %s", line);
            if (t->n == cap) {
                cap = cap ? cap * 2 : 64;
                struct hk_case *nc = realloc(t->cases, cap * sizeof(*nc));
                if (!nc)
                    FAIL("out of memory");
                t->cases = nc;
            }
            c = &t->cases[t->n++];
            memset(c, 0, sizeof(*c));
            memcpy(c->name, line + 1, (size_t)(end - line - 1));
            c->line = lno;
            snprintf(c->up, sizeof(c->up), "any");
            for (size_t i = 0; i + 1 < t->n; i++)
                if (strcmp(t->cases[i].name, c->name) == 0)
                    FAIL("case %s named twice", c->name);
            continue;
        }
        if (!c)
            FAIL("a key before the first [case]");
        char *key = line, *val = line;
        while (*val && *val != ' ' && *val != '\t')
            val++;
        if (*val)
            *val++ = '\0';
        while (*val == ' ' || *val == '\t')
            val++;
        if (strcmp(key, "class") == 0) {
            snprintf(c->klass, sizeof(c->klass), "%s", val);
        } else if (strcmp(key, "why") == 0) {
            snprintf(c->why, sizeof(c->why), "%s", val);
        } else if (strcmp(key, "expect") == 0) {
            if (!valid_expect(val))
                FAIL("expect %s: want NNN, 4xx, close or broken, | and , between", val);
            snprintf(c->expect, sizeof(c->expect), "%s", val);
        } else if (strcmp(key, "up") == 0) {
            static const char *const ups[] = {"none", "nocomplete", "one", "two",
                                              "three", "any"};
            int ok = 0;
            for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++)
                ok |= strcmp(val, ups[i]) == 0;
            if (!ok)
                FAIL("up %s: want none, nocomplete, one, two, three or any", val);
            snprintf(c->up, sizeof(c->up), "%s", val);
        } else if (strcmp(key, "target") == 0) {
            snprintf(c->target, sizeof(c->target), "%s", val);
        } else if (strcmp(key, "send") == 0 || strcmp(key, "body") == 0 ||
                   strcmp(key, "forbid") == 0) {
            size_t n;
            char  *bytes = unescape(val, key[0] == 's' ? token : NULL, &n);
            if (!bytes)
                FAIL("%s: bad escape in %s", key, val);
            if (key[0] == 's') {
                if (c->nsteps == HK_MAX_STEPS) {
                    free(bytes);
                    FAIL("too many steps");
                }
                c->steps[c->nsteps++] = (struct hk_step){HK_SEND, bytes, n, 0};
            } else if (key[0] == 'b') {
                free(c->body);
                c->body = bytes;
                c->body_len = n;
            } else {
                if (c->nforbid == HK_MAX_FORBID) {
                    free(bytes);
                    FAIL("too many forbid lines");
                }
                c->forbid[c->nforbid++] = bytes;
            }
        } else if (strcmp(key, "wait100") == 0 || strcmp(key, "pause") == 0) {
            if (c->nsteps == HK_MAX_STEPS)
                FAIL("too many steps");
            c->steps[c->nsteps++] = (struct hk_step){
                key[0] == 'w' ? HK_WAIT100 : HK_PAUSE, NULL, 0, atoi(val)};
        } else if (strcmp(key, "slow") == 0) {
            c->slow_ms = atoi(val) > 0 ? atoi(val) : 1;
        } else if (strcmp(key, "stall") == 0) {
            c->stall = 1;
        } else if (strcmp(key, "open") == 0) {
            c->open = 1;
        } else if (strcmp(key, "mode") == 0) {
            int m = -1;
            for (int i = 0; i < HK_NMODES; i++)
                if (strcmp(val, mode_names[i]) == 0)
                    m = i;
            if (m < 0)
                FAIL("mode %s: unknown", val);
            c->mode = m;
        } else {
            FAIL("unknown key %s", key);
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        c = &t->cases[i];
        lno = c->line;
        if (!c->klass[0] || !c->expect[0] || c->nsteps == 0)
            FAIL("case %s needs class, expect and send", c->name);
    }
#undef FAIL
    free(line);
    fclose(f);
    return 0;
fail:
    free(line);
    fclose(f);
    hk_table_free(t);
    return -1;
}

void hk_table_free(struct hk_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct hk_case *c = &t->cases[i];
        for (int k = 0; k < c->nsteps; k++)
            free(c->steps[k].data);
        for (int k = 0; k < c->nforbid; k++)
            free(c->forbid[k]);
        free(c->body);
    }
    free(t->cases);
    memset(t, 0, sizeof(*t));
}

int hk_case_is_refusal(const struct hk_case *c)
{
    if (strcmp(c->up, "none") != 0 && strcmp(c->up, "nocomplete") != 0)
        return 0;
    /* every choice of the first answer is an error or a close */
    for (const char *p = c->expect; *p && *p != ','; p++) {
        if ((p == c->expect || p[-1] == '|') && *p >= '0' && *p <= '3')
            return 0;
    }
    return 1;
}

/* ---- the logging upstream ----------------------------------------------- */

struct hk_conn {
    struct hk_upstream *u;
    int                 fd;
    int                 id;
    pthread_t           th;
    size_t              pending; /* bytes received and not yet a request */
    size_t              pending_mark; /* u->nev when they began */
    int                 started, done;
    struct hk_conn     *next;
};

static int is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_vchar_or_obs(unsigned char ch)
{
    return (ch >= 0x21 && ch <= 0x7e) || ch >= 0x80;
}

enum { P_NEED = 0, P_DONE = 1, P_BAD = -1 };

/* The next line of @b[@pos..@n) that ends in CRLF: its length without the
 * CRLF in *@ll. P_NEED when no LF arrived yet, P_BAD for a bare CR or LF. */
static int next_line(const char *b, size_t n, size_t pos, size_t *ll, char *why,
                     size_t wl)
{
    const char *lf = memchr(b + pos, '\n', n - pos);
    const char *cr = memchr(b + pos, '\r', n - pos);
    if (cr && ((lf && cr < lf - 1) || (!lf && cr != b + n - 1))) {
        snprintf(why, wl, "bare CR");
        return P_BAD;
    }
    if (!lf) {
        if (n - pos > 256 * 1024) {
            snprintf(why, wl, "a line over 256 KiB");
            return P_BAD;
        }
        return P_NEED;
    }
    if (lf == b + pos || lf[-1] != '\r') {
        snprintf(why, wl, "bare LF");
        return P_BAD;
    }
    *ll = (size_t)(lf - 1 - (b + pos));
    return P_DONE;
}

/* One field line of @len bytes at @p: checks it strictly and notes the
 * framing fields. Returns 0 or -1 with @why. */
struct head_info {
    int    ncl, nte, nhost;
    char   cl[64], te[64];
    int    forged;
    char   hop[64];
};

static int field_line(const char *p, size_t len, struct head_info *hi, char *why,
                      size_t wl)
{
    size_t i = 0;
    char   shown[96];
    if (len && (p[0] == ' ' || p[0] == '\t')) {
        snprintf(why, wl, "a field line starting with whitespace (obs-fold): %s",
                 printable(p, len < 40 ? len : 40, shown, sizeof(shown)));
        return -1;
    }
    while (i < len && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == len || p[i] != ':') {
        snprintf(why, wl, "a field name that is not a token: %s",
                 printable(p, len < 40 ? len : 40, shown, sizeof(shown)));
        return -1;
    }
    size_t nl = i;
    size_t vs = i + 1, ve = len;
    while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
        vs++;
    while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
        ve--;
    for (size_t k = vs; k < ve; k++) {
        unsigned char ch = (unsigned char)p[k];
        if (!is_vchar_or_obs(ch) && ch != ' ' && ch != '\t') {
            snprintf(why, wl, "byte 0x%02x in the value of %.*s", ch, (int)nl, p);
            return -1;
        }
    }
    if (memcasemem(p, len, "forged", 6))
        hi->forged = 1;
    size_t vl = ve - vs;
#define NAME_IS(s) (nl == strlen(s) && strncasecmp(p, s, nl) == 0)
    if (NAME_IS("content-length")) {
        hi->ncl++;
        snprintf(hi->cl, sizeof(hi->cl), "%.*s", (int)(vl < 63 ? vl : 63), p + vs);
    } else if (NAME_IS("transfer-encoding")) {
        hi->nte++;
        snprintf(hi->te, sizeof(hi->te), "%.*s", (int)(vl < 63 ? vl : 63), p + vs);
    } else if (NAME_IS("host")) {
        hi->nhost++;
    } else if (NAME_IS("te") || NAME_IS("expect") || NAME_IS("upgrade") ||
               NAME_IS("keep-alive") || NAME_IS("proxy-connection") ||
               NAME_IS("http2-settings")) {
        if (!hi->hop[0])
            snprintf(hi->hop, sizeof(hi->hop), "%.*s", (int)nl, p);
    }
#undef NAME_IS
    return 0;
}

/* Parses one request at @b[0..@n) strictly (RFC 9112 without any of its
 * leniencies). P_DONE with the request in @e and its length in *@used,
 * P_NEED, or P_BAD with e->why. */
static int parse_request(const char *b, size_t n, size_t *used, struct hk_event *e)
{
    struct head_info hi = {0};
    size_t           pos = 0, ll;
    int              rc;
    char             shown[96];
    int              v10 = 0;

    /* the request line: method SP target SP HTTP/1.x */
    rc = next_line(b, n, 0, &ll, e->why, sizeof(e->why));
    if (rc != P_DONE)
        return rc;
    {
        const char *sp1 = memchr(b, ' ', ll);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - b)) : NULL;
        int         ok = sp1 && sp2 && sp1 > b && sp2 > sp1 + 1;
        for (const char *q = b; ok && q < sp1; q++)
            ok = is_tchar((unsigned char)*q);
        for (const char *q = sp1 ? sp1 + 1 : b; ok && q < sp2; q++)
            ok = *q > 0x20 && *q < 0x7f;
        if (ok) {
            size_t vl = ll - (size_t)(sp2 + 1 - b);
            ok = vl == 8 && (memcmp(sp2 + 1, "HTTP/1.1", 8) == 0 ||
                             memcmp(sp2 + 1, "HTTP/1.0", 8) == 0);
            v10 = ok && sp2[8] == '0';
        }
        if (!ok) {
            snprintf(e->why, sizeof(e->why), "request line: %s",
                     printable(b, ll < 60 ? ll : 60, shown, sizeof(shown)));
            return P_BAD;
        }
        snprintf(e->method, sizeof(e->method), "%.*s", (int)(sp1 - b < 15 ? sp1 - b : 15),
                 b);
        size_t tl = (size_t)(sp2 - sp1 - 1);
        snprintf(e->target, sizeof(e->target), "%.*s", (int)(tl < 255 ? tl : 255),
                 sp1 + 1);
    }
    pos = ll + 2;
    for (;;) {
        rc = next_line(b, n, pos, &ll, e->why, sizeof(e->why));
        if (rc != P_DONE)
            return rc;
        if (ll == 0) {
            pos += 2;
            break;
        }
        if (field_line(b + pos, ll, &hi, e->why, sizeof(e->why)) != 0)
            return P_BAD;
        pos += ll + 2;
    }
    e->head_len = pos;
    e->forged = hi.forged;
    snprintf(e->hop, sizeof(e->hop), "%s", hi.hop);
    if (!v10 && hi.nhost != 1) {
        snprintf(e->why, sizeof(e->why), "%d Host fields on HTTP/1.1", hi.nhost);
        return P_BAD;
    }
    if (hi.ncl > 1 || (hi.ncl && hi.nte)) {
        snprintf(e->why, sizeof(e->why), "framing: %d Content-Length, %d Transfer-Encoding",
                 hi.ncl, hi.nte);
        return P_BAD;
    }
    if (hi.nte > 1 || (hi.nte && strcasecmp(hi.te, "chunked") != 0)) {
        snprintf(e->why, sizeof(e->why), "Transfer-Encoding \"%s\" (%d fields)", hi.te,
                 hi.nte);
        return P_BAD;
    }
    if (hi.ncl) {
        size_t k = 0;
        while (hi.cl[k] && isdigit((unsigned char)hi.cl[k]))
            k++;
        if (k == 0 || hi.cl[k] || k > 9) {
            snprintf(e->why, sizeof(e->why), "Content-Length \"%s\"", hi.cl);
            return P_BAD;
        }
        size_t cl = strtoul(hi.cl, NULL, 10);
        if (n - pos < cl)
            return P_NEED;
        e->body_len = cl;
        e->body = malloc(cl + 1);
        if (!e->body)
            return P_BAD;
        memcpy(e->body, b + pos, cl);
        e->body[cl] = '\0';
        pos += cl;
    } else if (hi.nte) {
        size_t cap = 256, bl = 0;
        char  *body = malloc(cap);
        if (!body)
            return P_BAD;
        for (;;) {
            rc = next_line(b, n, pos, &ll, e->why, sizeof(e->why));
            if (rc != P_DONE) {
                free(body);
                return rc;
            }
            size_t k = 0;
            while (k < ll && isxdigit((unsigned char)b[pos + k]))
                k++;
            if (k == 0 || k > 8 || (k < ll && b[pos + k] != ';')) {
                snprintf(e->why, sizeof(e->why), "chunk size line: %s",
                         printable(b + pos, ll < 40 ? ll : 40, shown, sizeof(shown)));
                free(body);
                return P_BAD;
            }
            for (size_t q = k; q < ll; q++)
                if ((unsigned char)b[pos + q] < 0x20 && b[pos + q] != '\t') {
                    snprintf(e->why, sizeof(e->why), "CTL in a chunk extension");
                    free(body);
                    return P_BAD;
                }
            char hx[9] = {0};
            memcpy(hx, b + pos, k);
            size_t sz = strtoul(hx, NULL, 16);
            pos += ll + 2;
            if (sz == 0) {
                for (;;) { /* trailer section */
                    rc = next_line(b, n, pos, &ll, e->why, sizeof(e->why));
                    if (rc != P_DONE) {
                        free(body);
                        return rc;
                    }
                    if (ll == 0) {
                        pos += 2;
                        break;
                    }
                    if (field_line(b + pos, ll, &hi, e->why, sizeof(e->why)) != 0) {
                        free(body);
                        return P_BAD;
                    }
                    e->forged |= hi.forged;
                    pos += ll + 2;
                }
                break;
            }
            if (n - pos < sz + 2) {
                free(body);
                return P_NEED;
            }
            if (b[pos + sz] != '\r' || b[pos + sz + 1] != '\n') {
                snprintf(e->why, sizeof(e->why), "chunk data not followed by CRLF");
                free(body);
                return P_BAD;
            }
            if (bl + sz + 1 > cap) {
                cap = bl + sz + 256;
                char *nb = realloc(body, cap);
                if (!nb) {
                    free(body);
                    return P_BAD;
                }
                body = nb;
            }
            memcpy(body + bl, b + pos, sz);
            bl += sz;
            pos += sz + 2;
        }
        body[bl] = '\0';
        e->body = body;
        e->body_len = bl;
    }
    e->head = malloc(e->head_len + 1);
    if (e->head) {
        memcpy(e->head, b, e->head_len);
        e->head[e->head_len] = '\0';
    }
    *used = pos;
    return P_DONE;
}

static void record(struct hk_upstream *u, struct hk_event *e)
{
    pthread_mutex_lock(&u->mu);
    if (u->nev == u->cap) {
        size_t           nc = u->cap ? u->cap * 2 : 256;
        struct hk_event *ne = realloc(u->ev, nc * sizeof(*ne));
        if (!ne) {
            pthread_mutex_unlock(&u->mu);
            free(e->head);
            free(e->body);
            return;
        }
        u->ev = ne;
        u->cap = nc;
    }
    e->seq = ++u->seq;
    u->ev[u->nev++] = *e;
    pthread_mutex_unlock(&u->mu);
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Answers @e per @mode. Returns 1 when the connection is to be closed. */
static int answer(int fd, const struct hk_event *e, int mode)
{
    char head[512];
    int  close_after = e->head && memcasemem(e->head, e->head_len, "\r\nConnection: close",
                                             19) != NULL;
    switch (mode) {
    case HK_MODE_GARBAGE:
    {
        static const char g[] = "SSH-2.0-OpenSSH_9.2 not a status line\r\n\r\n\x01\x02garbage";
        send_all(fd, g, sizeof(g) - 1);
        return 1;
    }
    case HK_MODE_BIGHEAD: {
        size_t big = 64 * 1024;
        char  *p = malloc(big + 128);
        if (!p)
            return 1;
        size_t k = (size_t)snprintf(p, 128, "HTTP/1.1 200 OK\r\nX-Big: ");
        memset(p + k, 'a', big);
        k += big;
        k += (size_t)snprintf(p + k, 128, "\r\nContent-Length: 2\r\n\r\nok");
        send_all(fd, p, k);
        free(p);
        return close_after;
    }
    case HK_MODE_TWOCL: {
        static const char r[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 2\r\nContent-Length: 4\r\n\r\nokok";
        send_all(fd, r, sizeof(r) - 1);
        return 1;
    }
    case HK_MODE_BADCHUNK: {
        static const char r[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n";
        send_all(fd, r, sizeof(r) - 1);
        return 1;
    }
    case HK_MODE_RESET: {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        return 1;
    }
    case HK_MODE_EARLYCLOSE: {
        static const char r[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 100\r\n\r\npartial";
        send_all(fd, r, sizeof(r) - 1);
        return 1;
    }
    case HK_MODE_SILENT:
        return 1;
    default: {
        char   body[300];
        size_t bl = (size_t)snprintf(body, sizeof(body), "upstream-ok %s", e->target);
        int    hl = snprintf(head, sizeof(head),
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: %zu\r\n%s\r\n",
                             bl, close_after ? "Connection: close\r\n" : "");
        send_all(fd, head, (size_t)hl);
        send_all(fd, body, bl);
        return close_after;
    }
    }
}

static void *conn_main(void *arg)
{
    struct hk_conn     *c = arg;
    struct hk_upstream *u = c->u;
    size_t              cap = 64 * 1024, n = 0;
    char               *b = malloc(cap);
    int                 open = b != NULL;

    while (open && !atomic_load(&u->stop)) {
        if (n == cap) {
            if (cap >= 4 * 1024 * 1024)
                break;
            char *nb = realloc(b, cap * 2);
            if (!nb)
                break;
            b = nb;
            cap *= 2;
        }
        ssize_t r = recv(c->fd, b + n, cap - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        for (;;) {
            struct hk_event e = {0};
            size_t          used = 0;
            if (n == 0)
                break;
            int rc = parse_request(b, n, &used, &e);
            if (rc == P_NEED) {
                free(e.body);
                break;
            }
            e.conn = c->id;
            if (rc == P_BAD) {
                free(e.body);
                e.body = NULL;
                e.kind = HK_EV_MALFORMED;
                e.bytes = n;
                e.head = malloc(n + 1);
                if (e.head) {
                    memcpy(e.head, b, n);
                    e.head[n] = '\0';
                    e.head_len = n;
                }
                record(u, &e);
                static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
                                          "Content-Length: 0\r\nConnection: close\r\n\r\n";
                send_all(c->fd, bad, sizeof(bad) - 1);
                n = 0;
                open = 0;
                break;
            }
            e.kind = HK_EV_REQ;
            e.bytes = used;
            e.barrier = strstr(e.target, "__barrier__") != NULL;
            int mode = e.barrier ? HK_MODE_OK : atomic_exchange(&u->mode, HK_MODE_OK);
            record(u, &e);
            memmove(b, b + used, n - used);
            n -= used;
            if (answer(c->fd, &e, mode)) {
                open = 0;
                break;
            }
        }
        pthread_mutex_lock(&u->mu);
        if (n && !c->pending)
            c->pending_mark = u->nev;
        c->pending = n;
        pthread_mutex_unlock(&u->mu);
    }
    if (n > 0) {
        struct hk_event e = {0};
        e.kind = HK_EV_PARTIAL;
        e.conn = c->id;
        e.bytes = n;
        snprintf(e.why, sizeof(e.why), "%zu bytes that never made a whole request", n);
        e.head = malloc(n + 1);
        if (e.head) {
            memcpy(e.head, b, n);
            e.head[n] = '\0';
            e.head_len = n;
        }
        record(u, &e);
    }
    free(b);
    pthread_mutex_lock(&u->mu);
    c->pending = 0;
    c->done = 1;
    pthread_mutex_unlock(&u->mu);
    close(c->fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct hk_upstream *u = arg;
    while (!atomic_load(&u->stop)) {
        int fd = accept(u->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        struct hk_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->u = u;
        c->fd = fd;
        pthread_mutex_lock(&u->mu);
        c->id = ++u->nconn;
        c->next = u->conns;
        u->conns = c;
        pthread_mutex_unlock(&u->mu);
        pthread_mutex_lock(&u->mu);
        c->started = pthread_create(&c->th, NULL, conn_main, c) == 0;
        if (!c->started) {
            c->done = 1;
            close(fd);
        }
        pthread_mutex_unlock(&u->mu);
    }
    return NULL;
}

int hk_upstream_start(struct hk_upstream *u)
{
    struct sockaddr_in a = {0};
    socklen_t          al = sizeof(a);
    int                one = 1;

    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->mu, NULL);
    u->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (u->lfd < 0)
        return -1;
    setsockopt(u->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(u->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(u->lfd, 128) != 0 ||
        getsockname(u->lfd, (struct sockaddr *)&a, &al) != 0) {
        close(u->lfd);
        return -1;
    }
    u->port = ntohs(a.sin_port);
    if (pthread_create(&u->acceptor, NULL, accept_main, u) != 0) {
        close(u->lfd);
        return -1;
    }
    return 0;
}

void hk_upstream_stop(struct hk_upstream *u)
{
    atomic_store(&u->stop, 1);
    shutdown(u->lfd, SHUT_RDWR);
    pthread_join(u->acceptor, NULL);
    close(u->lfd);
    pthread_mutex_lock(&u->mu);
    for (struct hk_conn *c = u->conns; c; c = c->next)
        if (!c->done)
            shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&u->mu);
    for (struct hk_conn *c = u->conns, *next; c; c = next) {
        next = c->next;
        if (c->started)
            pthread_join(c->th, NULL);
        free(c);
    }
    for (size_t i = 0; i < u->nev; i++) {
        free(u->ev[i].head);
        free(u->ev[i].body);
    }
    free(u->ev);
    pthread_mutex_destroy(&u->mu);
}

/* ---- the client --------------------------------------------------------- */

static int dial(int port)
{
    struct sockaddr_in a = {0};
    int                fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* The value of header @name in the head @h (@hl bytes), into @out. */
static int head_field(const char *h, size_t hl, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = memchr(h, '\n', hl); p && p + 1 < h + hl;
         p = memchr(p + 1, '\n', (size_t)(h + hl - p - 1))) {
        const char *l = p + 1;
        if ((size_t)(h + hl - l) > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1, *e = v;
            while (*v == ' ' || *v == '\t')
                v++;
            e = v;
            while (e < h + hl && *e != '\r' && *e != '\n')
                e++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return 1;
        }
    }
    return 0;
}

/* Parses the answers in @b[0..@n): final ones into @r->resp, 1xx counted.
 * @eof: the peer closed, so a body without framing ends here and an
 * unfinished answer is truncated. */
static void parse_answers(const char *b, size_t n, int eof, struct hk_result *r)
{
    size_t pos = 0;
    r->nresp = 0;
    r->interim = 0;
    r->truncated = 0;
    while (pos < n && r->nresp < HK_MAX_RESP) {
        const char *end = memmem(b + pos, n - pos, "\r\n\r\n", 4);
        if (!end) {
            r->truncated = eof;
            return;
        }
        size_t      hl = (size_t)(end + 4 - (b + pos));
        const char *h = b + pos;
        int         st = 0;
        char        v[128];
        if (hl < 12 || strncmp(h, "HTTP/1.", 7) != 0 || sscanf(h + 9, "%3d", &st) != 1) {
            /* not an HTTP answer: keep it as status 0 so the case shows it */
            struct hk_resp *x = &r->resp[r->nresp++];
            memset(x, 0, sizeof(*x));
            printable(h, hl < 80 ? hl : 80, x->body, sizeof(x->body));
            x->complete = 1;
            return;
        }
        if (st >= 100 && st < 200) {
            r->interim++;
            pos += hl;
            continue;
        }
        struct hk_resp *x = &r->resp[r->nresp];
        memset(x, 0, sizeof(*x));
        x->status = st;
        if (head_field(h, hl, "Content-Type", v, sizeof(v)))
            snprintf(x->ctype, sizeof(x->ctype), "%.63s", v);
        if (head_field(h, hl, "Connection", v, sizeof(v)))
            x->conn_close = strcasestr(v, "close") != NULL;
        size_t bstart = pos + hl, blen = 0, next = 0;
        int    complete = 0;
        if (st == 204 || st == 304) {
            complete = 1;
            next = bstart;
        } else if (head_field(h, hl, "Transfer-Encoding", v, sizeof(v)) &&
                   strcasestr(v, "chunked")) {
            /* de-chunk into x->body (bounded) */
            size_t q = bstart;
            for (;;) {
                const char *crlf = memmem(b + q, n - q, "\r\n", 2);
                if (!crlf)
                    break;
                size_t sz = strtoul(b + q, NULL, 16);
                size_t data = (size_t)(crlf + 2 - b);
                if (sz == 0) {
                    const char *te = memmem(b + data - 2, n - data + 2, "\r\n\r\n", 4);
                    if (te) {
                        complete = 1;
                        next = (size_t)(te + 4 - b);
                    }
                    break;
                }
                if (n - data < sz + 2)
                    break;
                size_t room = sizeof(x->body) - 1 - blen;
                memcpy(x->body + blen, b + data, sz < room ? sz : room);
                blen += sz < room ? sz : room;
                q = data + sz + 2;
            }
        } else if (head_field(h, hl, "Content-Length", v, sizeof(v))) {
            size_t cl = strtoul(v, NULL, 10);
            if (n - bstart >= cl) {
                complete = 1;
                next = bstart + cl;
            }
            blen = n - bstart < cl ? n - bstart : cl;
            if (blen > sizeof(x->body) - 1)
                blen = sizeof(x->body) - 1;
            memcpy(x->body, b + bstart, blen);
        } else {
            complete = eof;
            next = n;
            blen = n - bstart < sizeof(x->body) - 1 ? n - bstart : sizeof(x->body) - 1;
            memcpy(x->body, b + bstart, blen);
        }
        x->body[blen] = '\0';
        x->body_len = blen;
        if (!complete) {
            r->truncated = eof;
            if (eof) /* keep what broke off, to show it */
                r->nresp++;
            return;
        }
        x->complete = 1;
        if (st >= 400 && strncasecmp(x->ctype, "application/problem+json", 24) == 0) {
            json_object *j = json_tokener_parse(x->body);
            json_object *js;
            x->problem = j && json_object_object_get_ex(j, "status", &js) &&
                         json_object_get_int(js) == st &&
                         json_object_object_get_ex(j, "title", &js);
            json_object_put(j);
        }
        r->nresp++;
        pos = next;
    }
}

static int count_expected(const char *expect)
{
    int n = 1;
    for (const char *p = expect; *p; p++)
        n += *p == ',';
    return n;
}

/* Runs the client side of @c: sends, reads the answers until the front end
 * closes or a bound passes. */
static void client_side(const struct hk_case *c, int port, struct hk_result *r)
{
    size_t cap = 256 * 1024, n = 0;
    char  *b = malloc(cap);
    int    fd = dial(port), want = count_expected(c->expect);
    int    stopped = 0;

    if (!b || fd < 0) {
        r->connect_failed = 1;
        free(b);
        if (fd >= 0)
            close(fd);
        return;
    }
    for (int s = 0; s < c->nsteps && !stopped; s++) {
        const struct hk_step *st = &c->steps[s];
        if (st->kind == HK_PAUSE) {
            nap_ms(st->ms);
        } else if (st->kind == HK_SEND) {
            if (c->slow_ms) { /* a slow client, byte by byte (pacing, not a wait) */
                for (size_t i = 0; i < st->len && !stopped; i++) {
                    if (send(fd, st->data + i, 1, MSG_NOSIGNAL) != 1)
                        stopped = 1;
                    nap_ms(c->slow_ms);
                }
            } else {
                for (size_t off = 0; off < st->len;) {
                    ssize_t w = send(fd, st->data + off, st->len - off, MSG_NOSIGNAL);
                    if (w <= 0) {
                        stopped = 1;
                        break;
                    }
                    off += (size_t)w;
                }
            }
        } else { /* HK_WAIT100: read until an interim (or any) answer is whole */
            long until = now_ms() + 2000;
            while (now_ms() < until) {
                struct pollfd pf = {fd, POLLIN, 0};
                if (poll(&pf, 1, (int)(until - now_ms())) <= 0)
                    break;
                ssize_t rd = recv(fd, b + n, cap - 1 - n, 0);
                if (rd <= 0) {
                    stopped = 1;
                    break;
                }
                n += (size_t)rd;
                if (memmem(b, n, "\r\n\r\n", 4))
                    break;
            }
            parse_answers(b, n, 0, r);
            if (r->nresp > 0)
                stopped = 1; /* a final answer instead of 100 Continue: stop sending */
        }
    }
    /* Read until EOF. Bounds: the whole read 2.5 s (4.5 s for a stalled client,
     * which the front end must drop after its 1 s client timeout); once every
     * expected answer is whole, 500 ms more for the close. */
    long start = now_ms(), last = start;
    long until = start + (c->stall ? 4500 : 2500);
    int  eof = 0;
    for (;;) {
        parse_answers(b, n, 0, r);
        int whole = 0;
        for (int i = 0; i < r->nresp; i++)
            whole += r->resp[i].complete;
        if (whole >= want && !c->stall && until > last + 500)
            until = last + 500;
        long left = until - now_ms();
        if (left <= 0)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        int           pr = poll(&pf, 1, (int)left);
        if (pr <= 0)
            break;
        if (n + 1 >= cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb)
                break;
            b = nb;
            cap *= 2;
        }
        ssize_t rd = recv(fd, b + n, cap - 1 - n, 0);
        if (rd <= 0) { /* FIN, or RST (ECONNRESET): closed either way */
            eof = 1;
            break;
        }
        n += (size_t)rd;
        int whole2 = 0;
        parse_answers(b, n, 0, r);
        for (int i = 0; i < r->nresp; i++)
            whole2 += r->resp[i].complete;
        if (whole2 > whole)
            last = now_ms();
    }
    r->eof = eof;
    r->eof_ms = eof ? now_ms() - last : -1;
    parse_answers(b, n, eof, r);
    close(fd);
    free(b);
}

static void barrier(int port, struct hk_result *r)
{
    static const char req[] = "GET /echo/__barrier__ HTTP/1.1\r\nHost: h\r\n"
                              "Connection: close\r\n\r\n";
    struct hk_case    bc = {0};
    struct hk_result  br = {0};
    bc.steps[0] = (struct hk_step){HK_SEND, (char *)req, sizeof(req) - 1, 0};
    bc.nsteps = 1;
    snprintf(bc.expect, sizeof(bc.expect), "200");
    client_side(&bc, port, &br);
    r->barrier_status = br.nresp > 0 ? br.resp[0].status : -1;
    r->barrier_ok = !br.connect_failed && br.nresp == 1 && br.resp[0].status == 200 &&
                    strcmp(br.resp[0].body, "upstream-ok /echo/__barrier__") == 0;
}

/* What the upstream saw since event @mark (barrier requests left out). */
static void upstream_side(const struct hk_case *c, struct hk_upstream *u, size_t mark,
                          struct hk_result *r)
{
    char shown[200];
    pthread_mutex_lock(&u->mu);
    for (size_t i = mark; i < u->nev; i++) {
        const struct hk_event *e = &u->ev[i];
        if (e->kind == HK_EV_REQ && e->barrier)
            continue;
        if (e->kind == HK_EV_MALFORMED) {
            r->up_malformed++;
            if (!r->up_why[0])
                snprintf(r->up_why, sizeof(r->up_why), "%s in: %s", e->why,
                         printable(e->head, e->head_len < 90 ? e->head_len : 90, shown,
                                   sizeof(shown)));
            continue;
        }
        if (e->kind == HK_EV_PARTIAL) {
            r->up_partial++;
            continue;
        }
        if (r->up_reqs < HK_MAX_RESP)
            snprintf(r->up_targets[r->up_reqs], sizeof(r->up_targets[0]), "%.127s",
                     e->target);
        if (r->up_reqs == 0) {
            snprintf(r->up_first_target, sizeof(r->up_first_target), "%s", e->target);
            r->up_body_ok = c->body && e->body_len == c->body_len &&
                            memcmp(e->body, c->body, c->body_len) == 0;
            printable(e->body ? e->body : "", e->body_len < 40 ? e->body_len : 40,
                      r->up_body, sizeof(r->up_body));
        }
        r->up_reqs++;
        if (strcasestr(e->target, "smuggled"))
            r->up_hidden++;
        r->up_forged |= e->forged;
        if (e->hop[0] && !r->up_hop[0])
            snprintf(r->up_hop, sizeof(r->up_hop), "%s", e->hop);
        for (int k = 0; k < c->nforbid && !r->up_forbidden[0]; k++)
            if (e->head && memmem(e->head, e->head_len, c->forbid[k], strlen(c->forbid[k])))
                printable(c->forbid[k], strlen(c->forbid[k]), r->up_forbidden,
                          sizeof(r->up_forbidden));
    }
    for (struct hk_conn *k = u->conns; k; k = k->next)
        if (!k->done && k->pending && k->pending_mark >= mark)
            r->up_pending++;
    pthread_mutex_unlock(&u->mu);
}

static int status_matches(const char *alt, const struct hk_resp *x)
{
    if (strcmp(alt + 1, "xx") == 0)
        return x->status / 100 == alt[0] - '0';
    return x->status == atoi(alt);
}

/* Statuses after which the front end must close: the request's framing or
 * head could not be trusted (or it was never read whole). */
static int must_close(int st)
{
    return st == 400 || st == 408 || st == 413 || st == 414 || st == 431 || st == 501 ||
           st == 505;
}

int hk_more_requests_than_answers(const struct hk_result *r)
{
    /* one request without an answer is a front end that failed to answer,
     * judged by the answer checks; two or more for fewer answers hide one */
    return r->up_reqs > (r->nresp > 1 ? r->nresp : 1);
}

/* @a and @b equal, with the hex digits of percent-escapes compared without
 * case (%c0 is %C0, RFC 3986 6.2.2.1). */
static int same_target(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        if (*a == '%' && *b == '%' && a[1] && b[1] && a[2] && b[2]) {
            if (tolower((unsigned char)a[1]) != tolower((unsigned char)b[1]) ||
                tolower((unsigned char)a[2]) != tolower((unsigned char)b[2]))
                return 0;
            a += 2;
            b += 2;
        } else if (*a != *b) {
            return 0;
        }
    }
    return *a == *b;
}

static void judge(const struct hk_case *c, struct hk_result *r)
{
    char  buf[64];
    char *save = NULL;
    int   i = 0, asked_close = 0;
    char *f = r->fail;
    const size_t fc = sizeof(r->fail);

    for (int s = 0; s < c->nsteps; s++)
        if (c->steps[s].kind == HK_SEND &&
            memcasemem(c->steps[s].data, c->steps[s].len, "\r\nConnection: close", 19))
            asked_close = 1;
    if (r->connect_failed) {
        addf(f, fc, "cannot connect");
        return;
    }
    snprintf(buf, sizeof(buf), "%s", c->expect);
    int ntok = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++) {
        char  alts[64], *s2 = NULL;
        int   ok = 0, is_close = 0, is_broken = 0;
        ntok++;
        snprintf(alts, sizeof(alts), "%s", tok);
        const struct hk_resp *x = i < r->nresp ? &r->resp[i] : NULL;
        for (char *a = strtok_r(alts, "|", &s2); a; a = strtok_r(NULL, "|", &s2)) {
            if (strcmp(a, "close") == 0) {
                is_close = 1;
                /* closed without an answer, or with an error answer */
                ok |= r->eof && (!x || (x->complete && x->status >= 400));
            } else if (strcmp(a, "broken") == 0) {
                is_broken = 1;
                ok |= x && ((x->complete && x->status == 502) ||
                            (!x->complete && r->truncated && x->status == 200));
            } else if (x && x->complete && status_matches(a, x)) {
                ok = 1;
            }
        }
        if (!ok) {
            if (x)
                addf(f, fc, "answer %d: want %s, got %d%s%s%.60s", i + 1, tok, x->status,
                     x->complete ? "" : " (broke off)", x->status ? "" : ": ",
                     x->status ? "" : x->body);
            else
                addf(f, fc, "answer %d: want %s, got %s", i + 1, tok,
                     r->eof ? "a close without it" : "nothing before the bound (no close)");
            continue;
        }
        if (!x)
            continue;
        if (x->complete && x->status >= 400 && !x->problem)
            addf(f, fc, "answer %d (%d): not application/problem+json with status and "
                        "title (Content-Type \"%s\")",
                 i + 1, x->status, x->ctype);
        if (x->complete && x->status >= 200 && x->status < 300) {
            int k = i; /* the k-th 2xx answers the k-th forwarded request */
            char want[160];
            snprintf(want, sizeof(want), "upstream-ok %s", k < r->up_reqs && k < HK_MAX_RESP
                                                              ? r->up_targets[k]
                                                              : "?");
            if (strcmp(x->body, want) != 0)
                addf(f, fc, "answer %d: body \"%.60s\", want \"%s\"", i + 1, x->body, want);
        }
        if (x->complete && must_close(x->status) && !c->open) {
            if (!x->conn_close)
                addf(f, fc, "answer %d (%d) without Connection: close", i + 1, x->status);
        }
        (void)is_close;
        (void)is_broken;
    }
    if (r->nresp > ntok)
        addf(f, fc, "%d answers, want %d (answer %d: %d)", r->nresp, ntok, ntok + 1,
             r->resp[ntok].status);
    /* the close: after a refusal, or when the client asked for it */
    const struct hk_resp *last = r->nresp ? &r->resp[r->nresp - 1] : NULL;
    if ((last && last->complete && must_close(last->status) && !c->open) || asked_close) {
        if (!r->eof)
            addf(f, fc, "connection still open 500 ms after the answer");
    }
    if (c->stall && !r->eof)
        addf(f, fc, "a stalled client still connected after 4.5 s");

    /* the upstream */
    if (r->up_malformed)
        addf(f, fc, "upstream got a malformed request (%s)", r->up_why);
    if (r->up_hidden)
        addf(f, fc, "upstream got a hidden request (%d for \"smuggled\")", r->up_hidden);
    if (hk_more_requests_than_answers(r))
        addf(f, fc, "upstream got %d requests for %d answers (hidden)", r->up_reqs,
             r->nresp);
    if (r->up_forged)
        addf(f, fc, "upstream got a client's forged field");
    if (r->up_hop[0])
        addf(f, fc, "upstream got hop-by-hop field %s", r->up_hop);
    if (r->up_forbidden[0])
        addf(f, fc, "upstream got \"%s\" as the client sent it", r->up_forbidden);
    int want_reqs = strcmp(c->up, "one") == 0   ? 1
                    : strcmp(c->up, "two") == 0 ? 2
                    : strcmp(c->up, "three") == 0 ? 3
                                                  : -1;
    if (strcmp(c->up, "none") == 0) {
        if (r->up_reqs || r->up_partial || r->up_pending)
            addf(f, fc, "forwarded: upstream got %d request(s)%s%s%s, want nothing",
                 r->up_reqs, r->up_partial || r->up_pending ? " and a partial one" : "",
                 r->up_reqs ? " for " : "", r->up_reqs ? r->up_first_target : "");
    } else if (strcmp(c->up, "nocomplete") == 0) {
        if (r->up_reqs)
            addf(f, fc, "upstream got %d whole request(s) (%s), want none", r->up_reqs,
                 r->up_first_target);
    } else if (want_reqs > 0 && r->up_reqs != want_reqs) {
        addf(f, fc, "upstream got %d request(s), want %d", r->up_reqs, want_reqs);
    }
    if (c->body && r->up_reqs > 0 && !r->up_body_ok)
        addf(f, fc, "upstream body \"%s\", want the client's", r->up_body);
    if (c->target[0] && r->up_reqs > 0 && !same_target(r->up_first_target, c->target))
        addf(f, fc, "upstream target %s, want %s", r->up_first_target, c->target);
    if (!r->barrier_ok)
        addf(f, fc, "the next request (barrier) got %ld, want 200", r->barrier_status);
}

static void summarize(const struct hk_case *c, struct hk_result *r)
{
    size_t o = 0;
    r->cell[0] = '\0';
    for (int i = 0; i < r->nresp && o + 16 < sizeof(r->cell); i++)
        o += (size_t)snprintf(r->cell + o, sizeof(r->cell) - o, "%s%d%s", i ? "," : "",
                              r->resp[i].status, r->resp[i].complete ? "" : "~");
    if (r->nresp == 0)
        o += (size_t)snprintf(r->cell + o, sizeof(r->cell) - o, "-");
    snprintf(r->cell + o, sizeof(r->cell) - o, "%s", r->eof ? " closed" : "");
    r->flags[0] = '\0';
    o = 0;
    if (r->up_reqs)
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "fwd%d ", r->up_reqs);
    if (r->up_partial || r->up_pending)
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "partial ");
    if (r->up_hidden || hk_more_requests_than_answers(r))
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "HIDDEN ");
    if (r->up_malformed)
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "MALFORMED ");
    if (r->up_forged)
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "FORGED ");
    if (r->up_hop[0])
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "hop:%s ", r->up_hop);
    if (r->up_forbidden[0])
        o += (size_t)snprintf(r->flags + o, sizeof(r->flags) - o, "as-sent ");
    if (o)
        r->flags[o - 1] = '\0';
    int errored = r->nresp == 0 ? r->eof
                                : (r->resp[0].status >= 400 || r->resp[0].status == 0);
    r->refused = errored && !r->up_reqs && !r->up_partial && !r->up_pending &&
                 !r->up_malformed;
    (void)c;
}

void hk_case_run(const struct hk_case *c, int port, struct hk_upstream *u,
                 struct hk_result *r)
{
    size_t mark;
    long   t0 = now_ms();
    memset(r, 0, sizeof(*r));
    pthread_mutex_lock(&u->mu);
    mark = u->nev;
    pthread_mutex_unlock(&u->mu);
    atomic_store(&u->mode, c->mode);
    client_side(c, port, r);
    atomic_store(&u->mode, HK_MODE_OK);
    barrier(port, r);
    upstream_side(c, u, mark, r);
    judge(c, r);
    summarize(c, r);
    r->ms = now_ms() - t0;
}
