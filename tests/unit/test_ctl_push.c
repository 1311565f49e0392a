/* test_ctl_push.c — the publisher (publish/push.h) against a data plane's control socket: a real Unix socket
 * served on the test's own libev loop by common/mini_http_server.h, answering GET /snapshot/version and
 * PUT /snapshot as docs/control-protocol.md says, with scripted failures. Covers: nothing is pushed before the
 * first poll, the first push and its acknowledgement, no re-push of acknowledged content, re-push after the data
 * plane restarted (new bootId) with a version past what it reports, a 409 (someone applied a newer version)
 * answered by a push with a higher version, jittered exponential backoff on failures (bounds, cap, reset on
 * success and on new content), a rejected snapshot (400) not retried until the content changes or the data plane
 * restarts, and an unreachable data plane that comes back. */
#include "log.h"
#include "publish/push.h"
#include "publish/snapshot_document.h"
#include "test_ctl_dataplane_peer.h"
#include "tg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the pusher told the controller. */
struct seen {
    uint64_t pushing_version, acked_version;
    char acked_hash[TG_SNAPSHOT_HASH_HEX];
    int pushing, acked, failed, rejected;
    uint32_t retry_delays[16];
    size_t nretries;
    struct tg_pusher *p;
};

static void on_pushing(void *arg, uint64_t version, const char *hash)
{
    struct seen *s = arg;
    s->pushing++;
    s->pushing_version = version;
}

static void on_acked(void *arg, uint64_t version, const char *hash)
{
    struct seen *s = arg;
    s->acked++;
    s->acked_version = version;
    snprintf(s->acked_hash, sizeof s->acked_hash, "%s", hash);
}

static void on_failed(void *arg, int rejected, const char *error)
{
    struct seen *s = arg;
    s->failed++;
    s->rejected += rejected;
    if (!rejected && s->nretries < 16)
        s->retry_delays[s->nretries++] = tg_pusher_stats(s->p)->last_retry_delay_ms;
}

static int cond_acked_at_least(const struct seen *s, const struct dp *d, uint64_t n)
{
    return s->acked_version >= n;
}

/* Runs the loop until cond holds or ms pass; returns whether it held. */
static int run_until(struct ev_loop *loop, int (*cond)(const struct seen *, const struct dp *, uint64_t),
                     const struct seen *s, const struct dp *d, uint64_t arg, uint64_t ms)
{
    uint64_t end = tg_now_ms() + ms;
    while (!cond(s, d, arg)) {
        if (tg_now_ms() > end)
            return 0;
        ev_run(loop, EVRUN_ONCE);
    }
    return 1;
}

static int cond_acks_at_least(const struct seen *s, const struct dp *d, uint64_t n)
{
    return (uint64_t)s->acked >= n;
}

static int cond_never(const struct seen *s, const struct dp *d, uint64_t n)
{
    return 0;
}

static int cond_puts_at_least(const struct seen *s, const struct dp *d, uint64_t n)
{
    return d->nputs >= n;
}

static int cond_failed_at_least(const struct seen *s, const struct dp *d, uint64_t n)
{
    return (uint64_t)s->failed >= n;
}

static int cond_polled_at_least(const struct seen *s, const struct dp *d, uint64_t n)
{
    return d->npolls >= n;
}

static void run_for(struct ev_loop *loop, const struct seen *s, const struct dp *d, uint64_t ms)
{
    run_until(loop, cond_never, s, d, 0, ms);
}

/* A snapshot content with one group named name; *hash receives its hash. */
static json_t *content(const char *name, char hash[TG_SNAPSHOT_HASH_HEX])
{
    json_t *c = json_pack("{s:[{s:s,s:[s],s:[s]}],s:[]}", "groups", "id", name, "hostnames", "a.example.com",
                          "environments", "prod", "proxies");
    CHECK_EQ_INT(tg_snapshot_hash(c, hash), 0);
    return c;
}

static struct tg_pusher *new_pusher(struct ev_loop *loop, struct dp *d, struct seen *s, double poll_s)
{
    struct tg_pusher_opts o = {.socket_path = d->path, .poll_interval_s = poll_s, .request_timeout_s = 2.0,
                               .backoff_min_ms = 40, .backoff_max_ms = 160, .backoff_seed = 42};
    struct tg_pusher_events ev = {on_pushing, on_acked, on_failed, s};
    struct tg_pusher *p = tg_pusher_new(loop, &o, &ev);
    CHECK(p != NULL);
    s->p = p;
    return p;
}

