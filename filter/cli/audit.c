/*
 * audit.c - `weir audit verify|query|stats`: the reviewer's side of the audit trail.
 *
 * The reading, checking and filtering live in libweir (filter/audit/reader.h); this file
 * parses arguments and prints. Exit status: 0 valid / success, 1 anything invalid (verify)
 * or any file or record that could not be read (query, stats), 2 usage or unusable input.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "audit/reader.h"
#include "cli.h"

/* ------------------------------------------------------------------ shared */

/* ISO 8601 UTC ("2026-08-01T10:00:00Z", "2026-08-01T10:00Z", "2026-08-01") or relative to
 * now ("-90s", "-30m", "-1h", "-7d", "-2w"). 0, or -1. */
static int parse_when(const char *s, time_t now, time_t *out)
{
    if (s[0] == '-') {
        char *end;
        long v = strtol(s + 1, &end, 10);
        long unit = 0;
        if (end == s + 1 || v < 0 || end[0] == '\0' || end[1] != '\0')
            return -1;
        switch (end[0]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return -1;
        }
        if (v > 100L * 366 * 86400 / unit)
            return -1;
        *out = now - (time_t)(v * unit);
        return 0;
    }
    return wr_time_parse(s, out);
}

static int bad_time(const char *topic, const char *opt, const char *v)
{
    return cli_usage_error(topic, "%s '%s' is not a time: use 2026-08-01T10:00:00Z, "
                                  "2026-08-01 or -1h, -30m, -7d", opt, v);
}

/* 0 when dir is a directory, else reports it and returns -1. */
static int check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_errorf("%s: not a directory (give the audit trail's root directory)", dir);
        return -1;
    }
    return 0;
}

