/*
 * validators.c - checksums, registries and context rules behind the builtin detectors.
 *
 * The regexes in detectors.c find candidates by shape; everything a shape cannot decide
 * (check digits, issuer ranges, country lengths, "is this 9-digit number near the word
 * routing?") is decided here. See validators.h for the contract of each function.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "scan/validators.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ----------------------------------------------------------------- small helpers */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static int is_alpha(unsigned char c)
{
    return is_upper(c) || is_lower(c);
}

static int is_alnum(unsigned char c)
{
    return is_digit(c) || is_alpha(c);
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned char lower(unsigned char c)
{
    return is_upper(c) ? (unsigned char)(c | 0x20) : c;
}

/*
 * Copies the digits of s[start..end) to out (at most cap) and describes the separators:
 * *nsep separators seen, *sep the first one (0 if none), *mixed set when they differ.
 * Returns the number of digits, or cap + 1 when there are more.
 */
static size_t take_digits(const char *s, size_t start, size_t end, char *out, size_t cap,
                          char *sep, int *mixed)
{
    size_t n = 0;
    *sep = 0;
    *mixed = 0;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_digit(c)) {
            if (n == cap)
                return cap + 1;
            out[n++] = (char)c;
        } else {
            if (*sep && *sep != (char)c)
                *mixed = 1;
            if (!*sep)
                *sep = (char)c;
        }
    }
    return n;
}

static int all_same(const char *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0])
            return 0;
    return 1;
}

