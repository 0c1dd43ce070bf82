/*
 * ledger.c - the ledger of confirmed uploads, string sets, and the trail scan.
 *
 * The ledger is {root}/.s3-export/{id}.done: one object key (relative to the trail root,
 * without the prefix) per line, appended and fdatasynced after each confirmed upload. A torn
 * last line (no '\n') is ignored on load and overwritten by the next append.
 */
#include "s3x.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weir/plugin.h"

#define S3X_LEDGER_MAX_BYTES (512u * 1024 * 1024)
#define S3X_SCAN_MAX_DEPTH 8
#define S3X_SCAN_MAX_FILES 10000000u

S3X_PRINTF(3, 4)
static int s3x_led_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------ set */

static uint64_t s3x_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t s3x_set_find(const s3x_set *set, const char *s)
{
    size_t mask = set->cap - 1;
    size_t i = (size_t)s3x_hash(s) & mask;
    while (set->slots[i] && strcmp(set->slots[i], s) != 0)
        i = (i + 1) & mask;
    return i;
}

int s3x_set_has(const s3x_set *set, const char *s)
{
    return set->cap && set->slots[s3x_set_find(set, s)] != NULL;
}

static int s3x_set_grow(s3x_set *set)
{
    size_t cap = set->cap ? set->cap * 2 : 64;
    s3x_set bigger = {calloc(cap, sizeof(char *)), cap, 0};
    if (!bigger.slots)
        return -1;
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i]) {
            bigger.slots[s3x_set_find(&bigger, set->slots[i])] = set->slots[i];
            bigger.count++;
        }
    free(set->slots);
    *set = bigger;
    return 0;
}

int s3x_set_add(s3x_set *set, const char *s)
{
    if ((set->count + 1) * 2 > set->cap && s3x_set_grow(set) != 0)
        return -1;
    size_t i = s3x_set_find(set, s);
    if (set->slots[i])
        return 0;
    if (!(set->slots[i] = s3x_strdup(s)))
        return -1;
    set->count++;
    return 0;
}

void s3x_set_remove(s3x_set *set, const char *s)
{
    if (!set->cap)
        return;
    size_t mask = set->cap - 1, i = s3x_set_find(set, s);
    if (!set->slots[i])
        return;
    free(set->slots[i]);
    set->slots[i] = NULL;
    set->count--;
    /* re-place the rest of the cluster (linear probing deletion) */
    for (size_t j = (i + 1) & mask; set->slots[j]; j = (j + 1) & mask) {
        char *moved = set->slots[j];
        set->slots[j] = NULL;
        set->slots[s3x_set_find(set, moved)] = moved;
    }
}

void s3x_set_free(s3x_set *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slots[i]);
    free(set->slots);
    memset(set, 0, sizeof *set);
}

/* ------------------------------------------------------------------ keys */

int s3x_key_ok(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 900 || key[0] == '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f || key[i] == '\\')
            return 0;
    for (const char *p = key; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
            return 0;
        if (*p == '/' || (p[0] == '.' && (p[1] == '/' || p[1] == '\0')))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ ledger */

static int s3x_ledger_load(s3x_ledger *l, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(l->fd, &st) != 0)
        return s3x_led_fail(err, errlen, "%s: cannot stat: %s", l->path, strerror(errno));
    if ((uint64_t)st.st_size > S3X_LEDGER_MAX_BYTES)
        return s3x_led_fail(err, errlen, "%s: the ledger is larger than %u bytes", l->path,
                            S3X_LEDGER_MAX_BYTES);
    size_t size = (size_t)st.st_size;
    char *data = malloc(size + 1);
    if (!data)
        return s3x_led_fail(err, errlen, "s3-export: out of memory");
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(l->fd, data + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(data);
            return s3x_led_fail(err, errlen, "%s: cannot read: %s", l->path,
                                r < 0 ? strerror(errno) : "short read");
        }
        got += (size_t)r;
    }
    data[size] = '\0';
    size_t complete = 0;
    for (char *line = data, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        if (*line && s3x_set_add(&l->done, line) != 0) {
            free(data);
            return s3x_led_fail(err, errlen, "s3-export: out of memory");
        }
        complete = (size_t)(nl + 1 - data);
    }
    free(data);
    if (complete < size && ftruncate(l->fd, (off_t)complete) != 0)
        return s3x_led_fail(err, errlen, "%s: cannot cut a torn line: %s", l->path,
                            strerror(errno));
    return 0;
}

