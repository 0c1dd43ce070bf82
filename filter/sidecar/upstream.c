/*
 * upstream.c - the sidecar's upstream HTTP client: libcurl multi driven by libevent.
 *
 * Shape (curl's hiperfifo pattern): CURLMOPT_SOCKETFUNCTION keeps one persistent libevent
 * event per socket, CURLMOPT_TIMERFUNCTION one evtimer; both call curl_multi_socket_action
 * and then collect finished transfers with curl_multi_info_read.
 *
 * Re-entrancy: on_headers and on_data run inside curl's header/write callbacks, i.e. inside
 * curl_multi_socket_action or curl_easy_pause (u->in_curl > 0). There nothing may call back
 * into the multi handle, so from there:
 *   - wr_up_cancel marks the transfer, makes its next curl callback fail, and queues it on
 *     u->reap; the easy handle is removed once curl has returned (wr_up_after_curl);
 *   - wr_up_start prepares the easy handle and adds it from the transfer's `kick` event;
 *   - wr_up_resume always unpauses from the `kick` event, so no user callback ever runs
 *     inside wr_up_resume;
 *   - wr_upstream_free inside any callback defers the free to the end of the libevent
 *     callback that dispatched it (u->busy).
 * on_done runs outside curl, after the easy handle was removed.
 *
 * Pausing: when on_data returns 1 the chunk is consumed (the callback returns its length)
 * and curl_easy_pause(CURLPAUSE_RECV) is called from inside the write callback, which curl
 * allows; any further bytes curl already holds are kept by curl (CURL_WRITEFUNC_PAUSE) and
 * delivered after the unpause.
 *
 * Timeouts: curl's CURLOPT_CONNECTTIMEOUT_MS for the connect (TCP + TLS); a per-transfer
 * evtimer for the first byte (time to the final response headers) and then for idleness
 * (time since the last body bytes, not counting time paused by the caller).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "sidecar/upstream.h"

#define WR_UP_MAX_FREE 16                        /* easy handles kept per upstream */
#define WR_UP_MAX_HEADER_BYTES ((size_t)128 * 1024) /* one response's header block */
#define WR_UP_MAX_HEADERS 200
#define WR_UP_KEEP_HBUF ((size_t)16 * 1024)      /* header buffer kept across reuses */
#define WR_UP_DEFAULT_HOST_CONNS 64
#define WR_UP_DEFAULT_CONNECT_MS 5000u
#define WR_UP_DEFAULT_FIRST_BYTE_MS 60000u
#define WR_UP_DEFAULT_IDLE_MS 300000u
#define WR_UP_MAX_METHOD 32

#ifdef CURL_WRITEFUNC_ERROR
#define WR_UP_WRITE_FAIL CURL_WRITEFUNC_ERROR
#else
#define WR_UP_WRITE_FAIL ((size_t)0xFFFFFFFF)
#endif

/* One received header, as offsets into the request's header buffer (which may move). */
typedef struct wr_up_hoff {
    size_t name, name_len, value, value_len;
} wr_up_hoff;

typedef struct wr_up_sock {
    wr_upstream *u;
    struct event *ev;
    short kind;
    struct wr_up_sock *prev, *next;
} wr_up_sock;

struct wr_up_req {
    wr_upstream *u;
    CURL *easy;
    struct event *tmo;  /* first byte, then idle */
    struct event *kick; /* deferred add / resume */
    struct curl_slist *hdrs;
    wr_up_callbacks cb;
    void *user;
    unsigned first_byte_ms, idle_ms;
    uint64_t last_ms; /* last body bytes, or the resume */

    wr_buf hbuf; /* header names and values of the response being read */
    wr_up_hoff *hofs;
    size_t nh, hofs_cap;
    wr_http_header *harr;
    size_t harr_cap;
    int status;

    unsigned in_multi : 1, in_active : 1, headers_done : 1, paused : 1, in_data : 1,
        resume_early : 1, add_pending : 1, resume_pending : 1, cancelled : 1, finishing : 1,
        aborted : 1;
    wr_up_result local; /* failure found here (header limits, memory); 0: none */
    char local_msg[96];
    char errbuf[CURL_ERROR_SIZE];
    char msg[CURL_ERROR_SIZE + 64];

