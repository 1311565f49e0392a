/* admin_exposure.h — who may reach what of the admin API (issue 13 item 4, docs/operations.md "Exposure"):
 *   - the probe listener (--probe-listen ADDR:PORT, meant for the pod IP): /healthz, /readyz, /metrics only;
 *   - the privileged admin API (--admin; /config, /sessions, /debug/sessions, and the probes too): on loopback (or a
 *     Unix socket) by default; on any other address only with --admin-token-file, whose token every request
 *     must then carry as "Authorization: Bearer TOKEN" (compared in constant time; 401 without it).
 * Main thread. */
#ifndef TG_ADMIN_EXPOSURE_H
#define TG_ADMIN_EXPOSURE_H

#include "mini_http_server.h"

#include <stddef.h>

struct tg_admin_exposure {
    const char *probe_addr;         /* NULL: no probe listener */
    const char *token_file;         /* NULL: no token (then the admin address must be loopback) */
    unsigned char token_digest[32]; /* SHA-256 of the token (the clear token is not kept) */
    int has_token;
    struct tg_mini_server probe;
    tg_mini_handler admin_handler;  /* the admin API's handler, behind the checks */
    void *admin_ctx;
};

/* Reads the token file (when set) and checks that the admin address may be used: 0, or -1 with a message on
 * stderr. */
int tg_admin_exposure_prepare(struct tg_admin_exposure *x, const char *admin_addr, tg_mini_handler admin_handler,
                              void *admin_ctx);
/* The admin listener's handler: the token check, then the admin API. ctx = x. */
void tg_admin_exposure_admin(struct tg_mini_request *req, void *ctx);
/* The probe listener's handler: the three probe paths of the admin API, 404 for the rest. ctx = x. */
void tg_admin_exposure_probe(struct tg_mini_request *req, void *ctx);
/* 1 when "Bearer TOKEN" carries the token whose SHA-256 is digest (constant time in the token's bytes). */
int tg_admin_bearer_ok(const unsigned char digest[32], const char *authorization);

#endif
