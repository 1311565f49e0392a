/* policy_oauth_v2.c — the oauthV2 policy (Apigee OAuthV2 VerifyAccessToken): the request must carry a bearer
 * token that is a valid JWT (jwt.h, keys from the snapshot's JWKS or fetched from jwksUrl by the worker,
 * jwks_fetch.h) or an active opaque token (RFC 7662 introspection, introspection.h); revoked tokens (by jti, or
 * "sha256:<hex>" of the token) are refused; requiredScopes must all be granted.
 *
 * Snapshot (docs/policy-auth.md):
 *   {"type":"oauthV2","tokenFrom":["header:authorization","query:access_token","subprotocol:bearer"],
 *    "jwt":{"issuer":"…","audiences":["…"],"algorithms":["RS256","ES256"],"jwks":{"keys":[…]}}   (or "jwksUrl")
 *    "introspection":{"url":"…","clientId":"…","clientSecret":"…","recheckIntervalMs":30000},
 *    "requiredScopes":["chat:connect"],"revoked":["jti-1","sha256:<64 hex>"]}
 * "jwt" and "introspection" may each be null; at least one is set. With both, a token shaped like a JWS goes to
 * local verification and any other token to introspection.
 *
 * Verdicts (RFC 6750 §3): no token → 401 auth.missing_token, WWW-Authenticate: Bearer realm="tollgate";
 * unusable/invalid → 401 auth.invalid_token, expired → 401 auth.token_expired, revoked → 401 auth.token_revoked
 * (each with error="invalid_token"); missing scope → 403 auth.insufficient_scope (error="insufficient_scope");
 * JWKS or introspection endpoint unreachable → 503 auth.jwks_unavailable / auth.introspection_unavailable.
 *
 * A WebSocket session keeps the credential: kind JWT or OPAQUE_TOKEN, the token's SHA-256, its jti (ids longer
 * than 95 bytes are kept as "#" + SHA-256 hex), the subject, exp (the session closes 1008 "token expired"),
 * and for introspected tokens the recheck interval (recheck() asks again; inactive → 1008 "token revoked").
 * The clear token lives on the stack of run() (wiped before it returns), in a pending request's copy (wiped when
 * it ends), and for introspected sessions in the worker's pinned cache entry (introspection.h). */
#include "policy/auth/auth_location.h"
#include "policy/auth/auth_redact.h"
#include "clock.h"
#include "policy/auth/digest_set.h"
#include "hex.h"
#include "policy/auth/introspection.h"
#include "policy/auth/jwks_fetch.h"
#include "policy/auth/jwt.h"
#include "log.h"
#include "policy/policy.h"
#include "strmap.h"
#include "loop/worker.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKEN_BYTES TG_JWT_MAX_BYTES
#define MAX_AUDIENCES 16
#define MAX_SCOPES 32
#define MAX_REVOKED 100000
#define CLOCK_SKEW_MS 60000

#define WWW_MISSING "WWW-Authenticate: Bearer realm=\"tollgate\"\r\n"

struct oauth_state {
    struct tg_cred_location from[TG_CRED_MAX_LOCATIONS];
    size_t num_from;
    /* jwt */
    int has_jwt;
    struct tg_jwt_rules rules;
    char *issuer;
    char *audiences[MAX_AUDIENCES];
    struct tg_jwks keys; /* from the snapshot */
    char *jwks_url;      /* or fetched */
    /* introspection */
    int has_introspection;
    struct tg_introspection_cfg intro;
    /* scopes and revocations */
    char *scopes[MAX_SCOPES];
    size_t num_scopes;
    char insufficient_header[512];
    struct tg_strmap revoked_ids;     /* normalized jti → (void *)1; keys point into revoked_store */
    char **revoked_store;
    size_t num_revoked_store;
    struct tg_digest_set revoked_digests;
};

/* One verification that had to wait (for JWKS keys or an introspection answer). */
struct pending {
    struct tg_policy_ctx *ctx;
    const struct oauth_state *st;
    uint8_t digest[32];
    char *token; /* JWKS waits only: the token to verify once the keys are there (wiped) */
    size_t len;
    int refreshed;
    struct tg_jwks_wait *jw;
    struct tg_introspect_wait *iw;
};

/* ---- compile ---------------------------------------------------------------------------------------- */

