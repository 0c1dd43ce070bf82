/* metrics.c - counters, histograms and their Prometheus text rendering (see metrics.h). */
#include "sidecar/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "sidecar/upstream.h"
#include "weir/weir.h"

static const char *const decision_names[WR_DEC__N] = {"allow", "log", "redact", "block",
                                                      "deny", "error"};
static const char *const op_names[WR_OP__N] = {
    "InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream",
    "ApplyGuardrail", "ChatCompletions", "Responses", "Embeddings", "Unknown"};

/* bucket upper bounds, milliseconds */
static const double bounds_ms[WR_HIST_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                                  25, 50, 100, 250, 500, 1000, 5000, 30000};

const char *wr_decision_name(wr_decision d)
{
    return (unsigned)d < WR_DEC__N ? decision_names[d] : "error";
}

const char *wr_op_name(wr_op op) { return (unsigned)op < WR_OP__N ? op_names[op] : "Unknown"; }

int wr_metrics_init(wr_sc_metrics *m, const char **up_names, size_t nup)
{
    memset(m, 0, sizeof *m);
    m->up = calloc(nup ? nup : 1, sizeof *m->up);
    if (!m->up)
        return WEIR_ENOMEM;
    m->up_names = up_names;
    m->nup = nup;
    pthread_mutex_init(&m->rules_mu, NULL);
    return 0;
}

void wr_metrics_free(wr_sc_metrics *m)
{
    if (!m || !m->up)
        return;
    for (size_t i = 0; i < m->nrules; i++)
        free(m->rules[i].rule);
    free(m->rules);
    for (size_t i = 0; i < m->npstats; i++) {
        free(m->pstats[i].plugin);
        free(m->pstats[i].name);
    }
    free(m->pstats);
    free(m->up);
    pthread_mutex_destroy(&m->rules_mu);
    memset(m, 0, sizeof *m);
}

