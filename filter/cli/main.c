/*
 * main.c - `weir` entry point: global flags, command dispatch and help texts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef int (*cli_cmd_fn)(int argc, char **argv);

typedef struct cli_command {
    const char *name;
    cli_cmd_fn run;      /* NULL: known but not built in this version */
    const char *summary;
} cli_command;

/* Add commands here. `serve` and `audit` belong to the sidecar and audit modules. */
static const cli_command commands[] = {
    {"check", cli_cmd_check, "check text against a policy (offline)"},
    {"policy", cli_cmd_policy, "lint, test and inspect policies"},
    {"serve", cli_cmd_serve, "run the sidecar proxy in front of Bedrock / Azure OpenAI"},
    {"audit", cli_cmd_audit, "verify, query and count the audit trail"},
};

static const char usage_main[] =
    "usage: weir [--help] [--version] <command> [<args>]\n"
    "\n"
    "weir is a policy gate for LLM traffic: it checks prompts and completions against a\n"
    "YAML policy and allows, logs, redacts or blocks them.\n"
    "\n"
    "Commands:\n";

static const char usage_main_tail[] =
    "\n"
    "Run 'weir help <command>' or 'weir <command> --help' for a command's options.\n"
    "Exit status: 0 allowed or success, 1 blocked or tests failed, 2 usage or policy error,\n"
    "3 a verdict could not be audited (weir check --audit).\n";

static const char help_check[] =
    "usage: weir check [options] [FILE|-]\n"
    "\n"
    "Checks the text in FILE (default: standard input) against a policy and prints the\n"
    "verdict, the findings and the redacted text. Matched values are never printed on their\n"
    "own; a blocked text is not printed at all.\n"
    "\n"
    "Options:\n"
    "  -p, --policy FILE          policy to apply (default: the built-in default policy)\n"
    "  -d, --direction DIR        prompt (default) or completion\n"
    "      --role ARN             caller's IAM principal (role, assumed-role or user ARN)\n"
    "      --model ID             model id, inference profile id or ARN, Azure model\n"
    "      --region R             AWS or Azure region the call goes to\n"
    "      --provider P           bedrock or azure\n"
    "      --deployment-type T    Azure deployment type (standard, datazone, global, ...)\n"
    "  -f, --format F             text (default), json, or jsonl (batch mode)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Audit trail (see docs/audit.md):\n"
    "      --audit DIR            record every checked text (event \"Check\") in the trail in\n"
    "                             DIR before its verdict is printed; never the text itself\n"
    "      --audit-key PEM        RSA private key that signs the trail's digest files\n"
    "      --audit-hash-key-env VAR  HMAC key for matched-value hashes, from environment\n"
    "                             variable VAR (at least 16 bytes); without it, no hashes\n"
    "      --audit-account ID     12-digit account id in the trail's layout\n"
    "      --audit-region R       region in the trail's layout (default us-east-1)\n"
    "      --audit-durability D   sync (default: on disk before the verdict) or batch\n"
    "      --audit-fail-open      release a verdict that could not be recorded, with a\n"
    "                             warning (weakens the audit guarantee)\n"
    "A trail that cannot be opened is exit status 2 before anything is checked. A verdict\n"
    "that cannot be recorded is withheld: text/json print nothing on stdout and exit 3;\n"
    "jsonl writes an error line in its place and exits 3.\n"
    "\n"
    "Batch mode (--format jsonl): every input line is a JSON object\n"
    "  {\"id\": ..., \"text\": \"...\"}\n"
    "optionally with \"direction\", \"role\", \"model\", \"region\", \"provider\" and\n"
    "\"deployment_type\" string keys that override the flags for that line (other keys are\n"
    "ignored). Every input line gives one output line\n"
    "  {\"id\":...,\"action\":...,\"enforced_action\":...,\"redacted\":...,\"findings\":[...]}\n"
    "where \"redacted\" is null for a blocked line. A line that cannot be checked gives\n"
    "  {\"id\":...,\"line\":N,\"error\":\"...\"}\n"
    "and the batch goes on. Blank lines are skipped. Lines longer than 16 MiB or nested\n"
    "deeper than 64 levels are refused.\n"
    "\n"
    "Exit status: 0 allowed (possibly redacted or logged), 1 blocked (jsonl: any line blocked\n"
    "or any line could not be checked), 2 usage, input or policy error, or the audit trail\n"
    "cannot be opened, 3 a verdict could not be audited (--audit; 3 wins over 1).\n";

