/* translate_policy_traffic.c — the traffic policies' translation (translate_policy.h): quota, spikeArrest,
 * cors, accessControl and assignMessage, from the ApiProxy's CRD fields (crds/tollgate.dev_apiproxies.yaml) to
 * the snapshot objects of docs/policy-traffic.md.
 *
 * Validation uses the data plane's own parsers from common/ (durations, rates, identifiers, CIDRs, origins,
 * HOST:PORT, header-edit rules), so what the controller accepts the data plane accepts. Durations become
 * milliseconds; jwt:NAME identifiers become claim:NAME; cors gets its default methods spelled out. The one
 * reference, quota's distributed.passwordSecretName, is read from the Secret's `password` key into the
 * snapshot; a missing Secret is reported (ResolvedRefs=False, SecretNotFound) and the policy is emitted
 * without a password (Redis then refuses the counts, and failOpen decides). */
#include "translate/translate_policy.h"

#include "translate/translate_backend.h"
#include "translate/translate_fields.h"

#include "cors_origin.h"
#include "duration.h"
#include "header_rules.h"
#include "host_port.h"
#include "ip_cidr.h"
#include "json_util.h"
#include "rate_identifier.h"
#include "model/validate.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PASSWORD 512
#define MAX_KEY_PREFIX 128

/* ---- shared field readers ------------------------------------------------------------------------------ */

/* An optional string field; *out NULL when absent. -1 after reporting. */
static int opt_string(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key, const char *path,
                      size_t max, const char **out)
{
    *out = NULL;
    int r = tg_json_get_string(obj, key, max, out);
    if (r < 0) {
        tg__policy_invalid(tr, it, path, "must be a string of at most %zu characters", max);
        return -1;
    }
    return 0;
}

/* An optional list of strings (each ≤ max_len, at most max_items); a new array (empty when absent), or NULL
 * after reporting. */
static json_t *opt_list(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                        const char *path, size_t max_items, size_t max_len)
{
    json_t *list = tg__string_list(tr, it, obj, key, path, max_len);
    if (!list) {
        it->st->accepted.reason = TG_REASON_INVALID_POLICY;
        return NULL;
    }
    if (json_array_size(list) > max_items) {
        tg__policy_invalid(tr, it, path, "has more than %zu entries", max_items);
        json_decref(list);
        return NULL;
    }
    return list;
}

/* opt_list of settings.key whose every entry passes check(entry, arg) (NULL, or the reason it does not): a new
 * array (empty when absent), or NULL after reporting "entry I ("S"): reason" on path.key. */
