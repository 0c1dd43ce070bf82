/*
 * http.c - the sidecar's HTTP server: listeners, connections, protocol sniffing, the request
 * object and the response API, dispatching to http_h1.c and http_h2.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/util.h>

#include "sidecar/http_int.h"

#define WR_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define WR_H2_PREFACE_LEN 24
#define WR_READ_HWM ((size_t)256 * 1024) /* input buffered while a request is in the handler */
#define WR_READ_CHUNK ((size_t)64 * 1024) /* at most one recv per readable event */
#define WR_WRITE_CHUNK 16384 /* per direct write, as the bufferevent writes (the rest: EV_WRITE) */
#define WR_LINGER_MS 2000u
#define WR_FREE_REQS 64

/* ---------------------------------------------------------------- small helpers */

uint64_t wr_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int wr_http_name_is(const char *name, size_t n, const char *lc)
{
    size_t i = 0;
    for (; i < n; i++) {
        unsigned char a = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (!lc[i] || a != (unsigned char)lc[i])
            return 0;
    }
    return lc[i] == '\0';
}

static int wr_http_tchar(unsigned char ch)
{
    if (ch <= ' ' || ch >= 127)
        return 0;
    return strchr("\"(),/:;<=>?@[\\]{}", ch) == NULL;
}

int wr_http_hdr_skip(const wr_http_header *h)
{
    static const char *const drop[] = {"connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade", "te", "trailer",
                                       "content-length", "http2-settings"};
    if (!h->name || !h->name_len || (h->value_len && !h->value))
        return 1;
    for (size_t i = 0; i < h->name_len; i++)
        if (!wr_http_tchar((unsigned char)h->name[i]))
            return 1;
    for (size_t i = 0; i < h->value_len; i++) {
        char ch = h->value[i];
        if (ch == '\r' || ch == '\n' || ch == '\0')
            return 1;
    }
    for (size_t i = 0; i < WR_ARRAY_LEN(drop); i++)
        if (wr_http_name_is(h->name, h->name_len, drop[i]))
            return 1;
    return 0;
}

const char *wr_http_date(wr_http_server *s)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct timeval tv;
    event_base_gettimeofday_cached(s->base, &tv);
    if (tv.tv_sec != s->date_t || !s->date[0]) {
        time_t t = tv.tv_sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(s->date, sizeof s->date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        s->date_t = tv.tv_sec;
    }
    return s->date;
}

const char *wr_http_reason(int status)
{
    const char *r = http_status_str((enum http_status)status);
    return (!r || r[0] == '<') ? "Unknown" : r;
}

static void wr_http_limits_fill(wr_http_limits *l, const wr_http_limits *in)
{
    if (in)
        *l = *in;
    else
        memset(l, 0, sizeof *l);
    if (!l->max_header_bytes)
        l->max_header_bytes = 64 * 1024;
    if (!l->max_headers)
        l->max_headers = 100;
    if (!l->max_body_bytes)
        l->max_body_bytes = 25000000;
    if (!l->header_timeout_ms)
        l->header_timeout_ms = 10000;
    if (!l->body_timeout_ms)
        l->body_timeout_ms = 30000;
    if (!l->idle_timeout_ms)
        l->idle_timeout_ms = 60000;
    if (!l->write_timeout_ms)
        l->write_timeout_ms = 60000;
    if (!l->high_watermark)
        l->high_watermark = 256 * 1024;
    if (l->high_watermark < 2)
        l->high_watermark = 2;
    if (!l->max_streams)
        l->max_streams = 128;
    if (!l->max_connections)
        l->max_connections = 4096;
}

/* http-parser's own header limit is a process global (80 KiB): raise it for larger limits. */
static void wr_http_parser_limit(size_t bytes)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static size_t cur = 80 * 1024;
    if (bytes > UINT32_MAX - 4096)
        bytes = UINT32_MAX - 4096;
    pthread_mutex_lock(&mu);
    if (bytes + 4096 > cur) {
        cur = bytes + 4096;
        http_parser_set_max_header_size((uint32_t)cur);
    }
    pthread_mutex_unlock(&mu);
}

