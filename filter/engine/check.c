/*
 * check.c - weir_check: access and residency, then detection, then the decision
 * (strictest action wins; monitor mode records without applying), then redaction.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "engine/engine.h"
#include "scan/normalize.h"

#define NO_DECISIVE ((size_t)-1)

static const char *const action_names[] = {"allow", "log", "redact", "block"};

const char *weir_action_name(weir_action a)
{
    return (unsigned)a < WR_ARRAY_LEN(action_names) ? action_names[a] : "unknown";
}

static const char *const kind_names[] = {"content", "access", "residency", "error"};

const char *weir_finding_kind_name(weir_finding_kind k)
{
    return (unsigned)k < WR_ARRAY_LEN(kind_names) ? kind_names[k] : "unknown";
}

int wr_result_add(struct weir_result *r, weir_finding_kind kind, const char *rule,
                  const char *detector, const char *entity, weir_action action, int monitor,
                  size_t start, size_t end, const char *message)
{
    weir_finding *f = wr_grow(r->f, &r->capf, r->nf + 1, sizeof *f, 8);
    if (!f)
        return WEIR_ENOMEM;
    r->f = f;
    r->f[r->nf++] = (weir_finding){kind, rule, detector ? detector : "", entity ? entity : "",
                                   action, monitor, start, end, message ? message : ""};
    return 0;
}

static int finding_cmp(const void *a, const void *b)
{
    const weir_finding *x = a, *y = b;
    if (x->kind != y->kind) {
        /* access, residency, error findings first; content in text order */
        int kx = x->kind == WEIR_FINDING_CONTENT, ky = y->kind == WEIR_FINDING_CONTENT;
        if (kx != ky)
            return kx - ky;
    }
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1;
    return 0;
}

/* A span chosen for redaction. */
typedef struct wr_cut {
    size_t s, e;   /* original bytes */
    size_t ns, ne; /* normalized bytes */
    const wr_rule *rule;
    const wr_detector *det;
} wr_cut;

static int cut_cmp(const void *a, const void *b)
{
    const wr_cut *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->e > y->e ? -1 : (x->e < y->e);
}

/* Writes text[from..to) with the cuts (all inside that range) redacted into r->text. */
static int build_redacted(struct weir_result *r, const weir_policy *p, const char *text,
                          size_t from, size_t to, const wr_norm *norm, wr_cut *cuts,
                          size_t ncuts, weir_vault *vault)
{
    qsort(cuts, ncuts, sizeof *cuts, cut_cmp);
    wr_buf b;
    wr_buf_init(&b);
    size_t at = from, len = to;
    for (size_t i = 0; i < ncuts; i++) {
        wr_cut c = cuts[i];
        /* overlapping spans merge into the first (widest) one */
        while (i + 1 < ncuts && cuts[i + 1].s < c.e) {
            if (cuts[i + 1].e > c.e) {
                c.e = cuts[i + 1].e;
                c.ne = cuts[i + 1].ne;
            }
            i++;
        }
        if (c.s < at)
            continue;
        wr_buf_append(&b, text + at, c.s - at);
        int rc = wr_redact_span(&b, p, c.rule, c.det, text, c.s, c.e, norm->text + c.ns,
                                c.ne - c.ns, vault);
        if (rc) {
            wr_buf_free(&b);
            return rc;
        }
        at = c.e;
    }
    wr_buf_append(&b, text + at, len - at);
    if (b.oom || wr_buf_reserve(&b, 0)) {
        wr_buf_free(&b);
        return WEIR_ENOMEM;
    }
    r->text = b.data;
    r->text_len = b.len;
    return 0;
}

