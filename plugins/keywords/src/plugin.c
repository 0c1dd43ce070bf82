/*
 * plugin.c - the weir detector plugin "keywords": finds the terms of a large list (tens of
 * thousands of project names, code names, customer names) with one Aho-Corasick pass.
 * Configuration and semantics: plugins/keywords/README.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kw.h"
#include "weir/plugin.h"

#define KW_VERSION "1.0.0"
#define KW_KNOWN_KEYS "terms_file, terms, label, entity, whole_word, case_sensitive"

/* A host field may be used only when the host's struct reaches past it. */
#define KW_HOST_HAS(h, field)                                                                \
    ((h) && (h)->struct_size >= offsetof(weir_plugin_host, field) + sizeof((h)->field) &&   \
     (h)->field)
#define KW_INFO_HAS(i, field)                                                                \
    ((i)->struct_size >= offsetof(weir_detector_info, field) + sizeof((i)->field))

typedef struct kw_instance {
    kw_matcher *m;
    char *entity;
    char *label;
} kw_instance;

typedef struct kw_config {
    const char *terms_file;
    json_t *terms; /* borrowed from the parsed root */
    const char *label, *entity;
    int whole_word, case_sensitive;
} kw_config;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int kw_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *kw_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void kw_destroy(void *instance)
{
    kw_instance *in = instance;
    if (!in)
        return;
    kw_matcher_free(in->m);
    free(in->entity);
    free(in->label);
    free(in);
}

static int kw_want_string(json_t *v, const char *key, const char **out, char *errbuf,
                          size_t errlen)
{
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return kw_err(errbuf, errlen, "keywords: '%s' must be a non-empty string", key);
    *out = json_string_value(v);
    return 0;
}

