/* translate_policy_auth.c — the authentication policies' translation (translate_policy.h): verifyApiKey and
 * oauthV2, from the ApiProxy's CRD fields (crds/tollgate.dev_apiproxies.yaml) to the snapshot objects of
 * docs/policy-auth.md.
 *
 * verifyApiKey: the API-key Secrets (type tollgate.dev/api-key) of the proxy's namespace that the
 * secretSelector selects become {"id","app","sha256","expiresAtMs"} entries — the SHA-256 of the key, never the
 * key itself; the clear copy read from the Secret is wiped at once.
 * oauthV2: the JWKS (Secret/ConfigMap, checked key by key with common/jwk.h; unusable keys are reported and left
 * out), the introspection client credentials, and the revocation ConfigMap's keys are resolved into the policy.
 * Missing Secrets/ConfigMaps are reported (ResolvedRefs=False, SecretNotFound) and the policy fails closed. */
#include "translate/translate_policy.h"

#include "translate/translate_backend.h"
#include "translate/translate_fields.h"

#include "hex.h"
#include "json_util.h"
#include "jwk.h"
#include "model/validate.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_KEY_TYPE "tollgate.dev/api-key"
#define APP_LABEL "tollgate.dev/app"
#define MAX_KEY_BYTES 4096 /* the data plane reads keys up to this size */

/* ---- shared field readers ---------------------------------------------------------------------------- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A credential location list (keyFrom / tokenFrom): 1..8 "kind:NAME" strings, default def. */
static json_t *location_list(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *key,
                             const char *path, const char *const *def, int allow_subprotocol)
{
    char p[256];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!json_object_get(settings, key) || json_is_null(json_object_get(settings, key))) {
        json_t *out = json_array();
        for (size_t i = 0; def[i]; i++)
            json_array_append_new(out, json_string(def[i]));
        return out;
    }
    json_t *list = tg__string_list(tr, it, settings, key, p, 269);
    if (!list)
        return NULL;
    if (json_array_size(list) < 1 || json_array_size(list) > 8) {
        tg__policy_invalid(tr, it, p, "must have 1 to 8 entries");
        json_decref(list);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        size_t prefix = strncmp(s, "header:", 7) == 0  ? 7
                        : strncmp(s, "query:", 6) == 0 ? 6
                        : allow_subprotocol && strncmp(s, "subprotocol:", 12) == 0 ? 12
                                                                                   : 0;
        size_t n = prefix ? strlen(s + prefix) : 0;
        int ok = prefix && n >= 1 && n <= 256;
        for (size_t j = 0; ok && j < n; j++)
            ok = is_tchar((unsigned char)s[prefix + j]);
        if (!ok) {
            tg__policy_invalid(tr, it, p, "entry %zu (\"%.64s\") must be %s with a 1-256 character token name", i, s,
                               allow_subprotocol ? "\"header:NAME\", \"query:NAME\" or \"subprotocol:PREFIX\""
                                                 : "\"header:NAME\" or \"query:NAME\"");
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* A Kubernetes label value: at most 63 characters [A-Za-z0-9._-], alphanumeric at both ends (or empty). */
static const char *check_label_value(const char *s)
{
    size_t n = strlen(s);
    if (n > 63)
        return "longer than 63 characters";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && ((i == 0 || i == n - 1) || (c != '.' && c != '_' && c != '-')))
            return "not a label value";
    }
    return NULL;
}

/* ---- label selectors (metav1.LabelSelector) ---------------------------------------------------------- */

static const char *const selector_fields[] = {"matchLabels", "matchExpressions", NULL};
static const char *const expression_fields[] = {"key", "operator", "values", NULL};

