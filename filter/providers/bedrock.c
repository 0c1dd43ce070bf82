/*
 * Amazon Bedrock Runtime codecs (bedrock.md §3-§8): InvokeModel per model family,
 * Converse, the OpenAI-compatible routes (runtime and Mantle), ApplyGuardrail.
 */
#include <string.h>

#include "providers/codec.h"

#define FAIL(path, what) wr_codec_fail(err, b, path, what)

/* ------------------------------------------------------------------ Converse content */

/* toolResult.content[]: text, json (every string leaf), document.source.text */
static int converse_tool_result(wr_body *b, json_t *tr, const char *role, weir_error *err)
{
    int bad = 0, rc;
    json_t *content = wr_member(tr, "content", JSON_ARRAY, &bad);
    if (bad || !json_is_object(tr))
        return FAIL("toolResult.content", "expected an array");
    size_t i;
    json_t *c;
    json_array_foreach(content, i, c) {
        if (!json_is_object(c))
            return FAIL("toolResult.content[]", "expected an object");
        json_t *t = wr_member(c, "text", JSON_STRING, &bad);
        if (bad)
            return FAIL("toolResult.content[].text", "expected a string");
        json_t *doc = json_object_get(c, "document"), *src = json_object_get(doc, "source");
        if ((rc = wr_body_add(b, t, WR_SEG_TOOL_RESULT, role)) ||
            (rc = wr_body_add_leaves(b, json_object_get(c, "json"), WR_SEG_TOOL_RESULT, role)) ||
            (rc = wr_body_add(b, json_object_get(src, "text"), WR_SEG_TOOL_RESULT, role)))
            return rc;
    }
    return 0;
}

/* A Converse (and Nova) ContentBlock / SystemContentBlock array. */
static int converse_blocks(wr_body *b, json_t *content, wr_seg_kind kind, const char *role,
                           const char *path, weir_error *err)
{
    if (!content)
        return 0;
    if (!json_is_array(content))
        return FAIL(path, "expected an array of content blocks");
    size_t i;
    json_t *blk;
    json_array_foreach(content, i, blk) {
        int bad = 0, rc;
        if (!json_is_object(blk))
            return FAIL(path, "a content block is not an object");
        json_t *text = wr_member(blk, "text", JSON_STRING, &bad);
        if (bad)
            return FAIL(path, "a block's text is not a string");
        json_t *gc = json_object_get(json_object_get(blk, "guardContent"), "text");
        json_t *tu = json_object_get(blk, "toolUse");
        json_t *tr = json_object_get(blk, "toolResult");
        json_t *doc = json_object_get(json_object_get(blk, "document"), "source");
        json_t *rsn = json_object_get(json_object_get(blk, "reasoningContent"), "reasoningText");
        json_t *cit = json_object_get(json_object_get(blk, "citationsContent"), "content");
        if ((rc = wr_body_add(b, text, kind, role)) ||
            (rc = wr_body_add(b, json_object_get(gc, "text"), kind, role)) ||
            (rc = wr_body_add(b, json_object_get(doc, "text"), kind, role)) ||
            (rc = wr_body_add(b, json_object_get(rsn, "text"), WR_SEG_TEXT, role)))
            return rc;
        if (tu && (rc = wr_body_add_leaves(b, json_object_get(tu, "input"), WR_SEG_TOOL_ARGS, role)))
            return rc;
        if (tr && (rc = converse_tool_result(b, tr, role, err)))
            return rc;
        size_t j;
        json_t *cc;
        json_array_foreach(cit, j, cc) {
            if ((rc = wr_body_add(b, json_object_get(cc, "text"), kind, role)))
                return rc;
        }
    }
    return 0;
}

static int converse_messages(wr_body *b, weir_error *err)
{
    int bad = 0, rc;
    json_t *sys = wr_member(b->root, "system", JSON_ARRAY, &bad);
    json_t *msgs = wr_member(b->root, "messages", JSON_ARRAY, &bad);
    if (bad || !msgs)
        return FAIL(bad ? "system/messages" : "messages", bad ? "expected an array" : "missing");
    if ((rc = converse_blocks(b, sys, WR_SEG_SYSTEM, "system", "system", err)))
        return rc;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m))
            return FAIL("messages[]", "expected an object");
        json_t *content = json_object_get(m, "content");
        if (!content)
            return FAIL("messages[].content", "missing");
        if ((rc = converse_blocks(b, content, WR_SEG_TEXT, wr_role_of(m), "messages[].content", err)))
            return rc;
    }
    return 0;
}

