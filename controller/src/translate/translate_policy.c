/* translate_policy.c — the policy dispatch table: spec.policies[i] NAME → the function that validates its
 * settings, resolves its references from the store and emits the snapshot object (see translate_policy.h).
 * Each policy family adds one line to the table. */
#include "translate/translate_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    tg__policy_translate_fn fn;
} policy_table[] = {
    {"verifyApiKey", tg__translate_verify_api_key},
    {"oauthV2", tg__translate_oauth_v2},
    {"quota", tg__translate_quota},
    {"spikeArrest", tg__translate_spike_arrest},
    {"cors", tg__translate_cors},
    {"accessControl", tg__translate_access_control},
    {"assignMessage", tg__translate_assign_message},
    {NULL, NULL},
};

void tg__policy_invalid(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
{
    char reason[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    tg__invalid(tr, it, path, "%s", reason);
    it->st->accepted.reason = TG_REASON_INVALID_POLICY;
}

int tg__policy_fields(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                      const char *const *allowed)
{
    if (tg__no_unknown_fields(tr, it, obj, path, allowed) < 0) {
        it->st->accepted.reason = TG_REASON_INVALID_POLICY;
        return -1;
    }
    return 0;
}

int tg__policy_mapping(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                       const char *const *allowed)
{
    if (!json_is_object(obj)) {
        tg__policy_invalid(tr, it, path, "must be a mapping");
        return -1;
    }
    return tg__policy_fields(tr, it, obj, path, allowed);
}

json_t *tg__translate_policy(struct tg__tr *tr, struct tg__item *it, const char *name, const json_t *settings,
                             const char *path)
{
    json_t *empty = NULL;
    if (!json_is_object(settings))
        settings = empty = json_object();
    json_t *out = NULL;
    size_t i = 0;
    while (policy_table[i].name && strcmp(policy_table[i].name, name) != 0)
        i++;
    if (policy_table[i].fn) {
        out = policy_table[i].fn(tr, it, settings, path);
        if (!out && it->valid) /* a translate function must report why it emitted nothing */
            tg__policy_invalid(tr, it, path, "could not be translated");
    } else {
        /* the data plane refuses a snapshot with a type it does not know: one bad manifest must not block all */
        tg__policy_invalid(tr, it, path, "unknown policy (verifyApiKey, oauthV2, quota, spikeArrest, cors, "
                                         "accessControl, assignMessage)");
    }
    json_decref(empty);
    if (!out && it->valid)
        tg__invalid(tr, it, path, "could not be built (out of memory)");
    return out;
}
