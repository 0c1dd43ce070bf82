/*
 * identity.h - who is calling, per listener (docs/identity.md): the listener's static
 * principal, the sidecar's own workload role, a principal header from a trusted peer, a
 * verified JWT, or a presigned sts:GetCallerIdentity token; and the region a caller's SigV4
 * signature is scoped to. Runs on the worker's thread.
 */
#ifndef WEIR_SIDECAR_IDENTITY_H
#define WEIR_SIDECAR_IDENTITY_H

#include <stddef.h>

#include "sidecar/sidecar.h"

#define WR_PRINCIPAL_MAX 2048

typedef struct wr_sc_who wr_sc_who;
struct wr_sc_who {
    int status;                        /**< 0: known (or no identity needed); else 401 / 403 */
    char principal[WR_PRINCIPAL_MAX];  /**< "" when the listener names no caller */
    char message[300];                 /**< why a caller was refused (no token content) */
    int pending;                       /**< 1: an STS check is running; wr_sc_who_done follows */
    void *op;                          /**< the running check (internal) */
    void (*done)(void *user, struct wr_sc_who *who);
    void *user;
};

/**
 * Resolves the caller of hr on listener L. Synchronous sources fill `who` at once; the STS
 * source may set who->pending and call `done(user, who)` later on the same thread (or at
 * once from its cache). Returns 0, or a negative weir_code when it could not even start.
 */
int wr_sc_identify(wr_sc_listener *L, wr_http_req *hr, wr_sc_who *who,
                   void (*done)(void *user, wr_sc_who *who), void *user);

/** Cancels a pending identification (the client went away). */
void wr_sc_identify_cancel(wr_sc_who *who);

/** Start-up: per-listener identity state (JWKS sources, STS caches). */
int wr_sc_identity_init(wr_sc *sc, size_t upstream, weir_error *err);
/** Frees what wr_sc_identity_init made. */
void wr_sc_identity_free(wr_sc_upstate *st);

/**
 * The region of an incoming AWS SigV4 Authorization header's credential scope
 * ("AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/bedrock/aws4_request, ..."), or of a
 * Bedrock API key ("bedrock-api-key-" + base64 presigned URL); "" when there is none.
 */
void wr_sc_caller_region(const char *authorization, char *out, size_t cap);

/**
 * Start-up: the sidecar's own role for the listeners whose identity source is `workload`
 * (sts:GetCallerIdentity signed with its credentials). 0, or an error in err.
 */
int wr_sc_workload_identity(wr_sc *sc, weir_error *err);

#endif
