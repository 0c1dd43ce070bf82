/*
 * kw_matcher.c - a double-array Aho-Corasick automaton over case-folded UTF-8 bytes, and
 * the scan that turns its hits into leftmost-longest, whole-word findings.
 *
 * Layout: one array of 16-byte states. The child of state s on byte c is slot
 * st[s].base ^ c when that slot's check byte is c (bases of states with children are
 * unique, so a check byte identifies the parent; leaves share a base pointing at an
 * all-free block; free slots hold 0xFF, a byte folded UTF-8 never contains). XOR keeps a
 * state's children inside one 256-slot block. Each state also holds its failure link, its
 * dictionary link (the longest proper suffix state that ends a term) and its depth.
 *
 * Scan: the text is folded on the fly (ASCII through a table, other characters decoded,
 * classified and case-folded), whitespace runs are fed as one space, and a 512-entry ring
 * maps each fed position back to the original byte offset of its character. Every term
 * ending at a character boundary whose boundaries hold becomes a candidate, kept per start
 * position (longest wins); a candidate is decided once no later text can start a match at
 * or before it (its start lies before the current position minus the state's depth), and
 * decided candidates are emitted left to right, skipping those that overlap an emitted one.
 */
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kw_internal.h"
#include "kw_text.h"

#define KW_FREE 0xFFu     /* check byte of a free slot */
#define KW_DEAD 256u      /* base of every leaf: block 1 is never used */
#define KW_OPEN 16        /* blocks searched for a base */
#define KW_RING 512u      /* > KW_TERM_MAX + the bytes one character folds to */
#define KW_RMASK (KW_RING - 1)

enum { KW_ST_TERM = 1, KW_ST_OUT = 2 };

typedef struct kw_state {
    uint32_t base;
    uint32_t fail;
    uint32_t dict;
    uint16_t depth;
    uint8_t check;
    uint8_t flags;
} kw_state;

struct kw_matcher {
    kw_state *st;
    size_t nslots;
    int whole_word, case_sensitive;
    int skip;            /* whole words and every term starts with a word or non-ASCII
                          * character: the root may skip to word starts (kw_skip) */
    uint16_t ascii[128]; /* folded byte | class << 8 */
    uint64_t pair[256];  /* bit a << 7 | b: some term starts with ASCII bytes a, b (or is
                          * the single byte a) */
    kw_stats stats;
};

/* ------------------------------------------------------------------ building */

typedef struct kw_block {
    uint64_t free[4];  /* free slots */
    uint64_t based[4]; /* slots used as a base */
    unsigned nfree;
} kw_block;

typedef struct kw_place {
    kw_block *blocks;
    size_t nblocks, cap;
    uint32_t open[KW_OPEN];
    size_t nopen;
} kw_place;

static int kw_place_block(kw_place *pl, uint32_t *id)
{
    if ((pl->nblocks + 1) * 256 > (size_t)UINT32_MAX)
        return KW_ELIMIT;
    if (pl->nblocks == pl->cap) {
        size_t nc = pl->cap ? pl->cap * 2 : 64;
        kw_block *nb = realloc(pl->blocks, nc * sizeof *nb);
        if (!nb)
            return KW_ENOMEM;
        pl->blocks = nb;
        pl->cap = nc;
    }
    kw_block *b = &pl->blocks[pl->nblocks];
    memset(b, 0, sizeof *b);
    for (int w = 0; w < 4; w++)
        b->free[w] = ~(uint64_t)0;
    b->nfree = 256;
    *id = (uint32_t)pl->nblocks++;
    return KW_OK;
}

static void kw_place_close(kw_place *pl, size_t o)
{
    memmove(pl->open + o, pl->open + o + 1, (pl->nopen - o - 1) * sizeof *pl->open);
    pl->nopen--;
}

static int kw_slot_free(const kw_place *pl, uint32_t slot)
{
    return (int)((pl->blocks[slot >> 8].free[(slot >> 6) & 3] >> (slot & 63)) & 1);
}

