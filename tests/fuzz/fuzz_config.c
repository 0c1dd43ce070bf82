/*
 * fuzz_config.c - bytes -> wr_sc_config_parse (the sidecar's YAML configuration).
 *
 * Whatever the bytes, parsing must either succeed or fail with a negative code, no
 * configuration and a filled error; it must never crash, hang or leak. A configuration that
 * loads must hold what the loader promises: at least one upstream, each with a valid name,
 * listener, region and endpoint, azure ones with a deployment type, and a deployment map
 * whose entries are found again by wr_sc_deployment_model.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sidecar/config.h"

static void check_upstream(const wr_sc_upstream *u)
{
    if (!u->name || !*u->name || strlen(u->name) > 64 || !u->listen || !u->region || !u->endpoint)
        abort();
    if (strncmp(u->endpoint, "https://", 8) != 0 && strncmp(u->endpoint, "http://", 7) != 0)
        abort();
    size_t n = strlen(u->endpoint);
    if (u->endpoint[n - 1] == '/')
        abort(); /* trailing slash trimmed */
    if (strcmp(wr_up_kind_name(u->kind), "unknown") == 0)
        abort();
    if (u->kind == WR_KIND_AZURE) {
        if (!u->deployment_type || u->aws_profile)
            abort();
        if (!!u->api_key_env + !!u->api_key_file + !!u->bearer_token_env > 1)
            abort();
    } else if (u->deployment_type || u->ndeployments || u->api_key_env || u->api_key_file ||
               u->bearer_token_env) {
        abort();
    }
    for (size_t i = 0; i < u->ndeployments; i++) {
        const char *m = wr_sc_deployment_model(u, u->deployments[i].name);
        if (!m || strcmp(m, u->deployments[i].model) != 0)
            abort();
    }
    if (u->principal && strncmp(u->principal, "arn:", 4) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_sc_config *c = NULL;
    weir_error err;
    memset(&err, 0, sizeof err);
    int rc = wr_sc_config_parse((const char *)data, size, "fuzz.yaml", &c, &err);
    if (rc != 0) {
        char buf[512];
        if (rc > 0 || c != NULL || err.code != rc || !err.text[0])
            abort(); /* failure must be negative, leave nothing behind, and say why */
        weir_error_format(&err, buf, sizeof buf);
        return 0;
    }
    if (!c || c->nup == 0 || !c->up || c->workers < 1 || c->workers > 64 || c->log_level < 0 ||
        c->log_level > 3 || !c->audit.account || strlen(c->audit.account) != 12 ||
        !c->audit.trail || !c->path)
        abort();
    for (size_t i = 0; i < c->nup; i++) {
        check_upstream(&c->up[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->up[i].name, c->up[j].name) == 0)
                abort();
    }
    wr_sc_config_free(c);
    return 0;
}
