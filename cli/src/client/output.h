/* output.h — how tollgatectl prints: human tables sized to the terminal, JSON, and YAML from the same JSON
 * values (a small emitter of our own: block style, strings quoted whenever YAML could read them as another
 * type). */
#ifndef TG_CLI_OUTPUT_H
#define TG_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

enum tg_out_format { TG_OUT_TABLE, TG_OUT_JSON, TG_OUT_YAML };

/* A table under construction: column titles, then rows of cells (copied). */
struct tg_table {
    size_t cols, rows, cap;
    char **cells; /* rows+1 lines of cols cells: line 0 holds the titles */
};

void tg_table_init(struct tg_table *t, size_t cols, const char *const *titles);
/* Appends a row of t->cols cells (NULL is printed as "-"). */
void tg_table_add(struct tg_table *t, const char *const *cells);
/* Prints the table to out, columns padded and, when wider than width (0: the terminal's width, or unlimited
 * when out is not a terminal), the widest columns cut with "~". Frees nothing. */
void tg_table_print(const struct tg_table *t, FILE *out, int width);
void tg_table_free(struct tg_table *t);
/* A command's table to stdout (sized to the terminal) or, when it has no rows, the line empty (NULL: nothing);
 * then frees it. */
void tg_table_print_or(struct tg_table *t, const char *empty);

/* The terminal's width for fd (COLUMNS, then TIOCGWINSZ), or 0 when it is not a terminal. */
int tg_term_width(int fd);

/* JSON (indented) or YAML of v to out, ending with a newline. */
void tg_print_value(FILE *out, json_t *v, enum tg_out_format fmt);
void tg_print_yaml(FILE *out, json_t *v);
/* One event of a stream (--watch, trace) to out, flushed: a YAML document ("---" first) or one compact JSON line. */
void tg_print_event(FILE *out, json_t *e, enum tg_out_format fmt);

/* Human forms: "1.2 KiB", "3m05s" (ms), "12s ago"-style ages from an RFC 3339 time. */
void tg_fmt_bytes(char *buf, size_t n, double bytes);
void tg_fmt_duration_ms(char *buf, size_t n, double ms);
/* Milliseconds since an RFC 3339 UTC time ("2026-12-07T16:19:01.123Z"), or -1 when it does not parse. */
double tg_age_ms(const char *rfc3339);

#endif
