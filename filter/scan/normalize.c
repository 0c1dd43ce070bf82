/*
 * normalize.c - text normalization with a map back to the original bytes.
 *
 * Pure ASCII is the common case and is left alone: one pass (64 bytes per step with SSE2,
 * 8 with the portable fallback) proves it and the result is an identity view of the input.
 *
 * Anything else is decoded one character at a time (invalid UTF-8 -> U+FFFD per maximal
 * subpart) and grouped into segments: a starter plus everything that may reorder or compose
 * with it (non-starters, and the few starters that compose with the character before them,
 * e.g. Hangul V/T jamo). A segment is NFKC-normalized on its own (utf8proc decomposition,
 * canonical ordering, utf8proc composition), then folded, then encoded; all its output bytes
 * map to the segment's first original byte. Segments are capped (WR_SEG_MAX code points,
 * WR_SEG_MAX_NONSTARTERS marks, like UAX #15's stream-safe format) so time stays linear and
 * memory bounded on hostile input; only such pathological text differs from textbook NFKC.
 * Invisible characters are dropped before they reach a segment, so "e<ZWSP><U+0301>" still
 * becomes "é".
 *
 * Output is produced lazily: while every segment reproduces its own bytes nothing is written;
 * the first change copies the unchanged prefix (with an exact identity map) and from then on
 * output and map grow in one buffer each. Text that comes through unchanged (ASCII, or e.g.
 * clean Chinese) is therefore returned as identity without any allocation.
 *
 * Per-character facts for the BMP (fold target, invisible, "NFKC leaves it alone") live in
 * a 128 KiB table filled once per process from utf8proc, so most characters cost one load.
 *
 * Quick check (the NFKC_Quick_Check idea): before any of the above, nz_quick walks the text
 * while every character is known to come through unchanged in context: it is its own
 * normalized form with these flags (NFKC-stable alone, a starter that joins nothing before
 * it, not dropped, not folded) and the character after it cannot join its segment (ASCII,
 * end of text, invalid bytes, or a starter that joins nothing). Such characters form
 * segments of their own whose output is their own bytes, so the walk just copies them (or
 * nothing, before the first change). The table bits are computed with the very helpers the
 * segment machinery uses, so both paths agree by construction; wr_normalize_slow skips the
 * quick check so tests can compare.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <utf8proc.h>

#include "scan/normalize.h"
#include "scan/scan.h"

#define WR_SEG_MAX 64             /* code points in one segment, after decomposition */
#define WR_SEG_MAX_NONSTARTERS 30 /* UAX #15 stream-safe limit */
#define WR_DECOMP_MAX 32          /* longest NFKC decomposition is 18 (U+FDFA) */
#define WR_REPLACEMENT 0xFFFDu
#define WR_INVALID 0xFFFFFFFFu /* utf8_decode: bad bytes */

/* ----------------------------------------------------------------- ASCII scanning */

/* Length of the ASCII prefix of p[0..n). */
static size_t ascii_span(const unsigned char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 48));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))))
            break;
    }
    for (; i + 16 <= n; i += 16) {
        int m = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        if (m)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
#else
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v & 0x8080808080808080ull)
            break;
    }
#endif
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

/* ascii_span for runs that are usually short (words between accented ones): probes 16 bytes
 * eight at a time before the block loop. */
static inline size_t ascii_short(const unsigned char *p, size_t n)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 16) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t m = v & 0x8080808080808080ull;
        if (m)
            return (size_t)__builtin_ctzll(m) >> 3;
        memcpy(&v, p + 8, 8);
        m = v & 0x8080808080808080ull;
        if (m)
            return 8 + ((size_t)__builtin_ctzll(m) >> 3);
        return 16 + ascii_span(p + 16, n - 16);
    }
#endif
    return ascii_span(p, n);
}

/* ----------------------------------------------------------------- UTF-8 */

/*
 * Decodes the character at p[0] (p[0] >= 0x80, n >= 1). Returns its length; an invalid
 * sequence yields WR_INVALID and the length of its maximal subpart (Unicode 15, §3.9 /
 * U+FFFD substitution of maximal subparts), at least 1.
 */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned b0 = p[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t need;
    uint32_t c;

    *cp = WR_INVALID;
    if (b0 < 0xC2)
        return 1;
    if (b0 < 0xE0) {
        need = 1;
        c = b0 & 0x1F;
    } else if (b0 < 0xF0) {
        need = 2;
        c = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 < 0xF5) {
        need = 3;
        c = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return 1;
    }
    if (n < 2 || p[1] < lo || p[1] > hi)
        return 1;
    c = (c << 6) | (p[1] & 0x3Fu);
    for (size_t k = 2; k <= need; k++) {
        if (k >= n || (p[k] & 0xC0) != 0x80)
            return k;
        c = (c << 6) | (p[k] & 0x3Fu);
    }
    *cp = c;
    return need + 1;
}

