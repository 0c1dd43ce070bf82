/*
 * loader.c - finding, loading and checking plugin files, and the host block a plugin sees.
 *
 * The order matters (STYLE.md, anti-pattern 4): after dlopen, the only plugin code that runs
 * before the checks is the entry function itself, which returns a pointer to const data.
 * abi_major and struct_size are read first; no other field is read unless struct_size
 * covers it; no function pointer is called before every required one is known non-NULL.
 * (dlopen runs a library's constructors; that is the price of any dynamic loading, which
 * is why a plugin file writable by other users is refused.)
 */
#define _DEFAULT_SOURCE /* realpath */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin/loader.h"

#ifndef WEIR_PLUGIN_DIR
#define WEIR_PLUGIN_DIR "/usr/local/lib/weir/plugins"
#endif

struct wr_plugin {
    void *dl;
    const weir_plugin *desc;
    char *file;
};

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case WEIR_PLUGIN_DETECTOR:
        return "a detector";
    case WEIR_PLUGIN_AUDIT_SINK:
        return "an audit sink";
    default:
        return "of an unknown kind";
    }
}

/* 1 when `name` is a bare plugin name ([A-Za-z0-9_-]+), looked up in the plugin path. */
static int bare_name(const char *name)
{
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The file to load for `name`: new string, or NULL with err set. */
static char *resolve(const char *name, const char *base_dir, weir_error *err)
{
    wr_buf b;
    wr_buf_init(&b);
    if (bare_name(name)) {
        const char *env = getenv("WEIR_PLUGIN_PATH");
        wr_buf tried;
        wr_buf_init(&tried);
        for (int pass = 0; pass < 2; pass++) {
            const char *dirs = pass == 0 ? (env ? env : "") : WEIR_PLUGIN_DIR;
            while (*dirs) {
                size_t n = strcspn(dirs, ":");
                if (n) {
                    b.len = 0;
                    wr_buf_printf(&b, "%.*s/weir-%s.so", (int)n, dirs, name);
                    if (b.oom)
                        break;
                    if (is_file(b.data)) {
                        wr_buf_free(&tried);
                        return b.data;
                    }
                    wr_buf_printf(&tried, "%s%.*s", tried.len ? ", " : "", (int)n, dirs);
                }
                dirs += n + (dirs[n] == ':');
            }
        }
        if (b.oom || tried.oom)
            wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
        else
            wr_error_set(err, WEIR_ENOTFOUND, NULL, 0, 0,
                         "plugin '%s' not found: no weir-%s.so in %s (set WEIR_PLUGIN_PATH or "
                         "give a path)",
                         name, name, tried.data ? tried.data : WEIR_PLUGIN_DIR);
        wr_buf_free(&tried);
        wr_buf_free(&b);
        return NULL;
    }
    if (name[0] == '/' || !base_dir || !*base_dir)
        wr_buf_puts(&b, name);
    else
        wr_buf_printf(&b, "%s/%s", base_dir, name);
    if (b.oom) {
        wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
        wr_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Refuses files another user could replace with code of their choosing. */
static int check_file(const char *file, weir_error *err)
{
    struct stat st;
    if (stat(file, &st) != 0)
        return wr_error_set(err, errno == ENOENT ? WEIR_ENOTFOUND : WEIR_EIO, NULL, 0, 0,
                            "cannot load plugin '%.100s': %s", file, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "cannot load plugin '%.100s': not a regular file", file);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "refusing plugin '%.100s': it is writable by %s (chmod go-w it)",
                            file, (st.st_mode & S_IWOTH) ? "every user" : "its group");
    return 0;
}

/* Checks the descriptor for `kind`: 0 or WEIR_EINVAL with a message naming the file. */
static int check_desc(const weir_plugin *d, const char *file, weir_plugin_kind kind,
                      weir_error *err)
{
    if (!d)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "refusing plugin '%.100s': %s() returned NULL", file,
                            WEIR_PLUGIN_ENTRY_SYMBOL);
    /* the first two fields are read alone: every ABI major keeps them first */
    uint32_t major = d->abi_major, size = d->struct_size;
    if (major != WEIR_PLUGIN_ABI_MAJOR)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "refusing plugin '%.100s': it was built for weir plugin ABI %u, "
                            "this weir speaks ABI %d (%d.%d): rebuild it against this weir's "
                            "<weir/plugin.h>",
                            file, major, WEIR_PLUGIN_ABI_MAJOR, WEIR_PLUGIN_ABI_MAJOR,
                            WEIR_PLUGIN_ABI_MINOR);
    if (size < WEIR_PLUGIN_MIN_SIZE)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "refusing plugin '%.100s': its descriptor is %u bytes, ABI %d "
                            "needs at least %zu (built against an incomplete <weir/plugin.h>?)",
                            file, size, WEIR_PLUGIN_ABI_MAJOR, (size_t)WEIR_PLUGIN_MIN_SIZE);
    if (d->kind != (uint32_t)kind)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "refusing plugin '%.100s': it is %s plugin, %s is needed here",
                            file, kind_name(d->kind), kind_name(kind));
    const char *missing = NULL;
    if (kind == WEIR_PLUGIN_DETECTOR) {
        if (!d->detector_create)
            missing = "detector_create";
        else if (!d->detector_scan)
            missing = "detector_scan";
        else if (!d->detector_destroy)
            missing = "detector_destroy";
        else if (!d->detector_scratch_new != !d->detector_scratch_free)
            missing = d->detector_scratch_new ? "detector_scratch_free" : "detector_scratch_new";
    } else {
        if (!d->sink_create)
            missing = "sink_create";
        else if (!d->sink_file)
            missing = "sink_file";
        else if (!d->sink_flush)
            missing = "sink_flush";
        else if (!d->sink_destroy)
            missing = "sink_destroy";
    }
    if (missing)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "refusing plugin '%.100s': %s is NULL, and ABI %d requires it for "
                            "%s plugin",
                            file, missing, WEIR_PLUGIN_ABI_MAJOR, kind_name(kind));
    return 0;
}

