/*
 * policy_test.c - `weir policy test`: runs declarative test cases against a policy.
 *
 * Test file format (YAML; see docs/cli.md):
 *
 *   defaults:                       # optional
 *     context: { direction: prompt, provider: bedrock, region: eu-central-1 }
 *   tests:
 *     - name: email in prompt is redacted
 *       input: "Contact jane@example.com"
 *       context: { role: ..., model: ... }    # merged over defaults.context
 *       expect:
 *         action: redact                      # required
 *         redacted: "Contact [EMAIL]"         # text that goes on
 *         rules: [emails]                     # set of rule ids among the findings
 *
 * The file is parsed with libyaml's document API; every error names file:line:col.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cli.h"

#define MAX_TEST_FILE ((size_t)16 * 1024 * 1024)

/* A string from the YAML document (borrowed from it). */
typedef struct tstr {
    const char *s;
    size_t n;
} tstr;

/* One expected finding: any field may be left out. */
typedef struct texp_finding {
    const char *rule, *detector, *entity, *kind;
    int action;       /* -1: not checked */
    int monitor;      /* -1: not checked */
    long start, end;  /* -1: not checked */
} texp_finding;

typedef struct tcase {
    const char *name;
    int line;
    tstr input;
    cli_context ctx;
    int action;           /* expected weir_action */
    int enforced;         /* -1: not checked */
    int has_redacted;
    tstr redacted;
    int has_message;
    const char *message;  /* NULL: expects no message */
    int has_rules;
    const char **rules;
    size_t nrules;
    int has_findings;
    texp_finding *findings;
    size_t nfindings;
} tcase;

typedef struct tfile {
    const char *path;
    yaml_document_t doc;
    int have_doc;
    cli_context defaults;
    tcase *cases;
    size_t ncases;
} tfile;

/* ------------------------------------------------------------------ YAML helpers */

static int tf_error(const tfile *tf, const yaml_node_t *n, const char *fmt, ...)
    CLI_PRINTF(3, 4);

