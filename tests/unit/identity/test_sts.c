/*
 * test_sts.c - presigned GetCallerIdentity tokens (filter/identity/sts.c).
 *
 * 1. Token table: one cmocka test per case (name "token: ..."), each a token, the rules it
 *    is checked under, and the expected outcome (0, or the error code and a phrase of the
 *    message). The clock is fixed at 2025-01-02T03:04:05Z, the tokens' X-Amz-Date.
 * 2. What an accepted token yields: the URL weir will GET, the headers, the expiry, the
 *    cache key (SHA-256 of the token).
 * 3. STS answers: XML and JSON success, error responses, garbage, oversize, bad ARNs.
 * 4. The cache: hit, expiry, negative entries, the bound (LRU), threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <pthread.h>

#include "identity/sts.h"

#define T0 ((time_t)1735787045) /* 2025-01-02T03:04:05Z */
#define SIG "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define AKID "AKIDEXAMPLEAPP000001"
#define CLUSTER "weir-test-cluster"

/* A presigned query with the given pieces (everything else as a real signer writes it). */
#define QRY(action, region, date, expires, sh)                                            \
    "Action=" action "&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"               \
    "&X-Amz-Credential=" AKID "%2F" "20250102" "%2F" region "%2Fsts%2Faws4_request"       \
    "&X-Amz-Date=" date "&X-Amz-Expires=" expires "&X-Amz-SignedHeaders=" sh              \
    "&X-Amz-Signature=" SIG
#define D0 "20250102T030405Z"
#define Q_OK(region) QRY("GetCallerIdentity", region, D0, "60", "host")
#define Q_K8S(region) QRY("GetCallerIdentity", region, D0, "60", "host%3Bx-k8s-aws-id")
#define US "https://sts.us-east-1.amazonaws.com/?"
#define GLOBAL "https://sts.amazonaws.com/?"

/* ---------------------------------------------------------------- helpers */

static char *b64url(const char *s)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    char *o = malloc(n * 4 / 3 + 16);
    assert_non_null(o);
    size_t j = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)u[i + 1] << 8;
        if (i + 2 < n)
            v |= u[i + 2];
        o[j++] = al[(v >> 18) & 63];
        o[j++] = al[(v >> 12) & 63];
        if (i + 1 < n)
            o[j++] = al[(v >> 6) & 63];
        if (i + 2 < n)
            o[j++] = al[v & 63];
    }
    o[j] = '\0';
    return o;
}

/* "k8s-aws-v1." + base64url(url) */
static char *k8s_token(const char *url)
{
    char *b = b64url(url);
    size_t n = strlen(b) + 16;
    char *t = malloc(n);
    assert_non_null(t);
    snprintf(t, n, "k8s-aws-v1.%s", b);
    free(b);
    return t;
}

typedef enum rules_kind {
    R_DEFAULT,  /* no cluster id */
    R_CLUSTER,  /* cluster id CLUSTER */
    R_LOCAL,    /* endpoint http://127.0.0.1:4566 (us-east-1), loopback http allowed */
    R_LOCAL_NOHTTP, /* the same endpoint without allow_loopback_http */
    R_REMOTE_HTTP,  /* endpoint http://10.0.0.5:4566 with allow_loopback_http */
    R_IGNORE_EXP,   /* ignore_expires */
    R_PIN_EU,       /* region eu-central-1 */
    R_BAD_CLUSTER   /* a cluster id with a newline */
} rules_kind;

static wr_sts_rules rules_for(rules_kind k)
{
    wr_sts_rules r;
    memset(&r, 0, sizeof r);
    r.now = T0;
    switch (k) {
    case R_DEFAULT: break;
    case R_CLUSTER: r.cluster_id = CLUSTER; break;
    case R_LOCAL:
        r.endpoint = "http://127.0.0.1:4566";
        r.endpoint_region = "us-east-1";
        r.allow_loopback_http = true;
        break;
    case R_LOCAL_NOHTTP:
        r.endpoint = "http://127.0.0.1:4566";
        break;
    case R_REMOTE_HTTP:
        r.endpoint = "http://10.0.0.5:4566";
        r.allow_loopback_http = true;
        break;
    case R_IGNORE_EXP: r.ignore_expires = true; break;
    case R_PIN_EU: r.region = "eu-central-1"; break;
    case R_BAD_CLUSTER: r.cluster_id = "a\r\nX-Evil: 1"; break;
    }
    return r;
}

/* ---------------------------------------------------------------- token table */

typedef struct tcase {
    const char *name;
    const char *url; /* the presigned URL */
    int k8s;         /* 1: send as a k8s-aws-v1. token, 0: raw */
    rules_kind rules;
    int rc;          /* expected return */
    const char *msg; /* a phrase of err.text when rc != 0 */
} tcase;

