/*
 * weir.h - the libweir public API.
 *
 * libweir checks text bound for (or coming from) a large language model against a
 * compiled YAML policy and returns a verdict: allow, log, redact or block, with the
 * findings that led to it and, when the policy redacts, the redacted text.
 *
 * Conventions
 *   - Every public name starts with `weir_`.
 *   - Functions that can fail return 0 on success or a negative `weir_code`, and fill
 *     the caller-supplied `weir_error` (which may be NULL) with a message a human can act on.
 *   - Output parameters come first.
 *   - Every `_free` / `_unref` accepts NULL.
 *   - Ownership is stated on each function: "new, caller frees" or "borrowed".
 *
 * Thread safety
 *   - A `weir_policy` is immutable once loaded and may be used by any number of threads at
 *     once; `weir_policy_ref` / `weir_policy_unref` are atomic.
 *   - `weir_check` is thread-safe for concurrent calls on the same policy.
 *   - A `weir_result` belongs to one thread at a time.
 *   - A `weir_vault` is NOT thread-safe: use one per conversation, or lock around it.
 */
#ifndef WEIR_WEIR_H
#define WEIR_WEIR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define WEIR_EXTERN __declspec(dllexport)
#elif defined(__GNUC__)
#define WEIR_EXTERN __attribute__((visibility("default")))
#else
#define WEIR_EXTERN
#endif

#define WEIR_VERSION_MAJOR 0
#define WEIR_VERSION_MINOR 1
#define WEIR_VERSION_PATCH 0

/** The library's version string, e.g. "0.1.0". Borrowed, static. */
WEIR_EXTERN const char *weir_version(void);

/* ------------------------------------------------------------------------- errors */

/** Return codes. 0 is success; every failure is negative. */
typedef enum weir_code {
    WEIR_OK = 0,
    WEIR_EINVAL = -1,    /**< an argument is invalid (NULL where not allowed, bad enum) */
    WEIR_ENOMEM = -2,    /**< out of memory */
    WEIR_EPOLICY = -3,   /**< the policy is invalid; line and column say where */
    WEIR_ELIMIT = -4,    /**< an input limit was exceeded (size, depth, match limit) */
    WEIR_EIO = -5,       /**< a file could not be read or written */
    WEIR_ENOTFOUND = -6, /**< a named thing (file, detector, key) does not exist */
    WEIR_EINTERNAL = -7  /**< a bug in weir: please report it */
} weir_code;

/**
 * A caller-supplied error report. Functions fill it on failure; on success it is left
 * untouched. `line` and `column` are 1-based and 0 when not known.
 */
typedef struct weir_error {
    int code;          /**< a weir_code */
    int line, column;  /**< where in `source`, when the error is about a file */
    char source[128];  /**< the file or buffer name, or "" */
    char text[256];    /**< one line a human can act on */
} weir_error;

/**
 * Formats an error as "source:line:col: text" (omitting the parts that are unknown)
 * into buf. Returns buf.
 */
WEIR_EXTERN const char *weir_error_format(const weir_error *err, char *buf, size_t size);

/** Frees memory that libweir handed to the caller (weir_restore output). NULL is fine. */
WEIR_EXTERN void weir_free(void *p);

/* ------------------------------------------------------------------------- verdicts */

/** What the gate does. Ordered by strictness: a larger value wins. */
typedef enum weir_action {
    WEIR_ALLOW = 0,  /**< nothing to do */
    WEIR_LOG = 1,    /**< let it through unchanged, record the findings */
    WEIR_REDACT = 2, /**< let it through with the matched spans replaced */
    WEIR_BLOCK = 3   /**< refuse it */
} weir_action;

/** "allow", "log", "redact" or "block". Borrowed, static. */
WEIR_EXTERN const char *weir_action_name(weir_action a);

/** Which way the text travels. */
typedef enum weir_direction {
    WEIR_PROMPT = 1,    /**< from the application to the model */
    WEIR_COMPLETION = 2 /**< from the model back to the application */
} weir_direction;

/** Which cloud the call goes to. Used by access, residency and rule conditions. */
typedef enum weir_provider {
    WEIR_PROVIDER_UNSPECIFIED = 0,
    WEIR_PROVIDER_BEDROCK = 1,
    WEIR_PROVIDER_AZURE = 2
} weir_provider;

/* ------------------------------------------------------------------------- policy */

/** A compiled policy: immutable, reference counted, shareable across threads. */
typedef struct weir_policy weir_policy;

/**
 * Loads and compiles the YAML policy at `path`. The policy is refused whole on the first
 * error, which is reported with file, line and column.
 * On success *out is a new reference: release it with weir_policy_unref.
 */
WEIR_EXTERN int weir_policy_load_file(weir_policy **out, const char *path, weir_error *err);

/**
 * Like weir_policy_load_file, from a buffer. `source` names the buffer in errors (may be
 * NULL). The buffer is not retained.
 */
