/*
 * fuzz_rstream.c - bytes -> streamed completions through the gate (providers/rstream.h).
 *
 * Input: byte 0 picks the codec (low part) and the mode (high part): raw upstream bytes,
 * or - for the event-stream codecs - one event per line ("TYPE JSON"; "!TYPE JSON" an
 * exception; invoke codecs: "chunk JSON" is wrapped as {"bytes":base64(JSON)}, "@chunk X"
 * sends X as the payload) that the harness frames with valid CRCs, so the fuzzer gets past
 * the checksums to the JSON. Byte 1 seeds the chunk sizes, byte 2 picks the policy and the
 * limits. The rest is the stream.
 *
 * Invariants: the stream runs whole and in chunks; both give the same return code and the
 * very same bytes out. Whatever weir sends is well framed: event-stream output decodes with
 * valid CRCs and ends on a frame boundary; SSE output parses and ends on an event boundary.
 * An audit result exists after the end, a block or an error. No crash, no leak.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "providers/eventstream.h"
#include "providers/rstream.h"
#include "providers/sse.h"

static const char *const CODECS[] = {
    "bedrock.converse",      "bedrock.invoke.anthropic", "bedrock.invoke.nova",
    "bedrock.invoke.titan",  "bedrock.invoke.llama",     "bedrock.invoke.openai",
    "bedrock.openai_chat",   "bedrock.mantle.chat",      "azure.chat",
    "bedrock.mantle.responses", "azure.responses",
};

static const char SMALL_POLICY[] = "weir: 1\n"
                                   "name: fuzz\n"
                                   "on_error: block\n"
                                   "rules:\n"
                                   "  - id: stop\n"
                                   "    detect: { regex: 'STOP[0-9]' }\n"
                                   "    action: block\n"
                                   "  - id: mail\n"
                                   "    detect: email\n"
                                   "    action: redact\n"
                                   "  - id: digits\n"
                                   "    detect: { regex: '[0-9]{4}' }\n"
                                   "    action: redact\n";

static weir_policy *policy(int which)
{
    static weir_policy *def, *small;
    if (!def && (weir_policy_load_default(&def, NULL) ||
                 weir_policy_load_buffer(&small, SMALL_POLICY, sizeof SMALL_POLICY - 1, "fuzz",
                                         NULL)))
        abort();
    return which ? small : def;
}

static void b64(wr_buf *out, const unsigned char *in, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        char q[4] = {A[v >> 18 & 63], A[v >> 12 & 63], i + 1 < n ? A[v >> 6 & 63] : '=',
                     i + 2 < n ? A[v & 63] : '='};
        wr_buf_append(out, q, 4);
    }
}

/* "TYPE JSON" lines -> event-stream frames with valid CRCs. */
static void frames(const char *s, size_t n, int invoke, wr_buf *out)
{
    wr_buf pl;
    wr_buf_init(&pl);
    for (size_t i = 0; i < n;) {
        const char *e = memchr(s + i, '\n', n - i);
        size_t len = e ? (size_t)(e - (s + i)) : n - i;
        const char *line = s + i;
        i += len + 1;
        const char *sp = memchr(line, ' ', len);
        size_t tl = sp ? (size_t)(sp - line) : len;
        const char *body = sp ? sp + 1 : line + len;
        size_t bl = (size_t)(line + len - body);
        char type[64];
        int exc = tl && line[0] == '!', rawp = tl && line[0] == '@';
        size_t skip = (size_t)(exc || rawp);
        if (tl - skip == 0 || tl - skip >= sizeof type)
            continue;
        memcpy(type, line + skip, tl - skip);
        type[tl - skip] = '\0';
        pl.len = 0;
        if (invoke && !exc && !rawp && !strcmp(type, "chunk")) {
            wr_buf_puts(&pl, "{\"bytes\":\"");
            b64(&pl, (const unsigned char *)body, bl);
            wr_buf_puts(&pl, "\"}");
        } else {
            wr_buf_append(&pl, body, bl);
        }
        wr_es_header h[3] = {wr_es_header_string(exc ? ":exception-type" : ":event-type", type),
                             wr_es_header_string(":content-type", "application/json"),
                             wr_es_header_string(":message-type", exc ? "exception" : "event")};
        if (wr_es_encode(out, h, 3, pl.data ? pl.data : "", pl.len))
            abort();
    }
    wr_buf_free(&pl);
}