static const tcase CASES[] = {
    /* accepted */
    { "k8s token, regional, cluster-bound", US Q_K8S("us-east-1"), 1, R_CLUSTER, 0, NULL },
    { "raw URL, global endpoint", GLOBAL Q_OK("us-east-1"), 0, R_DEFAULT, 0, NULL },
    { "k8s token without cluster binding", US Q_OK("us-east-1"), 1, R_DEFAULT, 0, NULL },
    { "China partition", "https://sts.cn-north-1.amazonaws.com.cn/?" Q_OK("cn-north-1"), 0,
      R_DEFAULT, 0, NULL },
    { "GovCloud region", "https://sts.us-gov-west-1.amazonaws.com/?" Q_OK("us-gov-west-1"), 0,
      R_DEFAULT, 0, NULL },
    { "local endpoint over loopback http", "http://127.0.0.1:4566/?" Q_OK("us-east-1"), 0,
      R_LOCAL, 0, NULL },
    { "session token", US Q_OK("us-east-1") "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2Bab%2F%3D",
      0, R_DEFAULT, 0, NULL },
    { "lower-case parameter names", US "action=GetCallerIdentity&version=2011-06-15"
      "&x-amz-algorithm=AWS4-HMAC-SHA256&x-amz-credential=" AKID "%2F20250102%2Fus-east-1%2Fsts"
      "%2Faws4_request&x-amz-date=" D0 "&x-amz-expires=60&x-amz-signedheaders=host"
      "&x-amz-signature=" SIG, 0, R_DEFAULT, 0, NULL },
    { "30 s in the future (clock skew)",
      US QRY("GetCallerIdentity", "us-east-1", "20250102T030435Z", "60", "host"), 0, R_DEFAULT, 0,
      NULL },
    { "past X-Amz-Expires with ignore_expires",
      US QRY("GetCallerIdentity", "us-east-1", "20250102T025405Z", "60", "host"), 1, R_IGNORE_EXP,
      0, NULL },
    { "region pin satisfied",
      "https://sts.eu-central-1.amazonaws.com/?" Q_OK("eu-central-1"), 0, R_PIN_EU, 0, NULL },

    /* host / scheme / URL shape: nothing but STS may be called */
    { "wrong host", "https://evil.example/?" Q_OK("us-east-1"), 0, R_DEFAULT, WEIR_EINVAL,
      "not an AWS STS endpoint" },
    { "STS name as a subdomain of another host",
      "https://sts.amazonaws.com.evil.example/?" Q_OK("us-east-1"), 0, R_DEFAULT, WEIR_EINVAL,
      "not an AWS STS endpoint" },
    { "lookalike suffix", "https://sts.us-east-1.amazonaws.com.evil/?" Q_OK("us-east-1"), 1,
      R_DEFAULT, WEIR_EINVAL, "not an AWS STS endpoint" },
    { "other AWS service host", "https://s3.us-east-1.amazonaws.com/?" Q_OK("us-east-1"), 0,
      R_DEFAULT, WEIR_EINVAL, "not an AWS STS endpoint" },
    { "port on the STS host", "https://sts.us-east-1.amazonaws.com:8443/?" Q_OK("us-east-1"), 0,
      R_DEFAULT, WEIR_EINVAL, "not an AWS STS endpoint" },
    { "upper-case host", "https://STS.us-east-1.amazonaws.com/?" Q_OK("us-east-1"), 0, R_DEFAULT,
      WEIR_EINVAL, "not an AWS STS endpoint" },
    { "cn suffix with a non-cn region",
      "https://sts.us-east-1.amazonaws.com.cn/?" Q_OK("us-east-1"), 0, R_DEFAULT, WEIR_EINVAL,
      "not an AWS STS endpoint" },
    { "IP literal", "https://169.254.169.254/?" Q_OK("us-east-1"), 1, R_DEFAULT, WEIR_EINVAL,
      "not an AWS STS endpoint" },
    { "http to STS", "http://sts.us-east-1.amazonaws.com/?" Q_OK("us-east-1"), 0, R_DEFAULT,
      WEIR_EINVAL, "https" },
    { "http to STS inside a k8s token", "http://sts.amazonaws.com/?" Q_OK("us-east-1"), 1,
      R_CLUSTER, WEIR_EINVAL, "https" },
    { "loopback http without allow_loopback_http", "http://127.0.0.1:4566/?" Q_OK("us-east-1"),
      0, R_LOCAL_NOHTTP, WEIR_EINVAL, "loopback" },
    { "http endpoint that is not loopback", "http://10.0.0.5:4566/?" Q_OK("us-east-1"), 0,
      R_REMOTE_HTTP, WEIR_EINVAL, "loopback" },
    { "loopback not configured", "http://127.0.0.1:4566/?" Q_OK("us-east-1"), 0, R_DEFAULT,
      WEIR_EINVAL, "https" },
    { "endpoint on another port", "http://127.0.0.1:4567/?" Q_OK("us-east-1"), 0, R_LOCAL,
      WEIR_EINVAL, "https" },
    { "userinfo before the STS host", "https://sts.amazonaws.com@evil.example/?" Q_OK("us-east-1"),
      0, R_DEFAULT, WEIR_EINVAL, "user information" },
    { "userinfo in a k8s token", "https://u:p@sts.amazonaws.com/?" Q_OK("us-east-1"), 1,
      R_DEFAULT, WEIR_EINVAL, "user information" },
    { "path other than /", "https://sts.amazonaws.com/x?" Q_OK("us-east-1"), 0, R_DEFAULT,
      WEIR_EINVAL, "path" },
    { "no path", "https://sts.amazonaws.com?" Q_OK("us-east-1"), 0, R_DEFAULT, WEIR_EINVAL,
      "path" },
    { "fragment", GLOBAL Q_OK("us-east-1") "#x", 0, R_DEFAULT, WEIR_EINVAL, "fragment" },
    { "backslash", "https://sts.amazonaws.com\\@evil/?" Q_OK("us-east-1"), 0, R_DEFAULT,
      WEIR_EINVAL, "'\\'" },
    { "space in the URL", GLOBAL Q_OK("us-east-1") "&X-Amz-Security-Token=a b", 0, R_DEFAULT,
      WEIR_EINVAL, "space" },
    { "second '?'", GLOBAL Q_OK("us-east-1") "?x=1", 0, R_DEFAULT, WEIR_EINVAL, "second '?'" },
    { "query character outside the set", GLOBAL Q_OK("us-east-1") "&X-Amz-Security-Token=a;b", 0,
      R_DEFAULT, WEIR_EINVAL, "character outside" },

    /* parameters */
    { "other Action", US QRY("AssumeRole", "us-east-1", D0, "60", "host"), 0, R_DEFAULT,
      WEIR_EINVAL, "Action must be GetCallerIdentity" },
    { "duplicated Action", US Q_OK("us-east-1") "&Action=GetCallerIdentity", 0, R_DEFAULT,
      WEIR_EINVAL, "Action appears twice" },
    { "Action twice, different case", US Q_OK("us-east-1") "&action=AssumeRole", 1, R_DEFAULT,
      WEIR_EINVAL, "Action appears twice" },
    { "extra parameter", US Q_OK("us-east-1") "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx", 0,
      R_DEFAULT, WEIR_EINVAL, "unexpected query parameter \"RoleArn\"" },
    { "empty parameter", US Q_OK("us-east-1") "&", 0, R_DEFAULT, WEIR_EINVAL, "empty parameter" },
    { "parameter without '='", US Q_OK("us-east-1") "&X-Amz-Security-Token", 0, R_DEFAULT,
      WEIR_EINVAL, "no '='" },
    { "bad %-escape", US Q_OK("us-east-1") "&X-Amz-Security-Token=%zz", 0, R_DEFAULT,
      WEIR_EINVAL, "%-escape" },
    { "encoded control byte", US Q_OK("us-east-1") "&X-Amz-Security-Token=%0d%0a", 0, R_DEFAULT,
      WEIR_EINVAL, "control byte" },
    { "missing signature", US "Action=GetCallerIdentity&Version=2011-06-15"
      "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID "%2F20250102%2Fus-east-1%2Fsts"
      "%2Faws4_request&X-Amz-Date=" D0 "&X-Amz-Expires=60&X-Amz-SignedHeaders=host", 0, R_DEFAULT,
      WEIR_EINVAL, "no X-Amz-Signature" },
    { "short signature", US Q_OK("us-east-1") "0", 0, R_DEFAULT, WEIR_EINVAL, "64 lower-case hex" },
    { "wrong Version", US "Action=GetCallerIdentity&Version=2012-01-01"
      "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID "%2F20250102%2Fus-east-1%2Fsts"
      "%2Faws4_request&X-Amz-Date=" D0 "&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
      "&X-Amz-Signature=" SIG, 0, R_DEFAULT, WEIR_EINVAL, "Version" },
    { "credential for another service", US "Action=GetCallerIdentity&Version=2011-06-15"
      "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID "%2F20250102%2Fus-east-1%2Fs3"
      "%2Faws4_request&X-Amz-Date=" D0 "&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
      "&X-Amz-Signature=" SIG, 0, R_DEFAULT, WEIR_EINVAL, "service must be sts" },
    { "malformed credential", US "Action=GetCallerIdentity&Version=2011-06-15"
      "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID "%2F20250102%2Fus-east-1"
      "&X-Amz-Date=" D0 "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG, 0,
      R_DEFAULT, WEIR_EINVAL, "AKID/DATE/REGION" },
    { "bad date", US QRY("GetCallerIdentity", "us-east-1", "20250230T030405Z", "60", "host"), 0,
      R_DEFAULT, WEIR_EINVAL, "X-Amz-Date is not a valid" },
    { "date not in the scope's day",
      US QRY("GetCallerIdentity", "us-east-1", "20250101T235959Z", "60", "host"), 0,
      R_IGNORE_EXP, WEIR_EINVAL, "day is not the credential scope's" },
    { "expired", US QRY("GetCallerIdentity", "us-east-1", "20250102T030304Z", "60", "host"), 1,
      R_DEFAULT, WEIR_EINVAL, "expired" },
    { "older than max age", US QRY("GetCallerIdentity", "us-east-1", "20250102T024904Z", "900",
      "host"), 0, R_IGNORE_EXP, WEIR_EINVAL, "too old" },
    { "in the future", US QRY("GetCallerIdentity", "us-east-1", "20250102T030606Z", "60", "host"),
      0, R_DEFAULT, WEIR_EINVAL, "in the future" },
    { "X-Amz-Expires over 900", US QRY("GetCallerIdentity", "us-east-1", D0, "901", "host"), 0,
      R_DEFAULT, WEIR_EINVAL, "X-Amz-Expires" },
    { "X-Amz-Expires 0", US QRY("GetCallerIdentity", "us-east-1", D0, "0", "host"), 0, R_DEFAULT,
      WEIR_EINVAL, "X-Amz-Expires" },
    { "X-Amz-Expires not a number", US QRY("GetCallerIdentity", "us-east-1", D0, "6e1", "host"),
      0, R_DEFAULT, WEIR_EINVAL, "X-Amz-Expires" },
    { "region mismatch between host and scope",
      "https://sts.eu-west-1.amazonaws.com/?" Q_OK("us-east-1"), 1, R_DEFAULT, WEIR_EINVAL,
      "region (us-east-1) is not the host's (eu-west-1)" },
    { "region mismatch with the endpoint's", "http://127.0.0.1:4566/?" Q_OK("eu-west-1"), 0,
      R_LOCAL, WEIR_EINVAL, "is not the endpoint's" },
    { "region pin violated", GLOBAL Q_OK("us-east-1"), 0, R_PIN_EU, WEIR_EINVAL,
      "not the allowed eu-central-1" },
    { "signed headers without host",
      US QRY("GetCallerIdentity", "us-east-1", D0, "60", "x-k8s-aws-id"), 1, R_CLUSTER,
      WEIR_EINVAL, "does not include host" },
    { "x-k8s-aws-id missing with a cluster id", US Q_OK("us-east-1"), 1, R_CLUSTER, WEIR_EINVAL,
      "not bound to this cluster" },
    { "x-k8s-aws-id signed without a cluster id", US Q_K8S("us-east-1"), 1, R_DEFAULT,
      WEIR_EINVAL, "no cluster id is configured" },
    { "extra signed header",
      US QRY("GetCallerIdentity", "us-east-1", D0, "60", "host%3Bx-amz-foo"), 0, R_DEFAULT,
      WEIR_EINVAL, "only host and x-k8s-aws-id" },
    { "host signed twice", US QRY("GetCallerIdentity", "us-east-1", D0, "60", "host%3Bhost"), 0,
      R_DEFAULT, WEIR_EINVAL, "only host and x-k8s-aws-id" },
    { "invalid cluster id configured", US Q_K8S("us-east-1"), 1, R_BAD_CLUSTER, WEIR_EINVAL,
      "cluster id" },
};

