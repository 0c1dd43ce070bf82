/*
 * Streamed completions through the gate (filter/providers/rstream.h).
 *
 * Golden streams (tests/data/rstream/cases.txt): every case is replayed whole, split at
 * every byte, byte by byte and in random chunks; all must give the very same bytes, equal to
 * the expected file. Event-stream goldens are written one event per line and framed here
 * with wr_es_encode; the output is decoded (CRCs checked) and rendered the same way.
 * WEIR_RSTREAM_REGEN=1 rewrites the expected files (review the diff before committing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "providers/eventstream.h"
#include "providers/rstream.h"

static weir_policy *DEFAULT, *PROMPT_ONLY;

/* ------------------------------------------------------------------ files */

static char *data_path(char *buf, size_t n, const char *name)
{
    const char *root = getenv("WEIR_SOURCE_DIR");
    snprintf(buf, n, "%s/tests/data/rstream/%s", root ? root : ".", name);
    return buf;
}

static char *read_rs(const char *name, size_t *len)
{
    char path[1024];
    FILE *f = fopen(data_path(path, sizeof path, name), "rb");
    if (!f)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    wr_buf b;
    wr_buf_init(&b);
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        wr_buf_append(&b, tmp, k);
    fclose(f);
    wr_buf_append(&b, "", 0);
    if (!b.data)
        b.data = calloc(1, 1);
    if (len)
        *len = b.len;
    return b.data;
}

static void write_rs(const char *name, const char *data, size_t len)
{
    char path[1024];
    FILE *f = fopen(data_path(path, sizeof path, name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ------------------------------------------------------------------ base64 (test side) */

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

static size_t unb64(unsigned char *out, const char *in, size_t n)
{
    size_t k = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = strchr(A, in[i]);
        assert_non_null(p);
        v = v << 6 | (unsigned)(p - A);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(v >> bits);
        }
    }
    return k;
}

/* ------------------------------------------------------------------ event-stream notation */

static void frame(wr_buf *out, const char *mtype, const char *hname, const char *hval,
                  const char *payload, size_t plen)
{
    wr_es_header h[3] = {wr_es_header_string(hname, hval),
                         wr_es_header_string(":content-type", "application/json"),
                         wr_es_header_string(":message-type", mtype)};
    assert_int_equal(wr_es_encode(out, h, 3, payload, plen), 0);
}

/* "TYPE JSON" per line ("exception:TYPE JSON"; invoke: "chunk[{extra}] JSON") -> frames */
static void build_es(const char *text, int invoke, wr_buf *out)
{
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, n);
        p += n + (e ? 1 : 0);
        if (!n || line[0] == '#') {
            free(line);
            continue;
        }
        char *sp = strchr(line, ' ');
        assert_non_null(sp);
        *sp = '\0';
        const char *json = sp + 1;
        if (!strncmp(line, "exception:", 10)) {
            wr_es_header h[3] = {wr_es_header_string(":exception-type", line + 10),
                                 wr_es_header_string(":content-type", "application/json"),
                                 wr_es_header_string(":message-type", "exception")};
            assert_int_equal(wr_es_encode(out, h, 3, json, strlen(json)), 0);
        } else if (invoke && !strncmp(line, "chunk", 5)) {
            wr_buf pl;
            wr_buf_init(&pl);
            wr_buf_puts(&pl, "{\"bytes\":\"");
            b64(&pl, (const unsigned char *)json, strlen(json));
            wr_buf_puts(&pl, "\"");
            if (line[5] == '[') { /* chunk[{"p":"x"}]: members after "bytes" */
                char *end = strrchr(line, ']');
                assert_non_null(end);
                *end = '\0';
                assert_true(line[6] == '{' && end[-1] == '}');
                end[-1] = '\0';
                if (line[7])
                    wr_buf_printf(&pl, ",%s", line + 7);
            }
            wr_buf_puts(&pl, "}");
            frame(out, "event", ":event-type", "chunk", pl.data, pl.len);
            wr_buf_free(&pl);
        } else {
            frame(out, "event", ":event-type", line, json, strlen(json));
        }
        free(line);
    }
}

typedef struct render_ctx {
    wr_buf *txt;
    int invoke;
} render_ctx;

static int render_one(void *user, const wr_es_message *m, weir_error *err)
{
    (void)err;
    render_ctx *rc = user;
    size_t n = 0;
    const char *mt = wr_es_header_str(m, ":message-type", &n);
    assert_non_null(mt);
    assert_int_equal(m->nheaders, 3);
    if (n == 9 && !memcmp(mt, "exception", 9)) {
        const char *t = wr_es_header_str(m, ":exception-type", &n);
        wr_buf_printf(rc->txt, "exception:%.*s %.*s\n", (int)n, t, (int)m->payload_len,
                      (const char *)m->payload);
        return 0;
    }
    assert_true(wr_es_header_is(m, ":message-type", "event"));
    assert_true(wr_es_header_is(m, ":content-type", "application/json"));
    assert_true(m->headers[0].name_len == 11 && !memcmp(m->headers[0].name, ":event-type", 11));
    const char *et = wr_es_header_str(m, ":event-type", &n);
    assert_non_null(et);
    if (!rc->invoke) {
        wr_buf_printf(rc->txt, "%.*s %.*s\n", (int)n, et, (int)m->payload_len,
                      (const char *)m->payload);
        return 0;
    }
    assert_true(n == 5 && !memcmp(et, "chunk", 5));
    json_error_t je;
    json_t *outer = json_loadb((const char *)m->payload, m->payload_len, 0, &je);
    assert_non_null(outer);
    json_t *bytes = json_object_get(outer, "bytes");
    assert_true(json_is_string(bytes));
    unsigned char *inner = malloc(json_string_length(bytes) + 1);
    size_t k = unb64(inner, json_string_value(bytes), json_string_length(bytes));
    json_object_del(outer, "bytes");
    wr_buf_puts(rc->txt, "chunk");
    if (json_object_size(outer)) {
        char *extra = json_dumps(outer, JSON_COMPACT | JSON_PRESERVE_ORDER);
        wr_buf_printf(rc->txt, "[%s]", extra);
        free(extra);
    }
    wr_buf_printf(rc->txt, " %.*s\n", (int)k, (const char *)inner);
    free(inner);
    json_decref(outer);
    return 0;
}

