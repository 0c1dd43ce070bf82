/*
 * sts.c - presigned sts:GetCallerIdentity tokens: validation, STS answers, cache.
 * Rules and formats: sts.h.
 */
#include "identity/sts.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/sha.h>

#define STS_SRC "sts"
#define STS_MAX_PARAMS 9
#define STS_MAX_AKID 128
#define STS_MAX_REGION 32
#define STS_MAX_CLUSTER_ID 256
#define STS_XML_DEPTH 16

/* ================================================================ small helpers */

static int sts_refuse(weir_error *err, const char *fmt, ...) WR_PRINTF(2, 3);

static int sts_refuse(weir_error *err, const char *fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0, "sts token refused: %s", text);
}

static int sts_all(const char *s, size_t n, int (*pred)(int))
{
    for (size_t i = 0; i < n; i++)
        if (!pred((unsigned char)s[i]))
            return 0;
    return 1;
}

static int sts_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int sts_is_lhex(int c)
{
    return sts_is_digit(c) || (c >= 'a' && c <= 'f');
}

static int sts_is_akid_char(int c)
{
    return sts_is_digit(c) || (c >= 'A' && c <= 'Z');
}

static int sts_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int sts_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int sts_ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* A region name: lower-case letters, digits and single '-', a letter first, a digit last. */
static int sts_region_ok(const char *s, size_t n)
{
    if (n < 4 || n > STS_MAX_REGION || !(s[0] >= 'a' && s[0] <= 'z') || !sts_is_digit(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-' ? s[i - 1] == '-' : !((c >= 'a' && c <= 'z') || sts_is_digit(c)))
            return 0;
    }
    return 1;
}

/* ================================================================ time */

static int64_t sts_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int sts_num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* "YYYYMMDDTHHMMSSZ" -> *t. 0 or -1. */
static int sts_parse_amz_date(const char *s, size_t n, time_t *t)
{
    if (n != 16 || s[8] != 'T' || s[15] != 'Z' || !sts_all(s, 8, sts_is_digit) ||
        !sts_all(s + 9, 6, sts_is_digit))
        return -1;
    int y = sts_num(s, 4), mo = sts_num(s + 4, 2), d = sts_num(s + 6, 2);
    int h = sts_num(s + 9, 2), mi = sts_num(s + 11, 2), se = sts_num(s + 13, 2);
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 59)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -1;
    *t = (time_t)(sts_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se);
    return 0;
}

/* ================================================================ URL pieces */

typedef struct sts_url {
    const char *scheme, *auth, *query;
    size_t scheme_len, auth_len, query_len;
} sts_url;

static int sts_url_char_ok(int c)
{
    return c > 0x20 && c < 0x7f && c != '\\';
}

/* scheme "://" authority "/" "?" query. Refuses anything else (err filled). */
static int sts_url_split(const char *u, size_t n, sts_url *p, weir_error *err)
{
    if (!sts_all(u, n, sts_url_char_ok))
        return sts_refuse(err, "the URL has a space, control, non-ASCII or '\\' character");
    const char *colon = memchr(u, ':', n);
    if (!colon || (size_t)(colon - u) + 3 > n || colon[1] != '/' || colon[2] != '/')
        return sts_refuse(err, "not a presigned URL (scheme://host/?query)");
    p->scheme = u;
    p->scheme_len = (size_t)(colon - u);
    p->auth = colon + 3;
    const char *end = u + n;
    const char *a = p->auth;
    while (a < end && *a != '/' && *a != '?' && *a != '#')
        a++;
    p->auth_len = (size_t)(a - p->auth);
    if (memchr(u, '#', n))
        return sts_refuse(err, "the URL has a fragment");
    if (memchr(p->auth, '@', p->auth_len))
        return sts_refuse(err, "the URL has user information (user@host)");
    if (p->auth_len == 0)
        return sts_refuse(err, "the URL has no host");
    if (a + 2 > end || a[0] != '/' || a[1] != '?')
        return sts_refuse(err, "the URL's path must be exactly \"/\" followed by a query");
    p->query = a + 2;
    p->query_len = (size_t)(end - p->query);
    if (memchr(p->query, '?', p->query_len))
        return sts_refuse(err, "the URL's query has a second '?'");
    return 0;
}

/* Host of an authority "host[:port]" or "[v6]:port" (brackets kept). */
static void sts_auth_host(const char *a, size_t n, const char **h, size_t *hn)
{
    *h = a;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        *hn = rb ? (size_t)(rb - a) + 1 : n;
        return;
    }
    const char *c = memchr(a, ':', n);
    *hn = c ? (size_t)(c - a) : n;
}

