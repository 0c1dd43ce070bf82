/*
 * load.c - YAML policy to a compiled struct weir_policy.
 *
 * ytree.c turns the text into a tree with positions; this file checks it against the
 * schema (docs/policy.md) key by key, in document order, and compiles the detectors.
 * The first error refuses the policy whole, as source:line:col plus a message that says
 * what to write instead. Empty lists that would silently switch a check off are refused.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "plugin/loader.h"
#include "policy/policy.h"
#include "policy/ytree.h"

#define WR_DEFAULT_MAX_INPUT ((size_t)10 * 1024 * 1024)
#define WR_DEFAULT_MATCH_LIMIT 1000000u
#define WR_DEFAULT_DEPTH_LIMIT 10000u
#define WR_MAX_MESSAGE_CHARS 500
#define WR_MIN_HASH_KEY 16
#define WR_MAX_NAME 64

typedef struct idslot {
    const char *id;
    int line;
} idslot;

/* A detector of the policy's `detectors:` section (a plugin), by the name rules use. */
typedef struct pdef {
    const char *name;  /* borrowed from the tree */
    wr_pdet *pd;       /* until a rule uses it: then owned by p->detectors[slot] */
    char *label, *entity;
    size_t slot;       /* index in p->detectors, SIZE_MAX: no rule uses it yet */
} pdef;

typedef struct ctx {
    weir_error *err;
    const char *src;
    const char *base_dir;       /* relative plugin paths resolve against it */
    pdef *pdefs;                /* the policy's `detectors:` */
    size_t npdefs;
    struct weir_policy *p;
    size_t *builtin_slot;       /* builtin index -> index in p->detectors, SIZE_MAX: none */
    idslot *ids;                /* open-addressing set of rule ids */
    size_t ids_cap;
    const wr_ynode *hash_rule;  /* first `redact` node that asks for style hash */
    const char *hash_rule_id;
    const wr_ynode *key_env, *key_file;
} ctx;

/* ----------------------------------------------------------------- messages */

static int fail(ctx *c, const wr_ynode *at, const char *fmt, ...) WR_PRINTF(3, 4);

static int fail(ctx *c, const wr_ynode *at, const char *fmt, ...)
{
    char text[sizeof c->err->text];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return wr_error_set(c->err, WEIR_EPOLICY, c->src, at ? at->line : 0, at ? at->col : 0, "%s",
                        text);
}

static int oom(ctx *c)
{
    return wr_error_set(c->err, WEIR_ENOMEM, c->src, 0, 0, "out of memory loading the policy");
}