static const char help_policy[] =
    "usage: weir policy <subcommand> [<args>]\n"
    "\n"
    "Subcommands:\n"
    "  lint FILE...        load and compile each policy; report errors as file:line:col\n"
    "  test FILE           run the test cases kept beside FILE (FILE.yaml -> FILE.test.yaml)\n"
    "  detectors           list the builtin detectors and their entity types\n"
    "\n"
    "Run 'weir help policy <subcommand>' for details.\n";

static const char help_policy_lint[] =
    "usage: weir policy lint FILE...\n"
    "\n"
    "Loads and compiles each policy. Prints 'FILE: ok (N rules, sha256:...)' for a good one\n"
    "and 'file:line:col: message' on standard error for a bad one.\n"
    "\n"
    "Exit status: 0 all good, 2 any policy failed.\n";

static const char help_policy_test[] =
    "usage: weir policy test [--tests T] [-v] FILE\n"
    "\n"
    "Runs the test cases for policy FILE. They are read from T, or from the file beside the\n"
    "policy with '.yaml' replaced by '.test.yaml'. Each failure is printed with a diff of\n"
    "the expected and actual verdict, text and rules, followed by 'N passed, N failed'.\n"
    "\n"
    "Options:\n"
    "  -t, --tests T     the test file\n"
    "  -v, --verbose     also list the tests that pass\n"
    "\n"
    "Test file format (see docs/cli.md):\n"
    "  tests:\n"
    "    - name: email in prompt is redacted\n"
    "      input: \"Contact jane@example.com\"\n"
    "      context: { direction: prompt, role: ..., model: ..., region: ...,\n"
    "                 provider: bedrock, deployment_type: standard }\n"
    "      expect: { action: redact, redacted: \"Contact [EMAIL]\", rules: [emails] }\n"
    "\n"
    "Exit status: 0 all passed, 1 any failed, 2 bad policy or test file.\n";

static const char help_policy_detectors[] =
    "usage: weir policy detectors\n"
    "\n"
    "Lists the builtin detectors a policy can name in 'detect:', with the Bedrock Guardrails\n"
    "entity type each reports.\n";

static const char help_audit[] =
    "usage: weir audit <subcommand> [<args>]\n"
    "\n"
    "Subcommands:\n"
    "  verify DIR --public-key PEM   check the signed digest chain and every log file\n"
    "  query DIR [filters]           list records, newest first\n"
    "  stats DIR [--since T]         count records by principal, model, rule and action\n"
    "\n"
    "DIR is the trail's root directory (the gate's audit 'dir'). Times T are ISO 8601 UTC\n"
    "(2026-08-01T10:00:00Z, 2026-08-01T10:00Z, 2026-08-01) or relative to now (-30m, -1h,\n"
    "-7d, -2w). Run 'weir help audit <subcommand>' for details; see docs/audit-review.md.\n";

