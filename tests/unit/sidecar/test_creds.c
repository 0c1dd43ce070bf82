/*
 * AWS credentials for the sidecar: the environment, the shared credentials file, the
 * container endpoint and STS web identity (both served by a small HTTP server on
 * 127.0.0.1:0 in a thread), the refresh thread (rotation, a failed refresh keeps the old
 * credentials until they expire, recovery, prompt shutdown), and the rules behind it.
 *
 * Lookups go through a fake getenv, so the process environment does not matter. Timing is
 * generous: waits are bounded in tens of seconds, never asserted in milliseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sidecar/creds.h"

/* ------------------------------------------------------------------ fake environment */

#define MAX_ENV 24
static struct {
    char name[64];
    char value[1024];
} fenv[MAX_ENV];
static int nfenv;

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < nfenv; i++)
        if (strcmp(fenv[i].name, name) == 0)
            return fenv[i].value;
    return NULL;
}

static void env_set(const char *name, const char *value)
{
    int i = 0;
    while (i < nfenv && strcmp(fenv[i].name, name) != 0)
        i++;
    assert_true(i < MAX_ENV);
    if (i == nfenv)
        nfenv++;
    snprintf(fenv[i].name, sizeof fenv[i].name, "%s", name);
    snprintf(fenv[i].value, sizeof fenv[i].value, "%s", value);
}

/* ------------------------------------------------------------------ temporary files */

static char tmpdir[64];
static char made[16][PATH_MAX];
static int nmade;

static const char *tpath(const char *name)
{
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void remember(const char *path)
{
    for (int i = 0; i < nmade; i++)
        if (strcmp(made[i], path) == 0)
            return;
    assert_true(nmade < 16);
    snprintf(made[nmade++], PATH_MAX, "%s", path);
}

/* Writes a file under the test's directory; returns its path (valid for a few calls). */
static const char *write_file(const char *name, const char *content, size_t len)
{
    const char *p = tpath(name);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, p), 0); /* readers see the old or the new file, whole */
    remember(p);
    return p;
}

static const char *write_text(const char *name, const char *content)
{
    return write_file(name, content, strlen(content));
}

