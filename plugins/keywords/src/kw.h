/*
 * kw.h - the core of the keywords plugin: a term list loader and an Aho-Corasick matcher
 * over case-folded UTF-8 with whole-word, leftmost-longest semantics.
 *
 * Linked statically into the plugin module (weir-keywords.so), the tests, the fuzz harness
 * and the benchmark. Nothing here knows the plugin ABI.
 *
 * Life cycle: a builder collects terms (kw_builder_add, kw_builder_add_text,
 * kw_builder_add_file), kw_matcher_build turns them into an immutable matcher, and the
 * builder can be freed at once. A matcher is read-only: kw_matcher_scan and
 * kw_matcher_tail may run concurrently on one matcher (their state is on the stack).
 */
#ifndef KW_H
#define KW_H

#include <stddef.h>
#include <stdint.h>

/** Return codes. */
enum {
    KW_OK = 0,
    KW_EINVAL = -1, /**< bad input (a term, a file, a setting): see the error text */
    KW_ENOMEM = -2, /**< out of memory */
    KW_ELIMIT = -3  /**< a limit below was exceeded: see the error text */
};

/** Longest term, in bytes after normalization, case folding and whitespace collapsing. */
#define KW_TERM_MAX 256
/** Largest term file accepted. */
#define KW_FILE_MAX ((size_t)64 * 1024 * 1024)
/** Most terms accepted in one builder (counted before duplicates are merged). */
#define KW_TERMS_MAX 1000000
/** Most automaton states (trie nodes) accepted; each costs about 30 bytes at build time. */
#define KW_STATES_MAX ((size_t)1 << 25)

typedef struct kw_builder kw_builder;
typedef struct kw_matcher kw_matcher;

/** Normalizes in[0..len) into a new *out (freed with the matching kw_free_fn); 0 or
 *  nonzero when out of memory. The plugin passes the host's normalize callback. */
typedef int (*kw_normalize_fn)(void *ctx, const char *in, size_t len, char **out,
                               size_t *out_len);
typedef void (*kw_free_fn)(void *ctx, void *p);
/** Receives one finding [start, end) of the scanned text; nonzero stops the scan. */
typedef int (*kw_emit_fn)(void *ctx, size_t start, size_t end);

/** What a matcher holds, for logs, metrics and the detector info. */
typedef struct kw_stats {
    size_t terms_read;    /**< terms given to the builder, duplicates included */
    size_t terms;         /**< distinct terms after normalization and folding */
    size_t states;        /**< automaton states (trie nodes, root included) */
    size_t bytes;         /**< memory of the matcher */
    size_t max_match_len; /**< longest finding in bytes of scanned text; 0: unbounded
                           *   (some term has a space, which matches any whitespace run) */
} kw_stats;

/**
 * New empty builder. case_sensitive 0 folds case (Unicode full case folding, except that
 * U+0130 folds to "i"); `normalize` (may be NULL: terms are used as given) is applied to
 * every term first, and its results freed with `free_fn` (NULL: free()).
 * Returns KW_OK or KW_ENOMEM; *out is the caller's, freed with kw_builder_free.
 */
int kw_builder_new(kw_builder **out, int case_sensitive, kw_normalize_fn normalize,
                   kw_free_fn free_fn, void *ctx);
/** Frees a builder; NULL is fine. */
void kw_builder_free(kw_builder *b);

/**
 * Adds one term (UTF-8; surrounding whitespace is ignored, inner runs become one space).
 * `where` and `line` only name the term in errors ("terms.txt:12" or "terms[3]" with line
 * 0). Returns KW_OK, KW_EINVAL (invalid UTF-8, empty, too long), KW_ELIMIT or KW_ENOMEM,
 * with a one-line reason in err.
 */
int kw_builder_add(kw_builder *b, const char *term, size_t len, const char *where,
                   size_t line, char *err, size_t errlen);

/**
 * Adds the terms of a term file's contents: UTF-8, one term per line, an optional BOM,
 * LF or CRLF line ends, lines whose first non-blank character is '#' and blank lines
 * skipped. `name` names the file in errors. Returns as kw_builder_add.
 */
int kw_builder_add_text(kw_builder *b, const char *data, size_t len, const char *name,
                        char *err, size_t errlen);

/** Reads the file at path (at most KW_FILE_MAX bytes) and adds it as kw_builder_add_text. */
int kw_builder_add_file(kw_builder *b, const char *path, char *err, size_t errlen);

/** Terms added so far (duplicates included) and distinct terms. */
size_t kw_builder_count(const kw_builder *b, size_t *distinct);

/**
 * Builds the matcher of the builder's terms (the builder is not changed). whole_word 1: a
 * finding has no letter, mark, number or '_' right before or after it. Returns KW_OK,
 * KW_EINVAL (no terms), KW_ELIMIT or KW_ENOMEM; *out is the caller's (kw_matcher_free).
 */
int kw_matcher_build(kw_matcher **out, const kw_builder *b, int whole_word, char *err,
                     size_t errlen);

/**
 * Reports the leftmost-longest, non-overlapping findings of text[0..len) in increasing
 * order, as byte spans of text. Returns 0, or the first nonzero value emit returned.
 */
int kw_matcher_scan(const kw_matcher *m, const char *text, size_t len, kw_emit_fn emit,
                    void *ctx);

/**
 * Streaming: the earliest offset >= from at which a finding could start that text after
 * `len` could still complete, invalidate or replace; len when there is none. Never later
 * than the truth (it may be earlier).
 */
size_t kw_matcher_tail(const kw_matcher *m, const char *text, size_t len, size_t from);

/** Fills *out. */
void kw_matcher_stats(const kw_matcher *m, kw_stats *out);

/** Frees a matcher; NULL is fine. */
void kw_matcher_free(kw_matcher *m);

#endif