/* What every accepted token must yield. */
static void check_accepted(const tcase *c, const char *token, const wr_sts_call *call)
{
    assert_non_null(call->url);
    assert_string_equal(call->url, c->url); /* rebuilt from its validated parts: the same */
    assert_string_equal(call->access_key_id, AKID);
    assert_true(call->n_headers >= 1);
    assert_string_equal(call->headers[0].name, "Accept");
    assert_string_equal(call->headers[0].value, "application/xml");
    if (c->rules == R_CLUSTER) {
        assert_int_equal(call->n_headers, 2);
        assert_string_equal(call->headers[1].name, "x-k8s-aws-id");
        assert_string_equal(call->headers[1].value, CLUSTER);
    } else {
        assert_int_equal(call->n_headers, 1);
    }
    unsigned char key[32];
    SHA256((const unsigned char *)token, strlen(token), key);
    assert_memory_equal(call->cache_key, key, 32);
    assert_true(call->expires_at > T0);
    assert_true(call->expires_at <= call->signed_at + 900);
}

static void run_token_case(void **state)
{
    const tcase *c = *state;
    char *token = c->k8s ? k8s_token(c->url) : strdup(c->url);
    assert_non_null(token);
    wr_sts_rules r = rules_for(c->rules);
    wr_sts_call call;
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = wr_sts_token_parse(token, strlen(token), &r, &call, &err);
    if (rc != c->rc || (c->msg && !strstr(err.text, c->msg)))
        fail_msg("%s: rc %d (want %d), error \"%s\" (want \"%s\")", c->name, rc, c->rc, err.text,
                 c->msg ? c->msg : "");
    if (rc == 0) {
        check_accepted(c, token, &call);
    } else {
        assert_null(call.url);
        assert_int_equal(call.n_headers, 0);
        assert_null(strstr(err.text, SIG)); /* the refusal never echoes the token */
    }
    wr_sts_call_free(&call);
    free(token);
}

