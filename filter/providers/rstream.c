/*
 * rstream.c - streamed completions through the gate (see rstream.h; design notes in
 * docs/providers.md, "Streamed completions").
 *
 * Bytes -> framing (AWS event-stream decoder, or an SSE splitter that cuts the stream into
 * whole events before the SSE parser sees them) -> one JSON event at a time -> a format
 * table classifies the event (where its text lives, which blocks it closes) -> every text
 * is fed to its block's weir_stream -> the event is forwarded as its original bytes when no
 * text changed, re-encoded otherwise, dropped when it only carried text that is all held.
 * Everything is decided per complete event, so the output does not depend on read splits.
 */
#include <stdlib.h>
#include <string.h>

#include "providers/eventstream.h"
#include "providers/rstream.h"
#include "providers/sse.h"

#define RS_DEFAULT_FRAME ((size_t)1 << 20)
#define RS_AUDIT_CAP ((size_t)1 << 20)
#define RS_MAX_BLOCKS 1024 /* text blocks (and open content blocks) per stream */
#define RS_MAX_INDEX 1000000L
#define RS_TMPL_MAX ((size_t)64 * 1024) /* larger delta events are not kept as templates */
#define RS_ANY_KIND 0
#define RS_ANY_SUB (-1L)
#define RS_INTERVENED "amazon-bedrock-guardrailAction"

enum { RS_RUNNING = 0, RS_BLOCKED = 1, RS_FAILED = 2, RS_FINISHED = 3 };

/* A text block: (a, kind, b) = (content block / choice / output index, what, sub-index). */
typedef struct rs_key {
    long a;
    char kind;
    long b;
} rs_key;

typedef struct rs_hdrs {
    wr_es_header *h;
    size_t n;
    unsigned char *store;
} rs_hdrs;

/* How one event is framed: event-stream headers, the invoke wrapper, or an SSE name. */
typedef struct rs_frame {
    const wr_es_header *hdrs;
    size_t nhdrs;
    json_t *outer;        /* invoke: {"bytes":...,...}; borrowed */
    const char *sse_name; /* SSE: event name or "" */
} rs_frame;

typedef struct rs_block {
    rs_key key;
    weir_stream *ws;
    int open;      /* ws not finished */
    size_t held;   /* ws held bytes at the last look */
    wr_buf recv;   /* received text, for the audit record (global cap) */
    wr_buf rel;    /* released text (Responses: the done events repeat it) */
    json_t *tmpl;  /* the last delta event of the block (reference) */
    json_t *outer; /* its invoke wrapper (reference) */
    rs_hdrs hdrs;  /* its event-stream headers (copy) */
    char *sse_name;
    char *item_id; /* Responses */
} rs_block;

typedef struct rs_loc {
    rs_key key;
    json_t *node;  /* the JSON string */
    json_t *owner; /* object whose "logprobs" must go when the text changes, or NULL */
    int full;      /* 1: repeats the block's whole text (a done event); 0: a delta */
    const char *item_id;
} rs_loc;

/* What the format table says about one event. */
typedef struct rs_scan {
    json_t *root;
    const char *type; /* event type: header, JSON "type" or SSE name; "" when none */
    rs_loc *loc;
    size_t nloc, caploc;
    rs_key *cls;
    size_t ncls, capcls;
    int close_all;
    int delta;     /* its delta locations serve as flush templates */
    int droppable; /* an event of text only: dropped when all of it is held */
} rs_scan;

typedef struct rs_slot {
    long idx;
    int open;
} rs_slot;

typedef struct rs_format rs_format;

struct wr_rstream {
    const rs_format *fmt;
    const weir_policy *p;
    weir_context ctx;
    size_t max_hold, max_frame;
    wr_es_decoder es;
    wr_sse *sse;
    wr_buf pend; /* SSE bytes not yet cut into events */
    size_t sp_scanned, sp_line;
    int sp_cr, sp_crblank, sp_bom;
    const char *raw; /* the current event's original bytes */
    size_t raw_len;
    int sse_got;
    uint64_t nevents;
    rs_block *blk;
    size_t nblk, capblk;
    rs_scan sc, sc2;
    rs_slot *slot;
    size_t nslot, capslot;
    wr_buf ev, tmp, tmp2, txt;
    wr_buf *out;
    int state;
    weir_error err;   /* the first failure (sticky) */
    weir_error cberr; /* a failure inside the SSE parser's callback */
    weir_action action;
    size_t held, max_held, audit_len, rel_len;
    long in_tok, out_tok, seq;
    json_t *base; /* chat: last chunk; Responses: last response object */
    weir_result *result;
    wr_buf audit;
    int have_audit;
    const char *block_msg;
};

struct rs_format {
    const char *codec;
    int sse;    /* SSE framing; else AWS event-stream */
    int invoke; /* event-stream `chunk` events wrapping {"bytes": base64(model JSON)} */
    int responses; /* done events repeat the whole text: keep what was released */
    const char *delta_type; /* event-stream :event-type of a delta ("chunk", "contentBlockDelta") */
    int (*classify)(rs_scan *sc, weir_error *err);
    /* state the endings need: before (after=0) and after (after=1) the event's texts */
    void (*observe)(wr_rstream *s, const rs_scan *sc, int after);
    /* a delta event for block b with an empty text at its location (new reference) */
    json_t *(*flush_tmpl)(wr_rstream *s, const rs_block *b);
    int (*ending)(wr_rstream *s, const char *rule, const char *msg, wr_buf *out);
};

/* ------------------------------------------------------------------ small helpers */

static int nomem(weir_error *err)
{
    return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "stream: out of memory");
}

static int bad(wr_rstream *s, weir_error *err, const char *what)
{
    return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "%s stream: event %llu: %s", s->fmt->codec,
                        (unsigned long long)s->nevents, what);
}

static int key_eq(rs_key x, rs_key y)
{
    return x.a == y.a && x.kind == y.kind && x.b == y.b;
}

static int key_match(rs_key pat, rs_key k)
{
    return pat.a == k.a && (pat.kind == RS_ANY_KIND || pat.kind == k.kind) &&
           (pat.b == RS_ANY_SUB || pat.b == k.b);
}

static int str_is(const char *s, const char *lit)
{
    return s && !strcmp(s, lit);
}

/* ------------------------------------------------------------------ base64 */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_encode(wr_buf *out, const unsigned char *in, size_t n)
{
    if (wr_buf_reserve(out, (n + 2) / 3 * 4 + 1))
        return WEIR_ENOMEM;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        char q[4] = {B64[(v >> 18) & 63], B64[(v >> 12) & 63],
                     i + 1 < n ? B64[(v >> 6) & 63] : '=', i + 2 < n ? B64[v & 63] : '='};
        wr_buf_append(out, q, 4);
    }
    return out->oom ? WEIR_ENOMEM : 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard alphabet; padding optional but only at the end. -1: invalid. */
static int b64_decode(wr_buf *out, const char *in, size_t n)
{
    while (n && in[n - 1] == '=' && n % 4 != 1)
        n--;
    if (n % 4 == 1)
        return -1;
    if (wr_buf_reserve(out, n / 4 * 3 + 3))
        return WEIR_ENOMEM;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_val((unsigned char)in[i]);
        if (d < 0)
            return -1;
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((v >> bits) & 0xFF);
            wr_buf_append(out, &c, 1);
        }
    }
    return out->oom ? WEIR_ENOMEM : 0;
}

/* ------------------------------------------------------------------ headers */

static void hdrs_free(rs_hdrs *h)
{
    free(h->h);
    free(h->store);
    memset(h, 0, sizeof *h);
}

/* Forgets block b's flush template. */
static void template_drop(rs_block *b)
{
    json_decref(b->tmpl);
    json_decref(b->outer);
    b->tmpl = b->outer = NULL;
    hdrs_free(&b->hdrs);
    free(b->sse_name);
    b->sse_name = NULL;
}

static int hdrs_copy(rs_hdrs *d, const wr_es_header *h, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i].name_len + (h[i].data ? h[i].len : 0);
    wr_es_header *nh = wr_calloc(n ? n : 1, sizeof *nh);
    unsigned char *st = wr_malloc(total ? total : 1);
    if (!nh || !st) {
        free(nh);
        free(st);
        return WEIR_ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        nh[i] = h[i];
        memcpy(st + off, h[i].name, h[i].name_len);
        nh[i].name = (const char *)st + off;
        off += h[i].name_len;
        if (h[i].data) {
            memcpy(st + off, h[i].data, h[i].len);
            nh[i].data = st + off;
            off += h[i].len;
        }
    }
    hdrs_free(d);
    d->h = nh;
    d->n = n;
    d->store = st;
    return 0;
}

/* ------------------------------------------------------------------ scans */

static int scan_loc(rs_scan *sc, long a, char kind, long b, json_t *node, json_t *owner,
                    int full)
{
    rs_loc *l = wr_grow(sc->loc, &sc->caploc, sc->nloc + 1, sizeof *l, 8);
    if (!l)
        return WEIR_ENOMEM;
    sc->loc = l;
    sc->loc[sc->nloc++] = (rs_loc){{a, kind, b}, node, owner, full, NULL};
    return 0;
}

