/*
 * The YAML policy loader: valid policies load and compile as written; every invalid one is
 * refused with the position and the message a user would read.
 *
 * Data-driven cases: every .yaml file in tests/data/policies/valid must load; each one in
 * tests/data/policies/invalid starts with
 *     # expect: LINE:COL CODE text the message contains
 * and must fail exactly so.
 */
#include <dirent.h>
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

#include "policy/policy.h"
#include "weir/weir.h"

#define TEST_KEY "0123456789abcdef0123456789abcdef"

static const char *srcdir(void)
{
    const char *d = getenv("WEIR_SOURCE_DIR");
    return d && *d ? d : ".";
}

static void path_in(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", srcdir(), rel);
}

static int setup(void **state)
{
    (void)state;
    /* relative paths in policies (hash_key_file) are relative to the working directory */
    if (chdir(srcdir()) != 0)
        return -1;
    setenv("WEIR_TEST_HASH_KEY", TEST_KEY, 1);
    return 0;
}

static weir_policy *load_ok(const char *yaml)
{
    weir_policy *p = NULL;
    weir_error err = {0};
    int rc = weir_policy_load_buffer(&p, yaml, strlen(yaml), "t.yaml", &err);
    if (rc) {
        char buf[512];
        print_error("unexpected error: %s\n", weir_error_format(&err, buf, sizeof buf));
    }
    assert_int_equal(rc, 0);
    assert_non_null(p);
    return p;
}

/* Loads yaml, expects failure with code at line:col and `text` inside the message. */
static void load_fails(const char *yaml, size_t len, int code, int line, int col,
                       const char *text)
{
    weir_policy *p = (weir_policy *)1;
    weir_error err = {0};
    int rc = weir_policy_load_buffer(&p, yaml, len, "t.yaml", &err);
    char buf[512];
    weir_error_format(&err, buf, sizeof buf);
    if (rc != code || err.line != line || err.column != col || !strstr(err.text, text))
        print_error("expected %d at %d:%d containing \"%s\"\n     got %d: %s\n", code, line, col,
                    text, rc, buf);
    assert_int_equal(rc, code);
    assert_null(p);
    assert_int_equal(err.code, code);
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, col);
    assert_non_null(strstr(err.text, text));
    assert_string_equal(err.source, "t.yaml");
}