/* Validates the selector; -1 after reporting. */
static int check_selector(struct tg__tr *tr, struct tg__item *it, const json_t *sel, const char *path)
{
    if (tg__no_unknown_fields(tr, it, sel, path, selector_fields) < 0)
        return -1;
    char p[300];
    json_t *ml = json_object_get(sel, "matchLabels");
    if (ml && !json_is_null(ml)) {
        snprintf(p, sizeof p, "%s.matchLabels", path);
        if (!json_is_object(ml) || json_object_size(ml) > 32) {
            tg__policy_invalid(tr, it, p, "must be a mapping of at most 32 labels");
            return -1;
        }
        const char *k;
        json_t *v;
        json_object_foreach(ml, k, v) {
            if (!json_is_string(v) || json_string_length(v) > 63 || strlen(k) == 0 || strlen(k) > 317) {
                tg__policy_invalid(tr, it, p, "label \"%.64s\": keys of 1-317 characters, string values of at most "
                                              "63 characters", k);
                return -1;
            }
        }
    }
    json_t *me = json_object_get(sel, "matchExpressions");
    if (me && !json_is_null(me)) {
        snprintf(p, sizeof p, "%s.matchExpressions", path);
        if (!json_is_array(me) || json_array_size(me) > 32) {
            tg__policy_invalid(tr, it, p, "must be a list of at most 32 requirements");
            return -1;
        }
        size_t i;
        json_t *e;
        json_array_foreach(me, i, e) {
            snprintf(p, sizeof p, "%s.matchExpressions[%zu]", path, i);
            if (!json_is_object(e)) {
                tg__policy_invalid(tr, it, p, "must be a mapping");
                return -1;
            }
            if (tg__no_unknown_fields(tr, it, e, p, expression_fields) < 0)
                return -1;
            const char *key = json_string_value(json_object_get(e, "key"));
            const char *op = json_string_value(json_object_get(e, "operator"));
            json_t *values = json_object_get(e, "values");
            size_t nv = json_is_array(values) ? json_array_size(values) : 0;
            int set_op = op && (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0);
            int exist_op = op && (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0);
            if (!key || !*key || strlen(key) > 317 || (!set_op && !exist_op) ||
                (values && !json_is_null(values) && !json_is_array(values)) || nv > 64 || (set_op && nv == 0) ||
                (exist_op && nv != 0)) {
                tg__policy_invalid(tr, it, p, "needs a key, an operator (In, NotIn, Exists, DoesNotExist) and values "
                                              "(non-empty for In/NotIn, empty otherwise)");
                return -1;
            }
            size_t j;
            json_t *v;
            json_array_foreach(values, j, v) {
                if (!json_is_string(v) || json_string_length(v) > 63) {
                    tg__policy_invalid(tr, it, p, "values must be strings of at most 63 characters");
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* 1 when labels (an object, or NULL) satisfy the (validated) selector. */
static int selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(sel, "matchLabels"), k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || strcmp(have, json_string_value(v)) != 0)
            return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
        const char *have = json_string_value(json_object_get(labels, json_string_value(json_object_get(e, "key"))));
        const char *op = json_string_value(json_object_get(e, "operator"));
        const json_t *values = json_object_get(e, "values");
        int ok = strcmp(op, "In") == 0       ? have && tg__list_has(values, have)
                 : strcmp(op, "NotIn") == 0  ? !have || !tg__list_has(values, have)
                 : strcmp(op, "Exists") == 0 ? have != NULL
                                             : have == NULL;
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- verifyApiKey ------------------------------------------------------------------------------------ */

static const char *const vak_fields[] = {"keyFrom", "secretSelector", NULL};
static const char *const vak_default_from[] = {"query:apikey", "header:x-api-key", NULL};

/* One selected Secret → a key entry appended to keys; problems with the Secret are warnings (the key is left
 * out: fail closed). */
static void api_key_entry(struct tg__tr *tr, struct tg__item *it, const struct tg_store_object *so, const char *path,
                          json_t *keys)
{
    size_t len = 0;
    const char *why = NULL;
    char *key = tg__secret_value(tr, so->namespace_, so->name, "key", &len, &why);
    if (!key || len == 0 || len > MAX_KEY_BYTES) {
        tg__unresolved(tr, it, TG_REASON_INVALID_REF, path, "API-key Secret %s/%s: %s; the key is not accepted",
                       so->namespace_, so->name,
                       !key ? why : len == 0 ? "data.key is empty" : "data.key is longer than 4096 bytes");
        if (key)
            OPENSSL_cleanse(key, len);
        free(key);
        return;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, len, digest);
    OPENSSL_cleanse(key, len);
    free(key);
    char digest_hex[2 * SHA256_DIGEST_LENGTH + 1];
    tg_hex_encode(digest, sizeof digest, digest_hex);

    json_int_t expires_ms = 0;
    size_t elen = 0;
    char *expires = NULL;
    const json_t *data = json_object_get(so->obj, "data"), *sdata = json_object_get(so->obj, "stringData");
    if (json_object_get(data, "expiresAt") || json_object_get(sdata, "expiresAt"))
        expires = tg__secret_value(tr, so->namespace_, so->name, "expiresAt", &elen, &why);
    if (expires) {
        int64_t sec = 0;
        int32_t nsec = 0;
        /* trailing whitespace is common in hand-written Secrets */
        while (elen && (expires[elen - 1] == '\n' || expires[elen - 1] == ' ' || expires[elen - 1] == '\r'))
            expires[--elen] = '\0';
        if (strlen(expires) != elen || tg_parse_rfc3339(expires, &sec, &nsec) < 0 || sec <= 0) {
            tg__unresolved(tr, it, TG_REASON_INVALID_REF, path,
                           "API-key Secret %s/%s: expiresAt is not an RFC 3339 date-time; the key is not accepted",
                           so->namespace_, so->name);
            free(expires);
            return;
        }
        expires_ms = (json_int_t)sec * 1000 + nsec / 1000000;
        free(expires);
    }
    const json_t *labels = json_object_get(json_object_get(so->obj, "metadata"), "labels");
    const char *app = json_string_value(json_object_get(labels, APP_LABEL));
    if (app && check_label_value(app)) {
        tg__unresolved(tr, it, TG_REASON_INVALID_REF, path,
                       "API-key Secret %s/%s: label " APP_LABEL " is not a label value; the app is reported as \"\"",
                       so->namespace_, so->name);
        app = NULL;
    }
    char id[96];
    int n = snprintf(id, sizeof id, "%s/%s", so->namespace_, so->name);
    if (n < 0 || (size_t)n >= sizeof id) /* namespace/name beyond 95 bytes: keep it unique by its digest */
        snprintf(id, sizeof id, "%.30s/%.40s~%.16s", so->namespace_, so->name, digest_hex);
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:I}", "id", id, "app", app ? app : "", "sha256",
                                          digest_hex, "expiresAtMs", expires_ms));
}

json_t *tg__translate_verify_api_key(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path)
{
    if (tg__policy_fields(tr, it, settings, path, vak_fields) < 0)
        return NULL;
    json_t *from = location_list(tr, it, settings, "keyFrom", path, vak_default_from, 0);
    if (!from)
        return NULL;
    char p[256];
    snprintf(p, sizeof p, "%s.secretSelector", path);
    json_t *sel = json_object_get(settings, "secretSelector");
    if (!json_is_object(sel)) {
        tg__policy_invalid(tr, it, p, "required: a label selector of API-key Secrets ({} selects all of them)");
        json_decref(from);
        return NULL;
    }
    if (check_selector(tr, it, sel, p) < 0) {
        it->st->accepted.reason = TG_REASON_INVALID_POLICY;
        json_decref(from);
        return NULL;
    }
    json_t *keys = json_array();
    size_t count = 0, selected = 0;
    const struct tg_store_object *const *secrets = tg_store_list(tr->store, TG_KIND_SECRET, &count);
    for (size_t i = 0; i < count; i++) {
        const struct tg_store_object *so = secrets[i];
        if (strcmp(so->namespace_, it->src->namespace_) != 0)
            continue;
        const char *type = json_string_value(json_object_get(so->obj, "type"));
        if (!type || strcmp(type, API_KEY_TYPE) != 0)
            continue;
        if (!selector_matches(sel, json_object_get(json_object_get(so->obj, "metadata"), "labels")))
            continue;
        selected++;
        api_key_entry(tr, it, so, p, keys);
    }
    if (selected == 0)
        tg__unresolved(tr, it, TG_REASON_SECRET_NOT_FOUND, p,
                       "selects no Secret of type " API_KEY_TYPE " in namespace %s: every request is refused (401)",
                       it->src->namespace_);
    return json_pack("{s:s,s:o,s:o}", "type", "verifyApiKey", "keyFrom", from, "keys", keys);
}

/* ---- oauthV2 ----------------------------------------------------------------------------------------- */

static const char *const oauth_fields[] = {"tokenFrom", "jwt", "introspection", "requiredScopes",
                                           "revocationConfigMapName", NULL};
static const char *const jwt_fields[] = {"issuer", "audiences", "jwksSecretName", "jwksConfigMapName", "jwksUrl",
                                         "algorithms", NULL};
static const char *const introspection_fields[] = {"url", "clientSecretName", "recheckInterval", NULL};
static const char *const oauth_default_from[] = {"header:authorization", "query:access_token", NULL};

/* A string field; NULL when absent; reports (InvalidPolicy) when of another type or longer than max. */
static const char *string_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                                const char *path, size_t max, int *bad)
{
    const char *s = NULL;
    int r = tg_json_get_string(obj, key, max, &s);
    if (r < 0) {
        char p[384];
        snprintf(p, sizeof p, "%s.%s", path, key);
        tg__policy_invalid(tr, it, p, "must be a string of at most %zu characters", max);
        *bad = 1;
        return NULL;
    }
    return s;
}

