/*
 * testplug.c - one small plugin, built in several variants (tests/plugin/tests.cmake) that
 * each break one rule of <weir/plugin.h>, for tests/unit/plugin/test_loader.c.
 *
 *   TP_DETECTOR    a detector finding the word FALCON (exact bytes), with detector_tail
 *                  unless TP_NO_TAIL, and a scratch pool when TP_SCRATCH
 *   TP_SINK        an audit sink appending "<kind> <key> <signature>" lines to config.out
 *   TP_MAJOR=n     abi_major n            TP_SMALL     struct_size 16
 *   TP_NO_ENTRY    no entry symbol        TP_NULL_SCAN detector_scan NULL
 *   TP_CREATE_FAILS  create fails with a message
 *   TP_BAD_SPAN    emits a span past the end of the text
 *   TP_FAIL_ON     scan fails on texts containing "EXPLODE"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

#ifndef TP_MAJOR
#define TP_MAJOR WEIR_PLUGIN_ABI_MAJOR
#endif

#ifdef TP_DETECTOR
static const char WORD[] = "FALCON";
#define WLEN (sizeof WORD - 1)
#endif

#ifdef TP_DETECTOR
static int t_create(const weir_plugin_host *host, const char *cfg, size_t cfg_len, void **inst,
                    weir_detector_info *info, char *errbuf, size_t errlen)
{
    (void)host;
    (void)cfg;
    (void)cfg_len;
#ifdef TP_CREATE_FAILS
    (void)inst;
    (void)info;
    snprintf(errbuf, errlen, "terms file 'missing.txt' cannot be read: No such file");
    return 1;
#else
    (void)errbuf;
    (void)errlen;
    int *n = malloc(sizeof *n); /* an allocation, so a missing destroy shows as a leak */
    if (!n)
        return 1;
    *n = 0;
    *inst = n;
    info->entity = "PROJECT_NAME";
    info->label = "PROJECT";
    info->max_match_len = WLEN;
    return 0;
#endif
}

__attribute__((unused)) /* TP_NULL_SCAN leaves it out */
static int t_scan(const void *inst, void *scratch, const char *text, size_t len,
                  weir_plugin_emit_fn emit, void *ctx)
{
    (void)inst;
#ifdef TP_SCRATCH
    if (!scratch || *(int *)scratch != 42)
        return 1;
#else
    (void)scratch;
#endif
#ifdef TP_BAD_SPAN
    return emit(ctx, 0, len + 10);
#endif
#ifdef TP_FAIL_ON
    for (size_t i = 0; i + 7 <= len; i++)
        if (!memcmp(text + i, "EXPLODE", 7))
            return 1;
#endif
    for (size_t i = 0; i + WLEN <= len; i++)
        if (!memcmp(text + i, WORD, WLEN)) {
            if (emit(ctx, i, i + WLEN))
                return 1;
            i += WLEN - 1;
        }
    return 0;
}

#ifndef TP_NO_TAIL
/* the start of the longest suffix of text that is a proper prefix of WORD */
static int t_tail(const void *inst, void *scratch, const char *text, size_t len, size_t from,
                  size_t *earliest)
{
    (void)inst;
    (void)scratch;
    *earliest = len;
    for (size_t k = WLEN - 1; k > 0; k--)
        if (len >= k && len - k >= from && !memcmp(text + len - k, WORD, k)) {
            *earliest = len - k;
            break;
        }
    return 0;
}
#endif

static void t_destroy(void *inst)
{
    free(inst);
}

#ifdef TP_SCRATCH
static void *t_scratch_new(const void *inst)
{
    (void)inst;
    int *s = malloc(sizeof *s);
    if (s)
        *s = 42;
    return s;
}
static void t_scratch_free(const void *inst, void *s)
{
    (void)inst;
    free(s);
}
#endif
#endif /* TP_DETECTOR */

#ifdef TP_SINK
typedef struct tsink {
    FILE *out;
} tsink;

static int s_create(const weir_plugin_host *host, const char *cfg, size_t cfg_len,
                    const weir_sink_trail *trail, void **inst, char *errbuf, size_t errlen)
{
    (void)host;
    (void)trail;
    /* config is {"out":"<path>"}: good enough for a test without a JSON parser */
    const char *k = strstr(cfg, "\"out\":\"");
    if (!k) {
        snprintf(errbuf, errlen, "config needs \"out\"");
        return 1;
    }
    k += 7;
    const char *e = memchr(k, '"', cfg_len - (size_t)(k - cfg));
    char path[512];
    if (!e || (size_t)(e - k) >= sizeof path)
        return 1;
    memcpy(path, k, (size_t)(e - k));
    path[e - k] = '\0';
    tsink *s = calloc(1, sizeof *s);
    if (!s || !(s->out = fopen(path, "a"))) {
        snprintf(errbuf, errlen, "cannot open %s", path);
        free(s);
        return 1;
    }
    if (host->log)
        host->log(host->ctx, WEIR_PLUGIN_LOG_INFO, "test sink started");
    if (host->counter_add)
        host->counter_add(host->ctx, "starts", 1);
    *inst = s;
    return 0;
}

static int s_file(void *inst, const weir_sink_file *f)
{
    tsink *s = inst;
    fprintf(s->out, "%s %s %s\n", f->kind == WEIR_SINK_LOG ? "log" : "digest", f->key,
            f->signature ? f->signature : "-");
    fflush(s->out);
    return 0;
}

static int s_record(void *inst, const char *json, size_t len)
{
    tsink *s = inst;
    fprintf(s->out, "record %zu %c\n", len, len ? json[len - 1] : '-');
    return 0;
}

static int s_flush(void *inst, unsigned timeout_ms)
{
    (void)timeout_ms;
    tsink *s = inst;
    return fflush(s->out) != 0;
}

static void s_destroy(void *inst)
{
    tsink *s = inst;
    fclose(s->out);
    free(s);
}
#endif

static const weir_plugin plugin = {
    .abi_major = TP_MAJOR,
#ifdef TP_SMALL
    .struct_size = 16,
#else
    .struct_size = sizeof(weir_plugin),
#endif
    .abi_minor = WEIR_PLUGIN_ABI_MINOR,
#ifdef TP_DETECTOR
    .kind = WEIR_PLUGIN_DETECTOR,
    .name = "falcon",
    .version = "1.0.0",
    .detector_create = t_create,
#ifndef TP_NULL_SCAN
    .detector_scan = t_scan,
#endif
    .detector_destroy = t_destroy,
#ifndef TP_NO_TAIL
    .detector_tail = t_tail,
#endif
#ifdef TP_SCRATCH
    .detector_scratch_new = t_scratch_new,
    .detector_scratch_free = t_scratch_free,
#endif
#else
    .kind = WEIR_PLUGIN_AUDIT_SINK,
    .name = "testsink",
    .version = "1.0.0",
    .sink_create = s_create,
    .sink_file = s_file,
    .sink_flush = s_flush,
    .sink_destroy = s_destroy,
    .sink_record = s_record,
#endif
};

#ifndef TP_NO_ENTRY
WEIR_PLUGIN_DEFINE(plugin)
#else
/* a plugin that forgot WEIR_PLUGIN_DEFINE: something else is exported */
WEIR_PLUGIN_EXPORT const weir_plugin *weir_plugin_entry_v0(void);
WEIR_PLUGIN_EXPORT const weir_plugin *weir_plugin_entry_v0(void) { return &plugin; }
#endif
