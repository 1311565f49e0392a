/* fuzz_ctl_kube_lines.c — the watch-stream line framer (controller/src/kube/kube_lines.c): the input is fed whole and
 * in pieces cut where the input itself says; both must hand out the same lines (or fail the same way), and no
 * line is ever longer than the limit. */
#include "kube/kube_lines.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 256

struct collect {
    char text[1 << 17];
    size_t len;
    size_t lines;
};

static int on_line(void *arg, char *line, size_t len)
{
    struct collect *c = arg;
    if (len == 0 || len > MAX_LINE || line[len] != '\0')
        __builtin_trap();
    if (c->len + len + 1 <= sizeof c->text) {
        memcpy(c->text + c->len, line, len);
        c->len += len;
        c->text[c->len++] = '\n';
    }
    c->lines++;
    return 0;
}

static int run(const uint8_t *data, size_t size, int split, struct collect *out)
{
    struct tg_kube_lines l;
    tg_kube_lines_init(&l, MAX_LINE);
    int rc = 0;
    size_t i = 0;
    while (i < size && rc == 0) {
        size_t n = size - i;
        if (split)
            n = 1 + (data[i] % 7) < n ? 1 + (data[i] % 7) : n;
        rc = tg_kube_lines_feed(&l, (const char *)data + i, n, on_line, out);
        i += n;
    }
    tg_kube_lines_free(&l);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct collect whole, pieces;
    whole.len = whole.lines = pieces.len = pieces.lines = 0;
    int a = run(data, size, 0, &whole);
    int b = run(data, size, 1, &pieces);
    if (a != b || (a == 0 && (whole.lines != pieces.lines || whole.len != pieces.len ||
                              memcmp(whole.text, pieces.text, whole.len) != 0)))
        __builtin_trap();
    return 0;
}
