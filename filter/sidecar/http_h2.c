/*
 * http_h2.c - HTTP/2 connections (h2c with prior knowledge): an nghttp2 server session fed
 * from the bufferevent's input, frames written to its output. Every response uses a data
 * provider that defers while nothing is queued; DATA payloads move from the request's
 * evbuffer to the socket's without a copy (NGHTTP2_DATA_FLAG_NO_COPY). Responses are
 * flushed on the next loop turn (or at the end of the read that dispatched them), so
 * start + write + end of a small answer leave as one HEADERS and one DATA frame.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/http_int.h"
#include "sidecar/sidecar.h"

#define WR_H2_STREAM_WINDOW (512 * 1024)
#define WR_H2_CONN_WINDOW (16 << 20)
#define WR_H2_BODY_RESERVE ((size_t)1024 * 1024)

static wr_http_req *wr_h2_req(nghttp2_session *ng, int32_t sid)
{
    return nghttp2_session_get_stream_user_data(ng, sid);
}

static nghttp2_nv wr_h2_nv(const char *n, size_t nl, const char *v, size_t vl)
{
    nghttp2_nv x = {(uint8_t *)n, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
    return x;
}

#define WR_H2_NV_LIT(n, v, vl) wr_h2_nv((n), sizeof(n) - 1, (v), (vl))

/* Flush on the next loop turn unless a read is being processed (it flushes at its end). */
static void wr_h2_kick(wr_http_conn *c)
{
    if (!c->in_process)
        wr_http_conn_schedule(c);
}

/* ---------------------------------------------------------------- the ready queue */

static void wr_h2_forgive(wr_http_conn *c, wr_http_req *r);

static void wr_h2_ready(wr_http_conn *c, wr_http_req *r)
{
    wr_h2_forgive(c, r); /* no more body: its stream window does not matter */
    r->state = WR_RQ_READY;
    r->rnext = NULL;
    if (c->rq_tail)
        c->rq_tail->rnext = r;
    else
        c->rq_head = r;
    c->rq_tail = r;
}

static void wr_h2_unqueue(wr_http_conn *c, wr_http_req *r)
{
    wr_http_req *prev = NULL;
    for (wr_http_req *i = c->rq_head; i; prev = i, i = i->rnext) {
        if (i != r)
            continue;
        if (prev)
            prev->rnext = r->rnext;
        else
            c->rq_head = r->rnext;
        if (c->rq_tail == r)
            c->rq_tail = prev;
        r->rnext = NULL;
        return;
    }
}

static void wr_h2_dispatch_ready(wr_http_conn *c)
{
    wr_http_req *r;
    while (!c->dead && (r = c->rq_head) != NULL) {
        c->rq_head = r->rnext;
        if (!c->rq_head)
            c->rq_tail = NULL;
        r->rnext = NULL;
        if (r->state != WR_RQ_READY)
            continue;
        if (r->error)
            r->body.len = 0;
        wr_http_req_dispatch(r);
    }
}

/* Aborts and frees every request (protocol error, timeout): nghttp2 forgets them first. */
static void wr_h2_drop_all(wr_http_conn *c)
{
    c->rq_head = c->rq_tail = NULL;
    wr_http_req *r;
    while ((r = c->reqs) != NULL) {
        nghttp2_session_set_stream_user_data(c->ng, r->stream_id, NULL);
        wr_http_req_abort_handler(r);
        if (c->reqs == r)
            wr_http_req_free(r);
    }
}

/* ---------------------------------------------------------------- nghttp2 callbacks */

