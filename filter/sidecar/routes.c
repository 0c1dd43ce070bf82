/* routes.c - request target -> operation and codec (see routes.h). */
#include "sidecar/routes.h"

#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int wr_url_decode(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0 || c < 0x20 || c == 0x7f || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

/* Next path segment of p (after a '/'), stopping at '/', '?' or end. */
static const char *seg(const char *p, size_t *len)
{
    if (*p != '/')
        return NULL;
    p++;
    size_t n = strcspn(p, "/?");
    *len = n;
    return p;
}

static int is_end(const char *p) { return *p == 0 || *p == '?'; }

#define route_fail(err, status, ...) \
    (wr_error_set((err), WEIR_EINVAL, NULL, 0, 0, __VA_ARGS__), (status))

static int bedrock_model_route(wr_route *r, const char *p, weir_error *err)
{
    /* p points at "/{modelId}/{op}" */
    size_t n;
    const char *id = seg(p, &n);
    if (!id || n == 0)
        return route_fail(err, 404, "no model id in the path %s", "");
    if (wr_url_decode(r->model, sizeof r->model, id, n) != 0)
        return route_fail(err, 400, "the model id in the path is not valid percent-encoding%s",
                          "");
    p = id + n;
    const char *op = seg(p, &n);
    if (!op || !is_end(op + n))
        return route_fail(err, 404, "unknown Bedrock operation path%s", "");
    if (n == 6 && memcmp(op, "invoke", 6) == 0)
        r->op = WR_OP_INVOKE;
    else if (n == 27 && memcmp(op, "invoke-with-response-stream", 27) == 0)
        r->op = WR_OP_INVOKE_STREAM;
    else if (n == 8 && memcmp(op, "converse", 8) == 0)
        r->op = WR_OP_CONVERSE;
    else if (n == 15 && memcmp(op, "converse-stream", 15) == 0)
        r->op = WR_OP_CONVERSE_STREAM;
    else
        return route_fail(err, 404,
                          "weir does not gate this Bedrock operation (%s): it serves invoke, "
                          "invoke-with-response-stream, converse and converse-stream",
                          "path");
    r->stream = r->op == WR_OP_INVOKE_STREAM || r->op == WR_OP_CONVERSE_STREAM;
    if (r->op == WR_OP_CONVERSE || r->op == WR_OP_CONVERSE_STREAM) {
        r->codec = wr_codec_find("bedrock.converse");
    } else {
        r->codec = wr_codec_for_bedrock_model(r->model);
        if (!r->codec)
            return route_fail(err, 400,
                              "weir cannot read request bodies for model '%s' (unknown model "
                              "family), so it refuses the call; use Converse instead",
                              r->model);
    }
    return 0;
}

static int prefix(const char *t, const char *p) { return strncmp(t, p, strlen(p)) == 0; }

