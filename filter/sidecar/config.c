/*
 * config.c - the sidecar's YAML configuration (docs/config.md).
 *
 * The text is read with libyaml's event API into the policy loader's wr_ynode tree (the
 * reader below mirrors policy/ytree.c with the configuration's own limits and wording),
 * then checked key by key in document order. The first error refuses the whole file, as
 * source:line:col plus a message that says what to write instead.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "policy/ytree.h"
#include "sidecar/config.h"
#include "weir/audit.h"

#define CFG_MAX_BYTES ((size_t)1024 * 1024)
#define CFG_MAX_DEPTH 16
#define CFG_MAX_NODES 50000
#define CFG_MAX_UPSTREAMS 256
#define CFG_MAX_DEPLOYMENTS 1024
#define CFG_MAX_NAME 64
#define CFG_MAX_TEXT 4096
#define CFG_MAX_WORKERS 64
#define CFG_CODE WEIR_EINVAL

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

/* ================================================================= YAML reader */

/* The policy loader's reader (policy/ytree.c), with the configuration's words and limits. */
static int cfg_tree(wr_ynode **root, const char *yaml, size_t len, const char *src, weir_error *err)
{
    static const wr_ytree_opts opts = {"configuration", "the configuration", CFG_CODE,
                                       CFG_MAX_DEPTH, CFG_MAX_NODES};
    return wr_ytree_parse_opts(root, yaml, len, src, &opts, err);
}

/* ================================================================= value checks */

/*
 * The checks below are shared by the file and the environment overrides: each returns 0
 * when s is fine, else -1 with the reason in why.
 */

static int why_set(char *why, size_t n, const char *fmt, ...) WR_PRINTF(3, 4);

static int why_set(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* A DNS name: labels of letters, digits, '-' and '_' (container names), dot-separated. */
static int hostname_ok(const char *s, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (isalnum(ch) || ch == '_' || (ch == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

typedef struct hostport {
    char host[256]; /* without brackets */
    int v6;
    unsigned port;
} hostport;

/* Parses s[0..n) as a host (name, IPv4, or [IPv6]); the port part is not part of it. */
static int parse_host(const char *s, size_t n, hostport *hp, char *why, size_t wn)
{
    char tmp[256];
    hp->v6 = 0;
    if (n > 0 && s[0] == '[') {
        if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof tmp)
            return why_set(why, wn, "an IPv6 address is written in brackets, e.g. [::1]");
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        unsigned char a[16];
        if (inet_pton(AF_INET6, tmp, a) != 1)
            return why_set(why, wn, "'%.60s' is not an IPv6 address", tmp);
        hp->v6 = 1;
    } else {
        if (n == 0)
            return why_set(why, wn, "the host is missing");
        if (n >= sizeof tmp)
            return why_set(why, wn, "the host name is longer than 253 characters");
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        if (memchr(s, ':', n))
            return why_set(why, wn, "an IPv6 address must be in brackets, e.g. [::1]:8080");
        if (strspn(tmp, "0123456789.") == n) {
            unsigned char a[4];
            if (inet_pton(AF_INET, tmp, a) != 1)
                return why_set(why, wn, "'%.60s' is not an IPv4 address", tmp);
        } else if (!hostname_ok(tmp, n)) {
            return why_set(why, wn,
                           "'%.60s' is not a host name (letters, digits, '-', '_' and dots)", tmp);
        }
    }
    memcpy(hp->host, tmp, strlen(tmp) + 1);
    return 0;
}

static int parse_port(const char *s, size_t n, unsigned min, unsigned *port, char *why, size_t wn)
{
    unsigned v = 0;
    if (!all_digits(s, n) || n > 5)
        return why_set(why, wn, "the port must be a number from %u to 65535", min);
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v < min || v > 65535)
        return why_set(why, wn, "port %u is out of range (%u to 65535)", v, min);
    *port = v;
    return 0;
}

/* "host:port" to listen on: IPv4, [IPv6] or a host name; port 0..65535 (0: any free). */
static int why_listen(const char *s, hostport *hp, char *why, size_t wn)
{
    size_t n = strlen(s);
    const char *colon = strrchr(s, ':'), *rb = strchr(s, ']');
    if (n > 300)
        return why_set(why, wn, "too long for host:port");
    if (s[0] == '[' && !rb)
        return why_set(why, wn, "the IPv6 address has no closing ']'; write e.g. [::1]:8080");
    if (!colon || (s[0] == '[' && colon < rb))
        return why_set(why, wn, "no port; write host:port, e.g. 127.0.0.1:8080");
    if (colon == s)
        return why_set(why, wn,
                       "the host is missing; write 0.0.0.0:PORT to listen on every interface "
                       "or 127.0.0.1:PORT for this machine only");
    if (parse_host(s, (size_t)(colon - s), hp, why, wn))
        return -1;
    return parse_port(colon + 1, strlen(colon + 1), 0, &hp->port, why, wn);
}

static int is_wildcard(const hostport *hp)
{
    return strcmp(hp->host, "0.0.0.0") == 0 ||
           (hp->v6 && strspn(hp->host, ":0") == strlen(hp->host));
}

static int is_loopback(const hostport *hp)
{
    return strcasecmp(hp->host, "localhost") == 0 || strncmp(hp->host, "127.", 4) == 0 ||
           (hp->v6 && strcmp(hp->host, "::1") == 0);
}

/*
 * Two listeners clash when they would bind the same port on an overlapping address
 * (SO_REUSEPORT would let both bind and split the traffic between them silently).
 */
static int listeners_clash(const hostport *a, const hostport *b)
{
    if (a->port == 0 || a->port != b->port)
        return 0;
    return strcasecmp(a->host, b->host) == 0 || is_wildcard(a) || is_wildcard(b) ||
           (is_loopback(a) && is_loopback(b) &&
            (strcasecmp(a->host, "localhost") == 0 || strcasecmp(b->host, "localhost") == 0));
}

/* scheme://host[:port][/]; *canon gets the lower-cased form without the trailing slash. */
static int why_endpoint(const char *s, char **canon, char *host_out, size_t host_size, char *why,
                        size_t wn)
{
    size_t n = strlen(s), skip;
    if (n > 2048)
        return why_set(why, wn, "longer than 2048 characters");
    if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else
        return why_set(why, wn,
                       "must start with https:// (or http:// for a local test server), e.g. "
                       "https://my-resource.openai.azure.com");
    const char *auth = s + skip;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (memchr(auth, '@', alen))
        return why_set(why, wn,
                       "user names and passwords do not belong in the endpoint; use "
                       "api_key_env, api_key_file or bearer_token_env");
    if (*rest == '?' || strchr(rest, '?'))
        return why_set(why, wn, "no query string: weir builds each request's URL itself");
    if (*rest == '#' || strchr(rest, '#'))
        return why_set(why, wn, "no fragment (#...) in an endpoint");
    if (*rest && strcmp(rest, "/") != 0)
        return why_set(why, wn,
                       "no path: write scheme://host[:port] only; weir adds each request's "
                       "path itself");
    /* the port colon is the last ':' outside brackets */
    const char *close = memchr(auth, ']', alen);
    const char *colon = NULL;
    for (const char *p = close ? close : auth; p < auth + alen; p++)
        if (*p == ':')
            colon = p;
    size_t hlen = colon ? (size_t)(colon - auth) : alen;
    hostport hp;
    unsigned port = 0;
    if (parse_host(auth, hlen, &hp, why, wn))
        return -1;
    if (colon && parse_port(colon + 1, (size_t)(auth + alen - colon - 1), 1, &port, why, wn))
        return -1;
    snprintf(host_out, host_size, "%s", hp.host);
    char *c = wr_strndup(s, skip + alen);
    if (!c)
        return 1;
    for (size_t i = 0; i < skip + hlen; i++)
        c[i] = (char)tolower((unsigned char)c[i]);
    *canon = c;
    return 0;
}

/* aa[-gov|-iso[x]]-word-N: us-east-1, eu-central-1, us-gov-west-1, us-isob-east-1. */
static int aws_region_ok(const char *s)
{
    size_t i = 0, n = strlen(s);
    if (n < 6 || n > 32 || !islower((unsigned char)s[0]) || !islower((unsigned char)s[1]) ||
        s[2] != '-')
        return 0;
    i = 3;
    if (strncmp(s + i, "gov-", 4) == 0) {
        i += 4;
    } else if (strncmp(s + i, "iso", 3) == 0) {
        i += 3;
        if (islower((unsigned char)s[i]) && s[i + 1] == '-')
            i++;
        if (s[i] != '-')
            return 0;
        i++;
    }
    size_t w = i;
    while (islower((unsigned char)s[i]))
        i++;
    if (i == w || s[i] != '-')
        return 0;
    i++;
    size_t d = i;
    while (isdigit((unsigned char)s[i]))
        i++;
    return i > d && i - d <= 2 && s[i] == '\0';
}

/* Azure programmatic region names: swedencentral, eastus2, westeurope. */
static int azure_region_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 40 || !islower((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int why_region(wr_up_kind kind, const char *s, char *why, size_t wn)
{
    if (kind != WR_KIND_AZURE) {
        if (aws_region_ok(s))
            return 0;
        return why_set(why, wn, "AWS regions are written like eu-central-1 or us-gov-west-1");
    }
    if (azure_region_ok(s))
        return 0;
    if (aws_region_ok(s))
        return why_set(why, wn,
                       "%.32s is an AWS region; Azure regions are lower-case letters and digits, "
                       "e.g. swedencentral or eastus2",
                       s);
    char low[48];
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < sizeof low; i++)
        if (s[i] != ' ')
            low[j++] = (char)tolower((unsigned char)s[i]);
    low[j] = '\0';
    if (azure_region_ok(low) && strlen(s) < 40)
        return why_set(why, wn,
                       "Azure regions are lower-case letters and digits; did you mean '%s'?", low);
    return why_set(why, wn,
                   "Azure regions are lower-case letters and digits, e.g. swedencentral or "
                   "eastus2");
}

/* A region named in an AWS endpoint host (bedrock-runtime.REGION.amazonaws.com), or "". */
static void endpoint_region(const char *host, char *out, size_t size)
{
    size_t n = strlen(host);
    out[0] = '\0';
    int aws = (n > 14 && strcmp(host + n - 14, ".amazonaws.com") == 0) ||
              (n > 17 && strcmp(host + n - 17, ".amazonaws.com.cn") == 0) ||
              (n > 8 && strcmp(host + n - 8, ".api.aws") == 0);
    if (!aws)
        return;
    for (const char *p = host; *p;) {
        size_t l = strcspn(p, ".");
        char label[64];
        if (l < sizeof label) {
            memcpy(label, p, l);
            label[l] = '\0';
            if (aws_region_ok(label) && l < size) {
                memcpy(out, label, l + 1);
                return;
            }
        }
        p += l;
        if (*p == '.')
            p++;
    }
}

/* [a-z0-9_-]{1,64} */
static int upstream_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* [A-Za-z_][A-Za-z0-9_]{0,127} */
static int env_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || isdigit((unsigned char)s[0]))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

/* IAM names and paths: [A-Za-z0-9+=,.@_-] and '/' between segments. */
static int iam_chars_ok(const char *s, size_t n, int slash)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '/' && slash && i > 0 && i + 1 < n && s[i - 1] != '/')
            continue;
        if (!isalnum(ch) && !strchr("+=,.@_-", ch))
            return 0;
    }
    return 1;
}

