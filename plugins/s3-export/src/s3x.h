/*
 * s3x.h - internals of the s3-export audit sink (plugins/s3-export).
 *
 * Modules: buf (growable byte buffer), sigv4 (AWS Signature Version 4 for S3), config (the
 * JSON config block), ledger (confirmed uploads on disk, key sets, the trail scan), put (one
 * signed PUT Object over libcurl) and sink (the plugin: queue, worker, metrics).
 * Nothing here is exported from the shared object: only weir_plugin_entry is.
 */
#ifndef S3X_H
#define S3X_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define S3X_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define S3X_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ buf */

/**
 * A growable byte buffer, always NUL-terminated when data != NULL. `oom` is sticky. Set
 * `secret` before the first append for anything holding secrets: growing then wipes the old
 * block instead of leaving a copy behind (realloc), and s3x_buf_free wipes it.
 */
typedef struct s3x_buf {
    char *data;
    size_t len, cap;
    int oom;
    int secret;
} s3x_buf;

/** Appends n bytes. 0, or -1 when out of memory (and oom is set). */
int s3x_buf_append(s3x_buf *b, const void *p, size_t n);
/** Appends a C string. */
int s3x_buf_puts(s3x_buf *b, const char *s);
/** Appends formatted text. */
int s3x_buf_printf(s3x_buf *b, const char *fmt, ...) S3X_PRINTF(2, 3);
/** Frees the data (wiped first when `secret`) and zeroes the buffer (NULL-safe). */
void s3x_buf_free(s3x_buf *b);
/** Like s3x_buf_free, wiping the bytes first (for anything holding secrets). */
void s3x_buf_wipe(s3x_buf *b);

/** Lower-case hex of n bytes into out (2n + 1 bytes). */
void s3x_hex(char *out, const unsigned char *in, size_t n);
/** A new copy of s (NULL for NULL or when out of memory). */
char *s3x_strdup(const char *s);

/* ------------------------------------------------------------------ sigv4 */

/** One request header for signing: name in any case, value as sent. */
typedef struct s3x_header {
    const char *name;
    const char *value;
} s3x_header;

/** What to sign. All strings borrowed. */
typedef struct s3x_sigv4_request {
    const char *method;       /**< "PUT" */
    const char *canonical_uri;/**< already canonical: see s3x_sigv4_encode_path */
    const char *query;        /**< canonical query string ("" when none) */
    const s3x_header *headers;/**< every header to sign (host included) */
    size_t n_headers;
    const char *payload_hash; /**< lower-case hex SHA-256 of the body */
    const char *amz_date;     /**< YYYYMMDDTHHMMSSZ */
    const char *region;
    const char *service;      /**< "s3" */
} s3x_sigv4_request;

/**
 * URI-encodes an object path the way S3 canonicalizes it (and the way it goes on the wire):
 * every byte except unreserved A-Z a-z 0-9 - _ . ~ and '/' becomes %XX (upper-case hex),
 * once; no dot-segment normalization. Appends to out.
 */
int s3x_sigv4_encode_path(s3x_buf *out, const char *path);

/**
 * Builds the canonical request: method, URI, query, canonical headers (lower-case names,
 * values trimmed with inner runs of spaces collapsed, repeated names joined with ',', sorted
 * by name), signed header list, payload hash. Fills *signed_headers ("a;b;c") too.
 * 0, or -1 when out of memory or a header name is empty.
 */
int s3x_sigv4_canonical_request(const s3x_sigv4_request *rq, s3x_buf *canonical,
                                s3x_buf *signed_headers);

/** The string to sign for a canonical request. */
int s3x_sigv4_string_to_sign(const s3x_sigv4_request *rq, const char *canonical, s3x_buf *out);

/**
 * Signs: fills sig_hex (65 bytes) with HMAC-SHA256(signing key, string to sign) and, when
 * authorization is non-NULL, appends the Authorization header value. The secret is only
 * read. 0, or -1 on failure.
 */
int s3x_sigv4_sign(const s3x_sigv4_request *rq, const char *access_key_id, const char *secret,
                   char sig_hex[65], s3x_buf *authorization);

/** SHA-256 of data as lower-case hex (65 bytes). */
void s3x_sha256_hex(const void *data, size_t len, char out[65]);

/* ------------------------------------------------------------------ config */