static int converse_request(wr_body *b, weir_error *err)
{
    int bad = 0, rc = converse_messages(b, err);
    if (rc)
        return rc;
    json_t *tc = wr_member(b->root, "toolConfig", JSON_OBJECT, &bad);
    json_t *tools = wr_member(tc, "tools", JSON_ARRAY, &bad);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *spec = json_object_get(t, "toolSpec");
        if ((rc = wr_body_add(b, json_object_get(spec, "description"), WR_SEG_SYSTEM, "tools")))
            return rc;
    }
    /* free-form fields that may carry text */
    json_t *pv = wr_member(b->root, "promptVariables", JSON_OBJECT, &bad);
    json_t *amrf = wr_member(b->root, "additionalModelRequestFields", JSON_OBJECT, &bad);
    if (bad)
        return FAIL("promptVariables/additionalModelRequestFields", "expected an object");
    for (void *it = json_object_iter(pv); it; it = json_object_iter_next(pv, it))
        if ((rc = wr_body_add(b, json_object_get(json_object_iter_value(it), "text"), WR_SEG_TEXT,
                              "user")))
            return rc;
    return wr_body_add_leaves(b, amrf, WR_SEG_TEXT, "");
}

/* output.message.content[] (Converse and Nova responses) */
static int output_message(wr_body *b, weir_error *err)
{
    int bad = 0;
    json_t *out = wr_member(b->root, "output", JSON_OBJECT, &bad);
    json_t *msg = wr_member(out, "message", JSON_OBJECT, &bad);
    if (bad || !msg)
        return FAIL("output.message", bad ? "expected an object" : "missing");
    const char *role = wr_role_of(msg);
    return converse_blocks(b, json_object_get(msg, "content"), WR_SEG_TEXT,
                           *role ? role : "assistant", "output.message.content", err);
}

static int nova_request(wr_body *b, weir_error *err)
{
    return converse_messages(b, err);
}

/* ------------------------------------------------------------------ Anthropic Messages */

static int anthropic_content(wr_body *b, json_t *c, wr_seg_kind kind, const char *role,
                             const char *path, weir_error *err)
{
    if (!c || json_is_null(c))
        return 0;
    if (json_is_string(c))
        return wr_body_add(b, c, kind, role);
    if (!json_is_array(c))
        return FAIL(path, "expected a string or an array of content blocks");
    size_t i;
    json_t *blk;
    json_array_foreach(c, i, blk) {
        int bad = 0, rc = 0;
        if (!json_is_object(blk))
            return FAIL(path, "a content block is not an object");
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (!type)
            return FAIL(path, "a content block has no type");
        if (!strcmp(type, "text")) {
            json_t *t = wr_member(blk, "text", JSON_STRING, &bad);
            rc = bad ? FAIL(path, "a text block's text is not a string") : wr_body_add(b, t, kind, role);
        } else if (!strcmp(type, "tool_use") || !strcmp(type, "server_tool_use")) {
            rc = wr_body_add_leaves(b, json_object_get(blk, "input"), WR_SEG_TOOL_ARGS, role);
        } else if (!strcmp(type, "tool_result")) {
            rc = anthropic_content(b, json_object_get(blk, "content"), WR_SEG_TOOL_RESULT, role,
                                   "tool_result.content", err);
        } else if (!strcmp(type, "thinking")) {
            rc = wr_body_add(b, json_object_get(blk, "thinking"), WR_SEG_TEXT, role);
        } else if (!strcmp(type, "document")) {
            json_t *src = json_object_get(blk, "source");
            const char *st = json_string_value(json_object_get(src, "type"));
            if (st && !strcmp(st, "text"))
                rc = wr_body_add(b, json_object_get(src, "data"), kind, role);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int anthropic_request(wr_body *b, weir_error *err)
{
    int bad = 0, rc;
    json_t *msgs = wr_member(b->root, "messages", JSON_ARRAY, &bad);
    if (bad || !msgs)
        return FAIL("messages", bad ? "expected an array" : "missing");
    if ((rc = anthropic_content(b, json_object_get(b->root, "system"), WR_SEG_SYSTEM, "system",
                                "system", err)))
        return rc;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m))
            return FAIL("messages[]", "expected an object");
        if ((rc = anthropic_content(b, json_object_get(m, "content"), WR_SEG_TEXT, wr_role_of(m),
                                    "messages[].content", err)))
            return rc;
    }
    json_t *tools = wr_member(b->root, "tools", JSON_ARRAY, &bad);
    if (bad)
        return FAIL("tools", "expected an array");
    json_t *t;
    json_array_foreach(tools, i, t) {
        if ((rc = wr_body_add(b, json_object_get(t, "description"), WR_SEG_SYSTEM, "tools")))
            return rc;
    }
    return 0;
}