/*
 * arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, ...:user/[PATH/]NAME, or
 * arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION.
 */
static int why_arn(const char *s, char *why, size_t wn)
{
    static const char *const example =
        "a principal is an IAM ARN, e.g. arn:aws:iam::111122223333:role/llm-app or "
        "arn:aws:sts::111122223333:assumed-role/llm-app/pod-1";
    size_t n = strlen(s);
    if (n > 2048 || strncmp(s, "arn:", 4) != 0)
        return why_set(why, wn, "%s", example);
    const char *p = s + 4;
    size_t plen = strcspn(p, ":");
    if (plen < 3 || strncmp(p, "aws", 3) != 0 || p[plen] != ':')
        return why_set(why, wn, "unknown partition; %s", example);
    for (size_t i = 3; i < plen; i++)
        if (!islower((unsigned char)p[i]) && !(p[i] == '-' && p[i - 1] != '-' && i + 1 < plen))
            return why_set(why, wn, "unknown partition; %s", example);
    p += plen + 1;
    int sts;
    if (strncmp(p, "iam::", 5) == 0)
        sts = 0;
    else if (strncmp(p, "sts::", 5) == 0)
        sts = 1;
    else
        return why_set(why, wn, "the service must be iam (role, user) or sts (assumed-role); %s",
                       example);
    p += 5;
    if (!all_digits(p, 12) || p[12] != ':')
        return why_set(why, wn, "the account must be 12 digits; %s", example);
    p += 13;
    if (!sts && (strncmp(p, "role/", 5) == 0 || strncmp(p, "user/", 5) == 0)) {
        if (!iam_chars_ok(p + 5, strlen(p + 5), 1))
            return why_set(why, wn, "the %.4s name may use letters, digits and +=,.@_-", p);
        return 0;
    }
    if (sts && strncmp(p, "assumed-role/", 13) == 0) {
        const char *role = p + 13, *slash = strchr(role, '/');
        if (!slash || !iam_chars_ok(role, (size_t)(slash - role), 0) ||
            !iam_chars_ok(slash + 1, strlen(slash + 1), 0))
            return why_set(why, wn, "an assumed-role ARN ends in assumed-role/ROLE/SESSION");
        return 0;
    }
    return why_set(why, wn, "%s", example);
}

/* ================================================================= schema helpers */

typedef struct cctx {
    weir_error *err;
    const char *src;
    wr_sc_config *cfg;
    const wr_ynode *admin_at;
    const wr_ynode **listen_at; /* per upstream */
    const wr_ynode **name_at;
    hostport *listen_hp;
    hostport admin_hp;
} cctx;

static int fail(cctx *c, const wr_ynode *at, const char *fmt, ...) WR_PRINTF(3, 4);

static int fail(cctx *c, const wr_ynode *at, const char *fmt, ...)
{
    char text[sizeof c->err->text];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return wr_error_set(c->err, CFG_CODE, c->src, at ? at->line : 0, at ? at->col : 0, "%s", text);
}

static int oom(cctx *c)
{
    return wr_error_set(c->err, WEIR_ENOMEM, c->src, 0, 0,
                        "out of memory loading the configuration");
}

static const char *kind_name(const wr_ynode *n)
{
    if (n->kind == WR_Y_MAP)
        return "a mapping";
    if (n->kind == WR_Y_SEQ)
        return "a list";
    if (wr_ynode_is_null(n))
        return "no value";
    if (n->plain && all_digits(n->str, n->len))
        return "a number";
    if (n->plain && (!strcmp(n->str, "true") || !strcmp(n->str, "false")))
        return "a boolean";
    return "a string";
}

/* Key i of map is known and not a repeat. `where` is "" at the top level. */
static int check_key(cctx *c, const wr_ynode *map, size_t i, const char *const *keys,
                     const char *where)
{
    const wr_ynode *k = map->kids[i];
    int known = 0;
    for (size_t j = 0; keys[j]; j++)
        if (strcmp(k->str, keys[j]) == 0)
            known = 1;
    if (!known) {
        const char *hint = wr_ynames_closest(k->str, keys);
        char scope[128];
        if (*where)
            snprintf(scope, sizeof scope, "key '%.60s' in %s", k->str, where);
        else
            snprintf(scope, sizeof scope, "top-level key '%.60s'", k->str);
        if (hint)
            return fail(c, k, "unknown %s; did you mean '%s'?", scope, hint);
        char list[200];
        wr_ynames_join(list, sizeof list, keys);
        return fail(c, k, "unknown %s; expected one of: %s", scope, list);
    }
    for (size_t j = 0; j < i; j += 2)
        if (strcmp(map->kids[j]->str, k->str) == 0)
            return fail(c, k, "duplicate key '%s'%s%s (first at line %d)", k->str,
                        *where ? " in " : "", where, map->kids[j]->line);
    return 0;
}

static int check_keys(cctx *c, const wr_ynode *map, const char *const *keys, const char *where)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < map->n; i += 2)
        rc = check_key(c, map, i, keys, where);
    return rc;
}

static int want_map(cctx *c, const wr_ynode *v, const char *what)
{
    if (v->kind == WR_Y_MAP)
        return 0;
    return fail(c, v, "expected a mapping for '%s', got %s", what, kind_name(v));
}

