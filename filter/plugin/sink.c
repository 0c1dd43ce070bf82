/*
 * sink.c - audit sink plugin instances. Owned by a weir_audit (filter/audit/audit.c), which
 * offers each finished log and digest file and, when the sink wants them, each record.
 */
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "plugin/loader.h"

struct wr_psink {
    wr_plugin *pl;
    const weir_plugin *desc;
    void *inst;
    int created; /* sink_create succeeded: destroy is owed (inst may be NULL) */
    wr_hostblk hb;
    char *name;
};

int wr_psink_new(wr_psink **out, const char *name, const char *base_dir, const char *config_json,
                 const weir_sink_trail *trail, const weir_plugin_host *services,
                 weir_error *err)
{
    *out = NULL;
    wr_psink *s = calloc(1, sizeof *s);
    if (!s)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
    int rc = wr_plugin_open(&s->pl, name, base_dir, WEIR_PLUGIN_AUDIT_SINK, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->desc = wr_plugin_desc(s->pl);
    s->name = wr_strdup(s->desc->name ? s->desc->name : name);
    if (!s->name || wr_hostblk_init(&s->hb, name, base_dir, 0, services) != 0) {
        wr_psink_free(s);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory loading a plugin");
    }
    const char *cfg = config_json ? config_json : "{}";
    char msg[200] = "";
    rc = s->desc->sink_create(&s->hb.host, cfg, strlen(cfg), trail, &s->inst, msg, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    if (rc != 0) {
        rc = wr_error_set(err, WEIR_EINVAL, NULL, 0, 0,
                          "audit sink plugin '%.80s' (%.100s) refused to start: %.150s",
                          s->name, wr_plugin_file(s->pl),
                          msg[0] ? msg : "sink_create failed and gave no reason");
        wr_psink_free(s);
        return rc;
    }
    s->created = 1;
    *out = s;
    return 0;
}

int wr_psink_file(wr_psink *s, const weir_sink_file *f)
{
    return s->desc->sink_file(s->inst, f);
}

int wr_psink_record(wr_psink *s, const char *json, size_t len)
{
    return s->desc->sink_record ? s->desc->sink_record(s->inst, json, len) : 0;
}

int wr_psink_flush(wr_psink *s, unsigned timeout_ms)
{
    return s->desc->sink_flush(s->inst, timeout_ms);
}

const char *wr_psink_name(const wr_psink *s)
{
    return s->name;
}

void wr_psink_free(wr_psink *s)
{
    if (!s)
        return;
    if (s->created)
        s->desc->sink_destroy(s->inst);
    wr_hostblk_release(&s->hb);
    wr_plugin_close(s->pl);
    free(s->name);
    free(s);
}