static int sts_host_loopback(const char *h, size_t n)
{
    if (sts_ieq(h, n, "localhost") || sts_eq(h, n, "[::1]"))
        return 1;
    if (n < 7 || n > 15 || strncmp(h, "127.", 4) != 0)
        return 0;
    int dots = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '.') {
            if (digits == 0 || digits > 3)
                return 0;
            dots++;
            digits = 0;
        } else if (sts_is_digit((unsigned char)h[i])) {
            digits++;
        } else {
            return 0;
        }
    }
    return dots == 3 && digits > 0 && digits <= 3;
}

/*
 * Which STS the URL names. 1: an AWS STS host (*region set for a regional one, "" for the
 * global one); 2: the configured endpoint (*region = rules->endpoint_region or "").
 */
static int sts_check_origin(const sts_url *p, const wr_sts_rules *r, char *region,
                            weir_error *err)
{
    region[0] = '\0';
    if (r->endpoint && *r->endpoint) {
        const char *e = r->endpoint, *sep = strstr(e, "://");
        if (sep) {
            size_t es = (size_t)(sep - e), ea = strcspn(sep + 3, "/");
            if (es == p->scheme_len &&
                strncasecmp(e, p->scheme, es) == 0 && ea == p->auth_len &&
                strncasecmp(sep + 3, p->auth, ea) == 0) {
                const char *h;
                size_t hn;
                sts_auth_host(p->auth, p->auth_len, &h, &hn);
                if (sts_ieq(p->scheme, p->scheme_len, "http") &&
                    !(r->allow_loopback_http && sts_host_loopback(h, hn)))
                    return sts_refuse(err, "http is allowed only for a loopback test endpoint "
                                           "with allow_loopback_http");
                if (!sts_ieq(p->scheme, p->scheme_len, "http") &&
                    !sts_ieq(p->scheme, p->scheme_len, "https"))
                    return sts_refuse(err, "the scheme must be https");
                if (r->endpoint_region)
                    snprintf(region, STS_MAX_REGION + 1, "%s", r->endpoint_region);
                return 2;
            }
        }
    }
    if (!sts_eq(p->scheme, p->scheme_len, "https"))
        return sts_refuse(err, "the scheme must be https");
    const char *h = p->auth;
    size_t n = p->auth_len;
    if (sts_eq(h, n, "sts.amazonaws.com"))
        return 1;
    static const char *const suffixes[] = { ".amazonaws.com", ".amazonaws.com.cn" };
    if (n > 4 && memcmp(h, "sts.", 4) == 0) {
        for (size_t i = 0; i < WR_ARRAY_LEN(suffixes); i++) {
            size_t sl = strlen(suffixes[i]);
            if (n <= 4 + sl || memcmp(h + n - sl, suffixes[i], sl) != 0)
                continue;
            size_t rl = n - 4 - sl;
            if (!sts_region_ok(h + 4, rl))
                break;
            if (i == 1 && strncmp(h + 4, "cn-", 3) != 0)
                break;
            memcpy(region, h + 4, rl);
            region[rl] = '\0';
            return 1;
        }
    }
    return sts_refuse(err, "the host is not an AWS STS endpoint (sts[.REGION].amazonaws.com) "
                           "nor the configured endpoint");
}

/* ================================================================ query */

enum {
    P_ACTION,
    P_VERSION,
    P_ALGORITHM,
    P_CREDENTIAL,
    P_DATE,
    P_EXPIRES,
    P_SIGNED_HEADERS,
    P_SECURITY_TOKEN,
    P_SIGNATURE,
    P_COUNT
};

static const char *const STS_PARAMS[P_COUNT] = {
    "Action",        "Version",     "X-Amz-Algorithm",      "X-Amz-Credential", "X-Amz-Date",
    "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
};

typedef struct sts_params {
    char *v[P_COUNT]; /* decoded values, owned; NULL when absent */
    size_t len[P_COUNT];
} sts_params;

static void sts_params_free(sts_params *q)
{
    for (int i = 0; i < P_COUNT; i++) {
        if (q->v[i])
            wr_wipe(q->v[i], q->len[i]);
        free(q->v[i]);
    }
}

static int sts_query_char_ok(int c)
{
    return isalnum(c) || (c && strchr("-._~%&=+/", c));
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or a control byte. */
static char *sts_pct_decode(const char *s, size_t n, size_t *out_len)
{
    char *d = wr_malloc(n + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? sts_hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? sts_hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return NULL;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c >= 0x7f) {
            free(d);
            return NULL;
        }
        d[o++] = (char)c;
    }
    d[o] = '\0';
    *out_len = o;
    return d;
}

