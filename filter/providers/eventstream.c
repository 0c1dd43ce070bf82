/*
 * eventstream.c - the AWS event-stream codec; see eventstream.h for the format and design.
 */
#include "providers/eventstream.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* Keep buffers up to this size between frames; larger ones are released after use. */
#define ES_KEEP_BUF ((size_t)64 * 1024)
#define ES_KEEP_HDRS ((size_t)256)

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t crc(const unsigned char *p, size_t n)
{
    /* frames are below 4 GiB, so one call per frame fits zlib's uInt */
    return (uint32_t)crc32(0L, p, (uInt)n);
}

const char *wr_es_type_name(int type)
{
    static const char *const names[] = {"bool true", "bool false", "byte",   "int16",
                                        "int32",     "int64",      "bytes",  "string",
                                        "timestamp", "uuid"};
    return type >= 0 && type < (int)WR_ARRAY_LEN(names) ? names[type] : "unknown";
}

/* Fixed value size of a type, or -1 for the length-prefixed ones, -2 for unknown. */
static int fixed_size(int type)
{
    switch (type) {
    case WR_ES_BOOL_TRUE:
    case WR_ES_BOOL_FALSE:
        return 0;
    case WR_ES_BYTE:
        return 1;
    case WR_ES_INT16:
        return 2;
    case WR_ES_INT32:
        return 4;
    case WR_ES_INT64:
    case WR_ES_TIMESTAMP:
        return 8;
    case WR_ES_UUID:
        return WR_ES_UUID_LEN;
    case WR_ES_BYTES:
    case WR_ES_STRING:
        return -1;
    default:
        return -2;
    }
}

wr_es_header wr_es_header_string(const char *name, const char *value)
{
    wr_es_header h;
    memset(&h, 0, sizeof h);
    h.name = name;
    h.name_len = name ? strlen(name) : 0;
    h.type = WR_ES_STRING;
    h.data = (const unsigned char *)value;
    h.len = value ? strlen(value) : 0;
    return h;
}

/* ------------------------------------------------------------------ lookup */

const wr_es_header *wr_es_find_header(const wr_es_message *m, const char *name)
{
    if (!m || !name)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++) {
        const wr_es_header *h = &m->headers[i];
        if (h->name_len == n && memcmp(h->name, name, n) == 0)
            return h;
    }
    return NULL;
}

const char *wr_es_header_str(const wr_es_message *m, const char *name, size_t *len)
{
    const wr_es_header *h = wr_es_find_header(m, name);
    if (!h || h->type != WR_ES_STRING)
        return NULL;
    if (len)
        *len = h->len;
    return h->len ? (const char *)h->data : "";
}

int wr_es_header_is(const wr_es_message *m, const char *name, const char *value)
{
    size_t n = 0;
    const char *v = wr_es_header_str(m, name, &n);
    return v && value && strlen(value) == n && memcmp(v, value, n) == 0;
}

/* ------------------------------------------------------------------ decoder */

void wr_es_decoder_init(wr_es_decoder *d, size_t max_message)
{
    if (!d)
        return;
    memset(d, 0, sizeof *d);
    if (max_message == 0)
        max_message = WR_ES_DEFAULT_MAX_MESSAGE;
    if (max_message < WR_ES_MIN_MESSAGE)
        max_message = WR_ES_MIN_MESSAGE;
    if ((uint64_t)max_message > UINT32_MAX)
        max_message = (size_t)UINT32_MAX;
    d->max_message = max_message;
}

void wr_es_decoder_free(wr_es_decoder *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d->hdrs);
    d->buf = NULL;
    d->hdrs = NULL;
    d->buf_cap = d->hdrs_cap = 0;
}

/* Marks d failed with a text naming the frame; fills err. Returns code. */
static int fail(wr_es_decoder *d, weir_error *err, int code, const char *fmt, ...)
    WR_PRINTF(4, 5);
