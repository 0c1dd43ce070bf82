/*
 * test_reader_query.c - the record readers (gzip, {"Records":[...]} splitter, journal lines)
 * and wr_audit_scan's filters, dedupe and file skipping, over trails built by the test.
 */
#include "reader_helpers.h"

/* ------------------------------------------------------------------ splitter */

typedef struct recs {
    char *v[16];
    size_t n;
} recs;

static int keep(void *ctx, const char *json, size_t n)
{
    recs *r = ctx;
    assert_true(r->n < 16);
    r->v[r->n++] = wr_strndup(json, n);
    return 0;
}

static void recs_free(recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    r->n = 0;
}

/* Splits s fed one byte at a time (the worst case for the state machine). */
static int split_bytewise(const char *s, recs *r)
{
    wr_records_splitter sp;
    wr_records_init(&sp, keep, r);
    int rc = 0;
    for (size_t i = 0; s[i] && rc == 0; i++)
        rc = wr_records_feed(&sp, s + i, 1);
    if (rc == 0)
        rc = wr_records_finish(&sp);
    wr_records_free(&sp);
    return rc;
}

static void test_splitter(void **state)
{
    (void)state;
    recs r = {0};
    assert_int_equal(split_bytewise(" {\"Records\" : [ {\"a\":\"}]\\\"\"} ,\n{\"b\":[1,{}]} ] }\n", &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[0], "{\"a\":\"}]\\\"\"}");
    assert_string_equal(r.v[1], "{\"b\":[1,{}]}");
    recs_free(&r);
    assert_int_equal(split_bytewise("{\"Records\":[]}", &r), 0);
    assert_int_equal(r.n, 0);
    const char *bad[] = {
        "", "[]", "{\"Recordz\":[]}", "{\"Records\":{}}", "{\"Records\":[1]}",
        "{\"Records\":[{}", "{\"Records\":[{}]", "{\"Records\":[{}]}x", "{\"Records\":[{},]}",
        "{\"Records\":[{}{}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (split_bytewise(bad[i], &r) == 0) {
            print_error("accepted: %s\n", bad[i]);
            fail();
        }
        recs_free(&r);
    }
    /* nesting beyond the limit */
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_puts(&b, "{\"Records\":[{\"x\":");
    for (int i = 0; i < WR_AUDIT_MAX_DEPTH + 2; i++)
        wr_buf_puts(&b, "[");
    assert_int_not_equal(split_bytewise(b.data, &r), 0);
    recs_free(&r);
    wr_buf_free(&b);
}

static void test_journal_split(void **state)
{
    (void)state;
    recs r = {0};
    int torn = 0;
    size_t too_long = 0;
    const char *j = "{\"a\":1}\n\n  \n{\"b\":2}\r\n{\"c\":";
    wr_journal_split(j, strlen(j), keep, &r, &torn, &too_long);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[1], "{\"b\":2}");
    assert_int_equal(torn, 1);
    recs_free(&r);
}

static void test_gzip_limits(void **state)
{
    (void)state;
    char *big = malloc(1 << 20);
    memset(big, 'a', 1 << 20);
    size_t n;
    unsigned char *gz = th_gzip(big, 1 << 20, &n);
    unsigned char sha[32];
    assert_int_equal(wr_gz_stream_mem(gz, n, 1 << 20, NULL, NULL, sha), WR_GZ_OK);
    assert_int_equal(wr_gz_stream_mem(gz, n, (1 << 20) - 1, NULL, NULL, sha), WR_GZ_TOOBIG);
    assert_int_equal(wr_gz_stream_mem(gz, n - 1, 1 << 20, NULL, NULL, sha), WR_GZ_FORMAT);
    assert_int_equal(wr_gz_stream_mem((const unsigned char *)"abc", 3, 10, NULL, NULL, NULL),
                     WR_GZ_FORMAT);
    /* two members: the second is trailing data */
    unsigned char *two = malloc(2 * n);
    memcpy(two, gz, n);
    memcpy(two + n, gz, n);
    assert_int_equal(wr_gz_stream_mem(two, 2 * n, 4 << 20, NULL, NULL, NULL), WR_GZ_TRAILING);
    char hex[65], want[65];
    assert_int_equal(wr_gz_stream_mem(gz, n, 1 << 20, NULL, NULL, sha), WR_GZ_OK);
    wr_hex(hex, sha, 32);
    th_sha256_hex(want, big, 1 << 20);
    assert_string_equal(hex, want);
    free(two);
    free(gz);
    free(big);
}

