/*
 * rstream.h - streamed completions through the gate: decode the upstream's stream (AWS
 * event-stream or SSE), check every text delta with weir_stream (one per content block /
 * choice / tool call / output item, so text is continuous where the model's text is),
 * re-encode what may be released as valid frames, and end the stream the provider's way
 * when the policy blocks. Internal (wr_ prefix).
 *
 * Text is held back only as far as a possible match still needs (weir_stream's partial
 * matching); everything else (metadata, usage, stop events) is forwarded in order, after the
 * held text of its block has been released. The bytes sent to the client do not depend on
 * how the upstream's bytes were split into reads.
 *
 * Supported codecs (wr_codec names): bedrock.invoke.{anthropic,nova,titan,llama,openai}
 * (InvokeModelWithResponseStream: event-stream `chunk` events whose payload is
 * {"bytes":"<base64 of the model's chunk JSON>"}), bedrock.converse (ConverseStream
 * events), bedrock.openai_chat, bedrock.mantle.chat, azure.chat (SSE chat.completion.chunk,
 * content and tool-call argument deltas), bedrock.mantle.responses, azure.responses (SSE
 * Responses events: output_text and function_call_arguments deltas).
 */
#ifndef WEIR_PROVIDERS_RSTREAM_H
#define WEIR_PROVIDERS_RSTREAM_H

#include "internal.h"
#include "providers/codec.h"

typedef struct wr_rstream wr_rstream;

/** 1 when codec c has a streaming form handled here. */
int wr_rstream_supported(const wr_codec *c);

/**
 * A new stream gate for codec c. p and ctx (direction WEIR_COMPLETION) are borrowed for the
 * stream's life (strings included). max_hold bounds each block's held-back bytes (0: the
 * library default); over it, the policy's on_error decides (weir_stream_new). max_frame
 * bounds one upstream frame / event (0: 1 MiB). Free with wr_rstream_free.
 */
int wr_rstream_new(wr_rstream **out, const wr_codec *c, const weir_policy *p,
                   const weir_context *ctx, size_t max_hold, size_t max_frame, weir_error *err);
void wr_rstream_free(wr_rstream *s);

/**
 * Feeds upstream bytes (split anywhere) and appends to `out` the bytes that may go to the
 * client now. Returns 0 to go on; 1 when the policy blocked: out ends with the provider's
 * own ending (ConverseStream: messageStop with stopReason guardrail_intervened; OpenAI chat:
 * a chunk with finish_reason content_filter and [DONE]; Responses: response.incomplete with
 * reason content_filter; InvokeModel streams: the model family's stop chunk carrying
 * amazon-bedrock-guardrailAction INTERVENED), the caller stops reading upstream and ends the
 * response; a negative weir_code when the upstream stream is malformed (bad CRC, bad JSON,
 * frame over the limit): err says what, the caller aborts the client's response (nothing
 * invalid is forwarded). After 1 or a negative return, further calls return the same.
 */
int wr_rstream_feed(wr_rstream *s, const char *data, size_t len, wr_buf *out, weir_error *err);

/**
 * The upstream ended. Releases held text and appends it (with any frames that waited for
 * it) to out. Returns as wr_rstream_feed; WEIR_EINVAL when the upstream ended mid-frame.
 */
int wr_rstream_finish(wr_rstream *s, wr_buf *out, weir_error *err);

/** Strictest action so far (WEIR_ALLOW, WEIR_LOG, WEIR_REDACT, WEIR_BLOCK). */
weir_action wr_rstream_action(const wr_rstream *s);

/** Bytes currently held back over all blocks; and the most ever held at once. */
size_t wr_rstream_held(const wr_rstream *s);
size_t wr_rstream_max_held(const wr_rstream *s);

/**
 * For the audit record, after finish (or a block): the completion's text as received from
 * upstream (blocks joined by "\n\n", capped at 1 MiB) and a weir_result of checking it with
 * the same policy and context. Both owned by s; NULL before finish/block.
 */
const weir_result *wr_rstream_result(const wr_rstream *s, const char **text, size_t *len);

/** Token usage reported by the stream (metadata / usage / message_delta), -1 when none. */
void wr_rstream_usage(const wr_rstream *s, long *input_tokens, long *output_tokens);

#endif