/* Decides the verdict from the findings and picks the decisive one. */
static void decide(struct weir_result *r, const weir_policy *p)
{
    weir_action applied = WEIR_ALLOW, enforced = WEIR_ALLOW;
    r->decisive = NO_DECISIVE;
    for (size_t i = 0; i < r->nf; i++) {
        const weir_finding *f = &r->f[i];
        if (f->action > enforced)
            enforced = f->action;
        weir_action a = f->monitor ? (f->action > WEIR_LOG ? WEIR_LOG : f->action) : f->action;
        if (a > applied)
            applied = a;
        if (!f->monitor && f->action == WEIR_BLOCK && r->decisive == NO_DECISIVE)
            r->decisive = i;
    }
    (void)p;
    r->action = applied;
    r->enforced = enforced;
}

static int make_message(struct weir_result *r, const weir_policy *p)
{
    if (r->action != WEIR_BLOCK || r->decisive == NO_DECISIVE)
        return 0;
    const weir_finding *f = &r->f[r->decisive];
    wr_buf b;
    wr_buf_init(&b);
    if (f->kind == WEIR_FINDING_CONTENT && f->message && *f->message)
        wr_buf_printf(&b, "%s (policy '%s', rule '%s')", f->message, p->name, f->rule);
    else if (f->kind == WEIR_FINDING_CONTENT)
        wr_buf_printf(&b, "Blocked by policy '%s', rule '%s' (%s)", p->name, f->rule, f->entity);
    else
        wr_buf_printf(&b, "Denied by policy '%s' (%s): %s", p->name, f->rule,
                      f->message ? f->message : "");
    if (b.oom) {
        wr_buf_free(&b);
        return WEIR_ENOMEM;
    }
    r->message = b.data;
    return 0;
}

static int add_error(struct weir_result *r, const weir_policy *p, const char *rule,
                     const char *detector, const char *msg)
{
    /* on_error block: an undecidable check refuses; allow/log: it is recorded and passes */
    weir_action a = p->on_error == WEIR_BLOCK ? WEIR_BLOCK : WEIR_LOG;
    return wr_result_add(r, WEIR_FINDING_ERROR, rule, detector, "", a, p->monitor, 0, 0, msg);
}

/* The normalized offset of original offset `o` (the first normalized byte at or after it). */
static size_t norm_offset(const wr_norm *n, size_t o)
{
    if (n->identity)
        return o;
    size_t lo = 0, hi = n->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->map[mid] < o)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Where a stream's text may still change: the start of its last normalization segment
 * (the last character that cannot join what precedes it). Text before it normalizes the
 * same whatever follows; from it on, a combining mark, an invisible character or the rest
 * of a UTF-8 sequence could still arrive and change it.
 */
static size_t stream_cut(const char *text, size_t len)
{
    size_t i = len;
    while (i > 0) {
        size_t b = i - 1;
        while (b > 0 && i - b < 4 && ((unsigned char)text[b] & 0xC0) == 0x80)
            b--;
        utf8proc_int32_t c = -1;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + b,
                                              (utf8proc_ssize_t)(i - b), &c);
        if (n != (utf8proc_ssize_t)(i - b) || c < 0 || wr_norm_may_join((uint32_t)c)) {
            i = b; /* joins (or is not a whole character yet): keep walking back */
            continue;
        }
        return b;
    }
    return 0;
}

int weir_check(weir_result **out, const weir_policy *p, const weir_context *ctx,
               const char *text, size_t len, weir_error *err)
{
    return wr_check_range(out, p, ctx, text, len, 0, 0, err);
}