/* ---------------------------------------------------------------- token details */

static void test_token_fields(void **state)
{
    (void)state;
    char *token = k8s_token(US Q_K8S("us-east-1"));
    wr_sts_rules r = rules_for(R_CLUSTER);
    wr_sts_call call;
    weir_error err;
    assert_int_equal(wr_sts_token_parse(token, strlen(token), &r, &call, &err), 0);
    assert_string_equal(call.region, "us-east-1");
    assert_int_equal(call.signed_at, T0);
    assert_int_equal(call.expires_at, T0 + 60); /* X-Amz-Expires=60 */
    wr_sts_call_free(&call);
    wr_sts_call_free(&call); /* zeroed: harmless */
    free(token);

    /* ignore_expires: valid for max_age after X-Amz-Date */
    const char *url = GLOBAL Q_OK("us-east-1");
    r = rules_for(R_IGNORE_EXP);
    assert_int_equal(wr_sts_token_parse(url, strlen(url), &r, &call, &err), 0);
    assert_int_equal(call.expires_at, T0 + 900);
    wr_sts_call_free(&call);
    r.max_age_seconds = 120;
    assert_int_equal(wr_sts_token_parse(url, strlen(url), &r, &call, &err), 0);
    assert_int_equal(call.expires_at, T0 + 120);
    wr_sts_call_free(&call);
    r.now = T0 + 120;
    assert_int_equal(wr_sts_token_parse(url, strlen(url), &r, &call, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "too old"));

    /* the last second of X-Amz-Expires is still good; the next one is not */
    r = rules_for(R_DEFAULT);
    r.now = T0 + 59;
    assert_int_equal(wr_sts_token_parse(url, strlen(url), &r, &call, &err), 0);
    assert_int_equal(call.expires_at, T0 + 60);
    wr_sts_call_free(&call);
    r.now = T0 + 60;
    assert_int_equal(wr_sts_token_parse(url, strlen(url), &r, &call, &err), WEIR_EINVAL);

    /* the same URL as raw and as a k8s token: two keys */
    unsigned char k1[32];
    r = rules_for(R_DEFAULT);
    assert_int_equal(wr_sts_token_parse(url, strlen(url), &r, &call, &err), 0);
    memcpy(k1, call.cache_key, 32);
    wr_sts_call_free(&call);
    token = k8s_token(url);
    assert_int_equal(wr_sts_token_parse(token, strlen(token), &r, &call, &err), 0);
    assert_memory_not_equal(k1, call.cache_key, 32);
    assert_string_equal(call.url, url);
    wr_sts_call_free(&call);
    free(token);

    /* NULL rules: defaults with the real clock, so this 2025 token is too old */
    assert_int_equal(wr_sts_token_parse(url, strlen(url), NULL, &call, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "too old"));
}

