/*
 * test_jwt.c - bearer JWT identity (filter/identity/jwt.c).
 *
 * Keys (RSA-2048, EC P-256) are generated with OpenSSL here, the JWK Set JSON is built from
 * them and every token is signed here with OpenSSL directly, so forged and malformed tokens
 * are as easy to make as good ones. The URL source runs against a small HTTP server on
 * 127.0.0.1:0 in a thread; its fetch hook is a plain-socket HTTP GET (libweir has no HTTP
 * client; the sidecar plugs in libcurl).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "identity/jwt.h"

#define ISS "https://kubernetes.default.svc"
#define AUD "weir"
#define NOW ((time_t)1700000000)

/* ------------------------------------------------------------------ keys and signing */

static EVP_PKEY *rsa_key, *rsa_key2, *ec_key;

static char *b64url(const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = malloc(n / 3 * 4 + 5), *q = o;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *q++ = a[v >> 18], *q++ = a[(v >> 12) & 63], *q++ = a[(v >> 6) & 63], *q++ = a[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *q++ = a[v >> 18], *q++ = a[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *q++ = a[v >> 18], *q++ = a[(v >> 12) & 63], *q++ = a[(v >> 6) & 63];
    }
    *q = '\0';
    return o;
}

static char *b64url_str(const char *s) { return b64url((const unsigned char *)s, strlen(s)); }

static char *bn_param(EVP_PKEY *k, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    return b64url(buf, (size_t)n);
}

/* One JWK (public) as JSON text; extra is appended inside the object (e.g. ",\"d\":\"AA\""). */
static char *jwk_json(EVP_PKEY *k, const char *kid, const char *extra)
{
    char *out = malloc(4096);
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        char *n = bn_param(k, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_param(k, OSSL_PKEY_PARAM_RSA_E, 0);
        snprintf(out, 4096, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}",
                 kid, n, e, extra ? extra : "");
        free(n), free(e);
    } else {
        char *x = bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        snprintf(out, 4096, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
                 kid, x, y, extra ? extra : "");
        free(x), free(y);
    }
    return out;
}

static char *jwks2(const char *a, const char *b)
{
    char *out = malloc(strlen(a) + (b ? strlen(b) : 0) + 32);
    sprintf(out, "{\"keys\":[%s%s%s]}", a, b ? "," : "", b ? b : "");
    return out;
}

static wr_jwks *parse_ok(const char *json)
{
    wr_jwks *k = NULL;
    weir_error e = {0};
    int rc = wr_jwks_parse(&k, json, strlen(json), &e);
    if (rc != 0)
        fail_msg("jwks: %s", e.text);
    return k;
}

/* Raw signature of in[0..n) with key k for alg; *slen set. */
static unsigned char *sign_raw(EVP_PKEY *k, const char *alg, const char *in, size_t *slen)
{
    const EVP_MD *md = strstr(alg, "384") ? EVP_sha384() : strstr(alg, "512") ? EVP_sha512()
                                                                               : EVP_sha256();
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestSignInit(c, &pc, md, NULL, k), 1);
    if (alg[0] == 'P') {
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t n = 0;
    assert_int_equal(EVP_DigestSign(c, NULL, &n, (const unsigned char *)in, strlen(in)), 1);
    unsigned char *sig = malloc(n);
    assert_int_equal(EVP_DigestSign(c, sig, &n, (const unsigned char *)in, strlen(in)), 1);
    EVP_MD_CTX_free(c);
    if (alg[0] == 'E') { /* DER -> r||s */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        unsigned char *raw = malloc(64);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        n = 64;
    }
    *slen = n;
    return sig;
}

/* header.payload.signature with the given header JSON. */
static char *token_hdr(EVP_PKEY *k, const char *hdr, const char *alg, const char *payload)
{
    char *h = b64url_str(hdr), *p = b64url_str(payload);
    char *input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);
    size_t slen;
    unsigned char *sig = sign_raw(k, alg, input, &slen);
    char *s = b64url(sig, slen);
    char *out = malloc(strlen(input) + strlen(s) + 2);
    sprintf(out, "%s.%s", input, s);
    free(h), free(p), free(input), free(sig), free(s);
    return out;
}

static char *token(EVP_PKEY *k, const char *alg, const char *kid, const char *payload)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    return token_hdr(k, hdr, alg, payload);
}

/* Claims with exp/nbf/iat relative to NOW; INT32_MIN leaves one out. */
static char *claims(const char *iss, const char *aud, long exp, long nbf, long iat)
{
    char *o = malloc(1024);
    int n = snprintf(o, 1024, "{\"iss\":\"%s\",\"sub\":\"system:serviceaccount:team-a:builder\","
                              "\"aud\":%s", iss, aud);
    if (exp != INT32_MIN)
        n += snprintf(o + n, 1024 - (size_t)n, ",\"exp\":%ld", (long)NOW + exp);
    if (nbf != INT32_MIN)
        n += snprintf(o + n, 1024 - (size_t)n, ",\"nbf\":%ld", (long)NOW + nbf);
    if (iat != INT32_MIN)
        n += snprintf(o + n, 1024 - (size_t)n, ",\"iat\":%ld", (long)NOW + iat);
    snprintf(o + n, 1024 - (size_t)n, "}");
    return o;
}

static char *good_claims(void) { return claims(ISS, "\"" AUD "\"", 600, -10, -10); }

