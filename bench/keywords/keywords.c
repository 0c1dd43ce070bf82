/*
 * bench/keywords: the keywords plugin against one PCRE2 alternation of the same terms.
 *
 *   bench_keywords [PLUGIN.so [seconds-per-case]]
 *
 * For 50, 5,000 and 50,000 generated terms (made-up project and code names, 1-3 words,
 * mixed case) it measures, over ~1 MiB of generated prose with the terms sprinkled in
 * (in varying case):
 *   - the plugin through its descriptor, as weir calls it (dlopen, detector_create from a
 *     terms_file, detector_scan): build time, automaton memory, MB/s, findings;
 *   - one PCRE2 regex (?<![\p{L}\p{N}_])(?:t1|t2|...)(?![\p{L}\p{N}_]) with
 *     PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, JIT-compiled, terms escaped and ordered
 *     longest first (so the first alternative that matches is the longest): compile + JIT
 *     time, compiled + JIT size, MB/s, matches.
 * Both must report exactly the same spans; the program aborts when they do not. When PCRE2
 * refuses the pattern (a build with LINK_SIZE 2 caps a compiled pattern at 64 KiB), the
 * terms are split into the fewest alternations that compile, all scanned, and their
 * matches merged leftmost-longest (what a policy would need: several custom regexes).
 * Prints a markdown table.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <dlfcn.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weir/plugin.h"

#ifndef KW_PLUGIN_PATH
#define KW_PLUGIN_PATH "weir-keywords.so"
#endif

#define TEXT_BYTES (1024 * 1024)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

/* ---------------------------------------------------------------- terms */

static const char *const adj[] = {
    "Silent", "Blue", "Iron", "Golden", "Hidden", "Crimson", "Swift", "Northern", "Polar",
    "Quantum", "Silver", "Dark", "Bright", "Lunar", "Solar", "Arctic", "Emerald", "Amber",
    "Obsidian", "Scarlet", "Cobalt", "Velvet", "Granite", "Misty", "Electric", "Frozen",
    "Wild", "Hollow", "Azure", "Copper"};
static const char *const noun[] = {
    "Falcon", "Heron", "Kestrel", "Osprey", "Harbor", "Summit", "Anvil", "Beacon", "Cascade",
    "Delta", "Ember", "Fjord", "Glacier", "Horizon", "Juniper", "Lantern", "Meridian",
    "Nebula", "Orchid", "Pinnacle", "Quarry", "Raven", "Sparrow", "Tundra", "Vortex",
    "Willow", "Zephyr", "Citadel", "Monsoon", "Atlas"};
static const char *const lead[] = {"Project", "Operation", "Codename", "Initiative", "Program"};
static const char *const syl[] = {
    "ka", "zor", "vel", "mir", "tan", "dro", "qui", "lex", "ny", "bra", "sol", "tri", "gar",
    "fen", "ul", "ox", "pra", "den", "is", "ro", "mak", "thu", "vin", "eld", "sy", "cor",
    "wen", "jax", "lum", "pho"};

#define N(a) (sizeof a / sizeof *a)

static size_t made_up(char *o)
{
    size_t n = 2 + rnd() % 3, l = 0;
    for (size_t i = 0; i < n; i++)
        l += (size_t)sprintf(o + l, "%s", syl[rnd() % N(syl)]);
    return l;
}

static void recase(char *s)
{
    uint32_t how = rnd() % 8;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
        int first = i == 0 || s[i - 1] == ' ';
        if (how < 4) /* Title Case */
            s[i] = (char)(first && lower ? c - 32 : !first && upper ? c + 32 : c);
        else if (how < 6) /* as built */
            continue;
        else if (how == 6 && lower)
            s[i] = (char)(c - 32);
        else if (how == 7 && upper)
            s[i] = (char)(c + 32);
    }
}

static void one_term(char *o)
{
    size_t l = 0;
    switch (rnd() % 6) {
    case 0:
    case 1:
        l = made_up(o);
        break;
    case 2:
        l = (size_t)sprintf(o, "%s %s", adj[rnd() % N(adj)], noun[rnd() % N(noun)]);
        if (rnd() % 2)
            l += (size_t)sprintf(o + l, " %u", rnd() % 20);
        break;
    case 3:
        l = (size_t)sprintf(o, "%s ", lead[rnd() % N(lead)]);
        l += made_up(o + l);
        break;
    case 4:
        l = made_up(o);
        l += (size_t)sprintf(o + l, " %s", noun[rnd() % N(noun)]);
        break;
    default:
        l = (size_t)sprintf(o, "%s %s ", lead[rnd() % N(lead)], adj[rnd() % N(adj)]);
        l += made_up(o + l);
        break;
    }
    o[l] = '\0';
    recase(o);
}

