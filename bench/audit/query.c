/*
 * bench/audit: the reader side of the audit trail on a day of records.
 *
 * Writes N records (default 1,000,000) spread over one day into a trail directory the way
 * the writer lays it out (a log file every 5 minutes, a signed digest every hour), then
 * times, in process:
 *   (a) query, selective: one principal of 200 over the whole day
 *   (b) query, last hour: --since 23:00 (files and day directories before it are skipped)
 *   (c) query, rule + action over the whole day
 *   (d) stats over the whole day (counts by principal, model, rule, action)
 *   (e) verify: every digest signature and every log file's SHA-256
 *
 * Usage: bench_audit_query [records [dir]]   (dir is kept when given; else a temp dir)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <zlib.h>

#include "audit/reader.h"

#define DAY0 ((time_t)1785542400) /* 2026-08-01T00:00:00Z */
#define ACCT "111122223333"
#define REGION "eu-central-1"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mkdirs(const char *path)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_audit_query: %s\n", what);
    exit(1);
}

static void write_gz(const char *path, const char *data, size_t len)
{
    char dir[4400];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    if (!out)
        die("out of memory");
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(out, 1, cap - zs.avail_out, f) != cap - zs.avail_out || fclose(f))
        die(path);
    deflateEnd(&zs);
    free(out);
}

static void sha_hex(char out[65], const void *p, size_t n)
{
    unsigned char md[32];
    unsigned int l;
    EVP_Digest(p, n, md, &l, EVP_sha256(), NULL);
    wr_hex(out, md, 32);
}

static const char *const models[] = {
    "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "amazon.nova-pro-v1:0",
    "meta.llama3-70b-instruct-v1:0", "gpt-4o", "gpt-4o-mini", "mistral.mistral-large",
    "cohere.command-r-plus-v1:0", "amazon.titan-text-express-v1"};
static const char *const actions[] = {"allow", "allow", "allow", "allow", "allow", "allow",
                                      "log", "redact", "redact", "block"};
static const char *const rules[] = {"emails", "phones", "cards", "secrets", "iban"};

static void append_record(wr_buf *b, unsigned long i, time_t t)
{
    char ts[21];
    wr_time_format(ts, t);
    unsigned long h = i * 2654435761u;
    unsigned p = (unsigned)(h % 200), m = (unsigned)((h >> 8) % 10);
    const char *act = actions[(h >> 12) % 10];
    char findings[512] = "";
    if (strcmp(act, "allow") != 0)
        snprintf(findings, sizeof findings,
                 "{\"rule\":\"%s\",\"kind\":\"content\",\"detector\":\"email\",\"entity\":"
                 "\"EMAIL\",\"direction\":\"prompt\",\"action\":\"%s\",\"monitor\":false,"
                 "\"count\":1,\"valueHashes\":[\"hmac-sha256:%016lx\"]}",
                 rules[(h >> 16) % 5], act, h);
    wr_buf_printf(
        b,
        "{\"eventVersion\":\"1.11\",\"userIdentity\":{\"type\":\"AssumedRole\",\"principalId\":"
        "\"AROAEXAMPLE:s%u\",\"arn\":\"arn:aws:sts::" ACCT ":assumed-role/app-%u/session-%u\","
        "\"accountId\":\"" ACCT "\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\","
        "\"arn\":\"arn:aws:iam::" ACCT ":role/teams/app-%u\"}}},\"eventTime\":\"%s\","
        "\"eventSource\":\"weir.gate\",\"eventName\":\"InvokeModel\",\"awsRegion\":\"" REGION
        "\",\"sourceIPAddress\":\"10.0.%u.%u\",\"userAgent\":\"aws-sdk-python/1.34\","
        "\"requestParameters\":{\"modelId\":\"%s\",\"provider\":\"bedrock\",\"direction\":"
        "\"prompt\"},\"responseElements\":{\"action\":\"%s\",\"enforcedAction\":\"%s\"},"
        "\"requestID\":\"req-%lu\",\"eventID\":\"%08lx-0000-4000-8000-%012lu\",\"eventType\":"
        "\"AwsApiCall\",\"readOnly\":true,\"managementEvent\":false,\"eventCategory\":\"Data\","
        "\"recipientAccountId\":\"" ACCT "\",\"additionalEventData\":{\"policy\":{\"name\":"
        "\"default\",\"digest\":\"sha256:4ff08d7c6ecd6eb3\",\"mode\":\"enforce\"},\"action\":"
        "\"%s\",\"enforcedAction\":\"%s\",\"findings\":[%s],\"gateLatencyMs\":0.42,"
        "\"upstreamLatencyMs\":812.5,\"upstreamStatus\":200,\"usage\":{\"inputTokens\":512,"
        "\"outputTokens\":128},\"weirVersion\":\"0.1.0\"}}",
        p, p, p, p, ts, p % 256, m, models[m], act, act, i, h & 0xffffffffu, i, act, act,
        findings);
}

