/*
 * metrics.h - the sidecar's counters and histograms, rendered in the Prometheus text
 * format on the admin listener's /metrics. Lock-free atomics on the request path; the
 * per-rule counters take a mutex (only when a rule fired).
 */
#ifndef WEIR_SIDECAR_METRICS_H
#define WEIR_SIDECAR_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "internal.h"

/** What happened to a request, as a metrics label. */
typedef enum wr_decision {
    WR_DEC_ALLOW = 0, WR_DEC_LOG, WR_DEC_REDACT, WR_DEC_BLOCK, WR_DEC_DENY, WR_DEC_ERROR,
    WR_DEC__N
} wr_decision;
const char *wr_decision_name(wr_decision d);

/** Operations, as a metrics label and audit event name. */
typedef enum wr_op {
    WR_OP_INVOKE = 0, WR_OP_INVOKE_STREAM, WR_OP_CONVERSE, WR_OP_CONVERSE_STREAM,
    WR_OP_APPLY_GUARDRAIL, WR_OP_CHAT, WR_OP_RESPONSES, WR_OP_EMBEDDINGS, WR_OP_UNKNOWN,
    WR_OP__N
} wr_op;
/** "InvokeModel", "ConverseStream", "ChatCompletions", ... */
const char *wr_op_name(wr_op op);

#define WR_HIST_BUCKETS 16

typedef struct wr_hist {
    atomic_ulong bucket[WR_HIST_BUCKETS + 1]; /* last: +Inf */
    atomic_ulong sum_us;
    atomic_ulong count;
} wr_hist;

typedef struct wr_sc_up_metrics {
    atomic_ulong requests[WR_OP__N][WR_DEC__N];
    atomic_ulong upstream_errors[16];    /* by wr_up_result */
    atomic_ulong upstream_status[6];     /* 1xx..5xx, [0] other */
    atomic_ulong rejected;               /* refused by the server (431, 408, 400) */
    atomic_ulong streams_held_max;       /* most bytes ever held back by one stream */
    wr_hist gate;                        /* time to decide the prompt */
    wr_hist upstream;                    /* upstream: request sent -> response complete */
    wr_hist ttfb;                        /* upstream: request sent -> first byte */
} wr_sc_up_metrics;

typedef struct wr_rule_count {
    char *rule;
    int completion;                      /* 0 prompt, 1 completion */
    int action;                          /* weir_action */
    unsigned long count;
} wr_rule_count;

/** A plugin's own counter or gauge (weir_plugin_host.counter_add / gauge_set). */
typedef struct wr_plugin_stat {
    char *plugin, *name;
    int gauge;                           /* 0 counter, 1 gauge */
    double value;
} wr_plugin_stat;

typedef struct wr_sc_metrics {
    wr_sc_up_metrics *up;
    const char **up_names;
    size_t nup;
    atomic_ulong reload_ok, reload_failed;
    atomic_ulong audit_failures;
    atomic_long in_flight;
    pthread_mutex_t rules_mu;
    wr_rule_count *rules;
    size_t nrules, cap;
    wr_plugin_stat *pstats;              /* under rules_mu */
    size_t npstats, pcap;
} wr_sc_metrics;

int wr_metrics_init(wr_sc_metrics *m, const char **up_names, size_t nup);
void wr_metrics_free(wr_sc_metrics *m);
void wr_hist_observe(wr_hist *h, double ms);
void wr_metrics_rule(wr_sc_metrics *m, const char *rule, int completion, int action);
/** A plugin's counter (gauge 0: adds v) or gauge (gauge 1: sets v). `name` is checked:
 *  [a-z0-9_], at most 64; others are dropped. At most 256 per process. */
void wr_metrics_plugin(wr_sc_metrics *m, const char *plugin, const char *name, int gauge,
                       double v);
/** Appends the Prometheus exposition (text format 0.0.4). extra: lines appended verbatim. */
int wr_metrics_render(wr_sc_metrics *m, wr_buf *out);

#endif