static void warn_cb(void *ctx, const char *where, const char *msg)
{
    (void)ctx;
    fputs("weir: warning: ", stderr);
    cli_put_escaped(stderr, where, strlen(where));
    fputs(": ", stderr);
    cli_put_escaped(stderr, msg, strlen(msg));
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------ verify */

enum { V_KEY = 1, V_START, V_END, V_VERBOSE, V_HELP };

static const cli_opt verify_opts[] = {
    {"public-key", 'k', 1, V_KEY},
    {"start", 0, 1, V_START},
    {"start-time", 0, 1, V_START},
    {"end", 0, 1, V_END},
    {"end-time", 0, 1, V_END},
    {"verbose", 'v', 0, V_VERBOSE},
    {"help", 'h', 0, V_HELP},
    {NULL, 0, 0, 0},
};

typedef struct vprint {
    int verbose;
    size_t pending;
} vprint;

static void put_path(const char *p)
{
    cli_put_escaped(stdout, p, strlen(p));
}

static void verdict_cb(void *ctx, const wr_verdict *v)
{
    vprint *vp = ctx;
    switch (v->kind) {
    case WR_V_DIGEST:
    case WR_V_LOG:
        fputs(v->kind == WR_V_DIGEST ? "Digest file\t" : "Log file\t", stdout);
        put_path(v->path);
        if (v->valid) {
            fputs("\tvalid\n", stdout);
            return;
        }
        printf("\tINVALID: %s", v->reason);
        if (vp->verbose && v->detail) {
            fputs(" (", stdout);
            put_path(v->detail);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
        return;
    case WR_V_GAP:
        fputs("Chain gap\t", stdout);
        put_path(v->path);
        fputs("\tstarts a new digest chain; the older digest ", stdout);
        put_path(v->other ? v->other : "");
        fputs(" is not linked to it\n", stdout);
        return;
    case WR_V_PENDING:
        vp->pending++;
        if (vp->verbose) {
            fputs("Log file\t", stdout);
            put_path(v->path);
            fputs("\tnot yet covered by a digest\n", stdout);
        }
        return;
    }
}

static int cmd_verify(int argc, char **argv)
{
    const char *topic = "audit verify";
    cli_args a;
    cli_args_init(&a, argc, argv, topic);
    const char **keys = NULL;
    size_t n_keys = 0;
    const char *dir = NULL;
    wr_verify_opts o;
    memset(&o, 0, sizeof o);
    vprint vp = {0, 0};
    time_t now = time(NULL);
    int rc = CLI_USAGE;
    for (;;) {
        int id = cli_args_next(&a, verify_opts);
        if (id == CLI_ARG_END)
            break;
        if (id == CLI_ARG_ERROR)
            goto done;
        switch (id) {
        case CLI_ARG_OPERAND:
            if (dir) {
                cli_usage_error(topic, "one trail directory only");
                goto done;
            }
            dir = a.operand;
            break;
        case V_KEY: {
            const char **nk = realloc(keys, (n_keys + 1) * sizeof *keys);
            if (!nk) {
                cli_errorf("out of memory");
                goto done;
            }
            keys = nk;
            keys[n_keys++] = a.value;
            break;
        }
        case V_START:
            if (parse_when(a.value, now, &o.start)) {
                bad_time(topic, "--start", a.value);
                goto done;
            }
            o.has_start = 1;
            break;
        case V_END:
            if (parse_when(a.value, now, &o.end)) {
                bad_time(topic, "--end", a.value);
                goto done;
            }
            o.has_end = 1;
            break;
        case V_VERBOSE:
            vp.verbose = 1;
            break;
        case V_HELP:
            cli_help_topic(stdout, topic);
            rc = CLI_OK;
            goto done;
        }
    }
    if (!dir) {
        cli_usage_error(topic, "which trail? give its directory");
        goto done;
    }
    if (!n_keys) {
        cli_usage_error(topic, "--public-key is required (the PEM key digests are signed for)");
        goto done;
    }
    if (check_dir(dir) != 0)
        goto done;
    if (o.has_start && o.has_end && o.start > o.end) {
        cli_usage_error(topic, "--start is after --end");
        goto done;
    }
    o.dir = dir;
    o.key_files = keys;
    o.n_keys = n_keys;
    char t1[21] = "the beginning", t2[21] = "now";
    if (o.has_start)
        wr_time_format(t1, o.start);
    if (o.has_end)
        wr_time_format(t2, o.end);
    printf("Validating digests and log files in ");
    put_path(dir);
    printf(" between %s and %s\n\n", t1, t2);
    wr_verify_counts c;
    weir_error err;
    memset(&err, 0, sizeof err);
    int vr = wr_audit_verify(&o, verdict_cb, &vp, &c, &err);
    if (vr < 0) {
        fflush(stdout);
        cli_print_error(&err);
        goto done;
    }
    printf("\n%zu/%zu digest files valid\n", c.digests_valid, c.digests);
    printf("%zu/%zu log files valid\n", c.logs_valid, c.logs);
    if (c.gaps)
        printf("%zu chain gap%s\n", c.gaps, c.gaps == 1 ? "" : "s");
    if (vp.pending)
        printf("%zu log file%s not yet covered by a digest\n", vp.pending,
               vp.pending == 1 ? "" : "s");
    if (c.digests == 0)
        printf("No digest files in range: nothing was verified\n");
    rc = vr == 0 && c.digests > 0 ? CLI_OK : 1;
done:
    free(keys);
    return rc;
}

/* ------------------------------------------------------------------ query */

enum { FMT_TABLE, FMT_JSON, FMT_JSONL, FMT_CSV };

enum {
    Q_SINCE = 1,
    Q_UNTIL,
    Q_PRINCIPAL,
    Q_MODEL,
    Q_RULE,
    Q_ACTION,
    Q_EVENT,
    Q_LIMIT,
    Q_FORMAT,
    Q_VERBOSE,
    Q_HELP
};

static const cli_opt query_opts[] = {
    {"since", 0, 1, Q_SINCE},
    {"until", 0, 1, Q_UNTIL},
    {"principal", 0, 1, Q_PRINCIPAL},
    {"role", 0, 1, Q_PRINCIPAL},
    {"model", 0, 1, Q_MODEL},
    {"rule", 0, 1, Q_RULE},
    {"action", 0, 1, Q_ACTION},
    {"event", 0, 1, Q_EVENT},
    {"limit", 'n', 1, Q_LIMIT},
    {"format", 'f', 1, Q_FORMAT},
    {"verbose", 'v', 0, Q_VERBOSE},
    {"help", 'h', 0, Q_HELP},
    {NULL, 0, 0, 0},
};

typedef struct row {
    time_t t;
    char *id, *time, *principal, *model, *event, *action, *enforced, *rules, *error, *json;
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
    size_t limit; /* 0: all */
    int format;
    int oom;
} rows;

static void row_free(row *r)
{
    char **f[] = {&r->id, &r->time, &r->principal, &r->model, &r->event, &r->action,
                  &r->enforced, &r->rules, &r->error, &r->json};
    for (size_t i = 0; i < WR_ARRAY_LEN(f); i++)
        free(*f[i]);
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->t != y->t)
        return x->t > y->t ? -1 : 1; /* newest first */
    return strcmp(y->id, x->id);
}

static char *dup_or_empty(const char *s)
{
    return wr_strdup(s ? s : "");
}

static int collect_cb(void *ctx, const wr_audit_rec *rec)
{
    rows *rs = ctx;
    if (rs->limit && rs->n >= 2 * rs->limit + 1024) {
        qsort(rs->v, rs->n, sizeof *rs->v, row_cmp);
        for (size_t i = rs->limit; i < rs->n; i++)
            row_free(&rs->v[i]);
        rs->n = rs->limit;
    }
    row *v = wr_grow(rs->v, &rs->cap, rs->n + 1, sizeof *v, 256);
    if (!v) {
        rs->oom = 1;
        return 1;
    }
    rs->v = v;
    row *r = &v[rs->n];
    memset(r, 0, sizeof *r);
    r->t = rec->time;
    r->id = dup_or_empty(rec->event_id);
    r->time = dup_or_empty(rec->event_time);
    r->principal = dup_or_empty(rec->principal);
    r->model = dup_or_empty(rec->model);
    r->event = dup_or_empty(rec->event_name);
    r->action = dup_or_empty(rec->action);
    r->enforced = dup_or_empty(rec->enforced);
    json_t *ec = json_object_get(rec->json, "errorCode");
    r->error = dup_or_empty(json_is_string(ec) ? json_string_value(ec) : NULL);
    wr_buf b;
    wr_buf_init(&b);
    wr_audit_rec_rules(rec, &b);
    r->rules = b.oom ? NULL : dup_or_empty(b.data);
    wr_buf_free(&b);
    int ok = r->id && r->time && r->principal && r->model && r->event && r->action &&
             r->enforced && r->error && r->rules;
    if (ok && (rs->format == FMT_JSON || rs->format == FMT_JSONL)) {
        r->json = json_dumps(rec->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ok = r->json != NULL;
    }
    rs->n++;
    if (!ok) {
        rs->oom = 1;
        return 1;
    }
    return 0;
}

/* A CSV field (RFC 4180), with a leading = + - @ neutralised for spreadsheets. */
static void csv_field(const char *s, int last)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
    if (quote || formula)
        fputc('"', stdout);
    if (formula)
        fputc('\'', stdout);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', stdout);
        fputc(*p, stdout);
    }
    if (quote || formula)
        fputc('"', stdout);
    fputc(last ? '\n' : ',', stdout);
}

