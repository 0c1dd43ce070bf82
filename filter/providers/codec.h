/*
 * codec.h - provider codecs: request/response bodies <-> text segments, and the bodies
 * weir answers with when it blocks or denies a call. Internal (wr_ prefix, hidden).
 *
 * A body is parsed once (jansson, depth and size limits), a codec lists every place text
 * lives as a segment that borrows the JSON string node, the caller checks each segment,
 * writes redacted text back with wr_body_set, and forwards the original bytes when
 * wr_body_changed is 0 or the compact re-serialisation from wr_body_dump otherwise.
 * Design notes: docs/providers.md.
 */
#ifndef WEIR_PROVIDERS_CODEC_H
#define WEIR_PROVIDERS_CODEC_H

#include <jansson.h>

#include "internal.h"

/** Nesting limit for request and response bodies (brackets, checked before parsing). */
#define WR_BODY_MAX_DEPTH 64

/** What a segment is, for rules and audit. */
typedef enum wr_seg_kind {
    WR_SEG_TEXT = 0,        /**< a message's text (prompt or completion) */
    WR_SEG_TOOL_ARGS = 1,   /**< arguments of a tool call (a JSON string, or a leaf of the input) */
    WR_SEG_TOOL_RESULT = 2, /**< a tool result handed back to the model */
    WR_SEG_SYSTEM = 3       /**< system prompt, instructions, tool descriptions */
} wr_seg_kind;

/** "text", "tool_args", "tool_result" or "system". Static. */
const char *wr_seg_kind_name(wr_seg_kind k);

/** One text to check. Everything is borrowed from the body's JSON tree. */
typedef struct wr_segment {
    const char *text; /**< UTF-8, unescaped, NUL-terminated (may contain NUL: use len) */
    size_t len;
    json_t *node;     /**< the JSON string holding it: writing back is json_string_setn */
    wr_seg_kind kind;
    const char *role; /**< "user", "assistant", "system", "tool", ... or "" */
} wr_segment;

/** A parsed body. Initialise with wr_body_init (or = {0}), release with wr_body_free. */
typedef struct wr_body {
    json_t *root;     /**< owned; a JSON object */
    wr_segment *seg;  /**< in document order */
    size_t nseg, cap;
    int changed;      /**< set by wr_body_set when a text really changed */
    const char *codec;/**< name of the codec that extracted the segments (for errors) */
} wr_body;

void wr_body_init(wr_body *b);
/** Frees the tree and the segments. NULL and an initialised body are fine. */
void wr_body_free(wr_body *b);

/**
 * Parses data[0..len) as a JSON object into b (which must be initialised and empty).
 * Refuses, with a message in err: more than max_bytes (0 = WR_MAX_TEXT) -> WEIR_ELIMIT;
 * nesting deeper than WR_BODY_MAX_DEPTH -> WEIR_ELIMIT; invalid JSON, invalid UTF-8,
 * duplicate keys, integers out of range or a non-object body -> WEIR_EINVAL.
 */
int wr_body_parse(wr_body *b, const char *data, size_t len, size_t max_bytes, weir_error *err);

/** Appends a segment for node when it is a JSON string (anything else is ignored). */
int wr_body_add(wr_body *b, json_t *node, wr_seg_kind kind, const char *role);
/** Appends every string leaf under node (objects and arrays, document order). */
int wr_body_add_leaves(wr_body *b, json_t *node, wr_seg_kind kind, const char *role);

/**
 * Replaces segment i by text[0..len) (valid UTF-8, may contain NUL). Marks the body changed
 * only when the text differs. WEIR_EINVAL for a bad index or invalid UTF-8.
 */
int wr_body_set(wr_body *b, size_t i, const char *text, size_t len);

/** 1 when a segment was replaced by a different text: forward wr_body_dump's output. */
int wr_body_changed(const wr_body *b);

/**
 * Appends the compact JSON of the tree to out (key order preserved, numbers in their
 * shortest round-trip form). Call only when wr_body_changed: a clean body is forwarded as
 * the original bytes.
 */
int wr_body_dump(const wr_body *b, wr_buf *out);

/** Appends the compact JSON of any value (same rules as wr_body_dump). */
int wr_json_dump(const json_t *v, wr_buf *out);
/** Appends s[0..n) as a JSON string literal (quotes included). */
int wr_json_quote(wr_buf *out, const char *s, size_t n);

/** What weir answers with instead of the upstream's answer. */
typedef struct wr_reply {
    int status;               /**< HTTP status */
    const char *content_type; /**< static */
    const char *header_name;  /**< one extra response header, or NULL (static) */
    const char *header_value;
} wr_reply;

/**
 * A codec: one wire format. All members are set; a codec whose operation has no
 * completion text (embeddings) has a response function that adds no segment.
 */
typedef struct wr_codec {
    const char *name;         /**< "bedrock.converse", "azure.chat", ... */
    weir_provider provider;
    /** Lists the segments of a parsed request body (b->root). 0 or WEIR_EINVAL + err. */
    int (*request)(wr_body *b, weir_error *err);
    /** Lists the segments of a parsed (non-streamed, 2xx) response body. */
    int (*response)(wr_body *b, weir_error *err);
    /**
     * The answer to a blocked prompt (dir WEIR_PROMPT) or completion (WEIR_COMPLETION) in
     * the provider's own shape. `message` is shown to the caller, `rule` is the rule id;
     * neither may carry a matched value. Appends the body to out, fills reply.
     */
    int (*block)(wr_buf *out, wr_reply *reply, const char *message, const char *rule,
                 weir_direction dir);
    /**
     * The answer to an access or residency denial: 403 in the provider's error shape.
     * `code` is the reason id ("access.roles", "residency.aws_regions", ...).
     */
    int (*deny)(wr_buf *out, wr_reply *reply, const char *code, const char *message);
} wr_codec;