static const char *const audiences[] = {"other", AUD, NULL};

static wr_jwt_rules rules(void)
{
    wr_jwt_rules r = WR_JWT_RULES_INIT;
    r.issuer = ISS;
    r.audiences = audiences;
    r.now = NOW;
    return r;
}

/* The JWK Set most tests use: rsa "r1", ec "e1". */
static wr_jwks *std_keys(void)
{
    char *a = jwk_json(rsa_key, "r1", ",\"use\":\"sig\""), *b = jwk_json(ec_key, "e1", NULL);
    char *s = jwks2(a, b);
    wr_jwks *k = parse_ok(s);
    free(a), free(b), free(s);
    return k;
}

/* Verifies; on refusal checks the code and that the message holds `want`. */
static void expect(const wr_jwks *k, const char *tok, const wr_jwt_rules *r, int code,
                   const char *want)
{
    weir_error e = {0};
    json_t *c = (json_t *)1;
    int rc = wr_jwt_verify(k, tok, strlen(tok), r, &c, &e);
    if (rc != code)
        fail_msg("rc %d (want %d): %s", rc, code, e.text);
    if (code == 0) {
        assert_non_null(c);
        json_decref(c);
        return;
    }
    assert_null(c);
    if (want && !strstr(e.text, want))
        fail_msg("message \"%s\" lacks \"%s\"", e.text, want);
}

static int setup(void **state)
{
    (void)state;
    rsa_key = EVP_RSA_gen(2048);
    rsa_key2 = EVP_RSA_gen(2048);
    ec_key = EVP_EC_gen("P-256");
    return rsa_key && rsa_key2 && ec_key ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa_key2);
    EVP_PKEY_free(ec_key);
    return 0;
}

/* ------------------------------------------------------------------ good tokens */

static void test_rs256_valid(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    assert_int_equal(wr_jwks_count(k), 2);
    char *cl = good_claims(), *t = token(rsa_key, "RS256", "r1", cl);
    wr_jwt_rules r = rules();
    json_t *c = NULL;
    weir_error e = {0};
    assert_int_equal(wr_jwt_verify(k, t, strlen(t), &r, &c, &e), 0);
    assert_string_equal(json_string_value(json_object_get(c, "sub")),
                        "system:serviceaccount:team-a:builder");
    assert_string_equal(json_string_value(json_object_get(c, "iss")), ISS);
    json_decref(c);
    free(cl), free(t);
    wr_jwks_unref(k);
}

static void test_es256_ps256_rs512_valid(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    char *cl = good_claims();
    wr_jwt_rules r = rules();
    const char *algs[] = {"ES256", "PS256", "RS384", "RS512"};
    for (size_t i = 0; i < 4; i++) {
        char *t = token(algs[i][0] == 'E' ? ec_key : rsa_key, algs[i], algs[i][0] == 'E' ? "e1" : "r1", cl);
        expect(k, t, &r, 0, NULL);
        free(t);
    }
    free(cl);
    wr_jwks_unref(k);
}

static void test_no_kid(void **state)
{
    (void)state;
    char *a = jwk_json(ec_key, "e1", NULL), *one = jwks2(a, NULL);
    wr_jwks *k1 = parse_ok(one), *k2 = std_keys();
    char *cl = good_claims(), *t = token_hdr(ec_key, "{\"alg\":\"ES256\"}", "ES256", cl);
    wr_jwt_rules r = rules();
    expect(k1, t, &r, 0, NULL);                     /* the only key */
    expect(k2, t, &r, WEIR_EINVAL, "has no kid");   /* which one? */
    free(a), free(one), free(cl), free(t);
    wr_jwks_unref(k1);
    wr_jwks_unref(k2);
}

/* ------------------------------------------------------------------ claims */

static void test_time_claims(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    wr_jwt_rules r = rules();
    struct { long exp, nbf, iat; int code; const char *msg; } cases[] = {
        {-3600, -7200, -7200, WEIR_EINVAL, "expired"},
        {-59, -7200, -7200, 0, NULL},                      /* within the 60 s leeway */
        {-61, -7200, -7200, WEIR_EINVAL, "expired"},       /* beyond */
        {3600, 600, -10, WEIR_EINVAL, "not valid yet"},
        {3600, 59, -10, 0, NULL},
        {3600, -10, 600, WEIR_EINVAL, "issued in the future"},
        {INT32_MIN, -10, -10, WEIR_EINVAL, "no exp"},
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(cases); i++) {
        char *cl = claims(ISS, "\"" AUD "\"", cases[i].exp, cases[i].nbf, cases[i].iat);
        char *t = token(rsa_key, "RS256", "r1", cl);
        expect(k, t, &r, cases[i].code, cases[i].msg);
        free(cl), free(t);
    }
    /* exp optional when configured; leeway 0 makes -59 expired; leeway > 300 refused */
    char *cl = claims(ISS, "\"" AUD "\"", INT32_MIN, -10, -10), *t = token(rsa_key, "RS256", "r1", cl);
    r.exp_optional = 1;
    expect(k, t, &r, 0, NULL);
    free(cl), free(t);
    r = rules();
    r.leeway_seconds = 0;
    cl = claims(ISS, "\"" AUD "\"", -59, -7200, -7200), t = token(rsa_key, "RS256", "r1", cl);
    expect(k, t, &r, WEIR_EINVAL, "expired");
    r.leeway_seconds = 301;
    expect(k, t, &r, WEIR_EINVAL, "leeway");
    free(cl), free(t);
    wr_jwks_unref(k);
}

