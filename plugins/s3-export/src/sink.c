/*
 * sink.c - the s3-export audit sink: queue, upload worker, metrics, plugin entry.
 *
 * sink_file only queues: it takes `mu` for the list only and never waits for I/O. One worker
 * thread uploads the first queued item that is due; a failed item gets its own capped
 * exponential backoff with jitter and the others go on (no head-of-line blocking), and it is
 * retried forever, so nothing is dropped. A run of failures across items also pauses the
 * worker (same backoff), so an outage is not hammered once per file. The worker owns the item
 * it works on: uploads, the ledger (fdatasynced) before a log file is deleted (when
 * delete_after_upload), host logging and metrics all happen without `mu`. Digests go up as
 * two objects: the .sig first, then the digest with its signature in x-amz-meta-signature.
 */
#include "s3x.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "weir/plugin.h"

#define S3X_FILE_MAX (1024u * 1024 * 1024) /* larger files are refused, not uploaded */
#define S3X_SIG_MAX 4096
#define S3X_GAUGE_PERIOD_MS 5000

/* An upload. `prev`/`next` belong to `mu`; the rest, once queued, to the worker only. */
typedef struct s3x_item {
    struct s3x_item *prev, *next;
    int kind;
    char *path, *key, *signature;
    int stage;              /* digests: 0 = .sig to upload, 1 = digest to upload */
    unsigned attempts;      /* failed attempts so far */
    int alerting;           /* past max_attempts_before_alert */
    int64_t enqueued_ms;    /* monotonic */
    int64_t next_ms;        /* monotonic: not before */
    int64_t last_alert_ms;
} s3x_item;

typedef struct s3x_sink {
    const weir_plugin_host *host;
    s3x_config cfg;
    char *root;
    s3x_ledger ledger;
    s3x_set queued;
    s3x_http *http;
    pthread_t worker;
    int worker_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* worker: new item or stop */
    pthread_cond_t drained; /* flush: queue changed */
    s3x_item *head, *tail;  /* in queueing order (mu) */
    size_t pending;         /* mu */
    size_t failing;         /* mu */
    atomic_int stop;
    /* worker only */
    uint64_t rng;
    unsigned streak;        /* failed attempts in a row, whatever the item */
    int64_t pause_until_ms; /* monotonic: no attempt before (after a failure) */
} s3x_sink;

/* ------------------------------------------------------------------ host helpers */

static int64_t s3x_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