/* Decodes weir's event-stream output (both CRCs checked) into the golden notation. */
static void render_es(const char *data, size_t len, int invoke, wr_buf *txt)
{
    wr_es_decoder d;
    wr_es_decoder_init(&d, 0);
    render_ctx rc = {txt, invoke};
    weir_error err = {0};
    int r = wr_es_decoder_feed(&d, data, len, render_one, &rc, &err);
    if (r)
        print_error("output is not a valid event stream: %s\n", err.text);
    assert_int_equal(r, 0);
    assert_int_equal(wr_es_decoder_finish(&d, NULL), 0);
    wr_es_decoder_free(&d);
    wr_buf_append(txt, "", 0);
}

/* The golden notation without comments and blank lines. */
static void strip_comments(const char *text, wr_buf *out)
{
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
        if (n > 1 && p[0] != '#')
            wr_buf_append(out, p, n);
        p += n;
    }
    wr_buf_append(out, "", 0);
}

static int codec_is_sse(const wr_codec *c)
{
    return strncmp(c->name, "bedrock.invoke.", 15) && strcmp(c->name, "bedrock.converse");
}

static int codec_is_invoke(const wr_codec *c)
{
    return !strncmp(c->name, "bedrock.invoke.", 15);
}

/* ------------------------------------------------------------------ running a stream */

typedef struct run {
    wr_buf out;
    int rc; /* the last return of feed / finish */
    weir_error err;
    wr_rstream *s;
} run;

static weir_context completion_ctx(const wr_codec *c)
{
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.direction = WEIR_COMPLETION;
    ctx.provider = c->provider;
    return ctx;
}

/*
 * Feeds data in the chunks cuts[] describe (ascending offsets), then finishes. Keeps the
 * stream in r->s when keep, frees it otherwise. Stops at the first non-zero return.
 */
static void run_cuts(run *r, const wr_codec *c, const weir_policy *p, const char *data, size_t n,
                     const size_t *cuts, size_t ncuts, size_t max_hold, size_t max_frame, int keep)
{
    static weir_context ctx;
    ctx = completion_ctx(c);
    memset(r, 0, sizeof *r);
    wr_buf_init(&r->out);
    assert_int_equal(wr_rstream_new(&r->s, c, p, &ctx, max_hold, max_frame, &r->err), 0);
    size_t at = 0;
    r->rc = 0;
    for (size_t i = 0; i <= ncuts && r->rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        r->rc = wr_rstream_feed(r->s, data + at, to - at, &r->out, &r->err);
        at = to;
    }
    if (r->rc == 0)
        r->rc = wr_rstream_finish(r->s, &r->out, &r->err);
    if (!keep) {
        wr_rstream_free(r->s);
        r->s = NULL;
    }
}

static void run_free(run *r)
{
    wr_rstream_free(r->s);
    wr_buf_free(&r->out);
}

static void assert_same(const run *want, const run *got, const char *name, const char *how,
                        size_t at)
{
    if (want->rc != got->rc || want->out.len != got->out.len ||
        (want->out.len && memcmp(want->out.data, got->out.data, want->out.len))) {
        print_error("%s: %s %zu: output differs (rc %d/%d, %zu/%zu bytes)\n", name, how, at,
                    want->rc, got->rc, want->out.len, got->out.len);
        fail();
    }
}

/* Whole, every split point, byte by byte and random chunkings give the same bytes. */
static void replay_all(const run *whole, const wr_codec *c, const weir_policy *p,
                       const char *data, size_t n, const char *name, size_t max_frame)
{
    run r;
    for (size_t k = 0; k <= n; k++) {
        run_cuts(&r, c, p, data, n, &k, 1, 0, max_frame, 0);
        assert_same(whole, &r, name, "split at", k);
        run_free(&r);
    }
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    for (size_t k = 0; k < n; k++)
        cuts[k] = k;
    run_cuts(&r, c, p, data, n, cuts, n, 0, max_frame, 0);
    assert_same(whole, &r, name, "byte by byte", 0);
    run_free(&r);
    unsigned seed = 12345;
    for (int t = 0; t < 24; t++) {
        size_t nc = 0, at = 0;
        while (at < n) {
            seed = seed * 1103515245u + 12345u;
            at += 1 + (seed >> 16) % (t < 12 ? 7 : 97);
            if (at < n)
                cuts[nc++] = at;
        }
        run_cuts(&r, c, p, data, n, cuts, nc, 0, max_frame, 0);
        assert_same(whole, &r, name, "random chunking", (size_t)t);
        run_free(&r);
    }
    free(cuts);
}

