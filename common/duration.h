/* duration.h — strict parsing of Kubernetes/Go-style durations ("300s", "1m30s", "500ms", "1.5h", "0s") into
 * milliseconds, and of Apigee-style rates ("20ps", "10pm") for spike arrest.
 *
 * Grammar (Go's time.ParseDuration, minus negative values): one or more <decimal><unit> pairs, where
 * <decimal> is digits with an optional fraction ("1", "1.5", ".5", "1.") and <unit> is one of ns, us, µs, ms,
 * s, m, h; the lone string "0" is also accepted. No sign, no spaces, no empty string. The total must be a
 * whole number of milliseconds (so "1500us" is fine, "1us" is an error) and fit in max_ms. Arithmetic is done
 * in integer nanoseconds with overflow checks, so "99999999999999999999h" is an error, never a wrap-around.
 */
#ifndef TG_DURATION_H
#define TG_DURATION_H

#include <stdint.h>

/* Parses s into *out_ms. Returns 0 on success, -1 on a syntax error, a value that is not a whole number of
 * milliseconds, or a value above max_ms; *err (when non-NULL) then points to a static English reason. */
int tg_duration_parse_ms(const char *s, uint64_t max_ms, uint64_t *out_ms, const char **err);

/* Parses an Apigee rate: <count>ps (per second) or <count>pm (per minute), count 1..UINT32_MAX, decimal
 * digits only. Fills *count and *per_ms (1000 or 60000). Returns 0, or -1 with *err set like above. */
int tg_rate_parse(const char *s, uint64_t *count, uint64_t *per_ms, const char **err);

#endif