static void test_record_parse(void **state)
{
    (void)state;
    char *s = th_record(TH_T0, "id-1", "arn:aws:sts::1:assumed-role/r/s", "m1", "block", "pii");
    wr_audit_rec rec;
    char why[160];
    assert_int_equal(wr_audit_rec_parse(&rec, s, strlen(s), why, sizeof why), 0);
    assert_int_equal(rec.time, TH_T0);
    assert_string_equal(rec.event_id, "id-1");
    assert_string_equal(rec.model, "m1");
    assert_string_equal(rec.action, "block");
    assert_string_equal(rec.role, "arn:aws:iam::111122223333:role/teams/app-role");
    wr_buf b;
    wr_buf_init(&b);
    wr_audit_rec_rules(&rec, &b);
    assert_string_equal(b.data, "pii");
    wr_buf_free(&b);
    wr_audit_rec_free(&rec);
    free(s);
    const char *bad[] = {"[]", "{}", "{\"eventTime\":\"2026-08-01\",\"eventID\":\"x\","
                                     "\"eventName\":\"n\"}",
                         "{\"eventTime\":\"2026-08-01T00:00:00Z\",\"eventName\":\"n\"}",
                         "{\"eventTime\":\"2026-13-01T00:00:00Z\",\"eventID\":\"x\","
                         "\"eventName\":\"n\"}",
                         "{\"a\":1,\"a\":2}", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(wr_audit_rec_parse(&rec, bad[i], strlen(bad[i]), why, sizeof why), -1);
}

/* ------------------------------------------------------------------ scanning */

#define ALICE "arn:aws:sts::111122223333:assumed-role/app-role/alice"
#define BOB "arn:aws:sts::111122223333:assumed-role/batch-role/bob"

typedef struct hits {
    char ids[64][48];
    size_t n;
} hits;

static int hit(void *ctx, const wr_audit_rec *rec)
{
    hits *h = ctx;
    assert_true(h->n < 64);
    snprintf(h->ids[h->n++], 48, "%s", rec->event_id);
    return 0;
}

static int has(const hits *h, const char *id)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->ids[i], id) == 0)
            return 1;
    return 0;
}

/*
 * Day 1 (2026-08-01) and day 2 (2026-08-03):
 *   log A (day 1 08:30): a1 alice haiku allow, a2 bob sonnet block rule pii
 *   log B (day 3 10:00): b1 alice sonnet redact rule email, b2 bob haiku log rule pii
 *   journal: j1 alice haiku block rule secrets, a duplicate of b1, a torn line
 *   log C (day 3 10:30): c1 with a JSON-escaped principal (\/), model "esc"
 */
