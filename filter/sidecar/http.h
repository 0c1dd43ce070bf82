/*
 * http.h - the sidecar's HTTP server: HTTP/1.1 (http-parser) and HTTP/2 (nghttp2, h2c with
 * prior knowledge) on the same listening port, one request/stream abstraction over both.
 *
 * Threading: a wr_http_server belongs to one libevent event_base (one worker thread); every
 * function here must be called on that thread. Several workers listen on the same port
 * with SO_REUSEPORT, each with its own server.
 *
 * Request lifetime: the server owns every wr_http_req. A request is handed to the
 * listener's on_request once its headers and whole body have arrived (the gate must see the
 * whole prompt). From then on the handler owns the answer: it must eventually call
 * wr_http_respond_end or wr_http_respond_abort, after which it must not touch req again.
 * If the client goes away first (connection closed, RST_STREAM), on_abort is called
 * instead; after on_abort returns the request is freed and the handler must drop it.
 */
#ifndef WEIR_SIDECAR_HTTP_H
#define WEIR_SIDECAR_HTTP_H

#include <stddef.h>

#include <event2/event.h>

#include "internal.h"

typedef struct wr_http_server wr_http_server;
typedef struct wr_http_req wr_http_req;

/** One header; name and value are not NUL-terminated when borrowed from the wire. */
typedef struct wr_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} wr_http_header;

/** Limits applied to every connection of a server. Zero fields take the defaults. */
typedef struct wr_http_limits {
    size_t max_header_bytes;     /**< request line + headers (h1) / header block (h2); default 64 KiB -> 431 */
    size_t max_headers;          /**< number of header fields; default 100 -> 431 */
    size_t max_body_bytes;       /**< default 25,000,000 (Bedrock's own limit) -> 413 */
    unsigned header_timeout_ms;  /**< first byte to end of headers; default 10,000 -> 408 */
    unsigned body_timeout_ms;    /**< longest pause between body bytes; default 30,000 -> 408 */
    unsigned idle_timeout_ms;    /**< idle keep-alive connection is closed; default 60,000 */
    unsigned write_timeout_ms;   /**< a client that reads nothing for this long is dropped; default 60,000 */
    size_t high_watermark;       /**< queued response bytes at which a request is "full"; default 256 KiB */
    unsigned max_streams;        /**< h2 SETTINGS_MAX_CONCURRENT_STREAMS; default 128 */
    unsigned max_connections;    /**< per server (worker); default 4096; beyond it new connections are closed */
} wr_http_limits;

/** What a listener does with its requests. Callbacks run on the server's thread. */
typedef struct wr_http_handler {
    /**
     * A complete request. When the server already knows the request is bad but can still
     * answer it in the handler's shape, wr_http_req_error() is non-zero (413 body too large,
     * 408 body timeout, 400 bad framing) and the body is empty: the handler answers (in the
     * provider's error shape) and audits it.
     */
    void (*on_request)(wr_http_req *req, void *user);
    /** The client went away before the handler ended the response. May be NULL. */
    void (*on_abort)(wr_http_req *req, void *user);
    /**
     * Queued output fell below half the high watermark after wr_http_req_full() was 1: the
     * handler may resume the upstream. May be NULL.
     */
    void (*on_drain)(wr_http_req *req, void *user);
    /**
     * A connection-level refusal the server answered itself (431 headers too large, 408
     * header timeout, 400 unparseable request line, 505, h2 protocol error): for logs,
     * metrics and audit. `peer` is "ip:port". May be NULL.
     */
    void (*on_reject)(void *user, const char *peer, int status, const char *message);
} wr_http_handler;

/** A server on `base` with `limits` (NULL: defaults). New; free with wr_http_server_free. */
int wr_http_server_new(wr_http_server **out, struct event_base *base,
                       const wr_http_limits *limits, weir_error *err);

/**
 * Listens on `addr` ("host:port", "[v6]:port"; port 0 picks one) with SO_REUSEPORT, serving
 * HTTP/1.1 and h2c (prior knowledge: the 24-byte preface is sniffed) on the same port.
 * `handler` and `user` are borrowed for the server's life. The bound port goes to *port
 * (may be NULL). WEIR_EIO with the address and strerror on failure.
 */