typedef struct logref {
    char rel[256];
    char hash[65];
} logref;

static EVP_PKEY *keygen(const char *path)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    EVP_PKEY *k = NULL;
    if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) != 1 ||
        EVP_PKEY_keygen(c, &k) != 1)
        die("keygen");
    EVP_PKEY_CTX_free(c);
    FILE *f = fopen(path, "wb");
    if (!f || PEM_write_PUBKEY(f, k) != 1)
        die(path);
    fclose(f);
    return k;
}

static void write_digest(const char *dir, EVP_PKEY *key, const char *fp, time_t start,
                         time_t end, const logref *logs, size_t n, char prev_rel[256],
                         char prev_hash[65], char **prev_sig)
{
    char ts0[21], ts1[21], stamp[32], day[16], rel[256];
    wr_time_format(ts0, start);
    wr_time_format(ts1, end);
    struct tm tm;
    gmtime_r(&end, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    snprintf(rel, sizeof rel,
             "AWSLogs/" ACCT "/CloudTrail-Digest/" REGION "/%s/" ACCT "_CloudTrail-Digest_" REGION
             "_weir_" REGION "_%s.json.gz", day, stamp);
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_printf(&b, "{\"awsAccountId\":\"" ACCT "\",\"digestStartTime\":\"%s\","
                      "\"digestEndTime\":\"%s\",\"digestS3Bucket\":\"local\","
                      "\"digestS3Object\":\"%s\",\"digestPublicKeyFingerprint\":\"%s\","
                      "\"digestSignatureAlgorithm\":\"SHA256withRSA\",", ts0, ts1, rel, fp);
    if (*prev_sig)
        wr_buf_printf(&b, "\"previousDigestS3Bucket\":\"local\",\"previousDigestS3Object\":"
                          "\"%s\",\"previousDigestHashValue\":\"%s\","
                          "\"previousDigestHashAlgorithm\":\"SHA-256\","
                          "\"previousDigestSignature\":\"%s\",", prev_rel, prev_hash, *prev_sig);
    else
        wr_buf_puts(&b, "\"previousDigestS3Bucket\":null,\"previousDigestS3Object\":null,"
                        "\"previousDigestHashValue\":null,\"previousDigestHashAlgorithm\":null,"
                        "\"previousDigestSignature\":null,");
    wr_buf_puts(&b, "\"logFiles\":[");
    for (size_t i = 0; i < n; i++)
        wr_buf_printf(&b, "%s{\"s3Bucket\":\"local\",\"s3Object\":\"%s\",\"hashValue\":\"%s\","
                          "\"hashAlgorithm\":\"SHA-256\"}", i ? "," : "", logs[i].rel,
                      logs[i].hash);
    wr_buf_puts(&b, "]}");
    char hash[65];
    sha_hex(hash, b.data, b.len);
    wr_buf msg;
    wr_buf_init(&msg);
    wr_buf_printf(&msg, "%s\nlocal/%s\n%s\n%s", ts1, rel, hash, *prev_sig ? *prev_sig : "null");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sl = 0;
    unsigned char sig[1024];
    sl = sizeof sig;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &sl, (unsigned char *)msg.data, msg.len) != 1)
        die("sign");
    EVP_MD_CTX_free(md);
    char *sig_hex = malloc(2 * sl + 1);
    wr_hex(sig_hex, sig, sl);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    write_gz(path, b.data, b.len);
    snprintf(path, sizeof path, "%s/%s.sig", dir, rel);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(sig_hex, f) < 0 || fclose(f))
        die(path);
    free(*prev_sig);
    *prev_sig = sig_hex;
    snprintf(prev_rel, 256, "%s", rel);
    memcpy(prev_hash, hash, 65);
    wr_buf_free(&b);
    wr_buf_free(&msg);
}

