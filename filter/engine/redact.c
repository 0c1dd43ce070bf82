/*
 * redact.c - redaction styles (label, mask, keyed hash, reversible token) and the vault
 * that restores tokens in a completion.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "engine/engine.h"

/* ----------------------------------------------------------------- vault */

typedef struct wr_vault_entry {
    char *token; /* "[EMAIL_1]" */
    char *value; /* the original, normalized */
    size_t token_len, value_len;
} wr_vault_entry;

typedef struct wr_vault_counter {
    char label[48];
    unsigned next;
} wr_vault_counter;

struct weir_vault {
    wr_vault_entry *v;
    size_t n, cap;
    wr_vault_counter *counters;
    size_t ncounters;
};

#define WR_VAULT_MAX_ENTRIES 100000

int weir_vault_new(weir_vault **out, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_vault_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory creating a vault");
    return 0;
}

void weir_vault_free(weir_vault *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        wr_wipe(v->v[i].value, v->v[i].value_len);
        free(v->v[i].value);
        free(v->v[i].token);
    }
    free(v->v);
    free(v->counters);
    free(v);
}

size_t weir_vault_size(const weir_vault *v)
{
    return v ? v->n : 0;
}

/* The token for value under label: the existing one, or a new "[LABEL_n]". NULL on OOM. */
static const wr_vault_entry *vault_token(weir_vault *v, const char *label, const char *value,
                                         size_t len)
{
    size_t ll = strlen(label);
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i].value_len == len && memcmp(v->v[i].value, value, len) == 0 &&
            strncmp(v->v[i].token + 1, label, ll) == 0 && v->v[i].token[1 + ll] == '_')
            return &v->v[i];
    if (v->n >= WR_VAULT_MAX_ENTRIES)
        return NULL;
    wr_vault_counter *c = NULL;
    for (size_t i = 0; i < v->ncounters; i++)
        if (strcmp(v->counters[i].label, label) == 0)
            c = &v->counters[i];
    if (!c) {
        wr_vault_counter *nc = realloc(v->counters, (v->ncounters + 1) * sizeof *nc);
        if (!nc)
            return NULL;
        v->counters = nc;
        c = &v->counters[v->ncounters++];
        snprintf(c->label, sizeof c->label, "%s", label);
        c->next = 1;
    }
    wr_vault_entry *ne = wr_grow(v->v, &v->cap, v->n + 1, sizeof *ne, 8);
    if (!ne)
        return NULL;
    v->v = ne;
    char tok[96];
    int n = snprintf(tok, sizeof tok, "[%s_%u]", c->label, c->next);
    wr_vault_entry *e = &v->v[v->n];
    e->token = wr_strndup(tok, (size_t)n);
    e->value = wr_strndup(value, len);
    if (!e->token || !e->value) {
        free(e->token);
        free(e->value);
        return NULL;
    }
    e->token_len = (size_t)n;
    e->value_len = len;
    c->next++;
    v->n++;
    return e;
}

int weir_restore(char **out, size_t *out_len, const weir_vault *v, const char *text, size_t len,
                 weir_error *err)
{
    if (!out || (!text && len))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_restore: out or text is NULL");
    wr_buf b;
    wr_buf_init(&b);
    size_t i = 0, copied = 0;
    while (v && v->n && i < len) {
        const char *lb = memchr(text + i, '[', len - i);
        if (!lb)
            break;
        size_t at = (size_t)(lb - text);
        const wr_vault_entry *hit = NULL;
        for (size_t k = 0; k < v->n; k++) {
            const wr_vault_entry *e = &v->v[k];
            if (e->token_len <= len - at && memcmp(text + at, e->token, e->token_len) == 0) {
                hit = e;
                break;
            }
        }
        if (hit) {
            wr_buf_append(&b, text + copied, at - copied);
            wr_buf_append(&b, hit->value, hit->value_len);
            i = copied = at + hit->token_len;
        } else {
            i = at + 1;
        }
    }
    wr_buf_append(&b, text + copied, len - copied);
    if (b.oom || wr_buf_reserve(&b, 0)) {
        wr_buf_free(&b);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory restoring tokens");
    }
    *out = b.data;
    if (out_len)
        *out_len = b.len;
    return 0;
}

/* ----------------------------------------------------------------- styles */

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int wr_redact_span(wr_buf *b, const weir_policy *p, const wr_rule *rule, const wr_detector *d,
                   const char *orig, size_t s, size_t e, const char *nv, size_t nvlen,
                   weir_vault *vault)
{
    const wr_redaction *rd = &rule->redaction;
    const char *label = rd->label ? rd->label : d->label;
    switch (rd->style) {
    case WR_STYLE_MASK: {
        /* mask every character but the last `keep` of the original span */
        size_t chars = utf8_chars(orig + s, e - s);
        size_t keep = rd->keep < chars ? rd->keep : chars;
        size_t masked = chars - keep, i = s, k = 0;
        char mc = rd->mask_char ? rd->mask_char : '*';
        while (k < masked && i < e) {
            wr_buf_append(b, &mc, 1);
            i++;
            while (i < e && ((unsigned char)orig[i] & 0xC0) == 0x80)
                i++;
            k++;
        }
        return wr_buf_append(b, orig + i, e - i);
    }
    case WR_STYLE_HASH: {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        if (!HMAC(EVP_sha256(), p->hash_key, (int)p->hash_key_len, (const unsigned char *)nv,
                  nvlen, mac, &maclen))
            return WEIR_EINTERNAL;
        char hex[2 * 6 + 1];
        wr_hex(hex, mac, 6);
        wr_buf_puts(b, "[");
        wr_buf_puts(b, label);
        wr_buf_puts(b, ":");
        wr_buf_puts(b, hex);
        return wr_buf_puts(b, "]");
    }
    case WR_STYLE_TOKEN:
        if (vault) {
            const wr_vault_entry *t = vault_token(vault, label, nv, nvlen);
            if (!t)
                return WEIR_ENOMEM;
            return wr_buf_append(b, t->token, t->token_len);
        }
        /* no vault to restore from: a label hides the value just as well */
        /* fall through */
    case WR_STYLE_LABEL:
    default:
        wr_buf_puts(b, "[");
        wr_buf_puts(b, label);
        return wr_buf_puts(b, "]");
    }
}
