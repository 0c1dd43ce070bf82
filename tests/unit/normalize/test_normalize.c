/*
 * wr_normalize / wr_norm_span: identity fast path, NFKC, invisible characters, confusables,
 * invalid UTF-8, and the offset map, checked exactly on examples and as properties on
 * random input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>
#include <utf8proc.h>

#include "scan/normalize.h"
#include "scan/scan.h"

#define ALL WR_NORM_DEFAULT

/* ----------------------------------------------------------------- helpers */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* 1 when s[0..n) is valid UTF-8 per utf8proc (no surrogates, overlongs, > U+10FFFF). */
static int valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0 || c < 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

/* Every promise of scan.h about one result. */
static void check_invariants(const wr_norm *n, const char *in, size_t len)
{
    if (n->identity) {
        assert_ptr_equal(n->text, in);
        assert_int_equal(n->len, len);
        assert_null(n->map);
        assert_null(n->owned);
        assert_true(valid_utf8(n->text, n->len));
        return;
    }
    assert_non_null(n->text);
    assert_non_null(n->map);
    assert_ptr_equal(n->text, n->owned);
    assert_int_equal(n->text[n->len], '\0');
    assert_true(valid_utf8(n->text, n->len));
    assert_int_equal(n->map[n->len], len);
    for (size_t i = 0; i < n->len; i++) {
        assert_true(n->map[i] <= n->map[i + 1]);
        assert_true(n->map[i] < len);
        /* all bytes of one output character come from the same source */
        if (((unsigned char)n->text[i] & 0xC0) == 0x80)
            assert_int_equal(n->map[i], n->map[i - 1]);
    }
}

/* Normalizes a NUL-terminated string, checks invariants and the expected text. */
static void expect_norm(wr_norm *n, const char *in, unsigned flags, const char *want)
{
    size_t len = strlen(in);
    assert_int_equal(wr_normalize(n, in, len, flags), 0);
    check_invariants(n, in, len);
    assert_int_equal(n->len, strlen(want));
    assert_memory_equal(n->text, want, n->len);
}

static void expect_map(const wr_norm *n, const uint32_t *want, size_t count)
{
    assert_non_null(n->map);
    assert_int_equal(n->len + 1, count);
    for (size_t i = 0; i < count; i++) {
        if (n->map[i] != want[i])
            fail_msg("map[%zu] = %u, want %u", i, n->map[i], want[i]);
    }
}

static void expect_span(const wr_norm *n, size_t ns, size_t ne, size_t os, size_t oe)
{
    size_t a = 999, b = 999;
    wr_norm_span(n, ns, ne, &a, &b);
    if (a != os || b != oe)
        fail_msg("span [%zu,%zu) -> [%zu,%zu), want [%zu,%zu)", ns, ne, a, b, os, oe);
}

static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

/* ----------------------------------------------------------------- identity */

static void test_ascii_identity(void **state)
{
    (void)state;
    static const char *const samples[] = {
        "", "a", "hello world", "John Smith, 078-05-1120, john@example.com\n\t\x01\x7f",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefXYZ",
    };
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        for (unsigned flags = 0; flags <= ALL; flags++) {
            wr_norm n;
            size_t before = heap_in_use();
            assert_int_equal(wr_normalize(&n, samples[s], strlen(samples[s]), flags), 0);
            assert_int_equal(heap_in_use(), before); /* no allocation at all */
            assert_int_equal(n.identity, 1);
            assert_ptr_equal(n.text, samples[s]);
            assert_int_equal(n.len, strlen(samples[s]));
            assert_null(n.map);
            assert_null(n.owned);
            expect_span(&n, 1, 3, n.len >= 3 ? 1 : n.len, n.len >= 3 ? 3 : n.len);
            wr_norm_free(&n);
        }
    }
    /* a long ASCII buffer that is not NUL-terminated, with every length around the SIMD
     * block sizes; then one non-ASCII byte at every position must be found */
    char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(' ' + i % 90);
    for (size_t len = 0; len <= sizeof buf; len++) {
        wr_norm n;
        assert_int_equal(wr_normalize(&n, buf, len, ALL), 0);
        assert_int_equal(n.identity, 1);
        wr_norm_free(&n);
    }
    for (size_t pos = 0; pos < sizeof buf; pos++) {
        char save = buf[pos];
        buf[pos] = (char)0xFF;
        wr_norm n;
        assert_int_equal(wr_normalize(&n, buf, sizeof buf, 0), 0);
        assert_int_equal(n.identity, 0);
        check_invariants(&n, buf, sizeof buf);
        assert_int_equal(n.len, sizeof buf + 2);
        assert_memory_equal(n.text + pos, "\xEF\xBF\xBD", 3);
        assert_int_equal(n.map[pos], pos);
        assert_int_equal(n.map[pos + 3], pos + 1);
        wr_norm_free(&n);
        buf[pos] = save;
    }
}

