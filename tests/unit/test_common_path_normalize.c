/* test_common_path_normalize.c — unit tests for common/path_normalize.c: every path-bypass vector of issue 11,
 * both with encoded slashes refused (the default) and kept (the opt-in), dot segments (also encoded), merged
 * slashes, the query left alone, escapes, the refusals (NUL, backslash, fragment, overlong UTF-8 lead bytes),
 * the output bound, and idempotence of every accepted result. */
#include "path_normalize.h"
#include "tg_test.h"

#include <stdlib.h>

static char out[4096];
static size_t out_len;

/* Normalises s with flags; on OK also checks that the result is a fixed point and NUL-terminates it. */
static enum tg_path_status norm(const char *s, unsigned flags)
{
    enum tg_path_status st = tg_path_normalize(s, strlen(s), flags, out, sizeof out, &out_len);
    if (st == TG_PATH_OK) {
        static char again[4096];
        size_t again_len = 0;
        enum tg_path_status st2 = tg_path_normalize(out, out_len, flags, again, sizeof again, &again_len);
        if (st2 != TG_PATH_OK || again_len != out_len || memcmp(again, out, out_len) != 0) {
            fprintf(stderr, "not idempotent: %s\n", s);
            tg_test_failed++;
        }
        out[out_len] = '\0';
    } else {
        out[0] = '\0';
    }
    return st;
}

/* s normalises (with flags) to want. */
static int to(const char *s, unsigned flags, const char *want)
{
    enum tg_path_status st = norm(s, flags);
    if (st != TG_PATH_OK || strcmp(out, want) != 0) {
        fprintf(stderr, "%s → %s \"%s\", expected \"%s\"\n", s, tg_path_status_str(st), out, want);
        return 0;
    }
    return 1;
}

#define ALLOW TG_PATH_ALLOW_ENCODED_SLASH

