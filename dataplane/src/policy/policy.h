/* policy.h — the interface every API-gateway policy implements, the context a policy runs in, and the registry
 * of policy types.
 *
 * A snapshot compiles each proxy's ordered `policies` list once: compile() turns the policy's JSON into
 * immutable state shared by all workers. On every request (plain HTTP and the WebSocket upgrade) the pipeline
 * (policy_pipeline.c) runs them in order; each run() ends — at once, or later from the same worker's loop for
 * asynchronous policies (introspection, Redis) — by calling exactly one of:
 *   tg_policy_continue(ctx)                          the next policy runs (after the last: the request goes on)
 *   tg_policy_reject(ctx, status, code, message, h)  the JSON error of DESIGN.md is answered, nothing reaches
 *                                                    the backend
 *   tg_policy_answer(ctx, status, headers)           the gateway answers itself without error (CORS preflight)
 * A policy may also edit the request toward the target and the response toward the client (tg_policy_set_*),
 * and an authentication policy records the credential that admitted the request (tg_policy_set_credential), which
 * a WebSocket session keeps and which is enforced for the session's whole life (expiry, revocation, recheck).
 */
#ifndef TG_POLICY_H
#define TG_POLICY_H

#include "http1_parser.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tg_policy_ctx;
struct tg_credential;
struct tg_worker;
struct tg_proxy_cfg;

struct tg_policy_type {
    const char *name; /* the "type" in the snapshot: "verifyApiKey", "quota", ... */
    /* Validates and compiles spec (the policy object without "type"). Returns state (NULL is allowed for a
     * stateless policy) — or writes a reason into err and sets *failed = 1. Runs on the main thread. */
    void *(*compile)(const json_t *spec, char *err, size_t err_size, int *failed);
    /* Runs the policy for one request; must end with one of the tg_policy_* verdict calls, now or later. */
    void (*run)(struct tg_policy_ctx *ctx, void *state);
    void (*free_state)(void *state);
    /* Optional: asked when a new snapshot replaces the one a live session was admitted under — is the session's
     * credential still good under this (new) compiled policy? Return 0 = keep, 1 = revoked. */
    int (*credential_revoked)(void *new_state, const struct tg_credential *cred);
    /* Optional, for credentials that must be re-checked during a session (introspection): start a check; call
     * done(arg, revoked) on the worker's loop when known. */
    void (*recheck)(void *state, struct tg_worker *w, const struct tg_credential *cred,
                    void (*done)(void *arg, int revoked), void *arg);
    /* Optional: a pending asynchronous run must be abandoned (the client went away); no verdict call follows. */
    void (*cancel)(struct tg_policy_ctx *ctx, void *state);
};

struct tg_compiled_policy {
    const struct tg_policy_type *type;
    void *state;
};

/* The registered policy types; NULL when name is unknown. */
const struct tg_policy_type *tg_policy_type_find(const char *name);

/* ---- helpers for compile() (policy_compile.c); each failure writes its reason into err ---- */

/* A zeroed state of size bytes, or NULL with "out of memory". */
void *tg_policy_state_new(size_t size, char *err, size_t err_size);
/* 0 when every key of obj is in allowed (NULL-terminated); else -1 with "<where><key>: unknown field" for the
 * first other key (cut at 64 bytes). where is "" at the top of the policy object, "jwt." below it, ... */
int tg_policy_only_fields(const json_t *obj, const char *const *allowed, const char *where, char *err,
                          size_t err_size);
/* The optional array field name of obj: 0 with *out = NULL when absent, 0 with *out set when it is an array of
 * at most max entries; else (also for a JSON null) -1 with "<where><name>: must be an array of at most <max>
 * <noun>". The entries are the caller's to check. */
int tg_policy_array_field(const json_t *obj, const char *where, const char *name, size_t max, const char *noun,
                          const json_t **out, char *err, size_t err_size);

/* ---- credentials kept by sessions ---- */

enum tg_credential_kind { TG_CRED_NONE = 0, TG_CRED_API_KEY, TG_CRED_JWT, TG_CRED_OPAQUE_TOKEN };

struct tg_credential {
    enum tg_credential_kind kind;
    uint16_t policy_index;        /* index of the policy (in the proxy's list) that admitted it */
    uint8_t digest[32];           /* SHA-256 of the key or token (never the clear value) */
    char id[96];                  /* key id (Secret namespace/name) or token jti ("" when none) */
    char subject[96];             /* app name (API key) or token sub/client_id, for analytics */
    uint64_t expires_wall_ms;     /* 0 = does not expire */
    uint64_t recheck_interval_ms; /* 0 = never re-checked (introspection sets it) */
};

/* ---- the context of one run of the pipeline ---- */

#define TG_POLICY_MAX_EDITS 16