    wr_up_req *prev, *next; /* active list; free list uses next */
    wr_up_req *reap_next;
};

struct wr_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    char *ca_file;
    long connect_ms;
    wr_up_req *active;
    size_t nactive;
    wr_up_req *free_list;
    size_t nfree;
    wr_up_req *reap;
    wr_up_sock *socks;
    wr_buf scratch;
    int in_curl;      /* depth of calls into curl that may run our callbacks */
    int busy;         /* depth of libevent callbacks of ours on the stack */
    int free_pending; /* wr_upstream_free was called while busy */
    int adding;       /* inside curl_multi_add_handle */
};

static pthread_once_t wr_up_once = PTHREAD_ONCE_INIT;
static CURLcode wr_up_global_rc = CURLE_FAILED_INIT;

static void wr_up_global_init(void)
{
    wr_up_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t wr_up_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wr_up_arm(wr_up_req *r, uint64_t ms)
{
    struct timeval tv;
    tv.tv_sec = (time_t)(ms / 1000u);
    tv.tv_usec = (long)(ms % 1000u) * 1000;
    evtimer_add(r->tmo, &tv);
}

const char *wr_up_result_name(wr_up_result r)
{
    switch (r) {
    case WR_UP_OK: return "ok";
    case WR_UP_REFUSED: return "refused";
    case WR_UP_CONNECT_TIMEOUT: return "connect_timeout";
    case WR_UP_TIMEOUT: return "timeout";
    case WR_UP_RESET: return "reset";
    case WR_UP_TLS: return "tls";
    case WR_UP_TOO_LARGE: return "too_large";
    case WR_UP_ABORTED: return "aborted";
    case WR_UP_OTHER: return "other";
    }
    return "unknown";
}

/* CURLOPT_CONNECTTIMEOUT_MS is the only curl timeout set, so TIMEDOUT is a connect timeout. */
static wr_up_result wr_up_map_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK: return WR_UP_OK;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return WR_UP_REFUSED;
    case CURLE_OPERATION_TIMEDOUT: return WR_UP_CONNECT_TIMEOUT;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return WR_UP_RESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return WR_UP_TLS;
    default: return WR_UP_OTHER;
    }
}

/* ---------------------------------------------------------------- request objects */

static void wr_up_kick_cb(evutil_socket_t fd, short what, void *arg);
static void wr_up_tmo_cb(evutil_socket_t fd, short what, void *arg);

static void wr_up_req_destroy(wr_up_req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    if (r->tmo)
        event_free(r->tmo);
    if (r->kick)
        event_free(r->kick);
    curl_slist_free_all(r->hdrs);
    wr_buf_free(&r->hbuf);
    free(r->hofs);
    free(r->harr);
    free(r);
}

static wr_up_req *wr_up_req_get(wr_upstream *u)
{
    wr_up_req *r = u->free_list;
    if (r) {
        u->free_list = r->next;
        u->nfree--;
        r->next = NULL;
        return r;
    }
    r = wr_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->u = u;
    wr_buf_init(&r->hbuf);
    r->easy = curl_easy_init();
    r->tmo = evtimer_new(u->base, wr_up_tmo_cb, r);
    r->kick = event_new(u->base, -1, 0, wr_up_kick_cb, r);
    if (!r->easy || !r->tmo || !r->kick) {
        wr_up_req_destroy(r);
        return NULL;
    }
    return r;
}

/* Back to the free list (or freed). The handle is out of the multi and its events idle. */
static void wr_up_recycle(wr_up_req *r)
{
    wr_upstream *u = r->u;
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    if (u->nfree >= WR_UP_MAX_FREE) {
        wr_up_req_destroy(r);
        return;
    }
    curl_easy_reset(r->easy);
    if (r->hbuf.cap > WR_UP_KEEP_HBUF)
        wr_buf_free(&r->hbuf);
    r->hbuf.len = 0;
    r->hbuf.oom = 0;
    r->nh = 0;
    r->status = 0;
    r->in_multi = r->in_active = r->headers_done = r->paused = r->in_data = 0;
    r->resume_early = r->add_pending = r->resume_pending = 0;
    r->cancelled = r->finishing = r->aborted = 0;
    r->local = WR_UP_OK;
    r->local_msg[0] = r->errbuf[0] = r->msg[0] = '\0';
    r->cb = (wr_up_callbacks){ 0 };
    r->user = NULL;
    r->prev = r->reap_next = NULL;
    r->next = u->free_list;
    u->free_list = r;
    u->nfree++;
}

