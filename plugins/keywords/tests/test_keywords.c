/*
 * test_keywords.c - the keywords plugin through its descriptor, loaded with dlopen() as
 * weir loads it.   kw_test_keywords PATH/weir-keywords.so
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kw_test_host.h"

static const char *module_path;
static weir_plugin_host host_norm, host_plain;
static kwt_spans spans, spans2;

/* A detector from inline terms (a JSON array) plus extra config members. */
static void *make(const weir_plugin_host *h, const char *terms, const char *extra)
{
    char json[8192], err[512];
    void *inst = NULL;
    snprintf(json, sizeof json, "{\"terms\": %s%s%s}", terms, extra ? ", " : "",
             extra ? extra : "");
    int rc = kwt_create(h, json, &inst, NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "create %s: %s\n", json, err);
    assert_int_equal(rc, 0);
    assert_non_null(inst);
    return inst;
}

/* The findings of text as "a|b|c" (their text), compared with want. */
static void expect(const void *inst, const char *text, const char *want)
{
    char got[4096] = "";
    size_t at = 0;
    assert_int_equal(kwt_scan(inst, text, strlen(text), &spans), 0);
    for (size_t i = 0; i < spans.n; i++) {
        assert_true(spans.start[i] < spans.end[i]);
        assert_true(spans.end[i] <= strlen(text));
        if (i)
            assert_true(spans.start[i] >= spans.end[i - 1]); /* sorted, no overlap */
        at += (size_t)snprintf(got + at, sizeof got - at, "%s%.*s", i ? "|" : "",
                               (int)(spans.end[i] - spans.start[i]), text + spans.start[i]);
    }
    if (strcmp(got, want) != 0)
        fprintf(stderr, "text \"%s\": got \"%s\", want \"%s\"\n", text, got, want);
    assert_string_equal(got, want);
}

static void expect_error(const weir_plugin_host *h, const char *json, const char *n1,
                         const char *n2)
{
    char err[512];
    void *inst = NULL;
    int rc = kwt_create(h, json, &inst, NULL, err, sizeof err);
    if (rc == 0 || !strstr(err, n1) || (n2 && !strstr(err, n2)))
        fprintf(stderr, "config %s: rc %d, error \"%s\" (want \"%s\"%s%s)\n", json, rc, err, n1,
                n2 ? " and " : "", n2 ? n2 : "");
    assert_int_not_equal(rc, 0);
    assert_null(inst);
    assert_non_null(strstr(err, n1));
    if (n2)
        assert_non_null(strstr(err, n2));
    assert_null(strchr(err, '\n'));
    assert_int_equal(strncmp(err, "keywords: ", 10), 0);
}

static void test_descriptor(void **state)
{
    (void)state;
    assert_int_equal(kwt_plugin->abi_major, WEIR_PLUGIN_ABI_MAJOR);
    assert_int_equal(kwt_plugin->kind, WEIR_PLUGIN_DETECTOR);
    assert_string_equal(kwt_plugin->name, "keywords");
    assert_non_null(kwt_plugin->detector_create);
    assert_non_null(kwt_plugin->detector_scan);
    assert_non_null(kwt_plugin->detector_destroy);
    assert_non_null(kwt_plugin->detector_tail);
    assert_null(kwt_plugin->detector_scratch_new);
    assert_null(kwt_plugin->sink_create);
}

static void test_case_insensitive(void **state)
{
    (void)state;
    void *d = make(&host_norm, "[\"Project Falcon\", \"zürich\", \"Straße\", \"ΟΔΥΣΣΕΥΣ\", "
                               "\"İstanbul\"]", NULL);
    expect(d, "we discussed PROJECT FALCON today", "PROJECT FALCON");
    expect(d, "project falcon", "project falcon");
    expect(d, "pRoJeCt fAlCoN!", "pRoJeCt fAlCoN");
    expect(d, "ZÜRICH office", "ZÜRICH");
    expect(d, "Zürich", "Zürich");
    expect(d, "STRASSE and strasse and straße and STRAẞE", "STRASSE|strasse|straße|STRAẞE");
    expect(d, "οδυσσευς and Οδυσσευς", "οδυσσευς|Οδυσσευς"); /* final sigma folds */
    expect(d, "ISTANBUL, İSTANBUL, istanbul", "ISTANBUL|İSTANBUL|istanbul");
    /* exact spans: byte offsets of the scanned text */
    const char *t = "x ZÜRICH";
    assert_int_equal(kwt_scan(d, t, strlen(t), &spans), 0);
    assert_int_equal(spans.n, 1);
    assert_int_equal(spans.start[0], 2);
    assert_int_equal(spans.end[0], 9);
    kwt_plugin->detector_destroy(d);

    d = make(&host_norm, "[\"Falcon\"]", "\"case_sensitive\": true");
    expect(d, "falcon FALCON Falcon", "Falcon");
    kwt_plugin->detector_destroy(d);
}

