/* kube_lines.h — framing of a Kubernetes watch stream into lines.
 *
 * A watch response body is a sequence of JSON objects, one per line ("\n"-terminated; the API server's JSON
 * stream serializer). Bytes arrive in arbitrary pieces: a line may be split anywhere, and one piece may hold
 * many lines. The framer keeps the unfinished tail and hands out whole lines; a line longer than max_line
 * is an error that ends the stream (the caller reconnects), so a hostile or broken peer cannot make the
 * controller buffer without bound. Pure: no I/O.
 */
#ifndef TG_KUBE_LINES_H
#define TG_KUBE_LINES_H

#include <stddef.h>

struct tg_kube_lines {
    char *buf;        /* the unfinished line (no '\n' in it yet) */
    size_t len, cap;
    size_t max_line;  /* bytes, not counting the '\n' */
};

/* Called with each complete line (without the '\n' or a trailing '\r'; never empty). line[len] is '\0'.
 * Return 0 to go on, -1 to stop feeding (tg_kube_lines_feed then returns -1). */
typedef int (*tg_kube_line_cb)(void *arg, char *line, size_t len);

void tg_kube_lines_init(struct tg_kube_lines *l, size_t max_line);
/* Feeds n bytes. Returns 0, -1 when on_line asked to stop, -2 when a line exceeds max_line (the framer is
 * then reset and must not be fed more of this stream), -3 when out of memory. */
int tg_kube_lines_feed(struct tg_kube_lines *l, const char *data, size_t n, tg_kube_line_cb on_line, void *arg);
/* Bytes of an unfinished line held (a stream that ends with a non-zero pending tail was cut mid-object). */
static inline size_t tg_kube_lines_pending(const struct tg_kube_lines *l) { return l->len; }
void tg_kube_lines_reset(struct tg_kube_lines *l);
void tg_kube_lines_free(struct tg_kube_lines *l);

#endif
