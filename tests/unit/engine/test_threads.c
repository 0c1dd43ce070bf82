/*
 * One compiled policy, many threads: weir_check must give every thread the verdict a
 * single thread gets (per-thread PCRE2 state, immutable policy, atomic refcounts).
 * Also: a 10 MiB input is checked whole and redacted at its far end.
 */
#include <pthread.h>
#include <stdlib.h>

#include "helpers.h"

#define THREADS 8
#define ROUNDS 300

static const char *const texts[] = {
    "Nothing to see here, just a plain question about quarterly planning.",
    "Mail jane.doe@example.com or call +1 415 555 0132 before 5pm.",
    "My card is 4111 1111 1111 1111, why was it declined?",
    "Wire it to DE89 3704 0044 0532 0130 00 and cc ops@example.org.",
    "key AKIAIOSFODNN7EXAMPLE leaked in the logs",
    "born on 12/03/1985 in Lyon, ssn 078-05-1120",
};
#define NTEXTS (sizeof texts / sizeof texts[0])

typedef struct expect {
    weir_action action;
    size_t findings;
    char text[256];
} expect;

static weir_policy *shared;
static expect want[NTEXTS];

/* No cmocka assertions here: it runs in worker threads. Returns 0 or -1. */
static int verdict(const char *t, expect *e)
{
    weir_result *r = NULL;
    if (weir_check(&r, shared, NULL, t, strlen(t), NULL) != 0)
        return -1;
    e->action = weir_result_action(r);
    e->findings = weir_result_finding_count(r);
    const char *red = weir_result_text(r, NULL);
    snprintf(e->text, sizeof e->text, "%s", red ? red : "(unchanged)");
    weir_result_free(r);
    return 0;
}

static void *worker(void *arg)
{
    size_t seed = (size_t)arg;
    for (size_t i = 0; i < ROUNDS; i++) {
        size_t k = (seed + i * 7) % NTEXTS;
        weir_policy *p = weir_policy_ref(shared); /* refs taken and dropped concurrently */
        expect got;
        int rc = verdict(texts[k], &got);
        weir_policy_unref(p);
        if (rc || got.action != want[k].action || got.findings != want[k].findings ||
            strcmp(got.text, want[k].text) != 0)
            return (void *)texts[k];
    }
    return NULL;
}

static void test_concurrent_checks_agree(void **state)
{
    (void)state;
    weir_error err;
    assert_int_equal(weir_policy_load_default(&shared, &err), 0);
    for (size_t k = 0; k < NTEXTS; k++)
        assert_int_equal(verdict(texts[k], &want[k]), 0);
    assert_int_equal(want[0].action, WEIR_ALLOW);
    assert_int_equal(want[1].action, WEIR_REDACT);
    assert_int_equal(want[2].action, WEIR_BLOCK);

    pthread_t th[THREADS];
    for (size_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)t), 0);
    for (size_t t = 0; t < THREADS; t++) {
        void *bad = NULL;
        pthread_join(th[t], &bad);
        if (bad)
            fail_msg("thread %zu got a different verdict for: %s", t, (const char *)bad);
    }
    weir_policy_unref(shared);
}

static void test_ten_megabytes(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    assert_int_equal(weir_policy_load_default(&p, NULL), 0);
    size_t n = 10 * 1000 * 1000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "lorem ipsum dolor sit amet, 2024 "[i % 33];
    const char *tail = " write to a@example.com";
    memcpy(big + n, tail, strlen(tail));
    size_t len = n + strlen(tail);
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, NULL, big, len, NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    size_t rlen = 0;
    const char *red = weir_result_text(r, &rlen);
    assert_non_null(red);
    assert_int_equal(rlen, n + strlen(" write to [EMAIL]"));
    assert_memory_equal(red + n, " write to [EMAIL]", strlen(" write to [EMAIL]"));
    weir_result_free(r);
    weir_policy_unref(p);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_checks_agree),
        cmocka_unit_test(test_ten_megabytes),
    };
    return cmocka_run_group_tests_name("engine/threads", tests, NULL, NULL);
}
