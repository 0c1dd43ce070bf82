/*
 * verify.c - `weir audit verify`: the algorithm of `aws cloudtrail validate-logs` over a
 * local trail directory.
 *
 * Digests are listed per chain (account, region, trail name), then walked newest -> oldest
 * following previousDigestS3Object. Each digest is checked in this order, and the first
 * failure is its verdict: readable (not found / invalid format / trailing data), signed by a
 * known key (public key fingerprint mismatch), signature (signature verification failed),
 * chain link (hash of previous digest doesn't match: it is not the digest the newer one
 * hashed — a swapped, reordered or replaced file), location (moved from its original
 * location). The log files a valid digest lists are then hashed. Finally, log files on disk
 * inside the time the digests cover but listed in none of them are reported.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/reader.h"

typedef struct vkey {
    EVP_PKEY *pkey;
    char fp[33];
} vkey;

static int load_key(vkey *k, const char *path, weir_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return wr_error_set(err, WEIR_ENOTFOUND, path, 0, 0, "cannot open the public key");
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dc =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA", 0, NULL, NULL);
    int ok = dc && OSSL_DECODER_from_fp(dc, f) == 1 && pkey;
    OSSL_DECODER_CTX_free(dc);
    fclose(f);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return wr_error_set(err, WEIR_EINVAL, path, 0, 0,
                            "not a PEM RSA public key (SPKI or PKCS#1) or private key");
    }
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (len <= 0 || EVP_Digest(der, (size_t)len, md, &mdlen, EVP_md5(), NULL) != 1 ||
        mdlen != 16) {
        OPENSSL_free(der);
        EVP_PKEY_free(pkey);
        return wr_error_set(err, WEIR_EINTERNAL, path, 0, 0, "cannot fingerprint the key");
    }
    OPENSSL_free(der);
    wr_hex(k->fp, md, 16);
    k->pkey = pkey;
    return 0;
}

int wr_audit_key_fingerprint(const char *pem_path, char out[33], weir_error *err)
{
    vkey k;
    int rc = load_key(&k, pem_path, err);
    if (rc)
        return rc;
    memcpy(out, k.fp, 33);
    EVP_PKEY_free(k.pkey);
    return 0;
}

static int hex_decode(const char *s, unsigned char **out, size_t *n)
{
    size_t len = strlen(s);
    if (len == 0 || len % 2)
        return -1;
    unsigned char *b = malloc(len / 2);
    if (!b)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                free(b);
                return -1;
            }
            v = v * 16 + d;
        }
        b[i] = (unsigned char)v;
    }
    *out = b;
    *n = len / 2;
    return 0;
}

/* ------------------------------------------------------------------ walking state */

typedef struct listed {
    char *path;
    int valid_digest; /* listed by a valid digest (else only by invalid ones) */
} listed;

typedef struct vstate {
    const wr_verify_opts *o;
    vkey *keys;
    size_t n_keys;
    wr_verdict_fn fn;
    void *ctx;
    wr_verify_counts *c;
    listed *listed;
    size_t n_listed, cap_listed;
    int oom;
    /* coverage per log group ("acct/region"): [lo, hi] of digest windows */
    struct cover {
        char *group;
        time_t lo, hi;
    } *cover;
    size_t n_cover, cap_cover;
} vstate;

static void report(vstate *s, wr_verdict_kind kind, const char *path, const char *reason,
                   const char *detail, const char *other)
{
    wr_verdict v = {kind, path, reason == NULL, reason, detail, other};
    if (kind == WR_V_DIGEST) {
        s->c->digests++;
        s->c->digests_valid += v.valid;
    } else if (kind == WR_V_LOG) {
        s->c->logs++;
        s->c->logs_valid += v.valid;
    } else if (kind == WR_V_GAP) {
        s->c->gaps++;
    }
    s->fn(s->ctx, &v);
}

static void add_listed(vstate *s, const char *path, int valid)
{
    listed *v = wr_grow(s->listed, &s->cap_listed, s->n_listed + 1, sizeof *v, 64);
    char *p = wr_strdup(path);
    if (!v || !p) {
        free(p);
        if (v)
            s->listed = v;
        s->oom = 1;
        return;
    }
    s->listed = v;
    v[s->n_listed].path = p;
    v[s->n_listed].valid_digest = valid;
    s->n_listed++;
}