/* open addressing over lower-cased terms */
typedef struct set {
    char **v;
    size_t cap;
} set;

static uint64_t hash_lower(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 1099511628211ull;
    }
    return h;
}

static int eq_lower(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a, y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int set_add(set *s, char *t)
{
    size_t i = hash_lower(t) & (s->cap - 1);
    while (s->v[i]) {
        if (eq_lower(s->v[i], t))
            return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->v[i] = t;
    return 1;
}

static char **make_terms(size_t n)
{
    char **t = calloc(n, sizeof *t);
    size_t cap = 1;
    while (cap < n * 4)
        cap *= 2;
    set s = {calloc(cap, sizeof(char *)), cap};
    for (size_t k = 0; k < n;) {
        char buf[128];
        one_term(buf);
        t[k] = strdup(buf);
        if (set_add(&s, t[k]))
            k++;
        else
            free(t[k]);
    }
    free(s.v);
    return t;
}

/* ---------------------------------------------------------------- prose */

static const char *const words[] = {
    "the", "team", "reviewed", "quarterly", "report", "and", "agreed", "that", "our",
    "customers", "need", "a", "clearer", "plan", "for", "migration", "of", "the", "database",
    "cluster", "before", "next", "release", "we", "should", "draft", "summary", "with",
    "budget", "risks", "timeline", "is", "on", "track", "although", "latency", "in", "region",
    "remains", "higher", "than", "expected", "please", "compare", "options", "explain",
    "why", "deployment", "took", "longer", "engineers", "asked", "about", "access", "rules",
    "policy", "service", "requests", "approximately", "users", "it", "was", "to", "by",
    "from", "meeting", "notes", "café", "naïve", "Zürich", "résumé", "2024", "v2", "15",
    "decision", "owner", "status", "update", "internal", "only", "draft", "version"};

static char *make_text(char **terms, size_t nterms, size_t *len)
{
    char *t = malloc(TEXT_BYTES + 256);
    size_t o = 0, in_sentence = 0, sentence_len = 8 + rnd() % 12;
    while (o < TEXT_BYTES) {
        char w[160];
        if (rnd() % 40 == 0) {
            snprintf(w, sizeof w, "%s", terms[rnd() % nterms]);
            recase(w);
        } else {
            snprintf(w, sizeof w, "%s", words[rnd() % N(words)]);
        }
        if (in_sentence == 0 && w[0] >= 'a' && w[0] <= 'z')
            w[0] = (char)(w[0] - 32);
        o += (size_t)sprintf(t + o, "%s%s", in_sentence ? " " : "", w);
        if (++in_sentence == sentence_len) {
            o += (size_t)sprintf(t + o, "%s", rnd() % 4 ? ". " : ".\n");
            in_sentence = 0;
            sentence_len = 8 + rnd() % 12;
        }
    }
    *len = o;
    return t;
}

/* ---------------------------------------------------------------- spans */

typedef struct spans {
    size_t n, cap;
    size_t *s, *e;
} spans;

static int spans_add(void *ctx, size_t s, size_t e)
{
    spans *x = ctx;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 1024;
        x->s = realloc(x->s, x->cap * sizeof *x->s);
        x->e = realloc(x->e, x->cap * sizeof *x->e);
        if (!x->s || !x->e)
            return 1;
    }
    x->s[x->n] = s;
    x->e[x->n] = e;
    x->n++;
    return 0;
}

static int count_emit(void *ctx, size_t s, size_t e)
{
    (void)s;
    (void)e;
    ++*(size_t *)ctx;
    return 0;
}

/* ---------------------------------------------------------------- the plugin */

static const weir_plugin *plugin;
static size_t log_kib;

static void host_log(void *ctx, weir_plugin_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    const char *k = strstr(msg, " states, ");
    if (k)
        log_kib = strtoul(k + 9, NULL, 10);
}

typedef struct result {
    double build_s, mbps;
    size_t bytes, found;
    int ok;
    char note[512];
} result;

static void run_plugin(char **terms, size_t n, const char *text, size_t len, double secs,
                       spans *out, result *r)
{
    char path[] = "/tmp/bench_keywords.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", terms[i]);
    fclose(f);

    weir_plugin_host h;
    memset(&h, 0, sizeof h);
    h.abi_major = WEIR_PLUGIN_ABI_MAJOR;
    h.struct_size = sizeof h;
    h.log = host_log;
    weir_detector_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    char json[256], err[512];
    snprintf(json, sizeof json, "{\"terms_file\": \"%s\"}", path);
    void *inst = NULL;
    double t0 = now();
    if (plugin->detector_create(&h, json, strlen(json), &inst, &info, err, sizeof err)) {
        fprintf(stderr, "detector_create: %s\n", err);
        exit(1);
    }
    r->build_s = now() - t0;
    unlink(path);
    r->bytes = log_kib * 1024;

    if (plugin->detector_scan(inst, NULL, text, len, spans_add, out)) {
        fprintf(stderr, "detector_scan failed\n");
        exit(1);
    }
    size_t iters = 0, found = 0;
    t0 = now();
    double el;
    do {
        found = 0;
        plugin->detector_scan(inst, NULL, text, len, count_emit, &found);
        iters++;
    } while ((el = now() - t0) < secs);
    r->mbps = (double)len * (double)iters / el / 1e6;
    r->found = found;
    r->ok = 1;
    plugin->detector_destroy(inst);
}

