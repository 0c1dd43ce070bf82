/*
 * record.c - one CloudTrail-shaped record per decision (reference/cloudtrail.md §2-§4).
 *
 * Never written: the checked text, matched values, or anything derived from them without
 * the HMAC key. Findings carry rule, detector, entity, counts and, when a hash key is set,
 * "hmac-sha256:<16 hex>" of each distinct matched value.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "audit/writer.h"
#include "engine/engine.h"

static time_t (*g_clock)(void);

time_t wr_audit_now(void)
{
    return g_clock ? g_clock() : time(NULL);
}

void wr_audit_set_clock_for_tests(time_t (*clock)(void))
{
    g_clock = clock;
}

void wr_audit_fmt_time(char out[WR_AUDIT_TIME_LEN + 1], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, WR_AUDIT_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

time_t wr_audit_parse_time(const char *s)
{
    if (!s || strlen(s) != WR_AUDIT_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return -1;
    return (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + se);
}

int wr_audit_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return WEIR_EINTERNAL;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    wr_hex(hex, b, sizeof b);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return 0;
}

/* ------------------------------------------------------------------ JSON helpers */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * A JSON string from caller bytes: invalid UTF-8 becomes '?', cut at `max` bytes on a
 * character boundary. NULL s gives JSON null. Returns NULL only when out of memory.
 */
static json_t *jstr(const char *s, size_t max)
{
    if (!s)
        return json_null();
    size_t n = strlen(s);
    if (n > max)
        n = max;
    char *tmp = wr_malloc(n + 1);
    if (!tmp)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0) {
            tmp[o++] = '?';
            i++;
        } else {
            memcpy(tmp + o, s + i, k);
            o += k;
            i += k;
        }
    }
    json_t *j = json_stringn(tmp, o);
    free(tmp);
    return j;
}

/* Sets key to v, stealing v; a NULL v (out of memory) sets the sticky flag. */
static void put(json_t *o, const char *key, json_t *v, int *oom)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *oom = 1;
}

static json_t *ms_value(double ms)
{
    if (!(ms >= 0) || ms > 1e12) /* NaN, negative, absurd */
        ms = 0;
    return json_real((double)(long long)(ms * 1000.0 + 0.5) / 1000.0); /* microseconds */
}

static const char *provider_name(weir_provider p)
{
    switch (p) {
    case WEIR_PROVIDER_BEDROCK:
        return "bedrock";
    case WEIR_PROVIDER_AZURE:
        return "azure";
    default:
        return "unspecified";
    }
}

static const char *direction_name(weir_direction d)
{
    return d == WEIR_COMPLETION ? "completion" : "prompt";
}

/* ------------------------------------------------------------------ userIdentity */

/*
 * Splits "arn:PART:SERVICE:REGION:ACCOUNT:RESOURCE". Returns 1 when s looks like an ARN.
 * Pointers are into s; lengths via the next field's start.
 */
typedef struct arn_parts {
    const char *part, *service, *region, *account, *resource;
    size_t part_len, service_len, account_len;
} arn_parts;

static int arn_split(const char *s, arn_parts *a)
{
    if (strncmp(s, "arn:", 4) != 0)
        return 0;
    const char *f[5];
    f[0] = s + 4;
    for (int i = 1; i < 5; i++) {
        const char *c = strchr(f[i - 1], ':');
        if (!c)
            return 0;
        f[i] = c + 1;
    }
    a->part = f[0];
    a->part_len = (size_t)(f[1] - f[0] - 1);
    a->service = f[1];
    a->service_len = (size_t)(f[2] - f[1] - 1);
    a->region = f[2];
    a->account = f[3];
    a->account_len = (size_t)(f[4] - f[3] - 1);
    a->resource = f[4];
    return 1;
}

static json_t *jstrn(const char *s, size_t n)
{
    char *t = wr_strndup(s, n);
    if (!t)
        return NULL;
    json_t *j = jstr(t, WR_AUDIT_MAX_FIELD);
    free(t);
    return j;
}