static char *build_query_trail(void)
{
    char *dir = th_mkdtemp();
    time_t d1 = TH_T0, d3 = TH_T0 + 2 * 86400 + 7200;
    char *a[2] = {th_record(d1 + 60, "a1", ALICE, "anthropic.claude-3-haiku", "allow", NULL),
                  th_record(d1 + 120, "a2", BOB, "anthropic.claude-3-sonnet", "block", "pii")};
    char *b[2] = {th_record(d3 - 120, "b1", ALICE, "anthropic.claude-3-sonnet", "redact",
                            "email"),
                  th_record(d3 - 60, "b2", BOB, "anthropic.claude-3-haiku", "log", "pii")};
    th_log la, lb, lc;
    th_write_log(&la, dir, d1 + 1800, a, 2, "AAAAAAAAAAAAAAAA");
    th_write_log(&lb, dir, d3, b, 2, "BBBBBBBBBBBBBBBB");
    char *j1 = th_record(d3 + 60, "j1", ALICE, "anthropic.claude-3-haiku", "block", "secrets");
    char jpath[4200];
    snprintf(jpath, sizeof jpath, "%s/journal/journal.jsonl", dir);
    wr_buf jb;
    wr_buf_init(&jb);
    wr_buf_printf(&jb, "%s\n%s\n{\"eventTime\":\"2026-08-0", j1, b[0]);
    th_write(jpath, jb.data, jb.len);
    wr_buf_free(&jb);
    /* a record whose strings use JSON escapes: the raw-text prefilter must not drop it */
    char *c = th_record(d3 + 1800, "c1", "arn:aws:sts::111122223333:assumed-role/esc-role/eve",
                        "esc", "allow", NULL);
    wr_buf cb;
    wr_buf_init(&cb);
    for (const char *p = c; *p; p++) {
        if (*p == '/')
            wr_buf_puts(&cb, "\\/");
        else if (*p == 'v' && p[1] == 'e' && p[-1] == 'e')
            wr_buf_puts(&cb, "\\u0076"); /* "eve" -> "e\u0076e" */
        else
            wr_buf_append(&cb, p, 1);
    }
    char *cs[1] = {cb.data};
    th_write_log(&lc, dir, d3 + 1800, cs, 1, "CCCCCCCCCCCCCCCC");
    wr_buf_free(&cb);
    free(c);
    free(j1);
    for (int i = 0; i < 2; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(la.content);
    free(lb.content);
    free(lc.content);
    return dir;
}

static void scan(const wr_query *q, hits *h, wr_scan_counts *c)
{
    memset(h, 0, sizeof *h);
    weir_error err = {0};
    assert_int_equal(wr_audit_scan(q, hit, h, NULL, NULL, c, &err), 0);
}

static void test_scan_all_and_dedupe(void **state)
{
    (void)state;
    char *dir = build_query_trail();
    wr_query q = {0};
    q.dir = dir;
    hits h;
    wr_scan_counts c;
    scan(&q, &h, &c);
    assert_int_equal(h.n, 6); /* a1 a2 b1 b2 j1 c1; b1's journal copy dropped */
    assert_int_equal(c.duplicates, 1);
    assert_int_equal(c.bad, 0);  /* the torn line is not an error */
    assert_true(has(&h, "j1"));
    assert_true(has(&h, "c1"));
    th_rmrf(dir);
    free(dir);
}

static void test_scan_filters(void **state)
{
    (void)state;
    char *dir = build_query_trail();
    wr_query q = {0};
    q.dir = dir;
    hits h;
    wr_scan_counts c;

    q.principal = "arn:aws:sts::*:assumed-role/app-role/*";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 3);
    assert_true(has(&h, "a1") && has(&h, "b1") && has(&h, "j1"));
    /* the role ARN (sessionIssuer) matches too: every test record has the same issuer */
    q.principal = "arn:aws:iam::111122223333:role/teams/*";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 6);
    /* escaped JSON strings are matched on their decoded value */
    q.principal = "arn:aws:sts::*:assumed-role/esc-role/eve";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 1);
    assert_true(has(&h, "c1"));
    q.principal = NULL;

    q.model = "*sonnet*";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 2);
    q.model = NULL;

    q.rule = "pii";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 2);
    assert_true(has(&h, "a2") && has(&h, "b2"));
    q.rule = NULL;

    q.action = "block";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 2);
    assert_true(has(&h, "a2") && has(&h, "j1"));
    q.action = "log";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 1);
    q.action = NULL;

    q.event = "Converse*";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 0);
    q.event = "Invoke*";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 6);
    q.event = NULL;

    /* time: only day 3; day 1's directory is not even read */
    q.has_since = 1;
    q.since = TH_T0 + 2 * 86400;
    scan(&q, &h, &c);
    assert_int_equal(h.n, 4);
    assert_false(has(&h, "a1"));
    assert_int_equal(c.files, 3); /* logs B, C and the journal */
    q.has_until = 1;
    q.until = TH_T0 + 2 * 86400 + 7200;
    scan(&q, &h, &c);
    assert_int_equal(h.n, 2); /* b1, b2 */
    assert_true(has(&h, "b1") && has(&h, "b2"));

    /* combined */
    memset(&q, 0, sizeof q);
    q.dir = dir;
    q.principal = BOB;
    q.rule = "pii";
    q.model = "*haiku";
    scan(&q, &h, &c);
    assert_int_equal(h.n, 1);
    assert_true(has(&h, "b2"));
    th_rmrf(dir);
    free(dir);
}

