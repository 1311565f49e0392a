/* test_common_yaml_json.c — YAML→JSON: Kubernetes-style typing, multi-document streams, error positions,
 * and the bounds (size, depth, documents, alias expansion). */
#include "yaml_json.h"
#include "tg_test.h"

#include <stdlib.h>
#include <string.h>

static json_t *load(const char *text, struct tg_yaml_error *err)
{
    return tg_yaml_to_json(text, strlen(text), NULL, err);
}

/* Parses one document and returns it dumped compactly with sorted keys (caller frees), or "ERR:<msg>". */
static char *one(const char *text)
{
    struct tg_yaml_error err;
    json_t *docs = load(text, &err);
    if (!docs) {
        char *s = malloc(300);
        snprintf(s, 300, "ERR:%d:%d:%s", err.document, err.line, err.message);
        return s;
    }
    char *s = json_dumps(json_array_get(docs, 0), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(docs);
    return s;
}

#define CHECK_YAML(text, expected)                                                                          \
    do {                                                                                                    \
        char *got_ = one(text);                                                                             \
        CHECK_EQ_STR(got_, expected);                                                                       \
        free(got_);                                                                                         \
    } while (0)

#define CHECK_YAML_ERR(text, needle)                                                                        \
    do {                                                                                                    \
        char *got_ = one(text);                                                                             \
        CHECK(strncmp(got_, "ERR:", 4) == 0 && strstr(got_, needle) != NULL);                               \
        if (strncmp(got_, "ERR:", 4) != 0 || !strstr(got_, needle))                                         \
            fprintf(stderr, "  got: %s\n", got_);                                                           \
        free(got_);                                                                                         \
    } while (0)

static void test_typing(void)
{
    CHECK_YAML("a: 1\nb: -2\nc: 0x1F\nd: 0o17\ne: 017\nf: 1_000\ng: 0b101\nh: +5\n",
               "{\"a\":1,\"b\":-2,\"c\":31,\"d\":15,\"e\":15,\"f\":1000,\"g\":5,\"h\":5}");
    CHECK_YAML("a: 1.5\nb: .5\nc: 1e3\nd: -2.5E-1\ne: 08\n",
               "{\"a\":1.5,\"b\":0.5,\"c\":1000.0,\"d\":-0.25,\"e\":8.0}");
    CHECK_YAML("a: true\nb: yes\nc: on\nd: Y\ne: no\nf: OFF\ng: False\n",
               "{\"a\":true,\"b\":true,\"c\":true,\"d\":true,\"e\":false,\"f\":false,\"g\":false}");
    CHECK_YAML("a: ~\nb: null\nc:\nd: NULL\n", "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}");
    /* quoted, block and explicitly tagged scalars stay strings */
    CHECK_YAML("a: \"1\"\nb: 'true'\nc: !!str 5\nd: |\n  yes\ne: ! on\n",
               "{\"a\":\"1\",\"b\":\"true\",\"c\":\"5\",\"d\":\"yes\\n\",\"e\":\"on\"}");
    /* strings that look almost like something else */
    CHECK_YAML("a: 2024-01-01T00:00:00Z\nb: 1.2.3\nc: 0x\nd: 5s\ne: trueish\nf: 10.0.0.1\ng: 9223372036854775808\n",
               "{\"a\":\"2024-01-01T00:00:00Z\",\"b\":\"1.2.3\",\"c\":\"0x\",\"d\":\"5s\",\"e\":\"trueish\","
               "\"f\":\"10.0.0.1\",\"g\":9.2233720368547758e18}");
    CHECK_YAML("a: -9223372036854775808\n", "{\"a\":-9223372036854775808}");
    /* keys are kept as written */
    CHECK_YAML("on: 1\n1: x\n~: z\n", "{\"1\":\"x\",\"on\":1,\"~\":\"z\"}");
    /* tags that must agree */
    CHECK_YAML("a: !!int 5\nb: !!float 5\nc: !!bool yes\nd: !!null ~\n",
               "{\"a\":5,\"b\":5.0,\"c\":true,\"d\":null}");
    CHECK_YAML_ERR("a: !!int five\n", "does not match its tag");
    CHECK_YAML_ERR("a: !custom 5\n", "unsupported YAML tag");
    CHECK_YAML_ERR("a: !!binary aGVsbG8=\n", "unsupported YAML tag");
    CHECK_YAML_ERR("a: .inf\n", "not representable");
    CHECK_YAML_ERR("a: .NaN\n", "not representable");
    /* flow style and nesting */
    CHECK_YAML("{a: [1, \"2\", {b: c}], d: []}", "{\"a\":[1,\"2\",{\"b\":\"c\"}],\"d\":[]}");
    CHECK_YAML("- a\n- - b\n  - c\n", "[\"a\",[\"b\",\"c\"]]");
    CHECK_YAML("plain", "\"plain\"");
    CHECK_YAML("42", "42");
}

static void test_structure_errors(void)
{
    CHECK_YAML_ERR("a: 1\na: 2\n", "duplicate mapping key");
    CHECK_YAML_ERR("? [a]\n: 1\n", "mapping keys must be scalars");
    CHECK_YAML_ERR("base: &b {x: 1}\nm:\n  <<: *b\n", "merge keys");
    CHECK_YAML_ERR("a: *nope\n", "undefined alias");
    /* error position: line 3 of document 2 */
    struct tg_yaml_error err;
    json_t *docs = load("a: 1\n---\nb: 2\nc: [\n", &err);
    CHECK(docs == NULL);
    CHECK_EQ_INT(err.document, 2);
    CHECK(err.line >= 4);
    docs = load("a: 1\n---\nb: 2\nb: 3\n", &err);
    CHECK(docs == NULL);
    CHECK_EQ_INT(err.document, 2);
    CHECK_EQ_INT(err.line, 4);
    CHECK(strstr(err.message, "duplicate") != NULL);
    docs = load("a: 'unterminated\n", &err);
    CHECK(docs == NULL);
    CHECK(err.line >= 1);
    CHECK(err.message[0] != '\0');
    docs = load("a:\tb: c\n\t- x\n", &err);
    CHECK(docs == NULL);
}

static void test_documents(void)
{
    struct tg_yaml_error err;
    json_t *docs = load("", &err);
    CHECK(docs && json_array_size(docs) == 0);
    json_decref(docs);
    docs = load("# only a comment\n", &err);
    CHECK(docs && json_array_size(docs) == 0);
    json_decref(docs);
    docs = load("a: 1\n---\n---\nb: 2\n...\n---\n- 3\n", &err);
    CHECK(docs != NULL);
    CHECK_EQ_INT(json_array_size(docs), 4);
    CHECK(json_is_object(json_array_get(docs, 0)));
    CHECK(json_is_null(json_array_get(docs, 1)));
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(docs, 2), "b")), 2);
    CHECK(json_is_array(json_array_get(docs, 3)));
    json_decref(docs);
    /* anchors do not cross documents */
    CHECK(load("a: &x 1\n---\nb: *x\n", &err) == NULL);
    CHECK_EQ_INT(err.document, 2);
}