static json_t *user_identity(const char *principal, int *oom)
{
    json_t *u = json_object();
    if (!u) {
        *oom = 1;
        return NULL;
    }
    arn_parts a;
    if (!principal || !*principal) {
        put(u, "type", json_string("Unknown"), oom);
        return u;
    }
    if (!arn_split(principal, &a)) {
        /* not an ARN (an Entra object id, an API key name...) */
        put(u, "type", json_string("Unknown"), oom);
        put(u, "principalId", jstr(principal, WR_AUDIT_MAX_FIELD), oom);
        return u;
    }
    const char *res = a.resource;
    int sts = a.service_len == 3 && strncmp(a.service, "sts", 3) == 0;
    int iam = a.service_len == 3 && strncmp(a.service, "iam", 3) == 0;
    if (sts && strncmp(res, "assumed-role/", 13) == 0) {
        const char *role = res + 13;
        const char *slash = strchr(role, '/');
        size_t rlen = slash ? (size_t)(slash - role) : strlen(role);
        put(u, "type", json_string("AssumedRole"), oom);
        put(u, "arn", jstr(principal, WR_AUDIT_MAX_FIELD), oom);
        put(u, "accountId", jstrn(a.account, a.account_len), oom);
        json_t *sc = json_object(), *iss = json_object();
        if (!sc || !iss) {
            json_decref(sc);
            json_decref(iss);
            *oom = 1;
            return u;
        }
        char *role_arn = NULL;
        wr_buf b;
        wr_buf_init(&b);
        wr_buf_printf(&b, "arn:%.*s:iam::%.*s:role/%.*s", (int)a.part_len, a.part,
                      (int)a.account_len, a.account, (int)rlen, role);
        role_arn = b.oom ? NULL : b.data;
        put(iss, "type", json_string("Role"), oom);
        put(iss, "arn", role_arn ? jstr(role_arn, WR_AUDIT_MAX_FIELD) : NULL, oom);
        put(iss, "accountId", jstrn(a.account, a.account_len), oom);
        put(iss, "userName", jstrn(role, rlen), oom);
        wr_buf_free(&b);
        put(sc, "sessionIssuer", iss, oom);
        put(u, "sessionContext", sc, oom);
        return u;
    }
    const char *type = "Unknown";
    const char *name = NULL;
    if (iam && strncmp(res, "role/", 5) == 0) {
        type = "Role";
        name = strrchr(res, '/') + 1;
    } else if (iam && strncmp(res, "user/", 5) == 0) {
        type = "IAMUser";
        name = strrchr(res, '/') + 1;
    } else if (iam && strcmp(res, "root") == 0) {
        type = "Root";
    }
    put(u, "type", json_string(type), oom);
    put(u, "arn", jstr(principal, WR_AUDIT_MAX_FIELD), oom);
    if (a.account_len)
        put(u, "accountId", jstrn(a.account, a.account_len), oom);
    if (name && *name)
        put(u, "userName", jstr(name, WR_AUDIT_MAX_FIELD), oom);
    return u;
}

/* ------------------------------------------------------------------ findings */

static int hash_value(char out[12 + 16 + 1], const wr_record_cfg *cfg, const char *text,
                      size_t start, size_t end)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    static const unsigned char empty[1] = {0};
    const unsigned char *p = end > start ? (const unsigned char *)text + start : empty;
    if (!HMAC(EVP_sha256(), cfg->hash_key, (int)cfg->hash_key_len, p, end - start, mac, &mlen))
        return WEIR_EINTERNAL;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    wr_hex(hex, mac, 8);
    memcpy(out, "hmac-sha256:", 12);
    memcpy(out + 12, hex, 17);
    wr_wipe(mac, sizeof mac);
    return 0;
}

static json_t *findings_json(json_t *arr, const wr_record_cfg *cfg, weir_direction dir,
                             const weir_result *r, const char *text, size_t len, int *oom)
{
    if (!arr) {
        *oom = 1;
        return NULL;
    }
    /* one entry per (rule, kind), in order of first appearance */
    for (size_t i = 0; i < r->nf; i++) {
        const weir_finding *f = &r->f[i];
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = r->f[j].kind == f->kind && strcmp(r->f[j].rule, f->rule) == 0;
        if (seen)
            continue;
        json_t *e = json_object();
        json_t *hashes = cfg->hash_key && f->kind == WEIR_FINDING_CONTENT ? json_array() : NULL;
        if (!e) {
            *oom = 1;
            json_decref(hashes);
            break;
        }
        size_t count = 0;
        int monitor = 1; /* monitor only when every finding of the entry is */
        weir_action act = f->action;
        for (size_t j = i; j < r->nf; j++) {
            const weir_finding *g = &r->f[j];
            if (g->kind != f->kind || strcmp(g->rule, f->rule) != 0)
                continue;
            count++;
            monitor &= g->monitor != 0;
            if (g->action > act)
                act = g->action;
            if (!hashes || !text || g->end > len || g->start > g->end ||
                json_array_size(hashes) >= WR_AUDIT_MAX_HASHES)
                continue;
            char h[12 + 16 + 1];
            if (hash_value(h, cfg, text, g->start, g->end) != 0) {
                *oom = 1;
                continue;
            }
            int dup = 0;
            for (size_t k = 0; k < json_array_size(hashes) && !dup; k++)
                dup = strcmp(json_string_value(json_array_get(hashes, k)), h) == 0;
            if (!dup && json_array_append_new(hashes, json_string(h)) != 0)
                *oom = 1;
        }
        put(e, "rule", jstr(f->rule, WR_AUDIT_MAX_FIELD), oom);
        put(e, "kind", json_string(weir_finding_kind_name(f->kind)), oom);
        put(e, "detector", jstr(f->detector ? f->detector : "", WR_AUDIT_MAX_FIELD), oom);
        put(e, "entity", jstr(f->entity ? f->entity : "", WR_AUDIT_MAX_FIELD), oom);
        put(e, "direction", json_string(direction_name(dir)), oom);
        put(e, "action", json_string(weir_action_name(act)), oom);
        put(e, "monitor", json_boolean(monitor), oom);
        put(e, "count", json_integer((json_int_t)count), oom);
        if (hashes)
            put(e, "valueHashes", hashes, oom);
        if (json_array_append_new(arr, e) != 0)
            *oom = 1;
    }
    return arr;
}

