/* base64.c — see base64.h. */
#include "base64.h"

#include <stdlib.h>

/* The value of c in the alphabet whose last two characters are c62 and c63: "+/" for base64 (RFC 4648 §4),
 * "-_" for base64url (§5); -1 when c is not in it. */
static int b64_value(unsigned char c, char c62, char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (unsigned char)c62)
        return 62;
    if (c == (unsigned char)c63)
        return 63;
    return -1;
}

char *tg_base64_decode_alloc(const char *in, size_t in_len, size_t *out_len)
{
    char *out = malloc(in_len / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int nbits = 0, quad = 0, pad = 0;
    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            /* Padding only in the last two places of the last quantum (RFC 4648 §4). */
            if (quad < 2)
                goto bad;
            pad++;
            quad++;
            if (pad > 2)
                goto bad;
            if (quad == 4)
                quad = 0;
            continue;
        }
        if (pad)
            goto bad; /* data after padding */
        int v = b64_value(c, '+', '/');
        if (v < 0)
            goto bad;
        acc = (acc << 6) | (unsigned)v;
        nbits += 6;
        quad = (quad + 1) % 4;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (char)((acc >> nbits) & 0xff);
        }
    }
    if (quad != 0)
        goto bad; /* truncated quantum */
    if (pad && (acc & ((1u << nbits) - 1)) != 0)
        goto bad; /* non-canonical: leftover bits must be zero */
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
bad:
    free(out);
    return NULL;
}

long tg_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_size)
{
    if (len % 4 == 1)
        return -1;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > out_size)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i], '-', '_');
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return -1; /* non-canonical: the leftover bits must be zero */
    return (long)o;
}

size_t tg_b64url_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = digits[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = digits[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}