int wr_check_range(struct weir_result **out, const weir_policy *p, const weir_context *ctx,
                   const char *text, size_t len, size_t from, int partial, weir_error *err)
{
    if (!out || !p || (!text && len) || from > len)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_check: out, policy and text must not be NULL");
    *out = NULL;
    weir_context defctx = WEIR_CONTEXT_INIT;
    if (!ctx)
        ctx = &defctx;
    if (ctx->version != WEIR_CONTEXT_VERSION)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_context.version is %u, expected %u: initialise it with "
                            "WEIR_CONTEXT_INIT",
                            ctx->version, WEIR_CONTEXT_VERSION);
    if (ctx->direction != WEIR_PROMPT && ctx->direction != WEIR_COMPLETION)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_context.direction must be WEIR_PROMPT or WEIR_COMPLETION");
    if ((unsigned)ctx->provider > WEIR_PROVIDER_AZURE)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_context.provider is invalid");

    struct weir_result *r = calloc(1, sizeof *r);
    if (!r)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    r->policy = weir_policy_ref((weir_policy *)p);
    r->decisive = NO_DECISIVE;
    r->released = len;

    int rc = wr_eval_access(r, p, ctx);
    if (!rc)
        rc = wr_eval_residency(r, p, ctx);
    if (rc)
        goto fail;

    /* which detectors do the applicable rules need? */
    unsigned char stackwant[64];
    unsigned char *want = p->ndetectors <= sizeof stackwant ? stackwant
                                                             : calloc(p->ndetectors, 1);
    unsigned char *rule_on = NULL;
    wr_norm norm = {0};
    wr_match_list ml = {0};
    wr_cut *cuts = NULL;
    int any = 0, decided = 0;
    if (!want) {
        rc = WEIR_ENOMEM;
        goto fail;
    }
    memset(want, 0, p->ndetectors);
    rule_on = calloc(p->nrules ? p->nrules : 1, 1);
    if (!rule_on) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < p->nrules; i++) {
        if (wr_rule_applies(&p->rules[i], ctx)) {
            rule_on[i] = 1;
            want[p->rules[i].detector] = 1;
            any = 1;
        }
    }

    if (any && len > p->max_input) {
        rc = add_error(r, p, "limits.max_input_bytes", "",
                       "input is larger than the policy's max_input_bytes; it was not scanned");
        goto done;
    }
    if (!any || len == from)
        goto done;
    /* a stream's last character may still change (a combining mark, the rest of a UTF-8
     * sequence): decide only what comes before it, and scan only that, so anything that
     * could grow through it touches the end and is a partial match */
    if (partial) {
        len = stream_cut(text, len);
        r->released = len > from ? len : from;
        if (len <= from)
            goto done;
    }

    rc = wr_normalize(&norm, text, len, p->normalize);
    if (rc) {
        if (rc == WEIR_ELIMIT)
            rc = add_error(r, p, "limits.max_input_bytes", "", "input too large to normalize");
        goto done;
    }

    size_t failed = 0;
    rc = wr_scan(&ml, p->detectors, want, p->ndetectors, norm.text, norm.len, &p->limits,
                 &failed);
    if (rc == WEIR_ELIMIT || rc == WR_EPLUGIN) {
        const char *rule = rc == WEIR_ELIMIT ? "limits.regex" : "detectors";
        for (size_t i = 0; i < p->nrules; i++)
            if (rule_on[i] && p->rules[i].detector == failed) {
                rule = p->rules[i].id;
                break;
            }
        rc = add_error(r, p, rule, p->detectors[failed].name,
                       rc == WEIR_ELIMIT
                           ? "a detector hit the regex match limit; the text could not be "
                             "fully checked"
                           : "a detector plugin failed on this text; it could not be fully "
                             "checked");
    }
    if (rc)
        goto done;

    size_t safe = len; /* decide [from, safe) */
    if (partial) {
        size_t earliest = 0;
        rc = wr_scan_tail(p->detectors, want, p->ndetectors, norm.text, norm.len,
                          norm_offset(&norm, from), &p->limits, &earliest);
        if (rc == WEIR_ELIMIT)
            rc = add_error(r, p, "limits.regex", "",
                           "a detector hit the regex match limit; the stream could not be "
                           "fully checked");
        else if (rc == WR_EPLUGIN)
            rc = add_error(r, p, "detectors", "",
                           "a detector plugin failed on this stream; it could not be fully "
                           "checked");
        if (rc)
            goto done;
        safe = earliest < norm.len ? (norm.identity ? earliest : norm.map[earliest]) : len;
        /* a match that crosses the point is not decided yet: none of it may be released */
        for (int moved = 1; moved;) {
            moved = 0;
            for (size_t m = 0; m < ml.n; m++) {
                size_t os, oe;
                wr_norm_span(&norm, ml.v[m].start, ml.v[m].end, &os, &oe);
                if (os < safe && oe > safe && os >= from) {
                    safe = os;
                    moved = 1;
                }
            }
        }
        if (safe < from)
            safe = from;
    }
    r->released = safe;

    /* matches -> findings, one per (match, applicable rule using its detector) */
    size_t ncuts = 0, capcuts = 0;
    for (size_t m = 0; m < ml.n; m++) {
        size_t os, oe;
        wr_norm_span(&norm, ml.v[m].start, ml.v[m].end, &os, &oe);
        if (os < from || oe > safe)
            continue; /* context already decided, or not decidable yet */
        const wr_detector *d = &p->detectors[ml.v[m].detector];
        for (size_t i = 0; i < p->nrules; i++) {
            const wr_rule *rule = &p->rules[i];
            if (!rule_on[i] || rule->detector != ml.v[m].detector)
                continue;
            int mon = p->monitor || rule->monitor;
            rc = wr_result_add(r, WEIR_FINDING_CONTENT, rule->id, d->name, d->entity,
                               rule->action, mon, os, oe, rule->message);
            if (rc)
                goto done;
            if (rule->action == WEIR_REDACT && !mon) {
                wr_cut *nc = wr_grow(cuts, &capcuts, ncuts + 1, sizeof *nc, 16);
                if (!nc) {
                    rc = WEIR_ENOMEM;
                    goto done;
                }
                cuts = nc;
                cuts[ncuts++] = (wr_cut){os, oe, ml.v[m].start, ml.v[m].end, rule, d};
            }
        }
    }

    if (r->nf > 1)
        qsort(r->f, r->nf, sizeof *r->f, finding_cmp);
    decide(r, p);
    decided = 1;
    if (r->action == WEIR_REDACT && ncuts)
        rc = build_redacted(r, p, text, from, safe, &norm, cuts, ncuts, ctx->vault);

