/* policy_pipeline.c — runs a proxy's ordered policies for one request (policy.h): synchronous policies in a
 * loop (no recursion however long the list), asynchronous ones resumed when they deliver their verdict, the
 * three verdict calls (continue, reject, answer), cancellation, the per-policy trace of debug sessions, and
 * the debug log line of a refused request (redacted).
 * What a policy writes into its context besides the verdict is in policy_ctx.c and policy_claims.c. */
#include "policy/policy.h"

#include "config/snapshot.h"
#include "log.h"
#include "policy/auth/auth_redact.h"

#include <stdio.h>
#include <time.h>

#define VERDICT_PENDING (-1)

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *outcome_name(int verdict)
{
    switch (verdict) {
    case TG_POLICY_OUTCOME_CONTINUE: return "continue";
    case TG_POLICY_OUTCOME_REJECT: return "reject";
    default: return "answer";
    }
}

static void record_trace(struct tg_policy_ctx *ctx)
{
    if (ctx->num_trace >= sizeof ctx->trace / sizeof ctx->trace[0])
        return;
    const struct tg_compiled_policy *p = &ctx->proxy->policies[ctx->running_index];
    ctx->trace[ctx->num_trace].name = p->type->name;
    ctx->trace[ctx->num_trace].result = outcome_name(ctx->verdict);
    uint64_t took = now_us() - ctx->running_since_us;
    ctx->trace[ctx->num_trace].micros = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
    ctx->num_trace++;
}

/* At debug level, a refused or self-answered request is logged with the policy that decided it and the
 * request head redacted (auth_redact.h): no key, token, cookie or Authorization value reaches the line. */
static void log_verdict(const struct tg_policy_ctx *ctx)
{
    if (tg_log_get_level() > TG_LOG_DEBUG || ctx->verdict == TG_POLICY_OUTCOME_CONTINUE || !ctx->request)
        return;
    char head[1536];
    tg_redact_request(ctx->proxy, ctx->request, head, sizeof head);
    const struct tg_compiled_policy *p = &ctx->proxy->policies[ctx->running_index];
    tg_debug("policy %s of %s: %s %d %s for %s: %s", p->type->name, ctx->proxy->id ? ctx->proxy->id : "",
             outcome_name(ctx->verdict), ctx->status, ctx->verdict == TG_POLICY_OUTCOME_REJECT ? ctx->code : "",
             ctx->client_ip ? ctx->client_ip : "", head);
}

static void finish(struct tg_policy_ctx *ctx)
{
    if (ctx->finished)
        return;
    ctx->finished = 1;
    log_verdict(ctx);
    ctx->on_finish(ctx, ctx->on_finish_arg);
}

static void run_from_next(struct tg_policy_ctx *ctx)
{
    while (ctx->next_index < ctx->proxy->num_policies) {
        size_t i = ctx->next_index++;
        const struct tg_compiled_policy *p = &ctx->proxy->policies[i];
        ctx->running_index = i;
        ctx->verdict = VERDICT_PENDING;
        ctx->running_since_us = now_us();
        ctx->in_run = 1;
        p->type->run(ctx, p->state);
        ctx->in_run = 0;
        if (ctx->verdict == VERDICT_PENDING)
            return; /* asynchronous: resumed by the verdict call */
        record_trace(ctx);
        if (ctx->verdict != TG_POLICY_OUTCOME_CONTINUE) {
            finish(ctx);
            return;
        }
    }
    ctx->verdict = TG_POLICY_OUTCOME_CONTINUE;
    finish(ctx);
}

void tg_policy_pipeline_start(struct tg_policy_ctx *ctx, void (*on_finish)(struct tg_policy_ctx *, void *), void *arg)
{
    ctx->on_finish = on_finish;
    ctx->on_finish_arg = arg;
    ctx->next_index = 0;
    ctx->finished = 0;
    run_from_next(ctx);
}

void tg_policy_pipeline_cancel(struct tg_policy_ctx *ctx)
{
    if (ctx->finished || ctx->verdict != VERDICT_PENDING)
        return;
    const struct tg_compiled_policy *p = &ctx->proxy->policies[ctx->running_index];
    if (p->type->cancel)
        p->type->cancel(ctx, p->state);
    ctx->finished = 1;
}

enum tg_policy_outcome tg_policy_outcome(const struct tg_policy_ctx *ctx)
{
    return ctx->verdict < 0 ? TG_POLICY_OUTCOME_REJECT : (enum tg_policy_outcome)ctx->verdict;
}

static void deliver(struct tg_policy_ctx *ctx, int verdict)
{
    if (ctx->finished || ctx->verdict != VERDICT_PENDING)
        return; /* a second verdict for one run, or after a cancel: ignored */
    ctx->verdict = verdict;
    if (ctx->in_run)
        return; /* the loop in run_from_next takes it from here */
    record_trace(ctx);
    if (verdict == TG_POLICY_OUTCOME_CONTINUE)
        run_from_next(ctx);
    else
        finish(ctx);
}

void tg_policy_continue(struct tg_policy_ctx *ctx) { deliver(ctx, TG_POLICY_OUTCOME_CONTINUE); }

void tg_policy_reject(struct tg_policy_ctx *ctx, int status, const char *code, const char *message,
                      const char *extra_headers)
{
    ctx->status = status;
    snprintf(ctx->code, sizeof ctx->code, "%s", code);
    snprintf(ctx->message, sizeof ctx->message, "%s", message);
    snprintf(ctx->extra_headers, sizeof ctx->extra_headers, "%s", extra_headers ? extra_headers : "");
    deliver(ctx, TG_POLICY_OUTCOME_REJECT);
}

void tg_policy_answer(struct tg_policy_ctx *ctx, int status, const char *extra_headers)
{
    ctx->status = status;
    snprintf(ctx->extra_headers, sizeof ctx->extra_headers, "%s", extra_headers ? extra_headers : "");
    deliver(ctx, TG_POLICY_OUTCOME_ANSWER);
}