static void test_whole_word(void **state)
{
    (void)state;
    void *d = make(&host_norm, "[\"falcon\", \"c++\", \"zürich\"]", NULL);
    expect(d, "falcons", "");
    expect(d, "falcon_x x_falcon", "");
    expect(d, "falcon9 9falcon", "");
    expect(d, "éfalcon falconé", "");
    expect(d, "ωfalcon falconж", "");
    expect(d, "falcon\xcc\x81", "");                /* a combining mark continues the word */
    expect(d, "falcon-x (falcon) falcon. «falcon»", "falcon|falcon|falcon|falcon");
    expect(d, "falcon", "falcon");
    expect(d, "zürichsee zürich", "zürich");
    expect(d, "C++ c++x c++. xc++", "C++|c++");
    kwt_plugin->detector_destroy(d);

    d = make(&host_norm, "[\"falcon\"]", "\"whole_word\": false");
    expect(d, "falcons 9falcon_", "falcon|falcon");
    kwt_plugin->detector_destroy(d);
}

static void test_non_word_edges(void **state)
{
    (void)state;
    void *d = make(&host_norm, "[\".NET\", \"#falcon\", \"(c)\"]", NULL);
    expect(d, "use .NET and #Falcon (C) 2024", ".NET|#Falcon|(C)");
    expect(d, "asp.net x#falcon (c)x", "");
    kwt_plugin->detector_destroy(d);
}

/* The root skips to likely word starts (kw_skip) unless some term starts with a
 * non-word character: both must find the same. */
static void test_skip_same(void **state)
{
    (void)state;
    static const char *const w[] = {"the", "Falcon", "falconry", "zürich", "Zürichsee", "x",
                                    "blue", "Heron", "new", "york", "city", "café", "c",
                                    "ab", "cd", "_ab", "9ab", "ΟΔΥΣΣΕΥΣ", "straße", "STRASSE"};
    static const char *const sep[] = {" ", "  ", ", ", ".\n", "\t", "-", "\xc2\xa0", "_"};
    const char *terms = "\"falcon\", \"blue heron\", \"zürich\", \"new york\", "
                        "\"new york city\", \"x\", \"ab\", \"c\", \"οδυσσευς\", "
                        "\"strasse\", \"café\"";
    char list[512];
    snprintf(list, sizeof list, "[%s]", terms);
    void *a = make(&host_norm, list, NULL);
    snprintf(list, sizeof list, "[%s, \"#zzqx\"]", terms);
    void *b = make(&host_norm, list, NULL);
    char *text = malloc(64 * 1024);
    size_t len = 0;
    uint32_t r = 1;
    while (len < 60 * 1024) {
        r = r * 1103515245u + 12345u;
        len += (size_t)sprintf(text + len, "%s%s", w[(r >> 16) % 20], sep[(r >> 8) % 8]);
    }
    assert_int_equal(kwt_scan(a, text, len, &spans), 0);
    assert_int_equal(kwt_scan(b, text, len, &spans2), 0);
    assert_true(spans.total > 1000);
    assert_int_equal(spans.total, spans2.total);
    assert_int_equal(spans.n, spans2.n);
    assert_memory_equal(spans.start, spans2.start, spans.n * sizeof *spans.start);
    assert_memory_equal(spans.end, spans2.end, spans.n * sizeof *spans.end);
    for (size_t k = 0; k < len; k += 997) {
        size_t ea, eb;
        kwt_plugin->detector_tail(a, NULL, text, k, 0, &ea);
        kwt_plugin->detector_tail(b, NULL, text, k, 0, &eb);
        assert_int_equal(ea, eb);
    }
    free(text);
    kwt_plugin->detector_destroy(a);
    kwt_plugin->detector_destroy(b);
}

