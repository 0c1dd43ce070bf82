/*
 * sigv4.h - AWS Signature Version 4, header form, on OpenSSL. Internal (wr_ prefix, hidden).
 *
 * A building block for the sidecar that re-signs Bedrock requests after redaction (a changed
 * body invalidates the client's signature, so the sidecar signs with its own credentials).
 * libcurl's CURLOPT_AWS_SIGV4 is not used: up to 8.9.0 it does not URI-encode the canonical
 * path, so Bedrock model ids with ':' fail (see shared/reference/sigv4.md §3).
 *
 * Algorithm: shared/reference/sigv4.md §1 and the AWS signing test suite
 * (awslabs/aws-c-auth tests/aws-signing-test-suite/v4); tests/unit/identity/test_sigv4.c
 * checks every header-form case of that suite byte for byte.
 *
 * Canonical URI (the choice, documented):
 *   `path` is the path exactly as it goes on the wire (percent-encoded or not, no query).
 *   - normalize_path (every service except S3): remove "." / ".." segments and collapse
 *     empty segments ("//"), keeping a leading "/" and a trailing "/" when the path had one
 *     and something is left (botocore remove_dot_segments). Done before encoding.
 *   - double_uri_encode (every service except S3): every byte of the wire path except the
 *     RFC 3986 unreserved set (A-Z a-z 0-9 - _ . ~) and '/' is encoded as %XX (upper-case),
 *     *including '%'*. That is what botocore and the AWS JS SDK do and what AWS verifies:
 *       wire  /model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke
 *         ->  /model/anthropic.claude-3-haiku-20240307-v1%253A0/invoke   (SDKs send this)
 *       wire  /model/anthropic.claude-3-haiku-20240307-v1:0/invoke
 *         ->  /model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke
 *     So the signature always matches the bytes actually sent: pass the path you send.
 *   - without double_uri_encode (S3 style): the wire path is taken as already encoded;
 *     valid %XX escapes are kept verbatim, any other byte outside unreserved and '/' is
 *     encoded once.
 *
 * Canonical query: `query` (without '?') is split on '&'; each part on the first '=' (no '='
 * means an empty value); name and value are percent-decoded (only valid %XX; '+' stays a
 * literal '+') and re-encoded with the unreserved set; pairs sorted by encoded name, then
 * encoded value; empty parts dropped.
 *
 * Canonical headers: names lower-cased; values trimmed and inner runs of SP/HTAB collapsed
 * to one SP; repeated names joined with ',' in input order; sorted by name. Multi-line
 * (obs-fold) values must be unfolded by the caller (each fold replaced by SP, RFC 9112
 * §5.2); CR, LF and NUL in names or values are rejected (they would inject headers).
 * Not signed (botocore's list; they stay on the wire, proxies may change them):
 *   connection expect keep-alive proxy-authenticate proxy-authorization te trailer
 *   transfer-encoding upgrade user-agent x-amzn-trace-id
 * Managed by the signer (wr_sigv4_is_managed_header): authorization, x-amz-date,
 * x-amz-security-token and x-amz-content-sha256 in the input are ignored; the caller must
 * remove them from the wire request and set the ones in `wr_sigv4_result.set_headers`.
 * `host` is added from `wr_sigv4_request.host` when the headers have none (one of the two
 * is required).
 *
 * Payload hash: payload_hash when given (64 hex digits, or a special value such as
 * UNSIGNED-PAYLOAD), else hex SHA-256 of payload[0..payload_len). With sign_body an
 * x-amz-content-sha256 header carrying it is signed and returned to set.
 * Session token: signed as x-amz-security-token unless omit_session_token (then it is
 * only returned to set, added after signing; the STS "header after" behaviour).
 *
 * The signing key (HMAC chain "AWS4"+secret, date, region, service, "aws4_request") is
 * derived on every call: four HMACs cost microseconds, and a process-wide cache would keep
 * derived secret material alive. Every intermediate key is wiped with OPENSSL_cleanse.
 * Thread-safe: no global state.
 */
#ifndef WEIR_IDENTITY_SIGV4_H
#define WEIR_IDENTITY_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "internal.h"