static int scan_close(rs_scan *sc, long a, char kind, long b)
{
    rs_key *k = wr_grow(sc->cls, &sc->capcls, sc->ncls + 1, sizeof *k, 8);
    if (!k)
        return WEIR_ENOMEM;
    sc->cls = k;
    sc->cls[sc->ncls++] = (rs_key){a, kind, b};
    return 0;
}

static void scan_reset(rs_scan *sc, json_t *root, const char *type)
{
    sc->root = root;
    sc->type = type ? type : "";
    sc->nloc = sc->ncls = 0;
    sc->close_all = sc->delta = sc->droppable = 0;
}

static void scan_free(rs_scan *sc)
{
    free(sc->loc);
    free(sc->cls);
}

/* Member `key` as a text: NULL when absent or null; *badp when present but not a string. */
static json_t *text_member(json_t *o, const char *key, int *badp)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *badp = 1;
        return NULL;
    }
    return v;
}

/* An index member: absent -> dflt; otherwise an integer in [0, RS_MAX_INDEX] or *badp. */
static long index_member(json_t *o, const char *key, long dflt, int *badp)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > RS_MAX_INDEX) {
        *badp = 1;
        return 0;
    }
    return (long)json_integer_value(v);
}

#define SCAN_FAIL(what) wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "%s", what)

/* ------------------------------------------------------------------ Converse / Nova */

/* {"contentBlockIndex":i,"delta":{"text"|"toolUse":{"input"}|"reasoningContent":{"text"}}} */
static int converse_delta(rs_scan *sc, json_t *o, weir_error *err)
{
    int badp = 0, rc = 0;
    long idx = index_member(o, "contentBlockIndex", 0, &badp);
    json_t *d = json_object_get(o, "delta");
    if (d && !json_is_object(d))
        badp = 1;
    json_t *t = text_member(d, "text", &badp);
    json_t *tu = json_object_get(d, "toolUse");
    json_t *in = text_member(tu, "input", &badp);
    json_t *rs = json_object_get(d, "reasoningContent");
    json_t *rt = text_member(rs, "text", &badp);
    if (badp)
        return SCAN_FAIL("contentBlockDelta: a delta text or index has the wrong type");
    sc->delta = sc->droppable = 1;
    if ((t && (rc = scan_loc(sc, idx, 't', 0, t, NULL, 0))) ||
        (in && (rc = scan_loc(sc, idx, 'u', 0, in, NULL, 0))) ||
        (rt && (rc = scan_loc(sc, idx, 'r', 0, rt, NULL, 0))))
        return rc;
    return 0;
}

static int converse_event(rs_scan *sc, const char *type, json_t *o, weir_error *err)
{
    int badp = 0;
    if (!json_is_object(o))
        return SCAN_FAIL("an event is not a JSON object");
    if (!strcmp(type, "contentBlockDelta"))
        return converse_delta(sc, o, err);
    if (!strcmp(type, "contentBlockStop")) {
        long idx = index_member(o, "contentBlockIndex", 0, &badp);
        return badp ? SCAN_FAIL("contentBlockStop: bad contentBlockIndex")
                    : scan_close(sc, idx, RS_ANY_KIND, RS_ANY_SUB);
    }
    if (!strcmp(type, "messageStop") || !strcmp(type, "metadata"))
        sc->close_all = 1;
    return 0;
}

static int converse_classify(rs_scan *sc, weir_error *err)
{
    return converse_event(sc, sc->type, sc->root, err);
}

/* Nova InvokeModel chunks: {"contentBlockDelta":{...}} - the ConverseStream events, keyed. */
static const char *const NOVA_EVENTS[] = {"contentBlockDelta", "contentBlockStop", "messageStop",
                                          "metadata", "messageStart", "contentBlockStart"};

static int nova_classify(rs_scan *sc, weir_error *err)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(NOVA_EVENTS); i++) {
        json_t *o = json_object_get(sc->root, NOVA_EVENTS[i]);
        if (!o)
            continue;
        int rc = converse_event(sc, NOVA_EVENTS[i], o, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void slot_set(wr_rstream *s, long idx, int open)
{
    for (size_t i = 0; i < s->nslot; i++)
        if (s->slot[i].idx == idx) {
            s->slot[i].open = open;
            return;
        }
    if (s->nslot >= RS_MAX_BLOCKS)
        return;
    rs_slot *n = wr_grow(s->slot, &s->capslot, s->nslot + 1, sizeof *n, 4);
    if (!n)
        return; /* only the block ending's closing events are affected */
    s->slot = n;
    s->slot[s->nslot++] = (rs_slot){idx, open};
}

static void set_tokens(long *dst, json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *dst = (long)json_integer_value(v);
}

/* amazon-bedrock-invocationMetrics on the last InvokeModel chunk of every family */
static void invocation_metrics(wr_rstream *s, json_t *root)
{
    json_t *m = json_object_get(root, "amazon-bedrock-invocationMetrics");
    set_tokens(&s->in_tok, json_object_get(m, "inputTokenCount"));
    set_tokens(&s->out_tok, json_object_get(m, "outputTokenCount"));
}

static void converse_observe_one(wr_rstream *s, const char *type, json_t *o, int after)
{
    int badp = 0;
    long idx = index_member(o, "contentBlockIndex", 0, &badp);
    if (!after && (!strcmp(type, "contentBlockStart") || !strcmp(type, "contentBlockDelta")))
        slot_set(s, idx, 1);
    else if (after && !strcmp(type, "contentBlockStop"))
        slot_set(s, idx, 0);
    else if (after && !strcmp(type, "metadata")) {
        json_t *u = json_object_get(o, "usage");
        set_tokens(&s->in_tok, json_object_get(u, "inputTokens"));
        set_tokens(&s->out_tok, json_object_get(u, "outputTokens"));
    }
}

static void converse_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    converse_observe_one(s, sc->type, sc->root, after);
}

static void nova_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(NOVA_EVENTS); i++) {
        json_t *o = json_object_get(sc->root, NOVA_EVENTS[i]);
        if (json_is_object(o))
            converse_observe_one(s, NOVA_EVENTS[i], o, after);
    }
    if (after)
        invocation_metrics(s, sc->root);
}

static json_t *converse_delta_obj(const rs_block *b)
{
    const char *m = b->key.kind == 'u' ? "toolUse" : b->key.kind == 'r' ? "reasoningContent" : NULL;
    json_t *d = m ? json_pack("{s:{s:s}}", m, b->key.kind == 'u' ? "input" : "text", "")
                  : json_pack("{s:s}", "text", "");
    return json_pack("{s:I,s:o}", "contentBlockIndex", (json_int_t)b->key.a, "delta", d);
}

static json_t *copy_tmpl(const rs_block *b)
{
    return b->tmpl ? json_deep_copy(b->tmpl) : NULL;
}

static json_t *converse_flush(wr_rstream *s, const rs_block *b)
{
    (void)s;
    return b->tmpl ? copy_tmpl(b) : converse_delta_obj(b);
}

static json_t *nova_flush(wr_rstream *s, const rs_block *b)
{
    (void)s;
    return b->tmpl ? copy_tmpl(b) : json_pack("{s:o}", "contentBlockDelta", converse_delta_obj(b));
}

/* ------------------------------------------------------------------ Anthropic */

static int anthropic_classify(rs_scan *sc, weir_error *err)
{
    int badp = 0, rc = 0;
    json_t *r = sc->root;
    const char *type = json_string_value(json_object_get(r, "type"));
    long idx = index_member(r, "index", 0, &badp);
    if (str_is(type, "content_block_delta")) {
        json_t *d = json_object_get(r, "delta");
        json_t *t = text_member(d, "text", &badp);
        json_t *pj = text_member(d, "partial_json", &badp);
        json_t *th = text_member(d, "thinking", &badp);
        if (badp || (d && !json_is_object(d)))
            return SCAN_FAIL("content_block_delta: a delta text or index has the wrong type");
        sc->delta = sc->droppable = 1;
        if ((t && (rc = scan_loc(sc, idx, 't', 0, t, NULL, 0))) ||
            (pj && (rc = scan_loc(sc, idx, 'j', 0, pj, NULL, 0))) ||
            (th && (rc = scan_loc(sc, idx, 'k', 0, th, NULL, 0))))
            return rc;
    } else if (str_is(type, "content_block_start")) {
        json_t *cb = json_object_get(r, "content_block");
        json_t *t = text_member(cb, "text", &badp);
        json_t *th = text_member(cb, "thinking", &badp);
        if (badp)
            return SCAN_FAIL("content_block_start: a text or index has the wrong type");
        if ((t && json_string_length(t) && (rc = scan_loc(sc, idx, 't', 0, t, NULL, 0))) ||
            (th && json_string_length(th) && (rc = scan_loc(sc, idx, 'k', 0, th, NULL, 0))))
            return rc;
    } else if (str_is(type, "content_block_stop")) {
        if (badp)
            return SCAN_FAIL("content_block_stop: bad index");
        return scan_close(sc, idx, RS_ANY_KIND, RS_ANY_SUB);
    } else if (str_is(type, "message_delta") || str_is(type, "message_stop") ||
               str_is(type, "error")) {
        sc->close_all = 1;
    }
    return 0;
}

