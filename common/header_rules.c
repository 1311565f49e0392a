/* header_rules.c — header-edit rules shared by controller and data plane (header_rules.h). */
#include "header_rules.h"

#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int tg_http_token_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

const char *tg_header_edit_name_check(const char *name, int request)
{
    static const char *const owned[] = {"connection", "upgrade", "content-length", "transfer-encoding", "te",
                                        "trailer", "keep-alive", "proxy-connection", NULL};
    size_t n = strlen(name);
    if (n == 0 || n > TG_EDIT_NAME_MAX)
        return "a header name has 1 to 63 characters";
    if (!tg_http_token_ok(name, n, TG_EDIT_NAME_MAX))
        return "not a header name (RFC 9110 token characters only)";
    for (size_t i = 0; owned[i]; i++)
        if (strcasecmp(name, owned[i]) == 0)
            return "framing and hop-by-hop headers cannot be changed";
    if (request && strcasecmp(name, "host") == 0)
        return "Host cannot be changed";
    if (strncasecmp(name, "sec-websocket-", 14) == 0)
        return "Sec-WebSocket-* handshake headers cannot be changed";
    return NULL;
}

const char *tg_header_edit_value_check(const char *s, size_t n)
{
    if (n > TG_EDIT_VALUE_MAX)
        return "a header value has at most 383 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "a header value cannot hold CR, LF, NUL or other control characters";
    }
    if (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        return "a header value cannot start or end with whitespace";
    return NULL;
}
