/*
 * sts_verify.h - the sidecar's asynchronous GetCallerIdentity call: runs a validated
 * wr_sts_call (filter/identity/sts.h) through the upstream client on the worker's event loop
 * and reports the caller's ARN. Never blocks.
 *
 * The GET goes to call->url with call->headers, no body, no redirects (libcurl's default,
 * which upstream.c keeps), a first-byte timeout (default 5 s) and the same idle timeout
 * between body bytes; the body is capped at WR_STS_MAX_RESPONSE.
 *
 * Results with a cache (wr_sts_verify_options.cache): an ARN is stored until
 * call->expires_at; a definitive refusal by STS (HTTP 4xx, e.g. SignatureDoesNotMatch,
 * ExpiredToken) for WR_STS_NEGATIVE_TTL seconds; transport failures and 5xx are not cached.
 * Look the cache up (wr_sts_cache_get with call->cache_key) before starting a call.
 *
 * Threading: like wr_upstream, every call on the thread that runs its event_base.
 */
#ifndef WEIR_SIDECAR_STS_VERIFY_H
#define WEIR_SIDECAR_STS_VERIFY_H

#include "identity/sts.h"
#include "sidecar/upstream.h"

typedef struct wr_sts_verify wr_sts_verify;

/**
 * The end of a verification, called exactly once unless wr_sts_verify_cancel was called
 * first. ok = 1: arn is the caller's principal (borrowed for the call). ok = 0: message says
 * why (STS's error code, or the transport failure; no secrets, no token bytes); arn is NULL.
 * The wr_sts_verify is freed when done returns: do not cancel it from inside done.
 */
typedef void (*wr_sts_done_fn)(void *user, int ok, const char *arn, const char *message);

typedef struct wr_sts_verify_options {
    unsigned timeout_ms;  /**< first byte, and longest pause between body bytes; 0: 5,000 */
    wr_sts_cache *cache;  /**< NULL: no caching; borrowed, must outlive the call */
} wr_sts_verify_options;

/**
 * Starts the GET of call (borrowed for this call only: everything needed is copied).
 * Returns 0 and *out (valid until done runs or wr_sts_verify_cancel), or an error with
 * *out = NULL, in which case done is never called. opt may be NULL (defaults).
 */
int wr_sts_verify_start(wr_upstream *up, const wr_sts_call *call,
                        const wr_sts_verify_options *opt, wr_sts_done_fn done, void *user,
                        wr_sts_verify **out, weir_error *err);

/** Stops a verification: done is not called, v is freed. NULL is fine. */
void wr_sts_verify_cancel(wr_sts_verify *v);

#endif
