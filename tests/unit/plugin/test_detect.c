/*
 * A detector plugin's findings are handled exactly like a builtin's: the same redacted
 * text, findings and spans as a custom regex finding the same thing, in one check and in a
 * stream split at every point; a plugin that fails is an error finding handled per
 * on_error (block by default), never a silent pass. The builtin detectors answer through
 * the same interface with the same spans as the batched scanner.
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

#include "plugin/loader.h"
#include "plugin_helpers.h"
#include "scan/scan.h"

static weir_policy *load(const char *yaml)
{
    weir_policy *p = NULL;
    weir_error err = {0};
    if (weir_policy_load_buffer(&p, yaml, strlen(yaml), "t.yaml", &err) != 0)
        fail_msg("policy: %d:%d: %s", err.line, err.column, err.text);
    return p;
}

/* email's own hold-back would hide a plugin's: streams are tested without it */
#define MAIL_RULE "  - id: mail\n    detect: email\n    action: redact\n"

/* the same rules, once with the plugin and once with a regex finding the same word */
static weir_policy *plugin_policy(const char *variant, const char *action, const char *extra)
{
    char path[512], yaml[2048];
    tp_path(path, sizeof path, variant);
    snprintf(yaml, sizeof yaml,
             "weir: 1\nname: t\n%s"
             "detectors:\n  projects:\n    plugin: %s\n    label: PROJECT\n"
             "    entity: PROJECT_NAME\n"
             "rules:\n  - id: proj\n    detect: projects\n    action: %s\n%s",
             extra, path, action, strstr(extra, "nomail") ? "" : MAIL_RULE);
    return load(yaml);
}

static weir_policy *regex_policy(const char *action, int mail)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "weir: 1\nname: t\n"
             "rules:\n  - id: proj\n    detect: { regex: 'FALCON', label: PROJECT, "
             "entity: PROJECT_NAME }\n    action: %s\n%s",
             action, mail ? MAIL_RULE : "");
    return load(yaml);
}

static const char *const texts[] = {
    "nothing here",
    "FALCON",
    "Project FALCON ships Friday; mail bob@example.com about FALCON.",
    "FALCONFALCON and FALC ON",
    "\xef\xbc\xa6\xef\xbc\xa1\xef\xbc\xac\xef\xbc\xa3\xef\xbc\xaf\xef\xbc\xae is full-width", /* ＦＡＬＣＯＮ */
    "F\xe2\x80\x8b" "ALCON has a zero-width space",
    "caf\xc3\xa9 FALCON\xcc\x81 combining",
    "ends with FALC",
};

static void same_result(const weir_result *a, const weir_result *b, const char *text)
{
    assert_int_equal(weir_result_action(a), weir_result_action(b));
    size_t la = 0, lb = 0;
    const char *ta = weir_result_text(a, &la), *tb = weir_result_text(b, &lb);
    if ((ta == NULL) != (tb == NULL) || (ta && (la != lb || memcmp(ta, tb, la))))
        fail_msg("%s: texts differ: '%s' vs '%s'", text, ta ? ta : "(none)", tb ? tb : "(none)");
    assert_int_equal(weir_result_finding_count(a), weir_result_finding_count(b));
    for (size_t i = 0; i < weir_result_finding_count(a); i++) {
        const weir_finding *fa = weir_result_finding(a, i), *fb = weir_result_finding(b, i);
        assert_int_equal(fa->kind, fb->kind);
        assert_string_equal(fa->rule, fb->rule);
        assert_string_equal(fa->entity, fb->entity);
        assert_int_equal(fa->action, fb->action);
        assert_int_equal(fa->start, fb->start);
        assert_int_equal(fa->end, fb->end);
    }
}

