/*
 * test_reader_verify.c - wr_audit_verify over trails built by the test (reader_helpers.h):
 * an intact trail, then one tampering per test, each of which must be reported.
 */
#include "reader_helpers.h"

typedef struct seen {
    wr_verdict_kind kind;
    char path[512];
    char reason[128];
    int valid;
} seen;

typedef struct seen_list {
    seen v[64];
    size_t n;
} seen_list;

static void collect(void *ctx, const wr_verdict *v)
{
    seen_list *l = ctx;
    assert_true(l->n < 64);
    seen *s = &l->v[l->n++];
    s->kind = v->kind;
    s->valid = v->valid;
    snprintf(s->path, sizeof s->path, "%s", v->path);
    snprintf(s->reason, sizeof s->reason, "%s", v->reason ? v->reason : "");
}

static int run_verify(const th_trail *t, const char *key, seen_list *l, wr_verify_counts *c)
{
    const char *keys[1] = {key ? key : t->key.pub_path};
    wr_verify_opts o;
    memset(&o, 0, sizeof o);
    o.dir = t->dir;
    o.key_files = keys;
    o.n_keys = 1;
    memset(l, 0, sizeof *l);
    weir_error err = {0};
    int rc = wr_audit_verify(&o, collect, l, c, &err);
    if (rc < 0)
        print_error("verify: %s\n", err.text);
    return rc;
}

/* The verdict reported for path (fails the test when there is none). */
static const seen *verdict(const seen_list *l, wr_verdict_kind kind, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == kind && strcmp(l->v[i].path, path) == 0)
            return &l->v[i];
    print_error("no verdict for %s\n", path);
    fail();
    return NULL;
}

static void expect_invalid(const seen_list *l, wr_verdict_kind kind, const char *path,
                           const char *reason)
{
    const seen *s = verdict(l, kind, path);
    assert_false(s->valid);
    assert_string_equal(s->reason, reason);
}

static void test_intact_trail_is_valid(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 0);
    assert_int_equal(c.digests, TH_DIGESTS);
    assert_int_equal(c.digests_valid, TH_DIGESTS);
    assert_int_equal(c.logs, TH_DIGESTS * TH_LOGS_PER);
    assert_int_equal(c.logs_valid, TH_DIGESTS * TH_LOGS_PER);
    assert_int_equal(c.gaps, 0);
    /* newest first */
    assert_string_equal(l.v[0].path, t.dg[TH_DIGESTS - 1].rel);
    for (int i = 0; i < TH_DIGESTS; i++)
        assert_true(verdict(&l, WR_V_DIGEST, t.dg[i].rel)->valid);
    th_trail_free(&t);
}

static void test_altered_log_file(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    /* same envelope, one character changed, properly re-gzipped */
    char *s = t.logs[2].content;
    char *p = strstr(s, "alice");
    assert_non_null(p);
    p[0] = 'm';
    char path[4200];
    th_path(path, sizeof path, &t, t.logs[2].rel);
    th_write_gz(path, s, strlen(s));
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_LOG, t.logs[2].rel, "hash value doesn't match");
    assert_int_equal(c.logs_valid, TH_DIGESTS * TH_LOGS_PER - 1);
    assert_int_equal(c.digests_valid, TH_DIGESTS);
    th_trail_free(&t);
}

static void test_deleted_log_file(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    char path[4200];
    th_path(path, sizeof path, &t, t.logs[0].rel);
    assert_int_equal(unlink(path), 0);
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_LOG, t.logs[0].rel, "not found");
    th_trail_free(&t);
}

static void test_unlisted_log_file(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    th_log extra;
    char *rec = th_record(TH_T0 + 3700, "ffffffff-0000-4000-8000-000000000000",
                          "arn:aws:sts::111122223333:assumed-role/app-role/mallory", "m",
                          "allow", NULL);
    th_write_log(&extra, t.dir, TH_T0 + 3720, &rec, 1, "INSERTEDXXXXXXXX");
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_LOG, extra.rel, "not listed in any digest");
    /* a log file delivered after the newest digest is pending, not invalid */
    th_log late;
    th_write_log(&late, t.dir, TH_T0 + 3 * 3600 + 600, &rec, 1, "LATEXXXXXXXXXXXX");
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    assert_int_equal(verdict(&l, WR_V_PENDING, late.rel)->kind, WR_V_PENDING);
    free(rec);
    free(extra.content);
    free(late.content);
    th_trail_free(&t);
}

