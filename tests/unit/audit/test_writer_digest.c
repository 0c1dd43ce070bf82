/* The audit writer's digest chain: fields, links, signatures, restarts, key rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "../../audit/trail_read.h"
#include "audit/writer.h"
#include "weir/audit.h"

static _Atomic time_t fake_now;
static time_t fake_clock(void)
{
    return fake_now;
}

static EVP_PKEY *make_key(const char *path)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    return k;
}

static void hexs(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void fingerprint(char out[33], EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    unsigned char md[16];
    unsigned int ml;
    EVP_Digest(der, (size_t)n, md, &ml, EVP_md5(), NULL);
    OPENSSL_free(der);
    hexs(out, md, 16);
}

static void sha256(char out[65], const void *p, size_t n)
{
    unsigned char md[32];
    unsigned int ml;
    EVP_Digest(p, n, md, &ml, EVP_sha256(), NULL);
    hexs(out, md, 32);
}

static int verify(EVP_PKEY *k, const char *msg, const char *sig_hex)
{
    size_t n = strlen(sig_hex) / 2;
    unsigned char *sig = malloc(n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(sig_hex + 2 * i, "%2x", &v);
        sig[i] = (unsigned char)v;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestVerify(c, sig, n, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(c);
    free(sig);
    return ok;
}

typedef struct digest {
    char *path, *object, *sig;
    char hash[65];
    json_t *j;
} digest;

/* Loads every digest, checks its signature and each listed log file's hash. */
static size_t load_digests(const char *dir, EVP_PKEY *k, digest *out, size_t max)
{
    tr_list l = tr_files(dir, "AWSLogs", ".json.gz");
    size_t n = 0;
    char fp[33];
    fingerprint(fp, k);
    for (size_t i = 0; i < l.n; i++) {
        if (!strstr(l.v[i], "/CloudTrail-Digest/"))
            continue;
        assert_true(n < max);
        digest *d = &out[n++];
        d->path = strdup(l.v[i]);
        d->object = strdup(l.v[i] + strlen(dir) + 1);
        size_t len;
        char *t = tr_gunzip(l.v[i], &len);
        assert_non_null(t);
        sha256(d->hash, t, len);
        d->j = json_loadb(t, len, 0, NULL);
        free(t);
        assert_non_null(d->j);
        char sp[600];
        snprintf(sp, sizeof sp, "%s.sig", l.v[i]);
        d->sig = tr_read_file(sp, NULL);
        assert_non_null(d->sig);
        json_t *j = d->j;
        assert_string_equal(json_string_value(json_object_get(j, "digestS3Object")), d->object);
        assert_string_equal(json_string_value(json_object_get(j, "digestS3Bucket")), "my-bucket");
        assert_string_equal(json_string_value(json_object_get(j, "digestPublicKeyFingerprint")), fp);
        assert_string_equal(json_string_value(json_object_get(j, "digestSignatureAlgorithm")),
                            "SHA256withRSA");
        assert_string_equal(json_string_value(json_object_get(j, "awsAccountId")), "111122223333");
        /* the end time is the file name's timestamp */
        const char *end = json_string_value(json_object_get(j, "digestEndTime"));
        char stamp[17];
        snprintf(stamp, sizeof stamp, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", end, end + 5, end + 8,
                 end + 11, end + 14, end + 17);
        assert_int_equal(strncmp(l.v[i] + strlen(l.v[i]) - 24, stamp, 16), 0);
        const char *prev = json_string_value(json_object_get(j, "previousDigestSignature"));
        char msg[2048];
        snprintf(msg, sizeof msg, "%s\nmy-bucket/%s\n%s\n%s", end, d->object, d->hash,
                 prev ? prev : "null");
        if (!verify(k, msg, d->sig))
            fail_msg("signature of %s does not verify", d->object);
        json_t *logs = json_object_get(j, "logFiles");
        for (size_t m = 0; m < json_array_size(logs); m++) {
            json_t *lf = json_array_get(logs, m);
            char p[600], h[65];
            snprintf(p, sizeof p, "%s/%s", dir, json_string_value(json_object_get(lf, "s3Object")));
            size_t ln;
            char *lt = tr_gunzip(p, &ln);
            assert_non_null(lt);
            sha256(h, lt, ln);
            free(lt);
            assert_string_equal(json_string_value(json_object_get(lf, "hashValue")), h);
            assert_string_equal(json_string_value(json_object_get(lf, "hashAlgorithm")), "SHA-256");
            assert_non_null(json_string_value(json_object_get(lf, "newestEventTime")));
        }
    }
    tr_list_free(&l);
    return n;
}

static void free_digests(digest *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].path);
        free(d[i].object);
        free(d[i].sig);
        json_decref(d[i].j);
    }
}

static void assert_link(const digest *prev, const digest *cur)
{
    json_t *j = cur->j;
    assert_string_equal(json_string_value(json_object_get(j, "previousDigestS3Object")),
                        prev->object);
    assert_string_equal(json_string_value(json_object_get(j, "previousDigestS3Bucket")),
                        "my-bucket");
    assert_string_equal(json_string_value(json_object_get(j, "previousDigestHashValue")),
                        prev->hash);
    assert_string_equal(json_string_value(json_object_get(j, "previousDigestHashAlgorithm")),
                        "SHA-256");
    assert_string_equal(json_string_value(json_object_get(j, "previousDigestSignature")),
                        prev->sig);
    assert_string_equal(json_string_value(json_object_get(j, "digestStartTime")),
                        json_string_value(json_object_get(prev->j, "digestEndTime")));
}

