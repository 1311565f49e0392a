/* policy_quota.c — the quota policy (Apigee Quota, fixed window): at most `limit` requests (WebSocket upgrades
 * included) per window of intervalMs, aligned to the Unix epoch (rate_limit.h), per identifier
 * (traffic_identifier.h).
 *
 * Snapshot (docs/policy-traffic.md):
 *   {"type":"quota","limit":1000,"intervalMs":60000,"identifier":"apikey",
 *    "distributed":{"redisAddress":"redis:6379","password":"…","failOpen":true,"keyPrefix":"tollgate:quota:"}}
 * identifier and distributed are optional; password and keyPrefix too (default prefix "tollgate:quota:").
 *
 * Counting: without `distributed`, in the process-wide local counters (local_counters.h), so all workers of a
 * data plane share one count; with it, in Redis (redis_counter.h) under
 *   <keyPrefix><proxy id>:<policy index>:<intervalMs>:<identifier text>:<window start ms>
 * so every replica shares one count. The counters are keyed by proxy and policy position, not by snapshot: a
 * configuration push does not reset them.
 *
 * Verdicts: within the limit the request goes on and the response carries X-RateLimit-Limit, -Remaining and
 * -Reset (seconds until the window ends) as response edits; over it, 429 quota.exceeded with Retry-After
 * (seconds to the window's end, rounded up) and the same three fields. Redis unavailable: failOpen (default)
 * lets the request through without the fields (counted in tg_redis_failures), otherwise 503
 * quota.unavailable. */
#include "policy/policy.h"

#include "host_port.h"
#include "policy/traffic/local_counters.h"
#include "policy/traffic/rate_limit.h"
#include "policy/traffic/redis_counter.h"
#include "config/snapshot.h"
#include "policy/traffic/traffic_answer.h"
#include "policy/traffic/traffic_identifier.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INTERVAL_MS (366ULL * 24 * 3600 * 1000)
#define MAX_PREFIX 128
#define TTL_SLACK_MS 1000 /* a Redis key outlives its window by this much (clock skew between replicas) */

struct quota_state {
    uint64_t limit;
    uint64_t interval_ms;
    struct tg_identifier ident;
    int distributed;
    char host[TG_REDIS_HOST_MAX + 1];
    uint16_t port;
    char *password;
    int fail_open;
    char prefix[MAX_PREFIX + 1];
};

/* One count waiting for Redis (ctx->policy_data). */
struct quota_wait {
    struct tg_policy_ctx *ctx;
    const struct quota_state *st;
    struct tg_redis_request *req;
    struct tg_window window;
};

static void quota_free(void *p)
{
    struct quota_state *st = p;
    if (!st)
        return;
    if (st->password) {
        OPENSSL_cleanse(st->password, strlen(st->password));
        free(st->password);
    }
    free(st);
}

