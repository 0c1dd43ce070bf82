/*
 * plugin.h - the ABI of loadable weir plugins: detectors and audit sinks.
 *
 * A plugin is a shared object that exports one symbol, `weir_plugin_entry` (declare it with
 * WEIR_PLUGIN_DEFINE), returning a pointer to a const `weir_plugin` descriptor. weir
 * dlopen()s the file with RTLD_NOW | RTLD_LOCAL, calls the entry, and checks the descriptor
 * before calling anything else:
 *   - `abi_major` must equal the host's WEIR_PLUGIN_ABI_MAJOR;
 *   - `struct_size` must cover at least every field of ABI major 1 (WEIR_PLUGIN_MIN_SIZE);
 *   - `kind` must be known, and every function the kind requires must be non-NULL.
 * A plugin that fails a check is refused with a message naming the file and both versions.
 *
 * Compatibility: within one ABI major, fields are only ever appended to the end of each
 * struct here, and each struct carries its size, so an older plugin keeps working with a
 * newer host and the other way round (the reader never looks past `struct_size`).
 *
 * This header needs nothing but the C standard library: a plugin builds from the installed
 * headers alone and does not link libweir. Everything the plugin needs from its host (text
 * normalization, logging, metrics, AWS credentials) comes through `weir_plugin_host`.
 *
 * Detector plugins run on the hot path of every check. Text given to `detector_scan` is
 * weir's normalized UTF-8 (NFKC, invisible characters removed, confusables folded: see
 * docs/detectors.md); findings are byte spans in that text, which weir maps back to the
 * original and redacts, blocks or logs exactly as it does a builtin detector's matches.
 *
 * Thread safety (plugin side):
 *   - `detector_scan` and `detector_tail` are called concurrently from many threads on one
 *     instance. The instance must be read-only after create; per-call working memory goes
 *     in `scratch` (from `detector_scratch_new`), which weir hands to one thread at a time.
 *   - Audit sink functions may be called from any thread, never two at once for one
 *     instance except `sink_flush` (which may run while a file is being offered).
 *     `sink_file` and `sink_record` run with the trail's lock held: they must not block.
 *   - Host callbacks are thread-safe and valid until the instance is destroyed.
 *
 * See docs/plugins.md for a walk-through and plugins/ for two complete plugins.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI major version: a plugin built for another major is refused. */
#define WEIR_PLUGIN_ABI_MAJOR 1
/** ABI minor version: fields appended within the major. Informational. */
#define WEIR_PLUGIN_ABI_MINOR 0

/** The name of the one symbol a plugin exports. */
#define WEIR_PLUGIN_ENTRY_SYMBOL "weir_plugin_entry"

#if defined(__GNUC__)
#define WEIR_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define WEIR_PLUGIN_EXPORT
#endif

/** Plugin kinds. */
typedef enum weir_plugin_kind {
    WEIR_PLUGIN_DETECTOR = 1,  /**< finds spans in text (policy `detectors:`) */
    WEIR_PLUGIN_AUDIT_SINK = 2 /**< receives the audit trail (sidecar `audit.sinks`) */
} weir_plugin_kind;

/** Log levels for weir_plugin_host.log. */
typedef enum weir_plugin_log_level {
    WEIR_PLUGIN_LOG_ERROR = 0,
    WEIR_PLUGIN_LOG_WARN = 1,
    WEIR_PLUGIN_LOG_INFO = 2,
    WEIR_PLUGIN_LOG_DEBUG = 3
} weir_plugin_log_level;

/** AWS credentials, filled by weir_plugin_host.aws_credentials. */
typedef struct weir_plugin_aws_credentials {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096]; /**< "" when the credentials are long-term */
} weir_plugin_aws_credentials;

/**
 * What the host offers a plugin. Passed to create; the pointer and everything it points
 * to stay valid until the instance's destroy returns. Any callback may be NULL when the
 * host has nothing to offer (check before calling); `ctx` is the first argument of each.
 */
