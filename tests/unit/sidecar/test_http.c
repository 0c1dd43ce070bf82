/*
 * test_http.c - the sidecar's HTTP server (filter/sidecar/http.c, http_h1.c, http_h2.c).
 *
 * Each test runs a real server on 127.0.0.1:0 with its own event_base in a background
 * thread and talks to it with libcurl (HTTP/1.1, h2c with prior knowledge, curl multi for
 * concurrent streams) or with raw sockets for malformed and slow clients. The handler's
 * behaviour is chosen by the request path:
 *
 *   /echo...      JSON {method, target, version, error, headers, body}; status = error or 200
 *   /stream?n=N   N chunks "chunk-i\n" written from a timer, streamed (no Content-Length)
 *   /forever      1 KiB every 10 ms until the client goes away
 *   /abort        starts a streamed answer, writes "partial-data\n", then respond_abort
 *   /hold         never answers
 *   /sink         the length of the request body, 100 ms later
 *   /big?n=N      N pattern bytes with Content-Length, written only while not full
 *
 * curl 7.88.1 cannot reuse or multiplex an h2c prior-knowledge connection (curl #10634),
 * so several streams on one connection, stream resets and GOAWAY are driven by a small
 * nghttp2 client (h2c_*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <nghttp2/nghttp2.h>

#include "sidecar/http.h"

/* ---------------------------------------------------------------- the server under test */

typedef struct srv {
    struct event_base *base;
    wr_http_server *s;
    pthread_t th;
    int port;
    atomic_int requests, aborts, drains, rejects, last_reject, last_error, max_in_flight;
    atomic_int fulls, paused;
    atomic_llong big_written;
} srv;

enum { JOB_STREAM, JOB_FOREVER, JOB_ABORT, JOB_BIG, JOB_SINK };

typedef struct job {
    srv *sv;
    wr_http_req *r;
    struct event *ev;
    int kind, i, n;
    long long total, done;
} job;

static unsigned char pat(long long i)
{
    return (unsigned char)((i * 131 + (i >> 9)) & 0xff);
}

static long query_n(const char *target, long dflt)
{
    const char *q = strstr(target, "n=");
    return q ? atol(q + 2) : dflt;
}

static void job_free(job *j)
{
    if (j->ev)
        event_free(j->ev);
    free(j);
}

static void echo(srv *sv, wr_http_req *r)
{
    const char *emsg = NULL;
    int e = wr_http_req_error(r, &emsg);
    size_t blen;
    const char *body = wr_http_req_body(r, &blen);
    assert_int_equal(body[blen], '\0');
    json_t *o = json_object(), *hs = json_array();
    json_object_set_new(o, "method", json_string(wr_http_req_method(r)));
    json_object_set_new(o, "target", json_string(wr_http_req_target(r)));
    json_object_set_new(o, "version", json_integer(wr_http_req_version(r)));
    json_object_set_new(o, "error", json_integer(e));
    json_object_set_new(o, "peer_ip", json_string(wr_http_req_peer_ip(r)));
    for (size_t i = 0; i < wr_http_req_nheaders(r); i++) {
        const wr_http_header *h = wr_http_req_header_at(r, i);
        json_array_append_new(hs, json_pack("[s%s%]", h->name, h->name_len, h->value,
                                            h->value_len));
    }
    assert_null(wr_http_req_header_at(r, wr_http_req_nheaders(r)));
    json_object_set_new(o, "headers", hs);
    json_object_set_new(o, "body", json_stringn(body, blen));
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (e)
        atomic_store(&sv->last_error, e);
    wr_http_header h[] = {WR_HDR("Content-Type", "application/json"),
                          WR_HDR("Connection", "keep-alive"), WR_HDR("X-Test", "yes")};
    if (strstr(wr_http_req_target(r), "close=1"))
        h[1] = (wr_http_header)WR_HDR("Connection", "Close");
    assert_int_equal(wr_http_respond(r, e ? e : 200, h, 3, txt, strlen(txt)), 0);
    free(txt);
}

static void stream_tick(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    job *j = arg;
    char line[64];
    if (j->kind == JOB_ABORT) {
        wr_http_respond_abort(j->r);
        job_free(j);
        return;
    }
    if (j->kind == JOB_SINK) {
        size_t blen;
        wr_http_req_body(j->r, &blen);
        int n = snprintf(line, sizeof line, "%zu", blen);
        assert_int_equal(wr_http_respond(j->r, 200, NULL, 0, line, (size_t)n), 0);
        job_free(j);
        return;
    }
    if (j->kind == JOB_FOREVER) {
        memset(line, 'f', sizeof line);
        for (int k = 0; k < 16; k++)
            wr_http_respond_write(j->r, line, sizeof line);
    } else {
        int n = snprintf(line, sizeof line, "chunk-%d\n", j->i++);
        assert_int_equal(wr_http_respond_write(j->r, line, (size_t)n), 0);
        if (j->i >= j->n) {
            assert_int_equal(wr_http_respond_end(j->r), 0);
            job_free(j);
            return;
        }
    }
    struct timeval tv = {0, j->kind == JOB_FOREVER ? 10000 : 20000};
    evtimer_add(j->ev, &tv);
}

static void big_pump(job *j)
{
    unsigned char buf[16384];
    while (j->done < j->total) {
        if (wr_http_req_full(j->r)) {
            atomic_fetch_add(&j->sv->fulls, 1);
            atomic_store(&j->sv->paused, 1);
            return;
        }
        size_t n = sizeof buf;
        if ((long long)n > j->total - j->done)
            n = (size_t)(j->total - j->done);
        for (size_t k = 0; k < n; k++)
            buf[k] = pat(j->done + (long long)k);
        assert_int_equal(wr_http_respond_write(j->r, buf, n), 0);
        j->done += (long long)n;
        atomic_store(&j->sv->big_written, j->done);
    }
    atomic_store(&j->sv->paused, 0);
    assert_int_equal(wr_http_respond_end(j->r), 0);
    job_free(j);
}

static job *job_new(srv *sv, wr_http_req *r, int kind)
{
    job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    j->sv = sv;
    j->r = r;
    j->kind = kind;
    j->ev = evtimer_new(sv->base, stream_tick, j);
    wr_http_req_set_user(r, j);
    return j;
}