static int tf_error(const tfile *tf, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    if (n)
        fprintf(stderr, "%s:%zu:%zu: ", tf->path, n->start_mark.line + 1,
                n->start_mark.column + 1);
    else
        fprintf(stderr, "%s: ", tf->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static yaml_node_t *node_at(tfile *tf, int index)
{
    return yaml_document_get_node(&tf->doc, index);
}

static int is_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain ~, null or empty scalar. */
static int is_null(const yaml_node_t *n)
{
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar(n);
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int get_string(tfile *tf, const yaml_node_t *n, const char *what, const char **out)
{
    if (!is_scalar(n))
        return tf_error(tf, n, "%s must be a string", what);
    if (strlen(scalar(n)) != n->data.scalar.length)
        return tf_error(tf, n, "%s must not contain NUL characters", what);
    *out = scalar(n);
    return 0;
}

static int get_text(tfile *tf, const yaml_node_t *n, const char *what, tstr *out)
{
    if (!is_scalar(n) || is_null(n))
        return tf_error(tf, n, "%s must be a string (quote an empty one: \"\")", what);
    out->s = scalar(n);
    out->n = n->data.scalar.length;
    return 0;
}

static int get_bool(tfile *tf, const yaml_node_t *n, const char *what, int *out)
{
    if (is_scalar(n)) {
        const char *s = scalar(n);
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0) {
            *out = 0;
            return 0;
        }
    }
    return tf_error(tf, n, "%s must be true or false", what);
}

static int get_offset(tfile *tf, const yaml_node_t *n, const char *what, long *out)
{
    if (is_scalar(n)) {
        const char *s = scalar(n);
        char *end = NULL;
        if (*s >= '0' && *s <= '9') {
            unsigned long v = strtoul(s, &end, 10);
            if (*end == '\0' && v <= 0x7fffffffUL) {
                *out = (long)v;
                return 0;
            }
        }
    }
    return tf_error(tf, n, "%s must be a byte offset (a non-negative integer)", what);
}

static int get_action(tfile *tf, const yaml_node_t *n, const char *what, int *out)
{
    int a = is_scalar(n) ? cli_action_parse(scalar(n)) : -1;
    if (a < 0)
        return tf_error(tf, n, "%s must be allow, log, redact or block", what);
    *out = a;
    return 0;
}

/*
 * Checks that n is a mapping whose keys are all in `keys` and not repeated; on success
 * values[i] is the value node for keys[i] or NULL.
 */
static int get_mapping(tfile *tf, yaml_node_t *n, const char *what, const char *const *keys,
                       size_t nkeys, yaml_node_t **values)
{
    for (size_t i = 0; i < nkeys; i++)
        values[i] = NULL;
    if (!n || n->type != YAML_MAPPING_NODE)
        return tf_error(tf, n, "%s must be a mapping", what);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(tf, p->key);
        yaml_node_t *v = node_at(tf, p->value);
        if (!is_scalar(k))
            return tf_error(tf, k, "%s: keys must be strings", what);
        size_t i;
        for (i = 0; i < nkeys; i++)
            if (strcmp(keys[i], scalar(k)) == 0)
                break;
        if (i == nkeys) {
            tf_error(tf, k, "unknown key '%s' in %s (expected one of:", scalar(k), what);
            for (size_t j = 0; j < nkeys; j++)
                fprintf(stderr, " %s", keys[j]);
            fputs(")\n", stderr);
            return -1;
        }
        if (values[i])
            return tf_error(tf, k, "duplicate key '%s' in %s", scalar(k), what);
        values[i] = v;
    }
    return 0;
}

/* ------------------------------------------------------------------ parsing */

static int parse_context(tfile *tf, yaml_node_t *n, cli_context *c)
{
    static const char *const keys[] = {"direction", "role",     "model",
                                       "region",    "provider", "deployment_type"};
    yaml_node_t *v[6];
    const char **slots[] = {&c->direction, &c->role,     &c->model,
                            &c->region,    &c->provider, &c->deployment_type};
    if (get_mapping(tf, n, "context", keys, 6, v) != 0)
        return -1;
    for (size_t i = 0; i < 6; i++) {
        if (!v[i])
            continue;
        if (is_null(v[i])) {
            *slots[i] = NULL; /* unsets a default */
            continue;
        }
        if (get_string(tf, v[i], keys[i], slots[i]) != 0)
            return -1;
    }
    weir_context ctx;
    char msg[160];
    if (cli_context_build(&ctx, c, msg, sizeof msg) != 0)
        return tf_error(tf, n, "%s", msg);
    return 0;
}

static int parse_finding(tfile *tf, yaml_node_t *n, texp_finding *f)
{
    static const char *const keys[] = {"rule",  "detector", "entity", "kind",
                                       "start", "end",      "action", "monitor"};
    yaml_node_t *v[8];
    f->rule = f->detector = f->entity = f->kind = NULL;
    f->action = f->monitor = -1;
    f->start = f->end = -1;
    if (get_mapping(tf, n, "a finding", keys, 8, v) != 0)
        return -1;
    if ((v[0] && get_string(tf, v[0], "rule", &f->rule) != 0) ||
        (v[1] && get_string(tf, v[1], "detector", &f->detector) != 0) ||
        (v[2] && get_string(tf, v[2], "entity", &f->entity) != 0) ||
        (v[3] && get_string(tf, v[3], "kind", &f->kind) != 0) ||
        (v[4] && get_offset(tf, v[4], "start", &f->start) != 0) ||
        (v[5] && get_offset(tf, v[5], "end", &f->end) != 0) ||
        (v[6] && get_action(tf, v[6], "action", &f->action) != 0) ||
        (v[7] && get_bool(tf, v[7], "monitor", &f->monitor) != 0))
        return -1;
    if (f->kind && strcmp(f->kind, "content") != 0 && strcmp(f->kind, "access") != 0 &&
        strcmp(f->kind, "residency") != 0 && strcmp(f->kind, "error") != 0)
        return tf_error(tf, v[3], "kind must be content, access, residency or error");
    return 0;
}

static int parse_expect(tfile *tf, yaml_node_t *n, tcase *t)
{
    static const char *const keys[] = {"action",  "enforced_action", "redacted", "unchanged",
                                       "message", "rules",           "findings"};
    enum { K_ACTION, K_ENFORCED, K_REDACTED, K_UNCHANGED, K_MESSAGE, K_RULES, K_FINDINGS };
    yaml_node_t *v[7];
    if (get_mapping(tf, n, "expect", keys, 7, v) != 0)
        return -1;
    if (!v[K_ACTION])
        return tf_error(tf, n, "expect needs an action (allow, log, redact or block)");
    if (get_action(tf, v[K_ACTION], "action", &t->action) != 0)
        return -1;
    t->enforced = -1;
    if (v[K_ENFORCED] && get_action(tf, v[K_ENFORCED], "enforced_action", &t->enforced) != 0)
        return -1;
    if (v[K_REDACTED] && v[K_UNCHANGED])
        return tf_error(tf, v[K_UNCHANGED], "give either redacted or unchanged, not both");
    if (v[K_REDACTED]) {
        if (get_text(tf, v[K_REDACTED], "redacted", &t->redacted) != 0)
            return -1;
        t->has_redacted = 1;
    }
    if (v[K_UNCHANGED]) {
        int u;
        if (get_bool(tf, v[K_UNCHANGED], "unchanged", &u) != 0)
            return -1;
        if (!u)
            return tf_error(tf, v[K_UNCHANGED], "unchanged: false says nothing; give redacted");
        t->has_redacted = 1;
        t->redacted = t->input;
    }
    if (v[K_MESSAGE]) {
        t->has_message = 1;
        if (!is_null(v[K_MESSAGE]) && get_string(tf, v[K_MESSAGE], "message", &t->message) != 0)
            return -1;
    }
    if (v[K_RULES]) {
        yaml_node_t *r = v[K_RULES];
        if (r->type != YAML_SEQUENCE_NODE)
            return tf_error(tf, r, "rules must be a list of rule ids, e.g. [emails] or []");
        size_t cnt = (size_t)(r->data.sequence.items.top - r->data.sequence.items.start);
        t->rules = calloc(cnt ? cnt : 1, sizeof *t->rules);
        if (!t->rules)
            return tf_error(tf, r, "out of memory");
        t->has_rules = 1;
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *item = node_at(tf, r->data.sequence.items.start[i]);
            if (get_string(tf, item, "a rule id", &t->rules[i]) != 0)
                return -1;
            t->nrules++;
        }
    }
    if (v[K_FINDINGS]) {
        yaml_node_t *fl = v[K_FINDINGS];
        if (fl->type != YAML_SEQUENCE_NODE)
            return tf_error(tf, fl, "findings must be a list of mappings");
        size_t cnt = (size_t)(fl->data.sequence.items.top - fl->data.sequence.items.start);
        t->findings = calloc(cnt ? cnt : 1, sizeof *t->findings);
        if (!t->findings)
            return tf_error(tf, fl, "out of memory");
        t->has_findings = 1;
        for (size_t i = 0; i < cnt; i++) {
            if (parse_finding(tf, node_at(tf, fl->data.sequence.items.start[i]),
                              &t->findings[i]) != 0)
                return -1;
            t->nfindings++;
        }
    }
    return 0;
}

