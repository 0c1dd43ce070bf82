/*
 * identity.c - the caller of a request, per listener (identity.h, docs/identity.md).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "identity/jwt.h"
#include "identity/sigv4.h"
#include "identity/sts.h"
#include "sidecar/sts_verify.h"
#include "sidecar/identity.h"
#include "sidecar/log.h"

static int who_fail(wr_sc_who *w, int status, const char *msg)
{
    w->status = status;
    snprintf(w->message, sizeof w->message, "%s", msg);
    return 0;
}

/* An ARN a header may carry: printable ASCII without spaces, "arn:" prefix, bounded. */
static int arn_shape_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 12 || n >= WR_PRINCIPAL_MAX || strncmp(s, "arn:", 4) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int from_header(wr_sc_listener *L, wr_http_req *hr, wr_sc_who *w)
{
    const wr_sc_identity *id = &L->cfg->identity;
    const char *name = id->header ? id->header : "x-weir-principal";
    const char *v = wr_http_req_header(hr, name);
    const char *ip = wr_http_req_peer_ip(hr);
    if (!wr_sc_cidr_match(id->trusted, id->ntrusted, ip)) {
        char m[200];
        snprintf(m, sizeof m, "%s from an untrusted address: only the configured front proxies "
                              "may name the caller",
                 v ? "a principal header" : "a request");
        return who_fail(w, v ? 403 : 401, m);
    }
    if (!v)
        return who_fail(w, 401, "no caller identity: the front proxy did not set the principal "
                                "header");
    if (!arn_shape_ok(v))
        return who_fail(w, 403, "the principal header does not hold an ARN");
    snprintf(w->principal, sizeof w->principal, "%s", v);
    return 0;
}

/* The caller's token: the configured header, else Authorization: Bearer, api-key,
   x-weir-identity-token. NULL when there is none. */
static const char *token_of(const wr_sc_identity *id, wr_http_req *hr, size_t *len)
{
    const char *t = NULL;
    if (id->token_header) {
        t = wr_http_req_header(hr, id->token_header);
    } else {
        t = wr_http_req_header(hr, "authorization");
        if (t && strncasecmp(t, "Bearer ", 7) != 0)
            t = NULL;
        if (!t)
            t = wr_http_req_header(hr, "api-key");
        if (!t)
            t = wr_http_req_header(hr, "x-weir-identity-token");
    }
    if (t && strncasecmp(t, "Bearer ", 7) == 0)
        t += 7;
    while (t && *t == ' ')
        t++;
    if (!t || !*t)
        return NULL;
    *len = strlen(t);
    return t;
}

static int from_jwt(wr_sc_listener *L, wr_http_req *hr, wr_sc_who *w)
{
    const wr_sc_identity *id = &L->cfg->identity;
    size_t len = 0;
    const char *tok = token_of(id, hr, &len);
    if (!tok)
        return who_fail(w, 401, "no caller identity: send a bearer token (JWT)");
    const char *aud[65];
    size_t na = id->naudiences < 64 ? id->naudiences : 64;
    for (size_t i = 0; i < na; i++)
        aud[i] = id->audiences[i];
    aud[na] = NULL;
    wr_jwt_rules rules = WR_JWT_RULES_INIT;
    rules.issuer = id->issuer;
    rules.audiences = aud;
    rules.leeway_seconds = (int)id->leeway_seconds;
    json_t *claims = NULL;
    weir_error err = {0};
    if (wr_jwt_verify_source(L->sc->ups[L->index].jwks, tok, len, &rules, &claims, &err) != 0) {
        char m[300];
        snprintf(m, sizeof m, "the bearer token was refused: %s", err.text);
        return who_fail(w, 401, m);
    }
    wr_jwt_map_entry table[1024];
    size_t nt = id->nprincipals < 1024 ? id->nprincipals : 1024;
    for (size_t i = 0; i < nt; i++)
        table[i] = (wr_jwt_map_entry){id->principals[i].name, id->principals[i].model};
    wr_jwt_map map = {WR_JWT_CLAIM_SUB, nt ? table : NULL, nt, id->principal_template};
    if (id->claim && !strcmp(id->claim, "oid"))
        map.claim = WR_JWT_CLAIM_OID;
    else if (id->claim && (!strcmp(id->claim, "appid") || !strcmp(id->claim, "azp")))
        map.claim = WR_JWT_CLAIM_APPID;
    else if (id->claim && !strcmp(id->claim, "roles"))
        map.claim = WR_JWT_CLAIM_ROLES;
    int rc = wr_jwt_principal(claims, &map, w->principal, sizeof w->principal, &err);
    json_decref(claims);
    if (rc != 0) {
        char m[300];
        snprintf(m, sizeof m, "the token's caller has no principal here: %s", err.text);
        w->principal[0] = 0;
        return who_fail(w, 403, m);
    }
    return 0;
}

