/*
 * http_h1.c - HTTP/1.x connections: http-parser reads straight from the bufferevent's input
 * (no copy but into the request's arena), one request at a time (pipelined requests wait in
 * the input until the current response has ended), responses go into the output evbuffer.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sidecar/http_int.h"
#include "sidecar/sidecar.h"

#define WR_H1_BODY_RESERVE ((size_t)1024 * 1024)

static int wr_h1_on_message_begin(http_parser *p);
static int wr_h1_on_url(http_parser *p, const char *at, size_t n);
static int wr_h1_on_header_field(http_parser *p, const char *at, size_t n);
static int wr_h1_on_header_value(http_parser *p, const char *at, size_t n);
static int wr_h1_on_headers_complete(http_parser *p);
static int wr_h1_on_body(http_parser *p, const char *at, size_t n);
static int wr_h1_on_message_complete(http_parser *p);

static const http_parser_settings wr_h1_settings = {
    .on_message_begin = wr_h1_on_message_begin,
    .on_url = wr_h1_on_url,
    .on_header_field = wr_h1_on_header_field,
    .on_header_value = wr_h1_on_header_value,
    .on_headers_complete = wr_h1_on_headers_complete,
    .on_body = wr_h1_on_body,
    .on_message_complete = wr_h1_on_message_complete,
};

void wr_http_h1_init(wr_http_conn *c)
{
    http_parser_init(&c->hp, HTTP_REQUEST);
    c->hp.data = c;
    c->keepalive = 1;
}

/* ---------------------------------------------------------------- parser callbacks */

static int wr_h1_fail(wr_http_conn *c, int status, const char *msg)
{
    c->reject = status;
    c->reject_msg = msg;
    return -1;
}

static int wr_h1_count(wr_http_conn *c, size_t n)
{
    wr_http_req *r = c->cur;
    r->hdr_bytes += n;
    if (r->hdr_bytes > c->s->lim.max_header_bytes)
        return wr_h1_fail(c, 431, "request headers too large");
    return 0;
}

static int wr_h1_append(wr_http_conn *c, const char *at, size_t n)
{
    return wr_buf_append(&c->cur->arena, at, n) ? wr_h1_fail(c, 503, "out of memory") : 0;
}

static int wr_h1_on_message_begin(http_parser *p)
{
    wr_http_conn *c = p->data;
    wr_http_req *r = wr_http_req_new(c, 1);
    if (!r)
        return wr_h1_fail(c, 503, "out of memory");
    c->cur = r;
    c->hlast = 0;
    r->hdr_bytes = 16; /* method, version, separators */
    r->target_off = 0;
    wr_http_conn_timer(c, WR_T_HEADER, c->s->lim.header_timeout_ms);
    return 0;
}

static int wr_h1_on_url(http_parser *p, const char *at, size_t n)
{
    wr_http_conn *c = p->data;
    return wr_h1_count(c, n) ? -1 : wr_h1_append(c, at, n);
}

static int wr_h1_on_header_field(http_parser *p, const char *at, size_t n)
{
    wr_http_conn *c = p->data;
    wr_http_req *r = c->cur;
    if (r->headers_done) /* chunked trailers: counted, not kept */
        return wr_h1_count(c, n);
    if (c->hlast != 1) {
        if (wr_h1_append(c, "", 1)) /* ends the target or the previous value */
            return -1;
        if (r->nhoff >= c->s->lim.max_headers)
            return wr_h1_fail(c, 431, "too many header fields");
        wr_http_hoff *h = wr_grow(r->hoff, &r->hoffcap, r->nhoff + 1, sizeof *h, 16);
        if (!h)
            return wr_h1_fail(c, 503, "out of memory");
        r->hoff = h;
        h += r->nhoff++;
        h->no = r->arena.len;
        h->nl = h->vo = h->vl = 0;
        c->hlast = 1;
        if (wr_h1_count(c, 4))
            return -1;
    }
    if (wr_h1_count(c, n) || wr_h1_append(c, at, n))
        return -1;
    r->hoff[r->nhoff - 1].nl += n;
    return 0;
}

static int wr_h1_on_header_value(http_parser *p, const char *at, size_t n)
{
    wr_http_conn *c = p->data;
    wr_http_req *r = c->cur;
    if (r->headers_done)
        return wr_h1_count(c, n);
    if (!r->nhoff)
        return wr_h1_fail(c, 400, "header value without a name");
    wr_http_hoff *h = &r->hoff[r->nhoff - 1];
    if (c->hlast != 2) {
        if (wr_h1_append(c, "", 1))
            return -1;
        h->vo = r->arena.len;
        c->hlast = 2;
    }
    if (wr_h1_count(c, n) || wr_h1_append(c, at, n))
        return -1;
    h->vl += n;
    return 0;
}