static int anthropic_response(wr_body *b, weir_error *err)
{
    int bad = 0;
    json_t *c = wr_member(b->root, "content", JSON_ARRAY, &bad);
    if (bad || !c)
        return FAIL("content", bad ? "expected an array" : "missing");
    return anthropic_content(b, c, WR_SEG_TEXT, "assistant", "content", err);
}

/* ------------------------------------------------------------------ Titan, Llama */

static int required_string(wr_body *b, const char *key, const char *role, weir_error *err)
{
    json_t *v = json_object_get(b->root, key);
    if (!json_is_string(v))
        return FAIL(key, v ? "expected a string" : "missing");
    return wr_body_add(b, v, WR_SEG_TEXT, role);
}

static int titan_request(wr_body *b, weir_error *err)
{
    return required_string(b, "inputText", "user", err);
}

static int titan_response(wr_body *b, weir_error *err)
{
    int bad = 0;
    json_t *res = wr_member(b->root, "results", JSON_ARRAY, &bad);
    if (bad || !res)
        return FAIL("results", bad ? "expected an array" : "missing");
    size_t i;
    json_t *r;
    json_array_foreach(res, i, r) {
        json_t *t = wr_member(r, "outputText", JSON_STRING, &bad);
        if (bad || !json_is_object(r))
            return FAIL("results[].outputText", "expected a string");
        int rc = wr_body_add(b, t, WR_SEG_TEXT, "assistant");
        if (rc)
            return rc;
    }
    return 0;
}

static int llama_request(wr_body *b, weir_error *err)
{
    return required_string(b, "prompt", "user", err);
}

static int llama_response(wr_body *b, weir_error *err)
{
    return required_string(b, "generation", "assistant", err);
}

/* Appends "weir: rule RULE WHAT" as a JSON string. */
static int reason(wr_buf *out, const char *rule, const char *what)
{
    wr_buf t;
    wr_buf_init(&t);
    wr_buf_printf(&t, "weir: rule %s %s", rule ? rule : "", what);
    int rc = t.oom ? WEIR_ENOMEM : wr_json_quote(out, t.data, t.len);
    wr_buf_free(&t);
    return rc;
}

/* ------------------------------------------------------------------ ApplyGuardrail */

static int guardrail_request(wr_body *b, weir_error *err)
{
    int bad = 0;
    json_t *src = wr_member(b->root, "source", JSON_STRING, &bad);
    json_t *content = wr_member(b->root, "content", JSON_ARRAY, &bad);
    if (bad || !src || !content)
        return FAIL("source/content", bad ? "wrong type" : "missing");
    const char *s = json_string_value(src);
    const char *role = !strcmp(s, "OUTPUT") ? "assistant" : "user";
    size_t i;
    json_t *c;
    json_array_foreach(content, i, c) {
        if (!json_is_object(c))
            return FAIL("content[]", "expected an object");
        json_t *t = wr_member(c, "text", JSON_OBJECT, &bad);
        json_t *tt = wr_member(t, "text", JSON_STRING, &bad);
        if (bad)
            return FAIL("content[].text.text", "expected a string");
        int rc = wr_body_add(b, tt, WR_SEG_TEXT, role);
        if (rc)
            return rc;
    }
    return 0;
}

static int guardrail_response(wr_body *b, weir_error *err)
{
    int bad = 0;
    json_t *outs = wr_member(b->root, "outputs", JSON_ARRAY, &bad);
    if (bad)
        return FAIL("outputs", "expected an array");
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o) {
        int rc = wr_body_add(b, json_object_get(o, "text"), WR_SEG_TEXT, "assistant");
        if (rc)
            return rc;
    }
    return 0;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static const char *pii_action(const weir_finding *f)
{
    if (f->monitor)
        return "NONE";
    return f->action == WEIR_BLOCK ? "BLOCKED" : f->action == WEIR_REDACT ? "ANONYMIZED" : "NONE";
}

