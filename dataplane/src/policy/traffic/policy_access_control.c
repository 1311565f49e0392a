/* policy_access_control.c — the accessControl policy (Apigee AccessControl): CIDR allow/deny lists on the
 * client address (ip_cidr.h).
 *
 * Snapshot (docs/policy-traffic.md):
 *   {"type":"accessControl","allow":["10.0.0.0/8"],"deny":["10.1.2.3"],"trustedProxies":["192.168.0.0/16"]}
 * All three optional (allow or deny non-empty), at most 256 / 256 / 64 entries.
 *
 * The client address is the TCP peer; when the peer is a trusted proxy, the right-most X-Forwarded-For entry
 * that is not a trusted proxy (tg_client_address). A derived address becomes the request's client address for
 * the policies after this one (ctx->client_ip: quota and spikeArrest "client_ip"); a later accessControl uses
 * it as it is. Deny wins over allow; when allow is non-empty only addresses in it pass. Refusals: 403
 * access.denied — also when X-Forwarded-For from a trusted proxy cannot be read (fail closed). */
#include "policy/policy.h"

#include "ip_cidr.h"
#include "policy/traffic/traffic_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ALLOW 256
#define MAX_DENY 256
#define MAX_TRUSTED 64
#define MAX_XFF_FIELDS 16

struct acl_state {
    struct tg_cidr allow[MAX_ALLOW];
    size_t num_allow;
    struct tg_cidr deny[MAX_DENY];
    size_t num_deny;
    struct tg_cidr trusted[MAX_TRUSTED];
    size_t num_trusted;
};

static void acl_free(void *p) { free(p); }

static int cidr_list(const json_t *spec, const char *name, struct tg_cidr *out, size_t max, size_t *n, char *err,
                     size_t err_size)
{
    const json_t *v;
    *n = 0;
    if (tg_policy_array_field(spec, "", name, max, "CIDRs", &v, err, err_size) < 0)
        return -1;
    if (!v)
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *why = "must be a string";
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e) ||
            tg_cidr_parse(json_string_value(e), &out[i], &why) < 0) {
            snprintf(err, err_size, "%s[%zu]: %s", name, i, why);
            return -1;
        }
    }
    *n = json_array_size(v);
    return 0;
}

static void *acl_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"allow", "deny", "trustedProxies", NULL};
    struct acl_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st || tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    if (cidr_list(spec, "allow", st->allow, MAX_ALLOW, &st->num_allow, err, err_size) < 0 ||
        cidr_list(spec, "deny", st->deny, MAX_DENY, &st->num_deny, err, err_size) < 0 ||
        cidr_list(spec, "trustedProxies", st->trusted, MAX_TRUSTED, &st->num_trusted, err, err_size) < 0)
        goto fail;
    if (st->num_allow == 0 && st->num_deny == 0) {
        snprintf(err, err_size, "needs at least one allow or deny entry");
        goto fail;
    }
    return st;
fail:
    acl_free(st);
    *failed = 1;
    return NULL;
}

static void deny(struct tg_policy_ctx *ctx, const char *message)
{
    tg_traffic_reject(ctx, 403, "access.denied", message, NULL);
}

static void acl_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct acl_state *st = state;
    struct tg_ip client;
    const char *ip_text = ctx->client_ip ? ctx->client_ip : "";
    if (tg_ip_parse(ip_text, strlen(ip_text), &client) < 0) {
        deny(ctx, "the client address is unknown");
        return;
    }
    if (st->num_trusted && ctx->client_ip != ctx->client_ip_buf) {
        const char *values[MAX_XFF_FIELDS];
        size_t lens[MAX_XFF_FIELDS], n = 0;
        int too_many = 0;
        for (size_t i = 0; i < ctx->request->num_headers; i++) {
            const struct tg_http_header *f = &ctx->request->headers[i];
            if (!tg_slice_eq_nocase(f->name, "x-forwarded-for"))
                continue;
            if (n == MAX_XFF_FIELDS) {
                too_many = 1;
                break;
            }
            values[n] = f->value.ptr;
            lens[n++] = f->value.len;
        }
        struct tg_ip peer = client;
        enum tg_xff_result r = too_many ? TG_XFF_MALFORMED
                                        : tg_client_address(&peer, st->trusted, st->num_trusted, values, lens, n,
                                                            &client);
        if (r == TG_XFF_MALFORMED) {
            deny(ctx, "X-Forwarded-For from a trusted proxy cannot be read");
            return;
        }
        if (r == TG_XFF_FORWARDED) {
            tg_ip_format(&client, ctx->client_ip_buf);
            ctx->client_ip = ctx->client_ip_buf;
        }
    }
    if (tg_cidr_list_match(st->deny, st->num_deny, &client) ||
        (st->num_allow && !tg_cidr_list_match(st->allow, st->num_allow, &client))) {
        deny(ctx, "the client address is not allowed");
        return;
    }
    tg_policy_continue(ctx);
}

const struct tg_policy_type tg_policy_access_control = {
    .name = "accessControl",
    .compile = acl_compile,
    .run = acl_run,
    .free_state = acl_free,
};
