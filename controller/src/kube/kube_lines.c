/* kube_lines.c — watch stream line framing; see kube_lines.h. */
#include "kube/kube_lines.h"

#include <stdlib.h>
#include <string.h>

void tg_kube_lines_init(struct tg_kube_lines *l, size_t max_line)
{
    memset(l, 0, sizeof *l);
    l->max_line = max_line;
}

void tg_kube_lines_reset(struct tg_kube_lines *l)
{
    l->len = 0;
}

void tg_kube_lines_free(struct tg_kube_lines *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}

static int append(struct tg_kube_lines *l, const char *p, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b)
            return -1;
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    l->buf[l->len] = '\0';
    return 0;
}

/* Delivers one line (strips a trailing '\r'; skips empty lines, which the server never sends but a proxy
 * might). The line buffer must be writable and have room for the '\0' at line[len]. */
static int deliver(char *line, size_t len, tg_kube_line_cb on_line, void *arg)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (!len)
        return 0;
    char saved = line[len];
    line[len] = '\0';
    int rc = on_line(arg, line, len);
    line[len] = saved;
    return rc;
}

int tg_kube_lines_feed(struct tg_kube_lines *l, const char *data, size_t n, tg_kube_line_cb on_line, void *arg)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t piece = nl ? (size_t)(nl - data) : n;
        if (l->len + piece > l->max_line) {
            l->len = 0;
            return -2;
        }
        if (append(l, data, piece) != 0)
            return -3;
        if (!nl)
            return 0;
        /* A whole line is in buf now (one copy; lines are bounded so this is cheap). */
        size_t len = l->len;
        l->len = 0;
        if (deliver(l->buf, len, on_line, arg) != 0)
            return -1;
        data = nl + 1;
        n -= piece + 1;
    }
    return 0;
}