static void test_swapped_digests_break_the_chain(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    char a[4200], b[4200], tmp[4300];
    th_path(a, sizeof a, &t, t.dg[0].rel);
    th_path(b, sizeof b, &t, t.dg[1].rel);
    snprintf(tmp, sizeof tmp, "%s.swap", a);
    const char *sfx[] = {"", ".sig"};
    for (int i = 0; i < 2; i++) {
        char x[4300], y[4300];
        snprintf(x, sizeof x, "%s%s", a, sfx[i]);
        snprintf(y, sizeof y, "%s%s", b, sfx[i]);
        assert_int_equal(rename(x, tmp), 0);
        assert_int_equal(rename(y, x), 0);
        assert_int_equal(rename(tmp, y), 0);
    }
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    assert_true(verdict(&l, WR_V_DIGEST, t.dg[2].rel)->valid);
    expect_invalid(&l, WR_V_DIGEST, t.dg[1].rel, "hash of previous digest doesn't match");
    expect_invalid(&l, WR_V_DIGEST, t.dg[0].rel, "moved from its original location");
    th_trail_free(&t);
}

static void test_deleted_digest(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    char p[4200];
    th_path(p, sizeof p, &t, t.dg[1].rel);
    assert_int_equal(unlink(p), 0);
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_DIGEST, t.dg[1].rel, "not found");
    assert_true(verdict(&l, WR_V_DIGEST, t.dg[0].rel)->valid);
    /* its log files are now listed nowhere */
    expect_invalid(&l, WR_V_LOG, t.logs[2].rel, "not listed in any digest");
    /* the oldest digest deleted as well: the walk stops at the missing link, and the log
     * files of both digests must not drop out of sight */
    th_path(p, sizeof p, &t, t.dg[0].rel);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_DIGEST, t.dg[1].rel, "not found");
    assert_int_equal(c.digests, 2);
    expect_invalid(&l, WR_V_LOG, t.logs[0].rel, "not listed in any digest");
    th_trail_free(&t);
}

static void test_edited_digest(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    /* drop the second log file from the middle digest, keep its signature */
    char p[4200];
    th_path(p, sizeof p, &t, t.dg[1].rel);
    /* rebuild the digest JSON without the log entry, with the old signature */
    th_digest forged;
    th_key other;
    th_keygen(&other, t.dir, "forger");
    th_write_digest(&forged, t.dir, other.pkey, t.key.fp, TH_T0 + 3600, TH_T0 + 7200,
                    &t.logs[2], 1, &t.dg[0]);
    assert_string_equal(forged.rel, t.dg[1].rel);
    char sigp[4300];
    snprintf(sigp, sizeof sigp, "%s.sig", p);
    th_write(sigp, t.dg[1].sig, strlen(t.dg[1].sig));
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_DIGEST, t.dg[1].rel, "signature verification failed");
    free(forged.sig);
    th_key_free(&other);
    th_trail_free(&t);
}

static void test_other_key(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    th_key other;
    th_keygen(&other, t.dir, "other");
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, other.pub_path, &l, &c), 1);
    assert_int_equal(c.digests_valid, 0);
    expect_invalid(&l, WR_V_DIGEST, t.dg[2].rel, "public key fingerprint mismatch");
    /* a digest re-signed with another key but claiming the real fingerprint */
    th_digest forged;
    th_write_digest(&forged, t.dir, other.pkey, t.key.fp, TH_T0 + 7200, TH_T0 + 10800,
                    &t.logs[4], 2, &t.dg[1]);
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_DIGEST, t.dg[2].rel, "signature verification failed");
    free(forged.sig);
    th_key_free(&other);
    th_trail_free(&t);
}

