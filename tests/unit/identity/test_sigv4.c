/*
 * test_sigv4.c - the SigV4 signer (filter/identity/sigv4.c).
 *
 * 1. Every case of the AWS signing test suite in $WEIR_SOURCE_DIR/tests/data/vectors/sigv4
 *    (awslabs/aws-c-auth, v4) that has header-*.txt files: canonical request, string to
 *    sign and signature byte for byte, and the Authorization / X-Amz-* headers of
 *    header-signed-request.txt. The query-*.txt (presigned URL) files are not used: the
 *    signer implements the header form only.
 * 2. Bedrock: the reference's vectors (shared/reference/sigv4.md §1.6 A and B) and
 *    InvokeModel in eu-central-1 with a ':' model id, raw and percent-encoded on the wire;
 *    the signatures were computed with botocore 1.43.11 SigV4Auth (same inputs).
 * 3. Rules in isolation, invalid and odd input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <sys/stat.h>

#include "identity/sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T20250102 ((time_t)1735787045) /* 2025-01-02T03:04:05Z */

/* ---------------------------------------------------------------- helpers */

static char *vectors_dir(void)
{
    const char *src = getenv("WEIR_SOURCE_DIR");
    if (!src || !*src)
        src = ".";
    size_t n = strlen(src) + 64;
    char *d = malloc(n);
    assert_non_null(d);
    snprintf(d, n, "%s/tests/data/vectors/sigv4", src);
    return d;
}

/* Reads a whole file; NULL when it does not exist. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            assert_non_null(nb);
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static char *must_slurp(const char *dir, const char *name)
{
    char *s = slurp(dir, name, NULL);
    if (!s)
        fail_msg("cannot read %s/%s", dir, name);
    return s;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm); avoids timegm(). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static time_t parse_iso8601(const char *s)
{
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
        fail_msg("bad timestamp %s", s);
    return (time_t)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400L + h * 3600L +
                    mi * 60L + se);
}

/* ---------------------------------------------------------------- request.txt */

typedef struct parsed_request {
    char *method, *path, *query;
    char **names, **values;
    size_t n;
    wr_sigv4_header *headers;
    char *body;
    size_t body_len;
} parsed_request;

static void parsed_free(parsed_request *r)
{
    free(r->method);
    free(r->path);
    free(r->query);
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Next line of [*p, end): returns its length without "\n" / "\r\n"; advances *p. */
static size_t next_line(const char **p, const char *end, const char **line)
{
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *line = s;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r')
        e--;
    return (size_t)(e - s);
}

/*
 * Request line "METHOD TARGET HTTP/1.1" (the target may contain spaces: get-space-*),
 * header lines "Name:value", continuation lines (leading SP/HTAB) unfolded into the value
 * with one SP (RFC 9112 §5.2 obs-fold), blank line, body.
 */
static void parse_request(parsed_request *r, const char *text, size_t len)
{
    memset(r, 0, sizeof *r);
    const char *p = text, *end = text + len, *line;
    size_t n = next_line(&p, end, &line);
    const char *sp1 = memchr(line, ' ', n);
    const char *sp2 = line + n;
    while (sp2 > line && sp2[-1] != ' ')
        sp2--;
    assert_non_null(sp1);
    assert_true(sp2 - 1 > sp1);
    r->method = dupn(line, (size_t)(sp1 - line));
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - 1 - target);
    const char *q = memchr(target, '?', tlen);
    r->path = dupn(target, q ? (size_t)(q - target) : tlen);
    r->query = q ? dupn(q + 1, (size_t)(target + tlen - q - 1)) : NULL;

    size_t cap = 16;
    r->names = calloc(cap, sizeof *r->names);
    r->values = calloc(cap, sizeof *r->values);
    assert_true(r->names && r->values);
    while (p < end) {
        n = next_line(&p, end, &line);
        if (n == 0)
            break; /* blank line: the body follows */
        if (line[0] == ' ' || line[0] == '\t') {
            assert_true(r->n > 0);
            size_t old = strlen(r->values[r->n - 1]);
            char *v = realloc(r->values[r->n - 1], old + 1 + n + 1);
            assert_non_null(v);
            v[old] = ' ';
            memcpy(v + old + 1, line, n);
            v[old + 1 + n] = '\0';
            r->values[r->n - 1] = v;
            continue;
        }
        const char *colon = memchr(line, ':', n);
        assert_non_null(colon);
        assert_true(r->n < cap);
        r->names[r->n] = dupn(line, (size_t)(colon - line));
        r->values[r->n] = dupn(colon + 1, (size_t)(line + n - colon - 1));
        r->n++;
    }
    r->body_len = (size_t)(end - p);
    r->body = dupn(p, r->body_len);
    r->headers = calloc(r->n ? r->n : 1, sizeof *r->headers);
    assert_non_null(r->headers);
    for (size_t i = 0; i < r->n; i++) {
        r->headers[i].name = r->names[i];
        r->headers[i].value = r->values[i];
    }
}