static int looks_int(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int is_bool_text(const char *s)
{
    return !strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
           !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE");
}

/* "a mapping", "a list", "a number", "a boolean", "no value", "a string". */
static const char *kind_name(const wr_ynode *n)
{
    if (n->kind == WR_Y_MAP)
        return "a mapping";
    if (n->kind == WR_Y_SEQ)
        return "a list";
    if (wr_ynode_is_null(n))
        return "no value";
    if (n->plain && looks_int(n->str))
        return "a number";
    if (n->plain && is_bool_text(n->str))
        return "a boolean";
    return "a string";
}

/*
 * Checks key i of map: known, and not a repeat of an earlier key. `where` is "" for the
 * top level, else e.g. "rule 'pii-email'" or "'limits'". Earlier keys have already passed
 * this check, so they are known and distinct: the loop below is bounded by the schema.
 */
static int check_key(ctx *c, const wr_ynode *map, size_t i, const char *const *keys,
                     const char *where)
{
    const wr_ynode *k = map->kids[i];
    int known = 0;
    for (size_t j = 0; keys[j]; j++)
        if (strcmp(k->str, keys[j]) == 0)
            known = 1;
    if (!known) {
        const char *hint = wr_ynames_closest(k->str, keys);
        char scope[96];
        if (*where)
            snprintf(scope, sizeof scope, "key '%.60s' in %s", k->str, where);
        else
            snprintf(scope, sizeof scope, "top-level key '%.60s'", k->str);
        if (hint)
            return fail(c, k, "unknown %s; did you mean '%s'?", scope, hint);
        char list[160];
        wr_ynames_join(list, sizeof list, keys);
        return fail(c, k, "unknown %s; expected one of: %s", scope, list);
    }
    for (size_t j = 0; j < i; j += 2)
        if (strcmp(map->kids[j]->str, k->str) == 0)
            return fail(c, k, "duplicate key '%s'%s%s (first at line %d)", k->str,
                        *where ? " in " : "", where, map->kids[j]->line);
    return 0;
}

/* ----------------------------------------------------------------- scalars */

static int want_map(ctx *c, const wr_ynode *v, const char *what)
{
    if (v->kind == WR_Y_MAP)
        return 0;
    return fail(c, v, "expected a mapping for '%s', got %s", what, kind_name(v));
}

static int get_str(ctx *c, const wr_ynode *v, const char *what, const char **out)
{
    if (v->kind != WR_Y_SCALAR)
        return fail(c, v, "expected a string for '%s', got %s", what, kind_name(v));
    if (wr_ynode_is_null(v))
        return fail(c, v, "'%s' has no value", what);
    *out = v->str;
    return 0;
}

/* [A-Za-z0-9._-]{1,64}: names, rule ids. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WR_MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int get_name(ctx *c, const wr_ynode *v, const char *what, const char **out)
{
    int rc = get_str(c, v, what, out);
    if (rc)
        return rc;
    if (!valid_name(*out))
        return fail(c, v,
                    "invalid %s '%.60s': use 1 to 64 characters from A-Z a-z 0-9 . _ -", what,
                    *out);
    return 0;
}

/* Case-insensitive match against names[]; the error lists them. */
static int get_enum(ctx *c, const wr_ynode *v, const char *what, const char *const *names,
                    size_t *out)
{
    const char *s;
    int rc = get_str(c, v, what, &s);
    if (rc)
        return rc;
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    char list[160];
    wr_ynames_join(list, sizeof list, names);
    const char *hint = wr_ynames_closest(s, names);
    if (hint)
        return fail(c, v, "'%s' must be one of %s, not '%.40s'; did you mean '%s'?", what, list,
                    s, hint);
    return fail(c, v, "'%s' must be one of %s, not '%.40s'", what, list, s);
}

static int get_uint(ctx *c, const wr_ynode *v, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    uint64_t x = 0;
    int ok = v->kind == WR_Y_SCALAR && v->plain && v->len > 0 && v->len <= 20;
    for (size_t i = 0; ok && i < v->len; i++) {
        unsigned d = (unsigned)(v->str[i] - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            ok = 0;
        else
            x = x * 10 + d;
    }
    if (!ok || x < min || x > max)
        return fail(c, v, "'%s' must be a whole number from %llu to %llu", what,
                    (unsigned long long)min, (unsigned long long)max);
    *out = x;
    return 0;
}

static int get_bool(ctx *c, const wr_ynode *v, const char *what, int *out)
{
    if (v->kind == WR_Y_SCALAR && v->plain && is_bool_text(v->str)) {
        *out = tolower((unsigned char)v->str[0]) == 't';
        return 0;
    }
    return fail(c, v, "'%s' must be true or false, got %s", what, kind_name(v));
}

/* ----------------------------------------------------------------- string lists */

/* Validates one list item; returns NULL when fine, else the reason. */
typedef const char *(*item_check_fn)(const char *s, char *buf, size_t size);

static const char *check_plain_item(const char *s, char *buf, size_t size)
{
    (void)buf;
    (void)size;
    if (!*s)
        return "an empty string";
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return "spaces and control characters are not allowed";
    return NULL;
}

static const char *check_role(const char *s, char *buf, size_t size)
{
    const char *why = check_plain_item(s, buf, size);
    if (why)
        return why;
    if (strcmp(s, "*") != 0 && strncmp(s, "arn:", 4) != 0)
        return "role patterns are ARN globs starting with 'arn:', e.g. "
               "arn:aws:iam::111122223333:role/llm-*";
    return NULL;
}

static const char *check_region(const char *s, char *buf, size_t size)
{
    (void)buf;
    (void)size;
    size_t n = strlen(s);
    if (n == 0 || n > WR_MAX_NAME)
        return "region names are 1 to 64 characters";
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '*' && *s != '?')
            return "region names are written like eu-central-1 or swedencentral (letters, "
                   "digits, '-', and the globs '*' '?')";
    return NULL;
}

/* The items of a list node; a scalar stands for a one-item list (stored in one[0]). */
static void list_items(const wr_ynode *v, const wr_ynode *one[1], const wr_ynode *const **items,
                       size_t *n)
{
    if (v->kind == WR_Y_SCALAR) {
        one[0] = v;
        *items = one;
        *n = 1;
    } else {
        *items = (const wr_ynode *const *)v->kids;
        *n = v->n;
    }
}

/*
 * A list of strings. A single string counts as a one-element list. Items are stored as
 * written, or lower-cased when `lower`. `allow_empty` 0 refuses [] with a message that
 * says what to do instead.
 */
static int get_strlist(ctx *c, const wr_ynode *v, const char *what, item_check_fn check,
                       int lower, int allow_empty, const char *empty_hint, wr_strlist *out)
{
    const wr_ynode *const *items;
    const wr_ynode *one[1];
    size_t n;

    if (v->kind == WR_Y_MAP || wr_ynode_is_null(v))
        return fail(c, v, "expected a list of strings for '%s', got %s", what, kind_name(v));
    list_items(v, one, &items, &n);
    if (n == 0 && !allow_empty)
        return fail(c, v, "'%s' is an empty list; %s", what, empty_hint);

    wr_strlist_free(out);
    if (n && !(out->v = calloc(n, sizeof *out->v)))
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const wr_ynode *it = items[i];
        if (it->kind != WR_Y_SCALAR || wr_ynode_is_null(it))
            return fail(c, it, "expected a list of strings for '%s', but item %zu is %s", what,
                        i + 1, kind_name(it));
        char buf[128];
        const char *why = check ? check(it->str, buf, sizeof buf) : NULL;
        if (why)
            return fail(c, it, "invalid item '%.60s' in '%s': %s", it->str, what, why);
        if (!(out->v[i] = wr_strdup(it->str)))
            return oom(c);
        out->n = i + 1;
        if (lower)
            for (char *s = out->v[i]; *s; s++)
                *s = (char)tolower((unsigned char)*s);
    }
    return 0;
}

/* A list of enum values folded into a bit set (bit i = names[i]). */
static int get_enum_set(ctx *c, const wr_ynode *v, const char *what, const char *const *names,
                        int allow_empty, const char *empty_hint, unsigned *out)
{
    const wr_ynode *const *items;
    const wr_ynode *one[1];
    size_t n;
    if (v->kind == WR_Y_MAP || wr_ynode_is_null(v))
        return fail(c, v, "expected a list for '%s', got %s", what, kind_name(v));
    list_items(v, one, &items, &n);
    if (n == 0 && !allow_empty)
        return fail(c, v, "'%s' is an empty list; %s", what, empty_hint);
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        int rc = get_enum(c, items[i], what, names, &k);
        if (rc)
            return rc;
        bits |= 1u << k;
    }
    *out = bits;
    return 0;
}

/* ----------------------------------------------------------------- top-level sections */

static const char *const top_keys[] = {"weir", "name", "description", "mode", "on_error",
                                       "normalize", "limits", "redaction", "access",
                                       "residency", "detectors", "rules", NULL};
static const char *const mode_names[] = {"enforce", "monitor", NULL};
static const char *const on_error_names[] = {"block", "allow", "log", NULL};
static const weir_action on_error_actions[] = {WEIR_BLOCK, WEIR_ALLOW, WEIR_LOG};
static const char *const norm_names[] = {"nfkc", "invisible", "confusables", NULL};
static const unsigned norm_flags[] = {WR_NORM_NFKC, WR_NORM_INVISIBLE, WR_NORM_CONFUSABLES};

static int load_version(ctx *c, const wr_ynode *v)
{
    if (v->kind == WR_Y_SCALAR && v->plain && strcmp(v->str, "1") == 0)
        return 0;
    if (v->kind == WR_Y_SCALAR && v->plain && looks_int(v->str))
        return fail(c, v, "unsupported schema version %.20s; this weir reads 'weir: 1'", v->str);
    return fail(c, v, "'weir' is the schema version and must be the number 1, got %s",
                kind_name(v));
}