static int wr_h1_on_headers_complete(http_parser *p)
{
    wr_http_conn *c = p->data;
    wr_http_req *r = c->cur;
    const wr_http_limits *lim = &c->s->lim;
    if (c->hlast == 1) { /* a name without a value: give it an empty one */
        if (wr_h1_append(c, "", 1))
            return -1;
        r->hoff[r->nhoff - 1].vo = r->arena.len;
    }
    if (wr_h1_append(c, "", 1))
        return -1;
    r->method = http_method_str((enum http_method)p->method);
    r->minor = p->http_minor;
    r->head = p->method == HTTP_HEAD;
    if (wr_http_req_finish_headers(r))
        return wr_h1_fail(c, 503, "out of memory");
    if (p->http_major != 1)
        return wr_h1_fail(c, 505, "HTTP version not supported");
    wr_http_conn_timer(c, WR_T_NONE, 0);
    c->keepalive = http_should_keep_alive(p) && p->method != HTTP_CONNECT;
    int has_length = (p->flags & F_CONTENTLENGTH) != 0;
    int has_body = (p->flags & F_CHUNKED) || (has_length && p->content_length > 0);
    if (has_length && p->content_length > (uint64_t)lim->max_body_bytes) {
        r->error = 413;
        r->errmsg = "request body too large";
        c->keepalive = 0;
        c->ready = 1;
        http_parser_pause(p, 1);
        return 0;
    }
    if (!has_body)
        return 0;
    if (r->minor >= 1) {
        const char *e = wr_http_req_header(r, "expect");
        if (e && strcasecmp(e, "100-continue") == 0)
            evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    if (has_length) {
        size_t want = (size_t)p->content_length;
        if (wr_buf_reserve(&r->body, want < WR_H1_BODY_RESERVE ? want : WR_H1_BODY_RESERVE))
            return wr_h1_fail(c, 503, "out of memory");
    }
    wr_http_conn_timer(c, WR_T_BODY, lim->body_timeout_ms);
    return 0;
}

static int wr_h1_on_body(http_parser *p, const char *at, size_t n)
{
    wr_http_conn *c = p->data;
    wr_http_req *r = c->cur;
    if (n > c->s->lim.max_body_bytes - r->body.len) {
        r->error = 413;
        r->errmsg = "request body too large";
        c->keepalive = 0;
        c->ready = 1;
        http_parser_pause(p, 1);
        return 0;
    }
    if (wr_buf_append(&r->body, at, n))
        return wr_h1_fail(c, 503, "out of memory");
    return 0;
}

static int wr_h1_on_message_complete(http_parser *p)
{
    wr_http_conn *c = p->data;
    c->ready = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* ---------------------------------------------------------------- connection */

/* The server answers by itself (431, 400, 408, 505, 503) and closes. */
static void wr_h1_reject(wr_http_conn *c, int status, const char *msg)
{
    if (c->cur)
        wr_http_req_free(c->cur);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                     status, wr_http_reason(status), wr_sidecar_server_name(),
                     wr_http_date(c->s), strlen(msg) + 1, msg);
    if (n > 0 && (size_t)n < sizeof head)
        evbuffer_add(bufferevent_get_output(c->bev), head, (size_t)n);
    c->keepalive = 0;
    wr_http_conn_reject_cb(c, status, msg);
    wr_http_conn_close_after_flush(c);
}

static void wr_h1_dispatch(wr_http_conn *c)
{
    wr_http_req *r = c->cur;
    c->ready = 0;
    c->paused = 1;
    wr_http_conn_timer(c, WR_T_NONE, 0);
    if (r->error)
        r->body.len = 0;
    wr_http_req_dispatch(r);
}

static void wr_h1_parse_error(wr_http_conn *c, enum http_errno e)
{
    wr_http_req *r = c->cur;
    if (c->reject) {
        wr_h1_reject(c, c->reject, c->reject_msg);
    } else if (e == HPE_HEADER_OVERFLOW) {
        wr_h1_reject(c, 431, "request headers too large");
    } else if (r && r->headers_done && r->state == WR_RQ_READING) {
        r->error = 400; /* bad body framing: the handler answers in its own shape */
        r->errmsg = http_errno_description(e);
        c->keepalive = 0;
        wr_h1_dispatch(c);
    } else {
        wr_h1_reject(c, 400, http_errno_description(e));
    }
}

void wr_http_h1_process(wr_http_conn *c)
{
    if (c->in_process || c->dead)
        return;
    wr_http_conn_hold(c);
    c->in_process = 1;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t hwm = c->s->lim.high_watermark;
    while (!c->dead && !c->closing) {
        if (c->cur && c->cur->state != WR_RQ_READING)
            break; /* the current response has not ended */
        if (!c->cur && evbuffer_get_length(out) >= hwm)
            break; /* a client that does not read gets no more responses: write_cb resumes */
        if (evbuffer_get_length(in) == 0)
            break;
        if (c->paused) {
            http_parser_pause(&c->hp, 0);
            c->paused = 0;
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || !v.iov_len)
            break;
        size_t n = http_parser_execute(&c->hp, &wr_h1_settings, v.iov_base, v.iov_len);
        evbuffer_drain(in, n);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->hp);
        if (c->ready) {
            wr_h1_dispatch(c);
            continue;
        }
        if (e != HPE_OK) {
            wr_h1_parse_error(c, e);
            break;
        }
        if (n < v.iov_len) { /* the parser stopped without saying why */
            wr_h1_parse_error(c, HPE_UNKNOWN);
            break;
        }
    }
    c->in_process = 0;
    if (!c->dead && !c->closing) {
        if (!c->cur) {
            if (evbuffer_get_length(out) == 0)
                wr_http_conn_timer(c, WR_T_IDLE, c->s->lim.idle_timeout_ms);
            else if (c->tmode == WR_T_IDLE)
                wr_http_conn_timer(c, WR_T_NONE, 0);
        } else if (c->cur->state == WR_RQ_READING && c->cur->headers_done) {
            wr_http_conn_timer(c, WR_T_BODY, c->s->lim.body_timeout_ms);
        }
    }
    wr_http_conn_release(c);
}

