/*
 * fuzz_sse.c - bytes -> the SSE parser (filter/providers/sse.h).
 *
 * The stream is parsed whole and again in chunks whose sizes the input picks (first byte):
 * both must give the same events. Every event is re-encoded and re-parsed: same data and
 * name. A small event limit must fail cleanly.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "providers/sse.h"

static int collect(void *ctx, const wr_sse_event *ev)
{
    wr_buf *b = ctx;
    if (strlen(ev->event) > ev->event_len || ev->data[ev->data_len] != '\0')
        abort();
    wr_buf_printf(b, "%zu:", ev->event_len);
    wr_buf_append(b, ev->event, ev->event_len);
    wr_buf_printf(b, "%zu:", ev->data_len);
    wr_buf_append(b, ev->data, ev->data_len);
    wr_buf_printf(b, "%d;", ev->done);
    return 0;
}

static int parse(const char *s, size_t n, size_t step, size_t max, wr_buf *out)
{
    wr_sse *p = NULL;
    if (wr_sse_new(&p, max, NULL))
        abort();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += step) {
        size_t k = n - i < step ? n - i : step;
        rc = wr_sse_feed(p, s + i, k, collect, out, NULL);
    }
    if (rc == 0)
        wr_sse_finish(p, NULL);
    wr_sse_free(p);
    return rc;
}

static int reencode(void *ctx, const wr_sse_event *ev)
{
    wr_buf *b = ctx;
    if (!memchr(ev->event, '\r', ev->event_len) && !memchr(ev->event, '\n', ev->event_len) &&
        strlen(ev->event) == ev->event_len)
        if (wr_sse_encode(b, ev->event, ev->data, ev->data_len))
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 17) + 1;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    wr_buf whole, chunked;
    wr_buf_init(&whole);
    wr_buf_init(&chunked);
    int a = parse(s, n, n ? n : 1, 0, &whole), b = parse(s, n, step, 0, &chunked);
    if (a != b || whole.len != chunked.len || (whole.len && memcmp(whole.data, chunked.data, whole.len)))
        abort();
    wr_buf_free(&chunked);

    /* re-encode every event and parse again: the same events */
    wr_sse *p = NULL;
    wr_buf enc, again;
    wr_buf_init(&enc);
    wr_buf_init(&again);
    if (wr_sse_new(&p, 0, NULL))
        abort();
    wr_sse_feed(p, s, n, reencode, &enc, NULL);
    wr_sse_free(p);
    if (enc.len && parse(enc.data, enc.len, step, 0, &again) != 0)
        abort();
    wr_buf_free(&enc);
    wr_buf_free(&again);

    wr_buf small;
    wr_buf_init(&small);
    int rc = parse(s, n, step, 8, &small);
    if (rc != 0 && rc != WEIR_ELIMIT)
        abort();
    wr_buf_free(&small);
    wr_buf_free(&whole);
    return 0;
}