static int load_limits(ctx *c, const wr_ynode *map)
{
    static const char *const keys[] = {"max_input_bytes", "regex_match_limit",
                                       "regex_depth_limit", NULL};
    int rc = want_map(c, map, "limits");
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        uint64_t x = 0;
        if ((rc = check_key(c, map, i, keys, "'limits'")))
            break;
        if (!strcmp(k->str, "max_input_bytes")) {
            if (!(rc = get_uint(c, v, k->str, 1, WR_MAX_TEXT, &x)))
                c->p->max_input = (size_t)x;
        } else if (!strcmp(k->str, "regex_match_limit")) {
            if (!(rc = get_uint(c, v, k->str, 1, UINT32_MAX, &x)))
                c->p->limits.match_limit = (uint32_t)x;
        } else {
            if (!(rc = get_uint(c, v, k->str, 1, UINT32_MAX, &x)))
                c->p->limits.depth_limit = (uint32_t)x;
        }
    }
    return rc;
}

static int valid_env_name(const char *s)
{
    if (!*s || strlen(s) > 128 || isdigit((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static int load_redaction(ctx *c, const wr_ynode *map)
{
    static const char *const keys[] = {"hash_key_env", "hash_key_file", NULL};
    int rc = want_map(c, map, "redaction");
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        const char *s;
        if ((rc = check_key(c, map, i, keys, "'redaction'")) || (rc = get_str(c, v, k->str, &s)))
            break;
        if (!strcmp(k->str, "hash_key_env")) {
            if (!valid_env_name(s))
                return fail(c, v,
                            "'hash_key_env' names an environment variable, e.g. WEIR_HASH_KEY "
                            "(letters, digits, '_')");
            c->key_env = v;
        } else {
            c->key_file = v;
        }
        if (c->key_env && c->key_file)
            return fail(c, k, "set only one of 'hash_key_env' and 'hash_key_file'");
    }
    return rc;
}

static int load_allow_deny(ctx *c, const wr_ynode *map, const char *what, item_check_fn check,
                           wr_strlist *allow, wr_strlist *deny)
{
    static const char *const keys[] = {"allow", "deny", NULL};
    char where[32];
    snprintf(where, sizeof where, "'access.%s'", what);
    if (map->kind != WR_Y_MAP)
        return fail(c, map, "expected a mapping with 'allow' and/or 'deny' for '%s', got %s",
                    what, kind_name(map));
    int rc = 0;
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        if ((rc = check_key(c, map, i, keys, where)))
            break;
        if (!strcmp(k->str, "allow"))
            rc = get_strlist(c, v, "allow", check, 0, 0,
                             "remove 'allow' to allow everyone not denied, or list what to allow",
                             allow);
        else
            rc = get_strlist(c, v, "deny", check, 0, 1, NULL, deny);
    }
    return rc;
}

static int load_access(ctx *c, const wr_ynode *map)
{
    static const char *const keys[] = {"roles", "models", NULL};
    wr_access *a = &c->p->access;
    int rc = want_map(c, map, "access");
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        if ((rc = check_key(c, map, i, keys, "'access'")))
            break;
        if (!strcmp(k->str, "roles"))
            rc = load_allow_deny(c, v, "roles", check_role, &a->roles_allow, &a->roles_deny);
        else
            rc = load_allow_deny(c, v, "models", check_plain_item, &a->models_allow,
                                 &a->models_deny);
    }
    return rc;
}

static const char *check_profile(const char *s, char *buf, size_t size)
{
    static const char *const geos[] = {"us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"};
    (void)buf;
    (void)size;
    for (size_t i = 0; i < WR_ARRAY_LEN(geos); i++)
        if (strcasecmp(s, geos[i]) == 0)
            return NULL;
    return "inference profile prefixes are us, eu, apac, jp, au, ca, us-gov or global";
}

static const char *check_deployment(const char *s, char *buf, size_t size)
{
    static const char *const types[] = {"standard", "datazone", "global", "provisioned",
                                        "datazone_provisioned", "global_provisioned"};
    (void)buf;
    (void)size;
    for (size_t i = 0; i < WR_ARRAY_LEN(types); i++)
        if (strcasecmp(s, types[i]) == 0)
            return NULL;
    return "deployment types are standard, datazone, global, provisioned, "
           "datazone_provisioned or global_provisioned";
}

static int load_residency(ctx *c, const wr_ynode *map)
{
    static const char *const keys[] = {"aws_regions", "aws_inference_profiles", "azure_regions",
                                       "azure_deployment_types", NULL};
    static const char *const hint = "remove the key to leave it unchecked, or list what to allow";
    wr_residency *r = &c->p->residency;
    int rc = want_map(c, map, "residency");
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        if ((rc = check_key(c, map, i, keys, "'residency'")))
            break;
        if (!strcmp(k->str, "aws_regions")) {
            rc = get_strlist(c, v, k->str, check_region, 1, 0, hint, &r->aws_regions);
        } else if (!strcmp(k->str, "aws_inference_profiles")) {
            /* [] is meaningful here: no cross-region inference profile at all. */
            rc = get_strlist(c, v, k->str, check_profile, 1, 1, NULL, &r->aws_profiles);
            r->aws_profiles_set = 1;
        } else if (!strcmp(k->str, "azure_regions")) {
            rc = get_strlist(c, v, k->str, check_region, 1, 0, hint, &r->azure_regions);
        } else {
            rc = get_strlist(c, v, k->str, check_deployment, 1, 0, hint,
                             &r->azure_deployment_types);
        }
    }
    return rc;
}

/* ----------------------------------------------------------------- rules */

static const char *const rule_keys[] = {"id", "detect", "on", "action", "mode", "message",
                                        "redact", "unless", "only", NULL};
