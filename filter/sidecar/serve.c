/*
 * serve.c - `weir serve`: start-up (policy, credentials, audit trail, workers and their
 * listeners), the main thread's signal loop (SIGHUP and policy-file change reload, SIGTERM
 * drain) and shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "sidecar/identity.h"
#include "sidecar/log.h"
#include "sidecar/sidecar.h"

const char *wr_sidecar_server_name(void) { return "weir/" WR_SIDECAR_VERSION; }

weir_policy *wr_sc_policy(wr_sc *sc, size_t upstream)
{
    pthread_mutex_lock(&sc->policy_mu);
    weir_policy *p = NULL;
    if (upstream < sc->cfg->nup && sc->ups[upstream].policy)
        p = sc->ups[upstream].policy;
    else
        p = sc->policy;
    if (p)
        weir_policy_ref(p);
    pthread_mutex_unlock(&sc->policy_mu);
    return p;
}

static void log_err(const char *msg, const weir_error *err)
{
    char buf[600];
    wr_log(WR_LOG_ERROR, msg, "error", weir_error_format(err, buf, sizeof buf), NULL);
}

static int load_policy(const char *path, weir_policy **out, weir_error *err)
{
    return path ? weir_policy_load_file(out, path, err) : weir_policy_load_default(out, err);
}

/* ------------------------------------------------------------------ upstream state */

static char *read_secret_file(const char *path, weir_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        wr_error_set(err, WEIR_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    char *s = n ? wr_strdup(buf) : NULL;
    wr_wipe(buf, sizeof buf);
    if (!s)
        wr_error_set(err, WEIR_EIO, path, 0, 0, "the key file is empty");
    return s;
}

static int upstate_init(wr_sc_upstate *st, const wr_sc_upstream *u, weir_error *err)
{
    const char *ep = u->endpoint;
    const char *h = strstr(ep, "://");
    h = h ? h + 3 : ep;
    size_t n = strcspn(h, "/");
    if (n == 0 || n >= sizeof st->host)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "upstream '%s': bad endpoint '%s'",
                            u->name, ep);
    memcpy(st->host, h, n);
    st->host[n] = 0;
    /* a default port is not part of the Host header curl sends */
    size_t hl = strlen(st->host);
    if (strncmp(ep, "https://", 8) == 0 && hl > 4 && strcmp(st->host + hl - 4, ":443") == 0)
        st->host[hl - 4] = 0;
    if (strncmp(ep, "http://", 7) == 0 && hl > 3 && strcmp(st->host + hl - 3, ":80") == 0)
        st->host[hl - 3] = 0;
    if (u->kind == WR_KIND_AZURE) {
        if (u->api_key_env) {
            const char *v = getenv(u->api_key_env);
            if (!v || !*v)
                return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                                    "upstream '%s': api_key_env: environment variable %s is "
                                    "not set",
                                    u->name, u->api_key_env);
            st->api_key = wr_strdup(v);
        } else if (u->api_key_file) {
            st->api_key = read_secret_file(u->api_key_file, err);
            if (!st->api_key)
                return err->code;
        } else if (u->bearer_token_env) {
            const char *v = getenv(u->bearer_token_env);
            if (!v || !*v)
                return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                                    "upstream '%s': bearer_token_env: environment variable %s "
                                    "is not set",
                                    u->name, u->bearer_token_env);
            st->bearer = wr_strdup(v);
        }
        return 0;
    }
    snprintf(st->signing_name, sizeof st->signing_name, "%s",
             u->kind == WR_KIND_BEDROCK_MANTLE ? "bedrock-mantle" : "bedrock");
    wr_creds_options co = {0};
    co.profile = u->aws_profile;
    co.region = u->region;
    int rc = wr_creds_new(&st->creds, &co, err);
    if (rc != 0) {
        if (rc == WEIR_ENOTFOUND)
            wr_error_set(err, rc, NULL, 0, 0,
                         "upstream '%s': no AWS credentials found to sign Bedrock requests (set "
                         "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, IRSA or the "
                         "container credentials endpoint; see docs/credentials.md)",
                         u->name);
        return rc;
    }
    wr_log(WR_LOG_INFO, "aws credentials", "upstream", u->name, "source",
           wr_creds_source(st->creds), NULL);
    return 0;
}

