/*
 * test_sigv4.c - the s3-export signer against known signatures: the S3 PUT Object example
 * of the AWS documentation, a vector computed with @smithy/signature-v4 (the JS SDK's
 * signer) for a digest upload, and the aws-c-auth SigV4 suite vectors whose paths mean
 * the same under S3's rules (no dot-segment or double-slash normalization, no query).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "s3x.h"

static void test_encode_path(void **state)
{
    (void)state;
    s3x_buf b = {0};
    s3x_sigv4_encode_path(&b, "/org=x/a+b c/AWSLogs/~-_.\xc3\xbc$/");
    assert_string_equal(b.data, "/org%3Dx/a%2Bb%20c/AWSLogs/~-_.%C3%BC%24/");
    s3x_buf_free(&b);
}

/* AWS docs, "Signature Calculations for the Authorization Header", PUT Object example. */
static void test_aws_doc_put_object(void **state)
{
    (void)state;
    const char *sha = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    char body_sha[65];
    s3x_sha256_hex("Welcome to Amazon S3.", 21, body_sha);
    assert_string_equal(body_sha, sha);
    s3x_header h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                      {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                      {"x-amz-date", "20130524T000000Z"},
                      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                      {"x-amz-content-sha256", sha}};
    s3x_buf uri = {0}, auth = {0};
    s3x_sigv4_encode_path(&uri, "/test$file.text");
    s3x_sigv4_request rq = {"PUT", uri.data, "", h, 5, sha, "20130524T000000Z", "us-east-1", "s3"};
    char sig[65];
    assert_int_equal(s3x_sigv4_sign(&rq, "AKIAIOSFODNN7EXAMPLE",
                                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sig, &auth),
                     0);
    assert_string_equal(sig, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    assert_string_equal(auth.data,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                        "aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380"
                        "cd77a1b5971af0ece108bd");
    s3x_buf_free(&uri);
    s3x_buf_free(&auth);
}

/* A digest upload as the sink sends it: meta headers sharing a prefix (curl 7.88 sorts
 * these wrongly), a session token, a key needing encoding. Expected value from
 * @smithy/signature-v4 5.7.5 (uriEscapePath: false). */
static void test_smithy_digest_put(void **state)
{
    (void)state;
    const char *sha = "40d63304677eda51d5ce4d70e78017d5fbc612e677ab8ef0328b5e6c876c9b88";
    char body_sha[65];
    s3x_sha256_hex("digest bytes", 12, body_sha);
    assert_string_equal(body_sha, sha);
    s3x_header h[] = {{"Host", "127.0.0.1:4568"},
                      {"Content-MD5", "UcV2GnoOMLYxKOe/W0q9wA=="},
                      {"Content-Type", "application/gzip"},
                      {"x-amz-content-sha256", sha},
                      {"x-amz-date", "20250102T030405Z"},
                      {"x-amz-security-token", "tok/en+1"},
                      {"x-amz-meta-signature", "ab12"},
                      {"x-amz-meta-signature-algorithm", "SHA256withRSA"}};
    s3x_buf uri = {0}, auth = {0};
    s3x_buf_puts(&uri, "/trail/");
    s3x_sigv4_encode_path(&uri, "org=x/AWSLogs/a b~c.json.gz");
    assert_string_equal(uri.data, "/trail/org%3Dx/AWSLogs/a%20b~c.json.gz");
    s3x_sigv4_request rq = {"PUT", uri.data, "", h, 8, sha, "20250102T030405Z", "eu-central-1",
                            "s3"};
    char sig[65];
    assert_int_equal(s3x_sigv4_sign(&rq, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                    sig, &auth),
                     0);
    assert_string_equal(sig, "a100770a9570aff6b42b758426dbb2a63bf789b23edfb71b31aab4ace4da05b7");
    assert_non_null(strstr(auth.data, "SignedHeaders=content-md5;content-type;host;"
                                      "x-amz-content-sha256;x-amz-date;x-amz-meta-signature;"
                                      "x-amz-meta-signature-algorithm;x-amz-security-token, "));
    s3x_buf_free(&uri);
    s3x_buf_free(&auth);
}

/* ------------------------------------------------------------------ suite vectors */

static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    s3x_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        s3x_buf_append(&b, chunk, n);
    fclose(f);
    if (!b.data)
        s3x_buf_puts(&b, "");
    return b.data;
}

/* The string value of "key": "..." in a small JSON file, or NULL. */
static char *json_str(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    char *out = calloc(1, (size_t)(e - p) + 1);
    memcpy(out, p, (size_t)(e - p));
    return out;
}