static void test_leftmost_longest(void **state)
{
    (void)state;
    void *d = make(&host_norm, "[\"new york\", \"new york city\", \"york city hall\"]", NULL);
    expect(d, "new york city hall", "new york city");
    expect(d, "new york cityhall", "new york");
    expect(d, "in new york and york city hall", "new york|york city hall");
    kwt_plugin->detector_destroy(d);

    d = make(&host_norm, "[\"ab cd\", \"cd ef\", \"bar\", \"foo bar baz\", \"ab\", \"c\", "
                         "\"ab c d e\"]", NULL);
    expect(d, "ab cd ef", "ab cd");          /* overlapping: the leftmost wins */
    expect(d, "foo bar qux", "bar");          /* the long term fails, the inner one stays */
    expect(d, "ab c x", "ab|c");              /* both, though "ab c d e" was pending */
    expect(d, "ab c d e", "ab c d e");
    expect(d, "ab c d ex", "ab|c");
    kwt_plugin->detector_destroy(d);

    /* suffixes and repetitions without whole words */
    d = make(&host_norm, "[\"aa\", \"aaa\", \"ba\"]", "\"whole_word\": false");
    expect(d, "aaaaaaa", "aaa|aaa");
    expect(d, "baaa", "ba|aa");
    kwt_plugin->detector_destroy(d);
}

static void test_whitespace(void **state)
{
    (void)state;
    const char *ws = "project    falcon\nblue\tsky  \n";
    const char *path = kwt_write("ws.txt", ws, strlen(ws));
    char json[600];
    snprintf(json, sizeof json, "{\"terms_file\": \"%s\"}", path);
    char err[512];
    void *d = NULL;
    assert_int_equal(kwt_create(&host_plain, json, &d, NULL, err, sizeof err), 0);
    expect(d, "Project  Falcon", "Project  Falcon");
    expect(d, "Project\nFalcon", "Project\nFalcon");
    expect(d, "Project \t\r\n  Falcon", "Project \t\r\n  Falcon");
    expect(d, "Project\xc2\xa0\xe3\x80\x80" "Falcon", "Project\xc2\xa0\xe3\x80\x80" "Falcon");
    expect(d, "ProjectFalcon", "");
    expect(d, "blue sky, BLUE   SKY", "blue sky|BLUE   SKY");
    kwt_plugin->detector_destroy(d);
}

static void test_nfkc_terms(void **state)
{
    (void)state;
    /* a full-width term matches the ASCII text weir's normalization produces */
    void *d = make(&host_norm, "[\"ＦＡＬＣＯＮ\", \"ﬁnance\"]", NULL);
    expect(d, "Falcon finance", "Falcon|finance");
    kwt_plugin->detector_destroy(d);
    /* a host without normalize: terms are used as given */
    d = make(&host_plain, "[\"ＦＡＬＣＯＮ\"]", NULL);
    expect(d, "Falcon", "");
    expect(d, "ｆａｌｃｏｎ", "ｆａｌｃｏｎ"); /* but still folded */
    kwt_plugin->detector_destroy(d);
}

static int stop_emit(void *ctx, size_t s, size_t e)
{
    (void)s;
    (void)e;
    ++*(int *)ctx;
    return 7;
}

static void test_edges(void **state)
{
    (void)state;
    void *d = make(&host_norm, "[\"falcon\", \"héron\"]", NULL);
    assert_int_equal(kwt_scan(d, "", 0, &spans), 0);
    assert_int_equal(spans.total, 0);
    size_t e = 99;
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, "", 0, 0, &e), 0);
    assert_int_equal(e, 0);
    /* invalid UTF-8 neither crashes nor joins words; a term beside it is whole */
    expect(d, "fal\xff" "con \xc3" "falcon\xe2\x82 h\xc3\xa9ron\xf0", "falcon|héron");
    assert_int_equal(kwt_scan(d, "falcon\0falcon", 13, &spans), 0); /* NUL: not a word */
    assert_int_equal(spans.n, 2);
    assert_int_equal(spans.start[1], 7);
    /* an emit failure stops the scan and is returned */
    int calls = 0;
    const char *t = "falcon falcon falcon";
    assert_int_equal(kwt_plugin->detector_scan(d, NULL, t, strlen(t), stop_emit, &calls), 7);
    assert_int_equal(calls, 1);
    kwt_plugin->detector_destroy(d);
}