int wr_http_server_listen(wr_http_server *s, const char *addr, const wr_http_handler *handler,
                          void *user, int *port, weir_error *err);

/** Stops accepting (closes the listeners); in-flight requests go on. Idempotent. */
void wr_http_server_stop_accepting(wr_http_server *s);

/** Requests handed to handlers and not yet ended or aborted. */
size_t wr_http_server_in_flight(const wr_http_server *s);
/** Open connections. */
size_t wr_http_server_connections(const wr_http_server *s);

/**
 * Closes every connection (in-flight requests get on_abort) and frees the server. NULL is
 * fine.
 */
void wr_http_server_free(wr_http_server *s);

/* ---- the request (valid from on_request until respond_end/respond_abort/on_abort) */

const char *wr_http_req_method(const wr_http_req *r);   /**< "POST", NUL-terminated */
/** Request target as received: path and query, e.g. "/model/a%3Ab/invoke?x=1". */
const char *wr_http_req_target(const wr_http_req *r);
/** 1 for HTTP/1.x, 2 for HTTP/2. */
int wr_http_req_version(const wr_http_req *r);
/** Number of header fields (h2 pseudo-headers excluded; :authority is reported as Host). */
size_t wr_http_req_nheaders(const wr_http_req *r);
/** Header i (0-based) or NULL. Borrowed; names as received (h2: lower case). */
const wr_http_header *wr_http_req_header_at(const wr_http_req *r, size_t i);
/**
 * Value of the first header named `name` (case-insensitive), NUL-terminated, or NULL.
 * Borrowed.
 */
const char *wr_http_req_header(const wr_http_req *r, const char *name);
/** The whole body (NUL-terminated for convenience; may contain NULs). Borrowed. */
const char *wr_http_req_body(const wr_http_req *r, size_t *len);
/** Peer address "ip:port" (NUL-terminated). */
const char *wr_http_req_peer(const wr_http_req *r);
/** Peer IP alone ("127.0.0.1", "::1"). */
const char *wr_http_req_peer_ip(const wr_http_req *r);
/** 0, or the status of a problem found while reading (413, 408, 400), with a message. */
int wr_http_req_error(const wr_http_req *r, const char **message);
/** Handler data slot. */
void wr_http_req_set_user(wr_http_req *r, void *user);
void *wr_http_req_user(const wr_http_req *r);

/* ---- the response */

/**
 * Starts the response. `content_length` >= 0 sends Content-Length; -1 streams (h1: chunked
 * transfer encoding; h2: DATA frames). Connection-specific headers (Connection,
 * Transfer-Encoding, Keep-Alive, ...) in `headers` are dropped; h2 lower-cases names.
 * WEIR_EINVAL when already started.
 */
int wr_http_respond_start(wr_http_req *r, int status, const wr_http_header *headers,
                          size_t nheaders, long long content_length);
/** Queues body bytes (copied). 0, or WEIR_EINVAL before start / after end. */
int wr_http_respond_write(wr_http_req *r, const void *data, size_t len);
/**
 * Ends the response. The request is freed once its bytes are handed to the socket; the
 * handler must not use r afterwards (on_abort is not called for it).
 */
int wr_http_respond_end(wr_http_req *r);
/**
 * Abandons a response mid-way (upstream reset mid-stream): h2 sends RST_STREAM
 * (INTERNAL_ERROR), h1 closes the connection without the terminating chunk, so the client
 * sees a truncated response rather than a complete one. r is freed.
 */
void wr_http_respond_abort(wr_http_req *r);
/** Convenience: start + write + end with a Content-Length. */
int wr_http_respond(wr_http_req *r, int status, const wr_http_header *headers, size_t nheaders,
                    const void *body, size_t len);

/** Response bytes queued and not yet written to the socket for this request. */
size_t wr_http_req_queued(const wr_http_req *r);
/** 1 when queued output is at or over the high watermark: pause the producer until on_drain. */
int wr_http_req_full(const wr_http_req *r);

/** Helper for static header lists: WR_HDR("content-type", "application/json"). */
#define WR_HDR(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

#endif
