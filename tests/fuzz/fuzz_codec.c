/*
 * fuzz_codec.c - bytes -> every provider codec (filter/providers/codec.h).
 *
 * The first byte picks the direction; the rest is a body. Every codec parses it: a refusal
 * must fill the error and keep nothing; an accepted body must list segments whose text is
 * its JSON node's; rewriting every segment and dumping must give JSON that parses back to
 * the same segment count; block and deny bodies must be valid JSON.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "providers/codec.h"

static void check_json(const wr_buf *b)
{
    json_t *v = json_loadb(b->data, b->len, 0, NULL);
    if (!v || !json_is_object(v))
        abort();
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    weir_direction dir = (data[0] & 1) ? WEIR_COMPLETION : WEIR_PROMPT;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    for (size_t i = 0; wr_codec_at(i); i++) {
        const wr_codec *c = wr_codec_at(i);
        wr_body b;
        weir_error err = {0};
        if (wr_codec_load(&b, c, dir, body, len, 1 << 20, &err) != 0) {
            if (!err.text[0] || err.code >= 0 || b.root || b.seg)
                abort();
            continue;
        }
        for (size_t k = 0; k < b.nseg; k++)
            if (b.seg[k].text != json_string_value(b.seg[k].node) ||
                b.seg[k].len != json_string_length(b.seg[k].node))
                abort();
        size_t nseg = b.nseg;
        for (size_t k = 0; k < b.nseg; k++)
            if (wr_body_set(&b, k, "[X]\n\"", 5) != 0)
                abort();
        wr_buf out;
        wr_buf_init(&out);
        if (wr_body_dump(&b, &out) != 0)
            abort();
        wr_body_free(&b);
        wr_body again;
        if (wr_codec_load(&again, c, dir, out.data, out.len, 0, &err) != 0 || again.nseg != nseg)
            abort();
        for (size_t k = 0; k < again.nseg; k++)
            if (again.seg[k].len != 5 || memcmp(again.seg[k].text, "[X]\n\"", 5))
                abort();
        wr_body_free(&again);
        wr_buf_free(&out);
    }
    /* answers built from arbitrary (valid UTF-8 or not) messages stay JSON when valid */
    if (len && len < 256 && !memchr(body, 0, len)) {
        char msg[256];
        memcpy(msg, body, len);
        msg[len] = '\0';
        json_t *probe = json_string(msg); /* only valid UTF-8 messages are in the contract */
        if (probe) {
            for (size_t i = 0; wr_codec_at(i); i++) {
                wr_buf out;
                wr_reply r;
                wr_buf_init(&out);
                wr_codec_at(i)->block(&out, &r, msg, msg, dir);
                check_json(&out);
                wr_buf_free(&out);
                wr_buf_init(&out);
                wr_codec_at(i)->deny(&out, &r, msg, msg);
                check_json(&out);
                wr_buf_free(&out);
            }
            json_decref(probe);
        }
    }
    return 0;
}
