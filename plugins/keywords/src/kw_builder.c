/*
 * kw_builder.c - terms in: term files, normalization, case folding, the trie.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kw_internal.h"
#include "kw_text.h"

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int kw_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* "terms.txt:12" or "terms[3]" */
static void kw_where(char *buf, size_t n, const char *where, size_t line)
{
    if (line)
        snprintf(buf, n, "%s:%zu", where ? where : "term", line);
    else
        snprintf(buf, n, "%s", where ? where : "term");
}

int kw_builder_new(kw_builder **out, int case_sensitive, kw_normalize_fn normalize,
                   kw_free_fn free_fn, void *ctx)
{
    *out = NULL;
    kw_builder *b = calloc(1, sizeof *b);
    if (!b)
        return KW_ENOMEM;
    b->cap = 1024;
    b->nodes = calloc(b->cap, sizeof *b->nodes);
    if (!b->nodes) {
        free(b);
        return KW_ENOMEM;
    }
    b->n = 1; /* the root */
    b->case_sensitive = case_sensitive;
    b->normalize = normalize;
    b->free_fn = free_fn;
    b->ctx = ctx;
    *out = b;
    return KW_OK;
}

void kw_builder_free(kw_builder *b)
{
    if (!b)
        return;
    free(b->nodes);
    free(b);
}

size_t kw_builder_count(const kw_builder *b, size_t *distinct)
{
    if (distinct)
        *distinct = b->terms;
    return b->terms_read;
}

size_t kw_fold_string(const char *in, size_t len, int case_sensitive, unsigned char *out,
                      size_t cap, size_t *cps, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, ncp = 0;
    int space = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c, f[KW_FOLD_MAX];
        size_t n = kw_text_decode(p + i, len - i, &c);
        if (c == KW_CP_INVALID) {
            if (bad)
                *bad = i;
            return (size_t)-1;
        }
        i += n;
        if (kw_text_class(c) & KW_SPACE) {
            space = ncp > 0;
            continue;
        }
        if (space) {
            if (o < cap)
                out[o] = ' ';
            o++;
            ncp++;
            space = 0;
        }
        size_t nf = 1;
        if (case_sensitive)
            f[0] = c;
        else
            nf = kw_text_fold(c, f);
        for (size_t k = 0; k < nf; k++) {
            unsigned char u[4];
            size_t ul = kw_text_encode(f[k], u);
            if (o + ul <= cap)
                memcpy(out + o, u, ul);
            o += ul;
            ncp++;
        }
    }
    *cps = ncp;
    return o;
}

static int kw_node_new(kw_builder *b, uint8_t label, uint16_t depth, uint32_t *id)
{
    if (b->n >= KW_STATES_MAX)
        return KW_ELIMIT;
    if (b->n == b->cap) {
        size_t nc = b->cap * 2;
        kw_tnode *nn = realloc(b->nodes, nc * sizeof *nn);
        if (!nn)
            return KW_ENOMEM;
        b->nodes = nn;
        b->cap = nc;
    }
    kw_tnode *t = &b->nodes[b->n];
    memset(t, 0, sizeof *t);
    t->label = label;
    t->depth = depth;
    *id = (uint32_t)b->n++;
    return KW_OK;
}

/* Inserts key[0..n); *added = 0 when it was there already. */
static int kw_trie_insert(kw_builder *b, const unsigned char *key, size_t n, int *added)
{
    uint32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = key[i];
        uint32_t next;
        if (cur == 0) {
            next = b->root_child[c];
            if (!next) {
                int rc = kw_node_new(b, c, 1, &next);
                if (rc)
                    return rc;
                b->root_child[c] = next;
            }
        } else {
            uint32_t prev = 0, x = b->nodes[cur].child;
            while (x && b->nodes[x].label < c) {
                prev = x;
                x = b->nodes[x].sibling;
            }
            if (x && b->nodes[x].label == c) {
                next = x;
            } else {
                int rc = kw_node_new(b, c, (uint16_t)(i + 1), &next);
                if (rc)
                    return rc;
                b->nodes[next].sibling = x;
                if (prev)
                    b->nodes[prev].sibling = next;
                else
                    b->nodes[cur].child = next;
            }
        }
        cur = next;
    }
    *added = !b->nodes[cur].term;
    b->nodes[cur].term = 1;
    return KW_OK;
}