typedef struct weir_plugin_host {
    uint32_t abi_major;   /**< the host's WEIR_PLUGIN_ABI_MAJOR */
    uint32_t struct_size; /**< sizeof(weir_plugin_host) as the host was built */
    void *ctx;
    const char *plugin_path; /**< the plugin file as named in the policy or configuration */
    const char *base_dir;    /**< directory relative paths in the config block resolve
                              *   against (the policy's or configuration's directory) */
    /**
     * Normalizes text the way weir normalizes what detectors see (the policy's settings).
     * Returns 0 and a new NUL-terminated *out (free it with `free_mem`), or nonzero when out
     * of memory. A detector normalizes its own patterns with it so they match scanned text.
     */
    int (*normalize)(void *ctx, const char *in, size_t len, char **out, size_t *out_len);
    void (*free_mem)(void *ctx, void *p);
    /** One log line (no newline). Never pass secrets or matched text. */
    void (*log)(void *ctx, weir_plugin_log_level level, const char *message);
    /** Adds to the counter `name` ([a-z0-9_]+) of this plugin (a Prometheus counter). */
    void (*counter_add)(void *ctx, const char *name, uint64_t delta);
    /** Sets the gauge `name` ([a-z0-9_]+) of this plugin. */
    void (*gauge_set)(void *ctx, const char *name, double value);
    /** Current AWS credentials of the host (refreshed by it). 0, or nonzero when none. */
    int (*aws_credentials)(void *ctx, weir_plugin_aws_credentials *out);
} weir_plugin_host;

/** Called by detector_scan for each finding: bytes [start, end) of the scanned text,
 *  start < end <= len. Returns 0, or nonzero when the host is out of memory (stop and
 *  return nonzero from scan). */
typedef int (*weir_plugin_emit_fn)(void *emit_ctx, size_t start, size_t end);

/** What a detector instance reports about itself at create. Strings are owned by the
 *  instance and stay valid until destroy. The host zeroes it and sets struct_size. */
typedef struct weir_detector_info {
    uint32_t struct_size;  /**< set by the host: fill only fields below it */
    const char *entity;    /**< entity type in findings, e.g. "PROJECT_NAME"; NULL: "CUSTOM" */
    const char *label;     /**< redaction label, e.g. "PROJECT"; NULL: the entity */
    size_t max_match_len;  /**< longest finding in bytes of normalized text; 0: unbounded
                            *   (a stream then holds back up to its cap without detector_tail) */
} weir_detector_info;

/** An audit trail, as given to sink_create. */
typedef struct weir_sink_trail {
    uint32_t struct_size;
    const char *root;       /**< the trail's directory; keys below are relative to it */
    const char *account_id; /**< 12 digits, as in the key layout */
    const char *region;
    const char *trail_name;
} weir_sink_trail;

/** Kinds of finished audit files. */
typedef enum weir_sink_file_kind {
    WEIR_SINK_LOG = 1,   /**< AWSLogs/{acct}/CloudTrail/{region}/YYYY/MM/DD/..._CloudTrail_....json.gz */
    WEIR_SINK_DIGEST = 2 /**< AWSLogs/{acct}/CloudTrail-Digest/{region}/YYYY/MM/DD/....json.gz;
                          *   its signature file is `path` + ".sig" */
} weir_sink_file_kind;

/** A finished, fsynced audit file. Borrowed for the call: copy what you keep. The file
 *  stays on disk; weir never deletes it. */
typedef struct weir_sink_file {
    uint32_t struct_size;
    weir_sink_file_kind kind;
    const char *path;       /**< absolute (or relative to the working directory) */
    const char *key;        /**< relative to the trail root, '/'-separated: the object key */
    const char *signature;  /**< DIGEST: hex SHA256withRSA signature; else NULL */
    const char *signature_algorithm; /**< DIGEST: "SHA256withRSA"; else NULL */
} weir_sink_file;

/**
 * The descriptor. Define one `static const weir_plugin` and export it with
 * WEIR_PLUGIN_DEFINE. Functions a kind does not use are NULL.
 *
 * Return values: 0 on success, nonzero on failure; creates write a one-line reason a
 * human can act on into errbuf (always NUL-terminated by the host's caller, at most
 * errlen bytes including the NUL).
 */