static ssize_t wr_h2_send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
                             void *ud)
{
    (void)ng;
    (void)flags;
    wr_http_conn *c = ud;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= c->s->lim.high_watermark)
        return NGHTTP2_ERR_WOULDBLOCK; /* the write callback sends the rest */
    if (evbuffer_add(out, data, len))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int wr_h2_send_data_cb(nghttp2_session *ng, nghttp2_frame *f, const uint8_t *hd,
                              size_t len, nghttp2_data_source *src, void *ud)
{
    (void)ng;
    static const uint8_t zeros[256];
    wr_http_conn *c = ud;
    wr_http_req *r = src->ptr;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= c->s->lim.high_watermark)
        return NGHTTP2_ERR_WOULDBLOCK;
    size_t pad = f->data.padlen;
    uint8_t padlen = (uint8_t)(pad ? pad - 1 : 0);
    if (evbuffer_add(out, hd, 9) || (pad && evbuffer_add(out, &padlen, 1)))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (len && evbuffer_remove_buffer(r->out, out, len) != (int)len)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (pad > 1 && evbuffer_add(out, zeros, pad - 1))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static ssize_t wr_h2_read_cb(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t length,
                             uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ng;
    (void)sid;
    (void)buf;
    (void)ud;
    wr_http_req *r = src->ptr;
    size_t avail = evbuffer_get_length(r->out);
    if (!avail && !r->ended) {
        r->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = avail < length ? avail : length;
    if (r->ended && n == avail)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (n)
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return (ssize_t)n;
}

static int wr_h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    wr_http_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    wr_http_req *r = wr_http_req_new(c, 2);
    if (!r)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    r->stream_id = f->hd.stream_id;
    r->deadline_ms = wr_http_now_ms() + c->s->lim.header_timeout_ms;
    if (nghttp2_session_set_stream_user_data(ng, r->stream_id, r)) {
        wr_http_req_free(r);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int wr_h2_pseudo(wr_http_req *r, size_t *off, const char *v, size_t vl)
{
    if (*off != SIZE_MAX)
        return 0; /* nghttp2 rejects duplicates; keep the first anyway */
    *off = r->arena.len;
    return wr_buf_append(&r->arena, v, vl) || wr_buf_append(&r->arena, "", 1);
}

static int wr_h2_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                           size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)flags;
    wr_http_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers are not kept */
    wr_http_req *r = wr_h2_req(ng, f->hd.stream_id);
    if (!r || r->reject)
        return 0;
    const wr_http_limits *lim = &c->s->lim;
    const char *n = (const char *)name, *v = (const char *)value;
    r->hdr_bytes += nl + vl + 32;
    if (r->hdr_bytes > lim->max_header_bytes) {
        r->reject = 431;
        r->errmsg = "request headers too large";
        return 0;
    }
    int rc = 0;
    if (nl && n[0] == ':') {
        if (nl == 7 && memcmp(n, ":method", 7) == 0) {
            rc = wr_h2_pseudo(r, &r->method_off, v, vl);
        } else if (nl == 5 && memcmp(n, ":path", 5) == 0) {
            rc = wr_h2_pseudo(r, &r->target_off, v, vl);
        } else if (nl == 10 && memcmp(n, ":authority", 10) == 0 && !r->has_host) {
            r->has_host = 1;
            rc = wr_http_req_add_header(r, "host", 4, v, vl);
        }
        return rc ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
    }
    if (nl == 4 && memcmp(n, "host", 4) == 0 && r->has_host)
        return 0; /* :authority already gave it */
    if (r->nhoff >= lim->max_headers) {
        r->reject = 431;
        r->errmsg = "too many header fields";
        return 0;
    }
    if (nl == 4 && memcmp(n, "host", 4) == 0)
        r->has_host = 1;
    return wr_http_req_add_header(r, n, nl, v, vl) ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

/* The server answers a stream itself (431): never reaches the handler. */
static void wr_h2_reject_stream(wr_http_conn *c, wr_http_req *r)
{
    char st[8];
    snprintf(st, sizeof st, "%d", r->reject);
    const char *date = wr_http_date(c->s), *sv = wr_sidecar_server_name();
    nghttp2_nv nv[] = {
        WR_H2_NV_LIT(":status", st, strlen(st)),
        WR_H2_NV_LIT("server", sv, strlen(sv)),
        WR_H2_NV_LIT("date", date, strlen(date)),
        WR_H2_NV_LIT("content-length", "0", 1),
    };
    r->state = WR_RQ_ENDED;
    r->rst_after = 1;
    nghttp2_submit_response(c->ng, r->stream_id, nv, WR_ARRAY_LEN(nv), NULL);
    wr_http_conn_reject_cb(c, r->reject, r->errmsg);
}

static int wr_h2_parse_len(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (ULLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (unsigned long long)(*s - '0');
    }
    *out = v;
    return 0;
}

static int wr_h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    wr_http_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    wr_http_req *r = wr_h2_req(ng, f->hd.stream_id);
    if (!r)
        return 0;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (end)
        r->remote_closed = 1;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (r->reject) {
            wr_h2_reject_stream(c, r);
            return 0;
        }
        if (wr_http_req_finish_headers(r))
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        r->head = strcmp(r->method, "HEAD") == 0;
        r->deadline_ms = wr_http_now_ms() + c->s->lim.body_timeout_ms;
        const char *cl = wr_http_req_header(r, "content-length");
        unsigned long long len = 0;
        if (cl && wr_h2_parse_len(cl, &len) == 0) {
            if (len > c->s->lim.max_body_bytes) {
                r->error = 413;
                r->errmsg = "request body too large";
                r->rst_after = 1;
                wr_h2_ready(c, r);
                return 0;
            }
            if (wr_buf_reserve(&r->body, len < WR_H2_BODY_RESERVE ? (size_t)len
                                                                  : WR_H2_BODY_RESERVE))
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
    }
    if (end && r->state == WR_RQ_READING && r->headers_done)
        wr_h2_ready(c, r);
    return 0;
}