static size_t generate(const char *dir, unsigned long n, const char *pub_path)
{
    const int files = 288; /* one per 5 minutes */
    EVP_PKEY *key = keygen(pub_path);
    char fp[33];
    weir_error err = {0};
    if (wr_audit_key_fingerprint(pub_path, fp, &err) != 0)
        die(err.text);
    logref hour[12];
    size_t n_hour = 0;
    char prev_rel[256] = "", prev_hash[65] = "";
    char *prev_sig = NULL;
    size_t bytes = 0;
    unsigned long i = 0;
    for (int f = 0; f < files; f++) {
        unsigned long upto = n * (unsigned long)(f + 1) / files;
        time_t t0 = DAY0 + f * 300, deliver = t0 + 300;
        wr_buf b;
        wr_buf_init(&b);
        wr_buf_puts(&b, "{\"Records\":[");
        unsigned long first = i;
        for (; i < upto; i++) {
            if (i > first)
                wr_buf_puts(&b, ",");
            append_record(&b, i, t0 + (time_t)((i - first) * 300 / (upto - first + 1)));
        }
        wr_buf_puts(&b, "]}");
        if (b.oom)
            die("out of memory");
        bytes += b.len;
        struct tm tm;
        gmtime_r(&t0, &tm); /* named by the minute the file was opened */
        char stamp[32], day[16];
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%MZ", &tm);
        strftime(day, sizeof day, "%Y/%m/%d", &tm);
        logref *l = &hour[n_hour++];
        snprintf(l->rel, sizeof l->rel,
                 "AWSLogs/" ACCT "/CloudTrail/" REGION "/%s/" ACCT "_CloudTrail_" REGION
                 "_%s_%016d.json.gz", day, stamp, f);
        sha_hex(l->hash, b.data, b.len);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, l->rel);
        write_gz(path, b.data, b.len);
        wr_buf_free(&b);
        if (n_hour == 12) {
            write_digest(dir, key, fp, deliver - 3600, deliver, hour, n_hour, prev_rel,
                         prev_hash, &prev_sig);
            n_hour = 0;
        }
    }
    free(prev_sig);
    EVP_PKEY_free(key);
    return bytes;
}

typedef struct counter {
    size_t n;
} counter;

static int count_cb(void *ctx, const wr_audit_rec *rec)
{
    (void)rec;
    ((counter *)ctx)->n++;
    return 0;
}

typedef struct tally {
    json_t *by[4];
} tally;

static void bump(json_t *map, const char *k)
{
    json_t *v = json_object_get(map, k);
    if (v)
        json_integer_set(v, json_integer_value(v) + 1);
    else
        json_object_set_new(map, k, json_integer(1));
}

static int tally_cb(void *ctx, const wr_audit_rec *rec)
{
    tally *t = ctx;
    bump(t->by[0], rec->principal);
    bump(t->by[1], rec->model);
    bump(t->by[3], rec->action ? rec->action : "(none)");
    size_t nf = json_array_size(rec->findings);
    for (size_t i = 0; i < nf; i++) {
        json_t *r = json_object_get(json_array_get(rec->findings, i), "rule");
        if (json_is_string(r))
            bump(t->by[2], json_string_value(r));
    }
    return 0;
}

