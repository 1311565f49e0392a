/* debug_store.c — see debug_store.h: debug sessions, their filters, their records, their end. */
#include "process/debug_store.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static uint64_t mono_ms(void) { return tg_now_ms(); }

/* The bit of a proxy id in st->proxies (FNV-1a). */
static uint64_t proxy_bit(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (uint64_t)1 << (h & 63);
}

/* under the lock: st->proxies from the live sessions */
static void update_proxies_locked(struct tg_debug_store *st)
{
    uint64_t bits = 0;
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++)
        if (st->s[i].live)
            bits |= st->s[i].proxy[0] ? proxy_bit(st->s[i].proxy) : ~(uint64_t)0;
    atomic_store_explicit(&st->proxies, bits, memory_order_release);
}

/* under the lock */
static void end_session(struct tg_debug_store *st, struct tg_debug_session *s, const char *why)
{
    if (!s->live)
        return;
    s->live = 0;
    s->end_reason = why;
    s->ended_wall_ms = tg_wall_ms();
    atomic_fetch_sub_explicit(&st->active, 1, memory_order_relaxed);
    update_proxies_locked(st);
}

static void expire_locked(struct tg_debug_store *st)
{
    uint64_t now = st->now_ms();
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++)
        if (st->s[i].live && now >= st->s[i].ends_mono_ms)
            end_session(st, &st->s[i], "duration");
}

static int matches(const struct tg_debug_session *s, const char *environment, const char *proxy_id,
                   struct tg_slice path, const struct tg_http_head *req, const char *client_ip)
{
    if (s->environment[0] && strcmp(s->environment, environment) != 0)
        return 0;
    if (s->proxy[0] && strcmp(s->proxy, proxy_id) != 0)
        return 0;
    if (s->path_prefix[0]) {
        size_t n = strlen(s->path_prefix);
        if (path.len < n || memcmp(path.ptr, s->path_prefix, n) != 0)
            return 0;
    }
    if (s->client_ip[0] && (!client_ip || strcmp(s->client_ip, client_ip) != 0))
        return 0;
    if (s->header_name[0]) {
        const struct tg_http_header *h = tg_http_find_header(req, s->header_name);
        if (!h)
            return 0;
        size_t n = strlen(s->header_value);
        if (n && (h->value.len != n || memcmp(h->value.ptr, s->header_value, n) != 0))
            return 0;
    }
    return 1;
}

static uint64_t hook_wants(void *owner, const char *environment, const char *proxy_id, struct tg_slice path,
                           const struct tg_http_head *req, const char *client_ip)
{
    struct tg_debug_store *st = owner;
    uint64_t mask = 0;
    /* no live session is for this proxy: nothing to match, no lock (a session past its duration keeps its bit
     * until a request of its proxy, the admin API or a scrape expires it) */
    if (!(atomic_load_explicit(&st->proxies, memory_order_acquire) & proxy_bit(proxy_id)))
        return 0;
    /* the query string never takes part in a path prefix */
    for (size_t i = 0; i < path.len; i++)
        if (path.ptr[i] == '?') {
            path.len = i;
            break;
        }
    pthread_mutex_lock(&st->lock);
    expire_locked(st);
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++)
        if (st->s[i].live && matches(&st->s[i], environment, proxy_id, path, req, client_ip))
            mask |= (uint64_t)1 << i;
    pthread_mutex_unlock(&st->lock);
    return mask;
}

static uint64_t hook_record(void *owner, uint64_t mask, json_t *txn, int open)
{
    struct tg_debug_store *st = owner;
    uint64_t handle = 0;
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++) {
        struct tg_debug_session *s = &st->s[i];
        if (!(mask & ((uint64_t)1 << i)) || !s->live || json_array_size(s->txns) >= (size_t)s->max_txn)
            continue;
        if (open && !handle)
            handle = ++st->next_handle;
        s->handles[json_array_size(s->txns)] = open ? handle : 0;
        json_array_append(s->txns, txn); /* one object shared by the sessions that matched */
        if (json_array_size(s->txns) >= (size_t)s->max_txn)
            end_session(st, s, "maxTransactions");
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(txn);
    return handle;
}

