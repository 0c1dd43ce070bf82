/*
 * audit.h - the libweir audit trail: one CloudTrail-style record per decision, written to a
 * durable journal first, then into gzip log files in the CloudTrail key layout, with
 * signed, chained digest files that `weir audit verify` checks.
 *
 * Records never contain prompts, completions or matched values: only which rules fired,
 * on which detector, how often, and keyed hashes (HMAC-SHA256) of the matched values so a
 * reviewer can correlate repeated values without seeing them.
 *
 * Thread safety: a weir_audit may be used by any number of threads at once.
 * Ownership: weir_audit_open returns a new trail the caller closes with weir_audit_close.
 */
#ifndef WEIR_AUDIT_H
#define WEIR_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "weir/plugin.h"
#include "weir/weir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_audit weir_audit;

/** When a record counts as written. */
typedef enum weir_audit_durability {
    WEIR_AUDIT_SYNC = 0, /**< fsync'd before weir_audit_record returns (default) */
    WEIR_AUDIT_BATCH = 1 /**< fsync'd within batch_ms; weir_audit_record returns at once */
} weir_audit_durability;

#define WEIR_AUDIT_OPTIONS_VERSION 1

/** Where and how to write. Initialise with WEIR_AUDIT_OPTIONS_INIT. Strings are copied. */
typedef struct weir_audit_options {
    unsigned int version;            /**< WEIR_AUDIT_OPTIONS_VERSION */
    const char *dir;                 /**< root directory of the trail (created if missing) */
    const char *account_id;          /**< 12 digits for the key layout; NULL: "000000000000" */
    const char *region;              /**< region in the key layout; NULL: "us-east-1" */
    const char *trail_name;          /**< digest file names; NULL: "weir" */
    const char *bucket;              /**< logical bucket name in digests; NULL: "local" */
    weir_audit_durability durability;
    unsigned int batch_ms;           /**< BATCH: longest delay before fsync; 0: 100 ms */
    unsigned int roll_seconds;       /**< a log file covers at most this long; 0: 300 */
    size_t roll_bytes;               /**< ... and at most this many uncompressed bytes; 0: 16 MiB */
    const char *signing_key_file;    /**< PEM RSA private key; NULL: no digest files */
    unsigned int digest_seconds;     /**< digest period; 0: 3600 */
    const unsigned char *hash_key;   /**< HMAC key for matched-value hashes (>= 16 bytes) */
    size_t hash_key_len;
    int jsonl_fd;                    /**< >= 0: also write each record as one JSON line here */
} weir_audit_options;

#define WEIR_AUDIT_OPTIONS_INIT { WEIR_AUDIT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, \
                                  WEIR_AUDIT_SYNC, 0, 0, 0, NULL, 0, NULL, 0, -1 }

/**
 * Opens (creating if needed) the trail in opt->dir. A journal left by a crash is recovered:
 * its complete records go into a log file before anything new is written.
 * New trail on success: close it with weir_audit_close.
 */
WEIR_EXTERN int weir_audit_open(weir_audit **out, const weir_audit_options *opt, weir_error *err);

#define WEIR_AUDIT_EVENT_VERSION 1

/** What happened, besides the verdict. Initialise with WEIR_AUDIT_EVENT_INIT; strings borrowed. */
typedef struct weir_audit_event {
    unsigned int version;       /**< WEIR_AUDIT_EVENT_VERSION */
    const char *event_name;     /**< "InvokeModel", "Converse", "ChatCompletions", "Check", ... */
    const char *event_source;   /**< NULL: "weir.gate" */
    const char *aws_region;     /**< region the call went to */
    const char *source_ip;      /**< caller address */
    const char *user_agent;
    const char *principal;      /**< caller ARN (userIdentity) */
    const char *model;          /**< model id / deployment (requestParameters.modelId) */
    const char *request_id;     /**< upstream request id */
    weir_provider provider;
    weir_direction direction;
    int upstream_status;        /**< HTTP status from upstream; 0 when not forwarded */
    double gate_ms;             /**< time spent deciding */
    double upstream_ms;         /**< time spent upstream; 0 when not forwarded */
    long input_tokens, output_tokens; /**< -1 when the provider did not say */
    const char *error_code;     /**< e.g. "AccessDenied", "GuardrailIntervened"; NULL: none */
    const char *error_message;  /**< never a matched value */
} weir_audit_event;

