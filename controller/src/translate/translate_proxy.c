/* translate_proxy.c — ApiProxy → snapshot "proxies[]" entry: environments, base path, CRD defaults,
 * target (a Service resolved to endpoints, or an http:// URL with an IP literal), target TLS (server name, CA
 * bundle and its CRLs, client certificate, versions and ciphers), WebSocket limits and the ordered policy list
 * (each item translated by translate_policy.c); and the base-path conflict pass (within one group a base path
 * belongs to the oldest proxy claiming it). */
#include "translate/translate_proxy.h"

#include "translate/translate_backend.h"
#include "translate/translate_fields.h"
#include "translate/translate_policy.h"
#include "translate/translate_tls_protocol.h"

#include "json_util.h"
#include "path_normalize.h"
#include "strmap.h"
#include "model/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const spec_fields[] = {"environments", "basePath", "stripBasePath", "maxRequestBodyBytes",
                                          "target", "websocket", "policies", "forwardNormalizedPath",
                                          "encodedSlashes", NULL};
static const char *const target_fields[] = {"service", "url", "tls", "connectTimeout", "timeout",
                                            "loadBalancing", NULL};
static const char *const service_fields[] = {"name", "port", NULL};
static const char *const tls_fields[] = {"enabled", "serverName", "caSecretName", "clientCertSecretName",
                                         "insecureSkipVerify", "minVersion", "maxVersion", "ciphers",
                                         "cipherSuites", NULL};
static const char *const websocket_fields[] = {"enabled", "idleTimeout", "maxLifetime", "maxMessageBytes", NULL};

/* Optional mapping field; NULL when absent (after reporting when of another type: check it->valid). */
static json_t *opt_object(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                          const char *path, const char *const *fields)
{
    json_t *o = NULL;
    int r = tg_json_get_object(obj, key, &o);
    if (r == TG_JSON_WRONG_TYPE) {
        tg__invalid(tr, it, path, "must be a mapping");
        return NULL;
    }
    if (o && tg__no_unknown_fields(tr, it, o, path, fields) < 0)
        return NULL;
    return o;
}

static int bool_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key, const char *path,
                      int def)
{
    int v = def;
    if (tg_json_get_bool(obj, key, &v) == TG_JSON_WRONG_TYPE)
        tg__invalid(tr, it, path, "must be true or false");
    return v;
}

static json_int_t bytes_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                              const char *path)
{
    json_int_t v = 0;
    if (tg_json_get_int(obj, key, 0, TG__MAX_BYTES_LIMIT, &v) < 0)
        tg__invalid(tr, it, path, "must be an integer number of bytes between 0 and 2^40 (0 = unlimited)");
    return v;
}

static int policy_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* spec.policies: each item is a mapping with exactly one key, the policy name; its value (a mapping, or
 * null for no settings) is passed through with "type" added first. */
static json_t *policies(struct tg__tr *tr, struct tg__item *it, const json_t *spec)
{
    json_t *in = NULL;
    int r = tg_json_get_array(spec, "policies", &in);
    if (r == TG_JSON_WRONG_TYPE) {
        tg__invalid(tr, it, "spec.policies", "must be a list");
        return NULL;
    }
    json_t *out = json_array();
    if (r == TG_JSON_ABSENT)
        return out;
    if (json_array_size(in) > TG__MAX_LIST) {
        tg__invalid(tr, it, "spec.policies", "has more than %d items", TG__MAX_LIST);
        json_decref(out);
        return NULL;
    }
    size_t i;
    json_t *item;
    json_array_foreach(in, i, item) {
        char p[64];
        snprintf(p, sizeof p, "spec.policies[%zu]", i);
        if (!json_is_object(item) || json_object_size(item) != 1) {
            tg__invalid(tr, it, p, "must be a mapping with exactly one key, the policy name (e.g. verifyApiKey)");
            break;
        }
        const char *name = json_object_iter_key(json_object_iter(item));
        json_t *settings = json_object_iter_value(json_object_iter(item));
        if (!policy_name_ok(name)) {
            tg__invalid(tr, it, p, "\"%.64s\" is not a policy name", name);
            break;
        }
        char sp[160];
        snprintf(sp, sizeof sp, "%s.%s", p, name);
        if (!json_is_object(settings) && !json_is_null(settings)) {
            tg__invalid(tr, it, sp, "policy settings must be a mapping");
            break;
        }
        if (json_object_get(settings, "type")) {
            tg__invalid(tr, it, sp, "\"type\" is reserved (the policy name is the type)");
            break;
        }
        json_t *pol = tg__translate_policy(tr, it, name, settings, sp);
        if (!pol)
            break;
        json_array_append_new(out, pol);
    }
    if (!it->valid) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* A Secret's value (key) for target.tls, PEM-checked; NULL after reporting it unresolved (the proxy is then
 * served with no endpoints: 503 rather than a connection that is not what was asked). */
