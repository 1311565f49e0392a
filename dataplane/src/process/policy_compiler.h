/* policy_compiler.h — the table the process hands to tg_snapshot_build (config/snapshot.h) so that the
 * configuration layer can compile each proxy's "policies" list without knowing the policy layer: every entry
 * is looked up in the policy registry (policy/policy.h) and compiled by its type. */
#ifndef TG_POLICY_COMPILER_H
#define TG_POLICY_COMPILER_H

#include "config/snapshot.h"

extern const struct tg_policy_compiler tg_registered_policies;

#endif
