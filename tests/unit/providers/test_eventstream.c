/*
 * test_eventstream.c - the AWS event-stream codec (filter/providers/eventstream.h) against
 * the public aws-sdk-go vectors in tests/data/vectors/eventstream: every positive frame
 * decodes to its JSON (whole, one byte at a time, and split at every point) and re-encodes
 * to the same bytes; every negative frame is refused with an error naming the problem.
 * Then hand-made frames for each malformed case, the limits, all ten header types, and a
 * Bedrock `chunk` event.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "providers/eventstream.h"

/* ------------------------------------------------------------------ helpers */

static char vectors[1024];

static int find_vectors(void **state)
{
    (void)state;
    const char *src = getenv("WEIR_SOURCE_DIR");
    snprintf(vectors, sizeof vectors, "%s/tests/data/vectors/eventstream",
             src && *src ? src : ".");
    DIR *d = opendir(vectors);
    if (!d) {
        fprintf(stderr,
                "test_eventstream: test vectors not found at %s\n"
                "  (WEIR_SOURCE_DIR must be the repository root)\n",
                vectors);
        return -1;
    }
    closedir(d);
    return 0;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Sorted names of the files in vectors/<sub>; NULL-terminated; free with free_names. */
static char **list_dir(const char *sub)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", vectors, sub);
    DIR *d = opendir(path);
    if (!d)
        fail_msg("cannot open %s", path);
    char **names = calloc(64, sizeof *names);
    assert_non_null(names);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(n < 63);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0)
        fail_msg("no vectors in %s", path);
    for (size_t i = 1; i < n; i++) /* insertion sort */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    return names;
}

static void free_names(char **names)
{
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}

static unsigned char *vector(const char *sub, const char *name, size_t *len)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s/%s", vectors, sub, name);
    return read_file(path, len);
}

static json_t *b64(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *w = out;
    assert_non_null(out);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *w++ = tab[v >> 18 & 63];
        *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = '\0';
    json_t *s = json_string(out);
    free(out);
    return s;
}

/* A message in the decoded/positive JSON shape (byte strings base64). New reference. */
static json_t *message_json(const wr_es_message *m)
{
    json_t *hs = json_array();
    for (size_t i = 0; i < m->nheaders; i++) {
        const wr_es_header *h = &m->headers[i];
        json_t *v;
        switch (h->type) {
        case WR_ES_BOOL_TRUE:
        case WR_ES_BOOL_FALSE:
            v = json_boolean(h->i);
            break;
        case WR_ES_BYTES:
        case WR_ES_STRING:
        case WR_ES_UUID:
            v = b64(h->data, h->len);
            break;
        default:
            v = json_integer(h->i);
            break;
        }
        json_array_append_new(hs, json_pack("{s:s%,s:i,s:o}", "name", h->name, h->name_len,
                                            "type", (int)h->type, "value", v));
    }
    return json_pack("{s:I,s:I,s:I,s:o,s:o,s:I}", "total_length", (json_int_t)m->frame_len,
                     "headers_length", (json_int_t)m->headers_len, "prelude_crc",
                     (json_int_t)(int32_t)m->prelude_crc, "headers", hs, "payload",
                     b64(m->payload, m->payload_len), "message_crc",
                     (json_int_t)(int32_t)m->message_crc);
}

typedef struct capture {
    json_t *msgs;      /* array of message_json */
    size_t reencoded;  /* frames whose re-encoding matched byte for byte */
    int stop_after;    /* > 0: return an error after this many messages */
} capture;

static int on_message(void *user, const wr_es_message *m, weir_error *err)
{
    capture *c = user;
    json_t *j = message_json(m);
    assert_non_null(j);
    json_array_append_new(c->msgs, j);

    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(wr_es_encode(&b, m->headers, m->nheaders, m->payload, m->payload_len), 0);
    if (b.len == m->frame_len && memcmp(b.data, m->frame, b.len) == 0)
        c->reencoded++;
    wr_buf_free(&b);

    if (c->stop_after > 0 && json_array_size(c->msgs) >= (size_t)c->stop_after)
        return wr_error_set(err, WEIR_EPOLICY, NULL, 0, 0, "blocked by policy");
    return 0;
}

/* Decodes p[0..n) fed in chunks of `step` bytes (0 = all at once; or split once at `cut`
 * when step is SIZE_MAX). Returns feed's result; *c receives the messages. */
