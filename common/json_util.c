/* json_util.c — see json_util.h. */
#include "json_util.h"

#include <stdio.h>
#include <string.h>

static json_t *lookup(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

int tg_json_get_string(const json_t *obj, const char *key, size_t max_len, const char **out)
{
    json_t *v = lookup(obj, key);
    if (!v)
        return TG_JSON_ABSENT;
    if (!json_is_string(v))
        return TG_JSON_WRONG_TYPE;
    if (json_string_length(v) > max_len)
        return TG_JSON_OUT_OF_RANGE;
    *out = json_string_value(v);
    return TG_JSON_FOUND;
}

int tg_json_get_bool(const json_t *obj, const char *key, int *out)
{
    json_t *v = lookup(obj, key);
    if (!v)
        return TG_JSON_ABSENT;
    if (!json_is_boolean(v))
        return TG_JSON_WRONG_TYPE;
    *out = json_is_true(v);
    return TG_JSON_FOUND;
}

int tg_json_get_int(const json_t *obj, const char *key, json_int_t min, json_int_t max, json_int_t *out)
{
    json_t *v = lookup(obj, key);
    if (!v)
        return TG_JSON_ABSENT;
    if (!json_is_integer(v))
        return TG_JSON_WRONG_TYPE;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return TG_JSON_OUT_OF_RANGE;
    *out = i;
    return TG_JSON_FOUND;
}

int tg_json_get_object(const json_t *obj, const char *key, json_t **out)
{
    json_t *v = lookup(obj, key);
    if (!v)
        return TG_JSON_ABSENT;
    if (!json_is_object(v))
        return TG_JSON_WRONG_TYPE;
    *out = v;
    return TG_JSON_FOUND;
}

int tg_json_get_array(const json_t *obj, const char *key, json_t **out)
{
    json_t *v = lookup(obj, key);
    if (!v)
        return TG_JSON_ABSENT;
    if (!json_is_array(v))
        return TG_JSON_WRONG_TYPE;
    *out = v;
    return TG_JSON_FOUND;
}

int tg_json_key_allowed(const char *key, const char *const *allowed)
{
    while (*allowed && strcmp(*allowed, key) != 0)
        allowed++;
    return *allowed != NULL;
}

const char *tg_json_unknown_key(const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!tg_json_key_allowed(key, allowed))
            return key;
    }
    return NULL;
}

const char *tg_json_type_name(const json_t *v)
{
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

void tg_json_errors_vappend(json_t *errors, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    if (json_array_size(errors) < TG_JSON_MAX_ERRORS)
        json_array_append_new(errors, json_string(text));
}

void tg_json_errors_append(json_t *errors, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_json_errors_vappend(errors, fmt, ap);
    va_end(ap);
}

void tg_json_errors_unknown_keys(json_t *errors, const json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!tg_json_key_allowed(key, allowed))
            tg_json_errors_append(errors, "%s.%s: unknown field", path, key);
    }
}
