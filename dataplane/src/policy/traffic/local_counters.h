/* local_counters.h — the rate policies' counters shared by every worker of the process: quota's fixed-window
 * counts and spike arrest's next-admission times, keyed by a 16-byte digest the policy derives from (proxy,
 * policy, identifier).
 *
 * The maps outlive snapshots (a configuration push does not reset anybody's quota) and are bounded: 32 shards,
 * each with its own mutex (held for a lookup and an update, never across I/O) and at most 4096 entries. An
 * entry expires at its window's end (quota) or its next admission time (spike arrest); expired entries are
 * reused in place, and swept when a shard is full. A full shard with nothing expired evicts the entry that
 * expires first — under a flood of distinct identifiers an old identifier may lose its count early, but the
 * memory stays bounded (about 6 MB per map at worst). */
#ifndef TG_LOCAL_COUNTERS_H
#define TG_LOCAL_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define TG_COUNTER_KEY_LEN 16
#define TG_COUNTER_SHARDS 32
#define TG_COUNTER_SHARD_MAX 4096

/* Counts one request in the window ending at window_end_ms (wall clock); returns the window's count with it. */
uint64_t tg_local_quota_incr(const uint8_t key[TG_COUNTER_KEY_LEN], uint64_t window_end_ms, uint64_t now_ms);

/* Spike arrest for one request at now_us (monotonic): 1 admitted, 0 refused with the wait in *wait_us. */
int tg_local_spike_admit(const uint8_t key[TG_COUNTER_KEY_LEN], uint64_t now_us, uint64_t interval_us,
                         uint64_t *wait_us);

/* Quota entries currently held (live or expired-not-yet-swept), for tests. */
size_t tg_local_quota_entries(void);

#endif
