/*
 * rstream_reply.c - a blocked prompt on a streamed Bedrock operation, answered as a
 * complete event stream in the shape of a Bedrock guardrail intervention (codec.h).
 */
#include <string.h>

#include <openssl/evp.h>

#include "providers/codec.h"
#include "providers/eventstream.h"

/* One `event` frame: :event-type name, :content-type application/json, payload json. */
static int event(wr_buf *out, const char *type, const char *json, size_t len)
{
    wr_es_header h[3] = {wr_es_header_string(":event-type", type),
                         wr_es_header_string(":content-type", "application/json"),
                         wr_es_header_string(":message-type", "event")};
    return wr_es_encode(out, h, 3, json, len);
}

/* An InvokeModelWithResponseStream `chunk` whose bytes are the model chunk `json`. */
static int chunk(wr_buf *out, const wr_buf *json)
{
    size_t n = json->len;
    wr_buf p;
    wr_buf_init(&p);
    if (wr_buf_reserve(&p, 4 * ((n + 2) / 3) + 16) != 0)
        return WEIR_ENOMEM;
    wr_buf_puts(&p, "{\"bytes\":\"");
    int w = EVP_EncodeBlock((unsigned char *)p.data + p.len, (const unsigned char *)json->data,
                            (int)n);
    p.len += (size_t)w;
    wr_buf_puts(&p, "\"}");
    int rc = p.oom ? WEIR_ENOMEM : event(out, "chunk", p.data, p.len);
    wr_buf_free(&p);
    return rc;
}

static void q(wr_buf *b, const char *s) { wr_json_quote(b, s, strlen(s)); }

#define INTERVENED "\"amazon-bedrock-guardrailAction\":\"INTERVENED\""

static int converse(const char *message, wr_buf *out)
{
    wr_buf j;
    wr_buf_init(&j);
    int rc = event(out, "messageStart", "{\"role\":\"assistant\"}", 20);
    wr_buf_puts(&j, "{\"contentBlockIndex\":0,\"delta\":{\"text\":");
    q(&j, message);
    wr_buf_puts(&j, "}}");
    if (!rc)
        rc = j.oom ? WEIR_ENOMEM : event(out, "contentBlockDelta", j.data, j.len);
    if (!rc)
        rc = event(out, "contentBlockStop", "{\"contentBlockIndex\":0}", 23);
    static const char stop[] = "{\"stopReason\":\"guardrail_intervened\"}";
    if (!rc)
        rc = event(out, "messageStop", stop, sizeof stop - 1);
    static const char meta[] = "{\"usage\":{\"inputTokens\":0,\"outputTokens\":0,\"totalTokens\":0},"
                               "\"metrics\":{\"latencyMs\":0}}";
    if (!rc)
        rc = event(out, "metadata", meta, sizeof meta - 1);
    wr_buf_free(&j);
    return rc;
}

/* Each family's chunks, one JSON object per element, written into chunk events. */
static int invoke(const wr_codec *c, const char *message, wr_buf *out)
{
    const char *name = c->name;
    wr_buf j;
    wr_buf_init(&j);
    int rc = 0;
#define EMIT()                                                                    \
    do {                                                                          \
        if (!rc)                                                                  \
            rc = j.oom ? WEIR_ENOMEM : chunk(out, &j);                            \
        j.len = 0;                                                                \
    } while (0)
    if (strcmp(name, "bedrock.invoke.anthropic") == 0) {
        wr_buf_puts(&j, "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_weir\",\"type\":"
                        "\"message\",\"role\":\"assistant\",\"model\":\"\",\"content\":[],"
                        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
                        "\"output_tokens\":0}}}");
        EMIT();
        wr_buf_puts(&j, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                        "{\"type\":\"text\",\"text\":\"\"}}");
        EMIT();
        wr_buf_puts(&j, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                        "\"text_delta\",\"text\":");
        q(&j, message);
        wr_buf_puts(&j, "}}");
        EMIT();
        wr_buf_puts(&j, "{\"type\":\"content_block_stop\",\"index\":0}");
        EMIT();
        /* as the non-streamed answer (bedrock.c): Anthropic's own stop reason, with
           Bedrock's intervention flag beside it */
        wr_buf_puts(&j, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                        "\"end_turn\",\"stop_sequence\":null},\"usage\":"
                        "{\"output_tokens\":0}," INTERVENED "}");
        EMIT();
        wr_buf_puts(&j, "{\"type\":\"message_stop\"}");
        EMIT();
    } else if (strcmp(name, "bedrock.invoke.nova") == 0) {
        wr_buf_puts(&j, "{\"messageStart\":{\"role\":\"assistant\"}}");
        EMIT();
        wr_buf_puts(&j, "{\"contentBlockDelta\":{\"delta\":{\"text\":");
        q(&j, message);
        wr_buf_puts(&j, "},\"contentBlockIndex\":0}}");
        EMIT();
        wr_buf_puts(&j, "{\"contentBlockStop\":{\"contentBlockIndex\":0}}");
        EMIT();
        wr_buf_puts(&j, "{\"messageStop\":{\"stopReason\":\"guardrail_intervened\"}," INTERVENED "}");
        EMIT();
    } else if (strcmp(name, "bedrock.invoke.titan") == 0) {
        wr_buf_puts(&j, "{\"outputText\":");
        q(&j, message);
        wr_buf_puts(&j, ",\"index\":0,\"totalOutputTextTokenCount\":0,\"completionReason\":"
                        "\"CONTENT_FILTERED\",\"inputTextTokenCount\":0," INTERVENED "}");
        EMIT();
    } else if (strcmp(name, "bedrock.invoke.llama") == 0) {
        wr_buf_puts(&j, "{\"generation\":");
        q(&j, message);
        wr_buf_puts(&j, ",\"prompt_token_count\":0,\"generation_token_count\":0,"
                        "\"stop_reason\":\"guardrail_intervened\"," INTERVENED "}");
        EMIT();
    } else if (strcmp(name, "bedrock.invoke.openai") == 0) {
        wr_buf_puts(&j, "{\"id\":\"chatcmpl-weir\",\"object\":\"chat.completion.chunk\","
                        "\"created\":0,\"model\":\"\",\"choices\":[{\"index\":0,\"delta\":"
                        "{\"role\":\"assistant\",\"content\":");
        q(&j, message);
        wr_buf_puts(&j, "},\"finish_reason\":\"content_filter\"}]," INTERVENED "}");
        EMIT();
    } else {
        rc = WEIR_EINVAL;
    }
#undef EMIT
    wr_buf_free(&j);
    return rc;
}

int wr_stream_block_reply(const wr_codec *c, const char *message, const char *rule,
                          wr_buf *out)
{
    (void)rule;
    if (!c || !message || !out)
        return WEIR_EINVAL;
    if (strcmp(c->name, "bedrock.converse") == 0)
        return converse(message, out);
    if (strncmp(c->name, "bedrock.invoke.", 15) == 0)
        return invoke(c, message, out);
    return WEIR_EINVAL;
}