/* The upstream bytes of golden input NAME.in for codec c. */
static char *golden_input(const char *input, const wr_codec *c, size_t *len)
{
    char file[128];
    snprintf(file, sizeof file, "%s.in", input);
    size_t n;
    char *text = read_rs(file, &n);
    if (codec_is_sse(c)) {
        *len = n;
        return text;
    }
    wr_buf b;
    wr_buf_init(&b);
    build_es(text, codec_is_invoke(c), &b);
    free(text);
    *len = b.len;
    return b.data;
}

/* Weir's output in the golden notation (event-stream decoded; SSE as is). New buffer. */
static void render(const wr_codec *c, const wr_buf *out, wr_buf *txt)
{
    wr_buf_init(txt);
    if (codec_is_sse(c)) {
        wr_buf_append(txt, out->data ? out->data : "", out->len);
        wr_buf_append(txt, "", 0);
    } else {
        render_es(out->data ? out->data : "", out->len, codec_is_invoke(c), txt);
    }
    if (!txt->data)
        txt->data = calloc(1, 1);
}

/* ------------------------------------------------------------------ goldens */

typedef struct gcase {
    char name[64], input[64], codec[64], policy[32], expect[64], action[16];
    int rc;
    long in_tok, out_tok;
} gcase;

static size_t load_cases(gcase **out)
{
    char *text = read_rs("cases.txt", NULL);
    gcase *v = NULL;
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || !line[0])
            continue;
        v = realloc(v, (n + 1) * sizeof *v);
        gcase *g = &v[n++];
        int k = sscanf(line, "%63s %63s %63s %31s %63s %d %15s %ld %ld", g->name, g->input,
                       g->codec, g->policy, g->expect, &g->rc, g->action, &g->in_tok, &g->out_tok);
        if (k != 9)
            print_error("cases.txt: bad line: %s\n", line);
        assert_int_equal(k, 9);
    }
    free(text);
    *out = v;
    return n;
}

static void check_case(const gcase *g)
{
    const wr_codec *c = wr_codec_find(g->codec);
    assert_non_null(c);
    assert_true(wr_rstream_supported(c));
    const weir_policy *p = !strcmp(g->policy, "default") ? DEFAULT : PROMPT_ONLY;
    size_t n;
    char *in = golden_input(g->input, c, &n);

    run whole;
    run_cuts(&whole, c, p, in, n, NULL, 0, 0, 0, 1);
    if (whole.rc < 0)
        print_error("%s: %s\n", g->name, whole.err.text);
    assert_int_equal(whole.rc, g->rc);
    assert_string_equal(weir_action_name(wr_rstream_action(whole.s)), g->action);
    long it, ot;
    wr_rstream_usage(whole.s, &it, &ot);
    if (it != g->in_tok || ot != g->out_tok)
        print_error("%s: usage %ld/%ld\n", g->name, it, ot);
    assert_int_equal(it, g->in_tok);
    assert_int_equal(ot, g->out_tok);
    assert_non_null(wr_rstream_result(whole.s, NULL, NULL));
    if (g->rc == 0)
        assert_int_equal(wr_rstream_held(whole.s), 0); /* everything held went out */

    wr_buf got;
    render(c, &whole.out, &got);
    if (!strcmp(g->expect, "-")) {
        /* nothing applies: every event leaves as the very bytes that came in */
        assert_int_equal(whole.out.len, n);
        assert_memory_equal(whole.out.data, in, n);
    } else if (getenv("WEIR_RSTREAM_REGEN")) {
        write_rs(g->expect, got.data, got.len);
    } else {
        char *exp = read_rs(g->expect, NULL);
        wr_buf want;
        wr_buf_init(&want);
        if (codec_is_sse(c))
            wr_buf_puts(&want, exp);
        else
            strip_comments(exp, &want);
        if (strcmp(want.data ? want.data : "", got.data))
            print_error("%s: output differs from %s:\n%s\n", g->name, g->expect, got.data);
        assert_string_equal(want.data ? want.data : "", got.data);
        wr_buf_free(&want);
        free(exp);
    }
    if (!strcmp(g->policy, "default")) {
        /* no e-mail address and no card number leaves weir */
        assert_null(strchr(got.data, '@'));
        assert_null(strstr(got.data, "1111"));
        assert_null(strstr(got.data, "5555 4444"));
    }
    wr_buf_free(&got);
    replay_all(&whole, c, p, in, n, g->name, 0);
    run_free(&whole);
    free(in);
}

static void test_goldens(void **state)
{
    (void)state;
    gcase *v;
    size_t n = load_cases(&v);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++)
        check_case(&v[i]);
    free(v);
}

/* ------------------------------------------------------------------ event by event */

/* Feeds the golden input one upstream event at a time; returns the output text of each. */
typedef struct step {
    size_t held;
    char out[4096];
} step;

static size_t event_offsets(const wr_codec *c, const char *in, size_t n, size_t *offs, size_t cap)
{
    size_t k = 0;
    if (codec_is_sse(c)) {
        for (size_t i = 0; i + 1 < n && k < cap; i++)
            if (in[i] == '\n' && in[i + 1] == '\n')
                offs[k++] = i + 2;
    } else {
        for (size_t at = 0; at + 4 <= n && k < cap;) {
            const unsigned char *u = (const unsigned char *)in + at;
            at += (size_t)u[0] << 24 | (size_t)u[1] << 16 | (size_t)u[2] << 8 | u[3];
            offs[k++] = at;
        }
    }
    return k;
}

