/*
 * sts.h - caller identity from a presigned sts:GetCallerIdentity token (the
 * aws-iam-authenticator / Vault AWS-auth pattern). Internal (wr_ prefix, hidden). No network:
 * the sidecar makes the call (filter/sidecar/sts_verify.h); this module decides what may be
 * called, reads the answer and caches it.
 *
 * Flow: the caller sends a token; wr_sts_token_parse validates it completely *before*
 * anything is sent anywhere and yields a wr_sts_call (the URL to GET, the headers to send,
 * the expiry, a cache key); the sidecar GETs the URL; wr_sts_parse_response turns STS's
 * answer into the caller's ARN; wr_sts_cache remembers it until the token expires.
 *
 * Token formats (shared/reference/sigv4.md §5):
 *   - "k8s-aws-v1." + base64url without padding of a presigned URL (aws-iam-authenticator);
 *   - a raw presigned URL, "https://sts.REGION.amazonaws.com/?Action=GetCallerIdentity&...".
 * At most WR_STS_MAX_TOKEN bytes.
 *
 * The token must never make weir call an arbitrary URL (SSRF; Vault's CVE-2020-16250). Rules:
 *   - scheme https; http only for a loopback host (127.0.0.0/8, ::1, localhost) when
 *     rules->allow_loopback_http is set (tests and local simulators);
 *   - authority without userinfo; host exactly "sts.amazonaws.com" (global),
 *     "sts.REGION.amazonaws.com" or "sts.REGION.amazonaws.com.cn" (lower case, no port), or
 *     exactly the origin of rules->endpoint (scheme, host and port);
 *   - path exactly "/"; no fragment; only printable ASCII, no '\\';
 *   - query parameters (names matched case-insensitively; each at most once; any other name
 *     is refused): Action=GetCallerIdentity, Version=2011-06-15,
 *     X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential=AKID/YYYYMMDD/REGION/sts/aws4_request
 *     (the region must equal the host's for a regional host, rules->endpoint_region for the
 *     override when set, and rules->region when set), X-Amz-Date (its day = the scope's),
 *     X-Amz-Expires (1..900), X-Amz-SignedHeaders (only "host" and "x-k8s-aws-id"; host
 *     required; x-k8s-aws-id required when rules->cluster_id is set and refused when it is
 *     not, since weir could not send it), X-Amz-Signature (64 hex), optional
 *     X-Amz-Security-Token;
 *   - time: X-Amz-Date at most rules->max_age_seconds old (default 900: STS's own lifetime
 *     for a presigned GetCallerIdentity) and at most 60 s in the future; and, unless
 *     rules->ignore_expires, not past X-Amz-Date + X-Amz-Expires.
 *     Note: aws-iam-authenticator signs X-Amz-Expires=60 but its clients reuse a token for
 *     14 minutes; set ignore_expires to accept such tokens for max_age_seconds, as the
 *     authenticator's server does.
 *
 * The call is rebuilt from the validated pieces (scheme://authority/?query as received), so
 * the bytes weir sends are the bytes it checked. STS is asked for XML (Accept:
 * application/xml, its default); wr_sts_parse_response also reads STS's JSON form.
 *
 * Thread-safety: the parse functions have no global state; wr_sts_cache is internally locked.
 */
#ifndef WEIR_IDENTITY_STS_H
#define WEIR_IDENTITY_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "internal.h"

#define WR_STS_MAX_TOKEN ((size_t)8 * 1024)      /**< token bytes, either format */
#define WR_STS_MAX_RESPONSE ((size_t)64 * 1024)  /**< STS response body */
#define WR_STS_MAX_ARN 2048                      /**< ARN length (IAM's own limit) */
#define WR_STS_DEFAULT_MAX_AGE 900               /**< seconds after X-Amz-Date */
#define WR_STS_MAX_EXPIRES 900                   /**< X-Amz-Expires upper bound */
#define WR_STS_MAX_FUTURE 60                     /**< X-Amz-Date ahead of our clock */
#define WR_STS_NEGATIVE_TTL 5                    /**< seconds a refusal stays cached */
#define WR_STS_TOKEN_PREFIX "k8s-aws-v1."
#define WR_STS_CLUSTER_HEADER "x-k8s-aws-id"

/** What a token may be. Zeroed fields take the defaults. Borrowed by wr_sts_token_parse. */
typedef struct wr_sts_rules {
    const char *cluster_id;  /**< NULL: no x-k8s-aws-id binding; else the value weir sends */
    const char *endpoint;    /**< NULL, or an extra allowed origin, e.g. "http://127.0.0.1:4566" */
    const char *endpoint_region; /**< NULL: any region for `endpoint`; else its region */
    const char *region;      /**< NULL: any region; else every token's scope region */
    bool allow_loopback_http; /**< accept http:// for a loopback `endpoint` (tests) */
    bool ignore_expires;     /**< accept until X-Amz-Date + max_age, whatever X-Amz-Expires */
    unsigned max_age_seconds; /**< 0: WR_STS_DEFAULT_MAX_AGE */
    time_t now;              /**< 0: time(NULL); tests pass a fixed clock */
} wr_sts_rules;

