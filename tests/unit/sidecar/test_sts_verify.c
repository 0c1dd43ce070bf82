/*
 * test_sts_verify.c - the asynchronous GetCallerIdentity call (filter/sidecar/sts_verify.c).
 *
 * A real event loop and upstream client against a small STS stand-in in a thread (plain
 * HTTP on 127.0.0.1, port 0) that answers per test: the ARN arrives in done(); a 403
 * SignatureDoesNotMatch, a silent server, an oversized body and a closed port are refusals;
 * cancel means no callback; the cache learns successes and 4xx refusals only.
 *
 * The last test is end to end with the Node STS simulator (tests/e2e/sts-sim.mjs, which
 * checks presigned signatures with @smithy/signature-v4) and tokens made by
 * tests/e2e/sts-token.mjs; it is skipped when node or tests/e2e/node_modules is missing.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "sidecar/sts_verify.h"

#define LOOP_LIMIT_S 30
#define CLUSTER "weir-test-cluster"
#define ARN_APP "arn:aws:sts::111122223333:assumed-role/llm-app/session-1"
#define ARN_BOB "arn:aws:sts::111122223333:assumed-role/llm-intern-bob/s2"
#define SIG "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ================================================================ STS stand-in */

typedef enum srv_mode { M_OK, M_403, M_SILENT, M_HUGE } srv_mode;

typedef struct srv {
    int lfd, port, wake[2];
    pthread_t th;
    srv_mode mode;
    pthread_mutex_t mu;
    int requests;
    char head[8192];
} srv;

