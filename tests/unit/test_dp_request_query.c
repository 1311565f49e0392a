/* test_dp_request_query.c — policy/request_query.c: walking, finding and decoding the query string of a request
 * target (table-driven). */
#include "policy/request_query.h"
#include "tg_test.h"

#include <stdio.h>
#include <string.h>

static struct tg_slice sl(const char *s) { return (struct tg_slice){s, strlen(s)}; }

/* Every pair of target as "name=value|name|..." (bare names without '='). */
static void walk(const char *target, char *out, size_t size)
{
    size_t pos = 0, o = 0;
    struct tg_query_pair p;
    out[0] = '\0';
    while (tg_query_next(sl(target), &pos, &p) && o < size) {
        o += (size_t)snprintf(out + o, size - o, "%s%.*s%s%.*s", o ? "|" : "", (int)p.name.len, p.name.ptr,
                              p.has_value ? "=" : "", (int)p.value.len, p.value.ptr);
    }
}

static void test_walk(void)
{
    static const struct {
        const char *target, *pairs;
    } cases[] = {
        {"/chat", ""},
        {"/chat?", ""},
        {"?", ""},
        {"/chat?a=1", "a=1"},
        {"/chat?a=1&b=2", "a=1|b=2"},
        {"/chat?a=1&", "a=1"},
        {"/chat?a=1&&b", "a=1||b"},
        {"/chat?a", "a"},
        {"/chat?a=", "a="},
        {"/chat?=x", "=x"},
        {"/chat?a=1=2", "a=1=2"},
        {"/c?x=%20+y", "x=%20+y"},
        {"http://h:1/p?q=1", "q=1"},
    };
    char got[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        walk(cases[i].target, got, sizeof got);
        CHECK_EQ_STR(got, cases[i].pairs);
    }
}

static void test_param(void)
{
    static const struct {
        const char *target, *name;
        long len;
        const char *value;
    } cases[] = {
        {"/ws?apikey=k-1", "apikey", 3, "k-1"},
        {"/ws?a=1&apikey=k%20ey&b", "apikey", 4, "k ey"},
        {"/ws?apikey=a+b", "apikey", 3, "a b"},
        {"/ws?apikey=%41%42", "apikey", 2, "AB"},
        {"/ws?apikey=", "apikey", 0, ""},
        {"/ws?apikey", "apikey", 0, ""},
        {"/ws?apikey=1&apikey=2", "apikey", 1, "1"},    /* the first one */
        {"/ws?ApiKey=1", "apikey", -1, NULL},          /* names are exact */
        {"/ws?apikeyx=1", "apikey", -1, NULL},
        {"/ws?xapikey=1", "apikey", -1, NULL},
        {"/ws", "apikey", -1, NULL},
        {"/ws?apikey=%zz", "apikey", -1, NULL},        /* bad escape */
        {"/ws?apikey=%4", "apikey", -1, NULL},         /* cut escape */
        {"/ws?apikey=%", "apikey", -1, NULL},
        {"/ws?b&apikey=v", "apikey", 1, "v"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long n = tg_query_param(sl(cases[i].target), cases[i].name, out, sizeof out);
        CHECK_EQ_INT(n, cases[i].len);
        if (cases[i].value && n >= 0)
            CHECK_EQ_STR(out, cases[i].value);
    }
    /* too long for out: -1, never a cut value */
    CHECK_EQ_INT(tg_query_param(sl("/ws?k=abcdef"), "k", out, 6), -1);
    CHECK_EQ_INT(tg_query_param(sl("/ws?k=abcde"), "k", out, 6), 5);
    CHECK_EQ_INT(tg_query_decode(sl("x"), out, 0), -1);
    struct tg_query_pair p;
    CHECK(tg_query_find(sl("/ws?a=1&b"), "b", &p) && !p.has_value && p.value.len == 0);
    CHECK(!tg_query_find(sl("/ws?a=1&b"), "c", &p));
}

int main(void)
{
    test_walk();
    test_param();
    TG_TEST_MAIN_END();
}
