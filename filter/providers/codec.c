/* Shared body machinery of the provider codecs: parse, segments, write back, dump. */
#include <stdlib.h>
#include <locale.h>
#include <string.h>

#include "providers/codec.h"

const char *wr_seg_kind_name(wr_seg_kind k)
{
    switch (k) {
    case WR_SEG_TEXT: return "text";
    case WR_SEG_TOOL_ARGS: return "tool_args";
    case WR_SEG_TOOL_RESULT: return "tool_result";
    case WR_SEG_SYSTEM: return "system";
    }
    return "text";
}

const char *wr_direction_name(weir_direction dir)
{
    return dir == WEIR_COMPLETION ? "completion" : "prompt";
}

void wr_body_init(wr_body *b)
{
    memset(b, 0, sizeof *b);
}

void wr_body_free(wr_body *b)
{
    if (!b)
        return;
    json_decref(b->root);
    free(b->seg);
    wr_body_init(b);
}

int wr_body_parse(wr_body *b, const char *data, size_t len, size_t max_bytes, weir_error *err)
{
    if (!b || (!data && len))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "body: invalid arguments");
    if (!max_bytes)
        max_bytes = WR_MAX_TEXT;
    if (len > max_bytes)
        return wr_error_set(err, WEIR_ELIMIT, NULL, 0, 0,
                            "body: %zu bytes is over the limit of %zu", len, max_bytes);
    json_t *root = NULL;
    int line = 0, col = 0;
    char why[JSON_ERROR_TEXT_LENGTH];
    int rc = wr_json_fast_parse(&root, data, len, WR_BODY_MAX_DEPTH, &line, &col, why, sizeof why);
    if (rc == WEIR_ELIMIT)
        return wr_error_set(err, WEIR_ELIMIT, NULL, line, col,
                            "body: JSON nests deeper than %d levels", WR_BODY_MAX_DEPTH);
    if (rc == WEIR_ENOMEM)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "body: out of memory");
    if (rc)
        return wr_error_set(err, WEIR_EINVAL, NULL, line, col, "body: invalid JSON: %s", why);
    if (!json_is_object(root)) {
        json_decref(root);
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "body: expected a JSON object");
    }
    b->root = root;
    return 0;
}

int wr_body_add(wr_body *b, json_t *node, wr_seg_kind kind, const char *role)
{
    if (!json_is_string(node))
        return 0;
    wr_segment *s = wr_grow(b->seg, &b->cap, b->nseg + 1, sizeof *s, 16);
    if (!s)
        return WEIR_ENOMEM;
    b->seg = s;
    s = &b->seg[b->nseg++];
    s->text = json_string_value(node);
    s->len = json_string_length(node);
    s->node = node;
    s->kind = kind;
    s->role = role ? role : "";
    return 0;
}

int wr_body_add_leaves(wr_body *b, json_t *node, wr_seg_kind kind, const char *role)
{
    int rc = 0;
    if (json_is_string(node))
        return wr_body_add(b, node, kind, role);
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) {
            if ((rc = wr_body_add_leaves(b, v, kind, role)))
                return rc;
        }
    } else if (json_is_object(node)) {
        for (void *it = json_object_iter(node); it; it = json_object_iter_next(node, it))
            if ((rc = wr_body_add_leaves(b, json_object_iter_value(it), kind, role)))
                return rc;
    }
    return 0;
}

int wr_body_set(wr_body *b, size_t i, const char *text, size_t len)
{
    if (!b || i >= b->nseg || (!text && len))
        return WEIR_EINVAL;
    wr_segment *s = &b->seg[i];
    if (s->len == len && (len == 0 || memcmp(s->text, text, len) == 0))
        return 0;
    if (json_string_setn(s->node, text ? text : "", len))
        return WEIR_EINVAL; /* invalid UTF-8 (or out of memory) */
    s->text = json_string_value(s->node);
    s->len = json_string_length(s->node);
    b->changed = 1;
    return 0;
}

int wr_body_changed(const wr_body *b)
{
    return b && b->changed;
}

int wr_json_quote(wr_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    wr_buf_reserve(out, n + 2);
    wr_buf_append(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        wr_buf_append(out, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        wr_buf_append(out, esc, el);
    }
    wr_buf_append(out, s + run, n - run);
    return wr_buf_append(out, "\"", 1);
}

/* Shortest %g form that reads back as the same double, always with a '.' or exponent. */
static int dump_real(wr_buf *out, double d)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* %g and strtod follow the process locale: a host application that called setlocale
     * may have "," as its decimal point; JSON needs "." (jansson corrects this the same way) */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.') {
        char *c = strchr(tmp, dp[0]);
        if (c)
            *c = '.';
    }
    if (!strpbrk(tmp, ".eE") && !strpbrk(tmp, "ni")) /* no inf/nan from a parse */
        strcat(tmp, ".0");
    return wr_buf_puts(out, tmp);
}

int wr_json_dump(const json_t *v, wr_buf *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        wr_buf_append(out, "{", 1);
        int first = 1;
        json_t *o = (json_t *)v;
        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
            if (!first)
                wr_buf_append(out, ",", 1);
            first = 0;
            wr_json_quote(out, json_object_iter_key(it), json_object_iter_key_len(it));
            wr_buf_append(out, ":", 1);
            if (wr_json_dump(json_object_iter_value(it), out))
                return WEIR_ENOMEM;
        }
        return wr_buf_append(out, "}", 1);
    }
    case JSON_ARRAY: {
        wr_buf_append(out, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                wr_buf_append(out, ",", 1);
            if (wr_json_dump(json_array_get(v, i), out))
                return WEIR_ENOMEM;
        }
        return wr_buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return wr_json_quote(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return wr_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return dump_real(out, json_real_value(v));
    case JSON_TRUE:
        return wr_buf_puts(out, "true");
    case JSON_FALSE:
        return wr_buf_puts(out, "false");
    case JSON_NULL:
        return wr_buf_puts(out, "null");
    }
    return WEIR_EINTERNAL;
}