static const char *code_name(int code)
{
    switch (code) {
    case WEIR_EPOLICY:
        return "EPOLICY";
    case WEIR_ELIMIT:
        return "ELIMIT";
    case WEIR_EIO:
        return "EIO";
    case WEIR_ENOTFOUND:
        return "ENOTFOUND";
    case WEIR_ENOMEM:
        return "ENOMEM";
    default:
        return "?";
    }
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every *.yaml in dir (relative to the source tree), sorted; returns count. */
static size_t list_yaml(const char *rel, char names[][256], size_t max)
{
    char dir[512];
    path_in(dir, sizeof dir, rel);
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (!has_suffix(e->d_name, ".yaml") || has_suffix(e->d_name, ".test.yaml"))
            continue;
        snprintf(names[n++], 256, "%.100s/%.150s", rel, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

/* ----------------------------------------------------------------- valid policies */

static void load_dir_ok(const char *rel, size_t min_files)
{
    static char names[256][256];
    size_t n = list_yaml(rel, names, 256);
    assert_true(n >= min_files);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        weir_policy *p = NULL;
        weir_error err = {0};
        if (weir_policy_load_file(&p, names[i], &err) != 0) {
            char buf[512];
            print_error("%s\n", weir_error_format(&err, buf, sizeof buf));
            failed++;
            continue;
        }
        assert_non_null(weir_policy_name(p));
        assert_int_equal(strncmp(weir_policy_digest(p), "sha256:", 7), 0);
        weir_policy_unref(p);
    }
    assert_int_equal(failed, 0);
}

static void test_valid_policies_load(void **state)
{
    (void)state;
    load_dir_ok("tests/data/policies/valid", 4);
}

static void test_shipped_policies_load(void **state)
{
    (void)state;
    load_dir_ok("policies", 1);
}

static void test_default_policy(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_default(&p, &err), 0);
    assert_string_equal(weir_policy_name(p), "default");
    assert_true(weir_policy_rule_count(p) > 0);
    assert_string_equal(p->source, "default.yaml (built in)");

    /* the built-in text is policies/default.yaml byte for byte, so the digests agree */
    const char *src = weir_policy_default_source();
    assert_non_null(src);
    weir_policy *f = NULL;
    assert_int_equal(weir_policy_load_file(&f, "policies/default.yaml", &err), 0);
    assert_string_equal(weir_policy_digest(p), weir_policy_digest(f));
    weir_policy *b = NULL;
    assert_int_equal(weir_policy_load_buffer(&b, src, strlen(src), NULL, &err), 0);
    assert_string_equal(weir_policy_digest(p), weir_policy_digest(b));
    weir_policy_unref(b);
    weir_policy_unref(f);
    weir_policy_unref(p);
}

/* Every field of the compiled struct, from a policy that uses every key. */
static void test_every_key_compiles(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_file(&p, "tests/data/policies/valid/every-key.yaml", &err),
                     0);
    assert_string_equal(p->name, "every-key_v1.0");
    assert_int_equal(p->monitor, 1);
    assert_int_equal(p->on_error, WEIR_LOG);
    assert_int_equal(p->normalize, WR_NORM_NFKC);
    assert_int_equal(p->max_input, 1048576);
    assert_int_equal(p->limits.match_limit, 50000);
    assert_int_equal(p->limits.depth_limit, 500);
    assert_int_equal(p->hash_key_len, strlen(TEST_KEY));
    assert_memory_equal(p->hash_key, TEST_KEY, strlen(TEST_KEY));

    assert_int_equal(p->access.roles_allow.n, 1);
    assert_string_equal(p->access.roles_allow.v[0], "arn:aws:iam::111122223333:role/*");
    assert_int_equal(p->access.roles_deny.n, 0);
    assert_int_equal(p->access.models_allow.n, 0);
    assert_int_equal(p->access.models_deny.n, 1);
    assert_string_equal(p->access.models_deny.v[0], "meta.llama*");

    assert_int_equal(p->residency.aws_regions.n, 1);
    assert_string_equal(p->residency.aws_regions.v[0], "eu-central-1");
    assert_int_equal(p->residency.aws_profiles_set, 1);
    assert_string_equal(p->residency.aws_profiles.v[0], "eu"); /* stored lower case */
    assert_string_equal(p->residency.azure_regions.v[0], "swedencentral");
    assert_int_equal(p->residency.azure_deployment_types.n, 2);
    assert_string_equal(p->residency.azure_deployment_types.v[0], "datazone");
    assert_string_equal(p->residency.azure_deployment_types.v[1], "datazone_provisioned");

    assert_int_equal(weir_policy_rule_count(p), 6);
    const wr_rule *r = p->rules;
    assert_string_equal(r[0].id, "emails");
    assert_int_equal(r[0].on, WR_ON_COMPLETION);
    assert_int_equal(r[0].action, WEIR_REDACT);
    assert_int_equal(r[0].monitor, 1);
    assert_int_equal(r[0].redaction.style, WR_STYLE_HASH);
    assert_int_equal(r[0].line, 27);

    assert_int_equal(r[1].redaction.style, WR_STYLE_MASK);
    assert_int_equal(r[1].redaction.keep, 4);
    assert_int_equal(r[1].redaction.mask_char, '#');
    assert_string_equal(r[1].redaction.label, "CARD");
    assert_int_equal(r[1].on, WR_ON_PROMPT | WR_ON_COMPLETION);
    assert_int_equal(r[1].monitor, 0);

    assert_int_equal(r[2].redaction.style, WR_STYLE_TOKEN);
    assert_int_equal(r[2].has_only, 1);
    assert_int_equal(r[2].has_unless, 0);
    assert_int_equal(r[2].only.providers, 1u << WEIR_PROVIDER_BEDROCK);
    assert_string_equal(r[2].only.regions.v[0], "eu-*");
    assert_string_equal(r[2].only.models.v[0], "anthropic.*");

    assert_int_equal(r[3].action, WEIR_LOG);
    assert_string_equal(r[3].message, "SSNs are logged: ünïcode is fine");
    assert_int_equal(r[3].has_unless, 1);
    assert_int_equal(r[3].unless.providers,
                     (1u << WEIR_PROVIDER_BEDROCK) | (1u << WEIR_PROVIDER_AZURE));
    assert_int_equal(r[3].unless.roles.n, 1);
    assert_null(r[3].redaction.label);
    assert_int_equal(r[3].redaction.style, WR_STYLE_LABEL);

    const wr_detector *d = &p->detectors[r[4].detector];
    assert_null(d->def);
    assert_string_equal(d->name, "regex");
    assert_string_equal(d->entity, "EMPLOYEE_ID");
    assert_string_equal(d->label, "EMPLOYEE");
    assert_non_null(d->code);

    d = &p->detectors[r[5].detector];
    assert_string_equal(d->entity, "CUSTOM");
    assert_string_equal(d->label, "PROJECTS"); /* the upper-cased rule id */
    uint32_t opts = 0;
    pcre2_pattern_info(d->code, PCRE2_INFO_ALLOPTIONS, &opts);
    assert_true(opts & PCRE2_CASELESS);

    d = &p->detectors[r[0].detector];
    assert_non_null(d->def);
    assert_string_equal(d->name, "email");
    weir_policy_unref(p);
}

