/* health.h — the controller's health endpoint (--health ADDR:PORT): GET /healthz (200 while the loop runs),
 * GET /readyz (200 once the first snapshot was acknowledged by the data plane, else 503), GET /metrics
 * (Prometheus text format 0.0.4). One short-lived connection per request (Connection: close), served by
 * common/mini_http_server.h; at most TG_HEALTH_MAX_CONNS connections at a time. */
#ifndef TG_HEALTH_H
#define TG_HEALTH_H

#include <ev.h>
#include <stddef.h>

#define TG_HEALTH_MAX_CONNS 32

struct tg_health_handlers {
    int (*ready)(void *arg);
    /* Writes the metrics text into a malloc'ed buffer (*out, *len); returns 0 or -1. */
    int (*metrics)(void *arg, char **out, size_t *len);
    void *arg;
};

struct tg_health;

/* Binds addr ("127.0.0.1:9902", "[::1]:9902", ":9902" = all addresses). NULL with err filled on failure. */
struct tg_health *tg_health_new(struct ev_loop *loop, const char *addr, const struct tg_health_handlers *h,
                                char *err, size_t errlen);
void tg_health_free(struct tg_health *hs);

#endif