static void anthropic_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    int badp = 0;
    json_t *r = sc->root;
    const char *type = json_string_value(json_object_get(r, "type"));
    long idx = index_member(r, "index", 0, &badp);
    json_t *u = NULL;
    if (!after) {
        if (str_is(type, "content_block_start") || str_is(type, "content_block_delta"))
            slot_set(s, idx, 1);
        return;
    }
    if (str_is(type, "message_start"))
        u = json_object_get(json_object_get(r, "message"), "usage");
    else if (str_is(type, "message_delta"))
        u = json_object_get(r, "usage");
    else if (str_is(type, "content_block_stop"))
        slot_set(s, idx, 0);
    set_tokens(&s->in_tok, json_object_get(u, "input_tokens"));
    set_tokens(&s->out_tok, json_object_get(u, "output_tokens"));
    invocation_metrics(s, r);
}

static json_t *anthropic_flush(wr_rstream *s, const rs_block *b)
{
    (void)s;
    if (b->tmpl)
        return copy_tmpl(b);
    const char *dt = b->key.kind == 'j' ? "input_json_delta" : b->key.kind == 'k' ? "thinking_delta"
                                                                                : "text_delta";
    const char *f = b->key.kind == 'j' ? "partial_json" : b->key.kind == 'k' ? "thinking" : "text";
    return json_pack("{s:s,s:I,s:{s:s,s:s}}", "type", "content_block_delta", "index",
                     (json_int_t)b->key.a, "delta", "type", dt, f, "");
}

/* ------------------------------------------------------------------ Titan, Llama */

static int titan_classify(rs_scan *sc, weir_error *err)
{
    int badp = 0;
    long idx = index_member(sc->root, "index", 0, &badp);
    json_t *t = text_member(sc->root, "outputText", &badp);
    json_t *cr = json_object_get(sc->root, "completionReason");
    if (badp)
        return SCAN_FAIL("outputText or index has the wrong type");
    sc->delta = 1;
    int rc = t ? scan_loc(sc, idx, 't', 0, t, NULL, 0) : 0;
    if (!rc && cr && !json_is_null(cr))
        rc = scan_close(sc, idx, RS_ANY_KIND, RS_ANY_SUB);
    return rc;
}

static void titan_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    int badp = 0;
    long idx = index_member(sc->root, "index", 0, &badp);
    json_t *cr = json_object_get(sc->root, "completionReason");
    if (!after) {
        slot_set(s, idx, 1);
        return;
    }
    if (cr && !json_is_null(cr))
        slot_set(s, idx, 0);
    set_tokens(&s->in_tok, json_object_get(sc->root, "inputTextTokenCount"));
    set_tokens(&s->out_tok, json_object_get(sc->root, "totalOutputTextTokenCount"));
    invocation_metrics(s, sc->root);
}

static json_t *titan_flush(wr_rstream *s, const rs_block *b)
{
    (void)s;
    return b->tmpl ? copy_tmpl(b)
                   : json_pack("{s:s,s:I}", "outputText", "", "index", (json_int_t)b->key.a);
}

static int llama_classify(rs_scan *sc, weir_error *err)
{
    int badp = 0;
    json_t *t = text_member(sc->root, "generation", &badp);
    json_t *sr = json_object_get(sc->root, "stop_reason");
    if (badp)
        return SCAN_FAIL("generation is not a string");
    sc->delta = 1;
    sc->close_all = sr && !json_is_null(sr);
    return t ? scan_loc(sc, 0, 't', 0, t, NULL, 0) : 0;
}

static void llama_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    if (!after)
        return;
    set_tokens(&s->in_tok, json_object_get(sc->root, "prompt_token_count"));
    set_tokens(&s->out_tok, json_object_get(sc->root, "generation_token_count"));
    invocation_metrics(s, sc->root);
}

static json_t *llama_flush(wr_rstream *s, const rs_block *b)
{
    (void)s;
    return b->tmpl ? copy_tmpl(b) : json_pack("{s:s}", "generation", "");
}

/* ------------------------------------------------------------------ OpenAI chat chunks */

/* delta members that carry text, with their block kinds */
static const struct {
    const char *member;
    char kind;
} CHAT_TEXTS[] = {
    {"content", 'c'}, {"refusal", 'f'}, {"reasoning_content", 'r'}, {"reasoning", 'R'}};

static int chat_choice(rs_scan *sc, json_t *ch, long pos, weir_error *err)
{
    int badp = 0, rc;
    if (!json_is_object(ch))
        return SCAN_FAIL("choices[] is not an object");
    long idx = index_member(ch, "index", pos, &badp);
    json_t *d = json_object_get(ch, "delta");
    if (d && !json_is_null(d) && !json_is_object(d))
        return SCAN_FAIL("choices[].delta is not an object");
    for (size_t k = 0; k < WR_ARRAY_LEN(CHAT_TEXTS); k++) {
        json_t *t = text_member(d, CHAT_TEXTS[k].member, &badp);
        if (t && (rc = scan_loc(sc, idx, CHAT_TEXTS[k].kind, 0, t, ch, 0)))
            return rc;
    }
    json_t *calls = json_object_get(d, "tool_calls");
    if (calls && !json_is_null(calls) && !json_is_array(calls))
        return SCAN_FAIL("choices[].delta.tool_calls is not an array");
    size_t j;
    json_t *tc;
    json_array_foreach(calls, j, tc) {
        if (!json_is_object(tc))
            return SCAN_FAIL("choices[].delta.tool_calls[] is not an object");
        long ti = index_member(tc, "index", (long)j, &badp);
        json_t *fn = json_object_get(tc, "function");
        json_t *args = text_member(fn, "arguments", &badp);
        if (args && (rc = scan_loc(sc, idx, 'a', ti, args, ch, 0)))
            return rc;
    }
    json_t *fc = text_member(json_object_get(d, "function_call"), "arguments", &badp);
    if (fc && (rc = scan_loc(sc, idx, 'F', 0, fc, ch, 0)))
        return rc;
    if (badp)
        return SCAN_FAIL("a choice's text or index has the wrong type");
    json_t *fr = json_object_get(ch, "finish_reason");
    if (fr && !json_is_null(fr))
        return scan_close(sc, idx, RS_ANY_KIND, RS_ANY_SUB);
    return 0;
}

static int chat_classify(rs_scan *sc, weir_error *err)
{
    json_t *choices = json_object_get(sc->root, "choices");
    if (choices && !json_is_null(choices) && !json_is_array(choices))
        return SCAN_FAIL("choices is not an array");
    sc->delta = 1;
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        int rc = chat_choice(sc, ch, (long)i, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void chat_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    json_t *choices = json_object_get(sc->root, "choices");
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        int badp = 0;
        long idx = index_member(ch, "index", (long)i, &badp);
        json_t *fr = json_object_get(ch, "finish_reason");
        if (!after)
            slot_set(s, idx, 1);
        else if (fr && !json_is_null(fr))
            slot_set(s, idx, 0);
    }
    if (!after) {
        if (json_is_string(json_object_get(sc->root, "id")) && s->base != sc->root) {
            json_decref(s->base);
            s->base = json_incref(sc->root);
        }
        return;
    }
    json_t *u = json_object_get(sc->root, "usage");
    set_tokens(&s->in_tok, json_object_get(u, "prompt_tokens"));
    set_tokens(&s->out_tok, json_object_get(u, "completion_tokens"));
    invocation_metrics(s, sc->root);
}

/* The last chunk's top-level fields in their order: choices left as a null placeholder,
 * usage null, Bedrock's metrics dropped; object chat.completion.chunk. New reference. */
static json_t *chat_top(const json_t *from)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (json_is_object(from)) {
        json_t *f = (json_t *)from;
        for (void *it = json_object_iter(f); it; it = json_object_iter_next(f, it)) {
            const char *k = json_object_iter_key(it);
            if (!strcmp(k, "amazon-bedrock-invocationMetrics"))
                continue;
            int blank = !strcmp(k, "choices") || !strcmp(k, "usage");
            json_t *v = blank ? json_null() : json_incref(json_object_iter_value(it));
            json_object_set_new(o, k, v);
        }
    }
    if (!json_is_string(json_object_get(o, "id")))
        json_object_set_new(o, "id", json_string("chatcmpl-weir"));
    json_object_set_new(o, "object", json_string("chat.completion.chunk"));
    if (!json_object_get(o, "created"))
        json_object_set_new(o, "created", json_integer(0));
    if (!json_object_get(o, "model"))
        json_object_set_new(o, "model", json_string(""));
    return o;
}

/* The choice `idx` of a chunk, or NULL. */
static json_t *chat_choice_of(const json_t *chunk, long idx)
{
    json_t *choices = json_object_get(chunk, "choices");
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        int badp = 0;
        if (index_member(ch, "index", (long)i, &badp) == idx && !badp)
            return ch;
    }
    return NULL;
}

/* A choice in the template choice's member order: index, the given delta, finish_reason
 * null, logprobs null; annotations (content_filter_results, ...) left out. New reference. */
static json_t *chat_choice_like(json_t *tc, long idx, json_t *delta, const char *finish)
{
    json_t *ch = json_object();
    if (!ch || !delta) {
        json_decref(ch);
        json_decref(delta);
        return NULL;
    }
    for (void *it = json_object_iter(tc); it; it = json_object_iter_next(tc, it)) {
        const char *k = json_object_iter_key(it);
        if (!strcmp(k, "index") || !strcmp(k, "delta") || !strcmp(k, "finish_reason") ||
            !strcmp(k, "logprobs"))
            json_object_set_new(ch, k, json_null());
    }
    json_object_set_new(ch, "index", json_integer(idx));
    json_object_set_new(ch, "delta", delta);
    json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
    if (!tc || json_object_get(tc, "logprobs"))
        json_object_set_new(ch, "logprobs", json_null());
    return ch;
}

