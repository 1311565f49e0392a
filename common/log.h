/* log.h — process-wide logging: levels, one line per event on stderr, ISO-8601 UTC timestamps, thread-safe.
 * Callers never log credentials: the data plane redacts with dataplane/src/auth_redact.h before a header or
 * query value reaches a log line, a debug record or analytics. */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stddef.h>

enum tg_log_level { TG_LOG_DEBUG = 0, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR, TG_LOG_OFF };

/* Parses "debug|info|warn|error|off"; returns -1 on anything else. */
int tg_log_parse_level(const char *name);
void tg_log_set_level(enum tg_log_level level);
enum tg_log_level tg_log_get_level(void);
/* The component name printed on every line ("dataplane", "controller", ...). */
void tg_log_set_component(const char *name);

void tg_log_write(enum tg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tg_debug(...) do { if (tg_log_get_level() <= TG_LOG_DEBUG) tg_log_write(TG_LOG_DEBUG, __VA_ARGS__); } while (0)
#define tg_info(...) tg_log_write(TG_LOG_INFO, __VA_ARGS__)
#define tg_warn(...) tg_log_write(TG_LOG_WARN, __VA_ARGS__)
#define tg_error(...) tg_log_write(TG_LOG_ERROR, __VA_ARGS__)

#endif
