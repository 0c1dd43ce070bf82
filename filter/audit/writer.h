/*
 * writer.h - the audit trail writer's internals, shared by filter/audit/{audit,record,
 * logfile,digest}.c and the writer's tests. Not installed. See docs/audit.md.
 *
 * Layout under the trail root (the contract shared with the reader, filter/audit/reader.c):
 *   journal/journal.jsonl                                  one compact record per line
 *   journal/roll-{YYYYMMDDTHHMMZ}-{16 rnd}.jsonl           a journal being rolled into the log
 *                                                          file named by the same stamp and rnd
 *   AWSLogs/{acct}/CloudTrail/{region}/YYYY/MM/DD/...json.gz        log files
 *   AWSLogs/{acct}/CloudTrail-Digest/{region}/YYYY/MM/DD/...json.gz digests (+ .sig)
 */
#ifndef WEIR_AUDIT_WRITER_H
#define WEIR_AUDIT_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "internal.h"
#include "weir/audit.h"

#define WR_AUDIT_TIME_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */
#define WR_AUDIT_MAX_FIELD 1024 /* userAgent, errorCode, errorMessage, ... (CloudTrail: 1 KB) */
#define WR_AUDIT_MAX_HASHES 64  /* distinct value hashes kept per finding entry */

/* ------------------------------------------------------------------ clock */

/* Wall clock used for event times, file names, rolls and digests. */
time_t wr_audit_now(void);

/* Tests: replace the wall clock (NULL restores time(NULL)). Process-wide, not thread-safe
 * against concurrent opens. */
void wr_audit_set_clock_for_tests(time_t (*clock)(void));

/* "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with the NUL). */
void wr_audit_fmt_time(char out[WR_AUDIT_TIME_LEN + 1], time_t t);

/* Parses "YYYY-MM-DDTHH:MM:SSZ"; -1 when malformed. */
time_t wr_audit_parse_time(const char *s);

/* ------------------------------------------------------------------ records (record.c) */

/* The options a record needs, copied from weir_audit_options. */
typedef struct wr_record_cfg {
    const char *account, *region;
    const unsigned char *hash_key;
    size_t hash_key_len;
} wr_record_cfg;

/*
 * Builds one CloudTrail record as compact JSON followed by '\n'. `gate_event` selects the
 * AwsServiceEvent shape (ev->event_name and ev->error_message carry the name and message;
 * `policy` may be NULL). New string, caller frees; *len excludes the NUL. `event_time`
 * receives the record's eventTime.
 */
/* One checked text of a call: its result and the text the result's spans refer to. */
typedef struct wr_record_part {
    const weir_result *r;
    const char *text;
    size_t len;
} wr_record_part;

/*
 * Like wr_audit_build_record for a whole call: the prompt's part and the completion's
 * (either may be NULL). With both, findings carry their own direction, the action is the
 * stricter of the two and requestParameters.direction is "both".
 */
int wr_audit_build_call(char **out, size_t *len, char event_time[WR_AUDIT_TIME_LEN + 1],
                        const wr_record_cfg *cfg, const weir_audit_event *ev,
                        const wr_record_part *prompt, const wr_record_part *completion,
                        int gate_event, const weir_policy *policy, weir_error *err);

int wr_audit_build_record(char **out, size_t *len, char event_time[WR_AUDIT_TIME_LEN + 1],
                          const wr_record_cfg *cfg, const weir_audit_event *ev,
                          const weir_result *r, const char *text, size_t text_len,
                          int gate_event, const weir_policy *policy, weir_error *err);

/* A random UUID v4 (37 bytes with the NUL). 0, or WEIR_EINTERNAL when RAND_bytes fails. */
int wr_audit_uuid(char out[37]);

/* ------------------------------------------------------------------ files (logfile.c) */

/* mkdir -p of `path` (below `root`, which must already exist). 0 or -errno. */
int wr_audit_mkdirs(const char *root, const char *rel);

/* fsync of a directory. 0 or -errno. */
int wr_audit_fsync_dir(const char *path);

/*
 * Writes `data` gzip-compressed (exactly one member) to dir/name atomically: temp file in
 * dir, fsync, rename, fsync dir. 0, or WEIR_EIO with err naming the path and strerror.
 */
int wr_audit_write_gz(const char *dir, const char *name, const void *data, size_t len,
                      weir_error *err);

/* Writes `data` uncompressed, atomically, like wr_audit_write_gz. */
int wr_audit_write_plain(const char *dir, const char *name, const void *data, size_t len,
                         weir_error *err);

/* Reads and inflates a gzip file (all members). New buffer (NUL-terminated), caller frees.
 * 0, WEIR_ENOTFOUND, WEIR_EIO or WEIR_ENOMEM. */
int wr_audit_read_gz(char **out, size_t *len, const char *path, weir_error *err);

/* 16 random characters of [A-Za-z0-9] (17 bytes with the NUL). */
int wr_audit_random_name(char out[17]);

/* SHA-256 as 64 lower-case hex characters. */
void wr_audit_sha256_hex(char out[65], const void *data, size_t len);

