/* fuzz_dp_snapshot.c — the data plane's snapshot validation (snapshot.c) on arbitrary JSON: it must either build
 * a snapshot or report errors, never crash, leak or read out of bounds; a built snapshot must route any
 * host/path taken from the input without fault. */
#include "config/router.h"
#include "process/policy_compiler.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return 0;
    json_t *errors = json_array();
    struct tg_snapshot *s = tg_snapshot_build(doc, &tg_registered_policies, errors);
    if (s) {
        if (json_array_size(errors) != 0)
            __builtin_trap(); /* a snapshot is built only without errors */
        /* route with slices of the input as host and path */
        size_t half = size / 2;
        tg_snapshot_route(s, (const char *)data, half, (const char *)data + half, size - half);
        tg_snapshot_route(s, "a.example.com", 13, "/", 1);
        for (size_t i = 0; i < s->num_proxies; i++) {
            char out[512];
            tg_route_rewrite_path(&s->proxies[i], (const char *)data, size < 400 ? size : 400, out, sizeof out);
        }
        tg_snapshot_unref(s);
    } else if (json_array_size(errors) == 0) {
        __builtin_trap(); /* a refusal always says why */
    }
    json_decref(errors);
    json_decref(doc);
    return 0;
}
