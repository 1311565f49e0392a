/* translate_policy.h — one ApiProxy policy item (spec.policies[i].NAME: settings) → its snapshot object
 * {"type": NAME, ...}. translate_policy.c owns the dispatch table; each policy family owns its translate
 * functions (translate_policy_auth.c: verifyApiKey, oauthV2; the traffic policies in their own file) and adds
 * one line to the table. Translation stays pure: functions read the settings and the store only.
 *
 * Contract of a translate function:
 *   - settings is the policy's mapping (never NULL: a null/absent value arrives as an empty object);
 *   - path is the field path of the settings ("spec.policies[2].oauthV2") for error messages;
 *   - it validates every field; a problem is reported with tg__policy_invalid (Accepted=False, reason
 *     InvalidPolicy; the proxy is left out) and the function returns NULL;
 *   - a missing Secret/ConfigMap is reported with tg__unresolved(…, TG_REASON_SECRET_NOT_FOUND, …); the policy
 *     is still emitted, failing closed (e.g. an empty key set: every request is refused);
 *   - it returns a new JSON object whose first key is "type"; credentials never leave the controller in the
 *     clear when a digest suffices (API keys travel as SHA-256 digests).
 */
#ifndef TG_TRANSLATE_POLICY_H
#define TG_TRANSLATE_POLICY_H

#include "translate/translate_fields.h"

#include <jansson.h>


typedef json_t *(*tg__policy_translate_fn)(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                           const char *path);

/* Translates one policy. name is the policy's key in the list item. Returns the snapshot object, or NULL after
 * reporting (then it->valid is 0). A name without a translate function is an invalid policy (InvalidPolicy):
 * the data plane would refuse the whole snapshot for a type it does not know. */
json_t *tg__translate_policy(struct tg__tr *tr, struct tg__item *it, const char *name, const json_t *settings,
                             const char *path);

/* tg__invalid with the InvalidPolicy reason. */
void tg__policy_invalid(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* tg__no_unknown_fields with the InvalidPolicy reason: 0, or -1 after reporting. */
int tg__policy_fields(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                      const char *const *allowed);
/* A nested settings mapping (oauthV2 jwt, quota distributed, ...): reports "must be a mapping" or an unknown
 * field (InvalidPolicy) and returns -1; else 0. */
int tg__policy_mapping(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                       const char *const *allowed);

/* translate_policy_auth.c */
json_t *tg__translate_verify_api_key(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                     const char *path);
json_t *tg__translate_oauth_v2(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path);

/* translate_policy_traffic.c */
json_t *tg__translate_quota(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path);
json_t *tg__translate_spike_arrest(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                   const char *path);
json_t *tg__translate_cors(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path);
json_t *tg__translate_access_control(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                     const char *path);
json_t *tg__translate_assign_message(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                     const char *path);

#endif
