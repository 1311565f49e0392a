/* idle.h — the idle-sessions scenario: open N WebSocket sessions through a proxy, spread over several client
 * processes (each process stays far below its file-descriptor limit), let them sit idle, and report how much the
 * proxy's resident memory grew per session: (sum of VmRSS of the given PIDs after - before) / N, read from
 * /proc/PID/status. The sessions stay open while memory is read; a session lost during the hold is reported. */
#ifndef TG_BENCH_IDLE_H
#define TG_BENCH_IDLE_H

#include <stdio.h>
#include <sys/types.h>

#include "bench.h"

#define TG_BENCH_IDLE_MAX_PIDS 64

struct tg_bench_idle_opts {
    struct tg_bench_target target;
    const char *label;
    long sessions;            /* total sessions to open */
    long procs;               /* client processes to spread them over */
    double settle_s;          /* idle time between the last open and the second RSS reading */
    double connect_timeout_s; /* for opening all sessions */
    pid_t pids[TG_BENCH_IDLE_MAX_PIDS]; /* the proxy's processes whose VmRSS is summed (none: no memory figure) */
    int npids;
};

/* Runs the scenario; prints "RESULT scenario=idle ..." on out. 0, or -1 when sessions could not be opened. */
int tg_bench_run_idle(const struct tg_bench_idle_opts *o, FILE *out);

/* Sum of VmRSS in KiB over pids; -1 when one of them cannot be read. */
long tg_bench_rss_kib(const pid_t *pids, int npids);

#endif