static int kw_want_bool(json_t *v, const char *key, int *out, char *errbuf, size_t errlen)
{
    if (!json_is_boolean(v))
        return kw_err(errbuf, errlen, "keywords: '%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int kw_config_read(json_t *root, kw_config *c, char *errbuf, size_t errlen)
{
    const char *key;
    json_t *v;
    memset(c, 0, sizeof *c);
    c->label = "KEYWORD";
    c->entity = "KEYWORD";
    c->whole_word = 1;
    if (!json_is_object(root))
        return kw_err(errbuf, errlen, "keywords: the config must be a mapping (keys: %s)",
                      KW_KNOWN_KEYS);
    json_object_foreach(root, key, v) {
        int rc = 0;
        if (strcmp(key, "terms_file") == 0) {
            rc = kw_want_string(v, key, &c->terms_file, errbuf, errlen);
        } else if (strcmp(key, "terms") == 0) {
            if (!json_is_array(v))
                return kw_err(errbuf, errlen, "keywords: 'terms' must be a list of strings");
            c->terms = v;
        } else if (strcmp(key, "label") == 0) {
            rc = kw_want_string(v, key, &c->label, errbuf, errlen);
        } else if (strcmp(key, "entity") == 0) {
            rc = kw_want_string(v, key, &c->entity, errbuf, errlen);
        } else if (strcmp(key, "whole_word") == 0) {
            rc = kw_want_bool(v, key, &c->whole_word, errbuf, errlen);
        } else if (strcmp(key, "case_sensitive") == 0) {
            rc = kw_want_bool(v, key, &c->case_sensitive, errbuf, errlen);
        } else {
            return kw_err(errbuf, errlen, "keywords: unknown config key '%s' (known keys: %s)",
                          key, KW_KNOWN_KEYS);
        }
        if (rc)
            return rc;
    }
    if (!c->terms_file && (!c->terms || json_array_size(c->terms) == 0))
        return kw_err(errbuf, errlen, "keywords: set 'terms_file' (a file with one term per "
                      "line) or 'terms' (a list of terms)");
    return 0;
}

/* terms_file relative to the host's base_dir; new string. */
static char *kw_resolve(const weir_plugin_host *host, const char *path)
{
    const char *base = KW_HOST_HAS(host, base_dir) ? host->base_dir : NULL;
    if (path[0] == '/' || !base || !base[0])
        return kw_dup(path);
    size_t n = strlen(base) + 1 + strlen(path) + 1;
    char *full = malloc(n);
    if (full)
        snprintf(full, n, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", path);
    return full;
}

static int kw_load_terms(kw_builder *b, const weir_plugin_host *host, const kw_config *c,
                         char *errbuf, size_t errlen)
{
    char err[1024];
    err[0] = '\0';
    if (c->terms_file) {
        char *path = kw_resolve(host, c->terms_file);
        if (!path)
            return kw_err(errbuf, errlen, "keywords: out of memory");
        int rc = kw_builder_add_file(b, path, err, sizeof err);
        free(path);
        if (rc)
            return kw_err(errbuf, errlen, "keywords: %s", err);
    }
    if (c->terms) {
        size_t i;
        json_t *t;
        json_array_foreach(c->terms, i, t) {
            char where[32];
            snprintf(where, sizeof where, "terms[%zu]", i);
            if (!json_is_string(t))
                return kw_err(errbuf, errlen, "keywords: %s must be a string", where);
            if (kw_builder_add(b, json_string_value(t), json_string_length(t), where, 0, err,
                               sizeof err))
                return kw_err(errbuf, errlen, "keywords: %s", err);
        }
    }
    return 0;
}

static void kw_report(const weir_plugin_host *host, const kw_config *c, const kw_stats *st)
{
    if (KW_HOST_HAS(host, log)) {
        char msg[512];
        snprintf(msg, sizeof msg, "keywords: %zu terms (%zu distinct) from %s, %zu states, "
                 "%zu KiB, max_match_len %zu", st->terms_read, st->terms,
                 c->terms_file ? c->terms_file : "the config", st->states,
                 (st->bytes + 1023) / 1024, st->max_match_len);
        host->log(host->ctx, WEIR_PLUGIN_LOG_INFO, msg);
    }
    if (KW_HOST_HAS(host, gauge_set)) {
        host->gauge_set(host->ctx, "terms", (double)st->terms);
        host->gauge_set(host->ctx, "automaton_bytes", (double)st->bytes);
    }
}

static int kw_create(const weir_plugin_host *host, const char *config_json, size_t config_len,
                     void **instance, weir_detector_info *info, char *errbuf, size_t errlen)
{
    json_error_t jerr;
    kw_config c;
    kw_builder *b = NULL;
    kw_instance *in = NULL;
    int rc = -1;

    *instance = NULL;
    json_t *root = json_loadb(config_json ? config_json : "{}", config_json ? config_len : 2,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return kw_err(errbuf, errlen, "keywords: the config is not valid JSON: %s", jerr.text);
    if (kw_config_read(root, &c, errbuf, errlen))
        goto done;

    int norm = KW_HOST_HAS(host, normalize) && KW_HOST_HAS(host, free_mem);
    if (kw_builder_new(&b, c.case_sensitive, norm ? host->normalize : NULL,
                       norm ? host->free_mem : NULL, norm ? host->ctx : NULL)) {
        kw_err(errbuf, errlen, "keywords: out of memory");
        goto done;
    }
    if (kw_load_terms(b, host, &c, errbuf, errlen))
        goto done;

    char err[512];
    in = calloc(1, sizeof *in);
    if (!in || !(in->entity = kw_dup(c.entity)) || !(in->label = kw_dup(c.label))) {
        kw_err(errbuf, errlen, "keywords: out of memory");
        goto done;
    }
    if (kw_matcher_build(&in->m, b, c.whole_word, err, sizeof err)) {
        if (c.terms_file)
            kw_err(errbuf, errlen, "keywords: %s: %s", c.terms_file, err);
        else
            kw_err(errbuf, errlen, "keywords: %s", err);
        goto done;
    }

    kw_stats st;
    kw_matcher_stats(in->m, &st);
    kw_report(host, &c, &st);
    if (info) {
        if (KW_INFO_HAS(info, entity))
            info->entity = in->entity;
        if (KW_INFO_HAS(info, label))
            info->label = in->label;
        if (KW_INFO_HAS(info, max_match_len))
            info->max_match_len = st.max_match_len;
    }
    *instance = in;
    in = NULL;
    rc = 0;
done:
    kw_destroy(in);
    kw_builder_free(b);
    json_decref(root);
    return rc;
}

static int kw_scan(const void *instance, void *scratch, const char *text, size_t len,
                   weir_plugin_emit_fn emit, void *emit_ctx)
{
    (void)scratch;
    const kw_instance *in = instance;
    return kw_matcher_scan(in->m, text, len, emit, emit_ctx);
}

static int kw_tail(const void *instance, void *scratch, const char *text, size_t len,
                   size_t from, size_t *earliest)
{
    (void)scratch;
    const kw_instance *in = instance;
    *earliest = kw_matcher_tail(in->m, text, len, from);
    return 0;
}

static const weir_plugin kw_plugin = {
    .abi_major = WEIR_PLUGIN_ABI_MAJOR,
    .struct_size = sizeof(weir_plugin),
    .abi_minor = WEIR_PLUGIN_ABI_MINOR,
    .kind = WEIR_PLUGIN_DETECTOR,
    .name = "keywords",
    .version = KW_VERSION,
    .detector_create = kw_create,
    .detector_scan = kw_scan,
    .detector_destroy = kw_destroy,
    .detector_tail = kw_tail,
};

WEIR_PLUGIN_DEFINE(kw_plugin)
