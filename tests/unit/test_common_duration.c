/* test_common_duration.c — Go-style duration and Apigee rate parsing: accepted forms, strictness, overflow. */
#include "duration.h"
#include "tg_test.h"

#include <stdint.h>

static long long ms(const char *s)
{
    uint64_t v = 0;
    const char *err = NULL;
    if (tg_duration_parse_ms(s, UINT64_MAX, &v, &err) < 0)
        return -1;
    return (long long)v;
}

int main(void)
{
    CHECK_EQ_INT(ms("300s"), 300000);
    CHECK_EQ_INT(ms("1m30s"), 90000);
    CHECK_EQ_INT(ms("500ms"), 500);
    CHECK_EQ_INT(ms("0s"), 0);
    CHECK_EQ_INT(ms("0"), 0);
    CHECK_EQ_INT(ms("1h"), 3600000);
    CHECK_EQ_INT(ms("1.5h"), 5400000);
    CHECK_EQ_INT(ms(".5s"), 500);
    CHECK_EQ_INT(ms("1.s"), 1000);
    CHECK_EQ_INT(ms("1500us"), -1);
    CHECK_EQ_INT(ms("3000us"), 3);
    CHECK_EQ_INT(ms("2000000ns"), 2);
    CHECK_EQ_INT(ms("1\xc2\xb5s"), -1);   /* 1 µs is not a whole millisecond */
    CHECK_EQ_INT(ms("1000\xc2\xb5s"), 1);
    CHECK_EQ_INT(ms("1h1m1s1ms"), 3661001);
    CHECK_EQ_INT(ms("0.001s"), 1);
    CHECK_EQ_INT(ms("0.0015s"), -1);
    CHECK_EQ_INT(ms("1.0000000000000000000000s"), 1000); /* trailing zeros past 18 digits are fine */

    /* strictness */
    CHECK_EQ_INT(ms(""), -1);
    CHECK_EQ_INT(ms("5"), -1);       /* unit required except for "0" */
    CHECK_EQ_INT(ms("-5s"), -1);
    CHECK_EQ_INT(ms("+5s"), -1);
    CHECK_EQ_INT(ms(" 5s"), -1);
    CHECK_EQ_INT(ms("5s "), -1);
    CHECK_EQ_INT(ms("5 s"), -1);
    CHECK_EQ_INT(ms("5sec"), -1);
    CHECK_EQ_INT(ms("5d"), -1);
    CHECK_EQ_INT(ms("s"), -1);
    CHECK_EQ_INT(ms(".s"), -1);
    CHECK_EQ_INT(ms("1..5s"), -1);
    CHECK_EQ_INT(ms("1e3s"), -1);
    CHECK_EQ_INT(ms("00"), -1);

    /* overflow never wraps */
    CHECK_EQ_INT(ms("99999999999999999999h"), -1);
    CHECK_EQ_INT(ms("5124096h"), -1);                 /* > 2^64 ns */
    CHECK_EQ_INT(ms("5124095h"), 5124095LL * 3600000); /* just fits */
    CHECK_EQ_INT(ms("18446744073709551615ns"), -1);   /* fits in ns, not a whole ms */
    CHECK_EQ_INT(ms("18446744073709000000ns"), 18446744073709LL);
    CHECK_EQ_INT(ms("5124095h5124095h"), -1);

    /* max_ms bound and error text */
    uint64_t v = 7;
    const char *err = NULL;
    CHECK_EQ_INT(tg_duration_parse_ms("2s", 1000, &v, &err), -1);
    CHECK(err != NULL);
    CHECK_EQ_INT(v, 7); /* untouched on error */
    CHECK_EQ_INT(tg_duration_parse_ms("1s", 1000, &v, &err), 0);
    CHECK_EQ_INT(v, 1000);

    /* rates */
    uint64_t count = 0, per = 0;
    CHECK_EQ_INT(tg_rate_parse("20ps", &count, &per, &err), 0);
    CHECK_EQ_INT(count, 20);
    CHECK_EQ_INT(per, 1000);
    CHECK_EQ_INT(tg_rate_parse("10pm", &count, &per, &err), 0);
    CHECK_EQ_INT(count, 10);
    CHECK_EQ_INT(per, 60000);
    CHECK_EQ_INT(tg_rate_parse("0ps", &count, &per, &err), -1);
    CHECK_EQ_INT(tg_rate_parse("ps", &count, &per, &err), -1);
    CHECK_EQ_INT(tg_rate_parse("20", &count, &per, &err), -1);
    CHECK_EQ_INT(tg_rate_parse("20ph", &count, &per, &err), -1);
    CHECK_EQ_INT(tg_rate_parse("-1ps", &count, &per, &err), -1);
    CHECK_EQ_INT(tg_rate_parse("99999999999ps", &count, &per, &err), -1);
    CHECK_EQ_INT(tg_rate_parse("20ps ", &count, &per, &err), -1);

    TG_TEST_MAIN_END();
}
