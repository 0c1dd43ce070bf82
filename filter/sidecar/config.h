/*
 * config.h - `weir serve --config FILE`: the sidecar's YAML configuration (docs/config.md
 * documents every key). Loaded with libyaml's event API like policies: unknown keys (with a
 * suggestion), wrong types, bad enums, aliases/anchors, duplicate keys, files over 1 MiB or
 * nested deeper than 16 are refused with FILE:LINE:COL and an actionable message.
 *
 * Environment overrides (applied after the file, documented): WEIR_POLICY (policy),
 * WEIR_ADMIN (admin), WEIR_WORKERS (workers), WEIR_LOG_LEVEL (log_level),
 * WEIR_AUDIT_DIR (audit.dir).
 */
#ifndef WEIR_SIDECAR_CONFIG_H
#define WEIR_SIDECAR_CONFIG_H

#include <stddef.h>

#include "internal.h"
#include "sidecar/http.h"

typedef enum wr_up_kind {
    WR_KIND_BEDROCK = 0,        /**< bedrock-runtime: InvokeModel*, Converse*, ApplyGuardrail, /openai/v1/chat/completions */
    WR_KIND_BEDROCK_MANTLE = 1, /**< bedrock-mantle: /v1/chat/completions, /v1/responses (signing name bedrock-mantle) */
    WR_KIND_AZURE = 2           /**< Azure OpenAI: deployments path and v1 path */
} wr_up_kind;

/** "bedrock", "bedrock-mantle", "azure". */
const char *wr_up_kind_name(wr_up_kind k);

typedef struct wr_sc_deployment {
    char *name;  /**< Azure deployment name (path segment, or `model` on the v1 path) */
    char *model; /**< the model it serves, e.g. "gpt-4o" (policies match on this) */
} wr_sc_deployment;

/** Where a listener learns who the caller is (docs/identity.md). */
typedef enum wr_id_source {
    WR_ID_STATIC = 0,   /**< the listener's `principal` (or none): a per-pod sidecar */
    WR_ID_WORKLOAD = 1, /**< the sidecar's own role, from sts:GetCallerIdentity at start */
    WR_ID_HEADER = 2,   /**< a header set by a trusted front proxy (trusted peers only) */
    WR_ID_JWT = 3,      /**< a bearer JWT verified against a JWKS, claims mapped to an ARN */
    WR_ID_STS = 4       /**< a presigned sts:GetCallerIdentity token, verified by STS */
} wr_id_source;

/** "static", "workload", "header", "jwt", "sts". */
const char *wr_id_source_name(wr_id_source s);

/** An address block: family AF_INET / AF_INET6, the address in network order, prefix bits. */
typedef struct wr_sc_cidr {
    int family;
    unsigned char addr[16];
    unsigned bits;
} wr_sc_cidr;

/** 1 when ip ("10.1.2.3", "::1") is inside one of the blocks. */
int wr_sc_cidr_match(const wr_sc_cidr *list, size_t n, const char *ip);

typedef struct wr_sc_identity {
    wr_id_source source;
    char *header;            /**< header: the principal header (default x-weir-principal) */
    wr_sc_cidr *trusted;     /**< header: peers allowed to set it (required) */
    size_t ntrusted;
    char *token_header;      /**< jwt, sts: header holding the token; NULL: Authorization
                                  (Bearer), then api-key, then x-weir-identity-token */
    char *jwks_file;         /**< jwt: exactly one of jwks_file / jwks_url */
    char *jwks_url;
    unsigned jwks_refresh_seconds; /**< jwt: default 3600 */
    char *issuer;            /**< jwt: required, exact match of `iss` */
    char **audiences;        /**< jwt: required, `aud` must hold one */
    size_t naudiences;
    unsigned leeway_seconds; /**< jwt: clock skew for exp/nbf/iat, default 60, max 300 */
    char *claim;             /**< jwt: claim mapped to the principal, default "sub" */
    wr_sc_deployment *principals; /**< jwt: claim value -> principal ARN (name -> model fields) */
    size_t nprincipals;
    char *principal_template;/**< jwt: e.g. arn:aws:iam::111122223333:role/{value} */
    char *sts_endpoint;      /**< sts: override of https://sts.REGION.amazonaws.com (tests) */
    char *cluster_id;        /**< sts: x-k8s-aws-id the token must sign (aws-iam-authenticator) */
    unsigned token_max_age_seconds; /**< sts: 0 = honour X-Amz-Expires; else accept a token
                                         until X-Amz-Date + this (<= 900), as
                                         aws-iam-authenticator's server does */
} wr_sc_identity;

