/*
 * check.c - `weir check`: one text (text or json report) or a jsonl batch.
 *
 * Every decision comes from weir_check; this file only reads input and prints results.
 * Matched values are never printed on their own: the only input-derived text written is
 * the text that would go on (redacted, or unchanged), and nothing for a blocked text.
 *
 * With --audit, every checked text is recorded in the audit trail (weir_audit_record)
 * before its verdict is printed; a verdict that could not be recorded is withheld (exit 3)
 * unless --audit-fail-open is given.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "internal.h"
#include "weir/audit.h"

enum { FMT_TEXT, FMT_JSON, FMT_JSONL };

enum {
    OPT_POLICY = 1,
    OPT_DIRECTION,
    OPT_ROLE,
    OPT_MODEL,
    OPT_REGION,
    OPT_PROVIDER,
    OPT_DEPLOYMENT,
    OPT_FORMAT,
    OPT_AUDIT,
    OPT_AUDIT_KEY,
    OPT_AUDIT_HASH_KEY_ENV,
    OPT_AUDIT_ACCOUNT,
    OPT_AUDIT_REGION,
    OPT_AUDIT_DURABILITY,
    OPT_AUDIT_FAIL_OPEN,
    OPT_HELP
};

static const cli_opt check_opts[] = {
    {"policy", 'p', 1, OPT_POLICY},
    {"direction", 'd', 1, OPT_DIRECTION},
    {"role", 0, 1, OPT_ROLE},
    {"principal", 0, 1, OPT_ROLE},
    {"model", 0, 1, OPT_MODEL},
    {"region", 0, 1, OPT_REGION},
    {"provider", 0, 1, OPT_PROVIDER},
    {"deployment-type", 0, 1, OPT_DEPLOYMENT},
    {"format", 'f', 1, OPT_FORMAT},
    {"audit", 0, 1, OPT_AUDIT},
    {"audit-key", 0, 1, OPT_AUDIT_KEY},
    {"audit-hash-key-env", 0, 1, OPT_AUDIT_HASH_KEY_ENV},
    {"audit-account", 0, 1, OPT_AUDIT_ACCOUNT},
    {"audit-region", 0, 1, OPT_AUDIT_REGION},
    {"audit-durability", 0, 1, OPT_AUDIT_DURABILITY},
    {"audit-fail-open", 0, 0, OPT_AUDIT_FAIL_OPEN},
    {"help", 'h', 0, OPT_HELP},
    {NULL, 0, 0, 0},
};

/* ------------------------------------------------------------------ JSON helpers */

/* A JSON string for s[0..n), replacing invalid UTF-8; NULL s gives null. New reference. */
static json_t *jstrn(const char *s, size_t n)
{
    if (!s)
        return json_null();
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    size_t clean_len;
    char *clean = cli_utf8_sanitize(s, n, &clean_len);
    if (!clean)
        return NULL;
    j = json_stringn(clean, clean_len);
    free(clean);
    return j;
}

static json_t *jstr(const char *s)
{
    return s ? jstrn(s, strlen(s)) : json_null();
}

/* Sets key to v, taking the reference; records OOM in *oom. */
static void jset(json_t *obj, const char *key, json_t *v, int *oom)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *oom = 1;
}

static json_t *finding_json(const weir_finding *f, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    jset(o, "kind", json_string(weir_finding_kind_name(f->kind)), oom);
    jset(o, "rule", jstr(f->rule), oom);
    jset(o, "detector", jstr(f->detector), oom);
    jset(o, "entity", jstr(f->entity), oom);
    jset(o, "start", json_integer((json_int_t)f->start), oom);
    jset(o, "end", json_integer((json_int_t)f->end), oom);
    jset(o, "action", json_string(weir_action_name(f->action)), oom);
    jset(o, "monitor", json_boolean(f->monitor), oom);
    jset(o, "message", jstr(f->message), oom);
    return o;
}

static json_t *findings_json(const weir_result *r, int *oom)
{
    json_t *a = json_array();
    if (!a) {
        *oom = 1;
        return NULL;
    }
    size_t n = weir_result_finding_count(r);
    for (size_t i = 0; i < n; i++) {
        const weir_finding *f = weir_result_finding(r, i);
        if (!f)
            continue;
        json_t *fj = finding_json(f, oom);
        if (!fj || json_array_append_new(a, fj) != 0)
            *oom = 1;
    }
    return a;
}