void wr_http_h1_on_write(wr_http_conn *c)
{
    size_t len = evbuffer_get_length(bufferevent_get_output(c->bev));
    wr_http_req *r = c->cur;
    if (r && r->state == WR_RQ_HANDLER && r->was_full && len <= c->s->lim.high_watermark / 2) {
        wr_http_req_clear_full(r);
        if (c->h->on_drain)
            c->h->on_drain(r, c->user);
        if (c->dead)
            return;
    }
    if (c->closing || (c->cur && c->cur->state != WR_RQ_READING))
        return;
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
        wr_http_h1_process(c); /* pipelined input waited for the output to go down */
    else if (!c->cur && len == 0)
        wr_http_conn_timer(c, WR_T_IDLE, c->s->lim.idle_timeout_ms);
}

void wr_http_h1_on_eof(wr_http_conn *c)
{
    /* A half-closed client is treated as gone (as nginx does): in-flight requests abort. */
    if (c->cur || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        wr_http_conn_close(c);
    else
        wr_http_conn_close_after_flush(c);
}

void wr_http_h1_timeout(wr_http_conn *c)
{
    wr_http_req *r = c->cur;
    if (r && r->state == WR_RQ_READING && r->headers_done) {
        r->error = 408;
        r->errmsg = "request body timeout";
        c->keepalive = 0;
        http_parser_pause(&c->hp, 1);
        wr_h1_dispatch(c);
    } else if (r && r->state == WR_RQ_READING) {
        wr_h1_reject(c, 408, "request header timeout");
    } else {
        wr_http_conn_close(c);
    }
}

/* ---------------------------------------------------------------- responses */

static void wr_h1_put(wr_buf *b, const char *s, size_t n)
{
    wr_buf_append(b, s, n);
}

#define WR_H1_PUTS(b, lit) wr_h1_put((b), (lit), sizeof(lit) - 1)

static void wr_h1_put_u(wr_buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wr_h1_put(b, tmp + i, sizeof tmp - i);
}

/* A "Connection" header whose value has the token "close". */
static int wr_h1_asks_close(const wr_http_header *h)
{
    if (!h->name || !h->value || !wr_http_name_is(h->name, h->name_len, "connection"))
        return 0;
    for (size_t i = 0; i + 5 <= h->value_len; i++)
        if (strncasecmp(h->value + i, "close", 5) == 0 &&
            (i == 0 || h->value[i - 1] == ' ' || h->value[i - 1] == ',') &&
            (i + 5 == h->value_len || h->value[i + 5] == ' ' || h->value[i + 5] == ','))
            return 1;
    return 0;
}

int wr_http_h1_start(wr_http_req *r, int status, const wr_http_header *h, size_t n,
                     long long clen)
{
    wr_http_conn *c = r->c;
    wr_http_server *s = c->s;
    wr_buf *b = &s->scratch;
    b->len = 0;
    b->oom = 0;
    int bodyless = r->head || status == 204 || status == 304;
    const char *reason = wr_http_reason(status);
    WR_H1_PUTS(b, "HTTP/1.1 ");
    wr_h1_put_u(b, (unsigned long long)status);
    WR_H1_PUTS(b, " ");
    wr_h1_put(b, reason, strlen(reason));
    WR_H1_PUTS(b, "\r\n");
    int has_date = 0, has_server = 0;
    for (size_t i = 0; i < n; i++) {
        if (wr_http_hdr_skip(&h[i])) {
            if (wr_h1_asks_close(&h[i]))
                c->keepalive = 0; /* the handler's "Connection: close" is honoured */
            continue;
        }
        has_date |= wr_http_name_is(h[i].name, h[i].name_len, "date");
        has_server |= wr_http_name_is(h[i].name, h[i].name_len, "server");
        wr_h1_put(b, h[i].name, h[i].name_len);
        WR_H1_PUTS(b, ": ");
        wr_h1_put(b, h[i].value, h[i].value_len);
        WR_H1_PUTS(b, "\r\n");
    }
    if (!has_date) {
        WR_H1_PUTS(b, "Date: ");
        wr_h1_put(b, wr_http_date(s), strlen(wr_http_date(s)));
        WR_H1_PUTS(b, "\r\n");
    }
    if (!has_server) {
        const char *sv = wr_sidecar_server_name();
        WR_H1_PUTS(b, "Server: ");
        wr_h1_put(b, sv, strlen(sv));
        WR_H1_PUTS(b, "\r\n");
    }
    if (clen >= 0) {
        if (status != 204 && status != 304) {
            WR_H1_PUTS(b, "Content-Length: ");
            wr_h1_put_u(b, (unsigned long long)clen);
            WR_H1_PUTS(b, "\r\n");
        }
    } else if (!bodyless) {
        if (r->minor >= 1) {
            r->chunked = 1;
            WR_H1_PUTS(b, "Transfer-Encoding: chunked\r\n");
        } else {
            c->keepalive = 0; /* HTTP/1.0: the body ends with the connection */
        }
    }
    if (!c->keepalive)
        WR_H1_PUTS(b, "Connection: close\r\n");
    else if (r->minor == 0)
        WR_H1_PUTS(b, "Connection: keep-alive\r\n");
    WR_H1_PUTS(b, "\r\n");
    if (b->oom || evbuffer_add(bufferevent_get_output(c->bev), b->data, b->len))
        return WEIR_ENOMEM;
    r->no_body = bodyless || (clen >= 0 && (status == 204 || status == 304));
    return 0;
}

int wr_http_h1_write(wr_http_req *r, const void *data, size_t len)
{
    if (r->no_body)
        return 0;
    if (r->clen >= 0) {
        unsigned long long left = (unsigned long long)r->clen - r->sent;
        if (len > left)
            len = (size_t)left; /* never more than announced */
        if (!len)
            return 0;
    }
    struct evbuffer *out = bufferevent_get_output(r->c->bev);
    if (r->chunked) {
        char hd[24];
        int k = snprintf(hd, sizeof hd, "%zx\r\n", len);
        if (evbuffer_add(out, hd, (size_t)k) || evbuffer_add(out, data, len) ||
            evbuffer_add(out, "\r\n", 2))
            return WEIR_ENOMEM;
    } else if (evbuffer_add(out, data, len)) {
        return WEIR_ENOMEM;
    }
    r->sent += len;
    if (evbuffer_get_length(out) >= r->c->s->lim.high_watermark)
        wr_http_req_mark_full(r);
    return 0;
}

int wr_http_h1_end(wr_http_req *r)
{
    wr_http_conn *c = r->c;
    if (r->chunked && evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5))
        return WEIR_ENOMEM;
    if (r->clen >= 0 && !r->no_body && r->sent < (unsigned long long)r->clen)
        c->keepalive = 0; /* short body: closing is the only way to tell the client */
    wr_http_req_release(r);
    wr_http_req_free(r);
    if (!c->keepalive)
        wr_http_conn_close_after_flush(c);
    else if (!c->in_process)
        wr_http_conn_schedule(c);
    return 0;
}

void wr_http_h1_abort(wr_http_req *r)
{
    wr_http_conn *c = r->c;
    c->keepalive = 0;
    wr_http_req_release(r);
    wr_http_req_free(r);
    wr_http_conn_close_after_flush(c); /* what was queued goes out, then no final chunk */
}

size_t wr_http_h1_queued(const wr_http_req *r)
{
    return r->c->cur == r ? evbuffer_get_length(bufferevent_get_output(r->c->bev)) : 0;
}