/** The codec for an operation name, or NULL. Static. */
const wr_codec *wr_codec_find(const char *name);
/** Codec i of the registry (0-based), or NULL past the end: for tests and docs. */
const wr_codec *wr_codec_at(size_t i);

/**
 * The InvokeModel codec for a Bedrock model id (URL-decoded): foundation model ids,
 * cross-region profile ids (us., eu., apac., jp., au., us-gov., ca., global.) and ARNs
 * (foundation-model/..., inference-profile/...). NULL when the family is unknown (the
 * caller refuses the call: weir cannot see the text of a body it does not understand).
 */
const wr_codec *wr_codec_for_bedrock_model(const char *model_id);

/**
 * Parses `data` and lists its segments with codec c for direction dir. On failure b is
 * left freed and err says why.
 */
int wr_codec_load(wr_body *b, const wr_codec *c, weir_direction dir, const char *data,
                  size_t len, size_t max_bytes, weir_error *err);

/**
 * ApplyGuardrail (bedrock.md §7), answered locally. The request's text blocks are the
 * segments of `b` (codec "bedrock.apply_guardrail"); res[i] is the caller's weir_check of
 * segment i (NULL: not checked, counts as allow). Appends the response body to out:
 * action GUARDRAIL_INTERVENED when any result redacts or blocks; outputs carry the
 * redacted texts or the block message; assessments name entity types, rule ids and
 * actions, never a matched value.
 */
int wr_bedrock_guardrail_answer(wr_buf *out, const wr_body *b, weir_result *const *res,
                                size_t nres, weir_error *err);

/**
 * The answer to a blocked prompt on a streamed Bedrock operation (ConverseStream,
 * InvokeModelWithResponseStream): a complete AWS event stream in which the model "says"
 * `message` and stops the way a Bedrock guardrail intervention does (ConverseStream:
 * messageStop with stopReason guardrail_intervened; InvokeModel streams: the family's
 * chunks with amazon-bedrock-guardrailAction INTERVENED). Appends to out.
 * WEIR_EINVAL for a codec without a streamed Bedrock form. (rstream_reply.c)
 */
int wr_stream_block_reply(const wr_codec *c, const char *message, const char *rule,
                          wr_buf *out);

/* ---- helpers shared by the codec files (codec.c) */

/** Fills err with "<codec>: <path>: <what>" and returns WEIR_EINVAL. */
int wr_codec_fail(weir_error *err, const wr_body *b, const char *path, const char *what);

/**
 * Optional member `key` of object o: NULL when absent or JSON null; otherwise it must be of
 * json type `type` (JSON_STRING, JSON_ARRAY, JSON_OBJECT; JSON_TRUE stands for "string or
 * array") or *bad is set to 1.
 */
json_t *wr_member(json_t *o, const char *key, json_type type, int *bad);

/** The role string of a message object, or "" (borrowed). */
const char *wr_role_of(json_t *msg);

/* codec tables defined in the provider files */
extern const wr_codec wr_codec_bedrock_anthropic, wr_codec_bedrock_nova,
    wr_codec_bedrock_titan, wr_codec_bedrock_llama, wr_codec_bedrock_openai,
    wr_codec_bedrock_converse, wr_codec_bedrock_openai_chat, wr_codec_bedrock_mantle_chat,
    wr_codec_bedrock_mantle_responses, wr_codec_bedrock_apply_guardrail, wr_codec_azure_chat,
    wr_codec_azure_responses, wr_codec_azure_embeddings;

/* shared OpenAI shapes (openai.c), used by azure.c and bedrock.c */
int wr_openai_chat_request(wr_body *b, weir_error *err);
int wr_openai_chat_response(wr_body *b, weir_error *err);
int wr_openai_responses_request(wr_body *b, weir_error *err);
int wr_openai_responses_response(wr_body *b, weir_error *err);
int wr_openai_embeddings_request(wr_body *b, weir_error *err);
int wr_openai_no_text(wr_body *b, weir_error *err);
/** A chat.completion whose only choice carries `message`, finish_reason content_filter. */
int wr_openai_chat_filtered(wr_buf *out, const char *message, const char *rule,
                            weir_direction dir);
/** A Responses object, status incomplete, incomplete_details.reason content_filter. */
int wr_openai_responses_filtered(wr_buf *out, const char *message, const char *rule,
                                 weir_direction dir);
/** {"error":{"message","type","param","code","status",<inner>,"weir":{...}}}. */
int wr_openai_error(wr_buf *out, int status, const char *code, const char *type,
                    const char *message, const char *rule, const char *direction,
                    int content_filter_inner);
/** The "weir" member every block/deny body carries: {"rule":...,"direction":...}. */
int wr_weir_member(wr_buf *out, const char *rule, const char *direction);
const char *wr_direction_name(weir_direction dir);

#endif