static void oauth_free(void *p)
{
    struct oauth_state *st = p;
    if (!st)
        return;
    free(st->issuer);
    for (size_t i = 0; i < MAX_AUDIENCES; i++)
        free(st->audiences[i]);
    tg_jwks_free(&st->keys);
    free(st->jwks_url);
    if (st->has_introspection)
        tg_introspection_cfg_free(&st->intro);
    for (size_t i = 0; i < st->num_scopes; i++)
        free(st->scopes[i]);
    tg_strmap_free(&st->revoked_ids);
    for (size_t i = 0; i < st->num_revoked_store; i++)
        free(st->revoked_store[i]);
    free(st->revoked_store);
    tg_digest_set_free(&st->revoked_digests);
    free(st);
}

/* A jti as a session credential keeps it: itself when it fits id[96], else "#" + SHA-256 hex. */
static void normalize_id(const char *jti, size_t len, char out[96])
{
    if (len < 96) {
        memcpy(out, jti, len);
        out[len] = '\0';
        return;
    }
    uint8_t d[32];
    tg_sha256(jti, len, d);
    out[0] = '#';
    tg_hex_encode(d, 32, out + 1);
}

static void on_jwks_skip(void *arg, size_t index, const char *why)
{
    tg_warn("oauthV2: jwt.jwks key %zu is not used: %s", index, why);
}

static int compile_jwt(struct oauth_state *st, const json_t *jwt, char *err, size_t err_size)
{
    static const char *const fields[] = {"issuer", "audiences", "algorithms", "jwks", "jwksUrl", NULL};
    if (!json_is_object(jwt) || tg_policy_only_fields(jwt, fields, "jwt.", err, err_size) < 0) {
        if (!json_is_object(jwt))
            snprintf(err, err_size, "jwt: must be an object or null");
        return -1;
    }
    const char *iss = json_string_value(json_object_get(jwt, "issuer"));
    if (!iss || !*iss || strlen(iss) > 1024 || !(st->issuer = strdup(iss))) {
        snprintf(err, err_size, "jwt.issuer: required string of 1 to 1024 bytes");
        return -1;
    }
    const json_t *aud;
    if (tg_policy_array_field(jwt, "jwt.", "audiences", MAX_AUDIENCES, "strings", &aud, err, err_size) < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) {
        if (!json_is_string(v) || !(st->audiences[i] = strdup(json_string_value(v)))) {
            snprintf(err, err_size, "jwt.audiences[%zu]: must be a string", i);
            return -1;
        }
    }
    const json_t *algs = json_object_get(jwt, "algorithms");
    if (!json_is_array(algs) || json_array_size(algs) == 0 || json_array_size(algs) > 10) {
        snprintf(err, err_size, "jwt.algorithms: must be an array of 1 to 10 algorithm names");
        return -1;
    }
    json_array_foreach(algs, i, v) {
        unsigned a = tg_jws_alg_from_name(json_string_value(v));
        if (!a) {
            snprintf(err, err_size, "jwt.algorithms[%zu]: not an accepted algorithm (none and HS* never are)", i);
            return -1;
        }
        st->rules.algs |= a;
    }
    st->rules.issuer = st->issuer;
    st->rules.audiences = (const char *const *)st->audiences;
    st->rules.num_audiences = json_array_size(aud);
    st->rules.skew_ms = CLOCK_SKEW_MS;
    const json_t *jwks = json_object_get(jwt, "jwks"), *url = json_object_get(jwt, "jwksUrl");
    if (!!jwks == !!url) {
        snprintf(err, err_size, "jwt: exactly one of jwks and jwksUrl is required");
        return -1;
    }
    if (url) {
        const char *u = json_string_value(url);
        if (!u || strlen(u) > 2048 || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0) ||
            !(st->jwks_url = strdup(u))) {
            snprintf(err, err_size, "jwt.jwksUrl: must be an http(s) URL of at most 2048 bytes");
            return -1;
        }
    } else if (tg_jwks_parse(jwks, &st->keys, NULL, on_jwks_skip, NULL, err, err_size) < 0) {
        return -1;
    }
    st->has_jwt = 1;
    return 0;
}

