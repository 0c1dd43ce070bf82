/*
 * query.c - reading every record of a trail for `weir audit query` and `weir audit stats`.
 *
 * Log files first (streamed: inflate 64 KiB at a time, split {"Records":[...]} into records,
 * parse each record alone), then the journal (records not rolled yet). Files are skipped by
 * their day directory and name time when --since is given: a log file holds events from
 * before its name time (plus WR_AUDIT_FILE_SLACK). Records are deduplicated on eventID among
 * the ones that match (a crash can leave a record both in the journal and a log file).
 *
 * Log files are read by up to MAX_THREADS threads (one per CPU): parsing dominates. The
 * match callback is called under a mutex, one record at a time, in no particular order.
 *
 * Before parsing, a record whose raw text has no backslash (so every string in it appears
 * verbatim) is skipped when a literal part of a filter does not occur in it: exact, and it
 * spares most jansson parses for selective filters.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/reader.h"

/* ------------------------------------------------------------------ matching */

static int glob_or_empty(const char *pat, const char *s, char stop)
{
    return !pat || (s && wr_glob_match(pat, s, stop));
}

int wr_query_match(const wr_query *q, const wr_audit_rec *rec)
{
    if (q->has_since && rec->time < q->since)
        return 0;
    if (q->has_until && rec->time > q->until)
        return 0;
    if (q->principal && !wr_glob_match(q->principal, rec->principal, ':') &&
        !(rec->role && wr_glob_match(q->principal, rec->role, ':')))
        return 0;
    if (!glob_or_empty(q->model, rec->model, 0))
        return 0;
    if (!glob_or_empty(q->event, rec->event_name, 0))
        return 0;
    if (q->action && (!rec->action || strcmp(q->action, rec->action) != 0))
        return 0;
    if (q->rule) {
        size_t n = json_array_size(rec->findings);
        int hit = 0;
        for (size_t i = 0; i < n && !hit; i++) {
            json_t *r = json_object_get(json_array_get(rec->findings, i), "rule");
            hit = json_is_string(r) && wr_glob_match(q->rule, json_string_value(r), 0);
        }
        if (!hit)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ dedupe */

/* A set of 128-bit hashes of eventIDs (two independent 64-bit FNV-1a variants). */
typedef struct idset {
    uint64_t *k; /* pairs; (0,0) = empty */
    size_t cap, n;
} idset;

static void id_hash(const char *s, uint64_t *a, uint64_t *b)
{
    uint64_t h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;
    for (; *s; s++) {
        h1 = (h1 ^ (unsigned char)*s) * 1099511628211ull;
        h2 = (h2 ^ (unsigned char)*s) * 0x100000001b3ull;
        h2 ^= h2 >> 29;
    }
    h1 ^= h1 >> 31;
    if (!h1 && !h2)
        h1 = 1;
    *a = h1;
    *b = h2;
}

/* 1 when added, 0 when already present, -1 on OOM. */
static int idset_add(idset *s, const char *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint64_t *nk = calloc(ncap, 2 * sizeof *nk);
        if (!nk)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t a = s->k[2 * i], b = s->k[2 * i + 1];
            if (!a && !b)
                continue;
            size_t j = (size_t)(a ^ (b >> 7)) & (ncap - 1);
            while (nk[2 * j] || nk[2 * j + 1])
                j = (j + 1) & (ncap - 1);
            nk[2 * j] = a;
            nk[2 * j + 1] = b;
        }
        free(s->k);
        s->k = nk;
        s->cap = ncap;
    }
    uint64_t a, b;
    id_hash(id, &a, &b);
    size_t j = (size_t)(a ^ (b >> 7)) & (s->cap - 1);
    while (s->k[2 * j] || s->k[2 * j + 1]) {
        if (s->k[2 * j] == a && s->k[2 * j + 1] == b)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[2 * j] = a;
    s->k[2 * j + 1] = b;
    s->n++;
    return 1;
}

/* ------------------------------------------------------------------ scanning */

#define MAX_LITERALS 5
#define MAX_THREADS 4

/* What the reading threads share; `mu` guards everything below it. */
typedef struct shared {
    const wr_query *q;
    const char *dir;
    wr_trail_file *files;
    size_t n_files;
    struct lit {
        char s[128];
        size_t n;
    } lit[MAX_LITERALS];
    size_t n_lit;

    pthread_mutex_t mu;
    wr_match_fn fn;
    void *ctx;
    wr_warn_fn warn;
    void *warn_ctx;
    wr_scan_counts *c;
    idset seen;
    size_t next_file;
    int stop, oom;
} shared;

/* One reading thread's state. */
typedef struct scan {
    shared *sh;
    const char *where; /* the file being read */
    size_t line;       /* journal line, or record index */
    size_t records;
} scan;

/* The longest run of a glob without '*' or '?' (at least 3 bytes to be worth it). */
static void add_literal(shared *s, const char *glob, int quoted)
{
    if (!glob || s->n_lit >= MAX_LITERALS)
        return;
    const char *best = NULL;
    size_t best_n = 0;
    for (const char *p = glob; *p;) {
        size_t n = strcspn(p, "*?\\\"");
        if (n > best_n) {
            best = p;
            best_n = n;
        }
        p += n;
        if (*p)
            p++;
    }
    if (best_n < 3 || best_n + 2 >= sizeof s->lit[0].s)
        return;
    if (quoted && best_n != strlen(glob))
        quoted = 0;
    struct lit *l = &s->lit[s->n_lit++];
    l->n = 0;
    if (quoted)
        l->s[l->n++] = '"';
    memcpy(l->s + l->n, best, best_n);
    l->n += best_n;
    if (quoted)
        l->s[l->n++] = '"';
}

static int contains(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn > hn)
        return 0;
    const char *end = h + hn - nn;
    for (const char *p = h; p <= end;) {
        p = memchr(p, nd[0], (size_t)(end - p) + 1);
        if (!p)
            return 0;
        if (memcmp(p, nd, nn) == 0)
            return 1;
        p++;
    }
    return 0;
}

