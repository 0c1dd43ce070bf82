/*
 * jwt.h - bearer JWT identity: JWK Sets, JWS verification, claim -> principal mapping.
 * Internal (wr_ prefix, hidden). Operator guide: docs/identity.md "JWT bearer tokens".
 *
 * Callers: the sidecar, to learn who is calling from `Authorization: Bearer <JWT>` (a
 * Kubernetes service-account token, an Entra ID access token).
 *
 *   wr_jwks          a parsed JWK Set: immutable, refcounted, safe to share between threads.
 *   wr_jwks_source   where the JWK Set comes from (a file, or a URL through a fetch hook),
 *                    kept fresh by a background thread; wr_jwks_source_get never blocks.
 *   wr_jwt_verify    one token against a wr_jwks and a set of rules -> verified claims.
 *   wr_jwt_principal verified claims -> a principal ARN, through a table or a template.
 *
 * Signatures are checked by cjose (which uses OpenSSL); the token is split, decoded and its
 * header checked here first, so cjose only sees tokens whose alg and key are already known to
 * match. Only asymmetric algorithms exist here: RS256, RS384, RS512, PS256 (RSA keys of at
 * least 2048 bits) and ES256 (EC P-256 keys). `none`, HS* and anything else are refused, and
 * a JWK Set that holds private or symmetric key material is refused as a whole.
 *
 * Error messages never quote token content except the kid, alg and iss names (sanitised and
 * shortened); they never hold a token, a signature or a claim value.
 */
#ifndef WEIR_IDENTITY_JWT_H
#define WEIR_IDENTITY_JWT_H

#include <stddef.h>
#include <time.h>

#include "internal.h"

struct json_t;

/* ------------------------------------------------------------------ limits */

#define WR_JWKS_MAX_BYTES ((size_t)1024 * 1024) /**< a JWK Set document */
#define WR_JWKS_MAX_KEYS 100                    /**< entries in "keys" */
#define WR_JWT_MAX_TOKEN ((size_t)16 * 1024)    /**< a compact JWS */
#define WR_JWT_MAX_KID 256                      /**< bytes of a kid */
#define WR_JWT_MAX_LEEWAY 300                   /**< seconds */
#define WR_JWT_DEFAULT_LEEWAY 60                /**< seconds */

/* ------------------------------------------------------------------ algorithms */

/** Signature algorithms, as bits of a set. */
enum {
    WR_JWT_RS256 = 1 << 0,
    WR_JWT_RS384 = 1 << 1,
    WR_JWT_RS512 = 1 << 2,
    WR_JWT_PS256 = 1 << 3,
    WR_JWT_ES256 = 1 << 4,
    WR_JWT_ALGS_ALL = (1 << 5) - 1
};

/** The bit for the JOSE name ("RS256", ...), or 0 when the name is not one of ours. */
unsigned wr_jwt_alg_from_name(const char *name);

/** The JOSE name of one bit; "?" for anything else. Static string. */
const char *wr_jwt_alg_name(unsigned alg);

/* ------------------------------------------------------------------ JWK Set */

typedef struct wr_jwks wr_jwks;

/**
 * Parses a JWK Set ({"keys": [...]}, RFC 7517 §5) from json[0..len).
 *
 * Kept: kty "RSA" (n, e; at least 2048 bits) and kty "EC" with crv "P-256" (x, y), with an
 * optional `kid` (at most WR_JWT_MAX_KID bytes), `use` and `alg`. Skipped (RFC 7517 says to
 * ignore what is not understood): other kty values and curves, `use` other than "sig", an
 * `alg` that is not one of ours or does not fit the key type. Refused as a whole: more than
 * WR_JWKS_MAX_BYTES or WR_JWKS_MAX_KEYS (WEIR_ELIMIT); invalid JSON, a malformed key, any
 * private or symmetric material (d, p, q, dp, dq, qi, oth, k) (WEIR_EINVAL); no usable key
 * left (WEIR_ENOTFOUND).
 *
 * On success *out is a new reference (release with wr_jwks_unref). Thread-safe.
 */
int wr_jwks_parse(wr_jwks **out, const char *json, size_t len, weir_error *err);

/** Adds a reference; returns k. NULL is fine. Thread-safe (atomic count). */
wr_jwks *wr_jwks_ref(wr_jwks *k);

/** Drops a reference; the last one frees. NULL is fine. Thread-safe. */
void wr_jwks_unref(wr_jwks *k);