static int parse_case(tfile *tf, yaml_node_t *n, tcase *t)
{
    static const char *const keys[] = {"name", "input", "context", "expect"};
    yaml_node_t *v[4];
    if (get_mapping(tf, n, "a test", keys, 4, v) != 0)
        return -1;
    t->line = (int)n->start_mark.line + 1;
    if (!v[0])
        return tf_error(tf, n, "a test needs a name");
    if (get_string(tf, v[0], "name", &t->name) != 0)
        return -1;
    if (!v[1])
        return tf_error(tf, n, "test '%s' needs an input", t->name);
    if (get_text(tf, v[1], "input", &t->input) != 0)
        return -1;
    t->ctx = tf->defaults;
    if (v[2] && parse_context(tf, v[2], &t->ctx) != 0)
        return -1;
    if (!v[3])
        return tf_error(tf, n, "test '%s' needs an expect mapping", t->name);
    return parse_expect(tf, v[3], t);
}

static int parse_file(tfile *tf, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return tf_error(tf, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &tf->doc)) {
        yaml_mark_t m = parser.problem_mark;
        if (parser.context)
            fprintf(stderr, "%s:%zu:%zu: %s %s\n", tf->path, m.line + 1, m.column + 1,
                    parser.problem ? parser.problem : "invalid YAML", parser.context);
        else
            fprintf(stderr, "%s:%zu:%zu: %s\n", tf->path, m.line + 1, m.column + 1,
                    parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    tf->have_doc = 1;

    yaml_node_t *root = yaml_document_get_root_node(&tf->doc);
    if (!root)
        return tf_error(tf, NULL, "empty test file: expected a 'tests:' list");
    static const char *const keys[] = {"tests", "defaults"};
    yaml_node_t *v[2];
    if (get_mapping(tf, root, "the test file", keys, 2, v) != 0)
        return -1;
    if (v[1]) {
        static const char *const dkeys[] = {"context"};
        yaml_node_t *dv[1];
        if (get_mapping(tf, v[1], "defaults", dkeys, 1, dv) != 0)
            return -1;
        if (dv[0] && parse_context(tf, dv[0], &tf->defaults) != 0)
            return -1;
    }
    yaml_node_t *tests = v[0];
    if (!tests)
        return tf_error(tf, root, "the test file needs a 'tests:' list");
    if (tests->type != YAML_SEQUENCE_NODE)
        return tf_error(tf, tests, "tests must be a list");
    size_t cnt = (size_t)(tests->data.sequence.items.top - tests->data.sequence.items.start);
    if (cnt == 0)
        return tf_error(tf, tests, "tests is empty");
    tf->cases = calloc(cnt, sizeof *tf->cases);
    if (!tf->cases)
        return tf_error(tf, NULL, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        if (parse_case(tf, node_at(tf, tests->data.sequence.items.start[i]), &tf->cases[i]) !=
            0) {
            tf->ncases = i + 1;
            return -1;
        }
        tf->ncases = i + 1;
    }
    return 0;
}

static void tfile_free(tfile *tf)
{
    for (size_t i = 0; i < tf->ncases; i++) {
        free(tf->cases[i].rules);
        free(tf->cases[i].findings);
    }
    free(tf->cases);
    if (tf->have_doc)
        yaml_document_delete(&tf->doc);
}

/* ------------------------------------------------------------------ diffs */

static int has_rule(const char *const *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], id) == 0)
            return 1;
    return 0;
}

