/* http1_parser.c — strict HTTP/1.x head parser, framing decision and chunked-body scanner (see http1_parser.h).
 *
 * The head parser works in two passes over buf: scan_head() splits lines and checks their syntax strictly left
 * to right (RFC 9112 §2, §3, §4, §5), storing the fields as it goes; once the empty line ending the head is
 * found, finish_request()/finish_response() look at the fields as a whole (Host, Content-Length,
 * Transfer-Encoding, Connection) and decide framing and persistence (RFC 9112 §6, §9.3). Each line checker runs
 * on a whole line or on the partial last line seen so far (complete == 0); on a partial line it only reports
 * errors that no further byte can repair, which keeps every final answer the same whatever the split.
 */
#include "http1_parser.h"

#include "hex.h"

#include <string.h>

/* RFC 9112 §7.1: the largest chunk size accepted (protects the uint64_t arithmetic of callers, too). */
#define CHUNK_SIZE_MAX ((uint64_t)1 << 62)

/* The HTTP-version token is exactly "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3). */
#define VERSION_LEN 8

/* ---- character classes (RFC 9110 §5.6.2, §5.5; RFC 5234 appendix B.1) ---- */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int is_tchar(unsigned char c)
{
    if (is_alpha(c) || is_digit(c))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* VCHAR: the visible ASCII characters. */
static int is_vchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* What a field value (or reason phrase) may hold: field-vchar (VCHAR / obs-text), SP and HTAB. No NUL, no other
 * control character, no DEL (RFC 9110 §5.5). CR and LF never reach here: they end lines. */
static int is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4) */
static int is_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
static int is_quoted_pair_char(unsigned char c)
{
    return c == '\t' || c == ' ' || is_vchar(c) || c >= 0x80;
}

/* Characters of Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): unreserved, pct-encoded,
 * sub-delims, and the ":" "[" "]" of ports and IP-literals. Anything else (SP, "/", "@", obs-text...) → 400. */
