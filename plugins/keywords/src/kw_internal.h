/*
 * kw_internal.h - the builder's trie, shared by kw_builder.c (which fills it) and
 * kw_matcher.c (which turns it into a double-array Aho-Corasick automaton).
 */
#ifndef KW_INTERNAL_H
#define KW_INTERNAL_H

#include "kw.h"

/** One trie node. Children form a list sorted by label; node 0 is the root. */
typedef struct kw_tnode {
    uint32_t child;   /**< first child, 0: none */
    uint32_t sibling; /**< next sibling (larger label), 0: none */
    uint16_t depth;   /**< bytes from the root */
    uint8_t label;    /**< byte on the edge from the parent */
    uint8_t term;     /**< 1: a term ends here */
} kw_tnode;

struct kw_builder {
    kw_tnode *nodes;
    size_t n, cap;
    uint32_t root_child[256]; /**< the root's children by label (0: none) */
    size_t terms_read, terms;
    size_t max_cps; /**< most code points in one folded term */
    int has_space;  /**< some term holds a space */
    int case_sensitive;
    kw_normalize_fn normalize;
    kw_free_fn free_fn;
    void *ctx;
};

/**
 * Folds a UTF-8 string the way the scanner folds text: whitespace runs become one space
 * (none at either end), other characters are case-folded unless case_sensitive. Writes
 * at most cap bytes to out; returns the full length (> cap: it did not fit), sets *cps to
 * the code point count, or returns (size_t)-1 on invalid UTF-8 (*bad: its byte offset).
 */
size_t kw_fold_string(const char *in, size_t len, int case_sensitive, unsigned char *out,
                      size_t cap, size_t *cps, size_t *bad);

#endif