/* Distinct rule ids among the findings, in finding order. New array (strings borrowed). */
static const char **actual_rules(const weir_result *r, size_t *n)
{
    size_t cnt = weir_result_finding_count(r);
    const char **v = calloc(cnt ? cnt : 1, sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < cnt; i++) {
        const weir_finding *f = weir_result_finding(r, i);
        if (f && f->rule && !has_rule(v, *n, f->rule))
            v[(*n)++] = f->rule;
    }
    return v;
}

static void print_rule_list(const char *const *v, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", v[i]);
    putchar(']');
}

/* One line of a text, and whether a '\n' ended it. */
typedef struct tline {
    const char *s;
    size_t n;
    int nl;
} tline;

/* Splits s[0..n) into lines (a final '\n' does not start an empty line). New array. */
static tline *split_lines(const char *s, size_t n, size_t *count)
{
    size_t c = 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n')
            c++;
    tline *v = calloc(c, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            v[k].s = s + start;
            v[k].n = i - start;
            v[k].nl = 1;
            k++;
            start = i + 1;
        }
    }
    if (start < n) {
        v[k].s = s + start;
        v[k].n = n - start;
        v[k].nl = 0;
        k++;
    }
    *count = k;
    return v;
}

static int line_eq(const tline *a, const tline *b)
{
    return a->n == b->n && a->nl == b->nl && memcmp(a->s, b->s, a->n) == 0;
}

static void print_line(const char *mark, const tline *l, int note_nl)
{
    printf("      %s", mark);
    if (l->n) {
        putchar(' ');
        cli_put_escaped(stdout, l->s, l->n);
    }
    putchar('\n');
    if (note_nl && !l->nl)
        puts("      \\ no newline at end of text");
}

/*
 * A unified-style diff of two texts: common lines around the change as context, "-" for
 * expected, "+" for actual, and a caret under the first differing character.
 */