static json_t *chat_flush(wr_rstream *s, const rs_block *b)
{
    const json_t *from = b->tmpl ? b->tmpl : s->base;
    json_t *top = chat_top(from), *delta = NULL;
    if (b->key.kind == 'a')
        delta = json_pack("{s:[{s:I,s:{s:s}}]}", "tool_calls", "index", (json_int_t)b->key.b,
                          "function", "arguments", "");
    else if (b->key.kind == 'F')
        delta = json_pack("{s:{s:s}}", "function_call", "arguments", "");
    else
        for (size_t k = 0; k < WR_ARRAY_LEN(CHAT_TEXTS); k++)
            if (CHAT_TEXTS[k].kind == b->key.kind)
                delta = json_pack("{s:s}", CHAT_TEXTS[k].member, "");
    json_t *ch = chat_choice_like(chat_choice_of(from, b->key.a), b->key.a, delta, NULL);
    if (!top || !ch) {
        json_decref(top);
        json_decref(ch);
        return NULL;
    }
    json_object_set_new(top, "choices", json_pack("[o]", ch));
    return top;
}

/* ------------------------------------------------------------------ Responses */

static const struct {
    const char *type; /* without .delta / .done */
    char kind;
    const char *sub;  /* index member, or NULL */
    const char *done; /* the done event's full-text member */
} RESP_TEXTS[] = {
    {"response.output_text", 't', "content_index", "text"},
    {"response.refusal", 'f', "content_index", "refusal"},
    {"response.function_call_arguments", 'a', NULL, "arguments"},
    {"response.custom_tool_call_input", 'i', NULL, "input"},
    {"response.reasoning_summary_text", 's', "summary_index", "text"},
    {"response.reasoning_text", 'r', "content_index", "text"},
};

static int resp_loc(rs_scan *sc, long o, char kind, long sub, json_t *node, json_t *owner,
                    int full, const char *item_id)
{
    if (!node || (!full && !json_string_length(node)))
        return 0;
    int rc = scan_loc(sc, o, kind, sub, node, owner, full);
    if (!rc)
        sc->loc[sc->nloc - 1].item_id = item_id;
    return rc;
}

/* A content part (output_text / refusal / reasoning_text / summary_text). */
static int resp_part(rs_scan *sc, json_t *part, long o, long sub, int summary, int full,
                     const char *item_id, weir_error *err)
{
    int badp = 0;
    if (!json_is_object(part))
        return part && !json_is_null(part) ? SCAN_FAIL("a content part is not an object") : 0;
    const char *pt = json_string_value(json_object_get(part, "type"));
    json_t *t = text_member(part, "text", &badp);
    json_t *rf = text_member(part, "refusal", &badp);
    if (badp)
        return SCAN_FAIL("a content part's text is not a string");
    char kind = summary ? 's' : str_is(pt, "reasoning_text") ? 'r' : 't';
    int rc = resp_loc(sc, o, kind, sub, t, NULL, full, item_id);
    return rc ? rc : resp_loc(sc, o, 'f', sub, rf, NULL, full, item_id);
}

/* One output item: message content, function/custom tool call, reasoning. */
static int resp_item(rs_scan *sc, json_t *it, long o, int full, weir_error *err)
{
    int badp = 0, rc = 0;
    if (!json_is_object(it))
        return SCAN_FAIL("an output item is not an object");
    const char *type = json_string_value(json_object_get(it, "type"));
    const char *id = json_string_value(json_object_get(it, "id"));
    if (str_is(type, "function_call") || str_is(type, "custom_tool_call")) {
        int fc = str_is(type, "function_call");
        json_t *a = text_member(it, fc ? "arguments" : "input", &badp);
        if (badp)
            return SCAN_FAIL("a tool call's arguments are not a string");
        return resp_loc(sc, o, fc ? 'a' : 'i', 0, a, NULL, full, id);
    }
    const char *lists[2] = {"content", "summary"};
    for (int l = 0; l < 2 && !rc; l++) {
        json_t *arr = json_object_get(it, lists[l]);
        if (!arr || json_is_null(arr) || json_is_string(arr))
            continue;
        if (!json_is_array(arr))
            return SCAN_FAIL("an output item's content is not an array");
        size_t j;
        json_t *part;
        json_array_foreach(arr, j, part) {
            if ((rc = resp_part(sc, part, o, (long)j, l == 1, full, id, err)))
                break;
        }
    }
    return rc;
}

static int resp_output(rs_scan *sc, json_t *resp, int full, weir_error *err)
{
    json_t *out = json_object_get(resp, "output");
    if (out && !json_is_null(out) && !json_is_array(out))
        return SCAN_FAIL("response.output is not an array");
    size_t i;
    json_t *it;
    json_array_foreach(out, i, it) {
        int rc = resp_item(sc, it, (long)i, full, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

static int responses_classify(rs_scan *sc, weir_error *err)
{
    int badp = 0;
    json_t *r = sc->root;
    const char *t = sc->type;
    const char *item_id = json_string_value(json_object_get(r, "item_id"));
    long o = index_member(r, "output_index", 0, &badp);
    for (size_t k = 0; k < WR_ARRAY_LEN(RESP_TEXTS); k++) {
        size_t n = strlen(RESP_TEXTS[k].type);
        if (strncmp(t, RESP_TEXTS[k].type, n))
            continue;
        int delta = !strcmp(t + n, ".delta"), done = !strcmp(t + n, ".done");
        if (!delta && !done)
            continue;
        long sub = RESP_TEXTS[k].sub ? index_member(r, RESP_TEXTS[k].sub, 0, &badp) : 0;
        json_t *node = text_member(r, delta ? "delta" : RESP_TEXTS[k].done, &badp);
        if (badp)
            return SCAN_FAIL("a text or index of the event has the wrong type");
        sc->delta = sc->droppable = delta;
        if (!node)
            return 0;
        int rc = scan_loc(sc, o, RESP_TEXTS[k].kind, sub, node, delta ? r : NULL, done);
        if (!rc)
            sc->loc[sc->nloc - 1].item_id = item_id;
        return rc;
    }
    if (badp)
        return SCAN_FAIL("output_index has the wrong type");
    int full = ends_with(t, ".done") || str_is(t, "response.completed") ||
               str_is(t, "response.incomplete") || str_is(t, "response.failed");
    if (str_is(t, "response.content_part.added") || str_is(t, "response.content_part.done") ||
        str_is(t, "response.reasoning_summary_part.added") ||
        str_is(t, "response.reasoning_summary_part.done")) {
        int summary = !strncmp(t, "response.reasoning_summary_part", 31);
        long sub = index_member(r, summary ? "summary_index" : "content_index", 0, &badp);
        if (badp)
            return SCAN_FAIL("a part index has the wrong type");
        return resp_part(sc, json_object_get(r, "part"), o, sub, summary, full, item_id, err);
    }
    if (str_is(t, "response.output_item.added") || str_is(t, "response.output_item.done")) {
        json_t *it = json_object_get(r, "item");
        return it ? resp_item(sc, it, o, full, err) : 0;
    }
    if (!strncmp(t, "response.", 9) && json_is_object(json_object_get(r, "response"))) {
        sc->close_all = full;
        return resp_output(sc, json_object_get(r, "response"), full, err);
    }
    if (str_is(t, "error"))
        sc->close_all = 1;
    return 0;
}

static void responses_observe(wr_rstream *s, const rs_scan *sc, int after)
{
    json_t *resp = json_object_get(sc->root, "response");
    if (after) {
        json_t *u = json_object_get(resp, "usage");
        set_tokens(&s->in_tok, json_object_get(u, "input_tokens"));
        set_tokens(&s->out_tok, json_object_get(u, "output_tokens"));
        return;
    }
    json_t *seq = json_object_get(sc->root, "sequence_number");
    if (json_is_integer(seq) && json_integer_value(seq) > s->seq &&
        json_integer_value(seq) < (json_int_t)1 << 40)
        s->seq = (long)json_integer_value(seq);
    if (json_is_object(resp) && resp != s->base) {
        json_decref(s->base);
        s->base = json_incref(resp);
    }
}

static json_t *responses_flush(wr_rstream *s, const rs_block *b)
{
    if (b->tmpl)
        return copy_tmpl(b);
    size_t k = 0;
    while (k + 1 < WR_ARRAY_LEN(RESP_TEXTS) && RESP_TEXTS[k].kind != b->key.kind)
        k++;
    char type[64];
    snprintf(type, sizeof type, "%s.delta", RESP_TEXTS[k].type);
    json_t *o = json_pack("{s:s,s:s,s:I}", "type", type, "item_id", b->item_id ? b->item_id : "",
                          "output_index", (json_int_t)b->key.a);
    if (o && RESP_TEXTS[k].sub)
        json_object_set_new(o, RESP_TEXTS[k].sub, json_integer(b->key.b));
    if (o) {
        json_object_set_new(o, "delta", json_string(""));
        json_object_set_new(o, "sequence_number", json_integer(s->seq));
    }
    return o;
}

/* ------------------------------------------------------------------ emitting */

static int emit_json(wr_rstream *s, json_t *root, const rs_frame *fr, wr_buf *out,
                     weir_error *err)
{
    s->tmp.len = 0;
    if (wr_json_dump(root, &s->tmp) || s->tmp.oom)
        return nomem(err);
    if (s->fmt->sse)
        return wr_sse_encode(out, fr->sse_name, s->tmp.data, s->tmp.len) ? nomem(err) : 0;
    wr_buf *payload = &s->tmp;
    if (s->fmt->invoke) {
        s->tmp2.len = 0;
        if (b64_encode(&s->tmp2, (const unsigned char *)s->tmp.data, s->tmp.len))
            return nomem(err);
        json_t *outer = fr->outer ? json_copy(fr->outer) : json_object();
        if (!outer ||
            json_object_set_new(outer, "bytes", json_stringn(s->tmp2.data, s->tmp2.len))) {
            json_decref(outer);
            return nomem(err);
        }
        s->tmp.len = 0;
        int rc = wr_json_dump(outer, &s->tmp);
        json_decref(outer);
        if (rc || s->tmp.oom)
            return nomem(err);
    }
    int rc = wr_es_encode(out, fr->hdrs, fr->nhdrs, payload->data, payload->len);
    if (rc)
        return wr_error_set(err, rc, NULL, 0, 0, "%s stream: cannot re-frame an event",
                            s->fmt->codec);
    return 0;
}

/* Emits a new event of ours (endings, flushes without a template). Steals root. */
static int emit_new(wr_rstream *s, json_t *root, const char *name, wr_buf *out, weir_error *err)
{
    if (!root)
        return nomem(err);
    wr_es_header h[3] = {wr_es_header_string(":event-type", name),
                         wr_es_header_string(":content-type", "application/json"),
                         wr_es_header_string(":message-type", "event")};
    rs_frame fr = {h, 3, NULL, name};
    int rc = emit_json(s, root, &fr, out, err);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ endings */

static json_t *weir_obj(const char *rule, const char *msg)
{
    return json_pack("{s:s,s:s,s:s}", "rule", rule ? rule : "", "direction", "completion",
                     "message", msg ? msg : "");
}

static int converse_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < s->nslot && !rc; i++)
        if (s->slot[i].open)
            rc = emit_new(s, json_pack("{s:I}", "contentBlockIndex", (json_int_t)s->slot[i].idx),
                          "contentBlockStop", out, NULL);
    return rc ? rc
              : emit_new(s,
                         json_pack("{s:s,s:o}", "stopReason", "guardrail_intervened", "weir",
                                   weir_obj(rule, msg)),
                         "messageStop", out, NULL);
}

static int nova_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < s->nslot && !rc; i++)
        if (s->slot[i].open)
            rc = emit_new(s,
                          json_pack("{s:{s:I}}", "contentBlockStop", "contentBlockIndex",
                                    (json_int_t)s->slot[i].idx),
                          "chunk", out, NULL);
    return rc ? rc
              : emit_new(s,
                         json_pack("{s:{s:s},s:s,s:o}", "messageStop", "stopReason",
                                   "guardrail_intervened", RS_INTERVENED, "INTERVENED", "weir",
                                   weir_obj(rule, msg)),
                         "chunk", out, NULL);
}