static void test_term_file_format(void **state)
{
    (void)state;
    const char data[] = "\xef\xbb\xbf" "# code names\r\n"
                        "Falcon\r\n"
                        "\r\n"
                        "   # indented comment\n"
                        "  Blue Heron  \r\n"
                        "\t\n"
                        "falcon\n"          /* a duplicate */
                        "#Osprey\n"
                        "KESTREL";          /* no final newline */
    const char *path = kwt_write("terms.txt", data, sizeof data - 1);
    char json[600], err[512];
    weir_detector_info info;
    void *d = NULL;
    snprintf(json, sizeof json, "{\"terms_file\": \"%s\", \"label\": \"CODENAME\", "
             "\"entity\": \"PROJECT_NAME\"}", path);
    assert_int_equal(kwt_create(&host_norm, json, &d, &info, err, sizeof err), 0);
    expect(d, "falcon blue heron osprey #osprey kestrel code names", "falcon|blue heron|kestrel");
    assert_string_equal(info.entity, "PROJECT_NAME");
    assert_string_equal(info.label, "CODENAME");
    assert_int_equal(info.max_match_len, 0); /* "blue heron" matches any whitespace run */
    assert_non_null(strstr(kwt_last_log(), "4 terms (3 distinct)"));
    kwt_plugin->detector_destroy(d);

    /* relative to base_dir, combined with inline terms; defaults; a bound without spaces */
    weir_plugin_host h;
    kwt_host(&h, 1, kwt_tmpdir());
    kwt_write("rel.txt", "zürich\n", 8);
    assert_int_equal(kwt_create(&h, "{\"terms_file\": \"rel.txt\", \"terms\": [\"Bern\"]}", &d,
                                &info, err, sizeof err), 0);
    expect(d, "Zürich, BERN", "Zürich|BERN");
    assert_string_equal(info.entity, "KEYWORD");
    assert_string_equal(info.label, "KEYWORD");
    assert_int_equal(info.max_match_len, 6 * 4);
    kwt_plugin->detector_destroy(d);
}

static void test_config_errors(void **state)
{
    (void)state;
    weir_plugin_host h;
    kwt_host(&h, 1, kwt_tmpdir());
    char json[1024], big[400];
    kwt_write("ok.txt", "falcon\n", 7);

    expect_error(&h, "{}", "terms_file", NULL);
    expect_error(&h, "{\"terms\": []}", "terms_file", NULL);
    expect_error(&h, "{\"terms_file\": \"missing.txt\"}", "cannot open", "missing.txt");
    expect_error(&h, "{\"terms_file\": \".\"}", "not a regular file", NULL);
    expect_error(&h, "{\"terms_file\": \"ok.txt\", \"colour\": 1}", "unknown config key 'colour'",
                 NULL);
    expect_error(&h, "{\"terms_file\": \"ok.txt\", \"whole_word\": \"yes\"}", "'whole_word'",
                 "true or false");
    expect_error(&h, "{\"terms_file\": \"ok.txt\", \"case_sensitive\": 1}", "'case_sensitive'",
                 NULL);
    expect_error(&h, "{\"terms_file\": 3}", "'terms_file'", NULL);
    expect_error(&h, "{\"terms_file\": \"ok.txt\", \"label\": \"\"}", "'label'", NULL);
    expect_error(&h, "{\"terms\": \"falcon\"}", "'terms' must be a list", NULL);
    expect_error(&h, "{\"terms\": [\"a\", 1]}", "terms[1]", "string");
    expect_error(&h, "{\"terms\": [\"a\", \"  \"]}", "terms[1]", "empty");
    expect_error(&h, "{\"terms\": ", "not valid JSON", NULL);
    expect_error(&h, "[1]", "mapping", NULL);

    memset(big, 'a', 300);
    big[300] = '\0';
    snprintf(json, sizeof json, "ok\n# c\n%s\n", big);
    kwt_write("long.txt", json, strlen(json));
    expect_error(&h, "{\"terms_file\": \"long.txt\"}", "long.txt:3:", "limit is 256");
    /* 256 bytes is fine */
    big[256] = '\0';
    snprintf(json, sizeof json, "{\"terms\": [\"%s\"]}", big);
    void *d = NULL;
    char err[512];
    assert_int_equal(kwt_create(&h, json, &d, NULL, err, sizeof err), 0);
    kwt_plugin->detector_destroy(d);
    /* folding counts: 129 x U+023A (2 bytes) folds to 129 x U+2C65 (3 bytes) */
    char *s = json;
    s += sprintf(s, "{\"terms\": [\"");
    for (int i = 0; i < 100; i++)
        s += sprintf(s, "\xc8\xba");
    sprintf(s, "\"]}");
    expect_error(&h, json, "terms[0]", "300 bytes");

    kwt_write("bad.txt", "falcon\nhe\xc3(ron\n", 15);
    expect_error(&h, "{\"terms_file\": \"bad.txt\"}", "bad.txt:2:", "invalid UTF-8");
    kwt_write("empty.txt", "# nothing\n\n   \n", 15);
    expect_error(&h, "{\"terms_file\": \"empty.txt\"}", "empty", "empty.txt");
    kwt_write("zero.txt", "", 0);
    expect_error(&h, "{\"terms_file\": \"zero.txt\"}", "empty", NULL);
}

