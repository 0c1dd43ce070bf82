/*
 * bench/audit: records per second through weir_audit_record, SYNC and BATCH (batch_ms 5),
 * with 1 and 4 writer threads, on a real file system (a directory under /tmp by default).
 * Each record carries a checked result with findings and value hashes.
 *
 * Usage: bench_audit [seconds-per-case [directory]]   (default 1.0, /tmp)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tests/audit/trail_read.h"
#include "weir/audit.h"

static const char *POLICY = "weir: 1\nname: bench\nrules:\n"
                            "  - id: emails\n    detect: email\n    action: redact\n";
static const char *TEXT = "Please write to jane.doe@example.com and bob@example.org today.";

static weir_policy *policy;
static weir_result *result;
static atomic_int stop;
static atomic_long total;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
    weir_audit *a = arg;
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = "InvokeModel";
    ev.principal = "arn:aws:sts::111122223333:assumed-role/app-role/alice";
    ev.model = "eu.anthropic.claude-3-haiku-20240307-v1:0";
    ev.provider = WEIR_PROVIDER_BEDROCK;
    ev.source_ip = "198.51.100.7";
    long n = 0;
    while (!atomic_load(&stop)) {
        if (weir_audit_record(a, &ev, result, TEXT, strlen(TEXT), NULL) != 0) {
            fprintf(stderr, "record failed\n");
            exit(1);
        }
        n++;
    }
    atomic_fetch_add(&total, n);
    return NULL;
}

static double run(const char *root, weir_audit_durability d, int threads, double secs)
{
    char tag[64];
    snprintf(tag, sizeof tag, "%s/weir-bench-audit-XXXXXX", root);
    char *dir = mkdtemp(tag);
    if (!dir) {
        perror(root);
        exit(1);
    }
    static const unsigned char key[16] = "bench-hash-key!!";
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = dir;
    o.durability = d;
    o.batch_ms = 5;
    o.hash_key = key;
    o.hash_key_len = sizeof key;
    weir_audit *a = NULL;
    weir_error err = {0};
    if (weir_audit_open(&a, &o, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.text);
        exit(1);
    }
    atomic_store(&stop, 0);
    atomic_store(&total, 0);
    pthread_t t[8];
    double t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, writer, a);
    struct timespec s = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&s, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double el = now() - t0;
    weir_audit_close(a);
    tr_rmrf(dir);
    return (double)atomic_load(&total) / el;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    const char *root = argc > 2 ? argv[2] : "/tmp";
    weir_error err = {0};
    if (weir_policy_load_buffer(&policy, POLICY, strlen(POLICY), "bench", &err) != 0 ||
        weir_check(&result, policy, NULL, TEXT, strlen(TEXT), &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.text);
        return 1;
    }
    printf("audit records/second under %s, %.1f s per case\n", root, secs);
    printf("%-8s %8s %14s\n", "mode", "threads", "records/s");
    for (int m = 0; m < 2; m++)
        for (int th = 1; th <= 4; th += 3)
            printf("%-8s %8d %14.0f\n", m ? "batch" : "sync", th,
                   run(root, m ? WEIR_AUDIT_BATCH : WEIR_AUDIT_SYNC, th, secs));
    weir_result_free(result);
    weir_policy_unref(policy);
    return 0;
}
