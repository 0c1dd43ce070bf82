/*
 * OpenAI body shapes shared by Azure OpenAI and Bedrock's OpenAI-compatible routes:
 * chat completions, the Responses API, embeddings (azure-openai.md §3, §5; bedrock.md §5.5).
 */
#include <string.h>

#include "providers/codec.h"

static wr_seg_kind kind_for_role(const char *role)
{
    if (!strcmp(role, "system") || !strcmp(role, "developer"))
        return WR_SEG_SYSTEM;
    if (!strcmp(role, "tool") || !strcmp(role, "function"))
        return WR_SEG_TOOL_RESULT;
    return WR_SEG_TEXT;
}

/* content: a string, null, or an array of parts; text lives in parts' `text` or `refusal`. */
static int chat_content(wr_body *b, json_t *c, wr_seg_kind kind, const char *role,
                        const char *path, weir_error *err)
{
    if (!c || json_is_null(c))
        return 0;
    if (json_is_string(c))
        return wr_body_add(b, c, kind, role);
    if (!json_is_array(c))
        return wr_codec_fail(err, b, path, "expected a string, an array or null");
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        int bad = 0, rc;
        if (json_is_string(part)) { /* lenient: a bare string part */
            if ((rc = wr_body_add(b, part, kind, role)))
                return rc;
            continue;
        }
        if (!json_is_object(part))
            return wr_codec_fail(err, b, path, "a content part is not an object");
        json_t *t = wr_member(part, "text", JSON_STRING, &bad);
        json_t *r = wr_member(part, "refusal", JSON_STRING, &bad);
        if (bad)
            return wr_codec_fail(err, b, path, "a part's text is not a string");
        if ((rc = wr_body_add(b, t, kind, role)) || (rc = wr_body_add(b, r, kind, role)))
            return rc;
    }
    return 0;
}

/* tool_calls[].function.arguments and the deprecated function_call.arguments */
static int chat_tool_calls(wr_body *b, json_t *msg, const char *role, weir_error *err)
{
    int bad = 0, rc;
    json_t *calls = wr_member(msg, "tool_calls", JSON_ARRAY, &bad);
    json_t *fc = wr_member(msg, "function_call", JSON_OBJECT, &bad);
    if (bad)
        return wr_codec_fail(err, b, "tool_calls", "expected an array (function_call: an object)");
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) {
        json_t *fn = wr_member(call, "function", JSON_OBJECT, &bad);
        json_t *args = wr_member(fn, "arguments", JSON_STRING, &bad);
        if (bad || !json_is_object(call))
            return wr_codec_fail(err, b, "tool_calls[].function.arguments", "expected a string");
        if ((rc = wr_body_add(b, args, WR_SEG_TOOL_ARGS, role)))
            return rc;
    }
    json_t *args = wr_member(fc, "arguments", JSON_STRING, &bad);
    if (bad)
        return wr_codec_fail(err, b, "function_call.arguments", "expected a string");
    return wr_body_add(b, args, WR_SEG_TOOL_ARGS, role);
}

/* tools[].function.description, tools[].description, functions[].description */
static int tool_descriptions(wr_body *b, weir_error *err)
{
    int bad = 0, rc;
    const char *lists[] = {"tools", "functions"};
    for (size_t l = 0; l < 2; l++) {
        json_t *tools = wr_member(b->root, lists[l], JSON_ARRAY, &bad);
        if (bad)
            return wr_codec_fail(err, b, lists[l], "expected an array");
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *fn = json_object_get(t, "function");
            json_t *d1 = json_is_object(fn) ? json_object_get(fn, "description") : NULL;
            if ((rc = wr_body_add(b, d1, WR_SEG_SYSTEM, "tools")) ||
                (rc = wr_body_add(b, json_object_get(t, "description"), WR_SEG_SYSTEM, "tools")))
                return rc;
        }
    }
    return 0;
}

int wr_openai_chat_request(wr_body *b, weir_error *err)
{
    int bad = 0, rc;
    json_t *msgs = wr_member(b->root, "messages", JSON_ARRAY, &bad);
    if (bad || !msgs)
        return wr_codec_fail(err, b, "messages", bad ? "expected an array" : "missing");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m))
            return wr_codec_fail(err, b, "messages[]", "expected an object");
        const char *role = wr_role_of(m);
        if ((rc = chat_content(b, json_object_get(m, "content"), kind_for_role(role), role,
                               "messages[].content", err)) ||
            (rc = chat_tool_calls(b, m, role, err)))
            return rc;
    }
    if ((rc = tool_descriptions(b, err)))
        return rc;
    /* Azure on-your-data: data_sources[].parameters.role_information */
    json_t *ds = wr_member(b->root, "data_sources", JSON_ARRAY, &bad);
    if (bad)
        return wr_codec_fail(err, b, "data_sources", "expected an array");
    json_t *d;
    json_array_foreach(ds, i, d) {
        json_t *p = json_object_get(d, "parameters");
        if (json_is_object(p) &&
            (rc = wr_body_add(b, json_object_get(p, "role_information"), WR_SEG_SYSTEM, "system")))
            return rc;
    }
    return 0;
}