static int fail(wr_es_decoder *d, weir_error *err, int code, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(d->why, sizeof d->why, "event stream: %s (message %llu at byte %llu)", what,
             (unsigned long long)d->messages + 1, (unsigned long long)d->offset);
    d->failed = code;
    return wr_error_set(err, code, NULL, 0, 0, "%s", d->why);
}

/* Checks a 12-byte prelude; sets *total. Allocates nothing. */
static int check_prelude(wr_es_decoder *d, const unsigned char *p, uint32_t *total,
                         weir_error *err)
{
    uint32_t t = get32(p), h = get32(p + 4), want = get32(p + 8), got = crc(p, 8);
    if (got != want)
        return fail(d, err, WEIR_EINVAL,
                    "prelude CRC mismatch (computed 0x%08lx, frame says 0x%08lx)",
                    (unsigned long)got, (unsigned long)want);
    if (t < WR_ES_MIN_MESSAGE)
        return fail(d, err, WEIR_EINVAL, "total length %lu is below the minimum of %d",
                    (unsigned long)t, WR_ES_MIN_MESSAGE);
    if (t > d->max_message)
        return fail(d, err, WEIR_ELIMIT, "total length %lu exceeds the limit of %zu bytes",
                    (unsigned long)t, d->max_message);
    if (h > t - WR_ES_MIN_MESSAGE)
        return fail(d, err, WEIR_EINVAL,
                    "headers length %lu inconsistent with total length %lu (at most %lu)",
                    (unsigned long)h, (unsigned long)t, (unsigned long)(t - WR_ES_MIN_MESSAGE));
    if (h > WR_ES_MAX_HEADERS_BYTES)
        return fail(d, err, WEIR_ELIMIT, "headers length %lu exceeds the limit of %zu bytes",
                    (unsigned long)h, WR_ES_MAX_HEADERS_BYTES);
    *total = t;
    return 0;
}

/*
 * Walks the header block p[0..n). With out == NULL only validates and counts (*count);
 * otherwise fills out[0..*count).
 */
static int parse_headers(wr_es_decoder *d, const unsigned char *p, size_t n, wr_es_header *out,
                         size_t *count, weir_error *err)
{
    size_t at = 0, k = 0;
    while (at < n) {
        size_t idx = k + 1;
        size_t name_len = p[at++];
        if (name_len == 0)
            return fail(d, err, WEIR_EINVAL, "header %zu: empty name", idx);
        if (name_len > n - at)
            return fail(d, err, WEIR_EINVAL,
                        "header %zu: name (%zu bytes) overruns the header block", idx, name_len);
        const unsigned char *name = p + at;
        at += name_len;
        if (at >= n)
            return fail(d, err, WEIR_EINVAL, "header %zu (%.*s): value type missing", idx,
                        (int)name_len, (const char *)name);
        int type = p[at++];
        int fixed = fixed_size(type);
        if (fixed == -2)
            return fail(d, err, WEIR_EINVAL, "header %zu (%.*s): unknown value type %d", idx,
                        (int)name_len, (const char *)name, type);
        size_t vlen;
        if (fixed >= 0) {
            vlen = (size_t)fixed;
        } else {
            if (n - at < 2)
                return fail(d, err, WEIR_EINVAL,
                            "header %zu (%.*s): value length overruns the header block", idx,
                            (int)name_len, (const char *)name);
            vlen = (size_t)p[at] << 8 | p[at + 1];
            at += 2;
            if (vlen > WR_ES_MAX_VALUE)
                return fail(d, err, WEIR_EINVAL,
                            "header %zu (%.*s): %s value of %zu bytes exceeds %d", idx,
                            (int)name_len, (const char *)name, wr_es_type_name(type), vlen,
                            WR_ES_MAX_VALUE);
        }
        if (vlen > n - at)
            return fail(d, err, WEIR_EINVAL,
                        "header %zu (%.*s): %s value (%zu bytes) overruns the header block", idx,
                        (int)name_len, (const char *)name, wr_es_type_name(type), vlen);
        if (out) {
            wr_es_header *h = &out[k];
            const unsigned char *v = p + at;
            memset(h, 0, sizeof *h);
            h->name = (const char *)name;
            h->name_len = name_len;
            h->type = (wr_es_type)type;
            switch (type) {
            case WR_ES_BOOL_TRUE:
                h->i = 1;
                break;
            case WR_ES_BOOL_FALSE:
                h->i = 0;
                break;
            case WR_ES_BYTE:
                h->i = (int8_t)v[0];
                break;
            case WR_ES_INT16:
                h->i = (int16_t)(uint16_t)((unsigned)v[0] << 8 | v[1]);
                break;
            case WR_ES_INT32:
                h->i = (int32_t)get32(v);
                break;
            case WR_ES_INT64:
            case WR_ES_TIMESTAMP:
                h->i = (int64_t)((uint64_t)get32(v) << 32 | get32(v + 4));
                break;
            default: /* BYTES, STRING, UUID */
                h->data = v;
                h->len = vlen;
                break;
            }
        }
        at += vlen;
        k++;
    }
    *count = k;
    return 0;
}

