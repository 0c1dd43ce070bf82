/*
 * fuzz_sts.c - bytes -> presigned GetCallerIdentity tokens and STS answers
 * (filter/identity/sts.h).
 *
 * First byte: bit 0 picks the target (0: token, 1: STS response), bit 1 a configured cluster
 * id, bit 2 the HTTP status for a response (200 or 403). The rest is the input.
 * Invariants for an accepted token: the URL weir would GET is an AWS STS host or the one
 * configured endpoint, has no userinfo or fragment, and parses again (as a raw URL) to the
 * same call. For an accepted response: the ARN is a valid principal ARN and the account is its.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "identity/sts.h"

#define NOW ((time_t)1735787045) /* 2025-01-02T03:04:05Z: the seeds' X-Amz-Date */

static int host_ok(const char *url)
{
    static const char *const ok[] = { "https://sts.amazonaws.com/?", "https://sts.",
                                      "http://127.0.0.1:4566/?" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(url, ok[i], strlen(ok[i])) == 0)
            break;
        else if (i + 1 == sizeof ok / sizeof ok[0])
            return 0;
    if (strncmp(url, "https://sts.", 12) == 0) {
        const char *slash = strchr(url + 8, '/');
        size_t hl = slash ? (size_t)(slash - url - 8) : 0;
        if (!slash || slash[1] != '?')
            return 0;
        int com = hl > 14 && memcmp(url + 8 + hl - 14, ".amazonaws.com", 14) == 0;
        int cn = hl > 17 && memcmp(url + 8 + hl - 17, ".amazonaws.com.cn", 17) == 0;
        if (!com && !cn)
            return 0;
        if (memchr(url + 8, ':', hl))
            return 0;
    }
    return !strchr(url, '@') && !strchr(url, '#') && !strchr(url, '\\') && !strchr(url, ' ');
}

static void fuzz_token(const char *s, size_t n, int cluster)
{
    wr_sts_rules r;
    memset(&r, 0, sizeof r);
    r.now = NOW;
    r.cluster_id = cluster ? "weir-fuzz" : NULL;
    r.endpoint = "http://127.0.0.1:4566";
    r.allow_loopback_http = true;
    wr_sts_call call;
    weir_error err;
    int rc = wr_sts_token_parse(s, n, &r, &call, &err);
    if (rc != 0) {
        if (call.url || call.n_headers || err.text[0] == '\0')
            abort();
        return;
    }
    if (!host_ok(call.url) || call.n_headers != (size_t)(cluster ? 2 : 1) ||
        call.expires_at <= NOW || call.expires_at > call.signed_at + 900)
        abort();
    wr_sts_call again;
    if (wr_sts_token_parse(call.url, strlen(call.url), &r, &again, &err) != 0 ||
        strcmp(again.url, call.url) != 0 || again.expires_at != call.expires_at ||
        strcmp(again.access_key_id, call.access_key_id) != 0)
        abort();
    wr_sts_call_free(&again);
    wr_sts_call_free(&call);
}

static void fuzz_response(const char *s, size_t n, int status)
{
    char arn[WR_STS_MAX_ARN + 1], account[16];
    weir_error err;
    int rc = wr_sts_parse_response(status, s, n, arn, sizeof arn, account, sizeof account, &err);
    if (rc != 0) {
        if (arn[0] != '\0' || err.text[0] == '\0')
            abort();
        return;
    }
    if (status != 200 || !wr_sts_arn_valid(arn) || strlen(account) != 12 ||
        !strstr(arn, account))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (sel & 1)
        fuzz_response(s, n, (sel & 4) ? 403 : 200);
    else
        fuzz_token(s, n, (sel & 2) != 0);
    return 0;
}
