/*
 * sse.h - Server-Sent Events framing (text/event-stream), internal.
 *
 * An incremental parser: bytes are fed as they arrive, split anywhere (inside a field
 * name, between \r and \n, inside a UTF-8 sequence); each complete event is handed to a
 * callback. Follows the WHATWG event-stream rules: lines end in \r\n, \n or \r; a line
 * starting with ':' is a comment; `field: value` drops one space after the colon; `data`
 * lines accumulate joined by \n; an empty line dispatches; an event without data is not
 * dispatched; a leading UTF-8 BOM is skipped. Unlike a browser, an event without
 * `event:` reports an empty name (so re-encoding keeps the absence). Only framing: no
 * hold-back or checking of the text here.
 */
#ifndef WEIR_PROVIDERS_SSE_H
#define WEIR_PROVIDERS_SSE_H

#include "internal.h"

/** One event. Everything is borrowed, valid only during the callback. */
typedef struct wr_sse_event {
    const char *event; /**< `event:` value, "" when none (NUL-terminated) */
    size_t event_len;
    const char *data;  /**< data lines joined by \n (NUL-terminated) */
    size_t data_len;
    const char *id;    /**< last `id:` seen on the stream, "" when none */
    size_t id_len;
    int done;          /**< 1 when data is exactly "[DONE]" (OpenAI's end marker) */
} wr_sse_event;

/** Called per event; a non-zero return stops wr_sse_feed, which returns that value. */
typedef int (*wr_sse_cb)(void *ctx, const wr_sse_event *ev);

typedef struct wr_sse wr_sse;

/**
 * A new parser. `max_event` bounds one event's bytes (its lines, data and name; 0 = 1 MiB):
 * a longer event fails the stream with WEIR_ELIMIT. New, free with wr_sse_free.
 */
int wr_sse_new(wr_sse **out, size_t max_event, weir_error *err);
/** NULL is fine. */
void wr_sse_free(wr_sse *p);

/**
 * Feeds n bytes. Returns 0, the callback's non-zero value, or a negative weir_code
 * (WEIR_ELIMIT, WEIR_ENOMEM) with err filled. After a non-zero return the parser refuses
 * further input (WEIR_EINVAL).
 */
int wr_sse_feed(wr_sse *p, const char *chunk, size_t n, wr_sse_cb cb, void *ctx,
                weir_error *err);

/**
 * End of stream. 0 when it ended on an event boundary; WEIR_EINVAL when an unterminated
 * line or undispatched data is left (discarded, as the standard says; the caller decides
 * whether a truncated stream is an error).
 */
int wr_sse_finish(wr_sse *p, weir_error *err);

/** Number of events dispatched so far. */
size_t wr_sse_count(const wr_sse *p);

/**
 * Appends one event: `event: NAME\n` (when name is non-empty), one `data: ` line per line of
 * data (\n, \r\n and \r split lines), then an empty line.
 */
int wr_sse_encode(wr_buf *out, const char *event, const char *data, size_t len);

/** Appends a comment line (`: text\n`), e.g. a keep-alive. */
int wr_sse_comment(wr_buf *out, const char *text);

#endif