static size_t utf8_encode(uint32_t c, unsigned char *o)
{
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* ----------------------------------------------------------------- character classes */

/*
 * Starters that compose with the character before them (second element of a primary
 * composite): Hangul V and T jamo, and these, generated from utf8proc 2.8 (Unicode 15) by
 * taking every later starter in the canonical decomposition of a non-excluded composite.
 * tests/unit/normalize checks the list against the linked utf8proc.
 */
static const uint32_t starter_second[] = {
    0x09BE,  0x09D7,  0x0B3E,  0x0B56,  0x0B57,  0x0BBE,  0x0BD7,  0x0CC2,
    0x0CD5,  0x0CD6,  0x0D3E,  0x0D57,  0x0DCF,  0x0DDF,  0x102E,  0x1B35,
    0x11127, 0x1133E, 0x11357, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930,
};

static int in_sorted(const uint32_t *v, size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < c)
            lo = mid + 1;
        else if (v[mid] > c)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

static int is_starter_second(uint32_t c)
{
    if (c < 0x09BE)
        return 0;
    if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2))
        return 1;
    if ((c > 0x1B35 && c < 0x11127) || c > 0x11930)
        return 0; /* between the BMP and the astral entries of the list, or after them */
    return in_sorted(starter_second, WR_ARRAY_LEN(starter_second), c);
}

static int invisible_cp(uint32_t c, const utf8proc_property_t *p)
{
    if (c < 0xAD)
        return 0;
    if (p->category == UTF8PROC_CATEGORY_CF)
        return 1;
    /* default-ignorable or blank-looking characters that are not Cf */
    return c == 0x034F                        /* combining grapheme joiner */
           || c == 0x115F || c == 0x1160      /* Hangul choseong / jungseong fillers */
           || c == 0x17B4 || c == 0x17B5      /* Khmer inherent vowels */
           || (c >= 0x180B && c <= 0x180F)    /* Mongolian variation selectors, vowel sep. */
           || c == 0x3164 || c == 0xFFA0      /* Hangul fillers */
           || (c >= 0xFE00 && c <= 0xFE0F)    /* variation selectors */
           || (c >= 0xE0000 && c <= 0xE007F)  /* tags */
           || (c >= 0xE0100 && c <= 0xE01EF); /* variation selectors supplement */
}

int wr_norm_invisible(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return 0;
    return invisible_cp(cp, utf8proc_get_property((utf8proc_int32_t)cp));
}

/* Look-alikes of ASCII letters, spaces, dashes and separators. Sorted, disjoint. */
typedef struct fold_range {
    uint32_t lo, hi;
    char to;
} fold_range;

static const fold_range fold_table[] = {
    {0x00A0, 0x00A0, ' '}, /* no-break space */
    {0x0131, 0x0131, 'i'}, /* dotless i */
    {0x01C0, 0x01C0, 'l'}, /* dental click */
    {0x0251, 0x0251, 'a'}, /* alpha */
    {0x0261, 0x0261, 'g'}, /* script g */
    {0x02D7, 0x02D7, '-'}, /* modifier minus */
    {0x037F, 0x037F, 'J'}, /* Greek yot */
    {0x0391, 0x0391, 'A'}, {0x0392, 0x0392, 'B'}, {0x0395, 0x0395, 'E'},
    {0x0396, 0x0396, 'Z'}, {0x0397, 0x0397, 'H'}, {0x0399, 0x0399, 'I'},
    {0x039A, 0x039A, 'K'}, {0x039C, 0x039C, 'M'}, {0x039D, 0x039D, 'N'},
    {0x039F, 0x039F, 'O'}, {0x03A1, 0x03A1, 'P'}, {0x03A4, 0x03A4, 'T'},
    {0x03A5, 0x03A5, 'Y'}, {0x03A7, 0x03A7, 'X'}, {0x03B1, 0x03B1, 'a'},
    {0x03B3, 0x03B3, 'y'}, {0x03B9, 0x03B9, 'i'}, {0x03BD, 0x03BD, 'v'},
    {0x03BF, 0x03BF, 'o'}, {0x03C1, 0x03C1, 'p'}, {0x03C5, 0x03C5, 'u'},
    {0x03F2, 0x03F2, 'c'}, {0x03F3, 0x03F3, 'j'}, {0x03F9, 0x03F9, 'C'},
    {0x0405, 0x0405, 'S'}, {0x0406, 0x0406, 'I'}, {0x0408, 0x0408, 'J'},
    {0x0410, 0x0410, 'A'}, {0x0412, 0x0412, 'B'}, {0x0415, 0x0415, 'E'},
    {0x041A, 0x041A, 'K'}, {0x041C, 0x041C, 'M'}, {0x041D, 0x041D, 'H'},
    {0x041E, 0x041E, 'O'}, {0x0420, 0x0420, 'P'}, {0x0421, 0x0421, 'C'},
    {0x0422, 0x0422, 'T'}, {0x0423, 0x0423, 'Y'}, {0x0425, 0x0425, 'X'},
    {0x0430, 0x0430, 'a'}, {0x0435, 0x0435, 'e'}, {0x043E, 0x043E, 'o'},
    {0x0440, 0x0440, 'p'}, {0x0441, 0x0441, 'c'}, {0x0443, 0x0443, 'y'},
    {0x0445, 0x0445, 'x'}, {0x0455, 0x0455, 's'}, {0x0456, 0x0456, 'i'},
    {0x0458, 0x0458, 'j'}, {0x04AE, 0x04AE, 'Y'}, {0x04BB, 0x04BB, 'h'},
    {0x04C0, 0x04C0, 'I'}, {0x04CF, 0x04CF, 'l'}, {0x0501, 0x0501, 'd'},
    {0x051A, 0x051A, 'Q'}, {0x051B, 0x051B, 'q'}, {0x051C, 0x051C, 'W'},
    {0x051D, 0x051D, 'w'}, {0x054D, 0x054D, 'U'}, {0x0555, 0x0555, 'O'},
    {0x0570, 0x0570, 'h'}, {0x0578, 0x0578, 'n'}, {0x057D, 0x057D, 'u'},
    {0x0585, 0x0585, 'o'}, {0x0589, 0x0589, ':'}, /* Armenian full stop */
    {0x1680, 0x1680, ' '},                        /* ogham space mark */
    {0x2000, 0x200A, ' '},                        /* en quad .. hair space */
    {0x2010, 0x2015, '-'},                        /* hyphen .. horizontal bar */
    {0x2024, 0x2024, '.'},                        /* one dot leader */
    {0x202F, 0x202F, ' '},                        /* narrow no-break space */
    {0x2043, 0x2043, '-'},                        /* hyphen bullet */
    {0x2044, 0x2044, '/'},                        /* fraction slash */
    {0x205F, 0x205F, ' '},                        /* medium mathematical space */
    {0x2212, 0x2212, '-'},                        /* minus sign */
    {0x2215, 0x2215, '/'},                        /* division slash */
    {0x2236, 0x2236, ':'},                        /* ratio */
    {0x2E3A, 0x2E3B, '-'},                        /* two- and three-em dash */
    {0x3000, 0x3000, ' '},                        /* ideographic space */
    {0x3002, 0x3002, '.'},                        /* ideographic full stop (IDNA dot) */
    {0xA789, 0xA789, ':'},                        /* modifier colon */
    {0xFE52, 0xFE52, '.'},                        /* small full stop */
    {0xFE58, 0xFE58, '-'},                        /* small em dash */
    {0xFE63, 0xFE63, '-'},                        /* small hyphen-minus */
    {0xFE6B, 0xFE6B, '@'},                        /* small commercial at */
    {0xFF61, 0xFF61, '.'},                        /* halfwidth ideographic full stop */
};