static int resource_name_ok(const char *s) { return s && *s && !tg_check_dns_subdomain(s); }

/* http(s)://HOST[:PORT][/PATH] without userinfo, fragment or whitespace; http only when loopback_only is 0 or
 * the host is a loopback name. NULL or a reason. */
static const char *check_url(const char *url, int http_loopback_only)
{
    size_t skip;
    int https = strncmp(url, "https://", 8) == 0;
    if (https)
        skip = 8;
    else if (strncmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return "must start with https:// (or http://)";
    const char *host = url + skip, *end = host + strcspn(host, "/?#");
    if (end == host)
        return "has no host";
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return "contains whitespace or control characters";
    if (memchr(host, '@', (size_t)(end - host)))
        return "must not carry credentials (user@host)";
    if (strchr(url, '#'))
        return "must not have a fragment";
    if (!https && http_loopback_only) {
        size_t hl = (size_t)(end - host);
        const char *colon = host[0] == '[' ? memchr(host, ']', hl) : memchr(host, ':', hl);
        size_t name_len = colon ? (size_t)(colon - host) + (host[0] == '[') : hl;
        if (!((name_len == 9 && strncmp(host, "127.0.0.1", 9) == 0) || (name_len == 9 && strncmp(host, "localhost", 9) == 0) ||
              (name_len == 5 && strncmp(host, "[::1]", 5) == 0)))
            return "must use https:// (http:// is accepted for loopback hosts only)";
    }
    return NULL;
}

/* The value of key in a ConfigMap's data (a malloc'ed copy), or NULL with *why. */
static char *configmap_value(struct tg__tr *tr, const char *ns, const char *name, const char *key, size_t *len,
                             const char **why)
{
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_CONFIG_MAP, ns, name);
    if (!so) {
        *why = "not found";
        return NULL;
    }
    const json_t *v = json_object_get(json_object_get(so->obj, "data"), key);
    if (!json_is_string(v)) {
        *why = "has no data.jwks.json";
        return NULL;
    }
    *len = json_string_length(v);
    char *copy = malloc(*len + 1);
    if (!copy) {
        *why = "out of memory";
        return NULL;
    }
    memcpy(copy, json_string_value(v), *len + 1);
    return copy;
}

