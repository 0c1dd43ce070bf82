/*
 * The sidecar configuration loader: valid files load with the values written and the
 * documented defaults; every invalid file is refused at the right line:col with a message a
 * user can act on; environment overrides apply after the file and are validated the same way.
 *
 * Data: tests/data/config/ (valid files) and tests/data/config/invalid/, whose
 * expectations live in bad_cases[] below (every file there must be listed).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sidecar/config.h"
#include "weir/audit.h"

#define DATA "tests/data/config/"
#define UP_MIN                                                                                     \
    "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:8080\", region: "               \
    "eu-central-1}\n"

static const char *const env_vars[] = {"WEIR_POLICY",    "WEIR_ADMIN",     "WEIR_WORKERS",
                                       "WEIR_LOG_LEVEL", "WEIR_AUDIT_DIR", "AWS_REGION"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
}

static int setup(void **state)
{
    (void)state;
    const char *d = getenv("WEIR_SOURCE_DIR");
    if (d && *d && chdir(d) != 0)
        return -1;
    clear_env();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static unsigned expected_default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 2 ? 2u : 1u;
}

static wr_sc_config *parse_ok(const char *yaml)
{
    wr_sc_config *c = NULL;
    weir_error err = {0};
    int rc = wr_sc_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err);
    if (rc) {
        char buf[512];
        print_error("unexpected error: %s\n--- input:\n%s\n",
                    weir_error_format(&err, buf, sizeof buf), yaml);
    }
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

static wr_sc_config *load_ok(const char *path)
{
    wr_sc_config *c = NULL;
    weir_error err = {0};
    int rc = wr_sc_config_load(path, &c, &err);
    if (rc) {
        char buf[512];
        print_error("unexpected error: %s\n", weir_error_format(&err, buf, sizeof buf));
    }
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* Parses yaml, expects failure with code at line:col and `text` inside the message. */
static void parse_fails(const char *yaml, int code, int line, int col, const char *text)
{
    wr_sc_config *c = (wr_sc_config *)1;
    weir_error err = {0};
    int rc = wr_sc_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err);
    char buf[512];
    weir_error_format(&err, buf, sizeof buf);
    if (rc != code || err.line != line || err.column != col || !strstr(err.text, text))
        print_error("expected %d at %d:%d containing \"%s\"\n     got %d: %s\n--- input:\n%s\n",
                    code, line, col, text, rc, buf, yaml);
    assert_int_equal(rc, code);
    assert_null(c);
    assert_int_equal(err.code, code);
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, col);
    assert_non_null(strstr(err.text, text));
    assert_string_equal(err.source, "t.yaml");
}

/* Like parse_fails, with the expected position given as a pointer into yaml. */
static void parse_fails_at(const char *yaml, int code, const char *at, const char *text)
{
    assert_non_null(at);
    int line = 1, col = 1;
    for (const char *p = yaml; p < at; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    parse_fails(yaml, code, line, col, text);
}

/* ------------------------------------------------------------------ valid files */

static void test_minimal_defaults(void **state)
{
    (void)state;
    wr_sc_config *c = load_ok(DATA "minimal.yaml");
    assert_string_equal(c->path, DATA "minimal.yaml");
    assert_null(c->policy);
    assert_null(c->admin);
    assert_int_equal(c->workers, expected_default_workers());
    assert_int_equal(c->log_level, 1);

    assert_null(c->audit.dir);
    assert_int_equal(c->audit.durability, WEIR_AUDIT_SYNC);
    assert_int_equal(c->audit.batch_ms, 50);
    assert_string_equal(c->audit.account, "000000000000");
    assert_string_equal(c->audit.trail, "weir");
    assert_null(c->audit.signing_key_file);
    assert_null(c->audit.hash_key_file);
    assert_int_equal(c->audit.digest_seconds, 3600);
    assert_int_equal(c->audit.fail_open, 0);
    assert_int_equal(c->audit.jsonl_stdout, 0);

    /* server limits stay zero (= the server's own defaults) unless written */
    assert_int_equal(c->http.max_body_bytes, 0);
    assert_int_equal(c->http.max_header_bytes, 0);
    assert_int_equal(c->http.max_headers, 0);
    assert_int_equal(c->http.header_timeout_ms, 0);
    assert_int_equal(c->http.high_watermark, 0);
    assert_int_equal(c->http.max_connections, 0);
    assert_int_equal(c->upstream_connect_timeout_ms, 5000);
    assert_int_equal(c->upstream_first_byte_timeout_ms, 60000);
    assert_int_equal(c->upstream_idle_timeout_ms, 300000);
    assert_int_equal(c->max_hold_bytes, 0);
    assert_int_equal(c->drain_timeout_ms, 30000);

    assert_int_equal(c->nup, 1);
    const wr_sc_upstream *u = &c->up[0];
    assert_string_equal(u->name, "bedrock");
    assert_int_equal(u->kind, WR_KIND_BEDROCK);
    assert_string_equal(u->listen, "127.0.0.1:8080");
    assert_string_equal(u->region, "eu-central-1");
    assert_string_equal(u->endpoint, "https://bedrock-runtime.eu-central-1.amazonaws.com");
    assert_null(u->deployment_type);
    assert_null(u->deployments);
    assert_int_equal(u->ndeployments, 0);
    assert_null(u->api_key_env);
    assert_null(u->api_key_file);
    assert_null(u->bearer_token_env);
    assert_null(u->aws_profile);
    assert_null(u->principal);
    assert_null(u->ca_file);
    wr_sc_config_free(c);
}

static void test_full_every_key(void **state)
{
    (void)state;
    wr_sc_config *c = load_ok(DATA "full.yaml");
    assert_string_equal(c->policy, "/etc/weir/policy.yaml");
    assert_string_equal(c->admin, "[::1]:9091");
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->log_level, 2);

    assert_string_equal(c->audit.dir, "/var/lib/weir/audit");
    assert_int_equal(c->audit.durability, WEIR_AUDIT_BATCH);
    assert_int_equal(c->audit.batch_ms, 20);
    assert_string_equal(c->audit.account, "012345678901");
    assert_string_equal(c->audit.trail, "eu-finance.trail_1");
    assert_string_equal(c->audit.signing_key_file, "/etc/weir/digest-key.pem");
    assert_string_equal(c->audit.hash_key_file, "/etc/weir/hash.key");
    assert_int_equal(c->audit.digest_seconds, 900);
    assert_int_equal(c->audit.fail_open, 1);
    assert_int_equal(c->audit.jsonl_stdout, 1);

    assert_int_equal(c->http.max_body_bytes, 8 * 1024 * 1024);
    assert_int_equal(c->http.max_header_bytes, 32 * 1024);
    assert_int_equal(c->http.max_headers, 64);
    assert_int_equal(c->http.header_timeout_ms, 5000);
    assert_int_equal(c->http.body_timeout_ms, 15000);
    assert_int_equal(c->http.idle_timeout_ms, 30000);
    assert_int_equal(c->http.write_timeout_ms, 45000);
    assert_int_equal(c->http.high_watermark, 512 * 1024);
    assert_int_equal(c->http.max_streams, 32);
    assert_int_equal(c->http.max_connections, 1000);
    assert_int_equal(c->upstream_connect_timeout_ms, 2000);
    assert_int_equal(c->upstream_first_byte_timeout_ms, 90000);
    assert_int_equal(c->upstream_idle_timeout_ms, 120000);
    assert_int_equal(c->max_hold_bytes, 65536);
    assert_int_equal(c->drain_timeout_ms, 0);

    assert_int_equal(c->nup, 3);
    const wr_sc_upstream *b = &c->up[0], *m = &c->up[1], *a = &c->up[2];
    assert_string_equal(b->name, "bedrock-eu");
    assert_int_equal(b->kind, WR_KIND_BEDROCK);
    assert_string_equal(b->listen, "0.0.0.0:8080");
    assert_string_equal(b->endpoint,
                        "https://vpce-0abc123-xyz.bedrock-runtime.eu-central-1.vpce.amazonaws.com");
    assert_string_equal(b->aws_profile, "llm-prod");
    assert_string_equal(b->principal, "arn:aws:iam::111122223333:role/teams/llm-app");
    assert_string_equal(b->ca_file, "/etc/ssl/certs/internal.pem");

    assert_string_equal(m->name, "mantle_eu");
    assert_int_equal(m->kind, WR_KIND_BEDROCK_MANTLE);
    assert_string_equal(m->listen, "localhost:8081");
    assert_string_equal(m->region, "eu-west-1");
    assert_string_equal(m->endpoint, "https://bedrock-mantle.eu-west-1.api.aws");

    assert_string_equal(a->name, "azure-se");
    assert_int_equal(a->kind, WR_KIND_AZURE);
    assert_string_equal(a->listen, "[::]:8082");
    assert_string_equal(a->region, "swedencentral");
    assert_string_equal(a->endpoint, "https://my-resource.openai.azure.com:443");
    assert_string_equal(a->deployment_type, "datazone_provisioned");
    assert_int_equal(a->ndeployments, 3);
    assert_string_equal(a->deployments[0].name, "prod-chat");
    assert_string_equal(a->deployments[0].model, "gpt-4o");
    assert_string_equal(a->deployments[2].name, "codex.v2");
    assert_string_equal(a->deployments[2].model, "gpt-5-codex");
    assert_string_equal(a->bearer_token_env, "AZURE_OPENAI_TOKEN");
    assert_null(a->api_key_env);
    assert_string_equal(a->principal,
                        "arn:aws-us-gov:sts::111122223333:assumed-role/llm-app/pod-7f9c");
    wr_sc_config_free(c);
}