static void test_aliases_and_limits(void)
{
    CHECK_YAML("a: &x {k: v}\nb: *x\nc: &s str\nd: *s\n",
               "{\"a\":{\"k\":\"v\"},\"b\":{\"k\":\"v\"},\"c\":\"str\",\"d\":\"str\"}");
    /* billion laughs: 9 levels of 10x expansion must fail on the node budget, quickly */
    const char *lol = "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
                      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                      "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                      "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    CHECK_YAML_ERR(lol, "too many YAML nodes");

    /* depth */
    char deep[400];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    CHECK_YAML_ERR(deep, "nested too deeply");
    struct tg_yaml_limits lim = tg_yaml_default_limits;
    lim.max_depth = 3;
    struct tg_yaml_error err;
    json_t *docs = tg_yaml_to_json("[[[1]]]", 7, &lim, &err);
    CHECK(docs != NULL);
    json_decref(docs);
    CHECK(tg_yaml_to_json("[[[[1]]]]", 9, &lim, &err) == NULL);
    /* depth through an alias */
    const char *via = "a: &x [[1]]\nb: [*x]\n";
    CHECK(tg_yaml_to_json(via, strlen(via), &lim, &err) == NULL);
    CHECK(strstr(err.message, "alias") != NULL);

    /* size and document count */
    lim = tg_yaml_default_limits;
    lim.max_bytes = 4;
    CHECK(tg_yaml_to_json("a: 12", 5, &lim, &err) == NULL);
    lim = tg_yaml_default_limits;
    lim.max_documents = 2;
    const char *three = "a\n---\nb\n---\nc\n";
    CHECK(tg_yaml_to_json(three, strlen(three), &lim, &err) == NULL);
    CHECK(strstr(err.message, "too many documents") != NULL);
    lim.max_documents = 3;
    docs = tg_yaml_to_json(three, strlen(three), &lim, &err);
    CHECK(docs && json_array_size(docs) == 3);
    json_decref(docs);
    lim = tg_yaml_default_limits;
    lim.max_nodes = 5;
    CHECK(tg_yaml_to_json("[1,2,3,4,5]", 11, &lim, &err) == NULL);
    lim.max_nodes = 6;
    docs = tg_yaml_to_json("[1,2,3,4,5]", 11, &lim, &err);
    CHECK(docs != NULL);
    json_decref(docs);
}

static void test_hostile_bytes(void)
{
    struct tg_yaml_error err;
    /* invalid UTF-8, NUL bytes, control characters: an error, never a crash */
    const char bad_utf8[] = "a: \xff\xfe\n";
    CHECK(tg_yaml_to_json(bad_utf8, sizeof bad_utf8 - 1, NULL, &err) == NULL);
    const char nul[] = "a: b\0c\n";
    CHECK(tg_yaml_to_json(nul, sizeof nul - 1, NULL, &err) == NULL);
    /* an escaped NUL inside a double-quoted string is a legal string value */
    json_t *docs = load("a: \"x\\0y\"\n", &err);
    CHECK(docs != NULL);
    if (docs)
        CHECK_EQ_INT(json_string_length(json_object_get(json_array_get(docs, 0), "a")), 3);
    json_decref(docs);
    CHECK_YAML_ERR("\"k\\0\": 1\n", "NUL");
}

int main(void)
{
    test_typing();
    test_structure_errors();
    test_documents();
    test_aliases_and_limits();
    test_hostile_bytes();
    TG_TEST_MAIN_END();
}
