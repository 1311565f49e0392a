/* request_metrics.c — see request_metrics.h. */
#include "proxy/request_metrics.h"

#include "clock.h"

#include <string.h>

void tg_request_metrics(const struct tg_metrics_hooks *hooks, int worker, const struct tg_route *route, int status,
                        uint64_t started_ns, const struct tg_policy_ctx *policy, const struct tg_forwarder *fwd)
{
    if (!hooks || !hooks->request_done)
        return;
    struct tg_request_outcome o = {.environment = "", .proxy = "", .status = status};
    if (route) {
        o.environment = route->environment;
        o.proxy = route->proxy->id;
        if (started_ns)
            o.duration_ns = tg_now_ns() - started_ns;
    }
    if (policy && policy->num_trace && strcmp(policy->trace[policy->num_trace - 1].result, "continue") != 0) {
        o.rejected_by = policy->trace[policy->num_trace - 1].name;
        o.reject_code = strcmp(policy->trace[policy->num_trace - 1].result, "reject") == 0 ? policy->code : "";
    }
    if (fwd->error.code && strncmp(fwd->error.code, "upstream.", 9) == 0) {
        o.upstream_error = fwd->error.code;
        o.upstream_detail = fwd->error.message ? fwd->error.message : "";
    }
    hooks->request_done(worker, &o);
}

void tg_session_metrics(const struct tg_metrics_hooks *hooks, int worker, const struct tg_session *s,
                        uint64_t duration_ms, unsigned close_code, const char *closed_by)
{
    if (!hooks || !hooks->session_closed)
        return;
    struct tg_session_outcome o = {
        .environment = s->environment ? s->environment : "",
        .proxy = s->proxy ? s->proxy->id : "",
        .duration_ns = duration_ms * 1000000u,
        .close_code = close_code,
        .closed_by = closed_by,
    };
    hooks->session_closed(worker, &o);
}