static void test_defaults(void **state)
{
    (void)state;
    weir_policy *p = load_ok("weir: 1\nname: d\n");
    assert_int_equal(p->monitor, 0);
    assert_int_equal(p->on_error, WEIR_BLOCK);
    assert_int_equal(p->normalize, WR_NORM_DEFAULT);
    assert_int_equal(p->max_input, 10 * 1024 * 1024);
    assert_int_equal(p->limits.match_limit, 1000000);
    assert_int_equal(p->limits.depth_limit, 10000);
    assert_int_equal(p->residency.aws_profiles_set, 0);
    assert_int_equal(weir_policy_rule_count(p), 0);
    assert_int_equal(p->hash_key_len, 0);
    weir_policy_unref(p);

    p = load_ok("weir: 1\nname: d\nnormalize: []\nresidency: { aws_inference_profiles: [] }\n"
                "rules: []\n");
    assert_int_equal(p->normalize, 0);
    assert_int_equal(p->residency.aws_profiles_set, 1);
    assert_int_equal(p->residency.aws_profiles.n, 0);
    weir_policy_unref(p);
}

/* Rules naming the same builtin (by name, alias or case) share one compiled detector. */
static void test_detector_sharing(void **state)
{
    (void)state;
    weir_policy *p = load_ok("weir: 1\nname: s\nrules:\n"
                             "  - { id: a, detect: email, action: log }\n"
                             "  - { id: b, detect: phone, action: log }\n"
                             "  - { id: c, detect: EMAIL, action: block }\n"
                             "  - { id: d, detect: { regex: 'x+' }, action: log }\n"
                             "  - { id: e, detect: { regex: 'x+' }, action: log }\n"
                             "  - { id: f, detect: email, action: redact }\n");
    assert_int_equal(p->nrules, 6);
    assert_int_equal(p->ndetectors, 4);
    assert_int_equal(p->rules[0].detector, p->rules[2].detector);
    assert_int_equal(p->rules[0].detector, p->rules[5].detector);
    assert_int_not_equal(p->rules[0].detector, p->rules[1].detector);
    assert_int_not_equal(p->rules[3].detector, p->rules[4].detector);
    assert_int_equal(p->rules[3].line, 7);
    weir_policy_unref(p);
}

/* Thousands of rules: the duplicate-id check and detector sharing stay fast. */
static void test_many_rules(void **state)
{
    (void)state;
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_puts(&b, "weir: 1\nname: many\nrules:\n");
    for (int i = 0; i < 5000; i++)
        wr_buf_printf(&b, "  - { id: r%d, detect: email, action: log }\n", i);
    assert_int_equal(b.oom, 0);
    weir_policy *p = load_ok(b.data);
    assert_int_equal(weir_policy_rule_count(p), 5000);
    assert_int_equal(p->ndetectors, 1);
    weir_policy_unref(p);

    wr_buf_printf(&b, "  - { id: r4321, detect: email, action: log }\n");
    load_fails(b.data, b.len, WEIR_EPOLICY, 5004, 11,
               "duplicate rule id 'r4321' (first defined at line 4325)");
    wr_buf_free(&b);
}

