/*
 * admin.c - the admin listener: /healthz (the process answers), /readyz (policy loaded,
 * upstream configuration valid, audit trail writable, not draining) and /metrics
 * (Prometheus text format 0.0.4).
 */
#include <string.h>

#include "sidecar/log.h"
#include "sidecar/sidecar.h"

static void text(wr_http_req *r, int status, const char *ctype, const char *body, size_t len)
{
    wr_http_header h[1] = {{"content-type", 12, ctype, strlen(ctype)}};
    wr_http_respond(r, status, h, 1, body, len);
}

/* Why the sidecar is not ready, or NULL when it is. */
static const char *not_ready(wr_sc *sc)
{
    if (atomic_load(&sc->draining))
        return "draining";
    if (!atomic_load(&sc->ready))
        return "starting";
    weir_policy *p = wr_sc_policy(sc, 0);
    if (!p)
        return "no policy loaded";
    weir_policy_unref(p);
    if (sc->audit && !weir_audit_healthy(sc->audit) && !sc->cfg->audit.fail_open)
        return "audit trail not writable";
    return NULL;
}

static void render_extra(wr_sc *sc, wr_buf *o)
{
    weir_policy *p = wr_sc_policy(sc, 0);
    if (p) {
        wr_buf_printf(o, "# HELP weir_policy_info The policy in force.\n"
                         "# TYPE weir_policy_info gauge\n"
                         "weir_policy_info{name=\"%s\",digest=\"%s\"} 1\n",
                      weir_policy_name(p), weir_policy_digest(p));
        weir_policy_unref(p);
    }
    wr_buf_printf(o, "# HELP weir_ready 1 when /readyz answers 200.\n# TYPE weir_ready gauge\n"
                     "weir_ready %d\n", not_ready(sc) ? 0 : 1);
    if (sc->audit)
        wr_buf_printf(o, "# HELP weir_audit_healthy 1 when the audit trail is writable.\n"
                         "# TYPE weir_audit_healthy gauge\nweir_audit_healthy %d\n",
                      weir_audit_healthy(sc->audit) ? 1 : 0);
    wr_buf_puts(o, "# HELP weir_credentials_refreshes_total AWS credential refreshes.\n"
                   "# TYPE weir_credentials_refreshes_total counter\n");
    for (size_t i = 0; i < sc->cfg->nup; i++) {
        if (!sc->ups[i].creds)
            continue;
        unsigned long ok = 0, bad = 0;
        wr_creds_stats(sc->ups[i].creds, &ok, &bad);
        wr_buf_printf(o,
                      "weir_credentials_refreshes_total{upstream=\"%s\",result=\"ok\"} %lu\n"
                      "weir_credentials_refreshes_total{upstream=\"%s\",result=\"failed\"} %lu\n",
                      sc->cfg->up[i].name, ok, sc->cfg->up[i].name, bad);
    }
    wr_buf_printf(o, "# HELP weir_start_time_seconds Start time of the process.\n"
                     "# TYPE weir_start_time_seconds gauge\nweir_start_time_seconds %lld\n",
                  (long long)sc->started_at);
}

static void admin_on_request(wr_http_req *r, void *user)
{
    wr_sc *sc = user;
    const char *t = wr_http_req_target(r);
    size_t n = strcspn(t, "?");
    const char *m = wr_http_req_method(r);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        text(r, 405, "text/plain", "method not allowed\n", 19);
        return;
    }
    if (n == 8 && memcmp(t, "/healthz", 8) == 0) {
        text(r, 200, "text/plain", "ok\n", 3);
    } else if (n == 7 && memcmp(t, "/readyz", 7) == 0) {
        const char *why = not_ready(sc);
        if (!why) {
            text(r, 200, "text/plain", "ready\n", 6);
        } else {
            wr_buf b;
            wr_buf_init(&b);
            wr_buf_printf(&b, "not ready: %s\n", why);
            text(r, 503, "text/plain", b.data ? b.data : "", b.len);
            wr_buf_free(&b);
        }
    } else if (n == 8 && memcmp(t, "/metrics", 8) == 0) {
        wr_buf b;
        wr_buf_init(&b);
        wr_metrics_render(&sc->metrics, &b);
        render_extra(sc, &b);
        if (b.oom)
            text(r, 500, "text/plain", "out of memory\n", 14);
        else
            text(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
        wr_buf_free(&b);
    } else {
        text(r, 404, "text/plain", "not found: try /healthz, /readyz or /metrics\n", 45);
    }
}

const wr_http_handler wr_admin_handler = {admin_on_request, NULL, NULL, NULL};
