/* bff-fleet — which instance of a fleet runs a config the others do not?
 *
 *   bff-fleet [--timeout MS] [--expect SHA256] [--token-file FILE] ADMIN_URL...
 *
 * Asks every instance's GET /admin/config, prints one line per instance
 * (url, sha256, loaded_at, path) and names the ones whose sha256 differs
 * from the fleet's majority (or from --expect). Exit status: 0 when all
 * agree, 1 when some disagree, 2 when an instance could not be asked (that
 * wins over 1: the fleet's state is not known), 64 on bad usage.
 * With a tie and no --expect there is no majority: every instance is
 * named. With --token-file, every request carries "Authorization: Bearer"
 * and the file's token (the instances' admin_token_file, docs/config.md).
 * A blocking CLI: libcurl easy, one instance after another. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define MAX_BODY (64 * 1024)
#define MAX_TOKEN 4096 /* bytes, as admin_token_file allows */

struct instance {
    const char *url;
    char        error[CURL_ERROR_SIZE + 64];
    char        sha256[65];
    char        path[512];
    long long   loaded_at;
    int         ok;
};

struct buf {
    char  *p;
    size_t n;
};

static size_t collect(char *d, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t      len = size * n;
    if (b->n + len > MAX_BODY)
        return 0;
    char *np = realloc(b->p, b->n + len + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Fills @in from @in->url's /admin/config; on failure in->ok stays 0 and
 * in->error says why. */
static void ask(struct instance *in, long timeout_ms, const struct curl_slist *hdrs)
{
    char         url[2048], errbuf[CURL_ERROR_SIZE] = "";
    size_t       n = strlen(in->url);
    struct buf   b = {0};
    long         status = 0;
    CURL        *e = curl_easy_init();
    json_object *j = NULL;

    while (n > 0 && in->url[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s/admin/config", (int)n, in->url);
    if (!e) {
        snprintf(in->error, sizeof(in->error), "out of memory");
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK) {
        snprintf(in->error, sizeof(in->error), "unreachable: %s",
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto out;
    }
    if (status == 401) {
        snprintf(in->error, sizeof(in->error),
                 "/admin/config answered 401: its admin port is locked; %s",
                 hdrs ? "the token of --token-file is not its token"
                      : "give its token with --token-file");
        goto out;
    }
    if (status != 200) {
        snprintf(in->error, sizeof(in->error), "/admin/config answered %ld", status);
        goto out;
    }
    j = json_tokener_parse(b.p ? b.p : "");
    const char  *sha = j ? jstr(j, "sha256") : NULL;
    const char  *path = j ? jstr(j, "path") : NULL;
    json_object *at = NULL;
    if (!sha || strlen(sha) != 64 || !json_object_object_get_ex(j, "loaded_at", &at)) {
        snprintf(in->error, sizeof(in->error), "/admin/config: not a Portico answer");
        goto out;
    }
    snprintf(in->sha256, sizeof(in->sha256), "%s", sha);
    snprintf(in->path, sizeof(in->path), "%s", path ? path : "");
    in->loaded_at = (long long)json_object_get_int64(at);
    in->ok = 1;
out:
    json_object_put(j);
    free(b.p);
}

/* "Authorization: Bearer <the token of @path>" (malloc'd), or NULL after
 * saying why on stderr. One trailing newline is trimmed; the token must be
 * 1..MAX_TOKEN bytes of visible ASCII. */
static char *token_header(const char *path)
{
    static const char pre[] = "Authorization: Bearer ";
    char              tok[MAX_TOKEN + 3], *h;
    FILE             *f = fopen(path, "rb");
    size_t            n;

    if (!f) {
        fprintf(stderr, "bff-fleet: --token-file %s: %m\n", path);
        return NULL;
    }
    n = fread(tok, 1, sizeof(tok), f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "bff-fleet: --token-file %s: cannot read it\n", path);
        return NULL;
    }
    if (n && tok[n - 1] == '\n')
        n--;
    if (n && tok[n - 1] == '\r')
        n--;
    if (n == 0 || n > MAX_TOKEN) {
        fprintf(stderr, "bff-fleet: --token-file %s: %s\n", path,
                n ? "the token is longer than 4096 bytes" : "the file is empty");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) {
            fprintf(stderr,
                    "bff-fleet: --token-file %s: the token holds whitespace, a control "
                    "or a non-ASCII character (byte %zu)\n",
                    path, i + 1);
            return NULL;
        }
    h = malloc(sizeof(pre) + n);
    if (h) {
        memcpy(h, pre, sizeof(pre) - 1);
        memcpy(h + sizeof(pre) - 1, tok, n);
        h[sizeof(pre) - 1 + n] = '\0';
    }
    memset(tok, 0, sizeof(tok));
    return h;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: bff-fleet [--timeout MS] [--expect SHA256] [--token-file FILE]\n"
        "                 ADMIN_URL...\n"
        "\n"
        "Asks each instance's /admin/config (e.g. http://127.0.0.1:9081) and prints\n"
        "one line per instance: url, sha256, loaded_at, path, and whether it agrees\n"
        "with the majority's sha256 (or with --expect, e.g. the sha256 that\n"
        "`bff-mobile --check-config` prints for the file you meant to deploy).\n"
        "\n"
        "  --timeout MS     per instance: to connect, and for the whole answer\n"
        "                   (default 3000)\n"
        "  --expect SHA256  the sha256 every instance must run (64 hex digits);\n"
        "                   default: the majority's\n"
        "  --token-file FILE  send \"Authorization: Bearer\" and the token in FILE\n"
        "                   (one trailing newline trimmed) to every instance: the\n"
        "                   instances' admin_token_file, for a locked admin port\n"
        "  --help           print this help and exit\n"
        "\n"
        "Exit: 0 all agree, 1 some disagree (named), 2 an instance is unreachable,\n"
        "64 bad usage.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                         {"expect", required_argument, NULL, 'e'},
                                         {"token-file", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long                       timeout_ms = 3000;
    const char                *expect = NULL, *token_file = NULL;
    int                        opt;

    while ((opt = getopt_long(argc, argv, "t:e:k:h", opts, NULL)) != -1) {
        switch (opt) {
        case 't':
            timeout_ms = strtol(optarg, NULL, 10);
            break;
        case 'e':
            expect = optarg;
            break;
        case 'k':
            token_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    if (optind >= argc || timeout_ms <= 0 || (expect && strlen(expect) != 64)) {
        usage(stderr);
        return 64;
    }
    char              *auth = NULL;
    struct curl_slist *hdrs = NULL;
    if (token_file && !(auth = token_header(token_file)))
        return 64;
    size_t           n = (size_t)(argc - optind);
    struct instance *in = calloc(n, sizeof(*in));
    if (!in || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        (auth && !(hdrs = curl_slist_append(NULL, auth)))) {
        fprintf(stderr, "bff-fleet: out of memory\n");
        free(in);
        free(auth);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        in[i].url = argv[optind + (int)i];
        ask(&in[i], timeout_ms, hdrs);
    }
    curl_slist_free_all(hdrs);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }

    /* the reference: --expect, else the most common sha256; a tie for the
     * most common leaves no majority */
    const char *ref = expect;
    size_t      reached = 0;
    for (size_t i = 0; i < n; i++)
        reached += in[i].ok;
    if (!ref) {
        size_t best = 0;
        int    tie = 0;
        for (size_t i = 0; i < n; i++) {
            if (!in[i].ok)
                continue;
            size_t c = 0;
            for (size_t k = 0; k < n; k++)
                c += in[k].ok && strcmp(in[k].sha256, in[i].sha256) == 0;
            if (c > best) {
                best = c;
                ref = in[i].sha256;
                tie = 0;
            } else if (c == best && strcmp(ref, in[i].sha256) != 0) {
                tie = 1;
            }
        }
        if (tie)
            ref = NULL;
    }

    size_t differ = 0, down = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].ok) {
            down++;
            printf("%s  %s\n", in[i].url, in[i].error);
            continue;
        }
        char      when[32] = "?";
        time_t    t = (time_t)in[i].loaded_at;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        int agrees = ref && strcmp(ref, in[i].sha256) == 0;
        differ += !agrees;
        printf("%s  sha256=%s  loaded_at=%s  path=%s  %s\n", in[i].url, in[i].sha256,
               when, in[i].path,
               agrees   ? "ok"
               : expect ? "DIFFERS from --expect"
               : ref    ? "DIFFERS from the majority"
                        : "DIFFERS (no majority)");
    }
    if (down)
        printf("unreachable: %zu of %zu\n", down, n);
    if (differ) {
        printf("disagree: %zu of %zu (", differ, reached);
        const char *sep = "";
        for (size_t i = 0; i < n; i++)
            if (in[i].ok && !(ref && strcmp(ref, in[i].sha256) == 0)) {
                printf("%s%s", sep, in[i].url);
                sep = " ";
            }
        printf(")%s%.12s\n", ref ? "; reference sha256 " : "", ref ? ref : "");
    } else if (!down) {
        printf("all %zu agree on sha256 %s\n", n, ref ? ref : "?");
    }
    curl_global_cleanup();
    free(in);
    return down ? 2 : differ ? 1 : 0;
}