static void wr_up_link(wr_up_req *r)
{
    wr_upstream *u = r->u;
    r->prev = NULL;
    r->next = u->active;
    if (u->active)
        u->active->prev = r;
    u->active = r;
    u->nactive++;
    r->in_active = 1;
}

static void wr_up_unlink(wr_up_req *r)
{
    wr_upstream *u = r->u;
    if (!r->in_active)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        u->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->in_active = 0;
    u->nactive--;
}

/* Takes r out of curl and libevent. Never called while inside curl (u->in_curl == 0). */
static void wr_up_detach(wr_up_req *r)
{
    if (r->in_multi) {
        curl_multi_remove_handle(r->u->multi, r->easy);
        r->in_multi = 0;
    }
    event_del(r->tmo);
    event_del(r->kick);
    r->add_pending = r->resume_pending = 0;
    wr_up_unlink(r);
}

/* ---------------------------------------------------------------- response delivery */

static int wr_up_fail_local(wr_up_req *r, wr_up_result res, const char *why)
{
    if (!r->local) {
        r->local = res;
        snprintf(r->local_msg, sizeof r->local_msg, "%s", why);
    }
    return -1;
}

/* Calls on_headers with the final response's headers; switches the timer to idle. */
static int wr_up_deliver_headers(wr_up_req *r)
{
    r->headers_done = 1;
    if (r->status <= 0) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
    }
    if (r->nh > r->harr_cap) {
        size_t cap = r->harr_cap;
        wr_http_header *a = wr_grow(r->harr, &cap, r->nh, sizeof *a, 16);
        if (!a)
            return wr_up_fail_local(r, WR_UP_OTHER, "out of memory for response headers");
        r->harr = a;
        r->harr_cap = cap;
    }
    for (size_t i = 0; i < r->nh; i++) {
        r->harr[i].name = r->hbuf.data + r->hofs[i].name;
        r->harr[i].name_len = r->hofs[i].name_len;
        r->harr[i].value = r->hbuf.data + r->hofs[i].value;
        r->harr[i].value_len = r->hofs[i].value_len;
    }
    r->last_ms = wr_up_now_ms();
    if (r->in_multi || r->add_pending)
        wr_up_arm(r, r->idle_ms);
    if (r->cb.on_headers)
        r->cb.on_headers(r->user, r->status, r->nh ? r->harr : NULL, r->nh);
    return 0;
}

static int wr_up_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int wr_up_parse_status(const char *line, size_t n)
{
    const char *sp = memchr(line, ' ', n);
    if (!sp)
        return 0;
    size_t i = (size_t)(sp - line);
    while (i < n && line[i] == ' ')
        i++;
    if (n - i < 3)
        return 0;
    int st = 0;
    for (size_t k = i; k < i + 3; k++) {
        if (line[k] < '0' || line[k] > '9')
            return 0;
        st = st * 10 + (line[k] - '0');
    }
    return st;
}