static void test_truncated_and_trailing_gzip(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    char p[4200];
    /* truncate log 1 */
    th_path(p, sizeof p, &t, t.logs[1].rel);
    size_t n;
    unsigned char *gz = th_gzip(t.logs[1].content, strlen(t.logs[1].content), &n);
    th_write(p, gz, n - 10);
    free(gz);
    /* garbage after log 3 */
    th_path(p, sizeof p, &t, t.logs[3].rel);
    gz = th_gzip(t.logs[3].content, strlen(t.logs[3].content), &n);
    unsigned char *more = malloc(n + 4);
    memcpy(more, gz, n);
    memcpy(more + n, "junk", 4);
    th_write(p, more, n + 4);
    free(more);
    free(gz);
    /* a digest that is not gzip at all */
    th_path(p, sizeof p, &t, t.dg[2].rel);
    th_write(p, "{\"not\":\"gzip\"}", 14);
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 1);
    expect_invalid(&l, WR_V_LOG, t.logs[1].rel, "invalid format");
    expect_invalid(&l, WR_V_LOG, t.logs[3].rel, "unexpected data after end of compressed stream");
    expect_invalid(&l, WR_V_DIGEST, t.dg[2].rel, "invalid format");
    assert_true(verdict(&l, WR_V_DIGEST, t.dg[1].rel)->valid);
    /* the unreadable digest's log files are listed nowhere trustworthy */
    expect_invalid(&l, WR_V_LOG, t.logs[4].rel, "not listed in any digest");
    th_trail_free(&t);
}

static void test_time_range(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    /* break the oldest digest; a range that excludes it is valid */
    char p[4200];
    th_path(p, sizeof p, &t, t.dg[0].rel);
    assert_int_equal(unlink(p), 0);
    const char *keys[1] = {t.key.pub_path};
    wr_verify_opts o;
    memset(&o, 0, sizeof o);
    o.dir = t.dir;
    o.key_files = keys;
    o.n_keys = 1;
    o.has_start = 1;
    o.start = t.dg[1].end;
    seen_list l = {0};
    wr_verify_counts c;
    weir_error err = {0};
    assert_int_equal(wr_audit_verify(&o, collect, &l, &c, &err), 0);
    assert_int_equal(c.digests, 2);
    assert_int_equal(c.logs, 4);
    o.start = TH_T0;
    memset(&l, 0, sizeof l);
    assert_int_equal(wr_audit_verify(&o, collect, &l, &c, &err), 1);
    expect_invalid(&l, WR_V_DIGEST, t.dg[0].rel, "not found");
    th_trail_free(&t);
}

static void test_chain_gap(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    /* a fourth digest that starts a new chain (the writer lost its state) */
    th_digest d4;
    th_write_digest(&d4, t.dir, t.key.pkey, t.key.fp, TH_T0 + 3 * 3600, TH_T0 + 4 * 3600,
                    NULL, 0, NULL);
    seen_list l;
    wr_verify_counts c;
    assert_int_equal(run_verify(&t, NULL, &l, &c), 0);
    assert_int_equal(c.gaps, 1);
    assert_int_equal(verdict(&l, WR_V_GAP, d4.rel)->kind, WR_V_GAP);
    free(d4.sig);
    th_trail_free(&t);
}

static void test_bad_key_file(void **state)
{
    (void)state;
    th_trail t;
    th_trail_build(&t);
    char p[4200];
    th_path(p, sizeof p, &t, "not-a-key.pem");
    th_write(p, "hello\n", 6);
    seen_list l;
    wr_verify_counts c;
    assert_true(run_verify(&t, p, &l, &c) < 0);
    char fp[33];
    weir_error err = {0};
    assert_int_equal(wr_audit_key_fingerprint(t.key.pub_path, fp, &err), 0);
    assert_string_equal(fp, t.key.fp);
    /* the private key works as well: its public half is used */
    assert_int_equal(wr_audit_key_fingerprint(t.key.priv_path, fp, &err), 0);
    assert_string_equal(fp, t.key.fp);
    th_trail_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_trail_is_valid),
        cmocka_unit_test(test_altered_log_file),
        cmocka_unit_test(test_deleted_log_file),
        cmocka_unit_test(test_unlisted_log_file),
        cmocka_unit_test(test_swapped_digests_break_the_chain),
        cmocka_unit_test(test_deleted_digest),
        cmocka_unit_test(test_edited_digest),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_truncated_and_trailing_gzip),
        cmocka_unit_test(test_time_range),
        cmocka_unit_test(test_chain_gap),
        cmocka_unit_test(test_bad_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