static size_t step_events(const char *input, const char *codec, step *steps, size_t cap,
                          wr_rstream **keep)
{
    const wr_codec *c = wr_codec_find(codec);
    size_t n, offs[64];
    char *in = golden_input(input, c, &n);
    size_t k = event_offsets(c, in, n, offs, 64);
    weir_context ctx = completion_ctx(c);
    wr_rstream *s;
    assert_int_equal(wr_rstream_new(&s, c, DEFAULT, &ctx, 0, 0, NULL), 0);
    size_t at = 0;
    for (size_t i = 0; i < k && i < cap; i++) {
        wr_buf out, txt;
        wr_buf_init(&out);
        assert_true(wr_rstream_feed(s, in + at, offs[i] - at, &out, NULL) >= 0);
        at = offs[i];
        render(c, &out, &txt);
        steps[i].held = wr_rstream_held(s);
        snprintf(steps[i].out, sizeof steps[i].out, "%s", txt.data);
        wr_buf_free(&out);
        wr_buf_free(&txt);
    }
    free(in);
    *keep = s;
    return k;
}

/* The e-mail split over three deltas: held back while it might be one, released redacted. */
static void test_email_holdback(void **state)
{
    (void)state;
    step st[16];
    wr_rstream *s;
    size_t k = step_events("converse-email", "bedrock.converse", st, 16, &s);
    assert_int_equal(k, 11);
    /* "Write to john.do": "Write to " goes, the possible address start waits */
    print_message("held after each ConverseStream event:");
    for (size_t i = 0; i < k; i++)
        print_message(" %zu", st[i].held);
    print_message("; most held at once: %zu bytes\n", wr_rstream_max_held(s));
    assert_non_null(strstr(st[1].out, "\"text\":\"Write to \""));
    assert_int_equal(st[1].held, strlen("john.do"));
    assert_string_equal(st[2].out, ""); /* "e@exam": all of it still may be an address */
    assert_int_equal(st[2].held, strlen("john.doe@exam"));
    assert_non_null(strstr(st[3].out, "[EMAIL]"));
    assert_null(strchr(st[3].out, '@'));
    assert_true(wr_rstream_max_held(s) >= strlen("john.doe@exam"));
    assert_true(wr_rstream_max_held(s) < 64);
    /* contentBlockStop: what was held goes out first, as one more delta, then the stop */
    assert_non_null(strstr(st[4].out, "contentBlockDelta"));
    assert_true(strstr(st[4].out, "contentBlockDelta") < strstr(st[4].out, "contentBlockStop"));
    assert_int_equal(st[4].held, 0);
    wr_buf out;
    wr_buf_init(&out);
    assert_int_equal(wr_rstream_finish(s, &out, NULL), 0);
    assert_int_equal(out.len, 0);
    wr_buf_free(&out);

    /* the audit text is what came in, blocks joined; its check redacts */
    const char *text;
    size_t len;
    const weir_result *r = wr_rstream_result(s, &text, &len);
    assert_non_null(r);
    assert_string_equal(text, "Write to john.doe@example.com for details.\n\n"
                              "{\"to\":\"ana@example.org\",\"subject\":\"hi\"}");
    assert_int_equal(len, strlen(text));
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    wr_rstream_free(s);
}

/* Concatenates the Responses deltas of one type (output_text or function_call_arguments). */
static void collect_sse(const char *sse, const char *type, const char *field, wr_buf *cat,
                        json_t **last)
{
    *last = NULL;
    for (const char *p = sse; (p = strstr(p, "data: "));) {
        const char *e = strstr(p, "\n\n");
        assert_non_null(e);
        json_t *v = json_loadb(p + 6, (size_t)(e - p - 6), 0, NULL);
        p = e;
        if (!v)
            continue;
        const char *t = json_string_value(json_object_get(v, "type"));
        if (t && !strcmp(t, type)) {
            json_t *f = json_object_get(v, field);
            if (cat)
                wr_buf_append(cat, json_string_value(f), json_string_length(f));
            json_decref(*last);
            *last = json_incref(v);
        }
        json_decref(v);
    }
}

