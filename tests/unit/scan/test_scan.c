/*
 * The prefilter must never lose a match: for every builtin detector, scanning only the
 * windows around its triggers finds exactly what scanning the whole text finds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/scan.h"

static const char *const samples[] = {
    "jane.doe@example.com", "+1 (415) 555-0132", "4111 1111 1111 1111", "4111111111111111",
    "078-05-1120", "123-45-6789", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
    "192.0.2.44", "2001:db8::8a2e:370:7334", "00:1A:2B:3C:4D:5E", "https://example.com/a?b=c",
    "www.example.org", "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "born on 12/03/1985", "routing number 021000021",
    "1.2.3.4.5", "v10.4.2", "order 12345678901", "550e8400-e29b-41d4-a716-446655440000",
    "2024-03-05T10:11:12Z", "1700000000", "ABC-123-4567-X", "----", "-----", ":::", "@@",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "Mr. John Smith", "my name is Alice Walker", "1600 Pennsylvania Avenue NW, Washington, DC 20500",
    "1HGCM82633A004352", "SSN: 123 45 6789", "946-79-4521", "GB29 NWBK 6016 1331 9268 19",
};

static const char *const noise[] = {" ", "  ", "\n", ", ", ". ", "the quick brown fox ", "; ",
                                    "-", "/", "=", "_", "x", "9", ":", "@", "www", "é ", "\t"};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void build_text(wr_buf *b)
{
    b->len = 0;
    size_t parts = 1 + next_rand() % 40;
    for (size_t i = 0; i < parts; i++) {
        if (next_rand() % 3 == 0)
            wr_buf_puts(b, samples[next_rand() % (sizeof samples / sizeof samples[0])]);
        else
            wr_buf_puts(b, noise[next_rand() % (sizeof noise / sizeof noise[0])]);
        /* pad to shift content across 64-byte block boundaries; usually a separator */
        size_t pad = next_rand() % 70;
        wr_buf_puts(b, next_rand() % 4 ? " " : "");
        for (size_t k = 0; k < pad && next_rand() % 4; k++)
            wr_buf_append(b, "lorem ipsum dolor " + (k % 18), 1);
        wr_buf_puts(b, next_rand() % 4 ? " " : "");
    }
}

static void test_windows_equal_full_scan(void **state)
{
    (void)state;
    wr_buf text;
    wr_buf_init(&text);
    size_t total_matches = 0;
    for (size_t di = 0; di < wr_builtin_detector_count; di++) {
        const wr_detector_def *def = &wr_builtin_detectors[di];
        if (def->triggers & WR_TRIG_ALWAYS)
            continue;
        wr_detector d[2];
        char msg[256];
        assert_int_equal(wr_detector_init_builtin(&d[0], def, msg, sizeof msg), 0);
        assert_int_equal(wr_detector_init_builtin(&d[1], def, msg, sizeof msg), 0);
        d[1].triggers = WR_TRIG_ALWAYS; /* the reference: the whole text */
        for (int iter = 0; iter < 400; iter++) {
            build_text(&text);
            wr_match_list a = {0}, b = {0};
            unsigned char want_a[2] = {1, 0}, want_b[2] = {0, 1};
            assert_int_equal(wr_scan(&a, d, want_a, 2, text.data, text.len, NULL, NULL), 0);
            assert_int_equal(wr_scan(&b, d, want_b, 2, text.data, text.len, NULL, NULL), 0);
            if (a.n != b.n)
                fail_msg("%s: prefiltered scan found %zu matches, full scan %zu, in: %s",
                         def->name, a.n, b.n, text.data);
            for (size_t k = 0; k < a.n; k++) {
                if (a.v[k].start != b.v[k].start || a.v[k].end != b.v[k].end)
                    fail_msg("%s: match %zu differs (%zu-%zu vs %zu-%zu) in: %s", def->name, k,
                             a.v[k].start, a.v[k].end, b.v[k].start, b.v[k].end, text.data);
            }
            total_matches += a.n;
            wr_match_list_free(&a);
            wr_match_list_free(&b);
        }
        wr_detector_release(&d[0]);
        wr_detector_release(&d[1]);
    }
    print_message("%zu matches compared\n", total_matches);
    assert_true(total_matches > 1000); /* the generator does produce PII */
    wr_buf_free(&text);
}

/* Token runs and digit runs that straddle 64-byte blocks are still found. */
static void test_runs_across_blocks(void **state)
{
    (void)state;
    const wr_detector_def *def = wr_builtin_find("aws_access_key_id");
    assert_non_null(def);
    wr_detector d;
    char msg[256];
    assert_int_equal(wr_detector_init_builtin(&d, def, msg, sizeof msg), 0);
    for (size_t off = 0; off < 140; off++) {
        char buf[256];
        memset(buf, ' ', sizeof buf);
        memcpy(buf + off, "AKIAIOSFODNN7EXAMPLE", 20);
        wr_match_list l = {0};
        unsigned char want = 1;
        assert_int_equal(wr_scan(&l, &d, &want, 1, buf, 200, NULL, NULL), 0);
        if (l.n != 1 || l.v[0].start != off)
            fail_msg("key at offset %zu: %zu matches", off, l.n);
        wr_match_list_free(&l);
    }
    wr_detector_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_equal_full_scan),
        cmocka_unit_test(test_runs_across_blocks),
    };
    return cmocka_run_group_tests_name("scan", tests, NULL, NULL);
}