int kw_builder_add(kw_builder *b, const char *term, size_t len, const char *where,
                   size_t line, char *err, size_t errlen)
{
    char at[512];
    size_t bad = 0, cps = 0;
    unsigned char key[KW_TERM_MAX];

    kw_where(at, sizeof at, where, line);
    if (b->terms_read >= KW_TERMS_MAX)
        return kw_fail(err, errlen, KW_ELIMIT, "%s: more than %d terms", at, KW_TERMS_MAX);
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n = kw_text_decode((const unsigned char *)term + i, len - i, &c);
        if (c == KW_CP_INVALID)
            return kw_fail(err, errlen, KW_EINVAL, "%s: invalid UTF-8 at byte %zu of the term",
                           at, i + 1);
        i += n;
    }

    char *norm = NULL;
    size_t norm_len = len;
    const char *src = term;
    if (b->normalize) {
        if (b->normalize(b->ctx, term, len, &norm, &norm_len) != 0 || !norm)
            return kw_fail(err, errlen, KW_ENOMEM, "%s: out of memory normalizing the term",
                           at);
        src = norm;
    }
    size_t n = kw_fold_string(src, norm_len, b->case_sensitive, key, sizeof key, &cps, &bad);
    if (norm) {
        if (b->free_fn)
            b->free_fn(b->ctx, norm);
        else
            free(norm);
    }
    if (n == (size_t)-1)
        return kw_fail(err, errlen, KW_EINVAL, "%s: the term is not valid UTF-8 after "
                       "normalization", at);
    if (n == 0)
        return kw_fail(err, errlen, KW_EINVAL, "%s: the term is empty after normalization "
                       "(only whitespace or invisible characters)", at);
    if (n > KW_TERM_MAX)
        return kw_fail(err, errlen, KW_ELIMIT, "%s: the term is %zu bytes after normalization "
                       "and case folding; the limit is %d", at, n, KW_TERM_MAX);

    int added = 0;
    int rc = kw_trie_insert(b, key, n, &added);
    if (rc == KW_ELIMIT)
        return kw_fail(err, errlen, rc, "%s: the term list needs more than %zu automaton "
                       "states; split it or use shorter terms", at, KW_STATES_MAX);
    if (rc)
        return kw_fail(err, errlen, rc, "%s: out of memory", at);
    b->terms_read++;
    b->terms += (size_t)added;
    if (cps > b->max_cps)
        b->max_cps = cps;
    if (memchr(key, ' ', n))
        b->has_space = 1;
    return KW_OK;
}

/* Bytes of leading whitespace in p[0..n) (valid UTF-8). */
static size_t kw_skip_space(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        size_t l = kw_text_decode(p + i, n - i, &c);
        if (c == KW_CP_INVALID || !(kw_text_class(c) & KW_SPACE))
            break;
        i += l;
    }
    return i;
}

int kw_builder_add_text(kw_builder *b, const char *data, size_t len, const char *name,
                        char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0, line = 0;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        i = 3;
    while (i < len) {
        const unsigned char *nl = memchr(p + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - p) : len;
        size_t next = nl ? end + 1 : len;
        line++;
        if (end > i && p[end - 1] == '\r')
            end--;
        for (size_t k = i; k < end;) {
            uint32_t c;
            if (p[k] < 0x80) {
                k++;
                continue;
            }
            size_t l = kw_text_decode(p + k, end - k, &c);
            if (c == KW_CP_INVALID)
                return kw_fail(err, errlen, KW_EINVAL, "%s:%zu: invalid UTF-8 at byte %zu of "
                               "the line", name, line, k - i + 1);
            k += l;
        }
        size_t s = i + kw_skip_space(p + i, end - i);
        if (s < end && p[s] != '#') {
            int rc = kw_builder_add(b, (const char *)p + s, end - s, name, line, err, errlen);
            if (rc)
                return rc;
        }
        i = next;
    }
    return KW_OK;
}

int kw_builder_add_file(kw_builder *b, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kw_fail(err, errlen, KW_EINVAL, "cannot open terms_file %s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kw_fail(err, errlen, KW_EINVAL, "terms_file %s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > KW_FILE_MAX) {
        close(fd);
        return kw_fail(err, errlen, KW_ELIMIT, "terms_file %s is %lld bytes; the limit is "
                       "%zu (64 MiB)", path, (long long)st.st_size, KW_FILE_MAX);
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return kw_fail(err, errlen, KW_ENOMEM, "out of memory reading terms_file %s", path);
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return kw_fail(err, errlen, KW_EINVAL, "cannot read terms_file %s: %s", path,
                           strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap) { /* the file grew while being read */
            close(fd);
            free(buf);
            return kw_fail(err, errlen, KW_EINVAL, "terms_file %s changed while being read",
                           path);
        }
    }
    close(fd);
    int rc = kw_builder_add_text(b, buf, len, path, err, errlen);
    free(buf);
    return rc;
}
