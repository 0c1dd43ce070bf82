/* SSE framing: events are the same wherever the chunks split; limits; the encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "providers/sse.h"

/* Events rendered as "name|data|id|done;" into a buffer. */
static int collect(void *ctx, const wr_sse_event *ev)
{
    wr_buf *b = ctx;
    assert_int_equal(strlen(ev->event), ev->event_len);
    wr_buf_append(b, ev->event, ev->event_len);
    wr_buf_puts(b, "|");
    wr_buf_append(b, ev->data, ev->data_len);
    wr_buf_printf(b, "|%s|%d;", ev->id, ev->done);
    return 0;
}

static char *parse_split(const char *s, size_t n, size_t a, size_t c, int *finish_rc)
{
    wr_sse *p = NULL;
    assert_int_equal(wr_sse_new(&p, 0, NULL), 0);
    wr_buf out;
    wr_buf_init(&out);
    wr_buf_puts(&out, "");
    assert_int_equal(wr_sse_feed(p, s, a, collect, &out, NULL), 0);
    assert_int_equal(wr_sse_feed(p, s + a, c - a, collect, &out, NULL), 0);
    assert_int_equal(wr_sse_feed(p, s + c, n - c, collect, &out, NULL), 0);
    *finish_rc = wr_sse_finish(p, NULL);
    wr_sse_free(p);
    return out.data;
}

static const char STREAM[] =
    "\xEF\xBB\xBF: keep-alive comment\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
    "event: response.output_text.delta\n"
    "data: {\"delta\":\"lo\"}\n\n"
    "id: 7\r"
    "data:first\r"
    "data:  two spaces\r"
    "data\r"
    "retry: 100\r\r"
    "event: ignored-no-data\n\n"
    "data: [DONE]\n\n";

static const char WANT[] =
    "|{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}||0;"
    "response.output_text.delta|{\"delta\":\"lo\"}||0;"
    "|first\n two spaces\n|7|0;"
    "|[DONE]|7|1;";

static void test_every_split(void **state)
{
    (void)state;
    size_t n = sizeof STREAM - 1;
    for (size_t a = 0; a <= n; a++)
        for (size_t c = a; c <= n; c += (a % 5 == 0) ? 1 : 13) {
            int frc;
            char *got = parse_split(STREAM, n, a, c, &frc);
            if (strcmp(got, WANT))
                print_error("split %zu,%zu: %s\n", a, c, got);
            assert_string_equal(got, WANT);
            assert_int_equal(frc, 0);
            free(got);
        }
}

static void test_partial_end(void **state)
{
    (void)state;
    int frc;
    const char *s = "data: a\n\ndata: b\n";
    char *got = parse_split(s, strlen(s), 3, 10, &frc);
    assert_string_equal(got, "|a||0;");
    assert_int_equal(frc, WEIR_EINVAL);
    free(got);
    s = "data: a\n\ndata: b";
    got = parse_split(s, strlen(s), 0, 0, &frc);
    assert_int_equal(frc, WEIR_EINVAL);
    free(got);
    /* a lone BOM byte is text, not a BOM */
    s = "\xEF" "data: x\n\n";
    got = parse_split(s, strlen(s), 1, 1, &frc);
    assert_string_equal(got, "");
    assert_int_equal(frc, 0);
    free(got);
}

static void test_limit(void **state)
{
    (void)state;
    wr_sse *p = NULL;
    weir_error err = {0};
    assert_int_equal(wr_sse_new(&p, 24, &err), 0);
    wr_buf out;
    wr_buf_init(&out);
    assert_int_equal(wr_sse_feed(p, "data: 0123456789\n\n", 18, collect, &out, &err), 0);
    assert_int_equal(wr_sse_feed(p, "data: 0123456789\ndata: 0123456789", 33, collect, &out, &err),
                     WEIR_ELIMIT);
    assert_non_null(strstr(err.text, "size limit"));
    assert_int_equal(wr_sse_feed(p, "\n\n", 2, collect, &out, &err), WEIR_EINVAL); /* failed */
    assert_int_equal(wr_sse_count(p), 1);
    wr_sse_free(p);
    wr_buf_free(&out);
    /* one long line without a newline is bounded too */
    assert_int_equal(wr_sse_new(&p, 16, &err), 0);
    for (int i = 0; i < 3; i++) {
        int rc = wr_sse_feed(p, "xxxxxxxx", 8, collect, NULL, &err);
        assert_int_equal(rc, i < 2 ? 0 : WEIR_ELIMIT);
    }
    wr_sse_free(p);
    wr_sse_free(NULL);
}

static int stop_at_first(void *ctx, const wr_sse_event *ev)
{
    (void)ctx;
    (void)ev;
    return 42;
}

static void test_callback_stops(void **state)
{
    (void)state;
    wr_sse *p = NULL;
    assert_int_equal(wr_sse_new(&p, 0, NULL), 0);
    assert_int_equal(wr_sse_feed(p, "data: a\n\ndata: b\n\n", 18, stop_at_first, NULL, NULL), 42);
    assert_int_equal(wr_sse_count(p), 1);
    wr_sse_free(p);
}

static void test_encode_roundtrip(void **state)
{
    (void)state;
    wr_buf enc;
    wr_buf_init(&enc);
    assert_int_equal(wr_sse_encode(&enc, "response.completed", "{\"a\":1}", 7), 0);
    assert_int_equal(wr_sse_encode(&enc, NULL, "l1\nl2\r\nl3\rl4\n", 13), 0);
    assert_int_equal(wr_sse_encode(&enc, "", "", 0), 0);
    assert_int_equal(wr_sse_comment(&enc, "ping"), 0);
    assert_int_equal(wr_sse_encode(&enc, NULL, "[DONE]", 6), 0);
    assert_string_equal(enc.data, "event: response.completed\ndata: {\"a\":1}\n\n"
                                  "data: l1\ndata: l2\ndata: l3\ndata: l4\ndata: \n\n"
                                  "data: \n\n"
                                  ": ping\n"
                                  "data: [DONE]\n\n");
    int frc;
    char *got = parse_split(enc.data, enc.len, 5, 40, &frc);
    assert_string_equal(got, "response.completed|{\"a\":1}||0;|l1\nl2\nl3\nl4\n||0;|||0;|[DONE]||1;");
    free(got);
    assert_int_equal(wr_sse_encode(&enc, "bad\nname", "x", 1), WEIR_EINVAL);
    assert_int_equal(wr_sse_comment(&enc, "a\nb"), WEIR_EINVAL);
    wr_buf_free(&enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),     cmocka_unit_test(test_partial_end),
        cmocka_unit_test(test_limit),           cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_encode_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