static int compile_introspection(struct oauth_state *st, const json_t *in, char *err, size_t err_size)
{
    static const char *const fields[] = {"url", "clientId", "clientSecret", "recheckIntervalMs", NULL};
    if (!json_is_object(in)) {
        snprintf(err, err_size, "introspection: must be an object or null");
        return -1;
    }
    if (tg_policy_only_fields(in, fields, "introspection.", err, err_size) < 0)
        return -1;
    const char *url = json_string_value(json_object_get(in, "url"));
    const char *id = json_string_value(json_object_get(in, "clientId"));
    const char *secret = json_string_value(json_object_get(in, "clientSecret"));
    const json_t *recheck = json_object_get(in, "recheckIntervalMs");
    if (!url || strlen(url) > 2048 || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        snprintf(err, err_size, "introspection.url: must be an http(s) URL of at most 2048 bytes");
        return -1;
    }
    if (!id || !secret) {
        snprintf(err, err_size, "introspection: clientId and clientSecret are required strings");
        return -1;
    }
    if (!json_is_integer(recheck) || json_integer_value(recheck) < 0 ||
        json_integer_value(recheck) > 365LL * 24 * 3600 * 1000) {
        snprintf(err, err_size, "introspection.recheckIntervalMs: must be an integer number of milliseconds");
        return -1;
    }
    if (tg_introspection_cfg_init(&st->intro, url, id, secret, (uint64_t)json_integer_value(recheck), err,
                                  err_size) < 0)
        return -1;
    st->has_introspection = 1;
    return 0;
}

static int compile_revoked(struct oauth_state *st, const json_t *list, char *err, size_t err_size)
{
    size_t n = json_array_size(list);
    if (list && (!json_is_array(list) || n > MAX_REVOKED)) {
        snprintf(err, err_size, "revoked: must be an array of at most %d strings", MAX_REVOKED);
        return -1;
    }
    tg_strmap_init(&st->revoked_ids);
    st->revoked_store = calloc(n + 1, sizeof *st->revoked_store);
    if (!st->revoked_store || tg_digest_set_init(&st->revoked_digests, n) < 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!s || len == 0 || len > 4096) {
            snprintf(err, err_size, "revoked[%zu]: must be a string of 1 to 4096 bytes", i);
            return -1;
        }
        uint8_t d[32];
        if (len == 71 && strncmp(s, "sha256:", 7) == 0 && tg_hex_decode(s + 7, 64, d, 32) == 0)
            tg_digest_set_add(&st->revoked_digests, d, (void *)1);
        char *id = malloc(96);
        if (!id) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        normalize_id(s, len, id);
        st->revoked_store[st->num_revoked_store++] = id;
        int perr = 0;
        tg_strmap_put(&st->revoked_ids, id, strlen(id), (void *)1, &perr);
        if (perr) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    }
    return 0;
}

static void *oauth_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"tokenFrom", "jwt", "introspection", "requiredScopes", "revoked", NULL};
    struct oauth_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st)
        goto fail;
    tg_strmap_init(&st->revoked_ids);
    if (tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    if (tg_cred_locations_compile(spec, "tokenFrom", 1, st->from, &st->num_from, err, err_size) < 0)
        goto fail;
    const json_t *jwt = json_object_get(spec, "jwt"), *in = json_object_get(spec, "introspection");
    if (jwt && !json_is_null(jwt) && compile_jwt(st, jwt, err, err_size) < 0)
        goto fail;
    if (in && !json_is_null(in) && compile_introspection(st, in, err, err_size) < 0)
        goto fail;
    if (!st->has_jwt && !st->has_introspection) {
        snprintf(err, err_size, "at least one of jwt and introspection is required");
        goto fail;
    }
    const json_t *scopes;
    if (tg_policy_array_field(spec, "", "requiredScopes", MAX_SCOPES, "scopes", &scopes, err, err_size) < 0)
        goto fail;
    size_t i, hl = 0;
    json_t *v;
    json_array_foreach(scopes, i, v) {
        const char *s = json_string_value(v);
        int ok = s && *s && strlen(s) <= 256;
        for (const char *p = s; ok && *p; p++) /* RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E */
            ok = *p == 0x21 || (*p >= 0x23 && *p <= 0x5b) || (*p >= 0x5d && *p <= 0x7e);
        if (!ok || !(st->scopes[i] = strdup(s))) {
            snprintf(err, err_size, "requiredScopes[%zu]: must be a scope token (RFC 6749 §3.3)", i);
            goto fail;
        }
        st->num_scopes++;
        hl += strlen(s) + 1;
    }
    /* RFC 6750 §3.1: the scope attribute tells the client what is needed, when it fits */
    if (hl && hl < 300) {
        char list[320] = "";
        for (i = 0; i < st->num_scopes; i++) {
            strcat(list, i ? " " : "");
            strcat(list, st->scopes[i]);
        }
        snprintf(st->insufficient_header, sizeof st->insufficient_header,
                 "WWW-Authenticate: Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"%s\"\r\n", list);
    } else {
        snprintf(st->insufficient_header, sizeof st->insufficient_header,
                 "WWW-Authenticate: Bearer realm=\"tollgate\", error=\"insufficient_scope\"\r\n");
    }
    if (compile_revoked(st, json_object_get(spec, "revoked"), err, err_size) < 0)
        goto fail;
    return st;
fail:
    oauth_free(st);
    *failed = 1;
    return NULL;
}

