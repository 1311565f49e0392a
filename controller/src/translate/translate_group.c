/* translate_group.c — EnvironmentGroup → snapshot "groups[]" entry: hostnames (lower-cased, exact or one
 * leading "*." label), environments, TLS certificates from kubernetes.io/tls Secrets; and the hostname
 * conflict pass (a hostname stays with the oldest group that claims it). */
#include "translate/translate_group.h"

#include "translate/translate_backend.h"
#include "translate/translate_fields.h"
#include "translate/translate_tls_defaults.h"
#include "translate/translate_tls_options.h"

#include "json_util.h"
#include "strmap.h"
#include "model/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Normalises spec.hostnames-like lists: lower-case, valid, de-duplicated. NULL after reporting. */
static json_t *hostname_list(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                             const char *path)
{
    json_t *raw = tg__string_list(tr, it, obj, key, path, 253);
    if (!raw)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(raw, i, v) {
        char host[TG_HOSTNAME_BUF];
        const char *why = tg_normalize_hostname(json_string_value(v), 1, host);
        if (why) {
            char p[200];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            tg__invalid(tr, it, p, "\"%.253s\": %s", json_string_value(v), why);
            json_decref(raw);
            json_decref(out);
            return NULL;
        }
        if (!tg__list_has(out, host))
            json_array_append_new(out, json_string(host));
    }
    json_decref(raw);
    return out;
}

static const char *const group_spec_fields[] = {"hostnames", "environments", "tls", "tlsOptions", NULL};
static const char *const group_tls_fields[] = {"secretName", "hostnames", NULL};

/* One spec.tls[i] entry → {"hostnames","secret","certPem","keyPem"}; when only the Secret is missing or unusable
 * (reported), the marker {"hostnames","secret","lastGood":true}: keep serving the last good content of that
 * Secret (the controller's memory, process/tls_last_good.h, or else the data plane's). NULL when invalid. */
static json_t *tls_entry(struct tg__tr *tr, struct tg__item *it, const json_t *entry, size_t idx,
                         const json_t *all_hosts)
{
    char path[64];
    snprintf(path, sizeof path, "spec.tls[%zu]", idx);
    if (!json_is_object(entry)) {
        tg__invalid(tr, it, path, "must be a mapping");
        return NULL;
    }
    if (tg__no_unknown_fields(tr, it, entry, path, group_tls_fields) < 0)
        return NULL;
    const char *secret = NULL;
    char p[96];
    snprintf(p, sizeof p, "%s.secretName", path);
    if (tg_json_get_string(entry, "secretName", 253, &secret) != TG_JSON_FOUND || tg_check_dns_subdomain(secret)) {
        tg__invalid(tr, it, p, "required: the name of a kubernetes.io/tls Secret in the same namespace");
        return NULL;
    }
    snprintf(p, sizeof p, "%s.hostnames", path);
    json_t *hosts = hostname_list(tr, it, entry, "hostnames", p);
    if (!hosts)
        return NULL;
    if (json_array_size(hosts) == 0) {
        json_decref(hosts);
        hosts = json_deep_copy(all_hosts);
    }
    size_t i;
    json_t *h;
    json_array_foreach(hosts, i, h) {
        if (!tg__list_has(all_hosts, json_string_value(h))) {
            tg__invalid(tr, it, p, "\"%s\" is not one of spec.hostnames", json_string_value(h));
            json_decref(hosts);
            return NULL;
        }
    }
    const char *ns = it->src->namespace_;
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_SECRET, ns, secret);
    const char *type = NULL;
    if (so && tg_json_get_string(so->obj, "type", 256, &type) == TG_JSON_FOUND &&
        strcmp(type, "kubernetes.io/tls") != 0) {
        tg__unresolved(tr, it, TG_REASON_INVALID_CERTIFICATE_REF, p,
                       "Secret %s/%s is of type %s, not kubernetes.io/tls", ns, secret, type);
        json_decref(hosts);
        return NULL;
    }
    size_t clen = 0, klen = 0;
    const char *why = NULL;
    snprintf(p, sizeof p, "%s.secretName", path);
    char *cert = tg__secret_value(tr, ns, secret, "tls.crt", &clen, &why);
    char *key = cert ? tg__secret_value(tr, ns, secret, "tls.key", &klen, &why) : NULL;
    json_t *out = NULL;
    json_t *ref = json_pack("{s:s++,s:s++,s:O}", "group", ns, "/", it->src->name, "secret", ns, "/", secret,
                            "hostnames", hosts);
    if (ref)
        json_array_append_new(tr->out->tls_refs, ref);
    if (!cert || !key) {
        tg__unresolved(tr, it, so ? TG_REASON_INVALID_CERTIFICATE_REF : TG_REASON_REF_NOT_FOUND, p,
                       "Secret %s/%s: %s", ns, secret, why);
    } else if ((why = tg__check_pem(cert, key)) != NULL) {
        tg__unresolved(tr, it, TG_REASON_INVALID_CERTIFICATE_REF, p, "Secret %s/%s: %s", ns, secret, why);
    } else {
        out = json_pack("{s:O,s:s++,s:s,s:s}", "hostnames", hosts, "secret", ns, "/", secret, "certPem", cert,
                        "keyPem", key);
        if (ref && out)
            json_object_set(ref, "entry", out);
    }
    if (!out) { /* nothing usable now: the data plane keeps what it served for this Secret (docs/tls.md) */
        out = json_pack("{s:O,s:s++,s:b}", "hostnames", hosts, "secret", ns, "/", secret, "lastGood", 1);
        if (ref && out)
            json_object_set(ref, "marker", out);
    }
    free(cert);
    if (key) {
        memset(key, 0, klen);
        free(key);
    }
    json_decref(hosts);
    return out;
}

