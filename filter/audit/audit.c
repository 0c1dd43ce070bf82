/*
 * audit.c - the audit trail: journal (group commit), log-file rolls, digests, recovery.
 *
 * Every record is appended to journal/journal.jsonl first. SYNC: the caller returns once
 * an fdatasync covers its line; concurrent callers share one fdatasync (group commit).
 * BATCH: a background thread syncs at most batch_ms after the first unsynced write.
 * A roll is cut under the lock (the journal is renamed to journal/roll-{stamp}-{rnd}.jsonl
 * and a fresh journal takes new records); the roller thread then compresses it into the
 * log file of the same stamp and rnd (temp, fsync, rename, fsync dir) without the lock and
 * only then removes it. Digests are written by the roller too. See docs/audit.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/writer.h"
#include "plugin/loader.h"

/* ------------------------------------------------------------------ helpers */

static int pwrite_all(int fd, const char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int pread_all(int fd, char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static void mono_now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static void note_time(char *newest, char *oldest, const char *t)
{
    if (!newest[0] || strcmp(t, newest) > 0)
        snprintf(newest, WR_AUDIT_TIME_LEN + 1, "%s", t);
    if (!oldest[0] || strcmp(t, oldest) < 0)
        snprintf(oldest, WR_AUDIT_TIME_LEN + 1, "%s", t);
}

static int fail_set(weir_audit *a, weir_error *err, int code, const char *path, const char *fmt,
                    ...) WR_PRINTF(5, 6);

static int fail_set(weir_audit *a, weir_error *err, int code, const char *path, const char *fmt,
                    ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    wr_error_set(&a->last_err, code, path, 0, 0, "%s", text);
    if (err)
        *err = a->last_err;
    atomic_store(&a->healthy, 0);
    return code;
}

static void wait_idle(weir_audit *a)
{
    while (a->syncing)
        pthread_cond_wait(&a->synced_cv, &a->mu);
}

/* ------------------------------------------------------------------ log files */

#define ROLL_NAME_LEN 42 /* "roll-" stamp(14) "-" rnd(16) ".jsonl" */

/* The log file for `stamp` ("YYYYMMDDTHHMMZ") and `rnd`: its directory relative to the root,
 * that directory's absolute path and the file's name. 0 or WEIR_ENOMEM. */
static int log_names(const weir_audit *a, const char *stamp, const char *rnd, wr_buf *rel,
                     wr_buf *abs, wr_buf *name)
{
    wr_buf_init(rel);
    wr_buf_init(abs);
    wr_buf_init(name);
    wr_buf_printf(rel, "AWSLogs/%s/CloudTrail/%s/%.4s/%.2s/%.2s", a->account, a->region, stamp,
                  stamp + 4, stamp + 6);
    wr_buf_printf(abs, "%s/%s", a->dir, rel->data ? rel->data : "");
    wr_buf_printf(name, "%s_CloudTrail_%s_%s_%s.json.gz", a->account, a->region, stamp, rnd);
    return rel->oom || abs->oom || name->oom ? WEIR_ENOMEM : 0;
}

/*
 * Writes `lines` (complete journal lines, len > 0) as the log file named by stamp and rnd.
 * Touches no shared state (runs without the lock). New `*obj` (path relative to the root),
 * caller frees; `hash` the SHA-256 of the uncompressed bytes.
 */
static int write_log(const weir_audit *a, const char *stamp, const char *rnd, const char *lines,
                     size_t len, char **obj, char hash[65], weir_error *err)
{
    wr_buf rel, abs, name, o;
    wr_buf_init(&o);
    char *env = wr_malloc(len + 14);
    int rc = log_names(a, stamp, rnd, &rel, &abs, &name), e;
    if (rc != 0 || !env) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    /* {"Records":[l1,l2,...]}: each line's '\n' becomes ',' and the last "]}" */
    memcpy(env, "{\"Records\":[", 12);
    memcpy(env + 12, lines, len);
    for (size_t i = 12; i < 12 + len - 1; i++)
        if (env[i] == '\n')
            env[i] = ',';
    memcpy(env + 12 + len - 1, "]}", 3);
    size_t elen = len + 13;
    if ((e = wr_audit_mkdirs(a->dir, rel.data)) != 0) {
        rc = wr_error_set(err, WEIR_EIO, abs.data, 0, 0,
                          "cannot create the audit log directory: %s", strerror(-e));
        goto done;
    }
    if ((rc = wr_audit_write_gz(abs.data, name.data, env, elen, err)) != 0)
        goto done;
    wr_audit_sha256_hex(hash, env, elen);
    wr_buf_printf(&o, "%s/%s", rel.data, name.data);
    if (o.oom) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto done;
    }
    *obj = o.data;
    o.data = NULL;
done:
    free(env);
    wr_buf_free(&o);
    wr_buf_free(&rel);
    wr_buf_free(&abs);
    wr_buf_free(&name);
    return rc;
}

/* Reports a failure met elsewhere (`we`) as the trail's. Lock held (or at open). */
static int fail_with(weir_audit *a, const weir_error *we, weir_error *err)
{
    a->last_err = *we;
    if (err)
        *err = *we;
    atomic_store(&a->healthy, 0);
    return we->code ? we->code : WEIR_EIO;
}

/* Remembers a delivered log file for the next digest. Takes `obj`. Caller owns the chain. */
static int chain_note(weir_audit *a, char *obj, const char hash[65], const char *newest,
                      const char *oldest, weir_error *err)
{
    if (!a->chain.key) {
        free(obj);
        return 0;
    }
    if (wr_chain_add_log(&a->chain, obj, hash, newest, oldest) != 0)
        return fail_set(a, err, WEIR_ENOMEM, NULL, "audit: %s", "out of memory");
    return 0;
}

/* Offers a delivered file (`obj` relative to the root) to every sink. Lock held. A sink
 * that does not take it finds it again itself (plugin.h: sinks recover on their own). */
static void offer(weir_audit *a, weir_sink_file_kind kind, const char *obj, const char *sig)
{
    if (!a->nsinks || !obj)
        return;
    wr_buf path;
    wr_buf_init(&path);
    wr_buf_printf(&path, "%s/%s", a->dir, obj);
    if (path.oom) {
        wr_buf_free(&path);
        return;
    }
    weir_sink_file f = {sizeof f, kind, path.data, obj, kind == WEIR_SINK_DIGEST ? sig : NULL,
                        kind == WEIR_SINK_DIGEST ? "SHA256withRSA" : NULL};
    for (size_t i = 0; i < a->nsinks; i++)
        wr_psink_file(a->sinks[i], &f);
    wr_buf_free(&path);
}

static void roll_path(wr_buf *b, const weir_audit *a, const char *stamp, const char *rnd)
{
    wr_buf_init(b);
    wr_buf_printf(b, "%s/roll-%s-%s.jsonl", a->journal_dir, stamp, rnd);
}

/* ------------------------------------------------------------------ rolls */

/*
 * Delivers the journal being rolled into its log file, removes it and hands the log to the
 * digest chain. Lock held and !rbusy; with `unlock`, the lock is released while working.
 * The log file's name is fixed when the journal is cut, so a retry (or a recovery after a
 * crash) rewrites the same file instead of making a second copy.
 */
static int roll_pending(weir_audit *a, int unlock, weir_error *err)
{
    int fd = a->rfd, dirty = a->rdirty;
    size_t n = a->rlen;
    char stamp[16], rnd[17], newest[WR_AUDIT_TIME_LEN + 1], oldest[WR_AUDIT_TIME_LEN + 1];
    memcpy(stamp, a->rstamp, sizeof stamp);
    memcpy(rnd, a->rrnd, sizeof rnd);
    memcpy(newest, a->rnewest, sizeof newest);
    memcpy(oldest, a->roldest, sizeof oldest);
    a->rbusy = 1;
    if (unlock)
        pthread_mutex_unlock(&a->mu);

    weir_error we = {0};
    char *obj = NULL, hash[65];
    wr_buf rp;
    roll_path(&rp, a, stamp, rnd);
    char *buf = n ? wr_malloc(n) : NULL;
    int rc = 0, e;
    if (rp.oom || (n && !buf)) {
        rc = wr_error_set(&we, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
    } else if (dirty && fdatasync(fd) != 0) {
        rc = wr_error_set(&we, WEIR_EIO, rp.data, 0, 0, "cannot fsync the audit journal: %s",
                          strerror(errno));
    } else if (n && (e = pread_all(fd, buf, n, 0)) != 0) {
        rc = wr_error_set(&we, WEIR_EIO, rp.data, 0, 0, "cannot read the audit journal: %s",
                          strerror(-e));
    } else if (n && (rc = write_log(a, stamp, rnd, buf, n, &obj, hash, &we)) != 0) {
        /* we is set */
    } else if (unlink(rp.data) != 0 && errno != ENOENT) {
        rc = wr_error_set(&we, WEIR_EIO, rp.data, 0, 0, "cannot remove the rolled journal: %s",
                          strerror(errno));
    } else if ((e = wr_audit_fsync_dir(a->journal_dir)) != 0 && e != -ENOENT) {
        rc = wr_error_set(&we, WEIR_EIO, a->journal_dir, 0, 0,
                          "cannot fsync the audit journal directory: %s", strerror(-e));
    }
    free(buf);
    wr_buf_free(&rp);

    if (unlock)
        pthread_mutex_lock(&a->mu);
    a->rbusy = 0;
    if (rc == 0) {
        close(a->rfd);
        a->rfd = -1;
        a->rlen = 0;
        a->rdirty = a->rfailed = 0;
        a->rolls_done++;
        offer(a, WEIR_SINK_LOG, obj, NULL);
        /* added only once the rolled journal is gone: a digest never lists a log twice */
        if (obj)
            rc = chain_note(a, obj, hash, newest, oldest, err);
    } else {
        free(obj);
        a->rfailed = 1;
        fail_with(a, &we, err);
    }
    pthread_cond_broadcast(&a->roll_cv);
    return rc;
}

/* A sync failed: report it; `drop` (SYNC) removes the unsynced lines. Lock held. */
static void sync_failed(weir_audit *a, int e, int gone, int drop)
{
    if (gone)
        fail_set(a, NULL, WEIR_EIO, a->journal_path, "%s",
                 "the audit journal was removed (is the trail directory gone?)");
    else
        fail_set(a, NULL, WEIR_EIO, a->journal_path, "cannot fsync the audit journal: %s",
                 strerror(e));
    if (drop) {
        if (ftruncate(a->jfd, (off_t)(a->synced - a->jbase)) != 0)
            a->torn = 1;
        a->written = a->synced;
        a->fail_gen++;
    } else {
        a->bg_failed = 1;
    }
    pthread_cond_broadcast(&a->synced_cv);
}

/*
 * Starts a roll: the journal's file becomes journal/roll-{stamp}-{rnd}.jsonl (delivered by
 * roll_pending) and a fresh journal takes new records. Quick: a rename, a create, a
 * directory fsync (and in SYNC mode an fdatasync of lines still waiting for their group
 * commit). Lock held, no roll pending, journal open and clean.
 */
static int cut(weir_audit *a, weir_error *err)
{
    wait_idle(a);
    size_t n = (size_t)(a->written - a->jbase);
    if (n == 0 || a->jfd < 0 || a->rfd >= 0)
        return 0;
    int dirty = a->synced < a->written;
    if (dirty && a->durability == WEIR_AUDIT_SYNC) {
        if (fdatasync(a->jfd) != 0) {
            sync_failed(a, errno, 0, 1);
            if (err)
                *err = a->last_err;
            return WEIR_EIO;
        }
        dirty = 0;
    }
    time_t now = wr_audit_now();
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[16], rnd[17];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%MZ", &tm);
    if (wr_audit_random_name(rnd) != 0)
        return fail_set(a, err, WEIR_EINTERNAL, NULL, "audit: %s", "RAND_bytes failed");
    wr_buf rp;
    roll_path(&rp, a, stamp, rnd);
    if (rp.oom) {
        wr_buf_free(&rp);
        return fail_set(a, err, WEIR_ENOMEM, NULL, "audit: %s", "out of memory");
    }
    if (rename(a->journal_path, rp.data) != 0) {
        int en = errno;
        wr_buf_free(&rp);
        return fail_set(a, err, WEIR_EIO, a->journal_path, "cannot rename the audit journal: %s",
                        strerror(en));
    }
    wr_buf_free(&rp);
    a->rfd = a->jfd;
    a->rlen = n;
    memcpy(a->rstamp, stamp, sizeof stamp);
    memcpy(a->rrnd, rnd, sizeof rnd);
    memcpy(a->rnewest, a->newest, sizeof a->rnewest);
    memcpy(a->roldest, a->oldest, sizeof a->roldest);
    a->rdirty = dirty;
    a->rfailed = 0;
    a->jbase = a->written;
    a->synced = a->written;
    a->jfirst = 0;
    a->newest[0] = a->oldest[0] = '\0';
    a->jdir_dirty = 1;
    pthread_cond_broadcast(&a->synced_cv);
    pthread_cond_broadcast(&a->roll_cv);
    /* the lines are safe under the new name; a journal that cannot be created now is
     * created by the next call (a->jfd < 0) */
    a->jfd = open(a->journal_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (a->jfd < 0)
        return fail_set(a, err, WEIR_EIO, a->journal_path, "cannot create the audit journal: %s",
                        strerror(errno));
    (void)flock(a->jfd, LOCK_EX | LOCK_NB); /* the directory's lock is the one that counts */
    int e = wr_audit_fsync_dir(a->journal_dir);
    if (e != 0)
        return fail_set(a, err, WEIR_EIO, a->journal_dir,
                        "cannot fsync the audit journal directory: %s", strerror(-e));
    a->jdir_dirty = 0;
    return 0;
}

/* Delivers everything in the journals now, in this thread. Lock held. */
static int settle(weir_audit *a, weir_error *err)
{
    while (a->rbusy)
        pthread_cond_wait(&a->roll_cv, &a->mu);
    int rc;
    if (a->rfd >= 0 && (rc = roll_pending(a, 0, err)) != 0)
        return rc;
    if (a->written > a->jbase) {
        if ((rc = cut(a, err)) != 0 && a->rfd < 0)
            return rc;
        if (a->rfd >= 0 && (rc = roll_pending(a, 0, err)) != 0)
            return rc;
        return rc;
    }
    return 0;
}

static int digest_due(weir_audit *a, time_t now)
{
    return a->chain.key &&
           (a->dfailed || now - a->digest_start >= (time_t)a->digest_seconds);
}

/* Writes the digest for (previous end, now]. Caller owns the chain; with `unlock`, the lock
 * is released while signing and writing. */
static int write_digest(weir_audit *a, time_t now, int unlock, weir_error *err)
{
    weir_error we = {0};
    a->rbusy = 1;
    if (unlock)
        pthread_mutex_unlock(&a->mu);
    int rc = wr_chain_write(&a->chain, a->dir, a->account, a->region, a->trail, a->bucket, now,
                            &we);
    if (unlock)
        pthread_mutex_lock(&a->mu);
    a->rbusy = 0;
    a->digest_start = a->chain.start;
    a->dfailed = a->chain.failed;
    if (rc != 0)
        fail_with(a, &we, err);
    else
        offer(a, WEIR_SINK_DIGEST, a->chain.prev_object, a->chain.prev_sig);
    pthread_cond_broadcast(&a->roll_cv);
    return rc;
}

/* A digest covers every log delivered up to its end: roll first. Lock held. */
static int digest_now(weir_audit *a, weir_error *err)
{
    int rc = settle(a, err);
    if (rc == 0)
        rc = write_digest(a, wr_audit_now(), 0, err);
    return rc;
}

#define MAINTAIN_AGAIN 1 /* waited for the roller: the caller re-checks the journal */

/*
 * Starts rolls that are due and retries background failures. The roll itself runs on the
 * roller thread; a roll due while another is in progress waits for it (the journal never
 * holds more than two rolls' worth). `incoming`: bytes about to be appended. Lock held.
 * 0, MAINTAIN_AGAIN, or an error.
 */
static int maintain(weir_audit *a, size_t incoming, weir_error *err)
{
    if (!a->roller_on)
        return 0;
    time_t now = wr_audit_now();
    int rc;
    if (a->rfd >= 0 && a->rfailed && !a->rbusy && (rc = roll_pending(a, 0, err)) != 0)
        return rc;
    if (a->dfailed && !a->rbusy && (rc = digest_now(a, err)) != 0)
        return rc;
    size_t have = (size_t)(a->written - a->jbase);
    int by_time = have > 0 && now - a->jfirst >= (time_t)a->roll_seconds;
    if (have > 0 && (by_time || have + incoming > a->roll_bytes)) {
        if (a->rfd >= 0) {
            pthread_cond_wait(&a->roll_cv, &a->mu); /* backpressure */
            return MAINTAIN_AGAIN;
        }
        if ((rc = cut(a, err)) != 0)
            return rc;
        pthread_cond_broadcast(&a->roll_cv);
        if (by_time && a->rfd >= 0) {
            /* rare (the roller rolls idle trails on time): deliver before this record */
            uint64_t want = a->rolls_done + 1;
            while (a->rolls_done < want && !a->rfailed)
                pthread_cond_wait(&a->roll_cv, &a->mu);
        }
        return MAINTAIN_AGAIN; /* cut may have waited: others may have appended */
    }
    if (digest_due(a, now))
        pthread_cond_broadcast(&a->roll_cv);
    return 0;
}

/* ------------------------------------------------------------------ the journal */

/* Length of the complete lines at the start of buf. */
static size_t complete_len(const char *buf, size_t len)
{
    while (len > 0 && buf[len - 1] != '\n')
        len--;
    return len;
}

/* Locks the trail: flock on the journal directory (kept when it is the one already held). */
static int journal_lock(weir_audit *a, weir_error *err)
{
    struct stat st, held;
    errno = 0;
    if (stat(a->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail_set(a, err, WEIR_EIO, a->dir,
                        "the audit trail directory is missing (%s): recreate it",
                        strerror(errno ? errno : ENOTDIR));
    int e = wr_audit_mkdirs(a->dir, "journal");
    if (e != 0)
        return fail_set(a, err, WEIR_EIO, a->journal_dir,
                        "cannot create the audit journal directory: %s", strerror(-e));
    int fd = open(a->journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_set(a, err, WEIR_EIO, a->journal_dir,
                        "cannot open the audit journal directory: %s", strerror(errno));
    if (a->lockfd >= 0 && fstat(fd, &st) == 0 && fstat(a->lockfd, &held) == 0 &&
        st.st_dev == held.st_dev && st.st_ino == held.st_ino) {
        close(fd);
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int en = errno;
        close(fd);
        return fail_set(a, err, WEIR_EIO, a->journal_path, "%s",
                        en == EWOULDBLOCK ? "the audit trail is in use by another writer"
                                          : strerror(en));
    }
    if (a->lockfd >= 0)
        close(a->lockfd);
    a->lockfd = fd;
    return 0;
}

/*
 * Opens (creating) the journal after taking the trail's lock. Lock held (or at open). A
 * non-empty journal found here is kept: its complete lines join the next roll.
 */
static int journal_open(weir_audit *a, weir_error *err)
{
    int rc = journal_lock(a, err);
    if (rc != 0)
        return rc;
    int fd = open(a->journal_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return fail_set(a, err, WEIR_EIO, a->journal_path, "cannot open the audit journal: %s",
                        strerror(errno));
    /* the journal file is locked too: tools that hold it keep writers out */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int en = errno;
        close(fd);
        return fail_set(a, err, WEIR_EIO, a->journal_path, "%s",
                        en == EWOULDBLOCK ? "the audit trail is in use by another writer"
                                          : strerror(en));
    }
    int e = wr_audit_fsync_dir(a->journal_dir);
    if (e != 0) {
        close(fd);
        return fail_set(a, err, WEIR_EIO, a->journal_dir,
                        "cannot fsync the audit journal directory: %s", strerror(-e));
    }
    a->jfd = fd;
    a->jdir_dirty = 0;
    return 0;
}

/* Reopens a journal that was removed or could not be created, copying back the records the
 * old (unlinked) file still holds. Lock held. */
static int journal_reopen(weir_audit *a, weir_error *err)
{
    int rc = journal_open(a, err);
    if (rc != 0)
        return rc;
    /* keep what a new journal holds (complete lines only) */
    off_t size = lseek(a->jfd, 0, SEEK_END);
    size_t keep = 0;
    if (size > 0) {
        char *b = wr_malloc((size_t)size);
        if (!b || pread_all(a->jfd, b, (size_t)size, 0) != 0) {
            free(b);
            close(a->jfd);
            a->jfd = -1;
            return fail_set(a, err, WEIR_EIO, a->journal_path, "%s",
                            "cannot read the audit journal");
        }
        keep = complete_len(b, (size_t)size);
        free(b);
    }
    if (a->orphan_fd >= 0 && a->orphan_len > 0) {
        char *b = wr_malloc(a->orphan_len);
        int e = b ? pread_all(a->orphan_fd, b, a->orphan_len, 0) : -ENOMEM;
        if (e == 0)
            e = pwrite_all(a->jfd, b, a->orphan_len, (off_t)keep);
        free(b);
        if (e != 0) {
            a->torn = 1;
            if (ftruncate(a->jfd, (off_t)keep) == 0)
                a->torn = 0;
            close(a->jfd);
            a->jfd = -1;
            return fail_set(a, err, WEIR_EIO, a->journal_path,
                            "cannot copy records into the recreated audit journal: %s",
                            strerror(-e));
        }
    }
    if (ftruncate(a->jfd, (off_t)(keep + a->orphan_len)) != 0 || fdatasync(a->jfd) != 0) {
        close(a->jfd);
        a->jfd = -1;
        return fail_set(a, err, WEIR_EIO, a->journal_path,
                        "cannot sync the recreated audit journal: %s", strerror(errno));
    }
    if (a->orphan_fd >= 0)
        close(a->orphan_fd);
    a->orphan_fd = -1;
    a->jbase = a->written - (keep + a->orphan_len);
    a->orphan_len = 0;
    a->synced = a->written;
    a->torn = 0;
    if (a->written > a->jbase && !a->jfirst)
        a->jfirst = wr_audit_now();
    return 0;
}

/*
 * Makes the journal writable again after a failure: reopens it when it was removed, drops a
 * torn tail, retries a failed background sync, then starts rolls that are due. Lock held.
 */
static int prepare(weir_audit *a, size_t incoming, weir_error *err)
{
    for (;;) {
        struct stat st;
        if (a->jfd >= 0 && fstat(a->jfd, &st) == 0 && st.st_nlink == 0) {
            wait_idle(a);
            a->orphan_fd = a->jfd;
            a->orphan_len = (size_t)(a->written - a->jbase);
            a->jfd = -1;
        }
        int rc;
        if (a->jfd < 0) {
            wait_idle(a);
            if ((rc = journal_reopen(a, err)) != 0)
                return rc;
        }
        if (a->jdir_dirty) {
            int e = wr_audit_fsync_dir(a->journal_dir);
            if (e != 0)
                return fail_set(a, err, WEIR_EIO, a->journal_dir,
                                "cannot fsync the audit journal directory: %s", strerror(-e));
            a->jdir_dirty = 0;
        }
        if (a->torn) {
            wait_idle(a);
            if (ftruncate(a->jfd, (off_t)(a->written - a->jbase)) != 0)
                return fail_set(a, err, WEIR_EIO, a->journal_path,
                                "cannot truncate the audit journal: %s", strerror(errno));
            a->torn = 0;
        }
        if (a->bg_failed) {
            wait_idle(a);
            if (fdatasync(a->jfd) != 0)
                return fail_set(a, err, WEIR_EIO, a->journal_path,
                                "cannot fsync the audit journal: %s", strerror(errno));
            a->synced = a->written;
            a->bg_failed = 0;
        }
        rc = maintain(a, incoming, err);
        if (rc != MAINTAIN_AGAIN)
            return rc;
    }
}

/*
 * Waits until an fdatasync covers `target` (group commit: one thread syncs for all).
 * `drop`: on failure, unsynced records are removed (SYNC: nobody was told they are written).
 * Lock held; released during fdatasync.
 */
static int sync_to(weir_audit *a, uint64_t target, int drop, weir_error *err)
{
    uint64_t gen = a->fail_gen;
    while (a->synced < target) {
        if (a->fail_gen != gen) {
            if (err)
                *err = a->last_err;
            return WEIR_EIO;
        }
        if (a->syncing) {
            pthread_cond_wait(&a->synced_cv, &a->mu);
            continue;
        }
        a->syncing = 1;
        uint64_t goal = a->written;
        int fd = a->jfd;
        pthread_mutex_unlock(&a->mu);
        int e = fdatasync(fd) != 0 ? errno : 0;
        struct stat st;
        int gone = !e && fstat(fd, &st) == 0 && st.st_nlink == 0;
        pthread_mutex_lock(&a->mu);
        a->syncing = 0;
        if (!e && !gone) {
            if (goal > a->synced)
                a->synced = goal;
            pthread_cond_broadcast(&a->synced_cv);
            continue;
        }
        sync_failed(a, e, gone, drop);
        if (err)
            *err = a->last_err;
        return WEIR_EIO;
    }
    return 0;
}

static int append(weir_audit *a, const char *line, size_t n, const char *event_time,
                  weir_error *err)
{
    pthread_mutex_lock(&a->mu);
    int rc = prepare(a, n, err);
    if (rc != 0)
        goto done;
    off_t off = (off_t)(a->written - a->jbase);
    int e = pwrite_all(a->jfd, line, n, off);
    if (e != 0) {
        a->torn = 1;
        if (ftruncate(a->jfd, off) == 0)
            a->torn = 0;
        rc = fail_set(a, err, WEIR_EIO, a->journal_path, "cannot write the audit journal: %s",
                      strerror(-e));
        goto done;
    }
    int was_clean = a->synced == a->written;
    a->written += n;
    if (!a->jfirst)
        a->jfirst = wr_audit_now();
    note_time(a->newest, a->oldest, event_time);
    for (size_t i = 0; i < a->nsinks; i++)
        wr_psink_record(a->sinks[i], line, n && line[n - 1] == '\n' ? n - 1 : n);
    if (a->jsonl_fd >= 0) {
        /* a copy for log shippers: its failure does not fail the record */
        const char *p = line;
        size_t left = n;
        while (left > 0) {
            ssize_t w = write(a->jsonl_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
    if (a->durability == WEIR_AUDIT_SYNC) {
        rc = sync_to(a, a->written, 1, err);
    } else if (was_clean) {
        mono_now(&a->dirty_since);
        pthread_cond_signal(&a->tick_cv);
    }
done:
    if (rc == 0)
        atomic_store(&a->healthy, 1);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ------------------------------------------------------------------ background threads */

/* BATCH: syncs the journal at most batch_ms after the first unsynced write. */
static void *ticker(void *arg)
{
    weir_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec now, dl;
        mono_now(&now);
        int dirty = a->durability == WEIR_AUDIT_BATCH && a->written > a->synced && a->jfd >= 0;
        if (dirty) {
            dl = a->dirty_since;
            dl.tv_nsec += (long)(a->batch_ms % 1000) * 1000000L;
            dl.tv_sec += a->batch_ms / 1000 + dl.tv_nsec / 1000000000L;
            dl.tv_nsec %= 1000000000L;
        } else {
            dl = now;
            dl.tv_nsec += 250000000L;
            dl.tv_sec += dl.tv_nsec / 1000000000L;
            dl.tv_nsec %= 1000000000L;
        }
        if (now.tv_sec < dl.tv_sec || (now.tv_sec == dl.tv_sec && now.tv_nsec < dl.tv_nsec))
            pthread_cond_timedwait(&a->tick_cv, &a->mu, &dl);
        if (a->stop)
            break;
        mono_now(&now);
        dirty = a->durability == WEIR_AUDIT_BATCH && a->written > a->synced && a->jfd >= 0;
        if (dirty && (now.tv_sec > dl.tv_sec ||
                      (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec)))
            sync_to(a, a->written, 0, NULL);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* One piece of the roller's work. 1: done something, 0: nothing to do, <0: failed. */
static int roller_step(weir_audit *a)
{
    if (a->rfd >= 0)
        return roll_pending(a, 1, NULL) == 0 ? 1 : -1;
    int ok = a->jfd >= 0 && !a->torn && !a->bg_failed && a->orphan_fd < 0 && !a->jdir_dirty;
    if (!ok)
        return 0;
    time_t now = wr_audit_now();
    size_t have = (size_t)(a->written - a->jbase);
    int roll_due = have > 0 && (now - a->jfirst >= (time_t)a->roll_seconds ||
                                have > a->roll_bytes);
    if (!digest_due(a, now))
        return roll_due ? (cut(a, NULL) == 0 ? 1 : -1) : 0;
    /* a digest lists every log delivered up to its end: roll first, then sign at once */
    if (have > 0 && cut(a, NULL) != 0)
        return -1;
    if (a->rfd >= 0 && roll_pending(a, 1, NULL) != 0)
        return -1;
    return write_digest(a, wr_audit_now(), 1, NULL) == 0 ? 1 : -1;
}

/* Delivers cut journals into log files and writes digests, off the record path. */
static void *roller(void *arg)
{
    weir_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        /* failures wait for the next caller to report them (and retry) */
        if (roller_step(a) > 0)
            continue;
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_nsec += 250000000L;
        dl.tv_sec += dl.tv_nsec / 1000000000L;
        dl.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&a->roll_cv, &a->mu, &dl);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ------------------------------------------------------------------ recovery */

/* "roll-YYYYMMDDTHHMMZ-<16 alnum>.jsonl" */
static int roll_name_ok(const char *s)
{
    if (strlen(s) != ROLL_NAME_LEN || strncmp(s, "roll-", 5) != 0 ||
        strcmp(s + ROLL_NAME_LEN - 6, ".jsonl") != 0 || s[13] != 'T' || s[18] != 'Z' ||
        s[19] != '-')
        return 0;
    for (int i = 5; i < 18; i++)
        if (i != 13 && (s[i] < '0' || s[i] > '9'))
            return 0;
    for (int i = 20; i < 36; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

/* Keeps the complete lines of buf that parse as JSON objects. New length. */
static size_t keep_records(char *buf, size_t size, char *newest, char *oldest)
{
    size_t len = complete_len(buf, size), out = 0;
    for (size_t i = 0; i < len;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t ll = (size_t)(nl - (buf + i)) + 1;
        json_t *j = ll > 1 ? json_loadb(buf + i, ll - 1, 0, NULL) : NULL;
        const char *t = json_string_value(json_object_get(j, "eventTime"));
        if (json_is_object(j)) {
            if (t && wr_audit_parse_time(t) >= 0)
                note_time(newest, oldest, t);
            memmove(buf + out, buf + i, ll);
            out += ll;
        }
        json_decref(j);
        i += ll;
    }
    return out;
}

/*
 * Delivers one journal a previous run was rolling (or left behind). When its log file is
 * already there, the crash came after the rename: it is only handed to the digest chain
 * (the log's hash read back from the file). At open.
 */
static int recover_roll(weir_audit *a, const char *name, weir_error *err)
{
    char stamp[16], rnd[17];
    memcpy(stamp, name + 5, 14);
    stamp[14] = '\0';
    memcpy(rnd, name + 20, 16);
    rnd[16] = '\0';
    wr_buf rp, rel, abs, lname, lpath;
    wr_buf_init(&rp);
    wr_buf_init(&lpath);
    wr_buf_printf(&rp, "%s/%s", a->journal_dir, name);
    int rc = log_names(a, stamp, rnd, &rel, &abs, &lname);
    wr_buf_printf(&lpath, "%s/%s", abs.data ? abs.data : "", lname.data ? lname.data : "");
    char *buf = NULL, *obj = NULL, hash[65];
    char newest[WR_AUDIT_TIME_LEN + 1] = "", oldest[WR_AUDIT_TIME_LEN + 1] = "";
    weir_error we = {0};
    if (rc != 0 || rp.oom || lpath.oom) {
        rc = fail_set(a, err, WEIR_ENOMEM, NULL, "audit: %s", "out of memory");
        goto done;
    }
    int fd = open(rp.data, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = fail_set(a, err, WEIR_EIO, rp.data, "cannot read the audit journal: %s",
                      strerror(errno));
        if (fd >= 0)
            close(fd);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    buf = wr_malloc(size + 1);
    int e = buf ? pread_all(fd, buf, size, 0) : -ENOMEM;
    close(fd);
    if (e != 0) {
        rc = fail_set(a, err, WEIR_EIO, rp.data, "cannot read the audit journal: %s",
                      strerror(-e));
        goto done;
    }
    size_t out = keep_records(buf, size, newest, oldest);
    if (access(lpath.data, F_OK) == 0) {
        /* delivered before the crash: not again */
        char *plain = NULL;
        size_t plen = 0;
        if (a->chain.key) {
            if ((rc = wr_audit_read_gz(&plain, &plen, lpath.data, &we)) != 0) {
                rc = fail_with(a, &we, err);
                goto done;
            }
            wr_audit_sha256_hex(hash, plain, plen);
            free(plain);
            obj = NULL;
            wr_buf o;
            wr_buf_init(&o);
            wr_buf_printf(&o, "%s/%s", rel.data, lname.data);
            if (o.oom) {
                rc = fail_set(a, err, WEIR_ENOMEM, NULL, "audit: %s", "out of memory");
                goto done;
            }
            obj = o.data;
        }
    } else if (out > 0 && (rc = write_log(a, stamp, rnd, buf, out, &obj, hash, &we)) != 0) {
        rc = fail_with(a, &we, err);
        goto done;
    }
    if (unlink(rp.data) != 0) {
        rc = fail_set(a, err, WEIR_EIO, rp.data, "cannot remove the rolled journal: %s",
                      strerror(errno));
        goto done;
    }
    if (obj) {
        rc = chain_note(a, obj, hash, newest, oldest, err);
        obj = NULL;
    }
done:
    free(obj);
    free(buf);
    wr_buf_free(&rp);
    wr_buf_free(&lpath);
    wr_buf_free(&rel);
    wr_buf_free(&abs);
    wr_buf_free(&lname);
    return rc;
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Delivers what a previous run left: a non-empty journal becomes a rolled journal (so a
 * crash during its delivery is recognised at the next open), then every rolled journal is
 * delivered, oldest first, and a fresh journal is opened. At open, journal open and locked.
 */
static int recover(weir_audit *a, weir_error *err)
{
    struct stat st;
    if (fstat(a->jfd, &st) != 0)
        return fail_set(a, err, WEIR_EIO, a->journal_path, "cannot read the audit journal: %s",
                        strerror(errno));
    if (st.st_size > 0) {
        time_t now = wr_audit_now();
        struct tm tm;
        gmtime_r(&now, &tm);
        char stamp[16], rnd[17];
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%MZ", &tm);
        if (wr_audit_random_name(rnd) != 0)
            return fail_set(a, err, WEIR_EINTERNAL, NULL, "audit: %s", "RAND_bytes failed");
        wr_buf rp;
        roll_path(&rp, a, stamp, rnd);
        if (rp.oom || rename(a->journal_path, rp.data) != 0) {
            int en = rp.oom ? ENOMEM : errno;
            wr_buf_free(&rp);
            return fail_set(a, err, WEIR_EIO, a->journal_path,
                            "cannot rename the audit journal: %s", strerror(en));
        }
        wr_buf_free(&rp);
        close(a->jfd);
        a->jfd = -1;
        int e = wr_audit_fsync_dir(a->journal_dir);
        if (e != 0)
            return fail_set(a, err, WEIR_EIO, a->journal_dir,
                            "cannot fsync the audit journal directory: %s", strerror(-e));
    }
    DIR *d = opendir(a->journal_dir);
    if (!d)
        return fail_set(a, err, WEIR_EIO, a->journal_dir,
                        "cannot read the audit journal directory: %s", strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!roll_name_ok(de->d_name))
            continue;
        char *s = wr_strdup(de->d_name);
        char **g = s ? wr_grow(names, &cap, n + 1, sizeof *names, 8) : NULL;
        if (!g) {
            free(s);
            rc = fail_set(a, err, WEIR_ENOMEM, NULL, "audit: %s", "out of memory");
            break;
        }
        names = g;
        names[n++] = s;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = recover_roll(a, names[i], err);
        free(names[i]);
    }
    free(names);
    if (rc == 0 && n > 0) {
        int e = wr_audit_fsync_dir(a->journal_dir);
        if (e != 0)
            rc = fail_set(a, err, WEIR_EIO, a->journal_dir,
                          "cannot fsync the audit journal directory: %s", strerror(-e));
    }
    if (rc == 0 && a->jfd < 0)
        rc = journal_open(a, err);
    return rc;
}

/* ------------------------------------------------------------------ public API */

static int name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.' || *c == '_'))
            return 0;
    return 1;
}

/* Stops the background threads; rolls and digests then run in the caller. */
static void stop_threads(weir_audit *a)
{
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->tick_cv);
    pthread_cond_broadcast(&a->roll_cv);
    pthread_mutex_unlock(&a->mu);
    if (a->have_ticker)
        pthread_join(a->ticker, NULL);
    if (a->have_roller)
        pthread_join(a->roller, NULL);
    a->have_ticker = a->have_roller = 0;
    pthread_mutex_lock(&a->mu);
    a->roller_on = 0;
    pthread_mutex_unlock(&a->mu);
}

static void audit_free(weir_audit *a)
{
    if (a->jfd >= 0)
        close(a->jfd);
    if (a->orphan_fd >= 0)
        close(a->orphan_fd);
    if (a->rfd >= 0)
        close(a->rfd);
    if (a->lockfd >= 0)
        close(a->lockfd);
    wr_chain_free(&a->chain);
    if (a->hash_key) {
        wr_wipe(a->hash_key, a->hash_key_len);
        free(a->hash_key);
    }
    free(a->dir);
    free(a->account);
    free(a->region);
    free(a->trail);
    free(a->bucket);
    free(a->journal_dir);
    free(a->journal_path);
    pthread_cond_destroy(&a->roll_cv);
    pthread_cond_destroy(&a->tick_cv);
    pthread_cond_destroy(&a->synced_cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int weir_audit_open(weir_audit **out, const weir_audit_options *opt, weir_error *err)
{
    if (!out || !opt)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_open: NULL argument");
    *out = NULL;
    if (opt->version != WEIR_AUDIT_OPTIONS_VERSION)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_audit_open: options version %u, expected %u (use "
                            "WEIR_AUDIT_OPTIONS_INIT)", opt->version, WEIR_AUDIT_OPTIONS_VERSION);
    if (!opt->dir || !*opt->dir)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_open: no trail directory");
    const char *account = opt->account_id ? opt->account_id : "000000000000";
    const char *region = opt->region ? opt->region : "us-east-1";
    const char *trail = opt->trail_name ? opt->trail_name : "weir";
    const char *bucket = opt->bucket ? opt->bucket : "local";
    size_t al = strlen(account);
    int acct_ok = al == 12;
    for (size_t i = 0; i < al && acct_ok; i++)
        acct_ok = account[i] >= '0' && account[i] <= '9';
    if (!acct_ok)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "audit account id \"%.40s\" is not 12 digits", account);
    if (!name_ok(region) || !name_ok(trail) || !name_ok(bucket))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "audit region, trail and bucket names may only use letters, digits, "
                            "'-', '.' and '_'");
    if (opt->durability != WEIR_AUDIT_SYNC && opt->durability != WEIR_AUDIT_BATCH)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "audit durability must be sync or batch");
    if ((opt->hash_key && opt->hash_key_len < 16) || (!opt->hash_key && opt->hash_key_len))
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "the audit hash key must be at least 16 bytes");

    weir_audit *a = wr_calloc(1, sizeof *a);
    if (!a)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->synced_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->tick_cv, &ca);
    pthread_cond_init(&a->roll_cv, &ca);
    pthread_condattr_destroy(&ca);
    a->jfd = a->orphan_fd = a->rfd = a->lockfd = -1;
    a->jsonl_fd = opt->jsonl_fd;
    atomic_init(&a->healthy, 1);
    a->durability = opt->durability;
    a->batch_ms = opt->batch_ms ? opt->batch_ms : 100;
    a->roll_seconds = opt->roll_seconds ? opt->roll_seconds : 300;
    a->roll_bytes = opt->roll_bytes ? opt->roll_bytes : (size_t)16 * 1024 * 1024;
    a->digest_seconds = opt->digest_seconds ? opt->digest_seconds : 3600;
    size_t dl = strlen(opt->dir);
    while (dl > 1 && opt->dir[dl - 1] == '/')
        dl--;
    a->dir = wr_strndup(opt->dir, dl);
    a->account = wr_strdup(account);
    a->region = wr_strdup(region);
    a->trail = wr_strdup(trail);
    a->bucket = wr_strdup(bucket);
    wr_buf jd, jp;
    wr_buf_init(&jd);
    wr_buf_init(&jp);
    wr_buf_printf(&jd, "%.*s/journal", (int)dl, opt->dir);
    wr_buf_printf(&jp, "%.*s/journal/journal.jsonl", (int)dl, opt->dir);
    a->journal_dir = jd.data;
    a->journal_path = jp.data;
    int rc = 0;
    if (opt->hash_key) {
        a->hash_key = wr_malloc(opt->hash_key_len);
        if (a->hash_key) {
            memcpy(a->hash_key, opt->hash_key, opt->hash_key_len);
            a->hash_key_len = opt->hash_key_len;
        }
    }
    if (!a->dir || !a->account || !a->region || !a->trail || !a->bucket || jd.oom || jp.oom ||
        (opt->hash_key && !a->hash_key)) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
        goto fail;
    }
    /* the root is created at open only: later, a missing root is an error, not recreated */
    char *slash = a->dir;
    while ((slash = strchr(slash + 1, '/')) != NULL) {
        *slash = '\0';
        mkdir(a->dir, 0750);
        *slash = '/';
    }
    if (mkdir(a->dir, 0750) != 0 && errno != EEXIST) {
        rc = wr_error_set(err, WEIR_EIO, a->dir, 0, 0, "cannot create the audit trail directory: %s",
                          strerror(errno));
        goto fail;
    }
    if (opt->signing_key_file &&
        (rc = wr_chain_load_key(&a->chain, opt->signing_key_file, err)) != 0)
        goto fail;
    if ((rc = journal_open(a, err)) != 0)
        goto fail;
    time_t now = wr_audit_now();
    if (a->chain.key &&
        (rc = wr_chain_resume(&a->chain, a->dir, a->account, a->region, a->trail, now, err)) != 0)
        goto fail;
    if ((rc = recover(a, err)) != 0)
        goto fail;
    a->digest_start = a->chain.start;
    a->dfailed = a->chain.failed;
    a->roller_on = 1;
    if (pthread_create(&a->ticker, NULL, ticker, a) != 0) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: cannot start the writer thread");
        goto fail;
    }
    a->have_ticker = 1;
    if (pthread_create(&a->roller, NULL, roller, a) != 0) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: cannot start the roller thread");
        goto fail;
    }
    a->have_roller = 1;
    *out = a;
    return 0;
fail:
    stop_threads(a);
    audit_free(a);
    return rc;
}

static int check_event(const weir_audit_event *ev, weir_error *err)
{
    if (ev->version != WEIR_AUDIT_EVENT_VERSION)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_audit_event version %u, expected %u (use WEIR_AUDIT_EVENT_INIT)",
                            ev->version, WEIR_AUDIT_EVENT_VERSION);
    return 0;
}

static wr_record_cfg record_cfg(const weir_audit *a)
{
    wr_record_cfg c = {a->account, a->region, a->hash_key, a->hash_key_len};
    return c;
}

int weir_audit_record(weir_audit *a, const weir_audit_event *ev, const weir_result *result,
                      const char *text, size_t len, weir_error *err)
{
    if (!a || !ev)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_record: NULL argument");
    int rc = check_event(ev, err);
    if (rc)
        return rc;
    wr_record_cfg cfg = record_cfg(a);
    char *line = NULL;
    size_t n = 0;
    char t[WR_AUDIT_TIME_LEN + 1];
    rc = wr_audit_build_record(&line, &n, t, &cfg, ev, result, text, len, 0, NULL, err);
    if (rc == 0)
        rc = append(a, line, n, t, err);
    free(line);
    return rc;
}

int weir_audit_record_call(weir_audit *a, const weir_audit_event *ev, const weir_result *prompt,
                           const char *prompt_text, size_t prompt_len,
                           const weir_result *completion, const char *completion_text,
                           size_t completion_len, weir_error *err)
{
    if (!a || !ev)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_record_call: NULL argument");
    int rc = check_event(ev, err);
    if (rc)
        return rc;
    wr_record_cfg cfg = record_cfg(a);
    wr_record_part pp = {prompt, prompt_text, prompt_len};
    wr_record_part cp = {completion, completion_text, completion_len};
    char *line = NULL;
    size_t n = 0;
    char t[WR_AUDIT_TIME_LEN + 1];
    rc = wr_audit_build_call(&line, &n, t, &cfg, ev, prompt ? &pp : NULL,
                             completion ? &cp : NULL, 0, NULL, err);
    if (rc == 0)
        rc = append(a, line, n, t, err);
    free(line);
    return rc;
}

int weir_audit_record_gate(weir_audit *a, const char *event_name, const char *message,
                           const weir_policy *policy, weir_error *err)
{
    if (!a || !event_name)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_record_gate: NULL argument");
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = event_name;
    ev.error_message = message;
    wr_record_cfg cfg = record_cfg(a);
    char *line = NULL;
    size_t n = 0;
    char t[WR_AUDIT_TIME_LEN + 1];
    int rc = wr_audit_build_record(&line, &n, t, &cfg, &ev, NULL, NULL, 0, 1, policy, err);
    if (rc == 0)
        rc = append(a, line, n, t, err);
    free(line);
    return rc;
}

int weir_audit_flush(weir_audit *a, weir_error *err)
{
    if (!a)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_flush: NULL argument");
    pthread_mutex_lock(&a->mu);
    int rc = prepare(a, 0, err);
    if (rc == 0)
        rc = settle(a, err);
    if (rc == 0 && digest_due(a, wr_audit_now()))
        rc = write_digest(a, wr_audit_now(), 0, err);
    if (rc == 0)
        atomic_store(&a->healthy, 1);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int weir_audit_healthy(const weir_audit *a)
{
    return a ? atomic_load(&((weir_audit *)a)->healthy) : 0;
}

void weir_audit_close(weir_audit *a)
{
    if (!a)
        return;
    stop_threads(a);
    pthread_mutex_lock(&a->mu);
    /* best effort: what cannot be delivered now stays in the journal for the next open */
    if (prepare(a, 0, NULL) == 0 && settle(a, NULL) == 0 && a->chain.key)
        write_digest(a, wr_audit_now(), 0, NULL);
    pthread_mutex_unlock(&a->mu);
    /* the final digest was just offered: sinks get as long again as the caller last gave
     * weir_audit_flush_sinks (an ephemeral disk would lose it otherwise); then they stop,
     * and what they have not delivered they find on disk when they start again */
    for (size_t i = 0; i < a->nsinks; i++)
        wr_psink_flush(a->sinks[i], a->sink_close_ms);
    for (size_t i = 0; i < a->nsinks; i++)
        wr_psink_free(a->sinks[i]);
    free(a->sinks);
    a->sinks = NULL;
    a->nsinks = 0;
    audit_free(a);
}

int weir_audit_add_sink(weir_audit *a, const char *plugin, const char *config_json,
                        const char *base_dir, const weir_plugin_host *services, weir_error *err)
{
    if (!a || !plugin)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                            "weir_audit_add_sink: the trail and the plugin are required");
    weir_sink_trail t = {sizeof t, a->dir, a->account, a->region, a->trail};
    wr_psink *s = NULL;
    /* Created and registered with the roller idle and held off: every file is either on
     * disk when the sink looks for undelivered files, or offered to it afterwards. */
    pthread_mutex_lock(&a->mu);
    while (a->rbusy)
        pthread_cond_wait(&a->roll_cv, &a->mu);
    int rc = wr_psink_new(&s, plugin, base_dir, config_json, &t, services, err);
    wr_psink **v = rc ? NULL : realloc(a->sinks, (a->nsinks + 1) * sizeof *v);
    if (v) {
        a->sinks = v;
        a->sinks[a->nsinks++] = s;
    }
    pthread_mutex_unlock(&a->mu);
    if (rc)
        return rc;
    if (!v) {
        wr_psink_free(s);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory adding an audit sink");
    }
    return 0;
}

int weir_audit_flush_sinks(weir_audit *a, unsigned timeout_ms, weir_error *err)
{
    if (!a)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "weir_audit_flush_sinks: no trail");
    /* sinks are only removed by close: a copy of the list is safe to use unlocked */
    pthread_mutex_lock(&a->mu);
    size_t n = a->nsinks;
    wr_psink **v = n ? malloc(n * sizeof *v) : NULL;
    if (v)
        memcpy(v, a->sinks, n * sizeof *v);
    else
        n = 0;
    a->sink_close_ms = timeout_ms;
    pthread_mutex_unlock(&a->mu);
    struct timespec t0;
    mono_now(&t0);
    for (size_t i = 0; i < n; i++) {
        struct timespec now;
        mono_now(&now);
        long long spent = (long long)(now.tv_sec - t0.tv_sec) * 1000 +
                          (now.tv_nsec - t0.tv_nsec) / 1000000;
        unsigned left = spent >= (long long)timeout_ms ? 0 : timeout_ms - (unsigned)spent;
        if (wr_psink_flush(v[i], left) != 0) {
            int rc = wr_error_set(err, WEIR_EIO, NULL, 0, 0,
                                  "audit sink '%s' still has files to deliver after %u ms; "
                                  "they stay on disk and are delivered when it can",
                                  wr_psink_name(v[i]), timeout_ms);
            free(v);
            return rc;
        }
    }
    free(v);
    return 0;
}