/* ---------------------------------------------------------------- suite cases */

typedef struct suite_case {
    char *dir;
    char *name;
} suite_case;

static void expect_text(const char *what, const char *casename, const char *got,
                        const char *want)
{
    if (strcmp(got, want) != 0) {
        print_error("%s: %s differs\n--- expected\n%s\n--- got\n%s\n---\n", casename, what,
                    want, got);
        fail();
    }
}

/* "Name:value" line of header-signed-request.txt for name (case-insensitive), or NULL. */
static char *signed_request_header(const char *text, const char *name)
{
    size_t nl = strlen(name);
    const char *p = text, *end = text + strlen(text), *line;
    next_line(&p, end, &line); /* request line */
    while (p < end) {
        size_t n = next_line(&p, end, &line);
        if (n == 0)
            break;
        if (n > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0)
            return dupn(line + nl + 1, n - nl - 1);
    }
    return NULL;
}

static void run_case(void **state)
{
    const suite_case *c = *state;
    size_t rlen = 0;
    char *req_text = slurp(c->dir, "request.txt", &rlen);
    if (!req_text)
        fail_msg("%s: no request.txt", c->name);
    char *ctx_text = must_slurp(c->dir, "context.json");
    char *want_cr = must_slurp(c->dir, "header-canonical-request.txt");
    char *want_sts = must_slurp(c->dir, "header-string-to-sign.txt");
    char *want_sig = must_slurp(c->dir, "header-signature.txt");
    char *want_signed = must_slurp(c->dir, "header-signed-request.txt");

    json_error_t jerr;
    json_t *ctx = json_loads(ctx_text, 0, &jerr);
    if (!ctx)
        fail_msg("%s: context.json: %s", c->name, jerr.text);
    json_t *creds = json_object_get(ctx, "credentials");
    assert_non_null(creds);
    const char *region = json_string_value(json_object_get(ctx, "region"));
    const char *service = json_string_value(json_object_get(ctx, "service"));
    const char *ts = json_string_value(json_object_get(ctx, "timestamp"));
    assert_true(region && service && ts);

    wr_sigv4_credentials cred = {
        .access_key_id = json_string_value(json_object_get(creds, "access_key_id")),
        .secret_access_key = json_string_value(json_object_get(creds, "secret_access_key")),
        .session_token = json_string_value(json_object_get(creds, "token")),
    };
    wr_sigv4_params pr;
    wr_sigv4_params_init(&pr, region, service, parse_iso8601(ts));
    json_t *v;
    if ((v = json_object_get(ctx, "normalize")))
        pr.normalize_path = json_is_true(v);
    if ((v = json_object_get(ctx, "sign_body")))
        pr.sign_body = json_is_true(v);
    if ((v = json_object_get(ctx, "omit_session_token")))
        pr.omit_session_token = json_is_true(v);
    if ((v = json_object_get(ctx, "double_uri_encode")))
        pr.double_uri_encode = json_is_true(v);

    parsed_request pq;
    parse_request(&pq, req_text, rlen);
    wr_sigv4_request req = {
        .method = pq.method,
        .path = pq.path,
        .query = pq.query,
        .headers = pq.headers,
        .n_headers = pq.n,
        .payload = pq.body,
        .payload_len = pq.body_len,
    };
    wr_sigv4_result res;
    weir_error err = {0};
    int rc = wr_sigv4_sign(&req, &cred, &pr, &res, &err);
    if (rc)
        fail_msg("%s: sign failed: %s", c->name, err.text);

    expect_text("canonical request", c->name, res.canonical_request, want_cr);
    expect_text("string to sign", c->name, res.string_to_sign, want_sts);
    expect_text("signature", c->name, res.signature, want_sig);

    /* The headers we return to set equal those the suite's signed request added. */
    for (size_t i = 0; i < res.n_set_headers; i++) {
        char *want = signed_request_header(want_signed, res.set_headers[i].name);
        if (!want)
            fail_msg("%s: %s not in header-signed-request.txt", c->name,
                     res.set_headers[i].name);
        expect_text(res.set_headers[i].name, c->name, res.set_headers[i].value, want);
        free(want);
    }
    static const char *const added[] = {"Authorization", "X-Amz-Date", "X-Amz-Security-Token",
                                        "X-Amz-Content-SHA256"};
    for (size_t i = 0; i < sizeof added / sizeof *added; i++) {
        char *want = signed_request_header(want_signed, added[i]);
        int found = 0;
        for (size_t j = 0; j < res.n_set_headers; j++)
            found |= strcasecmp(res.set_headers[j].name, added[i]) == 0;
        if (want && !found)
            fail_msg("%s: the signed request has %s but the signer did not return it",
                     c->name, added[i]);
        free(want);
    }

    wr_sigv4_result_free(&res);
    parsed_free(&pq);
    json_decref(ctx);
    free(req_text);
    free(ctx_text);
    free(want_cr);
    free(want_sts);
    free(want_sig);
    free(want_signed);
}

