/*
 * test_registry.c - the detector table itself: lookup by name and alias, the public
 * listing, and the scanner contract (every match holds a declared trigger and is at most
 * max_len long), checked by scanning the labelled corpus once with the prefilter and once
 * over the whole text: both must find the same matches.
 */
#include "helpers.h"
#include "scan/validators.h"

static void test_find(void **state)
{
    (void)state;
    const wr_detector_def *d = wr_builtin_find("email");
    assert_non_null(d);
    assert_string_equal(d->entity, "EMAIL");
    assert_ptr_equal(wr_builtin_find("EMAIL_ADDRESS"), d); /* Presidio */
    assert_ptr_equal(wr_builtin_find("Email"), d);
    assert_string_equal(wr_builtin_find("CREDIT_CARD")->name, "credit_card");
    assert_string_equal(wr_builtin_find("us_social_security_number")->name, "us_ssn");
    assert_string_equal(wr_builtin_find("IBAN_CODE")->name, "iban");
    assert_string_equal(wr_builtin_find("PERSON")->name, "person_name");
    assert_string_equal(wr_builtin_find("AWS_SECRET_KEY")->name, "aws_secret_access_key");
    assert_null(wr_builtin_find("emai"));
    assert_null(wr_builtin_find(""));
    assert_null(wr_builtin_find(NULL));
    assert_null(wr_builtin_find("email phone")); /* one name, not a list */
}

static void test_listing(void **state)
{
    (void)state;
    const char *entity = NULL;
    size_t n = 0;
    while (weir_detector_name(n, &entity)) {
        assert_non_null(entity);
        assert_ptr_equal(wr_builtin_find(weir_detector_name(n, NULL)), &wr_builtin_detectors[n]);
        n++;
    }
    assert_int_equal(n, wr_builtin_detector_count);
    assert_null(weir_detector_name(n, &entity));
    assert_null(entity);
    static const char *const required[] = {
        "email", "phone", "credit_card", "us_ssn", "us_itin", "iban", "us_bank_routing",
        "ipv4", "ipv6", "mac_address", "url", "aws_access_key_id", "aws_secret_access_key",
        "private_key", "jwt", "api_token", "date_of_birth", NULL};
    for (const char *const *r = required; *r; r++)
        assert_non_null(wr_builtin_find(*r));
}

static void test_table_sane(void **state)
{
    (void)state;
    for (size_t i = 0; i < wr_builtin_detector_count; i++) {
        const wr_detector_def *d = &wr_builtin_detectors[i];
        assert_non_null(d->name);
        assert_non_null(d->entity);
        assert_non_null(d->label);
        assert_non_null(d->description);
        assert_true(d->triggers != 0);
        assert_true(d->max_len > 0);
        wr_detector c;
        char msg[256];
        if (wr_detector_init_builtin(&c, d, msg, sizeof msg))
            fail_msg("%s does not compile: %s", d->name, msg);
        wr_detector_release(&c);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(d->name, wr_builtin_detectors[j].name);
    }
}

static int is_tok(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_' ||
           c == '+' || c == '/' || c == '=' || c == '-';
}

/* Does t[s..e) contain one of the triggers in `trig`, as the scanner's prefilter sees them? */
static int has_trigger(const char *t, size_t len, size_t s, size_t e, uint32_t trig)
{
    if (trig & WR_TRIG_ALWAYS)
        return 1;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((trig & WR_TRIG_DIGIT) && c >= '0' && c <= '9')
            return 1;
        if ((trig & WR_TRIG_AT) && c == '@')
            return 1;
        if ((trig & WR_TRIG_COLON) && c == ':')
            return 1;
        if ((trig & WR_TRIG_WWW) && i + 4 <= e && (t[i] | 0x20) == 'w' &&
            (t[i + 1] | 0x20) == 'w' && (t[i + 2] | 0x20) == 'w' && t[i + 3] == '.')
            return 1;
        if ((trig & WR_TRIG_DASHES) && i + 5 <= e && memcmp(t + i, "-----", 5) == 0)
            return 1;
        if ((trig & WR_TRIG_CCDIGITS) && i + 4 <= e && t[i] >= 'A' && t[i] <= 'Z' &&
            t[i + 1] >= 'A' && t[i + 1] <= 'Z' && t[i + 2] >= '0' && t[i + 2] <= '9' &&
            t[i + 3] >= '0' && t[i + 3] <= '9')
            return 1;
    }
    if (trig & WR_TRIG_TOKEN) {
        /* a run of >= 16 token bytes overlapping the match (it may extend past it) */
        for (size_t i = s; i < e; i++) {
            if (!is_tok((unsigned char)t[i]))
                continue;
            size_t b = i, k = i;
            while (b > 0 && is_tok((unsigned char)t[b - 1]))
                b--;
            while (k < len && is_tok((unsigned char)t[k]))
                k++;
            if (k - b >= 16)
                return 1;
            i = k;
        }
    }
    return 0;
}

