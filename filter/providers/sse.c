/* Incremental Server-Sent Events parser and encoder (see sse.h). */
#include <stdlib.h>
#include <string.h>

#include "providers/sse.h"

struct wr_sse {
    wr_buf line, data, event, id;
    size_t max, count;
    int cr;        /* the previous byte was \r: a following \n belongs to it */
    int have_data; /* a data line was seen since the last dispatch */
    int bom;       /* bytes of a leading BOM matched; 3 = past the start */
    int failed;
};

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

int wr_sse_new(wr_sse **out, size_t max_event, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "sse: invalid arguments");
    wr_sse *p = wr_calloc(1, sizeof *p);
    if (!p)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "sse: out of memory");
    p->max = max_event ? max_event : (size_t)1 << 20;
    *out = p;
    return 0;
}

void wr_sse_free(wr_sse *p)
{
    if (!p)
        return;
    wr_buf_free(&p->line);
    wr_buf_free(&p->data);
    wr_buf_free(&p->event);
    wr_buf_free(&p->id);
    free(p);
}

size_t wr_sse_count(const wr_sse *p)
{
    return p ? p->count : 0;
}

static void buf_set(wr_buf *b, const char *s, size_t n)
{
    b->len = 0;
    wr_buf_append(b, s, n);
}

static const char *str(const wr_buf *b)
{
    return b->len ? b->data : "";
}

static int dispatch(wr_sse *p, wr_sse_cb cb, void *ctx)
{
    if (!p->have_data) {
        p->event.len = 0;
        return 0;
    }
    p->data.len--; /* the \n after the last data line */
    if (p->data.data)
        p->data.data[p->data.len] = '\0';
    if (p->event.data)
        p->event.data[p->event.len] = '\0';
    wr_sse_event ev = {str(&p->event), p->event.len, str(&p->data), p->data.len,
                       str(&p->id),    p->id.len,    0};
    ev.done = ev.data_len == 6 && memcmp(ev.data, "[DONE]", 6) == 0;
    p->count++;
    int rc = cb ? cb(ctx, &ev) : 0;
    p->data.len = 0;
    p->event.len = 0;
    p->have_data = 0;
    return rc;
}

static int process_line(wr_sse *p, wr_sse_cb cb, void *ctx)
{
    const char *l = p->line.data;
    size_t n = p->line.len;
    p->line.len = 0;
    if (n == 0)
        return dispatch(p, cb, ctx);
    if (l[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = (size_t)(l + n - v);
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && !memcmp(l, "data", 4)) {
        wr_buf_append(&p->data, v, vlen);
        wr_buf_append(&p->data, "\n", 1);
        p->have_data = 1;
    } else if (flen == 5 && !memcmp(l, "event", 5)) {
        buf_set(&p->event, v, vlen);
    } else if (flen == 2 && !memcmp(l, "id", 2)) {
        if (!memchr(v, '\0', vlen))
            buf_set(&p->id, v, vlen);
    } /* retry and unknown fields: ignored */
    return 0;
}

static int fail(wr_sse *p, weir_error *err, int code, const char *what)
{
    p->failed = 1;
    return wr_error_set(err, code, NULL, 0, 0, "sse: %s", what);
}

int wr_sse_feed(wr_sse *p, const char *chunk, size_t n, wr_sse_cb cb, void *ctx,
                weir_error *err)
{
    if (!p || (!chunk && n))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "sse: invalid arguments");
    if (p->failed)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "sse: the stream already failed");
    size_t i = 0;
    while (i < n && p->bom < 3) {
        if ((unsigned char)chunk[i] == BOM[p->bom]) {
            p->bom++;
            i++;
            continue;
        }
        /* not a BOM after all: the matched bytes were text */
        wr_buf_append(&p->line, BOM, (size_t)p->bom);
        p->bom = 3;
    }
    while (i < n) {
        if (p->cr) {
            p->cr = 0;
            if (chunk[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < n && chunk[j] != '\n' && chunk[j] != '\r')
            j++;
        size_t run = j - i;
        if (run > p->max || p->line.len + p->data.len + p->event.len + run > p->max)
            return fail(p, err, WEIR_ELIMIT, "an event is over the size limit");
        if (wr_buf_append(&p->line, chunk + i, run))
            return fail(p, err, WEIR_ENOMEM, "out of memory");
        i = j;
        if (i == n)
            break;
        p->cr = chunk[i] == '\r';
        i++;
        int rc = process_line(p, cb, ctx);
        if (p->line.oom || p->data.oom || p->event.oom || p->id.oom)
            return fail(p, err, WEIR_ENOMEM, "out of memory");
        if (p->data.len + p->event.len > p->max)
            return fail(p, err, WEIR_ELIMIT, "an event is over the size limit");
        if (rc) {
            p->failed = 1;
            return rc;
        }
    }
    return 0;
}

int wr_sse_finish(wr_sse *p, weir_error *err)
{
    if (!p)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "sse: invalid arguments");
    int partial = p->line.len > 0 || p->have_data || (p->bom > 0 && p->bom < 3);
    p->line.len = p->data.len = p->event.len = 0;
    p->have_data = 0;
    if (partial)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "sse: the stream ended inside an event (discarded)");
    return 0;
}

int wr_sse_encode(wr_buf *out, const char *event, const char *data, size_t len)
{
    if (!out || (!data && len))
        return WEIR_EINVAL;
    if (event && *event) {
        if (strpbrk(event, "\r\n"))
            return WEIR_EINVAL;
        wr_buf_puts(out, "event: ");
        wr_buf_puts(out, event);
        wr_buf_append(out, "\n", 1);
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        wr_buf_append(out, "data: ", 6);
        wr_buf_append(out, data + i, j - i);
        wr_buf_append(out, "\n", 1);
        if (j >= len)
            break;
        i = j + 1 + (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n');
        if (i >= len) { /* a trailing newline makes one more, empty, line */
            wr_buf_append(out, "data: \n", 7);
            break;
        }
    }
    wr_buf_append(out, "\n", 1);
    return out->oom ? WEIR_ENOMEM : 0;
}

int wr_sse_comment(wr_buf *out, const char *text)
{
    if (!out || !text || strpbrk(text, "\r\n"))
        return WEIR_EINVAL;
    wr_buf_puts(out, ": ");
    wr_buf_puts(out, text);
    wr_buf_append(out, "\n", 1);
    return out->oom ? WEIR_ENOMEM : 0;
}