/* A non-empty scalar of at most CFG_MAX_TEXT characters without control characters. */
static int get_str(cctx *c, const wr_ynode *v, const char *what, const char **out)
{
    if (v->kind != WR_Y_SCALAR)
        return fail(c, v, "expected a string for '%s', got %s", what, kind_name(v));
    if (wr_ynode_is_null(v) || v->len == 0)
        return fail(c, v, "'%s' has no value; give one or remove the key", what);
    if (v->len > CFG_MAX_TEXT)
        return fail(c, v, "'%s' is longer than %d characters", what, CFG_MAX_TEXT);
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->str[i] < 0x20 || v->str[i] == 0x7f)
            return fail(c, v, "'%s' contains a control character", what);
    *out = v->str;
    return 0;
}

static int set_str(cctx *c, char **field, const char *s)
{
    char *d = wr_strdup(s);
    if (!d)
        return oom(c);
    free(*field);
    *field = d;
    return 0;
}

static int get_text(cctx *c, const wr_ynode *v, const char *what, char **field)
{
    const char *s;
    int rc = get_str(c, v, what, &s);
    return rc ? rc : set_str(c, field, s);
}

/* Case-insensitive match against names[]; the error lists them with a suggestion. */
static int get_enum(cctx *c, const wr_ynode *v, const char *what, const char *const *names,
                    size_t *out)
{
    const char *s;
    int rc = get_str(c, v, what, &s);
    if (rc)
        return rc;
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    char list[200];
    wr_ynames_join(list, sizeof list, names);
    const char *hint = wr_ynames_closest(s, names);
    if (hint)
        return fail(c, v, "'%s' must be one of %s, not '%.40s'; did you mean '%s'?", what, list, s,
                    hint);
    return fail(c, v, "'%s' must be one of %s, not '%.40s'", what, list, s);
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (!all_digits(s, n) || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

static int get_uint(cctx *c, const wr_ynode *v, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    uint64_t x = 0;
    if (v->kind != WR_Y_SCALAR || !v->plain || parse_u64(v->str, v->len, &x) || x < min || x > max)
        return fail(c, v, "'%s' must be a whole number from %llu to %llu", what,
                    (unsigned long long)min, (unsigned long long)max);
    *out = x;
    return 0;
}

/* "N" bytes, or "N KiB|MiB|GiB" (space optional). */
static int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}};
    size_t d = strspn(s, "0123456789");
    uint64_t x;
    if (parse_u64(s, d, &x))
        return -1;
    const char *u = s + d;
    if (*u == ' ' && u[1])
        u++;
    for (size_t i = 0; i < WR_ARRAY_LEN(units); i++)
        if (strcmp(u, units[i].suffix) == 0) {
            if (x > UINT64_MAX / units[i].mult)
                return -1;
            *out = x * units[i].mult;
            return 0;
        }
    return -1;
}

static void size_text(char *buf, size_t n, uint64_t v)
{
    if (v >= GIB && v % GIB == 0)
        snprintf(buf, n, "%lluGiB", (unsigned long long)(v / GIB));
    else if (v >= MIB && v % MIB == 0)
        snprintf(buf, n, "%lluMiB", (unsigned long long)(v / MIB));
    else if (v >= KIB && v % KIB == 0)
        snprintf(buf, n, "%lluKiB", (unsigned long long)(v / KIB));
    else
        snprintf(buf, n, "%llu", (unsigned long long)v);
}

static int get_size(cctx *c, const wr_ynode *v, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    uint64_t x = 0;
    char lo[32], hi[32];
    size_text(lo, sizeof lo, min);
    size_text(hi, sizeof hi, max);
    if (v->kind != WR_Y_SCALAR || wr_ynode_is_null(v) || parse_size(v->str, &x))
        return fail(c, v,
                    "'%s' must be a size in bytes, optionally with KiB, MiB or GiB (e.g. 8MiB), "
                    "from %s to %s",
                    what, lo, hi);
    if (x < min || x > max)
        return fail(c, v, "'%s' must be from %s to %s", what, lo, hi);
    *out = x;
    return 0;
}

static int get_bool(cctx *c, const wr_ynode *v, const char *what, int *out)
{
    if (v->kind == WR_Y_SCALAR && v->plain &&
        (!strcmp(v->str, "true") || !strcmp(v->str, "false"))) {
        *out = v->str[0] == 't';
        return 0;
    }
    if (v->kind == WR_Y_SCALAR && !v->plain &&
        (!strcmp(v->str, "true") || !strcmp(v->str, "false")))
        return fail(c, v, "'%s' must be true or false without quotes", what);
    if (v->kind == WR_Y_SCALAR && !wr_ynode_is_null(v))
        return fail(c, v, "'%s' must be true or false, not '%.40s'", what, v->str);
    return fail(c, v, "'%s' must be true or false, got %s", what, kind_name(v));
}

/* ================================================================= top level */

static const char *const top_keys[] = {"policy", "admin",  "workers",   "log_level",
                                       "audit",  "limits", "upstreams", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const durability_names[] = {"sync", "batch", NULL};
static const char *const kind_names[] = {"bedrock", "bedrock-mantle", "azure", NULL};
/* The policy loader's residency deployment types (policy/load.c), lower case. */
static const char *const deployment_types[] = {
    "standard",           "datazone", "global", "provisioned", "datazone_provisioned",
    "global_provisioned", NULL};

/* Azure's ARM SKU names for the same deployment types. */
static const struct {
    const char *sku, *type;
} deployment_skus[] = {{"GlobalStandard", "global"},
                       {"DataZoneStandard", "datazone"},
                       {"ProvisionedManaged", "provisioned"},
                       {"GlobalProvisionedManaged", "global_provisioned"},
                       {"DataZoneProvisionedManaged", "datazone_provisioned"}};

const char *wr_up_kind_name(wr_up_kind k)
{
    switch (k) {
    case WR_KIND_BEDROCK:
        return "bedrock";
    case WR_KIND_BEDROCK_MANTLE:
        return "bedrock-mantle";
    case WR_KIND_AZURE:
        return "azure";
    }
    return "unknown";
}

/* audit.sinks: [ { plugin: s3-export, config: { ... } }, ... ] */
static int load_sinks(cctx *c, const wr_ynode *v)
{
    static const char *const keys[] = {"plugin", "config", NULL};
    wr_sc_audit *a = &c->cfg->audit;
    if (v->kind != WR_Y_SEQ)
        return fail(c, v, "'sinks' takes a list of { plugin, config } mappings, got %s",
                    v->kind == WR_Y_MAP ? "a mapping" : "a scalar");
    if (!(a->sinks = calloc(v->n + 1, sizeof *a->sinks)))
        return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        const wr_ynode *m = v->kids[i];
        wr_sc_sink *sk = &a->sinks[a->nsinks++];
        sk->line = m->line;
        int rc = want_map(c, m, "each audit sink");
        if (!rc)
            rc = check_keys(c, m, keys, "an audit sink");
        if (rc)
            return rc;
        const wr_ynode *cfg = wr_ynode_get(m, "config"), *pl = wr_ynode_get(m, "plugin");
        if (!pl)
            return fail(c, m, "an audit sink needs 'plugin' (e.g. plugin: s3-export)");
        if ((rc = get_text(c, pl, "plugin", &sk->plugin)))
            return rc;
        if (cfg && cfg->kind != WR_Y_MAP && !wr_ynode_is_null(cfg))
            return fail(c, cfg, "an audit sink's 'config' takes a mapping");
        if (wr_ynode_to_json(cfg && cfg->kind == WR_Y_MAP ? cfg : NULL, &sk->config_json) != 0)
            return oom(c);
    }
    return 0;
}

