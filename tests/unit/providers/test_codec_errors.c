/* Malformed, too deep, too large and wrongly typed bodies: a clear error, no crash, no leak. */
#include "helpers.h"

static int load_err(const char *codec, weir_direction dir, const char *body, size_t max,
                    weir_error *err)
{
    wr_body b;
    memset(err, 0, sizeof *err);
    int rc = wr_codec_load(&b, wr_codec_find(codec), dir, body, strlen(body), max, err);
    if (rc == 0)
        wr_body_free(&b);
    else
        assert_null(b.root); /* nothing kept */
    return rc;
}

static void expect(const char *codec, weir_direction dir, const char *body, int code,
                   const char *needle)
{
    weir_error err;
    int rc = load_err(codec, dir, body, 0, &err);
    if (rc != code || !strstr(err.text, needle))
        print_error("%s %s: rc %d, err '%s' (want %d, '%s')\n", codec, body, rc, err.text, code,
                    needle);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.text, needle));
    assert_non_null(strstr(err.text, codec)); /* the codec is named */
}

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; wr_codec_at(i); i++) {
        const char *name = wr_codec_at(i)->name;
        expect(name, WEIR_PROMPT, "", WEIR_EINVAL, "invalid JSON");
        expect(name, WEIR_PROMPT, "{\"messages\":[", WEIR_EINVAL, "invalid JSON");
        expect(name, WEIR_PROMPT, "[1,2]", WEIR_EINVAL, "expected a JSON object");
        expect(name, WEIR_COMPLETION, "\"text\"", WEIR_EINVAL, "invalid JSON");
        expect(name, WEIR_PROMPT, "{\"a\":1,\"a\":2}", WEIR_EINVAL, "duplicate");
        expect(name, WEIR_PROMPT, "{\"a\":\"\xff\"}", WEIR_EINVAL, "invalid JSON");
        expect(name, WEIR_PROMPT, "{\"a\":1} x", WEIR_EINVAL, "invalid JSON");
    }
}