/* Responses: the done events repeat the text as released, never as received. */
static void test_responses_done_events(void **state)
{
    (void)state;
    const wr_codec *c = wr_codec_find("azure.responses");
    size_t n;
    char *in = golden_input("responses-email", c, &n);
    run r;
    run_cuts(&r, c, DEFAULT, in, n, NULL, 0, 0, 0, 0);
    assert_int_equal(r.rc, 0);
    wr_buf_append(&r.out, "", 0);
    const char *out = r.out.data;

    weir_result *want;
    const char *orig = "Ask sam@contoso.com anything.";
    assert_int_equal(weir_check(&want, DEFAULT, NULL, orig, strlen(orig), NULL), 0);
    const char *red = weir_result_text(want, NULL);
    assert_non_null(red);

    wr_buf cat;
    wr_buf_init(&cat);
    json_t *last;
    collect_sse(out, "response.output_text.delta", "delta", &cat, &last);
    json_decref(last);
    wr_buf_append(&cat, "", 0);
    assert_string_equal(cat.data, red); /* the deltas add up to weir_check's redaction */
    collect_sse(out, "response.output_text.done", "text", NULL, &last);
    assert_string_equal(json_string_value(json_object_get(last, "text")), red);
    json_decref(last);
    collect_sse(out, "response.content_part.done", "part", NULL, &last);
    assert_string_equal(json_string_value(json_object_get(json_object_get(last, "part"), "text")),
                        red);
    json_decref(last);
    collect_sse(out, "response.completed", "response", NULL, &last);
    json_t *resp = json_object_get(last, "response");
    json_t *out0 = json_array_get(json_object_get(resp, "output"), 0);
    json_t *out1 = json_array_get(json_object_get(resp, "output"), 1);
    json_t *part0 = json_array_get(json_object_get(out0, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(part0, "text")), red);
    assert_string_equal(json_string_value(json_object_get(out1, "arguments")),
                        "{\"email\":\"[EMAIL]\"}");
    json_t *usage = json_object_get(resp, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "output_tokens")), 21);
    json_decref(last);
    cat.len = 0;
    collect_sse(out, "response.function_call_arguments.delta", "delta", &cat, &last);
    json_decref(last);
    wr_buf_append(&cat, "", 0);
    assert_string_equal(cat.data, "{\"email\":\"[EMAIL]\"}");
    collect_sse(out, "response.function_call_arguments.done", "arguments", NULL, &last);
    assert_string_equal(json_string_value(json_object_get(last, "arguments")),
                        "{\"email\":\"[EMAIL]\"}");
    json_decref(last);
    wr_buf_free(&cat);
    weir_result_free(want);
    run_free(&r);
    free(in);
}

/* Text that only a done event carries (no deltas), or a done event that disagrees with its
 * deltas: it is checked all the same, and what goes out is what weir released. */
static void test_responses_done_only(void **state)
{
    (void)state;
    const wr_codec *c = wr_codec_find("azure.responses");
    static const char IN[] =
        "event: response.output_item.done\n"
        "data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"m\","
        "\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"hi a@example.com\"}]}}\n\n"
        "event: response.output_text.delta\n"
        "data: {\"type\":\"response.output_text.delta\",\"output_index\":1,\"content_index\":0,"
        "\"delta\":\"fine\"}\n\n"
        "event: response.output_text.done\n"
        "data: {\"type\":\"response.output_text.done\",\"output_index\":1,\"content_index\":0,"
        "\"text\":\"fine, b@example.com\"}\n\n";
    run r;
    run_cuts(&r, c, DEFAULT, IN, sizeof IN - 1, NULL, 0, 0, 0, 1);
    assert_int_equal(r.rc, 0);
    wr_buf_append(&r.out, "", 0);
    assert_null(strchr(r.out.data, '@'));
    assert_non_null(strstr(r.out.data, "\"text\":\"hi [EMAIL]\""));
    assert_non_null(strstr(r.out.data, "\"text\":\"fine\"")); /* the deltas said "fine" */
    const char *text;
    assert_non_null(wr_rstream_result(r.s, &text, NULL));
    assert_string_equal(text, "hi a@example.com\n\nfine");
    run_free(&r);
}