/* A complete frame p[0..total): message CRC, headers, callback. */
static int deliver(wr_es_decoder *d, const unsigned char *p, size_t total, wr_es_message_cb cb,
                   void *user, weir_error *err)
{
    uint32_t want = get32(p + total - 4), got = crc(p, total - 4);
    if (got != want)
        return fail(d, err, WEIR_EINVAL,
                    "message CRC mismatch (computed 0x%08lx, frame says 0x%08lx)",
                    (unsigned long)got, (unsigned long)want);
    size_t hlen = get32(p + 4), count = 0;
    const unsigned char *hp = p + WR_ES_PRELUDE_LEN;
    int rc = parse_headers(d, hp, hlen, NULL, &count, err);
    if (rc)
        return rc;
    if (count > d->hdrs_cap) {
        wr_es_header *nh = wr_grow(d->hdrs, &d->hdrs_cap, count, sizeof *nh, 8);
        if (!nh)
            return fail(d, err, WEIR_ENOMEM, "out of memory for %zu headers", count);
        d->hdrs = nh;
    }
    if (count && (rc = parse_headers(d, hp, hlen, d->hdrs, &count, err)) != 0)
        return rc;

    wr_es_message m;
    memset(&m, 0, sizeof m);
    m.headers = count ? d->hdrs : NULL;
    m.nheaders = count;
    m.payload = hp + hlen;
    m.payload_len = total - hlen - WR_ES_MIN_MESSAGE;
    m.frame = p;
    m.frame_len = total;
    m.headers_len = (uint32_t)hlen;
    m.prelude_crc = get32(p + 8);
    m.message_crc = want;
    if (cb) {
        if (err)
            err->code = 0;
        rc = cb(user, &m, err);
        if (rc) {
            int code = rc < 0 ? rc : WEIR_EINVAL;
            if (err && err->code != 0 && err->text[0])
                snprintf(d->why, sizeof d->why, "%s", err->text);
            else
                return fail(d, err, code, "stopped by the callback (%d)", rc);
            d->failed = code;
            err->code = code;
            return code;
        }
    }
    d->messages++;
    d->offset += total;
    return 0;
}

/* Between frames: drops buffers larger than the working size. */
static void reset_frame(wr_es_decoder *d)
{
    d->prelude_have = d->have = d->need = 0;
    if (d->buf_cap > ES_KEEP_BUF) {
        free(d->buf);
        d->buf = NULL;
        d->buf_cap = 0;
    }
    if (d->hdrs_cap > ES_KEEP_HDRS) {
        free(d->hdrs);
        d->hdrs = NULL;
        d->hdrs_cap = 0;
    }
}

