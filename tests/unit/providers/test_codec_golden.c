/*
 * Golden tests: tests/data/providers/cases.txt lists (codec, direction, body, segment).
 * For each case the extracted segments must equal NAME.segments (kind, role, text, in
 * order); an untouched body reports no change; replacing one segment and dumping must give
 * NAME.redacted.json byte for byte (made by make_golden.py, independently of this code).
 */
#include "helpers.h"

typedef struct tcase {
    char codec[64], dir[16], name[64];
    int redact;
} tcase;

static size_t load_cases(tcase *out, size_t max)
{
    char *text = read_data("cases.txt", NULL);
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || !line[0])
            continue;
        assert_true(n < max);
        tcase *c = &out[n];
        assert_int_equal(sscanf(line, "%63s %15s %63s %d", c->codec, c->dir, c->name, &c->redact), 4);
        n++;
    }
    free(text);
    return n;
}

static void check_case(const tcase *c)
{
    char file[128];
    size_t len;
    print_message("case %s %s %s\n", c->codec, c->dir, c->name);
    const wr_codec *codec = wr_codec_find(c->codec);
    assert_non_null(codec);
    weir_direction dir = strcmp(c->dir, "completion") == 0 ? WEIR_COMPLETION : WEIR_PROMPT;
    snprintf(file, sizeof file, "%s.json", c->name);
    char *body = read_data(file, &len);
    wr_body b;
    weir_error err = {0};
    int rc = wr_codec_load(&b, codec, dir, body, len, 0, &err);
    if (rc)
        print_error("%s: %s\n", file, err.text);
    assert_int_equal(rc, 0);

    /* segments */
    snprintf(file, sizeof file, "%s.segments", c->name);
    char *segs = read_data(file, NULL);
    size_t i = 0;
    for (char *save = NULL, *line = strtok_r(segs, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), i++) {
        json_error_t je;
        json_t *want = json_loads(line, 0, &je);
        assert_non_null(want);
        if (i >= b.nseg)
            print_error("%s: segment %zu missing (want %s)\n", c->name, i, line);
        assert_true(i < b.nseg);
        const wr_segment *s = &b.seg[i];
        if (strcmp(wr_seg_kind_name(s->kind), json_string_value(json_array_get(want, 0))) ||
            strcmp(s->role, json_string_value(json_array_get(want, 1))) ||
            s->len != json_string_length(json_array_get(want, 2)) ||
            memcmp(s->text, json_string_value(json_array_get(want, 2)), s->len))
            print_error("%s: segment %zu is (%s, %s, %.*s), want %s\n", c->name, i,
                        wr_seg_kind_name(s->kind), s->role, (int)s->len, s->text, line);
        assert_string_equal(wr_seg_kind_name(s->kind), json_string_value(json_array_get(want, 0)));
        assert_string_equal(s->role, json_string_value(json_array_get(want, 1)));
        assert_int_equal(s->len, json_string_length(json_array_get(want, 2)));
        assert_memory_equal(s->text, json_string_value(json_array_get(want, 2)), s->len);
        json_decref(want);
    }
    if (b.nseg != i)
        print_error("%s: %zu segments, want %zu\n", c->name, b.nseg, i);
    assert_int_equal(b.nseg, i);
    free(segs);

    /* untouched: no change, even after writing the same text back */
    assert_int_equal(wr_body_changed(&b), 0);
    for (size_t k = 0; k < b.nseg; k++) {
        char *same = strndup(b.seg[k].text, b.seg[k].len);
        assert_int_equal(wr_body_set(&b, k, same, b.seg[k].len), 0);
        free(same);
    }
    assert_int_equal(wr_body_changed(&b), 0);

    /* a clean dump is the same JSON value as the input */
    wr_buf out;
    wr_buf_init(&out);
    assert_int_equal(wr_body_dump(&b, &out), 0);
    json_t *orig = json_loadb(body, len, 0, NULL), *again = parse_json(out.data, out.len);
    assert_true(json_equal(orig, again));
    json_decref(orig);
    json_decref(again);
    wr_buf_free(&out);

    if (c->redact >= 0) {
        assert_int_equal(wr_body_set(&b, (size_t)c->redact, "[REDACTED]", 10), 0);
        assert_int_equal(wr_body_changed(&b), 1);
        assert_string_equal(b.seg[c->redact].text, "[REDACTED]");
        assert_int_equal(wr_body_dump(&b, &out), 0);
        snprintf(file, sizeof file, "%s.redacted.json", c->name);
        size_t glen;
        char *golden = read_data(file, &glen);
        if (out.len != glen || memcmp(out.data, golden, glen))
            print_error("%s:\n got  %s\n want %s\n", file, out.data, golden);
        assert_int_equal(out.len, glen);
        assert_memory_equal(out.data, golden, glen);
        free(golden);
        wr_buf_free(&out);
    }
    wr_body_free(&b);
    free(body);
}

