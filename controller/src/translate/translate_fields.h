/* translate_fields.h — the helpers every translate_*.c file shares (internal to translation; tg__ prefix): the
 * translation context and the item being translated, problem reporting (a diag line plus the item's status),
 * the strict field readers (durations, string lists, unknown fields, spec, environments) and the age order
 * that settles conflicts. Only types from translation.h below it: translate.c (the driver) and the per-kind
 * files (translate_group/proxy/backend/policy*.c) all sit above this file and never call each other upward.
 */
#ifndef TG_TRANSLATE_FIELDS_H
#define TG_TRANSLATE_FIELDS_H

#include "translate/translation.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what one object may carry (hostile input). */
#define TG__MAX_LIST 1024          /* hostnames, environments, tls entries, policies per object */
#define TG__MAX_DURATION_MS (365ULL * 24 * 3600 * 1000)
#define TG__MAX_BYTES_LIMIT (1LL << 40)

struct tg__tr {
    struct tg_store *store;
    struct tg_translation *out;
    const struct tg_tls_defaults *tls_defaults; /* or NULL */
};

/* One EnvironmentGroup or ApiProxy being translated. */
struct tg__item {
    const struct tg_store_object *src;
    struct tg_object_status *st;
    int has_ts;          /* metadata.creationTimestamp present and valid */
    int64_t ts_sec;
    int32_t ts_nsec;
    int valid;           /* still to be emitted */
    json_t *out;         /* the group/proxy JSON being built (owned) */
    json_t *st_envs;     /* environments of an emitted item, kept after out is released */
};

/* Problem reporting: each adds a diag line and updates the item's status. path may be "" (no field).
 * invalid: Accepted=False/Invalid, the item is excluded (valid = 0); error.
 * conflict: Accepted=False/Conflicted (the caller decides about exclusion); error.
 * unresolved: ResolvedRefs=False/reason; the item stays; warning.
 * warning: a diagnostic only (the item stays, its conditions untouched). */
void tg__invalid(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tg__conflict(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tg__unresolved(struct tg__tr *tr, struct tg__item *it, const char *reason, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void tg__warning(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Orders items oldest first (see translate.h); used for conflict resolution. */
int tg__older_first(const void *a, const void *b);

/* Reads a duration field of obj (Go syntax, "300s") into *ms, default def when absent; reports and
 * returns -1 when invalid. */
int tg__duration_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                       const char *path, uint64_t def, int allow_zero, uint64_t *ms);
/* Reads a list of strings (≤ TG__MAX_LIST, each ≤ max_len) into a new JSON array (NULL after reporting). */
json_t *tg__string_list(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                        const char *path, size_t max_len);
/* Reports the first key of obj not in allowed; returns -1 when there was one. */
int tg__no_unknown_fields(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                          const char *const *allowed);
/* 1 when the JSON array of strings arr holds s. */
int tg__list_has(const json_t *arr, const char *s);
/* The item's spec mapping with no key outside allowed; NULL after reporting. */
json_t *tg__item_spec(struct tg__tr *tr, struct tg__item *it, const char *const *allowed);
/* spec.environments of a group or proxy: RFC 1123 labels, de-duplicated, at least one. NULL after reporting
 * when it is not a list of short strings; otherwise a new list — after reporting a name that is not a label
 * (the list stops there) or an empty list, the item is invalid. */
json_t *tg__environments(struct tg__tr *tr, struct tg__item *it, const json_t *spec);
/* The items still to be emitted (valid, with out), oldest first (tg__older_first), in a new array of *m
 * pointers (free it). */
struct tg__item **tg__emitted_oldest_first(struct tg__item *items, size_t n, size_t *m);

/* 1 when the two JSON string arrays have an element in common. */
int tg__shares_environment(const json_t *a, const json_t *b);

#endif
