/*
 * host.c - the services weir offers a plugin: normalization (the policy's), and the
 * embedder's log, metrics and AWS credentials passed through with its own ctx.
 */
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "scan/scan.h"

static int h_normalize(void *ctx, const char *in, size_t len, char **out, size_t *out_len)
{
    const wr_hostblk *b = ctx;
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!in && len)
        return WEIR_EINVAL;
    wr_norm n;
    int rc = wr_normalize(&n, in ? in : "", len, b->norm_flags);
    if (rc) {
        wr_norm_free(&n);
        return rc;
    }
    char *s = wr_strndup(n.text, n.len);
    size_t sl = n.len;
    wr_norm_free(&n);
    if (!s)
        return WEIR_ENOMEM;
    *out = s;
    if (out_len)
        *out_len = sl;
    return 0;
}

static void h_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static void h_log(void *ctx, weir_plugin_log_level level, const char *message)
{
    const wr_hostblk *b = ctx;
    b->svc.log(b->svc.ctx, level, message ? message : "");
}

static void h_counter(void *ctx, const char *name, uint64_t delta)
{
    const wr_hostblk *b = ctx;
    if (name)
        b->svc.counter_add(b->svc.ctx, name, delta);
}

static void h_gauge(void *ctx, const char *name, double v)
{
    const wr_hostblk *b = ctx;
    if (name)
        b->svc.gauge_set(b->svc.ctx, name, v);
}

static int h_creds(void *ctx, weir_plugin_aws_credentials *out)
{
    const wr_hostblk *b = ctx;
    if (!out)
        return WEIR_EINVAL;
    return b->svc.aws_credentials(b->svc.ctx, out);
}

int wr_hostblk_init(wr_hostblk *b, const char *path, const char *base_dir, unsigned norm_flags,
                    const weir_plugin_host *svc)
{
    memset(b, 0, sizeof *b);
    if (svc && svc->struct_size) { /* 0: an embedder that did not say, so nothing is read */
        /* read only what the embedder's struct holds */
        size_t n = svc->struct_size && svc->struct_size < sizeof b->svc ? svc->struct_size
                                                                         : sizeof b->svc;
        memcpy(&b->svc, svc, n);
    }
    b->norm_flags = norm_flags;
    b->path = wr_strdup(path ? path : "");
    b->base = wr_strdup(base_dir && *base_dir ? base_dir : ".");
    if (!b->path || !b->base) {
        wr_hostblk_release(b);
        return WEIR_ENOMEM;
    }
    weir_plugin_host *h = &b->host;
    h->abi_major = WEIR_PLUGIN_ABI_MAJOR;
    h->struct_size = sizeof *h;
    h->ctx = b;
    h->plugin_path = b->path;
    h->base_dir = b->base;
    h->normalize = h_normalize;
    h->free_mem = h_free;
    h->log = b->svc.log ? h_log : NULL;
    h->counter_add = b->svc.counter_add ? h_counter : NULL;
    h->gauge_set = b->svc.gauge_set ? h_gauge : NULL;
    h->aws_credentials = b->svc.aws_credentials ? h_creds : NULL;
    return 0;
}

void wr_hostblk_release(wr_hostblk *b)
{
    free(b->path);
    free(b->base);
    b->path = b->base = NULL;
}
