/* test_ctl_translate_policy_auth.c — what the golden cases cannot show about the authentication policies'
 * translation: the status conditions (Accepted=False/InvalidPolicy for bad settings, ResolvedRefs=False with
 * SecretNotFound for missing Secrets/ConfigMaps while the proxy stays served), that clear API keys never reach
 * the snapshot, that expiresAt becomes epoch milliseconds, and that a ConfigMap change shows up in the next
 * translation (revocations). */
#include "source/manifest.h"
#include "model/store.h"
#include "translate/translate.h"
#include "translate/translate_policy.h"
#include "tg_test.h"

#include <stdlib.h>
#include <string.h>

static struct tg_store *store_of(const char *yaml)
{
    struct tg_store *s = tg_store_new();
    struct tg_manifest_set set = {0};
    struct tg_diags d;
    tg_diags_init(&d);
    if (tg_manifest_parse(yaml, strlen(yaml), "t.yaml", 0, &set, &d) == 0) {
        for (size_t i = 0; i < set.count; i++) {
            struct tg_object_origin o = {"t.yaml", set.items[i].document};
            tg_store_put(s, set.items[i].kind, json_incref(set.items[i].obj), &o);
        }
    }
    CHECK_EQ_INT(d.count, 0);
    tg_manifest_set_free(&set);
    tg_diags_free(&d);
    return s;
}

/* Appends one ApiProxy document (with a leading "---") to yaml. */
static void add_proxy(char *yaml, size_t size, const char *name, const char *policy)
{
    size_t used = strlen(yaml);
    snprintf(yaml + used, size - used,
             "---\napiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {name: %s, namespace: apis}\n"
             "spec:\n  environments: [prod]\n  basePath: /%s\n  target: {url: \"http://10.0.0.1:80\"}\n"
             "  policies:\n    - %s\n",
             name, name, policy);
}

static void add_text(char *yaml, size_t size, const char *text)
{
    size_t used = strlen(yaml);
    snprintf(yaml + used, size - used, "%s", text);
}

static const json_t *policy_of(const struct tg_translation *t, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(t->snapshot, "proxies"), i, p) {
        if (strcmp(json_string_value(json_object_get(p, "id")), id) == 0)
            return json_array_get(json_object_get(p, "policies"), 0);
    }
    return NULL;
}

static void test_invalid_policy_reason(void)
{
    char yaml[8192] = "";
    add_proxy(yaml, sizeof yaml, "bad", "oauthV2: {jwt: {issuer: i, jwksUrl: \"ftp://x\"}}");
    add_proxy(yaml, sizeof yaml, "good", "verifyApiKey: {secretSelector: {}}");
    add_proxy(yaml, sizeof yaml, "unknown", "rateLimit: {rate: 1}");
    struct tg_store *s = store_of(yaml);
    struct tg_translation t = {0};
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    const struct tg_object_status *st = tg_translation_status(&t, TG_KIND_API_PROXY, "apis", "bad");
    CHECK(st && !st->accepted.status);
    CHECK(st && strcmp(st->accepted.reason, TG_REASON_INVALID_POLICY) == 0);
    CHECK(st && strstr(st->accepted.message, "jwksUrl") != NULL);
    CHECK(st && !st->in_snapshot);
    CHECK(policy_of(&t, "apis/bad") == NULL);
    /* the other proxy is served; its selector selects nothing: a warning, ResolvedRefs False, SecretNotFound */
    st = tg_translation_status(&t, TG_KIND_API_PROXY, "apis", "good");
    CHECK(st && st->accepted.status && !st->resolved_refs.status);
    CHECK(st && strcmp(st->resolved_refs.reason, TG_REASON_SECRET_NOT_FOUND) == 0);
    CHECK(policy_of(&t, "apis/good") != NULL);
    /* a policy name nobody translates: refused here, so the data plane never refuses the whole snapshot */
    st = tg_translation_status(&t, TG_KIND_API_PROXY, "apis", "unknown");
    CHECK(st && !st->accepted.status && strcmp(st->accepted.reason, TG_REASON_INVALID_POLICY) == 0);
    CHECK(st && strstr(st->accepted.message, "unknown policy") != NULL);
    tg_translation_free(&t);
    tg_store_free(s);
}

