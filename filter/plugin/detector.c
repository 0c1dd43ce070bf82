/*
 * detector.c - detector plugin instances: create from config, scan, stream tails, and a
 * pool of per-thread scratch memory.
 *
 * A compiled policy owns its wr_pdets; many threads scan one at once. A plugin that wants
 * working memory (detector_scratch_new) gets one scratch per concurrent scan from a pool
 * under a mutex: a thread takes one, uses it, gives it back, so no two threads ever share
 * one and a busy policy keeps as many as it had concurrent scans.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "plugin/loader.h"

struct wr_pdet {
    wr_plugin *pl;
    const weir_plugin *desc;
    void *inst;
    int created;          /* detector_create succeeded: destroy is owed (inst may be NULL) */
    weir_detector_info info;
    wr_hostblk hb;
    pthread_mutex_t mu;
    void **pool; /* idle scratches */
    size_t npool, cap;
};

int wr_pdet_new(wr_pdet **out, const char *name, const char *base_dir, const char *config_json,
                unsigned norm_flags, weir_error *err)
{
    *out = NULL;
    wr_pdet *d = calloc(1, sizeof *d);
    if (!d)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
    int rc = wr_plugin_open(&d->pl, name, base_dir, WEIR_PLUGIN_DETECTOR, err);
    if (rc) {
        free(d);
        return rc;
    }
    d->desc = wr_plugin_desc(d->pl);
    if (wr_hostblk_init(&d->hb, name, base_dir, norm_flags, NULL) != 0) {
        wr_plugin_close(d->pl);
        free(d);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
    }
    pthread_mutex_init(&d->mu, NULL);
    const char *cfg = config_json ? config_json : "{}";
    char msg[200] = "";
    d->info.struct_size = sizeof d->info;
    rc = d->desc->detector_create(&d->hb.host, cfg, strlen(cfg), &d->inst, &d->info, msg,
                                  sizeof msg);
    msg[sizeof msg - 1] = '\0';
    if (rc != 0) {
        rc = wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                          "detector plugin '%.80s' (%.100s) refused to start: %.150s",
                          d->desc->name ? d->desc->name : "?", wr_plugin_file(d->pl),
                          msg[0] ? msg : "detector_create failed and gave no reason");
        wr_pdet_free(d); /* nothing to destroy: create failed */
        return rc;
    }
    d->created = 1;
    *out = d;
    return 0;
}

void wr_pdet_free(wr_pdet *d)
{
    if (!d)
        return;
    if (d->desc) {
        for (size_t i = 0; i < d->npool; i++)
            d->desc->detector_scratch_free(d->inst, d->pool[i]);
        if (d->created)
            d->desc->detector_destroy(d->inst);
    }
    free(d->pool);
    pthread_mutex_destroy(&d->mu);
    wr_hostblk_release(&d->hb);
    wr_plugin_close(d->pl);
    free(d);
}

const char *wr_pdet_entity(const wr_pdet *d)
{
    return d->info.entity;
}

const char *wr_pdet_label(const wr_pdet *d)
{
    return d->info.label;
}

size_t wr_pdet_max_len(const wr_pdet *d)
{
    return d->info.max_match_len;
}

/* A scratch for this call (NULL when the plugin uses none); *fail on out of memory. */
static void *scratch_take(const wr_pdet *cd, int *fail)
{
    wr_pdet *d = (wr_pdet *)cd; /* the pool is the one mutable part of a shared instance */
    *fail = 0;
    if (!d->desc->detector_scratch_new)
        return NULL;
    void *s = NULL;
    pthread_mutex_lock(&d->mu);
    if (d->npool)
        s = d->pool[--d->npool];
    pthread_mutex_unlock(&d->mu);
    if (!s && !(s = d->desc->detector_scratch_new(d->inst)))
        *fail = 1;
    return s;
}

static void scratch_give(const wr_pdet *cd, void *s)
{
    wr_pdet *d = (wr_pdet *)cd;
    if (!s)
        return;
    pthread_mutex_lock(&d->mu);
    void **v = wr_grow(d->pool, &d->cap, d->npool + 1, sizeof *d->pool, 8);
    if (v) {
        d->pool = v;
        d->pool[d->npool++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&d->mu);
    if (s)
        d->desc->detector_scratch_free(d->inst, s);
}

typedef struct emit_ctx {
    const char *text;
    size_t len;
    wr_pdet_emit_fn emit;
    void *ctx;
    int bad; /* the plugin broke the span rules */
    int oom;
} emit_ctx;

static int on_emit(void *p, size_t start, size_t end)
{
    emit_ctx *e = p;
    /* spans must lie inside the text and on character boundaries */
    if (start >= end || end > e->len || ((unsigned char)e->text[start] & 0xC0) == 0x80 ||
        (end < e->len && ((unsigned char)e->text[end] & 0xC0) == 0x80)) {
        e->bad = 1;
        return 1;
    }
    if (e->emit(e->ctx, start, end) != 0) {
        e->oom = 1;
        return 1;
    }
    return 0;
}

int wr_pdet_scan(const wr_pdet *d, const char *text, size_t len, wr_pdet_emit_fn emit,
                 void *ctx)
{
    int fail;
    void *s = scratch_take(d, &fail);
    if (fail)
        return WEIR_ENOMEM;
    emit_ctx e = {text, len, emit, ctx, 0, 0};
    int rc = d->desc->detector_scan(d->inst, s, text, len, on_emit, &e);
    scratch_give(d, s);
    if (e.oom)
        return WEIR_ENOMEM;
    return rc != 0 || e.bad ? WR_EPLUGIN : 0;
}

int wr_pdet_tail(const wr_pdet *d, const char *text, size_t len, size_t from, size_t *earliest)
{
    *earliest = len;
    if (from >= len)
        return 0;
    if (!d->desc->detector_tail) {
        size_t m = d->info.max_match_len;
        /* a finding that text to come could complete or change (a finding may depend on
         * the character after it) starts within max_len + one character of the end */
        *earliest = m && len - from > m && len - from - m > 4 ? len - m - 4 : from;
        return 0;
    }
    int fail;
    void *s = scratch_take(d, &fail);
    if (fail)
        return WEIR_ENOMEM;
    size_t e = len;
    int rc = d->desc->detector_tail(d->inst, s, text, len, from, &e);
    scratch_give(d, s);
    if (rc != 0)
        return WR_EPLUGIN;
    *earliest = e < from ? from : e > len ? len : e;
    return 0;
}
