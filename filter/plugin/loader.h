/*
 * loader.h - loading plugins (include/weir/plugin.h) and running their instances. Internal.
 *
 * wr_plugin_open dlopen()s a file with RTLD_NOW | RTLD_LOCAL, calls its entry and checks the
 * descriptor (ABI major, struct size, kind, required functions) before anything else in the
 * plugin runs. Detector instances (wr_pdet) are owned by a compiled policy and run by the
 * scanner; sink instances (wr_psink) are owned by an audit trail.
 */
#ifndef WEIR_PLUGIN_LOADER_H
#define WEIR_PLUGIN_LOADER_H

#include <stddef.h>

#include "internal.h"
#include "weir/plugin.h"

/* A loaded plugin file. */
typedef struct wr_plugin wr_plugin;

/*
 * Resolves `name` (a path with a '/', relative paths against base_dir; or a bare name
 * looked up as weir-<name>.so in $WEIR_PLUGIN_PATH, then in weir's plugin directory),
 * loads it and checks its descriptor for `kind`. New *out, close with wr_plugin_close.
 * Errors name the file: WEIR_ENOTFOUND, WEIR_EINVAL (not a usable plugin), WEIR_ENOMEM.
 */
int wr_plugin_open(wr_plugin **out, const char *name, const char *base_dir,
                   weir_plugin_kind kind, weir_error *err);
void wr_plugin_close(wr_plugin *pl);
const weir_plugin *wr_plugin_desc(const wr_plugin *pl);
const char *wr_plugin_file(const wr_plugin *pl); /* the resolved path */

/* ------------------------------------------------------------------ detectors */

typedef struct wr_pdet wr_pdet;

/*
 * Loads the plugin `name` and creates a detector instance from config_json. `norm_flags`:
 * the policy's WR_NORM_* (host->normalize applies them). On failure err names the plugin
 * and carries its message. New *out, free with wr_pdet_free.
 */
int wr_pdet_new(wr_pdet **out, const char *name, const char *base_dir, const char *config_json,
                unsigned norm_flags, weir_error *err);
void wr_pdet_free(wr_pdet *d);

/* What the instance said about itself at create. Borrowed (valid until wr_pdet_free). */
const char *wr_pdet_entity(const wr_pdet *d); /* NULL: none given */
const char *wr_pdet_label(const wr_pdet *d);  /* NULL: none given */
size_t wr_pdet_max_len(const wr_pdet *d);     /* 0: unbounded */

/* Findings are appended through this callback (start < end <= len, checked by wr_pdet). */
typedef int (*wr_pdet_emit_fn)(void *ctx, size_t start, size_t end);

/* Runs the detector over text[0..len). 0, WEIR_ENOMEM, or WR_EPLUGIN. Thread-safe. */
int wr_pdet_scan(const wr_pdet *d, const char *text, size_t len, wr_pdet_emit_fn emit,
                 void *ctx);

/* The earliest offset >= from where a finding could still start (streams); *earliest = len
 * when none. Falls back to len - max_len (or `from` when unbounded). 0 or WR_EPLUGIN. */
int wr_pdet_tail(const wr_pdet *d, const char *text, size_t len, size_t from, size_t *earliest);

/* ------------------------------------------------------------------ audit sinks */

typedef struct wr_psink wr_psink;

/*
 * Loads the sink plugin `name` and creates an instance for `trail`. `services` (may be NULL)
 * supplies log / counter_add / gauge_set / aws_credentials and their ctx. New *out.
 */
int wr_psink_new(wr_psink **out, const char *name, const char *base_dir, const char *config_json,
                 const weir_sink_trail *trail, const weir_plugin_host *services,
                 weir_error *err);
int wr_psink_file(wr_psink *s, const weir_sink_file *f);
int wr_psink_record(wr_psink *s, const char *json, size_t len);
int wr_psink_flush(wr_psink *s, unsigned timeout_ms);
const char *wr_psink_name(const wr_psink *s);
void wr_psink_free(wr_psink *s);

#endif