static void test_push_ack_restart_conflict(struct ev_loop *loop, const char *dir)
{
    struct dp d = {0};
    snprintf(d.path, sizeof d.path, "%s/control.sock", dir);
    snprintf(d.boot, sizeof d.boot, "boot-1");
    dp_listen(&d, loop);
    struct seen s = {0};
    struct tg_pusher *p = new_pusher(loop, &d, &s, 0.05);
    char ha[TG_SNAPSHOT_HASH_HEX], hb[TG_SNAPSHOT_HASH_HEX];
    json_t *a = content("a", ha), *b = content("b", hb);

    /* content before the first poll: nothing goes out until the data plane's version is known */
    tg_pusher_set(p, a, ha);
    CHECK_EQ_INT(d.nputs, 0);
    tg_pusher_start(p);
    CHECK(run_until(loop, cond_acked_at_least, &s, &d, 1, 3000));
    CHECK_EQ_INT(d.nputs, 1);
    CHECK_EQ_INT(d.put_versions[0], 1);
    CHECK_EQ_INT(s.pushing, 1);
    CHECK_EQ_INT(s.pushing_version, 1);
    CHECK_EQ_STR(s.acked_hash, ha);
    CHECK(strstr(d.last_groups, "\"a\"") != NULL);
    CHECK_EQ_INT(tg_pusher_stats(p)->acked_version, 1);
    CHECK_EQ_INT(tg_pusher_stats(p)->dataplane_reachable, 1);

    /* acknowledged content is not pushed again, however often it is set and polled */
    tg_pusher_set(p, a, ha);
    size_t polls = d.npolls;
    CHECK(run_until(loop, cond_polled_at_least, &s, &d, polls + 3, 3000));
    CHECK_EQ_INT(d.nputs, 1);

    /* the data plane restarts (new bootId, nothing applied): the same content comes back, with a version
     * past the last one used (never backwards) */
    snprintf(d.boot, sizeof d.boot, "boot-2");
    d.applied = 0;
    CHECK(run_until(loop, cond_acked_at_least, &s, &d, 2, 3000));
    CHECK_EQ_INT(d.nputs, 2);
    CHECK_EQ_INT(d.put_versions[1], 2);
    CHECK_EQ_STR(s.acked_hash, ha);

    /* someone applied version 10 meanwhile: the 409 makes the pusher move past it */
    int conflict[] = {409};
    dp_script(&d, conflict, 1);
    d.conflict_applied = 10;
    tg_pusher_set(p, b, hb);
    CHECK(run_until(loop, cond_acked_at_least, &s, &d, 11, 3000));
    CHECK_EQ_INT(d.nputs, 4);
    CHECK_EQ_INT(d.put_versions[2], 3);
    CHECK_EQ_INT(d.put_versions[3], 11);
    CHECK_EQ_STR(s.acked_hash, hb);
    CHECK(strstr(d.last_groups, "\"b\"") != NULL);
    CHECK_EQ_INT(tg_pusher_stats(p)->pushes, 4);
    CHECK_EQ_INT(tg_pusher_stats(p)->failures, 1);

    tg_pusher_free(p);
    json_decref(a);
    json_decref(b);
    dp_close(&d);
}