typedef struct weir_plugin {
    uint32_t abi_major;    /**< WEIR_PLUGIN_ABI_MAJOR (first: checked before anything else) */
    uint32_t struct_size;  /**< sizeof(weir_plugin) */
    uint32_t abi_minor;    /**< WEIR_PLUGIN_ABI_MINOR */
    uint32_t kind;         /**< a weir_plugin_kind */
    const char *name;      /**< short name, [a-z0-9_-]+, e.g. "keywords" */
    const char *version;   /**< the plugin's own version, e.g. "1.0.0" */

    /* ---- detectors (kind WEIR_PLUGIN_DETECTOR) ---- */

    /** Required. Builds an instance from the config block (JSON text of the YAML mapping,
     *  "{}" when none; scalars are JSON strings, numbers, booleans or null as YAML reads
     *  them) and fills *info. */
    int (*detector_create)(const weir_plugin_host *host, const char *config_json,
                           size_t config_len, void **instance, weir_detector_info *info,
                           char *errbuf, size_t errlen);
    /** Required. Reports every finding in text[0..len) through emit, in any order.
     *  `scratch` is NULL unless detector_scratch_new is set. Nonzero: the detector failed
     *  on this text, and weir treats the check as undecidable (the policy's on_error). */
    int (*detector_scan)(const void *instance, void *scratch, const char *text, size_t len,
                         weir_plugin_emit_fn emit, void *emit_ctx);
    /** Required. Frees the instance. */
    void (*detector_destroy)(void *instance);
    /** Optional, for streams: the earliest offset >= from where a finding could start that
     *  text not yet arrived could complete or change (*earliest = len: none). Without it
     *  weir holds back the last max_match_len bytes plus one character. Must never say later than the truth. */
    int (*detector_tail)(const void *instance, void *scratch, const char *text, size_t len,
                         size_t from, size_t *earliest);
    /** Optional: per-thread working memory. weir keeps a pool and hands each scratch to one
     *  thread at a time. NULL return: out of memory. */
    void *(*detector_scratch_new)(const void *instance);
    void (*detector_scratch_free)(const void *instance, void *scratch);

    /* ---- audit sinks (kind WEIR_PLUGIN_AUDIT_SINK) ---- */

    /** Required. Builds an instance for `trail` from the config block (as above). The sink
     *  should pick up files it has not delivered yet (after a restart) by itself. */
    int (*sink_create)(const weir_plugin_host *host, const char *config_json,
                       size_t config_len, const weir_sink_trail *trail, void **instance,
                       char *errbuf, size_t errlen);
    /** Required. A finished log or digest file. Called from the thread that delivered it
     *  (the trail's roller, or a thread recording a call) with the trail's lock held: queue
     *  and return at once, never wait for the network or a disk sync. Nonzero: not
     *  accepted; weir does not offer it again (the sink's own recovery must find it). */
    int (*sink_file)(void *instance, const weir_sink_file *file);
    /** Required. Waits up to timeout_ms for everything offered so far to be delivered.
     *  0: all delivered; nonzero: some is still pending. */
    int (*sink_flush)(void *instance, unsigned timeout_ms);
    /** Required. Stops the sink and frees it. Whatever is not delivered stays on disk. */
    void (*sink_destroy)(void *instance);
    /** Optional. Each audit record (one CloudTrail event as compact JSON), as it is
     *  written. Called with the trail's lock held: must not block. */
    int (*sink_record)(void *instance, const char *json, size_t len);
} weir_plugin;

/** The smallest struct_size a host of this ABI major accepts: every field above. */
#define WEIR_PLUGIN_MIN_SIZE (offsetof(weir_plugin, sink_record) + sizeof(void (*)(void)))

/** The type of the entry symbol. */
typedef const weir_plugin *(*weir_plugin_entry_fn)(void);

/**
 * Exports `desc` (a `static const weir_plugin`) as this plugin's entry:
 *     static const weir_plugin plugin = { WEIR_PLUGIN_ABI_MAJOR, sizeof(weir_plugin), ... };
 *     WEIR_PLUGIN_DEFINE(plugin)
 */
#define WEIR_PLUGIN_DEFINE(desc)                                                             \
    WEIR_PLUGIN_EXPORT const weir_plugin *weir_plugin_entry(void);                           \
    WEIR_PLUGIN_EXPORT const weir_plugin *weir_plugin_entry(void) { return &(desc); }

#ifdef __cplusplus
}
#endif

#endif
