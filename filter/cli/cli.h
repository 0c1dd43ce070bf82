/*
 * cli.h - the `weir` command line tool. Internal to filter/cli/.
 *
 * The CLI is a thin shell over the public API (include/weir/weir.h): it parses arguments,
 * reads files, calls weir_check and prints what the library decided. It holds no policy
 * logic of its own.
 *
 * Exit statuses shared by every command:
 *   0  allowed (possibly redacted or logged) / success
 *   1  blocked / test failures
 *   2  usage error, unreadable input, invalid policy or test file, unopenable audit trail
 *   3  `weir check --audit`: a verdict could not be audited, so it was not released
 */
#ifndef WEIR_CLI_H
#define WEIR_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "weir/weir.h"

enum { CLI_OK = 0, CLI_BLOCKED = 1, CLI_USAGE = 2, CLI_UNAUDITED = 3 };

/* Longest input `weir check` reads (one text, or one jsonl line). */
#define CLI_MAX_INPUT ((size_t)64 * 1024 * 1024)
#define CLI_MAX_JSONL_LINE ((size_t)16 * 1024 * 1024)
/* Deepest JSON nesting accepted on one jsonl line. */
#define CLI_MAX_JSON_DEPTH 64

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ commands */

/* Each command gets argv with argv[0] = its own name. Returns the exit status. */
int cli_cmd_check(int argc, char **argv);
int cli_cmd_policy(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);
int cli_cmd_serve(int argc, char **argv);

/* Help text for "check", "policy", "policy lint", ... to `out`; 0, or -1 if unknown. */
int cli_help_topic(FILE *out, const char *topic);

/* Prints "weir: <message>" and "Try 'weir help <topic>'." to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *topic, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Prints "weir: <message>" to stderr. */
void cli_errorf(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Prints a weir_error as "file:line:col: message" to stderr. */
void cli_print_error(const weir_error *err);

/* ------------------------------------------------------------------ arguments */

/*
 * A tiny long-option parser: "--name value", "--name=value", "-x value", "--" ends options,
 * "-" alone is an operand. Operands are collected in order.
 */
typedef struct cli_opt {
    const char *name;  /* long name without "--" */
    char shortname;    /* 0 if none */
    int takes_value;
    int id;
} cli_opt;

typedef struct cli_args {
    int argc;
    char **argv;
    int i;                 /* next argv index */
    int only_operands;     /* after "--" */
    const char *value;     /* the current option's value */
    const char *operand;   /* the current operand */
    const char *topic;     /* help topic for errors */
} cli_args;

enum { CLI_ARG_END = -1, CLI_ARG_OPERAND = -2, CLI_ARG_ERROR = -3 };

void cli_args_init(cli_args *a, int argc, char **argv, const char *topic);

/* Returns an option id, CLI_ARG_OPERAND (see a->operand), CLI_ARG_END, or CLI_ARG_ERROR
 * (already reported on stderr). */
int cli_args_next(cli_args *a, const cli_opt *opts);

/* ------------------------------------------------------------------ context */

/*
 * The call context as strings, filled from flags, jsonl keys or test files, and turned into
 * a weir_context. Strings are borrowed.
 */
typedef struct cli_context {
    const char *direction;       /* "prompt" | "completion" | NULL */
    const char *role;            /* principal ARN */
    const char *model;
    const char *region;
    const char *provider;        /* "bedrock" | "azure" | NULL */
    const char *deployment_type;
} cli_context;

/* Fills *out from c. Returns 0, or -1 with a message in msg for a bad direction/provider. */
int cli_context_build(weir_context *out, const cli_context *c, char *msg, size_t msg_size);

/* ------------------------------------------------------------------ I/O helpers */

/*
 * Reads a whole file ("-" or NULL: stdin) of at most `max` bytes into a new NUL-terminated
 * buffer (caller frees). Returns 0, or -1 after printing an error.
 */
int cli_read_file(char **out, size_t *out_len, const char *path, size_t max);

/* Writes s[0..n) to out with control characters escaped as \n, \t, \xNN; returns the number
 * of display columns written. out may be NULL to count columns only. */
size_t cli_put_escaped(FILE *out, const char *s, size_t n);

/* Copies s[0..n) into a new buffer that is valid UTF-8 (invalid bytes become U+FFFD) so it
 * can go into JSON. Caller frees. NULL on OOM. */
char *cli_utf8_sanitize(const char *s, size_t n, size_t *out_len);

/* "allow" / "log" / ... to an action; -1 if unknown. */
int cli_action_parse(const char *s);


/* The name a policy is given on the command line (path) -> its tests file name, new string. */
char *cli_tests_path_for(const char *policy_path);

/* Runs `weir policy test`; see policy_test.c. */
int cli_policy_test(const char *policy_path, const char *tests_path, int verbose);

/* A new vault for one check, or NULL when none can be made (tokens then fall back to
 * labels). */
weir_vault *cli_vault_new(void);

#endif
