/*
 * kw_test_host.h - a test host for the keywords plugin: dlopen()s the module the way weir
 * does, offers NFKC normalization (utf8proc), collects log lines, and runs scans into a
 * list of spans.
 */
#ifndef KW_TEST_HOST_H
#define KW_TEST_HOST_H

#include <stddef.h>

#include "weir/plugin.h"

/** The plugin's descriptor after kwt_load. */
extern const weir_plugin *kwt_plugin;

/** dlopen(path, RTLD_NOW | RTLD_LOCAL), checks the descriptor; 0 or -1 (message printed). */
int kwt_load(const char *path);
void kwt_unload(void);

/** A host: normalize (NFKC) when `normalize`, base_dir as given (may be NULL). */
void kwt_host(weir_plugin_host *h, int normalize, const char *base_dir);

/** The last log line the test host received. */
const char *kwt_last_log(void);

/** Spans found by one scan. */
typedef struct kwt_spans {
    size_t n;
    size_t start[4096], end[4096];
    size_t total; /* all emitted, even beyond the arrays */
} kwt_spans;

/** detector_create with config JSON and host h; errbuf filled on failure. */
int kwt_create(const weir_plugin_host *h, const char *json, void **inst, weir_detector_info *info,
               char *errbuf, size_t errlen);
/** detector_scan into *out (zeroed first). */
int kwt_scan(const void *inst, const char *text, size_t len, kwt_spans *out);

/** A new temporary directory (removed by kwt_cleanup) and a file written in it. */
const char *kwt_tmpdir(void);
const char *kwt_write(const char *name, const char *data, size_t len);
void kwt_cleanup(void);

#endif
