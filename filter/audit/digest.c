/*
 * digest.c - signed, chained digest files (reference/cloudtrail.md §5).
 *
 * Each digest lists the log files delivered since the previous one with their SHA-256,
 * links to the previous digest (its location, SHA-256 and signature) and is signed with
 * SHA256withRSA over "{end}\n{bucket}/{object}\n{sha256 hex}\n{previous signature|null}".
 * The signature goes to "<digest>.sig" (hex), written before the digest itself so a digest
 * never exists without its signature.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "audit/writer.h"

int wr_chain_load_key(wr_chain *c, const char *path, weir_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return wr_error_set(err, errno == ENOENT ? WEIR_ENOTFOUND : WEIR_EIO, path, 0, 0,
                            "cannot open the audit signing key: %s", strerror(errno));
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k) {
        ERR_clear_error();
        return wr_error_set(err, WEIR_EINVAL, path, 0, 0,
                            "not a PEM private key (generate one with `openssl genpkey "
                            "-algorithm RSA -pkeyopt rsa_keygen_bits:2048`)");
    }
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        return wr_error_set(err, WEIR_EINVAL, path, 0, 0,
                            "the audit signing key must be an RSA key (SHA256withRSA)");
    }
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0) {
        EVP_PKEY_free(k);
        ERR_clear_error();
        return wr_error_set(err, WEIR_EINTERNAL, path, 0, 0, "cannot encode the public key");
    }
    unsigned char md[16];
    unsigned int mlen = 0;
    EVP_Digest(der, (size_t)n, md, &mlen, EVP_md5(), NULL);
    OPENSSL_free(der);
    wr_hex(c->fingerprint, md, 16);
    c->key = k;
    return 0;
}

/* "{acct}_CloudTrail-Digest_{region}_{trail}_{region}_" */
static char *digest_prefix(const char *account, const char *region, const char *trail)
{
    wr_buf b;
    wr_buf_init(&b);
    wr_buf_printf(&b, "%s_CloudTrail-Digest_%s_%s_%s_", account, region, trail, region);
    if (b.oom) {
        wr_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* The newest digest name (by its timestamp) below dir, recursively; relative path. */
static void newest_digest(const char *dir, const char *rel, const char *prefix, int depth,
                          char **best_rel, char *best_ts)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    size_t pl = strlen(prefix);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        wr_buf p, r;
        wr_buf_init(&p);
        wr_buf_init(&r);
        wr_buf_printf(&p, "%s/%s", dir, e->d_name);
        wr_buf_printf(&r, "%s/%s", rel, e->d_name);
        size_t n = strlen(e->d_name);
        if (p.oom || r.oom) {
            /* skip */
        } else if (depth < 3) {
            newest_digest(p.data, r.data, prefix, depth + 1, best_rel, best_ts);
        } else if (n == pl + 16 + 8 && strncmp(e->d_name, prefix, pl) == 0 &&
                   strcmp(e->d_name + n - 8, ".json.gz") == 0 &&
                   strncmp(e->d_name + pl, best_ts, 16) > 0) {
            memcpy(best_ts, e->d_name + pl, 16);
            free(*best_rel);
            *best_rel = r.data;
            r.data = NULL;
        }
        wr_buf_free(&p);
        wr_buf_free(&r);
    }
    closedir(d);
}

static char *read_small(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    wr_buf b;
    wr_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        wr_buf_append(&b, chunk, n);
    fclose(f);
    if (b.oom || wr_buf_reserve(&b, 1) != 0) {
        wr_buf_free(&b);
        return NULL;
    }
    b.data[b.len] = '\0';
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0';
    return b.data;
}