static void kw_slot_take(kw_place *pl, uint32_t slot)
{
    kw_block *b = &pl->blocks[slot >> 8];
    b->free[(slot >> 6) & 3] &= ~((uint64_t)1 << (slot & 63));
    b->nfree--;
}

static int kw_base_used(const kw_place *pl, uint32_t base)
{
    return (int)((pl->blocks[base >> 8].based[(base >> 6) & 3] >> (base & 63)) & 1);
}

/* A base for children labels[0..k) (sorted): all slots base ^ label free, base unused. */
static int kw_place_find(kw_place *pl, const uint8_t *labels, size_t k, uint32_t *out)
{
    for (size_t o = pl->nopen; o-- > 0;) {
        uint32_t blk = pl->open[o];
        const kw_block *b = &pl->blocks[blk];
        if (b->nfree < k)
            continue;
        for (unsigned w = 0; w < 4; w++) {
            for (uint64_t bits = b->free[w]; bits; bits &= bits - 1) {
                uint32_t slot = blk * 256 + w * 64 + (uint32_t)__builtin_ctzll(bits);
                uint32_t base = slot ^ labels[0];
                if (kw_base_used(pl, base))
                    continue;
                size_t j = 1;
                while (j < k && kw_slot_free(pl, base ^ labels[j]))
                    j++;
                if (j == k) {
                    *out = base;
                    return KW_OK;
                }
            }
        }
    }
    uint32_t blk;
    int rc = kw_place_block(pl, &blk);
    if (rc)
        return rc;
    if (pl->nopen == KW_OPEN)
        kw_place_close(pl, 0);
    pl->open[pl->nopen++] = blk;
    *out = blk * 256;
    return KW_OK;
}

static void kw_place_commit(kw_place *pl, uint32_t base, const uint8_t *labels, size_t k)
{
    kw_block *b = &pl->blocks[base >> 8];
    b->based[(base >> 6) & 3] |= (uint64_t)1 << (base & 63);
    for (size_t j = 0; j < k; j++)
        kw_slot_take(pl, base ^ labels[j]);
    if (b->nfree == 0)
        for (size_t o = 0; o < pl->nopen; o++)
            if (pl->open[o] == base >> 8) {
                kw_place_close(pl, o);
                break;
            }
}

/* Children of trie node u: labels and ids, sorted by label. */
static size_t kw_children(const kw_builder *b, uint32_t u, uint8_t *labels, uint32_t *ids)
{
    size_t k = 0;
    if (u == 0) {
        for (unsigned c = 0; c < 256; c++)
            if (b->root_child[c]) {
                labels[k] = (uint8_t)c;
                ids[k++] = b->root_child[c];
            }
        return k;
    }
    for (uint32_t x = b->nodes[u].child; x; x = b->nodes[x].sibling) {
        labels[k] = b->nodes[x].label;
        ids[k++] = x;
    }
    return k;
}

static uint32_t kw_goto(const kw_state *st, uint32_t s, unsigned c, int *found)
{
    uint32_t t = st[s].base ^ c;
    *found = st[t].check == c;
    return t;
}

/* Failure and dictionary links, in BFS order. */
static void kw_links(kw_matcher *m, const kw_builder *b, const uint32_t *order,
                     const uint32_t *da)
{
    kw_state *st = m->st;
    uint8_t labels[256];
    uint32_t ids[256];
    for (size_t q = 0; q < b->n; q++) {
        uint32_t u = order[q];
        size_t k = kw_children(b, u, labels, ids);
        for (size_t j = 0; j < k; j++) {
            uint32_t v = da[ids[j]], f = 0;
            if (u != 0) {
                uint32_t g = st[da[u]].fail;
                for (;;) {
                    int found;
                    uint32_t t = kw_goto(st, g, labels[j], &found);
                    if (found) {
                        f = t;
                        break;
                    }
                    if (g == 0)
                        break;
                    g = st[g].fail;
                }
            }
            st[v].fail = f;
            st[v].dict = (st[f].flags & KW_ST_TERM) ? f : st[f].dict;
            if (st[v].dict)
                st[v].flags |= KW_ST_OUT;
        }
    }
}