/* The vectors at the top of issue 11: all must reach "/chat/secret" (and so the /chat policy), or be refused. */
static void test_issue_vectors(void)
{
    CHECK(to("//chat/secret", 0, "/chat/secret"));
    CHECK(to("/ch%61t/secret", 0, "/chat/secret"));
    CHECK(to("/%63hat/secret", 0, "/chat/secret"));
    CHECK(to("/%63%68%61%74/%73ecret", 0, "/chat/secret"));
    CHECK_EQ_INT(norm("/chat%2fsecret", 0), TG_PATH_ENCODED_SLASH);
    CHECK_EQ_INT(norm("/%2Fchat/secret", 0), TG_PATH_ENCODED_SLASH);
    CHECK_EQ_INT(norm("/x%2f..%2fchat/secret", 0), TG_PATH_ENCODED_SLASH);
    CHECK_EQ_INT(norm("/x%2F%2E%2E%2Fchat/secret", 0), TG_PATH_ENCODED_SLASH);
    CHECK_EQ_INT(norm("/x/..%2fchat/secret", 0), TG_PATH_ENCODED_SLASH);
    CHECK_EQ_INT(tg_path_status_answer(TG_PATH_ENCODED_SLASH), 400);
    /* opted in: encoded slashes stay encoded and delimit nothing (so no ".." segment appears) */
    CHECK(to("/chat%2fsecret", ALLOW, "/chat%2Fsecret"));
    CHECK(to("/%2Fchat/secret", ALLOW, "/%2Fchat/secret"));
    CHECK(to("/x%2f..%2fchat/secret", ALLOW, "/x%2F..%2Fchat/secret"));
    CHECK(to("/x%2F%2E%2E%2Fchat/secret", ALLOW, "/x%2F..%2Fchat/secret"));
    CHECK(to("/x/..%2fchat/secret", ALLOW, "/x/..%2Fchat/secret"));
    /* encoded dots between raw slashes are dot segments */
    CHECK(to("/x/%2e%2e/chat/secret", 0, "/chat/secret"));
    CHECK(to("/x/%2E./chat/secret", 0, "/chat/secret"));
    CHECK(to("/x/.%2e/chat/secret", 0, "/chat/secret"));
    CHECK(to("/open/../chat/secret", 0, "/chat/secret"));
    CHECK(to("/./chat/./secret", 0, "/chat/secret"));
    CHECK(to("/%2e/chat//secret", 0, "/chat/secret"));
    /* backslashes: raw always refused, encoded refused unless opted in (then kept, like %2F) */
    CHECK_EQ_INT(norm("/x\\..\\chat/secret", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/x\\..\\chat/secret", ALLOW), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/\\chat/secret", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/x%5c..%5cchat/secret", 0), TG_PATH_ENCODED_SLASH);
    CHECK(to("/x%5c..%5cchat/secret", ALLOW, "/x%5C..%5Cchat/secret"));
    /* NUL and overlong UTF-8 */
    CHECK_EQ_INT(norm("/chat/secret%00.html", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/%00", ALLOW), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/x/%c0%ae%c0%ae/chat/secret", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/x/%C1%9C", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/x/%c0%af", ALLOW), TG_PATH_BAD);
    CHECK(to("/caf%c3%a9", 0, "/caf%C3%A9")); /* real UTF-8 is kept, encoded */
    CHECK_EQ_INT(tg_path_status_answer(TG_PATH_BAD), 400);
}

#define DECODE TG_PATH_DECODE_ENCODED_SLASH

/* The decoding opt-in (Envoy's UNESCAPE_AND_FORWARD): an escaped slash or backslash is a slash, so every issue 11
 * spelling lands where its decoded form does, dot segments across escaped slashes included. */
static void test_decode_encoded_slashes(void)
{
    CHECK(to("/chat%2fsecret", DECODE, "/chat/secret"));
    CHECK(to("/%2Fchat/secret", DECODE, "/chat/secret"));
    CHECK(to("/x%2f..%2fchat/secret", DECODE, "/chat/secret"));
    CHECK(to("/x%2F%2E%2E%2Fchat/secret", DECODE, "/chat/secret"));
    CHECK(to("/x/..%2fchat/secret", DECODE, "/chat/secret"));
    CHECK(to("/x%5c..%5cchat/secret", DECODE, "/chat/secret"));
    CHECK(to("/chat/x%2F..%2F..%2Fopen", DECODE, "/open"));
    CHECK(to("/a%2F", DECODE, "/a/"));
    CHECK(to("/a%2F%2F%2fb?x=%2F", DECODE, "/a/b?x=%2F")); /* merged; the query as received */
    CHECK(to("/%2F..", DECODE, "/"));
    CHECK(to("/a%252Fb", DECODE, "/a%252Fb")); /* never decoded twice */
    CHECK(to("/a%2F..%2Fb", DECODE | ALLOW, "/b")); /* decoding wins */
    CHECK_EQ_INT(norm("/a%2", DECODE), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/a\\b", DECODE), TG_PATH_BAD); /* a raw backslash stays refused */
    CHECK_EQ_INT(norm("/a%2F%00", DECODE), TG_PATH_BAD);
}

static void test_dot_segments(void)
{
    CHECK(to("/", 0, "/"));
    CHECK(to("/a", 0, "/a"));
    CHECK(to("/a/", 0, "/a/"));
    CHECK(to("/a/b/..", 0, "/a/"));
    CHECK(to("/a/b/.", 0, "/a/b/"));
    CHECK(to("/a/..", 0, "/"));
    CHECK(to("/..", 0, "/"));
    CHECK(to("/../../..", 0, "/"));
    CHECK(to("/../../chat", 0, "/chat"));
    CHECK(to("/a/b/c/./../../g", 0, "/a/g")); /* RFC 3986 §5.2.4's example */
    CHECK(to("/mid/content=5/../6", 0, "/mid/6"));
    CHECK(to("/a/.../b", 0, "/a/.../b"));
    CHECK(to("/a/..b/.c/b..", 0, "/a/..b/.c/b.."));
    CHECK(to("/a//..", 0, "/"));
    CHECK(to("/a/b//../c", 0, "/a/c"));
    CHECK(to("/.", 0, "/"));
    CHECK(to("/./", 0, "/"));
    CHECK(to("/a/./", 0, "/a/"));
}

static void test_slashes_and_escapes(void)
{
    CHECK(to("//", 0, "/"));
    CHECK(to("///a////b///", 0, "/a/b/"));
    CHECK(to("/a%3a", 0, "/a%3A"));                /* reserved: kept, upper-cased */
    CHECK(to("/%7e%2D%5f%2e%41%7A%30", 0, "/~-_.Az0")); /* unreserved: decoded */
    CHECK(to("/%252F", 0, "/%252F"));              /* never decoded twice */
    CHECK(to("/%25", 0, "/%25"));
    CHECK(to("/a%20b", 0, "/a%20b"));             /* only the escape's hex digits change case */
    CHECK(to("/a%2a%3f%5b", 0, "/a%2A%3F%5B"));
    CHECK(to("/%e2%82%ac", 0, "/%E2%82%AC"));
    CHECK(to("/a:b@c!$&'()*+,;=", 0, "/a:b@c!$&'()*+,;="));
    CHECK_EQ_INT(norm("/%zz", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/%2", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/%", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/a%2?x=1", 0), TG_PATH_BAD); /* an escape cut by the query */
    CHECK_EQ_INT(norm("/a%g0", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/a#frag", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/a b", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/a\x01", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("/a\x80", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("chat/secret", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("*", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("http://a/chat", 0), TG_PATH_BAD);
    CHECK_EQ_INT(norm("?x", 0), TG_PATH_BAD);
    /* the first failure wins */
    CHECK_EQ_INT(norm("/%2f%zz", 0), TG_PATH_ENCODED_SLASH);
    CHECK_EQ_INT(norm("/%zz%2f", 0), TG_PATH_BAD);
}

static void test_query(void)
{
    CHECK(to("/chat/secret?x=/../%2f&a=%61#f\\", 0, "/chat/secret?x=/../%2f&a=%61#f\\"));
    CHECK(to("//a/../b/?", 0, "/b/?"));
    CHECK(to("/?apikey=a&apikey=b", 0, "/?apikey=a&apikey=b"));
    CHECK(to("/a/..?q", 0, "/?q"));
    CHECK(to("/a?b/../c", 0, "/a?b/../c"));
}

static void test_bounds(void)
{
    /* out_cap == len always suffices */
    static const char *const any[] = {"/", "/a", "/a/", "//a//", "/a/..", "/%61", "/a?x", "/x/%2e%2e/y", "/a%3a"};
    for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
        size_t n = strlen(any[i]);
        char *exact = malloc(n);
        size_t ol = 99;
        CHECK(exact != NULL);
        if (!exact)
            continue;
        CHECK_EQ_INT(tg_path_normalize(any[i], n, 0, exact, n, &ol), TG_PATH_OK);
        CHECK(ol <= n);
        free(exact);
    }
    /* a result over out_cap */
    char small[8];
    size_t ol = 99;
    CHECK_EQ_INT(tg_path_normalize("/abcdefghij", 11, 0, small, sizeof small, &ol), TG_PATH_TOO_LONG);
    CHECK_EQ_INT(ol, 0);
    CHECK_EQ_INT(tg_path_normalize("/a?bcdefghij", 12, 0, small, sizeof small, &ol), TG_PATH_TOO_LONG);
    CHECK_EQ_INT(tg_path_normalize("/a/../../../../bcd", 18, 0, small, sizeof small, &ol), TG_PATH_OK);
    CHECK_EQ_INT(ol, 4);
    CHECK_EQ_INT(tg_path_normalize("/a", 2, 0, small, 0, &ol), TG_PATH_TOO_LONG);
    CHECK_EQ_INT(tg_path_status_answer(TG_PATH_TOO_LONG), 414);
    CHECK_EQ_INT(tg_path_status_answer(TG_PATH_OK), 0);
    /* a long path of many segments: linear, and ".." pops them all */
    static char big[3000], bout[3000];
    size_t n = 0;
    for (int k = 0; k < 500; k++)
        n += (size_t)snprintf(big + n, sizeof big - n, "/a");
    for (int k = 0; k < 500; k++)
        n += (size_t)snprintf(big + n, sizeof big - n, "/..");
    n += (size_t)snprintf(big + n, sizeof big - n, "/chat");
    CHECK_EQ_INT(tg_path_normalize(big, n, 0, bout, sizeof bout, &ol), TG_PATH_OK);
    CHECK(ol == 5 && memcmp(bout, "/chat", 5) == 0);
    CHECK_EQ_STR(tg_path_status_str(TG_PATH_ENCODED_SLASH), "encoded_slash");
}

/* the mode names (--encoded-slashes, spec.encodedSlashes) and the test for a mode-dependent path */
static void test_modes(void)
{
    enum tg_encoded_slashes m = TG_ENCODED_SLASHES_REJECT;
    CHECK(tg_encoded_slashes_parse("keep", &m) == 0 && m == TG_ENCODED_SLASHES_KEEP);
    CHECK(tg_encoded_slashes_parse("decode", &m) == 0 && m == TG_ENCODED_SLASHES_DECODE);
    CHECK(tg_encoded_slashes_parse("reject", &m) == 0 && m == TG_ENCODED_SLASHES_REJECT);
    CHECK(tg_encoded_slashes_parse("Keep", &m) == -1 && tg_encoded_slashes_parse("", &m) == -1);
    CHECK(tg_encoded_slashes_parse("keepx", &m) == -1 && tg_encoded_slashes_parse(NULL, &m) == -1);
    static const char *const yes[] = {"/a%2fb", "/a%2Fb", "/%5c", "/x%5C..", "/a%2F?q"};
    static const char *const no[] = {"/a/b", "/a%252F", "/a?x=%2F", "/a%2", "/a%5", "/a%2e", "/%25%2"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(tg_path_has_encoded_slash(yes[i], strlen(yes[i])) == 1);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(tg_path_has_encoded_slash(no[i], strlen(no[i])) == 0);
    CHECK(tg_path_has_encoded_slash("/a%2F", 4) == 0); /* bounded by len */
}

int main(void)
{
    test_modes();
    test_issue_vectors();
    test_decode_encoded_slashes();
    test_dot_segments();
    test_slashes_and_escapes();
    test_query();
    test_bounds();
    TG_TEST_MAIN_END();
}
