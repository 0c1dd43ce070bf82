/*
 * reader.c - reading audit files: gzip streams, records, the journal, digests.
 *
 * Everything read here is untrusted. Sizes are capped while inflating, JSON nesting is
 * checked before jansson parses (jansson's own limit is far deeper), and every failure
 * returns a reason rather than aborting.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "audit/reader.h"

/* ------------------------------------------------------------------ gzip */

const char *wr_gz_status_text(wr_gz_status st)
{
    switch (st) {
    case WR_GZ_OK:
        return "valid";
    case WR_GZ_NOTFOUND:
        return "not found";
    case WR_GZ_IO:
        return "cannot be read";
    case WR_GZ_FORMAT:
        return "invalid format";
    case WR_GZ_TRAILING:
        return "unexpected data after end of compressed stream";
    case WR_GZ_TOOBIG:
        return "invalid format (inflates beyond the size limit)";
    case WR_GZ_NOMEM:
        return "out of memory";
    case WR_GZ_STOPPED:
        return "stopped";
    }
    return "invalid format";
}

typedef struct gz_state {
    z_stream zs;
    int ended;      /* Z_STREAM_END seen */
    size_t total;
    size_t max;
    wr_gz_sink sink;
    void *ctx;
    EVP_MD_CTX *md;
    unsigned char out[65536];
} gz_state;

static wr_gz_status gz_begin(gz_state *g, size_t max, wr_gz_sink sink, void *ctx, int want_sha)
{
    memset(&g->zs, 0, sizeof g->zs);
    g->ended = 0;
    g->total = 0;
    g->max = max;
    g->sink = sink;
    g->ctx = ctx;
    g->md = NULL;
    if (inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) /* gzip only */
        return WR_GZ_NOMEM;
    if (want_sha) {
        g->md = EVP_MD_CTX_new();
        if (!g->md || EVP_DigestInit_ex(g->md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(g->md);
            inflateEnd(&g->zs);
            return WR_GZ_NOMEM;
        }
    }
    return WR_GZ_OK;
}

static void gz_end(gz_state *g)
{
    inflateEnd(&g->zs);
    EVP_MD_CTX_free(g->md);
    g->md = NULL;
}

/* Feeds in[0..n); any input after the member's end is trailing data. */
static wr_gz_status gz_feed(gz_state *g, const unsigned char *in, size_t n)
{
    if (n == 0)
        return WR_GZ_OK;
    if (g->ended)
        return WR_GZ_TRAILING;
    while (n > 0) {
        uInt chunk = n > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)n;
        g->zs.next_in = (Bytef *)(uintptr_t)in;
        g->zs.avail_in = chunk;
        for (;;) {
            g->zs.next_out = g->out;
            g->zs.avail_out = sizeof g->out;
            int zr = inflate(&g->zs, Z_NO_FLUSH);
            if (zr == Z_MEM_ERROR)
                return WR_GZ_NOMEM;
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                return WR_GZ_FORMAT;
            size_t got = sizeof g->out - g->zs.avail_out;
            if (got) {
                if (got > g->max - g->total)
                    return WR_GZ_TOOBIG;
                g->total += got;
                if (g->md && EVP_DigestUpdate(g->md, g->out, got) != 1)
                    return WR_GZ_NOMEM;
                if (g->sink && g->sink(g->ctx, (const char *)g->out, got) != 0)
                    return WR_GZ_STOPPED;
            }
            if (zr == Z_STREAM_END) {
                g->ended = 1;
                return g->zs.avail_in > 0 || n > chunk ? WR_GZ_TRAILING : WR_GZ_OK;
            }
            if (g->zs.avail_in == 0 && g->zs.avail_out != 0)
                break; /* needs more input */
            if (zr == Z_BUF_ERROR && got == 0)
                return WR_GZ_FORMAT; /* no progress possible */
        }
        in += chunk;
        n -= chunk;
    }
    return WR_GZ_OK;
}

