/*
 * stream.c - checking a text that arrives in chunks (streamed completions).
 *
 * The stream keeps the bytes not released yet, preceded by up to WR_STREAM_CONTEXT bytes
 * of released text as context (for lookbehinds and context words). Each chunk re-checks
 * that buffer with wr_check_range: the part before the earliest place where a match could
 * still be completed by more text is decided and released, redacted where needed; the
 * rest waits for the next chunk. At the end everything is decided as weir_check would.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define WR_STREAM_CONTEXT 256
#define WR_STREAM_DEFAULT_HOLD ((size_t)64 * 1024)

struct weir_stream {
    weir_policy *p;
    weir_context ctx;
    wr_buf pending;   /* [0, ctx_len): released context; [ctx_len, len): held back */
    size_t ctx_len;
    wr_buf out;       /* what the last call released */
    size_t max_hold;
    weir_action action;
    char *message;
    int over;         /* blocked or finished */
};

int weir_stream_new(weir_stream **out, const weir_policy *p, const weir_context *ctx,
                    size_t max_hold, weir_error *err)
{
    if (!out || !p)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_stream_new: out and policy are required");
    *out = NULL;
    weir_context def = WEIR_CONTEXT_INIT;
    if (ctx && ctx->version != WEIR_CONTEXT_VERSION)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_context.version is %u, expected %u: initialise it with "
                            "WEIR_CONTEXT_INIT",
                            ctx->version, WEIR_CONTEXT_VERSION);
    weir_stream *s = calloc(1, sizeof *s);
    if (!s)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    s->p = weir_policy_ref((weir_policy *)p);
    s->ctx = ctx ? *ctx : def;
    s->max_hold = max_hold ? max_hold : WR_STREAM_DEFAULT_HOLD;
    wr_buf_init(&s->pending);
    wr_buf_init(&s->out);
    *out = s;
    return 0;
}

void weir_stream_free(weir_stream *s)
{
    if (!s)
        return;
    if (s->pending.data)
        wr_wipe(s->pending.data, s->pending.len);
    wr_buf_free(&s->pending);
    if (s->out.data)
        wr_wipe(s->out.data, s->out.len);
    wr_buf_free(&s->out);
    free(s->message);
    weir_policy_unref(s->p);
    free(s);
}

weir_action weir_stream_action(const weir_stream *s)
{
    return s ? s->action : WEIR_BLOCK;
}

const char *weir_stream_message(const weir_stream *s)
{
    return s ? s->message : NULL;
}

size_t weir_stream_held(const weir_stream *s)
{
    return s ? s->pending.len - s->ctx_len : 0;
}

static int block(weir_stream *s, const char *message)
{
    s->action = WEIR_BLOCK;
    s->over = 1;
    free(s->message);
    s->message = wr_strdup(message ? message : "blocked by policy");
    return s->message ? 0 : WEIR_ENOMEM;
}

/* Decides what can be decided; `final`: the text is complete. */
static int step(weir_stream *s, int final, weir_error *err)
{
    s->out.len = 0;
    if (s->out.data)
        s->out.data[0] = '\0';
    weir_result *r = NULL;
    const char *text = s->pending.data ? s->pending.data : "";
    int rc = wr_check_range(&r, s->p, &s->ctx, text, s->pending.len, s->ctx_len, !final, err);
    if (rc)
        return rc;
    if (!final && r->released == s->ctx_len && s->pending.len - s->ctx_len > s->max_hold) {
        /* held back past the cap: the policy's on_error decides */
        weir_result_free(r);
        if (s->p->on_error == WEIR_BLOCK)
            return block(s, "the stream held back more than its limit without deciding "
                            "(on_error: block)");
        rc = wr_check_range(&r, s->p, &s->ctx, text, s->pending.len, s->ctx_len, 0, err);
        if (rc)
            return rc;
    }
    if (r->action == WEIR_BLOCK) {
        rc = block(s, weir_result_message(r));
        weir_result_free(r);
        return rc;
    }
    if (r->action > s->action)
        s->action = r->action;
    size_t safe = r->released;
    if (r->text)
        rc = wr_buf_append(&s->out, r->text, r->text_len);
    else
        rc = wr_buf_append(&s->out, text + s->ctx_len, safe - s->ctx_len);
    weir_result_free(r);
    if (rc)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory in stream");

    /* keep up to WR_STREAM_CONTEXT released bytes (from a character start) as context */
    size_t keep = safe > WR_STREAM_CONTEXT ? safe - WR_STREAM_CONTEXT : 0;
    while (keep < safe && ((unsigned char)s->pending.data[keep] & 0xC0) == 0x80)
        keep++;
    if (keep) {
        memmove(s->pending.data, s->pending.data + keep, s->pending.len - keep);
        s->pending.len -= keep;
        s->pending.data[s->pending.len] = '\0';
    }
    s->ctx_len = safe - keep;
    if (final)
        s->over = 1;
    return 0;
}

static void give(const weir_stream *s, const char **out, size_t *out_len)
{
    if (out)
        *out = s->out.data ? s->out.data : "";
    if (out_len)
        *out_len = s->out.len;
}

int weir_stream_feed(weir_stream *s, const char *chunk, size_t len, const char **out,
                     size_t *out_len, weir_error *err)
{
    if (!s || (!chunk && len))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_stream_feed: bad arguments");
    s->out.len = 0;
    int rc = 0;
    if (!s->over) {
        if (wr_buf_append(&s->pending, chunk, len))
            return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory in stream");
        rc = step(s, 0, err);
    }
    give(s, out, out_len);
    return rc;
}

int weir_stream_finish(weir_stream *s, const char **out, size_t *out_len, weir_error *err)
{
    if (!s)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_stream_finish: stream is NULL");
    s->out.len = 0;
    int rc = s->over ? 0 : step(s, 1, err);
    give(s, out, out_len);
    return rc;
}