static json_t *checked_list(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *key,
                            const char *path, size_t max_items, size_t max_len,
                            const char *(*check)(const char *s, int arg), int arg)
{
    char p[300];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *list = opt_list(tr, it, settings, key, p, max_items, max_len);
    if (!list)
        return NULL;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *why = check(json_string_value(v), arg);
        if (why) {
            tg__policy_invalid(tr, it, p, "entry %zu (\"%.64s\"): %s", i, json_string_value(v), why);
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* An optional identifier; writes the canonical spelling into buf and *out (NULL when absent). -1 after
 * reporting. */
static int identifier_field(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path,
                            char *buf, size_t size, const char **out)
{
    char p[300];
    snprintf(p, sizeof p, "%s.identifier", path);
    const char *spec;
    *out = NULL;
    if (opt_string(tr, it, settings, "identifier", p, 262, &spec) < 0)
        return -1;
    if (!spec)
        return 0;
    struct tg_identifier id;
    char why[160];
    if (tg_identifier_parse(spec, &id, why, sizeof why) < 0) {
        tg__policy_invalid(tr, it, p, "\"%.64s\": %s", spec, why);
        return -1;
    }
    *out = tg_identifier_canonical(&id, buf, size);
    return 0;
}

/* ---- quota --------------------------------------------------------------------------------------------- */

static const char *const quota_fields[] = {"limit", "interval", "identifier", "distributed", NULL};
static const char *const distributed_fields[] = {"redisAddress", "passwordSecretName", "failOpen", "keyPrefix", NULL};

/* The Redis password from Secret ns/name key "password", or NULL after reporting. */
static char *redis_password(struct tg__tr *tr, struct tg__item *it, const char *name, const char *path)
{
    const char *ns = it->src->namespace_;
    size_t len = 0;
    const char *why = NULL;
    char *pw = tg__secret_value(tr, ns, name, "password", &len, &why);
    if (pw && (len == 0 || len > MAX_PASSWORD || strlen(pw) != len)) {
        OPENSSL_cleanse(pw, len);
        free(pw);
        pw = NULL;
        why = "the password key must hold 1 to 512 bytes of text";
    }
    if (!pw) {
        int missing = !tg_store_get(tr->store, TG_KIND_SECRET, ns, name);
        tg__unresolved(tr, it, missing ? TG_REASON_SECRET_NOT_FOUND : TG_REASON_INVALID_REF, path,
                       "Secret %s/%s: %s; counts go to Redis without AUTH", ns, name,
                       missing ? "not found" : why ? why : "no password key");
    }
    return pw;
}

static json_t *quota_distributed(struct tg__tr *tr, struct tg__item *it, const json_t *d, const char *path)
{
    char p[384];
    if (tg__policy_mapping(tr, it, d, path, distributed_fields) < 0)
        return NULL;
    const char *addr, *secret, *prefix;
    snprintf(p, sizeof p, "%s.redisAddress", path);
    if (opt_string(tr, it, d, "redisAddress", p, 261, &addr) < 0)
        return NULL;
    char host[TG_HOST_MAX + 1];
    uint16_t port;
    const char *why = "required: the Redis server as HOST:PORT";
    if (!addr || tg_host_port_parse(addr, host, &port, &why) < 0) {
        tg__policy_invalid(tr, it, p, "%s", why);
        return NULL;
    }
    snprintf(p, sizeof p, "%s.passwordSecretName", path);
    if (opt_string(tr, it, d, "passwordSecretName", p, 253, &secret) < 0)
        return NULL;
    if (secret && tg_check_dns_subdomain(secret)) {
        tg__policy_invalid(tr, it, p, "must be the name of a Secret in the same namespace");
        return NULL;
    }
    int fail_open = 1;
    snprintf(p, sizeof p, "%s.failOpen", path);
    if (tg_json_get_bool(d, "failOpen", &fail_open) < 0) {
        tg__policy_invalid(tr, it, p, "must be true or false");
        return NULL;
    }
    snprintf(p, sizeof p, "%s.keyPrefix", path);
    if (opt_string(tr, it, d, "keyPrefix", p, MAX_KEY_PREFIX, &prefix) < 0)
        return NULL;
    for (const char *c = prefix; c && *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
            tg__policy_invalid(tr, it, p, "must be visible ASCII characters (no spaces)");
            return NULL;
        }
    }
    json_t *out = json_pack("{s:s,s:b}", "redisAddress", addr, "failOpen", fail_open);
    if (out && prefix)
        json_object_set_new(out, "keyPrefix", json_string(prefix));
    if (out && secret) {
        snprintf(p, sizeof p, "%s.passwordSecretName", path);
        char *pw = redis_password(tr, it, secret, p);
        if (pw) {
            json_object_set_new(out, "password", json_string(pw));
            OPENSSL_cleanse(pw, strlen(pw));
            free(pw);
        }
    }
    return out;
}

json_t *tg__translate_quota(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path)
{
    char p[300];
    if (tg__policy_fields(tr, it, settings, path, quota_fields) < 0)
        return NULL;
    json_int_t limit = 0;
    snprintf(p, sizeof p, "%s.limit", path);
    int r = tg_json_get_int(settings, "limit", 1, INT64_MAX, &limit);
    if (r != TG_JSON_FOUND) {
        tg__policy_invalid(tr, it, p, "%s", r == TG_JSON_ABSENT ? "required: requests allowed per interval"
                                                                : "must be an integer of at least 1");
        return NULL;
    }
    uint64_t interval = 0;
    snprintf(p, sizeof p, "%s.interval", path);
    if (tg__duration_field(tr, it, settings, "interval", p, 0, 1, &interval) < 0) {
        it->st->accepted.reason = TG_REASON_INVALID_POLICY;
        return NULL;
    }
    if (interval == 0) {
        tg__policy_invalid(tr, it, p, "required: a duration longer than 0s, such as 1m");
        return NULL;
    }
    char idbuf[300];
    const char *ident;
    if (identifier_field(tr, it, settings, path, idbuf, sizeof idbuf, &ident) < 0)
        return NULL;
    json_t *dist = NULL;
    const json_t *d = json_object_get(settings, "distributed");
    if (d && !json_is_null(d)) {
        snprintf(p, sizeof p, "%s.distributed", path);
        dist = quota_distributed(tr, it, d, p);
        if (!dist)
            return NULL;
    }
    json_t *out = json_pack("{s:s,s:I,s:I}", "type", "quota", "limit", limit, "intervalMs", (json_int_t)interval);
    if (out && ident)
        json_object_set_new(out, "identifier", json_string(ident));
    if (out && dist)
        json_object_set(out, "distributed", dist);
    json_decref(dist);
    return out;
}

/* ---- spikeArrest --------------------------------------------------------------------------------------- */

static const char *const spike_fields[] = {"rate", "identifier", NULL};

json_t *tg__translate_spike_arrest(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                   const char *path)
{
    char p[300];
    if (tg__policy_fields(tr, it, settings, path, spike_fields) < 0)
        return NULL;
    const char *rate;
    snprintf(p, sizeof p, "%s.rate", path);
    if (opt_string(tr, it, settings, "rate", p, 16, &rate) < 0)
        return NULL;
    uint64_t count, per_ms;
    const char *why = "required: a rate such as 20ps (per second) or 600pm (per minute)";
    if (!rate || tg_rate_parse(rate, &count, &per_ms, &why) < 0) {
        tg__policy_invalid(tr, it, p, "%s", why);
        return NULL;
    }
    char idbuf[300];
    const char *ident;
    if (identifier_field(tr, it, settings, path, idbuf, sizeof idbuf, &ident) < 0)
        return NULL;
    json_t *out = json_pack("{s:s,s:s}", "type", "spikeArrest", "rate", rate);
    if (out && ident)
        json_object_set_new(out, "identifier", json_string(ident));
    return out;
}

/* ---- cors ------------------------------------------------------------------------------------------------ */

static const char *const cors_fields[] = {"allowOrigins",     "allowMethods", "allowHeaders", "exposeHeaders",
                                          "allowCredentials", "maxAge",       NULL};
static const char *const cors_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL};

