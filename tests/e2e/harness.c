/* tests/e2e/harness.c — start real binaries on loopback ports they pick
 * themselves (port 0, read back from their logs), talk HTTP */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <curl/curl.h>

#include "harness.h"

int h_port_hold(struct h_port *hp)
{
    struct sockaddr_in a = {0};
    socklen_t          len = sizeof(a);
    int                one = 1;

    hp->port = -1;
    hp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (hp->fd < 0 ||
        setsockopt(hp->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(hp->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(hp->fd, (struct sockaddr *)&a, &len) != 0) {
        h_port_release(hp);
        return -1;
    }
    hp->port = ntohs(a.sin_port);
    return 0;
}

void h_port_release(struct h_port *hp)
{
    if (hp->fd >= 0)
        close(hp->fd);
    hp->fd = -1;
}

const char *h_tmpdir(void)
{
    static char buf[8][128];
    static int  i;
    char       *d = buf[i++ % 8];
    snprintf(d, sizeof(buf[0]), "/tmp/portico-e2e-XXXXXX");
    return mkdtemp(d);
}

void h_cleanup_dir(const char *dir)
{
    char cmd[300];
    if (!dir || strncmp(dir, "/tmp/portico-e2e-", 17) != 0)
        return;
    if (getenv("KEEP_TMP"))
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    int rc = system(cmd);
    (void)rc;
}

char *h_write(const char *dir, const char *name, const char *content)
{
    static char path[8][512];
    static int  i;
    char       *p = path[i++ % 8];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return NULL;
    fputs(content, f);
    fclose(f);
    return p;
}

const char *h_bin(const char *rel)
{
    static char path[8][512];
    static int  i;
    char       *p = path[i++ % 8];
    const char *root = getenv("BFF_BUILD_ROOT");
    snprintf(p, sizeof(path[0]), "%s/%s", root ? root : "build", rel);
    return p;
}

int h_spawn(struct h_proc *p, const char *name, char *const argv[], const char *logdir)
{
    struct stat st;
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%s/%s.log", logdir, name);
    p->log_from = stat(p->log, &st) == 0 ? (long)st.st_size : 0;
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return 0;
}

int h_stop(struct h_proc *p)
{
    int status = 0;
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    return -1;
}

struct buf {
    char  *p;
    size_t n;
};

static size_t collect(char *d, size_t s, size_t n, void *ud)
{
    struct buf *b = ud;
    char       *np = realloc(b->p, b->n + s * n + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, d, s * n);
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

static size_t collect_hdr(char *d, size_t s, size_t n, void *ud)
{
    struct buf *b = ud;
    if (s * n >= 5 && memcmp(d, "HTTP/", 5) == 0) {
        free(b->p);
        b->p = NULL;
        b->n = 0;
    }
    return collect(d, s, n, ud);
}

int h_http(const char *method, const char *url, const char *const *headers,
           const char *body, struct h_resp *out)
{
    CURL              *e = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct buf         b = {0}, h = {0};
    CURLcode           rc;

    memset(out, 0, sizeof(*out));
    if (!e)
        return -1;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect_hdr);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(e);
    out->body = b.p ? b.p : strdup("");
    out->len = b.n;
    out->headers = h.p ? h.p : strdup("");
    return rc == CURLE_OK ? 0 : -1;
}

const char *h_header(const struct h_resp *r, const char *name)
{
    static char val[4096];
    size_t      nl = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t      len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + len - v);
            if (vl >= sizeof(val))
                vl = sizeof(val) - 1;
            memcpy(val, v, vl);
            val[vl] = '\0';
            return val;
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

void h_resp_free(struct h_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

/* Reaps @p when it has exited. Returns 1 then, else 0. */
static int exited(struct h_proc *p)
{
    int status;
    if (p->pid <= 0)
        return 1;
    if (waitpid(p->pid, &status, WNOHANG) != p->pid)
        return 0;
    p->pid = 0;
    return 1;
}

/* Copies the first complete line of @p's log since its start that holds
 * @needle into @line. Returns 1 when found. */
static int find_line(const struct h_proc *p, const char *needle, char *line, size_t cap)
{
    FILE *f = fopen(p->log, "r");
    char  buf[8192];
    int   found = 0;
    if (!f)
        return 0;
    if (fseek(f, p->log_from, SEEK_SET) == 0)
        while (!found && fgets(buf, sizeof(buf), f)) {
            size_t n = strlen(buf);
            if (n == 0 || buf[n - 1] != '\n')
                break; /* still being written (or longer than ours) */
            if (strstr(buf, needle)) {
                buf[n - 1] = '\0';
                snprintf(line, cap, "%s", buf);
                found = 1;
            }
        }
    fclose(f);
    return found;
}

int h_wait_log(struct h_proc *p, const char *needle, char *line, size_t cap,
               int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (find_line(p, needle, line, cap))
            return 0;
        if (exited(p)) /* it may have written the line and gone since */
            return find_line(p, needle, line, cap) ? 0 : -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "harness: no line with '%s' from %s in %d ms (%s)\n", needle,
            p->name, timeout_ms, p->log);
    return -1;
}

/* The inodes of TCP sockets listening on @port (IPv4 and IPv6), up to
 * @cap of them. Returns how many. */
static int listening_inodes(int port, unsigned long *ino, int cap)
{
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    int                      n = 0;
    for (int t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        char  row[512];
        if (!f)
            continue;
        while (n < cap && fgets(row, sizeof(row), f)) {
            char          local[64];
            unsigned      state;
            unsigned long inode;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(row, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &state,
                       &inode) != 3 ||
                state != 0x0A) /* TCP_LISTEN */
                continue;
            const char *c = strrchr(local, ':');
            if (c && strtol(c + 1, NULL, 16) == port)
                ino[n++] = inode;
        }
        fclose(f);
    }
    return n;
}

int h_listen_sockets(pid_t pid, int port)
{
    unsigned long  ino[64];
    int            n = listening_inodes(port, ino, 64);
    char           path[64];
    DIR           *d;
    struct dirent *e;
    int            found = 0;
    if (n == 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if (!(d = opendir(path)))
        return 0;
    while ((e = readdir(d))) {
        char link[128], fd[320];
        snprintf(fd, sizeof(fd), "%s/%s", path, e->d_name);
        ssize_t l = readlink(fd, link, sizeof(link) - 1);
        if (l <= 0)
            continue;
        link[l] = '\0';
        unsigned long inode;
        if (sscanf(link, "socket:[%lu]", &inode) != 1)
            continue;
        for (int i = 0; i < n; i++)
            if (ino[i] == inode) {
                found++;
                break;
            }
    }
    closedir(d);
    return found;
}

int h_listens(pid_t pid, int port)
{
    return h_listen_sockets(pid, port) > 0;
}

int h_spawn_listening(struct h_proc *p, const char *name, char *const argv[],
                      const char *logdir, int port)
{
    if (h_spawn(p, name, argv, logdir) != 0)
        return -1;
    for (int waited = 0; waited <= 20000; waited += 10) {
        if (h_listens(p->pid, port))
            return 0;
        if (exited(p))
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "harness: %s does not listen on %d (%s)\n", name, port, p->log);
    h_stop(p);
    return -1;
}

int h_spawn_on_port(struct h_proc *p, const char *name, const char *logdir,
                    char *const *(*argv_for)(int port, void *ud), void *ud,
                    struct h_port *hold)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct h_port hp;
        if (h_port_hold(&hp) != 0)
            return -1;
        int rc = h_spawn_listening(p, name, argv_for(hp.port, ud), logdir, hp.port);
        if (rc == 0) {
            if (hold)
                *hold = hp;
            else
                h_port_release(&hp);
            return hp.port;
        }
        h_port_release(&hp);
        if (rc < 0)
            return -1;
        fprintf(stderr, "harness: %s exited before listening on %d; another port\n",
                name, hp.port);
    }
    return -1;
}

