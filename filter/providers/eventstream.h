/*
 * eventstream.h - the AWS event-stream codec (`application/vnd.amazon.eventstream`), the
 * framing of Bedrock's streaming responses (InvokeModelWithResponseStream, ConverseStream).
 * Internal to libweir (hidden visibility); used by the sidecar's stream filter, the unit
 * tests and tests/fuzz/fuzz_eventstream.c.
 *
 * Wire format (all integers big-endian; CRC = CRC-32/IEEE as zlib's crc32):
 *
 *   0     4  total_length    the whole frame, both CRCs included (>= 16)
 *   4     4  headers_length  H, bytes of the header block
 *   8     4  prelude_crc     CRC32(bytes[0..8))
 *   12    H  headers         { u8 name_len, name, u8 type, value } until H is used up
 *   12+H  P  payload         P = total_length - H - 16
 *   end-4 4  message_crc     CRC32(bytes[0..total_length-4)), prelude CRC included
 *
 * Design
 *
 * - The decoder is incremental: the proxy feeds it network reads as they come, split
 *   anywhere (inside the prelude, a header, the payload or a CRC) or merged (several
 *   frames in one read). A frame is handed to the callback only once it is complete and
 *   both CRCs match, so a caller never releases bytes that later turn out to be corrupt.
 * - Order of checks per frame: the prelude CRC first (a corrupt length is reported as a
 *   CRC mismatch, never acted upon), then the lengths (16 <= total <= max_message,
 *   H <= total - 16, H <= WR_ES_MAX_HEADERS_BYTES) - before anything is allocated - then,
 *   once the frame is complete, the message CRC, then the header block.
 * - Bounded memory: the decoder buffers at most one frame (a frame wholly inside one
 *   fed chunk is decoded in place, without a copy). Buffers larger than a small working
 *   size are released after the frame that needed them.
 * - Errors are sticky: after the first failure every further feed fails with the same
 *   text. An event stream cannot be resynchronised (there is no frame marker), and the
 *   proxy rule is to abort the downstream stream rather than forward partial bytes.
 * - The encoder is the exact inverse: for every frame the decoder accepts, encoding its
 *   headers and payload gives back the same bytes (the fuzzer checks this). It is what the
 *   proxy uses to re-frame a redacted event or to emit an `exception` message.
 * - Header values follow the limits of aws-c-event-stream and the Java SDK: names 1..255
 *   bytes, byte-array and string values at most 32767 bytes, header block at most 128 KiB.
 *   Both sides enforce them, so whatever weir emits every AWS SDK accepts.
 *
 * Not thread-safe per decoder; separate decoders are independent.
 */
#ifndef WEIR_PROVIDERS_EVENTSTREAM_H
#define WEIR_PROVIDERS_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* ------------------------------------------------------------------ limits */

#define WR_ES_PRELUDE_LEN 12
#define WR_ES_MIN_MESSAGE 16                                /* prelude + message CRC */
#define WR_ES_DEFAULT_MAX_MESSAGE ((size_t)16 * 1024 * 1024) /* one whole frame */
#define WR_ES_MAX_HEADERS_BYTES ((size_t)128 * 1024)         /* one header block */
#define WR_ES_MAX_NAME 255                                  /* header name bytes */
#define WR_ES_MAX_VALUE 32767                               /* byte-array / string value */
#define WR_ES_UUID_LEN 16

/* ------------------------------------------------------------------ headers */

/* Header value types; the numbers are the wire codes. */
typedef enum wr_es_type {
    WR_ES_BOOL_TRUE = 0,
    WR_ES_BOOL_FALSE = 1,
    WR_ES_BYTE = 2,      /* int8 */
    WR_ES_INT16 = 3,
    WR_ES_INT32 = 4,
    WR_ES_INT64 = 5,
    WR_ES_BYTES = 6,     /* u16 length + bytes */
    WR_ES_STRING = 7,    /* u16 length + UTF-8 (not checked) */
    WR_ES_TIMESTAMP = 8, /* int64, milliseconds since the epoch */
    WR_ES_UUID = 9       /* 16 bytes */
} wr_es_type;

/* "bool", "byte", "int16", ..., "uuid"; "unknown" otherwise. Static. */
const char *wr_es_type_name(int type);

/*
 * One header. From the decoder: every pointer borrows from the frame and is valid only
 * during the callback. For the encoder: supplied by the caller.
 *   name/name_len  not NUL-terminated; 1..255 bytes. (Encoder only: name_len 0 means
 *                  `name` is NUL-terminated and its strlen is used.)
 *   i              BOOL_TRUE/BOOL_FALSE: 1/0; BYTE, INT16, INT32, INT64, TIMESTAMP: the
 *                  value, sign-extended (the encoder rejects values outside the type)
 *   data/len       BYTES, STRING: the value (len <= 32767); UUID: 16 bytes (len 16)
 */
