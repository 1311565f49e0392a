/* loop_metrics.c — the event loops' own /metrics family: tollgate_event_loop_iteration_duration_seconds, one
 * histogram per worker (label worker="N") of how long each loop iteration worked, from the wake-up to the next
 * sleep (loop/worker.c records it; a long iteration is every other connection's latency). Main thread, at scrape. */
#include "process/dataplane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tg_metrics_append_loop(struct tg_dataplane *dp, char *text)
{
    static const char head[] =
        "# HELP tollgate_event_loop_iteration_duration_seconds Time each event-loop iteration spent working "
        "(wake-up to the next sleep), per worker.\n"
        "# TYPE tollgate_event_loop_iteration_duration_seconds histogram\n";
    size_t cap = sizeof head + (size_t)(dp->num_workers > 0 ? dp->num_workers : 1) * 4096;
    char *out = malloc(cap);
    if (!out)
        return text;
    size_t n = sizeof head - 1;
    memcpy(out, head, n);
    for (int i = 0; i < dp->num_workers; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "worker=\"%d\"", i);
        if (tg_histogram_render(&dp->workers[i].iterations, "tollgate_event_loop_iteration_duration_seconds",
                                labels, out, cap - 1, &n) < 0)
            break; /* cannot happen with 4 KiB per worker; the scrape shows what fitted */
    }
    out[n] = '\0';
    size_t have = text ? strlen(text) : 0;
    char *joined = realloc(text, have + n + 1);
    if (!joined) {
        free(out);
        return text;
    }
    memcpy(joined + have, out, n + 1);
    free(out);
    return joined;
}
