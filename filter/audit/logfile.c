/*
 * logfile.c - files of the trail: directories, atomic gzip writes (temp, fsync, rename,
 * fsync dir), reading them back, names and hashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "audit/writer.h"

int wr_audit_mkdirs(const char *root, const char *rel)
{
    size_t rl = strlen(root), n = strlen(rel);
    char *p = wr_malloc(rl + 1 + n + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, root, rl);
    p[rl] = '/';
    memcpy(p + rl + 1, rel, n + 1);
    int rc = 0;
    for (char *c = p + rl + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char save = *c;
            *c = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *c = save;
            if (!save)
                break;
        }
    }
    free(p);
    return rc;
}

int wr_audit_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int deflate_to(int fd, const void *data, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    unsigned char out[65536];
    const unsigned char *in = data;
    size_t left = len;
    int rc = 0, zr;
    do {
        unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
        z.next_in = (unsigned char *)in;
        z.avail_in = chunk;
        int flush = left == chunk ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            zr = deflate(&z, flush);
            if (zr == Z_STREAM_ERROR) {
                rc = -EIO;
                goto done;
            }
            size_t have = sizeof out - z.avail_out;
            if (have && (rc = write_all(fd, out, have)) != 0)
                goto done;
        } while (z.avail_out == 0);
        in += chunk;
        left -= chunk;
    } while (zr != Z_STREAM_END);
done:
    deflateEnd(&z);
    return rc;
}

static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
                        int gz, weir_error *err)
{
    wr_buf tmp, dst;
    wr_buf_init(&tmp);
    wr_buf_init(&dst);
    wr_buf_printf(&tmp, "%s/.%s.tmp", dir, name);
    wr_buf_printf(&dst, "%s/%s", dir, name);
    int rc = 0;
    if (tmp.oom || dst.oom) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = wr_error_set(err, WEIR_EIO, tmp.data, 0, 0, "cannot create audit file: %s",
                          strerror(errno));
        goto done;
    }
    int e = gz ? deflate_to(fd, data, len) : write_all(fd, data, len);
    const char *what = "cannot write audit file";
    if (e == 0 && fsync(fd) != 0) {
        e = -errno;
        what = "cannot fsync audit file";
    }
    if (close(fd) != 0 && e == 0) {
        e = -errno;
        what = "cannot close audit file";
    }
    if (e == 0 && rename(tmp.data, dst.data) != 0) {
        e = -errno;
        what = "cannot rename audit file into place";
    }
    if (e != 0) {
        unlink(tmp.data);
        rc = wr_error_set(err, WEIR_EIO, dst.data, 0, 0, "%s: %s", what, strerror(-e));
        goto done;
    }
    if ((e = wr_audit_fsync_dir(dir)) != 0)
        rc = wr_error_set(err, WEIR_EIO, dir, 0, 0, "cannot fsync audit directory: %s",
                          strerror(-e));
done:
    wr_buf_free(&tmp);
    wr_buf_free(&dst);
    return rc;
}

int wr_audit_write_gz(const char *dir, const char *name, const void *data, size_t len,
                      weir_error *err)
{
    return write_atomic(dir, name, data, len, 1, err);
}

int wr_audit_write_plain(const char *dir, const char *name, const void *data, size_t len,
                         weir_error *err)
{
    return write_atomic(dir, name, data, len, 0, err);
}

int wr_audit_read_gz(char **out, size_t *len, const char *path, weir_error *err)
{
    gzFile g = gzopen(path, "rb");
    if (!g) {
        int e = errno;
        return wr_error_set(err, e == ENOENT ? WEIR_ENOTFOUND : WEIR_EIO, path, 0, 0,
                            "cannot open: %s", strerror(e ? e : EIO));
    }
    wr_buf b;
    wr_buf_init(&b);
    char chunk[65536];
    int n, rc = 0;
    while ((n = gzread(g, chunk, sizeof chunk)) > 0)
        wr_buf_append(&b, chunk, (size_t)n);
    if (n < 0) {
        int zerr;
        const char *m = gzerror(g, &zerr);
        rc = wr_error_set(err, WEIR_EIO, path, 0, 0, "cannot read gzip file: %s", m);
    } else if (b.oom || wr_buf_reserve(&b, 1) != 0) {
        rc = wr_error_set(err, WEIR_ENOMEM, path, 0, 0, "out of memory");
    }
    gzclose(g);
    if (rc) {
        wr_buf_free(&b);
        return rc;
    }
    b.data[b.len] = '\0';
    *out = b.data;
    *len = b.len;
    return 0;
}

int wr_audit_random_name(char out[17])
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        return WEIR_EINTERNAL;
    for (int i = 0; i < 16; i++)
        out[i] = alnum[r[i] % 62];
    out[16] = '\0';
    return 0;
}

void wr_audit_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    wr_hex(out, md, 32);
}
