/*
 * bench/scan: throughput of weir_check with the default policy, one thread.
 *
 *   (a) PII-free prose (with the numbers real prose has: years, counts, versions)
 *   (b) PII-dense text (an email, phone, card, IBAN, key or SSN every ~100 bytes; a block)
 *   (c) PII-dense text that is redacted rather than blocked (the rewrite path)
 *   (d) prose with accented words and typographic quotes (the Unicode path)
 *   (e) a streamed completion: 4 KiB arriving in 16-byte deltas (cost per delta, bytes held)
 * at 4 KiB and 64 KiB, plus the cost of one check of a 200-byte prompt, and peak RSS.
 *
 * Usage: bench_scan [seconds-per-case [case-name-substring]]   (default 1.0, all cases)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "weir/weir.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const words[] = {
    "the", "model", "answer", "quarterly", "report", "customer", "should", "review", "with",
    "and", "for", "team", "summary", "of", "in", "policy", "data", "system", "requests",
    "latency", "service", "region", "deployment", "a", "is", "to", "we", "please", "draft",
    "explain", "concise", "bullet", "points", "compare", "options", "budget", "risk", "plan",
    "migration", "database", "Kubernetes", "cluster", "approximately", "engineering", "users",
};
static const char *const numbers[] = {"2024", "3", "15%", "v2.1", "10", "Q3", "1,200", "42"};

static void prose(char *out, size_t n, unsigned seed)
{
    size_t at = 0;
    unsigned r = seed;
    int wc = 0;
    while (at < n) {
        r = r * 1103515245u + 12345u;
        const char *w = (r >> 16) % 23 == 0 ? numbers[(r >> 8) % 8] : words[(r >> 16) % 45];
        size_t wl = strlen(w);
        for (size_t i = 0; i < wl && at < n; i++)
            out[at++] = (wc == 0 && i == 0 && w[0] >= 'a') ? (char)(w[0] - 32) : w[i];
        if (++wc > 12 + (int)((r >> 4) % 8)) {
            if (at < n)
                out[at++] = '.';
            wc = 0;
        } else if ((r >> 5) % 11 == 0 && at < n) {
            out[at++] = ',';
        }
        if (at < n)
            out[at++] = ' ';
    }
}

static const char *const pii[] = {
    "jane.doe@example.com", "+1 415 555 0132", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
    "078-05-1120", "AKIAIOSFODNN7EXAMPLE", "ops@example.org", "(212) 555-0187",
    "GB82 WEST 1234 5698 7654 32", "5500 0000 0000 0004",
};

static void dense(char *out, size_t n, unsigned seed)
{
    prose(out, n, seed);
    unsigned r = seed;
    for (size_t at = 40; at + 40 < n; at += 100) {
        r = r * 1103515245u + 12345u;
        const char *p = pii[(r >> 16) % 10];
        out[at - 1] = ' ';
        memcpy(out + at, p, strlen(p));
        out[at + strlen(p)] = ' ';
    }
}

static const char *only; /* argv[2]: run only the cases whose name contains it */

/* PII that the default policy redacts (no card numbers or keys): the redaction path. */
static const char *const redactable[] = {
    "jane.doe@example.com", "+1 415 555 0132", "DE89 3704 0044 0532 0130 00", "078-05-1120",
    "ops@example.org", "(212) 555-0187", "GB82 WEST 1234 5698 7654 32", "born on 12/03/1985",
};

static void dense_redact(char *out, size_t n, unsigned seed)
{
    prose(out, n, seed);
    unsigned r = seed;
    for (size_t at = 40; at + 40 < n; at += 100) {
        r = r * 1103515245u + 12345u;
        const char *p = redactable[(r >> 16) % 8];
        out[at - 1] = ' ';
        memcpy(out + at, p, strlen(p));
        out[at + strlen(p)] = ' ';
    }
}

/* Prose with accented words and typographic quotes: the Unicode normalization path. */
static void prose_utf8(char *out, size_t n, unsigned seed)
{
    static const char *const w[] = {"caf\xc3\xa9", "na\xc3\xafve", "r\xc3\xa9sum\xc3\xa9",
                                    "\xe2\x80\x9cquoted\xe2\x80\x9d", "Z\xc3\xbcrich",
                                    "fa\xc3\xa7" "ade", "the", "report", "and", "data"};
    size_t at = 0;
    unsigned r = seed;
    while (at + 16 < n) {
        r = r * 1103515245u + 12345u;
        const char *x = w[(r >> 16) % 10];
        memcpy(out + at, x, strlen(x));
        at += strlen(x);
        out[at++] = ' ';
    }
    while (at < n)
        out[at++] = ' ';
}

