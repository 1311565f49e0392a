/* json_util.h — strict, typed reads of jansson objects for code that consumes hostile JSON (manifests in the
 * controller, snapshots in the data plane). Each getter distinguishes "absent" from "present but wrong", so
 * callers can apply defaults and still report a precise error.
 *
 * Absent means: obj is not an object, the key is missing, or its value is JSON null (Kubernetes treats
 * `field: null` as unset). Integers must be JSON integers (1.0 is not an integer).
 */
#ifndef TG_JSON_UTIL_H
#define TG_JSON_UTIL_H

#include <jansson.h>
#include <stdarg.h>

enum tg_json_result {
    TG_JSON_ABSENT = 0,        /* *out untouched: apply the default */
    TG_JSON_FOUND = 1,         /* *out set */
    TG_JSON_WRONG_TYPE = -1,   /* present, other JSON type */
    TG_JSON_OUT_OF_RANGE = -2, /* integers: outside [min, max]; strings: longer than max_len */
};

int tg_json_get_string(const json_t *obj, const char *key, size_t max_len, const char **out);
int tg_json_get_bool(const json_t *obj, const char *key, int *out);
int tg_json_get_int(const json_t *obj, const char *key, json_int_t min, json_int_t max, json_int_t *out);
int tg_json_get_object(const json_t *obj, const char *key, json_t **out);
int tg_json_get_array(const json_t *obj, const char *key, json_t **out);

/* Non-zero when key is in the NULL-terminated list allowed. */
int tg_json_key_allowed(const char *key, const char *const *allowed);
/* The first key of obj (in iteration order) that is not in the NULL-terminated list allowed, or NULL. */
const char *tg_json_unknown_key(const json_t *obj, const char *const *allowed);

/* "string", "integer", "real", "boolean", "null", "array", "object" — for error messages. */
const char *tg_json_type_name(const json_t *v);

/* Appends the formatted message (cut at 511 bytes) to the JSON array errors, unless it already holds
 * TG_JSON_MAX_ERRORS: a hostile document cannot make the list of its own errors unbounded. */
#define TG_JSON_MAX_ERRORS 200
void tg_json_errors_vappend(json_t *errors, const char *fmt, va_list ap);
void tg_json_errors_append(json_t *errors, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "PATH.KEY: unknown field" to errors for every key of obj not in the NULL-terminated list allowed. */
void tg_json_errors_unknown_keys(json_t *errors, const json_t *obj, const char *path, const char *const *allowed);

#endif