/* logprobs repeat the tokens: a rewritten delta must not carry them. */
static void test_logprobs_dropped(void **state)
{
    (void)state;
    static const char CHAT[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mail x@exa\"},\"logprobs\":"
        "{\"content\":[{\"token\":\"x@exa\",\"logprob\":-0.5}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mple.com\"},\"logprobs\":"
        "{\"content\":[{\"token\":\"mple.com\",\"logprob\":-0.5}]}}]}\n\n"
        "data: [DONE]\n\n";
    static const char RESP[] =
        "event: response.output_text.delta\n"
        "data: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,"
        "\"delta\":\"mail x@example.com now\",\"logprobs\":[{\"token\":\"x@example.com\"}]}\n\n";
    const char *ins[2] = {CHAT, RESP}, *codecs[2] = {"azure.chat", "azure.responses"};
    for (int i = 0; i < 2; i++) {
        run r;
        run_cuts(&r, wr_codec_find(codecs[i]), DEFAULT, ins[i], strlen(ins[i]), NULL, 0, 0, 0, 0);
        assert_int_equal(r.rc, 0);
        wr_buf_append(&r.out, "", 0);
        assert_null(strchr(r.out.data, '@'));
        assert_non_null(strstr(r.out.data, "[EMAIL]"));
        assert_non_null(strstr(r.out.data, i ? "\"logprobs\":[]" : "\"logprobs\":null"));
        run_free(&r);
    }
}

/* Each block ends the provider's way; the rule is named, the card number is not. */
static void test_block_endings(void **state)
{
    (void)state;
    static const struct {
        const char *input, *codec, *tail[3];
    } cases[] = {
        {"converse-card", "bedrock.converse",
         {"contentBlockStop {\"contentBlockIndex\":0}\n",
          "messageStop {\"stopReason\":\"guardrail_intervened\",\"weir\":{\"rule\":\"card-numbers\"",
          NULL}},
        {"anthropic-card", "bedrock.invoke.anthropic",
         {"\"type\":\"content_block_stop\",\"index\":0}",
          "\"stop_reason\":\"end_turn\"", "\"amazon-bedrock-guardrailAction\":\"INTERVENED\""}},
        {"nova-card", "bedrock.invoke.nova",
         {"{\"contentBlockStop\":{\"contentBlockIndex\":0}}",
          "{\"messageStop\":{\"stopReason\":\"guardrail_intervened\"},"
          "\"amazon-bedrock-guardrailAction\":\"INTERVENED\"",
          NULL}},
        {"titan-card", "bedrock.invoke.titan",
         {"\"completionReason\":\"CONTENT_FILTERED\"", "\"INTERVENED\"", NULL}},
        {"llama-card", "bedrock.invoke.llama", {"\"stop_reason\":\"stop\"", "\"INTERVENED\"", NULL}},
        {"gptoss-card", "bedrock.invoke.openai",
         {"\"id\":\"chatcmpl-oss2\"", "\"finish_reason\":\"content_filter\"", "\"INTERVENED\""}},
        {"chat-card", "azure.chat",
         {"\"id\":\"chatcmpl-A1\"", "\"delta\":{},\"finish_reason\":\"content_filter\"",
          "data: [DONE]\n\n"}},
        {"responses-card", "bedrock.mantle.responses",
         {"event: response.incomplete\n", "\"incomplete_details\":{\"reason\":\"content_filter\"}",
          "\"id\":\"resp_2\""}},
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(cases); i++) {
        const wr_codec *c = wr_codec_find(cases[i].codec);
        size_t n;
        char *in = golden_input(cases[i].input, c, &n);
        run r;
        run_cuts(&r, c, DEFAULT, in, n, NULL, 0, 0, 0, 1);
        assert_int_equal(r.rc, 1);
        assert_int_equal(wr_rstream_action(r.s), WEIR_BLOCK);
        wr_buf txt;
        render(c, &r.out, &txt);
        for (int k = 0; k < 3 && cases[i].tail[k]; k++) {
            if (!strstr(txt.data, cases[i].tail[k]))
                print_error("%s: no %s in\n%s\n", cases[i].input, cases[i].tail[k], txt.data);
            assert_non_null(strstr(txt.data, cases[i].tail[k]));
        }
        assert_non_null(strstr(txt.data, "card-numbers"));
        assert_non_null(strstr(txt.data, "Card numbers must never reach a model"));
        /* the stream is over: more input and the end change nothing */
        size_t len = r.out.len;
        assert_int_equal(wr_rstream_feed(r.s, in, n, &r.out, NULL), 1);
        assert_int_equal(wr_rstream_finish(r.s, &r.out, NULL), 1);
        assert_int_equal(r.out.len, len);
        const weir_result *res = wr_rstream_result(r.s, NULL, NULL);
        assert_non_null(res);
        assert_int_equal(weir_result_action(res), WEIR_BLOCK);
        wr_buf_free(&txt);
        run_free(&r);
        free(in);
    }
}

/* ------------------------------------------------------------------ malformed upstreams */

static int feed_all(wr_rstream *s, const char *d, size_t n, wr_buf *out, weir_error *err)
{
    int rc = wr_rstream_feed(s, d, n, out, err);
    return rc ? rc : wr_rstream_finish(s, out, err);
}

static void expect_fail(const char *codec, const char *data, size_t n, size_t max_frame, int code,
                        const char *text, size_t good_prefix)
{
    const wr_codec *c = wr_codec_find(codec);
    weir_context ctx = completion_ctx(c);
    wr_rstream *s;
    assert_int_equal(wr_rstream_new(&s, c, PROMPT_ONLY, &ctx, 0, max_frame, NULL), 0);
    wr_buf out;
    wr_buf_init(&out);
    weir_error err = {0};
    int rc = feed_all(s, data, n, &out, &err);
    if (rc != code || !strstr(err.text, text))
        print_error("%s: rc %d, \"%s\" (wanted %d, \"%s\")\n", codec, rc, err.text, code, text);
    assert_int_equal(rc, code);
    assert_non_null(strstr(err.text, text));
    assert_non_null(strstr(err.text, codec));
    /* only the whole events before the bad one went out (pass-through policy: as they came) */
    assert_int_equal(out.len, good_prefix);
    assert_memory_equal(out.data ? out.data : "", data, good_prefix);
    /* sticky */
    weir_error again = {0};
    assert_int_equal(wr_rstream_feed(s, "x", 1, &out, &again), code);
    assert_string_equal(again.text, err.text);
    assert_int_equal(wr_rstream_finish(s, &out, &again), code);
    assert_int_equal(out.len, good_prefix);
    wr_rstream_free(s);
    wr_buf_free(&out);
}

static void test_malformed_event_stream(void **state)
{
    (void)state;
    wr_buf b;
    wr_buf_init(&b);
    const char *good = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"hi\"}}";
    frame(&b, "event", ":event-type", "contentBlockDelta", good, strlen(good));
    size_t one = b.len;

    /* a flipped payload byte: the message CRC no longer matches */
    wr_buf bad;
    wr_buf_init(&bad);
    wr_buf_append(&bad, b.data, one);
    wr_buf_append(&bad, b.data, one);
    bad.data[one + 20] ^= 1;
    expect_fail("bedrock.converse", bad.data, bad.len, 0, WEIR_EINVAL, "CRC", one);

    const struct {
        const char *codec, *type, *payload, *text;
        int code;
    } cases[] = {
        {"bedrock.converse", "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"hi\"}",
         "not valid JSON", WEIR_EINVAL},
        {"bedrock.converse", "contentBlockDelta", "[1,2]", "not a JSON object", WEIR_EINVAL},
        {"bedrock.converse", "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":5}}",
         "wrong type", WEIR_EINVAL},
        {"bedrock.converse", "contentBlockDelta", "{\"contentBlockIndex\":-1,\"delta\":{\"text\":\"a\"}}",
         "wrong type", WEIR_EINVAL},
        {"bedrock.converse", "contentBlockDelta",
         "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\",\"text\":\"b\"}}", "not valid JSON",
         WEIR_EINVAL},
        {"bedrock.invoke.anthropic", "chunk", "{\"bytes\":\"not base64!\"}", "base64", WEIR_EINVAL},
        {"bedrock.invoke.anthropic", "chunk", "{\"nobytes\":1}", "no \"bytes\"", WEIR_EINVAL},
        {"bedrock.invoke.anthropic", "chunk", "{\"bytes\":\"eyJ0eXBlIjo=\"}", "not valid JSON",
         WEIR_EINVAL}, /* {"type": */
        {"bedrock.invoke.anthropic", "chunk", "{\"bytes\":\"WzFd\"}", "not a JSON object",
         WEIR_EINVAL}, /* [1] */
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(cases); i++) {
        wr_buf in;
        wr_buf_init(&in);
        const char *ok = !strcmp(cases[i].type, "chunk")
                             ? "{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9\"}" /* {"type":"ping"} */
                             : good;
        frame(&in, "event", ":event-type", cases[i].type, ok, strlen(ok));
        size_t pre = in.len;
        frame(&in, "event", ":event-type", cases[i].type, cases[i].payload,
              strlen(cases[i].payload));
        expect_fail(cases[i].codec, in.data, in.len, 0, cases[i].code, cases[i].text, pre);
        wr_buf_free(&in);
    }

    /* too deep for the JSON limit */
    wr_buf deep;
    wr_buf_init(&deep);
    wr_buf_puts(&deep, "{\"a\":");
    for (int i = 0; i < 100; i++)
        wr_buf_puts(&deep, "[");
    for (int i = 0; i < 100; i++)
        wr_buf_puts(&deep, "]");
    wr_buf_puts(&deep, "}");
    wr_buf in;
    wr_buf_init(&in);
    frame(&in, "event", ":event-type", "metadata", deep.data, deep.len);
    expect_fail("bedrock.converse", in.data, in.len, 0, WEIR_ELIMIT, "deeper", 0);

    /* a frame over max_frame is refused from its prelude */
    expect_fail("bedrock.converse", in.data, in.len, 64, WEIR_ELIMIT, "", 0);

    /* cut inside a frame */
    expect_fail("bedrock.converse", b.data, one - 3, 0, WEIR_EINVAL, "", 0);
    wr_buf_free(&in);
    wr_buf_free(&deep);
    wr_buf_free(&bad);
    wr_buf_free(&b);
}

