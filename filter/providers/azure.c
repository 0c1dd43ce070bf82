/*
 * Azure OpenAI codecs (azure-openai.md §3-§6): chat completions (deployments and v1
 * paths share the body), the Responses API, embeddings. Bodies are the OpenAI shapes of
 * openai.c; what is Azure's own is how a block or a denial is answered.
 */
#include <string.h>

#include "providers/codec.h"

/* A blocked prompt: HTTP 400, error.code content_filter, innererror ResponsibleAIPolicyViolation. */
static int prompt_filtered(wr_buf *out, wr_reply *r, const char *message, const char *rule)
{
    r->status = 400;
    r->content_type = "application/json";
    r->header_name = r->header_value = NULL;
    return wr_openai_error(out, 400, "content_filter", NULL, message, rule, "prompt", 1);
}

static int chat_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                      weir_direction dir)
{
    if (dir != WEIR_COMPLETION)
        return prompt_filtered(out, r, message, rule);
    r->status = 200;
    r->content_type = "application/json";
    r->header_name = r->header_value = NULL;
    return wr_openai_chat_filtered(out, message, rule, dir);
}

static int responses_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                           weir_direction dir)
{
    if (dir != WEIR_COMPLETION)
        return prompt_filtered(out, r, message, rule);
    r->status = 200;
    r->content_type = "application/json";
    r->header_name = r->header_value = NULL;
    return wr_openai_responses_filtered(out, message, rule, dir);
}

static int embeddings_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                            weir_direction dir)
{
    (void)dir; /* embeddings have no completion text: any block is about the input */
    return prompt_filtered(out, r, message, rule);
}

/* Access and residency denials: 403 PermissionDenied, as Azure RBAC answers. */
static int azure_deny(wr_buf *out, wr_reply *r, const char *code, const char *message)
{
    r->status = 403;
    r->content_type = "application/json";
    r->header_name = r->header_value = NULL;
    return wr_openai_error(out, 403, "PermissionDenied", NULL, message, code, NULL, 0);
}

const wr_codec wr_codec_azure_chat = {
    "azure.chat", WEIR_PROVIDER_AZURE, wr_openai_chat_request, wr_openai_chat_response,
    chat_block, azure_deny};

const wr_codec wr_codec_azure_responses = {
    "azure.responses", WEIR_PROVIDER_AZURE, wr_openai_responses_request,
    wr_openai_responses_response, responses_block, azure_deny};

const wr_codec wr_codec_azure_embeddings = {
    "azure.embeddings", WEIR_PROVIDER_AZURE, wr_openai_embeddings_request, wr_openai_no_text,
    embeddings_block, azure_deny};