static void test_azure_file(void **state)
{
    (void)state;
    wr_sc_config *c = load_ok(DATA "azure.yaml");
    assert_int_equal(c->log_level, 0);
    assert_int_equal(c->nup, 2);
    /* port 0 (tests) may repeat: each listener gets its own free port */
    assert_string_equal(c->up[0].listen, "127.0.0.1:0");
    assert_string_equal(c->up[1].listen, "127.0.0.1:0");
    assert_string_equal(c->up[0].endpoint, "http://127.0.0.1:18080");
    assert_string_equal(c->up[0].region, "eastus2");
    assert_string_equal(c->up[0].deployment_type, "standard");
    assert_string_equal(c->up[0].api_key_file, "/run/secrets/azure-openai-key");
    assert_string_equal(c->up[1].deployment_type, "global");
    assert_int_equal(c->up[1].ndeployments, 0);
    assert_null(wr_sc_deployment_model(&c->up[1], "gpt-4o"));
    wr_sc_config_free(c);
}

/* ------------------------------------------------------------------ invalid files */

typedef struct bad_case {
    const char *file;
    int line, col;
    const char *text;
    int code; /* 0: WEIR_EINVAL */
} bad_case;

/* clang-format off */
static const bad_case bad_cases[] = {
    {"bad-kind.yaml", 4, 11, "'kind' must be one of bedrock, bedrock-mantle, azure, not 'lambda'", 0},
    {"kind-typo.yaml", 3, 11, "did you mean 'bedrock'?", 0},
    {"missing-kind.yaml", 2, 5, "upstream 'gw' is missing 'kind'", 0},
    {"unknown-top-key.yaml", 2, 1, "unknown top-level key 'upstream'; did you mean 'upstreams'?", 0},
    {"unknown-upstream-key.yaml", 5, 5, "unknown key 'regoin' in upstream 'gw'; did you mean 'region'?", 0},
    {"unknown-audit-key.yaml", 3, 3, "unknown key 'durabilty' in 'audit'; did you mean 'durability'?", 0},
    {"unknown-limit-key.yaml", 2, 3, "did you mean 'max_body_bytes'?", 0},
    {"duplicate-key.yaml", 6, 5, "duplicate key 'region' in upstream 'gw' (first at line 4)", 0},
    {"duplicate-name.yaml", 6, 11, "upstream name 'gw' is used twice (first at line 2)", 0},
    {"bad-name.yaml", 2, 11, "invalid name 'Bedrock.EU': use 1 to 64 characters from a-z 0-9 _ -", 0},
    {"missing-name.yaml", 2, 5, "upstream 1 is missing 'name'", 0},
    {"missing-upstreams.yaml", 1, 1, "missing required key 'upstreams'", 0},
    {"empty-upstreams.yaml", 2, 12, "'upstreams' is empty", 0},
    {"upstreams-not-list.yaml", 2, 3, "expected a list for 'upstreams', got a mapping", 0},
    {"upstream-not-map.yaml", 2, 5, "expected a mapping for upstream 1", 0},
    {"missing-listen.yaml", 2, 5, "upstream 'gw' is missing 'listen'", 0},
    {"missing-region.yaml", 2, 5, "upstream 'gw' is missing 'region' (e.g. region: swedencentral)", 0},
    {"listen-no-port.yaml", 4, 13, "no port; write host:port", 0},
    {"listen-bad-port.yaml", 4, 13, "port 70000 is out of range (0 to 65535)", 0},
    {"listen-ipv6-brackets.yaml", 4, 13, "an IPv6 address must be in brackets", 0},
    {"listen-bad-host.yaml", 4, 13, "'300.1.2.3' is not an IPv4 address", 0},
    {"listen-clash.yaml", 8, 13, "listen 'localhost:8080' of upstream 'b' clashes with listen '127.0.0.1:8080' of upstream 'a' (line 4)", 0},
    {"listen-admin-clash.yaml", 6, 8, "clashes with admin '0.0.0.0:9090'", 0},
    {"bad-admin.yaml", 1, 8, "invalid admin '9090': no port", 0},
    {"bad-aws-region.yaml", 5, 13, "invalid region 'eu-central' for a bedrock-mantle upstream: AWS regions", 0},
    {"azure-region-aws-style.yaml", 5, 13, "eu-central-1 is an AWS region; Azure regions", 0},
    {"azure-region-case.yaml", 5, 13, "did you mean 'swedencentral'?", 0},
    {"endpoint-path.yaml", 6, 15, "no path", 0},
    {"endpoint-userinfo.yaml", 6, 15, "user names and passwords do not belong in the endpoint", 0},
    {"endpoint-query.yaml", 6, 15, "no query string", 0},
    {"endpoint-scheme.yaml", 6, 15, "must start with https://", 0},
    {"endpoint-bad-port.yaml", 6, 15, "port 0 is out of range (1 to 65535)", 0},
    {"endpoint-region-mismatch.yaml", 5, 15, "is in region us-east-1, but upstream 'gw' has region eu-central-1", 0},
    {"azure-missing-endpoint.yaml", 2, 5, "upstream 'gw' is missing 'endpoint'", 0},
    {"azure-missing-deployment-type.yaml", 2, 5, "upstream 'gw' is missing 'deployment_type'", 0},
    {"azure-bad-deployment-type.yaml", 7, 22, "not 'datazon'; did you mean 'datazone'?", 0},
    {"azure-two-credentials.yaml", 9, 5, "sets both 'api_key_env' and 'bearer_token_env'", 0},
    {"azure-key-on-bedrock.yaml", 6, 5, "'deployments' applies only to azure upstreams; upstream 'gw' is kind bedrock", 0},
    {"aws-profile-on-azure.yaml", 3, 5, "'aws_profile' applies only to bedrock and bedrock-mantle upstreams", 0},
    {"bad-env-name.yaml", 8, 18, "invalid api_key_env '0123abcd-not-a-variable'", 0},
    {"bad-deployment-name.yaml", 9, 7, "invalid deployment name 'gpt 4o'", 0},
    {"deployment-twice.yaml", 10, 7, "deployment 'Chat' is listed twice in upstream 'gw' (first at line 9)", 0},
    {"deployment-model-list.yaml", 9, 13, "expected a string for 'deployments', got a list", 0},
    {"bad-principal.yaml", 6, 16, "a principal is an IAM ARN", 0},
    {"principal-bad-account.yaml", 6, 16, "the account must be 12 digits", 0},
    {"principal-glob.yaml", 6, 16, "the role name may use letters, digits", 0},
    {"bad-bool.yaml", 3, 14, "'fail_open' must be true or false, not 'yes'", 0},
    {"quoted-bool.yaml", 2, 17, "'jsonl_stdout' must be true or false without quotes", 0},
    {"workers-zero.yaml", 1, 10, "'workers' must be a whole number from 1 to 64", 0},
    {"workers-string.yaml", 1, 10, "'workers' must be a whole number from 1 to 64", 0},
    {"bad-log-level.yaml", 1, 12, "'log_level' must be one of debug, info, warn, error, not 'verbose'", 0},
    {"bad-durability.yaml", 2, 15, "'durability' must be one of sync, batch", 0},
    {"bad-account.yaml", 2, 12, "'account' must be a 12-digit AWS account id", 0},
    {"bad-trail.yaml", 2, 10, "'trail' may only use letters, digits", 0},
    {"bad-size-unit.yaml", 2, 19, "optionally with KiB, MiB or GiB (e.g. 8MiB), from 1 to 1GiB", 0},
    {"size-out-of-range.yaml", 2, 21, "'max_header_bytes' must be from 1KiB to 1MiB", 0},
    {"size-overflow.yaml", 2, 19, "'max_body_bytes' must be a size in bytes", 0},
    {"timeout-suffix.yaml", 2, 22, "'header_timeout_ms' must be a whole number from 1 to 3600000", 0},
    {"timeout-zero.yaml", 2, 20, "'idle_timeout_ms' must be a whole number from 1 to 3600000", 0},
    {"limits-not-map.yaml", 1, 9, "expected a mapping for 'limits', got a string", 0},
    {"null-value.yaml", 1, 8, "'policy' has no value", 0},
    {"anchor.yaml", 2, 5, "YAML anchors (&gw) are not allowed", 0},
    {"alias.yaml", 5, 13, "YAML aliases (*eu) are not allowed", 0},
    {"tag.yaml", 1, 10, "YAML tags", 0},
    {"tabs.yaml", 3, 1, "a tab character here", 0},
    {"unclosed-quote.yaml", 4, 1, "the quoted string that starts at line 3, column 9 is never closed", 0},
    {"two-documents.yaml", 3, 1, "a second YAML document starts here", 0},
    {"not-a-mapping.yaml", 1, 1, "a configuration is a mapping of keys", 0},
    {"too-deep.yaml", 6, 27, "nests deeper than 16 levels", WEIR_ELIMIT},
    {"empty.yaml", 1, 1, "the configuration is empty", 0},
    {"nul-in-value.yaml", 1, 9, "NUL character", 0},
    {"not-utf8.yaml", 1, 15, "a configuration is UTF-8 text", 0},
};
/* clang-format on */

