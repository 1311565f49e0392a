/* redis_counter.c — per-worker asynchronous Redis connections for distributed quotas (redis_counter.h).
 *
 * A connection moves through
 *   IDLE       no context; the next count starts a connection
 *   RESOLVING  a thread runs getaddrinfo for a host name; counts wait in the connection's list, unsent
 *   CONNECTING hiredis context created (non-blocking connect); counts are written into its output buffer
 *   READY      connected (and AUTH sent when there is a password)
 *   BACKOFF    the last attempt failed or the connection was lost; counts fail at once until the timer ends
 * One timer on the worker's timer wheel serves as connect deadline (RESOLVING, CONNECTING), answer deadline of
 * the oldest count (CONNECTING, READY) and end of the backoff (BACKOFF); the backoff delays come from
 * common/backoff.h (100 ms doubling to 5 s, equal jitter, reset by the first count answered). The only libev
 * watcher of its own is the ev_async by which the resolver thread wakes the loop (a cross-thread wakeup, not a
 * timer).
 *
 * Who frees what: a count (struct tg_redis_request) that was written to hiredis is freed by its EXEC callback,
 * which hiredis runs exactly once — with the reply, or with NULL when the context is freed; a count still
 * unsent is freed by this file. A cancelled count stays in the list (it still tells a hung Redis) with no
 * callback to call. hiredis contexts are freed here only through redisAsyncFree (deferred by hiredis itself
 * when called inside one of its callbacks); ac->data is cleared first so that its callbacks know the
 * connection has let go of it. */
#include "policy/traffic/redis_counter.h"

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "loop/worker.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONNS 16
#define CONNECT_TIMEOUT_MS 500
#define ANSWER_TIMEOUT_MS 500
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u

static _Atomic uint64_t failures;

uint64_t tg_redis_failures(void) { return atomic_load_explicit(&failures, memory_order_relaxed); }

enum conn_state { CONN_IDLE = 0, CONN_RESOLVING, CONN_CONNECTING, CONN_READY, CONN_BACKOFF };

struct redis_conn;

struct tg_redis_request {
    struct tg_redis_request *prev, *next; /* the connection's outstanding counts, oldest first */
    struct redis_conn *conn;              /* NULL once the connection let go of it */
    uint64_t started_ms;
    int sent;                             /* written to hiredis: its EXEC callback frees it */
    tg_redis_done_fn done;
    void *arg;                            /* NULL: cancelled */
    uint64_t ttl_ms;
    size_t key_len;
    char key[];
};

/* Host-name resolution on a thread; shared by the thread and the connection (refs), lock guards conn. */
struct resolve_job {
    pthread_mutex_t lock;
    int refs;
    struct redis_conn *conn; /* NULL once the connection gave up on it */
    struct ev_loop *loop;
    char host[TG_REDIS_HOST_MAX + 1];
    char result[INET6_ADDRSTRLEN];
    int ok;
    int finished;
};

struct redis_pool;

struct redis_conn {
    struct redis_pool *pool;
    char host[TG_REDIS_HOST_MAX + 1];
    uint16_t port;
    char *password;          /* "" when none */
    enum conn_state state;
    redisAsyncContext *ac;
    struct tg_timer timer;   /* on the worker's wheel: the one deadline of the current state */
    ev_async resolved;
    struct resolve_job *job;
    uint64_t state_since_ms;
    struct tg_backoff backoff; /* consecutive failures (backoff.failures) and the next delay */
    uint64_t backoff_until_ms; /* BACKOFF ends then */
    struct tg_redis_request *head, *tail;
    size_t outstanding;
    uint64_t last_used_ms;
};

struct redis_pool {
    struct tg_worker *w;
    struct redis_conn *conns[MAX_CONNS];
    size_t n;
};