static int sts_query_parse(const char *q, size_t n, sts_params *out, weir_error *err)
{
    if (n == 0)
        return sts_refuse(err, "the URL has no query");
    if (!sts_all(q, n, sts_query_char_ok))
        return sts_refuse(err, "the query has a character outside A-Z a-z 0-9 -._~%%&=+/");
    size_t i = 0;
    while (i <= n) {
        const char *part = q + i, *amp = memchr(part, '&', n - i);
        size_t pl = amp ? (size_t)(amp - part) : n - i;
        if (pl == 0)
            return sts_refuse(err, "the query has an empty parameter");
        const char *eq = memchr(part, '=', pl);
        if (!eq)
            return sts_refuse(err, "a query parameter has no '='");
        size_t kl = (size_t)(eq - part);
        int which = -1;
        for (int k = 0; k < P_COUNT; k++)
            if (sts_ieq(part, kl, STS_PARAMS[k]))
                which = k;
        if (which < 0)
            return sts_refuse(err, "unexpected query parameter \"%.*s\"",
                              (int)(kl < 40 ? kl : 40), part);
        if (out->v[which])
            return sts_refuse(err, "the query parameter %s appears twice", STS_PARAMS[which]);
        out->v[which] = sts_pct_decode(eq + 1, pl - kl - 1, &out->len[which]);
        if (!out->v[which])
            return sts_refuse(err, "the value of %s has a bad %%-escape or a control byte",
                              STS_PARAMS[which]);
        i += pl + 1;
        if (!amp)
            break;
    }
    return 0;
}

/* AKID/YYYYMMDD/REGION/sts/aws4_request */
static int sts_check_credential(const sts_params *q, wr_sts_call *c, char *date8,
                                weir_error *err)
{
    const char *s = q->v[P_CREDENTIAL];
    const char *part[5];
    size_t plen[5];
    size_t np = 0;
    const char *p = s;
    for (;;) {
        const char *sl = strchr(p, '/');
        if (np == 5)
            return sts_refuse(err, "X-Amz-Credential has too many parts");
        part[np] = p;
        plen[np++] = sl ? (size_t)(sl - p) : strlen(p);
        if (!sl)
            break;
        p = sl + 1;
    }
    if (np != 5)
        return sts_refuse(err, "X-Amz-Credential is not AKID/DATE/REGION/sts/aws4_request");
    if (plen[0] < 16 || plen[0] > STS_MAX_AKID || !sts_all(part[0], plen[0], sts_is_akid_char))
        return sts_refuse(err, "X-Amz-Credential has an invalid access key id");
    if (plen[1] != 8 || !sts_all(part[1], 8, sts_is_digit))
        return sts_refuse(err, "X-Amz-Credential has an invalid date");
    if (!sts_region_ok(part[2], plen[2]))
        return sts_refuse(err, "X-Amz-Credential has an invalid region");
    if (!sts_eq(part[3], plen[3], "sts"))
        return sts_refuse(err, "X-Amz-Credential's service must be sts");
    if (!sts_eq(part[4], plen[4], "aws4_request"))
        return sts_refuse(err, "X-Amz-Credential must end in aws4_request");
    memcpy(c->access_key_id, part[0], plen[0]);
    c->access_key_id[plen[0]] = '\0';
    memcpy(date8, part[1], 8);
    date8[8] = '\0';
    memcpy(c->region, part[2], plen[2]);
    c->region[plen[2]] = '\0';
    return 0;
}

/* host required; x-k8s-aws-id exactly when a cluster id is configured; nothing else. */
static int sts_check_signed_headers(const char *s, const wr_sts_rules *r, weir_error *err)
{
    int host = 0, cluster = 0;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ";");
        if (sts_eq(p, n, "host") && !host)
            host = 1;
        else if (sts_eq(p, n, WR_STS_CLUSTER_HEADER) && !cluster)
            cluster = 1;
        else
            return sts_refuse(err, "X-Amz-SignedHeaders may list only host and x-k8s-aws-id, "
                                   "each once");
        if (!p[n])
            break;
        p += n + 1;
    }
    if (!host)
        return sts_refuse(err, "X-Amz-SignedHeaders does not include host");
    if (r->cluster_id && *r->cluster_id && !cluster)
        return sts_refuse(err, "the token is not bound to this cluster (x-k8s-aws-id not signed)");
    if (!(r->cluster_id && *r->cluster_id) && cluster)
        return sts_refuse(err, "the token signs x-k8s-aws-id but no cluster id is configured");
    return 0;
}

