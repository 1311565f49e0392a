/* status_writer.h — the status layer's owner with --source kube: what the cluster is told about its objects.
 *
 * Owns, for one API client: the conditions writer (kube_status.h), the Events it posts (kube_events.h) and, with
 * --leader-elect, the Lease (kube_lease.h) that decides whether this replica writes at all (without it, it always
 * does); this replica's identity (holderIdentity, Event source instance); and their metrics (leader state,
 * status writes, Events).
 *
 * Input comes from the process layer, never from the source by name: what each translation made of every object
 * and the snapshot version it shipped in (report), the version the data plane acknowledged (acknowledged), and
 * objects whose status alone changed (recheck). Programmed follows from the last two.
 */
#ifndef TG_STATUS_WRITER_H
#define TG_STATUS_WRITER_H

#include "model/store.h"
#include "translate/translation.h"

#include <stddef.h>
#include <stdint.h>

struct tg_kube_client;

struct tg_status_writer_opts {
    int leader_elect;             /* --leader-elect; without it this replica always writes status */
    const char *lease_name;       /* NULL = "tollgate-controller" */
    const char *lease_namespace;  /* NULL = default_namespace */
    const char *default_namespace;/* --namespace, else the kubeconfig's / pod's namespace; NULL = "default" */
    uint32_t lease_duration_ms;   /* 0 = 15 s */
    uint32_t renew_deadline_ms;   /* 0 = 10 s */
    uint32_t retry_period_ms;     /* 0 = 2 s */
    const char *identity;         /* NULL = hostname + "_" + random + "_" + pid */
};

struct tg_status_writer;

/* Builds everything; nothing is sent before start. NULL with err filled on bad lease settings or no memory. */
struct tg_status_writer *tg_status_writer_new(struct tg_kube_client *c, struct tg_store *store,
                                              const struct tg_status_writer_opts *o, char *err, size_t errlen);
/* Starts the Lease (or starts writing at once without leader election). */
void tg_status_writer_start(struct tg_status_writer *w);
/* Stops writing; releases the Lease when held (one short request, the loop runs for at most 1 s). */
void tg_status_writer_free(struct tg_status_writer *w);

/* Translation t became snapshot `version` (copied). */
void tg_status_writer_report(struct tg_status_writer *w, uint64_t version, const struct tg_translation *t);
/* The data plane acknowledged `version`. */
void tg_status_writer_acknowledged(struct tg_status_writer *w, uint64_t version);
/* Only the status of kind ns/name changed in the store (see source.h status_seen). */
void tg_status_writer_recheck(struct tg_status_writer *w, enum tg_kind kind, const char *ns, const char *name);

/* Appends Prometheus text (leader, status writes, Events); returns bytes written, cut at a line boundary. */
size_t tg_status_writer_metrics(const struct tg_status_writer *w, char *out, size_t outlen);

#endif
