/* balancer.h — which endpoint of an API proxy's target takes the next connection: roundRobin (a cursor shared by
 * the workers), leastConnections (fewest active connections across all workers, ties broken round-robin) or
 * random (the worker's generator). Reads the endpoints' atomic counters; holds no state of its own. */
#ifndef TG_BALANCER_H
#define TG_BALANCER_H

#include "config/snapshot.h"
#include "loop/worker.h"

/* The endpoint for the next connection, or NULL when the proxy has none. */
struct tg_endpoint *tg_balancer_choose(struct tg_proxy_cfg *proxy, struct tg_worker *w);

#endif
