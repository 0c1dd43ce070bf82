/*
 * internal.h - helpers shared by every libweir module. Not installed.
 *
 * Internal names use the `wr_` prefix; they have hidden visibility in the shared library.
 */
#ifndef WEIR_INTERNAL_H
#define WEIR_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/weir.h"

#if defined(__GNUC__)
#define WR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define WR_LIKELY(x) __builtin_expect(!!(x), 1)
#define WR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define WR_PRINTF(a, b)
#define WR_LIKELY(x) (x)
#define WR_UNLIKELY(x) (x)
#endif

#define WR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Internal code: a detector plugin failed on a text (or broke the ABI's rules: a span out
 * of range or inside a character). Turned into an error finding; never returned by the API. */
#define WR_EPLUGIN (-100)

/* Hard limits on untrusted input. */
#define WR_MAX_TEXT ((size_t)64 * 1024 * 1024) /* one check */
#define WR_MAX_POLICY_BYTES ((size_t)4 * 1024 * 1024)
#define WR_MAX_YAML_DEPTH 32

/*
 * Fills err (may be NULL) and returns code. `source` may be NULL; line/col 0 = unknown.
 */
int wr_error_set(weir_error *err, int code, const char *source, int line, int col,
                 const char *fmt, ...) WR_PRINTF(6, 7);

/* Allocation wrappers: NULL on failure, never abort. */
void *wr_malloc(size_t n);
void *wr_calloc(size_t n, size_t size);
void *wr_realloc(void *p, size_t n);
char *wr_strdup(const char *s);

/*
 * Makes room for `need` elements of `elem` bytes in array v of capacity *cap (doubling,
 * starting at `initial`). Returns the array, possibly moved, or NULL on failure (v is then
 * untouched and still owned by the caller).
 */
void *wr_grow(void *v, size_t *cap, size_t need, size_t elem, size_t initial);
char *wr_strndup(const char *s, size_t n);

/* A growable byte buffer. Always NUL-terminated when len > 0 or after wr_buf_finish. */
typedef struct wr_buf {
    char *data;
    size_t len, cap;
    int oom; /* sticky: set once an append failed */
} wr_buf;

void wr_buf_init(wr_buf *b);
int wr_buf_reserve(wr_buf *b, size_t extra);
int wr_buf_append(wr_buf *b, const void *p, size_t n);
int wr_buf_puts(wr_buf *b, const char *s);
int wr_buf_printf(wr_buf *b, const char *fmt, ...) WR_PRINTF(2, 3);
void wr_buf_free(wr_buf *b);

/*
 * Glob match: `*` matches any run of characters except `stop` (pass 0 for no stop),
 * `?` one character except `stop`. Case-sensitive. Used for ARNs (stop ':') and model ids.
 */
int wr_glob_match(const char *pattern, const char *s, char stop);

/* Hex-encodes n bytes into out (2n+1 bytes, NUL-terminated). */
void wr_hex(char *out, const unsigned char *in, size_t n);

/* Wipes memory that held secrets (not optimised away). */
void wr_wipe(void *p, size_t n);

/*
 * 1 when the JSON text s[0..n) nests no deeper than max_depth (brackets outside strings);
 * a cheap check before handing untrusted JSON to a parser with a fixed depth limit.
 */
int wr_json_depth_ok(const char *s, size_t n, int max_depth);

/*
 * Strict unpadded base64url (RFC 4648 §5, as JWS and aws-iam-authenticator tokens use):
 * decodes in[0..n) into out, which needs n / 4 * 3 + 3 bytes. Returns the length, or -1
 * for a character outside the alphabet, padding, a length of 4k+1, or non-zero trailing
 * bits (not what an encoder writes).
 */
long wr_b64url_decode(const char *in, size_t n, unsigned char *out);

struct json_t;

/*
 * Parses the JSON text data[0..len) into a jansson tree: the same tree, and the same
 * accept/reject answer, as json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
 * (an object or array at top level; no duplicate or NUL-holding keys; escaped NULs allowed in
 * values), with strings scanned many bytes at a time. Containers may nest max_depth levels
 * (clamped to 1024). Returns 0 and *out = a new reference (caller json_decref's it); or
 * WEIR_ELIMIT (nests deeper), WEIR_EINVAL (invalid JSON) or WEIR_ENOMEM, with *out = NULL,
 * *line / *column (1-based, best effort; may be NULL) and a short message in msg (may be
 * NULL). Numbers are read in the C locale whatever the process locale is. Thread-safe.
 */
int wr_json_fast_parse(struct json_t **out, const char *data, size_t len, int max_depth,
                       int *line, int *column, char *msg, size_t msg_size);

/* Levenshtein distance, for "did you mean" suggestions. Bounded: returns > max early. */
size_t wr_edit_distance(const char *a, const char *b, size_t max);

#endif