/* ---- verdicts --------------------------------------------------------------------------------------- */

static void reject_invalid(struct tg_policy_ctx *ctx, const char *code, const char *description)
{
    char h[256];
    snprintf(h, sizeof h, "WWW-Authenticate: Bearer realm=\"tollgate\", error=\"invalid_token\", "
                          "error_description=\"%s\"\r\n", description);
    tg_policy_reject(ctx, 401, code, description, h);
}

static int is_revoked_id(const struct oauth_state *st, const char *jti)
{
    if (!jti || !*jti)
        return 0;
    char id[96];
    normalize_id(jti, strlen(jti), id);
    return tg_strmap_get(&st->revoked_ids, id, strlen(id)) != NULL;
}

static int scopes_granted(const struct oauth_state *st, const json_t *claims)
{
    return tg_jwt_has_scopes(claims, (const char *const *)st->scopes, st->num_scopes);
}

static void copy_subject(char out[96], const char *s)
{
    snprintf(out, 96, "%s", s ? s : "");
}

/* A verified JWT: revocation, scopes, then the credential. */
static void admit_jwt(struct tg_policy_ctx *ctx, const struct oauth_state *st, const uint8_t digest[32],
                      const struct tg_jwt *jwt)
{
    const char *jti = json_string_value(json_object_get(jwt->claims, "jti"));
    if (is_revoked_id(st, jti)) {
        reject_invalid(ctx, "auth.token_revoked", "the token has been revoked");
        return;
    }
    if (!scopes_granted(st, jwt->claims)) {
        tg_policy_reject(ctx, 403, "auth.insufficient_scope", "the token does not grant the required scopes",
                         st->insufficient_header);
        return;
    }
    struct tg_credential cred;
    memset(&cred, 0, sizeof cred);
    cred.kind = TG_CRED_JWT;
    memcpy(cred.digest, digest, 32);
    if (jti)
        normalize_id(jti, strlen(jti), cred.id);
    const char *sub = json_string_value(json_object_get(jwt->claims, "sub"));
    if (!sub)
        sub = json_string_value(json_object_get(jwt->claims, "client_id"));
    if (!sub)
        sub = json_string_value(json_object_get(jwt->claims, "azp"));
    copy_subject(cred.subject, sub);
    cred.expires_wall_ms = jwt->exp_ms;
    tg_policy_set_credential(ctx, &cred);
    tg_policy_set_claims(ctx, jwt->claims);
    tg_policy_continue(ctx);
}

static void jwt_verdict(struct tg_policy_ctx *ctx, const struct oauth_state *st, const uint8_t digest[32],
                        enum tg_jwt_result r, const struct tg_jwt *jwt)
{
    if (r == TG_JWT_OK)
        admit_jwt(ctx, st, digest, jwt);
    else if (r == TG_JWT_EXPIRED)
        reject_invalid(ctx, "auth.token_expired", tg_jwt_result_str(r));
    else
        reject_invalid(ctx, "auth.invalid_token", tg_jwt_result_str(r));
}

static void pending_free(struct pending *p)
{
    if (p->token) {
        OPENSSL_cleanse(p->token, p->len);
        free(p->token);
    }
    if (p->ctx && p->ctx->policy_data == p)
        p->ctx->policy_data = NULL;
    free(p);
}

static void on_keys(void *arg, const struct tg_jwks *keys);

/* Verifies p's token with keys; on an unknown kid with a jwksUrl, asks for a refresh once and waits for it (p is
 * then owned by the wait). Otherwise frees p — wiping the token — and delivers the verdict, touching neither p
 * nor the ctx afterwards (a verdict may end the request). */
