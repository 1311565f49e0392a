/* kube_events.c — Warning Events about objects; see kube_events.h. */
#include "status/kube_events.h"

#include "clock.h"
#include "kube/kube_client.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUEUED 256
#define MAX_MESSAGE 1024

struct pending_event {
    char ns[256];
    char *body;
    struct pending_event *next;
};

struct tg_kube_events;
struct slot_arg {
    struct tg_kube_events *e;
    int slot;
};

struct tg_kube_events {
    struct tg_kube_client *c;
    struct slot_arg slots[TG_KUBE_EVENTS_MAX_INFLIGHT];
    char *component, *instance;
    json_t *seen;                      /* "uid\nreason\nmessage" -> wall ms first reported */
    struct tg_kube_request *inflight[TG_KUBE_EVENTS_MAX_INFLIGHT];
    struct pending_event *queue, *queue_tail;
    int queued;
    uint64_t sent;
    int failing;                       /* the last POST failed (logged once per change) */
};

json_t *tg_kube_event_build(const json_t *obj, const char *reason, const char *message, const char *component,
                            const char *instance, const char *now_rfc3339)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!name)
        return NULL;
    if (!ns || !ns[0])
        ns = "default";
    char gen[300];
    snprintf(gen, sizeof gen, "%.240s.", name);
    char msg[MAX_MESSAGE + 1];
    snprintf(msg, sizeof msg, "%s", message);
    json_t *involved = json_pack("{s:s?, s:s?, s:s, s:s}", "apiVersion",
                                 json_string_value(json_object_get(obj, "apiVersion")), "kind",
                                 json_string_value(json_object_get(obj, "kind")), "name", name, "namespace", ns);
    const char *uid = json_string_value(json_object_get(md, "uid"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (uid)
        json_object_set_new(involved, "uid", json_string(uid));
    if (rv)
        json_object_set_new(involved, "resourceVersion", json_string(rv));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "generateName", gen, "namespace", ns,
                     "involvedObject", involved, "reason", reason, "message", msg, "type", "Warning", "source",
                     "component", component, "host", instance, "firstTimestamp", now_rfc3339, "lastTimestamp",
                     now_rfc3339, "count", 1, "reportingComponent", component, "reportingInstance", instance);
}

struct tg_kube_events *tg_kube_events_new(struct tg_kube_client *c, const char *component, const char *instance)
{
    struct tg_kube_events *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->c = c;
    e->component = strdup(component);
    e->instance = strdup(instance);
    e->seen = json_object();
    if (!e->component || !e->instance || !e->seen) {
        tg_kube_events_free(e);
        return NULL;
    }
    return e;
}

void tg_kube_events_free(struct tg_kube_events *e)
{
    if (!e)
        return;
    for (int i = 0; i < TG_KUBE_EVENTS_MAX_INFLIGHT; i++)
        tg_kube_request_cancel(e->inflight[i]);
    while (e->queue) {
        struct pending_event *p = e->queue;
        e->queue = p->next;
        free(p->body);
        free(p);
    }
    json_decref(e->seen);
    free(e->component);
    free(e->instance);
    free(e);
}

static void pump(struct tg_kube_events *e);

static void on_posted(void *arg, const struct tg_kube_response *resp)
{
    struct slot_arg *sa = arg;
    struct tg_kube_events *e = sa->e;
    e->inflight[sa->slot] = NULL;
    if (resp->status == 201 || resp->status == 200) {
        e->sent++;
        if (e->failing)
            tg_info("kube: events: posting works again");
        e->failing = 0;
    } else if (!e->failing) {
        char msg[1024];
        tg_warn("kube: events: %s", tg_kube_describe_error(resp, "create", "events", msg, sizeof msg));
        e->failing = 1;
    }
    pump(e);
}

static void pump(struct tg_kube_events *e)
{
    for (int i = 0; i < TG_KUBE_EVENTS_MAX_INFLIGHT && e->queue; i++) {
        if (e->inflight[i])
            continue;
        struct pending_event *p = e->queue;
        e->queue = p->next;
        if (!e->queue)
            e->queue_tail = NULL;
        e->queued--;
        char path[512];
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", p->ns);
        e->slots[i].e = e;
        e->slots[i].slot = i;
        struct tg_kube_request_opts o = {.method = "POST", .path = path, .body = p->body,
                                         .body_len = strlen(p->body), .timeout_ms = 10000,
                                         .on_done = on_posted, .arg = &e->slots[i]};
        e->inflight[i] = tg_kube_request_start(e->c, &o);
        free(p->body);
        free(p);
    }
}

void tg_kube_events_warn(struct tg_kube_events *e, const json_t *obj, const char *reason, const char *message)
{
    if (!e)
        return;
    json_t *md = json_object_get(obj, "metadata");
    const char *uid = json_string_value(json_object_get(md, "uid"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!name)
        return;
    if (!ns || !ns[0])
        ns = "default";
    char key[2048];
    snprintf(key, sizeof key, "%.64s\n%.253s/%.253s\n%.128s\n%.1024s", uid ? uid : "", ns, name, reason, message);
    uint64_t now = tg_wall_ms();
    json_t *when = json_object_get(e->seen, key);
    if (when && now - (uint64_t)json_integer_value(when) < TG_KUBE_EVENT_DEDUP_MS)
        return;
    if (json_object_size(e->seen) > 10000) /* bound the memory of the dedup table */
        json_object_clear(e->seen);
    json_object_set_new(e->seen, key, json_integer((json_int_t)now));
    if (e->queued >= MAX_QUEUED) {
        tg_debug("kube: events: queue full; dropping %s for %s/%s", reason, ns, name);
        return;
    }
    char ts[40];
    tg_format_rfc3339(now, ts, sizeof ts);
    /* Kubernetes timestamps in Events (metav1.Time) carry seconds only. */
    char *dot = strchr(ts, '.');
    if (dot)
        memcpy(dot, "Z", 2);
    json_t *ev = tg_kube_event_build(obj, reason, message, e->component, e->instance, ts);
    char *body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    struct pending_event *p = body ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        free(body);
        return;
    }
    snprintf(p->ns, sizeof p->ns, "%s", ns);
    p->body = body;
    if (e->queue_tail)
        e->queue_tail->next = p;
    else
        e->queue = p;
    e->queue_tail = p;
    e->queued++;
    pump(e);
}

uint64_t tg_kube_events_sent(const struct tg_kube_events *e)
{
    return e ? e->sent : 0;
}