/** A header to send with the call. `name` is static; `value` owned by the call. */
typedef struct wr_sts_header {
    const char *name;
    char *value;
} wr_sts_header;

#define WR_STS_MAX_HEADERS 2

/** A validated call to STS. Fill with wr_sts_token_parse, free with wr_sts_call_free. */
typedef struct wr_sts_call {
    char *url;                        /**< owned; GET it, redirects off */
    wr_sts_header headers[WR_STS_MAX_HEADERS]; /**< Accept, [x-k8s-aws-id] */
    size_t n_headers;
    char access_key_id[129];          /**< from the credential scope (not secret) */
    char region[33];                  /**< scope region */
    time_t signed_at;                 /**< X-Amz-Date */
    time_t expires_at;                /**< when a result for this token stops being valid */
    unsigned char cache_key[32];      /**< SHA-256 of the token bytes */
} wr_sts_call;

/**
 * Validates token[0..len) under rules (NULL: defaults) and fills *out. Returns 0, or
 * WEIR_EINVAL (refused: err->text says why, without echoing the token), WEIR_ELIMIT (too
 * long) or WEIR_ENOMEM; *out is then zeroed (freeing it is harmless).
 */
int wr_sts_token_parse(const char *token, size_t len, const wr_sts_rules *rules,
                       wr_sts_call *out, weir_error *err);

/** Frees what a call owns and zeroes it. NULL is fine. */
void wr_sts_call_free(wr_sts_call *c);

/**
 * Reads STS's answer to a GetCallerIdentity call. Status 200 with
 * GetCallerIdentityResponse/GetCallerIdentityResult (XML, or the JSON form) and a valid ARN:
 * returns 0, the ARN in arn[cap] and the 12-digit account in account[acap] (may be NULL;
 * it must agree with the ARN's). Otherwise WEIR_EINVAL with STS's error code in err->text
 * when there is one ("sts: refused (HTTP 403 SignatureDoesNotMatch)"), or WEIR_ELIMIT for a
 * body over WR_STS_MAX_RESPONSE or an ARN longer than cap.
 */
int wr_sts_parse_response(int status, const char *body, size_t len, char *arn, size_t cap,
                          char *account, size_t acap, weir_error *err);

/**
 * 1 when arn is a principal GetCallerIdentity can return: arn:PARTITION:iam::ACCT:user/...,
 * ...:iam::ACCT:role/..., ...:iam::ACCT:root, ...:sts::ACCT:assumed-role/ROLE/SESSION or
 * ...:sts::ACCT:federated-user/NAME (ACCT 12 digits, IAM name characters); else 0.
 */
int wr_sts_arn_valid(const char *arn);

/* ---------------------------------------------------------------- cache */

/**
 * Token hash -> ARN, bounded, least recently used entry evicted first; expired entries are
 * dropped when met. Positive entries live until the token's expires_at; refusals
 * (wr_sts_cache_put_refusal) for WR_STS_NEGATIVE_TTL seconds. Thread-safe.
 */
typedef struct wr_sts_cache wr_sts_cache;

/** New cache of at most max_entries (0: 10,000). Returns 0 or WEIR_ENOMEM. */
int wr_sts_cache_new(wr_sts_cache **out, size_t max_entries, weir_error *err);
void wr_sts_cache_free(wr_sts_cache *c); /**< NULL is fine */

/** Cache lookup outcomes. */
typedef enum wr_sts_hit {
    WR_STS_MISS = 0,
    WR_STS_HIT = 1,     /**< arn filled */
    WR_STS_REFUSED = 2  /**< refused recently; message filled (when given) */
} wr_sts_hit;

/**
 * Looks key up at time now. WR_STS_HIT copies the ARN into arn[cap] (truncation counts as a
 * miss), WR_STS_REFUSED copies the cached refusal message into msg[mcap] (msg may be NULL).
 */
wr_sts_hit wr_sts_cache_get(wr_sts_cache *c, const unsigned char key[32], time_t now,
                            char *arn, size_t cap, char *msg, size_t mcap);

/** Remembers arn for key until expires_at (ignored when expires_at <= now). 0 or WEIR_ENOMEM. */
int wr_sts_cache_put(wr_sts_cache *c, const unsigned char key[32], const char *arn,
                     time_t expires_at, time_t now);

/** Remembers a refusal for WR_STS_NEGATIVE_TTL seconds (message: no secrets). 0 or WEIR_ENOMEM. */
int wr_sts_cache_put_refusal(wr_sts_cache *c, const unsigned char key[32], const char *message,
                             time_t now);

/** Entries held (expired ones not yet dropped included). */
size_t wr_sts_cache_size(wr_sts_cache *c);

#endif