struct skip_report {
    struct tg__tr *tr;
    struct tg__item *it;
    const char *path;
    const char *kind, *ns, *name;
};

static void on_key_skipped(void *arg, size_t index, const char *why)
{
    struct skip_report *sr = arg;
    tg__unresolved(sr->tr, sr->it, TG_REASON_INVALID_REF, sr->path, "%s %s/%s: jwks.json key %zu is not used: %s",
                   sr->kind, sr->ns, sr->name, index, why);
}

/* The JWKS of a Secret or ConfigMap → its public keys ({"keys":[…]}); a missing object or unusable document is
 * reported and yields an empty set (every JWT is refused: fail closed). */
static json_t *resolve_jwks(struct tg__tr *tr, struct tg__item *it, const char *path, int secret, const char *name)
{
    const char *ns = it->src->namespace_, *why = NULL, *kind = secret ? "Secret" : "ConfigMap";
    size_t len = 0;
    char *text = secret ? tg__secret_value(tr, ns, name, "jwks.json", &len, &why)
                        : configmap_value(tr, ns, name, "jwks.json", &len, &why);
    json_t *pub = NULL;
    if (!text) {
        int missing = !tg_store_get(tr->store, secret ? TG_KIND_SECRET : TG_KIND_CONFIG_MAP, ns, name);
        tg__unresolved(tr, it, missing ? TG_REASON_SECRET_NOT_FOUND : TG_REASON_INVALID_REF, path,
                       "%s %s/%s: %s; every JWT is refused until it is there", kind, ns, name,
                       strcmp(why, "has no such key") == 0 ? "has no jwks.json" : why);
    } else {
        struct tg_jwks keys;
        char err[200];
        struct skip_report sr = {tr, it, path, kind, ns, name};
        if (tg_jwks_parse_text(text, len, &keys, &pub, on_key_skipped, &sr, err, sizeof err) < 0) {
            tg__unresolved(tr, it, TG_REASON_INVALID_REF, path, "%s %s/%s: jwks.json: %s; every JWT is refused",
                           kind, ns, name, err);
        } else {
            if (keys.count == 0)
                tg__unresolved(tr, it, TG_REASON_INVALID_REF, path,
                               "%s %s/%s: jwks.json has no usable key; every JWT is refused", kind, ns, name);
            tg_jwks_free(&keys);
        }
        free(text);
    }
    return pub ? pub : json_pack("{s:[]}", "keys");
}