static int num(const char *d, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

int wr_context_near(const char *s, size_t len, size_t start, size_t end, size_t before,
                    size_t after, const char *const *words)
{
    size_t lo = start > before ? start - before : 0;
    size_t hi = end + after < len ? end + after : len;
    /* one pass over the context: only positions whose byte can start a word are tried */
    uint64_t first[4] = {0, 0, 0, 0};
    for (const char *const *w = words; *w; w++) {
        unsigned char c = (unsigned char)(*w)[0];
        first[c >> 6] |= 1ull << (c & 63);
    }
    for (int side = 0; side < 2; side++) {
        size_t a = side ? end : lo, b = side ? hi : start;
        for (size_t i = a; i < b; i++) {
            unsigned char c = lower((unsigned char)s[i]);
            if (!(first[c >> 6] & (1ull << (c & 63))))
                continue;
            if (i > 0 && is_alpha(c) && is_alpha((unsigned char)s[i - 1]))
                continue; /* not at the start of a word */
            for (const char *const *w = words; *w; w++) {
                size_t wl = strlen(*w);
                if ((unsigned char)(*w)[0] != c || i + wl > b)
                    continue;
                size_t k = 1;
                while (k < wl && lower((unsigned char)s[i + k]) == (unsigned char)(*w)[k])
                    k++;
                /* whole words: "sin" is not "since", "part" not "party" */
                if (k == wl && (!is_alpha((unsigned char)(*w)[wl - 1]) || i + wl >= len ||
                                !is_alpha((unsigned char)s[i + wl])))
                    return 1;
            }
        }
    }
    return 0;
}

/* Words that, just before a number, say it is an identifier of something else. */
static const char *const not_personal[] = {
    "order", "invoice", "part", "sku", "serial", "ticket", "ref", "tracking", "isbn",
    "model", "version", "build", "item", "product", "po #", "po:", "case", "confirmation",
    "booking", "reservation", "transaction", "txn", "batch", "lot", "issue", "pr #", "firmware",
    "release", NULL};

/* ...and, before a phone-shaped number, words naming another identifier. */
static const char *const not_phone[] = {"nhs", "health", "insurance", "sin", "ssn", "routing",
                                        "iban", "account", "acct", "social security", NULL};

static int near_not_personal(const char *s, size_t len, size_t start)
{
    return wr_context_near(s, len, start, start, 24, 0, not_personal);
}

/* ----------------------------------------------------------------- checksums */

int wr_luhn_ok(const char *d, size_t n)
{
    if (n == 0)
        return 0;
    int sum = 0, dbl = 0;
    for (size_t i = n; i-- > 0;) {
        if (!is_digit((unsigned char)d[i]))
            return 0;
        int v = d[i] - '0';
        if (dbl) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

/* Card issuer ranges: prefix interval [lo, hi] on the first `plen` digits, lengths. */
typedef struct card_range {
    int plen;
    int lo, hi;
    int minlen, maxlen;
} card_range;

static const card_range card_ranges[] = {
    {1, 4, 4, 13, 19},             /* Visa (13, 16, 19; checked below) */
    {2, 51, 55, 16, 16},           /* Mastercard */
    {4, 2221, 2720, 16, 16},       /* Mastercard 2-series */
    {2, 34, 34, 15, 15},           /* American Express */
    {2, 37, 37, 15, 15},           /* American Express */
    {4, 6011, 6011, 16, 19},       /* Discover */
    {3, 644, 649, 16, 19},         /* Discover */
    {2, 65, 65, 16, 19},           /* Discover / RuPay */
    {6, 622126, 622925, 16, 19},   /* Discover co-branded UnionPay */
    {3, 300, 305, 14, 19},         /* Diners Club International */
    {2, 36, 36, 14, 19},           /* Diners Club */
    {2, 38, 39, 14, 19},           /* Diners Club */
    {4, 3528, 3589, 16, 19},       /* JCB */
    {2, 62, 62, 16, 19},           /* UnionPay */
    {2, 81, 82, 16, 16},           /* RuPay */
    {2, 60, 60, 16, 16},           /* RuPay */
    {3, 508, 508, 16, 16},         /* RuPay */
    {4, 2200, 2204, 16, 19},       /* Mir */
    {2, 50, 50, 13, 19},           /* Maestro */
    {2, 56, 69, 13, 19},           /* Maestro */
};

int wr_card_ok(const char *d, size_t n)
{
    if (n < 13 || n > 19 || all_same(d, n))
        return 0;
    int known = 0;
    for (size_t i = 0; i < WR_ARRAY_LEN(card_ranges) && !known; i++) {
        const card_range *r = &card_ranges[i];
        int p = num(d, (size_t)r->plen);
        if (p >= r->lo && p <= r->hi && (int)n >= r->minlen && (int)n <= r->maxlen)
            known = 1;
    }
    if (known && d[0] == '4' && n != 13 && n != 16 && n != 19)
        known = 0;
    return known && wr_luhn_ok(d, n);
}

/* IBAN lengths per the SWIFT IBAN registry (release 2024). */
static const struct {
    char cc[3];
    int len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
    {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
    {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21},
    {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
    {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
    {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
    {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

int wr_iban_length(const char *cc)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(iban_lengths); i++)
        if (iban_lengths[i].cc[0] == cc[0] && iban_lengths[i].cc[1] == cc[1])
            return iban_lengths[i].len;
    return 0;
}

int wr_iban_ok(const char *s, size_t n)
{
    if (n < 15 || n > 34 || !is_upper((unsigned char)s[0]) || !is_upper((unsigned char)s[1]) ||
        !is_digit((unsigned char)s[2]) || !is_digit((unsigned char)s[3]))
        return 0;
    if ((size_t)wr_iban_length(s) != n)
        return 0;
    /* rotate the first four characters to the end; letters count A=10 .. Z=35 */
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n];
        if (is_digit(c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else if (is_upper(c))
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return 0;
    }
    return rem == 1;
}

int wr_ssn_ok(const char *d)
{
    int area = num(d, 3), group = num(d + 3, 2), serial = num(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return 0;
    if (all_same(d, 9))
        return 0;
    /* never valid: the Woolworth wallet card, the 1962 ad number, textbook placeholders */
    static const char *const famous[] = {"078051120", "219099999", "123456789", "111223333",
                                         "987654320", NULL};
    for (const char *const *f = famous; *f; f++)
        if (memcmp(d, *f, 9) == 0)
            return 0;
    return 1;
}

int wr_itin_ok(const char *d)
{
    if (d[0] != '9')
        return 0;
    int g = num(d + 3, 2);
    return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) ||
           (g >= 94 && g <= 99);
}

int wr_aba_ok(const char *d)
{
    int p = num(d, 2);
    if (!((p >= 1 && p <= 12) || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80))
        return 0;
    static const int w[9] = {3, 7, 1, 3, 7, 1, 3, 7, 1};
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += (d[i] - '0') * w[i];
    return sum % 10 == 0;
}

int wr_nhs_ok(const char *d)
{
    if (all_same(d, 10))
        return 0;
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += (d[i] - '0') * (10 - i);
    int check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    return check != 10 && check == d[9] - '0';
}

int wr_sin_ok(const char *d)
{
    return d[0] != '0' && d[0] != '8' && !all_same(d, 9) && wr_luhn_ok(d, 9);
}

static int vin_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    static const char *const tab = "12345678.12345.7.923456789"; /* A..Z, '.' = invalid */
    if (!is_upper(c))
        return -1;
    char v = tab[c - 'A'];
    return v == '.' ? -1 : v - '0';
}

int wr_vin_ok(const char *s)
{
    static const int w[17] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};
    int sum = 0, digits = 0, letters = 0;
    for (int i = 0; i < 17; i++) {
        int v = vin_value((unsigned char)s[i]);
        if (v < 0)
            return 0;
        if (is_digit((unsigned char)s[i]))
            digits++;
        else
            letters++;
        sum += v * w[i];
    }
    if (!digits || !letters)
        return 0;
    /* model year (position 10) is never 0, U or Z */
    if (s[9] == '0' || s[9] == 'U' || s[9] == 'Z')
        return 0;
    int check = sum % 11;
    return s[8] == (check == 10 ? 'X' : '0' + check);
}

/* ISO 3166-1 alpha-2, plus XK (Kosovo, used by SWIFT). */
static const char countries[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCH"
    "CICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGN"
    "GPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLI"
    "LKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOM"
    "PAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTD"
    "TFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSXKYEYTZAZMZW";

int wr_country_ok(const char *cc)
{
    for (size_t i = 0; i + 1 < sizeof countries; i += 2)
        if (countries[i] == cc[0] && countries[i + 1] == cc[1])
            return 1;
    return 0;
}

int wr_date_ok(int y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* ----------------------------------------------------------------- first names */

static const char *const first_names[] = {
#include "scan/first_names.inc"
};

static int name_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

int wr_first_name_ok(const char *w, size_t n)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, w, n);
    buf[n] = 0;
    return bsearch(buf, first_names, WR_ARRAY_LEN(first_names), sizeof first_names[0],
                   name_cmp) != NULL;
}

/* ----------------------------------------------------------------- scanner validators */

int wr_validate_email(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    const char *at = memchr(s + start, '@', end - start);
    if (!at)
        return 0;
    size_t a = (size_t)(at - s);
    if (start >= 3 && memcmp(s + start - 3, "://", 3) == 0)
        return 0; /* user@host inside a URL is its userinfo */
    if (start >= 1 && s[start - 1] == ':') {
        /* scheme://user:password@host: the "password" is userinfo too */
        for (size_t i = start - 1; i >= 3 && start - i < 128; i--) {
            unsigned char c = (unsigned char)s[i - 1];
            if (c == ' ' || c == '\n' || c == '\t' || c == '"' || c == '\'' || c == '<')
                break;
            if (memcmp(s + i - 3, "://", 3) == 0)
                return 0;
        }
    }
    /* local part: no leading/trailing dot, no ".." */
    if (s[start] == '.' || s[a - 1] == '.')
        return 0;
    for (size_t i = start; i + 1 < a; i++)
        if (s[i] == '.' && s[i + 1] == '.')
            return 0;
    /* the "TLD" of image@2x.png and friends is a file extension, not a domain */
    const char *dot = NULL;
    for (size_t i = a; i < end; i++)
        if (s[i] == '.')
            dot = s + i;
    if (!dot)
        return 0;
    static const char *const ext[] = {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf", "js",
                                      "css", "ts", "json", "txt", "md", "ico", "bmp", NULL};
    size_t tl = (size_t)(s + end - dot - 1);
    for (const char *const *e = ext; *e; e++) {
        if (strlen(*e) != tl)
            continue;
        size_t k = 0;
        while (k < tl && lower((unsigned char)dot[1 + k]) == (unsigned char)(*e)[k])
            k++;
        if (k == tl)
            return 0;
    }
    return 1;
}

static const char *const phone_words[] = {"phone", "telephone", "tel", "mobile", "calling", "cell", "fax", "call",
                                          "ring", "contact", "whatsapp", "sms", "text me",
                                          "reach me", "number", "landline", "mob", NULL};

int wr_validate_phone(const char *s, size_t len, size_t start, size_t end)
{
    char d[32], sep;
    int mixed;
    size_t n = take_digits(s, start, end, d, 20, &sep, &mixed);
    if (n > 20 || n < 7 || all_same(d, n))
        return 0;
    if (s[start] == '+') {
        if (n < 8 || n > 15)
            return 0;
        if (d[0] == '1')
            return n == 11 && d[1] >= '2' && d[4] >= '2';
        return 1;
    }
    /* the digit rules first: they are cheap and reject most candidates */
    if (d[0] == '0') { /* national format with trunk prefix: ambiguous without context */
        if (n != 10 && n != 11)
            return 0;
    } else {
        /* NANP: optional 1, area code and exchange start with 2-9 */
        const char *p = d;
        size_t pn = n;
        if (pn == 11 && d[0] == '1')
            p = d + 1, pn = 10;
        if (pn != 10 || p[0] < '2' || p[3] < '2' || (p[1] == '1' && p[2] == '1'))
            return 0;
    }
    if (near_not_personal(s, len, start) ||
        wr_context_near(s, len, start, start, 24, 0, not_phone))
        return 0;
    return d[0] != '0' || wr_context_near(s, len, start, end, 48, 0, phone_words);
}

/* Digit groups of a separated card number must be 4-4-4-4[-1..3], 4-6-5 or 4-6-4. */
static int card_groups_ok(const char *s, size_t start, size_t end)
{
    int g[8], ng = 0, cur = 0;
    for (size_t i = start; i < end; i++) {
        if (is_digit((unsigned char)s[i])) {
            cur++;
        } else {
            if (ng == 7)
                return 0;
            g[ng++] = cur;
            cur = 0;
        }
    }
    g[ng++] = cur;
    if (ng == 1)
        return 1;
    if (ng == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4))
        return 1;
    for (int i = 0; i < ng - 1; i++)
        if (g[i] != 4)
            return 0;
    return ng >= 4 && g[ng - 1] >= 1 && g[ng - 1] <= 4;
}

int wr_validate_credit_card(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    char d[24], sep;
    int mixed;
    size_t n = take_digits(s, start, end, d, 19, &sep, &mixed);
    if (n > 19 || mixed || !card_groups_ok(s, start, end))
        return 0;
    return wr_card_ok(d, n);
}

static const char *const ssn_words[] = {"ssn", "social security", "social sec", "ss#",
                                        "ss #", "ss no", "soc sec", NULL};
static const char *const itin_words[] = {"itin", "taxpayer", "tax id", "tin", NULL};

int wr_validate_us_ssn(const char *s, size_t len, size_t start, size_t end)
{
    char d[12], sep;
    int mixed;
    if (take_digits(s, start, end, d, 9, &sep, &mixed) != 9 || mixed)
        return 0;
    if (!wr_ssn_ok(d))
        return 0;
    if (!sep) /* nine bare digits are anything: need the word */
        return wr_context_near(s, len, start, end, 48, 0, ssn_words);
    return !near_not_personal(s, len, start);
}

int wr_validate_us_itin(const char *s, size_t len, size_t start, size_t end)
{
    char d[12], sep;
    int mixed;
    if (take_digits(s, start, end, d, 9, &sep, &mixed) != 9 || mixed || !wr_itin_ok(d))
        return 0;
    if (!sep)
        return wr_context_near(s, len, start, end, 48, 0, itin_words);
    return !near_not_personal(s, len, start);
}

int wr_validate_iban(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    char v[40];
    size_t n = 0, group = 0;
    int spaced = 0;
    for (size_t i = start; i < end; i++) {
        if (s[i] == ' ') {
            if (group != 4)
                return 0; /* groups of four, only the last may be shorter */
            spaced = 1;
            group = 0;
            continue;
        }
        if (n == 34)
            return 0;
        v[n++] = is_lower((unsigned char)s[i]) ? (char)(s[i] - 32) : s[i];
        group++;
    }
    (void)spaced;
    return wr_iban_ok(v, n);
}

static const char *const routing_words[] = {"routing number", "routing no", "routing #",
                                            "routing:", "routing/transit", "routing code",
                                            "aba", "rtn", "r/t", "transit number", NULL};
static const char *const routing_near[] = {"routing", NULL};

int wr_validate_us_bank_routing(const char *s, size_t len, size_t start, size_t end)
{
    char d[12], sep;
    int mixed;
    if (take_digits(s, start, end, d, 9, &sep, &mixed) != 9 || !wr_aba_ok(d))
        return 0;
    /* "routing number"/"ABA"/"RTN" within 48 bytes, or "routing" right before it */
    return wr_context_near(s, len, start, end, 48, 0, routing_words) ||
           wr_context_near(s, len, start, end, 9, 0, routing_near);
}

static const char *const version_words[] = {"version", "ver", "release", "build", "firmware",
                                            "v.", "rev", "oid", "section", "chapter",
                                            "clause", "step", "paragraph", "figure",
                                            "table", "rule", "item", "\xc2\xa7", NULL};

int wr_validate_ipv4(const char *s, size_t len, size_t start, size_t end)
{
    int parts = 0;
    size_t i = start;
    while (i < end) {
        size_t b = i;
        int v = 0;
        while (i < end && is_digit((unsigned char)s[i]))
            v = v * 10 + (s[i++] - '0');
        size_t dl = i - b;
        if (dl == 0 || dl > 3 || v > 255 || (dl > 1 && s[b] == '0'))
            return 0;
        parts++;
        if (i < end)
            i++; /* the dot */
    }
    if (parts != 4)
        return 0;
    /* "Chrome/120.0.0.0": a product version in a user agent, not an address ("//1.2.3.4"
     * in a URL stays one) */
    if (start >= 2 && s[start - 1] == '/' && (is_alpha((unsigned char)s[start - 2]) ||
                                               is_digit((unsigned char)s[start - 2])))
        return 0;
    /* "version 1.2.3.4" is a version string, not an address */
    return !wr_context_near(s, len, start, start, 16, 0, version_words);
}

int wr_validate_ipv6(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    char buf[64];
    size_t n = end - start;
    const char *pct = memchr(s + start, '%', n);
    if (pct)
        n = (size_t)(pct - (s + start));
    if (n >= sizeof buf || n < 3)
        return 0;
    memcpy(buf, s + start, n);
    buf[n] = 0;
    int digit = 0;
    for (size_t i = 0; i < n; i++)
        digit |= is_digit((unsigned char)buf[i]);
    if (!digit) /* "dead::beef", "::" */
        return 0;
    unsigned char out[16];
    return inet_pton(AF_INET6, buf, out) == 1;
}

int wr_validate_mac(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    int zero = 1, ff = 1, digit = 0, hex = 0;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_hex(c))
            continue;
        hex++;
        digit |= is_digit(c);
        zero &= c == '0';
        ff &= (c | 0x20) == 'f';
    }
    if (hex != 12 || zero || ff)
        return 0;
    if (memchr(s + start, '.', end - start) && !digit)
        return 0; /* "abcd.efab.cdef" reads as a word, and has no trigger */
    return 1;
}

int wr_validate_url(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    size_t i = start;
    const char *css = memchr(s + start, ':', end - start);
    if (css && css + 2 < s + end && css[1] == '/' && css[2] == '/' &&
        (size_t)(css - s) - start <= 5)
        i = (size_t)(css - s) + 3;
    /* host[:port]: up to / ? # ; skip userinfo */
    size_t h = i, he = i;
    while (he < end && s[he] != '/' && s[he] != '?' && s[he] != '#')
        he++;
    const char *at = memchr(s + h, '@', he - h);
    if (at)
        h = (size_t)(at - s) + 1;
    size_t hostend = h;
    while (hostend < he && s[hostend] != ':')
        hostend++;
    if (s[h] == '[') /* IPv6 literal */
        return he - h > 2;
    int alnum = 0, dots = 0;
    for (size_t k = h; k < hostend; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '.')
            dots++;
        else if (is_alnum(c) || c >= 0x80)
            alnum++;
        else if (c != '-' && c != '_')
            return 0;
    }
    if (!alnum)
        return 0;
    if (i == start) /* www. form: needs www.<name>.<tld> */
        return dots >= 2 && s[hostend - 1] != '.';
    return 1;
}

int wr_validate_aws_access_key_id(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    /* placeholders like AKIAXXXXXXXXXXXXXXXX */
    return end - start == 20 && !all_same(s + start + 4, 16);
}

static const char *const aws_secret_words[] = {"secret", "aws_secret", "secretaccesskey",
                                               "secret_access_key", "aws secret", NULL};

int wr_validate_aws_secret_key(const char *s, size_t len, size_t start, size_t end)
{
    int up = 0, lo = 0, dg = 0;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        up |= is_upper(c);
        lo |= is_lower(c);
        dg |= is_digit(c);
    }
    if (!(up && lo && dg))
        return 0; /* git hashes, hex digests, words */
    return wr_context_near(s, len, start, end, 96, 0, aws_secret_words);
}

