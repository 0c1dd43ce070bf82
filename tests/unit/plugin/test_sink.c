/*
 * Audit sink plugins: a trail offers every delivered log file and digest (with its
 * signature, as the .sig file holds it) and every record to its sinks; the sink gets the
 * host's log and metrics; a broken sink is refused with its own message.
 */
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
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "weir/audit.h"
#include "plugin_helpers.h"

static char logged[512];
static uint64_t starts;

static void svc_log(void *ctx, weir_plugin_log_level level, const char *msg)
{
    assert_ptr_equal(ctx, &starts);
    snprintf(logged, sizeof logged, "%d %s", (int)level, msg);
}

static void svc_counter(void *ctx, const char *name, uint64_t delta)
{
    assert_ptr_equal(ctx, &starts);
    if (!strcmp(name, "starts"))
        starts += delta;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static void test_sink_gets_logs_digests_records(void **state)
{
    (void)state;
    char dir[] = "/tmp/weir-sink-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char key[600], out[600], trail[600];
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(out, sizeof out, "%s/sink.txt", dir);
    snprintf(trail, sizeof trail, "%s/trail", dir);
    EVP_PKEY *k = EVP_RSA_gen(2048);
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(k);

    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = trail;
    o.signing_key_file = key;
    weir_audit *a = NULL;
    weir_error err = {0};
    assert_int_equal(weir_audit_open(&a, &o, &err), 0);

    weir_plugin_host svc;
    memset(&svc, 0, sizeof svc);
    svc.struct_size = sizeof svc;
    svc.ctx = &starts;
    svc.log = svc_log;
    svc.counter_add = svc_counter;
    char cfg[700], path[512];
    snprintf(cfg, sizeof cfg, "{\"out\":\"%s\"}", out);
    int rc = weir_audit_add_sink(a, tp_path(path, sizeof path, "sink"), cfg, NULL, &svc, &err);
    if (rc)
        fail_msg("%s", err.text);
    assert_int_equal(starts, 1);
    assert_string_equal(logged, "2 test sink started");

    assert_int_equal(weir_audit_record_gate(a, "GateStart", "test", NULL, &err), 0);
    assert_int_equal(weir_audit_record_gate(a, "GateStop", "test", NULL, &err), 0);
    assert_int_equal(weir_audit_flush(a, &err), 0);
    assert_int_equal(weir_audit_flush_sinks(a, 1000, &err), 0);
    weir_audit_close(a);

    char *got = slurp(out);
    assert_non_null(got);
    /* two records, each offered as compact JSON without its newline */
    int records = 0;
    for (const char *p = got; (p = strstr(p, "record ")); p++) {
        records++;
        const char *end = strchr(p, '\n');
        assert_int_equal(end[-1], '}');
    }
    assert_int_equal(records, 2);
    /* one log file, under the trail's key layout, on disk */
    const char *lg = strstr(got, "log AWSLogs/000000000000/CloudTrail/us-east-1/");
    assert_non_null(lg);
    char lkey[400];
    assert_int_equal(sscanf(lg, "log %399s", lkey), 1);
    char lpath[1100];
    snprintf(lpath, sizeof lpath, "%s/%s", trail, lkey);
    struct stat st;
    assert_int_equal(stat(lpath, &st), 0);
    /* and a digest whose signature is the .sig file's */
    const char *dg = strstr(got, "digest AWSLogs/000000000000/CloudTrail-Digest/us-east-1/");
    assert_non_null(dg);
    char dkey[400], sig[1100];
    assert_int_equal(sscanf(dg, "digest %399s %1099s", dkey, sig), 2);
    char spath[1100];
    snprintf(spath, sizeof spath, "%s/%s.sig", trail, dkey);
    char *onfile = slurp(spath);
    assert_non_null(onfile);
    onfile[strcspn(onfile, "\n")] = '\0';
    assert_string_equal(onfile, sig);
    assert_true(strlen(sig) >= 512); /* hex RSA-2048 */
    free(onfile);
    free(got);
}

static void test_broken_sinks_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/weir-sink-XXXXXX";
    assert_non_null(mkdtemp(dir));
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = dir;
    weir_audit *a = NULL;
    weir_error err = {0};
    assert_int_equal(weir_audit_open(&a, &o, &err), 0);
    char path[512];
    assert_int_equal(weir_audit_add_sink(a, tp_path(path, sizeof path, "falcon"), NULL, NULL,
                                         NULL, &err),
                     WEIR_EINVAL);
    assert_non_null(strstr(err.text, "it is a detector plugin, an audit sink is needed"));
    assert_int_equal(weir_audit_add_sink(a, path, "{}", NULL, NULL, &err), WEIR_EINVAL);
    assert_int_equal(weir_audit_add_sink(a, tp_path(path, sizeof path, "sink"), "{}", NULL,
                                         NULL, &err),
                     WEIR_EINVAL);
    assert_non_null(strstr(err.text, "audit sink plugin 'testsink'"));
    assert_non_null(strstr(err.text, "refused to start: config needs \"out\""));
    assert_int_equal(weir_audit_add_sink(a, "no-such-sink", NULL, NULL, NULL, &err),
                     WEIR_ENOTFOUND);
    assert_int_equal(weir_audit_flush_sinks(a, 10, &err), 0); /* none: nothing pending */
    weir_audit_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_gets_logs_digests_records),
        cmocka_unit_test(test_broken_sinks_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
