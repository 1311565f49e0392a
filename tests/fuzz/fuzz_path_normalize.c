/* fuzz_path_normalize.c — libFuzzer target for common/path_normalize.c.
 *
 * Input: byte 0 = flags (bit 0: TG_PATH_ALLOW_ENCODED_SLASH, bit 7: TG_PATH_DECODE_ENCODED_SLASH) and, in bits
 * 1-6, how many bytes short of the result the small output buffer is; the rest = the request target. Checks, beyond ASan/UBSan (the input and
 * the output live in exactly-sized heap buffers): an out_cap of len always suffices; an accepted result is a
 * fixed point (normalise(normalise(x)) == normalise(x)), starts with '/', is no longer than the input, has in
 * its path no "//", no "." or ".." segment, no encoding of an unreserved character, only upper-case escapes,
 * no encoded slash unless opted in, no raw backslash, and keeps the query byte for byte; a smaller buffer gives
 * TG_PATH_TOO_LONG whenever the result does not fit, and otherwise the same result or TOO_LONG; a refusal does
 * not depend on the buffer (or is TOO_LONG when the buffer ran out before the refused byte). With decoding: no
 * encoded slash is left, and the result is that of the input with every "%2F"/"%5C" escape (outside the query)
 * spelled as '/' and normalised without the flag (decoding is exactly "an escaped slash is a slash").
 */
#include "path_normalize.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                                    \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                   \
            abort();                                                                                        \
        }                                                                                                   \
    } while (0)

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is not allowed in a result */
}

