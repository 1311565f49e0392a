/* counters.h — the per-worker counters the hot path increments (connections, sessions, relayed messages and
 * bytes, failures, TLS handshakes, upstream connect times). One struct per worker, written only by that worker's
 * thread with relaxed atomics (a load and a store: no locked instruction), read by any thread; summed and
 * rendered by process/metrics.c. Knows nothing of Prometheus or of who counts what: the layers above take a
 * pointer to their worker's struct. */
#ifndef TG_COUNTERS_H
#define TG_COUNTERS_H

#include "histogram.h"

#include <stdatomic.h>
#include <stdint.h>

struct tg_counters {
    _Atomic uint64_t connections_accepted;
    _Atomic uint64_t connections_active;
    _Atomic uint64_t ws_sessions_total;
    _Atomic uint64_t ws_sessions_active;
    _Atomic uint64_t ws_messages_c2b, ws_messages_b2c;
    _Atomic uint64_t ws_bytes_c2b, ws_bytes_b2c;
    _Atomic uint64_t upstream_connect_failures;
    _Atomic uint64_t upstream_tls_failures;     /* TLS handshakes to backends that failed (verification...) */
    _Atomic uint64_t accept_errors;
    _Atomic uint64_t tls_handshakes, tls_resumed; /* the TLS listener: handshakes completed, of which resumed */
    _Atomic uint64_t tls_handshake_failures;     /* listener connections that ended (error or EOF) before completing one */
    _Atomic uint64_t buffers_in_use;             /* I/O buffers (32 KiB) handed out now (the worker's pool publishes it) */
    _Atomic uint64_t buffer_waiting, buffer_waits; /* --max-buffer-memory: connections parked now, parks in all */
    struct tg_histogram upstream_connect;         /* new backend connections: connect(2) (+ TLS) to ready */
};

/* Adds n to a single-writer counter (relaxed load + store: no locked instruction on the hot path). */
static inline void tg_counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void tg_counter_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n, memory_order_relaxed);
}

#endif
