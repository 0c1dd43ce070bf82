/*
 * test_upstream.c - the sidecar's upstream HTTP client (filter/sidecar/upstream.c).
 *
 * Every test runs a real event loop against a small scripted HTTP/1.1 server in a thread
 * (plain sockets on 127.0.0.1, port 0; TLS through OpenSSL for the verification tests),
 * so what is checked is what goes over the wire: request bytes as sent, responses as
 * received, connection reuse, timeouts, resets, pause/resume and cancellation from inside
 * callbacks (with ASan's leak check covering "no leaks").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sidecar/upstream.h"

#define LOOP_LIMIT_S 30 /* a test whose transfer never ends fails after this */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ================================================================ scripted test server */

typedef enum srv_mode {
    M_FIXED,       /* 200, Content-Length, keep-alive */
    M_CHUNKED,     /* chunked, three pieces 150 ms apart */
    M_CHUNKED_ONE, /* chunked, the whole response (and a trailer) in one write */
    M_500,         /* 500 with a JSON body */
    M_CONTINUE,    /* 100 Continue (with a header), then 200 */
    M_NOBODY,      /* 204 */
    M_CLOSE_MID,   /* Content-Length 100, 10 bytes, close */
    M_NO_ANSWER,   /* reads the request, never answers */
    M_STALL,       /* headers and 5 of 100 body bytes, then nothing */
    M_BIG,         /* 200 with BIG_LEN patterned bytes */
    M_MANY_HEADERS /* 200 with 300 header fields */
} srv_mode;

#define BIG_LEN ((size_t)1024 * 1024)
static const char *const CHUNKS[] = { "alpha-", "beta-", "gamma" };
#define CHUNKED_BODY "alpha-beta-gamma"

typedef struct srv {
    int lfd, port;
    int wake[2];
    pthread_t th;
    srv_mode mode;
    SSL_CTX *tls;
    pthread_mutex_t mu;
    int accepts, requests, tls_failures;
    int cut_off; /* responses of keep-alive modes whose writes failed: the client left */
    char head[16384];
    char *body;
    size_t body_len;
} srv;

typedef struct conn {
    int fd;
    SSL *ssl;
} conn;

/* 1: fd readable, 0: timeout, -1: the server is stopping. */
static int srv_wait(srv *s, int fd, int ms)
{
    struct pollfd p[2] = { { s->wake[0], POLLIN, 0 }, { fd, POLLIN, 0 } };
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (p[0].revents)
        return -1;
    return n > 0 ? 1 : 0;
}

static void srv_sleep(srv *s, int ms)
{
    srv_wait(s, -1, ms);
}

static ssize_t c_read(srv *s, conn *c, char *b, size_t n)
{
    if (!(c->ssl && SSL_pending(c->ssl) > 0) && srv_wait(s, c->fd, -1) < 0)
        return -1;
    if (c->ssl) {
        int r = SSL_read(c->ssl, b, (int)n);
        return r > 0 ? r : -1;
    }
    ssize_t r = recv(c->fd, b, n, 0);
    return r > 0 ? r : -1;
}

static int c_write(conn *c, const void *b, size_t n)
{
    const char *p = b;
    while (n > 0) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, (int)n);
            w = r > 0 ? r : -1;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int c_puts(conn *c, const char *str)
{
    return c_write(c, str, strlen(str));
}

static size_t header_content_length(const char *head)
{
    const char *p = head;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0)
            return (size_t)strtoull(p + 15, NULL, 10);
    }
    return 0;
}

/* Reads one request; records it. 0, -1 (closed / stopping), -2 (not HTTP: a TLS hello). */
static int srv_read_request(srv *s, conn *c)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    char *end = NULL;
    while (!end) {
        if (len + 4096 > cap) {
            free(buf);
            return -1;
        }
        ssize_t n = c_read(s, c, buf + len, cap - len - 1);
        if (n <= 0) {
            free(buf);
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (!c->ssl && (unsigned char)buf[0] == 0x16) {
            free(buf);
            return -2;
        }
        end = strstr(buf, "\r\n\r\n");
    }
    size_t hlen = (size_t)(end - buf) + 4;
    size_t blen = header_content_length(buf);
    char *body = malloc(blen + 1);
    if (!body) {
        free(buf);
        return -1;
    }
    size_t have = len - hlen < blen ? len - hlen : blen;
    memcpy(body, buf + hlen, have);
    while (have < blen) {
        ssize_t n = c_read(s, c, body + have, blen - have);
        if (n <= 0) {
            free(buf);
            free(body);
            return -1;
        }
        have += (size_t)n;
    }
    pthread_mutex_lock(&s->mu);
    size_t keep = hlen < sizeof s->head ? hlen : sizeof s->head - 1;
    memcpy(s->head, buf, keep);
    s->head[keep] = '\0';
    free(s->body);
    s->body = body;
    s->body_len = blen;
    s->requests++;
    pthread_mutex_unlock(&s->mu);
    free(buf);
    return 0;
}

/* Waits until the client closes or the server stops. */
static void srv_hold(srv *s, conn *c)
{
    char b[512];
    while (c_read(s, c, b, sizeof b) > 0)
        ;
}

