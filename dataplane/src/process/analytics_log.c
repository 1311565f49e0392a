/* analytics_log.c — see analytics_log.h: a bounded queue drained off the event loops by one writer thread. */
#include "process/analytics_log.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_path(const char *path)
{
    if (!path || strcmp(path, "-") == 0)
        return STDOUT_FILENO;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* on a worker thread: never blocks on I/O, only on the queue's short critical section */
static void on_emit(void *owner, char *line, size_t len)
{
    struct tg_analytics_log *log = owner;
    pthread_mutex_lock(&log->lock);
    if (log->count == log->capacity || log->stop) {
        pthread_mutex_unlock(&log->lock);
        atomic_fetch_add_explicit(&log->dropped, 1, memory_order_relaxed);
        free(line);
        return;
    }
    size_t slot = (log->head + log->count) % log->capacity;
    log->ring[slot] = line;
    log->lens[slot] = len;
    log->count++;
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
}

static void write_all(struct tg_analytics_log *log, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(log->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            atomic_fetch_add_explicit(&log->write_errors, 1, memory_order_relaxed);
            return;
        }
        p += n;
        len -= (size_t)n;
    }
    atomic_fetch_add_explicit(&log->written, 1, memory_order_relaxed);
}

static void *writer(void *arg)
{
    struct tg_analytics_log *log = arg;
    pthread_mutex_lock(&log->lock);
    for (;;) {
        while (log->count == 0 && !log->stop && !atomic_load(&log->reopen))
            pthread_cond_wait(&log->cond, &log->lock);
        if (log->count == 0 && log->stop)
            break;
        if (atomic_exchange(&log->reopen, 0) && log->fd != STDOUT_FILENO) {
            int fd = open_path(log->path);
            if (fd >= 0) {
                close(log->fd);
                log->fd = fd;
            } else {
                tg_warn("analytics log %s: cannot reopen: %s", log->path, strerror(errno));
            }
        }
        if (log->count == 0)
            continue;
        char *line = log->ring[log->head];
        size_t len = log->lens[log->head];
        log->head = (log->head + 1) % log->capacity;
        log->count--;
        pthread_mutex_unlock(&log->lock);
        write_all(log, line, len);
        free(line);
        pthread_mutex_lock(&log->lock);
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}

int tg_analytics_log_start(struct tg_analytics_log *log, const char *path, size_t capacity)
{
    memset(log, 0, sizeof *log);
    log->path = path;
    log->capacity = capacity ? capacity : 1;
    log->fd = open_path(path);
    if (log->fd < 0) {
        tg_error("analytics log %s: %s", path, strerror(errno));
        return -1;
    }
    log->ring = calloc(log->capacity, sizeof *log->ring);
    log->lens = calloc(log->capacity, sizeof *log->lens);
    if (!log->ring || !log->lens)
        return -1;
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->cond, NULL);
    log->hooks = (struct tg_analytics_hooks){.owner = log, .emit = on_emit};
    if (pthread_create(&log->thread, NULL, writer, log) != 0)
        return -1;
    log->started = 1;
    return 0;
}

void tg_analytics_log_reopen(struct tg_analytics_log *log)
{
    if (!log->started)
        return;
    pthread_mutex_lock(&log->lock);
    atomic_store(&log->reopen, 1);
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
}

void tg_analytics_log_stop(struct tg_analytics_log *log)
{
    if (!log->started)
        return;
    pthread_mutex_lock(&log->lock);
    log->stop = 1;
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->thread, NULL);
    if (log->fd != STDOUT_FILENO)
        close(log->fd);
    free(log->ring);
    free(log->lens);
    pthread_mutex_destroy(&log->lock);
    pthread_cond_destroy(&log->cond);
    log->started = 0;
}

void tg_analytics_log_render(struct tg_analytics_log *log, struct tg_metrics_text *t)
{
    tg_mtext_printf(t,
                     "# HELP tollgate_analytics_records_written_total Analytics records written to --analytics-log.\n"
                     "# TYPE tollgate_analytics_records_written_total counter\n"
                     "tollgate_analytics_records_written_total %llu\n"
                     "# HELP tollgate_analytics_records_dropped_total Analytics records dropped because the queue was full.\n"
                     "# TYPE tollgate_analytics_records_dropped_total counter\n"
                     "tollgate_analytics_records_dropped_total %llu\n"
                     "# HELP tollgate_analytics_write_errors_total Failed writes to --analytics-log.\n"
                     "# TYPE tollgate_analytics_write_errors_total counter\n"
                     "tollgate_analytics_write_errors_total %llu\n",
                     (unsigned long long)atomic_load(&log->written), (unsigned long long)atomic_load(&log->dropped),
                     (unsigned long long)atomic_load(&log->write_errors));
}
