/* core/src/jwks_fetch.c — key sets fetched from auth.jwt.jwks_url
 *
 * Threads. Each source has one refresher thread. It is the one place
 * outside upstream.c that drives libcurl, on a multi handle of its own,
 * because the workers' multi handles live in their epoll loops and a worker
 * must never wait for an identity provider: the refresher waits in
 * curl_multi_poll (between fetches as well as during one), and
 * curl_multi_wakeup (thread-safe) ends that wait when a worker asks for a
 * refetch or the last snapshot lets the source go.
 *
 * Memory. The set in force is published with an atomic exchange and a
 * generation counter. A reader takes its reference between an increment and
 * a decrement of @readers; the refresher, after publishing a new set, waits
 * until @readers has been seen at zero before dropping its reference to the
 * old one, so a reader never refs a freed set. Readers take a reference
 * only when the generation moved (once per worker per change), so that wait
 * is short and rare, and it happens on the refresher, never on a worker. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bff/util.h"
#include "base/buf.h"
#include "base/log.h"
#include "runtime/jwks_fetch.h"

#define JWKS_MAX_DOC (1024 * 1024) /* what bff_keyset_parse accepts */

struct jwks_src {
    /* the request path's */
    _Atomic(struct bff_keyset *) cur; /* NULL until the first good fetch */
    _Atomic uint64_t             gen; /* +1 per set swapped in */
    _Atomic unsigned             readers;
    _Atomic uint64_t             kick_ms; /* bff_now_ms of the last kick; 0 = none */
    _Atomic int                  kicked;
    _Atomic unsigned             refs;
    _Atomic uint32_t             refresh_ms;
    _Atomic int                  stop;     /* the last reference is gone */
    _Atomic int                  released; /* ...and jwks_src_put is done with it */

    /* the refresher's */
    char     *url;
    CURLM    *multi;
    pthread_t thread;
    char     *doc; /* bytes of the set in force, to skip swaps that change nothing */
    size_t    doclen;
    char      etag[256];

    /* shared with jwks_src_health and jwks_src_get, under @lock */
    pthread_mutex_t    lock;
    pthread_cond_t     fetched; /* after every fetch attempt */
    struct jwks_health health;

    struct jwks_src *next; /* the registry, under reg_lock */
};

static pthread_mutex_t  reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jwks_src *reg;

/* ---- one fetch ---------------------------------------------------------- */

struct fetch {
    struct jwks_src *s;
    char            *body;
    size_t           len, cap;
    int              too_large;
    char             etag[256];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct fetch *f = ud;
    size_t        len = size * n;

    if (f->len + len > JWKS_MAX_DOC) {
        f->too_large = 1;
        return 0;
    }
    if (bff_buf_append(&f->body, &f->len, &f->cap, p, len, 16384) != 0)
        return 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct fetch *f = ud;
    size_t        len = size * n, end = len;

    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        f->etag[0] = '\0'; /* a new header block */
        return len;
    }
    if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        const char *v = p + 5;
        while (v < p + len && (*v == ' ' || *v == '\t'))
            v++;
        while (end > (size_t)(v - p) && (p[end - 1] == '\r' || p[end - 1] == '\n' ||
                                         p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        size_t vl = end - (size_t)(v - p);
        /* An ETag goes back in If-None-Match: only printable ASCII. */
        int ok = vl > 0 && vl < sizeof(f->etag);
        for (size_t i = 0; ok && i < vl; i++)
            ok = v[i] >= 0x21 && v[i] <= 0x7e;
        if (ok) {
            memcpy(f->etag, v, vl);
            f->etag[vl] = '\0';
        }
    }
    return len;
}

/* Runs one GET of s->url on s->multi. Returns the CURLcode and sets
 * *@status; stops early (CURLE_ABORTED_BY_CALLBACK) when the source stops. */
