/* core/src/rules/idemstore.h — kept answers for Idempotency-Key
 * (docs/idempotency.md): the answer's packed form, shared by the memory
 * store and the Redis store, and the bounded in-memory store.
 *
 * No clock of its own (every call takes @now_ms), no I/O: the unit test
 * drives it with an injected clock. The step that uses it is
 * pipeline/idempotency.c. */
#ifndef BFF_RULES_IDEMSTORE_H
#define BFF_RULES_IDEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "types/request-t.h"

#define IDEM_SHA_LEN 32
#define IDEM_MAX_HDRS 64 /* answer headers kept; more: the answer is not kept */

/* ---- an answer, packed ------------------------------------------------------
 * One buffer: "PI1 <status> <nhdrs> <body length>\n", the content type and
 * NUL, every header as name NUL value NUL, then the body bytes. The same
 * bytes are kept in memory and in Redis. */

/* Packs an answer; malloc'd (*len bytes), or NULL (out of memory, too many
 * headers). */
char *idem_pack(int status, const char *content_type, const char *body, size_t body_len,
                const struct bff_hdr *hdrs, size_t nhdrs, size_t *len);

struct idem_unpacked {
    int            status;
    const char    *content_type; /* NULL when none */
    struct bff_hdr hdrs[IDEM_MAX_HDRS];
    size_t         nhdrs;
    const char    *body;
    size_t         body_len;
};
/* Reads @buf (@len bytes) into @u, whose strings point into @buf.
 * Returns 0, or -1 when it is not a packed answer. */
int idem_unpack(const char *buf, size_t len, struct idem_unpacked *u);

/* ---- the memory store ------------------------------------------------------
 * A hash table under one lock, shared by every worker. An entry is a key
 * (the request's scope, pipeline/idempotency.c) with the SHA-256 of the
 * request body; it is in flight (claimed, its answer not yet in) or holds
 * a packed answer until it expires. Bounded by @max_entries entries and
 * @max_bytes bytes of keys and answers: when a new entry or answer would
 * pass either, the oldest kept answers are dropped first (oldest by the
 * time they were kept); in-flight entries are never dropped (they are few:
 * at most the requests waiting). */

enum idem_claim {
    IDEM_NEW = 0,  /* claimed: forward, then keep or release */
    IDEM_REPLAY,   /* *answer: the kept answer (malloc'd copy) */
    IDEM_CONFLICT, /* in flight with the same body */
    IDEM_MISMATCH, /* known with another body */
    IDEM_FULL,     /* no room (every entry in flight) or out of memory */
};

struct idem_store;

struct idem_store *idem_store_new(size_t max_entries, uint64_t max_bytes);
void               idem_store_free(struct idem_store *st);

/* Claims @key with body hash @sha. An in-flight claim lasts until
 * idem_store_keep or idem_store_release (or @lease_ms, for a claim whose
 * request was lost). On IDEM_REPLAY, *answer and *answer_len are a malloc'd
 * copy of the packed answer for the caller to free. */
enum idem_claim idem_store_claim(struct idem_store *st, const char *key,
                                 const uint8_t sha[IDEM_SHA_LEN], uint64_t now_ms,
                                 uint64_t lease_ms, char **answer, size_t *answer_len);
/* The claimed @key's answer: @packed (malloc'd, @len bytes; the store owns
 * it now, in every case), kept until @now_ms + @ttl_ms. Returns 0, or -1
 * when it is not kept (not claimed any more, larger than the store). */
int idem_store_keep(struct idem_store *st, const char *key, char *packed, size_t len,
                    uint64_t now_ms, uint64_t ttl_ms);
/* Forgets the in-flight claim of @key (its answer is not kept). */
void idem_store_release(struct idem_store *st, const char *key);

/* What is held: entries and bytes (for tests and docs). */
void idem_store_usage(struct idem_store *st, size_t *entries, uint64_t *bytes);

#endif