/** Number of usable keys (>= 1). */
size_t wr_jwks_count(const wr_jwks *k);

/** Number of keys the parser skipped as not understood (for logs). */
size_t wr_jwks_skipped(const wr_jwks *k);

/** 1 when some key has this kid, else 0. */
int wr_jwks_has_kid(const wr_jwks *k, const char *kid);

/* ------------------------------------------------------------------ verification */

/** What a token must satisfy besides a good signature. Start from WR_JWT_RULES_INIT. */
typedef struct wr_jwt_rules {
    int version;                  /**< WR_JWT_RULES_VERSION */
    const char *issuer;           /**< required: `iss` must equal it exactly */
    const char *const *audiences; /**< required: NULL-terminated, >= 1 entry; `aud` (string
                                       or array) must contain one of them */
    unsigned algs;                /**< allowed algorithms; 0 = WR_JWT_ALGS_ALL */
    int leeway_seconds;           /**< clock skew for exp/nbf/iat, 0..WR_JWT_MAX_LEEWAY */
    int exp_optional;             /**< 1: a token without `exp` is accepted (not advised) */
    time_t now;                   /**< 0: the current time; tests set it */
} wr_jwt_rules;

#define WR_JWT_RULES_VERSION 1
#define WR_JWT_RULES_INIT {WR_JWT_RULES_VERSION, NULL, NULL, 0, WR_JWT_DEFAULT_LEEWAY, 0, 0}

/**
 * Verifies the compact JWS token[0..len) (no "Bearer " prefix, no whitespace) against keys
 * and rules. Steps, each with its own refusal: size (<= WR_JWT_MAX_TOKEN) and shape (three
 * base64url segments); header (JSON object; `alg` one of ours and in rules->algs; no `crit`);
 * key (the key whose kid matches, of the type the alg needs and, when the key names an alg,
 * that alg; a token without kid may use the only key of a one-key set); signature; claims
 * (JSON object; exp, nbf, iat with rules->leeway_seconds; iss; aud).
 *
 * Returns 0 and, when claims_out is not NULL, *claims_out = the verified claims (new
 * reference: json_decref it). Otherwise *claims_out = NULL and:
 *   WEIR_ENOTFOUND  the token's kid is not in keys (the caller may ask its source to
 *                   refresh: wr_jwt_verify_source does);
 *   WEIR_ELIMIT     the token is too large;
 *   WEIR_EINVAL     any other refusal (malformed, bad alg, bad signature, expired, wrong
 *                   issuer or audience), or invalid rules;
 *   WEIR_ENOMEM.
 * Thread-safe; keys is only read.
 */
int wr_jwt_verify(const wr_jwks *keys, const char *token, size_t len, const wr_jwt_rules *rules,
                  struct json_t **claims_out, weir_error *err);

/* ------------------------------------------------------------------ JWK Set source */

typedef struct wr_jwks_source wr_jwks_source;

/**
 * Fetches url into body (appending; body is initialised and freed by the caller), reading at
 * most max_bytes (more is an error) and giving up after timeout_seconds in all. Returns 0,
 * or a weir_code with err filled (the message may name the URL, never a credential).
 * Called from the source's refresh thread (and once from wr_jwks_source_new).
 *
 * The sidecar implements it with libcurl easy: TLS peer and host verified, no redirects,
 * CURLOPT_TIMEOUT = timeout_seconds, CURLOPT_MAXFILESIZE = max_bytes plus a write-callback
 * cap, status 200 only. libweir itself does not link libcurl.
 */
typedef int (*wr_jwks_fetch_fn)(void *ctx, const char *url, size_t max_bytes,
                                int timeout_seconds, wr_buf *body, weir_error *err);

/** Where the JWK Set comes from. Exactly one of path and url. */
typedef struct wr_jwks_source_opts {
    int version;              /**< WR_JWKS_SOURCE_OPTS_VERSION */
    const char *path;         /**< a file; re-read when it changes (checked every
                                   poll_seconds) and every refresh_seconds */
    const char *url;          /**< https://...; http:// only when the host is loopback
                                   (127.0.0.0/8, [::1], localhost); no user:pass@ */
    wr_jwks_fetch_fn fetch;   /**< required with url */
    void *fetch_ctx;          /**< passed to fetch */
    int refresh_seconds;      /**< periodic refresh; 0 = 3600; min 1 */
    int kid_refresh_seconds;  /**< at most one unknown-kid refresh per this; 0 = 30 */
    int poll_seconds;         /**< file change check; 0 = 5 */
    int timeout_seconds;      /**< per fetch; 0 = 5 */
} wr_jwks_source_opts;

