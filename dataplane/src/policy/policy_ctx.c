/* policy_ctx.c — what a policy writes into its context besides the verdict (policy.h): header edits toward the
 * target and toward the client (a later edit of a field replaces an earlier one; at most TG_POLICY_MAX_EDITS
 * each way), and the credential that admitted the request (kept by a WebSocket session for its whole life).
 * The admitting token's claims are recorded by policy_claims.c. */
#include "policy/policy.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* the fields tg_policy_ctx_new leaves alone are the two edit arrays, between the ranges it zeroes */
_Static_assert(offsetof(struct tg_policy_ctx, request_edits) < offsetof(struct tg_policy_ctx, num_request_edits) &&
                   offsetof(struct tg_policy_ctx, num_request_edits) < offsetof(struct tg_policy_ctx, response_edits) &&
                   offsetof(struct tg_policy_ctx, response_edits) < offsetof(struct tg_policy_ctx, num_response_edits) &&
                   offsetof(struct tg_policy_ctx, num_response_edits) < offsetof(struct tg_policy_ctx, credential),
               "tg_policy_ctx_new assumes this field order");

struct tg_policy_ctx *tg_policy_ctx_new(void)
{
    struct tg_policy_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx)
        return NULL;
    memset(ctx, 0, offsetof(struct tg_policy_ctx, request_edits));
    ctx->num_request_edits = 0;
    ctx->num_response_edits = 0;
    size_t rest = offsetof(struct tg_policy_ctx, credential);
    memset((char *)ctx + rest, 0, sizeof *ctx - rest);
    return ctx;
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
