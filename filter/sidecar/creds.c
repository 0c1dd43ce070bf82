/*
 * creds.c - AWS credentials: environment, web identity (STS), shared credentials file,
 * container endpoint; a refresh thread for the temporary ones. Operator notes:
 * docs/credentials.md.
 */
#define _DEFAULT_SOURCE /* timegm */

#include "sidecar/creds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define CREDS_HTTP_TIMEOUT_MS 5000L
#define CREDS_MAX_RESPONSE ((size_t)64 * 1024)
#define CREDS_MAX_SHARED_FILE ((size_t)1024 * 1024)
#define CREDS_MAX_WEB_TOKEN ((size_t)64 * 1024)
#define CREDS_MAX_AUTH_TOKEN ((size_t)16 * 1024)
#define CREDS_MARGIN 300        /* refresh at least this long before expiration */
#define CREDS_BACKOFF_MAX 60u
#define CREDS_MAX_WAIT 30       /* re-read the wall clock at least this often */
#define CREDS_MSG_MAX 160       /* a remote error message, as quoted in ours */
#define CONTAINER_HOST "http://169.254.170.2"

typedef enum creds_kind { SRC_ENV, SRC_WEB, SRC_FILE, SRC_CONTAINER } creds_kind;

struct wr_creds {
    creds_kind kind;
    char *source;       /* "environment", "web-identity", "profile:NAME", "container" */
    char *url;          /* STS or container endpoint */
    char *token_file;   /* web identity token, or container authorization token */
    char *auth_token;   /* AWS_CONTAINER_AUTHORIZATION_TOKEN (secret) */
    char *role_arn;
    char *session_name;
    char *ca_file;      /* AWS_CA_BUNDLE */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int has_thread;
    int stopping;           /* under mu */
    atomic_int cancel;      /* aborts a transfer in flight (curl progress callback) */
    wr_creds_value cur;     /* under mu */
    time_t fetched;         /* under mu: when cur arrived */
    time_t retry_at;        /* under mu: next attempt after a failure */
    unsigned failures;      /* under mu: consecutive failed refreshes */
    char last_error[200];   /* under mu */
    atomic_ulong n_ok, n_failed;
};

/* ------------------------------------------------------------------ small helpers */

static const char *creds_env(const wr_creds_options *o, const char *name)
{
    const char *v = (o && o->getenv_fn) ? o->getenv_fn(name) : getenv(name);
    return v && *v ? v : NULL;
}

static int creds_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Trims s[0..*n) in place on both ends; returns the new start. */
static const char *creds_trim(const char *s, size_t *n)
{
    while (*n && creds_is_space(*s)) {
        s++;
        (*n)--;
    }
    while (*n && creds_is_space(s[*n - 1]))
        (*n)--;
    return s;
}

/* Copies a credential field: printable ASCII without spaces, shorter than cap. */
static int creds_copy_field(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)src[i] <= 0x20 || (unsigned char)src[i] >= 0x7f)
            return -2;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static int creds_set_value(wr_creds_value *v, const char *akid, size_t akid_n, const char *sec,
                           size_t sec_n, const char *tok, size_t tok_n, const char *source,
                           weir_error *err)
{
    static const char *const names[] = {"access key id", "secret access key", "session token"};
    int r[3];
    memset(v, 0, sizeof *v);
    r[0] = creds_copy_field(v->access_key_id, sizeof v->access_key_id, akid, akid_n);
    r[1] = creds_copy_field(v->secret_access_key, sizeof v->secret_access_key, sec, sec_n);
    r[2] = tok ? creds_copy_field(v->session_token, sizeof v->session_token, tok, tok_n) : 0;
    for (int i = 0; i < 3; i++) {
        if (r[i] == 0)
            continue;
        wr_creds_value_clear(v);
        return wr_error_set(err, WEIR_EIO, source, 0, 0, "the %s is %s", names[i],
                            r[i] == -1 ? "too long" : "not printable ASCII without spaces");
    }
    if (akid_n == 0 || sec_n == 0) {
        wr_creds_value_clear(v);
        return wr_error_set(err, WEIR_EIO, source, 0, 0, "the %s is empty",
                            akid_n == 0 ? names[0] : names[1]);
    }
    return 0;
}

/*
 * Copies a remote message for our error text: printable ASCII, bounded; withheld whole if
 * it quotes `secret` (a token we sent).
 */
static void creds_quote(char *dst, size_t cap, const char *src, const char *secret)
{
    size_t o = 0, n = strlen(src);
    if (secret && strlen(secret) >= 4 && strstr(src, secret)) {
        snprintf(dst, cap, "(message withheld: it quotes a credential)");
        return;
    }
    size_t lim = cap - 1 < CREDS_MSG_MAX ? cap - 1 : CREDS_MSG_MAX;
    for (size_t i = 0; i < n && o < lim; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (o == lim && n > lim && lim >= 3)
        memcpy(dst + lim - 3, "...", 3);
    dst[o] = '\0';
}

static void creds_strerror(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
}

/*
 * Reads a whole file of at most `max` bytes into a NUL-terminated buffer (wipe before
 * free: it may hold secrets). ENOTFOUND when it does not exist.
 */
static int creds_read_file(const char *path, size_t max, char **out, size_t *len,
                           const char *source, weir_error *err)
{
    char why[128];
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        creds_strerror(e, why, sizeof why);
        return wr_error_set(err, e == ENOENT ? WEIR_ENOTFOUND : WEIR_EIO, source, 0, 0,
                            "cannot open %s: %s", path, why);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return wr_error_set(err, WEIR_EIO, source, 0, 0, "%s is not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return wr_error_set(err, WEIR_EIO, source, 0, 0, "%s is larger than %zu bytes", path,
                            max);
    }
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        return wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory");
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            wr_wipe(buf, n);
            free(buf);
            creds_strerror(e, why, sizeof why);
            return wr_error_set(err, WEIR_EIO, source, 0, 0, "cannot read %s: %s", path, why);
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            close(fd);
            wr_wipe(buf, n);
            free(buf);
            return wr_error_set(err, WEIR_EIO, source, 0, 0, "%s is larger than %zu bytes",
                                path, max);
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void creds_free_secret(char *s, size_t n)
{
    if (s) {
        wr_wipe(s, n);
        free(s);
    }
}

/* A token read from a file: trimmed, non-empty, no control characters (it becomes a header
 * or a form field). */
static int creds_read_token(const char *path, size_t max, char **out, size_t *cap,
                            const char *source, weir_error *err)
{
    char *buf;
    size_t n;
    int rc = creds_read_file(path, max, &buf, &n, source, err);
    if (rc == WEIR_ENOTFOUND && err)
        err->code = WEIR_EIO; /* the source applies and fails */
    if (rc)
        return rc == WEIR_ENOTFOUND ? WEIR_EIO : rc;
    size_t len = n;
    const char *t = creds_trim(buf, &len);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) {
            creds_free_secret(buf, n + 1);
            return wr_error_set(err, WEIR_EIO, source, 0, 0,
                                "token file %s holds a control character or line break", path);
        }
    }
    if (len == 0) {
        creds_free_secret(buf, n + 1);
        return wr_error_set(err, WEIR_EIO, source, 0, 0, "token file %s is empty", path);
    }
    memmove(buf, t, len);
    wr_wipe(buf + len, n + 1 - len);
    *out = buf;
    *cap = n + 1;
    return 0;
}