/* The zero of every run of ten Unicode decimal digits (Nd), from utf8proc 2.8. */
static const uint32_t digit_zeros[] = {
    0x0030,  0x0660,  0x06F0,  0x07C0,  0x0966,  0x09E6,  0x0A66,  0x0AE6,  0x0B66,
    0x0BE6,  0x0C66,  0x0CE6,  0x0D66,  0x0DE6,  0x0E50,  0x0ED0,  0x0F20,  0x1040,
    0x1090,  0x17E0,  0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,
    0x1C40,  0x1C50,  0xA620,  0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,
    0xFF10,  0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450,
    0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0,
    0x11F50, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
    0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950, 0x1FBF0,
};

/* The ASCII digit of c when c is a decimal digit (Nd), else 0. */
static uint32_t digit_of(uint32_t c)
{
    /* greatest zero <= c; every code point within 9 of a zero is an Nd digit */
    size_t lo = 0, hi = WR_ARRAY_LEN(digit_zeros);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (digit_zeros[mid] <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || c - digit_zeros[lo - 1] > 9)
        return 0;
    return '0' + (c - digit_zeros[lo - 1]);
}

/* The slow path of fold_cp: table searches. */
static uint32_t fold_search(uint32_t c)
{
    if (c < 0xA0)
        return c;
    if (c >= 0xFF01 && c <= 0xFF5E)
        return c - 0xFEE0; /* full-width ASCII (NFKC does this too) */
    size_t lo = 0, hi = WR_ARRAY_LEN(fold_table);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fold_table[mid].hi < c)
            lo = mid + 1;
        else if (fold_table[mid].lo > c)
            hi = mid;
        else
            return (unsigned char)fold_table[mid].to;
    }
    uint32_t d = digit_of(c);
    return d ? d : c;
}

/* ----------------------------------------------------------------- per-BMP table */

/* ----------------------------------------------------------------- NFKC of one segment */

static utf8proc_propval_t ccc(utf8proc_int32_t c)
{
    return utf8proc_get_property(c)->combining_class;
}

/* Canonical ordering (stable sort of each run of non-starters by combining class). */
static void canonical_order(utf8proc_int32_t *v, size_t n)
{
    utf8proc_propval_t cls[WR_SEG_MAX];
    for (size_t i = 0; i < n; i++)
        cls[i] = ccc(v[i]);
    for (size_t i = 1; i < n; i++) {
        utf8proc_propval_t k = cls[i];
        if (k == 0)
            continue;
        utf8proc_int32_t c = v[i];
        size_t j = i;
        while (j > 0 && cls[j - 1] > k) {
            v[j] = v[j - 1];
            cls[j] = cls[j - 1];
            j--;
        }
        v[j] = c;
        cls[j] = k;
    }
}

/* The NFKC decomposition of one character as a segment sees it. */
typedef struct decomp {
    utf8proc_int32_t d[WR_DECOMP_MAX];
    size_t nd;      /* code points in d */
    size_t marks;   /* non-starters among them */
    int first_joins; /* d[0] joins an open segment (a non-starter or a starter_second) */
} decomp;

