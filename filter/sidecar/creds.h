/*
 * creds.h - AWS credentials for re-signing upstream Bedrock requests, found the way the AWS
 * SDKs find them (first that applies wins):
 *
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   2. web identity (IRSA): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      (+ AWS_ROLE_SESSION_NAME) -> sts:AssumeRoleWithWebIdentity;
 *   3. shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
 *      AWS_PROFILE or "default" (static keys);
 *   4. container endpoint (EKS Pod Identity / ECS): AWS_CONTAINER_CREDENTIALS_FULL_URI or
 *      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (host 169.254.170.2), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *
 * Temporary credentials (2, 4) are refreshed by a background thread well before they
 * expire (at 80% of their life, and at least 5 minutes before Expiration); a failed refresh
 * is retried with backoff while the old credentials stay valid. wr_creds_get never blocks
 * on the network.
 *
 * Threading: wr_creds_get and wr_creds_stats may be called from any thread.
 */
#ifndef WEIR_SIDECAR_CREDS_H
#define WEIR_SIDECAR_CREDS_H

#include <time.h>

#include "internal.h"

typedef struct wr_creds wr_creds;

/** Where to look. Every field optional; NULL means the environment variable / default. */
typedef struct wr_creds_options {
    const char *profile;       /**< shared-file profile; NULL: $AWS_PROFILE or "default" */
    const char *region;        /**< STS region; NULL: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1 */
    const char *sts_endpoint;  /**< override, e.g. "http://127.0.0.1:9000" (tests); NULL: regional STS */
    /** Lookup used instead of getenv (tests). NULL: getenv. */
    const char *(*getenv_fn)(const char *name);
} wr_creds_options;

/**
 * Resolves the first source that applies and fetches credentials once, synchronously
 * (bounded: 5 s per network call). WEIR_ENOTFOUND when no source applies; WEIR_EIO with
 * the source and reason when the source applies but fails (the message never holds a
 * secret). On success a refresh thread runs for temporary credentials.
 */
int wr_creds_new(wr_creds **out, const wr_creds_options *opt, weir_error *err);

/** Stops the refresh thread and wipes the secrets. NULL is fine. */
void wr_creds_free(wr_creds *c);

/** A copy of the current credentials. Wipe with wr_creds_value_clear. */
typedef struct wr_creds_value {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096];  /**< "" for long-term keys */
    time_t expiration;         /**< 0: does not expire */
} wr_creds_value;

/**
 * Copies the current credentials. 0; or WEIR_EIO when they have expired and no refresh has
 * succeeded (message says since when and the last refresh error).
 */
int wr_creds_get(wr_creds *c, wr_creds_value *out, weir_error *err);
void wr_creds_value_clear(wr_creds_value *v);

/** "environment", "web-identity", "profile:NAME", "container". Static for the handle's life. */
const char *wr_creds_source(const wr_creds *c);

/** Counters for /metrics: refreshes that succeeded and failed. */
void wr_creds_stats(const wr_creds *c, unsigned long *refresh_ok, unsigned long *refresh_failed);

/*
 * The rules the refresh thread follows, exposed for tests and for operators' tools.
 */

/**
 * Parses an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SSZ" (optional fractional seconds, which
 * are dropped) into *out. 0, or WEIR_EINVAL (nothing else is accepted: no offsets).
 */
int wr_creds_parse_time(const char *s, time_t *out);

/**
 * When credentials fetched at `fetched` and expiring at `expiration` are refreshed: at 80%
 * of their life, and no later than 5 minutes before expiration. Credentials that arrive
 * with 5 minutes or less to live are refreshed after a quarter of that life (1 to 30 s), so
 * a source that only hands out short-lived credentials is not polled in a tight loop.
 */
time_t wr_creds_refresh_at(time_t fetched, time_t expiration);

/** Seconds to wait before retry number `failures` (1, 2, 4, ... at most 60). */
unsigned wr_creds_backoff(unsigned failures);

#endif