/* Request body bytes one connection may hold before its streams' windows stay shut. */
static size_t wr_h2_budget(const wr_http_conn *c)
{
    size_t b = c->s->lim.max_body_bytes;
    return b > SIZE_MAX / 2 ? SIZE_MAX : 2 * b;
}

/*
 * Over budget, one stream still reading keeps getting its window back so that some request
 * always completes (and frees its share); 1 if r is (now) that stream.
 */
static int wr_h2_favor(wr_http_conn *c, wr_http_req *r)
{
    wr_http_req *f = c->h2_favored ? wr_h2_req(c->ng, c->h2_favored) : NULL;
    if (f && f->state == WR_RQ_READING)
        return f == r;
    if (r->state != WR_RQ_READING)
        return 0;
    c->h2_favored = r->stream_id;
    return 1;
}

static int wr_h2_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t sid,
                               const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    wr_http_conn *c = ud;
    wr_http_req *r = wr_h2_req(ng, sid);
    if (!r || r->state != WR_RQ_READING || len > c->s->lim.max_body_bytes - r->body.len) {
        nghttp2_session_consume(ng, sid, len); /* dropped: the window opens at once */
        if (r && r->state == WR_RQ_READING) {
            r->error = 413;
            r->errmsg = "request body too large";
            r->rst_after = 1;
            wr_h2_ready(c, r);
        }
        return 0;
    }
    if (wr_buf_append(&r->body, data, len)) {
        nghttp2_session_consume(ng, sid, len);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    r->counted += len;
    c->h2_body += len;
    if (c->h2_body <= wr_h2_budget(c) || wr_h2_favor(c, r)) {
        nghttp2_session_consume(ng, sid, len);
    } else {
        /*
         * Over budget: this stream's window stays shut until earlier requests are done;
         * the connection's reopens, so the favored stream can always go on.
         */
        nghttp2_session_consume_connection(ng, len);
        r->owed += len;
        c->h2_owed += len;
    }
    r->deadline_ms = wr_http_now_ms() + c->s->lim.body_timeout_ms;
    return 0;
}

/* Stream window held back from r is no longer owed (r is done reading or gone). */
static void wr_h2_forgive(wr_http_conn *c, wr_http_req *r)
{
    c->h2_owed -= r->owed < c->h2_owed ? r->owed : c->h2_owed;
    r->owed = 0;
}

/* A request leaves: its body leaves the budget. */
void wr_http_h2_req_gone(wr_http_req *r)
{
    wr_http_conn *c = r->c;
    c->h2_body -= r->counted < c->h2_body ? r->counted : c->h2_body;
    r->counted = 0;
    wr_h2_forgive(c, r);
}

/*
 * Gives held windows back: all of them once the budget allows, else the favored stream's.
 * With dry_run, only says whether anything would be given back.
 */
static int wr_h2_repay(wr_http_conn *c, int dry_run)
{
    if (!c->h2_owed)
        return 0;
    int under = c->h2_body <= wr_h2_budget(c), paid = 0;
    for (wr_http_req *r = c->reqs; r; r = r->next) {
        if (!r->owed || r->state != WR_RQ_READING || (!under && !wr_h2_favor(c, r)))
            continue;
        if (dry_run)
            return 1;
        nghttp2_session_consume_stream(c->ng, r->stream_id, r->owed);
        wr_h2_forgive(c, r);
        paid = 1;
    }
    return paid;
}