static void test_unchanged_unicode_is_identity(void **state)
{
    (void)state;
    /* valid UTF-8 that no flag changes: identity, and nothing allocated */
    static const char *const samples[] = {
        "日本語のテキスト", "naïve café résumé", "θλίψη", "한국어 텍스트", "emoji \xF0\x9F\x98\x80 ok",
    };
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        wr_norm n;
        size_t before = heap_in_use();
        assert_int_equal(wr_normalize(&n, samples[s], strlen(samples[s]), ALL), 0);
        assert_int_equal(heap_in_use(), before);
        assert_int_equal(n.identity, 1);
        assert_ptr_equal(n.text, samples[s]);
        wr_norm_free(&n);
    }
    /* Cyrillic is left alone when only NFKC is asked for */
    wr_norm n;
    expect_norm(&n, "p\xD0\xB0ypal", WR_NORM_NFKC, "p\xD0\xB0ypal");
    assert_int_equal(n.identity, 1);
    wr_norm_free(&n);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    wr_norm n;
    assert_int_equal(wr_normalize(&n, NULL, 0, ALL), 0);
    assert_int_equal(n.identity, 1);
    assert_int_equal(n.len, 0);
    assert_non_null(n.text);
    size_t os = 9, oe = 9;
    wr_norm_span(&n, 0, 0, &os, &oe);
    assert_int_equal(os, 0);
    assert_int_equal(oe, 0);
    wr_norm_free(&n);
    wr_norm_free(NULL);
}

static void test_limit(void **state)
{
    (void)state;
    if (sizeof(size_t) <= 4)
        skip();
    wr_norm n;
    char tiny[1] = {'x'};
    /* the length is refused before a byte is read */
    assert_int_equal(wr_normalize(&n, tiny, (size_t)1 << 32, ALL), WEIR_ELIMIT);
    assert_null(n.map);
    assert_null(n.owned);
    wr_norm_free(&n);
}

/* ----------------------------------------------------------------- NFKC */

static void test_fullwidth_digits(void **state)
{
    (void)state;
    wr_norm n;
    /* "Tel ０１２" */
    expect_norm(&n, "Tel \xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x92", WR_NORM_NFKC, "Tel 012");
    static const uint32_t map[] = {0, 1, 2, 3, 4, 7, 10, 13};
    expect_map(&n, map, 8);
    expect_span(&n, 4, 7, 4, 13); /* "012" -> the three full-width digits */
    expect_span(&n, 5, 6, 7, 10); /* "1" -> "１" */
    expect_span(&n, 0, 3, 0, 3);
    wr_norm_free(&n);

    /* "Ｊｏｈｎ" -> "John", also with confusables only (full-width ASCII fold) */
    expect_norm(&n, "\xEF\xBC\xAA\xEF\xBD\x8F\xEF\xBD\x88\xEF\xBD\x8E", WR_NORM_NFKC, "John");
    static const uint32_t map2[] = {0, 3, 6, 9, 12};
    expect_map(&n, map2, 5);
    wr_norm_free(&n);
    expect_norm(&n, "\xEF\xBC\xAA\xEF\xBD\x8F\xEF\xBD\x88\xEF\xBD\x8E", WR_NORM_CONFUSABLES,
                "John");
    wr_norm_free(&n);
}

static void test_expansion_span(void **state)
{
    (void)state;
    wr_norm n;
    /* "xﬁy": ﬁ -> "fi"; a match of only "i" maps to the whole ligature */
    expect_norm(&n, "x\xEF\xAC\x81y", ALL, "xfiy");
    static const uint32_t map[] = {0, 1, 1, 4, 5};
    expect_map(&n, map, 5);
    expect_span(&n, 2, 3, 1, 4); /* "i" */
    expect_span(&n, 1, 2, 1, 4); /* "f" */
    expect_span(&n, 2, 4, 1, 5); /* "iy" */
    expect_span(&n, 0, 2, 0, 4); /* "xf" */
    expect_span(&n, 2, 2, 1, 1); /* empty */
    expect_span(&n, 3, 99, 4, 5); /* clamped */
    wr_norm_free(&n);

    /* U+FDFA expands to 18 code points / 33 bytes, all from original offset 1 */
    expect_norm(&n, "a\xEF\xB7\xBA" "b", WR_NORM_NFKC,
                "a\xD8\xB5\xD9\x84\xD9\x89 \xD8\xA7\xD9\x84\xD9\x84\xD9\x87 \xD8\xB9\xD9\x84"
                "\xD9\x8A\xD9\x87 \xD9\x88\xD8\xB3\xD9\x84\xD9\x85" "b");
    for (size_t i = 1; i < n.len - 1; i++)
        assert_int_equal(n.map[i], 1);
    expect_span(&n, 10, 12, 1, 4);
    wr_norm_free(&n);

    /* superscripts, circled digits, fractions, Roman numerals */
    expect_norm(&n, "x\xC2\xB2 \xE2\x91\xA0 \xC2\xBD \xE2\x85\xA8", WR_NORM_NFKC,
                "x2 1 1\xE2\x81\x84" "2 IX");
    wr_norm_free(&n);
    expect_norm(&n, "\xC2\xBD", ALL, "1/2"); /* fraction slash folds to '/' */
    wr_norm_free(&n);
}