/* ---------------------------------------------------------------- requests */

wr_http_req *wr_http_req_new(wr_http_conn *c, int version)
{
    wr_http_server *s = c->s;
    wr_http_req *r = s->free_reqs;
    if (r) {
        s->free_reqs = r->rnext;
        s->nfree--;
        wr_buf arena = r->arena, body = r->body;
        wr_http_hoff *hoff = r->hoff;
        wr_http_header *hdrs = r->hdrs;
        size_t hoffcap = r->hoffcap, hdrcap = r->hdrcap;
        struct evbuffer *out = r->out;
        memset(r, 0, sizeof *r);
        arena.len = body.len = 0;
        arena.oom = body.oom = 0;
        r->arena = arena;
        r->body = body;
        r->hoff = hoff;
        r->hoffcap = hoffcap;
        r->hdrs = hdrs;
        r->hdrcap = hdrcap;
        r->out = out;
    } else {
        r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
    }
    r->c = c;
    r->version = version;
    r->method_off = r->target_off = SIZE_MAX;
    r->clen = -1;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    return r;
}

static void wr_http_req_destroy(wr_http_req *r)
{
    wr_buf_free(&r->arena);
    wr_buf_free(&r->body);
    free(r->hoff);
    free(r->hdrs);
    if (r->out)
        evbuffer_free(r->out);
    free(r);
}

void wr_http_req_free(wr_http_req *r)
{
    if (!r)
        return;
    wr_http_conn *c = r->c;
    if (c) {
        if (r->prev)
            r->prev->next = r->next;
        else if (c->reqs == r)
            c->reqs = r->next;
        if (r->next)
            r->next->prev = r->prev;
        if (c->cur == r)
            c->cur = NULL;
        if (r->was_full && c->nfull)
            c->nfull--;
        if (c->proto == 2)
            wr_http_h2_req_gone(r);
    }
    wr_http_server *s = c ? c->s : NULL;
    if (s && s->nfree < WR_FREE_REQS && r->body.cap <= 256 * 1024 &&
        r->arena.cap <= 16 * 1024 && r->hoffcap <= 128) {
        if (r->out)
            evbuffer_drain(r->out, evbuffer_get_length(r->out));
        r->c = NULL;
        r->rnext = s->free_reqs;
        s->free_reqs = r;
        s->nfree++;
        return;
    }
    wr_http_req_destroy(r);
}

int wr_http_req_add_header(wr_http_req *r, const char *name, size_t nl, const char *value,
                           size_t vl)
{
    wr_http_hoff *h = wr_grow(r->hoff, &r->hoffcap, r->nhoff + 1, sizeof *h, 16);
    if (!h)
        return WEIR_ENOMEM;
    r->hoff = h;
    h += r->nhoff;
    h->no = r->arena.len;
    h->nl = nl;
    if (wr_buf_append(&r->arena, name, nl) || wr_buf_append(&r->arena, "", 1))
        return WEIR_ENOMEM;
    h->vo = r->arena.len;
    h->vl = vl;
    if (wr_buf_append(&r->arena, value, vl) || wr_buf_append(&r->arena, "", 1))
        return WEIR_ENOMEM;
    r->nhoff++;
    return 0;
}