static void test_golden_cases(void **state)
{
    (void)state;
    tcase cases[64];
    size_t n = load_cases(cases, 64);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++)
        check_case(&cases[i]);
}

/* Every registered codec is reachable by name and has every member set. */
static void test_registry(void **state)
{
    (void)state;
    static const char *const names[] = {
        "bedrock.invoke.anthropic", "bedrock.invoke.nova", "bedrock.invoke.titan",
        "bedrock.invoke.llama", "bedrock.invoke.openai", "bedrock.converse",
        "bedrock.openai_chat", "bedrock.mantle.chat", "bedrock.mantle.responses",
        "bedrock.apply_guardrail", "azure.chat", "azure.responses", "azure.embeddings"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const wr_codec *c = wr_codec_find(names[i]);
        assert_non_null(c);
        assert_string_equal(c->name, names[i]);
        assert_true(c->request && c->response && c->block && c->deny);
    }
    size_t n = 0;
    while (wr_codec_at(n))
        n++;
    assert_int_equal(n, sizeof names / sizeof *names);
    assert_null(wr_codec_find("bedrock.unknown"));
    assert_null(wr_codec_find(NULL));
}

static void test_model_families(void **state)
{
    (void)state;
    static const struct {
        const char *id, *codec;
    } cases[] = {
        {"anthropic.claude-3-haiku-20240307-v1:0", "bedrock.invoke.anthropic"},
        {"eu.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock.invoke.anthropic"},
        {"global.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock.invoke.anthropic"},
        {"apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock.invoke.anthropic"},
        {"us-gov.anthropic.claude-3-haiku-20240307-v1:0", "bedrock.invoke.anthropic"},
        {"amazon.nova-pro-v1:0", "bedrock.invoke.nova"},
        {"us.amazon.nova-lite-v1:0", "bedrock.invoke.nova"},
        {"amazon.titan-text-express-v1", "bedrock.invoke.titan"},
        {"meta.llama3-8b-instruct-v1:0", "bedrock.invoke.llama"},
        {"us.meta.llama3-2-11b-instruct-v1:0", "bedrock.invoke.llama"},
        {"openai.gpt-oss-20b-1:0", "bedrock.invoke.openai"},
        {"arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
         "bedrock.invoke.anthropic"},
        {"arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.meta.llama3-2-3b-instruct-v1:0",
         "bedrock.invoke.llama"},
        {"arn:aws:bedrock:us-east-1::foundation-model/openai.gpt-oss-120b-1:0",
         "bedrock.invoke.openai"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const wr_codec *c = wr_codec_for_bedrock_model(cases[i].id);
        if (!c)
            print_error("%s: no codec\n", cases[i].id);
        assert_non_null(c);
        assert_string_equal(c->name, cases[i].codec);
    }
    static const char *const unknown[] = {
        "amazon.titan-embed-text-v2:0", "cohere.command-r-v1:0", "mistral.mistral-large-2402-v1:0",
        "xx.anthropic.claude", "anthropic", "",
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123",
        "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abcdefghijkl",
        "arn:aws:bedrock:us-east-1::foundation-model"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        assert_null(wr_codec_for_bedrock_model(unknown[i]));
    assert_null(wr_codec_for_bedrock_model(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_model_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