typedef struct wr_es_header {
    const char *name;
    size_t name_len;
    wr_es_type type;
    int64_t i;
    const unsigned char *data;
    size_t len;
} wr_es_header;

/* A string header {name, value} for the encoder; both NUL-terminated, borrowed. */
wr_es_header wr_es_header_string(const char *name, const char *value);

/* ------------------------------------------------------------------ messages */

/* One decoded frame; everything borrows from the decoder or the fed chunk and is valid
 * only during the callback. */
typedef struct wr_es_message {
    const wr_es_header *headers; /* in wire order; duplicates are kept */
    size_t nheaders;
    const unsigned char *payload;
    size_t payload_len;
    const unsigned char *frame; /* the whole frame exactly as received */
    size_t frame_len;           /* = total_length */
    uint32_t headers_len, prelude_crc, message_crc;
} wr_es_message;

/* The first header called `name` (NUL-terminated, exact bytes), or NULL. Borrowed. */
const wr_es_header *wr_es_find_header(const wr_es_message *m, const char *name);

/*
 * The value of the first header called `name` when it is a string: returns its bytes (not
 * NUL-terminated) and sets *len; NULL when absent or not a string. Borrowed.
 * Typical names: ":message-type", ":event-type", ":content-type", ":exception-type",
 * ":error-code", ":error-message".
 */
const char *wr_es_header_str(const wr_es_message *m, const char *name, size_t *len);

/* 1 when header `name` is a string equal to `value` (NUL-terminated), else 0. */
int wr_es_header_is(const wr_es_message *m, const char *name, const char *value);

/* ------------------------------------------------------------------ decoder */

/*
 * Called once per complete, verified frame, in stream order. Returns 0 to go on; any other
 * value stops the decoder for good: wr_es_decoder_feed returns it (a positive value as
 * WEIR_EINVAL) and the decoder stays failed. A callback that stops should fill err (it
 * receives feed's err, code reset to 0); otherwise the text is "stopped by the callback".
 * The callback must not feed the same decoder.
 */
typedef int (*wr_es_message_cb)(void *user, const wr_es_message *msg, weir_error *err);

typedef struct wr_es_decoder {
    size_t max_message;                        /* frames larger are refused (WEIR_ELIMIT) */
    unsigned char prelude[WR_ES_PRELUDE_LEN];  /* prelude being collected */
    size_t prelude_have;
    unsigned char *buf; /* the frame being collected (prelude copied in) */
    size_t buf_cap, have, need;
    wr_es_header *hdrs; /* header scratch, reused */
    size_t hdrs_cap;
    uint64_t messages;  /* frames delivered so far */
    uint64_t offset;    /* stream offset of the frame being collected */
    int failed;         /* 0, or the WEIR_E* code of the first failure */
    char why[256];      /* its text */
} wr_es_decoder;

/* Prepares d. max_message 0 = WR_ES_DEFAULT_MAX_MESSAGE; it is clamped to 16..UINT32_MAX. */
void wr_es_decoder_init(wr_es_decoder *d, size_t max_message);

/* Releases d's buffers (d itself belongs to the caller). NULL is fine. */
void wr_es_decoder_free(wr_es_decoder *d);

/*
 * Consumes data[0..len) (any split of the stream; len 0 is fine) and calls cb for every
 * frame it completes. Returns 0; or WEIR_EINVAL for a malformed frame ("prelude CRC
 * mismatch", "message CRC mismatch", "total length 8 is below the minimum of 16",
 * "header 2: unknown value type 12", ...), WEIR_ELIMIT for a frame or header block over
 * the limit, WEIR_ENOMEM, or the callback's code - with err filled. After a failure the
 * decoder stays failed: later calls return the same code and text.
 */
int wr_es_decoder_feed(wr_es_decoder *d, const void *data, size_t len, wr_es_message_cb cb,
                       void *user, weir_error *err);

/*
 * End of stream: 0 when the stream ended on a frame boundary; WEIR_EINVAL ("stream ended
 * inside a message ...", the decoder is then failed) when a frame is incomplete; the
 * first failure's code when already failed.
 */
int wr_es_decoder_finish(wr_es_decoder *d, weir_error *err);

/* ------------------------------------------------------------------ encoder */

/*
 * Appends one frame (both CRCs) with these headers, in order, and payload[0..len) to out.
 * Returns 0; WEIR_EINVAL for an invalid header (empty or > 255-byte name, unknown type,
 * value out of its type's range, byte-array/string > 32767 bytes, UUID not 16 bytes) or
 * NULL arguments; WEIR_ELIMIT when the header block exceeds 128 KiB or the frame 4 GiB;
 * WEIR_ENOMEM. On failure out is unchanged (unless it ran out of memory).
 */
int wr_es_encode(wr_buf *out, const wr_es_header *headers, size_t nheaders,
                 const void *payload, size_t len);

#endif
