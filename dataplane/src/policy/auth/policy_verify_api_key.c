/* policy_verify_api_key.c — the verifyApiKey policy (Apigee VerifyAPIKey): the request must carry an API key
 * that one of the proxy's selected key Secrets holds.
 *
 * Snapshot (docs/policy-auth.md):
 *   {"type":"verifyApiKey","keyFrom":["query:apikey","header:x-api-key"],
 *    "keys":[{"id":"ns/secret","app":"chat-client","sha256":"<64 hex>","expiresAtMs":0}]}
 * The snapshot carries SHA-256 digests only; the presented key is hashed, looked up by its digest and confirmed
 * with a constant-time comparison (digest_set.h), and the clear copy is wiped at once.
 *
 * Verdicts: no key at any location → 401 auth.missing_api_key; unknown or expired → 401 auth.invalid_api_key.
 * The credential kept by a WebSocket session: kind API_KEY, the digest, id = Secret namespace/name, subject =
 * app, expires_wall_ms = expiresAt (the session closes 1008 "token expired" then). After a snapshot swap the
 * session's key is revoked (1008 "token revoked") when its digest is gone (Secret deleted, key changed, label
 * no longer selected) or its expiresAt has passed. */
#include "policy/auth/auth_location.h"
#include "policy/auth/auth_redact.h"
#include "clock.h"
#include "policy/auth/digest_set.h"
#include "hex.h"
#include "policy/policy.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_KEYS 200000
#define MAX_KEY_BYTES 4096

struct api_key {
    char id[96];
    char app[96];
    uint64_t expires_wall_ms; /* 0 = never */
};

struct vak_state {
    struct tg_cred_location from[TG_CRED_MAX_LOCATIONS];
    size_t num_from;
    struct api_key *keys;
    size_t num_keys;
    struct tg_digest_set by_digest;
};

static void vak_free(void *p)
{
    struct vak_state *st = p;
    if (!st)
        return;
    tg_digest_set_free(&st->by_digest);
    free(st->keys);
    free(st);
}

static int copy_bounded(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static void *vak_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"keyFrom", "keys", NULL};
    struct vak_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st || tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    if (tg_cred_locations_compile(spec, "keyFrom", 0, st->from, &st->num_from, err, err_size) < 0)
        goto fail;
    size_t i;
    json_t *v;
    const json_t *keys = json_object_get(spec, "keys");
    if (!json_is_array(keys) || json_array_size(keys) > MAX_KEYS) {
        snprintf(err, err_size, "keys: must be an array of at most %d keys", MAX_KEYS);
        goto fail;
    }
    st->keys = calloc(json_array_size(keys) + 1, sizeof *st->keys);
    if (!st->keys || tg_digest_set_init(&st->by_digest, json_array_size(keys)) < 0) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    json_array_foreach(keys, i, v) {
        struct api_key *k = &st->keys[st->num_keys];
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *app = json_string_value(json_object_get(v, "app"));
        const char *hex = json_string_value(json_object_get(v, "sha256"));
        const json_t *exp = json_object_get(v, "expiresAtMs");
        if (!json_is_object(v) || json_object_size(v) != 4 || !id || !app || !hex || !json_is_integer(exp) ||
            json_integer_value(exp) < 0) {
            snprintf(err, err_size, "keys[%zu]: must be {\"id\",\"app\",\"sha256\",\"expiresAtMs\"}", i);
            goto fail;
        }
        uint8_t digest[TG_DIGEST_LEN];
        if (copy_bounded(k->id, sizeof k->id, id) < 0 || copy_bounded(k->app, sizeof k->app, app) < 0) {
            snprintf(err, err_size, "keys[%zu]: id and app must be shorter than 96 bytes", i);
            goto fail;
        }
        if (tg_hex_decode(hex, strlen(hex), digest, sizeof digest) < 0) {
            snprintf(err, err_size, "keys[%zu].sha256: must be 64 hex digits", i);
            goto fail;
        }
        k->expires_wall_ms = (uint64_t)json_integer_value(exp);
        int r = tg_digest_set_add(&st->by_digest, digest, k);
        if (r < 0) {
            snprintf(err, err_size, "keys: out of room");
            goto fail;
        }
        if (r == 1)
            st->num_keys++; /* a key held by two Secrets: the first (namespace/name order) names it */
    }
    return st;
fail:
    vak_free(st);
    *failed = 1;
    return NULL;
}

static void vak_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct vak_state *st = state;
    char value[MAX_KEY_BYTES + 1];
    if (tg_cred_locations_repeated(ctx->request, st->from, st->num_from)) { /* never check one, forward all */
        tg_policy_reject(ctx, 400, "auth.repeated_credential", "a credential location is repeated", NULL);
        return;
    }
    long n = 0;
    for (size_t i = 0; i < st->num_from && n == 0; i++)
        n = tg_cred_location_read(ctx->request, &st->from[i], value, sizeof value, NULL, 0);
    if (n == 0) {
        tg_policy_reject(ctx, 401, "auth.missing_api_key", "an API key is required", NULL);
        return;
    }
    uint8_t digest[TG_DIGEST_LEN];
    if (n > 0)
        tg_sha256(value, (size_t)n, digest);
    OPENSSL_cleanse(value, n > 0 ? (size_t)n + 1 : sizeof value); /* what was read (the whole buffer: 3k Ir) */
    const struct api_key *k = n > 0 ? tg_digest_set_get(&st->by_digest, digest) : NULL;
    if (!k) {
        tg_policy_reject(ctx, 401, "auth.invalid_api_key", "the API key is not valid", NULL);
        return;
    }
    if (k->expires_wall_ms && k->expires_wall_ms <= ctx->now_wall_ms) {
        tg_policy_reject(ctx, 401, "auth.invalid_api_key", "the API key has expired", NULL);
        return;
    }
    struct tg_credential cred;
    memset(&cred, 0, sizeof cred);
    cred.kind = TG_CRED_API_KEY;
    memcpy(cred.digest, digest, sizeof digest);
    memcpy(cred.id, k->id, sizeof cred.id);
    memcpy(cred.subject, k->app, sizeof cred.subject);
    cred.expires_wall_ms = k->expires_wall_ms;
    tg_policy_set_credential(ctx, &cred);
    tg_policy_continue(ctx);
}

static int vak_credential_revoked(void *new_state, const struct tg_credential *cred)
{
    const struct vak_state *st = new_state;
    if (cred->kind != TG_CRED_API_KEY)
        return 0;
    const struct api_key *k = tg_digest_set_get(&st->by_digest, cred->digest);
    if (!k)
        return 1;
    return k->expires_wall_ms && k->expires_wall_ms <= tg_wall_ms();
}

int tg_verify_api_key_reads(const void *state, int kind, const char *name, size_t len)
{
    const struct vak_state *st = state;
    for (size_t i = 0; st && i < st->num_from; i++) {
        const struct tg_cred_location *l = &st->from[i];
        if ((int)l->kind != kind || strlen(l->name) != len)
            continue;
        if (kind == TG_LOC_HEADER ? strncasecmp(l->name, name, len) == 0 : memcmp(l->name, name, len) == 0)
            return 1;
    }
    return 0;
}

const struct tg_policy_type tg_policy_verify_api_key = {
    .name = "verifyApiKey",
    .compile = vak_compile,
    .run = vak_run,
    .free_state = vak_free,
    .credential_revoked = vak_credential_revoked,
};
