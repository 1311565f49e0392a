/* redis_counter.h — quota counters shared by data-plane replicas in Redis: each worker keeps its own
 * asynchronous hiredis connections (one per Redis address, at most 16, in the worker's TG_WORKER_SLOT_REDIS
 * slot) driven by the worker's libev loop; nothing ever blocks the loop.
 *
 * One count is `MULTI; INCR key; PEXPIRE key ttl; EXEC`, written in one go and answered in one round trip; the
 * key expires shortly after its window ends. A password (the Secret named by passwordSecretName) is sent with
 * AUTH right after connecting.
 *
 * Failure handling: a host name is resolved on a short-lived thread (getaddrinfo blocks), then connected
 * without blocking; connecting (resolution included) must finish within 500 ms and every answer must come
 * within 500 ms of its command, or the connection is dropped and its waiting counts fail. A failed or dropped
 * connection is retried after a backoff (100 ms doubling to 5 s, with jitter); meanwhile counts fail at once
 * (tg_redis_incr returns NULL) so requests never queue behind a dead Redis. What a failure means — let the
 * request through or answer 503 — is the quota policy's choice (failOpen). */
#ifndef TG_REDIS_COUNTER_H
#define TG_REDIS_COUNTER_H

#include <stddef.h>
#include <stdint.h>

struct tg_worker;
struct tg_redis_request;

#define TG_REDIS_HOST_MAX 253 /* TG_HOST_MAX of host_port.h: redisAddress is parsed with tg_host_port_parse */
#define TG_REDIS_PASSWORD_MAX 512

/* The result of a count: ok = 1 with the key's count after this increment, or ok = 0 when Redis could not
 * answer (connection lost, timeout, error reply). Called on w's loop, never from inside tg_redis_incr. */
typedef void (*tg_redis_done_fn)(void *arg, int ok, long long count);

/* Counts one request under key (len bytes), which expires ttl_ms from now. password may be NULL or "". Returns
 * the pending request, or NULL when Redis is known to be unavailable right now (done will not be called). */
struct tg_redis_request *tg_redis_incr(struct tg_worker *w, const char *host, uint16_t port, const char *password,
                                       const char *key, size_t len, uint64_t ttl_ms, tg_redis_done_fn done,
                                       void *arg);
/* Abandons a pending request: done will not be called. */
void tg_redis_request_cancel(struct tg_redis_request *r);

/* Counts that failed (every worker, since start), for metrics and tests. */
uint64_t tg_redis_failures(void);

#endif