static void upstate_free(wr_sc_upstate *st)
{
    wr_creds_free(st->creds);
    if (st->api_key) {
        wr_wipe(st->api_key, strlen(st->api_key));
        free(st->api_key);
    }
    if (st->bearer) {
        wr_wipe(st->bearer, strlen(st->bearer));
        free(st->bearer);
    }
    weir_policy_unref(st->policy);
    free(st->workload_arn);
    wr_sc_identity_free(st);
}

/* ------------------------------------------------------------------ audit */

static int sinks_open(wr_sc *sc, weir_error *err);

static int audit_open(wr_sc *sc, weir_error *err)
{
    const wr_sc_audit *a = &sc->cfg->audit;
    if (!a->dir) {
        wr_log(WR_LOG_WARN, "no audit trail configured (audit.dir): calls are not recorded",
               NULL);
        return 0;
    }
    weir_audit_options o = WEIR_AUDIT_OPTIONS_INIT;
    o.dir = a->dir;
    o.account_id = a->account;
    o.region = sc->cfg->nup ? sc->cfg->up[0].region : NULL;
    o.trail_name = a->trail;
    o.durability = (weir_audit_durability)a->durability;
    o.batch_ms = a->batch_ms;
    o.signing_key_file = a->signing_key_file;
    o.digest_seconds = a->digest_seconds;
    o.roll_seconds = a->roll_seconds;
    o.jsonl_fd = a->jsonl_stdout ? STDOUT_FILENO : -1;
    char *key = NULL;
    if (a->hash_key_file) {
        key = read_secret_file(a->hash_key_file, err);
        if (!key)
            return err->code;
        o.hash_key = (const unsigned char *)key;
        o.hash_key_len = strlen(key);
    }
    int rc = weir_audit_open(&sc->audit, &o, err);
    if (key) {
        wr_wipe(key, strlen(key));
        free(key);
    }
    if (rc == 0)
        rc = sinks_open(sc, err);
    return rc;
}

/* ------------------------------------------------------------------ audit sinks */

/* What an audit sink plugin gets from the sidecar: logs, metrics, AWS credentials. */
typedef struct wr_sc_sinkctx {
    wr_sc *sc;
    char label[64]; /* metrics label and log field: [a-z0-9_-] */
} wr_sc_sinkctx;

static void sink_log(void *ctx, weir_plugin_log_level level, const char *msg)
{
    const wr_sc_sinkctx *k = ctx;
    int l = level == WEIR_PLUGIN_LOG_ERROR  ? WR_LOG_ERROR
            : level == WEIR_PLUGIN_LOG_WARN ? WR_LOG_WARN
            : level == WEIR_PLUGIN_LOG_INFO ? WR_LOG_INFO
                                            : WR_LOG_DEBUG;
    wr_log(l, msg, "plugin", k->label, NULL);
}

static void sink_counter(void *ctx, const char *name, uint64_t delta)
{
    const wr_sc_sinkctx *k = ctx;
    wr_metrics_plugin(&k->sc->metrics, k->label, name, 0, (double)delta);
}

static void sink_gauge(void *ctx, const char *name, double v)
{
    const wr_sc_sinkctx *k = ctx;
    wr_metrics_plugin(&k->sc->metrics, k->label, name, 1, v);
}

static int sink_creds(void *ctx, weir_plugin_aws_credentials *out)
{
    const wr_sc_sinkctx *k = ctx;
    wr_creds_value v;
    weir_error err = {0};
    if (!k->sc->sink_creds || wr_creds_get(k->sc->sink_creds, &v, &err) != 0)
        return 1;
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", v.access_key_id);
    snprintf(out->secret_access_key, sizeof out->secret_access_key, "%s", v.secret_access_key);
    snprintf(out->session_token, sizeof out->session_token, "%s", v.session_token);
    wr_creds_value_clear(&v);
    return 0;
}