static int decode(const unsigned char *p, size_t n, size_t step, size_t cut, capture *c,
                  weir_error *err)
{
    wr_es_decoder d;
    wr_es_decoder_init(&d, 0);
    int rc = 0;
    if (step == 0) {
        rc = wr_es_decoder_feed(&d, p, n, on_message, c, err);
    } else if (step == SIZE_MAX) {
        rc = wr_es_decoder_feed(&d, p, cut, on_message, c, err);
        if (rc == 0)
            rc = wr_es_decoder_feed(&d, p + cut, n - cut, on_message, c, err);
    } else {
        for (size_t at = 0; at < n && rc == 0; at += step)
            rc = wr_es_decoder_feed(&d, p + at, n - at < step ? n - at : step, on_message, c,
                                    err);
    }
    if (rc == 0)
        rc = wr_es_decoder_finish(&d, err);
    wr_es_decoder_free(&d);
    return rc;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A frame around raw header bytes and payload with correct CRCs (caller frees). The
 * declared lengths may be overridden (hlen_decl/total_decl != 0) to build bad frames. */
static unsigned char *raw_frame(const void *hdr, size_t hlen, const char *payload,
                                uint32_t hlen_decl, uint32_t total_decl, size_t *n)
{
    size_t plen = payload ? strlen(payload) : 0, total = 16 + hlen + plen;
    unsigned char *f = malloc(total);
    assert_non_null(f);
    put32(f, total_decl ? total_decl : (uint32_t)total);
    put32(f + 4, hlen_decl ? hlen_decl : (uint32_t)hlen);
    put32(f + 8, (uint32_t)crc32(0, f, 8));
    if (hlen)
        memcpy(f + 12, hdr, hlen);
    if (plen)
        memcpy(f + 12 + hlen, payload, plen);
    put32(f + total - 4, (uint32_t)crc32(0, f, (uInt)(total - 4)));
    *n = total;
    return f;
}

static void expect_error(const unsigned char *p, size_t n, int code, const char *text)
{
    capture c = {json_array(), 0, 0};
    weir_error err = {0};
    int rc = decode(p, n, 0, 0, &c, &err);
    if (rc != code || !strstr(err.text, text))
        fail_msg("expected %d \"%s\", got %d \"%s\"", code, text, rc, err.text);
    assert_int_equal(json_array_size(c.msgs), 0);
    json_decref(c.msgs);
    /* same verdict one byte at a time */
    c.msgs = json_array();
    memset(&err, 0, sizeof err);
    rc = decode(p, n, 1, 0, &c, &err);
    if (rc != code || !strstr(err.text, text))
        fail_msg("bytewise: expected %d \"%s\", got %d \"%s\"", code, text, rc, err.text);
    json_decref(c.msgs);
}

/* ------------------------------------------------------------------ vectors */

static void check_positive(const char *name, const unsigned char *p, size_t n, json_t *want,
                           size_t step, size_t cut)
{
    capture c = {json_array(), 0, 0};
    weir_error err = {0};
    int rc = decode(p, n, step, cut, &c, &err);
    if (rc != 0)
        fail_msg("%s (step %zu cut %zu): %s", name, step, cut, err.text);
    if (json_array_size(c.msgs) != 1 || !json_equal(json_array_get(c.msgs, 0), want)) {
        char *got = json_dumps(c.msgs, JSON_COMPACT | JSON_SORT_KEYS);
        char *exp = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "%s (step %zu cut %zu)\n  got  %s\n  want [%s]\n", name, step, cut, got,
                exp);
        free(got);
        free(exp);
        fail();
    }
    if (c.reencoded != 1)
        fail_msg("%s: encode(decode(x)) != x", name);
    json_decref(c.msgs);
}

