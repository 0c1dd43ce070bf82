/*
 * proxy.c - one request through the gate: route -> identity -> check the prompt -> audit ->
 * sign -> forward -> check the completion (whole or streamed) -> respond -> audit.
 *
 * Every decision is libweir's (weir_check, weir_stream via wr_rstream); this file only
 * moves bytes and answers in the provider's shape. A request's state lives in a px that
 * is freed by px_finish once the client's response is over (ended, aborted or the client
 * went away); the upstream transfer is cancelled then if still running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit/writer.h"
#include "identity/sigv4.h"
#include "providers/codec.h"
#include "providers/rstream.h"
#include "sidecar/identity.h"
#include "sidecar/log.h"
#include "sidecar/routes.h"
#include "sidecar/sidecar.h"

#define PX_MAX_UP_HEADERS 48
#define PX_MAX_RESP_HEADERS 48
#define PX_MAX_RESPONSE ((size_t)64 * 1024 * 1024) /* non-streamed completion body */
#define PX_SEP "\n\n"                                 /* between segments in one check */

typedef struct px {
    wr_sc_listener *L;
    wr_sc *sc;
    const wr_sc_upstream *ucfg;
    wr_sc_upstate *ust;
    wr_sc_up_metrics *m;
    wr_http_req *hr;
    wr_up_req *ur;
    weir_policy *pol;
    wr_route route;
    weir_context ctx;
    const char *model;      /* route.model or the deployment's model */
    wr_body body;
    wr_buf joined;          /* the prompt's segments as one text */
    size_t *seg_off;        /* start of segment i in joined */
    weir_result *prompt_res;
    wr_buf fwd;             /* redacted body, when changed */
    char *url;
    wr_http_header uh[PX_MAX_UP_HEADERS];
    size_t nuh;
    wr_buf uhstore;         /* strings of uh (offsets fixed up before sending) */
    double t0, t_gate, t_up0, t_ttfb;
    int up_status;
    wr_http_header rh[PX_MAX_RESP_HEADERS];
    size_t nrh;
    char *rhstore;
    char request_id[128];
    wr_buf resp;            /* non-streamed upstream body */
    int too_large;
    wr_rstream *rs;
    wr_buf out;
    int started;            /* client response started */
    int paused;
    wr_decision decision;
    int audited;            /* the call's record is written */
    weir_direction ctx_prompt_dir;
    char peer_ip[64];
    char *user_agent;
    wr_sc_who who;          /* the caller, once identified */
} px;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static void px_count(px *p, wr_decision d)
{
    atomic_fetch_add_explicit(&p->m->requests[p->route.op][d], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ lifecycle */

static void px_free(px *p)
{
    if (p->who.pending)
        wr_sc_identify_cancel(&p->who);
    if (p->ur)
        wr_up_cancel(p->ur);
    wr_body_free(&p->body);
    wr_buf_free(&p->joined);
    free(p->seg_off);
    weir_result_free(p->prompt_res);
    wr_buf_free(&p->fwd);
    free(p->url);
    wr_buf_free(&p->uhstore);
    free(p->rhstore);
    wr_buf_free(&p->resp);
    wr_rstream_free(p->rs);
    wr_buf_free(&p->out);
    weir_policy_unref(p->pol);
    free(p->user_agent);
    atomic_fetch_sub(&p->sc->metrics.in_flight, 1);
    free(p);
}

/* The client's response is over (or the client is gone): drop everything. */
static void px_finish(px *p)
{
    if (p->hr)
        wr_http_req_set_user(p->hr, NULL);
    p->hr = NULL;
    px_free(p);
}

/* ------------------------------------------------------------------ audit */

static const char *provider_event_source(const px *p)
{
    switch (p->ucfg->kind) {
    case WR_KIND_BEDROCK:
        return "bedrock.amazonaws.com";
    case WR_KIND_BEDROCK_MANTLE:
        return "bedrock-mantle.amazonaws.com";
    default:
        return "openai.azure.com";
    }
}

/*
 * The call's one audit record: the prompt's verdict (when the prompt was checked) and the
 * completion's (cr, when there is one). Returns 0, or -1 when it could not be written and
 * the trail is not fail-open: the caller refuses.
 */
static int px_audit(px *p, const weir_result *cr, const char *ctext, size_t clen,
                    const char *error_code, const char *error_message, long in_tok,
                    long out_tok)
{
    weir_audit *a = p->sc->audit;
    if (!a || p->audited)
        return 0;
    p->audited = 1;
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = wr_op_name(p->route.op);
    ev.event_source = provider_event_source(p);
    ev.aws_region = p->ucfg->region;
    ev.source_ip = p->peer_ip[0] ? p->peer_ip : NULL;
    ev.user_agent = p->user_agent;
    ev.principal = p->ctx.principal;
    ev.model = p->model && *p->model ? p->model : NULL;
    ev.request_id = p->request_id[0] ? p->request_id : NULL;
    ev.provider = p->ucfg->kind == WR_KIND_AZURE ? WEIR_PROVIDER_AZURE : WEIR_PROVIDER_BEDROCK;
    ev.direction = p->prompt_res ? p->ctx_prompt_dir : WEIR_COMPLETION;
    ev.upstream_status = p->up_status;
    ev.gate_ms = p->t_gate > 0 ? p->t_gate - p->t0 : now_ms() - p->t0;
    ev.upstream_ms = p->t_up0 > 0 ? now_ms() - p->t_up0 : 0;
    ev.input_tokens = in_tok;
    ev.output_tokens = out_tok;
    ev.error_code = error_code;
    ev.error_message = error_message;
    weir_error err = {0};
    if (weir_audit_record_call(a, &ev, p->prompt_res, p->joined.data, p->joined.len, cr, ctext,
                               clen, &err) == 0)
        return 0;
    atomic_fetch_add(&p->sc->metrics.audit_failures, 1);
    wr_log(WR_LOG_ERROR, "audit record not written", "upstream", p->ucfg->name, "error",
           err.text, NULL);
    return p->sc->cfg->audit.fail_open ? 0 : -1;
}

/* ------------------------------------------------------------------ answers */

static int is_openai_shape(const px *p)
{
    return p->ucfg->kind != WR_KIND_BEDROCK ||
           (p->route.codec && strcmp(p->route.codec->name, "bedrock.openai_chat") == 0);
}

/* Sends a reply built by a codec or by px_fail, then finishes the request. */
/* The call's request id: the upstream's when it answered, else one weir makes up. */
static const char *px_request_id(px *p)
{
    if (!p->request_id[0] && wr_audit_uuid(p->request_id) != 0)
        snprintf(p->request_id, sizeof p->request_id, "weir-%lld", (long long)time(NULL));
    return p->request_id;
}

static void px_send(px *p, int status, const char *ctype, const char *xname, const char *xval,
                    const char *body, size_t len, const char *action)
{
    wr_http_header h[5];
    size_t n = 0;
    const char *rid = px_request_id(p);
    const char *ridname = p->ucfg->kind == WR_KIND_AZURE ? "apim-request-id" : "x-amzn-RequestId";
    h[n++] = (wr_http_header){ridname, strlen(ridname), rid, strlen(rid)};
    h[n++] = (wr_http_header){"content-type", 12, ctype, strlen(ctype)};
    if (xname && xval)
        h[n++] = (wr_http_header){xname, strlen(xname), xval, strlen(xval)};
    if (action)
        h[n++] = (wr_http_header){"x-weir-action", 13, action, strlen(action)};
    if (p->hr)
        wr_http_respond(p->hr, status, h, n, body, len);
    p->hr = NULL;
    px_finish(p);
}

static const char *aws_code_for(int status)
{
    switch (status) {
    case 400: return "ValidationException";
    case 401: return "UnrecognizedClientException";
    case 403: return "AccessDeniedException";
    case 404: return "UnknownOperationException";
    case 405: return "UnknownOperationException";
    case 408: return "ModelTimeoutException";
    case 413: return "ValidationException";
    case 429: return "ThrottlingException";
    case 502: /* Bedrock has no gateway exceptions: the retryable one it does have */
    case 503:
    case 504: return "ServiceUnavailableException";
    default: return "InternalServerException";
    }
}

static const char *openai_code_for(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "invalid_api_key";
    case 403: return "access_denied";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "timeout";
    case 413: return "request_too_large";
    case 502: return "bad_gateway";
    case 503: return "service_unavailable";
    case 504: return "gateway_timeout";
    default: return "internal_error";
    }
}

/* An error in the provider's shape; audited; the request is finished. */
static void px_fail(px *p, int status, const char *message, wr_decision d)
{
    wr_buf b;
    wr_buf_init(&b);
    const char *xname = NULL, *xval = NULL;
    if (is_openai_shape(p)) {
        wr_openai_error(&b, status, openai_code_for(status),
                        status >= 500 ? "server_error" : "invalid_request_error", message, NULL,
                        NULL, 0);
        if (p->ucfg->kind != WR_KIND_AZURE) {
            xname = "x-amzn-ErrorType";
            xval = aws_code_for(status);
        }
    } else {
        xname = "x-amzn-ErrorType";
        xval = aws_code_for(status);
        wr_buf_puts(&b, "{\"message\":");
        wr_json_quote(&b, message, strlen(message));
        wr_buf_puts(&b, "}");
    }
    if (p->t_gate == 0)
        p->t_gate = now_ms();
    px_request_id(p);
    px_count(p, d);
    char code[32];
    snprintf(code, sizeof code, "%s", status == 403 ? "AccessDenied"
                                      : status == 401 ? "AuthenticationRequired" : "");
    if (!code[0])
        snprintf(code, sizeof code, "HTTP%d", status);
    if (px_audit(p, NULL, NULL, 0, code, message, -1, -1) != 0 && status != 503) {
        /* an unaudited refusal is still a refusal: answer it, but say the trail is down */
        wr_log(WR_LOG_ERROR, "refusal not audited", "upstream", p->ucfg->name, NULL);
    }
    wr_log(status >= 500 ? WR_LOG_WARN : WR_LOG_INFO, "request refused", "upstream",
           p->ucfg->name, "operation", wr_op_name(p->route.op), "status",
           status == 400 ? "400" : status == 404 ? "404" : status == 413 ? "413" : "error",
           "reason", message, NULL);
    px_send(p, status, "application/json", xname, xval, b.data ? b.data : "", b.len,
            wr_decision_name(d));
    wr_buf_free(&b);
}

/* A block (dir) or deny answered by the codec. */
static void px_codec_reply(px *p, const weir_result *r, weir_direction dir)
{
    const weir_finding *f = weir_result_decisive(r);
    int deny = f && (f->kind == WEIR_FINDING_ACCESS || f->kind == WEIR_FINDING_RESIDENCY);
    wr_buf b;
    wr_buf_init(&b);
    wr_reply rep = {0};
    const char *msg = weir_result_message(r);
    if (!msg)
        msg = f && f->message && *f->message ? f->message : "Blocked by policy";
    const char *rule = f && f->rule ? f->rule : "";
    int rc = deny ? p->route.codec->deny(&b, &rep, rule, msg)
                  : p->route.codec->block(&b, &rep, msg, rule, dir);
    if (rc != 0 || b.oom) {
        wr_buf_free(&b);
        px_fail(p, 500, "weir could not build its answer", WR_DEC_ERROR);
        return;
    }
    wr_decision d = deny ? WR_DEC_DENY : WR_DEC_BLOCK;
    px_send(p, rep.status, rep.content_type, rep.header_name, rep.header_value, b.data, b.len,
            wr_decision_name(d));
    wr_buf_free(&b);
}

/* ------------------------------------------------------------------ checking */

static void count_rules(px *p, const weir_result *r, int completion)
{
    size_t n = weir_result_finding_count(r);
    for (size_t i = 0; i < n; i++) {
        const weir_finding *f = weir_result_finding(r, i);
        if (f)
            wr_metrics_rule(&p->sc->metrics, f->rule, completion, f->action);
    }
}

/*
 * Joins the body's segments into one text (segments apart by PX_SEP) and checks it once:
 * one verdict, one audit record. On redact, the segments that hold a redacted span are
 * checked alone and written back.
 */
static int check_body(px *p, wr_body *b, weir_direction dir, weir_result **out, wr_buf *joined,
                      size_t **offs, weir_error *err)
{
    *out = NULL;
    size_t *off = calloc(b->nseg + 1, sizeof *off);
    if (!off)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < b->nseg; i++) {
        if (i)
            wr_buf_append(joined, PX_SEP, 2);
        off[i] = joined->len;
        wr_buf_append(joined, b->seg[i].text, b->seg[i].len);
    }
    off[b->nseg] = joined->len;
    *offs = off;
    if (joined->oom)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    weir_context c = p->ctx;
    c.direction = dir;
    int rc = weir_check(out, p->pol, &c, joined->data ? joined->data : "", joined->len, err);
    if (rc != 0)
        return rc;
    if (weir_result_action(*out) != WEIR_REDACT)
        return 0;
    size_t nf = weir_result_finding_count(*out);
    for (size_t i = 0; i < b->nseg; i++) {
        int hit = 0;
        for (size_t k = 0; k < nf && !hit; k++) {
            const weir_finding *f = weir_result_finding(*out, k);
            hit = f && f->kind == WEIR_FINDING_CONTENT && !f->monitor &&
                  f->action == WEIR_REDACT && f->start < off[i] + b->seg[i].len &&
                  f->end > off[i];
        }
        if (!hit)
            continue;
        weir_result *sr = NULL;
        rc = weir_check(&sr, p->pol, &c, b->seg[i].text, b->seg[i].len, err);
        if (rc != 0)
            return rc;
        size_t rl = 0;
        const char *rt = weir_result_text(sr, &rl);
        if (rt) {
            rc = wr_body_set(b, i, rt, rl);
        } else {
            /* the match needs more than this segment (it spans two, or a context word is
               in another): the joined check's spans are redacted here, never forwarded */
            wr_buf t;
            wr_buf_init(&t);
            size_t seg0 = off[i], seg1 = off[i] + b->seg[i].len, at = seg0;
            for (size_t k = 0; k < nf; k++) {
                const weir_finding *f = weir_result_finding(*out, k);
                if (!f || f->kind != WEIR_FINDING_CONTENT || f->monitor ||
                    f->action != WEIR_REDACT || f->end <= at || f->start >= seg1)
                    continue;
                size_t a = f->start > at ? f->start : at, e = f->end < seg1 ? f->end : seg1;
                wr_buf_append(&t, joined->data + at, a - at);
                wr_buf_puts(&t, "[REDACTED]");
                at = e;
            }
            wr_buf_append(&t, joined->data + at, seg1 - at);
            rc = t.oom ? WEIR_ENOMEM : wr_body_set(b, i, t.data ? t.data : "", t.len);
            wr_buf_free(&t);
        }
        weir_result_free(sr);
        if (rc != 0)
            return wr_error_set(err, rc, NULL, 0, 0, "could not write the redacted text back");
    }
    return 0;
}

