/*
 * wr_json_fast_parse against jansson: for every input the same accept/reject answer as
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL), and for accepted input a tree that
 * is json_equal to jansson's and dumps to the same bytes (key order included). Plus the
 * depth limit, error positions, real provider bodies, a 1 MiB body and a comma locale.
 */
#include <dirent.h>
#include <jansson.h>
#include <locale.h>
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

#include "internal.h"

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define DUMP (JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENCODE_ANY)
#define DEPTH 64

/* Compares with jansson; returns wr_json_fast_parse's code. */
static int diff(const char *s, size_t n, int depth)
{
    json_t *mine = NULL;
    char msg[200] = "";
    int line = -1, col = -1;
    int rc = wr_json_fast_parse(&mine, s, n, depth, &line, &col, msg, sizeof msg);
    if (!wr_json_depth_ok(s, n, depth)) {
        if (rc == 0)
            print_error("accepted over depth %d: %.*s\n", depth, (int)(n > 200 ? 200 : n), s);
        assert_int_not_equal(rc, 0);
        assert_null(mine);
        return rc;
    }
    json_error_t je;
    json_t *ref = json_loadb(s, n, FLAGS, &je);
    if (!ref != !mine)
        print_error("disagree on %.*s: jansson %s (%s), mine rc %d (%s)\n",
                    (int)(n > 200 ? 200 : n), s, ref ? "accepts" : "rejects",
                    ref ? "" : je.text, rc, msg);
    assert_int_equal(!ref, !mine);
    if (!ref) {
        assert_int_equal(rc, WEIR_EINVAL);
        assert_true(msg[0] != '\0');
        assert_true(line >= 1 && col >= 1);
        return rc;
    }
    assert_int_equal(rc, 0);
    assert_true(json_equal(ref, mine));
    char *a = json_dumps(ref, DUMP), *b = json_dumps(mine, DUMP);
    assert_non_null(a);
    assert_non_null(b);
    if (strcmp(a, b))
        print_error("dumps differ:\n jansson %.300s\n mine    %.300s\n", a, b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(ref);
    json_decref(mine);
    return 0;
}

#define C(lit) {lit, sizeof(lit) - 1}

static const struct {
    const char *s;
    size_t n;
} cases[] = {
    /* top level */
    C(""), C(" "), C("\n\t\r "), C("{}"), C("[]"), C(" {} "), C("\r\n[\t]\n"), C("\"x\""),
    C("1"), C("-1"), C("0.5"), C("true"), C("false"), C("null"), C("{}{}"), C("[][]"),
    C("{} x"), C("[] ,"), C("{}\0"), C("[1]\0"), C("\0{}"), C("{"), C("["), C("}"), C("]"),
    C("{]"), C("[}"), C("\xef\xbb\xbf{}"), C("\f{}"), C("\v[]"), C("\xc2\xa0{}"),
    C("{}\xc2\xa0"), C("[]\xff"), C("/*c*/{}"), C("{}//"),
    /* objects */
    C("{\"a\":1}"), C("{\"a\" : 1 , \"b\" : [ ] }"), C("{\"a\":1,}"), C("{,}"), C("{\"a\"}"),
    C("{\"a\":}"), C("{\"a\" 1}"), C("{a:1}"), C("{'a':1}"), C("{1:1}"), C("{\"a\":1\"b\":2}"),
    C("{\"a\":1,\"a\":2}"), C("{\"a\":1,\"b\":2,\"a\":3}"), C("{\"a\":{\"a\":{\"a\":1}}}"),
    C("{\"\":1}"), C("{\"\":1,\"\":2}"), C("{\"a\\u0000\":1}"), C("{\"\\u0000\":1}"),
    C("{\"a\\u0000b\":1,\"a\":2}"), C("{\"\\u0061\":1,\"a\":2}"), C("{\"\\/\":1,\"/\":2}"),
    C("{\"z\":1,\"y\":2,\"x\":3,\"a\":4,\"m\":5}"),
    C("{\"k\\n\":\"v\\n\",\"k2\\t\":[\"\\u00e9\"]}"),
    C("{\"\xc3\xa9\":1,\"\\u00e9\":2}"), C("{\"a\":1 \"b\":2}"), C("{\"a\"::1}"),
    /* arrays */
    C("[1,2,3]"), C("[1,]"), C("[,1]"), C("[1,,2]"), C("[1 2]"), C("[[[]]]"), C("[[],[[]],{}]"),
    C("[1]]"), C("[[1]"), C("[\"a\",{\"b\":[null,true,false]}]"), C("[nul]"), C("[truee]"),
    C("[True]"), C("[NULL]"), C("[nan]"), C("[NaN]"), C("[Infinity]"), C("[-Infinity]"),
    C("[true1]"), C("[null,]"), C("[tru"), C("[f"), C("[\"a\"\"b\"]"),
    /* numbers */
    C("[0]"), C("[-0]"), C("[-0.0]"), C("[0.0]"), C("[01]"), C("[-01]"), C("[00]"), C("[-]"),
    C("[- 1]"), C("[+1]"), C("[.5]"), C("[1.]"), C("[1.e5]"), C("[1e]"), C("[1e+]"), C("[1e-]"),
    C("[1E5]"), C("[1e+5]"), C("[1e-5]"), C("[0.1e-5]"), C("[1e400]"), C("[-1e400]"),
    C("[1e-400]"), C("[-1e-400]"), C("[1.7976931348623157e308]"), C("[1.7976931348623159e308]"),
    C("[4.9e-324]"), C("[2.4e-324]"), C("[0.1]"), C("[0.30000000000000004]"),
    C("[123456789.123456789e-3]"), C("[9223372036854775807]"), C("[9223372036854775808]"),
    C("[-9223372036854775808]"), C("[-9223372036854775809]"),
    C("[99999999999999999999999999999]"), C("[-99999999999999999999999999999]"),
    C("[9223372036854775807.0]"), C("[99999999999999999999999999999.5]"), C("[1e5x]"),
    C("[0x10]"), C("[1_000]"), C("[1.5.3]"), C("[1-2]"), C("[--1]"), C("[0e0]"), C("[-0e-0]"),
    C("[1E+308,1E+309]"), C("[12345678901234567890e-10]"), C("[1,-1,0.25,-0.25,1e2,-1e-2]"),
    C("{\"n\":-"), C("{\"n\":1"), C("{\"n\":1.5"), C("[1e"),
    /* strings: escapes */
    C("[\"\"]"), C("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
    C("[\"\\x\"]"), C("[\"\\a\"]"), C("[\"\\'\"]"),
    C("[\"\\0\"]"), C("[\"\\\"]"), C("[\"\\"), C("[\"abc"), C("[\"abc\\u00"), C("[\"\\u0041\"]"),
    C("[\"\\u00e9\\u00E9\"]"), C("[\"\\u20AC\"]"), C("[\"\\uFFFF\"]"), C("[\"\\uFEFF\"]"),
    C("[\"\\u0000\"]"), C("[\"a\\u0000b\\u0000\"]"), C("[\"\\u001f\"]"), C("[\"\\u004\"]"),
    C("[\"\\u00G0\"]"), C("[\"\\U0041\"]"), C("[\"\\u+041\"]"), C("[\"\\u 041\"]"),
    C("[\"\\uD83D\\uDE00\"]"), C("[\"\\ud83d\\ude00\"]"), C("[\"\\uD800\\uDC00\"]"),
    C("[\"\\uDBFF\\uDFFF\"]"), C("[\"\\uD800\"]"), C("[\"\\uD800x\"]"), C("[\"\\uD800\\n\"]"),
    C("[\"\\uD800\\u0041\"]"), C("[\"\\uD800\\uD800\"]"),
    C("[\"\\uDC00\"]"), C("[\"\\uDFFF\\uD800\"]"),
    C("[\"\\uD800\\uDC0\"]"), C("[\"\\uD800\\uZZZZ\"]"), C("[\"\\uD800\\"), C("[\"\\uD800\\u"),
    C("[\"\\uDBFF\\uE000\"]"),
    /* strings: raw bytes */
    C("[\"a\nb\"]"), C("[\"a\tb\"]"), C("[\"a\rb\"]"), C("[\"\x01\"]"), C("[\"\x1f\"]"),
    C("[\"\x7f\"]"), C("[\"a\0b\"]"), C("[\" \"]"), C("[\"\xc3\xa9\"]"), C("[\"\xe2\x82\xac\"]"),
    C("[\"\xf0\x9f\x98\x80\"]"), C("[\"\xf4\x8f\xbf\xbf\"]"), C("[\"\xef\xbf\xbf\"]"),
    C("[\"\xc0\xaf\"]"), C("[\"\xc1\xbf\"]"), C("[\"\xe0\x80\xaf\"]"), C("[\"\xe0\x9f\xbf\"]"),
    C("[\"\xf0\x80\x80\xaf\"]"), C("[\"\xf0\x8f\xbf\xbf\"]"), C("[\"\xed\xa0\x80\"]"),
    C("[\"\xed\xbf\xbf\"]"), C("[\"\xed\x9f\xbf\"]"), C("[\"\xf4\x90\x80\x80\"]"),
    C("[\"\xf5\x80\x80\x80\"]"), C("[\"\xf8\x88\x80\x80\x80\"]"), C("[\"\xfe\"]"), C("[\"\xff\"]"),
    C("[\"\x80\"]"), C("[\"\xbf\"]"), C("[\"\xc3\"]"), C("[\"\xc3"), C("[\"\xe2\x82\"]"),
    C("[\"\xe2\x82"), C("[\"\xf0\x9f\x98\"]"), C("[\"\xc3\xc3\xa9\"]"), C("[\"\xc3\x28\"]"),
    C("[\"\\\xc3\xa9\"]"), C("[\xc3\xa9]"), C("{\"\xff\":1}"),
    C("[\"0123456789abcdef0123456789abcdef\\n0123456789abcdef\xc3\xa9" "0123456789abcdef\"]"),
    C("[\"0123456789abcdef0123456789abcdef\x01" "0123456789abcdef\"]"),
    C("[\"0123456789abcdef0123456789abcde\\\"0123456789abcdef\\\\\"]"),
    C("[\"0123456789abcdef0123456789abcdef0123456789abcdef"), /* unterminated after a block */
    /* jansson drops one NUL byte right after a number or literal (its push-back loses it) */
    C("[1\0]"), C("[true\0]"), C("[1\0\0]"), C("[1.5\0,2]"), C("{\"a\":null\0}"), C("[1\0.5]"),
    C("[\"a\"\0]"), C("[[]\0]"), C("[-0\0 ]"), C("[1e5\0]"), C("[fals\0e]"),
    /* whitespace */
    C("{ \"a\" :\n1\r\n,\t\"b\"\n:\n[\n]\n}"), C("[1,\n2]"), C("[\n\n\n1\n\n,]"),
};

static void test_table(void **state)
{
    (void)state;
    size_t accepted = 0;
    for (size_t i = 0; i < WR_ARRAY_LEN(cases); i++)
        accepted += diff(cases[i].s, cases[i].n, DEPTH) == 0;
    /* the table holds both kinds in quantity */
    assert_true(accepted > 40);
    assert_true(WR_ARRAY_LEN(cases) - accepted > 100);
}

/* brackets: n opening of `open`, a scalar inside when `inner`, n closing. */
static char *nest(int n, const char *open, const char *close, const char *inner, size_t *len)
{
    size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
    char *s = malloc((size_t)n * (lo + lc) + li + 1);
    assert_non_null(s);
    size_t k = 0;
    for (int i = 0; i < n; i++, k += lo)
        memcpy(s + k, open, lo);
    memcpy(s + k, inner, li);
    k += li;
    for (int i = 0; i < n; i++, k += lc)
        memcpy(s + k, close, lc);
    s[k] = '\0';
    *len = k;
    return s;
}

static void test_depth(void **state)
{
    (void)state;
    size_t n;
    char *s;
    s = nest(64, "[", "]", "", &n);
    assert_int_equal(diff(s, n, 64), 0);
    free(s);
    s = nest(64, "[", "]", "1", &n);
    assert_int_equal(diff(s, n, 64), 0);
    free(s);
    s = nest(64, "{\"k\":", "}", "[]", &n); /* 65 containers */
    assert_int_equal(diff(s, n, 64), WEIR_ELIMIT);
    free(s);
    s = nest(63, "{\"k\":", "}", "[]", &n);
    assert_int_equal(diff(s, n, 64), 0);
    free(s);
    s = nest(65, "[", "]", "", &n);
    assert_int_equal(diff(s, n, 64), WEIR_ELIMIT);
    free(s);
    /* the limit applies even when the text is cut off: it is seen while parsing */
    s = nest(100, "[", "", "", &n);
    json_t *v = NULL;
    char msg[100];
    int line = 0, col = 0;
    assert_int_equal(wr_json_fast_parse(&v, s, n, 64, &line, &col, msg, sizeof msg), WEIR_ELIMIT);
    assert_null(v);
    assert_int_equal(line, 1);
    assert_int_equal(col, 65);
    assert_non_null(strstr(msg, "64"));
    /* 100 levels pass with a limit of 100, and the default-sized stack copes at 1024 */
    s[n] = '\0';
    free(s);
    s = nest(100, "[", "]", "", &n);
    assert_int_equal(diff(s, n, 100), 0);
    free(s);
    s = nest(1024, "[", "]", "\"x\"", &n);
    assert_int_equal(diff(s, n, 5000), 0); /* clamped to 1024 */
    free(s);
    s = nest(1025, "[", "]", "", &n);
    assert_int_equal(wr_json_fast_parse(&v, s, n, 5000, NULL, NULL, NULL, 0), WEIR_ELIMIT);
    free(s);
    /* brackets inside strings do not count */
    const char *str = "{\"a\":\"[[[[[[[[[[[[[\\\"[[[[[[[[\"}";
    assert_int_equal(diff(str, strlen(str), 2), 0);
    assert_int_equal(diff("[[]]", 4, 0), WEIR_ELIMIT);
}

static void test_errors(void **state)
{
    (void)state;
    json_t *v = (json_t *)1;
    char msg[100];
    int line, col;
    assert_int_equal(wr_json_fast_parse(NULL, "{}", 2, 8, NULL, NULL, NULL, 0), WEIR_EINVAL);
    assert_int_equal(wr_json_fast_parse(&v, NULL, 2, 8, NULL, NULL, NULL, 0), WEIR_EINVAL);
    assert_int_equal(wr_json_fast_parse(&v, NULL, 0, 8, &line, &col, msg, sizeof msg), WEIR_EINVAL);
    assert_null(v);
    assert_non_null(strstr(msg, "'[' or '{' expected"));

    const char *t = "{\n  \"a\": 1,\n  \"a\": 2\n}";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, &line, &col, msg, sizeof msg),
                     WEIR_EINVAL);
    assert_string_equal(msg, "duplicate object key");
    assert_int_equal(line, 3);
    assert_int_equal(col, 3);

    t = "{\"\xc3\xa9\xc3\xa9\": tru}";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, &line, &col, msg, sizeof msg),
                     WEIR_EINVAL);
    assert_string_equal(msg, "invalid token");
    assert_int_equal(line, 1);
    assert_int_equal(col, 8); /* characters, not bytes */

    t = "[\"ab\x01\"]";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, &line, &col, msg, sizeof msg),
                     WEIR_EINVAL);
    assert_string_equal(msg, "control character 0x1");
    t = "[\"\\uDC00\"]";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, &line, &col, msg, sizeof msg),
                     WEIR_EINVAL);
    assert_string_equal(msg, "invalid Unicode '\\uDC00'");
    t = "[99999999999999999999]";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, &line, &col, msg, sizeof msg),
                     WEIR_EINVAL);
    assert_string_equal(msg, "too big integer");
    t = "[1e999]";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, &line, &col, msg, sizeof msg),
                     WEIR_EINVAL);
    assert_string_equal(msg, "real number overflow");
    t = "{\"a\\u0000\":1}";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, NULL, NULL, msg, 10), WEIR_EINVAL);
    assert_string_equal(msg, "NUL byte "); /* truncated to the buffer */
    assert_null(v);
}

