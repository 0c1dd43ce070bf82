/*
 * reader_helpers.h - builds audit trails for the reader tests, independently of the writer:
 * records, gzip log files and RSA-signed, chained digest files that follow the on-disk
 * contract (see filter/audit/reader.h and docs/audit-review.md).
 */
#ifndef WEIR_TEST_AUDIT_READER_HELPERS_H
#define WEIR_TEST_AUDIT_READER_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <zlib.h>

#include "audit/reader.h"

/* ------------------------------------------------------------------ files */

static inline char *th_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char *p = malloc(4096);
    assert_non_null(p);
    snprintf(p, 4096, "%s/weir-audit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(p));
    return p;
}

static inline void th_rmrf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static inline void th_mkdirs(const char *path)
{
    char tmp[8192];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    mkdir(tmp, 0755);
}

static inline void th_parent_dirs(const char *path)
{
    char tmp[8192];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (slash) {
        *slash = '\0';
        th_mkdirs(tmp);
    }
}

static inline void th_write(const char *path, const void *data, size_t len)
{
    th_parent_dirs(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* One gzip member of data; new buffer. */
static inline unsigned char *th_gzip(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static inline void th_write_gz(const char *path, const char *data, size_t len)
{
    size_t n;
    unsigned char *gz = th_gzip(data, len, &n);
    th_write(path, gz, n);
    free(gz);
}

static inline void th_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    wr_hex(out, md, 32);
}

/* ------------------------------------------------------------------ keys */

typedef struct th_key {
    EVP_PKEY *pkey;
    char pub_path[4200];
    char priv_path[4200];
    char fp[33];
} th_key;

static inline void th_keygen(th_key *k, const char *dir, const char *name)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_keygen_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048), 1);
    k->pkey = NULL;
    assert_int_equal(EVP_PKEY_keygen(c, &k->pkey), 1);
    EVP_PKEY_CTX_free(c);
    snprintf(k->pub_path, sizeof k->pub_path, "%s/%s.pub.pem", dir, name);
    snprintf(k->priv_path, sizeof k->priv_path, "%s/%s.pem", dir, name);
    FILE *f = fopen(k->pub_path, "wb");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, k->pkey), 1);
    fclose(f);
    f = fopen(k->priv_path, "wb");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(k->pkey, &der);
    assert_true(len > 0);
    unsigned char md[16];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_md5(), NULL), 1);
    OPENSSL_free(der);
    wr_hex(k->fp, md, 16);
}

static inline void th_key_free(th_key *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

static inline void th_sign_hex(EVP_PKEY *key, const char *msg, char **out_hex)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    size_t n = 0;
    assert_int_equal(EVP_DigestSign(md, NULL, &n, (const unsigned char *)msg, strlen(msg)), 1);
    unsigned char *sig = malloc(n);
    assert_non_null(sig);
    assert_int_equal(EVP_DigestSign(md, sig, &n, (const unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(md);
    *out_hex = malloc(2 * n + 1);
    assert_non_null(*out_hex);
    wr_hex(*out_hex, sig, n);
    free(sig);
}

/* ------------------------------------------------------------------ records */

#define TH_ACCT "111122223333"
#define TH_REGION "eu-central-1"

static inline void th_iso(char out[21], time_t t)
{
    wr_time_format(out, t);
}

/* A record as compact JSON; rule may be NULL. New string. */
static inline char *th_record(time_t t, const char *id, const char *principal,
                              const char *model, const char *action, const char *rule)
{
    char ts[21];
    th_iso(ts, t);
    json_t *findings = json_array();
    if (rule)
        json_array_append_new(findings,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:[s]}",
                                        "rule", rule, "kind", "content", "detector", "email",
                                        "entity", "EMAIL", "direction", "prompt", "action",
                                        action, "monitor", 0, "count", 1, "valueHashes",
                                        "hmac-sha256:00ff"));
    json_t *r = json_pack(
        "{s:s, s:{s:s, s:s, s:s, s:{s:{s:s}}}, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:s, s:s, s:s, s:b, s:b, s:s, s:s,"
        " s:{s:{s:s, s:s, s:s}, s:s, s:s, s:o, s:f, s:i, s:s}}",
        "eventVersion", "1.11", "userIdentity", "type", "AssumedRole", "arn", principal,
        "accountId", TH_ACCT, "sessionContext", "sessionIssuer", "arn",
        "arn:aws:iam::111122223333:role/teams/app-role", "eventTime", ts, "eventSource",
        "weir.gate", "eventName", "InvokeModel", "awsRegion", TH_REGION, "sourceIPAddress",
        "198.51.100.7", "userAgent", "test/1.0", "requestParameters", "modelId", model,
        "provider", "bedrock", "direction", "prompt", "responseElements", "action", action,
        "enforcedAction", action, "requestID", "req-1", "eventID", id, "eventType",
        "AwsApiCall", "readOnly", 1, "managementEvent", 0, "eventCategory", "Data",
        "recipientAccountId", TH_ACCT, "additionalEventData", "policy", "name", "default",
        "digest", "sha256:00", "mode", "enforce", "action", action, "enforcedAction", action,
        "findings", findings, "gateLatencyMs", 0.5, "upstreamStatus", 200, "weirVersion",
        "0.1.0");
    assert_non_null(r);
    char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(r);
    assert_non_null(s);
    return s;
}

/* ------------------------------------------------------------------ log files */

typedef struct th_log {
    char rel[512];
    char hash[65];
    char *content; /* the uncompressed {"Records":[...]} */
} th_log;

/* Writes a log file delivered at time t holding the records (JSON strings). */
static inline void th_write_log(th_log *l, const char *dir, time_t t, char **recs, size_t n,
                                const char *unique)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char day[16], stamp[32];
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%MZ", &tm);
    snprintf(l->rel, sizeof l->rel,
             "AWSLogs/" TH_ACCT "/CloudTrail/" TH_REGION "/%s/" TH_ACCT "_CloudTrail_" TH_REGION
             "_%s_%.16s.json.gz",
             day, stamp, unique);
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_puts(&b, "{\"Records\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            wr_buf_puts(&b, ",");
        wr_buf_puts(&b, recs[i]);
    }
    wr_buf_puts(&b, "]}");
    assert_false(b.oom);
    l->content = b.data;
    th_sha256_hex(l->hash, b.data, b.len);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, l->rel);
    th_write_gz(path, b.data, b.len);
}