static CURLcode fetch_run(struct jwks_src *s, struct fetch *f, long *status,
                          char *errbuf)
{
    CURL              *e = curl_easy_init();
    struct curl_slist *hl = NULL, *n;
    CURLcode           rc = CURLE_OUT_OF_MEMORY;
    char               inm[300];

    *status = 0;
    errbuf[0] = '\0';
    if (!e)
        return rc;
    n = curl_slist_append(hl, "Accept: application/jwk-set+json, application/json");
    if (n)
        hl = n;
    if (s->etag[0] && s->doc) {
        snprintf(inm, sizeof(inm), "If-None-Match: %s", s->etag);
        n = curl_slist_append(hl, inm);
        if (n)
            hl = n;
    }
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is an error */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)JWKS_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)JWKS_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "portico-jwks/1");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when offered */
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK)
        goto out;
    rc = CURLE_OK;
    for (;;) {
        int running = 0;
        if (atomic_load(&s->stop)) {
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        if (!running) {
            CURLMsg *m;
            int      left;
            while ((m = curl_multi_info_read(s->multi, &left)))
                if (m->msg == CURLMSG_DONE && m->easy_handle == e)
                    rc = m->data.result;
            break;
        }
        curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(s->multi, e);
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
out:
    curl_easy_cleanup(e);
    curl_slist_free_all(hl);
    return rc;
}

/* Publishes @ks (taking its reference) and drops the old set once no
 * reader can still be taking a reference to it. Refresher thread only. */
static void publish(struct jwks_src *s, struct bff_keyset *ks)
{
    struct bff_keyset *old = atomic_exchange(&s->cur, ks);
    atomic_fetch_add(&s->gen, 1);
    while (atomic_load(&s->readers) != 0)
        sched_yield();
    bff_keyset_unref(old);
}

static void set_error(struct jwks_src *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct jwks_src *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    vsnprintf(s->health.last_error, sizeof(s->health.last_error), fmt, ap);
    s->health.last_error_at = bff_unix_now();
    s->health.failures++;
    pthread_mutex_unlock(&s->lock);
    va_end(ap);
}

/* One attempt. Returns 1 when the URL gave a usable answer (a set, the same
 * set, or 304), 0 when the last good set stays for want of a better one. */
static int fetch_once(struct jwks_src *s)
{
    struct fetch f = {.s = s};
    char         errbuf[CURL_ERROR_SIZE], why[256] = "";
    long         status = 0;
    CURLcode     rc = fetch_run(s, &f, &status, errbuf);
    int          ok = 0;
    size_t       nkeys = 0;

    if (atomic_load(&s->stop))
        goto out;
    if (rc != CURLE_OK) {
        set_error(s, "GET %s: %s", s->url,
                  f.too_large ? "the key set is larger than 1 MiB"
                  : errbuf[0] ? errbuf
                              : curl_easy_strerror(rc));
        goto out;
    }
    if (status == 304 && s->doc) {
        ok = 1;
        goto out;
    }
    if (status != 200) {
        set_error(s, "GET %s: answered HTTP %ld (200 expected)", s->url, status);
        goto out;
    }
    if (s->doc && f.len == s->doclen && memcmp(f.body, s->doc, f.len) == 0) {
        ok = 1; /* unchanged */
        snprintf(s->etag, sizeof(s->etag), "%s", f.etag);
        goto out;
    }
    struct bff_keyset *ks =
        bff_keyset_parse(f.body ? f.body : "", f.len, why, sizeof(why));
    if (!ks) {
        set_error(s, "GET %s: the key set is refused: %s", s->url,
                  why[0] ? why : "cannot parse");
        goto out;
    }
    nkeys = bff_keyset_count(ks);
    publish(s, ks);
    free(s->doc);
    s->doc = f.body;
    s->doclen = f.len;
    f.body = NULL;
    snprintf(s->etag, sizeof(s->etag), "%s", f.etag);
    ok = 1;
    pthread_mutex_lock(&s->lock);
    s->health.keys = nkeys;
    s->health.generation = atomic_load(&s->gen);
    s->health.last_change = bff_unix_now();
    pthread_mutex_unlock(&s->lock);
    log_event("info", "jwks_url %s: key set %llu in force, %zu keys", s->url,
              (unsigned long long)atomic_load(&s->gen), nkeys);
out:
    free(f.body);
    pthread_mutex_lock(&s->lock);
    s->health.fetches++;
    if (ok)
        s->health.last_success = bff_unix_now();
    pthread_cond_broadcast(&s->fetched);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static void *refresher(void *arg)
{
    struct jwks_src *s = arg;
    uint64_t         due = 0, backoff = 0;

    while (!atomic_load(&s->stop)) {
        uint64_t now = bff_now_ms();
        if (atomic_exchange(&s->kicked, 0))
            due = now;
        if (now < due) {
            uint64_t wait = due - now;
            curl_multi_poll(s->multi, NULL, 0, wait > 60000 ? 60000 : (int)wait, NULL);
            continue;
        }
        int      ok = fetch_once(s);
        uint32_t refresh = atomic_load(&s->refresh_ms);
        if (atomic_load(&s->stop))
            break;
        now = bff_now_ms();
        if (ok) {
            backoff = 0;
            due = now + refresh;
            continue;
        }
        uint64_t cap = refresh < JWKS_RETRY_MAX_MS ? refresh : JWKS_RETRY_MAX_MS;
        backoff = backoff ? backoff * 2 : 1000;
        if (backoff > cap)
            backoff = cap;
        due = now + backoff;
        struct jwks_health h;
        jwks_src_health(s, &h);
        if (h.keys)
            log_event("warn",
                      "%s; keeping the key set fetched %lld s ago (%zu keys); next try "
                      "in %llu ms",
                      h.last_error, (long long)(bff_unix_now() - h.last_change), h.keys,
                      (unsigned long long)backoff);
        else
            log_event(
                "error",
                "%s; no key set yet: tokens cannot be verified (503); next try in "
                "%llu ms",
                h.last_error, (unsigned long long)backoff);
    }
    return NULL;
}

/* ---- lifetime ----------------------------------------------------------- */

static void src_free(struct jwks_src *s)
{
    if (s->multi)
        curl_multi_cleanup(s->multi);
    bff_keyset_unref(atomic_load(&s->cur));
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->fetched);
    free(s->doc);
    free(s->url);
    free(s);
}

/* Joins and frees every source whose last reference is gone. Under
 * reg_lock; not on a worker. */
static void reap_locked(void)
{
    struct jwks_src **pp = &reg;
    while (*pp) {
        struct jwks_src *s = *pp;
        if (!atomic_load(&s->released)) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        pthread_join(s->thread, NULL);
        src_free(s);
    }
}

/* Adds one reference unless the count already fell to zero. */
static int ref_if_live(struct jwks_src *s)
{
    unsigned r = atomic_load(&s->refs);
    while (r > 0)
        if (atomic_compare_exchange_weak(&s->refs, &r, r + 1))
            return 1;
    return 0;
}

static struct jwks_src *src_new(const char *url, uint32_t refresh_ms, char *why,
                                size_t whylen)
{
    struct jwks_src *s = calloc(1, sizeof(*s));

    if (!s || !(s->url = strdup(url)) || !(s->multi = curl_multi_init())) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    atomic_init(&s->cur, NULL);
    atomic_init(&s->refs, 1);
    atomic_init(&s->refresh_ms, refresh_ms);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->fetched, NULL);
    s->health.refresh_ms = refresh_ms;
    if (pthread_create(&s->thread, NULL, refresher, s) != 0) {
        snprintf(why, whylen, "cannot start the refresher thread: %s", strerror(errno));
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->fetched);
        goto fail;
    }
    return s;
