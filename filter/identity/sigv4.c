/*
 * sigv4.c - AWS Signature Version 4 (header form). Rules and choices: sigv4.h.
 */
#include "identity/sigv4.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* ---------------------------------------------------------------- byte classes */

static int is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static int is_tchar(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return c - 'a' + 10;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = lower((unsigned char)*a), y = lower((unsigned char)*b);
        if (x != y || !x)
            return (int)x - (int)y;
    }
}

/* 1 when s is 1..max bytes, each accepted by ok(). */
static int all_of(const char *s, size_t max, int (*ok)(unsigned char))
{
    size_t n = 0;
    if (!s || !*s)
        return 0;
    for (; s[n]; n++)
        if (n >= max || !ok((unsigned char)s[n]))
            return 0;
    return 1;
}

static int scope_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

static int visible_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

static int hash_char(unsigned char c)
{
    return is_alnum(c) || c == '-';
}

/* ---------------------------------------------------------------- encoding */

/*
 * Appends s[0..n) URI-encoded: unreserved bytes kept, '/' kept when keep_slash, valid %XX
 * escapes kept verbatim when keep_escapes, everything else %XX upper-case.
 */
static int append_encoded(wr_buf *b, const unsigned char *s, size_t n, int keep_slash,
                          int keep_escapes)
{
    static const char digits[] = "0123456789ABCDEF";
    if (wr_buf_reserve(b, n))
        return WEIR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            if (wr_buf_append(b, &c, 1))
                return WEIR_ENOMEM;
        } else if (keep_escapes && c == '%' && i + 2 < n && is_hex(s[i + 1]) &&
                   is_hex(s[i + 2])) {
            if (wr_buf_append(b, s + i, 3))
                return WEIR_ENOMEM;
            i += 2;
        } else {
            char e[3] = {'%', digits[c >> 4], digits[c & 15]};
            if (wr_buf_append(b, e, 3))
                return WEIR_ENOMEM;
        }
    }
    return 0;
}

