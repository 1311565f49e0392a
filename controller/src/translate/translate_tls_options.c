/* translate_tls_options.c — EnvironmentGroup spec.tlsOptions → the group's snapshot fields "tlsOptions"
 * (protocol versions, TLS 1.2 cipher list, TLS 1.3 cipher suites, defaultCertificate), "httpsRedirect" and
 * "hsts" (docs/tls.md, docs/control-protocol.md). Cipher names are checked against this OpenSSL, one by one, so
 * a typo is reported on the group instead of refusing the snapshot in the data plane. */
#include "translate/translate_tls_options.h"

#include "json_util.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#define MAX_CIPHERS 32
#define MAX_CIPHER_NAME 64
#define MAX_HSTS_AGE (2LL * 365 * 24 * 3600) /* two years, the HSTS preload list's own ceiling is one */

static const char *const options_fields[] = {"minVersion", "maxVersion", "ciphers", "cipherSuites",
                                             "defaultCertificate", "redirectHttp", "hsts", NULL};
static const char *const redirect_fields[] = {"enabled", "httpsPort", NULL};
static const char *const hsts_fields[] = {"enabled", "maxAge", "includeSubDomains", "preload", NULL};

/* "1.2" / "1.3" (also "TLSv1.2" / "TLSv1.3") → 12 / 13; 0 when absent; -1 after reporting. */
static int version_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key)
{
    const char *v = NULL;
    int r = tg_json_get_string(obj, key, 16, &v);
    if (r == TG_JSON_ABSENT)
        return 0;
    if (r == TG_JSON_FOUND && (strcmp(v, "1.2") == 0 || strcmp(v, "TLSv1.2") == 0))
        return 12;
    if (r == TG_JSON_FOUND && (strcmp(v, "1.3") == 0 || strcmp(v, "TLSv1.3") == 0))
        return 13;
    char p[64];
    snprintf(p, sizeof p, "spec.tlsOptions.%s", key);
    tg__invalid(tr, it, p, "must be \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are not offered)");
    return -1;
}

int tg__tls_cipher_known(const char *name, int tls13)
{
    static SSL_CTX *probe; /* translation runs on one thread */
    if (!probe && !(probe = SSL_CTX_new(TLS_method())))
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_'))
            return 0; /* no list syntax (":", "!", "+", "@"): one name per item */
    int ok = tls13 ? SSL_CTX_set_ciphersuites(probe, name) == 1 : SSL_CTX_set_cipher_list(probe, name) == 1;
    ERR_clear_error();
    return ok;
}

/* spec.tlsOptions.<key>: a list of names → "A:B" in out[key]; 0, or -1 after reporting. */
static int cipher_list(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key, int tls13,
                       json_t *out)
{
    char p[64];
    snprintf(p, sizeof p, "spec.tlsOptions.%s", key);
    if (!json_object_get(obj, key) || json_is_null(json_object_get(obj, key)))
        return 0;
    json_t *names = tg__string_list(tr, it, obj, key, p, MAX_CIPHER_NAME);
    if (!names)
        return -1;
    size_t n = json_array_size(names);
    if (n == 0 || n > MAX_CIPHERS) {
        tg__invalid(tr, it, p, "must name between 1 and %d %s", MAX_CIPHERS, tls13 ? "cipher suites" : "ciphers");
        json_decref(names);
        return -1;
    }
    char joined[MAX_CIPHERS * (MAX_CIPHER_NAME + 1) + 1];
    size_t len = 0;
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        const char *name = json_string_value(v);
        if (!tg__tls_cipher_known(name, tls13)) {
            tg__invalid(tr, it, p, "\"%.64s\" is not a %s this OpenSSL knows (OpenSSL names, e.g. %s)", name,
                        tls13 ? "TLS 1.3 cipher suite" : "TLS 1.2 cipher",
                        tls13 ? "TLS_AES_128_GCM_SHA256" : "ECDHE-ECDSA-AES128-GCM-SHA256");
            json_decref(names);
            return -1;
        }
        size_t nl = strlen(name);
        if (len)
            joined[len++] = ':';
        memcpy(joined + len, name, nl);
        len += nl;
    }
    joined[len] = 0;
    json_decref(names);
    json_object_set_new(out, key, json_string(joined));
    return 0;
}