static void on_request(wr_http_req *r, void *user)
{
    srv *sv = user;
    atomic_fetch_add(&sv->requests, 1);
    int inf = (int)wr_http_server_in_flight(sv->s);
    if (inf > atomic_load(&sv->max_in_flight))
        atomic_store(&sv->max_in_flight, inf);
    const char *t = wr_http_req_target(r);
    struct timeval now = {0, 0};
    if (wr_http_req_error(r, NULL) || strncmp(t, "/echo", 5) == 0) {
        echo(sv, r);
    } else if (strncmp(t, "/stream", 7) == 0) {
        job *j = job_new(sv, r, JOB_STREAM);
        j->n = (int)query_n(t, 5);
        wr_http_header h[] = {WR_HDR("content-type", "text/plain")};
        assert_int_equal(wr_http_respond_start(r, 200, h, 1, -1), 0);
        assert_int_equal(wr_http_respond_start(r, 200, h, 1, -1), WEIR_EINVAL);
        evtimer_add(j->ev, &now);
    } else if (strncmp(t, "/forever", 8) == 0) {
        job *j = job_new(sv, r, JOB_FOREVER);
        assert_int_equal(wr_http_respond_start(r, 200, NULL, 0, -1), 0);
        evtimer_add(j->ev, &now);
    } else if (strncmp(t, "/abort", 6) == 0) {
        job *j = job_new(sv, r, JOB_ABORT);
        assert_int_equal(wr_http_respond_start(r, 200, NULL, 0, -1), 0);
        assert_int_equal(wr_http_respond_write(r, "partial-data\n", 13), 0);
        struct timeval tv = {0, 50000};
        evtimer_add(j->ev, &tv);
    } else if (strncmp(t, "/sink", 5) == 0) { /* the body's length, a little later */
        job *j = job_new(sv, r, JOB_SINK);
        struct timeval tv = {0, 100000};
        evtimer_add(j->ev, &tv);
    } else if (strncmp(t, "/hold", 5) == 0) {
        wr_http_req_set_user(r, NULL);
    } else if (strncmp(t, "/big", 4) == 0) {
        job *j = job_new(sv, r, JOB_BIG);
        j->total = query_n(t, 1000000);
        assert_int_equal(wr_http_respond_start(r, 200, NULL, 0, j->total), 0);
        big_pump(j);
    } else {
        assert_int_equal(wr_http_respond(r, 404, NULL, 0, "no\n", 3), 0);
    }
}

static void on_abort(wr_http_req *r, void *user)
{
    srv *sv = user;
    atomic_fetch_add(&sv->aborts, 1);
    job *j = wr_http_req_user(r);
    if (j)
        job_free(j);
}

static void on_drain(wr_http_req *r, void *user)
{
    srv *sv = user;
    atomic_fetch_add(&sv->drains, 1);
    job *j = wr_http_req_user(r);
    if (j && j->kind == JOB_BIG)
        big_pump(j);
}

static void on_reject(void *user, const char *peer, int status, const char *message)
{
    srv *sv = user;
    assert_non_null(peer);
    assert_non_null(message);
    assert_non_null(strstr(peer, "127.0.0.1:"));
    atomic_fetch_add(&sv->rejects, 1);
    atomic_store(&sv->last_reject, status);
}

static const wr_http_handler handler = {on_request, on_abort, on_drain, on_reject};

static void *loop_main(void *arg)
{
    srv *sv = arg;
    event_base_loop(sv->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static srv *srv_start(const wr_http_limits *lim)
{
    srv *sv = calloc(1, sizeof *sv);
    assert_non_null(sv);
    sv->base = event_base_new();
    assert_non_null(sv->base);
    weir_error err = {0};
    assert_int_equal(wr_http_server_new(&sv->s, sv->base, lim, &err), 0);
    assert_int_equal(wr_http_server_listen(sv->s, "127.0.0.1:0", &handler, sv, &sv->port, &err),
                     0);
    assert_true(sv->port > 0);
    assert_int_equal(pthread_create(&sv->th, NULL, loop_main, sv), 0);
    return sv;
}

/* Stops the loop and frees the server (in-flight requests get on_abort); counters stay. */
static void srv_stop(srv *sv)
{
    event_base_loopbreak(sv->base);
    pthread_join(sv->th, NULL);
    wr_http_server_free(sv->s);
    sv->s = NULL;
}

static void srv_free(srv *sv)
{
    if (sv->s)
        srv_stop(sv);
    event_base_free(sv->base);
    free(sv);
}

/* Runs fn(sv) on the server's thread and waits for it. */
typedef struct onloop {
    srv *sv;
    void (*fn)(srv *, size_t *, size_t *);
    size_t a, b;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} onloop;

static void onloop_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    onloop *o = arg;
    o->fn(o->sv, &o->a, &o->b);
    pthread_mutex_lock(&o->mu);
    o->done = 1;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

static void run_on_loop(srv *sv, void (*fn)(srv *, size_t *, size_t *), size_t *a, size_t *b)
{
    onloop o = {sv, fn, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    struct timeval now = {0, 0};
    assert_int_equal(event_base_once(sv->base, -1, EV_TIMEOUT, onloop_cb, &o, &now), 0);
    pthread_mutex_lock(&o.mu);
    while (!o.done)
        pthread_cond_wait(&o.cv, &o.mu);
    pthread_mutex_unlock(&o.mu);
    if (a)
        *a = o.a;
    if (b)
        *b = o.b;
}

static void counts_fn(srv *sv, size_t *in_flight, size_t *conns)
{
    *in_flight = wr_http_server_in_flight(sv->s);
    *conns = wr_http_server_connections(sv->s);
}

static void stop_accepting_fn(srv *sv, size_t *a, size_t *b)
{
    (void)a;
    (void)b;
    wr_http_server_stop_accepting(sv->s);
    wr_http_server_stop_accepting(sv->s); /* idempotent */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits up to `secs` for *v >= want. */
static int wait_atomic(atomic_int *v, int want, double secs)
{
    double end = now_s() + secs;
    while (atomic_load(v) < want) {
        if (now_s() > end)
            return 0;
        sleep_ms(10);
    }
    return 1;
}

static int wait_counts(srv *sv, size_t in_flight, size_t conns, double secs)
{
    double end = now_s() + secs;
    for (;;) {
        size_t a, b;
        run_on_loop(sv, counts_fn, &a, &b);
        if ((in_flight == (size_t)-1 || a == in_flight) && (conns == (size_t)-1 || b == conns))
            return 1;
        if (now_s() > end)
            return 0;
        sleep_ms(10);
    }
}

/* ---------------------------------------------------------------- curl helpers */

typedef struct resp {
    CURLcode rc;
    long status, version, connects;
    double total_time;
    wr_buf body, head;
} resp;

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
    wr_buf_append(&((resp *)ud)->body, p, sz * n);
    return sz * n;
}

static size_t head_cb(char *p, size_t sz, size_t n, void *ud)
{
    wr_buf_append(&((resp *)ud)->head, p, sz * n);
    return sz * n;
}

static void resp_free(resp *r)
{
    wr_buf_free(&r->body);
    wr_buf_free(&r->head);
    memset(r, 0, sizeof *r);
}

static CURL *easy(srv *sv, const char *path, long httpver, resp *out)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", sv->port, path);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    memset(out, 0, sizeof *out);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, httpver);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, head_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    return h;
}

static void perform(CURL *h, resp *out)
{
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &out->version);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->connects);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &out->total_time);
}

/* One request on a fresh handle. */
static void fetch(srv *sv, const char *path, long httpver, const char *post, size_t postlen,
                  struct curl_slist *hdrs, resp *out)
{
    CURL *h = easy(sv, path, httpver, out);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)postlen);
    }
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    perform(h, out);
    curl_easy_cleanup(h);
}

