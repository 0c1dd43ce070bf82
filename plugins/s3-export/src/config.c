/*
 * config.c - the s3-export config block (JSON, see README.md).
 */
#include "s3x.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

S3X_PRINTF(3, 4)
static int s3x_cfg_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Every byte of s in `allowed` (ranges "a-z" not supported: explicit classes below). */
static int s3x_chars_ok(const char *s, int (*ok)(unsigned char))
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!ok(*p))
            return 0;
    return 1;
}

static int s3x_bucket_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int s3x_region_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int s3x_class_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

static int s3x_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

static int s3x_prefix_char(unsigned char c)
{
    return c >= 0x20 && c != 0x7f && c != '\\';
}

/* 1 when the prefix has a "." or ".." segment or an empty one ("//"): curl and S3 would not
 * agree with the signed path. */
static int s3x_prefix_segments_bad(const char *prefix)
{
    for (const char *seg = prefix; *seg;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if ((n == 0 && end) || (n == 1 && seg[0] == '.') ||
            (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 1;
        if (!end)
            break;
        seg = end + 1;
    }
    return 0;
}

static int s3x_kms_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* A string option: *out = copy, or untouched when absent/null. */
static int s3x_cfg_string(json_t *v, const char *name, char **out, size_t maxlen, char *err,
                          size_t errlen)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return s3x_cfg_fail(err, errlen, "s3-export: '%s' must be a string", name);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || strlen(s) > maxlen)
        return s3x_cfg_fail(err, errlen, "s3-export: '%s' is too long or holds a NUL byte", name);
    free(*out);
    *out = s3x_strdup(s);
    if (!*out)
        return s3x_cfg_fail(err, errlen, "s3-export: out of memory");
    return 0;
}

static int s3x_cfg_uint(json_t *v, const char *name, unsigned *out, unsigned min, unsigned max,
                        char *err, size_t errlen)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
        json_integer_value(v) > (json_int_t)max)
        return s3x_cfg_fail(err, errlen, "s3-export: '%s' must be an integer from %u to %u", name,
                            min, max);
    *out = (unsigned)json_integer_value(v);
    return 0;
}

static int s3x_cfg_bool(json_t *v, const char *name, bool *out, bool *given, char *err,
                        size_t errlen)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return s3x_cfg_fail(err, errlen, "s3-export: '%s' must be true or false", name);
    *out = json_is_true(v);
    if (given)
        *given = true;
    return 0;
}

/* endpoint: http(s)://host[:port][/]; kept without the trailing slash. */
static int s3x_cfg_endpoint(s3x_config *cfg, char *err, size_t errlen)
{
    const char *e = cfg->endpoint;
    const char *host = NULL;
    if (strncmp(e, "https://", 8) == 0)
        host = e + 8;
    else if (strncmp(e, "http://", 7) == 0)
        host = e + 7;
    else
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'endpoint' must start with https:// or http://");
    if (host == e + 7 && !cfg->allow_http)
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'endpoint' is http://: signed requests (with any session "
                            "token) and the answers confirming uploads would travel in cleartext. "
                            "Use https://, or set \"allow_http\": true for a local S3-compatible "
                            "server on loopback (tests, development)");
    if (host == e + 7 && cfg->delete_after_upload)
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'delete_after_upload' is refused with an http:// endpoint: "
                            "an unauthenticated answer could make the sink delete a log that was "
                            "never stored");
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '/')
        cfg->endpoint[strlen(cfg->endpoint) - 1] = '\0', n--;
    if (n == 0)
        return s3x_cfg_fail(err, errlen, "s3-export: 'endpoint' has no host");
    for (size_t i = 0; i < n; i++)
        if (!s3x_host_char((unsigned char)host[i]))
            return s3x_cfg_fail(err, errlen,
                                "s3-export: 'endpoint' must be scheme://host[:port] with no path, "
                                "query or user info");
    return 0;
}

static int s3x_cfg_derive(s3x_config *cfg, bool path_style_given, char *err, size_t errlen)
{
    s3x_buf url = {0}, host = {0}, base = {0};
    if (cfg->endpoint) {
        if (!path_style_given)
            cfg->path_style = true;
        const char *h = strstr(cfg->endpoint, "://") + 3;
        size_t scheme_len = (size_t)(h - cfg->endpoint);
        if (cfg->path_style) {
            s3x_buf_puts(&host, h);
            s3x_buf_puts(&url, cfg->endpoint);
        } else {
            s3x_buf_printf(&host, "%s.%s", cfg->bucket, h);
            s3x_buf_append(&url, cfg->endpoint, scheme_len);
            s3x_buf_puts(&url, host.data ? host.data : "");
        }
    } else {
        if (cfg->path_style)
            s3x_buf_printf(&host, "s3.%s.amazonaws.com", cfg->region);
        else
            s3x_buf_printf(&host, "%s.s3.%s.amazonaws.com", cfg->bucket, cfg->region);
        s3x_buf_printf(&url, "https://%s", host.data ? host.data : "");
    }
    if (cfg->path_style)
        s3x_buf_printf(&base, "/%s", cfg->bucket);
    else
        s3x_buf_puts(&base, "");
    if (url.oom || host.oom || base.oom) {
        s3x_buf_free(&url);
        s3x_buf_free(&host);
        s3x_buf_free(&base);
        return s3x_cfg_fail(err, errlen, "s3-export: out of memory");
    }
    cfg->base_url = url.data;
    cfg->host_header = host.data;
    cfg->path_base = base.data;
    return 0;
}