fail:
    if (s) {
        if (s->multi)
            curl_multi_cleanup(s->multi);
        free(s->url);
        free(s);
    }
    return NULL;
}

struct jwks_src *jwks_src_get(const char *url, uint32_t refresh_ms, int *fresh_failed,
                              char *why, size_t whylen)
{
    struct jwks_src *s;

    *fresh_failed = 0;
    why[0] = '\0';
    pthread_mutex_lock(&reg_lock);
    reap_locked();
    for (s = reg; s; s = s->next) {
        if (strcmp(s->url, url) != 0 || atomic_load(&s->stop) || !ref_if_live(s))
            continue;
        if (atomic_exchange(&s->refresh_ms, refresh_ms) != refresh_ms) {
            pthread_mutex_lock(&s->lock);
            s->health.refresh_ms = refresh_ms;
            pthread_mutex_unlock(&s->lock);
            log_event("info", "jwks_url %s: refreshed every %u ms from now on", url,
                      refresh_ms);
        }
        pthread_mutex_unlock(&reg_lock);
        return s;
    }
    s = src_new(url, refresh_ms, why, whylen);
    if (s) {
        s->next = reg;
        reg = s;
    }
    pthread_mutex_unlock(&reg_lock);
    if (!s)
        return NULL;

    /* Wait for the first fetch, bounded, so that a start or a reload is
     * ready at once in the common case. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += JWKS_FIRST_WAIT_MS / 1000;
    pthread_mutex_lock(&s->lock);
    while (s->health.fetches == 0)
        if (pthread_cond_timedwait(&s->fetched, &s->lock, &dl) == ETIMEDOUT)
            break;
    if (s->health.keys == 0) {
        *fresh_failed = 1;
        snprintf(why, whylen, "%s",
                 s->health.last_error[0] ? s->health.last_error
                                         : "the first fetch has not finished yet");
    }
    pthread_mutex_unlock(&s->lock);
    return s;
}

void jwks_src_put(struct jwks_src *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    atomic_store(&s->stop, 1);
    curl_multi_wakeup(s->multi);
    atomic_store(&s->released, 1); /* from here on, s may be freed by a reaper */
    /* The main thread (thread id = process id) may wait for the refresher
     * to notice; it is also the one that drops the last reference at exit,
     * before libcurl is cleaned up. Any other thread leaves it to the
     * next jwks_src_get or main-thread drop. */
    if (gettid() == getpid()) {
        pthread_mutex_lock(&reg_lock);
        reap_locked();
        pthread_mutex_unlock(&reg_lock);
    }
}