S3X_PRINTF(3, 4)
static void s3x_log(const s3x_sink *s, weir_plugin_log_level level, const char *fmt, ...)
{
    if (!s->host || !s->host->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->host->log(s->host->ctx, level, line);
}

static void s3x_count(const s3x_sink *s, const char *name, uint64_t delta)
{
    if (s->host && s->host->counter_add && delta)
        s->host->counter_add(s->host->ctx, name, delta);
}

static void s3x_gauge(const s3x_sink *s, const char *name, double v)
{
    if (s->host && s->host->gauge_set)
        s->host->gauge_set(s->host->ctx, name, v);
}

typedef struct s3x_gauge_snap {
    double pending, failing, oldest;
} s3x_gauge_snap;

/* Called with mu held: the gauges' values (published later, without mu). */
static s3x_gauge_snap s3x_gauges_take(const s3x_sink *s)
{
    s3x_gauge_snap g = {(double)s->pending, (double)s->failing, 0.0};
    if (s->head)
        g.oldest = (double)(s3x_now_ms() - s->head->enqueued_ms) / 1000.0;
    if (g.oldest < 0)
        g.oldest = 0;
    return g;
}

static void s3x_gauges_publish(const s3x_sink *s, const s3x_gauge_snap *g)
{
    s3x_gauge(s, "pending_files", g->pending);
    s3x_gauge(s, "failing_files", g->failing);
    s3x_gauge(s, "oldest_pending_seconds", g->oldest);
}

/* Credentials from the host, else the environment. 0, or -1 when there are none. */
static int s3x_creds_get(const s3x_sink *s, s3x_creds *c)
{
    memset(c, 0, sizeof *c);
    if (s->host && s->host->aws_credentials) {
        weir_plugin_aws_credentials hc;
        memset(&hc, 0, sizeof hc);
        int rc = s->host->aws_credentials(s->host->ctx, &hc);
        if (rc == 0 && hc.access_key_id[0] && hc.secret_access_key[0]) {
            memcpy(c->access_key_id, hc.access_key_id, sizeof c->access_key_id);
            memcpy(c->secret_access_key, hc.secret_access_key, sizeof c->secret_access_key);
            memcpy(c->session_token, hc.session_token, sizeof c->session_token);
            c->access_key_id[sizeof c->access_key_id - 1] = '\0';
            c->secret_access_key[sizeof c->secret_access_key - 1] = '\0';
            c->session_token[sizeof c->session_token - 1] = '\0';
            OPENSSL_cleanse(&hc, sizeof hc);
            return 0;
        }
        OPENSSL_cleanse(&hc, sizeof hc);
    }
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN");
    if (!ak || !*ak || !sk || !*sk || strlen(ak) >= sizeof c->access_key_id ||
        strlen(sk) >= sizeof c->secret_access_key ||
        (tok && strlen(tok) >= sizeof c->session_token))
        return -1;
    strcpy(c->access_key_id, ak);
    strcpy(c->secret_access_key, sk);
    if (tok)
        strcpy(c->session_token, tok);
    return 0;
}

/* ------------------------------------------------------------------ files */

/* Reads a whole file (at most max bytes). 0; -1 with errno (EFBIG when too large). */
static int s3x_read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        int e = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        close(fd);
        errno = e;
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        free(buf);
        errno = EIO;
        return -1;
    }
    *out = buf;
    *len = size;
    return 0;
}

/* The hex signature of a digest from its .sig file (trimmed), or NULL. */
static char *s3x_read_sig(const char *digest_path)
{
    s3x_buf p = {0};
    s3x_buf_printf(&p, "%s.sig", digest_path);
    unsigned char *data = NULL;
    size_t len = 0;
    char *sig = NULL;
    if (!p.oom && s3x_read_file(p.data, S3X_SIG_MAX, &data, &len) == 0) {
        while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
            len--;
        int ok = len > 0;
        for (size_t i = 0; i < len; i++)
            ok &= (data[i] >= '0' && data[i] <= '9') || (data[i] >= 'a' && data[i] <= 'f') ||
                  (data[i] >= 'A' && data[i] <= 'F');
        if (ok && (sig = malloc(len + 1))) {
            memcpy(sig, data, len);
            sig[len] = '\0';
        }
    }
    free(data);
    s3x_buf_free(&p);
    return sig;
}

/* ------------------------------------------------------------------ queue */

static void s3x_item_free(s3x_item *it)
{
    if (!it)
        return;
    free(it->path);
    free(it->key);
    free(it->signature);
    free(it);
}

/* Called with mu held (or before the worker starts). 0, 1 (skipped) or -1 (OOM). */
static int s3x_enqueue(s3x_sink *s, int kind, const char *path, const char *key,
                       const char *signature)
{
    if (s3x_set_has(&s->ledger.done, key) || s3x_set_has(&s->queued, key))
        return 1;
    s3x_item *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->kind = kind;
    it->path = s3x_strdup(path);
    it->key = s3x_strdup(key);
    it->signature = signature ? s3x_strdup(signature) : NULL;
    it->enqueued_ms = s3x_now_ms();
    if (!it->path || !it->key || (signature && !it->signature) ||
        s3x_set_add(&s->queued, key) != 0) {
        s3x_item_free(it);
        return -1;
    }
    it->prev = s->tail;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->pending++;
    return 0;
}

