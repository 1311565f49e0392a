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
#include "translate_policy.h"

#include "json_util.h"
#include "validate.h"

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

static void hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
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

static int value_in(const json_t *values, const char *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(values, i, x) {
        if (strcmp(json_string_value(x), v) == 0)
            return 1;
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
        int ok = strcmp(op, "In") == 0       ? have && value_in(values, have)
                 : strcmp(op, "NotIn") == 0  ? !have || !value_in(values, have)
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
    hex(digest, sizeof digest, digest_hex);

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
    if (tg__no_unknown_fields(tr, it, settings, path, vak_fields) < 0) {
        it->st->accepted_reason = TG_REASON_INVALID_POLICY;
        return NULL;
    }
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
        it->st->accepted_reason = TG_REASON_INVALID_POLICY;
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