static int is_unreserved(unsigned v)
{
    return (v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') || v == '-' || v == '.' ||
           v == '_' || v == '~';
}

/* The invariants of an accepted result r[0..n) for input in[0..len). */
static void check_result(const char *r, size_t n, const char *in, size_t len, unsigned flags)
{
    FUZZ_CHECK(n >= 1 && n <= len && r[0] == '/');
    const char *rq = memchr(r, '?', n);
    const char *iq = memchr(in, '?', len);
    size_t pe = rq ? (size_t)(rq - r) : n;
    /* the query, byte for byte */
    FUZZ_CHECK((rq == NULL) == (iq == NULL));
    if (rq)
        FUZZ_CHECK(n - pe == len - (size_t)(iq - in) && memcmp(rq, iq, n - pe) == 0);
    for (size_t i = 0; i < pe; i++) {
        char c = r[i];
        FUZZ_CHECK(c != '\\' && c != '#');
        if (c == '/') {
            FUZZ_CHECK(i + 1 >= pe || r[i + 1] != '/'); /* no "//" */
            size_t j = i + 1;
            while (j < pe && r[j] != '/')
                j++;
            size_t seg = j - i - 1;
            FUZZ_CHECK(!(seg == 1 && r[i + 1] == '.'));
            FUZZ_CHECK(!(seg == 2 && r[i + 1] == '.' && r[i + 2] == '.'));
        } else if (c == '%') {
            FUZZ_CHECK(i + 2 < pe);
            int hi = hexval(r[i + 1]), lo = hexval(r[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0);
            unsigned v = (unsigned)(hi << 4 | lo);
            FUZZ_CHECK(!is_unreserved(v) && v != 0);
            if (!(flags & TG_PATH_ALLOW_ENCODED_SLASH) || (flags & TG_PATH_DECODE_ENCODED_SLASH))
                FUZZ_CHECK(v != '/' && v != '\\');
        }
    }
}

/* The decoding flag's result r[0..n) equals the flagless normal form of in with its slash escapes spelled '/'. */
static void check_decoded(const char *r, size_t n, const char *in, size_t len)
{
    char *sp = malloc(len ? len : 1), *o = malloc(len ? len : 1);
    FUZZ_CHECK(sp != NULL && o != NULL);
    size_t m = 0, i = 0;
    int in_query = 0;
    while (i < len) {
        in_query |= in[i] == '?';
        if (!in_query && in[i] == '%' && i + 2 < len &&
            ((in[i + 1] == '2' && (in[i + 2] == 'F' || in[i + 2] == 'f')) ||
             (in[i + 1] == '5' && (in[i + 2] == 'C' || in[i + 2] == 'c')))) {
            sp[m++] = '/';
            i += 3;
        } else if (!in_query && in[i] == '%' && i + 2 < len) { /* an escape is one unit: "%252F" stays */
            memcpy(sp + m, in + i, 3);
            m += 3;
            i += 3;
        } else {
            sp[m++] = in[i++];
        }
    }
    size_t k = 0;
    FUZZ_CHECK(tg_path_normalize(sp, m, 0, o, m, &k) == TG_PATH_OK);
    FUZZ_CHECK(k == n && memcmp(o, r, n) == 0);
    free(sp);
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = (data[0] & 1) | ((data[0] & 0x80) ? TG_PATH_DECODE_ENCODED_SLASH : 0);
    size_t shortfall = (data[0] >> 1) & 0x3f;
    size_t len = size - 1;
    char *in = malloc(len ? len : 1);
    char *out = malloc(len ? len : 1);
    if (!in || !out) {
        free(in);
        free(out);
        return 0;
    }
    memcpy(in, data + 1, len);

    size_t n = 99;
    enum tg_path_status st = tg_path_normalize(in, len, flags, out, len, &n);
    FUZZ_CHECK(st == TG_PATH_OK || st == TG_PATH_BAD || st == TG_PATH_ENCODED_SLASH); /* never TOO_LONG */
    FUZZ_CHECK(st == TG_PATH_OK ? n <= len : n == 0);
    FUZZ_CHECK((tg_path_status_answer(st) == 0) == (st == TG_PATH_OK));
    if (st == TG_PATH_OK) {
        check_result(out, n, in, len, flags);
        /* idempotence, into an exactly-sized buffer */
        char *again = malloc(n);
        size_t n2 = 0;
        FUZZ_CHECK(again != NULL);
        FUZZ_CHECK(tg_path_normalize(out, n, flags, again, n, &n2) == TG_PATH_OK);
        FUZZ_CHECK(n2 == n && memcmp(again, out, n) == 0);
        free(again);
        if (flags & TG_PATH_DECODE_ENCODED_SLASH)
            check_decoded(out, n, in, len);
        /* with encoded slashes allowed, an accepted path is accepted the same way */
        if (!flags) {
            char *allowed = malloc(len ? len : 1);
            size_t n3 = 0;
            FUZZ_CHECK(allowed != NULL);
            FUZZ_CHECK(tg_path_normalize(in, len, TG_PATH_ALLOW_ENCODED_SLASH, allowed, len, &n3) == TG_PATH_OK);
            FUZZ_CHECK(n3 == n && memcmp(allowed, out, n) == 0);
            free(allowed);
        }
    }
    /* a smaller buffer: TOO_LONG exactly when the result does not fit; refusals are the same */
    size_t cap = len > shortfall ? len - shortfall : 0;
    char *small = malloc(cap ? cap : 1);
    size_t ns = 99;
    FUZZ_CHECK(small != NULL);
    enum tg_path_status ss = tg_path_normalize(in, len, flags, small, cap, &ns);
    if (st == TG_PATH_OK) {
        /* a result over cap is TOO_LONG; one that fits may be TOO_LONG too when segments a later ".." removes
         * did not fit on the way (the header's contract) — but an OK is the same result */
        if (n > cap)
            FUZZ_CHECK(ss == TG_PATH_TOO_LONG && ns == 0);
        else if (ss == TG_PATH_OK)
            FUZZ_CHECK(ns == n && memcmp(small, out, n) == 0);
        else
            FUZZ_CHECK(ss == TG_PATH_TOO_LONG && ns == 0);
    } else {
        FUZZ_CHECK(ss == st || ss == TG_PATH_TOO_LONG);
    }
    free(small);
    free(in);
    free(out);
    return 0;
}
