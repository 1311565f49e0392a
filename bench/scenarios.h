/* scenarios.h — the measuring scenarios of tollgate-bench, each run on one libev loop in the calling process:
 *   echo latency:    C connections, each sends one message, waits for its echo, repeats (window 1); the round
 *                    trip of every message measured goes into a histogram (p50/p90/p99/p99.9/max);
 *   echo throughput: C connections each keep W messages in flight (pipelining window), messages/s and MiB/s of
 *                    echoed payload.
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

#endif
