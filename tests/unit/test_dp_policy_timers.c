/* test_dp_policy_timers.c — the policies' timers on a worker's timer wheel and the Redis reconnect backoff,
 * driven as a worker drives them (its libev loop + tg_timer_wheel_run), without the rest of the worker:
 *   - oauthV2's recheck() delivers a verdict known at once from the wheel (never inside recheck());
 *   - a Redis count without an answer fails at its 500 ms deadline (redis_counter.c's wheel timer), counts then
 *     fail at once during the backoff (common/backoff.h: first delay 50..100 ms), and are taken again after it. */
#include "clock.h"
#include "loop/worker.h"
#include "policy/policy.h"
#include "policy/traffic/redis_counter.h"
#include "tg_test.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct tg_worker *worker_new(void)
{
    struct tg_worker *w = calloc(1, sizeof *w);
    w->loop = ev_loop_new(EVFLAG_AUTO);
    w->rng = 0x2545f491u;
    tg_timer_wheel_init(&w->wheel, tg_now_ms());
    return w;
}

static void worker_free(struct tg_worker *w)
{
    for (int i = 0; i < TG_WORKER_SLOTS; i++)
        if (w->slots[i] && w->slot_free[i])
            w->slot_free[i](w, w->slots[i]);
    ev_loop_destroy(w->loop);
    free(w);
}

/* One turn of the worker's loop: I/O without blocking, then the wheel. */
static void turn(struct tg_worker *w)
{
    ev_run(w->loop, EVRUN_NOWAIT);
    tg_timer_wheel_run(&w->wheel, tg_now_ms(), 1024);
    usleep(1000);
}

struct verdict {
    int calls, revoked;
};

static void on_recheck_done(void *arg, int revoked)
{
    struct verdict *v = arg;
    v->calls++;
    v->revoked = revoked;
}

static void test_oauth_recheck_deferred(void)
{
    json_t *spec = json_pack("{s:[s],s:{s:s,s:[],s:[s],s:{s:[]}},s:n,s:[],s:[]}", "tokenFrom",
                             "header:authorization", "jwt", "issuer", "i", "audiences", "algorithms", "RS256", "jwks",
                             "keys", "introspection", "requiredScopes", "revoked");
    const struct tg_policy_type *t = tg_policy_type_find("oauthV2");
    char err[256] = "";
    int failed = 0;
    void *st = t->compile(spec, err, sizeof err, &failed);
    CHECK_EQ_INT(failed, 0);
    struct tg_worker *w = worker_new();
    struct tg_credential jwt = {.kind = TG_CRED_JWT}, opaque = {.kind = TG_CRED_OPAQUE_TOKEN};
    struct verdict vj = {0, -1}, vo = {0, -1};
    t->recheck(st, w, &jwt, on_recheck_done, &vj);
    t->recheck(st, w, &opaque, on_recheck_done, &vo);
    CHECK_EQ_INT(vj.calls, 0); /* never from inside recheck() */
    CHECK_EQ_INT(vo.calls, 0);
    CHECK_EQ_INT((int)w->wheel.count, 2);
    uint64_t start = tg_now_ms();
    while ((vj.calls == 0 || vo.calls == 0) && tg_now_ms() - start < 1000)
        turn(w);
    CHECK_EQ_INT(vj.calls, 1);
    CHECK_EQ_INT(vj.revoked, 0);  /* a JWT is not re-checked: kept */
    CHECK_EQ_INT(vo.calls, 1);
    CHECK_EQ_INT(vo.revoked, 1);  /* an opaque token this policy cannot introspect: fail closed */
    CHECK(tg_now_ms() - start < 100);
    CHECK_EQ_INT((int)w->wheel.count, 0);
    worker_free(w);
    t->free_state(st);
    json_decref(spec);
}

struct count {
    int calls, ok;
    uint64_t at_ms;
};

static void on_count(void *arg, int ok, long long n)
{
    struct count *c = arg;
    c->calls++;
    c->ok = ok;
    c->at_ms = tg_now_ms();
}

/* A listener that never accepts: connections complete in its backlog and nothing ever answers. */
static int silent_listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_redis_deadline_and_backoff(void)
{
    uint16_t port = 0;
    int lfd = silent_listener(&port);
    CHECK(lfd >= 0);
    struct tg_worker *w = worker_new();
    struct count c = {0, -1, 0};
    uint64_t failures = tg_redis_failures();
    uint64_t start = tg_now_ms();
    struct tg_redis_request *r = tg_redis_incr(w, "127.0.0.1", port, NULL, "tg:test", 7, 1000, on_count, &c);
    CHECK(r != NULL);
    CHECK_EQ_INT(c.calls, 0); /* never from inside tg_redis_incr */
    while (c.calls == 0 && tg_now_ms() - start < 3000)
        turn(w);
    CHECK_EQ_INT(c.calls, 1);
    CHECK_EQ_INT(c.ok, 0);
    /* the answer deadline (500 ms) on the wheel: never early, at most a few ticks late */
    CHECK(c.at_ms - start >= 500);
    CHECK(c.at_ms - start < 800);
    CHECK(tg_redis_failures() > failures);
    /* backing off: counts fail at once (NULL, no callback) */
    struct count c2 = {0, -1, 0};
    CHECK(tg_redis_incr(w, "127.0.0.1", port, NULL, "tg:test", 7, 1000, on_count, &c2) == NULL);
    /* after the first backoff delay (50..100 ms) a count is taken again (a new connection is tried) */
    struct tg_redis_request *again = NULL;
    uint64_t fail_at = tg_now_ms();
    while (!again && tg_now_ms() - fail_at < 1000) {
        turn(w);
        again = tg_redis_incr(w, "127.0.0.1", port, NULL, "tg:test", 7, 1000, on_count, &c2);
    }
    CHECK(again != NULL);
    CHECK(tg_now_ms() - c.at_ms >= 45);
    CHECK(tg_now_ms() - c.at_ms < 300);
    tg_redis_request_cancel(again);
    worker_free(w);
    close(lfd);
}

int main(void)
{
    test_oauth_recheck_deferred();
    test_redis_deadline_and_backoff();
    TG_TEST_MAIN_END();
}