static void job_unref(struct resolve_job *job)
{
    pthread_mutex_lock(&job->lock);
    int left = --job->refs;
    pthread_mutex_unlock(&job->lock);
    if (left == 0) {
        pthread_mutex_destroy(&job->lock);
        free(job);
    }
}

/* ---- the outstanding list ---------------------------------------------------------------------------- */

static void list_append(struct redis_conn *c, struct tg_redis_request *r)
{
    r->prev = c->tail;
    r->next = NULL;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    r->conn = c;
    c->outstanding++;
}

static void list_unlink(struct tg_redis_request *r)
{
    struct redis_conn *c = r->conn;
    if (!c)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        c->tail = r->prev;
    r->prev = r->next = NULL;
    r->conn = NULL;
    c->outstanding--;
}

/* Empties the connection's list: every count forgets the connection; returns the unsent ones, chained by
 * next (the sent ones are left to their EXEC callbacks). */
static struct tg_redis_request *detach_all(struct redis_conn *c)
{
    struct tg_redis_request *unsent = NULL, **tail = &unsent, *next;
    for (struct tg_redis_request *r = c->head; r; r = next) {
        next = r->next;
        r->conn = NULL;
        r->prev = r->next = NULL;
        if (!r->sent) {
            *tail = r;
            tail = &r->next;
        }
    }
    c->head = c->tail = NULL;
    c->outstanding = 0;
    return unsent;
}

/* ---- timers ------------------------------------------------------------------------------------------- */

static void arm_timer(struct redis_conn *c)
{
    uint64_t deadline = 0;
    switch (c->state) {
    case CONN_RESOLVING:
    case CONN_CONNECTING:
        deadline = c->state_since_ms + CONNECT_TIMEOUT_MS;
        break;
    case CONN_READY:
        if (c->head)
            deadline = c->head->started_ms + ANSWER_TIMEOUT_MS;
        break;
    case CONN_BACKOFF:
        deadline = c->backoff_until_ms;
        break;
    case CONN_IDLE:
        break;
    }
    struct tg_timer_wheel *wheel = &c->pool->w->wheel;
    if (!deadline)
        tg_timer_cancel(wheel, &c->timer);
    else if (!tg_timer_is_scheduled(&c->timer) || c->timer.deadline_ms != deadline)
        tg_timer_schedule(wheel, &c->timer, deadline);
}

static void set_state(struct redis_conn *c, enum conn_state s)
{
    c->state = s;
    c->state_since_ms = tg_now_ms();
    arm_timer(c);
}

/* ---- completing counts -------------------------------------------------------------------------------- */

static void complete(struct tg_redis_request *r, int ok, long long count)
{
    if (!ok)
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
    tg_redis_done_fn done = r->done;
    void *arg = r->arg;
    r->arg = NULL;
    if (arg)
        done(arg, ok, count);
}

/* Drops the context and fails every waiting count; the connection goes to BACKOFF. Reentrant: a done callback
 * that asks for another count sees BACKOFF and gets NULL. */
static void conn_fail(struct redis_conn *c, const char *why)
{
    if (c->backoff.failures == 0 || c->state == CONN_READY)
        tg_warn("redis %s:%u: %s; quota counts fail until it is back", c->host, (unsigned)c->port, why);
    c->backoff_until_ms = tg_now_ms() + tg_backoff_next(&c->backoff);
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    if (c->job) {
        pthread_mutex_lock(&c->job->lock);
        c->job->conn = NULL;
        pthread_mutex_unlock(&c->job->lock);
        job_unref(c->job);
        c->job = NULL;
    }
    /* detach the whole list first (callbacks run below may append to the connection's new list); the sent
     * counts belong to hiredis from here, the unsent ones are kept aside and failed here */
    struct tg_redis_request *unsent = detach_all(c);
    set_state(c, CONN_BACKOFF);
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac); /* the EXEC callbacks of sent counts run with NULL (now, or after the callback
                             * we may be inside of) and free them */
    }
    while (unsent) {
        struct tg_redis_request *r = unsent;
        unsent = r->next;
        complete(r, 0, 0);
        free(r);
    }
}

