/*
 * driver.c - loads weir-s3-export.so the way weir does (dlopen RTLD_NOW|RTLD_LOCAL, ABI
 * checks) with a test host, creates the sink on a trail, offers files, flushes, destroys.
 *
 *   driver PLUGIN ROOT CONFIG_JSON [--offer log:KEY | --offer digest:KEY[:SIGHEX]]...
 *          [--host-creds AKID:SECRET] [--flush-ms N] [--account A] [--region R]
 *          [--slow-log-ms N] [--stdin]
 *
 * --stdin: after create, reads offers from stdin ("log KEY" | "digest KEY [SIGHEX]" per line,
 * KEY relative to ROOT) until EOF, then flushes (--stdin must come last). A "metrics" line
 * prints the metrics so far ("metrics-now {json}").
 * --slow-log-ms N: the host's log callback sleeps N ms on every WARN or ERROR (a slow log
 * sink), to show that sink_file never waits for the worker's logging.
 *
 * Logs go to stderr as "[level] message"; stdout gets "create: ok" or "create failed: why",
 * "offer-max-ms N" (the longest sink_file call), "flush: RC" and "metrics {json}" (counters
 * summed, gauges last value). Exit 0 when the flush returned 0, 2 when create failed, 3 when
 * the flush timed out, 1 on usage errors.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weir/plugin.h"

#define MAX_METRICS 32

typedef struct metric {
    char name[64];
    int gauge;
    double value;
} metric;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static metric g_metrics[MAX_METRICS];
static size_t g_n;
static const char *g_akid, *g_secret;
static unsigned g_slow_log_ms;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static metric *metric_get(const char *name, int gauge)
{
    for (size_t i = 0; i < g_n; i++)
        if (strcmp(g_metrics[i].name, name) == 0)
            return &g_metrics[i];
    if (g_n == MAX_METRICS)
        return NULL;
    metric *m = &g_metrics[g_n++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->gauge = gauge;
    return m;
}

static void host_log(void *ctx, weir_plugin_log_level level, const char *message)
{
    (void)ctx;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "[%s] %s\n", level <= WEIR_PLUGIN_LOG_DEBUG ? names[level] : "?", message);
    if (g_slow_log_ms && level <= WEIR_PLUGIN_LOG_WARN) {
        struct timespec ts = {(time_t)(g_slow_log_ms / 1000), (long)(g_slow_log_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void metrics_print(const char *label)
{
    pthread_mutex_lock(&g_mu);
    printf("%s {", label);
    for (size_t i = 0; i < g_n; i++)
        printf("%s\"%s\":%.3f", i ? "," : "", g_metrics[i].name, g_metrics[i].value);
    printf("}\n");
    pthread_mutex_unlock(&g_mu);
    fflush(stdout);
}

static double g_offer_max_ms;

/* sink_file, timed */
static int offer(const weir_plugin *p, void *inst, const weir_sink_file *f)
{
    double t0 = now_ms();
    int rc = p->sink_file(inst, f);
    double ms = now_ms() - t0;
    if (ms > g_offer_max_ms)
        g_offer_max_ms = ms;
    return rc;
}

static void host_counter(void *ctx, const char *name, uint64_t delta)
{
    (void)ctx;
    pthread_mutex_lock(&g_mu);
    metric *m = metric_get(name, 0);
    if (m)
        m->value += (double)delta;
    pthread_mutex_unlock(&g_mu);
}

static void host_gauge(void *ctx, const char *name, double value)
{
    (void)ctx;
    pthread_mutex_lock(&g_mu);
    metric *m = metric_get(name, 1);
    if (m)
        m->value = value;
    pthread_mutex_unlock(&g_mu);
}