static int compile_distributed(struct quota_state *st, const json_t *d, char *err, size_t err_size)
{
    static const char *const fields[] = {"redisAddress", "password", "failOpen", "keyPrefix", NULL};
    if (!json_is_object(d)) {
        snprintf(err, err_size, "distributed: must be an object");
        return -1;
    }
    if (tg_policy_only_fields(d, fields, "distributed.", err, err_size) < 0)
        return -1;
    const char *addr = json_string_value(json_object_get(d, "redisAddress"));
    const char *why = NULL;
    if (!addr || tg_host_port_parse(addr, st->host, &st->port, &why) < 0) {
        snprintf(err, err_size, "distributed.redisAddress: %s", addr ? why : "must be a string HOST:PORT");
        return -1;
    }
    const json_t *pw = json_object_get(d, "password");
    if (pw) {
        const char *s = json_string_value(pw);
        if (!s || json_string_length(pw) > TG_REDIS_PASSWORD_MAX || strlen(s) != json_string_length(pw)) {
            snprintf(err, err_size, "distributed.password: must be a string of at most %d bytes",
                     TG_REDIS_PASSWORD_MAX);
            return -1;
        }
        st->password = strdup(s);
        if (!st->password) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    }
    const json_t *fo = json_object_get(d, "failOpen");
    if (fo && !json_is_boolean(fo)) {
        snprintf(err, err_size, "distributed.failOpen: must be a boolean");
        return -1;
    }
    st->fail_open = !fo || json_is_true(fo);
    const json_t *kp = json_object_get(d, "keyPrefix");
    const char *prefix = kp ? json_string_value(kp) : "tollgate:quota:";
    size_t n = prefix ? strlen(prefix) : 0;
    int ok = prefix && n <= MAX_PREFIX && (!kp || n == json_string_length(kp));
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)prefix[i] > 0x20 && (unsigned char)prefix[i] < 0x7f;
    if (!ok) {
        snprintf(err, err_size, "distributed.keyPrefix: must be at most %d visible ASCII characters", MAX_PREFIX);
        return -1;
    }
    memcpy(st->prefix, prefix, n + 1);
    st->distributed = 1;
    return 0;
}

static void *quota_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"limit", "intervalMs", "identifier", "distributed", NULL};
    struct quota_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st || tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    const json_t *limit = json_object_get(spec, "limit");
    if (!json_is_integer(limit) || json_integer_value(limit) < 1) {
        snprintf(err, err_size, "limit: must be an integer ≥ 1");
        goto fail;
    }
    st->limit = (uint64_t)json_integer_value(limit);
    const json_t *interval = json_object_get(spec, "intervalMs");
    if (!json_is_integer(interval) || json_integer_value(interval) < 1 ||
        (uint64_t)json_integer_value(interval) > MAX_INTERVAL_MS) {
        snprintf(err, err_size, "intervalMs: must be an integer from 1 to %" PRIu64, (uint64_t)MAX_INTERVAL_MS);
        goto fail;
    }
    st->interval_ms = (uint64_t)json_integer_value(interval);
    if (tg_identifier_compile(spec, &st->ident, err, err_size) < 0)
        goto fail;
    const json_t *d = json_object_get(spec, "distributed");
    if (d && compile_distributed(st, d, err, err_size) < 0)
        goto fail;
    return st;
fail:
    quota_free(st);
    *failed = 1;
    return NULL;
}