static void warnf(scan *s, const char *msg)
{
    char where[1100];
    if (s->line)
        snprintf(where, sizeof where, "%s:%zu", s->where, s->line);
    else
        snprintf(where, sizeof where, "%s", s->where);
    pthread_mutex_lock(&s->sh->mu);
    s->sh->c->bad++;
    if (s->sh->warn)
        s->sh->warn(s->sh->warn_ctx, where, msg);
    pthread_mutex_unlock(&s->sh->mu);
}

static int on_record(void *ctx, const char *json, size_t n)
{
    scan *s = ctx;
    shared *sh = s->sh;
    s->line++;
    s->records++;
    if (sh->n_lit && !memchr(json, '\\', n)) {
        for (size_t i = 0; i < sh->n_lit; i++)
            if (!contains(json, n, sh->lit[i].s, sh->lit[i].n))
                return 0;
    }
    wr_audit_rec rec;
    char why[160];
    if (wr_audit_rec_parse(&rec, json, n, why, sizeof why) != 0) {
        warnf(s, why);
        return 0;
    }
    int rc = 0;
    if (wr_query_match(sh->q, &rec)) {
        pthread_mutex_lock(&sh->mu);
        if (sh->stop || sh->oom) {
            rc = 1;
        } else {
            int added = idset_add(&sh->seen, rec.event_id);
            if (added < 0) {
                sh->oom = 1;
                rc = 1;
            } else if (added == 0) {
                sh->c->duplicates++;
            } else {
                sh->c->matched++;
                if (sh->fn(sh->ctx, &rec) != 0) {
                    sh->stop = 1;
                    rc = 1;
                }
            }
        }
        pthread_mutex_unlock(&sh->mu);
    }
    wr_audit_rec_free(&rec);
    return rc;
}

static int split_sink(void *ctx, const char *p, size_t n)
{
    wr_records_splitter *sp = ctx;
    return wr_records_feed(sp, p, n) != 0;
}

static void scan_log(scan *s, const char *rel)
{
    wr_buf path;
    wr_buf_init(&path);
    wr_buf_printf(&path, "%s/%s", s->sh->dir, rel);
    if (path.oom) {
        pthread_mutex_lock(&s->sh->mu);
        s->sh->oom = 1;
        pthread_mutex_unlock(&s->sh->mu);
        return;
    }
    s->where = rel;
    s->line = 0;
    wr_records_splitter sp;
    wr_records_init(&sp, on_record, s);
    wr_gz_status st = wr_gz_stream_file(path.data, WR_AUDIT_MAX_LOG_BYTES, split_sink, &sp, NULL);
    s->line = 0;
    if (st == WR_GZ_STOPPED) {
        if (!sp.stopped)
            warnf(s, sp.why);
    } else if (st != WR_GZ_OK) {
        warnf(s, st == WR_GZ_TOOBIG ? "inflates beyond 256 MiB" : wr_gz_status_text(st));
    } else if (wr_records_finish(&sp) != 0) {
        warnf(s, sp.why);
    }
    wr_records_free(&sp);
    wr_buf_free(&path);
}

/* A reading thread: takes the next log file until none is left. */
static void *scan_worker(void *arg)
{
    scan *s = arg;
    shared *sh = s->sh;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        size_t i = sh->next_file++;
        int done = sh->stop || sh->oom || i >= sh->n_files;
        pthread_mutex_unlock(&sh->mu);
        if (done)
            break;
        scan_log(s, sh->files[i].path);
    }
    return NULL;
}

