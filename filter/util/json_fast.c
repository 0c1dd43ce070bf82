/*
 * json_fast.c - a JSON parser that builds the same jansson tree as
 * json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, ...) on jansson 2.14,
 * scanning strings many bytes at a time instead of through jansson's byte stream.
 */
#define _GNU_SOURCE /* strtod_l */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "internal.h"

#define JP_MAX_DEPTH 1024 /* recursion bound, whatever the caller asks */

typedef struct jp {
    const unsigned char *start, *p, *end;
    int depth, max_depth;
    int code;                 /* 0, WEIR_EINVAL, WEIR_ELIMIT, WEIR_ENOMEM */
    const unsigned char *at;  /* where the error is */
    char *msg;
    size_t msg_size;
    char *scratch;            /* unescaped string text */
    size_t scap;
} jp;

static void jp_fail(jp *j, int code, const unsigned char *at, const char *fmt, ...)
    WR_PRINTF(4, 5);

static void jp_fail(jp *j, int code, const unsigned char *at, const char *fmt, ...)
{
    if (j->code)
        return;
    j->code = code;
    j->at = at;
    if (j->msg && j->msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->msg, j->msg_size, fmt, ap);
        va_end(ap);
    }
}

/* ---- strings ---- */

/* Length of the valid UTF-8 sequence at p (first byte >= 0x80), strict as jansson; 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
        return 0; /* overlong, or over U+10FFFF */
    return 4;
}

/* First byte at or after p that is '"', '\\', < 0x20 or >= 0x80; end if none. */
static const unsigned char *str_skip(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                 _mm_cmplt_epi8(x, sp));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#else
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t vq = v ^ (ones * '"'), vb = v ^ (ones * '\\');
        uint64_t hit = ((vq - ones) & ~vq) | ((vb - ones) & ~vb) | (v - ones * 0x20) | v;
        if (hit & high)
            break; /* exact position found below */
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

static int scratch_put(jp *j, size_t *n, const void *src, size_t len)
{
    if (!len)
        return 0;
    if (*n + len > j->scap) {
        size_t cap = j->scap ? j->scap : 256;
        while (cap < *n + len)
            cap *= 2;
        char *s = realloc(j->scratch, cap);
        if (!s) {
            jp_fail(j, WEIR_ENOMEM, j->p, "out of memory");
            return -1;
        }
        j->scratch = s;
        j->scap = cap;
    }
    memcpy(j->scratch + *n, src, len);
    *n += len;
    return 0;
}

static int hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (int)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (int)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (int)(c - 'A' + 10);
        else
            return -1;
    }
    return v;
}

/* p at the 'u' of "\u"; decodes one code point (a pair for surrogates), advances past it. */
static long unicode_escape(jp *j, const unsigned char **pp)
{
    const unsigned char *p = *pp;
    int v = hex4(p + 1, j->end);
    if (v < 0) {
        jp_fail(j, WEIR_EINVAL, p, "invalid escape");
        return -1;
    }
    p += 5;
    long cp = v;
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (j->end - p < 2 || p[0] != '\\' || p[1] != 'u') {
            jp_fail(j, WEIR_EINVAL, p, "invalid Unicode '\\u%04X'", (unsigned)v);
            return -1;
        }
        int v2 = hex4(p + 2, j->end);
        if (v2 < 0) {
            jp_fail(j, WEIR_EINVAL, p + 1, "invalid escape");
            return -1;
        }
        if (v2 < 0xDC00 || v2 > 0xDFFF) {
            jp_fail(j, WEIR_EINVAL, p, "invalid Unicode '\\u%04X\\u%04X'", (unsigned)v,
                    (unsigned)v2);
            return -1;
        }
        p += 6;
        cp = ((long)(v - 0xD800) << 10) + (v2 - 0xDC00) + 0x10000;
    } else if (v >= 0xDC00 && v <= 0xDFFF) {
        jp_fail(j, WEIR_EINVAL, p - 5, "invalid Unicode '\\u%04X'", (unsigned)v);
        return -1;
    }
    *pp = p;
    return cp;
}

