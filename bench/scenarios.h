/* scenarios.h — the measuring scenarios of tollgate-bench, each run on one libev loop in the calling process:
 *   echo latency:    C connections, each sends one message, waits for its echo, repeats (window 1); the round
 *                    trip of every message measured goes into a histogram (p50/p90/p99/p99.9/max);
 *   echo throughput: C connections each keep W messages in flight (pipelining window), messages/s and MiB/s of
 *                    echoed payload.
 *   upgrade:         C connections, each looping connect → upgrade request → 101 → close frame → the server's
 *                    close frame and FIN → close (a reconnect storm at constant concurrency): completed upgrades
 *                    per second, and the connect-to-101 time of each in a histogram.
 * The idle-sessions scenario lives in idle.c. Results are one line on stdout, "RESULT key=value ...", which
 * bench/run.sh collects. */
#ifndef TG_BENCH_SCENARIOS_H
#define TG_BENCH_SCENARIOS_H

#include <stddef.h>
#include <stdio.h>

#include "bench.h"

struct tg_bench_echo_opts {
    struct tg_bench_target target;
    const char *label;       /* copied into the RESULT line */
    long conns;              /* concurrent connections (1..10000) */
    long window;             /* messages in flight per connection; 1 = latency mode with a histogram */
    size_t size;             /* payload bytes per message */
    double warmup_s;         /* traffic before measuring starts */
    double duration_s;       /* measured interval */
    double connect_timeout_s;
};

/* Runs the echo scenario; prints the RESULT line on out. Returns 0, or -1 when a connection could not be opened
 * or broke during the run (the reason on stderr; partial figures would mislead, so none are printed). */
int tg_bench_run_echo(const struct tg_bench_echo_opts *o, FILE *out);

struct tg_bench_upgrade_opts {
    struct tg_bench_target target; /* path and extra headers (an API key) of every upgrade request */
    const char *label;
    long conns;                    /* connections looping at once (1..10000) */
    double warmup_s, duration_s;
};

/* Runs the upgrade scenario; prints the RESULT line on out (upgrades counted in msgs/msgs_per_s, so run.sh
 * divides the proxy's CPU by them). Returns 0, or -1 when any upgrade failed (refused, broken or not closed
 * cleanly) during the run: the reason on stderr, no figures. */
int tg_bench_run_upgrade(const struct tg_bench_upgrade_opts *o, FILE *out);

#endif
