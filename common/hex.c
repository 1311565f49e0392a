/* hex.c — see hex.h. */
#include "hex.h"

void tg_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int tg_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t len)
{
    if (hex_len != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int hi = tg_hex_digit((unsigned char)hex[2 * i]), lo = tg_hex_digit((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