static const char *const action_names[] = {"block", "redact", "log", NULL};
static const weir_action action_values[] = {WEIR_BLOCK, WEIR_REDACT, WEIR_LOG};
static const char *const on_names[] = {"prompt", "completion", NULL};
static const char *const style_names[] = {"label", "mask", "hash", "token", NULL};
static const wr_style style_values[] = {WR_STYLE_LABEL, WR_STYLE_MASK, WR_STYLE_HASH,
                                        WR_STYLE_TOKEN};
static const char *const provider_names[] = {"bedrock", "azure", NULL};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Adds id to the set; returns the line of an earlier rule with the same id, or 0. */
static int id_add(ctx *c, const char *id, int line)
{
    size_t mask = c->ids_cap - 1;
    for (size_t i = (size_t)hash_str(id) & mask;; i = (i + 1) & mask) {
        if (!c->ids[i].id) {
            c->ids[i].id = id;
            c->ids[i].line = line;
            return 0;
        }
        if (strcmp(c->ids[i].id, id) == 0)
            return c->ids[i].line;
    }
}

/* Labels and entity names go into redacted text: keep them short and plain. */
static int get_label(ctx *c, const wr_ynode *v, const char *what, char **out)
{
    const char *s;
    int rc = get_str(c, v, what, &s);
    if (rc)
        return rc;
    size_t n = strlen(s);
    int ok = n >= 1 && n <= WR_MAX_NAME;
    for (const char *q = s; ok && *q; q++)
        ok = isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.';
    if (!ok)
        return fail(c, v, "invalid %s '%.60s': use 1 to 64 characters from A-Z a-z 0-9 . _ -",
                    what, s);
    free(*out);
    if (!(*out = wr_strdup(s)))
        return oom(c);
    return 0;
}