int wr_chain_resume(wr_chain *c, const char *root, const char *account, const char *region,
                    const char *trail, time_t now, weir_error *err)
{
    c->start = now;
    char *prefix = digest_prefix(account, region, trail);
    wr_buf dir, rel;
    wr_buf_init(&dir);
    wr_buf_init(&rel);
    wr_buf_printf(&rel, "AWSLogs/%s/CloudTrail-Digest/%s", account, region);
    wr_buf_printf(&dir, "%s/%s", root, rel.data ? rel.data : "");
    char *best = NULL, ts[17] = "0";
    char *plain = NULL, *sig = NULL;
    size_t plen = 0;
    json_t *j = NULL;
    int rc = 0;
    if (!prefix || dir.oom || rel.oom) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    newest_digest(dir.data, rel.data, prefix, 0, &best, ts);
    if (!best)
        goto done; /* a new chain */
    char iso[WR_AUDIT_TIME_LEN + 1];
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", ts, ts + 4, ts + 6, ts + 9,
             ts + 11, ts + 13);
    c->last_end = wr_audit_parse_time(iso);
    wr_buf p;
    wr_buf_init(&p);
    wr_buf_printf(&p, "%s/%s", root, best);
    int r = p.oom ? WEIR_ENOMEM : wr_audit_read_gz(&plain, &plen, p.data, err);
    if (r == 0) {
        wr_buf_puts(&p, ".sig");
        sig = p.oom ? NULL : read_small(p.data);
    }
    wr_buf_free(&p);
    if (r != 0) {
        rc = r;
        goto done;
    }
    j = json_loadb(plain, plen, 0, NULL);
    const char *fp = json_string_value(json_object_get(j, "digestPublicKeyFingerprint"));
    const char *end = json_string_value(json_object_get(j, "digestEndTime"));
    const char *bucket = json_string_value(json_object_get(j, "digestS3Bucket"));
    time_t t = wr_audit_parse_time(end);
    if (!j || !sig || !fp || !bucket || t < 0 || strcmp(fp, c->fingerprint) != 0) {
        /* unreadable, unsigned, or another key: this key starts a new chain */
        goto done;
    }
    c->prev_bucket = wr_strdup(bucket);
    c->prev_object = best;
    best = NULL;
    c->prev_sig = sig;
    sig = NULL;
    wr_audit_sha256_hex(c->prev_hash, plain, plen);
    c->prev_end = t;
    /* the next period starts where the last one ended (covers logs recovered at open) */
    c->start = t;
    if (!c->prev_bucket)
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
done:
    json_decref(j);
    free(plain);
    free(sig);
    free(best);
    free(prefix);
    wr_buf_free(&dir);
    wr_buf_free(&rel);
    return rc;
}

int wr_chain_add_log(wr_chain *c, char *object, const char hash[65], const char *newest,
                     const char *oldest)
{
    wr_logref *v = wr_grow(c->logs, &c->caplogs, c->nlogs + 1, sizeof *v, 16);
    if (!v) {
        free(object);
        return WEIR_ENOMEM;
    }
    c->logs = v;
    wr_logref *l = &v[c->nlogs++];
    l->object = object;
    memcpy(l->hash, hash, 65);
    snprintf(l->newest, sizeof l->newest, "%s", newest ? newest : "");
    snprintf(l->oldest, sizeof l->oldest, "%s", oldest ? oldest : "");
    return 0;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static int sign_hex(char **out, EVP_PKEY *key, const char *msg, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t slen = 0;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, NULL, &slen, (const unsigned char *)msg, len) == 1 &&
             (sig = wr_malloc(slen)) != NULL &&
             EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    char *hex = ok ? wr_malloc(2 * slen + 1) : NULL;
    if (hex)
        wr_hex(hex, sig, slen);
    free(sig);
    ERR_clear_error();
    *out = hex;
    return hex ? 0 : WEIR_EINTERNAL;
}