static char *tls_secret_value(struct tg__tr *tr, struct tg__item *it, const char *secret, const char *key,
                              const char *field, size_t *len)
{
    const char *ns = it->src->namespace_;
    const char *why = NULL;
    char *v = tg__secret_value(tr, ns, secret, key, len, &why);
    if (v && strcmp(key, "ca.crt") == 0 && (why = tg__check_pem(v, NULL)) != NULL) {
        free(v);
        v = NULL;
    }
    if (v && strcmp(key, "ca.crl") == 0 && (why = tg__check_pem_crls(v)) != NULL) {
        free(v);
        v = NULL;
    }
    if (!v)
        tg__unresolved(tr, it,
                       tg_store_get(tr->store, TG_KIND_SECRET, ns, secret) ? TG_REASON_INVALID_REF
                                                                            : TG_REASON_REF_NOT_FOUND,
                       field, "Secret %s/%s: %s%s", ns, secret, strcmp(key, "ca.crl") == 0 ? "ca.crl: " : "",
                       why);
    return v;
}

/* spec.target.tls.clientCertSecretName: a kubernetes.io/tls Secret (tls.crt + tls.key, matching) → *cert, *key. */
static int client_cert(struct tg__tr *tr, struct tg__item *it, const char *secret, char **cert, char **key,
                       size_t *key_len)
{
    static const char field[] = "spec.target.tls.clientCertSecretName";
    const char *ns = it->src->namespace_;
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_SECRET, ns, secret);
    const char *type = NULL;
    if (so && tg_json_get_string(so->obj, "type", 256, &type) == TG_JSON_FOUND &&
        strcmp(type, "kubernetes.io/tls") != 0) {
        tg__unresolved(tr, it, TG_REASON_INVALID_REF, field, "Secret %s/%s is of type %s, not kubernetes.io/tls", ns,
                       secret, type);
        return -1;
    }
    size_t clen = 0;
    *cert = tls_secret_value(tr, it, secret, "tls.crt", field, &clen);
    *key = *cert ? tls_secret_value(tr, it, secret, "tls.key", field, key_len) : NULL;
    const char *why = *cert && *key ? tg__check_pem(*cert, *key) : NULL;
    if (why)
        tg__unresolved(tr, it, TG_REASON_INVALID_REF, field, "Secret %s/%s: %s", ns, secret, why);
    if (!*cert || !*key || why) {
        free(*cert);
        if (*key) {
            memset(*key, 0, *key_len);
            free(*key);
        }
        *cert = *key = NULL;
        return -1;
    }
    return 0;
}

/* target.tls → {"enabled","serverName","caPem"} (+ "crlPem" when the CA Secret has a ca.crl; "clientCertPem",
 * "clientKeyPem", "insecureSkipVerify", "minVersion", "maxVersion", "ciphers" and "cipherSuites" when set: a proxy
 * that sets none keeps the snapshot it had); *unresolved set when a Secret cannot be used. force_tls: an https://
 * url (TLS whatever "enabled" says). default_sni: the server name when none is given (the Service's DNS name, or
 * "" to verify the endpoint IP). */