/* 1 when list (strings) has s before index i. */
static int seen_before(const json_t *list, size_t i, const char *s)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(json_string_value(json_array_get(list, k)), s) == 0)
            return 1;
    return 0;
}

/* A header-name list; NULL after reporting. joined_max > 0: the names joined with ", " must fit. */
static json_t *header_list(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *key,
                           const char *path, size_t joined_max)
{
    char p[300];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *list = opt_list(tr, it, settings, key, p, 64, 256);
    if (!list)
        return NULL;
    size_t i, joined = 0;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (!tg_http_token_ok(s, strlen(s), 256)) {
            tg__policy_invalid(tr, it, p, "entry %zu (\"%.64s\") is not a header name", i, s);
            json_decref(list);
            return NULL;
        }
        joined += strlen(s) + (i ? 2 : 0);
    }
    if (joined_max && joined > joined_max) {
        tg__policy_invalid(tr, it, p, "the names joined with \", \" must fit in %zu characters", joined_max);
        json_decref(list);
        return NULL;
    }
    return list;
}

json_t *tg__translate_cors(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path)
{
    char p[300];
    json_t *origins = NULL, *methods = NULL, *headers = NULL, *expose = NULL, *out = NULL;
    if (tg__policy_fields(tr, it, settings, path, cors_fields) < 0)
        return NULL;
    snprintf(p, sizeof p, "%s.allowOrigins", path);
    origins = opt_list(tr, it, settings, "allowOrigins", p, 64, 2048);
    if (!origins)
        goto done;
    if (json_array_size(origins) == 0) {
        tg__policy_invalid(tr, it, p, "required: at least one origin (or \"*\")");
        goto done;
    }
    int any = 0;
    size_t i;
    json_t *v;
    json_array_foreach(origins, i, v) {
        struct tg_origin_pattern pat;
        const char *why = NULL;
        const char *s = json_string_value(v);
        if (tg_origin_pattern_parse(s, &pat, &why) < 0) {
            tg__policy_invalid(tr, it, p, "entry %zu (\"%.64s\"): %s", i, s, why);
            goto done;
        }
        if (seen_before(origins, i, s)) {
            tg__policy_invalid(tr, it, p, "entry %zu (\"%.64s\") is listed twice", i, s);
            goto done;
        }
        any |= pat.any;
    }
    int credentials = 0;
    snprintf(p, sizeof p, "%s.allowCredentials", path);
    if (tg_json_get_bool(settings, "allowCredentials", &credentials) < 0) {
        tg__policy_invalid(tr, it, p, "must be true or false");
        goto done;
    }
    if (credentials && any) {
        tg__policy_invalid(tr, it, p, "cannot be used with the origin \"*\" (browsers refuse it)");
        goto done;
    }
    snprintf(p, sizeof p, "%s.allowMethods", path);
    int methods_given = json_object_get(settings, "allowMethods") && !json_is_null(json_object_get(settings, "allowMethods"));
    methods = opt_list(tr, it, settings, "allowMethods", p, 8, 16);
    if (!methods)
        goto done;
    json_array_foreach(methods, i, v) {
        const char *s = json_string_value(v);
        size_t k = 0;
        while (cors_methods[k] && strcmp(cors_methods[k], s) != 0)
            k++;
        if (!cors_methods[k] || seen_before(methods, i, s)) {
            tg__policy_invalid(tr, it, p, "entry %zu (\"%.16s\") must be one of GET, HEAD, POST, PUT, PATCH, DELETE, "
                                          "OPTIONS, each once", i, s);
            goto done;
        }
    }
    if (!methods_given) {
        json_array_append_new(methods, json_string("GET"));
        json_array_append_new(methods, json_string("HEAD"));
        json_array_append_new(methods, json_string("POST"));
    }
    headers = header_list(tr, it, settings, "allowHeaders", path, 0);
    if (!headers)
        goto done;
    expose = header_list(tr, it, settings, "exposeHeaders", path, TG_EDIT_VALUE_MAX);
    if (!expose)
        goto done;
    json_int_t max_age = -1;
    snprintf(p, sizeof p, "%s.maxAge", path);
    if (tg_json_get_int(settings, "maxAge", 0, 86400, &max_age) < 0) {
        tg__policy_invalid(tr, it, p, "must be an integer from 0 to 86400 (seconds)");
        goto done;
    }
    out = json_pack("{s:s,s:O,s:O,s:O,s:O,s:b}", "type", "cors", "allowOrigins", origins, "allowMethods", methods,
                    "allowHeaders", headers, "exposeHeaders", expose, "allowCredentials", credentials);
    if (out && max_age >= 0)
        json_object_set_new(out, "maxAge", json_integer(max_age));
done:
    json_decref(origins);
    json_decref(methods);
    json_decref(headers);
    json_decref(expose);
    return out;
}

