/*
 * sts_verify.c - GetCallerIdentity through the upstream client (see sts_verify.h).
 */
#include "sidecar/sts_verify.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STS_VERIFY_DEFAULT_TIMEOUT_MS 5000u

struct wr_sts_verify {
    wr_up_req *req;
    wr_sts_done_fn done;
    void *user;
    wr_sts_cache *cache;
    unsigned char key[32];
    time_t expires_at;
    unsigned timeout_ms;
    int status;
    int too_large;
    wr_buf body;
};

static void sts_verify_free(wr_sts_verify *v)
{
    wr_buf_free(&v->body);
    free(v);
}

static void sts_verify_on_headers(void *user, int status, const wr_http_header *h, size_t n)
{
    (void)h;
    (void)n;
    wr_sts_verify *v = user;
    v->status = status;
}

static int sts_verify_on_data(void *user, const char *data, size_t len)
{
    wr_sts_verify *v = user;
    if (v->body.len + len > WR_STS_MAX_RESPONSE) {
        v->too_large = 1;
        return -1;
    }
    return wr_buf_append(&v->body, data, len) == 0 ? 0 : -1;
}

static void sts_verify_finish(wr_sts_verify *v, int ok, const char *arn, const char *message)
{
    wr_sts_done_fn done = v->done;
    void *user = v->user;
    v->req = NULL; /* recycled by the upstream client once on_done returns */
    sts_verify_free(v);
    done(user, ok, arn, message);
}

static void sts_verify_on_done(void *user, wr_up_result result, const char *message)
{
    wr_sts_verify *v = user;
    char text[300];
    if (v->too_large) {
        sts_verify_finish(v, 0, NULL, "sts: response too large");
        return;
    }
    if (result != WR_UP_OK) {
        (void)message; /* curl's text may name the URL, which carries the token: not echoed */
        if (result == WR_UP_TIMEOUT || result == WR_UP_CONNECT_TIMEOUT)
            snprintf(text, sizeof text, "sts: no answer within %u ms (%s)", v->timeout_ms,
                     wr_up_result_name(result));
        else
            snprintf(text, sizeof text, "sts: call failed (%s)", wr_up_result_name(result));
        sts_verify_finish(v, 0, NULL, text);
        return;
    }
    char arn[WR_STS_MAX_ARN + 1];
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = wr_sts_parse_response(v->status, v->body.data ? v->body.data : "", v->body.len, arn,
                                   sizeof arn, NULL, 0, &err);
    time_t now = time(NULL);
    if (rc == 0) {
        if (v->cache)
            wr_sts_cache_put(v->cache, v->key, arn, v->expires_at, now);
        sts_verify_finish(v, 1, arn, "ok");
        return;
    }
    snprintf(text, sizeof text, "%s", err.text);
    if (v->cache && v->status >= 400 && v->status < 500)
        wr_sts_cache_put_refusal(v->cache, v->key, text, now);
    sts_verify_finish(v, 0, NULL, text);
}

int wr_sts_verify_start(wr_upstream *up, const wr_sts_call *call,
                        const wr_sts_verify_options *opt, wr_sts_done_fn done, void *user,
                        wr_sts_verify **out, weir_error *err)
{
    if (out)
        *out = NULL;
    if (!up || !call || !call->url || !done || !out || call->n_headers > WR_STS_MAX_HEADERS)
        return wr_error_set(err, WEIR_EINVAL, "sts", 0, 0, "sts: NULL argument");
    wr_sts_verify *v = wr_calloc(1, sizeof *v);
    if (!v)
        return wr_error_set(err, WEIR_ENOMEM, "sts", 0, 0, "sts: out of memory");
    wr_buf_init(&v->body);
    v->done = done;
    v->user = user;
    v->cache = opt ? opt->cache : NULL;
    v->timeout_ms = opt && opt->timeout_ms ? opt->timeout_ms : STS_VERIFY_DEFAULT_TIMEOUT_MS;
    memcpy(v->key, call->cache_key, sizeof v->key);
    v->expires_at = call->expires_at;

    wr_http_header h[WR_STS_MAX_HEADERS];
    for (size_t i = 0; i < call->n_headers; i++) {
        h[i].name = call->headers[i].name;
        h[i].name_len = strlen(call->headers[i].name);
        h[i].value = call->headers[i].value;
        h[i].value_len = strlen(call->headers[i].value);
    }
    wr_up_request req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = call->url;
    req.headers = h;
    req.nheaders = call->n_headers;
    req.first_byte_timeout_ms = v->timeout_ms;
    req.idle_timeout_ms = v->timeout_ms;
    static const wr_up_callbacks cb = { sts_verify_on_headers, sts_verify_on_data,
                                        sts_verify_on_done };
    int rc = wr_up_start(up, &req, &cb, v, &v->req, err);
    if (rc) {
        sts_verify_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void wr_sts_verify_cancel(wr_sts_verify *v)
{
    if (!v)
        return;
    if (v->req)
        wr_up_cancel(v->req);
    sts_verify_free(v);
}
