/* proxy_settings.h — the process-wide settings of the proxying layer (from the command line, fixed while the
 * process runs): where to listen, head limits and timeouts of inbound connections, the upstream keep-alive
 * pools, the per-worker connection cap. Types only. */
#ifndef TG_PROXY_SETTINGS_H
#define TG_PROXY_SETTINGS_H

#include "path_normalize.h"

#include <stddef.h>
#include <stdint.h>

struct tg_ip_limit;
struct tg_cidr;

struct tg_proxy_settings {
    const char *listen_addr;        /* "0.0.0.0:8080" */
    const char *tls_listen_addr;    /* --tls-listen "0.0.0.0:8443", or NULL: no TLS listener */
    const char *tls_default_host;   /* --tls-default-host: whose certificate answers without a known SNI */
    const char *tls_ticket_keys_file; /* --tls-ticket-keys-file: session-ticket keys shared by replicas, or NULL */
    uint64_t tls_ticket_rotation_ms;  /* --tls-ticket-rotation: period of the per-process ticket keys (0: 1 h) */
    size_t max_head_bytes;          /* 32 KiB */
    uint64_t request_head_timeout_ms; /* first byte → full head */
    uint64_t keepalive_timeout_ms;  /* idle client connection between requests */
    uint64_t request_body_timeout_ms; /* head parsed → whole body received, however it trickles (0 = none) */
    uint64_t upstream_idle_timeout_ms; /* idle pooled upstream connection */
    size_t upstream_pool_per_endpoint; /* idle keep-alive connections kept per endpoint per worker */
    size_t max_connections_per_worker; /* 0 = unlimited; WebSocket sessions count */
    struct tg_ip_limit *ip_limit;   /* --max-connections-per-ip (proxy/ip_limit.h), process-wide; NULL: none */
    const struct tg_cidr *trusted_proxies; /* --trusted-proxies: peers whose X-Forwarded-* / Forwarded are kept */
    size_t num_trusted_proxies;
    enum tg_encoded_slashes encoded_slashes; /* --encoded-slashes */
    size_t max_buffers_per_worker;  /* --max-buffer-memory / 32 KiB / workers: the worker's buffer budget (0: none) */
};

#endif