WEIR_EXTERN int weir_policy_load_buffer(weir_policy **out, const char *yaml, size_t len,
                                        const char *source, weir_error *err);

/** Loads the default policy compiled into libweir (policies/default.yaml). New reference. */
WEIR_EXTERN int weir_policy_load_default(weir_policy **out, weir_error *err);

/** The YAML text of the built-in default policy. Borrowed, static, NUL-terminated. */
WEIR_EXTERN const char *weir_policy_default_source(void);

/** Adds a reference and returns p. Thread-safe. */
WEIR_EXTERN weir_policy *weir_policy_ref(weir_policy *p);

/** Drops a reference; the last one frees the policy. Thread-safe. NULL is fine. */
WEIR_EXTERN void weir_policy_unref(weir_policy *p);

/** The policy's `name`. Borrowed, valid while the policy lives. */
WEIR_EXTERN const char *weir_policy_name(const weir_policy *p);

/**
 * "sha256:<64 hex>" of the policy's source bytes, for audit records.
 * Borrowed, valid while the policy lives.
 */
WEIR_EXTERN const char *weir_policy_digest(const weir_policy *p);

/** Number of rules in the policy. */
WEIR_EXTERN size_t weir_policy_rule_count(const weir_policy *p);

/* ------------------------------------------------------------------------- vault */

/**
 * A vault keeps the originals behind reversible tokens (redaction style `token`) so the
 * completion can be restored for the caller. Use one vault per conversation.
 * Not thread-safe. It holds sensitive values in memory and wipes them when freed.
 */
typedef struct weir_vault weir_vault;

/** Creates an empty vault. New, caller frees with weir_vault_free. */
WEIR_EXTERN int weir_vault_new(weir_vault **out, weir_error *err);

/** Wipes and frees a vault. NULL is fine. */
WEIR_EXTERN void weir_vault_free(weir_vault *v);

/** Number of distinct values held. */
WEIR_EXTERN size_t weir_vault_size(const weir_vault *v);

/**
 * Replaces every token of `v` found in `text` by the original value.
 * On success *out is a new NUL-terminated buffer of *out_len bytes: free with weir_free.
 */
WEIR_EXTERN int weir_restore(char **out, size_t *out_len, const weir_vault *v,
                             const char *text, size_t len, weir_error *err);

/* ------------------------------------------------------------------------- check */

#define WEIR_CONTEXT_VERSION 1

/**
 * Who is calling, which model, where. Caller-allocated: initialise with
 * WEIR_CONTEXT_INIT so later library versions can tell which fields you know about.
 * All strings are borrowed for the duration of the call; NULL means "not known".
 */
typedef struct weir_context {
    unsigned int version;       /**< WEIR_CONTEXT_VERSION */
    weir_direction direction;   /**< prompt or completion */
    weir_provider provider;     /**< bedrock, azure or unspecified */
    const char *principal;      /**< caller's IAM ARN (role, assumed-role, user) */
    const char *model;          /**< model id, inference profile id or ARN, or Azure deployment's model */
    const char *region;         /**< AWS or Azure region the call goes to */
    const char *deployment_type;/**< Azure: standard, datazone, global, provisioned... */
    weir_vault *vault;          /**< for `token` redaction; NULL: tokens fall back to labels */
} weir_context;

#define WEIR_CONTEXT_INIT { WEIR_CONTEXT_VERSION, WEIR_PROMPT, WEIR_PROVIDER_UNSPECIFIED, \
                            NULL, NULL, NULL, NULL, NULL }

/** What a finding is about. */
typedef enum weir_finding_kind {
    WEIR_FINDING_CONTENT = 0,   /**< a detector matched a span of the text */
    WEIR_FINDING_ACCESS = 1,    /**< the caller or the model is not allowed */
    WEIR_FINDING_RESIDENCY = 2, /**< the region or deployment type is not allowed */
    WEIR_FINDING_ERROR = 3      /**< the gate could not decide (e.g. a regex hit its limit) */
} weir_finding_kind;

/**
 * One reason behind a verdict. Owned by the result: borrowed, valid until the result is
 * freed. Later minor versions may append fields: never allocate or copy this struct.
 */
typedef struct weir_finding {
    weir_finding_kind kind;
    const char *rule;      /**< rule id, or "access.roles", "residency.aws_regions", ... */
    const char *detector;  /**< detector name ("email", "regex", ...) or "" */
    const char *entity;    /**< entity type in Bedrock Guardrails vocabulary, or "" */
    weir_action action;    /**< the rule's action (what it does, or would do in monitor mode) */
    int monitor;           /**< 1: recorded only, not applied (monitor mode) */
    size_t start, end;     /**< byte span in the original text; 0,0 when not about content */
    const char *message;   /**< the rule's message or the denial's reason, or "" (never NULL);
                                never the matched value */
} weir_finding;

