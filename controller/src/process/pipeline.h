/* pipeline.h — the controller's step, one way: store → translate → hash → publisher, and status from the
 * translation and the version the data plane acknowledged (Kong's ingress controller: `KongClient.Update`).
 *
 * Owns: the current translation and its content hash, the store revision it was made from (nothing is translated
 * again until the store moves in what translation reads), the translations counter, the last acknowledged
 * version and hash, and the routing of status: a translation is reported to the status sink with the version it
 * ships in (when the publisher starts pushing it, or at once when the data plane already serves that content),
 * and every acknowledgement is passed on, so Programmed follows the data plane.
 *
 * No loop, timer or I/O of its own: the process layer calls tg_pipeline_step when the source says the store
 * changed, and routes the publisher's events (push.h) to tg_pipeline_pushing / tg_pipeline_acked.
 */
#ifndef TG_PIPELINE_H
#define TG_PIPELINE_H

#include "histogram.h"
#include "model/store.h"
#include "process/tls_last_good.h"
#include "publish/push.h"
#include "publish/snapshot_document.h"
#include "translate/translation.h"

#include <stdint.h>

/* Where status goes (status/status_writer.h with --source kube); both NULL when nothing writes status. */
struct tg_status_sink {
    void (*report)(void *arg, uint64_t version, const struct tg_translation *t);
    void (*acknowledged)(void *arg, uint64_t version);
    void *arg;
};

struct tg_pipeline {
    struct tg_store *store;
    struct tg_pusher *pusher;           /* NULL: nothing is pushed (--print) */
    struct tg_status_sink status;
    int log_diags;                      /* log problems when they change (the long-running controller) */
    const struct tg_tls_defaults *tls_defaults; /* --tls-default-* (NULL: none); set after init */

    int translated;                     /* at least one translation done */
    uint64_t translated_revision;       /* store revision of `current` */
    uint64_t translations;              /* tollgate_controller_translations_total */
    uint64_t translation_failures;      /* tollgate_controller_translation_failures_total (out of memory, hash) */
    struct tg_histogram translate_duration; /* each translation + hash (the loop is its one writer) */
    struct tg_translation current;
    struct tg_tls_last_good tls_memory; /* last usable certificate of each group TLS Secret */
    char current_hash[TG_SNAPSHOT_HASH_HEX];

    int ready;                          /* a snapshot was acknowledged */
    uint64_t acked_version;
    char acked_hash[TG_SNAPSHOT_HASH_HEX];
};

/* pusher may be set later (before the first step); status may be NULL. */
void tg_pipeline_init(struct tg_pipeline *p, struct tg_store *store, struct tg_pusher *pusher,
                      const struct tg_status_sink *status, int log_diags);
void tg_pipeline_fini(struct tg_pipeline *p);

/* Translates when the store moved since the last translation, hashes, and hands the content to the publisher
 * (which pushes only when the data plane does not have that hash). Returns 1 when it translated, 0 when the store
 * had not moved, -1 when translation or hashing failed (the previous translation stays current). */
int tg_pipeline_step(struct tg_pipeline *p);

/* The publisher's events: a push of `hash` as `version` is being sent; the data plane applied it. */
void tg_pipeline_pushing(struct tg_pipeline *p, uint64_t version, const char *hash);
void tg_pipeline_acked(struct tg_pipeline *p, uint64_t version, const char *hash);

/* 1 when the data plane acknowledged the current translation's content. */
int tg_pipeline_served(const struct tg_pipeline *p);

#endif