static const char *const s3x_known_keys[] = {
    "bucket", "endpoint", "region", "prefix", "path_style", "delete_after_upload",
    "max_attempts_before_alert", "backoff_initial_ms", "backoff_max_ms", "timeout_ms",
    "storage_class", "sse", "kms_key_id", "ca_file", "alert_repeat_seconds", "allow_http",
    NULL};

static int s3x_cfg_keys(json_t *root, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int known = 0;
        for (size_t i = 0; s3x_known_keys[i]; i++)
            known |= strcmp(k, s3x_known_keys[i]) == 0;
        if (known)
            continue;
        if (strstr(k, "access_key") || strstr(k, "secret") || strstr(k, "session_token") ||
            strstr(k, "credentials"))
            return s3x_cfg_fail(err, errlen,
                                "s3-export: '%.64s' is not accepted: credentials never go in the "
                                "config; they come from the host or AWS_ACCESS_KEY_ID / "
                                "AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN",
                                k);
        return s3x_cfg_fail(err, errlen, "s3-export: unknown config key '%.64s'", k);
    }
    return 0;
}

static int s3x_cfg_values(s3x_config *cfg, json_t *root, bool *ps_given, char *err,
                          size_t errlen)
{
    if (s3x_cfg_string(json_object_get(root, "bucket"), "bucket", &cfg->bucket, 255, err, errlen) ||
        s3x_cfg_string(json_object_get(root, "endpoint"), "endpoint", &cfg->endpoint, 255, err,
                       errlen) ||
        s3x_cfg_string(json_object_get(root, "region"), "region", &cfg->region, 64, err, errlen) ||
        s3x_cfg_string(json_object_get(root, "prefix"), "prefix", &cfg->prefix, 512, err, errlen) ||
        s3x_cfg_string(json_object_get(root, "storage_class"), "storage_class",
                       &cfg->storage_class, 64, err, errlen) ||
        s3x_cfg_string(json_object_get(root, "sse"), "sse", &cfg->sse, 16, err, errlen) ||
        s3x_cfg_string(json_object_get(root, "kms_key_id"), "kms_key_id", &cfg->kms_key_id, 2048,
                       err, errlen) ||
        s3x_cfg_string(json_object_get(root, "ca_file"), "ca_file", &cfg->ca_file, 4096, err,
                       errlen) ||
        s3x_cfg_bool(json_object_get(root, "path_style"), "path_style", &cfg->path_style,
                     ps_given, err, errlen) ||
        s3x_cfg_bool(json_object_get(root, "delete_after_upload"), "delete_after_upload",
                     &cfg->delete_after_upload, NULL, err, errlen) ||
        s3x_cfg_bool(json_object_get(root, "allow_http"), "allow_http", &cfg->allow_http, NULL,
                     err, errlen) ||
        s3x_cfg_uint(json_object_get(root, "max_attempts_before_alert"),
                     "max_attempts_before_alert", &cfg->max_attempts_before_alert, 1, 1000000, err,
                     errlen) ||
        s3x_cfg_uint(json_object_get(root, "backoff_initial_ms"), "backoff_initial_ms",
                     &cfg->backoff_initial_ms, 1, 3600000, err, errlen) ||
        s3x_cfg_uint(json_object_get(root, "backoff_max_ms"), "backoff_max_ms",
                     &cfg->backoff_max_ms, 1, 86400000, err, errlen) ||
        s3x_cfg_uint(json_object_get(root, "timeout_ms"), "timeout_ms", &cfg->timeout_ms, 100,
                     3600000, err, errlen) ||
        s3x_cfg_uint(json_object_get(root, "alert_repeat_seconds"), "alert_repeat_seconds",
                     &cfg->alert_repeat_seconds, 1, 86400, err, errlen))
        return -1;
    return 0;
}