static size_t utf8_put(unsigned char *o, long cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * j->p at the opening quote. On success (*s, *n) is the decoded text: either inside the input or
 * in j->scratch (valid until the next string), and j->p is past the closing quote.
 */
static int parse_string(jp *j, const char **s, size_t *n)
{
    const unsigned char *p = j->p + 1, *end = j->end, *run = p;
    size_t out = 0;
    int escaped = 0;
    for (;;) {
        p = str_skip(p, end);
        if (WR_UNLIKELY(p >= end)) {
            jp_fail(j, WEIR_EINVAL, end, "premature end of input");
            return -1;
        }
        unsigned c = *p;
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t k = utf8_len(p, end);
            if (!k) {
                jp_fail(j, WEIR_EINVAL, p, "unable to decode byte 0x%x", c);
                return -1;
            }
            p += k;
            continue;
        }
        if (c < 0x20) {
            if (c == '\n')
                jp_fail(j, WEIR_EINVAL, p, "unexpected newline");
            else
                jp_fail(j, WEIR_EINVAL, p, "control character 0x%x", c);
            return -1;
        }
        /* backslash */
        if (scratch_put(j, &out, run, (size_t)(p - run)))
            return -1;
        escaped = 1;
        if (p + 1 >= end) {
            jp_fail(j, WEIR_EINVAL, end, "premature end of input");
            return -1;
        }
        unsigned char e = p[1], one;
        switch (e) {
        case '"': case '\\': case '/': one = e; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': {
            const unsigned char *u = p + 1;
            long cp = unicode_escape(j, &u);
            if (cp < 0)
                return -1;
            unsigned char tmp[4];
            if (scratch_put(j, &out, tmp, utf8_put(tmp, cp)))
                return -1;
            p = run = u;
            continue;
        }
        default:
            jp_fail(j, WEIR_EINVAL, p + 1, "invalid escape");
            return -1;
        }
        if (scratch_put(j, &out, &one, 1))
            return -1;
        p = run = p + 2;
    }
    if (escaped) {
        if (scratch_put(j, &out, run, (size_t)(p - run)))
            return -1;
        *s = j->scratch;
        *n = out;
    } else {
        *s = (const char *)run;
        *n = (size_t)(p - run);
    }
    j->p = p + 1;
    return 0;
}

/* ---- numbers ---- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod in the C locale, whatever the process locale is. */
static double strtod_c(const char *s)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale)
        return strtod_l(s, NULL, c_locale);
    /* no locale object: write the locale's decimal point as jansson does */
    char buf[512];
    const char *dp = localeconv()->decimal_point;
    size_t n = strlen(s);
    if (dp && dp[0] == '.' && !dp[1])
        return strtod(s, NULL);
    if (n + (dp ? strlen(dp) : 0) >= sizeof buf)
        return strtod(s, NULL);
    const char *dot = strchr(s, '.');
    if (!dot || !dp)
        return strtod(s, NULL);
    size_t h = (size_t)(dot - s);
    memcpy(buf, s, h);
    strcpy(buf + h, dp);
    strcat(buf, dot + 1);
    return strtod(buf, NULL);
}

static json_t *parse_number(jp *j)
{
    const unsigned char *p = j->p, *end = j->end, *s = p;
    int neg = 0, real = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            jp_fail(j, WEIR_EINVAL, s, "invalid token");
            return NULL;
        }
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        jp_fail(j, WEIR_EINVAL, s, "invalid token");
        return NULL;
    }
    const unsigned char *int_end = p;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            jp_fail(j, WEIR_EINVAL, s, "invalid token");
            return NULL;
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9') {
            jp_fail(j, WEIR_EINVAL, s, "invalid token");
            return NULL;
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        real = 1;
    }
    j->p = p;
    if (!real) {
        unsigned long long u = 0;
        unsigned long long lim = (unsigned long long)LLONG_MAX + (neg ? 1 : 0);
        for (const unsigned char *d = s + neg; d < int_end; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (u > (lim - dig) / 10) {
                jp_fail(j, WEIR_EINVAL, s, neg ? "too big negative integer" : "too big integer");
                return NULL;
            }
            u = u * 10 + dig;
        }
        json_int_t v = !neg ? (json_int_t)u
                       : u > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(json_int_t)u;
        json_t *r = json_integer(v);
        if (!r)
            jp_fail(j, WEIR_ENOMEM, s, "out of memory");
        return r;
    }
    size_t len = (size_t)(p - s);
    char small[64];
    char *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf) {
        jp_fail(j, WEIR_ENOMEM, s, "out of memory");
        return NULL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    double d = strtod_c(buf);
    if (buf != small)
        free(buf);
    if (isinf(d)) {
        jp_fail(j, WEIR_EINVAL, s, "real number overflow");
        return NULL;
    }
    json_t *r = json_real(d);
    if (!r)
        jp_fail(j, WEIR_ENOMEM, s, "out of memory");
    return r;
}