static json_t *policy_json(const weir_policy *p, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    put(o, "name", jstr(weir_policy_name(p), WR_AUDIT_MAX_FIELD), oom);
    put(o, "digest", json_string(weir_policy_digest(p)), oom);
    put(o, "mode", json_string(p->monitor ? "monitor" : "enforce"), oom);
    return o;
}

/* ------------------------------------------------------------------ the record */

int wr_audit_build_record(char **out, size_t *len, char event_time[WR_AUDIT_TIME_LEN + 1],
                          const wr_record_cfg *cfg, const weir_audit_event *ev,
                          const weir_result *r, const char *text, size_t text_len,
                          int gate_event, const weir_policy *policy, weir_error *err)
{
    const wr_record_part part = {r, text, text_len};
    return wr_audit_build_call(out, len, event_time, cfg, ev, r ? &part : NULL, NULL,
                               gate_event, policy, err);
}

static weir_action max_action(weir_action a, weir_action b) { return a > b ? a : b; }

int wr_audit_build_call(char **out, size_t *len, char event_time[WR_AUDIT_TIME_LEN + 1],
                        const wr_record_cfg *cfg, const weir_audit_event *ev,
                        const wr_record_part *pp, const wr_record_part *cp, int gate_event,
                        const weir_policy *policy, weir_error *err)
{
    /* one part alone keeps the event's direction; both: prompt then completion */
    const weir_result *r = pp ? pp->r : cp ? cp->r : NULL;
    const weir_result *rc2 = pp && cp ? cp->r : NULL;
    weir_direction d1 = pp && cp ? WEIR_PROMPT : ev->direction;
    int oom = 0;
    char id[37], req[37];
    if (wr_audit_uuid(id) != 0 || (!ev->request_id && wr_audit_uuid(req) != 0))
        return wr_error_set(err, WEIR_EINTERNAL, NULL, 0, 0,
                            "audit: no random bytes for an event id (RAND_bytes failed)");
    json_t *o = json_object();
    if (!o)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory");
    wr_audit_fmt_time(event_time, wr_audit_now());
    const char *source = ev->event_source ? ev->event_source : "weir.gate";

    put(o, "eventVersion", json_string("1.11"), &oom);
    if (gate_event) {
        json_t *u = json_object();
        put(u, "type", json_string("AWSService"), &oom);
        put(u, "invokedBy", jstr(source, WR_AUDIT_MAX_FIELD), &oom);
        put(o, "userIdentity", u, &oom);
    } else {
        put(o, "userIdentity", user_identity(ev->principal, &oom), &oom);
    }
    put(o, "eventTime", json_string(event_time), &oom);
    put(o, "eventSource", jstr(source, WR_AUDIT_MAX_FIELD), &oom);
    put(o, "eventName", jstr(ev->event_name ? ev->event_name : "Unknown", WR_AUDIT_MAX_FIELD),
        &oom);
    put(o, "awsRegion", jstr(ev->aws_region ? ev->aws_region : cfg->region, WR_AUDIT_MAX_FIELD),
        &oom);
    put(o, "sourceIPAddress",
        jstr(gate_event ? source : ev->source_ip, WR_AUDIT_MAX_FIELD), &oom);
    if (ev->user_agent)
        put(o, "userAgent", jstr(ev->user_agent, WR_AUDIT_MAX_FIELD), &oom);

    /* errorCode: the caller's, or derived from a block */
    const char *code = ev->error_code, *msg = ev->error_message;
    const weir_result *blk = r && r->action == WEIR_BLOCK ? r
                             : rc2 && rc2->action == WEIR_BLOCK ? rc2 : NULL;
    if (!gate_event && !code && blk) {
        const weir_finding *d = weir_result_decisive(blk);
        code = d && (d->kind == WEIR_FINDING_ACCESS || d->kind == WEIR_FINDING_RESIDENCY)
                   ? "AccessDenied"
                   : "GuardrailIntervened";
        if (!msg)
            msg = weir_result_message(blk);
    }
    weir_action act = r ? r->action : WEIR_ALLOW, enf = r ? r->enforced : WEIR_ALLOW;
    if (rc2) {
        act = max_action(act, rc2->action);
        enf = max_action(enf, rc2->enforced);
    }
    if (code) {
        put(o, "errorCode", jstr(code, WR_AUDIT_MAX_FIELD), &oom);
        if (msg)
            put(o, "errorMessage", jstr(msg, WR_AUDIT_MAX_FIELD), &oom);
    }

    if (gate_event) {
        put(o, "requestParameters", json_null(), &oom);
        put(o, "responseElements", json_null(), &oom);
    } else {
        json_t *rp = json_object();
        put(rp, "modelId", jstr(ev->model, WR_AUDIT_MAX_FIELD), &oom);
        put(rp, "provider", json_string(provider_name(ev->provider)), &oom);
        put(rp, "direction", json_string(rc2 ? "both" : direction_name(ev->direction)), &oom);
        put(o, "requestParameters", rp, &oom);
        if (r) {
            json_t *re = json_object();
            put(re, "action", json_string(weir_action_name(act)), &oom);
            put(re, "enforcedAction", json_string(weir_action_name(enf)), &oom);
            put(o, "responseElements", re, &oom);
        } else {
            put(o, "responseElements", json_null(), &oom);
        }
    }

    json_t *ad = json_object();
    if (!ad)
        oom = 1;
    const weir_policy *pol = gate_event ? policy : (r ? r->policy : NULL);
    if (ad && pol)
        put(ad, "policy", policy_json(pol, &oom), &oom);
    if (ad && !gate_event) {
        if (r) {
            put(ad, "action", json_string(weir_action_name(act)), &oom);
            put(ad, "enforcedAction", json_string(weir_action_name(enf)), &oom);
            const wr_record_part *first = pp ? pp : cp;
            json_t *arr = findings_json(json_array(), cfg, d1, first->r, first->text,
                                        first->len, &oom);
            if (rc2)
                arr = findings_json(arr, cfg, WEIR_COMPLETION, cp->r, cp->text, cp->len, &oom);
            put(ad, "findings", arr, &oom);
        }
        put(ad, "gateLatencyMs", ms_value(ev->gate_ms), &oom);
        put(ad, "upstreamLatencyMs", ms_value(ev->upstream_ms), &oom);
        put(ad, "upstreamStatus", json_integer(ev->upstream_status), &oom);
        if (ev->input_tokens >= 0 || ev->output_tokens >= 0) {
            json_t *u = json_object();
            if (ev->input_tokens >= 0)
                put(u, "inputTokens", json_integer(ev->input_tokens), &oom);
            if (ev->output_tokens >= 0)
                put(u, "outputTokens", json_integer(ev->output_tokens), &oom);
            put(ad, "usage", u, &oom);
        }
    }
    if (ad)
        put(ad, "weirVersion", json_string(weir_version()), &oom);
    put(o, "additionalEventData", ad, &oom);

    put(o, "requestID", jstr(ev->request_id ? ev->request_id : req, WR_AUDIT_MAX_FIELD), &oom);
    put(o, "eventID", json_string(id), &oom);
    put(o, "readOnly", json_false(), &oom);
    put(o, "eventType", json_string(gate_event ? "AwsServiceEvent" : "AwsApiCall"), &oom);
    put(o, "managementEvent", json_false(), &oom);
    put(o, "recipientAccountId", json_string(cfg->account), &oom);
    put(o, "eventCategory", json_string("Data"), &oom);
    if (gate_event) {
        json_t *sd = json_object();
        put(sd, "message", jstr(ev->error_message ? ev->error_message : "", WR_AUDIT_MAX_FIELD),
            &oom);
        put(o, "serviceEventDetails", sd, &oom);
    }

    char *s = oom ? NULL
                  : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!s)
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory building a record");
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "audit: out of memory building a record");
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *out = line;
    *len = n + 1;
    return 0;
}
