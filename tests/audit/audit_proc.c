/*
 * audit_proc - process-level tests of the audit trail writer (tests/audit/tests.cmake).
 *
 *   audit_proc ackloop DIR   open a SYNC trail; forever: record one event, print "ack <requestID>"
 *   audit_proc ackroll DIR   ackloop with roll_bytes 2048 (a roll every few records);
 *                            ackroll-batch: the same in BATCH mode
 *   audit_proc crash DIR     run ackloop, SIGKILL it at a random moment after a few hundred
 *                            acks (3 rounds), reopen: every acknowledged record is in a log
 *                            file, and none twice
 *   audit_proc crash-roll DIR  the same with ackroll / ackroll-batch: killed mid-roll too
 *   audit_proc fsize DIR     RLIMIT_FSIZE hit: WEIR_EIO + unhealthy, limit raised: recovers
 *   audit_proc rmdir DIR     trail directory removed: WEIR_EIO, recreated: recovers, and the
 *                            records the removed journal held are kept
 * Exit 0 on success; a message and exit 1 on failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trail_read.h"
#include "weir/audit.h"

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static weir_audit *open_trail_with(const char *dir, size_t roll_bytes, int batch)
{
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = dir;
    o.roll_bytes = roll_bytes;
    if (batch) {
        o.durability = WEIR_AUDIT_BATCH;
        o.batch_ms = 5;
    }
    weir_audit *a = NULL;
    weir_error err = {0};
    if (weir_audit_open(&a, &o, &err) != 0) {
        char b[512];
        fprintf(stderr, "open: %s\n", weir_error_format(&err, b, sizeof b));
        exit(1);
    }
    return a;
}

static weir_audit *open_trail(const char *dir)
{
    return open_trail_with(dir, 0, 0);
}

static int record(weir_audit *a, const char *req, weir_error *err)
{
    weir_audit_event ev = WEIR_AUDIT_EVENT_INIT;
    ev.event_name = "InvokeModel";
    ev.model = "anthropic.claude-3-haiku";
    ev.principal = "arn:aws:sts::111122223333:assumed-role/app/s";
    ev.request_id = req;
    return weir_audit_record(a, &ev, NULL, NULL, 0, err);
}

static int ackloop(const char *dir, size_t roll_bytes, int batch)
{
    weir_audit *a = open_trail_with(dir, roll_bytes, batch);
    for (unsigned long i = 0;; i++) {
        char req[64];
        snprintf(req, sizeof req, "ack-%d-%lu", (int)getpid(), i);
        weir_error err = {0};
        if (record(a, req, &err) != 0) {
            fprintf(stderr, "record: %s\n", err.text);
            return 1;
        }
        printf("ack %s\n", req);
        fflush(stdout);
    }
}

static int count_request(json_t *recs, const char *req)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(recs); i++)
        n += strcmp(json_string_value(json_object_get(json_array_get(recs, i), "requestID")),
                    req) == 0;
    return n;
}

static int has_request(json_t *recs, const char *req)
{
    return count_request(recs, req) > 0;
}

static int crash(const char *self, const char *dir, int rolls)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    char **acked = NULL;
    size_t nacked = 0, cap = 0;
    for (int round = 0; round < 3; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            const char *loop = !rolls ? "ackloop" : round % 2 ? "ackroll-batch" : "ackroll";
            execl(self, self, loop, dir, (char *)NULL);
            _exit(127);
        }
        close(fds[1]);
        FILE *in = fdopen(fds[0], "r");
        int target = 200 + rand() % 300, got = 0;
        char line[256];
        while (got < target && fgets(line, sizeof line, in)) {
            CHECK(strncmp(line, "ack ", 4) == 0);
            line[strcspn(line, "\n")] = '\0';
            if (nacked == cap) {
                cap = cap ? 2 * cap : 256;
                acked = realloc(acked, cap * sizeof *acked);
            }
            acked[nacked++] = strdup(line + 4);
            got++;
        }
        CHECK(got == target);
        struct timespec pause = {0, (long)(rand() % 3000) * 1000L};
        nanosleep(&pause, NULL); /* somewhere in the middle of a record */
        kill(pid, SIGKILL);
        /* acks already in the pipe were acknowledged too */
        while (fgets(line, sizeof line, in)) {
            if (strncmp(line, "ack ", 4) != 0 || !strchr(line, '\n'))
                continue;
            line[strcspn(line, "\n")] = '\0';
            if (nacked == cap) {
                cap = cap ? 2 * cap : 256;
                acked = realloc(acked, cap * sizeof *acked);
            }
            acked[nacked++] = strdup(line + 4);
        }
        fclose(in);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    }
    weir_audit *a = open_trail(dir); /* recovers the last journal */
    weir_audit_close(a);
    json_t *recs = tr_records(dir);
    CHECK(recs != NULL);
    size_t missing = 0, twice = 0;
    for (size_t i = 0; i < nacked; i++) {
        int n = count_request(recs, acked[i]);
        if (n == 0) {
            fprintf(stderr, "acknowledged record %s is missing\n", acked[i]);
            missing++;
        } else if (n > 1) {
            fprintf(stderr, "record %s is in the trail %d times\n", acked[i], n);
            twice++;
        }
        free(acked[i]);
    }
    free(acked);
    printf("%zu acknowledged records, %zu in log files, %zu missing, %zu duplicated\n", nacked,
           json_array_size(recs), missing, twice);
    json_decref(recs);
    return missing || twice ? 1 : 0;
}