/* ------------------------------------------------------------------ time rules */

static int creds_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int wr_creds_parse_time(const char *s, time_t *out)
{
    int y, mo, d, h, mi, se;
    if (!s || !out || strlen(s) < 20)
        return WEIR_EINVAL;
    if (creds_digits(s, 4, &y) || s[4] != '-' || creds_digits(s + 5, 2, &mo) || s[7] != '-' ||
        creds_digits(s + 8, 2, &d) || s[10] != 'T' || creds_digits(s + 11, 2, &h) ||
        s[13] != ':' || creds_digits(s + 14, 2, &mi) || s[16] != ':' ||
        creds_digits(s + 17, 2, &se))
        return WEIR_EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return WEIR_EINVAL;
        for (int i = 0; *p >= '0' && *p <= '9'; p++, i++)
            if (i >= 9)
                return WEIR_EINVAL;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return WEIR_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 60)
        return WEIR_EINVAL;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return WEIR_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return WEIR_EINVAL;
    *out = t;
    return 0;
}

time_t wr_creds_refresh_at(time_t fetched, time_t expiration)
{
    time_t life = expiration - fetched;
    if (life <= CREDS_MARGIN) {
        time_t wait = life / 4;
        wait = wait < 1 ? 1 : wait > 30 ? 30 : wait;
        return fetched + wait;
    }
    time_t at = fetched + life / 10 * 8 + life % 10 * 8 / 10;
    return at < expiration - CREDS_MARGIN ? at : expiration - CREDS_MARGIN;
}

unsigned wr_creds_backoff(unsigned failures)
{
    if (failures == 0)
        return 0;
    if (failures > 7)
        return CREDS_BACKOFF_MAX;
    unsigned s = 1u << (failures - 1);
    return s < CREDS_BACKOFF_MAX ? s : CREDS_BACKOFF_MAX;
}

static void creds_format_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
}

/* ------------------------------------------------------------------ HTTP (libcurl easy) */

typedef struct creds_http {
    const char *url;
    const char *auth;     /* Authorization value (secret) or NULL */
    const char *form;     /* POST body (secret) or NULL for GET */
    size_t form_len;
    const char *accept;
    const char *ca_file;
    int no_proxy;
    atomic_int *cancel;
} creds_http;

typedef struct creds_resp {
    long status;
    wr_buf body;
    int too_large;
} creds_resp;

static pthread_once_t creds_curl_once = PTHREAD_ONCE_INIT;
static CURLcode creds_curl_init_rc;

static void creds_curl_init(void)
{
    creds_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t creds_http_write(char *p, size_t size, size_t n, void *user)
{
    creds_resp *r = user;
    size_t len = size * n;
    if (len > CREDS_MAX_RESPONSE - r->body.len) {
        r->too_large = 1;
        return 0;
    }
    /* the buffer was reserved whole: no realloc leaves copies of secrets behind */
    memcpy(r->body.data + r->body.len, p, len);
    r->body.len += len;
    r->body.data[r->body.len] = '\0';
    return len;
}

static int creds_http_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c,
                               curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    atomic_int *cancel = user;
    return cancel && atomic_load(cancel) ? 1 : 0;
}

static void creds_resp_free(creds_resp *r)
{
    if (r->body.data)
        wr_wipe(r->body.data, r->body.cap);
    wr_buf_free(&r->body);
}

static int creds_slist_add(struct curl_slist **l, const char *s)
{
    struct curl_slist *n = curl_slist_append(*l, s);
    if (!n)
        return -1;
    *l = n;
    return 0;
}

static void creds_slist_free(struct curl_slist *l)
{
    for (struct curl_slist *s = l; s; s = s->next)
        wr_wipe(s->data, strlen(s->data));
    curl_slist_free_all(l);
}

static int creds_http_headers(const creds_http *h, struct curl_slist **hdr)
{
    char line[64];
    if (creds_slist_add(hdr, "Expect:"))
        return -1;
    snprintf(line, sizeof line, "Accept: %s", h->accept);
    if (creds_slist_add(hdr, line))
        return -1;
    if (h->form && creds_slist_add(hdr, "Content-Type: application/x-www-form-urlencoded"))
        return -1;
    if (!h->auth)
        return 0;
    size_t n = strlen("Authorization: ") + strlen(h->auth) + 1;
    char *a = malloc(n);
    if (!a)
        return -1;
    snprintf(a, n, "Authorization: %s", h->auth);
    int rc = creds_slist_add(hdr, a);
    creds_free_secret(a, n);
    return rc;
}

