/*
 * normalize.h - per-code-point helpers of normalize.c, exposed for its unit tests.
 * Internal; the API is wr_normalize / wr_norm_span in scan.h.
 */
#ifndef WEIR_NORMALIZE_H
#define WEIR_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

/* WR_NORM_CONFUSABLES on one code point: its ASCII look-alike, or cp itself. */
uint32_t wr_norm_fold(uint32_t cp);

/* The same from the fold tables directly (wr_norm_fold reads a table built from them). */
uint32_t wr_norm_fold_search(uint32_t cp);

/*
 * 1 when cp may join the character before it (a combining mark, an invisible character, a
 * conjoining jamo, a vowel sign): a span ending before it takes it along, and a stream
 * cannot decide text ending before it. Errs on the side of joining.
 */
int wr_norm_may_join(uint32_t cp);

/* 1 when WR_NORM_INVISIBLE drops cp (general category Cf, tags, variation selectors, ...). */
int wr_norm_invisible(uint32_t cp);

/* wr_normalize without the per-character quick check: every character goes through the
 * segment machinery. Same results, slower; for differential tests. */
struct wr_norm;
int wr_normalize_slow(struct wr_norm *out, const char *in, size_t len, unsigned flags);

#endif