static void test_iss_aud(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    wr_jwt_rules r = rules();
    struct { const char *iss, *aud; int code; const char *msg; } cases[] = {
        {ISS, "\"secret-audience-x\"", WEIR_EINVAL, "audience"},
        {ISS, "[\"a\",\"" AUD "\",\"b\"]", 0, NULL},
        {ISS, "[\"a\",\"b\"]", WEIR_EINVAL, "audience"},
        {ISS, "[]", WEIR_EINVAL, "audience"},
        {ISS, "42", WEIR_EINVAL, "audience"},
        {ISS, "\"other\"", 0, NULL},                       /* the second configured one */
        {"https://evil.example", "\"" AUD "\"", WEIR_EINVAL, "issuer \"https://evil.example\""},
        {ISS "/", "\"" AUD "\"", WEIR_EINVAL, "not the configured issuer"}, /* exact match */
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(cases); i++) {
        char *cl = claims(cases[i].iss, cases[i].aud, 600, -10, -10);
        char *t = token(ec_key, "ES256", "e1", cl);
        expect(k, t, &r, cases[i].code, cases[i].msg);
        weir_error e = {0};
        wr_jwt_verify(k, t, strlen(t), &r, NULL, &e);
        assert_null(strstr(e.text, "secret-audience-x")); /* token content is not echoed */
        free(cl), free(t);
    }
    wr_jwks_unref(k);
}

/* ------------------------------------------------------------------ forged and malformed */

static void test_unknown_kid(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    char *cl = good_claims(), *t = token(rsa_key, "RS256", "rotated-7", cl);
    wr_jwt_rules r = rules();
    expect(k, t, &r, WEIR_ENOTFOUND, "kid \"rotated-7\" is not in the JWK Set");
    free(cl), free(t);
    wr_jwks_unref(k);
}

static void test_alg_none(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    char *cl = good_claims(), *h = b64url_str("{\"alg\":\"none\",\"kid\":\"r1\"}"), *p = b64url_str(cl);
    char t[4096];
    wr_jwt_rules r = rules();
    snprintf(t, sizeof t, "%s.%s.", h, p);
    expect(k, t, &r, WEIR_EINVAL, "no signature");
    snprintf(t, sizeof t, "%s.%s.c2lnbmF0dXJl", h, p);
    expect(k, t, &r, WEIR_EINVAL, "\"none\" is refused");
    snprintf(t, sizeof t, "%s.%s", h, p);
    expect(k, t, &r, WEIR_EINVAL, "segments");
    free(cl), free(h), free(p);
    wr_jwks_unref(k);
}

/* The classic confusion: HS256 keyed with the RSA public key's bytes. */
static void test_hs256_with_public_key(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    char *cl = good_claims();
    wr_jwt_rules r = rules();
    unsigned char *der = NULL;
    int dlen = i2d_PUBKEY(rsa_key, &der);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa_key);
    char *pem = NULL;
    long plen = BIO_get_mem_data(bio, &pem);
    struct { const void *key; int len; } secrets[] = {{der, dlen}, {pem, (int)plen}};
    for (size_t i = 0; i < 2; i++) {
        char *h = b64url_str("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}"), *p = b64url_str(cl);
        char input[4096];
        snprintf(input, sizeof input, "%s.%s", h, p);
        unsigned char mac[32];
        unsigned mlen = 0;
        HMAC(EVP_sha256(), secrets[i].key, secrets[i].len, (unsigned char *)input, strlen(input), mac, &mlen);
        char *s = b64url(mac, mlen), t[8192];
        snprintf(t, sizeof t, "%s.%s", input, s);
        expect(k, t, &r, WEIR_EINVAL, "HMAC");
        free(h), free(p), free(s);
    }
    BIO_free(bio);
    OPENSSL_free(der);
    free(cl);
    wr_jwks_unref(k);
}

static void test_key_type_mismatch(void **state)
{
    (void)state;
    /* an EC key named "same"; an RS256 token with kid "same" */
    char *a = jwk_json(ec_key, "same", NULL), *s = jwks2(a, NULL);
    wr_jwks *k = parse_ok(s);
    char *cl = good_claims(), *t = token(rsa_key, "RS256", "same", cl);
    wr_jwt_rules r = rules();
    expect(k, t, &r, WEIR_EINVAL, "does not fit the EC key");
    free(a), free(s), free(t);
    /* an RSA key restricted to RS256 refuses PS256; an ES256 token against an RSA kid */
    a = jwk_json(rsa_key, "r1", ",\"alg\":\"RS256\""), s = jwks2(a, NULL);
    wr_jwks *k2 = parse_ok(s);
    t = token(rsa_key, "PS256", "r1", cl);
    expect(k2, t, &r, WEIR_EINVAL, "does not fit the RSA key");
    free(t);
    t = token(ec_key, "ES256", "r1", cl);
    expect(k2, t, &r, WEIR_EINVAL, "does not fit");
    /* rules may restrict algorithms */
    wr_jwks *k3 = std_keys();
    r.algs = WR_JWT_RS256;
    free(t);
    t = token(ec_key, "ES256", "e1", cl);
    expect(k3, t, &r, WEIR_EINVAL, "not allowed by the configuration");
    free(a), free(s), free(t), free(cl);
    wr_jwks_unref(k);
    wr_jwks_unref(k2);
    wr_jwks_unref(k3);
}