static void creds_http_setopts(CURL *e, const creds_http *h, struct curl_slist *hdr,
                               creds_resp *r, char *errbuf)
{
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, CREDS_HTTP_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CREDS_HTTP_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    if (h->no_proxy)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CREDS_MAX_RESPONSE);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "weir");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, creds_http_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, creds_http_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, h->cancel);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    if (h->form) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->form_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->form);
    }
}

/* One blocking request. 0 with r->status set (any status), or WEIR_EIO / WEIR_ENOMEM. */
static int creds_http_run(const creds_http *h, creds_resp *r, const char *source,
                          weir_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    CURL *e = NULL;
    int rc = WEIR_ENOMEM;
    memset(r, 0, sizeof *r);
    wr_buf_init(&r->body);
    pthread_once(&creds_curl_once, creds_curl_init);
    if (creds_curl_init_rc != CURLE_OK) {
        rc = wr_error_set(err, WEIR_EIO, source, 0, 0, "libcurl: %s",
                          curl_easy_strerror(creds_curl_init_rc));
        goto done;
    }
    if (wr_buf_reserve(&r->body, CREDS_MAX_RESPONSE) || creds_http_headers(h, &hdr) ||
        !(e = curl_easy_init())) {
        rc = wr_error_set(err, WEIR_ENOMEM, source, 0, 0, "out of memory");
        goto done;
    }
    r->body.data[0] = '\0';
    creds_http_setopts(e, h, hdr, r, errbuf);
    CURLcode cc = curl_easy_perform(e);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
        rc = 0;
    } else if (r->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = wr_error_set(err, WEIR_EIO, source, 0, 0, "%s: answer larger than %zu bytes",
                          h->url, CREDS_MAX_RESPONSE);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = wr_error_set(err, WEIR_EIO, source, 0, 0, "%s: stopped", h->url);
    } else {
        rc = wr_error_set(err, WEIR_EIO, source, 0, 0, "%s: %s", h->url,
                          errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
done:
    if (e)
        curl_easy_cleanup(e);
    creds_slist_free(hdr);
    if (rc)
        creds_resp_free(r);
    return rc;
}

/* ------------------------------------------------------------------ STS XML */

/*
 * The content of the first element `name` in s[0..n) (no nesting of the same name, which
 * STS answers never have). 0 with *in and *in_n set, or -1.
 */
static int xml_elem(const char *s, size_t n, const char *name, const char **in, size_t *in_n)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 + nl < n; i++) {
        if (s[i] != '<' || memcmp(s + i + 1, name, nl) != 0)
            continue;
        size_t j = i + 1 + nl;
        if (s[j] != '>' && s[j] != '/' && !creds_is_space(s[j]))
            continue;
        const char *gt = memchr(s + j, '>', n - j);
        if (!gt)
            return -1;
        size_t start = (size_t)(gt - s) + 1;
        if (gt[-1] == '/') {
            *in = s + start;
            *in_n = 0;
            return 0;
        }
        for (size_t k = start; k + 2 + nl < n; k++) {
            if (s[k] != '<' || s[k + 1] != '/' || memcmp(s + k + 2, name, nl) != 0)
                continue;
            size_t m = k + 2 + nl;
            while (m < n && creds_is_space(s[m]))
                m++;
            if (m < n && s[m] == '>') {
                *in = s + start;
                *in_n = k - start;
                return 0;
            }
        }
        return -1;
    }
    return -1;
}

/* Follows a path of nested elements; 0 with the innermost content, or -1. */
static int xml_path(const char *s, size_t n, const char *const *path, const char **in,
                    size_t *in_n)
{
    for (; *path; path++) {
        if (xml_elem(s, n, *path, &s, &n))
            return -1;
    }
    *in = s;
    *in_n = n;
    return 0;
}