static int srv_wait(srv *s, int fd)
{
    struct pollfd p[2] = { { s->wake[0], POLLIN, 0 }, { fd, POLLIN, 0 } };
    int n = poll(p, 2, -1);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    return p[0].revents ? -1 : 1;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char XML_OK[] =
    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <GetCallerIdentityResult>\n    <Arn>" ARN_APP "</Arn>\n"
    "    <UserId>AROAEXAMPLE:session-1</UserId>\n    <Account>111122223333</Account>\n"
    "  </GetCallerIdentityResult>\n</GetCallerIdentityResponse>\n";
static const char XML_403[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender"
    "</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
    "does not match the signature you provided.</Message></Error><RequestId>x</RequestId>"
    "</ErrorResponse>";

static void srv_answer(srv *s, int fd)
{
    char hdr[256];
    const char *body = NULL;
    int status = 200;
    switch (s->mode) {
    case M_OK: body = XML_OK; break;
    case M_403: body = XML_403; status = 403; break;
    case M_SILENT:
        while (srv_wait(s, fd) > 0) { /* hold until the client gives up */
            char b[256];
            if (recv(fd, b, sizeof b, 0) <= 0)
                break;
        }
        return;
    case M_HUGE: {
        size_t n = WR_STS_MAX_RESPONSE * 2;
        int k = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        char *b = malloc(n);
        if (!b)
            return;
        memset(b, ' ', n);
        if (send_all(fd, hdr, (size_t)k) == 0)
            send_all(fd, b, n);
        free(b);
        return;
    }
    }
    int k = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d X\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, strlen(body));
    if (send_all(fd, hdr, (size_t)k) == 0)
        send_all(fd, body, strlen(body));
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    while (srv_wait(s, s->lfd) > 0) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char buf[8192];
        size_t len = 0;
        while (len < sizeof buf - 1 && srv_wait(s, fd) > 0) {
            ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[len] = '\0';
        pthread_mutex_lock(&s->mu);
        memcpy(s->head, buf, len + 1);
        s->requests++;
        pthread_mutex_unlock(&s->mu);
        srv_answer(s, fd);
        close(fd);
    }
    return NULL;
}

static srv *srv_start(srv_mode mode)
{
    srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pipe(s->wake), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(srv *s)
{
    assert_int_equal(write(s->wake[1], "x", 1), 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ================================================================ loop and results */

typedef struct result {
    struct event_base *base;
    int calls, ok;
    char arn[WR_STS_MAX_ARN + 1];
    char msg[300];
} result;

static void on_done(void *user, int ok, const char *arn, const char *message)
{
    result *r = user;
    r->calls++;
    r->ok = ok;
    snprintf(r->arn, sizeof r->arn, "%s", arn ? arn : "");
    snprintf(r->msg, sizeof r->msg, "%s", message ? message : "");
    if (ok)
        assert_non_null(arn);
    else
        assert_null(arn);
    event_base_loopbreak(r->base);
}

typedef struct fixture {
    struct event_base *base;
    wr_upstream *up;
    wr_sts_cache *cache;
} fixture;

static fixture fx_new(void)
{
    fixture f;
    f.base = event_base_new();
    assert_non_null(f.base);
    weir_error err;
    assert_int_equal(wr_upstream_new(&f.up, f.base, NULL, &err), 0);
    assert_int_equal(wr_sts_cache_new(&f.cache, 100, &err), 0);
    return f;
}

static void fx_free(fixture *f)
{
    wr_upstream_free(f->up);
    wr_sts_cache_free(f->cache);
    event_base_free(f->base);
}

/* Runs the loop until done() breaks it, or LOOP_LIMIT_S / `seconds` pass. */
static void run_loop(fixture *f, int seconds)
{
    struct timeval tv = { seconds ? seconds : LOOP_LIMIT_S, 0 };
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

/* A token for the stand-in: presigned shape, dated now, bound to CLUSTER. */
static void make_call(int port, wr_sts_call *call)
{
    char date[17], day[9], url[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/?Action=GetCallerIdentity&Version=2011-06-15"
             "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLEAPP000001%%2F%s"
             "%%2Fus-east-1%%2Fsts%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=60"
             "&X-Amz-SignedHeaders=host%%3Bx-k8s-aws-id&X-Amz-Signature=" SIG,
             port, day, date);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    wr_sts_rules rules = { 0 };
    rules.cluster_id = CLUSTER;
    rules.endpoint = endpoint;
    rules.allow_loopback_http = true;
    weir_error err;
    if (wr_sts_token_parse(url, strlen(url), &rules, call, &err) != 0)
        fail_msg("token refused: %s", err.text);
}

/* ================================================================ tests */

static void test_ok(void **state)
{
    (void)state;
    srv *s = srv_start(M_OK);
    fixture f = fx_new();
    wr_sts_call call;
    make_call(s->port, &call);
    result r = { .base = f.base };
    wr_sts_verify_options opt = { 0, f.cache };
    wr_sts_verify *v;
    weir_error err;
    assert_int_equal(wr_sts_verify_start(f.up, &call, &opt, on_done, &r, &v, &err), 0);
    assert_int_equal(r.calls, 0); /* asynchronous: nothing before the loop runs */
    run_loop(&f, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.arn, ARN_APP);
    /* what went to STS: a GET of the presigned URL with the cluster header */
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->requests, 1);
    assert_non_null(strstr(s->head, "GET /?Action=GetCallerIdentity&Version=2011-06-15&"));
    assert_non_null(strstr(s->head, "X-Amz-Signature=" SIG " HTTP/1.1\r\n"));
    assert_non_null(strstr(s->head, "\r\nx-k8s-aws-id: " CLUSTER "\r\n"));
    assert_non_null(strstr(s->head, "\r\nAccept: application/xml\r\n"));
    pthread_mutex_unlock(&s->mu);
    /* the cache learnt it, until the token's expiry */
    char arn[256];
    assert_int_equal(wr_sts_cache_get(f.cache, call.cache_key, time(NULL), arn, sizeof arn, NULL,
                                      0),
                     WR_STS_HIT);
    assert_string_equal(arn, ARN_APP);
    assert_int_equal(wr_sts_cache_get(f.cache, call.cache_key, call.expires_at, arn, sizeof arn,
                                      NULL, 0),
                     WR_STS_MISS);
    wr_sts_call_free(&call);
    fx_free(&f);
    srv_stop(s);
}

static void test_signature_mismatch(void **state)
{
    (void)state;
    srv *s = srv_start(M_403);
    fixture f = fx_new();
    wr_sts_call call;
    make_call(s->port, &call);
    result r = { .base = f.base };
    wr_sts_verify_options opt = { 0, f.cache };
    wr_sts_verify *v;
    assert_int_equal(wr_sts_verify_start(f.up, &call, &opt, on_done, &r, &v, NULL), 0);
    run_loop(&f, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "HTTP 403 SignatureDoesNotMatch"));
    assert_null(strstr(r.msg, SIG)); /* no token bytes in the message */
    char msg[300];
    assert_int_equal(wr_sts_cache_get(f.cache, call.cache_key, time(NULL), NULL, 0, msg,
                                      sizeof msg),
                     WR_STS_REFUSED);
    assert_string_equal(msg, r.msg);
    wr_sts_call_free(&call);
    fx_free(&f);
    srv_stop(s);
}

static void test_timeout(void **state)
{
    (void)state;
    srv *s = srv_start(M_SILENT);
    fixture f = fx_new();
    wr_sts_call call;
    make_call(s->port, &call);
    result r = { .base = f.base };
    wr_sts_verify_options opt = { 1000, f.cache };
    wr_sts_verify *v;
    time_t t0 = time(NULL);
    assert_int_equal(wr_sts_verify_start(f.up, &call, &opt, on_done, &r, &v, NULL), 0);
    run_loop(&f, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "no answer within 1000 ms (timeout)"));
    assert_true(time(NULL) - t0 < LOOP_LIMIT_S);
    /* a transport failure is not cached */
    assert_int_equal(wr_sts_cache_get(f.cache, call.cache_key, time(NULL), NULL, 0, NULL, 0),
                     WR_STS_MISS);
    wr_sts_call_free(&call);
    fx_free(&f);
    srv_stop(s);
}

static void test_huge_and_refused(void **state)
{
    (void)state;
    srv *s = srv_start(M_HUGE);
    fixture f = fx_new();
    wr_sts_call call;
    make_call(s->port, &call);
    result r = { .base = f.base };
    wr_sts_verify *v;
    assert_int_equal(wr_sts_verify_start(f.up, &call, NULL, on_done, &r, &v, NULL), 0);
    run_loop(&f, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "too large"));
    wr_sts_call_free(&call);
    int port = s->port;
    srv_stop(s); /* nothing listens there any more */

    make_call(port, &call);
    memset(&r, 0, sizeof r);
    r.base = f.base;
    assert_int_equal(wr_sts_verify_start(f.up, &call, NULL, on_done, &r, &v, NULL), 0);
    run_loop(&f, 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "sts: call failed (refused)"));
    wr_sts_call_free(&call);
    fx_free(&f);
}

