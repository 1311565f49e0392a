/* request_metrics.h — the proxy layer's side of the labelled metrics: what one answered request or one ended
 * WebSocket session tells its owner through struct tg_metrics_hooks (metrics_hooks.h). Reads the request's
 * route, policy run and forwarder; copies nothing that identifies a caller (no path, key or address). */
#ifndef TG_REQUEST_METRICS_H
#define TG_REQUEST_METRICS_H

#include "config/router.h"
#include "policy/policy.h"
#include "proxy/forwarder.h"
#include "proxy/metrics_hooks.h"
#include "proxy/sessions.h"

#include <stdint.h>

/* One request answered with status on worker; started_ns is when its head was complete (valid when route is
 * set), policy its policy run (NULL: none), fwd its exchange with the backend. */
void tg_request_metrics(const struct tg_metrics_hooks *hooks, int worker, const struct tg_route *route, int status,
                        uint64_t started_ns, const struct tg_policy_ctx *policy, const struct tg_forwarder *fwd);
/* A WebSocket session of s ended after duration_ms with close_code, closed by closed_by. */
void tg_session_metrics(const struct tg_metrics_hooks *hooks, int worker, const struct tg_session *s,
                        uint64_t duration_ms, unsigned close_code, const char *closed_by);

#endif
