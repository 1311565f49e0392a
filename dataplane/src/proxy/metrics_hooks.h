/* metrics_hooks.h — how the proxy layer reports what the labelled metrics count (one answered request, one
 * ended WebSocket session) to its owner (the process layer's process/metrics.c), without knowing it. Types only.
 *
 * Both calls run on the worker's thread with that worker's index; the owner keeps per-worker series written by
 * that worker only. Strings are the snapshot's (environment, proxy id, policy type names) or static text, valid
 * for the call only; the owner bounds the label values it keeps (no path, key or address is ever passed). */
#ifndef TG_METRICS_HOOKS_H
#define TG_METRICS_HOOKS_H

#include <stdint.h>

struct tg_request_outcome {
    const char *environment;     /* "" when unrouted */
    const char *proxy;           /* proxy id, "" when unrouted */
    int status;                  /* the status answered (101 for a WebSocket handshake) */
    uint64_t duration_ns;        /* from the complete request head to the answer */
    const char *rejected_by;     /* the policy type that rejected or answered (NULL: none) */
    const char *reject_code;     /* its error code ("quota.exceeded"; "" for an answer without error) */
    const char *upstream_error;  /* the forwarder's error code when the backend failed ("upstream.*"; NULL: none) */
    const char *upstream_detail; /* its static message (tells refused, reset, malformed... apart) */
};

struct tg_session_outcome {
    const char *environment;
    const char *proxy;
    uint64_t duration_ns;
    unsigned close_code;  /* sent to the client (1005: none, 1006: abnormal) */
    const char *closed_by; /* "client", "backend", "proxy" or "" */
};

struct tg_metrics_hooks {
    void (*request_done)(int worker, const struct tg_request_outcome *o);
    void (*session_closed)(int worker, const struct tg_session_outcome *o);
};

#endif