static void test_invalid_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *t = &bad_cases[i];
        char path[256];
        snprintf(path, sizeof path, DATA "invalid/%s", t->file);
        int code = t->code ? t->code : WEIR_EINVAL;
        wr_sc_config *c = (wr_sc_config *)1;
        weir_error err = {0};
        int rc = wr_sc_config_load(path, &c, &err);
        char buf[512];
        weir_error_format(&err, buf, sizeof buf);
        if (rc != code || err.line != t->line || err.column != t->col || !strstr(err.text, t->text))
            print_error("%s: expected %d at %d:%d containing \"%s\"\n     got %d: %s\n", t->file,
                        code, t->line, t->col, t->text, rc, buf);
        assert_int_equal(rc, code);
        assert_null(c);
        assert_int_equal(err.code, code);
        assert_int_equal(err.line, t->line);
        assert_int_equal(err.column, t->col);
        assert_non_null(strstr(err.text, t->text));
        assert_string_equal(err.source, path);
        /* the formatted error is FILE:LINE:COL: message */
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, t->line, t->col);
        assert_true(strncmp(buf, prefix, strlen(prefix)) == 0);
    }
}

/* A file dropped into invalid/ without an expectation would test nothing: refuse it. */
static void test_every_invalid_file_listed(void **state)
{
    (void)state;
    DIR *d = opendir(DATA "invalid");
    assert_non_null(d);
    struct dirent *e;
    size_t files = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        files++;
        int listed = 0;
        for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
            if (!strcmp(bad_cases[i].file, e->d_name))
                listed = 1;
        if (!listed)
            print_error("%s has no entry in bad_cases[]\n", e->d_name);
        assert_true(listed);
    }
    closedir(d);
    assert_int_equal(files, sizeof bad_cases / sizeof bad_cases[0]);
}

