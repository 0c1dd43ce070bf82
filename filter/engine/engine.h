/* engine.h - rule evaluation internals shared by the engine's files. */
#ifndef WEIR_ENGINE_H
#define WEIR_ENGINE_H

#include "policy/policy.h"

struct weir_result {
    weir_policy *policy; /* a reference: findings borrow its strings */
    weir_action action, enforced;
    weir_finding *f;
    size_t nf, capf;
    char *text; /* redacted text or NULL */
    size_t text_len;
    char *message;
    size_t decisive; /* index into f, or (size_t)-1 */
    size_t released; /* wr_check_range: end of the part that was decided (text covers
                      * [from, released) when redacted) */
};

/*
 * weir_check over text[0..len) where text[0..from) is context only (already released: no
 * findings there) and, when `partial`, the end may still grow: only [from, released) is
 * decided, released being where a match that more text could complete might begin (or the
 * last character, which a combining mark could still change). weir_check is
 * wr_check_range(..., 0, 0, ...).
 */
int wr_check_range(struct weir_result **out, const weir_policy *p, const weir_context *ctx,
                   const char *text, size_t len, size_t from, int partial, weir_error *err);

/* Adds a finding; strings are borrowed (policy or static) unless noted. */
int wr_result_add(struct weir_result *r, weir_finding_kind kind, const char *rule,
                  const char *detector, const char *entity, weir_action action, int monitor,
                  size_t start, size_t end, const char *message);

/* Access and residency: appends denial findings. Returns 0 or WEIR_ENOMEM. */
int wr_eval_access(struct weir_result *r, const weir_policy *p, const weir_context *ctx);
int wr_eval_residency(struct weir_result *r, const weir_policy *p, const weir_context *ctx);

/* 1 when the rule applies to this call (direction, unless, only). */
int wr_rule_applies(const wr_rule *rule, const weir_context *ctx);

/* Model id helpers. */
const char *wr_model_geo_prefix(const char *model, size_t *prefix_len);
int wr_model_match(const char *pattern, const char *model);

/* Redaction: writes the replacement for original span [s, e) (normalized value nv) into b. */
int wr_redact_span(wr_buf *b, const weir_policy *p, const wr_rule *rule, const wr_detector *d,
                   const char *orig, size_t s, size_t e, const char *nv, size_t nvlen,
                   weir_vault *vault);

#endif