static void on_exec(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    struct tg_redis_request *r = privdata;
    redisReply *reply = reply_ptr;
    struct redis_conn *c = r->conn;
    list_unlink(r);
    if (c && c->ac == ac)
        arm_timer(c); /* the oldest outstanding count may have changed */
    int ok = 0;
    long long count = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[0] &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer > 0) {
        ok = 1;
        count = reply->element[0]->integer;
        if (c && c->ac == ac)
            tg_backoff_reset(&c->backoff);
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        tg_warn("redis: quota count refused: %.200s", reply->str);
    }
    complete(r, ok, count);
    free(r);
}

static void send_count(struct redis_conn *c, struct tg_redis_request *r)
{
    char ttl[24];
    int ttl_len = snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)r->ttl_ms);
    const char *incr[] = {"INCR", r->key};
    size_t incr_len[] = {4, r->key_len};
    const char *pexpire[] = {"PEXPIRE", r->key, ttl};
    size_t pexpire_len[] = {7, r->key_len, (size_t)ttl_len};
    if (redisAsyncCommand(c->ac, NULL, NULL, "MULTI") != REDIS_OK ||
        redisAsyncCommandArgv(c->ac, NULL, NULL, 2, incr, incr_len) != REDIS_OK ||
        redisAsyncCommandArgv(c->ac, NULL, NULL, 3, pexpire, pexpire_len) != REDIS_OK ||
        redisAsyncCommand(c->ac, on_exec, r, "EXEC") != REDIS_OK)
        return; /* the context is going away: the count stays unsent and fails with it */
    r->sent = 1;
}

/* ---- connecting ---------------------------------------------------------------------------------------- */

static void on_auth(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    redisReply *reply = reply_ptr;
    struct redis_conn *c = ac->data;
    if (!c || !reply || reply->type != REDIS_REPLY_ERROR)
        return;
    conn_fail(c, "AUTH refused (check passwordSecretName)");
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_conn *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context right after this callback (running the EXEC callbacks with NULL) */
        ac->data = NULL;
        c->ac = NULL;
        conn_fail(c, ac->errstr ? ac->errstr : "cannot connect");
        return;
    }
    set_state(c, CONN_READY); /* the backoff is reset by the first count answered: a Redis that accepts
                               * connections but refuses AUTH or never answers still backs off */
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_conn *c = ac->data;
    if (!c)
        return; /* we dropped it ourselves */
    ac->data = NULL;
    c->ac = NULL; /* hiredis is freeing it */
    conn_fail(c, ac->errstr && status != REDIS_OK ? ac->errstr : "connection closed");
}

