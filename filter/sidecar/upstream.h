/*
 * upstream.h - the sidecar's upstream HTTP client: libcurl multi driven by a libevent
 * event_base (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION), connection reuse, HTTP/1.1 or
 * HTTP/2 over TLS as the server offers (ALPN), TLS verification always on (a CA file may
 * be given; verification cannot be turned off from configuration).
 *
 * Threading: one wr_upstream per worker thread / event_base; every call on that thread.
 *
 * A transfer streams its response: on_headers once (final status; 1xx skipped), on_data per
 * chunk as it arrives, then on_done exactly once — unless wr_up_cancel was called, after
 * which no callback runs. The request body is borrowed until on_done or cancel.
 */
#ifndef WEIR_SIDECAR_UPSTREAM_H
#define WEIR_SIDECAR_UPSTREAM_H

#include <stddef.h>

#include <event2/event.h>

#include "internal.h"
#include "sidecar/http.h"

typedef struct wr_upstream wr_upstream;
typedef struct wr_up_req wr_up_req;

/** Why a transfer failed (on_done's result); 0 is success (any HTTP status). */
typedef enum wr_up_result {
    WR_UP_OK = 0,
    WR_UP_REFUSED = 1,       /**< connection refused / DNS failure / unreachable -> 502 */
    WR_UP_CONNECT_TIMEOUT = 2, /**< -> 504 */
    WR_UP_TIMEOUT = 3,       /**< no first byte, or idle too long mid-response -> 504 */
    WR_UP_RESET = 4,         /**< connection reset / closed mid-response -> 502 (or abort if streaming) */
    WR_UP_TLS = 5,           /**< handshake or certificate verification failed -> 502 */
    WR_UP_TOO_LARGE = 6,     /**< response body over max_response_bytes (non-streamed) -> 502 */
    WR_UP_ABORTED = 7,       /**< on_data returned -1 */
    WR_UP_OTHER = 8          /**< anything else -> 502 */
} wr_up_result;

/** "refused", "connect_timeout", ... Static; for logs and metrics labels. */
const char *wr_up_result_name(wr_up_result r);

typedef struct wr_up_options {
    const char *ca_file;            /**< NULL: the system's CA store */
    long max_host_connections;      /**< per host; 0: 64 */
    unsigned connect_timeout_ms;    /**< 0: 5,000 */
} wr_up_options;

/** New client on base. Free with wr_upstream_free (cancels every transfer, no callbacks). */
int wr_upstream_new(wr_upstream **out, struct event_base *base, const wr_up_options *opt,
                    weir_error *err);
void wr_upstream_free(wr_upstream *u);

typedef struct wr_up_callbacks {
    /** Final response status and headers (borrowed for the call). */
    void (*on_headers)(void *user, int status, const wr_http_header *h, size_t n);
    /**
     * A chunk of the body. Return 0 to go on, 1 to pause the transfer (the chunk is
     * consumed; call wr_up_resume later), -1 to abort it (on_done gets WR_UP_ABORTED).
     */
    int (*on_data)(void *user, const char *data, size_t len);
    /** End of the transfer: result, and a message for logs (no secrets). */
    void (*on_done)(void *user, wr_up_result result, const char *message);
} wr_up_callbacks;

typedef struct wr_up_request {
    const char *method;             /**< "POST" */
    const char *url;                /**< full URL, path already encoded as it must go on the wire */
    const wr_http_header *headers;  /**< sent as given (Host, Content-Length are set by curl) */
    size_t nheaders;
    const void *body;               /**< borrowed until on_done / cancel */
    size_t body_len;
    unsigned first_byte_timeout_ms; /**< 0: 60,000 — time to response headers */
    unsigned idle_timeout_ms;       /**< 0: 300,000 — longest pause between body bytes */
} wr_up_request;

/** Starts a transfer. 0 and *out, or an error (nothing will be called back). */
int wr_up_start(wr_upstream *u, const wr_up_request *req, const wr_up_callbacks *cb,
                void *user, wr_up_req **out, weir_error *err);
/** Resumes a transfer paused by on_data returning 1. */
void wr_up_resume(wr_up_req *r);
/** Stops a transfer: no callback runs afterwards, r is freed. */
void wr_up_cancel(wr_up_req *r);

/** Transfers in progress. */
size_t wr_upstream_active(const wr_upstream *u);

#endif