int wr_openai_chat_response(wr_body *b, weir_error *err)
{
    int bad = 0, rc;
    json_t *choices = wr_member(b->root, "choices", JSON_ARRAY, &bad);
    if (bad || !choices)
        return wr_codec_fail(err, b, "choices", bad ? "expected an array" : "missing");
    size_t i;
    json_t *c;
    json_array_foreach(choices, i, c) {
        json_t *msg = wr_member(c, "message", JSON_OBJECT, &bad);
        if (bad || !json_is_object(c))
            return wr_codec_fail(err, b, "choices[].message", "expected an object");
        if (!msg)
            continue;
        const char *role = wr_role_of(msg);
        if (!*role)
            role = "assistant";
        if ((rc = chat_content(b, json_object_get(msg, "content"), WR_SEG_TEXT, role,
                               "choices[].message.content", err)) ||
            (rc = wr_body_add(b, json_object_get(msg, "refusal"), WR_SEG_TEXT, role)) ||
            (rc = chat_tool_calls(b, msg, role, err)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ Responses API */

/* One input or output item of the Responses API. */
static int responses_item(wr_body *b, json_t *it, const char *path, weir_error *err)
{
    int bad = 0, rc;
    if (!json_is_object(it))
        return wr_codec_fail(err, b, path, "an item is not an object");
    const char *type = json_string_value(json_object_get(it, "type"));
    const char *role = wr_role_of(it);
    if (!type || !strcmp(type, "message")) {
        if (!*role && type)
            role = "assistant";
        return chat_content(b, json_object_get(it, "content"), kind_for_role(role), role,
                            path, err);
    }
    if (!strcmp(type, "function_call") || !strcmp(type, "custom_tool_call")) {
        json_t *a = wr_member(it, "arguments", JSON_STRING, &bad);
        json_t *in = wr_member(it, "input", JSON_STRING, &bad);
        if (bad)
            return wr_codec_fail(err, b, path, "tool call arguments are not a string");
        if ((rc = wr_body_add(b, a, WR_SEG_TOOL_ARGS, "assistant")))
            return rc;
        return wr_body_add(b, in, WR_SEG_TOOL_ARGS, "assistant");
    }
    if (!strcmp(type, "function_call_output") || !strcmp(type, "custom_tool_call_output"))
        return chat_content(b, json_object_get(it, "output"), WR_SEG_TOOL_RESULT, "tool", path,
                            err);
    if (!strcmp(type, "reasoning")) {
        json_t *sum = wr_member(it, "summary", JSON_ARRAY, &bad);
        if (bad)
            return wr_codec_fail(err, b, path, "reasoning summary is not an array");
        return chat_content(b, sum, WR_SEG_TEXT, "assistant", path, err);
    }
    return 0; /* images, files, item references, web search calls: no text of ours */
}

static int responses_items(wr_body *b, json_t *items, const char *path, weir_error *err)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        int rc = responses_item(b, it, path, err);
        if (rc)
            return rc;
    }
    return 0;
}

int wr_openai_responses_request(wr_body *b, weir_error *err)
{
    int bad = 0, rc;
    json_t *ins = wr_member(b->root, "instructions", JSON_TRUE, &bad);
    json_t *input = wr_member(b->root, "input", JSON_TRUE, &bad);
    if (bad)
        return wr_codec_fail(err, b, "input", "expected a string or an array");
    if (json_is_string(ins))
        rc = wr_body_add(b, ins, WR_SEG_SYSTEM, "system");
    else
        rc = responses_items(b, ins, "instructions[]", err);
    if (rc)
        return rc;
    if (json_is_string(input))
        rc = wr_body_add(b, input, WR_SEG_TEXT, "user");
    else
        rc = responses_items(b, input, "input[]", err);
    if (rc)
        return rc;
    return tool_descriptions(b, err);
}

int wr_openai_responses_response(wr_body *b, weir_error *err)
{
    int bad = 0;
    json_t *out = wr_member(b->root, "output", JSON_ARRAY, &bad);
    if (bad || !out)
        return wr_codec_fail(err, b, "output", bad ? "expected an array" : "missing");
    int rc = responses_items(b, out, "output[]", err);
    if (rc)
        return rc;
    /* output_text: an SDK convenience, but forwarded when a server fills it */
    return wr_body_add(b, json_object_get(b->root, "output_text"), WR_SEG_TEXT, "assistant");
}

/* ------------------------------------------------------------------ embeddings */

int wr_openai_embeddings_request(wr_body *b, weir_error *err)
{
    json_t *in = json_object_get(b->root, "input");
    if (!in)
        return wr_codec_fail(err, b, "input", "missing");
    if (json_is_string(in))
        return wr_body_add(b, in, WR_SEG_TEXT, "user");
    if (!json_is_array(in))
        return wr_codec_fail(err, b, "input", "expected a string or an array");
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v) {
        int rc;
        if (json_is_string(v)) {
            if ((rc = wr_body_add(b, v, WR_SEG_TEXT, "user")))
                return rc;
        } else if (!json_is_integer(v) && !json_is_array(v)) {
            /* token ids (integers, arrays of integers) carry no text we can read */
            return wr_codec_fail(err, b, "input[]", "expected strings or token arrays");
        }
    }
    return 0;
}

int wr_openai_no_text(wr_body *b, weir_error *err)
{
    (void)b;
    (void)err;
    return 0;
}

/* ------------------------------------------------------------------ answers */

int wr_openai_chat_filtered(wr_buf *out, const char *message, const char *rule,
                            weir_direction dir)
{
    wr_buf_puts(out, "{\"id\":\"chatcmpl-weir\",\"object\":\"chat.completion\",\"created\":0,"
                     "\"model\":\"\",\"choices\":[{\"index\":0,\"finish_reason\":\"content_filter\","
                     "\"logprobs\":null,\"message\":{\"role\":\"assistant\",\"content\":");
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, ",\"refusal\":null}}],\"usage\":{\"prompt_tokens\":0,"
                     "\"completion_tokens\":0,\"total_tokens\":0},");
    wr_weir_member(out, rule, wr_direction_name(dir));
    return wr_buf_puts(out, "}");
}

