/*
 * trail_read.h - test helpers that read an audit trail back independently of libweir's
 * reader: list files, inflate a gzip file (checking it is exactly one member), collect every
 * record of every log file. Used by tests/unit/audit/ and tests/audit/.
 */
#ifndef WEIR_TEST_TRAIL_READ_H
#define WEIR_TEST_TRAIL_READ_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zlib.h>

typedef struct tr_list {
    char **v;
    size_t n, cap;
} tr_list;

static inline int tr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void tr_walk(tr_list *l, const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        snprintf(p, n, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            tr_walk(l, p, suffix);
            free(p);
            continue;
        }
        size_t pl = strlen(p), sl = strlen(suffix);
        if (pl >= sl && strcmp(p + pl - sl, suffix) == 0) {
            if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 16;
                l->v = realloc(l->v, l->cap * sizeof *l->v);
            }
            l->v[l->n++] = p;
        } else {
            free(p);
        }
    }
    closedir(d);
}

/* Files below root/sub whose names end in suffix, sorted by path. */
static inline tr_list tr_files(const char *root, const char *sub, const char *suffix)
{
    tr_list l = {0};
    size_t n = strlen(root) + strlen(sub) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", root, sub);
    tr_walk(&l, p, suffix);
    free(p);
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, tr_cmp);
    return l;
}

static inline void tr_list_free(tr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static inline char *tr_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, r;
    char *b = malloc(cap + 1);
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
    }
    fclose(f);
    b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

/* Inflates a gzip file; NULL when unreadable, corrupt, or not exactly one member. */
static inline char *tr_gunzip(const char *path, size_t *len)
{
    size_t zlen = 0;
    char *z = tr_read_file(path, &zlen);
    if (!z)
        return NULL;
    z_stream s;
    memset(&s, 0, sizeof s);
    inflateInit2(&s, 15 + 16);
    size_t cap = zlen * 4 + 1024, n = 0;
    char *out = malloc(cap + 1);
    s.next_in = (unsigned char *)z;
    s.avail_in = (unsigned)zlen;
    int rc;
    do {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
        s.next_out = (unsigned char *)out + n;
        s.avail_out = (unsigned)(cap - n);
        rc = inflate(&s, Z_NO_FLUSH);
        n = cap - s.avail_out;
    } while (rc == Z_OK);
    int trailing = s.avail_in != 0;
    inflateEnd(&s);
    free(z);
    if (rc != Z_STREAM_END || trailing) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

/* Every record of every log file under root (new array), or NULL if a file is bad. */
static inline json_t *tr_records(const char *root)
{
    tr_list l = tr_files(root, "AWSLogs", ".json.gz");
    json_t *all = json_array();
    for (size_t i = 0; i < l.n; i++) {
        if (strstr(l.v[i], "/CloudTrail-Digest/"))
            continue;
        size_t len;
        char *t = tr_gunzip(l.v[i], &len);
        json_t *j = t ? json_loadb(t, len, 0, NULL) : NULL;
        free(t);
        json_t *recs = json_object_get(j, "Records");
        if (!json_is_array(recs)) {
            fprintf(stderr, "bad log file %s\n", l.v[i]);
            json_decref(j);
            json_decref(all);
            tr_list_free(&l);
            return NULL;
        }
        json_array_extend(all, recs);
        json_decref(j);
    }
    tr_list_free(&l);
    return all;
}

/* Number of log files (not digests) under root. */
static inline size_t tr_log_count(const char *root)
{
    tr_list l = tr_files(root, "AWSLogs", ".json.gz");
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += strstr(l.v[i], "/CloudTrail-Digest/") == NULL;
    tr_list_free(&l);
    return n;
}

/* A fresh empty directory under /tmp (caller frees the string). */
static inline char *tr_tmpdir(const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/weir-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void tr_rmrf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *p = malloc(n);
            snprintf(p, n, "%s/%s", path, e->d_name);
            tr_rmrf(p);
            free(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

#endif