int s3x_ledger_open(s3x_ledger *l, const char *root, const char *id, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    s3x_buf dir = {0}, path = {0};
    int rc = -1;
    s3x_buf_printf(&dir, "%s/.s3-export", root);
    s3x_buf_printf(&path, "%s/.s3-export/%s.done", root, id);
    if (dir.oom || path.oom) {
        s3x_led_fail(err, errlen, "s3-export: out of memory");
        goto done;
    }
    if (mkdir(dir.data, 0750) != 0 && errno != EEXIST) {
        s3x_led_fail(err, errlen, "%s: cannot create the upload ledger directory: %s", dir.data,
                     strerror(errno));
        goto done;
    }
    l->fd = open(path.data, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (l->fd < 0) {
        s3x_led_fail(err, errlen, "%s: cannot open the upload ledger: %s", path.data,
                     strerror(errno));
        goto done;
    }
    int dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    l->path = path.data;
    path.data = NULL;
    if (s3x_ledger_load(l, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    s3x_buf_free(&dir);
    s3x_buf_free(&path);
    if (rc != 0)
        s3x_ledger_close(l);
    return rc;
}

int s3x_ledger_append(s3x_ledger *l, const char *key)
{
    s3x_buf line = {0};
    s3x_buf_printf(&line, "%s\n", key);
    if (line.oom) {
        errno = ENOMEM;
        return -1;
    }
    size_t off = 0;
    while (off < line.len) {
        ssize_t w = write(l->fd, line.data + off, line.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            s3x_buf_free(&line);
            errno = e;
            return -1;
        }
        off += (size_t)w;
    }
    s3x_buf_free(&line);
    return fdatasync(l->fd) != 0 ? -1 : 0;
}

void s3x_ledger_close(s3x_ledger *l)
{
    if (l->fd >= 0)
        close(l->fd);
    free(l->path);
    s3x_set_free(&l->done);
    memset(l, 0, sizeof *l);
    l->fd = -1;
}

/* ------------------------------------------------------------------ scan */

typedef struct s3x_scan_ctx {
    const char *root;
    s3x_found *items;
    size_t n, cap;
    int oom;
} s3x_scan_ctx;

static int s3x_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static void s3x_scan_add(s3x_scan_ctx *c, const char *key, int kind, const struct stat *st)
{
    if (c->oom || c->n >= S3X_SCAN_MAX_FILES)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        s3x_found *p = realloc(c->items, cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return;
        }
        c->items = p;
        c->cap = cap;
    }
    char *k = s3x_strdup(key);
    if (!k) {
        c->oom = 1;
        return;
    }
    c->items[c->n].key = k;
    c->items[c->n].kind = kind;
    c->items[c->n].mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    c->n++;
}

/* rel: path relative to root ("AWSLogs/..."); kind: 0 until CloudTrail[-Digest] is seen. */
static void s3x_scan_dir(s3x_scan_ctx *c, const char *rel, int depth, int kind)
{
    if (depth > S3X_SCAN_MAX_DEPTH || c->oom)
        return;
    s3x_buf dirpath = {0};
    s3x_buf_printf(&dirpath, "%s/%s", c->root, rel);
    DIR *d = dirpath.oom ? NULL : opendir(dirpath.data);
    if (!d) {
        s3x_buf_free(&dirpath);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !c->oom) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and temp files (.NAME.tmp) */
        s3x_buf child = {0}, full = {0};
        s3x_buf_printf(&child, "%s/%s", rel, e->d_name);
        s3x_buf_printf(&full, "%s/%s", c->root, child.data ? child.data : "");
        struct stat st;
        if (child.oom || full.oom) {
            c->oom = 1;
        } else if (lstat(full.data, &st) == 0) {
            int k = kind;
            if (depth == 1 && strcmp(e->d_name, "CloudTrail") == 0)
                k = WEIR_SINK_LOG;
            else if (depth == 1 && strcmp(e->d_name, "CloudTrail-Digest") == 0)
                k = WEIR_SINK_DIGEST;
            if (S_ISDIR(st.st_mode) && (depth != 1 || k != 0))
                s3x_scan_dir(c, child.data, depth + 1, k);
            else if (S_ISREG(st.st_mode) && kind != 0 && s3x_ends_with(e->d_name, ".json.gz") &&
                     s3x_key_ok(child.data))
                s3x_scan_add(c, child.data, kind, &st);
        }
        s3x_buf_free(&child);
        s3x_buf_free(&full);
    }
    closedir(d);
    s3x_buf_free(&dirpath);
}

static int s3x_found_cmp(const void *a, const void *b)
{
    const s3x_found *x = a, *y = b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->key, y->key);
}

int s3x_scan(const char *root, s3x_found **out, size_t *n, char *err, size_t errlen)
{
    s3x_scan_ctx c = {root, NULL, 0, 0, 0};
    s3x_buf top = {0};
    s3x_buf_printf(&top, "%s/AWSLogs", root);
    DIR *d = top.oom ? NULL : opendir(top.data);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && !c.oom) {
        if (e->d_name[0] == '.')
            continue;
        s3x_buf rel = {0};
        s3x_buf_printf(&rel, "AWSLogs/%s", e->d_name);
        if (rel.oom)
            c.oom = 1;
        else
            s3x_scan_dir(&c, rel.data, 1, 0); /* depth 1: AWSLogs/{acct}/ */
        s3x_buf_free(&rel);
    }
    if (d)
        closedir(d);
    s3x_buf_free(&top);
    if (c.oom) {
        s3x_found_free(c.items, c.n);
        return s3x_led_fail(err, errlen, "s3-export: out of memory while scanning the trail");
    }
    if (c.n > 1)
        qsort(c.items, c.n, sizeof *c.items, s3x_found_cmp);
    *out = c.items;
    *n = c.n;
    return 0;
}

void s3x_found_free(s3x_found *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].key);
    free(f);
}
