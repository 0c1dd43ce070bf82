/*
 * scan.c - runs compiled detectors over normalized text.
 *
 * Speed comes from the prefilter: one pass over the text (16 bytes at a time with SSE2)
 * finds the trigger bytes the wanted detectors declare (digits, '@', ':', "www.",
 * "-----", long token runs). Clean prose has few of them, so most of it is skipped at
 * memory speed; each detector's regex then runs only in windows of max_len bytes around
 * its triggers. Every match of a detector contains one of its triggers and is at most
 * max_len long, so the windows find exactly what a scan of the whole text would.
 *
 * PCRE2 resources (match data, match context with limits, JIT stack) are per thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "plugin/loader.h"
#include "scan/scan.h"

#define WR_COMPILE_OPTIONS (PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_USE_OFFSET_LIMIT)
#define WR_TOKEN_RUN 16
#define WR_LOOKAHEAD_SLACK 64

/* ----------------------------------------------------------------- per-thread PCRE2 */

typedef struct wr_tls {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
} wr_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_key_ok;

static void tls_free(void *p)
{
    wr_tls *t = p;
    if (!t)
        return;
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mctx);
    pcre2_jit_stack_free(t->jit);
    free(t);
}

static void tls_init(void)
{
    tls_key_ok = pthread_key_create(&tls_key, tls_free) == 0;
}

