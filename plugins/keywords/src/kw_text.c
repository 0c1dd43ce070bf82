/*
 * kw_text.c - strict UTF-8, word/space classes and case folding (utf8proc).
 */
#include "kw_text.h"

#include <utf8proc.h>

size_t kw_text_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned b0 = p[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t need;
    uint32_t c;

    *cp = KW_CP_INVALID;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
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

size_t kw_text_encode(uint32_t c, unsigned char *o)
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

unsigned kw_text_class(uint32_t c)
{
    if (c < 0x80) {
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '_')
            return KW_WORD;
        return (c == ' ' || (c >= 0x09 && c <= 0x0D)) ? KW_SPACE : 0;
    }
    if (c == 0x85)
        return KW_SPACE;
    if (c >= 0x110000)
        return 0;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return KW_WORD;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return KW_SPACE;
    default:
        return 0;
    }
}

size_t kw_text_fold(uint32_t c, uint32_t *out)
{
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    if (c == 0x130 || c >= 0x110000) { /* İ: "i", not "i" + U+0307 */
        out[0] = c == 0x130 ? 'i' : c;
        return 1;
    }
    utf8proc_int32_t buf[8];
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, buf, 8, UTF8PROC_CASEFOLD,
                                                 &boundclass);
    if (n < 1 || n > KW_FOLD_MAX) {
        out[0] = c;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)buf[i];
    return (size_t)n;
}

size_t kw_text_incomplete(const unsigned char *p, size_t n)
{
    /* walk back over at most 3 continuation bytes to a lead byte */
    size_t k = 0;
    while (k < 3 && k < n && (p[n - 1 - k] & 0xC0) == 0x80)
        k++;
    if (k == n)
        return 0;
    unsigned lead = p[n - 1 - k];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead < 0xC2 || lead >= 0xF5 || want <= k + 1)
        return 0;
    /* only a prefix that could still become a valid character counts */
    uint32_t cp;
    size_t got = kw_text_decode(p + n - 1 - k, k + 1, &cp);
    return got == k + 1 ? k + 1 : 0;
}
