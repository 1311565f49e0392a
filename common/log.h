/* log.h — process-wide logging: levels, one line per event on stderr, ISO-8601 UTC timestamps, thread-safe.
 *
 * Credentials never reach a log line, in two layers:
 *   1. callers redact what they know is a request's credential before formatting it: the data plane's
 *      dataplane/src/policy/auth/auth_redact.h knows, for a proxy, every header and query parameter its
 *      verifyApiKey / oauthV2 policies read keys and tokens from (tg_redact_target, tg_redact_header_value,
 *      tg_redact_request);
 *   2. every line is scrubbed once more by tg_log_redact below, whatever the caller did: what has the shape of
 *      a credential is replaced by "[redacted]" (a last line of defence: it cannot know a proxy's custom
 *      header or query names, which layer 1 covers). */
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

/* The scrub every log line goes through (layer 2 above). Copies in to out (always NUL-terminated, cut at
 * out_size - 1 bytes) with these replaced by "[redacted]" (names matched case-insensitively):
 *   - the credential after "Bearer " (RFC 6750 §2.1) and after "Basic " (RFC 7617) when it has 8 or more
 *     token68 characters; an auth-param (`Bearer realm="x"`) is not a credential and stays;
 *   - the value after "Authorization:", "Proxy-Authorization:" (the scheme word is kept), "Cookie:",
 *     "Set-Cookie:", "X-Api-Key:" (up to the end of the line or a quote);
 *   - the value of the query / form parameters apikey, api_key, api-key, access_token, refresh_token,
 *     id_token, token, client_secret, password (after '?', '&', a space or the start: up to '&', a space, a
 *     quote, '#' or the end);
 *   - URL userinfo ("scheme://user:password@host" → "scheme://[redacted]@host");
 *   - anything shaped like a JWS/JWT (three base64url parts, the first starting with "eyJ").
 * Returns the length written. Pure; thread-safe. */
size_t tg_log_redact(const char *in, char *out, size_t out_size);

#define tg_debug(...) do { if (tg_log_get_level() <= TG_LOG_DEBUG) tg_log_write(TG_LOG_DEBUG, __VA_ARGS__); } while (0)
#define tg_info(...) tg_log_write(TG_LOG_INFO, __VA_ARGS__)
#define tg_warn(...) tg_log_write(TG_LOG_WARN, __VA_ARGS__)
#define tg_error(...) tg_log_write(TG_LOG_ERROR, __VA_ARGS__)

#endif