/* ---- accessControl ----------------------------------------------------------------------------------------- */

static const char *const acl_fields[] = {"allow", "deny", "trustedProxies", NULL};

/* checked_list's check for a CIDR (ip_cidr.h). */
static const char *cidr_check(const char *s, int unused)
{
    struct tg_cidr c;
    const char *why = NULL;
    return tg_cidr_parse(s, &c, &why) < 0 ? why : NULL;
}

static json_t *cidr_list(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *key,
                         const char *path, size_t max)
{
    return checked_list(tr, it, settings, key, path, max, 64, cidr_check, 0);
}

json_t *tg__translate_access_control(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                     const char *path)
{
    if (tg__policy_fields(tr, it, settings, path, acl_fields) < 0)
        return NULL;
    json_t *allow = cidr_list(tr, it, settings, "allow", path, 256);
    json_t *deny = allow ? cidr_list(tr, it, settings, "deny", path, 256) : NULL;
    json_t *trusted = deny ? cidr_list(tr, it, settings, "trustedProxies", path, 64) : NULL;
    json_t *out = NULL;
    if (trusted) {
        if (json_array_size(allow) == 0 && json_array_size(deny) == 0)
            tg__policy_invalid(tr, it, path, "needs at least one allow or deny entry");
        else
            out = json_pack("{s:s,s:O,s:O,s:O}", "type", "accessControl", "allow", allow, "deny", deny,
                            "trustedProxies", trusted);
    }
    json_decref(allow);
    json_decref(deny);
    json_decref(trusted);
    return out;
}