/* Answers per mode. 0: keep the connection, -1: close it. */
static int srv_respond(srv *s, conn *c)
{
    char buf[256];
    switch (s->mode) {
    case M_FIXED:
        return c_puts(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         "X-Test:   padded value  \r\nContent-Length: 12\r\n\r\nhello, world");
    case M_500:
        return c_puts(c, "HTTP/1.1 500 Internal Server Error\r\n"
                         "Content-Type: application/json\r\nContent-Length: 18\r\n\r\n"
                         "{\"message\":\"boom\"}");
    case M_NOBODY:
        return c_puts(c, "HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n");
    case M_CONTINUE:
        if (c_puts(c, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"))
            return -1;
        srv_sleep(s, 50);
        return c_puts(c, "HTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok");
    case M_CHUNKED:
    case M_CHUNKED_ONE: {
        char all[512];
        int n = snprintf(all, sizeof all, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                          "Content-Type: text/event-stream\r\n\r\n");
        if (s->mode == M_CHUNKED && c_write(c, all, (size_t)n))
            return -1;
        size_t off = s->mode == M_CHUNKED ? 0 : (size_t)n;
        for (size_t i = 0; i < WR_ARRAY_LEN(CHUNKS); i++) {
            if (s->mode == M_CHUNKED) {
                srv_sleep(s, 150);
                int k = snprintf(buf, sizeof buf, "%zx\r\n%s\r\n", strlen(CHUNKS[i]), CHUNKS[i]);
                if (c_write(c, buf, (size_t)k))
                    return -1;
            } else {
                off += (size_t)snprintf(all + off, sizeof all - off, "%zx\r\n%s\r\n",
                                        strlen(CHUNKS[i]), CHUNKS[i]);
            }
        }
        if (s->mode == M_CHUNKED)
            return c_puts(c, "0\r\n\r\n");
        off += (size_t)snprintf(all + off, sizeof all - off, "0\r\nX-Trailer: t\r\n\r\n");
        return c_write(c, all, off);
    }
    case M_CLOSE_MID:
        c_puts(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        srv_sleep(s, 50);
        return -1;
    case M_NO_ANSWER:
        srv_hold(s, c);
        return -1;
    case M_STALL:
        if (c_puts(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n01234") == 0)
            srv_hold(s, c);
        return -1;
    case M_MANY_HEADERS:
        if (c_puts(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"))
            return -1;
        for (int i = 0; i < 300; i++) {
            int k = snprintf(buf, sizeof buf, "X-H%d: v\r\n", i);
            if (c_write(c, buf, (size_t)k))
                return -1;
        }
        return c_puts(c, "\r\nok");
    case M_BIG: {
        int n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                         BIG_LEN);
        if (c_write(c, buf, (size_t)n))
            return -1;
        char *blk = malloc(65536);
        if (!blk)
            return -1;
        int rc = 0;
        for (size_t off = 0; off < BIG_LEN && rc == 0; off += 65536) {
            for (size_t i = 0; i < 65536; i++)
                blk[i] = (char)((off + i) % 251);
            rc = c_write(c, blk, 65536);
        }
        free(blk);
        return rc;
    }
    }
    return -1;
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    for (;;) {
        if (srv_wait(s, s->lfd, -1) < 0)
            break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->accepts++;
        pthread_mutex_unlock(&s->mu);
        conn c = { fd, NULL };
        if (s->tls) {
            c.ssl = SSL_new(s->tls);
            SSL_set_fd(c.ssl, fd);
            if (SSL_accept(c.ssl) != 1) {
                pthread_mutex_lock(&s->mu);
                s->tls_failures++;
                pthread_mutex_unlock(&s->mu);
                SSL_free(c.ssl);
                close(fd);
                ERR_clear_error();
                continue;
            }
        }
        for (;;) {
            int rc = srv_read_request(s, &c);
            if (rc == -2)
                c_puts(&c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n");
            if (rc != 0)
                break;
            if (srv_respond(s, &c) != 0) {
                pthread_mutex_lock(&s->mu);
                s->cut_off += s->mode == M_CHUNKED || s->mode == M_FIXED || s->mode == M_BIG;
                pthread_mutex_unlock(&s->mu);
                break;
            }
        }
        if (c.ssl) {
            SSL_shutdown(c.ssl);
            SSL_free(c.ssl);
            ERR_clear_error();
        }
        close(fd);
    }
    return NULL;
}

static int listen_local(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, backlog), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static srv *srv_start(srv_mode mode, SSL_CTX *tls)
{
    srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    s->tls = tls;
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pipe(s->wake), 0);
    s->lfd = listen_local(16, &s->port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(srv *s)
{
    if (!s)
        return;
    assert_int_equal(write(s->wake[1], "x", 1), 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s->body);
    free(s);
}

static int srv_accepts(srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->accepts;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int srv_cut_off(srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->cut_off;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void srv_url(const srv *s, const char *scheme, const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s://127.0.0.1:%d%s", scheme, s->port, path);
}

/* ================================================================ client side */

typedef struct fixture {
    struct event_base *base;
    wr_upstream *u;
    int outstanding; /* transfers whose on_done ends the loop */
} fixture;

/* One transfer's observations and scripted reactions. */
typedef struct tc {
    fixture *f;
    wr_up_req *r;
    int nheaders, ndata, ndone;
    int bad_order;
    int status;
    char hdrs[4096];
    size_t hdrs_len;
    char *body;
    size_t body_len, body_cap;
    wr_up_result result;
    char msg[512];
    uint64_t t_start, t_done;

    int pause_first, pause_all, resume_inside;
    unsigned resume_ms;
    int paused, data_while_paused, npauses;
    struct event *resume_ev;

    int cancel_in_headers, cancel_in_data, abort_in_data, free_in_data;
    wr_up_req **cancel_other; /* cancelled from this transfer's first on_data */
    struct tc *start_other;   /* started from this transfer's first on_data */
    const wr_up_request *start_other_req;
    struct tc *start_on_done; /* started from this transfer's on_done */
    const wr_up_request *start_on_done_req;
} tc;

static const wr_up_callbacks CB;

static void tc_init(tc *t, fixture *f)
{
    memset(t, 0, sizeof *t);
    t->f = f;
    t->result = (wr_up_result)-1;
}

static void tc_free(tc *t)
{
    if (t->resume_ev)
        event_free(t->resume_ev);
    free(t->body);
}

static void on_resume_timer(evutil_socket_t fd, short what, void *arg)
{
    tc *t = arg;
    (void)fd;
    (void)what;
    t->paused = 0;
    wr_up_resume(t->r);
}

static void on_headers(void *user, int status, const wr_http_header *h, size_t n)
{
    tc *t = user;
    if (t->nheaders || t->ndata || t->ndone)
        t->bad_order++;
    t->nheaders++;
    t->status = status;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(t->hdrs + t->hdrs_len, sizeof t->hdrs - t->hdrs_len, "%.*s=%.*s\n",
                         (int)h[i].name_len, h[i].name, (int)h[i].value_len, h[i].value);
        if (k > 0 && (size_t)k < sizeof t->hdrs - t->hdrs_len)
            t->hdrs_len += (size_t)k;
    }
    if (t->cancel_in_headers) {
        wr_up_cancel(t->r);
        event_base_loopexit(t->f->base, &(struct timeval){ 1, 0 });
    }
}

static int on_data(void *user, const char *data, size_t len)
{
    tc *t = user;
    if (!t->nheaders || t->ndone)
        t->bad_order++;
    if (t->paused)
        t->data_while_paused++;
    t->ndata++;
    if (t->body_len + len > t->body_cap) {
        t->body_cap = (t->body_len + len) * 2;
        t->body = realloc(t->body, t->body_cap);
        assert_non_null(t->body);
    }
    memcpy(t->body + t->body_len, data, len);
    t->body_len += len;

    if (t->ndata == 1 && t->cancel_other) {
        wr_up_cancel(*t->cancel_other);
        *t->cancel_other = NULL;
        t->f->outstanding--;
    }
    if (t->ndata == 1 && t->start_other) {
        weir_error err;
        t->start_other->t_start = now_ms();
        assert_int_equal(wr_up_start(t->f->u, t->start_other_req, &CB, t->start_other,
                                     &t->start_other->r, &err), 0);
        t->f->outstanding++;
    }
    if (t->cancel_in_data) {
        wr_up_cancel(t->r);
        event_base_loopexit(t->f->base, &(struct timeval){ 1, 0 });
        return 0;
    }
    if (t->free_in_data) {
        wr_upstream_free(t->f->u);
        t->f->u = NULL;
        event_base_loopexit(t->f->base, &(struct timeval){ 1, 0 });
        return 0;
    }
    if (t->abort_in_data)
        return -1;
    if ((t->pause_first && t->ndata == 1) || t->pause_all) {
        t->npauses++;
        if (t->resume_inside) {
            wr_up_resume(t->r); /* before returning 1: must still resume */
            return 1;
        }
        t->paused = 1;
        if (!t->resume_ev)
            t->resume_ev = evtimer_new(t->f->base, on_resume_timer, t);
        struct timeval tv = { t->resume_ms / 1000, (suseconds_t)(t->resume_ms % 1000) * 1000 };
        evtimer_add(t->resume_ev, &tv);
        return 1;
    }
    return 0;
}

static void on_done(void *user, wr_up_result result, const char *message)
{
    tc *t = user;
    if (t->ndone)
        t->bad_order++;
    if (result == WR_UP_OK && !t->nheaders)
        t->bad_order++;
    t->ndone++;
    t->t_done = now_ms();
    t->result = result;
    snprintf(t->msg, sizeof t->msg, "%s", message ? message : "(null)");
    if (t->start_on_done) {
        weir_error err;
        t->start_on_done->t_start = now_ms();
        assert_int_equal(wr_up_start(t->f->u, t->start_on_done_req, &CB, t->start_on_done,
                                     &t->start_on_done->r, &err), 0);
        t->f->outstanding++;
    }
    if (--t->f->outstanding <= 0)
        event_base_loopbreak(t->f->base);
}

static const wr_up_callbacks CB = { on_headers, on_data, on_done };

static void on_loop_limit(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until every counted transfer is done (or a loopexit); fails after a limit. */
static void run(fixture *f)
{
    int hit = 0;
    struct event *limit = evtimer_new(f->base, on_loop_limit, &hit);
    struct timeval tv = { LOOP_LIMIT_S, 0 };
    evtimer_add(limit, &tv);
    while (f->outstanding > 0 && !hit) {
        if (event_base_loop(f->base, EVLOOP_ONCE) < 0)
            break;
        if (event_base_got_break(f->base) || event_base_got_exit(f->base))
            break;
    }
    event_free(limit);
    assert_false(hit);
}

/* Runs the loop for `ms` whatever happens (to see that nothing else is called back). */
static void run_for(fixture *f, unsigned ms)
{
    struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

static void start(fixture *f, tc *t, const wr_up_request *req)
{
    weir_error err;
    memset(&err, 0, sizeof err);
    t->t_start = now_ms();
    int rc = wr_up_start(f->u, req, &CB, t, &t->r, &err);
    if (rc)
        fail_msg("wr_up_start: %s", err.text);
    f->outstanding++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    weir_error err;
    assert_int_equal(wr_upstream_new(&f->u, f->base, NULL, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wr_upstream_free(f->u);
    event_base_free(f->base);
    free(f);
    return 0;
}

static wr_up_request post_req(const char *url)
{
    wr_up_request q = { 0 };
    q.method = "POST";
    q.url = url;
    q.body = "{}";
    q.body_len = 2;
    return q;
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *ci_strstr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\r'))
            return 1;
    return 0;
}

/* ================================================================ tests */

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(wr_up_result_name(WR_UP_OK), "ok");
    assert_string_equal(wr_up_result_name(WR_UP_REFUSED), "refused");
    assert_string_equal(wr_up_result_name(WR_UP_CONNECT_TIMEOUT), "connect_timeout");
    assert_string_equal(wr_up_result_name(WR_UP_TIMEOUT), "timeout");
    assert_string_equal(wr_up_result_name(WR_UP_RESET), "reset");
    assert_string_equal(wr_up_result_name(WR_UP_TLS), "tls");
    assert_string_equal(wr_up_result_name(WR_UP_TOO_LARGE), "too_large");
    assert_string_equal(wr_up_result_name(WR_UP_ABORTED), "aborted");
    assert_string_equal(wr_up_result_name(WR_UP_OTHER), "other");
}

static void test_fixed_200(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_FIXED, NULL);
    char url[128];
    srv_url(s, "http", "/model/x/invoke", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    assert_int_equal(wr_upstream_active(f->u), 1);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_string_equal(t.msg, "");
    assert_int_equal(t.bad_order, 0);
    assert_int_equal(t.nheaders, 1);
    assert_int_equal(t.ndone, 1);
    assert_int_equal(t.status, 200);
    assert_true(has_line(t.hdrs, "Content-Type=text/plain"));
    assert_true(has_line(t.hdrs, "X-Test=padded value"));
    assert_true(has_line(t.hdrs, "Content-Length=12"));
    assert_int_equal(t.body_len, 12);
    assert_memory_equal(t.body, "hello, world", 12);
    assert_int_equal(wr_upstream_active(f->u), 0);
    tc_free(&t);
    srv_stop(s);
}

static void test_request_exact(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_FIXED, NULL);
    char url[128];
    srv_url(s, "http", "/model/a%3Ab/invoke?x=1", url, sizeof url);
    static const char body[] = "{\"a\":1}\0binary\xff";
    wr_http_header h[] = { WR_HDR("Content-Type", "application/json"),
                           WR_HDR("X-Amz-Date", "20250102T030405Z"),
                           WR_HDR("authorization", "AWS4-HMAC-SHA256 Credential=AKID/x, Sig=ab"),
                           WR_HDR("X-Empty", ""),
                           WR_HDR("X-Dup", "1"),
                           WR_HDR("X-Dup", "2") };
    wr_up_request q = { 0 };
    q.method = "POST";
    q.url = url;
    q.headers = h;
    q.nheaders = WR_ARRAY_LEN(h);
    q.body = body;
    q.body_len = sizeof body - 1;
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);

    pthread_mutex_lock(&s->mu);
    const char *hd = s->head;
    assert_true(strncmp(hd, "POST /model/a%3Ab/invoke?x=1 HTTP/1.1\r\n", 39) == 0);
    assert_non_null(strstr(hd, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(hd, "\r\nX-Amz-Date: 20250102T030405Z\r\n"));
    assert_non_null(
        strstr(hd, "\r\nauthorization: AWS4-HMAC-SHA256 Credential=AKID/x, Sig=ab\r\n"));
    assert_non_null(strstr(hd, "\r\nX-Empty:\r\n"));
    assert_non_null(strstr(hd, "\r\nX-Dup: 1\r\nX-Dup: 2\r\n"));
    char cl[64];
    snprintf(cl, sizeof cl, "\r\nContent-Length: %zu\r\n", sizeof body - 1);
    assert_non_null(strstr(hd, cl));
    assert_non_null(ci_strstr(hd, "\r\nHost: 127.0.0.1:"));
    assert_null(ci_strstr(hd, "\r\nExpect:"));
    assert_null(ci_strstr(hd, "\r\nUser-Agent:"));
    assert_null(ci_strstr(hd, "\r\nAccept:"));
    assert_null(ci_strstr(hd, "\r\nAccept-Encoding:"));
    assert_null(ci_strstr(hd, "\r\nTransfer-Encoding:"));
    assert_int_equal(s->body_len, sizeof body - 1);
    assert_memory_equal(s->body, body, sizeof body - 1);
    pthread_mutex_unlock(&s->mu);
    tc_free(&t);

    /* A 2 MiB body: curl would add Expect: 100-continue past 1 MiB; it must not. No
       Content-Type given: curl's form default must not appear either. */
    size_t big = (size_t)2 * 1024 * 1024;
    char *bb = malloc(big);
    assert_non_null(bb);
    for (size_t i = 0; i < big; i++)
        bb[i] = (char)(i * 7 % 256);
    wr_up_request q2 = { 0 };
    q2.method = "PUT";
    q2.url = url;
    q2.body = bb;
    q2.body_len = big;
    tc_init(&t, f);
    start(f, &t, &q2);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    pthread_mutex_lock(&s->mu);
    assert_true(strncmp(s->head, "PUT /model/a%3Ab/invoke?x=1 HTTP/1.1\r\n", 38) == 0);
    assert_null(ci_strstr(s->head, "\r\nExpect:"));
    assert_null(ci_strstr(s->head, "\r\nContent-Type:"));
    assert_non_null(strstr(s->head, "\r\nContent-Length: 2097152\r\n"));
    assert_int_equal(s->body_len, big);
    assert_memory_equal(s->body, bb, big);
    pthread_mutex_unlock(&s->mu);
    free(bb);
    tc_free(&t);

    /* GET without a body: no Content-Length. */
    wr_up_request q3 = { 0 };
    q3.method = "GET";
    q3.url = url;
    tc_init(&t, f);
    start(f, &t, &q3);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    pthread_mutex_lock(&s->mu);
    assert_true(strncmp(s->head, "GET /model/a%3Ab/invoke?x=1 HTTP/1.1\r\n", 38) == 0);
    assert_null(ci_strstr(s->head, "\r\nContent-Length:"));
    pthread_mutex_unlock(&s->mu);
    tc_free(&t);
    srv_stop(s);
}

static void test_chunked_with_delays(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED, NULL);
    char url[128];
    srv_url(s, "http", "/stream", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_int_equal(t.bad_order, 0);
    assert_int_equal(t.status, 200);
    assert_true(has_line(t.hdrs, "Transfer-Encoding=chunked"));
    assert_true(t.ndata >= 3); /* pieces 150 ms apart arrive as they come */
    assert_int_equal(t.body_len, strlen(CHUNKED_BODY));
    assert_memory_equal(t.body, CHUNKED_BODY, t.body_len);
    tc_free(&t);
    srv_stop(s);
}

static void test_status_500_with_body(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_500, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK); /* any HTTP status is a successful transfer */
    assert_int_equal(t.status, 500);
    assert_int_equal(t.body_len, 18);
    assert_memory_equal(t.body, "{\"message\":\"boom\"}", 18);
    tc_free(&t);
    srv_stop(s);
}

static void test_interim_100_skipped(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CONTINUE, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_int_equal(t.nheaders, 1);
    assert_int_equal(t.status, 200);
    assert_true(has_line(t.hdrs, "X-Final=1"));
    assert_null(strstr(t.hdrs, "X-Interim")); /* the 100's headers are not the response's */
    assert_int_equal(t.body_len, 2);
    assert_memory_equal(t.body, "ok", 2);
    tc_free(&t);
    srv_stop(s);
}

static void test_no_body_204(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_NOBODY, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_int_equal(t.bad_order, 0); /* on_headers came before on_done */
    assert_int_equal(t.nheaders, 1);
    assert_int_equal(t.status, 204);
    assert_true(has_line(t.hdrs, "X-Empty=yes"));
    assert_int_equal(t.ndata, 0);
    tc_free(&t);
    srv_stop(s);
}

static void test_close_mid_body_is_reset(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CLOSE_MID, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_RESET);
    assert_int_equal(t.status, 200);
    assert_int_equal(t.body_len, 10);
    assert_true(strlen(t.msg) > 0);
    assert_null(strstr(t.msg, "{}")); /* nothing of the request */
    tc_free(&t);
    srv_stop(s);
}

static void test_first_byte_timeout(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_NO_ANSWER, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    q.first_byte_timeout_ms = 1000;
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_TIMEOUT);
    assert_int_equal(t.nheaders, 0);
    assert_true(t.t_done - t.t_start >= 950);
    assert_true(t.t_done - t.t_start < 10000);
    assert_non_null(strstr(t.msg, "1000 ms"));
    assert_int_equal(wr_upstream_active(f->u), 0);
    tc_free(&t);
    srv_stop(s);
}

static void test_idle_timeout(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_STALL, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    q.idle_timeout_ms = 1000;
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_TIMEOUT);
    assert_int_equal(t.nheaders, 1);
    assert_int_equal(t.status, 200);
    assert_int_equal(t.body_len, 5);
    assert_memory_equal(t.body, "01234", 5);
    assert_true(t.t_done - t.t_start >= 950);
    assert_true(t.t_done - t.t_start < 10000);
    tc_free(&t);
    srv_stop(s);
}

static void test_refused(void **state)
{
    fixture *f = *state;
    int port;
    int fd = listen_local(1, &port);
    close(fd); /* nothing listens there now */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_REFUSED);
    assert_int_equal(t.nheaders, 0);
    assert_true(strlen(t.msg) > 0);
    tc_free(&t);
}

/* A listener whose accept queue is full drops SYNs: the connect hangs until its timeout. */
static void test_connect_timeout(void **state)
{
    fixture *f = *state;
    wr_upstream_free(f->u);
    weir_error err;
    wr_up_options o = { 0 };
    o.connect_timeout_ms = 1000;
    assert_int_equal(wr_upstream_new(&f->u, f->base, &o, &err), 0);

    int port;
    int lfd = listen_local(0, &port);
    int fill[2];
    for (int i = 0; i < 2; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM, 0);
        fcntl(fill[i], F_SETFL, O_NONBLOCK);
        struct sockaddr_in a = { 0 };
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)port);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
        struct pollfd p = { fill[i], POLLOUT, 0 };
        poll(&p, 1, i == 0 ? 2000 : 200);
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    wr_up_request q = post_req(url);
    q.first_byte_timeout_ms = 20000;
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_CONNECT_TIMEOUT);
    assert_true(t.t_done - t.t_start >= 900);
    assert_true(t.t_done - t.t_start < 10000);
    tc_free(&t);
    close(fill[0]);
    close(fill[1]);
    close(lfd);
}

static void test_connection_reused(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_FIXED, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc a, b, c;
    tc_init(&a, f);
    tc_init(&b, f);
    tc_init(&c, f);
    start(f, &a, &q);
    run(f);
    assert_int_equal(a.result, WR_UP_OK);
    start(f, &b, &q); /* after the loop returned */
    b.start_on_done = &c; /* and one started from inside on_done */
    b.start_on_done_req = &q;
    run(f);
    assert_int_equal(b.result, WR_UP_OK);
    assert_int_equal(c.result, WR_UP_OK);
    assert_int_equal(c.body_len, 12);
    assert_int_equal(srv_accepts(s), 1);
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->requests, 3);
    pthread_mutex_unlock(&s->mu);
    tc_free(&a);
    tc_free(&b);
    tc_free(&c);
    srv_stop(s);
}

static void test_pause_resume_timer(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    q.idle_timeout_ms = 700; /* time paused is not idleness */
    tc t;
    tc_init(&t, f);
    t.pause_first = 1;
    t.resume_ms = 1500;
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_int_equal(t.npauses, 1);
    assert_int_equal(t.data_while_paused, 0);
    assert_int_equal(t.bad_order, 0);
    assert_int_equal(t.body_len, strlen(CHUNKED_BODY));
    assert_memory_equal(t.body, CHUNKED_BODY, t.body_len);
    assert_true(t.t_done - t.t_start >= 1500);
    tc_free(&t);
    srv_stop(s);
}

/* The whole response arrives in one read: bytes after the pausing chunk are held. */
static void test_pause_resume_held_bytes(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED_ONE, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    for (int mode = 0; mode < 2; mode++) {
        tc t;
        tc_init(&t, f);
        t.pause_first = mode == 0;
        t.pause_all = mode == 1;
        t.resume_ms = 200;
        start(f, &t, &q);
        run(f);
        assert_int_equal(t.result, WR_UP_OK);
        assert_int_equal(t.data_while_paused, 0);
        assert_int_equal(t.bad_order, 0);
        assert_int_equal(t.body_len, strlen(CHUNKED_BODY));
        assert_memory_equal(t.body, CHUNKED_BODY, t.body_len);
        assert_true(t.npauses >= 1);
        assert_int_equal(t.nheaders, 1);
        assert_null(strstr(t.hdrs, "X-Trailer")); /* trailers are not headers */
        tc_free(&t);
    }
    srv_stop(s);
}

/* 1 MiB, pausing on every chunk and resuming from inside on_data before returning 1. */
static void test_pause_every_chunk_big(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_BIG, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    t.pause_all = 1;
    t.resume_inside = 1;
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_int_equal(t.body_len, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        if (t.body[i] != (char)(i % 251))
            fail_msg("byte %zu differs", i);
    assert_true(t.npauses > 1);
    tc_free(&t);
    srv_stop(s);
}

/* Untrusted upstream: a response with too many header fields is refused, not passed on. */
static void test_too_many_response_headers(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_MANY_HEADERS, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OTHER);
    assert_non_null(strstr(t.msg, "headers too large"));
    assert_int_equal(t.nheaders, 0);
    assert_int_equal(t.ndata, 0);
    tc_free(&t);
    srv_stop(s);
}

static void test_cancel_in_data(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    t.cancel_in_data = 1;
    start(f, &t, &q);
    run(f);
    run_for(f, 800); /* the rest of the response would have come by now */
    assert_int_equal(t.ndata, 1);
    assert_int_equal(t.ndone, 0);
    assert_int_equal(wr_upstream_active(f->u), 0);
    assert_int_equal(srv_cut_off(s), 1); /* the transfer really stopped: connection closed */
    tc_free(&t);
    srv_stop(s);
}

static void test_cancel_in_headers(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    t.cancel_in_headers = 1;
    start(f, &t, &q);
    run(f);
    run_for(f, 800);
    assert_int_equal(t.nheaders, 1);
    assert_int_equal(t.ndata, 0);
    assert_int_equal(t.ndone, 0);
    assert_int_equal(wr_upstream_active(f->u), 0);
    assert_int_equal(srv_cut_off(s), 1);
    tc_free(&t);
    srv_stop(s);
}

/* A's on_data cancels B (waiting on another server) and starts C; A and C complete. */
static void test_cancel_and_start_from_other_callback(void **state)
{
    fixture *f = *state;
    srv *sa = srv_start(M_CHUNKED, NULL);
    srv *sb = srv_start(M_NO_ANSWER, NULL);
    srv *sc = srv_start(M_FIXED, NULL);
    char ua[128], ub[128], uc[128];
    srv_url(sa, "http", "/", ua, sizeof ua);
    srv_url(sb, "http", "/", ub, sizeof ub);
    srv_url(sc, "http", "/", uc, sizeof uc);
    wr_up_request qa = post_req(ua), qb = post_req(ub), qc = post_req(uc);
    tc a, b, c;
    tc_init(&a, f);
    tc_init(&b, f);
    tc_init(&c, f);
    start(f, &b, &qb);
    start(f, &a, &qa);
    assert_int_equal(wr_upstream_active(f->u), 2);
    a.cancel_other = &b.r;
    a.start_other = &c;
    a.start_other_req = &qc;
    run(f);
    assert_int_equal(a.result, WR_UP_OK);
    assert_memory_equal(a.body, CHUNKED_BODY, strlen(CHUNKED_BODY));
    assert_int_equal(c.result, WR_UP_OK);
    assert_int_equal(c.status, 200);
    assert_int_equal(b.nheaders + b.ndata + b.ndone, 0);
    assert_null(b.r);
    assert_int_equal(wr_upstream_active(f->u), 0);
    tc_free(&a);
    tc_free(&b);
    tc_free(&c);
    srv_stop(sa);
    srv_stop(sb);
    srv_stop(sc);
}

static void test_abort_in_data(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    t.abort_in_data = 1;
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_ABORTED);
    assert_int_equal(t.ndata, 1);
    assert_int_equal(t.ndone, 1);
    assert_int_equal(wr_upstream_active(f->u), 0);
    run_for(f, 800);
    assert_int_equal(srv_cut_off(s), 1);
    tc_free(&t);
    srv_stop(s);
}

static void test_free_in_data(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_CHUNKED, NULL);
    srv *s2 = srv_start(M_NO_ANSWER, NULL);
    char url[128], url2[128];
    srv_url(s, "http", "/", url, sizeof url);
    srv_url(s2, "http", "/", url2, sizeof url2);
    wr_up_request q = post_req(url), q2 = post_req(url2);
    tc t, other;
    tc_init(&t, f);
    tc_init(&other, f);
    t.free_in_data = 1;
    start(f, &other, &q2);
    start(f, &t, &q);
    run(f);
    run_for(f, 800);
    assert_null(f->u);
    assert_int_equal(t.ndata, 1);
    assert_int_equal(t.ndone, 0);
    assert_int_equal(other.nheaders + other.ndata + other.ndone, 0);
    tc_free(&t);
    tc_free(&other);
    srv_stop(s);
    srv_stop(s2);
}