static void format_interval(uint64_t ms, char *out, size_t size)
{
    if (ms % 3600000 == 0)
        snprintf(out, size, "%" PRIu64 "h", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(out, size, "%" PRIu64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(out, size, "%" PRIu64 "s", ms / 1000);
    else
        snprintf(out, size, "%" PRIu64 "ms", ms);
}

/* The verdict for the window's count including this request. */
static void decide(struct tg_policy_ctx *ctx, const struct quota_state *st, const struct tg_window *window,
                   uint64_t count)
{
    uint64_t remaining = count < st->limit ? st->limit - count : 0;
    uint64_t reset = tg_window_reset_s(window, ctx->now_wall_ms);
    char limit_s[24], remaining_s[24], reset_s[24];
    snprintf(limit_s, sizeof limit_s, "%" PRIu64, st->limit);
    snprintf(remaining_s, sizeof remaining_s, "%" PRIu64, remaining);
    snprintf(reset_s, sizeof reset_s, "%" PRIu64, reset);
    if (count > st->limit) {
        char headers[256], msg[128], iv[32];
        format_interval(st->interval_ms, iv, sizeof iv);
        uint64_t wait_ms = window->end_ms > ctx->now_wall_ms ? window->end_ms - ctx->now_wall_ms : 0;
        snprintf(headers, sizeof headers,
                 "Retry-After: %" PRIu64 "\r\nX-RateLimit-Limit: %s\r\nX-RateLimit-Remaining: 0\r\n"
                 "X-RateLimit-Reset: %s\r\n",
                 tg_retry_after_s(wait_ms), limit_s, reset_s);
        snprintf(msg, sizeof msg, "the quota of %" PRIu64 " requests per %s is used up", st->limit, iv);
        tg_traffic_reject(ctx, 429, "quota.exceeded", msg, headers);
        return;
    }
    /* informational: when the edit list is full the request still goes on without them */
    tg_policy_set_response_header(ctx, "X-RateLimit-Limit", limit_s);
    tg_policy_set_response_header(ctx, "X-RateLimit-Remaining", remaining_s);
    tg_policy_set_response_header(ctx, "X-RateLimit-Reset", reset_s);
    tg_policy_continue(ctx);
}

static void unavailable(struct tg_policy_ctx *ctx, const struct quota_state *st)
{
    if (st->fail_open)
        tg_policy_continue(ctx);
    else
        tg_traffic_reject(ctx, 503, "quota.unavailable", "the quota counters cannot be reached", NULL);
}

static void on_counted(void *arg, int ok, long long count)
{
    struct quota_wait *wait = arg;
    struct tg_policy_ctx *ctx = wait->ctx;
    const struct quota_state *st = wait->st;
    struct tg_window window = wait->window;
    ctx->policy_data = NULL;
    free(wait);
    if (!ok)
        unavailable(ctx, st);
    else
        decide(ctx, st, &window, (uint64_t)count);
}

static void quota_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct quota_state *st = state;
    char ident[TG_IDENT_TEXT_MAX];
    size_t ident_len = tg_identifier_text(&st->ident, ctx, ident);
    struct tg_window window = tg_window_at(ctx->now_wall_ms, st->interval_ms);
    if (!st->distributed) {
        /* key: SHA-256(proxy id, policy index, interval, identifier), first 16 bytes */
        char material[1024]; /* proxy id ≤ 317, identifier < 160: never truncated */
        int n = snprintf(material, sizeof material, "q\n%s\n%zu\n%" PRIu64 "\n%.*s", ctx->proxy->id,
                         ctx->running_index, st->interval_ms, (int)ident_len, ident);
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)material, n > 0 && (size_t)n < sizeof material ? (size_t)n : strlen(material),
               md);
        uint64_t count = tg_local_quota_incr(md, window.end_ms, ctx->now_wall_ms);
        decide(ctx, st, &window, count);
        return;
    }
    char key[MAX_PREFIX + 1024];
    int n = snprintf(key, sizeof key, "%s%s:%zu:%" PRIu64 ":%.*s:%" PRIu64, st->prefix, ctx->proxy->id,
                     ctx->running_index, st->interval_ms, (int)ident_len, ident, window.start_ms);
    size_t key_len = n > 0 && (size_t)n < sizeof key ? (size_t)n : strlen(key);
    struct quota_wait *wait = calloc(1, sizeof *wait);
    if (!wait) {
        unavailable(ctx, st);
        return;
    }
    wait->ctx = ctx;
    wait->st = st;
    wait->window = window;
    uint64_t ttl = window.end_ms - ctx->now_wall_ms + TTL_SLACK_MS;
    wait->req = tg_redis_incr(ctx->worker, st->host, st->port, st->password, key, key_len, ttl, on_counted, wait);
    if (!wait->req) {
        free(wait);
        unavailable(ctx, st);
        return;
    }
    ctx->policy_data = wait; /* the verdict comes from on_counted, on this worker's loop */
}

static void quota_cancel(struct tg_policy_ctx *ctx, void *state)
{
    struct quota_wait *wait = ctx->policy_data;
    if (!wait)
        return;
    tg_redis_request_cancel(wait->req);
    free(wait);
    ctx->policy_data = NULL;
}

const struct tg_policy_type tg_policy_quota = {
    .name = "quota",
    .compile = quota_compile,
    .run = quota_run,
    .free_state = quota_free,
    .cancel = quota_cancel,
};
