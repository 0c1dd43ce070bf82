/* The audit trail writer: record fields, round trips, rolls, journal recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/hmac.h>

#include "../../audit/trail_read.h"
#include "audit/writer.h"
#include "weir/audit.h"

static const char *POLICY =
    "weir: 1\n"
    "name: audit-test\n"
    "rules:\n"
    "  - id: emails\n"
    "    detect: email\n"
    "    action: block\n"
    "    message: No e-mail addresses\n";

static const unsigned char KEY[32] = "0123456789abcdef0123456789abcdef";
#define SECRET "alice.secret.value@example.com"

static _Atomic time_t fake_now;
static time_t fake_clock(void)
{
    return fake_now;
}

static weir_audit *open_trail(const char *dir, weir_audit_options *o)
{
    weir_audit *a = NULL;
    weir_error err = {0};
    o->dir = dir;
    int rc = weir_audit_open(&a, o, &err);
    if (rc) {
        char buf[512];
        print_error("open: %s\n", weir_error_format(&err, buf, sizeof buf));
    }
    assert_int_equal(rc, 0);
    return a;
}

static void record_n(weir_audit *a, int n, const char *tag)
{
    for (int i = 0; i < n; i++) {
        char req[64];
        snprintf(req, sizeof req, "%s-%d", tag, i);
        weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
        ev.event_name = "InvokeModel";
        ev.model = "anthropic.claude-3-haiku";
        ev.request_id = req;
        weir_error err = {0};
        assert_int_equal(weir_audit_record(a, &ev, NULL, NULL, 0, &err), 0);
    }
}

static int contains(const char *b, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Does any file below dir contain needle (raw bytes, or inflated for .gz)? */
static int trail_contains(const char *dir, const char *needle)
{
    tr_list l = tr_files(dir, ".", "");
    int found = 0;
    for (size_t i = 0; i < l.n && !found; i++) {
        size_t n = 0;
        char *b = strstr(l.v[i], ".gz") ? tr_gunzip(l.v[i], &n) : tr_read_file(l.v[i], &n);
        if (!b)
            b = tr_read_file(l.v[i], &n);
        found = b && contains(b, n, needle);
        free(b);
    }
    tr_list_free(&l);
    return found;
}