static void cell(const char *s, size_t width, int last)
{
    size_t w = cli_put_escaped(stdout, s, strlen(s));
    if (last) {
        fputc('\n', stdout);
        return;
    }
    for (; w < width + 2; w++)
        fputc(' ', stdout);
}

static void print_rows(const rows *rs, size_t n)
{
    if (rs->format == FMT_JSON) {
        fputs("[", stdout);
        for (size_t i = 0; i < n; i++)
            printf("%s\n%s", i ? "," : "", rs->v[i].json);
        fputs(n ? "\n]\n" : "]\n", stdout);
        return;
    }
    if (rs->format == FMT_JSONL) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", rs->v[i].json);
        return;
    }
    if (rs->format == FMT_CSV) {
        fputs("eventTime,eventID,principal,model,eventName,action,enforcedAction,rules,"
              "errorCode\n", stdout);
        for (size_t i = 0; i < n; i++) {
            const row *r = &rs->v[i];
            const char *f[] = {r->time, r->id, r->principal, r->model, r->event, r->action,
                               r->enforced, r->rules, r->error};
            for (size_t k = 0; k < WR_ARRAY_LEN(f); k++)
                csv_field(f[k], k + 1 == WR_ARRAY_LEN(f));
        }
        return;
    }
    size_t w[5] = {4, 9, 5, 5, 6};
    for (size_t i = 0; i < n; i++) {
        const row *r = &rs->v[i];
        const char *f[] = {r->time, r->principal, r->model, r->event, r->action};
        for (size_t k = 0; k < 5; k++) {
            size_t cw = cli_put_escaped(NULL, f[k], strlen(f[k]));
            if (cw > w[k])
                w[k] = cw;
        }
    }
    cell("TIME", w[0], 0);
    cell("PRINCIPAL", w[1], 0);
    cell("MODEL", w[2], 0);
    cell("EVENT", w[3], 0);
    cell("ACTION", w[4], 0);
    cell("RULES", 0, 1);
    for (size_t i = 0; i < n; i++) {
        const row *r = &rs->v[i];
        cell(r->time, w[0], 0);
        cell(r->principal[0] ? r->principal : "-", w[1], 0);
        cell(r->model[0] ? r->model : "-", w[2], 0);
        cell(r->event, w[3], 0);
        cell(r->action[0] ? r->action : "-", w[4], 0);
        cell(r->rules[0] ? r->rules : "-", 0, 1);
    }
}