static void hook_complete(void *owner, uint64_t handle, json_t *websocket)
{
    struct tg_debug_store *st = owner;
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++) {
        struct tg_debug_session *s = &st->s[i];
        if (!s->used)
            continue;
        for (size_t t = 0; t < json_array_size(s->txns); t++)
            if (s->handles[t] == handle) {
                json_t *txn = json_array_get(s->txns, t);
                json_object_set(txn, "websocket", websocket);
                json_object_set_new(txn, "state", json_string("closed"));
                goto done; /* the record is one object for every session that holds it */
            }
    }
done:
    pthread_mutex_unlock(&st->lock);
    json_decref(websocket);
}

void tg_debug_store_init(struct tg_debug_store *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    st->now_ms = mono_ms;
    st->hooks = (struct tg_debug_hooks){
        .owner = st, .active = &st->active, .wants = hook_wants, .record = hook_record, .complete = hook_complete};
}

static void clear_session(struct tg_debug_session *s)
{
    json_decref(s->txns);
    memset(s, 0, sizeof *s);
}

void tg_debug_store_destroy(struct tg_debug_store *st)
{
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++)
        clear_session(&st->s[i]);
    pthread_mutex_destroy(&st->lock);
}

static int copy_field(const json_t *obj, const char *key, char *out, size_t size, char *err, size_t err_size)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= size) {
        snprintf(err, err_size, "%s must be a string shorter than %zu bytes", key, size);
        return -1;
    }
    snprintf(out, size, "%s", json_string_value(v));
    return 0;
}

static int int_field(const json_t *obj, const char *key, int def, int max, int *out, char *err, size_t err_size)
{
    const json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
        snprintf(err, err_size, "%s must be an integer from 1 to %d", key, max);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

json_t *tg_debug_store_start(struct tg_debug_store *st, const json_t *body, char *err, size_t err_size, int *status)
{
    struct tg_debug_session n;
    memset(&n, 0, sizeof n);
    *status = 400;
    if (!json_is_object(body)) {
        snprintf(err, err_size, "the body must be a JSON object");
        return NULL;
    }
    const json_t *header = json_object_get(body, "header");
    if (copy_field(body, "environment", n.environment, sizeof n.environment, err, err_size) ||
        copy_field(body, "proxy", n.proxy, sizeof n.proxy, err, err_size) ||
        copy_field(body, "pathPrefix", n.path_prefix, sizeof n.path_prefix, err, err_size) ||
        copy_field(body, "clientIp", n.client_ip, sizeof n.client_ip, err, err_size) ||
        int_field(body, "durationSeconds", TG_DEBUG_DEFAULT_SECONDS, TG_DEBUG_MAX_SECONDS, &n.duration_s, err,
                  err_size) ||
        int_field(body, "maxTransactions", TG_DEBUG_DEFAULT_TRANSACTIONS, TG_DEBUG_MAX_TRANSACTIONS, &n.max_txn, err,
                  err_size))
        return NULL;
    if (header && !json_is_null(header)) {
        if (!json_is_object(header) ||
            copy_field(header, "name", n.header_name, sizeof n.header_name, err, err_size) ||
            copy_field(header, "value", n.header_value, sizeof n.header_value, err, err_size) || !n.header_name[0]) {
            if (!err[0])
                snprintf(err, err_size, "header must be {\"name\":..., \"value\":...}");
            return NULL;
        }
    }
    if (!n.proxy[0]) {
        snprintf(err, err_size, "proxy is required (NAMESPACE/NAME)");
        return NULL;
    }
    unsigned char rnd[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        if (f)
            fclose(f);
        snprintf(err, err_size, "no randomness for an id");
        *status = 500;
        return NULL;
    }
    fclose(f);
    for (int i = 0; i < 16; i++)
        snprintf(n.id + 2 * i, 3, "%02x", rnd[i]);
    n.used = n.live = 1;
    n.started_wall_ms = tg_wall_ms();

    pthread_mutex_lock(&st->lock);
    expire_locked(st);
    n.ends_mono_ms = st->now_ms() + (uint64_t)n.duration_s * 1000u;
    int slot = -1;
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS && slot < 0; i++)
        if (!st->s[i].used)
            slot = i;
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS && slot < 0; i++) /* evict the session that ended first */
        if (!st->s[i].live && (slot < 0 || st->s[i].ended_wall_ms < st->s[slot].ended_wall_ms))
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&st->lock);
        snprintf(err, err_size, "at most %d debug sessions at once", TG_DEBUG_MAX_SESSIONS);
        *status = 409;
        return NULL;
    }
    clear_session(&st->s[slot]);
    n.txns = json_array();
    st->s[slot] = n;
    atomic_fetch_add_explicit(&st->active, 1, memory_order_relaxed);
    update_proxies_locked(st);
    pthread_mutex_unlock(&st->lock);
    *status = 201;
    return json_pack("{s:s}", "id", n.id);
}

