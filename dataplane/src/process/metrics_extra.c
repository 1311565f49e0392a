/* metrics_extra.c — the /metrics families of issue 13 that live beside process/metrics.c's counters: the
 * analytics sink (written, dropped, write errors) and the debug sessions (live count). Main thread. */
#include "process/dataplane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tg_metrics_append_process(struct tg_dataplane *dp, char *text)
{
    char extra[2048];
    size_t n = 0;
    tg_debug_store_expire(&dp->debug); /* sessions past their duration no longer count as live */
    if (dp->analytics_path)
        n += tg_analytics_log_render(&dp->analytics, extra, sizeof extra);
    int k = snprintf(extra + n, sizeof extra - n,
                     "# HELP tollgate_debug_sessions_active Debug sessions recording now.\n"
                     "# TYPE tollgate_debug_sessions_active gauge\n"
                     "tollgate_debug_sessions_active %d\n",
                     atomic_load_explicit(&dp->debug.active, memory_order_relaxed));
    if (k > 0 && (size_t)k < sizeof extra - n)
        n += (size_t)k;
    size_t have = text ? strlen(text) : 0;
    char *out = realloc(text, have + n + 1);
    if (!out)
        return text;
    memcpy(out + have, extra, n);
    out[have + n] = '\0';
    return out;
}
