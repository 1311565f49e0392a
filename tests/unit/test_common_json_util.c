/* test_common_json_util.c — strict typed getters: absent vs wrong type vs out of range, null as absent. */
#include "json_util.h"
#include "tg_test.h"

int main(void)
{
    json_error_t e;
    json_t *o = json_loads("{\"s\":\"abc\",\"b\":true,\"i\":42,\"r\":1.0,\"n\":null,\"o\":{},\"a\":[1]}", 0, &e);
    const char *s = NULL;
    int b = -1;
    json_int_t i = -1;
    json_t *v = NULL;
    CHECK_EQ_INT(tg_json_get_string(o, "s", 10, &s), TG_JSON_FOUND);
    CHECK_EQ_STR(s, "abc");
    CHECK_EQ_INT(tg_json_get_string(o, "s", 2, &s), TG_JSON_OUT_OF_RANGE);
    CHECK_EQ_INT(tg_json_get_string(o, "i", 10, &s), TG_JSON_WRONG_TYPE);
    CHECK_EQ_INT(tg_json_get_string(o, "missing", 10, &s), TG_JSON_ABSENT);
    CHECK_EQ_INT(tg_json_get_string(o, "n", 10, &s), TG_JSON_ABSENT);
    CHECK_EQ_INT(tg_json_get_string(NULL, "s", 10, &s), TG_JSON_ABSENT);
    CHECK_EQ_INT(tg_json_get_bool(o, "b", &b), TG_JSON_FOUND);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(tg_json_get_bool(o, "s", &b), TG_JSON_WRONG_TYPE);
    CHECK_EQ_INT(tg_json_get_int(o, "i", 0, 100, &i), TG_JSON_FOUND);
    CHECK_EQ_INT(i, 42);
    CHECK_EQ_INT(tg_json_get_int(o, "i", 0, 10, &i), TG_JSON_OUT_OF_RANGE);
    CHECK_EQ_INT(tg_json_get_int(o, "r", 0, 10, &i), TG_JSON_WRONG_TYPE); /* 1.0 is not an integer */
    CHECK_EQ_INT(tg_json_get_object(o, "o", &v), TG_JSON_FOUND);
    CHECK_EQ_INT(tg_json_get_object(o, "a", &v), TG_JSON_WRONG_TYPE);
    CHECK_EQ_INT(tg_json_get_array(o, "a", &v), TG_JSON_FOUND);
    CHECK_EQ_INT(json_array_size(v), 1);
    CHECK_EQ_INT(tg_json_get_array(o, "n", &v), TG_JSON_ABSENT);
    static const char *const allowed[] = {"s", "b", "i", "r", "n", "o", NULL};
    CHECK_EQ_STR(tg_json_unknown_key(o, allowed), "a");
    static const char *const all[] = {"s", "b", "i", "r", "n", "o", "a", NULL};
    CHECK(tg_json_unknown_key(o, all) == NULL);
    CHECK(tg_json_key_allowed("o", allowed));
    CHECK(!tg_json_key_allowed("a", allowed));
    CHECK(!tg_json_key_allowed("", allowed));
    CHECK_EQ_STR(tg_json_type_name(json_object_get(o, "r")), "real");
    CHECK_EQ_STR(tg_json_type_name(NULL), "nothing");
    json_decref(o);
    TG_TEST_MAIN_END();
}