static void assert_chain_start(const digest *d)
{
    static const char *const f[] = {"previousDigestS3Bucket", "previousDigestS3Object",
                                    "previousDigestHashValue", "previousDigestHashAlgorithm",
                                    "previousDigestSignature"};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(d->j, f[i]);
        assert_non_null(v); /* present... */
        assert_true(json_is_null(v)); /* ...and null */
    }
}

static void record(weir_audit *a, const char *req)
{
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = "InvokeModel";
    ev.request_id = req;
    weir_error err = {0};
    assert_int_equal(weir_audit_record(a, &ev, NULL, NULL, 0, &err), 0);
}

static weir_audit *open_trail(const char *dir, const char *key)
{
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = dir;
    o.account_id = "111122223333";
    o.region = "eu-west-1";
    o.trail_name = "guard";
    o.bucket = "my-bucket";
    o.signing_key_file = key;
    o.digest_seconds = 3600;
    weir_audit *a = NULL;
    weir_error err = {0};
    int rc = weir_audit_open(&a, &o, &err);
    if (rc) {
        char b[512];
        fail_msg("open: %s", weir_error_format(&err, b, sizeof b));
    }
    return a;
}

static void test_chain(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-digest");
    char key[300], key2[300];
    snprintf(key, sizeof key, "%s.key.pem", dir);
    snprintf(key2, sizeof key2, "%s.key2.pem", dir);
    EVP_PKEY *k = make_key(key);
    fake_now = 1785574800; /* 2026-08-01T09:00:00Z */
    wr_audit_set_clock_for_tests(fake_clock);

    weir_audit *a = open_trail(dir, key);
    record(a, "r1");
    fake_now += 3600;
    weir_error err = {0};
    assert_int_equal(weir_audit_flush(a, &err), 0); /* digest 1: log 1 */
    record(a, "r2");
    record(a, "r3");
    fake_now += 3600;
    assert_int_equal(weir_audit_flush(a, &err), 0); /* digest 2: log 2 */
    fake_now += 3600;
    assert_int_equal(weir_audit_flush(a, &err), 0); /* digest 3: no logs */
    fake_now += 10;
    record(a, "r4");
    weir_audit_close(a); /* digest 4: log 3 */

    digest d[16] = {{0}};
    size_t n = load_digests(dir, k, d, 16);
    assert_int_equal(n, 4);
    assert_chain_start(&d[0]);
    for (size_t i = 1; i < n; i++)
        assert_link(&d[i - 1], &d[i]);
    assert_int_equal(json_array_size(json_object_get(d[0].j, "logFiles")), 1);
    assert_int_equal(json_array_size(json_object_get(d[1].j, "logFiles")), 1);
    assert_int_equal(json_array_size(json_object_get(d[2].j, "logFiles")), 0);
    assert_true(json_is_null(json_object_get(d[2].j, "newestEventTime")));
    assert_int_equal(json_array_size(json_object_get(d[3].j, "logFiles")), 1);
    assert_string_equal(json_string_value(json_object_get(d[0].j, "digestEndTime")),
                        "2026-08-01T10:00:00Z");
    assert_string_equal(json_string_value(json_object_get(d[1].j, "oldestEventTime")),
                        "2026-08-01T10:00:00Z");
    assert_non_null(strstr(d[0].object, "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/"
                                        "08/01/111122223333_CloudTrail-Digest_eu-west-1_guard_"
                                        "eu-west-1_20260801T100000Z.json.gz"));
    free_digests(d, n);

    /* the chain continues across a restart (an immediate close: same second) */
    a = open_trail(dir, key);
    record(a, "r5");
    weir_audit_close(a);
    a = open_trail(dir, key);
    weir_audit_close(a);
    memset(d, 0, sizeof d);
    n = load_digests(dir, k, d, 16);
    assert_int_equal(n, 6);
    for (size_t i = 1; i < n; i++)
        assert_link(&d[i - 1], &d[i]);
    assert_int_equal(json_array_size(json_object_get(d[4].j, "logFiles")), 1);
    free_digests(d, n);

    /* a new key starts a new chain */
    EVP_PKEY *k2 = make_key(key2);
    a = open_trail(dir, key2);
    weir_audit_close(a);
    tr_list l = tr_files(dir, "AWSLogs", ".json.gz.sig");
    assert_int_equal(l.n, 7);
    char *newest = NULL;
    for (size_t i = 0; i < l.n; i++)
        if (!newest || strcmp(l.v[i], newest) > 0)
            newest = l.v[i];
    newest[strlen(newest) - 4] = '\0';
    size_t len;
    char *t = tr_gunzip(newest, &len);
    json_t *j = json_loadb(t, len, 0, NULL);
    assert_true(json_is_null(json_object_get(j, "previousDigestSignature")));
    char fp2[33];
    fingerprint(fp2, k2);
    assert_string_equal(json_string_value(json_object_get(j, "digestPublicKeyFingerprint")), fp2);
    json_decref(j);
    free(t);
    tr_list_free(&l);

    wr_audit_set_clock_for_tests(NULL);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    unlink(key);
    unlink(key2);
    tr_rmrf(dir);
    free(dir);
}

static void test_bad_key(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-badkey");
    char key[300];
    snprintf(key, sizeof key, "%s.pem", dir);
    FILE *f = fopen(key, "w");
    fputs("not a key\n", f);
    fclose(f);
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = dir;
    o.signing_key_file = key;
    weir_audit *a = NULL;
    weir_error err = {0};
    assert_int_equal(weir_audit_open(&a, &o, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "PEM"));
    unlink(key);
    tr_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_bad_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