static const char help_audit_verify[] =
    "usage: weir audit verify DIR --public-key PEM [--start T] [--end T] [-v]\n"
    "\n"
    "Checks the trail like 'aws cloudtrail validate-logs': lists the digest files whose end\n"
    "time is in [start, end] (default: all), walks each chain newest to oldest, and checks\n"
    "every digest (signature, key fingerprint, link to the previous digest, location) and\n"
    "every log file it lists (SHA-256 of the uncompressed content). Log files on disk that\n"
    "no digest lists are reported too. One line per file:\n"
    "  Digest file<TAB>PATH<TAB>valid | INVALID: REASON\n"
    "  Log file<TAB>PATH<TAB>valid | INVALID: REASON\n"
    "then 'N/M digest files valid' and 'N/M log files valid'.\n"
    "\n"
    "Options:\n"
    "  -k, --public-key PEM   RSA public key (SPKI or PKCS#1 PEM); repeat for rotated keys\n"
    "      --start T          oldest digest end time to check\n"
    "      --end T            newest digest end time to check\n"
    "  -v, --verbose          give the detail of each failure; list pending log files\n"
    "\n"
    "Exit status: 0 everything in range is valid, 1 anything invalid (or no digest in\n"
    "range), 2 usage error or unreadable key.\n";

static const char help_audit_query[] =
    "usage: weir audit query DIR [options]\n"
    "\n"
    "Reads the journal and every log file, drops duplicate records (same eventID), keeps\n"
    "the ones that pass every filter and prints them newest first.\n"
    "\n"
    "Options:\n"
    "      --since T          events at or after T\n"
    "      --until T          events at or before T\n"
    "      --principal GLOB   caller ARN (userIdentity.arn) or its role ARN (sessionIssuer);\n"
    "                         '*' and '?' do not cross ':'\n"
    "      --model GLOB       requestParameters.modelId\n"
    "      --rule GLOB        a rule that fired (additionalEventData.findings[].rule)\n"
    "      --action A         what was done: allow, log, redact or block\n"
    "      --event GLOB       eventName (InvokeModel, Converse, GateStart, ...)\n"
    "  -n, --limit N          at most N records (the newest)\n"
    "  -f, --format F         table (default), json (one array of the records), jsonl\n"
    "                         (one record per line) or csv (with a header row)\n"
    "  -v, --verbose          print counts (files read and skipped, duplicates) to stderr\n"
    "\n"
    "Exit status: 0 success, 1 some file or record could not be read (warnings on stderr;\n"
    "the rest is printed), 2 usage error or unreadable DIR.\n";

static const char help_serve[] =
    "usage: weir serve [--config FILE] [--check-config]\n"
    "\n"
    "Runs the sidecar: an HTTP proxy that official SDKs reach by changing only their\n"
    "endpoint / base URL. Every listener serves HTTP/1.1 and h2c on the same port. Each\n"
    "prompt is checked against the policy before it goes upstream (redacted, blocked or\n"
    "denied in the provider's own format); each completion, streamed or not, is checked\n"
    "before the app sees it. Bedrock requests are re-signed with SigV4 using the sidecar's\n"
    "own AWS credentials; Azure requests get the configured api-key. The caller's own\n"
    "credentials are never forwarded.\n"
    "\n"
    "  -c, --config FILE   the configuration (docs/config.md). Without it: one Bedrock\n"
    "                      upstream for $AWS_REGION on 127.0.0.1:8080, admin on\n"
    "                      127.0.0.1:9090, the embedded default policy\n"
    "      --check-config  load and validate the configuration and its policy, then exit\n"
    "\n"
    "Admin listener: GET /healthz, /readyz (policy loaded, trail writable, not draining),\n"
    "/metrics (Prometheus). Signals: SIGHUP reloads the policy (so does a change of the\n"
    "policy file; a bad policy is refused and the old one keeps serving); SIGTERM stops\n"
    "accepting, finishes in-flight requests (drain_timeout_ms) and flushes the trail,\n"
    "then waits up to audit.sink_flush_timeout_ms for its sinks.\n"
    "Plugins (docs/plugins.md): detectors named in the policy's `detectors:`, audit sinks\n"
    "in `audit.sinks` (e.g. s3-export); WEIR_PLUGIN_PATH lists directories searched for\n"
    "bare plugin names before weir's own plugin directory.\n"
    "Logs are JSON lines on stderr. Environment: WEIR_POLICY, WEIR_ADMIN, WEIR_WORKERS,\n"
    "WEIR_LOG_LEVEL, WEIR_AUDIT_DIR override the file; AWS credentials as the AWS SDKs\n"
    "find them (docs/credentials.md).\n"
    "\n"
    "Exit status: 0 after a clean shutdown, 2 when the configuration, policy, a plugin,\n"
    "credentials, audit trail or a listener cannot be set up.\n";

