/* introspection.c — see introspection.h. Per worker: a chained hash table of entries (keyed by a SHA-256, so
 * the first 8 bytes index it), an LRU list, a libcurl multi on the worker's loop and a sweep (a timer on the
 * worker's timer wheel, every 5 s) that drops stale entries and wipes the tokens whose pin ran out. Nothing
 * here is shared between workers. */
#include "policy/auth/introspection.h"

#include "backoff.h"
#include "clock.h"
#include "policy/curl_loop.h"
#include "policy/auth/digest_set.h"
#include "jwk.h"
#include "log.h"
#include "loop/worker.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_INTERVAL_MS 5000
#define SOFT_MAX_ENTRIES 16384   /* beyond this the sweep evicts unpinned entries even when still valid */
#define INACTIVE_TTL_MS 30000
#define DEFAULT_TTL_MS 30000
#define PIN_GRACE_MS 10000
#define MAX_ANSWER_BYTES 65536
#define MAX_TOKEN_BYTES 8192
/* Outbound bounds (docs/security.md "Limits"), per worker: questions in flight at once, questions started per
 * second (a token bucket), and per endpoint a backoff after failures during which a question fails at once
 * (the policy answers as for an unreachable server) instead of being asked again for every request. Answers
 * "inactive" are cached INACTIVE_TTL_MS (the negative cache). */
#define MAX_IN_FLIGHT 64
#define MAX_ASKS_PER_SEC 200
#define OUTAGE_SLOTS 16
#define OUTAGE_INITIAL_MS 500
#define OUTAGE_MAX_MS 30000

struct intro;

struct entry {
    struct intro *in;
    uint8_t key[32];
    struct entry *hnext;
    struct entry *lru_prev, *lru_next; /* head = most recently used */
    char *token;                       /* only while pinned */
    size_t token_len;
    uint64_t pinned_until_ms;          /* monotonic; 0 = not pinned */
    uint64_t ttl_ms;                   /* cache time of an active answer (the endpoint's recheck interval) */
    int outage_slot;                   /* the endpoint's slot in in->outages while a question is in flight */
    int have_result;
    int active;
    uint64_t exp_wall_ms;
    uint64_t valid_until_ms;           /* monotonic */
    char *scope, *subject, *jti;
    json_t *answer;                    /* the whole answer (its claims go to the policy context) */
    struct tg_curl_req *req;           /* in flight */
    char *post_body;                   /* the request body (holds the token): wiped when the request ends */
    size_t post_len;
    struct tg_introspect_wait *waiters;
    int delivering;                    /* callbacks running: not evictable */
};

struct tg_introspect_wait {
    struct entry *e;
    struct intro *in;
    void (*cb)(void *arg, const struct tg_introspection_result *r);
    void *arg;
    struct tg_introspect_wait *next, *prev;
};

struct outage {
    uint64_t url_hash;                 /* 0: free slot */
    uint64_t down_until_ms;            /* monotonic; questions to this endpoint fail at once until then */
    uint64_t used_ms;
    struct tg_backoff backoff;
};

struct intro {
    struct outage outages[OUTAGE_SLOTS];
    size_t in_flight;
    double tokens;                     /* the per-second bucket of questions */
    uint64_t tokens_ms;
    struct tg_worker *w;
    struct tg_curl_loop *curl;
    struct entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    struct entry *lru_head, *lru_tail;
    struct tg_timer sweep; /* on w->wheel */
};

/* ---- endpoint configuration ------------------------------------------------------------------------- */