/* ------------------------------------------------------------------ upstream request */

static const char *const fwd_bedrock[] = {"content-type", "accept", "user-agent", NULL};
static const char *const fwd_azure[] = {"content-type", "accept", "user-agent",
                                        "x-ms-client-request-id", "openai-beta", NULL};

static int allowed_request_header(const px *p, const char *name)
{
    const char *const *list = p->ucfg->kind == WR_KIND_AZURE ? fwd_azure : fwd_bedrock;
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(name, list[i]) == 0)
            return 1;
    if (p->ucfg->kind != WR_KIND_AZURE && strncasecmp(name, "x-amzn-bedrock-", 15) == 0)
        return 1;
    if (p->ucfg->kind == WR_KIND_AZURE &&
        (strncasecmp(name, "aoai-", 5) == 0 || strncasecmp(name, "x-ms-useragent", 14) == 0))
        return 1;
    return 0;
}

/* uh strings are NUL-terminated copies in uhstore; offsets stored until the store is final. */
static void add_uh(px *p, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (p->nuh >= PX_MAX_UP_HEADERS)
        return;
    size_t no = p->uhstore.len;
    wr_buf_append(&p->uhstore, name, nlen);
    wr_buf_append(&p->uhstore, "", 1);
    size_t vo = p->uhstore.len;
    wr_buf_append(&p->uhstore, value, vlen);
    wr_buf_append(&p->uhstore, "", 1);
    p->uh[p->nuh++] = (wr_http_header){(const char *)(uintptr_t)no, nlen,
                                       (const char *)(uintptr_t)vo, vlen};
}

