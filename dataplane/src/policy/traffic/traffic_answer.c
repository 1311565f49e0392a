/* traffic_answer.c — the response edits carried by the gateway's own answers (traffic_answer.h). */
#include "policy/traffic/traffic_answer.h"

#include "policy/policy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The response edits a gateway answer keeps: CORS and rate-limit fields (never framing or content fields). */
static int carried(const struct tg_header_edit *e)
{
    return !e->remove && (strncasecmp(e->name, "access-control-", 15) == 0 || strcasecmp(e->name, "vary") == 0 ||
                          strncasecmp(e->name, "x-ratelimit-", 12) == 0);
}

/* 1 when the "Name: value\r\n" lines of headers have a field called name (ASCII case-insensitive). */
static int has_field(const char *headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = headers; *line;) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':')
            return 1;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        line = eol + 2;
    }
    return 0;
}

void tg_answer_carry_edits(const struct tg_policy_ctx *ctx, char *headers, size_t size)
{
    size_t len = strlen(headers);
    for (size_t i = 0; i < ctx->num_response_edits; i++) {
        const struct tg_header_edit *e = &ctx->response_edits[i];
        if (!carried(e) || has_field(headers, e->name))
            continue; /* the answer's own field wins (e.g. the X-RateLimit-* of the refusing quota) */
        int n = snprintf(headers + len, size - len, "%s: %s\r\n", e->name, e->value);
        if (n < 0 || (size_t)n >= size - len) {
            headers[len] = '\0';
            continue;
        }
        len += (size_t)n;
    }
}

void tg_traffic_reject(struct tg_policy_ctx *ctx, int status, const char *code, const char *message,
                       const char *own_headers)
{
    char headers[sizeof ctx->extra_headers];
    int n = snprintf(headers, sizeof headers, "%s", own_headers ? own_headers : "");
    if (n < 0 || (size_t)n >= sizeof headers)
        headers[0] = '\0';
    tg_answer_carry_edits(ctx, headers, sizeof headers);
    tg_policy_reject(ctx, status, code, message, headers);
}