static json_t *target_tls(struct tg__tr *tr, struct tg__item *it, const json_t *target, int force_tls,
                          const char *default_sni, int *unresolved)
{
    json_t *tls = opt_object(tr, it, target, "tls", "spec.target.tls", tls_fields);
    if (!it->valid)
        return NULL;
    int enabled = bool_field(tr, it, tls, "enabled", "spec.target.tls.enabled", 0) || force_tls;
    int insecure = bool_field(tr, it, tls, "insecureSkipVerify", "spec.target.tls.insecureSkipVerify", 0);
    const char *server_name = "", *ca_secret = NULL, *cert_secret = NULL;
    char sni[TG_HOSTNAME_BUF] = "";
    int r = tg_json_get_string(tls, "serverName", 253, &server_name);
    if (r < 0 || (r == TG_JSON_FOUND && *server_name && tg_normalize_hostname(server_name, 0, sni))) {
        tg__invalid(tr, it, "spec.target.tls.serverName", "must be a DNS name (no wildcard) or empty");
        return NULL;
    }
    if (sni[0] && strspn(sni, "0123456789.") == strlen(sni)) { /* RFC 6066 §3: never an address in SNI */
        tg__invalid(tr, it, "spec.target.tls.serverName",
                    "must be a DNS name, not an IP address (leave it empty: the endpoint's IP is then verified)");
        return NULL;
    }
    r = tg_json_get_string(tls, "caSecretName", 253, &ca_secret);
    if (r < 0 || (r == TG_JSON_FOUND && *ca_secret && tg_check_dns_subdomain(ca_secret))) {
        tg__invalid(tr, it, "spec.target.tls.caSecretName", "must be the name of a Secret in the same namespace");
        return NULL;
    }
    r = tg_json_get_string(tls, "clientCertSecretName", 253, &cert_secret);
    if (r < 0 || (r == TG_JSON_FOUND && *cert_secret && tg_check_dns_subdomain(cert_secret))) {
        tg__invalid(tr, it, "spec.target.tls.clientCertSecretName",
                    "must be the name of a kubernetes.io/tls Secret in the same namespace");
        return NULL;
    }
    if (insecure && ca_secret && *ca_secret) {
        tg__invalid(tr, it, "spec.target.tls.insecureSkipVerify", "cannot be set together with caSecretName");
        return NULL;
    }
    json_t *protocol = json_object(); /* minVersion, maxVersion, ciphers, cipherSuites: the group's readers */
    if (!protocol || tg__tls_protocol_fields(tr, it, tls, "spec.target.tls", protocol) < 0 || !it->valid) {
        json_decref(protocol);
        return NULL;
    }
    if (enabled && !sni[0] && default_sni)
        snprintf(sni, sizeof sni, "%s", default_sni);
    char *ca = NULL, *crl = NULL, *cert = NULL, *key = NULL;
    size_t len = 0, key_len = 0;
    if (ca_secret && *ca_secret && !(ca = tls_secret_value(tr, it, ca_secret, "ca.crt",
                                                          "spec.target.tls.caSecretName", &len)))
        *unresolved = 1;
    if (ca && tg__secret_has_key(tr, it->src->namespace_, ca_secret, "ca.crl") && /* optional: revocations */
        !(crl = tls_secret_value(tr, it, ca_secret, "ca.crl", "spec.target.tls.caSecretName", &len)))
        *unresolved = 1;
    if (enabled && cert_secret && *cert_secret && client_cert(tr, it, cert_secret, &cert, &key, &key_len) != 0)
        *unresolved = 1;
    json_t *out = json_pack("{s:b,s:s,s:s}", "enabled", enabled, "serverName", sni, "caPem", ca ? ca : "");
    if (out && crl)
        json_object_set_new(out, "crlPem", json_string(crl));
    if (out && cert && key) {
        json_object_set_new(out, "clientCertPem", json_string(cert));
        json_object_set_new(out, "clientKeyPem", json_string(key));
    }
    if (out && enabled && insecure) {
        json_object_set_new(out, "insecureSkipVerify", json_true());
        tg__warning(tr, it, "spec.target.tls.insecureSkipVerify",
                    "the backend's certificate is not verified (anyone on the path can impersonate it)");
    }
    if (out)
        json_object_update(out, protocol);
    json_decref(protocol);
    free(ca);
    free(crl);
    free(cert);
    if (key) {
        memset(key, 0, key_len);
        free(key);
    }
    return out;
}

