/*
 * ytree.h - a small YAML tree for the policy loader and the sidecar's configuration.
 *
 * ytree.c reads YAML through libyaml's event API and keeps only what a policy may use:
 * scalars, lists and mappings with string keys, each with its 1-based line and column.
 * Anything a policy has no use for and an attacker could (anchors and aliases, tags,
 * several documents, deep nesting, NUL bytes in values) is refused while parsing.
 */
#ifndef WEIR_POLICY_YTREE_H
#define WEIR_POLICY_YTREE_H

#include <stddef.h>

#include "internal.h"

typedef enum wr_ykind { WR_Y_SCALAR, WR_Y_SEQ, WR_Y_MAP } wr_ykind;

typedef struct wr_ynode {
    wr_ykind kind;
    int line, col;          /* 1-based position of the node's first character */
    int plain;              /* scalar written without quotes (may be null, a number...) */
    char *str;              /* scalar: NUL-terminated text (never contains NUL) */
    size_t len;             /* scalar: strlen(str) */
    struct wr_ynode **kids; /* list: items; mapping: key0, value0, key1, value1, ... */
    size_t n, cap;          /* number of kids (twice the number of pairs for a mapping) */
} wr_ynode;

/*
 * Parses yaml[0..len). On success *root is the document's root node (new, free with
 * wr_ynode_free), or NULL when the stream holds no document. On failure returns
 * WEIR_EPOLICY, WEIR_ELIMIT or WEIR_ENOMEM with err filled (source:line:col).
 */
int wr_ytree_parse(wr_ynode **root, const char *yaml, size_t len, const char *source,
                   weir_error *err);

/** What is being read, for messages and limits (wr_ytree_parse uses the policy's). */
typedef struct wr_ytree_opts {
    const char *what;   /**< "policy", "configuration" */
    const char *a_what; /**< "a policy", "the configuration" (in sentences) */
    int code;           /**< error code for content refusals: WEIR_EPOLICY, WEIR_EINVAL */
    int max_depth;      /**< 1..WR_MAX_YAML_DEPTH */
    size_t max_nodes;   /**< values in the document */
} wr_ytree_opts;

/* Like wr_ytree_parse, with the messages and limits of o. */
int wr_ytree_parse_opts(wr_ynode **root, const char *yaml, size_t len, const char *source,
                        const wr_ytree_opts *o, weir_error *err);

void wr_ynode_free(wr_ynode *n);

/* The value of key `key` in mapping `map` (first match), or NULL. Borrowed. */
const wr_ynode *wr_ynode_get(const wr_ynode *map, const char *key);

/* 1 when n is a plain scalar YAML reads as null: empty, "~", "null", "Null", "NULL". */
int wr_ynode_is_null(const wr_ynode *n);

/*
 * For "unknown key" and "must be one of" messages, over a NULL-terminated list of names:
 * wr_ynames_closest is the name closest to s (edit distance, case-insensitive; or the one
 * name s is a leading part of), NULL when none is close; wr_ynames_join writes
 * "a, b, c" into buf (truncated to size).
 */
const char *wr_ynames_closest(const char *s, const char *const *names);
void wr_ynames_join(char *buf, size_t size, const char *const *names);

/*
 * The node as JSON text (a plugin's config block): mappings become objects (key order
 * kept), lists arrays; plain scalars read as YAML 1.2's core schema (null, booleans,
 * numbers), quoted scalars as strings. NULL node: "{}". New *out (free()), or WEIR_ENOMEM.
 */
int wr_ynode_to_json(const wr_ynode *n, char **out);

#endif