/* "AWSLogs/{acct}/CloudTrail-Digest/{region}/..." -> "acct/region" (new string) */
static char *log_group_of(const char *digest_path)
{
    const char *a = digest_path + strlen("AWSLogs/");
    if (strncmp(digest_path, "AWSLogs/", 8) != 0)
        return NULL;
    const char *a_end = strchr(a, '/');
    if (!a_end || strncmp(a_end + 1, "CloudTrail-Digest/", 18) != 0)
        return NULL;
    const char *r = a_end + 1 + 18;
    const char *r_end = strchr(r, '/');
    if (!r_end)
        return NULL;
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_printf(&b, "%.*s/%.*s", (int)(a_end - a), a, (int)(r_end - r), r);
    return b.data;
}

static void add_cover(vstate *s, const char *digest_path, time_t lo, time_t hi)
{
    char *g = log_group_of(digest_path);
    if (!g)
        return;
    for (size_t i = 0; i < s->n_cover; i++) {
        if (strcmp(s->cover[i].group, g) == 0) {
            if (lo < s->cover[i].lo)
                s->cover[i].lo = lo;
            if (hi > s->cover[i].hi)
                s->cover[i].hi = hi;
            free(g);
            return;
        }
    }
    struct cover *v = wr_grow(s->cover, &s->cap_cover, s->n_cover + 1, sizeof *v, 4);
    if (!v) {
        free(g);
        s->oom = 1;
        return;
    }
    s->cover = v;
    v[s->n_cover].group = g;
    v[s->n_cover].lo = lo;
    v[s->n_cover].hi = hi;
    s->n_cover++;
}

/* ------------------------------------------------------------------ one digest */

typedef struct link {
    const char *hash;      /* previousDigestHashValue of the newer digest */
    const char *signature; /* previousDigestSignature */
    const char *from;      /* the newer digest's path */
} link;

typedef struct gz_collect {
    wr_buf b;
} gz_collect;

static int collect_sink(void *ctx, const char *p, size_t n)
{
    return wr_buf_append(&((gz_collect *)ctx)->b, p, n) != 0;
}

static char *join(const char *dir, const char *rel, const char *suffix)
{
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_printf(&b, "%s/%s%s", dir, rel, suffix ? suffix : "");
    if (b.oom) {
        wr_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Reads and trims the hex signature beside a digest; NULL if missing or malformed. */
static char *read_sig(const char *dir, const char *rel)
{
    char *path = join(dir, rel, ".sig");
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f)
        return NULL;
    char *buf = malloc(WR_AUDIT_MAX_SIG_BYTES + 1);
    size_t n = buf ? fread(buf, 1, WR_AUDIT_MAX_SIG_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > WR_AUDIT_MAX_SIG_BYTES) {
        free(buf);
        return NULL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            free(buf);
            return NULL;
        }
    }
    return buf;
}

static int sig_ok(EVP_PKEY *key, const wr_digest *d, const char *sha_hex, const char *sig_hex)
{
    wr_buf msg;
    wr_buf_init(&msg);
    wr_buf_printf(&msg, "%s\n%s/%s\n%s\n%s", d->end_time, d->bucket, d->object, sha_hex,
                  d->prev_signature ? d->prev_signature : "null");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int ok = 0;
    if (!msg.oom && hex_decode(sig_hex, &sig, &sig_len) == 0) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg.data, msg.len) == 1;
        EVP_MD_CTX_free(md);
    }
    free(sig);
    wr_buf_free(&msg);
    return ok;
}

