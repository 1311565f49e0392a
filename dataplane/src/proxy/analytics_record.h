/* analytics_record.h — the analytics records of DESIGN.md "Debug and analytics" / issue 13 item 2: one JSON line
 * per HTTP request when it is answered, and one per WebSocket session when it ends (the 101's request data
 * carried by the tunnel until then). The path is kept without its query string; no header value and no
 * credential is ever copied: the caller is identified by the admitting credential's key id / token id and the
 * app or token subject (struct tg_credential). */
#ifndef TG_ANALYTICS_RECORD_H
#define TG_ANALYTICS_RECORD_H

#include "config/router.h"
#include "http1_parser.h"
#include "policy/policy.h"
#include "proxy/analytics_hooks.h"
#include "proxy/forwarder.h"
#include "proxy/sessions.h"

#include <stdint.h>

struct tg_analytics_capture;

/* A routed request: NULL when analytics is off (hooks NULL), else what the record needs from the head (host,
 * path without query, sizes). */
struct tg_analytics_capture *tg_analytics_begin(const struct tg_analytics_hooks *hooks, const char *group_id,
                                                const struct tg_route *route, struct tg_slice host,
                                                struct tg_slice path, const char *client_ip, size_t head_len);
/* The request was answered with status. For an HTTP answer the record is written and cap freed (returns NULL);
 * for a 101 the capture keeps what the session's record needs (policy, credential, endpoint) and is returned,
 * for the tunnel to finish with tg_analytics_session_end. */
struct tg_analytics_capture *tg_analytics_end(struct tg_analytics_capture *cap, int status,
                                              const struct tg_policy_ctx *policy, const struct tg_forwarder *fwd);
/* A WebSocket session ended: its record is written and cap freed. */
void tg_analytics_session_end(struct tg_analytics_capture *cap, const struct tg_session *s, uint64_t duration_ms,
                              unsigned close_code, const char *closed_by);
void tg_analytics_capture_free(struct tg_analytics_capture *cap);

#endif
