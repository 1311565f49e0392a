/* yaml_json.c — see yaml_json.h. Drives libyaml's event parser and builds jansson values on an explicit
 * stack (no recursion on input depth); every limit is checked before the memory it guards is taken. */
#include "yaml_json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const struct tg_yaml_limits tg_yaml_default_limits = {
    .max_bytes = 8u << 20,
    .max_documents = 10000,
    .max_depth = 64,
    .max_nodes = 1000000,
};

#define TAG_PREFIX "tag:yaml.org,2002:"

struct frame {
    json_t *node;     /* array or object under construction */
    int is_map;
    char *key;        /* mappings: the key waiting for its value, NULL when a key comes next */
    size_t key_len;
    char *anchor;     /* anchor to register when the container ends, or NULL */
};

struct anchor {
    char *name;
    json_t *node;     /* one reference held here */
    size_t nodes;     /* size of the subtree */
    size_t depth;     /* height of the subtree (a scalar is 0, a flat container 1) */
};

struct conv {
    const struct tg_yaml_limits *lim;
    struct tg_yaml_error *err;
    struct frame *stack;
    size_t depth, cap;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t nodes;
    int document;
    json_t *docs;
    json_t *root; /* the current document's root, once complete */
};

static int fail(struct conv *c, const yaml_mark_t *mark, const char *fmt, const char *arg)
{
    c->err->document = c->document;
    c->err->line = mark ? (int)mark->line + 1 : 0;
    c->err->column = mark ? (int)mark->column + 1 : 0;
    snprintf(c->err->message, sizeof c->err->message, fmt, arg ? arg : "");
    return -1;
}

static void clear_anchors(struct conv *c)
{
    for (size_t i = 0; i < c->nanchors; i++) {
        free(c->anchors[i].name);
        json_decref(c->anchors[i].node);
    }
    c->nanchors = 0;
}

/* Height and size of a finished subtree; bounded because the subtree itself was built within the limits. */
static void measure(const json_t *v, size_t *nodes, size_t *height)
{
    size_t h = 0;
    (*nodes)++;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            size_t ch = 0;
            measure(e, nodes, &ch);
            if (ch > h)
                h = ch;
        }
        h++;
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            size_t ch = 0;
            measure(e, nodes, &ch);
            if (ch > h)
                h = ch;
        }
        h++;
    }
    *height = h;
}

static int register_anchor(struct conv *c, const char *name, json_t *node, const yaml_mark_t *mark)
{
    if (!name)
        return 0;
    /* A later anchor with the same name replaces the earlier one (YAML 1.1 §3.2.2.2). */
    struct anchor *a = NULL;
    for (size_t i = 0; i < c->nanchors; i++)
        if (strcmp(c->anchors[i].name, name) == 0) {
            a = &c->anchors[i];
            json_decref(a->node);
            break;
        }
    if (!a) {
        if (c->nanchors == c->anchors_cap) {
            size_t ncap = c->anchors_cap ? c->anchors_cap * 2 : 8;
            struct anchor *na = realloc(c->anchors, ncap * sizeof *na);
            if (!na)
                return fail(c, mark, "out of memory%s", NULL);
            c->anchors = na;
            c->anchors_cap = ncap;
        }
        a = &c->anchors[c->nanchors];
        a->name = strdup(name);
        if (!a->name)
            return fail(c, mark, "out of memory%s", NULL);
        c->nanchors++;
    }
    a->node = json_incref(node);
    a->nodes = 0;
    measure(node, &a->nodes, &a->depth);
    return 0;
}

static int count_node(struct conv *c, size_t n, const yaml_mark_t *mark)
{
    if (n > c->lim->max_nodes - c->nodes)
        return fail(c, mark, "too many YAML nodes (limit reached; aliases count as copies)%s", NULL);
    c->nodes += n;
    return 0;
}