static int b64url_value(unsigned char c)
{
    if (is_upper(c))
        return c - 'A';
    if (is_lower(c))
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    if (c == '-' || c == '_')
        return 62;
    if (c == '+' || c == '/')
        return 63;
    return -1;
}

/* Decodes base64url s[0..n) into out (cap bytes, truncating). Returns bytes or -1. */
static long b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < cap)
                out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

int wr_validate_jwt(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    const char *dot = memchr(s + start, '.', end - start);
    if (!dot)
        return 0;
    size_t hl = (size_t)(dot - (s + start));
    if (hl < 16) /* the scanner's token trigger needs a run of 16 */
        return 0;
    unsigned char h[1024];
    long n = b64url_decode(s + start, hl, h, sizeof h);
    if (n < 2)
        return 0;
    long i = 0;
    while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n'))
        i++;
    if (i >= n || h[i] != '{')
        return 0;
    for (long k = i; k + 5 <= n; k++)
        if (memcmp(h + k, "\"alg\"", 5) == 0)
            return 1;
    return 0;
}

int wr_validate_api_token(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    /* body after the prefix: skip to past the last '_' or '-' within the first 12 bytes */
    size_t b = start;
    for (size_t i = start; i < end && i < start + 12; i++)
        if (s[i] == '_' || s[i] == '-' || s[i] == '.')
            b = i + 1;
    size_t n = end - b;
    if (n < 16)
        return 0;
    /* placeholders: few distinct characters, or runs of x / X / * */
    unsigned char seen[128] = {0};
    int distinct = 0;
    for (size_t i = b; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 128 && !seen[c]) {
            seen[c] = 1;
            distinct++;
        }
    }
    if (distinct < 8)
        return 0;
    for (size_t i = b; i + 6 <= end; i++)
        if (memcmp(s + i, "xxxxxx", 6) == 0 || memcmp(s + i, "XXXXXX", 6) == 0)
            return 0;
    return 1;
}

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};

