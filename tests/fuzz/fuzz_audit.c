/*
 * fuzz_audit.c - bytes -> the audit trail readers (filter/audit/reader.h).
 *
 * The same bytes go to every reader a trail file meets: as a journal (lines -> records ->
 * filter), as the inflated content of a log file ({"Records":[...]} split in two chunks at
 * a position the input picks), as a digest's JSON, and — when they start with the gzip
 * magic — as a gzip log file. Nothing may crash, hang or leak, and what a reader accepts
 * must satisfy its contract.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/reader.h"
#include "fuzz.h"

static wr_query query(void)
{
    wr_query q;
    memset(&q, 0, sizeof q);
    q.principal = "arn:aws:sts::*:assumed-role/*";
    q.model = "*claude*";
    q.rule = "p?i";
    q.action = "block";
    return q;
}

static int on_record(void *ctx, const char *json, size_t n)
{
    (void)ctx;
    wr_audit_rec rec;
    char why[160];
    if (wr_audit_rec_parse(&rec, json, n, why, sizeof why) != 0) {
        if (!why[0] || rec.json)
            abort(); /* a refusal says why and keeps nothing */
        return 0;
    }
    if (!rec.json || !rec.event_id || !rec.event_name || !rec.event_time || !rec.principal ||
        !rec.model)
        abort();
    wr_query q = query();
    (void)wr_query_match(&q, &rec);
    wr_buf b;
    wr_buf_init(&b);
    wr_audit_rec_rules(&rec, &b);
    wr_buf_free(&b);
    wr_audit_rec_free(&rec);
    return 0;
}

static int split_sink(void *ctx, const char *p, size_t n)
{
    return wr_records_feed(ctx, p, n) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    /* journal */
    int torn = 0;
    size_t too_long = 0;
    wr_journal_split(s, size, on_record, NULL, &torn, &too_long);

    /* inflated log file content, in two chunks */
    wr_records_splitter sp;
    wr_records_init(&sp, on_record, NULL);
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (wr_records_feed(&sp, s, cut) == 0 && wr_records_feed(&sp, s + cut, size - cut) == 0)
        (void)wr_records_finish(&sp);
    else if (!sp.why[0])
        abort(); /* a format error always has a reason */
    wr_records_free(&sp);

    /* digest */
    wr_digest d;
    char why[160] = "";
    if (wr_digest_parse(&d, s, size, why, sizeof why) == 0) {
        if (!d.start_time || !d.end_time || !d.bucket || !d.object || !d.fingerprint)
            abort();
        if ((d.prev_object == NULL) != (d.prev_signature == NULL))
            abort();
        for (size_t i = 0; i < d.n_logs; i++)
            if (!d.logs[i].s3_object || strlen(d.logs[i].hash_value) != 64)
                abort();
        (void)wr_rel_path_ok(d.object);
        wr_digest_free(&d);
    } else if (!why[0]) {
        abort();
    }

    /* gzip log file */
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        wr_records_init(&sp, on_record, NULL);
        unsigned char sha[32];
        wr_gz_status st = wr_gz_stream_mem(data, size, (size_t)4 << 20, split_sink, &sp, sha);
        if (st == WR_GZ_OK)
            (void)wr_records_finish(&sp);
        (void)wr_gz_status_text(st);
        wr_records_free(&sp);
    }
    return 0;
}