static void test_token_bad_encoding(void **state)
{
    (void)state;
    wr_sts_rules r = rules_for(R_DEFAULT);
    wr_sts_call call;
    weir_error err;
    static const char *const bad[] = {
        "k8s-aws-v1.",                      /* empty */
        "k8s-aws-v1.!!!!",                  /* not base64 */
        "k8s-aws-v1.aHR0cHM6Ly9zdHMu",      /* base64 fine, not a URL we take */
        "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QQ==", /* padding */
        "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QQ+/", /* standard alphabet */
        "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_Q",    /* length % 4 == 1 */
        "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QR",   /* non-zero trailing bits */
        "Bearer abc",
        "",
        "K8S-AWS-V1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QQ",
        "ftp://sts.amazonaws.com/?Action=GetCallerIdentity",
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(bad); i++) {
        memset(&err, 0, sizeof err);
        int rc = wr_sts_token_parse(bad[i], strlen(bad[i]), &r, &call, &err);
        if (rc != WEIR_EINVAL)
            fail_msg("\"%s\": rc %d, want WEIR_EINVAL", bad[i], rc);
        assert_null(call.url);
    }
    /* a NUL inside the URL */
    const char nul[] = "https://sts.amazonaws.com/?Action=Get\0CallerIdentity";
    assert_int_equal(wr_sts_token_parse(nul, sizeof nul - 1, &r, &call, &err), WEIR_EINVAL);

    assert_int_equal(wr_sts_token_parse(NULL, 0, &r, &call, &err), WEIR_EINVAL);
    assert_int_equal(wr_sts_token_parse("x", 1, &r, NULL, &err), WEIR_EINVAL);
}

static void test_token_too_long(void **state)
{
    (void)state;
    wr_sts_rules r = rules_for(R_DEFAULT);
    wr_sts_call call;
    weir_error err;
    /* a valid URL padded with a long session token up to exactly the limit is fine ... */
    const char *base = GLOBAL Q_OK("us-east-1") "&X-Amz-Security-Token=";
    size_t bl = strlen(base);
    char *u = malloc(WR_STS_MAX_TOKEN + 2);
    assert_non_null(u);
    memcpy(u, base, bl);
    memset(u + bl, 'A', WR_STS_MAX_TOKEN + 1 - bl);
    u[WR_STS_MAX_TOKEN + 1] = '\0';
    assert_int_equal(wr_sts_token_parse(u, WR_STS_MAX_TOKEN, &r, &call, &err), 0);
    wr_sts_call_free(&call);
    /* ... one byte more is not, in either format */
    assert_int_equal(wr_sts_token_parse(u, WR_STS_MAX_TOKEN + 1, &r, &call, &err), WEIR_ELIMIT);
    assert_non_null(strstr(err.text, "longer than 8192"));
    u[WR_STS_MAX_TOKEN - 100] = '\0';
    char *t = k8s_token(u); /* ~ 4/3 of 8 KiB */
    assert_true(strlen(t) > WR_STS_MAX_TOKEN);
    assert_int_equal(wr_sts_token_parse(t, strlen(t), &r, &call, &err), WEIR_ELIMIT);
    free(t);
    free(u);
}

/* ---------------------------------------------------------------- responses */

#define XML_OK                                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                         \
    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"    \
    "  <GetCallerIdentityResult>\n"                                                        \
    "    <Arn>arn:aws:sts::111122223333:assumed-role/llm-app/session-1</Arn>\n"            \
    "    <UserId>AROAEXAMPLEID:session-1</UserId>\n"                                       \
    "    <Account>111122223333</Account>\n"                                                \
    "  </GetCallerIdentityResult>\n"                                                       \
    "  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>"      \
    "</ResponseMetadata>\n"                                                                \
    "</GetCallerIdentityResponse>\n"

#define XML_ERR(code)                                                                       \
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"                \
    "  <Error>\n    <Type>Sender</Type>\n    <Code>" code "</Code>\n"                      \
    "    <Message>The request signature we calculated does not match &amp; so on</Message>\n" \
    "  </Error>\n  <RequestId>abc</RequestId>\n</ErrorResponse>\n"

typedef struct rcase {
    const char *name;
    int status;
    const char *body;
    int rc;
    const char *want; /* the ARN, or a phrase of the error */
} rcase;