static void sts_done(void *user, int ok, const char *arn, const char *message)
{
    wr_sc_who *w = user;
    w->op = NULL;
    w->pending = 0;
    if (ok)
        snprintf(w->principal, sizeof w->principal, "%s", arn);
    else
        who_fail(w, 401, message && *message ? message : "STS refused the caller's token");
    w->done(w->user, w);
}

static int from_sts(wr_sc_listener *L, wr_http_req *hr, wr_sc_who *w)
{
    const wr_sc_identity *id = &L->cfg->identity;
    size_t len = 0;
    const char *tok = token_of(id, hr, &len);
    if (!tok)
        return who_fail(w, 401, "no caller identity: send a presigned sts:GetCallerIdentity "
                                "token (k8s-aws-v1.)");
    wr_sts_rules rules = {0};
    rules.cluster_id = id->cluster_id;
    rules.endpoint = id->sts_endpoint;
    rules.allow_loopback_http = id->sts_endpoint && strncmp(id->sts_endpoint, "http://", 7) == 0;
    if (id->token_max_age_seconds) {
        rules.ignore_expires = true;
        rules.max_age_seconds = id->token_max_age_seconds;
    }
    wr_sts_call call;
    weir_error err = {0};
    if (wr_sts_token_parse(tok, len, &rules, &call, &err) != 0) {
        char m[300];
        snprintf(m, sizeof m, "the STS token was refused: %s", err.text);
        return who_fail(w, 401, m);
    }
    wr_sts_cache *cache = L->sc->ups[L->index].sts_cache;
    char msg[200] = "";
    wr_sts_hit hit = wr_sts_cache_get(cache, call.cache_key, time(NULL), w->principal,
                                      sizeof w->principal, msg, sizeof msg);
    if (hit == WR_STS_HIT) {
        wr_sts_call_free(&call);
        return 0;
    }
    if (hit == WR_STS_REFUSED) {
        wr_sts_call_free(&call);
        return who_fail(w, 401, msg[0] ? msg : "STS refused the caller's token");
    }
    wr_sts_verify_options opt = {0, cache};
    wr_sts_verify *v = NULL;
    w->pending = 1;
    int rc = wr_sts_verify_start(L->worker->up, &call, &opt, sts_done, w, &v, &err);
    wr_sts_call_free(&call);
    if (rc != 0) {
        w->pending = 0;
        return who_fail(w, 503, "weir could not reach STS to check the caller");
    }
    w->op = v;
    return 0;
}

void wr_sc_identify_cancel(wr_sc_who *who)
{
    if (who && who->op) {
        wr_sts_verify_cancel(who->op);
        who->op = NULL;
        who->pending = 0;
    }
}

/* A response body into a wr_buf, at most 1 MiB (over it, curl fails the transfer). */
static size_t collect(char *ptr, size_t size, size_t n, void *user)
{
    wr_buf *b = user;
    size_t len = size * n;
    if (b->len + len > 1024 * 1024)
        return 0;
    wr_buf_append(b, ptr, len);
    return b->oom ? 0 : len;
}

/* libcurl fetch for JWKS URLs (the library takes the fetcher from its caller). */
static int jwks_fetch(void *ctx, const char *url, size_t max_bytes, int timeout_seconds,
                      wr_buf *body, weir_error *err)
{
    (void)ctx;
    CURL *c = curl_easy_init();
    if (!c)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "jwks: out of memory");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_seconds);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)timeout_seconds);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)max_bytes);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cr != CURLE_OK)
        return wr_error_set(err, WEIR_EIO, NULL, 0, 0, "jwks: fetch failed: %s",
                            curl_easy_strerror(cr));
    if (status != 200)
        return wr_error_set(err, WEIR_EIO, NULL, 0, 0, "jwks: HTTP %ld", status);
    return 0;
}

