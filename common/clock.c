/* clock.c — RFC 3339 formatting for clock.h. */
#include "clock.h"

#include <stdio.h>

void tg_format_rfc3339(uint64_t wall_ms, char *out, unsigned long size)
{
    time_t secs = (time_t)(wall_ms / 1000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000u));
}