typedef struct result {
    wr_buf out;
    int rc;
    size_t held_max;
} result;

static void run(result *r, const wr_codec *c, const weir_policy *p, const char *s, size_t n,
                unsigned seed, size_t max_hold, size_t max_frame)
{
    wr_buf_init(&r->out);
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.direction = WEIR_COMPLETION;
    ctx.provider = c->provider;
    wr_rstream *st = NULL;
    weir_error err = {0};
    if (wr_rstream_new(&st, c, p, &ctx, max_hold, max_frame, &err))
        abort();
    r->rc = 0;
    size_t at = 0;
    while (at < n && r->rc == 0) {
        size_t k = n - at;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + (seed >> 16) % 37;
            k = want < k ? want : k;
        }
        r->rc = wr_rstream_feed(st, s + at, k, &r->out, &err);
        at += k;
    }
    if (r->rc == 0)
        r->rc = wr_rstream_finish(st, &r->out, &err);
    if (r->rc < 0 && (err.code != r->rc || !err.text[0]))
        abort(); /* errors are named */
    if (r->rc > 1)
        abort();
    if (!wr_rstream_result(st, NULL, NULL) && r->rc != WEIR_ENOMEM)
        abort();
    if (r->rc == 1 && wr_rstream_action(st) != WEIR_BLOCK)
        abort();
    r->held_max = wr_rstream_max_held(st);
    wr_rstream_free(st);
}

static int count(void *ctx, const wr_es_message *m, weir_error *err)
{
    (void)m;
    (void)err;
    (*(size_t *)ctx)++;
    return 0;
}

static int sse_count(void *ctx, const wr_sse_event *ev)
{
    (void)ev;
    (*(size_t *)ctx)++;
    return 0;
}

/* What weir sends is well framed. */
static void check_framing(const wr_codec *c, const wr_buf *out)
{
    int es = !strncmp(c->name, "bedrock.invoke.", 15) || !strcmp(c->name, "bedrock.converse");
    size_t n = 0;
    if (es) {
        wr_es_decoder d;
        wr_es_decoder_init(&d, 0);
        if (wr_es_decoder_feed(&d, out->data ? out->data : "", out->len, count, &n, NULL) ||
            wr_es_decoder_finish(&d, NULL))
            abort();
        wr_es_decoder_free(&d);
    } else {
        wr_sse *p = NULL;
        if (wr_sse_new(&p, (size_t)64 << 20, NULL))
            abort();
        if (wr_sse_feed(p, out->data ? out->data : "", out->len, sse_count, &n, NULL) ||
            wr_sse_finish(p, NULL))
            abort();
        wr_sse_free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t nc = sizeof CODECS / sizeof CODECS[0];
    const wr_codec *c = wr_codec_find(CODECS[data[0] % nc]);
    if (!c)
        abort();
    int es = !strncmp(c->name, "bedrock.invoke.", 15) || !strcmp(c->name, "bedrock.converse");
    int framed = es && (data[0] / nc) % 2;
    unsigned seed = data[1] | 1u;
    const weir_policy *p = policy(data[2] & 1);
    size_t max_hold = data[2] & 2 ? 48 : 0, max_frame = data[2] & 4 ? 512 : 0;
    const char *s = (const char *)data + 3;
    size_t n = size - 3;

    wr_buf in;
    wr_buf_init(&in);
    if (framed) {
        frames(s, n, strncmp(c->name, "bedrock.invoke.", 15) == 0, &in);
        s = in.data ? in.data : "";
        n = in.len;
    }
    result whole, chunked;
    run(&whole, c, p, s, n, 0, max_hold, max_frame);
    run(&chunked, c, p, s, n, seed, max_hold, max_frame);
    if (whole.rc != chunked.rc || whole.out.len != chunked.out.len ||
        (whole.out.len && memcmp(whole.out.data, chunked.out.data, whole.out.len)) ||
        whole.held_max != chunked.held_max)
        abort();
    check_framing(c, &whole.out);
    wr_buf_free(&whole.out);
    wr_buf_free(&chunked.out);
    wr_buf_free(&in);
    return 0;
}