static const char help_audit_stats[] =
    "usage: weir audit stats DIR [--since T] [--until T] [--format table|json] [-v]\n"
    "\n"
    "Counts the deduplicated records in the range by action, principal, model and rule (a\n"
    "rule counts once per record in which it fired).\n"
    "\n"
    "Exit status: as for 'weir audit query'.\n";

static void print_main_usage(FILE *out)
{
    fputs(usage_main, out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs(usage_main_tail, out);
}

int cli_help_topic(FILE *out, const char *topic)
{
    static const struct {
        const char *topic;
        const char *text;
    } topics[] = {
        {"check", help_check},
        {"policy", help_policy},
        {"policy lint", help_policy_lint},
        {"policy test", help_policy_test},
        {"policy detectors", help_policy_detectors},
        {"serve", help_serve},
        {"audit", help_audit},
        {"audit verify", help_audit_verify},
        {"audit query", help_audit_query},
        {"audit stats", help_audit_stats},
    };
    if (!topic || !*topic) {
        print_main_usage(out);
        return 0;
    }
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        if (strcmp(topics[i].topic, topic) == 0) {
            fputs(topics[i].text, out);
            return 0;
        }
    }
    return -1;
}

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("weir: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *topic, const char *fmt, ...)
{
    va_list ap;
    fputs("weir: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (topic && *topic)
        fprintf(stderr, "Try 'weir help %s'.\n", topic);
    else
        fputs("Try 'weir --help'.\n", stderr);
    return CLI_USAGE;
}

void cli_print_error(const weir_error *err)
{
    char buf[512];
    if (!err->text[0]) {
        cli_errorf("%s%sfailed (error %d)", err->source, err->source[0] ? ": " : "", err->code);
        return;
    }
    fprintf(stderr, "%s\n", weir_error_format(err, buf, sizeof buf));
}

static int cmd_help(int argc, char **argv)
{
    char topic[64] = "";
    for (int i = 1; i < argc; i++) {
        size_t used = strlen(topic);
        if (strlen(argv[i]) + used + 2 > sizeof topic)
            return cli_usage_error(NULL, "no help for '%s'", argv[i]);
        if (used)
            strcat(topic, " ");
        strcat(topic, argv[i]);
    }
    if (cli_help_topic(stdout, topic) == 0)
        return CLI_OK;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, topic) == 0 && !commands[i].run) {
            cli_errorf("'%s' is not built in this version of weir", topic);
            return CLI_USAGE;
        }
    }
    return cli_usage_error(NULL, "no help for '%s'", topic);
}

static void print_version(void)
{
    printf("weir %d.%d.%d (libweir %s)\n", WEIR_VERSION_MAJOR, WEIR_VERSION_MINOR,
           WEIR_VERSION_PATCH, weir_version());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        print_main_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        print_version();
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0) {
        print_version();
        return CLI_OK;
    }
    if (cmd[0] == '-') {
        cli_errorf("unknown option '%s'", cmd);
        print_main_usage(stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, cmd) != 0)
            continue;
        if (!commands[i].run) {
            cli_errorf("'%s' is not built in this version of weir", cmd);
            return CLI_USAGE;
        }
        int rc = commands[i].run(argc - 1, argv + 1);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cli_errorf("cannot write to standard output");
            return CLI_USAGE;
        }
        return rc;
    }
    cli_errorf("unknown command '%s'", cmd);
    print_main_usage(stderr);
    return CLI_USAGE;
}