/* ------------------------------------------------------------------ values */

static void test_listen_forms(void **state)
{
    (void)state;
    static const char *const ok[] = {"127.0.0.1:8080", "0.0.0.0:1",   "[::1]:8080",
                                     "[::]:65535",     "localhost:0", "weir-sidecar_1.svc:80",
                                     "[fe80::1]:443"};
    char y[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: bedrock, listen: \"%s\", region: us-east-1}\n",
                 ok[i]);
        wr_sc_config *c = parse_ok(y);
        assert_string_equal(c->up[0].listen, ok[i]);
        wr_sc_config_free(c);
    }
    static const char *const bad[] = {":8080",           "127.0.0.1:",       "127.0.0.1:80a",
                                      "[::1]",           "[zz]:80",          "host name:80",
                                      "-bad.example:80", "127.0.0.1:123456", "[::1:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: bedrock, listen: \"%s\", region: us-east-1}\n",
                 bad[i]);
        parse_fails_at(y, WEIR_EINVAL, strstr(y, "listen: ") + 8, "invalid listen");
    }
}

static void test_listener_clashes(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        int clash;
    } cases[] = {
        {"127.0.0.1:8080", "127.0.0.2:8080", 0}, {"127.0.0.1:8080", "127.0.0.1:8081", 0},
        {"127.0.0.1:0", "127.0.0.1:0", 0},       {"127.0.0.1:8080", "127.0.0.1:8080", 1},
        {"0.0.0.0:8080", "10.0.0.1:8080", 1},    {"[::]:8080", "127.0.0.1:8080", 1},
        {"LOCALHOST:8080", "[::1]:8080", 1},     {"example.com:8080", "Example.COM:8080", 1},
    };
    char y[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n"
                 "  - {name: a, kind: bedrock, listen: \"%s\", region: us-east-1}\n"
                 "  - {name: b, kind: bedrock, listen: \"%s\", region: us-east-1}\n",
                 cases[i].a, cases[i].b);
        if (cases[i].clash) {
            parse_fails_at(y, WEIR_EINVAL, strstr(strstr(y, "name: b"), "listen: ") + 8,
                           "clashes with listen");
        } else {
            wr_sc_config *c = parse_ok(y);
            wr_sc_config_free(c);
        }
    }
}

static void test_endpoints(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"https://bedrock-runtime.us-east-1.amazonaws.com",
         "https://bedrock-runtime.us-east-1.amazonaws.com"},
        {"HTTPS://Bedrock-Runtime.US-EAST-1.amazonaws.com/",
         "https://bedrock-runtime.us-east-1.amazonaws.com"},
        {"http://127.0.0.1:9000", "http://127.0.0.1:9000"},
        {"http://[::1]:9000/", "http://[::1]:9000"},
        {"https://bedrock.internal.example:8443", "https://bedrock.internal.example:8443"},
    };
    char y[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", "
                 "region: us-east-1, endpoint: \"%s\"}\n",
                 ok[i].in);
        wr_sc_config *c = parse_ok(y);
        assert_string_equal(c->up[0].endpoint, ok[i].out);
        wr_sc_config_free(c);
    }
    static const char *const bad[] = {"https://",           "https://:443",   "https://host:99999",
                                      "https://host/#frag", "https://host//", "file:///etc/x",
                                      "https://host name",  "https://[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", "
                 "region: us-east-1, endpoint: \"%s\"}\n",
                 bad[i]);
        parse_fails_at(y, WEIR_EINVAL, strstr(y, "endpoint: ") + 10, "invalid endpoint");
    }
    /* the defaults follow the region and the kind */
    wr_sc_config *c = parse_ok(
        "upstreams:\n"
        "  - {name: a, kind: bedrock, listen: \"127.0.0.1:0\", region: us-gov-west-1}\n"
        "  - {name: b, kind: bedrock-mantle, listen: \"127.0.0.1:0\", region: ap-southeast-2}\n");
    assert_string_equal(c->up[0].endpoint, "https://bedrock-runtime.us-gov-west-1.amazonaws.com");
    assert_string_equal(c->up[1].endpoint, "https://bedrock-mantle.ap-southeast-2.api.aws");
    wr_sc_config_free(c);
    /* an AWS endpoint must name the upstream's own region; other hosts are not inspected */
    c = parse_ok("upstreams:\n  - {name: a, kind: bedrock-mantle, listen: \"127.0.0.1:0\", "
                 "region: eu-west-1, endpoint: \"https://bedrock-mantle.eu-west-1.api.aws\"}\n");
    wr_sc_config_free(c);
    const char *mis =
        "upstreams:\n  - {name: a, kind: bedrock-mantle, listen: \"127.0.0.1:0\", "
        "region: eu-west-1, endpoint: \"https://bedrock-mantle.eu-west-3.api.aws\"}\n";
    parse_fails_at(mis, WEIR_EINVAL, strstr(mis, "\"https"), "is in region eu-west-3");
}

static void test_regions(void **state)
{
    (void)state;
    static const char *const aws_ok[] = {"us-east-1",     "eu-central-1",  "ap-southeast-2",
                                         "us-gov-west-1", "us-iso-east-1", "us-isob-east-1",
                                         "ca-west-1",     "il-central-1",  "eu-south-2"};
    static const char *const aws_bad[] = {"US-EAST-1", "us-east",      "useast1",    "us-east-1a",
                                          "u-east-1",  "us-east-",     "us--east-1", "us-east-123",
                                          "*",         "eu-central-1 "};
    static const char *const az_ok[] = {"swedencentral", "eastus2", "westeurope", "usgovvirginia"};
    static const char *const az_bad[] = {"Sweden Central", "east-us", "2eastus", "eastus_2", "x"};
    char y[512];
    for (size_t i = 0; i < sizeof aws_ok / sizeof aws_ok[0]; i++) {
        snprintf(
            y, sizeof y,
            "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", region: \"%s\"}\n",
            aws_ok[i]);
        wr_sc_config *c = parse_ok(y);
        assert_string_equal(c->up[0].region, aws_ok[i]);
        wr_sc_config_free(c);
    }
    for (size_t i = 0; i < sizeof aws_bad / sizeof aws_bad[0]; i++) {
        snprintf(
            y, sizeof y,
            "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", region: \"%s\"}\n",
            aws_bad[i]);
        parse_fails_at(y, WEIR_EINVAL, strstr(y, "region: ") + 8,
                       "AWS regions are written like eu-central-1");
    }
    for (size_t i = 0; i < sizeof az_ok / sizeof az_ok[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: azure, listen: \"127.0.0.1:0\", region: \"%s\", "
                 "endpoint: \"https://x.openai.azure.com\", deployment_type: standard}\n",
                 az_ok[i]);
        wr_sc_config *c = parse_ok(y);
        assert_string_equal(c->up[0].region, az_ok[i]);
        wr_sc_config_free(c);
    }
    for (size_t i = 0; i < sizeof az_bad / sizeof az_bad[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: azure, listen: \"127.0.0.1:0\", region: \"%s\", "
                 "endpoint: \"https://x.openai.azure.com\", deployment_type: standard}\n",
                 az_bad[i]);
        parse_fails_at(y, WEIR_EINVAL, strstr(y, "region: ") + 8,
                       "Azure regions are lower-case letters and digits");
    }
}