int wr_sc_identity_init(wr_sc *sc, size_t i, weir_error *err)
{
    const wr_sc_identity *id = &sc->cfg->up[i].identity;
    wr_sc_upstate *st = &sc->ups[i];
    if (id->source == WR_ID_JWT) {
        wr_jwks_source_opts o = WR_JWKS_SOURCE_OPTS_INIT;
        o.path = id->jwks_file;
        o.url = id->jwks_url;
        o.fetch = jwks_fetch;
        o.refresh_seconds = (int)id->jwks_refresh_seconds;
        wr_jwks_source *src = NULL;
        int rc = wr_jwks_source_new(&src, &o, err);
        if (rc != 0)
            return rc;
        st->jwks = src;
    } else if (id->source == WR_ID_STS) {
        wr_sts_cache *c = NULL;
        int rc = wr_sts_cache_new(&c, 0, err);
        if (rc != 0)
            return rc;
        st->sts_cache = c;
    }
    return 0;
}

void wr_sc_identity_free(wr_sc_upstate *st)
{
    wr_jwks_source_free(st->jwks);
    st->jwks = NULL;
    wr_sts_cache_free(st->sts_cache);
    st->sts_cache = NULL;
}

int wr_sc_identify(wr_sc_listener *L, wr_http_req *hr, wr_sc_who *who,
                   void (*done)(void *user, wr_sc_who *who), void *user)
{
    memset(who, 0, sizeof *who);
    who->done = done;
    who->user = user;
    const wr_sc_identity *id = &L->cfg->identity;
    switch (id->source) {
    case WR_ID_STATIC:
        if (L->cfg->principal)
            snprintf(who->principal, sizeof who->principal, "%s", L->cfg->principal);
        return 0;
    case WR_ID_WORKLOAD: {
        const char *arn = L->sc->ups[L->index].workload_arn;
        if (!arn)
            return who_fail(who, 403, "the sidecar's own role is not known");
        snprintf(who->principal, sizeof who->principal, "%s", arn);
        return 0;
    }
    case WR_ID_HEADER:
        return from_header(L, hr, who);
    case WR_ID_JWT:
        return from_jwt(L, hr, who);
    case WR_ID_STS:
        return from_sts(L, hr, who);
    }
    return who_fail(who, 403, "unknown identity source");
}

/* "Credential=AKID/DATE/REGION/..." inside an Authorization header. */
static void scope_region(const char *s, char *out, size_t cap)
{
    const char *c = strstr(s, "Credential=");
    if (!c)
        return;
    c += 11;
    const char *p = c;
    for (int slash = 0; *p && *p != ',' && *p != ' '; p++) {
        if (*p == '/' && ++slash == 2) {
            const char *r = p + 1;
            size_t n = strcspn(r, "/, ");
            if (n && n < cap && r[n] == '/') {
                memcpy(out, r, n);
                out[n] = 0;
            }
            return;
        }
    }
}

void wr_sc_caller_region(const char *authorization, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = 0;
    if (!authorization)
        return;
    if (strncmp(authorization, "AWS4-HMAC-SHA256 ", 17) == 0) {
        scope_region(authorization + 17, out, cap);
        return;
    }
    /* Bedrock API key: "Bearer bedrock-api-key-" + base64(presigned URL ...&X-Amz-Credential=
       AKID%2FDATE%2FREGION%2Fbedrock%2Faws4_request...) */
    static const char pre[] = "Bearer bedrock-api-key-";
    if (strncmp(authorization, pre, sizeof pre - 1) != 0)
        return;
    const char *b64 = authorization + sizeof pre - 1;
    size_t n = strlen(b64);
    if (n == 0 || n > 8192 || n % 4)
        return;
    unsigned char dec[6200];
    int m = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    if (m <= 0)
        return;
    dec[m] = 0;
    const char *c = strstr((const char *)dec, "X-Amz-Credential=");
    if (!c)
        return;
    c += 17;
    /* AKID%2FDATE%2FREGION%2F */
    const char *p1 = strstr(c, "%2F");
    const char *p2 = p1 ? strstr(p1 + 3, "%2F") : NULL;
    const char *p3 = p2 ? strstr(p2 + 3, "%2F") : NULL;
    if (p3 && (size_t)(p3 - (p2 + 3)) < cap && p3 > p2 + 3) {
        memcpy(out, p2 + 3, (size_t)(p3 - (p2 + 3)));
        out[p3 - (p2 + 3)] = 0;
    }
}

