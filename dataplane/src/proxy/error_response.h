/* error_response.h — the gateway's own error answers: status line, headers and the JSON body of DESIGN.md
 * ({"error":{"status":401,"code":"auth.missing_api_key","message":"..."}}). Pure formatting, no I/O. */
#ifndef TG_ERROR_RESPONSE_H
#define TG_ERROR_RESPONSE_H

#include <stddef.h>

/* Formats a complete error response (status line, headers, JSON body) into out; returns its length. extra_headers
 * is NULL or "Name: value\r\n" lines; close adds "Connection: close". */
size_t tg_format_error_response(char *out, size_t size, int status, const char *code, const char *message,
                                const char *extra_headers, int close);

#endif