static int sts_check_params(const sts_params *q, const wr_sts_rules *r, const char *host_region,
                            int origin, wr_sts_call *c, weir_error *err)
{
    static const int required[] = { P_ACTION,  P_VERSION, P_ALGORITHM,      P_CREDENTIAL,
                                    P_DATE,    P_EXPIRES, P_SIGNED_HEADERS, P_SIGNATURE };
    for (size_t i = 0; i < WR_ARRAY_LEN(required); i++)
        if (!q->v[required[i]])
            return sts_refuse(err, "the query has no %s", STS_PARAMS[required[i]]);
    if (strcmp(q->v[P_ACTION], "GetCallerIdentity") != 0)
        return sts_refuse(err, "Action must be GetCallerIdentity");
    if (strcmp(q->v[P_VERSION], "2011-06-15") != 0)
        return sts_refuse(err, "Version must be 2011-06-15");
    if (strcmp(q->v[P_ALGORITHM], "AWS4-HMAC-SHA256") != 0)
        return sts_refuse(err, "X-Amz-Algorithm must be AWS4-HMAC-SHA256");
    if (q->len[P_SIGNATURE] != 64 || !sts_all(q->v[P_SIGNATURE], 64, sts_is_lhex))
        return sts_refuse(err, "X-Amz-Signature must be 64 lower-case hex digits");
    char date8[9];
    int rc = sts_check_credential(q, c, date8, err);
    if (rc)
        return rc;
    if (host_region[0] && strcmp(host_region, c->region) != 0)
        return sts_refuse(err, "the credential scope's region (%s) is not the %s's (%s)",
                          c->region, origin == 2 ? "endpoint" : "host", host_region);
    if (r->region && *r->region && strcmp(r->region, c->region) != 0)
        return sts_refuse(err, "the credential scope's region (%s) is not the allowed %s",
                          c->region, r->region);
    if (sts_parse_amz_date(q->v[P_DATE], q->len[P_DATE], &c->signed_at) != 0)
        return sts_refuse(err, "X-Amz-Date is not a valid YYYYMMDDTHHMMSSZ time");
    if (memcmp(q->v[P_DATE], date8, 8) != 0)
        return sts_refuse(err, "X-Amz-Date's day is not the credential scope's");
    const char *ex = q->v[P_EXPIRES];
    if (q->len[P_EXPIRES] == 0 || q->len[P_EXPIRES] > 3 ||
        !sts_all(ex, q->len[P_EXPIRES], sts_is_digit) || atoi(ex) < 1 ||
        atoi(ex) > WR_STS_MAX_EXPIRES)
        return sts_refuse(err, "X-Amz-Expires must be 1..%d seconds", WR_STS_MAX_EXPIRES);
    rc = sts_check_signed_headers(q->v[P_SIGNED_HEADERS], r, err);
    if (rc)
        return rc;

    time_t now = r->now ? r->now : time(NULL);
    long long max_age = r->max_age_seconds ? r->max_age_seconds : WR_STS_DEFAULT_MAX_AGE;
    long long age = (long long)now - (long long)c->signed_at;
    if (age < -WR_STS_MAX_FUTURE)
        return sts_refuse(err, "X-Amz-Date is %lld s in the future", -age);
    if (age >= max_age)
        return sts_refuse(err, "the token is too old (signed %lld s ago, at most %lld)", age,
                          max_age);
    c->expires_at = c->signed_at + (time_t)max_age;
    if (!r->ignore_expires) {
        time_t e = c->signed_at + (time_t)atoi(ex);
        if (now >= e)
            return sts_refuse(err, "the token has expired (X-Amz-Expires=%s)", ex);
        if (e < c->expires_at)
            c->expires_at = e;
    }
    return 0;
}

/* ================================================================ the call */

static int sts_header_value_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STS_MAX_CLUSTER_ID)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int sts_add_header(wr_sts_call *c, const char *name, const char *value)
{
    char *v = wr_strdup(value);
    if (!v)
        return WEIR_ENOMEM;
    c->headers[c->n_headers].name = name;
    c->headers[c->n_headers++].value = v;
    return 0;
}

static int sts_build_call(const sts_url *p, const wr_sts_rules *r, wr_sts_call *c,
                          weir_error *err)
{
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_append(&b, p->scheme, p->scheme_len);
    wr_buf_puts(&b, "://");
    wr_buf_append(&b, p->auth, p->auth_len);
    wr_buf_puts(&b, "/?");
    wr_buf_append(&b, p->query, p->query_len);
    if (b.oom || !b.data) {
        wr_buf_free(&b);
        return wr_error_set(err, WEIR_ENOMEM, STS_SRC, 0, 0, "sts: out of memory");
    }
    c->url = b.data;
    if (sts_add_header(c, "Accept", "application/xml") != 0 ||
        (r->cluster_id && *r->cluster_id &&
         sts_add_header(c, WR_STS_CLUSTER_HEADER, r->cluster_id) != 0))
        return wr_error_set(err, WEIR_ENOMEM, STS_SRC, 0, 0, "sts: out of memory");
    return 0;
}

static int sts_parse_url(const char *url, size_t n, const wr_sts_rules *r, wr_sts_call *c,
                         weir_error *err)
{
    sts_url p;
    memset(&p, 0, sizeof p);
    int rc = sts_url_split(url, n, &p, err);
    if (rc)
        return rc;
    char host_region[STS_MAX_REGION + 1];
    int origin = sts_check_origin(&p, r, host_region, err);
    if (origin < 0)
        return origin;
    sts_params q;
    memset(&q, 0, sizeof q);
    rc = sts_query_parse(p.query, p.query_len, &q, err);
    if (rc == 0)
        rc = sts_check_params(&q, r, host_region, origin, c, err);
    sts_params_free(&q);
    if (rc == 0)
        rc = sts_build_call(&p, r, c, err);
    return rc;
}