/* ----------------------------------------------------------------- invalid policies */

static void test_invalid_policies(void **state)
{
    (void)state;
    static char names[256][256];
    size_t n = list_yaml("tests/data/policies/invalid", names, 256);
    assert_true(n >= 40);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(names[i], "rb");
        assert_non_null(f);
        char head[512] = "";
        if (!fgets(head, sizeof head, f))
            head[0] = '\0';
        fclose(f);
        head[strcspn(head, "\r\n")] = '\0';
        int line = 0, col = 0, used = 0;
        char code[16] = "";
        if (sscanf(head, "# expect: %d:%d %15s %n", &line, &col, code, &used) != 3) {
            print_error("%s: first line must be '# expect: LINE:COL CODE text'\n", names[i]);
            failed++;
            continue;
        }
        const char *text = head + used;

        weir_policy *p = NULL;
        weir_error err = {0};
        int rc = weir_policy_load_file(&p, names[i], &err);
        char buf[512];
        weir_error_format(&err, buf, sizeof buf);
        if (rc == 0 || strcmp(code_name(rc), code) != 0 || err.line != line ||
            err.column != col || !strstr(err.text, text) || strcmp(err.source, names[i]) != 0) {
            print_error("%s\n  expected %s at %d:%d containing \"%s\"\n  got      %s: %s\n",
                        names[i], code, line, col, text, code_name(rc), buf);
            failed++;
        }
        weir_policy_unref(p);
        assert_null(p);
    }
    assert_int_equal(failed, 0);
}

static void test_error_format(void **state)
{
    (void)state;
    const char *y = "weir: 1\nname: t\nrules:\n  - id: pii-email\n    detect: email\n"
                    "    acton: redact\n";
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_buffer(&p, y, strlen(y), "eu.yaml", &err), WEIR_EPOLICY);
    char buf[512];
    assert_string_equal(weir_error_format(&err, buf, sizeof buf),
                        "eu.yaml:6:5: unknown key 'acton' in rule 'pii-email'; did you mean "
                        "'action'?");

    /* a buffer without a name still gets a position */
    assert_int_equal(weir_policy_load_buffer(&p, y, strlen(y), NULL, &err), WEIR_EPOLICY);
    assert_string_equal(err.source, "<buffer>");
    assert_int_equal(err.line, 6);

    /* err may be NULL */
    assert_int_equal(weir_policy_load_buffer(&p, y, strlen(y), NULL, NULL), WEIR_EPOLICY);
    assert_null(p);
}

static void test_empty(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_file(&p, "tests/data/policies/empty.yaml", &err),
                     WEIR_EPOLICY);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 1);
    assert_string_equal(err.text,
                        "the policy is empty; it needs at least 'weir: 1' and a 'name'");
    load_fails("", 0, WEIR_EPOLICY, 1, 1, "the policy is empty");
    load_fails(NULL, 0, WEIR_EPOLICY, 1, 1, "the policy is empty");
    load_fails("---\n...\n", 8, WEIR_EPOLICY, 1, 1, "the policy is empty");
    load_fails("   \n\n", 5, WEIR_EPOLICY, 1, 1, "the policy is empty");
}

static void test_missing_keys_point_at_mapping(void **state)
{
    (void)state;
    const char *y = "weir: 1\nname: t\nrules:\n  - id: a\n    detect: email\n    action: log\n"
                    "  -   id: b\n      detect: email\n";
    load_fails(y, strlen(y), WEIR_EPOLICY, 7, 7, "rule 'b' is missing required key 'action'");
    y = "# comment\n\n  weir: 1\n  rules: []\n";
    load_fails(y, strlen(y), WEIR_EPOLICY, 3, 3, "missing required key 'name'");
}