void tg__translate_group(struct tg__tr *tr, struct tg__item *it)
{
    json_t *spec = tg__item_spec(tr, it, group_spec_fields);
    if (!spec)
        return;
    json_t *hosts = hostname_list(tr, it, spec, "hostnames", "spec.hostnames");
    if (!hosts)
        return;
    if (json_array_size(hosts) == 0) {
        tg__invalid(tr, it, "spec.hostnames", "at least one hostname is required");
        json_decref(hosts);
        return;
    }
    json_t *envs = tg__environments(tr, it, spec);
    if (!envs) {
        json_decref(hosts);
        return;
    }
    size_t i;
    json_t *v;
    json_t *tls = json_array();
    json_t *tls_in = NULL;
    int r = tg_json_get_array(spec, "tls", &tls_in);
    if (r == TG_JSON_WRONG_TYPE)
        tg__invalid(tr, it, "spec.tls", "must be a list");
    else if (r == TG_JSON_FOUND && json_array_size(tls_in) > TG__MAX_LIST)
        tg__invalid(tr, it, "spec.tls", "has more than %d items", TG__MAX_LIST);
    else if (r == TG_JSON_FOUND && it->valid) {
        json_array_foreach(tls_in, i, v) {
            json_t *e = tls_entry(tr, it, v, i, hosts);
            if (!it->valid)
                break;
            if (e)
                json_array_append_new(tls, e);
        }
    }
    if (!it->valid) {
        json_decref(hosts);
        json_decref(envs);
        json_decref(tls);
        return;
    }
    char id[320];
    snprintf(id, sizeof id, "%s/%s", it->src->namespace_, it->src->name);
    it->out = json_pack("{s:s,s:o,s:o,s:o}", "id", id, "hostnames", hosts, "environments", envs, "tls", tls);
    if (it->out && tg__translate_tls_options(tr, it, spec, it->out) < 0) {
        json_decref(it->out);
        it->out = NULL;
    }
    if (it->out)
        tg__tls_defaults_merge(tr->tls_defaults, it->out);
}

/* Removes from arr the strings that are not in keep. */
static json_t *filter_hosts(const json_t *arr, const json_t *keep)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (tg__list_has(keep, json_string_value(v)))
            json_array_append(out, v);
    }
    return out;
}

void tg__resolve_hostnames(struct tg__tr *tr, struct tg__item *groups, size_t n)
{
    size_t m = 0;
    struct tg__item **order = tg__emitted_oldest_first(groups, n, &m);
    struct tg_strmap owners;
    tg_strmap_init(&owners);
    struct tg__item *default_owner = NULL; /* the oldest group with tlsOptions.defaultCertificate */
    for (size_t k = 0; k < m; k++) {
        struct tg__item *it = order[k];
        json_t *hosts = json_object_get(it->out, "hostnames");
        json_t *kept = json_array();
        size_t i;
        json_t *h;
        json_array_foreach(hosts, i, h) {
            const char *name = json_string_value(h);
            struct tg__item *owner = tg_strmap_get(&owners, name, strlen(name));
            if (owner) {
                tg__conflict(tr, it, "spec.hostnames", "hostname \"%s\" is already claimed by older EnvironmentGroup %s/%s",
                             name, owner->src->namespace_, owner->src->name);
                continue;
            }
            int err = 0;
            tg_strmap_put(&owners, name, strlen(name), it, &err);
            json_array_append(kept, h);
        }
        if (json_array_size(kept) == 0) {
            it->valid = 0; /* nothing left to serve: excluded */
            json_decref(kept);
            continue;
        }
        if (json_array_size(kept) != json_array_size(hosts)) {
            json_t *tls = json_object_get(it->out, "tls"), *tls_kept = json_array();
            json_t *e;
            json_array_foreach(tls, i, e) {
                json_t *th = filter_hosts(json_object_get(e, "hostnames"), kept);
                if (json_array_size(th) > 0) {
                    json_t *copy = json_copy(e);
                    json_object_set_new(copy, "hostnames", th);
                    json_array_append_new(tls_kept, copy);
                } else {
                    json_decref(th);
                }
            }
            json_object_set_new(it->out, "tls", tls_kept);
        }
        json_object_set_new(it->out, "hostnames", kept);
        json_t *opts = json_object_get(it->out, "tlsOptions");
        if (json_is_true(json_object_get(opts, "defaultCertificate"))) {
            if (default_owner) {
                tg__conflict(tr, it, "spec.tlsOptions.defaultCertificate",
                             "older EnvironmentGroup %s/%s already answers handshakes without a known name",
                             default_owner->src->namespace_, default_owner->src->name);
                json_object_del(opts, "defaultCertificate");
            } else {
                default_owner = it;
            }
        }
    }
    tg_strmap_free(&owners);
    free(order);
}