/* The first-two-bytes filter of the root's skip. */
static void kw_pairs(kw_matcher *m, const kw_builder *b)
{
    m->skip = m->whole_word;
    for (unsigned a = 0; a < 256; a++) {
        uint32_t n = b->root_child[a];
        if (!n)
            continue;
        if (a >= 0x80)
            continue; /* non-ASCII text always goes through the automaton */
        if (!(kw_text_class(a) & KW_WORD))
            m->skip = 0;
        if (b->nodes[n].term)
            for (unsigned x = 0; x < 128; x++)
                m->pair[(a << 7 | x) >> 6] |= (uint64_t)1 << ((a << 7 | x) & 63);
        for (uint32_t x = b->nodes[n].child; x; x = b->nodes[x].sibling) {
            unsigned c = b->nodes[x].label;
            if (c < 0x80)
                m->pair[(a << 7 | c) >> 6] |= (uint64_t)1 << ((a << 7 | c) & 63);
        }
    }
}

static int kw_fail_msg(char *err, size_t errlen, int rc, const char *msg)
{
    if (err && errlen) {
        size_t n = strlen(msg);
        if (n >= errlen)
            n = errlen - 1;
        memcpy(err, msg, n);
        err[n] = '\0';
    }
    return rc;
}

int kw_matcher_build(kw_matcher **out, const kw_builder *b, int whole_word, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (b->terms == 0)
        return kw_fail_msg(err, errlen, KW_EINVAL, "the term list is empty");

    int rc = KW_ENOMEM;
    kw_place pl;
    memset(&pl, 0, sizeof pl);
    uint32_t *order = malloc(b->n * sizeof *order);
    uint32_t *da = malloc(b->n * sizeof *da);
    uint32_t *base = malloc(b->n * sizeof *base);
    kw_matcher *m = calloc(1, sizeof *m);
    if (!order || !da || !base || !m)
        goto fail;

    /* block 0 holds the root at slot 0; block 1 is the leaves' empty block */
    uint32_t blk;
    if ((rc = kw_place_block(&pl, &blk)) || (rc = kw_place_block(&pl, &blk)))
        goto fail;
    kw_slot_take(&pl, 0);
    memset(pl.blocks[1].free, 0, sizeof pl.blocks[1].free);
    pl.blocks[1].nfree = 0;
    pl.open[pl.nopen++] = 0;

    /* depth first, so that the states along one term sit close together */
    uint8_t labels[256];
    uint32_t ids[256];
    size_t top = 0;
    order[top++] = 0;
    da[0] = 0;
    while (top > 0) {
        uint32_t u = order[--top];
        size_t k = kw_children(b, u, labels, ids);
        if (k == 0) {
            base[u] = KW_DEAD;
            continue;
        }
        uint32_t bs;
        if ((rc = kw_place_find(&pl, labels, k, &bs)))
            goto fail;
        kw_place_commit(&pl, bs, labels, k);
        base[u] = bs;
        for (size_t j = k; j-- > 0;) {
            da[ids[j]] = bs ^ labels[j];
            order[top++] = ids[j];
        }
    }
    /* breadth first for the failure links */
    size_t head = 0, tail = 0;
    order[tail++] = 0;
    while (head < tail) {
        size_t k = kw_children(b, order[head++], labels, ids);
        memcpy(order + tail, ids, k * sizeof *ids);
        tail += k;
    }

    rc = KW_ENOMEM;
    m->nslots = pl.nblocks * 256;
    m->st = malloc(m->nslots * sizeof *m->st);
    if (!m->st)
        goto fail;
    for (size_t i = 0; i < m->nslots; i++) {
        m->st[i].base = KW_DEAD;
        m->st[i].fail = 0;
        m->st[i].dict = 0;
        m->st[i].depth = 0;
        m->st[i].check = KW_FREE;
        m->st[i].flags = 0;
    }
    for (size_t q = 0; q < tail; q++) {
        uint32_t u = order[q];
        kw_state *s = &m->st[da[u]];
        s->base = base[u];
        s->depth = b->nodes[u].depth;
        s->check = u ? b->nodes[u].label : KW_FREE;
        s->flags = b->nodes[u].term ? (KW_ST_TERM | KW_ST_OUT) : 0;
    }
    kw_links(m, b, order, da);

    m->whole_word = whole_word;
    m->case_sensitive = b->case_sensitive;
    for (unsigned c = 0; c < 128; c++) {
        unsigned f = (!b->case_sensitive && c >= 'A' && c <= 'Z') ? c + 32 : c;
        if (kw_text_class(c) & KW_SPACE)
            f = ' '; /* any whitespace is fed as one space */
        m->ascii[c] = (uint16_t)(f | (kw_text_class(c) << 8));
    }
    kw_pairs(m, b);
    m->stats.terms_read = b->terms_read;
    m->stats.terms = b->terms;
    m->stats.states = b->n;
    m->stats.bytes = sizeof *m + m->nslots * sizeof *m->st;
    m->stats.max_match_len = b->has_space ? 0 : 4 * b->max_cps;
    rc = KW_OK;
    *out = m;
    m = NULL;
fail:
    if (rc == KW_ENOMEM)
        kw_fail_msg(err, errlen, rc, "out of memory building the automaton");
    else if (rc == KW_ELIMIT)
        kw_fail_msg(err, errlen, rc, "the automaton is too large; split the term list");
    kw_matcher_free(m);
    free(pl.blocks);
    free(order);
    free(da);
    free(base);
    return rc;
}

