/* policy_compiler.c — see policy_compiler.h: a proxy's policy list, entry by entry, through the registry of
 * policy types; each failure is reported with its place ("proxies[0].policies[1] (quota): limit: ..."). */
#include "process/policy_compiler.h"

#include "policy/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void report_fmt(void (*report)(void *, const char *), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report_fmt(void (*report)(void *, const char *), void *arg, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    report(arg, text);
}

static void free_list(struct tg_compiled_policy *list, size_t count)
{
    for (size_t p = 0; list && p < count; p++)
        if (list[p].type->free_state)
            list[p].type->free_state(list[p].state);
    free(list);
}

static struct tg_compiled_policy *compile_list(const json_t *list, const char *path, size_t *count,
                                               void (*report)(void *, const char *), void *report_arg)
{
    *count = 0;
    if (!json_is_array(list)) {
        report_fmt(report, report_arg, "%s: must be an array", path);
        return NULL;
    }
    size_t n = json_array_size(list);
    struct tg_compiled_policy *out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        const json_t *item = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(item, "type"));
        if (!json_is_object(item) || !type) {
            report_fmt(report, report_arg, "%s[%zu].type: required string", path, i);
            continue;
        }
        const struct tg_policy_type *pt = tg_policy_type_find(type);
        if (!pt) {
            report_fmt(report, report_arg, "%s[%zu].type: unknown policy \"%.64s\"", path, i, type);
            continue;
        }
        json_t *spec = json_deep_copy(item);
        json_object_del(spec, "type");
        char err[256] = "";
        int failed = 0;
        void *state = pt->compile(spec, err, sizeof err, &failed);
        json_decref(spec);
        if (failed) {
            report_fmt(report, report_arg, "%s[%zu] (%s): %s", path, i, type, err);
            continue;
        }
        out[*count].type = pt;
        out[*count].state = state;
        (*count)++;
    }
    return out;
}

const struct tg_policy_compiler tg_registered_policies = {
    .compile = compile_list,
    .free = free_list,
};