static void test_tampered(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    wr_jwt_rules r = rules();
    char *cl = good_claims();
    for (int ec = 0; ec < 2; ec++) {
        char *t = token(ec ? ec_key : rsa_key, ec ? "ES256" : "RS256", ec ? "e1" : "r1", cl);
        /* payload: one claim changed, signature kept */
        char *evil = claims(ISS, "\"" AUD "\"", 600, -10, -10);
        char *sub = strstr(evil, "builder");
        memcpy(sub, "admin__", 7);
        char *p = b64url_str(evil), *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
        char t2[4096];
        snprintf(t2, sizeof t2, "%.*s.%s%s", (int)(d1 - t), t, p, d2);
        expect(k, t2, &r, WEIR_EINVAL, "does not verify");
        /* signature: one character changed (keeping canonical base64url) */
        snprintf(t2, sizeof t2, "%s", t);
        char *sc = strrchr(t2, '.') + 5;
        *sc = *sc == 'A' ? 'B' : 'A';
        expect(k, t2, &r, WEIR_EINVAL, "does not verify");
        /* truncated */
        snprintf(t2, sizeof t2, "%.*s", (int)strlen(t) - 10, t);
        expect(k, t2, &r, WEIR_EINVAL, NULL);
        snprintf(t2, sizeof t2, "%.*s", (int)(d2 - t), t);
        expect(k, t2, &r, WEIR_EINVAL, "segment");
        /* extra segments (JWE-like) */
        snprintf(t2, sizeof t2, "%s.AAAA", t);
        expect(k, t2, &r, WEIR_EINVAL, "more than three");
        snprintf(t2, sizeof t2, "%s.", t);
        expect(k, t2, &r, WEIR_EINVAL, "more than three");
        /* a segment of 4k+1 base64url characters (cjose's decoder asserts on it) */
        int pad = (int)((5 - strlen(p) % 4) % 4);
        snprintf(t2, sizeof t2, "%.*s.%s%.*s%s", (int)(d1 - t), t, p, pad, "AAAA", d2);
        assert_int_equal((strlen(p) + (size_t)pad) % 4, 1);
        expect(k, t2, &r, WEIR_EINVAL, "payload is not valid base64url");
        /* whitespace, Bearer prefix */
        snprintf(t2, sizeof t2, "Bearer %s", t);
        expect(k, t2, &r, WEIR_EINVAL, "base64url");
        free(t), free(evil), free(p);
    }
    free(cl);
    wr_jwks_unref(k);
}

static void test_malformed_header_and_payload(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    wr_jwt_rules r = rules();
    char *cl = good_claims();
    const char *hdrs[] = {"not json", "[\"alg\",\"RS256\"]", "{\"alg\":\"RS256\",\"alg\":\"none\"}",
                          "{\"kid\":\"r1\"}", "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"exp\"]}",
                          "{\"alg\":\"RS256\",\"kid\":7}", "{\"alg\":\"ES512\",\"kid\":\"r1\"}",
                          "{\"alg\":\"RS256\",\"kid\":\"r1\"", "{\"alg\":\"HS512\",\"kid\":\"r1\"}"};
    const char *msgs[] = {"not a JSON object", "not a JSON object", "not a JSON object", "no alg",
                          "crit", "kid must be", "not supported", "not a JSON object", "HMAC"};
    for (size_t i = 0; i < WR_ARRAY_LEN(hdrs); i++) {
        char *t = token_hdr(rsa_key, hdrs[i], "RS256", cl);
        expect(k, t, &r, WEIR_EINVAL, msgs[i]);
        free(t);
    }
    /* payload that is not JSON, or not an object, but correctly signed */
    char *t = token(rsa_key, "RS256", "r1", "not json at all");
    expect(k, t, &r, WEIR_EINVAL, "payload is not a JSON object");
    free(t);
    t = token(rsa_key, "RS256", "r1", "[1,2]");
    expect(k, t, &r, WEIR_EINVAL, "payload is not a JSON object");
    free(t);
    t = token(rsa_key, "RS256", "r1", "{\"iss\":\"" ISS "\",\"aud\":\"weir\",\"exp\":\"soon\"}");
    expect(k, t, &r, WEIR_EINVAL, "exp is not a number");
    free(t);
    /* huge token, empty token */
    char *big = malloc(WR_JWT_MAX_TOKEN + 2);
    memset(big, 'A', WR_JWT_MAX_TOKEN + 1);
    big[WR_JWT_MAX_TOKEN + 1] = '\0';
    expect(k, big, &r, WEIR_ELIMIT, "limit");
    free(big);
    expect(k, "", &r, WEIR_EINVAL, "segment");
    free(cl);
    wr_jwks_unref(k);
}

/* ------------------------------------------------------------------ JWK Sets */

static int jwks_rc(const char *json, const char *want)
{
    wr_jwks *k = NULL;
    weir_error e = {0};
    int rc = wr_jwks_parse(&k, json, strlen(json), &e);
    if (rc == 0) {
        wr_jwks_unref(k);
        return 0;
    }
    assert_null(k);
    if (want && !strstr(e.text, want))
        fail_msg("message \"%s\" lacks \"%s\"", e.text, want);
    return rc;
}