static void check_log(vstate *s, const wr_digest_log *l)
{
    if (!wr_rel_path_ok(l->s3_object)) {
        report(s, WR_V_LOG, l->s3_object, "invalid format", "the path leaves the trail", NULL);
        return;
    }
    add_listed(s, l->s3_object, 1);
    char *path = join(s->o->dir, l->s3_object, NULL);
    if (!path) {
        s->oom = 1;
        return;
    }
    unsigned char sha[32];
    wr_gz_status st = wr_gz_stream_file(path, WR_AUDIT_MAX_LOG_BYTES, NULL, NULL, sha);
    free(path);
    if (st != WR_GZ_OK) {
        report(s, WR_V_LOG, l->s3_object, st == WR_GZ_TOOBIG ? "invalid format" :
               wr_gz_status_text(st), st == WR_GZ_TOOBIG ? "inflates beyond 256 MiB" : NULL,
               NULL);
        return;
    }
    char hex[65];
    wr_hex(hex, sha, 32);
    if (strcmp(hex, l->hash_value) != 0)
        report(s, WR_V_LOG, l->s3_object, "hash value doesn't match", NULL, NULL);
    else
        report(s, WR_V_LOG, l->s3_object, NULL, NULL, NULL);
}

/*
 * Checks the digest at rel. On return *d holds the parsed digest when it could be parsed
 * (even if invalid); the result is 1 valid, 0 invalid, -1 not found.
 */
static int check_digest(vstate *s, const char *rel, const link *lk, wr_digest *d, int *parsed)
{
    char why[160] = "";
    const char *reason = NULL;
    char detail[512] = "";
    char *sig = NULL;
    *parsed = 0;
    memset(d, 0, sizeof *d);
    char *path = join(s->o->dir, rel, NULL);
    gz_collect gc;
    wr_buf_init(&gc.b);
    unsigned char sha[32];
    char sha_hex[65] = "";
    wr_gz_status st = path ? wr_gz_stream_file(path, WR_AUDIT_MAX_DIGEST_BYTES, collect_sink,
                                               &gc, sha)
                           : WR_GZ_NOMEM;
    free(path);
    if (st != WR_GZ_OK) {
        reason = st == WR_GZ_TOOBIG ? "invalid format" : wr_gz_status_text(st);
        goto done;
    }
    wr_hex(sha_hex, sha, 32);
    if (wr_digest_parse(d, gc.b.data ? gc.b.data : "", gc.b.len, why, sizeof why) != 0) {
        reason = "invalid format";
        snprintf(detail, sizeof detail, "%s", why);
        goto done;
    }
    *parsed = 1;
    if (d->prev_object && !wr_rel_path_ok(d->prev_object)) {
        reason = "invalid format";
        snprintf(detail, sizeof detail, "previousDigestS3Object leaves the trail");
        goto done;
    }
    const vkey *key = NULL;
    for (size_t i = 0; i < s->n_keys && !key; i++)
        if (strcmp(s->keys[i].fp, d->fingerprint) == 0)
            key = &s->keys[i];
    if (!key) {
        reason = "public key fingerprint mismatch";
        snprintf(detail, sizeof detail, "signed with key %.40s; no --public-key has it",
                 d->fingerprint);
        goto done;
    }
    sig = read_sig(s->o->dir, rel);
    if (!sig || !sig_ok(key->pkey, d, sha_hex, sig)) {
        reason = "signature verification failed";
        if (!sig)
            snprintf(detail, sizeof detail, "no readable signature file %s.sig", rel);
        goto done;
    }
    if (lk && (strcmp(lk->hash, sha_hex) != 0 || strcmp(lk->signature, sig) != 0)) {
        reason = "hash of previous digest doesn't match";
        snprintf(detail, sizeof detail,
                 "%s chains to another digest here: the chain is broken (edited, reordered "
                 "or replaced digest)", lk->from);
        goto done;
    }
    if (strcmp(d->object, rel) != 0) {
        reason = "moved from its original location";
        snprintf(detail, sizeof detail, "it was written as %.400s", d->object);
        goto done;
    }
done:
    free(sig);
    wr_buf_free(&gc.b);
    report(s, WR_V_DIGEST, rel, reason, detail[0] ? detail : NULL, NULL);
    if (st == WR_GZ_NOTFOUND)
        return -1;
    return reason == NULL;
}

/* ------------------------------------------------------------------ chains */

static int by_group_time(const void *a, const void *b)
{
    const wr_trail_file *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    if (c)
        return c;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return strcmp(x->path, y->path);
}

static int in_range(const wr_verify_opts *o, time_t t)
{
    return (!o->has_start || t >= o->start) && (!o->has_end || t <= o->end);
}