static int setup(void **state)
{
    (void)state;
    nfenv = 0;
    nmade = 0;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weir-creds-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = nmade - 1; i >= 0; i--) /* files, then the directories made before them */
        if (unlink(made[i]) != 0)
            rmdir(made[i]);
    rmdir(tmpdir);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void iso_time(time_t t, const char *frac, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* ------------------------------------------------------------------ a tiny HTTP server */

typedef enum mode {
    M_CONTAINER,       /* 200 with credentials numbered by request */
    M_CONTAINER_403,   /* 403 {"code","message"} */
    M_CONTAINER_ECHO,  /* 403 whose message quotes the Authorization header */
    M_CONTAINER_BIG,   /* 200 with a 70 KiB body */
    M_CONTAINER_BADJSON,
    M_CONTAINER_NOEXP, /* no Expiration */
    M_CONTAINER_PAST,  /* expired an hour ago */
    M_STS,             /* 200 AssumeRoleWithWebIdentityResponse */
    M_STS_ERROR,       /* 400 ErrorResponse */
    M_STS_ECHO,        /* 400 ErrorResponse whose Message quotes the token sent */
    M_STS_NOTOKEN,     /* 200 without SessionToken */
    M_STS_BADENTITY,   /* 200 with an unknown entity in SecretAccessKey */
    M_PLAIN_502,       /* 502 text/plain */
} mode;

#define SRV_KEEP 8

typedef struct srv {
    int fd, port;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;
    /* under mu */
    mode mode;
    int life;            /* seconds the credentials live */
    int fail_from;       /* requests numbered >= this answer 500 (0: never) */
    int delay_from;      /* requests numbered >= this wait 4.5 s before answering (0: never) */
    int requests;
    char auth[SRV_KEEP][512]; /* Authorization of request n (1-based, first SRV_KEEP), "" */
    char body[SRV_KEEP][8192];
    char method[16], path[256];
    char echo[512];      /* what M_*_ECHO quotes */
    char *out;           /* response scratch */
} srv;

#define OUT_CAP (96 * 1024)

static size_t srv_json_creds(srv *s, int n, char *body, size_t cap)
{
    char exp[40];
    iso_time(time(NULL) + (s->mode == M_CONTAINER_PAST ? -3600 : s->life), "", exp, sizeof exp);
    if (s->mode == M_CONTAINER_NOEXP)
        return (size_t)snprintf(body, cap,
                                "{\"AccessKeyId\":\"ASIACONTAINER%04d\",\"SecretAccessKey\":"
                                "\"ctr-secret-%04d\",\"Token\":\"ctr-token-%04d\"}", n, n, n);
    return (size_t)snprintf(body, cap,
                            "{\"RoleArn\":\"arn:aws:iam::111122223333:role/pod\","
                            "\"AccessKeyId\":\"ASIACONTAINER%04d\",\"SecretAccessKey\":"
                            "\"ctr-secret-%04d/+x\",\"Token\":\"ctr-token-%04d\","
                            "\"Expiration\":\"%s\"}", n, n, n, exp);
}

static size_t srv_sts_creds(srv *s, int n, char *body, size_t cap)
{
    char exp[40];
    iso_time(time(NULL) + s->life, ".123", exp, sizeof exp);
    char tokbuf[128] = "";
    if (s->mode != M_STS_NOTOKEN)
        snprintf(tokbuf, sizeof tokbuf, "<SessionToken>sts-tok&amp;en-%04d</SessionToken>", n);
    return (size_t)snprintf(
        body, cap,
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa"
        "</SubjectFromWebIdentityToken>\n"
        "    <Credentials>\n"
        "      %s\n"
        "      <SecretAccessKey>sts-secret-%04d%s</SecretAccessKey>\n"
        "      <Expiration>%s</Expiration>\n"
        "      <AccessKeyId> ASIASTS%04d </AccessKeyId>\n"
        "    </Credentials>\n"
        "    <Provider>oidc.eks.example</Provider>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "  <ResponseMetadata><RequestId>1c2d</RequestId></ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n",
        tokbuf, n, s->mode == M_STS_BADENTITY ? "&bogus;" : "", exp, n);
}

/* The whole response for request n, into s->out. Called under s->mu. */
static size_t srv_respond(srv *s, int n)
{
    static char body[80 * 1024];
    const char *status = "200 OK", *type = "application/json";
    size_t len;
    if (s->fail_from && n >= s->fail_from) {
        status = "500 Internal Server Error";
        len = (size_t)snprintf(body, sizeof body,
                               "{\"code\":\"Unavailable\",\"message\":\"agent restarting\"}");
    } else if (s->mode == M_CONTAINER_403 || s->mode == M_CONTAINER_ECHO) {
        status = "403 Forbidden";
        len = (size_t)snprintf(body, sizeof body, "{\"code\":\"AccessDenied\",\"message\":\"%s\"}",
                               s->mode == M_CONTAINER_ECHO ? s->echo : "token rejected");
    } else if (s->mode == M_CONTAINER_BIG) {
        len = 70 * 1024;
        memset(body, ' ', len);
        body[0] = '{';
        body[len - 1] = '}';
    } else if (s->mode == M_CONTAINER_BADJSON) {
        len = (size_t)snprintf(body, sizeof body, "{\"AccessKeyId\": \"ASIA\", oops");
    } else if (s->mode == M_STS_ERROR || s->mode == M_STS_ECHO) {
        status = "400 Bad Request";
        type = "text/xml";
        len = (size_t)snprintf(
            body, sizeof body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
            "  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidIdentityToken</Code>\n"
            "    <Message>%s</Message>\n  </Error>\n  <RequestId>9f1e</RequestId>\n"
            "</ErrorResponse>\n",
            s->mode == M_STS_ECHO ? s->echo : "Incorrect token audience &amp; issuer");
    } else if (s->mode == M_PLAIN_502) {
        status = "502 Bad Gateway";
        type = "text/plain";
        len = (size_t)snprintf(body, sizeof body, "upstream down");
    } else if (s->mode >= M_STS) {
        type = "text/xml";
        len = srv_sts_creds(s, n, body, sizeof body);
    } else {
        len = srv_json_creds(s, n, body, sizeof body);
    }
    int h = snprintf(s->out, OUT_CAP,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, type, len);
    memcpy(s->out + h, body, len);
    return (size_t)h + len;
}

/* Value of header `name` in the request head (NUL-terminated), into out. */
static void srv_header(const char *head, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t len = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, n, "%.*s", (int)len, v);
            return;
        }
    }
}