static void test_combining_sequences(void **state)
{
    (void)state;
    wr_norm n;
    /* decomposed e + acute composes; both output bytes come from the 'e' */
    expect_norm(&n, "cafe\xCC\x81!", WR_NORM_NFKC, "caf\xC3\xA9!");
    static const uint32_t map[] = {0, 1, 2, 3, 3, 6, 7};
    expect_map(&n, map, 7);
    expect_span(&n, 3, 5, 3, 6);
    expect_span(&n, 4, 5, 3, 6); /* half of é still maps to e + U+0301 */
    wr_norm_free(&n);

    /* canonical ordering: q + dot above + dot below -> q + dot below + dot above */
    expect_norm(&n, "q\xCC\x87\xCC\xA3", WR_NORM_NFKC, "q\xCC\xA3\xCC\x87");
    for (size_t i = 0; i < n.len; i++)
        assert_int_equal(n.map[i], 0);
    wr_norm_free(&n);

    /* Å: angstrom sign and A + ring both become U+00C5 */
    expect_norm(&n, "\xE2\x84\xAB", WR_NORM_NFKC, "\xC3\x85");
    wr_norm_free(&n);
    expect_norm(&n, "A\xCC\x8A", WR_NORM_NFKC, "\xC3\x85");
    wr_norm_free(&n);

    /* Hangul: conjoining jamo L V T compose; LV syllable + T composes */
    expect_norm(&n, "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", WR_NORM_NFKC, "\xEA\xB0\x81");
    wr_norm_free(&n);
    expect_norm(&n, "\xEA\xB0\x80\xE1\x86\xA8", WR_NORM_NFKC, "\xEA\xB0\x81");
    wr_norm_free(&n);

    /* Oriya two-part vowel: two starters compose (U+0B47 U+0B3E -> U+0B4B) */
    expect_norm(&n, "\xE0\xAD\x87\xE0\xAC\xBE", WR_NORM_NFKC, "\xE0\xAD\x8B");
    wr_norm_free(&n);

    /* an invisible character between base and mark does not block composition */
    expect_norm(&n, "e\xE2\x80\x8B\xCC\x81", ALL, "\xC3\xA9");
    expect_span(&n, 0, 2, 0, 6);
    wr_norm_free(&n);

    /* a mark with nothing before it stays, and so does a mark after U+FFFD */
    expect_norm(&n, "\xCC\x81" "a", ALL, "\xCC\x81" "a");
    wr_norm_free(&n);
    expect_norm(&n, "\xFF\xCC\x81", ALL, "\xEF\xBF\xBD\xCC\x81");
    static const uint32_t map2[] = {0, 0, 0, 0, 0, 3}; /* one combining sequence */
    expect_map(&n, map2, 6);
    wr_norm_free(&n);
}

/* wr_normalize(NFKC) against utf8proc's own NFKC on whole strings. */
static void expect_same_as_utf8proc(const char *s, size_t len)
{
    utf8proc_uint8_t *ref = NULL;
    utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &ref,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    assert_true(rl >= 0);
    wr_norm n;
    assert_int_equal(wr_normalize(&n, s, len, WR_NORM_NFKC), 0);
    check_invariants(&n, s, len);
    if (n.len != (size_t)rl || memcmp(n.text, ref, n.len) != 0) {
        char hex[512] = "";
        for (size_t i = 0; i < len && i < 100; i++)
            snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02X ", (unsigned char)s[i]);
        fail_msg("NFKC differs from utf8proc for input %s", hex);
    }
    free(ref);
    wr_norm_free(&n);
}

static size_t put_cp(char *o, uint32_t c)
{
    return (size_t)utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)o);
}

static void test_nfkc_every_code_point(void **state)
{
    (void)state;
    /* each code point alone, after 'a', and in canonically decomposed form */
    char s[128];
    for (uint32_t c = 0x80; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
        if (p->category == UTF8PROC_CATEGORY_CN && (c & 0xFF) != 0)
            continue; /* unassigned: sample only */
        size_t n = put_cp(s, c);
        expect_same_as_utf8proc(s, n);
        s[0] = 'a';
        n = 1 + put_cp(s + 1, c);
        expect_same_as_utf8proc(s, n);
        if (p->decomp_seqindex != UINT16_MAX) {
            utf8proc_int32_t d[32];
            int bc = 0;
            utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)c, d, 32,
                                                         UTF8PROC_DECOMPOSE, &bc);
            assert_true(k > 0 && k <= 32);
            n = 0;
            for (utf8proc_ssize_t i = 0; i < k; i++)
                n += put_cp(s + n, (uint32_t)d[i]);
            expect_same_as_utf8proc(s, n);
        }
    }
}

/*
 * normalize.c keeps a list of starters that compose with the character before them;
 * recompute it from the linked utf8proc and check each one composes as utf8proc says.
 */
static void test_starter_seconds(void **state)
{
    (void)state;
    size_t found = 0;
    for (uint32_t c = 0; c < 0x110000; c++) {
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
        if (p->decomp_seqindex == UINT16_MAX || p->decomp_type || p->comp_exclusion)
            continue;
        utf8proc_int32_t d[32];
        int bc = 0;
        utf8proc_ssize_t k =
            utf8proc_decompose_char((utf8proc_int32_t)c, d, 32, UTF8PROC_DECOMPOSE, &bc);
        int has = 0;
        for (utf8proc_ssize_t i = 1; i < k; i++)
            has |= utf8proc_get_property(d[i])->combining_class == 0;
        if (!has)
            continue;
        found++;
        char s[160];
        size_t n = 0;
        for (utf8proc_ssize_t i = 0; i < k; i++)
            n += put_cp(s + n, (uint32_t)d[i]);
        expect_same_as_utf8proc(s, n);
    }
    assert_true(found >= 24);
}