static void test_too_deep(void **state)
{
    (void)state;
    char y[256];
    /* 33 nested lists under a key: the 32nd level is allowed, the 33rd is not */
    int n = snprintf(y, sizeof y, "weir: 1\nname: t\ndescription: ");
    for (int i = 0; i < 40; i++)
        y[n++] = '[';
    y[n] = '\0';
    load_fails(y, (size_t)n, WEIR_ELIMIT, 3, 14 + 31, "nests deeper than 32 levels");

    /* exactly 32 levels is not a limit error (it is a type error) */
    n = snprintf(y, sizeof y, "weir: 1\nname: t\ndescription: ");
    for (int i = 0; i < 31; i++)
        y[n++] = '[';
    for (int i = 0; i < 31; i++)
        y[n++] = ']';
    y[n] = '\0';
    load_fails(y, (size_t)n, WEIR_EPOLICY, 3, 14, "expected a string for 'description'");

    /* deep nesting far beyond the limit returns promptly */
    size_t big = 1000000;
    char *deep = malloc(big + 1);
    assert_non_null(deep);
    memset(deep, '[', big);
    deep[big] = '\0';
    load_fails(deep, big, WEIR_ELIMIT, 1, 33, "nests deeper than 32 levels");
    for (size_t i = 0; i + 4 <= big; i += 4)
        memcpy(deep + i, "{a: ", 4);
    load_fails(deep, big, WEIR_ELIMIT, 1, 4 * 32 + 1, "nests deeper than 32 levels");
    free(deep);
}

static void test_too_many_nodes(void **state)
{
    (void)state;
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_puts(&b, "weir: 1\nname: t\nnormalize:\n");
    for (int i = 0; i < 250000; i++)
        wr_buf_puts(&b, "- nfkc\n");
    assert_int_equal(b.oom, 0);
    /* 7 nodes before the list items (root, 3 keys, 2 values, the list): item k is node
     * 7 + k, on line 3 + k; node 200001 is one too many */
    load_fails(b.data, b.len, WEIR_ELIMIT, 3 + (200001 - 7), 3, "more than 200000 YAML values");
    wr_buf_free(&b);
}

static void test_huge(void **state)
{
    (void)state;
    size_t n = WR_MAX_POLICY_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    big[n - 1] = '\n';

    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_buffer(&p, big, n, "big.yaml", &err), WEIR_ELIMIT);
    assert_null(p);
    assert_non_null(strstr(err.text, "the limit is 4194304"));

    char path[] = "/tmp/weir-policy-huge-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, n), (ssize_t)n);
    close(fd);
    assert_int_equal(weir_policy_load_file(&p, path, &err), WEIR_ELIMIT);
    assert_null(p);
    assert_string_equal(err.source, path);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.text, "4194304"));

    /* exactly at the limit: read and parsed (here: only comments, so empty) */
    assert_int_equal(truncate(path, (off_t)WR_MAX_POLICY_BYTES), 0);
    assert_int_equal(weir_policy_load_file(&p, path, &err), WEIR_EPOLICY);
    assert_non_null(strstr(err.text, "the policy is empty"));
    unlink(path);
    free(big);
}

static void test_file_errors(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_file(&p, "tests/data/policies/no-such.yaml", &err),
                     WEIR_ENOTFOUND);
    assert_null(p);
    assert_string_equal(err.source, "tests/data/policies/no-such.yaml");
    assert_string_equal(err.text, "cannot open the policy: No such file or directory");
    assert_int_equal(weir_policy_load_file(&p, "tests/data/policies", &err), WEIR_EIO);
    assert_string_equal(err.text, "the policy is not a regular file");
    assert_int_equal(weir_policy_load_file(&p, NULL, &err), WEIR_EINVAL);
    assert_int_equal(weir_policy_load_file(NULL, "x", &err), WEIR_EINVAL);
    assert_int_equal(weir_policy_load_buffer(NULL, "x", 1, NULL, &err), WEIR_EINVAL);
    assert_int_equal(weir_policy_load_buffer(&p, NULL, 3, NULL, &err), WEIR_EINVAL);
    assert_null(p);
}

/* ----------------------------------------------------------------- object */

