/* Redaction styles and the reversible-token vault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

#include "weir/weir.h"

static char *redact(const weir_policy *p, weir_vault *v, const char *text)
{
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.vault = v;
    weir_result *r = NULL;
    assert_int_equal(weir_check(&r, p, &ctx, text, strlen(text), NULL), 0);
    const char *t = weir_result_text(r, NULL);
    char *out = strdup(t ? t : text);
    weir_result_free(r);
    return out;
}

static void test_label_and_mask(void **state)
{
    (void)state;
    weir_policy *p = load(
        "weir: 1\nname: styles\nrules:\n"
        "  - id: emails\n    detect: email\n    action: redact\n"
        "  - id: acct\n    detect: { regex: 'ACCT[0-9]{8}', label: ACCOUNT }\n    action: redact\n"
        "    redact: { style: mask, keep: 4 }\n"
        "  - id: code\n    detect: { regex: 'CODE-[A-Z]+' }\n    action: redact\n"
        "    redact: { style: mask, keep: 0, char: '#' }\n"
        "  - id: relabel\n    detect: { regex: 'Nightingale' }\n    action: redact\n"
        "    redact: { style: label, label: PROJECT }\n");
    char *out = redact(p, NULL, "a@example.com ACCT12345678 CODE-XY Nightingale");
    assert_string_equal(out, "[EMAIL] ********5678 ####### [PROJECT]");
    free(out);
    weir_policy_unref(p);
}

static const char *HASH_POLICY = "weir: 1\nname: hashed\nredaction: { hash_key_env: WEIR_TEST_HASH_KEY }\n"
                                 "rules:\n  - id: emails\n    detect: email\n    action: redact\n"
                                 "    redact: hash\n";

static void test_keyed_hash(void **state)
{
    (void)state;
    setenv("WEIR_TEST_HASH_KEY", "0123456789abcdef0123456789abcdef", 1);
    weir_policy *p = load(HASH_POLICY);
    char *a = redact(p, NULL, "jane@example.com");
    char *b = redact(p, NULL, "write to jane@example.com");
    char *c = redact(p, NULL, "john@example.com");
    assert_int_equal(strlen(a), strlen("[EMAIL:") + 12 + 1);
    assert_int_equal(strncmp(a, "[EMAIL:", 7), 0);
    assert_string_equal(b + strlen("write to "), a); /* stable pseudonym */
    assert_string_not_equal(a, c);                   /* distinct values, distinct hashes */
    weir_policy_unref(p);

    /* another key, another pseudonym */
    setenv("WEIR_TEST_HASH_KEY", "fedcba9876543210fedcba9876543210", 1);
    p = load(HASH_POLICY);
    char *d = redact(p, NULL, "jane@example.com");
    assert_string_not_equal(a, d);
    free(a);
    free(b);
    free(c);
    free(d);
    weir_policy_unref(p);

    /* a hash rule without a key is a policy error: fail closed */
    unsetenv("WEIR_TEST_HASH_KEY");
    weir_policy *none = NULL;
    weir_error err = {0};
    assert_int_equal(weir_policy_load_buffer(&none, HASH_POLICY, strlen(HASH_POLICY), "h.yaml", &err),
                     WEIR_EPOLICY);
    assert_null(none);
}

static void test_tokens_round_trip(void **state)
{
    (void)state;
    weir_policy *p = load("weir: 1\nname: tokens\nrules:\n"
                          "  - id: emails\n    detect: email\n    action: redact\n"
                          "    redact: token\n"
                          "  - id: names\n    detect: { regex: 'Agent (Smith|Jones)', label: NAME }\n"
                          "    action: redact\n    redact: token\n");
    weir_vault *v = NULL;
    assert_int_equal(weir_vault_new(&v, NULL), 0);
    char *prompt = redact(p, v, "Ask Agent Smith (smith@example.com) and Agent Jones (jones@example.com), "
                                "then smith@example.com again.");
    assert_string_equal(prompt, "Ask [NAME_1] ([EMAIL_1]) and [NAME_2] ([EMAIL_2]), then [EMAIL_1] again.");
    assert_int_equal(weir_vault_size(v), 4);

    /* the model answers with the tokens; the caller gets the originals back */
    const char *completion = "I wrote to [EMAIL_2] for [NAME_2]; [EMAIL_9] is not ours. [EMAIL_1";
    char *restored = NULL;
    size_t len = 0;
    assert_int_equal(weir_restore(&restored, &len, v, completion, strlen(completion), NULL), 0);
    assert_string_equal(restored,
                        "I wrote to jones@example.com for Agent Jones; [EMAIL_9] is not ours. [EMAIL_1");
    assert_int_equal(len, strlen(restored));
    weir_free(restored);

    /* without a vault, token rules still hide the value (as labels) */
    char *plain = redact(p, NULL, "smith@example.com");
    assert_string_equal(plain, "[EMAIL]");
    free(plain);
    free(prompt);
    weir_vault_free(v);
    weir_vault_free(NULL);
    weir_policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_and_mask),
        cmocka_unit_test(test_keyed_hash),
        cmocka_unit_test(test_tokens_round_trip),
    };
    return cmocka_run_group_tests_name("engine/redact", tests, NULL, NULL);
}