/* ------------------------------------------------------------------ digests (digest.c) */

typedef struct wr_logref {
    char *object;                         /* path relative to the trail root */
    char hash[65];                        /* SHA-256 of the uncompressed bytes */
    char newest[WR_AUDIT_TIME_LEN + 1];   /* "" when the file holds no record */
    char oldest[WR_AUDIT_TIME_LEN + 1];
} wr_logref;

typedef struct wr_chain {
    EVP_PKEY *key;         /* NULL: no digests */
    char fingerprint[33];  /* MD5 of the DER SubjectPublicKeyInfo, hex */
    /* the previous digest; prev_object NULL at the start of a chain */
    char *prev_bucket, *prev_object, *prev_sig;
    char prev_hash[65];
    time_t prev_end;       /* its digestEndTime; 0 when none */
    time_t last_end;       /* newest digest end on disk, any key: names stay unique */
    time_t start;          /* this period's digestStartTime */
    wr_logref *logs;       /* delivered since the previous digest */
    size_t nlogs, caplogs;
    int failed;            /* the last attempt failed: retry at once */
} wr_chain;

/* Loads a PEM RSA private key and computes its fingerprint. */
int wr_chain_load_key(wr_chain *c, const char *path, weir_error *err);

/*
 * Finds the newest digest of this trail under root (with its .sig) and links to it when it
 * was signed with the same key; otherwise the next digest starts a new chain.
 */
int wr_chain_resume(wr_chain *c, const char *root, const char *account, const char *region,
                    const char *trail, time_t now, weir_error *err);

/* Remembers a delivered log file for the next digest. Takes `object`. */
int wr_chain_add_log(wr_chain *c, char *object, const char hash[65], const char *newest,
                     const char *oldest);

/* Writes the digest for (prev_end, now] and advances the chain. */
int wr_chain_write(wr_chain *c, const char *root, const char *account, const char *region,
                   const char *trail, const char *bucket, time_t now, weir_error *err);

void wr_chain_free(wr_chain *c);

/* ------------------------------------------------------------------ the trail (audit.c) */

struct weir_audit {
    pthread_mutex_t mu;
    pthread_cond_t synced_cv; /* a sync finished (group commit) */
    pthread_cond_t tick_cv;   /* wakes the background thread (monotonic clock) */
    pthread_cond_t roll_cv;   /* wakes the roller; broadcast when it finished a piece of work */
    pthread_t ticker, roller;
    int have_ticker, have_roller, stop;
    int roller_on;            /* the roller runs: rolls and digests are left to it */
    int lockfd;               /* the journal directory, flock'ed: one writer per trail */

    char *dir, *account, *region, *trail, *bucket;
    char *journal_dir, *journal_path;
    weir_audit_durability durability;
    unsigned batch_ms, roll_seconds, digest_seconds;
    size_t roll_bytes;
    unsigned char *hash_key;
    size_t hash_key_len;
    int jsonl_fd;

    /* journal: bytes are counted from the trail's opening (logical offsets) */
    int jfd;            /* -1 while it cannot be opened */
    int orphan_fd;      /* journal unlinked under us: its records, to copy back */
    size_t orphan_len;
    uint64_t jbase;     /* logical offset of the journal's first byte */
    uint64_t written;   /* logical end of the complete records written */
    uint64_t synced;    /* logical end of what is durable */
    int syncing;        /* a thread is in fdatasync */
    uint64_t fail_gen;  /* bumped when unsynced records are dropped after a failure */
    int torn;           /* the journal may hold bytes past `written`: truncate first */
    time_t jfirst;      /* time of the first record in the journal; 0: empty */
    char newest[WR_AUDIT_TIME_LEN + 1], oldest[WR_AUDIT_TIME_LEN + 1];
    struct timespec dirty_since; /* BATCH: monotonic time of the oldest unsynced write */
    int jdir_dirty;     /* the journal directory's entries are not fsynced yet */

    /* the journal being rolled (journal/roll-{rstamp}-{rrnd}.jsonl); rfd -1: none. At most
     * one: a roll due while one is in progress waits for it (backpressure) */
    int rfd;
    size_t rlen;        /* its complete lines */
    char rstamp[16], rrnd[17];
    char rnewest[WR_AUDIT_TIME_LEN + 1], roldest[WR_AUDIT_TIME_LEN + 1];
    int rdirty;         /* BATCH: it may hold unsynced lines */
    int rbusy;          /* the roller works without the lock (roll or digest): hands off */
    int rfailed;        /* its last delivery failed: retried by the next caller */
    uint64_t rolls_done;
    /* mirrors of chain.start / chain.failed, readable under mu while the roller works */
    time_t digest_start;
    int dfailed;

    wr_chain chain;
    /* audit sink plugins (weir_audit_add_sink): offered each delivered log and digest file
     * and each record, under mu */
    struct wr_psink **sinks;
    size_t nsinks;
    unsigned sink_close_ms; /* the last weir_audit_flush_sinks timeout: close waits as long */
    atomic_int healthy;
    weir_error last_err; /* the failure the background thread met, for the next caller */
    int bg_failed;
};

#endif