static int load_audit(cctx *c, const wr_ynode *map)
{
    static const char *const keys[] = {
        "dir",           "durability",     "batch_ms",  "account",      "trail", "signing_key_file",
        "hash_key_file", "digest_seconds", "fail_open", "jsonl_stdout", "roll_seconds", "sinks",
        "sink_flush_timeout_ms", NULL};
    wr_sc_audit *a = &c->cfg->audit;
    int rc = want_map(c, map, "audit");
    if (!rc)
        rc = check_keys(c, map, keys, "'audit'");
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const char *k = map->kids[i]->str;
        const wr_ynode *v = map->kids[i + 1];
        uint64_t u = 0;
        size_t e = 0;
        const char *s;
        if (!strcmp(k, "dir")) {
            rc = get_text(c, v, "audit.dir", &a->dir);
        } else if (!strcmp(k, "durability")) {
            if (!(rc = get_enum(c, v, "durability", durability_names, &e)))
                a->durability = e ? WEIR_AUDIT_BATCH : WEIR_AUDIT_SYNC;
        } else if (!strcmp(k, "batch_ms")) {
            if (!(rc = get_uint(c, v, "batch_ms", 1, 10000, &u)))
                a->batch_ms = (unsigned)u;
        } else if (!strcmp(k, "account")) {
            if (!(rc = get_str(c, v, "account", &s))) {
                if (v->len != 12 || !all_digits(s, 12))
                    rc = fail(c, v,
                              "'account' must be a 12-digit AWS account id, e.g. "
                              "'111122223333' (quote it to keep leading zeros)");
                else
                    rc = set_str(c, &a->account, s);
            }
        } else if (!strcmp(k, "trail")) {
            if (!(rc = get_str(c, v, "trail", &s))) {
                size_t n = strlen(s);
                if (n > 128 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-._") != n)
                    rc = fail(c, v,
                              "'trail' may only use letters, digits, '-', '.' and '_' "
                              "(at most 128)");
                else
                    rc = set_str(c, &a->trail, s);
            }
        } else if (!strcmp(k, "signing_key_file")) {
            rc = get_text(c, v, "signing_key_file", &a->signing_key_file);
        } else if (!strcmp(k, "hash_key_file")) {
            rc = get_text(c, v, "hash_key_file", &a->hash_key_file);
        } else if (!strcmp(k, "digest_seconds")) {
            if (!(rc = get_uint(c, v, "digest_seconds", 1, 86400, &u)))
                a->digest_seconds = (unsigned)u;
        } else if (!strcmp(k, "fail_open")) {
            rc = get_bool(c, v, "fail_open", &a->fail_open);
        } else if (!strcmp(k, "roll_seconds")) {
            if (!(rc = get_uint(c, v, "roll_seconds", 1, 86400, &u)))
                a->roll_seconds = (unsigned)u;
        } else if (!strcmp(k, "sink_flush_timeout_ms")) {
            if (!(rc = get_uint(c, v, "sink_flush_timeout_ms", 0, 600000, &u)))
                a->sink_flush_timeout_ms = (unsigned)u;
        } else if (!strcmp(k, "sinks")) {
            rc = load_sinks(c, v);
        } else {
            rc = get_bool(c, v, "jsonl_stdout", &a->jsonl_stdout);
        }
    }
    return rc;
}

enum { L_SIZE, L_COUNT, L_MS };

typedef struct limit_key {
    const char *name;
    int type;
    uint64_t min, max;
    size_t off; /* in wr_sc_config */
    int wide;   /* size_t field (else unsigned) */
} limit_key;

#define LIM(n, t, lo, hi, member, w)                                                               \
    {                                                                                              \
        n, t, lo, hi, offsetof(wr_sc_config, member), w                                            \
    }
static const limit_key limit_keys[] = {
    LIM("max_body_bytes", L_SIZE, 1, GIB, http.max_body_bytes, 1),
    LIM("max_header_bytes", L_SIZE, KIB, MIB, http.max_header_bytes, 1),
    LIM("max_headers", L_COUNT, 1, 10000, http.max_headers, 1),
    LIM("header_timeout_ms", L_MS, 1, 3600000, http.header_timeout_ms, 0),
    LIM("body_timeout_ms", L_MS, 1, 3600000, http.body_timeout_ms, 0),
    LIM("idle_timeout_ms", L_MS, 1, 3600000, http.idle_timeout_ms, 0),
    LIM("write_timeout_ms", L_MS, 1, 3600000, http.write_timeout_ms, 0),
    LIM("high_watermark_bytes", L_SIZE, KIB, 64 * MIB, http.high_watermark, 1),
    LIM("max_streams", L_COUNT, 1, 65535, http.max_streams, 0),
    LIM("max_connections", L_COUNT, 1, 1000000, http.max_connections, 0),
    LIM("upstream_connect_timeout_ms", L_MS, 1, 600000, upstream_connect_timeout_ms, 0),
    LIM("upstream_first_byte_timeout_ms", L_MS, 1, 3600000, upstream_first_byte_timeout_ms, 0),
    LIM("upstream_idle_timeout_ms", L_MS, 1, 3600000, upstream_idle_timeout_ms, 0),
    LIM("max_hold_bytes", L_SIZE, KIB, 64 * MIB, max_hold_bytes, 1),
    LIM("drain_timeout_ms", L_MS, 0, 3600000, drain_timeout_ms, 0),
};

static int load_limits(cctx *c, const wr_ynode *map)
{
    const char *names[WR_ARRAY_LEN(limit_keys) + 1];
    for (size_t i = 0; i < WR_ARRAY_LEN(limit_keys); i++)
        names[i] = limit_keys[i].name;
    names[WR_ARRAY_LEN(limit_keys)] = NULL;

    int rc = want_map(c, map, "limits");
    if (!rc)
        rc = check_keys(c, map, names, "'limits'");
    for (size_t i = 0; !rc && i < map->n; i += 2) {
        const limit_key *l = NULL;
        for (size_t j = 0; j < WR_ARRAY_LEN(limit_keys); j++)
            if (!strcmp(map->kids[i]->str, limit_keys[j].name))
                l = &limit_keys[j];
        uint64_t x = 0;
        if (l->type == L_SIZE)
            rc = get_size(c, map->kids[i + 1], l->name, l->min, l->max, &x);
        else
            rc = get_uint(c, map->kids[i + 1], l->name, l->min, l->max, &x);
        if (rc)
            break;
        unsigned char *base = (unsigned char *)c->cfg + l->off;
        if (l->wide) {
            size_t v = (size_t)x;
            memcpy(base, &v, sizeof v);
        } else {
            unsigned v = (unsigned)x;
            memcpy(base, &v, sizeof v);
        }
    }
    return rc;
}

/* ================================================================= upstreams */

static const char *const upstream_keys[] = {"name",         "kind",
                                            "listen",       "region",
                                            "endpoint",     "deployment_type",
                                            "deployments",  "api_key_env",
                                            "api_key_file", "bearer_token_env",
                                            "aws_profile",  "principal",
                                            "ca_file",      "policy",
                                            "identity",     NULL};
static const char *const azure_only[] = {"deployment_type", "deployments",      "api_key_env",
                                         "api_key_file",    "bearer_token_env", NULL};
static const char *const bedrock_only[] = {"aws_profile", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i]))
            return 1;
    return 0;
}

static int load_deployments(cctx *c, wr_sc_upstream *u, const wr_ynode *map, const char *label)
{
    int rc = want_map(c, map, "deployments");
    if (rc)
        return rc;
    if (map->n / 2 > CFG_MAX_DEPLOYMENTS)
        return fail(c, map, "more than %d deployments in %s", CFG_MAX_DEPLOYMENTS, label);
    if (map->n && !(u->deployments = calloc(map->n / 2, sizeof *u->deployments)))
        return oom(c);
    for (size_t i = 0; i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i], *v = map->kids[i + 1];
        size_t n = k->len;
        if (n == 0 || n > CFG_MAX_NAME ||
            strspn(k->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                n)
            return fail(c, k,
                        "invalid deployment name '%.60s' in %s: use 1 to 64 characters from "
                        "A-Z a-z 0-9 - _ .",
                        k->str, label);
        for (size_t j = 0; j < i; j += 2)
            if (strcasecmp(map->kids[j]->str, k->str) == 0)
                return fail(c, k,
                            "deployment '%s' is listed twice in %s (first at line %d); Azure "
                            "deployment names ignore case",
                            k->str, label, map->kids[j]->line);
        const char *model;
        if ((rc = get_str(c, v, "deployments", &model)))
            return rc;
        if (strlen(model) > 256 || strchr(model, ' '))
            return fail(c, v,
                        "invalid model '%.60s' for deployment '%s': a model id has no "
                        "spaces, e.g. gpt-4o",
                        model, k->str);
        wr_sc_deployment *d = &u->deployments[u->ndeployments];
        if (!(d->name = wr_strdup(k->str)) || !(d->model = wr_strdup(model))) {
            free(d->name);
            d->name = NULL;
            return oom(c);
        }
        u->ndeployments++;
    }
    return 0;
}

/* A string key that needs a syntax check `why`. */
static int get_checked(cctx *c, const wr_ynode *v, const char *what, char **field,
                       int (*ok)(const char *), const char *help)
{
    const char *s;
    int rc = get_str(c, v, what, &s);
    if (rc)
        return rc;
    if (!ok(s))
        return fail(c, v, "invalid %s '%.80s': %s", what, s, help);
    return set_str(c, field, s);
}