static json_t *body_json(const resp *r)
{
    json_error_t je;
    json_t *o = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
    if (!o)
        fail_msg("response is not JSON: %.*s", (int)r->body.len, r->body.data ? r->body.data : "");
    return o;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return json_string_value(v);
}

/* Value of the first echoed request header named `name` (exact case), or NULL. */
static const char *jheader(json_t *o, const char *name)
{
    json_t *hs = json_object_get(o, "headers");
    size_t i;
    json_t *pair;
    json_array_foreach(hs, i, pair)
    {
        if (strcmp(json_string_value(json_array_get(pair, 0)), name) == 0)
            return json_string_value(json_array_get(pair, 1));
    }
    return NULL;
}

static int has_h2(void)
{
    return (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2) != 0;
}

/* ---------------------------------------------------------------- raw socket helpers */

static const char *find(const wr_buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; b->data && i + n <= b->len; i++)
        if (memcmp(b->data + i, needle, n) == 0)
            return b->data + i;
    return NULL;
}

static int raw_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/*
 * Reads into b until `needle` shows up (0), EOF (1) or `secs` pass (-1). With needle NULL,
 * reads to EOF.
 */
static int raw_read(int fd, wr_buf *b, const char *needle, double secs)
{
    double end = now_s() + secs;
    for (;;) {
        if (needle && find(b, needle))
            return 0;
        double left = end - now_s();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            continue;
        wr_buf_append(b, tmp, (size_t)n);
    }
}

static void starts_with(const wr_buf *b, const char *prefix)
{
    if (b->len < strlen(prefix) || memcmp(b->data, prefix, strlen(prefix)) != 0)
        fail_msg("expected '%s', got '%.*s'", prefix, (int)(b->len < 200 ? b->len : 200),
                 b->data ? b->data : "");
}

/* ---------------------------------------------------------------- HTTP/1.1 */

static void test_h1_keepalive(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    resp a, b;
    CURL *h = easy(sv, "/echo/one?x=1", CURL_HTTP_VERSION_1_1, &a);
    perform(h, &a);
    assert_int_equal(a.rc, CURLE_OK);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.version, CURL_HTTP_VERSION_1_1);
    json_t *o = body_json(&a);
    assert_string_equal(jstr(o, "method"), "GET");
    assert_string_equal(jstr(o, "target"), "/echo/one?x=1");
    assert_string_equal(jstr(o, "peer_ip"), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
    assert_non_null(jheader(o, "Host"));
    json_decref(o);
    /* Date and Server added; the handler's Connection header dropped; its own kept */
    assert_non_null(strstr(a.head.data, "\r\nDate: "));
    assert_non_null(strstr(a.head.data, "\r\nServer: weir/"));
    assert_non_null(strstr(a.head.data, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(a.head.data, "\r\nContent-Length: "));
    assert_null(strstr(a.head.data, "Connection: keep-alive"));

    size_t inflight, conns;
    run_on_loop(sv, counts_fn, &inflight, &conns);
    assert_int_equal(inflight, 0);
    assert_int_equal(conns, 1);

    /* second request, same handle: a POST on the same connection */
    memset(&b, 0, sizeof b);
    curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo/two", sv->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &b);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "hello world");
    perform(h, &b);
    assert_int_equal(b.rc, CURLE_OK);
    assert_int_equal(b.status, 200);
    assert_int_equal(b.connects, 0); /* reused */
    o = body_json(&b);
    assert_string_equal(jstr(o, "method"), "POST");
    assert_string_equal(jstr(o, "target"), "/echo/two");
    assert_string_equal(jstr(o, "body"), "hello world");
    assert_string_equal(jheader(o, "Content-Length"), "11");
    json_decref(o);
    run_on_loop(sv, counts_fn, &inflight, &conns);
    assert_int_equal(conns, 1);
    curl_easy_cleanup(h);
    assert_true(wait_counts(sv, 0, 0, 10));
    resp_free(&a);
    resp_free(&b);
    srv_free(sv);
}

typedef struct upload {
    const char *data;
    size_t len, off, step;
} upload;

static size_t read_cb(char *buf, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = sz * n;
    if (k > u->step)
        k = u->step;
    if (k > u->len - u->off)
        k = u->len - u->off;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

static void test_h1_chunked_upload(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    size_t n = 100000;
    char *data = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    data[n] = '\0';
    upload u = {data, n, 0, 7000};
    resp r;
    CURL *h = easy(sv, "/echo/up", CURL_HTTP_VERSION_1_1, &r);
    struct curl_slist *hd = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    hd = curl_slist_append(hd, "Expect: 100-continue");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 20000L);
    perform(h, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_true(r.total_time < 15.0); /* 100 Continue came: curl did not sit out its 20 s */
    json_t *o = body_json(&r);
    assert_string_equal(jheader(o, "Transfer-Encoding"), "chunked");
    assert_string_equal(jheader(o, "Expect"), "100-continue");
    assert_int_equal(strlen(jstr(o, "body")), n);
    assert_string_equal(jstr(o, "body"), data);
    json_decref(o);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    resp_free(&r);
    free(data);
    srv_free(sv);
}

static void test_h1_streamed_response(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    resp r;
    fetch(sv, "/stream?n=6", CURL_HTTP_VERSION_1_1, NULL, 0, NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\nchunk-5\n");
    assert_non_null(strstr(r.head.data, "Transfer-Encoding: chunked"));
    assert_null(strstr(r.head.data, "Content-Length"));
    resp_free(&r);

    /* HEAD: the length of the answer, no body */
    CURL *h = easy(sv, "/echo/head", CURL_HTTP_VERSION_1_1, &r);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    perform(h, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_non_null(strstr(r.head.data, "Content-Length: "));
    curl_easy_cleanup(h);
    resp_free(&r);
    srv_free(sv);
}

static void test_h1_pipelining_and_http10(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    int fd = raw_connect(sv->port, 0);
    const char *two = "GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /echo/b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
                      "GET /echo/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, two, strlen(two));
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1); /* the third asked to close */
    const char *a = strstr(b.data, "\"target\":\"/echo/a\"");
    const char *bb = strstr(b.data, "\"target\":\"/echo/b\"");
    const char *c = strstr(b.data, "\"target\":\"/echo/c\"");
    assert_non_null(a);
    assert_non_null(bb);
    assert_non_null(c);
    assert_true(a < bb && bb < c);
    assert_non_null(strstr(b.data, "\"body\":\"xyz\""));
    assert_non_null(strstr(b.data, "Connection: close\r\n"));
    close(fd);
    wr_buf_free(&b);

    /* the handler's "Connection: close" ends the connection after its answer */
    fd = raw_connect(sv->port, 0);
    const char *cl = "GET /echo/c?close=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /echo/never HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, cl, strlen(cl));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    assert_non_null(strstr(b.data, "/echo/c?close=1"));
    assert_non_null(strstr(b.data, "Connection: close\r\n"));
    assert_null(strstr(b.data, "/echo/never"));
    close(fd);
    wr_buf_free(&b);

    /* chunked body with trailers: the body is joined, trailers are not headers */
    fd = raw_connect(sv->port, 0);
    const char *tr = "POST /echo/tr HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
    raw_send(fd, tr, strlen(tr));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, "\"body\":\"hello, world\"", 20), 0);
    assert_null(strstr(b.data, "X-Trailer"));
    close(fd);
    wr_buf_free(&b);

    /* HTTP/1.0 without keep-alive: answered, then closed */
    fd = raw_connect(sv->port, 0);
    const char *old = "GET /echo/old HTTP/1.0\r\n\r\n";
    raw_send(fd, old, strlen(old));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    starts_with(&b, "HTTP/1.1 200 OK\r\n");
    assert_non_null(strstr(b.data, "Connection: close\r\n"));
    assert_non_null(strstr(b.data, "\"target\":\"/echo/old\""));
    close(fd);
    wr_buf_free(&b);

    /* HTTP/1.0 streamed: no chunked encoding, the end of the connection ends the body */
    fd = raw_connect(sv->port, 0);
    const char *old2 = "GET /stream?n=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    raw_send(fd, old2, strlen(old2));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    assert_null(strstr(b.data, "chunked"));
    assert_non_null(strstr(b.data, "\r\n\r\nchunk-0\nchunk-1\nchunk-2\n"));
    close(fd);
    wr_buf_free(&b);
    srv_free(sv);
}

static void test_h1_upgrade_h2c_ignored(void **state)
{
    (void)state;
    if (!has_h2())
        skip();
    srv *sv = srv_start(NULL);
    resp r;
    fetch(sv, "/echo/up", CURL_HTTP_VERSION_2_0, NULL, 0, NULL, &r); /* sends Upgrade: h2c */
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version, CURL_HTTP_VERSION_1_1);
    json_t *o = body_json(&r);
    assert_string_equal(jheader(o, "Upgrade"), "h2c");
    json_decref(o);
    assert_null(strstr(r.head.data, "Upgrade"));
    resp_free(&r);
    srv_free(sv);
}

