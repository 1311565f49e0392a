/* request_query.c — the query string of a request target, split and decoded (request_query.h). */
#include "policy/request_query.h"

#include "hex.h"

#include <string.h>

int tg_query_next(struct tg_slice target, size_t *pos, struct tg_query_pair *pair)
{
    const char *start = target.ptr, *end = target.ptr + target.len;
    const char *p;
    if (*pos == 0) {
        const char *q = target.len ? memchr(target.ptr, '?', target.len) : NULL;
        if (!q)
            return 0;
        p = q + 1;
    } else {
        p = start + *pos;
    }
    if (p > end)
        return 0;
    if (p == end) { /* "path?" or a trailing "&": no pair after it */
        *pos = target.len + 1;
        return 0;
    }
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pair_end = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pair_end - p));
    pair->name.ptr = p;
    pair->name.len = (size_t)((eq ? eq : pair_end) - p);
    pair->has_value = eq != NULL;
    pair->value.ptr = eq ? eq + 1 : pair_end;
    pair->value.len = (size_t)(pair_end - pair->value.ptr);
    /* past the '&' (an '&' at the very end leaves *pos at target.len: the next call ends the walk); the
     * walk starts after '?', so a later *pos is never 0 */
    *pos = amp ? (size_t)(amp + 1 - start) : target.len + 1;
    return 1;
}

int tg_query_find(struct tg_slice target, const char *name, struct tg_query_pair *pair)
{
    size_t pos = 0, name_len = strlen(name);
    while (tg_query_next(target, &pos, pair))
        if (pair->name.len == name_len && memcmp(pair->name.ptr, name, name_len) == 0)
            return 1;
    return 0;
}

long tg_query_decode(struct tg_slice value, char *out, size_t out_size)
{
    size_t o = 0;
    if (out_size == 0)
        return -1;
    for (size_t i = 0; i < value.len; i++) {
        char ch = value.ptr[i];
        if (ch == '%') {
            if (i + 2 >= value.len)
                return -1;
            int hi = tg_hex_digit((unsigned char)value.ptr[i + 1]), lo = tg_hex_digit((unsigned char)value.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (o + 1 >= out_size)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return (long)o;
}

long tg_query_param(struct tg_slice target, const char *name, char *out, size_t out_size)
{
    struct tg_query_pair pair;
    if (!tg_query_find(target, name, &pair))
        return -1;
    return tg_query_decode(pair.value, out, out_size);
}