static json_t *oauth_jwt(struct tg__tr *tr, struct tg__item *it, const json_t *jwt, const char *path)
{
    if (tg__policy_mapping(tr, it, jwt, path, jwt_fields) < 0)
        return NULL;
    int bad = 0;
    char p[384];
    const char *issuer = string_field(tr, it, jwt, "issuer", path, 1024, &bad);
    const char *sname = string_field(tr, it, jwt, "jwksSecretName", path, 253, &bad);
    const char *cname = string_field(tr, it, jwt, "jwksConfigMapName", path, 253, &bad);
    const char *url = string_field(tr, it, jwt, "jwksUrl", path, 2048, &bad);
    if (bad)
        return NULL;
    if (!issuer || !*issuer) {
        snprintf(p, sizeof p, "%s.issuer", path);
        tg__policy_invalid(tr, it, p, "required: the value the iss claim must have");
        return NULL;
    }
    if (!!sname + !!cname + !!url != 1) {
        tg__policy_invalid(tr, it, path, "exactly one of jwksSecretName, jwksConfigMapName and jwksUrl must be set");
        return NULL;
    }
    if ((sname && !resource_name_ok(sname)) || (cname && !resource_name_ok(cname))) {
        snprintf(p, sizeof p, "%s.%s", path, sname ? "jwksSecretName" : "jwksConfigMapName");
        tg__policy_invalid(tr, it, p, "must be the name of a %s in the same namespace", sname ? "Secret" : "ConfigMap");
        return NULL;
    }
    const char *why = url ? check_url(url, 1) : NULL;
    if (why) {
        snprintf(p, sizeof p, "%s.jwksUrl", path);
        tg__policy_invalid(tr, it, p, "%s", why);
        return NULL;
    }
    snprintf(p, sizeof p, "%s.audiences", path);
    json_t *aud = tg__string_list(tr, it, jwt, "audiences", p, 1024);
    if (!aud)
        return NULL;
    if (json_array_size(aud) > 16) {
        tg__policy_invalid(tr, it, p, "has more than 16 audiences");
        json_decref(aud);
        return NULL;
    }
    snprintf(p, sizeof p, "%s.algorithms", path);
    json_t *algs = json_object_get(jwt, "algorithms") ? tg__string_list(tr, it, jwt, "algorithms", p, 16)
                                                      : json_pack("[s,s]", "RS256", "ES256");
    if (!algs) {
        json_decref(aud);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(algs, i, v) {
        if (!tg_jws_alg_from_name(json_string_value(v))) {
            tg__policy_invalid(tr, it, p, "\"%.16s\" is not accepted (RS256/384/512, PS256/384/512, ES256/384/512, "
                                          "EdDSA; never none or HS*)", json_string_value(v));
            json_decref(aud);
            json_decref(algs);
            return NULL;
        }
    }
    if (json_array_size(algs) == 0 || json_array_size(algs) > 10) {
        tg__policy_invalid(tr, it, p, "must list 1 to 10 algorithms");
        json_decref(aud);
        json_decref(algs);
        return NULL;
    }
    json_t *out = json_pack("{s:s,s:o,s:o}", "issuer", issuer, "audiences", aud, "algorithms", algs);
    if (url) {
        json_object_set_new(out, "jwksUrl", json_string(url));
    } else {
        snprintf(p, sizeof p, "%s.%s", path, sname ? "jwksSecretName" : "jwksConfigMapName");
        json_object_set_new(out, "jwks", resolve_jwks(tr, it, p, sname != NULL, sname ? sname : cname));
    }
    return out;
}

static json_t *oauth_introspection(struct tg__tr *tr, struct tg__item *it, const json_t *in, const char *path)
{
    if (tg__policy_mapping(tr, it, in, path, introspection_fields) < 0)
        return NULL;
    int bad = 0;
    char p[384];
    const char *url = string_field(tr, it, in, "url", path, 2048, &bad);
    const char *secret = string_field(tr, it, in, "clientSecretName", path, 253, &bad);
    if (bad)
        return NULL;
    const char *why = url ? check_url(url, 0) : "required: the RFC 7662 endpoint";
    if (why) {
        snprintf(p, sizeof p, "%s.url", path);
        tg__policy_invalid(tr, it, p, "%s", why);
        return NULL;
    }
    if (!resource_name_ok(secret)) {
        snprintf(p, sizeof p, "%s.clientSecretName", path);
        tg__policy_invalid(tr, it, p, "required: the Secret (same namespace) with clientId and clientSecret");
        return NULL;
    }
    uint64_t recheck = 0;
    snprintf(p, sizeof p, "%s.recheckInterval", path);
    if (tg__duration_field(tr, it, in, "recheckInterval", p, 30000, 1, &recheck) < 0) {
        it->st->accepted.reason = TG_REASON_INVALID_POLICY;
        return NULL;
    }
    /* client credentials: clientId/clientSecret (CRD), or client_id/client_secret (RFC 6749 spelling) */
    const char *ns = it->src->namespace_;
    size_t il = 0, sl = 0;
    char *id = tg__secret_value(tr, ns, secret, "clientId", &il, &why);
    if (!id)
        id = tg__secret_value(tr, ns, secret, "client_id", &il, &why);
    char *sec = tg__secret_value(tr, ns, secret, "clientSecret", &sl, &why);
    if (!sec)
        sec = tg__secret_value(tr, ns, secret, "client_secret", &sl, &why);
    snprintf(p, sizeof p, "%s.clientSecretName", path);
    if (!id || !sec || strlen(id) != il || strlen(sec) != sl || il > 1024 || sl > 1024) {
        int missing = !tg_store_get(tr->store, TG_KIND_SECRET, ns, secret);
        tg__unresolved(tr, it, missing ? TG_REASON_SECRET_NOT_FOUND : TG_REASON_INVALID_REF, p,
                       "Secret %s/%s: %s; introspection answers 503 until it is there", ns, secret,
                       missing ? "not found" : "needs clientId and clientSecret (text of at most 1024 bytes)");
        if (sec)
            OPENSSL_cleanse(sec, sl);
        free(id);
        free(sec);
        id = sec = NULL;
    }
    json_t *out = json_pack("{s:s,s:s,s:s,s:I}", "url", url, "clientId", id ? id : "", "clientSecret",
                            sec ? sec : "", "recheckIntervalMs", (json_int_t)recheck);
    if (sec)
        OPENSSL_cleanse(sec, sl);
    free(id);
    free(sec);
    return out;
}

static int cmp_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The revocation ConfigMap's data keys, sorted; "sha256.<64 hex>" (a ConfigMap key cannot hold ':') becomes
 * "sha256:<hex>". A missing ConfigMap is reported; no revocation is known then. */
static json_t *oauth_revoked(struct tg__tr *tr, struct tg__item *it, const char *name, const char *path)
{
    json_t *out = json_array();
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_CONFIG_MAP, it->src->namespace_, name);
    if (!so) {
        tg__unresolved(tr, it, TG_REASON_SECRET_NOT_FOUND, path,
                       "ConfigMap %s/%s: not found; no token is known as revoked", it->src->namespace_, name);
        return out;
    }
    const json_t *data = json_object_get(so->obj, "data");
    size_t n = json_object_size(data), k = 0;
    const char **keys = calloc(n + 1, sizeof *keys);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)data, key, v) {
        if (keys && k < n && *key && strlen(key) <= 4096)
            keys[k++] = key;
    }
    if (keys)
        qsort(keys, k, sizeof *keys, cmp_strings);
    for (size_t i = 0; keys && i < k; i++) {
        size_t len = strlen(keys[i]);
        if (len == 71 && strncmp(keys[i], "sha256.", 7) == 0 && strspn(keys[i] + 7, "0123456789abcdefABCDEF") == 64) {
            char d[72];
            snprintf(d, sizeof d, "sha256:%s", keys[i] + 7);
            json_array_append_new(out, json_string(d));
        } else {
            json_array_append_new(out, json_string(keys[i]));
        }
    }
    free(keys);
    return out;
}