static void test_principals(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "arn:aws:iam::111122223333:role/llm-app",
        "arn:aws:iam::111122223333:role/service-role/path/llm+app=1,x.y@z_w-v",
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:sts::111122223333:assumed-role/llm-app/pod-1",
        "arn:aws-cn:iam::111122223333:role/x",
        "arn:aws-iso-b:iam::111122223333:role/x",
    };
    static const char *const bad[] = {
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role//x",
        "arn:aws:iam::111122223333:role/x/",
        "arn:aws:sts::111122223333:assumed-role/llm-app",
        "arn:aws:sts::111122223333:assumed-role/llm-app/a/b",
        "arn:aws:sts::111122223333:role/x",
        "arn:aws:iam:eu-central-1:111122223333:role/x",
        "arn:gcp:iam::111122223333:role/x",
        "arn:aws-:iam::111122223333:role/x",
        "arn:aws:iam::11112222333a:role/x",
        "arn:aws:iam::111122223333:role/x y",
    };
    char y[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", region: "
                 "us-east-1, principal: \"%s\"}\n",
                 ok[i]);
        wr_sc_config *c = parse_ok(y);
        assert_string_equal(c->up[0].principal, ok[i]);
        wr_sc_config_free(c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", region: "
                 "us-east-1, principal: \"%s\"}\n",
                 bad[i]);
        parse_fails_at(y, WEIR_EINVAL, strstr(y, "principal: ") + 11, "invalid principal");
    }
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t bytes;
    } ok[] = {{"1", 1},         {"1048576", 1048576}, {"8MiB", 8u << 20}, {"\"8 MiB\"", 8u << 20},
              {"64KiB", 65536}, {"1GiB", 1u << 30},   {"'2048'", 2048}};
    static const char *const bad[] = {"0",   "1GiB1",   "1.5MiB", "8mib", "8 MB", "-1",
                                      "8KB", "1025MiB", "\"\"",   "[1]",  "MiB",  "8  MiB"};
    char y[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(y, sizeof y, "limits:\n  max_body_bytes: %s\n" UP_MIN, ok[i].in);
        wr_sc_config *c = parse_ok(y);
        assert_int_equal(c->http.max_body_bytes, ok[i].bytes);
        wr_sc_config_free(c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(y, sizeof y, "limits:\n  max_body_bytes: %s\n" UP_MIN, bad[i]);
        parse_fails(y, WEIR_EINVAL, 2, 19, "'max_body_bytes' must be");
    }
    /* counts and milliseconds take no suffix */
    parse_fails("limits:\n  max_headers: 1KiB\n" UP_MIN, WEIR_EINVAL, 2, 16,
                "'max_headers' must be a whole number from 1 to 10000");
}

static void test_deployment_types(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {{"standard", "standard"},
                 {"DataZone", "datazone"},
                 {"global", "global"},
                 {"provisioned", "provisioned"},
                 {"datazone_provisioned", "datazone_provisioned"},
                 {"global-provisioned", "global_provisioned"},
                 /* Azure's ARM SKU names */
                 {"Standard", "standard"},
                 {"GlobalStandard", "global"},
                 {"DataZoneStandard", "datazone"},
                 {"ProvisionedManaged", "provisioned"},
                 {"globalprovisionedmanaged", "global_provisioned"},
                 {"DataZoneProvisionedManaged", "datazone_provisioned"}};
    char y[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(y, sizeof y,
                 "upstreams:\n  - {name: gw, kind: azure, listen: \"127.0.0.1:0\", region: "
                 "eastus2, endpoint: \"https://x.openai.azure.com\", deployment_type: %s}\n",
                 cases[i].in);
        wr_sc_config *c = parse_ok(y);
        assert_string_equal(c->up[0].deployment_type, cases[i].out);
        wr_sc_config_free(c);
    }
    const char *dev =
        "upstreams:\n  - {name: gw, kind: azure, listen: \"127.0.0.1:0\", region: "
        "eastus2, endpoint: \"https://x.openai.azure.com\", deployment_type: developer}\n";
    parse_fails_at(dev, WEIR_EINVAL, strstr(dev, "developer"),
                   "'deployment_type' must be one of standard, datazone");
}

static void test_deployment_model(void **state)
{
    (void)state;
    wr_sc_config *c = parse_ok("upstreams:\n"
                               "  - name: az\n"
                               "    kind: azure\n"
                               "    listen: 127.0.0.1:0\n"
                               "    region: swedencentral\n"
                               "    endpoint: https://contoso.openai.azure.com\n"
                               "    deployment_type: datazone\n"
                               "    api_key_env: AZURE_OPENAI_API_KEY\n"
                               "    principal: arn:aws:iam::111122223333:role/llm-app\n"
                               "    deployments:\n"
                               "      prod-chat: gpt-4o\n"
                               "      cheap: gpt-4o-mini\n");
    const wr_sc_upstream *u = &c->up[0];
    assert_string_equal(u->api_key_env, "AZURE_OPENAI_API_KEY");
    assert_string_equal(u->principal, "arn:aws:iam::111122223333:role/llm-app");
    assert_string_equal(wr_sc_deployment_model(u, "prod-chat"), "gpt-4o");
    assert_string_equal(wr_sc_deployment_model(u, "cheap"), "gpt-4o-mini");
    /* Azure treats deployment names without regard to case: so does the map */
    assert_string_equal(wr_sc_deployment_model(u, "PROD-CHAT"), "gpt-4o");
    assert_null(wr_sc_deployment_model(u, "prod-chat2"));
    assert_null(wr_sc_deployment_model(u, "prod"));
    assert_null(wr_sc_deployment_model(u, ""));
    assert_null(wr_sc_deployment_model(u, NULL));
    assert_null(wr_sc_deployment_model(NULL, "prod-chat"));
    assert_string_equal(wr_up_kind_name(u->kind), "azure");
    assert_string_equal(wr_up_kind_name(WR_KIND_BEDROCK), "bedrock");
    assert_string_equal(wr_up_kind_name(WR_KIND_BEDROCK_MANTLE), "bedrock-mantle");
    wr_sc_config_free(c);
}