static void srv_handle(srv *s, int cfd)
{
    static char req[128 * 1024];
    size_t got = 0;
    char *end = NULL;
    struct timeval tv = {5, 0};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!end && got < sizeof req - 1) {
        ssize_t r = recv(cfd, req + got, sizeof req - 1 - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
        req[got] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    if (!end)
        return;
    *end = '\0';
    char cl[32];
    srv_header(req, "Content-Length", cl, sizeof cl);
    size_t head = (size_t)(end - req) + 4, want = head + (size_t)atol(cl);
    while (got < want && got < sizeof req - 1) {
        ssize_t r = recv(cfd, req + got, sizeof req - 1 - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
    }
    req[got] = '\0';
    pthread_mutex_lock(&s->mu);
    int n = ++s->requests;
    if (n <= SRV_KEEP) {
        srv_header(req, "Authorization", s->auth[n - 1], sizeof s->auth[n - 1]);
        snprintf(s->body[n - 1], sizeof s->body[n - 1], "%s", req + head);
    }
    sscanf(req, "%15s %255s", s->method, s->path);
    int delay = s->delay_from && n >= s->delay_from;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; delay && i < 90 && !atomic_load(&s->stop); i++)
        sleep_ms(50);
    pthread_mutex_lock(&s->mu);
    size_t len = srv_respond(s, n);
    pthread_mutex_unlock(&s->mu);
    for (size_t off = 0; off < len;) {
        ssize_t w = send(cfd, s->out + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0)
            continue;
        srv_handle(s, cfd);
        close(cfd);
    }
    return NULL;
}

static srv *srv_start(mode m, int life)
{
    srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->out = malloc(OUT_CAP);
    assert_non_null(s->out);
    s->mode = m;
    s->life = life;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(srv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s->out);
    free(s);
}

static int srv_requests(srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* What request n (1-based) carried: 'a' Authorization, 'b' body, 'm' method, 'p' path
 * (the last two of the latest request). A copy, valid until the next call. */
static const char *srv_rec(srv *s, char what, int n)
{
    static char buf[8192];
    assert_true(n >= 1 && n <= SRV_KEEP);
    pthread_mutex_lock(&s->mu);
    const char *v = what == 'a' ? s->auth[n - 1] : what == 'b' ? s->body[n - 1]
                  : what == 'm' ? s->method : s->path;
    snprintf(buf, sizeof buf, "%s", v);
    pthread_mutex_unlock(&s->mu);
    return buf;
}

static void srv_set(srv *s, mode m, int fail_from)
{
    pthread_mutex_lock(&s->mu);
    s->mode = m;
    s->fail_from = fail_from;
    pthread_mutex_unlock(&s->mu);
}

static const char *srv_url(srv *s, const char *path)
{
    static char buf[2][128];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "http://127.0.0.1:%d%s", s->port, path);
    return buf[k];
}

/* ------------------------------------------------------------------ helpers */

static wr_creds_options fake_opts(void)
{
    wr_creds_options o = {0};
    o.getenv_fn = fake_getenv;
    return o;
}

static wr_creds *creds_ok(const wr_creds_options *o)
{
    wr_creds *c = NULL;
    weir_error err = {0};
    int rc = wr_creds_new(&c, o, &err);
    if (rc) {
        char buf[512];
        print_error("wr_creds_new: %d %s\n", rc, weir_error_format(&err, buf, sizeof buf));
    }
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* wr_creds_new must fail with `code`; the formatted error is returned (static). */
static const char *creds_fail(const wr_creds_options *o, int code)
{
    static char buf[512];
    wr_creds *c = NULL;
    weir_error err = {0};
    int rc = wr_creds_new(&c, o, &err);
    weir_error_format(&err, buf, sizeof buf);
    if (rc != code)
        print_error("expected %d, got %d: %s\n", code, rc, buf);
    assert_int_equal(rc, code);
    assert_null(c);
    assert_int_equal(err.code, code);
    return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        print_error("'%s' does not contain '%s'\n", hay, needle);
    assert_non_null(strstr(hay, needle));
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        print_error("'%s' contains '%s'\n", hay, needle);
    assert_null(strstr(hay, needle));
}

static wr_creds_value get_ok(wr_creds *c)
{
    wr_creds_value v;
    weir_error err = {0};
    int rc = wr_creds_get(c, &v, &err);
    if (rc)
        print_error("wr_creds_get: %s\n", err.text);
    assert_int_equal(rc, 0);
    return v;
}

static unsigned long stat_ok(wr_creds *c)
{
    unsigned long ok, failed;
    wr_creds_stats(c, &ok, &failed);
    return ok;
}

static unsigned long stat_failed(wr_creds *c)
{
    unsigned long ok, failed;
    wr_creds_stats(c, &ok, &failed);
    return failed;
}

/* ------------------------------------------------------------------ environment */

static void test_env_with_session_token(void **state)
{
    (void)state;
    env_set("AWS_ACCESS_KEY_ID", "AKIAENV0000000000001");
    env_set("AWS_SECRET_ACCESS_KEY", "envSecret/abc+def");
    env_set("AWS_SESSION_TOKEN", "envSessionToken==");
    wr_creds_options o = fake_opts();
    wr_creds *c = creds_ok(&o);
    assert_string_equal(wr_creds_source(c), "environment");
    wr_creds_value v = get_ok(c);
    assert_string_equal(v.access_key_id, "AKIAENV0000000000001");
    assert_string_equal(v.secret_access_key, "envSecret/abc+def");
    assert_string_equal(v.session_token, "envSessionToken==");
    assert_int_equal(v.expiration, 0);
    wr_creds_value_clear(&v);
    assert_string_equal(v.access_key_id, "");
    assert_int_equal(stat_ok(c) + stat_failed(c), 0);
    wr_creds_free(c);
}

static void test_env_without_session_token(void **state)
{
    (void)state;
    env_set("AWS_ACCESS_KEY_ID", "AKIAENV0000000000002");
    env_set("AWS_SECRET_ACCESS_KEY", "envSecret2");
    env_set("AWS_SESSION_TOKEN", ""); /* empty counts as unset */
    wr_creds_options o = fake_opts();
    wr_creds *c = creds_ok(&o);
    wr_creds_value v = get_ok(c);
    assert_string_equal(v.access_key_id, "AKIAENV0000000000002");
    assert_string_equal(v.session_token, "");
    wr_creds_value_clear(&v);
    wr_creds_free(c);
}

static void test_env_key_id_without_secret_is_unset(void **state)
{
    (void)state;
    env_set("AWS_ACCESS_KEY_ID", "AKIAENVALONE00000003");
    wr_creds_options o = fake_opts();
    creds_fail(&o, WEIR_ENOTFOUND);
    /* with a shared file the chain goes on to it, as the SDKs do */
    write_text("credentials", "[default]\naws_access_key_id = AKIAFILE000000000003\n"
                              "aws_secret_access_key = fileSecret3\n");
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"));
    wr_creds *c = creds_ok(&o);
    assert_string_equal(wr_creds_source(c), "profile:default");
    wr_creds_value v = get_ok(c);
    assert_string_equal(v.access_key_id, "AKIAFILE000000000003");
    wr_creds_value_clear(&v);
    wr_creds_free(c);
}

static void test_env_wins_over_file(void **state)
{
    (void)state;
    write_text("credentials", "[default]\naws_access_key_id = AKIAFILE\n"
                              "aws_secret_access_key = fileSecret\n");
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"));
    env_set("AWS_ACCESS_KEY_ID", "AKIAENVWINS");
    env_set("AWS_SECRET_ACCESS_KEY", "envSecret");
    wr_creds_options o = fake_opts();
    wr_creds *c = creds_ok(&o);
    assert_string_equal(wr_creds_source(c), "environment");
    wr_creds_free(c);
}

static void test_no_source_is_notfound(void **state)
{
    (void)state;
    wr_creds_options o = fake_opts();
    const char *msg = creds_fail(&o, WEIR_ENOTFOUND);
    assert_contains(msg, "AWS_ACCESS_KEY_ID");
    /* HOME without ~/.aws/credentials is no source either */
    env_set("HOME", tmpdir);
    creds_fail(&o, WEIR_ENOTFOUND);
    /* half a web identity configuration does not apply */
    env_set("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/x");
    creds_fail(&o, WEIR_ENOTFOUND);
    assert_int_equal(wr_creds_new(NULL, &o, NULL), WEIR_EINVAL);
    wr_creds_free(NULL);
}

/* ------------------------------------------------------------------ shared credentials file */

static const char shared_file[] =
    "# weir test credentials\n"
    "; a comment of the other kind\n"
    "\n"
    "[default]\n"
    "aws_access_key_id = AKIADEFAULT000000001\n"
    "aws_secret_access_key=defaultSecret/abc+1   \n"
    "region = eu-west-1\n"
    "\n"
    "  [ dev ]   # trailing comment\n"
    "\taws_access_key_id\t=\tAKIADEV0000000000002\r\n"
    "AWS_SECRET_ACCESS_KEY = devSecret2 ; inline comment\r\n"
    "aws_session_token = devToken2==\r\n"
    "[prod]\n"
    "aws_access_key_id = AKIAPROD000000000003\n"
    "aws_secret_access_key = prodSecret3\n"
    "s3 =\n"
    "    max_concurrent_requests = 20\n"
    "[default-extra]\n"
    "aws_access_key_id = AKIAWRONG\n"
    "aws_secret_access_key = wrong\n"
    "[only-region]\n"
    "region = us-west-2\n";

static void expect_profile(const wr_creds_options *o, const char *source, const char *akid,
                           const char *secret, const char *token)
{
    wr_creds *c = creds_ok(o);
    assert_string_equal(wr_creds_source(c), source);
    wr_creds_value v = get_ok(c);
    assert_string_equal(v.access_key_id, akid);
    assert_string_equal(v.secret_access_key, secret);
    assert_string_equal(v.session_token, token);
    assert_int_equal(v.expiration, 0);
    wr_creds_value_clear(&v);
    wr_creds_free(c);
}

static void test_profile_file(void **state)
{
    (void)state;
    char aws[PATH_MAX];
    snprintf(aws, sizeof aws, "%s/.aws", tmpdir);
    assert_int_equal(mkdir(aws, 0700), 0);
    remember(aws);
    write_text(".aws/credentials", shared_file);
    wr_creds_options o = fake_opts();

    env_set("HOME", tmpdir); /* ~/.aws/credentials, profile default */
    expect_profile(&o, "profile:default", "AKIADEFAULT000000001", "defaultSecret/abc+1", "");

    env_set("AWS_PROFILE", "prod");
    expect_profile(&o, "profile:prod", "AKIAPROD000000000003", "prodSecret3", "");

    o.profile = "dev"; /* the option beats AWS_PROFILE */
    expect_profile(&o, "profile:dev", "AKIADEV0000000000002", "devSecret2", "devToken2==");

    /* AWS_SHARED_CREDENTIALS_FILE beats HOME */
    write_text("other", "[dev]\naws_access_key_id=AKIAOTHER\naws_secret_access_key=other\n");
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("other"));
    expect_profile(&o, "profile:dev", "AKIAOTHER", "other", "");
}

static void test_profile_not_found(void **state)
{
    (void)state;
    write_text("credentials", shared_file);
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"));
    env_set("AWS_PROFILE", "staging");
    wr_creds_options o = fake_opts();
    const char *msg = creds_fail(&o, WEIR_ENOTFOUND);
    assert_contains(msg, "profile 'staging' not found");
    assert_contains(msg, tpath("credentials"));

    /* a named profile whose file does not exist */
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("missing"));
    msg = creds_fail(&o, WEIR_ENOTFOUND);
    assert_contains(msg, "staging");

    /* a named profile without keys (role_arn and the like are not supported) */
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"));
    env_set("AWS_PROFILE", "only-region");
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "no aws_access_key_id");

    /* no [default] and no profile named: not a source, the chain goes on */
    write_text("nodefault", "[dev]\naws_access_key_id=A\naws_secret_access_key=B\n");
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("nodefault"));
    env_set("AWS_PROFILE", "");
    msg = creds_fail(&o, WEIR_ENOTFOUND);
    assert_contains(msg, "no AWS credentials");
}