int wr_http_req_finish_headers(wr_http_req *r)
{
    if (r->arena.oom)
        return WEIR_ENOMEM;
    if (r->nhoff) {
        wr_http_header *h = wr_grow(r->hdrs, &r->hdrcap, r->nhoff, sizeof *h, 16);
        if (!h)
            return WEIR_ENOMEM;
        r->hdrs = h;
    }
    char *base = r->arena.data;
    for (size_t i = 0; i < r->nhoff; i++) {
        wr_http_hoff *o = &r->hoff[i];
        size_t vl = o->vl;
        while (vl && (base[o->vo + vl - 1] == ' ' || base[o->vo + vl - 1] == '\t'))
            vl--;
        base[o->vo + vl] = '\0';
        r->hdrs[i].name = base + o->no;
        r->hdrs[i].name_len = o->nl;
        r->hdrs[i].value = base + o->vo;
        r->hdrs[i].value_len = vl;
    }
    r->nhdrs = r->nhoff;
    if (r->method_off != SIZE_MAX && base)
        r->method = base + r->method_off;
    else if (!r->method)
        r->method = "";
    if (r->target_off != SIZE_MAX && base)
        r->target = base + r->target_off;
    else
        r->target = "";
    r->headers_done = 1;
    return 0;
}

void wr_http_req_dispatch(wr_http_req *r)
{
    wr_http_conn *c = r->c;
    r->state = WR_RQ_HANDLER;
    c->s->in_flight++;
    c->h->on_request(r, c->user);
}

void wr_http_req_release(wr_http_req *r)
{
    if (r->state == WR_RQ_HANDLER)
        r->c->s->in_flight--;
    r->state = WR_RQ_ENDED;
    wr_http_req_clear_full(r);
}

void wr_http_req_abort_handler(wr_http_req *r)
{
    if (r->state != WR_RQ_HANDLER)
        return;
    wr_http_conn *c = r->c;
    wr_http_req_release(r);
    if (c->h->on_abort)
        c->h->on_abort(r, c->user);
}

/* ---------------------------------------------------------------- connections */

static void wr_http_conn_free(wr_http_conn *c)
{
    if (c->proto == 2)
        wr_http_h2_free(c);
    if (c->rev)
        event_free(c->rev);
    if (c->flush)
        event_free(c->flush);
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->tmr)
        event_free(c->tmr);
    if (c->resume)
        event_free(c->resume);
    free(c);
}

void wr_http_conn_hold(wr_http_conn *c)
{
    c->busy++;
}

void wr_http_conn_release(wr_http_conn *c)
{
    if (--c->busy == 0 && c->dead)
        wr_http_conn_free(c);
}

void wr_http_conn_close(wr_http_conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    wr_http_conn_hold(c);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->rev);
    event_del(c->flush);
    event_del(c->tmr);
    event_del(c->resume);
    c->rq_head = c->rq_tail = NULL;
    wr_http_req *r;
    while ((r = c->reqs) != NULL) {
        wr_http_req_abort_handler(r);
        if (c->reqs == r)
            wr_http_req_free(r);
    }
    c->cur = NULL;
    wr_http_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
    wr_http_conn_release(c);
}

void wr_http_conn_timer(wr_http_conn *c, int mode, unsigned ms)
{
    if (c->dead)
        return;
    c->tmode = mode;
    if (mode == WR_T_NONE) {
        event_del(c->tmr);
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u)};
    event_add(c->tmr, &tv);
}

static void wr_http_conn_linger(wr_http_conn *c)
{
    if (c->lingering || c->dead)
        return;
    if (c->eof || c->reqs) {
        wr_http_conn_close(c);
        return;
    }
    c->lingering = 1;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    unsigned ms = c->s->lim.idle_timeout_ms < WR_LINGER_MS ? c->s->lim.idle_timeout_ms
                                                           : WR_LINGER_MS;
    wr_http_conn_timer(c, WR_T_LINGER, ms);
}