static void test_refcount(void **state)
{
    (void)state;
    weir_policy *p = load_ok("weir: 1\nname: rc\nrules:\n  - { id: a, detect: email, action: log }\n");
    assert_ptr_equal(weir_policy_ref(p), p);
    assert_ptr_equal(weir_policy_ref(p), p);
    assert_int_equal(atomic_load(&p->refs), 3);
    weir_policy_unref(p);
    weir_policy_unref(p);
    assert_string_equal(weir_policy_name(p), "rc");
    assert_int_equal(weir_policy_rule_count(p), 1);
    weir_policy_unref(p); /* the last one frees: valgrind/ASan check there is no leak */
    weir_policy_unref(NULL);
    assert_null(weir_policy_ref(NULL));
    assert_null(weir_policy_name(NULL));
    assert_null(weir_policy_digest(NULL));
    assert_int_equal(weir_policy_rule_count(NULL), 0);
}

static void *ref_unref_loop(void *arg)
{
    weir_policy *p = arg;
    for (int i = 0; i < 100000; i++)
        weir_policy_unref(weir_policy_ref(p));
    return NULL;
}

/* Concurrent ref/unref from many threads never frees early and leaves the count as it was. */
static void test_refcount_threads(void **state)
{
    (void)state;
    weir_policy *p = load_ok("weir: 1\nname: mt\n");
    pthread_t t[8];
    for (size_t i = 0; i < WR_ARRAY_LEN(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, ref_unref_loop, p), 0);
    for (size_t i = 0; i < WR_ARRAY_LEN(t); i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&p->refs), 1);
    assert_string_equal(weir_policy_name(p), "mt");
    weir_policy_unref(p);
}

static void test_digest_matches_sha256sum(void **state)
{
    (void)state;
    const char *rel = "tests/data/policies/valid/eu-finance.yaml";
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_file(&p, rel, &err), 0);

    char cmd[600], out[128] = "";
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", rel);
    FILE *f = popen(cmd, "r");
    if (!f || !fgets(out, sizeof out, f)) {
        if (f)
            pclose(f);
        weir_policy_unref(p);
        skip();
    }
    pclose(f);
    out[64] = '\0';
    char want[80];
    snprintf(want, sizeof want, "sha256:%.64s", out);
    assert_string_equal(weir_policy_digest(p), want);
    assert_int_equal(strlen(weir_policy_digest(p)), 71);

    /* stable across loads, and any change of bytes (even a comment) changes it */
    weir_policy *q = NULL;
    assert_int_equal(weir_policy_load_file(&q, rel, &err), 0);
    assert_string_equal(weir_policy_digest(p), weir_policy_digest(q));
    weir_policy_unref(q);
    weir_policy *a = load_ok("weir: 1\nname: a\n");
    weir_policy *b = load_ok("weir: 1\nname: a\n# comment\n");
    assert_string_not_equal(weir_policy_digest(a), weir_policy_digest(b));
    weir_policy_unref(a);
    weir_policy_unref(b);
    weir_policy_unref(p);
}

/* ----------------------------------------------------------------- hash key */

static const char *hash_policy =
    "weir: 1\nname: h\nredaction:\n  hash_key_env: WEIR_TEST_KEY_X\nrules:\n"
    "  - id: r\n    detect: email\n    action: redact\n    redact: hash\n";

static void test_hash_key_env(void **state)
{
    (void)state;
    unsetenv("WEIR_TEST_KEY_X");
    load_fails(hash_policy, strlen(hash_policy), WEIR_EPOLICY, 4, 17,
               "environment variable WEIR_TEST_KEY_X is not set; rule 'r' uses redaction style "
               "hash, which needs a key of at least 16 bytes");
    setenv("WEIR_TEST_KEY_X", "short", 1);
    load_fails(hash_policy, strlen(hash_policy), WEIR_EPOLICY, 4, 17,
               "the hash key from environment variable WEIR_TEST_KEY_X is 5 bytes; at least 16 "
               "are needed");
    setenv("WEIR_TEST_KEY_X",
           "0123456789012345678901234567890123456789012345678901234567890123456789", 1);
    load_fails(hash_policy, strlen(hash_policy), WEIR_EPOLICY, 4, 17, "longer than 64 bytes");
    setenv("WEIR_TEST_KEY_X", "0123456789abcdef", 1);
    weir_policy *p = load_ok(hash_policy);
    assert_int_equal(p->hash_key_len, 16);
    assert_memory_equal(p->hash_key, "0123456789abcdef", 16);
    weir_policy_unref(p);
    unsetenv("WEIR_TEST_KEY_X");

    /* without a hash rule the key is not needed, even when its variable is unset */
    p = load_ok("weir: 1\nname: h\nredaction: { hash_key_env: WEIR_TEST_KEY_X }\n");
    assert_int_equal(p->hash_key_len, 0);
    weir_policy_unref(p);
}