static void test_profile_errors(void **state)
{
    (void)state;
    wr_creds_options o = fake_opts();
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"));

    write_text("credentials", "[default]\naws_access_key_id = AKIAHALF\n");
    const char *msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "needs both");

    write_text("credentials", "[default]\naws_secret_access_key = halfSecretValue\n");
    msg = creds_fail(&o, WEIR_EIO);
    assert_lacks(msg, "halfSecretValue");

    write_text("credentials", "[default]\naws_access_key_id = A\n"
                              "aws_secret_access_key = s3cr3tV4lue\nthis line is wrong\n");
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, ":4:"); /* file:line */
    assert_lacks(msg, "s3cr3tV4lue");

    write_text("credentials", "aws_access_key_id = A\n[default]\n");
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "outside");

    write_text("credentials", "[default\naws_access_key_id = A\n");
    creds_fail(&o, WEIR_EIO);

    /* over 1 MiB */
    size_t big = 1024 * 1024 + 10;
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, '#', big);
    data[big - 1] = '\n';
    write_file("credentials", data, big);
    free(data);
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "larger than");
}

/* ------------------------------------------------------------------ container endpoint */

static void test_container_full_uri(void **state)
{
    (void)state;
    srv *s = srv_start(M_CONTAINER, 3600);
    write_text("token", "pod-identity-token-1");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv_url(s, "/v1/credentials"));
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tpath("token"));
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "literal-loses-to-the-file");
    wr_creds_options o = fake_opts();
    time_t before = time(NULL);
    wr_creds *c = creds_ok(&o);
    assert_string_equal(wr_creds_source(c), "container");
    assert_int_equal(srv_requests(s), 1);
    assert_string_equal(srv_rec(s, 'a', 1), "pod-identity-token-1");
    assert_string_equal(srv_rec(s, 'm', 1), "GET");
    assert_string_equal(srv_rec(s, 'p', 1), "/v1/credentials");
    wr_creds_value v = get_ok(c);
    assert_string_equal(v.access_key_id, "ASIACONTAINER0001");
    assert_string_equal(v.secret_access_key, "ctr-secret-0001/+x");
    assert_string_equal(v.session_token, "ctr-token-0001");
    assert_true(v.expiration >= before + 3600 && v.expiration <= time(NULL) + 3600);
    wr_creds_value_clear(&v);
    wr_creds_free(c);

    /* the literal token when there is no file; localhost is a loopback name */
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "");
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/creds", s->port);
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    c = creds_ok(&o);
    assert_string_equal(srv_rec(s, 'a', 2), "literal-loses-to-the-file");
    wr_creds_free(c);

    /* no token at all: no Authorization header */
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "");
    c = creds_ok(&o);
    assert_string_equal(srv_rec(s, 'a', 3), "");
    wr_creds_free(c);
    srv_stop(s);
}