static int month_at(const char *s, size_t i, size_t end)
{
    if (i + 3 > end)
        return 0;
    for (int m = 0; m < 12; m++)
        if (lower((unsigned char)s[i]) == month_names[m][0] &&
            lower((unsigned char)s[i + 1]) == month_names[m][1] &&
            lower((unsigned char)s[i + 2]) == month_names[m][2])
            return m + 1;
    return 0;
}

static const char *const dob_words[] = {
    "born", "birth", "dob", "d.o.b", "bday", "b-day", "b.", "birthday", "birthdate",
    "date of birth", "geboren", "geb.", "geburtsdatum", "geburtstag", "n\xc3\xa9",
    "n\xc3\xa9" "e", "nacido", "nacida", "nato", "nata", "fecha de nacimiento",
    "date de naissance", "data di nascita", "do\xc4\x9fum", NULL};

/*
 * The date_of_birth regex starts at a cue (born, birth..., dob, d.o.b, b-day, bday, b.) that
 * does not follow a letter. A window without one cannot match: skip it before PCRE2 runs.
 * A superset of the regex's cues (it matches on the first letters only).
 */
/*
 * The email regex starts a match only at the beginning of a run of local-part characters
 * (its lookbehind), takes at most 64 of them, and needs the '@' right after. So the only
 * start for the '@' at `at` is the start of the run before it. Non-ASCII bytes could be
 * letters of the run: the scanner then searches the window instead (-1).
 */