static int anthropic_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < s->nslot && !rc; i++)
        if (s->slot[i].open)
            rc = emit_new(s,
                          json_pack("{s:s,s:I}", "type", "content_block_stop", "index",
                                    (json_int_t)s->slot[i].idx),
                          "chunk", out, NULL);
    if (!rc)
        rc = emit_new(s,
                      json_pack("{s:s,s:{s:s,s:n},s:{s:I},s:s,s:o}", "type", "message_delta",
                                "delta", "stop_reason", "end_turn", "stop_sequence", "usage",
                                "output_tokens", (json_int_t)(s->out_tok > 0 ? s->out_tok : 0),
                                RS_INTERVENED, "INTERVENED", "weir", weir_obj(rule, msg)),
                      "chunk", out, NULL);
    return rc ? rc : emit_new(s, json_pack("{s:s}", "type", "message_stop"), "chunk", out, NULL);
}

static long first_open_slot(const wr_rstream *s)
{
    for (size_t i = 0; i < s->nslot; i++)
        if (s->slot[i].open)
            return s->slot[i].idx;
    return 0;
}

static int titan_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    return emit_new(s,
                    json_pack("{s:s,s:I,s:s,s:s,s:o}", "outputText", "", "index",
                              (json_int_t)first_open_slot(s), "completionReason",
                              "CONTENT_FILTERED", RS_INTERVENED, "INTERVENED", "weir",
                              weir_obj(rule, msg)),
                    "chunk", out, NULL);
}

static int llama_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    return emit_new(s,
                    json_pack("{s:s,s:s,s:s,s:o}", "generation", "", "stop_reason", "stop",
                              RS_INTERVENED, "INTERVENED", "weir", weir_obj(rule, msg)),
                    "chunk", out, NULL);
}

/* A chat chunk ending every unfinished choice with finish_reason content_filter. */
static json_t *chat_filtered_chunk(wr_rstream *s, const char *rule, const char *msg)
{
    json_t *top = chat_top(s->base), *choices = json_array();
    int any = 0;
    for (size_t i = 0; i < s->nslot; i++) {
        if (!s->slot[i].open)
            continue;
        any = 1;
        json_array_append_new(choices,
                              chat_choice_like(chat_choice_of(s->base, s->slot[i].idx),
                                               s->slot[i].idx, json_object(), "content_filter"));
    }
    if (!any)
        json_array_append_new(choices, chat_choice_like(chat_choice_of(s->base, 0), 0,
                                                        json_object(), "content_filter"));
    if (!top || !choices) {
        json_decref(top);
        json_decref(choices);
        return NULL;
    }
    json_object_set_new(top, "choices", choices);
    if (s->fmt->invoke)
        json_object_set_new(top, RS_INTERVENED, json_string("INTERVENED"));
    json_object_set_new(top, "weir", weir_obj(rule, msg));
    return top;
}

static int chat_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    int rc = emit_new(s, chat_filtered_chunk(s, rule, msg), s->fmt->sse ? "" : "chunk", out, NULL);
    if (!rc && s->fmt->sse)
        rc = wr_buf_puts(out, "data: [DONE]\n\n");
    return rc;
}

static int responses_ending(wr_rstream *s, const char *rule, const char *msg, wr_buf *out)
{
    wr_buf b;
    wr_buf_init(&b);
    wr_openai_responses_filtered(&b, msg ? msg : "", rule ? rule : "", WEIR_COMPLETION);
    json_t *resp = b.oom ? NULL : json_loadb(b.data, b.len, 0, NULL);
    wr_buf_free(&b);
    if (!resp)
        return WEIR_ENOMEM;
    const char *keep[] = {"id", "created_at", "model"};
    for (size_t i = 0; i < WR_ARRAY_LEN(keep); i++) {
        json_t *v = json_object_get(s->base, keep[i]);
        if (v && !json_is_null(v))
            json_object_set(resp, keep[i], v);
    }
    json_t *ev = json_pack("{s:s,s:I,s:o}", "type", "response.incomplete", "sequence_number",
                           (json_int_t)(s->seq + 1), "response", resp);
    return emit_new(s, ev, "response.incomplete", out, NULL);
}

/* ------------------------------------------------------------------ the table */

static const rs_format FORMATS[] = {
    {"bedrock.converse", 0, 0, 0, "contentBlockDelta", converse_classify, converse_observe,
     converse_flush, converse_ending},
    {"bedrock.invoke.anthropic", 0, 1, 0, "chunk", anthropic_classify, anthropic_observe,
     anthropic_flush, anthropic_ending},
    {"bedrock.invoke.nova", 0, 1, 0, "chunk", nova_classify, nova_observe, nova_flush, nova_ending},
    {"bedrock.invoke.titan", 0, 1, 0, "chunk", titan_classify, titan_observe, titan_flush,
     titan_ending},
    {"bedrock.invoke.llama", 0, 1, 0, "chunk", llama_classify, llama_observe, llama_flush,
     llama_ending},
    {"bedrock.invoke.openai", 0, 1, 0, "chunk", chat_classify, chat_observe, chat_flush,
     chat_ending},
    {"bedrock.openai_chat", 1, 0, 0, NULL, chat_classify, chat_observe, chat_flush, chat_ending},
    {"bedrock.mantle.chat", 1, 0, 0, NULL, chat_classify, chat_observe, chat_flush, chat_ending},
    {"azure.chat", 1, 0, 0, NULL, chat_classify, chat_observe, chat_flush, chat_ending},
    {"bedrock.mantle.responses", 1, 0, 1, NULL, responses_classify, responses_observe,
     responses_flush, responses_ending},
    {"azure.responses", 1, 0, 1, NULL, responses_classify, responses_observe, responses_flush,
     responses_ending},
};

static const rs_format *format_for(const wr_codec *c)
{
    for (size_t i = 0; c && i < WR_ARRAY_LEN(FORMATS); i++)
        if (!strcmp(FORMATS[i].codec, c->name))
            return &FORMATS[i];
    return NULL;
}

int wr_rstream_supported(const wr_codec *c)
{
    return format_for(c) != NULL;
}