/* ---------------------------------------------------------------- HTTP/2 */

static void test_h2_prior_knowledge(void **state)
{
    (void)state;
    if (!has_h2())
        skip();
    srv *sv = srv_start(NULL);
    resp r;
    CURL *h = easy(sv, "/echo/h2?x=1", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, &r);
    struct curl_slist *hd = curl_slist_append(NULL, "X-Mixed-Case: Value");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    perform(h, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version, CURL_HTTP_VERSION_2_0);
    json_t *o = body_json(&r);
    assert_string_equal(jstr(o, "method"), "GET");
    assert_string_equal(jstr(o, "target"), "/echo/h2?x=1");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", sv->port);
    assert_string_equal(jheader(o, "host"), host); /* :authority */
    assert_string_equal(jheader(o, "x-mixed-case"), "Value");
    json_decref(o);
    assert_non_null(strstr(r.head.data, "HTTP/2 200"));
    assert_non_null(strstr(r.head.data, "\r\ndate: "));
    assert_non_null(strstr(r.head.data, "\r\nserver: weir/"));
    assert_non_null(strstr(r.head.data, "\r\ncontent-type: application/json"));
    assert_non_null(strstr(r.head.data, "\r\nx-test: yes"));
    assert_null(strstr(r.head.data, "onnection"));
    resp_free(&r);

    curl_slist_free_all(hd);
    curl_easy_cleanup(h);

    /*
     * Each request below on a fresh handle: curl 7.88.1 fails to reuse an h2c prior-knowledge
     * connection (curl issue #10634, fixed in 8.0); reuse and multiplexing are tested with
     * the nghttp2 client further down.
     */
    size_t n = 300000; /* a POST body larger than the default 64 KiB window */
    char *data = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('A' + i % 23);
    data[n] = '\0';
    fetch(sv, "/echo/post", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, data, n, NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    o = body_json(&r);
    assert_string_equal(jstr(o, "method"), "POST");
    assert_string_equal(jstr(o, "body"), data);
    json_decref(o);
    resp_free(&r);

    /* a streamed answer */
    fetch(sv, "/stream?n=4", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, NULL, 0, NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "chunk-0\nchunk-1\nchunk-2\nchunk-3\n");
    assert_null(strstr(r.head.data, "content-length"));
    resp_free(&r);

    /* HEAD */
    h = easy(sv, "/echo/head", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, &r);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    perform(h, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_non_null(strstr(r.head.data, "content-length: "));
    resp_free(&r);
    curl_easy_cleanup(h);
    free(data);
    assert_true(wait_counts(sv, 0, 0, 10));
    srv_free(sv);
}

/* ---------------------------------------------------------------- a small HTTP/2 client */

/*
 * A blocking h2c client on nghttp2 for what curl 7.88.1 cannot do with prior knowledge
 * (several streams on one connection, resetting a stream, GOAWAY).
 */
typedef struct h2s {
    int status;
    int closed;
    uint32_t code; /* RST_STREAM / close error code */
    wr_buf body;
    const char *up; /* request body */
    size_t uplen, upoff;
} h2s;

typedef struct h2c {
    int fd, port;
    nghttp2_session *ng;
    int open;
    int eof;
} h2c;

static int h2c_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                         size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    h2s *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (st && nl == 7 && memcmp(name, ":status", 7) == 0) {
        st->status = 0;
        for (size_t i = 0; i < vl; i++)
            st->status = st->status * 10 + (value[i] - '0');
    }
    return 0;
}

static int h2c_on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *d,
                       size_t len, void *ud)
{
    (void)flags;
    (void)ud;
    h2s *st = nghttp2_session_get_stream_user_data(ng, sid);
    if (st)
        wr_buf_append(&st->body, d, len);
    return 0;
}

static int h2c_on_close(nghttp2_session *ng, int32_t sid, uint32_t code, void *ud)
{
    h2c *c = ud;
    h2s *st = nghttp2_session_get_stream_user_data(ng, sid);
    if (st && !st->closed) {
        st->closed = 1;
        st->code = code;
        c->open--;
    }
    return 0;
}

static void h2c_open(h2c *c, int port)
{
    memset(c, 0, sizeof *c);
    c->port = port;
    c->fd = raw_connect(port, 0);
    nghttp2_session_callbacks *cb;
    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2c_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2c_on_close);
    assert_int_equal(nghttp2_session_client_new(&c->ng, cb, c), 0);
    nghttp2_session_callbacks_del(cb);
    assert_int_equal(nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static int32_t h2c_get(h2c *c, h2s *st, const char *path)
{
    memset(st, 0, sizeof *st);
    char auth[32];
    snprintf(auth, sizeof auth, "127.0.0.1:%d", c->port);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
    };
    int32_t id = nghttp2_submit_request(c->ng, NULL, nv, 4, NULL, st);
    assert_true(id > 0);
    c->open++;
    return id;
}