/* Records not yet in a log file: journal/NAME, relative to the trail. */
static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_journal_file(scan *s, const char *name)
{
    shared *sh = s->sh;
    wr_buf path;
    wr_buf_init(&path);
    wr_buf_printf(&path, "%s/%s", sh->dir, name);
    if (path.oom) {
        sh->oom = 1;
        return;
    }
    s->where = name;
    s->line = 0;
    FILE *f = fopen(path.data, "rb");
    wr_buf_free(&path);
    if (!f)
        return; /* no journal: nothing pending */
    wr_buf b;
    wr_buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + got > WR_AUDIT_MAX_LOG_BYTES) {
            warnf(s, "the journal is larger than 256 MiB; only its start was read");
            break;
        }
        if (wr_buf_append(&b, chunk, got) != 0) {
            sh->oom = 1;
            break;
        }
    }
    if (ferror(f))
        warnf(s, "read error");
    fclose(f);
    if (!sh->oom && b.len) {
        int torn = 0;
        size_t too_long = 0;
        sh->c->files++;
        wr_journal_split(b.data, b.len, on_record, s, &torn, &too_long);
        s->line = 0;
        if (too_long)
            warnf(s, "lines longer than 1 MiB were skipped");
        /* a torn last line is an interrupted write, not an error */
    }
    wr_buf_free(&b);
}

/*
 * The journal, and journals cut for a roll that is not delivered yet (journal/roll-*.jsonl,
 * older first by name); a record met twice (delivered while we read) is counted once.
 */
static void scan_journal(scan *s)
{
    shared *sh = s->sh;
    wr_buf dir;
    wr_buf_init(&dir);
    wr_buf_printf(&dir, "%s/journal", sh->dir);
    DIR *d = dir.oom ? NULL : opendir(dir.data);
    wr_buf_free(&dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "roll-", 5) != 0 || l < 11 || strcmp(e->d_name + l - 6, ".jsonl"))
            continue;
        char **v = wr_grow(names, &cap, n + 1, sizeof *names, 8);
        char *nm = v ? malloc(l + 9) : NULL;
        if (!nm) {
            if (v)
                names = v;
            sh->oom = 1;
            break;
        }
        names = v;
        snprintf(nm, l + 9, "journal/%s", e->d_name);
        names[n++] = nm;
    }
    if (d)
        closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (!sh->oom && !sh->stop)
            scan_journal_file(s, names[i]);
        free(names[i]);
    }
    free(names);
    if (!sh->oom && !sh->stop)
        scan_journal_file(s, "journal/journal.jsonl");
}

int wr_audit_scan(const wr_query *q, wr_match_fn fn, void *ctx, wr_warn_fn warn,
                  void *warn_ctx, wr_scan_counts *c, weir_error *err)
{
    shared sh;
    memset(&sh, 0, sizeof sh);
    memset(c, 0, sizeof *c);
    sh.q = q;
    sh.dir = q->dir;
    sh.fn = fn;
    sh.ctx = ctx;
    sh.warn = warn;
    sh.warn_ctx = warn_ctx;
    sh.c = c;
    add_literal(&sh, q->principal, 0);
    add_literal(&sh, q->model, 0);
    add_literal(&sh, q->rule, 0);
    add_literal(&sh, q->event, 0);
    add_literal(&sh, q->action, 1);

    wr_trail_file *f = NULL;
    size_t n = 0;
    time_t min_t = q->has_since ? q->since : 0;
    int rc = wr_trail_list(q->dir, 0, min_t, &f, &n, err);
    if (rc)
        return rc;
    /* keep the files that may hold events in range */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (q->has_since && f[i].named_ok && f[i].t + WR_AUDIT_FILE_SLACK < q->since) {
            c->files_skipped++;
            free(f[i].path);
            free(f[i].group);
            continue;
        }
        f[m++] = f[i];
    }
    c->files = m;
    sh.files = f;
    sh.n_files = m;
    if (pthread_mutex_init(&sh.mu, NULL) != 0) {
        wr_trail_files_free(f, m);
        return wr_error_set(err, WEIR_ENOMEM, q->dir, 0, 0, "cannot create a mutex");
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus > 1 ? (size_t)cpus : 1;
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    if (nt > m)
        nt = m ? m : 1;
    scan workers[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    size_t started = 0;
    for (size_t i = 0; i < nt; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].sh = &sh;
    }
    for (size_t i = 1; i < nt; i++) {
        if (pthread_create(&tids[i], NULL, scan_worker, &workers[i]) != 0)
            break;
        started = i;
    }
    scan_worker(&workers[0]); /* this thread reads too */
    for (size_t i = 1; i <= started; i++)
        pthread_join(tids[i], NULL);
    if (!sh.stop && !sh.oom)
        scan_journal(&workers[0]);
    for (size_t i = 0; i < nt; i++)
        c->records += workers[i].records;
    wr_trail_files_free(f, m);
    pthread_mutex_destroy(&sh.mu);
    free(sh.seen.k);
    if (sh.oom)
        return wr_error_set(err, WEIR_ENOMEM, q->dir, 0, 0, "out of memory reading the trail");
    return 0;
}