void wr_http_conn_close_after_flush(wr_http_conn *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = 1;
    wr_http_conn_timer(c, WR_T_NONE, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        wr_http_conn_linger(c);
}

void wr_http_conn_schedule(wr_http_conn *c)
{
    if (!c->dead)
        event_active(c->resume, EV_TIMEOUT, 0);
}

void wr_http_conn_reject_cb(wr_http_conn *c, int status, const char *message)
{
    if (c->h->on_reject)
        c->h->on_reject(c->user, c->peer, status, message);
}

/* Returns 1 while the first bytes could still be the h2 preface. */
static int wr_http_sniff(wr_http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    char buf[WR_H2_PREFACE_LEN];
    size_t len = evbuffer_get_length(in);
    size_t n = len < WR_H2_PREFACE_LEN ? len : WR_H2_PREFACE_LEN;
    if (evbuffer_copyout(in, buf, n) != (ev_ssize_t)n)
        return 1;
    if (memcmp(buf, WR_H2_PREFACE, n) != 0) {
        c->proto = 1;
        wr_http_h1_init(c);
        return 0;
    }
    if (n < WR_H2_PREFACE_LEN) {
        if (c->tmode != WR_T_SNIFF)
            wr_http_conn_timer(c, WR_T_SNIFF, c->s->lim.header_timeout_ms);
        return 1;
    }
    c->proto = 2;
    if (wr_http_h2_init(c)) {
        wr_http_conn_close(c);
        return 1;
    }
    return 0;
}

static void wr_http_read_cb(struct bufferevent *bev, void *arg)
{
    wr_http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    wr_http_conn_hold(c);
    if (c->closing || c->lingering) {
        evbuffer_drain(in, evbuffer_get_length(in));
    } else if (c->proto != 0 || wr_http_sniff(c) == 0) {
        if (c->proto == 1)
            wr_http_h1_process(c);
        else if (c->proto == 2)
            wr_http_h2_process(c);
    }
    wr_http_conn_release(c);
}

static void wr_http_write_cb(struct bufferevent *bev, void *arg)
{
    wr_http_conn *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
        (bufferevent_get_enabled(bev) & EV_WRITE))
        bufferevent_disable(bev, EV_WRITE); /* back to direct writes (wr_http_flush_cb) */
    wr_http_conn_hold(c);
    if (c->proto == 1)
        wr_http_h1_on_write(c);
    else if (c->proto == 2)
        wr_http_h2_flush(c);
    if (!c->dead && c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        wr_http_conn_linger(c);
    wr_http_conn_release(c);
}

static void wr_http_event_cb(struct bufferevent *bev, short what, void *arg)
{
    wr_http_conn *c = arg;
    wr_http_conn_hold(c);
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        c->eof = 1;
        if (c->lingering || evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            wr_http_conn_close(c);
        else if (c->closing)
            ; /* the flush goes on; closed when done */
        else if (c->proto == 1)
            wr_http_h1_on_eof(c);
        else
            wr_http_conn_close(c);
    } else {
        wr_http_conn_close(c); /* socket error or write timeout */
    }
    wr_http_conn_release(c);
}

/*
 * Input: libevent's bufferevent reads at most 4096 bytes per readable event (after an ioctl
 * FIONREAD), so a 4 KB request took two loop iterations. The connection reads the socket
 * itself instead: one recv of up to 64 KiB into the server's buffer, appended to the input
 * evbuffer, which stops at WR_READ_HWM until the parser drains it (wr_http_in_cb).
 */
static void wr_http_read_pause(wr_http_conn *c)
{
    if (!c->rd_full) {
        c->rd_full = 1;
        event_del(c->rev);
    }
}

static void wr_http_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    wr_http_conn *c = arg;
    if (info->n_deleted && c->rd_full && !c->rd_done && !c->dead &&
        evbuffer_get_length(buf) < WR_READ_HWM) {
        c->rd_full = 0;
        event_add(c->rev, NULL);
    }
}

