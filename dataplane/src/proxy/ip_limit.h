/* ip_limit.h — the process-wide count of live connections per client IP (--max-connections-per-ip). An inbound
 * connection takes one slot of its peer's address at accept and keeps it for its whole life, through a WebSocket
 * session's relay if it becomes one; over the cap the socket is closed at once, before anything of it is read
 * (as nginx's limit_conn sheds, without spending an answer on it). Memory is bounded by the connections alive:
 * an address's entry exists only while it holds a slot. Shared by every worker, under one mutex (touched once
 * at accept and once at close, never per byte). */
#ifndef TG_IP_LIMIT_H
#define TG_IP_LIMIT_H

#include <pthread.h>
#include <stddef.h>

#define TG_IP_LIMIT_BUCKETS 4096

struct tg_ip_limit_entry;

struct tg_ip_limit {
    pthread_mutex_t lock;
    size_t max_per_ip;              /* > 0 */
    size_t num_entries;             /* distinct addresses holding a slot */
    struct tg_ip_limit_entry *buckets[TG_IP_LIMIT_BUCKETS];
};

void tg_ip_limit_init(struct tg_ip_limit *l, size_t max_per_ip);
void tg_ip_limit_destroy(struct tg_ip_limit *l);
/* Takes a slot for ip (text form). Returns 1 (taken: release it later) or 0 (the address is at the cap, or out
 * of memory: shed the connection). */
int tg_ip_limit_acquire(struct tg_ip_limit *l, const char *ip);
/* Gives back a slot ip took. */
void tg_ip_limit_release(struct tg_ip_limit *l, const char *ip);
/* Slots ip holds now (tests, metrics). */
size_t tg_ip_limit_count(struct tg_ip_limit *l, const char *ip);

#endif
