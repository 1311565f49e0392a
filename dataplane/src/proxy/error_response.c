/* error_response.c — the gateway's own HTTP answers: the JSON error body of DESIGN.md
 * ({"error":{"status":401,"code":"auth.missing_api_key","message":"..."}}). */
#include "proxy/error_response.h"

#include "http_status.h"

#include <stdio.h>
#include <string.h>

/* JSON string escaping for the fixed ASCII texts the gateway produces (quotes, backslashes, controls). */
static size_t json_escape(char *out, size_t size, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o;
}

size_t tg_format_error_response(char *out, size_t size, int status, const char *code, const char *message,
                                const char *extra_headers, int close)
{
    char body[768], esc_code[128], esc_msg[512];
    json_escape(esc_code, sizeof esc_code, code);
    json_escape(esc_msg, sizeof esc_msg, message);
    int body_len = snprintf(body, sizeof body, "{\"error\":{\"status\":%d,\"code\":\"%s\",\"message\":\"%s\"}}\n",
                            status, esc_code, esc_msg);
    if (body_len < 0 || (size_t)body_len >= sizeof body)
        body_len = (int)strlen(body);
    int n = snprintf(out, size,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s%s\r\n%s",
                     status, tg_http_reason(status), body_len, close ? "Connection: close\r\n" : "",
                     extra_headers ? extra_headers : "", body);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}