/* ------------------------------------------------------------------ digests */

typedef struct th_digest {
    char rel[512];
    char hash[65];
    char *sig; /* hex */
    time_t end;
} th_digest;

/* Writes and signs a digest for (start, end] listing logs, chained to prev (NULL: first). */
static inline void th_write_digest(th_digest *d, const char *dir, EVP_PKEY *key,
                                   const char *fp, time_t start, time_t end,
                                   const th_log *logs, size_t n_logs, const th_digest *prev)
{
    struct tm tm;
    gmtime_r(&end, &tm);
    char day[16], stamp[32], ts0[21], ts1[21];
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    th_iso(ts0, start);
    th_iso(ts1, end);
    d->end = end;
    snprintf(d->rel, sizeof d->rel,
             "AWSLogs/" TH_ACCT "/CloudTrail-Digest/" TH_REGION "/%s/" TH_ACCT
             "_CloudTrail-Digest_" TH_REGION "_weir_" TH_REGION "_%s.json.gz",
             day, stamp);
    json_t *files = json_array();
    for (size_t i = 0; i < n_logs; i++)
        json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "s3Bucket",
                                               "local", "s3Object", logs[i].rel, "hashValue",
                                               logs[i].hash, "hashAlgorithm", "SHA-256",
                                               "newestEventTime", ts1, "oldestEventTime", ts0));
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o}",
        "awsAccountId", TH_ACCT, "digestStartTime", ts0, "digestEndTime", ts1,
        "digestS3Bucket", "local", "digestS3Object", d->rel, "digestPublicKeyFingerprint", fp,
        "digestSignatureAlgorithm", "SHA256withRSA", "newestEventTime",
        n_logs ? ts1 : NULL, "oldestEventTime", n_logs ? ts0 : NULL,
        "previousDigestS3Bucket", prev ? "local" : NULL, "previousDigestS3Object",
        prev ? prev->rel : NULL, "previousDigestHashValue", prev ? prev->hash : NULL,
        "previousDigestHashAlgorithm", prev ? "SHA-256" : NULL, "previousDigestSignature",
        prev ? prev->sig : NULL, "logFiles", files);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    assert_non_null(text);
    th_sha256_hex(d->hash, text, strlen(text));
    wr_buf msg;
    wr_buf_init(&msg);
    wr_buf_printf(&msg, "%s\nlocal/%s\n%s\n%s", ts1, d->rel, d->hash, prev ? prev->sig : "null");
    th_sign_hex(key, msg.data, &d->sig);
    wr_buf_free(&msg);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, d->rel);
    th_write_gz(path, text, strlen(text));
    snprintf(path, sizeof path, "%s/%s.sig", dir, d->rel);
    th_write(path, d->sig, strlen(d->sig));
    free(text);
}

/* ------------------------------------------------------------------ a standard trail */

#define TH_T0 ((time_t)1785571200) /* 2026-08-01T08:00:00Z */
#define TH_DIGESTS 3
#define TH_LOGS_PER 2

/* Three hourly digests, each listing two log files of two records each. */
typedef struct th_trail {
    char *dir;
    th_key key;
    th_log logs[TH_DIGESTS * TH_LOGS_PER];
    th_digest dg[TH_DIGESTS];
} th_trail;

static inline void th_trail_build(th_trail *t)
{
    t->dir = th_mkdtemp();
    th_keygen(&t->key, t->dir, "key");
    int id = 0;
    for (int d = 0; d < TH_DIGESTS; d++) {
        time_t start = TH_T0 + d * 3600, end = start + 3600;
        for (int l = 0; l < TH_LOGS_PER; l++) {
            time_t lt = start + 600 + l * 1200;
            char *recs[2];
            char ids[2][40];
            for (int r = 0; r < 2; r++) {
                snprintf(ids[r], sizeof ids[r], "00000000-0000-4000-8000-%012d", id++);
                recs[r] = th_record(lt - 60 + r, ids[r],
                                    "arn:aws:sts::111122223333:assumed-role/app-role/alice",
                                    "anthropic.claude-3-haiku", "allow", NULL);
            }
            char uniq[17];
            snprintf(uniq, sizeof uniq, "U%015d", d * 10 + l);
            th_write_log(&t->logs[d * TH_LOGS_PER + l], t->dir, lt, recs, 2, uniq);
            free(recs[0]);
            free(recs[1]);
        }
        th_write_digest(&t->dg[d], t->dir, t->key.pkey, t->key.fp, start, end,
                        &t->logs[d * TH_LOGS_PER], TH_LOGS_PER, d ? &t->dg[d - 1] : NULL);
    }
}

static inline void th_trail_free(th_trail *t)
{
    for (int i = 0; i < TH_DIGESTS * TH_LOGS_PER; i++)
        free(t->logs[i].content);
    for (int i = 0; i < TH_DIGESTS; i++)
        free(t->dg[i].sig);
    th_key_free(&t->key);
    th_rmrf(t->dir);
    free(t->dir);
}

static inline void th_path(char *out, size_t n, const th_trail *t, const char *rel)
{
    snprintf(out, n, "%s/%s", t->dir, rel);
}

#endif