json_t *tg__translate_oauth_v2(struct tg__tr *tr, struct tg__item *it, const json_t *settings, const char *path)
{
    if (tg__policy_fields(tr, it, settings, path, oauth_fields) < 0)
        return NULL;
    char p[300];
    json_t *from = location_list(tr, it, settings, "tokenFrom", path, oauth_default_from, 1);
    if (!from)
        return NULL;
    const json_t *jwt_in = json_object_get(settings, "jwt"), *in_in = json_object_get(settings, "introspection");
    if (json_is_null(jwt_in))
        jwt_in = NULL;
    if (json_is_null(in_in))
        in_in = NULL;
    if (!jwt_in && !in_in) {
        tg__policy_invalid(tr, it, path, "needs jwt, introspection or both");
        json_decref(from);
        return NULL;
    }
    snprintf(p, sizeof p, "%s.requiredScopes", path);
    json_t *scopes = tg__string_list(tr, it, settings, "requiredScopes", p, 256);
    if (!scopes) {
        json_decref(from);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(scopes, i, v) {
        const char *s = json_string_value(v);
        int ok = *s != '\0' && i < 32;
        for (const char *c = s; ok && *c; c++) /* RFC 6749 §3.3 scope-token */
            ok = *c == 0x21 || (*c >= 0x23 && *c <= 0x5b) || (*c >= 0x5d && *c <= 0x7e);
        if (!ok) {
            tg__policy_invalid(tr, it, p, "entry %zu must be a scope token (RFC 6749 §3.3); at most 32 entries", i);
            json_decref(from);
            json_decref(scopes);
            return NULL;
        }
    }
    int bad = 0;
    const char *revocation = string_field(tr, it, settings, "revocationConfigMapName", path, 253, &bad);
    if (!bad && revocation && !resource_name_ok(revocation)) {
        snprintf(p, sizeof p, "%s.revocationConfigMapName", path);
        tg__policy_invalid(tr, it, p, "must be the name of a ConfigMap in the same namespace");
        bad = 1;
    }
    json_t *jwt = NULL, *in = NULL;
    if (!bad && jwt_in) {
        snprintf(p, sizeof p, "%s.jwt", path);
        jwt = oauth_jwt(tr, it, jwt_in, p);
        bad = !jwt;
    }
    if (!bad && in_in) {
        snprintf(p, sizeof p, "%s.introspection", path);
        in = oauth_introspection(tr, it, in_in, p);
        bad = !in;
    }
    if (bad) {
        json_decref(from);
        json_decref(scopes);
        json_decref(jwt);
        json_decref(in);
        return NULL;
    }
    snprintf(p, sizeof p, "%s.revocationConfigMapName", path);
    json_t *revoked = revocation ? oauth_revoked(tr, it, revocation, p) : json_array();
    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "type", "oauthV2", "tokenFrom", from, "jwt",
                     jwt ? jwt : json_null(), "introspection", in ? in : json_null(), "requiredScopes", scopes,
                     "revoked", revoked);
}