/* Called with mu held: it is done (uploaded, or can never be); the caller frees it. */
static void s3x_unlink(s3x_sink *s, s3x_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        s->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        s->tail = it->prev;
    s->pending--;
    if (it->alerting)
        s->failing--;
    s3x_set_remove(&s->queued, it->key);
    pthread_cond_broadcast(&s->drained);
}

/* Called with mu held: the first item (in queueing order) that is due, or NULL with *wait_ms
 * set to the time until one is (at most the gauge period). */
static s3x_item *s3x_pick(const s3x_sink *s, int64_t now, int64_t *wait_ms)
{
    int64_t wake = now + S3X_GAUGE_PERIOD_MS;
    if (s->pause_until_ms > now) {
        if (s->pause_until_ms < wake)
            wake = s->pause_until_ms;
    } else {
        for (s3x_item *it = s->head; it; it = it->next) {
            if (it->next_ms <= now)
                return it;
            if (it->next_ms < wake)
                wake = it->next_ms;
        }
    }
    *wait_ms = wake - now;
    return NULL;
}

/* ------------------------------------------------------------------ upload */

typedef enum { S3X_UP_OK, S3X_UP_RETRY, S3X_UP_GONE } s3x_up;

/* PUTs the file at path (or, when path is NULL, the bytes of `text`) under prefix + key. */
static s3x_up s3x_put_one(s3x_sink *s, const char *path, const char *text,
                          const char *key_suffix, const char *content_type, const char *signature,
                          s3x_put_result *res)
{
    unsigned char *body = NULL;
    size_t len = 0;
    if (!path) {
        len = strlen(text);
        if (!(body = malloc(len + 1))) {
            snprintf(res->code, sizeof res->code, "LocalError");
            snprintf(res->message, sizeof res->message, "out of memory");
            return S3X_UP_RETRY;
        }
        memcpy(body, text, len + 1);
    } else if (s3x_read_file(path, S3X_FILE_MAX, &body, &len) != 0) {
        int e = errno;
        snprintf(res->code, sizeof res->code, "%s", e == ENOENT ? "FileMissing" : "FileError");
        snprintf(res->message, sizeof res->message, "%s: %s", path,
                 e == EFBIG ? "larger than 1 GiB" : strerror(e));
        return e == ENOENT || e == EFBIG || e == EINVAL ? S3X_UP_GONE : S3X_UP_RETRY;
    }
    s3x_buf key = {0};
    s3x_buf_printf(&key, "%s%s", s->cfg.prefix, key_suffix);
    s3x_creds creds;
    s3x_up up = S3X_UP_RETRY;
    if (key.oom) {
        snprintf(res->code, sizeof res->code, "LocalError");
        snprintf(res->message, sizeof res->message, "out of memory");
    } else if (s3x_creds_get(s, &creds) != 0) {
        snprintf(res->code, sizeof res->code, "NoCredentials");
        snprintf(res->message, sizeof res->message,
                 "no AWS credentials from the host nor AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
    } else {
        s3x_put_object obj = {key.data, body, len, content_type, signature,
                              signature ? "SHA256withRSA" : NULL};
        s3x_http_put(s->http, &obj, &creds, res);
        if (res->ok) {
            s3x_count(s, "uploads", 1);
            s3x_count(s, "upload_bytes", len);
            up = S3X_UP_OK;
        }
    }
    OPENSSL_cleanse(&creds, sizeof creds);
    s3x_buf_free(&key);
    free(body);
    return up;
}

/* One attempt at an item (without mu). */
static s3x_up s3x_attempt(s3x_sink *s, s3x_item *it, s3x_put_result *res)
{
    memset(res, 0, sizeof *res);
    if (it->kind == WEIR_SINK_LOG)
        return s3x_put_one(s, it->path, NULL, it->key, "application/gzip", NULL, res);
    if (!it->signature && !(it->signature = s3x_read_sig(it->path))) {
        snprintf(res->code, sizeof res->code, "SignatureMissing");
        snprintf(res->message, sizeof res->message, "%s.sig: missing or not hex", it->path);
        return access(it->path, F_OK) != 0 ? S3X_UP_GONE : S3X_UP_RETRY;
    }
    if (it->stage == 0) {
        s3x_buf sp = {0}, sk = {0};
        s3x_buf_printf(&sp, "%s.sig", it->path);
        s3x_buf_printf(&sk, "%s.sig", it->key);
        s3x_up up = S3X_UP_RETRY;
        if (sp.oom || sk.oom)
            snprintf(res->code, sizeof res->code, "LocalError");
        else if (access(sp.data, F_OK) != 0 && errno == ENOENT)
            /* the offer carried the signature but the .sig file is gone: same bytes */
            up = s3x_put_one(s, NULL, it->signature, sk.data, "text/plain", NULL, res);
        else
            up = s3x_put_one(s, sp.data, NULL, sk.data, "text/plain", NULL, res);
        s3x_buf_free(&sp);
        s3x_buf_free(&sk);
        if (up != S3X_UP_OK)
            return up;
        it->stage = 1;
    }
    return s3x_put_one(s, it->path, NULL, it->key, "application/gzip", it->signature, res);
}

/* After a success, without mu: ledger, then (logs) delete. 1 when the ledger has the key. */
static int s3x_deliver(s3x_sink *s, const s3x_item *it)
{
    if (s3x_ledger_append(&s->ledger, it->key) != 0) {
        s3x_log(s, WEIR_PLUGIN_LOG_ERROR,
                "s3-export: %s: uploaded, but the ledger %s cannot be written (%s): it will be "
                "uploaded again after a restart and is not deleted",
                it->key, s->ledger.path, strerror(errno));
        return 0;
    }
    if (s->cfg.delete_after_upload && it->kind == WEIR_SINK_LOG) {
        if (unlink(it->path) == 0)
            s3x_count(s, "files_deleted", 1);
        else if (errno != ENOENT)
            s3x_log(s, WEIR_PLUGIN_LOG_WARN, "s3-export: %s: uploaded but cannot delete: %s",
                    it->path, strerror(errno));
    }
    if (it->attempts)
        s3x_log(s, WEIR_PLUGIN_LOG_INFO, "s3-export: %s uploaded after %u failed attempts",
                it->key, it->attempts);
    return 1;
}

static int64_t s3x_backoff_ms(s3x_sink *s, unsigned attempts)
{
    uint64_t d = s->cfg.backoff_initial_ms;
    for (unsigned i = 1; i < attempts && d < s->cfg.backoff_max_ms; i++)
        d *= 2;
    if (d > s->cfg.backoff_max_ms)
        d = s->cfg.backoff_max_ms;
    s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
    uint64_t half = d / 2;
    return (int64_t)(d - half + (half ? s->rng % (half + 1) : 0)); /* [d/2, d] */
}

/* After a failed attempt, without mu: the item's backoff, the worker's pause, counting and
 * logging. 1 when the item has just crossed the alert threshold. */
static int s3x_failed(s3x_sink *s, s3x_item *it, const s3x_put_result *res)
{
    int64_t now = s3x_now_ms();
    it->attempts++;
    s->streak++;
    s3x_count(s, "upload_failures", 1);
    int64_t delay = s3x_backoff_ms(s, it->attempts);
    it->next_ms = now + delay;
    s->pause_until_ms = now + s3x_backoff_ms(s, s->streak);
    char what[400];
    if (res->status)
        snprintf(what, sizeof what, "HTTP %ld %s: %s", res->status, res->code, res->message);
    else
        snprintf(what, sizeof what, "%s: %s", res->code, res->message);
    if (it->attempts < s->cfg.max_attempts_before_alert) {
        s3x_log(s, WEIR_PLUGIN_LOG_WARN,
                "s3-export: %s: upload attempt %u failed (%s); retry in %lld ms", it->key,
                it->attempts, what, (long long)delay);
        return 0;
    }
    int first = !it->alerting;
    if (first) {
        it->alerting = 1;
        s3x_count(s, "files_alerted", 1);
    }
    if (it->last_alert_ms == 0 ||
        now - it->last_alert_ms >= (int64_t)s->cfg.alert_repeat_seconds * 1000) {
        it->last_alert_ms = now;
        s3x_log(s, WEIR_PLUGIN_LOG_ERROR,
                "s3-export: %s not uploaded to s3://%s/%s%s after %u attempts (%s); retrying "
                "every %u ms at most, the file stays on disk",
                it->key, s->cfg.bucket, s->cfg.prefix, it->key, it->attempts, what,
                s->cfg.backoff_max_ms);
    } else {
        s3x_log(s, WEIR_PLUGIN_LOG_DEBUG, "s3-export: %s: attempt %u failed (%s)", it->key,
                it->attempts, what);
    }
    return first;
}

/* What became of one attempt, applied to the queue under mu. */
typedef struct s3x_outcome {
    s3x_up up;
    int ledgered;  /* S3X_UP_OK: the key is in the ledger file */
    int new_alert; /* S3X_UP_RETRY: the item just crossed the alert threshold */
    int aborted;   /* stopped by destroy: not a failure */
} s3x_outcome;

/* One attempt at it and everything that follows, without mu (the worker owns it). */
static s3x_outcome s3x_process(s3x_sink *s, s3x_item *it)
{
    s3x_outcome o = {S3X_UP_RETRY, 0, 0, 0};
    s3x_put_result res;
    o.up = s3x_attempt(s, it, &res);
    if (o.up == S3X_UP_RETRY && atomic_load(&s->stop)) {
        o.aborted = 1;
    } else if (o.up == S3X_UP_OK) {
        s->streak = 0;
        o.ledgered = s3x_deliver(s, it);
    } else if (o.up == S3X_UP_GONE) {
        s3x_count(s, "files_unreadable", 1);
        s3x_log(s, WEIR_PLUGIN_LOG_ERROR, "s3-export: %s cannot be uploaded (%s: %s); skipped",
                it->key, res.code, res.message);
    } else {
        o.new_alert = s3x_failed(s, it, &res);
    }
    return o;
}

/* Called with mu held: applies an outcome to the queue. */
static void s3x_settle(s3x_sink *s, s3x_item *it, const s3x_outcome *o)
{
    if (o->up == S3X_UP_RETRY) {
        if (o->new_alert)
            s->failing++;
        return;
    }
    /* out of memory here only costs a harmless re-upload if the file is offered again */
    if (o->ledgered)
        (void)s3x_set_add(&s->ledger.done, it->key);
    s3x_unlink(s, it);
    s3x_item_free(it);
}

static void s3x_wait_ms(s3x_sink *s, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->wake, &s->mu, &ts);
}