static int wr_h2_on_stream_close(nghttp2_session *ng, int32_t sid, uint32_t code, void *ud)
{
    (void)code;
    wr_http_conn *c = ud;
    wr_http_req *r = wr_h2_req(ng, sid);
    if (!r)
        return 0;
    if (r->state == WR_RQ_READY)
        wr_h2_unqueue(c, r);
    wr_http_req_abort_handler(r); /* reset by the client while the handler had it */
    wr_http_req_free(r);
    return 0;
}

static int wr_h2_on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    wr_http_conn *c = ud;
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
        char msg[96]; /* nghttp2 found a connection error in what the client sent */
        snprintf(msg, sizeof msg, "h2 protocol error: %s",
                 nghttp2_http2_strerror(f->goaway.error_code));
        wr_http_conn_reject_cb(c, 400, msg);
        return 0;
    }
    if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    /*
     * Answered early: RFC 9113 §8.1 lets a server reset the stream with NO_ERROR once the
     * answer is out. For a 413 the client is still uploading, and clients (curl 7.88) then
     * sometimes report the reset instead of the answer: the rest of that body is consumed
     * and dropped as it arrives (wr_h2_on_data_chunk) so the client sees the 413. A stream
     * whose body never came (408) is reset.
     */
    wr_http_req *r = wr_h2_req(ng, f->hd.stream_id);
    if (r && r->rst_after && !r->remote_closed && r->error != 413)
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

int wr_http_h2_callbacks(wr_http_server *s)
{
    if (nghttp2_session_callbacks_new(&s->ngcb) || nghttp2_option_new(&s->ngopt))
        return WEIR_ENOMEM;
    nghttp2_session_callbacks *cb = s->ngcb;
    nghttp2_session_callbacks_set_send_callback(cb, wr_h2_send_cb);
    nghttp2_session_callbacks_set_send_data_callback(cb, wr_h2_send_data_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, wr_h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, wr_h2_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, wr_h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, wr_h2_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, wr_h2_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, wr_h2_on_frame_send);
    /* request bodies give their window back as they are buffered, within a budget */
    nghttp2_option_set_no_auto_window_update(s->ngopt, 1);
    return 0;
}

/* ---------------------------------------------------------------- connection */

int wr_http_h2_init(wr_http_conn *c)
{
    if (nghttp2_session_server_new2(&c->ng, c->s->ngcb, c, c->s->ngopt)) {
        c->ng = NULL;
        return WEIR_ENOMEM;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->s->lim.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WR_H2_STREAM_WINDOW},
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, WR_ARRAY_LEN(iv)) ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, WR_H2_CONN_WINDOW))
        return WEIR_ENOMEM;
    return 0;
}

void wr_http_h2_free(wr_http_conn *c)
{
    if (c->ng)
        nghttp2_session_del(c->ng);
    c->ng = NULL;
}

/* Timer: the earliest deadline of a stream still being read, else idle when nothing is open. */
static void wr_h2_arm(wr_http_conn *c)
{
    if (c->dead || c->closing)
        return;
    uint64_t first = UINT64_MAX;
    for (wr_http_req *r = c->reqs; r; r = r->next)
        if (r->state == WR_RQ_READING && r->deadline_ms < first)
            first = r->deadline_ms;
    if (first != UINT64_MAX) {
        uint64_t now = wr_http_now_ms();
        uint64_t ms = first > now ? first - now + 1 : 1;
        wr_http_conn_timer(c, WR_T_STREAMS, ms > UINT_MAX ? UINT_MAX : (unsigned)ms);
    } else if (!c->reqs && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        wr_http_conn_timer(c, WR_T_IDLE, c->s->lim.idle_timeout_ms);
    } else {
        wr_http_conn_timer(c, WR_T_NONE, 0);
    }
}

