/* analytics_log.h — the analytics sink of --analytics-log PATH|-: a bounded queue of JSON lines filled by the
 * workers (struct tg_analytics_hooks, never blocking: a full queue drops the line and counts it) and drained by
 * one writer thread that owns the file. SIGHUP (logrotate) makes the writer reopen PATH before its next write.
 * The counters are rendered into /metrics. */
#ifndef TG_ANALYTICS_LOG_H
#define TG_ANALYTICS_LOG_H

#include "process/metrics_text.h"
#include "proxy/analytics_hooks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct tg_analytics_log {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char **ring;                    /* capacity slots; head = oldest */
    size_t *lens;
    size_t capacity, head, count;
    int stop;
    _Atomic int reopen;
    int fd;                         /* the writer's; 1 for "-" */
    const char *path;               /* NULL or "-": stdout */
    pthread_t thread;
    int started;
    _Atomic uint64_t written, dropped, write_errors;
    struct tg_analytics_hooks hooks;
};

/* Opens path ("-" = stdout) and starts the writer with a queue of capacity lines. 0, or -1 (logged). */
int tg_analytics_log_start(struct tg_analytics_log *log, const char *path, size_t capacity);
/* Any thread (a signal watcher): reopen the file before the next write. */
void tg_analytics_log_reopen(struct tg_analytics_log *log);
/* Writes what is queued, stops the writer, closes the file. Safe on a log never started. */
void tg_analytics_log_stop(struct tg_analytics_log *log);
/* Appends the analytics counters in Prometheus text to t. */
void tg_analytics_log_render(struct tg_analytics_log *log, struct tg_metrics_text *t);

#endif
