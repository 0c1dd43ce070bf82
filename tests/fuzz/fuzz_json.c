/*
 * fuzz_json.c - bytes -> wr_json_fast_parse, checked against jansson's json_loadb.
 *
 * Whenever the input nests no deeper than the limit (wr_json_depth_ok), both parsers must
 * agree on accept/reject, and accepted trees must be json_equal and dump to the same bytes.
 * Deeper input must be refused. A refusal must leave no tree and say where and why.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "internal.h"

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define DUMP (JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENCODE_ANY)
#define DEPTH 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    json_t *mine = (json_t *)data;
    char msg[160] = "";
    int line = 0, col = 0;
    int rc = wr_json_fast_parse(&mine, s, size, DEPTH, &line, &col, msg, sizeof msg);
    if (rc != 0 && (mine || !msg[0] || line < 1 || col < 1))
        abort();
    if (rc != 0 && rc != WEIR_EINVAL && rc != WEIR_ELIMIT)
        abort();
    if (!wr_json_depth_ok(s, size, DEPTH)) {
        if (rc == 0)
            abort();
        return 0;
    }
    if (rc == WEIR_ELIMIT)
        abort();
    json_t *ref = json_loadb(size ? s : "", size, FLAGS, NULL);
    if (!ref != !mine)
        abort();
    if (ref) {
        if (!json_equal(ref, mine))
            abort();
        char *a = json_dumps(ref, DUMP), *b = json_dumps(mine, DUMP);
        if (!a || !b || strcmp(a, b))
            abort();
        free(a);
        free(b);
        json_decref(ref);
        json_decref(mine);
    }
    return 0;
}
