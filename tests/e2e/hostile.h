/* tests/e2e/hostile.h — the hostile-HTTP case table, a logging upstream that
 * records the raw bytes it receives and parses them strictly, and a raw-socket
 * client that runs one case against a front end (Portico, nginx, haproxy) and
 * judges what the client got and what the upstream saw.
 *
 * Shared by tests/e2e/test_hostile.c (the Check suite against bff-mobile) and
 * tests/hostile-probe.c (the same table against any front end, for
 * tests/hostile-peers.sh). The table's format is described at the top of
 * tests/e2e/hostile-cases.txt. */
#ifndef BFF_E2E_HOSTILE_H
#define BFF_E2E_HOSTILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* ---- the case table ----------------------------------------------------- */

enum hk_step_kind { HK_SEND, HK_WAIT100, HK_PAUSE };

struct hk_step {
    int    kind;
    char  *data; /* HK_SEND: the bytes (escapes resolved) */
    size_t len;
    int    ms;   /* HK_PAUSE */
};

/* What the logging upstream does with the case's (first) request. */
enum hk_mode {
    HK_MODE_OK = 0,     /* canned 200 with Content-Length: "upstream-ok <target>" */
    HK_MODE_GARBAGE,    /* bytes that are not a status line, then close */
    HK_MODE_BIGHEAD,    /* a 64 KiB header line in the answer's head */
    HK_MODE_TWOCL,      /* two different Content-Lengths */
    HK_MODE_BADCHUNK,   /* a chunked answer whose second chunk size is not hex */
    HK_MODE_RESET,      /* reads the request, then close with SO_LINGER 0 (RST) */
    HK_MODE_EARLYCLOSE, /* Content-Length: 100, 7 bytes of body, close */
    HK_MODE_SILENT,     /* reads the request, closes without a byte */
    HK_NMODES
};

#define HK_MAX_STEPS  12
#define HK_MAX_FORBID 4

struct hk_case {
    char           name[64];
    char           klass[32];
    char           expect[64]; /* per answer, ',' between answers, '|' between choices */
    char           up[16];     /* none | nocomplete | one | two | three | any */
    char           target[256];
    char           why[160];
    struct hk_step steps[HK_MAX_STEPS];
    int            nsteps;
    char          *body; /* expected body of the first forwarded request, or NULL */
    size_t         body_len;
    char          *forbid[HK_MAX_FORBID];
    int            nforbid;
    int            slow_ms;
    int            stall;
    int            open; /* a refusal of a well-framed request: may keep the connection */
    int            mode;
    int            line;
};

struct hk_table {
    struct hk_case *cases;
    size_t          n;
};

/* Reads the table at @path; "@TOKEN@" in send lines becomes @token (may be
 * NULL: then it stays). Returns 0, or -1 with a FILE:LINE: message in @err. */
int hk_table_load(struct hk_table *t, const char *path, const char *token, char *err,
                  size_t errlen);
void hk_table_free(struct hk_table *t);

/* ---- the logging upstream ----------------------------------------------- */

enum hk_ev_kind { HK_EV_REQ, HK_EV_MALFORMED, HK_EV_PARTIAL };

/* One thing the upstream saw: a complete request, a malformed one (the
 * connection is then answered 400 and closed), or bytes left unparsed when
 * the front end closed. */
struct hk_event {
    unsigned long seq;
    int           conn;
    int           kind;
    int           barrier; /* a request for /echo/__barrier__ (the runner's own) */
    char          method[16];
    char          target[256];
    char          why[160];  /* MALFORMED: what was wrong */
    char          hop[64];   /* REQ: a hop-by-hop field that arrived (TE, Expect, ...) */
    int           forged;    /* REQ: a field line holding "forged" */
    char         *head;      /* the request line and header section as received */
    size_t        head_len;
    char         *body;      /* the decoded body */
    size_t        body_len;
    size_t        bytes;     /* raw bytes the event covers */
};

struct hk_conn;

struct hk_upstream {
    int              lfd;
    int              port;
    pthread_t        acceptor;
    pthread_mutex_t  mu;
    struct hk_conn  *conns;
    struct hk_event *ev;
    size_t           nev, cap;
    unsigned long    seq;
    int              nconn;
    _Atomic int      mode;
    _Atomic int      stop;
};

/* Listens on 127.0.0.1 port 0 (the port is in @u->port afterwards) and serves
 * from threads of this process. Returns 0 or -1. */
int hk_upstream_start(struct hk_upstream *u);
void hk_upstream_stop(struct hk_upstream *u);

/* ---- running a case ----------------------------------------------------- */

#define HK_MAX_RESP 8

struct hk_resp {
    int    status;
    int    complete;   /* head and body as framed arrived */
    int    conn_close; /* Connection: close */
    int    problem;    /* Content-Type application/problem+json and a JSON body whose
                          "status" is the status */
    char   ctype[64];
    char   body[512];  /* the first bytes of the body */
    size_t body_len;
};

struct hk_result {
    int            connect_failed;
    struct hk_resp resp[HK_MAX_RESP]; /* final answers, in order */
    int            nresp;
    int            interim;  /* 1xx answers seen */
    int            truncated; /* the last answer broke off at EOF */
    int            eof;      /* the front end closed (FIN or RST) */
    long           eof_ms;   /* after the last complete answer (or after the send) */
    int            barrier_ok;
    long           barrier_status;
    /* the upstream, for this case only (barrier requests left out) */
    int            up_reqs, up_malformed, up_partial, up_pending;
    int            up_hidden, up_forged;
    char           up_hop[64];
    char           up_first_target[256];
    char           up_why[256];
    char           up_forbidden[96];
    int            up_body_ok; /* 1 when the first request's body is the expected one */
    char           up_body[96];
    char           up_targets[HK_MAX_RESP][128];
    /* verdict */
    char           fail[1536]; /* "" when the case passed */
    char           cell[96];   /* what the client got, short: "400 closed" */
    char           flags[96];  /* what the upstream got, short: "fwd=1 HIDDEN" */
    long           ms;         /* the case's run time, barrier included */
    int            refused;    /* nothing reached the upstream and the client got an
                                  error or a close */
};

/* Runs @c against the front end on 127.0.0.1:@port in front of @u, then one
 * barrier request (GET /echo/__barrier__, which must answer 200), then judges.
 * Fills @r; r->fail is empty when every expectation held. */
void hk_case_run(const struct hk_case *c, int port, struct hk_upstream *u,
                 struct hk_result *r);

/* 1 when the upstream got two or more requests and the client fewer answers
 * (a request the client did not know it sent). */
int hk_more_requests_than_answers(const struct hk_result *r);

/* 1 when the case's contract is a refusal (its first answer is 4xx/5xx/close
 * and nothing may reach the upstream). */
int hk_case_is_refusal(const struct hk_case *c);

#endif