static void decompose(uint32_t c, const utf8proc_property_t *p, decomp *x)
{
    x->nd = 1;
    x->d[0] = (utf8proc_int32_t)c;
    x->marks = p->combining_class != 0;
    x->first_joins = x->marks || is_starter_second(c);
    if (p->decomp_seqindex == UINT16_MAX)
        return;
    int bc = 0;
    utf8proc_ssize_t r = utf8proc_decompose_char((utf8proc_int32_t)c, x->d, WR_DECOMP_MAX,
                                                 UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bc);
    if (r >= 1 && r <= WR_DECOMP_MAX) {
        x->nd = (size_t)r;
        x->marks = 0;
        for (size_t i = 0; i < x->nd; i++)
            x->marks += ccc(x->d[i]) != 0;
        x->first_joins = ccc(x->d[0]) != 0 || is_starter_second((uint32_t)x->d[0]);
    } else {
        x->d[0] = (utf8proc_int32_t)c;
    }
}

/* Orders and composes a decomposed segment of n code points in place; its new length. */
static size_t compose(utf8proc_int32_t *seg, size_t n)
{
    if (n <= 1)
        return n;
    canonical_order(seg, n);
    utf8proc_ssize_t r =
        utf8proc_normalize_utf32(seg, (utf8proc_ssize_t)n, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    return r >= 0 && (size_t)r <= n ? (size_t)r : n;
}

/* ----------------------------------------------------------------- per-BMP table */

/*
 * What the normalizer needs to know about a BMP code point, computed once per process
 * (about 64K utf8proc lookups, plus decompositions for the few thousand that have one) so
 * the per-character work is one load:
 *   bits 0-6  ASCII look-alike (0: none)
 *   bit 7     INFO_INVISIBLE
 *   bit 8     INFO_SIMPLE: no decomposition, combining class 0, composes with nothing
 *             before it; NFKC leaves it alone unless marks follow
 *   bit 9     INFO_NOJOIN: with NFKC it never joins an open segment (it may still be
 *             dropped as invisible): its decomposition starts with a starter that composes
 *             with nothing before it
 *   bit 10    INFO_STABLE: INFO_NOJOIN, and its segment alone normalizes (decompose,
 *             order, compose) back to exactly itself
 *   bit 11    INFO_NFKC_ASCII: INFO_NOJOIN, and its segment alone normalizes to the one
 *             ASCII character of bits 0-6 (full-width ASCII, compatibility spaces, ...)
 */
#define INFO_FOLD 0x7Fu
#define INFO_INVISIBLE 0x80u
#define INFO_SIMPLE 0x100u
#define INFO_NOJOIN 0x200u
#define INFO_STABLE 0x400u
#define INFO_NFKC_ASCII 0x800u

static uint16_t bmp_info[0x10000];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

/* The table entry of c, whose fold_search is f. Without `full` the NOJOIN and STABLE bits
 * are left out unless c is INFO_SIMPLE (missing bits only send a character down the slow
 * path). */
static unsigned info_compute(uint32_t c, uint32_t f, int full)
{
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    unsigned info = 0;
    if (f != c && f < 0x80)
        info |= f;
    if (invisible_cp(c, p))
        info |= INFO_INVISIBLE;
    if (p->decomp_seqindex == UINT16_MAX && p->combining_class == 0 && !is_starter_second(c)) {
        info |= INFO_SIMPLE | INFO_NOJOIN | INFO_STABLE;
    } else if (full && (c < 0xD800 || c > 0xDFFF)) {
        /* exactly what nz_char and nz_flush do with it as a segment of its own */
        decomp x;
        decompose(c, p, &x);
        if (!x.first_joins) {
            info |= INFO_NOJOIN;
            size_t n = compose(x.d, x.nd);
            if (n == 1 && (uint32_t)x.d[0] == c)
                info |= INFO_STABLE;
            else if (n == 1 && (info & INFO_FOLD) && (uint32_t)x.d[0] == (info & INFO_FOLD))
                info |= INFO_NFKC_ASCII;
        }
    }
    return info;
}

/*
 * fold_search for every BMP code point at once, into bmp_info (which must be zero): the
 * same tables written lowest precedence first (digits, then fold_table, then full-width
 * ASCII), so what fold_search finds first wins. wr_norm_fold_search lets the tests compare.
 */
static void bmp_fold_fill(void)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(digit_zeros) && digit_zeros[i] < 0x10000; i++) {
        if (digit_zeros[i] < 0xA0)
            continue;
        for (uint32_t k = 0; k < 10; k++)
            bmp_info[digit_zeros[i] + k] = (uint16_t)('0' + k);
    }
    for (size_t i = 0; i < WR_ARRAY_LEN(fold_table); i++)
        for (uint32_t c = fold_table[i].lo; c <= fold_table[i].hi; c++)
            bmp_info[c] = (uint16_t)(unsigned char)fold_table[i].to;
    for (uint32_t c = 0xFF01; c <= 0xFF5E; c++)
        bmp_info[c] = (uint16_t)(c - 0xFEE0);
}

static void bmp_init(void)
{
    bmp_fold_fill();
    for (uint32_t c = 0; c < 0x10000; c++) {
        uint32_t f = bmp_info[c] ? bmp_info[c] : c;
        bmp_info[c] = (uint16_t)info_compute(c, f, 1);
    }
}

