/* core/include/bff/arena.h — per-request bump allocator */
#ifndef BFF_ARENA_H
#define BFF_ARENA_H

#include <stdarg.h>
#include <stddef.h>

/* An arena hands out memory that lives until bff_arena_cleanup(). It grows in
 * chunks and never frees single allocations. Not thread-safe: one request,
 * one thread. */
struct bff_arena_chunk;
struct bff_arena {
    struct bff_arena_chunk *head;
    size_t                  total;  /* bytes allocated from the heap */
    size_t                  limit;  /* 0 = unbounded; beyond it allocs fail */
};

void bff_arena_init(struct bff_arena *a, size_t limit);
void bff_arena_cleanup(struct bff_arena *a);
/* Empties @a for reuse: every allocation is gone, but its largest chunk, if
 * at most @keep_max bytes, stays for the next user (no malloc for a small
 * request that follows a small request). */
void bff_arena_reset(struct bff_arena *a, size_t keep_max);

/* Returns 16-byte aligned memory, or NULL when out of memory or past the limit. */
void *bff_arena_alloc(struct bff_arena *a, size_t n);
char *bff_arena_strdup(struct bff_arena *a, const char *s);
char *bff_arena_strndup(struct bff_arena *a, const char *s, size_t n);
char *bff_arena_printf(struct bff_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The concatenation of the strings given, up to a NULL: bff_arena_cat(a,
 * "X-User-Id: ", uid, NULL). What printf("%s%s") does, without parsing a
 * format. A NULL string ends the list; returns NULL when out of memory. */
char *bff_arena_cat(struct bff_arena *a, ...) __attribute__((sentinel));
char *bff_arena_vprintf(struct bff_arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