static ssize_t h2c_read(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ng;
    (void)sid;
    (void)ud;
    h2s *st = src->ptr;
    size_t n = st->uplen - st->upoff < len ? st->uplen - st->upoff : len;
    memcpy(buf, st->up + st->upoff, n);
    st->upoff += n;
    if (st->upoff == st->uplen)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int32_t h2c_post(h2c *c, h2s *st, const char *path, const char *body, size_t len)
{
    memset(st, 0, sizeof *st);
    st->up = body;
    st->uplen = len;
    char auth[32];
    snprintf(auth, sizeof auth, "127.0.0.1:%d", c->port);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd;
    prd.source.ptr = st;
    prd.read_callback = h2c_read;
    int32_t id = nghttp2_submit_request(c->ng, NULL, nv, 4, &prd, st);
    assert_true(id > 0);
    c->open++;
    return id;
}

/* Opens a POST stream whose body never comes (HEADERS without END_STREAM). */
static int32_t h2c_post_open(h2c *c, h2s *st, const char *path)
{
    memset(st, 0, sizeof *st);
    char auth[32];
    snprintf(auth, sizeof auth, "127.0.0.1:%d", c->port);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
    };
    int32_t id = nghttp2_submit_headers(c->ng, NGHTTP2_FLAG_NONE, -1, NULL, nv, 4, st);
    assert_true(id > 0);
    c->open++;
    return id;
}

/* Exchanges frames until every stream is closed, EOF, or `secs` pass. */
static void h2c_run(h2c *c, double secs)
{
    double end = now_s() + secs;
    for (;;) {
        const uint8_t *out;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(c->ng, &out)) > 0)
            raw_send(c->fd, out, (size_t)n);
        assert_true(n == 0);
        if (c->open <= 0 || c->eof || now_s() > end)
            return;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        uint8_t buf[65536];
        ssize_t k = recv(c->fd, buf, sizeof buf, 0);
        if (k <= 0) {
            c->eof = 1;
            return;
        }
        assert_int_equal(nghttp2_session_mem_recv(c->ng, buf, (size_t)k), k);
    }
}

static void h2c_close(h2c *c)
{
    nghttp2_session_del(c->ng);
    close(c->fd);
}

static void test_h2_concurrent_streams(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.max_streams = 4;
    srv *sv = srv_start(&lim);
    enum { N = 10 };
    h2c c;
    h2c_open(&c, sv->port);
    h2s st[N];

    /*
     * Sent before the server's SETTINGS arrive: streams beyond max_streams are refused
     * (REFUSED_STREAM, safe to retry), the others are answered.
     */
    for (int i = 0; i < 6; i++)
        h2c_get(&c, &st[i], "/stream?n=3");
    h2c_run(&c, 60);
    assert_int_equal(c.open, 0);
    int refused = 0;
    for (int i = 0; i < 6; i++) {
        if (st[i].code == NGHTTP2_REFUSED_STREAM) {
            refused++;
        } else {
            assert_int_equal(st[i].code, NGHTTP2_NO_ERROR);
            assert_int_equal(st[i].status, 200);
            assert_string_equal(st[i].body.data, "chunk-0\nchunk-1\nchunk-2\n");
        }
        wr_buf_free(&st[i].body);
    }
    assert_int_equal(refused, 2);

    /* now the client knows the limit: every stream is answered, at most 4 at a time */
    for (int i = 0; i < N; i++)
        h2c_get(&c, &st[i], i % 2 ? "/stream?n=8" : "/echo/multi");
    h2c_run(&c, 60);
    assert_int_equal(c.open, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(st[i].status, 200);
        assert_int_equal(st[i].code, NGHTTP2_NO_ERROR);
        if (i % 2)
            assert_string_equal(st[i].body.data, "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n"
                                                 "chunk-5\nchunk-6\nchunk-7\n");
        else
            assert_non_null(strstr(st[i].body.data, "\"version\":2"));
        wr_buf_free(&st[i].body);
    }
    /* several streams at once, never more than SETTINGS_MAX_CONCURRENT_STREAMS */
    assert_true(atomic_load(&sv->max_in_flight) >= 2);
    assert_true(atomic_load(&sv->max_in_flight) <= 4);
    size_t inflight, conns;
    run_on_loop(sv, counts_fn, &inflight, &conns);
    assert_int_equal(conns, 1);

    /* respond_abort: RST_STREAM INTERNAL_ERROR; the connection goes on */
    h2s ab, after;
    h2c_get(&c, &ab, "/abort");
    h2c_run(&c, 30);
    assert_int_equal(ab.closed, 1);
    assert_int_equal(ab.code, NGHTTP2_INTERNAL_ERROR);
    assert_int_equal(ab.status, 200);
    h2c_get(&c, &after, "/echo/after");
    h2c_run(&c, 30);
    assert_int_equal(after.status, 200);
    assert_int_equal(after.code, NGHTTP2_NO_ERROR);
    wr_buf_free(&ab.body);
    wr_buf_free(&after.body);

    /* the client resets a stream the handler holds: on_abort */
    h2s hold;
    int32_t id = h2c_get(&c, &hold, "/hold");
    h2c_run(&c, 0.2);
    assert_true(wait_counts(sv, 1, 1, 20));
    assert_int_equal(nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
    h2c_run(&c, 5);
    assert_true(wait_atomic(&sv->aborts, 1, 20));
    assert_true(wait_counts(sv, 0, 1, 20));
    wr_buf_free(&hold.body);

    /* GOAWAY from the client: the server closes the connection */
    assert_int_equal(nghttp2_session_terminate_session(c.ng, NGHTTP2_NO_ERROR), 0);
    c.open = 1; /* run until EOF */
    h2c_run(&c, 20);
    assert_int_equal(c.eof, 1);
    assert_true(wait_counts(sv, 0, 0, 20));
    h2c_close(&c);
    srv_free(sv);
}

static void test_h2_uploads_and_flow_control(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.max_body_bytes = 1000000; /* a connection holds at most 2 MB of bodies at once */
    srv *sv = srv_start(&lim);
    size_t n = 900000;
    char *data = malloc(n);
    memset(data, 'u', n);
    h2c c;
    h2c_open(&c, sv->port);
    /* five uploads at once, 4.5 MB: over the budget, each over its 512 KiB stream window */
    enum { N = 5 };
    h2s st[N];
    for (int i = 0; i < N; i++)
        h2c_post(&c, &st[i], "/sink", data, n);
    h2c_run(&c, 60);
    assert_int_equal(c.open, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(st[i].status, 200);
        assert_int_equal(st[i].code, NGHTTP2_NO_ERROR);
        assert_string_equal(st[i].body.data, "900000");
        wr_buf_free(&st[i].body);
    }
    /* over the limit: 413, the rest of the body is dropped, the connection goes on */
    h2s big, after;
    char *large = malloc(3000000);
    memset(large, 'L', 3000000);
    h2c_post(&c, &big, "/echo/large", large, 3000000);
    h2c_run(&c, 60);
    assert_int_equal(big.status, 413);
    h2c_post(&c, &after, "/sink", data, n);
    h2c_run(&c, 60);
    assert_int_equal(after.status, 200);
    assert_string_equal(after.body.data, "900000");
    wr_buf_free(&big.body);
    wr_buf_free(&after.body);
    h2c_close(&c);
    free(large);
    free(data);
    srv_free(sv);
}

static void test_h2_timeouts(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.body_timeout_ms = 300;
    lim.idle_timeout_ms = 500;
    srv *sv = srv_start(&lim);
    h2c c;
    h2c_open(&c, sv->port);
    /* a body that never comes: the handler answers 408, then the stream is reset */
    h2s st;
    h2c_post_open(&c, &st, "/echo/slow");
    h2c_run(&c, 20);
    assert_int_equal(st.closed, 1);
    assert_int_equal(st.status, 408);
    assert_non_null(strstr(st.body.data, "\"error\":408"));
    assert_int_equal(atomic_load(&sv->last_error), 408);
    wr_buf_free(&st.body);
    /* then nothing: the idle connection gets a GOAWAY and is closed */
    double t0 = now_s();
    c.open = 1;
    h2c_run(&c, 20);
    assert_int_equal(c.eof, 1);
    assert_true(now_s() - t0 >= 0.3);
    assert_true(wait_counts(sv, 0, 0, 20));
    h2c_close(&c);
    srv_free(sv);
}

/* ---------------------------------------------------------------- limits */

static void test_413_body_too_large(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.max_body_bytes = 1000;
    srv *sv = srv_start(&lim);
    char big[5000];
    memset(big, 'b', sizeof big);

    /* h1 with Content-Length: answered at once, then closed */
    resp r;
    fetch(sv, "/echo/big", CURL_HTTP_VERSION_1_1, big, sizeof big, NULL, &r);
    assert_int_equal(r.status, 413);
    json_t *o = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "error")), 413);
    assert_string_equal(jstr(o, "body"), "");
    json_decref(o);
    assert_int_equal(atomic_load(&sv->last_error), 413);
    resp_free(&r);

    /* a body at the limit is fine */
    fetch(sv, "/echo/ok", CURL_HTTP_VERSION_1_1, big, 1000, NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    /* h1 chunked going over the limit */
    int fd = raw_connect(sv->port, 0);
    const char *head = "POST /echo/chunked HTTP/1.1\r\nHost: x\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    raw_send(fd, head, strlen(head));
    char chunk[700];
    memcpy(chunk, "258\r\n", 5); /* 0x258 = 600 */
    memset(chunk + 5, 'c', 600);
    memcpy(chunk + 605, "\r\n", 2);
    raw_send(fd, chunk, 607);
    raw_send(fd, chunk, 607);
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    starts_with(&b, "HTTP/1.1 413 ");
    assert_non_null(strstr(b.data, "Connection: close\r\n"));
    close(fd);
    wr_buf_free(&b);

    /* Expect: 100-continue with a length over the limit: 413 instead of 100 Continue */
    fd = raw_connect(sv->port, 0);
    const char *exp = "POST /echo/exp HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                      "Expect: 100-continue\r\n\r\n";
    raw_send(fd, exp, strlen(exp));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    starts_with(&b, "HTTP/1.1 413 ");
    assert_null(strstr(b.data, "100 Continue"));
    close(fd);
    wr_buf_free(&b);

    /* h2 */
    if (has_h2()) {
        atomic_store(&sv->last_error, 0);
        fetch(sv, "/echo/big2", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, big, sizeof big, NULL, &r);
        assert_int_equal(r.status, 413);
        assert_int_equal(r.version, CURL_HTTP_VERSION_2_0);
        o = body_json(&r);
        assert_int_equal(json_integer_value(json_object_get(o, "error")), 413);
        assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
        assert_string_equal(jstr(o, "body"), "");
        json_decref(o);
        resp_free(&r);
    }
    assert_true(wait_counts(sv, 0, (size_t)-1, 10));
    srv_free(sv);
}