/* Percent-decodes s[0..n) into out (n bytes suffice); invalid escapes stay literal. */
static size_t pct_decode(unsigned char *out, const unsigned char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            out[o++] = (unsigned char)(hex_val(s[i + 1]) << 4 | hex_val(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

/* ---------------------------------------------------------------- canonical URI */

typedef struct seg {
    const char *p;
    size_t n;
} seg;

int wr_sigv4_canonical_uri(wr_buf *b, const char *path, bool normalize, bool double_encode)
{
    if (!path)
        path = "";
    size_t len = strlen(path);
    int keep = !double_encode;
    if (len == 0)
        return wr_buf_puts(b, "/");
    if (!normalize)
        return append_encoded(b, (const unsigned char *)path, len, 1, keep);

    /* botocore remove_dot_segments: drop "" and ".", ".." pops, then re-join. */
    size_t max = 1;
    for (size_t i = 0; i < len; i++)
        max += path[i] == '/';
    seg *segs = wr_calloc(max, sizeof *segs);
    if (!segs)
        return WEIR_ENOMEM;
    size_t ns = 0;
    const char *p = path, *end = path + len;
    for (;;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (!q)
            q = end;
        size_t n = (size_t)(q - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (ns)
                ns--;
        } else {
            segs[ns].p = p;
            segs[ns].n = n;
            ns++;
        }
        if (q == end)
            break;
        p = q + 1;
    }
    int rc = 0;
    if (path[0] == '/')
        rc = wr_buf_puts(b, "/");
    for (size_t i = 0; i < ns && !rc; i++) {
        if (i)
            rc = wr_buf_puts(b, "/");
        if (!rc)
            rc = append_encoded(b, (const unsigned char *)segs[i].p, segs[i].n, 0, keep);
    }
    if (!rc && ns && path[len - 1] == '/')
        rc = wr_buf_puts(b, "/");
    if (!rc && b->len == 0)
        rc = wr_buf_puts(b, "/");
    free(segs);
    return rc ? WEIR_ENOMEM : 0;
}

/* ---------------------------------------------------------------- canonical query */

typedef struct qpair {
    char *name, *value;
} qpair;

static int qpair_cmp(const void *a, const void *b)
{
    const qpair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Decodes then re-encodes s[0..n) into a new string. */
static char *requote(const char *s, size_t n)
{
    unsigned char *tmp = wr_malloc(n ? n : 1);
    if (!tmp)
        return NULL;
    size_t dn = pct_decode(tmp, (const unsigned char *)s, n);
    wr_buf b;
    wr_buf_init(&b);
    int rc = append_encoded(&b, tmp, dn, 0, 0);
    if (!rc)
        rc = wr_buf_append(&b, "", 0); /* make sure data is allocated and terminated */
    free(tmp);
    if (rc) {
        wr_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int canonical_query(wr_buf *b, const char *query)
{
    if (!query || !*query)
        return 0;
    size_t len = strlen(query), max = 1;
    for (size_t i = 0; i < len; i++)
        max += query[i] == '&';
    qpair *pairs = wr_calloc(max, sizeof *pairs);
    if (!pairs)
        return WEIR_ENOMEM;
    size_t np = 0;
    int rc = 0;
    const char *p = query, *end = query + len;
    while (!rc) {
        const char *q = memchr(p, '&', (size_t)(end - p));
        if (!q)
            q = end;
        if (q > p) {
            const char *eq = memchr(p, '=', (size_t)(q - p));
            const char *vs = eq ? eq + 1 : q;
            pairs[np].name = requote(p, (size_t)((eq ? eq : q) - p));
            pairs[np].value = requote(vs, (size_t)(q - vs));
            np++;
            if (!pairs[np - 1].name || !pairs[np - 1].value)
                rc = WEIR_ENOMEM;
        }
        if (q == end)
            break;
        p = q + 1;
    }
    if (!rc) {
        qsort(pairs, np, sizeof *pairs, qpair_cmp);
        for (size_t i = 0; i < np && !rc; i++)
            rc = wr_buf_printf(b, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);
    }
    for (size_t i = 0; i < np; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return rc ? WEIR_ENOMEM : 0;
}

/* ---------------------------------------------------------------- headers */

static const char *const unsigned_headers[] = {
    "connection",        "expect",  "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te",                "trailer", "transfer-encoding", "upgrade",      "user-agent",
    "x-amzn-trace-id",
};

static const char *const managed_headers[] = {
    "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
};

int wr_sigv4_is_managed_header(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < WR_ARRAY_LEN(managed_headers); i++)
        if (!ascii_casecmp(name, managed_headers[i]))
            return 1;
    return 0;
}

static int is_unsigned_header(const char *lname)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(unsigned_headers); i++)
        if (!strcmp(lname, unsigned_headers[i]))
            return 1;
    return 0;
}

typedef struct hent {
    char *name;  /* lower-case */
    char *value; /* trimmed, collapsed */
    size_t order;
} hent;

static int hent_cmp(const void *a, const void *b)
{
    const hent *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
    char *d = wr_strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            *p = (char)lower((unsigned char)*p);
    return d;
}

/* Trims SP/HTAB and collapses inner runs to one SP. */
static char *canonical_value(const char *v)
{
    char *d = wr_malloc(strlen(v) + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    int pending = 0;
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            pending = o > 0;
        } else {
            if (pending)
                d[o++] = ' ';
            pending = 0;
            d[o++] = *p;
        }
    }
    d[o] = '\0';
    return d;
}

/* 0 when v is a header value we can sign: no CR, LF or other C0 control but HTAB, no DEL. */
static int value_ok(const char *v, size_t max)
{
    size_t n = 0;
    for (; v[n]; n++) {
        unsigned char c = (unsigned char)v[n];
        if (n >= max || (c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- crypto */

static int hmac256(unsigned char out[32], const void *key, size_t klen, const void *msg,
                   size_t mlen)
{
    unsigned int olen = 0;
    if (klen > 1024 || !HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) ||
        olen != 32)
        return WEIR_EINTERNAL;
    return 0;
}

static int sha256_hex(char out[65], const void *msg, size_t n)
{
    unsigned char md[32];
    unsigned int mlen = 0;
    if (!EVP_Digest(msg ? msg : "", n, md, &mlen, EVP_sha256(), NULL) || mlen != 32)
        return WEIR_EINTERNAL;
    wr_hex(out, md, 32);
    return 0;
}

int wr_sigv4_signing_key(unsigned char key[32], const char *secret, const char *date8,
                         const char *region, const char *service)
{
    if (!key || !secret || !date8 || !region || !service)
        return WEIR_EINVAL;
    size_t sl = strlen(secret);
    if (sl == 0 || sl > 256)
        return WEIR_EINVAL;
    unsigned char k0[4 + 256], k1[32], k2[32], k3[32];
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl);
    int rc = hmac256(k1, k0, 4 + sl, date8, strlen(date8));
    if (!rc)
        rc = hmac256(k2, k1, 32, region, strlen(region));
    if (!rc)
        rc = hmac256(k3, k2, 32, service, strlen(service));
    if (!rc)
        rc = hmac256(key, k3, 32, "aws4_request", 12);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    OPENSSL_cleanse(k3, sizeof k3);
    if (rc)
        OPENSSL_cleanse(key, 32);
    return rc;
}

/* ---------------------------------------------------------------- public */

void wr_sigv4_params_init(wr_sigv4_params *p, const char *region, const char *service,
                          time_t timestamp)
{
    memset(p, 0, sizeof *p);
    p->region = region;
    p->service = service;
    p->timestamp = timestamp;
    p->normalize_path = true;
    p->double_uri_encode = true;
}

void wr_sigv4_result_free(wr_sigv4_result *r)
{
    if (!r)
        return;
    free(r->canonical_request);
    free(r->string_to_sign);
    free(r->credential_scope);
    free(r->signed_headers);
    free(r->authorization);
    for (size_t i = 0; i < r->n_set_headers; i++) {
        free(r->set_headers[i].name);
        free(r->set_headers[i].value);
    }
    free(r->set_headers);
    memset(r, 0, sizeof *r);
}

static int add_set_header(wr_sigv4_result *r, const char *name, const char *value)
{
    wr_sigv4_out_header *h = &r->set_headers[r->n_set_headers];
    h->name = wr_strdup(name);
    h->value = wr_strdup(value);
    r->n_set_headers++;
    return (h->name && h->value) ? 0 : WEIR_ENOMEM;
}

static int add_hent(hent *h, size_t *n, const char *lname, const char *value)
{
    h[*n].name = wr_strdup(lname);
    h[*n].value = canonical_value(value);
    h[*n].order = *n;
    (*n)++;
    return (h[*n - 1].name && h[*n - 1].value) ? 0 : WEIR_ENOMEM;
}

static int fail(weir_error *err, int code, const char *what)
{
    return wr_error_set(err, code, "sigv4", 0, 0, "sigv4: %s", what);
}

static int validate(const wr_sigv4_request *req, const wr_sigv4_credentials *cred,
                    const wr_sigv4_params *pr, weir_error *err)
{
    if (!req || !cred || !pr)
        return fail(err, WEIR_EINVAL, "request, credentials and params are required");
    if (!all_of(req->method, 32, is_tchar))
        return fail(err, WEIR_EINVAL, "method must be a 1-32 byte HTTP token");
    const char *path = req->path ? req->path : "";
    size_t plen = strlen(path);
    if (plen > WR_SIGV4_MAX_PATH)
        return fail(err, WEIR_ELIMIT, "path longer than 16 KiB");
    if (plen && path[0] != '/')
        return fail(err, WEIR_EINVAL, "path must start with '/'");
    if (strpbrk(path, "?#") || !value_ok(path, WR_SIGV4_MAX_PATH) || strchr(path, '\t'))
        return fail(err, WEIR_EINVAL, "path contains '?', '#' or a control character");
    if (req->query) {
        if (strlen(req->query) > WR_SIGV4_MAX_QUERY)
            return fail(err, WEIR_ELIMIT, "query longer than 64 KiB");
        if (strchr(req->query, '#') || !value_ok(req->query, WR_SIGV4_MAX_QUERY) ||
            strchr(req->query, '\t'))
            return fail(err, WEIR_EINVAL, "query contains '#' or a control character");
    }
    if (req->n_headers > WR_SIGV4_MAX_HEADERS)
        return fail(err, WEIR_ELIMIT, "more than 256 headers");
    if (req->n_headers && !req->headers)
        return fail(err, WEIR_EINVAL, "headers is NULL");
    for (size_t i = 0; i < req->n_headers; i++) {
        const wr_sigv4_header *h = &req->headers[i];
        if (!all_of(h->name, WR_SIGV4_MAX_NAME, is_tchar))
            return wr_error_set(err, WEIR_EINVAL, "sigv4", 0, 0,
                                "sigv4: header %zu: name must be a 1-256 byte HTTP token", i);
        if (h->value && strlen(h->value) > WR_SIGV4_MAX_VALUE)
            return wr_error_set(err, WEIR_ELIMIT, "sigv4", 0, 0,
                                "sigv4: header %zu: value longer than 16 KiB", i);
        if (!h->value || !value_ok(h->value, WR_SIGV4_MAX_VALUE))
            return wr_error_set(err, WEIR_EINVAL, "sigv4", 0, 0,
                                "sigv4: header %zu: value missing or contains CR, LF or "
                                "another control character",
                                i);
    }
    if (req->host && (!all_of(req->host, 255, visible_char)))
        return fail(err, WEIR_EINVAL, "host must be 1-255 visible ASCII bytes");
    if (req->payload_len && !req->payload && !req->payload_hash)
        return fail(err, WEIR_EINVAL, "payload is NULL but payload_len is not 0");
    if (req->payload_hash && !all_of(req->payload_hash, 128, hash_char))
        return fail(err, WEIR_EINVAL, "payload_hash must be 1-128 of [A-Za-z0-9-]");
    if (!all_of(cred->access_key_id, 128, is_alnum))
        return fail(err, WEIR_EINVAL, "access key id must be 1-128 letters or digits");
    if (!all_of(cred->secret_access_key, 256, visible_char))
        return fail(err, WEIR_EINVAL, "secret access key must be 1-256 visible ASCII bytes");
    if (cred->session_token && *cred->session_token &&
        !all_of(cred->session_token, WR_SIGV4_MAX_TOKEN, visible_char))
        return fail(err, WEIR_EINVAL, "session token must be 1-16384 visible ASCII bytes");
    if (!all_of(pr->region, 64, scope_char))
        return fail(err, WEIR_EINVAL, "region must be 1-64 of [A-Za-z0-9._-]");
    if (!all_of(pr->service, 64, scope_char))
        return fail(err, WEIR_EINVAL, "service must be 1-64 of [A-Za-z0-9._-]");
    return 0;
}

int wr_sigv4_sign(const wr_sigv4_request *req, const wr_sigv4_credentials *cred,
                  const wr_sigv4_params *pr, wr_sigv4_result *out, weir_error *err)
{
    if (!out)
        return fail(err, WEIR_EINVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    int rc = validate(req, cred, pr, err);
    if (rc)
        return rc;

    /* Date. */
    struct tm tm;
    if (!gmtime_r(&pr->timestamp, &tm) || tm.tm_year + 1900 < 1970 ||
        tm.tm_year + 1900 > 9999)
        return fail(err, WEIR_EINVAL, "timestamp out of range (1970-9999)");
    char date8[9];
    if (strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16 ||
        strftime(date8, sizeof date8, "%Y%m%d", &tm) != 8)
        return fail(err, WEIR_EINTERNAL, "cannot format the timestamp");

    /* Payload hash. */
    if (req->payload_hash)
        snprintf(out->payload_hash, sizeof out->payload_hash, "%s", req->payload_hash);
    else if (sha256_hex(out->payload_hash, req->payload, req->payload_len))
        return fail(err, WEIR_EINTERNAL, "SHA-256 failed");

    const char *token =
        (cred->session_token && *cred->session_token) ? cred->session_token : NULL;

    /* Headers: the caller's (minus unsigned and managed), host, and ours. */
    hent *h = wr_calloc(req->n_headers + 4, sizeof *h);
    out->set_headers = wr_calloc(5, sizeof *out->set_headers);
    size_t nh = 0, n_host = 0;
    wr_buf cr, sts, sh, scope, auth;
    wr_buf_init(&cr);
    wr_buf_init(&sts);
    wr_buf_init(&sh);
    wr_buf_init(&scope);
    wr_buf_init(&auth);
    char cr_hash[65];
    unsigned char key[32], sig[32];
    if (!h || !out->set_headers) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < req->n_headers && !rc; i++) {
        char *ln = lower_dup(req->headers[i].name);
        if (!ln) {
            rc = WEIR_ENOMEM;
            break;
        }
        if (!is_unsigned_header(ln) && !wr_sigv4_is_managed_header(ln)) {
            n_host += !strcmp(ln, "host");
            rc = add_hent(h, &nh, ln, req->headers[i].value);
        }
        free(ln);
    }
    if (rc) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if (n_host > 1) {
        rc = fail(err, WEIR_EINVAL, "more than one Host header");
        goto done;
    }
    if (n_host == 0) {
        if (!req->host) {
            rc = fail(err, WEIR_EINVAL, "no Host header and no host given");
            goto done;
        }
        rc = add_hent(h, &nh, "host", req->host);
        if (!rc)
            rc = add_set_header(out, "Host", req->host);
    }
    if (!rc)
        rc = add_hent(h, &nh, "x-amz-date", out->amz_date);
    if (!rc && pr->sign_body)
        rc = add_hent(h, &nh, "x-amz-content-sha256", out->payload_hash);
    if (!rc && token && !pr->omit_session_token)
        rc = add_hent(h, &nh, "x-amz-security-token", token);
    if (rc) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    qsort(h, nh, sizeof *h, hent_cmp);

    /* Canonical request. */
    rc = wr_buf_printf(&cr, "%s\n", req->method);
    if (!rc)
        rc = wr_sigv4_canonical_uri(&cr, req->path, pr->normalize_path, pr->double_uri_encode);
    if (!rc)
        rc = wr_buf_puts(&cr, "\n");
    if (!rc)
        rc = canonical_query(&cr, req->query);
    if (!rc)
        rc = wr_buf_puts(&cr, "\n");
    for (size_t i = 0; i < nh && !rc; i++) {
        int first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
        int last = i + 1 == nh || strcmp(h[i].name, h[i + 1].name) != 0;
        if (first) {
            rc = wr_buf_printf(&cr, "%s:", h[i].name);
            if (!rc)
                rc = wr_buf_printf(&sh, "%s%s", i ? ";" : "", h[i].name);
        } else {
            rc = wr_buf_puts(&cr, ",");
        }
        if (!rc)
            rc = wr_buf_puts(&cr, h[i].value);
        if (!rc && last)
            rc = wr_buf_puts(&cr, "\n");
    }
    if (!rc)
        rc = wr_buf_printf(&cr, "\n%s\n%s", sh.data ? sh.data : "", out->payload_hash);
    if (rc || sh.oom || !sh.data) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    out->signed_headers = sh.data; /* ownership moves */
    wr_buf_init(&sh);

    /* String to sign. */
    if (sha256_hex(cr_hash, cr.data, cr.len)) {
        rc = fail(err, WEIR_EINTERNAL, "SHA-256 failed");
        goto done;
    }
    if (wr_buf_printf(&scope, "%s/%s/%s/aws4_request", date8, pr->region, pr->service)) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    out->credential_scope = scope.data;
    wr_buf_init(&scope);
    if (wr_buf_printf(&sts, SIGV4_ALGORITHM "\n%s\n%s\n%s", out->amz_date,
                      out->credential_scope, cr_hash)) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }

    /* Signature. */
    rc = wr_sigv4_signing_key(key, cred->secret_access_key, date8, pr->region, pr->service);
    if (!rc)
        rc = hmac256(sig, key, sizeof key, sts.data, sts.len);
    OPENSSL_cleanse(key, sizeof key);
    if (rc) {
        rc = fail(err, WEIR_EINTERNAL, "HMAC-SHA256 failed");
        goto done;
    }
    wr_hex(out->signature, sig, sizeof sig);

    if (wr_buf_printf(&auth, SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                      cred->access_key_id, out->credential_scope, out->signed_headers,
                      out->signature)) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    out->authorization = auth.data;
    wr_buf_init(&auth);

    rc = add_set_header(out, "Authorization", out->authorization);
    if (!rc)
        rc = add_set_header(out, "X-Amz-Date", out->amz_date);
    if (!rc && pr->sign_body)
        rc = add_set_header(out, "X-Amz-Content-SHA256", out->payload_hash);
    if (!rc && token)
        rc = add_set_header(out, "X-Amz-Security-Token", token);
    if (rc) {
        rc = fail(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    out->canonical_request = cr.data;
    out->string_to_sign = sts.data;
    wr_buf_init(&cr);
    wr_buf_init(&sts);

done:
    if (h) {
        for (size_t i = 0; i < nh; i++) {
            free(h[i].name);
            free(h[i].value);
        }
        free(h);
    }
    wr_buf_free(&cr);
    wr_buf_free(&sts);
    wr_buf_free(&sh);
    wr_buf_free(&scope);
    wr_buf_free(&auth);
    if (rc)
        wr_sigv4_result_free(out);
    return rc;
}