static void run_vector(const char *root, const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    char *req = slurp(dir, "request.txt"), *ctx = slurp(dir, "context.json");
    char *want_canon = slurp(dir, "header-canonical-request.txt");
    char *want_sig = slurp(dir, "header-signature.txt");
    assert_non_null(req);
    assert_non_null(ctx);
    assert_non_null(want_canon);
    assert_non_null(want_sig);

    /* request line, headers, blank line, body */
    char *line_end = strchr(req, '\n');
    *line_end = '\0';
    char *sp = strchr(req, ' '), *http = strstr(req, " HTTP/1.1");
    *sp = '\0';
    *http = '\0';
    const char *method = req, *path = sp + 1;
    s3x_header h[32];
    size_t n = 0;
    char *body = "";
    for (char *l = line_end + 1; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (*l == '\0') {
            body = nl ? nl + 1 : "";
            break;
        }
        char *colon = strchr(l, ':');
        *colon = '\0';
        h[n++] = (s3x_header){l, colon + 1};
        l = nl ? nl + 1 : NULL;
        if (l && *l == '\n') {
            body = l + 1;
            break;
        }
    }
    char *ts = json_str(ctx, "timestamp"), *token = json_str(ctx, "token");
    char *region = json_str(ctx, "region"), *service = json_str(ctx, "service");
    char *akid = json_str(ctx, "access_key_id"), *secret = json_str(ctx, "secret_access_key");
    char date[17];
    snprintf(date, sizeof date, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5, ts + 8, ts + 11,
             ts + 14, ts + 17);
    char sha[65];
    s3x_sha256_hex(body, strlen(body), sha);
    h[n++] = (s3x_header){"X-Amz-Date", date};
    if (token)
        h[n++] = (s3x_header){"X-Amz-Security-Token", token};
    if (strstr(ctx, "\"sign_body\": true"))
        h[n++] = (s3x_header){"X-Amz-Content-Sha256", sha};

    s3x_buf uri = {0}, canon = {0}, signed_headers = {0};
    s3x_sigv4_encode_path(&uri, path);
    s3x_sigv4_request rq = {method, uri.data, "", h, n, sha, date, region, service};
    assert_int_equal(s3x_sigv4_canonical_request(&rq, &canon, &signed_headers), 0);
    if (strcmp(canon.data, want_canon) != 0)
        fail_msg("%s: canonical request\n%s\n--- expected\n%s", name, canon.data, want_canon);
    char sig[65];
    assert_int_equal(s3x_sigv4_sign(&rq, akid, secret, sig, NULL), 0);
    if (strncmp(sig, want_sig, 64) != 0)
        fail_msg("%s: signature %s, expected %.64s", name, sig, want_sig);

    s3x_buf_free(&uri);
    s3x_buf_free(&canon);
    s3x_buf_free(&signed_headers);
    free(ts), free(token), free(region), free(service), free(akid), free(secret);
    free(req), free(ctx), free(want_canon), free(want_sig);
}

static void test_suite_vectors(void **state)
{
    (void)state;
    static const char *const names[] = {
        "get-vanilla", "get-vanilla-with-session-token", "get-header-key-duplicate",
        "get-header-value-order", "get-header-value-trim", "get-unreserved", "get-utf8",
        "get-space-unnormalized", "post-header-key-case", "post-header-key-sort",
        "post-header-value-case", "post-vanilla", "post-x-www-form-urlencoded"};
    const char *root = getenv("WEIR_SIGV4_TESTDATA");
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/get-vanilla/request.txt", root ? root : "");
    FILE *f = root ? fopen(probe, "rb") : NULL;
    if (!f) {
        print_message("WEIR_SIGV4_TESTDATA (%s) has no SigV4 suite: vectors skipped\n",
                      root ? root : "unset");
        skip();
    }
    fclose(f);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        run_vector(root, names[i]);
}

/* A buffer marked secret grows without realloc (the old block is wiped and freed): its bytes
 * must survive every growth, and freeing it must leave it empty. */
static void test_secret_buf_grows(void **state)
{
    (void)state;
    s3x_buf b = {.secret = 1};
    char want[5000];
    size_t n = 0;
    for (int i = 0; n + 10 < sizeof want; i++) {
        char piece[16];
        int len = snprintf(piece, sizeof piece, "tok%d;", i);
        assert_int_equal(s3x_buf_printf(&b, "tok%d;", i), 0);
        memcpy(want + n, piece, (size_t)len);
        n += (size_t)len;
    }
    want[n] = '\0';
    assert_true(b.cap > 64); /* it grew several times */
    assert_int_equal(b.len, n);
    assert_string_equal(b.data, want);
    s3x_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.secret, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_path),
        cmocka_unit_test(test_aws_doc_put_object),
        cmocka_unit_test(test_smithy_digest_put),
        cmocka_unit_test(test_suite_vectors),
        cmocka_unit_test(test_secret_buf_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