static void wr_http_rev_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    wr_http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t have = evbuffer_get_length(in);
    if (have >= WR_READ_HWM) {
        wr_http_read_pause(c);
        return;
    }
    size_t room = WR_READ_HWM - have < WR_READ_CHUNK ? WR_READ_HWM - have : WR_READ_CHUNK;
    ssize_t n = recv(fd, c->s->rbuf, room, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || evbuffer_add(in, c->s->rbuf, (size_t)n) != 0) {
        c->rd_done = 1;
        event_del(c->rev);
        short what = BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
        wr_http_event_cb(c->bev, what, c);
        return;
    }
    wr_http_conn_hold(c);
    wr_http_read_cb(c->bev, c);
    if (!c->dead && evbuffer_get_length(in) >= WR_READ_HWM)
        wr_http_read_pause(c);
    wr_http_conn_release(c);
}

/*
 * Output: the bufferevent's EV_WRITE stays off while the socket keeps up, so a response
 * costs one write and no epoll_ctl. Bytes added to the output activate `flush` (run later in
 * the same loop iteration, so one response's pieces go out together), which writes directly;
 * only what the socket does not take turns EV_WRITE on (with the write timeout) until the
 * output is empty again (wr_http_write_cb).
 */
static void wr_http_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    wr_http_conn *c = arg;
    if (info->n_added && !c->dead && !(bufferevent_get_enabled(c->bev) & EV_WRITE))
        event_active(c->flush, EV_TIMEOUT, 0);
}

static void wr_http_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    wr_http_conn *c = arg;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (c->dead || (bufferevent_get_enabled(c->bev) & EV_WRITE) || !evbuffer_get_length(out))
        return;
    evbuffer_unfreeze(out, 1); /* the bufferevent keeps its output's start frozen */
    int n = evbuffer_write_atmost(out, bufferevent_getfd(c->bev), WR_WRITE_CHUNK);
    evbuffer_freeze(out, 1);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        wr_http_event_cb(c->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR, c);
        return;
    }
    size_t left = evbuffer_get_length(out);
    if (left)
        bufferevent_enable(c->bev, EV_WRITE);
    if (n > 0 && left <= c->s->lim.high_watermark / 2)
        wr_http_write_cb(c->bev, c);
}

static void wr_http_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    wr_http_conn *c = arg;
    int mode = c->tmode;
    c->tmode = WR_T_NONE;
    wr_http_conn_hold(c);
    switch (mode) {
    case WR_T_IDLE:
        if (c->proto == 2)
            wr_http_h2_idle(c);
        else
            wr_http_conn_close(c);
        break;
    case WR_T_HEADER:
    case WR_T_BODY:
        wr_http_h1_timeout(c);
        break;
    case WR_T_STREAMS:
        wr_http_h2_timeout(c);
        break;
    default:
        wr_http_conn_close(c);
        break;
    }
    wr_http_conn_release(c);
}

static void wr_http_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    wr_http_conn *c = arg;
    wr_http_conn_hold(c);
    if (c->proto == 1)
        wr_http_h1_process(c);
    else if (c->proto == 2)
        wr_http_h2_flush(c);
    wr_http_conn_release(c);
}