int h_wait_status(const char *url, long want, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        struct h_resp r;
        int           rc = h_http("GET", url, NULL, NULL, &r);
        long          st = r.status;
        h_resp_free(&r);
        if (rc == 0 && st == want)
            return 0;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

char *h_run(const char *cmd)
{
    FILE      *f = popen(cmd, "r");
    struct buf b = {0};
    char       chunk[4096];
    size_t     n;
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        collect(chunk, 1, n, &b);
    int st = pclose(f);
    if (st != 0) {
        free(b.p);
        return NULL;
    }
    while (b.p && b.n > 0 && (b.p[b.n - 1] == '\n' || b.p[b.n - 1] == '\r'))
        b.p[--b.n] = '\0';
    return b.p ? b.p : strdup("");
}

/* The port of "KEY=HOST:PORT" in @line, or -1. */
static int port_of(const char *line, const char *key)
{
    const char *v = strstr(line, key);
    if (!v)
        return -1;
    v += strlen(key);
    size_t      n = strcspn(v, " \"");
    const char *c = NULL;
    for (const char *q = v; q < v + n; q++)
        if (*q == ':')
            c = q;
    long port = c ? strtol(c + 1, NULL, 10) : -1;
    return port > 0 && port < 65536 ? (int)port : -1;
}

int h_shop_spawn(struct h_shop *s, const char *dir, const char *name,
                 char *const extra[])
{
    char   line[1024];
    char  *argv[32] = {(char *)h_bin("demo/shop-services"),
                       "--users-port",
                       "0",
                       "--orders-port",
                       "0",
                       "--inventory-port",
                       "0",
                       "--control-port",
                       "0"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (h_spawn(&s->proc, name, argv, dir) != 0)
        return -1;
    if (h_wait_log(&s->proc, "shop-services: ready ", line, sizeof(line), 20000) != 0)
        return -1;
    s->users = port_of(line, " users=");
    s->orders = port_of(line, " orders=");
    s->inventory = port_of(line, " inventory=");
    s->control = port_of(line, " control=");
    if (s->users < 0 || s->orders < 0 || s->inventory < 0 || s->control < 0) {
        fprintf(stderr, "harness: cannot read the ports of '%s'\n", line);
        return -1;
    }
    return 0;
}

int h_shop_start(struct h_shop *s, const char *dir, const char *signing_key_file)
{
    char  url[128];
    char *extra[] = {"--signing-key", (char *)signing_key_file, NULL};
    if (h_shop_spawn(s, dir, "shop-services", signing_key_file ? extra : NULL) != 0)
        return -1;
    /* listening since the ready line: these answer at once */
    const int ports[4] = {s->control, s->users, s->orders, s->inventory};
    for (int k = 0; k < 4; k++) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", ports[k]);
        if (h_wait_status(url, 200, 10000) != 0)
            return -1;
    }
    return 0;
}

int h_fault(struct h_shop *s, const char *service, const char *query)
{
    char          url[512];
    struct h_resp r;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/fault/%s%s%s", s->control, service,
             query && *query ? "?" : "", query ? query : "");
    int  rc = h_http("POST", url, NULL, "", &r);
    long st = r.status;
    h_resp_free(&r);
    return rc == 0 && st == 200 ? 0 : -1;
}