int wr_route_match(wr_route *r, wr_up_kind k, const char *method, const char *target,
                   weir_error *err)
{
    memset(r, 0, sizeof *r);
    r->op = WR_OP_UNKNOWN;
    if (!target || target[0] != '/')
        return route_fail(err, 400, "the request target must be an absolute path%s", "");
    if (k == WR_KIND_BEDROCK) {
        if (prefix(target, "/model/")) {
            int rc = bedrock_model_route(r, target + 6, err);
            if (rc)
                return rc;
        } else if (prefix(target, "/guardrail/")) {
            size_t n;
            const char *g = seg(target + 10, &n);
            const char *v = g ? seg(g + n, &n) : NULL; /* "version" */
            const char *ver = v && n == 7 ? seg(v + n, &n) : NULL;
            const char *ap = ver ? seg(ver + n, &n) : NULL;
            if (!ap || n != 5 || memcmp(ap, "apply", 5) != 0 || !is_end(ap + n))
                return route_fail(err, 404, "unknown guardrail path%s", "");
            r->op = WR_OP_APPLY_GUARDRAIL;
            r->codec = wr_codec_find("bedrock.apply_guardrail");
        } else if ((prefix(target, "/openai/v1/chat/completions") && is_end(target + 27)) ||
                   (prefix(target, "/v1/chat/completions") && is_end(target + 20))) {
            r->op = WR_OP_CHAT;
            r->codec = wr_codec_find("bedrock.openai_chat");
            r->model_in_body = 1;
        } else {
            return route_fail(err, 404,
                              "no such Bedrock Runtime route%s: weir serves /model/{id}/invoke, "
                              "invoke-with-response-stream, converse, converse-stream, "
                              "/guardrail/{id}/version/{v}/apply and /openai/v1/chat/completions",
                              "");
        }
    } else if (k == WR_KIND_BEDROCK_MANTLE) {
        const char *p = prefix(target, "/openai/v1/") ? target + 7 : target;
        if (prefix(p, "/v1/chat/completions") && is_end(p + 20)) {
            r->op = WR_OP_CHAT;
            r->codec = wr_codec_find("bedrock.mantle.chat");
        } else if (prefix(p, "/v1/responses") && is_end(p + 13)) {
            r->op = WR_OP_RESPONSES;
            r->codec = wr_codec_find("bedrock.mantle.responses");
        } else {
            return route_fail(err, 404,
                              "no such Bedrock Mantle route%s: weir serves /v1/chat/completions "
                              "and /v1/responses",
                              "");
        }
        r->model_in_body = 1;
    } else {
        if (prefix(target, "/openai/deployments/")) {
            size_t n;
            const char *dep = seg(target + 19, &n);
            if (!dep || n == 0 ||
                wr_url_decode(r->deployment, sizeof r->deployment, dep, n) != 0)
                return route_fail(err, 400, "bad deployment name in the path%s", "");
            const char *rest = dep + n;
            if (prefix(rest, "/chat/completions") && is_end(rest + 17)) {
                r->op = WR_OP_CHAT;
                r->codec = wr_codec_find("azure.chat");
            } else if (prefix(rest, "/embeddings") && is_end(rest + 11)) {
                r->op = WR_OP_EMBEDDINGS;
                r->codec = wr_codec_find("azure.embeddings");
            } else {
                return route_fail(err, 404,
                                  "weir does not gate this Azure OpenAI operation%s: it serves "
                                  "chat/completions and embeddings on deployments, and "
                                  "/openai/v1/{chat/completions,responses,embeddings}",
                                  "");
            }
            snprintf(r->model, sizeof r->model, "%s", r->deployment);
        } else {
            const char *p = NULL;
            if (prefix(target, "/openai/v1/"))
                p = target + 10;
            else if (prefix(target, "/openai/responses"))
                p = target + 7;
            if (p && prefix(p, "/chat/completions") && is_end(p + 17)) {
                r->op = WR_OP_CHAT;
                r->codec = wr_codec_find("azure.chat");
            } else if (p && prefix(p, "/responses") && is_end(p + 10)) {
                r->op = WR_OP_RESPONSES;
                r->codec = wr_codec_find("azure.responses");
            } else if (p && prefix(p, "/embeddings") && is_end(p + 11)) {
                r->op = WR_OP_EMBEDDINGS;
                r->codec = wr_codec_find("azure.embeddings");
            } else {
                return route_fail(err, 404,
                                  "no such Azure OpenAI route%s: weir serves "
                                  "/openai/deployments/{name}/chat/completions, "
                                  "/openai/deployments/{name}/embeddings and "
                                  "/openai/v1/{chat/completions,responses,embeddings}",
                                  "");
            }
            r->model_in_body = 1;
        }
    }
    if (!r->codec)
        return route_fail(err, 500, "internal error: no codec for this route%s", "");
    if (strcmp(method, "POST") != 0)
        return route_fail(err, 405, "this route takes POST, not %s", method);
    return 0;
}

int wr_route_from_body(wr_route *r, const json_t *root, weir_error *err)
{
    json_t *st = json_object_get(root, "stream");
    if (st && !json_is_null(st)) {
        if (!json_is_boolean(st))
            return route_fail(err, 400, "'stream' must be true or false%s", "");
        if (r->op == WR_OP_CHAT || r->op == WR_OP_RESPONSES)
            r->stream = json_is_true(st);
    }
    if (!r->model_in_body)
        return 0;
    json_t *m = json_object_get(root, "model");
    if (!json_is_string(m) || json_string_length(m) == 0 ||
        json_string_length(m) >= sizeof r->model)
        return route_fail(err, 400, "the body must name the model (or deployment) in 'model'%s",
                          "");
    snprintf(r->model, sizeof r->model, "%s", json_string_value(m));
    if (r->codec && r->codec->provider == WEIR_PROVIDER_AZURE)
        snprintf(r->deployment, sizeof r->deployment, "%s", r->model);
    return 0;
}
