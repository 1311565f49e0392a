/* test_dp_analytics_log.c — process/analytics_log.c: lines reach the file in order, a full queue drops and
 * counts instead of blocking (the writer held up on a pipe nobody reads), reopen after a rename writes to a new
 * file, stop flushes what is queued. */
#include "process/analytics_log.h"
#include "tg_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void emit(struct tg_analytics_log *log, const char *text)
{
    char *line = strdup(text);
    log->hooks.emit(log->hooks.owner, line, strlen(line));
}

static long file_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_write_and_reopen(void)
{
    char dir[] = "/tmp/tg-analytics-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], rotated[256];
    snprintf(path, sizeof path, "%s/a.jsonl", dir);
    snprintf(rotated, sizeof rotated, "%s/a.jsonl.1", dir);
    struct tg_analytics_log log;
    CHECK_EQ_INT(tg_analytics_log_start(&log, path, 1000), 0);
    for (int i = 0; i < 100; i++)
        emit(&log, "{\"a\":1}\n");
    for (int i = 0; i < 200 && atomic_load(&log.written) < 100; i++)
        usleep(5000);
    CHECK_EQ_INT(atomic_load(&log.written), 100);
    CHECK_EQ_INT(file_lines(path), 100);
    CHECK_EQ_INT(rename(path, rotated), 0);
    tg_analytics_log_reopen(&log);
    for (int i = 0; i < 200 && access(path, F_OK) != 0; i++)
        usleep(5000);
    emit(&log, "{\"b\":2}\n");
    tg_analytics_log_stop(&log); /* flushes */
    CHECK_EQ_INT(file_lines(path), 1);
    CHECK_EQ_INT(file_lines(rotated), 100);
    CHECK_EQ_INT(atomic_load(&log.dropped), 0);
    struct tg_metrics_text out = {0};
    tg_analytics_log_render(&log, &out);
    CHECK(out.data && strstr(out.data, "tollgate_analytics_records_written_total 101\n") != NULL);
    free(out.data);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

static void test_full_queue_drops(void)
{
    char dir[] = "/tmp/tg-analytics-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/p", dir);
    CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
    int reader = open(fifo, O_RDONLY | O_NONBLOCK); /* never read: the writer blocks once the pipe is full */
    struct tg_analytics_log log;
    CHECK_EQ_INT(tg_analytics_log_start(&log, fifo, 4), 0);
    char big[4096];
    memset(big, 'x', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200; i++) /* 800 KB: far more than a pipe holds */
        emit(&log, big);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms < 500); /* the producer never waited for the writer */
    CHECK(atomic_load(&log.dropped) > 0);
    /* let the writer finish: drain the pipe while stopping */
    int flags = fcntl(reader, F_GETFL);
    fcntl(reader, F_SETFL, flags & ~O_NONBLOCK);
    pid_t pid = fork();
    if (pid == 0) {
        close(log.fd); /* the child must not hold a writer end, or it never sees EOF */
        char buf[65536];
        while (read(reader, buf, sizeof buf) > 0) {
        }
        _exit(0);
    }
    tg_analytics_log_stop(&log);
    close(reader);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    CHECK_EQ_INT(atomic_load(&log.dropped) + atomic_load(&log.written), 200);
    unlink(fifo);
    rmdir(dir);
}

int main(void)
{
    test_write_and_reopen();
    test_full_queue_drops();
    TG_TEST_MAIN_END();
}
