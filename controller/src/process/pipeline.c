/* pipeline.c — see pipeline.h. */
#include "process/pipeline.h"

#include "clock.h"
#include "log.h"
#include "translate/translate.h"

#include <stdio.h>
#include <string.h>

void tg_pipeline_init(struct tg_pipeline *p, struct tg_store *store, struct tg_pusher *pusher,
                      const struct tg_status_sink *status, int log_diags)
{
    memset(p, 0, sizeof *p);
    p->store = store;
    p->pusher = pusher;
    if (status)
        p->status = *status;
    p->log_diags = log_diags;
    tg_tls_last_good_init(&p->tls_memory);
}

void tg_pipeline_fini(struct tg_pipeline *p)
{
    tg_translation_free(&p->current);
    tg_tls_last_good_fini(&p->tls_memory);
}

static int same_diags(const struct tg_diags *a, const struct tg_diags *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i].severity != b->items[i].severity || strcmp(a->items[i].text, b->items[i].text) != 0)
            return 0;
    return 1;
}

int tg_pipeline_served(const struct tg_pipeline *p)
{
    return p->translated && p->ready && strcmp(p->acked_hash, p->current_hash) == 0;
}

int tg_pipeline_step(struct tg_pipeline *p)
{
    if (p->translated && tg_store_revision(p->store) == p->translated_revision)
        return 0;
    struct tg_translation t;
    uint64_t t0 = tg_now_ns();
    if (tg_translate_with(p->store, p->tls_defaults, &t) < 0) {
        p->translation_failures++;
        tg_error("translation ran out of memory; keeping the previous snapshot");
        return -1;
    }
    tg_tls_last_good_apply(&p->tls_memory, &t, (int64_t)(tg_wall_ms() / 1000));
    char hash[TG_SNAPSHOT_HASH_HEX];
    if (tg_snapshot_hash(t.snapshot, hash) < 0) {
        p->translation_failures++;
        tg_translation_free(&t);
        tg_error("cannot hash the snapshot; keeping the previous one");
        return -1;
    }
    if (p->log_diags && !same_diags(&p->current.diags, &t.diags))
        tg_diags_log(&t.diags); /* only when they changed: a watch event elsewhere must not repeat them all */
    tg_translation_free(&p->current);
    p->current = t;
    memcpy(p->current_hash, hash, sizeof hash);
    p->translated = 1;
    p->translated_revision = tg_store_revision(p->store);
    p->translations++;
    tg_histogram_observe_ns(&p->translate_duration, tg_now_ns() - t0);
    tg_info("translated store revision %llu: %zu group(s), %zu proxy(ies), %zu error(s), %zu warning(s); hash %.12s",
            (unsigned long long)p->translated_revision, json_array_size(json_object_get(t.snapshot, "groups")),
            json_array_size(json_object_get(t.snapshot, "proxies")), tg_diags_count(&t.diags, TG_DIAG_ERROR),
            tg_diags_count(&t.diags, TG_DIAG_WARNING), hash);
    if (tg_pipeline_served(p) && p->status.report)
        p->status.report(p->status.arg, p->acked_version, &p->current); /* same content: already served */
    if (p->pusher)
        tg_pusher_set(p->pusher, p->current.snapshot, p->current_hash);
    return 1;
}

void tg_pipeline_pushing(struct tg_pipeline *p, uint64_t version, const char *hash)
{
    if (p->translated && strcmp(hash, p->current_hash) == 0 && p->status.report)
        p->status.report(p->status.arg, version, &p->current);
}

void tg_pipeline_acked(struct tg_pipeline *p, uint64_t version, const char *hash)
{
    p->ready = 1;
    p->acked_version = version;
    snprintf(p->acked_hash, sizeof p->acked_hash, "%s", hash);
    if (p->status.acknowledged)
        p->status.acknowledged(p->status.arg, version);
}