/* ---------------------------------------------------------------- streaming tail */

static int same_before(const kwt_spans *a, const kwt_spans *b, size_t lim)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->n && a->start[i] >= lim)
            i++;
        while (j < b->n && b->start[j] >= lim)
            j++;
        if (i == a->n || j == b->n)
            return i == a->n && j == b->n;
        if (a->start[i] != b->start[j] || a->end[i] != b->end[j])
            return 0;
        i++;
        j++;
    }
}

/* For every split point: what the prefix decides before its tail is what the whole text
 * decides there, and the tail never passes the prefix's end. */
static void tail_property(const void *d, const char *t)
{
    size_t n = strlen(t);
    assert_int_equal(kwt_scan(d, t, n, &spans), 0);
    for (size_t k = 0; k <= n; k++) {
        size_t e = 0, e2 = 0;
        assert_int_equal(kwt_scan(d, t, k, &spans2), 0);
        assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, k, 0, &e), 0);
        assert_true(e <= k);
        if (!same_before(&spans, &spans2, e)) {
            fprintf(stderr, "tail lies: \"%s\" split at %zu, tail %zu\n", t, k, e);
            fail();
        }
        for (size_t from = 0; from <= k; from += 5) {
            assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, k, from, &e2), 0);
            assert_int_equal(e2, e > from ? e : from);
        }
    }
}

static const char *const tail_texts[] = {
    "new york city hall and new yorkers in york. new  york\ncity",
    "ab c x ab c d e ab c d ab c d ex",
    "ZÜRICH STRASSE zürichsee Straße! STRAẞE strasse",
    "Project  \n Falcon project falcons falcon_ falcon, project",
    "I like C++ and c+++ and c, c++",
    "aaaaaaa baaa aa",
};

static void test_tail(void **state)
{
    (void)state;
    const char *terms = "[\"new york\", \"new york city\", \"york\", \"ab\", \"c\", \"ab c d e\", "
                        "\"zürich\", \"straße\", \"falcon\", \"project falcon\", \"c++\", "
                        "\"aa\", \"aaa\", \"ba\"]";
    void *d = make(&host_norm, terms, NULL);
    void *loose = make(&host_norm, terms, "\"whole_word\": false");
    for (size_t i = 0; i < sizeof tail_texts / sizeof *tail_texts; i++) {
        tail_property(d, tail_texts[i]);
        tail_property(loose, tail_texts[i]);
    }
    /* what is held back */
    size_t e;
    const char *t = "we saw new yo";
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, 7);
    t = "we saw new york";  /* "new yorkers" or "new york city" may follow */
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, 7);
    t = "we saw new   ";
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, 7);
    t = "we saw nothing. ";
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, strlen(t));
    t = "new york.";
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, strlen(t));
    t = "Z\xc3";          /* a cut character */
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, 0);
    t = "xyz \xc3";
    assert_int_equal(kwt_plugin->detector_tail(d, NULL, t, strlen(t), 0, &e), 0);
    assert_int_equal(e, 4);
    kwt_plugin->detector_destroy(d);
    kwt_plugin->detector_destroy(loose);
}

