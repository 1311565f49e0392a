/* translate_tls_options.c — EnvironmentGroup spec.tlsOptions → the group's snapshot fields "tlsOptions"
 * (protocol versions, TLS 1.2 cipher list, TLS 1.3 cipher suites — read by translate_tls_protocol.c, as an
 * ApiProxy's toward its backend are — and defaultCertificate), "httpsRedirect" and "hsts" (docs/tls.md,
 * docs/control-protocol.md). */
#include "translate/translate_tls_options.h"

#include "translate/translate_tls_protocol.h"

#include "json_util.h"

#include <stdio.h>
#include <string.h>

#define MAX_HSTS_AGE (2LL * 365 * 24 * 3600) /* two years, the HSTS preload list's own ceiling is one */

static const char *const options_fields[] = {"minVersion", "maxVersion", "ciphers", "cipherSuites",
                                             "defaultCertificate", "redirectHttp", "hsts", NULL};
static const char *const redirect_fields[] = {"enabled", "httpsPort", NULL};
static const char *const hsts_fields[] = {"enabled", "maxAge", "includeSubDomains", "preload", NULL};

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
    if (tg__tls_protocol_fields(tr, it, opts, "spec.tlsOptions", out) < 0)
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