static int wr_up_add_header(wr_up_req *r, const char *line, size_t n)
{
    if (wr_up_is_ows(line[0])) { /* obsolete line folding: continue the last value */
        if (!r->nh)
            return 0;
        size_t b = 0, e = n;
        while (b < e && wr_up_is_ows(line[b]))
            b++;
        while (e > b && wr_up_is_ows(line[e - 1]))
            e--;
        if (b == e)
            return 0;
        if (r->hbuf.len + e - b + 1 > WR_UP_MAX_HEADER_BYTES)
            return wr_up_fail_local(r, WR_UP_OTHER, "upstream response headers too large");
        wr_up_hoff *h = &r->hofs[r->nh - 1];
        int sep = h->value_len > 0;
        if ((sep && wr_buf_append(&r->hbuf, " ", 1)) || wr_buf_append(&r->hbuf, line + b, e - b))
            return wr_up_fail_local(r, WR_UP_OTHER, "out of memory for response headers");
        h->value_len += (size_t)sep + e - b;
        return 0;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return 0; /* not a header line: ignored */
    size_t nl = (size_t)(colon - line);
    size_t b = nl + 1, e = n;
    while (b < e && wr_up_is_ows(line[b]))
        b++;
    while (e > b && wr_up_is_ows(line[e - 1]))
        e--;
    if (r->nh >= WR_UP_MAX_HEADERS || r->hbuf.len + nl + (e - b) > WR_UP_MAX_HEADER_BYTES)
        return wr_up_fail_local(r, WR_UP_OTHER, "upstream response headers too large");
    if (r->nh == r->hofs_cap) {
        size_t cap = r->hofs_cap;
        wr_up_hoff *a = wr_grow(r->hofs, &cap, r->nh + 1, sizeof *a, 16);
        if (!a)
            return wr_up_fail_local(r, WR_UP_OTHER, "out of memory for response headers");
        r->hofs = a;
        r->hofs_cap = cap;
    }
    wr_up_hoff *h = &r->hofs[r->nh];
    h->name = r->hbuf.len;
    h->name_len = nl;
    h->value = r->hbuf.len + nl;
    h->value_len = e - b;
    if (wr_buf_append(&r->hbuf, line, nl) || wr_buf_append(&r->hbuf, line + b, e - b))
        return wr_up_fail_local(r, WR_UP_OTHER, "out of memory for response headers");
    r->nh++;
    return 0;
}

static size_t wr_up_header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    wr_up_req *r = arg;
    size_t len = size * nmemb;
    if (r->cancelled || r->aborted || r->local)
        return WR_UP_WRITE_FAIL;
    if (r->headers_done)
        return len; /* trailers: not passed on */
    size_t n = len;
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a status line starts a response */
        r->hbuf.len = 0;
        r->nh = 0;
        r->status = wr_up_parse_status(p, n);
        return len;
    }
    if (n == 0) { /* end of a header block */
        if (r->status >= 100 && r->status < 200) {
            r->hbuf.len = 0;
            r->nh = 0;
            r->status = 0;
            return len;
        }
        if (wr_up_deliver_headers(r) != 0 || r->cancelled)
            return WR_UP_WRITE_FAIL;
        return len;
    }
    if (wr_up_add_header(r, p, n) != 0)
        return WR_UP_WRITE_FAIL;
    return len;
}

static size_t wr_up_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    wr_up_req *r = arg;
    size_t len = size * nmemb;
    if (r->cancelled || r->aborted || r->local)
        return WR_UP_WRITE_FAIL;
    if (r->paused)
        return CURL_WRITEFUNC_PAUSE; /* not consumed: curl keeps it for the unpause */
    if (!r->headers_done && (wr_up_deliver_headers(r) != 0 || r->cancelled))
        return WR_UP_WRITE_FAIL;
    if (len == 0)
        return 0;
    r->last_ms = wr_up_now_ms();
    int rc = 0;
    if (r->cb.on_data) {
        r->in_data = 1;
        rc = r->cb.on_data(r->user, p, len);
        r->in_data = 0;
    }
    int early = r->resume_early; /* wr_up_resume ran inside on_data */
    r->resume_early = 0;
    if (r->cancelled)
        return WR_UP_WRITE_FAIL;
    if (rc < 0) {
        r->aborted = 1;
        return WR_UP_WRITE_FAIL;
    }
    if (rc > 0) {
        r->paused = 1;
        curl_easy_pause(r->easy, CURLPAUSE_RECV);
        if (early) {
            r->resume_pending = 1;
            event_active(r->kick, EV_TIMEOUT, 1);
        }
    }
    return len;
}

/* ---------------------------------------------------------------- completion */

/* Ends r: out of curl, then on_headers (if still due) and on_done unless cancelled. */
static void wr_up_finish(wr_up_req *r, wr_up_result res, const char *msg)
{
    wr_up_detach(r);
    r->finishing = 1;
    if (res == WR_UP_OK && !r->headers_done && !r->cancelled)
        wr_up_deliver_headers(r);
    if (!r->cancelled && r->cb.on_done)
        r->cb.on_done(r->user, res, msg ? msg : "");
    wr_up_recycle(r);
}