/* on_drain for requests that were full and fell to half the watermark; 1 if any was called. */
static int wr_h2_check_drain(wr_http_conn *c)
{
    if (!c->nfull)
        return 0;
    size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
    size_t half = c->s->lim.high_watermark / 2;
    int called = 0;
    c->ng_busy++; /* no session_send (which could free requests) while walking the list */
    wr_http_req *next;
    for (wr_http_req *r = c->reqs; r && !c->dead; r = next) {
        next = r->next;
        if (!r->was_full || r->state != WR_RQ_HANDLER || evbuffer_get_length(r->out) + out > half)
            continue;
        wr_http_req_clear_full(r);
        if (c->h->on_drain) {
            c->h->on_drain(r, c->user);
            called = 1;
        }
    }
    c->ng_busy--;
    return called;
}

void wr_http_h2_flush(wr_http_conn *c)
{
    if (c->dead || !c->ng)
        return;
    for (int round = 0; round < 4; round++) {
        if (c->ng_busy)
            return;
        wr_h2_repay(c, 0);
        c->ng_busy++;
        int rv = nghttp2_session_send(c->ng);
        c->ng_busy--;
        if (c->dead)
            return;
        if (rv) {
            wr_http_conn_close(c);
            return;
        }
        int again = wr_h2_check_drain(c);
        if (c->dead)
            return;
        if (!again && !wr_h2_repay(c, 1))
            break;
    }
    if (c->dead || c->closing)
        return;
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        wr_h2_drop_all(c); /* GOAWAY exchanged and nothing open */
        wr_http_conn_close_after_flush(c);
    } else if (!c->reqs && c->tmode != WR_T_IDLE &&
               evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        wr_http_conn_timer(c, WR_T_IDLE, c->s->lim.idle_timeout_ms);
    }
}

/* A connection-level failure: GOAWAY (if nghttp2 queued one) goes out, then close. */
static void wr_h2_fail(wr_http_conn *c, int status, const char *msg)
{
    wr_http_conn_reject_cb(c, status, msg);
    if (c->dead)
        return;
    wr_h2_drop_all(c);
    c->ng_busy++;
    (void)nghttp2_session_send(c->ng);
    c->ng_busy--;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    wr_http_conn_close_after_flush(c);
}

void wr_http_h2_process(wr_http_conn *c)
{
    if (c->dead || c->closing)
        return;
    wr_http_conn_hold(c);
    c->in_process = 1;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    ssize_t failed = 0;
    c->ng_busy++;
    while (!c->dead && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || !v.iov_len)
            break;
        ssize_t rv = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
        if (rv < 0) {
            failed = rv;
            break;
        }
        evbuffer_drain(in, (size_t)rv);
    }
    c->ng_busy--;
    if (failed && !c->dead)
        wr_h2_fail(c, 400, nghttp2_strerror((int)failed));
    if (!c->dead && !c->closing) {
        wr_h2_dispatch_ready(c);
        wr_http_h2_flush(c);
        wr_h2_arm(c);
    }
    c->in_process = 0;
    wr_http_conn_release(c);
}

void wr_http_h2_timeout(wr_http_conn *c)
{
    uint64_t now = wr_http_now_ms();
    int header_stall = 0;
    for (wr_http_req *r = c->reqs; r; r = r->next) {
        if (r->state != WR_RQ_READING || r->deadline_ms > now)
            continue;
        if (!r->headers_done) {
            header_stall = 1; /* mid header block: the connection can do nothing else */
            break;
        }
        r->error = 408;
        r->errmsg = "request body timeout";
        r->rst_after = 1;
        wr_h2_ready(c, r);
    }
    if (header_stall) {
        nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
        wr_h2_fail(c, 408, "request header timeout");
        return;
    }
    wr_http_conn_hold(c);
    c->in_process = 1;
    wr_h2_dispatch_ready(c);
    wr_http_h2_flush(c);
    wr_h2_arm(c);
    c->in_process = 0;
    wr_http_conn_release(c);
}

void wr_http_h2_idle(wr_http_conn *c)
{
    if (c->reqs) {
        wr_h2_arm(c);
        return;
    }
    nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
    wr_http_h2_flush(c);
    wr_http_conn_close_after_flush(c);
}

/* ---------------------------------------------------------------- responses */