int wr_sts_token_parse(const char *token, size_t len, const wr_sts_rules *rules,
                       wr_sts_call *out, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0, "sts: NULL argument");
    memset(out, 0, sizeof *out);
    if (!token)
        return wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0, "sts: NULL argument");
    if (len > WR_STS_MAX_TOKEN)
        return wr_error_set(err, WEIR_ELIMIT, STS_SRC, 0, 0,
                            "sts token refused: longer than %zu bytes", WR_STS_MAX_TOKEN);
    wr_sts_rules defaults;
    memset(&defaults, 0, sizeof defaults);
    const wr_sts_rules *r = rules ? rules : &defaults;
    if (r->cluster_id && *r->cluster_id && !sts_header_value_ok(r->cluster_id))
        return wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0,
                            "sts: the configured cluster id is not a valid header value");

    const size_t pl = strlen(WR_STS_TOKEN_PREFIX);
    int rc;
    if (len >= pl && memcmp(token, WR_STS_TOKEN_PREFIX, pl) == 0) {
        unsigned char *url = wr_malloc((len - pl) / 4 * 3 + 3);
        if (!url)
            return wr_error_set(err, WEIR_ENOMEM, STS_SRC, 0, 0, "sts: out of memory");
        long un = wr_b64url_decode(token + pl, len - pl, url);
        if (un <= 0)
            rc = sts_refuse(err, "the k8s-aws-v1 token is not valid base64url (no padding)");
        else
            rc = sts_parse_url((const char *)url, (size_t)un, r, out, err);
        wr_wipe(url, (len - pl) / 4 * 3 + 3);
        free(url);
    } else if ((len >= 8 && memcmp(token, "https://", 8) == 0) ||
               (len >= 7 && memcmp(token, "http://", 7) == 0)) {
        rc = sts_parse_url(token, len, r, out, err);
    } else {
        rc = sts_refuse(err, "neither a k8s-aws-v1. token nor a presigned https URL");
    }
    if (rc) {
        wr_sts_call_free(out);
        return rc;
    }
    SHA256((const unsigned char *)token, len, out->cache_key);
    return 0;
}

void wr_sts_call_free(wr_sts_call *c)
{
    if (!c)
        return;
    if (c->url) {
        wr_wipe(c->url, strlen(c->url));
        free(c->url);
    }
    for (size_t i = 0; i < c->n_headers; i++)
        free(c->headers[i].value);
    memset(c, 0, sizeof *c);
}

/* ================================================================ ARNs */

static int sts_iam_char(int c)
{
    return isalnum(c) || (c && strchr("+=,.@_-", c));
}

/* One or more '/'-separated non-empty runs of IAM name characters (paths allowed). */
static int sts_iam_path_name(const char *s, int allow_slash)
{
    size_t run = 0;
    for (; *s; s++) {
        if (*s == '/' && allow_slash && run) {
            run = 0;
            continue;
        }
        if (!sts_iam_char((unsigned char)*s))
            return 0;
        run++;
    }
    return run > 0;
}

int wr_sts_arn_valid(const char *arn)
{
    if (!arn || strlen(arn) > WR_STS_MAX_ARN || strncmp(arn, "arn:aws", 7) != 0)
        return 0;
    const char *p = arn + 7;
    if (*p == '-') { /* aws-cn, aws-us-gov, aws-iso-b, ... */
        p++;
        if (!(*p >= 'a' && *p <= 'z'))
            return 0;
        while ((*p >= 'a' && *p <= 'z') || (*p == '-' && p[-1] != '-' && p[1] != ':'))
            p++;
    }
    if (*p != ':')
        return 0;
    p++;
    int sts;
    if (strncmp(p, "iam::", 5) == 0)
        sts = 0;
    else if (strncmp(p, "sts::", 5) == 0)
        sts = 1;
    else
        return 0;
    p += 5;
    if (!sts_all(p, 12, sts_is_digit) || p[12] != ':')
        return 0;
    p += 13;
    if (!sts) {
        if (strcmp(p, "root") == 0)
            return 1;
        if (strncmp(p, "user/", 5) == 0 || strncmp(p, "role/", 5) == 0)
            return sts_iam_path_name(p + 5, 1);
        return 0;
    }
    if (strncmp(p, "federated-user/", 15) == 0)
        return sts_iam_path_name(p + 15, 0);
    if (strncmp(p, "assumed-role/", 13) == 0) {
        const char *role = p + 13, *sl = strchr(role, '/');
        if (!sl || sl == role)
            return 0;
        char name[WR_STS_MAX_ARN + 1];
        memcpy(name, role, (size_t)(sl - role));
        name[sl - role] = '\0';
        return sts_iam_path_name(name, 0) && sts_iam_path_name(sl + 1, 0);
    }
    return 0;
}

