/* Access (roles, models) and residency (regions, inference profiles, Azure) decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

#include "policy/policy.h"
#include "weir/weir.h"

/* The decisive rule id of a check, or "allow". */
static const char *verdict(const weir_policy *p, const weir_context *ctx)
{
    static char buf[128];
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, ctx, "hello", 5, NULL), 0);
    const weir_finding *f = weir_result_decisive(r);
    snprintf(buf, sizeof buf, "%s", f ? f->rule : weir_action_name(weir_result_action(r)));
    weir_result_free(r);
    return buf;
}

static void test_arn_match(void **state)
{
    (void)state;
    assert_true(wr_arn_match("arn:aws:iam::111122223333:role/llm-*",
                             "arn:aws:iam::111122223333:role/llm-app"));
    /* '*' never crosses an ARN segment */
    assert_false(wr_arn_match("arn:aws:iam::*:role/llm-*",
                              "arn:aws:iam::1:x:role/llm-app"));
    assert_false(wr_arn_match("arn:aws:iam::111122223333:role/llm-*",
                              "arn:aws:iam::999999999999:role/llm-app"));
    /* assumed-role sessions map to their role */
    assert_true(wr_arn_match("arn:aws:iam::111122223333:role/llm-*",
                             "arn:aws:sts::111122223333:assumed-role/llm-app/i-0abc"));
    /* an assumed-role ARN has no path: an entry with a path matches on account + name */
    assert_true(wr_arn_match("arn:aws:iam::111122223333:role/team/ml/llm-app",
                             "arn:aws:sts::111122223333:assumed-role/llm-app/session"));
    assert_false(wr_arn_match("arn:aws:iam::111122223333:role/team/ml/llm-app",
                              "arn:aws:sts::444455556666:assumed-role/llm-app/session"));
    /* partitions are part of the ARN */
    assert_true(wr_arn_match("arn:aws-cn:iam::*:role/app",
                             "arn:aws-cn:sts::111122223333:assumed-role/app/s"));
    assert_false(wr_arn_match("arn:aws:iam::*:role/app",
                              "arn:aws-cn:sts::111122223333:assumed-role/app/s"));
}

static void test_roles_and_models(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: access\naccess:\n"
                          "  roles:\n"
                          "    allow: ['arn:aws:iam::111122223333:role/llm-*']\n"
                          "    deny: ['arn:aws:iam::*:role/llm-intern-*']\n"
                          "  models:\n"
                          "    allow: ['anthropic.claude-*', 'openai.gpt-oss-*', 'gpt-5.5']\n"
                          "    deny: ['anthropic.claude-instant-*']\n");
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.principal = "arn:aws:iam::111122223333:role/llm-app";
    ctx.model = "anthropic.claude-3-haiku-20240307-v1:0";
    assert_string_equal(verdict(p, &ctx), "allow");

    ctx.principal = "arn:aws:sts::111122223333:assumed-role/llm-app/pod-7";
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.principal = "arn:aws:iam::111122223333:role/llm-intern-bob";
    assert_string_equal(verdict(p, &ctx), "access.roles");
    ctx.principal = "arn:aws:iam::111122223333:role/analytics";
    assert_string_equal(verdict(p, &ctx), "access.roles");
    ctx.principal = NULL;
    assert_string_equal(verdict(p, &ctx), "access.roles");

    ctx.principal = "arn:aws:iam::111122223333:role/llm-app";
    ctx.model = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"; /* profile prefix stripped */
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.model = "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.model = "anthropic.claude-instant-v1";
    assert_string_equal(verdict(p, &ctx), "access.models");
    ctx.model = "meta.llama3-70b-instruct-v1:0";
    assert_string_equal(verdict(p, &ctx), "access.models");
    ctx.model = "gpt-5.5";
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.model = NULL;
    assert_string_equal(verdict(p, &ctx), "access.models");
    weir_policy_unref(p);
}

static const char *EU =
    "weir: 1\nname: eu\nresidency:\n"
    "  aws_regions: [eu-central-1, eu-west-1, eu-west-3]\n"
    "  azure_regions: [swedencentral, westeurope]\n"
    "  azure_deployment_types: [standard, datazone]\n";

static void test_aws_residency(void **state)
{
    (void)state;
    weir_policy *p = load(EU);
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.provider = WEIR_PROVIDER_BEDROCK;
    ctx.region = "eu-central-1";
    ctx.model = "anthropic.claude-3-haiku-20240307-v1:0";
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.region = "us-east-1";
    assert_string_equal(verdict(p, &ctx), "residency.aws_regions");
    ctx.region = NULL;
    assert_string_equal(verdict(p, &ctx), "residency.aws_regions");

    ctx.region = "eu-central-1";
    static const struct {
        const char *model;
        const char *want;
    } cases[] = {
        {"eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "allow"},
        {"us.anthropic.claude-3-7-sonnet-20250219-v1:0", "residency.aws_inference_profiles"},
        {"global.anthropic.claude-sonnet-4-20250514-v1:0", "residency.aws_inference_profiles"},
        {"apac.amazon.nova-pro-v1:0", "residency.aws_inference_profiles"},
        {"us-gov.anthropic.claude-3-haiku-20240307-v1:0", "residency.aws_inference_profiles"},
        {"jp.anthropic.claude-3-haiku-20240307-v1:0", "residency.aws_inference_profiles"},
        {"arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.amazon.nova-lite-v1:0",
         "allow"},
        {"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
         "residency.aws_regions"},
        {"arn:aws:bedrock:eu-central-1:111122223333:inference-profile/us.amazon.nova-lite-v1:0",
         "residency.aws_inference_profiles"},
        {"amazon.titan-text-express-v1", "allow"},
        {"openai.gpt-oss-120b-1:0", "allow"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx.model = cases[i].model;
        const char *got = verdict(p, &ctx);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("model %s: want %s, got %s", cases[i].model, cases[i].want, got);
    }
    weir_policy_unref(p);

    /* an explicit profile list overrides the derivation */
    p = load("weir: 1\nname: strict\nresidency:\n  aws_regions: [eu-central-1]\n"
             "  aws_inference_profiles: []\n");
    ctx.model = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0";
    assert_string_equal(verdict(p, &ctx), "residency.aws_inference_profiles");
    weir_policy_unref(p);
}

static void test_azure_residency(void **state)
{
    (void)state;
    weir_policy *p = load(EU);
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.provider = WEIR_PROVIDER_AZURE;
    ctx.region = "swedencentral";
    ctx.model = "gpt-4o";
    ctx.deployment_type = "datazone";
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.deployment_type = "DataZoneStandard"; /* the ARM SKU name */
    assert_string_equal(verdict(p, &ctx), "allow");
    ctx.deployment_type = "GlobalStandard";
    assert_string_equal(verdict(p, &ctx), "residency.azure_deployment_types");
    ctx.deployment_type = NULL;
    assert_string_equal(verdict(p, &ctx), "residency.azure_deployment_types");
    ctx.deployment_type = "standard";
    ctx.region = "eastus";
    assert_string_equal(verdict(p, &ctx), "residency.azure_regions");
    /* an AWS-looking model name on Azure is not an inference profile */
    ctx.region = "westeurope";
    ctx.model = "us.whatever";
    assert_string_equal(verdict(p, &ctx), "allow");
    weir_policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arn_match),
        cmocka_unit_test(test_roles_and_models),
        cmocka_unit_test(test_aws_residency),
        cmocka_unit_test(test_azure_residency),
    };
    return cmocka_run_group_tests_name("engine/access", tests, NULL, NULL);
}