static size_t xml_utf8(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One entity at s (which starts with '&'); the decoded bytes go to out. Length used, or 0. */
static size_t xml_entity(const char *s, size_t n, char *out, size_t *out_n)
{
    static const struct { const char *name; char ch; } named[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    const char *semi = memchr(s, ';', n < 12 ? n : 12);
    if (!semi)
        return 0;
    size_t len = (size_t)(semi - s) - 1; /* between '&' and ';' */
    for (size_t i = 0; i < WR_ARRAY_LEN(named); i++) {
        if (strlen(named[i].name) == len && memcmp(s + 1, named[i].name, len) == 0) {
            out[0] = named[i].ch;
            *out_n = 1;
            return len + 2;
        }
    }
    if (len < 2 || s[1] != '#')
        return 0;
    int hex = s[2] == 'x' || s[2] == 'X';
    size_t i = hex ? 3 : 2;
    if (i >= len + 1)
        return 0;
    unsigned long cp = 0;
    for (; i < len + 1; i++) {
        char ch = s[i];
        int dgt = ch >= '0' && ch <= '9'   ? ch - '0'
                  : hex && ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                  : hex && ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                  : -1;
        if (dgt < 0)
            return 0;
        cp = cp * (hex ? 16 : 10) + (unsigned long)dgt;
        if (cp > 0x10FFFF)
            return 0;
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *out_n = xml_utf8(cp, out);
    return len + 2;
}

/*
 * Decodes element text (trimmed, entities expanded) into out[cap]. 0; -1 when it holds
 * markup or a bad entity; -2 when it does not fit.
 */
static int xml_text(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    s = creds_trim(s, &n);
    for (size_t i = 0; i < n;) {
        char tmp[4];
        size_t tn = 1, used = 1;
        if (s[i] == '&')
            used = xml_entity(s + i, n - i, tmp, &tn);
        else
            tmp[0] = s[i];
        int bad = (s[i] == '<' || used == 0) ? -1 : o + tn >= cap ? -2 : 0;
        if (bad) {
            wr_wipe(out, o);
            out[0] = '\0';
            return bad;
        }
        memcpy(out + o, tmp, tn);
        o += tn;
        i += used;
    }
    out[o] = '\0';
    return 0;
}

/* Element text at path into out; the message names the element on failure. */
static int sts_field(const char *s, size_t n, const char *const *path, char *out, size_t cap,
                     weir_error *err)
{
    const char *in;
    size_t in_n;
    const char *name = path[0];
    for (const char *const *p = path; *p; p++)
        name = *p;
    if (xml_path(s, n, path, &in, &in_n))
        return wr_error_set(err, WEIR_EIO, "web-identity", 0, 0,
                            "STS answer has no <%s> element", name);
    int r = xml_text(in, in_n, out, cap);
    if (r)
        return wr_error_set(err, WEIR_EIO, "web-identity", 0, 0, "STS answer: <%s> %s", name,
                            r == -2 ? "is too long" : "holds markup or a bad entity");
    return 0;
}

static int sts_error(const creds_resp *r, const char *token, weir_error *err)
{
    static const char *const code_path[] = {"ErrorResponse", "Error", "Code", NULL};
    static const char *const msg_path[] = {"ErrorResponse", "Error", "Message", NULL};
    char code[128] = "", msg[1024] = "", qcode[96], qmsg[CREDS_MSG_MAX + 1];
    const char *in;
    size_t in_n;
    if (!xml_path(r->body.data, r->body.len, code_path, &in, &in_n))
        (void)xml_text(in, in_n, code, sizeof code);
    if (!xml_path(r->body.data, r->body.len, msg_path, &in, &in_n) &&
        xml_text(in, in_n, msg, sizeof msg) == -2)
        snprintf(msg, sizeof msg, "(message too long)");
    if (!code[0] && !msg[0])
        return wr_error_set(err, WEIR_EIO, "web-identity", 0, 0,
                            "STS AssumeRoleWithWebIdentity answered HTTP %ld", r->status);
    creds_quote(qcode, sizeof qcode, code, token);
    creds_quote(qmsg, sizeof qmsg, msg, token);
    return wr_error_set(err, WEIR_EIO, "web-identity", 0, 0,
                        "STS AssumeRoleWithWebIdentity refused (HTTP %ld): %s: %s", r->status,
                        qcode[0] ? qcode : "(no code)", qmsg[0] ? qmsg : "(no message)");
}

static int sts_parse(const creds_resp *r, const char *token, wr_creds_value *v, weir_error *err)
{
#define STS_CREDS "AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", \
                  "Credentials"
    static const char *const akid_p[] = {STS_CREDS, "AccessKeyId", NULL};
    static const char *const sec_p[] = {STS_CREDS, "SecretAccessKey", NULL};
    static const char *const tok_p[] = {STS_CREDS, "SessionToken", NULL};
    static const char *const exp_p[] = {STS_CREDS, "Expiration", NULL};
#undef STS_CREDS
    const char *in;
    size_t in_n;
    if (r->status != 200 || xml_elem(r->body.data, r->body.len, "ErrorResponse", &in, &in_n) == 0)
        return sts_error(r, token, err);
    char akid[sizeof v->access_key_id], exp[64];
    char *sec = malloc(sizeof v->secret_access_key), *tok = malloc(sizeof v->session_token);
    int rc = WEIR_ENOMEM;
    if (!sec || !tok) {
        rc = wr_error_set(err, WEIR_ENOMEM, "web-identity", 0, 0, "out of memory");
        goto done;
    }
    if ((rc = sts_field(r->body.data, r->body.len, akid_p, akid, sizeof akid, err)) ||
        (rc = sts_field(r->body.data, r->body.len, sec_p, sec, sizeof v->secret_access_key,
                        err)) ||
        (rc = sts_field(r->body.data, r->body.len, tok_p, tok, sizeof v->session_token, err)) ||
        (rc = sts_field(r->body.data, r->body.len, exp_p, exp, sizeof exp, err)))
        goto done;
    rc = creds_set_value(v, akid, strlen(akid), sec, strlen(sec), tok, strlen(tok),
                         "web-identity", err);
    if (rc == 0 && wr_creds_parse_time(exp, &v->expiration) != 0) {
        wr_creds_value_clear(v);
        rc = wr_error_set(err, WEIR_EIO, "web-identity", 0, 0,
                          "STS answer: Expiration is not an ISO 8601 UTC time");
    }
done:
    wr_wipe(akid, sizeof akid);
    creds_free_secret(sec, sizeof v->secret_access_key);
    creds_free_secret(tok, sizeof v->session_token);
    return rc;
}

/* ------------------------------------------------------------------ sources */

static void creds_form_add(wr_buf *b, const char *key, const char *val)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->len)
        wr_buf_append(b, "&", 1);
    wr_buf_puts(b, key);
    wr_buf_append(b, "=", 1);
    for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            wr_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            wr_buf_append(b, e, 3);
        }
    }
}

static int container_host_ok(const char *host);

/* 1 when url is plain http to loopback or a link-local agent: never sent through a proxy. */
static int creds_url_is_local(const char *url)
{
    char *scheme = NULL, *host = NULL;
    int local = 0;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        local = strcmp(scheme, "http") == 0 && container_host_ok(host);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return local;
}