static void warn_count(void *ctx, const char *where, const char *msg)
{
    (void)where;
    (void)msg;
    (*(int *)ctx)++;
}

static void test_scan_bad_files(void **state)
{
    (void)state;
    char *dir = build_query_trail();
    char p[4200];
    /* a log file that is not gzip, one with a broken envelope, one bad journal line */
    snprintf(p, sizeof p, "%s/AWSLogs/" TH_ACCT "/CloudTrail/" TH_REGION "/2026/08/02/" TH_ACCT
             "_CloudTrail_" TH_REGION "_20260802T0000Z_XXXXXXXXXXXXXXXX.json.gz", dir);
    th_write(p, "plain", 5);
    snprintf(p, sizeof p, "%s/AWSLogs/" TH_ACCT "/CloudTrail/" TH_REGION "/2026/08/02/" TH_ACCT
             "_CloudTrail_" TH_REGION "_20260802T0100Z_YYYYYYYYYYYYYYYY.json.gz", dir);
    th_write_gz(p, "{\"Records\":[{\"eventID\":\"x\"}", 27);
    wr_query q = {0};
    q.dir = dir;
    hits h;
    wr_scan_counts c;
    int warnings = 0;
    weir_error err = {0};
    memset(&h, 0, sizeof h);
    assert_int_equal(wr_audit_scan(&q, hit, &h, warn_count, &warnings, &c, &err), 0);
    assert_int_equal(h.n, 6);
    /* not gzip; the record without eventTime; the incomplete envelope */
    assert_int_equal(c.bad, 3);
    assert_int_equal(warnings, 3);
    th_rmrf(dir);
    free(dir);
}

static void test_scan_missing_dir(void **state)
{
    (void)state;
    wr_query q = {0};
    q.dir = "/nonexistent/weir-trail";
    hits h;
    wr_scan_counts c;
    scan(&q, &h, &c);
    assert_int_equal(h.n, 0);
}

static void test_time_parse(void **state)
{
    (void)state;
    time_t t;
    assert_int_equal(wr_time_parse("2026-08-01T08:00:00Z", &t), 0);
    assert_int_equal(t, TH_T0);
    assert_int_equal(wr_time_parse("2026-08-01T08:00Z", &t), 0);
    assert_int_equal(t, TH_T0);
    assert_int_equal(wr_time_parse("2026-08-01", &t), 0);
    assert_int_equal(t, TH_T0 - 8 * 3600);
    assert_int_equal(wr_time_parse("2026-08-01T08:00:00", &t), -1);
    assert_int_equal(wr_time_parse("2026-08-01 08:00:00Z", &t), -1);
    assert_int_equal(wr_time_parse("1999-02-30T00:00:00Z", &t), 0); /* lenient on day */
    char out[21];
    wr_time_format(out, TH_T0);
    assert_string_equal(out, "2026-08-01T08:00:00Z");
    assert_true(wr_rel_path_ok("AWSLogs/a/b.json.gz"));
    assert_false(wr_rel_path_ok("/etc/passwd"));
    assert_false(wr_rel_path_ok("AWSLogs/../../x"));
    assert_false(wr_rel_path_ok("AWSLogs//x"));
    assert_false(wr_rel_path_ok(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitter),
        cmocka_unit_test(test_journal_split),
        cmocka_unit_test(test_gzip_limits),
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_scan_all_and_dedupe),
        cmocka_unit_test(test_scan_filters),
        cmocka_unit_test(test_scan_bad_files),
        cmocka_unit_test(test_scan_missing_dir),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
