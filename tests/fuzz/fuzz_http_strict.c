/* tests/fuzz/fuzz_http_strict.c — the front door's head check
 * (core/src/http/http_strict.c, SPEC §4 "The front door is strict HTTP/1.1")
 *
 * Input: one request head, given to bff_http_check_head() as it is; every
 * CRLF-separated line of it also goes to bff_http_check_field_line().
 * Properties, beyond memory safety (the input is exactly @size bytes on the
 * heap, so one byte read past it is an ASan report):
 * - the status is 0, 400, 413, 501 or 505; a refusal has a reason of
 *   printable ASCII without trailing punctuation;
 * - an accepted head is re-read here by a plain parser written from SPEC §4
 *   and must be: CRLF only (no bare CR or LF), no NUL or other control byte
 *   but HTAB, ending at its first empty line; "method SP target SP
 *   HTTP/1.D" with a token method and a target of visible ASCII; field lines
 *   "token:" OWS value OWS with no obs-fold and no whitespace before the
 *   colon or before the first line; at most one Content-Length, 1*DIGIT, and
 *   never with Transfer-Encoding; at most one Transfer-Encoding, only on
 *   HTTP/1.1, naming chunked and nothing else; one Host on HTTP/1.1, at most
 *   one on 1.0. What the check reports (method, target, minor, field count,
 *   Content-Length, chunked, Host) must be what this parser found;
 * - a head cut short by one byte is refused; every field line of an accepted
 *   head passes bff_http_check_field_line();
 * - a line bff_http_check_field_line() accepts is a token, ':', and value
 *   bytes (visible ASCII, obs-text, SP, HTAB). */
#include "fuzz.h"

#include "bff/http_strict.h"

static int tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int vbyte(unsigned char c)
{
    return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

static int lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int iseq(const uint8_t *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lc(a[i]) != b[i])
            return 0;
    return 1;
}

static void check_reason(int rc, const char *why)
{
    FUZZ_CHECK(rc == 400 || rc == 413 || rc == 501 || rc == 505, "status %d", rc);
    FUZZ_CHECK(why != NULL && why[0] != '\0', "status %d without a reason", rc);
    size_t n = strlen(why);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7f, "reason byte 0x%02x", why[i]);
    FUZZ_CHECK(!strchr(".!?;:, ", why[n - 1]), "reason \"%s\" ends in punctuation", why);
}