static void print_text_diff(const char *exp, size_t elen, const char *act, size_t alen)
{
    size_t ne = 0, na = 0;
    tline *e = split_lines(exp, elen, &ne);
    tline *a = split_lines(act, alen, &na);
    if (!e || !a) {
        free(e);
        free(a);
        puts("      (out of memory for the diff)");
        return;
    }
    int end_differs = (elen && exp[elen - 1] == '\n') != (alen && act[alen - 1] == '\n');
    size_t pre = 0, suf = 0;
    while (pre < ne && pre < na && line_eq(&e[pre], &a[pre]))
        pre++;
    while (suf < ne - pre && suf < na - pre && line_eq(&e[ne - 1 - suf], &a[na - 1 - suf]))
        suf++;
    const size_t ctx = 2;
    for (size_t i = pre > ctx ? pre - ctx : 0; i < pre; i++)
        print_line(" ", &e[i], 0);
    if (pre == ne - suf)
        puts("      - (nothing)");
    for (size_t i = pre; i < ne - suf; i++)
        print_line("-", &e[i], end_differs);
    if (pre == na - suf)
        puts("      + (nothing)");
    for (size_t i = pre; i < na - suf; i++)
        print_line("+", &a[i], end_differs);
    if (pre < ne - suf && pre < na - suf) {
        const tline *x = &e[pre], *y = &a[pre];
        size_t k = 0;
        while (k < x->n && k < y->n && x->s[k] == y->s[k])
            k++;
        if (k < x->n || k < y->n) {
            while (k > 0 && k < y->n && ((unsigned char)y->s[k] & 0xc0) == 0x80)
                k--; /* back to the start of the character */
            size_t col = cli_put_escaped(NULL, y->s, k);
            printf("        %*s^ first difference at line %zu, column %zu\n", (int)col, "",
                   pre + 1, col + 1);
        }
    }
    for (size_t i = ne - suf; i < ne && i < ne - suf + ctx; i++)
        print_line(" ", &e[i], 0);
    free(e);
    free(a);
}

static void print_finding(const char *mark, const weir_finding *f)
{
    printf("      %s rule=%s kind=%s detector=%s entity=%s start=%zu end=%zu action=%s%s\n", mark,
           f->rule ? f->rule : "", weir_finding_kind_name(f->kind), f->detector ? f->detector : "",
           f->entity ? f->entity : "", f->start, f->end, weir_action_name(f->action),
           f->monitor ? " monitor" : "");
}

static void print_exp_finding(const char *mark, const texp_finding *f)
{
    printf("      %s", mark);
    if (f->rule)
        printf(" rule=%s", f->rule);
    if (f->kind)
        printf(" kind=%s", f->kind);
    if (f->detector)
        printf(" detector=%s", f->detector);
    if (f->entity)
        printf(" entity=%s", f->entity);
    if (f->start >= 0)
        printf(" start=%ld", f->start);
    if (f->end >= 0)
        printf(" end=%ld", f->end);
    if (f->action >= 0)
        printf(" action=%s", weir_action_name((weir_action)f->action));
    if (f->monitor >= 0)
        printf(f->monitor ? " monitor" : " monitor=false");
    putchar('\n');
}

static int finding_matches(const texp_finding *x, const weir_finding *f)
{
    if (x->rule && (!f->rule || strcmp(x->rule, f->rule) != 0))
        return 0;
    if (x->detector && (!f->detector || strcmp(x->detector, f->detector) != 0))
        return 0;
    if (x->entity && (!f->entity || strcmp(x->entity, f->entity) != 0))
        return 0;
    if (x->kind && strcmp(x->kind, weir_finding_kind_name(f->kind)) != 0)
        return 0;
    if (x->start >= 0 && (size_t)x->start != f->start)
        return 0;
    if (x->end >= 0 && (size_t)x->end != f->end)
        return 0;
    if (x->action >= 0 && x->action != (int)f->action)
        return 0;
    if (x->monitor >= 0 && x->monitor != (f->monitor != 0))
        return 0;
    return 1;
}

/* ------------------------------------------------------------------ running */

static void fail_header(int *failed, const tfile *tf, const tcase *t)
{
    if (*failed)
        return;
    *failed = 1;
    printf("FAIL %s (%s:%d)\n", t->name, tf->path, t->line);
}