static void test_nfkc_random_strings(void **state)
{
    (void)state;
    static const uint32_t pool[] = {
        'a', 'e', 'A', 'o', 'q', ' ', '1', 0x00E9, 0x00C5, 0x0300, 0x0301, 0x0302, 0x0307,
        0x0308, 0x0316, 0x0323, 0x0327, 0x0345, 0x0344, 0x0F73, 0x0F71, 0x0F72, 0x0F80,
        0x05B0, 0x05BC, 0x0651, 0x064B, 0x0653, 0x0627, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01,
        0x0B47, 0x0B3E, 0x0B56, 0x0B57, 0x09C7, 0x09BE, 0x09D7, 0x0CC6, 0x0CC2, 0x0CD5, 0x1025,
        0x102E, 0x1B05, 0x1B35, 0xFB01, 0xFF10, 0xFF21, 0x2460, 0x00BD, 0x2126, 0x212B, 0x1E9B,
        0xFDFA, 0x3300, 0x1D400, 0x0385, 0x1FEE, 0x03D3, 0x0130, 0x0069, 0x0307, 0x309A, 0x304B,
        0x3099, 0xFF76, 0xFF9E, 0x0041, 0x030A, 0x0338, 0x003C, 0x2260, 0x1E0A, 0x1E0C, 0x0044,
        0x11099, 0x110BA, 0x11131, 0x11127, 0x11347, 0x1133E, 0x11357, 0x114B9, 0x114BA, 0x114B0,
    };
    char s[256];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0, count = next_rand() % 20;
        for (size_t i = 0; i < count; i++) {
            uint32_t c;
            if (next_rand() % 8 == 0) {
                do
                    c = next_rand() % 0x30000;
                while ((c >= 0xD800 && c <= 0xDFFF) || c == 0);
            } else {
                c = pool[next_rand() % (sizeof pool / sizeof pool[0])];
            }
            n += put_cp(s + n, c);
        }
        expect_same_as_utf8proc(s, n);
    }
}

/* ----------------------------------------------------------------- invisible characters */

static void test_zero_width_in_email(void **state)
{
    (void)state;
    wr_norm n;
    const char *in = "jo\xE2\x80\x8Bhn@example.com"; /* 19 bytes */
    expect_norm(&n, in, ALL, "john@example.com");
    static const uint32_t map[] = {0,  1,  5,  6,  7,  8,  9,  10, 11,
                                   12, 13, 14, 15, 16, 17, 18, 19};
    expect_map(&n, map, 17);
    expect_span(&n, 0, 16, 0, 19); /* the whole email, ZWSP included */
    expect_span(&n, 1, 3, 1, 6);   /* "oh" */
    expect_span(&n, 2, 4, 5, 7);   /* "hn" */
    wr_norm_free(&n);

    /* without WR_NORM_INVISIBLE the ZWSP stays, and the input is identity */
    expect_norm(&n, in, WR_NORM_NFKC | WR_NORM_CONFUSABLES, in);
    assert_int_equal(n.identity, 1);
    expect_span(&n, 2, 5, 2, 5);
    wr_norm_free(&n);
}

static void test_invisible_set(void **state)
{
    (void)state;
    static const uint32_t drop[] = {
        0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x180B, 0x180E, 0x200B, 0x200C,
        0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061,
        0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0x206F, 0x3164, 0xFE00,
        0xFE0F, 0xFEFF, 0xFFA0, 0xFFF9, 0x1D173, 0xE0000, 0xE0001, 0xE0041, 0xE007F, 0xE0100,
        0xE01EF,
    };
    static const uint32_t keep[] = {0x00A0, 0x00E9, 0x0301, 0x2028, 0x2800, 0xFFFD, 0xE0080,
                                    0xE01F0, 0x1F600};
    char s[16];
    wr_norm n;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        assert_true(wr_norm_invisible(drop[i]));
        size_t k = 0;
        s[k++] = 'x';
        k += put_cp(s + k, drop[i]);
        s[k++] = 'y';
        s[k] = 0;
        expect_norm(&n, s, WR_NORM_INVISIBLE, "xy");
        assert_int_equal(n.map[0], 0);
        assert_int_equal(n.map[1], k - 1);
        assert_int_equal(n.map[2], k);
        expect_span(&n, 0, 1, 0, k - 1); /* 'x' takes the dropped character with it */
        wr_norm_free(&n);
    }
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        assert_false(wr_norm_invisible(keep[i]));
    for (uint32_t c = 0; c < 0x80; c++)
        assert_false(wr_norm_invisible(c));

    /* only invisible characters: empty output, still a map */
    expect_norm(&n, "\xE2\x80\x8B\xEF\xBB\xBF", ALL, "");
    assert_int_equal(n.identity, 0);
    assert_int_equal(n.map[0], 6);
    wr_norm_free(&n);

    /* bidi override around a number, soft hyphen inside a word, VS16 after an emoji */
    expect_norm(&n, "\xE2\x80\xAE" "4111\xE2\x80\xAC inter\xC2\xADnational \xE2\x9D\xA4\xEF\xB8\x8F",
                ALL, "4111 international \xE2\x9D\xA4");
    wr_norm_free(&n);
}

/* ----------------------------------------------------------------- confusables */

static void test_cyrillic_paypal(void **state)
{
    (void)state;
    wr_norm n;
    const char *in = "p\xD0\xB0ypal"; /* Cyrillic а */
    expect_norm(&n, in, ALL, "paypal");
    static const uint32_t map[] = {0, 1, 3, 4, 5, 6, 7};
    expect_map(&n, map, 7);
    expect_span(&n, 0, 6, 0, 7);
    expect_span(&n, 1, 2, 1, 3);
    wr_norm_free(&n);

    /* all-Cyrillic / Greek look-alike words */
    expect_norm(&n, "\xD1\x80\xD0\xB0\xD1\x83\xD1\x80\xD0\xB0\xD3\x8F", ALL, "paypal");
    wr_norm_free(&n);
    expect_norm(&n, "\xCE\x91\xCE\x92\xCE\x95 \xCE\xBF\xCE\xBD", WR_NORM_CONFUSABLES, "ABE ov");
    wr_norm_free(&n);
}