/* ---------------------------------------------------------------- PCRE2 */

static int by_len_desc(const void *a, const void *b)
{
    size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
    return x < y ? 1 : x > y ? -1 : strcmp(*(char *const *)a, *(char *const *)b);
}

static char *alternation(char **t, size_t n)
{
    size_t cap = 64;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(t[i]) + 1;
    char *p = malloc(cap), *o = p;
    o += sprintf(o, "(?<![\\p{L}\\p{N}_])(?:");
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = '|';
        for (const char *c = t[i]; *c; c++) {
            if (strchr("\\^$.|?*+()[]{}#-", *c))
                *o++ = '\\';
            *o++ = *c;
        }
    }
    sprintf(o, ")(?![\\p{L}\\p{N}_])");
    return p;
}

static pcre2_code *compile(char **t, size_t n, int *errcode)
{
    char *pat = alternation(t, n);
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS |
                                      PCRE2_NEVER_BACKSLASH_C,
                                  errcode, &off, NULL);
    free(pat);
    if (c)
        pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    return c;
}

/* All matches of one regex, left to right. */
static int pcre_all(pcre2_code *c, pcre2_match_data *md, const char *text, size_t len,
                    spans *out)
{
    PCRE2_SIZE at = 0;
    for (;;) {
        int rc = pcre2_match(c, (PCRE2_SPTR)text, len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            return 0;
        if (rc < 0)
            return rc;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (out && spans_add(out, ov[0], ov[1]))
            return -1;
        at = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
}

/* Leftmost-longest merge of several regexes' matches (each sorted). */
static void merge(spans *parts, size_t np, spans *out)
{
    spans all = {0};
    for (size_t i = 0; i < np; i++)
        for (size_t k = 0; k < parts[i].n; k++)
            spans_add(&all, parts[i].s[k], parts[i].e[k]);
    /* sort by start, then longest first */
    for (size_t i = 1; i < all.n; i++) {
        size_t s = all.s[i], e = all.e[i], j = i;
        while (j > 0 && (all.s[j - 1] > s || (all.s[j - 1] == s && all.e[j - 1] < e))) {
            all.s[j] = all.s[j - 1];
            all.e[j] = all.e[j - 1];
            j--;
        }
        all.s[j] = s;
        all.e[j] = e;
    }
    size_t end = 0;
    for (size_t i = 0; i < all.n; i++)
        if (all.s[i] >= end) {
            spans_add(out, all.s[i], all.e[i]);
            end = all.e[i];
        }
    free(all.s);
    free(all.e);
}

static void run_pcre(char **terms, size_t n, const char *text, size_t len, double secs,
                     spans *out, result *r)
{
    char **t = malloc(n * sizeof *t);
    memcpy(t, terms, n * sizeof *t);
    qsort(t, n, sizeof *t, by_len_desc);

    /* one regex if PCRE2 takes it, else the fewest equal parts that compile */
    size_t parts = 1;
    pcre2_code **codes = NULL;
    double t0 = now();
    for (;;) {
        codes = calloc(parts, sizeof *codes);
        int ok = 1, errcode = 0;
        for (size_t p = 0; p < parts && ok; p++) {
            /* interleave so every part keeps its own longest-first order */
            size_t cnt = 0;
            char **sub = malloc((n / parts + 1) * sizeof *sub);
            for (size_t i = p; i < n; i += parts)
                sub[cnt++] = t[i];
            codes[p] = compile(sub, cnt, &errcode);
            free(sub);
            ok = codes[p] != NULL;
        }
        if (ok)
            break;
        if (parts == 1) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            snprintf(r->note, sizeof r->note, "one regex: \"%s\"", (char *)msg);
        }
        for (size_t p = 0; p < parts; p++)
            pcre2_code_free(codes[p]);
        free(codes);
        parts *= 2;
    }
    r->build_s = now() - t0;
    r->bytes = 0;
    for (size_t p = 0; p < parts; p++) {
        size_t sz = 0, jsz = 0;
        pcre2_pattern_info(codes[p], PCRE2_INFO_SIZE, &sz);
        pcre2_pattern_info(codes[p], PCRE2_INFO_JITSIZE, &jsz);
        r->bytes += sz + jsz;
    }
    if (parts > 1) {
        size_t l = strlen(r->note);
        snprintf(r->note + l, sizeof r->note - l, "%s%zu regexes, merged", l ? "; " : "",
                 parts);
    }

    /* the text is valid UTF-8 (weir's normalized text is): check it once, as weir does */
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (pcre2_match(codes[0], (PCRE2_SPTR)text, len, 0, 0, md, NULL) < PCRE2_ERROR_NOMATCH) {
        fprintf(stderr, "the text is not valid UTF-8\n");
        exit(1);
    }
    spans *ps = calloc(parts, sizeof *ps);
    for (size_t p = 0; p < parts; p++)
        if (pcre_all(codes[p], md, text, len, &ps[p])) {
            fprintf(stderr, "pcre2_match failed\n");
            exit(1);
        }
    if (parts == 1)
        *out = ps[0];
    else
        merge(ps, parts, out);

    size_t iters = 0;
    double el;
    t0 = now();
    do {
        for (size_t p = 0; p < parts; p++)
            pcre_all(codes[p], md, text, len, NULL);
        iters++;
    } while ((el = now() - t0) < secs);
    r->mbps = (double)len * (double)iters / el / 1e6;
    r->found = out->n;
    r->ok = 1;
    for (size_t p = 0; p < parts; p++) {
        if (parts > 1) {
            free(ps[p].s);
            free(ps[p].e);
        }
        pcre2_code_free(codes[p]);
    }
    free(ps);
    free(codes);
    pcre2_match_data_free(md);
    free(t);
}

static void agree(const spans *a, const spans *b, const char *text, size_t n)
{
    size_t i = 0;
    while (i < a->n && i < b->n && a->s[i] == b->s[i] && a->e[i] == b->e[i])
        i++;
    if (i == a->n && i == b->n)
        return;
    fprintf(stderr, "%zu terms: findings differ at #%zu:\n", n, i);
    if (i < a->n)
        fprintf(stderr, "  plugin: [%zu,%zu) \"%.*s\"\n", a->s[i], a->e[i],
                (int)(a->e[i] - a->s[i]), text + a->s[i]);
    if (i < b->n)
        fprintf(stderr, "  pcre2:  [%zu,%zu) \"%.*s\"\n", b->s[i], b->e[i],
                (int)(b->e[i] - b->s[i]), text + b->s[i]);
    abort();
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : KW_PLUGIN_PATH;
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    void *sym = dlsym(dl, WEIR_PLUGIN_ENTRY_SYMBOL);
    weir_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    plugin = entry();

    static const size_t sizes[] = {50, 5000, 50000};
    printf("| terms | engine | build | memory | scan MB/s | findings | note |\n");
    printf("|---:|---|---:|---:|---:|---:|---|\n");
    for (size_t k = 0; k < N(sizes); k++) {
        size_t n = sizes[k], len;
        rng = 0x9E3779B97F4A7C15ull + n;
        char **terms = make_terms(n);
        char *text = make_text(terms, n, &len);
        spans a = {0}, b = {0};
        result ra = {0}, rb = {0};
        run_plugin(terms, n, text, len, secs, &a, &ra);
        run_pcre(terms, n, text, len, secs, &b, &rb);
        agree(&a, &b, text, n);
        printf("| %zu | keywords plugin | %.1f ms | %.0f KiB | %.0f | %zu | %s |\n", n,
               ra.build_s * 1e3, (double)ra.bytes / 1024.0, ra.mbps, ra.found,
               "same spans as PCRE2");
        printf("| %zu | PCRE2 alternation (JIT) | %.1f ms | %.0f KiB | %.1f | %zu | %s |\n", n,
               rb.build_s * 1e3, (double)rb.bytes / 1024.0, rb.mbps, rb.found, rb.note);
        fflush(stdout);
        for (size_t i = 0; i < n; i++)
            free(terms[i]);
        free(terms);
        free(text);
        free(a.s);
        free(a.e);
        free(b.s);
        free(b.e);
    }
    printf("\ntext: %d KiB of generated prose, one term every ~40 words; %.1f s per case\n",
           TEXT_BYTES / 1024, secs);
    dlclose(dl);
    return 0;
}