static void fix_uh(px *p)
{
    for (size_t i = 0; i < p->nuh; i++) {
        p->uh[i].name = p->uhstore.data + (uintptr_t)p->uh[i].name;
        p->uh[i].value = p->uhstore.data + (uintptr_t)p->uh[i].value;
    }
}

static int build_upstream_request(px *p, const void *body, size_t blen, weir_error *err)
{
    const char *target = wr_http_req_target(p->hr);
    wr_buf u;
    wr_buf_init(&u);
    wr_buf_puts(&u, p->ucfg->endpoint);
    wr_buf_puts(&u, target);
    if (u.oom)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    p->url = u.data;

    size_t nh = wr_http_req_nheaders(p->hr);
    int have_ct = 0;
    for (size_t i = 0; i < nh; i++) {
        const wr_http_header *h = wr_http_req_header_at(p->hr, i);
        char name[64];
        if (!h || h->name_len >= sizeof name)
            continue;
        memcpy(name, h->name, h->name_len);
        name[h->name_len] = 0;
        if (!allowed_request_header(p, name))
            continue;
        if (strcasecmp(name, "content-type") == 0)
            have_ct = 1;
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        add_uh(p, name, h->name_len, h->value, h->value_len);
    }
    if (!have_ct)
        add_uh(p, "content-type", 12, "application/json", 16);

    if (p->ucfg->kind == WR_KIND_AZURE) {
        if (p->ust->api_key)
            add_uh(p, "api-key", 7, p->ust->api_key, strlen(p->ust->api_key));
        else if (p->ust->bearer) {
            wr_buf t;
            wr_buf_init(&t);
            wr_buf_printf(&t, "Bearer %s", p->ust->bearer);
            if (t.data)
                add_uh(p, "authorization", 13, t.data, t.len);
            wr_wipe(t.data, t.len);
            wr_buf_free(&t);
        }
        if (p->uhstore.oom)
            return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
        fix_uh(p);
        return 0;
    }

    /* Bedrock: SigV4 over host + the forwarded headers, with the sidecar's credentials. */
    wr_creds_value cv;
    if (!p->ust->creds)
        return wr_error_set(err, WEIR_EIO, NULL, 0, 0, "no AWS credentials for upstream '%s'",
                            p->ucfg->name);
    if (wr_creds_get(p->ust->creds, &cv, err) != 0)
        return err->code ? err->code : WEIR_EIO;
    add_uh(p, "host", 4, p->ust->host, strlen(p->ust->host));
    if (p->uhstore.oom) {
        wr_creds_value_clear(&cv);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    fix_uh(p);
    wr_sigv4_header sh[PX_MAX_UP_HEADERS];
    size_t ns = 0;
    for (size_t i = 0; i < p->nuh; i++)
        if (strcmp(p->uh[i].name, "user-agent") != 0)
            sh[ns++] = (wr_sigv4_header){p->uh[i].name, p->uh[i].value};
    const char *q = strchr(target, '?');
    char pathbuf[WR_SIGV4_MAX_PATH];
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    if (plen >= sizeof pathbuf) {
        wr_creds_value_clear(&cv);
        return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0, "request path too long to sign");
    }
    memcpy(pathbuf, target, plen);
    pathbuf[plen] = 0;
    wr_sigv4_request sreq = {"POST", pathbuf, q ? q + 1 : NULL, NULL, sh, ns, body, blen, NULL};
    wr_sigv4_credentials sc = {cv.access_key_id, cv.secret_access_key,
                               cv.session_token[0] ? cv.session_token : NULL};
    wr_sigv4_params sp;
    wr_sigv4_params_init(&sp, p->ucfg->region, p->ust->signing_name, time(NULL));
    wr_sigv4_result sr;
    memset(&sr, 0, sizeof sr);
    int rc = wr_sigv4_sign(&sreq, &sc, &sp, &sr, err);
    wr_creds_value_clear(&cv);
    if (rc != 0)
        return rc;
    /* re-add: the store may move, so rebuild offsets from scratch */
    wr_buf store = p->uhstore;
    wr_http_header keep[PX_MAX_UP_HEADERS];
    size_t nkeep = p->nuh;
    memcpy(keep, p->uh, sizeof keep);
    wr_buf_init(&p->uhstore);
    p->nuh = 0;
    for (size_t i = 0; i < nkeep; i++)
        add_uh(p, keep[i].name, keep[i].name_len, keep[i].value, keep[i].value_len);
    wr_wipe(store.data, store.len);
    wr_buf_free(&store);
    for (size_t i = 0; i < sr.n_set_headers; i++) {
        const char *n = sr.set_headers[i].name;
        if (strcasecmp(n, "host") == 0)
            continue;
        add_uh(p, n, strlen(n), sr.set_headers[i].value, strlen(sr.set_headers[i].value));
    }
    wr_sigv4_result_free(&sr);
    if (p->uhstore.oom)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    fix_uh(p);
    return 0;
}

