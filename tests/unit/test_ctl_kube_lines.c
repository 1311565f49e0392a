/* test_ctl_kube_lines.c — watch stream framing: lines split at every byte position, many lines per piece,
 * CRLF and blank lines, the line bound, stopping early. */
#include "kube/kube_lines.h"
#include "tg_test.h"

#include <stdlib.h>
#include <string.h>

struct seen {
    char text[4096];
    int count;
    int stop_after;
};

static int collect(void *arg, char *line, size_t len)
{
    struct seen *s = arg;
    CHECK_EQ_INT(strlen(line), len); /* NUL-terminated at len */
    strncat(s->text, line, sizeof s->text - strlen(s->text) - 2);
    strcat(s->text, "|");
    s->count++;
    return s->stop_after && s->count >= s->stop_after ? -1 : 0;
}

static void test_every_split(void)
{
    const char *stream = "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\",\"object\":{}}\r\n\n{\"type\":\"DELETED\"}\n";
    size_t n = strlen(stream);
    const char *want = "{\"type\":\"ADDED\"}|{\"type\":\"MODIFIED\",\"object\":{}}|{\"type\":\"DELETED\"}|";
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b += 3) {
            struct tg_kube_lines l;
            tg_kube_lines_init(&l, 1024);
            struct seen s = {0};
            CHECK_EQ_INT(tg_kube_lines_feed(&l, stream, a, collect, &s), 0);
            CHECK_EQ_INT(tg_kube_lines_feed(&l, stream + a, b - a, collect, &s), 0);
            CHECK_EQ_INT(tg_kube_lines_feed(&l, stream + b, n - b, collect, &s), 0);
            if (strcmp(s.text, want) != 0) {
                fprintf(stderr, "split %zu/%zu: got %s\n", a, b, s.text);
                CHECK(0);
            }
            CHECK_EQ_INT(tg_kube_lines_pending(&l), 0);
            tg_kube_lines_free(&l);
        }
}

static void test_byte_at_a_time_and_pending(void)
{
    const char *stream = "abc\ndef\nunfinished";
    struct tg_kube_lines l;
    tg_kube_lines_init(&l, 64);
    struct seen s = {0};
    for (size_t i = 0; i < strlen(stream); i++)
        CHECK_EQ_INT(tg_kube_lines_feed(&l, stream + i, 1, collect, &s), 0);
    CHECK_EQ_STR(s.text, "abc|def|");
    CHECK_EQ_INT(tg_kube_lines_pending(&l), strlen("unfinished"));
    tg_kube_lines_reset(&l);
    CHECK_EQ_INT(tg_kube_lines_pending(&l), 0);
    tg_kube_lines_free(&l);
}

static void test_bound(void)
{
    struct tg_kube_lines l;
    tg_kube_lines_init(&l, 8);
    struct seen s = {0};
    CHECK_EQ_INT(tg_kube_lines_feed(&l, "12345678\n", 9, collect, &s), 0); /* exactly the bound */
    CHECK_EQ_STR(s.text, "12345678|");
    CHECK_EQ_INT(tg_kube_lines_feed(&l, "12345", 5, collect, &s), 0);
    CHECK_EQ_INT(tg_kube_lines_feed(&l, "6789", 4, collect, &s), -2); /* over it, across pieces */
    CHECK_EQ_INT(tg_kube_lines_pending(&l), 0);
    tg_kube_lines_free(&l);

    /* A huge piece without a newline is refused without buffering it all. */
    tg_kube_lines_init(&l, 1 << 10);
    char *big = malloc(1 << 16);
    memset(big, 'x', 1 << 16);
    CHECK_EQ_INT(tg_kube_lines_feed(&l, big, 1 << 16, collect, &s), -2);
    CHECK(l.cap <= (1 << 12));
    free(big);
    tg_kube_lines_free(&l);
}

static void test_stop(void)
{
    struct tg_kube_lines l;
    tg_kube_lines_init(&l, 64);
    struct seen s = {.stop_after = 2};
    CHECK_EQ_INT(tg_kube_lines_feed(&l, "a\nb\nc\n", 6, collect, &s), -1);
    CHECK_EQ_STR(s.text, "a|b|");
    tg_kube_lines_free(&l);
}

int main(void)
{
    test_every_split();
    test_byte_at_a_time_and_pending();
    test_bound();
    test_stop();
    TG_TEST_MAIN_END();
}