/* The prelude is complete and valid: set up the frame buffer for `total` bytes. */
static int start_buffering(wr_es_decoder *d, const unsigned char *prelude, uint32_t total,
                           weir_error *err)
{
    if (total > d->buf_cap) {
        unsigned char *nb = realloc(d->buf, total);
        if (!nb)
            return fail(d, err, WEIR_ENOMEM, "out of memory for a %lu-byte message",
                        (unsigned long)total);
        d->buf = nb;
        d->buf_cap = total;
    }
    memcpy(d->buf, prelude, WR_ES_PRELUDE_LEN);
    d->prelude_have = WR_ES_PRELUDE_LEN;
    d->have = WR_ES_PRELUDE_LEN;
    d->need = total;
    return 0;
}

static int failed_again(const wr_es_decoder *d, weir_error *err)
{
    return wr_error_set(err, d->failed, NULL, 0, 0, "%s", d->why);
}

int wr_es_decoder_feed(wr_es_decoder *d, const void *data, size_t len, wr_es_message_cb cb,
                       void *user, weir_error *err)
{
    if (!d || (!data && len))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "wr_es_decoder_feed: NULL argument");
    if (d->failed)
        return failed_again(d, err);
    const unsigned char *p = data;
    int rc;
    while (len > 0) {
        if (d->prelude_have == 0 && len >= WR_ES_PRELUDE_LEN) {
            /* at a frame boundary with a whole prelude at hand */
            uint32_t total;
            if ((rc = check_prelude(d, p, &total, err)) != 0)
                return rc;
            if (len >= total) { /* the whole frame is here: decode in place */
                if ((rc = deliver(d, p, total, cb, user, err)) != 0)
                    return rc;
                p += total;
                len -= total;
                reset_frame(d);
                continue;
            }
            if ((rc = start_buffering(d, p, total, err)) != 0)
                return rc;
            p += WR_ES_PRELUDE_LEN;
            len -= WR_ES_PRELUDE_LEN;
            continue;
        }
        if (d->prelude_have < WR_ES_PRELUDE_LEN) {
            size_t take = WR_ES_PRELUDE_LEN - d->prelude_have;
            if (take > len)
                take = len;
            memcpy(d->prelude + d->prelude_have, p, take);
            d->prelude_have += take;
            p += take;
            len -= take;
            if (d->prelude_have < WR_ES_PRELUDE_LEN)
                break;
            uint32_t total;
            if ((rc = check_prelude(d, d->prelude, &total, err)) != 0)
                return rc;
            if ((rc = start_buffering(d, d->prelude, total, err)) != 0)
                return rc;
            if (len == 0 && d->have < d->need)
                break;
        }
        size_t take = d->need - d->have;
        if (take > len)
            take = len;
        if (take) {
            memcpy(d->buf + d->have, p, take);
            d->have += take;
            p += take;
            len -= take;
        }
        if (d->have == d->need) {
            if ((rc = deliver(d, d->buf, d->need, cb, user, err)) != 0)
                return rc;
            reset_frame(d);
        }
    }
    return 0;
}

int wr_es_decoder_finish(wr_es_decoder *d, weir_error *err)
{
    if (!d)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "wr_es_decoder_finish: NULL argument");
    if (d->failed)
        return failed_again(d, err);
    if (d->prelude_have == 0)
        return 0;
    if (d->prelude_have < WR_ES_PRELUDE_LEN)
        return fail(d, err, WEIR_EINVAL,
                    "stream ended inside a message prelude (%zu of %d bytes)", d->prelude_have,
                    WR_ES_PRELUDE_LEN);
    return fail(d, err, WEIR_EINVAL, "stream ended inside a message (%zu of %zu bytes)", d->have,
                d->need);
}

/* ------------------------------------------------------------------ encoder */