static void test_record_fields_and_no_raw_text(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-fields");
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_buffer(&p, POLICY, strlen(POLICY), "t.yaml", &err), 0);
    const char *text = "Write to " SECRET " and again " SECRET " please";
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.principal = "arn:aws:sts::111122223333:assumed-role/app-role/alice";
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, &ctx, text, strlen(text), &err), 0);
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);

    FILE *jl = tmpfile();
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.account_id = "111122223333";
    o.region = "eu-central-1";
    o.hash_key = KEY;
    o.hash_key_len = sizeof KEY;
    o.jsonl_fd = fileno(jl);
    weir_audit *a = open_trail(dir, &o);
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = "InvokeModel";
    ev.aws_region = "eu-central-1";
    ev.source_ip = "198.51.100.7";
    ev.user_agent = "test-agent/1.0";
    ev.principal = ctx.principal;
    ev.model = "eu.anthropic.claude-3-haiku-20240307-v1:0";
    ev.provider = WEIR_PROVIDER_BEDROCK;
    ev.gate_ms = 0.25;
    ev.input_tokens = 12;
    assert_int_equal(weir_audit_record(a, &ev, r, text, strlen(text), &err), 0);
    assert_int_equal(weir_audit_healthy(a), 1);
    /* the journal holds the line before any roll: no secret in it either */
    assert_false(trail_contains(dir, "alice.secret"));
    weir_audit_close(a);

    json_t *recs = tr_records(dir);
    assert_non_null(recs);
    assert_int_equal(json_array_size(recs), 1);
    json_t *rec = json_array_get(recs, 0);
    static const char *const fields[] = {
        "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
        "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters",
        "responseElements", "additionalEventData", "requestID", "eventID", "readOnly",
        "eventType", "managementEvent", "recipientAccountId", "eventCategory"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        if (!json_object_get(rec, fields[i]))
            fail_msg("missing field %s", fields[i]);
    }
    assert_string_equal(json_string_value(json_object_get(rec, "eventVersion")), "1.11");
    assert_string_equal(json_string_value(json_object_get(rec, "eventSource")), "weir.gate");
    assert_string_equal(json_string_value(json_object_get(rec, "eventType")), "AwsApiCall");
    assert_string_equal(json_string_value(json_object_get(rec, "eventCategory")), "Data");
    assert_string_equal(json_string_value(json_object_get(rec, "errorCode")),
                        "GuardrailIntervened");
    assert_string_equal(json_string_value(json_object_get(rec, "errorMessage")),
                        weir_result_message(r));
    assert_string_equal(json_string_value(json_object_get(rec, "recipientAccountId")),
                        "111122223333");
    const char *t = json_string_value(json_object_get(rec, "eventTime"));
    assert_true(wr_audit_parse_time(t) > 0);
    assert_int_equal(strlen(json_string_value(json_object_get(rec, "eventID"))), 36);
    json_t *ui = json_object_get(rec, "userIdentity");
    assert_string_equal(json_string_value(json_object_get(ui, "type")), "AssumedRole");
    assert_string_equal(json_string_value(json_object_get(ui, "accountId")), "111122223333");
    assert_null(json_object_get(ui, "principalId"));
    json_t *iss = json_object_get(json_object_get(ui, "sessionContext"), "sessionIssuer");
    assert_string_equal(json_string_value(json_object_get(iss, "arn")),
                        "arn:aws:iam::111122223333:role/app-role");
    assert_string_equal(json_string_value(json_object_get(iss, "userName")), "app-role");
    json_t *rp = json_object_get(rec, "requestParameters");
    assert_string_equal(json_string_value(json_object_get(rp, "modelId")), ev.model);
    assert_string_equal(json_string_value(json_object_get(rp, "provider")), "bedrock");
    json_t *re = json_object_get(rec, "responseElements");
    assert_string_equal(json_string_value(json_object_get(re, "action")), "block");
    json_t *ad = json_object_get(rec, "additionalEventData");
    json_t *pol = json_object_get(ad, "policy");
    assert_string_equal(json_string_value(json_object_get(pol, "name")), "audit-test");
    assert_string_equal(json_string_value(json_object_get(pol, "digest")), weir_policy_digest(p));
    assert_string_equal(json_string_value(json_object_get(pol, "mode")), "enforce");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ad, "usage"),
                                                        "inputTokens")), 12);
    assert_null(json_object_get(json_object_get(ad, "usage"), "outputTokens"));
    json_t *fs = json_object_get(ad, "findings");
    assert_int_equal(json_array_size(fs), 1);
    json_t *f = json_array_get(fs, 0);
    assert_string_equal(json_string_value(json_object_get(f, "rule")), "emails");
    assert_string_equal(json_string_value(json_object_get(f, "detector")), "email");
    assert_int_equal(json_integer_value(json_object_get(f, "count")), 2);
    json_t *hs = json_object_get(f, "valueHashes");
    assert_int_equal(json_array_size(hs), 1); /* the same value twice: one hash */
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), KEY, sizeof KEY, (const unsigned char *)SECRET, strlen(SECRET), mac, &ml);
    char want[64];
    snprintf(want, sizeof want, "hmac-sha256:%02x%02x%02x%02x%02x%02x%02x%02x", mac[0], mac[1],
             mac[2], mac[3], mac[4], mac[5], mac[6], mac[7]);
    assert_string_equal(json_string_value(json_array_get(hs, 0)), want);

    /* nowhere: not in log files, journal, nor the JSON-lines copy */
    assert_false(trail_contains(dir, "alice.secret"));
    assert_false(trail_contains(dir, "example.com"));
    fflush(jl);
    rewind(jl);
    char line[8192] = "";
    assert_non_null(fgets(line, sizeof line, jl));
    assert_null(strstr(line, "alice.secret"));
    assert_non_null(strstr(line, "\"eventName\":\"InvokeModel\""));
    fclose(jl);

    json_decref(recs);
    weir_result_free(r);
    weir_policy_unref(p);
    tr_rmrf(dir);
    free(dir);
}

