/*
 * fuzz_policy.c - bytes -> weir_policy_load_buffer.
 *
 * Whatever the bytes, loading must either succeed or fail with a negative code and a
 * filled error; it must never crash, hang or leak. A policy that loads is also queried and
 * run once over a short text, so a loader that builds an inconsistent policy shows up here.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "weir/weir.h"

static const char SAMPLE[] = "Mail jane.doe@example.com or call +1 415 555 0100; "
                             "card 4111 1111 1111 1111; AKIAIOSFODNN7EXAMPLE.";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        /* the key that corpus policies with `redact: hash` name in hash_key_env */
        setenv("WEIR_FUZZ_HASH_KEY", "0123456789abcdef0123456789abcdef", 1);
        once = 1;
    }
    weir_policy *p = NULL;
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = weir_policy_load_buffer(&p, (const char *)data, size, "fuzz.yaml", &err);
    if (rc != 0) {
        char buf[512];
        if (rc > 0 || p != NULL || err.code != rc)
            abort(); /* failure must be negative, leave no policy, and say why */
        weir_error_format(&err, buf, sizeof buf);
        return 0;
    }
    if (!p || !weir_policy_name(p) || strncmp(weir_policy_digest(p), "sha256:", 7) != 0)
        abort();
    (void)weir_policy_rule_count(p);

    weir_vault *v = NULL;
    if (weir_vault_new(&v, NULL) != 0)
        abort();
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.principal = "arn:aws:sts::111122223333:assumed-role/llm-app/pod-1";
    ctx.model = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0";
    ctx.region = "eu-central-1";
    ctx.vault = v;
    for (int dir = WEIR_PROMPT; dir <= WEIR_COMPLETION; dir++) {
        ctx.direction = (weir_direction)dir;
        weir_result *r = NULL;
        if (weir_check(&r, p, &ctx, SAMPLE, sizeof SAMPLE - 1, NULL) != 0)
            abort(); /* a valid policy and valid arguments always give a verdict */
        if (weir_result_action(r) > weir_result_enforced_action(r))
            abort();
        weir_result_free(r);
    }
    weir_vault_free(v);

    weir_policy *q = weir_policy_ref(p);
    weir_policy_unref(p);
    weir_policy_unref(q);
    return 0;
}