void tg__translate_proxy(struct tg__tr *tr, struct tg__item *it)
{
    json_t *spec = tg__item_spec(tr, it, spec_fields);
    if (!spec)
        return;
    json_t *envs = NULL, *pols = NULL, *endpoints = NULL, *tls = NULL;
    const char *base_path = NULL;
    int r = tg_json_get_string(spec, "basePath", TG_MAX_PATH_LEN, &base_path);
    const char *why = r == TG_JSON_FOUND ? tg_check_base_path(base_path) : NULL;
    if (r != TG_JSON_FOUND)
        tg__invalid(tr, it, "spec.basePath", r == TG_JSON_ABSENT ? "required" : "must be a string of at most 1024 characters");
    else if (why)
        tg__invalid(tr, it, "spec.basePath", "%s", why);
    envs = tg__environments(tr, it, spec); /* used only if the item stays valid */
    int strip = bool_field(tr, it, spec, "stripBasePath", "spec.stripBasePath", 1);
    int forward_normalized = bool_field(tr, it, spec, "forwardNormalizedPath", "spec.forwardNormalizedPath", 1);
    json_int_t max_body = bytes_field(tr, it, spec, "maxRequestBodyBytes", "spec.maxRequestBodyBytes");
    const char *slashes = NULL; /* absent: the data plane's --encoded-slashes decides */
    enum tg_encoded_slashes slashes_mode;
    r = tg_json_get_string(spec, "encodedSlashes", 16, &slashes);
    if (r < 0 || (r == TG_JSON_FOUND && tg_encoded_slashes_parse(slashes, &slashes_mode) != 0))
        tg__invalid(tr, it, "spec.encodedSlashes", "must be reject, keep or decode");

    /* target */
    json_t *target = NULL;
    r = tg_json_get_object(spec, "target", &target);
    if (r != TG_JSON_FOUND)
        tg__invalid(tr, it, "spec.target", r == TG_JSON_ABSENT ? "required" : "must be a mapping");
    else
        tg__no_unknown_fields(tr, it, target, "spec.target", target_fields);
    json_t *service = opt_object(tr, it, target, "service", "spec.target.service", service_fields);
    const char *url = NULL;
    r = tg_json_get_string(target, "url", 2048, &url);
    if (r < 0)
        tg__invalid(tr, it, "spec.target.url", "must be a string of at most 2048 characters");
    if (target && it->valid && !!service == !!url)
        tg__invalid(tr, it, "spec.target", "exactly one of service and url is required");
    char address[64] = "", prefix[TG_MAX_PATH_LEN + 1] = "";
    char default_sni[TG_HOSTNAME_BUF] = "";
    int port = 0;
    if (url && it->valid && (why = tg_parse_target_url(url, address, &port, prefix)) != NULL)
        tg__invalid(tr, it, "spec.target.url", "%s", why);
    if (service && it->valid) {
        const char *svc_name = NULL;
        if (tg_json_get_string(service, "name", 63, &svc_name) != TG_JSON_FOUND || tg_check_dns_label(svc_name))
            tg__invalid(tr, it, "spec.target.service.name", "required: the name of a Service in the same namespace");
        else /* the name a Service's serving certificate carries (its cluster DNS name) */
            snprintf(default_sni, sizeof default_sni, "%s.%s.svc", svc_name, it->src->namespace_);
        json_t *p = json_object_get(service, "port");
        if (!(json_is_integer(p) && json_integer_value(p) >= 1 && json_integer_value(p) <= 65535) &&
            !(json_is_string(p) && json_string_length(p) >= 1 && json_string_length(p) <= 63))
            tg__invalid(tr, it, "spec.target.service.port", "required: a port number (1-65535) or a port name");
    }
    uint64_t connect_ms = 0, timeout_ms = 0, idle_ms = 0, lifetime_ms = 0;
    if (target) {
        tg__duration_field(tr, it, target, "connectTimeout", "spec.target.connectTimeout", 5000, 0, &connect_ms);
        tg__duration_field(tr, it, target, "timeout", "spec.target.timeout", 60000, 1, &timeout_ms);
    }
    const char *lb = "roundRobin";
    r = tg_json_get_string(target, "loadBalancing", 64, &lb);
    if (r < 0 || (r == TG_JSON_FOUND && strcmp(lb, "roundRobin") != 0 && strcmp(lb, "leastConnections") != 0 &&
                  strcmp(lb, "random") != 0))
        tg__invalid(tr, it, "spec.target.loadBalancing", "must be roundRobin, leastConnections or random");

    /* websocket */
    json_t *ws = opt_object(tr, it, spec, "websocket", "spec.websocket", websocket_fields);
    int ws_enabled = bool_field(tr, it, ws, "enabled", "spec.websocket.enabled", 1);
    tg__duration_field(tr, it, ws, "idleTimeout", "spec.websocket.idleTimeout", 300000, 1, &idle_ms);
    tg__duration_field(tr, it, ws, "maxLifetime", "spec.websocket.maxLifetime", 0, 1, &lifetime_ms);
    json_int_t max_msg = bytes_field(tr, it, ws, "maxMessageBytes", "spec.websocket.maxMessageBytes");

    pols = policies(tr, it, spec);
    if (!it->valid)
        goto out;

    /* references last, so an invalid proxy does not also report missing backends */
    int unresolved = 0;
    int https = url && strncmp(url, "https://", 8) == 0;
    if (url && strncmp(url + (https ? 8 : 7), "localhost", 9) == 0 && strchr(":/", url[(https ? 8 : 7) + 9]))
        snprintf(default_sni, sizeof default_sni, "localhost"); /* an IP-literal host is verified as an IP */
    tls = target_tls(tr, it, target, https, default_sni, &unresolved);
    if (!it->valid)
        goto out;
    endpoints = json_array();
    if (url)
        json_array_append_new(endpoints, json_pack("{s:s,s:i}", "address", address, "port", port));
    else
        tg__service_endpoints(tr, it, service, endpoints);
    if (unresolved) /* TLS to the backend cannot be set up as asked: answer 503 rather than connect unverified */
        json_array_clear(endpoints);
    it->st->endpoints = (int)json_array_size(endpoints);

    char id[320];
    snprintf(id, sizeof id, "%s/%s", it->src->namespace_, it->src->name);
    it->out = json_pack(
        "{s:s,s:O,s:s,s:b,s:I,s:{s:s,s:O,s:O,s:I,s:I,s:s},s:{s:b,s:I,s:I,s:I},s:O}", "id", id, "environments", envs,
        "basePath", base_path, "stripBasePath", strip, "maxRequestBodyBytes", (json_int_t)max_body, "target",
        "pathPrefix", prefix, "endpoints", endpoints, "tls", tls, "connectTimeoutMs", (json_int_t)connect_ms,
        "timeoutMs", (json_int_t)timeout_ms, "loadBalancing", lb, "websocket", "enabled", ws_enabled,
        "idleTimeoutMs", (json_int_t)idle_ms, "maxLifetimeMs", (json_int_t)lifetime_ms, "maxMessageBytes",
        (json_int_t)max_msg, "policies", pols);
    if (it->out && !forward_normalized) /* only the opt-out is written: the default keeps snapshots as they were */
        json_object_set_new(it->out, "forwardNormalizedPath", json_false());
    if (it->out && slashes) /* only when set: unset leaves the gateway's default in charge */
        json_object_set_new(it->out, "encodedSlashes", json_string(slashes));
    if (!it->out)
        tg__invalid(tr, it, "", "could not be built (out of memory)");
out:
    json_decref(envs);
    json_decref(pols);
    json_decref(endpoints);
    json_decref(tls);
}

