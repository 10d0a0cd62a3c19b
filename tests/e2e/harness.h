/* tests/e2e/harness.h — start real binaries on loopback ports they pick
 * themselves (port 0, read back from their logs), talk HTTP */
#ifndef BFF_E2E_HARNESS_H
#define BFF_E2E_HARNESS_H

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

struct h_proc {
    pid_t pid;
    char  name[64];
    char  log[512];
    long  log_from; /* the log's size before this start: its lines come after */
};

struct h_resp {
    long   status;
    char  *body;
    size_t len;
    char  *headers; /* raw header block of the last response */
};

/* A port on 127.0.0.1 held by this process: a socket bound with
 * SO_REUSEADDR that never listens. A connection to it is refused, bind(0)
 * elsewhere never hands it out, and a server that sets SO_REUSEADDR (redis,
 * haproxy, python's http.server) can still bind it; so the port can be
 * written into a config before its server starts, or kept across a restart.
 * Only for servers that cannot take port 0 and report the port they got. */
struct h_port {
    int port;
    int fd;
};
int  h_port_hold(struct h_port *hp);
void h_port_release(struct h_port *hp); /* fine on a released one */
/* A fresh temporary folder (removed by h_cleanup_dir). */
const char *h_tmpdir(void);
void h_cleanup_dir(const char *dir);
/* Writes @content to @dir/@name; returns the path (static buffer per call: copy it). */
char *h_write(const char *dir, const char *name, const char *content);
/* Path of a built binary ("bff-mobile/bff-mobile") under $BFF_BUILD_ROOT. */
const char *h_bin(const char *rel);

/* Starts @argv with stdout+stderr to @p->log. Returns 0 or -1. */
int h_spawn(struct h_proc *p, const char *name, char *const argv[], const char *logdir);
/* SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status (or -1,
 * or 128+signal). */
int h_stop(struct h_proc *p);
/* Waits, at most @timeout_ms, for a line of @p's log (written since its
 * start) that contains @needle, and copies it into @line. Returns 0, or -1
 * at the timeout or when the process exits first (it is reaped then). */
int h_wait_log(struct h_proc *p, const char *needle, char *line, size_t cap,
               int timeout_ms);
/* 1 when process @pid has a TCP socket listening on port @port. */
int h_listens(pid_t pid, int port);
/* How many TCP sockets process @pid listens on at port @port (IPv4 and
 * IPv6; /proc/net/tcp* against /proc/@pid/fd). */
int h_listen_sockets(pid_t pid, int port);
/* Starts @argv and waits (20 s at most) until it listens on @port. Returns
 * 0, 1 when it exited first (say, the port was taken), -1 otherwise (it is
 * stopped then). */
int h_spawn_listening(struct h_proc *p, const char *name, char *const argv[],
                      const char *logdir, int port);
/* Starts a server that cannot take port 0 and report its port: @argv_for
 * gives its argv for a port (held with h_port_hold while it starts); it
 * has started when @p listens there. When it exits first (the port was
 * taken after all), another port is tried, 5 at most. Returns the port, or
 * -1. With @hold the port stays held for a restart on it (release it after
 * the last stop); without, it is released once the server listens. */
int h_spawn_on_port(struct h_proc *p, const char *name, const char *logdir,
                    char *const *(*argv_for)(int port, void *ud), void *ud,
                    struct h_port *hold);
/* Polls GET @url until it answers @want, at most @timeout_ms. Returns 0 or -1. */
int h_wait_status(const char *url, long want, int timeout_ms);

/* One HTTP request; @headers is a NULL-terminated list of "Name: value". */
int h_http(const char *method, const char *url, const char *const *headers,
           const char *body, struct h_resp *out);
/* The value of response header @name (case-insensitive), in a static buffer. */
const char *h_header(const struct h_resp *r, const char *name);
void h_resp_free(struct h_resp *r);
/* Runs a shell command and returns its stdout (malloc'd, trailing newline cut). */
char *h_run(const char *cmd);

/* The demo shop, its four ports chosen by the kernel (--*-port 0) and read
 * from its "shop-services: ready" line. */
struct h_shop {
    struct h_proc proc;
    int           users, orders, inventory, control;
};
/* Starts shop-services with @extra flags (NULL-terminated, may be NULL) as
 * @name and waits for its ready line. Returns 0 or -1. */
int h_shop_spawn(struct h_shop *s, const char *dir, const char *name,
                 char *const extra[]);
/* h_shop_spawn, then every /healthz answers 200. */
int h_shop_start(struct h_shop *s, const char *dir, const char *signing_key_file);
/* POST /fault/@service?@query on the control port ("" clears it). */
int h_fault(struct h_shop *s, const char *service, const char *query);
/* GET /stats/@service: the "requests" count, or -1. */
long h_shop_requests(struct h_shop *s, const char *service);

/* A BFF with config @yaml (written into @dir). The yaml is a printf
 * template taking, in order: listen port, admin port, users port, orders
 * port, inventory port (as %1$d … %5$d); "@DIR@" becomes @dir. The listen
 * and admin ports given are 0: the kernel picks them, and @b->port and
 * @b->admin are read from the process's "listening" line; then /readyz on
 * the admin port must answer 200. Returns 0 or -1. */
struct h_bff {
    struct h_proc proc;
    int           port, admin;
    char          config[512];
};
int h_bff_start(struct h_bff *b, const char *bin, const char *dir, const char *yaml,
                const struct h_shop *shop);
/* "http://127.0.0.1:<port><path>" of @b's listener, in one of 16 buffers
 * used in turn (valid until 16 more calls). */
char *h_bff_url(const struct h_bff *b, const char *path);
/* "Authorization: Bearer <tok>", in one of 4 buffers used in turn. */
const char *h_bearer(const char *tok);
/* Waits for @p's "listening" line (a BFF) and reads its ports (@admin 0
 * without admin_listen). Returns 0 or -1. */
int h_bff_ports(struct h_proc *p, int *port, int *admin, int timeout_ms);

/* A key pair, JWKS and token minting through bff-token (and openssl). */
struct h_keys {
    char key[512];  /* private key PEM */
    char jwks[512]; /* JWKS file */
};
int h_keys_make(struct h_keys *k, const char *dir);
/* A token for @sub with @roles (comma list) and extra bff-token flags. */
char *h_token(const struct h_keys *k, const char *sub, const char *roles,
              const char *extra);

/* Sends raw bytes to 127.0.0.1:@port and reads until the peer closes (5 s
 * at most) into @out; with @close_early, closes right after sending.
 * Returns the bytes read, or -1 when it cannot connect. */
int h_raw(int port, const char *req, size_t len, char *out, size_t cap, int close_early);

/* Validates @json against shared-schemas/@schema with python3-jsonschema.
 * Returns 0 when valid (errors go to stderr). */
int h_schema_valid(const char *schema, const char *json);

/* Sleeps @ms milliseconds (pacing a load loop, never as synchronization). */
void sleep_ms(long ms);

/* Closed-loop GET traffic on one URL from a thread: start any number of
 * threads on h_traffic_main with the same struct; set stop and join them.
 * ok counts 200s; failed counts the rest, the first one described. */
struct h_traffic {
    const char     *url;
    _Atomic int     stop;
    _Atomic long    ok, failed;
    char            first_failure[256];
    pthread_mutex_t lock;
};
void *h_traffic_main(void *arg);

/* Runs @s with Check (CK_NORMAL output) and returns the exit status for
 * main(): 0 when every test passed. */
struct Suite;
int h_run_suite(struct Suite *s);

#endif
