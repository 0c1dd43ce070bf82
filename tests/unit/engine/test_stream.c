/*
 * Streaming: the released text must not depend on where the chunks were split. For every
 * text, every split point and many random chunkings give exactly what weir_check gives for
 * the whole text (redacted text, or a block), and clean text flows with little held back.
 */
#include <stdlib.h>

#include "helpers.h"

static const char *const texts[] = {
    "Plain prose with nothing in it, just words and a year like 2024.",
    "Mail jane.doe@example.com and call +1 415 555 0132 before noon.",
    "My card is 4111 1111 1111 1111, why was it declined?",
    "Wire to DE89 3704 0044 0532 0130 00 today; ssn 078-05-1120 is on file.",
    "The key AKIAIOSFODNN7EXAMPLE leaked in the logs.",
    "She was born on 12/03/1985 in Lyon and moved in 2001.",
    "Caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9: write to jo\xe2\x80\x8bhn@example.com, \xef\xbc\x94\xef\xbc\x91"
    "\xef\xbc\x91\xef\xbc\x91 full-width digits are fine.",
    "e\xcc\x81 combining marks, na\xc3\xafve text and an email at the very end a@example.org",
    "jane@example.com",
    "x",
    "",
};
#define NTEXTS (sizeof texts / sizeof texts[0])

typedef struct want {
    int blocked;
    char *text;
    size_t len;
} want;

static void expected(const weir_policy *p, const char *t, want *w)
{
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, NULL, t, strlen(t), NULL), 0);
    w->blocked = weir_result_action(r) == WEIR_BLOCK;
    size_t n = 0;
    const char *red = weir_result_text(r, &n);
    if (!red) {
        red = t;
        n = strlen(t);
    }
    w->text = malloc(n + 1);
    memcpy(w->text, red, n);
    w->len = n;
    weir_result_free(r);
}

/* Streams t in the chunks given by cuts[0..ncuts) (increasing offsets) and compares. */
static void stream_and_compare(const weir_policy *p, const char *t, const size_t *cuts,
                               size_t ncuts, const want *w)
{
    size_t len = strlen(t);
    weir_stream *s = NULL;
    assert_int_equal(weir_stream_new(&s, p, NULL, 0, NULL), 0);
    char *got = malloc(len * 4 + 64);
    size_t glen = 0, at = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        const char *o;
        size_t olen;
        assert_int_equal(weir_stream_feed(s, t + at, end - at, &o, &olen, NULL), 0);
        memcpy(got + glen, o, olen);
        glen += olen;
        at = end;
    }
    const char *o;
    size_t olen;
    assert_int_equal(weir_stream_finish(s, &o, &olen, NULL), 0);
    memcpy(got + glen, o, olen);
    glen += olen;
    if (w->blocked) {
        if (weir_stream_action(s) != WEIR_BLOCK)
            fail_msg("stream of \"%s\" (%zu cuts, first %zu) was not blocked", t, ncuts,
                     ncuts ? cuts[0] : 0);
        assert_non_null(weir_stream_message(s));
    } else {
        if (weir_stream_action(s) == WEIR_BLOCK || glen != w->len ||
            memcmp(got, w->text, glen) != 0)
            fail_msg("stream of \"%s\" (%zu cuts, first %zu) released \"%.*s\", whole check "
                     "gives \"%.*s\"",
                     t, ncuts, ncuts ? cuts[0] : 0, (int)glen, got, (int)w->len, w->text);
        assert_int_equal(weir_stream_held(s), 0);
    }
    free(got);
    weir_stream_free(s);
}

static void test_every_split_point(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    assert_int_equal(weir_policy_load_default(&p, NULL), 0);
    for (size_t i = 0; i < NTEXTS; i++) {
        want w;
        expected(p, texts[i], &w);
        size_t len = strlen(texts[i]);
        for (size_t k = 0; k <= len; k++)
            stream_and_compare(p, texts[i], &k, 1, &w);
        /* one byte at a time */
        size_t *cuts = malloc((len + 1) * sizeof *cuts);
        for (size_t k = 0; k < len; k++)
            cuts[k] = k + 1;
        stream_and_compare(p, texts[i], cuts, len ? len - 1 : 0, &w);
        free(cuts);
        free(w.text);
    }
    weir_policy_unref(p);
}

static void test_random_chunkings(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    assert_int_equal(weir_policy_load_default(&p, NULL), 0);
    unsigned seed = 12345;
    for (size_t i = 0; i < NTEXTS; i++) {
        want w;
        expected(p, texts[i], &w);
        size_t len = strlen(texts[i]);
        size_t cuts[256];
        for (int round = 0; round < 300; round++) {
            size_t n = 0, at = 0;
            while (n < 255) {
                seed = seed * 1103515245u + 12345u;
                at += 1 + (seed >> 16) % 9;
                if (at >= len)
                    break;
                cuts[n++] = at;
            }
            stream_and_compare(p, texts[i], cuts, n, &w);
        }
        free(w.text);
    }
    weir_policy_unref(p);
}

/* Clean text is not held back beyond what a match could still need (a word or so). */
static void test_clean_text_flows(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    assert_int_equal(weir_policy_load_default(&p, NULL), 0);
    const char *t = "The quarterly report shows steady growth across all regions and teams, "
                    "with costs under control and a clear plan for the next year of work.";
    weir_stream *s = NULL;
    assert_int_equal(weir_stream_new(&s, p, NULL, 0, NULL), 0);
    size_t len = strlen(t), maxheld = 0, released = 0;
    for (size_t at = 0; at < len; at += 10) {
        size_t n = len - at < 10 ? len - at : 10;
        const char *o;
        size_t olen;
        assert_int_equal(weir_stream_feed(s, t + at, n, &o, &olen, NULL), 0);
        released += olen;
        if (weir_stream_held(s) > maxheld)
            maxheld = weir_stream_held(s);
    }
    assert_true(maxheld <= 24); /* the last word or two, never the text */
    assert_true(released + weir_stream_held(s) == len);
    weir_stream_free(s);
    weir_policy_unref(p);
}

/* Past the hold-back cap the policy's on_error decides: block by default. */
static void test_hold_cap(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: cap\nrules:\n"
                          "  - id: long\n    detect: { regex: 'BEGIN[^!]*END' }\n"
                          "    action: redact\n");
    weir_stream *s = NULL;
    assert_int_equal(weir_stream_new(&s, p, NULL, 64, NULL), 0);
    const char *o;
    size_t olen;
    assert_int_equal(weir_stream_feed(s, "BEGIN", 5, &o, &olen, NULL), 0);
    char filler[100];
    memset(filler, 'x', sizeof filler);
    assert_int_equal(weir_stream_feed(s, filler, sizeof filler, &o, &olen, NULL), 0);
    assert_int_equal(weir_stream_action(s), WEIR_BLOCK);
    assert_int_equal(olen, 0);
    weir_stream_free(s);
    weir_policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_random_chunkings),
        cmocka_unit_test(test_clean_text_flows),
        cmocka_unit_test(test_hold_cap),
    };
    return cmocka_run_group_tests_name("engine/stream", tests, NULL, NULL);
}
