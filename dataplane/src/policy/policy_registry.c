/* policy_registry.c — the table of policy types the data plane knows. Each policy lives in policy_<name>.c
 * and adds one line here. (The policies themselves arrive with issue 5; an unknown type makes a snapshot
 * invalid, so the controller never gets a silently ignored policy.) */
#include "policy/policy.h"

#include <string.h>

extern const struct tg_policy_type tg_policy_verify_api_key; /* policy_verify_api_key.c */
extern const struct tg_policy_type tg_policy_oauth_v2;       /* policy_oauth_v2.c */
extern const struct tg_policy_type tg_policy_quota;           /* policy_quota.c */
extern const struct tg_policy_type tg_policy_spike_arrest;    /* policy_spike_arrest.c */
extern const struct tg_policy_type tg_policy_cors;            /* policy_cors.c */
extern const struct tg_policy_type tg_policy_access_control;  /* policy_access_control.c */
extern const struct tg_policy_type tg_policy_assign_message;  /* policy_assign_message.c */

static const struct tg_policy_type *const policy_types[] = {
    &tg_policy_verify_api_key,
    &tg_policy_oauth_v2,
    &tg_policy_quota,
    &tg_policy_spike_arrest,
    &tg_policy_cors,
    &tg_policy_access_control,
    &tg_policy_assign_message,
    NULL,
};

const struct tg_policy_type *tg_policy_type_find(const char *name)
{
    for (size_t i = 0; policy_types[i]; i++)
        if (strcmp(policy_types[i]->name, name) == 0)
            return policy_types[i];
    return NULL;
}