/* Unescapes one corpus line and drops the {{detector| }} markers. */
static size_t corpus_text(const char *line, char *out)
{
    size_t o = 0;
    for (size_t i = 0; line[i] && line[i] != '\n'; i++) {
        if (line[i] == '{' && line[i + 1] == '{') {
            const char *bar = strchr(line + i, '|');
            i = (size_t)(bar - line);
        } else if (line[i] == '}' && line[i + 1] == '}') {
            i++;
        } else if (line[i] == '\\' && (line[i + 1] == 'n' || line[i + 1] == '\\')) {
            out[o++] = line[i + 1] == 'n' ? '\n' : '\\';
            i++;
        } else {
            out[o++] = line[i];
        }
    }
    out[o] = 0;
    return o;
}

static void test_trigger_contract(void **state)
{
    (void)state;
    const char *src = getenv("WEIR_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s%stests/data/corpus/detect.txt", src ? src : "",
             src ? "/" : "");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t nd = wr_builtin_detector_count;
    wr_detector *fast = calloc(nd, sizeof *fast), *slow = calloc(nd, sizeof *slow);
    assert_non_null(fast);
    assert_non_null(slow);
    for (size_t i = 0; i < nd; i++) {
        char msg[256];
        assert_int_equal(wr_detector_init_builtin(&fast[i], &wr_builtin_detectors[i], msg, sizeof msg), 0);
        assert_int_equal(wr_detector_init_builtin(&slow[i], &wr_builtin_detectors[i], msg, sizeof msg), 0);
        slow[i].triggers = WR_TRIG_ALWAYS; /* no prefilter: the whole text */
    }
    static char line[1 << 16], text[1 << 16];
    unsigned char *want = malloc(nd);
    assert_non_null(want);
    memset(want, 1, nd);
    long lines = 0, matches = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        size_t len = corpus_text(line, text);
        wr_match_list a = {0}, b = {0};
        assert_int_equal(wr_scan(&a, fast, want, nd, text, len, NULL, NULL), 0);
        assert_int_equal(wr_scan(&b, slow, want, nd, text, len, NULL, NULL), 0);
        if (a.n != b.n)
            fail_msg("prefiltered scan found %zu, whole-text scan %zu in: %s", a.n, b.n, text);
        for (size_t k = 0; k < a.n; k++) {
            const wr_match *m = &a.v[k];
            const wr_detector_def *d = &wr_builtin_detectors[m->detector];
            assert_int_equal(m->start, b.v[k].start);
            assert_int_equal(m->end, b.v[k].end);
            assert_int_equal(m->detector, b.v[k].detector);
            if (m->end - m->start > d->max_len)
                fail_msg("%s: match of %zu bytes > max_len %u", d->name, m->end - m->start,
                         d->max_len);
            if (!has_trigger(text, len, m->start, m->end, d->triggers))
                fail_msg("%s: match <%.*s> holds none of its triggers", d->name,
                         (int)(m->end - m->start), text + m->start);
        }
        matches += (long)a.n;
        lines++;
        wr_match_list_free(&a);
        wr_match_list_free(&b);
    }
    fclose(f);
    assert_true(lines > 200);
    assert_true(matches > 200);
    for (size_t i = 0; i < nd; i++) {
        wr_detector_release(&fast[i]);
        wr_detector_release(&slow[i]);
    }
    free(fast);
    free(slow);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_trigger_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