static void test_backoff_and_rejection(struct ev_loop *loop, const char *dir)
{
    struct dp d = {0};
    snprintf(d.path, sizeof d.path, "%s/control2.sock", dir);
    snprintf(d.boot, sizeof d.boot, "boot-1");
    dp_listen(&d, loop);
    struct seen s = {0};
    struct tg_pusher *p = new_pusher(loop, &d, &s, 0.05);
    char ha[TG_SNAPSHOT_HASH_HEX], hb[TG_SNAPSHOT_HASH_HEX], hc[TG_SNAPSHOT_HASH_HEX];
    json_t *a = content("a", ha), *b = content("b", hb), *c = content("c", hc);

    /* five failures in a row (5xx), then success: each retry waits the next jittered delay, 40 → 160 ms */
    int busy[] = {503, 503, 503, 503, 503};
    dp_script(&d, busy, 5);
    tg_pusher_start(p);
    tg_pusher_set(p, a, ha);
    CHECK(run_until(loop, cond_acks_at_least, &s, &d, 1, 5000));
    CHECK_EQ_INT(d.nputs, 6);
    CHECK_EQ_INT(s.failed, 5);
    CHECK_EQ_INT(s.nretries, 5);
    uint32_t base = 40;
    for (size_t i = 0; i < s.nretries && i < 5; i++) {
        CHECK(s.retry_delays[i] >= base / 2 && s.retry_delays[i] <= base);
        /* the data plane saw the next attempt no sooner than the delay drawn */
        CHECK(d.put_ms[i + 1] - d.put_ms[i] + 2 >= s.retry_delays[i]);
        base = base * 2 > 160 ? 160 : base * 2;
    }
    CHECK_EQ_INT(tg_pusher_stats(p)->failures, 5);

    /* success reset the backoff: the next failure starts again from the smallest delay */
    int once_busy[] = {503};
    dp_script(&d, once_busy, 1);
    tg_pusher_set(p, b, hb);
    CHECK(run_until(loop, cond_acks_at_least, &s, &d, 2, 5000));
    CHECK_EQ_INT(s.nretries, 6);
    CHECK(s.retry_delays[5] >= 20 && s.retry_delays[5] <= 40);

    /* a rejected snapshot (400) is reported and not retried while the content stays the same */
    int reject[] = {400};
    dp_script(&d, reject, 1);
    size_t puts = d.nputs;
    tg_pusher_set(p, c, hc);
    CHECK(run_until(loop, cond_failed_at_least, &s, &d, 7, 3000));
    CHECK_EQ_INT(s.rejected, 1);
    CHECK_EQ_INT(tg_pusher_stats(p)->rejected, 1);
    run_for(loop, &s, &d, 300);
    CHECK_EQ_INT(d.nputs, puts + 1);
    CHECK(strstr(d.last_groups, "\"b\"") != NULL); /* the data plane keeps serving the last good content */

    /* the data plane restarts: it may accept what the old one refused, so the content goes out again */
    snprintf(d.boot, sizeof d.boot, "boot-2");
    d.applied = 0;
    CHECK(run_until(loop, cond_puts_at_least, &s, &d, puts + 2, 3000));
    CHECK(run_until(loop, cond_acks_at_least, &s, &d, 3, 3000));
    CHECK_EQ_STR(s.acked_hash, hc);

    tg_pusher_free(p);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    dp_close(&d);
}

static void test_unreachable_then_back(struct ev_loop *loop, const char *dir)
{
    struct dp d = {0};
    snprintf(d.path, sizeof d.path, "%s/control3.sock", dir);
    snprintf(d.boot, sizeof d.boot, "boot-1");
    struct seen s = {0};
    struct tg_pusher *p = new_pusher(loop, &d, &s, 0.05);
    char ha[TG_SNAPSHOT_HASH_HEX];
    json_t *a = content("a", ha);
    tg_pusher_start(p);
    tg_pusher_set(p, a, ha);
    run_for(loop, &s, &d, 200); /* no socket: polls fail, nothing is pushed */
    CHECK_EQ_INT(d.nputs, 0);
    CHECK_EQ_INT(tg_pusher_stats(p)->dataplane_reachable, 0);
    CHECK_EQ_INT(s.acked, 0);
    dp_listen(&d, loop);
    CHECK(run_until(loop, cond_acked_at_least, &s, &d, 1, 3000));
    CHECK_EQ_INT(d.nputs, 1);
    CHECK_EQ_INT(tg_pusher_stats(p)->dataplane_reachable, 1);
    tg_pusher_free(p);
    json_decref(a);
    dp_close(&d);
}

int main(void)
{
    tg_log_set_level(TG_LOG_ERROR);
    char dir[] = "/tmp/tg-push-test-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    test_push_ack_restart_conflict(loop, dir);
    test_backoff_and_rejection(loop, dir);
    test_unreachable_then_back(loop, dir);
    ev_loop_destroy(loop);
    rmdir(dir);
    TG_TEST_MAIN_END();
}
