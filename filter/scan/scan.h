/*
 * scan.h - normalization, builtin detectors and the scanner. Internal.
 *
 * Pipeline for one check:
 *   original bytes --wr_normalize--> normalized UTF-8 + offset map
 *   normalized text --wr_scan--> matches (normalized offsets) per detector
 *   matches --wr_norm_span--> spans in the original bytes (redaction edits those)
 */
#ifndef WEIR_SCAN_H
#define WEIR_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "internal.h"
#include "weir/plugin.h"

/* ----------------------------------------------------------------- normalization */

enum {
    WR_NORM_NFKC = 1u << 0,        /* Unicode NFKC (full-width digits/letters, ligatures, ...) */
    WR_NORM_INVISIBLE = 1u << 1,   /* drop zero-width, bidi controls, soft hyphen, ... */
    WR_NORM_CONFUSABLES = 1u << 2, /* fold common look-alikes (Cyrillic/Greek) to ASCII */
};
#define WR_NORM_DEFAULT (WR_NORM_NFKC | WR_NORM_INVISIBLE | WR_NORM_CONFUSABLES)

/*
 * Normalized text and the map back to the original bytes.
 *   text[0..len)  valid UTF-8, NUL-terminated. Invalid input sequences become U+FFFD.
 *   map[0..len]   map[i] = offset in the original of the first byte of the source
 *                 character that produced normalized byte i; map[len] = original length.
 *                 Non-decreasing.
 * When `identity` is 1 the input was left as is (e.g. pure ASCII): text points at the
 * caller's input (not NUL-terminated!), map is NULL and offsets are the same.
 */
typedef struct wr_norm {
    const char *text;
    size_t len;
    uint32_t *map;
    int identity;
    char *owned;      /* the allocation behind text when !identity */
    const char *orig; /* the input (borrowed), for wr_norm_span */
    size_t orig_len;
} wr_norm;

/*
 * Normalizes in[0..len) per flags. Returns 0 or WEIR_ENOMEM / WEIR_ELIMIT (len >= 4 GiB).
 * Never fails on bad UTF-8. On failure *out is left freeable.
 */
int wr_normalize(wr_norm *out, const char *in, size_t len, unsigned flags);
void wr_norm_free(wr_norm *n);

/*
 * Maps normalized span [ns, ne) to the original: from the start of the character (or
 * segment) that produced byte ns to the end of the original character that produced byte
 * ne-1. Character-level at the end, so a span does not depend on whether the text around
 * it needed normalizing (a combining mark after a match stays outside it either way).
 */
void wr_norm_span(const wr_norm *n, size_t ns, size_t ne, size_t *os, size_t *oe);

/* ----------------------------------------------------------------- detectors */

/*
 * Prefilter triggers: every match of a detector contains at least one trigger of its
 * set, and no match is longer than max_len bytes. The scanner finds triggers at
 * memchr-like speed and runs the detector's regex only in windows around them.
 */
enum {
    WR_TRIG_DIGIT = 1u << 0,  /* an ASCII digit 0-9 */
    WR_TRIG_AT = 1u << 1,     /* '@' */
    WR_TRIG_COLON = 1u << 2,  /* ':' */
    WR_TRIG_WWW = 1u << 3,    /* "www." (any case) */
    WR_TRIG_TOKEN = 1u << 4,  /* a run of >= 16 bytes of [A-Za-z0-9_+/=-] */
    WR_TRIG_DASHES = 1u << 5, /* "-----" */
    WR_TRIG_CCDIGITS = 1u << 6, /* two capital letters then two digits ("DE89": IBAN) */
    WR_TRIG_ALWAYS = 1u << 31 /* no prefilter: scan the whole text */
};

#define WR_LEAD(n) ((n) + 1u)

/*
 * Validator: 1 keeps the match subject[start..end), 0 drops it. Gets the whole (normalized)
 * subject so it can look at context around the match (e.g. "born on" before a date).
 * Must be pure and thread-safe.
 */
typedef int (*wr_validate_fn)(const char *subject, size_t subject_len, size_t start, size_t end);

/*
 * Window check: 0 when no match can start in subject[from..to) (e.g. no cue word there),
 * so the regex is not run. Must never say 0 where the regex could match. Optional.
 */
typedef int (*wr_window_fn)(const char *subject, size_t subject_len, size_t from, size_t to);

/*
 * Anchor: for the trigger byte at `trig`, where can a match containing it start? Returns
 * 1 and *start when there is exactly one place (the regex then runs anchored there),
 * 0 when no match can contain this trigger, -1 when it cannot tell (the scanner searches
 * the trigger's window instead). Must be exact: a wrong start loses matches. Optional.
 */
typedef int (*wr_anchor_fn)(const char *subject, size_t subject_len, size_t trig, size_t *start);