static void test_431_headers_too_large(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.max_header_bytes = 4096;
    lim.max_headers = 20;
    srv *sv = srv_start(&lim);
    char *line = malloc(8100);
    memcpy(line, "X-Big: ", 7);
    memset(line + 7, 'h', 8000);
    line[8007] = '\0';
    struct curl_slist *hd = curl_slist_append(NULL, line);
    resp r;
    fetch(sv, "/echo/x", CURL_HTTP_VERSION_1_1, NULL, 0, hd, &r);
    assert_int_equal(r.status, 431);
    assert_int_equal(atomic_load(&sv->last_reject), 431);
    assert_int_equal(atomic_load(&sv->requests), 0); /* the handler never saw it */
    resp_free(&r);

    /* too many header fields */
    struct curl_slist *many = NULL;
    for (int i = 0; i < 30; i++) {
        char l[32];
        snprintf(l, sizeof l, "X-H%d: v", i);
        many = curl_slist_append(many, l);
    }
    atomic_store(&sv->last_reject, 0);
    fetch(sv, "/echo/x", CURL_HTTP_VERSION_1_1, NULL, 0, many, &r);
    assert_int_equal(r.status, 431);
    assert_int_equal(atomic_load(&sv->last_reject), 431);
    resp_free(&r);

    if (has_h2()) {
        atomic_store(&sv->last_reject, 0);
        fetch(sv, "/echo/x", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, NULL, 0, hd, &r);
        assert_int_equal(r.status, 431);
        assert_int_equal(r.version, CURL_HTTP_VERSION_2_0);
        assert_int_equal(atomic_load(&sv->last_reject), 431);
        resp_free(&r);
        fetch(sv, "/echo/x", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, NULL, 0, many, &r);
        assert_int_equal(r.status, 431);
        resp_free(&r);
    }
    assert_int_equal(atomic_load(&sv->requests), 0);
    /* a normal request still works */
    fetch(sv, "/echo/ok", CURL_HTTP_VERSION_1_1, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    curl_slist_free_all(hd);
    curl_slist_free_all(many);
    free(line);
    srv_free(sv);
}

static void test_400_and_505(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        atomic_store(&sv->last_reject, 0);
        int fd = raw_connect(sv->port, 0);
        raw_send(fd, bad[i], strlen(bad[i]));
        wr_buf b;
        wr_buf_init(&b);
        assert_int_equal(raw_read(fd, &b, NULL, 20), 1); /* answered, then closed */
        starts_with(&b, "HTTP/1.1 400 ");
        assert_int_equal(atomic_load(&sv->last_reject), 400);
        close(fd);
        wr_buf_free(&b);
    }
    int fd = raw_connect(sv->port, 0);
    const char *v2 = "GET /x HTTP/2.0\r\nHost: x\r\n\r\n";
    raw_send(fd, v2, strlen(v2));
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    starts_with(&b, "HTTP/1.1 505 ");
    close(fd);
    wr_buf_free(&b);

    /* h2: a connection error (DATA on stream 0) is a GOAWAY and an on_reject */
    atomic_store(&sv->last_reject, 0);
    fd = raw_connect(sv->port, 0);
    const char h2bad[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                         "\x00\x00\x00\x04\x00\x00\x00\x00\x00"  /* SETTINGS */
                         "\x00\x00\x02\x00\x00\x00\x00\x00\x00hi"; /* DATA, stream 0 */
    raw_send(fd, h2bad, sizeof h2bad - 1);
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    assert_true(b.len > 9);
    assert_int_equal(atomic_load(&sv->last_reject), 400);
    close(fd);
    wr_buf_free(&b);
    assert_int_equal(atomic_load(&sv->requests), 0);
    srv_free(sv);
}

static void test_408_timeouts(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.header_timeout_ms = 300;
    lim.body_timeout_ms = 300;
    lim.idle_timeout_ms = 400;
    srv *sv = srv_start(&lim);

    /* slowloris: half a header, then nothing */
    int fd = raw_connect(sv->port, 0);
    const char *half = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    raw_send(fd, half, strlen(half));
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    starts_with(&b, "HTTP/1.1 408 ");
    assert_int_equal(atomic_load(&sv->last_reject), 408);
    assert_int_equal(atomic_load(&sv->requests), 0);
    close(fd);
    wr_buf_free(&b);

    /* a body that stops: the handler answers with error 408 */
    fd = raw_connect(sv->port, 0);
    const char *part = "POST /echo/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                       "0123456789";
    raw_send(fd, part, strlen(part));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    starts_with(&b, "HTTP/1.1 408 ");
    assert_non_null(strstr(b.data, "\"error\":408"));
    assert_int_equal(atomic_load(&sv->last_error), 408);
    close(fd);
    wr_buf_free(&b);

    /* idle keep-alive connection: closed silently */
    fd = raw_connect(sv->port, 0);
    const char *req = "GET /echo/idle HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, "\"target\":\"/echo/idle\"", 20), 0);
    size_t got = b.len;
    double t0 = now_s();
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    assert_true(now_s() - t0 >= 0.2);
    assert_int_equal(b.len, got); /* nothing more was sent */
    close(fd);
    wr_buf_free(&b);

    /* a connection that never sends anything is closed after the idle timeout */
    fd = raw_connect(sv->port, 0);
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, NULL, 20), 1);
    assert_int_equal(b.len, 0);
    close(fd);
    wr_buf_free(&b);
    srv_free(sv);
}

