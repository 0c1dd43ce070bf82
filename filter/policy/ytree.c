/*
 * ytree.c - YAML text to a wr_ynode tree, refusing what a policy (or the sidecar's
 * configuration) must not contain.
 *
 * libyaml's event API is used rather than its document API so that anchors and aliases
 * are refused before anything is expanded (no "billion laughs"), nesting is bounded while
 * reading (the document loader has no depth limit), and every node keeps its position.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "policy/ytree.h"

/* No sensible policy comes near this; it bounds memory on hostile input. */
#define WR_MAX_YAML_NODES 200000

int wr_ynode_is_null(const wr_ynode *n)
{
    if (!n || n->kind != WR_Y_SCALAR || !n->plain)
        return 0;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const wr_ynode *wr_ynode_get(const wr_ynode *map, const char *key)
{
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (strcmp(map->kids[i]->str, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

void wr_ynode_free(wr_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        wr_ynode_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

static wr_ynode *node_new(wr_ykind kind, yaml_mark_t mark)
{
    wr_ynode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)mark.line + 1;
    n->col = (int)mark.column + 1;
    return n;
}

static int node_push(wr_ynode *parent, wr_ynode *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        wr_ynode **v = realloc(parent->kids, cap * sizeof *v);
        if (!v)
            return WEIR_ENOMEM;
        parent->kids = v;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

/* Line and column (1-based, in characters) of byte offset off, for libyaml reader errors. */
static void offset_position(const char *s, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || (ch == '\r' && !(i + 1 < len && s[i + 1] == '\n'))) {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80 && ch != '\r') {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* The byte at 1-based line:col (columns in characters), or -1. */
static int char_at(const char *s, size_t len, int line, int col)
{
    size_t i = 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(s + i, '\n', len - i);
        if (!nl)
            return -1;
        i = (size_t)(nl - s) + 1;
    }
    for (int c = 1; c < col && i < len; c++) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return i < len ? (unsigned char)s[i] : -1;
}

static const wr_ytree_opts policy_opts = {"policy", "a policy", WEIR_EPOLICY, WR_MAX_YAML_DEPTH,
                                          WR_MAX_YAML_NODES};

static int parser_error(const yaml_parser_t *ps, const char *yaml, size_t len,
                        const char *source, const wr_ytree_opts *o, weir_error *err)
{
    int line = 0, col = 0;
    const char *problem = ps->problem ? ps->problem : "unknown error";

    if (ps->error == YAML_MEMORY_ERROR)
        return wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory reading the %s", o->what);
    if (ps->error == YAML_READER_ERROR) {
        offset_position(yaml, len, ps->problem_offset, &line, &col);
        if (ps->problem_value != -1)
            return wr_error_set(err, o->code, source, line, col,
                                "malformed YAML: %s (byte 0x%02x); a %s is UTF-8 text",
                                problem, (unsigned)ps->problem_value & 0xffu, o->what);
        return wr_error_set(err, o->code, source, line, col, "malformed YAML: %s", problem);
    }

    line = (int)ps->problem_mark.line + 1;
    col = (int)ps->problem_mark.column + 1;
    if (char_at(yaml, len, line, col) == '\t')
        return wr_error_set(err, o->code, source, line, col,
                            "malformed YAML: a tab character here; YAML indentation must use "
                            "spaces, not tabs");
    if (ps->context) {
        int cl = (int)ps->context_mark.line + 1, cc = (int)ps->context_mark.column + 1;
        if (strstr(ps->context, "quoted scalar") && strstr(problem, "end of stream"))
            return wr_error_set(err, o->code, source, line, col,
                                "malformed YAML: the quoted string that starts at line %d, "
                                "column %d is never closed",
                                cl, cc);
        return wr_error_set(err, o->code, source, line, col,
                            "malformed YAML: %s %s (line %d, column %d)", problem, ps->context,
                            cl, cc);
    }
    if (strstr(problem, "mapping values are not allowed"))
        return wr_error_set(err, o->code, source, line, col,
                            "malformed YAML: %s; check the indentation of this line and the "
                            "ones above it",
                            problem);
    return wr_error_set(err, o->code, source, line, col, "malformed YAML: %s", problem);
}

/* Anchors, aliases and tags are refused: a policy is plain data. */
static int check_props(const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag,
                       const char *source, const wr_ytree_opts *o, weir_error *err)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (anchor)
        return wr_error_set(err, o->code, source, line, col,
                            "YAML anchors (&%.40s) are not allowed in %s; write the value "
                            "out in full",
                            (const char *)anchor, o->a_what);
    if (tag)
        return wr_error_set(err, o->code, source, line, col,
                            "YAML tags (%.60s) are not allowed in %s; remove the tag",
                            (const char *)tag, o->a_what);
    return 0;
}

int wr_ytree_parse(wr_ynode **root, const char *yaml, size_t len, const char *source,
                   weir_error *err)
{
    return wr_ytree_parse_opts(root, yaml, len, source, &policy_opts, err);
}

int wr_ytree_parse_opts(wr_ynode **root, const char *yaml, size_t len, const char *source,
                        const wr_ytree_opts *o, weir_error *err)
{
    yaml_parser_t ps;
    yaml_event_t ev;
    int ev_live = 0, rc = 0, docs = 0, done = 0;
    size_t depth = 0, nodes = 0;
    wr_ynode *stack[WR_MAX_YAML_DEPTH + 1];
    wr_ynode *top = NULL;
    int max_depth = o->max_depth > 0 && o->max_depth <= WR_MAX_YAML_DEPTH ? o->max_depth
                                                                           : WR_MAX_YAML_DEPTH;

    *root = NULL;
    if (!yaml_parser_initialize(&ps))
        return wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory reading the %s", o->what);
    yaml_parser_set_input_string(&ps, (const unsigned char *)yaml, len);

    while (!done) {
        if (!yaml_parser_parse(&ps, &ev)) {
            rc = parser_error(&ps, yaml, len, source, o, err);
            goto out;
        }
        ev_live = 1;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        wr_ynode *node = NULL;

        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (docs++) {
                rc = wr_error_set(err, o->code, source, line, col,
                                  "a second YAML document starts here; %s file holds "
                                  "exactly one document",
                                  o->a_what);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            rc = wr_error_set(err, o->code, source, line, col,
                              "YAML aliases (*%.40s) are not allowed in %s; write the "
                              "value out in full",
                              (const char *)ev.data.alias.anchor, o->a_what);
            goto out;
        case YAML_SCALAR_EVENT:
            if ((rc = check_props(&ev, ev.data.scalar.anchor, ev.data.scalar.tag, source, o, err)))
                goto out;
            if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
                rc = wr_error_set(err, o->code, source, line, col,
                                  "a value contains a NUL character, which %s never needs",
                                  o->a_what);
                goto out;
            }
            node = node_new(WR_Y_SCALAR, ev.start_mark);
            if (!node || !(node->str = wr_strndup((const char *)ev.data.scalar.value,
                                                  ev.data.scalar.length))) {
                wr_ynode_free(node);
                rc = wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory");
                goto out;
            }
            node->len = ev.data.scalar.length;
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
            if ((rc = check_props(&ev, ev.data.sequence_start.anchor, ev.data.sequence_start.tag,
                                  source, o, err)))
                goto out;
            node = node_new(WR_Y_SEQ, ev.start_mark);
            break;
        case YAML_MAPPING_START_EVENT:
            if ((rc = check_props(&ev, ev.data.mapping_start.anchor, ev.data.mapping_start.tag,
                                  source, o, err)))
                goto out;
            node = node_new(WR_Y_MAP, ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth)
                depth--;
            break;
        default:
            break;
        }

        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (!node) {
                rc = wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory");
                goto out;
            }
            if (depth >= (size_t)max_depth) {
                wr_ynode_free(node);
                rc = wr_error_set(err, WEIR_ELIMIT, source, line, col,
                                  "the %s nests deeper than %d levels", o->what, max_depth);
                goto out;
            }
        }
        if (node) {
            if (++nodes > o->max_nodes) {
                wr_ynode_free(node);
                rc = wr_error_set(err, WEIR_ELIMIT, source, line, col,
                                  "the %s has more than %zu YAML values", o->what, o->max_nodes);
                goto out;
            }
            if (depth == 0) {
                top = node;
            } else {
                wr_ynode *parent = stack[depth - 1];
                if (parent->kind == WR_Y_MAP && parent->n % 2 == 0 && node->kind != WR_Y_SCALAR) {
                    const char *what = node->kind == WR_Y_MAP ? "mapping" : "list";
                    wr_ynode_free(node);
                    rc = wr_error_set(err, o->code, source, line, col,
                                      "a mapping key must be a plain name, not a %s", what);
                    goto out;
                }
                if (node_push(parent, node)) {
                    wr_ynode_free(node);
                    rc = wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory");
                    goto out;
                }
            }
            if (node->kind != WR_Y_SCALAR)
                stack[depth++] = node;
        }
        yaml_event_delete(&ev);
        ev_live = 0;
    }
    *root = top;
    top = NULL;

out:
    if (ev_live)
        yaml_event_delete(&ev);
    wr_ynode_free(top);
    yaml_parser_delete(&ps);
    return rc;
}

/* ----------------------------------------------------------------- names in messages */

#define WR_YNAME_MAX 64

const char *wr_ynames_closest(const char *s, const char *const *names)
{
    char low[WR_YNAME_MAX + 1];
    size_t len = strlen(s), n = 0;
    if (len == 0 || len > WR_YNAME_MAX)
        return NULL;
    while (names[n])
        n++;
    for (size_t i = 0; i <= len; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    size_t max = len <= 3 ? 1 : 2, best = max + 1;
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = wr_edit_distance(low, names[i], max);
        if (d < best) {
            best = d;
            pick = names[i];
        }
    }
    /* "max_input" for "max_input_bytes": a leading part of one name, and of one only */
    if (!pick && len >= 4) {
        size_t hits = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(names[i], low, len) == 0) {
                hits++;
                pick = names[i];
            }
        if (hits != 1)
            pick = NULL;
    }
    return pick;
}

void wr_ynames_join(char *buf, size_t size, const char *const *names)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && off < size; i++) {
        int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* ----------------------------------------------------------------- to JSON */

/* A plain scalar as YAML 1.2's core schema reads it; quoted scalars are strings. */
static json_t *scalar_json(const wr_ynode *n)
{
    if (!n->plain)
        return json_stringn(n->str, n->len);
    if (wr_ynode_is_null(n))
        return json_null();
    const char *s = n->str;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    char *end = NULL;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*s && end && !*end && errno == 0 && (isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
        return json_integer(i);
    errno = 0;
    double d = strtod(s, &end);
    if (*s && end && !*end && errno == 0 && (isdigit((unsigned char)*s) || *s == '-' ||
                                             *s == '+' || *s == '.') &&
        d == d)
        return json_real(d);
    return json_stringn(n->str, n->len);
}

static json_t *node_json(const wr_ynode *n)
{
    if (n->kind == WR_Y_SCALAR)
        return scalar_json(n);
    json_t *j = n->kind == WR_Y_SEQ ? json_array() : json_object();
    if (!j)
        return NULL;
    if (n->kind == WR_Y_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            if (json_array_append_new(j, node_json(n->kids[i])) != 0)
                goto fail;
    } else {
        for (size_t i = 0; i + 1 < n->n; i += 2)
            if (json_object_set_new(j, n->kids[i]->str, node_json(n->kids[i + 1])) != 0)
                goto fail;
    }
    return j;
fail:
    json_decref(j);
    return NULL;
}

int wr_ynode_to_json(const wr_ynode *n, char **out)
{
    *out = NULL;
    json_t *j = n ? node_json(n) : json_object();
    if (!j)
        return WEIR_ENOMEM;
    *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    return *out ? 0 : WEIR_ENOMEM;
}