/* Astral characters are rare: their entry is computed each time, without the costly bits. */
static unsigned cp_info(uint32_t c)
{
    return c < 0x10000 ? bmp_info[c] : info_compute(c, fold_search(c), 0);
}

static uint32_t fold_cp(uint32_t c)
{
    unsigned f = c < 0x10000 ? bmp_info[c] & INFO_FOLD : (unsigned)fold_search(c);
    return f && f < 0x80 ? f : c;
}

uint32_t wr_norm_fold_search(uint32_t cp)
{
    return cp <= 0x10FFFF ? fold_search(cp) : cp;
}

uint32_t wr_norm_fold(uint32_t cp)
{
    pthread_once(&bmp_once, bmp_init);
    return cp <= 0x10FFFF ? fold_cp(cp) : cp;
}

/* ----------------------------------------------------------------- the normalizer */

typedef struct nz {
    const unsigned char *in;
    size_t len;
    unsigned flags;

    /* output, allocated at the first change */
    char *out;
    uint32_t *map;
    size_t olen, ocap; /* ocap counts bytes of out; map has ocap + 1 entries */
    int materialized;

    /* the open segment: code points (decomposed when NFKC) and its original bytes */
    utf8proc_int32_t seg[WR_SEG_MAX];
    size_t nseg, nonstarters;
    size_t seg_start, seg_end;
    int seg_open;
    int seg_simple; /* one code point, decoded from valid UTF-8, that NFKC leaves alone */

    /* quick check (nz_quick), from the flags, on cp_info bits: a character ends the segment
     * before it when it has all of stop_need and none of stop_deny; as a segment of its own
     * its output is known when it has one of pass_any (or pass_any is 0) and none of
     * pass_deny: the ASCII character of INFO_FOLD when it has one of fold_when, else itself */
    int quick;
    unsigned stop_need, stop_deny, pass_any, pass_deny, fold_when;

    /* the last non-ASCII character decoded by nz_decode / nz_quick (at in[dpos], dn bytes;
     * dc is WR_INVALID for bad bytes, then dinfo is that of U+FFFD), so the paths that look
     * at a character one after the other decode it once */
    size_t dpos, dn;
    uint32_t dc;
    unsigned dinfo;
} nz;

static int nz_grow(nz *z, size_t extra)
{
    size_t need = z->olen + extra + 1;
    if (need < z->olen || need > SIZE_MAX / 2 / sizeof(uint32_t))
        return WEIR_ENOMEM;
    size_t cap = z->ocap ? z->ocap : z->len + z->len / 8 + 64;
    while (cap < need)
        cap *= 2;
    char *o = wr_realloc(z->out, cap);
    if (!o)
        return WEIR_ENOMEM;
    z->out = o;
    uint32_t *m = wr_realloc(z->map, (cap + 1) * sizeof(uint32_t));
    if (!m)
        return WEIR_ENOMEM;
    z->map = m;
    z->ocap = cap;
    return 0;
}

/* Room for `extra` more bytes plus the NUL. */
static inline int nz_reserve(nz *z, size_t extra)
{
    if (WR_LIKELY(z->ocap - z->olen > extra))
        return 0;
    return nz_grow(z, extra);
}

/* m[i - off] for i in [off, end) of valid UTF-8 starting at a character: the offset of the
 * first byte of the character holding byte i. */
/* m[k] = base + k for k < n. */
static void map_iota(uint32_t *m, uint32_t base, size_t n)
{
    size_t k = 0;
#if defined(__SSE2__)
    __m128i v = _mm_add_epi32(_mm_set1_epi32((int)base), _mm_setr_epi32(0, 1, 2, 3));
    const __m128i four = _mm_set1_epi32(4), eight = _mm_set1_epi32(8);
    for (; k + 8 <= n; k += 8) {
        _mm_storeu_si128((__m128i *)(void *)(m + k), v);
        _mm_storeu_si128((__m128i *)(void *)(m + k + 4), _mm_add_epi32(v, four));
        v = _mm_add_epi32(v, eight);
    }
#endif
    for (; k < n; k++)
        m[k] = base + (uint32_t)k;
}

static void map_chars(uint32_t *m, const unsigned char *in, size_t off, size_t end)
{
    size_t i = off;
    m -= off;
    while (i < end) {
        size_t a = ascii_short(in + i, end - i);
        map_iota(m + i, (uint32_t)i, a);
        i += a;
        if (i == end)
            break;
        unsigned b = in[i];
        size_t k = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        for (size_t t = 0; t < k; t++)
            m[i + t] = (uint32_t)i;
        i += k;
    }
}

/* Starts writing: the input up to `upto` came through unchanged. */
static int nz_materialize(nz *z, size_t upto)
{
    z->materialized = 1;
    if (nz_reserve(z, upto + 16))
        return WEIR_ENOMEM;
    memcpy(z->out, z->in, upto);
    map_chars(z->map, z->in, 0, upto);
    z->olen = upto;
    return 0;
}

/* Original whole valid characters in[off..end) come through unchanged. */
static int nz_pass(nz *z, size_t off, size_t end)
{
    if (!z->materialized || end == off)
        return 0;
    size_t n = end - off;
    if (nz_reserve(z, n))
        return WEIR_ENOMEM;
    memcpy(z->out + z->olen, z->in + off, n);
    map_chars(z->map + z->olen, z->in, off, end);
    z->olen += n;
    return 0;
}