/* ------------------------------------------------------------------ workload */

/* sts:GetCallerIdentity signed with the upstream's credentials; the ARN into arn. */
static int caller_identity(const wr_sc_upstream *u, wr_creds *creds, char *arn, size_t cap,
                           weir_error *err)
{
    char ep[512], host[520];
    if (u->identity.sts_endpoint)
        snprintf(ep, sizeof ep, "%s", u->identity.sts_endpoint);
    else
        snprintf(ep, sizeof ep, "https://sts.%s.amazonaws.com%s", u->region,
                 strncmp(u->region, "cn-", 3) == 0 ? ".cn" : "");
    size_t el = strlen(ep);
    while (el && ep[el - 1] == '/')
        ep[--el] = 0;
    const char *h = strstr(ep, "://");
    snprintf(host, sizeof host, "%s", h ? h + 3 : ep);
    host[strcspn(host, "/")] = 0;
    static const char query[] = "Action=GetCallerIdentity&Version=2011-06-15";

    wr_creds_value cv;
    if (wr_creds_get(creds, &cv, err) != 0)
        return err->code ? err->code : WEIR_EIO;
    wr_sigv4_header sh[2] = {{"host", host}, {"accept", "application/xml"}};
    wr_sigv4_request req = {"GET", "/", query, NULL, sh, 2, NULL, 0, NULL};
    wr_sigv4_credentials sc = {cv.access_key_id, cv.secret_access_key,
                               cv.session_token[0] ? cv.session_token : NULL};
    const char *region = u->region;
    wr_sigv4_params sp;
    wr_sigv4_params_init(&sp, region, "sts", time(NULL));
    wr_sigv4_result sr;
    memset(&sr, 0, sizeof sr);
    int rc = wr_sigv4_sign(&req, &sc, &sp, &sr, err);
    wr_creds_value_clear(&cv);
    if (rc != 0)
        return rc;

    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    wr_buf body, line;
    wr_buf_init(&body);
    wr_buf_init(&line);
    hl = curl_slist_append(hl, "Accept: application/xml");
    for (size_t i = 0; i < sr.n_set_headers; i++) {
        if (strcasecmp(sr.set_headers[i].name, "host") == 0)
            continue;
        line.len = 0;
        wr_buf_printf(&line, "%s: %s", sr.set_headers[i].name, sr.set_headers[i].value);
        if (line.data)
            hl = curl_slist_append(hl, line.data);
    }
    wr_wipe(line.data, line.len);
    wr_buf_free(&line);
    wr_sigv4_result_free(&sr);
    char url[600];
    snprintf(url, sizeof url, "%s/?%s", ep, query);
    long status = 0;
    CURLcode cr = CURLE_FAILED_INIT;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
        cr = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(hl);
    if (cr != CURLE_OK) {
        wr_buf_free(&body);
        return wr_error_set(err, WEIR_EIO, NULL, 0, 0, "sts:GetCallerIdentity at %s failed: %s",
                            host, curl_easy_strerror(cr));
    }
    rc = wr_sts_parse_response((int)status, body.data ? body.data : "", body.len, arn, cap, NULL,
                               0, err);
    wr_buf_free(&body);
    return rc;
}

int wr_sc_workload_identity(wr_sc *sc, weir_error *err)
{
    for (size_t i = 0; i < sc->cfg->nup; i++) {
        const wr_sc_upstream *u = &sc->cfg->up[i];
        if (u->identity.source != WR_ID_WORKLOAD)
            continue;
        if (!sc->ups[i].creds)
            return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                                "upstream '%s': identity workload needs AWS credentials", u->name);
        char arn[WR_PRINCIPAL_MAX];
        int rc = caller_identity(u, sc->ups[i].creds, arn, sizeof arn, err);
        if (rc != 0)
            return rc;
        if (!(sc->ups[i].workload_arn = wr_strdup(arn)))
            return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
        wr_log(WR_LOG_INFO, "workload identity", "upstream", u->name, "principal", arn, NULL);
    }
    return 0;
}