/* ------------------------------------------------------------------ identity */

static const char *const id_source_names[] = {"static", "workload", "header", "jwt", "sts", NULL};

const char *wr_id_source_name(wr_id_source src)
{
    return (unsigned)src < 5 ? id_source_names[src] : "static";
}

static int parse_cidr(const char *s, wr_sc_cidr *out)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    memset(out, 0, sizeof *out);
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->bits = max;
    if (slash) {
        uint64_t b;
        if (parse_u64(slash + 1, strlen(slash + 1), &b) != 0 || b > max)
            return -1;
        out->bits = (unsigned)b;
    }
    return 0;
}

int wr_sc_cidr_match(const wr_sc_cidr *list, size_t n, const char *ip)
{
    unsigned char a[16];
    int fam = AF_INET;
    if (!ip || inet_pton(AF_INET, ip, a) != 1) {
        fam = AF_INET6;
        if (!ip || inet_pton(AF_INET6, ip, a) != 1)
            return 0;
        /* ::ffff:a.b.c.d is an IPv4 peer */
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            memmove(a, a + 12, 4);
            fam = AF_INET;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].family != fam)
            continue;
        unsigned bits = list[i].bits, full = bits / 8, rest = bits % 8;
        if (memcmp(a, list[i].addr, full) != 0)
            continue;
        if (rest && ((a[full] ^ list[i].addr[full]) & (0xff << (8 - rest)) & 0xff))
            continue;
        return 1;
    }
    return 0;
}

static int header_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static int load_str_list(cctx *c, const wr_ynode *v, const char *what, char ***out, size_t *n)
{
    if (v->kind == WR_Y_SCALAR) {
        if (!(*out = calloc(1, sizeof **out)))
            return oom(c);
        *n = 1;
        return set_str(c, &(*out)[0], v->str);
    }
    if (v->kind != WR_Y_SEQ || v->n == 0 || v->n > 64)
        return fail(c, v, "'%s' must be a string or a list of 1 to 64 strings", what);
    if (!(*out = calloc(v->n, sizeof **out)))
        return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        const char *s;
        int rc = get_str(c, v->kids[i], what, &s);
        if (rc)
            return rc;
        if ((rc = set_str(c, &(*out)[i], s)))
            return rc;
        (*n)++;
    }
    return 0;
}

static int load_identity(cctx *c, wr_sc_upstream *u, const wr_ynode *map, const char *label)
{
    static const char *const keys[] = {
        "source",   "header",      "trusted_peers",  "token_header",         "jwks_file",
        "jwks_url", "jwks_refresh_seconds", "issuer", "audiences",          "leeway_seconds",
        "claim",    "principals",  "principal_template", "sts_endpoint",     "cluster_id",
        "token_max_age_seconds", NULL};
    static const char *const per_source[][8] = {
        /* static */ {NULL},
        /* workload */ {"sts_endpoint", NULL},
        /* header */ {"header", "trusted_peers", NULL},
        /* jwt */ {"token_header", "jwks_file", "jwks_url", "jwks_refresh_seconds", "issuer",
                   "audiences", "leeway_seconds", NULL},
        /* sts */ {"token_header", "sts_endpoint", "cluster_id", "token_max_age_seconds", NULL},
    };
    static const char *const jwt_more[] = {"claim", "principals", "principal_template", NULL};
    wr_sc_identity *id = &u->identity;
    int rc = want_map(c, map, "identity");
    if (!rc)
        rc = check_keys(c, map, keys, "'identity'");
    if (rc)
        return rc;
    const wr_ynode *v = wr_ynode_get(map, "source");
    size_t e = 0;
    if (!v)
        return fail(c, map, "'identity' in %s needs 'source' (static, workload, header, jwt or sts)",
                    label);
    if ((rc = get_enum(c, v, "source", id_source_names, &e)))
        return rc;
    id->source = (wr_id_source)e;
    for (size_t i = 0; i < map->n; i += 2) {
        const char *k = map->kids[i]->str;
        if (!strcmp(k, "source"))
            continue;
        int ok = in_list(k, per_source[id->source]) ||
                 (id->source == WR_ID_JWT && in_list(k, jwt_more));
        if (!ok)
            return fail(c, map->kids[i], "'%s' does not apply to identity source '%s' in %s", k,
                        id_source_names[id->source], label);
        const wr_ynode *val = map->kids[i + 1];
        uint64_t n = 0;
        if (!strcmp(k, "header") || !strcmp(k, "token_header")) {
            rc = get_checked(c, val, k, !strcmp(k, "header") ? &id->header : &id->token_header,
                             header_name_ok, "a header name is letters, digits and '-'");
        } else if (!strcmp(k, "trusted_peers")) {
            if (val->kind != WR_Y_SEQ || val->n == 0 || val->n > 256)
                return fail(c, val, "'trusted_peers' must be a list of 1 to 256 addresses or "
                                    "blocks, e.g. [127.0.0.1/32, 10.0.0.0/8]");
            if (!(id->trusted = calloc(val->n, sizeof *id->trusted)))
                return oom(c);
            for (size_t j = 0; j < val->n; j++) {
                const char *s;
                if ((rc = get_str(c, val->kids[j], "trusted_peers", &s)))
                    return rc;
                if (parse_cidr(s, &id->trusted[j]) != 0)
                    return fail(c, val->kids[j],
                                "invalid trusted peer '%.60s': give an address or a block, e.g. "
                                "10.0.0.0/8 or ::1",
                                s);
                id->ntrusted++;
            }
        } else if (!strcmp(k, "jwks_file")) {
            rc = get_text(c, val, k, &id->jwks_file);
        } else if (!strcmp(k, "jwks_url") || !strcmp(k, "sts_endpoint")) {
            char **field = !strcmp(k, "jwks_url") ? &id->jwks_url : &id->sts_endpoint;
            if ((rc = get_text(c, val, k, field)))
                return rc;
            if (strncmp(*field, "https://", 8) != 0 && strncmp(*field, "http://127.0.0.1", 16) != 0 &&
                strncmp(*field, "http://localhost", 16) != 0 && strncmp(*field, "http://[::1]", 12) != 0)
                return fail(c, val, "'%s' must be an https:// URL (plain http only on loopback)", k);
        } else if (!strcmp(k, "jwks_refresh_seconds")) {
            if (!(rc = get_uint(c, val, k, 60, 86400, &n)))
                id->jwks_refresh_seconds = (unsigned)n;
        } else if (!strcmp(k, "leeway_seconds")) {
            if (!(rc = get_uint(c, val, k, 0, 300, &n)))
                id->leeway_seconds = (unsigned)n;
        } else if (!strcmp(k, "issuer")) {
            rc = get_text(c, val, k, &id->issuer);
        } else if (!strcmp(k, "audiences")) {
            rc = load_str_list(c, val, k, &id->audiences, &id->naudiences);
        } else if (!strcmp(k, "claim")) {
            static const char *const claims[] = {"sub", "oid", "appid", "azp", "roles", "email",
                                                 NULL};
            if (!(rc = get_enum(c, val, k, claims, &e)))
                rc = set_str(c, &id->claim, claims[e]);
        } else if (!strcmp(k, "principals")) {
            if ((rc = want_map(c, val, "principals")))
                return rc;
            if (!(id->principals = calloc(val->n / 2 + 1, sizeof *id->principals)))
                return oom(c);
            for (size_t j = 0; j < val->n; j += 2) {
                const char *arn;
                char why[200];
                if ((rc = get_str(c, val->kids[j + 1], "principals", &arn)))
                    return rc;
                if (why_arn(arn, why, sizeof why))
                    return fail(c, val->kids[j + 1], "invalid principal '%.80s': %s", arn, why);
                wr_sc_deployment *d = &id->principals[id->nprincipals];
                if (!(d->name = wr_strdup(val->kids[j]->str)) || !(d->model = wr_strdup(arn))) {
                    free(d->name);
                    d->name = NULL;
                    return oom(c);
                }
                id->nprincipals++;
            }
        } else if (!strcmp(k, "principal_template")) {
            if ((rc = get_text(c, val, k, &id->principal_template)))
                return rc;
            if ((!strstr(id->principal_template, "{value}") &&
                 !strstr(id->principal_template, "{name}")) ||
                strncmp(id->principal_template, "arn:", 4) != 0)
                return fail(c, val, "'principal_template' must be an ARN containing {value} (or "
                                    "{name}), e.g. arn:aws:iam::111122223333:role/{value}");
        } else if (!strcmp(k, "cluster_id")) {
            rc = get_text(c, val, k, &id->cluster_id);
        } else if (!strcmp(k, "token_max_age_seconds")) {
            if (!(rc = get_uint(c, val, k, 1, 900, &n)))
                id->token_max_age_seconds = (unsigned)n;
        }
        if (rc)
            return rc;
    }
    if (id->source == WR_ID_HEADER && !id->ntrusted)
        return fail(c, map, "identity source 'header' in %s needs 'trusted_peers': a principal "
                            "header is believed only from the front proxy's addresses",
                    label);
    if (id->source == WR_ID_JWT) {
        if (!!id->jwks_file == !!id->jwks_url)
            return fail(c, map, "identity source 'jwt' in %s needs exactly one of 'jwks_file' "
                                "and 'jwks_url'",
                        label);
        if (!id->issuer || !id->naudiences)
            return fail(c, map, "identity source 'jwt' in %s needs 'issuer' and 'audiences'",
                        label);
        if (!id->nprincipals && !id->principal_template)
            return fail(c, map, "identity source 'jwt' in %s needs 'principals' (claim value -> "
                                "ARN) or 'principal_template'",
                        label);
        if (!id->claim && !(id->claim = wr_strdup("sub")))
            return oom(c);
        if (!id->jwks_refresh_seconds)
            id->jwks_refresh_seconds = 3600;
        if (!id->leeway_seconds && !wr_ynode_get(map, "leeway_seconds"))
            id->leeway_seconds = 60;
    }
    if (id->source == WR_ID_WORKLOAD && u->kind == WR_KIND_AZURE)
        return fail(c, map, "identity source 'workload' needs AWS credentials; %s is kind azure",
                    label);
    return 0;
}

