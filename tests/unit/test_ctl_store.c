/* test_ctl_store.c — the controller's object cache: keys, default namespace, ordering, revisions, ownership, and
 * which changes move the revision (what translation reads) and which only refresh the stored copy (a status write
 * coming back from the watch). */
#include "model/store.h"
#include "tg_test.h"

static json_t *obj(const char *ns, const char *name, int value)
{
    json_t *meta = json_pack("{s:s}", "name", name);
    if (ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    return json_pack("{s:s,s:s,s:o,s:{s:i}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", meta, "data",
                     "v", value);
}

/* An ApiProxy as the API server returns it: generation, resourceVersion, managedFields, spec, status. */
static json_t *proxy(int generation, const char *rv, const char *base_path, int endpoints)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:I,s:s,s:[{s:s}]},s:{s:s,s:[s]},s:{s:i}}", "apiVersion",
                     "tollgate.dev/v1alpha1", "kind", "ApiProxy", "metadata", "name", "chat", "namespace", "apis",
                     "generation", (json_int_t)generation, "resourceVersion", rv, "managedFields", "manager",
                     "kubectl", "spec", "basePath", base_path, "environments", "prod", "status", "endpoints",
                     endpoints);
}

static void test_status_only_changes_do_not_move_the_revision(void)
{
    struct tg_store *s = tg_store_new();
    struct tg_object_origin kube = {"kube", 0};
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_API_PROXY, proxy(1, "100", "/chat", 0), &kube), TG_STORE_CHANGED);
    uint64_t r = tg_store_revision(s);
    /* our status PATCH comes back: new status, resourceVersion and managedFields; same generation and spec */
    json_t *echo = proxy(1, "101", "/chat", 3);
    json_object_set_new(json_object_get(echo, "metadata"), "managedFields",
                        json_pack("[{s:s},{s:s}]", "manager", "kubectl", "manager", "tollgate-controller"));
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_API_PROXY, echo, &kube), TG_STORE_REFRESHED);
    CHECK_EQ_INT(tg_store_revision(s), r);
    /* the stored copy is the new one: the status writer compares against what the object shows now */
    const struct tg_store_object *o = tg_store_get(s, TG_KIND_API_PROXY, "apis", "chat");
    CHECK(o && json_integer_value(json_object_get(json_object_get(o->obj, "status"), "endpoints")) == 3);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(o->obj, "metadata"), "resourceVersion")), "101");
    /* the identical object again: unchanged */
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_API_PROXY, json_deep_copy(o->obj), &kube), TG_STORE_UNCHANGED);
    /* a spec change (with its new generation) moves the revision */
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_API_PROXY, proxy(2, "102", "/chat2", 3), &kube), TG_STORE_CHANGED);
    CHECK(tg_store_revision(s) > r);
    r = tg_store_revision(s);
    /* a generation change alone counts too (observedGeneration is written from it) */
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_API_PROXY, proxy(3, "103", "/chat2", 3), &kube), TG_STORE_CHANGED);
    CHECK(tg_store_revision(s) > r);
    r = tg_store_revision(s);
    /* a label (metadata beside resourceVersion/managedFields) counts: selectors read labels */
    json_t *labelled = proxy(3, "104", "/chat2", 3);
    json_object_set_new(json_object_get(labelled, "metadata"), "labels", json_pack("{s:s}", "app", "chat"));
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_API_PROXY, labelled, &kube), TG_STORE_CHANGED);
    CHECK(tg_store_revision(s) > r);
    r = tg_store_revision(s);
    /* a Secret whose data changes moves it; one whose resourceVersion alone changes does not */
    json_t *sec = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "Secret", "metadata",
                            "name", "key", "resourceVersion", "1", "data", "key", "YQ==");
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_SECRET, sec, &kube), TG_STORE_CHANGED);
    r = tg_store_revision(s);
    sec = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "Secret", "metadata", "name", "key",
                    "resourceVersion", "2", "data", "key", "YQ==");
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_SECRET, sec, &kube), TG_STORE_REFRESHED);
    CHECK_EQ_INT(tg_store_revision(s), r);
    sec = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "Secret", "metadata", "name", "key",
                    "resourceVersion", "3", "data", "key", "Yg==");
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_SECRET, sec, &kube), TG_STORE_CHANGED);
    CHECK(tg_store_revision(s) > r);
    tg_store_free(s);
}

