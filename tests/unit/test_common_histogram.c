/* test_common_histogram.c — the shared histogram: bucket choice at and around each bound, merging, the Prometheus
 * text (cumulative buckets, +Inf equals count, labels), a too-small buffer, quantiles. */
#include "histogram.h"
#include "tg_test.h"

#include <string.h>

static void test_bucket_edges(void)
{
    struct tg_histogram h = {0};
    tg_histogram_observe_ns(&h, 0);          /* first bucket */
    tg_histogram_observe_ns(&h, 10000);      /* exactly 10 µs: le="1e-05" */
    tg_histogram_observe_ns(&h, 10001);      /* just above: le="2.5e-05" */
    tg_histogram_observe_ns(&h, 3600000000000ull); /* exactly 1 h: last finite */
    tg_histogram_observe_ns(&h, 3600000000001ull); /* above every bound */
    CHECK_EQ_INT(atomic_load(&h.buckets[0]), 2);
    CHECK_EQ_INT(atomic_load(&h.buckets[1]), 1);
    CHECK_EQ_INT(atomic_load(&h.buckets[TG_HISTOGRAM_BOUNDS - 1]), 1);
    CHECK_EQ_INT(atomic_load(&h.buckets[TG_HISTOGRAM_BOUNDS]), 1);
    CHECK_EQ_INT(atomic_load(&h.count), 5);
}

static void test_render_and_merge(void)
{
    struct tg_histogram a = {0}, b = {0}, sum = {0};
    tg_histogram_observe_ns(&a, 1500000);   /* 1.5 ms → le 0.0025 */
    tg_histogram_observe_ns(&b, 200000000); /* 200 ms → le 0.25 */
    tg_histogram_add_into(&sum, &a);
    tg_histogram_add_into(&sum, &b);
    char out[4096];
    size_t len = 0;
    CHECK_EQ_INT(tg_histogram_render(&sum, "x_seconds", "proxy=\"p\"", out, sizeof out, &len), 0);
    CHECK(strstr(out, "x_seconds_bucket{proxy=\"p\",le=\"0.001\"} 0\n") != NULL);
    CHECK(strstr(out, "x_seconds_bucket{proxy=\"p\",le=\"0.0025\"} 1\n") != NULL);
    CHECK(strstr(out, "x_seconds_bucket{proxy=\"p\",le=\"0.25\"} 2\n") != NULL);
    CHECK(strstr(out, "x_seconds_bucket{proxy=\"p\",le=\"+Inf\"} 2\n") != NULL);
    CHECK(strstr(out, "x_seconds_sum{proxy=\"p\"} 0.201500000\n") != NULL);
    CHECK(strstr(out, "x_seconds_count{proxy=\"p\"} 2\n") != NULL);
    CHECK_EQ_INT(len, strlen(out));

    size_t len2 = 0;
    CHECK_EQ_INT(tg_histogram_render(&sum, "y", NULL, out, sizeof out, &len2), 0);
    CHECK(strstr(out, "y_bucket{le=\"+Inf\"} 2\n") != NULL);
    CHECK(strstr(out, "y_count 2\n") != NULL);

    size_t small_len = 0;
    char small[64];
    CHECK_EQ_INT(tg_histogram_render(&sum, "y", NULL, small, sizeof small, &small_len), -1);
    CHECK_EQ_INT(small_len, 0);
}

static void test_quantile(void)
{
    struct tg_histogram h = {0};
    CHECK(tg_histogram_quantile(&h, 0.99) == 0);
    for (int i = 0; i < 99; i++)
        tg_histogram_observe_ns(&h, 40000); /* le 5e-05 */
    tg_histogram_observe_ns(&h, 20000000);  /* 20 ms → le 0.025 */
    CHECK(tg_histogram_quantile(&h, 0.5) == 0.00005);
    CHECK(tg_histogram_quantile(&h, 0.99) == 0.00005);
    CHECK(tg_histogram_quantile(&h, 1.0) == 0.025);
}

int main(void)
{
    test_bucket_edges();
    test_render_and_merge();
    test_quantile();
    TG_TEST_MAIN_END();
}
