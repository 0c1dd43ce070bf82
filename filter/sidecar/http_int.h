/*
 * http_int.h - internals of the sidecar's HTTP server shared by http.c (server, listeners,
 * connections, the request object), http_h1.c (HTTP/1.1 over http-parser) and http_h2.c
 * (HTTP/2 over nghttp2). Not for the rest of the sidecar, except wr_http_server_adopt,
 * which tests and the fuzz harness use to serve an already-connected socket.
 */
#ifndef WEIR_SIDECAR_HTTP_INT_H
#define WEIR_SIDECAR_HTTP_INT_H

#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "sidecar/http.h"

struct sockaddr;

typedef struct wr_http_conn wr_http_conn;
typedef struct wr_http_listener wr_http_listener;

/** Where a request is in its life. */
enum wr_http_rq_state {
    WR_RQ_READING = 0, /**< headers or body still arriving */
    WR_RQ_READY,       /**< complete, waiting to be handed to on_request (h2 queue) */
    WR_RQ_HANDLER,     /**< owned by the handler: counted in in_flight */
    WR_RQ_ENDED        /**< handler done (or server answered); h2 waits for the stream to close */
};

/** Timer modes of a connection. */
enum wr_http_timer {
    WR_T_NONE = 0,
    WR_T_IDLE,   /**< keep-alive / no request: close silently */
    WR_T_SNIFF,  /**< part of the h2 preface arrived: close silently */
    WR_T_HEADER, /**< h1 request headers deadline: 408 */
    WR_T_BODY,   /**< h1 pause between body bytes: 408 via on_request */
    WR_T_STREAMS,/**< h2: earliest deadline of the streams still being read */
    WR_T_LINGER  /**< after shutdown(SHUT_WR): discard input, then close */
};

/** Offsets of one header in a request's arena while the block is being received. */
typedef struct wr_http_hoff {
    size_t no, nl, vo, vl;
} wr_http_hoff;

struct wr_http_req {
    wr_http_conn *c;
    wr_http_req *prev, *next; /* the connection's live requests */
    wr_http_req *rnext;       /* h2 ready queue; server free list */
    int version;              /* 1 or 2 */
    int minor;                /* h1: HTTP/1.<minor> */
    int32_t stream_id;        /* h2 */
    int state;                /* enum wr_http_rq_state */
    const char *method, *target;
    size_t method_off, target_off; /* in arena; SIZE_MAX = not given */
    wr_buf arena;                  /* NUL-terminated target, method (h2), names and values */
    wr_http_hoff *hoff;
    size_t nhoff, hoffcap;
    wr_http_header *hdrs;
    size_t nhdrs, hdrcap;
    size_t hdr_bytes;
    wr_buf body;
    int error;
    const char *errmsg;
    int reject; /* h2: the server answers this stream itself (431) */
    void *user;
    uint64_t deadline_ms; /* h2: when the stream times out while reading */
    size_t counted;       /* h2: body bytes counted in the connection's budget */
    size_t owed;          /* h2: received bytes not yet given back to flow control */
    /* response */
    long long clen; /* declared Content-Length, -1 streamed */
    unsigned long long sent;
    struct evbuffer *out; /* h2: DATA not yet taken by nghttp2 */
    unsigned headers_done : 1, started : 1, ended : 1, chunked : 1, no_body : 1, head : 1,
        was_full : 1, deferred : 1, rst_after : 1, remote_closed : 1, has_host : 1;
};

struct wr_http_conn {
    wr_http_server *s;
    const wr_http_handler *h;
    void *user;
    wr_http_conn *prev, *next;
    struct bufferevent *bev; /* output side only: input is read by `rev` (see http.c) */
    struct event *rev;       /* socket readable: one recv of up to 64 KiB into the input */
    struct event *flush;     /* output added while the bufferevent's EV_WRITE is off */
    struct event *tmr;
    struct event *resume;
    int tmode;   /* enum wr_http_timer */
    int proto;   /* 0 sniffing, 1 h1, 2 h2 */
    int busy;    /* nesting depth of callbacks on the stack: free is deferred while > 0 */
    unsigned dead : 1, closing : 1, lingering : 1, eof : 1;
    unsigned rd_full : 1, rd_done : 1; /* reading paused at the watermark / ended for good */
    char peer[64];
    char peer_ip[48];
    wr_http_req *reqs; /* live requests */
    /* h1 */
    http_parser hp;
    wr_http_req *cur; /* the request being read or answered */
    int hlast;        /* last parser data callback: 0 url, 1 field, 2 value */
    unsigned keepalive : 1, paused : 1, ready : 1, in_process : 1;
    int reject;
    const char *reject_msg;
    /* h2 */
    nghttp2_session *ng;
    wr_http_req *rq_head, *rq_tail;
    int ng_busy;  /* inside nghttp2: no session_send now */
    size_t nfull; /* requests with was_full set */
    size_t h2_body; /* request body bytes held by the connection's live requests */
    size_t h2_owed; /* sum of the requests' owed */
    int32_t h2_favored; /* over budget, this stream still gets its window back */
};

struct wr_http_listener {
    wr_http_listener *next;
    wr_http_server *s;
    struct evconnlistener *evl;
    const wr_http_handler *h;
    void *user;
};

struct wr_http_server {
    struct event_base *base;
    wr_http_limits lim;
    wr_http_listener *listeners;
    wr_http_conn *conns;
    size_t nconns, in_flight;
    wr_http_req *free_reqs;
    size_t nfree;
    wr_buf scratch;
    char *rbuf; /* WR_HTTP_READ_CHUNK bytes: recv target, copied into a connection's input */
    time_t date_t;
    char date[40];
    struct event *relisten;
    nghttp2_session_callbacks *ngcb;
    nghttp2_option *ngopt;
};

