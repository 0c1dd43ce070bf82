/*
 * detect.c - precision and recall of every builtin detector over the labelled corpus.
 *
 * usage: bench_detect [-v] [corpus]   (default: tests/data/corpus/detect.txt under
 *        $WEIR_SOURCE_DIR or the current directory)
 *
 * Corpus format (tests/data/corpus/README.md): one sample per line, gold spans written
 * inline as {{detector|value}}, "\n" and "\\" escapes, '#' lines are comments. Every
 * detector runs over every sample; a predicted span is a true positive when it overlaps
 * an unused gold span of the same detector ("exact" when the boundaries agree too), a
 * false positive otherwise; unmatched gold spans are false negatives. -v lists them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scan/scan.h"

typedef struct gold {
    size_t start, end;
    size_t det;
    int used;
} gold;

typedef struct counts {
    long tp, fp, fn, exact;
} counts;

static size_t det_index(const char *name, size_t n)
{
    for (size_t i = 0; i < wr_builtin_detector_count; i++)
        if (strlen(wr_builtin_detectors[i].name) == n &&
            memcmp(wr_builtin_detectors[i].name, name, n) == 0)
            return i;
    return (size_t)-1;
}

/* Parses one corpus line into text (unescaped, markers removed) and gold spans. */
static int parse_line(const char *line, char *text, size_t *tlen, gold *g, size_t *ng,
                      size_t gcap, long lineno)
{
    size_t o = 0, n = 0;
    size_t open_start = 0, open_det = (size_t)-1;
    int in_value = 0;
    for (size_t i = 0; line[i] && line[i] != '\n'; i++) {
        if (!in_value && line[i] == '{' && line[i + 1] == '{') {
            const char *bar = strchr(line + i + 2, '|');
            if (!bar) {
                fprintf(stderr, "corpus:%ld: '{{' without '|'\n", lineno);
                return -1;
            }
            open_det = det_index(line + i + 2, (size_t)(bar - (line + i + 2)));
            if (open_det == (size_t)-1) {
                fprintf(stderr, "corpus:%ld: unknown detector '%.*s'\n", lineno,
                        (int)(bar - (line + i + 2)), line + i + 2);
                return -1;
            }
            open_start = o;
            in_value = 1;
            i = (size_t)(bar - line);
            continue;
        }
        if (in_value && line[i] == '}' && line[i + 1] == '}') {
            if (n == gcap)
                return -1;
            g[n++] = (gold){open_start, o, open_det, 0};
            in_value = 0;
            i++;
            continue;
        }
        if (line[i] == '\\' && line[i + 1] == 'n') {
            text[o++] = '\n';
            i++;
        } else if (line[i] == '\\' && line[i + 1] == '\\') {
            text[o++] = '\\';
            i++;
        } else {
            text[o++] = line[i];
        }
    }
    if (in_value) {
        fprintf(stderr, "corpus:%ld: unterminated '{{'\n", lineno);
        return -1;
    }
    text[o] = 0;
    *tlen = o;
    *ng = n;
    return 0;
}

int main(int argc, char **argv)
{
    int verbose = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            path = argv[i];
    }
    char def[4096];
    if (!path) {
        const char *src = getenv("WEIR_SOURCE_DIR");
        snprintf(def, sizeof def, "%s%stests/data/corpus/detect.txt", src ? src : "",
                 src ? "/" : "");
        path = def;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 2;
    }

    size_t nd = wr_builtin_detector_count;
    wr_detector *dets = calloc(nd, sizeof *dets);
    counts *c = calloc(nd, sizeof *c);
    if (!dets || !c)
        return 2;
    for (size_t i = 0; i < nd; i++) {
        char msg[256];
        if (wr_detector_init_builtin(&dets[i], &wr_builtin_detectors[i], msg, sizeof msg)) {
            fprintf(stderr, "%s: does not compile\n", wr_builtin_detectors[i].name);
            return 2;
        }
    }

    static char line[1 << 16], text[1 << 16];
    gold g[64];
    long lineno = 0, samples = 0;
    size_t bytes = 0;
    double secs = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        size_t tlen, ng;
        if (parse_line(line, text, &tlen, g, &ng, 64, lineno))
            return 2;
        samples++;
        bytes += tlen;
        wr_norm nm;
        if (wr_normalize(&nm, text, tlen, WR_NORM_DEFAULT))
            return 2;
        for (size_t d = 0; d < nd; d++) {
            wr_match_list l = {0};
            unsigned char want = 1;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int rc = wr_scan(&l, &dets[d], &want, 1, nm.text, nm.len, NULL, NULL);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            secs += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            if (rc) {
                fprintf(stderr, "corpus:%ld: %s: scan error %d\n", lineno,
                        wr_builtin_detectors[d].name, rc);
                return 2;
            }
            for (size_t k = 0; k < l.n; k++) {
                size_t s, e;
                wr_norm_span(&nm, l.v[k].start, l.v[k].end, &s, &e);
                int hit = 0;
                for (size_t j = 0; j < ng && !hit; j++) {
                    if (g[j].det != d || g[j].used || e <= g[j].start || s >= g[j].end)
                        continue;
                    g[j].used = 1;
                    hit = 1;
                    c[d].tp++;
                    if (s == g[j].start && e == g[j].end)
                        c[d].exact++;
                    else if (verbose)
                        printf("INEXACT %-16s line %ld: got <%.*s> want <%.*s>\n",
                               wr_builtin_detectors[d].name, lineno, (int)(e - s), text + s,
                               (int)(g[j].end - g[j].start), text + g[j].start);
                }
                if (!hit) {
                    c[d].fp++;
                    if (verbose)
                        printf("FP      %-16s line %ld: <%.*s>\n", wr_builtin_detectors[d].name,
                               lineno, (int)(e - s), text + s);
                }
            }
            wr_match_list_free(&l);
        }
        for (size_t j = 0; j < ng; j++) {
            if (g[j].used)
                continue;
            c[g[j].det].fn++;
            if (verbose)
                printf("FN      %-16s line %ld: <%.*s>\n", wr_builtin_detectors[g[j].det].name,
                       lineno, (int)(g[j].end - g[j].start), text + g[j].start);
        }
        wr_norm_free(&nm);
    }
    fclose(f);

    printf("corpus: %s (%ld samples, %zu bytes)\n\n", path, samples, bytes);
    printf("%-22s %-34s %5s %4s %4s %4s %9s %7s %7s\n", "detector", "entity", "gold", "tp",
           "fp", "fn", "precision", "recall", "exact");
    for (size_t d = 0; d < nd; d++) {
        long gold_n = c[d].tp + c[d].fn;
        double p = c[d].tp + c[d].fp ? (double)c[d].tp / (double)(c[d].tp + c[d].fp) : 1.0;
        double r = gold_n ? (double)c[d].tp / (double)gold_n : 1.0;
        double ex = c[d].tp ? (double)c[d].exact / (double)c[d].tp : 1.0;
        printf("%-22s %-34s %5ld %4ld %4ld %4ld %9.3f %7.3f %7.3f\n",
               wr_builtin_detectors[d].name, wr_builtin_detectors[d].entity, gold_n, c[d].tp,
               c[d].fp, c[d].fn, p, r, ex);
    }
    printf("\nscan time, all detectors one by one: %.1f ms\n", secs * 1e3);
    for (size_t i = 0; i < nd; i++)
        wr_detector_release(&dets[i]);
    free(dets);
    free(c);
    return 0;
}
