/* translate_tls_defaults.c — see translate_tls_defaults.h. */
#include "translate/translate_tls_defaults.h"

#include "translate/translate_backend.h"
#include "translate/translate_tls_protocol.h"

#include "json_util.h"
#include "model/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 32
#define MAX_NAME 64

/* A ":"-joined list of at most MAX_NAMES names, each known (tls13: TLS 1.3 suites); NULL or the offending reason. */
static const char *check_list(const char *list, int tls13, char *bad, size_t badlen)
{
    size_t n = 0;
    const char *p = list;
    if (!*list)
        return "is empty";
    for (;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[MAX_NAME + 1];
        if (len == 0 || len > MAX_NAME || ++n > MAX_NAMES)
            return "must be 1 to 32 OpenSSL names joined by \":\"";
        memcpy(name, p, len);
        name[len] = 0;
        if (!tg__tls_cipher_known(name, tls13)) {
            snprintf(bad, badlen, "%s", name);
            return tls13 ? "is not a TLS 1.3 cipher suite this OpenSSL knows" : "is not a TLS 1.2 cipher this OpenSSL knows";
        }
        if (!end)
            return NULL;
        p = end + 1;
    }
}

static int version_of(const char *v) { return !v ? 0 : strcmp(v, "1.2") == 0 ? 12 : strcmp(v, "1.3") == 0 ? 13 : -1; }

int tg_tls_defaults_check(const struct tg_tls_defaults *d, char *err, size_t errlen)
{
    if (d->certificate_secret) {
        const char *slash = strchr(d->certificate_secret, '/');
        char ns[64];
        if (!slash || (size_t)(slash - d->certificate_secret) >= sizeof ns) {
            snprintf(err, errlen, "--tls-default-certificate %.300s: expected NAMESPACE/NAME", d->certificate_secret);
            return -1;
        }
        snprintf(ns, sizeof ns, "%.*s", (int)(slash - d->certificate_secret), d->certificate_secret);
        const char *why = tg_check_dns_label(ns);
        if (!why)
            why = tg_check_dns_subdomain(slash + 1);
        if (why) {
            snprintf(err, errlen, "--tls-default-certificate %.300s: %s", d->certificate_secret, why);
            return -1;
        }
    }
    int min = version_of(d->min_version), max = version_of(d->max_version);
    if (min < 0 || max < 0) {
        snprintf(err, errlen, "--tls-default-%s-version %.20s: expected 1.2 or 1.3 (TLS 1.0 and 1.1 are not offered)",
                 min < 0 ? "min" : "max", min < 0 ? d->min_version : d->max_version);
        return -1;
    }
    if (min && max && min > max) {
        snprintf(err, errlen, "--tls-default-max-version %s is below --tls-default-min-version %s", d->max_version,
                 d->min_version);
        return -1;
    }
    char bad[MAX_NAME + 1] = "";
    const char *why;
    if (d->ciphers && (why = check_list(d->ciphers, 0, bad, sizeof bad)) != NULL) {
        snprintf(err, errlen, "--tls-default-ciphers%s%s: %s (OpenSSL names, e.g. ECDHE-ECDSA-AES128-GCM-SHA256)",
                 bad[0] ? " " : "", bad, why);
        return -1;
    }
    if (d->cipher_suites && (why = check_list(d->cipher_suites, 1, bad, sizeof bad)) != NULL) {
        snprintf(err, errlen, "--tls-default-cipher-suites%s%s: %s (e.g. TLS_AES_128_GCM_SHA256)", bad[0] ? " " : "",
                 bad, why);
        return -1;
    }
    return 0;
}

/* The default options as a snapshot "tlsOptions" object, or NULL when none is set. */
static json_t *default_options(const struct tg_tls_defaults *d)
{
    json_t *o = json_object();
    if (d->min_version)
        json_object_set_new(o, "minVersion", json_string(d->min_version));
    if (d->max_version)
        json_object_set_new(o, "maxVersion", json_string(d->max_version));
    if (d->ciphers)
        json_object_set_new(o, "ciphers", json_string(d->ciphers));
    if (d->cipher_suites)
        json_object_set_new(o, "cipherSuites", json_string(d->cipher_suites));
    if (json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void tg__tls_defaults_merge(const struct tg_tls_defaults *d, json_t *group_out)
{
    if (!d || !(d->min_version || d->max_version || d->ciphers || d->cipher_suites))
        return;
    json_t *opts = json_object_get(group_out, "tlsOptions");
    json_t *fresh = opts ? NULL : json_object();
    if (fresh)
        opts = fresh;
    if (!json_object_get(opts, "minVersion") && !json_object_get(opts, "maxVersion")) {
        if (d->min_version)
            json_object_set_new(opts, "minVersion", json_string(d->min_version));
        if (d->max_version)
            json_object_set_new(opts, "maxVersion", json_string(d->max_version));
    }
    if (!json_object_get(opts, "ciphers") && d->ciphers)
        json_object_set_new(opts, "ciphers", json_string(d->ciphers));
    if (!json_object_get(opts, "cipherSuites") && d->cipher_suites)
        json_object_set_new(opts, "cipherSuites", json_string(d->cipher_suites));
    if (fresh)
        json_object_set_new(group_out, "tlsOptions", fresh);
}

void tg__translate_tls_default(struct tg__tr *tr)
{
    const struct tg_tls_defaults *d = tr->tls_defaults;
    if (!d || !d->certificate_secret)
        return;
    const char *ref = d->certificate_secret, *slash = strchr(ref, '/');
    if (!slash)
        return; /* tg_tls_defaults_check refused it at start-up */
    char ns[64];
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - ref), ref);
    const char *name = slash + 1, *why = NULL, *type = NULL;
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_SECRET, ns, name);
    char *cert = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    if (so && tg_json_get_string(so->obj, "type", 256, &type) == TG_JSON_FOUND && strcmp(type, "kubernetes.io/tls") != 0)
        why = "is not of type kubernetes.io/tls";
    if (!why) {
        cert = tg__secret_value(tr, ns, name, "tls.crt", &clen, &why);
        key = cert ? tg__secret_value(tr, ns, name, "tls.key", &klen, &why) : NULL;
        if (cert && key)
            why = tg__check_pem(cert, key);
    }
    json_t *out = why ? json_pack("{s:s,s:b}", "secret", ref, "lastGood", 1)
                      : json_pack("{s:s,s:s,s:s}", "secret", ref, "certPem", cert, "keyPem", key);
    if (why)
        tg_diags_add(&tr->out->diags, TG_DIAG_WARNING,
                     "--tls-default-certificate: Secret %s: %s; the default certificate served before (if any) stays "
                     "in use", ref, why);
    free(cert);
    if (key) {
        memset(key, 0, klen);
        free(key);
    }
    json_t *opts = default_options(d);
    if (out && opts)
        json_object_set_new(out, "tlsOptions", opts);
    else
        json_decref(opts);
    if (out)
        json_object_set_new(tr->out->snapshot, "tlsDefault", out);
}