long h_shop_requests(struct h_shop *s, const char *service)
{
    char          url[256];
    struct h_resp r;
    long          n = -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/stats/%s", s->control, service);
    if (h_http("GET", url, NULL, NULL, &r) == 0 && r.status == 200) {
        const char *p = strstr(r.body, "\"requests\"");
        if (p && (p = strchr(p, ':')))
            n = strtol(p + 1, NULL, 10);
    }
    h_resp_free(&r);
    return n;
}

int h_bff_ports(struct h_proc *p, int *port, int *admin, int timeout_ms)
{
    char line[1024];
    if (h_wait_log(p, "\"msg\":\"listening\"", line, sizeof(line), timeout_ms) != 0)
        return -1;
    *port = port_of(line, "\"listen\":\"");
    *admin = strstr(line, "\"admin\":null") ? 0 : port_of(line, "\"admin\":\"");
    if (*port < 0 || *admin < 0) {
        fprintf(stderr, "harness: cannot read the ports of '%s'\n", line);
        return -1;
    }
    return 0;
}

int h_bff_start(struct h_bff *b, const char *bin, const char *dir, const char *yaml,
                const struct h_shop *shop)
{
    static unsigned seq;
    char            text[16384], url[128], name[96];
    const char     *base = strrchr(bin, '/') ? strrchr(bin, '/') + 1 : bin;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    /* the config template is the test's own string, with %1$d … %5$d;
     * listen and admin_listen on port 0 */
    snprintf(text, sizeof(text), yaml, 0, 0, shop ? shop->users : 1,
             shop ? shop->orders : 1, shop ? shop->inventory : 1);
#pragma GCC diagnostic pop
    /* unique in the folder, also across Check's forked tests */
    snprintf(name, sizeof(name), "%s-%d-%u", base, (int)getpid(), ++seq);
    /* "@DIR@" in the template stands for the test's folder */
    char   final[20000];
    size_t o = 0;
    for (const char *q = text; *q && o + 300 < sizeof(final);) {
        if (strncmp(q, "@DIR@", 5) == 0) {
            o += (size_t)snprintf(final + o, sizeof(final) - o, "%s", dir);
            q += 5;
        } else {
            final[o++] = *q++;
        }
    }
    final[o] = '\0';
    char yname[128];
    snprintf(yname, sizeof(yname), "%s.yaml", name);
    char *p = h_write(dir, yname, final);
    if (!p)
        return -1;
    snprintf(b->config, sizeof(b->config), "%s", p);
    char *argv[] = {(char *)h_bin(bin), "--config", b->config, NULL};
    b->port = b->admin = 0;
    if (h_spawn(&b->proc, name, argv, dir) != 0)
        return -1;
    if (h_bff_ports(&b->proc, &b->port, &b->admin, 20000) != 0)
        return -1;
    if (!b->admin)
        return 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", b->admin);
    return h_wait_status(url, 200, 10000);
}