/* mu is held only to pick an item, wait, read the gauges and settle an outcome. The wait
 * follows the pick under the same hold, so no wake-up is lost. */
static void *s3x_worker(void *arg)
{
    s3x_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop)) {
        int64_t wait = 0;
        s3x_item *it = s3x_pick(s, s3x_now_ms(), &wait);
        if (!it)
            s3x_wait_ms(s, wait);
        s3x_gauge_snap g = s3x_gauges_take(s);
        pthread_mutex_unlock(&s->mu);
        s3x_gauges_publish(s, &g);
        s3x_outcome o = {S3X_UP_RETRY, 0, 0, 1};
        if (it && !atomic_load(&s->stop))
            o = s3x_process(s, it);
        pthread_mutex_lock(&s->mu);
        if (it && o.aborted)
            break;
        if (it)
            s3x_settle(s, it, &o);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------------ plugin functions */

static void s3x_sink_free(s3x_sink *s)
{
    if (!s)
        return;
    if (s->worker_started) {
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->stop, 1);
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
    }
    while (s->head) {
        s3x_item *it = s->head;
        s->head = it->next;
        s3x_item_free(it);
    }
    s3x_http_free(s->http);
    s3x_ledger_close(&s->ledger);
    s3x_set_free(&s->queued);
    s3x_config_free(&s->cfg);
    free(s->root);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->mu);
    curl_global_cleanup();
    free(s);
}

