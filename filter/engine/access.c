/*
 * access.c - who may call which model, and where: role and model allow/deny lists,
 * region pinning (AWS regions, cross-region inference profiles, Azure regions and
 * deployment types), and the conditions of rules (`unless`, `only`).
 *
 * Everything here fails closed: a list that restricts something the context does not
 * state (no caller, no region) denies.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "engine/engine.h"

/* ----------------------------------------------------------------- ARNs */

/*
 * Maps "arn:PART:sts::ACCT:assumed-role/ROLE/SESSION" to "arn:PART:iam::ACCT:role/ROLE".
 * Returns 1 and writes into buf when mapped, 0 when arn is not an assumed-role ARN.
 */
static int assumed_to_role(const char *arn, char *buf, size_t size)
{
    if (strncmp(arn, "arn:", 4) != 0)
        return 0;
    const char *part = arn + 4;
    const char *c1 = strchr(part, ':');
    if (!c1 || strncmp(c1, ":sts:", 5) != 0)
        return 0;
    const char *region = c1 + 5; /* empty for IAM/STS global ARNs */
    const char *c3 = strchr(region, ':');
    if (!c3)
        return 0;
    const char *acct = c3 + 1;
    const char *c4 = strchr(acct, ':');
    if (!c4 || strncmp(c4 + 1, "assumed-role/", 13) != 0)
        return 0;
    const char *role = c4 + 1 + 13;
    const char *slash = strchr(role, '/');
    size_t rlen = slash ? (size_t)(slash - role) : strlen(role);
    if (rlen == 0)
        return 0;
    int n = snprintf(buf, size, "arn:%.*s:iam::%.*s:role/%.*s", (int)(c1 - part), part,
                     (int)(c4 - acct), acct, (int)rlen, role);
    return n > 0 && (size_t)n < size;
}

/*
 * An allowlist entry for a role may carry a path ("role/team/llm-*"); an assumed-role ARN
 * has none. For an assumed-role caller, compare account and role name only: drop the
 * entry's path.
 */
static int strip_role_path(const char *pattern, char *buf, size_t size)
{
    const char *r = strstr(pattern, ":role/");
    if (!r)
        return 0;
    const char *name = strrchr(r + 6, '/');
    if (!name)
        return 0;
    int n = snprintf(buf, size, "%.*s%s", (int)(r + 6 - pattern), pattern, name + 1);
    return n > 0 && (size_t)n < size;
}

int wr_arn_match(const char *pattern, const char *arn)
{
    if (!pattern || !arn)
        return 0;
    if (wr_glob_match(pattern, arn, ':'))
        return 1;
    char role[512], pat[512];
    if (!assumed_to_role(arn, role, sizeof role))
        return 0;
    if (wr_glob_match(pattern, role, ':'))
        return 1;
    return strip_role_path(pattern, pat, sizeof pat) && wr_glob_match(pat, role, ':');
}

static int any_arn(const wr_strlist *l, const char *arn)
{
    for (size_t i = 0; i < l->n; i++)
        if (wr_arn_match(l->v[i], arn))
            return 1;
    return 0;
}

/* ----------------------------------------------------------------- models */

static const char *const geo_prefixes[] = {"us-gov", "us", "eu", "apac", "jp", "au", "ca",
                                           "global"};

/* The resource id of a Bedrock model ARN ("...:foundation-model/ID" etc.), or model. */
static const char *model_resource(const char *model)
{
    if (strncmp(model, "arn:", 4) != 0)
        return model;
    const char *slash = strchr(model, '/');
    return slash ? slash + 1 : model;
}

const char *wr_model_geo_prefix(const char *model, size_t *prefix_len)
{
    const char *id = model_resource(model);
    const char *dot = strchr(id, '.');
    if (!dot)
        return NULL;
    size_t n = (size_t)(dot - id);
    for (size_t i = 0; i < WR_ARRAY_LEN(geo_prefixes); i++) {
        if (strlen(geo_prefixes[i]) == n && strncmp(id, geo_prefixes[i], n) == 0) {
            /* "us.anthropic..." is a profile; "us" alone before a dot with nothing after is not */
            if (!dot[1])
                return NULL;
            if (prefix_len)
                *prefix_len = n;
            return id;
        }
    }
    return NULL;
}