static void wr_http_peer_format(wr_http_conn *c, const struct sockaddr *sa, int len)
{
    char ip[INET6_ADDRSTRLEN] = "";
    if (sa && sa->sa_family == AF_INET && len >= (int)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(c->peer_ip, sizeof c->peer_ip, "%s", ip);
        snprintf(c->peer, sizeof c->peer, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6 && len >= (int)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(c->peer_ip, sizeof c->peer_ip, "%s", ip);
        snprintf(c->peer, sizeof c->peer, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(c->peer_ip, sizeof c->peer_ip, "local");
        snprintf(c->peer, sizeof c->peer, "local");
    }
}

int wr_http_server_adopt(wr_http_server *s, evutil_socket_t fd, const struct sockaddr *peer,
                         int peerlen, const wr_http_handler *handler, void *user)
{
    if (s->nconns >= s->lim.max_connections) {
        evutil_closesocket(fd);
        return WEIR_ELIMIT;
    }
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    wr_http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return WEIR_ENOMEM;
    }
    c->s = s;
    c->h = handler;
    c->user = user;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, wr_http_rev_cb, c);
    c->flush = event_new(s->base, -1, 0, wr_http_flush_cb, c);
    c->tmr = evtimer_new(s->base, wr_http_timer_cb, c);
    c->resume = event_new(s->base, -1, 0, wr_http_resume_cb, c);
    if (!c->bev || !c->rev || !c->flush || !c->tmr || !c->resume ||
        !evbuffer_add_cb(bufferevent_get_input(c->bev), wr_http_in_cb, c) ||
        !evbuffer_add_cb(bufferevent_get_output(c->bev), wr_http_out_cb, c)) {
        if (!c->bev)
            evutil_closesocket(fd);
        wr_http_conn_free(c);
        return WEIR_ENOMEM;
    }
    wr_http_peer_format(c, peer, peerlen);
    bufferevent_setcb(c->bev, NULL, wr_http_write_cb, wr_http_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, s->lim.high_watermark / 2, 0);
    struct timeval wt = {(time_t)(s->lim.write_timeout_ms / 1000u),
                         (suseconds_t)((s->lim.write_timeout_ms % 1000u) * 1000u)};
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    evbuffer_unfreeze(bufferevent_get_input(c->bev), 0); /* only wr_http_rev_cb adds to it */
    if (event_add(c->rev, NULL)) {
        wr_http_conn_free(c);
        return WEIR_ENOMEM;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    wr_http_conn_timer(c, WR_T_IDLE, s->lim.idle_timeout_ms);
    return 0;
}

/* ---------------------------------------------------------------- server */

static void wr_http_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                              struct sockaddr *sa, int salen, void *arg)
{
    (void)evl;
    wr_http_listener *l = arg;
    wr_http_server_adopt(l->s, fd, sa, salen, l->h, l->user);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS): pause the listeners a second instead of spinning. */
static void wr_http_accept_error_cb(struct evconnlistener *evl, void *arg)
{
    (void)evl;
    wr_http_listener *l = arg;
    wr_http_server *s = l->s;
    for (wr_http_listener *i = s->listeners; i; i = i->next)
        if (i->evl)
            evconnlistener_disable(i->evl);
    struct timeval tv = {1, 0};
    event_add(s->relisten, &tv);
}

static void wr_http_relisten_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    wr_http_server *s = arg;
    for (wr_http_listener *i = s->listeners; i; i = i->next)
        if (i->evl)
            evconnlistener_enable(i->evl);
}

int wr_http_server_new(wr_http_server **out, struct event_base *base,
                       const wr_http_limits *limits, weir_error *err)
{
    if (!out || !base)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "http server: NULL argument");
    *out = NULL;
    wr_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "http server: out of memory");
    s->base = base;
    wr_http_limits_fill(&s->lim, limits);
    s->relisten = evtimer_new(base, wr_http_relisten_cb, s);
    s->rbuf = malloc(WR_READ_CHUNK);
    if (!s->relisten || !s->rbuf || wr_http_h2_callbacks(s)) {
        wr_http_server_free(s);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "http server: out of memory");
    }
    if (s->lim.max_header_bytes > 76 * 1024)
        wr_http_parser_limit(s->lim.max_header_bytes);
    *out = s;
    return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port" into host (NULL = any) and port. */
static int wr_http_split_addr(const char *addr, char *host, size_t hostsz, char *port,
                              size_t portsz)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= portsz)
        return -1;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    snprintf(port, portsz, "%s", colon + 1);
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl && h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
    }
    if (hl >= hostsz)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
}