static void test_free_and_cancel_outside_callbacks(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_NO_ANSWER, NULL);
    char url[128];
    srv_url(s, "http", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc a, b, c;
    tc_init(&a, f);
    tc_init(&b, f);
    tc_init(&c, f);
    start(f, &a, &q);
    start(f, &b, &q);
    start(f, &c, &q);
    assert_int_equal(wr_upstream_active(f->u), 3);
    wr_up_cancel(c.r); /* before it ever ran */
    assert_int_equal(wr_upstream_active(f->u), 2);
    run_for(f, 300);
    wr_up_cancel(a.r); /* connected, waiting */
    assert_int_equal(wr_upstream_active(f->u), 1);
    run_for(f, 100);
    wr_upstream_free(f->u); /* b still in progress */
    f->u = NULL;
    run_for(f, 300);
    assert_int_equal(a.nheaders + a.ndata + a.ndone, 0);
    assert_int_equal(b.nheaders + b.ndata + b.ndone, 0);
    assert_int_equal(c.nheaders + c.ndata + c.ndone, 0);
    tc_free(&a);
    tc_free(&b);
    tc_free(&c);
    srv_stop(s);
}

static void test_invalid_arguments(void **state)
{
    fixture *f = *state;
    weir_error err;
    wr_up_req *r = (wr_up_req *)&err;
    tc t;
    tc_init(&t, f);
    wr_up_request q = post_req("http://127.0.0.1:1/");
    assert_int_equal(wr_up_start(f->u, NULL, &CB, &t, &r, &err), WEIR_EINVAL);
    assert_null(r);

    q.url = NULL;
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    q.url = "ftp://127.0.0.1/x";
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    q.url = "not a url";
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    q.url = "http://127.0.0.1:1/";
    q.method = "PO ST";
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    q.method = "POST";
    wr_http_header inj[] = { WR_HDR("X-A", "1\r\nX-Injected: 1") };
    q.headers = inj;
    q.nheaders = 1;
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "header 0"));
    assert_null(strstr(err.text, "Injected")); /* values are not echoed */
    wr_http_header badname[] = { WR_HDR("X-A:", "1") };
    q.headers = badname;
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    q.headers = NULL;
    q.nheaders = 0;
    q.body = NULL;
    q.body_len = 3;
    assert_int_equal(wr_up_start(f->u, &q, &CB, &t, &r, &err), WEIR_EINVAL);
    assert_int_equal(wr_upstream_active(f->u), 0);

    run_for(f, 100);
    assert_int_equal(t.nheaders + t.ndata + t.ndone, 0);

    wr_up_options o = { 0 };
    o.ca_file = "/nonexistent/ca.pem";
    wr_upstream *u2 = (wr_upstream *)&err;
    assert_int_equal(wr_upstream_new(&u2, f->base, &o, &err), WEIR_EIO);
    assert_null(u2);
    assert_int_equal(wr_upstream_new(NULL, f->base, NULL, &err), WEIR_EINVAL);
    wr_upstream_free(NULL);
    wr_up_cancel(NULL);
    wr_up_resume(NULL);
    assert_int_equal(wr_upstream_active(NULL), 0);
    tc_free(&t);
}