static int load_upstream_key(cctx *c, wr_sc_upstream *u, size_t idx, const char *k,
                             const wr_ynode *v, const char *label)
{
    char why[200];
    const char *s;
    int rc;

    if (!strcmp(k, "listen")) {
        if ((rc = get_str(c, v, "listen", &s)))
            return rc;
        if (why_listen(s, &c->listen_hp[idx], why, sizeof why))
            return fail(c, v, "invalid listen '%.80s' in %s: %s", s, label, why);
        c->listen_at[idx] = v;
        return set_str(c, &u->listen, s);
    }
    if (!strcmp(k, "region")) {
        if ((rc = get_str(c, v, "region", &s)))
            return rc;
        if (why_region(u->kind, s, why, sizeof why))
            return fail(c, v, "invalid region '%.60s' for a%s %s upstream: %s", s,
                        u->kind == WR_KIND_AZURE ? "n" : "", wr_up_kind_name(u->kind), why);
        return set_str(c, &u->region, s);
    }
    if (!strcmp(k, "endpoint")) {
        char *canon = NULL, host[256];
        if ((rc = get_str(c, v, "endpoint", &s)))
            return rc;
        int r = why_endpoint(s, &canon, host, sizeof host, why, sizeof why);
        if (r > 0)
            return oom(c);
        if (r < 0)
            return fail(c, v, "invalid endpoint '%.80s': %s", s, why);
        free(u->endpoint);
        u->endpoint = canon;
        return 0;
    }
    if (!strcmp(k, "deployment_type")) {
        char norm[32];
        if ((rc = get_str(c, v, "deployment_type", &s)))
            return rc;
        snprintf(norm, sizeof norm, "%s", s);
        for (char *p = norm; *p; p++)
            *p = *p == '-' ? '_' : (char)tolower((unsigned char)*p);
        for (size_t i = 0; deployment_types[i] && strlen(s) < sizeof norm; i++)
            if (!strcmp(norm, deployment_types[i]))
                return set_str(c, &u->deployment_type, deployment_types[i]);
        for (size_t i = 0; i < WR_ARRAY_LEN(deployment_skus); i++)
            if (!strcasecmp(s, deployment_skus[i].sku))
                return set_str(c, &u->deployment_type, deployment_skus[i].type);
        char list[200];
        const char *hint = wr_ynames_closest(norm, deployment_types);
        wr_ynames_join(list, sizeof list, deployment_types);
        return fail(c, v, "'deployment_type' must be one of %s, not '%.40s'%s%s%s", list, s,
                    hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    }
    if (!strcmp(k, "deployments"))
        return load_deployments(c, u, v, label);
    if (!strcmp(k, "api_key_env") || !strcmp(k, "bearer_token_env"))
        return get_checked(c, v, k,
                           !strcmp(k, "api_key_env") ? &u->api_key_env : &u->bearer_token_env,
                           env_name_ok,
                           "an environment variable name is letters, digits and '_', not "
                           "starting with a digit (e.g. AZURE_OPENAI_API_KEY); give the name, "
                           "never the key itself");
    if (!strcmp(k, "api_key_file"))
        return get_text(c, v, k, &u->api_key_file);
    if (!strcmp(k, "aws_profile")) {
        if ((rc = get_str(c, v, k, &s)))
            return rc;
        if (strlen(s) > 128 || strchr(s, ' ') || strchr(s, '[') || strchr(s, ']'))
            return fail(c, v,
                        "invalid aws_profile '%.60s': a profile name has no spaces or "
                        "brackets",
                        s);
        return set_str(c, &u->aws_profile, s);
    }
    if (!strcmp(k, "principal")) {
        if ((rc = get_str(c, v, k, &s)))
            return rc;
        if (why_arn(s, why, sizeof why))
            return fail(c, v, "invalid principal '%.80s': %s", s, why);
        return set_str(c, &u->principal, s);
    }
    if (!strcmp(k, "ca_file"))
        return get_text(c, v, k, &u->ca_file);
    if (!strcmp(k, "policy"))
        return get_text(c, v, k, &u->policy);
    if (!strcmp(k, "identity"))
        return load_identity(c, u, v, label);
    return 0; /* name and kind: done before */
}

static int default_endpoint(cctx *c, wr_sc_upstream *u)
{
    wr_buf b;
    wr_buf_init(&b);
    if (u->kind == WR_KIND_BEDROCK)
        wr_buf_printf(&b, "https://bedrock-runtime.%s.amazonaws.com", u->region);
    else
        wr_buf_printf(&b, "https://bedrock-mantle.%s.api.aws", u->region);
    if (b.oom || !b.data) {
        wr_buf_free(&b);
        return oom(c);
    }
    u->endpoint = b.data;
    return 0;
}

static int load_upstream(cctx *c, const wr_ynode *map, size_t idx)
{
    wr_sc_upstream *u = &c->cfg->up[idx];
    char label[96];
    const wr_ynode *v;
    size_t e = 0;
    int rc;

    snprintf(label, sizeof label, "upstream %zu", idx + 1);
    if (map->kind == WR_Y_MAP && (v = wr_ynode_get(map, "name")) && v->kind == WR_Y_SCALAR &&
        upstream_name_ok(v->str))
        snprintf(label, sizeof label, "upstream '%s'", v->str);
    if (map->kind != WR_Y_MAP)
        return fail(c, map, "expected a mapping for %s (name, kind, listen, region, ...), got %s",
                    label, kind_name(map));
    if ((rc = check_keys(c, map, upstream_keys, label)))
        return rc;

    if (!(v = wr_ynode_get(map, "name")))
        return fail(c, map, "%s is missing 'name' (e.g. name: bedrock-eu)", label);
    if ((rc = get_checked(c, v, "name", &u->name, upstream_name_ok,
                          "use 1 to 64 characters from a-z 0-9 _ -")))
        return rc;
    c->name_at[idx] = v;
    snprintf(label, sizeof label, "upstream '%s'", u->name);

    if (!(v = wr_ynode_get(map, "kind")))
        return fail(c, map, "%s is missing 'kind' (bedrock, bedrock-mantle or azure)", label);
    if ((rc = get_enum(c, v, "kind", kind_names, &e)))
        return rc;
    u->kind = (wr_up_kind)e;

    for (size_t i = 0; i < map->n; i += 2) {
        const wr_ynode *k = map->kids[i];
        if (u->kind == WR_KIND_AZURE && in_list(k->str, bedrock_only))
            return fail(c, k,
                        "'%s' applies only to bedrock and bedrock-mantle upstreams; %s is "
                        "kind azure",
                        k->str, label);
        if (u->kind != WR_KIND_AZURE && in_list(k->str, azure_only))
            return fail(c, k, "'%s' applies only to azure upstreams; %s is kind %s", k->str, label,
                        wr_up_kind_name(u->kind));
        if ((rc = load_upstream_key(c, u, idx, k->str, map->kids[i + 1], label)))
            return rc;
    }

    if (!u->listen)
        return fail(c, map, "%s is missing 'listen' (e.g. listen: 127.0.0.1:8080)", label);
    if (!u->region)
        return fail(c, map, "%s is missing 'region' (e.g. region: %s)", label,
                    u->kind == WR_KIND_AZURE ? "swedencentral" : "eu-central-1");
    if (u->kind == WR_KIND_AZURE) {
        if (!u->endpoint)
            return fail(c, map,
                        "%s is missing 'endpoint' (e.g. endpoint: "
                        "https://my-resource.openai.azure.com)",
                        label);
        if (!u->deployment_type)
            return fail(c, map, "%s is missing 'deployment_type' (e.g. deployment_type: standard)",
                        label);
        const wr_ynode *cred = NULL;
        for (size_t i = 0; i < map->n; i += 2)
            if (!strcmp(map->kids[i]->str, "api_key_env") ||
                !strcmp(map->kids[i]->str, "api_key_file") ||
                !strcmp(map->kids[i]->str, "bearer_token_env")) {
                if (cred)
                    return fail(c, map->kids[i],
                                "%s sets both '%s' and '%s'; give one of api_key_env, "
                                "api_key_file or bearer_token_env",
                                label, cred->str, map->kids[i]->str);
                cred = map->kids[i];
            }
    } else if (!u->endpoint) {
        if ((rc = default_endpoint(c, u)))
            return rc;
    } else if ((v = wr_ynode_get(map, "endpoint"))) {
        char host[256], why[200], in[40];
        char *canon = NULL;
        if (why_endpoint(u->endpoint, &canon, host, sizeof host, why, sizeof why) == 0) {
            free(canon);
            endpoint_region(host, in, sizeof in);
            if (*in && strcmp(in, u->region) != 0)
                return fail(c, v, "endpoint '%.80s' is in region %s, but %s has region %s",
                            u->endpoint, in, label, u->region);
        }
    }
    return 0;
}

static int load_upstreams(cctx *c, const wr_ynode *seq)
{
    wr_sc_config *cfg = c->cfg;
    if (seq->kind != WR_Y_SEQ)
        return fail(c, seq, "expected a list for 'upstreams', got %s", kind_name(seq));
    if (seq->n == 0)
        return fail(c, seq, "'upstreams' is empty; list at least one upstream");
    if (seq->n > CFG_MAX_UPSTREAMS)
        return fail(c, seq, "more than %d upstreams", CFG_MAX_UPSTREAMS);
    if (!(cfg->up = calloc(seq->n, sizeof *cfg->up)) ||
        !(c->listen_at = calloc(seq->n, sizeof *c->listen_at)) ||
        !(c->name_at = calloc(seq->n, sizeof *c->name_at)) ||
        !(c->listen_hp = calloc(seq->n, sizeof *c->listen_hp)))
        return oom(c);
    for (size_t i = 0; i < seq->n; i++) {
        cfg->nup = i + 1;
        int rc = load_upstream(c, seq->kids[i], i);
        if (rc)
            return rc;
    }
    return 0;
}

/* The later of two nodes in the document. */
static const wr_ynode *later(const wr_ynode *a, const wr_ynode *b)
{
    if (a->line != b->line)
        return a->line > b->line ? a : b;
    return a->col > b->col ? a : b;
}

static int check_unique(cctx *c)
{
    wr_sc_config *cfg = c->cfg;
    for (size_t i = 0; i < cfg->nup; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(cfg->up[i].name, cfg->up[j].name))
                return fail(c, c->name_at[i], "upstream name '%s' is used twice (first at line %d)",
                            cfg->up[i].name, c->name_at[j]->line);
            if (listeners_clash(&c->listen_hp[i], &c->listen_hp[j]))
                return fail(c, c->listen_at[i],
                            "listen '%s' of upstream '%s' clashes with listen '%s' of upstream "
                            "'%s' (line %d); give each listener its own port",
                            cfg->up[i].listen, cfg->up[i].name, cfg->up[j].listen, cfg->up[j].name,
                            c->listen_at[j]->line);
        }
        if (c->admin_at && listeners_clash(&c->listen_hp[i], &c->admin_hp)) {
            const wr_ynode *at = later(c->admin_at, c->listen_at[i]);
            return fail(c, at,
                        "listen '%s' of upstream '%s' clashes with admin '%s'; give each "
                        "listener its own port",
                        cfg->up[i].listen, cfg->up[i].name, cfg->admin);
        }
    }
    return 0;
}