/* Limits on what the signer accepts (it signs configuration and our own requests). */
#define WR_SIGV4_MAX_HEADERS 256
#define WR_SIGV4_MAX_NAME 256            /* header name */
#define WR_SIGV4_MAX_VALUE (16 * 1024)   /* one header value */
#define WR_SIGV4_MAX_PATH (16 * 1024)
#define WR_SIGV4_MAX_QUERY (64 * 1024)
#define WR_SIGV4_MAX_TOKEN (16 * 1024)   /* session token */

typedef struct wr_sigv4_header {
    const char *name;  /* NUL-terminated */
    const char *value; /* NUL-terminated, unfolded */
} wr_sigv4_header;

typedef struct wr_sigv4_request {
    const char *method; /* "GET", "POST", ... (an HTTP token) */
    const char *path;   /* as on the wire, e.g. "/model/x-v1%3A0/invoke"; "" means "/" */
    const char *query;  /* without '?', as on the wire; NULL or "" for none */
    const char *host;   /* used when headers have no Host; may be NULL otherwise */
    const wr_sigv4_header *headers;
    size_t n_headers;
    const void *payload; /* may be NULL when payload_len is 0 */
    size_t payload_len;
    const char *payload_hash; /* NULL: SHA-256 of payload; else used verbatim */
} wr_sigv4_request;

typedef struct wr_sigv4_credentials {
    const char *access_key_id;     /* required */
    const char *secret_access_key; /* required */
    const char *session_token;     /* NULL or "" for long-term credentials */
} wr_sigv4_credentials;

typedef struct wr_sigv4_params {
    const char *region;  /* e.g. "eu-central-1" */
    const char *service; /* signing name: "bedrock" (also for bedrock-runtime), "bedrock-mantle" */
    time_t timestamp;    /* signing time (UTC); tests pass a fixed one */
    bool normalize_path;     /* true except S3 */
    bool double_uri_encode;  /* true except S3 */
    bool sign_body;          /* add and sign x-amz-content-sha256 */
    bool omit_session_token; /* set x-amz-security-token after signing, unsigned */
} wr_sigv4_params;

/* A header the caller must set on the wire request (replacing any of that name). */
typedef struct wr_sigv4_out_header {
    char *name; /* canonical wire spelling, e.g. "X-Amz-Date" */
    char *value;
} wr_sigv4_out_header;

typedef struct wr_sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char *credential_scope; /* YYYYMMDD/region/service/aws4_request */
    char *signed_headers;   /* "host;x-amz-date" */
    char *authorization;    /* the full Authorization header value */
    char signature[65];     /* lower-case hex */
    char amz_date[17];      /* YYYYMMDDTHHMMSSZ */
    char payload_hash[129];
    /* Authorization, X-Amz-Date, [Host], [X-Amz-Content-SHA256], [X-Amz-Security-Token] */
    wr_sigv4_out_header *set_headers;
    size_t n_set_headers;
} wr_sigv4_result;

/* Sets the defaults for a non-S3 service: normalize_path and double_uri_encode true. */
void wr_sigv4_params_init(wr_sigv4_params *p, const char *region, const char *service,
                          time_t timestamp);

/*
 * Signs req. On success returns 0 and fills *out (free with wr_sigv4_result_free); on
 * failure returns WEIR_EINVAL (bad input), WEIR_ELIMIT (a limit above) or WEIR_ENOMEM /
 * WEIR_EINTERNAL, fills err, and leaves *out zeroed (nothing to free, freeing is harmless).
 */
int wr_sigv4_sign(const wr_sigv4_request *req, const wr_sigv4_credentials *cred,
                  const wr_sigv4_params *params, wr_sigv4_result *out, weir_error *err);

void wr_sigv4_result_free(wr_sigv4_result *r);

/* 1 for the header names the signer sets itself (case-insensitive), else 0. */
int wr_sigv4_is_managed_header(const char *name);

/*
 * The signing key for (secret, YYYYMMDD, region, service) into key[32]. Exposed for tests
 * and for a future presigner. Returns 0, or WEIR_EINVAL / WEIR_EINTERNAL.
 */
int wr_sigv4_signing_key(unsigned char key[32], const char *secret, const char *date8,
                         const char *region, const char *service);

/*
 * Appends the canonical URI of `path` (NUL-terminated, as on the wire) to b, with the
 * rules above. Returns 0 or WEIR_ENOMEM.
 */
int wr_sigv4_canonical_uri(wr_buf *b, const char *path, bool normalize, bool double_encode);

#endif
