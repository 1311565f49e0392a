/* log.c — see log.h. One fprintf per line (stdio locks the stream), so lines from threads never interleave;
 * every line goes through tg_log_redact (the scrub of credential-shaped text) before it is written. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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
    char msg[2048], clean[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tg_log_redact(msg, clean, sizeof clean);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000L, level_names[level], component, clean);
}

/* ---- the scrub (log.h: tg_log_redact) ------------------------------------------------------------------- */

static const char REDACTED[] = "[redacted]";

struct sink {
    char *out;
    size_t size, len;
};

static void put(struct sink *s, const char *p, size_t n)
{
    size_t room = s->size - 1 - s->len;
    if (n > room)
        n = room;
    memcpy(s->out + s->len, p, n);
    s->len += n;
}

static int is_alnum(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
static int is_token68(unsigned char c) { return is_alnum(c) || (c && strchr("-._~+/", c) != NULL); }
static int is_b64url(unsigned char c) { return is_alnum(c) || c == '-' || c == '_'; }

/* 1 when a word starts at p: the start of the text or after a byte that cannot be inside a name */
static int word_start(const char *text, const char *p)
{
    return p == text || (!is_alnum((unsigned char)p[-1]) && p[-1] != '_' && p[-1] != '-');
}

/* Length of word at p (case-insensitive), 0 when p does not start with it. */
static size_t starts(const char *p, const char *word)
{
    size_t n = strlen(word);
    return strncasecmp(p, word, n) == 0 ? n : 0;
}

/* Bytes from p up to (not including) the first NUL or a byte of stop. */
static size_t run_until(const char *p, const char *stop)
{
    size_t n = 0;
    while (p[n] && !strchr(stop, p[n]))
        n++;
    return n;
}

/* A JWS compact serialization at p (RFC 7515 §7.1: three base64url parts; a JOSE header always starts
 * "eyJ", the base64url of '{"'): its length, or 0. */
static size_t jws_at(const char *p)
{
    if (strncmp(p, "eyJ", 3) != 0)
        return 0;
    size_t i = 0, part = 0;
    int dots = 0;
    for (;; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_b64url(c)) {
            part++;
        } else if (c == '.' && dots < 2 && part >= 2) {
            dots++;
            part = 0;
        } else {
            break;
        }
    }
    return dots == 2 ? i : 0;
}

/* "Bearer <token68>" / "Basic <token68>": *keep = the scheme and its spaces, returns the credential's length
 * (0: no match). An auth-param (`Bearer realm="x"`, `error=invalid_token`) is no credential. */
static size_t scheme_at(const char *p, size_t *keep)
{
    size_t w = starts(p, "bearer");
    if (!w)
        w = starts(p, "basic");
    if (!w || p[w] != ' ')
        return 0;
    size_t k = w;
    while (p[k] == ' ')
        k++;
    size_t t = 0;
    while (is_token68((unsigned char)p[k + t]))
        t++;
    size_t eq = 0;
    while (p[k + t + eq] == '=')
        eq++;
    if (t < 8)
        return 0;
    unsigned char after = (unsigned char)p[k + t + eq];
    if (eq && (after == '"' || is_token68(after)))
        return 0; /* name=value: an auth-param */
    *keep = k;
    return t + eq;
}

/* "Name: value" for the fields that carry credentials. */
static size_t field_at(const char *p, size_t *keep)
{
    static const struct {
        const char *name;
        int keep_scheme;  /* Authorization: the scheme word stays */
        const char *stop; /* what ends the value */
    } fields[] = {
        {"proxy-authorization", 1, "\"'\r\n,"},
        {"authorization", 1, "\"'\r\n,"},
        {"set-cookie", 0, "\"'\r\n"},
        {"cookie", 0, "\"'\r\n"},
        {"x-api-key", 0, "\"'\r\n ,;"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t n = starts(p, fields[i].name);
        if (!n)
            continue;
        size_t k = n;
        while (p[k] == ' ')
            k++;
        if (p[k] != ':')
            return 0;
        k++;
        while (p[k] == ' ')
            k++;
        if (fields[i].keep_scheme) {
            size_t w = 0;
            while (is_alnum((unsigned char)p[k + w]))
                w++;
            if (w && p[k + w] == ' ') {
                k += w;
                while (p[k] == ' ')
                    k++;
            }
        }
        size_t v = run_until(p + k, fields[i].stop);
        if (!v)
            return 0;
        *keep = k;
        return v;
    }
    return 0;
}

/* "name=value" of the query / form parameters that carry credentials, after '?', '&', a space or the start. */
static size_t param_at(const char *text, const char *p, size_t *keep)
{
    static const char *const names[] = {"apikey", "api_key", "api-key", "access_token", "refresh_token",
                                        "id_token", "token", "client_secret", "password", NULL};
    if (p != text && !strchr("?& \t\"'(,;", p[-1]))
        return 0;
    for (size_t i = 0; names[i]; i++) {
        size_t n = starts(p, names[i]);
        if (!n || p[n] != '=')
            continue;
        size_t v = run_until(p + n + 1, "& \t\"'#,;)\r\n");
        if (!v)
            return 0;
        *keep = n + 1;
        return v;
    }
    return 0;
}

/* "://user:password@host": the userinfo's length (from after "://"), or 0. */
static size_t userinfo_at(const char *p)
{
    if (strncmp(p, "://", 3) != 0)
        return 0;
    size_t auth = run_until(p + 3, "/?# \t\"'\r\n");
    size_t at = 0;
    for (size_t i = 0; i < auth; i++)
        if (p[3 + i] == '@')
            at = i + 1;
    return at ? at - 1 : 0;
}

size_t tg_log_redact(const char *in, char *out, size_t out_size)
{
    if (!out_size)
        return 0;
    struct sink s = {out, out_size, 0};
    const char *p = in;
    while (*p && s.len + 1 < s.size) {
        size_t keep = 0, secret = 0;
        if (word_start(in, p)) {
            if ((secret = jws_at(p)) == 0 && (secret = scheme_at(p, &keep)) == 0 &&
                (secret = field_at(p, &keep)) == 0)
                secret = param_at(in, p, &keep);
        }
        if (!secret && (secret = userinfo_at(p)) != 0)
            keep = 3;
        if (secret) {
            put(&s, p, keep);
            put(&s, REDACTED, sizeof REDACTED - 1);
            p += keep + secret;
        } else {
            put(&s, p, 1);
            p++;
        }
    }
    out[s.len] = '\0';
    return s.len;
}