static void test_misc_values(void **state)
{
    (void)state;
    /* booleans are exactly true/false */
    parse_fails("audit:\n  fail_open: True\n" UP_MIN, WEIR_EINVAL, 2, 14, "not 'True'");
    parse_fails("audit:\n  fail_open: 1\n" UP_MIN, WEIR_EINVAL, 2, 14, "not '1'");
    parse_fails("audit:\n  fail_open:\n" UP_MIN, WEIR_EINVAL, 2, 13, "got no value");
    /* enums ignore case; account keeps leading zeros when quoted */
    wr_sc_config *c =
        parse_ok("log_level: ERROR\naudit: {durability: Sync, account: '000000000001'}\n" UP_MIN);
    assert_int_equal(c->log_level, 3);
    assert_int_equal(c->audit.durability, WEIR_AUDIT_SYNC);
    assert_string_equal(c->audit.account, "000000000001");
    wr_sc_config_free(c);
    /* range ends */
    c = parse_ok("workers: 64\nlimits: {drain_timeout_ms: 3600000, max_streams: 1}\n" UP_MIN);
    assert_int_equal(c->workers, 64);
    assert_int_equal(c->drain_timeout_ms, 3600000);
    assert_int_equal(c->http.max_streams, 1);
    wr_sc_config_free(c);
    parse_fails("workers: 65\n" UP_MIN, WEIR_EINVAL, 1, 10, "from 1 to 64");
    parse_fails("workers: \"4\"\n" UP_MIN, WEIR_EINVAL, 1, 10, "whole number");
    parse_fails("audit:\n  batch_ms: 0\n" UP_MIN, WEIR_EINVAL, 2, 13, "'batch_ms' must be");
    parse_fails("audit:\n  digest_seconds: 86401\n" UP_MIN, WEIR_EINVAL, 2, 19, "from 1 to 86400");
    /* strings: no lists, no control characters */
    parse_fails("policy: [a.yaml]\n" UP_MIN, WEIR_EINVAL, 1, 9,
                "expected a string for 'policy', got a list");
    parse_fails("policy: \"a\\tb.yaml\"\n" UP_MIN, WEIR_EINVAL, 1, 9, "control character");
    /* a key on the wrong kind is named even when kind comes last */
    parse_fails("upstreams:\n  - name: gw\n    api_key_file: /k\n    listen: 127.0.0.1:0\n"
                "    region: us-east-1\n    kind: bedrock\n",
                WEIR_EINVAL, 3, 5, "'api_key_file' applies only to azure upstreams");
    /* credentials: any single one is fine */
    c = parse_ok("upstreams:\n  - {name: gw, kind: azure, listen: \"127.0.0.1:0\", region: eastus, "
                 "endpoint: \"https://x.openai.azure.com\", deployment_type: standard, "
                 "bearer_token_env: ENTRA_TOKEN, ca_file: /etc/ca.pem}\n");
    assert_string_equal(c->up[0].bearer_token_env, "ENTRA_TOKEN");
    assert_string_equal(c->up[0].ca_file, "/etc/ca.pem");
    wr_sc_config_free(c);
    const char *two =
        "upstreams:\n  - {name: gw, kind: azure, listen: \"127.0.0.1:0\", region: eastus, "
        "endpoint: \"https://x.openai.azure.com\", deployment_type: standard, "
        "api_key_file: /k, api_key_env: K}\n";
    parse_fails_at(two, WEIR_EINVAL, strstr(two, "api_key_env"),
                   "sets both 'api_key_file' and 'api_key_env'");
    /* upstream names: [a-z0-9_-]{1,64} */
    char y[512];
    snprintf(
        y, sizeof y,
        "upstreams:\n  - {name: %s, kind: bedrock, listen: \"127.0.0.1:0\", region: us-east-1}\n",
        "a123456789012345678901234567890123456789012345678901234567890123");
    c = parse_ok(y);
    wr_sc_config_free(c);
    snprintf(
        y, sizeof y,
        "upstreams:\n  - {name: %s, kind: bedrock, listen: \"127.0.0.1:0\", region: us-east-1}\n",
        "a1234567890123456789012345678901234567890123456789012345678901234");
    parse_fails_at(y, WEIR_EINVAL, strstr(y, "a123"), "invalid name");
}

/* audit.sinks: plugin name or path, config block as JSON; roll and flush timings */
static void test_audit_sinks(void **state)
{
    (void)state;
    wr_sc_config *c = parse_ok("audit:\n  dir: /var/lib/weir\n  roll_seconds: 60\n"
                               "  sink_flush_timeout_ms: 2500\n  sinks:\n"
                               "    - plugin: s3-export\n      config:\n        bucket: b\n"
                               "        path_style: true\n        backoff_initial_ms: 100\n"
                               "        prefix: \"007/\"\n"
                               "    - plugin: /opt/weir/weir-other.so\n" UP_MIN);
    assert_int_equal(c->audit.roll_seconds, 60);
    assert_int_equal(c->audit.sink_flush_timeout_ms, 2500);
    assert_int_equal(c->audit.nsinks, 2);
    assert_string_equal(c->audit.sinks[0].plugin, "s3-export");
    assert_string_equal(c->audit.sinks[0].config_json,
                        "{\"bucket\":\"b\",\"path_style\":true,\"backoff_initial_ms\":100,"
                        "\"prefix\":\"007/\"}");
    assert_int_equal(c->audit.sinks[0].line, 6);
    assert_string_equal(c->audit.sinks[1].plugin, "/opt/weir/weir-other.so");
    assert_string_equal(c->audit.sinks[1].config_json, "{}");
    wr_sc_config_free(c);
    c = parse_ok(UP_MIN);
    assert_int_equal(c->audit.roll_seconds, 300);
    assert_int_equal(c->audit.sink_flush_timeout_ms, 10000);
    assert_int_equal(c->audit.nsinks, 0);
    wr_sc_config_free(c);
    parse_fails("audit:\n  sinks: {plugin: x}\n" UP_MIN, WEIR_EINVAL, 2, 10,
                "'sinks' takes a list of { plugin, config } mappings");
    parse_fails("audit:\n  sinks:\n    - config: {}\n" UP_MIN, WEIR_EINVAL, 3, 7,
                "an audit sink needs 'plugin'");
    parse_fails("audit:\n  sinks:\n    - plugin: x\n      conf: {}\n" UP_MIN, WEIR_EINVAL, 4, 7,
                "conf");
    parse_fails("audit:\n  sinks:\n    - plugin: x\n      config: [1]\n" UP_MIN, WEIR_EINVAL, 4,
                15, "'config' takes a mapping");
    parse_fails("audit:\n  roll_seconds: 0\n" UP_MIN, WEIR_EINVAL, 2, 17, "from 1 to 86400");
}

