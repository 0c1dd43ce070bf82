/*
 * host.h - the weir_plugin_host block handed to one plugin instance. Internal.
 */
#ifndef WEIR_PLUGIN_HOST_H
#define WEIR_PLUGIN_HOST_H

#include "weir/plugin.h"

typedef struct wr_hostblk {
    weir_plugin_host host; /* what the plugin sees; host.ctx points at this block */
    weir_plugin_host svc;  /* the embedder's services (log, metrics, credentials), or zeroes */
    unsigned norm_flags;   /* WR_NORM_* for host.normalize */
    char *path, *base;     /* owned copies of plugin_path and base_dir */
} wr_hostblk;

/* Fills b for a plugin named `path` (as written) with services `svc` (may be NULL).
 * 0 or WEIR_ENOMEM. Release with wr_hostblk_release. */
int wr_hostblk_init(wr_hostblk *b, const char *path, const char *base_dir, unsigned norm_flags,
                    const weir_plugin_host *svc);
void wr_hostblk_release(wr_hostblk *b);

#endif