struct tg_header_edit {
    char name[64];
    char value[384]; /* empty with remove = 1 */
    unsigned char remove;
};

struct tg_policy_ctx {
    /* inputs (valid for the whole run) */
    struct tg_worker *worker;
    const struct tg_http_head *request; /* slices into the client's buffer */
    const struct tg_proxy_cfg *proxy;
    const char *environment;
    const char *client_ip;           /* the TCP peer; accessControl may derive another from X-Forwarded-For */
    int is_upgrade;
    uint64_t now_wall_ms;

    /* outputs */
    struct tg_header_edit request_edits[TG_POLICY_MAX_EDITS];
    size_t num_request_edits;
    struct tg_header_edit response_edits[TG_POLICY_MAX_EDITS];
    size_t num_response_edits;
    struct tg_credential credential;  /* kind != NONE once an auth policy admitted the request */
    char app[96];                      /* app / subject for analytics */
    char claims[1024];                 /* the admitting token's claims (tg_policy_set_claims); claims_len bytes */
    size_t claims_len;
    char client_ip_buf[46];            /* accessControl's client address (from X-Forwarded-For); client_ip
                                        * points here once it derived one, so later policies see it too */

    /* verdict */
    int status;                        /* reject / answer status */
    char code[64];
    char message[256];
    char extra_headers[1024];          /* "Name: value\r\n" lines */

    /* pipeline bookkeeping (policy_pipeline.c) */
    size_t next_index;
    size_t running_index;
    uint64_t running_since_us;
    int in_run;                        /* inside a synchronous run() call */
    int verdict;                       /* see policy_pipeline.c */
    int finished;
    void (*on_finish)(struct tg_policy_ctx *ctx, void *arg);
    void *on_finish_arg;
    void *policy_data;                 /* per-request scratch owned by the running asynchronous policy */
    struct {
        const char *name;
        const char *result;            /* "continue", "reject", "answer" */
        uint32_t micros;
    } trace[16];                       /* for debug sessions */
    size_t num_trace;
};

enum tg_policy_outcome { TG_POLICY_OUTCOME_CONTINUE = 0, TG_POLICY_OUTCOME_REJECT, TG_POLICY_OUTCOME_ANSWER };

void tg_policy_continue(struct tg_policy_ctx *ctx);
void tg_policy_reject(struct tg_policy_ctx *ctx, int status, const char *code, const char *message,
                      const char *extra_headers);
void tg_policy_answer(struct tg_policy_ctx *ctx, int status, const char *extra_headers);

/* A context for one run, zeroed except the header-edit arrays (17 KB, of which 14 KB edits that are read only
 * below num_*_edits: not touching them is a third of a handshake's cost with a policy, issue 15). NULL when out
 * of memory; free() releases it. The caller fills the inputs. */
struct tg_policy_ctx *tg_policy_ctx_new(void);

/* Request edits toward the target (set replaces every field of that name) and response edits toward the client
 * (set replaces what the backend sent). Return -1 when the edit list is full. (policy_ctx.c, with
 * tg_policy_set_credential) */
int tg_policy_set_request_header(struct tg_policy_ctx *ctx, const char *name, const char *value);
int tg_policy_remove_request_header(struct tg_policy_ctx *ctx, const char *name);
int tg_policy_set_response_header(struct tg_policy_ctx *ctx, const char *name, const char *value);
int tg_policy_remove_response_header(struct tg_policy_ctx *ctx, const char *name);
void tg_policy_set_credential(struct tg_policy_ctx *ctx, const struct tg_credential *cred);
/* Records the admitting token's top-level claims whose values are strings, integers or booleans (for the
 * "claim:NAME" identifiers of quota and spikeArrest); an auth policy calls it with the verified claims (JWT
 * payload, introspection answer). Claims that do not fit ctx->claims are left out. (policy_claims.c) */
void tg_policy_set_claims(struct tg_policy_ctx *ctx, const json_t *claims);
/* The value of claim name as recorded above (integers in decimal, booleans as true/false) into out; its
 * length, or -1 when absent or too long for out. Without recorded claims, "sub" falls back to the credential's
 * subject and "jti" to its id. */
long tg_policy_claim(const struct tg_policy_ctx *ctx, const char *name, char *out, size_t out_size);

/* Pipeline (policy_pipeline.c): runs the proxy's policies from the first; calls on_finish (possibly synchronously) with the ctx
 * whose verdict is tg_policy_outcome(ctx). */
void tg_policy_pipeline_start(struct tg_policy_ctx *ctx, void (*on_finish)(struct tg_policy_ctx *, void *), void *arg);
/* Abandons a run waiting for an asynchronous policy (the client went away). */
void tg_policy_pipeline_cancel(struct tg_policy_ctx *ctx);
enum tg_policy_outcome tg_policy_outcome(const struct tg_policy_ctx *ctx);

#endif