void kw_matcher_free(kw_matcher *m)
{
    if (!m)
        return;
    free(m->st);
    free(m);
}

void kw_matcher_stats(const kw_matcher *m, kw_stats *out)
{
    *out = m->stats;
}

/* ------------------------------------------------------------------ scanning */

typedef struct kw_cand {
    size_t fstart, fend; /* folded positions; fend 0: empty */
    size_t ostart, oend; /* original offsets */
} kw_cand;

/* Ring entry: original offset << 2 | previous character is a word character << 1 | not a
 * character start of the original (a later code point of a multi-code-point folding). */
#define KW_R_PW 2u
#define KW_R_MID 1u

typedef struct kw_run {
    const kw_matcher *m;
    const unsigned char *p;
    size_t len;
    kw_emit_fn emit; /* NULL: only the final state is wanted (tail) */
    void *ctx;
    size_t npend, pmin, pmax, emit_f;
    int cand_init;
    uint32_t s; /* final state */
    size_t F;   /* final folded length */
    size_t ring[KW_RING];
    kw_cand cand[KW_RING];
} kw_run;

static inline uint32_t kw_step(const kw_state *st, uint32_t s, unsigned c)
{
    for (;;) {
        uint32_t t = st[s].base ^ c;
        if (st[t].check == c)
            return t;
        if (s == 0)
            return 0;
        s = st[s].fail;
    }
}

/* Whether a term may start at p[j] (an ASCII word start) judging by two bytes. */
static inline int kw_pair_may(const kw_matcher *m, const unsigned char *p, size_t j, size_t len)
{
    if (j + 1 >= len || p[j + 1] >= 0x80)
        return 1;
    unsigned a = m->ascii[p[j]] & 0xFF, c = m->ascii[p[j + 1]] & 0xFF;
    unsigned k = a << 7 | c;
    return (int)((m->pair[k >> 6] >> (k & 63)) & 1);
}

/*
 * At the root with whole words: the next position >= i where a finding may start, i.e. a
 * non-ASCII byte or an ASCII word start (pw: the character before i is a word character)
 * whose first two bytes may begin a term; len when none. Everything skipped is ASCII, and
 * no whole-word finding can start in it.
 */
