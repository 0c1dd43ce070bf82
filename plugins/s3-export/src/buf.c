/*
 * buf.c - growable buffer and small string helpers for the s3-export sink.
 */
#include "s3x.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static int s3x_buf_reserve(s3x_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p;
    if (b->secret) {
        /* no realloc: it would free the old block without wiping it */
        if ((p = malloc(cap)) != NULL && b->data) {
            memcpy(p, b->data, b->len + 1);
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
    } else {
        p = realloc(b->data, cap);
    }
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int s3x_buf_append(s3x_buf *b, const void *p, size_t n)
{
    if (s3x_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int s3x_buf_puts(s3x_buf *b, const char *s)
{
    return s3x_buf_append(b, s, strlen(s));
}

int s3x_buf_printf(s3x_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || s3x_buf_reserve(b, (size_t)n) != 0) {
        b->oom = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void s3x_buf_free(s3x_buf *b)
{
    if (b->secret && b->data)
        OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
    memset(b, 0, sizeof *b);
}

void s3x_buf_wipe(s3x_buf *b)
{
    b->secret = 1;
    s3x_buf_free(b);
}

void s3x_hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

char *s3x_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}
