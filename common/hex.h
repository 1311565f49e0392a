/* hex.h — base16 (RFC 4648 §8) for digests and escapes: lower-case encoding, strict decoding of either case,
 * and the value of one hex digit (HTTP chunk sizes, percent-escapes). Shared by the data plane (credential
 * digests, counter names, query decoding), the HTTP/1 parser and the controller (API-key digests). */
#ifndef TG_HEX_H
#define TG_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void tg_hex_encode(const uint8_t *in, size_t len, char *out);
/* Exactly 2 * len hex digits (either case) → len bytes; 0 or -1. */
int tg_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t len);

/* The value of the hex digit c (0-9, a-f, A-F), or -1. */
static inline int tg_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