int wr_anchor_email(const char *s, size_t len, size_t at, size_t *start)
{
    if (at >= len || s[at] != '@')
        return 0;
    size_t i = at, n = 0;
    while (i > 0) {
        unsigned char c = (unsigned char)s[i - 1];
        if (c >= 0x80)
            return -1;
        if (!(is_alpha(c) || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '%' ||
              c == '+' || c == '-'))
            break;
        if (++n > 64)
            return 0; /* a longer run cannot start a match: the lookbehind forbids mid-run */
        i--;
    }
    if (n == 0)
        return 0;
    *start = i;
    return 1;
}

/*
 * Does a birth cue (dob_words) start at s[i]? A superset of the regex's cues: ASCII letters
 * compare case-insensitively and a non-ASCII byte of a cue matches any non-ASCII byte, so
 * "NÉ" and "DOĞUM" in capitals are not missed.
 */
static int dob_cue_at(const char *s, size_t len, size_t i)
{
    if (i > 0 && is_alpha((unsigned char)s[i - 1]))
        return 0;
    unsigned char c = lower((unsigned char)s[i]);
    unsigned char c1 = i + 1 < len ? lower((unsigned char)s[i + 1]) : 0;
    unsigned char c2 = i + 2 < len ? lower((unsigned char)s[i + 2]) : 0;
    /* cheap reject on the first bytes of every cue before comparing whole words */
    switch (c) {
    case 'b':
        if (!(c1 == 'o' || c1 == 'i' || c1 == 'd' || c1 == '-' || c1 == '.'))
            return 0;
        break;
    case 'd':
        if (!(c1 == 'o' || c1 == '.' || (c1 == 'a' && c2 == 't')))
            return 0;
        break;
    case 'g':
        if (!(c1 == 'e' && c2 == 'b'))
            return 0;
        break;
    case 'n':
        if (!(c1 >= 0x80 || (c1 == 'a' && (c2 == 'c' || c2 == 't'))))
            return 0;
        break;
    case 'f':
        if (!(c1 == 'e' && c2 == 'c'))
            return 0;
        break;
    default:
        return 0;
    }
    for (const char *const *w = dob_words; *w; w++) {
        const unsigned char *p = (const unsigned char *)*w;
        if (p[0] != c)
            continue;
        size_t k = 1;
        for (; p[k] && i + k < len; k++) {
            unsigned char t = (unsigned char)s[i + k];
            if (p[k] >= 0x80 ? t < 0x80 : lower(t) != p[k])
                break;
        }
        if (!p[k])
            return 1;
    }
    return 0;
}

