/* test_ctl_pipeline.c — the controller step (process/pipeline.h) with its real pieces: the store, translation, the
 * content hash and the publisher (publish/push.h) pushing over a real Unix socket to the scripted data-plane peer
 * (test_ctl_dataplane_peer.h), with a status sink that records what the status layer would be told.
 *
 * Covers: a translation only when the store moved in what translation reads (a status-only change is no step);
 * a translation whose content hashes equal to what the data plane serves is not pushed again, and its status is
 * reported at once with the acknowledged version; new content is pushed with the next version, reported with the
 * version it ships in, and acknowledged; a data plane restart re-pushes the content under a new version, which is
 * reported and acknowledged again; the translations counter that /metrics exports. */
#include "log.h"
#include "process/pipeline.h"
#include "test_ctl_dataplane_peer.h"
#include "tg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the status layer was told. */
struct sink_log {
    size_t reports, acks;
    uint64_t report_version, ack_version;
    int proxy_in_snapshot;            /* of the last report: apis/chat in the snapshot */
    int64_t proxy_generation;
};

static void on_report(void *arg, uint64_t version, const struct tg_translation *t)
{
    struct sink_log *l = arg;
    l->reports++;
    l->report_version = version;
    const struct tg_object_status *st = tg_translation_status(t, TG_KIND_API_PROXY, "apis", "chat");
    l->proxy_in_snapshot = st && st->in_snapshot;
    l->proxy_generation = st ? st->generation : -1;
}

static void on_ack(void *arg, uint64_t version)
{
    struct sink_log *l = arg;
    l->acks++;
    l->ack_version = version;
}

struct bed {
    struct ev_loop *loop;
    struct dp dp;
    struct tg_store *store;
    struct tg_pipeline pipe;
    struct sink_log log;
    struct tg_pusher *pusher;
};

static void on_pushing(void *arg, uint64_t version, const char *hash)
{
    struct bed *b = arg;
    tg_pipeline_pushing(&b->pipe, version, hash);
}

static void on_acked(void *arg, uint64_t version, const char *hash)
{
    struct bed *b = arg;
    tg_pipeline_acked(&b->pipe, version, hash);
}

static void put(struct tg_store *s, enum tg_kind kind, json_t *obj, int expect)
{
    struct tg_object_origin kube = {"kube", 0};
    CHECK_EQ_INT(tg_store_put(s, kind, obj, &kube), expect);
}

static json_t *group(void)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:i},s:{s:[s],s:[s]}}", "apiVersion", "tollgate.dev/v1alpha1", "kind",
                     "EnvironmentGroup", "metadata", "name", "public", "namespace", "apis", "generation", 1, "spec",
                     "hostnames", "api.example.com", "environments", "prod");
}

static json_t *proxy(int generation, const char *base_path, const char *rv, int status_endpoints)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:i,s:s},s:{s:[s],s:s,s:{s:s}},s:{s:i}}", "apiVersion",
                     "tollgate.dev/v1alpha1", "kind", "ApiProxy", "metadata", "name", "chat", "namespace", "apis",
                     "generation", generation, "resourceVersion", rv, "spec", "environments", "prod", "basePath",
                     base_path, "target", "url", "http://127.0.0.1:9", "status", "endpoints", status_endpoints);
}

static int until_acks(struct bed *b, size_t n, uint64_t ms)
{
    uint64_t end = tg_now_ms() + ms;
    while (b->log.acks < n) {
        if (tg_now_ms() > end)
            return 0;
        ev_run(b->loop, EVRUN_ONCE);
    }
    return 1;
}

static void run_for(struct bed *b, uint64_t ms)
{
    uint64_t end = tg_now_ms() + ms;
    while (tg_now_ms() < end)
        ev_run(b->loop, EVRUN_ONCE);
}