static size_t kw_skip(const kw_matcher *m, const unsigned char *p, size_t i, size_t len,
                      unsigned pw)
{
#if defined(__SSE2__)
    unsigned carry = pw & 1;
    while (i + 16 <= len) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i l = _mm_or_si128(v, _mm_set1_epi8(0x20));
        __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
                                      _mm_cmplt_epi8(l, _mm_set1_epi8('z' + 1)));
        __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                      _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
        __m128i word_v = _mm_or_si128(_mm_or_si128(alpha, digit),
                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
        unsigned hi = (unsigned)_mm_movemask_epi8(v);
        unsigned word = (unsigned)_mm_movemask_epi8(word_v);
        unsigned starts = word & ~((word << 1) | carry) & 0xFFFFu;
        if (hi)
            starts &= (1u << __builtin_ctz(hi)) - 1;
        for (; starts; starts &= starts - 1) {
            size_t j = i + (size_t)__builtin_ctz(starts);
            if (kw_pair_may(m, p, j, len))
                return j;
        }
        if (hi)
            return i + (size_t)__builtin_ctz(hi);
        carry = (word >> 15) & 1;
        i += 16;
    }
    pw = carry;
#endif
    for (; i < len; i++) {
        unsigned b = p[i];
        if (b >= 0x80)
            return i;
        unsigned w = (m->ascii[b] >> 8) & KW_WORD;
        if (w && !pw && kw_pair_may(m, p, i, len))
            return i;
        pw = w;
    }
    return len;
}

static int kw_next_is_word(const kw_run *r, size_t i)
{
    if (i >= r->len)
        return 0;
    unsigned b = r->p[i];
    if (b < 0x80)
        return (r->m->ascii[b] >> 8) & KW_WORD;
    uint32_t c;
    kw_text_decode(r->p + i, r->len - i, &c);
    return c != KW_CP_INVALID && (kw_text_class(c) & KW_WORD);
}

static void kw_cand_add(kw_run *r, size_t fs, size_t fe, size_t os, size_t oe)
{
    if (!r->cand_init) {
        memset(r->cand, 0, sizeof r->cand);
        r->cand_init = 1;
    }
    kw_cand *c = &r->cand[fs & KW_RMASK];
    if (c->fend && c->fstart == fs) {
        if (fe > c->fend) {
            c->fend = fe;
            c->oend = oe;
        }
        return;
    }
    c->fstart = fs;
    c->fend = fe;
    c->ostart = os;
    c->oend = oe;
    if (!r->npend || fs < r->pmin)
        r->pmin = fs;
    if (!r->npend || fs > r->pmax)
        r->pmax = fs;
    r->npend++;
}

/* Emits the decided candidates: those starting before lim. */
static int kw_resolve(kw_run *r, size_t lim)
{
    size_t t = r->pmin, end = r->pmax < lim ? r->pmax + 1 : lim;
    for (; t < end; t++) {
        kw_cand *c = &r->cand[t & KW_RMASK];
        if (!c->fend || c->fstart != t)
            continue;
        if (t >= r->emit_f) {
            int rc = r->emit(r->ctx, c->ostart, c->oend);
            if (rc)
                return rc;
            r->emit_f = c->fend;
        }
        c->fend = 0;
        r->npend--;
    }
    r->pmin = t;
    return 0;
}

/* Terms ending at folded position F (original offset i): candidates. */
static void kw_outputs(kw_run *r, uint32_t s, size_t F, size_t i)
{
    const kw_state *st = r->m->st;
    int ww = r->m->whole_word;
    if (ww && kw_next_is_word(r, i))
        return;
    for (uint32_t x = (st[s].flags & KW_ST_TERM) ? s : st[s].dict; x; x = st[x].dict) {
        size_t fs = F - st[x].depth;
        size_t e = r->ring[fs & KW_RMASK];
        if ((e & KW_R_MID) || (ww && (e & KW_R_PW)))
            continue;
        kw_cand_add(r, fs, F, e >> 2, i);
    }
}