void jwks_src_health(struct jwks_src *s, struct jwks_health *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->health;
    pthread_mutex_unlock(&s->lock);
}

const char *jwks_src_url(const struct jwks_src *s)
{
    return s->url;
}

/* ---- the request path ---------------------------------------------------- */

const struct bff_keyset *jwks_hold_update(struct jwks_src *s, struct jwks_hold *h)
{
    uint64_t g = atomic_load_explicit(&s->gen, memory_order_acquire);

    if (h->ks && g == h->gen)
        return h->ks;
    /* Generation g (or later) is published: cur is at least as new. */
    atomic_fetch_add(&s->readers, 1);
    g = atomic_load(&s->gen);
    struct bff_keyset *ks = bff_keyset_ref(atomic_load(&s->cur));
    atomic_fetch_sub(&s->readers, 1);
    bff_keyset_unref(h->ks);
    h->ks = ks;
    h->gen = g;
    return ks;
}

void jwks_hold_release(struct jwks_hold *h)
{
    bff_keyset_unref(h->ks);
    h->ks = NULL;
    h->gen = 0;
}

int jwks_src_kick(struct jwks_src *s)
{
    uint64_t now = bff_now_ms(), last = atomic_load(&s->kick_ms);

    if (last && now - last < JWKS_KICK_MIN_MS)
        return 0;
    if (!atomic_compare_exchange_strong(&s->kick_ms, &last, now))
        return 0; /* another worker asked just now */
    atomic_store(&s->kicked, 1);
    curl_multi_wakeup(s->multi);
    return 1;
}