void tg__resolve_base_paths(struct tg__tr *tr, struct tg__item *proxies, size_t n, const struct tg__item *groups,
                            size_t ngroups)
{
    size_t m = 0;
    struct tg__item **order = tg__emitted_oldest_first(proxies, n, &m);
    struct tg_strmap claims;
    tg_strmap_init(&claims);
    char **keys = NULL;
    size_t nkeys = 0, capkeys = 0;
    for (size_t k = 0; k < m; k++) {
        struct tg__item *it = order[k];
        const json_t *envs = json_object_get(it->out, "environments");
        const char *bp = json_string_value(json_object_get(it->out, "basePath"));
        size_t first_new = nkeys;
        int conflicted = 0;
        for (size_t g = 0; g < ngroups; g++) {
            if (!groups[g].valid || !groups[g].out ||
                !tg__shares_environment(envs, json_object_get(groups[g].out, "environments")))
                continue;
            char key[TG_MAX_PATH_LEN + 32];
            int klen = snprintf(key, sizeof key, "%zu %s", g, bp);
            struct tg__item *owner = tg_strmap_get(&claims, key, (size_t)klen);
            if (owner) {
                tg__conflict(tr, it, "spec.basePath",
                             "\"%s\" in EnvironmentGroup %s/%s is already claimed by older ApiProxy %s/%s", bp,
                             groups[g].src->namespace_, groups[g].src->name, owner->src->namespace_,
                             owner->src->name);
                conflicted = 1;
                continue;
            }
            if (nkeys == capkeys) {
                size_t ncap = capkeys ? capkeys * 2 : 16;
                char **nk = realloc(keys, ncap * sizeof *nk);
                if (!nk)
                    continue;
                keys = nk;
                capkeys = ncap;
            }
            keys[nkeys++] = strdup(key);
        }
        if (conflicted) {
            it->valid = 0; /* excluded everywhere: a proxy is served whole or not at all */
            for (size_t j = first_new; j < nkeys; j++)
                free(keys[j]);
            nkeys = first_new;
            continue;
        }
        for (size_t j = first_new; j < nkeys; j++) {
            int err = 0;
            if (keys[j])
                tg_strmap_put(&claims, keys[j], strlen(keys[j]), it, &err);
        }
    }
    tg_strmap_free(&claims);
    for (size_t j = 0; j < nkeys; j++)
        free(keys[j]);
    free(keys);
    free(order);
}