static void test_container_uri_refused(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "http://example.com/creds",        "http://10.0.0.1/creds",
        "http://169.254.169.254/latest",   "http://127.0.0.1.nip.io/creds",
        "http://localhost@evil.example/",  "http://[fd00:ec2::24]/creds",
        "http://[::ffff:10.0.0.1]/",       "ftp://127.0.0.1/creds",
        "file:///etc/passwd",              "not a url at all",
    };
    wr_creds_options o = fake_opts();
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i]);
        double t0 = now_s();
        const char *msg = creds_fail(&o, WEIR_EIO);
        assert_true(strstr(msg, "not allowed") || strstr(msg, "not an http(s) URL"));
        assert_true(now_s() - t0 < 2.0); /* refused before any network call */
    }
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/credentials");
    assert_contains(creds_fail(&o, WEIR_EIO), "must start with '/'");
}

static void test_container_error_answers(void **state)
{
    (void)state;
    srv *s = srv_start(M_CONTAINER_403, 3600);
    write_text("token", "secret-pod-token-xyz\n"); /* the trailing newline is not sent */
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv_url(s, "/creds"));
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tpath("token"));
    wr_creds_options o = fake_opts();

    const char *msg = creds_fail(&o, WEIR_EIO);
    assert_string_equal(srv_rec(s, 'a', 1), "secret-pod-token-xyz");
    assert_contains(msg, "HTTP 403");
    assert_contains(msg, "AccessDenied: token rejected");

    snprintf(s->echo, sizeof s->echo, "bad token secret-pod-token-xyz");
    srv_set(s, M_CONTAINER_ECHO, 0);
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "withheld");
    assert_lacks(msg, "secret-pod-token-xyz");

    srv_set(s, M_CONTAINER_BIG, 0);
    assert_contains(creds_fail(&o, WEIR_EIO), "larger than 65536");
    srv_set(s, M_CONTAINER_BADJSON, 0);
    assert_contains(creds_fail(&o, WEIR_EIO), "not valid JSON");
    srv_set(s, M_CONTAINER_NOEXP, 0);
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "Expiration");
    assert_lacks(msg, "ctr-secret");
    srv_set(s, M_CONTAINER_PAST, 0);
    assert_contains(creds_fail(&o, WEIR_EIO), "expired");

    /* a token file that cannot be read, or holds a line break inside */
    srv_set(s, M_CONTAINER, 0);
    write_text("token", "first-half\nsecond-half");
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "line break");
    assert_lacks(msg, "second-half");
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tpath("no-such-token"));
    assert_contains(creds_fail(&o, WEIR_EIO), "no-such-token");

    /* nobody listening */
    int port = s->port;
    srv_stop(s);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/creds", port);
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "");
    creds_fail(&o, WEIR_EIO);
}