/* The builtin name or alias closest to s (case-insensitive), into hint; "" when none. */
static void suggest_detector(const char *s, char *hint, size_t size)
{
    char low[WR_MAX_NAME + 1], tok[WR_MAX_NAME + 1];
    size_t len = strlen(s);
    if (len == 0 || len > WR_MAX_NAME)
        return;
    for (size_t i = 0; i <= len; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    size_t max = len <= 3 ? 1 : 2, best = max + 1;
    for (size_t i = 0; i < wr_builtin_detector_count; i++) {
        const wr_detector_def *d = &wr_builtin_detectors[i];
        size_t dist = wr_edit_distance(low, d->name, max);
        if (dist < best) {
            best = dist;
            snprintf(hint, size, "%s", d->name);
        }
        for (const char *a = d->aliases; a && *a;) {
            size_t n = strcspn(a, " ");
            if (n > 0 && n <= WR_MAX_NAME) {
                for (size_t j = 0; j < n; j++)
                    tok[j] = (char)tolower((unsigned char)a[j]);
                tok[n] = '\0';
                dist = wr_edit_distance(low, tok, max);
                if (dist < best) {
                    best = dist;
                    snprintf(hint, size, "%.*s", (int)n, a);
                }
            }
            a += n;
            while (*a == ' ')
                a++;
        }
    }
}

static int label_ok(const char *s)
{
    size_t n = strlen(s);
    int ok = n >= 1 && n <= WR_MAX_NAME;
    for (const char *q = s; ok && *q; q++)
        ok = isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.';
    return ok;
}

/* A rule naming a detector of the policy's `detectors:` section: 1 and the rule set, 0
 * when there is none of that name, or an error. */
static int load_plugin_ref(ctx *c, const wr_ynode *v, wr_rule *rule)
{
    for (size_t i = 0; i < c->npdefs; i++) {
        pdef *d = &c->pdefs[i];
        if (strcmp(d->name, v->str) != 0)
            continue;
        if (d->slot == SIZE_MAX) {
            /* p->detectors was sized for one detector per rule, the most there can be */
            size_t slot = c->p->ndetectors;
            wr_pdet *pd = d->pd;
            d->pd = NULL;
            const char *entity = d->entity ? d->entity : wr_pdet_entity(pd);
            const char *label = d->label ? d->label : wr_pdet_label(pd);
            /* what the plugin says goes into findings, redactions and the audit trail */
            if ((entity && !label_ok(entity)) || (label && !label_ok(label))) {
                wr_pdet_free(pd);
                return fail(c, v,
                            "detector '%.60s': the plugin gave an invalid %s; set '%s:' in "
                            "the detector (1 to 64 characters from A-Z a-z 0-9 . _ -)",
                            d->name, entity && !label_ok(entity) ? "entity" : "label",
                            entity && !label_ok(entity) ? "entity" : "label");
            }
            if (wr_detector_init_plugin(&c->p->detectors[slot], pd, d->name, entity,
                                        label ? label : entity) != 0)
                return oom(c);
            c->p->ndetectors++;
            d->slot = slot;
        }
        rule->detector = d->slot;
        return 1;
    }
    return 0;
}

static int load_builtin(ctx *c, const wr_ynode *v, wr_rule *rule)
{
    int pr = load_plugin_ref(c, v, rule);
    if (pr)
        return pr > 0 ? 0 : pr;
    const wr_detector_def *def = wr_builtin_find(v->str);
    if (!def) {
        char hint[WR_MAX_NAME + 1] = "";
        suggest_detector(v->str, hint, sizeof hint);
        if (hint[0])
            return fail(c, v, "unknown detector '%.60s'; did you mean '%s'?", v->str, hint);
        return fail(c, v,
                    "unknown detector '%.60s'; `weir policy detectors` lists the builtin ones, "
                    "or write { regex: '...' } for a custom pattern",
                    v->str);
    }
    size_t bi = (size_t)(def - wr_builtin_detectors);
    if (c->builtin_slot[bi] != SIZE_MAX) {
        rule->detector = c->builtin_slot[bi];
        return 0;
    }
    /* p->detectors was sized for one detector per rule, the most there can be */
    size_t slot = c->p->ndetectors;
    char msg[160] = "";
    int rc = wr_detector_init_builtin(&c->p->detectors[slot], def, msg, sizeof msg);
    if (rc == WEIR_ENOMEM)
        return oom(c);
    if (rc)
        return wr_error_set(c->err, rc, c->src, v->line, v->col,
                            "builtin detector '%s' does not compile (%s): a bug in weir",
                            def->name, msg);
    c->p->ndetectors++;
    c->builtin_slot[bi] = slot;
    rule->detector = slot;
    return 0;
}

/* 1 when the compiled pattern matches the empty string (it would match everywhere). */
static int matches_empty(const pcre2_code *code)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md)
        return 0;
    int rc = pcre2_match(code, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static int load_custom(ctx *c, const wr_ynode *map, const char *rid, wr_rule *rule)
{
    static const char *const keys[] = {"regex", "caseless", "label", "entity", NULL};
    char where[96];
    snprintf(where, sizeof where, "'detect' of rule '%.60s'", rid);
    const wr_ynode *re = NULL;
    int caseless = 0, rc = 0;
    char *label = NULL, *entity = NULL;

    for (size_t i = 0; i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        const char *s;
        if ((rc = check_key(c, map, i, keys, where)))
            goto out;
        if (!strcmp(k->str, "regex")) {
            if ((rc = get_str(c, v, "regex", &s)))
                goto out;
            re = v;
        } else if (!strcmp(k->str, "caseless")) {
            if ((rc = get_bool(c, v, "caseless", &caseless)))
                goto out;
        } else if (!strcmp(k->str, "label")) {
            if ((rc = get_label(c, v, "label", &label)))
                goto out;
        } else if ((rc = get_label(c, v, "entity", &entity))) {
            goto out;
        }
    }
    if (!re) {
        rc = fail(c, map, "'detect' is missing required key 'regex' (or name a builtin "
                          "detector: detect: email)");
        goto out;
    }

    /* p->detectors was sized for one detector per rule, the most there can be */
    size_t slot = c->p->ndetectors;
    wr_detector *d = &c->p->detectors[slot];
    char msg[160] = "";
    size_t off = 0;
    rc = wr_detector_compile(d, re->str, caseless ? PCRE2_CASELESS : 0, msg, sizeof msg, &off);
    if (rc == WEIR_EPOLICY) {
        wr_detector_release(d);
        rc = fail(c, re, "invalid regex: %s at offset %zu", msg, off);
        goto out;
    }
    if (rc) {
        wr_detector_release(d);
        rc = rc == WEIR_ENOMEM ? oom(c)
                               : wr_error_set(c->err, rc, c->src, re->line, re->col,
                                              "cannot compile the regex: %s", msg);
        goto out;
    }
    c->p->ndetectors++;
    rule->detector = slot;
    if (!label) {
        if (!(label = wr_strdup(rid))) {
            rc = oom(c);
            goto out;
        }
        for (char *q = label; *q; q++)
            *q = (char)toupper((unsigned char)*q);
    }
    d->name = wr_strdup("regex");
    d->entity = entity ? entity : wr_strdup("CUSTOM");
    d->label = label;
    entity = label = NULL;
    if (!d->name || !d->entity || !d->label) {
        rc = oom(c);
        goto out;
    }
    if (matches_empty(d->code))
        rc = fail(c, re,
                  "the regex matches the empty string, so it would match everywhere; make it "
                  "require at least one character");
out:
    free(label);
    free(entity);
    return rc;
}

static int load_detect(ctx *c, const wr_ynode *v, const char *rid, wr_rule *rule)
{
    if (v->kind == WR_Y_MAP)
        return load_custom(c, v, rid, rule);
    if (v->kind != WR_Y_SCALAR || wr_ynode_is_null(v))
        return fail(c, v,
                    "'detect' takes a builtin detector name (detect: email) or a mapping "
                    "(detect: { regex: '...' }), got %s",
                    kind_name(v));
    return load_builtin(c, v, rule);
}

static int load_redact(ctx *c, const wr_ynode *v, const char *rid, wr_redaction *rd)
{
    static const char *const keys[] = {"style", "keep", "char", "label", NULL};
    size_t k = 0;
    int rc;
    rd->style = WR_STYLE_LABEL;
    rd->mask_char = '*';
    if (v->kind != WR_Y_MAP) {
        if ((rc = get_enum(c, v, "redact", style_names, &k)))
            return rc;
        rd->style = style_values[k];
        return 0;
    }
    char where[96];
    snprintf(where, sizeof where, "'redact' of rule '%.60s'", rid);
    const wr_ynode *keep = NULL, *ch = NULL;
    for (size_t i = 0; i < v->n; i += 2) {
        const wr_ynode *key = v->kids[i], *val = v->kids[i + 1];
        if ((rc = check_key(c, v, i, keys, where)))
            return rc;
        if (!strcmp(key->str, "style")) {
            if ((rc = get_enum(c, val, "style", style_names, &k)))
                return rc;
            rd->style = style_values[k];
        } else if (!strcmp(key->str, "keep")) {
            uint64_t x;
            if ((rc = get_uint(c, val, "keep", 0, 64, &x)))
                return rc;
            rd->keep = (unsigned)x;
            keep = key;
        } else if (!strcmp(key->str, "char")) {
            const char *s;
            if ((rc = get_str(c, val, "char", &s)))
                return rc;
            if (strlen(s) != 1 || (unsigned char)s[0] < 0x21 || (unsigned char)s[0] > 0x7e)
                return fail(c, val, "'char' must be one printable ASCII character, e.g. '*'");
            rd->mask_char = s[0];
            ch = key;
        } else if ((rc = get_label(c, val, "label", &rd->label))) {
            return rc;
        }
    }
    if (rd->style != WR_STYLE_MASK && (keep || ch))
        return fail(c, keep ? keep : ch, "'%s' applies only to style mask", keep ? "keep" : "char");
    return 0;
}

static int load_cond(ctx *c, const wr_ynode *map, const char *what, const char *rid,
                     wr_cond *cond)
{
    static const char *const keys[] = {"roles", "models", "regions", "providers", NULL};
    static const char *const hint = "list at least one value, or remove the key";
    int rc = want_map(c, map, what);
    if (rc)
        return rc;
    if (map->n == 0)
        return fail(c, map, "'%s' has no conditions; give roles, models, regions or providers, "
                            "or remove it", what);
    char where[96];
    snprintf(where, sizeof where, "'%s' of rule '%.60s'", what, rid);
    for (size_t i = 0; i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        if ((rc = check_key(c, map, i, keys, where)))
            return rc;
        if (!strcmp(k->str, "roles"))
            rc = get_strlist(c, v, "roles", check_role, 0, 0, hint, &cond->roles);
        else if (!strcmp(k->str, "models"))
            rc = get_strlist(c, v, "models", check_plain_item, 0, 0, hint, &cond->models);
        else if (!strcmp(k->str, "regions"))
            rc = get_strlist(c, v, "regions", check_region, 1, 0, hint, &cond->regions);
        else {
            unsigned bits = 0;
            rc = get_enum_set(c, v, "providers", provider_names, 0, hint, &bits);
            cond->providers = 0;
            if (bits & 1u)
                cond->providers |= 1u << WEIR_PROVIDER_BEDROCK;
            if (bits & 2u)
                cond->providers |= 1u << WEIR_PROVIDER_AZURE;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int check_message(ctx *c, const wr_ynode *v, const char *s)
{
    size_t chars = 0;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q < 0x20 || *q == 0x7f)
            return fail(c, v, "'message' must be one line without control characters");
        if ((*q & 0xC0) != 0x80)
            chars++;
    }
    if (chars > WR_MAX_MESSAGE_CHARS)
        return fail(c, v, "'message' is %zu characters; at most %d are allowed", chars,
                    WR_MAX_MESSAGE_CHARS);
    return 0;
}

static int load_rule(ctx *c, const wr_ynode *r, size_t index, wr_rule *rule)
{
    char rid_buf[32];
    const char *rid;
    char where[96];
    int rc;

    rule->line = r->line;
    rule->on = WR_ON_PROMPT | WR_ON_COMPLETION;
    rule->redaction.style = WR_STYLE_LABEL;
    rule->redaction.mask_char = '*';
    if (r->kind != WR_Y_MAP)
        return fail(c, r, "each rule is a mapping with at least id, detect and action; got %s",
                    kind_name(r));
    const wr_ynode *idv = wr_ynode_get(r, "id");
    if (idv && idv->kind == WR_Y_SCALAR && valid_name(idv->str)) {
        rid = idv->str;
        snprintf(where, sizeof where, "rule '%s'", rid);
    } else {
        snprintf(rid_buf, sizeof rid_buf, "rule-%zu", index + 1);
        rid = rid_buf;
        snprintf(where, sizeof where, "rule %zu", index + 1);
    }

    const wr_ynode *detect = NULL, *action = NULL, *redact = NULL;
    for (size_t i = 0; i < r->n; i += 2) {
        const wr_ynode *k = r->kids[i], *v = r->kids[i + 1];
        size_t e = 0;
        const char *s;
        if ((rc = check_key(c, r, i, rule_keys, where)))
            return rc;
        if (!strcmp(k->str, "id")) {
            if ((rc = get_name(c, v, "rule id", &s)))
                return rc;
            int first = id_add(c, s, v->line);
            if (first)
                return fail(c, v, "duplicate rule id '%s' (first defined at line %d)", s, first);
            if (!(rule->id = wr_strdup(s)))
                return oom(c);
        } else if (!strcmp(k->str, "detect")) {
            if ((rc = load_detect(c, v, rid, rule)))
                return rc;
            detect = v;
        } else if (!strcmp(k->str, "on")) {
            if ((rc = get_enum_set(c, v, "on", on_names, 0,
                                   "list prompt, completion or both, or remove 'on' for both",
                                   &rule->on)))
                return rc;
        } else if (!strcmp(k->str, "action")) {
            if ((rc = get_enum(c, v, "action", action_names, &e)))
                return rc;
            rule->action = action_values[e];
            action = k;
        } else if (!strcmp(k->str, "mode")) {
            if ((rc = get_enum(c, v, "mode", mode_names, &e)))
                return rc;
            rule->monitor = e == 1;
        } else if (!strcmp(k->str, "message")) {
            if ((rc = get_str(c, v, "message", &s)) || (rc = check_message(c, v, s)))
                return rc;
            if (!(rule->message = wr_strdup(s)))
                return oom(c);
        } else if (!strcmp(k->str, "redact")) {
            if ((rc = load_redact(c, v, rid, &rule->redaction)))
                return rc;
            redact = k;
            if (rule->redaction.style == WR_STYLE_HASH && !c->hash_rule) {
                c->hash_rule = v;
                c->hash_rule_id = rid;
            }
        } else if (!strcmp(k->str, "unless")) {
            if ((rc = load_cond(c, v, "unless", rid, &rule->unless)))
                return rc;
            rule->has_unless = 1;
        } else {
            if ((rc = load_cond(c, v, "only", rid, &rule->only)))
                return rc;
            rule->has_only = 1;
        }
    }
    if (!idv)
        return fail(c, r, "%s is missing required key 'id'", where);
    if (!detect)
        return fail(c, r, "%s is missing required key 'detect' (a builtin detector such as "
                          "email, or { regex: '...' })", where);
    if (!action)
        return fail(c, r, "%s is missing required key 'action' (block, redact or log)", where);
    if (redact && rule->action != WEIR_REDACT)
        return fail(c, redact, "'redact' applies only to rules with action redact; %s has "
                               "action %s", where, weir_action_name(rule->action));
    return 0;
}

/*
 * detectors:
 *   projects:                       # the name rules use (detect: projects)
 *     plugin: keywords              # bare name (installed) or a path to the .so
 *     config: { terms_file: projects.txt }
 *     label: PROJECT                # optional, else the plugin's
 *     entity: PROJECT_NAME          # optional, else the plugin's
 * Every plugin is loaded, checked and created here, so a bad one refuses the policy.
 */
static int load_detectors(ctx *c, const wr_ynode *v)
{
    static const char *const keys[] = {"plugin", "config", "label", "entity", NULL};
    if (v->kind != WR_Y_MAP)
        return fail(c, v, "expected a mapping of detector names to { plugin, config } for "
                          "'detectors', got %s",
                    kind_name(v));
    c->pdefs = calloc(v->n / 2 + 1, sizeof *c->pdefs);
    if (!c->pdefs)
        return oom(c);
    for (size_t i = 0; i < v->n; i += 2) {
        const wr_ynode *k = v->kids[i], *m = v->kids[i + 1];
        const char *name;
        int rc;
        if ((rc = get_name(c, k, "detector name", &name)))
            return rc;
        if (wr_builtin_find(name))
            return fail(c, k, "detector name '%.60s' is a builtin detector's; pick another",
                        name);
        for (size_t j = 0; j < c->npdefs; j++)
            if (!strcmp(c->pdefs[j].name, name))
                return fail(c, k, "detector '%.60s' is defined twice", name);
        pdef *d = &c->pdefs[c->npdefs++];
        d->name = name;
        d->slot = SIZE_MAX;
        if (m->kind != WR_Y_MAP)
            return fail(c, m, "detector '%.60s' takes a mapping with 'plugin' and 'config', "
                              "got %s",
                        name, kind_name(m));
        char where[96];
        snprintf(where, sizeof where, "detector '%.60s'", name);
        const wr_ynode *plugin = NULL, *config = NULL;
        for (size_t j = 0; j < m->n; j += 2) {
            const wr_ynode *kk = m->kids[j], *vv = m->kids[j + 1];
            const char *str;
            if ((rc = check_key(c, m, j, keys, where)))
                return rc;
            if (!strcmp(kk->str, "plugin")) {
                if ((rc = get_str(c, vv, "plugin", &str)))
                    return rc;
                plugin = vv;
            } else if (!strcmp(kk->str, "config")) {
                if (vv->kind != WR_Y_MAP && !wr_ynode_is_null(vv))
                    return fail(c, vv, "'config' of %s takes a mapping, got %s", where,
                                kind_name(vv));
                config = vv->kind == WR_Y_MAP ? vv : NULL;
            } else if (!strcmp(kk->str, "label")) {
                if ((rc = get_label(c, vv, "label", &d->label)))
                    return rc;
            } else if ((rc = get_label(c, vv, "entity", &d->entity))) {
                return rc;
            }
        }
        if (!plugin)
            return fail(c, m, "%s is missing required key 'plugin' (a plugin name such as "
                              "keywords, or a path to its .so)",
                        where);
        char *json = NULL;
        if (wr_ynode_to_json(config, &json) != 0)
            return oom(c);
        weir_error pe = {0};
        rc = wr_pdet_new(&d->pd, plugin->str, c->base_dir, json, c->p->normalize, &pe);
        free(json);
        if (rc)
            return rc == WEIR_ENOMEM ? oom(c)
                                     : fail(c, plugin, "%s: %s", where, pe.text);
    }
    return 0;
}

static int load_rules(ctx *c, const wr_ynode *v)
{
    struct weir_policy *p = c->p;
    if (v->kind != WR_Y_SEQ)
        return fail(c, v, "expected a list of rules for 'rules', got %s", kind_name(v));
    if (v->n == 0)
        return 0;
    size_t cap = 16;
    while (cap < v->n * 2)
        cap *= 2;
    p->rules = calloc(v->n, sizeof *p->rules);
    p->detectors = calloc(v->n, sizeof *p->detectors);
    c->ids = calloc(cap, sizeof *c->ids);
    c->ids_cap = cap;
    if (!p->rules || !p->detectors || !c->ids)
        return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        p->nrules = i + 1;
        int rc = load_rule(c, v->kids[i], i, &p->rules[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ----------------------------------------------------------------- hash key */

static int read_key_file(ctx *c, const wr_ynode *v, unsigned char *buf, size_t size, size_t *len)
{
    int fd = open(v->str, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(c, v, "cannot read the hash key file '%.100s': %s", v->str, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(c, v, "the hash key file '%.100s' is not a regular file", v->str);
    }
    size_t n = 0;
    while (n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return fail(c, v, "cannot read the hash key file '%.100s': %s", v->str, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return 0;
}

/* Loads the key for style hash, only when a rule uses it; no key then = policy error. */
static int load_hash_key(ctx *c)
{
    struct weir_policy *p = c->p;
    unsigned char buf[sizeof p->hash_key + 3];
    size_t len = 0;
    const wr_ynode *at;
    char from[160];
    int rc = 0;

    if (!c->hash_rule)
        return 0;
    if (c->key_env) {
        at = c->key_env;
        const char *val = getenv(at->str);
        if (!val || !*val)
            return fail(c, at,
                        "environment variable %.60s is not set; rule '%.60s' uses redaction "
                        "style hash, which needs a key of at least %d bytes",
                        at->str, c->hash_rule_id, WR_MIN_HASH_KEY);
        len = strlen(val);
        if (len > sizeof buf)
            len = sizeof buf;
        memcpy(buf, val, len);
        snprintf(from, sizeof from, "environment variable %.60s", at->str);
    } else if (c->key_file) {
        at = c->key_file;
        if ((rc = read_key_file(c, at, buf, sizeof buf, &len)))
            return rc;
        snprintf(from, sizeof from, "key file '%.100s'", at->str);
        /* a key written with echo or an editor ends with a newline: not part of the key */
        if (len && len < sizeof buf && buf[len - 1] == '\n')
            len--;
        if (len && len < sizeof buf && buf[len - 1] == '\r')
            len--;
    } else {
        return fail(c, c->hash_rule,
                    "rule '%.60s' uses redaction style hash, which needs a key: set "
                    "redaction.hash_key_env or redaction.hash_key_file",
                    c->hash_rule_id);
    }
    if (len < WR_MIN_HASH_KEY)
        rc = fail(c, at, "the hash key from %s is %zu bytes; at least %d are needed", from, len,
                  WR_MIN_HASH_KEY);
    else if (len > sizeof p->hash_key)
        rc = fail(c, at, "the hash key from %s is longer than %zu bytes", from,
                  sizeof p->hash_key);
    else {
        memcpy(p->hash_key, buf, len);
        p->hash_key_len = len;
    }
    wr_wipe(buf, sizeof buf);
    return rc;
}

/* ----------------------------------------------------------------- the document */

static int load_normalize(ctx *c, const wr_ynode *v)
{
    unsigned bits = 0;
    int rc = get_enum_set(c, v, "normalize", norm_names, 1, NULL, &bits);
    if (rc)
        return rc;
    c->p->normalize = 0;
    for (size_t b = 0; b < WR_ARRAY_LEN(norm_flags); b++)
        if (bits & (1u << b))
            c->p->normalize |= norm_flags[b];
    return 0;
}

static int load_root(ctx *c, const wr_ynode *root)
{
    struct weir_policy *p = c->p;
    int rc;

    if (!root || wr_ynode_is_null(root)) {
        return wr_error_set(c->err, WEIR_EPOLICY, c->src, 1, 1,
                            "the policy is empty; it needs at least 'weir: 1' and a 'name'");
    }
    if (root->kind != WR_Y_MAP)
        return fail(c, root, "a policy is a mapping of keys (weir, name, rules, ...), got %s",
                    kind_name(root));

    /* The version first: a policy for a newer schema gets that said, not unknown keys. */
    const wr_ynode *ver = wr_ynode_get(root, "weir");
    if (!ver)
        return fail(c, root, "missing required key 'weir' (the schema version): add 'weir: 1'");
    if ((rc = load_version(c, ver)))
        return rc;

    /* detectors first, wherever they are written: rules name them; and the normalization
     * before them, since plugins normalize their patterns as the policy says */
    const wr_ynode *norm = wr_ynode_get(root, "normalize"), *dets = wr_ynode_get(root, "detectors");
    if (norm && (rc = load_normalize(c, norm)))
        return rc;
    if (dets && (rc = load_detectors(c, dets)))
        return rc;

    int have_name = 0;
    for (size_t i = 0; i < root->n; i += 2) {
        const wr_ynode *k = root->kids[i], *v = root->kids[i + 1];
        const char *s;
        size_t e;
        if ((rc = check_key(c, root, i, top_keys, "")))
            return rc;
        if (!strcmp(k->str, "weir")) {
            continue;
        } else if (!strcmp(k->str, "name")) {
            if ((rc = get_name(c, v, "name", &s)))
                return rc;
            if (!(p->name = wr_strdup(s)))
                return oom(c);
            have_name = 1;
        } else if (!strcmp(k->str, "description")) {
            if (v->kind != WR_Y_SCALAR)
                return fail(c, v, "expected a string for 'description', got %s", kind_name(v));
        } else if (!strcmp(k->str, "mode")) {
            if ((rc = get_enum(c, v, "mode", mode_names, &e)))
                return rc;
            p->monitor = e == 1;
        } else if (!strcmp(k->str, "on_error")) {
            if ((rc = get_enum(c, v, "on_error", on_error_names, &e)))
                return rc;
            p->on_error = on_error_actions[e];
        } else if (!strcmp(k->str, "normalize") || !strcmp(k->str, "detectors")) {
            continue; /* loaded above */
        } else if (!strcmp(k->str, "limits")) {
            if ((rc = load_limits(c, v)))
                return rc;
        } else if (!strcmp(k->str, "redaction")) {
            if ((rc = load_redaction(c, v)))
                return rc;
        } else if (!strcmp(k->str, "access")) {
            if ((rc = load_access(c, v)))
                return rc;
        } else if (!strcmp(k->str, "residency")) {
            if ((rc = load_residency(c, v)))
                return rc;
        } else if ((rc = load_rules(c, v))) {
            return rc;
        }
    }
    if (!have_name)
        return fail(c, root, "missing required key 'name' (e.g. name: eu-finance)");
    return load_hash_key(c);
}

int wr_policy_parse(struct weir_policy **out, const char *yaml, size_t len, const char *source,
                    weir_error *err)
{
    return wr_policy_parse_at(out, yaml, len, source, NULL, err);
}

int wr_policy_parse_at(struct weir_policy **out, const char *yaml, size_t len,
                       const char *source, const char *base_dir, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, source, 0, 0, "no place to store the policy");
    *out = NULL;
    if (!yaml && len)
        return wr_error_set(err, WEIR_EINVAL, source, 0, 0, "no policy text given");
    if (!source)
        source = "<buffer>";
    if (!yaml)
        yaml = "";
    if (len > WR_MAX_POLICY_BYTES)
        return wr_error_set(err, WEIR_ELIMIT, source, 0, 0,
                            "the policy is %zu bytes; the limit is %zu", len,
                            (size_t)WR_MAX_POLICY_BYTES);

    struct weir_policy *p = calloc(1, sizeof *p);
    if (!p)
        return wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory loading the policy");
    atomic_init(&p->refs, 1);
    p->on_error = WEIR_BLOCK;
    p->normalize = WR_NORM_DEFAULT;
    p->max_input = WR_DEFAULT_MAX_INPUT;
    p->limits.match_limit = WR_DEFAULT_MATCH_LIMIT;
    p->limits.depth_limit = WR_DEFAULT_DEPTH_LIMIT;

    ctx c = {0};
    c.err = err;
    c.src = source;
    c.base_dir = base_dir;
    c.p = p;
    wr_ynode *root = NULL;
    int rc;

    if (!(p->source = wr_strdup(source))) {
        rc = wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory loading the policy");
        goto out;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(yaml, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        rc = wr_error_set(err, WEIR_EINTERNAL, source, 0, 0, "cannot compute SHA-256");
        goto out;
    }
    memcpy(p->digest, "sha256:", 7);
    wr_hex(p->digest + 7, md, mdlen);

    c.builtin_slot = malloc((wr_builtin_detector_count ? wr_builtin_detector_count : 1) *
                            sizeof *c.builtin_slot);
    if (!c.builtin_slot) {
        rc = wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory loading the policy");
        goto out;
    }
    for (size_t i = 0; i < wr_builtin_detector_count; i++)
        c.builtin_slot[i] = SIZE_MAX;

    if ((rc = wr_ytree_parse(&root, yaml, len, source, err)))
        goto out;
    rc = load_root(&c, root);

out:
    wr_ynode_free(root);
    free(c.builtin_slot);
    free(c.ids);
    for (size_t i = 0; i < c.npdefs; i++) {
        wr_pdet_free(c.pdefs[i].pd); /* defined but used by no rule */
        free(c.pdefs[i].label);
        free(c.pdefs[i].entity);
    }
    free(c.pdefs);
    if (rc) {
        wr_policy_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}
