/*
 * put.c - one signed S3 PUT Object over libcurl (TLS verification always on).
 */
#include "s3x.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define S3X_BODY_MAX (64u * 1024)

struct s3x_http {
    const s3x_config *cfg;
    atomic_int *stop;
    CURL *curl;
};

typedef struct s3x_xfer {
    const unsigned char *body;
    size_t len, off;
    s3x_buf response;
    char etag[128];
} s3x_xfer;

s3x_http *s3x_http_new(const s3x_config *cfg, atomic_int *stop)
{
    s3x_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->cfg = cfg;
    h->stop = stop;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    return h;
}

void s3x_http_free(s3x_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

static size_t s3x_read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
    s3x_xfer *x = ud;
    size_t n = size * nmemb, left = x->len - x->off;
    if (n > left)
        n = left;
    memcpy(dst, x->body + x->off, n);
    x->off += n;
    return n;
}

static size_t s3x_write_cb(char *src, size_t size, size_t nmemb, void *ud)
{
    s3x_xfer *x = ud;
    size_t n = size * nmemb;
    if (x->response.len < S3X_BODY_MAX) {
        size_t take = n < S3X_BODY_MAX - x->response.len ? n : S3X_BODY_MAX - x->response.len;
        s3x_buf_append(&x->response, src, take);
    }
    return n;
}

static size_t s3x_header_cb(char *src, size_t size, size_t nmemb, void *ud)
{
    s3x_xfer *x = ud;
    size_t n = size * nmemb;
    if (n > 5 && strncasecmp(src, "etag:", 5) == 0) {
        size_t i = 5, j = n;
        while (i < j && (src[i] == ' ' || src[i] == '\t' || src[i] == '"'))
            i++;
        while (j > i && (src[j - 1] == '\r' || src[j - 1] == '\n' || src[j - 1] == ' ' ||
                         src[j - 1] == '"'))
            j--;
        size_t m = j - i < sizeof x->etag - 1 ? j - i : sizeof x->etag - 1;
        memcpy(x->etag, src + i, m);
        x->etag[m] = '\0';
    }
    return n;
}

static int s3x_progress_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    s3x_http *h = ud;
    return atomic_load(h->stop) ? 1 : 0;
}

/* Copies the text of <tag>...</tag> from an S3 error body, printable ASCII only. */
static void s3x_xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
    char open[40], close[40];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    out[0] = '\0';
    const char *s = xml ? strstr(xml, open) : NULL;
    const char *e = s ? strstr(s, close) : NULL;
    if (!s || !e)
        return;
    s += strlen(open);
    size_t n = 0;
    for (; s < e && n + 1 < outlen; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[n] = '\0';
}

static void s3x_amz_date(char out[17])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Headers to send and sign, in a fixed array; returns the count. */
static size_t s3x_put_headers(const s3x_http *h, const s3x_put_object *obj,
                              const s3x_creds *creds, const char *sha, const char *md5b64,
                              const char *date, s3x_header *hd)
{
    const s3x_config *cfg = h->cfg;
    size_t n = 0;
    hd[n++] = (s3x_header){"Host", cfg->host_header};
    hd[n++] = (s3x_header){"Content-MD5", md5b64};
    hd[n++] = (s3x_header){"Content-Type", obj->content_type};
    hd[n++] = (s3x_header){"x-amz-content-sha256", sha};
    hd[n++] = (s3x_header){"x-amz-date", date};
    if (creds->session_token[0])
        hd[n++] = (s3x_header){"x-amz-security-token", creds->session_token};
    if (obj->signature)
        hd[n++] = (s3x_header){"x-amz-meta-signature", obj->signature};
    if (obj->signature_algorithm)
        hd[n++] = (s3x_header){"x-amz-meta-signature-algorithm", obj->signature_algorithm};
    if (cfg->storage_class)
        hd[n++] = (s3x_header){"x-amz-storage-class", cfg->storage_class};
    if (cfg->sse)
        hd[n++] = (s3x_header){"x-amz-server-side-encryption", cfg->sse};
    if (cfg->kms_key_id)
        hd[n++] = (s3x_header){"x-amz-server-side-encryption-aws-kms-key-id", cfg->kms_key_id};
    return n;
}

static void s3x_result(s3x_put_result *res, long status, const char *code, const char *msg)
{
    res->status = status;
    snprintf(res->code, sizeof res->code, "%s", code);
    snprintf(res->message, sizeof res->message, "%s", msg);
}

