/* test_routes.c - request targets to operations and codecs, per upstream kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sidecar/routes.h"

typedef struct route_case {
    wr_up_kind kind;
    const char *method, *target;
    int status;          /* 0 or the refusal */
    wr_op op;
    const char *codec;   /* expected codec name when status 0 */
    int stream;
    const char *model;   /* decoded model / deployment from the path */
} route_case;

static const route_case cases[] = {
    {WR_KIND_BEDROCK, "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke", 0,
     WR_OP_INVOKE, "bedrock.invoke.anthropic", 0, "anthropic.claude-3-haiku-20240307-v1:0"},
    {WR_KIND_BEDROCK, "POST", "/model/eu.anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke-with-response-stream",
     0, WR_OP_INVOKE_STREAM, "bedrock.invoke.anthropic", 1, "eu.anthropic.claude-3-5-sonnet-20240620-v1:0"},
    {WR_KIND_BEDROCK, "POST", "/model/amazon.nova-pro-v1%3A0/converse", 0, WR_OP_CONVERSE,
     "bedrock.converse", 0, "amazon.nova-pro-v1:0"},
    {WR_KIND_BEDROCK, "POST", "/model/amazon.nova-pro-v1%3A0/converse-stream", 0,
     WR_OP_CONVERSE_STREAM, "bedrock.converse", 1, "amazon.nova-pro-v1:0"},
    {WR_KIND_BEDROCK, "POST",
     "/model/arn%3Aaws%3Abedrock%3Aeu-central-1%3A111122223333%3Ainference-profile%2Feu.amazon.nova-lite-v1%3A0/converse",
     0, WR_OP_CONVERSE, "bedrock.converse", 0,
     "arn:aws:bedrock:eu-central-1:111122223333:inference-profile/eu.amazon.nova-lite-v1:0"},
    {WR_KIND_BEDROCK, "POST", "/model/meta.llama3-8b-instruct-v1%3A0/invoke", 0, WR_OP_INVOKE,
     "bedrock.invoke.llama", 0, "meta.llama3-8b-instruct-v1:0"},
    {WR_KIND_BEDROCK, "POST", "/guardrail/abc123/version/1/apply", 0, WR_OP_APPLY_GUARDRAIL,
     "bedrock.apply_guardrail", 0, ""},
    {WR_KIND_BEDROCK, "POST", "/openai/v1/chat/completions", 0, WR_OP_CHAT,
     "bedrock.openai_chat", 0, ""},
    {WR_KIND_BEDROCK, "POST", "/v1/chat/completions", 0, WR_OP_CHAT, "bedrock.openai_chat", 0, ""},
    /* refusals: unknown family (weir cannot read the body), unknown ops, methods, encoding */
    {WR_KIND_BEDROCK, "POST", "/model/acme.secret-model-v1/invoke", 400, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "/model/anthropic.claude-v2/count-tokens", 404, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "/model/anthropic.claude-v2/invoke/extra", 404, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "/async-invoke", 404, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "GET", "/model/amazon.nova-pro-v1%3A0/converse", 405, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "/model/amazon.nova%ZZ/converse", 400, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "/model/amazon.nova%00x/converse", 400, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "/model/x%2/converse", 400, 0, NULL, 0, NULL},
    {WR_KIND_BEDROCK, "POST", "model/x/converse", 400, 0, NULL, 0, NULL},
    /* Mantle */
    {WR_KIND_BEDROCK_MANTLE, "POST", "/v1/chat/completions", 0, WR_OP_CHAT,
     "bedrock.mantle.chat", 0, ""},
    {WR_KIND_BEDROCK_MANTLE, "POST", "/openai/v1/responses", 0, WR_OP_RESPONSES,
     "bedrock.mantle.responses", 0, ""},
    {WR_KIND_BEDROCK_MANTLE, "POST", "/v1/embeddings", 404, 0, NULL, 0, NULL},
    /* Azure */
    {WR_KIND_AZURE, "POST", "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
     0, WR_OP_CHAT, "azure.chat", 0, "gpt-4o"},
    {WR_KIND_AZURE, "POST", "/openai/deployments/emb%20large/embeddings?api-version=2024-10-21",
     0, WR_OP_EMBEDDINGS, "azure.embeddings", 0, "emb large"},
    {WR_KIND_AZURE, "POST", "/openai/v1/chat/completions", 0, WR_OP_CHAT, "azure.chat", 0, ""},
    {WR_KIND_AZURE, "POST", "/openai/v1/responses", 0, WR_OP_RESPONSES, "azure.responses", 0, ""},
    {WR_KIND_AZURE, "POST", "/openai/responses?api-version=2025-03-01-preview", 0,
     WR_OP_RESPONSES, "azure.responses", 0, ""},
    {WR_KIND_AZURE, "POST", "/openai/deployments/gpt-4o/images/generations?api-version=x", 404,
     0, NULL, 0, NULL},
    {WR_KIND_AZURE, "POST", "/openai/deployments//chat/completions", 400, 0, NULL, 0, NULL},
    {WR_KIND_AZURE, "POST", "/model/amazon.nova-pro-v1%3A0/converse", 404, 0, NULL, 0, NULL},
    {WR_KIND_AZURE, "DELETE", "/openai/v1/responses", 405, 0, NULL, 0, NULL},
};

static void test_route_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const route_case *c = &cases[i];
        wr_route r;
        weir_error err = {0};
        int st = wr_route_match(&r, c->kind, c->method, c->target, &err);
        if (st != c->status)
            fail_msg("%s %s: status %d, want %d (%s)", c->method, c->target, st, c->status,
                     err.text);
        if (st) {
            assert_true(err.text[0] != 0); /* every refusal says why */
            continue;
        }
        assert_int_equal(r.op, c->op);
        assert_string_equal(r.codec->name, c->codec);
        assert_int_equal(r.stream, c->stream);
        assert_string_equal(r.model, c->model);
    }
}

static void test_model_from_body(void **state)
{
    (void)state;
    wr_route r;
    weir_error err = {0};
    assert_int_equal(wr_route_match(&r, WR_KIND_AZURE, "POST", "/openai/v1/chat/completions", &err), 0);
    json_t *b = json_loads("{\"model\":\"my-gpt4o\",\"stream\":true,\"messages\":[]}", 0, NULL);
    assert_int_equal(wr_route_from_body(&r, b, &err), 0);
    assert_string_equal(r.model, "my-gpt4o");
    assert_string_equal(r.deployment, "my-gpt4o");
    assert_int_equal(r.stream, 1);
    json_decref(b);

    assert_int_equal(wr_route_match(&r, WR_KIND_AZURE, "POST", "/openai/v1/responses", &err), 0);
    b = json_loads("{\"input\":\"hi\"}", 0, NULL);
    assert_int_equal(wr_route_from_body(&r, b, &err), 400); /* no model: refused */
    json_decref(b);
    b = json_loads("{\"model\":\"x\",\"stream\":\"yes\"}", 0, NULL);
    assert_int_equal(wr_route_from_body(&r, b, &err), 400);
    json_decref(b);

    /* the path decides streaming for Bedrock; a body's stream flag cannot turn it off */
    assert_int_equal(wr_route_match(&r, WR_KIND_BEDROCK, "POST",
                                    "/model/amazon.nova-pro-v1%3A0/converse-stream", &err), 0);
    b = json_loads("{\"stream\":false,\"messages\":[]}", 0, NULL);
    assert_int_equal(wr_route_from_body(&r, b, &err), 0);
    assert_int_equal(r.stream, 1);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),
        cmocka_unit_test(test_model_from_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
