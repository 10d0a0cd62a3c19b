/* tests/hostile-probe.c — runs tests/e2e/hostile-cases.txt against any front
 * ends (Portico, nginx, haproxy, ...) in front of its own logging upstream,
 * and prints a comparison table in Markdown. Driven by tests/hostile-peers.sh.
 *
 *   hostile-probe [--cases FILE] [--token TOKEN] [--only SUBSTRING]
 *
 * Starts the logging upstream on 127.0.0.1 port 0 and prints "upstream PORT"
 * as its first line; then reads "NAME PORT" lines on stdin and runs every case
 * against each front end as its line arrives (progress on stderr). At the end
 * of stdin it prints the table on stdout. The front end named "portico" is the
 * reference: the summary lists every case another front end refuses and it
 * does not. Exit status 0 when it ran (the table says who passed). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e/hostile.h"

#define MAX_FRONTS 8

struct front {
    char              name[32];
    int               port;
    struct hk_result *res; /* one per case */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hostile-probe [--cases FILE] [--token TOKEN] [--only SUBSTRING]\n"
               "  prints \"upstream PORT\", then runs the cases against each \"NAME PORT\"\n"
               "  line read on stdin; prints a Markdown table at the end of stdin.\n");
}

static int upstream_bad(const struct hk_case *c, const struct hk_result *r)
{
    return r->up_hidden || hk_more_requests_than_answers(r) || r->up_malformed || r->up_forged ||
           (hk_case_is_refusal(c) && (r->up_reqs || r->up_partial || r->up_pending));
}

static void bad_text(const struct hk_case *c, const struct hk_result *r, char *out,
                     size_t cap)
{
    snprintf(out, cap, "%s%s%s%s",
             hk_case_is_refusal(c) && (r->up_reqs || r->up_partial || r->up_pending)
                 ? "forwarded "
                 : "",
             r->up_hidden || hk_more_requests_than_answers(r) ? "HIDDEN " : "",
             r->up_malformed ? "MALFORMED " : "", r->up_forged ? "FORGED " : "");
    size_t n = strlen(out);
    if (n && out[n - 1] == ' ')
        out[n - 1] = '\0';
}

static void print_table(const struct hk_table *t, struct front *fr, int nfr)
{
    int ref = -1;
    for (int f = 0; f < nfr; f++)
        if (strcmp(fr[f].name, "portico") == 0)
            ref = f;

    printf("## Summary\n\n");
    printf("| front end | cases | meet Portico's contract | refusal cases refused | "
           "refusal cases forwarded | hidden request | malformed at upstream | "
           "forged field at upstream | hop-by-hop field at upstream |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int f = 0; f < nfr; f++) {
        int pass = 0, nref = 0, refused = 0, fwd = 0, hid = 0, mal = 0, forg = 0, hop = 0;
        for (size_t i = 0; i < t->n; i++) {
            const struct hk_result *r = &fr[f].res[i];
            const struct hk_case   *c = &t->cases[i];
            pass += r->fail[0] == '\0';
            if (hk_case_is_refusal(c)) {
                nref++;
                refused += r->refused;
                fwd += r->up_reqs || r->up_partial || r->up_pending;
            }
            hid += r->up_hidden || hk_more_requests_than_answers(r);
            mal += r->up_malformed > 0;
            forg += r->up_forged;
            hop += r->up_hop[0] != '\0';
        }
        printf("| %s | %zu | %d | %d of %d | %d | %d | %d | %d | %d |\n", fr[f].name, t->n,
               pass, refused, nref, fwd, hid, mal, forg, hop);
    }
    if (ref >= 0) {
        printf("\n### Refused by a peer, not refused by Portico\n\n");
        int any = 0;
        for (int f = 0; f < nfr; f++) {
            if (f == ref)
                continue;
            int n = 0;
            for (size_t i = 0; i < t->n; i++) {
                const struct hk_case *c = &t->cases[i];
                if (!hk_case_is_refusal(c) || !fr[f].res[i].refused || fr[ref].res[i].refused)
                    continue;
                printf("%s- %s refuses `%s` (%s), Portico: %s%s%s\n", n ? "" : "", fr[f].name,
                       c->name, fr[f].res[i].cell, fr[ref].res[i].cell,
                       fr[ref].res[i].flags[0] ? ", upstream " : "", fr[ref].res[i].flags);
                n++;
                any++;
            }
        }
        if (!any)
            printf("None: Portico refuses every case that nginx or haproxy refuses.\n");
    }

    printf("\n## Case by case\n\n");
    printf("Cells: the answers' statuses (`~` an answer that broke off), `closed` when the "
           "front end closed the connection, then what the upstream got (`fwdN` N whole "
           "requests, `partial`, `HIDDEN`, `MALFORMED`, `FORGED`, `hop:NAME`, `as-sent` "
           "the client's framing field as written). ✗: the front end does not meet "
           "Portico's contract for the case.\n\n");
    printf("| case | class | contract |");
    for (int f = 0; f < nfr; f++)
        printf(" %s |", fr[f].name);
    printf(" upstream got what should have been refused |\n|---|---|---|");
    for (int f = 0; f < nfr; f++)
        printf("---|");
    printf("---|\n");
    for (size_t i = 0; i < t->n; i++) {
        const struct hk_case *c = &t->cases[i];
        char                  col[512] = "";
        printf("| %s | %s | %s, up %s |", c->name, c->klass, c->expect, c->up);
        for (int f = 0; f < nfr; f++) {
            const struct hk_result *r = &fr[f].res[i];
            printf(" %s%s%s%s |", r->cell, r->flags[0] ? " · " : "", r->flags,
                   r->fail[0] ? " ✗" : "");
            if (upstream_bad(c, r)) {
                char b[96];
                size_t k = strlen(col);
                bad_text(c, r, b, sizeof(b));
                snprintf(col + k, sizeof(col) - k, "%s%s: %s", k ? "; " : "", fr[f].name, b);
            }
        }
        printf(" %s |\n", col[0] ? col : "—");
    }
}