static int is_host_char(unsigned char c)
{
    if (is_alpha(c) || is_digit(c))
        return 1;
    switch (c) {
    case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&': case '\'':
    case '(': case ')': case '*': case '+': case ',': case ';': case '=': case ':': case '[': case ']':
        return 1;
    default:
        return 0;
    }
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static struct tg_slice make_slice(const char *p, size_t n)
{
    struct tg_slice s = {p, n};
    return s;
}

/* Removes leading and trailing OWS. */
static struct tg_slice trim_ows(struct tg_slice s)
{
    while (s.len > 0 && is_ows((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_ows((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* s equals str[0..n) ignoring ASCII case (the caller compared the lengths). */
static int same_nocase(const char *s, const char *str, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s[i]) != ascii_lower((unsigned char)str[i]))
            return 0;
    return 1;
}

int tg_mem_eq_nocase(const char *a, const char *b, size_t n) { return same_nocase(a, b, n); }

const char *tg_http_status_str(enum tg_http_status st)
{
    switch (st) {
    case TG_HTTP_OK:
        return "ok";
    case TG_HTTP_INCOMPLETE:
        return "incomplete";
    case TG_HTTP_BAD:
        return "bad";
    case TG_HTTP_HEAD_TOO_LARGE:
        return "head_too_large";
    case TG_HTTP_TOO_MANY_HEADERS:
        return "too_many_headers";
    case TG_HTTP_BAD_VERSION:
        return "bad_version";
    case TG_HTTP_BAD_CONNECTION:
        return "bad_connection";
    case TG_HTTP_UNKNOWN_CODING:
        return "unknown_coding";
    }
    return "unknown";
}

int tg_http_status_answer(enum tg_http_status st)
{
    switch (st) {
    case TG_HTTP_OK:
    case TG_HTTP_INCOMPLETE:
        return 0;
    case TG_HTTP_HEAD_TOO_LARGE:
    case TG_HTTP_TOO_MANY_HEADERS:
        return 431;
    case TG_HTTP_BAD_VERSION:
        return 505;
    case TG_HTTP_UNKNOWN_CODING:
        return 501;
    case TG_HTTP_BAD:
    case TG_HTTP_BAD_CONNECTION:
        break;
    }
    return 400;
}

/* The generic text of a final answer whose cause was not named more precisely. */
static const char *status_error_text(enum tg_http_status st)
{
    switch (st) {
    case TG_HTTP_HEAD_TOO_LARGE:
        return "head over the limit";
    case TG_HTTP_TOO_MANY_HEADERS:
        return "too many header fields";
    case TG_HTTP_BAD_VERSION:
        return "unsupported HTTP version";
    case TG_HTTP_BAD_CONNECTION:
        return "Connection nominates a framing or handshake field";
    case TG_HTTP_UNKNOWN_CODING:
        return "unsupported transfer coding";
    default:
        return "malformed head";
    }
}

/* ---- comma-separated lists (RFC 9110 §5.6.1) ---- */

/* Yields the next element of the list s[0..n) starting at *pos, OWS-trimmed (possibly empty: "a,,b" has an
 * empty second element and "" is one empty element). With quotes != 0, commas inside quoted-strings do not
 * split. Returns 1 with *elem set, 0 after the last element, -1 on an unterminated quoted-string. */
static int list_next(struct tg_slice list, size_t *pos, int quotes, struct tg_slice *elem)
{
    size_t i = *pos;
    if (i > list.len)
        return 0;
    size_t start = i;
    int quoted = 0;
    while (i < list.len) {
        char c = list.ptr[i];
        if (quoted) {
            if (c == '\\') {
                if (i + 1 >= list.len)
                    return -1;
                i++;
            } else if (c == '"') {
                quoted = 0;
            }
        } else if (c == '"' && quotes) {
            quoted = 1;
        } else if (c == ',') {
            break;
        }
        i++;
    }
    if (quoted)
        return -1;
    /* an empty list may have no storage at all (ptr NULL): no pointer arithmetic on it (C11 6.5.6) */
    *elem = trim_ows(make_slice(list.ptr ? list.ptr + start : list.ptr, i - start));
    *pos = i + 1; /* past the comma; past the end (len + 1) after the last element */
    return 1;
}

int tg_http_list_has_token(struct tg_slice value, const char *token)
{
    size_t pos = 0, n = strlen(token);
    struct tg_slice elem;
    while (list_next(value, &pos, 0, &elem) == 1)
        if (elem.len == n && same_nocase(elem.ptr, token, n))
            return 1;
    return 0;
}

const struct tg_http_header *tg_http_find_header(const struct tg_http_head *head, const char *name)
{
    /* the name's length once, then lengths first: most fields differ in length (issue 15, handshake path) */
    size_t n = strlen(name);
    for (size_t i = 0; i < head->num_headers; i++)
        if (head->headers[i].name.len == n && same_nocase(head->headers[i].name.ptr, name, n))
            return &head->headers[i];
    return NULL;
}

/* ---- line checkers (each: whole line when complete, or the partial line seen so far) ---- */

/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). v is the version token so far;
 * complete says it is delimited. Well-formed but not 1.0/1.1 → TG_HTTP_BAD_VERSION (505). */
static enum tg_http_status check_version(struct tg_slice v, int complete, int *minor)
{
    const char *s = v.ptr;
    size_t n = v.len;
    static const char shape[] = "HTTP/1.1";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= VERSION_LEN)
            return TG_HTTP_BAD;
        if (i == 5 || i == 7) {
            if (!is_digit(c))
                return TG_HTTP_BAD;
        } else if (c != (unsigned char)shape[i]) {
            return TG_HTTP_BAD;
        }
    }
    if (!complete)
        return TG_HTTP_OK;
    if (n != VERSION_LEN)
        return TG_HTTP_BAD;
    if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
        return TG_HTTP_BAD_VERSION;
    *minor = s[7] - '0';
    return TG_HTTP_OK;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3); exactly one SP between parts; method is
 * a token; the target is 1*VCHAR (no obs-text, no whitespace, no control characters). */
static enum tg_http_status check_request_line(struct tg_slice line, int complete, struct tg_http_head *head)
{
    const char *s = line.ptr;
    size_t n = line.len;
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == n)
        return complete ? TG_HTTP_BAD : TG_HTTP_OK;
    if (i == 0 || s[i] != ' ')
        return TG_HTTP_BAD;
    head->method = make_slice(s, i);

    size_t t = ++i;
    while (i < n && is_vchar((unsigned char)s[i]))
        i++;
    if (i == n)
        return complete ? TG_HTTP_BAD : TG_HTTP_OK;
    if (i == t || s[i] != ' ')
        return TG_HTTP_BAD;
    head->target = make_slice(s + t, i - t);

    i++;
    return check_version(make_slice(s + i, n - i), complete, &head->minor_version);
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); status-code = 3DIGIT, here
 * 100..999. Also accepted: no SP at all after the code ("HTTP/1.1 200"), which many servers send.
 * reason-phrase = *( HTAB / SP / VCHAR / obs-text ), kept as received. */
static enum tg_http_status check_status_line(struct tg_slice line, int complete, struct tg_http_head *head)
{
    const char *s = line.ptr;
    size_t n = line.len;
    enum tg_http_status st;
    if (n <= VERSION_LEN) { /* the version is not delimited yet */
        st = check_version(line, 0, &head->minor_version);
        if (st != TG_HTTP_OK)
            return st;
        return complete ? TG_HTTP_BAD : TG_HTTP_OK;
    }
    if (s[VERSION_LEN] != ' ')
        return TG_HTTP_BAD;
    st = check_version(make_slice(s, VERSION_LEN), 1, &head->minor_version);
    if (st != TG_HTTP_OK)
        return st;

    size_t code_at = VERSION_LEN + 1, i = code_at;
    while (i < n && i < code_at + 3 && is_digit((unsigned char)s[i]))
        i++;
    if (i < code_at + 3) {
        if (i < n) /* a non-digit inside the code */
            return TG_HTTP_BAD;
        return complete ? TG_HTTP_BAD : TG_HTTP_OK;
    }
    if (s[code_at] == '0')
        return TG_HTTP_BAD;
    head->status = (s[code_at] - '0') * 100 + (s[code_at + 1] - '0') * 10 + (s[code_at + 2] - '0');
    head->reason = make_slice(s + i, 0);
    if (i == n)
        return TG_HTTP_OK;
    if (s[i] != ' ')
        return TG_HTTP_BAD;
    for (size_t j = i + 1; j < n; j++)
        if (!is_field_char((unsigned char)s[j]))
            return TG_HTTP_BAD;
    head->reason = make_slice(s + i + 1, n - i - 1);
    return TG_HTTP_OK;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). The name is a token right up to the colon, so
 * this rejects obs-fold and any leading whitespace (§5.2), whitespace before the colon (§5.1), an empty name and
 * non-token name characters; the value must be field characters only (RFC 9110 §5.5). */
static enum tg_http_status check_field_line(struct tg_slice line, int complete, struct tg_http_header *h)
{
    const char *s = line.ptr;
    size_t n = line.len;
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == n)
        return complete ? TG_HTTP_BAD : TG_HTTP_OK;
    if (i == 0 || s[i] != ':')
        return TG_HTTP_BAD;
    for (size_t j = i + 1; j < n; j++)
        if (!is_field_char((unsigned char)s[j]))
            return TG_HTTP_BAD;
    h->name = make_slice(s, i);
    h->value = trim_ows(make_slice(s + i + 1, n - i - 1));
    return TG_HTTP_OK;
}

