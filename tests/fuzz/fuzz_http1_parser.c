/* fuzz_http1_parser.c — libFuzzer target for common/http1_parser.c.
 *
 * Input: byte 0 = mode (bits 0-1: 0 request, 1 response to GET, 2 response to HEAD, 3 bare chunked body;
 * bit 2: a small max_head_bytes so the limit path is hit), bytes 1-2 = split point, the rest = the message.
 * Checks, beyond ASan/UBSan: the restartable contract (a prefix's final answer is the whole input's answer; a
 * complete head parses identically from any longer prefix; shorter prefixes are INCOMPLETE; feeding gated by
 * tg_http1_need_reparse reaches the same answer), the request rules of issue 11 and the target's form on accepted
 * requests (tg_http_parse_target), invariants of a
 * parsed head (slices inside the head, framing/keep-alive consistent), and that the chunked scanner gives the
 * same result and consumed count whole, split in two, and byte by byte. Prefixes are parsed from exactly-sized
 * heap copies so any read past len is caught.
 */
#include "http1_parser.h"
#include "../unit/http1_heads_same.h"

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

static struct tg_http_head whole_head, part_head;

static void check_slice_inside(struct tg_slice s, const char *buf, size_t head_len)
{
    if (s.len == 0)
        return;
    FUZZ_CHECK(s.ptr >= buf && (size_t)(s.ptr - buf) + s.len <= head_len);
}

/* A non-empty Connection token other than close/keep-alive/upgrade (TG_CONN_OTHER), found independently. */
static int has_other_token(struct tg_slice v)
{
    if (v.len == 0)
        return 0;
    size_t i = 0;
    while (i <= v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v.ptr[a] == ' ' || v.ptr[a] == '\t'))
            a++;
        while (b > a && (v.ptr[b - 1] == ' ' || v.ptr[b - 1] == '\t'))
            b--;
        struct tg_slice e = {v.ptr + a, b - a};
        if (e.len && !tg_slice_eq_nocase(e, "close") && !tg_slice_eq_nocase(e, "keep-alive") &&
            !tg_slice_eq_nocase(e, "upgrade"))
            return 1;
        i = j + 1;
    }
    return 0;
}