static void test_limits(void **state)
{
    (void)state;
    char deep[300];
    size_t n = 0;
    deep[n++] = '{';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ':';
    for (int i = 0; i < 64; i++)
        deep[n++] = '[';
    for (int i = 0; i < 64; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    expect("bedrock.converse", WEIR_PROMPT, deep, WEIR_ELIMIT, "deeper than 64");
    /* 63 levels inside the object: accepted as JSON (then refused for lack of messages) */
    memmove(deep + 5, deep + 6, strlen(deep + 6) + 1);
    memmove(deep + 5 + 63, deep + 5 + 64, strlen(deep + 5 + 64) + 1);
    expect("bedrock.converse", WEIR_PROMPT, deep, WEIR_EINVAL, "messages: missing");
    /* brackets inside strings do not count */
    expect("azure.chat", WEIR_PROMPT,
           "{\"messages\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
           WEIR_EINVAL, "messages: expected an array");
    weir_error err;
    assert_int_equal(load_err("azure.chat", WEIR_PROMPT, "{\"messages\":[]}", 10, &err), WEIR_ELIMIT);
    assert_non_null(strstr(err.text, "over the limit"));
    assert_int_equal(load_err("azure.chat", WEIR_PROMPT, "{\"messages\":[]}", 15, &err), 0);
    expect("azure.chat", WEIR_PROMPT, "{\"messages\":[],\"n\":123456789012345678901234567890}",
           WEIR_EINVAL, "invalid JSON");
}

static void test_wrong_types(void **state)
{
    (void)state;
    static const struct {
        const char *codec;
        weir_direction dir;
        const char *body, *needle;
    } cases[] = {
        {"bedrock.converse", WEIR_PROMPT, "{}", "messages: missing"},
        {"bedrock.converse", WEIR_PROMPT, "{\"messages\":{}}", "expected an array"},
        {"bedrock.converse", WEIR_PROMPT, "{\"messages\":[1]}", "messages[]: expected an object"},
        {"bedrock.converse", WEIR_PROMPT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         "expected an array of content blocks"},
        {"bedrock.converse", WEIR_PROMPT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":5}]}]}",
         "text is not a string"},
        {"bedrock.converse", WEIR_PROMPT, "{\"system\":\"x\",\"messages\":[]}", "expected an array"},
        {"bedrock.converse", WEIR_PROMPT,
         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"toolResult\":{\"content\":\"x\"}}]}]}",
         "toolResult.content"},
        {"bedrock.converse", WEIR_COMPLETION, "{\"output\":{}}", "output.message: missing"},
        {"bedrock.converse", WEIR_COMPLETION, "{\"output\":[]}", "expected an object"},
        {"bedrock.invoke.anthropic", WEIR_PROMPT, "{\"messages\":[{\"content\":5}]}",
         "expected a string or an array"},
        {"bedrock.invoke.anthropic", WEIR_PROMPT, "{\"messages\":[{\"content\":[{\"text\":\"x\"}]}]}",
         "no type"},
        {"bedrock.invoke.anthropic", WEIR_PROMPT, "{\"system\":7,\"messages\":[]}", "system"},
        {"bedrock.invoke.anthropic", WEIR_COMPLETION, "{\"content\":\"x\"}", "content: expected an array"},
        {"bedrock.invoke.titan", WEIR_PROMPT, "{\"inputText\":[\"x\"]}", "inputText: expected a string"},
        {"bedrock.invoke.titan", WEIR_COMPLETION, "{\"results\":[{\"outputText\":1}]}", "outputText"},
        {"bedrock.invoke.llama", WEIR_PROMPT, "{}", "prompt: missing"},
        {"bedrock.invoke.llama", WEIR_COMPLETION, "{\"generation\":null}", "generation"},
        {"bedrock.invoke.nova", WEIR_PROMPT, "{\"messages\":[{\"content\":[\"x\"]}]}", "not an object"},
        {"azure.chat", WEIR_PROMPT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
         "expected a string, an array or null"},
        {"azure.chat", WEIR_PROMPT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":[]}]}]}",
         "not a string"},
        {"azure.chat", WEIR_PROMPT,
         "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"arguments\":{}}}]}]}",
         "arguments"},
        {"azure.chat", WEIR_PROMPT, "{\"messages\":[],\"tools\":{}}", "tools"},
        {"azure.chat", WEIR_COMPLETION, "{\"id\":\"x\"}", "choices: missing"},
        {"azure.chat", WEIR_COMPLETION, "{\"choices\":[{\"message\":\"x\"}]}", "choices[].message"},
        {"azure.responses", WEIR_PROMPT, "{\"input\":5}", "expected a string or an array"},
        {"azure.responses", WEIR_PROMPT, "{\"input\":[5]}", "not an object"},
        {"azure.responses", WEIR_PROMPT, "{\"input\":[{\"type\":\"function_call\",\"arguments\":{}}]}",
         "not a string"},
        {"azure.responses", WEIR_COMPLETION, "{\"status\":\"completed\"}", "output: missing"},
        {"azure.embeddings", WEIR_PROMPT, "{\"input\":{\"a\":1}}", "expected a string or an array"},
        {"azure.embeddings", WEIR_PROMPT, "{\"input\":[\"a\",{}]}", "expected strings or token arrays"},
        {"azure.embeddings", WEIR_PROMPT, "{}", "input: missing"},
        {"bedrock.apply_guardrail", WEIR_PROMPT, "{\"content\":[]}", "missing"},
        {"bedrock.apply_guardrail", WEIR_PROMPT,
         "{\"source\":\"INPUT\",\"content\":[{\"text\":{\"text\":1}}]}", "content[].text.text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect(cases[i].codec, cases[i].dir, cases[i].body, WEIR_EINVAL, cases[i].needle);
    /* token-id inputs and a null content are fine */
    weir_error err;
    assert_int_equal(load_err("azure.embeddings", WEIR_PROMPT, "{\"input\":[[1,2],[3]]}", 0, &err), 0);
    assert_int_equal(load_err("azure.chat", WEIR_PROMPT,
                              "{\"messages\":[{\"role\":\"assistant\",\"content\":null}]}", 0, &err), 0);
}

static void test_set_and_args(void **state)
{
    (void)state;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}";
    wr_body b;
    weir_error err = {0};
    assert_int_equal(wr_codec_load(&b, &wr_codec_azure_chat, WEIR_PROMPT, body, strlen(body), 0, &err), 0);
    assert_int_equal(b.nseg, 1);
    assert_int_equal(b.seg[0].len, 3); /* NUL kept, length-delimited */
    assert_int_equal(wr_body_set(&b, 1, "x", 1), WEIR_EINVAL);
    assert_int_equal(wr_body_set(&b, 0, "\xc3\x28", 2), WEIR_EINVAL); /* invalid UTF-8 */
    assert_int_equal(wr_body_changed(&b), 0);
    assert_int_equal(wr_body_set(&b, 0, "x\0y\n", 4), 0);
    wr_buf out;
    wr_buf_init(&out);
    assert_int_equal(wr_body_dump(&b, &out), 0);
    assert_string_equal(out.data, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\\u0000y\\n\"}]}");
    wr_buf_free(&out);
    wr_body_free(&b);
    wr_body_free(&b); /* twice is fine */
    wr_body_free(NULL);
    assert_int_equal(wr_codec_load(&b, NULL, WEIR_PROMPT, "{}", 2, 0, &err), WEIR_EINVAL);
    /* numbers survive a dump in shortest round-trip form */
    body = "{\"messages\":[],\"t\":0.1,\"u\":1e300,\"v\":-0.0,\"w\":100,\"x\":2.5e-7,\"y\":-9223372036854775808}";
    assert_int_equal(wr_codec_load(&b, &wr_codec_azure_chat, WEIR_PROMPT, body, strlen(body), 0, &err), 0);
    wr_buf_init(&out);
    assert_int_equal(wr_body_dump(&b, &out), 0);
    assert_string_equal(out.data, "{\"messages\":[],\"t\":0.1,\"u\":1e+300,\"v\":-0.0,\"w\":100,"
                                  "\"x\":2.5e-07,\"y\":-9223372036854775808}");
    wr_buf_free(&out);
    wr_body_free(&b);
}

/* Every prefix of every golden input: an error or a body, never a crash or a leak. */
static void test_truncations(void **state)
{
    (void)state;
    static const char *const files[] = {"converse.request.json", "chat.request.json",
                                        "anthropic.request.json", "responses.request.json"};
    for (size_t f = 0; f < 4; f++) {
        size_t len;
        char *body = read_data(files[f], &len);
        for (size_t i = 0; wr_codec_at(i); i++)
            for (size_t cut = 0; cut <= len; cut += 7) {
                wr_body b;
                weir_error err = {0};
                if (wr_codec_load(&b, wr_codec_at(i), WEIR_PROMPT, body, cut, 0, &err) == 0)
                    wr_body_free(&b);
                else
                    assert_true(err.text[0] != '\0');
            }
        free(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_wrong_types),  cmocka_unit_test(test_set_and_args),
        cmocka_unit_test(test_truncations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