/* ---------------------------------------------------------------- 50,000 terms */

#define NBIG 50000

static const char *const syl[] = {"ka", "zu", "mir", "tor", "vel", "xan", "qui", "dro", "pen",
                                  "lo",  "ra", "ny",  "bex", "sol", "tri", "gar", "fen", "ul"};

/* Term i: 1-3 words, unique (the last word carries i in letters), mixed case. */
static size_t big_term(size_t i, char *out)
{
    uint64_t r = i * 2654435761u + 12345;
    size_t words = 1 + r % 3, o = 0;
    for (size_t w = 0; w < words; w++) {
        if (w)
            out[o++] = ' ';
        size_t ns = 1 + (r >> 8) % 2;
        for (size_t s = 0; s < ns; s++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const char *x = syl[(r >> 33) % (sizeof syl / sizeof *syl)];
            size_t l = strlen(x);
            memcpy(out + o, x, l);
            o += l;
        }
    }
    for (size_t v = i + 1; v; v /= 26)
        out[o++] = (char)('a' + v % 26);
    for (size_t k = 0; k < o; k++)
        if (((r >> (k % 60)) & 1) && out[k] >= 'a' && out[k] <= 'z')
            out[k] = (char)(out[k] - 32);
    out[o] = '\0';
    return o;
}

typedef struct big_check {
    const size_t *start, *end;
    size_t n, bad;
} big_check;

static int big_emit(void *ctx, size_t s, size_t e)
{
    big_check *c = ctx;
    if (c->n >= NBIG || c->start[c->n] != s || c->end[c->n] != e)
        c->bad++;
    c->n++;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_50000_terms(void **state)
{
    (void)state;
    char *file = malloc((size_t)NBIG * 64), *text = malloc((size_t)NBIG * 70);
    size_t *st = malloc(NBIG * sizeof *st), *en = malloc(NBIG * sizeof *en);
    assert_non_null(file);
    assert_non_null(text);
    size_t fo = 0, to = 0;
    for (size_t i = 0; i < NBIG; i++) {
        char term[64];
        size_t l = big_term(i, term);
        memcpy(file + fo, term, l);
        fo += l;
        file[fo++] = '\n';
        to += (size_t)sprintf(text + to, "%s", i % 7 ? "; " : ", see ");
        st[i] = to;
        for (size_t k = 0; k < l; k++) /* the text flips the case of every letter */
            text[to + k] = (char)((term[k] >= 'a' && term[k] <= 'z') ? term[k] - 32
                                  : (term[k] >= 'A' && term[k] <= 'Z') ? term[k] + 32 : term[k]);
        to += l;
        en[i] = to;
    }
    const char *path = kwt_write("big.txt", file, fo);
    char json[600], err[512];
    snprintf(json, sizeof json, "{\"terms_file\": \"%s\"}", path);
    void *d = NULL;
    weir_detector_info info;
    double t0 = now();
    assert_int_equal(kwt_create(&host_norm, json, &d, &info, err, sizeof err), 0);
    double t1 = now();
    big_check c = {st, en, 0, 0};
    assert_int_equal(kwt_plugin->detector_scan(d, NULL, text, to, big_emit, &c), 0);
    double t2 = now();
    fprintf(stderr, "50000 terms: build %.3f s, scan of %zu bytes %.3f s (%s)\n", t1 - t0, to,
            t2 - t1, kwt_last_log());
    assert_int_equal(c.n, NBIG);
    assert_int_equal(c.bad, 0);
    assert_true(t1 - t0 < 30.0); /* generous: sanitizers and a shared machine */
    kwt_plugin->detector_destroy(d);
    free(file);
    free(text);
    free(st);
    free(en);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s weir-keywords.so\n", argv[0]);
        return 2;
    }
    module_path = argv[1];
    if (kwt_load(module_path))
        return 1;
    kwt_host(&host_norm, 1, NULL);
    kwt_host(&host_plain, 0, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_whole_word),
        cmocka_unit_test(test_non_word_edges),
        cmocka_unit_test(test_skip_same),
        cmocka_unit_test(test_leftmost_longest),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_nfkc_terms),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_term_file_format),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_50000_terms),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    kwt_cleanup();
    kwt_unload();
    return rc;
}