/*
 * The text that goes on: the redacted text, the original when unchanged, or null when
 * blocked (a refused text is never echoed: it may hold the very value that blocked it).
 */
static json_t *output_text_json(const weir_result *r, const char *text, size_t len)
{
    if (weir_result_action(r) == WEIR_BLOCK)
        return json_null();
    size_t rlen = 0;
    const char *red = weir_result_text(r, &rlen);
    return red ? jstrn(red, rlen) : jstrn(text, len);
}

/* ------------------------------------------------------------------ audit trail */

/* The trail `weir check --audit` writes to; trail == NULL: no auditing. */
typedef struct check_audit {
    weir_audit *trail;
    int fail_open;          /* --audit-fail-open: release a verdict that was not recorded */
    unsigned long recorded; /* texts recorded */
    unsigned long failed;   /* texts that could not be recorded */
} check_audit;

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Records one checked text ("Check" event). Returns 0 when recorded or when there is no
 * trail, -1 with the reason in msg when the record could not be written.
 */
static int audit_text(check_audit *au, const weir_context *ctx, const weir_result *r,
                      const char *text, size_t len, double gate_ms, char *msg, size_t msg_size)
{
    if (!au->trail)
        return 0;
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = "Check";
    ev.principal = ctx->principal;
    ev.model = ctx->model;
    ev.aws_region = ctx->region;
    ev.provider = ctx->provider;
    ev.direction = ctx->direction;
    ev.gate_ms = gate_ms;
    weir_error err = {0};
    if (weir_audit_record(au->trail, &ev, r, text, len, &err) == 0) {
        au->recorded++;
        return 0;
    }
    au->failed++;
    if (err.text[0]) {
        char buf[512];
        snprintf(msg, msg_size, "%s", weir_error_format(&err, buf, sizeof buf));
    } else {
        snprintf(msg, msg_size, "error %d", err.code);
    }
    return -1;
}

/* ------------------------------------------------------------------ single text */

static void print_text_report(const weir_policy *p, const weir_result *r)
{
    weir_action act = weir_result_action(r);
    weir_action enforced = weir_result_enforced_action(r);
    printf("verdict: %s", weir_action_name(act));
    if (enforced != act)
        printf(" (enforced: %s; monitor mode)", weir_action_name(enforced));
    printf("\npolicy: %s %s\n", weir_policy_name(p), weir_policy_digest(p));
    const char *msg = weir_result_message(r);
    if (msg)
        printf("message: %s\n", msg);
    size_t n = weir_result_finding_count(r);
    printf("findings: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        const weir_finding *f = weir_result_finding(r, i);
        if (!f)
            continue;
        printf("  %zu. rule=%s kind=%s", i + 1, f->rule ? f->rule : "",
               weir_finding_kind_name(f->kind));
        if (f->detector && *f->detector)
            printf(" detector=%s", f->detector);
        if (f->entity && *f->entity)
            printf(" entity=%s", f->entity);
        if (f->kind == WEIR_FINDING_CONTENT || f->start != f->end)
            printf(" start=%zu end=%zu", f->start, f->end);
        printf(" action=%s", weir_action_name(f->action));
        if (f->monitor)
            printf(" monitor");
        if (f->message && *f->message)
            printf(" message=\"%s\"", f->message);
        putchar('\n');
    }
    if (act == WEIR_BLOCK) {
        printf("text: withheld (blocked)\n");
        return;
    }
    size_t rlen = 0;
    const char *red = weir_result_text(r, &rlen);
    if (!red) {
        printf("text: unchanged\n");
        return;
    }
    printf("redacted:\n");
    fwrite(red, 1, rlen, stdout);
    if (rlen == 0 || red[rlen - 1] != '\n')
        putchar('\n');
}

