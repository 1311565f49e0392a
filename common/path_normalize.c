/* path_normalize.c — request-path normalisation for routing and forwarding (see path_normalize.h for the rules).
 *
 * One left-to-right pass: each segment of the path is written to out as it is decoded (step 3 of the header's
 * rules), then judged — empty and "." segments are taken back, ".." also takes back the segment before it. out
 * always holds "/" + the kept segments, each followed by the '/' that ended it in the input, so every output
 * byte stands for at least one input byte already read: the output is never longer than what has been read.
 */
#include "path_normalize.h"

#include "hex.h"

#include <string.h>

/* unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3) */
static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

static char upper_hex(char c)
{
    return (c >= 'a' && c <= 'f') ? (char)(c - 'a' + 'A') : c;
}

const char *tg_path_status_str(enum tg_path_status st)
{
    switch (st) {
    case TG_PATH_OK:
        return "ok";
    case TG_PATH_BAD:
        return "bad";
    case TG_PATH_ENCODED_SLASH:
        return "encoded_slash";
    case TG_PATH_TOO_LONG:
        return "too_long";
    }
    return "unknown";
}

int tg_path_status_answer(enum tg_path_status st)
{
    switch (st) {
    case TG_PATH_OK:
        return 0;
    case TG_PATH_TOO_LONG:
        return 414;
    case TG_PATH_BAD:
    case TG_PATH_ENCODED_SLASH:
        break;
    }
    return 400;
}

int tg_encoded_slashes_parse(const char *s, enum tg_encoded_slashes *mode)
{
    if (!s)
        return -1;
    if (strcmp(s, "reject") == 0)
        *mode = TG_ENCODED_SLASHES_REJECT;
    else if (strcmp(s, "keep") == 0)
        *mode = TG_ENCODED_SLASHES_KEEP;
    else if (strcmp(s, "decode") == 0)
        *mode = TG_ENCODED_SLASHES_DECODE;
    else
        return -1;
    return 0;
}

int tg_path_has_encoded_slash(const char *in, size_t len)
{
    for (size_t i = 0; i + 2 < len && in[i] != '?'; i++)
        if (in[i] == '%' && (in[i + 1] == '2' || in[i + 1] == '5')) {
            char c = upper_hex(in[i + 2]);
            if ((in[i + 1] == '2' && c == 'F') || (in[i + 1] == '5' && c == 'C'))
                return 1;
        }
    return 0;
}

/* The bounded writer: out[0..cap), o bytes used. */
struct out_buf {
    char *p;
    size_t o, cap;
};

static int put(struct out_buf *w, char c)
{
    if (w->o >= w->cap)
        return -1;
    w->p[w->o++] = c;
    return 0;
}

/* Decodes one path byte (or one %XX) at in[*i], below end, onto w. Returns TG_PATH_OK or the failure. */
static enum tg_path_status put_path_char(struct out_buf *w, const char *in, size_t *i, size_t end, unsigned flags)
{
    unsigned char c = (unsigned char)in[*i];
    if (c != '%') {
        /* rule 5: raw backslash and fragment; bytes outside VCHAR are not URI characters either */
        if (c == '\\' || c == '#' || c <= 0x20 || c >= 0x7f)
            return TG_PATH_BAD;
        (*i)++;
        return put(w, (char)c) == 0 ? TG_PATH_OK : TG_PATH_TOO_LONG;
    }
    if (*i + 2 >= end)
        return TG_PATH_BAD;
    int hi = tg_hex_digit((unsigned char)in[*i + 1]), lo = tg_hex_digit((unsigned char)in[*i + 2]);
    if (hi < 0 || lo < 0)
        return TG_PATH_BAD;
    unsigned v = (unsigned)(hi << 4 | lo);
    if (v == 0 || v == 0xC0 || v == 0xC1) /* rule 2: NUL, overlong UTF-8 lead bytes */
        return TG_PATH_BAD;
    if ((v == '/' || v == '\\') && !(flags & (TG_PATH_ALLOW_ENCODED_SLASH | TG_PATH_DECODE_ENCODED_SLASH)))
        return TG_PATH_ENCODED_SLASH;
    int r;
    if (is_unreserved((unsigned char)v))
        r = put(w, (char)v);
    else
        r = (put(w, '%') || put(w, upper_hex(in[*i + 1])) || put(w, upper_hex(in[*i + 2]))) ? -1 : 0;
    *i += 3;
    return r == 0 ? TG_PATH_OK : TG_PATH_TOO_LONG;
}

/* The length of the segment delimiter at in[i] (below end): 1 for '/', 3 for "%2F" / "%5C" (any case) with
 * TG_PATH_DECODE_ENCODED_SLASH (rule 4's decoding), else 0. */
static size_t delimiter_at(const char *in, size_t i, size_t end, unsigned flags)
{
    if (in[i] == '/')
        return 1;
    if (!(flags & TG_PATH_DECODE_ENCODED_SLASH) || in[i] != '%' || i + 2 >= end)
        return 0;
    char a = in[i + 1], b = upper_hex(in[i + 2]);
    return (a == '2' && b == 'F') || (a == '5' && b == 'C') ? 3 : 0;
}

enum tg_path_status tg_path_normalize(const char *in, size_t len, unsigned flags, char *out, size_t out_cap,
                                      size_t *out_len)
{
    *out_len = 0;
    if (len == 0 || in[0] != '/')
        return TG_PATH_BAD;
    const char *q = memchr(in, '?', len);
    size_t end = q ? (size_t)(q - in) : len;
    struct out_buf w = {out, 0, out_cap};
    if (put(&w, '/') != 0)
        return TG_PATH_TOO_LONG;

    size_t i = 1;
    for (;;) {
        size_t seg = w.o; /* out[seg..] is this segment; out[seg - 1] == '/' */
        size_t delim = 0;
        while (i < end && !(delim = delimiter_at(in, i, end, flags))) {
            enum tg_path_status st = put_path_char(&w, in, &i, end, flags);
            if (st != TG_PATH_OK)
                return st;
        }
        size_t n = w.o - seg;
        int last = i >= end;
        if (n == 1 && out[seg] == '.') {
            w.o = seg; /* "." */
        } else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            w.o = seg; /* "..": also drop the previous segment, never the root */
            if (seg > 1) {
                size_t k = seg - 1; /* out[k] == '/' ending the previous segment */
                while (k > 0 && out[k - 1] != '/')
                    k--;
                w.o = k;
            }
        } else if (n > 0 && !last) {
            if (put(&w, '/') != 0) /* the input's '/' that ended this segment */
                return TG_PATH_TOO_LONG;
        }
        /* an empty segment writes nothing: merged slashes; after the last one out ends with '/' */
        if (last)
            break;
        i += delim; /* past the '/' (or the decoded "%2F") */
    }
    for (size_t k = end; k < len; k++) /* rule 7: the query as received */
        if (put(&w, in[k]) != 0)
            return TG_PATH_TOO_LONG;
    *out_len = w.o;
    return TG_PATH_OK;
}
