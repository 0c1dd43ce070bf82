/*
 * The plugin loader refuses every broken plugin before running any of its functions, each
 * with its own message naming the file (and, for the ABI, both versions); a policy naming
 * such a plugin is refused at the line of its `plugin:` key.
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

#include "plugin/loader.h"
#include "plugin_helpers.h"

static void expect_refused(const char *variant, weir_plugin_kind kind, int code,
                           const char *const *parts)
{
    char path[512];
    tp_path(path, sizeof path, variant);
    wr_plugin *pl = (wr_plugin *)1;
    weir_error err = {0};
    int rc = wr_plugin_open(&pl, path, NULL, kind, &err);
    assert_int_equal(rc, code);
    assert_null(pl);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.text, path) ? err.text : NULL); /* names the file */
    for (size_t i = 0; parts[i]; i++) {
        if (!strstr(err.text, parts[i]))
            fail_msg("'%s' not in: %s", parts[i], err.text);
    }
}

static void test_good_plugin_loads(void **state)
{
    (void)state;
    char path[512];
    wr_plugin *pl = NULL;
    weir_error err = {0};
    assert_int_equal(wr_plugin_open(&pl, tp_path(path, sizeof path, "falcon"), NULL,
                                    WEIR_PLUGIN_DETECTOR, &err),
                     0);
    assert_string_equal(wr_plugin_desc(pl)->name, "falcon");
    assert_string_equal(wr_plugin_file(pl), path);
    wr_plugin_close(pl);
}

static void test_wrong_abi_major(void **state)
{
    (void)state;
    const char *parts[] = {"built for weir plugin ABI 2", "this weir speaks ABI 1",
                           "rebuild it", NULL};
    expect_refused("abi2", WEIR_PLUGIN_DETECTOR, WEIR_EINVAL, parts);
}

static void test_too_small_struct(void **state)
{
    (void)state;
    char need[64];
    snprintf(need, sizeof need, "needs at least %zu", (size_t)WEIR_PLUGIN_MIN_SIZE);
    const char *parts[] = {"descriptor is 16 bytes", need, NULL};
    expect_refused("small", WEIR_PLUGIN_DETECTOR, WEIR_EINVAL, parts);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    const char *parts[] = {"does not export weir_plugin_entry()", "WEIR_PLUGIN_DEFINE", NULL};
    expect_refused("noentry", WEIR_PLUGIN_DETECTOR, WEIR_EINVAL, parts);
}

static void test_null_required_function(void **state)
{
    (void)state;
    const char *parts[] = {"detector_scan is NULL", "ABI 1 requires it", NULL};
    expect_refused("nullscan", WEIR_PLUGIN_DETECTOR, WEIR_EINVAL, parts);
}

static void test_wrong_kind(void **state)
{
    (void)state;
    const char *parts[] = {"it is an audit sink plugin, a detector is needed here", NULL};
    expect_refused("sink", WEIR_PLUGIN_DETECTOR, WEIR_EINVAL, parts);
    const char *parts2[] = {"it is a detector plugin, an audit sink is needed here", NULL};
    expect_refused("falcon", WEIR_PLUGIN_AUDIT_SINK, WEIR_EINVAL, parts2);
}

static void test_create_fails(void **state)
{
    (void)state;
    char path[512];
    wr_pdet *d = (wr_pdet *)1;
    weir_error err = {0};
    int rc = wr_pdet_new(&d, tp_path(path, sizeof path, "createfails"), NULL, "{}",
                         0, &err);
    assert_int_equal(rc, WEIR_EINVAL);
    assert_null(d);
    assert_non_null(strstr(err.text, "detector plugin 'falcon'"));
    assert_non_null(strstr(err.text, path));
    assert_non_null(strstr(err.text, "refused to start: terms file 'missing.txt' cannot be read"));
}

static void test_missing_and_bad_files(void **state)
{
    (void)state;
    wr_plugin *pl = NULL;
    weir_error err = {0};
    assert_int_equal(wr_plugin_open(&pl, "/nonexistent/weir-x.so", NULL, WEIR_PLUGIN_DETECTOR,
                                    &err),
                     WEIR_ENOTFOUND);
    assert_non_null(strstr(err.text, "/nonexistent/weir-x.so"));

    /* a bare name is looked up in WEIR_PLUGIN_PATH, then weir's plugin directory */
    char dir[512];
    setenv("WEIR_PLUGIN_PATH", "/nonexistent", 1);
    assert_int_equal(wr_plugin_open(&pl, "nosuch", NULL, WEIR_PLUGIN_DETECTOR, &err),
                     WEIR_ENOTFOUND);
    assert_non_null(strstr(err.text, "no weir-nosuch.so in /nonexistent"));
    assert_non_null(strstr(err.text, "WEIR_PLUGIN_PATH"));
    setenv("WEIR_PLUGIN_PATH", tp_dir(dir, sizeof dir), 1);
    assert_int_equal(wr_plugin_open(&pl, "falcon", NULL, WEIR_PLUGIN_DETECTOR, &err), 0);
    wr_plugin_close(pl);
    unsetenv("WEIR_PLUGIN_PATH");

    /* a relative name without '/' is the file in the working directory that was checked,
     * not whatever the dynamic loader's search path holds under that name */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(wr_plugin_open(&pl, "weir-falcon.so", NULL, WEIR_PLUGIN_DETECTOR, &err), 0);
    wr_plugin_close(pl);
    assert_int_equal(chdir(cwd), 0);

    /* not a shared object */
    char tmp[] = "/tmp/weir-plugin-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not elf\n", 8), 8);
    close(fd);
    chmod(tmp, 0644);
    assert_int_equal(wr_plugin_open(&pl, tmp, NULL, WEIR_PLUGIN_DETECTOR, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "cannot load plugin"));

    /* writable by others: someone else could swap the code */
    char src[512], buf[65536];
    FILE *in = fopen(tp_path(src, sizeof src, "falcon"), "rb");
    FILE *out = fopen(tmp, "wb");
    assert_non_null(in);
    assert_non_null(out);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    chmod(tmp, 0666);
    assert_int_equal(wr_plugin_open(&pl, tmp, NULL, WEIR_PLUGIN_DETECTOR, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "writable by every user"));
    chmod(tmp, 0664);
    assert_int_equal(wr_plugin_open(&pl, tmp, NULL, WEIR_PLUGIN_DETECTOR, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "writable by its group"));
    chmod(tmp, 0644);
    assert_int_equal(wr_plugin_open(&pl, tmp, NULL, WEIR_PLUGIN_DETECTOR, &err), 0);
    wr_plugin_close(pl);
    unlink(tmp);
}

