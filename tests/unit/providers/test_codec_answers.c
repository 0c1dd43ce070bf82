/*
 * Block and deny bodies: valid JSON with the fields the SDKs read, the rule id, never a
 * matched value; ApplyGuardrail answered from real weir_check results.
 */
#include "helpers.h"

static const char *MSG = "Blocked by policy rule card-numbers";

static json_t *block(const char *codec, weir_direction dir, wr_reply *r)
{
    const wr_codec *c = wr_codec_find(codec);
    assert_non_null(c);
    wr_buf out;
    wr_buf_init(&out);
    memset(r, 0, sizeof *r);
    assert_int_equal(c->block(&out, r, MSG, "card-numbers", dir), 0);
    assert_non_null(r->content_type);
    json_t *v = parse_json(out.data, out.len);
    assert_non_null(strstr(out.data, "card-numbers"));
    wr_buf_free(&out);
    return v;
}

static void test_converse_block(void **state)
{
    (void)state;
    wr_reply r;
    for (int d = WEIR_PROMPT; d <= WEIR_COMPLETION; d++) {
        json_t *v = block("bedrock.converse", (weir_direction)d, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(at_str(v, "stopReason"), "guardrail_intervened");
        assert_string_equal(at_str(v, "output.message.role"), "assistant");
        assert_string_equal(at_str(v, "output.message.content.0.text"), MSG);
        assert_true(json_is_integer(at(v, "usage.inputTokens")));
        assert_true(json_is_integer(at(v, "usage.outputTokens")));
        assert_true(json_is_integer(at(v, "usage.totalTokens")));
        assert_true(json_is_integer(at(v, "metrics.latencyMs")));
        assert_string_equal(at_str(v, "weir.rule"), "card-numbers");
        assert_non_null(at_str(v, "trace.guardrail.actionReason"));
        json_decref(v);
    }
}

static void test_invoke_blocks(void **state)
{
    (void)state;
    wr_reply r;
    json_t *v = block("bedrock.invoke.anthropic", WEIR_PROMPT, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(at_str(v, "type"), "message");
    assert_string_equal(at_str(v, "content.0.type"), "text");
    assert_string_equal(at_str(v, "content.0.text"), MSG);
    assert_non_null(at_str(v, "stop_reason"));
    assert_string_equal(at_str(v, "amazon-bedrock-guardrailAction"), "INTERVENED");
    json_decref(v);

    v = block("bedrock.invoke.nova", WEIR_COMPLETION, &r);
    assert_string_equal(at_str(v, "output.message.content.0.text"), MSG);
    assert_string_equal(at_str(v, "stopReason"), "guardrail_intervened");
    assert_string_equal(at_str(v, "amazon-bedrock-guardrailAction"), "INTERVENED");
    json_decref(v);

    v = block("bedrock.invoke.titan", WEIR_PROMPT, &r);
    assert_string_equal(at_str(v, "results.0.outputText"), MSG);
    assert_string_equal(at_str(v, "results.0.completionReason"), "CONTENT_FILTERED");
    json_decref(v);

    v = block("bedrock.invoke.llama", WEIR_PROMPT, &r);
    assert_string_equal(at_str(v, "generation"), MSG);
    assert_string_equal(at_str(v, "amazon-bedrock-guardrailAction"), "INTERVENED");
    json_decref(v);

    static const char *const chats[] = {"bedrock.invoke.openai", "bedrock.openai_chat",
                                        "bedrock.mantle.chat"};
    for (size_t i = 0; i < 3; i++) {
        v = block(chats[i], WEIR_PROMPT, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(at_str(v, "object"), "chat.completion");
        assert_string_equal(at_str(v, "choices.0.finish_reason"), "content_filter");
        assert_string_equal(at_str(v, "choices.0.message.content"), MSG);
        json_decref(v);
    }
    v = block("bedrock.mantle.responses", WEIR_COMPLETION, &r);
    assert_string_equal(at_str(v, "status"), "incomplete");
    assert_string_equal(at_str(v, "incomplete_details.reason"), "content_filter");
    assert_string_equal(at_str(v, "output.0.content.0.text"), MSG);
    json_decref(v);

    v = block("bedrock.apply_guardrail", WEIR_PROMPT, &r);
    assert_string_equal(at_str(v, "action"), "GUARDRAIL_INTERVENED");
    assert_string_equal(at_str(v, "outputs.0.text"), MSG);
    assert_true(json_is_array(at(v, "assessments")));
    assert_true(json_is_object(at(v, "usage")));
    json_decref(v);
}

static void test_azure_blocks(void **state)
{
    (void)state;
    wr_reply r;
    static const char *const codecs[] = {"azure.chat", "azure.responses", "azure.embeddings"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = block(codecs[i], WEIR_PROMPT, &r);
        assert_int_equal(r.status, 400);
        assert_string_equal(at_str(v, "error.code"), "content_filter");
        assert_string_equal(at_str(v, "error.message"), MSG);
        assert_string_equal(at_str(v, "error.param"), "prompt");
        assert_int_equal(json_integer_value(at(v, "error.status")), 400);
        assert_string_equal(at_str(v, "error.innererror.code"), "ResponsibleAIPolicyViolation");
        assert_true(json_is_object(at(v, "error.innererror.content_filter_result")));
        assert_string_equal(at_str(v, "error.weir.rule"), "card-numbers");
        json_decref(v);
    }
    json_t *v = block("azure.chat", WEIR_COMPLETION, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(at_str(v, "choices.0.finish_reason"), "content_filter");
    assert_string_equal(at_str(v, "choices.0.message.role"), "assistant");
    assert_true(json_is_object(at(v, "usage")));
    json_decref(v);
    v = block("azure.responses", WEIR_COMPLETION, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(at_str(v, "object"), "response");
    assert_string_equal(at_str(v, "incomplete_details.reason"), "content_filter");
    json_decref(v);
}

static void test_deny(void **state)
{
    (void)state;
    for (size_t i = 0; wr_codec_at(i); i++) {
        const wr_codec *c = wr_codec_at(i);
        wr_buf out;
        wr_buf_init(&out);
        wr_reply r = {0};
        assert_int_equal(c->deny(&out, &r, "residency.aws_regions",
                                 "Region us-east-1 is not allowed by policy \"eu\""), 0);
        assert_int_equal(r.status, 403);
        json_t *v = parse_json(out.data, out.len);
        if (c->provider == WEIR_PROVIDER_BEDROCK) {
            assert_string_equal(r.header_name, "x-amzn-ErrorType");
            assert_string_equal(r.header_value, "AccessDeniedException");
            assert_string_equal(at_str(v, "message") ? at_str(v, "message")
                                                     : at_str(v, "error.message"),
                                "Region us-east-1 is not allowed by policy \"eu\"");
        } else {
            assert_null(r.header_name);
            assert_string_equal(at_str(v, "error.code"), "PermissionDenied");
            assert_string_equal(at_str(v, "error.message"),
                                "Region us-east-1 is not allowed by policy \"eu\"");
        }
        assert_non_null(strstr(out.data, "\"rule\":\"residency.aws_regions\""));
        json_decref(v);
        wr_buf_free(&out);
    }
}

/* Messages with quotes, newlines and control bytes stay valid JSON. */
static void test_block_escaping(void **state)
{
    (void)state;
    const char *msg = "say \"no\"\n\ttab \\ \x01 é";
    for (size_t i = 0; wr_codec_at(i); i++) {
        wr_buf out;
        wr_buf_init(&out);
        wr_reply r;
        assert_int_equal(wr_codec_at(i)->block(&out, &r, msg, "r\"1", WEIR_COMPLETION), 0);
        json_t *v = parse_json(out.data, out.len);
        json_decref(v);
        wr_buf_free(&out);
    }
}

static weir_policy *load(const char *yaml)
{
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_buffer(&p, yaml, strlen(yaml), "t.yaml", &err), 0);
    return p;
}

static json_t *guardrail(const char *policy, const char *request, const char *secret)
{
    weir_policy *p = load(policy);
    wr_body b;
    weir_error err = {0};
    assert_int_equal(wr_codec_load(&b, wr_codec_find("bedrock.apply_guardrail"), WEIR_PROMPT,
                                   request, strlen(request), 0, &err),
                     0);
    weir_result *res[8] = {0};
    assert_true(b.nseg <= 8);
    for (size_t i = 0; i < b.nseg; i++)
        assert_int_equal(weir_check(&res[i], p, NULL, b.seg[i].text, b.seg[i].len, NULL), 0);
    wr_buf out;
    wr_buf_init(&out);
    assert_int_equal(wr_bedrock_guardrail_answer(&out, &b, res, b.nseg, &err), 0);
    if (secret)
        assert_null(strstr(out.data, secret)); /* never the matched value */
    json_t *v = parse_json(out.data, out.len);
    for (size_t i = 0; i < b.nseg; i++)
        weir_result_free(res[i]);
    wr_buf_free(&out);
    wr_body_free(&b);
    weir_policy_unref(p);
    return v;
}

static void test_apply_guardrail(void **state)
{
    (void)state;
    const char *req = "{\"source\":\"INPUT\",\"content\":[{\"text\":{\"text\":\"mail sue@example.com\"}},"
                      "{\"text\":{\"text\":\"nothing here\"}}],\"outputScope\":\"INTERVENTIONS\"}";
    json_t *v = guardrail("weir: 1\nname: g\nrules:\n  - id: pii-email\n    detect: email\n"
                          "    action: redact\n",
                          req, "sue@example.com");
    assert_string_equal(at_str(v, "action"), "GUARDRAIL_INTERVENED");
    assert_int_equal(json_array_size(at(v, "outputs")), 2);
    assert_string_equal(at_str(v, "outputs.0.text"), "mail [EMAIL]");
    assert_string_equal(at_str(v, "outputs.1.text"), "nothing here");
    assert_string_equal(at_str(v, "assessments.0.sensitiveInformationPolicy.piiEntities.0.type"), "EMAIL");
    assert_string_equal(at_str(v, "assessments.0.sensitiveInformationPolicy.piiEntities.0.action"), "ANONYMIZED");
    assert_null(at(v, "assessments.0.sensitiveInformationPolicy.piiEntities.0.match"));
    assert_int_equal(json_integer_value(at(v, "guardrailCoverage.textCharacters.total")), 32);
    assert_true(json_is_object(at(v, "usage")));
    json_decref(v);

    v = guardrail("weir: 1\nname: g\nrules:\n  - id: codename\n    detect: { regex: 'Falcon' }\n"
                  "    action: block\n    message: No codenames\n",
                  "{\"source\":\"OUTPUT\",\"content\":[{\"text\":{\"text\":\"Project Falcon\"}}]}",
                  "Falcon");
    assert_string_equal(at_str(v, "action"), "GUARDRAIL_INTERVENED");
    assert_int_equal(strncmp(at_str(v, "outputs.0.text"), "No codenames", 12), 0);
    assert_string_equal(at_str(v, "assessments.0.sensitiveInformationPolicy.regexes.0.name"), "codename");
    assert_string_equal(at_str(v, "assessments.0.sensitiveInformationPolicy.regexes.0.action"), "BLOCKED");
    json_decref(v);

    v = guardrail("weir: 1\nname: g\nrules:\n  - id: pii-email\n    detect: email\n    action: redact\n",
                  "{\"source\":\"INPUT\",\"content\":[{\"text\":{\"text\":\"hello\"}}]}", NULL);
    assert_string_equal(at_str(v, "action"), "NONE");
    assert_int_equal(json_array_size(at(v, "outputs")), 0);
    assert_null(at(v, "assessments.0.sensitiveInformationPolicy"));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converse_block), cmocka_unit_test(test_invoke_blocks),
        cmocka_unit_test(test_azure_blocks),   cmocka_unit_test(test_deny),
        cmocka_unit_test(test_block_escaping), cmocka_unit_test(test_apply_guardrail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
