/*
 * sigv4.c - AWS Signature Version 4, header form, with S3's path rules (single encoding, no
 * normalization). Written in-house because libcurl 7.88's CURLOPT_AWS_SIGV4 sorts header
 * lines rather than names (x-amz-meta-signature vs x-amz-meta-signature-algorithm comes out
 * wrong) and hashes an empty body for read-callback uploads (see README.md).
 */
#include "s3x.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

typedef struct s3x_canon_header {
    char *name;   /* lower-case */
    s3x_buf value;
    size_t order; /* input position: keeps repeated headers in order */
} s3x_canon_header;

void s3x_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    s3x_hex(out, md, 32);
}

static int s3x_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

int s3x_sigv4_encode_path(s3x_buf *out, const char *path)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (s3x_unreserved(*p) || *p == '/') {
            s3x_buf_append(out, p, 1);
        } else {
            char esc[3] = {'%', digits[*p >> 4], digits[*p & 15]};
            s3x_buf_append(out, esc, 3);
        }
    }
    return out->oom ? -1 : 0;
}

/* Value trimmed, inner runs of spaces and tabs collapsed to one space. */
static void s3x_sigv4_trim(s3x_buf *out, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space && out->len > 0)
            s3x_buf_append(out, " ", 1);
        space = 0;
        s3x_buf_append(out, v, 1);
    }
}

static int s3x_canon_cmp(const void *a, const void *b)
{
    const s3x_canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

int s3x_sigv4_canonical_request(const s3x_sigv4_request *rq, s3x_buf *canonical,
                                s3x_buf *signed_headers)
{
    int rc = -1;
    canonical->secret = 1; /* holds the session token */
    s3x_canon_header *h = calloc(rq->n_headers ? rq->n_headers : 1, sizeof *h);
    if (!h)
        return -1;
    for (size_t i = 0; i < rq->n_headers; i++) {
        size_t n = strlen(rq->headers[i].name);
        if (n == 0)
            goto done;
        h[i].name = malloc(n + 1);
        if (!h[i].name)
            goto done;
        for (size_t j = 0; j <= n; j++) {
            char c = rq->headers[i].name[j];
            h[i].name[j] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        h[i].order = i;
        h[i].value.secret = 1; /* x-amz-security-token */
        s3x_buf_puts(&h[i].value, "");
        s3x_sigv4_trim(&h[i].value, rq->headers[i].value);
    }
    qsort(h, rq->n_headers, sizeof *h, s3x_canon_cmp);

    s3x_buf_printf(canonical, "%s\n%s\n%s\n", rq->method, rq->canonical_uri,
                   rq->query ? rq->query : "");
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
            /* repeated header: joined onto the previous line */
            canonical->len--;
            s3x_buf_printf(canonical, ",%s\n", h[i].value.data);
            continue;
        }
        s3x_buf_printf(canonical, "%s:%s\n", h[i].name, h[i].value.data);
        if (signed_headers->len)
            s3x_buf_puts(signed_headers, ";");
        s3x_buf_puts(signed_headers, h[i].name);
    }
    s3x_buf_printf(canonical, "\n%s\n%s", signed_headers->data ? signed_headers->data : "",
                   rq->payload_hash);
    rc = canonical->oom || signed_headers->oom ? -1 : 0;
done:
    for (size_t i = 0; i < rq->n_headers; i++) {
        free(h[i].name);
        s3x_buf_wipe(&h[i].value);
    }
    free(h);
    return rc;
}

int s3x_sigv4_string_to_sign(const s3x_sigv4_request *rq, const char *canonical, s3x_buf *out)
{
    char hash[65];
    s3x_sha256_hex(canonical, strlen(canonical), hash);
    s3x_buf_printf(out, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", rq->amz_date,
                   rq->amz_date, rq->region, rq->service, hash);
    return out->oom ? -1 : 0;
}

static int s3x_hmac(const void *key, size_t klen, const void *msg, size_t mlen,
                    unsigned char out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) && n == 32 ? 0 : -1;
}

int s3x_sigv4_sign(const s3x_sigv4_request *rq, const char *access_key_id, const char *secret,
                   char sig_hex[65], s3x_buf *authorization)
{
    int rc = -1;
    s3x_buf canonical = {.secret = 1}, signed_headers = {.secret = 1}, sts = {.secret = 1},
            key = {.secret = 1};
    unsigned char k[32], sig[32];
    if (strlen(rq->amz_date) != 16)
        goto done;
    if (s3x_sigv4_canonical_request(rq, &canonical, &signed_headers) != 0 ||
        s3x_sigv4_string_to_sign(rq, canonical.data, &sts) != 0)
        goto done;
    s3x_buf_printf(&key, "AWS4%s", secret);
    if (key.oom || s3x_hmac(key.data, key.len, rq->amz_date, 8, k) != 0 ||
        s3x_hmac(k, 32, rq->region, strlen(rq->region), k) != 0 ||
        s3x_hmac(k, 32, rq->service, strlen(rq->service), k) != 0 ||
        s3x_hmac(k, 32, "aws4_request", 12, k) != 0 || s3x_hmac(k, 32, sts.data, sts.len, sig) != 0)
        goto done;
    s3x_hex(sig_hex, sig, 32);
    if (authorization) {
        s3x_buf_printf(authorization,
                       "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, "
                       "SignedHeaders=%s, Signature=%s",
                       access_key_id, rq->amz_date, rq->region, rq->service, signed_headers.data,
                       sig_hex);
        if (authorization->oom)
            goto done;
    }
    rc = 0;
done:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(sig, sizeof sig);
    s3x_buf_wipe(&key);
    s3x_buf_wipe(&canonical);
    s3x_buf_wipe(&signed_headers);
    s3x_buf_wipe(&sts);
    return rc;
}