static const rcase RESPONSES[] = {
    { "xml", 200, XML_OK, 0, "arn:aws:sts::111122223333:assumed-role/llm-app/session-1" },
    { "xml iam user, compact", 200,
      "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/"
      "dev/alice</Arn><Account>111122223333</Account></GetCallerIdentityResult>"
      "</GetCallerIdentityResponse>", 0, "arn:aws:iam::111122223333:user/dev/alice" },
    { "xml with a comment and a self-closing element", 200,
      "<!-- hi --><GetCallerIdentityResponse><Extra/><GetCallerIdentityResult>"
      "<UserId/><Arn> arn:aws-cn:sts::111122223333:assumed-role/r/s </Arn>"
      "</GetCallerIdentityResult></GetCallerIdentityResponse>", 0,
      "arn:aws-cn:sts::111122223333:assumed-role/r/s" },
    { "json", 200,
      "{\"GetCallerIdentityResponse\":{\"GetCallerIdentityResult\":{\"Account\":\"111122223333\","
      "\"Arn\":\"arn:aws:iam::111122223333:root\",\"UserId\":\"111122223333\"},"
      "\"ResponseMetadata\":{\"RequestId\":\"x\"}}}", 0, "arn:aws:iam::111122223333:root" },
    { "SignatureDoesNotMatch", 403, XML_ERR("SignatureDoesNotMatch"), WEIR_EINVAL,
      "refused (HTTP 403 SignatureDoesNotMatch)" },
    { "ExpiredToken", 403, XML_ERR("ExpiredToken"), WEIR_EINVAL, "HTTP 403 ExpiredToken" },
    { "json error", 403, "{\"Error\":{\"Code\":\"InvalidClientTokenId\",\"Message\":\"x\"}}",
      WEIR_EINVAL, "HTTP 403 InvalidClientTokenId" },
    { "error body with status 200", 200, XML_ERR("AccessDenied"), WEIR_EINVAL,
      "HTTP 200 AccessDenied" },
    { "success body with status 500", 500, XML_OK, WEIR_EINVAL, "HTTP 500 no code" },
    { "non-200 garbage", 502, "<html>bad gateway", WEIR_EINVAL, "HTTP 502 no code" },
    { "error code with odd characters", 400, XML_ERR("Bad Code<>"), WEIR_EINVAL, "no code" },
    { "empty 200", 200, "", WEIR_EINVAL, "malformed" },
    { "whitespace only", 200, " \n", WEIR_EINVAL, "malformed" },
    { "garbage 200", 200, "hello", WEIR_EINVAL, "malformed" },
    { "unclosed", 200, "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>x", WEIR_EINVAL,
      "malformed" },
    { "mismatched tags", 200, "<GetCallerIdentityResponse><a></b></GetCallerIdentityResponse>",
      WEIR_EINVAL, "malformed" },
    { "two roots", 200, XML_OK "<x/>", WEIR_EINVAL, "malformed" },
    { "DOCTYPE (no entity expansion)", 200,
      "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>" XML_OK, WEIR_EINVAL,
      "malformed" },
    { "CDATA", 200,
      "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn><![CDATA[arn:aws:iam::"
      "111122223333:root]]></Arn></GetCallerIdentityResult></GetCallerIdentityResponse>",
      WEIR_EINVAL, "malformed" },
    { "entity in the Arn", 200,
      "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:"
      "user/a&amp;b</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>",
      WEIR_EINVAL, "malformed" },
    { "Arn outside the result", 200,
      "<GetCallerIdentityResponse><Arn>arn:aws:iam::111122223333:root</Arn>"
      "</GetCallerIdentityResponse>", WEIR_EINVAL, "no Arn" },
    { "two Arns", 200,
      "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:root"
      "</Arn><Arn>arn:aws:iam::444455556666:root</Arn></GetCallerIdentityResult>"
      "</GetCallerIdentityResponse>", WEIR_EINVAL, "repeated" },
    { "not a principal ARN", 200,
      "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:s3:::my-bucket</Arn>"
      "</GetCallerIdentityResult></GetCallerIdentityResponse>", WEIR_EINVAL,
      "not an IAM or STS principal" },
    { "account differs from the Arn's", 200,
      "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:root"
      "</Arn><Account>444455556666</Account></GetCallerIdentityResult>"
      "</GetCallerIdentityResponse>", WEIR_EINVAL, "not the Arn's" },
    { "json without the result", 200, "{\"GetCallerIdentityResponse\":{}}", WEIR_EINVAL,
      "no Arn" },
    { "json, Arn not a string", 200,
      "{\"GetCallerIdentityResponse\":{\"GetCallerIdentityResult\":{\"Arn\":7}}}", WEIR_EINVAL,
      "no Arn" },
    { "json, invalid", 200, "{\"GetCallerIdentityResponse\":", WEIR_EINVAL, "malformed" },
    { "deep nesting", 200,
      "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a>"
      "</a></a></a></a></a></a></a></a></a></a>", WEIR_EINVAL, "malformed" },
};

static void run_response_case(void **state)
{
    const rcase *c = *state;
    char arn[WR_STS_MAX_ARN + 1], account[16];
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = wr_sts_parse_response(c->status, c->body, strlen(c->body), arn, sizeof arn, account,
                                   sizeof account, &err);
    if (rc != c->rc)
        fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, err.text);
    if (rc == 0) {
        assert_string_equal(arn, c->want);
        assert_string_equal(account, "111122223333");
    } else {
        if (!strstr(err.text, c->want))
            fail_msg("%s: error \"%s\", want \"%s\"", c->name, err.text, c->want);
        assert_string_equal(arn, "");
        assert_null(strstr(err.text, "does not match")); /* STS's Message is not echoed */
    }
}

static void test_response_limits(void **state)
{
    (void)state;
    char arn[WR_STS_MAX_ARN + 1], account[16];
    weir_error err;
    /* huge: refused by size before anything is read */
    size_t n = WR_STS_MAX_RESPONSE + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memcpy(big, XML_OK, strlen(XML_OK));
    memset(big + strlen(XML_OK), ' ', n - strlen(XML_OK));
    assert_int_equal(wr_sts_parse_response(200, big, n, arn, sizeof arn, account, sizeof account,
                                            &err),
                     WEIR_ELIMIT);
    /* exactly the cap: fine (trailing whitespace) */
    assert_int_equal(wr_sts_parse_response(200, big, n - 1, arn, sizeof arn, NULL, 0, &err), 0);
    free(big);
    /* arn buffer too small */
    char small[20];
    assert_int_equal(wr_sts_parse_response(200, XML_OK, strlen(XML_OK), small, sizeof small, NULL,
                                           0, &err),
                     WEIR_ELIMIT);
    /* account buffer too small */
    assert_int_equal(wr_sts_parse_response(200, XML_OK, strlen(XML_OK), arn, sizeof arn, account,
                                           12, &err),
                     WEIR_ELIMIT);
    /* a NUL inside the Arn */
    const char nul[] = "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::"
                       "111122223333:root\0x</Arn></GetCallerIdentityResult>"
                       "</GetCallerIdentityResponse>";
    assert_int_equal(wr_sts_parse_response(200, nul, sizeof nul - 1, arn, sizeof arn, NULL, 0,
                                           &err),
                     WEIR_EINVAL);
    assert_int_equal(wr_sts_parse_response(200, NULL, 0, arn, sizeof arn, NULL, 0, &err),
                     WEIR_EINVAL);
    assert_int_equal(wr_sts_parse_response(200, XML_OK, 5, NULL, 0, NULL, 0, &err), WEIR_EINVAL);
}

