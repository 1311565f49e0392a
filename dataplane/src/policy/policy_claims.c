/* policy_claims.c — the admitting token's claims kept in the policy context for the policies that run after
 * the auth policy (quota / spikeArrest "claim:NAME" identifiers; see policy.h).
 *
 * ctx->claims holds "name\0value\0" pairs, claims_len bytes: top-level claims whose values are strings,
 * integers (decimal) or booleans ("true"/"false"); objects, arrays, reals and null are left out, and so is any
 * pair that would not fit. Names and values are copied as they are (values may hold any byte but NUL; a string
 * with an embedded NUL is left out). */
#include "policy/policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int append_pair(struct tg_policy_ctx *ctx, const char *name, const char *value, size_t value_len)
{
    size_t name_len = strlen(name);
    size_t need = name_len + 1 + value_len + 1;
    if (name_len == 0 || need > sizeof ctx->claims - ctx->claims_len)
        return -1;
    char *p = ctx->claims + ctx->claims_len;
    memcpy(p, name, name_len + 1);
    memcpy(p + name_len + 1, value, value_len);
    p[name_len + 1 + value_len] = '\0';
    ctx->claims_len += need;
    return 0;
}

void tg_policy_set_claims(struct tg_policy_ctx *ctx, const json_t *claims)
{
    ctx->claims_len = 0;
    if (!json_is_object(claims))
        return;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)claims, name, v) {
        char num[32];
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            if (memchr(s, '\0', n))
                continue;
            append_pair(ctx, name, s, n);
        } else if (json_is_integer(v)) {
            int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            append_pair(ctx, name, num, (size_t)n);
        } else if (json_is_boolean(v)) {
            append_pair(ctx, name, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
        }
    }
}

static long copy_out(const char *v, size_t n, char *out, size_t out_size)
{
    if (n == 0 || n + 1 > out_size)
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return (long)n;
}

long tg_policy_claim(const struct tg_policy_ctx *ctx, const char *name, char *out, size_t out_size)
{
    if (ctx->claims_len == 0) {
        int token = ctx->credential.kind == TG_CRED_JWT || ctx->credential.kind == TG_CRED_OPAQUE_TOKEN;
        if (token && strcmp(name, "sub") == 0)
            return copy_out(ctx->credential.subject, strlen(ctx->credential.subject), out, out_size);
        if (token && strcmp(name, "jti") == 0)
            return copy_out(ctx->credential.id, strlen(ctx->credential.id), out, out_size);
        return -1;
    }
    const char *p = ctx->claims, *end = ctx->claims + ctx->claims_len;
    while (p < end) {
        size_t name_len = strlen(p);
        const char *value = p + name_len + 1;
        size_t value_len = strlen(value);
        if (strcmp(p, name) == 0)
            return copy_out(value, value_len, out, out_size);
        p = value + value_len + 1;
    }
    return -1;
}
