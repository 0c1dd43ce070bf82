/*
 * fuzz_check.c - bytes -> weir_check, both directions, and a token round trip.
 *
 * 1. The built-in default policy (loaded once) checks the bytes as a prompt and as a
 *    completion. Any bytes must give a verdict; findings must lie inside the text; a
 *    redacted text must be NUL-terminated at its stated length.
 * 2. A policy that redacts with reversible tokens checks the bytes with a vault, then
 *    weir_restore puts the originals back. When the input is plain ASCII without '['
 *    (so normalization changes nothing and no token can be forged), restoring the
 *    redacted text must give back exactly the input.
 * 3. The raw bytes are also restored through that vault, as a completion would be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "weir/weir.h"

static const char TOKEN_POLICY[] =
    "weir: 1\n"
    "name: fuzz-tokens\n"
    "rules:\n"
    "  - id: emails\n    detect: email\n    action: redact\n    redact: token\n"
    "  - id: phones\n    detect: phone\n    action: redact\n    redact: token\n"
    "  - id: ssns\n    detect: us_ssn\n    action: redact\n    redact: token\n"
    "  - id: ibans\n    detect: iban\n    action: redact\n    redact: token\n"
    "  - id: ips\n    detect: ipv4\n    action: redact\n    redact: token\n"
    "  - id: agents\n    detect: { regex: 'Agent [A-Z][a-z]+', label: AGENT }\n"
    "    action: redact\n    redact: token\n"
    "  - id: codes\n    detect: { regex: 'code[0-9]{3,8}', caseless: true, label: SECRET_CODE }\n"
    "    action: redact\n    redact: token\n";

static weir_policy *default_policy, *token_policy;

static void init(void)
{
    weir_error err;
    char buf[512];
    if (default_policy)
        return;
    if (weir_policy_load_default(&default_policy, &err) != 0 ||
        weir_policy_load_buffer(&token_policy, TOKEN_POLICY, sizeof TOKEN_POLICY - 1,
                                "fuzz-tokens.yaml", &err) != 0) {
        fprintf(stderr, "fuzz_check: %s\n", weir_error_format(&err, buf, sizeof buf));
        abort();
    }
}

/* Checks the invariants every result must hold; returns the redacted text or NULL. */
static const char *verify(const weir_result *r, size_t len, size_t *out_len)
{
    size_t n = weir_result_finding_count(r);
    for (size_t i = 0; i < n; i++) {
        const weir_finding *f = weir_result_finding(r, i);
        if (!f || !f->rule || !f->detector || !f->entity) /* message may be NULL */
            abort();
        if (f->start > f->end || f->end > len)
            abort();
    }
    if (weir_result_finding(r, n) != NULL)
        abort();
    if (weir_result_action(r) > weir_result_enforced_action(r))
        abort();
    if ((weir_result_action(r) == WEIR_BLOCK) != (weir_result_message(r) != NULL))
        abort();
    *out_len = 0;
    const char *t = weir_result_text(r, out_len);
    if (t && t[*out_len] != '\0')
        abort();
    return t;
}

static int plain_ascii(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] >= 0x80 || d[i] == '[' || d[i] == 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    const char *text = (const char *)data;
    size_t tlen;

    weir_context ctx = WEIR_CONTEXT_INIT;
    ctx.provider = WEIR_PROVIDER_BEDROCK;
    ctx.principal = "arn:aws:iam::111122223333:role/llm-app";
    ctx.model = "anthropic.claude-3-haiku-20240307-v1:0";
    ctx.region = "eu-central-1";
    for (int dir = WEIR_PROMPT; dir <= WEIR_COMPLETION; dir++) {
        weir_result *r = NULL;
        ctx.direction = (weir_direction)dir;
        if (weir_check(&r, default_policy, &ctx, text, size, NULL) != 0)
            abort();
        verify(r, size, &tlen);
        weir_result_free(r);
    }

    /* streamed in chunks whose sizes the input's own bytes pick, the completion releases
     * exactly what the whole-text check gives (or is blocked when that blocks) */
    if (size <= 4096) {
        weir_result *whole = NULL;
        ctx.direction = WEIR_COMPLETION;
        if (weir_check(&whole, default_policy, &ctx, text, size, NULL) != 0)
            abort();
        weir_stream *st = NULL;
        if (weir_stream_new(&st, default_policy, &ctx, 1 << 20, NULL) != 0)
            abort();
        char *got = malloc(size * 8 + 64);
        size_t glen = 0, at = 0, k = 0;
        const char *o;
        size_t olen;
        while (at < size) {
            size_t n = 1 + (size_t)(data[k++ % size] % 13);
            if (n > size - at)
                n = size - at;
            if (weir_stream_feed(st, text + at, n, &o, &olen, NULL) != 0)
                abort();
            memcpy(got + glen, o, olen);
            glen += olen;
            at += n;
        }
        if (weir_stream_finish(st, &o, &olen, NULL) != 0)
            abort();
        memcpy(got + glen, o, olen);
        glen += olen;
        if (weir_result_action(whole) == WEIR_BLOCK) {
            if (weir_stream_action(st) != WEIR_BLOCK)
                abort();
        } else {
            size_t wlen = 0;
            const char *wt = weir_result_text(whole, &wlen);
            if (!wt) {
                wt = text;
                wlen = size;
            }
            if (weir_stream_action(st) == WEIR_BLOCK || glen != wlen || memcmp(got, wt, glen) != 0)
                abort(); /* the stream released something else than the whole check */
        }
        free(got);
        weir_stream_free(st);
        weir_result_free(whole);
    }

    weir_vault *v = NULL;
    if (weir_vault_new(&v, NULL) != 0)
        abort();
    ctx.direction = WEIR_PROMPT;
    ctx.vault = v;
    weir_result *r = NULL;
    if (weir_check(&r, token_policy, &ctx, text, size, NULL) != 0)
        abort();
    const char *red = verify(r, size, &tlen);
    if (red) {
        char *back = NULL;
        size_t blen = 0;
        if (weir_restore(&back, &blen, v, red, tlen, NULL) != 0)
            abort();
        if (back[blen] != '\0')
            abort();
        if (plain_ascii(data, size) && (blen != size || memcmp(back, data, size) != 0))
            abort(); /* the round trip lost or changed bytes */
        weir_free(back);
    } else if (weir_result_action(r) == WEIR_REDACT) {
        abort(); /* a redact verdict comes with the redacted text */
    }
    weir_result_free(r);

    char *restored = NULL;
    size_t rlen = 0;
    if (weir_restore(&restored, &rlen, v, text, size, NULL) != 0)
        abort();
    if (weir_vault_size(v) == 0 && (rlen != size || memcmp(restored, data, size) != 0))
        abort(); /* an empty vault changes nothing */
    weir_free(restored);
    weir_vault_free(v);
    return 0;
}