/* ------------------------------------------------------------------ upstream response */

static int forward_response_header(const char *n, size_t len)
{
    static const char *const exact[] = {"content-type", "retry-after", "x-request-id",
                                        "apim-request-id", NULL};
    static const char *const pre[] = {"x-amzn-", "x-ms-", "x-ratelimit-", "openai-", NULL};
    for (size_t i = 0; exact[i]; i++)
        if (len == strlen(exact[i]) && strncasecmp(n, exact[i], len) == 0)
            return 1;
    for (size_t i = 0; pre[i]; i++)
        if (len > strlen(pre[i]) && strncasecmp(n, pre[i], strlen(pre[i])) == 0)
            return 1;
    return 0;
}

static void up_headers(void *user, int status, const wr_http_header *h, size_t n)
{
    px *p = user;
    p->up_status = status;
    p->t_ttfb = now_ms();
    wr_hist_observe(&p->m->ttfb, p->t_ttfb - p->t_up0);
    int cls = status / 100;
    atomic_fetch_add_explicit(&p->m->upstream_status[cls >= 1 && cls <= 5 ? cls : 0], 1,
                              memory_order_relaxed);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (forward_response_header(h[i].name, h[i].name_len))
            total += h[i].name_len + h[i].value_len + 2;
    p->rhstore = malloc(total + 1);
    char *s = p->rhstore;
    for (size_t i = 0; s && i < n && p->nrh < PX_MAX_RESP_HEADERS - 2; i++) {
        if (!forward_response_header(h[i].name, h[i].name_len))
            continue;
        memcpy(s, h[i].name, h[i].name_len);
        s[h[i].name_len] = 0;
        char *v = s + h[i].name_len + 1;
        memcpy(v, h[i].value, h[i].value_len);
        v[h[i].value_len] = 0;
        p->rh[p->nrh++] = (wr_http_header){s, h[i].name_len, v, h[i].value_len};
        if ((h[i].name_len == 16 && strncasecmp(h[i].name, "x-amzn-requestid", 16) == 0) ||
            (h[i].name_len == 15 && strncasecmp(h[i].name, "apim-request-id", 15) == 0) ||
            (h[i].name_len == 12 && strncasecmp(h[i].name, "x-request-id", 12) == 0 &&
             !p->request_id[0]))
            snprintf(p->request_id, sizeof p->request_id, "%.*s", (int)h[i].value_len,
                     h[i].value);
        s = v + h[i].value_len + 1;
    }
    if (p->route.stream && status >= 200 && status < 300 && p->hr) {
        weir_error err = {0};
        p->ctx.direction = WEIR_COMPLETION;
        if (wr_rstream_new(&p->rs, p->route.codec, p->pol, &p->ctx,
                           p->sc->cfg->max_hold_bytes, 0, &err) != 0) {
            wr_log(WR_LOG_ERROR, "cannot start the stream check", "upstream", p->ucfg->name,
                   "error", err.text, NULL);
            return; /* up_data sees rs == NULL and refuses */
        }
        static const char action[] = "stream";
        p->rh[p->nrh++] = (wr_http_header){"x-weir-action", 13, action, sizeof action - 1};
        wr_http_respond_start(p->hr, status, p->rh, p->nrh, -1);
        p->started = 1;
    }
}