static wr_tls *tls_get(void)
{
    pthread_once(&tls_once, tls_init);
    if (!tls_key_ok)
        return NULL;
    wr_tls *t = pthread_getspecific(tls_key);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->md = pcre2_match_data_create(16, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    t->jit = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (!t->md || !t->mctx || !t->jit || pthread_setspecific(tls_key, t) != 0) {
        tls_free(t);
        return NULL;
    }
    pcre2_jit_stack_assign(t->mctx, NULL, t->jit);
    return t;
}

/* This thread's PCRE2 state with the policy's match, depth and heap limits set. */
static wr_tls *tls_with_limits(const wr_scan_limits *limits)
{
    wr_tls *tls = tls_get();
    if (!tls)
        return NULL;
    pcre2_set_match_limit(tls->mctx, limits && limits->match_limit ? limits->match_limit
                                                                   : 1000000);
    pcre2_set_depth_limit(tls->mctx, limits && limits->depth_limit ? limits->depth_limit
                                                                   : 10000);
    pcre2_set_heap_limit(tls->mctx, 64 * 1024); /* KiB */
    return tls;
}

/* ----------------------------------------------------------------- compilation */

static int compile_pattern(pcre2_code **out, const char *pattern, uint32_t options, char *msg,
                           size_t msg_size, size_t *erroffset)
{
    int errcode = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                     WR_COMPILE_OPTIONS | options, &errcode, &off, NULL);
    if (!code) {
        if (msg && msg_size) {
            PCRE2_UCHAR buf[256];
            if (pcre2_get_error_message(errcode, buf, sizeof buf) < 0)
                strcpy((char *)buf, "unknown PCRE2 error");
            snprintf(msg, msg_size, "%s", (const char *)buf);
        }
        if (erroffset)
            *erroffset = off;
        return WEIR_EPOLICY;
    }
    /* JIT is an optimisation: where the platform refuses it, the interpreter runs. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    *out = code;
    return 0;
}

/* A byte every match must contain, from PCRE2's first/last code unit analysis. */
static void find_required_byte(wr_detector *d)
{
    uint32_t type = 0, unit = 0, caseless = 0;
    d->required_byte = -1;
    if (pcre2_pattern_info(d->code, PCRE2_INFO_LASTCODETYPE, &type) == 0 && type == 1 &&
        pcre2_pattern_info(d->code, PCRE2_INFO_LASTCODEUNIT, &unit) == 0 && unit < 256) {
        d->required_byte = (int)unit;
    } else if (pcre2_pattern_info(d->code, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 && type == 1 &&
               pcre2_pattern_info(d->code, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 && unit < 256) {
        d->required_byte = (int)unit;
    }
    uint32_t opts = 0;
    pcre2_pattern_info(d->code, PCRE2_INFO_ALLOPTIONS, &opts);
    caseless = (opts & PCRE2_CASELESS) != 0;
    d->required_caseless = (int)caseless;
}

int wr_detector_compile(wr_detector *d, const char *pattern, uint32_t extra_options, char *msg,
                        size_t msg_size, size_t *erroffset)
{
    memset(d, 0, sizeof *d);
    int rc = compile_pattern(&d->code, pattern, extra_options, msg, msg_size, erroffset);
    if (rc)
        return rc;
    d->triggers = WR_TRIG_ALWAYS;
    d->max_len = 0;
    find_required_byte(d);
    return 0;
}

int wr_detector_init_builtin(wr_detector *d, const wr_detector_def *def, char *msg,
                             size_t msg_size)
{
    memset(d, 0, sizeof *d);
    size_t off = 0;
    int rc = compile_pattern(&d->code, def->pattern, def->options, msg, msg_size, &off);
    if (rc)
        return WEIR_EINTERNAL; /* a builtin that does not compile is a bug in weir */
    d->def = def;
    d->name = wr_strdup(def->name);
    d->entity = wr_strdup(def->entity);
    d->label = wr_strdup(def->label);
    if (!d->name || !d->entity || !d->label) {
        wr_detector_release(d);
        return WEIR_ENOMEM;
    }
    d->triggers = def->triggers;
    d->max_len = def->max_len;
    d->max_lead = def->max_lead ? def->max_lead - 1 : def->max_len;
    if (d->max_lead > d->max_len)
        d->max_lead = d->max_len;
    d->min_digits = (def->triggers & ~WR_TRIG_DIGIT) ? 0 : def->min_digits;
    d->one_cluster = d->min_digits && def->one_cluster;
    d->validate = def->validate;
    d->window = def->window;
    d->anchor = def->anchor;
    d->required_byte = -1;
    return 0;
}

int wr_detector_init_plugin(wr_detector *d, struct wr_pdet *pd, const char *name,
                            const char *entity, const char *label)
{
    memset(d, 0, sizeof *d);
    d->plugin = pd;
    d->name = wr_strdup(name);
    d->entity = wr_strdup(entity ? entity : "CUSTOM");
    d->label = wr_strdup(label ? label : d->entity ? d->entity : "CUSTOM");
    d->triggers = WR_TRIG_ALWAYS;
    size_t m = wr_pdet_max_len(pd);
    d->max_len = m > UINT32_MAX ? 0 : (uint32_t)m;
    d->max_lead = d->max_len;
    d->required_byte = -1;
    if (!d->name || !d->entity || !d->label) {
        wr_detector_release(d);
        return WEIR_ENOMEM;
    }
    return 0;
}

void wr_detector_release(wr_detector *d)
{
    if (!d)
        return;
    wr_pdet_free(d->plugin);
    pcre2_code_free(d->code);
    free(d->name);
    free(d->entity);
    free(d->label);
    memset(d, 0, sizeof *d);
}

void wr_match_list_free(wr_match_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int match_push(wr_match_list *l, size_t s, size_t e, uint32_t det)
{
    wr_match *v = wr_grow(l->v, &l->cap, l->n + 1, sizeof *v, 16);
    if (!v)
        return WEIR_ENOMEM;
    l->v = v;
    l->v[l->n++] = (wr_match){s, e, det};
    return 0;
}

typedef struct plugin_out {
    wr_match_list *l;
    uint32_t det;
} plugin_out;

static int plugin_emit(void *p, size_t start, size_t end)
{
    plugin_out *o = p;
    return match_push(o->l, start, end, o->det);
}

static int match_cmp(const void *a, const void *b)
{
    const wr_match *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A plugin detector over the whole text; its matches sorted like a regex detector's. */
static int run_plugin(wr_match_list *out, const wr_detector *d, uint32_t idx, const char *text,
                      size_t len)
{
    size_t first = out->n;
    plugin_out o = {out, idx};
    int rc = wr_pdet_scan(d->plugin, text, len, plugin_emit, &o);
    if (rc != 0)
        out->n = first; /* a failed scan's findings are not trusted */
    else if (out->n - first > 1)
        qsort(out->v + first, out->n - first, sizeof *out->v, match_cmp);
    return rc;
}

/* ----------------------------------------------------------------- prefilter */

typedef struct wr_hit {
    size_t start, end;
    uint32_t cls;
    uint32_t digits; /* ASCII digits in the hit (DIGIT hits) */
} wr_hit;

/* Hits per trigger class, each list in text order. */
#define WR_NCLASS 7

typedef struct wr_hitlist {
    wr_hit *v;
    size_t n, cap;
} wr_hitlist;

typedef struct wr_hits {
    wr_hitlist l[WR_NCLASS];
    int oom;
} wr_hits;

static void hit_push(wr_hits *h, size_t s, size_t e, uint32_t cls)
{
    uint32_t digits = cls == WR_TRIG_DIGIT ? (uint32_t)(e - s) : 0;
    wr_hitlist *l = &h->l[__builtin_ctz(cls)];
    if (l->n && l->v[l->n - 1].end + 1 >= s) {
        l->v[l->n - 1].end = e; /* extend: adjacent hits of one class make one window */
        l->v[l->n - 1].digits += digits;
        return;
    }
    wr_hit *v = wr_grow(l->v, &l->cap, l->n + 1, sizeof *v, 64);
    if (!v) {
        h->oom = 1;
        return;
    }
    l->v = v;
    l->v[l->n++] = (wr_hit){s, e, cls, digits};
}

static void hits_free(wr_hits *h)
{
    for (int i = 0; i < WR_NCLASS; i++)
        free(h->l[i].v);
}

static int ieq_www(const unsigned char *p)
{
    return (p[0] | 0x20) == 'w' && (p[1] | 0x20) == 'w' && (p[2] | 0x20) == 'w' && p[3] == '.';
}

/* Per-64-byte-block bit masks: bit i describes byte base+i. */
typedef struct wr_masks {
    uint64_t digit, at, colon, w, dash, tok, upper;
} wr_masks;

static inline int is_tok_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_' ||
           c == '+' || c == '/' || c == '=' || c == '-';
}

static void masks_scalar(const unsigned char *p, size_t n, wr_masks *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        uint64_t b = 1ull << i;
        if (c >= '0' && c <= '9')
            m->digit |= b;
        else if (c == '@')
            m->at |= b;
        else if (c == ':')
            m->colon |= b;
        else if ((c | 0x20) == 'w')
            m->w |= b;
        else if (c == '-')
            m->dash |= b;
        if (is_tok_byte(c))
            m->tok |= b;
        if (c >= 'A' && c <= 'Z')
            m->upper |= b;
    }
}

#if defined(__SSE2__)
static inline void masks_sse2(const unsigned char *p, wr_masks *m)
{
    const __m128i c0m1 = _mm_set1_epi8('0' - 1), c9p1 = _mm_set1_epi8('9' + 1);
    const __m128i cam1 = _mm_set1_epi8('a' - 1), czp1 = _mm_set1_epi8('z' + 1);
    const __m128i c20 = _mm_set1_epi8(0x20), cat = _mm_set1_epi8('@');
    const __m128i ccol = _mm_set1_epi8(':'), cw = _mm_set1_epi8('w');
    const __m128i cdash = _mm_set1_epi8('-'), cus = _mm_set1_epi8('_');
    const __m128i cplus = _mm_set1_epi8('+'), cslash = _mm_set1_epi8('/');
    const __m128i ceq = _mm_set1_epi8('=');
    const __m128i cAm1 = _mm_set1_epi8('A' - 1), cZp1 = _mm_set1_epi8('Z' + 1);
    memset(m, 0, sizeof *m);
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        __m128i lower = _mm_or_si128(x, c20);
        __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(x, c0m1), _mm_cmplt_epi8(x, c9p1));
        __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, cam1), _mm_cmplt_epi8(lower, czp1));
        __m128i dash = _mm_cmpeq_epi8(x, cdash);
        __m128i sym = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, cus), _mm_cmpeq_epi8(x, cplus)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, cslash), _mm_cmpeq_epi8(x, ceq)));
        __m128i tok = _mm_or_si128(_mm_or_si128(dig, alpha), _mm_or_si128(dash, sym));
        int sh = 16 * k;
        m->digit |= (uint64_t)(unsigned)_mm_movemask_epi8(dig) << sh;
        m->at |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, cat)) << sh;
        m->colon |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, ccol)) << sh;
        m->w |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(lower, cw)) << sh;
        m->dash |= (uint64_t)(unsigned)_mm_movemask_epi8(dash) << sh;
        m->tok |= (uint64_t)(unsigned)_mm_movemask_epi8(tok) << sh;
        __m128i up = _mm_and_si128(_mm_cmpgt_epi8(x, cAm1), _mm_cmplt_epi8(x, cZp1));
        m->upper |= (uint64_t)(unsigned)_mm_movemask_epi8(up) << sh;
    }
}
#endif