typedef struct wr_sc_upstream {
    char *name;            /**< unique, [a-z0-9_-]{1,64}; metrics label */
    wr_up_kind kind;
    char *listen;          /**< "host:port" */
    char *region;          /**< required: AWS region, or the Azure resource's region */
    char *endpoint;        /**< scheme://host[:port] without path; bedrock default:
                                https://bedrock-runtime.REGION.amazonaws.com, mantle default:
                                https://bedrock-mantle.REGION.api.aws; azure: required */
    char *deployment_type; /**< azure: standard, datazone, global, provisioned, ... (required for azure) */
    wr_sc_deployment *deployments; /**< azure: deployment -> model map (optional) */
    size_t ndeployments;
    char *api_key_env;     /**< azure: env var holding the api-key */
    char *api_key_file;    /**< azure: file holding the api-key (trailing newline trimmed) */
    char *bearer_token_env;/**< azure: env var holding an Entra bearer token (instead of a key) */
    char *aws_profile;     /**< bedrock: shared-credentials profile (else the default chain) */
    char *principal;       /**< static caller principal ARN for this listener (per-pod sidecar) */
    char *ca_file;         /**< CA bundle for the upstream's TLS (NULL: system store) */
    char *policy;          /**< policy file for this upstream only (NULL: the top-level one) */
    wr_sc_identity identity; /**< `identity:`; default static (the `principal` key) */
} wr_sc_upstream;

/** An audit sink plugin (`audit.sinks[]`). */
typedef struct wr_sc_sink {
    char *plugin;          /**< bare name ("s3-export") or path to the .so */
    char *config_json;     /**< the `config:` mapping as JSON ("{}" when none) */
    int line;              /**< where it is in the configuration, for messages */
} wr_sc_sink;

typedef struct wr_sc_audit {
    char *dir;             /**< NULL: no audit trail (logged as a warning at start) */
    int durability;        /**< weir_audit_durability: WEIR_AUDIT_SYNC (default) or BATCH */
    unsigned batch_ms;     /**< default 50 */
    char *account;         /**< 12 digits, default "000000000000" */
    char *trail;           /**< default "weir" */
    char *signing_key_file;/**< PEM RSA key for digests (NULL: a key generated in dir) */
    char *hash_key_file;   /**< HMAC key for matched-value hashes (NULL: generated in dir) */
    unsigned digest_seconds; /**< default 3600 */
    int fail_open;         /**< 0 (default): refuse traffic when the trail cannot be written */
    int jsonl_stdout;      /**< 1: also write each record as a JSON line on stdout */
    unsigned roll_seconds; /**< a log file covers at most this long; default 300 */
    wr_sc_sink *sinks;     /**< audit sink plugins, in order */
    size_t nsinks;
    unsigned sink_flush_timeout_ms; /**< at shutdown, wait this long for sinks; default 10,000 */
} wr_sc_audit;

typedef struct wr_sc_config {
    char *path;            /**< the file it came from ("" when parsed from memory) */
    char *policy;          /**< policy file; NULL: the embedded default policy */
    char *admin;           /**< "host:port" of /healthz /readyz /metrics; NULL: none */
    unsigned workers;      /**< event-loop threads; default min(2, cores) */
    int log_level;         /**< 0 debug, 1 info (default), 2 warn, 3 error */
    wr_sc_audit audit;
    wr_http_limits http;   /**< limits: keys of `limits:` (zero = server default) */
    unsigned upstream_connect_timeout_ms;    /**< default 5,000 */
    unsigned upstream_first_byte_timeout_ms; /**< default 60,000 */
    unsigned upstream_idle_timeout_ms;       /**< default 300,000 */
    size_t max_hold_bytes;                   /**< per streamed block; 0: library default */
    unsigned drain_timeout_ms;               /**< SIGTERM: wait this long for in-flight; default 30,000 */
    wr_sc_upstream *up;
    size_t nup;
} wr_sc_config;

/**
 * Parses yaml[0..len) (`name` is used in messages), applies defaults and validates
 * (listeners unique, names unique, region known, endpoint a valid http(s) URL, azure has
 * endpoint + deployment_type + at most one of api_key_env / api_key_file / bearer_token_env).
 * Does not apply environment overrides.
 */
int wr_sc_config_parse(const char *yaml, size_t len, const char *name, wr_sc_config **out,
                       weir_error *err);

/** Reads and parses `path`, then applies the WEIR_* environment overrides. */
int wr_sc_config_load(const char *path, wr_sc_config **out, weir_error *err);

/**
 * The configuration `weir serve` uses without --config: one bedrock upstream listening on
 * 127.0.0.1:8080 for region $AWS_REGION (else us-east-1), admin on 127.0.0.1:9090, the
 * embedded default policy; then the environment overrides.
 */
int wr_sc_config_default(wr_sc_config **out, weir_error *err);

void wr_sc_config_free(wr_sc_config *c);

/** The model an Azure deployment maps to, or NULL when the map does not name it. */
const char *wr_sc_deployment_model(const wr_sc_upstream *u, const char *deployment);

#endif