/* ---------------------------------------------------------------- Bedrock */

static const char invoke_body[] = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":16,"
                                  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void sign_ok(const wr_sigv4_request *req, const wr_sigv4_credentials *cred,
                    const wr_sigv4_params *pr, wr_sigv4_result *res)
{
    weir_error err = {0};
    int rc = wr_sigv4_sign(req, cred, pr, res, &err);
    if (rc)
        fail_msg("sign failed (%d): %s", rc, err.text);
}

static const char *set_header(const wr_sigv4_result *r, const char *name)
{
    for (size_t i = 0; i < r->n_set_headers; i++)
        if (strcmp(r->set_headers[i].name, name) == 0)
            return r->set_headers[i].value;
    return NULL;
}

/* InvokeModel, model id with ':' sent raw and percent-encoded, signing name "bedrock". */
static void test_bedrock_invoke_colon(void **state)
{
    (void)state;
    wr_sigv4_header hs[] = {{"Content-Type", "application/json"}};
    wr_sigv4_request req = {
        .method = "POST",
        .path = "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",
        .host = "bedrock-runtime.eu-central-1.amazonaws.com",
        .headers = hs,
        .n_headers = 1,
        .payload = invoke_body,
        .payload_len = strlen(invoke_body),
    };
    wr_sigv4_credentials cred = {AKID, SECRET, NULL};
    wr_sigv4_params pr;
    wr_sigv4_params_init(&pr, "eu-central-1", "bedrock", T20250102);
    const char *tail = "\n\ncontent-type:application/json\n"
                       "host:bedrock-runtime.eu-central-1.amazonaws.com\n"
                       "x-amz-date:20250102T030405Z\n\n"
                       "content-type;host;x-amz-date\n"
                       "616eb59224eb795b641b4c541ad9ee8b939a1e8798f73b54fce66bb79ddbb992";
    char want[1024];
    wr_sigv4_result res;

    /* Raw ':' on the wire: encoded once. */
    sign_ok(&req, &cred, &pr, &res);
    snprintf(want, sizeof want, "POST\n/model/anthropic.claude-3-haiku-20240307-v1%%3A0/invoke%s",
             tail);
    assert_string_equal(res.canonical_request, want);
    assert_string_equal(res.credential_scope, "20250102/eu-central-1/bedrock/aws4_request");
    assert_string_equal(res.signature,
                        "a457631908de759565c8043500a0f247f1fd0aad0c5b486eda5ca35020ce8756");
    assert_string_equal(set_header(&res, "Host"), "bedrock-runtime.eu-central-1.amazonaws.com");
    wr_sigv4_result_free(&res);

    /* "%3A" on the wire (what the SDKs send): the '%' is encoded again -> %253A. */
    req.path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke";
    sign_ok(&req, &cred, &pr, &res);
    snprintf(want, sizeof want,
             "POST\n/model/anthropic.claude-3-haiku-20240307-v1%%253A0/invoke%s", tail);
    assert_string_equal(res.canonical_request, want);
    assert_string_equal(res.signature,
                        "4b78accbbc2ba447832b43027237a60a40089edcdce1d97e773c4fd110889641");
    assert_string_equal(
        res.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/eu-central-1/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=4b78accbbc2ba447832b43027237a60a40089edcdce1d97e773c4fd110889641");
    assert_string_equal(set_header(&res, "X-Amz-Date"), "20250102T030405Z");
    assert_null(set_header(&res, "X-Amz-Security-Token"));
    wr_sigv4_result_free(&res);

    /* Temporary credentials: the token is signed. */
    cred.session_token = "FQoGZXIvYXdzEXAMPLE/session+token==";
    sign_ok(&req, &cred, &pr, &res);
    assert_string_equal(res.signed_headers, "content-type;host;x-amz-date;x-amz-security-token");
    assert_string_equal(res.signature,
                        "a23f99ef41d6198dd7e853060238138d6fc007454db6b78654846ddfed908360");
    assert_string_equal(set_header(&res, "X-Amz-Security-Token"),
                        "FQoGZXIvYXdzEXAMPLE/session+token==");
    wr_sigv4_result_free(&res);
}

/* shared/reference/sigv4.md §1.6 A: Converse, us-east-1. */
static void test_bedrock_reference_converse(void **state)
{
    (void)state;
    static const char body[] = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}";
    wr_sigv4_header hs[] = {{"Host", "bedrock-runtime.us-east-1.amazonaws.com"},
                            {"Content-Type", "application/json"}};
    wr_sigv4_request req = {
        .method = "POST",
        .path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        .headers = hs,
        .n_headers = 2,
        .payload = body,
        .payload_len = strlen(body),
    };
    wr_sigv4_credentials cred = {AKID, SECRET, NULL};
    wr_sigv4_params pr;
    wr_sigv4_params_init(&pr, "us-east-1", "bedrock", T20250102);
    wr_sigv4_result res;
    sign_ok(&req, &cred, &pr, &res);
    assert_string_equal(res.canonical_request,
                        "POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\n"
                        "content-type:application/json\n"
                        "host:bedrock-runtime.us-east-1.amazonaws.com\n"
                        "x-amz-date:20250102T030405Z\n\n"
                        "content-type;host;x-amz-date\n"
                        "c3335e07d6e89650bf94cb98664be69f8774dbc3198df221f113db0a59ea14f0");
    assert_string_equal(res.string_to_sign,
                        "AWS4-HMAC-SHA256\n20250102T030405Z\n"
                        "20250102/us-east-1/bedrock/aws4_request\n"
                        "9caf30c5ce55d4c8731682cd74f326ce122190690e636ece7f94d88c091f3714");
    assert_string_equal(res.signature,
                        "18dcd39c9e7fae45fcfd7c0c25e540eea5b0d55307a481aaa17fe8ffcb12cbc3");
    assert_null(set_header(&res, "Host")); /* the caller had one */
    wr_sigv4_result_free(&res);
}