/* Parses the options shared by query and stats. Returns -1 to go on, else an exit status. */
static int parse_query(int argc, char **argv, const char *topic, int stats, wr_query *q,
                       int *format, size_t *limit, int *verbose)
{
    cli_args a;
    cli_args_init(&a, argc, argv, topic);
    time_t now = time(NULL);
    memset(q, 0, sizeof *q);
    *format = FMT_TABLE;
    for (;;) {
        const char *arg = a.i < argc ? argv[a.i] : "";
        int id = cli_args_next(&a, query_opts);
        if (id == CLI_ARG_END)
            break;
        if (id == CLI_ARG_ERROR)
            return CLI_USAGE;
        if (stats && id != CLI_ARG_OPERAND && id != Q_SINCE && id != Q_UNTIL &&
            id != Q_FORMAT && id != Q_HELP && id != Q_VERBOSE)
            return cli_usage_error(topic, "'%s' is not an option of 'weir audit stats'", arg);
        switch (id) {
        case CLI_ARG_OPERAND:
            if (q->dir)
                return cli_usage_error(topic, "one trail directory only");
            q->dir = a.operand;
            break;
        case Q_SINCE:
            if (parse_when(a.value, now, &q->since))
                return bad_time(topic, "--since", a.value);
            q->has_since = 1;
            break;
        case Q_UNTIL:
            if (parse_when(a.value, now, &q->until))
                return bad_time(topic, "--until", a.value);
            q->has_until = 1;
            break;
        case Q_PRINCIPAL:
            q->principal = a.value;
            break;
        case Q_MODEL:
            q->model = a.value;
            break;
        case Q_RULE:
            q->rule = a.value;
            break;
        case Q_EVENT:
            q->event = a.value;
            break;
        case Q_ACTION:
            if (cli_action_parse(a.value) < 0)
                return cli_usage_error(topic, "--action must be allow, log, redact or block");
            q->action = a.value;
            break;
        case Q_LIMIT: {
            char *end;
            long v = strtol(a.value, &end, 10);
            if (end == a.value || *end || v < 1)
                return cli_usage_error(topic, "--limit needs a positive number");
            *limit = (size_t)v;
            break;
        }
        case Q_FORMAT:
            if (strcmp(a.value, "table") == 0)
                *format = FMT_TABLE;
            else if (strcmp(a.value, "json") == 0)
                *format = FMT_JSON;
            else if (!stats && strcmp(a.value, "jsonl") == 0)
                *format = FMT_JSONL;
            else if (!stats && strcmp(a.value, "csv") == 0)
                *format = FMT_CSV;
            else
                return cli_usage_error(topic, stats ? "--format must be table or json"
                                                    : "--format must be table, json, jsonl "
                                                      "or csv");
            break;
        case Q_VERBOSE:
            *verbose = 1;
            break;
        case Q_HELP:
            cli_help_topic(stdout, topic);
            return CLI_OK;
        }
    }
    if (!q->dir)
        return cli_usage_error(topic, "which trail? give its directory");
    if (check_dir(q->dir) != 0)
        return CLI_USAGE;
    if (q->has_since && q->has_until && q->since > q->until)
        return cli_usage_error(topic, "--since is after --until");
    return -1;
}