/* "s3-export" for plugin: s3-export or /opt/weir/weir-s3-export.so */
static void sink_label(char *out, size_t size, const char *plugin)
{
    const char *b = strrchr(plugin, '/');
    b = b ? b + 1 : plugin;
    if (!strncmp(b, "weir-", 5))
        b += 5;
    size_t n = 0;
    for (; *b && n + 1 < size && strcmp(b, ".so") != 0; b++)
        out[n++] = (char)((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') || *b == '-'
                              ? *b
                          : (*b >= 'A' && *b <= 'Z') ? *b - 'A' + 'a'
                                                      : '_');
    out[n] = '\0';
}

/* Loads audit.sinks onto the open trail: a sink that cannot start stops the sidecar, as an
 * audit trail that cannot be written does (fail closed). */
static int sinks_open(wr_sc *sc, weir_error *err)
{
    const wr_sc_audit *a = &sc->cfg->audit;
    if (!a->nsinks)
        return 0;
    wr_creds_options co = {0};
    weir_error cerr = {0};
    if (wr_creds_new(&sc->sink_creds, &co, &cerr) != 0) {
        sc->sink_creds = NULL;
        wr_log(WR_LOG_INFO, "no AWS credentials for audit sinks: they use their own",
               "reason", cerr.text, NULL);
    }
    if (!(sc->sinks = calloc(a->nsinks, sizeof *sc->sinks)))
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    /* relative paths are the working directory's, as every path of the configuration */
    int rc = 0;
    for (size_t i = 0; i < a->nsinks && rc == 0; i++) {
        wr_sc_sinkctx *k = &sc->sinks[i];
        k->sc = sc;
        sink_label(k->label, sizeof k->label, a->sinks[i].plugin);
        weir_plugin_host svc;
        memset(&svc, 0, sizeof svc);
        svc.struct_size = sizeof svc;
        svc.ctx = k;
        svc.log = sink_log;
        svc.counter_add = sink_counter;
        svc.gauge_set = sink_gauge;
        svc.aws_credentials = sink_creds;
        rc = weir_audit_add_sink(sc->audit, a->sinks[i].plugin, a->sinks[i].config_json, NULL,
                                 &svc, err);
        if (rc == 0) {
            sc->nsinks++;
            wr_log(WR_LOG_INFO, "audit sink started", "plugin", k->label, NULL);
        }
    }
    return rc;
}

static void audit_gate(wr_sc *sc, const char *event, const char *message)
{
    if (!sc->audit)
        return;
    weir_policy *p = wr_sc_policy(sc, (size_t)-1);
    weir_error err = {0};
    if (weir_audit_record_gate(sc->audit, event, message, p, &err) != 0) {
        atomic_fetch_add(&sc->metrics.audit_failures, 1);
        log_err("audit record not written", &err);
    }
    weir_policy_unref(p);
}

/* ------------------------------------------------------------------ workers */

static void *worker_main(void *arg)
{
    wr_sc_worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void stop_accepting_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wr_sc_worker *w = arg;
    wr_http_server_stop_accepting(w->http);
}

static void loopbreak_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wr_sc_worker *w = arg;
    event_base_loopbreak(w->base);
}

static wr_http_server *admin_server; /* on worker 0's base; outlives drain */