static void connect_to(struct redis_conn *c, const char *ip)
{
    redisAsyncContext *ac = redisAsyncConnect(ip, (int)c->port);
    if (!ac) {
        conn_fail(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        conn_fail(c, why);
        return;
    }
    if (redisLibevAttach(c->pool->w->loop, ac) != REDIS_OK) {
        redisAsyncFree(ac);
        conn_fail(c, "cannot attach to the event loop");
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    set_state(c, CONN_CONNECTING);
    if (c->password[0]) {
        const char *argv[] = {"AUTH", c->password};
        size_t lens[] = {4, strlen(c->password)};
        redisAsyncCommandArgv(ac, on_auth, NULL, 2, argv, lens);
    }
    for (struct tg_redis_request *r = c->head; r && c->ac == ac; r = r->next)
        if (!r->sent)
            send_count(c, r);
}

static void *resolve_thread(void *arg)
{
    struct resolve_job *job = arg;
    /* IPv4 first, then IPv6 (hiredis' own order): "localhost" must not become ::1 for a Redis bound to
     * 127.0.0.1 */
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int ok = 0;
    char result[INET6_ADDRSTRLEN] = "";
    if (getaddrinfo(job->host, NULL, &hints, &res) != 0 || !res) {
        res = NULL;
        hints.ai_family = AF_INET6;
        if (getaddrinfo(job->host, NULL, &hints, &res) != 0)
            res = NULL;
    }
    if (res) {
        const void *a = res->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
        ok = inet_ntop(res->ai_family, a, result, sizeof result) != NULL;
    }
    if (res)
        freeaddrinfo(res);
    pthread_mutex_lock(&job->lock);
    job->ok = ok;
    job->finished = 1;
    memcpy(job->result, result, sizeof result);
    if (job->conn)
        ev_async_send(job->loop, &job->conn->resolved);
    pthread_mutex_unlock(&job->lock);
    job_unref(job);
    return NULL;
}

static void on_resolved(struct ev_loop *loop, ev_async *a, int revents)
{
    struct redis_conn *c = a->data;
    struct resolve_job *job = c->job;
    if (!job || c->state != CONN_RESOLVING)
        return;
    pthread_mutex_lock(&job->lock);
    int finished = job->finished, ok = job->ok;
    char ip[INET6_ADDRSTRLEN];
    memcpy(ip, job->result, sizeof ip);
    if (finished)
        job->conn = NULL;
    pthread_mutex_unlock(&job->lock);
    if (!finished)
        return; /* a wakeup meant for an earlier attempt */
    job_unref(job);
    c->job = NULL;
    if (!ok) {
        conn_fail(c, "cannot resolve the host name");
        return;
    }
    connect_to(c, ip);
}

static void start_connect(struct redis_conn *c)
{
    unsigned char probe[16];
    if (inet_pton(AF_INET, c->host, probe) == 1 || inet_pton(AF_INET6, c->host, probe) == 1) {
        connect_to(c, c->host); /* a literal: hiredis' getaddrinfo does no lookup */
        return;
    }
    struct resolve_job *job = calloc(1, sizeof *job);
    if (!job) {
        conn_fail(c, "out of memory");
        return;
    }
    pthread_mutex_init(&job->lock, NULL);
    job->refs = 2;
    job->conn = c;
    job->loop = c->pool->w->loop;
    memcpy(job->host, c->host, sizeof job->host);
    c->job = job;
    set_state(c, CONN_RESOLVING);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, resolve_thread, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        job->refs = 1; /* the thread never ran */
        conn_fail(c, "cannot start the resolver thread");
    }
}

static void on_timer(struct tg_timer *t, uint64_t now)
{
    struct redis_conn *c = (struct redis_conn *)((char *)t - offsetof(struct redis_conn, timer));
    switch (c->state) {
    case CONN_BACKOFF:
        c->state = CONN_IDLE;
        break;
    case CONN_RESOLVING:
    case CONN_CONNECTING:
        if (now >= c->state_since_ms + CONNECT_TIMEOUT_MS)
            conn_fail(c, "connect timed out");
        else
            arm_timer(c);
        break;
    case CONN_READY:
        if (c->head && now >= c->head->started_ms + ANSWER_TIMEOUT_MS)
            conn_fail(c, "no answer within 500 ms");
        else
            arm_timer(c);
        break;
    case CONN_IDLE:
        break;
    }
}

/* ---- the per-worker pool --------------------------------------------------------------------------- */

static void conn_destroy(struct redis_conn *c)
{
    struct ev_loop *loop = c->pool->w->loop;
    tg_timer_cancel(&c->pool->w->wheel, &c->timer);
    ev_async_stop(loop, &c->resolved);
    if (c->job) {
        pthread_mutex_lock(&c->job->lock);
        c->job->conn = NULL;
        pthread_mutex_unlock(&c->job->lock);
        job_unref(c->job);
    }
    for (struct tg_redis_request *r = c->head; r; r = r->next)
        r->arg = NULL; /* nobody is told any more */
    struct tg_redis_request *unsent = detach_all(c);
    if (c->ac) {
        c->ac->data = NULL;
        redisAsyncFree(c->ac); /* frees the sent counts through their callbacks */
    }
    while (unsent) {
        struct tg_redis_request *r = unsent;
        unsent = r->next;
        free(r);
    }
    if (c->password) {
        OPENSSL_cleanse(c->password, strlen(c->password));
        free(c->password);
    }
    free(c);
}

static void pool_free(struct tg_worker *w, void *state)
{
    struct redis_pool *p = state;
    for (size_t i = 0; i < p->n; i++)
        conn_destroy(p->conns[i]);
    free(p);
    w->slots[TG_WORKER_SLOT_REDIS] = NULL;
}

static struct redis_pool *pool_of(struct tg_worker *w)
{
    struct redis_pool *p = w->slots[TG_WORKER_SLOT_REDIS];
    if (p)
        return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->w = w;
    w->slots[TG_WORKER_SLOT_REDIS] = p;
    w->slot_free[TG_WORKER_SLOT_REDIS] = pool_free;
    return p;
}

static struct redis_conn *conn_for(struct redis_pool *p, const char *host, uint16_t port, const char *password)
{
    for (size_t i = 0; i < p->n; i++) {
        struct redis_conn *c = p->conns[i];
        if (c->port == port && strcmp(c->host, host) == 0 && strcmp(c->password, password) == 0)
            return c;
    }
    if (p->n == MAX_CONNS) {
        /* make room: the least recently used connection with nothing outstanding */
        size_t victim = MAX_CONNS;
        for (size_t i = 0; i < p->n; i++)
            if (p->conns[i]->outstanding == 0 &&
                (victim == MAX_CONNS || p->conns[i]->last_used_ms < p->conns[victim]->last_used_ms))
                victim = i;
        if (victim == MAX_CONNS)
            return NULL;
        conn_destroy(p->conns[victim]);
        p->conns[victim] = p->conns[--p->n];
    }
    struct redis_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->password = strdup(password);
    if (!c->password) {
        free(c);
        return NULL;
    }
    c->pool = p;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    tg_timer_init(&c->timer, on_timer);
    uint64_t seed = (uint64_t)tg_worker_random(p->w) << 32 | tg_worker_random(p->w);
    tg_backoff_init(&c->backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS, seed);
    ev_async_init(&c->resolved, on_resolved);
    c->resolved.data = c;
    ev_async_start(p->w->loop, &c->resolved);
    p->conns[p->n++] = c;
    return c;
}

struct tg_redis_request *tg_redis_incr(struct tg_worker *w, const char *host, uint16_t port, const char *password,
                                       const char *key, size_t len, uint64_t ttl_ms, tg_redis_done_fn done,
                                       void *arg)
{
    struct redis_pool *p = pool_of(w);
    struct redis_conn *c = p ? conn_for(p, host, port, password ? password : "") : NULL;
    if (c && c->state == CONN_IDLE)
        start_connect(c); /* with nothing waiting yet: a synchronous failure only moves it to BACKOFF */
    if (!c || c->state == CONN_BACKOFF) {
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
        return NULL;
    }
    struct tg_redis_request *r = calloc(1, sizeof *r + len + 1);
    if (!r) {
        atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
        return NULL;
    }
    r->started_ms = tg_now_ms();
    r->done = done;
    r->arg = arg;
    r->ttl_ms = ttl_ms ? ttl_ms : 1;
    r->key_len = len;
    memcpy(r->key, key, len);
    c->last_used_ms = r->started_ms;
    int was_empty = c->head == NULL;
    list_append(c, r);
    if (c->ac)
        send_count(c, r); /* CONNECTING or READY; RESOLVING sends it once connected */
    if (was_empty && c->state == CONN_READY)
        arm_timer(c);
    return r;
}

void tg_redis_request_cancel(struct tg_redis_request *r)
{
    if (r)
        r->arg = NULL;
}