static void test_cancel(void **state)
{
    (void)state;
    srv *s = srv_start(M_SILENT);
    fixture f = fx_new();
    wr_sts_call call;
    make_call(s->port, &call);
    result r = { .base = f.base };
    wr_sts_verify_options opt = { 2000, NULL };
    wr_sts_verify *v;
    assert_int_equal(wr_sts_verify_start(f.up, &call, &opt, on_done, &r, &v, NULL), 0);
    wr_sts_call_free(&call); /* the call is borrowed for the start only */
    run_loop(&f, 1);         /* let the request reach the server */
    assert_int_equal(r.calls, 0);
    wr_sts_verify_cancel(v);
    run_loop(&f, 3); /* past the 2 s timeout: done must not run */
    assert_int_equal(r.calls, 0);
    assert_int_equal(wr_upstream_active(f.up), 0);
    wr_sts_verify_cancel(NULL);
    /* bad arguments: an error, and no callback */
    weir_error err;
    wr_sts_call empty = { 0 };
    assert_int_equal(wr_sts_verify_start(f.up, &empty, NULL, on_done, &r, &v, &err), WEIR_EINVAL);
    assert_null(v);
    assert_int_equal(r.calls, 0);
    fx_free(&f);
    srv_stop(s);
}

/* ================================================================ with the Node simulator */

typedef struct sim {
    pid_t pid;
    int port;
} sim;

static int e2e_dir(char *dir, size_t n)
{
    const char *src = getenv("WEIR_SOURCE_DIR");
    snprintf(dir, n, "%s/tests/e2e", src && *src ? src : ".");
    char mod[4200];
    snprintf(mod, sizeof mod, "%s/node_modules/@smithy/signature-v4", dir);
    struct stat st;
    return stat(mod, &st) == 0 && system("node --version >/dev/null 2>&1") == 0 ? 0 : -1;
}

