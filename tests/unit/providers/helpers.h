/* Helpers shared by the provider codec tests. */
#ifndef WEIR_TEST_PROVIDERS_HELPERS_H
#define WEIR_TEST_PROVIDERS_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "providers/codec.h"

/* Reads tests/data/providers/NAME (under $WEIR_SOURCE_DIR); fails the test when missing. */
static inline char *read_data(const char *name, size_t *len)
{
    const char *root = getenv("WEIR_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/providers/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* Parses a generated body; fails the test when it is not a JSON object. New reference. */
static inline json_t *parse_json(const char *s, size_t n)
{
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        print_error("invalid JSON (%s): %.*s\n", je.text, (int)n, s);
    assert_non_null(v);
    assert_true(json_is_object(v));
    return v;
}

/* The string at a path like "error.innererror.code" or "choices.0.finish_reason", or NULL. */
static inline json_t *at(json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && v;
         tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)strtoul(tok, NULL, 10));
        else
            v = json_object_get(v, tok);
    }
    return v;
}

static inline const char *at_str(json_t *v, const char *path)
{
    return json_string_value(at(v, path));
}

#endif