static inline unsigned ctz64(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

/*
 * Finds the triggers in `want` (WR_TRIG_* bits) and records them as hits, in order.
 * Digit runs become one hit; token runs of >= WR_TOKEN_RUN bytes become one hit spanning
 * the run.
 */
static void find_triggers(wr_hits *h, const unsigned char *t, size_t len, uint32_t want)
{
    size_t tok_start = 0; /* start of the token run open at the block boundary */
    int tok_open = 0;
    uint64_t prev_upper = 0, prev_digit = 0; /* the previous block's, across the edge */
    for (size_t base = 0; base < len; base += 64) {
        size_t n = len - base < 64 ? len - base : 64;
        wr_masks m;
#if defined(__SSE2__)
        if (n == 64)
            masks_sse2(t + base, &m);
        else
#endif
            masks_scalar(t + base, n, &m);

        uint64_t ev = 0;
        if (want & WR_TRIG_DIGIT)
            ev |= m.digit;
        if (want & WR_TRIG_AT)
            ev |= m.at;
        if (want & WR_TRIG_COLON)
            ev |= m.colon;
        if (want & WR_TRIG_WWW)
            ev |= m.w;
        if (want & WR_TRIG_DASHES)
            ev |= m.dash;
        while (ev) {
            unsigned i = ctz64(ev);
            ev &= ev - 1;
            size_t pos = base + i;
            unsigned char c = t[pos];
            if (c >= '0' && c <= '9') {
                /* a digit run, to the end of this block (the next block's part merges) */
                size_t e = pos + 1, lim = base + n;
                while (e < lim && t[e] >= '0' && t[e] <= '9')
                    e++;
                hit_push(h, pos, e, WR_TRIG_DIGIT);
                ev &= e - base >= 64 ? 0 : ~((1ull << (e - base)) - 1);
            } else if (c == '@') {
                hit_push(h, pos, pos + 1, WR_TRIG_AT);
            } else if (c == ':') {
                hit_push(h, pos, pos + 1, WR_TRIG_COLON);
            } else if ((c | 0x20) == 'w') {
                if (pos + 4 <= len && ieq_www(t + pos))
                    hit_push(h, pos, pos + 4, WR_TRIG_WWW);
            } else if (c == '-') {
                if (pos + 5 <= len && memcmp(t + pos, "-----", 5) == 0) {
                    hit_push(h, pos, pos + 5, WR_TRIG_DASHES);
                    size_t e = pos + 5, lim = base + n;
                    while (e < lim && t[e] == '-')
                        e++;
                    ev &= e - base >= 64 ? 0 : ~((1ull << (e - base)) - 1);
                }
            }
        }

        if (want & WR_TRIG_CCDIGITS) {
            /* bit j: bytes j-3..j are [A-Z][A-Z][0-9][0-9] (j-3 may be in the last block) */
            uint64_t dg = m.digit, up = m.upper;
            if (n < 64) {
                dg &= (1ull << n) - 1;
                up &= (1ull << n) - 1;
            }
            uint64_t end = dg & ((dg << 1) | (prev_digit >> 63)) &
                           ((up << 2) | (prev_upper >> 62)) & ((up << 3) | (prev_upper >> 61));
            while (end) {
                unsigned j = ctz64(end);
                end &= end - 1;
                hit_push(h, base + j - 3, base + j + 1, WR_TRIG_CCDIGITS);
            }
            prev_digit = dg;
            prev_upper = up;
        }

        if (want & WR_TRIG_TOKEN) {
            uint64_t tk = m.tok;
            if (n < 64)
                tk &= (1ull << n) - 1;
            unsigned i = 0;
            if (tok_open) {
                /* the run open at the block boundary: where does it end? */
                unsigned lead = ~tk ? ctz64(~tk) : 64;
                if (lead == 64)
                    continue; /* still open */
                if (base + lead - tok_start >= WR_TOKEN_RUN)
                    hit_push(h, tok_start, base + lead, WR_TRIG_TOKEN);
                tok_open = 0;
                i = lead;
            }
            uint64_t rest = i < 64 ? tk & (~0ull << i) : 0;
            /* any run of >= 16 inside the block? (bit j: bytes j..j+15 all token bytes) */
            uint64_t r = rest;
            r &= r >> 1;
            r &= r >> 2;
            r &= r >> 4;
            r &= r >> 8;
            if (r) {
                while (i < n) {
                    uint64_t sh = tk >> i;
                    if (!sh)
                        break;
                    i += ctz64(sh);
                    uint64_t inv = ~(tk >> i);
                    unsigned ones = inv ? ctz64(inv) : 64;
                    if (i + ones >= 64) {
                        tok_start = base + i; /* reaches the block end: stays open */
                        tok_open = 1;
                        break;
                    }
                    if (ones >= WR_TOKEN_RUN)
                        hit_push(h, base + i, base + i + ones, WR_TRIG_TOKEN);
                    i += ones;
                }
            } else if (n == 64 && (rest >> 63)) {
                unsigned trail = (unsigned)__builtin_clzll(~rest);
                tok_start = base + 64 - trail;
                tok_open = 1;
            }
        }
    }
    if ((want & WR_TRIG_TOKEN) && tok_open && len - tok_start >= WR_TOKEN_RUN)
        hit_push(h, tok_start, len, WR_TRIG_TOKEN);
}

static int hit_cmp(const void *a, const void *b)
{
    const wr_hit *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The hits of a detector's trigger classes, in text order: one class list as it is, or
 * several merged into *tmp (freed by the caller). Returns NULL with *n = 0 when none.
 */
static const wr_hit *hits_for(wr_hits *h, uint32_t triggers, size_t *n, wr_hit **tmp)
{
    *tmp = NULL;
    *n = 0;
    uint32_t t = triggers & ((1u << WR_NCLASS) - 1);
    if (t && !(t & (t - 1))) {
        *n = h->l[__builtin_ctz(t)].n;
        return h->l[__builtin_ctz(t)].v;
    }
    size_t total = 0;
    for (int c = 0; c < WR_NCLASS; c++)
        if (t & (1u << c))
            total += h->l[c].n;
    if (!total)
        return NULL;
    wr_hit *v = malloc(total * sizeof *v);
    if (!v) {
        h->oom = 1;
        return NULL;
    }
    for (int c = 0; c < WR_NCLASS; c++)
        if ((t & (1u << c)) && h->l[c].n) {
            memcpy(v + *n, h->l[c].v, h->l[c].n * sizeof *v);
            *n += h->l[c].n;
        }
    qsort(v, *n, sizeof *v, hit_cmp);
    *tmp = v;
    return v;
}

/* ----------------------------------------------------------------- matching */

/* Runs d over text[from..) with subject length limit `upto`, appending validated matches
 * that start at or before `last_start`. Continues at *resume. */
static int run_window(wr_match_list *out, const wr_detector *d, uint32_t idx, const char *text,
                      size_t len, size_t from, size_t last_start, size_t upto, wr_tls *tls,
                      size_t *resume)
{
    size_t off = from;
    if (upto > len)
        upto = len;
    /* no match can start after the window's last trigger: PCRE2 stops searching there */
    pcre2_set_offset_limit(tls->mctx, last_start >= upto ? PCRE2_UNSET : last_start);
    while (off <= last_start && off < upto) {
        int rc = pcre2_match(d->code, (PCRE2_SPTR)text, upto, off, PCRE2_NO_UTF_CHECK, tls->md,
                             tls->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
                rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
                return WEIR_ELIMIT;
            if (rc == PCRE2_ERROR_NOMEMORY)
                return WEIR_ENOMEM;
            return WEIR_ELIMIT; /* any other matching failure: undecided, never "no match" */
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tls->md);
        size_t s = ov[0], e = ov[1];
        if (s > last_start)
            break;
        if (e == s) {
            /* empty match: step over one UTF-8 character */
            off = s + 1;
            while (off < len && ((unsigned char)text[off] & 0xC0) == 0x80)
                off++;
            continue;
        }
        if (!d->validate || d->validate(text, len, s, e)) {
            if (match_push(out, s, e, idx))
                return WEIR_ENOMEM;
        }
        off = e;
    }
    *resume = off;
    return 0;
}

/* One anchored attempt at `start`; appends a validated match. *end_out = match end or 0. */
static int run_anchored(wr_match_list *out, const wr_detector *d, uint32_t idx, const char *text,
                        size_t len, size_t start, size_t upto, wr_tls *tls, size_t *end_out)
{
    *end_out = 0;
    if (upto > len)
        upto = len;
    pcre2_set_offset_limit(tls->mctx, PCRE2_UNSET);
    int rc = pcre2_match(d->code, (PCRE2_SPTR)text, upto, start,
                         PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED, tls->md, tls->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return rc == PCRE2_ERROR_NOMEMORY ? WEIR_ENOMEM : WEIR_ELIMIT;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tls->md);
    size_t s = ov[0], e = ov[1];
    if (e == s)
        return 0;
    if (!d->validate || d->validate(text, len, s, e)) {
        if (match_push(out, s, e, idx))
            return WEIR_ENOMEM;
    }
    *end_out = e;
    return 0;
}

static int has_byte(const char *text, size_t len, int byte, int caseless)
{
    if (memchr(text, byte, len))
        return 1;
    if (caseless && byte < 128) {
        int other = (byte >= 'a' && byte <= 'z') ? byte - 32
                    : (byte >= 'A' && byte <= 'Z') ? byte + 32
                                                  : -1;
        if (other >= 0 && memchr(text, other, len))
            return 1;
    }
    return 0;
}

/* Runs one detector over text[0..len) (its windows around the shared trigger hits). */
static int scan_one(wr_match_list *out, const wr_detector *d, uint32_t i, const char *text,
                    size_t len, wr_hits *hits, wr_tls *tls)
{
    int rc = 0;
    size_t resume = 0;
    if (d->plugin)
        return run_plugin(out, d, i, text, len);
    if (d->triggers & WR_TRIG_ALWAYS) {
        if (d->required_byte >= 0 &&
            !has_byte(text, len, d->required_byte, d->required_caseless))
            return 0;
        return run_window(out, d, i, text, len, 0, len, len, tls, &resume);
    }
    size_t hn = 0;
    wr_hit *tmp = NULL;
    const wr_hit *hv = hits_for(hits, d->triggers, &hn, &tmp);
    if (hits->oom)
        return WEIR_ENOMEM;
    if (d->anchor) {
        /* one anchored attempt per trigger byte, where the detector says a match starts */
        for (size_t k = 0; k < hn && rc == 0; k++) {
            for (size_t t = hv[k].start; t < hv[k].end && rc == 0; t++) {
                size_t start = 0, end = 0;
                if (t < resume)
                    continue;
                int a = d->anchor(text, len, t, &start);
                if (a == 0 || (a == 1 && start < resume))
                    continue;
                if (a == 1) {
                    rc = run_anchored(out, d, i, text, len, start,
                                      t + d->max_len + WR_LOOKAHEAD_SLACK, tls, &end);
                    if (end)
                        resume = end;
                } else {
                    size_t ws = t > d->max_lead ? t - d->max_lead : 0;
                    if (ws < resume)
                        ws = resume;
                    rc = run_window(out, d, i, text, len, ws, t + 1,
                                    t + d->max_len + WR_LOOKAHEAD_SLACK, tls, &resume);
                }
            }
        }
    } else {
        size_t k = 0;
        while (k < hn && rc == 0) {
            if (d->one_cluster && hv[k].digits < d->min_digits) {
                k++; /* too few digits for a match in this cluster */
                continue;
            }
            /* a match starts at most max_lead before its first trigger and ends at
             * most max_len after it */
            size_t ws = hv[k].start > d->max_lead ? hv[k].start - d->max_lead : 0;
            size_t we = hv[k].end + d->max_len;
            size_t digits = hv[k].digits, last = hv[k].end;
            /* merge the following hits whose windows overlap */
            size_t j = k + 1;
            for (; j < hn; j++) {
                if (d->one_cluster && hv[j].digits < d->min_digits)
                    continue;
                size_t s2 = hv[j].start > d->max_lead ? hv[j].start - d->max_lead : 0;
                if (s2 > we)
                    break;
                if (hv[j].end + d->max_len > we)
                    we = hv[j].end + d->max_len;
                digits += hv[j].digits;
                if (hv[j].end > last)
                    last = hv[j].end;
            }
            if (ws < resume)
                ws = resume;
            if (we > len)
                we = len;
            /* every match holds min_digits digits, all of them in this window's hits */
            if (ws <= we && digits >= d->min_digits &&
                (!d->window || d->window(text, len, ws, last)))
                rc = run_window(out, d, i, text, len, ws, last,
                                we + WR_LOOKAHEAD_SLACK, tls, &resume);
            k = j;
        }
    }
    free(tmp);
    return rc;
}

int wr_scan(wr_match_list *out, const wr_detector *detectors, const unsigned char *want,
            size_t ndetectors, const char *text, size_t len, const wr_scan_limits *limits,
            size_t *failed_detector)
{
    wr_tls *tls = tls_with_limits(limits);
    if (!tls)
        return WEIR_ENOMEM;

    uint32_t trig = 0;
    for (size_t i = 0; i < ndetectors; i++)
        if (want[i] && !(detectors[i].triggers & WR_TRIG_ALWAYS))
            trig |= detectors[i].triggers;

    wr_hits hits = {0};
    if (trig && len) {
        find_triggers(&hits, (const unsigned char *)text, len, trig);
        if (hits.oom) {
            hits_free(&hits);
            return WEIR_ENOMEM;
        }
    }

    /* A detector that fails (regex limit, plugin error) is reported, and the others still
     * run: with on_error log the text passes, and it must pass with their redactions. */
    int first_rc = 0;
    for (size_t i = 0; i < ndetectors; i++) {
        if (!want[i])
            continue;
        int rc = scan_one(out, &detectors[i], (uint32_t)i, text, len, &hits, tls);
        if (rc == WEIR_ENOMEM) {
            first_rc = rc;
            break;
        }
        if (rc && !first_rc) {
            first_rc = rc;
            if (failed_detector)
                *failed_detector = i;
        }
    }
    hits_free(&hits);
    return first_rc;
}

int wr_scan_tail(const wr_detector *detectors, const unsigned char *want, size_t ndetectors,
                 const char *text, size_t len, size_t from, const wr_scan_limits *limits,
                 size_t *earliest)
{
    *earliest = len;
    wr_tls *tls = tls_with_limits(limits);
    if (!tls)
        return WEIR_ENOMEM;
    pcre2_set_offset_limit(tls->mctx, PCRE2_UNSET);
    for (size_t i = 0; i < ndetectors; i++) {
        const wr_detector *d = &detectors[i];
        if (!want[i])
            continue;
        if (d->plugin) {
            size_t e = len;
            int rc = wr_pdet_tail(d->plugin, text, len, from, &e);
            if (rc)
                return rc;
            if (e < *earliest)
                *earliest = e;
            continue;
        }
        /* a match that reaches the end starts within max_len of it (custom regexes have
         * no bound: their whole unreleased text) */
        size_t off = from;
        if (d->max_len && len > d->max_len + d->max_lead && len - d->max_len - d->max_lead > off)
            off = len - d->max_len - d->max_lead;
        while (off <= len && off < *earliest) {
            int rc = pcre2_match(d->code, (PCRE2_SPTR)text, len, off,
                                 PCRE2_NO_UTF_CHECK | PCRE2_PARTIAL_HARD, tls->md, tls->mctx);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tls->md);
            if (rc == PCRE2_ERROR_PARTIAL) {
                if (ov[0] < *earliest)
                    *earliest = ov[0];
                break;
            }
            if (rc < 0)
                return rc == PCRE2_ERROR_NOMEMORY ? WEIR_ENOMEM : WEIR_ELIMIT;
            /* a complete match that stops short of the end: look further */
            off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
            while (off < len && ((unsigned char)text[off] & 0xC0) == 0x80)
                off++;
        }
    }
    return 0;
}

long wr_detect_builtin(const char *name, const char *text, size_t len, wr_match **out)
{
    *out = NULL;
    const wr_detector_def *def = wr_builtin_find(name);
    if (!def)
        return -1;
    wr_detector d;
    char msg[256];
    if (wr_detector_init_builtin(&d, def, msg, sizeof msg))
        return -1;
    wr_norm n;
    if (wr_normalize(&n, text, len, WR_NORM_DEFAULT)) {
        wr_detector_release(&d);
        return -1;
    }
    wr_match_list l = {0};
    unsigned char want = 1;
    int rc = wr_scan(&l, &d, &want, 1, n.text, n.len, NULL, NULL);
    if (rc == 0) {
        for (size_t i = 0; i < l.n; i++) {
            size_t os, oe;
            wr_norm_span(&n, l.v[i].start, l.v[i].end, &os, &oe);
            l.v[i].start = os;
            l.v[i].end = oe;
        }
    }
    wr_norm_free(&n);
    wr_detector_release(&d);
    if (rc) {
        wr_match_list_free(&l);
        return -1;
    }
    *out = l.v;
    return (long)l.n;
}