static int workers_start(wr_sc *sc, weir_error *err)
{
    wr_sc_config *cfg = sc->cfg;
    sc->nworkers = cfg->workers ? cfg->workers : 1;
    sc->workers = calloc(sc->nworkers, sizeof *sc->workers);
    int *ports = calloc(cfg->nup + 1, sizeof *ports);
    if (!sc->workers || !ports) {
        free(ports);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    wr_up_options uo = {0};
    uo.connect_timeout_ms = cfg->upstream_connect_timeout_ms;
    int rc = 0;
    for (size_t i = 0; i < sc->nworkers && rc == 0; i++) {
        wr_sc_worker *w = &sc->workers[i];
        w->sc = sc;
        w->id = i;
        w->base = event_base_new();
        w->listeners = calloc(cfg->nup, sizeof *w->listeners);
        if (!w->base || !w->listeners) {
            rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        rc = wr_http_server_new(&w->http, w->base, &cfg->http, err);
        if (rc == 0)
            rc = wr_upstream_new(&w->up, w->base, &uo, err);
        for (size_t u = 0; u < cfg->nup && rc == 0; u++) {
            wr_sc_listener *L = &w->listeners[u];
            *L = (wr_sc_listener){sc, w, &cfg->up[u], u};
            char addr[300];
            const char *a = cfg->up[u].listen;
            if (i > 0 && ports[u]) { /* later workers join the port the first one bound */
                const char *colon = strrchr(a, ':');
                snprintf(addr, sizeof addr, "%.*s:%d", (int)(colon - a), a, ports[u]);
                a = addr;
            }
            int port = 0;
            rc = wr_http_server_listen(w->http, a, &wr_proxy_handler, L, &port, err);
            if (i == 0)
                ports[u] = port;
        }
        if (rc == 0 && i == 0 && cfg->admin) {
            rc = wr_http_server_new(&admin_server, w->base, NULL, err);
            if (rc == 0)
                rc = wr_http_server_listen(admin_server, cfg->admin, &wr_admin_handler, sc,
                                           &ports[cfg->nup], err);
        }
    }
    if (rc == 0) {
        for (size_t u = 0; u < cfg->nup; u++) {
            char port[16];
            snprintf(port, sizeof port, "%d", ports[u]);
            wr_log(WR_LOG_INFO, "listening", "upstream", cfg->up[u].name, "kind",
                   wr_up_kind_name(cfg->up[u].kind), "listen", cfg->up[u].listen, "port", port,
                   "endpoint", cfg->up[u].endpoint, "region", cfg->up[u].region, NULL);
        }
        if (cfg->admin) {
            char port[16];
            snprintf(port, sizeof port, "%d", ports[cfg->nup]);
            wr_log(WR_LOG_INFO, "admin listening", "listen", cfg->admin, "port", port, NULL);
        }
        for (size_t i = 0; i < sc->nworkers && rc == 0; i++) {
            if (pthread_create(&sc->workers[i].thread, NULL, worker_main, &sc->workers[i]) != 0)
                rc = wr_error_set(err, WEIR_EIO, NULL, 0, 0, "cannot start a worker thread");
            else
                sc->workers[i].started = 1;
        }
    }
    free(ports);
    return rc;
}

static void workers_stop(wr_sc *sc)
{
    for (size_t i = 0; i < sc->nworkers; i++) {
        wr_sc_worker *w = &sc->workers[i];
        if (w->started) {
            event_base_once(w->base, -1, EV_TIMEOUT, loopbreak_cb, w, NULL);
            pthread_join(w->thread, NULL);
        }
    }
    for (size_t i = 0; i < sc->nworkers; i++) {
        wr_sc_worker *w = &sc->workers[i];
        if (i == 0) {
            wr_http_server_free(admin_server);
            admin_server = NULL;
        }
        wr_http_server_free(w->http); /* in-flight requests get on_abort */
        wr_upstream_free(w->up);
        free(w->listeners);
        if (w->base)
            event_base_free(w->base);
    }
    free(sc->workers);
    sc->workers = NULL;
}

/* ------------------------------------------------------------------ reload */

typedef struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int ok;
} file_stamp;

static file_stamp stamp_of(const char *path)
{
    file_stamp s = {0};
    struct stat st;
    if (path && stat(path, &st) == 0) {
        s = (file_stamp){st.st_dev, st.st_ino, st.st_size, st.st_mtim, 1};
    }
    return s;
}

static int stamp_eq(const file_stamp *a, const file_stamp *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Reloads one policy file into *slot (under policy_mu). */
static void reload_one(wr_sc *sc, const char *path, weir_policy **slot, const char *why)
{
    weir_policy *np = NULL;
    weir_error err = {0};
    if (load_policy(path, &np, &err) != 0) {
        char buf[600];
        const char *msg = weir_error_format(&err, buf, sizeof buf);
        atomic_fetch_add(&sc->metrics.reload_failed, 1);
        wr_log(WR_LOG_ERROR, "policy reload refused; the previous policy keeps serving",
               "trigger", why, "file", path, "error", msg, NULL);
        audit_gate(sc, "PolicyReloadRefused", msg);
        return;
    }
    pthread_mutex_lock(&sc->policy_mu);
    weir_policy *old = *slot;
    *slot = np;
    pthread_mutex_unlock(&sc->policy_mu);
    int same = old && strcmp(weir_policy_digest(old), weir_policy_digest(np)) == 0;
    weir_policy_unref(old);
    atomic_fetch_add(&sc->metrics.reload_ok, 1);
    wr_log(WR_LOG_INFO, same ? "policy reloaded (unchanged)" : "policy reloaded", "trigger", why,
           "file", path, "policy", weir_policy_name(np), "digest", weir_policy_digest(np), NULL);
    audit_gate(sc, "PolicyReloadAccepted", why);
}

static void reload(wr_sc *sc, const char *why)
{
    if (sc->cfg->policy)
        reload_one(sc, sc->cfg->policy, &sc->policy, why);
    for (size_t i = 0; i < sc->cfg->nup; i++)
        if (sc->cfg->up[i].policy)
            reload_one(sc, sc->cfg->up[i].policy, &sc->ups[i].policy, why);
}

/* ------------------------------------------------------------------ run */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void drain(wr_sc *sc)
{
    atomic_store(&sc->draining, 1);
    for (size_t i = 0; i < sc->nworkers; i++)
        event_base_once(sc->workers[i].base, -1, EV_TIMEOUT, stop_accepting_cb, &sc->workers[i],
                        NULL);
    double t0 = mono_ms();
    unsigned limit = sc->cfg->drain_timeout_ms ? sc->cfg->drain_timeout_ms : 30000;
    long n = 0;
    while ((n = atomic_load(&sc->metrics.in_flight)) > 0 && mono_ms() - t0 < limit) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", n);
    wr_log(n ? WR_LOG_WARN : WR_LOG_INFO, n ? "drain timed out; aborting in-flight requests"
                                            : "drained",
           "in_flight", buf, NULL);
}

int wr_sidecar_run(wr_sc_config *cfg)
{
    wr_log_set_level(cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit: only the main thread waits */
    evthread_use_pthreads();

    wr_sc *sc = calloc(1, sizeof *sc);
    if (!sc)
        return 2;
    sc->cfg = cfg;
    sc->started_at = time(NULL);
    pthread_mutex_init(&sc->policy_mu, NULL);
    weir_error err = {0};
    int status = 2;
    const char **names = calloc(cfg->nup ? cfg->nup : 1, sizeof *names);
    sc->ups = calloc(cfg->nup ? cfg->nup : 1, sizeof *sc->ups);
    if (!names || !sc->ups)
        goto out;
    for (size_t i = 0; i < cfg->nup; i++)
        names[i] = cfg->up[i].name;
    if (wr_metrics_init(&sc->metrics, names, cfg->nup) != 0)
        goto out;

    if (load_policy(cfg->policy, &sc->policy, &err) != 0) {
        log_err("cannot load the policy", &err);
        goto out;
    }
    wr_log(WR_LOG_INFO, "policy loaded", "policy", weir_policy_name(sc->policy), "digest",
           weir_policy_digest(sc->policy), "file", cfg->policy ? cfg->policy : "(embedded default)",
           NULL);
    for (size_t i = 0; i < cfg->nup; i++) {
        if (cfg->up[i].policy && load_policy(cfg->up[i].policy, &sc->ups[i].policy, &err) != 0) {
            log_err("cannot load an upstream's policy", &err);
            goto out;
        }
        if (cfg->up[i].policy)
            wr_log(WR_LOG_INFO, "policy loaded", "upstream", cfg->up[i].name, "policy",
                   weir_policy_name(sc->ups[i].policy), "digest",
                   weir_policy_digest(sc->ups[i].policy), "file", cfg->up[i].policy, NULL);
        if (upstate_init(&sc->ups[i], &cfg->up[i], &err) != 0) {
            log_err("cannot set up an upstream", &err);
            goto out;
        }
        if (wr_sc_identity_init(sc, i, &err) != 0) {
            log_err("cannot set up the caller identity source", &err);
            goto out;
        }
    }
    if (wr_sc_workload_identity(sc, &err) != 0) {
        log_err("cannot learn the sidecar's own role (identity: workload)", &err);
        goto out;
    }
    if (audit_open(sc, &err) != 0) {
        log_err("cannot open the audit trail", &err);
        goto out;
    }
    if (workers_start(sc, &err) != 0) {
        log_err("cannot start listening", &err);
        goto out;
    }
    atomic_store(&sc->ready, 1);
    audit_gate(sc, "GateStart", "weir serve started");
    wr_log(WR_LOG_INFO, "ready", "version", WR_SIDECAR_VERSION, NULL);

    size_t nfiles = cfg->nup + 1;
    file_stamp *st = calloc(nfiles, sizeof *st);
    const char **files = calloc(nfiles, sizeof *files);
    if (!st || !files) {
        free(st);
        free(files);
        goto stop;
    }
    files[0] = cfg->policy;
    for (size_t i = 0; i < cfg->nup; i++)
        files[i + 1] = cfg->up[i].policy;
    for (size_t i = 0; i < nfiles; i++)
        st[i] = stamp_of(files[i]);
    double last_poll = mono_ms();
    for (;;) {
        struct timespec to = {1, 0};
        int sig = sigtimedwait(&set, NULL, &to);
        if (sig == SIGTERM || sig == SIGINT) {
            wr_log(WR_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                   NULL);
            break;
        }
        if (sig == SIGHUP) {
            reload(sc, "SIGHUP");
            for (size_t i = 0; i < nfiles; i++)
                st[i] = stamp_of(files[i]);
            continue;
        }
        if (mono_ms() - last_poll >= 2000) {
            last_poll = mono_ms();
            for (size_t i = 0; i < nfiles; i++) {
                if (!files[i])
                    continue;
                file_stamp now = stamp_of(files[i]);
                if (stamp_eq(&now, &st[i]))
                    continue;
                st[i] = now;
                if (now.ok)
                    reload_one(sc, files[i], i ? &sc->ups[i - 1].policy : &sc->policy,
                               "file changed");
            }
        }
    }
    free(st);
    free(files);
stop:
    drain(sc);
    status = 0;
out:
    if (sc->workers)
        workers_stop(sc);
    if (sc->audit) {
        audit_gate(sc, "GateStop", "weir serve stopped");
        weir_error ferr = {0};
        if (weir_audit_flush(sc->audit, &ferr) != 0) {
            log_err("audit flush failed", &ferr);
            status = status ? status : 1;
        }
        /* the last log and digest were just offered to the sinks: give them time to deliver;
         * what they cannot stays on disk and goes at the next start */
        if (sc->nsinks &&
            weir_audit_flush_sinks(sc->audit, cfg->audit.sink_flush_timeout_ms, &ferr) != 0)
            log_err("audit sinks did not deliver everything before exit", &ferr);
        weir_audit_close(sc->audit);
    }
    free(sc->sinks);
    wr_creds_free(sc->sink_creds);
    for (size_t i = 0; sc->ups && i < cfg->nup; i++)
        upstate_free(&sc->ups[i]);
    free(sc->ups);
    weir_policy_unref(sc->policy);
    wr_metrics_free(&sc->metrics);
    free(names);
    pthread_mutex_destroy(&sc->policy_mu);
    free(sc);
    if (status == 0)
        wr_log(WR_LOG_INFO, "stopped", NULL);
    return status;
}
