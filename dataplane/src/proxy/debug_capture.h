/* debug_capture.h — the proxy layer's side of debug sessions: building one transaction record of a request (or
 * a WebSocket handshake) while it runs, and the closing record of a WebSocket session, for the store behind
 * struct tg_debug_hooks (debug_hooks.h). Every header value and the target go through the redaction of
 * policy/auth/auth_redact.h before they are copied; nothing else of the request is kept.
 *
 * Cost when no debug session is live: tg_debug_capture_begin is one relaxed atomic load and a return. */
#ifndef TG_DEBUG_CAPTURE_H
#define TG_DEBUG_CAPTURE_H

#include "config/router.h"
#include "http1_parser.h"
#include "policy/policy.h"
#include "proxy/debug_hooks.h"
#include "proxy/forwarder.h"
#include "proxy/sessions.h"

#include <stdint.h>

struct tg_debug_capture;

/* A routed request: NULL (nothing to record) unless a live session wants it; then a capture holding the
 * redacted request line and headers. Installs the response-head callback on fwd. */
struct tg_debug_capture *tg_debug_capture_begin(const struct tg_debug_hooks *hooks, const struct tg_route *route,
                                                struct tg_slice path, const struct tg_http_head *req,
                                                const char *client_ip, struct tg_forwarder *fwd);
/* The request was answered with status (by the backend or the gateway): the record is completed with the
 * policies' trace (policy may be NULL), the endpoint, connect time and timings, handed to the store, and cap
 * freed. Returns the store's handle for a 101 (to be completed by tg_debug_capture_ws_closed), else 0. */
uint64_t tg_debug_capture_end(struct tg_debug_capture *cap, int status, const struct tg_policy_ctx *policy,
                              const struct tg_forwarder *fwd);
/* Frees a capture whose request never got an answer (the connection was lost). NULL is fine. */
void tg_debug_capture_free(struct tg_debug_capture *cap);
/* A recorded WebSocket session ended: its record gets the session's message and byte counts (s), duration,
 * close code and side. */
void tg_debug_capture_ws_closed(const struct tg_debug_hooks *hooks, uint64_t handle, const struct tg_session *s,
                                uint64_t duration_ms, unsigned close_code, const char *closed_by);

#endif