int wr_bedrock_guardrail_answer(wr_buf *out, const wr_body *b, weir_result *const *res,
                                size_t nres, weir_error *err)
{
    if (!out || !b || !b->root || (nres && !res))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "ApplyGuardrail: invalid arguments");
    weir_action worst = WEIR_ALLOW;
    const weir_result *decider = NULL;
    size_t chars = 0;
    for (size_t i = 0; i < b->nseg; i++)
        chars += utf8_chars(b->seg[i].text, b->seg[i].len);
    for (size_t i = 0; i < nres && i < b->nseg; i++) {
        if (res[i] && weir_result_action(res[i]) > worst) {
            worst = weir_result_action(res[i]);
            decider = res[i];
        }
    }
    int intervened = worst >= WEIR_REDACT;
    const weir_finding *dec = decider ? weir_result_decisive(decider) : NULL;
    wr_buf_printf(out, "{\"action\":\"%s\",\"actionReason\":",
                  intervened ? "GUARDRAIL_INTERVENED" : "NONE");
    if (intervened) {
        reason(out, dec ? dec->rule : NULL,
               worst == WEIR_BLOCK ? "blocked the content" : "masked the content");
    } else {
        wr_buf_puts(out, "\"No action.\"");
    }
    wr_buf_puts(out, ",\"outputs\":[");
    if (worst == WEIR_BLOCK) {
        const char *m = weir_result_message(decider);
        if (!m)
            m = "Blocked by policy.";
        wr_buf_puts(out, "{\"text\":");
        wr_json_quote(out, m, strlen(m));
        wr_buf_puts(out, "}");
    } else if (worst == WEIR_REDACT) {
        for (size_t i = 0; i < b->nseg; i++) {
            size_t len = b->seg[i].len;
            const char *t = i < nres && res[i] ? weir_result_text(res[i], &len) : NULL;
            if (!t) {
                t = b->seg[i].text;
                len = b->seg[i].len;
            }
            wr_buf_puts(out, i ? ",{\"text\":" : "{\"text\":");
            wr_json_quote(out, t, len);
            wr_buf_puts(out, "}");
        }
    }
    wr_buf_puts(out, "],\"assessments\":[{");
    /* sensitiveInformationPolicy: entity types and rule ids with actions, never a match */
    int pii = 0, rx = 0;
    wr_buf piis, rxs;
    wr_buf_init(&piis);
    wr_buf_init(&rxs);
    for (size_t i = 0; i < nres && i < b->nseg; i++) {
        size_t n = res[i] ? weir_result_finding_count(res[i]) : 0;
        for (size_t j = 0; j < n; j++) {
            const weir_finding *f = weir_result_finding(res[i], j);
            if (!f || f->kind != WEIR_FINDING_CONTENT)
                continue;
            /* builtin detectors map to Bedrock PII types; policy regexes to `regexes` */
            int custom = !f->entity || !*f->entity || (f->detector && !strcmp(f->detector, "regex"));
            if (!custom) {
                wr_buf_puts(&piis, pii++ ? ",{\"type\":" : "{\"type\":");
                wr_json_quote(&piis, f->entity, strlen(f->entity));
                wr_buf_printf(&piis, ",\"action\":\"%s\",\"detected\":true}", pii_action(f));
            } else {
                const char *rule = f->rule ? f->rule : "";
                wr_buf_puts(&rxs, rx++ ? ",{\"name\":" : "{\"name\":");
                wr_json_quote(&rxs, rule, strlen(rule));
                wr_buf_printf(&rxs, ",\"action\":\"%s\",\"detected\":true}", pii_action(f));
            }
        }
    }
    if (pii || rx) {
        wr_buf_puts(out, "\"sensitiveInformationPolicy\":{\"piiEntities\":[");
        if (pii)
            wr_buf_append(out, piis.data, piis.len);
        wr_buf_puts(out, "],\"regexes\":[");
        if (rx)
            wr_buf_append(out, rxs.data, rxs.len);
        wr_buf_puts(out, "]},");
    }
    int oom = piis.oom || rxs.oom;
    wr_buf_free(&piis);
    wr_buf_free(&rxs);
    size_t units = (chars + 999) / 1000;
    wr_buf_printf(out,
                  "\"invocationMetrics\":{\"guardrailProcessingLatency\":0,\"usage\":{"
                  "\"topicPolicyUnits\":0,\"contentPolicyUnits\":0,\"wordPolicyUnits\":0,"
                  "\"sensitiveInformationPolicyUnits\":%zu,\"sensitiveInformationPolicyFreeUnits\":0,"
                  "\"contextualGroundingPolicyUnits\":0},\"guardrailCoverage\":{\"textCharacters\":"
                  "{\"guarded\":%zu,\"total\":%zu}}}}],",
                  units, chars, chars);
    wr_buf_printf(out,
                  "\"usage\":{\"topicPolicyUnits\":0,\"contentPolicyUnits\":0,\"wordPolicyUnits\":0,"
                  "\"sensitiveInformationPolicyUnits\":%zu,\"sensitiveInformationPolicyFreeUnits\":0,"
                  "\"contextualGroundingPolicyUnits\":0},\"guardrailCoverage\":{\"textCharacters\":"
                  "{\"guarded\":%zu,\"total\":%zu}},",
                  units, chars, chars);
    wr_weir_member(out, dec ? dec->rule : "", NULL);
    wr_buf_puts(out, "}");
    if (oom || out->oom)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "ApplyGuardrail: out of memory");
    return 0;
}