typedef struct wr_detector_def {
    const char *name;        /* policy name: "email", "credit_card", ... */
    const char *entity;      /* Bedrock Guardrails entity type: "EMAIL", ... */
    const char *label;       /* redaction label, e.g. "EMAIL" -> "[EMAIL]" */
    const char *pattern;     /* PCRE2 pattern (compiled with PCRE2_UTF | PCRE2_UCP? no: see options) */
    uint32_t options;        /* PCRE2 compile options added to the scanner's defaults */
    uint32_t triggers;       /* WR_TRIG_* */
    uint32_t max_len;        /* longest possible match in bytes */
    uint32_t max_lead;       /* WR_LEAD(n): a match starts at most n bytes before its first
                              * trigger byte (the regex search starts there); 0: not declared,
                              * max_len is assumed */
    uint32_t min_digits;     /* every match holds at least this many ASCII digits (DIGIT
                              * triggers only; windows with fewer are skipped); 0: no bound */
    int one_cluster;         /* 1: a match's digits are one cluster (separated by at most one
                              * byte), so one digit hit holds them all: hits with fewer than
                              * min_digits digits open no window */
    wr_validate_fn validate; /* NULL: the regex alone decides */
    wr_window_fn window;     /* NULL: every window is searched */
    wr_anchor_fn anchor;     /* NULL: windows are searched */
    const char *aliases;     /* space-separated other names (Presidio, Bedrock), or NULL */
    const char *description; /* one line for docs and `weir policy detectors` */
} wr_detector_def;

extern const wr_detector_def wr_builtin_detectors[];
extern const size_t wr_builtin_detector_count;

/*
 * The builtin detectors behind the plugin interface: created with {"detector": "<name>"}
 * (builtin_plugin.c). The policy compiler hands builtins to the scanner directly, which
 * batches their prefilters; this descriptor is for embedders and for the tests that keep
 * both paths in agreement.
 */
extern const weir_plugin wr_builtin_plugin;

/* Finds a builtin by name or alias (case-insensitive). NULL if none. */
const wr_detector_def *wr_builtin_find(const char *name);

/* ----------------------------------------------------------------- compiled detectors */

/* A detector ready to run: builtin or custom regex, compiled once per policy. */
typedef struct wr_detector {
    const wr_detector_def *def; /* builtin, or NULL for a custom regex */
    char *name;                 /* "email" or "regex" or the plugin name */
    char *entity;               /* "EMAIL", or "CUSTOM" */
    char *label;                /* redaction label */
    pcre2_code *code;           /* JIT-compiled when the platform allows */
    uint32_t triggers;
    uint32_t max_len;
    uint32_t max_lead;   /* bytes, resolved: max_len when the definition did not declare it */
    uint32_t min_digits;
    int one_cluster;
    wr_validate_fn validate;
    wr_window_fn window;
    wr_anchor_fn anchor;
    /* For custom regexes: a byte every match must contain (PCRE2's last literal),
     * used as a memchr prefilter; -1 when none. */
    int required_byte;
    int required_caseless;
    /* A detector plugin instance (policy `detectors:`), or NULL. Plugin detectors have no
     * regex: wr_scan and wr_scan_tail call the plugin (filter/plugin/loader.h). Owned. */
    struct wr_pdet *plugin;
} wr_detector;

/*
 * Compiles `pattern` with the scanner's options (+extra). On error returns WEIR_EPOLICY
 * and writes PCRE2's message and the offset of the error in the pattern to *msg / *erroffset.
 */
int wr_detector_compile(wr_detector *d, const char *pattern, uint32_t extra_options,
                        char *msg, size_t msg_size, size_t *erroffset);
int wr_detector_init_builtin(wr_detector *d, const wr_detector_def *def, char *msg,
                             size_t msg_size);
void wr_detector_release(wr_detector *d);

/* Makes d run plugin instance `pd` (takes it, also on failure). 0 or WEIR_ENOMEM. */
int wr_detector_init_plugin(wr_detector *d, struct wr_pdet *pd, const char *name,
                            const char *entity, const char *label);

/* One match in normalized offsets. */
typedef struct wr_match {
    size_t start, end;
    uint32_t detector; /* index into the policy's detector array */
} wr_match;

typedef struct wr_match_list {
    wr_match *v;
    size_t n, cap;
} wr_match_list;

/* Limits on each regex match (PCRE2 match and depth limits). */
typedef struct wr_scan_limits {
    uint32_t match_limit;
    uint32_t depth_limit;
} wr_scan_limits;

/*
 * Runs detectors[i] for every i with want[i] != 0 over text[0..len) and appends their
 * validated matches to out (unsorted across detectors, sorted within one).
 * Returns 0, WEIR_ENOMEM, WEIR_ELIMIT when a regex hit its match/depth limit, or WR_EPLUGIN
 * when a detector plugin failed (then *failed_detector is its index; matches found so far
 * stay in out).
 */
int wr_scan(wr_match_list *out, const wr_detector *detectors, const unsigned char *want,
            size_t ndetectors, const char *text, size_t len, const wr_scan_limits *limits,
            size_t *failed_detector);

void wr_match_list_free(wr_match_list *l);

/*
 * Streaming: the earliest offset >= from at which a match of one of the wanted detectors
 * could start and still be completed or extended by text that has not arrived yet (PCRE2
 * partial matching over each detector's last max_len bytes, whatever the triggers).
 * *earliest = len when there is none. Returns 0, WEIR_ENOMEM, WEIR_ELIMIT or WR_EPLUGIN.
 */
int wr_scan_tail(const wr_detector *detectors, const unsigned char *want, size_t ndetectors,
                 const char *text, size_t len, size_t from, const wr_scan_limits *limits,
                 size_t *earliest);

/*
 * Convenience for tests and tools: runs one builtin detector over text and returns its
 * matches (new array, caller frees with free()). Returns count, or -1 on error.
 */
long wr_detect_builtin(const char *name, const char *text, size_t len, wr_match **out);

#endif