static void test_confusable_table(void **state)
{
    (void)state;
    static const struct {
        uint32_t cp;
        char to;
    } cases[] = {
        {0x0430, 'a'}, {0x0435, 'e'}, {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0443, 'y'},
        {0x0445, 'x'}, {0x0456, 'i'}, {0x0458, 'j'}, {0x0455, 's'}, {0x0410, 'A'}, {0x0412, 'B'},
        {0x0415, 'E'}, {0x041A, 'K'}, {0x041C, 'M'}, {0x041D, 'H'}, {0x041E, 'O'}, {0x0420, 'P'},
        {0x0421, 'C'}, {0x0422, 'T'}, {0x0425, 'X'}, {0x0391, 'A'}, {0x0392, 'B'}, {0x0395, 'E'},
        {0x0396, 'Z'}, {0x0397, 'H'}, {0x0399, 'I'}, {0x039A, 'K'}, {0x039C, 'M'}, {0x039D, 'N'},
        {0x039F, 'O'}, {0x03A1, 'P'}, {0x03A4, 'T'}, {0x03A5, 'Y'}, {0x03A7, 'X'}, {0x03BF, 'o'},
        {0x03BD, 'v'}, {0x2010, '-'}, {0x2011, '-'}, {0x2012, '-'}, {0x2013, '-'}, {0x2014, '-'},
        {0x2015, '-'}, {0x2212, '-'}, {0xFE6B, '@'}, {0xFF20, '@'}, {0x00A0, ' '}, {0x2000, ' '},
        {0x2005, ' '}, {0x200A, ' '}, {0x202F, ' '}, {0x205F, ' '}, {0x3000, ' '}, {0x1680, ' '},
        {0x0660, '0'}, {0x0669, '9'}, {0x06F4, '4'}, {0x0967, '1'}, {0x09E8, '2'}, {0x0E53, '3'},
        {0xFF15, '5'}, {0x1D7CE, '0'}, {0x1D7D9, '1'}, {0x1D7FF, '9'}, {0x1FBF7, '7'},
        {0x3002, '.'}, {0x2024, '.'}, {0x2215, '/'}, {0x2236, ':'}, {0x0131, 'i'},
    };
    char s[16];
    wr_norm n;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (wr_norm_fold(cases[i].cp) != (uint32_t)(unsigned char)cases[i].to)
            fail_msg("U+%04X folds to U+%04X, want '%c'", cases[i].cp,
                     wr_norm_fold(cases[i].cp), cases[i].to);
        size_t k = put_cp(s, cases[i].cp);
        s[k] = 0;
        char want[2] = {cases[i].to, 0};
        expect_norm(&n, s, WR_NORM_CONFUSABLES, want);
        wr_norm_free(&n);
        expect_norm(&n, s, ALL, want); /* NFKC first must not get in the way */
        wr_norm_free(&n);
    }
    /* the per-character table agrees with the fold tables everywhere */
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (wr_norm_fold(c) != wr_norm_fold_search(c))
            fail_msg("U+%04X: table fold U+%04X, search U+%04X", c, wr_norm_fold(c),
                     wr_norm_fold_search(c));
    }
    /* ASCII and ordinary letters are left alone */
    for (uint32_t c = 0; c < 0x80; c++)
        assert_int_equal(wr_norm_fold(c), c);
    assert_int_equal(wr_norm_fold(0x00E9), 0x00E9);
    assert_int_equal(wr_norm_fold(0x4E2D), 0x4E2D);
    assert_int_equal(wr_norm_fold(0x0431), 0x0431); /* б */

    /* every Unicode decimal digit folds to an ASCII digit, counting up within its block */
    size_t ndigits = 0;
    for (uint32_t c = 0x80; c < 0x110000; c++) {
        if (utf8proc_category((utf8proc_int32_t)c) != UTF8PROC_CATEGORY_ND)
            continue;
        ndigits++;
        uint32_t f = wr_norm_fold(c);
        if (f < '0' || f > '9')
            fail_msg("Nd U+%04X folds to U+%04X", c, f);
        if (utf8proc_category((utf8proc_int32_t)c - 1) == UTF8PROC_CATEGORY_ND) {
            uint32_t prev = wr_norm_fold(c - 1);
            assert_int_equal(f, prev == '9' ? '0' : prev + 1);
        } else {
            assert_int_equal(f, '0');
        }
    }
    assert_true(ndigits > 600);

    /* Arabic-Indic phone number */
    expect_norm(&n, "\xD9\xA0\xD9\xA1\xD9\xA2-\xD9\xA9", ALL, "012-9");
    static const uint32_t map[] = {0, 2, 4, 6, 7, 9};
    expect_map(&n, map, 6);
    wr_norm_free(&n);
}

/* ----------------------------------------------------------------- invalid UTF-8 */

typedef struct bad_case {
    const char *in;
    size_t len;
    const char *want;
    size_t wlen; /* 0: strlen(want) */
    uint32_t map[16];
} bad_case;