/* Splits in[0..min(len, max)) into lines and checks them (see the file comment). On TG_HTTP_OK the start line
 * and fields are stored in *head and head_len is set. */
static enum tg_http_status scan_head(struct tg_slice in, size_t max, struct tg_http_head *head, int is_request)
{
    const char *buf = in.ptr;
    size_t len = in.len;
    size_t limit = len < max ? len : max;
    size_t pos = 0;
    int have_start_line = 0;
    enum tg_http_status st;

    *head = (struct tg_http_head){0};
    for (;;) {
        size_t eol = pos;
        while (eol < limit && buf[eol] != '\r' && buf[eol] != '\n')
            eol++;
        size_t n = eol - pos;
        struct tg_slice line = make_slice(buf + pos, n);
        int complete = eol + 1 < limit && buf[eol] == '\r' && buf[eol + 1] == '\n';

        /* A field line that starts past the last slot: decided on its first byte, whatever follows. */
        if (have_start_line && n > 0 && head->num_headers >= TG_HTTP_MAX_HEADERS)
            return TG_HTTP_TOO_MANY_HEADERS;

        if (!complete) {
            /* The content first, as a prefix would have seen it (so a prefix's verdict, e.g. BAD_VERSION after
             * "HTTP/2.0 ", stands whatever terminator follows), then the terminator: RFC 9112 §2.2, a bare LF or
             * a CR not followed by LF is rejected (no lenient line splitting). */
            struct tg_http_header scratch;
            if (!have_start_line)
                st = is_request ? check_request_line(line, 0, head) : check_status_line(line, 0, head);
            else
                st = check_field_line(line, 0, &scratch);
            if (st != TG_HTTP_OK)
                return st;
            if (eol < limit && (buf[eol] == '\n' || eol + 1 < limit))
                return TG_HTTP_BAD;
            return len >= max ? TG_HTTP_HEAD_TOO_LARGE : TG_HTTP_INCOMPLETE;
        }

        if (!have_start_line) {
            if (n == 0) {
                if (!is_request) /* a response starts with its status line, nothing before */
                    return TG_HTTP_BAD;
                pos = eol + 2; /* RFC 9112 §2.2: ignore empty lines before the request-line */
                continue;
            }
            st = is_request ? check_request_line(line, 1, head) : check_status_line(line, 1, head);
            if (st != TG_HTTP_OK)
                return st;
            have_start_line = 1;
        } else if (n == 0) {
            head->head_len = eol + 2;
            return TG_HTTP_OK;
        } else {
            st = check_field_line(line, 1, &head->headers[head->num_headers]);
            if (st != TG_HTTP_OK)
                return st;
            head->num_headers++;
        }
        pos = eol + 2;
    }
}

int tg_http1_need_reparse(const char *buf, size_t prev_len, size_t len, size_t max_head_bytes)
{
    if (prev_len == 0 || len >= max_head_bytes)
        return 1;
    if (len <= prev_len)
        return 0;
    return memchr(buf + prev_len, '\n', len - prev_len) != NULL;
}

/* ---- semantics of the field section ---- */

/* What the fields say about framing, gathered over all field lines. */
struct field_facts {
    int host_count;
    int has_cl;
    int cl_fields;       /* Content-Length fields seen */
    int cl_elements;     /* elements of all Content-Length lists */
    uint64_t cl;
    int has_te;
    int te_codings;      /* codings across every Transfer-Encoding field */
    int te_chunked;      /* "chunked" appeared (at most once, else BAD) */
    int te_chunked_last; /* the final coding of the combined list is chunked */
};

/* Content-Length = 1*DIGIT (RFC 9110 §8.6). A comma list or repeated fields must all carry the same value
 * ("5, 5" is 5; "5, 6" and "5," are BAD); requests refuse lists and repeats altogether (finish_request, from
 * cl_fields / cl_elements). Values over UINT64_MAX are BAD, not wrapped. */