int wr_openai_responses_filtered(wr_buf *out, const char *message, const char *rule,
                                 weir_direction dir)
{
    wr_buf_puts(out, "{\"id\":\"resp_weir\",\"object\":\"response\",\"created_at\":0,"
                     "\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"content_filter\"},"
                     "\"error\":null,\"model\":\"\",\"output\":[{\"type\":\"message\",\"id\":\"msg_weir\","
                     "\"status\":\"incomplete\",\"role\":\"assistant\",\"content\":[{\"type\":"
                     "\"output_text\",\"text\":");
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, ",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":0,\"output_tokens\":0,"
                     "\"total_tokens\":0,\"input_tokens_details\":{\"cached_tokens\":0},"
                     "\"output_tokens_details\":{\"reasoning_tokens\":0}},");
    wr_weir_member(out, rule, wr_direction_name(dir));
    return wr_buf_puts(out, "}");
}

int wr_openai_error(wr_buf *out, int status, const char *code, const char *type,
                    const char *message, const char *rule, const char *direction,
                    int content_filter_inner)
{
    wr_buf_puts(out, "{\"error\":{\"message\":");
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, ",\"type\":");
    if (type)
        wr_json_quote(out, type, strlen(type));
    else
        wr_buf_puts(out, "null");
    wr_buf_printf(out, ",\"param\":%s,\"code\":", content_filter_inner ? "\"prompt\"" : "null");
    wr_json_quote(out, code, strlen(code));
    wr_buf_printf(out, ",\"status\":%d,", status);
    if (content_filter_inner)
        wr_buf_puts(out, "\"innererror\":{\"code\":\"ResponsibleAIPolicyViolation\","
                         "\"content_filter_result\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},"
                         "\"jailbreak\":{\"filtered\":false,\"detected\":false},"
                         "\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"},"
                         "\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},"
                         "\"violence\":{\"filtered\":false,\"severity\":\"safe\"},"
                         "\"custom_blocklists\":{\"filtered\":true,\"details\":[{\"filtered\":true,\"id\":");
    if (content_filter_inner) {
        wr_json_quote(out, rule ? rule : "", rule ? strlen(rule) : 0);
        wr_buf_puts(out, "}]}}},");
    }
    wr_weir_member(out, rule, direction);
    return wr_buf_puts(out, "}}");
}
