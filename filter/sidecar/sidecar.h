/*
 * sidecar.h - `weir serve`: the sidecar's shared state and the pieces that tie the server,
 * the upstream client, credentials and the library together. Internal.
 *
 * Threads: `workers` event-loop threads, each with its own event_base, wr_http_server
 * (every upstream's listener, SO_REUSEPORT) and wr_upstream; worker 0 also serves the
 * admin listener. The main thread handles signals, policy reload and drain. Shared state
 * (policy pointer, metrics, audit trail, credentials) is thread-safe.
 */
#ifndef WEIR_SIDECAR_SIDECAR_H
#define WEIR_SIDECAR_SIDECAR_H

#include <pthread.h>
#include <stdatomic.h>

#include <event2/event.h>

#include "weir/audit.h"
#include "weir/weir.h"

#include "internal.h"
#include "sidecar/config.h"
#include "sidecar/creds.h"
#include "sidecar/http.h"
#include "sidecar/metrics.h"
#include "sidecar/upstream.h"

#define WR_SIDECAR_VERSION "0.1.0"

/** "weir/0.1.0" for the Server header and logs. Static. */
const char *wr_sidecar_server_name(void);

typedef struct wr_sc wr_sc;
typedef struct wr_sc_worker wr_sc_worker;

/** What one upstream listener needs at request time (one per upstream per worker). */
typedef struct wr_sc_listener {
    wr_sc *sc;
    wr_sc_worker *worker;
    const wr_sc_upstream *cfg;
    size_t index;              /**< upstream index in the config */
} wr_sc_listener;

struct wr_sc_worker {
    wr_sc *sc;
    size_t id;
    pthread_t thread;
    struct event_base *base;
    wr_http_server *http;
    wr_upstream *up;
    wr_sc_listener *listeners; /**< one per upstream */
    struct event *wake;        /**< drain / stop requests from the main thread */
    int started;
};

/** Per-upstream state shared by the workers. */
typedef struct wr_sc_upstate {
    wr_creds *creds;           /**< bedrock kinds */
    char *api_key;             /**< azure api-key (secret; wiped at exit) */
    char *bearer;              /**< azure bearer token (secret) */
    char host[300];            /**< endpoint authority as signed and sent: host[:port] */
    char signing_name[32];     /**< "bedrock" / "bedrock-mantle" */
    weir_policy *policy;       /**< per-upstream policy (NULL: the global one); under policy_mu */
    char *workload_arn;        /**< identity source workload: the sidecar's own role */
    void *jwks;                /**< identity source jwt: wr_jwks_source * */
    void *sts_cache;           /**< identity source sts: wr_sts_cache * */
} wr_sc_upstate;

struct wr_sc {
    wr_sc_config *cfg;
    pthread_mutex_t policy_mu;
    weir_policy *policy;       /**< current global policy (ref held) */
    wr_sc_upstate *ups;        /**< cfg->nup */
    weir_audit *audit;         /**< NULL: no trail */
    wr_sc_metrics metrics;
    wr_sc_worker *workers;
    size_t nworkers;
    atomic_int draining;       /**< 1 once SIGTERM: /readyz says no, listeners closed */
    atomic_int ready;
    time_t started_at;
    struct wr_sc_sinkctx *sinks; /**< per audit sink: its metrics label and services */
    size_t nsinks;
    wr_creds *sink_creds;      /**< AWS credentials offered to sinks (NULL: none found) */
};

/** A new reference to the policy for upstream i (caller unrefs). */
weir_policy *wr_sc_policy(wr_sc *sc, size_t upstream);

/** Runs the sidecar until SIGTERM/SIGINT; returns the process exit status. */
int wr_sidecar_run(wr_sc_config *cfg);

/* ---- proxy.c: the handler of an upstream listener */
extern const wr_http_handler wr_proxy_handler;
/* ---- admin.c: /healthz /readyz /metrics */
extern const wr_http_handler wr_admin_handler;

#endif
