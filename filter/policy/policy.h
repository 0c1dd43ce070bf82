/*
 * policy.h - the compiled policy. Internal.
 *
 * filter/policy/load.c turns YAML into this struct (validating every key, with
 * file:line:col errors); filter/engine/ evaluates it. Once built it is never modified:
 * any number of threads may read it at once.
 */
#ifndef WEIR_POLICY_H
#define WEIR_POLICY_H

#include <stdatomic.h>

#include "internal.h"
#include "scan/scan.h"

/* A list of strings (globs or plain values). */
typedef struct wr_strlist {
    char **v;
    size_t n;
} wr_strlist;

void wr_strlist_free(wr_strlist *l);

/* Redaction styles. */
typedef enum wr_style {
    WR_STYLE_LABEL = 0, /* "[EMAIL]" (label overridable per rule) */
    WR_STYLE_MASK,      /* "************1234": keep the last `keep` characters */
    WR_STYLE_HASH,      /* "[EMAIL:1a2b3c4d5e6f]": HMAC-SHA256 with the policy key, stable */
    WR_STYLE_TOKEN      /* "[EMAIL_1]": reversible through a weir_vault */
} wr_style;

typedef struct wr_redaction {
    wr_style style;
    char *label;        /* NULL: the detector's label */
    unsigned keep;      /* mask: characters kept at the end */
    char mask_char;     /* mask: default '*' */
} wr_redaction;

/*
 * A condition over the call context. A list that is empty (n == 0) is not checked; every
 * non-empty list must match (AND across lists, OR within one list).
 *   roles:   ARN globs; assumed-role ARNs are mapped to their role first
 *   models:  model id globs (inference-profile prefixes are matched as written and stripped)
 *   regions: region names or globs
 *   providers: bit set of (1 << weir_provider); 0 = any
 */
typedef struct wr_cond {
    wr_strlist roles, models, regions;
    unsigned providers;
} wr_cond;

enum { WR_ON_PROMPT = 1u << 0, WR_ON_COMPLETION = 1u << 1 };

typedef struct wr_rule {
    char *id;
    size_t detector;       /* index into weir_policy.detectors */
    unsigned on;           /* WR_ON_* */
    weir_action action;    /* WEIR_LOG, WEIR_REDACT or WEIR_BLOCK */
    int monitor;           /* rule-level monitor mode */
    char *message;         /* shown on block; NULL: a default naming the rule */
    wr_redaction redaction;
    int has_unless, has_only;
    wr_cond unless, only;  /* rule is skipped when `unless` matches or `only` does not */
    int line;              /* where the rule starts in the policy file */
} wr_rule;

typedef struct wr_access {
    wr_strlist roles_allow, roles_deny;   /* ARN globs */
    wr_strlist models_allow, models_deny; /* model globs */
} wr_access;

typedef struct wr_residency {
    wr_strlist aws_regions;          /* empty: not checked */
    int aws_profiles_set;            /* 1: aws_inference_profiles given explicitly */
    wr_strlist aws_profiles;         /* allowed geography prefixes: "eu", "us", "global"... */
    wr_strlist azure_regions;        /* empty: not checked */
    wr_strlist azure_deployment_types; /* empty: not checked; lower case */
} wr_residency;

struct weir_policy {
    atomic_int refs;
    char *name;
    char *source;             /* file name or buffer name, for messages */
    char digest[72];          /* "sha256:<hex>" of the source bytes */
    int monitor;              /* policy-level monitor mode */
    weir_action on_error;     /* WEIR_BLOCK (default) or WEIR_ALLOW / WEIR_LOG (fail open) */
    unsigned normalize;       /* WR_NORM_* */
    size_t max_input;         /* bytes; over it: an error finding handled per on_error */
    wr_scan_limits limits;
    wr_access access;
    wr_residency residency;
    wr_detector *detectors;   /* unique compiled detectors */
    size_t ndetectors;
    wr_rule *rules;
    size_t nrules;
    unsigned char hash_key[64]; /* for WR_STYLE_HASH; from redaction.hash_key_env/_file */
    size_t hash_key_len;
};

/* Frees a policy's contents and the policy (used by unref and by the loader on error). */
void wr_policy_destroy(struct weir_policy *p);

/*
 * Parses and compiles a policy from YAML. `source` names it in errors. The whole policy is
 * refused on the first error. Implemented in load.c.
 */
int wr_policy_parse(struct weir_policy **out, const char *yaml, size_t len, const char *source,
                    weir_error *err);

/* Like wr_policy_parse; relative plugin paths in `detectors:` resolve against base_dir
 * (NULL: the working directory). weir_policy_load_file passes the file's directory. */
int wr_policy_parse_at(struct weir_policy **out, const char *yaml, size_t len,
                       const char *source, const char *base_dir, weir_error *err);

/* Matches an ARN against an allow/deny glob, mapping assumed-role session ARNs to roles.
 * Implemented in engine/access.c. */
int wr_arn_match(const char *pattern, const char *arn);

#endif