static int s3x_cfg_check(s3x_config *cfg, char *err, size_t errlen)
{
    if (!cfg->bucket)
        return s3x_cfg_fail(err, errlen, "s3-export: 'bucket' is required");
    size_t bl = strlen(cfg->bucket);
    if (bl < 3 || bl > 63 || !s3x_chars_ok(cfg->bucket, s3x_bucket_char))
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'bucket' must be 3-63 characters of a-z 0-9 . - _");
    if (!cfg->region) {
        const char *env = getenv("AWS_REGION");
        if (!env || !*env)
            env = getenv("AWS_DEFAULT_REGION");
        if (!env || !*env)
            return s3x_cfg_fail(err, errlen,
                                "s3-export: 'region' (the bucket's region) is required when "
                                "AWS_REGION is not set");
        cfg->region = s3x_strdup(env);
        if (!cfg->region)
            return s3x_cfg_fail(err, errlen, "s3-export: out of memory");
    }
    if (!*cfg->region || strlen(cfg->region) > 64 || !s3x_chars_ok(cfg->region, s3x_region_char))
        return s3x_cfg_fail(err, errlen, "s3-export: region '%.64s' must be a-z 0-9 -",
                            cfg->region);
    if (!cfg->prefix && !(cfg->prefix = s3x_strdup("")))
        return s3x_cfg_fail(err, errlen, "s3-export: out of memory");
    if (cfg->prefix[0] == '/' || !s3x_chars_ok(cfg->prefix, s3x_prefix_char))
        return s3x_cfg_fail(err, errlen, "s3-export: 'prefix' must not start with '/' nor hold "
                                         "control characters or backslashes");
    if (s3x_prefix_segments_bad(cfg->prefix))
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'prefix' '%.64s' must not hold \".\" or \"..\" segments "
                            "nor \"//\" (the request path would not be the signed one)",
                            cfg->prefix);
    if (cfg->storage_class && (!*cfg->storage_class ||
                               !s3x_chars_ok(cfg->storage_class, s3x_class_char)))
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'storage_class' must be an S3 storage class such as "
                            "STANDARD_IA");
    if (cfg->sse && strcmp(cfg->sse, "AES256") != 0 && strcmp(cfg->sse, "aws:kms") != 0)
        return s3x_cfg_fail(err, errlen, "s3-export: 'sse' must be \"AES256\" or \"aws:kms\"");
    if (cfg->kms_key_id && (!cfg->sse || strcmp(cfg->sse, "aws:kms") != 0))
        return s3x_cfg_fail(err, errlen, "s3-export: 'kms_key_id' needs \"sse\": \"aws:kms\"");
    if (cfg->kms_key_id && (!*cfg->kms_key_id || !s3x_chars_ok(cfg->kms_key_id, s3x_kms_char)))
        return s3x_cfg_fail(err, errlen, "s3-export: 'kms_key_id' must be a key id, alias or ARN");
    if (cfg->backoff_max_ms < cfg->backoff_initial_ms)
        return s3x_cfg_fail(err, errlen,
                            "s3-export: 'backoff_max_ms' must be at least 'backoff_initial_ms'");
    if (cfg->ca_file && !*cfg->ca_file)
        return s3x_cfg_fail(err, errlen, "s3-export: 'ca_file' is empty");
    if (cfg->endpoint && s3x_cfg_endpoint(cfg, err, errlen) != 0)
        return -1;
    return 0;
}

static int s3x_cfg_resolve_ca(s3x_config *cfg, const char *base_dir, char *err, size_t errlen)
{
    if (!cfg->ca_file || cfg->ca_file[0] == '/' || !base_dir || !*base_dir)
        return 0;
    s3x_buf p = {0};
    s3x_buf_printf(&p, "%s/%s", base_dir, cfg->ca_file);
    if (p.oom)
        return s3x_cfg_fail(err, errlen, "s3-export: out of memory");
    free(cfg->ca_file);
    cfg->ca_file = p.data;
    return 0;
}

int s3x_config_parse(s3x_config *cfg, const char *json, size_t len, const char *base_dir,
                     char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_attempts_before_alert = 5;
    cfg->backoff_initial_ms = 500;
    cfg->backoff_max_ms = 60000;
    cfg->timeout_ms = 30000;
    cfg->alert_repeat_seconds = 300;

    json_error_t jerr;
    json_t *root = json_loadb(json ? json : "{}", json ? len : 2, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return s3x_cfg_fail(err, errlen, "s3-export: config is not valid JSON (line %d: %.100s)",
                            jerr.line, jerr.text);
    int rc = -1;
    bool ps_given = false;
    if (!json_is_object(root)) {
        s3x_cfg_fail(err, errlen, "s3-export: config must be a mapping");
        goto done;
    }
    if (s3x_cfg_keys(root, err, errlen) || s3x_cfg_values(cfg, root, &ps_given, err, errlen) ||
        s3x_cfg_check(cfg, err, errlen) || s3x_cfg_resolve_ca(cfg, base_dir, err, errlen) ||
        s3x_cfg_derive(cfg, ps_given, err, errlen))
        goto done;
    rc = 0;
done:
    json_decref(root);
    if (rc != 0)
        s3x_config_free(cfg);
    return rc;
}

void s3x_config_free(s3x_config *cfg)
{
    free(cfg->bucket);
    free(cfg->region);
    free(cfg->prefix);
    free(cfg->endpoint);
    free(cfg->storage_class);
    free(cfg->sse);
    free(cfg->kms_key_id);
    free(cfg->ca_file);
    free(cfg->base_url);
    free(cfg->host_header);
    free(cfg->path_base);
    memset(cfg, 0, sizeof *cfg);
}