static int creds_fetch_web(wr_creds *c, wr_creds_value *v, weir_error *err)
{
    char *token = NULL;
    size_t token_cap = 0;
    wr_buf form;
    creds_resp resp = {0};
    wr_buf_init(&form);
    int rc = creds_read_token(c->token_file, CREDS_MAX_WEB_TOKEN, &token, &token_cap,
                              "web-identity", err);
    if (rc)
        return rc;
    /* reserved whole so that no realloc leaves a copy of the token behind */
    size_t need = 256 + 3 * (strlen(token) + strlen(c->role_arn) + strlen(c->session_name));
    if (wr_buf_reserve(&form, need) == 0) {
        creds_form_add(&form, "Action", "AssumeRoleWithWebIdentity");
        creds_form_add(&form, "Version", "2011-06-15");
        creds_form_add(&form, "RoleArn", c->role_arn);
        creds_form_add(&form, "RoleSessionName", c->session_name);
        creds_form_add(&form, "WebIdentityToken", token);
    }
    if (form.oom) {
        rc = wr_error_set(err, WEIR_ENOMEM, "web-identity", 0, 0, "out of memory");
        goto done;
    }
    creds_http h = {.url = c->url, .form = form.data, .form_len = form.len,
                    .accept = "text/xml", .ca_file = c->ca_file, .cancel = &c->cancel};
    h.no_proxy = creds_url_is_local(c->url);
    rc = creds_http_run(&h, &resp, "web-identity", err);
    if (rc == 0)
        rc = sts_parse(&resp, token, v, err);
done:
    creds_resp_free(&resp);
    if (form.data)
        wr_wipe(form.data, form.cap);
    wr_buf_free(&form);
    creds_free_secret(token, token_cap);
    return rc;
}

/* The code/message fields of a container endpoint's error answer, quoted for our message. */
static void container_error_detail(const creds_resp *r, const char *auth, char *out, size_t n)
{
    out[0] = '\0';
    if (!wr_json_depth_ok(r->body.data, r->body.len, 8))
        return;
    json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    code = code ? code : json_string_value(json_object_get(j, "Code"));
    msg = msg ? msg : json_string_value(json_object_get(j, "Message"));
    char qc[64] = "", qm[CREDS_MSG_MAX + 1] = "";
    if (code)
        creds_quote(qc, sizeof qc, code, auth);
    if (msg)
        creds_quote(qm, sizeof qm, msg, auth);
    if (code || msg)
        snprintf(out, n, ": %s%s%s", qc, code && msg ? ": " : "", qm);
    json_decref(j);
}

static int container_parse(const creds_resp *r, wr_creds_value *v, weir_error *err)
{
    if (!wr_json_depth_ok(r->body.data, r->body.len, 8))
        return wr_error_set(err, WEIR_EIO, "container", 0, 0, "answer nests too deeply");
    json_error_t je;
    json_t *j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!j) /* je.text may quote the input: not used */
        return wr_error_set(err, WEIR_EIO, "container", 0, 0,
                            "answer is not valid JSON (line %d, column %d)", je.line, je.column);
    int rc = 0;
    json_t *akid = json_object_get(j, "AccessKeyId"), *sec = json_object_get(j, "SecretAccessKey");
    json_t *tok = json_object_get(j, "Token"), *exp = json_object_get(j, "Expiration");
    if (!json_is_object(j) || !json_is_string(akid) || !json_is_string(sec) ||
        !json_is_string(exp) || (tok && !json_is_null(tok) && !json_is_string(tok))) {
        rc = wr_error_set(err, WEIR_EIO, "container", 0, 0,
                          "answer lacks string AccessKeyId, SecretAccessKey or Expiration");
        goto done;
    }
    const char *t = json_string_value(tok);
    rc = creds_set_value(v, json_string_value(akid), json_string_length(akid),
                         json_string_value(sec), json_string_length(sec), t,
                         t ? json_string_length(tok) : 0, "container", err);
    if (rc == 0 && wr_creds_parse_time(json_string_value(exp), &v->expiration) != 0) {
        wr_creds_value_clear(v);
        rc = wr_error_set(err, WEIR_EIO, "container", 0, 0,
                          "answer's Expiration is not an ISO 8601 UTC time");
    }
done:
    /* wipe the secret strings jansson holds before they go back to the allocator */
    if (json_is_string(sec))
        wr_wipe((char *)json_string_value(sec), json_string_length(sec));
    if (json_is_string(tok))
        wr_wipe((char *)json_string_value(tok), json_string_length(tok));
    json_decref(j);
    return rc;
}

static int creds_fetch_container(wr_creds *c, wr_creds_value *v, weir_error *err)
{
    char *file_token = NULL;
    size_t file_cap = 0;
    creds_resp resp = {0};
    int rc;
    if (c->token_file) {
        rc = creds_read_token(c->token_file, CREDS_MAX_AUTH_TOKEN, &file_token, &file_cap,
                              "container", err);
        if (rc)
            return rc;
    }
    const char *auth = file_token ? file_token : c->auth_token;
    creds_http h = {.url = c->url, .auth = auth, .accept = "application/json",
                    .ca_file = c->ca_file, .no_proxy = 1, .cancel = &c->cancel};
    rc = creds_http_run(&h, &resp, "container", err);
    if (rc == 0 && resp.status != 200) {
        char detail[CREDS_MSG_MAX + 80];
        container_error_detail(&resp, auth, detail, sizeof detail);
        rc = wr_error_set(err, WEIR_EIO, "container", 0, 0, "%s answered HTTP %ld%s", c->url,
                          resp.status, detail);
    } else if (rc == 0) {
        rc = container_parse(&resp, v, err);
    }
    creds_resp_free(&resp);
    creds_free_secret(file_token, file_cap);
    return rc;
}

/* Fetches once from the handle's (temporary) source; rejects credentials already expired. */
static int creds_fetch(wr_creds *c, wr_creds_value *v, weir_error *err)
{
    int rc = c->kind == SRC_WEB ? creds_fetch_web(c, v, err) : creds_fetch_container(c, v, err);
    if (rc == 0 && v->expiration <= time(NULL)) {
        char when[32];
        creds_format_time(v->expiration, when, sizeof when);
        wr_creds_value_clear(v);
        return wr_error_set(err, WEIR_EIO, c->source, 0, 0,
                            "received credentials that expired at %s (is the clock right?)",
                            when);
    }
    return rc;
}

/* ------------------------------------------------------------------ shared credentials file */

typedef struct ini_hit {
    const char *v[3];   /* aws_access_key_id, aws_secret_access_key, aws_session_token */
    size_t n[3];
    int found;          /* the section exists */
} ini_hit;

