/* Decisions, monitor mode, rule conditions, limits: weir_check as an application sees it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

#include "weir/weir.h"

static weir_result *check(const weir_policy *p, const weir_context *ctx, const char *text)
{
    weir_result *r = NULL;
    weir_error err = {0};
    assert_int_equal(weir_check(&r, p, ctx, text, strlen(text), &err), 0);
    assert_non_null(r);
    return r;
}

static const char *redacted(const weir_result *r)
{
    const char *t = weir_result_text(r, NULL);
    return t ? t : "(unchanged)";
}

static const char *POLICY_COMBINE =
    "weir: 1\n"
    "name: combine\n"
    "rules:\n"
    "  - id: emails\n"
    "    detect: email\n"
    "    action: redact\n"
    "  - id: codenames\n"
    "    detect: { regex: '\\bProject\\s+(Nightingale|Falcon)\\b', caseless: true, label: CODENAME }\n"
    "    action: block\n"
    "    message: Codenames stay internal\n"
    "  - id: tickets\n"
    "    detect: { regex: 'TICKET-[0-9]{4}' }\n"
    "    action: log\n";

static void test_strictest_action_wins(void **state)
{
    (void)state;
    weir_policy *p = load(POLICY_COMBINE);

    weir_result *r = check(p, NULL, "Nothing to see here.");
    assert_int_equal(weir_result_action(r), WEIR_ALLOW);
    assert_int_equal(weir_result_finding_count(r), 0);
    assert_null(weir_result_text(r, NULL));
    assert_null(weir_result_message(r));
    weir_result_free(r);

    r = check(p, NULL, "See TICKET-1234.");
    assert_int_equal(weir_result_action(r), WEIR_LOG);
    assert_int_equal(weir_result_finding_count(r), 1);
    assert_null(weir_result_text(r, NULL)); /* log never alters the text */
    weir_result_free(r);

    r = check(p, NULL, "Mail jane.doe@example.com about TICKET-1234.");
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    assert_string_equal(redacted(r), "Mail [EMAIL] about TICKET-1234.");
    assert_int_equal(weir_result_finding_count(r), 2);
    const weir_finding *f = weir_result_finding(r, 0);
    assert_string_equal(f->rule, "emails");
    assert_string_equal(f->detector, "email");
    assert_string_equal(f->entity, "EMAIL");
    assert_int_equal(f->start, 5);
    assert_int_equal(f->end, 25);
    weir_result_free(r);

    r = check(p, NULL, "Mail jane.doe@example.com about project   falcon and TICKET-1234.");
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    assert_int_equal(weir_result_finding_count(r), 3); /* every matched rule is recorded */
    assert_null(weir_result_text(r, NULL));           /* nothing is forwarded on a block */
    const weir_finding *d = weir_result_decisive(r);
    assert_non_null(d);
    assert_string_equal(d->rule, "codenames");
    assert_non_null(strstr(weir_result_message(r), "Codenames stay internal"));
    assert_null(strstr(weir_result_message(r), "falcon")); /* never the matched value */
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_policy_monitor_mode(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: shadow\nmode: monitor\nrules:\n"
                          "  - id: emails\n    detect: email\n    action: redact\n"
                          "  - id: secret\n    detect: { regex: 'hunter2' }\n    action: block\n");
    weir_result *r = check(p, NULL, "hunter2 and a@example.com");
    assert_int_equal(weir_result_action(r), WEIR_LOG);
    assert_int_equal(weir_result_enforced_action(r), WEIR_BLOCK);
    assert_null(weir_result_text(r, NULL));
    assert_null(weir_result_message(r));
    for (size_t i = 0; i < weir_result_finding_count(r); i++)
        assert_int_equal(weir_result_finding(r, i)->monitor, 1);
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_rule_monitor_mode(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: trial\nrules:\n"
                          "  - id: emails\n    detect: email\n    action: redact\n"
                          "  - id: candidate\n    detect: { regex: 'hunter2' }\n"
                          "    action: block\n    mode: monitor\n");
    weir_result *r = check(p, NULL, "hunter2 and a@example.com");
    assert_int_equal(weir_result_action(r), WEIR_REDACT); /* the trial rule does not block */
    assert_int_equal(weir_result_enforced_action(r), WEIR_BLOCK);
    assert_string_equal(redacted(r), "hunter2 and [EMAIL]");
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_direction_and_conditions(void **state)
{
    (void)state;
    weir_policy *p = load(
        "weir: 1\nname: cond\nrules:\n"
        "  - id: prompt-only\n    detect: { regex: 'alpha' }\n    on: [prompt]\n    action: block\n"
        "  - id: phones\n    detect: { regex: 'PHONE[0-9]+' }\n    action: redact\n"
        "    unless: { roles: ['arn:aws:iam::*:role/support-*'] }\n"
        "  - id: azure-only\n    detect: { regex: 'beta' }\n    action: block\n"
        "    only: { providers: [azure] }\n");
    weir_context ctx = WEIR_CONTEXT_INIT;
    weir_result *r = check(p, &ctx, "alpha");
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    weir_result_free(r);

    ctx.direction = WEIR_COMPLETION;
    r = check(p, &ctx, "alpha");
    assert_int_equal(weir_result_action(r), WEIR_ALLOW);
    weir_result_free(r);

    ctx.direction = WEIR_PROMPT;
    ctx.principal = "arn:aws:iam::111122223333:role/support-tier1";
    r = check(p, &ctx, "call PHONE555");
    assert_int_equal(weir_result_action(r), WEIR_ALLOW);
    weir_result_free(r);

    /* an assumed-role session of a support role is exempt too */
    ctx.principal = "arn:aws:sts::111122223333:assumed-role/support-tier1/alice";
    r = check(p, &ctx, "call PHONE555");
    assert_int_equal(weir_result_action(r), WEIR_ALLOW);
    weir_result_free(r);

    ctx.principal = "arn:aws:iam::111122223333:role/llm-app";
    r = check(p, &ctx, "call PHONE555");
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    weir_result_free(r);

    /* unknown caller: not exempt (fail closed) */
    ctx.principal = NULL;
    r = check(p, &ctx, "call PHONE555");
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    weir_result_free(r);

    r = check(p, &ctx, "beta");
    assert_int_equal(weir_result_action(r), WEIR_ALLOW);
    weir_result_free(r);
    ctx.provider = WEIR_PROVIDER_AZURE;
    r = check(p, &ctx, "beta");
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_regex_limit_fails_closed(void **state)
{
    (void)state;
#define EVIL                                                                                 \
    "weir: 1\nname: evil\non_error: %s\n"                                                    \
    "limits: { regex_match_limit: 10000 }\nrules:\n"                                         \
    "  - id: catastrophic\n    detect: { regex: '^(a+)+$' }\n"                               \
    "    action: redact\n"
    char yaml[512];
    char text[64];
    memset(text, 'a', 40);
    text[40] = '!';
    text[41] = '\0';

    snprintf(yaml, sizeof yaml, EVIL, "block");
    weir_policy *p = load(yaml);
    weir_result *r = check(p, NULL, text);
    assert_int_equal(weir_result_action(r), WEIR_BLOCK); /* never read as "no match" */
    const weir_finding *f = weir_result_decisive(r);
    assert_non_null(f);
    assert_int_equal(f->kind, WEIR_FINDING_ERROR);
    assert_string_equal(f->rule, "catastrophic");
    weir_result_free(r);
    weir_policy_unref(p);

    snprintf(yaml, sizeof yaml, EVIL, "allow");
    p = load(yaml);
    r = check(p, NULL, text);
    assert_int_equal(weir_result_action(r), WEIR_LOG); /* fail open, but recorded */
    assert_int_equal(weir_result_finding(r, 0)->kind, WEIR_FINDING_ERROR);
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_input_limit(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: small\nlimits: { max_input_bytes: 16 }\nrules:\n"
                          "  - id: emails\n    detect: email\n    action: redact\n");
    weir_result *r = check(p, NULL, "this text is longer than sixteen bytes");
    assert_int_equal(weir_result_action(r), WEIR_BLOCK);
    assert_string_equal(weir_result_decisive(r)->rule, "limits.max_input_bytes");
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_normalized_detection_maps_back(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: norm\nrules:\n"
                          "  - id: emails\n    detect: email\n    action: redact\n"
                          "  - id: word\n    detect: { regex: 'paypal' }\n    action: redact\n");
    /* zero-width space inside the address, Cyrillic 'а' in paypal */
    const char *text = "to jo\xe2\x80\x8bhn@example.com via p\xd0\xb0ypal!";
    weir_result *r = check(p, NULL, text);
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    assert_string_equal(redacted(r), "to [EMAIL] via [WORD]!");
    const weir_finding *f = weir_result_finding(r, 0);
    assert_int_equal(f->start, 3);
    assert_int_equal(f->end, 3 + 19); /* 16 ASCII bytes + 3-byte ZWSP */
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_invalid_utf8_is_handled(void **state)
{
    (void)state;
    weir_policy *p = load(POLICY_COMBINE);
    const char text[] = "\xff\xfe bad \xc0\x80 bytes a@example.com \xed\xa0\x80 end\xe2\x82";
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, NULL, text, sizeof text - 1, NULL), 0);
    assert_int_equal(weir_result_action(r), WEIR_REDACT);
    size_t len = 0;
    const char *t = weir_result_text(r, &len);
    /* the bytes around the redaction are the caller's, untouched */
    const char want[] = "\xff\xfe bad \xc0\x80 bytes [EMAIL] \xed\xa0\x80 end\xe2\x82";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(t, want, len);
    weir_result_free(r);
    weir_policy_unref(p);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    weir_policy *p = load(POLICY_COMBINE);
    weir_result *r = NULL;
    weir_error err = {0};
    assert_int_equal(weir_check(&r, NULL, NULL, "x", 1, &err), WEIR_EINVAL);
    assert_int_equal(weir_check(&r, p, NULL, NULL, 5, &err), WEIR_EINVAL);
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.version = 99;
    assert_int_equal(weir_check(&r, p, &ctx, "x", 1, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "WEIR_CONTEXT_INIT"));
    assert_null(r);
    /* empty text is fine */
    assert_int_equal(weir_check(&r, p, NULL, "", 0, &err), 0);
    assert_int_equal(weir_result_action(r), WEIR_ALLOW);
    weir_result_free(r);
    weir_result_free(NULL);
    weir_policy_unref(p);
}

static void test_result_outlives_policy(void **state)
{
    (void)state;
    weir_policy *p = load(POLICY_COMBINE);
    weir_result *r = check(p, NULL, "project falcon");
    weir_policy_unref(p); /* e.g. a hot reload swapped it out */
    assert_string_equal(weir_result_finding(r, 0)->rule, "codenames");
    weir_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strictest_action_wins),
        cmocka_unit_test(test_policy_monitor_mode),
        cmocka_unit_test(test_rule_monitor_mode),
        cmocka_unit_test(test_direction_and_conditions),
        cmocka_unit_test(test_regex_limit_fails_closed),
        cmocka_unit_test(test_input_limit),
        cmocka_unit_test(test_normalized_detection_maps_back),
        cmocka_unit_test(test_invalid_utf8_is_handled),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_result_outlives_policy),
    };
    return cmocka_run_group_tests_name("engine/check", tests, NULL, NULL);
}