static void wr_up_finish_curl(wr_up_req *r, CURLcode rc)
{
    wr_up_result res;
    const char *why;
    if (rc == CURLE_OK) {
        wr_up_finish(r, WR_UP_OK, "");
        return;
    }
    if (r->local) {
        res = r->local;
        why = r->local_msg;
    } else if (r->aborted) {
        res = WR_UP_ABORTED;
        why = "aborted by the response consumer";
    } else {
        res = wr_up_map_curl(rc);
        why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
    }
    snprintf(r->msg, sizeof r->msg, "%s", why);
    wr_up_finish(r, res, r->msg);
}

static void wr_up_reap(wr_upstream *u)
{
    while (u->reap) {
        wr_up_req *r = u->reap;
        u->reap = r->reap_next;
        r->reap_next = NULL;
        wr_up_detach(r);
        wr_up_recycle(r);
    }
}

static void wr_up_check_done(wr_upstream *u)
{
    CURLMsg *m;
    int left;
    while (!u->in_curl && (m = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        wr_up_req *r = (wr_up_req *)(void *)priv;
        if (!r || r->cancelled)
            continue;
        wr_up_finish_curl(r, rc);
    }
}

/* After a call into curl returned: drop cancelled transfers, then report finished ones. */
static void wr_up_after_curl(wr_upstream *u)
{
    if (u->in_curl)
        return;
    wr_up_reap(u);
    wr_up_check_done(u);
}

static void wr_up_drive(wr_upstream *u, curl_socket_t fd, int action)
{
    int running = 0;
    u->in_curl++;
    curl_multi_socket_action(u->multi, fd, action, &running);
    u->in_curl--;
    wr_up_after_curl(u);
}

static void wr_up_destroy(wr_upstream *u);

static void wr_up_enter(wr_upstream *u)
{
    u->busy++;
}

static void wr_up_leave(wr_upstream *u)
{
    if (--u->busy == 0 && u->free_pending)
        wr_up_destroy(u);
}

/* ---------------------------------------------------------------- libevent glue */

static void wr_up_sock_ev(evutil_socket_t fd, short what, void *arg)
{
    wr_up_sock *s = arg;
    wr_upstream *u = s->u;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                 ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    wr_up_enter(u);
    wr_up_drive(u, (curl_socket_t)fd, action);
    wr_up_leave(u);
}

static void wr_up_sock_free(wr_upstream *u, wr_up_sock *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        u->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    event_free(s->ev);
    free(s);
}

static int wr_up_sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    wr_upstream *u = userp;
    wr_up_sock *s = sockp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            wr_up_sock_free(u, s);
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!s) {
        s = wr_calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->u = u;
        s->ev = event_new(u->base, (evutil_socket_t)fd, kind, wr_up_sock_ev, s);
        if (!s->ev) {
            free(s);
            return -1;
        }
        s->kind = kind;
        s->next = u->socks;
        if (u->socks)
            u->socks->prev = s;
        u->socks = s;
        curl_multi_assign(u->multi, fd, s);
        event_add(s->ev, NULL);
        return 0;
    }
    if (s->kind != kind) {
        event_del(s->ev);
        event_assign(s->ev, u->base, (evutil_socket_t)fd, kind, wr_up_sock_ev, s);
        s->kind = kind;
        event_add(s->ev, NULL);
    }
    return 0;
}