/* shared/reference/sigv4.md §1.6 B: Mantle, session token, signed content hash. */
static void test_mantle_reference(void **state)
{
    (void)state;
    static const char body[] = "{\"model\":\"gpt-4o\",\"input\":\"hello\"}";
    wr_sigv4_header hs[] = {{"Content-Type", "application/json"}};
    wr_sigv4_request req = {
        .method = "POST",
        .path = "/openai/v1/responses",
        .host = "bedrock-mantle.us-east-1.api.aws",
        .headers = hs,
        .n_headers = 1,
        .payload = body,
        .payload_len = strlen(body),
    };
    wr_sigv4_credentials cred = {AKID, SECRET, "fixture-session-token"};
    wr_sigv4_params pr;
    wr_sigv4_params_init(&pr, "us-east-1", "bedrock-mantle", T20250102);
    pr.sign_body = true;
    wr_sigv4_result res;
    sign_ok(&req, &cred, &pr, &res);
    assert_string_equal(res.payload_hash,
                        "50329e51ad520f21b77bad0b01999930ff556cd1bf18434701251ba6c9f877bc");
    assert_string_equal(res.signed_headers,
                        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    assert_string_equal(res.string_to_sign + strlen(res.string_to_sign) - 64,
                        "1b69b17ef7548a7bf16a6ee749acfd44b7793e04216345dddd6cfaf4c01bfde5");
    assert_string_equal(res.signature,
                        "dc20c8fbe516daf0ccae7e5b7a78fc2936870413a9f1af6e1b2d44b970ce411f");
    assert_string_equal(set_header(&res, "X-Amz-Content-SHA256"), res.payload_hash);
    assert_string_equal(set_header(&res, "X-Amz-Security-Token"), "fixture-session-token");
    wr_sigv4_result_free(&res);

    /* The same with the hash given instead of the body. */
    req.payload = NULL;
    req.payload_len = 0;
    req.payload_hash = "50329e51ad520f21b77bad0b01999930ff556cd1bf18434701251ba6c9f877bc";
    sign_ok(&req, &cred, &pr, &res);
    assert_string_equal(res.signature,
                        "dc20c8fbe516daf0ccae7e5b7a78fc2936870413a9f1af6e1b2d44b970ce411f");
    wr_sigv4_result_free(&res);
}

/* ---------------------------------------------------------------- rules in isolation */

static void expect_uri(const char *path, bool norm, bool dbl, const char *want)
{
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(wr_sigv4_canonical_uri(&b, path, norm, dbl), 0);
    if (strcmp(b.data, want) != 0)
        fail_msg("canonical URI of '%s' (normalize %d, double %d): got '%s', want '%s'", path,
                 norm, dbl, b.data, want);
    wr_buf_free(&b);
}

static void test_canonical_uri(void **state)
{
    (void)state;
    expect_uri("", true, true, "/");
    expect_uri("", false, false, "/");
    expect_uri("/", true, true, "/");
    expect_uri("/a/b/..", true, true, "/a");
    expect_uri("/a/./b/", true, true, "/a/b/");
    expect_uri("/../..", true, true, "/");
    expect_uri("/../../", true, true, "/");
    expect_uri("/a//b", true, true, "/a/b");
    expect_uri("/a:b", true, true, "/a%3Ab");
    expect_uri("/a%3Ab", true, true, "/a%253Ab");
    expect_uri("/a%3Ab", false, true, "/a%253Ab");
    /* S3 style: already encoded; valid escapes kept, the rest encoded once. */
    expect_uri("/a%3Ab", false, false, "/a%3Ab");
    expect_uri("/a:b c", false, false, "/a%3Ab%20c");
    expect_uri("/100%", false, false, "/100%25");
    expect_uri("/%zz", false, false, "/%25zz");
    expect_uri("/a+b=c&d", true, true, "/a%2Bb%3Dc%26d");
    expect_uri("/\xff", true, true, "/%FF");
    expect_uri("/./", false, true, "/./");
}

static void test_query_and_headers(void **state)
{
    (void)state;
    wr_sigv4_header hs[] = {
        {"Host", "h.example"},
        {"User-Agent", "not signed"},
        {"Authorization", "AWS4-HMAC-SHA256 old"},
        {"X-Amz-Date", "19990101T000000Z"},
        {"X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"},
        {"X-B", "\t two  \t words "},
        {"x-a", ""},
        {"X-B", "second"},
    };
    wr_sigv4_request req = {
        .method = "GET",
        .path = "/",
        .query = "b=2&&a=%7e%41&b=1&c&a==x&%zz=+",
        .headers = hs,
        .n_headers = WR_ARRAY_LEN(hs),
    };
    wr_sigv4_credentials cred = {AKID, SECRET, ""};
    wr_sigv4_params pr;
    wr_sigv4_params_init(&pr, "us-east-1", "service", T20250102);
    wr_sigv4_result res;
    sign_ok(&req, &cred, &pr, &res);
    assert_string_equal(res.canonical_request,
                        "GET\n/\n"
                        "%25zz=%2B&a=%3Dx&a=~A&b=1&b=2&c=\n"
                        "host:h.example\n"
                        "x-a:\n"
                        "x-amz-date:20250102T030405Z\n"
                        "x-b:two words,second\n\n"
                        "host;x-a;x-amz-date;x-b\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(res.n_set_headers, 2); /* Authorization, X-Amz-Date */
    assert_null(set_header(&res, "X-Amz-Security-Token"));
    wr_sigv4_result_free(&res);

    assert_true(wr_sigv4_is_managed_header("authorization"));
    assert_true(wr_sigv4_is_managed_header("X-AMZ-SECURITY-TOKEN"));
    assert_false(wr_sigv4_is_managed_header("host"));
    assert_false(wr_sigv4_is_managed_header(NULL));
}

static void test_signing_key(void **state)
{
    (void)state;
    unsigned char key[32];
    char hex[65];
    /* Independently computed with Python hmac/hashlib. */
    assert_int_equal(wr_sigv4_signing_key(key, SECRET, "20120215", "us-east-1", "iam"), 0);
    wr_hex(hex, key, 32);
    assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    assert_int_equal(wr_sigv4_signing_key(key, "", "20120215", "us-east-1", "iam"), WEIR_EINVAL);
    assert_int_equal(wr_sigv4_signing_key(key, NULL, "20120215", "us-east-1", "iam"),
                     WEIR_EINVAL);
}

static void expect_reject(const wr_sigv4_request *req, const wr_sigv4_credentials *cred,
                          const wr_sigv4_params *pr, int code)
{
    wr_sigv4_result res;
    memset(&res, 0xa5, sizeof res);
    weir_error err = {0};
    int rc = wr_sigv4_sign(req, cred, pr, &res, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s)", code, rc, err.text);
    assert_int_equal(err.code, code);
    assert_true(err.text[0] != '\0');
    assert_null(res.canonical_request);
    assert_null(res.set_headers);
    wr_sigv4_result_free(&res); /* harmless */
}

static void test_invalid_input(void **state)
{
    (void)state;
    wr_sigv4_header ok_h[] = {{"Host", "h.example"}};
    const wr_sigv4_request good = {.method = "GET", .path = "/", .headers = ok_h, .n_headers = 1};
    const wr_sigv4_credentials cred = {AKID, SECRET, NULL};
    wr_sigv4_params pr;
    wr_sigv4_params_init(&pr, "us-east-1", "service", T20250102);
    wr_sigv4_request r;
    wr_sigv4_credentials c;
    wr_sigv4_params p;
    wr_sigv4_result res;

    sign_ok(&good, &cred, &pr, &res);
    wr_sigv4_result_free(&res);

    assert_int_equal(wr_sigv4_sign(&good, &cred, &pr, NULL, NULL), WEIR_EINVAL);
    expect_reject(NULL, &cred, &pr, WEIR_EINVAL);
    expect_reject(&good, NULL, &pr, WEIR_EINVAL);
    expect_reject(&good, &cred, NULL, WEIR_EINVAL);

    r = good, r.method = NULL;
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.method = "";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.method = "GE T";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.path = "relative";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.path = "/a?b=c";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.path = "/a\r\nX: y";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.query = "a=b#frag";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);

    /* no host at all; two hosts */
    r = good, r.headers = NULL, r.n_headers = 0;
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r.host = "";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r.host = "h.example";
    sign_ok(&r, &cred, &pr, &res);
    assert_string_equal(set_header(&res, "Host"), "h.example");
    wr_sigv4_result_free(&res);
    wr_sigv4_header two_hosts[] = {{"Host", "a"}, {"host", "b"}};
    r = good, r.headers = two_hosts, r.n_headers = 2;
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.headers = NULL, r.n_headers = 1;
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);

    /* header injection, bad names */
    wr_sigv4_header bad1[] = {{"Host", "h"}, {"X-A", "v\r\nX-Evil: 1"}};
    wr_sigv4_header bad2[] = {{"Host", "h"}, {"X A", "v"}};
    wr_sigv4_header bad3[] = {{"Host", "h"}, {"", "v"}};
    wr_sigv4_header bad4[] = {{"Host", "h"}, {"X-A", NULL}};
    wr_sigv4_header bad5[] = {{"Host", "h"}, {NULL, "v"}};
    wr_sigv4_header bad6[] = {{"Host", "h\nx"}};
    wr_sigv4_header *bads[] = {bad1, bad2, bad3, bad4, bad5, bad6};
    size_t nbads[] = {2, 2, 2, 2, 2, 1};
    for (size_t i = 0; i < WR_ARRAY_LEN(bads); i++) {
        r = good, r.headers = bads[i], r.n_headers = nbads[i];
        expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    }

    /* limits */
    r = good, r.n_headers = WR_SIGV4_MAX_HEADERS + 1;
    expect_reject(&r, &cred, &pr, WEIR_ELIMIT);
    char *big = malloc(WR_SIGV4_MAX_QUERY + 2);
    assert_non_null(big);
    memset(big, 'a', WR_SIGV4_MAX_QUERY + 1);
    big[WR_SIGV4_MAX_QUERY + 1] = '\0';
    r = good, r.query = big;
    expect_reject(&r, &cred, &pr, WEIR_ELIMIT);
    big[0] = '/';
    r = good, r.path = big;
    expect_reject(&r, &cred, &pr, WEIR_ELIMIT);
    big[WR_SIGV4_MAX_VALUE + 1] = '\0';
    wr_sigv4_header bigv[] = {{"Host", "h"}, {"X-A", big}};
    r = good, r.headers = bigv, r.n_headers = 2;
    expect_reject(&r, &cred, &pr, WEIR_ELIMIT);
    free(big);

    /* payload */
    r = good, r.payload = NULL, r.payload_len = 5;
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.payload_hash = "";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.payload_hash = "abc def";
    expect_reject(&r, &cred, &pr, WEIR_EINVAL);
    r = good, r.payload_hash = "UNSIGNED-PAYLOAD";
    p = pr, p.sign_body = true;
    sign_ok(&r, &cred, &p, &res);
    assert_string_equal(set_header(&res, "X-Amz-Content-SHA256"), "UNSIGNED-PAYLOAD");
    wr_sigv4_result_free(&res);

    /* credentials */
    c = cred, c.access_key_id = NULL;
    expect_reject(&good, &c, &pr, WEIR_EINVAL);
    c = cred, c.access_key_id = "AKID/EXAMPLE";
    expect_reject(&good, &c, &pr, WEIR_EINVAL);
    c = cred, c.secret_access_key = "";
    expect_reject(&good, &c, &pr, WEIR_EINVAL);
    c = cred, c.secret_access_key = "has space";
    expect_reject(&good, &c, &pr, WEIR_EINVAL);
    c = cred, c.session_token = "tok\nen";
    expect_reject(&good, &c, &pr, WEIR_EINVAL);

    /* scope and time */
    p = pr, p.region = NULL;
    expect_reject(&good, &cred, &p, WEIR_EINVAL);
    p = pr, p.region = "us/east";
    expect_reject(&good, &cred, &p, WEIR_EINVAL);
    p = pr, p.service = "";
    expect_reject(&good, &cred, &p, WEIR_EINVAL);
    p = pr, p.timestamp = (time_t)-1;
    expect_reject(&good, &cred, &p, WEIR_EINVAL);

    /* odd but valid: empty path, method as given, empty body */
    r = good, r.path = NULL, r.method = "PATCH";
    sign_ok(&r, &cred, &pr, &res);
    assert_true(strncmp(res.canonical_request, "PATCH\n/\n\n", 9) == 0);
    wr_sigv4_result_free(&res);
}