/* ------------------------------------------------------------------ blocks */

static void block_free(rs_block *b)
{
    weir_stream_free(b->ws);
    if (b->recv.data)
        wr_wipe(b->recv.data, b->recv.len);
    wr_buf_free(&b->recv);
    if (b->rel.data)
        wr_wipe(b->rel.data, b->rel.len);
    wr_buf_free(&b->rel);
    template_drop(b);
    free(b->item_id);
}

static rs_block *block_find(wr_rstream *s, rs_key k)
{
    for (size_t i = s->nblk; i-- > 0;)
        if (key_eq(s->blk[i].key, k))
            return &s->blk[i];
    return NULL;
}

static int block_open(wr_rstream *s, rs_block *b, weir_error *err)
{
    weir_stream_free(b->ws);
    b->ws = NULL;
    int rc = weir_stream_new(&b->ws, s->p, &s->ctx, s->max_hold, err);
    if (!rc)
        b->open = 1;
    return rc;
}

static int block_new(wr_rstream *s, rs_key k, rs_block **out, weir_error *err)
{
    if (s->nblk >= RS_MAX_BLOCKS)
        return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                            "%s stream: more than %d text blocks", s->fmt->codec, RS_MAX_BLOCKS);
    rs_block *n = wr_grow(s->blk, &s->capblk, s->nblk + 1, sizeof *n, 4);
    if (!n)
        return nomem(err);
    s->blk = n;
    rs_block *b = &s->blk[s->nblk];
    memset(b, 0, sizeof *b);
    b->key = k;
    int rc = block_open(s, b, err);
    if (rc)
        return rc;
    s->nblk++;
    *out = b;
    return 0;
}

static void audit_add(wr_rstream *s, rs_block *b, const char *t, size_t n)
{
    size_t room = s->audit_len < RS_AUDIT_CAP ? RS_AUDIT_CAP - s->audit_len : 0;
    if (n > room)
        n = room;
    if (n && !wr_buf_append(&b->recv, t, n))
        s->audit_len += n;
}

static void held_update(wr_rstream *s, rs_block *b)
{
    size_t h = b->ws ? weir_stream_held(b->ws) : 0;
    s->held = s->held - b->held + h;
    b->held = h;
    if (s->held > s->max_held)
        s->max_held = s->held;
}

/* Feeds (t, n) - or ends the text when t is NULL - and appends what is released to s->txt.
 * 1 when the policy blocked. */
static int block_step(wr_rstream *s, rs_block *b, const char *t, size_t n, weir_error *err)
{
    const char *o = NULL;
    size_t on = 0;
    if (t && !n)
        return 0;
    int rc = t ? weir_stream_feed(b->ws, t, n, &o, &on, err)
               : weir_stream_finish(b->ws, &o, &on, err);
    if (rc)
        return rc;
    if (!t)
        b->open = 0;
    weir_action a = weir_stream_action(b->ws);
    if (a > s->action)
        s->action = a;
    held_update(s, b);
    if (a == WEIR_BLOCK) {
        s->block_msg = weir_stream_message(b->ws);
        return 1;
    }
    if (on && wr_buf_append(&s->txt, o, on))
        return nomem(err);
    if (on && s->fmt->responses) {
        if (s->rel_len + on > WR_MAX_TEXT)
            return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                                "%s stream: the completion is over %zu bytes", s->fmt->codec,
                                WR_MAX_TEXT);
        if (wr_buf_append(&b->rel, o, on))
            return nomem(err);
        s->rel_len += on;
    }
    return 0;
}

static void scrub(json_t *owner, int responses)
{
    json_t *lp = json_object_get(owner, "logprobs");
    if (lp && !json_is_null(lp))
        json_object_set_new(owner, "logprobs", responses ? json_array() : json_null());
}

/* Ends block b's text; what was held goes out as one more delta in its last delta's shape. */
static int block_flush(wr_rstream *s, rs_block *b, wr_buf *out, weir_error *err)
{
    s->txt.len = 0;
    int rc = block_step(s, b, NULL, 0, err);
    if (!rc && !s->txt.len)
        template_drop(b);
    if (rc || !s->txt.len)
        return rc;
    json_t *ev = s->fmt->flush_tmpl(s, b);
    if (!ev)
        return nomem(err);
    const char *type = s->fmt->responses ? json_string_value(json_object_get(ev, "type"))
                                         : s->fmt->delta_type;
    scan_reset(&s->sc2, ev, type);
    rs_loc *l = NULL;
    if (s->fmt->classify(&s->sc2, err) == 0)
        for (size_t i = 0; i < s->sc2.nloc && !l; i++)
            if (key_eq(s->sc2.loc[i].key, b->key) && !s->sc2.loc[i].full)
                l = &s->sc2.loc[i];
    if (!l) {
        json_decref(ev);
        return wr_error_set(err, WEIR_EINTERNAL, NULL, 0, 0,
                            "%s stream: cannot rebuild a delta event", s->fmt->codec);
    }
    if (json_string_setn(l->node, s->txt.data, s->txt.len)) {
        json_decref(ev);
        return wr_error_set(err, WEIR_EINTERNAL, NULL, 0, 0,
                            "%s stream: released text is not valid UTF-8", s->fmt->codec);
    }
    if (l->owner)
        scrub(l->owner, s->fmt->responses);
    const char *name = b->sse_name ? b->sse_name : s->fmt->responses ? type : "";
    wr_es_header h[3] = {wr_es_header_string(":event-type", type ? type : ""),
                         wr_es_header_string(":content-type", "application/json"),
                         wr_es_header_string(":message-type", "event")};
    rs_frame fr = {b->hdrs.h ? b->hdrs.h : h, b->hdrs.h ? b->hdrs.n : 3, b->outer,
                   name ? name : ""};
    rc = emit_json(s, ev, &fr, out, err);
    json_decref(ev);
    template_drop(b);
    return rc;
}

static int closes(const rs_scan *sc, rs_key k)
{
    if (sc->close_all)
        return 1;
    for (size_t i = 0; i < sc->ncls; i++)
        if (key_match(sc->cls[i], k))
            return 1;
    return 0;
}

static int in_locs(const rs_scan *sc, rs_key k)
{
    for (size_t i = 0; i < sc->nloc; i++)
        if (key_eq(sc->loc[i].key, k))
            return 1;
    return 0;
}

/* Keeps the event as block b's flush template (a large one is not kept: a minimal delta
 * of the format stands in). */
static int block_template(wr_rstream *s, rs_block *b, json_t *root, const rs_frame *fr,
                          weir_error *err)
{
    if (!b->open || s->raw_len > RS_TMPL_MAX) {
        template_drop(b);
        return 0;
    }
    if (b->tmpl != root) {
        json_decref(b->tmpl);
        b->tmpl = json_incref(root);
    }
    if (b->outer != fr->outer) {
        json_decref(b->outer);
        b->outer = json_incref(fr->outer);
    }
    if (fr->hdrs && hdrs_copy(&b->hdrs, fr->hdrs, fr->nhdrs))
        return nomem(err);
    if (s->fmt->sse && (!b->sse_name || strcmp(b->sse_name, fr->sse_name))) {
        free(b->sse_name);
        if (!(b->sse_name = wr_strdup(fr->sse_name)))
            return nomem(err);
    }
    return 0;
}

/* ------------------------------------------------------------------ one event */

/* Ends the stream the provider's way. Returns 1. */
static int blocked(wr_rstream *s, wr_buf *out, weir_error *err);