static void test_invalid_utf8(void **state)
{
    (void)state;
#define R "\xEF\xBF\xBD"
    static const bad_case cases[] = {
        /* truncated at the end */
        {"ab\xE2\x82", 4, "ab" R, 0, {0, 1, 2, 2, 2, 4}},
        {"\xF0\x9F\x98", 3, R, 0, {0, 0, 0, 3}},
        {"\xC3", 1, R, 0, {0, 0, 0, 1}},
        /* truncated in the middle */
        {"\xE2\x82x", 3, R "x", 0, {0, 0, 0, 2, 3}},
        {"\xF0\x9F\x98\xC3\xA9", 5, R "\xC3\xA9", 0, {0, 0, 0, 3, 3, 5}},
        /* lone continuation bytes */
        {"\x80", 1, R, 0, {0, 0, 0, 1}},
        {"a\x80\xBF", 3, "a" R R, 0, {0, 1, 1, 1, 2, 2, 2, 3}},
        /* overlongs */
        {"\xC0\x80", 2, R R, 0, {0, 0, 0, 1, 1, 1, 2}},
        {"\xC1\xBF", 2, R R, 0, {0, 0, 0, 1, 1, 1, 2}},
        {"\xE0\x80\x80", 3, R R R, 0, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3}},
        {"\xF0\x80\x80\x80", 4, R R R R, 0, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4}},
        /* surrogates */
        {"\xED\xA0\x80", 3, R R R, 0, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3}},
        {"\xED\xBF\xBF", 3, R R R, 0, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3}},
        /* beyond U+10FFFF and F5..FF */
        {"\xF4\x90\x80\x80", 4, R R R R, 0, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4}},
        {"\xF5\x80", 2, R R, 0, {0, 0, 0, 1, 1, 1, 2}},
        {"\xFF", 1, R, 0, {0, 0, 0, 1}},
        {"\xFE\xFF", 2, R R, 0, {0, 0, 0, 1, 1, 1, 2}},
        /* a NUL byte is ASCII and kept */
        {"\x00\xFF", 2, "\x00" R, 4, {0, 1, 1, 1, 2}},
        /* characters before the first change map to their first byte */
        {"\xC3\xA9\xFF", 3, "\xC3\xA9" R, 0, {0, 0, 2, 2, 2, 3}},
        /* U+FFFD itself is valid and unchanged */
        {R "\xFF", 4, R R, 0, {0, 0, 0, 3, 3, 3, 4}},
    };
#undef R
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned flags = 0; flags <= ALL; flags++) {
            wr_norm n;
            const bad_case *c = &cases[i];
            assert_int_equal(wr_normalize(&n, c->in, c->len, flags), 0);
            check_invariants(&n, c->in, c->len);
            assert_int_equal(n.identity, 0);
            size_t wl = c->wlen ? c->wlen : strlen(c->want);
            assert_int_equal(n.len, wl);
            assert_memory_equal(n.text, c->want, wl);
            expect_map(&n, c->map, wl + 1);
            wr_norm_free(&n);
        }
    }
}

/* ----------------------------------------------------------------- properties */

static void test_random_bytes(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a", " ", "@", "1", "\xC3\xA9", "\xCC\x81", "\xE2\x80\x8B", "\xD0\xB0", "\xEF\xAC\x81",
        "\xEF\xBC\x91", "\xE1\x84\x80", "\xE1\x85\xA1", "\xE1\x86\xA8", "\xF0\x9F\x98\x80",
        "\xEF\xB7\xBA", "\xE0\xAD\x87", "\xE0\xAC\xBE", "\xF3\xA0\x80\x81", "\xD9\xA3",
    };
    unsigned char buf[512];
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = next_rand() % 300, k = 0;
        int mode = iter % 3;
        while (k < len) {
            if (mode == 0 || next_rand() % 4 == 0) {
                buf[k++] = (unsigned char)next_rand();
            } else {
                const char *p = pieces[next_rand() % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(p);
                if (k + pl > len)
                    break;
                memcpy(buf + k, p, pl);
                k += pl;
            }
        }
        len = k;
        for (unsigned flags = 0; flags <= ALL; flags++) {
            wr_norm n;
            assert_int_equal(wr_normalize(&n, (const char *)buf, len, flags), 0);
            check_invariants(&n, (const char *)buf, len);
            for (int t = 0; t < 8; t++) {
                size_t ns = n.len ? next_rand() % (n.len + 1) : 0;
                size_t ne = ns + (n.len - ns ? next_rand() % (n.len - ns + 1) : 0);
                size_t os, oe;
                wr_norm_span(&n, ns, ne, &os, &oe);
                assert_true(os <= oe && oe <= len);
                if (ne > ns)
                    assert_true(os < oe);
                if (!n.identity) {
                    assert_int_equal(os, n.map[ns]);
                    /* the span covers the sources of all its bytes */
                    for (size_t b = ns; b < ne; b++)
                        assert_true(n.map[b] >= os && n.map[b] < oe);
                }
            }
            wr_norm_free(&n);
        }
    }
}

static void test_large_inputs(void **state)
{
    (void)state;
    const size_t size = 10u << 20;
    char *buf = malloc(size);
    assert_non_null(buf);
    static const char piece[] = "Dear J\xEF\xBD\x8F\xEF\xBD\x88n, na\xC3\xAFve caf\xC3\xA9 "
                                "\xEF\xAC\x81le jo\xE2\x80\x8Bhn@ex\xD0\xB0mple.com "
                                "\xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x92 \xFF\xC0 e\xCC\x81\n";
    size_t pl = sizeof piece - 1;
    for (size_t i = 0; i < size; i++)
        buf[i] = piece[i % pl];
    wr_norm n;
    assert_int_equal(wr_normalize(&n, buf, size, ALL), 0);
    assert_int_equal(n.identity, 0);
    assert_int_equal(n.map[n.len], size);
    assert_true(valid_utf8(n.text, n.len));
    wr_norm_free(&n);

    /* 10 MB of ASCII: identity */
    memset(buf, 'x', size);
    assert_int_equal(wr_normalize(&n, buf, size, ALL), 0);
    assert_int_equal(n.identity, 1);
    wr_norm_free(&n);

    /* hostile: one base and millions of marks; runs of Hangul T jamo; must stay linear */
    buf[0] = 'a';
    size_t k = 1;
    for (; k + 2 <= size; k += 2) {
        buf[k] = (char)0xCC;
        buf[k + 1] = (char)(0x80 + (k / 2) % 0x30);
    }
    assert_int_equal(wr_normalize(&n, buf, k, ALL), 0);
    check_invariants(&n, buf, k);
    wr_norm_free(&n);
    for (k = 0; k + 3 <= size; k += 3)
        memcpy(buf + k, "\xE1\x86\xA8", 3);
    assert_int_equal(wr_normalize(&n, buf, k, ALL), 0);
    assert_int_equal(n.identity, 1);
    wr_norm_free(&n);
    free(buf);
}