static int wr_up_timer_cb(CURLM *m, long ms, void *userp)
{
    wr_upstream *u = userp;
    (void)m;
    if (ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    if (ms == 0 && u->adding) {
        /* a new transfer: start it later in this loop iteration, not after an epoll_wait(0).
         * Only here: other immediate timeouts (pausing, unpausing) keep going through the
         * loop, so that the client's events run in between. */
        evtimer_del(u->timer);
        event_active(u->timer, EV_TIMEOUT, 1);
        return 0;
    }
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(u->timer, &tv);
    return 0;
}

static void wr_up_timer_ev(evutil_socket_t fd, short what, void *arg)
{
    wr_upstream *u = arg;
    (void)fd;
    (void)what;
    wr_up_enter(u);
    wr_up_drive(u, CURL_SOCKET_TIMEOUT, 0);
    wr_up_leave(u);
}

static void wr_up_tmo_cb(evutil_socket_t fd, short what, void *arg)
{
    wr_up_req *r = arg;
    wr_upstream *u = r->u;
    (void)fd;
    (void)what;
    wr_up_enter(u);
    if (!r->headers_done) {
        snprintf(r->msg, sizeof r->msg, "no response headers within %u ms", r->first_byte_ms);
        wr_up_finish(r, WR_UP_TIMEOUT, r->msg);
    } else if (r->paused) {
        wr_up_arm(r, r->idle_ms); /* the caller's pause is not upstream idleness */
    } else {
        uint64_t idle = wr_up_now_ms() - r->last_ms;
        if (idle < r->idle_ms) {
            wr_up_arm(r, r->idle_ms - idle);
        } else {
            snprintf(r->msg, sizeof r->msg, "no response body bytes for %u ms", r->idle_ms);
            wr_up_finish(r, WR_UP_TIMEOUT, r->msg);
        }
    }
    wr_up_leave(u);
}

static void wr_up_unpause(wr_up_req *r)
{
    wr_upstream *u = r->u;
    r->paused = 0;
    r->last_ms = wr_up_now_ms();
    u->in_curl++;
    CURLcode rc = curl_easy_pause(r->easy, CURLPAUSE_CONT); /* may deliver held bytes */
    u->in_curl--;
    if (!r->cancelled && rc != CURLE_OK)
        wr_up_finish_curl(r, rc); /* the transfer is not ended by curl for this */
    wr_up_after_curl(u);
    wr_up_drive(u, CURL_SOCKET_TIMEOUT, 0); /* get it going now */
}

static void wr_up_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    wr_up_req *r = arg;
    wr_upstream *u = r->u;
    (void)fd;
    (void)what;
    wr_up_enter(u);
    if (r->add_pending) {
        r->add_pending = 0;
        u->adding = 1;
        CURLMcode mc = curl_multi_add_handle(u->multi, r->easy);
        u->adding = 0;
        if (mc != CURLM_OK) {
            wr_up_finish(r, WR_UP_OTHER, "could not start the upstream transfer");
            goto out;
        }
        r->in_multi = 1;
    }
    if (r->resume_pending) {
        r->resume_pending = 0;
        if (r->paused && r->in_multi)
            wr_up_unpause(r);
    }
out:
    wr_up_leave(u);
}

/* ---------------------------------------------------------------- upstream */

int wr_upstream_new(wr_upstream **out, struct event_base *base, const wr_up_options *opt,
                    weir_error *err)
{
    if (!out || !base)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: NULL argument");
    *out = NULL;
    wr_up_options none = { 0 };
    if (!opt)
        opt = &none;
    if (opt->max_host_connections < 0)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0,
                            "upstream: max_host_connections must not be negative");
    if (opt->ca_file && access(opt->ca_file, R_OK) != 0)
        return wr_error_set(err, WEIR_EIO, "upstream", 0, 0,
                            "upstream: cannot read CA file '%s'", opt->ca_file);
    pthread_once(&wr_up_once, wr_up_global_init);
    if (wr_up_global_rc != CURLE_OK)
        return wr_error_set(err, WEIR_EINTERNAL, "upstream", 0, 0,
                            "upstream: curl_global_init failed: %s",
                            curl_easy_strerror(wr_up_global_rc));

    wr_upstream *u = wr_calloc(1, sizeof *u);
    if (!u)
        return wr_error_set(err, WEIR_ENOMEM, "upstream", 0, 0, "upstream: out of memory");
    u->base = base;
    wr_buf_init(&u->scratch);
    u->connect_ms = (long)(opt->connect_timeout_ms ? opt->connect_timeout_ms
                                                   : WR_UP_DEFAULT_CONNECT_MS);
    long conns = opt->max_host_connections ? opt->max_host_connections : WR_UP_DEFAULT_HOST_CONNS;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, wr_up_timer_ev, u);
    if (opt->ca_file)
        u->ca_file = wr_strdup(opt->ca_file);
    if (!u->multi || !u->timer || (opt->ca_file && !u->ca_file)) {
        wr_up_destroy(u);
        return wr_error_set(err, WEIR_ENOMEM, "upstream", 0, 0, "upstream: out of memory");
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, wr_up_sock_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, wr_up_timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, conns);
    curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = u;
    return 0;
}