int wr_http_h2_start(wr_http_req *r, int status, const wr_http_header *h, size_t n,
                     long long clen)
{
    wr_http_conn *c = r->c;
    wr_http_server *s = c->s;
    if (!r->out && !(r->out = evbuffer_new()))
        return WEIR_ENOMEM;
    nghttp2_nv stackv[32], *nv = stackv;
    if (n + 4 > WR_ARRAY_LEN(stackv) && !(nv = calloc(n + 4, sizeof *nv)))
        return WEIR_ENOMEM;
    wr_buf *b = &s->scratch; /* lower-cased names; reserved whole so pointers stay valid */
    b->len = 0;
    b->oom = 0;
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        if (!wr_http_hdr_skip(&h[i]))
            names += h[i].name_len;
    if (wr_buf_reserve(b, names + 1)) {
        if (nv != stackv)
            free(nv);
        return WEIR_ENOMEM;
    }
    char st[8], cl[24];
    snprintf(st, sizeof st, "%d", status);
    size_t k = 0;
    nv[k++] = WR_H2_NV_LIT(":status", st, strlen(st));
    int has_date = 0, has_server = 0;
    for (size_t i = 0; i < n; i++) {
        if (wr_http_hdr_skip(&h[i]))
            continue;
        char *lname = b->data + b->len;
        for (size_t j = 0; j < h[i].name_len; j++) {
            char ch = h[i].name[j];
            lname[j] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        b->len += h[i].name_len;
        has_date |= h[i].name_len == 4 && memcmp(lname, "date", 4) == 0;
        has_server |= h[i].name_len == 6 && memcmp(lname, "server", 6) == 0;
        nv[k++] = wr_h2_nv(lname, h[i].name_len, h[i].value, h[i].value_len);
    }
    const char *date = wr_http_date(s), *sv = wr_sidecar_server_name();
    if (!has_date)
        nv[k++] = WR_H2_NV_LIT("date", date, strlen(date));
    if (!has_server)
        nv[k++] = WR_H2_NV_LIT("server", sv, strlen(sv));
    if (clen >= 0 && status != 204 && status != 304) {
        snprintf(cl, sizeof cl, "%lld", clen);
        nv[k++] = WR_H2_NV_LIT("content-length", cl, strlen(cl));
    }
    /* Always a data provider: END_STREAM only once the handler has ended the response. */
    nghttp2_data_provider prd;
    prd.source.ptr = r;
    prd.read_callback = wr_h2_read_cb;
    int rv = nghttp2_submit_response(c->ng, r->stream_id, nv, k, &prd);
    if (nv != stackv)
        free(nv);
    if (rv)
        return WEIR_ENOMEM;
    r->no_body = r->head || status == 204 || status == 304;
    wr_h2_kick(c);
    return 0;
}

static void wr_h2_resume(wr_http_req *r)
{
    if (r->deferred) {
        r->deferred = 0;
        nghttp2_session_resume_data(r->c->ng, r->stream_id);
    }
}

int wr_http_h2_write(wr_http_req *r, const void *data, size_t len)
{
    wr_http_conn *c = r->c;
    if (r->no_body)
        return 0;
    if (r->clen >= 0) {
        unsigned long long left = (unsigned long long)r->clen - r->sent;
        if (len > left)
            len = (size_t)left;
        if (!len)
            return 0;
    }
    if (evbuffer_add(r->out, data, len))
        return WEIR_ENOMEM;
    r->sent += len;
    wr_h2_resume(r);
    if (wr_http_h2_queued(r) >= c->s->lim.high_watermark)
        wr_http_req_mark_full(r);
    wr_h2_kick(c);
    return 0;
}

void wr_http_h2_abort(wr_http_req *r)
{
    wr_http_conn *c = r->c;
    wr_http_req_release(r);
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
    wr_h2_kick(c); /* r is freed when nghttp2 closes the stream */
}

int wr_http_h2_end(wr_http_req *r)
{
    if (r->clen >= 0 && !r->no_body && r->sent < (unsigned long long)r->clen) {
        wr_http_h2_abort(r); /* short body: a reset, not a silently truncated answer */
        return 0;
    }
    r->ended = 1;
    wr_http_req_release(r);
    wr_h2_resume(r);
    wr_h2_kick(r->c);
    return 0;
}

size_t wr_http_h2_queued(const wr_http_req *r)
{
    return (r->out ? evbuffer_get_length(r->out) : 0) +
           evbuffer_get_length(bufferevent_get_output(r->c->bev));
}