static wr_gz_status gz_finish(gz_state *g, unsigned char sha256[32])
{
    if (!g->ended)
        return WR_GZ_FORMAT; /* truncated */
    if (sha256) {
        unsigned int len = 0;
        if (!g->md || EVP_DigestFinal_ex(g->md, sha256, &len) != 1 || len != 32)
            return WR_GZ_NOMEM;
    }
    return WR_GZ_OK;
}

wr_gz_status wr_gz_stream_mem(const unsigned char *in, size_t n, size_t max, wr_gz_sink sink,
                              void *ctx, unsigned char sha256[32])
{
    gz_state *g = malloc(sizeof *g);
    if (!g)
        return WR_GZ_NOMEM;
    wr_gz_status st = gz_begin(g, max, sink, ctx, sha256 != NULL);
    if (st != WR_GZ_OK) {
        free(g);
        return st;
    }
    st = gz_feed(g, in, n);
    if (st == WR_GZ_OK)
        st = gz_finish(g, sha256);
    gz_end(g);
    free(g);
    return st;
}

wr_gz_status wr_gz_stream_file(const char *path, size_t max, wr_gz_sink sink, void *ctx,
                               unsigned char sha256[32])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? WR_GZ_NOTFOUND : WR_GZ_IO;
    gz_state *g = malloc(sizeof *g);
    unsigned char *in = malloc(65536);
    wr_gz_status st = (g && in) ? gz_begin(g, max, sink, ctx, sha256 != NULL) : WR_GZ_NOMEM;
    int begun = st == WR_GZ_OK;
    while (st == WR_GZ_OK) {
        size_t got = fread(in, 1, 65536, f);
        if (got == 0) {
            if (ferror(f))
                st = WR_GZ_IO;
            break;
        }
        st = gz_feed(g, in, got);
    }
    if (st == WR_GZ_OK)
        st = gz_finish(g, sha256);
    if (begun)
        gz_end(g);
    free(g);
    free(in);
    fclose(f);
    return st;
}

/* ------------------------------------------------------------------ JSON */