/* Runs one case; returns 1 if it passed, 0 if it failed. */
static int run_case(const weir_policy *p, const tfile *tf, const tcase *t, int verbose)
{
    weir_context ctx;
    char msg[160];
    weir_result *r = NULL;
    weir_error err = {0};
    int failed = 0;

    if (cli_context_build(&ctx, &t->ctx, msg, sizeof msg) != 0) {
        fail_header(&failed, tf, t);
        printf("  context: %s\n", msg);
        return 0;
    }
    ctx.vault = cli_vault_new();
    if (weir_check(&r, p, &ctx, t->input.s, t->input.n, &err) != 0) {
        char buf[512];
        fail_header(&failed, tf, t);
        printf("  weir_check failed: %s\n", weir_error_format(&err, buf, sizeof buf));
        weir_vault_free(ctx.vault);
        return 0;
    }

    weir_action act = weir_result_action(r);
    if ((int)act != t->action) {
        fail_header(&failed, tf, t);
        printf("  action:   expected %s, got %s\n", weir_action_name((weir_action)t->action),
               weir_action_name(act));
    }
    weir_action enf = weir_result_enforced_action(r);
    if (t->enforced >= 0 && (int)enf != t->enforced) {
        fail_header(&failed, tf, t);
        printf("  enforced_action: expected %s, got %s\n",
               weir_action_name((weir_action)t->enforced), weir_action_name(enf));
    }
    if (t->has_redacted) {
        size_t olen = 0;
        const char *out = weir_result_text(r, &olen);
        if (!out) {
            out = t->input.s;
            olen = t->input.n;
        }
        if (olen != t->redacted.n || memcmp(out, t->redacted.s, olen) != 0) {
            fail_header(&failed, tf, t);
            printf("  redacted: text differs (- expected, + actual)\n");
            print_text_diff(t->redacted.s, t->redacted.n, out, olen);
        }
    }
    if (t->has_message) {
        const char *m = weir_result_message(r);
        int same = (!m && !t->message) || (m && t->message && strcmp(m, t->message) == 0);
        if (!same) {
            fail_header(&failed, tf, t);
            printf("  message:  expected %s%s%s, got %s%s%s\n", t->message ? "\"" : "",
                   t->message ? t->message : "none", t->message ? "\"" : "", m ? "\"" : "",
                   m ? m : "none", m ? "\"" : "");
        }
    }
    if (t->has_rules) {
        size_t na = 0;
        const char **ar = actual_rules(r, &na);
        int same = ar != NULL;
        for (size_t i = 0; same && i < t->nrules; i++)
            same = has_rule(ar, na, t->rules[i]);
        for (size_t i = 0; same && i < na; i++)
            same = has_rule(t->rules, t->nrules, ar[i]);
        if (!same) {
            fail_header(&failed, tf, t);
            printf("  rules:    expected ");
            print_rule_list(t->rules, t->nrules);
            printf(", got ");
            print_rule_list(ar, ar ? na : 0);
            putchar('\n');
            for (size_t i = 0; ar && i < t->nrules; i++)
                if (!has_rule(ar, na, t->rules[i]))
                    printf("      - %s (expected, did not fire)\n", t->rules[i]);
            for (size_t i = 0; ar && i < na; i++)
                if (!has_rule(t->rules, t->nrules, ar[i]))
                    printf("      + %s (fired, not expected)\n", ar[i]);
        }
        free(ar);
    }
    if (t->has_findings) {
        size_t n = weir_result_finding_count(r);
        int same = n == t->nfindings;
        for (size_t i = 0; same && i < n; i++) {
            const weir_finding *f = weir_result_finding(r, i);
            same = f && finding_matches(&t->findings[i], f);
        }
        if (!same) {
            fail_header(&failed, tf, t);
            printf("  findings: expected %zu, got %zu (- expected, + actual)\n", t->nfindings, n);
            for (size_t i = 0; i < t->nfindings; i++)
                print_exp_finding("-", &t->findings[i]);
            for (size_t i = 0; i < n; i++) {
                const weir_finding *f = weir_result_finding(r, i);
                if (f)
                    print_finding("+", f);
            }
        }
    }
    if (!failed && verbose)
        printf("ok   %s\n", t->name);
    weir_result_free(r);
    weir_vault_free(ctx.vault);
    return !failed;
}

int cli_policy_test(const char *policy_path, const char *tests_path, int verbose)
{
    weir_policy *p = NULL;
    weir_error err = {0};
    tfile tf;
    char *yaml = NULL;
    size_t len = 0;
    int rc = CLI_USAGE;

    memset(&tf, 0, sizeof tf);
    tf.path = tests_path;
    if (weir_policy_load_file(&p, policy_path, &err) != 0) {
        cli_print_error(&err);
        return CLI_USAGE;
    }
    if (cli_read_file(&yaml, &len, tests_path, MAX_TEST_FILE) != 0)
        goto done;
    if (parse_file(&tf, yaml, len) != 0)
        goto done;

    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < tf.ncases; i++) {
        if (run_case(p, &tf, &tf.cases[i], verbose))
            passed++;
        else
            failed++;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    rc = failed ? CLI_BLOCKED : CLI_OK;
done:
    tfile_free(&tf);
    free(yaml);
    weir_policy_unref(p);
    return rc;
}
