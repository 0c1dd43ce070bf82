/* Helpers shared by the engine tests. */
#ifndef WEIR_TEST_ENGINE_HELPERS_H
#define WEIR_TEST_ENGINE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weir/weir.h"

/* Loads a policy from YAML text; fails the test with the loader's message otherwise. */
static inline weir_policy *load(const char *yaml)
{
    weir_policy *p = NULL;
    weir_error err = {0};
    int rc = weir_policy_load_buffer(&p, yaml, strlen(yaml), "test.yaml", &err);
    if (rc) {
        char buf[512];
        print_error("policy failed to load: %s\n", weir_error_format(&err, buf, sizeof buf));
    }
    assert_int_equal(rc, 0);
    return p;
}

#endif