int wr_http_server_listen(wr_http_server *s, const char *addr, const wr_http_handler *handler,
                          void *user, int *port, weir_error *err)
{
    if (!s || !addr || !handler || !handler->on_request)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "http listen: NULL argument");
    char host[256], portstr[16];
    if (wr_http_split_addr(addr, host, sizeof host, portstr, sizeof portstr))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "http listen: '%s' is not host:port or [v6]:port", addr);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo((host[0] && strcmp(host, "*") != 0) ? host : NULL, portstr, &hints, &ai);
    if (gai || !ai)
        return wr_error_set(err, WEIR_EIO, NULL, 0, 0, "http listen on %s: %s", addr,
                            gai_strerror(gai));
    wr_http_listener *l = calloc(1, sizeof *l);
    if (!l) {
        freeaddrinfo(ai);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "http listen: out of memory");
    }
    l->s = s;
    l->h = handler;
    l->user = user;
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
                     LEV_OPT_CLOSE_ON_EXEC;
    l->evl = evconnlistener_new_bind(s->base, wr_http_accept_cb, l, flags, 1024, ai->ai_addr,
                                     (int)ai->ai_addrlen);
    int e = errno;
    freeaddrinfo(ai);
    if (!l->evl) {
        free(l);
        return wr_error_set(err, WEIR_EIO, NULL, 0, 0, "http listen on %s: %s", addr,
                            strerror(e));
    }
    evconnlistener_set_error_cb(l->evl, wr_http_accept_error_cb);
    if (port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        *port = 0;
        if (getsockname(evconnlistener_get_fd(l->evl), (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

void wr_http_server_stop_accepting(wr_http_server *s)
{
    if (!s)
        return;
    wr_http_listener *l;
    while ((l = s->listeners) != NULL) {
        s->listeners = l->next;
        if (l->evl)
            evconnlistener_free(l->evl);
        free(l);
    }
    if (s->relisten)
        event_del(s->relisten);
}

size_t wr_http_server_in_flight(const wr_http_server *s)
{
    return s ? s->in_flight : 0;
}

size_t wr_http_server_connections(const wr_http_server *s)
{
    return s ? s->nconns : 0;
}

void wr_http_server_free(wr_http_server *s)
{
    if (!s)
        return;
    wr_http_server_stop_accepting(s);
    while (s->conns)
        wr_http_conn_close(s->conns);
    wr_http_req *r;
    while ((r = s->free_reqs) != NULL) {
        s->free_reqs = r->rnext;
        wr_http_req_destroy(r);
    }
    wr_buf_free(&s->scratch);
    free(s->rbuf);
    if (s->relisten)
        event_free(s->relisten);
    if (s->ngcb)
        nghttp2_session_callbacks_del(s->ngcb);
    if (s->ngopt)
        nghttp2_option_del(s->ngopt);
    free(s);
}

/* ---------------------------------------------------------------- request accessors */

const char *wr_http_req_method(const wr_http_req *r)
{
    return r && r->method ? r->method : "";
}

const char *wr_http_req_target(const wr_http_req *r)
{
    return r && r->target ? r->target : "";
}

int wr_http_req_version(const wr_http_req *r)
{
    return r ? r->version : 0;
}

size_t wr_http_req_nheaders(const wr_http_req *r)
{
    return r ? r->nhdrs : 0;
}

const wr_http_header *wr_http_req_header_at(const wr_http_req *r, size_t i)
{
    return r && i < r->nhdrs ? &r->hdrs[i] : NULL;
}

const char *wr_http_req_header(const wr_http_req *r, const char *name)
{
    if (!r || !name)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nhdrs; i++)
        if (r->hdrs[i].name_len == n && strncasecmp(r->hdrs[i].name, name, n) == 0)
            return r->hdrs[i].value;
    return NULL;
}

const char *wr_http_req_body(const wr_http_req *r, size_t *len)
{
    if (len)
        *len = r ? r->body.len : 0;
    return r && r->body.data && r->body.len ? r->body.data : "";
}

const char *wr_http_req_peer(const wr_http_req *r)
{
    return r && r->c ? r->c->peer : "";
}

const char *wr_http_req_peer_ip(const wr_http_req *r)
{
    return r && r->c ? r->c->peer_ip : "";
}

int wr_http_req_error(const wr_http_req *r, const char **message)
{
    if (message)
        *message = r && r->error ? r->errmsg : NULL;
    return r ? r->error : 0;
}

void wr_http_req_set_user(wr_http_req *r, void *user)
{
    if (r)
        r->user = user;
}

void *wr_http_req_user(const wr_http_req *r)
{
    return r ? r->user : NULL;
}

/* ---------------------------------------------------------------- responses */

/* A request whose connection already went away (only reachable from on_abort re-entry). */
static int wr_http_req_orphan(wr_http_req *r)
{
    return r->c->dead;
}

int wr_http_respond_start(wr_http_req *r, int status, const wr_http_header *headers,
                          size_t nheaders, long long content_length)
{
    if (!r || r->state != WR_RQ_HANDLER || r->started || status < 200 || status > 999 ||
        (nheaders && !headers))
        return WEIR_EINVAL;
    r->started = 1;
    r->clen = content_length < 0 ? -1 : content_length;
    if (wr_http_req_orphan(r))
        return 0;
    return r->version == 2 ? wr_http_h2_start(r, status, headers, nheaders, r->clen)
                           : wr_http_h1_start(r, status, headers, nheaders, r->clen);
}

int wr_http_respond_write(wr_http_req *r, const void *data, size_t len)
{
    if (!r || r->state != WR_RQ_HANDLER || !r->started || (len && !data))
        return WEIR_EINVAL;
    if (!len || wr_http_req_orphan(r))
        return 0;
    return r->version == 2 ? wr_http_h2_write(r, data, len) : wr_http_h1_write(r, data, len);
}

int wr_http_respond_end(wr_http_req *r)
{
    if (!r || r->state != WR_RQ_HANDLER || !r->started)
        return WEIR_EINVAL;
    if (wr_http_req_orphan(r)) {
        wr_http_req_release(r);
        wr_http_req_free(r);
        return 0;
    }
    return r->version == 2 ? wr_http_h2_end(r) : wr_http_h1_end(r);
}

void wr_http_respond_abort(wr_http_req *r)
{
    if (!r || r->state != WR_RQ_HANDLER)
        return;
    if (wr_http_req_orphan(r)) {
        wr_http_req_release(r);
        wr_http_req_free(r);
        return;
    }
    if (r->version == 2)
        wr_http_h2_abort(r);
    else
        wr_http_h1_abort(r);
}

int wr_http_respond(wr_http_req *r, int status, const wr_http_header *headers, size_t nheaders,
                    const void *body, size_t len)
{
    int rc = wr_http_respond_start(r, status, headers, nheaders, (long long)len);
    if (rc)
        return rc;
    if (len)
        rc = wr_http_respond_write(r, body, len);
    if (rc == 0)
        rc = wr_http_respond_end(r);
    if (rc)
        wr_http_respond_abort(r); /* out of memory half-way: the request is gone either way */
    return rc;
}

size_t wr_http_req_queued(const wr_http_req *r)
{
    if (!r || r->state != WR_RQ_HANDLER || r->c->dead)
        return 0;
    return r->version == 2 ? wr_http_h2_queued(r) : wr_http_h1_queued(r);
}

void wr_http_req_mark_full(wr_http_req *r)
{
    if (!r->was_full) {
        r->was_full = 1;
        r->c->nfull++;
    }
}

void wr_http_req_clear_full(wr_http_req *r)
{
    if (r->was_full) {
        r->was_full = 0;
        if (r->c->nfull)
            r->c->nfull--;
    }
}

int wr_http_req_full(const wr_http_req *r)
{
    if (!r || wr_http_req_queued(r) < r->c->s->lim.high_watermark)
        return 0;
    /* Full because of another stream's bytes (h2) still earns an on_drain: remember it. */
    wr_http_req_mark_full((wr_http_req *)r);
    return 1;
}
