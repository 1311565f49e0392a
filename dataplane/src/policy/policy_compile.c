/* policy_compile.c — what the policies' compile() functions share (policy.h): their zeroed state allocated, the
 * fields of a policy object checked against the known ones, and optional bounded array fields read, each with
 * the reason text that ends up in the snapshot's errors ("<field>: ..."). */
#include "policy/policy.h"

#include "json_util.h"

#include <stdio.h>
#include <stdlib.h>

void *tg_policy_state_new(size_t size, char *err, size_t err_size)
{
    void *st = calloc(1, size);
    if (!st)
        snprintf(err, err_size, "out of memory");
    return st;
}

int tg_policy_only_fields(const json_t *obj, const char *const *allowed, const char *where, char *err,
                          size_t err_size)
{
    const char *key = tg_json_unknown_key(obj, allowed);
    if (!key)
        return 0;
    snprintf(err, err_size, "%s%.64s: unknown field", where, key);
    return -1;
}

int tg_policy_array_field(const json_t *obj, const char *where, const char *name, size_t max, const char *noun,
                          const json_t **out, char *err, size_t err_size)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > max) {
        snprintf(err, err_size, "%s%s: must be an array of at most %zu %s", where, name, max, noun);
        return -1;
    }
    *out = v;
    return 0;
}
