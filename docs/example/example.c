/*
 * example.c - check a prompt with libweir before it goes to a model.
 *
 *   example [POLICY.yaml] [PROMPT]
 *
 * Loads POLICY.yaml (or the default policy built into libweir), checks PROMPT (or a
 * sample with an e-mail address in it) as a call from an IAM role to a Bedrock model in
 * eu-central-1, and prints the verdict, the findings and the text to send. Then it plays
 * the model: its answer quotes the redacted prompt, is checked as a completion, and any
 * reversible tokens in it (`redact: token` in the policy) are restored from the vault.
 *
 * Build:  cc example.c $(pkg-config --cflags --libs weir) -o example
 *    or:  cmake -S . -B build -DCMAKE_PREFIX_PATH=/where/weir/is && cmake --build build
 */
#include <stdio.h>
#include <string.h>

#include <weir/weir.h>

static const char SAMPLE[] = "Please write to jane.doe@example.com about invoice 2291.";

/* Prints what a check decided. Returns the text to pass on, or NULL when blocked. */
static const char *report(const char *what, const weir_result *r, const char *text)
{
    weir_action verdict = weir_result_action(r);
    printf("%s: %s\n", what, weir_action_name(verdict));
    for (size_t i = 0; i < weir_result_finding_count(r); i++) {
        const weir_finding *f = weir_result_finding(r, i);
        /* findings name the rule and the byte span, never the matched value */
        printf("  finding: rule=%s detector=%s action=%s span=%zu-%zu%s\n", f->rule,
               f->detector, weir_action_name(f->action), f->start, f->end,
               f->monitor ? " (monitor)" : "");
    }
    if (verdict == WEIR_BLOCK) {
        printf("  blocked: %s\n", weir_result_message(r));
        return NULL;
    }
    const char *redacted = weir_result_text(r, NULL);
    return redacted ? redacted : text; /* NULL: the text passes unchanged */
}

int main(int argc, char **argv)
{
    const char *policy_path = argc > 1 ? argv[1] : NULL;
    const char *prompt = argc > 2 ? argv[2] : SAMPLE;
    weir_policy *policy = NULL;
    weir_vault *vault = NULL;
    weir_result *checked = NULL, *answer_checked = NULL;
    char *restored = NULL, answer[1024];
    weir_error err;
    char msg[512];
    int status = 1;

    /* 1. Load the policy once; a loaded policy is immutable and shared by all threads. */
    int rc = policy_path ? weir_policy_load_file(&policy, policy_path, &err)
                         : weir_policy_load_default(&policy, &err);
    if (rc != 0) {
        fprintf(stderr, "example: %s\n", weir_error_format(&err, msg, sizeof msg));
        return 1;
    }
    printf("libweir %s, policy %s (%s)\n", weir_version(), weir_policy_name(policy),
           weir_policy_digest(policy));

    /* 2. One vault per conversation keeps the originals behind reversible tokens. */
    if (weir_vault_new(&vault, &err) != 0)
        goto fail;

    /* 3. Describe the call and check the prompt. */
    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.direction = WEIR_PROMPT;
    ctx.provider = WEIR_PROVIDER_BEDROCK;
    ctx.principal = "arn:aws:iam::111122223333:role/llm-app";
    ctx.model = "anthropic.claude-3-haiku-20240307-v1:0";
    ctx.region = "eu-central-1";
    ctx.vault = vault;
    if (weir_check(&checked, policy, &ctx, prompt, strlen(prompt), &err) != 0)
        goto fail; /* no verdict at all: treat it as a refusal */
    const char *to_model = report("prompt", checked, prompt);
    if (!to_model) {
        status = 2;
        goto done;
    }
    printf("  send: %s\n", to_model);

    /* 4. The model answers (here: by quoting the prompt); check the answer too... */
    snprintf(answer, sizeof answer, "Sure. Draft: \"%s\"", to_model);
    ctx.direction = WEIR_COMPLETION;
    if (weir_check(&answer_checked, policy, &ctx, answer, strlen(answer), &err) != 0)
        goto fail;
    const char *to_user = report("completion", answer_checked, answer);
    if (!to_user) {
        status = 2;
        goto done;
    }

    /* 5. ...and put the originals back where the model repeated a token. */
    size_t restored_len;
    if (weir_restore(&restored, &restored_len, vault, to_user, strlen(to_user), &err) != 0)
        goto fail;
    printf("  restored (%zu tokens in vault): %s\n", weir_vault_size(vault), restored);
    status = 0;
    goto done;

fail:
    fprintf(stderr, "example: %s\n", weir_error_format(&err, msg, sizeof msg));
done:
    weir_free(restored);
    weir_result_free(answer_checked);
    weir_result_free(checked);
    weir_vault_free(vault);
    weir_policy_unref(policy);
    return status;
}
