/* helpers.h - shared by the detector tests: run one builtin, compare what it found. */
#ifndef WEIR_TEST_DETECTOR_HELPERS_H
#define WEIR_TEST_DETECTOR_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/scan.h"

/*
 * Runs detector `name` over `text` and checks it found exactly the substrings given
 * (NULL-terminated list, in order). Fails the test with a readable message otherwise.
 */
static inline void det_found(const char *name, const char *text, ...)
{
    wr_match *m = NULL;
    long n = wr_detect_builtin(name, text, strlen(text), &m);
    if (n < 0)
        fail_msg("%s: wr_detect_builtin failed on \"%s\"", name, text);
    va_list ap;
    va_start(ap, text);
    long i = 0;
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *), i++) {
        if (i >= n)
            fail_msg("%s: \"%s\": expected <%s>, found only %ld match(es)", name, text, want, n);
        size_t len = m[i].end - m[i].start;
        if (len != strlen(want) || memcmp(text + m[i].start, want, len) != 0)
            fail_msg("%s: \"%s\": match %ld is <%.*s>, expected <%s>", name, text, i, (int)len,
                     text + m[i].start, want);
    }
    va_end(ap);
    if (i != n)
        fail_msg("%s: \"%s\": %ld unexpected extra match(es), first <%.*s>", name, text, n - i,
                 (int)(m[i].end - m[i].start), text + m[i].start);
    free(m);
}

/* The detector finds nothing in text. */
static inline void det_none(const char *name, const char *text)
{
    det_found(name, text, (const char *)NULL);
}

/* The detector finds exactly `value` when it stands alone and inside a sentence. */
static inline void det_value(const char *name, const char *value)
{
    char buf[1024] = {0}; /* zeroed: PCRE2 JIT reads whole vectors past the end */
    det_found(name, value, value, (const char *)NULL);
    snprintf(buf, sizeof buf, "value: %s, next.", value);
    det_found(name, buf, value, (const char *)NULL);
}

#endif