/* Original ASCII bytes in[off..off+n) come through unchanged. */
static int nz_copy(nz *z, size_t off, size_t n)
{
    if (!z->materialized || n == 0)
        return 0;
    if (nz_reserve(z, n))
        return WEIR_ENOMEM;
    memcpy(z->out + z->olen, z->in + off, n);
    map_iota(z->map + z->olen, (uint32_t)off, n);
    z->olen += n;
    return 0;
}

/* Original bytes in[off..off+n) became b[0..bn) (bn may be 0), all mapped to off. */
static int nz_emit(nz *z, size_t off, size_t n, const unsigned char *b, size_t bn)
{
    if (!z->materialized) {
        if (bn == n && (n == 0 || memcmp(b, z->in + off, n) == 0))
            return 0;
        if (nz_materialize(z, off))
            return WEIR_ENOMEM;
    }
    if (bn == 0)
        return 0;
    if (nz_reserve(z, bn))
        return WEIR_ENOMEM;
    char *o = z->out + z->olen;
    uint32_t *m = z->map + z->olen;
    for (size_t i = 0; i < bn; i++) {
        o[i] = (char)b[i];
        m[i] = (uint32_t)off;
    }
    z->olen += bn;
    return 0;
}

static int nz_flush(nz *z)
{
    if (!z->seg_open)
        return 0;
    z->seg_open = 0;
    int fold = (z->flags & WR_NORM_CONFUSABLES) != 0;
    unsigned char buf[WR_SEG_MAX * 4];

    if (z->seg_simple && z->seg_end - z->seg_start <= 4) {
        /* the common case: one character, nothing dropped after it */
        uint32_t c = (uint32_t)z->seg[0];
        uint32_t f = fold ? fold_cp(c) : c;
        if (f == c) {
            size_t n = z->seg_end - z->seg_start;
            if (!z->materialized)
                return 0;
            return nz_emit(z, z->seg_start, n, z->in + z->seg_start, n);
        }
        return nz_emit(z, z->seg_start, z->seg_end - z->seg_start, buf, utf8_encode(f, buf));
    }

    size_t n = z->nseg;
    if (z->flags & WR_NORM_NFKC)
        n = compose(z->seg, n);
    size_t bn = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)z->seg[i];
        bn += utf8_encode(fold ? fold_cp(c) : c, buf + bn);
    }
    return nz_emit(z, z->seg_start, z->seg_end - z->seg_start, buf, bn);
}

static void nz_open(nz *z, size_t off, uint32_t c, size_t n, int simple)
{
    z->seg_open = 1;
    z->seg_start = off;
    z->seg_end = off + n;
    z->seg[0] = (utf8proc_int32_t)c;
    z->nseg = 1;
    z->nonstarters = 0;
    z->seg_simple = simple;
}

/* One decoded character at in[off..off+n) with cp_info `info`; `valid` is 0 for U+FFFD
 * replacing bad bytes. */
static int nz_char(nz *z, uint32_t c, unsigned info, size_t off, size_t n, int valid)
{
    if ((z->flags & WR_NORM_INVISIBLE) && (info & INFO_INVISIBLE)) {
        if (z->seg_open) {
            z->seg_end = off + n; /* dropped: belongs to the segment before it */
            z->seg_simple = 0;
            return 0;
        }
        return nz_emit(z, off, n, NULL, 0);
    }

    if (!(z->flags & WR_NORM_NFKC) || (info & INFO_SIMPLE)) {
        if (nz_flush(z))
            return WEIR_ENOMEM;
        nz_open(z, off, c, n, valid);
        return 0;
    }

    decomp x;
    decompose(c, utf8proc_get_property((utf8proc_int32_t)c), &x);
    size_t nd = x.nd, marks = x.marks;

    int join = z->seg_open && x.first_joins && z->nseg + nd <= WR_SEG_MAX &&
               z->nonstarters + marks <= WR_SEG_MAX_NONSTARTERS;
    if (!join) {
        if (nz_flush(z))
            return WEIR_ENOMEM;
        z->seg_open = 1;
        z->seg_start = off;
        z->nseg = 0;
        z->nonstarters = 0;
    }
    memcpy(z->seg + z->nseg, x.d, nd * sizeof x.d[0]);
    z->nseg += nd;
    z->nonstarters += marks;
    z->seg_end = off + n;
    z->seg_simple = 0;
    return 0;
}

/* utf8_decode for in[i] >= 0x80, i < len, inlined for well-formed 2- and 3-byte characters. */
static inline size_t decode_fast(const unsigned char *in, size_t i, size_t len, uint32_t *cp)
{
    unsigned b0 = in[i];
    if (b0 >= 0xC2 && b0 < 0xE0 && i + 1 < len && (in[i + 1] & 0xC0) == 0x80) {
        *cp = ((b0 & 0x1Fu) << 6) | (in[i + 1] & 0x3Fu);
        return 2;
    }
    if (b0 >= 0xE0 && b0 < 0xF0 && i + 2 < len && (in[i + 1] & 0xC0) == 0x80 &&
        (in[i + 2] & 0xC0) == 0x80) {
        uint32_t c = ((b0 & 0x0Fu) << 12) | ((in[i + 1] & 0x3Fu) << 6) | (in[i + 2] & 0x3Fu);
        if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
            *cp = c;
            return 3;
        }
    }
    return utf8_decode(in + i, len - i, cp);
}