/* Walks one chain group: files f[0..n) sorted oldest -> newest, all in range. */
static void walk_group(vstate *s, wr_trail_file *f, size_t n)
{
    char *visited = calloc(n ? n : 1, 1);
    if (!visited) {
        s->oom = 1;
        return;
    }
    char *next = NULL;       /* path the last valid digest links to */
    char *lk_hash = NULL, *lk_sig = NULL, *lk_from = NULL;
    for (;;) {
        const char *rel = next;
        size_t idx = n;
        if (rel) {
            for (size_t i = 0; i < n; i++)
                if (strcmp(f[i].path, rel) == 0)
                    idx = i;
            if (idx < n && visited[idx])
                break; /* a loop: already reported */
        } else {
            for (size_t i = n; i-- > 0;)
                if (!visited[i]) {
                    idx = i;
                    break;
                }
            if (idx == n)
                break;
            rel = f[idx].path;
        }
        if (idx < n)
            visited[idx] = 1;
        link lk = {lk_hash, lk_sig, lk_from};
        wr_digest d;
        int parsed;
        int valid = check_digest(s, rel, next ? &lk : NULL, &d, &parsed);
        if (valid < 0 && next) {
            /* a linked digest is gone: the log files it listed are unaccounted for, so the
             * range to check for unlisted log files reaches back to the start */
            time_t lo = s->o->has_start ? s->o->start : 0;
            add_cover(s, rel, lo, lo);
            valid = 0;
        } else if (valid < 0) {
            valid = 0;
        }
        free(lk_hash);
        free(lk_sig);
        free(lk_from);
        lk_hash = lk_sig = lk_from = NULL;
        char *cur = wr_strdup(rel);
        free(next);
        next = NULL;
        if (parsed) {
            add_cover(s, cur ? cur : "", d.start, d.end);
            for (size_t i = 0; i < d.n_logs; i++) {
                if (valid)
                    check_log(s, &d.logs[i]);
                else if (wr_rel_path_ok(d.logs[i].s3_object))
                    add_listed(s, d.logs[i].s3_object, 0);
            }
        }
        if (valid && d.prev_object) {
            /* follow the link unless it leaves the range */
            time_t pt = 0;
            size_t pl = strlen(d.prev_object);
            int older_in_range = 1;
            if (pl > 24) {
                char iso[21];
                const char *ts = d.prev_object + pl - 24;
                snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", ts, ts + 4, ts + 6,
                         ts + 9, ts + 11, ts + 13);
                if (wr_time_parse(iso, &pt) == 0 && !in_range(s->o, pt))
                    older_in_range = 0;
            }
            if (older_in_range) {
                next = wr_strdup(d.prev_object);
                lk_hash = wr_strdup(d.prev_hash);
                lk_sig = wr_strdup(d.prev_signature);
                lk_from = wr_strdup(cur ? cur : "");
                if (!next || !lk_hash || !lk_sig || !lk_from)
                    s->oom = 1;
            }
        } else if (valid) {
            /* the chain starts here: an older listed digest is not linked to it */
            for (size_t i = n; i-- > 0;) {
                if (!visited[i] && f[i].t <= (idx < n ? f[idx].t : f[i].t)) {
                    report(s, WR_V_GAP, cur ? cur : "", NULL,
                           "this digest starts a new chain (previousDigest* null)", f[i].path);
                    break;
                }
            }
        }
        wr_digest_free(&d);
        free(cur);
        if (s->oom) {
            free(next);
            next = NULL;
            break;
        }
    }
    free(next);
    free(lk_hash);
    free(lk_sig);
    free(lk_from);
    free(visited);
}

static int listed_cmp(const void *a, const void *b)
{
    const listed *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    return y->valid_digest - x->valid_digest; /* valid first */
}