/* ================================================================ responses */

typedef struct sts_doc {
    int success_root; /* GetCallerIdentityResponse */
    int dup;
    const char *arn, *account, *code;
    size_t arn_len, account_len, code_len;
} sts_doc;

typedef struct sts_span {
    const char *name;
    size_t len;
    const char *content;
} sts_span;

static int sts_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int sts_xml_name_char(int c)
{
    return isalnum(c) || c == '_' || c == ':' || c == '.' || c == '-';
}

static void sts_trim(const char **s, size_t *n)
{
    while (*n && sts_ws((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && sts_ws((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static void sts_doc_set(sts_doc *d, const char **dst, size_t *dlen, const char *s, size_t n)
{
    if (*dst) {
        d->dup = 1;
        return;
    }
    sts_trim(&s, &n);
    *dst = s;
    *dlen = n;
}

/* The element at st[depth-1] ended; its content is content[0..n). */
static int sts_xml_capture(sts_doc *d, const sts_span *st, int depth, const char *content,
                           size_t n)
{
    const sts_span *e = &st[depth - 1];
    int is_code = depth >= 2 && sts_eq(e->name, e->len, "Code") &&
                  sts_eq(st[depth - 2].name, st[depth - 2].len, "Error");
    int in_result = depth == 3 && sts_eq(st[0].name, st[0].len, "GetCallerIdentityResponse") &&
                    sts_eq(st[1].name, st[1].len, "GetCallerIdentityResult");
    int is_arn = in_result && sts_eq(e->name, e->len, "Arn");
    int is_acct = in_result && sts_eq(e->name, e->len, "Account");
    if (!is_code && !is_arn && !is_acct)
        return 0;
    if (memchr(content, '<', n) || memchr(content, '&', n))
        return -1; /* markup or entities inside a value we read: not STS's */
    if (is_code)
        sts_doc_set(d, &d->code, &d->code_len, content, n);
    else if (is_arn)
        sts_doc_set(d, &d->arn, &d->arn_len, content, n);
    else
        sts_doc_set(d, &d->account, &d->account_len, content, n);
    return 0;
}

static const char *sts_find(const char *s, const char *end, const char *lit)
{
    size_t ln = strlen(lit);
    for (; s + ln <= end; s++)
        if (memcmp(s, lit, ln) == 0)
            return s;
    return NULL;
}

/* A small, strict XML reader: elements, attributes, comments, a prolog; no DTD or CDATA. */
static int sts_xml_scan(const char *s, size_t n, sts_doc *d)
{
    sts_span st[STS_XML_DEPTH];
    int depth = 0, roots = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        if (*p != '<') {
            if (depth == 0 && !sts_ws((unsigned char)*p))
                return -1;
            p++;
            continue;
        }
        if (end - p >= 2 && p[1] == '?') {
            const char *q = sts_find(p + 2, end, "?>");
            if (!q || depth || roots)
                return -1;
            p = q + 2;
            continue;
        }
        if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            const char *q = sts_find(p + 4, end, "-->");
            if (!q)
                return -1;
            p = q + 3;
            continue;
        }
        int closing = end - p >= 2 && p[1] == '/';
        const char *name = p + 1 + closing, *q = name;
        while (q < end && sts_xml_name_char((unsigned char)*q))
            q++;
        size_t nl = (size_t)(q - name);
        if (nl == 0)
            return -1; /* "<!DOCTYPE", "<![CDATA[", "< x", ... */
        if (closing) {
            while (q < end && sts_ws((unsigned char)*q))
                q++;
            if (q >= end || *q != '>' || depth == 0 || st[depth - 1].len != nl ||
                memcmp(st[depth - 1].name, name, nl) != 0)
                return -1;
            if (sts_xml_capture(d, st, depth, st[depth - 1].content,
                                (size_t)(p - st[depth - 1].content)) != 0)
                return -1;
            depth--;
            p = q + 1;
            continue;
        }
        char quote = 0;
        while (q < end && (quote || *q != '>')) {
            if (quote ? *q == quote : (*q == '"' || *q == '\''))
                quote = quote ? 0 : *q;
            else if (!quote && *q == '<')
                return -1;
            q++;
        }
        if (q >= end)
            return -1;
        if (depth == 0 && roots++)
            return -1; /* a second root element */
        if (depth == 0)
            d->success_root = sts_eq(name, nl, "GetCallerIdentityResponse");
        if (q[-1] != '/') {
            if (depth == STS_XML_DEPTH)
                return -1;
            st[depth].name = name;
            st[depth].len = nl;
            st[depth++].content = q + 1;
        }
        p = q + 1;
    }
    return depth == 0 && roots == 1 ? 0 : -1;
}

static const char *sts_json_str(json_t *o, const char *k1, const char *k2, const char *k3)
{
    json_t *v = json_object_get(o, k1);
    if (k2)
        v = json_object_get(v, k2);
    if (k3)
        v = json_object_get(v, k3);
    return json_string_value(v);
}

/* The JSON form; strings point into *root (kept alive by the caller). */
static int sts_json_scan(const char *s, size_t n, sts_doc *d, json_t **root)
{
    if (wr_json_fast_parse(root, s, n, 16, NULL, NULL, NULL, 0) != 0 || !json_is_object(*root))
        return -1;
    const char *r = "GetCallerIdentityResponse", *res = "GetCallerIdentityResult";
    d->success_root = json_object_get(*root, r) != NULL;
    d->arn = sts_json_str(*root, r, res, "Arn");
    d->account = sts_json_str(*root, r, res, "Account");
    d->code = sts_json_str(*root, "Error", "Code", NULL);
    if (!d->code)
        d->code = sts_json_str(*root, "ErrorResponse", "Error", "Code");
    d->arn_len = d->arn ? strlen(d->arn) : 0;
    d->account_len = d->account ? strlen(d->account) : 0;
    d->code_len = d->code ? strlen(d->code) : 0;
    return 0;
}

static int sts_code_char(int c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '-';
}

int wr_sts_parse_response(int status, const char *body, size_t len, char *arn, size_t cap,
                          char *account, size_t acap, weir_error *err)
{
    if (arn && cap)
        arn[0] = '\0';
    if (account && acap)
        account[0] = '\0';
    if ((!body && len) || !arn || cap == 0)
        return wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0, "sts: NULL argument");
    if (len > WR_STS_MAX_RESPONSE)
        return wr_error_set(err, WEIR_ELIMIT, STS_SRC, 0, 0,
                            "sts: response over %zu bytes (HTTP %d)", WR_STS_MAX_RESPONSE, status);
    sts_doc d;
    memset(&d, 0, sizeof d);
    json_t *root = NULL;
    size_t i = 0;
    while (i < len && sts_ws((unsigned char)body[i]))
        i++;
    int bad = i == len ? -1
              : body[i] == '{' ? sts_json_scan(body, len, &d, &root)
                               : sts_xml_scan(body, len, &d);
    int rc;
    if (status != 200 || (!bad && !d.success_root)) {
        int code_ok = !bad && d.code && d.code_len > 0 && d.code_len <= 64 &&
                      sts_all(d.code, d.code_len, sts_code_char);
        rc = wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0, "sts: refused (HTTP %d %.*s)", status,
                          code_ok ? (int)d.code_len : 7, code_ok ? d.code : "no code");
    } else if (bad) {
        rc = wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0,
                          "sts: malformed GetCallerIdentity response (HTTP 200)");
    } else if (d.dup) {
        rc = wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0,
                          "sts: GetCallerIdentity response has a repeated Arn or Account");
    } else if (!d.arn || d.arn_len == 0) {
        rc = wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0,
                          "sts: GetCallerIdentity response has no Arn");
    } else if (d.arn_len >= cap || d.arn_len > WR_STS_MAX_ARN) {
        rc = wr_error_set(err, WEIR_ELIMIT, STS_SRC, 0, 0, "sts: the Arn is too long");
    } else {
        memcpy(arn, d.arn, d.arn_len);
        arn[d.arn_len] = '\0';
        rc = 0;
        if (strlen(arn) != d.arn_len || !wr_sts_arn_valid(arn)) {
            rc = wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0,
                              "sts: the Arn in the response is not an IAM or STS principal");
        } else {
            /* arn:PARTITION:SERVICE::ACCOUNT:... (validated above) */
            const char *acct = strchr(strchr(arn + 4, ':') + 1, ':') + 2;
            if (d.account && (d.account_len != 12 || memcmp(d.account, acct, 12) != 0))
                rc = wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0,
                                  "sts: the Account in the response is not the Arn's");
            else if (account && acap > 12)
                snprintf(account, acap, "%.12s", acct);
            else if (account && acap)
                rc = wr_error_set(err, WEIR_ELIMIT, STS_SRC, 0, 0,
                                  "sts: the account buffer is too small");
        }
        if (rc)
            arn[0] = '\0';
    }
    json_decref(root);
    return rc;
}

