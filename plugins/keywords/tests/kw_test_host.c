/*
 * kw_test_host.c - see kw_test_host.h.
 */
#include "kw_test_host.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <utf8proc.h>

const weir_plugin *kwt_plugin;
static void *kwt_dl;
static char kwt_log_line[1024];
static char kwt_dir[256];
static char kwt_path[512];

int kwt_load(const char *path)
{
    kwt_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!kwt_dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    weir_plugin_entry_fn entry;
    void *sym = dlsym(kwt_dl, WEIR_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        fprintf(stderr, "%s: no %s\n", path, WEIR_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    memcpy(&entry, &sym, sizeof entry);
    kwt_plugin = entry();
    if (!kwt_plugin || kwt_plugin->abi_major != WEIR_PLUGIN_ABI_MAJOR ||
        kwt_plugin->struct_size < WEIR_PLUGIN_MIN_SIZE) {
        fprintf(stderr, "%s: bad descriptor\n", path);
        return -1;
    }
    return 0;
}

void kwt_unload(void)
{
    if (kwt_dl)
        dlclose(kwt_dl);
    kwt_dl = NULL;
    kwt_plugin = NULL;
}

static int kwt_normalize(void *ctx, const char *in, size_t len, char **out, size_t *out_len)
{
    (void)ctx;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len,
                                      &dst, UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                      UTF8PROC_COMPOSE);
    if (n < 0)
        return -1;
    *out = (char *)dst;
    *out_len = (size_t)n;
    return 0;
}

static void kwt_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static void kwt_logf(void *ctx, weir_plugin_log_level level, const char *message)
{
    (void)ctx;
    (void)level;
    snprintf(kwt_log_line, sizeof kwt_log_line, "%s", message);
}

const char *kwt_last_log(void)
{
    return kwt_log_line;
}

void kwt_host(weir_plugin_host *h, int normalize, const char *base_dir)
{
    memset(h, 0, sizeof *h);
    h->abi_major = WEIR_PLUGIN_ABI_MAJOR;
    h->struct_size = sizeof *h;
    h->plugin_path = "weir-keywords.so";
    h->base_dir = base_dir;
    if (normalize)
        h->normalize = kwt_normalize;
    h->free_mem = kwt_free;
    h->log = kwt_logf;
}

int kwt_create(const weir_plugin_host *h, const char *json, void **inst, weir_detector_info *info,
               char *errbuf, size_t errlen)
{
    weir_detector_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    errbuf[0] = '\0';
    return kwt_plugin->detector_create(h, json, strlen(json), inst, info, errbuf, errlen);
}

static int kwt_emit(void *ctx, size_t start, size_t end)
{
    kwt_spans *s = ctx;
    if (s->n < sizeof s->start / sizeof s->start[0]) {
        s->start[s->n] = start;
        s->end[s->n] = end;
        s->n++;
    }
    s->total++;
    return 0;
}

int kwt_scan(const void *inst, const char *text, size_t len, kwt_spans *out)
{
    memset(out, 0, sizeof *out);
    return kwt_plugin->detector_scan(inst, NULL, text, len, kwt_emit, out);
}

const char *kwt_tmpdir(void)
{
    if (!kwt_dir[0]) {
        snprintf(kwt_dir, sizeof kwt_dir, "/tmp/kwtest.XXXXXX");
        if (!mkdtemp(kwt_dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return kwt_dir;
}

const char *kwt_write(const char *name, const char *data, size_t len)
{
    snprintf(kwt_path, sizeof kwt_path, "%s/%s", kwt_tmpdir(), name);
    FILE *f = fopen(kwt_path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(kwt_path);
        abort();
    }
    return kwt_path;
}

void kwt_cleanup(void)
{
    if (!kwt_dir[0])
        return;
    DIR *d = opendir(kwt_dir);
    if (d) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", kwt_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(kwt_dir);
    kwt_dir[0] = '\0';
}