int main(int argc, char **argv)
{
    const char        *cases = "tests/e2e/hostile-cases.txt", *token = NULL, *only = NULL;
    struct hk_table    t;
    struct hk_upstream up;
    struct front       fr[MAX_FRONTS];
    int                nfr = 0;
    char               err[512], line[256];

    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            cases = argv[++i];
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            token = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (hk_table_load(&t, cases, token, err, sizeof(err)) != 0) {
        fprintf(stderr, "hostile-probe: %s\n", err);
        return 1;
    }
    if (only) { /* keep the matching cases only */
        size_t k = 0;
        for (size_t i = 0; i < t.n; i++) {
            if (strstr(t.cases[i].name, only)) {
                struct hk_case keep = t.cases[i];
                t.cases[i] = t.cases[k];
                t.cases[k++] = keep;
            }
        }
        struct hk_table rest = {t.cases + k, t.n - k};
        for (size_t i = 0; i < rest.n; i++) { /* free the rest's buffers in place */
            struct hk_case *c = &rest.cases[i];
            for (int s = 0; s < c->nsteps; s++)
                free(c->steps[s].data);
            for (int s = 0; s < c->nforbid; s++)
                free(c->forbid[s]);
            free(c->body);
        }
        t.n = k;
    }
    if (hk_upstream_start(&up) != 0) {
        fprintf(stderr, "hostile-probe: cannot start the logging upstream\n");
        hk_table_free(&t);
        return 1;
    }
    printf("upstream %d\n", up.port);
    fflush(stdout);
    while (nfr < MAX_FRONTS && fgets(line, sizeof(line), stdin)) {
        struct front *f = &fr[nfr];
        if (sscanf(line, "%31s %d", f->name, &f->port) != 2)
            continue;
        f->res = calloc(t.n, sizeof(*f->res));
        if (!f->res)
            break;
        int pass = 0;
        for (size_t i = 0; i < t.n; i++) {
            hk_case_run(&t.cases[i], f->port, &up, &f->res[i]);
            pass += f->res[i].fail[0] == '\0';
            if (f->res[i].fail[0])
                fprintf(stderr, "%s: %s: %s\n", f->name, t.cases[i].name, f->res[i].fail);
        }
        fprintf(stderr, "hostile-probe: %s: %d of %zu cases meet Portico's contract\n",
                f->name, pass, t.n);
        nfr++;
    }
    print_table(&t, fr, nfr);
    for (int f = 0; f < nfr; f++)
        free(fr[f].res);
    hk_upstream_stop(&up);
    hk_table_free(&t);
    return 0;
}
