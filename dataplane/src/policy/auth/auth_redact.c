/* auth_redact.c — see auth_redact.h. */
#include "policy/auth/auth_redact.h"

#include "policy/auth/auth_location.h"
#include "policy/policy.h"

#include <string.h>
#include <strings.h>

extern const struct tg_policy_type tg_policy_verify_api_key, tg_policy_oauth_v2;

/* The strongest answer of the proxy's auth policies for (kind, name): 0, 1, or 2 (a subprotocol marker). */
static int policies_read(const struct tg_proxy_cfg *px, int kind, const char *name, size_t len)
{
    int best = 0;
    for (size_t i = 0; px && i < px->num_policies; i++) {
        const struct tg_compiled_policy *p = &px->policies[i];
        int r = 0;
        if (p->type == &tg_policy_verify_api_key)
            r = tg_verify_api_key_reads(p->state, kind, name, len);
        else if (p->type == &tg_policy_oauth_v2)
            r = tg_oauth_v2_reads(p->state, kind, name, len);
        if (r > best)
            best = r;
    }
    return best;
}

static int name_in(const char *const *list, const char *name, size_t len, int nocase)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && (nocase ? strncasecmp(list[i], name, len) : memcmp(list[i], name, len)) == 0)
            return 1;
    return 0;
}

int tg_auth_is_credential_header(const struct tg_proxy_cfg *px, const char *name, size_t len)
{
    static const char *const always[] = {"authorization", "proxy-authorization", "cookie", "x-api-key", NULL};
    return name_in(always, name, len, 1) || policies_read(px, TG_LOC_HEADER, name, len) != 0;
}

int tg_auth_is_credential_query(const struct tg_proxy_cfg *px, const char *name, size_t len)
{
    static const char *const always[] = {"apikey", "api_key", "access_token", NULL};
    return name_in(always, name, len, 0) || policies_read(px, TG_LOC_QUERY, name, len) != 0;
}

size_t tg_auth_redact_subprotocols(const struct tg_proxy_cfg *px, const char *value, size_t len, char *out,
                                   size_t out_size)
{
    size_t o = 0;
    int next_is_token = 0;
    if (!out_size)
        return 0;
    for (const char *p = value, *end = value + len; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *e_end = comma ? comma : end, *e = p;
        while (e < e_end && (*e == ' ' || *e == '\t'))
            e++;
        const char *t = e_end;
        while (t > e && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        p = comma ? comma + 1 : end;
        size_t el = (size_t)(t - e);
        const char *shown = e;
        size_t shown_len = el;
        int r = policies_read(px, TG_LOC_SUBPROTOCOL, e, el);
        if (next_is_token || r == 1) {
            shown = "[redacted]";
            shown_len = 10;
        }
        next_is_token = r == 2 && !next_is_token;
        size_t need = (o ? 2 : 0) + shown_len;
        if (o + need + 1 > out_size)
            break;
        if (o) {
            memcpy(out + o, ", ", 2);
            o += 2;
        }
        memcpy(out + o, shown, shown_len);
        o += shown_len;
    }
    out[o] = '\0';
    return o;
}