/* Attaches a finished value (stolen) to the container on top of the stack, or makes it the document root. */
static int add_value(struct conv *c, json_t *v, const yaml_mark_t *mark)
{
    if (!v)
        return fail(c, mark, "out of memory or invalid UTF-8%s", NULL);
    if (c->depth == 0) {
        c->root = v;
        return 0;
    }
    struct frame *f = &c->stack[c->depth - 1];
    if (!f->is_map) {
        if (json_array_append_new(f->node, v) < 0)
            return fail(c, mark, "out of memory%s", NULL);
        return 0;
    }
    int rc = json_object_setn_new(f->node, f->key, f->key_len, v);
    free(f->key);
    f->key = NULL;
    if (rc < 0)
        return fail(c, mark, "invalid mapping key%s", NULL);
    return 0;
}

static int expecting_key(const struct conv *c)
{
    return c->depth > 0 && c->stack[c->depth - 1].is_map && c->stack[c->depth - 1].key == NULL;
}

/* ---- scalar typing (go-yaml v2 resolve rules) ---- */

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
                                         "on", "On", "ON", NULL};
static const char *const false_words[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE",
                                          "off", "Off", "OFF", NULL};
static const char *const nonfinite_words[] = {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf",
                                              "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", NULL};

static int digit_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return 99;
}

/* strconv.ParseInt(s, 0, 64): returns 1 and *out when s is an in-range integer, 0 otherwise. */
static int parse_go_int(const char *s, json_int_t *out)
{
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
    else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        base = 8, s += 2;
    else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2;
    else if (s[0] == '0' && s[1] != '\0')
        base = 8, s += 1;
    if (!*s)
        return 0;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        int d = digit_value(*s);
        if (d >= base)
            return 0;
        if (v > (limit - (uint64_t)d) / (uint64_t)base)
            return 0;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = neg ? (json_int_t)(0 - v) : (json_int_t)v;
    return 1;
}

/* YAML 1.1 float as go-yaml checks it: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int yaml_style_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    } else {
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

enum plain_type { PLAIN_NULL, PLAIN_BOOL, PLAIN_INT, PLAIN_FLOAT, PLAIN_STRING, PLAIN_NONFINITE };

/* Types a plain scalar; *out receives the value (NULL for PLAIN_NONFINITE or on allocation failure). */
static enum plain_type resolve_plain(const char *s, size_t len, json_t **out)
{
    *out = NULL;
    if (strlen(s) != len) { /* embedded NUL: can only be a string */
        *out = json_stringn(s, len);
        return PLAIN_STRING;
    }
    if (in_list(s, null_words)) {
        *out = json_null();
        return PLAIN_NULL;
    }
    if (in_list(s, true_words)) {
        *out = json_true();
        return PLAIN_BOOL;
    }
    if (in_list(s, false_words)) {
        *out = json_false();
        return PLAIN_BOOL;
    }
    if (in_list(s, nonfinite_words))
        return PLAIN_NONFINITE;
    char first = s[0];
    if ((first >= '0' && first <= '9') || first == '+' || first == '-' || first == '.') {
        char plain[128];
        size_t n = 0;
        for (size_t i = 0; i < len && n < sizeof plain - 1; i++)
            if (s[i] != '_')
                plain[n++] = s[i];
        plain[n] = '\0';
        if (len < sizeof plain) { /* longer texts are never numbers we keep exact; treat as strings */
            json_int_t iv;
            if (parse_go_int(plain, &iv)) {
                *out = json_integer(iv);
                return PLAIN_INT;
            }
            if (yaml_style_float(plain)) {
                errno = 0;
                double d = strtod(plain, NULL);
                if (isfinite(d)) {
                    *out = json_real(d);
                    return PLAIN_FLOAT;
                }
                return PLAIN_NONFINITE;
            }
        }
    }
    *out = json_stringn(s, len);
    return PLAIN_STRING;
}