static size_t form_encode(const char *in, size_t len, char *out)
{
    /* application/x-www-form-urlencoded (WHATWG URL §5.2): unreserved bytes as is, space as "+", the rest %XX */
    static const char hexd[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '*') {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hexd[c >> 4];
            out[o++] = hexd[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

int tg_introspection_cfg_init(struct tg_introspection_cfg *cfg, const char *url, const char *client_id,
                              const char *client_secret, uint64_t recheck_ms, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof *cfg);
    size_t il = strlen(client_id), sl = strlen(client_secret);
    if (il > 1024 || sl > 1024) {
        snprintf(err, err_size, "client credentials longer than 1024 bytes");
        return -1;
    }
    char *pair = malloc(3 * (il + sl) + 2);
    char *b64 = malloc(4 * (3 * (il + sl) + 2) / 3 + 8);
    cfg->url = strdup(url);
    if (!pair || !b64 || !cfg->url) {
        free(pair);
        free(b64);
        free(cfg->url);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    size_t n = form_encode(client_id, il, pair);
    pair[n++] = ':';
    n += form_encode(client_secret, sl, pair + n);
    /* standard base64 with padding for HTTP Basic (RFC 7617 §2) */
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pair, (int)n);
    size_t hl = strlen(b64) + 32;
    cfg->auth_header = malloc(hl);
    if (cfg->auth_header)
        snprintf(cfg->auth_header, hl, "Authorization: Basic %s", b64);
    OPENSSL_cleanse(pair, n);
    OPENSSL_cleanse(b64, strlen(b64));
    free(pair);
    free(b64);
    if (!cfg->auth_header) {
        free(cfg->url);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    size_t kl = strlen(url) + il + 2;
    char *k = malloc(kl);
    if (k) {
        snprintf(k, kl, "%s\n%s", url, client_id);
        tg_sha256(k, strlen(k), cfg->endpoint_key);
        free(k);
    }
    cfg->recheck_ms = recheck_ms;
    cfg->timeout_ms = 5000;
    return 0;
}

void tg_introspection_cfg_free(struct tg_introspection_cfg *cfg)
{
    if (cfg->auth_header)
        OPENSSL_cleanse(cfg->auth_header, strlen(cfg->auth_header));
    free(cfg->auth_header);
    free(cfg->url);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- the per-worker table --------------------------------------------------------------------------- */

static void entry_key(const struct tg_introspection_cfg *cfg, const uint8_t digest[32], uint8_t key[32])
{
    uint8_t both[64];
    memcpy(both, cfg->endpoint_key, 32);
    memcpy(both + 32, digest, 32);
    tg_sha256(both, sizeof both, key);
}

static size_t bucket_of(const struct intro *in, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)h & (in->nbuckets - 1);
}

static struct entry *find(struct intro *in, const uint8_t key[32])
{
    for (struct entry *e = in->buckets[bucket_of(in, key)]; e; e = e->hnext)
        if (memcmp(e->key, key, 32) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct intro *in, struct entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        in->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        in->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_touch(struct intro *in, struct entry *e)
{
    if (in->lru_head == e)
        return;
    if (e->lru_prev || e->lru_next || in->lru_tail == e)
        lru_unlink(in, e);
    e->lru_next = in->lru_head;
    if (in->lru_head)
        in->lru_head->lru_prev = e;
    in->lru_head = e;
    if (!in->lru_tail)
        in->lru_tail = e;
}

static void drop_token(struct entry *e)
{
    if (e->token) {
        OPENSSL_cleanse(e->token, e->token_len);
        free(e->token);
    }
    e->token = NULL;
    e->token_len = 0;
    e->pinned_until_ms = 0;
}

static void wipe_post(struct entry *e)
{
    if (e->post_body) {
        OPENSSL_cleanse(e->post_body, e->post_len);
        free(e->post_body);
    }
    e->post_body = NULL;
    e->post_len = 0;
}

static void clear_result(struct entry *e)
{
    free(e->scope);
    free(e->subject);
    free(e->jti);
    json_decref(e->answer);
    e->answer = NULL;
    e->scope = e->subject = e->jti = NULL;
    e->have_result = 0;
}

static int evictable(const struct entry *e, uint64_t now)
{
    return !e->req && !e->waiters && !e->delivering && !(e->token && e->pinned_until_ms > now);
}

static void remove_entry(struct intro *in, struct entry *e)
{
    struct entry **pp = &in->buckets[bucket_of(in, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(in, e);
    in->count--;
    drop_token(e);
    wipe_post(e);
    clear_result(e);
    free(e);
}

static int grow(struct intro *in)
{
    size_t n = in->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < in->nbuckets; i++) {
        for (struct entry *e = in->buckets[i], *next; e; e = next) {
            next = e->hnext;
            uint64_t h;
            memcpy(&h, e->key, sizeof h);
            size_t j = (size_t)h & (n - 1);
            e->hnext = b[j];
            b[j] = e;
        }
    }
    free(in->buckets);
    in->buckets = b;
    in->nbuckets = n;
    return 0;
}

static struct entry *insert(struct intro *in, const uint8_t key[32])
{
    uint64_t now = tg_now_ms();
    if (in->count >= TG_INTROSPECT_MAX_ENTRIES) {
        struct entry *e = in->lru_tail;
        for (int steps = 0; e && steps < 64 && !evictable(e, now); steps++)
            e = e->lru_prev;
        if (!e || !evictable(e, now))
            return NULL;
        remove_entry(in, e);
    }
    if (in->count + 1 > in->nbuckets && grow(in) < 0)
        return NULL;
    struct entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->in = in;
    memcpy(e->key, key, 32);
    size_t b = bucket_of(in, key);
    e->hnext = in->buckets[b];
    in->buckets[b] = e;
    in->count++;
    lru_touch(in, e);
    return e;
}

static void on_sweep(struct tg_timer *t, uint64_t now)
{
    struct intro *in = (struct intro *)((char *)t - offsetof(struct intro, sweep));
    tg_timer_schedule(&in->w->wheel, &in->sweep, now + SWEEP_INTERVAL_MS);
    size_t over = in->count > SOFT_MAX_ENTRIES ? in->count - SOFT_MAX_ENTRIES : 0;
    for (struct entry *e = in->lru_tail, *prev; e; e = prev) {
        prev = e->lru_prev;
        if (e->token && e->pinned_until_ms <= now)
            drop_token(e); /* the session(s) it was kept for are gone: no recheck asked for it in time */
        if (!evictable(e, now))
            continue;
        if (!e->have_result || e->valid_until_ms <= now || over > 0) {
            if (over)
                over--;
            remove_entry(in, e);
        }
    }
}

static void intro_free(struct tg_worker *w, void *p)
{
    struct intro *in = p;
    tg_timer_cancel(&w->wheel, &in->sweep);
    tg_curl_loop_free(in->curl); /* pending questions end as UNAVAILABLE: their waiters hear it */
    in->curl = NULL;
    while (in->lru_head) {
        struct entry *e = in->lru_head;
        while (e->waiters) { /* cannot happen after the curl loop ended them, but never leave a waiter hanging */
            struct tg_introspect_wait *wt = e->waiters;
            e->waiters = wt->next;
            struct tg_introspection_result r = {.state = TG_INTROSPECT_UNAVAILABLE, .scope = "", .subject = "", .jti = ""};
            void (*cb)(void *, const struct tg_introspection_result *) = wt->cb;
            void *arg = wt->arg;
            free(wt);
            cb(arg, &r);
        }
        remove_entry(in, e);
    }
    free(in->buckets);
    free(in);
    w->slots[TG_WORKER_SLOT_INTROSPECTION] = NULL;
}

static struct intro *intro_of(struct tg_worker *w)
{
    struct intro *in = w->slots[TG_WORKER_SLOT_INTROSPECTION];
    if (in)
        return in;
    in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->w = w;
    in->nbuckets = 256;
    in->buckets = calloc(in->nbuckets, sizeof *in->buckets);
    in->curl = tg_curl_loop_new(w->loop);
    if (!in->buckets || !in->curl) {
        tg_curl_loop_free(in->curl);
        free(in->buckets);
        free(in);
        return NULL;
    }
    tg_timer_init(&in->sweep, on_sweep);
    tg_timer_schedule(&w->wheel, &in->sweep, tg_now_ms() + SWEEP_INTERVAL_MS);
    w->slots[TG_WORKER_SLOT_INTROSPECTION] = in;
    w->slot_free[TG_WORKER_SLOT_INTROSPECTION] = intro_free;
    return in;
}

/* ---- answers ---------------------------------------------------------------------------------------- */

static void fill_result(const struct entry *e, struct tg_introspection_result *r)
{
    r->state = e->active ? TG_INTROSPECT_ACTIVE : TG_INTROSPECT_INACTIVE;
    r->exp_wall_ms = e->exp_wall_ms;
    r->scope = e->scope ? e->scope : "";
    r->subject = e->subject ? e->subject : "";
    r->jti = e->jti ? e->jti : "";
    r->claims = e->answer;
}

static char *dup_claim(const json_t *answer, const char *name, size_t max)
{
    const json_t *v = json_object_get(answer, name);
    if (!json_is_string(v) || json_string_length(v) > max)
        return NULL;
    return strdup(json_string_value(v));
}

/* Parses an RFC 7662 §2.2 answer into e; -1 when it is not one. */
static int parse_answer(struct entry *e, const struct tg_curl_response *r)
{
    if (r->outcome != TG_CURL_OK || r->status != 200)
        return -1;
    json_error_t jerr;
    json_t *a = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *active = json_object_get(a, "active");
    if (!json_is_object(a) || !json_is_boolean(active)) {
        json_decref(a);
        return -1;
    }
    clear_result(e);
    e->active = json_is_true(active);
    e->exp_wall_ms = 0;
    const json_t *exp = json_object_get(a, "exp");
    if (json_is_integer(exp) && json_integer_value(exp) > 0 && json_integer_value(exp) < 253402300800LL)
        e->exp_wall_ms = (uint64_t)json_integer_value(exp) * 1000u;
    else if (json_is_real(exp) && json_real_value(exp) > 0 && json_real_value(exp) < 253402300800.0)
        e->exp_wall_ms = (uint64_t)(json_real_value(exp) * 1000.0);
    if (e->active && e->exp_wall_ms && e->exp_wall_ms <= tg_wall_ms())
        e->active = 0; /* an expired token is not active, whatever the server says */
    e->scope = dup_claim(a, "scope", 8192);
    e->subject = dup_claim(a, "sub", 1024);
    if (!e->subject)
        e->subject = dup_claim(a, "username", 1024);
    if (!e->subject)
        e->subject = dup_claim(a, "client_id", 1024);
    e->jti = dup_claim(a, "jti", 1024);
    e->have_result = 1;
    uint64_t now = tg_now_ms(), now_wall = tg_wall_ms();
    uint64_t ttl = e->active ? (e->ttl_ms ? e->ttl_ms : DEFAULT_TTL_MS) : INACTIVE_TTL_MS;
    if (e->active && e->exp_wall_ms && e->exp_wall_ms - now_wall < ttl)
        ttl = e->exp_wall_ms - now_wall;
    e->valid_until_ms = now + ttl;
    e->answer = a;
    return 0;
}

static void on_answer(void *arg, const struct tg_curl_response *r)
{
    struct entry *e = arg;
    struct intro *in = e->in;
    e->req = NULL;
    wipe_post(e);
    in->in_flight--;
    struct outage *o = &in->outages[e->outage_slot];
    struct tg_introspection_result res = {.state = TG_INTROSPECT_UNAVAILABLE, .scope = "", .subject = "", .jti = ""};
    if (r->outcome == TG_CURL_ABORTED) {
        /* the worker is ending: not the endpoint's fault */
    } else if (r->outcome != TG_CURL_OK || r->status >= 500 || r->status == 429) {
        o->down_until_ms = tg_now_ms() + tg_backoff_next(&o->backoff);
    } else {
        tg_backoff_reset(&o->backoff);
        o->down_until_ms = 0;
    }
    if (parse_answer(e, r) == 0) {
        fill_result(e, &res);
        if (!e->active)
            drop_token(e); /* no session can live on an inactive token: nothing to recheck */
    } else {
        clear_result(e); /* no stale verdict survives a failed question */
        if (r->outcome != TG_CURL_ABORTED)
            tg_warn("introspection: no usable answer (%s, HTTP %ld)", r->error ? r->error : "unexpected answer",
                    r->status);
    }
    e->delivering = 1;
    while (e->waiters) {
        struct tg_introspect_wait *wt = e->waiters;
        e->waiters = wt->next;
        if (e->waiters)
            e->waiters->prev = NULL;
        void (*cb)(void *, const struct tg_introspection_result *) = wt->cb;
        void *cb_arg = wt->arg;
        free(wt);
        cb(cb_arg, &res);
    }
    e->delivering = 0;
    if (!e->have_result && !e->token && !e->waiters && r->outcome != TG_CURL_ABORTED)
        remove_entry(in, e); /* nothing worth keeping */
}

static struct tg_introspect_wait *add_waiter(struct intro *in, struct entry *e,
                                             void (*cb)(void *, const struct tg_introspection_result *), void *arg)
{
    struct tg_introspect_wait *wt = calloc(1, sizeof *wt);
    if (!wt)
        return NULL;
    wt->e = e;
    wt->in = in;
    wt->cb = cb;
    wt->arg = arg;
    wt->next = e->waiters;
    if (e->waiters)
        e->waiters->prev = wt;
    e->waiters = wt;
    return wt;
}

static uint64_t url_hash(const char *url)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

/* The outage slot of url (the least recently used one is taken over for a new endpoint). */
static int outage_slot(struct intro *in, const char *url, uint64_t now)
{
    uint64_t h = url_hash(url);
    int victim = 0;
    for (int i = 0; i < OUTAGE_SLOTS; i++) {
        if (in->outages[i].url_hash == h) {
            in->outages[i].used_ms = now;
            return i;
        }
        if (in->outages[i].used_ms < in->outages[victim].used_ms)
            victim = i;
    }
    struct outage *o = &in->outages[victim];
    memset(o, 0, sizeof *o);
    o->url_hash = h;
    o->used_ms = now;
    tg_backoff_init(&o->backoff, OUTAGE_INITIAL_MS, OUTAGE_MAX_MS, h ^ (uint64_t)tg_worker_random(in->w) << 1);
    return victim;
}

/* Whether one more question may leave now: the endpoint is not backing off, fewer than MAX_IN_FLIGHT are in
 * flight and the second's bucket has a token. Takes the token. */
static int may_ask(struct intro *in, int slot, uint64_t now)
{
    if (now < in->outages[slot].down_until_ms || in->in_flight >= MAX_IN_FLIGHT)
        return 0;
    if (in->tokens_ms == 0 || now > in->tokens_ms) {
        in->tokens += (double)(now - in->tokens_ms) * MAX_ASKS_PER_SEC / 1000.0;
        if (in->tokens_ms == 0 || in->tokens > MAX_ASKS_PER_SEC)
            in->tokens = MAX_ASKS_PER_SEC;
        in->tokens_ms = now;
    }
    if (in->tokens < 1.0)
        return 0;
    in->tokens -= 1.0;
    return 1;
}

/* Starts the POST for e with token; 0 or -1 (also when the outbound bounds refuse a bounded question: the
 * caller answers as for an unreachable endpoint). A session's recheck is not bounded here — its rate is the
 * sessions' recheck interval, and a refusal would read as "revoked" — but it counts in flight and its failures
 * feed the endpoint's backoff. */
static int ask(struct intro *in, struct entry *e, const struct tg_introspection_cfg *cfg, const char *token,
               size_t len, int bounded)
{
    uint64_t now = tg_now_ms();
    int slot = outage_slot(in, cfg->url, now);
    if (bounded && !may_ask(in, slot, now))
        return -1;
    e->outage_slot = slot;
    static const char prefix[] = "token=", suffix[] = "&token_type_hint=access_token";
    e->post_body = malloc(sizeof prefix + 3 * len + sizeof suffix);
    if (!e->post_body)
        return -1;
    size_t n = sizeof prefix - 1;
    memcpy(e->post_body, prefix, n);
    n += form_encode(token, len, e->post_body + n);
    memcpy(e->post_body + n, suffix, sizeof suffix);
    e->post_len = n + sizeof suffix - 1;
    const char *headers[] = {cfg->auth_header, "Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", NULL};
    struct tg_curl_request_spec spec = {.url = cfg->url, .post_body = e->post_body, .post_len = e->post_len,
                                        .headers = headers, .connect_timeout_ms = 2000,
                                        .timeout_ms = cfg->timeout_ms, .max_body = MAX_ANSWER_BYTES};
    e->ttl_ms = cfg->recheck_ms;
    e->req = tg_curl_request(in->curl, &spec, on_answer, e);
    if (!e->req) {
        wipe_post(e);
        return -1;
    }
    in->in_flight++;
    return 0;
}

static void pin(struct entry *e, const struct tg_introspection_cfg *cfg, const char *token, size_t len)
{
    uint64_t until = tg_now_ms() + 2 * cfg->recheck_ms + PIN_GRACE_MS;
    if (!e->token && token) {
        e->token = malloc(len + 1);
        if (!e->token)
            return;
        memcpy(e->token, token, len);
        e->token[len] = '\0';
        e->token_len = len;
    }
    if (e->token && until > e->pinned_until_ms)
        e->pinned_until_ms = until;
}

int tg_introspect(struct tg_worker *w, const struct tg_introspection_cfg *cfg, const char *token, size_t len,
                  const uint8_t digest[32], unsigned flags, struct tg_introspection_result *now,
                  void (*cb)(void *arg, const struct tg_introspection_result *r), void *arg,
                  struct tg_introspect_wait **wait)
{
    struct intro *in = intro_of(w);
    if (!in || len == 0 || len > MAX_TOKEN_BYTES)
        return -1;
    uint8_t key[32];
    entry_key(cfg, digest, key);
    struct entry *e = find(in, key);
    if (!e && !(e = insert(in, key)))
        return -1;
    lru_touch(in, e);
    int pinning = (flags & TG_INTROSPECT_PIN) && cfg->recheck_ms;
    if (!(flags & TG_INTROSPECT_FRESH) && e->have_result && !e->req && e->valid_until_ms > tg_now_ms()) {
        fill_result(e, now);
        if (pinning && e->active)
            pin(e, cfg, token, len);
        return 1;
    }
    if (pinning) /* kept from now on; dropped again if the answer is "inactive" */
        pin(e, cfg, token, len);
    struct tg_introspect_wait *wt = add_waiter(in, e, cb, arg);
    if (!wt)
        return -1;
    if (!e->req && ask(in, e, cfg, token, len, 1) < 0) {
        e->waiters = wt->next;
        if (e->waiters)
            e->waiters->prev = NULL;
        free(wt);
        return -1;
    }
    *wait = wt;
    return 0;
}

int tg_introspect_recheck(struct tg_worker *w, const struct tg_introspection_cfg *cfg, const uint8_t digest[32],
                          void (*cb)(void *arg, const struct tg_introspection_result *r), void *arg,
                          struct tg_introspect_wait **wait)
{
    struct intro *in = intro_of(w);
    if (!in)
        return -1;
    uint8_t key[32];
    entry_key(cfg, digest, key);
    struct entry *e = find(in, key);
    if (!e || !e->token)
        return -1;
    lru_touch(in, e);
    pin(e, cfg, NULL, 0);
    struct tg_introspect_wait *wt = add_waiter(in, e, cb, arg);
    if (!wt)
        return -1;
    if (!e->req && ask(in, e, cfg, e->token, e->token_len, 0) < 0) {
        e->waiters = wt->next;
        if (e->waiters)
            e->waiters->prev = NULL;
        free(wt);
        return -1;
    }
    *wait = wt;
    return 0;
}

void tg_introspect_cancel(struct tg_introspect_wait *wt)
{
    if (!wt)
        return;
    struct entry *e = wt->e;
    if (wt->prev)
        wt->prev->next = wt->next;
    else
        e->waiters = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
    free(wt);
    /* the question itself goes on: its answer is cached for the next request with this token */
}