/* Decodes the non-ASCII character at in[i] through the one-entry cache; its length. */
static size_t nz_decode(nz *z, size_t i, uint32_t *c, unsigned *info)
{
    if (z->dn == 0 || z->dpos != i) {
        z->dpos = i;
        z->dn = decode_fast(z->in, i, z->len, &z->dc);
        z->dinfo = cp_info(z->dc == WR_INVALID ? WR_REPLACEMENT : z->dc);
    }
    *c = z->dc;
    *info = z->dinfo;
    return z->dn;
}

/* The character at in[i] (i < len) ends any segment before it (see nz_quick). */
static int nz_stops_at(nz *z, size_t i)
{
    if (z->in[i] < 0x80)
        return 1;
    uint32_t c;
    unsigned info;
    nz_decode(z, i, &c, &info);
    return (info & z->stop_need) == z->stop_need && !(info & z->stop_deny);
}

/* Fills the decode cache with the character c at in[i..i+n), table entry info. */
static void nz_remember(nz *z, size_t i, size_t n, uint32_t c, unsigned info)
{
    z->dpos = i;
    z->dn = n;
    z->dc = c;
    z->dinfo = info;
}

/*
 * The quick check. With no segment open at *pi: handles characters while each is sure to
 * form a segment of its own, i.e. the character after it stops a segment (ASCII, invalid
 * bytes, end of text, or stop_need / stop_deny), and the table tells that segment's output
 * (pass_any / pass_deny; always for ASCII and for invalid bytes). That output is the
 * character itself (copied, or nothing before the first change), its one-byte fold
 * (fold_when), or U+FFFD for invalid bytes, all mapped to its first byte: exactly what the
 * segment machinery would produce. Leaves *pi where that machinery must take over.
 */
static int nz_quick(nz *z, size_t *pi)
{
    const unsigned char *in = z->in;
    const size_t len = z->len;
    const unsigned sn = z->stop_need, sd = z->stop_deny, pa = z->pass_any, pd = z->pass_deny,
                   fw = z->fold_when, bad_info = bmp_info[WR_REPLACEMENT];
    size_t i = *pi, run = i; /* in[run..i) comes through unchanged, not yet copied */
    uint32_t c;
    size_t n;
    unsigned info;

    if (i == len)
        goto done;
    if (in[i] >= 0x80) {
        n = nz_decode(z, i, &c, &info);
        goto non_ascii;
    }
    for (;;) {
        /* in[i] is ASCII: its run passes; the last one only if what follows stops */
        size_t j = i + 1 + ascii_short(in + i + 1, len - i - 1);
        if (j == len) {
            i = len;
            goto done;
        }
        n = decode_fast(in, j, len, &c);
        info = c == WR_INVALID ? bad_info : cp_info(c);
        if ((info & sn) != sn || (info & sd)) {
            nz_remember(z, j, n, c, info);
            i = j - 1;
            goto done;
        }
        i = j;
    non_ascii:
        for (;;) {
            /* in[i..i+n) is c (WR_INVALID: bad bytes, with the info of U+FFFD) */
            if ((pa && !(info & pa)) || (info & pd)) {
                nz_remember(z, i, n, c, info);
                goto done;
            }
            size_t k = i + n, n2 = 0;
            uint32_t c2 = 0;
            unsigned info2 = 0;
            if (k < len && in[k] >= 0x80) {
                n2 = decode_fast(in, k, len, &c2);
                info2 = c2 == WR_INVALID ? bad_info : cp_info(c2);
                if ((info2 & sn) != sn || (info2 & sd)) {
                    nz_remember(z, i, n, c, info);
                    goto done;
                }
            }
            /* a segment of its own */
            if (c == WR_INVALID || (info & fw)) {
                static const unsigned char fffd[3] = {0xEF, 0xBF, 0xBD};
                unsigned char f = (unsigned char)(info & INFO_FOLD);
                int bad = c == WR_INVALID;
                if (nz_pass(z, run, i) || nz_emit(z, i, n, bad ? fffd : &f, bad ? 3 : 1))
                    return WEIR_ENOMEM;
                run = k;
            }
            i = k;
            if (k == len)
                goto done;
            if (!n2)
                break; /* ASCII next */
            c = c2;
            n = n2;
            info = info2;
        }
    }
done:
    *pi = i;
    return nz_pass(z, run, i);
}

