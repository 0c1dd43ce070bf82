/*
 * policy.c - `weir policy lint | test | detectors`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_HELP = 1, OPT_TESTS, OPT_VERBOSE };

static const cli_opt help_only_opts[] = {
    {"help", 'h', 0, OPT_HELP},
    {NULL, 0, 0, 0},
};

static int cmd_lint(int argc, char **argv)
{
    cli_args a;
    int id, nfiles = 0, failed = 0;

    /* First pass: options and usage errors, before any file is read. */
    cli_args_init(&a, argc, argv, "policy lint");
    while ((id = cli_args_next(&a, help_only_opts)) != CLI_ARG_END) {
        if (id == CLI_ARG_ERROR)
            return CLI_USAGE;
        if (id == OPT_HELP) {
            cli_help_topic(stdout, "policy lint");
            return CLI_OK;
        }
        nfiles++;
    }
    if (nfiles == 0)
        return cli_usage_error("policy lint", "no policy file given");

    cli_args_init(&a, argc, argv, "policy lint");
    while ((id = cli_args_next(&a, help_only_opts)) != CLI_ARG_END) {
        weir_policy *p = NULL;
        weir_error err = {0};
        if (weir_policy_load_file(&p, a.operand, &err) != 0) {
            cli_print_error(&err);
            failed++;
            continue;
        }
        size_t n = weir_policy_rule_count(p);
        printf("%s: ok (%zu rule%s, %s)\n", a.operand, n, n == 1 ? "" : "s",
               weir_policy_digest(p));
        weir_policy_unref(p);
    }
    return failed ? CLI_USAGE : CLI_OK;
}

static int cmd_test(int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"tests", 't', 1, OPT_TESTS},
        {"verbose", 'v', 0, OPT_VERBOSE},
        {"help", 'h', 0, OPT_HELP},
        {NULL, 0, 0, 0},
    };
    cli_args a;
    const char *policy = NULL, *tests = NULL;
    int id, verbose = 0;

    cli_args_init(&a, argc, argv, "policy test");
    while ((id = cli_args_next(&a, opts)) != CLI_ARG_END) {
        switch (id) {
        case CLI_ARG_ERROR:
            return CLI_USAGE;
        case CLI_ARG_OPERAND:
            if (policy)
                return cli_usage_error("policy test", "only one policy file may be given");
            policy = a.operand;
            break;
        case OPT_TESTS:
            tests = a.value;
            break;
        case OPT_VERBOSE:
            verbose = 1;
            break;
        case OPT_HELP:
            cli_help_topic(stdout, "policy test");
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    if (!policy)
        return cli_usage_error("policy test", "no policy file given");
    if (strcmp(policy, "-") == 0)
        return cli_usage_error("policy test", "the policy must be a file");

    char *derived = NULL;
    if (!tests) {
        derived = cli_tests_path_for(policy);
        if (!derived) {
            cli_errorf("out of memory");
            return CLI_USAGE;
        }
        tests = derived;
    }
    int rc = cli_policy_test(policy, tests, verbose);
    free(derived);
    return rc;
}

static int cmd_detectors(int argc, char **argv)
{
    cli_args a;
    int id;
    cli_args_init(&a, argc, argv, "policy detectors");
    while ((id = cli_args_next(&a, help_only_opts)) != CLI_ARG_END) {
        if (id == CLI_ARG_ERROR)
            return CLI_USAGE;
        if (id == OPT_HELP) {
            cli_help_topic(stdout, "policy detectors");
            return CLI_OK;
        }
        return cli_usage_error("policy detectors", "unexpected argument '%s'", a.operand);
    }
    size_t width = 8;
    for (size_t i = 0;; i++) {
        const char *entity = NULL;
        const char *name = weir_detector_name(i, &entity);
        if (!name)
            break;
        if (strlen(name) > width)
            width = strlen(name);
    }
    printf("%-*s  %s\n", (int)width, "DETECTOR", "ENTITY");
    for (size_t i = 0;; i++) {
        const char *entity = NULL;
        const char *name = weir_detector_name(i, &entity);
        if (!name)
            break;
        printf("%-*s  %s\n", (int)width, name, entity && *entity ? entity : "-");
    }
    return CLI_OK;
}

int cli_cmd_policy(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {
        {"lint", cmd_lint},
        {"test", cmd_test},
        {"detectors", cmd_detectors},
    };
    if (argc < 2)
        return cli_usage_error("policy", "a subcommand is needed: lint, test or detectors");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cli_help_topic(stdout, "policy");
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(subs[i].name, argv[1]) == 0)
            return subs[i].run(argc - 1, argv + 1);
    if (argv[1][0] == '-')
        return cli_usage_error("policy", "unknown option '%s'", argv[1]);
    return cli_usage_error("policy", "unknown subcommand '%s'", argv[1]);
}