/* Escaped keys and values interleave: a key decoded in the scratch buffer survives its value. */
static void test_escaped_keys(void **state)
{
    (void)state;
    const char *t = "{\"k\\u00e9y\":\"v\\u00e0lue \\\"q\\\" and a long tail to grow the buffer "
                    "0123456789012345678901234567890123456789012345678901234567890123456789"
                    "0123456789012345678901234567890123456789012345678901234567890123456789"
                    "0123456789012345678901234567890123456789012345678901234567890123456789"
                    "0123456789\\n\",\"n\\t\":{\"\\u00e9\":[\"\\t\"]}}";
    assert_int_equal(diff(t, strlen(t), DEPTH), 0);
    json_t *v;
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, NULL, NULL, NULL, 0), 0);
    assert_non_null(json_object_get(v, "k\xc3\xa9y"));
    assert_non_null(json_object_get(json_object_get(v, "n\t"), "\xc3\xa9"));
    json_decref(v);
    t = "{\"a\":\"x\\u0000y\"}";
    assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, NULL, NULL, NULL, 0), 0);
    assert_int_equal(json_string_length(json_object_get(v, "a")), 3);
    assert_memory_equal(json_string_value(json_object_get(v, "a")), "x\0y", 3);
    json_decref(v);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static size_t diff_dir(const char *rel, int codec_corpus)
{
    const char *root = getenv("WEIR_SOURCE_DIR");
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/%s", root ? root : ".", rel);
    DIR *d = opendir(dir);
    if (!d)
        print_error("cannot open %s\n", dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || (!codec_corpus && (l < 5 || strcmp(e->d_name + l - 5, ".json"))))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *s = slurp(path, &len);
        assert_non_null(s);
        /* codec seeds carry a direction byte before the body; try both views */
        diff(s, len, DEPTH);
        if (codec_corpus && len)
            diff(s + 1, len - 1, DEPTH);
        free(s);
        n++;
    }
    closedir(d);
    return n;
}

