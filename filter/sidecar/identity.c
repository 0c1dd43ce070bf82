/*
 * identity.c - the caller of a request, per listener (identity.h, docs/identity.md).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

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

int wr_sc_identify(wr_sc_listener *L, wr_http_req *hr, wr_sc_who *who,
                   void (*done)(void *user, wr_sc_who *who), void *user)
{
    (void)done;
    (void)user;
    memset(who, 0, sizeof *who);
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
    default:
        return who_fail(who, 403, "this identity source is not available");
    }
}

void wr_sc_identify_cancel(wr_sc_listener *L, void *user)
{
    (void)L;
    (void)user;
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