int wr_model_match(const char *pattern, const char *model)
{
    if (!pattern || !model)
        return 0;
    if (wr_glob_match(pattern, model, 0))
        return 1;
    const char *id = model_resource(model);
    if (id != model && wr_glob_match(pattern, id, 0))
        return 1;
    size_t plen;
    if (wr_model_geo_prefix(model, &plen))
        return wr_glob_match(pattern, id + plen + 1, 0);
    return 0;
}

static int any_model(const wr_strlist *l, const char *model)
{
    for (size_t i = 0; i < l->n; i++)
        if (wr_model_match(l->v[i], model))
            return 1;
    return 0;
}

static int any_region(const wr_strlist *l, const char *region)
{
    for (size_t i = 0; i < l->n; i++)
        if (wr_glob_match(l->v[i], region, 0))
            return 1;
    return 0;
}

/* ----------------------------------------------------------------- access */

int wr_eval_access(struct weir_result *r, const weir_policy *p, const weir_context *ctx)
{
    const wr_access *a = &p->access;
    int mon = p->monitor;
    if (a->roles_allow.n || a->roles_deny.n) {
        if (!ctx->principal || !*ctx->principal) {
            if (wr_result_add(r, WEIR_FINDING_ACCESS, "access.roles", "", "", WEIR_BLOCK, mon,
                              0, 0, "caller identity unknown; the policy restricts roles"))
                return WEIR_ENOMEM;
        } else if (any_arn(&a->roles_deny, ctx->principal)) {
            if (wr_result_add(r, WEIR_FINDING_ACCESS, "access.roles", "", "", WEIR_BLOCK, mon,
                              0, 0, "caller role is on the policy's deny list"))
                return WEIR_ENOMEM;
        } else if (a->roles_allow.n && !any_arn(&a->roles_allow, ctx->principal)) {
            if (wr_result_add(r, WEIR_FINDING_ACCESS, "access.roles", "", "", WEIR_BLOCK, mon,
                              0, 0, "caller role is not on the policy's allow list"))
                return WEIR_ENOMEM;
        }
    }
    if (a->models_allow.n || a->models_deny.n) {
        if (!ctx->model || !*ctx->model) {
            if (wr_result_add(r, WEIR_FINDING_ACCESS, "access.models", "", "", WEIR_BLOCK, mon,
                              0, 0, "model unknown; the policy restricts models"))
                return WEIR_ENOMEM;
        } else if (any_model(&a->models_deny, ctx->model)) {
            if (wr_result_add(r, WEIR_FINDING_ACCESS, "access.models", "", "", WEIR_BLOCK, mon,
                              0, 0, "model is on the policy's deny list"))
                return WEIR_ENOMEM;
        } else if (a->models_allow.n && !any_model(&a->models_allow, ctx->model)) {
            if (wr_result_add(r, WEIR_FINDING_ACCESS, "access.models", "", "", WEIR_BLOCK, mon,
                              0, 0, "model is not on the policy's allow list"))
                return WEIR_ENOMEM;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- residency */

/* Destination regions of each cross-region inference profile geography (reference/bedrock.md §9). */
static const struct {
    const char *geo;
    const char *regions;
} geo_regions[] = {
    {"us", "us-east-1 us-east-2 us-west-1 us-west-2"},
    {"eu", "eu-central-1 eu-west-1 eu-west-3 eu-west-2 eu-north-1 eu-south-1 eu-south-2 "
           "eu-central-2"},
    {"apac", "ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1 ap-south-2 "
             "ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5 "
             "ap-southeast-7 ap-east-2 me-central-1"},
    {"jp", "ap-northeast-1 ap-northeast-3"},
    {"au", "ap-southeast-2 ap-southeast-4"},
    {"ca", "ca-central-1 ca-west-1"},
    {"us-gov", "us-gov-east-1 us-gov-west-1"},
};

/*
 * Is the inference profile geography `geo` (prefix_len bytes) allowed? With an explicit
 * aws_inference_profiles list, only those. Otherwise a geography is allowed when one of
 * its destination regions is an allowed region; `global.` never is (it leaves any geography).
 */
static int profile_allowed(const wr_residency *res, const char *geo, size_t n)
{
    if (res->aws_profiles_set) {
        for (size_t i = 0; i < res->aws_profiles.n; i++)
            if (strlen(res->aws_profiles.v[i]) == n && strncmp(res->aws_profiles.v[i], geo, n) == 0)
                return 1;
        return 0;
    }
    for (size_t g = 0; g < WR_ARRAY_LEN(geo_regions); g++) {
        if (strlen(geo_regions[g].geo) != n || strncmp(geo_regions[g].geo, geo, n) != 0)
            continue;
        const char *s = geo_regions[g].regions;
        while (*s) {
            size_t len = strcspn(s, " ");
            char region[32];
            if (len < sizeof region) {
                memcpy(region, s, len);
                region[len] = '\0';
                if (any_region(&res->aws_regions, region))
                    return 1;
            }
            s += len;
            while (*s == ' ')
                s++;
        }
    }
    return 0;
}

/* Canonical deployment type: "GlobalStandard" -> "global", "DataZoneStandard" -> "datazone". */
static void canon_deployment(const char *in, char *out, size_t size)
{
    char low[64];
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < sizeof low; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '-' || c == ' ')
            c = '_';
        low[j++] = (char)tolower(c);
    }
    low[j] = '\0';
    static const struct {
        const char *from, *to;
    } map[] = {
        {"globalstandard", "global"},
        {"global_standard", "global"},
        {"datazonestandard", "datazone"},
        {"datazone_standard", "datazone"},
        {"data_zone", "datazone"},
        {"provisionedmanaged", "provisioned"},
        {"globalprovisionedmanaged", "global_provisioned"},
        {"datazoneprovisionedmanaged", "datazone_provisioned"},
        {"globalbatch", "global_batch"},
        {"datazonebatch", "datazone_batch"},
    };
    for (size_t i = 0; i < WR_ARRAY_LEN(map); i++) {
        if (strcmp(low, map[i].from) == 0) {
            snprintf(out, size, "%s", map[i].to);
            return;
        }
    }
    snprintf(out, size, "%s", low);
}

/* The region field of a Bedrock ARN model id, or NULL. */
static int arn_region(const char *model, char *out, size_t size)
{
    if (strncmp(model, "arn:", 4) != 0)
        return 0;
    const char *p = model;
    for (int i = 0; i < 3; i++) {
        p = strchr(p, ':');
        if (!p)
            return 0;
        p++;
    }
    const char *end = strchr(p, ':');
    if (!end || end == p || (size_t)(end - p) >= size)
        return 0;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 1;
}

static int deny(struct weir_result *r, const weir_policy *p, const char *rule, const char *msg)
{
    return wr_result_add(r, WEIR_FINDING_RESIDENCY, rule, "", "", WEIR_BLOCK, p->monitor, 0, 0,
                         msg);
}

int wr_eval_residency(struct weir_result *r, const weir_policy *p, const weir_context *ctx)
{
    const wr_residency *res = &p->residency;
    int aws = ctx->provider != WEIR_PROVIDER_AZURE;
    int azure = ctx->provider != WEIR_PROVIDER_BEDROCK;
    int region_known = ctx->region && *ctx->region;

    if (ctx->provider == WEIR_PROVIDER_UNSPECIFIED) {
        /* Not told which cloud: the region must be allowed by one of the lists in force. */
        if (res->aws_regions.n || res->azure_regions.n) {
            if (!region_known) {
                if (deny(r, p, res->aws_regions.n ? "residency.aws_regions"
                                                   : "residency.azure_regions",
                         "region unknown; the policy pins regions"))
                    return WEIR_ENOMEM;
            } else if (!any_region(&res->aws_regions, ctx->region) &&
                       !any_region(&res->azure_regions, ctx->region)) {
                if (deny(r, p, res->aws_regions.n ? "residency.aws_regions"
                                                   : "residency.azure_regions",
                         "region is not allowed by the policy"))
                    return WEIR_ENOMEM;
            }
        }
    } else if (aws && res->aws_regions.n) {
        if (!region_known) {
            if (deny(r, p, "residency.aws_regions", "region unknown; the policy pins AWS regions"))
                return WEIR_ENOMEM;
        } else if (!any_region(&res->aws_regions, ctx->region)) {
            if (deny(r, p, "residency.aws_regions", "AWS region is not allowed by the policy"))
                return WEIR_ENOMEM;
        }
    } else if (azure && res->azure_regions.n) {
        if (!region_known) {
            if (deny(r, p, "residency.azure_regions",
                     "region unknown; the policy pins Azure regions"))
                return WEIR_ENOMEM;
        } else if (!any_region(&res->azure_regions, ctx->region)) {
            if (deny(r, p, "residency.azure_regions", "Azure region is not allowed by the policy"))
                return WEIR_ENOMEM;
        }
    }

    /* The model id itself can name a region (ARN) or a geography (inference profile). */
    if (aws && ctx->model && (res->aws_regions.n || res->aws_profiles_set)) {
        size_t plen;
        const char *geo = wr_model_geo_prefix(ctx->model, &plen);
        char region[64];
        if (geo && !profile_allowed(res, geo, plen)) {
            if (deny(r, p, "residency.aws_inference_profiles",
                     "the model's cross-region inference profile routes outside the allowed "
                     "regions"))
                return WEIR_ENOMEM;
        }
        /* application inference profiles and prompt routers route wherever their owner set
           them up: their regions cannot be read from the id, so a pinned policy refuses them */
        if (!geo && strncmp(ctx->model, "arn:", 4) == 0 &&
            (strstr(ctx->model, ":application-inference-profile/") ||
             strstr(ctx->model, "prompt-router/"))) {
            if (deny(r, p, "residency.aws_inference_profiles",
                     "an application inference profile or prompt router can route to regions "
                     "weir cannot see; a policy that pins regions refuses it (call the model or a "
                     "system inference profile instead)"))
                return WEIR_ENOMEM;
        }
        if (res->aws_regions.n && arn_region(ctx->model, region, sizeof region) &&
            !any_region(&res->aws_regions, region)) {
            if (deny(r, p, "residency.aws_regions",
                     "the model ARN names a region the policy does not allow"))
                return WEIR_ENOMEM;
        }
    }

    if (azure && ctx->provider == WEIR_PROVIDER_AZURE && res->azure_deployment_types.n) {
        if (!ctx->deployment_type || !*ctx->deployment_type) {
            if (deny(r, p, "residency.azure_deployment_types",
                     "deployment type unknown; the policy pins Azure deployment types"))
                return WEIR_ENOMEM;
        } else {
            char dt[64];
            canon_deployment(ctx->deployment_type, dt, sizeof dt);
            int ok = 0;
            for (size_t i = 0; i < res->azure_deployment_types.n && !ok; i++) {
                char want[64];
                canon_deployment(res->azure_deployment_types.v[i], want, sizeof want);
                ok = strcmp(want, dt) == 0;
            }
            if (!ok && deny(r, p, "residency.azure_deployment_types",
                            "Azure deployment type is not allowed by the policy"))
                return WEIR_ENOMEM;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- rule conditions */

static int cond_matches(const wr_cond *c, const weir_context *ctx)
{
    if (c->roles.n && !(ctx->principal && any_arn(&c->roles, ctx->principal)))
        return 0;
    if (c->models.n && !(ctx->model && any_model(&c->models, ctx->model)))
        return 0;
    if (c->regions.n && !(ctx->region && any_region(&c->regions, ctx->region)))
        return 0;
    if (c->providers && !(c->providers & (1u << ctx->provider)))
        return 0;
    return 1;
}

int wr_rule_applies(const wr_rule *rule, const weir_context *ctx)
{
    unsigned dir = ctx->direction == WEIR_COMPLETION ? WR_ON_COMPLETION : WR_ON_PROMPT;
    if (!(rule->on & dir))
        return 0;
    if (rule->has_only && !cond_matches(&rule->only, ctx))
        return 0;
    if (rule->has_unless && cond_matches(&rule->unless, ctx))
        return 0;
    return 1;
}
