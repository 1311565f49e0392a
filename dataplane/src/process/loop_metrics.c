/* loop_metrics.c — the event loops' own /metrics families: tollgate_event_loop_iteration_duration_seconds, one
 * histogram per worker (label worker="N") of how long each loop iteration worked, from the wake-up to the next
 * sleep (loop/worker.c records it; a long iteration is every other connection's latency), and
 * tollgate_event_loop_yields_total, the busy iterations that gave the CPU away (--yield-after-us). Main thread,
 * at scrape. */
#include "process/dataplane.h"

#include <stdio.h>

void tg_metrics_append_loop(struct tg_dataplane *dp, struct tg_metrics_text *t)
{
    static const char name[] = "tollgate_event_loop_iteration_duration_seconds";
    tg_mtext_family(t, name, "histogram",
                    "Time each event-loop iteration spent working (wake-up to the next sleep), per worker.");
    for (int i = 0; i < dp->num_workers; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "worker=\"%d\"", i);
        tg_mtext_histogram(t, &dp->workers[i].iterations, name, labels);
    }
    tg_mtext_family(t, "tollgate_event_loop_yields_total", "counter",
                    "Loop iterations that worked at least --yield-after-us and ended with sched_yield, per worker.");
    for (int i = 0; i < dp->num_workers; i++)
        tg_mtext_printf(t, "tollgate_event_loop_yields_total{worker=\"%d\"} %llu\n", i,
                        (unsigned long long)atomic_load_explicit(&dp->workers[i].yields, memory_order_relaxed));
}
