/* The audit trail writer's rolls off the record path: concurrent writers across many rolls,
 * and recovery of journals a crash left mid-roll (delivered once, never twice). */
#include <pthread.h>
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

#include "../../audit/trail_read.h"
#include "audit/writer.h"
#include "weir/audit.h"

#define THREADS 4
#define PER_THREAD 300

typedef struct {
    weir_audit *a;
    int id, failed;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char req[64];
        snprintf(req, sizeof req, "w%d-%d", w->id, i);
        weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
        ev.event_name = "InvokeModel";
        ev.model = "anthropic.claude-3-haiku";
        ev.request_id = req;
        if (weir_audit_record(w->a, &ev, NULL, NULL, 0, NULL) != 0)
            w->failed++;
    }
    return NULL;
}

static size_t count_rolled(const char *dir)
{
    tr_list l = tr_files(dir, "journal", ".jsonl");
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += strstr(l.v[i], "/roll-") != NULL;
    tr_list_free(&l);
    return n;
}

/* Many small rolls under concurrent writers (rolls cut while others append, backpressure
 * when the roller lags): every record lands in exactly one log file of at most roll_bytes. */
static void test_concurrent_rolls(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        char *dir = tr_tmpdir("aw-roll");
        weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
        o.dir = dir;
        o.durability = mode ? WEIR_AUDIT_BATCH : WEIR_AUDIT_SYNC;
        o.batch_ms = 5;
        o.roll_bytes = 8192;
        weir_audit *a = NULL;
        assert_int_equal(weir_audit_open(&a, &o, NULL), 0);
        pthread_t th[THREADS];
        worker w[THREADS];
        for (int i = 0; i < THREADS; i++) {
            w[i] = (worker){a, i, 0};
            assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(w[i].failed, 0);
        }
        assert_int_equal(weir_audit_healthy(a), 1);
        weir_audit_close(a);

        tr_list l = tr_files(dir, "AWSLogs", ".json.gz");
        assert_true(l.n >= 20);
        for (size_t i = 0; i < l.n; i++) {
            size_t n = 0;
            char *t = tr_gunzip(l.v[i], &n);
            assert_non_null(t);
            assert_true(n <= 8192 + 13);
            free(t);
        }
        tr_list_free(&l);
        json_t *recs = tr_records(dir);
        assert_int_equal(json_array_size(recs), THREADS * PER_THREAD);
        static char seen[THREADS][PER_THREAD];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < json_array_size(recs); i++) {
            int t = -1, k = -1;
            const char *req =
                json_string_value(json_object_get(json_array_get(recs, i), "requestID"));
            assert_int_equal(sscanf(req, "w%d-%d", &t, &k), 2);
            assert_true(t >= 0 && t < THREADS && k >= 0 && k < PER_THREAD && !seen[t][k]);
            seen[t][k] = 1;
        }
        json_decref(recs);
        assert_int_equal(count_rolled(dir), 0);
        tr_rmrf(dir);
        free(dir);
    }
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define REC(id, t) "{\"eventVersion\":\"1.11\",\"eventTime\":\"" t "\",\"eventID\":\"" id "\"}\n"

/* A crash mid-roll leaves journal/roll-*.jsonl: delivered at the next open under the name
 * it was given; when that log file already exists (the crash came after its rename) it is
 * not delivered again. */
static void test_recover_rolled_journals(void **state)
{
    (void)state;
    char *dir = tr_tmpdir("aw-rollrec");
    char path[1024], jdir[520];
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    assert_int_equal(mkdir(dir, 0750) == 0 || access(dir, F_OK) == 0, 1);
    assert_int_equal(mkdir(jdir, 0750), 0);
    snprintf(path, sizeof path, "%s/roll-20260801T0905Z-AAAAAAAAAAAAAAAA.jsonl", jdir);
    put_file(path, REC("a1", "2026-08-01T09:04:00Z") REC("a2", "2026-08-01T09:04:30Z")
                       "{\"eventID\":\"torn");
    /* delivered before the crash: its log file is in place */
    snprintf(path, sizeof path, "%s/roll-20260801T0906Z-BBBBBBBBBBBBBBBB.jsonl", jdir);
    put_file(path, REC("b1", "2026-08-01T09:05:00Z"));
    char logdir[600];
    snprintf(logdir, sizeof logdir, "%s/AWSLogs/000000000000/CloudTrail/us-east-1/2026/08/01",
             dir);
    assert_int_equal(wr_audit_mkdirs(dir, "AWSLogs/000000000000/CloudTrail/us-east-1/2026/08/01"),
                     0);
    const char *env = "{\"Records\":[{\"eventVersion\":\"1.11\",\"eventTime\":"
                      "\"2026-08-01T09:05:00Z\",\"eventID\":\"b1\"}]}";
    assert_int_equal(wr_audit_write_gz(logdir,
                                       "000000000000_CloudTrail_us-east-1_20260801T0906Z_"
                                       "BBBBBBBBBBBBBBBB.json.gz",
                                       env, strlen(env), NULL),
                     0);
    snprintf(path, sizeof path, "%s/journal.jsonl", jdir);
    put_file(path, REC("j1", "2026-08-01T09:06:00Z"));
    /* not ours: left alone */
    snprintf(path, sizeof path, "%s/roll-notes.jsonl", jdir);
    put_file(path, REC("x1", "2026-08-01T09:06:00Z"));

    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = dir;
    weir_audit *a = NULL;
    assert_int_equal(weir_audit_open(&a, &o, NULL), 0);
    assert_int_equal(count_rolled(dir), 1); /* roll-notes.jsonl */
    snprintf(path, sizeof path, "%s/000000000000_CloudTrail_us-east-1_20260801T0905Z_"
                                "AAAAAAAAAAAAAAAA.json.gz", logdir);
    assert_int_equal(access(path, F_OK), 0);
    weir_audit_close(a);

    json_t *recs = tr_records(dir);
    const char *want[] = {"a1", "a2", "b1", "j1"};
    assert_int_equal(json_array_size(recs), 4);
    for (size_t w = 0; w < 4; w++) {
        int n = 0;
        for (size_t i = 0; i < json_array_size(recs); i++)
            n += strcmp(json_string_value(json_object_get(json_array_get(recs, i), "eventID")),
                        want[w]) == 0;
        assert_int_equal(n, 1);
    }
    json_decref(recs);
    tr_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_rolls),
        cmocka_unit_test(test_recover_rolled_journals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
