/*
 * reader.h - the reading side of the audit trail: gzip log files, the journal, digest files,
 * `weir audit verify` and `weir audit query|stats`. Internal to libweir (hidden visibility);
 * used by filter/cli/audit.c, the unit tests, tests/fuzz/fuzz_audit.c and bench/audit.
 *
 * Every file is untrusted: sizes are capped (WR_AUDIT_MAX_*), JSON nesting is capped before
 * jansson sees it, and every failure names the file. Nothing here aborts on bad input.
 *
 * Layout under the trail root DIR (shared with the writer, see docs/audit-review.md):
 *   journal/journal.jsonl                                   records not yet rolled
 *   journal/roll-YYYYMMDDTHHMMZ-XXXXXXXXXXXXXXXX.jsonl      cut for a roll, not yet delivered
 *   AWSLogs/{acct}/CloudTrail/{region}/{Y}/{M}/{D}/{file}.json.gz  log files
 *   AWSLogs/{acct}/CloudTrail-Digest/{region}/{Y}/{M}/{D}/{file}.json.gz (+ .sig) digests
 */
#ifndef WEIR_AUDIT_READER_H
#define WEIR_AUDIT_READER_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "internal.h"

/* ------------------------------------------------------------------ limits */

#define WR_AUDIT_MAX_LOG_BYTES ((size_t)256 * 1024 * 1024)  /* one inflated log file */
#define WR_AUDIT_MAX_DIGEST_BYTES ((size_t)16 * 1024 * 1024) /* one inflated digest file */
#define WR_AUDIT_MAX_RECORD ((size_t)1024 * 1024)            /* one record / journal line */
#define WR_AUDIT_MAX_DEPTH 32                                /* JSON nesting */
#define WR_AUDIT_MAX_SIG_BYTES ((size_t)8192)                /* one .sig file (hex) */

/* ------------------------------------------------------------------ gzip */

typedef enum wr_gz_status {
    WR_GZ_OK = 0,
    WR_GZ_NOTFOUND,  /* the file does not exist */
    WR_GZ_IO,        /* it exists but cannot be read */
    WR_GZ_FORMAT,    /* not gzip, corrupt or truncated */
    WR_GZ_TRAILING,  /* bytes after the end of the (single) gzip member */
    WR_GZ_TOOBIG,    /* inflates beyond the limit */
    WR_GZ_NOMEM,
    WR_GZ_STOPPED    /* the sink asked to stop */
} wr_gz_status;

/* "not found", "invalid format", ... (the validate-logs wording). Static. */
const char *wr_gz_status_text(wr_gz_status st);

/* Receives inflated bytes in order; returns 0 to go on, non-zero to stop. */
typedef int (*wr_gz_sink)(void *ctx, const char *p, size_t n);

/*
 * Inflates exactly one gzip member from `path` (or from in[0..n) for the _mem variant),
 * streaming, passing at most `max` bytes to `sink` (which may be NULL). When sha256 is not
 * NULL it receives the SHA-256 of the inflated bytes (valid only on WR_GZ_OK).
 */
wr_gz_status wr_gz_stream_file(const char *path, size_t max, wr_gz_sink sink, void *ctx,
                               unsigned char sha256[32]);
wr_gz_status wr_gz_stream_mem(const unsigned char *in, size_t n, size_t max, wr_gz_sink sink,
                              void *ctx, unsigned char sha256[32]);

/* ------------------------------------------------------------------ JSON */

/* 1 when s[0..n) nests objects/arrays at most max_depth deep (strings skipped), else 0. */

/* Parses s[0..n) as one JSON value after the depth check; NULL with a reason in why. New ref. */
json_t *wr_json_parse(const char *s, size_t n, char *why, size_t why_size);

/* "YYYY-MM-DDTHH:MM:SSZ" (also "YYYY-MM-DD", "...THH:MMZ") -> seconds since the epoch, UTC.
 * Returns 0, or -1 if malformed. */
int wr_time_parse(const char *s, time_t *out);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out[21]. */
void wr_time_format(char out[21], time_t t);

/* ------------------------------------------------------------------ records */

