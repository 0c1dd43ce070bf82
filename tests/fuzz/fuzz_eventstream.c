/*
 * fuzz_eventstream.c - bytes as an AWS event stream -> the decoder in
 * filter/providers/eventstream.h.
 *
 * The input is decoded twice: in one chunk, and in chunks of pseudo-random sizes (1 byte
 * to a few hundred, seeded from the input's CRC so the seeds stay plain frames). Both runs
 * must agree on every message and on the verdict. Every decoded frame lies inside the
 * input, the frames are consecutive from byte 0, and encoding a frame's headers and
 * payload gives back exactly its bytes. A failure has a known code and a text; finish
 * succeeds exactly when the whole input was consumed.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz.h"
#include "providers/eventstream.h"

typedef struct run {
    const uint8_t *data; /* the whole input */
    size_t size;
    size_t consumed;     /* bytes of the frames delivered so far */
    size_t count;
    uint32_t digest;     /* CRC over all delivered frames, to compare the two runs */
} run;

static int on_message(void *user, const wr_es_message *m, weir_error *err)
{
    (void)err;
    run *r = user;
    /* the frame is the next bytes of the input (whether decoded in place or buffered) */
    if (m->frame_len < WR_ES_MIN_MESSAGE || r->consumed + m->frame_len > r->size ||
        memcmp(m->frame, r->data + r->consumed, m->frame_len) != 0)
        abort();
    if (m->headers_len + m->payload_len + WR_ES_MIN_MESSAGE != m->frame_len)
        abort();
    /* borrowed pointers stay inside the frame */
    const uint8_t *f = m->frame;
    if (m->payload != f + WR_ES_PRELUDE_LEN + m->headers_len)
        abort();
    for (size_t i = 0; i < m->nheaders; i++) {
        const wr_es_header *h = &m->headers[i];
        const uint8_t *nm = (const uint8_t *)h->name;
        if (h->name_len == 0 || h->name_len > WR_ES_MAX_NAME || nm < f + WR_ES_PRELUDE_LEN ||
            nm + h->name_len > m->payload)
            abort();
        if (h->data && (h->data < nm || h->data + h->len > m->payload))
            abort();
        if (wr_es_find_header(m, "") != NULL)
            abort();
    }
    /* encode(decode(x)) == x */
    wr_buf b;
    wr_buf_init(&b);
    if (wr_es_encode(&b, m->headers, m->nheaders, m->payload, m->payload_len) != 0 ||
        b.len != m->frame_len || memcmp(b.data, m->frame, b.len) != 0)
        abort();
    wr_buf_free(&b);

    (void)wr_es_header_is(m, ":event-type", "chunk");
    r->consumed += m->frame_len;
    r->count++;
    r->digest = (uint32_t)crc32(r->digest, m->frame, (uInt)m->frame_len);
    return 0;
}

static void check_failure(int rc, const weir_error *err)
{
    if (rc != WEIR_EINVAL && rc != WEIR_ELIMIT && rc != WEIR_ENOMEM)
        abort();
    if (err->code != rc || strncmp(err->text, "event stream: ", 14) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a 1 MiB limit keeps the fuzzer's memory small; the limit path is the same */
    const size_t max = (size_t)1 << 20;

    run whole = {data, size, 0, 0, 0};
    wr_es_decoder d;
    wr_es_decoder_init(&d, max);
    weir_error err1 = {0};
    int rc1 = wr_es_decoder_feed(&d, data, size, on_message, &whole, &err1);
    int fin1 = rc1 ? rc1 : wr_es_decoder_finish(&d, &err1);
    wr_es_decoder_free(&d);

    run parts = {data, size, 0, 0, 0};
    wr_es_decoder_init(&d, max);
    weir_error err2 = {0};
    uint32_t rng = (uint32_t)crc32(0, data, (uInt)size) | 1u;
    int rc2 = 0;
    for (size_t at = 0; at < size && rc2 == 0;) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        size_t step = (rng & 3) == 0 ? 1 : 1 + rng % ((rng & 4) ? 7 : 300);
        if (step > size - at)
            step = size - at;
        rc2 = wr_es_decoder_feed(&d, data + at, step, on_message, &parts, &err2);
        at += step;
    }
    int fin2 = rc2 ? rc2 : wr_es_decoder_finish(&d, &err2);
    if (rc2) { /* sticky */
        weir_error again = {0};
        if (wr_es_decoder_feed(&d, data, size, on_message, &parts, &again) != rc2 ||
            strcmp(again.text, err2.text) != 0)
            abort();
    }
    wr_es_decoder_free(&d);

    /* both runs agree */
    if (rc1 != rc2 || fin1 != fin2 || whole.count != parts.count ||
        whole.consumed != parts.consumed || whole.digest != parts.digest)
        abort();
    if (rc1) {
        check_failure(rc1, &err1);
        if (strcmp(err1.text, err2.text) != 0)
            abort();
    } else if (fin1) {
        /* a clean feed fails at finish only when input is left over */
        check_failure(fin1, &err1);
        if (whole.consumed == size || !strstr(err1.text, "stream ended inside a message"))
            abort();
    } else if (whole.consumed != size) {
        abort();
    }
    return 0;
}