/* ---- values ---- */

static inline void skip_ws(jp *j)
{
    const unsigned char *p = j->p, *end = j->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    j->p = p;
}

static int is_alpha(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static json_t *parse_value(jp *j);

static int enter(jp *j)
{
    if (++j->depth > j->max_depth) {
        jp_fail(j, WEIR_ELIMIT, j->p, "nesting deeper than %d levels", j->max_depth);
        return -1;
    }
    return 0;
}

static json_t *parse_object(jp *j)
{
    if (enter(j))
        return NULL;
    json_t *obj = json_object();
    if (!obj) {
        jp_fail(j, WEIR_ENOMEM, j->p, "out of memory");
        return NULL;
    }
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        return obj;
    }
    for (;;) {
        if (j->p >= j->end || *j->p != '"') {
            jp_fail(j, WEIR_EINVAL, j->p, "string or '}' expected");
            goto fail;
        }
        const unsigned char *key_at = j->p;
        const char *key;
        size_t klen;
        if (parse_string(j, &key, &klen))
            goto fail;
        if (memchr(key, '\0', klen)) {
            jp_fail(j, WEIR_EINVAL, key_at, "NUL byte in object key not supported");
            goto fail;
        }
        if (json_object_getn(obj, key, klen)) {
            jp_fail(j, WEIR_EINVAL, key_at, "duplicate object key");
            goto fail;
        }
        char *owned = NULL;
        if (key == j->scratch) { /* the value may reuse the scratch buffer */
            if (!(owned = wr_strndup(key, klen))) {
                jp_fail(j, WEIR_ENOMEM, key_at, "out of memory");
                goto fail;
            }
            key = owned;
        }
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') {
            free(owned);
            jp_fail(j, WEIR_EINVAL, j->p, "':' expected");
            goto fail;
        }
        j->p++;
        json_t *v = parse_value(j);
        if (!v || json_object_setn_new_nocheck(obj, key, klen, v)) {
            free(owned);
            jp_fail(j, WEIR_ENOMEM, j->p, "out of memory");
            goto fail;
        }
        free(owned);
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            skip_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            j->depth--;
            return obj;
        }
        jp_fail(j, WEIR_EINVAL, j->p, "'}' expected");
        goto fail;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(jp *j)
{
    if (enter(j))
        return NULL;
    json_t *arr = json_array();
    if (!arr) {
        jp_fail(j, WEIR_ENOMEM, j->p, "out of memory");
        return NULL;
    }
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        j->depth--;
        return arr;
    }
    for (;;) {
        json_t *v = parse_value(j);
        if (!v || json_array_append_new(arr, v)) {
            jp_fail(j, WEIR_ENOMEM, j->p, "out of memory");
            goto fail;
        }
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            j->depth--;
            return arr;
        }
        jp_fail(j, WEIR_EINVAL, j->p, "']' expected");
        goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

