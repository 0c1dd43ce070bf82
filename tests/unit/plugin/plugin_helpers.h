/* Shared by tests/unit/plugin/: where the test plugins (tests/plugin/tests.cmake) are. */
#ifndef TEST_PLUGIN_HELPERS_H
#define TEST_PLUGIN_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

/* ${WEIR_BINARY_DIR}/test-plugins/weir-<name>.so */
static inline const char *tp_path(char *buf, size_t size, const char *name)
{
    const char *bin = getenv("WEIR_BINARY_DIR");
    snprintf(buf, size, "%s/test-plugins/weir-%s.so", bin ? bin : "build", name);
    return buf;
}

static inline const char *tp_dir(char *buf, size_t size)
{
    const char *bin = getenv("WEIR_BINARY_DIR");
    snprintf(buf, size, "%s/test-plugins", bin ? bin : "build");
    return buf;
}

#endif