/* One record's fields, borrowed from `json` (which the record owns). */
typedef struct wr_audit_rec {
    json_t *json;            /* the whole record */
    time_t time;             /* eventTime */
    const char *event_time;  /* as written */
    const char *event_id;
    const char *event_name;
    const char *principal;   /* userIdentity.arn ("" when absent) */
    const char *role;        /* userIdentity.sessionContext.sessionIssuer.arn, or NULL */
    const char *model;       /* requestParameters.modelId ("" when absent) */
    const char *action;      /* responseElements.action, else additionalEventData.action */
    const char *enforced;    /* ...enforcedAction */
    json_t *findings;        /* additionalEventData.findings (array) or NULL */
} wr_audit_rec;

/* Parses one record. 0 (rec->json owned by rec), or -1 with a reason in why. Required:
 * an object with string eventTime (valid), eventID and eventName. */
int wr_audit_rec_parse(wr_audit_rec *rec, const char *s, size_t n, char *why, size_t why_size);
void wr_audit_rec_free(wr_audit_rec *rec);

/* Called with the raw text of each record. Return non-zero to stop. */
typedef int (*wr_rec_sink)(void *ctx, const char *json, size_t n);

/*
 * Splits the inflated content of a log file, `{"Records":[{...},{...}]}`, into records,
 * incrementally. A record longer than WR_AUDIT_MAX_RECORD or nested deeper than
 * WR_AUDIT_MAX_DEPTH is a format error.
 */
typedef struct wr_records_splitter {
    int state, depth, in_str, esc;
    size_t key_len;
    char key[16];
    wr_buf rec;
    wr_rec_sink sink;
    void *ctx;
    int stopped;
    char why[96];
} wr_records_splitter;

void wr_records_init(wr_records_splitter *s, wr_rec_sink sink, void *ctx);
/* 0, or -1 (format error, reason in s->why; or the sink stopped: s->stopped). */
int wr_records_feed(wr_records_splitter *s, const char *p, size_t n);
/* 0 when the envelope is complete, -1 otherwise. */
int wr_records_finish(wr_records_splitter *s);
void wr_records_free(wr_records_splitter *s);

/*
 * Splits journal bytes into lines; calls sink for each complete non-blank line
 * (`\n`-terminated). A last line without `\n` is a torn write and is skipped (*torn = 1).
 * Lines longer than WR_AUDIT_MAX_RECORD are skipped and counted in *too_long.
 */
void wr_journal_split(const char *p, size_t n, wr_rec_sink sink, void *ctx, int *torn,
                      size_t *too_long);

/* ------------------------------------------------------------------ digests */

typedef struct wr_digest_log {
    char *s3_object;         /* path relative to DIR */
    char *hash_value;        /* hex SHA-256 of the inflated log file */
} wr_digest_log;

typedef struct wr_digest {
    char *account, *start_time, *end_time, *bucket, *object, *fingerprint, *algorithm;
    char *prev_bucket, *prev_object, *prev_hash, *prev_signature; /* NULL when null */
    time_t start, end;
    wr_digest_log *logs;
    size_t n_logs;
} wr_digest;

/* Parses a digest's JSON. 0, or -1 with a reason in why. Free with wr_digest_free. */
int wr_digest_parse(wr_digest *d, const char *s, size_t n, char *why, size_t why_size);
void wr_digest_free(wr_digest *d);

/* ------------------------------------------------------------------ verify */

typedef enum wr_verdict_kind {
    WR_V_DIGEST,
    WR_V_LOG,
    WR_V_GAP,     /* a chain starts over: `path` starts a chain, `other` is the older digest */
    WR_V_PENDING  /* a log file newer than the newest digest: not yet covered (not a failure) */
} wr_verdict_kind;

typedef struct wr_verdict {
    wr_verdict_kind kind;
    const char *path;    /* relative to DIR, '/'-separated */
    int valid;
    const char *reason;  /* for an invalid file: "signature verification failed", ... */
    const char *detail;  /* more about it (for --verbose), or NULL */
    const char *other;   /* WR_V_GAP: the older digest */
} wr_verdict;

typedef void (*wr_verdict_fn)(void *ctx, const wr_verdict *v);