static int add_content_length(struct tg_slice value, struct field_facts *f)
{
    size_t pos = 0;
    struct tg_slice e;
    f->cl_fields++;
    while (list_next(value, &pos, 0, &e) == 1) {
        f->cl_elements++;
        if (e.len == 0)
            return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < e.len; i++) {
            unsigned char c = (unsigned char)e.ptr[i];
            if (!is_digit(c))
                return -1;
            uint64_t d = (uint64_t)(c - '0');
            if (v > (UINT64_MAX - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        if (f->has_cl && f->cl != v)
            return -1;
        f->has_cl = 1;
        f->cl = v;
    }
    return 0;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, starting at s[*i] == '"'; advances *i past it. */
static int skip_quoted_string(struct tg_slice s, size_t *i)
{
    size_t j = *i + 1;
    while (j < s.len) {
        unsigned char c = (unsigned char)s.ptr[j];
        if (c == '"') {
            *i = j + 1;
            return 0;
        }
        if (c == '\\') {
            if (j + 1 >= s.len || !is_quoted_pair_char((unsigned char)s.ptr[j + 1]))
                return -1;
            j += 2;
        } else if (is_qdtext(c)) {
            j++;
        } else {
            return -1;
        }
    }
    return -1;
}

static void skip_ows(struct tg_slice s, size_t *i)
{
    while (*i < s.len && is_ows((unsigned char)s.ptr[*i]))
        (*i)++;
}

static size_t token_len(struct tg_slice s, size_t from)
{
    size_t i = from;
    while (i < s.len && is_tchar((unsigned char)s.ptr[i]))
        i++;
    return i - from;
}

/* transfer-coding = token *( OWS ";" OWS transfer-parameter ), transfer-parameter = token BWS "=" BWS
 * ( token / quoted-string ) (RFC 9110 §10.1.4, RFC 9112 §6.1). Sets *is_chunked. "chunked" takes no
 * parameters: "chunked;x=y" is rejected rather than guessed at. */
static int check_transfer_coding(struct tg_slice e, int *is_chunked)
{
    size_t i = token_len(e, 0);
    if (i == 0)
        return -1;
    *is_chunked = tg_slice_eq_nocase(make_slice(e.ptr, i), "chunked");
    int has_params = 0;
    while (i < e.len) {
        skip_ows(e, &i);
        if (i >= e.len || e.ptr[i] != ';')
            return -1;
        i++;
        skip_ows(e, &i);
        size_t n = token_len(e, i);
        if (n == 0)
            return -1;
        i += n;
        skip_ows(e, &i);
        if (i >= e.len || e.ptr[i] != '=')
            return -1;
        i++;
        skip_ows(e, &i);
        if (i < e.len && e.ptr[i] == '"') {
            if (skip_quoted_string(e, &i) != 0)
                return -1;
        } else {
            n = token_len(e, i);
            if (n == 0)
                return -1;
            i += n;
        }
        has_params = 1;
    }
    return (*is_chunked && has_params) ? -1 : 0;
}

/* Transfer-Encoding = #transfer-coding; repeated fields form one list (RFC 9110 §5.3). Empty elements are
 * rejected (strict: "chunked," must not mean different things to us and to the next hop); so is "chunked"
 * applied twice (RFC 9112 §6.1). Tracks whether chunked is the final coding so far. */
static int add_transfer_encoding(struct tg_slice value, struct field_facts *f)
{
    size_t pos = 0;
    struct tg_slice e;
    int r;
    f->has_te = 1;
    while ((r = list_next(value, &pos, 1, &e)) == 1) {
        int chunked = 0;
        if (e.len == 0 || check_transfer_coding(e, &chunked) != 0)
            return -1;
        if (chunked && f->te_chunked)
            return -1;
        f->te_codings++;
        f->te_chunked |= chunked;
        f->te_chunked_last = chunked;
    }
    return r < 0 ? -1 : 0;
}

static int check_host(struct tg_slice value)
{
    for (size_t i = 0; i < value.len; i++)
        if (!is_host_char((unsigned char)value.ptr[i]))
            return -1;
    return 0;
}

/* An authority of an absolute- or authority-form target: host [ ":" port ], validated like Host (check_host's
 * characters) plus: a non-empty host, no userinfo ("@" is not a host character), an IP-literal closed by "]",
 * a port of 1..5 digits when the ":" is there (required when need_port). */
static int check_authority(struct tg_slice a, int need_port)
{
    if (a.len == 0 || check_host(a) != 0)
        return -1;
    size_t host_end = a.len;
    if (a.ptr[0] == '[') {
        const char *close = memchr(a.ptr, ']', a.len);
        if (!close)
            return -1;
        host_end = (size_t)(close - a.ptr) + 1;
        if (host_end < a.len && a.ptr[host_end] != ':')
            return -1;
    } else {
        const char *colon = memchr(a.ptr, ':', a.len);
        if (colon)
            host_end = (size_t)(colon - a.ptr);
        if (memchr(a.ptr, '[', a.len) || memchr(a.ptr, ']', a.len))
            return -1;
    }
    if (host_end == 0)
        return -1;
    if (host_end == a.len)
        return need_port ? -1 : 0;
    size_t digits = a.len - host_end - 1;
    if (digits == 0 || digits > 5)
        return -1;
    for (size_t i = host_end + 1; i < a.len; i++)
        if (!is_digit((unsigned char)a.ptr[i]))
            return -1;
    return 0;
}

enum tg_target_form tg_http_parse_target(struct tg_slice method, struct tg_slice target, struct tg_http_target *out)
{
    *out = (struct tg_http_target){{NULL, 0}, {NULL, 0}};
    int is_connect = method.len == 7 && memcmp(method.ptr, "CONNECT", 7) == 0;
    int is_options = method.len == 7 && memcmp(method.ptr, "OPTIONS", 7) == 0;
    if (target.len == 0)
        return TG_TARGET_BAD;
    if (is_connect) { /* §3.2.3: authority-form only */
        if (check_authority(target, 1) != 0)
            return TG_TARGET_BAD;
        out->authority = target;
        return TG_TARGET_AUTHORITY;
    }
    if (target.len == 1 && target.ptr[0] == '*')
        return is_options ? TG_TARGET_ASTERISK : TG_TARGET_BAD; /* §3.2.4 */
    if (target.ptr[0] == '/') {
        out->path = target;
        return TG_TARGET_ORIGIN;
    }
    size_t skip = 0;
    if (target.len >= 7 && tg_slice_eq_nocase(make_slice(target.ptr, 7), "http://"))
        skip = 7;
    else if (target.len >= 8 && tg_slice_eq_nocase(make_slice(target.ptr, 8), "https://"))
        skip = 8;
    if (!skip)
        return TG_TARGET_BAD;
    size_t end = skip;
    while (end < target.len && target.ptr[end] != '/' && target.ptr[end] != '?' && target.ptr[end] != '#')
        end++;
    struct tg_slice authority = make_slice(target.ptr + skip, end - skip);
    if ((end < target.len && target.ptr[end] == '#') || check_authority(authority, 0) != 0)
        return TG_TARGET_BAD;
    out->authority = authority;
    out->path = make_slice(target.ptr + end, target.len - end);
    return TG_TARGET_ABSOLUTE;
}

/* Connection = #connection-option (RFC 9110 §7.6.1); options from every Connection field count. */
static unsigned connection_flags(struct tg_slice value)
{
    unsigned flags = 0;
    size_t pos = 0;
    struct tg_slice e;
    while (list_next(value, &pos, 0, &e) == 1) {
        if (tg_slice_eq_nocase(e, "close"))
            flags |= TG_CONN_CLOSE;
        else if (tg_slice_eq_nocase(e, "keep-alive"))
            flags |= TG_CONN_KEEP_ALIVE;
        else if (tg_slice_eq_nocase(e, "upgrade"))
            flags |= TG_CONN_UPGRADE;
        else if (e.len)
            flags |= TG_CONN_OTHER;
    }
    return flags;
}

/* One pass over the stored fields: fills host/upgrade/connection_flags and *f; -1 on a malformed CL or TE or
 * Host value (head->error says which). */
static int gather_facts(struct tg_http_head *head, int is_request, struct field_facts *f)
{
    *f = (struct field_facts){0};
    for (size_t i = 0; i < head->num_headers; i++) {
        const struct tg_http_header *h = &head->headers[i];
        if (tg_slice_eq_nocase(h->name, "content-length")) {
            if (add_content_length(h->value, f) != 0) {
                head->error = "invalid Content-Length";
                return -1;
            }
        } else if (tg_slice_eq_nocase(h->name, "transfer-encoding")) {
            if (add_transfer_encoding(h->value, f) != 0) {
                head->error = "invalid Transfer-Encoding";
                return -1;
            }
        } else if (tg_slice_eq_nocase(h->name, "connection")) {
            head->connection_flags |= connection_flags(h->value);
        } else if (tg_slice_eq_nocase(h->name, "upgrade")) {
            if (head->upgrade.ptr == NULL)
                head->upgrade = h->value;
        } else if (is_request && tg_slice_eq_nocase(h->name, "host")) {
            if (check_host(h->value) != 0) {
                head->error = "invalid Host";
                return -1;
            }
            if (f->host_count++ == 0)
                head->host = h->value;
        }
    }
    return 0;
}

/* RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 persists only with "keep-alive" (RFC 9112 §C.2.2). */
static int persistent(const struct tg_http_head *head)
{
    if (head->connection_flags & TG_CONN_CLOSE)
        return 0;
    if (head->minor_version >= 1)
        return 1;
    return (head->connection_flags & TG_CONN_KEEP_ALIVE) ? 1 : 0;
}

/* Fields a Connection option of a request must not nominate: removing them hop by hop would change how the next
 * hop frames the body (Content-Length, Transfer-Encoding) or which host it serves (Host) — RFC 9110 §7.6.1 lets
 * a proxy remove what Connection names, so a request that names them asks for a desync. */
static const char *const framing_fields[] = {"content-length", "transfer-encoding", "host", NULL};
/* ...and, on a request carrying the "upgrade" token, the WebSocket handshake's own fields (RFC 6455 §4.1). */
static const char *const handshake_fields[] = {"sec-websocket-key", "sec-websocket-version",
                                               "sec-websocket-protocol", "sec-websocket-extensions", NULL};

static int names_any(struct tg_slice option, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (tg_slice_eq_nocase(option, names[i]))
            return 1;
    return 0;
}

/* 1 when a Connection option of the request names a framing field (or a handshake field on an upgrade). */
static int connection_nominates_protected(const struct tg_http_head *head)
{
    int upgrade = (head->connection_flags & TG_CONN_UPGRADE) != 0;
    for (size_t i = 0; i < head->num_headers; i++) {
        const struct tg_http_header *h = &head->headers[i];
        if (!tg_slice_eq_nocase(h->name, "connection"))
            continue;
        size_t pos = 0;
        struct tg_slice e;
        while (list_next(h->value, &pos, 0, &e) == 1)
            if (names_any(e, framing_fields) || (upgrade && names_any(e, handshake_fields)))
                return 1;
    }
    return 0;
}

static enum tg_http_status finish_request(struct tg_http_head *head)
{
    struct field_facts f;
    if (gather_facts(head, 1, &f) != 0)
        return TG_HTTP_BAD;
    /* RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, or with more than one. */
    if (f.host_count > 1 || (head->minor_version == 1 && f.host_count == 0)) {
        head->error = f.host_count > 1 ? "more than one Host" : "no Host";
        return TG_HTTP_BAD;
    }
    /* RFC 9110 §8.6 allows a recipient to reject a repeated or listed Content-Length; a proxy must, since the
     * next hop may read "5, 5" or two fields differently (issue 11). */
    if (f.cl_fields > 1 || f.cl_elements > 1) {
        head->error = f.cl_fields > 1 ? "duplicate Content-Length" : "Content-Length list";
        return TG_HTTP_BAD;
    }
    if (f.has_te) {
        /* RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing; CL+TE is a smuggling attempt (§6.3 item 3, §11.2);
         * a request whose final coding is not chunked has no determinable length (§6.3 item 4) → 400. */
        if (head->minor_version == 0 || f.has_cl || !f.te_chunked_last) {
            head->error = head->minor_version == 0 ? "Transfer-Encoding in HTTP/1.0"
                          : f.has_cl              ? "both Content-Length and Transfer-Encoding"
                                                  : "chunked is not the final transfer coding";
            return TG_HTTP_BAD;
        }
        head->framing = TG_BODY_CHUNKED;
    } else if (f.has_cl) {
        head->framing = TG_BODY_LENGTH;
        head->content_length = f.cl;
    } else {
        head->framing = TG_BODY_NONE; /* §6.3 item 7: no CL, no TE → length 0 */
    }
    if (connection_nominates_protected(head)) {
        head->error = "Connection nominates a framing or handshake field";
        return TG_HTTP_BAD_CONNECTION;
    }
    /* RFC 9112 §6.1: a server that receives a transfer coding it does not understand SHOULD answer 501. The
     * framing is known (chunked is last) but only chunked is implemented (nginx answers 501 too). */
    if (f.te_codings > 1) {
        head->error = "unsupported transfer coding";
        return TG_HTTP_UNKNOWN_CODING;
    }
    head->keep_alive = persistent(head);
    return TG_HTTP_OK;
}

static enum tg_http_status finish_response(struct tg_http_head *head, struct tg_slice request_method)
{
    struct field_facts f;
    if (gather_facts(head, 0, &f) != 0)
        return TG_HTTP_BAD;
    if (f.has_te && head->minor_version == 0) /* RFC 9112 §6.1: faulty framing */
        return TG_HTTP_BAD;
    head->keep_alive = persistent(head);
    if (f.has_te && f.has_cl) /* RFC 9112 §6.3 item 3: TE overrides CL, and the connection must not be reused */
        head->keep_alive = 0;

    int is_head = request_method.len == 4 && request_method.ptr != NULL && memcmp(request_method.ptr, "HEAD", 4) == 0;
    int is_connect =
        request_method.len == 7 && request_method.ptr != NULL && memcmp(request_method.ptr, "CONNECT", 7) == 0;
    /* RFC 9112 §6.3 items 1 and 2 (method names are case-sensitive, RFC 9110 §9.1). */
    if (is_head || (head->status >= 100 && head->status < 200) || head->status == 204 || head->status == 304 ||
        (is_connect && head->status >= 200 && head->status < 300)) {
        head->framing = TG_BODY_NONE;
    } else if (f.has_te) {
        if (f.te_chunked_last) {
            head->framing = TG_BODY_CHUNKED;
        } else { /* item 4: not chunked last → read until close */
            head->framing = TG_BODY_UNTIL_CLOSE;
            head->keep_alive = 0;
        }
    } else if (f.has_cl) {
        head->framing = TG_BODY_LENGTH;
        head->content_length = f.cl;
    } else { /* item 8 */
        head->framing = TG_BODY_UNTIL_CLOSE;
        head->keep_alive = 0;
    }
    return TG_HTTP_OK;
}

/* Every final answer other than OK carries a text in head->error. */
static enum tg_http_status with_error(struct tg_http_head *head, enum tg_http_status st)
{
    if (st == TG_HTTP_OK || st == TG_HTTP_INCOMPLETE)
        head->error = NULL;
    else if (!head->error)
        head->error = status_error_text(st);
    return st;
}

enum tg_http_status tg_http1_parse_request(const char *buf, size_t len, size_t max_head_bytes,
                                           struct tg_http_head *head)
{
    enum tg_http_status st = scan_head(make_slice(buf, len), max_head_bytes, head, 1);
    return with_error(head, st == TG_HTTP_OK ? finish_request(head) : st);
}

enum tg_http_status tg_http1_parse_response(const char *buf, size_t len, size_t max_head_bytes,
                                            struct tg_slice request_method, struct tg_http_head *head)
{
    enum tg_http_status st = scan_head(make_slice(buf, len), max_head_bytes, head, 0);
    return with_error(head, st == TG_HTTP_OK ? finish_response(head, request_method) : st);
}

/* ---- chunked body scanner (RFC 9112 §7.1) ---- */

/* Scanner states. Each names what the next byte may be. */
enum chunk_state {
    CS_SIZE_START = 0,  /* first HEXDIG of a chunk-size (the zero state: start of body) */
    CS_SIZE,            /* more HEXDIG, BWS, ";" or CR */
    CS_EXT_SEMI,        /* after BWS that follows a size or ext value: more BWS or ";" */
    CS_EXT_NAME_START,  /* after ";": BWS or the first tchar of a chunk-ext-name */
    CS_EXT_NAME,        /* more tchar, BWS, "=", ";" or CR */
    CS_EXT_NAME_BWS,    /* BWS after a name: more BWS, "=" or ";" */
    CS_EXT_VAL_START,   /* after "=": BWS, a tchar or DQUOTE */
    CS_EXT_VAL_TOKEN,   /* more tchar, BWS, ";" or CR */
    CS_EXT_VAL_QUOTED,  /* inside a quoted-string */
    CS_EXT_VAL_ESCAPED, /* after "\" inside a quoted-string */
    CS_EXT_VAL_END,     /* after the closing DQUOTE: BWS, ";" or CR */
    CS_SIZE_LF,         /* LF ending a size line */
    CS_DATA,            /* chunk data; remaining > 0 */
    CS_DATA_CR,         /* CR after the data */
    CS_DATA_LF,         /* LF after the data */
    CS_TRAILER_START,   /* a trailer field line's first tchar, or CR of the final empty line */
    CS_TRAILER_NAME,    /* more tchar or ":" */
    CS_TRAILER_VALUE,   /* field characters or CR */
    CS_TRAILER_LF,      /* LF ending a trailer field line */
    CS_FINAL_LF,        /* LF ending the body */
    CS_DONE,
    CS_BAD,
};

/* Size-line states: bytes here count toward line_len. */
static int in_size_line(int state)
{
    return state >= CS_SIZE_START && state <= CS_EXT_VAL_END;
}

/* Moves from one size-line state on byte c; returns the next state (CS_BAD on a grammar violation). */
static int size_line_step(struct tg_chunked_scanner *sc, unsigned char c)
{
    int st = sc->state;
    if (c == '\r') {
        /* CRLF may end the line after a size, a name, or a value; not after BWS, ";", "=" or inside quotes. */
        if (st == CS_SIZE || st == CS_EXT_NAME || st == CS_EXT_VAL_TOKEN || st == CS_EXT_VAL_END)
            return CS_SIZE_LF;
        return CS_BAD;
    }
    switch (st) {
    case CS_SIZE_START:
    case CS_SIZE: {
        int d = tg_hex_digit(c);
        if (d >= 0) {
            if (sc->remaining > (CHUNK_SIZE_MAX >> 4))
                return CS_BAD;
            sc->remaining = (sc->remaining << 4) | (uint64_t)d;
            return sc->remaining > CHUNK_SIZE_MAX ? CS_BAD : CS_SIZE;
        }
        if (st == CS_SIZE_START)
            return CS_BAD;
        return is_ows(c) ? CS_EXT_SEMI : c == ';' ? CS_EXT_NAME_START : CS_BAD;
    }
    case CS_EXT_SEMI:
        return is_ows(c) ? CS_EXT_SEMI : c == ';' ? CS_EXT_NAME_START : CS_BAD;
    case CS_EXT_NAME_START:
        return is_ows(c) ? CS_EXT_NAME_START : is_tchar(c) ? CS_EXT_NAME : CS_BAD;
    case CS_EXT_NAME:
        if (is_tchar(c))
            return CS_EXT_NAME;
        return is_ows(c) ? CS_EXT_NAME_BWS : c == '=' ? CS_EXT_VAL_START : c == ';' ? CS_EXT_NAME_START : CS_BAD;
    case CS_EXT_NAME_BWS:
        return is_ows(c) ? CS_EXT_NAME_BWS : c == '=' ? CS_EXT_VAL_START : c == ';' ? CS_EXT_NAME_START : CS_BAD;
    case CS_EXT_VAL_START:
        return is_ows(c) ? CS_EXT_VAL_START : c == '"' ? CS_EXT_VAL_QUOTED : is_tchar(c) ? CS_EXT_VAL_TOKEN : CS_BAD;
    case CS_EXT_VAL_TOKEN:
        if (is_tchar(c))
            return CS_EXT_VAL_TOKEN;
        return is_ows(c) ? CS_EXT_SEMI : c == ';' ? CS_EXT_NAME_START : CS_BAD;
    case CS_EXT_VAL_QUOTED:
        return c == '"' ? CS_EXT_VAL_END : c == '\\' ? CS_EXT_VAL_ESCAPED : is_qdtext(c) ? CS_EXT_VAL_QUOTED : CS_BAD;
    case CS_EXT_VAL_ESCAPED:
        return is_quoted_pair_char(c) ? CS_EXT_VAL_QUOTED : CS_BAD;
    case CS_EXT_VAL_END:
        return is_ows(c) ? CS_EXT_SEMI : c == ';' ? CS_EXT_NAME_START : CS_BAD;
    default:
        return CS_BAD;
    }
}

/* Trailer fields refused by the scanner (RFC 9110 §6.5.1: framing, routing and connection management cannot
 * follow the content; a next hop that merges trailers into the header section would otherwise re-frame or
 * re-route). Lower case; at most 32 entries (a bit each in trailer_match). */
static const char *const forbidden_trailers[] = {"content-length", "transfer-encoding", "host", "trailer",
                                                 "connection", "keep-alive", "proxy-connection", "te", "upgrade",
                                                 NULL};

/* Keeps in mask the forbidden names whose byte idx is c (case-insensitive). */
static unsigned trailer_filter(unsigned mask, size_t idx, unsigned char c)
{
    for (unsigned i = 0; forbidden_trailers[i]; i++) {
        if (!(mask & (1u << i)))
            continue;
        const char *n = forbidden_trailers[i];
        if (idx >= strlen(n) || (unsigned char)n[idx] != ascii_lower(c))
            mask &= ~(1u << i);
    }
    return mask;
}

/* 1 when a forbidden name of exactly len bytes is still in mask (the name ended there). */
static int trailer_forbidden(unsigned mask, size_t len)
{
    for (unsigned i = 0; forbidden_trailers[i]; i++)
        if ((mask & (1u << i)) && strlen(forbidden_trailers[i]) == len)
            return 1;
    return 0;
}

/* Moves from one trailer-section state on byte c; returns the next state. */
static int trailer_step(const struct tg_chunked_scanner *sc, unsigned char c)
{
    switch (sc->state) {
    case CS_TRAILER_START: /* a leading SP/HTAB would be obs-fold (RFC 9112 §5.2) */
        return c == '\r' ? CS_FINAL_LF : is_tchar(c) ? CS_TRAILER_NAME : CS_BAD;
    case CS_TRAILER_NAME:
        return is_tchar(c) ? CS_TRAILER_NAME : c == ':' ? CS_TRAILER_VALUE : CS_BAD;
    case CS_TRAILER_VALUE:
        return c == '\r' ? CS_TRAILER_LF : is_field_char(c) ? CS_TRAILER_VALUE : CS_BAD;
    case CS_TRAILER_LF:
        return c == '\n' ? CS_TRAILER_START : CS_BAD;
    case CS_FINAL_LF:
        return c == '\n' ? CS_DONE : CS_BAD;
    default:
        return CS_BAD;
    }
}

enum tg_chunked_result tg_chunked_scan(struct tg_chunked_scanner *sc, const char *buf, size_t len,
                                       size_t *consumed)
{
    size_t i = 0;
    *consumed = 0;
    if (sc->state == CS_DONE)
        return TG_CHUNKED_DONE;
    if (sc->state == CS_BAD)
        return TG_CHUNKED_BAD;

    while (i < len) {
        unsigned char c = (unsigned char)buf[i];
        int next;
        if (sc->state == CS_DATA) {
            size_t avail = len - i;
            size_t take = sc->remaining < avail ? (size_t)sc->remaining : avail;
            sc->remaining -= take;
            sc->body_bytes += take;
            i += take;
            if (sc->remaining == 0)
                sc->state = CS_DATA_CR;
            continue;
        }
        if (in_size_line(sc->state)) {
            if (c != '\r' && ++sc->line_len > TG_CHUNK_LINE_MAX)
                next = CS_BAD;
            else
                next = size_line_step(sc, c);
        } else if (sc->state == CS_SIZE_LF) {
            next = c != '\n' ? CS_BAD : sc->remaining > 0 ? CS_DATA : CS_TRAILER_START;
            sc->line_len = 0;
        } else if (sc->state == CS_DATA_CR) {
            next = c == '\r' ? CS_DATA_LF : CS_BAD;
        } else if (sc->state == CS_DATA_LF) {
            next = c == '\n' ? CS_SIZE_START : CS_BAD;
        } else {
            /* trailer section: bounded per line and in total */
            int in_line = c != '\r' && (sc->state == CS_TRAILER_START || sc->state == CS_TRAILER_NAME ||
                                        sc->state == CS_TRAILER_VALUE);
            if (++sc->trailer_bytes > TG_CHUNK_TRAILER_MAX || (in_line && ++sc->line_len > TG_CHUNK_LINE_MAX))
                next = CS_BAD;
            else
                next = trailer_step(sc, c);
            /* the name is matched against the forbidden fields as it goes; line_len - 1 is c's index */
            if (next == CS_TRAILER_NAME) {
                unsigned start = sc->state == CS_TRAILER_START ? ~0u : sc->trailer_match;
                sc->trailer_match = trailer_filter(start, sc->line_len - 1, c);
            } else if (sc->state == CS_TRAILER_NAME && next == CS_TRAILER_VALUE &&
                       trailer_forbidden(sc->trailer_match, sc->line_len - 1)) {
                sc->error = "forbidden trailer field";
                next = CS_BAD;
            }
            if (next == CS_TRAILER_START)
                sc->line_len = 0;
        }
        sc->state = next;
        if (next == CS_BAD) {
            if (!sc->error)
                sc->error = "malformed chunked body";
            *consumed = i;
            return TG_CHUNKED_BAD;
        }
        i++;
        if (next == CS_DONE) {
            *consumed = i;
            return TG_CHUNKED_DONE;
        }
    }
    *consumed = len;
    return TG_CHUNKED_MORE;
}