/* ------------------------------------------------------------------ environment */

static void test_env_overrides(void **state)
{
    (void)state;
    setenv("WEIR_POLICY", "/etc/weir/override.yaml", 1);
    setenv("WEIR_ADMIN", "127.0.0.1:9999", 1);
    setenv("WEIR_WORKERS", "7", 1);
    setenv("WEIR_LOG_LEVEL", "Debug", 1);
    setenv("WEIR_AUDIT_DIR", "/tmp/weir-audit", 1);
    wr_sc_config *c = load_ok(DATA "full.yaml");
    assert_string_equal(c->policy, "/etc/weir/override.yaml");
    assert_string_equal(c->admin, "127.0.0.1:9999");
    assert_int_equal(c->workers, 7);
    assert_int_equal(c->log_level, 0);
    assert_string_equal(c->audit.dir, "/tmp/weir-audit");
    assert_int_equal(c->audit.durability, WEIR_AUDIT_BATCH); /* the rest is the file's */
    wr_sc_config_free(c);

    /* parsing a buffer never looks at the environment */
    c = parse_ok("workers: 3\n" UP_MIN);
    assert_int_equal(c->workers, 3);
    assert_null(c->policy);
    assert_null(c->admin);
    assert_null(c->audit.dir);
    assert_string_equal(c->path, "");
    wr_sc_config_free(c);

    /* an empty variable counts as unset */
    clear_env();
    setenv("WEIR_WORKERS", "", 1);
    setenv("WEIR_POLICY", "", 1);
    c = load_ok(DATA "full.yaml");
    assert_int_equal(c->workers, 4);
    assert_string_equal(c->policy, "/etc/weir/policy.yaml");
    wr_sc_config_free(c);
    clear_env();
}

static void test_env_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *var, *val, *text;
    } cases[] = {
        {"WEIR_WORKERS", "0", "WEIR_WORKERS='0': workers must be a whole number from 1 to 64"},
        {"WEIR_WORKERS", "65", "WEIR_WORKERS='65'"},
        {"WEIR_WORKERS", "4x", "WEIR_WORKERS='4x'"},
        {"WEIR_WORKERS", "-1", "WEIR_WORKERS='-1'"},
        {"WEIR_LOG_LEVEL", "loud", "WEIR_LOG_LEVEL='loud': log_level must be one of"},
        {"WEIR_ADMIN", "9090", "WEIR_ADMIN='9090': no port"},
        {"WEIR_ADMIN", "[::1]:70000", "WEIR_ADMIN='[::1]:70000': port 70000 is out of range"},
        /* minimal.yaml listens on 127.0.0.1:8080 */
        {"WEIR_ADMIN", "0.0.0.0:8080",
         "WEIR_ADMIN='0.0.0.0:8080': clashes with listen '127.0.0.1:8080' of upstream 'bedrock'"},
        {"WEIR_POLICY", "a\nb", "WEIR_POLICY="},
        {"WEIR_AUDIT_DIR", "a\tb", "WEIR_AUDIT_DIR="},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env();
        setenv(cases[i].var, cases[i].val, 1);
        wr_sc_config *c = (wr_sc_config *)1;
        weir_error err = {0};
        int rc = wr_sc_config_load(DATA "minimal.yaml", &c, &err);
        if (rc != WEIR_EINVAL || !strstr(err.text, cases[i].text))
            print_error("%s=%s: got %d: %s\n", cases[i].var, cases[i].val, rc, err.text);
        assert_int_equal(rc, WEIR_EINVAL);
        assert_null(c);
        assert_non_null(strstr(err.text, cases[i].text));
        assert_string_equal(err.source, "environment");
    }
    clear_env();
}

static void test_default_config(void **state)
{
    (void)state;
    wr_sc_config *c = NULL;
    weir_error err = {0};
    assert_int_equal(wr_sc_config_default(&c, &err), 0);
    assert_string_equal(c->path, "");
    assert_null(c->policy);
    assert_string_equal(c->admin, "127.0.0.1:9090");
    assert_int_equal(c->workers, expected_default_workers());
    assert_int_equal(c->log_level, 1);
    assert_int_equal(c->drain_timeout_ms, 30000);
    assert_string_equal(c->audit.account, "000000000000");
    assert_int_equal(c->nup, 1);
    assert_string_equal(c->up[0].name, "bedrock");
    assert_int_equal(c->up[0].kind, WR_KIND_BEDROCK);
    assert_string_equal(c->up[0].listen, "127.0.0.1:8080");
    assert_string_equal(c->up[0].region, "us-east-1");
    assert_string_equal(c->up[0].endpoint, "https://bedrock-runtime.us-east-1.amazonaws.com");
    wr_sc_config_free(c);

    setenv("AWS_REGION", "eu-west-3", 1);
    setenv("WEIR_WORKERS", "3", 1);
    setenv("WEIR_POLICY", "p.yaml", 1);
    c = NULL;
    assert_int_equal(wr_sc_config_default(&c, &err), 0);
    assert_string_equal(c->up[0].region, "eu-west-3");
    assert_string_equal(c->up[0].endpoint, "https://bedrock-runtime.eu-west-3.amazonaws.com");
    assert_int_equal(c->workers, 3);
    assert_string_equal(c->policy, "p.yaml");
    wr_sc_config_free(c);

    setenv("AWS_REGION", "mars-1", 1);
    c = (wr_sc_config *)1;
    assert_int_equal(wr_sc_config_default(&c, &err), WEIR_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err.text, "AWS_REGION='mars-1'"));

    clear_env();
    setenv("WEIR_ADMIN", "127.0.0.1:8080", 1); /* the default upstream's port */
    c = (wr_sc_config *)1;
    assert_int_equal(wr_sc_config_default(&c, &err), WEIR_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err.text, "WEIR_ADMIN"));
    clear_env();
    assert_int_equal(wr_sc_config_default(NULL, &err), WEIR_EINVAL);
}