static void verify_step(struct pending *p, const struct tg_jwks *keys)
{
    struct tg_jwt jwt;
    enum tg_jwt_result r = tg_jwt_verify_all(p->token, p->len, keys, &p->st->rules, p->ctx->now_wall_ms, &jwt);
    if (r == TG_JWT_NO_KEY && p->st->jwks_url && !p->refreshed) {
        p->refreshed = 1;
        const struct tg_jwks *fresh = NULL;
        int g = tg_jwks_fetch_get(p->ctx->worker, p->st->jwks_url, 1, &fresh, on_keys, p, &p->jw);
        if (g == 0) {
            tg_jwt_free(&jwt);
            p->ctx->policy_data = p;
            return;
        }
        if (g == 1 && fresh != keys) {
            tg_jwt_free(&jwt);
            r = tg_jwt_verify_all(p->token, p->len, fresh, &p->st->rules, p->ctx->now_wall_ms, &jwt);
        }
    }
    struct tg_policy_ctx *ctx = p->ctx;
    const struct oauth_state *st = p->st;
    uint8_t digest[32];
    memcpy(digest, p->digest, 32);
    pending_free(p);
    jwt_verdict(ctx, st, digest, r, &jwt);
    tg_jwt_free(&jwt);
}

static void on_keys(void *arg, const struct tg_jwks *keys)
{
    struct pending *p = arg;
    p->jw = NULL;
    if (!keys) {
        struct tg_policy_ctx *ctx = p->ctx;
        pending_free(p);
        tg_policy_reject(ctx, 503, "auth.jwks_unavailable", "the token signing keys cannot be fetched", NULL);
        return;
    }
    verify_step(p, keys);
}

static void jwt_path(struct tg_policy_ctx *ctx, const struct oauth_state *st, const char *token, size_t len,
                     const uint8_t digest[32])
{
    if (!st->jwks_url) {
        struct tg_jwt jwt;
        enum tg_jwt_result r = tg_jwt_verify_all(token, len, &st->keys, &st->rules, ctx->now_wall_ms, &jwt);
        jwt_verdict(ctx, st, digest, r, &jwt);
        tg_jwt_free(&jwt);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p || !(p->token = malloc(len + 1))) {
        free(p);
        tg_policy_reject(ctx, 503, "auth.jwks_unavailable", "out of memory", NULL);
        return;
    }
    memcpy(p->token, token, len);
    p->token[len] = '\0';
    p->len = len;
    p->ctx = ctx;
    p->st = st;
    memcpy(p->digest, digest, 32);
    const struct tg_jwks *keys = NULL;
    int g = tg_jwks_fetch_get(ctx->worker, st->jwks_url, 0, &keys, on_keys, p, &p->jw);
    if (g == 0) {
        ctx->policy_data = p;
        return;
    }
    if (g < 0) {
        pending_free(p);
        tg_policy_reject(ctx, 503, "auth.jwks_unavailable", "the token signing keys cannot be fetched", NULL);
        return;
    }
    verify_step(p, keys);
}

/* An introspection answer → the verdict. */
static void intro_verdict(struct tg_policy_ctx *ctx, const struct oauth_state *st, const uint8_t digest[32],
                          const struct tg_introspection_result *r)
{
    if (r->state == TG_INTROSPECT_UNAVAILABLE) {
        tg_policy_reject(ctx, 503, "auth.introspection_unavailable",
                         "the token cannot be checked: the introspection endpoint is unavailable", NULL);
        return;
    }
    if (r->state == TG_INTROSPECT_INACTIVE) {
        reject_invalid(ctx, "auth.invalid_token", "the token is not active");
        return;
    }
    if (is_revoked_id(st, r->jti)) {
        reject_invalid(ctx, "auth.token_revoked", "the token has been revoked");
        return;
    }
    json_t *claims = json_pack("{s:s}", "scope", r->scope);
    int granted = claims && scopes_granted(st, claims);
    json_decref(claims);
    if (!granted) {
        tg_policy_reject(ctx, 403, "auth.insufficient_scope", "the token does not grant the required scopes",
                         st->insufficient_header);
        return;
    }
    struct tg_credential cred;
    memset(&cred, 0, sizeof cred);
    cred.kind = TG_CRED_OPAQUE_TOKEN;
    memcpy(cred.digest, digest, 32);
    if (r->jti[0])
        normalize_id(r->jti, strlen(r->jti), cred.id);
    copy_subject(cred.subject, r->subject);
    cred.expires_wall_ms = r->exp_wall_ms;
    cred.recheck_interval_ms = st->intro.recheck_ms;
    tg_policy_set_credential(ctx, &cred);
    if (r->claims)
        tg_policy_set_claims(ctx, r->claims);
    tg_policy_continue(ctx);
}