static void test_jwks_refusals(void **state)
{
    (void)state;
    /* private material: RSA d, EC d, an oct key */
    char *a = jwk_json(rsa_key, "r1", ",\"d\":\"AQAB\""), *s = jwks2(a, NULL);
    assert_int_equal(jwks_rc(s, "private"), WEIR_EINVAL);
    free(a), free(s);
    a = jwk_json(ec_key, "e1", ",\"d\":\"AQAB\""), s = jwks2(a, NULL);
    assert_int_equal(jwks_rc(s, "private"), WEIR_EINVAL);
    free(a), free(s);
    assert_int_equal(jwks_rc("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", "private"), WEIR_EINVAL);
    /* shape */
    assert_int_equal(jwks_rc("[]", "\"keys\""), WEIR_EINVAL);
    assert_int_equal(jwks_rc("{\"keys\":{}}", "\"keys\""), WEIR_EINVAL);
    assert_int_equal(jwks_rc("{\"keys\":[", "not JSON"), WEIR_EINVAL);
    assert_int_equal(jwks_rc("{\"keys\":[]}", "no usable"), WEIR_ENOTFOUND);
    assert_int_equal(jwks_rc("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}", "invalid RSA"), WEIR_EINVAL);
    assert_int_equal(jwks_rc("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}", "invalid"), WEIR_EINVAL);
    /* n of 4k+1 characters: refused with a message, not cjose's assert() */
    assert_int_equal(jwks_rc("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AAAAA\",\"e\":\"AQAB\"}]}", "invalid RSA"), WEIR_EINVAL);
    assert_int_equal(jwks_rc("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAA\",\"y\":\"AA\"}]}", "invalid"), WEIR_EINVAL);
    /* not understood: skipped; all skipped is an error */
    assert_int_equal(jwks_rc("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}", "no usable"), WEIR_ENOTFOUND);
    a = jwk_json(rsa_key, "enc", ",\"alg\":\"RSA-OAEP\""), s = jwks2(a, NULL);
    assert_int_equal(jwks_rc(s, "no usable"), WEIR_ENOTFOUND);
    free(a), free(s);
    char *b = jwk_json(ec_key, "e1", NULL);
    a = jwk_json(rsa_key, "enc", ",\"use\":\"enc\""), s = jwks2(a, b);
    wr_jwks *k = parse_ok(s);
    assert_int_equal(wr_jwks_count(k), 1);
    assert_int_equal(wr_jwks_skipped(k), 1);
    assert_int_equal(wr_jwks_has_kid(k, "e1"), 1);
    assert_int_equal(wr_jwks_has_kid(k, "enc"), 0);
    wr_jwks_unref(k);
    free(a), free(s), free(b);
    /* weak RSA */
    EVP_PKEY *weak = EVP_RSA_gen(1024);
    a = jwk_json(weak, "w", NULL), s = jwks2(a, NULL);
    assert_int_equal(jwks_rc(s, "2048"), WEIR_EINVAL);
    free(a), free(s);
    EVP_PKEY_free(weak);
    /* limits: 101 keys; more than 1 MiB */
    b = jwk_json(ec_key, "e1", NULL);
    size_t bl = strlen(b);
    s = malloc(101 * (bl + 1) + 32);
    size_t n = (size_t)sprintf(s, "{\"keys\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)sprintf(s + n, "%s%s", i ? "," : "", b);
    sprintf(s + n, "]}");
    assert_int_equal(jwks_rc(s, "limit"), WEIR_ELIMIT);
    free(s), free(b);
    size_t big = WR_JWKS_MAX_BYTES + 16;
    s = malloc(big + 1);
    memset(s, ' ', big);
    s[big] = '\0';
    memcpy(s, "{\"keys\":[]}", 11);
    assert_int_equal(jwks_rc(s, "limit"), WEIR_ELIMIT);
    free(s);
}

/* ------------------------------------------------------------------ file source */

static void write_file(const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int wait_verify(wr_jwks_source *src, const char *t, const wr_jwt_rules *r, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        weir_error e = {0};
        if (wr_jwt_verify_source(src, t, strlen(t), r, NULL, &e) == 0)
            return 0;
        nap_ms(100);
    }
    return -1;
}

static void test_file_source(void **state)
{
    (void)state;
    char dir[] = "/tmp/weir-jwt-XXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    char *a = jwk_json(rsa_key, "r1", NULL), *b = jwk_json(rsa_key2, "r2", NULL);
    char *s1 = jwks2(a, NULL), *s2 = jwks2(a, b);
    write_file(path, s1);

    wr_jwks_source_opts o = WR_JWKS_SOURCE_OPTS_INIT;
    o.path = path;
    o.poll_seconds = 1;
    wr_jwks_source *src = NULL;
    weir_error e = {0};
    assert_int_equal(wr_jwks_source_new(&src, &o, &e), 0);
    wr_jwt_rules r = rules();
    char *cl = good_claims(), *t1 = token(rsa_key, "RS256", "r1", cl), *t2 = token(rsa_key2, "RS256", "r2", cl);
    assert_int_equal(wait_verify(src, t1, &r, 1), 0);
    assert_int_equal(wr_jwt_verify_source(src, t2, strlen(t2), &r, NULL, &e), WEIR_ENOTFOUND);

    write_file(path, s2); /* rotation: the new key appears */
    assert_int_equal(wait_verify(src, t2, &r, 30), 0);
    /* a broken file keeps the last good set */
    write_file(path, "{\"keys\": not json");
    sleep(3);
    assert_int_equal(wait_verify(src, t2, &r, 1), 0);
    unsigned long ok = 0, failed = 0;
    wr_jwks_source_stats(src, &ok, &failed);
    assert_true(ok >= 2);
    assert_true(failed >= 1);
    wr_jwks_source_free(src);

    /* missing file, bad options */
    char missing[620];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    o.path = missing;
    assert_int_equal(wr_jwks_source_new(&src, &o, &e), WEIR_EIO);
    assert_null(src);
    o.url = "https://example.com/keys";
    assert_int_equal(wr_jwks_source_new(&src, &o, &e), WEIR_EINVAL);
    unlink(path);
    rmdir(dir);
    free(a), free(b), free(s1), free(s2), free(cl), free(t1), free(t2);
}

/* ------------------------------------------------------------------ URL source */

typedef struct server {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    char *body; /* under mu */
    int status; /* under mu */
    atomic_int hits, stop;
} server;

static void *server_main(void *arg)
{
    server *sv = arg;
    while (!atomic_load(&sv->stop)) {
        struct pollfd p = {sv->fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[4096];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t got = recv(c, req + n, sizeof req - 1 - n, 0);
            if (got <= 0)
                break;
            n += (size_t)got;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        atomic_fetch_add(&sv->hits, 1);
        pthread_mutex_lock(&sv->mu);
        char head[256];
        int hl = snprintf(head, sizeof head, "HTTP/1.0 %d X\r\nContent-Type: application/json\r\n"
                                             "Content-Length: %zu\r\n\r\n", sv->status, strlen(sv->body));
        send(c, head, (size_t)hl, MSG_NOSIGNAL);
        send(c, sv->body, strlen(sv->body), MSG_NOSIGNAL);
        pthread_mutex_unlock(&sv->mu);
        close(c);
    }
    return NULL;
}

static void server_start(server *sv, const char *body)
{
    memset(sv, 0, sizeof *sv);
    pthread_mutex_init(&sv->mu, NULL);
    sv->body = strdup(body);
    sv->status = 200;
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sv->fd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(sv->fd, (struct sockaddr *)&a, &al);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

static void server_set(server *sv, int status, const char *body)
{
    pthread_mutex_lock(&sv->mu);
    free(sv->body);
    sv->body = strdup(body);
    sv->status = status;
    pthread_mutex_unlock(&sv->mu);
}

static void server_stop(server *sv)
{
    atomic_store(&sv->stop, 1);
    pthread_join(sv->th, NULL);
    close(sv->fd);
    free(sv->body);
    pthread_mutex_destroy(&sv->mu);
}

/* The fetch hook: a plain HTTP/1.0 GET to http://127.0.0.1:PORT/... */
static int test_fetch(void *ctx, const char *url, size_t max, int timeout, wr_buf *body,
                      weir_error *err)
{
    (void)ctx;
    int port = 0;
    if (sscanf(url, "http://127.0.0.1:%d/", &port) != 1)
        return wr_error_set(err, WEIR_EIO, url, 0, 0, "test fetch: unexpected URL");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {timeout, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return wr_error_set(err, WEIR_EIO, url, 0, 0, "connect: %s", strerror(errno));
    }
    const char req[] = "GET /jwks HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
    wr_buf raw;
    wr_buf_init(&raw);
    char chunk[4096];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0 && raw.len <= max + 4096)
        wr_buf_append(&raw, chunk, (size_t)n);
    close(fd);
    int rc = 0, status = 0;
    char *sep = raw.data ? strstr(raw.data, "\r\n\r\n") : NULL;
    if (!sep || sscanf(raw.data, "HTTP/1.%*d %d", &status) != 1 || status != 200)
        rc = wr_error_set(err, WEIR_EIO, url, 0, 0, "HTTP status %d", status);
    else if (raw.len - (size_t)(sep + 4 - raw.data) > max)
        rc = wr_error_set(err, WEIR_ELIMIT, url, 0, 0, "too large");
    else
        wr_buf_append(body, sep + 4, raw.len - (size_t)(sep + 4 - raw.data));
    wr_buf_free(&raw);
    return rc;
}

static void test_url_source(void **state)
{
    (void)state;
    char *a = jwk_json(rsa_key, "r1", NULL), *b = jwk_json(ec_key, "e2", NULL);
    char *s1 = jwks2(a, NULL), *s2 = jwks2(a, b);
    server sv;
    server_start(&sv, s1);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks", sv.port);

    wr_jwks_source_opts o = WR_JWKS_SOURCE_OPTS_INIT;
    o.url = url;
    o.fetch = test_fetch;
    wr_jwks_source *src = NULL;
    weir_error e = {0};
    assert_int_equal(wr_jwks_source_new(&src, &o, &e), 0);
    assert_int_equal(atomic_load(&sv.hits), 1);
    wr_jwt_rules r = rules();
    char *cl = good_claims(), *t1 = token(rsa_key, "RS256", "r1", cl), *t2 = token(ec_key, "ES256", "e2", cl);
    assert_int_equal(wr_jwt_verify_source(src, t1, strlen(t1), &r, NULL, &e), 0);

    /* the IdP rotates in e2; the first request with it is refused now and triggers a
       refresh; a later one succeeds */
    server_set(&sv, 200, s2);
    assert_int_equal(wr_jwt_verify_source(src, t2, strlen(t2), &r, NULL, &e), WEIR_ENOTFOUND);
    assert_int_equal(wait_verify(src, t2, &r, 30), 0);
    assert_int_equal(atomic_load(&sv.hits), 2);
    /* rate limit: more unknown kids within 30 s fetch nothing */
    char *t3 = token(ec_key, "ES256", "nope", cl);
    for (int i = 0; i < 5; i++)
        assert_int_equal(wr_jwt_verify_source(src, t3, strlen(t3), &r, NULL, &e), WEIR_ENOTFOUND);
    assert_int_equal(wr_jwks_source_kick(src), 0);
    sleep(2);
    assert_int_equal(atomic_load(&sv.hits), 2);
    wr_jwks_source_free(src);

    /* periodic refresh; a failing endpoint keeps the last good set */
    o.refresh_seconds = 1;
    assert_int_equal(wr_jwks_source_new(&src, &o, &e), 0);
    server_set(&sv, 500, "oops");
    unsigned long ok = 0, failed = 0;
    for (int i = 0; i < 300 && failed == 0; i++) {
        nap_ms(100);
        wr_jwks_source_stats(src, &ok, &failed);
    }
    assert_true(failed >= 1);
    assert_int_equal(wr_jwt_verify_source(src, t2, strlen(t2), &r, NULL, &e), 0);
    wr_jwks_source_free(src);

    /* the first load failing fails the source */
    assert_int_equal(wr_jwks_source_new(&src, &o, &e), WEIR_EIO);
    assert_null(src);
    server_stop(&sv);
    free(a), free(b), free(s1), free(s2), free(cl), free(t1), free(t2), free(t3);
}

static void test_url_rules(void **state)
{
    (void)state;
    const char *bad[] = {"http://example.com/keys", "http://127.0.0.1@evil.example/keys",
                         "http://127.0.0.1.evil.example/keys", "ftp://127.0.0.1/keys",
                         "https://user:pw@login.example/keys", "https://", "http://10.0.0.1/k",
                         "https://login.example/ keys"};
    for (size_t i = 0; i < WR_ARRAY_LEN(bad); i++) {
        wr_jwks_source_opts o = WR_JWKS_SOURCE_OPTS_INIT;
        o.url = bad[i];
        o.fetch = test_fetch;
        wr_jwks_source *src = NULL;
        weir_error e = {0};
        if (wr_jwks_source_new(&src, &o, &e) != WEIR_EINVAL)
            fail_msg("%s accepted", bad[i]);
        assert_null(src);
    }
    /* https anywhere and http to loopback pass the URL check (and reach the fetch hook) */
    const char *good[] = {"https://login.microsoftonline.com/t/discovery/v2.0/keys",
                          "http://localhost:1/keys", "http://[::1]:1/keys", "http://127.0.0.2:1/k"};
    for (size_t i = 0; i < WR_ARRAY_LEN(good); i++) {
        wr_jwks_source_opts o = WR_JWKS_SOURCE_OPTS_INIT;
        o.url = good[i];
        o.fetch = test_fetch; /* refuses anything but http://127.0.0.1:PORT/ with EIO */
        wr_jwks_source *src = NULL;
        weir_error e = {0};
        assert_int_equal(wr_jwks_source_new(&src, &o, &e), WEIR_EIO);
    }
    wr_jwks_source_opts o = WR_JWKS_SOURCE_OPTS_INIT;
    o.url = "https://login.example/keys";
    wr_jwks_source *src = NULL;
    assert_int_equal(wr_jwks_source_new(&src, &o, NULL), WEIR_EINVAL); /* no fetch hook */
}

/* ------------------------------------------------------------------ principal */

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_principal(void **state)
{
    (void)state;
    char out[256];
    weir_error e = {0};
    static const wr_jwt_map_entry table[] = {
        {"system:serviceaccount:team-a:builder", "arn:aws:iam::111122223333:role/builder"},
        {"Reader", "arn:aws:iam::111122223333:role/reader"},
        {"Writer", "arn:aws:iam::111122223333:role/writer"},
    };
    json_t *k8s = J("{\"sub\":\"system:serviceaccount:team-a:builder\"}");
    json_t *other = J("{\"sub\":\"system:serviceaccount:team-b:x\"}");
    json_t *entra = J("{\"oid\":\"9f2c-aa\",\"azp\":\"app-1\",\"roles\":[\"Nope\",\"Writer\",\"Reader\"]}");
    json_t *inject = J("{\"oid\":\"a:b/../x\",\"sub\":\"system:serviceaccount:a/b:c\"}");

    wr_jwt_map m = {WR_JWT_CLAIM_SUB, table, 3, NULL};
    assert_int_equal(wr_jwt_principal(k8s, &m, out, sizeof out, &e), 0);
    assert_string_equal(out, "arn:aws:iam::111122223333:role/builder");
    assert_int_equal(wr_jwt_principal(other, &m, out, sizeof out, &e), WEIR_ENOTFOUND);
    assert_non_null(strstr(e.text, "sub is not mapped"));
    assert_null(strstr(e.text, "team-b"));
    assert_string_equal(out, "");

    /* template with the service account's namespace and name */
    m.tmpl = "arn:aws:iam::111122223333:role/{namespace}-{name}";
    assert_int_equal(wr_jwt_principal(other, &m, out, sizeof out, &e), 0);
    assert_string_equal(out, "arn:aws:iam::111122223333:role/team-b-x");
    assert_int_equal(wr_jwt_principal(k8s, &m, out, sizeof out, &e), 0); /* table first */
    assert_string_equal(out, "arn:aws:iam::111122223333:role/builder");
    m.tmpl = "arn:aws:iam::111122223333:role/{value}"; /* ':' in the subject is refused */
    assert_int_equal(wr_jwt_principal(other, &m, out, sizeof out, &e), WEIR_EINVAL);

    wr_jwt_map mo = {WR_JWT_CLAIM_OID, NULL, 0, "arn:aws:iam::111122223333:role/entra-{value}"};
    assert_int_equal(wr_jwt_principal(entra, &mo, out, sizeof out, &e), 0);
    assert_string_equal(out, "arn:aws:iam::111122223333:role/entra-9f2c-aa");
    /* injection: ':' and '/' would add ARN segments */
    assert_int_equal(wr_jwt_principal(inject, &mo, out, sizeof out, &e), WEIR_EINVAL);
    assert_non_null(strstr(e.text, "outside"));
    assert_null(strstr(e.text, "a:b"));
    assert_string_equal(out, "");
    m.tmpl = "arn:aws:iam::111122223333:role/{namespace}-{name}";
    m.table = NULL, m.table_len = 0;
    assert_int_equal(wr_jwt_principal(inject, &m, out, sizeof out, &e), WEIR_EINVAL);
    assert_int_equal(wr_jwt_principal(k8s, &mo, out, sizeof out, &e), WEIR_ENOTFOUND); /* no oid */

    wr_jwt_map ma = {WR_JWT_CLAIM_APPID, NULL, 0, "arn:aws:iam::111122223333:role/{value}"};
    assert_int_equal(wr_jwt_principal(entra, &ma, out, sizeof out, &e), 0); /* azp (v2) */
    assert_string_equal(out, "arn:aws:iam::111122223333:role/app-1");

    wr_jwt_map mr = {WR_JWT_CLAIM_ROLES, table, 3, NULL};
    assert_int_equal(wr_jwt_principal(entra, &mr, out, sizeof out, &e), 0); /* first mapped */
    assert_string_equal(out, "arn:aws:iam::111122223333:role/writer");
    assert_int_equal(wr_jwt_principal(k8s, &mr, out, sizeof out, &e), WEIR_ENOTFOUND);

    /* small buffer, bad template, no table and no template */
    assert_int_equal(wr_jwt_principal(entra, &mr, out, 10, &e), WEIR_ELIMIT);
    wr_jwt_map mb = {WR_JWT_CLAIM_OID, NULL, 0, "arn:{oid}"};
    assert_int_equal(wr_jwt_principal(entra, &mb, out, sizeof out, &e), WEIR_EINVAL);
    wr_jwt_map mn = {WR_JWT_CLAIM_OID, NULL, 0, NULL};
    assert_int_equal(wr_jwt_principal(entra, &mn, out, sizeof out, &e), WEIR_EINVAL);
    json_decref(k8s), json_decref(other), json_decref(entra), json_decref(inject);
}

/* End to end: a verified Entra-style token to a principal. */
static void test_entra_end_to_end(void **state)
{
    (void)state;
    wr_jwks *k = std_keys();
    const char *tenant_iss = "https://login.microsoftonline.com/72f988bf/v2.0";
    const char *const aud[] = {"api://weir", NULL};
    wr_jwt_rules r = rules();
    r.issuer = tenant_iss;
    r.audiences = aud;
    char cl[512];
    snprintf(cl, sizeof cl, "{\"iss\":\"%s\",\"aud\":\"api://weir\",\"exp\":%ld,\"iat\":%ld,\"nbf\":%ld,"
             "\"oid\":\"1f0e\",\"azp\":\"c0ffee\",\"roles\":[\"Weir.Caller\"],\"ver\":\"2.0\"}",
             tenant_iss, (long)NOW + 3600, (long)NOW, (long)NOW);
    char *t = token(rsa_key, "RS256", "r1", cl);
    json_t *c = NULL;
    weir_error e = {0};
    assert_int_equal(wr_jwt_verify(k, t, strlen(t), &r, &c, &e), 0);
    static const wr_jwt_map_entry table[] = {{"Weir.Caller", "arn:aws:iam::111122223333:role/llm-caller"}};
    wr_jwt_map m = {WR_JWT_CLAIM_ROLES, table, 1, NULL};
    char out[128];
    assert_int_equal(wr_jwt_principal(c, &m, out, sizeof out, &e), 0);
    assert_string_equal(out, "arn:aws:iam::111122223333:role/llm-caller");
    json_decref(c);
    free(t);
    wr_jwks_unref(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256_valid),
        cmocka_unit_test(test_es256_ps256_rs512_valid),
        cmocka_unit_test(test_no_kid),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_iss_aud),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_hs256_with_public_key),
        cmocka_unit_test(test_key_type_mismatch),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_malformed_header_and_payload),
        cmocka_unit_test(test_jwks_refusals),
        cmocka_unit_test(test_file_source),
        cmocka_unit_test(test_url_source),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_principal),
        cmocka_unit_test(test_entra_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