/* ------------------------------------------------------------------ answers */

static void reply_json(wr_reply *r, int status)
{
    r->status = status;
    r->content_type = "application/json";
    r->header_name = r->header_value = NULL;
}

/* The AWS error shape: x-amzn-ErrorType names the exception, body {"message":...}. */
static int bedrock_deny(wr_buf *out, wr_reply *r, const char *code, const char *message)
{
    reply_json(r, 403);
    r->header_name = "x-amzn-ErrorType";
    r->header_value = "AccessDeniedException";
    wr_buf_puts(out, "{\"message\":");
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, ",");
    wr_weir_member(out, code, NULL);
    return wr_buf_puts(out, "}");
}

/* OpenAI-shaped routes on Bedrock: the AWS header for AWS tooling, an OpenAI error body. */
static int bedrock_openai_deny(wr_buf *out, wr_reply *r, const char *code, const char *message)
{
    reply_json(r, 403);
    r->header_name = "x-amzn-ErrorType";
    r->header_value = "AccessDeniedException";
    return wr_openai_error(out, 403, "AccessDeniedException", "AccessDeniedException", message,
                           code, NULL, 0);
}

/* Guardrail interventions answer 200 with the block message as the model's text. */
#define INTERVENED "\"amazon-bedrock-guardrailAction\":\"INTERVENED\","

static int converse_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                          weir_direction dir)
{
    reply_json(r, 200);
    wr_buf_puts(out, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":");
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, "}]}},\"stopReason\":\"guardrail_intervened\",\"usage\":{\"inputTokens\":0,"
                     "\"outputTokens\":0,\"totalTokens\":0},\"metrics\":{\"latencyMs\":0},"
                     "\"trace\":{\"guardrail\":{\"actionReason\":");
    reason(out, rule, dir == WEIR_COMPLETION ? "blocked the completion" : "blocked the prompt");
    wr_buf_puts(out, "}},");
    wr_weir_member(out, rule, wr_direction_name(dir));
    return wr_buf_puts(out, "}");
}

/* A 200 answer whose text is `message`: head, the message as a JSON string, tail, then
 * weir's own member and the closing brace. */
static int filtered_body(wr_buf *out, wr_reply *r, const char *head, const char *message,
                         const char *tail, const char *rule, weir_direction dir)
{
    reply_json(r, 200);
    wr_buf_puts(out, head);
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, tail);
    wr_weir_member(out, rule, wr_direction_name(dir));
    return wr_buf_puts(out, "}");
}

static int nova_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                      weir_direction dir)
{
    return filtered_body(out, r,
                         "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":",
                         message,
                         "}]}},\"stopReason\":\"guardrail_intervened\",\"usage\":{\"inputTokens\":0,"
                         "\"outputTokens\":0,\"totalTokens\":0}," INTERVENED,
                         rule, dir);
}

static int anthropic_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                           weir_direction dir)
{
    return filtered_body(out, r,
                         "{\"id\":\"msg_weir\",\"type\":\"message\",\"role\":\"assistant\","
                         "\"model\":\"\",\"content\":[{\"type\":\"text\",\"text\":",
                         message,
                         "}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":"
                         "{\"input_tokens\":0,\"output_tokens\":0}," INTERVENED,
                         rule, dir);
}