/* ---------------------------------------------------------------- aborts */

static void test_client_disconnect(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    int fd = raw_connect(sv->port, 0);
    const char *req = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, "ffffffff", 20), 0); /* mid-response */
    close(fd);
    wr_buf_free(&b);
    assert_true(wait_atomic(&sv->aborts, 1, 20));
    assert_true(wait_counts(sv, 0, 0, 20));

    /* h1: the client goes away while the handler holds the request */
    fd = raw_connect(sv->port, 0);
    const char *hold = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, hold, strlen(hold));
    assert_true(wait_counts(sv, 1, 1, 20));
    close(fd);
    assert_true(wait_atomic(&sv->aborts, 2, 20));
    assert_true(wait_counts(sv, 0, 0, 20));

    /* h2: the client gives up (timeout) on a held request */
    if (has_h2()) {
        resp r;
        CURL *h = easy(sv, "/hold", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, &r);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 500L);
        perform(h, &r);
        assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
        curl_easy_cleanup(h);
        assert_true(wait_atomic(&sv->aborts, 3, 20));
        resp_free(&r);
        assert_true(wait_counts(sv, 0, (size_t)-1, 20));
    }
    srv_free(sv);
}

static void test_respond_abort(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    resp r;
    fetch(sv, "/abort", CURL_HTTP_VERSION_1_1, NULL, 0, NULL, &r);
    assert_int_not_equal(r.rc, CURLE_OK); /* truncated chunked body */
    assert_true(r.rc == CURLE_PARTIAL_FILE || r.rc == CURLE_RECV_ERROR);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "partial-data\n");
    resp_free(&r);
    if (has_h2()) {
        fetch(sv, "/abort", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, NULL, 0, NULL, &r);
        assert_int_not_equal(r.rc, CURLE_OK); /* RST_STREAM */
        assert_true(r.rc == CURLE_HTTP2_STREAM || r.rc == CURLE_HTTP2 ||
                    r.rc == CURLE_PARTIAL_FILE || r.rc == CURLE_RECV_ERROR);
        resp_free(&r);
        /* the connection survives a stream reset: a second request on a new handle works */
        fetch(sv, "/echo/after", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, NULL, 0, NULL, &r);
        assert_int_equal(r.rc, CURLE_OK);
        resp_free(&r);
    }
    assert_int_equal(atomic_load(&sv->aborts), 0); /* respond_abort is not on_abort */
    assert_true(wait_counts(sv, 0, (size_t)-1, 10));
    srv_free(sv);
}

static void test_server_free_aborts(void **state)
{
    (void)state;
    srv *sv = srv_start(NULL);
    int fd1 = raw_connect(sv->port, 0), fd2 = raw_connect(sv->port, 0);
    int fd3 = raw_connect(sv->port, 0);
    assert_true(wait_counts(sv, 0, 3, 20));
    const char *hold = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd1, hold, strlen(hold));
    const char *fv = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd2, fv, strlen(fv));
    assert_true(wait_counts(sv, 2, 3, 20));

    /* stop accepting: new connections are refused, existing ones go on */
    run_on_loop(sv, stop_accepting_fn, NULL, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)sv->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd2, &b, "ffff", 20), 0);
    wr_buf_free(&b);

    srv_stop(sv);
    assert_int_equal(atomic_load(&sv->aborts), 2);
    srv_free(sv); /* libevent closes the sockets when the base goes */
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd3, &b, NULL, 20), 1);
    assert_int_equal(raw_read(fd1, &b, NULL, 20), 1);
    wr_buf_free(&b);
    close(fd1);
    close(fd2);
    close(fd3);
}

/* ---------------------------------------------------------------- backpressure */

/* Reads an HTTP/1.1 response with Content-Length from fd; checks every body byte. */
static void read_big(int fd, long long want)
{
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, "\r\n\r\n", 30), 0);
    starts_with(&b, "HTTP/1.1 200 ");
    const char *eoh = find(&b, "\r\n\r\n");
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %lld\r\n", want);
    assert_non_null(strstr(b.data, cl));
    long long got = 0;
    size_t hl = (size_t)(eoh + 4 - b.data);
    for (size_t i = hl; i < b.len; i++, got++)
        if ((unsigned char)b.data[i] != pat(got))
            fail_msg("byte %lld differs", got);
    wr_buf_free(&b);
    double end = now_s() + 120;
    unsigned char tmp[65536];
    while (got < want && now_s() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++, got++)
            if (tmp[i] != pat(got))
                fail_msg("byte %lld differs", got);
    }
    assert_int_equal(got, want);
}

