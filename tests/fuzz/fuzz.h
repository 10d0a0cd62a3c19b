/* tests/fuzz/fuzz.h — what the libFuzzer targets share
 *
 * A target is one LLVMFuzzerTestOneInput() over a core module's public API.
 * Besides the sanitizers (ASan, UBSan, LeakSanitizer), each target checks
 * properties of the results with FUZZ_CHECK: a property that fails prints
 * what it expected and aborts, which libFuzzer reports as a crash and saves
 * the input as an artifact (docs/fuzzing.md). */
#ifndef BFF_FUZZ_H
#define BFF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__,      \
                    #cond);                                                            \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* Splits the input into pieces at each @sep byte: fuzz_next() returns the
 * next piece (not NUL-terminated) and its length, or NULL when none is left.
 * The input is never written to. */
struct fuzz_split {
    const uint8_t *p, *end;
    uint8_t        sep;
    int            done;
};

static inline void fuzz_split_init(struct fuzz_split *s, const uint8_t *data,
                                   size_t size, uint8_t sep)
{
    s->p = data;
    s->end = data + size;
    s->sep = sep;
    s->done = 0;
}

static inline const uint8_t *fuzz_next(struct fuzz_split *s, size_t *len)
{
    const uint8_t *start = s->p, *q;

    if (s->done)
        return NULL;
    q = memchr(s->p, s->sep, (size_t)(s->end - s->p));
    if (q == NULL) {
        s->done = 1;
        *len = (size_t)(s->end - start);
        s->p = s->end;
        return start;
    }
    *len = (size_t)(q - start);
    s->p = q + 1;
    return start;
}

/* A NUL-terminated heap copy of @n bytes at @p (abort when out of memory). */
static inline char *fuzz_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

#endif