int wr_plugin_open(wr_plugin **out, const char *name, const char *base_dir,
                   weir_plugin_kind kind, weir_error *err)
{
    *out = NULL;
    if (!name || !*name)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "no plugin file given");
    char *file = resolve(name, base_dir, err);
    if (!file)
        return err ? err->code : WEIR_ENOTFOUND;
    int rc = check_file(file, err);
    if (rc) {
        free(file);
        return rc;
    }
    /* dlopen the file that was checked: an absolute path, never a name the dynamic
     * loader would look up in its own search path */
    char *real = realpath(file, NULL);
    if (!real) {
        rc = wr_error_set(err, errno == ENOMEM ? WEIR_ENOMEM : WEIR_EIO, NULL, 0, 0,
                          "cannot load plugin '%.100s': %s", file, strerror(errno));
        free(file);
        return rc;
    }
    dlerror();
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    free(real);
    if (!dl) {
        const char *why = dlerror();
        rc = wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "cannot load plugin '%.100s': %.120s",
                          file, why ? why : "dlopen failed");
        free(file);
        return rc;
    }
    /* POSIX: a function pointer travels through void * */
    void *sym = dlsym(dl, WEIR_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        rc = wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                          "refusing plugin '%.100s': it does not export %s() (declare it with "
                          "WEIR_PLUGIN_DEFINE from <weir/plugin.h>)",
                          file, WEIR_PLUGIN_ENTRY_SYMBOL);
        dlclose(dl);
        free(file);
        return rc;
    }
    weir_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const weir_plugin *desc = entry();
    if ((rc = check_desc(desc, file, kind, err)) != 0) {
        dlclose(dl);
        free(file);
        return rc;
    }
    wr_plugin *pl = calloc(1, sizeof *pl);
    if (!pl) {
        dlclose(dl);
        free(file);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
    }
    pl->dl = dl;
    pl->desc = desc;
    pl->file = file;
    *out = pl;
    return 0;
}

void wr_plugin_close(wr_plugin *pl)
{
    if (!pl)
        return;
    dlclose(pl->dl);
    free(pl->file);
    free(pl);
}

const weir_plugin *wr_plugin_desc(const wr_plugin *pl)
{
    return pl->desc;
}

const char *wr_plugin_file(const wr_plugin *pl)
{
    return pl->file;
}