#define WEIR_AUDIT_EVENT_INIT { WEIR_AUDIT_EVENT_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, \
                                NULL, NULL, WEIR_PROVIDER_UNSPECIFIED, WEIR_PROMPT, 0, 0, 0, \
                                -1, -1, NULL, NULL }

/**
 * Records one decision: the event, the policy's name and digest, mode, verdict, each finding
 * (rule, detector, entity, direction, count, HMAC of each matched value computed from
 * text[start..end) — the text is read, never written). `result` may be NULL for events
 * without a check (e.g. a malformed request). With WEIR_AUDIT_SYNC it returns only once the
 * record is on disk. A failure (disk full, directory gone) returns WEIR_EIO and marks the
 * trail unhealthy until a write succeeds again: the caller must then refuse traffic
 * unless configured to fail open.
 */
WEIR_EXTERN int weir_audit_record(weir_audit *a, const weir_audit_event *ev,
                                  const weir_result *result, const char *text, size_t len,
                                  weir_error *err);

/**
 * Records one call with both of its decisions, as the sidecar does: the prompt's result and
 * text, and the completion's (either may be NULL: a call refused before it was forwarded
 * has no completion). Findings carry their own direction; the record's action is the
 * stricter of the two; requestParameters.direction is "both" when both are given (else
 * ev->direction). Durability and failure as weir_audit_record.
 */
WEIR_EXTERN int weir_audit_record_call(weir_audit *a, const weir_audit_event *ev,
                                       const weir_result *prompt, const char *prompt_text,
                                       size_t prompt_len, const weir_result *completion,
                                       const char *completion_text, size_t completion_len,
                                       weir_error *err);

/**
 * Records an event of the gate itself: "GateStart", "GateStop", "PolicyReloadAccepted",
 * "PolicyReloadRefused", ... with a message (no secrets) and the policy in force (may be NULL).
 */
WEIR_EXTERN int weir_audit_record_gate(weir_audit *a, const char *event_name, const char *message,
                                       const weir_policy *policy, weir_error *err);

/** Rolls the open log file and writes any digest that is due. */
WEIR_EXTERN int weir_audit_flush(weir_audit *a, weir_error *err);

/** 1 when the last write succeeded (or none was attempted), 0 after a failure. */
WEIR_EXTERN int weir_audit_healthy(const weir_audit *a);

/**
 * Loads the audit sink plugin `plugin` (a path to its .so, relative to base_dir (NULL: the
 * working directory), or a bare name such as "s3-export" looked up as weir-<name>.so in
 * $WEIR_PLUGIN_PATH and weir's plugin directory), checks its ABI, creates it from
 * config_json (NULL: "{}") for this trail, and from then on offers it every log and digest
 * file the trail delivers, and every record when it asks for them. `services` (may be
 * NULL) gives the plugin a log, metrics and AWS credentials: fill log / counter_add /
 * gauge_set / aws_credentials and ctx of a zeroed weir_plugin_host with struct_size set;
 * weir fills the rest. Add sinks before the trail is in use, from one thread: not
 * concurrently with weir_audit_flush_sinks. The trail owns the sink; weir_audit_close
 * stops it. Errors name the plugin file (a refused ABI says both versions).
 */
WEIR_EXTERN int weir_audit_add_sink(weir_audit *a, const char *plugin, const char *config_json,
                                    const char *base_dir, const weir_plugin_host *services,
                                    weir_error *err);

/**
 * Waits up to timeout_ms in all for the sinks to deliver what they were offered. 0 when
 * they did; WEIR_EIO naming the first sink that did not (its files stay on disk and are
 * delivered later). Call it before weir_audit_close when shutting down.
 */
WEIR_EXTERN int weir_audit_flush_sinks(weir_audit *a, unsigned timeout_ms, weir_error *err);

/** Flushes (rolls the log file, writes a final digest) and frees. NULL is fine.
 *  Sinks are given the final digest and as long to deliver it as the timeout of the last
 *  weir_audit_flush_sinks call (no wait if there was none), then stopped. */
WEIR_EXTERN void weir_audit_close(weir_audit *a);

#ifdef __cplusplus
}
#endif
#endif /* WEIR_AUDIT_H */