static void test_arn_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "arn:aws:iam::111122223333:role/llm-app",
        "arn:aws:iam::111122223333:role/team/ml/llm-app",
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:root",
        "arn:aws:sts::111122223333:assumed-role/llm-app/session-1",
        "arn:aws:sts::111122223333:assumed-role/llm-app/bob@example.com",
        "arn:aws:sts::111122223333:federated-user/bob",
        "arn:aws-us-gov:iam::111122223333:role/x",
        "arn:aws-iso-b:sts::111122223333:assumed-role/r/s",
    };
    static const char *const bad[] = {
        "",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::11112222333:role/x",         /* 11 digits */
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role//x",
        "arn:aws:iam::111122223333:group/x",
        "arn:aws:iam:us-east-1:111122223333:role/x",
        "arn:aws:sts::111122223333:assumed-role/r",
        "arn:aws:sts::111122223333:assumed-role/r/s/t",
        "arn:aws:sts::111122223333:assumed-role//s",
        "arn:aws:sts::111122223333:role/x",
        "arn:aws-:iam::111122223333:root",
        "arn:aws--cn:iam::111122223333:root",
        "arn:awscn:iam::111122223333:root",
        "arn:aws:iam::111122223333:user/a b",
        "arn:aws:iam::111122223333:user/a<b>",
        "xarn:aws:iam::111122223333:root",
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(good); i++)
        if (!wr_sts_arn_valid(good[i]))
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < WR_ARRAY_LEN(bad); i++)
        if (wr_sts_arn_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_false(wr_sts_arn_valid(NULL));
    char *longarn = malloc(WR_STS_MAX_ARN + 2);
    assert_non_null(longarn);
    strcpy(longarn, "arn:aws:iam::111122223333:user/");
    size_t l = strlen(longarn);
    memset(longarn + l, 'a', WR_STS_MAX_ARN + 1 - l);
    longarn[WR_STS_MAX_ARN + 1] = '\0';
    assert_false(wr_sts_arn_valid(longarn));
    longarn[WR_STS_MAX_ARN] = '\0';
    assert_true(wr_sts_arn_valid(longarn));
    free(longarn);
}

/* ---------------------------------------------------------------- cache */

static void key_of(unsigned char key[32], int i)
{
    char s[32];
    snprintf(s, sizeof s, "token-%d", i);
    SHA256((const unsigned char *)s, strlen(s), key);
}