static void test_backpressure_h1(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.high_watermark = 64 * 1024;
    srv *sv = srv_start(&lim);
    const long long total = 8000000;
    int fd = raw_connect(sv->port, 16384);
    char req[128];
    snprintf(req, sizeof req, "GET /big?n=%lld HTTP/1.1\r\nHost: x\r\n\r\n", total);
    raw_send(fd, req, strlen(req));
    assert_true(wait_atomic(&sv->paused, 1, 20)); /* the handler saw full and stopped */
    sleep_ms(500); /* the kernel's socket buffers fill meanwhile (a few drains) */
    long long w1 = atomic_load(&sv->big_written);
    int d1 = atomic_load(&sv->drains);
    sleep_ms(500);
    long long w2 = atomic_load(&sv->big_written);
    assert_int_equal(w1, w2); /* then no progress while the client does not read */
    assert_int_equal(atomic_load(&sv->drains), d1);
    assert_int_equal(atomic_load(&sv->paused), 1);
    assert_true(w2 < total / 2); /* the server did not buffer the answer */
    read_big(fd, total);
    assert_true(atomic_load(&sv->drains) > d1);
    assert_int_equal(atomic_load(&sv->big_written), total);
    assert_true(wait_counts(sv, 0, 1, 20)); /* finished, connection kept alive */
    close(fd);
    srv_free(sv);
}

static void test_backpressure_pipelined(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.high_watermark = 16 * 1024;
    srv *sv = srv_start(&lim);
    int fd = raw_connect(sv->port, 16384);
    /* a large answer the client does not read yet, and half of the next request */
    const char *reqs = "GET /big?n=3000000 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo/next HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello";
    raw_send(fd, reqs, strlen(reqs));
    assert_true(wait_atomic(&sv->paused, 1, 20));
    assert_int_equal(atomic_load(&sv->requests), 1); /* the second waits its turn */
    read_big(fd, 3000000);
    raw_send(fd, "world", 5);
    wr_buf b;
    wr_buf_init(&b);
    assert_int_equal(raw_read(fd, &b, "\"body\":\"helloworld\"", 20), 0);
    starts_with(&b, "HTTP/1.1 200 OK\r\n");
    wr_buf_free(&b);
    close(fd);
    srv_free(sv);
}

static int small_rcvbuf(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    (void)ud;
    (void)purpose;
    int sz = 32768;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    return CURL_SOCKOPT_OK;
}

static size_t big_cb(char *p, size_t sz, size_t n, void *ud)
{
    long long *got = ud;
    for (size_t i = 0; i < sz * n; i++, (*got)++)
        if ((unsigned char)p[i] != pat(*got))
            return 0;
    return sz * n;
}

static void test_backpressure_h2(void **state)
{
    (void)state;
    if (!has_h2())
        skip();
    wr_http_limits lim = {0};
    lim.high_watermark = 64 * 1024;
    srv *sv = srv_start(&lim);
    const long long total = 3000000;
    char path[64];
    snprintf(path, sizeof path, "/big?n=%lld", total);
    resp r;
    CURL *h = easy(sv, path, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, &r);
    long long got = 0;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, big_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, small_rcvbuf);
    curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)2000000);
    perform(h, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(got, total);
    assert_true(atomic_load(&sv->fulls) >= 1);
    assert_true(atomic_load(&sv->drains) >= 1);
    curl_easy_cleanup(h);
    resp_free(&r);
    srv_free(sv);
}

static void test_write_timeout(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.high_watermark = 64 * 1024;
    lim.write_timeout_ms = 500;
    srv *sv = srv_start(&lim);
    int fd = raw_connect(sv->port, 16384);
    const char *req = "GET /big?n=100000000 HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, req, strlen(req));
    assert_true(wait_atomic(&sv->paused, 1, 20));
    assert_true(wait_atomic(&sv->aborts, 1, 30)); /* dropped: no write progress */
    assert_true(wait_counts(sv, 0, 0, 20));
    assert_true(atomic_load(&sv->big_written) < 100000000);
    close(fd);
    srv_free(sv);
}

static void test_listen_errors(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    wr_http_server *s = NULL;
    weir_error err = {0};
    assert_int_equal(wr_http_server_new(&s, base, NULL, &err), 0);
    int port = 0;
    assert_int_equal(wr_http_server_listen(s, "127.0.0.1", &handler, NULL, &port, &err),
                     WEIR_EINVAL);
    assert_int_equal(wr_http_server_listen(s, "127.0.0.1:http", &handler, NULL, &port, &err),
                     WEIR_EINVAL);
    assert_int_equal(wr_http_server_listen(s, "[::1:80", &handler, NULL, &port, &err),
                     WEIR_EINVAL);
    assert_int_equal(wr_http_server_listen(s, "192.0.2.1:0", &handler, NULL, &port, &err),
                     WEIR_EIO); /* not a local address */
    assert_non_null(strstr(err.text, "192.0.2.1:0"));
    assert_int_equal(wr_http_server_listen(s, "127.0.0.1:0", &handler, NULL, &port, &err), 0);
    assert_true(port > 0);
    int rc = wr_http_server_listen(s, "[::1]:0", &handler, NULL, &port, &err);
    assert_true(rc == 0 || rc == WEIR_EIO); /* EIO: no IPv6 here */
    assert_int_equal(wr_http_server_connections(s), 0);
    assert_int_equal(wr_http_server_in_flight(s), 0);
    wr_http_server_free(s);
    wr_http_server_free(NULL);
    event_base_free(base);
}

static void test_max_connections(void **state)
{
    (void)state;
    wr_http_limits lim = {0};
    lim.max_connections = 2;
    srv *sv = srv_start(&lim);
    int a = raw_connect(sv->port, 0), b = raw_connect(sv->port, 0);
    assert_true(wait_counts(sv, 0, 2, 20));
    int c = raw_connect(sv->port, 0); /* accepted by the kernel, closed by the server */
    wr_buf buf;
    wr_buf_init(&buf);
    assert_int_equal(raw_read(c, &buf, NULL, 20), 1);
    assert_int_equal(buf.len, 0);
    close(c);
    close(a);
    assert_true(wait_counts(sv, 0, 1, 20));
    c = raw_connect(sv->port, 0); /* room again */
    const char *req = "GET /echo/again HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(c, req, strlen(req));
    assert_int_equal(raw_read(c, &buf, "\"target\":\"/echo/again\"", 20), 0);
    wr_buf_free(&buf);
    close(b);
    close(c);
    srv_free(sv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_keepalive),
        cmocka_unit_test(test_h1_chunked_upload),
        cmocka_unit_test(test_h1_streamed_response),
        cmocka_unit_test(test_h1_pipelining_and_http10),
        cmocka_unit_test(test_h1_upgrade_h2c_ignored),
        cmocka_unit_test(test_h2_prior_knowledge),
        cmocka_unit_test(test_h2_concurrent_streams),
        cmocka_unit_test(test_h2_uploads_and_flow_control),
        cmocka_unit_test(test_h2_timeouts),
        cmocka_unit_test(test_413_body_too_large),
        cmocka_unit_test(test_431_headers_too_large),
        cmocka_unit_test(test_400_and_505),
        cmocka_unit_test(test_408_timeouts),
        cmocka_unit_test(test_client_disconnect),
        cmocka_unit_test(test_respond_abort),
        cmocka_unit_test(test_server_free_aborts),
        cmocka_unit_test(test_backpressure_h1),
        cmocka_unit_test(test_backpressure_pipelined),
        cmocka_unit_test(test_backpressure_h2),
        cmocka_unit_test(test_write_timeout),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_max_connections),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    libevent_global_shutdown();
    return rc;
}