/** "content", "access", "residency" or "error". Borrowed, static. */
WEIR_EXTERN const char *weir_finding_kind_name(weir_finding_kind k);

/** The outcome of one check. New from weir_check, caller frees with weir_result_free. */
typedef struct weir_result weir_result;

/**
 * Checks `text` (len bytes, any bytes: invalid UTF-8 is handled) against policy `p` for
 * the call described by `ctx` (NULL: a prompt with nothing known about the caller).
 *
 * Returns 0 and a new result on success, whatever the verdict. A negative return means
 * no verdict at all (bad arguments, out of memory): the caller must treat that as a
 * refusal. A regex hitting its match limit or an input over the policy's size limit
 * becomes a WEIR_FINDING_ERROR finding handled per the policy's `on_error`. A policy that
 * restricts roles, models or regions denies a call whose context does not state them.
 */
WEIR_EXTERN int weir_check(weir_result **out, const weir_policy *p, const weir_context *ctx,
                           const char *text, size_t len, weir_error *err);

/** The verdict. In monitor mode this is what is applied (WEIR_ALLOW or WEIR_LOG). */
WEIR_EXTERN weir_action weir_result_action(const weir_result *r);

/** The verdict the policy would give if nothing were in monitor mode. */
WEIR_EXTERN weir_action weir_result_enforced_action(const weir_result *r);

/** Number of findings, in text order (access/residency/error findings first). */
WEIR_EXTERN size_t weir_result_finding_count(const weir_result *r);

/** Finding i (0-based), or NULL when out of range. Borrowed. */
WEIR_EXTERN const weir_finding *weir_result_finding(const weir_result *r, size_t i);

/**
 * The text after redaction, or NULL when the check did not change the text (the
 * original bytes stand as they are). Borrowed, NUL-terminated, valid until the result is
 * freed; *len (may be NULL) receives its length.
 */
WEIR_EXTERN const char *weir_result_text(const weir_result *r, size_t *len);

/**
 * For a block: the message to show the caller (the blocking rule's message, or a default
 * that names the rule). NULL when not blocked. Never contains matched values. Borrowed.
 */
WEIR_EXTERN const char *weir_result_message(const weir_result *r);

/** The finding that decided a block (the first with the strictest action), or NULL. */
WEIR_EXTERN const weir_finding *weir_result_decisive(const weir_result *r);

/** Frees a result. NULL is fine. */
WEIR_EXTERN void weir_result_free(weir_result *r);

/* ------------------------------------------------------------------------- streams */

/**
 * A streamed text (a completion arriving in chunks): each chunk is checked as soon as it
 * arrives, and only what a possible match still needs is held back (a card number split
 * across chunks is caught); everything else is released at once, redacted where the policy
 * says. The released text does not depend on where the chunks were split: it is what
 * weir_check gives for the whole text. Not thread-safe: one stream, one thread at a time.
 */
typedef struct weir_stream weir_stream;

/**
 * Starts a stream. The context is copied but its strings (and vault) are borrowed for the
 * stream's life. `max_hold` bounds the bytes held back (0: 64 KiB); past it the policy's
 * `on_error` decides: block (default) ends the stream, allow/log releases what is held.
 * New stream on success: free it with weir_stream_free.
 */
WEIR_EXTERN int weir_stream_new(weir_stream **out, const weir_policy *p, const weir_context *ctx,
                                size_t max_hold, weir_error *err);

/**
 * Adds a chunk. *out (may be empty) is the text to release now: borrowed, valid until the
 * next call on this stream. After a block, nothing more is released: end the stream the
 * provider's way (weir_stream_message says why).
 */
WEIR_EXTERN int weir_stream_feed(weir_stream *s, const char *chunk, size_t len, const char **out,
                                 size_t *out_len, weir_error *err);

/** Ends the stream: releases what was held back (checked as the end of the text). */
WEIR_EXTERN int weir_stream_finish(weir_stream *s, const char **out, size_t *out_len,
                                   weir_error *err);

/** The strictest verdict applied so far (WEIR_BLOCK: the stream is over). */
WEIR_EXTERN weir_action weir_stream_action(const weir_stream *s);

/** For a blocked stream, the message to show (never a matched value); otherwise NULL. */
WEIR_EXTERN const char *weir_stream_message(const weir_stream *s);

/** Bytes received but not released yet. */
WEIR_EXTERN size_t weir_stream_held(const weir_stream *s);

/** Frees a stream. NULL is fine. */
WEIR_EXTERN void weir_stream_free(weir_stream *s);

/* ------------------------------------------------------------------------- detectors */

/**
 * Builtin detector i (0-based): its policy name (e.g. "email") and, through *entity,
 * its Bedrock Guardrails entity type (e.g. "EMAIL"). NULL when i is out of range.
 * Borrowed, static.
 */
WEIR_EXTERN const char *weir_detector_name(size_t i, const char **entity);

#ifdef __cplusplus
}
#endif
#endif /* WEIR_WEIR_H */