static void test_identities(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-ids");
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    weir_audit *a = open_trail(dir, &o);
    static const char *const principals[] = {
        NULL, "arn:aws:iam::111122223333:user/dev/bob", "arn:aws:iam::111122223333:role/ops/r1",
        "00000000-aaaa-bbbb-cccc-000000000000"};
    static const char *const types[] = {"Unknown", "IAMUser", "Role", "Unknown"};
    for (int i = 0; i < 4; i++) {
        weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
        ev.event_name = "Converse";
        ev.principal = principals[i];
        ev.request_id = principals[i] ? principals[i] : "none";
        ev.error_code = i == 3 ? "AccessDenied" : NULL;
        weir_error err = {0};
        assert_int_equal(weir_audit_record(a, &ev, NULL, NULL, 0, &err), 0);
    }
    weir_error err = {0};
    assert_int_equal(weir_audit_record_gate(a, "GateStart", "started", NULL, &err), 0);
    weir_audit_close(a);
    json_t *recs = tr_records(dir);
    assert_int_equal(json_array_size(recs), 5);
    for (int i = 0; i < 4; i++) {
        json_t *ui = json_object_get(json_array_get(recs, (size_t)i), "userIdentity");
        assert_string_equal(json_string_value(json_object_get(ui, "type")), types[i]);
    }
    json_t *u1 = json_object_get(json_array_get(recs, 1), "userIdentity");
    assert_string_equal(json_string_value(json_object_get(u1, "userName")), "bob");
    assert_null(json_object_get(json_object_get(json_array_get(recs, 0), "userIdentity"), "arn"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 3), "errorCode")),
                        "AccessDenied");
    assert_null(json_object_get(json_array_get(recs, 0), "errorCode"));
    json_t *g = json_array_get(recs, 4);
    assert_string_equal(json_string_value(json_object_get(g, "eventType")), "AwsServiceEvent");
    assert_string_equal(json_string_value(json_object_get(g, "eventName")), "GateStart");
    json_decref(recs);
    tr_rmrf(dir);
    free(dir);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        char *dir = tr_tmpdir("aw-rt");
        weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
        o.durability = mode ? WEIR_AUDIT_BATCH : WEIR_AUDIT_SYNC;
        o.batch_ms = 5;
        weir_audit *a = open_trail(dir, &o);
        record_n(a, 60, "rt");
        weir_audit_close(a);
        json_t *recs = tr_records(dir);
        assert_non_null(recs);
        assert_int_equal(json_array_size(recs), 60);
        char seen[60] = {0};
        for (size_t i = 0; i < 60; i++) {
            json_t *r = json_array_get(recs, i);
            int k = -1;
            assert_int_equal(sscanf(json_string_value(json_object_get(r, "requestID")), "rt-%d",
                                    &k), 1);
            assert_true(k >= 0 && k < 60 && !seen[k]);
            seen[k] = 1;
            assert_string_equal(json_string_value(json_object_get(r, "eventName")),
                                "InvokeModel");
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(r, "requestParameters"), "modelId")),
                                "anthropic.claude-3-haiku");
        }
        /* the log file's key layout */
        tr_list l = tr_files(dir, "AWSLogs/000000000000/CloudTrail/us-east-1", ".json.gz");
        assert_int_equal(l.n, 1);
        const char *base = strrchr(l.v[0], '/') + 1;
        assert_int_equal(strlen(base), strlen("000000000000_CloudTrail_us-east-1_20260801T0910Z_"
                                              "Mu0KsOhtH1ar15ZZ.json.gz"));
        assert_int_equal(strncmp(base, "000000000000_CloudTrail_us-east-1_", 34), 0);
        tr_list_free(&l);
        size_t jl = 0;
        char path[512];
        snprintf(path, sizeof path, "%s/journal/journal.jsonl", dir);
        free(tr_read_file(path, &jl));
        assert_int_equal(jl, 0);
        json_decref(recs);
        tr_rmrf(dir);
        free(dir);
    }
}

static void test_roll_by_size(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-size");
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.roll_bytes = 4096;
    weir_audit *a = open_trail(dir, &o);
    record_n(a, 40, "sz");
    weir_audit_close(a);
    tr_list l = tr_files(dir, "AWSLogs", ".json.gz");
    assert_true(l.n >= 5);
    size_t total = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t n = 0;
        char *t = tr_gunzip(l.v[i], &n);
        assert_non_null(t);
        assert_true(n <= 4096 + 13);
        json_t *j = json_loadb(t, n, 0, NULL);
        total += json_array_size(json_object_get(j, "Records"));
        json_decref(j);
        free(t);
    }
    assert_int_equal(total, 40);
    tr_list_free(&l);
    tr_rmrf(dir);
    free(dir);
}