static struct tg_debug_session *find(struct tg_debug_store *st, const char *id)
{
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++)
        if (st->s[i].used && strcmp(st->s[i].id, id) == 0)
            return &st->s[i];
    return NULL;
}

static json_t *describe(const struct tg_debug_session *s)
{
    char started[40];
    tg_format_rfc3339(s->started_wall_ms, started, sizeof started);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:I}", "id", s->id, "environment", s->environment, "proxy",
                          s->proxy, "startedAt", started, "durationSeconds", s->duration_s, "maxTransactions",
                          s->max_txn, "state", s->live ? "recording" : "ended", "recorded",
                          (json_int_t)json_array_size(s->txns));
    if (s->path_prefix[0])
        json_object_set_new(o, "pathPrefix", json_string(s->path_prefix));
    if (s->client_ip[0])
        json_object_set_new(o, "clientIp", json_string(s->client_ip));
    if (s->header_name[0])
        json_object_set_new(o, "header", json_pack("{s:s,s:s}", "name", s->header_name, "value", s->header_value));
    if (!s->live)
        json_object_set_new(o, "endReason", json_string(s->end_reason));
    return o;
}

json_t *tg_debug_store_get(struct tg_debug_store *st, const char *id)
{
    pthread_mutex_lock(&st->lock);
    expire_locked(st);
    struct tg_debug_session *s = find(st, id);
    json_t *o = NULL;
    if (s) {
        o = describe(s);
        /* a deep copy: the records may still change (a WebSocket's end) after the lock is released */
        json_object_set_new(o, "transactions", json_deep_copy(s->txns));
    }
    pthread_mutex_unlock(&st->lock);
    return o;
}

json_t *tg_debug_store_list(struct tg_debug_store *st)
{
    json_t *list = json_array();
    pthread_mutex_lock(&st->lock);
    expire_locked(st);
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++)
        if (st->s[i].used)
            json_array_append_new(list, describe(&st->s[i]));
    pthread_mutex_unlock(&st->lock);
    return json_pack("{s:o}", "sessions", list);
}

int tg_debug_store_delete(struct tg_debug_store *st, const char *id)
{
    pthread_mutex_lock(&st->lock);
    struct tg_debug_session *s = find(st, id);
    if (s) {
        end_session(st, s, "deleted");
        clear_session(s);
    }
    pthread_mutex_unlock(&st->lock);
    return s ? 0 : -1;
}

void tg_debug_store_expire(struct tg_debug_store *st)
{
    if (atomic_load_explicit(&st->active, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&st->lock);
    expire_locked(st);
    pthread_mutex_unlock(&st->lock);
}