/* Flushes every open block the event closes and that it does not carry text for. */
static int flush_closed(wr_rstream *s, wr_buf *out, weir_error *err)
{
    for (size_t i = 0; i < s->nblk; i++) {
        rs_block *b = &s->blk[i];
        if (!b->open || !closes(&s->sc, b->key) || in_locs(&s->sc, b->key))
            continue;
        int rc = block_flush(s, b, out, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* One text location: fills s->txt with its replacement. */
static int one_loc(wr_rstream *s, rs_loc *l, wr_buf *out, weir_error *err)
{
    const char *t = json_string_value(l->node);
    size_t n = json_string_length(l->node);
    rs_block *b = block_find(s, l->key);
    int rc = 0;
    if (l->full) {
        if (!b) {
            if ((rc = block_new(s, l->key, &b, err)))
                return rc;
            audit_add(s, b, t, n);
            s->txt.len = 0;
            if ((rc = block_step(s, b, t, n, err)) || (rc = block_step(s, b, NULL, 0, err)))
                return rc;
        } else if (b->open && (rc = block_flush(s, b, out, err))) {
            return rc;
        }
        s->txt.len = 0;
        if (b->rel.len && wr_buf_append(&s->txt, b->rel.data, b->rel.len))
            return nomem(err);
    } else {
        if (!b) {
            if ((rc = block_new(s, l->key, &b, err)))
                return rc;
        } else if (!b->open && (rc = block_open(s, b, err))) {
            return rc;
        }
        audit_add(s, b, t, n);
        s->txt.len = 0;
        if ((rc = block_step(s, b, t, n, err)))
            return rc;
        if (closes(&s->sc, l->key) && (rc = block_step(s, b, NULL, 0, err)))
            return rc;
    }
    if (l->item_id && !b->item_id && !(b->item_id = wr_strdup(l->item_id)))
        return nomem(err);
    return 0;
}

/*
 * Processes one parsed event: root (the model's JSON), type, frame, original bytes. Appends
 * to s->out only when the whole event went well.
 */
static int on_event(wr_rstream *s, json_t *root, const char *type, const rs_frame *fr,
                    weir_error *err)
{
    wr_buf *out = &s->ev;
    out->len = 0;
    scan_reset(&s->sc, root, type);
    int rc = s->fmt->classify(&s->sc, err);
    if (rc) {
        char why[sizeof err->text];
        snprintf(why, sizeof why, "%s", err->text);
        return rc == WEIR_ENOMEM ? nomem(err) : bad(s, err, why);
    }
    s->fmt->observe(s, &s->sc, 0);
    if ((rc = flush_closed(s, out, err)))
        return rc == 1 ? blocked(s, out, err) : rc;
    size_t changed = 0, dropped = 0;
    for (size_t i = 0; i < s->sc.nloc; i++) {
        rs_loc *l = &s->sc.loc[i];
        size_t n = json_string_length(l->node);
        if ((rc = one_loc(s, l, out, err)))
            return rc == 1 ? blocked(s, out, err) : rc;
        if (n && !s->txt.len)
            dropped++;
        if (s->txt.len == n && (!n || !memcmp(s->txt.data, json_string_value(l->node), n)))
            continue;
        if (json_string_setn(l->node, s->txt.len ? s->txt.data : "", s->txt.len))
            return wr_error_set(err, WEIR_EINTERNAL, NULL, 0, 0,
                                "%s stream: released text is not valid UTF-8", s->fmt->codec);
        if (l->owner)
            scrub(l->owner, s->fmt->responses);
        changed++;
    }
    for (size_t i = 0; s->sc.delta && i < s->sc.nloc; i++) {
        rs_loc *l = &s->sc.loc[i];
        rs_block *b = l->full ? NULL : block_find(s, l->key);
        if (b && (rc = block_template(s, b, root, fr, err)))
            return rc;
    }
    s->fmt->observe(s, &s->sc, 1);
    if (!changed && s->raw)
        rc = wr_buf_append(out, s->raw, s->raw_len) ? nomem(err) : 0;
    else if (!(s->sc.droppable && s->sc.nloc && dropped == s->sc.nloc))
        rc = emit_json(s, root, fr, out, err);
    if (!rc && out->len && wr_buf_append(s->out, out->data, out->len))
        rc = nomem(err);
    return rc;
}

/* An event that is not ours to read (exceptions, unknown types, comments): forwarded as
 * it came, after the held text of every open block when it ends the stream. */
static int on_opaque(wr_rstream *s, int ends, weir_error *err)
{
    wr_buf *out = &s->ev;
    out->len = 0;
    if (ends) {
        scan_reset(&s->sc, NULL, "");
        s->sc.close_all = 1;
        int rc = flush_closed(s, out, err);
        if (rc)
            return rc == 1 ? blocked(s, out, err) : rc;
    }
    if (wr_buf_append(out, s->raw, s->raw_len) || wr_buf_append(s->out, out->data, out->len))
        return nomem(err);
    return 0;
}

/* ------------------------------------------------------------------ audit */

static void audit_run(wr_rstream *s)
{
    if (s->have_audit)
        return;
    s->have_audit = 1;
    wr_buf *a = &s->audit;
    for (size_t i = 0; i < s->nblk; i++) {
        const wr_buf *r = &s->blk[i].recv;
        if (!r->len)
            continue;
        if (a->len)
            wr_buf_append(a, "\n\n", 2);
        wr_buf_append(a, r->data, r->len);
    }
    if (a->len > RS_AUDIT_CAP) {
        size_t n = RS_AUDIT_CAP;
        while (n > 0 && ((unsigned char)a->data[n] & 0xC0) == 0x80)
            n--;
        a->len = n;
        a->data[n] = '\0';
    }
    weir_check(&s->result, s->p, &s->ctx, a->data ? a->data : "", a->len, NULL);
}

static int blocked(wr_rstream *s, wr_buf *out, weir_error *err)
{
    s->state = RS_BLOCKED;
    s->action = WEIR_BLOCK;
    audit_run(s);
    const weir_finding *f = s->result ? weir_result_decisive(s->result) : NULL;
    const char *rule = f && f->action == WEIR_BLOCK && weir_result_action(s->result) == WEIR_BLOCK
                           ? f->rule
                           : "";
    int rc = s->fmt->ending(s, rule, s->block_msg ? s->block_msg : "blocked by policy", out);
    if (!rc && out != s->out && wr_buf_append(s->out, out->data, out->len))
        rc = WEIR_ENOMEM;
    if (rc) {
        s->state = RS_RUNNING;
        return nomem(err);
    }
    return 1;
}

/* ------------------------------------------------------------------ JSON */

static int parse_obj(wr_rstream *s, const char *data, size_t len, const char *what, json_t **out,
                     weir_error *err)
{
    *out = NULL;
    if (len > s->max_frame)
        return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                            "%s stream: event %llu: %s is %zu bytes, over the limit of %zu",
                            s->fmt->codec, (unsigned long long)s->nevents, what, len, s->max_frame);
    if (!wr_json_depth_ok(data, len, WR_BODY_MAX_DEPTH))
        return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                            "%s stream: event %llu: %s nests deeper than %d levels", s->fmt->codec,
                            (unsigned long long)s->nevents, what, WR_BODY_MAX_DEPTH);
    json_error_t je;
    size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY;
    json_t *v = json_loadb(data, len, flags, &je);
    if (!v)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "%s stream: event %llu: %s is not valid JSON: %s", s->fmt->codec,
                            (unsigned long long)s->nevents, what, je.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "%s stream: event %llu: %s is not a JSON object", s->fmt->codec,
                            (unsigned long long)s->nevents, what);
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ event-stream */

static const char *const CONVERSE_EVENTS[] = {"messageStart", "contentBlockStart",
                                              "contentBlockDelta", "contentBlockStop",
                                              "messageStop", "metadata"};

static int es_message(void *user, const wr_es_message *m, weir_error *err)
{
    wr_rstream *s = user;
    s->nevents++;
    s->raw = (const char *)m->frame;
    s->raw_len = m->frame_len;
    size_t mtl = 0, etl = 0;
    const char *mt = wr_es_header_str(m, ":message-type", &mtl);
    const char *et = wr_es_header_str(m, ":event-type", &etl);
    if (mt && ((mtl == 9 && !memcmp(mt, "exception", 9)) || (mtl == 5 && !memcmp(mt, "error", 5))))
        return on_opaque(s, 1, err);
    char type[32] = "";
    if (et && etl < sizeof type) {
        memcpy(type, et, etl);
        type[etl] = '\0';
    }
    int known = 0;
    if (s->fmt->invoke)
        known = !strcmp(type, "chunk");
    for (size_t i = 0; !s->fmt->invoke && i < WR_ARRAY_LEN(CONVERSE_EVENTS); i++)
        known |= !strcmp(type, CONVERSE_EVENTS[i]);
    if (!known)
        return on_opaque(s, 0, err);

    json_t *payload = NULL, *inner = NULL;
    rs_frame fr = {m->headers, m->nheaders, NULL, ""};
    int rc = parse_obj(s, (const char *)m->payload, m->payload_len, "the payload", &payload, err);
    if (!rc && s->fmt->invoke) {
        json_t *bytes = json_object_get(payload, "bytes");
        s->tmp2.len = 0;
        int d = json_is_string(bytes) ? b64_decode(&s->tmp2, json_string_value(bytes),
                                                   json_string_length(bytes))
                                      : -1;
        if (d == WEIR_ENOMEM)
            rc = nomem(err);
        else if (d)
            rc = bad(s, err, json_is_string(bytes) ? "chunk bytes are not valid base64"
                                                   : "chunk has no \"bytes\" string");
        else
            rc = parse_obj(s, s->tmp2.data ? s->tmp2.data : "", s->tmp2.len, "the chunk's bytes",
                           &inner, err);
        fr.outer = payload;
    }
    if (!rc)
        rc = on_event(s, s->fmt->invoke ? inner : payload, type, &fr, err);
    json_decref(inner);
    json_decref(payload);
    return rc;
}

/* ------------------------------------------------------------------ SSE */

static int sse_event(void *ctx, const wr_sse_event *ev)
{
    wr_rstream *s = ctx;
    weir_error *err = &s->cberr;
    s->nevents++;
    s->sse_got++;
    if (s->sse_got > 1)
        s->raw = NULL; /* not one event per cut: re-encode */
    int rc;
    if (ev->done) {
        if (!s->raw) {
            s->raw = "data: [DONE]\n\n";
            s->raw_len = 14;
        }
        return on_opaque(s, 1, err);
    }
    json_t *root = NULL;
    rc = parse_obj(s, ev->data, ev->data_len, "the data", &root, err);
    if (rc)
        return rc;
    const char *type = ev->event;
    if (s->fmt->responses) {
        const char *jt = json_string_value(json_object_get(root, "type"));
        if (jt)
            type = jt;
    }
    rs_frame fr = {NULL, 0, NULL, ev->event};
    rc = on_event(s, root, type, &fr, err);
    json_decref(root);
    return rc;
}

/* One whole SSE event (its lines and the blank line), as it came. */
static int sse_cut(wr_rstream *s, const char *seg, size_t n, weir_error *err)
{
    if (n > s->max_frame)
        return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                            "%s stream: an event is over the limit of %zu bytes", s->fmt->codec,
                            s->max_frame);
    s->raw = seg;
    s->raw_len = n;
    s->sse_got = 0;
    s->cberr.code = 0;
    weir_error perr = {0};
    int rc = wr_sse_feed(s->sse, seg, n, sse_event, s, &perr);
    if (rc == 1)
        return 1;
    if (rc < 0) {
        *err = s->cberr.code ? s->cberr : perr;
        return rc;
    }
    if (!s->sse_got) {
        s->raw = seg;
        s->raw_len = n;
        return on_opaque(s, 0, err);
    }
    return 0;
}

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