/* ----------------------------------------------------------------- quick check vs. slow path */

/* wr_normalize (with the per-character quick check) and wr_normalize_slow agree exactly. */
static void expect_same_as_slow(const char *s, size_t len, unsigned flags)
{
    wr_norm a, b;
    assert_int_equal(wr_normalize(&a, s, len, flags), 0);
    assert_int_equal(wr_normalize_slow(&b, s, len, flags), 0);
    check_invariants(&a, s, len);
    int same = a.identity == b.identity && a.len == b.len &&
               memcmp(a.text, b.text, a.len) == 0 && (a.map == NULL) == (b.map == NULL) &&
               (!a.map || memcmp(a.map, b.map, (a.len + 1) * sizeof a.map[0]) == 0);
    if (!same) {
        char hex[700] = "";
        for (size_t i = 0; i < len && i < 200; i++)
            snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02X ", (unsigned char)s[i]);
        fail_msg("quick and slow paths differ, flags %u (len %zu vs %zu, identity %d vs %d), "
                 "input %s",
                 flags, a.len, b.len, a.identity, b.identity, hex);
    }
    wr_norm_free(&a);
    wr_norm_free(&b);
}

/* Every code point in the contexts where the quick check decides something: alone, after
 * ASCII, before ASCII, before a mark, before an invisible + mark, before a Hangul T jamo,
 * before invalid bytes, twice, and before a decomposing character. */
static void test_quick_every_code_point(void **state)
{
    (void)state;
    static const unsigned flag_sets[] = {WR_NORM_NFKC, ALL, 0, WR_NORM_INVISIBLE,
                                         WR_NORM_CONFUSABLES,
                                         WR_NORM_NFKC | WR_NORM_CONFUSABLES};
    char s[64];
    for (uint32_t c = 0x80; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        if (c >= 0x10000 && utf8proc_get_property((utf8proc_int32_t)c)->category ==
                                UTF8PROC_CATEGORY_CN && (c & 0xFF) != 0)
            continue; /* unassigned astral: sample only */
        char cp[4];
        size_t k = put_cp(cp, c);
        static const char *const after[] = {"", "a", "\xCC\x81", "\xE2\x80\x8B\xCC\xA3",
                                            "\xE1\x86\xA8", "\xFF", "\xC3\xA9",
                                            "\xE0\xAC\xBE"};
        for (size_t a = 0; a < sizeof after / sizeof after[0]; a++) {
            size_t al = strlen(after[a]);
            for (int pre = 0; pre < 2; pre++) {
                size_t n = 0;
                if (pre)
                    s[n++] = 'x';
                memcpy(s + n, cp, k);
                n += k;
                memcpy(s + n, after[a], al);
                n += al;
                /* all flag sets on a sample, the default and NFKC on everything */
                size_t nf = (c % 7 == 0) ? sizeof flag_sets / sizeof flag_sets[0] : 2;
                for (size_t f = 0; f < nf; f++)
                    expect_same_as_slow(s, n, flag_sets[f]);
            }
        }
        /* the character twice, and after itself behind a mark */
        memcpy(s, cp, k);
        memcpy(s + k, cp, k);
        expect_same_as_slow(s, 2 * k, ALL);
        expect_same_as_slow(s, 2 * k, WR_NORM_NFKC);
    }
}

/* Random strings from a pool that mixes every kind of character the normalizer treats
 * differently, plus random bytes; every flag combination. */