/* The ledger's name: hex SHA-256 (first 16 bytes) of endpoint, bucket and prefix. */
static void s3x_ledger_id(const s3x_config *cfg, char out[33])
{
    s3x_buf b = {0};
    s3x_buf_printf(&b, "%s\n%s\n%s", cfg->base_url, cfg->bucket, cfg->prefix);
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(b.data ? b.data : "", b.len, md, &n, EVP_sha256(), NULL);
    s3x_hex(out, md, 16);
    s3x_buf_free(&b);
}

/* Queues what the trail holds that the ledger does not (oldest first). */
static int s3x_recover(s3x_sink *s, char *errbuf, size_t errlen)
{
    s3x_found *f = NULL;
    size_t n = 0, queued = 0, cleaned = 0;
    if (s3x_scan(s->root, &f, &n, errbuf, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        s3x_buf path = {0};
        s3x_buf_printf(&path, "%s/%s", s->root, f[i].key);
        if (path.oom) {
            rc = -1;
        } else if (s3x_set_has(&s->ledger.done, f[i].key)) {
            /* uploaded, but a crash came between the ledger and the unlink */
            if (s->cfg.delete_after_upload && f[i].kind == WEIR_SINK_LOG && unlink(path.data) == 0)
                cleaned++;
        } else {
            int r = s3x_enqueue(s, f[i].kind, path.data, f[i].key, NULL);
            rc = r < 0 ? -1 : 0;
            queued += r == 0;
        }
        s3x_buf_free(&path);
    }
    s3x_found_free(f, n);
    if (rc != 0) {
        snprintf(errbuf, errlen, "s3-export: out of memory while queueing the trail");
        return -1;
    }
    if (queued || cleaned)
        s3x_log(s, WEIR_PLUGIN_LOG_INFO,
                "s3-export: %zu file(s) in %s not yet uploaded to s3://%s/%s queued%s", queued,
                s->root, s->cfg.bucket, s->cfg.prefix,
                cleaned ? "; uploaded logs left by a crash deleted" : "");
    return 0;
}

static int s3x_sink_init(s3x_sink *s, const weir_plugin_host *host, const char *config_json,
                         size_t config_len, const weir_sink_trail *trail, char *errbuf,
                         size_t errlen)
{
    s->host = host;
    if (!trail || !trail->root || !*trail->root) {
        snprintf(errbuf, errlen, "s3-export: the host gave no trail root");
        return -1;
    }
    const char *base = host && host->struct_size >= offsetof(weir_plugin_host, base_dir) +
                                                        sizeof(const char *)
                           ? host->base_dir
                           : NULL;
    if (s3x_config_parse(&s->cfg, config_json, config_len, base, errbuf, errlen) != 0)
        return -1;
    s3x_creds c;
    int have = s3x_creds_get(s, &c);
    OPENSSL_cleanse(&c, sizeof c);
    if (have != 0) {
        snprintf(errbuf, errlen,
                 "s3-export: no AWS credentials: the host offers none and AWS_ACCESS_KEY_ID / "
                 "AWS_SECRET_ACCESS_KEY are not set");
        return -1;
    }
    if (!(s->root = s3x_strdup(trail->root))) {
        snprintf(errbuf, errlen, "s3-export: out of memory");
        return -1;
    }
    char id[33];
    s3x_ledger_id(&s->cfg, id);
    if (s3x_ledger_open(&s->ledger, s->root, id, errbuf, errlen) != 0)
        return -1;
    if (!(s->http = s3x_http_new(&s->cfg, &s->stop))) {
        snprintf(errbuf, errlen, "s3-export: cannot create an HTTP client (libcurl)");
        return -1;
    }
    return s3x_recover(s, errbuf, errlen);
}

static int s3x_sink_create(const weir_plugin_host *host, const char *config_json,
                           size_t config_len, const weir_sink_trail *trail, void **instance,
                           char *errbuf, size_t errlen)
{
    char scratch[2];
    if (!errbuf || !errlen)
        errbuf = scratch, errlen = sizeof scratch;
    errbuf[0] = '\0';
    *instance = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errbuf, errlen, "s3-export: libcurl cannot be initialized");
        return -1;
    }
    s3x_sink *s = calloc(1, sizeof *s);
    if (!s) {
        curl_global_cleanup();
        snprintf(errbuf, errlen, "s3-export: out of memory");
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->drained, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->stop, 0);
    s->ledger.fd = -1;
    s->rng = (uint64_t)s3x_now_ms() * 2654435761u ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)s;
    if (!s->rng)
        s->rng = 1;
    if (s3x_sink_init(s, host, config_json, config_len, trail, errbuf, errlen) != 0) {
        s3x_sink_free(s);
        return -1;
    }
    size_t queued = s->pending;
    if (pthread_create(&s->worker, NULL, s3x_worker, s) != 0) {
        snprintf(errbuf, errlen, "s3-export: cannot start the upload thread");
        s3x_sink_free(s);
        return -1;
    }
    s->worker_started = 1;
    s3x_log(s, WEIR_PLUGIN_LOG_INFO, "s3-export: shipping %s to %s%s/%s (region %s), %zu queued",
            s->root, s->cfg.base_url, s->cfg.path_base, s->cfg.prefix, s->cfg.region, queued);
    *instance = s;
    return 0;
}

