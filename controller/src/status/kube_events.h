/* kube_events.h — Kubernetes Events (core/v1) for problems a user must fix, e.g. an ApiProxy whose
 * basePath conflicts or whose Service is missing, so `kubectl describe` and `kubectl get events` show them.
 *
 * Owns: building and POSTing Warning events about an object, deduplication (the same object, reason and
 * message is reported once per TG_KUBE_EVENT_DEDUP_MS), and a bound on events in flight and queued, so a
 * broken cluster cannot make the controller pile up requests. Best effort: failures are logged once.
 */
#ifndef TG_KUBE_EVENTS_H
#define TG_KUBE_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#define TG_KUBE_EVENT_DEDUP_MS (10u * 60u * 1000u)
#define TG_KUBE_EVENTS_MAX_INFLIGHT 8

struct tg_kube_client;
struct tg_kube_events;

/* component: "tollgate-controller"; instance: this replica's identity. Both copied. */
struct tg_kube_events *tg_kube_events_new(struct tg_kube_client *c, const char *component, const char *instance);
void tg_kube_events_free(struct tg_kube_events *e);

/* Reports a Warning about obj (an object as stored: apiVersion, kind, metadata.{name,namespace,uid}).
 * reason: CamelCase; message: free text (cut at 1 KiB). */
void tg_kube_events_warn(struct tg_kube_events *e, const json_t *obj, const char *reason, const char *message);

uint64_t tg_kube_events_sent(const struct tg_kube_events *e);

/* The Event object the API gets (pure; for tests). Returns a new reference or NULL when obj lacks names. */
json_t *tg_kube_event_build(const json_t *obj, const char *reason, const char *message, const char *component,
                            const char *instance, const char *now_rfc3339);

#endif