/* Cuts s->pend into whole events; the rest waits. `final`: the stream ended. */
static int sse_split(wr_rstream *s, int final, weir_error *err)
{
    const char *p = s->pend.data;
    size_t n = s->pend.len, i = s->sp_scanned, start = 0;
    int rc = 0;
    while (i < n && !rc) {
        unsigned char c = (unsigned char)p[i];
        if (s->sp_bom < 3) {
            if (c == BOM[s->sp_bom]) {
                s->sp_bom++;
                i++;
                continue;
            }
            s->sp_line += (size_t)s->sp_bom;
            s->sp_bom = 3;
        }
        if (s->sp_cr) {
            s->sp_cr = 0;
            if (c == '\n') {
                i++;
                if (s->sp_crblank) {
                    rc = sse_cut(s, p + start, i - start, err);
                    start = i;
                }
                continue;
            }
            if (s->sp_crblank) {
                rc = sse_cut(s, p + start, i - start, err);
                start = i;
                continue;
            }
        }
        i++;
        if (c == '\n') {
            if (s->sp_line == 0) {
                rc = sse_cut(s, p + start, i - start, err);
                start = i;
            }
            s->sp_line = 0;
        } else if (c == '\r') {
            s->sp_cr = 1;
            s->sp_crblank = s->sp_line == 0;
            s->sp_line = 0;
        } else {
            s->sp_line++;
        }
        if (!rc && i - start > s->max_frame)
            rc = wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                              "%s stream: an event is over the limit of %zu bytes",
                              s->fmt->codec, s->max_frame);
    }
    if (!rc && final && s->sp_cr && s->sp_crblank && start < n) {
        s->sp_cr = 0;
        rc = sse_cut(s, p + start, n - start, err);
        start = n;
    }
    if (rc)
        return rc;
    if (final && start < n)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "%s stream: the upstream ended inside an event (%zu bytes)",
                            s->fmt->codec, n - start);
    if (start && n > start)
        memmove(s->pend.data, s->pend.data + start, n - start);
    s->pend.len = n - start;
    s->sp_scanned = s->pend.len;
    return 0;
}

/* ------------------------------------------------------------------ API */

int wr_rstream_new(wr_rstream **out, const wr_codec *c, const weir_policy *p,
                   const weir_context *ctx, size_t max_hold, size_t max_frame, weir_error *err)
{
    if (!out || !c || !p)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "stream: codec and policy are required");
    *out = NULL;
    const rs_format *f = format_for(c);
    if (!f)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "%s: no streaming form", c->name);
    if (ctx && ctx->version != WEIR_CONTEXT_VERSION)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_context.version is %u, expected %u", ctx->version,
                            WEIR_CONTEXT_VERSION);
    wr_rstream *s = wr_calloc(1, sizeof *s);
    if (!s)
        return nomem(err);
    weir_context def = WEIR_CONTEXT_INIT;
    s->fmt = f;
    s->p = p;
    s->ctx = ctx ? *ctx : def;
    s->ctx.direction = WEIR_COMPLETION;
    if (!ctx)
        s->ctx.provider = c->provider;
    s->max_hold = max_hold;
    s->max_frame = max_frame ? max_frame : RS_DEFAULT_FRAME;
    s->in_tok = s->out_tok = -1;
    s->seq = -1;
    wr_buf_init(&s->pend);
    wr_buf_init(&s->ev);
    wr_buf_init(&s->tmp);
    wr_buf_init(&s->tmp2);
    wr_buf_init(&s->txt);
    wr_buf_init(&s->audit);
    int rc = 0;
    if (f->sse)
        rc = wr_sse_new(&s->sse, s->max_frame + 64, err);
    else
        wr_es_decoder_init(&s->es, s->max_frame);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void wr_rstream_free(wr_rstream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nblk; i++)
        block_free(&s->blk[i]);
    free(s->blk);
    free(s->slot);
    scan_free(&s->sc);
    scan_free(&s->sc2);
    wr_sse_free(s->sse);
    if (!s->fmt->sse)
        wr_es_decoder_free(&s->es);
    json_decref(s->base);
    weir_result_free(s->result);
    wr_buf *wipe[] = {&s->pend, &s->ev, &s->tmp, &s->tmp2, &s->txt, &s->audit};
    for (size_t i = 0; i < WR_ARRAY_LEN(wipe); i++) {
        if (wipe[i]->data)
            wr_wipe(wipe[i]->data, wipe[i]->len);
        wr_buf_free(wipe[i]);
    }
    free(s);
}

/* Prefixes err with the codec name unless it already names it. */
static void name_err(const wr_rstream *s, weir_error *err)
{
    size_t nl = strlen(s->fmt->codec);
    if (!strncmp(err->text, s->fmt->codec, nl) || !strncmp(err->text, "stream:", 7))
        return;
    char t[sizeof err->text];
    size_t k = (size_t)snprintf(t, sizeof t, "%s stream: ", s->fmt->codec);
    if (k < sizeof t) {
        size_t n = strnlen(err->text, sizeof err->text - 1);
        if (n > sizeof t - 1 - k)
            n = sizeof t - 1 - k;
        memcpy(t + k, err->text, n);
        t[k + n] = '\0';
    }
    memcpy(err->text, t, sizeof t);
}

/* e: what went wrong inside; err: the caller's, filled only on failure */
static int settle(wr_rstream *s, int rc, const weir_error *e, weir_error *err)
{
    if (s->state == RS_BLOCKED)
        return 1;
    if (rc >= 0)
        return 0;
    if (e->code)
        s->err = *e;
    else
        wr_error_set(&s->err, rc, NULL, 0, 0, "%s stream: failed", s->fmt->codec);
    s->err.code = rc;
    name_err(s, &s->err);
    s->state = RS_FAILED;
    audit_run(s);
    if (err)
        *err = s->err;
    return s->err.code;
}

static int sticky(wr_rstream *s, weir_error *err)
{
    if (s->state == RS_BLOCKED)
        return 1;
    if (s->state == RS_FAILED) {
        if (err)
            *err = s->err;
        return s->err.code;
    }
    return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "%s stream: already finished",
                        s->fmt->codec);
}

int wr_rstream_feed(wr_rstream *s, const char *data, size_t len, wr_buf *out, weir_error *err)
{
    if (!s || !out || (!data && len))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "stream: invalid arguments");
    if (s->state != RS_RUNNING)
        return sticky(s, err);
    weir_error e = {0};
    s->out = out;
    int rc;
    if (s->fmt->sse)
        rc = wr_buf_append(&s->pend, data, len) ? nomem(&e) : sse_split(s, 0, &e);
    else
        rc = wr_es_decoder_feed(&s->es, data, len, es_message, s, &e);
    return settle(s, rc, &e, err);
}

int wr_rstream_finish(wr_rstream *s, wr_buf *out, weir_error *err)
{
    if (!s || !out)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "stream: invalid arguments");
    if (s->state != RS_RUNNING)
        return sticky(s, err);
    weir_error e = {0};
    s->out = out;
    int rc = s->fmt->sse ? sse_split(s, 1, &e) : wr_es_decoder_finish(&s->es, &e);
    if (!rc && s->state == RS_RUNNING) {
        s->raw = NULL;
        s->ev.len = 0;
        scan_reset(&s->sc, NULL, "");
        s->sc.close_all = 1;
        rc = flush_closed(s, &s->ev, &e);
        if (rc == 1)
            rc = blocked(s, &s->ev, &e);
        else if (!rc && s->ev.len && wr_buf_append(out, s->ev.data, s->ev.len))
            rc = nomem(&e);
    }
    rc = settle(s, rc, &e, err);
    if (rc == 0) {
        s->state = RS_FINISHED;
        audit_run(s);
    }
    return rc;
}

weir_action wr_rstream_action(const wr_rstream *s)
{
    return s ? s->action : WEIR_BLOCK;
}

size_t wr_rstream_held(const wr_rstream *s)
{
    return s ? s->held : 0;
}

size_t wr_rstream_max_held(const wr_rstream *s)
{
    return s ? s->max_held : 0;
}

const weir_result *wr_rstream_result(const wr_rstream *s, const char **text, size_t *len)
{
    int done = s && s->have_audit;
    if (text)
        *text = done ? (s->audit.data ? s->audit.data : "") : NULL;
    if (len)
        *len = done ? s->audit.len : 0;
    return done ? s->result : NULL;
}

void wr_rstream_usage(const wr_rstream *s, long *input_tokens, long *output_tokens)
{
    if (input_tokens)
        *input_tokens = s ? s->in_tok : -1;
    if (output_tokens)
        *output_tokens = s ? s->out_tok : -1;
}
