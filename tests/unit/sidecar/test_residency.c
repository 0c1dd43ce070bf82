/*
 * test_residency.c - region pinning over real names: every Bedrock region's endpoint host
 * forms (regional, FIPS, dual-stack, VPC endpoint) must agree with the listener's region,
 * and every model id form (foundation model ARN per region, each cross-region inference
 * profile prefix) is judged by the EU-residency policy as reference/bedrock.md says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sidecar/config.h"
#include "weir/weir.h"

/* reference/bedrock.md §1, botocore endpoints.json (service bedrock), commercial + GovCloud */
static const char *const regions[] = {
    "af-south-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    "us-gov-east-1", "us-gov-west-1"};
#define NREG (sizeof regions / sizeof regions[0])

static int load(const char *region, const char *endpoint, weir_error *err)
{
    char y[1024];
    snprintf(y, sizeof y,
             "upstreams:\n  - name: b\n    kind: bedrock\n    listen: 127.0.0.1:0\n"
             "    region: %s\n    endpoint: %s\n",
             region, endpoint);
    wr_sc_config *c = NULL;
    memset(err, 0, sizeof *err);
    int rc = wr_sc_config_parse(y, strlen(y), "t.yaml", &c, err);
    wr_sc_config_free(c);
    return rc;
}

static void test_endpoint_hosts(void **state)
{
    (void)state;
    static const struct {
        const char *before, *after;
    } forms[] = {{"https://bedrock-runtime.", ".amazonaws.com"},
                 {"https://bedrock-runtime-fips.", ".amazonaws.com"},
                 {"https://bedrock-runtime.", ".api.aws"},
                 {"https://bedrock-runtime-fips.", ".api.aws"},
                 {"https://vpce-0a1b2c3d4e5f-abcd1234.bedrock-runtime.", ".vpce.amazonaws.com"}};
    size_t checked = 0;
    for (size_t i = 0; i < NREG; i++) {
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            char ep[256];
            snprintf(ep, sizeof ep, "%s%s%s", forms[f].before, regions[i], forms[f].after);
            weir_error err;
            if (load(regions[i], ep, &err) != 0)
                fail_msg("%s in %s refused: %s", ep, regions[i], err.text);
            /* the same host under any other listener region is refused, and says which */
            const char *other = regions[(i + 7) % NREG];
            if (load(other, ep, &err) == 0)
                fail_msg("%s accepted for a listener in %s", ep, other);
            assert_non_null(strstr(err.text, regions[i]));
            checked++;
        }
    }
    assert_int_equal(checked, NREG * 5);
}

static const char *verdict_rule(const weir_policy *p, const char *region, const char *model)
{
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.provider = WEIR_PROVIDER_BEDROCK;
    ctx.region = region;
    ctx.model = model;
    weir_result *r = NULL;
    weir_error err = {0};
    assert_int_equal(weir_check(&r, p, &ctx, "hello", 5, &err), 0);
    static char rule[64];
    const weir_finding *f = weir_result_decisive(r);
    snprintf(rule, sizeof rule, "%s", weir_result_action(r) == WEIR_BLOCK && f ? f->rule : "allow");
    weir_result_free(r);
    return rule;
}

static void test_models_under_eu_residency(void **state)
{
    (void)state;
    char path[512];
    const char *src = getenv("WEIR_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/policies/eu-residency.yaml", src ? src : ".");
    weir_policy *p = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_file(&p, path, &err), 0);

    /* listener regions: allowed exactly when the policy lists them */
    static const char *const listed[] = {"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-3",
                                         "eu-north-1", "eu-south-1", "eu-south-2"};
    for (size_t i = 0; i < NREG; i++) {
        int allowed = 0;
        for (size_t k = 0; k < sizeof listed / sizeof listed[0]; k++)
            allowed |= strcmp(listed[k], regions[i]) == 0;
        const char *v = verdict_rule(p, regions[i], "anthropic.claude-3-haiku-20240307-v1:0");
        if (strcmp(v, allowed ? "allow" : "residency.aws_regions") != 0)
            fail_msg("region %s: %s", regions[i], v);
        /* a foundation-model ARN naming a region, called from an allowed listener */
        char arn[200];
        snprintf(arn, sizeof arn,
                 "arn:aws:bedrock:%s::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                 regions[i]);
        v = verdict_rule(p, "eu-central-1", arn);
        if (strcmp(v, allowed ? "allow" : "residency.aws_regions") != 0)
            fail_msg("model ARN in %s: %s", regions[i], v);
    }
    /* cross-region inference profile prefixes: only eu. stays in the EU */
    static const struct {
        const char *prefix;
        int allowed;
    } geo[] = {{"us.", 0}, {"eu.", 1}, {"apac.", 0}, {"jp.", 0}, {"au.", 0},
               {"us-gov.", 0}, {"global.", 0}, {"ca.", 0}};
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        char id[200], arn[300];
        snprintf(id, sizeof id, "%santhropic.claude-3-7-sonnet-20250219-v1:0", geo[g].prefix);
        snprintf(arn, sizeof arn, "arn:aws:bedrock:eu-central-1:111122223333:inference-profile/%s",
                 id);
        const char *want = geo[g].allowed ? "allow" : "residency.aws_inference_profiles";
        if (strcmp(verdict_rule(p, "eu-central-1", id), want) != 0)
            fail_msg("profile id %s: %s", id, verdict_rule(p, "eu-central-1", id));
        if (strcmp(verdict_rule(p, "eu-central-1", arn), want) != 0)
            fail_msg("profile ARN %s: %s", arn, verdict_rule(p, "eu-central-1", arn));
    }
    weir_policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_hosts),
        cmocka_unit_test(test_models_under_eu_residency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