static void test_cache_hit_and_expiry(void **state)
{
    (void)state;
    wr_sts_cache *c;
    assert_int_equal(wr_sts_cache_new(&c, 0, NULL), 0);
    unsigned char k[32], k2[32];
    key_of(k, 1);
    key_of(k2, 2);
    char arn[256], msg[256];
    assert_int_equal(wr_sts_cache_get(c, k, T0, arn, sizeof arn, msg, sizeof msg), WR_STS_MISS);
    assert_int_equal(wr_sts_cache_put(c, k, "arn:aws:iam::111122223333:role/a", T0 + 60, T0), 0);
    assert_int_equal(wr_sts_cache_get(c, k, T0 + 59, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    assert_string_equal(arn, "arn:aws:iam::111122223333:role/a");
    assert_int_equal(wr_sts_cache_get(c, k2, T0, arn, sizeof arn, NULL, 0), WR_STS_MISS);
    /* too small a buffer: a miss, not a truncated ARN */
    char tiny[8];
    assert_int_equal(wr_sts_cache_get(c, k, T0, tiny, sizeof tiny, NULL, 0), WR_STS_MISS);
    /* at the token's expiry the entry is gone (and dropped) */
    assert_int_equal(wr_sts_cache_size(c), 1);
    assert_int_equal(wr_sts_cache_get(c, k, T0 + 60, arn, sizeof arn, NULL, 0), WR_STS_MISS);
    assert_int_equal(wr_sts_cache_size(c), 0);
    /* already expired: not stored */
    assert_int_equal(wr_sts_cache_put(c, k, "arn:aws:iam::111122223333:role/a", T0, T0), 0);
    assert_int_equal(wr_sts_cache_size(c), 0);
    /* replaced in place */
    assert_int_equal(wr_sts_cache_put(c, k, "arn:aws:iam::111122223333:role/a", T0 + 60, T0), 0);
    assert_int_equal(wr_sts_cache_put(c, k, "arn:aws:iam::111122223333:role/b", T0 + 90, T0), 0);
    assert_int_equal(wr_sts_cache_size(c), 1);
    assert_int_equal(wr_sts_cache_get(c, k, T0 + 80, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    assert_string_equal(arn, "arn:aws:iam::111122223333:role/b");
    wr_sts_cache_free(c);
    wr_sts_cache_free(NULL);
}

static void test_cache_negative(void **state)
{
    (void)state;
    wr_sts_cache *c;
    assert_int_equal(wr_sts_cache_new(&c, 10, NULL), 0);
    unsigned char k[32];
    key_of(k, 7);
    char arn[256], msg[256];
    assert_int_equal(wr_sts_cache_put_refusal(c, k, "sts: refused (HTTP 403 ExpiredToken)", T0),
                     0);
    arn[0] = '\0';
    assert_int_equal(wr_sts_cache_get(c, k, T0 + 1, arn, sizeof arn, msg, sizeof msg),
                     WR_STS_REFUSED);
    assert_string_equal(msg, "sts: refused (HTTP 403 ExpiredToken)");
    assert_string_equal(arn, ""); /* a refusal never fills the ARN */
    assert_int_equal(wr_sts_cache_get(c, k, T0 + WR_STS_NEGATIVE_TTL - 1, arn, sizeof arn, NULL,
                                      0),
                     WR_STS_REFUSED);
    /* only a few seconds */
    assert_int_equal(wr_sts_cache_get(c, k, T0 + WR_STS_NEGATIVE_TTL, arn, sizeof arn, msg,
                                      sizeof msg),
                     WR_STS_MISS);
    /* a later success replaces a refusal */
    assert_int_equal(wr_sts_cache_put_refusal(c, k, NULL, T0), 0);
    assert_int_equal(wr_sts_cache_put(c, k, "arn:aws:iam::111122223333:root", T0 + 60, T0), 0);
    assert_int_equal(wr_sts_cache_get(c, k, T0 + 1, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    wr_sts_cache_free(c);
}

static void test_cache_bound(void **state)
{
    (void)state;
    wr_sts_cache *c;
    assert_int_equal(wr_sts_cache_new(&c, 3, NULL), 0);
    unsigned char k[5][32];
    char arn[256];
    for (int i = 0; i < 5; i++)
        key_of(k[i], i);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wr_sts_cache_put(c, k[i], "arn:aws:iam::111122223333:root", T0 + 60, T0),
                         0);
    assert_int_equal(wr_sts_cache_get(c, k[0], T0, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    /* full: the least recently used (k[1]; k[0] was just used) goes */
    assert_int_equal(wr_sts_cache_put(c, k[3], "arn:aws:iam::111122223333:root", T0 + 60, T0), 0);
    assert_int_equal(wr_sts_cache_size(c), 3);
    assert_int_equal(wr_sts_cache_get(c, k[1], T0, arn, sizeof arn, NULL, 0), WR_STS_MISS);
    assert_int_equal(wr_sts_cache_get(c, k[0], T0, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    assert_int_equal(wr_sts_cache_get(c, k[2], T0, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    assert_int_equal(wr_sts_cache_get(c, k[3], T0, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    /* a flood of refusals keeps the bound too */
    for (int i = 0; i < 1000; i++) {
        unsigned char kk[32];
        key_of(kk, 100 + i);
        assert_int_equal(wr_sts_cache_put_refusal(c, kk, "x", T0), 0);
    }
    assert_int_equal(wr_sts_cache_size(c), 3);

    wr_sts_cache *big;
    assert_int_equal(wr_sts_cache_new(&big, 0, NULL), 0);
    for (int i = 0; i < 10050; i++) {
        unsigned char kk[32];
        key_of(kk, i);
        assert_int_equal(wr_sts_cache_put(big, kk, "arn:aws:iam::111122223333:root", T0 + 60, T0),
                         0);
    }
    assert_int_equal(wr_sts_cache_size(big), 10000); /* the default bound */
    unsigned char first[32], last[32];
    key_of(first, 0);
    key_of(last, 10049);
    assert_int_equal(wr_sts_cache_get(big, first, T0, arn, sizeof arn, NULL, 0), WR_STS_MISS);
    assert_int_equal(wr_sts_cache_get(big, last, T0, arn, sizeof arn, NULL, 0), WR_STS_HIT);
    wr_sts_cache_free(big);
    wr_sts_cache_free(c);
    weir_error err;
    assert_int_equal(wr_sts_cache_new(&c, (size_t)1 << 30, &err), WEIR_ELIMIT);
    assert_null(c);
}

typedef struct thr_arg {
    wr_sts_cache *c;
    int id;
    int bad;
} thr_arg;

static void *cache_thread(void *p)
{
    thr_arg *a = p;
    char want[64], arn[64];
    for (int i = 0; i < 5000; i++) {
        unsigned char k[32];
        int n = (i * 7 + a->id) % 300;
        key_of(k, n);
        snprintf(want, sizeof want, "arn:aws:iam::111122223333:user/u%d", n);
        if (i % 3 == 0)
            wr_sts_cache_put(a->c, k, want, T0 + 60, T0);
        else if (i % 17 == 0)
            wr_sts_cache_put_refusal(a->c, k, "no", T0);
        else if (wr_sts_cache_get(a->c, k, T0, arn, sizeof arn, NULL, 0) == WR_STS_HIT &&
                 strcmp(arn, want) != 0)
            a->bad++; /* an entry under another token's key */
    }
    return NULL;
}

static void test_cache_threads(void **state)
{
    (void)state;
    wr_sts_cache *c;
    assert_int_equal(wr_sts_cache_new(&c, 100, NULL), 0);
    pthread_t th[4];
    thr_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr_arg){ c, i, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, cache_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    assert_true(wr_sts_cache_size(c) <= 100);
    wr_sts_cache_free(c);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_token_fields),
        cmocka_unit_test(test_token_bad_encoding),
        cmocka_unit_test(test_token_too_long),
        cmocka_unit_test(test_response_limits),
        cmocka_unit_test(test_arn_valid),
        cmocka_unit_test(test_cache_hit_and_expiry),
        cmocka_unit_test(test_cache_negative),
        cmocka_unit_test(test_cache_bound),
        cmocka_unit_test(test_cache_threads),
    };
    size_t nt = WR_ARRAY_LEN(CASES), nr = WR_ARRAY_LEN(RESPONSES);
    size_t n = nt + nr + WR_ARRAY_LEN(fixed);
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char (*names)[160] = calloc(nt + nr, sizeof *names);
    if (!tests || !names)
        return 1;
    for (size_t i = 0; i < nt; i++) {
        snprintf(names[i], sizeof names[i], "token: %s", CASES[i].name);
        tests[i] = (struct CMUnitTest){ names[i], run_token_case, NULL, NULL,
                                        (void *)&CASES[i] };
    }
    for (size_t i = 0; i < nr; i++) {
        snprintf(names[nt + i], sizeof names[nt + i], "response: %s", RESPONSES[i].name);
        tests[nt + i] = (struct CMUnitTest){ names[nt + i], run_response_case, NULL, NULL,
                                             (void *)&RESPONSES[i] };
    }
    memcpy(tests + nt + nr, fixed, sizeof fixed);
    int failed = _cmocka_run_group_tests("sts", tests, n, NULL, NULL);
    free(tests);
    free(names);
    return failed ? 1 : 0;
}