static int on_scalar(struct conv *c, const yaml_event_t *ev)
{
    const char *val = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    const yaml_mark_t *mark = &ev->start_mark;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

    if (count_node(c, 1, mark) < 0)
        return -1;
    if (expecting_key(c)) {
        if (plain && !tag && len == 2 && memcmp(val, "<<", 2) == 0)
            return fail(c, mark, "merge keys (<<) are not supported%s", NULL);
        struct frame *f = &c->stack[c->depth - 1];
        if (memchr(val, '\0', len))
            return fail(c, mark, "mapping key contains a NUL character%s", NULL);
        if (json_object_get(f->node, val))
            return fail(c, mark, "duplicate mapping key \"%.200s\"", val);
        f->key = malloc(len + 1);
        if (!f->key)
            return fail(c, mark, "out of memory%s", NULL);
        memcpy(f->key, val, len + 1);
        f->key_len = len;
        if (ev->data.scalar.anchor) {
            json_t *k = json_stringn(val, len);
            int rc = k ? register_anchor(c, (const char *)ev->data.scalar.anchor, k, mark) : -1;
            json_decref(k);
            if (rc < 0)
                return fail(c, mark, "invalid mapping key%s", NULL);
        }
        return 0;
    }

    json_t *v = NULL;
    if (tag && strcmp(tag, "!") != 0 && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
        return fail(c, mark, "unsupported YAML tag %.200s", tag);
    const char *t = tag && strcmp(tag, "!") != 0 ? tag + strlen(TAG_PREFIX) : NULL;
    if (t && strcmp(t, "str") != 0 && strcmp(t, "int") != 0 && strcmp(t, "float") != 0 &&
        strcmp(t, "bool") != 0 && strcmp(t, "null") != 0)
        return fail(c, mark, "unsupported YAML tag %.200s", tag);
    if (!plain || (tag && !t) || (t && strcmp(t, "str") == 0)) {
        v = json_stringn(val, len);
    } else {
        enum plain_type pt = resolve_plain(val, len, &v);
        if (pt == PLAIN_NONFINITE)
            return fail(c, mark, "%.200s is not representable in JSON", val);
        if (t) {
            int ok = (strcmp(t, "int") == 0 && pt == PLAIN_INT) ||
                     (strcmp(t, "float") == 0 && (pt == PLAIN_INT || pt == PLAIN_FLOAT)) ||
                     (strcmp(t, "bool") == 0 && pt == PLAIN_BOOL) || (strcmp(t, "null") == 0 && pt == PLAIN_NULL);
            if (!ok) {
                json_decref(v);
                return fail(c, mark, "scalar does not match its tag !!%.100s", t);
            }
            if (strcmp(t, "float") == 0 && pt == PLAIN_INT) {
                json_t *r = json_real((double)json_integer_value(v));
                json_decref(v);
                v = r;
            }
        }
    }
    if (!v)
        return fail(c, mark, "invalid scalar (bad UTF-8?)%s", NULL);
    if (ev->data.scalar.anchor && register_anchor(c, (const char *)ev->data.scalar.anchor, v, mark) < 0) {
        json_decref(v);
        return -1;
    }
    return add_value(c, v, mark);
}

static int on_container_start(struct conv *c, const yaml_event_t *ev, int is_map)
{
    const yaml_mark_t *mark = &ev->start_mark;
    const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *anchor =
        (const char *)(is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
    if (expecting_key(c))
        return fail(c, mark, "mapping keys must be scalars%s", NULL);
    if (tag && strcmp(tag, is_map ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0)
        return fail(c, mark, "unsupported YAML tag %.200s", tag);
    if (c->depth + 1 > c->lim->max_depth)
        return fail(c, mark, "YAML nested too deeply%s", NULL);
    if (count_node(c, 1, mark) < 0)
        return -1;
    if (c->depth == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        struct frame *ns = realloc(c->stack, ncap * sizeof *ns);
        if (!ns)
            return fail(c, mark, "out of memory%s", NULL);
        c->stack = ns;
        c->cap = ncap;
    }
    struct frame *f = &c->stack[c->depth];
    memset(f, 0, sizeof *f);
    f->is_map = is_map;
    f->node = is_map ? json_object() : json_array();
    if (anchor)
        f->anchor = strdup(anchor);
    if (!f->node || (anchor && !f->anchor)) {
        json_decref(f->node);
        free(f->anchor);
        return fail(c, mark, "out of memory%s", NULL);
    }
    c->depth++;
    return 0;
}

static int on_container_end(struct conv *c, const yaml_event_t *ev)
{
    if (c->depth == 0 || !c->stack) /* libyaml balances its events; never trust that blindly */
        return fail(c, &ev->start_mark, "unbalanced end of a mapping or sequence%s", NULL);
    struct frame f = c->stack[--c->depth];
    int rc = 0;
    if (f.anchor)
        rc = register_anchor(c, f.anchor, f.node, &ev->start_mark);
    free(f.anchor);
    free(f.key);
    if (rc < 0) {
        json_decref(f.node);
        return -1;
    }
    return add_value(c, f.node, &ev->start_mark);
}

static int on_alias(struct conv *c, const yaml_event_t *ev)
{
    const yaml_mark_t *mark = &ev->start_mark;
    const char *name = (const char *)ev->data.alias.anchor;
    if (expecting_key(c))
        return fail(c, mark, "aliases cannot be mapping keys%s", NULL);
    const struct anchor *a = NULL;
    for (size_t i = 0; i < c->nanchors; i++)
        if (strcmp(c->anchors[i].name, name) == 0)
            a = &c->anchors[i];
    if (!a)
        return fail(c, mark, "undefined alias *%.200s", name);
    if (c->depth + a->depth > c->lim->max_depth)
        return fail(c, mark, "YAML nested too deeply (through alias *%.200s)", name);
    if (count_node(c, a->nodes, mark) < 0)
        return -1;
    return add_value(c, json_deep_copy(a->node), mark);
}

static int handle_event(struct conv *c, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if ((size_t)c->document >= c->lim->max_documents)
            return fail(c, &ev->start_mark, "too many documents in one file%s", NULL);
        c->document++;
        c->root = NULL;
        clear_anchors(c);
        return 0;
    case YAML_DOCUMENT_END_EVENT: {
        json_t *root = c->root ? c->root : json_null();
        c->root = NULL;
        clear_anchors(c);
        if (json_array_append_new(c->docs, root) < 0)
            return fail(c, &ev->start_mark, "out of memory%s", NULL);
        return 0;
    }
    case YAML_SCALAR_EVENT:
        return on_scalar(c, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_container_start(c, ev, 0);
    case YAML_MAPPING_START_EVENT:
        return on_container_start(c, ev, 1);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_container_end(c, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(c, ev);
    default:
        return 0;
    }
}

json_t *tg_yaml_to_json(const char *buf, size_t len, const struct tg_yaml_limits *limits,
                        struct tg_yaml_error *err)
{
    struct conv c = {0};
    c.lim = limits ? limits : &tg_yaml_default_limits;
    c.err = err;
    memset(err, 0, sizeof *err);
    if (len > c.lim->max_bytes) {
        fail(&c, NULL, "file is larger than the limit%s", NULL);
        return NULL;
    }
    c.docs = json_array();
    if (!c.docs) {
        fail(&c, NULL, "out of memory%s", NULL);
        return NULL;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        json_decref(c.docs);
        fail(&c, NULL, "out of memory%s", NULL);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int ok = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            /* libyaml counts the document it is in only once DOCUMENT-START was seen. */
            int doc = c.document;
            fail(&c, &parser.problem_mark, "%.200s", parser.problem ? parser.problem : "YAML syntax error");
            if (parser.context) {
                size_t used = strlen(err->message);
                snprintf(err->message + used, sizeof err->message - used, " (%s)", parser.context);
            }
            err->document = doc ? doc : 1;
            break;
        }
        int rc = handle_event(&c, &ev);
        int done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
        if (done) {
            ok = 1;
            break;
        }
    }
    yaml_parser_delete(&parser);
    while (c.depth > 0) {
        struct frame *f = &c.stack[--c.depth];
        json_decref(f->node);
        free(f->key);
        free(f->anchor);
    }
    free(c.stack);
    json_decref(c.root);
    clear_anchors(&c);
    free(c.anchors);
    if (!ok) {
        json_decref(c.docs);
        return NULL;
    }
    return c.docs;
}