/* An optional mapping field of opts; *sub NULL when absent or disabled ("enabled": false). 0, or -1 reported. */
static int sub_object(struct tg__tr *tr, struct tg__item *it, const json_t *opts, const char *key,
                      const char *const *fields, json_t **sub)
{
    char p[64];
    snprintf(p, sizeof p, "spec.tlsOptions.%s", key);
    *sub = NULL;
    int r = tg_json_get_object(opts, key, sub);
    if (r == TG_JSON_ABSENT)
        return 0;
    if (r != TG_JSON_FOUND) {
        tg__invalid(tr, it, p, "must be a mapping");
        return -1;
    }
    if (tg__no_unknown_fields(tr, it, *sub, p, fields) < 0)
        return -1;
    int enabled = 1;
    if (tg_json_get_bool(*sub, "enabled", &enabled) < 0) {
        tg__invalid(tr, it, p, "enabled: must be a boolean");
        return -1;
    }
    if (!enabled)
        *sub = NULL;
    return 0;
}

static int bool_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path, const char *key,
                      int *out)
{
    *out = 0;
    if (tg_json_get_bool(obj, key, out) < 0) {
        tg__invalid(tr, it, path, "%s: must be a boolean", key);
        return -1;
    }
    return 0;
}

int tg__translate_tls_options(struct tg__tr *tr, struct tg__item *it, const json_t *spec, json_t *group_out)
{
    json_t *opts = NULL;
    int r = tg_json_get_object(spec, "tlsOptions", &opts);
    if (r == TG_JSON_ABSENT)
        return 0;
    if (r != TG_JSON_FOUND) {
        tg__invalid(tr, it, "spec.tlsOptions", "must be a mapping");
        return -1;
    }
    if (tg__no_unknown_fields(tr, it, opts, "spec.tlsOptions", options_fields) < 0)
        return -1;
    json_t *out = json_object();
    int min = version_field(tr, it, opts, "minVersion"), max = version_field(tr, it, opts, "maxVersion");
    if (min < 0 || max < 0)
        goto fail;
    if (min && max && min > max) {
        tg__invalid(tr, it, "spec.tlsOptions.maxVersion", "is below minVersion");
        goto fail;
    }
    if (min)
        json_object_set_new(out, "minVersion", json_string(min == 12 ? "1.2" : "1.3"));
    if (max)
        json_object_set_new(out, "maxVersion", json_string(max == 12 ? "1.2" : "1.3"));
    if (cipher_list(tr, it, opts, "ciphers", 0, out) < 0 || cipher_list(tr, it, opts, "cipherSuites", 1, out) < 0)
        goto fail;
    int def = 0;
    if (bool_field(tr, it, opts, "spec.tlsOptions", "defaultCertificate", &def) < 0)
        goto fail;
    if (def)
        json_object_set_new(out, "defaultCertificate", json_true());
    if (json_object_size(out))
        json_object_set(group_out, "tlsOptions", out);

    json_t *redirect = NULL, *hsts = NULL;
    if (sub_object(tr, it, opts, "redirectHttp", redirect_fields, &redirect) < 0 ||
        sub_object(tr, it, opts, "hsts", hsts_fields, &hsts) < 0)
        goto fail;
    if (redirect) {
        json_int_t port = 443;
        if (tg_json_get_int(redirect, "httpsPort", 1, 65535, &port) < 0) {
            tg__invalid(tr, it, "spec.tlsOptions.redirectHttp.httpsPort", "must be an integer 1-65535");
            goto fail;
        }
        json_object_set_new(group_out, "httpsRedirect", json_pack("{s:I}", "port", (json_int_t)port));
    }
    if (hsts) {
        json_int_t age = 31536000;
        int sub = 0, preload = 0;
        if (tg_json_get_int(hsts, "maxAge", 0, MAX_HSTS_AGE, &age) < 0) {
            tg__invalid(tr, it, "spec.tlsOptions.hsts.maxAge", "must be an integer number of seconds, 0-%lld",
                        MAX_HSTS_AGE);
            goto fail;
        }
        if (bool_field(tr, it, hsts, "spec.tlsOptions.hsts", "includeSubDomains", &sub) < 0 ||
            bool_field(tr, it, hsts, "spec.tlsOptions.hsts", "preload", &preload) < 0)
            goto fail;
        if (preload && (!sub || age < 31536000)) {
            tg__invalid(tr, it, "spec.tlsOptions.hsts.preload",
                        "needs includeSubDomains and a maxAge of at least 31536000 (the preload list's rule)");
            goto fail;
        }
        json_object_set_new(group_out, "hsts", json_pack("{s:I,s:b,s:b}", "maxAgeSeconds", age,
                                                         "includeSubDomains", sub, "preload", preload));
    }
    json_decref(out);
    return 0;
fail:
    json_decref(out);
    return -1;
}
