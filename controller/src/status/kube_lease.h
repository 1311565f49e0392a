/* kube_lease.h — leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.
 *
 * Owns: the acquire/renew loop (every retry period, jittered), the optimistic-concurrency update of the Lease
 * (resourceVersion precondition; a 409 means someone else moved first), expiry judged on this replica's own
 * monotonic clock (a record that has not changed for leaseDurationSeconds since we first saw it is free —
 * no trust in other replicas' clocks), the renew deadline (a leader that could not renew within it steps
 * down at once, even while its request still hangs), and release on shutdown (holder cleared so a successor
 * need not wait out the lease).
 *
 * States: FOLLOWING (someone else holds a live lease, or we do not know yet) and LEADING (our last renew is
 * younger than the renew deadline). Every change is reported through the callback, immediately.
 * Timers: two ev_timers owned by the Lease (the retry tick, the renew deadline) on the controller's loop.
 */
#ifndef TG_KUBE_LEASE_H
#define TG_KUBE_LEASE_H

#include <stdint.h>

struct tg_kube_client;
struct tg_kube_lease;

struct tg_kube_lease_opts {
    const char *namespace_;      /* where the Lease lives */
    const char *name;            /* its name */
    const char *identity;        /* this replica's holderIdentity */
    uint32_t lease_duration_ms;  /* how long a lease lasts without renewal (15 s) */
    uint32_t renew_deadline_ms;  /* a leader steps down when it could not renew for this long (10 s) */
    uint32_t retry_period_ms;    /* how often to try acquiring or renewing (2 s) */
};

typedef void (*tg_kube_lease_cb)(void *arg, int leading);

/* Returns NULL on invalid options (renew deadline must be below the lease duration, retry period below the
 * renew deadline) or allocation failure. */
struct tg_kube_lease *tg_kube_lease_new(struct tg_kube_client *c, const struct tg_kube_lease_opts *o,
                                        tg_kube_lease_cb cb, void *arg);
void tg_kube_lease_start(struct tg_kube_lease *l);
/* When leading, clears the holder with one request and runs the loop until it is answered (at most
 * timeout_ms). Reports leading=0 first. */
void tg_kube_lease_release(struct tg_kube_lease *l, uint32_t timeout_ms);
void tg_kube_lease_free(struct tg_kube_lease *l);

/* metav1.MicroTime text: RFC 3339 with exactly six fraction digits, UTC. out ≥ 32 bytes. */
void tg_kube_micro_time(uint64_t wall_us, char *out, unsigned long outlen);

#endif
