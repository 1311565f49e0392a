/* log.c — see log.h. One fprintf per line (stdio locks the stream), so lines from threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum tg_log_level current_level = TG_LOG_INFO;
static const char *component = "tollgate";

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int tg_log_parse_level(const char *name)
{
    for (int i = 0; i <= TG_LOG_OFF; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void tg_log_set_level(enum tg_log_level level) { current_level = level; }
enum tg_log_level tg_log_get_level(void) { return current_level; }
void tg_log_set_component(const char *name) { component = name; }

void tg_log_write(enum tg_log_level level, const char *fmt, ...)
{
    if (level < current_level || level >= TG_LOG_OFF)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000L, level_names[level], component, msg);
}