static int s3x_sink_file(void *instance, const weir_sink_file *file)
{
    s3x_sink *s = instance;
    if (!file || file->struct_size < offsetof(weir_sink_file, key) + sizeof(const char *) ||
        !file->path || !file->key || !s3x_key_ok(file->key) ||
        (file->kind != WEIR_SINK_LOG && file->kind != WEIR_SINK_DIGEST)) {
        s3x_log(s, WEIR_PLUGIN_LOG_WARN, "s3-export: a file with no valid key or kind refused");
        return -1;
    }
    const char *sig = NULL;
    if (file->kind == WEIR_SINK_DIGEST &&
        file->struct_size >= offsetof(weir_sink_file, signature) + sizeof(const char *))
        sig = file->signature;
    pthread_mutex_lock(&s->mu); /* the worker holds it only for list work, never for I/O */
    int r = s3x_enqueue(s, (int)file->kind, file->path, file->key, sig);
    if (r == 0)
        pthread_cond_signal(&s->wake); /* the worker publishes the gauges */
    pthread_mutex_unlock(&s->mu);
    return r < 0 ? -1 : 0;
}

static int s3x_sink_flush(void *instance, unsigned timeout_ms)
{
    s3x_sink *s = instance;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000);
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (s->head && !atomic_load(&s->stop)) {
        if (pthread_cond_timedwait(&s->drained, &s->mu, &deadline) == ETIMEDOUT)
            break;
    }
    int rc = s->head ? 1 : 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void s3x_sink_destroy(void *instance)
{
    s3x_sink_free(instance);
}

static const weir_plugin s3x_plugin = {
    .abi_major = WEIR_PLUGIN_ABI_MAJOR,
    .struct_size = sizeof(weir_plugin),
    .abi_minor = WEIR_PLUGIN_ABI_MINOR,
    .kind = WEIR_PLUGIN_AUDIT_SINK,
    .name = "s3-export",
    .version = "0.1.0",
    .sink_create = s3x_sink_create,
    .sink_file = s3x_sink_file,
    .sink_flush = s3x_sink_flush,
    .sink_destroy = s3x_sink_destroy,
    .sink_record = NULL,
};

WEIR_PLUGIN_DEFINE(s3x_plugin)
