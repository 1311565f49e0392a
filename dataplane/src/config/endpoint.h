/* endpoint.h — process-wide registry of backend endpoints (address:port), shared by every snapshot and worker.
 *
 * A snapshot names its endpoints through pointers into this registry, so per-endpoint state survives snapshot
 * swaps: the active-connection counts leastConnections balances on, and the key each worker's keep-alive pool
 * is indexed by. Entries are created by the thread that builds snapshots and never freed while the process
 * runs (their number is bounded by the distinct endpoints ever configured; see docs/operations.md).
 *
 * An endpoint reached over TLS is interned with its TLS settings' digest (config/upstream_tls.h "profile"): the
 * same address:port with other settings (plain TCP, another CA, SNI or client certificate) is another endpoint,
 * so a pooled connection or a cached TLS session is only ever reused under the settings it was made with.
 */
#ifndef TG_ENDPOINT_H
#define TG_ENDPOINT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct tg_endpoint {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char name[64];                  /* "10.0.0.5:8080" or "[::1]:8080" (for logs, /sessions, traces) */
    _Atomic uint32_t active;        /* connections to it in use right now, all workers */
    _Atomic uint64_t connect_failures;
    _Atomic uint64_t tls_log_ms;    /* when a TLS failure to it was last logged (the log is rate-limited) */
    _Atomic uint64_t tls_log_left_out; /* TLS failures not logged since */
    _Atomic uint32_t early_send_misses; /* new connections in a row whose request could not go out straight after
                                         * connect(2) (proxy/upstream_pool.c: the connect had not completed) */
    uint32_t index;                 /* dense index, for per-worker arrays (keep-alive pools, TLS sessions) */
    unsigned char tls;              /* interned with a TLS profile: connections to it are TLS */
};

/* Finds or creates the endpoint for an IP literal and port. Returns NULL (and an error text in err) when the
 * address is not an IPv4/IPv6 literal or the port is out of range. Not thread-safe: the snapshot builder only. */
struct tg_endpoint *tg_endpoint_intern(const char *address, long port, char *err, size_t err_size);
/* The same for an endpoint reached with TLS settings whose digest is tls_profile (NULL or "": plain TCP, as
 * tg_endpoint_intern). The name stays "address:port". */
struct tg_endpoint *tg_endpoint_intern_tls(const char *address, long port, const char *tls_profile, char *err,
                                           size_t err_size);
/* Number of endpoints ever interned (upper bound of index + 1); safe from any thread. */
uint32_t tg_endpoint_count(void);

#endif