static int stream_end_audit(px *p, const char *error_code, const char *error_message)
{
    const char *text = NULL;
    size_t len = 0;
    const weir_result *r = p->rs ? wr_rstream_result(p->rs, &text, &len) : NULL;
    long in = -1, out = -1;
    if (p->rs) {
        wr_rstream_usage(p->rs, &in, &out);
        unsigned long mh = wr_rstream_max_held(p->rs);
        unsigned long cur = atomic_load(&p->m->streams_held_max);
        while (mh > cur && !atomic_compare_exchange_weak(&p->m->streams_held_max, &cur, mh)) {
        }
    }
    if (r)
        count_rules(p, r, 1);
    return px_audit(p, r, text, len, error_code, error_message, in, out);
}

static int up_data(void *user, const char *data, size_t len)
{
    px *p = user;
    if (!p->hr)
        return -1;
    if (!p->started) {
        if (p->route.stream && p->up_status >= 200 && p->up_status < 300) {
            /* the stream check could not start: fail closed */
            p->up_status = 502;
            return -1;
        }
        if (p->resp.len + len > PX_MAX_RESPONSE) {
            p->too_large = 1;
            return -1;
        }
        wr_buf_append(&p->resp, data, len);
        return p->resp.oom ? -1 : 0;
    }
    weir_error err = {0};
    p->out.len = 0;
    int rc = wr_rstream_feed(p->rs, data, len, &p->out, &err);
    if (rc == 1) {
        /* the record first: the stream's ending is released only once it is written */
        px_count(p, WR_DEC_BLOCK);
        if (stream_end_audit(p, NULL, NULL) != 0) {
            wr_http_respond_abort(p->hr);
            p->hr = NULL;
            px_free(p);
            return -1;
        }
        if (p->out.len)
            wr_http_respond_write(p->hr, p->out.data, p->out.len);
        wr_http_respond_end(p->hr);
        p->hr = NULL;
        px_free(p); /* cancels the transfer: no more callbacks */
        return -1;
    }
    if (rc == 0 && p->out.len)
        wr_http_respond_write(p->hr, p->out.data, p->out.len);
    if (rc < 0) {
        wr_log(WR_LOG_WARN, "upstream stream malformed; response aborted", "upstream",
               p->ucfg->name, "error", err.text, NULL);
        stream_end_audit(p, "UpstreamStreamMalformed", err.text);
        px_count(p, WR_DEC_ERROR);
        wr_http_respond_abort(p->hr);
        p->hr = NULL;
        px_free(p); /* cancels the transfer: no more callbacks */
        return -1;
    }
    if (wr_http_req_full(p->hr)) {
        p->paused = 1;
        return 1;
    }
    return 0;
}

static wr_decision decision_of(weir_action a)
{
    switch (a) {
    case WEIR_LOG: return WR_DEC_LOG;
    case WEIR_REDACT: return WR_DEC_REDACT;
    case WEIR_BLOCK: return WR_DEC_BLOCK;
    default: return WR_DEC_ALLOW;
    }
}