static void check_head(const struct tg_http_head *hd, const char *buf, size_t len, size_t max, int is_request)
{
    FUZZ_CHECK(hd->head_len > 0 && hd->head_len <= len && hd->head_len <= max);
    FUZZ_CHECK(buf[hd->head_len - 2] == '\r' && buf[hd->head_len - 1] == '\n');
    FUZZ_CHECK(hd->num_headers <= TG_HTTP_MAX_HEADERS);
    FUZZ_CHECK(hd->minor_version == 0 || hd->minor_version == 1);
    FUZZ_CHECK(hd->keep_alive == 0 || hd->keep_alive == 1);
    if (is_request) {
        FUZZ_CHECK(hd->method.len > 0 && hd->target.len > 0);
        FUZZ_CHECK(hd->framing != TG_BODY_UNTIL_CLOSE);
    } else {
        FUZZ_CHECK(hd->status >= 100 && hd->status <= 999);
    }
    if (hd->framing == TG_BODY_UNTIL_CLOSE)
        FUZZ_CHECK(hd->keep_alive == 0);
    if (hd->framing != TG_BODY_LENGTH)
        FUZZ_CHECK(hd->content_length == 0);
    if (hd->connection_flags & TG_CONN_CLOSE)
        FUZZ_CHECK(hd->keep_alive == 0);
    check_slice_inside(hd->method, buf, hd->head_len);
    check_slice_inside(hd->target, buf, hd->head_len);
    check_slice_inside(hd->reason, buf, hd->head_len);
    check_slice_inside(hd->host, buf, hd->head_len);
    check_slice_inside(hd->upgrade, buf, hd->head_len);
    unsigned flags = 0;
    for (size_t i = 0; i < hd->num_headers; i++) {
        const struct tg_http_header *f = &hd->headers[i];
        FUZZ_CHECK(f->name.len > 0);
        check_slice_inside(f->name, buf, hd->head_len);
        check_slice_inside(f->value, buf, hd->head_len);
        if (f->value.len > 0) {
            char first = f->value.ptr[0], last = f->value.ptr[f->value.len - 1];
            FUZZ_CHECK(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
        char name[64];
        if (f->name.len < sizeof name) { /* the lookup finds this field or an earlier one of the same name */
            memcpy(name, f->name.ptr, f->name.len);
            name[f->name.len] = '\0';
            const struct tg_http_header *found = tg_http_find_header(hd, name);
            FUZZ_CHECK(found != NULL && found <= f && tg_slice_eq_nocase(found->name, name));
        }
        if (tg_slice_eq_nocase(f->name, "connection")) {
            flags |= tg_http_list_has_token(f->value, "close") ? TG_CONN_CLOSE : 0u;
            flags |= tg_http_list_has_token(f->value, "keep-alive") ? TG_CONN_KEEP_ALIVE : 0u;
            flags |= tg_http_list_has_token(f->value, "upgrade") ? TG_CONN_UPGRADE : 0u;
            flags |= has_other_token(f->value) ? TG_CONN_OTHER : 0u;
        }
    }
    FUZZ_CHECK(flags == hd->connection_flags);
}

static enum tg_http_status parse(int mode, const char *buf, size_t len, size_t max, struct tg_http_head *out)
{
    static const char get[] = "GET", head[] = "HEAD";
    struct tg_slice method = {mode == 2 ? head : get, mode == 2 ? 4 : 3};
    if (mode == 0)
        return tg_http1_parse_request(buf, len, max, out);
    return tg_http1_parse_response(buf, len, max, method, out);
}

/* Parses buf[0..k) from an exactly-sized copy and checks it against the whole-input result. */
static void check_prefix(int mode, const char *buf, size_t k, size_t max, enum tg_http_status whole)
{
    char *p = malloc(k ? k : 1);
    FUZZ_CHECK(p != NULL);
    if (k)
        memcpy(p, buf, k);
    enum tg_http_status part = parse(mode, p, k, max, &part_head);
    if (whole == TG_HTTP_OK)
        FUZZ_CHECK(k < whole_head.head_len ? part == TG_HTTP_INCOMPLETE : part == TG_HTTP_OK);
    if (part != TG_HTTP_INCOMPLETE)
        FUZZ_CHECK(part == whole);
    if (part == TG_HTTP_OK)
        FUZZ_CHECK(heads_same(&whole_head, buf, &part_head, p));
    free(p);
}

/* Byte by byte, parsing only when tg_http1_need_reparse says so: the first final answer is the whole input's, and
 * the gate never hides an OK or a limit error. */
static void check_gated(int mode, const char *buf, size_t len, size_t max, enum tg_http_status whole)
{
    size_t prev = 0;
    enum tg_http_status st = TG_HTTP_INCOMPLETE;
    for (size_t k = 1; k <= len && st == TG_HTTP_INCOMPLETE; k++) {
        if (!tg_http1_need_reparse(buf, prev, k, max))
            continue;
        st = parse(mode, buf, k, max, &part_head);
        prev = k;
    }
    if (st != TG_HTTP_INCOMPLETE)
        FUZZ_CHECK(st == whole);
    if (whole == TG_HTTP_OK || whole == TG_HTTP_HEAD_TOO_LARGE)
        FUZZ_CHECK(st == whole);
    if (st == TG_HTTP_OK)
        FUZZ_CHECK(part_head.head_len == whole_head.head_len);
}

/* What an accepted request never has (issue 11): more than one Content-Length field or element, a Connection
 * option naming Content-Length / Transfer-Encoding / Host, or a transfer coding besides chunked. */
static void check_request_rules(const struct tg_http_head *hd)
{
    int cl = 0, te = 0;
    for (size_t i = 0; i < hd->num_headers; i++) {
        const struct tg_http_header *f = &hd->headers[i];
        if (tg_slice_eq_nocase(f->name, "content-length")) {
            cl++;
            FUZZ_CHECK(memchr(f->value.ptr, ',', f->value.len) == NULL);
        } else if (tg_slice_eq_nocase(f->name, "transfer-encoding")) {
            te++;
            FUZZ_CHECK(tg_http_list_has_token(f->value, "chunked"));
        } else if (tg_slice_eq_nocase(f->name, "connection")) {
            FUZZ_CHECK(!tg_http_list_has_token(f->value, "content-length"));
            FUZZ_CHECK(!tg_http_list_has_token(f->value, "transfer-encoding"));
            FUZZ_CHECK(!tg_http_list_has_token(f->value, "host"));
        }
    }
    FUZZ_CHECK(cl <= 1 && te <= 1);

    /* the target's form: slices inside the target, an absolute form's authority and path cover its tail */
    struct tg_http_target t;
    enum tg_target_form form = tg_http_parse_target(hd->method, hd->target, &t);
    const char *tend = hd->target.ptr + hd->target.len;
    if (t.authority.len)
        FUZZ_CHECK(t.authority.ptr >= hd->target.ptr && t.authority.ptr + t.authority.len <= tend);
    if (t.path.len)
        FUZZ_CHECK(t.path.ptr >= hd->target.ptr && t.path.ptr + t.path.len <= tend);
    if (form == TG_TARGET_ORIGIN)
        FUZZ_CHECK(t.path.len == hd->target.len && hd->target.ptr[0] == '/');
    if (form == TG_TARGET_ABSOLUTE) {
        FUZZ_CHECK(t.authority.len > 0 && memchr(t.authority.ptr, '@', t.authority.len) == NULL);
        FUZZ_CHECK(t.authority.ptr + t.authority.len + t.path.len == tend);
        FUZZ_CHECK(t.path.len == 0 || t.path.ptr[0] == '/' || t.path.ptr[0] == '?');
    }
    if (form == TG_TARGET_BAD)
        FUZZ_CHECK(t.authority.len == 0 && t.path.len == 0);
}

/* Whole, split at k, and byte by byte must agree on result, consumed and body_bytes. */
static void check_chunked(const char *buf, size_t len, size_t k)
{
    struct tg_chunked_scanner a = {0}, b = {0}, c = {0};
    size_t ca = 0, cb1 = 0, cb2 = 0, cc = 0, step = 0;
    enum tg_chunked_result ra = tg_chunked_scan(&a, buf, len, &ca);
    FUZZ_CHECK(ra == TG_CHUNKED_MORE ? ca == len : ca <= len);
    if (ra == TG_CHUNKED_DONE)
        FUZZ_CHECK(ca >= 5 && buf[ca - 2] == '\r' && buf[ca - 1] == '\n');
    if (ra != TG_CHUNKED_BAD) /* the byte that went over a bound is the one rejected */
        FUZZ_CHECK(a.line_len <= TG_CHUNK_LINE_MAX && a.trailer_bytes <= TG_CHUNK_TRAILER_MAX);
    FUZZ_CHECK((ra == TG_CHUNKED_BAD) == (a.error != NULL));

    if (k > len)
        k = len;
    enum tg_chunked_result rb = tg_chunked_scan(&b, buf, k, &cb1);
    if (rb == TG_CHUNKED_MORE) {
        rb = tg_chunked_scan(&b, buf + k, len - k, &cb2);
        cb1 += cb2;
    }
    FUZZ_CHECK(rb == ra && cb1 == ca && b.body_bytes == a.body_bytes);

    enum tg_chunked_result rc = TG_CHUNKED_MORE;
    for (size_t i = 0; i < len && rc == TG_CHUNKED_MORE; i++) {
        rc = tg_chunked_scan(&c, buf + i, 1, &step);
        cc += step;
    }
    FUZZ_CHECK(rc == ra && cc == ca && c.body_bytes == a.body_bytes);
    /* a finished scanner stays finished and takes nothing more */
    if (ra != TG_CHUNKED_MORE) {
        FUZZ_CHECK(tg_chunked_scan(&a, buf, len, &step) == ra && step == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int mode = data[0] & 3;
    size_t max = (data[0] & 4) ? 96 : 8192;
    size_t seed = (size_t)data[1] | ((size_t)data[2] << 8);
    const char *buf = (const char *)data + 3;
    size_t len = size - 3;
    size_t k = seed % (len + 1);

    if (mode == 3) {
        check_chunked(buf, len, k);
        return 0;
    }

    enum tg_http_status whole = parse(mode, buf, len, max, &whole_head);
    FUZZ_CHECK(whole <= TG_HTTP_OK && whole >= TG_HTTP_UNKNOWN_CODING);
    /* the request-only verdicts (issue 11) never come from a response parse */
    if (mode != 0)
        FUZZ_CHECK(whole != TG_HTTP_BAD_CONNECTION && whole != TG_HTTP_UNKNOWN_CODING);
    /* a final non-OK answer always says why; OK and INCOMPLETE never do */
    FUZZ_CHECK((whole == TG_HTTP_OK || whole == TG_HTTP_INCOMPLETE) ? whole_head.error == NULL
                                                                     : whole_head.error != NULL);
    FUZZ_CHECK((tg_http_status_answer(whole) == 0) == (whole == TG_HTTP_OK || whole == TG_HTTP_INCOMPLETE));
    if (whole == TG_HTTP_OK)
        check_head(&whole_head, buf, len, max, mode == 0);
    if (whole == TG_HTTP_OK && mode == 0)
        check_request_rules(&whole_head);
    check_prefix(mode, buf, k, max, whole);
    check_gated(mode, buf, len, max, whole);
    if (whole == TG_HTTP_OK) {
        check_prefix(mode, buf, whole_head.head_len - 1, max, whole);
        check_prefix(mode, buf, whole_head.head_len, max, whole);
        if (whole_head.framing == TG_BODY_CHUNKED)
            check_chunked(buf + whole_head.head_len, len - whole_head.head_len, k);
    } else if (whole == TG_HTTP_HEAD_TOO_LARGE) {
        FUZZ_CHECK(len >= max);
    }
    return 0;
}