static json_t *parse_word(jp *j)
{
    const unsigned char *s = j->p, *p = s;
    while (p < j->end && is_alpha(*p))
        p++;
    size_t n = (size_t)(p - s);
    json_t *v = NULL;
    if (n == 4 && !memcmp(s, "true", 4))
        v = json_true();
    else if (n == 5 && !memcmp(s, "false", 5))
        v = json_false();
    else if (n == 4 && !memcmp(s, "null", 4))
        v = json_null();
    if (!v)
        jp_fail(j, WEIR_EINVAL, s, "invalid token");
    j->p = p;
    return v;
}

/*
 * jansson reads one byte past a number or a true/false/null and pushes it back; a pushed-back
 * NUL byte is lost (its stream buffer reads NUL as "empty"), so "[1\0]" parses as "[1]".
 * Replicated: one NUL right after such a token is skipped.
 */
static json_t *skip_nul(jp *j, json_t *v)
{
    if (v && j->p < j->end && *j->p == '\0')
        j->p++;
    return v;
}

/* Leading whitespace skipped here; j->code set on NULL. */
static json_t *parse_value(jp *j)
{
    skip_ws(j);
    if (j->p >= j->end) {
        jp_fail(j, WEIR_EINVAL, j->p, "unexpected token");
        return NULL;
    }
    unsigned c = *j->p;
    switch (c) {
    case '{':
        return parse_object(j);
    case '[':
        return parse_array(j);
    case '"': {
        const unsigned char *at = j->p;
        const char *s;
        size_t n;
        if (parse_string(j, &s, &n))
            return NULL;
        json_t *v = json_stringn_nocheck(s, n);
        if (!v)
            jp_fail(j, WEIR_ENOMEM, at, "out of memory");
        return v;
    }
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return skip_nul(j, parse_number(j));
    case '}': case ']': case ':': case ',':
        jp_fail(j, WEIR_EINVAL, j->p, "unexpected token");
        return NULL;
    default:
        if (is_alpha(c))
            return skip_nul(j, parse_word(j));
        if (c >= 0x80 && !utf8_len(j->p, j->end))
            jp_fail(j, WEIR_EINVAL, j->p, "unable to decode byte 0x%x", c);
        else
            jp_fail(j, WEIR_EINVAL, j->p, "invalid token");
        return NULL;
    }
}

/* 1-based line, and column in characters (UTF-8 lead bytes) as jansson counts them. */
static void locate(const jp *j, int *line, int *column)
{
    int l = 1, c = 0;
    const unsigned char *at = j->at < j->end ? j->at + 1 : j->end;
    for (const unsigned char *p = j->start; p < at; p++) {
        if (*p == '\n') {
            l++;
            c = 0;
        } else if ((*p & 0xC0) != 0x80) {
            c++;
        }
    }
    if (line)
        *line = l;
    if (column)
        *column = c ? c : 1;
}

int wr_json_fast_parse(json_t **out, const char *data, size_t len, int max_depth,
                       int *line, int *column, char *msg, size_t msg_size)
{
    if (msg && msg_size)
        msg[0] = '\0';
    if (line)
        *line = 0;
    if (column)
        *column = 0;
    if (!out || (!data && len))
        return WEIR_EINVAL;
    *out = NULL;
    jp j = {0};
    j.start = j.p = (const unsigned char *)(data ? data : "");
    j.end = j.start + len;
    j.max_depth = max_depth < 0 ? 0 : max_depth > JP_MAX_DEPTH ? JP_MAX_DEPTH : max_depth;
    j.msg = msg;
    j.msg_size = msg_size;

    json_t *root = NULL;
    skip_ws(&j);
    if (j.p >= j.end || (*j.p != '{' && *j.p != '['))
        jp_fail(&j, WEIR_EINVAL, j.p, "'[' or '{' expected");
    else if ((root = parse_value(&j)) != NULL) {
        skip_ws(&j);
        if (j.p < j.end) {
            jp_fail(&j, WEIR_EINVAL, j.p, "end of file expected");
            json_decref(root);
            root = NULL;
        }
    }
    free(j.scratch);
    if (!root) {
        if (!j.code) /* not reached: every NULL path records why */
            jp_fail(&j, WEIR_EINVAL, j.p, "invalid JSON");
        locate(&j, line, column);
        return j.code;
    }
    *out = root;
    return 0;
}