/* A complete, non-streamed 2xx answer: check the completion, then respond. */
static void complete_response(px *p)
{
    wr_body b;
    wr_body_init(&b);
    weir_error err = {0};
    if (p->resp.len == 0 || wr_codec_load(&b, p->route.codec, WEIR_COMPLETION, p->resp.data,
                                          p->resp.len, PX_MAX_RESPONSE, &err) != 0) {
        wr_body_free(&b);
        wr_log(WR_LOG_WARN, "upstream answer unreadable; refused", "upstream", p->ucfg->name,
               "error", err.text, NULL);
        px_fail(p, 502, "weir could not read the upstream's answer, so it cannot check it",
                WR_DEC_ERROR);
        return;
    }
    weir_result *r = NULL;
    wr_buf joined;
    wr_buf_init(&joined);
    size_t *off = NULL;
    int rc = check_body(p, &b, WEIR_COMPLETION, &r, &joined, &off, &err);
    free(off);
    if (rc != 0) {
        wr_body_free(&b);
        wr_buf_free(&joined);
        weir_result_free(r);
        px_fail(p, 500, "weir could not check the completion", WR_DEC_ERROR);
        return;
    }
    count_rules(p, r, 1);
    weir_action act = weir_result_action(r);
    long in = -1, out = -1;
    if (px_audit(p, r, joined.data, joined.len, NULL, NULL, in, out) != 0) {
        wr_body_free(&b);
        wr_buf_free(&joined);
        weir_result_free(r);
        px_fail(p, 503, "the audit trail cannot be written; weir refuses unaudited calls",
                WR_DEC_ERROR);
        return;
    }
    wr_buf_free(&joined);
    if (act == WEIR_BLOCK) {
        px_count(p, WR_DEC_BLOCK);
        px_codec_reply(p, r, WEIR_COMPLETION);
    } else {
        wr_decision d = decision_of(act);
        if (p->decision > d)
            d = p->decision;
        wr_buf nb;
        wr_buf_init(&nb);
        const char *body = p->resp.data;
        size_t blen = p->resp.len;
        if (wr_body_changed(&b)) {
            if (wr_body_dump(&b, &nb) != 0 || nb.oom) {
                /* never fall back to the unredacted answer */
                wr_buf_free(&nb);
                weir_result_free(r);
                wr_body_free(&b);
                px_fail(p, 500, "weir could not rewrite the redacted completion", WR_DEC_ERROR);
                return;
            }
            body = nb.data;
            blen = nb.len;
        }
        px_count(p, d);
        const char *an = wr_decision_name(d);
        p->rh[p->nrh++] = (wr_http_header){"x-weir-action", 13, an, strlen(an)};
        wr_http_respond(p->hr, p->up_status, p->rh, p->nrh, body, blen);
        p->hr = NULL;
        wr_buf_free(&nb);
        px_finish(p);
    }
    weir_result_free(r);
    wr_body_free(&b);
}

static void up_done(void *user, wr_up_result res, const char *message)
{
    px *p = user;
    p->ur = NULL;
    double t = now_ms();
    wr_hist_observe(&p->m->upstream, t - p->t_up0);
    if (res != WR_UP_OK)
        atomic_fetch_add_explicit(&p->m->upstream_errors[res & 15], 1, memory_order_relaxed);
    if (!p->hr) {
        px_free(p);
        return;
    }
    if (p->started) {
        weir_error err = {0};
        int rc = res == WR_UP_OK ? 0 : -1;
        if (rc == 0) {
            p->out.len = 0;
            rc = wr_rstream_finish(p->rs, &p->out, &err);
        }
        if (rc >= 0 && stream_end_audit(p, NULL, NULL) != 0) {
            rc = -1; /* unaudited: the end of the stream is not released */
            snprintf(err.text, sizeof err.text, "the audit trail cannot be written");
        }
        if (rc >= 0) {
            if (p->out.len)
                wr_http_respond_write(p->hr, p->out.data, p->out.len);
            weir_action a = wr_rstream_action(p->rs);
            wr_decision d = decision_of(a);
            px_count(p, d > p->decision ? d : p->decision);
            wr_http_respond_end(p->hr);
        } else {
            const char *why = res != WR_UP_OK ? message : err.text;
            wr_log(WR_LOG_WARN, "stream ended badly; client response aborted", "upstream",
                   p->ucfg->name, "reason", res != WR_UP_OK ? wr_up_result_name(res) : "malformed",
                   "error", why, NULL);
            stream_end_audit(p, "UpstreamStreamFailed", why);
            px_count(p, WR_DEC_ERROR);
            wr_http_respond_abort(p->hr);
        }
        p->hr = NULL;
        px_free(p);
        return;
    }
    if (res != WR_UP_OK) {
        int status = (res == WR_UP_TIMEOUT || res == WR_UP_CONNECT_TIMEOUT) ? 504 : 502;
        char msg[300];
        snprintf(msg, sizeof msg, "upstream '%s' failed: %s", p->ucfg->name,
                 p->too_large ? "answer too large" : wr_up_result_name(res));
        wr_log(WR_LOG_WARN, "upstream failed", "upstream", p->ucfg->name, "reason",
               wr_up_result_name(res), "error", message, NULL);
        p->up_status = 0;
        px_fail(p, status, msg, WR_DEC_ERROR);
        return;
    }
    if (p->up_status < 200 || p->up_status >= 300) {
        /* upstream errors are forwarded as they are: the provider's own shape */
        char code[32];
        snprintf(code, sizeof code, "Upstream%d", p->up_status);
        if (px_audit(p, NULL, NULL, 0, code, NULL, -1, -1) != 0) {
            px_fail(p, 503, "the audit trail cannot be written; weir refuses unaudited calls",
                    WR_DEC_ERROR);
            return;
        }
        px_count(p, WR_DEC_ERROR);
        wr_http_respond(p->hr, p->up_status, p->rh, p->nrh, p->resp.data ? p->resp.data : "",
                        p->resp.len);
        p->hr = NULL;
        px_finish(p);
        return;
    }
    complete_response(p);
}

static const wr_up_callbacks up_cb = {up_headers, up_data, up_done};

/* ------------------------------------------------------------------ the request */

