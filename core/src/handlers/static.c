/* core/src/static.c — static routes: files under a folder
 *
 * Files are read whole (at most 8 MiB) on the worker thread: this is for a
 * small dashboard page served from the page cache, not for large downloads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bff/err.h"
#include "bff/util.h"
#include "handlers/encode.h"
#include "handlers/handlers.h"
#include "request/request.h"
#include "types/snapshot-t.h"

#define STATIC_MAX (8u << 20)

static const char *mime(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},  {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".json", "application/json"},
        {".svg", "image/svg+xml"},              {".png", "image/png"},
        {".ico", "image/x-icon"},               {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},           {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

void static_serve(struct bff_request *r)
{
    const char *dir = r->route->static_dir;
    const char *rest = r->path + r->prefix_len;
    char        root[PATH_MAX], real[PATH_MAX];
    char       *file, *body = NULL;
    size_t      len = 0;

    if (r->prefix_len == 1)
        rest = r->path; /* route "/" */
    if (!realpath(dir, root)) {
        req_problem(r, 404, "no such file", NULL, 0);
        return;
    }
    /* the path is normalized: no "." or ".." segments, no raw NUL; an encoded
     * byte (%XX) other than unreserved never names a file here */
    if (strchr(rest, '%')) {
        req_problem(r, 404, "no such file", NULL, 0);
        return;
    }
    file = bff_arena_printf(&r->arena, "%s%s%s", root, rest[0] == '/' ? "" : "/", rest);
    if (!file)
        goto oom;
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (file[strlen(file) - 1] != '/')
            file = bff_arena_printf(&r->arena, "%s/index.html", file);
        else
            file = bff_arena_printf(&r->arena, "%sindex.html", file);
        if (!file)
            goto oom;
    }
    size_t rl = strlen(root);
    if (!realpath(file, real) || strncmp(real, root, rl) != 0 ||
        (real[rl] != '/' && real[rl] != '\0')) {
        req_problem(r, 404, "no such file", NULL, 0);
        return;
    }
    int rc = bff_read_file(real, STATIC_MAX, &body, &len);
    if (rc != 0) {
        req_problem(r, rc == BFF_ERANGE ? 500 : 404,
                    rc == BFF_ERANGE ? "file too large" : "no such file", NULL, 0);
        return;
    }
    const char          *type = mime(real);
    struct stat          rst;
    struct bff_hdr       h = {"X-Content-Type-Options", "nosniff"};
    struct encode_answer ans = {
        .status = 200, .type = type, .body = body, .len = len, .body_malloced = 1,
        /* always an ETag (a content hash, the same on every instance) and
         * Last-Modified; br or gzip when the BFF asks for them */
        .flags = BFF_ENCODE_ETAG |
                 (encode_flags(r) & (BFF_ENCODE_GZIP | BFF_ENCODE_BR)),
        .compressible = strncmp(type, "text/", 5) == 0 ||
                        strncmp(type, "application/json", 16) == 0 ||
                        strncmp(type, "image/svg", 9) == 0,
        .last_modified = stat(real, &rst) == 0 ? (int64_t)rst.st_mtime : 0,
        .cache_control = strncmp(type, "text/html", 9) == 0 ? "no-cache"
                                                             : "public, max-age=300",
        .hdrs = &h, .nhdrs = 1};
    encode_respond(r, &ans);
    return;
oom:
    req_problem(r, 500, "out of memory", NULL, 0);
}