/* Removes an inline comment: '#' or ';' after whitespace. */
static size_t ini_strip_comment(const char *s, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if ((s[i] == '#' || s[i] == ';') && creds_is_space(s[i - 1]))
            return i;
    return n;
}

static int ini_parse(const char *data, size_t len, const char *profile, ini_hit *hit,
                     const char *path, weir_error *err)
{
    static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key",
                                       "aws_session_token"};
    int in_section = 0, any_section = 0, line_no = 0;
    memset(hit, 0, sizeof *hit);
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len, n = end - pos;
        const char *s = creds_trim(data + pos, &n);
        pos = end + 1;
        line_no++;
        if (n == 0 || s[0] == '#' || s[0] == ';')
            continue;
        if (memchr(s, '\0', n))
            return wr_error_set(err, WEIR_EIO, path, line_no, 0, "NUL byte in the file");
        if (s[0] == '[') {
            const char *close = memchr(s, ']', n);
            size_t rest = close ? n - (size_t)(close - s) - 1 : 0;
            const char *after = close ? creds_trim(close + 1, &rest) : NULL;
            if (!close || (rest && after[0] != '#' && after[0] != ';'))
                return wr_error_set(err, WEIR_EIO, path, line_no, 0,
                                    "a section header must be [name]");
            size_t nn = (size_t)(close - s) - 1;
            const char *name = creds_trim(s + 1, &nn);
            in_section = nn == strlen(profile) && memcmp(name, profile, nn) == 0;
            hit->found |= in_section;
            any_section = 1;
            continue;
        }
        const char *eq = memchr(s, '=', n);
        if (!eq)
            return wr_error_set(err, WEIR_EIO, path, line_no, 0,
                                "expected [profile], key = value, or a comment");
        if (!any_section)
            return wr_error_set(err, WEIR_EIO, path, line_no, 0,
                                "key outside a [profile] section");
        size_t kn = (size_t)(eq - s), vn = n - kn - 1;
        const char *k = creds_trim(s, &kn), *v = creds_trim(eq + 1, &vn);
        vn = ini_strip_comment(v, vn);
        v = creds_trim(v, &vn);
        if (kn == 0)
            return wr_error_set(err, WEIR_EIO, path, line_no, 0, "empty key before '='");
        for (size_t i = 0; in_section && i < 3; i++) {
            if (kn == strlen(keys[i]) && strncasecmp(k, keys[i], kn) == 0) {
                hit->v[i] = v;
                hit->n[i] = vn;
            }
        }
    }
    return 0;
}

/* 0: found (v set); 1: does not apply; else an error. */
static int creds_from_file(const wr_creds_options *opt, const char **profile_out,
                           wr_creds_value *v, weir_error *err)
{
    const char *path = creds_env(opt, "AWS_SHARED_CREDENTIALS_FILE");
    const char *profile = opt && opt->profile && *opt->profile ? opt->profile
                                                              : creds_env(opt, "AWS_PROFILE");
    int explicit = profile != NULL;
    char home_path[PATH_MAX];
    profile = profile ? profile : "default";
    *profile_out = profile;
    if (!path) {
        const char *home = creds_env(opt, "HOME");
        if (!home && !explicit)
            return 1;
        if (!home)
            return wr_error_set(err, WEIR_ENOTFOUND, "profile", 0, 0,
                                "profile '%s' not found: HOME and AWS_SHARED_CREDENTIALS_FILE "
                                "are unset", profile);
        if ((size_t)snprintf(home_path, sizeof home_path, "%s/.aws/credentials", home) >=
            sizeof home_path)
            return wr_error_set(err, WEIR_EIO, "profile", 0, 0, "HOME is too long");
        path = home_path;
    }
    char *data;
    size_t len;
    int rc = creds_read_file(path, CREDS_MAX_SHARED_FILE, &data, &len, path, err);
    if (rc == WEIR_ENOTFOUND && !explicit)
        return 1;
    if (rc == WEIR_ENOTFOUND)
        return wr_error_set(err, WEIR_ENOTFOUND, path, 0, 0,
                            "profile '%s' not found: the file does not exist", profile);
    if (rc)
        return rc;
    ini_hit hit;
    rc = ini_parse(data, len, profile, &hit, path, err);
    if (rc == 0 && !hit.found)
        rc = explicit ? wr_error_set(err, WEIR_ENOTFOUND, path, 0, 0,
                                     "profile '%s' not found in this file", profile)
                      : 1;
    else if (rc == 0 && !hit.v[0] && !hit.v[1])
        rc = explicit ? wr_error_set(err, WEIR_EIO, path, 0, 0,
                                     "profile '%s' has no aws_access_key_id (role_arn, sso "
                                     "and credential_process are not supported)", profile)
                      : 1;
    else if (rc == 0 && (!hit.v[0] || !hit.v[1] || !hit.n[0] || !hit.n[1]))
        rc = wr_error_set(err, WEIR_EIO, path, 0, 0,
                          "profile '%s' needs both aws_access_key_id and aws_secret_access_key",
                          profile);
    else if (rc == 0)
        rc = creds_set_value(v, hit.v[0], hit.n[0], hit.v[1], hit.n[1],
                             hit.n[2] ? hit.v[2] : NULL, hit.n[2], path, err);
    creds_free_secret(data, len + 1);
    return rc;
}

/* ------------------------------------------------------------------ resolution */

static int creds_from_env(const wr_creds_options *opt, wr_creds_value *v, weir_error *err)
{
    const char *akid = creds_env(opt, "AWS_ACCESS_KEY_ID");
    const char *sec = creds_env(opt, "AWS_SECRET_ACCESS_KEY");
    const char *tok = creds_env(opt, "AWS_SESSION_TOKEN");
    if (!akid || !sec)
        return 1; /* as the SDKs do: a key id without its secret counts as unset */
    return creds_set_value(v, akid, strlen(akid), sec, strlen(sec), tok, tok ? strlen(tok) : 0,
                           "environment", err);
}

static int creds_region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