static int nz_run(nz *z, size_t i)
{
    const unsigned char *in = z->in;
    size_t len = z->len;
    int nfkc = (z->flags & WR_NORM_NFKC) != 0;

    while (i < len) {
        if (z->quick) {
            /* what stops the open segment would flush it anyway: flush it now */
            if (z->seg_open && nz_stops_at(z, i) && nz_flush(z))
                return WEIR_ENOMEM;
            if (!z->seg_open) {
                if (nz_quick(z, &i))
                    return WEIR_ENOMEM;
                if (i == len)
                    break;
            }
        }
        if (in[i] < 0x80) {
            size_t j = i + 1 + ascii_span(in + i + 1, len - i - 1);
            if (nz_flush(z))
                return WEIR_ENOMEM;
            if (nfkc && j < len) {
                /* the last ASCII letter may take the combining marks that follow */
                if (nz_copy(z, i, j - 1 - i))
                    return WEIR_ENOMEM;
                nz_open(z, j - 1, in[j - 1], 1, 1);
            } else if (nz_copy(z, i, j - i)) {
                return WEIR_ENOMEM;
            }
            i = j;
            continue;
        }
        uint32_t c;
        unsigned info;
        size_t n = nz_decode(z, i, &c, &info);
        int valid = c != WR_INVALID;
        if (nz_char(z, valid ? c : WR_REPLACEMENT, info, i, n, valid))
            return WEIR_ENOMEM;
        i += n;
    }
    return nz_flush(z);
}

static int normalize(wr_norm *out, const char *in, size_t len, unsigned flags, int quick)
{
    memset(out, 0, sizeof *out);
    if (len > (size_t)UINT32_MAX)
        return WEIR_ELIMIT;
    if (!in)
        in = "";
    out->orig = in;
    out->orig_len = len;

    const unsigned char *u = (const unsigned char *)in;
    size_t first = ascii_span(u, len);
    if (first == len) {
        out->text = in;
        out->len = len;
        out->identity = 1;
        return 0;
    }
    pthread_once(&bmp_once, bmp_init);

    nz z;
    memset(&z, 0, sizeof z);
    z.in = u;
    z.len = len;
    z.flags = flags;
    z.quick = quick;
    if (flags & WR_NORM_NFKC) {
        z.stop_need = INFO_NOJOIN;
        z.pass_any = INFO_STABLE | INFO_NFKC_ASCII;
        z.fold_when = INFO_NFKC_ASCII;
    }
    if (flags & WR_NORM_INVISIBLE) {
        z.stop_deny = INFO_INVISIBLE;
        z.pass_deny = INFO_INVISIBLE;
    }
    if (flags & WR_NORM_CONFUSABLES)
        z.fold_when |= INFO_FOLD;
    /* the ASCII prefix passes unchanged, except that with NFKC its last character may
     * compose with what follows */
    size_t start = (flags & WR_NORM_NFKC) && first > 0 ? first - 1 : first;
    int rc = nz_run(&z, start);
    if (rc) {
        free(z.out);
        free(z.map);
        return rc;
    }
    if (!z.materialized) {
        out->text = in;
        out->len = len;
        out->identity = 1;
        return 0;
    }
    z.out[z.olen] = '\0';
    z.map[z.olen] = (uint32_t)len;
    out->owned = z.out;
    out->text = z.out;
    out->len = z.olen;
    out->map = z.map;
    return 0;
}

int wr_normalize(wr_norm *out, const char *in, size_t len, unsigned flags)
{
    return normalize(out, in, len, flags, 1);
}

int wr_normalize_slow(wr_norm *out, const char *in, size_t len, unsigned flags)
{
    return normalize(out, in, len, flags, 0);
}

void wr_norm_free(wr_norm *n)
{
    if (!n)
        return;
    free(n->owned);
    free(n->map);
    memset(n, 0, sizeof *n);
}

int wr_norm_may_join(uint32_t c)
{
    if (c < 0x80 || c == WR_INVALID)
        return 0;
    if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) ||
        (c >= 0xA960 && c <= 0xA97F) || (c >= 0xD7B0 && c <= 0xD7FF) || is_starter_second(c))
        return 1;
    const utf8proc_property_t *pr = utf8proc_get_property((utf8proc_int32_t)c);
    return pr->combining_class != 0 || pr->category == UTF8PROC_CATEGORY_MN ||
           pr->category == UTF8PROC_CATEGORY_MC || pr->category == UTF8PROC_CATEGORY_ME ||
           wr_norm_invisible(c);
}

/* From original offset `at`, past every character that joins the one before it. */
static size_t extend_joined(const char *orig, size_t len, size_t at)
{
    while (at < len) {
        uint32_t cp;
        size_t cl = utf8_decode((const unsigned char *)orig + at, len - at, &cp);
        if (!cl || !wr_norm_may_join(cp))
            break;
        at += cl;
    }
    return at;
}

void wr_norm_span(const wr_norm *n, size_t ns, size_t ne, size_t *os, size_t *oe)
{
    size_t len = n->len;
    if (ne > len)
        ne = len;
    if (ns > ne)
        ns = ne;
    if (n->identity || !n->map) {
        *os = ns;
        *oe = ne > ns && n->orig ? extend_joined(n->orig, n->orig_len, ne) : ne;
        return;
    }
    const uint32_t *m = n->map;
    *os = m[ns];
    if (ne == ns) {
        *oe = m[ns];
        return;
    }
    /* the end of the original character at the source of byte ne-1 (the map holds
     * character and segment starts), then over what joins it */
    uint32_t last = m[ne - 1];
    if (!n->orig || last >= n->orig_len) {
        *oe = m[len];
        return;
    }
    uint32_t cp;
    size_t cl = utf8_decode((const unsigned char *)n->orig + last, n->orig_len - last, &cp);
    *oe = extend_joined(n->orig, n->orig_len, last + (cl ? cl : 1));
    if (*oe < *os)
        *oe = *os;
}