static int titan_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                       weir_direction dir)
{
    return filtered_body(out, r,
                         "{\"inputTextTokenCount\":0,\"results\":[{\"tokenCount\":0,\"outputText\":",
                         message, ",\"completionReason\":\"CONTENT_FILTERED\"}]," INTERVENED,
                         rule, dir);
}

static int llama_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                       weir_direction dir)
{
    return filtered_body(out, r, "{\"generation\":", message,
                         ",\"prompt_token_count\":0,\"generation_token_count\":0,"
                         "\"stop_reason\":\"stop\"," INTERVENED,
                         rule, dir);
}

static int chat_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                      weir_direction dir)
{
    reply_json(r, 200);
    return wr_openai_chat_filtered(out, message, rule, dir);
}

static int responses_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                           weir_direction dir)
{
    reply_json(r, 200);
    return wr_openai_responses_filtered(out, message, rule, dir);
}

static int guardrail_block(wr_buf *out, wr_reply *r, const char *message, const char *rule,
                           weir_direction dir)
{
    (void)dir;
    reply_json(r, 200);
    wr_buf_puts(out, "{\"action\":\"GUARDRAIL_INTERVENED\",\"actionReason\":");
    reason(out, rule, "blocked the content");
    wr_buf_puts(out, ",\"outputs\":[{\"text\":");
    wr_json_quote(out, message, strlen(message));
    wr_buf_puts(out, "}],\"assessments\":[],\"usage\":{\"topicPolicyUnits\":0,"
                     "\"contentPolicyUnits\":0,\"wordPolicyUnits\":0,"
                     "\"sensitiveInformationPolicyUnits\":0,\"sensitiveInformationPolicyFreeUnits\":0,"
                     "\"contextualGroundingPolicyUnits\":0},");
    wr_weir_member(out, rule, NULL);
    return wr_buf_puts(out, "}");
}

/* ------------------------------------------------------------------ tables */

const wr_codec wr_codec_bedrock_anthropic = {
    "bedrock.invoke.anthropic", WEIR_PROVIDER_BEDROCK, anthropic_request, anthropic_response,
    anthropic_block, bedrock_deny};
const wr_codec wr_codec_bedrock_nova = {
    "bedrock.invoke.nova", WEIR_PROVIDER_BEDROCK, nova_request, output_message, nova_block,
    bedrock_deny};
const wr_codec wr_codec_bedrock_titan = {
    "bedrock.invoke.titan", WEIR_PROVIDER_BEDROCK, titan_request, titan_response, titan_block,
    bedrock_deny};
const wr_codec wr_codec_bedrock_llama = {
    "bedrock.invoke.llama", WEIR_PROVIDER_BEDROCK, llama_request, llama_response, llama_block,
    bedrock_deny};
const wr_codec wr_codec_bedrock_openai = {
    "bedrock.invoke.openai", WEIR_PROVIDER_BEDROCK, wr_openai_chat_request,
    wr_openai_chat_response, chat_block, bedrock_deny};
const wr_codec wr_codec_bedrock_converse = {
    "bedrock.converse", WEIR_PROVIDER_BEDROCK, converse_request, output_message, converse_block,
    bedrock_deny};
const wr_codec wr_codec_bedrock_openai_chat = {
    "bedrock.openai_chat", WEIR_PROVIDER_BEDROCK, wr_openai_chat_request,
    wr_openai_chat_response, chat_block, bedrock_openai_deny};
const wr_codec wr_codec_bedrock_mantle_chat = {
    "bedrock.mantle.chat", WEIR_PROVIDER_BEDROCK, wr_openai_chat_request,
    wr_openai_chat_response, chat_block, bedrock_openai_deny};
const wr_codec wr_codec_bedrock_mantle_responses = {
    "bedrock.mantle.responses", WEIR_PROVIDER_BEDROCK, wr_openai_responses_request,
    wr_openai_responses_response, responses_block, bedrock_openai_deny};
const wr_codec wr_codec_bedrock_apply_guardrail = {
    "bedrock.apply_guardrail", WEIR_PROVIDER_BEDROCK, guardrail_request, guardrail_response,
    guardrail_block, bedrock_deny};