static void test_positive_vectors(void **state)
{
    (void)state;
    char **names = list_dir("encoded/positive");
    size_t count = 0;
    for (size_t i = 0; names[i]; i++, count++) {
        size_t n, jn;
        unsigned char *p = vector("encoded/positive", names[i], &n);
        unsigned char *js = vector("decoded/positive", names[i], &jn);
        json_error_t jerr;
        json_t *want = json_loadb((const char *)js, jn, 0, &jerr);
        if (!want)
            fail_msg("decoded/positive/%s: %s", names[i], jerr.text);
        check_positive(names[i], p, n, want, 0, 0);
        check_positive(names[i], p, n, want, 1, 0);
        check_positive(names[i], p, n, want, 5, 0);
        for (size_t cut = 0; cut <= n; cut++)
            check_positive(names[i], p, n, want, SIZE_MAX, cut);

        /* three copies in one chunk and bytewise: three identical messages */
        unsigned char *three = malloc(3 * n);
        assert_non_null(three);
        for (int k = 0; k < 3; k++)
            memcpy(three + k * n, p, n);
        for (size_t step = 0; step <= 7; step += 7) {
            capture c = {json_array(), 0, 0};
            weir_error err = {0};
            assert_int_equal(decode(three, 3 * n, step ? step : 0, 0, &c, &err), 0);
            assert_int_equal(json_array_size(c.msgs), 3);
            for (size_t k = 0; k < 3; k++)
                assert_true(json_equal(json_array_get(c.msgs, k), want));
            assert_int_equal(c.reencoded, 3);
            json_decref(c.msgs);
        }
        free(three);
        json_decref(want);
        free(p);
        free(js);
    }
    assert_true(count >= 5);
    free_names(names);
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* "Prelude checksum mismatch" -> "prelude CRC mismatch" */
static void expected_text(char *out, size_t size, const unsigned char *js, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < size; i++)
        if (js[i] != '\n' && js[i] != '\r')
            out[k++] = (char)js[i];
    out[k] = '\0';
    char *c = strstr(out, "checksum");
    if (c) {
        memmove(c + 3, c + 8, strlen(c + 8) + 1);
        memcpy(c, "CRC", 3);
    }
}

static void test_negative_vectors(void **state)
{
    (void)state;
    char **names = list_dir("encoded/negative");
    for (size_t i = 0; names[i]; i++) {
        size_t n, tn;
        unsigned char *p = vector("encoded/negative", names[i], &n);
        unsigned char *t = vector("decoded/negative", names[i], &tn);
        char want[256];
        expected_text(want, sizeof want, t, tn);
        assert_true(want[0] != '\0');
        for (size_t cut = 0; cut <= n; cut++) {
            capture c = {json_array(), 0, 0};
            weir_error err = {0};
            int rc = decode(p, n, SIZE_MAX, cut, &c, &err);
            if (rc != WEIR_EINVAL || !contains_nocase(err.text, want))
                fail_msg("%s (cut %zu): expected \"%s\", got %d \"%s\"", names[i], cut, want, rc,
                         err.text);
            assert_int_equal(json_array_size(c.msgs), 0);
            json_decref(c.msgs);
        }
        free(p);
        free(t);
    }
    free_names(names);
}

/* ------------------------------------------------------------------ hand-made frames */