static void answer_guardrail(px *p)
{
    size_t n = p->body.nseg;
    weir_result **res = calloc(n ? n : 1, sizeof *res);
    weir_error err = {0};
    if (!res) {
        px_fail(p, 500, "out of memory", WR_DEC_ERROR);
        return;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = weir_check(&res[i], p->pol, &p->ctx, p->body.seg[i].text, p->body.seg[i].len,
                        &err);
    wr_buf b;
    wr_buf_init(&b);
    if (rc == 0)
        rc = wr_bedrock_guardrail_answer(&b, &p->body, res, n, &err);
    for (size_t i = 0; i < n; i++)
        weir_result_free(res[i]);
    free(res);
    if (rc != 0) {
        wr_buf_free(&b);
        px_fail(p, 500, "weir could not answer ApplyGuardrail", WR_DEC_ERROR);
        return;
    }
    weir_action a = weir_result_action(p->prompt_res);
    px_request_id(p);
    if (px_audit(p, NULL, NULL, 0, NULL, NULL, -1, -1) != 0) {
        wr_buf_free(&b);
        px_fail(p, 503, "the audit trail cannot be written; weir refuses unaudited calls",
                WR_DEC_ERROR);
        return;
    }
    px_count(p, decision_of(a));
    px_send(p, 200, "application/json", NULL, NULL, b.data, b.len, wr_decision_name(decision_of(a)));
    wr_buf_free(&b);
}

static void px_proceed(px *p);
static void px_identified(void *user, wr_sc_who *who);

static void proxy_on_request(wr_http_req *hr, void *user)
{
    wr_sc_listener *L = user;
    px *p = calloc(1, sizeof *p);
    if (!p) {
        static const char oom[] = "{\"message\":\"out of memory\"}";
        wr_http_respond(hr, 503, NULL, 0, oom, sizeof oom - 1);
        return;
    }
    atomic_fetch_add(&L->sc->metrics.in_flight, 1);
    p->t0 = now_ms();
    p->L = L;
    p->sc = L->sc;
    p->ucfg = L->cfg;
    p->ust = &L->sc->ups[L->index];
    p->m = &L->sc->metrics.up[L->index];
    p->hr = hr;
    p->route.op = WR_OP_UNKNOWN;
    p->pol = wr_sc_policy(p->sc, L->index);
    wr_body_init(&p->body);
    wr_buf_init(&p->joined);
    wr_buf_init(&p->fwd);
    wr_buf_init(&p->uhstore);
    wr_buf_init(&p->resp);
    wr_buf_init(&p->out);
    wr_http_req_set_user(hr, p);
    snprintf(p->peer_ip, sizeof p->peer_ip, "%s", wr_http_req_peer_ip(hr));
    const char *ua = wr_http_req_header(hr, "user-agent");
    if (ua)
        p->user_agent = wr_strndup(ua, strnlen(ua, 512));
    p->ctx = (weir_context)WEIR_CONTEXT_INIT;
    p->ctx.region = p->ucfg->region;
    p->ctx.deployment_type = p->ucfg->deployment_type;
    p->ctx.provider = p->ucfg->kind == WR_KIND_AZURE ? WEIR_PROVIDER_AZURE : WEIR_PROVIDER_BEDROCK;

    const char *emsg = NULL;
    int est = wr_http_req_error(hr, &emsg);
    weir_error err = {0};
    int st = wr_route_match(&p->route, p->ucfg->kind, wr_http_req_method(hr),
                            wr_http_req_target(hr), &err);
    if (est) {
        px_fail(p, est, emsg ? emsg : "bad request", WR_DEC_ERROR);
        return;
    }
    if (st) {
        px_fail(p, st, err.text, WR_DEC_ERROR);
        return;
    }
    if (!p->pol) {
        px_fail(p, 503, "no policy is loaded; weir refuses to forward unchecked calls",
                WR_DEC_ERROR);
        return;
    }
    if (p->ucfg->kind != WR_KIND_AZURE) {
        /* a caller that signed for another region did not ask for its data to go here */
        char cr[64];
        wr_sc_caller_region(wr_http_req_header(hr, "authorization"), cr, sizeof cr);
        if (cr[0] && strcmp(cr, p->ucfg->region) != 0) {
            char m[256];
            snprintf(m, sizeof m,
                     "the request is signed for region %.40s, but this listener sends to %.40s: "
                     "weir does not move data to a region the caller did not ask for",
                     cr, p->ucfg->region);
            px_fail(p, 403, m, WR_DEC_DENY);
            return;
        }
    }
    if (wr_sc_identify(L, hr, &p->who, px_identified, p) != 0) {
        px_fail(p, 500, "weir could not identify the caller", WR_DEC_ERROR);
        return;
    }
    if (!p->who.pending)
        px_proceed(p);
}

static void px_identified(void *user, wr_sc_who *who)
{
    px *p = user;
    (void)who;
    px_proceed(p);
}

/* The caller is known (or refused): check the prompt and forward. */
static void px_proceed(px *p)
{
    wr_sc_listener *L = p->L;
    wr_http_req *hr = p->hr;
    weir_error err = {0};
    if (p->who.status) {
        px_fail(p, p->who.status, p->who.message, WR_DEC_DENY);
        return;
    }
    p->ctx.principal = p->who.principal[0] ? p->who.principal : NULL;
    size_t blen = 0;
    const char *body = wr_http_req_body(hr, &blen);
    weir_direction dir = WEIR_PROMPT;
    if (wr_codec_load(&p->body, p->route.codec, dir, body, blen, 0, &err) != 0) {
        px_fail(p, err.code == WEIR_ELIMIT ? 413 : 400, err.text, WR_DEC_ERROR);
        return;
    }
    if (wr_route_from_body(&p->route, p->body.root, &err) != 0) {
        px_fail(p, 400, err.text, WR_DEC_ERROR);
        return;
    }
    p->model = p->route.model;
    if (p->ucfg->kind == WR_KIND_AZURE && p->route.deployment[0]) {
        const char *mm = wr_sc_deployment_model(p->ucfg, p->route.deployment);
        if (mm)
            p->model = mm;
    }
    p->ctx.model = p->model;
    p->ctx_prompt_dir = WEIR_PROMPT;
    if (p->route.op == WR_OP_APPLY_GUARDRAIL) {
        json_t *src = json_object_get(p->body.root, "source");
        if (json_is_string(src) && strcmp(json_string_value(src), "OUTPUT") == 0)
            p->ctx.direction = p->ctx_prompt_dir = WEIR_COMPLETION;
        p->model = "";
        p->ctx.model = NULL;
    }

    int rc = check_body(p, &p->body, p->ctx.direction, &p->prompt_res, &p->joined, &p->seg_off,
                        &err);
    p->t_gate = now_ms();
    wr_hist_observe(&p->m->gate, p->t_gate - p->t0);
    if (rc != 0) {
        px_fail(p, 500, "weir could not check the prompt, so it refuses the call", WR_DEC_ERROR);
        return;
    }
    count_rules(p, p->prompt_res, 0);
    if (p->route.op == WR_OP_APPLY_GUARDRAIL) {
        answer_guardrail(p);
        return;
    }
    weir_action act = weir_result_action(p->prompt_res);
    const weir_finding *f = weir_result_decisive(p->prompt_res);
    int deny = act == WEIR_BLOCK && f &&
               (f->kind == WEIR_FINDING_ACCESS || f->kind == WEIR_FINDING_RESIDENCY);
    p->decision = deny ? WR_DEC_DENY : decision_of(act);
    if (act == WEIR_BLOCK)
        px_request_id(p); /* the record and the answer carry the same id */
    if (act == WEIR_BLOCK && px_audit(p, NULL, NULL, 0, NULL, NULL, -1, -1) != 0) {
        p->audited = 0; /* px_fail tries once more and answers 503 */
        px_fail(p, 503, "the audit trail cannot be written; weir refuses unaudited calls",
                WR_DEC_ERROR);
        return;
    }
    if (!p->sc->cfg->audit.fail_open && p->sc->audit && !weir_audit_healthy(p->sc->audit)) {
        /* the record is written when the call ends: do not start a call it cannot record */
        px_fail(p, 503, "the audit trail cannot be written; weir refuses unaudited calls",
                WR_DEC_ERROR);
        return;
    }
    if (act == WEIR_BLOCK) {
        px_count(p, p->decision);
        wr_log(WR_LOG_INFO, deny ? "call denied" : "prompt blocked", "upstream", p->ucfg->name,
               "operation", wr_op_name(p->route.op), "rule", f && f->rule ? f->rule : "", NULL);
        if (p->route.stream && !deny && !is_openai_shape(p)) {
            /* a streamed Bedrock call gets its intervention as a stream */
            wr_buf b;
            wr_buf_init(&b);
            const char *msg = weir_result_message(p->prompt_res);
            if (wr_stream_block_reply(p->route.codec, msg ? msg : "Blocked by policy",
                                       f && f->rule ? f->rule : "", &b) == 0 && !b.oom) {
                px_send(p, 200, "application/vnd.amazon.eventstream", NULL, NULL, b.data, b.len,
                        "block");
                wr_buf_free(&b);
                return;
            }
            wr_buf_free(&b);
        }
        px_codec_reply(p, p->prompt_res, WEIR_PROMPT);
        return;
    }

    const void *fbody = body;
    size_t fblen = blen;
    if (wr_body_changed(&p->body)) {
        if (wr_body_dump(&p->body, &p->fwd) != 0 || p->fwd.oom) {
            px_fail(p, 500, "weir could not rewrite the redacted request", WR_DEC_ERROR);
            return;
        }
        fbody = p->fwd.data;
        fblen = p->fwd.len;
    }
    if (build_upstream_request(p, fbody, fblen, &err) != 0) {
        wr_log(WR_LOG_ERROR, "cannot sign or build the upstream request", "upstream",
               p->ucfg->name, "error", err.text, NULL);
        px_fail(p, 503, "weir cannot sign the upstream request (credentials unavailable)",
                WR_DEC_ERROR);
        return;
    }
    wr_up_request ur = {"POST", p->url, p->uh, p->nuh, fbody, fblen,
                        p->sc->cfg->upstream_first_byte_timeout_ms,
                        p->sc->cfg->upstream_idle_timeout_ms};
    p->t_up0 = now_ms();
    if (wr_up_start(L->worker->up, &ur, &up_cb, p, &p->ur, &err) != 0) {
        p->ur = NULL;
        px_fail(p, 502, "weir could not start the upstream call", WR_DEC_ERROR);
        return;
    }
}

static void proxy_on_abort(wr_http_req *hr, void *user)
{
    (void)user;
    px *p = wr_http_req_user(hr);
    if (!p)
        return;
    p->hr = NULL;
    const char *text = NULL;
    size_t len = 0;
    const weir_result *r = NULL;
    if (p->rs) {
        weir_error err = {0};
        wr_buf scratch;
        wr_buf_init(&scratch);
        wr_rstream_finish(p->rs, &scratch, &err); /* for the record of what was received */
        wr_buf_free(&scratch);
        r = wr_rstream_result(p->rs, &text, &len);
    }
    px_audit(p, r, text, len, "ClientClosedRequest",
             "the client went away before the response was complete", -1, -1);
    px_free(p);
}

static void proxy_on_drain(wr_http_req *hr, void *user)
{
    (void)user;
    px *p = wr_http_req_user(hr);
    if (p && p->paused && p->ur) {
        p->paused = 0;
        wr_up_resume(p->ur);
    }
}

static void proxy_on_reject(void *user, const char *peer, int status, const char *message)
{
    wr_sc_listener *L = user;
    atomic_fetch_add(&L->sc->metrics.up[L->index].rejected, 1);
    char st[16];
    snprintf(st, sizeof st, "%d", status);
    wr_log(WR_LOG_INFO, "connection refused by limits", "upstream", L->cfg->name, "peer", peer,
           "status", st, "reason", message, NULL);
    if (L->sc->audit) {
        weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
        ev.event_name = "RequestRejected";
        ev.aws_region = L->cfg->region;
        ev.principal = L->cfg->principal;
        char code[16];
        snprintf(code, sizeof code, "HTTP%d", status);
        ev.error_code = code;
        ev.error_message = message;
        weir_error err = {0};
        if (weir_audit_record(L->sc->audit, &ev, NULL, NULL, 0, &err) != 0)
            atomic_fetch_add(&L->sc->metrics.audit_failures, 1);
    }
}

const wr_http_handler wr_proxy_handler = {proxy_on_request, proxy_on_abort, proxy_on_drain,
                                          proxy_on_reject};