static void test_malformed_sse(void **state)
{
    (void)state;
    const char *ok = "data: {\"choices\":[]}\n\n";
    size_t pre = strlen(ok);
    char buf[512];
    snprintf(buf, sizeof buf, "%sdata: {\"choices\":[\n\n", ok);
    expect_fail("azure.chat", buf, strlen(buf), 0, WEIR_EINVAL, "not valid JSON", pre);
    snprintf(buf, sizeof buf, "%sdata: \"text\"\n\n", ok);
    expect_fail("azure.chat", buf, strlen(buf), 0, WEIR_EINVAL, "not a JSON object", pre);
    snprintf(buf, sizeof buf, "%sdata: {\"choices\":{}}\n\n", ok);
    expect_fail("azure.chat", buf, strlen(buf), 0, WEIR_EINVAL, "choices is not an array", pre);
    snprintf(buf, sizeof buf, "%sdata: {\"choices\":[{\"delta\":{\"content\":[1]}}]}\n\n", ok);
    expect_fail("bedrock.openai_chat", buf, strlen(buf), 0, WEIR_EINVAL, "wrong type", pre);
    snprintf(buf, sizeof buf,
             "%sevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
             "\"output_index\":0,\"delta\":7}\n\n",
             ok);
    expect_fail("azure.responses", buf, strlen(buf), 0, WEIR_EINVAL, "wrong type", pre);
    /* the upstream ended inside an event */
    snprintf(buf, sizeof buf, "%sdata: {\"choices\":[]}\n", ok);
    expect_fail("azure.chat", buf, strlen(buf), 0, WEIR_EINVAL, "ended inside an event", pre);
    /* an event longer than max_frame, with or without its end in sight */
    snprintf(buf, sizeof buf, "%sdata: {\"choices\":[],\"pad\":\"%0100d\"}\n\n", ok, 0);
    expect_fail("azure.chat", buf, strlen(buf), 64, WEIR_ELIMIT, "over the limit", pre);
    snprintf(buf, sizeof buf, "%sdata: {\"choices\":[],\"pad\":\"%0100d\"", ok, 0);
    expect_fail("azure.chat", buf, strlen(buf), 64, WEIR_ELIMIT, "over the limit", pre);
}

/* ------------------------------------------------------------------ limits and API */