#define WR_JWKS_SOURCE_OPTS_VERSION 1
#define WR_JWKS_SOURCE_OPTS_INIT {WR_JWKS_SOURCE_OPTS_VERSION, NULL, NULL, NULL, NULL, 0, 0, 0, 0}

/**
 * Loads the JWK Set once, synchronously (a fetch is bounded by timeout_seconds), then starts
 * the refresh thread. A failed later load keeps the last good set (and is counted and
 * retried after min(refresh_seconds, 60) s). Errors: WEIR_EINVAL (options, URL), and the
 * error of the first load (WEIR_EIO, WEIR_ELIMIT, WEIR_EINVAL, WEIR_ENOTFOUND, ...).
 * The opts strings are copied. Free with wr_jwks_source_free.
 */
int wr_jwks_source_new(wr_jwks_source **out, const wr_jwks_source_opts *opts, weir_error *err);

/** Stops and joins the refresh thread (an in-flight fetch finishes first). NULL is fine. */
void wr_jwks_source_free(wr_jwks_source *s);

/**
 * The current JWK Set: a new reference (wr_jwks_unref it), never NULL. Never blocks on
 * I/O (a mutex only). Thread-safe.
 */
wr_jwks *wr_jwks_source_get(wr_jwks_source *s);

/**
 * Asks the refresh thread to load the set again soon, at most once per kid_refresh_seconds
 * (what happens on an unknown kid). Returns 1 when a refresh was scheduled, 0 when rate
 * limited. Never blocks. Thread-safe.
 */
int wr_jwks_source_kick(wr_jwks_source *s);

/** Loads that succeeded and failed (including the first), for /metrics. Thread-safe. */
void wr_jwks_source_stats(wr_jwks_source *s, unsigned long *ok, unsigned long *failed);

/**
 * wr_jwt_verify with the source's current set; on an unknown kid (WEIR_ENOTFOUND) it also
 * calls wr_jwks_source_kick. The request is refused now either way: a later request with the
 * same kid succeeds once the refresh has loaded it. Thread-safe.
 */
int wr_jwt_verify_source(wr_jwks_source *s, const char *token, size_t len,
                         const wr_jwt_rules *rules, struct json_t **claims_out,
                         weir_error *err);

/* ------------------------------------------------------------------ principal */

/** Which claim names the caller. */
typedef enum wr_jwt_claim {
    WR_JWT_CLAIM_SUB = 0, /**< `sub`: Kubernetes "system:serviceaccount:NS:NAME" */
    WR_JWT_CLAIM_OID,     /**< `oid`: Entra object id of the user or service principal */
    WR_JWT_CLAIM_APPID,   /**< `appid` (Entra v1), else `azp` (v2): the client application */
    WR_JWT_CLAIM_ROLES    /**< `roles`: the first role (in token order) that the map maps */
} wr_jwt_claim;

/** One table row: claim value (exact, case-sensitive) -> principal. */
typedef struct wr_jwt_map_entry {
    const char *value;
    const char *principal;
} wr_jwt_map_entry;

/**
 * The mapping. The table is looked at first; the template is used for a value the table does
 * not hold. Template placeholders: {value}; and for `sub` values of the form
 * "system:serviceaccount:NS:NAME" also {namespace} and {name}. A substituted value must be
 * 1..128 bytes of [A-Za-z0-9+=,.@_-] (the IAM name set), so it cannot add ARN segments
 * (':' or '/'); other values are refused. Braces other than these placeholders are refused.
 */
typedef struct wr_jwt_map {
    wr_jwt_claim claim;
    const wr_jwt_map_entry *table; /**< may be NULL */
    size_t table_len;
    const char *tmpl;              /**< e.g. "arn:aws:iam::111122223333:role/{value}"; or NULL */
} wr_jwt_map;

/**
 * Maps verified claims (borrowed) to a principal written to out[0..cap) (NUL-terminated).
 * Returns 0; WEIR_ENOTFOUND when the claim is missing or its value is not mapped; WEIR_EINVAL
 * when a templated value has characters outside the allowed set or the template is invalid;
 * WEIR_ELIMIT when the result does not fit in cap. Messages name the claim, not its value.
 */
int wr_jwt_principal(const struct json_t *claims, const wr_jwt_map *map, char *out, size_t cap,
                     weir_error *err);

#endif