/* ---------------------------------------------------------------- TLS */

typedef struct tls_fixture {
    SSL_CTX *ctx;
    char cert_path[64];
} tls_fixture;

static void make_tls(tls_fixture *tf)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    assert_non_null(pkey);
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const struct {
        int nid;
        const char *value;
    } exts[] = { { NID_subject_alt_name, "IP:127.0.0.1" },
                 { NID_basic_constraints, "critical,CA:TRUE" } };
    for (size_t i = 0; i < WR_ARRAY_LEN(exts); i++) {
        X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

    snprintf(tf->cert_path, sizeof tf->cert_path, "/tmp/weir-up-ca-XXXXXX");
    int fd = mkstemp(tf->cert_path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);

    tf->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(tf->ctx);
    assert_int_equal(SSL_CTX_use_certificate(tf->ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(tf->ctx, pkey), 1);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

static void test_tls_verification(void **state)
{
    fixture *f = *state;
    tls_fixture tf;
    make_tls(&tf);
    srv *s = srv_start(M_FIXED, tf.ctx);
    char url[128];
    srv_url(s, "https", "/", url, sizeof url);
    wr_up_request q = post_req(url);

    /* System CA store: the self-signed certificate is not trusted. */
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_TLS);
    assert_int_equal(t.nheaders, 0);
    assert_true(strlen(t.msg) > 0);
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->requests, 0);
    pthread_mutex_unlock(&s->mu);
    tc_free(&t);

    /* With the certificate as the CA file the same server is fine. */
    wr_upstream_free(f->u);
    weir_error err;
    wr_up_options o = { 0 };
    o.ca_file = tf.cert_path;
    assert_int_equal(wr_upstream_new(&f->u, f->base, &o, &err), 0);
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_int_equal(t.result, WR_UP_OK);
    assert_int_equal(t.status, 200);
    assert_memory_equal(t.body, "hello, world", 12);
    tc_free(&t);

    /* Same CA, but the name does not match (localhost is not in the certificate). A new
       client: the server serves one connection at a time and the last one is kept. */
    wr_upstream_free(f->u);
    assert_int_equal(wr_upstream_new(&f->u, f->base, &o, &err), 0);
    char url2[128];
    snprintf(url2, sizeof url2, "https://localhost:%d/", s->port);
    wr_up_request q2 = post_req(url2);
    tc_init(&t, f);
    start(f, &t, &q2);
    run(f);
    if (t.result != WR_UP_TLS && t.result != WR_UP_REFUSED) /* ::1 may be refused */
        fail_msg("localhost: %s: %s", wr_up_result_name(t.result), t.msg);
    assert_int_equal(t.nheaders, 0);
    tc_free(&t);

    srv_stop(s);
    SSL_CTX_free(tf.ctx);
    unlink(tf.cert_path);
}

static void test_https_to_plain_port_fails(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(M_FIXED, NULL);
    char url[128];
    srv_url(s, "https", "/", url, sizeof url);
    wr_up_request q = post_req(url);
    tc t;
    tc_init(&t, f);
    start(f, &t, &q);
    run(f);
    assert_true(t.result == WR_UP_TLS || t.result == WR_UP_OTHER);
    assert_int_equal(t.nheaders, 0);
    tc_free(&t);
    srv_stop(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const char *const proxies[] = { "http_proxy", "HTTP_PROXY", "https_proxy",
                                           "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
    for (size_t i = 0; i < WR_ARRAY_LEN(proxies); i++)
        unsetenv(proxies[i]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_names),
        cmocka_unit_test_setup_teardown(test_fixed_200, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_with_delays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_500_with_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_100_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_body_204, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_body_is_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_byte_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume_held_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_every_chunk_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_response_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_start_from_other_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_in_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_and_cancel_outside_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https_to_plain_port_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
