/* fuzz_yaml_json.c — the controller's YAML → JSON conversion (common/yaml_json.c) on arbitrary bytes with small
 * limits: a result or an error with a message, never a crash, a leak or unbounded work (aliases, depth). */
#include "yaml_json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct tg_yaml_limits limits = {.max_bytes = 1 << 16, .max_documents = 64, .max_depth = 32,
                                                 .max_nodes = 20000};
    struct tg_yaml_error err;
    json_t *docs = tg_yaml_to_json((const char *)data, size, &limits, &err);
    if (docs) {
        if (!json_is_array(docs) || json_array_size(docs) > limits.max_documents)
            __builtin_trap();
        json_decref(docs);
    } else if (err.message[0] == '\0') {
        __builtin_trap(); /* every refusal names a reason */
    }
    return 0;
}