int wr_chain_write(wr_chain *c, const char *root, const char *account, const char *region,
                   const char *trail, const char *bucket, time_t now, weir_error *err)
{
    /* digest names have one-second resolution: never reuse the previous end time */
    time_t end = now;
    if (c->prev_end && end <= c->prev_end)
        end = c->prev_end + 1;
    if (c->last_end > 0 && end <= c->last_end)
        end = c->last_end + 1;
    char start_s[WR_AUDIT_TIME_LEN + 1], end_s[WR_AUDIT_TIME_LEN + 1];
    wr_audit_fmt_time(start_s, c->start < end ? c->start : end);
    wr_audit_fmt_time(end_s, end);
    struct tm tm;
    gmtime_r(&end, &tm);
    char ymd[16], stamp[24];
    strftime(ymd, sizeof ymd, "%Y/%m/%d", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);

    wr_buf reldir, name, object, absdir, tosign;
    wr_buf_init(&reldir);
    wr_buf_init(&name);
    wr_buf_init(&object);
    wr_buf_init(&absdir);
    wr_buf_init(&tosign);
    wr_buf_printf(&reldir, "AWSLogs/%s/CloudTrail-Digest/%s/%s", account, region, ymd);
    wr_buf_printf(&name, "%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz", account, region, trail,
                  region, stamp);
    wr_buf_printf(&object, "%s/%s", reldir.data ? reldir.data : "", name.data ? name.data : "");
    wr_buf_printf(&absdir, "%s/%s", root, reldir.data ? reldir.data : "");
    json_t *d = json_object(), *logs = json_array();
    char *text = NULL, *sig = NULL;
    int rc = 0, e;
    if (reldir.oom || name.oom || object.oom || absdir.oom || !d || !logs) {
        json_decref(logs);
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    const char *newest = NULL, *oldest = NULL;
    for (size_t i = 0; i < c->nlogs; i++) {
        const wr_logref *l = &c->logs[i];
        if (l->newest[0] && (!newest || strcmp(l->newest, newest) > 0))
            newest = l->newest;
        if (l->oldest[0] && (!oldest || strcmp(l->oldest, oldest) < 0))
            oldest = l->oldest;
        json_t *o = json_object();
        json_object_set_new(o, "s3Bucket", json_string(bucket));
        json_object_set_new(o, "s3Object", json_string(l->object));
        json_object_set_new(o, "hashValue", json_string(l->hash));
        json_object_set_new(o, "hashAlgorithm", json_string("SHA-256"));
        json_object_set_new(o, "newestEventTime", str_or_null(l->newest));
        json_object_set_new(o, "oldestEventTime", str_or_null(l->oldest));
        json_array_append_new(logs, o);
    }
    int first = c->prev_object == NULL;
    json_object_set_new(d, "awsAccountId", json_string(account));
    json_object_set_new(d, "digestStartTime", json_string(start_s));
    json_object_set_new(d, "digestEndTime", json_string(end_s));
    json_object_set_new(d, "digestS3Bucket", json_string(bucket));
    json_object_set_new(d, "digestS3Object", json_string(object.data));
    json_object_set_new(d, "digestPublicKeyFingerprint", json_string(c->fingerprint));
    json_object_set_new(d, "digestSignatureAlgorithm", json_string("SHA256withRSA"));
    json_object_set_new(d, "newestEventTime", str_or_null(newest));
    json_object_set_new(d, "oldestEventTime", str_or_null(oldest));
    json_object_set_new(d, "previousDigestS3Bucket", first ? json_null() : json_string(c->prev_bucket));
    json_object_set_new(d, "previousDigestS3Object", first ? json_null() : json_string(c->prev_object));
    json_object_set_new(d, "previousDigestHashValue", first ? json_null() : json_string(c->prev_hash));
    json_object_set_new(d, "previousDigestHashAlgorithm", first ? json_null() : json_string("SHA-256"));
    json_object_set_new(d, "previousDigestSignature", first ? json_null() : json_string(c->prev_sig));
    json_object_set_new(d, "logFiles", logs);
    text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    size_t tlen = strlen(text);
    char hash[65];
    wr_audit_sha256_hex(hash, text, tlen);
    wr_buf_printf(&tosign, "%s\n%s/%s\n%s\n%s", end_s, bucket, object.data, hash,
                  first ? "null" : c->prev_sig);
    if (tosign.oom) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    if (sign_hex(&sig, c->key, tosign.data, tosign.len) != 0) {
        rc = wr_error_set(err, WEIR_EINTERNAL, NULL, 0, 0, "audit: cannot sign the digest");
        goto done;
    }
    if ((e = wr_audit_mkdirs(root, reldir.data)) != 0) {
        rc = wr_error_set(err, WEIR_EIO, absdir.data, 0, 0,
                          "cannot create the audit digest directory: %s", strerror(-e));
        goto done;
    }
    /* the signature first: a digest never exists without it */
    wr_buf signame;
    wr_buf_init(&signame);
    wr_buf_printf(&signame, "%s.sig", name.data);
    rc = signame.oom ? WEIR_ENOMEM
                     : wr_audit_write_plain(absdir.data, signame.data, sig, strlen(sig), err);
    wr_buf_free(&signame);
    if (rc == 0)
        rc = wr_audit_write_gz(absdir.data, name.data, text, tlen, err);
    if (rc != 0)
        goto done;

    /* advance the chain */
    char *pb = wr_strdup(bucket);
    if (!pb) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    free(c->prev_bucket);
    free(c->prev_object);
    free(c->prev_sig);
    c->prev_bucket = pb;
    c->prev_object = object.data;
    object.data = NULL;
    c->prev_sig = sig;
    sig = NULL;
    memcpy(c->prev_hash, hash, 65);
    c->prev_end = end;
    c->last_end = end;
    c->start = end;
    for (size_t i = 0; i < c->nlogs; i++)
        free(c->logs[i].object);
    c->nlogs = 0;
done:
    c->failed = rc != 0;
    json_decref(d);
    free(text);
    free(sig);
    wr_buf_free(&reldir);
    wr_buf_free(&name);
    wr_buf_free(&object);
    wr_buf_free(&absdir);
    wr_buf_free(&tosign);
    return rc;
}

void wr_chain_free(wr_chain *c)
{
    EVP_PKEY_free(c->key);
    free(c->prev_bucket);
    free(c->prev_object);
    free(c->prev_sig);
    for (size_t i = 0; i < c->nlogs; i++)
        free(c->logs[i].object);
    free(c->logs);
    memset(c, 0, sizeof *c);
}