static void wr_up_destroy(wr_upstream *u)
{
    u->free_pending = 1;
    while (u->active)
        wr_up_cancel(u->active);
    wr_up_reap(u);
    while (u->free_list) {
        wr_up_req *r = u->free_list;
        u->free_list = r->next;
        wr_up_req_destroy(r);
    }
    if (u->multi)
        curl_multi_cleanup(u->multi); /* may still report sockets as removed */
    while (u->socks)
        wr_up_sock_free(u, u->socks);
    if (u->timer)
        event_free(u->timer);
    wr_buf_free(&u->scratch);
    free(u->ca_file);
    free(u);
}

void wr_upstream_free(wr_upstream *u)
{
    if (!u || u->free_pending)
        return;
    if (u->busy) { /* inside one of our callbacks: cancel now, free on the way out */
        u->free_pending = 1;
        while (u->active)
            wr_up_cancel(u->active);
        return;
    }
    wr_up_destroy(u);
}

size_t wr_upstream_active(const wr_upstream *u)
{
    return u ? u->nactive : 0;
}

/* ---------------------------------------------------------------- starting a transfer */

static int wr_up_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int wr_up_is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!wr_up_is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

static int wr_up_value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    return 1;
}

static int wr_up_name_is(const wr_http_header *h, const char *name)
{
    size_t n = strlen(name);
    if (h->name_len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = h->name[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

static int wr_up_check_request(const wr_up_request *req, weir_error *err)
{
    if (!req->url || !req->method)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: NULL url or method");
    size_t ml = strlen(req->method);
    if (ml > WR_UP_MAX_METHOD || !wr_up_is_token(req->method, ml))
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: invalid method");
    if (req->body_len && !req->body)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: body is NULL");
    if (req->nheaders && !req->headers)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: headers is NULL");
    for (size_t i = 0; i < req->nheaders; i++) {
        const wr_http_header *h = &req->headers[i];
        if (!h->name || !wr_up_is_token(h->name, h->name_len))
            return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0,
                                "upstream: request header %zu has an invalid name", i);
        if ((h->value_len && !h->value) || !wr_up_value_ok(h->value, h->value_len))
            return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0,
                                "upstream: request header %zu has an invalid value", i);
    }
    CURLU *url = curl_url();
    if (!url)
        return wr_error_set(err, WEIR_ENOMEM, "upstream", 0, 0, "upstream: out of memory");
    char *scheme = NULL;
    int bad = curl_url_set(url, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
              curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
              (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0);
    curl_free(scheme);
    curl_url_cleanup(url);
    if (bad)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0,
                            "upstream: not an http:// or https:// URL");
    return 0;
}

/* The request headers as given, plus empty overrides of curl's own Expect/Accept/Content-Type. */
static int wr_up_build_headers(wr_up_req *r, const wr_up_request *req)
{
    wr_buf *b = &r->u->scratch;
    b->oom = 0;
    int have_expect = 0, have_accept = 0, have_ctype = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const wr_http_header *h = &req->headers[i];
        have_expect |= wr_up_name_is(h, "expect");
        have_accept |= wr_up_name_is(h, "accept");
        have_ctype |= wr_up_name_is(h, "content-type");
        b->len = 0;
        wr_buf_append(b, h->name, h->name_len);
        if (h->value_len) {
            wr_buf_append(b, ": ", 2);
            wr_buf_append(b, h->value, h->value_len);
        } else {
            wr_buf_append(b, ";", 1); /* curl's form for a header with an empty value */
        }
        wr_buf_append(b, "", 1);
        if (b->oom)
            return -1;
        struct curl_slist *l = curl_slist_append(r->hdrs, b->data);
        if (!l)
            return -1;
        r->hdrs = l;
    }
    const char *off[3] = { have_expect ? NULL : "Expect:", have_accept ? NULL : "Accept:",
                           have_ctype ? NULL : "Content-Type:" };
    for (size_t i = 0; i < WR_ARRAY_LEN(off); i++) {
        if (!off[i])
            continue;
        struct curl_slist *l = curl_slist_append(r->hdrs, off[i]);
        if (!l)
            return -1;
        r->hdrs = l;
    }
    return 0;
}