static void test_hash_key_file(void **state)
{
    (void)state;
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_file(&p, "tests/data/policies/hash-keyfile.yaml", &err), 0);
    assert_int_equal(p->hash_key_len, 32); /* the trailing newline is not part of the key */
    assert_memory_equal(p->hash_key, TEST_KEY, 32);
    weir_policy_unref(p);
}

/* ----------------------------------------------------------------- odds and ends */

static void test_message_length(void **state)
{
    (void)state;
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_puts(&b, "weir: 1\nname: m\nrules:\n  - id: r\n    detect: email\n    action: block\n"
                    "    message: ");
    for (int i = 0; i < 500; i++)
        wr_buf_puts(&b, "\xc3\xa9"); /* 500 characters, 1000 bytes */
    wr_buf_puts(&b, "\n");
    weir_policy *p = load_ok(b.data);
    assert_int_equal(strlen(p->rules[0].message), 1000);
    weir_policy_unref(p);
    b.len--;
    wr_buf_puts(&b, "x\n");
    load_fails(b.data, b.len, WEIR_EPOLICY, 7, 14,
               "'message' is 501 characters; at most 500 are allowed");
    wr_buf_free(&b);
}

static void test_scalar_as_list(void **state)
{
    (void)state;
    weir_policy *p = load_ok("weir: 1\nname: l\nnormalize: invisible\nrules:\n"
                             "  - { id: r, detect: email, on: prompt, action: log,"
                             " only: { roles: '*' } }\n");
    assert_int_equal(p->normalize, WR_NORM_INVISIBLE);
    assert_int_equal(p->rules[0].on, WR_ON_PROMPT);
    assert_int_equal(p->rules[0].only.roles.n, 1);
    weir_policy_unref(p);
}

/* Every prefix of a valid policy fails or loads cleanly: no crash, no leak, no hang. */
static void test_truncations_and_mutations(void **state)
{
    (void)state;
    FILE *f = fopen("tests/data/policies/valid/every-key.yaml", "rb");
    assert_non_null(f);
    static char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    for (size_t cut = 0; cut <= len; cut++) {
        weir_policy *p = NULL;
        weir_error err = {0};
        int rc = weir_policy_load_buffer(&p, text, cut, "cut.yaml", &err);
        assert_true(rc == 0 || rc == WEIR_EPOLICY || rc == WEIR_ELIMIT);
        assert_true(rc == 0 ? p != NULL : p == NULL);
        if (rc)
            assert_true(err.text[0] != '\0');
        weir_policy_unref(p);
    }
    static const char bytes[] = "\n\t :-[]{}&*!|>'\"#,?%@`\\\x00\xff";
    uint32_t seed = 12345;
    static char mut[8192];
    for (int round = 0; round < 3000; round++) {
        memcpy(mut, text, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            mut[at] = bytes[(seed >> 8) % (sizeof bytes - 1)];
        }
        weir_policy *p = NULL;
        weir_error err = {0};
        int rc = weir_policy_load_buffer(&p, mut, len, "mut.yaml", &err);
        assert_true(rc == 0 || rc == WEIR_EPOLICY || rc == WEIR_ELIMIT);
        weir_policy_unref(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_policies_load),
        cmocka_unit_test(test_shipped_policies_load),
        cmocka_unit_test(test_default_policy),
        cmocka_unit_test(test_every_key_compiles),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_detector_sharing),
        cmocka_unit_test(test_many_rules),
        cmocka_unit_test(test_invalid_policies),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_missing_keys_point_at_mapping),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_too_many_nodes),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_refcount_threads),
        cmocka_unit_test(test_digest_matches_sha256sum),
        cmocka_unit_test(test_hash_key_env),
        cmocka_unit_test(test_hash_key_file),
        cmocka_unit_test(test_message_length),
        cmocka_unit_test(test_scalar_as_list),
        cmocka_unit_test(test_truncations_and_mutations),
    };
    return cmocka_run_group_tests_name("policy/load", tests, setup, NULL);
}