/* Reader threads: every copy must be one whole set (key id, secret, token numbered alike). */
typedef struct reader {
    wr_creds *c;
    atomic_int *stop;
    int torn, reads;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    while (!atomic_load(r->stop)) {
        wr_creds_value v;
        if (wr_creds_get(r->c, &v, NULL) == 0) {
            int a = -1, b = -2, t = -3;
            sscanf(v.access_key_id, "ASIACONTAINER%d", &a);
            sscanf(v.secret_access_key, "ctr-secret-%d", &b);
            sscanf(v.session_token, "ctr-token-%d", &t);
            r->torn += a != b || a != t;
            r->reads++;
        }
        wr_creds_value_clear(&v);
    }
    return NULL;
}

static void test_container_refresh(void **state)
{
    (void)state;
    /* 5 minutes + 3 s to live: refreshed 5 minutes before expiry, i.e. within seconds */
    srv *s = srv_start(M_CONTAINER, 303);
    write_text("token", "token-before-rotation");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv_url(s, "/creds"));
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tpath("token"));
    wr_creds_options o = fake_opts();
    wr_creds *c = creds_ok(&o);
    wr_creds_value first = get_ok(c);
    assert_string_equal(first.access_key_id, "ASIACONTAINER0001");
    write_text("token", "token-after-rotation\n"); /* EKS Pod Identity rotates it */

    atomic_int stop = 0;
    reader rd[2] = {{c, &stop, 0, 0}, {c, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);

    for (int i = 0; i < 1200 && stat_ok(c) < 2; i++)
        sleep_ms(50);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    assert_true(stat_ok(c) >= 2);
    assert_int_equal(stat_failed(c), 0);
    assert_true(srv_requests(s) >= 3);
    assert_string_equal(srv_rec(s, 'a', 2), "token-after-rotation");
    wr_creds_value now = get_ok(c);
    assert_string_not_equal(now.access_key_id, first.access_key_id);
    assert_string_not_equal(now.secret_access_key, first.secret_access_key);
    assert_true(now.expiration >= first.expiration);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rd[i].torn, 0);
        assert_true(rd[i].reads > 0);
    }
    wr_creds_value_clear(&first);
    wr_creds_value_clear(&now);
    wr_creds_free(c);
    srv_stop(s);
}

static void test_container_refresh_failure(void **state)
{
    (void)state;
    /* 8 s to live: refreshed after 2 s; every refresh fails until the test says so */
    srv *s = srv_start(M_CONTAINER, 8);
    s->fail_from = 2;
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv_url(s, "/creds"));
    wr_creds_options o = fake_opts();
    wr_creds *c = creds_ok(&o);
    wr_creds_value first = get_ok(c);

    for (int i = 0; i < 600 && stat_failed(c) < 1; i++)
        sleep_ms(50);
    assert_true(stat_failed(c) >= 1);
    if (time(NULL) + 1 < first.expiration) { /* unless the machine stalled for seconds */
        wr_creds_value v = get_ok(c);
        assert_string_equal(v.access_key_id, first.access_key_id);
        assert_string_equal(v.secret_access_key, first.secret_access_key);
        wr_creds_value_clear(&v);
    }

    /* once they expire, get fails and says why */
    while (time(NULL) < first.expiration)
        sleep_ms(100);
    wr_creds_value v;
    weir_error err = {0};
    assert_int_equal(wr_creds_get(c, &v, &err), WEIR_EIO);
    assert_int_equal(err.code, WEIR_EIO);
    assert_contains(err.text, "expired");
    assert_contains(err.text, "HTTP 500");
    assert_contains(err.text, "agent restarting");
    assert_lacks(err.text, first.secret_access_key);
    assert_string_equal(v.access_key_id, "");
    assert_string_equal(v.secret_access_key, "");
    assert_true(stat_failed(c) >= 2); /* retried, with backoff */
    assert_int_equal(stat_ok(c), 0);
    int before = srv_requests(s);
    assert_true(before <= 8); /* backoff: no tight loop */

    /* the endpoint recovers: the next retry succeeds */
    srv_set(s, M_CONTAINER, 0);
    pthread_mutex_lock(&s->mu);
    s->life = 3600;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < 1800 && stat_ok(c) < 1; i++)
        sleep_ms(50);
    assert_int_equal(stat_ok(c), 1);
    v = get_ok(c);
    assert_string_not_equal(v.access_key_id, first.access_key_id);
    assert_true(v.expiration > time(NULL) + 3000);
    wr_creds_value_clear(&v);
    wr_creds_value_clear(&first);
    wr_creds_free(c);
    srv_stop(s);
}