static int print_json_report(const weir_policy *p, const weir_result *r, const char *text,
                             size_t len)
{
    int oom = 0;
    json_t *o = json_object();
    json_t *pol = json_object();
    if (!o || !pol) {
        json_decref(o);
        json_decref(pol);
        cli_errorf("out of memory");
        return -1;
    }
    jset(pol, "name", jstr(weir_policy_name(p)), &oom);
    jset(pol, "digest", jstr(weir_policy_digest(p)), &oom);
    jset(o, "policy", pol, &oom);
    jset(o, "action", json_string(weir_action_name(weir_result_action(r))), &oom);
    jset(o, "enforced_action", json_string(weir_action_name(weir_result_enforced_action(r))),
         &oom);
    jset(o, "message", jstr(weir_result_message(r)), &oom);
    jset(o, "findings", findings_json(r, &oom), &oom);
    jset(o, "changed", json_boolean(weir_result_text(r, NULL) != NULL), &oom);
    jset(o, "redacted", output_text_json(r, text, len), &oom);
    int rc = 0;
    if (oom || json_dumpf(o, stdout, JSON_INDENT(2)) != 0) {
        cli_errorf("cannot write the JSON report");
        rc = -1;
    } else {
        putchar('\n');
    }
    json_decref(o);
    return rc;
}