/* Log files on disk that no digest lists. */
static void check_unlisted(vstate *s, weir_error *err)
{
    wr_trail_file *f = NULL;
    size_t n = 0;
    if (wr_trail_list(s->o->dir, 0, 0, &f, &n, err) != 0) {
        s->oom = 1;
        return;
    }
    if (s->n_listed)
        qsort(s->listed, s->n_listed, sizeof *s->listed, listed_cmp);
    for (size_t i = 0; i < n; i++) {
        listed key = {f[i].path, 1};
        listed *hit = s->n_listed ? bsearch(&key, s->listed, s->n_listed, sizeof *s->listed,
                                            listed_cmp)
                                  : NULL;
        if (!hit) {
            key.valid_digest = 0;
            hit = s->n_listed ? bsearch(&key, s->listed, s->n_listed, sizeof *s->listed,
                                        listed_cmp)
                              : NULL;
        }
        if (hit && hit->valid_digest)
            continue; /* already checked */
        const struct cover *cv = NULL;
        for (size_t k = 0; k < s->n_cover; k++)
            if (strcmp(s->cover[k].group, f[i].group) == 0)
                cv = &s->cover[k];
        if (!f[i].named_ok) {
            if (!cv && (s->o->has_start || s->o->has_end))
                continue;
            report(s, WR_V_LOG, f[i].path, "not listed in any digest",
                   "the file name does not follow the log file layout", NULL);
            continue;
        }
        if (cv) {
            if (f[i].t < cv->lo - 60)
                continue; /* before the range verified */
            if (f[i].t + 60 > cv->hi) {
                report(s, WR_V_PENDING, f[i].path, NULL,
                       "newer than the newest digest: not yet covered", NULL);
                continue;
            }
        } else if (!in_range(s->o, f[i].t)) {
            continue;
        }
        if (hit)
            report(s, WR_V_LOG, f[i].path, "listed only in an invalid digest", NULL, NULL);
        else
            report(s, WR_V_LOG, f[i].path, "not listed in any digest", NULL, NULL);
    }
    wr_trail_files_free(f, n);
}

int wr_audit_verify(const wr_verify_opts *o, wr_verdict_fn fn, void *ctx, wr_verify_counts *c,
                    weir_error *err)
{
    vstate s;
    memset(&s, 0, sizeof s);
    memset(c, 0, sizeof *c);
    s.o = o;
    s.fn = fn;
    s.ctx = ctx;
    s.c = c;
    int rc = 0;
    if (o->n_keys == 0)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "no public key given");
    s.keys = calloc(o->n_keys, sizeof *s.keys);
    if (!s.keys)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < o->n_keys; i++) {
        rc = load_key(&s.keys[i], o->key_files[i], err);
        if (rc)
            goto done;
        s.n_keys++;
    }
    wr_trail_file *f = NULL;
    size_t n = 0;
    rc = wr_trail_list(o->dir, 1, 0, &f, &n, err);
    if (rc)
        goto done;
    /* keep the digests in range (a badly named one is reported as invalid format) */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!f[i].named_ok) {
            report(&s, WR_V_DIGEST, f[i].path, "invalid format",
                   "the file name does not follow the digest layout", NULL);
            free(f[i].path);
            free(f[i].group);
            continue;
        }
        if (!in_range(o, f[i].t)) {
            free(f[i].path);
            free(f[i].group);
            continue;
        }
        f[m++] = f[i];
    }
    if (m)
        qsort(f, m, sizeof *f, by_group_time);
    /* every digest in range covers up to its end time, even one that cannot be read */
    for (size_t i = 0; i < m; i++)
        add_cover(&s, f[i].path, f[i].t, f[i].t);
    /* newest group last; walk each group */
    for (size_t i = 0; i < m && !s.oom;) {
        size_t j = i;
        while (j < m && strcmp(f[j].group, f[i].group) == 0)
            j++;
        walk_group(&s, f + i, j - i);
        i = j;
    }
    wr_trail_files_free(f, m);
    if (!s.oom)
        check_unlisted(&s, err);
    if (s.oom) {
        rc = err && err->code ? err->code
                              : wr_error_set(err, WEIR_ENOMEM, o->dir, 0, 0, "out of memory");
        goto done;
    }
    rc = c->digests_valid == c->digests && c->logs_valid == c->logs ? 0 : 1;
done:
    for (size_t i = 0; i < s.n_keys; i++)
        EVP_PKEY_free(s.keys[i].pkey);
    free(s.keys);
    for (size_t i = 0; i < s.n_listed; i++)
        free(s.listed[i].path);
    free(s.listed);
    for (size_t i = 0; i < s.n_cover; i++)
        free(s.cover[i].group);
    free(s.cover);
    return rc;
}
