/* balancer.c — see balancer.h. */
#include "proxy/balancer.h"

struct tg_endpoint *tg_balancer_choose(struct tg_proxy_cfg *px, struct tg_worker *w)
{
    size_t n = px->num_endpoints;
    if (n == 0)
        return NULL;
    switch (px->lb) {
    case TG_LB_RANDOM:
        return px->endpoints[tg_worker_random(w) % n];
    case TG_LB_LEAST_CONNECTIONS: {
        /* fewest active connections; ties broken round-robin so equal endpoints share the load */
        uint32_t start = atomic_fetch_add_explicit(&px->rr_next, 1, memory_order_relaxed);
        struct tg_endpoint *best = NULL;
        uint32_t best_active = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            struct tg_endpoint *ep = px->endpoints[(start + i) % n];
            uint32_t active = atomic_load_explicit(&ep->active, memory_order_relaxed);
            if (active < best_active) {
                best = ep;
                best_active = active;
            }
        }
        return best;
    }
    case TG_LB_ROUND_ROBIN:
    default:
        return px->endpoints[atomic_fetch_add_explicit(&px->rr_next, 1, memory_order_relaxed) % n];
    }
}