/* ---------------------------------------------------------------- main */

/* Every case of the suite as shipped (README: aws-c-auth tests/aws-signing-test-suite/v4). */
static const char *const expected_cases[] = {
    "get-header-key-duplicate", "get-header-value-multiline", "get-header-value-order",
    "get-header-value-trim", "get-relative-normalized", "get-relative-relative-normalized",
    "get-relative-relative-unnormalized", "get-relative-unnormalized",
    "get-slash-dot-slash-normalized", "get-slash-dot-slash-unnormalized", "get-slash-normalized",
    "get-slash-pointless-dot-normalized", "get-slash-pointless-dot-unnormalized",
    "get-slash-unnormalized", "get-slashes-normalized", "get-slashes-unnormalized",
    "get-space-normalized", "get-space-unnormalized", "get-unreserved", "get-utf8",
    "get-vanilla", "get-vanilla-empty-query-key", "get-vanilla-query",
    "get-vanilla-query-order-encoded", "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved", "get-vanilla-utf8-query", "get-vanilla-with-session-token",
    "post-header-key-case", "post-header-key-sort", "post-header-value-case",
    "post-sts-header-after", "post-sts-header-before", "post-vanilla",
    "post-vanilla-empty-query-value", "post-vanilla-query", "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const suite_case *)a)->name, ((const suite_case *)b)->name);
}