/* ------------------------------------------------------------------ files and limits */

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_file_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/weir-config-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    wr_sc_config *c = (wr_sc_config *)1;
    weir_error err = {0};

    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    assert_int_equal(wr_sc_config_load(path, &c, &err), WEIR_ENOTFOUND);
    assert_null(c);
    assert_string_equal(err.source, path);
    assert_non_null(strstr(err.text, "cannot open the configuration"));

    assert_int_equal(wr_sc_config_load(dir, &c, &err), WEIR_EIO);
    assert_non_null(strstr(err.text, "not a regular file"));

    /* a FIFO must be refused, not waited on */
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(wr_sc_config_load(path, &c, &err), WEIR_EIO);
    unlink(path);

    /* exactly 1 MiB loads; one byte more is refused (both from a file and from memory) */
    size_t cap = 1024 * 1024;
    char *big = malloc(cap + 2);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "%s", UP_MIN);
    memset(big + n, '#', cap - n);
    for (size_t i = n + 80; i < cap; i += 81)
        big[i] = '\n';
    big[n] = '#';
    big[cap - 1] = '\n';
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    write_file(path, big, cap);
    c = load_ok(path);
    wr_sc_config_free(c);
    big[cap] = '\n';
    write_file(path, big, cap + 1);
    c = (wr_sc_config *)1;
    assert_int_equal(wr_sc_config_load(path, &c, &err), WEIR_ELIMIT);
    assert_null(c);
    assert_non_null(strstr(err.text, "larger than 1048576 bytes"));
    assert_int_equal(wr_sc_config_parse(big, cap + 1, "mem", &c, &err), WEIR_ELIMIT);
    assert_non_null(strstr(err.text, "the limit is 1048576"));
    unlink(path);
    free(big);
    rmdir(dir);

    /* argument errors */
    assert_int_equal(wr_sc_config_parse("x", 1, "t", NULL, &err), WEIR_EINVAL);
    assert_int_equal(wr_sc_config_parse(NULL, 3, "t", &c, &err), WEIR_EINVAL);
    assert_int_equal(wr_sc_config_parse(NULL, 0, NULL, &c, &err), WEIR_EINVAL);
    assert_string_equal(err.source, "<buffer>");
    assert_non_null(strstr(err.text, "the configuration is empty"));
    assert_int_equal(wr_sc_config_load(NULL, &c, &err), WEIR_EINVAL);
    assert_int_equal(wr_sc_config_load(DATA "minimal.yaml", NULL, &err), WEIR_EINVAL);
    wr_sc_config_free(NULL);
}

static void test_size_limits(void **state)
{
    (void)state;
    wr_buf b;
    /* more deployments than allowed */
    wr_buf_init(&b);
    wr_buf_puts(&b, "upstreams:\n  - name: az\n    kind: azure\n    listen: 127.0.0.1:0\n"
                    "    region: eastus\n    endpoint: https://x.openai.azure.com\n"
                    "    deployment_type: standard\n    deployments:\n");
    for (int i = 0; i < 1025; i++)
        wr_buf_printf(&b, "      d%d: m\n", i);
    assert_false(b.oom);
    parse_fails(b.data, WEIR_EINVAL, 9, 7, "more than 1024 deployments");
    wr_buf_free(&b);

    /* more upstreams than allowed */
    wr_buf_init(&b);
    wr_buf_puts(&b, "upstreams:\n");
    for (int i = 0; i < 257; i++)
        wr_buf_printf(
            &b, "  - {name: u%d, kind: bedrock, listen: \"127.0.0.1:0\", region: us-east-1}\n", i);
    parse_fails(b.data, WEIR_EINVAL, 2, 3, "more than 256 upstreams");
    wr_buf_free(&b);

    /* too many YAML values overall (bounded memory on hostile input) */
    wr_buf_init(&b);
    wr_buf_puts(&b, "policy: [");
    for (int i = 0; i < 60000; i++)
        wr_buf_puts(&b, "1,");
    wr_buf_puts(&b, "1]\n");
    wr_sc_config *c = (wr_sc_config *)1;
    weir_error err = {0};
    assert_int_equal(wr_sc_config_parse(b.data, b.len, "t.yaml", &c, &err), WEIR_ELIMIT);
    assert_null(c);
    assert_non_null(strstr(err.text, "more than 50000 YAML values"));
    wr_buf_free(&b);

    /* 16 levels are fine, 17 are not */
    wr_buf_init(&b);
    wr_buf_puts(
        &b,
        "upstreams:\n  - {name: gw, kind: bedrock, listen: \"127.0.0.1:0\", region: us-east-1}\n"
        "policy: ");
    for (int i = 0; i < 15; i++)
        wr_buf_puts(&b, "[");
    for (int i = 0; i < 15; i++)
        wr_buf_puts(&b, "]");
    wr_buf_puts(&b, "\n");
    parse_fails(b.data, WEIR_EINVAL, 3, 9, "expected a string for 'policy', got a list");
    wr_buf_free(&b);
    wr_buf_init(&b);
    wr_buf_puts(&b, "policy: ");
    for (int i = 0; i < 16; i++)
        wr_buf_puts(&b, "[");
    parse_fails(b.data, WEIR_ELIMIT, 1, 24, "nests deeper than 16 levels");
    wr_buf_free(&b);
}

/* Every prefix of a valid file either loads or fails cleanly with a position. */
static void test_truncations(void **state)
{
    (void)state;
    FILE *f = fopen(DATA "full.yaml", "rb");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 100 && n < sizeof buf);
    size_t ok = 0;
    for (size_t len = 0; len <= n; len++) {
        wr_sc_config *c = (wr_sc_config *)1;
        weir_error err = {0};
        int rc = wr_sc_config_parse(buf, len, "t.yaml", &c, &err);
        if (rc == 0) {
            assert_non_null(c);
            assert_true(c->nup >= 1);
            ok++;
            wr_sc_config_free(c);
        } else {
            assert_true(rc < 0);
            assert_null(c);
            assert_int_equal(err.code, rc);
            assert_true(err.text[0] != '\0');
        }
    }
    assert_true(ok > 0);
}

/* Every YAML block in docs/config.md loads (a fragment without upstreams gets one). */
static void test_docs_examples(void **state)
{
    (void)state;
    FILE *f = fopen("docs/config.md", "rb");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    size_t blocks = 0;
    for (char *p = strstr(doc, "```yaml\n"); p; p = strstr(p, "```yaml\n")) {
        p += 8;
        char *end = strstr(p, "```");
        assert_non_null(end);
        wr_buf b;
        wr_buf_init(&b);
        wr_buf_append(&b, p, (size_t)(end - p));
        if (!strstr(b.data, "upstreams:"))
            wr_buf_puts(&b, "upstreams:\n  - {name: zz, kind: bedrock, listen: \"127.0.0.1:0\", "
                            "region: us-east-1}\n");
        wr_sc_config *c = parse_ok(b.data);
        wr_sc_config_free(c);
        wr_buf_free(&b);
        blocks++;
        p = end + 3;
    }
    assert_true(blocks >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full_every_key),
        cmocka_unit_test(test_azure_file),
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_every_invalid_file_listed),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_listener_clashes),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_regions),
        cmocka_unit_test(test_principals),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_deployment_types),
        cmocka_unit_test(test_deployment_model),
        cmocka_unit_test(test_misc_values),
        cmocka_unit_test(test_audit_sinks),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_env_invalid),
        cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_docs_examples),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