static void test_quick_random_strings(void **state)
{
    (void)state;
    static const uint32_t pool[] = {
        /* ASCII */
        'a', 'e', 'o', 'u', 'A', 'c', 'i', 'p', 'y', ' ', '.', '-', '@', '1', '<', '=',
        /* Latin-1 and Latin Extended (stable, some composition starters) */
        0x00E9, 0x00FC, 0x00E7, 0x00EF, 0x00C5, 0x00E5, 0x00F1, 0x00D6, 0x00E0, 0x00EA, 0x00A0,
        0x00BD, 0x00B2, 0x0101, 0x0131, 0x0130, 0x017F, 0x1E9B, 0x01D5, 0x1EBF,
        /* combining marks */
        0x0300, 0x0301, 0x0302, 0x0304, 0x0307, 0x0308, 0x030A, 0x0323, 0x0327, 0x0338, 0x0345,
        0x0344, 0x0340, 0x034F, 0x0F71, 0x0F72, 0x0F73, 0x0F80, 0x3099, 0x309A, 0x05BC, 0x0651,
        /* Hangul: syllables (LV, LVT), conjoining jamo, fillers, compatibility jamo */
        0xAC00, 0xAC01, 0xD7A3, 0x1100, 0x1112, 0x1161, 0x1175, 0x11A8, 0x11C2, 0x115F, 0x1160,
        0x3164, 0x3131, 0xFFA0,
        /* Indic / Myanmar / Balinese two-part vowels */
        0x0B47, 0x0B3E, 0x0B56, 0x0B57, 0x09C7, 0x09BE, 0x09D7, 0x0CC6, 0x0CC2, 0x0CD5, 0x1025,
        0x102E, 0x1B05, 0x1B35, 0x0DD9, 0x0DCF, 0x0D46, 0x0D3E,
        /* CJK, kana, half-width kana + sound marks, CJK compatibility */
        0x4E2D, 0x6587, 0x3002, 0x304B, 0x30AB, 0xFF76, 0xFF9E, 0xFF9F, 0x3300, 0xF900, 0xFA10,
        0x2F00,
        /* full-width */
        0xFF10, 0xFF19, 0xFF21, 0xFF41, 0xFF20, 0xFF0E, 0xFFE0,
        /* typographic */
        0x201C, 0x201D, 0x2018, 0x2019, 0x2013, 0x2014, 0x2026, 0x2212, 0x2044, 0x2126, 0x212B,
        0x2260, 0x226E, 0x2460, 0xFB01, 0xFDFA, 0x2000, 0x3000, 0x1680, 0x2028,
        /* invisible */
        0x00AD, 0x200B, 0x200C, 0x200D, 0x200E, 0x202E, 0x2060, 0xFEFF, 0xFE0F, 0xFE00, 0x180B,
        0x061C, 0x17B4, 0xE0041, 0xE0100,
        /* confusables and digits */
        0x0430, 0x0435, 0x043E, 0x0440, 0x0441, 0x0410, 0x0391, 0x03BF, 0x03B1, 0x04CF, 0x0660,
        0x0669, 0x06F4, 0x0967, 0x0E53, 0x0431, 0x0451, 0x0419, 0x0439, 0x0306, 0x03AC, 0x1F71,
        0x0385, 0x03D3, 0x1FEE,
        /* astral: math letters, emoji, combining, composition pairs, tags */
        0x1D400, 0x1D7CE, 0x1F600, 0x1F1FA, 0x11099, 0x110BA, 0x11131, 0x11127, 0x11347,
        0x1133E, 0x11357, 0x114B9, 0x114BA, 0x114B0, 0x1D15E, 0x1D165, 0x1D16E, 0x2F800,
        /* specials */
        0xFFFD, 0xFFFC, 0x0085,
    };
    char s[512];
    for (int iter = 0; iter < 30000; iter++) {
        size_t n = 0, count = next_rand() % 40;
        int density = (int)(next_rand() % 4); /* some strings mostly ASCII, some not at all */
        for (size_t i = 0; i < count; i++) {
            uint32_t r = next_rand() % 32;
            if (r == 0) {
                s[n++] = (char)(0x80 + next_rand() % 0x80); /* stray / invalid bytes */
                if (next_rand() % 2)
                    s[n++] = (char)(next_rand() % 0x100);
                continue;
            }
            uint32_t c;
            if (r == 1) {
                do
                    c = 0x80 + next_rand() % 0x30000;
                while (c >= 0xD800 && c <= 0xDFFF);
            } else if ((int)(r % 4) < density) {
                c = 'a' + next_rand() % 26;
            } else {
                c = pool[next_rand() % (sizeof pool / sizeof pool[0])];
            }
            n += put_cp(s + n, c);
        }
        if (next_rand() % 8 == 0 && n > 0)
            n -= 1 + next_rand() % (n < 3 ? n : 3); /* may cut a character */
        for (unsigned flags = 0; flags <= ALL; flags++)
            expect_same_as_slow(s, n, flags);
    }
}

/* Long mixed text, where the quick check runs between changes (materialized output). */
static void test_quick_long_text(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "caf\xC3\xA9 ", "na\xC3\xAFve ", "\xE2\x80\x9Cquoted\xE2\x80\x9D ", "Z\xC3\xBCrich ",
        "fa\xC3\xA7" "ade ", "the ", "report ", "\xEF\xBC\x91\xEF\xBC\x92 ", "p\xD0\xB0ypal ",
        "jo\xE2\x80\x8Bhn ", "e\xCC\x81 ", "\xC3\xBC\xCC\x81", "\xE4\xB8\xAD\xE6\x96\x87 ",
        "\xEA\xB0\x80\xE1\x86\xA8 ", "\xFF ", "\xEF\xAC\x81le ", "\xF0\x9F\x98\x80 ",
        "\xE0\xAD\x87\xE0\xAC\xBE ",
    };
    static char buf[1 << 16];
    for (int iter = 0; iter < 200; iter++) {
        size_t n = 0;
        while (1) {
            const char *p = pieces[next_rand() % (sizeof pieces / sizeof pieces[0])];
            size_t pl = strlen(p);
            if (n + pl > sizeof buf)
                break;
            memcpy(buf + n, p, pl);
            n += pl;
            if (iter % 2 && n > 2000)
                break;
        }
        for (unsigned flags = 0; flags <= ALL; flags++)
            expect_same_as_slow(buf, n, flags);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_identity),
        cmocka_unit_test(test_unchanged_unicode_is_identity),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_fullwidth_digits),
        cmocka_unit_test(test_expansion_span),
        cmocka_unit_test(test_combining_sequences),
        cmocka_unit_test(test_nfkc_every_code_point),
        cmocka_unit_test(test_starter_seconds),
        cmocka_unit_test(test_nfkc_random_strings),
        cmocka_unit_test(test_zero_width_in_email),
        cmocka_unit_test(test_invisible_set),
        cmocka_unit_test(test_cyrillic_paypal),
        cmocka_unit_test(test_confusable_table),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_large_inputs),
        cmocka_unit_test(test_quick_every_code_point),
        cmocka_unit_test(test_quick_random_strings),
        cmocka_unit_test(test_quick_long_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