static void print_counts(const char *what, const wr_scan_counts *c, int verbose)
{
    if (verbose || c->bad)
        fprintf(stderr,
                "weir: %s: %zu records read from %zu files (%zu files skipped by time), "
                "%zu duplicates, %zu matched, %zu unreadable\n",
                what, c->records, c->files, c->files_skipped, c->duplicates, c->matched,
                c->bad);
}

static int cmd_query(int argc, char **argv)
{
    wr_query q;
    rows rs;
    memset(&rs, 0, sizeof rs);
    int verbose = 0;
    int st = parse_query(argc, argv, "audit query", 0, &q, &rs.format, &rs.limit, &verbose);
    if (st >= 0)
        return st;
    wr_scan_counts c;
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = wr_audit_scan(&q, collect_cb, &rs, warn_cb, NULL, &c, &err);
    if (rc == 0 && rs.oom)
        rc = wr_error_set(&err, WEIR_ENOMEM, q.dir, 0, 0, "out of memory");
    if (rc != 0) {
        cli_print_error(&err);
        st = CLI_USAGE;
    } else {
        if (rs.n)
            qsort(rs.v, rs.n, sizeof *rs.v, row_cmp);
        size_t n = rs.limit && rs.limit < rs.n ? rs.limit : rs.n;
        print_rows(&rs, n);
        print_counts("query", &c, verbose);
        st = c.bad ? 1 : CLI_OK;
    }
    for (size_t i = 0; i < rs.n; i++)
        row_free(&rs.v[i]);
    free(rs.v);
    return st;
}

/* ------------------------------------------------------------------ stats */

typedef struct tally {
    json_t *by[4]; /* principal, model, rule, action: name -> count */
    size_t n;
    time_t first, last;
    int oom;
} tally;

static void bump(tally *t, json_t *map, const char *key)
{
    json_t *v = json_object_get(map, key);
    if (v) {
        json_integer_set(v, json_integer_value(v) + 1);
        return;
    }
    if (json_object_set_new(map, key, json_integer(1)) != 0)
        t->oom = 1;
}

static int tally_cb(void *ctx, const wr_audit_rec *rec)
{
    tally *t = ctx;
    if (!t->n || rec->time < t->first)
        t->first = rec->time;
    if (!t->n || rec->time > t->last)
        t->last = rec->time;
    t->n++;
    bump(t, t->by[0], rec->principal[0] ? rec->principal : "(none)");
    bump(t, t->by[1], rec->model[0] ? rec->model : "(none)");
    size_t nf = json_array_size(rec->findings);
    for (size_t i = 0; i < nf; i++) {
        json_t *r = json_object_get(json_array_get(rec->findings, i), "rule");
        if (!json_is_string(r))
            continue;
        int dup = 0; /* count a rule once per record */
        for (size_t k = 0; k < i && !dup; k++) {
            json_t *q = json_object_get(json_array_get(rec->findings, k), "rule");
            dup = json_is_string(q) && strcmp(json_string_value(q), json_string_value(r)) == 0;
        }
        if (!dup)
            bump(t, t->by[2], json_string_value(r));
    }
    bump(t, t->by[3], rec->action && rec->action[0] ? rec->action : "(none)");
    return t->oom;
}