/**
 * Serves an already-connected socket `fd` (taken over: closed on failure too) as if it had
 * been accepted by a listener with `handler`/`user`. `peer` may be NULL. For tests and the
 * fuzz harness; 0, WEIR_ELIMIT over max_connections, WEIR_ENOMEM.
 */
int wr_http_server_adopt(wr_http_server *s, evutil_socket_t fd, const struct sockaddr *peer,
                         int peerlen, const wr_http_handler *handler, void *user);

/* ---- http.c, used by both protocols */

/** A fresh request on c (recycled when possible), linked into c->reqs. NULL: no memory. */
wr_http_req *wr_http_req_new(wr_http_conn *c, int version);
/** Unlinks and frees (or recycles) r. No callback. */
void wr_http_req_free(wr_http_req *r);
/** Appends one header (name/value copied into the arena). 0 or WEIR_ENOMEM. */
int wr_http_req_add_header(wr_http_req *r, const char *name, size_t nl, const char *value,
                           size_t vl);
/** Builds hdrs, method and target from the arena once the header block is complete. */
int wr_http_req_finish_headers(wr_http_req *r);
/** Hands r to on_request (state HANDLER, counted in flight). */
void wr_http_req_dispatch(wr_http_req *r);
/** The handler is done with r: state ENDED, no longer in flight. */
void wr_http_req_release(wr_http_req *r);
/** r reached the high watermark: on_drain is owed once it falls to half. */
void wr_http_req_mark_full(wr_http_req *r);
/** r no longer waits for on_drain. */
void wr_http_req_clear_full(wr_http_req *r);
/** Calls on_abort for r if the handler owns it. The caller frees r. */
void wr_http_req_abort_handler(wr_http_req *r);

/** Keeps c alive across callbacks that may close it. */
void wr_http_conn_hold(wr_http_conn *c);
/** Undoes one hold; frees c if it was closed meanwhile. */
void wr_http_conn_release(wr_http_conn *c);
/** Closes now: handler-owned requests get on_abort, pending output is dropped. */
void wr_http_conn_close(wr_http_conn *c);
/** Closes once pending output is written (then a short lingering close). */
void wr_http_conn_close_after_flush(wr_http_conn *c);
/** Arms (or with WR_T_NONE disarms) the connection timer. */
void wr_http_conn_timer(wr_http_conn *c, int mode, unsigned ms);
/** Runs the protocol's processing again on the next loop iteration. */
void wr_http_conn_schedule(wr_http_conn *c);
/** Calls on_reject, if set. */
void wr_http_conn_reject_cb(wr_http_conn *c, int status, const char *message);

/** 1 for response headers the server must not forward (hop-by-hop, framing, invalid). */
int wr_http_hdr_skip(const wr_http_header *h);
/** 1 when name[0..n) equals lower-case `lc` ignoring ASCII case. */
int wr_http_name_is(const char *name, size_t n, const char *lc);
/** IMF-fixdate of now, cached per second. */
const char *wr_http_date(wr_http_server *s);
/** Reason phrase for a status. Static. */
const char *wr_http_reason(int status);
/** Monotonic milliseconds. */
uint64_t wr_http_now_ms(void);

/*
 * ---- http_h1.c: init sets up the parser once the first bytes are not the h2 preface;
 * process parses what is buffered (one request at a time) and dispatches; on_write runs
 * on_drain and resumes pipelined input; on_eof / timeout handle a departed or slow
 * client; start/write/end/abort/queued implement the response API for HTTP/1.x.
 */
void wr_http_h1_init(wr_http_conn *c);
void wr_http_h1_process(wr_http_conn *c);
void wr_http_h1_on_write(wr_http_conn *c);
void wr_http_h1_on_eof(wr_http_conn *c);
void wr_http_h1_timeout(wr_http_conn *c);
int wr_http_h1_start(wr_http_req *r, int status, const wr_http_header *h, size_t n,
                     long long clen);
int wr_http_h1_write(wr_http_req *r, const void *data, size_t len);
int wr_http_h1_end(wr_http_req *r);
void wr_http_h1_abort(wr_http_req *r);
size_t wr_http_h1_queued(const wr_http_req *r);

/*
 * ---- http_h2.c: callbacks builds the server's nghttp2 callback table and options; init
 * starts a session (SETTINGS) on a connection that sent the preface; process feeds input
 * and dispatches completed streams; flush sends frames, gives flow-control windows back
 * and runs on_drain; timeout / idle handle slow streams and idle connections; free
 * deletes the session; req_gone updates the body budget when a request is freed;
 * start/write/end/abort/queued implement the response API for HTTP/2 streams.
 */
int wr_http_h2_callbacks(wr_http_server *s);
int wr_http_h2_init(wr_http_conn *c);
void wr_http_h2_process(wr_http_conn *c);
void wr_http_h2_flush(wr_http_conn *c);
void wr_http_h2_timeout(wr_http_conn *c);
void wr_http_h2_idle(wr_http_conn *c);
void wr_http_h2_free(wr_http_conn *c);
void wr_http_h2_req_gone(wr_http_req *r);
int wr_http_h2_start(wr_http_req *r, int status, const wr_http_header *h, size_t n,
                     long long clen);
int wr_http_h2_write(wr_http_req *r, const void *data, size_t len);
int wr_http_h2_end(wr_http_req *r);
void wr_http_h2_abort(wr_http_req *r);
size_t wr_http_h2_queued(const wr_http_req *r);

#endif