/** The parsed config block. Owned strings; free with s3x_config_free. */
typedef struct s3x_config {
    char *bucket;
    char *region;
    char *prefix;        /**< "" when none */
    char *endpoint;      /**< "scheme://host[:port]" as configured, or NULL */
    char *storage_class; /**< or NULL */
    char *sse;           /**< "AES256" | "aws:kms" | NULL */
    char *kms_key_id;    /**< or NULL */
    char *ca_file;       /**< resolved against the host's base_dir, or NULL */
    bool path_style;
    bool delete_after_upload;
    bool allow_http;     /**< an http:// endpoint is accepted (tests, local servers) */
    unsigned max_attempts_before_alert;
    unsigned backoff_initial_ms, backoff_max_ms;
    unsigned timeout_ms;
    unsigned alert_repeat_seconds;
    /* derived */
    char *base_url;      /**< "https://bucket.s3.region.amazonaws.com" or "http://h:p/bucket" */
    char *host_header;   /**< the Host header, e.g. "127.0.0.1:4568" */
    char *path_base;     /**< "" (virtual-hosted) or "/bucket" (path-style) */
} s3x_config;

/**
 * Parses a config block. `base_dir` resolves a relative ca_file (may be NULL). Reads
 * AWS_REGION / AWS_DEFAULT_REGION when `region` is not given. 0, or -1 with a one-line
 * reason in err.
 */
int s3x_config_parse(s3x_config *cfg, const char *json, size_t len, const char *base_dir,
                     char *err, size_t errlen);
/** Frees what the config holds (NULL-safe fields). */
void s3x_config_free(s3x_config *cfg);

/* ------------------------------------------------------------------ ledger and key sets */

/** A set of strings (open addressing). */
typedef struct s3x_set {
    char **slots;
    size_t cap, count;
} s3x_set;

/** 1 when s is in the set. */
int s3x_set_has(const s3x_set *set, const char *s);
/** Adds a copy of s (no-op when present). 0, or -1 when out of memory. */
int s3x_set_add(s3x_set *set, const char *s);
/** Removes s when present. */
void s3x_set_remove(s3x_set *set, const char *s);
/** Frees the set. */
void s3x_set_free(s3x_set *set);

/** The ledger of confirmed uploads: {root}/.s3-export/{id}.done, one key per line. */
typedef struct s3x_ledger {
    char *path;
    int fd;
    s3x_set done;
} s3x_ledger;

/**
 * Opens (creating the directory and file) the ledger for this destination and loads its
 * keys. `id` names the destination (hash of endpoint, bucket and prefix). 0, or -1 with err.
 */
int s3x_ledger_open(s3x_ledger *l, const char *root, const char *id, char *err, size_t errlen);
/**
 * Appends key and fdatasyncs (the set is not touched: the caller adds the key to `done`
 * under its own lock). 0, or -1 (errno kept).
 */
int s3x_ledger_append(s3x_ledger *l, const char *key);
/** Closes and frees. */
void s3x_ledger_close(s3x_ledger *l);

/** A finished file found by the scan. */
typedef struct s3x_found {
    char *key;   /**< relative to root */
    int kind;    /**< WEIR_SINK_LOG or WEIR_SINK_DIGEST */
    int64_t mtime_ns;
} s3x_found;

/**
 * Lists the finished log and digest files under {root}/AWSLogs (dot files, i.e. temp files,
 * skipped; .sig files belong to their digest), oldest first (mtime, then key).
 * *out is a new array of *n entries: free with s3x_found_free. 0, or -1 with err.
 */
int s3x_scan(const char *root, s3x_found **out, size_t *n, char *err, size_t errlen);
/** Frees a scan result. */
void s3x_found_free(s3x_found *f, size_t n);

/** 1 when key is acceptable as an object key suffix: relative, no "..", no control bytes. */
int s3x_key_ok(const char *key);

/* ------------------------------------------------------------------ put */

/** The outcome of one PUT. */
typedef struct s3x_put_result {
    int ok;             /**< 1: 200 and the ETag / Content-MD5 checks passed */
    long status;        /**< HTTP status, 0 when no response */
    char code[64];      /**< S3 error Code, or a short local reason */
    char message[256];  /**< S3 error Message or curl's error; never secrets */
} s3x_put_result;

/** One object to PUT. */
typedef struct s3x_put_object {
    const char *key;          /**< full object key (prefix included), unencoded */
    const unsigned char *body;
    size_t len;
    const char *content_type;
    const char *signature;    /**< digest metadata or NULL */
    const char *signature_algorithm;
} s3x_put_object;

/** AWS credentials for one request (wiped by the caller). */
typedef struct s3x_creds {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096];
} s3x_creds;

typedef struct s3x_http s3x_http;

/** A new HTTP client (one curl handle, kept alive). `stop` aborts transfers when set. */
s3x_http *s3x_http_new(const s3x_config *cfg, atomic_int *stop);
/** Frees it (NULL-safe). */
void s3x_http_free(s3x_http *h);
/** PUTs one object, signed with creds. Always fills *res. */
void s3x_http_put(s3x_http *h, const s3x_put_object *obj, const s3x_creds *creds,
                  s3x_put_result *res);

#endif
