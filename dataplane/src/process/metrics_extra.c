/* metrics_extra.c — the /metrics families of issue 13 that live beside process/metrics.c's counters: the
 * analytics sink (written, dropped, write errors) and the debug sessions (live count). Main thread. */
#include "process/dataplane.h"

void tg_metrics_append_process(struct tg_dataplane *dp, struct tg_metrics_text *t)
{
    tg_debug_store_expire(&dp->debug); /* sessions past their duration no longer count as live */
    if (dp->analytics_path)
        tg_analytics_log_render(&dp->analytics, t);
    tg_mtext_family(t, "tollgate_debug_sessions_active", "gauge", "Debug sessions recording now.");
    tg_mtext_printf(t, "tollgate_debug_sessions_active %d\n",
                    atomic_load_explicit(&dp->debug.active, memory_order_relaxed));
}