/* ================================================================ cache */

typedef struct sts_ent {
    unsigned char key[32];
    char *value; /* ARN, or the refusal message */
    time_t expires;
    int refused;
    struct sts_ent *hnext;      /* bucket chain */
    struct sts_ent *prev, *next; /* LRU list, head = most recent */
} sts_ent;

struct wr_sts_cache {
    pthread_mutex_t mu;
    sts_ent **buckets;
    size_t nbuckets; /* power of two */
    size_t n, max;
    sts_ent *head, *tail;
};

#define STS_CACHE_DEFAULT 10000
#define STS_CACHE_MAX ((size_t)1 << 24)

int wr_sts_cache_new(wr_sts_cache **out, size_t max_entries, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, STS_SRC, 0, 0, "sts: NULL argument");
    *out = NULL;
    if (max_entries == 0)
        max_entries = STS_CACHE_DEFAULT;
    if (max_entries > STS_CACHE_MAX)
        return wr_error_set(err, WEIR_ELIMIT, STS_SRC, 0, 0,
                            "sts: cache of more than %zu entries", STS_CACHE_MAX);
    wr_sts_cache *c = wr_calloc(1, sizeof *c);
    size_t nb = 16;
    while (nb < max_entries)
        nb <<= 1;
    if (c)
        c->buckets = wr_calloc(nb, sizeof *c->buckets);
    if (!c || !c->buckets || pthread_mutex_init(&c->mu, NULL) != 0) {
        if (c)
            free(c->buckets);
        free(c);
        return wr_error_set(err, WEIR_ENOMEM, STS_SRC, 0, 0, "sts: out of memory");
    }
    c->nbuckets = nb;
    c->max = max_entries;
    *out = c;
    return 0;
}

