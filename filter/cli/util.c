/*
 * util.c - argument parsing, context building and I/O helpers for the CLI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------------ arguments */

void cli_args_init(cli_args *a, int argc, char **argv, const char *topic)
{
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
    a->topic = topic;
}

int cli_args_next(cli_args *a, const cli_opt *opts)
{
    a->value = NULL;
    a->operand = NULL;
    if (a->i >= a->argc)
        return CLI_ARG_END;
    const char *arg = a->argv[a->i++];
    if (a->only_operands || arg[0] != '-' || arg[1] == '\0') {
        a->operand = arg;
        return CLI_ARG_OPERAND;
    }
    if (strcmp(arg, "--") == 0) {
        a->only_operands = 1;
        return cli_args_next(a, opts);
    }
    const cli_opt *o = NULL;
    const char *inline_value = NULL;
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        for (const cli_opt *p = opts; p->name; p++) {
            if (strlen(p->name) == n && strncmp(p->name, name, n) == 0) {
                o = p;
                break;
            }
        }
        if (o && eq)
            inline_value = eq + 1;
    } else {
        for (const cli_opt *p = opts; p->name; p++) {
            if (p->shortname && p->shortname == arg[1]) {
                o = p;
                break;
            }
        }
        if (o && arg[2] != '\0') {
            if (!o->takes_value) {
                cli_usage_error(a->topic, "unknown option '%s'", arg);
                return CLI_ARG_ERROR;
            }
            inline_value = arg + 2;
        }
    }
    if (!o) {
        cli_usage_error(a->topic, "unknown option '%s'", arg);
        return CLI_ARG_ERROR;
    }
    if (o->takes_value) {
        if (inline_value) {
            a->value = inline_value;
        } else if (a->i < a->argc) {
            a->value = a->argv[a->i++];
        } else {
            cli_usage_error(a->topic, "option '--%s' needs a value", o->name);
            return CLI_ARG_ERROR;
        }
    } else if (inline_value) {
        cli_usage_error(a->topic, "option '--%s' takes no value", o->name);
        return CLI_ARG_ERROR;
    }
    return o->id;
}

/* ------------------------------------------------------------------ context */

int cli_context_build(weir_context *out, const cli_context *c, char *msg, size_t msg_size)
{
    weir_context init = WEIR_CONTEXT_INIT;
    *out = init;
    if (c->direction) {
        if (strcmp(c->direction, "prompt") == 0) {
            out->direction = WEIR_PROMPT;
        } else if (strcmp(c->direction, "completion") == 0) {
            out->direction = WEIR_COMPLETION;
        } else {
            snprintf(msg, msg_size, "direction must be prompt or completion, not '%.64s'",
                     c->direction);
            return -1;
        }
    }
    if (c->provider) {
        if (strcmp(c->provider, "bedrock") == 0) {
            out->provider = WEIR_PROVIDER_BEDROCK;
        } else if (strcmp(c->provider, "azure") == 0) {
            out->provider = WEIR_PROVIDER_AZURE;
        } else {
            snprintf(msg, msg_size, "provider must be bedrock or azure, not '%.64s'",
                     c->provider);
            return -1;
        }
    }
    out->principal = c->role;
    out->model = c->model;
    out->region = c->region;
    out->deployment_type = c->deployment_type;
    return 0;
}

/* ------------------------------------------------------------------ files */

int cli_read_file(char **out, size_t *out_len, const char *path, size_t max)
{
    int use_stdin = !path || strcmp(path, "-") == 0;
    const char *name = use_stdin ? "<stdin>" : path;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    if (!f) {
        cli_errorf("%s: %s", name, strerror(errno));
        return -1;
    }
    errno = 0;
    for (;;) {
        if (cap - len < 65536 + 1) {
            size_t ncap = cap ? cap * 2 : 65536 * 2;
            if (ncap > max + 65536 + 2)
                ncap = max + 65536 + 2;
            if (ncap <= cap) {
                cli_errorf("%s: input is larger than %zu bytes", name, max);
                goto done;
            }
            char *nb = realloc(buf, ncap);
            if (!nb) {
                cli_errorf("%s: out of memory", name);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len > max) {
            cli_errorf("%s: input is larger than %zu bytes", name, max);
            goto done;
        }
        if (n == 0) {
            if (ferror(f)) {
                cli_errorf("%s: %s", name, errno ? strerror(errno) : "read error");
                goto done;
            }
            break;
        }
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf) {
            cli_errorf("%s: out of memory", name);
            goto done;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    if (!use_stdin)
        fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ text */

/* The code point of an invisible character (zero-width, bidi control, soft hyphen, BOM)
 * starting at s, or 0. */
static unsigned invisible_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n >= 2 && u[0] == 0xc2 && u[1] == 0xad)
        return 0xad;
    if (n < 3 || (u[0] & 0xf0) != 0xe0 || (u[1] & 0xc0) != 0x80 || (u[2] & 0xc0) != 0x80)
        return 0;
    unsigned cp = ((u[0] & 0x0fu) << 12) | ((u[1] & 0x3fu) << 6) | (u[2] & 0x3fu);
    if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff ||
        cp == 0x180e)
        return cp;
    return 0;
}

size_t cli_put_escaped(FILE *out, const char *s, size_t n)
{
    size_t cols = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[16] = "";
        if (c == '\n')
            strcpy(esc, "\\n");
        else if (c == '\t')
            strcpy(esc, "\\t");
        else if (c == '\r')
            strcpy(esc, "\\r");
        else if (c < 0x20 || c == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        if (esc[0]) {
            if (out)
                fputs(esc, out);
            cols += strlen(esc);
            continue;
        }
        unsigned cp = invisible_at(s + i, n - i);
        if (cp) {
            /* zero-width and bidi characters would hide a difference: show them */
            snprintf(esc, sizeof esc, "<U+%04X>", cp);
            if (out)
                fputs(esc, out);
            cols += strlen(esc);
            i += cp > 0x7ff ? 2 : 1;
            continue;
        }
        if (out)
            fputc(c, out);
        /* count code points, not bytes, so carets line up under UTF-8 text */
        if ((c & 0xc0) != 0x80)
            cols++;
    }
    return cols;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *cli_utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n > ((size_t)-1 - 1) / 3)
        return NULL;
    char *out = malloc(n * 3 + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

int cli_action_parse(const char *s)
{
    static const weir_action all[] = {WEIR_ALLOW, WEIR_LOG, WEIR_REDACT, WEIR_BLOCK};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, weir_action_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

char *cli_tests_path_for(const char *policy_path)
{
    static const char *const suffixes[] = {".yaml", ".yml"};
    size_t n = strlen(policy_path);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(policy_path + n - k, suffixes[i]) == 0) {
            char *t = malloc(n - k + strlen(".test") + k + 1);
            if (!t)
                return NULL;
            memcpy(t, policy_path, n - k);
            strcpy(t + n - k, ".test");
            strcat(t, suffixes[i]);
            return t;
        }
    }
    char *t = malloc(n + sizeof ".test.yaml");
    if (!t)
        return NULL;
    memcpy(t, policy_path, n);
    strcpy(t + n, ".test.yaml");
    return t;
}

weir_vault *cli_vault_new(void)
{
    weir_vault *v = NULL;
    if (weir_vault_new(&v, NULL) != 0)
        return NULL;
    return v;
}