static int load_root(cctx *c, const wr_ynode *root)
{
    wr_sc_config *cfg = c->cfg;
    const wr_ynode *ups = NULL;
    char why[200];
    int rc;

    if (!root || wr_ynode_is_null(root))
        return wr_error_set(c->err, CFG_CODE, c->src, 1, 1,
                            "the configuration is empty; it needs at least 'upstreams'");
    if (root->kind != WR_Y_MAP)
        return fail(c, root,
                    "a configuration is a mapping of keys (policy, upstreams, ...), got %s",
                    kind_name(root));
    if ((rc = check_keys(c, root, top_keys, "")))
        return rc;
    for (size_t i = 0; i < root->n; i += 2) {
        const char *k = root->kids[i]->str;
        const wr_ynode *v = root->kids[i + 1];
        uint64_t u = 0;
        size_t e = 0;
        const char *s;
        if (!strcmp(k, "policy")) {
            rc = get_text(c, v, "policy", &cfg->policy);
        } else if (!strcmp(k, "admin")) {
            if (!(rc = get_str(c, v, "admin", &s))) {
                if (why_listen(s, &c->admin_hp, why, sizeof why))
                    rc = fail(c, v, "invalid admin '%.80s': %s", s, why);
                else
                    rc = set_str(c, &cfg->admin, s);
                c->admin_at = v;
            }
        } else if (!strcmp(k, "workers")) {
            if (!(rc = get_uint(c, v, "workers", 1, CFG_MAX_WORKERS, &u)))
                cfg->workers = (unsigned)u;
        } else if (!strcmp(k, "log_level")) {
            if (!(rc = get_enum(c, v, "log_level", log_level_names, &e)))
                cfg->log_level = (int)e;
        } else if (!strcmp(k, "audit")) {
            rc = load_audit(c, v);
        } else if (!strcmp(k, "limits")) {
            rc = load_limits(c, v);
        } else {
            ups = v;
            rc = load_upstreams(c, v);
        }
        if (rc)
            return rc;
    }
    if (!ups)
        return fail(c, root,
                    "missing required key 'upstreams' (a list with at least one upstream)");
    return check_unique(c);
}

/* ================================================================= public */

static unsigned default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 2 ? 2u : 1u;
}