static int host_creds(void *ctx, weir_plugin_aws_credentials *out)
{
    (void)ctx;
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", g_akid);
    snprintf(out->secret_access_key, sizeof out->secret_access_key, "%s", g_secret);
    out->session_token[0] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: driver PLUGIN ROOT CONFIG_JSON [options]\n");
        return 1;
    }
    const char *plugin_path = argv[1], *root = argv[2], *config = argv[3];
    const char *account = "111122223333", *region = "eu-central-1";
    unsigned flush_ms = 30000;
    char *host_cred_arg = NULL;
    int from_stdin = 0;
    for (int i = 4; i < argc; i++)
        from_stdin |= strcmp(argv[i], "--stdin") == 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--flush-ms") == 0)
            flush_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--host-creds") == 0)
            host_cred_arg = argv[i + 1];
        else if (strcmp(argv[i], "--account") == 0)
            account = argv[i + 1];
        else if (strcmp(argv[i], "--region") == 0)
            region = argv[i + 1];
        else if (strcmp(argv[i], "--slow-log-ms") == 0)
            g_slow_log_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
    }

    void *so = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    weir_plugin_entry_fn entry = (weir_plugin_entry_fn)(uintptr_t)dlsym(so, WEIR_PLUGIN_ENTRY_SYMBOL);
    const weir_plugin *p = entry ? entry() : NULL;
    if (!p || p->abi_major != WEIR_PLUGIN_ABI_MAJOR || p->struct_size < WEIR_PLUGIN_MIN_SIZE ||
        p->kind != WEIR_PLUGIN_AUDIT_SINK || !p->sink_create || !p->sink_file ||
        !p->sink_flush || !p->sink_destroy) {
        fprintf(stderr, "bad plugin descriptor\n");
        return 1;
    }

    weir_plugin_host host;
    memset(&host, 0, sizeof host);
    host.abi_major = WEIR_PLUGIN_ABI_MAJOR;
    host.struct_size = sizeof host;
    host.plugin_path = plugin_path;
    host.base_dir = root;
    host.log = host_log;
    host.counter_add = host_counter;
    host.gauge_set = host_gauge;
    if (host_cred_arg) {
        char *colon = strchr(host_cred_arg, ':');
        if (!colon)
            return 1;
        *colon = '\0';
        g_akid = host_cred_arg;
        g_secret = colon + 1;
        host.aws_credentials = host_creds;
    }
    weir_sink_trail trail = {sizeof trail, root, account, region, "weir"};

    char err[512] = "";
    void *inst = NULL;
    if (p->sink_create(&host, config, strlen(config), &trail, &inst, err, sizeof err) != 0) {
        printf("create failed: %s\n", err);
        dlclose(so);
        return 2;
    }
    printf("create: ok\n");
    fflush(stdout);

    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--offer") != 0)
            continue;
        char *spec = argv[i + 1];
        int digest = strncmp(spec, "digest:", 7) == 0;
        char *key = strchr(spec, ':') + 1, *sig = NULL;
        if (digest && (sig = strchr(key, ':')))
            *sig++ = '\0';
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, key);
        weir_sink_file f = {sizeof f, digest ? WEIR_SINK_DIGEST : WEIR_SINK_LOG, path, key,
                            sig, sig ? "SHA256withRSA" : NULL};
        int rc = offer(p, inst, &f);
        printf("offer %s: %d\n", key, rc);
    }
    fflush(stdout);
    if (from_stdin) {
        /* "log KEY" | "digest KEY [SIGHEX]" per line, until EOF */
        char line[4096];
        while (fgets(line, sizeof line, stdin)) {
            char kind[16] = "", key[2048] = "", sig[1100] = "";
            int got = sscanf(line, "%15s %2047s %1099s", kind, key, sig);
            if (got == 1 && strcmp(kind, "metrics") == 0)
                metrics_print("metrics-now");
            if (got < 2)
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", root, key);
            int digest = strcmp(kind, "digest") == 0;
            weir_sink_file f = {sizeof f, digest ? WEIR_SINK_DIGEST : WEIR_SINK_LOG, path, key,
                                sig[0] ? sig : NULL, sig[0] ? "SHA256withRSA" : NULL};
            printf("offer %s: %d\n", key, offer(p, inst, &f));
            fflush(stdout);
        }
    }

    printf("offer-max-ms %.1f\n", g_offer_max_ms);
    int frc = p->sink_flush(inst, flush_ms);
    printf("flush: %d\n", frc);
    p->sink_destroy(inst);
    metrics_print("metrics");
    dlclose(so);
    return frc == 0 ? 0 : 3;
}