int h_keys_make(struct h_keys *k, const char *dir)
{
    char cmd[2048];
    snprintf(k->key, sizeof(k->key), "%s/jwt-key.pem", dir);
    snprintf(k->jwks, sizeof(k->jwks), "%s/jwks.json", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s' "
             "2>/dev/null && '%s' --jwks --key '%s' --kid e2e > '%s'",
             k->key, h_bin("demo/bff-token"), k->key, k->jwks);
    return system(cmd) == 0 ? 0 : -1;
}

char *h_token(const struct h_keys *k, const char *sub, const char *roles,
              const char *extra)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' --key '%s' --kid e2e --sub '%s' --roles '%s' %s",
             h_bin("demo/bff-token"), k->key, sub, roles, extra ? extra : "");
    return h_run(cmd);
}

int h_schema_valid(const char *schema, const char *json)
{
    char        path[] = "/tmp/portico-json-XXXXXX";
    char        cmd[1024];
    const char *src = getenv("BFF_SRC_ROOT");
    int         fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t len = strlen(json);
    if (write(fd, json, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    snprintf(
        cmd, sizeof(cmd),
        "/usr/bin/python3 '%s/tests/schema/validate.py' '%s/shared-schemas/%s' '%s'",
        src ? src : ".", src ? src : ".", schema, path);
    int rc = system(cmd);
    unlink(path);
    return rc == 0 ? 0 : -1;
}

int h_raw(int port, const char *req, size_t len, char *out, size_t cap, int close_early)
{
    struct sockaddr_in a = {0};
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t             got = 0;
    struct timeval     tv = {5, 0};

    out[0] = '\0';
    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (close_early) {
        close(fd);
        return 0;
    }
    while (got + 1 < cap) {
        ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = '\0';
        /* one complete answer is enough: the head and Content-Length bytes */
        const char *end = strstr(out, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(out, "\r\nContent-Length:");
            size_t      want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (got >= (size_t)(end + 4 - out) + want)
                break;
        }
    }
    close(fd);
    return (int)got;
}

int h_run_suite(Suite *s)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t sink(char *d, size_t s, size_t n, void *u)
{
    (void)d, (void)u;
    return s * n;
}

void *h_traffic_main(void *arg)
{
    struct h_traffic *t = arg;
    CURL             *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    while (!atomic_load(&t->stop)) {
        long     st = 0;
        CURLcode rc = curl_easy_perform(e);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
        if (rc == CURLE_OK && st == 200) {
            atomic_fetch_add(&t->ok, 1);
        } else if (atomic_fetch_add(&t->failed, 1) == 0) {
            pthread_mutex_lock(&t->lock);
            snprintf(t->first_failure, sizeof(t->first_failure),
                     "curl %d (%s), status %ld", rc, curl_easy_strerror(rc), st);
            pthread_mutex_unlock(&t->lock);
        }
    }
    curl_easy_cleanup(e);
    return NULL;
}

char *h_bff_url(const struct h_bff *b, const char *path)
{
    static char u[16][256];
    static int  i;
    char       *p = u[i++ % 16];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", b->port, path);
    return p;
}

const char *h_bearer(const char *tok)
{
    static char h[4][4096];
    static int  i;
    char       *p = h[i++ % 4];
    snprintf(p, sizeof(h[0]), "Authorization: Bearer %s", tok);
    return p;
}
