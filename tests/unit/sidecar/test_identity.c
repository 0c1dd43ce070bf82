/* test_identity.c - identity configuration, trusted-peer blocks, caller regions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sidecar/config.h"
#include "sidecar/identity.h"

#include <openssl/evp.h>

static wr_sc_config *parse(const char *identity_yaml, weir_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "upstreams:\n"
             "  - name: b\n"
             "    kind: bedrock\n"
             "    listen: 127.0.0.1:0\n"
             "    region: eu-central-1\n"
             "%s",
             identity_yaml);
    wr_sc_config *c = NULL;
    memset(err, 0, sizeof *err);
    if (wr_sc_config_parse(buf, strlen(buf), "t.yaml", &c, err) != 0)
        return NULL;
    return c;
}

static void test_identity_config(void **state)
{
    (void)state;
    weir_error err;
    wr_sc_config *c = parse("", &err);
    assert_non_null(c);
    assert_int_equal(c->up[0].identity.source, WR_ID_STATIC);
    wr_sc_config_free(c);

    c = parse("    identity:\n      source: header\n      header: x-caller\n"
              "      trusted_peers: [127.0.0.1, 10.0.0.0/8, '::1']\n", &err);
    assert_non_null(c);
    assert_int_equal(c->up[0].identity.source, WR_ID_HEADER);
    assert_string_equal(c->up[0].identity.header, "x-caller");
    assert_int_equal(c->up[0].identity.ntrusted, 3);
    wr_sc_config_free(c);

    c = parse("    identity:\n      source: jwt\n      jwks_file: /etc/weir/jwks.json\n"
              "      issuer: https://oidc.eks.eu-central-1.amazonaws.com/id/X\n"
              "      audiences: sts.amazonaws.com\n"
              "      principals:\n"
              "        'system:serviceaccount:pay:api': arn:aws:iam::111122223333:role/pay-api\n",
              &err);
    assert_non_null(c);
    assert_string_equal(c->up[0].identity.claim, "sub");
    assert_int_equal(c->up[0].identity.leeway_seconds, 60);
    assert_int_equal(c->up[0].identity.naudiences, 1);
    assert_int_equal(c->up[0].identity.nprincipals, 1);
    wr_sc_config_free(c);

    c = parse("    identity:\n      source: sts\n      cluster_id: prod\n"
              "      token_max_age_seconds: 900\n", &err);
    assert_non_null(c);
    assert_int_equal(c->up[0].identity.token_max_age_seconds, 900);
    assert_string_equal(c->up[0].identity.cluster_id, "prod");
    wr_sc_config_free(c);

    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"    identity:\n      source: header\n", "trusted_peers"},
        {"    identity:\n      source: header\n      trusted_peers: [nope]\n", "invalid trusted peer"},
        {"    identity:\n      source: header\n      trusted_peers: [10.0.0.0/33]\n", "invalid trusted peer"},
        {"    identity:\n      source: magic\n", "source"},
        {"    identity:\n      header: x\n", "needs 'source'"},
        {"    identity:\n      source: static\n      issuer: x\n", "does not apply"},
        {"    identity:\n      source: jwt\n      issuer: i\n      audiences: [a]\n"
         "      principal_template: 'arn:aws:iam::1:role/{value}'\n", "exactly one of"},
        {"    identity:\n      source: jwt\n      jwks_url: http://example.com/jwks\n"
         "      issuer: i\n      audiences: [a]\n"
         "      principal_template: 'arn:aws:iam::1:role/{value}'\n", "https"},
        {"    identity:\n      source: jwt\n      jwks_file: f\n      issuer: i\n"
         "      audiences: [a]\n", "principals"},
        {"    identity:\n      source: jwt\n      jwks_file: f\n      issuer: i\n"
         "      audiences: [a]\n      principal_template: 'role/{value}'\n", "ARN"},
        {"    identity:\n      source: jwt\n      jwks_file: f\n      audiences: [a]\n"
         "      principal_template: 'arn:aws:iam::1:role/{value}'\n", "issuer"},
        {"    identity:\n      source: jwt\n      jwks_file: f\n      issuer: i\n"
         "      audiences: [a]\n      principals: { x: not-an-arn }\n", "invalid principal"},
        {"    identity:\n      source: sts\n      sts_endpoint: ftp://x\n", "https"},
        {"    identity:\n      source: sts\n      token_max_age_seconds: 3600\n",
         "token_max_age_seconds"},
        {"    identity:\n      source: jwt\n      token_max_age_seconds: 60\n", "does not apply"},
        {"    identity:\n      source: jwt\n      jwks_file: f\n      issuer: i\n      audiences: [a]\n"
         "      leeway_seconds: 900\n      principal_template: 'arn:aws:iam::1:role/{value}'\n",
         "leeway_seconds"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = parse(bad[i].yaml, &err);
        if (c || !strstr(err.text, bad[i].want))
            fail_msg("case %zu: want an error about '%s', got '%s'", i, bad[i].want, err.text);
        assert_true(err.line > 0);
    }
}

static void test_cidr(void **state)
{
    (void)state;
    weir_error err;
    wr_sc_config *c = parse("    identity:\n      source: header\n"
                            "      trusted_peers: [10.0.0.0/8, 192.168.1.7, 'fd00::/8']\n", &err);
    assert_non_null(c);
    const wr_sc_identity *id = &c->up[0].identity;
    assert_true(wr_sc_cidr_match(id->trusted, id->ntrusted, "10.1.2.3"));
    assert_true(wr_sc_cidr_match(id->trusted, id->ntrusted, "192.168.1.7"));
    assert_true(wr_sc_cidr_match(id->trusted, id->ntrusted, "::ffff:10.9.9.9"));
    assert_true(wr_sc_cidr_match(id->trusted, id->ntrusted, "fd12::1"));
    assert_false(wr_sc_cidr_match(id->trusted, id->ntrusted, "11.0.0.1"));
    assert_false(wr_sc_cidr_match(id->trusted, id->ntrusted, "192.168.1.8"));
    assert_false(wr_sc_cidr_match(id->trusted, id->ntrusted, "127.0.0.1"));
    assert_false(wr_sc_cidr_match(id->trusted, id->ntrusted, "fe80::1"));
    assert_false(wr_sc_cidr_match(id->trusted, id->ntrusted, "garbage"));
    assert_false(wr_sc_cidr_match(id->trusted, id->ntrusted, NULL));
    wr_sc_config_free(c);
}

static void test_caller_region(void **state)
{
    (void)state;
    char r[64];
    wr_sc_caller_region("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/bedrock/"
                        "aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
                        r, sizeof r);
    assert_string_equal(r, "eu-west-1");
    wr_sc_caller_region("AWS4-HMAC-SHA256 SignedHeaders=host, Credential=AK/20260101/us-gov-west-1/"
                        "bedrock/aws4_request, Signature=abc", r, sizeof r);
    assert_string_equal(r, "us-gov-west-1");
    wr_sc_caller_region("Bearer sk-abc", r, sizeof r);
    assert_string_equal(r, "");
    wr_sc_caller_region(NULL, r, sizeof r);
    assert_string_equal(r, "");
    wr_sc_caller_region("AWS4-HMAC-SHA256 Credential=broken", r, sizeof r);
    assert_string_equal(r, "");
    /* a Bedrock API key: base64 of a presigned URL whose credential scope names the region */
    const char *url = "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-"
                      "SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fap-southeast-2%2Fbedrock%2F"
                      "aws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=43200&Version=1";
    unsigned char b64[1024];
    int n = EVP_EncodeBlock(b64, (const unsigned char *)url, (int)strlen(url));
    char hdr[1200];
    snprintf(hdr, sizeof hdr, "Bearer bedrock-api-key-%.*s", n, b64);
    wr_sc_caller_region(hdr, r, sizeof r);
    assert_string_equal(r, "ap-southeast-2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_config),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_caller_region),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