static void test_real_bodies(void **state)
{
    (void)state;
    assert_true(diff_dir("tests/data/providers", 0) >= 10);
    assert_true(diff_dir("tests/fuzz/corpus/codec", 1) >= 10);
}

/* A 1 MiB chat body: long strings with escapes and non-ASCII, many messages, numbers. */
static void test_big_body(void **state)
{
    (void)state;
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_puts(&b, "{\"model\":\"gpt-4o\",\"temperature\":0.7,\"max_tokens\":4096,\"messages\":[");
    for (int i = 0; b.len < (1u << 20); i++) {
        wr_buf_printf(&b, "%s{\"role\":\"%s\",\"content\":\"", i ? "," : "",
                      i % 2 ? "assistant" : "user");
        for (int k = 0; k < 40; k++)
            wr_buf_puts(&b, "Lorem ipsum dolor sit amet, caf\xc3\xa9 \\\"quoted\\\" \xe2\x82\xac\\n"
                            "\\u00e9\\ud83d\\ude00 tab\\there ");
        wr_buf_printf(&b, "\",\"n\":%d,\"x\":%d.%03de-%d}", i, i, i % 1000, i % 300);
    }
    wr_buf_puts(&b, "]}");
    assert_false(b.oom);
    assert_true(b.len >= (1u << 20));
    assert_int_equal(diff(b.data, b.len, DEPTH), 0);
    wr_buf_free(&b);
}

/* A host application with a "," decimal point must not change how numbers read. */
static void test_comma_locale(void **state)
{
    (void)state;
    char dir[] = "/tmp/weir-jsonloc-XXXXXX";
    if (!mkdtemp(dir))
        skip();
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", dir);
    int made = system(cmd) == 0;
    setenv("LOCPATH", dir, 1);
    const char *got = made ? setlocale(LC_NUMERIC, "de_DE.UTF-8") : NULL;
    int comma = got && localeconv()->decimal_point[0] == ',';
    if (comma) {
        json_t *v;
        const char *t = "[1.5,-0.25e1,3]";
        assert_int_equal(wr_json_fast_parse(&v, t, strlen(t), 8, NULL, NULL, NULL, 0), 0);
        assert_true(json_real_value(json_array_get(v, 0)) == 1.5);
        assert_true(json_real_value(json_array_get(v, 1)) == -2.5);
        json_decref(v);
        assert_int_equal(diff(t, strlen(t), 8), 0); /* jansson agrees */
    }
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    if (!comma)
        skip(); /* no localedef here: nothing was checked */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_depth),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_escaped_keys),
        cmocka_unit_test(test_real_bodies), cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_comma_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
