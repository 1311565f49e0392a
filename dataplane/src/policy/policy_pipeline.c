/* policy_pipeline.c — runs a proxy's ordered policies for one request (policy.h): synchronous policies in a
 * loop (no recursion however long the list), asynchronous ones resumed when they deliver their verdict; the
 * verdict helpers, request/response header edits, and the credential-location helpers policies share. */
#include "policy/policy.h"

#include "hex.h"
#include "config/snapshot.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
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

static void finish(struct tg_policy_ctx *ctx)
{
    if (ctx->finished)
        return;
    ctx->finished = 1;
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

static int add_edit(struct tg_header_edit *list, size_t *count, const char *name, const char *value, int remove)
{
    /* a later edit of the same field replaces an earlier one */
    for (size_t i = 0; i < *count; i++) {
        if (strcasecmp(list[i].name, name) == 0) {
            snprintf(list[i].value, sizeof list[i].value, "%s", value ? value : "");
            list[i].remove = (unsigned char)remove;
            return 0;
        }
    }
    if (*count >= TG_POLICY_MAX_EDITS)
        return -1;
    struct tg_header_edit *e = &list[(*count)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->value, sizeof e->value, "%s", value ? value : "");
    e->remove = (unsigned char)remove;
    return 0;
}

int tg_policy_set_request_header(struct tg_policy_ctx *ctx, const char *name, const char *value)
{
    return add_edit(ctx->request_edits, &ctx->num_request_edits, name, value, 0);
}
int tg_policy_remove_request_header(struct tg_policy_ctx *ctx, const char *name)
{
    return add_edit(ctx->request_edits, &ctx->num_request_edits, name, NULL, 1);
}
int tg_policy_set_response_header(struct tg_policy_ctx *ctx, const char *name, const char *value)
{
    return add_edit(ctx->response_edits, &ctx->num_response_edits, name, value, 0);
}
int tg_policy_remove_response_header(struct tg_policy_ctx *ctx, const char *name)
{
    return add_edit(ctx->response_edits, &ctx->num_response_edits, name, NULL, 1);
}

void tg_policy_set_credential(struct tg_policy_ctx *ctx, const struct tg_credential *cred)
{
    ctx->credential = *cred;
    ctx->credential.policy_index = (uint16_t)ctx->running_index;
    if (!ctx->app[0] && cred->subject[0])
        snprintf(ctx->app, sizeof ctx->app, "%s", cred->subject);
}

/* application/x-www-form-urlencoded decoding of one query value ("+" is a space). -1 on bad escapes. */
static long decode_component(const char *p, size_t len, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = tg_hex_digit((unsigned char)p[i + 1]), lo = tg_hex_digit((unsigned char)p[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (o + 1 >= out_size)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return (long)o;
}

int tg_policy_query_param(const struct tg_http_head *req, const char *name, char *out, size_t out_size)
{
    const char *q = memchr(req->target.ptr, '?', req->target.len);
    if (!q)
        return -1;
    const char *end = req->target.ptr + req->target.len;
    size_t name_len = strlen(name);
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq ? eq : pair_end;
        if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
            const char *v = eq ? eq + 1 : pair_end;
            return (int)decode_component(v, (size_t)(pair_end - v), out, out_size);
        }
        p = pair_end + 1;
    }
    return -1;
}

long tg_policy_read_location(const struct tg_http_head *req, const char *location, char *out, size_t out_size)
{
    if (strncmp(location, "query:", 6) == 0)
        return tg_policy_query_param(req, location + 6, out, out_size);
    if (strncmp(location, "header:", 7) != 0)
        return -1;
    const struct tg_http_header *f = tg_http_find_header(req, location + 7);
    if (!f)
        return -1;
    struct tg_slice v = f->value;
    if (strcasecmp(location + 7, "authorization") == 0) {
        if (v.len < 7 || strncasecmp(v.ptr, "Bearer ", 7) != 0)
            return -1;
        v.ptr += 7;
        v.len -= 7;
        while (v.len && v.ptr[0] == ' ') {
            v.ptr++;
            v.len--;
        }
    }
    if (v.len == 0 || v.len + 1 > out_size)
        return -1;
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return (long)v.len;
}