void wr_hist_observe(wr_hist *h, double ms)
{
    size_t i = 0;
    while (i < WR_HIST_BUCKETS && ms > bounds_ms[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long)(ms * 1000.0 + 0.5),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void wr_metrics_rule(wr_sc_metrics *m, const char *rule, int completion, int action)
{
    if (!rule)
        return;
    pthread_mutex_lock(&m->rules_mu);
    for (size_t i = 0; i < m->nrules; i++) {
        wr_rule_count *r = &m->rules[i];
        if (r->completion == completion && r->action == action && strcmp(r->rule, rule) == 0) {
            r->count++;
            pthread_mutex_unlock(&m->rules_mu);
            return;
        }
    }
    if (m->nrules < 4096) {
        wr_rule_count *v = wr_grow(m->rules, &m->cap, m->nrules + 1, sizeof *m->rules, 16);
        char *dup = v ? wr_strdup(rule) : NULL;
        if (v)
            m->rules = v;
        if (dup)
            m->rules[m->nrules++] = (wr_rule_count){dup, completion, action, 1};
    }
    pthread_mutex_unlock(&m->rules_mu);
}

static unsigned long ld(atomic_ulong *v) { return atomic_load_explicit(v, memory_order_relaxed); }

static void render_hist(wr_buf *o, const char *name, const char *up, wr_hist *h)
{
    unsigned long cum = 0;
    for (size_t i = 0; i <= WR_HIST_BUCKETS; i++) {
        cum += ld(&h->bucket[i]);
        if (i < WR_HIST_BUCKETS)
            wr_buf_printf(o, "%s_bucket{upstream=\"%s\",le=\"%g\"} %lu\n", name, up,
                          bounds_ms[i] / 1000.0, cum);
        else
            wr_buf_printf(o, "%s_bucket{upstream=\"%s\",le=\"+Inf\"} %lu\n", name, up, cum);
    }
    wr_buf_printf(o, "%s_sum{upstream=\"%s\"} %.6f\n", name, up, ld(&h->sum_us) / 1e6);
    wr_buf_printf(o, "%s_count{upstream=\"%s\"} %lu\n", name, up, ld(&h->count));
}

static int stat_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

void wr_metrics_plugin(wr_sc_metrics *m, const char *plugin, const char *name, int gauge,
                       double v)
{
    if (!plugin || !name || !stat_name_ok(name))
        return;
    pthread_mutex_lock(&m->rules_mu);
    for (size_t i = 0; i < m->npstats; i++) {
        wr_plugin_stat *st = &m->pstats[i];
        if (st->gauge == gauge && !strcmp(st->name, name) && !strcmp(st->plugin, plugin)) {
            st->value = gauge ? v : st->value + v;
            pthread_mutex_unlock(&m->rules_mu);
            return;
        }
    }
    if (m->npstats < 256) {
        wr_plugin_stat *nv = wr_grow(m->pstats, &m->pcap, m->npstats + 1, sizeof *nv, 8);
        if (nv) {
            m->pstats = nv;
            char *a = wr_strdup(plugin), *b = wr_strdup(name);
            if (a && b)
                m->pstats[m->npstats++] = (wr_plugin_stat){a, b, gauge, v};
            else {
                free(a);
                free(b);
            }
        }
    }
    pthread_mutex_unlock(&m->rules_mu);
}

int wr_metrics_render(wr_sc_metrics *m, wr_buf *o)
{
    wr_buf_puts(o, "# HELP weir_requests_total Requests by upstream, operation and decision.\n"
                   "# TYPE weir_requests_total counter\n");
    for (size_t u = 0; u < m->nup; u++)
        for (int op = 0; op < WR_OP__N; op++)
            for (int d = 0; d < WR_DEC__N; d++) {
                unsigned long v = ld(&m->up[u].requests[op][d]);
                if (v)
                    wr_buf_printf(o,
                                  "weir_requests_total{upstream=\"%s\",operation=\"%s\","
                                  "decision=\"%s\"} %lu\n",
                                  m->up_names[u], op_names[op], decision_names[d], v);
            }
    wr_buf_puts(o, "# HELP weir_rule_hits_total Findings by rule, direction and action.\n"
                   "# TYPE weir_rule_hits_total counter\n");
    pthread_mutex_lock(&m->rules_mu);
    for (size_t i = 0; i < m->nrules; i++) {
        wr_rule_count *r = &m->rules[i];
        wr_buf_printf(o, "weir_rule_hits_total{rule=\"%s\",direction=\"%s\",action=\"%s\"} %lu\n",
                      r->rule, r->completion ? "completion" : "prompt",
                      weir_action_name((weir_action)r->action), r->count);
    }
    wr_buf_puts(o, "# HELP weir_plugin_events_total Counters reported by plugins (e.g. "
                   "s3-export uploads, upload_failures).\n"
                   "# TYPE weir_plugin_events_total counter\n");
    for (size_t i = 0; i < m->npstats; i++)
        if (!m->pstats[i].gauge)
            wr_buf_printf(o, "weir_plugin_events_total{plugin=\"%s\",name=\"%s\"} %.0f\n",
                          m->pstats[i].plugin, m->pstats[i].name, m->pstats[i].value);
    wr_buf_puts(o, "# HELP weir_plugin_gauge Gauges reported by plugins (e.g. s3-export "
                   "pending_files).\n"
                   "# TYPE weir_plugin_gauge gauge\n");
    for (size_t i = 0; i < m->npstats; i++)
        if (m->pstats[i].gauge)
            wr_buf_printf(o, "weir_plugin_gauge{plugin=\"%s\",name=\"%s\"} %g\n",
                          m->pstats[i].plugin, m->pstats[i].name, m->pstats[i].value);
    pthread_mutex_unlock(&m->rules_mu);
    wr_buf_puts(o, "# HELP weir_upstream_errors_total Upstream calls that failed, by reason.\n"
                   "# TYPE weir_upstream_errors_total counter\n");
    for (size_t u = 0; u < m->nup; u++)
        for (int r = 1; r < 16; r++) {
            unsigned long v = ld(&m->up[u].upstream_errors[r]);
            if (v)
                wr_buf_printf(o, "weir_upstream_errors_total{upstream=\"%s\",reason=\"%s\"} %lu\n",
                              m->up_names[u], wr_up_result_name((wr_up_result)r), v);
        }
    wr_buf_puts(o, "# HELP weir_upstream_responses_total Upstream responses by status class.\n"
                   "# TYPE weir_upstream_responses_total counter\n");
    for (size_t u = 0; u < m->nup; u++)
        for (int c = 1; c < 6; c++) {
            unsigned long v = ld(&m->up[u].upstream_status[c]);
            if (v)
                wr_buf_printf(o, "weir_upstream_responses_total{upstream=\"%s\",code=\"%dxx\"} %lu\n",
                              m->up_names[u], c, v);
        }
    wr_buf_puts(o, "# HELP weir_rejected_total Connections or requests refused before routing "
                   "(431, 408, 400).\n# TYPE weir_rejected_total counter\n");
    for (size_t u = 0; u < m->nup; u++)
        wr_buf_printf(o, "weir_rejected_total{upstream=\"%s\"} %lu\n", m->up_names[u],
                      ld(&m->up[u].rejected));
    wr_buf_puts(o, "# HELP weir_stream_held_bytes_max Most completion bytes one stream held back.\n"
                   "# TYPE weir_stream_held_bytes_max gauge\n");
    for (size_t u = 0; u < m->nup; u++)
        wr_buf_printf(o, "weir_stream_held_bytes_max{upstream=\"%s\"} %lu\n", m->up_names[u],
                      ld(&m->up[u].streams_held_max));
    static const char *const hn[3] = {"weir_gate_duration_seconds",
                                      "weir_upstream_duration_seconds",
                                      "weir_upstream_first_byte_seconds"};
    static const char *const hh[3] = {"Time weir spent deciding on a prompt.",
                                      "Upstream call, request sent to response complete.",
                                      "Upstream call, request sent to first response byte."};
    for (int k = 0; k < 3; k++) {
        wr_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", hn[k], hh[k], hn[k]);
        for (size_t u = 0; u < m->nup; u++) {
            wr_hist *h = k == 0 ? &m->up[u].gate : k == 1 ? &m->up[u].upstream : &m->up[u].ttfb;
            render_hist(o, hn[k], m->up_names[u], h);
        }
    }
    wr_buf_printf(o,
                  "# HELP weir_policy_reloads_total Policy reloads by result.\n"
                  "# TYPE weir_policy_reloads_total counter\n"
                  "weir_policy_reloads_total{result=\"accepted\"} %lu\n"
                  "weir_policy_reloads_total{result=\"refused\"} %lu\n"
                  "# HELP weir_audit_failures_total Audit records that could not be written.\n"
                  "# TYPE weir_audit_failures_total counter\n"
                  "weir_audit_failures_total %lu\n"
                  "# HELP weir_in_flight Requests being handled.\n"
                  "# TYPE weir_in_flight gauge\n"
                  "weir_in_flight %ld\n",
                  ld(&m->reload_ok), ld(&m->reload_failed), ld(&m->audit_failures),
                  atomic_load(&m->in_flight));
    return 0;
}