static int creds_setup_web(wr_creds *c, const wr_creds_options *opt, const char *file,
                           const char *role, weir_error *err)
{
    char buf[128];
    const char *name = creds_env(opt, "AWS_ROLE_SESSION_NAME");
    if (!name) {
        snprintf(buf, sizeof buf, "weir-%ld", (long)getpid());
        name = buf;
    }
    c->kind = SRC_WEB;
    c->token_file = wr_strdup(file);
    c->role_arn = wr_strdup(role);
    c->session_name = wr_strdup(name);
    if (opt && opt->sts_endpoint) {
        c->url = wr_strdup(opt->sts_endpoint);
    } else {
        const char *region = opt && opt->region && *opt->region ? opt->region : NULL;
        region = region ? region : creds_env(opt, "AWS_REGION");
        region = region ? region : creds_env(opt, "AWS_DEFAULT_REGION");
        region = region ? region : "us-east-1";
        if (!creds_region_ok(region))
            return wr_error_set(err, WEIR_EIO, "web-identity", 0, 0,
                                "region '%.40s' is not a valid AWS region name", region);
        snprintf(buf, sizeof buf, "https://sts.%s.amazonaws.com%s/", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
        c->url = wr_strdup(buf);
    }
    if (!c->token_file || !c->role_arn || !c->session_name || !c->url)
        return wr_error_set(err, WEIR_ENOMEM, "web-identity", 0, 0, "out of memory");
    return 0;
}

/* The hosts the SDKs accept for a plain-http FULL_URI: loopback and the ECS/EKS agents. */
static int container_host_ok(const char *host)
{
    unsigned char a[16], b[16];
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 ||
        strcmp(host, "169.254.170.23") == 0)
        return 1;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    size_t n = strlen(host);
    char inner[64];
    if (n < 3 || n - 2 >= sizeof inner || host[0] != '[' || host[n - 1] != ']')
        return 0;
    memcpy(inner, host + 1, n - 2);
    inner[n - 2] = '\0';
    char *zone = strchr(inner, '%');
    if (zone)
        *zone = '\0';
    if (inet_pton(AF_INET6, inner, a) != 1)
        return 0;
    if (inet_pton(AF_INET6, "::1", b) == 1 && memcmp(a, b, 16) == 0)
        return 1;
    return inet_pton(AF_INET6, "fd00:ec2::23", b) == 1 && memcmp(a, b, 16) == 0;
}