/* Sets the curl options and header list; returns the list (NULL on failure). */
static struct curl_slist *s3x_put_setup(s3x_http *h, s3x_xfer *x, const s3x_header *hd, size_t n,
                                        const char *auth, const char *url)
{
    struct curl_slist *list = NULL, *tmp;
    s3x_buf line = {.secret = 1}; /* header lines: the session token */
    for (size_t i = 0; i <= n; i++) {
        line.len = 0;
        if (i < n)
            s3x_buf_printf(&line, "%s: %s", hd[i].name, hd[i].value);
        else
            s3x_buf_printf(&line, "Authorization: %s", auth);
        if (line.oom || !(tmp = curl_slist_append(list, line.data)))
            goto fail;
        list = tmp;
    }
    s3x_buf_wipe(&line);
    if (!(tmp = curl_slist_append(list, "Expect:")))
        goto fail;
    list = tmp;

    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, s3x_read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3x_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s3x_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s3x_progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->cfg->allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* the path sent is the path signed */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "weir-s3-export/0.1");
    if (h->cfg->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->cfg->ca_file);
    return list;
fail:
    s3x_buf_wipe(&line);
    curl_slist_free_all(list);
    return NULL;
}

static void s3x_put_check(s3x_http *h, s3x_xfer *x, CURLcode cc, const char *curl_err,
                          const char *md5hex, s3x_put_result *res)
{
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        s3x_result(res, status, cc == CURLE_ABORTED_BY_CALLBACK ? "Stopped" : "NetworkError",
                   curl_err[0] ? curl_err : curl_easy_strerror(cc));
        return;
    }
    if (status != 200) {
        char code[64], msg[256];
        s3x_xml_text(x->response.data, "Code", code, sizeof code);
        s3x_xml_text(x->response.data, "Message", msg, sizeof msg);
        s3x_result(res, status, code[0] ? code : "HttpError",
                   msg[0] ? msg : "the server gave no error message");
        return;
    }
    /* S3 checked Content-MD5 itself; an ETag is the MD5 except with SSE-KMS. */
    int kms = h->cfg->sse && strcmp(h->cfg->sse, "aws:kms") == 0;
    if (!kms && strcasecmp(x->etag, md5hex) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "ETag '%.64s' does not match the MD5 of the file %s", x->etag,
                 md5hex);
        s3x_result(res, status, "ETagMismatch", msg);
        return;
    }
    s3x_result(res, status, "", "");
    res->ok = 1;
}

void s3x_http_put(s3x_http *h, const s3x_put_object *obj, const s3x_creds *creds,
                  s3x_put_result *res)
{
    memset(res, 0, sizeof *res);
    s3x_xfer x = {obj->body, obj->len, 0, {0}, {0}};
    s3x_buf path = {0}, url = {0}, auth = {.secret = 1};
    struct curl_slist *list = NULL;
    unsigned char md5[16];
    unsigned int md5len = 0;
    char sha[65], md5hex[33], md5b64[32], date[17], sig[65];

    s3x_sha256_hex(obj->body, obj->len, sha);
    EVP_Digest(obj->body, obj->len, md5, &md5len, EVP_md5(), NULL);
    s3x_hex(md5hex, md5, 16);
    EVP_EncodeBlock((unsigned char *)md5b64, md5, 16);
    s3x_amz_date(date);

    s3x_buf_puts(&path, h->cfg->path_base);
    s3x_buf_puts(&path, "/");
    s3x_sigv4_encode_path(&path, obj->key);
    s3x_buf_printf(&url, "%s%s", h->cfg->base_url, path.data ? path.data : "");

    s3x_header hd[12];
    size_t n = s3x_put_headers(h, obj, creds, sha, md5b64, date, hd);
    s3x_sigv4_request rq = {"PUT", path.data, "", hd, n, sha, date, h->cfg->region, "s3"};
    if (path.oom || url.oom ||
        s3x_sigv4_sign(&rq, creds->access_key_id, creds->secret_access_key, sig, &auth) != 0) {
        s3x_result(res, 0, "LocalError", "out of memory while signing the request");
        goto done;
    }
    list = s3x_put_setup(h, &x, hd, n, auth.data, url.data);
    if (!list) {
        s3x_result(res, 0, "LocalError", "out of memory while building the request");
        goto done;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode cc = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    s3x_put_check(h, &x, cc, curl_err, md5hex, res);
done:
    OPENSSL_cleanse(sig, sizeof sig);
    s3x_buf_wipe(&auth);
    if (list) {
        for (struct curl_slist *l = list; l; l = l->next)
            OPENSSL_cleanse(l->data, strlen(l->data));
        curl_slist_free_all(list);
    }
    s3x_buf_free(&path);
    s3x_buf_free(&url);
    s3x_buf_free(&x.response);
}