static void test_free_is_prompt(void **state)
{
    (void)state;
    /* a refresh thread asleep until long-lived credentials need refreshing */
    srv *s = srv_start(M_CONTAINER, 3600);
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv_url(s, "/creds"));
    wr_creds_options o = fake_opts();
    wr_creds *c = creds_ok(&o);
    double t0 = now_s();
    wr_creds_free(c);
    assert_true(now_s() - t0 < 3.0);

    /* a refresh thread in the middle of a slow request */
    pthread_mutex_lock(&s->mu);
    s->life = 303;
    s->delay_from = s->requests + 2;
    pthread_mutex_unlock(&s->mu);
    c = creds_ok(&o);
    int want = srv_requests(s) + 1;
    for (int i = 0; i < 600 && srv_requests(s) < want; i++)
        sleep_ms(50);
    assert_true(srv_requests(s) >= want);
    t0 = now_s();
    wr_creds_free(c);
    assert_true(now_s() - t0 < 3.5); /* the transfer is aborted, not waited out (5 s) */
    srv_stop(s);
}

/* ------------------------------------------------------------------ web identity (STS) */

static void setup_web(srv *s, const char *token)
{
    write_text("web-token", token);
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("web-token"));
    env_set("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/weir/sidecar");
    (void)s;
}

static void test_sts_web_identity(void **state)
{
    (void)state;
    srv *s = srv_start(M_STS, 3600);
    setup_web(s, "eyJhbGciOiJSUzI1NiJ9.a+b/c=d&e f~_-.x\n");
    env_set("AWS_ROLE_SESSION_NAME", "weir test@1");
    /* a shared file too: web identity comes first */
    write_text("credentials", "[default]\naws_access_key_id=A\naws_secret_access_key=B\n");
    env_set("AWS_SHARED_CREDENTIALS_FILE", tpath("credentials"));
    wr_creds_options o = fake_opts();
    o.sts_endpoint = srv_url(s, "/");
    time_t before = time(NULL);
    wr_creds *c = creds_ok(&o);
    assert_string_equal(wr_creds_source(c), "web-identity");
    assert_string_equal(srv_rec(s, 'm', 1), "POST");
    assert_string_equal(srv_rec(s, 'p', 1), "/");
    assert_string_equal(srv_rec(s, 'a', 1), ""); /* unsigned */
    assert_string_equal(srv_rec(s, 'b', 1),
                        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                        "&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fweir%2Fsidecar"
                        "&RoleSessionName=weir%20test%401"
                        "&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.a%2Bb%2Fc%3Dd%26e%20f~_-.x");
    wr_creds_value v = get_ok(c);
    assert_string_equal(v.access_key_id, "ASIASTS0001");
    assert_string_equal(v.secret_access_key, "sts-secret-0001");
    assert_string_equal(v.session_token, "sts-tok&en-0001"); /* &amp; decoded */
    assert_true(v.expiration >= before + 3600 && v.expiration <= time(NULL) + 3600);
    wr_creds_value_clear(&v);
    wr_creds_free(c);

    /* the default session name */
    env_set("AWS_ROLE_SESSION_NAME", "");
    c = creds_ok(&o);
    char want[64];
    snprintf(want, sizeof want, "&RoleSessionName=weir-%ld&", (long)getpid());
    assert_contains(srv_rec(s, 'b', 2), want);
    wr_creds_free(c);
    srv_stop(s);
}

static void test_sts_refresh_rereads_token(void **state)
{
    (void)state;
    srv *s = srv_start(M_STS, 303);
    setup_web(s, "first-jwt");
    wr_creds_options o = fake_opts();
    o.sts_endpoint = srv_url(s, "/");
    wr_creds *c = creds_ok(&o);
    write_text("web-token", "second-jwt"); /* kubelet rotates the projected token */
    for (int i = 0; i < 1200 && stat_ok(c) < 1; i++)
        sleep_ms(50);
    assert_true(stat_ok(c) >= 1);
    assert_contains(srv_rec(s, 'b', 1), "WebIdentityToken=first-jwt");
    assert_contains(srv_rec(s, 'b', 2), "WebIdentityToken=second-jwt");
    wr_creds_value v = get_ok(c);
    assert_string_not_equal(v.access_key_id, "ASIASTS0001");
    wr_creds_value_clear(&v);
    wr_creds_free(c);
    srv_stop(s);
}

