/*
 * test_roundtrip.c - the writer (weir_audit_*) and the reader (filter/audit/reader.h)
 * together: records written through the writer come back through the query path
 * unchanged, and verify passes on the writer's own digests — then fails once a file is
 * touched.
 */
#include <fcntl.h>

#include "audit/writer.h"
#include "reader_helpers.h"
#include "weir/audit.h"

static time_t fake_now;

static time_t fake_clock(void)
{
    return fake_now;
}

static const char POLICY[] = "weir: 1\n"
                             "name: roundtrip\n"
                             "rules:\n"
                             "  - id: emails\n"
                             "    detect: email\n"
                             "    action: redact\n";

typedef struct got {
    json_t *recs; /* array */
} got;

static int keep_json(void *ctx, const wr_audit_rec *rec)
{
    got *g = ctx;
    json_array_append(g->recs, rec->json);
    return 0;
}

static json_t *query_all(const char *dir, size_t *dups)
{
    wr_query q;
    memset(&q, 0, sizeof q);
    q.dir = dir;
    got g = {json_array()};
    wr_scan_counts c;
    weir_error err = {0};
    assert_int_equal(wr_audit_scan(&q, keep_json, &g, NULL, NULL, &c, &err), 0);
    assert_int_equal(c.bad, 0);
    if (dups)
        *dups = c.duplicates;
    return g.recs;
}

/* The JSON lines the writer mirrored to jsonl_fd, by eventID. */
static json_t *mirrored(const char *path)
{
    json_t *by_id = json_object();
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)n, 0, NULL);
        assert_non_null(j);
        json_object_set_new(by_id, json_string_value(json_object_get(j, "eventID")), j);
    }
    free(line);
    fclose(f);
    return by_id;
}

typedef struct vcount {
    size_t invalid;
} vcount;

static void count_invalid(void *ctx, const wr_verdict *v)
{
    if (!v->valid && (v->kind == WR_V_DIGEST || v->kind == WR_V_LOG)) {
        ((vcount *)ctx)->invalid++;
        print_message("  %s %s: %s\n", v->kind == WR_V_DIGEST ? "digest" : "log", v->path,
                      v->reason);
    }
}

static int verify(const char *dir, const char *pub, wr_verify_counts *c)
{
    const char *keys[1] = {pub};
    wr_verify_opts o;
    memset(&o, 0, sizeof o);
    o.dir = dir;
    o.key_files = keys;
    o.n_keys = 1;
    vcount vc = {0};
    weir_error err = {0};
    int rc = wr_audit_verify(&o, count_invalid, &vc, c, &err);
    if (rc < 0)
        print_error("verify: %s\n", err.text);
    return rc;
}

