/* output.c — tables sized to the terminal, JSON and YAML printing, and the human forms of sizes and ages. */
#include "client/output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

void tg_table_init(struct tg_table *t, size_t cols, const char *const *titles)
{
    memset(t, 0, sizeof *t);
    t->cols = cols;
    t->cap = cols * 16;
    t->cells = cols ? calloc(t->cap, sizeof *t->cells) : NULL;
    if (!t->cells)
        return;
    for (size_t i = 0; i < cols; i++)
        t->cells[i] = strdup(titles[i]); /* line 0: the titles */
}

void tg_table_add(struct tg_table *t, const char *const *cells)
{
    if (!t->cells)
        return;
    size_t line = t->rows + 1;
    if ((line + 1) * t->cols > t->cap) {
        size_t cap = t->cap * 2;
        while (cap < (line + 1) * t->cols)
            cap *= 2;
        char **c = realloc(t->cells, cap * sizeof *c);
        if (!c)
            return;
        t->cells = c;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->cols; i++)
        t->cells[line * t->cols + i] = strdup(cells[i] ? cells[i] : "-");
    t->rows++;
}

/* Display width of UTF-8 text: one column per code point (the tables hold no wide characters). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Prints s in exactly w columns: cut with "~" when longer, padded when pad. */
static void put_cell(FILE *out, const char *s, size_t w, int pad)
{
    size_t tw = text_width(s);
    if (tw <= w) {
        fputs(s, out);
        if (pad)
            for (size_t i = tw; i < w; i++)
                fputc(' ', out);
        return;
    }
    size_t cols = 0;
    for (const char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (cols + 1 >= w)
                break;
            cols++;
        }
        fputc(*p, out);
    }
    if (w > 0)
        fputc('~', out);
}

void tg_table_print_or(struct tg_table *t, const char *empty)
{
    if (t->rows)
        tg_table_print(t, stdout, 0);
    else if (empty)
        printf("%s\n", empty);
    tg_table_free(t);
}

void tg_table_print(const struct tg_table *t, FILE *out, int width)
{
    if (!t->cells)
        return;
    if (width == 0)
        width = tg_term_width(fileno(out));
    size_t *w = calloc(t->cols, sizeof *w);
    if (!w)
        return;
    for (size_t r = 0; r <= t->rows; r++)
        for (size_t c = 0; c < t->cols; c++) {
            size_t tw = text_width(t->cells[r * t->cols + c]);
            if (tw > w[c])
                w[c] = tw;
        }
    if (width > 0) {
        /* shrink the widest column, one column at a time, until the line fits (columns keep 6 at least) */
        for (;;) {
            size_t total = 0, widest = 0;
            for (size_t c = 0; c < t->cols; c++) {
                total += w[c] + (c + 1 < t->cols ? 2 : 0);
                if (w[c] > w[widest])
                    widest = c;
            }
            if (total <= (size_t)width || w[widest] <= 6)
                break;
            w[widest] -= (total - (size_t)width < w[widest] - 6) ? total - (size_t)width : w[widest] - 6;
        }
    }
    for (size_t r = 0; r <= t->rows; r++) {
        for (size_t c = 0; c < t->cols; c++) {
            put_cell(out, t->cells[r * t->cols + c], w[c], c + 1 < t->cols);
            if (c + 1 < t->cols)
                fputs("  ", out);
        }
        fputc('\n', out);
    }
    free(w);
}

void tg_table_free(struct tg_table *t)
{
    if (t->cells)
        for (size_t i = 0; i < (t->rows + 1) * t->cols; i++)
            free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

int tg_term_width(int fd)
{
    if (!isatty(fd))
        return 0;
    const char *env = getenv("COLUMNS");
    if (env && atoi(env) > 20)
        return atoi(env);
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

/* ------------------------------------------------------------------------------------------------ YAML */

/* Whether a string can be written plain (unquoted) and read back as the same string. */
static int yaml_plain_ok(const char *s)
{
    if (!*s)
        return 0;
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 0;
    char *end;
    (void)strtod(s, &end);
    if (*end == '\0')
        return 0; /* a number */
    if (strchr("-?:,[]{}#&*!|>'\"%@` .+", s[0]))
        return 0;
    if (s[0] >= '0' && s[0] <= '9')
        return 0; /* numbers, dates and times (YAML 1.1 reads 2026-12-07T... as a timestamp), versions */
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f || ch == '#' || ch == '"' || ch == '\\')
            return 0;
        if (ch == ':' && (p[1] == ' ' || p[1] == '\0'))
            return 0;
    }
    return s[strlen(s) - 1] != ' ';
}

