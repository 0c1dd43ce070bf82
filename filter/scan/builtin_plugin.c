/*
 * builtin_plugin.c - the builtin detectors behind the plugin interface (<weir/plugin.h>).
 *
 * Every builtin detector is reachable through this one statically registered descriptor,
 * created with config {"detector": "<name or alias>"}, exactly as a loaded plugin is. The
 * policy compiler takes a shortcut for them: their regexes go straight into the scanner,
 * which runs one shared prefilter pass for all builtins of a check instead of one pass per
 * detector. tests/unit/plugin/ checks that both paths find the same spans.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scan/scan.h"

#define WR_STR_(x) #x
#define WR_STR(x) WR_STR_(x)

typedef struct binst {
    wr_detector d;
    unsigned char want;
} binst;

static int b_create(const weir_plugin_host *host, const char *config_json, size_t config_len,
                    void **instance, weir_detector_info *info, char *errbuf, size_t errlen)
{
    (void)host;
    *instance = NULL;
    json_error_t je;
    json_t *cfg = json_loadb(config_json, config_len, 0, &je);
    const char *name = cfg ? json_string_value(json_object_get(cfg, "detector")) : NULL;
    const wr_detector_def *def = name ? wr_builtin_find(name) : NULL;
    if (!def) {
        snprintf(errbuf, errlen, "config needs \"detector\": the name of a builtin detector%s%s",
                 name ? "; unknown: " : "", name ? name : "");
        json_decref(cfg);
        return 1;
    }
    json_decref(cfg);
    binst *b = calloc(1, sizeof *b);
    char msg[160];
    if (!b || wr_detector_init_builtin(&b->d, def, msg, sizeof msg) != 0) {
        snprintf(errbuf, errlen, "cannot build builtin detector '%s'", def->name);
        free(b);
        return 1;
    }
    b->want = 1;
    if (info->struct_size >= offsetof(weir_detector_info, max_match_len) + sizeof(size_t)) {
        info->entity = b->d.entity;
        info->label = b->d.label;
        info->max_match_len = b->d.max_len;
    }
    *instance = b;
    return 0;
}

static int b_scan(const void *instance, void *scratch, const char *text, size_t len,
                  weir_plugin_emit_fn emit, void *emit_ctx)
{
    (void)scratch;
    const binst *b = instance;
    wr_match_list ml = {0};
    wr_scan_limits lim = {1000000u, 10000u};
    int rc = wr_scan(&ml, &b->d, &b->want, 1, text, len, &lim, NULL);
    for (size_t i = 0; rc == 0 && i < ml.n; i++)
        rc = emit(emit_ctx, ml.v[i].start, ml.v[i].end);
    wr_match_list_free(&ml);
    return rc;
}

static int b_tail(const void *instance, void *scratch, const char *text, size_t len, size_t from,
                  size_t *earliest)
{
    (void)scratch;
    const binst *b = instance;
    wr_scan_limits lim = {1000000u, 10000u};
    return wr_scan_tail(&b->d, &b->want, 1, text, len, from, &lim, earliest);
}

static void b_destroy(void *instance)
{
    binst *b = instance;
    if (!b)
        return;
    wr_detector_release(&b->d);
    free(b);
}

const weir_plugin wr_builtin_plugin = {
    .abi_major = WEIR_PLUGIN_ABI_MAJOR,
    .struct_size = sizeof(weir_plugin),
    .abi_minor = WEIR_PLUGIN_ABI_MINOR,
    .kind = WEIR_PLUGIN_DETECTOR,
    .name = "builtin",
    .version = WR_STR(WEIR_VERSION_MAJOR) "." WR_STR(WEIR_VERSION_MINOR) "." WR_STR(WEIR_VERSION_PATCH),
    .detector_create = b_create,
    .detector_scan = b_scan,
    .detector_destroy = b_destroy,
    .detector_tail = b_tail,
};
