/* policy_spike_arrest.c — the spikeArrest policy (Apigee SpikeArrest): smooths traffic to a rate with no burst
 * — "10ps" admits one request per 100 ms, "600pm" the same — per identifier (traffic_identifier.h), counted
 * per data-plane process (local_counters.h; all workers share it).
 *
 * Snapshot (docs/policy-traffic.md): {"type":"spikeArrest","rate":"20ps","identifier":"client_ip"}, identifier
 * optional (default: one limit for the whole proxy).
 *
 * Verdict: a request earlier than one interval after the last admitted one gets 429 spike_arrest.exceeded
 * with Retry-After (the wait in whole seconds, rounded up, at least 1); refused requests do not push the next
 * admission further back (rate_limit.h). */
#include "policy/policy.h"

#include "clock.h"
#include "duration.h"
#include "policy/traffic/local_counters.h"
#include "policy/traffic/rate_limit.h"
#include "config/snapshot.h"
#include "policy/traffic/traffic_answer.h"
#include "policy/traffic/traffic_identifier.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct spike_state {
    char rate[24];
    uint64_t interval_us;
    struct tg_identifier ident;
};

static void spike_free(void *p) { free(p); }

static void *spike_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"rate", "identifier", NULL};
    struct spike_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st || tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    const char *rate = json_string_value(json_object_get(spec, "rate"));
    uint64_t count = 0, per_ms = 0;
    const char *why = NULL;
    if (!rate || strlen(rate) >= sizeof st->rate || tg_rate_parse(rate, &count, &per_ms, &why) < 0) {
        snprintf(err, err_size, "rate: %s", rate && why ? why : "must be a string such as \"20ps\" or \"600pm\"");
        goto fail;
    }
    snprintf(st->rate, sizeof st->rate, "%s", rate);
    st->interval_us = tg_spike_interval_us(count, per_ms);
    if (tg_identifier_compile(spec, &st->ident, err, err_size) < 0)
        goto fail;
    return st;
fail:
    spike_free(st);
    *failed = 1;
    return NULL;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void spike_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct spike_state *st = state;
    char ident[TG_IDENT_TEXT_MAX];
    size_t ident_len = tg_identifier_text(&st->ident, ctx, ident);
    char material[1024]; /* proxy id ≤ 317, identifier < 160: never truncated */
    int n = snprintf(material, sizeof material, "s\n%s\n%zu\n%" PRIu64 "\n%.*s", ctx->proxy->id, ctx->running_index,
                     st->interval_us, (int)ident_len, ident);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)material, n > 0 && (size_t)n < sizeof material ? (size_t)n : strlen(material), md);
    uint64_t wait_us = 0;
    if (tg_local_spike_admit(md, mono_us(), st->interval_us, &wait_us)) {
        tg_policy_continue(ctx);
        return;
    }
    char headers[64], msg[128];
    snprintf(headers, sizeof headers, "Retry-After: %" PRIu64 "\r\n", tg_retry_after_s((wait_us + 999) / 1000));
    snprintf(msg, sizeof msg, "requests come faster than the allowed rate of %s", st->rate);
    tg_traffic_reject(ctx, 429, "spike_arrest.exceeded", msg, headers);
}

const struct tg_policy_type tg_policy_spike_arrest = {
    .name = "spikeArrest",
    .compile = spike_compile,
    .run = spike_run,
    .free_state = spike_free,
};