static int check_one(const weir_policy *p, const weir_context *ctx, const char *path, int fmt,
                     check_audit *au)
{
    char *text = NULL;
    size_t len = 0;
    weir_result *r = NULL;
    weir_error err = {0};
    int rc = CLI_USAGE;

    if (cli_read_file(&text, &len, path, CLI_MAX_INPUT) != 0)
        return CLI_USAGE;
    weir_context c = *ctx;
    c.vault = cli_vault_new();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (weir_check(&r, p, &c, text, len, &err) != 0) {
        cli_print_error(&err);
        goto done;
    }
    double gate_ms = elapsed_ms(&t0);
    char amsg[600];
    if (audit_text(au, &c, r, text, len, gate_ms, amsg, sizeof amsg) != 0) {
        if (!au->fail_open) {
            /* no unaudited verdict: nothing goes to stdout */
            cli_errorf("error: audit trail unwritable: %s; refusing", amsg);
            rc = CLI_UNAUDITED;
            goto done;
        }
        cli_errorf("warning: audit trail unwritable: %s; releasing the verdict anyway "
                   "(--audit-fail-open)", amsg);
    }
    if (fmt == FMT_JSON) {
        if (print_json_report(p, r, text, len) != 0)
            goto done;
    } else {
        print_text_report(p, r);
    }
    rc = weir_result_action(r) == WEIR_BLOCK ? CLI_BLOCKED : CLI_OK;
done:
    weir_result_free(r);
    weir_vault_free(c.vault);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ jsonl batch */

typedef struct line_reader {
    FILE *f;
    char *buf;
    size_t cap;
    size_t max;
    unsigned long lineno;
} line_reader;

/*
 * Reads the next line (without '\n' or a trailing '\r') into r->buf. Returns 1 with *len,
 * 0 at end of input, -1 on a read error or OOM. *too_long is set when the line was longer
 * than r->max (the rest of it is skipped).
 */
static int read_line(line_reader *r, size_t *len, int *too_long)
{
    size_t n = 0;
    int c, any = 0;
    *too_long = 0;
    while ((c = getc(r->f)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        if (n >= r->max) {
            *too_long = 1;
            continue;
        }
        if (n + 1 >= r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 4096;
            if (ncap > r->max + 1)
                ncap = r->max + 1;
            char *nb = realloc(r->buf, ncap);
            if (!nb)
                return -1;
            r->buf = nb;
            r->cap = ncap;
        }
        r->buf[n++] = (char)c;
    }
    if (ferror(r->f))
        return -1;
    if (!any)
        return 0;
    r->lineno++;
    if (n > 0 && r->buf[n - 1] == '\r')
        n--;
    if (r->buf)
        r->buf[n] = '\0';
    *len = n;
    return 1;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static void emit_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s) {
        /* Last resort: still one line per input so the batch stays aligned. */
        fputs("{\"id\":null,\"error\":\"out of memory\"}\n", stdout);
        return;
    }
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
}

/* Writes {"id":id,"line":N,"error":msg}. id may be NULL. */
static void emit_error(json_t *id, unsigned long lineno, const char *msg)
{
    int oom = 0;
    json_t *o = json_object();
    if (!o) {
        emit_line(NULL);
        return;
    }
    jset(o, "id", id ? json_incref(id) : json_null(), &oom);
    jset(o, "line", json_integer((json_int_t)lineno), &oom);
    jset(o, "error", jstr(msg), &oom);
    emit_line(oom ? NULL : o);
    json_decref(o);
}

/*
 * A jansson parse error without the "near '...'" part, which quotes input and could echo
 * a sensitive value.
 */
static void json_error_clean(char *out, size_t size, const json_error_t *e)
{
    char text[JSON_ERROR_TEXT_LENGTH];
    snprintf(text, sizeof text, "%s", e->text);
    char *near = strstr(text, " near ");
    if (near)
        *near = '\0';
    snprintf(out, size, "invalid JSON at column %d: %s", e->column, text);
}

static const char *const override_keys[] = {"direction", "role",     "model",
                                            "region",    "provider", "deployment_type"};

/*
 * Checks one parsed jsonl object; returns 1 if blocked, 0 if not, -1 if it gave an error,
 * -2 if its verdict was withheld because it could not be audited.
 */
static int check_jsonl_object(const weir_policy *p, const cli_context *flags, json_t *obj,
                              unsigned long lineno, check_audit *au)
{
    json_t *id = json_object_get(obj, "id");
    json_t *text = json_object_get(obj, "text");
    char msg[256];

    if (!text) {
        emit_error(id, lineno, "missing \"text\"");
        return -1;
    }
    if (!json_is_string(text)) {
        emit_error(id, lineno, "\"text\" must be a string");
        return -1;
    }
    cli_context c = *flags;
    const char **slots[] = {&c.direction, &c.role,     &c.model,
                            &c.region,    &c.provider, &c.deployment_type};
    for (size_t i = 0; i < sizeof override_keys / sizeof override_keys[0]; i++) {
        json_t *v = json_object_get(obj, override_keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            snprintf(msg, sizeof msg, "\"%s\" must be a string", override_keys[i]);
            emit_error(id, lineno, msg);
            return -1;
        }
        *slots[i] = json_string_value(v);
    }
    weir_context ctx;
    if (cli_context_build(&ctx, &c, msg, sizeof msg) != 0) {
        emit_error(id, lineno, msg);
        return -1;
    }

    const char *s = json_string_value(text);
    size_t len = json_string_length(text);
    weir_result *r = NULL;
    weir_error err = {0};
    ctx.vault = cli_vault_new();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (weir_check(&r, p, &ctx, s, len, &err) != 0) {
        weir_vault_free(ctx.vault);
        emit_error(id, lineno, err.text[0] ? err.text : "check failed");
        return -1;
    }
    double gate_ms = elapsed_ms(&t0);
    char amsg[600];
    if (audit_text(au, &ctx, r, s, len, gate_ms, amsg, sizeof amsg) != 0) {
        int first = au->failed == 1;
        if (!au->fail_open) {
            /* the verdict is withheld: an error line takes its place */
            char line_msg[700];
            snprintf(line_msg, sizeof line_msg, "audit trail unwritable: %s", amsg);
            weir_result_free(r);
            weir_vault_free(ctx.vault);
            emit_error(id, lineno, line_msg);
            if (first)
                cli_errorf("error: line %lu: audit trail unwritable: %s; refusing", lineno,
                           amsg);
            return -2;
        }
        if (first)
            cli_errorf("warning: line %lu: audit trail unwritable: %s; releasing the verdict "
                       "anyway (--audit-fail-open)", lineno, amsg);
    }

    int oom = 0;
    json_t *o = json_object();
    if (!o) {
        weir_result_free(r);
        weir_vault_free(ctx.vault);
        emit_error(id, lineno, "out of memory");
        return -1;
    }
    jset(o, "id", id ? json_incref(id) : json_null(), &oom);
    jset(o, "action", json_string(weir_action_name(weir_result_action(r))), &oom);
    jset(o, "enforced_action", json_string(weir_action_name(weir_result_enforced_action(r))),
         &oom);
    jset(o, "redacted", output_text_json(r, s, len), &oom);
    jset(o, "findings", findings_json(r, &oom), &oom);
    int blocked = weir_result_action(r) == WEIR_BLOCK;
    weir_result_free(r);
    weir_vault_free(ctx.vault);
    if (oom) {
        json_decref(o);
        emit_error(id, lineno, "out of memory");
        return -1;
    }
    emit_line(o);
    json_decref(o);
    return blocked;
}

static int check_jsonl(const weir_policy *p, const cli_context *flags, const char *path,
                       check_audit *au)
{
    int use_stdin = !path || strcmp(path, "-") == 0;
    line_reader lr = {0};
    int any_blocked = 0, any_error = 0, any_unaudited = 0, rc;

    lr.f = use_stdin ? stdin : fopen(path, "rb");
    lr.max = CLI_MAX_JSONL_LINE;
    if (!lr.f) {
        cli_errorf("%s: %s", path, strerror(errno));
        return CLI_USAGE;
    }
    for (;;) {
        size_t len = 0;
        int too_long = 0;
        int got = read_line(&lr, &len, &too_long);
        if (got < 0) {
            cli_errorf("%s: read error", use_stdin ? "<stdin>" : path);
            any_error = 1;
            break;
        }
        if (got == 0)
            break;
        if (too_long) {
            char msg[96];
            snprintf(msg, sizeof msg, "line longer than %zu bytes", lr.max);
            emit_error(NULL, lr.lineno, msg);
            any_error = 1;
            continue;
        }
        if (is_blank(lr.buf, len))
            continue;
        if (!wr_json_depth_ok(lr.buf, len, CLI_MAX_JSON_DEPTH)) {
            char msg[96];
            snprintf(msg, sizeof msg, "JSON nested deeper than %d levels", CLI_MAX_JSON_DEPTH);
            emit_error(NULL, lr.lineno, msg);
            any_error = 1;
            continue;
        }
        json_error_t jerr;
        json_t *obj = json_loadb(lr.buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!obj) {
            char msg[256];
            json_error_clean(msg, sizeof msg, &jerr);
            emit_error(NULL, lr.lineno, msg);
            any_error = 1;
            continue;
        }
        if (!json_is_object(obj)) {
            emit_error(NULL, lr.lineno, "line is not a JSON object");
            any_error = 1;
        } else {
            int res = check_jsonl_object(p, flags, obj, lr.lineno, au);
            if (res == -2)
                any_unaudited = 1;
            else if (res < 0)
                any_error = 1;
            else if (res > 0)
                any_blocked = 1;
        }
        json_decref(obj);
    }
    free(lr.buf);
    if (!use_stdin)
        fclose(lr.f);
    if (au->failed > 0)
        cli_errorf("%s: %lu line(s) could not be audited%s", au->fail_open ? "warning" : "error",
                   au->failed,
                   au->fail_open ? "; their verdicts were released (--audit-fail-open)"
                                 : "; their verdicts were withheld");
    /* An unchecked line is not an allowed line, an unaudited one not a released one:
     * fail closed. */
    if (any_unaudited)
        rc = CLI_UNAUDITED;
    else
        rc = (any_blocked || any_error) ? CLI_BLOCKED : CLI_OK;
    return rc;
}

/* ------------------------------------------------------------------ command */

int cli_cmd_check(int argc, char **argv)
{
    cli_args a;
    cli_context flags = {0};
    const char *policy_path = NULL, *input = NULL;
    const char *audit_dir = NULL, *audit_key = NULL, *audit_hash_env = NULL;
    const char *audit_account = NULL, *audit_region = NULL, *audit_only = NULL;
    weir_audit_durability durability = WEIR_AUDIT_SYNC;
    check_audit au = {0};
    int fmt = FMT_TEXT, id;

    cli_args_init(&a, argc, argv, "check");
    while ((id = cli_args_next(&a, check_opts)) != CLI_ARG_END) {
        switch (id) {
        case CLI_ARG_ERROR:
            return CLI_USAGE;
        case CLI_ARG_OPERAND:
            if (input)
                return cli_usage_error("check", "only one input file may be given");
            input = a.operand;
            break;
        case OPT_POLICY:
            policy_path = a.value;
            break;
        case OPT_DIRECTION:
            flags.direction = a.value;
            break;
        case OPT_ROLE:
            flags.role = a.value;
            break;
        case OPT_MODEL:
            flags.model = a.value;
            break;
        case OPT_REGION:
            flags.region = a.value;
            break;
        case OPT_PROVIDER:
            flags.provider = a.value;
            break;
        case OPT_DEPLOYMENT:
            flags.deployment_type = a.value;
            break;
        case OPT_FORMAT:
            if (strcmp(a.value, "text") == 0)
                fmt = FMT_TEXT;
            else if (strcmp(a.value, "json") == 0)
                fmt = FMT_JSON;
            else if (strcmp(a.value, "jsonl") == 0)
                fmt = FMT_JSONL;
            else
                return cli_usage_error("check", "--format must be text, json or jsonl, not '%s'",
                                       a.value);
            break;
        case OPT_AUDIT:
            if (!*a.value)
                return cli_usage_error("check", "--audit needs a directory");
            audit_dir = a.value;
            break;
        case OPT_AUDIT_KEY:
            audit_key = a.value;
            audit_only = "--audit-key";
            break;
        case OPT_AUDIT_HASH_KEY_ENV:
            audit_hash_env = a.value;
            audit_only = "--audit-hash-key-env";
            break;
        case OPT_AUDIT_ACCOUNT:
            audit_account = a.value;
            audit_only = "--audit-account";
            break;
        case OPT_AUDIT_REGION:
            audit_region = a.value;
            audit_only = "--audit-region";
            break;
        case OPT_AUDIT_DURABILITY:
            if (strcmp(a.value, "sync") == 0)
                durability = WEIR_AUDIT_SYNC;
            else if (strcmp(a.value, "batch") == 0)
                durability = WEIR_AUDIT_BATCH;
            else
                return cli_usage_error("check", "--audit-durability must be sync or batch, not "
                                       "'%s'", a.value);
            audit_only = "--audit-durability";
            break;
        case OPT_AUDIT_FAIL_OPEN:
            au.fail_open = 1;
            audit_only = "--audit-fail-open";
            break;
        case OPT_HELP:
            cli_help_topic(stdout, "check");
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    if (audit_only && !audit_dir)
        return cli_usage_error("check", "%s needs --audit DIR", audit_only);
    const char *hash_key = NULL;
    if (audit_hash_env) {
        hash_key = getenv(audit_hash_env);
        if (!hash_key || !*hash_key)
            return cli_usage_error("check", "--audit-hash-key-env: environment variable '%s' "
                                   "is not set or empty", audit_hash_env);
    }

    char msg[256];
    weir_context ctx;
    if (cli_context_build(&ctx, &flags, msg, sizeof msg) != 0)
        return cli_usage_error("check", "%s", msg);

    weir_policy *p = NULL;
    weir_error err = {0};
    int lrc = policy_path ? weir_policy_load_file(&p, policy_path, &err)
                          : weir_policy_load_default(&p, &err);
    if (lrc != 0) {
        cli_print_error(&err);
        return CLI_USAGE;
    }
    if (audit_dir) {
        /* a write past RLIMIT_FSIZE must fail (EFBIG, reported as unwritable), not kill us */
        signal(SIGXFSZ, SIG_IGN);
        weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
        o.dir = audit_dir;
        o.account_id = audit_account;
        o.region = audit_region;
        o.durability = durability;
        o.signing_key_file = audit_key;
        if (hash_key) {
            o.hash_key = (const unsigned char *)hash_key;
            o.hash_key_len = strlen(hash_key);
        }
        weir_error aerr = {0};
        struct stat st;
        if (stat(audit_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            cli_errorf("cannot open the audit trail: %s: not a directory", audit_dir);
            weir_policy_unref(p);
            return CLI_USAGE;
        }
        if (weir_audit_open(&au.trail, &o, &aerr) != 0) {
            /* fail closed: nothing is checked without a trail to record it in */
            char buf[512];
            cli_errorf("cannot open the audit trail: %s",
                       aerr.text[0] ? weir_error_format(&aerr, buf, sizeof buf) : audit_dir);
            weir_policy_unref(p);
            return CLI_USAGE;
        }
    }
    int rc = fmt == FMT_JSONL ? check_jsonl(p, &flags, input, &au)
                              : check_one(p, &ctx, input, fmt, &au);
    if (au.trail) {
        /* deliver the log file now to report a failure; records not delivered stay in the
         * journal (they are on disk) and go out with the next writer */
        weir_error ferr = {0};
        char buf[512];
        if (weir_audit_flush(au.trail, &ferr) != 0)
            cli_errorf("warning: cannot deliver the audit log file: %s; the records stay in "
                       "the journal", weir_error_format(&ferr, buf, sizeof buf));
    }
    /* rolls the log file and, with --audit-key, writes the final digest */
    weir_audit_close(au.trail);
    weir_policy_unref(p);
    return rc;
}
