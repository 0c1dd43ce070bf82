/*
 * normalize.h - per-code-point helpers of normalize.c, exposed for its unit tests.
 * Internal; the API is wr_normalize / wr_norm_span in scan.h.
 */
#ifndef WEIR_NORMALIZE_H
#define WEIR_NORMALIZE_H

#include <stdint.h>

/* WR_NORM_CONFUSABLES on one code point: its ASCII look-alike, or cp itself. */
uint32_t wr_norm_fold(uint32_t cp);

/* 1 when WR_NORM_INVISIBLE drops cp (general category Cf, tags, variation selectors, ...). */
int wr_norm_invisible(uint32_t cp);

#endif