typedef struct wr_verify_opts {
    const char *dir;
    const char *const *key_files; /* PEM public keys (SPKI or PKCS#1), or private keys */
    size_t n_keys;
    time_t start, end;            /* digest end times in [start, end]; 0/0: everything */
    int has_start, has_end;
} wr_verify_opts;

typedef struct wr_verify_counts {
    size_t digests, digests_valid, logs, logs_valid, gaps;
} wr_verify_counts;

/* Walks the digest chains newest -> oldest, reporting each file to fn. Returns 0 when all is
 * valid, 1 when anything is invalid, WEIR_E* (negative) when it could not run (bad key file,
 * DIR unreadable) with err filled. */
int wr_audit_verify(const wr_verify_opts *o, wr_verdict_fn fn, void *ctx, wr_verify_counts *c,
                    weir_error *err);

/* Lower-case hex MD5 of the DER SubjectPublicKeyInfo of the key in a PEM file, into out[33].
 * 0, or a WEIR_E* code. */
int wr_audit_key_fingerprint(const char *pem_path, char out[33], weir_error *err);

/* ------------------------------------------------------------------ query / stats */

typedef struct wr_query {
    const char *dir;
    time_t since, until;
    int has_since, has_until;
    const char *principal;  /* glob, ':' not crossed by '*'; userIdentity.arn or role ARN */
    const char *model;      /* glob */
    const char *rule;       /* glob over findings[].rule */
    const char *action;     /* exact: allow|log|redact|block */
    const char *event;      /* glob over eventName */
} wr_query;

/* Warns about an unreadable file or record (`where` names it); the scan goes on. */
typedef void (*wr_warn_fn)(void *ctx, const char *where, const char *msg);

/* Called for each deduplicated record that matches q; the record is freed after the call.
 * Return non-zero to stop. */
typedef int (*wr_match_fn)(void *ctx, const wr_audit_rec *rec);

typedef struct wr_scan_counts {
    size_t files, files_skipped, records, duplicates, matched, bad;
} wr_scan_counts;

/* Reads the journal and every log file that may hold records in [since, until] (files are
 * skipped by their date directory and name time), dedupes on eventID, filters. Returns 0, or
 * a negative WEIR_E* code when DIR cannot be read (err filled). Unreadable files/records go
 * to warn and are counted in c->bad. */
int wr_audit_scan(const wr_query *q, wr_match_fn fn, void *ctx, wr_warn_fn warn,
                  void *warn_ctx, wr_scan_counts *c, weir_error *err);

/* 1 when rec passes every filter of q. */
int wr_query_match(const wr_query *q, const wr_audit_rec *rec);

/* Rules of rec's findings, de-duplicated, comma-separated, into b. */
void wr_audit_rec_rules(const wr_audit_rec *rec, wr_buf *b);

/* Log files may hold events this long after their name time (the writer's roll period is
 * well below it); used to skip files and directories outside a --since range. */
#define WR_AUDIT_FILE_SLACK 3600

/* ------------------------------------------------------------------ listing */

/* One log or digest file found under DIR/AWSLogs. */
typedef struct wr_trail_file {
    char *path;   /* relative to DIR */
    char *group;  /* logs: "acct/region"; digests: "acct/region/<name prefix up to the time>" */
    time_t t;     /* the time in the file name (logs: minutes; digests: digestEndTime) */
    int named_ok; /* 0: the name does not follow the layout (t is 0) */
} wr_trail_file;

/*
 * Lists DIR/AWSLogs/{acct}/CloudTrail[-Digest]/{region}/{YYYY}/{MM}/{DD}/ *.json.gz, skipping
 * day directories that end before `min_t` (pass 0 for no limit). New array, free with
 * wr_trail_files_free. 0, or a WEIR_E* code with err filled (a missing AWSLogs is fine).
 */
int wr_trail_list(const char *dir, int digests, time_t min_t, wr_trail_file **out, size_t *n,
                  weir_error *err);
void wr_trail_files_free(wr_trail_file *f, size_t n);

/* 1 when a relative path is safe to join to DIR (no "..", not absolute, no empty part). */
int wr_rel_path_ok(const char *p);

#endif
