/* core/src/arena.c — per-request bump allocator */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bff/arena.h"

#define CHUNK_MIN 4096

struct bff_arena_chunk {
    struct bff_arena_chunk *next;
    size_t                  size; /* usable bytes after the header */
    size_t                  used;
    _Alignas(16) unsigned char data[];
};

void bff_arena_init(struct bff_arena *a, size_t limit)
{
    a->head = NULL;
    a->total = 0;
    a->limit = limit;
}

void bff_arena_cleanup(struct bff_arena *a)
{
    struct bff_arena_chunk *c = a->head;
    while (c) {
        struct bff_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void bff_arena_reset(struct bff_arena *a, size_t keep_max)
{
    struct bff_arena_chunk *keep = NULL;
    for (struct bff_arena_chunk *c = a->head; c; c = c->next)
        if (c->size <= keep_max && (!keep || c->size > keep->size))
            keep = c;
    struct bff_arena_chunk *c = a->head;
    while (c) {
        struct bff_arena_chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    a->head = keep;
    a->total = keep ? keep->size : 0;
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
}

void *bff_arena_alloc(struct bff_arena *a, size_t n)
{
    struct bff_arena_chunk *c = a->head;
    size_t                  need = (n + 15) & ~(size_t)15;

    if (need < n)
        return NULL;
    if (!c || c->size - c->used < need) {
        size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
        if (c && c->size * 2 > size && c->size < 65536)
            size = c->size * 2;
        if (a->limit && a->total + size > a->limit)
            return NULL;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += size;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

char *bff_arena_strndup(struct bff_arena *a, const char *s, size_t n)
{
    char *p = bff_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *bff_arena_strdup(struct bff_arena *a, const char *s)
{
    return bff_arena_strndup(a, s, strlen(s));
}

char *bff_arena_cat(struct bff_arena *a, ...)
{
    va_list     ap;
    size_t      n = 0, len[16];
    const char *s;
    unsigned    k = 0;

    va_start(ap, a);
    while ((s = va_arg(ap, const char *)) != NULL) {
        size_t l = strlen(s);
        if (k < 16)
            len[k] = l;
        k++;
        n += l;
    }
    va_end(ap);
    char *out = bff_arena_alloc(a, n + 1), *p = out;
    if (!out)
        return NULL;
    va_start(ap, a);
    for (unsigned i = 0; (s = va_arg(ap, const char *)) != NULL; i++) {
        size_t l = i < 16 ? len[i] : strlen(s);
        memcpy(p, s, l);
        p += l;
    }
    va_end(ap);
    *p = '\0';
    return out;
}

char *bff_arena_vprintf(struct bff_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = bff_arena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *bff_arena_printf(struct bff_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = bff_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}