static wr_sc_config *config_new(void)
{
    wr_sc_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->workers = default_workers();
    cfg->log_level = 1;
    cfg->audit.durability = WEIR_AUDIT_SYNC;
    cfg->audit.batch_ms = 50;
    cfg->audit.digest_seconds = 3600;
    cfg->audit.roll_seconds = 300;
    cfg->audit.sink_flush_timeout_ms = 10000;
    cfg->upstream_connect_timeout_ms = 5000;
    cfg->upstream_first_byte_timeout_ms = 60000;
    cfg->upstream_idle_timeout_ms = 300000;
    cfg->drain_timeout_ms = 30000;
    if (!(cfg->audit.account = wr_strdup("000000000000")) ||
        !(cfg->audit.trail = wr_strdup("weir"))) {
        wr_sc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void wr_sc_config_free(wr_sc_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nup; i++) {
        wr_sc_upstream *u = &c->up[i];
        for (size_t j = 0; j < u->ndeployments; j++) {
            free(u->deployments[j].name);
            free(u->deployments[j].model);
        }
        free(u->deployments);
        free(u->name);
        free(u->listen);
        free(u->region);
        free(u->endpoint);
        free(u->deployment_type);
        free(u->api_key_env);
        free(u->api_key_file);
        free(u->bearer_token_env);
        free(u->aws_profile);
        free(u->principal);
        free(u->ca_file);
        free(u->policy);
        wr_sc_identity *id = &u->identity;
        free(id->header);
        free(id->trusted);
        free(id->token_header);
        free(id->jwks_file);
        free(id->jwks_url);
        free(id->issuer);
        for (size_t j = 0; j < id->naudiences; j++)
            free(id->audiences[j]);
        free(id->audiences);
        free(id->claim);
        for (size_t j = 0; j < id->nprincipals; j++) {
            free(id->principals[j].name);
            free(id->principals[j].model);
        }
        free(id->principals);
        free(id->principal_template);
        free(id->sts_endpoint);
        free(id->cluster_id);
    }
    free(c->up);
    free(c->audit.dir);
    free(c->audit.account);
    free(c->audit.trail);
    free(c->audit.signing_key_file);
    free(c->audit.hash_key_file);
    for (size_t i = 0; i < c->audit.nsinks; i++) {
        free(c->audit.sinks[i].plugin);
        free(c->audit.sinks[i].config_json);
    }
    free(c->audit.sinks);
    free(c->path);
    free(c->policy);
    free(c->admin);
    free(c);
}

int wr_sc_config_parse(const char *yaml, size_t len, const char *name, wr_sc_config **out,
                       weir_error *err)
{
    const char *src = name ? name : "<buffer>";
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, src, 0, 0, "no place to store the configuration");
    *out = NULL;
    if (!yaml && len)
        return wr_error_set(err, WEIR_EINVAL, src, 0, 0, "no configuration text given");
    if (!yaml)
        yaml = "";
    if (len > CFG_MAX_BYTES)
        return wr_error_set(err, WEIR_ELIMIT, src, 0, 0,
                            "the configuration is %zu bytes; the limit is %zu", len, CFG_MAX_BYTES);

    cctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.src = src;
    wr_ynode *root = NULL;
    int rc;
    if (!(c.cfg = config_new()) || !(c.cfg->path = wr_strdup(""))) {
        rc = wr_error_set(err, WEIR_ENOMEM, src, 0, 0, "out of memory loading the configuration");
        goto out;
    }
    if (!(rc = cfg_tree(&root, yaml, len, src, err)))
        rc = load_root(&c, root);
out:
    wr_ynode_free(root);
    free(c.listen_at);
    free(c.name_at);
    free(c.listen_hp);
    if (rc) {
        wr_sc_config_free(c.cfg);
        return rc;
    }
    *out = c.cfg;
    return 0;
}

/* ================================================================= environment */

static int env_fail(weir_error *err, const char *var, const char *val, const char *fmt, ...)
    WR_PRINTF(4, 5);

static int env_fail(weir_error *err, const char *var, const char *val, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return wr_error_set(err, CFG_CODE, "environment", 0, 0, "%s='%.80s': %s", var, val, why);
}

static int env_set(char **field, const char *val, weir_error *err)
{
    char *d = wr_strdup(val);
    if (!d)
        return wr_error_set(err, WEIR_ENOMEM, "environment", 0, 0, "out of memory");
    free(*field);
    *field = d;
    return 0;
}

static int env_path(char **field, const char *var, const char *val, weir_error *err)
{
    size_t n = strlen(val);
    if (n > CFG_MAX_TEXT)
        return env_fail(err, var, val, "longer than %d characters", CFG_MAX_TEXT);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
            return env_fail(err, var, val, "contains a control character");
    return env_set(field, val, err);
}

static int apply_env(wr_sc_config *cfg, weir_error *err)
{
    const char *v;
    char why[200];
    int rc;

    if ((v = getenv("WEIR_POLICY")) && *v && (rc = env_path(&cfg->policy, "WEIR_POLICY", v, err)))
        return rc;
    if ((v = getenv("WEIR_ADMIN")) && *v) {
        hostport hp, up;
        if (why_listen(v, &hp, why, sizeof why))
            return env_fail(err, "WEIR_ADMIN", v, "%s", why);
        for (size_t i = 0; i < cfg->nup; i++) {
            if (why_listen(cfg->up[i].listen, &up, why, sizeof why) == 0 &&
                listeners_clash(&hp, &up))
                return env_fail(err, "WEIR_ADMIN", v,
                                "clashes with listen '%s' of upstream '%s'; pick another port",
                                cfg->up[i].listen, cfg->up[i].name);
        }
        if ((rc = env_set(&cfg->admin, v, err)))
            return rc;
    }
    if ((v = getenv("WEIR_WORKERS")) && *v) {
        uint64_t n = 0;
        if (parse_u64(v, strlen(v), &n) || n < 1 || n > CFG_MAX_WORKERS)
            return env_fail(err, "WEIR_WORKERS", v, "workers must be a whole number from 1 to %d",
                            CFG_MAX_WORKERS);
        cfg->workers = (unsigned)n;
    }
    if ((v = getenv("WEIR_LOG_LEVEL")) && *v) {
        size_t i;
        for (i = 0; log_level_names[i]; i++)
            if (strcasecmp(v, log_level_names[i]) == 0)
                break;
        if (!log_level_names[i])
            return env_fail(err, "WEIR_LOG_LEVEL", v,
                            "log_level must be one of debug, info, "
                            "warn, error");
        cfg->log_level = (int)i;
    }
    if ((v = getenv("WEIR_AUDIT_DIR")) && *v &&
        (rc = env_path(&cfg->audit.dir, "WEIR_AUDIT_DIR", v, err)))
        return rc;
    return 0;
}

/* Reads path whole, refusing anything over CFG_MAX_BYTES. */
static int read_bounded(const char *path, char **out, size_t *out_len, weir_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return wr_error_set(err, e == ENOENT ? WEIR_ENOTFOUND : WEIR_EIO, path, 0, 0,
                            "cannot open the configuration: %s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return wr_error_set(err, WEIR_EIO, path, 0, 0, "the configuration is not a regular file");
    }
    size_t cap = CFG_MAX_BYTES + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return wr_error_set(err, WEIR_ENOMEM, path, 0, 0,
                            "out of memory reading the configuration");
    }
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return wr_error_set(err, WEIR_EIO, path, 0, 0, "cannot read the configuration: %s",
                                strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (len > CFG_MAX_BYTES) {
        free(buf);
        return wr_error_set(err, WEIR_ELIMIT, path, 0, 0,
                            "the configuration is larger than %zu bytes", CFG_MAX_BYTES);
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int wr_sc_config_load(const char *path, wr_sc_config **out, weir_error *err)
{
    if (!out || !path)
        return wr_error_set(err, WEIR_EINVAL, path, 0, 0, "no configuration file given");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    wr_sc_config *cfg = NULL;
    int rc = read_bounded(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = wr_sc_config_parse(buf, len, path, &cfg, err);
    free(buf);
    if (rc)
        return rc;
    if ((rc = env_set(&cfg->path, path, err)) || (rc = apply_env(cfg, err))) {
        wr_sc_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int wr_sc_config_default(wr_sc_config **out, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, NULL, 0, 0, "no place to store the configuration");
    *out = NULL;
    const char *region = getenv("AWS_REGION");
    if (!region || !*region)
        region = "us-east-1";
    else if (!aws_region_ok(region))
        return env_fail(err, "AWS_REGION", region,
                        "AWS regions are written like eu-central-1 or us-gov-west-1");

    wr_sc_config *cfg = config_new();
    int rc = 0;
    if (!cfg || !(cfg->path = wr_strdup("")) || !(cfg->admin = wr_strdup("127.0.0.1:9090")) ||
        !(cfg->up = calloc(1, sizeof *cfg->up))) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    cfg->nup = 1;
    wr_sc_upstream *u = &cfg->up[0];
    u->kind = WR_KIND_BEDROCK;
    wr_buf ep;
    wr_buf_init(&ep);
    wr_buf_printf(&ep, "https://bedrock-runtime.%s.amazonaws.com", region);
    u->endpoint = ep.oom ? NULL : ep.data;
    if (ep.oom)
        wr_buf_free(&ep);
    if (!(u->name = wr_strdup("bedrock")) || !(u->listen = wr_strdup("127.0.0.1:8080")) ||
        !(u->region = wr_strdup(region)) || !u->endpoint) {
        rc = wr_error_set(err, WEIR_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    rc = apply_env(cfg, err);
out:
    if (rc) {
        wr_sc_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

const char *wr_sc_deployment_model(const wr_sc_upstream *u, const char *deployment)
{
    if (!u || !deployment)
        return NULL;
    for (size_t i = 0; i < u->ndeployments; i++)
        if (strcasecmp(u->deployments[i].name, deployment) == 0)
            return u->deployments[i].model;
    return NULL;
}