int wr_window_date_of_birth(const char *s, size_t len, size_t from, size_t to)
{
    if (to > len)
        to = len;
    /* the cue stands up to 40 bytes before the date (the validator's rule), and the date
     * up to max_lead before its first digit: look that far back */
    size_t i = from > 64 ? from - 64 : 0;
#if defined(__SSE2__)
    /* 16 bytes at a time: only b, d, f, g or n (any case) can start a cue */
    const __m128i c20 = _mm_set1_epi8(0x20), cb = _mm_set1_epi8('b'), cd = _mm_set1_epi8('d');
    const __m128i cf = _mm_set1_epi8('f'), cg = _mm_set1_epi8('g'), cn = _mm_set1_epi8('n');
    const __m128i cam1 = _mm_set1_epi8('a' - 1), czp1 = _mm_set1_epi8('z' + 1);
    if (i == 0 && i < to) {
        if (dob_cue_at(s, len, 0))
            return 1;
        i = 1;
    }
    for (; i + 16 <= to; i += 16) {
        __m128i x = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(s + i)), c20);
        /* ... at the start of a word: the byte before is not an ASCII letter */
        __m128i prev =
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(s + i - 1)), c20);
        __m128i prev_alpha = _mm_and_si128(_mm_cmpgt_epi8(prev, cam1), _mm_cmplt_epi8(prev, czp1));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, cb), _mm_cmpeq_epi8(x, cd)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, cf),
                                                _mm_or_si128(_mm_cmpeq_epi8(x, cg),
                                                             _mm_cmpeq_epi8(x, cn))));
        hit = _mm_andnot_si128(prev_alpha, hit);
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        while (m) {
            unsigned k = (unsigned)__builtin_ctz(m);
            m &= m - 1;
            if (dob_cue_at(s, len, i + k))
                return 1;
        }
    }
#endif
    for (; i < to; i++)
        if (dob_cue_at(s, len, i))
            return 1;
    return 0;
}