/* A text that may be an address for ever: past max_hold, on_error (block) decides. */
static void test_hold_limit(void **state)
{
    (void)state;
    const wr_codec *c = wr_codec_find("azure.chat");
    weir_context ctx = completion_ctx(c);
    static const char CHUNK[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abcdefgh\"}}]}\n\n";
    wr_rstream *s;
    assert_int_equal(wr_rstream_new(&s, c, DEFAULT, &ctx, 32, 0, NULL), 0);
    wr_buf out;
    wr_buf_init(&out);
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = wr_rstream_feed(s, CHUNK, strlen(CHUNK), &out, NULL);
    assert_int_equal(rc, 1);
    wr_buf_append(&out, "", 0);
    assert_non_null(strstr(out.data, "\"finish_reason\":\"content_filter\""));
    assert_non_null(strstr(out.data, "limit"));
    assert_true(wr_rstream_max_held(s) > 32);
    wr_rstream_free(s);
    wr_buf_free(&out);
}

static void test_api(void **state)
{
    (void)state;
    weir_error err = {0};
    wr_rstream *s = NULL;
    const wr_codec *emb = wr_codec_find("azure.embeddings");
    assert_false(wr_rstream_supported(emb));
    assert_false(wr_rstream_supported(wr_codec_find("bedrock.apply_guardrail")));
    assert_false(wr_rstream_supported(NULL));
    assert_int_equal(wr_rstream_new(&s, emb, DEFAULT, NULL, 0, 0, &err), WEIR_EINVAL);
    assert_null(s);
    for (size_t i = 0; wr_codec_at(i); i++) {
        const wr_codec *c = wr_codec_at(i);
        if (!wr_rstream_supported(c))
            continue;
        assert_int_equal(wr_rstream_new(&s, c, DEFAULT, NULL, 0, 0, &err), 0);
        assert_null(wr_rstream_result(s, NULL, NULL));
        long it, ot;
        wr_rstream_usage(s, &it, &ot);
        assert_int_equal(it, -1);
        assert_int_equal(ot, -1);
        wr_buf out;
        wr_buf_init(&out);
        assert_int_equal(wr_rstream_feed(s, NULL, 0, &out, &err), 0);
        assert_int_equal(wr_rstream_feed(s, "", 0, NULL, &err), WEIR_EINVAL);
        assert_int_equal(wr_rstream_finish(s, &out, &err), 0); /* an empty stream */
        assert_int_equal(out.len, 0);
        const char *text = NULL;
        assert_non_null(wr_rstream_result(s, &text, NULL));
        assert_string_equal(text, "");
        assert_int_equal(wr_rstream_feed(s, "x", 1, &out, &err), WEIR_EINVAL);
        wr_rstream_free(s);
        wr_buf_free(&out);
    }
    wr_rstream_free(NULL);
}

/* Stream ends without closing events: held text still goes out, as deltas. */
static void test_end_without_stop(void **state)
{
    (void)state;
    const wr_codec *c = wr_codec_find("bedrock.converse");
    wr_buf in;
    wr_buf_init(&in);
    const char *d = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Mail bo@example.com\"}}";
    frame(&in, "event", ":event-type", "contentBlockDelta", d, strlen(d));
    run r;
    run_cuts(&r, c, DEFAULT, in.data, in.len, NULL, 0, 0, 0, 0);
    assert_int_equal(r.rc, 0);
    wr_buf txt;
    render(c, &r.out, &txt);
    assert_string_equal(txt.data,
                        "contentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\"Mail \"}}\n"
                        "contentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\"[EMAIL]\"}}\n");
    wr_buf_free(&txt);
    run_free(&r);

    /* a delta over 64 KiB is not kept as the template: a minimal delta carries the rest */
    in.len = 0;
    wr_buf big;
    wr_buf_init(&big);
    wr_buf_puts(&big, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Mail bo@example.com\"},\"p\":\"");
    for (int i = 0; i < 70000; i++)
        wr_buf_append(&big, "p", 1);
    wr_buf_puts(&big, "\"}");
    frame(&in, "event", ":event-type", "contentBlockDelta", big.data, big.len);
    run_cuts(&r, c, DEFAULT, in.data, in.len, NULL, 0, 0, 0, 0);
    assert_int_equal(r.rc, 0);
    render(c, &r.out, &txt);
    assert_non_null(strstr(txt.data, "\"text\":\"Mail \"},\"p\":\"ppp"));
    assert_non_null(strstr(txt.data, "\ncontentBlockDelta {\"contentBlockIndex\":0,\"delta\":"
                                     "{\"text\":\"[EMAIL]\"}}\n"));
    wr_buf_free(&txt);
    wr_buf_free(&big);
    run_free(&r);
    wr_buf_free(&in);
}

static int setup(void **state)
{
    (void)state;
    weir_error err;
    if (weir_policy_load_default(&DEFAULT, &err))
        return -1;
    char path[1024];
    data_path(path, sizeof path, "prompt-only.yaml");
    if (weir_policy_load_file(&PROMPT_ONLY, path, &err)) {
        print_error("%s\n", err.text);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    weir_policy_unref(DEFAULT);
    weir_policy_unref(PROMPT_ONLY);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_email_holdback),
        cmocka_unit_test(test_responses_done_events),
        cmocka_unit_test(test_responses_done_only),
        cmocka_unit_test(test_logprobs_dropped),
        cmocka_unit_test(test_block_endings),
        cmocka_unit_test(test_malformed_event_stream),
        cmocka_unit_test(test_malformed_sse),
        cmocka_unit_test(test_hold_limit),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_end_without_stop),
    };
    return cmocka_run_group_tests_name("rstream", tests, setup, teardown);
}