/* Re-reads an accepted head by SPEC §4 and compares with what the check said. */
static void check_accepted(const uint8_t *d, size_t n, const struct bff_http_head *h)
{
    const uint8_t *p = d, *end = d + n, *le;
    size_t         fields = 0, ncl = 0, nte = 0, nhost = 0;
    const uint8_t *cl = NULL, *te = NULL, *host = NULL;
    size_t         cll = 0, tel = 0, hostl = 0;

    FUZZ_CHECK(n >= 4 && memcmp(end - 4, "\r\n\r\n", 4) == 0,
               "an accepted head does not end in CRLF CRLF");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(d[i] != '\r' || (i + 1 < n && d[i + 1] == '\n'), "bare CR at %zu", i);
        FUZZ_CHECK(d[i] != '\n' || (i > 0 && d[i - 1] == '\r'), "bare LF at %zu", i);
        FUZZ_CHECK(d[i] >= 0x20 || d[i] == '\r' || d[i] == '\n' || d[i] == '\t',
                   "control byte 0x%02x at %zu", d[i], i);
        FUZZ_CHECK(d[i] != 0x7f, "DEL at %zu", i);
    }
    /* request line */
    le = memchr(p, '\r', n);
    const uint8_t *m = p;
    while (p < le && tchar(*p))
        p++;
    FUZZ_CHECK(p > m && p < le && *p == ' ', "request line: method");
    FUZZ_CHECK((const char *)m == h->method && (size_t)(p - m) == h->method_len,
               "method reported elsewhere");
    const uint8_t *t = ++p;
    while (p < le && *p > 0x20 && *p < 0x7f)
        p++;
    FUZZ_CHECK(p > t && p < le && *p == ' ', "request line: target");
    FUZZ_CHECK((const char *)t == h->target && (size_t)(p - t) == h->target_len,
               "target reported elsewhere");
    p++;
    FUZZ_CHECK(le - p == 8 && memcmp(p, "HTTP/1.", 7) == 0 && p[7] >= '0' && p[7] <= '9',
               "request line: version \"%.*s\"", (int)(le - p), (const char *)p);
    FUZZ_CHECK(h->minor == p[7] - '0', "minor %d, want %c", h->minor, p[7]);
    p = le + 2;
    /* field lines, up to the empty line */
    for (;;) {
        le = memchr(p, '\r', (size_t)(end - p));
        if (le == p)
            break;
        FUZZ_CHECK(*p != ' ' && *p != '\t', "a field line starts with whitespace");
        FUZZ_CHECK(bff_http_check_field_line((const char *)p, (size_t)(le - p)) == 0,
                   "field line %zu of an accepted head is refused alone", fields);
        const uint8_t *nm = p;
        while (p < le && tchar(*p))
            p++;
        FUZZ_CHECK(p > nm && p < le && *p == ':', "field line %zu: name", fields);
        size_t nl = (size_t)(p - nm);
        p++;
        while (p < le && (*p == ' ' || *p == '\t'))
            p++;
        const uint8_t *v = p, *ve = le;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const uint8_t *q = v; q < le; q++)
            FUZZ_CHECK(vbyte(*q), "field line %zu: value byte 0x%02x", fields, *q);
        if (iseq(nm, nl, "content-length")) {
            ncl++;
            cl = v;
            cll = (size_t)(ve - v);
        } else if (iseq(nm, nl, "transfer-encoding")) {
            nte++;
            te = v;
            tel = (size_t)(ve - v);
        } else if (iseq(nm, nl, "host")) {
            nhost++;
            host = v;
            hostl = (size_t)(ve - v);
        }
        fields++;
        p = le + 2;
    }
    FUZZ_CHECK(le + 2 == end, "bytes after the first empty line were accepted");
    FUZZ_CHECK(h->nfields == fields, "%zu field lines reported, %zu there", h->nfields,
               fields);
    /* framing */
    FUZZ_CHECK(!(ncl && nte), "Content-Length together with Transfer-Encoding");
    FUZZ_CHECK(ncl <= 1 && nte <= 1, "%zu Content-Length, %zu Transfer-Encoding", ncl,
               nte);
    FUZZ_CHECK(h->has_cl == (ncl == 1), "has_cl %d", h->has_cl);
    if (ncl) {
        uint64_t want = 0;
        FUZZ_CHECK(cll > 0, "empty Content-Length");
        for (size_t i = 0; i < cll; i++) {
            FUZZ_CHECK(cl[i] >= '0' && cl[i] <= '9', "Content-Length \"%.*s\"", (int)cll,
                       (const char *)cl);
            FUZZ_CHECK(want <= (UINT64_MAX - 9) / 10, "Content-Length overflows");
            want = want * 10 + (uint64_t)(cl[i] - '0');
        }
        FUZZ_CHECK(h->content_length == want, "Content-Length %llu, want %llu",
                   (unsigned long long)h->content_length, (unsigned long long)want);
    }
    FUZZ_CHECK(h->chunked == (nte == 1), "chunked %d", h->chunked);
    if (nte) {
        char   codings[64];
        size_t k = 0;
        FUZZ_CHECK(h->minor >= 1, "Transfer-Encoding on HTTP/1.0");
        for (size_t i = 0; i < tel; i++)
            if (te[i] != ' ' && te[i] != '\t' && te[i] != ',' && k < sizeof codings - 1)
                codings[k++] = (char)lc(te[i]);
        codings[k] = '\0';
        FUZZ_CHECK(strcmp(codings, "chunked") == 0,
                   "Transfer-Encoding \"%.*s\" is not chunked alone", (int)tel,
                   (const char *)te);
    }
    /* Host */
    FUZZ_CHECK(nhost <= 1 && (nhost == 1 || h->minor == 0), "%zu Host fields on 1.%d",
               nhost, h->minor);
    FUZZ_CHECK(h->has_host == (nhost == 1), "has_host %d", h->has_host);
    if (nhost)
        FUZZ_CHECK((const char *)host == h->host && hostl == h->host_len,
                   "Host reported elsewhere");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bff_http_head h;
    const char          *why = NULL;
    int rc = bff_http_check_head((const char *)data, size, &h, &why);

    if (rc != 0) {
        check_reason(rc, why);
    } else {
        check_accepted(data, size, &h);
        FUZZ_CHECK(bff_http_check_head((const char *)data, size - 1, NULL, NULL) != 0,
                   "the head without its last byte is accepted too");
    }
    FUZZ_CHECK(bff_http_check_head((const char *)data, size, NULL, NULL) == rc,
               "the result depends on the out arguments");

    /* each line alone, as an upstream answer's field line */
    struct fuzz_split sp;
    const uint8_t    *line;
    size_t            n;
    fuzz_split_init(&sp, data, size, '\n');
    while ((line = fuzz_next(&sp, &n)) != NULL) {
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (bff_http_check_field_line((const char *)line, n) != 0)
            continue;
        size_t i = 0;
        while (i < n && tchar(line[i]))
            i++;
        FUZZ_CHECK(i > 0 && i < n && line[i] == ':', "field line without token and ':'");
        for (i++; i < n; i++)
            FUZZ_CHECK(vbyte(line[i]), "field line value byte 0x%02x", line[i]);
    }
    return 0;
}
