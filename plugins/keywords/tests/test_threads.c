/*
 * test_threads.c - four threads scan one detector instance at once and each finds exactly
 * what a single thread finds (the instance is read-only after create).
 *   kw_test_threads PATH/weir-keywords.so
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kw_test_host.h"

#define NTHREADS 4
#define ROUNDS 200

static const char *module_path;

typedef struct sum {
    size_t n;
    uint64_t hash;
} sum;

static int sum_emit(void *ctx, size_t s, size_t e)
{
    sum *x = ctx;
    x->n++;
    x->hash = x->hash * 1000003u + s * 31u + e;
    return 0;
}

typedef struct job {
    const void *inst;
    const char *text;
    size_t len;
    sum want;
    size_t bad;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int r = 0; r < ROUNDS; r++) {
        sum got = {0, 0};
        size_t cut = (size_t)r * 977 % (j->len + 1), tail = 0;
        if (kwt_plugin->detector_scan(j->inst, NULL, j->text, j->len, sum_emit, &got) != 0 ||
            got.n != j->want.n || got.hash != j->want.hash)
            j->bad++;
        if (kwt_plugin->detector_tail(j->inst, NULL, j->text, cut, 0, &tail) != 0 || tail > cut)
            j->bad++;
    }
    return NULL;
}

static void test_four_threads(void **state)
{
    (void)state;
    static const char *const words[] = {"the", "Falcon", "report", "zürich", "team", "Blue",
                                        "Heron", "straße", "new", "York", "city", "osprey",
                                        "plan", "Kestrel", "and", "ΟΔΥΣΣΕΥΣ"};
    size_t cap = 256 * 1024, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    uint32_t r = 7;
    while (len + 32 < cap) {
        r = r * 1103515245u + 12345u;
        const char *w = words[(r >> 16) % (sizeof words / sizeof *words)];
        len += (size_t)snprintf(text + len, cap - len, "%s%s", w, (r >> 8) % 5 ? " " : ".\n");
    }
    weir_plugin_host h;
    kwt_host(&h, 1, NULL);
    char err[512];
    void *inst = NULL;
    const char *json = "{\"terms\": [\"falcon\", \"blue heron\", \"Zürich\", \"STRASSE\", "
                       "\"new york\", \"new york city\", \"kestrel\", \"odysseus\", "
                       "\"οδυσσευς\"]}";
    assert_int_equal(kwt_create(&h, json, &inst, NULL, err, sizeof err), 0);

    job jobs[NTHREADS];
    sum want = {0, 0};
    assert_int_equal(kwt_plugin->detector_scan(inst, NULL, text, len, sum_emit, &want), 0);
    assert_true(want.n > 1000);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        jobs[i] = (job){inst, text, len, want, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].bad, 0);
    }
    fprintf(stderr, "%d threads x %d scans of %zu bytes: %zu findings each\n", NTHREADS, ROUNDS,
            len, want.n);
    kwt_plugin->detector_destroy(inst);
    free(text);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s weir-keywords.so\n", argv[0]);
        return 2;
    }
    module_path = argv[1];
    if (kwt_load(module_path))
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_four_threads)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    kwt_unload();
    return rc;
}