static void sts_ent_free(sts_ent *e)
{
    if (!e)
        return;
    if (e->value) {
        wr_wipe(e->value, strlen(e->value));
        free(e->value);
    }
    free(e);
}

void wr_sts_cache_free(wr_sts_cache *c)
{
    if (!c)
        return;
    sts_ent *e = c->head;
    while (e) {
        sts_ent *next = e->next;
        sts_ent_free(e);
        e = next;
    }
    pthread_mutex_destroy(&c->mu);
    free(c->buckets);
    free(c);
}

static size_t sts_bucket(const wr_sts_cache *c, const unsigned char key[32])
{
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | key[i];
    return (size_t)(h & (c->nbuckets - 1));
}

static sts_ent **sts_slot(wr_sts_cache *c, const unsigned char key[32])
{
    sts_ent **pp = &c->buckets[sts_bucket(c, key)];
    while (*pp && memcmp((*pp)->key, key, 32) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static void sts_lru_unlink(wr_sts_cache *c, sts_ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void sts_lru_front(wr_sts_cache *c, sts_ent *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void sts_remove(wr_sts_cache *c, sts_ent *e)
{
    sts_ent **pp = sts_slot(c, e->key);
    *pp = e->hnext;
    sts_lru_unlink(c, e);
    c->n--;
    sts_ent_free(e);
}

wr_sts_hit wr_sts_cache_get(wr_sts_cache *c, const unsigned char key[32], time_t now,
                            char *arn, size_t cap, char *msg, size_t mcap)
{
    if (!c || !key)
        return WR_STS_MISS;
    wr_sts_hit hit = WR_STS_MISS;
    pthread_mutex_lock(&c->mu);
    sts_ent *e = *sts_slot(c, key);
    if (e && e->expires <= now) {
        sts_remove(c, e);
        e = NULL;
    }
    if (e) {
        sts_lru_unlink(c, e);
        sts_lru_front(c, e);
        size_t vl = strlen(e->value);
        if (e->refused) {
            hit = WR_STS_REFUSED;
            if (msg && mcap)
                snprintf(msg, mcap, "%s", e->value);
        } else if (arn && vl < cap) {
            memcpy(arn, e->value, vl + 1);
            hit = WR_STS_HIT;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static int sts_cache_store(wr_sts_cache *c, const unsigned char key[32], const char *value,
                           int refused, time_t expires, time_t now)
{
    if (!c || !key || !value)
        return WEIR_EINVAL;
    if (expires <= now)
        return 0;
    char *v = wr_strdup(value);
    if (!v)
        return WEIR_ENOMEM;
    pthread_mutex_lock(&c->mu);
    sts_ent **pp = sts_slot(c, key);
    sts_ent *e = *pp;
    if (e) {
        sts_lru_unlink(c, e);
        wr_wipe(e->value, strlen(e->value));
        free(e->value);
    } else {
        e = wr_calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&c->mu);
            free(v);
            return WEIR_ENOMEM;
        }
        while (c->n >= c->max && c->tail)
            sts_remove(c, c->tail);
        memcpy(e->key, key, 32);
        pp = sts_slot(c, key); /* the chain may have changed */
        *pp = e;
        c->n++;
    }
    e->value = v;
    e->refused = refused;
    e->expires = expires;
    sts_lru_front(c, e);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int wr_sts_cache_put(wr_sts_cache *c, const unsigned char key[32], const char *arn,
                     time_t expires_at, time_t now)
{
    return sts_cache_store(c, key, arn, 0, expires_at, now);
}

int wr_sts_cache_put_refusal(wr_sts_cache *c, const unsigned char key[32], const char *message,
                             time_t now)
{
    return sts_cache_store(c, key, message ? message : "sts: refused", 1,
                           now + WR_STS_NEGATIVE_TTL, now);
}

size_t wr_sts_cache_size(wr_sts_cache *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
