/* traffic_identifier.c — the rate policies' identifiers (traffic_identifier.h). */
#include "policy/traffic/traffic_identifier.h"

#include "hex.h"
#include "policy/policy.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define CLEAR_MAX 128

int tg_identifier_compile(const json_t *spec, struct tg_identifier *out, char *err, size_t err_size)
{
    const json_t *ident = json_object_get(spec, "identifier");
    char why[160];
    if (ident && !json_is_string(ident)) {
        snprintf(err, err_size, "identifier: must be a string");
        return -1;
    }
    if (tg_identifier_parse(ident ? json_string_value(ident) : NULL, out, why, sizeof why) < 0) {
        snprintf(err, err_size, "identifier: %s", why);
        return -1;
    }
    return 0;
}

/* kind:value in the clear, or kind#<32 hex of SHA-256(value)> */
static size_t put_value(const char *kind, const char *v, size_t len, int force_hash, char *out)
{
    int clear = !force_hash && len <= CLEAR_MAX;
    for (size_t i = 0; clear && i < len; i++)
        clear = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f;
    if (clear)
        return (size_t)snprintf(out, TG_IDENT_TEXT_MAX, "%s:%.*s", kind, (int)len, v);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)v, len, md);
    size_t o = (size_t)snprintf(out, TG_IDENT_TEXT_MAX, "%s#", kind);
    tg_hex_encode(md, 16, out + o);
    return o + 32;
}

size_t tg_identifier_text(const struct tg_identifier *id, const struct tg_policy_ctx *ctx, char *out)
{
    char value[1024];
    long n;
    switch (id->kind) {
    case TG_IDENT_ALL:
        return (size_t)snprintf(out, TG_IDENT_TEXT_MAX, "all");
    case TG_IDENT_APIKEY:
        /* the key's app (its tollgate.dev/app label: keys of one app share a count, a rotated key keeps it);
         * a key without an app counts by its Secret */
        if (ctx->credential.kind == TG_CRED_API_KEY && ctx->credential.subject[0])
            return put_value("app", ctx->credential.subject, strlen(ctx->credential.subject), 0, out);
        if (ctx->credential.kind == TG_CRED_API_KEY && ctx->credential.id[0])
            return put_value("apikey", ctx->credential.id, strlen(ctx->credential.id), 0, out);
        break;
    case TG_IDENT_CLAIM:
        n = tg_policy_claim(ctx, id->name, value, sizeof value);
        if (n > 0)
            return put_value("claim", value, (size_t)n, 0, out);
        break;
    case TG_IDENT_HEADER: {
        const struct tg_http_header *f = tg_http_find_header(ctx->request, id->name);
        if (f && f->value.len)
            return put_value("header", f->value.ptr, f->value.len, 1, out);
        break;
    }
    case TG_IDENT_CLIENT_IP:
        break;
    }
    const char *ip = ctx->client_ip ? ctx->client_ip : "";
    return put_value("ip", ip, strlen(ip), 0, out);
}