static void on_intro_answer(void *arg, const struct tg_introspection_result *r)
{
    struct pending *p = arg;
    struct tg_policy_ctx *ctx = p->ctx;
    const struct oauth_state *st = p->st;
    uint8_t digest[32];
    memcpy(digest, p->digest, 32);
    p->iw = NULL;
    pending_free(p);
    intro_verdict(ctx, st, digest, r);
}

static void intro_path(struct tg_policy_ctx *ctx, const struct oauth_state *st, const char *token, size_t len,
                       const uint8_t digest[32])
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        tg_policy_reject(ctx, 503, "auth.introspection_unavailable", "out of memory", NULL);
        return;
    }
    p->ctx = ctx;
    p->st = st;
    memcpy(p->digest, digest, 32);
    struct tg_introspection_result now;
    int r = tg_introspect(ctx->worker, &st->intro, token, len, digest, ctx->is_upgrade ? TG_INTROSPECT_PIN : 0,
                          &now, on_intro_answer, p, &p->iw);
    if (r == 0) {
        ctx->policy_data = p;
        return;
    }
    free(p);
    if (r == 1) {
        intro_verdict(ctx, st, digest, &now);
        return;
    }
    struct tg_introspection_result none = {.state = TG_INTROSPECT_UNAVAILABLE, .scope = "", .subject = "", .jti = ""};
    intro_verdict(ctx, st, digest, &none);
}

static void oauth_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct oauth_state *st = state;
    char token[MAX_TOKEN_BYTES + 1];
    char rest[sizeof ctx->request_edits[0].value];
    if (tg_cred_locations_repeated(ctx->request, st->from, st->num_from)) { /* never check one, forward all */
        tg_policy_reject(ctx, 400, "auth.repeated_credential", "a credential location is repeated", NULL);
        return;
    }
    long n = 0;
    const struct tg_cred_location *used = NULL;
    for (size_t i = 0; i < st->num_from && n == 0; i++) {
        n = tg_cred_location_read(ctx->request, &st->from[i], token, sizeof token, rest, sizeof rest);
        used = &st->from[i];
    }
    if (n == 0) {
        tg_policy_reject(ctx, 401, "auth.missing_token", "a bearer token is required", WWW_MISSING);
        return;
    }
    if (n == -2) {
        OPENSSL_cleanse(token, sizeof token);
        tg_policy_reject(ctx, 400, "auth.bad_subprotocols",
                         "the Sec-WebSocket-Protocol list without the token is too long to forward", NULL);
        return;
    }
    if (n < 0) {
        OPENSSL_cleanse(token, sizeof token);
        reject_invalid(ctx, "auth.invalid_token", "the token cannot be read");
        return;
    }
    if (used->kind == TG_LOC_SUBPROTOCOL) {
        /* the backend never sees the token, nor the marker entry (it could pick it as the protocol) */
        if (rest[0])
            tg_policy_set_request_header(ctx, "Sec-WebSocket-Protocol", rest);
        else
            tg_policy_remove_request_header(ctx, "Sec-WebSocket-Protocol");
    }
    uint8_t digest[32];
    tg_sha256(token, (size_t)n, digest);
    if (tg_digest_set_get(&st->revoked_digests, digest)) {
        OPENSSL_cleanse(token, sizeof token);
        reject_invalid(ctx, "auth.token_revoked", "the token has been revoked");
        return;
    }
    if (st->has_jwt && (!st->has_introspection || tg_jwt_looks_like(token, (size_t)n)))
        jwt_path(ctx, st, token, (size_t)n, digest);
    else
        intro_path(ctx, st, token, (size_t)n, digest);
    OPENSSL_cleanse(token, sizeof token);
}

static void oauth_cancel(struct tg_policy_ctx *ctx, void *state)
{
    struct pending *p = ctx->policy_data;
    if (!p)
        return;
    if (p->jw)
        tg_jwks_fetch_cancel(p->jw);
    if (p->iw)
        tg_introspect_cancel(p->iw);
    p->ctx = NULL;
    ctx->policy_data = NULL;
    pending_free(p);
}

