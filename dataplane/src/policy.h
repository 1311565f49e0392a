/* policy.h — the interface every API-gateway policy implements, and the registry of policy types.
 *
 * A snapshot compiles each proxy's ordered `policies` list once (compile → per-policy state, immutable and
 * shared by all workers). On every request (plain HTTP and the WebSocket upgrade) the pipeline runs them in
 * order: each run() ends by calling tg_policy_done() — at once, or later from the same worker's loop for
 * asynchronous policies (introspection, Redis) — with TG_POLICY_CONTINUE or a rejection (status + error code +
 * message, sent as the JSON error body of DESIGN.md; nothing reaches the backend).
 */
#ifndef TG_POLICY_H
#define TG_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tg_policy_ctx;

enum tg_policy_verdict { TG_POLICY_CONTINUE = 0, TG_POLICY_REJECT = 1 };

struct tg_policy_type {
    const char *name; /* the key in the snapshot: "verifyApiKey", "quota", ... */
    /* Validates and compiles spec (the policy object without "type"). Returns state (may be NULL for
     * stateless policies) or sets err and returns NULL with *failed = 1. */
    void *(*compile)(const json_t *spec, char *err, size_t err_size, int *failed);
    void (*run)(struct tg_policy_ctx *ctx, void *state);
    void (*free_state)(void *state);
};

/* The registered policy types; NULL when name is unknown. */
const struct tg_policy_type *tg_policy_type_find(const char *name);

struct tg_compiled_policy {
    const struct tg_policy_type *type;
    void *state;
};

#endif