json_t *wr_json_parse(const char *s, size_t n, char *why, size_t why_size)
{
    if (!wr_json_depth_ok(s, n, WR_AUDIT_MAX_DEPTH)) {
        snprintf(why, why_size, "JSON nested deeper than %d levels", WR_AUDIT_MAX_DEPTH);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        snprintf(why, why_size, "invalid JSON at column %d: %s", je.column, je.text);
    return j;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

int wr_time_parse(const char *s, time_t *out)
{
    int Y, M, D, h = 0, m = 0, sec = 0;
    size_t n = strlen(s);
    if (n < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        return -1;
    if (n == 10) {
        /* date only */
    } else if (n == 17 && s[10] == 'T' && !digits(s + 11, 2, &h) && s[13] == ':' &&
               !digits(s + 14, 2, &m) && s[16] == 'Z') {
    } else if (n == 20 && s[10] == 'T' && !digits(s + 11, 2, &h) && s[13] == ':' &&
               !digits(s + 14, 2, &m) && s[16] == ':' && !digits(s + 17, 2, &sec) &&
               s[19] == 'Z') {
    } else {
        return -1;
    }
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    *out = (time_t)(days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400L + h * 3600L +
                    m * 60L + sec);
    return 0;
}

void wr_time_format(char out[21], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------ records */

static const char *jget_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int wr_audit_rec_parse(wr_audit_rec *rec, const char *s, size_t n, char *why, size_t why_size)
{
    memset(rec, 0, sizeof *rec);
    json_t *j = wr_json_parse(s, n, why, why_size);
    if (!j)
        return -1;
    if (!json_is_object(j)) {
        snprintf(why, why_size, "a record is not a JSON object");
        json_decref(j);
        return -1;
    }
    rec->json = j;
    rec->event_time = jget_str(j, "eventTime");
    rec->event_id = jget_str(j, "eventID");
    rec->event_name = jget_str(j, "eventName");
    if (!rec->event_time || wr_time_parse(rec->event_time, &rec->time) != 0 ||
        strlen(rec->event_time) != 20) {
        snprintf(why, why_size, "record without a valid eventTime");
        goto fail;
    }
    if (!rec->event_id || !*rec->event_id) {
        snprintf(why, why_size, "record without an eventID");
        goto fail;
    }
    if (!rec->event_name) {
        snprintf(why, why_size, "record without an eventName");
        goto fail;
    }
    json_t *uid = json_object_get(j, "userIdentity");
    rec->principal = jget_str(uid, "arn");
    if (!rec->principal)
        rec->principal = "";
    json_t *issuer = json_object_get(json_object_get(uid, "sessionContext"), "sessionIssuer");
    rec->role = jget_str(issuer, "arn");
    rec->model = jget_str(json_object_get(j, "requestParameters"), "modelId");
    if (!rec->model)
        rec->model = "";
    json_t *resp = json_object_get(j, "responseElements");
    json_t *extra = json_object_get(j, "additionalEventData");
    rec->action = jget_str(resp, "action");
    if (!rec->action)
        rec->action = jget_str(extra, "action");
    rec->enforced = jget_str(resp, "enforcedAction");
    if (!rec->enforced)
        rec->enforced = jget_str(extra, "enforcedAction");
    json_t *f = json_object_get(extra, "findings");
    rec->findings = json_is_array(f) ? f : NULL;
    return 0;
fail:
    json_decref(j);
    memset(rec, 0, sizeof *rec);
    return -1;
}

void wr_audit_rec_free(wr_audit_rec *rec)
{
    if (rec) {
        json_decref(rec->json);
        memset(rec, 0, sizeof *rec);
    }
}

void wr_audit_rec_rules(const wr_audit_rec *rec, wr_buf *b)
{
    size_t n = json_array_size(rec->findings);
    size_t start = b->len;
    for (size_t i = 0; i < n; i++) {
        const char *r = jget_str(json_array_get(rec->findings, i), "rule");
        if (!r || !*r)
            continue;
        /* skip a rule already listed */
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++) {
            const char *q = jget_str(json_array_get(rec->findings, k), "rule");
            dup = q && strcmp(q, r) == 0;
        }
        if (dup)
            continue;
        if (b->len > start)
            wr_buf_puts(b, ",");
        wr_buf_puts(b, r);
    }
}

/* --------------------------------------------------- {"Records":[...]} splitter */

enum {
    SP_BEGIN,   /* before '{' */
    SP_KEY,     /* before '"Records"' */
    SP_KEYSTR,  /* inside the key */
    SP_COLON,
    SP_ARR,     /* before '[' */
    SP_ELEM0,   /* first element or ']' */
    SP_ELEM,    /* after ',': an element */
    SP_REC,     /* inside a record */
    SP_NEXT,    /* ',' or ']' */
    SP_END,     /* before the final '}' */
    SP_DONE,
    SP_ERROR
};

void wr_records_init(wr_records_splitter *s, wr_rec_sink sink, void *ctx)
{
    memset(s, 0, sizeof *s);
    wr_buf_init(&s->rec);
    s->sink = sink;
    s->ctx = ctx;
}

void wr_records_free(wr_records_splitter *s)
{
    wr_buf_free(&s->rec);
}

static int sp_fail(wr_records_splitter *s, const char *why)
{
    snprintf(s->why, sizeof s->why, "%s", why);
    s->state = SP_ERROR;
    return -1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int wr_records_feed(wr_records_splitter *s, const char *p, size_t n)
{
    size_t i = 0;
    if (s->state == SP_ERROR || s->stopped)
        return -1;
    while (i < n) {
        if (s->state == SP_REC) {
            /* fast path: copy a run of bytes that cannot change the structure */
            size_t j = i;
            while (j < n) {
                char c = p[j];
                if (s->in_str) {
                    if (s->esc)
                        s->esc = 0;
                    else if (c == '\\')
                        s->esc = 1;
                    else if (c == '"')
                        s->in_str = 0;
                } else if (c == '"') {
                    s->in_str = 1;
                } else if (c == '{' || c == '[') {
                    if (++s->depth > WR_AUDIT_MAX_DEPTH)
                        return sp_fail(s, "a record is nested too deeply");
                } else if (c == '}' || c == ']') {
                    if (--s->depth == 0) {
                        j++;
                        break;
                    }
                }
                j++;
            }
            if (s->rec.len + (j - i) > WR_AUDIT_MAX_RECORD)
                return sp_fail(s, "a record is larger than 1 MiB");
            if (wr_buf_append(&s->rec, p + i, j - i) != 0)
                return sp_fail(s, "out of memory");
            i = j;
            if (s->depth == 0) {
                if (p[i - 1] != '}')
                    return sp_fail(s, "a record is not a JSON object");
                s->state = SP_NEXT;
                if (s->sink(s->ctx, s->rec.data, s->rec.len) != 0) {
                    s->stopped = 1;
                    return -1;
                }
                s->rec.len = 0;
            }
            continue;
        }
        char c = p[i++];
        switch (s->state) {
        case SP_BEGIN:
            if (is_ws(c))
                break;
            if (c != '{')
                return sp_fail(s, "not a {\"Records\":[...]} object");
            s->state = SP_KEY;
            break;
        case SP_KEY:
            if (is_ws(c))
                break;
            if (c != '"')
                return sp_fail(s, "expected the \"Records\" key");
            s->key_len = 0;
            s->state = SP_KEYSTR;
            break;
        case SP_KEYSTR:
            if (c == '"') {
                if (s->key_len != 7 || memcmp(s->key, "Records", 7) != 0)
                    return sp_fail(s, "expected the \"Records\" key");
                s->state = SP_COLON;
            } else if (s->key_len >= sizeof s->key) {
                return sp_fail(s, "expected the \"Records\" key");
            } else {
                s->key[s->key_len++] = c;
            }
            break;
        case SP_COLON:
            if (is_ws(c))
                break;
            if (c != ':')
                return sp_fail(s, "expected ':' after \"Records\"");
            s->state = SP_ARR;
            break;
        case SP_ARR:
            if (is_ws(c))
                break;
            if (c != '[')
                return sp_fail(s, "\"Records\" is not an array");
            s->state = SP_ELEM0;
            break;
        case SP_ELEM0:
        case SP_ELEM:
            if (is_ws(c))
                break;
            if (c == ']' && s->state == SP_ELEM0) {
                s->state = SP_END;
                break;
            }
            if (c != '{')
                return sp_fail(s, "a record is not a JSON object");
            s->rec.len = 0;
            if (wr_buf_append(&s->rec, "{", 1) != 0)
                return sp_fail(s, "out of memory");
            s->depth = 1;
            s->in_str = s->esc = 0;
            s->state = SP_REC;
            break;
        case SP_NEXT:
            if (is_ws(c))
                break;
            if (c == ',')
                s->state = SP_ELEM;
            else if (c == ']')
                s->state = SP_END;
            else
                return sp_fail(s, "expected ',' or ']' between records");
            break;
        case SP_END:
            if (is_ws(c))
                break;
            if (c != '}')
                return sp_fail(s, "expected '}' after the records");
            s->state = SP_DONE;
            break;
        case SP_DONE:
            if (!is_ws(c))
                return sp_fail(s, "data after the {\"Records\":[...]} object");
            break;
        default:
            return -1;
        }
    }
    return 0;
}

int wr_records_finish(wr_records_splitter *s)
{
    if (s->state == SP_DONE)
        return 0;
    if (s->state != SP_ERROR)
        sp_fail(s, "the {\"Records\":[...]} object is incomplete");
    return -1;
}

/* ------------------------------------------------------------------ journal */

void wr_journal_split(const char *p, size_t n, wr_rec_sink sink, void *ctx, int *torn,
                      size_t *too_long)
{
    size_t at = 0;
    *torn = 0;
    while (at < n) {
        const char *nl = memchr(p + at, '\n', n - at);
        if (!nl) {
            *torn = 1; /* a final line without '\n': torn write */
            return;
        }
        size_t len = (size_t)(nl - (p + at));
        const char *line = p + at;
        at += len + 1;
        if (len && line[len - 1] == '\r')
            len--;
        size_t k = 0;
        while (k < len && is_ws(line[k]))
            k++;
        if (k == len)
            continue;
        if (len > WR_AUDIT_MAX_RECORD) {
            (*too_long)++;
            continue;
        }
        if (sink(ctx, line, len) != 0)
            return;
    }
}

/* ------------------------------------------------------------------ digests */

static int dup_field(json_t *j, const char *key, int nullable, char **out, char *why,
                     size_t why_size)
{
    json_t *v = json_object_get(j, key);
    *out = NULL;
    if (!v) {
        snprintf(why, why_size, "missing \"%s\"", key);
        return -1;
    }
    if (json_is_null(v) && nullable)
        return 0;
    if (!json_is_string(v)) {
        snprintf(why, why_size, "\"%s\" is not a string", key);
        return -1;
    }
    *out = wr_strdup(json_string_value(v));
    if (!*out) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return 0;
}

static int is_hex(const char *s, size_t want)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return want == 0 ? n > 0 : n == want;
}

int wr_digest_parse(wr_digest *d, const char *s, size_t n, char *why, size_t why_size)
{
    memset(d, 0, sizeof *d);
    json_t *j = wr_json_parse(s, n, why, why_size);
    if (!j)
        return -1;
    int rc = -1;
    if (!json_is_object(j)) {
        snprintf(why, why_size, "a digest is not a JSON object");
        goto done;
    }
    /* the fields validate-logs requires, then the ones this validator uses */
    if (dup_field(j, "awsAccountId", 1, &d->account, why, why_size) ||
        dup_field(j, "digestStartTime", 0, &d->start_time, why, why_size) ||
        dup_field(j, "digestEndTime", 0, &d->end_time, why, why_size) ||
        dup_field(j, "digestS3Bucket", 0, &d->bucket, why, why_size) ||
        dup_field(j, "digestS3Object", 0, &d->object, why, why_size) ||
        dup_field(j, "digestPublicKeyFingerprint", 0, &d->fingerprint, why, why_size) ||
        dup_field(j, "digestSignatureAlgorithm", 1, &d->algorithm, why, why_size) ||
        dup_field(j, "previousDigestS3Bucket", 1, &d->prev_bucket, why, why_size) ||
        dup_field(j, "previousDigestS3Object", 1, &d->prev_object, why, why_size) ||
        dup_field(j, "previousDigestHashValue", 1, &d->prev_hash, why, why_size) ||
        dup_field(j, "previousDigestSignature", 1, &d->prev_signature, why, why_size))
        goto done;
    if (wr_time_parse(d->start_time, &d->start) || wr_time_parse(d->end_time, &d->end)) {
        snprintf(why, why_size, "digestStartTime/digestEndTime is not YYYY-MM-DDTHH:MM:SSZ");
        goto done;
    }
    if (d->algorithm && strcmp(d->algorithm, "SHA256withRSA") != 0) {
        snprintf(why, why_size, "unsupported digestSignatureAlgorithm \"%s\"", d->algorithm);
        goto done;
    }
    if ((d->prev_object == NULL) != (d->prev_hash == NULL) ||
        (d->prev_object == NULL) != (d->prev_signature == NULL)) {
        snprintf(why, why_size, "previousDigest* fields are partly null");
        goto done;
    }
    json_t *logs = json_object_get(j, "logFiles");
    if (!json_is_array(logs)) {
        snprintf(why, why_size, "\"logFiles\" is not an array");
        goto done;
    }
    size_t nl = json_array_size(logs);
    if (nl) {
        d->logs = wr_calloc(nl, sizeof *d->logs);
        if (!d->logs) {
            snprintf(why, why_size, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < nl; i++) {
        json_t *e = json_array_get(logs, i);
        wr_digest_log *l = &d->logs[i];
        if (!json_is_object(e)) {
            snprintf(why, why_size, "logFiles[%zu] is not an object", i);
            goto done;
        }
        d->n_logs = i + 1;
        if (dup_field(e, "s3Object", 0, &l->s3_object, why, why_size) ||
            dup_field(e, "hashValue", 0, &l->hash_value, why, why_size))
            goto done;
        if (!is_hex(l->hash_value, 64)) {
            snprintf(why, why_size, "logFiles[%zu].hashValue is not a hex SHA-256", i);
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(j);
    if (rc)
        wr_digest_free(d);
    return rc;
}

void wr_digest_free(wr_digest *d)
{
    if (!d)
        return;
    char **f[] = {&d->account, &d->start_time, &d->end_time, &d->bucket, &d->object,
                  &d->fingerprint, &d->algorithm, &d->prev_bucket, &d->prev_object,
                  &d->prev_hash, &d->prev_signature};
    for (size_t i = 0; i < WR_ARRAY_LEN(f); i++)
        free(*f[i]);
    for (size_t i = 0; i < d->n_logs; i++) {
        free(d->logs[i].s3_object);
        free(d->logs[i].hash_value);
    }
    free(d->logs);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------ listing */

int wr_rel_path_ok(const char *p)
{
    if (!p || !*p || p[0] == '/')
        return 0;
    const char *seg = p;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!end)
            return 1;
        seg = end + 1;
    }
}

typedef struct list_ctx {
    wr_trail_file *v;
    size_t n, cap;
    int oom;
} list_ctx;

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* "YYYYMMDDTHHMM[SS]Z" at s -> time; -1 if malformed. */
static int compact_time(const char *s, int with_seconds, time_t *out)
{
    char iso[21];
    if (!all_digits(s, 8) || s[8] != 'T' || !all_digits(s + 9, with_seconds ? 6 : 4) ||
        s[with_seconds ? 15 : 13] != 'Z')
        return -1;
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 9,
             s + 11, with_seconds ? s + 13 : "00");
    return wr_time_parse(iso, out);
}

static void list_add(list_ctx *lc, const char *acct, const char *region, const char *rel,
                     const char *base, int digests)
{
    if (lc->oom)
        return;
    wr_trail_file *v = wr_grow(lc->v, &lc->cap, lc->n + 1, sizeof *v, 64);
    if (!v) {
        lc->oom = 1;
        return;
    }
    lc->v = v;
    wr_trail_file *f = &v[lc->n];
    memset(f, 0, sizeof *f);
    size_t bl = strlen(base);
    wr_buf g;
    wr_buf_init(&g);
    wr_buf_printf(&g, "%s/%s", acct, region);
    if (digests) {
        /* {acct}_CloudTrail-Digest_{region}_{trail}_{region}_{YYYYMMDDTHHMMSSZ}.json.gz */
        if (bl > 25 && base[bl - 25] == '_' && compact_time(base + bl - 24, 1, &f->t) == 0) {
            f->named_ok = 1;
            wr_buf_printf(&g, "/%.*s", (int)(bl - 25), base);
        }
    } else {
        /* {acct}_CloudTrail_{region}_{YYYYMMDDTHHMMZ}_{16 chars}.json.gz */
        if (bl > 40 && base[bl - 40] == '_' && base[bl - 25] == '_' &&
            compact_time(base + bl - 39, 0, &f->t) == 0)
            f->named_ok = 1;
    }
    f->path = wr_strdup(rel);
    f->group = g.data ? g.data : wr_strdup("");
    if (!f->path || !f->group || g.oom) {
        free(f->path);
        free(f->group);
        lc->oom = 1;
        return;
    }
    lc->n++;
}

/* Entries of a directory, sorted, without "." and "..": a new array of new strings. */
static char **dir_names(const char *path, size_t *n)
{
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **nv = wr_grow(v, &cap, *n + 1, sizeof *v, 16);
        char *name = wr_strdup(e->d_name);
        if (!nv || !name) {
            free(name);
            if (nv)
                v = nv;
            break;
        }
        v = nv;
        v[(*n)++] = name;
    }
    closedir(d);
    return v;
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int wr_trail_list(const char *dir, int digests, time_t min_t, wr_trail_file **out, size_t *n,
                  weir_error *err)
{
    list_ctx lc = {0};
    const char *kind = digests ? "CloudTrail-Digest" : "CloudTrail";
    wr_buf p;
    wr_buf_init(&p);
    size_t na;
    char **accts = dir_names(wr_buf_printf(&p, "%s/AWSLogs", dir) == 0 ? p.data : "", &na);
    for (size_t a = 0; a < na; a++) {
        size_t nr;
        p.len = 0;
        wr_buf_printf(&p, "%s/AWSLogs/%s/%s", dir, accts[a], kind);
        char **regions = dir_names(p.data, &nr);
        for (size_t r = 0; r < nr; r++) {
            size_t ny;
            p.len = 0;
            wr_buf_printf(&p, "%s/AWSLogs/%s/%s/%s", dir, accts[a], kind, regions[r]);
            char **years = dir_names(p.data, &ny);
            for (size_t y = 0; y < ny; y++) {
                size_t nm;
                p.len = 0;
                wr_buf_printf(&p, "%s/AWSLogs/%s/%s/%s/%s", dir, accts[a], kind, regions[r],
                              years[y]);
                char **months = dir_names(p.data, &nm);
                for (size_t m = 0; m < nm; m++) {
                    size_t nd;
                    p.len = 0;
                    wr_buf_printf(&p, "%s/AWSLogs/%s/%s/%s/%s/%s", dir, accts[a], kind,
                                  regions[r], years[y], months[m]);
                    char **days = dir_names(p.data, &nd);
                    for (size_t d = 0; d < nd; d++) {
                        char iso[32];
                        time_t day;
                        snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", years[y], months[m],
                                 days[d]);
                        if (min_t && strlen(years[y]) == 4 && strlen(months[m]) == 2 &&
                            strlen(days[d]) == 2 && wr_time_parse(iso, &day) == 0 &&
                            day + 86400 + WR_AUDIT_FILE_SLACK < min_t)
                            continue; /* the whole day ends before the range */
                        size_t nf;
                        p.len = 0;
                        wr_buf_printf(&p, "%s/AWSLogs/%s/%s/%s/%s/%s/%s", dir, accts[a], kind,
                                      regions[r], years[y], months[m], days[d]);
                        char **files = dir_names(p.data, &nf);
                        for (size_t f = 0; f < nf; f++) {
                            if (!ends_with(files[f], ".json.gz"))
                                continue;
                            wr_buf rel;
                            wr_buf_init(&rel);
                            wr_buf_printf(&rel, "AWSLogs/%s/%s/%s/%s/%s/%s/%s", accts[a], kind,
                                          regions[r], years[y], months[m], days[d], files[f]);
                            if (rel.oom)
                                lc.oom = 1;
                            else
                                list_add(&lc, accts[a], regions[r], rel.data, files[f],
                                         digests);
                            wr_buf_free(&rel);
                        }
                        names_free(files, nf);
                    }
                    names_free(days, nd);
                }
                names_free(months, nm);
            }
            names_free(years, ny);
        }
        names_free(regions, nr);
    }
    names_free(accts, na);
    int oom = lc.oom || p.oom;
    wr_buf_free(&p);
    if (oom) {
        wr_trail_files_free(lc.v, lc.n);
        return wr_error_set(err, WEIR_ENOMEM, dir, 0, 0, "out of memory listing the trail");
    }
    *out = lc.v;
    *n = lc.n;
    return 0;
}

void wr_trail_files_free(wr_trail_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].path);
        free(f[i].group);
    }
    free(f);
}