static int sim_start(const char *dir, sim *out)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        char script[4200];
        snprintf(script, sizeof script, "%s/sts-sim.mjs", dir);
        execlp("node", "node", script, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[256];
    size_t len = 0;
    struct pollfd pf = { p[0], POLLIN, 0 };
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && poll(&pf, 1, 20000) > 0) {
        ssize_t n = read(p[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(p[0]);
    line[len] = '\0';
    const char *k = strstr(line, "\"port\":");
    out->pid = pid;
    out->port = k ? atoi(k + 7) : 0;
    return out->port > 0 ? 0 : -1;
}

static void sim_stop(sim *s)
{
    kill(s->pid, SIGTERM);
    int st;
    waitpid(s->pid, &st, 0);
}

/* Runs sts-token.mjs with args; the token in buf. */
static int make_token(const char *dir, const char *args, char *buf, size_t n)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "node %s/sts-token.mjs %s", dir, args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = '\0';
    if (pclose(f) != 0 || len == 0)
        return -1;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static void verify_with(fixture *f, const char *token, const wr_sts_rules *rules, result *r)
{
    wr_sts_call call;
    weir_error err;
    if (wr_sts_token_parse(token, strlen(token), rules, &call, &err) != 0)
        fail_msg("weir refused the sts-token.mjs token: %s", err.text);
    memset(r, 0, sizeof *r);
    r->base = f->base;
    wr_sts_verify *v;
    assert_int_equal(wr_sts_verify_start(f->up, &call, NULL, on_done, r, &v, &err), 0);
    wr_sts_call_free(&call);
    run_loop(f, 0);
    assert_int_equal(r->calls, 1);
}

static void test_node_simulator(void **state)
{
    (void)state;
    char dir[4096];
    if (e2e_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "test_node_simulator: node or tests/e2e/node_modules missing, skipped\n");
        skip();
    }
    sim sm;
    memset(&sm, 0, sizeof sm);
    if (sim_start(dir, &sm) != 0) {
        sim_stop(&sm);
        fail_msg("sts-sim.mjs did not start");
    }
    char endpoint[64], args[512], token[8192];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", sm.port);
    wr_sts_rules rules = { 0 }; /* the real clock */
    rules.cluster_id = CLUSTER;
    rules.endpoint = endpoint;
    rules.endpoint_region = "us-east-1";
    rules.allow_loopback_http = true;
    fixture f = fx_new();
    result r;

    /* the app's key: its ARN */
    snprintf(args, sizeof args, "--endpoint %s --cluster-id " CLUSTER, endpoint);
    assert_int_equal(make_token(dir, args, token, sizeof token), 0);
    assert_int_equal(strncmp(token, "k8s-aws-v1.", 11), 0);
    verify_with(&f, token, &rules, &r);
    if (!r.ok)
        fail_msg("simulator refused: %s", r.msg);
    assert_string_equal(r.arn, ARN_APP);

    /* Bob's key, raw URL form */
    snprintf(args, sizeof args,
             "--raw --endpoint %s --cluster-id " CLUSTER " --access-key-id AKIDEXAMPLEBOB000001 "
             "--secret-access-key weir-sts-sim-bob-secret-access-key-00001",
             endpoint);
    assert_int_equal(make_token(dir, args, token, sizeof token), 0);
    verify_with(&f, token, &rules, &r);
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.arn, ARN_BOB);

    /* a wrong secret: STS says SignatureDoesNotMatch */
    snprintf(args, sizeof args,
             "--endpoint %s --cluster-id " CLUSTER " --secret-access-key not-the-secret", endpoint);
    assert_int_equal(make_token(dir, args, token, sizeof token), 0);
    verify_with(&f, token, &rules, &r);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "HTTP 403 SignatureDoesNotMatch"));

    /* minted for another cluster: weir sends its own x-k8s-aws-id, the signature breaks */
    snprintf(args, sizeof args, "--endpoint %s --cluster-id other-cluster", endpoint);
    assert_int_equal(make_token(dir, args, token, sizeof token), 0);
    verify_with(&f, token, &rules, &r);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "SignatureDoesNotMatch"));

    /* an expired token is refused by weir before any call */
    time_t old = time(NULL) - 120;
    struct tm tm;
    gmtime_r(&old, &tm);
    char date[17];
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(args, sizeof args, "--endpoint %s --cluster-id " CLUSTER " --date %s", endpoint,
             date);
    assert_int_equal(make_token(dir, args, token, sizeof token), 0);
    wr_sts_call call;
    weir_error err;
    assert_int_equal(wr_sts_token_parse(token, strlen(token), &rules, &call, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.text, "expired"));
    /* ... and by the simulator too, had it been sent (ignore_expires only moves weir's side) */
    rules.ignore_expires = true;
    verify_with(&f, token, &rules, &r);
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.msg, "HTTP 403 ExpiredToken"));

    fx_free(&f);
    sim_stop(&sm);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_signature_mismatch),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_huge_and_refused),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_node_simulator),
    };
    return cmocka_run_group_tests_name("sts_verify", tests, NULL, NULL);
}
