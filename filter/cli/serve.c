/*
 * serve.c - `weir serve [--config FILE] [--check-config]`: runs the sidecar (filter/sidecar).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "sidecar/config.h"
#include "sidecar/sidecar.h"

enum { OPT_CONFIG = 1, OPT_CHECK };

int cli_cmd_serve(int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"config", 'c', 1, OPT_CONFIG},
        {"check-config", 0, 0, OPT_CHECK},
        {NULL, 0, 0, 0},
    };
    cli_args a;
    cli_args_init(&a, argc, argv, "serve");
    const char *path = NULL;
    int check_only = 0;
    int o;
    while ((o = cli_args_next(&a, opts)) != CLI_ARG_END) {
        if (o == CLI_ARG_ERROR)
            return CLI_USAGE;
        if (o == CLI_ARG_OPERAND)
            return cli_usage_error("serve", "unexpected argument '%s'", a.operand);
        if (o == OPT_CONFIG)
            path = a.value;
        else if (o == OPT_CHECK)
            check_only = 1;
    }

    wr_sc_config *cfg = NULL;
    weir_error err = {0};
    int rc = path ? wr_sc_config_load(path, &cfg, &err) : wr_sc_config_default(&cfg, &err);
    if (rc != 0) {
        cli_print_error(&err);
        return CLI_USAGE;
    }
    if (check_only) {
        weir_policy *p = NULL;
        rc = cfg->policy ? weir_policy_load_file(&p, cfg->policy, &err)
                         : weir_policy_load_default(&p, &err);
        if (rc != 0) {
            cli_print_error(&err);
            wr_sc_config_free(cfg);
            return CLI_USAGE;
        }
        printf("config ok: %zu upstream(s), policy %s %s\n", cfg->nup, weir_policy_name(p),
               weir_policy_digest(p));
        weir_policy_unref(p);
        wr_sc_config_free(cfg);
        return 0;
    }
    rc = wr_sidecar_run(cfg);
    wr_sc_config_free(cfg);
    return rc;
}