done:
    if (!rc) {
        if (!decided) {
            if (r->nf > 1)
                qsort(r->f, r->nf, sizeof *r->f, finding_cmp);
            decide(r, p);
        }
        rc = make_message(r, p);
    }
    free(cuts);
    wr_match_list_free(&ml);
    wr_norm_free(&norm);
    free(rule_on);
    if (want != stackwant)
        free(want);
    if (rc)
        goto fail;
    *out = r;
    return 0;

fail:
    weir_result_free(r);
    return wr_error_set(err, rc, NULL, 0, 0, "%s",
                        rc == WEIR_ENOMEM ? "out of memory during check" : "check failed");
}

weir_action weir_result_action(const weir_result *r)
{
    return r ? r->action : WEIR_BLOCK;
}

weir_action weir_result_enforced_action(const weir_result *r)
{
    return r ? r->enforced : WEIR_BLOCK;
}

size_t weir_result_finding_count(const weir_result *r)
{
    return r ? r->nf : 0;
}

const weir_finding *weir_result_finding(const weir_result *r, size_t i)
{
    return r && i < r->nf ? &r->f[i] : NULL;
}

const char *weir_result_text(const weir_result *r, size_t *len)
{
    if (len)
        *len = r && r->text ? r->text_len : 0;
    return r ? r->text : NULL;
}

const char *weir_result_message(const weir_result *r)
{
    return r ? r->message : NULL;
}

const weir_finding *weir_result_decisive(const weir_result *r)
{
    return r && r->decisive != NO_DECISIVE ? &r->f[r->decisive] : NULL;
}

void weir_result_free(weir_result *r)
{
    if (!r)
        return;
    free(r->f);
    if (r->text) {
        wr_wipe(r->text, r->text_len);
        free(r->text);
    }
    free(r->message);
    weir_policy_unref(r->policy);
    free(r);
}
