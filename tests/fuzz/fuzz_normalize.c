/*
 * fuzz_normalize.c - bytes -> wr_normalize under every combination of flags.
 *
 * Checks what scan.h promises: the text is valid UTF-8 and NUL-terminated; map has len+1
 * entries, never decreases, stays inside the input and ends at the input length; an
 * identity result is the input itself, which must then be valid UTF-8 (the scanner runs
 * PCRE2 with PCRE2_NO_UTF_CHECK, whatever the flags); wr_norm_span maps any span inside
 * the input.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "scan/scan.h"

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static void check_one(const char *in, size_t len, unsigned flags)
{
    wr_norm n;
    memset(&n, 0, sizeof n);
    int rc = wr_normalize(&n, in, len, flags);
    if (rc != 0) {
        if (rc != WEIR_ENOMEM && rc != WEIR_ELIMIT)
            abort();
        wr_norm_free(&n); /* "on failure *out is left freeable" */
        return;
    }
    if (n.identity) {
        if (n.text != in || n.len != len || n.map != NULL)
            abort();
        /* the scanner matches with PCRE2_NO_UTF_CHECK: identity only for valid UTF-8 */
        if (!utf8_valid((const unsigned char *)in, len))
            abort();
    } else {
        if (!n.text || n.text[n.len] != '\0' || !n.map)
            abort();
        if (!utf8_valid((const unsigned char *)n.text, n.len))
            abort();
        if (n.map[n.len] != len)
            abort();
        for (size_t i = 0; i < n.len; i++) {
            if (n.map[i] > n.map[i + 1])
                abort();
            if (n.map[i] >= len)
                abort(); /* every normalized byte comes from some input byte */
        }
    }
    /* a few spans, including empty ones and the whole text */
    size_t cuts[] = {0, n.len / 3, n.len / 2, n.len};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = a; b < 4; b++) {
            size_t os = (size_t)-1, oe = (size_t)-1;
            wr_norm_span(&n, cuts[a], cuts[b], &os, &oe);
            if (os > oe || oe > len)
                abort();
            if (cuts[a] < cuts[b] && os == oe)
                abort(); /* normalized bytes always come from some original bytes */
        }
    wr_norm_free(&n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (unsigned flags = 0; flags <= WR_NORM_DEFAULT; flags++)
        check_one((const char *)data, size, flags);
    return 0;
}
