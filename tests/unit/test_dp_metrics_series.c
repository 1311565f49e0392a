/* test_dp_metrics_series.c — the labelled series of process/metrics_series.c: the fixed vocabularies (policy
 * reasons, upstream error kinds, close codes), requests summed across two workers' shards by status class, the
 * histograms, rejections, the overflow series past the cap, and label values escaped. */
#include "process/metrics_series.h"
#include "tg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_vocabularies(void)
{
    CHECK_EQ_STR(tg_metrics_reject_reason("quota.exceeded"), "quota.exceeded");
    CHECK_EQ_STR(tg_metrics_reject_reason("auth.invalid_api_key"), "auth.invalid_api_key");
    CHECK_EQ_STR(tg_metrics_reject_reason("made.up"), "other");
    CHECK_EQ_STR(tg_metrics_reject_reason(NULL), "other");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.connect_failed", "the backend refused the connection"),
                 "connect_refused");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.connect_failed", "the backend could not be reached"),
                 "connect_error");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.connect_timeout", ""), "connect_timeout");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.timeout", ""), "response_timeout");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.failed", "the backend reset the connection"), "reset");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.failed", "the backend's response is malformed"), "bad_response");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.failed", "the backend closed the connection without answering"),
                 "closed");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.no_endpoints", ""), "no_endpoints");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.failed", "TLS handshake with the backend failed"), "tls");
    CHECK_EQ_STR(tg_metrics_upstream_kind("upstream.failed", NULL), "other");
    CHECK_EQ_STR(tg_metrics_close_code_label(1000), "1000");
    CHECK_EQ_STR(tg_metrics_close_code_label(1015), "1015");
    CHECK_EQ_STR(tg_metrics_close_code_label(1004), "other");
    CHECK_EQ_STR(tg_metrics_close_code_label(4001), "other");
}

static char *render(void)
{
    struct tg_metrics_text t = {0};
    tg_metrics_series_render(&t);
    return t.data;
}

static void test_series_across_workers(void)
{
    const struct tg_metrics_hooks *h = tg_metrics_series_hooks();
    /* the same names through different pointers on the two workers: one series after the sum */
    char env_a[] = "prod", env_b[] = "prod", px_a[] = "ns/api", px_b[] = "ns/api";
    struct tg_request_outcome ok = {.environment = env_a, .proxy = px_a, .status = 200, .duration_ns = 2000000};
    h->request_done(0, &ok);
    h->request_done(0, &ok);
    ok.environment = env_b;
    ok.proxy = px_b;
    h->request_done(1, &ok);
    struct tg_request_outcome rej = {.environment = env_a, .proxy = px_a, .status = 401, .duration_ns = 50000,
                                     .rejected_by = "verifyApiKey", .reject_code = "auth.missing_api_key"};
    h->request_done(1, &rej);
    struct tg_request_outcome bad = {.environment = env_a, .proxy = px_a, .status = 502, .duration_ns = 1000,
                                     .upstream_error = "upstream.connect_failed",
                                     .upstream_detail = "the backend refused the connection"};
    h->request_done(0, &bad);
    struct tg_session_outcome s = {.environment = env_a, .proxy = px_a, .duration_ns = 3000000000ull,
                                   .close_code = 4001, .closed_by = "backend"};
    h->session_closed(1, &s);
    /* a hostile-looking name is escaped, never breaks a line */
    struct tg_request_outcome odd = {.environment = "e\"v", .proxy = "p\\x\ny", .status = 204};
    h->request_done(0, &odd);

    char *text = render();
    CHECK(text != NULL);
    CHECK(strstr(text, "tollgate_requests_total{environment=\"prod\",proxy=\"ns/api\",code=\"2xx\"} 3\n") != NULL);
    CHECK(strstr(text, "tollgate_requests_total{environment=\"prod\",proxy=\"ns/api\",code=\"4xx\"} 1\n") != NULL);
    CHECK(strstr(text, "tollgate_requests_total{environment=\"prod\",proxy=\"ns/api\",code=\"5xx\"} 1\n") != NULL);
    CHECK(strstr(text, "tollgate_request_duration_seconds_count{environment=\"prod\",proxy=\"ns/api\"} 5\n") != NULL);
    CHECK(strstr(text, "tollgate_request_duration_seconds_bucket{environment=\"prod\",proxy=\"ns/api\",le=\"0.0025\"} "
                       "5\n") != NULL);
    CHECK(strstr(text, "tollgate_policy_rejections_total{environment=\"prod\",proxy=\"ns/api\",policy=\"verifyApiKey\","
                       "reason=\"auth.missing_api_key\"} 1\n") != NULL);
    CHECK(strstr(text, "tollgate_upstream_errors_total{kind=\"connect_refused\"} 1\n") != NULL);
    CHECK(strstr(text, "tollgate_websocket_sessions_closed_total{close_code=\"other\",closed_by=\"backend\"} 1\n") !=
          NULL);
    CHECK(strstr(text, "tollgate_websocket_session_duration_seconds_count{environment=\"prod\",proxy=\"ns/api\"} 1\n") !=
          NULL);
    CHECK(strstr(text, "environment=\"e\\\"v\",proxy=\"p\\\\x\\ny\",code=\"2xx\"} 1\n") != NULL);
    CHECK(strstr(text, "# HELP tollgate_requests_total ") != NULL);
    CHECK(strstr(text, "# TYPE tollgate_request_duration_seconds histogram\n") != NULL);
    free(text);
}

static void test_overflow(void)
{
    const struct tg_metrics_hooks *h = tg_metrics_series_hooks();
    static char names[TG_METRICS_MAX_SERIES + 10][24];
    for (int i = 0; i < TG_METRICS_MAX_SERIES + 10; i++) {
        snprintf(names[i], sizeof names[i], "ns/p%d", i);
        struct tg_request_outcome o = {.environment = "cap", .proxy = names[i], .status = 200};
        h->request_done(2, &o);
    }
    char *text = render();
    CHECK(text != NULL);
    /* the worker already held 0 series: the ones past the cap count under the overflow labels */
    CHECK(strstr(text, "tollgate_requests_total{environment=\"_overflow\",proxy=\"_overflow\",code=\"2xx\"} 10\n") !=
          NULL);
    CHECK(strstr(text, "proxy=\"ns/p2009\"") == NULL);
    CHECK(strstr(text, "proxy=\"ns/p1999\"") != NULL);
    free(text);
}

int main(void)
{
    tg_metrics_series_init(3);
    test_vocabularies();
    test_series_across_workers();
    test_overflow();
    TG_TEST_MAIN_END();
}