int wr_validate_date_of_birth(const char *s, size_t len, size_t start, size_t end)
{
    /* the cue must be in the same clause: "Born: X; Married: Y" */
    size_t back = 0;
    /* ... and belongs to this date: "b. 1952-11-03, d. 2019-06-09" has one birth date, so
     * the look-back also stops at the previous number */
    while (back < 40 && back < start && s[start - back - 1] != ';' && s[start - back - 1] != '\n' &&
           !is_digit((unsigned char)s[start - back - 1]))
        back++;
    if (!wr_context_near(s, len, start, end, back, 0, dob_words))
        return 0;
    /* collect up to three numbers and a month name, in order */
    int nums[3], ndig[3], nn = 0, month = 0, month_pos = -1;
    char seps[2] = {0, 0};
    int nsep = 0;
    size_t i = start;
    while (i < end) {
        unsigned char c = (unsigned char)s[i];
        if (is_digit(c)) {
            int v = 0, dl = 0;
            while (i < end && is_digit((unsigned char)s[i]))
                v = v * 10 + (s[i++] - '0'), dl++;
            if (nn == 3)
                return 0;
            ndig[nn] = dl;
            nums[nn++] = v;
            while (i < end && is_alpha((unsigned char)s[i]) && !month_at(s, i, end))
                i++; /* 1st, 2nd, 3rd, 5th */
            continue;
        }
        if (is_alpha(c)) {
            int m = month_at(s, i, end);
            if (m && !month) {
                month = m;
                month_pos = nn;
            }
            while (i < end && is_alpha((unsigned char)s[i]))
                i++;
            continue;
        }
        if ((c == '/' || c == '-' || c == '.') && !month) {
            if (nsep == 2)
                return 0;
            seps[nsep++] = (char)c;
        }
        i++;
    }
    if (nsep == 2 && seps[0] != seps[1])
        return 0;
    int y = -1, m = -1, d = -1, alt_m = -1, alt_d = -1;
    if (month) {
        if (nn != 2)
            return 0;
        m = month;
        (void)month_pos;
        if (ndig[0] <= 2 && ndig[1] == 4)
            d = nums[0], y = nums[1];
        else
            return 0;
    } else {
        if (nn != 3)
            return 0;
        if (ndig[0] == 4) {
            y = nums[0], m = nums[1], d = nums[2];
        } else {
            if (ndig[2] != 4 && ndig[2] != 2)
                return 0;
            m = nums[0], d = nums[1]; /* US order, and the day-first reading */
            alt_d = nums[0], alt_m = nums[1];
            y = nums[2];
            if (ndig[2] == 2) {
                time_t t = time(NULL);
                struct tm tm;
                gmtime_r(&t, &tm);
                int yy = (tm.tm_year + 1900) % 100;
                y += y > yy ? 1900 : 2000;
            }
        }
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    long today = (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    if (y < tm.tm_year + 1900 - 130)
        return 0;
    int ok = 0;
    if (wr_date_ok(y, m, d) && (long)y * 10000 + m * 100 + d < today)
        ok = 1;
    if (!ok && alt_m > 0 && wr_date_ok(y, alt_m, alt_d) &&
        (long)y * 10000 + alt_m * 100 + alt_d < today)
        ok = 1;
    return ok;
}

static const char *const swift_words[] = {"swift", "bic", "bank", "iban", "wire", NULL};

int wr_validate_swift(const char *s, size_t len, size_t start, size_t end)
{
    size_t n = end - start;
    if (n != 8 && n != 11)
        return 0;
    if (!wr_country_ok(s + start + 4))
        return 0;
    return wr_context_near(s, len, start, end, 64, 0, swift_words);
}

static const char *const nhs_words[] = {"nhs", "health", "patient", "hospital", "gp ", NULL};

int wr_validate_uk_nhs(const char *s, size_t len, size_t start, size_t end)
{
    char d[12], sep;
    int mixed;
    if (take_digits(s, start, end, d, 10, &sep, &mixed) != 10 || mixed || !wr_nhs_ok(d))
        return 0;
    return wr_context_near(s, len, start, end, 64, 0, nhs_words);
}

static const char *const sin_words[] = {"sin", "social insurance", "insurance number",
                                        "nas", "assurance sociale", NULL};

int wr_validate_ca_sin(const char *s, size_t len, size_t start, size_t end)
{
    char d[12], sep;
    int mixed;
    if (take_digits(s, start, end, d, 9, &sep, &mixed) != 9 || mixed || !wr_sin_ok(d))
        return 0;
    if (!sep)
        return wr_context_near(s, len, start, end, 48, 0, sin_words);
    return !near_not_personal(s, len, start);
}

int wr_validate_uk_nino(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    static const char *const bad[] = {"BG", "GB", "NK", "KN", "NT", "TN", "ZZ", NULL};
    for (const char *const *b = bad; *b; b++)
        if ((s[start] & ~0x20) == (*b)[0] && (s[start + 1] & ~0x20) == (*b)[1])
            return 0;
    size_t spaces = 0;
    for (size_t i = start; i < end; i++)
        spaces += s[i] == ' ';
    return spaces == 0 || spaces == 4;
}

int wr_validate_vin(const char *s, size_t len, size_t start, size_t end)
{
    (void)len;
    return end - start == 17 && wr_vin_ok(s + start);
}

static const char *const year_words[] = {"in ", "since ", "by ", "of ", "from ", "until ",
                                         "after ", "before ", "during ", "year ", NULL};

int wr_validate_address(const char *s, size_t len, size_t start, size_t end)
{
    (void)end;
    /* "in 2024 Apple Park": after in/since/by/..., a 19xx/20xx number is a year */
    size_t dl = 0;
    while (start + dl < len && is_digit((unsigned char)s[start + dl]))
        dl++;
    int yearish = dl == 4 && ((s[start] == '1' && s[start + 1] == '9') ||
                              (s[start] == '2' && s[start + 1] == '0'));
    if (yearish && wr_context_near(s, len, start, start, 8, 0, year_words))
        return 0;
    return 1;
}

/* Capitalised words that follow a first name but make it something else. */
static const char *const name_stop[] = {
    "Street", "St", "Avenue", "Ave", "Road", "Rd", "Park", "Lane", "Drive", "Boulevard",
    "Island", "River", "Lake", "Mountain", "Valley", "Bay", "County", "City", "University",
    "College", "School", "Hospital", "Church", "Hotel", "Airport", "Station", "Center",
    "Centre", "House", "Hall", "Bank", "Company", "Inc", "Corp", "Ltd", "Group", "Day",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January",
    "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December", "The", "And", "Or", "But", "In", "On", "At", "To", "For", "Of",
    "An", "If", "It", "Is", "We", "You", "He", "She", "They", "This", "That", "My", "Your",
    "Our", "His", "Her", "Their", "Not", "No", "Yes", "All", "Any", "Some", "Then", "When",
    "Where", "What", "Who", "Why", "How", "Please", "Thanks", "Thank", "Dear", "Hi", "Hello",
    "Festival", "Award", "Awards", "Prize", "Act", "Bill", "Law", "War", "Cup", "Series",
    "Foundation", "Institute", "Museum", "Library", "Square", "Bridge", "Tower", "Castle",
    "Beach", "Creek", "Hill", "Hills", "Heights", "Gardens", "Court", "Place", "Way", "Falls",
    "Springs", "Mountains", "Canyon", "Desert", "Forest", "Ocean", "Sea", "Harbor", "Port", NULL};

/* Given names that, capitalised at a sentence start, are usually ordinary words. */
static const char *const name_ambiguous[] = {
    "Will", "May", "June", "April", "August", "Mark", "Bill", "Rose", "Grant", "Hope",
    "Faith", "Joy", "Art", "Chase", "Page", "Sunny", "Dawn", "Summer", "Autumn", "Winter",
    "Ray", "Pat", "Rich", "Jack", "Penny", "Holly", "Ivy", "Iris", "Lily", "Daisy", "Pearl",
    "Ruby", "Amber", "Crystal", "Destiny", "Harmony", "Honey", "Star", "Sky", "Rock", "Stone",
    "Wood", "Field", "Hunter", "Guy", "Don", "Max", "Sandy", "Dusty", "Rusty", "Gay", "Merry",
    "Happy", "Lucky", "Grace", "Prince", "King", "Royal", "Young", "Long", "Major", "Miles",
    "Norman", "Christian", "Elder", "Cliff", "Dale", "Glen", "Forest", "Lane", "Brook", "Bob",
    "Sue", "Gene", "Carol", "Trinity", "Victoria", "Paris", "Florence", "Georgia", "Virginia",
    "Carolina", "Austin", "Jordan", "Madison", "Chelsea", "Sydney", "Israel", "India", "China",
    "Kelly", "Van", "Del", "Della", "Le", "La", "Di", "Do", "Ha", "Al", "Ali", "Eve", "Ebony",
    "Tiffany", "Mercedes", "Porsche", "Lincoln", "Ford", "Chevy", "Cadillac", "Dodge", NULL};

static int word_in(const char *w, size_t n, const char *const *list)
{
    for (const char *const *p = list; *p; p++)
        if (strlen(*p) == n && memcmp(*p, w, n) == 0)
            return 1;
    return 0;
}

static const char *const name_intro[] = {"name is", "name's", "name:", "named", "called",
                                         "signed", "regards", "sincerely", "mr", "mrs",
                                         "ms", "miss", "mx", "dr", "prof", "sir", "dame",
                                         "rev", "lady", "lord", "dear", NULL};

int wr_validate_person_name(const char *s, size_t len, size_t start, size_t end)
{
    /* introduced by a title or a phrase: the regex already saw the cue */
    if (wr_context_near(s, len, start, start, 14, 0, name_intro))
        return 1;
    /* otherwise: "First [M.] Last" with First in the name list */
    size_t w1 = start;
    while (w1 < end && s[w1] != ' ')
        w1++;
    size_t l0 = end;
    while (l0 > start && s[l0 - 1] != ' ')
        l0--;
    if (!wr_first_name_ok(s + start, w1 - start))
        return 0;
    if (word_in(s + l0, end - l0, name_stop))
        return 0;
    for (size_t i = start; i < end;) {
        size_t j = i;
        while (j < end && s[j] != ' ')
            j++;
        if (i > start && word_in(s + i, j - i, name_stop))
            return 0;
        i = j + 1;
    }
    if (word_in(s + start, w1 - start, name_ambiguous)) {
        /* sentence-initial "Will Smith" reads as a name only when Smith is a surname-ish
         * word not itself a given name of the ambiguous kind */
        if (word_in(s + l0, end - l0, name_ambiguous))
            return 0;
        size_t p = start;
        while (p > 0 && s[p - 1] == ' ')
            p--;
        if (p == 0 || s[p - 1] == '.' || s[p - 1] == '\n' || s[p - 1] == '!' ||
            s[p - 1] == '?' || s[p - 1] == '"')
            return 0;
    }
    return 1;
}
