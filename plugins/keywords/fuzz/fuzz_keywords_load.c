/*
 * fuzz_keywords_load.c - libFuzzer harness for the keywords plugin's term loader and
 * automaton: the input is a term file's contents. It is loaded (with and without NFKC,
 * case folding and whole words, chosen from the input's length), built into a matcher,
 * and the matcher scans a fixed text and the input itself. Aborts on a broken invariant:
 * findings out of order, overlapping or out of bounds, a tail past the text, or a prefix
 * whose decided findings differ from the whole text's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "kw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX 4096

typedef struct fz_spans {
    size_t n, len;
    size_t s[FZ_MAX], e[FZ_MAX];
} fz_spans;

static int fz_emit(void *ctx, size_t s, size_t e)
{
    fz_spans *f = ctx;
    if (s >= e || e > f->len || (f->n && s < f->e[f->n - 1]))
        abort();
    if (f->n < FZ_MAX) {
        f->s[f->n] = s;
        f->e[f->n] = e;
    }
    f->n++;
    return 0;
}

static int fz_nfkc(void *ctx, const char *in, size_t len, char **out, size_t *out_len)
{
    (void)ctx;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len,
                                      &dst, UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE);
    if (n < 0)
        return -1;
    *out = (char *)dst;
    *out_len = (size_t)n;
    return 0;
}

static void fz_scan(const kw_matcher *m, const char *t, size_t len, fz_spans *f)
{
    f->n = 0;
    f->len = len;
    if (kw_matcher_scan(m, t, len, fz_emit, f) != 0)
        abort();
}

/* Findings that start before lim agree between a and b. */
static void fz_same_before(const fz_spans *a, const fz_spans *b, size_t lim)
{
    size_t i = 0, j = 0;
    size_t na = a->n < FZ_MAX ? a->n : FZ_MAX, nb = b->n < FZ_MAX ? b->n : FZ_MAX;
    if (a->n > FZ_MAX || b->n > FZ_MAX)
        return;
    for (;;) {
        while (i < na && a->s[i] >= lim)
            i++;
        while (j < nb && b->s[j] >= lim)
            j++;
        if (i == na || j == nb) {
            if (i != na || j != nb)
                abort();
            return;
        }
        if (a->s[i] != b->s[j] || a->e[i] != b->e[j])
            abort();
        i++;
        j++;
    }
}

static void fz_check_text(const kw_matcher *m, const char *t, size_t len)
{
    static fz_spans whole, part;
    fz_scan(m, t, len, &whole);
    size_t splits[] = {len / 2, len / 3, len - (len > 0), len > 7 ? len - 7 : 0};
    for (size_t k = 0; k < sizeof splits / sizeof *splits; k++) {
        size_t cut = splits[k];
        size_t tail = kw_matcher_tail(m, t, cut, 0);
        if (tail > cut || kw_matcher_tail(m, t, cut, cut / 2) < cut / 2)
            abort();
        fz_scan(m, t, cut, &part);
        fz_same_before(&whole, &part, tail);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char fixed[] =
        "Project Falcon met the Zürich team; STRASSE, straße and ΟΔΥΣΣΕΥΣ. new york city "
        "hall, C++ and c#, ＦＵＬＬ width, tab\there,\r\nline two \xff\xfe end";
    if (size > 256 * 1024)
        return 0;
    unsigned mode = (unsigned)(size % 8);
    kw_builder *b = NULL;
    kw_matcher *m = NULL;
    char err[256];
    if (kw_builder_new(&b, mode & 1, (mode & 2) ? fz_nfkc : NULL, NULL, NULL) != KW_OK)
        abort();
    err[0] = '\0';
    int rc = kw_builder_add_text(b, (const char *)data, size, "fuzz.txt", err, sizeof err);
    if (rc == KW_OK)
        rc = kw_matcher_build(&m, b, !(mode & 4), err, sizeof err);
    if (rc != KW_OK) {
        if (rc == KW_ENOMEM)
            abort(); /* inputs are small */
        if (!err[0] || strchr(err, '\n'))
            abort();
    } else {
        kw_stats st;
        kw_matcher_stats(m, &st);
        if (st.terms == 0 || st.terms > st.terms_read)
            abort();
        fz_check_text(m, fixed, sizeof fixed - 1);
        fz_check_text(m, (const char *)data, size);
    }
    kw_matcher_free(m);
    kw_builder_free(b);
    return 0;
}