static void test_missing_refs_keep_the_proxy(void)
{
    char yaml[8192] = "";
    add_proxy(yaml, sizeof yaml, "refs",
              "oauthV2: {jwt: {issuer: i, jwksSecretName: nope}, revocationConfigMapName: gone, "
              "introspection: {url: \"https://idp.test/i\", clientSecretName: missing}}");
    struct tg_store *s = store_of(yaml);
    struct tg_translation t = {0};
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    const struct tg_object_status *st = tg_translation_status(&t, TG_KIND_API_PROXY, "apis", "refs");
    CHECK(st && st->accepted.status && !st->resolved_refs.status && st->in_snapshot);
    CHECK(st && strcmp(st->resolved_refs.reason, TG_REASON_SECRET_NOT_FOUND) == 0);
    const json_t *p = policy_of(&t, "apis/refs");
    CHECK(p != NULL);
    /* fail closed: no key, no credentials */
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(json_object_get(p, "jwt"), "jwks"), "keys")), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(p, "introspection"), "clientSecret")), "");
    tg_translation_free(&t);
    tg_store_free(s);
}

static void test_no_clear_keys_and_expiry(void)
{
    char yaml[8192] = "";
    add_proxy(yaml, sizeof yaml, "keys", "verifyApiKey: {secretSelector: {matchLabels: {tollgate.dev/app: a}}}");
    add_text(yaml, sizeof yaml,
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: k, namespace: apis, labels: {tollgate.dev/app: a}}\n"
             "type: tollgate.dev/api-key\nstringData: {key: \"very-secret-key-123\", expiresAt: \"2030-01-01T00:00:00.250+01:00\"}\n");
    struct tg_store *s = store_of(yaml);
    struct tg_translation t = {0};
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    char *dump = json_dumps(t.snapshot, JSON_COMPACT);
    CHECK(dump && strstr(dump, "very-secret-key-123") == NULL);
    free(dump);
    const json_t *k = json_array_get(json_object_get(policy_of(&t, "apis/keys"), "keys"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(k, "expiresAtMs")), 1893452400250LL);
    CHECK_EQ_STR(json_string_value(json_object_get(k, "id")), "apis/k");
    CHECK_EQ_STR(json_string_value(json_object_get(k, "app")), "a");
    tg_translation_free(&t);
    tg_store_free(s);
}

static void test_revocations_follow_the_configmap(void)
{
    char yaml[8192] = "";
    add_proxy(yaml, sizeof yaml, "rev", "oauthV2: {jwt: {issuer: i, jwksConfigMapName: jwks}, revocationConfigMapName: rev}");
    add_text(yaml, sizeof yaml,
             "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: jwks, namespace: apis}\ndata: {jwks.json: '{\"keys\":[]}'}\n"
             "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: rev, namespace: apis}\ndata: {b: x, a: y}\n");
    struct tg_store *s = store_of(yaml);
    struct tg_translation t = {0};
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    const json_t *rev = json_object_get(policy_of(&t, "apis/rev"), "revoked");
    CHECK_EQ_INT(json_array_size(rev), 2);
    CHECK_EQ_STR(json_string_value(json_array_get(rev, 0)), "a");
    tg_translation_free(&t);
    /* the ConfigMap gains a key: the next translation carries it */
    const struct tg_store_object *cm = tg_store_get(s, TG_KIND_CONFIG_MAP, "apis", "rev");
    json_t *copy = json_deep_copy(cm->obj);
    json_object_set_new(json_object_get(copy, "data"), "c", json_string("z"));
    struct tg_object_origin o = {"t.yaml", 3};
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, copy, &o), 1);
    memset(&t, 0, sizeof t);
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(policy_of(&t, "apis/rev"), "revoked")), 3);
    tg_translation_free(&t);
    tg_store_free(s);
}

int main(void)
{
    test_invalid_policy_reason();
    test_missing_refs_keep_the_proxy();
    test_no_clear_keys_and_expiry();
    test_revocations_follow_the_configmap();
    TG_TEST_MAIN_END();
}