typedef struct kv {
    const char *k;
    json_int_t v;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return strcmp(x->k, y->k);
}

static void print_section(const char *title, json_t *map)
{
    size_t n = json_object_size(map);
    kv *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return;
    size_t i = 0, w = 4;
    const char *k;
    json_t *val;
    json_object_foreach(map, k, val) {
        v[i].k = k;
        v[i].v = json_integer_value(val);
        size_t cw = cli_put_escaped(NULL, k, strlen(k));
        if (cw > w)
            w = cw;
        i++;
    }
    qsort(v, n, sizeof *v, kv_cmp);
    printf("\n%s:\n", title);
    if (!n)
        printf("  -\n");
    for (i = 0; i < n; i++) {
        fputs("  ", stdout);
        size_t cw = cli_put_escaped(stdout, v[i].k, strlen(v[i].k));
        for (; cw < w + 2; cw++)
            fputc(' ', stdout);
        printf("%lld\n", (long long)v[i].v);
    }
    free(v);
}

static int cmd_stats(int argc, char **argv)
{
    wr_query q;
    int format, verbose = 0;
    size_t limit = 0;
    int st = parse_query(argc, argv, "audit stats", 1, &q, &format, &limit, &verbose);
    if (st >= 0)
        return st;
    tally t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < 4; i++)
        t.by[i] = json_object();
    wr_scan_counts c;
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = (t.by[0] && t.by[1] && t.by[2] && t.by[3])
                 ? wr_audit_scan(&q, tally_cb, &t, warn_cb, NULL, &c, &err)
                 : wr_error_set(&err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc == 0 && t.oom)
        rc = wr_error_set(&err, WEIR_ENOMEM, q.dir, 0, 0, "out of memory");
    if (rc != 0) {
        cli_print_error(&err);
        st = CLI_USAGE;
        goto done;
    }
    char first[21] = "", last[21] = "";
    if (t.n) {
        wr_time_format(first, t.first);
        wr_time_format(last, t.last);
    }
    if (format == FMT_JSON) {
        json_t *o = json_pack("{s:I, s:s?, s:s?, s:O, s:O, s:O, s:O}", "records",
                              (json_int_t)t.n, "first", t.n ? first : NULL, "last",
                              t.n ? last : NULL, "principals", t.by[0], "models", t.by[1],
                              "rules", t.by[2], "actions", t.by[3]);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
        if (!s) {
            cli_errorf("out of memory");
            st = CLI_USAGE;
            goto done;
        }
    } else {
        if (t.n)
            printf("%zu records from %s to %s\n", t.n, first, last);
        else
            printf("0 records\n");
        print_section("By action", t.by[3]);
        print_section("By principal", t.by[0]);
        print_section("By model", t.by[1]);
        print_section("By rule (records in which the rule fired)", t.by[2]);
    }
    print_counts("stats", &c, verbose);
    st = c.bad ? 1 : CLI_OK;
done:
    for (int i = 0; i < 4; i++)
        json_decref(t.by[i]);
    return st;
}

/* ------------------------------------------------------------------ dispatch */

int cli_cmd_audit(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("audit", "which audit command? verify, query or stats");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        cli_help_topic(stdout, "audit");
        return CLI_OK;
    }
    if (strcmp(sub, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(sub, "query") == 0)
        return cmd_query(argc - 1, argv + 1);
    if (strcmp(sub, "stats") == 0)
        return cmd_stats(argc - 1, argv + 1);
    return cli_usage_error("audit", "unknown audit command '%s'", sub);
}