static int kw_engine(kw_run *r)
{
    const kw_matcher *m = r->m;
    const kw_state *st = m->st;
    const unsigned char *p = r->p;
    size_t len = r->len, i = 0, F = 0;
    uint32_t s = 0;
    size_t pw = 0;  /* the previous original character is a word character */
    int psp = 0;    /* the last character fed was whitespace */
    int ww = m->whole_word;
    while (i < len) {
        if (s == 0 && m->skip) {
            size_t j = kw_skip(m, p, i, len, (unsigned)pw);
            if (j != i) {
                unsigned k = m->ascii[p[j - 1]] >> 8;
                pw = k & KW_WORD;
                psp = (k & KW_SPACE) != 0;
                i = j;
                if (i == len)
                    break;
            }
        } else if (s == 0 && pw && ww) {
            /* at the root inside a word: no whole-word match can start before the word
             * ends, and none started earlier is alive, so skip the word's ASCII rest */
            while (i < len && p[i] < 0x80 && ((m->ascii[p[i]] >> 8) & KW_WORD))
                i++;
            psp = 0;
            if (i == len)
                break;
        }
        size_t start = i;
        unsigned b = p[i];
        if (b < 0x80) {
            unsigned k = m->ascii[b];
            i++;
            if (k & (KW_SPACE << 8)) {
                if (psp) {
                    pw = 0;
                    continue;
                }
                psp = 1;
            } else {
                psp = 0;
            }
            r->ring[F & KW_RMASK] = (start << 2) | (pw << 1);
            s = kw_step(st, s, k & 0xFF);
            F++;
            pw = (k >> 8) & KW_WORD;
        } else {
            uint32_t c;
            i += kw_text_decode(p + i, len - i, &c);
            if (c == KW_CP_INVALID) {
                s = 0;
                pw = 0;
                psp = 0;
            } else {
                unsigned cls = kw_text_class(c);
                uint32_t f[KW_FOLD_MAX];
                size_t nf = 1;
                if (cls & KW_SPACE) {
                    if (psp) {
                        pw = 0;
                        continue;
                    }
                    psp = 1;
                    f[0] = ' ';
                } else {
                    psp = 0;
                    if (m->case_sensitive)
                        f[0] = c;
                    else
                        nf = kw_text_fold(c, f);
                }
                for (size_t k = 0; k < nf; k++) {
                    unsigned char u[4];
                    size_t ul = kw_text_encode(f[k], u);
                    r->ring[F & KW_RMASK] = (start << 2) | (pw << 1) | (k ? KW_R_MID : 0);
                    for (size_t j = 0; j < ul; j++)
                        s = kw_step(st, s, u[j]);
                    F += ul;
                }
                pw = cls & KW_WORD;
            }
        }
        if (r->emit) {
            if (st[s].flags & KW_ST_OUT)
                kw_outputs(r, s, F, i);
            if (r->npend && r->pmin < F - st[s].depth) {
                int rc = kw_resolve(r, F - st[s].depth);
                if (rc)
                    return rc;
            }
        }
    }
    r->s = s;
    r->F = F;
    if (r->emit && r->npend)
        return kw_resolve(r, (size_t)-1);
    return 0;
}

int kw_matcher_scan(const kw_matcher *m, const char *text, size_t len, kw_emit_fn emit,
                    void *ctx)
{
    if (!len)
        return 0;
    kw_run local;
    kw_run *r = &local;
    r->m = m;
    r->p = (const unsigned char *)text;
    r->len = len;
    r->emit = emit;
    r->ctx = ctx;
    r->npend = r->pmin = r->pmax = r->emit_f = 0;
    r->cand_init = 0;
    return kw_engine(r);
}

size_t kw_matcher_tail(const kw_matcher *m, const char *text, size_t len, size_t from)
{
    if (from > len)
        from = len;
    /* a character cut at the end could still become anything: decide only before it */
    size_t q = len - kw_text_incomplete((const unsigned char *)text, len);
    kw_run local;
    kw_run *r = &local;
    r->m = m;
    r->p = (const unsigned char *)text;
    r->len = q;
    r->emit = NULL;
    r->ctx = NULL;
    r->npend = r->pmin = r->pmax = r->emit_f = 0;
    r->cand_init = 0;
    size_t earliest = q;
    if (q) {
        kw_engine(r);
        size_t depth = m->st[r->s].depth;
        if (depth)
            earliest = r->ring[(r->F - depth) & KW_RMASK] >> 2;
    }
    return earliest > from ? earliest : from;
}