static void test_redacts_like_a_regex(void **state)
{
    (void)state;
    const char *variants[] = {"falcon", "falcon-notail", "falcon-scratch"};
    for (size_t v = 0; v < 3; v++) {
        weir_policy *pp = plugin_policy(variants[v], "redact", ""), *rp = regex_policy("redact", 1);
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            weir_result *a = NULL, *b = NULL;
            weir_error err = {0};
            assert_int_equal(weir_check(&a, pp, NULL, texts[i], strlen(texts[i]), &err), 0);
            assert_int_equal(weir_check(&b, rp, NULL, texts[i], strlen(texts[i]), &err), 0);
            same_result(a, b, texts[i]);
            weir_result_free(a);
            weir_result_free(b);
        }
        /* and the redaction is what a reader expects */
        const char *t = texts[2];
        weir_result *r = NULL;
        assert_int_equal(weir_check(&r, pp, NULL, t, strlen(t), NULL), 0);
        assert_string_equal(weir_result_text(r, NULL),
                            "Project [PROJECT] ships Friday; mail [EMAIL] about [PROJECT].");
        assert_string_equal(weir_result_finding(r, 0)->detector, "projects");
        weir_result_free(r);
        weir_policy_unref(pp);
        weir_policy_unref(rp);
    }
}

/* streamed: the released text is the same at every split point, and the same as the
 * regex policy's stream (the plugin's detector_tail holds back "FALC" at the end) */
static char *stream_all(weir_policy *p, const char *t, size_t split, weir_action *act)
{
    weir_stream *s = NULL;
    weir_error err = {0};
    assert_int_equal(weir_stream_new(&s, p, NULL, 0, &err), 0);
    size_t cap = strlen(t) * 4 + 64, n = 0;
    char *out = calloc(1, cap);
    const char *o;
    size_t ol;
    assert_int_equal(weir_stream_feed(s, t, split, &o, &ol, &err), 0);
    memcpy(out + n, o, ol);
    n += ol;
    assert_int_equal(weir_stream_feed(s, t + split, strlen(t) - split, &o, &ol, &err), 0);
    memcpy(out + n, o, ol);
    n += ol;
    assert_int_equal(weir_stream_finish(s, &o, &ol, &err), 0);
    memcpy(out + n, o, ol);
    n += ol;
    out[n] = '\0';
    *act = weir_stream_action(s);
    weir_stream_free(s);
    return out;
}

static void test_streams_like_a_regex(void **state)
{
    (void)state;
    const char *variants[] = {"falcon", "falcon-notail"};
    weir_policy *rp = regex_policy("redact", 0);
    for (size_t v = 0; v < 2; v++) {
        weir_policy *pp = plugin_policy(variants[v], "redact", "# nomail\n");
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            const char *t = texts[i];
            weir_action a0;
            char *whole = stream_all(rp, t, 0, &a0);
            for (size_t k = 0; k <= strlen(t); k++) {
                weir_action a1, a2;
                char *x = stream_all(pp, t, k, &a1), *y = stream_all(rp, t, k, &a2);
                if (strcmp(x, whole) || strcmp(y, whole) || a1 != a2)
                    fail_msg("%s split %zu: plugin '%s' regex '%s' whole '%s'", variants[v], k,
                             x, y, whole);
                free(x);
                free(y);
            }
            free(whole);
        }
        weir_policy_unref(pp);
    }
    weir_policy_unref(rp);
}