/* ---- live sessions ---------------------------------------------------------------------------------- */

static int oauth_credential_revoked(void *new_state, const struct tg_credential *cred)
{
    const struct oauth_state *st = new_state;
    if (cred->kind != TG_CRED_JWT && cred->kind != TG_CRED_OPAQUE_TOKEN)
        return 0;
    if (tg_digest_set_get(&st->revoked_digests, cred->digest))
        return 1;
    return cred->id[0] && tg_strmap_get(&st->revoked_ids, cred->id, strlen(cred->id)) != NULL;
}

struct recheck {
    const struct oauth_state *st;
    void (*done)(void *arg, int revoked);
    void *arg;
    int revoked;
    struct tg_timer later; /* on the worker's wheel: a verdict known at once is still delivered from the loop
                            * (next tick), never inside recheck() */
};

static void on_recheck_later(struct tg_timer *t, uint64_t now_ms)
{
    struct recheck *rc = (struct recheck *)((char *)t - offsetof(struct recheck, later));
    void (*done)(void *, int) = rc->done;
    void *arg = rc->arg;
    int revoked = rc->revoked;
    free(rc);
    done(arg, revoked);
}

static void on_recheck_answer(void *arg, const struct tg_introspection_result *r)
{
    struct recheck *rc = arg;
    int revoked = 0;
    if (r->state == TG_INTROSPECT_INACTIVE || (r->state == TG_INTROSPECT_ACTIVE && is_revoked_id(rc->st, r->jti))) {
        revoked = 1;
    } else if (r->state == TG_INTROSPECT_ACTIVE) {
        json_t *claims = json_pack("{s:s}", "scope", r->scope);
        revoked = !claims || !scopes_granted(rc->st, claims); /* scopes withdrawn since the handshake */
        json_decref(claims);
    } /* UNAVAILABLE: the session goes on; the next interval asks again */
    void (*done)(void *, int) = rc->done;
    void *done_arg = rc->arg;
    free(rc);
    done(done_arg, revoked);
}

static void oauth_recheck(void *state, struct tg_worker *w, const struct tg_credential *cred,
                          void (*done)(void *arg, int revoked), void *arg)
{
    const struct oauth_state *st = state;
    struct recheck *rc = calloc(1, sizeof *rc);
    if (!rc) {
        done(arg, 0); /* cannot even defer: keep the session; the next interval tries again */
        return;
    }
    rc->st = st;
    rc->done = done;
    rc->arg = arg;
    struct tg_introspect_wait *wait = NULL;
    if (st->has_introspection && cred->kind == TG_CRED_OPAQUE_TOKEN &&
        tg_introspect_recheck(w, &st->intro, cred->digest, on_recheck_answer, rc, &wait) == 0)
        return;
    /* not an introspected token, or its token is no longer kept: it cannot be re-checked — fail closed */
    rc->revoked = cred->kind == TG_CRED_OPAQUE_TOKEN;
    tg_timer_init(&rc->later, on_recheck_later);
    tg_timer_schedule(&w->wheel, &rc->later, tg_now_ms());
}

int tg_oauth_v2_reads(const void *state, int kind, const char *name, size_t len)
{
    const struct oauth_state *st = state;
    for (size_t i = 0; st && i < st->num_from; i++) {
        const struct tg_cred_location *l = &st->from[i];
        if ((int)l->kind != kind)
            continue;
        if (kind == TG_LOC_SUBPROTOCOL) { /* name: one entry (auth_location.h conventions) */
            size_t pl = strlen(l->name);
            int sep = pl && l->name[pl - 1] == '.';
            if (len < pl || memcmp(l->name, name, pl) != 0)
                continue;
            if (len == pl && !sep)
                return 2; /* the marker: the next entry is the token */
            if (len > pl && (sep || name[pl] == '.'))
                return 1;
            continue;
        }
        if (strlen(l->name) != len)
            continue;
        if (kind == TG_LOC_HEADER ? strncasecmp(l->name, name, len) == 0 : memcmp(l->name, name, len) == 0)
            return 1;
    }
    return 0;
}

const struct tg_policy_type tg_policy_oauth_v2 = {
    .name = "oauthV2",
    .compile = oauth_compile,
    .run = oauth_run,
    .free_state = oauth_free,
    .credential_revoked = oauth_credential_revoked,
    .recheck = oauth_recheck,
    .cancel = oauth_cancel,
};