int main(void)
{
    test_status_only_changes_do_not_move_the_revision();
    CHECK_EQ_INT(tg_kind_from_manifest("tollgate.dev/v1alpha1", "ApiProxy"), TG_KIND_API_PROXY);
    CHECK_EQ_INT(tg_kind_from_manifest("tollgate.dev/v1alpha1", "EnvironmentGroup"), TG_KIND_ENVIRONMENT_GROUP);
    CHECK_EQ_INT(tg_kind_from_manifest("discovery.k8s.io/v1", "EndpointSlice"), TG_KIND_ENDPOINT_SLICE);
    CHECK_EQ_INT(tg_kind_from_manifest("v1", "Secret"), TG_KIND_SECRET);
    CHECK_EQ_INT(tg_kind_from_manifest("v1", "Pod"), -1);
    CHECK_EQ_INT(tg_kind_from_manifest("apps/v1", "Service"), -1);
    CHECK_EQ_INT(tg_kind_from_manifest(NULL, "Service"), -1);
    CHECK_EQ_STR(tg_kind_name(TG_KIND_ENDPOINT_SLICE), "EndpointSlice");

    struct tg_store *s = tg_store_new();
    struct tg_object_origin o1 = {"a.yaml", 1}, o2 = {"b.yaml", 3};
    uint64_t r0 = tg_store_revision(s);
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, obj(NULL, "x", 1), &o1), 1);
    CHECK(tg_store_revision(s) > r0);
    /* missing namespace is "default", written into the object */
    const struct tg_store_object *got = tg_store_get(s, TG_KIND_CONFIG_MAP, "default", "x");
    CHECK(got != NULL);
    if (got) {
        CHECK_EQ_STR(got->namespace_, "default");
        CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(got->obj, "metadata"), "namespace")),
                     "default");
        CHECK_EQ_STR(got->origin.source, "a.yaml");
    }
    CHECK(tg_store_get(s, TG_KIND_CONFIG_MAP, NULL, "x") == got);
    CHECK(tg_store_get(s, TG_KIND_SECRET, "default", "x") == NULL);

    /* identical put: no change, no revision bump, origin refreshed */
    uint64_t r1 = tg_store_revision(s);
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, obj("default", "x", 1), &o2), 0);
    CHECK_EQ_INT(tg_store_revision(s), r1);
    got = tg_store_get(s, TG_KIND_CONFIG_MAP, "default", "x");
    CHECK_EQ_STR(got->origin.source, "b.yaml");
    /* different value: replaced */
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, obj("default", "x", 2), &o1), 1);
    CHECK(tg_store_revision(s) > r1);
    got = tg_store_get(s, TG_KIND_CONFIG_MAP, "default", "x");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(got->obj, "data"), "v")), 2);

    /* invalid objects */
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, json_pack("{s:{}}", "metadata"), &o1), -1);
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, json_pack("{s:{s:s}}", "metadata", "name", ""), &o1), -1);
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, json_pack("{s:{s:s,s:i}}", "metadata", "name", "a",
                                                               "namespace", 5), &o1), -1);
    CHECK_EQ_INT(tg_store_put(s, TG_KIND_CONFIG_MAP, json_string("x"), &o1), -1);

    /* ordering by namespace then name, whatever the insertion order */
    tg_store_put(s, TG_KIND_CONFIG_MAP, obj("b", "a", 1), NULL);
    tg_store_put(s, TG_KIND_CONFIG_MAP, obj("a", "z", 1), NULL);
    tg_store_put(s, TG_KIND_CONFIG_MAP, obj("a", "b", 1), NULL);
    size_t n = 0;
    const struct tg_store_object *const *list = tg_store_list(s, TG_KIND_CONFIG_MAP, &n);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(tg_store_count(s, TG_KIND_CONFIG_MAP), 4);
    if (n == 4) {
        CHECK_EQ_STR(list[0]->name, "b");
        CHECK_EQ_STR(list[1]->name, "z");
        CHECK_EQ_STR(list[2]->namespace_, "b");
        CHECK_EQ_STR(list[3]->namespace_, "default");
    }

    /* delete and clear */
    CHECK_EQ_INT(tg_store_delete(s, TG_KIND_CONFIG_MAP, "a", "z"), 1);
    CHECK_EQ_INT(tg_store_delete(s, TG_KIND_CONFIG_MAP, "a", "z"), 0);
    CHECK_EQ_INT(tg_store_count(s, TG_KIND_CONFIG_MAP), 3);
    uint64_t r2 = tg_store_revision(s);
    tg_store_clear_kind(s, TG_KIND_SECRET); /* empty: no change */
    CHECK_EQ_INT(tg_store_revision(s), r2);
    tg_store_clear_kind(s, TG_KIND_CONFIG_MAP);
    CHECK(tg_store_revision(s) > r2);
    CHECK_EQ_INT(tg_store_count(s, TG_KIND_CONFIG_MAP), 0);

    /* many objects stay sorted and findable */
    char name[32];
    for (int i = 999; i >= 0; i--) {
        snprintf(name, sizeof name, "obj-%04d", i);
        tg_store_put(s, TG_KIND_SERVICE, obj("ns", name, i), NULL);
    }
    list = tg_store_list(s, TG_KIND_SERVICE, &n);
    CHECK_EQ_INT(n, 1000);
    int sorted = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(list[i - 1]->name, list[i]->name) >= 0)
            sorted = 0;
    CHECK(sorted);
    CHECK(tg_store_get(s, TG_KIND_SERVICE, "ns", "obj-0500") != NULL);
    tg_store_free(s);
    TG_TEST_MAIN_END();
}