static void run(const weir_policy *p, const char *name, const char *text, size_t len, double secs)
{
    if (only && !strstr(name, only))
        return;
    weir_context ctx = WEIR_CONTEXT_INIT;
    size_t iters = 0;
    double t0 = now(), t1;
    int action = 0;
    do {
        for (int k = 0; k < 64; k++) {
            weir_result *r = NULL;
            if (weir_check(&r, p, &ctx, text, len, NULL) != 0) {
                fprintf(stderr, "check failed\n");
                exit(1);
            }
            action = weir_result_action(r);
            weir_result_free(r);
        }
        iters += 64;
        t1 = now();
    } while (t1 - t0 < secs);
    double per = (t1 - t0) / (double)iters;
    printf("%-28s %8zu B  %10.1f MB/s  %9.2f us/check  verdict=%s\n", name, len,
           (double)len / per / 1e6, per * 1e6, weir_action_name((weir_action)action));
}

/* A streamed completion: the text arrives in `chunk`-byte deltas (like model tokens). */
static void run_stream(const weir_policy *p, const char *name, const char *text, size_t len,
                       size_t chunk, double secs)
{
    if (only && !strstr(name, only))
        return;
    size_t iters = 0, maxheld = 0, chunks = 0;
    double t0 = now(), t1;
    do {
        weir_stream *s = NULL;
        if (weir_stream_new(&s, p, NULL, 0, NULL) != 0) {
            fprintf(stderr, "stream failed\n");
            exit(1);
        }
        const char *o;
        size_t olen;
        for (size_t at = 0; at < len; at += chunk) {
            size_t n = len - at < chunk ? len - at : chunk;
            weir_stream_feed(s, text + at, n, &o, &olen, NULL);
            if (weir_stream_held(s) > maxheld)
                maxheld = weir_stream_held(s);
            chunks++;
        }
        weir_stream_finish(s, &o, &olen, NULL);
        weir_stream_free(s);
        iters++;
        t1 = now();
    } while (t1 - t0 < secs);
    double per = (t1 - t0) / (double)iters;
    printf("%-28s %8zu B  %10.1f MB/s  %9.2f us/chunk  max held %zu B\n", name, len,
           (double)len / per / 1e6, (t1 - t0) / (double)chunks * 1e6, maxheld);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    only = argc > 2 ? argv[2] : NULL;
    weir_policy *p = NULL;
    weir_error err;
    if (weir_policy_load_default(&p, &err) != 0) {
        char buf[512];
        fprintf(stderr, "%s\n", weir_error_format(&err, buf, sizeof buf));
        return 1;
    }
    static char a4[4096], a64[65536], d4[4096], d64[65536], r64[65536], u64[65536];
    prose(a4, sizeof a4, 1);
    prose(a64, sizeof a64, 2);
    dense(d4, sizeof d4, 3);
    dense(d64, sizeof d64, 4);
    dense_redact(r64, sizeof r64, 5);
    prose_utf8(u64, sizeof u64, 6);
    const char *prompt = "Please summarise the following meeting notes for the team and list "
                         "the three most important follow-ups, with owners and due dates, in a "
                         "concise table. Keep it under 150 words and friendly in tone.";

    printf("weir %s, default policy, 1 thread\n", weir_version());
    run(p, "prose (PII-free) 4 KiB", a4, sizeof a4, secs);
    run(p, "prose (PII-free) 64 KiB", a64, sizeof a64, secs);
    run(p, "PII-dense 4 KiB", d4, sizeof d4, secs);
    run(p, "PII-dense 64 KiB", d64, sizeof d64, secs);
    run(p, "PII-dense, redacted 64 KiB", r64, sizeof r64, secs);
    run(p, "prose, non-ASCII 64 KiB", u64, sizeof u64, secs);
    run(p, "prompt 200 B", prompt, strlen(prompt), secs);
    run_stream(p, "stream prose, 16 B chunks", a4, sizeof a4, 16, secs);
    static char r4[4096];
    dense_redact(r4, sizeof r4, 7);
    run_stream(p, "stream PII-dense, 16 B chunks", r4, sizeof r4, 16, secs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    weir_policy_unref(p);
    return 0;
}