/* Size of one header on the wire, or 0 when it is invalid (*code says why). */
static size_t header_size(const wr_es_header *h, size_t *name_len, int *code)
{
    *code = WEIR_EINVAL;
    if (!h->name)
        return 0;
    size_t nl = h->name_len ? h->name_len : strlen(h->name);
    if (nl == 0 || nl > WR_ES_MAX_NAME)
        return 0;
    *name_len = nl;
    int fixed = fixed_size((int)h->type);
    switch ((int)h->type) {
    case WR_ES_BYTE:
        if (h->i < INT8_MIN || h->i > INT8_MAX)
            return 0;
        break;
    case WR_ES_INT16:
        if (h->i < INT16_MIN || h->i > INT16_MAX)
            return 0;
        break;
    case WR_ES_INT32:
        if (h->i < INT32_MIN || h->i > INT32_MAX)
            return 0;
        break;
    case WR_ES_UUID:
        if (!h->data || h->len != WR_ES_UUID_LEN)
            return 0;
        break;
    case WR_ES_BYTES:
    case WR_ES_STRING:
        if (h->len > WR_ES_MAX_VALUE || (h->len && !h->data))
            return 0;
        break;
    default:
        if (fixed == -2)
            return 0;
        break;
    }
    *code = 0;
    return 1 + nl + 1 + (fixed >= 0 ? (size_t)fixed : 2 + h->len);
}

static unsigned char *put_header(unsigned char *w, const wr_es_header *h, size_t nl)
{
    *w++ = (unsigned char)nl;
    memcpy(w, h->name, nl);
    w += nl;
    *w++ = (unsigned char)h->type;
    uint64_t u = (uint64_t)h->i;
    switch (h->type) {
    case WR_ES_BOOL_TRUE:
    case WR_ES_BOOL_FALSE:
        break;
    case WR_ES_BYTE:
        *w++ = (unsigned char)(u & 0xff);
        break;
    case WR_ES_INT16:
        *w++ = (unsigned char)(u >> 8 & 0xff);
        *w++ = (unsigned char)(u & 0xff);
        break;
    case WR_ES_INT32:
        put32(w, (uint32_t)u);
        w += 4;
        break;
    case WR_ES_INT64:
    case WR_ES_TIMESTAMP:
        put32(w, (uint32_t)(u >> 32));
        put32(w + 4, (uint32_t)u);
        w += 8;
        break;
    case WR_ES_UUID:
        memcpy(w, h->data, WR_ES_UUID_LEN);
        w += WR_ES_UUID_LEN;
        break;
    case WR_ES_BYTES:
    case WR_ES_STRING:
        *w++ = (unsigned char)(h->len >> 8);
        *w++ = (unsigned char)(h->len & 0xff);
        if (h->len)
            memcpy(w, h->data, h->len);
        w += h->len;
        break;
    }
    return w;
}

int wr_es_encode(wr_buf *out, const wr_es_header *headers, size_t nheaders, const void *payload,
                 size_t len)
{
    if (!out || (nheaders && !headers) || (len && !payload))
        return WEIR_EINVAL;
    size_t hlen = 0, nl;
    int code;
    for (size_t i = 0; i < nheaders; i++) {
        size_t s = header_size(&headers[i], &nl, &code);
        if (!s)
            return code;
        hlen += s;
        if (hlen > WR_ES_MAX_HEADERS_BYTES)
            return WEIR_ELIMIT;
    }
    if (len > (size_t)UINT32_MAX - WR_ES_MIN_MESSAGE - hlen)
        return WEIR_ELIMIT;
    size_t total = WR_ES_MIN_MESSAGE + hlen + len;
    if (wr_buf_reserve(out, total))
        return WEIR_ENOMEM;

    unsigned char *start = (unsigned char *)out->data + out->len, *w = start;
    put32(w, (uint32_t)total);
    put32(w + 4, (uint32_t)hlen);
    put32(w + 8, crc(w, 8));
    w += WR_ES_PRELUDE_LEN;
    for (size_t i = 0; i < nheaders; i++) {
        header_size(&headers[i], &nl, &code);
        w = put_header(w, &headers[i], nl);
    }
    if (len)
        memcpy(w, payload, len);
    w += len;
    put32(w, crc(start, total - 4));
    out->len += total;
    out->data[out->len] = '\0';
    return 0;
}