static void test_writer_to_reader(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    char trail[4200], mirror[4200];
    snprintf(trail, sizeof trail, "%s/trail", dir);
    snprintf(mirror, sizeof mirror, "%s/mirror.jsonl", dir);
    th_key key;
    th_keygen(&key, dir, "signer");

    fake_now = 1785571200; /* 2026-08-01T08:00:00Z */
    wr_audit_set_clock_for_tests(fake_clock);
    int mfd = open(mirror, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(mfd >= 0);
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = trail;
    o.account_id = TH_ACCT;
    o.region = TH_REGION;
    o.signing_key_file = key.priv_path;
    o.roll_seconds = 300;
    o.digest_seconds = 3600;
    static const unsigned char hk[] = "0123456789abcdef0123456789abcdef";
    o.hash_key = hk;
    o.hash_key_len = 32;
    o.jsonl_fd = mfd;
    weir_audit *a = NULL;
    weir_error err = {0};
    assert_int_equal(weir_audit_open(&a, &o, &err), 0);

    weir_policy *p = NULL;
    assert_int_equal(weir_policy_load_buffer(&p, POLICY, strlen(POLICY), "rt.yaml", &err), 0);
    const char *texts[] = {"write to jane.doe@example.com please", "nothing to see here"};
    const char *who[] = {"arn:aws:sts::111122223333:assumed-role/app-role/alice",
                         "arn:aws:sts::111122223333:assumed-role/batch-role/bob"};
    int written = 0;
    assert_int_equal(weir_audit_record_gate(a, "GateStart", "started", p, &err), 0);
    written++;
    for (int step = 0; step < 30; step++) { /* 3 hours, a batch every 6 minutes */
        for (int k = 0; k < 4; k++) {
            const char *text = texts[k % 2];
            weir_context ctx = WEIR_CONTEXT_INIT;
            ctx.principal = who[(step + k) % 2];
            ctx.model = k == 3 ? "gpt-4o" : "anthropic.claude-3-haiku-20240307-v1:0";
            ctx.region = TH_REGION;
            weir_result *r = NULL;
            assert_int_equal(weir_check(&r, p, &ctx, text, strlen(text), &err), 0);
            weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
            ev.event_name = k == 3 ? "ChatCompletions" : "InvokeModel";
            ev.principal = ctx.principal;
            ev.model = ctx.model;
            ev.aws_region = TH_REGION;
            ev.source_ip = "198.51.100.7";
            ev.request_id = "req";
            ev.upstream_status = 200;
            assert_int_equal(weir_audit_record(a, &ev, r, text, strlen(text), &err), 0);
            written++;
            weir_result_free(r);
        }
        fake_now += 360;
    }
    /* before close: the newest records are still in the journal, and query sees them */
    json_t *early = query_all(trail, NULL);
    assert_int_equal(json_array_size(early), (size_t)written);
    json_decref(early);
    weir_audit_close(a);
    close(mfd);

    /* every record comes back exactly as the writer emitted it */
    size_t dups = 0;
    json_t *back = query_all(trail, &dups);
    json_t *want = mirrored(mirror);
    assert_int_equal(json_array_size(back), (size_t)written);
    assert_int_equal(json_object_size(want), (size_t)written);
    size_t i;
    json_t *rec;
    json_array_foreach(back, i, rec) {
        json_t *w = json_object_get(want, json_string_value(json_object_get(rec, "eventID")));
        assert_non_null(w);
        assert_true(json_equal(rec, w));
    }
    /* filters work on the writer's field layout */
    wr_query q;
    memset(&q, 0, sizeof q);
    q.dir = trail;
    q.rule = "emails";
    q.action = "redact";
    q.principal = "arn:aws:sts::*:assumed-role/app-role/*";
    got g = {json_array()};
    wr_scan_counts c;
    assert_int_equal(wr_audit_scan(&q, keep_json, &g, NULL, NULL, &c, &err), 0);
    assert_true(json_array_size(g.recs) > 0);
    json_array_foreach(g.recs, i, rec) {
        wr_audit_rec r;
        char *s = json_dumps(rec, JSON_COMPACT);
        char why[160];
        assert_int_equal(wr_audit_rec_parse(&r, s, strlen(s), why, sizeof why), 0);
        assert_string_equal(r.action, "redact");
        wr_audit_rec_free(&r);
        free(s);
    }
    json_decref(g.recs);
    q.rule = NULL;
    q.action = NULL;
    q.principal = NULL;
    q.event = "GateStart";
    g.recs = json_array();
    assert_int_equal(wr_audit_scan(&q, keep_json, &g, NULL, NULL, &c, &err), 0);
    assert_int_equal(json_array_size(g.recs), 1);
    json_decref(g.recs);

    /* the writer's digests verify */
    wr_verify_counts vc;
    assert_int_equal(verify(trail, key.pub_path, &vc), 0);
    assert_true(vc.digests >= 3);
    assert_int_equal(vc.digests, vc.digests_valid);
    assert_true(vc.logs >= 3);
    assert_int_equal(vc.logs, vc.logs_valid);
    assert_int_equal(vc.gaps, 0);

    /* ... and stop verifying once a log file is rewritten */
    wr_trail_file *files = NULL;
    size_t nf = 0;
    assert_int_equal(wr_trail_list(trail, 0, 0, &files, &nf, &err), 0);
    assert_true(nf > 0);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", trail, files[0].path);
    th_write_gz(path, "{\"Records\":[]}", 14);
    wr_trail_files_free(files, nf);
    assert_int_equal(verify(trail, key.pub_path, &vc), 1);
    assert_int_equal(vc.logs_valid, vc.logs - 1);

    wr_audit_set_clock_for_tests(NULL);
    json_decref(back);
    json_decref(want);
    weir_policy_unref(p);
    th_key_free(&key);
    th_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_to_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