static void wr_up_set_method(wr_up_req *r, const wr_up_request *req)
{
    CURL *e = r->easy;
    const char *m = req->method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        return;
    }
    if (strcmp(m, "GET") == 0 && req->body_len == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (req->body_len || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
        strcmp(m, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body_len ? req->body : "");
    }
    if (strcmp(m, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

static void wr_up_set_options(wr_up_req *r, const wr_up_request *req)
{
    wr_upstream *u = r->u;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(void *)r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (u->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, u->ca_file);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, u->connect_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, wr_up_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, wr_up_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    wr_up_set_method(r, req);
}

int wr_up_start(wr_upstream *u, const wr_up_request *req, const wr_up_callbacks *cb,
                void *user, wr_up_req **out, weir_error *err)
{
    if (out)
        *out = NULL;
    if (!u || !req || !cb || !out)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: NULL argument");
    if (u->free_pending)
        return wr_error_set(err, WEIR_EINVAL, "upstream", 0, 0, "upstream: being freed");
    int rc = wr_up_check_request(req, err);
    if (rc)
        return rc;
    wr_up_req *r = wr_up_req_get(u);
    if (!r)
        return wr_error_set(err, WEIR_ENOMEM, "upstream", 0, 0, "upstream: out of memory");
    r->cb = *cb;
    r->user = user;
    r->first_byte_ms = req->first_byte_timeout_ms ? req->first_byte_timeout_ms
                                                  : WR_UP_DEFAULT_FIRST_BYTE_MS;
    r->idle_ms = req->idle_timeout_ms ? req->idle_timeout_ms : WR_UP_DEFAULT_IDLE_MS;
    if (wr_up_build_headers(r, req) != 0) {
        wr_up_recycle(r);
        return wr_error_set(err, WEIR_ENOMEM, "upstream", 0, 0, "upstream: out of memory");
    }
    wr_up_set_options(r, req);
    if (u->in_curl) { /* inside a curl callback: the multi handle is added to later */
        r->add_pending = 1;
        event_active(r->kick, EV_TIMEOUT, 1);
    } else {
        u->adding = 1;
        CURLMcode mc = curl_multi_add_handle(u->multi, r->easy);
        u->adding = 0;
        if (mc != CURLM_OK) {
            wr_up_recycle(r);
            return wr_error_set(err, WEIR_EINTERNAL, "upstream", 0, 0, "upstream: %s",
                                curl_multi_strerror(mc));
        }
        r->in_multi = 1;
    }
    wr_up_arm(r, r->first_byte_ms);
    wr_up_link(r);
    *out = r;
    return 0;
}

void wr_up_resume(wr_up_req *r)
{
    if (!r || r->cancelled || r->finishing)
        return;
    if (r->in_data) { /* resumed before on_data returned 1 */
        r->resume_early = 1;
        return;
    }
    if (!r->paused || r->resume_pending)
        return;
    r->resume_pending = 1;
    event_active(r->kick, EV_TIMEOUT, 1);
}

void wr_up_cancel(wr_up_req *r)
{
    if (!r || r->cancelled)
        return;
    wr_upstream *u = r->u;
    r->cancelled = 1;
    if (r->finishing)
        return; /* inside its own on_headers/on_done: wr_up_finish recycles it */
    wr_up_unlink(r);
    if (u->in_curl) { /* curl is on the stack: remove the handle once it returned */
        event_del(r->tmo);
        event_del(r->kick);
        r->add_pending = r->resume_pending = 0;
        r->reap_next = u->reap;
        u->reap = r;
        return;
    }
    wr_up_detach(r);
    wr_up_recycle(r);
}