static void test_malformed(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f;

    /* total below 16 (prelude CRC valid) */
    unsigned char small[16] = {0};
    put32(small, 15);
    put32(small + 8, (uint32_t)crc32(0, small, 8));
    expect_error(small, sizeof small, WEIR_EINVAL, "total length 15 is below the minimum of 16");

    /* headers length larger than the frame allows */
    f = raw_frame(NULL, 0, "{}", 3, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "headers length 3 inconsistent with total length 18");
    free(f);

    /* unknown header type */
    f = raw_frame("\x01x\x0a", 3, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1 (x): unknown value type 10");
    free(f);

    /* name overruns the block */
    f = raw_frame("\x09:event", 7, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1: name (9 bytes) overruns the header block");
    free(f);

    /* empty name */
    f = raw_frame("\x00\x00", 2, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1: empty name");
    free(f);

    /* type missing */
    f = raw_frame("\x01x", 2, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1 (x): value type missing");
    free(f);

    /* fixed-size value overruns (int32 with 2 bytes) */
    f = raw_frame("\x01x\x00\x01y\x04\x00\x01", 8, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 2 (y): int32 value (4 bytes) overruns");
    free(f);

    /* string length field cut, and string value overrunning */
    f = raw_frame("\x01s\x07\x00", 4, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1 (s): value length overruns");
    free(f);
    f = raw_frame("\x01s\x07\x00\x05" "abc", 8, "payload", 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1 (s): string value (5 bytes) overruns");
    free(f);

    /* byte array longer than 32767 */
    f = raw_frame("\x01" "b\x06\x80\x00", 5, NULL, 0, 0, &n);
    expect_error(f, n, WEIR_EINVAL, "header 1 (b): bytes value of 32768 bytes exceeds 32767");
    free(f);

    /* message CRC */
    f = raw_frame("\x01t\x00", 3, "hello", 0, 0, &n);
    f[n - 1] ^= 1;
    expect_error(f, n, WEIR_EINVAL, "message CRC mismatch");
    free(f);

    /* the error names where in the stream: second frame at byte 16 */
    unsigned char two[32];
    f = raw_frame(NULL, 0, NULL, 0, 0, &n);
    memcpy(two, f, 16);
    memcpy(two + 16, f, 16);
    two[31] ^= 0x80;
    free(f);
    capture c = {json_array(), 0, 0};
    weir_error err = {0};
    assert_int_equal(decode(two, sizeof two, 3, 0, &c, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "message 2 at byte 16"));
    assert_int_equal(json_array_size(c.msgs), 1); /* the first, intact frame got through */
    json_decref(c.msgs);
}

static void test_sticky_and_truncated(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f = raw_frame("\x01t\x00", 3, "hello", 0, 0, &n);
    capture c = {json_array(), 0, 0};
    weir_error err = {0};
    wr_es_decoder d;

    /* truncated stream: finish reports it, inside the prelude and inside the body */
    for (size_t cut = 1; cut < n; cut++) {
        wr_es_decoder_init(&d, 0);
        assert_int_equal(wr_es_decoder_feed(&d, f, cut, on_message, &c, &err), 0);
        assert_int_equal(wr_es_decoder_finish(&d, &err), WEIR_EINVAL);
        assert_non_null(strstr(err.text, "stream ended inside a message"));
        wr_es_decoder_free(&d);
    }
    assert_int_equal(json_array_size(c.msgs), 0);

    /* after a failure, good frames are refused with the same text */
    wr_es_decoder_init(&d, 0);
    f[9] ^= 1; /* prelude CRC */
    assert_int_equal(wr_es_decoder_feed(&d, f, n, on_message, &c, &err), WEIR_EINVAL);
    char first[256];
    snprintf(first, sizeof first, "%s", err.text);
    assert_non_null(strstr(first, "prelude CRC mismatch"));
    f[9] ^= 1;
    memset(&err, 0, sizeof err);
    assert_int_equal(wr_es_decoder_feed(&d, f, n, on_message, &c, &err), WEIR_EINVAL);
    assert_string_equal(err.text, first);
    assert_int_equal(wr_es_decoder_feed(&d, NULL, 0, on_message, &c, &err), WEIR_EINVAL);
    assert_int_equal(wr_es_decoder_finish(&d, &err), WEIR_EINVAL);
    assert_int_equal(json_array_size(c.msgs), 0);
    wr_es_decoder_free(&d);

    /* a callback that stops: its code and text, and the decoder stays stopped */
    unsigned char *three = malloc(3 * n);
    assert_non_null(three);
    for (int k = 0; k < 3; k++)
        memcpy(three + k * n, f, n);
    c.stop_after = 2;
    wr_es_decoder_init(&d, 0);
    assert_int_equal(wr_es_decoder_feed(&d, three, 3 * n, on_message, &c, &err), WEIR_EPOLICY);
    assert_string_equal(err.text, "blocked by policy");
    assert_int_equal(json_array_size(c.msgs), 2);
    memset(&err, 0, sizeof err);
    assert_int_equal(wr_es_decoder_feed(&d, f, n, on_message, &c, &err), WEIR_EPOLICY);
    assert_string_equal(err.text, "blocked by policy");
    assert_int_equal(json_array_size(c.msgs), 2);
    wr_es_decoder_free(&d);
    wr_es_decoder_free(NULL);

    free(three);
    free(f);
    json_decref(c.msgs);
}

static void test_oversize_not_allocated(void **state)
{
    (void)state;
    unsigned char pre[12];
    put32(pre, 0xFFFFFFF0u);
    put32(pre + 4, 0);
    put32(pre + 8, (uint32_t)crc32(0, pre, 8));
    weir_error err = {0};
    wr_es_decoder d;

    /* whole prelude in one chunk, then one byte at a time */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        wr_es_decoder_init(&d, 0);
        int rc = 0;
        if (bytewise)
            for (size_t i = 0; i < sizeof pre && rc == 0; i++)
                rc = wr_es_decoder_feed(&d, pre + i, 1, NULL, NULL, &err);
        else
            rc = wr_es_decoder_feed(&d, pre, sizeof pre, NULL, NULL, &err);
        assert_int_equal(rc, WEIR_ELIMIT);
        assert_non_null(strstr(err.text, "total length 4294967280 exceeds the limit of 16777216"));
        assert_null(d.buf);
        assert_int_equal(d.buf_cap, 0);
        wr_es_decoder_free(&d);
    }

    /* configurable limit: 64 bytes refuses a 65-byte frame, accepts a 64-byte one */
    char payload[64];
    memset(payload, 'a', sizeof payload);
    payload[49] = '\0';
    size_t n;
    unsigned char *f = raw_frame(NULL, 0, payload, 0, 0, &n);
    assert_int_equal(n, 65);
    wr_es_decoder_init(&d, 64);
    assert_int_equal(wr_es_decoder_feed(&d, f, 12, NULL, NULL, &err), WEIR_ELIMIT);
    assert_null(d.buf);
    wr_es_decoder_free(&d);
    free(f);
    payload[48] = '\0';
    f = raw_frame(NULL, 0, payload, 0, 0, &n);
    wr_es_decoder_init(&d, 64);
    assert_int_equal(wr_es_decoder_feed(&d, f, n, NULL, NULL, &err), 0);
    assert_int_equal(d.messages, 1);
    wr_es_decoder_free(&d);
    free(f);

    /* header block over 128 KiB (total within a raised limit) */
    unsigned char big[12];
    put32(big, 16 + 200 * 1024);
    put32(big + 4, 130 * 1024);
    put32(big + 8, (uint32_t)crc32(0, big, 8));
    wr_es_decoder_init(&d, 1024 * 1024);
    assert_int_equal(wr_es_decoder_feed(&d, big, sizeof big, NULL, NULL, &err), WEIR_ELIMIT);
    assert_non_null(strstr(err.text, "headers length 133120 exceeds the limit"));
    assert_null(d.buf);
    wr_es_decoder_free(&d);
}

/* ------------------------------------------------------------------ encoder */

static int keep_one(void *user, const wr_es_message *m, weir_error *err)
{
    (void)err;
    wr_buf *b = user;
    /* re-encode into the caller's buffer, so the test can compare after the callback */
    return wr_es_encode(b, m->headers, m->nheaders, m->payload, m->payload_len);
}

static void test_all_types_roundtrip(void **state)
{
    (void)state;
    static const unsigned char uuid[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2,  3,  4,
                                           5,    6,    7,    8,    9, 10, 11, 12};
    static unsigned char long_bytes[WR_ES_MAX_VALUE];
    memset(long_bytes, 0xA5, sizeof long_bytes);
    wr_es_header h[] = {
        {"t", 0, WR_ES_BOOL_TRUE, 1, NULL, 0},
        {"f", 0, WR_ES_BOOL_FALSE, 0, NULL, 0},
        {"b-", 0, WR_ES_BYTE, INT8_MIN, NULL, 0},
        {"b+", 0, WR_ES_BYTE, INT8_MAX, NULL, 0},
        {"s-", 0, WR_ES_INT16, INT16_MIN, NULL, 0},
        {"s+", 0, WR_ES_INT16, INT16_MAX, NULL, 0},
        {"i-", 0, WR_ES_INT32, INT32_MIN, NULL, 0},
        {"i+", 0, WR_ES_INT32, INT32_MAX, NULL, 0},
        {"l-", 0, WR_ES_INT64, INT64_MIN, NULL, 0},
        {"l+", 0, WR_ES_INT64, INT64_MAX, NULL, 0},
        {"bytes", 0, WR_ES_BYTES, 0, (const unsigned char *)"\0\1\2", 3},
        {"empty", 0, WR_ES_BYTES, 0, NULL, 0},
        {"long", 0, WR_ES_BYTES, 0, long_bytes, sizeof long_bytes},
        {"str", 0, WR_ES_STRING, 0, (const unsigned char *)"h\xc3\xa9llo", 6},
        {"ts", 0, WR_ES_TIMESTAMP, -1, NULL, 0},
        {"uuid", 0, WR_ES_UUID, 0, uuid, 16},
        {"t", 0, WR_ES_BOOL_TRUE, 1, NULL, 0}, /* duplicate name */
    };
    wr_buf a, b;
    wr_buf_init(&a);
    wr_buf_init(&b);
    assert_int_equal(wr_es_encode(&a, h, WR_ARRAY_LEN(h), "pay\0load", 8), 0);

    /* decode and re-encode, whole and in 1000-byte chunks (the buffered path) */
    for (size_t step = 0; step <= 1000; step += 1000) {
        wr_es_decoder d;
        wr_es_decoder_init(&d, 0);
        weir_error err = {0};
        int rc = 0;
        b.len = 0;
        if (step == 0)
            rc = wr_es_decoder_feed(&d, a.data, a.len, keep_one, &b, &err);
        for (size_t i = 0; step && i < a.len && rc == 0; i += step)
            rc = wr_es_decoder_feed(&d, a.data + i, a.len - i < step ? a.len - i : step,
                                    keep_one, &b, &err);
        assert_int_equal(rc, 0);
        assert_int_equal(d.messages, 1);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        wr_es_decoder_free(&d);
    }

    wr_buf_free(&a);
    wr_buf_free(&b);
}

typedef struct field_check {
    const wr_es_header *want;
    size_t n;
    int calls;
} field_check;

static int check_fields(void *user, const wr_es_message *m, weir_error *err)
{
    (void)err;
    field_check *fc = user;
    fc->calls++;
    assert_int_equal(m->nheaders, fc->n);
    for (size_t i = 0; i < fc->n; i++) {
        const wr_es_header *w = &fc->want[i], *g = &m->headers[i];
        assert_int_equal(g->name_len, strlen(w->name));
        assert_memory_equal(g->name, w->name, g->name_len);
        assert_int_equal(g->type, w->type);
        if (w->type == WR_ES_BYTES || w->type == WR_ES_STRING || w->type == WR_ES_UUID) {
            assert_int_equal(g->len, w->len);
            if (w->len)
                assert_memory_equal(g->data, w->data, w->len);
        } else {
            assert_true(g->i == w->i);
        }
    }
    assert_int_equal(m->payload_len, 8);
    assert_memory_equal(m->payload, "pay\0load", 8);
    return 0;
}

static void test_header_values(void **state)
{
    (void)state;
    static const unsigned char uuid[16] = {0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    wr_es_header h[] = {
        {"t", 0, WR_ES_BOOL_TRUE, 1, NULL, 0},
        {"f", 0, WR_ES_BOOL_FALSE, 0, NULL, 0},
        {"b", 0, WR_ES_BYTE, -128, NULL, 0},
        {"s", 0, WR_ES_INT16, -2, NULL, 0},
        {"i", 0, WR_ES_INT32, INT32_MIN, NULL, 0},
        {"l", 0, WR_ES_INT64, INT64_MIN, NULL, 0},
        {"y", 0, WR_ES_BYTES, 0, (const unsigned char *)"\xff\x00", 2},
        {"str", 0, WR_ES_STRING, 0, (const unsigned char *)"abc", 3},
        {"ts", 0, WR_ES_TIMESTAMP, 1700000000123, NULL, 0},
        {"u", 0, WR_ES_UUID, 0, uuid, 16},
    };
    wr_buf a;
    wr_buf_init(&a);
    assert_int_equal(wr_es_encode(&a, h, WR_ARRAY_LEN(h), "pay\0load", 8), 0);
    for (size_t step = 0; step <= 1; step++) {
        field_check fc = {h, WR_ARRAY_LEN(h), 0};
        wr_es_decoder d;
        wr_es_decoder_init(&d, 0);
        weir_error err = {0};
        int rc = 0;
        if (step)
            for (size_t i = 0; i < a.len && rc == 0; i++)
                rc = wr_es_decoder_feed(&d, a.data + i, 1, check_fields, &fc, &err);
        else
            rc = wr_es_decoder_feed(&d, a.data, a.len, check_fields, &fc, &err);
        assert_int_equal(rc, 0);
        assert_int_equal(fc.calls, 1);
        wr_es_decoder_free(&d);
    }
    wr_buf_free(&a);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    char name256[257];
    memset(name256, 'n', 256);
    name256[256] = '\0';
    static unsigned char big[WR_ES_MAX_VALUE + 1];
    static const unsigned char uuid[16];
    const wr_es_header bad[] = {
        {"", 0, WR_ES_STRING, 0, NULL, 0},
        {name256, 0, WR_ES_STRING, 0, NULL, 0},
        {"x", 0, (wr_es_type)10, 0, NULL, 0},
        {"x", 0, WR_ES_BYTE, 128, NULL, 0},
        {"x", 0, WR_ES_BYTE, -129, NULL, 0},
        {"x", 0, WR_ES_INT16, 32768, NULL, 0},
        {"x", 0, WR_ES_INT32, (int64_t)INT32_MAX + 1, NULL, 0},
        {"x", 0, WR_ES_BYTES, 0, big, sizeof big},
        {"x", 0, WR_ES_STRING, 0, NULL, 3},
        {"x", 0, WR_ES_UUID, 0, uuid, 15},
        {"x", 0, WR_ES_UUID, 0, NULL, 16},
        {NULL, 0, WR_ES_STRING, 0, NULL, 0},
    };
    wr_buf b;
    wr_buf_init(&b);
    for (size_t i = 0; i < WR_ARRAY_LEN(bad); i++) {
        if (wr_es_encode(&b, &bad[i], 1, NULL, 0) != WEIR_EINVAL)
            fail_msg("bad header %zu accepted", i);
        assert_int_equal(b.len, 0);
    }
    /* 255-byte name is fine */
    name256[255] = '\0';
    wr_es_header ok = {name256, 0, WR_ES_INT32, -1, NULL, 0};
    assert_int_equal(wr_es_encode(&b, &ok, 1, NULL, 0), 0);
    assert_int_equal(b.len, 16 + 1 + 255 + 1 + 4);
    /* NULL arguments */
    assert_int_equal(wr_es_encode(NULL, NULL, 0, NULL, 0), WEIR_EINVAL);
    assert_int_equal(wr_es_encode(&b, NULL, 1, NULL, 0), WEIR_EINVAL);
    assert_int_equal(wr_es_encode(&b, NULL, 0, NULL, 4), WEIR_EINVAL);
    /* header block over 128 KiB */
    static unsigned char val[30000];
    wr_es_header many[5];
    for (int i = 0; i < 5; i++)
        many[i] = (wr_es_header){"v", 0, WR_ES_BYTES, 0, val, sizeof val};
    size_t before = b.len;
    assert_int_equal(wr_es_encode(&b, many, 5, NULL, 0), WEIR_ELIMIT);
    assert_int_equal(b.len, before);
    assert_int_equal(wr_es_encode(&b, many, 4, NULL, 0), 0);
    wr_buf_free(&b);
    assert_string_equal(wr_es_type_name(WR_ES_TIMESTAMP), "timestamp");
    assert_string_equal(wr_es_type_name(42), "unknown");
}

/* ------------------------------------------------------------------ Bedrock */

/* bedrock.md section 10: InvokeModelWithResponseStream chunk, built with botocore. */
static const char BEDROCK_HEX[] =
    "000000d70000004bbff9e4380b3a6576656e742d747970650700056368756e6b"
    "0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f"
    "6e0d3a6d6573736167652d747970650700056576656e747b226279746573223a"
    "2265794a306558426c496a6f695932397564475675644639696247396a613139"
    "6b5a57783059534973496d6c755a475634496a6f774c434a6b5a577830595349"
    "3665794a306558426c496a6f69644756346446396b5a57783059534973496e52"
    "6c654851694f694a4961534a3966513d3d227d4b8e9495";

static const char BEDROCK_PAYLOAD[] =
    "{\"bytes\":\"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIj"
    "oidGV4dF9kZWx0YSIsInRleHQiOiJIaSJ9fQ==\"}";

typedef struct chunk_seen {
    int n;
    char payload[256];
} chunk_seen;

static int on_chunk(void *user, const wr_es_message *m, weir_error *err)
{
    (void)err;
    chunk_seen *s = user;
    s->n++;
    assert_true(wr_es_header_is(m, ":event-type", "chunk"));
    assert_true(wr_es_header_is(m, ":message-type", "event"));
    assert_true(wr_es_header_is(m, ":content-type", "application/json"));
    assert_false(wr_es_header_is(m, ":message-type", "exception"));
    assert_null(wr_es_find_header(m, ":exception-type"));
    assert_null(wr_es_find_header(m, ":event"));
    size_t len = 0;
    const char *v = wr_es_header_str(m, ":event-type", &len);
    assert_non_null(v);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "chunk", 5);
    assert_true(m->payload_len < sizeof s->payload);
    memcpy(s->payload, m->payload, m->payload_len);
    s->payload[m->payload_len] = '\0';
    assert_int_equal(m->prelude_crc, 0xbff9e438u);
    assert_int_equal(m->message_crc, 0x4b8e9495u);
    return 0;
}

static void test_bedrock_chunk(void **state)
{
    (void)state;
    size_t n = strlen(BEDROCK_HEX) / 2;
    unsigned char *frame = malloc(n);
    assert_non_null(frame);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(BEDROCK_HEX + 2 * i, "%2x", &v), 1);
        frame[i] = (unsigned char)v;
    }
    assert_int_equal(n, 215);

    /* built from scratch, the encoder gives the botocore bytes */
    wr_es_header h[] = {
        wr_es_header_string(":event-type", "chunk"),
        wr_es_header_string(":content-type", "application/json"),
        wr_es_header_string(":message-type", "event"),
    };
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(wr_es_encode(&b, h, 3, BEDROCK_PAYLOAD, strlen(BEDROCK_PAYLOAD)), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, frame, n);

    /* and it decodes, split anywhere */
    for (size_t cut = 0; cut <= n; cut++) {
        chunk_seen s = {0, ""};
        wr_es_decoder d;
        wr_es_decoder_init(&d, 0);
        weir_error err = {0};
        assert_int_equal(wr_es_decoder_feed(&d, frame, cut, on_chunk, &s, &err), 0);
        assert_int_equal(wr_es_decoder_feed(&d, frame + cut, n - cut, on_chunk, &s, &err), 0);
        assert_int_equal(wr_es_decoder_finish(&d, &err), 0);
        wr_es_decoder_free(&d);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.payload, BEDROCK_PAYLOAD);
        json_error_t jerr;
        json_t *j = json_loads(s.payload, 0, &jerr);
        assert_non_null(j);
        assert_true(json_is_string(json_object_get(j, "bytes")));
        json_decref(j);
    }

    /* a redacted re-frame: new payload, same headers, valid CRCs */
    b.len = 0;
    const char *red = "{\"bytes\":\"eyJ0ZXh0IjoiW1JFREFDVEVEXSJ9\"}";
    assert_int_equal(wr_es_encode(&b, h, 3, red, strlen(red)), 0);
    capture c = {json_array(), 0, 0};
    weir_error err = {0};
    assert_int_equal(decode((const unsigned char *)b.data, b.len, 1, 0, &c, &err), 0);
    assert_int_equal(json_array_size(c.msgs), 1);
    assert_int_equal(c.reencoded, 1);
    json_decref(c.msgs);

    /* an exception message, as the proxy emits to block */
    b.len = 0;
    wr_es_header ex[] = {
        wr_es_header_string(":message-type", "exception"),
        wr_es_header_string(":exception-type", "validationException"),
        wr_es_header_string(":content-type", "application/json"),
    };
    const char *msg = "{\"message\":\"blocked by policy\"}";
    assert_int_equal(wr_es_encode(&b, ex, 3, msg, strlen(msg)), 0);
    assert_int_equal(wr_es_encode(&b, NULL, 0, NULL, 0), 0); /* and an empty one after it */
    c.msgs = json_array();
    c.reencoded = 0;
    assert_int_equal(decode((const unsigned char *)b.data, b.len, 0, 0, &c, &err), 0);
    assert_int_equal(json_array_size(c.msgs), 2);
    assert_int_equal(c.reencoded, 2);
    json_decref(c.msgs);

    wr_buf_free(&b);
    free(frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positive_vectors),
        cmocka_unit_test(test_negative_vectors),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sticky_and_truncated),
        cmocka_unit_test(test_oversize_not_allocated),
        cmocka_unit_test(test_all_types_roundtrip),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_bedrock_chunk),
    };
    return cmocka_run_group_tests_name("eventstream", tests, find_vectors, NULL);
}
