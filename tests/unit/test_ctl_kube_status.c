/* test_ctl_kube_status.c — the pure builders behind status writes, Events and Lease times: conditions with
 * observedGeneration, lastTransitionTime kept while a status holds, change detection (so unchanged status is
 * never written), Programmed True/Pending/Invalid, endpoints and hostnames; the Event object; MicroTime. */
#include "status/kube_events.h"
#include "status/kube_lease.h"
#include "status/kube_status.h"
#include "tg_test.h"

#include <string.h>

static const char *cond_field(json_t *status, const char *type, const char *field)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return json_string_value(json_object_get(c, field));
    }
    return NULL;
}

static void test_build_and_change_detection(void)
{
    json_t *hosts = json_pack("[s]", "api.example.com");
    struct tg_object_status st = {.kind = TG_KIND_API_PROXY, .namespace_ = "apis", .name = "chat",
                                  .generation = 3, .in_snapshot = 1,
                                  .accepted = {1, "Accepted", "ok"},
                                  .resolved_refs = {0, "BackendNotFound", "Service apis/chat-backend not found"},
                                  .endpoints = 0, .hostnames = hosts};
    int changed = 0;
    json_t *s1 = tg_kube_status_build(&st, 0, NULL, "2026-01-01T00:00:00Z", &changed);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_STR(cond_field(s1, "Accepted", "status"), "True");
    CHECK_EQ_STR(cond_field(s1, "ResolvedRefs", "status"), "False");
    CHECK_EQ_STR(cond_field(s1, "ResolvedRefs", "reason"), "BackendNotFound");
    CHECK_EQ_STR(cond_field(s1, "Programmed", "status"), "False");
    CHECK_EQ_STR(cond_field(s1, "Programmed", "reason"), "Pending");
    CHECK_EQ_STR(cond_field(s1, "Programmed", "lastTransitionTime"), "2026-01-01T00:00:00Z");
    json_t *c0 = json_array_get(json_object_get(s1, "conditions"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(c0, "observedGeneration")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(s1, "endpoints")), 0);
    CHECK(json_equal(json_object_get(s1, "hostnames"), hosts));

    /* The same input against what was written: nothing to do, times kept. */
    json_t *s2 = tg_kube_status_build(&st, 0, s1, "2026-01-01T00:05:00Z", &changed);
    CHECK_EQ_INT(changed, 0);
    CHECK_EQ_STR(cond_field(s2, "Accepted", "lastTransitionTime"), "2026-01-01T00:00:00Z");

    /* Acknowledged: Programmed flips (new time), the others keep theirs. */
    json_t *s3 = tg_kube_status_build(&st, 1, s2, "2026-01-01T00:06:00Z", &changed);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_STR(cond_field(s3, "Programmed", "status"), "True");
    CHECK_EQ_STR(cond_field(s3, "Programmed", "reason"), "Programmed");
    CHECK_EQ_STR(cond_field(s3, "Programmed", "lastTransitionTime"), "2026-01-01T00:06:00Z");
    CHECK_EQ_STR(cond_field(s3, "ResolvedRefs", "lastTransitionTime"), "2026-01-01T00:00:00Z");

    /* Same status, new message or generation: a change, but the transition time stays. */
    st.resolved_refs.message = "Service apis/other not found";
    json_t *s4 = tg_kube_status_build(&st, 1, s3, "2026-01-01T00:07:00Z", &changed);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_STR(cond_field(s4, "ResolvedRefs", "lastTransitionTime"), "2026-01-01T00:00:00Z");
    st.generation = 4;
    json_t *s5 = tg_kube_status_build(&st, 1, s4, "2026-01-01T00:08:00Z", &changed);
    CHECK_EQ_INT(changed, 1);

    /* Endpoints and hostnames count as changes. */
    st.endpoints = 2;
    json_t *s6 = tg_kube_status_build(&st, 1, s5, "2026-01-01T00:09:00Z", &changed);
    CHECK_EQ_INT(changed, 1);
    json_t *s7 = tg_kube_status_build(&st, 1, s6, "2026-01-01T00:09:00Z", &changed);
    CHECK_EQ_INT(changed, 0);

    /* Not accepted: Programmed Invalid; a bad reason is replaced by a valid one. */
    st.accepted = (struct tg_condition){0, "Conflicted", "basePath /chat is claimed by apis/older"};
    st.resolved_refs = (struct tg_condition){1, "bad reason!", ""};
    json_t *s8 = tg_kube_status_build(&st, -1, s7, "2026-01-01T00:10:00Z", &changed);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_STR(cond_field(s8, "Accepted", "reason"), "Conflicted");
    CHECK_EQ_STR(cond_field(s8, "ResolvedRefs", "reason"), "ResolvedRefs");
    CHECK_EQ_STR(cond_field(s8, "Programmed", "reason"), "Invalid");

    /* Foreign conditions are replaced (the controller owns status). */
    json_t *foreign = json_deep_copy(s8);
    json_array_append_new(json_object_get(foreign, "conditions"), json_pack("{s:s}", "type", "Other"));
    json_t *s9 = tg_kube_status_build(&st, -1, foreign, "2026-01-01T00:11:00Z", &changed);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(json_array_size(json_object_get(s9, "conditions")), 3);

    /* A group has no endpoints. */
    struct tg_object_status g = {.kind = TG_KIND_ENVIRONMENT_GROUP, .name = "public", .generation = 1,
                                 .in_snapshot = 1, .accepted = {1, "Accepted", ""},
                                 .resolved_refs = {1, "ResolvedRefs", ""}, .endpoints = -1};
    json_t *gs = tg_kube_status_build(&g, 1, NULL, "2026-01-01T00:00:00Z", &changed);
    CHECK(json_object_get(gs, "endpoints") == NULL);
    json_t *all[] = {s1, s2, s3, s4, s5, s6, s7, s8, foreign, s9, gs, hosts};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        json_decref(all[i]);
}

static void test_event(void)
{
    json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "tollgate.dev/v1alpha1", "kind",
                            "ApiProxy", "metadata", "name", "chat", "namespace", "apis", "uid", "u-1",
                            "resourceVersion", "42");
    json_t *ev = tg_kube_event_build(obj, "Conflicted", "basePath taken", "tollgate-controller", "pod-1",
                                     "2026-01-01T00:00:00Z");
    CHECK(ev != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(ev, "type")), "Warning");
    CHECK_EQ_STR(json_string_value(json_object_get(ev, "reason")), "Conflicted");
    json_t *inv = json_object_get(ev, "involvedObject");
    CHECK_EQ_STR(json_string_value(json_object_get(inv, "kind")), "ApiProxy");
    CHECK_EQ_STR(json_string_value(json_object_get(inv, "uid")), "u-1");
    CHECK_EQ_STR(json_string_value(json_object_get(inv, "namespace")), "apis");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(ev, "metadata"), "generateName")), "chat.");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(ev, "metadata"), "namespace")), "apis");
    json_decref(ev);
    json_t *anon = json_pack("{s:{}}", "metadata");
    CHECK(tg_kube_event_build(anon, "R", "m", "c", "i", "t") == NULL);
    json_decref(anon);
    json_decref(obj);
}

static void test_micro_time(void)
{
    char out[40];
    tg_kube_micro_time(1767225600000042ull, out, sizeof out); /* 2026-01-01T00:00:00.000042Z */
    CHECK_EQ_STR(out, "2026-01-01T00:00:00.000042Z");
}

int main(void)
{
    test_build_and_change_detection();
    test_event();
    test_micro_time();
    TG_TEST_MAIN_END();
}