/* A policy naming a broken plugin is refused at its `plugin:` line, with the loader's
 * message; a relative path resolves against the policy file's directory. */
static void test_policy_refuses_broken_plugins(void **state)
{
    (void)state;
    const char *variants[] = {"abi2", "small", "noentry", "nullscan", "createfails"};
    const char *expect[] = {"ABI 2", "descriptor is 16 bytes", "does not export",
                            "detector_scan is NULL", "refused to start"};
    for (size_t i = 0; i < 5; i++) {
        char path[512], yaml[1024];
        tp_path(path, sizeof path, variants[i]);
        snprintf(yaml, sizeof yaml,
                 "weir: 1\nname: t\ndetectors:\n  projects:\n    plugin: %s\nrules:\n"
                 "  - id: p\n    detect: projects\n    action: redact\n",
                 path);
        weir_policy *p = NULL;
        weir_error err = {0};
        assert_int_equal(weir_policy_load_buffer(&p, yaml, strlen(yaml), "t.yaml", &err),
                         WEIR_EPOLICY);
        assert_null(p);
        assert_int_equal(err.line, 5);
        assert_int_equal(err.column, 13);
        if (!strstr(err.text, expect[i]) || !strstr(err.text, "detector 'projects'"))
            fail_msg("%s: %s", variants[i], err.text);
    }

    /* relative to the policy file */
    char dir[512], pol[600];
    tp_dir(dir, sizeof dir);
    snprintf(pol, sizeof pol, "%s/relative.yaml", dir);
    FILE *f = fopen(pol, "w");
    assert_non_null(f);
    fputs("weir: 1\nname: t\nrules:\n  - id: p\n    detect: projects\n    action: block\n"
          "detectors:\n  projects:\n    plugin: ./weir-falcon.so\n    label: CODENAME\n",
          f);
    fclose(f);
    weir_policy *p = NULL;
    weir_error err = {0};
    int rc = weir_policy_load_file(&p, pol, &err);
    if (rc)
        fail_msg("%s", err.text);
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, NULL, "x FALCON y", 10, &err), 0);
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    assert_string_equal(weir_result_finding(r, 0)->entity, "PROJECT_NAME");
    assert_string_equal(weir_result_finding(r, 0)->detector, "projects");
    weir_result_free(r);
    weir_policy_unref(p);
    unlink(pol);
}

/* tmpl with "@P@" replaced by path */
static void subst(char *out, size_t size, const char *tmpl, const char *path)
{
    const char *at = strstr(tmpl, "@P@");
    if (!at)
        snprintf(out, size, "%s", tmpl);
    else
        snprintf(out, size, "%.*s%s%s", (int)(at - tmpl), tmpl, path, at + 3);
}

static void test_policy_detector_errors(void **state)
{
    (void)state;
    char path[512];
    tp_path(path, sizeof path, "falcon");
    struct {
        const char *yaml;
        int line, col;
        const char *msg;
    } cases[] = {
        {"weir: 1\nname: t\ndetectors:\n  email:\n    plugin: @P@\n", 4, 3,
         "detector name 'email' is a builtin detector's"},
        {"weir: 1\nname: t\ndetectors:\n  x:\n    config: {}\n", 5, 5,
         "detector 'x' is missing required key 'plugin'"},
        {"weir: 1\nname: t\ndetectors:\n  x:\n    plugin: @P@\n    pluginn: 1\n", 6, 5,
         "pluginn"},
        {"weir: 1\nname: t\ndetectors:\n  x:\n    plugin: @P@\n    config: [1]\n", 6, 13,
         "'config' of detector 'x' takes a mapping"},
        {"weir: 1\nname: t\ndetectors: [a]\n", 3, 12, "expected a mapping of detector names"},
        {"weir: 1\nname: t\ndetectors:\n  x: @P@\n", 4, 6, "takes a mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        subst(yaml, sizeof yaml, cases[i].yaml, path);
        weir_policy *p = NULL;
        weir_error err = {0};
        int rc = weir_policy_load_buffer(&p, yaml, strlen(yaml), "t.yaml", &err);
        if (rc != WEIR_EPOLICY || err.line != cases[i].line || err.column != cases[i].col ||
            !strstr(err.text, cases[i].msg))
            fail_msg("case %zu: rc %d at %d:%d: @P@", i, rc, err.line, err.column, err.text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plugin_loads),
        cmocka_unit_test(test_wrong_abi_major),
        cmocka_unit_test(test_too_small_struct),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_null_required_function),
        cmocka_unit_test(test_wrong_kind),
        cmocka_unit_test(test_create_fails),
        cmocka_unit_test(test_missing_and_bad_files),
        cmocka_unit_test(test_policy_refuses_broken_plugins),
        cmocka_unit_test(test_policy_detector_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