static void yaml_scalar(FILE *out, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (yaml_plain_ok(s)) {
            fputs(s, out);
        } else { /* a JSON string is a valid YAML double-quoted scalar */
            char *q = json_dumps(v, JSON_ENCODE_ANY);
            fputs(q ? q : "\"\"", out);
            free(q);
        }
        break;
    }
    case JSON_INTEGER:
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(out, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", out);
        break;
    case JSON_FALSE:
        fputs("false", out);
        break;
    case JSON_OBJECT:
        fputs("{}", out);
        break;
    case JSON_ARRAY:
        fputs("[]", out);
        break;
    default:
        fputs("null", out);
    }
}

static int yaml_is_block(json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) || (json_is_array(v) && json_array_size(v) > 0);
}

static void indent(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

/* Writes v as the value of a block at column col. first_inline: the first line continues a "- " already
 * written. */
static void yaml_block(FILE *out, json_t *v, int col, int first_inline)
{
    int first = 1;
    if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) {
            if (!(first && first_inline))
                indent(out, col);
            first = 0;
            json_t *k = json_string(key);
            yaml_scalar(out, k);
            json_decref(k);
            fputc(':', out);
            if (yaml_is_block(val)) {
                fputc('\n', out);
                yaml_block(out, val, json_is_array(val) ? col : col + 2, 0);
            } else {
                fputc(' ', out);
                yaml_scalar(out, val);
                fputc('\n', out);
            }
        }
    } else {
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val) {
            if (!(first && first_inline))
                indent(out, col);
            first = 0;
            fputs("- ", out);
            if (yaml_is_block(val)) {
                yaml_block(out, val, col + 2, 1);
            } else {
                yaml_scalar(out, val);
                fputc('\n', out);
            }
        }
    }
}

void tg_print_yaml(FILE *out, json_t *v)
{
    if (yaml_is_block(v)) {
        yaml_block(out, v, 0, 0);
    } else {
        yaml_scalar(out, v);
        fputc('\n', out);
    }
}

void tg_print_event(FILE *out, json_t *e, enum tg_out_format fmt)
{
    if (fmt == TG_OUT_YAML) {
        fputs("---\n", out);
        tg_print_yaml(out, e);
    } else {
        char *text = json_dumps(e, JSON_COMPACT);
        if (text) {
            fputs(text, out);
            fputc('\n', out);
        }
        free(text);
    }
    fflush(out);
}

void tg_print_value(FILE *out, json_t *v, enum tg_out_format fmt)
{
    if (fmt == TG_OUT_YAML) {
        tg_print_yaml(out, v);
        return;
    }
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (text) {
        fputs(text, out);
        fputc('\n', out);
        free(text);
    }
}

/* ------------------------------------------------------------------------------------------- human forms */

void tg_fmt_bytes(char *buf, size_t n, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f B", bytes);
    else
        snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

void tg_fmt_duration_ms(char *buf, size_t n, double ms)
{
    if (ms < 0) {
        snprintf(buf, n, "-");
        return;
    }
    if (ms < 1000) {
        snprintf(buf, n, "%.0fms", ms);
        return;
    }
    long s = (long)(ms / 1000);
    if (s < 60)
        snprintf(buf, n, "%.1fs", ms / 1000);
    else if (s < 3600)
        snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, n, "%ldh%02ldm", s / 3600, (s / 60) % 60);
}

double tg_age_ms(const char *rfc3339)
{
    if (!rfc3339)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    char *rest = strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    double frac = 0;
    if (*rest == '.')
        frac = strtod(rest, NULL);
    time_t t = timegm(&tm);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double ms = ((double)now.tv_sec - (double)t - frac) * 1000.0 + now.tv_nsec / 1e6;
    return ms < 0 ? 0 : ms;
}