static void test_sts_errors(void **state)
{
    (void)state;
    srv *s = srv_start(M_STS_ERROR, 3600);
    setup_web(s, "jwt-that-must-stay-secret");
    wr_creds_options o = fake_opts();
    o.sts_endpoint = srv_url(s, "/");

    const char *msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "web-identity");
    assert_contains(msg, "HTTP 400");
    assert_contains(msg, "InvalidIdentityToken: Incorrect token audience & issuer");
    assert_lacks(msg, "jwt-that-must-stay-secret");

    snprintf(s->echo, sizeof s->echo, "token jwt-that-must-stay-secret is invalid");
    srv_set(s, M_STS_ECHO, 0);
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "withheld");
    assert_lacks(msg, "jwt-that-must-stay-secret");

    srv_set(s, M_STS_NOTOKEN, 0);
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "<SessionToken>");
    assert_lacks(msg, "sts-secret");
    srv_set(s, M_STS_BADENTITY, 0);
    msg = creds_fail(&o, WEIR_EIO);
    assert_contains(msg, "bad entity");
    assert_lacks(msg, "sts-secret");
    srv_set(s, M_PLAIN_502, 0);
    assert_contains(creds_fail(&o, WEIR_EIO), "HTTP 502");

    /* a token file that is missing, or empty */
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("no-such-jwt"));
    assert_contains(creds_fail(&o, WEIR_EIO), "no-such-jwt");
    write_text("empty-jwt", " \n");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("empty-jwt"));
    assert_contains(creds_fail(&o, WEIR_EIO), "empty");
    srv_stop(s);

    /* a region that cannot be part of a host name: refused before any call */
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tpath("web-token"));
    o.sts_endpoint = NULL;
    o.region = "us-east-1.evil.example/x";
    assert_contains(creds_fail(&o, WEIR_EIO), "not a valid AWS region");
}

/* ------------------------------------------------------------------ rules */

static void test_parse_time(void **state)
{
    (void)state;
    time_t t = 0;
    assert_int_equal(wr_creds_parse_time("2026-11-26T12:00:00Z", &t), 0);
    assert_int_equal(t, 1795694400);
    assert_int_equal(wr_creds_parse_time("2026-11-26T12:00:00.123456Z", &t), 0);
    assert_int_equal(t, 1795694400);
    assert_int_equal(wr_creds_parse_time("2000-02-29T23:59:59Z", &t), 0);
    assert_int_equal(t, 951868799);
    assert_int_equal(wr_creds_parse_time("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    static const char *const bad[] = {
        "",
        "2026-11-26T12:00:00",
        "2026-11-26 12:00:00Z",
        "2026-11-26T12:00:00+00:00",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T12:00:00.Z",
        "2026-11-26T12:00:00ZZ",
        "2026-1a-26T12:00:00Z",
        "2026-11-26T12:00:00.1234567890Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (wr_creds_parse_time(bad[i], &t) != WEIR_EINVAL)
            print_error("accepted '%s'\n", bad[i]);
        assert_int_equal(wr_creds_parse_time(bad[i], &t), WEIR_EINVAL);
    }
    assert_int_equal(wr_creds_parse_time(NULL, &t), WEIR_EINVAL);
}

static void test_refresh_rules(void **state)
{
    (void)state;
    time_t f = 1000000;
    assert_int_equal(wr_creds_refresh_at(f, f + 3600), f + 2880);   /* 80% of an hour */
    assert_int_equal(wr_creds_refresh_at(f, f + 43200), f + 34560); /* 80% of 12 h */
    assert_int_equal(wr_creds_refresh_at(f, f + 1000), f + 700);    /* 5 min before */
    assert_int_equal(wr_creds_refresh_at(f, f + 303), f + 3);
    assert_int_equal(wr_creds_refresh_at(f, f + 300), f + 30);      /* short-lived: not a loop */
    assert_int_equal(wr_creds_refresh_at(f, f + 8), f + 2);
    assert_int_equal(wr_creds_refresh_at(f, f + 2), f + 1);
    assert_int_equal(wr_creds_refresh_at(f, f - 5), f + 1);
    static const unsigned want[] = {0, 1, 2, 4, 8, 16, 32, 60, 60, 60};
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(wr_creds_backoff(i), want[i]);
    assert_int_equal(wr_creds_backoff(4000000000u), 60);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env_with_session_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_without_session_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_key_id_without_secret_is_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_wins_over_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_source_is_notfound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_full_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_uri_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_error_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_refresh_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_is_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sts_web_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sts_refresh_rereads_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sts_errors, setup, teardown),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_refresh_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