static void test_failing_plugin_blocks(void **state)
{
    (void)state;
    weir_policy *p = plugin_policy("failon", "log", "");
    const char *t = "this will EXPLODE";
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, NULL, t, strlen(t), NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    const weir_finding *f = weir_result_decisive(r);
    assert_non_null(f);
    assert_int_equal(f->kind, WEIR_FINDING_ERROR);
    assert_string_equal(f->rule, "proj");
    assert_non_null(strstr(f->message, "detector plugin failed"));
    weir_result_free(r);
    weir_policy_unref(p);

    /* on_error: log lets it through, recorded */
    p = plugin_policy("failon", "log", "on_error: log\n");
    assert_int_equal(weir_check(&r, p, NULL, t, strlen(t), NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_LOG);
    assert_int_equal(weir_result_finding(r, 0)->kind, WEIR_FINDING_ERROR);
    weir_result_free(r);

    /* the failing plugin does not switch off the rules after it: the email is redacted */
    const char *t2 = "EXPLODE: mail bob@example.com";
    assert_int_equal(weir_check(&r, p, NULL, t2, strlen(t2), NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    assert_string_equal(weir_result_text(r, NULL), "EXPLODE: mail [EMAIL]");
    assert_int_equal(weir_result_finding_count(r), 2);
    weir_result_free(r);
    weir_policy_unref(p);
    p = plugin_policy("failon", "log", "");
    assert_int_equal(weir_check(&r, p, NULL, t2, strlen(t2), NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_BLOCK); /* on_error: block still wins */
    weir_result_free(r);
    weir_policy_unref(p);

    /* a span outside the text is the plugin's bug: refused the same way */
    p = plugin_policy("badspan", "redact", "");
    assert_int_equal(weir_check(&r, p, NULL, "abc", 3, NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    assert_int_equal(weir_result_decisive(r)->kind, WEIR_FINDING_ERROR);
    weir_result_free(r);
    weir_policy_unref(p);
}

typedef struct thr {
    weir_policy *p;
    int ok;
} thr;

static void *scan_thread(void *arg)
{
    thr *t = arg;
    t->ok = 1;
    for (int i = 0; i < 2000 && t->ok; i++) {
        weir_result *r = NULL;
        const char *s = texts[2];
        if (weir_check(&r, t->p, NULL, s, strlen(s), NULL) != 0 ||
            weir_result_finding_count(r) != 3 || weir_result_action(r) != WEIR_REDACT)
            t->ok = 0;
        weir_result_free(r);
    }
    return NULL;
}

static void test_threads_share_one_instance(void **state)
{
    (void)state;
    weir_policy *p = plugin_policy("falcon-scratch", "redact", "");
    pthread_t th[4];
    thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i].p = p;
        assert_int_equal(pthread_create(&th[i], NULL, scan_thread, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(t[i].ok);
    }
    weir_policy_unref(p);
}

typedef struct spans {
    size_t v[4096][2];
    size_t n;
} spans;

static int collect(void *ctx, size_t s, size_t e)
{
    spans *sp = ctx;
    if (sp->n >= 4096)
        return 1;
    sp->v[sp->n][0] = s;
    sp->v[sp->n][1] = e;
    sp->n++;
    return 0;
}

static int span_cmp(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* every builtin through the plugin interface finds what the batched scanner finds */
static void test_builtins_through_the_interface(void **state)
{
    (void)state;
    const char *src = getenv("WEIR_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/corpus/detect.txt", src ? src : ".");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    assert_true(len > 1000);
    const weir_plugin *bp = &wr_builtin_plugin;
    assert_int_equal(bp->abi_major, WEIR_PLUGIN_ABI_MAJOR);
    assert_true(bp->struct_size >= WEIR_PLUGIN_MIN_SIZE);
    size_t total = 0;
    static spans a, b;
    for (size_t i = 0; i < wr_builtin_detector_count; i++) {
        const wr_detector_def *def = &wr_builtin_detectors[i];
        char cfg[128], msg[200] = "";
        snprintf(cfg, sizeof cfg, "{\"detector\":\"%s\"}", def->name);
        void *inst = NULL;
        weir_detector_info info = {sizeof info, NULL, NULL, 0};
        assert_int_equal(bp->detector_create(NULL, cfg, strlen(cfg), &inst, &info, msg,
                                             sizeof msg),
                         0);
        assert_string_equal(info.entity, def->entity);
        a.n = b.n = 0;
        assert_int_equal(bp->detector_scan(inst, NULL, text, len, collect, &a), 0);
        wr_match *m = NULL;
        long n = wr_detect_builtin(def->name, text, len, &m);
        assert_true(n >= 0);
        for (long k = 0; k < n; k++)
            collect(&b, m[k].start, m[k].end);
        free(m);
        qsort(a.v, a.n, sizeof a.v[0], span_cmp);
        qsort(b.v, b.n, sizeof b.v[0], span_cmp);
        if (a.n != b.n || memcmp(a.v, b.v, a.n * sizeof a.v[0]))
            fail_msg("%s: %zu spans through the interface, %zu batched", def->name, a.n, b.n);
        total += a.n;
        bp->detector_destroy(inst);
    }
    assert_true(total > 100); /* the corpus exercises them */
    char msg[200] = "";
    void *inst = NULL;
    weir_detector_info info = {sizeof info, NULL, NULL, 0};
    assert_int_not_equal(bp->detector_create(NULL, "{\"detector\":\"emial\"}", 20, &inst, &info,
                                             msg, sizeof msg),
                         0);
    assert_non_null(strstr(msg, "unknown: emial"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redacts_like_a_regex),
        cmocka_unit_test(test_streams_like_a_regex),
        cmocka_unit_test(test_failing_plugin_blocks),
        cmocka_unit_test(test_threads_share_one_instance),
        cmocka_unit_test(test_builtins_through_the_interface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