/* ---- assignMessage --------------------------------------------------------------------------------------------- */

static const char *const am_fields[] = {"setRequestHeaders", "removeRequestHeaders", "setResponseHeaders",
                                        "removeResponseHeaders", NULL};

/* A name → value mapping of header sets; a new object (empty when absent), or NULL after reporting. */
static json_t *header_sets(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *key,
                           const char *path, int request)
{
    char p[300];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *obj = NULL;
    int r = tg_json_get_object(settings, key, &obj);
    if (r == TG_JSON_ABSENT)
        return json_object();
    if (r < 0 || json_object_size(obj) > TG_EDITS_MAX) {
        tg__policy_invalid(tr, it, p, "must be a mapping of at most %d header names to values", TG_EDITS_MAX);
        return NULL;
    }
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v) {
        const char *why = tg_header_edit_name_check(name, request);
        if (!why && !json_is_string(v))
            why = "the value must be a string (quote numbers and booleans in YAML)";
        if (!why)
            why = tg_header_edit_value_check(json_string_value(v), json_string_length(v));
        if (why) {
            tg__policy_invalid(tr, it, p, "\"%.64s\": %s", name, why);
            return NULL;
        }
    }
    return json_deep_copy(obj);
}

static json_t *header_removes(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *key,
                              const char *path, int request)
{
    return checked_list(tr, it, settings, key, path, TG_EDITS_MAX, 256, tg_header_edit_name_check, request);
}

json_t *tg__translate_assign_message(struct tg__tr *tr, struct tg__item *it, const json_t *settings,
                                     const char *path)
{
    if (tg__policy_fields(tr, it, settings, path, am_fields) < 0)
        return NULL;
    json_t *set_req = header_sets(tr, it, settings, "setRequestHeaders", path, 1);
    json_t *rm_req = set_req ? header_removes(tr, it, settings, "removeRequestHeaders", path, 1) : NULL;
    json_t *set_resp = rm_req ? header_sets(tr, it, settings, "setResponseHeaders", path, 0) : NULL;
    json_t *rm_resp = set_resp ? header_removes(tr, it, settings, "removeResponseHeaders", path, 0) : NULL;
    json_t *out = NULL;
    if (rm_resp) {
        if (json_object_size(set_req) + json_array_size(rm_req) > TG_EDITS_MAX ||
            json_object_size(set_resp) + json_array_size(rm_resp) > TG_EDITS_MAX)
            tg__policy_invalid(tr, it, path, "at most %d request and %d response header edits", TG_EDITS_MAX,
                               TG_EDITS_MAX);
        else
            out = json_pack("{s:s,s:O,s:O,s:O,s:O}", "type", "assignMessage", "setRequestHeaders", set_req,
                            "removeRequestHeaders", rm_req, "setResponseHeaders", set_resp, "removeResponseHeaders",
                            rm_resp);
    }
    json_decref(set_req);
    json_decref(rm_req);
    json_decref(set_resp);
    json_decref(rm_resp);
    return out;
}