static void run_query(const char *label, const wr_query *q, double total_mb)
{
    counter c = {0};
    wr_scan_counts sc;
    weir_error err = {0};
    double t0 = now();
    if (wr_audit_scan(q, count_cb, &c, NULL, NULL, &sc, &err) != 0)
        die(err.text);
    double dt = now() - t0;
    printf("  %-34s %8.3f s  %9zu records read  %8zu matched  %3zu files (%zu skipped)"
           "  %6.0f MB/s\n",
           label, dt, sc.records, c.n, sc.files, sc.files_skipped,
           sc.files_skipped ? (total_mb * (double)sc.files / (double)(sc.files + sc.files_skipped)) / dt
                            : total_mb / dt);
}

static void verdict_cb(void *ctx, const wr_verdict *v)
{
    if (!v->valid && v->kind != WR_V_PENDING && v->kind != WR_V_GAP)
        (*(int *)ctx)++;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000ul;
    char dir[4096];
    int keep = argc > 2;
    if (keep) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        mkdirs(dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/weir-bench-audit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir))
            die("mkdtemp");
    }
    char pub[4200];
    snprintf(pub, sizeof pub, "%s/bench.pub.pem", dir);
    printf("bench/audit: %lu records over one day in %s\n", n, dir);
    double t0 = now();
    size_t bytes = generate(dir, n, pub);
    double mb = (double)bytes / 1e6;
    printf("  generated %.0f MB of JSON in 288 log files + 24 digests in %.1f s (%.0f bytes/record)\n",
           mb, now() - t0, (double)bytes / (double)n);

    wr_query q;
    memset(&q, 0, sizeof q);
    q.dir = dir;
    q.principal = "arn:aws:sts::" ACCT ":assumed-role/app-17/*";
    run_query("(a) query --principal (1 of 200)", &q, mb);
    memset(&q, 0, sizeof q);
    q.dir = dir;
    q.has_since = 1;
    q.since = DAY0 + 23 * 3600;
    run_query("(b) query --since 23:00", &q, mb);
    memset(&q, 0, sizeof q);
    q.dir = dir;
    q.rule = "secrets";
    q.action = "block";
    run_query("(c) query --rule secrets --action block", &q, mb);

    memset(&q, 0, sizeof q);
    q.dir = dir;
    tally t;
    for (int i = 0; i < 4; i++)
        t.by[i] = json_object();
    wr_scan_counts sc;
    weir_error err = {0};
    t0 = now();
    if (wr_audit_scan(&q, tally_cb, &t, NULL, NULL, &sc, &err) != 0)
        die(err.text);
    double dt = now() - t0;
    printf("  %-34s %8.3f s  %9zu records  %zu principals, %zu models  %6.0f MB/s\n",
           "(d) stats (whole day)", dt, sc.matched, json_object_size(t.by[0]),
           json_object_size(t.by[1]), mb / dt);
    for (int i = 0; i < 4; i++)
        json_decref(t.by[i]);

    const char *keys[1] = {pub};
    wr_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.dir = dir;
    vo.key_files = keys;
    vo.n_keys = 1;
    wr_verify_counts vc;
    int bad = 0;
    t0 = now();
    int rc = wr_audit_verify(&vo, verdict_cb, &bad, &vc, &err);
    dt = now() - t0;
    printf("  %-34s %8.3f s  %zu/%zu digests, %zu/%zu log files valid (rc %d)  %6.0f MB/s\n",
           "(e) verify (whole day)", dt, vc.digests_valid, vc.digests, vc.logs_valid, vc.logs,
           rc, mb / dt);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    if (!keep) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_audit_query: could not remove %s\n", dir);
    }
    return rc == 0 && bad == 0 ? 0 : 1;
}