int main(void)
{
    tg_log_set_level(TG_LOG_ERROR);
    char dir[] = "/tmp/tg-pipeline-test-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct bed b = {0};
    b.loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(b.dp.path, sizeof b.dp.path, "%s/control.sock", dir);
    snprintf(b.dp.boot, sizeof b.dp.boot, "boot-1");
    dp_listen(&b.dp, b.loop);
    b.store = tg_store_new();
    struct tg_status_sink sink = {on_report, on_ack, &b.log};
    tg_pipeline_init(&b.pipe, b.store, NULL, &sink, 0);
    struct tg_pusher_opts po = {.socket_path = b.dp.path, .poll_interval_s = 0.05, .request_timeout_s = 2.0,
                                .backoff_seed = 7};
    struct tg_pusher_events pe = {on_pushing, on_acked, NULL, &b};
    b.pusher = tg_pusher_new(b.loop, &po, &pe);
    b.pipe.pusher = b.pusher;
    tg_pusher_start(b.pusher);

    /* first translation: pushed as version 1, status reported with version 1, then acknowledged */
    put(b.store, TG_KIND_ENVIRONMENT_GROUP, group(), TG_STORE_CHANGED);
    put(b.store, TG_KIND_API_PROXY, proxy(1, "/chat", "10", 0), TG_STORE_CHANGED);
    CHECK_EQ_INT(tg_pipeline_step(&b.pipe), 1);
    CHECK_EQ_INT(b.pipe.translations, 1);
    CHECK_EQ_INT(tg_pipeline_step(&b.pipe), 0); /* the store has not moved */
    CHECK(until_acks(&b, 1, 3000));
    CHECK_EQ_INT(b.dp.nputs, 1);
    CHECK_EQ_INT(b.dp.put_versions[0], 1);
    CHECK_EQ_INT(b.log.reports, 1);
    CHECK_EQ_INT(b.log.report_version, 1);
    CHECK_EQ_INT(b.log.proxy_in_snapshot, 1);
    CHECK_EQ_INT(b.log.ack_version, 1);
    CHECK(tg_pipeline_served(&b.pipe));
    CHECK(b.pipe.ready);
    CHECK(b.dp.last_doc && json_array_size(json_object_get(b.dp.last_doc, "proxies")) == 1);

    /* our status write comes back from the watch: the store keeps it, but there is nothing to translate */
    put(b.store, TG_KIND_API_PROXY, proxy(1, "/chat", "11", 1), TG_STORE_REFRESHED);
    CHECK_EQ_INT(tg_pipeline_step(&b.pipe), 0);
    CHECK_EQ_INT(b.pipe.translations, 1);

    /* a change translation reads but that yields the same content: translated, not pushed, status reported at
     * once with the version the data plane already serves */
    put(b.store, TG_KIND_CONFIG_MAP,
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name",
                  "unrelated", "namespace", "apis", "data", "k", "v"),
        TG_STORE_CHANGED);
    CHECK_EQ_INT(tg_pipeline_step(&b.pipe), 1);
    CHECK_EQ_INT(b.pipe.translations, 2);
    CHECK_EQ_INT(b.log.reports, 2);
    CHECK_EQ_INT(b.log.report_version, 1);
    run_for(&b, 200);
    CHECK_EQ_INT(b.dp.nputs, 1);

    /* a spec change: new content, pushed as version 2, reported with 2, acknowledged */
    put(b.store, TG_KIND_API_PROXY, proxy(2, "/chat2", "12", 1), TG_STORE_CHANGED);
    CHECK_EQ_INT(tg_pipeline_step(&b.pipe), 1);
    CHECK(!tg_pipeline_served(&b.pipe));
    CHECK(until_acks(&b, 2, 3000));
    CHECK_EQ_INT(b.dp.nputs, 2);
    CHECK_EQ_INT(b.dp.put_versions[1], 2);
    CHECK_EQ_INT(b.log.report_version, 2);
    CHECK_EQ_INT(b.log.proxy_generation, 2);
    CHECK_EQ_INT(b.log.ack_version, 2);
    CHECK(tg_pipeline_served(&b.pipe));

    /* the data plane restarts: the same content goes out as version 3, reported and acknowledged again */
    snprintf(b.dp.boot, sizeof b.dp.boot, "boot-2");
    b.dp.applied = 0;
    size_t reports = b.log.reports;
    CHECK(until_acks(&b, 3, 3000));
    CHECK_EQ_INT(b.dp.nputs, 3);
    CHECK_EQ_INT(b.dp.put_versions[2], 3);
    CHECK_EQ_INT(b.log.reports, reports + 1);
    CHECK_EQ_INT(b.log.report_version, 3);
    CHECK_EQ_INT(b.log.ack_version, 3);
    CHECK_EQ_INT(b.pipe.translations, 3); /* a restart is not a translation */

    tg_pusher_free(b.pusher);
    tg_pipeline_fini(&b.pipe);
    tg_store_free(b.store);
    dp_close(&b.dp);
    ev_loop_destroy(b.loop);
    rmdir(dir);
    TG_TEST_MAIN_END();
}