int wr_body_dump(const wr_body *b, wr_buf *out)
{
    if (!b || !b->root || !out)
        return WEIR_EINVAL;
    int rc = wr_json_dump(b->root, out);
    return rc ? rc : (out->oom ? WEIR_ENOMEM : 0);
}

int wr_codec_fail(weir_error *err, const wr_body *b, const char *path, const char *what)
{
    return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "%s: %s: %s",
                        b && b->codec ? b->codec : "body", path, what);
}

json_t *wr_member(json_t *o, const char *key, json_type type, int *bad)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v))
        return NULL;
    int ok = type == JSON_TRUE ? (json_is_string(v) || json_is_array(v)) : json_typeof(v) == type;
    if (!ok) {
        *bad = 1;
        return NULL;
    }
    return v;
}

const char *wr_role_of(json_t *msg)
{
    const char *r = json_string_value(json_object_get(msg, "role"));
    return r ? r : "";
}

int wr_weir_member(wr_buf *out, const char *rule, const char *direction)
{
    wr_buf_puts(out, "\"weir\":{\"rule\":");
    wr_json_quote(out, rule ? rule : "", rule ? strlen(rule) : 0);
    if (direction) {
        wr_buf_puts(out, ",\"direction\":");
        wr_json_quote(out, direction, strlen(direction));
    }
    return wr_buf_append(out, "}", 1);
}

/* ------------------------------------------------------------------ registry */

static const wr_codec *const REGISTRY[] = {
    &wr_codec_bedrock_anthropic,     &wr_codec_bedrock_nova,
    &wr_codec_bedrock_titan,         &wr_codec_bedrock_llama,
    &wr_codec_bedrock_openai,        &wr_codec_bedrock_converse,
    &wr_codec_bedrock_openai_chat,   &wr_codec_bedrock_mantle_chat,
    &wr_codec_bedrock_mantle_responses, &wr_codec_bedrock_apply_guardrail,
    &wr_codec_azure_chat,            &wr_codec_azure_responses,
    &wr_codec_azure_embeddings,
};

const wr_codec *wr_codec_at(size_t i)
{
    return i < WR_ARRAY_LEN(REGISTRY) ? REGISTRY[i] : NULL;
}

const wr_codec *wr_codec_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < WR_ARRAY_LEN(REGISTRY); i++)
        if (strcmp(REGISTRY[i]->name, name) == 0)
            return REGISTRY[i];
    return NULL;
}

const wr_codec *wr_codec_for_bedrock_model(const char *id)
{
    static const char *const geos[] = {"us.", "eu.", "apac.", "jp.", "au.", "us-gov.", "ca.",
                                       "global."};
    static const struct {
        const char *prefix;
        const wr_codec *codec;
    } families[] = {
        {"anthropic.", &wr_codec_bedrock_anthropic},
        {"amazon.nova", &wr_codec_bedrock_nova},
        {"amazon.titan-text", &wr_codec_bedrock_titan},
        {"meta.llama", &wr_codec_bedrock_llama},
        {"openai.gpt-oss", &wr_codec_bedrock_openai},
    };
    if (!id)
        return NULL;
    if (strncmp(id, "arn:", 4) == 0) {
        /* arn:aws:bedrock:REGION:ACCT:foundation-model/ID or inference-profile/ID */
        const char *slash = strchr(id, '/');
        if (!slash)
            return NULL;
        size_t kl = (size_t)(slash - id);
        int known = (kl >= 16 && strncmp(slash - 16, "foundation-model", 16) == 0) ||
                    (kl >= 17 && strncmp(slash - 17, "inference-profile", 17) == 0 &&
                     !(kl >= 29 && strncmp(slash - 29, "application-inference-profile", 29) == 0));
        if (!known)
            return NULL; /* custom/provisioned/application profiles: family not in the ARN */
        id = slash + 1;
    }
    for (size_t i = 0; i < WR_ARRAY_LEN(geos); i++) {
        size_t n = strlen(geos[i]);
        if (strncmp(id, geos[i], n) == 0) {
            id += n;
            break;
        }
    }
    for (size_t i = 0; i < WR_ARRAY_LEN(families); i++)
        if (strncmp(id, families[i].prefix, strlen(families[i].prefix)) == 0)
            return families[i].codec;
    return NULL;
}

int wr_codec_load(wr_body *b, const wr_codec *c, weir_direction dir, const char *data,
                  size_t len, size_t max_bytes, weir_error *err)
{
    if (!b || !c)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "codec: invalid arguments");
    wr_body_init(b);
    int rc = wr_body_parse(b, data, len, max_bytes, err);
    if (rc == 0) {
        b->codec = c->name;
        rc = dir == WEIR_COMPLETION ? c->response(b, err) : c->request(b, err);
        if (rc == WEIR_ENOMEM)
            wr_error_set(err, rc, NULL, 0, 0, "%s: out of memory", c->name);
    } else if (err) {
        /* name the codec in parse errors too */
        size_t nl = strlen(c->name), tl = strnlen(err->text, sizeof err->text - 1);
        if (nl + 2 < sizeof err->text) {
            if (tl > sizeof err->text - 1 - nl - 2)
                tl = sizeof err->text - 1 - nl - 2;
            memmove(err->text + nl + 2, err->text, tl);
            memcpy(err->text, c->name, nl);
            memcpy(err->text + nl, ": ", 2);
            err->text[nl + 2 + tl] = '\0';
        }
    }
    if (rc)
        wr_body_free(b);
    return rc;
}