static int fsize(const char *dir)
{
    signal(SIGXFSZ, SIG_IGN);
    weir_audit *a = open_trail(dir);
    weir_error err = {0};
    CHECK(record(a, "before", &err) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/journal/journal.jsonl", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 0);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    struct rlimit small = rl;
    small.rlim_cur = (rlim_t)st.st_size + 100; /* less than one more record */
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    CHECK(record(a, "refused-1", &err) == WEIR_EIO);
    CHECK(weir_audit_healthy(a) == 0);
    CHECK(strstr(err.source, "journal.jsonl") != NULL);
    printf("disk full: %s: %s\n", err.source, err.text);
    CHECK(record(a, "refused-2", &err) == WEIR_EIO);
    CHECK(stat(path, &st) == 0 && (rlim_t)st.st_size <= small.rlim_cur);
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0); /* soft back to hard */
    CHECK(record(a, "after", &err) == 0);
    CHECK(weir_audit_healthy(a) == 1);
    weir_audit_close(a);
    json_t *recs = tr_records(dir);
    CHECK(recs && json_array_size(recs) == 2);
    CHECK(has_request(recs, "before") && has_request(recs, "after"));
    CHECK(!has_request(recs, "refused-1") && !has_request(recs, "refused-2"));
    json_decref(recs);
    printf("PASS\n");
    return 0;
}

static int rmdir_test(const char *dir)
{
    weir_audit *a = open_trail(dir);
    weir_error err = {0};
    CHECK(record(a, "before", &err) == 0);
    tr_rmrf(dir);
    CHECK(record(a, "refused-1", &err) == WEIR_EIO);
    CHECK(weir_audit_healthy(a) == 0);
    printf("directory removed: %s: %s\n", err.source, err.text);
    CHECK(record(a, "refused-2", &err) == WEIR_EIO);
    CHECK(weir_audit_flush(a, &err) == WEIR_EIO);
    CHECK(mkdir(dir, 0750) == 0);
    CHECK(record(a, "after", &err) == 0);
    CHECK(weir_audit_healthy(a) == 1);
    weir_audit_close(a);
    json_t *recs = tr_records(dir);
    CHECK(recs != NULL);
    CHECK(has_request(recs, "before") && has_request(recs, "after"));
    CHECK(!has_request(recs, "refused-1") && !has_request(recs, "refused-2"));
    CHECK(json_array_size(recs) == 2);
    json_decref(recs);
    printf("PASS\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: audit_proc ackloop|ackroll|ackroll-batch|crash|crash-roll|"
                        "fsize|rmdir DIR\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    if (strcmp(mode, "ackloop") == 0)
        return ackloop(dir, 0, 0);
    if (strcmp(mode, "ackroll") == 0)
        return ackloop(dir, 2048, 0);
    if (strcmp(mode, "ackroll-batch") == 0)
        return ackloop(dir, 2048, 1);
    tr_rmrf(dir);
    int rc;
    if (strcmp(mode, "crash") == 0 || strcmp(mode, "crash-roll") == 0) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        CHECK(n > 0);
        self[n] = '\0';
        rc = crash(self, dir, strcmp(mode, "crash-roll") == 0);
    } else if (strcmp(mode, "fsize") == 0) {
        rc = fsize(dir);
    } else if (strcmp(mode, "rmdir") == 0) {
        rc = rmdir_test(dir);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    if (rc == 0)
        tr_rmrf(dir);
    return rc;
}
