/*
 * kw_text.h - UTF-8 and character classes shared by the term loader and the scanner, so
 * that terms and scanned text are folded by exactly the same rules.
 */
#ifndef KW_TEXT_H
#define KW_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define KW_CP_INVALID 0xFFFFFFFFu
/** Most code points one code point folds to (U+0390 -> 3). */
#define KW_FOLD_MAX 3

/** Character classes (kw_text_class). */
enum { KW_WORD = 1, KW_SPACE = 2 };

/**
 * Decodes the strict UTF-8 character at p[0..n), n >= 1 (no surrogates, no overlongs).
 * Returns its length; on invalid bytes *cp = KW_CP_INVALID and the length of the maximal
 * invalid subpart (>= 1).
 */
size_t kw_text_decode(const unsigned char *p, size_t n, uint32_t *cp);

/** Encodes c (a valid scalar value) into o[0..4); returns the length. */
size_t kw_text_encode(uint32_t c, unsigned char *o);

/** KW_WORD (letter, mark, number, '_'), KW_SPACE (White_Space) or 0. */
unsigned kw_text_class(uint32_t c);

/**
 * The case folding of c into out[0..KW_FOLD_MAX): Unicode full case folding
 * (CaseFolding.txt C+F, "ß" -> "ss"), except U+0130 -> "i". Returns the count (>= 1).
 */
size_t kw_text_fold(uint32_t c, uint32_t *out);

/** Bytes at the end of p[0..n) that start a UTF-8 sequence n does not complete (0..3). */
size_t kw_text_incomplete(const unsigned char *p, size_t n);

#endif