static int container_url_check(const char *url, weir_error *err)
{
    char *scheme = NULL, *host = NULL;
    int ok = 0;
    CURLU *u = curl_url();
    if (!u)
        return wr_error_set(err, WEIR_ENOMEM, "container", 0, 0, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = strcmp(scheme, "https") == 0 ? 1 : strcmp(scheme, "http") == 0 ? 2 : 0;
    int rc = 0;
    if (ok == 0)
        rc = wr_error_set(err, WEIR_EIO, "container", 0, 0,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL");
    else if (ok == 2 && !container_host_ok(host))
        rc = wr_error_set(err, WEIR_EIO, "container", 0, 0,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI host '%.64s' is not allowed: "
                          "plain http must go to a loopback address, 169.254.170.2, "
                          "169.254.170.23 or [fd00:ec2::23] (else use https)", host);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int creds_setup_container(wr_creds *c, const wr_creds_options *opt, const char *rel,
                                 const char *full, weir_error *err)
{
    c->kind = SRC_CONTAINER;
    if (rel) {
        if (rel[0] != '/')
            return wr_error_set(err, WEIR_EIO, "container", 0, 0,
                                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        size_t n = strlen(CONTAINER_HOST) + strlen(rel) + 1;
        if (!(c->url = malloc(n)))
            return wr_error_set(err, WEIR_ENOMEM, "container", 0, 0, "out of memory");
        snprintf(c->url, n, "%s%s", CONTAINER_HOST, rel);
    } else {
        int rc = container_url_check(full, err);
        if (rc)
            return rc;
        if (!(c->url = wr_strdup(full)))
            return wr_error_set(err, WEIR_ENOMEM, "container", 0, 0, "out of memory");
    }
    const char *file = creds_env(opt, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok = creds_env(opt, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (file && !(c->token_file = wr_strdup(file)))
        return wr_error_set(err, WEIR_ENOMEM, "container", 0, 0, "out of memory");
    if (!file && tok) {
        for (const char *p = tok; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return wr_error_set(err, WEIR_EIO, "container", 0, 0,
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a control "
                                    "character");
        if (!(c->auth_token = wr_strdup(tok)))
            return wr_error_set(err, WEIR_ENOMEM, "container", 0, 0, "out of memory");
    }
    return 0;
}

static int creds_set_source(wr_creds *c, const char *prefix, const char *name, weir_error *err)
{
    size_t n = strlen(prefix) + (name ? strlen(name) + 1 : 0) + 1;
    if (!(c->source = malloc(n)))
        return wr_error_set(err, WEIR_ENOMEM, "credentials", 0, 0, "out of memory");
    snprintf(c->source, n, "%s%s%s", prefix, name ? ":" : "", name ? name : "");
    return 0;
}

/* 0 with c->cur set; WEIR_ENOTFOUND when nothing applies; else the source's error. */
static int creds_resolve(wr_creds *c, const wr_creds_options *opt, weir_error *err)
{
    const char *profile = NULL;
    int rc = creds_from_env(opt, &c->cur, err);
    if (rc <= 0)
        return rc ? rc : creds_set_source(c, "environment", NULL, err);
    const char *wfile = creds_env(opt, "AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = creds_env(opt, "AWS_ROLE_ARN");
    if (wfile && role) {
        if ((rc = creds_set_source(c, "web-identity", NULL, err)))
            return rc;
        rc = creds_setup_web(c, opt, wfile, role, err);
        return rc ? rc : creds_fetch(c, &c->cur, err);
    }
    rc = creds_from_file(opt, &profile, &c->cur, err);
    if (rc <= 0) {
        c->kind = SRC_FILE;
        return rc ? rc : creds_set_source(c, "profile", profile, err);
    }
    const char *rel = creds_env(opt, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = creds_env(opt, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel || full) {
        if ((rc = creds_set_source(c, "container", NULL, err)))
            return rc;
        rc = creds_setup_container(c, opt, rel, full, err);
        return rc ? rc : creds_fetch(c, &c->cur, err);
    }
    return wr_error_set(err, WEIR_ENOTFOUND, "credentials", 0, 0,
                        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, a shared credentials "
                        "file, or AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI");
}

/* ------------------------------------------------------------------ refresh thread */

/* Waits on the condition variable for at most `secs` (monotonic clock). Called under mu. */
static void creds_wait(wr_creds *c, time_t secs)
{
    struct timespec ts;
    if (secs > CREDS_MAX_WAIT)
        secs = CREDS_MAX_WAIT;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += secs;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

static void creds_apply(wr_creds *c, int rc, wr_creds_value *v, const weir_error *e)
{
    time_t now = time(NULL);
    if (rc == 0) {
        wr_creds_value_clear(&c->cur);
        c->cur = *v;
        c->fetched = now;
        c->failures = 0;
        c->last_error[0] = '\0';
        atomic_fetch_add(&c->n_ok, 1);
    } else {
        c->failures++;
        c->retry_at = now + (time_t)wr_creds_backoff(c->failures);
        snprintf(c->last_error, sizeof c->last_error, "%.199s", e->text);
        atomic_fetch_add(&c->n_failed, 1);
    }
}

static void *creds_thread(void *arg)
{
    wr_creds *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        time_t now = time(NULL);
        time_t due = c->failures ? c->retry_at
                                 : wr_creds_refresh_at(c->fetched, c->cur.expiration);
        if (now < due) {
            creds_wait(c, due - now);
            continue;
        }
        pthread_mutex_unlock(&c->mu);
        wr_creds_value v;
        weir_error e = {0};
        int rc = creds_fetch(c, &v, &e);
        pthread_mutex_lock(&c->mu);
        if (!c->stopping)
            creds_apply(c, rc, &v, &e);
        wr_creds_value_clear(&v);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ------------------------------------------------------------------ public */

void wr_creds_free(wr_creds *c)
{
    if (!c)
        return;
    if (c->has_thread) {
        pthread_mutex_lock(&c->mu);
        c->stopping = 1;
        atomic_store(&c->cancel, 1);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    wr_creds_value_clear(&c->cur);
    if (c->auth_token)
        creds_free_secret(c->auth_token, strlen(c->auth_token));
    free(c->source);
    free(c->url);
    free(c->token_file);
    free(c->role_arn);
    free(c->session_name);
    free(c->ca_file);
    free(c);
}

static int creds_init_sync(wr_creds *c)
{
    pthread_condattr_t ca;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&c->mu);
        return -1;
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc)
        pthread_mutex_destroy(&c->mu);
    return rc ? -1 : 0;
}

int wr_creds_new(wr_creds **out, const wr_creds_options *opt, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, "credentials", 0, 0, "out is NULL");
    *out = NULL;
    wr_creds *c = calloc(1, sizeof *c);
    if (!c)
        return wr_error_set(err, WEIR_ENOMEM, "credentials", 0, 0, "out of memory");
    if (creds_init_sync(c)) {
        free(c);
        return wr_error_set(err, WEIR_ENOMEM, "credentials", 0, 0, "cannot create a mutex");
    }
    atomic_init(&c->cancel, 0);
    atomic_init(&c->n_ok, 0);
    atomic_init(&c->n_failed, 0);
    const char *ca = creds_env(opt, "AWS_CA_BUNDLE");
    if (ca && !(c->ca_file = wr_strdup(ca))) {
        wr_creds_free(c);
        return wr_error_set(err, WEIR_ENOMEM, "credentials", 0, 0, "out of memory");
    }
    int rc = creds_resolve(c, opt, err);
    if (rc) {
        wr_creds_free(c);
        return rc;
    }
    c->fetched = time(NULL);
    if ((c->kind == SRC_WEB || c->kind == SRC_CONTAINER) && c->cur.expiration != 0) {
        if (pthread_create(&c->thread, NULL, creds_thread, c) != 0) {
            wr_creds_free(c);
            return wr_error_set(err, WEIR_EIO, "credentials", 0, 0,
                                "cannot start the refresh thread");
        }
        c->has_thread = 1;
    }
    *out = c;
    return 0;
}

int wr_creds_get(wr_creds *c, wr_creds_value *out, weir_error *err)
{
    if (!c || !out)
        return wr_error_set(err, WEIR_EINVAL, "credentials", 0, 0, "NULL argument");
    pthread_mutex_lock(&c->mu);
    time_t now = time(NULL);
    if (c->cur.expiration != 0 && now >= c->cur.expiration) {
        char when[32];
        creds_format_time(c->cur.expiration, when, sizeof when);
        wr_error_set(err, WEIR_EIO, c->source, 0, 0,
                     "credentials expired at %s (%llds ago) and no refresh succeeded; last "
                     "refresh error: %s", when, (long long)(now - c->cur.expiration),
                     c->last_error[0] ? c->last_error : "none yet");
        pthread_mutex_unlock(&c->mu);
        memset(out, 0, sizeof *out);
        return WEIR_EIO;
    }
    *out = c->cur;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void wr_creds_value_clear(wr_creds_value *v)
{
    if (v)
        wr_wipe(v, sizeof *v);
}

const char *wr_creds_source(const wr_creds *c)
{
    return c ? c->source : "";
}

void wr_creds_stats(const wr_creds *c, unsigned long *refresh_ok, unsigned long *refresh_failed)
{
    if (refresh_ok)
        *refresh_ok = c ? atomic_load(&c->n_ok) : 0;
    if (refresh_failed)
        *refresh_failed = c ? atomic_load(&c->n_failed) : 0;
}