int main(void)
{
    char *root = vectors_dir();
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr,
                "test_sigv4: the SigV4 test vectors are missing: cannot open %s\n"
                "(expected at $WEIR_SOURCE_DIR/tests/data/vectors/sigv4; WEIR_SOURCE_DIR=%s)\n",
                root, getenv("WEIR_SOURCE_DIR") ? getenv("WEIR_SOURCE_DIR") : "(unset)");
        free(root);
        return 1;
    }
    suite_case *cases = NULL;
    size_t n = 0, cap = 0, skipped = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *dir = malloc(strlen(root) + strlen(e->d_name) + 2);
        if (!dir)
            return 1;
        sprintf(dir, "%s/%s", root, e->d_name);
        struct stat st;
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/header-canonical-request.txt", dir);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(dir);
            continue;
        }
        if (stat(probe, &st) != 0) {
            fprintf(stderr, "test_sigv4: skipping %s: no header-*.txt (query form only)\n",
                    e->d_name);
            skipped++;
            free(dir);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            suite_case *nc = realloc(cases, cap * sizeof *cases);
            if (!nc)
                return 1;
            cases = nc;
        }
        cases[n].dir = dir;
        cases[n].name = strdup(e->d_name);
        n++;
    }
    closedir(d);
    qsort(cases, n, sizeof *cases, name_cmp);

    int missing = 0;
    for (size_t i = 0; i < WR_ARRAY_LEN(expected_cases); i++) {
        int found = 0;
        for (size_t j = 0; j < n; j++)
            found |= strcmp(cases[j].name, expected_cases[i]) == 0;
        if (!found) {
            fprintf(stderr, "test_sigv4: suite case %s missing from %s\n", expected_cases[i],
                    root);
            missing++;
        }
    }

    const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_bedrock_invoke_colon),
        cmocka_unit_test(test_bedrock_reference_converse),
        cmocka_unit_test(test_mantle_reference),
        cmocka_unit_test(test_canonical_uri),
        cmocka_unit_test(test_query_and_headers),
        cmocka_unit_test(test_signing_key),
        cmocka_unit_test(test_invalid_input),
    };
    size_t nt = n + WR_ARRAY_LEN(fixed);
    struct CMUnitTest *tests = calloc(nt, sizeof *tests);
    if (!tests)
        return 1;
    for (size_t i = 0; i < n; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
    }
    memcpy(tests + n, fixed, sizeof fixed);
    fprintf(stderr, "test_sigv4: %zu suite cases from %s, %zu skipped\n", n, root, skipped);

    int failed = _cmocka_run_group_tests("sigv4", tests, nt, NULL, NULL);

    for (size_t i = 0; i < n; i++) {
        free(cases[i].dir);
        free(cases[i].name);
    }
    free(cases);
    free(tests);
    free(root);
    return failed || missing ? 1 : 0;
}