static void test_roll_by_time(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-time");
    fake_now = 1785574800; /* 2026-08-01T09:00:00Z */
    wr_audit_set_clock_for_tests(fake_clock);
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.roll_seconds = 60;
    weir_audit *a = open_trail(dir, &o);
    record_n(a, 3, "a");
    fake_now += 30;
    record_n(a, 1, "b");
    assert_int_equal(tr_log_count(dir), 0);
    fake_now += 31; /* 61 s after the first record */
    record_n(a, 1, "c");
    assert_int_equal(tr_log_count(dir), 1);
    json_t *recs = tr_records(dir);
    assert_int_equal(json_array_size(recs), 4);
    json_decref(recs);
    tr_list l = tr_files(dir, "AWSLogs", ".json.gz");
    assert_non_null(strstr(l.v[0], "/2026/08/01/000000000000_CloudTrail_us-east-1_20260801T0901Z_"));
    tr_list_free(&l);
    weir_audit_close(a);
    assert_int_equal(tr_log_count(dir), 2);
    wr_audit_set_clock_for_tests(NULL);
    tr_rmrf(dir);
    free(dir);
}

/* A writer killed before close: its journal is delivered at the next open; a torn final
 * line is ignored. */
static void test_journal_recovery(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-crash");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
        o.dir = dir;
        weir_audit *a = NULL;
        if (weir_audit_open(&a, &o, NULL) != 0)
            _exit(2);
        for (int i = 0; i < 25; i++) {
            char req[32];
            snprintf(req, sizeof req, "crash-%d", i);
            weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
            ev.event_name = "InvokeModel";
            ev.request_id = req;
            if (weir_audit_record(a, &ev, NULL, NULL, 0, NULL) != 0)
                _exit(3);
        }
        _exit(0); /* no close: the records are only in the journal */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(tr_log_count(dir), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/journal/journal.jsonl", dir);
    FILE *f = fopen(path, "a");
    fputs("{\"eventVersion\":\"1.11\",\"eventID\":\"torn", f); /* a torn write */
    fclose(f);

    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    weir_audit *a = open_trail(dir, &o);
    assert_int_equal(tr_log_count(dir), 1); /* recovered before anything new */
    size_t jl = 99;
    free(tr_read_file(path, &jl));
    assert_int_equal(jl, 0);
    record_n(a, 1, "after");
    weir_audit_close(a);
    json_t *recs = tr_records(dir);
    assert_int_equal(json_array_size(recs), 26);
    for (size_t i = 0; i < 26; i++)
        assert_null(strstr(json_string_value(json_object_get(json_array_get(recs, i), "eventID")),
                           "torn"));
    json_decref(recs);
    tr_rmrf(dir);
    free(dir);
}

static void test_bad_options(void **state)
{
    (void)state;
    weir_audit *a = NULL;
    weir_error err = {0};
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    assert_int_equal(weir_audit_open(&a, &o, &err), WEIR_EINVAL); /* no dir */
    o.dir = "/tmp/weir-never-created";
    o.account_id = "12345";
    assert_int_equal(weir_audit_open(&a, &o, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "12 digits"));
    o.account_id = NULL;
    o.hash_key = KEY;
    o.hash_key_len = 8;
    assert_int_equal(weir_audit_open(&a, &o, &err), WEIR_EINVAL);
    o.hash_key_len = 16;
    o.region = "eu/central";
    assert_int_equal(weir_audit_open(&a, &o, &err), WEIR_EINVAL);
    o.region = NULL;
    o.signing_key_file = "/nonexistent/key.pem";
    assert_int_equal(weir_audit_open(&a, &o, &err), WEIR_ENOTFOUND);
    assert_null(a);
    tr_rmrf("/tmp/weir-never-created");
    weir_audit_close(NULL);
    assert_int_equal(weir_audit_healthy(NULL), 0);
}

static void test_second_writer_refused(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-lock");
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    weir_audit *a = open_trail(dir, &o);
    weir_audit *b = NULL;
    weir_error err = {0};
    assert_int_equal(weir_audit_open(&b, &o, &err), WEIR_EIO);
    assert_non_null(strstr(err.text, "in use"));
    weir_audit_close(a);
    tr_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_fields_and_no_raw_text),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_roll_by_size),
        cmocka_unit_test(test_roll_by_time),
        cmocka_unit_test(test_journal_recovery),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_second_writer_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
