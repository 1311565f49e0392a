/* ws_tunnel.c — the WebSocket relay after a 101: frames pass byte for byte both ways (masking, fragmentation,
 * extensions untouched); frame headers are read only to count messages and bytes, to refuse a message over
 * maxMessageBytes (1009) before any byte of it is forwarded, and to find the frame boundaries where the proxy's
 * own close frames can be injected (idle timeout and max lifetime 1001, shutdown 1001, backend lost 1014).
 * Backpressure: a direction reads only when its destination has taken everything before, so one buffer per
 * direction at most is in flight; an idle session holds none. The credential that admitted the session is
 * enforced for its whole life: expiry (1008 "token expired"), revocation by a new snapshot or by a recheck of
 * the admitting policy (1008 "token revoked"). */
#include "proxy/ws_tunnel.h"

#include "clock.h"
#include "log.h"
#include "proxy/ip_limit.h"
#include "proxy/analytics_record.h"
#include "proxy/debug_capture.h"
#include "proxy/request_metrics.h"
#include "proxy/ws_kernel_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TUNNEL_READS_PER_WAKEUP 16
/* Bytes one direction of one session may read per loop iteration (libuv and HAProxy bound a connection's work per
 * wake-up the same way): a 1 MiB sender then moves 64 KiB and lets every other connection of the worker have its
 * turn before it moves the next, instead of up to 16 × 32 KiB in one go. Level-triggered epoll wakes the loop
 * again for what is left in the socket. */
#ifndef TUNNEL_BYTES_PER_ITERATION /* overridable for measuring (bench/loop_tail.sh): EXTRA_CFLAGS=-D... */
#define TUNNEL_BYTES_PER_ITERATION (64 * 1024)
#endif
#define TUNNEL_CLOSE_LINGER_MS 1000
/* A close frame relayed from one peer must be answered (and the session ended) within this time; a peer that
 * never answers does not hold both sockets until the idle timeout (HAProxy's `timeout client-fin` idea). */
#define TUNNEL_CLOSE_HANDSHAKE_MS 2000
/* What an idle session costs (docs/performance.md "Memory per idle session"): 440 bytes, a 448-byte malloc chunk
 * with its header. A field added here moves every idle session to the next 16-byte chunk size: put what only
 * some sessions need into struct tg_tunnel_rare instead. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct tg_tunnel) <= 440, "struct tg_tunnel grew: see the comment");
/* a direction's validated bytes are in one buffer */
_Static_assert(TG_BUF_SIZE <= UINT16_MAX, "tg_ws_direction.validated is 16 bits");

/* What only some sessions need, allocated only for them (tunnel.rare): an idle session without a credential,
 * debug or analytics record or kernel relay holds the tunnel struct alone. */
struct tg_tunnel_rare {
    struct tg_credential cred;       /* the credential that admitted the session (kind NONE: none) */
    uint64_t cred_expiry_ms;         /* monotonic deadline of cred's expiry (0: none) */
    uint64_t next_recheck_ms;        /* monotonic time of the next introspection recheck (0: none) */
    uint64_t debug_handle;           /* its 101's debug-session record (0: none) */
    struct tg_analytics_capture *analytics; /* its analytics record, written at the end (NULL: off) */
    struct tg_krelay_sess *krelay;   /* its sockets are in the kernel relay's sockmap (NULL: never were) */
    struct tg_ip_limit *ip_limit;    /* where the slot goes back when not env->ip_limit (NULL: there) */
    unsigned char recheck_pending;   /* a recheck is in flight: the object is freed only after its answer */
    char client_ip[TG_IP_TEXT_MAX];  /* the slot's address text when the session's form cannot give it back
                                        ("": it can) */
};

/* The close frames of each enum tg_tunnel_close_reason (code 0: that side gets none). */
static const struct {
    uint16_t to_client, to_backend;
    const char *text;
} close_reasons[] = {
    [TG_TUNNEL_SHUTDOWN] = {TG_WS_CLOSE_GOING_AWAY, TG_WS_CLOSE_GOING_AWAY, "server shutting down"},
    [TG_TUNNEL_PROTOCOL_ERROR] = {TG_WS_CLOSE_PROTOCOL_ERROR, TG_WS_CLOSE_PROTOCOL_ERROR, "protocol error"},
    [TG_TUNNEL_TOO_BIG] = {TG_WS_CLOSE_TOO_BIG, TG_WS_CLOSE_TOO_BIG, "message too big"},
    [TG_TUNNEL_CLIENT_GONE] = {0, TG_WS_CLOSE_GOING_AWAY, "client went away"},
    [TG_TUNNEL_BACKEND_LOST] = {TG_WS_CLOSE_BAD_GATEWAY, 0, "backend connection lost"},
    [TG_TUNNEL_TOKEN_REVOKED] = {TG_WS_CLOSE_POLICY, TG_WS_CLOSE_GOING_AWAY, "token revoked"},
    [TG_TUNNEL_TOKEN_EXPIRED] = {TG_WS_CLOSE_POLICY, TG_WS_CLOSE_GOING_AWAY, "token expired"},
    [TG_TUNNEL_MAX_LIFETIME] = {TG_WS_CLOSE_GOING_AWAY, TG_WS_CLOSE_GOING_AWAY, "max lifetime reached"},
    [TG_TUNNEL_IDLE_TIMEOUT] = {TG_WS_CLOSE_GOING_AWAY, TG_WS_CLOSE_GOING_AWAY, "idle timeout"},
};

static _Atomic uint64_t next_session_id = 1;

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_backend_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_tunnel_timer(struct tg_timer *t, uint64_t now_ms);
static void tunnel_pump(struct tg_tunnel *t);
static int krelay_user_space(struct tg_tunnel *t);
static void krelay_offer(struct tg_tunnel *t);
static void krelay_collect(struct tg_tunnel *t);

const char *tg_closed_by_str(enum tg_closed_by who)
{
    switch (who) {
    case TG_CLOSED_BY_CLIENT: return "client";
    case TG_CLOSED_BY_BACKEND: return "backend";
    case TG_CLOSED_BY_PROXY: return "proxy";
    default: return "";
    }
}

static void free_tunnel(struct tg_deferred *d)
{
    struct tg_tunnel *t = (struct tg_tunnel *)((char *)d - offsetof(struct tg_tunnel, deferred));
    free(t->rare);
    free(t);
}

/* The end of a DONE tunnel's life: the timer's bytes become the deferred-free link (the timer is cancelled). */
static void defer_free_tunnel(struct tg_tunnel *t)
{
    t->deferred.free_fn = free_tunnel;
    tg_worker_defer_free(t->env->w, &t->deferred);
}

static const struct tg_credential *cred_of(const struct tg_tunnel *t)
{
    return t->rare && t->rare->cred.kind != TG_CRED_NONE ? &t->rare->cred : NULL;
}

static struct tg_krelay_sess *krelay_of(const struct tg_tunnel *t) { return t->rare ? t->rare->krelay : NULL; }

static int recheck_pending(const struct tg_tunnel *t) { return t->rare && t->rare->recheck_pending; }

static uint64_t last_activity(const struct tg_tunnel *t)
{
    return atomic_load_explicit(&t->session.last_activity_ms, memory_order_relaxed);
}

static void refresh_timer(struct tg_tunnel *t)
{
    uint64_t deadline = UINT64_MAX;
    if (t->state == TG_TUNNEL_OPEN) {
        if (t->session.proxy->ws_idle_timeout_ms)
            deadline = last_activity(t) + t->session.proxy->ws_idle_timeout_ms;
        if (t->session.proxy->ws_max_lifetime_ms && t->started_ms + t->session.proxy->ws_max_lifetime_ms < deadline)
            deadline = t->started_ms + t->session.proxy->ws_max_lifetime_ms;
        const struct tg_tunnel_rare *r = t->rare;
        if (r && r->cred_expiry_ms && r->cred_expiry_ms < deadline)
            deadline = r->cred_expiry_ms;
        if (r && r->next_recheck_ms && !r->recheck_pending && r->next_recheck_ms < deadline)
            deadline = r->next_recheck_ms;
        if (t->close_started_ms && t->close_started_ms + TUNNEL_CLOSE_HANDSHAKE_MS < deadline)
            deadline = t->close_started_ms + TUNNEL_CLOSE_HANDSHAKE_MS;
    } else {
        deadline = t->closing_deadline_ms;
    }
    struct tg_timer_wheel *wheel = &t->env->w->wheel;
    if (deadline == UINT64_MAX)
        tg_timer_cancel(wheel, &t->timer);
    else if (!tg_timer_is_scheduled(&t->timer) || t->timer.deadline_ms != deadline)
        tg_timer_schedule(wheel, &t->timer, deadline);
}

/* The side allocation, made on first need (NULL when out of memory). */
static struct tg_tunnel_rare *rare_of(struct tg_tunnel *t)
{
    if (!t->rare)
        t->rare = calloc(1, sizeof *t->rare);
    return t->rare;
}

struct tg_tunnel *tg_tunnel_start(const struct tg_tunnel_env *env, const struct tg_tunnel_setup *setup)
{
    struct tg_worker *w = env->w;
    struct tg_tunnel *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->env = env;
    int has_cred = setup->credential && setup->credential->kind != TG_CRED_NONE;
    /* the client's address lives in the session in 17 bytes; a slot taken by a text it cannot give back (not
     * inet_ntop's form: never from today's handshake) keeps that text for its release */
    int ip_text_kept = tg_session_set_client_ip(&t->session, setup->client_ip) != 0 && setup->ip_limit;
    int foreign_limit = setup->ip_limit && setup->ip_limit != env->ip_limit;
    if ((has_cred || setup->debug_handle || setup->analytics || ip_text_kept || foreign_limit) && !rare_of(t)) {
        free(t);
        return NULL; /* nothing moved yet */
    }
    tg_conn_move(w->loop, &t->client, setup->client, on_client_io, t);
    tg_conn_move(w->loop, &t->backend, setup->backend, on_backend_io, t);
    t->snap = setup->snap; /* the session keeps the snapshot its proxy config lives in */
    /* RFC 6455 §5.1, §5.2: clients mask, servers do not, RSV bits only as the accepted extensions allow */
    tg_ws_tracker_set_rules(&t->c2b.tracker, TG_WS_MASK_REQUIRED, setup->ws_rsv);
    tg_ws_tracker_set_rules(&t->b2c.tracker, TG_WS_MASK_FORBIDDEN, setup->ws_rsv);
    t->session.proxy = setup->route->proxy;
    t->session.ep = setup->ep;
    if (!setup->ep_counted) /* the session counts as an active connection of its endpoint */
        atomic_fetch_add_explicit(&setup->ep->active, 1, memory_order_relaxed);
    t->session.id = atomic_fetch_add_explicit(&next_session_id, 1, memory_order_relaxed);
    /* the wall clock is read before the monotonic one: a deadline converted from wall time (token expiry) can
     * then only come late by the gap between the two reads (a preemption), never early */
    uint64_t now_wall = tg_wall_ms();
    t->session.started_wall_ms = now_wall;
    t->session.environment = setup->route->environment;
    t->ip_counted = setup->ip_limit != NULL;
    t->started_ms = tg_now_ms();
    atomic_store_explicit(&t->session.last_activity_ms, t->started_ms, memory_order_relaxed);
    t->session.close_code = 1005; /* "no status" until a close frame says otherwise */
    struct tg_tunnel_rare *r = t->rare;
    if (r) {
        r->debug_handle = setup->debug_handle;
        r->analytics = setup->analytics;
        if (foreign_limit)
            r->ip_limit = setup->ip_limit;
        if (ip_text_kept)
            snprintf(r->client_ip, sizeof r->client_ip, "%s", setup->client_ip);
        if (has_cred) {
            r->cred = *setup->credential;
            if (r->cred.expires_wall_ms)
                r->cred_expiry_ms =
                    t->started_ms + (r->cred.expires_wall_ms > now_wall ? r->cred.expires_wall_ms - now_wall : 0);
            if (r->cred.recheck_interval_ms)
                r->next_recheck_ms = t->started_ms + r->cred.recheck_interval_ms;
        }
    }
    tg_timer_init(&t->timer, on_tunnel_timer);

    tg_session_list_add(env->sessions, &t->session);
    tg_counter_add(&env->counters->ws_sessions_total, 1);
    tg_counter_add(&env->counters->ws_sessions_active, 1);
    refresh_timer(t);
    if (setup->draining) {
        tg_tunnel_close(t, TG_TUNNEL_SHUTDOWN, TG_CLOSED_BY_PROXY);
        return t;
    }
    tunnel_pump(t);
    return t;
}

static void destroy_tunnel(struct tg_tunnel *t)
{
    struct tg_worker *w = t->env->w;
    if (t->state == TG_TUNNEL_DONE)
        return;
    t->state = TG_TUNNEL_DONE;
    tg_timer_cancel(&w->wheel, &t->timer);
    struct tg_tunnel_rare *r = t->rare;
    if (r && r->krelay) { /* kernel relay hook: last counts, then the slots go (before the sockets close) */
        krelay_collect(t);
        tg_krelay_release(r->krelay);
        r->krelay = NULL;
    }
    tg_conn_close(w->loop, &t->client, &w->bufs);
    tg_conn_close(w->loop, &t->backend, &w->bufs);
    atomic_fetch_sub_explicit(&t->session.ep->active, 1, memory_order_relaxed);
    tg_session_list_remove(t->env->sessions, &t->session);
    if (t->ip_counted) {
        char ip[TG_IP_TEXT_MAX];
        if (r && r->client_ip[0])
            snprintf(ip, sizeof ip, "%s", r->client_ip);
        else
            tg_session_client_ip(&t->session, ip);
        tg_ip_limit_release(r && r->ip_limit ? r->ip_limit : t->env->ip_limit, ip);
        t->ip_counted = 0;
    }
    tg_counter_sub(&t->env->counters->ws_sessions_active, 1);
    tg_counter_sub(&t->env->counters->connections_active, 1);
    enum tg_closed_by closed_by = (enum tg_closed_by)t->session.closed_by;
    unsigned close_code = t->session.close_code;
    tg_debug("session %llu closed: code %u by %s, %llu/%llu messages", (unsigned long long)t->session.id,
             close_code, tg_closed_by_str(closed_by),
             (unsigned long long)atomic_load_explicit(&t->session.messages[TG_SESSION_C2B], memory_order_relaxed),
             (unsigned long long)atomic_load_explicit(&t->session.messages[TG_SESSION_B2C], memory_order_relaxed));
    if (r && r->debug_handle)
        tg_debug_capture_ws_closed(t->env->debug, r->debug_handle, &t->session, tg_now_ms() - t->started_ms,
                                   close_code, tg_closed_by_str(closed_by));
    tg_analytics_session_end(r ? r->analytics : NULL, &t->session, tg_now_ms() - t->started_ms, close_code,
                             tg_closed_by_str(closed_by));
    tg_session_metrics(t->env->metrics, w->id, &t->session, tg_now_ms() - t->started_ms, close_code,
                       tg_closed_by_str(closed_by));
    if (r)
        r->analytics = NULL;
    if (recheck_pending(t))
        return; /* the recheck's answer frees it (on_recheck_done) */
    tg_snapshot_unref(t->snap);
    t->snap = NULL;
    defer_free_tunnel(t);
}

/* Starts a proxy-initiated close: nothing more is relayed after the frames in flight; the reason's close frames go
 * to the client and/or backend (code 0 = that side gets none, e.g. because it is gone). */
void tg_tunnel_close(struct tg_tunnel *t, enum tg_tunnel_close_reason why, enum tg_closed_by closed_by)
{
    if (t->state != TG_TUNNEL_OPEN)
        return;
    t->state = TG_TUNNEL_CLOSING;
    if (t->session.closed_by == TG_CLOSED_BY_NONE)
        t->session.closed_by = (uint8_t)closed_by;
    t->close_reason = (uint8_t)why;
    uint16_t code_to_client = close_reasons[why].to_client;
    t->session.close_code = code_to_client ? code_to_client : 1006;
    t->closing_deadline_ms = tg_now_ms() + TUNNEL_CLOSE_LINGER_MS; /* replaces close_started_ms (OPEN only) */
    t->b2c.inject_pending = code_to_client != 0;            /* toward the client */
    t->c2b.inject_pending = close_reasons[why].to_backend != 0; /* toward the backend */
    for (struct tg_ws_direction *d = &t->c2b; d; d = d == &t->c2b ? &t->b2c : NULL) {
        if (tg_ws_tracker_at_boundary(&d->tracker))
            d->stop = 1;
        else
            d->stop_at_boundary = 1;
    }
    refresh_timer(t);
    tunnel_pump(t);
}

/* Reads the close code of a close frame whose header just ended at buf[hdr_end], when its payload is there. */
static uint16_t peek_close_code(const struct tg_ws_frame_header *h, const uint8_t *payload, size_t avail)
{
    if (h->payload_len < 2 || avail < 2)
        return h->payload_len == 0 ? 1005 : 0;
    uint8_t b0 = payload[0], b1 = payload[1];
    if (h->masked) {
        b0 ^= h->mask[0];
        b1 ^= h->mask[1];
    }
    return (uint16_t)((b0 << 8) | b1);
}

/* A close frame's header from this direction's source was checked: the close handshake's clock starts, and
 * the first close says who ended the session and with which code. */
static void note_close_frame(struct tg_tunnel *t, struct tg_ws_direction *d, const struct tg_ws_frame_header *h,
                             const uint8_t *payload, size_t avail, int from_client)
{
    if (d->close_seen)
        return;
    d->close_seen = 1;
    if (t->state == TG_TUNNEL_OPEN && !t->close_started_ms) { /* (closing: the closing deadline is in force) */
        t->close_started_ms = tg_worker_now_ms(t->env->w);
        refresh_timer(t);
    }
    uint16_t code = peek_close_code(h, payload, avail);
    if (t->session.closed_by == TG_CLOSED_BY_NONE) {
        t->session.closed_by = from_client ? TG_CLOSED_BY_CLIENT : TG_CLOSED_BY_BACKEND;
        if (code)
            t->session.close_code = code;
    }
}

/* Counts what one validation pass let through: once per pass, not per frame. */
static void count_relayed(struct tg_tunnel *t, int from_client, size_t bytes, uint64_t messages)
{
    int dir = from_client ? TG_SESSION_C2B : TG_SESSION_B2C;
    struct tg_counters *m = t->env->counters;
    tg_counter_add(&t->session.bytes[dir], bytes);
    tg_counter_add(from_client ? &m->ws_bytes_c2b : &m->ws_bytes_b2c, bytes);
    if (messages) {
        tg_counter_add(&t->session.messages[dir], messages);
        tg_counter_add(from_client ? &m->ws_messages_c2b : &m->ws_messages_b2c, messages);
    }
}

static void close_protocol_error(struct tg_tunnel *t, int from_client)
{
    tg_tunnel_close(t, TG_TUNNEL_PROTOCOL_ERROR, from_client ? TG_CLOSED_BY_CLIENT : TG_CLOSED_BY_BACKEND);
}

static void close_too_big(struct tg_tunnel *t, struct tg_ws_direction *d)
{
    d->stop = 1; /* refused before forwarding the frame: the destination stays at a frame boundary */
    tg_tunnel_close(t, TG_TUNNEL_TOO_BIG, TG_CLOSED_BY_PROXY);
}

/* validate_input while a proxy close waits for the current frame's end: event by event, so that validation stops
 * exactly at the first frame boundary (the rare path: only a closing session takes it). */
static int validate_to_boundary(struct tg_tunnel *t, struct tg_ws_direction *d, struct tg_conn *src, int from_client)
{
    struct tg_buf *in = src->in;
    uint64_t max = t->session.proxy->ws_max_message_bytes;
    while (!d->stop && d->validated < tg_buf_len(in)) {
        const uint8_t *p = (const uint8_t *)tg_buf_start(in) + d->validated;
        size_t len = tg_buf_len(in) - d->validated;
        struct tg_ws_track_event ev;
        if (tg_ws_tracker_feed(&d->tracker, p, len, &ev) != TG_WS_TRACK_OK) {
            close_protocol_error(t, from_client);
            return -1;
        }
        if (ev.frame_started) {
            const struct tg_ws_frame_header *h = &ev.header;
            int data_frame = h->opcode == TG_WS_TEXT || h->opcode == TG_WS_BINARY || h->opcode == TG_WS_CONT;
            if (data_frame && max && ev.message_bytes > max) {
                close_too_big(t, d);
                return -1;
            }
            if (h->opcode == TG_WS_CLOSE)
                note_close_frame(t, d, h, p + ev.consumed, len - ev.consumed, from_client);
        }
        if (ev.consumed == 0 && ev.need_more)
            break;
        d->validated += (uint16_t)ev.consumed;
        count_relayed(t, from_client, ev.consumed, (uint64_t)ev.message_ended);
        if (ev.frame_ended) {
            d->stop = 1;
            d->stop_at_boundary = 0;
        }
        if (ev.need_more)
            break;
    }
    return 0;
}

/* Validates the unvalidated bytes of src->in: all the whole frames of a read in one scan (tg_ws_tracker_scan),
 * stopping only at a close frame's header (its code is noted), an incomplete header or the end. Returns -1 on a
 * protocol error or an over-limit message (the tunnel is then closing; the frames before the bad one still
 * go out, and the bad one never does). */
static int validate_input(struct tg_tunnel *t, struct tg_ws_direction *d, struct tg_conn *src, int from_client)
{
    if (d->stop_at_boundary)
        return validate_to_boundary(t, d, src, from_client);
    struct tg_buf *in = src->in;
    uint64_t max = t->session.proxy->ws_max_message_bytes;
    size_t bytes = 0;
    uint64_t messages = 0;
    while (!d->stop && d->validated < tg_buf_len(in)) {
        const uint8_t *p = (const uint8_t *)tg_buf_start(in) + d->validated;
        size_t len = tg_buf_len(in) - d->validated;
        struct tg_ws_scan sc;
        enum tg_ws_track_result r = tg_ws_tracker_scan(&d->tracker, p, len, max, &sc);
        d->validated += (uint16_t)sc.consumed;
        bytes += sc.consumed;
        messages += sc.messages;
        if (r != TG_WS_TRACK_OK || sc.stop == TG_WS_SCAN_TOO_BIG) {
            count_relayed(t, from_client, bytes, messages);
            if (r != TG_WS_TRACK_OK)
                close_protocol_error(t, from_client);
            else
                close_too_big(t, d);
            return -1;
        }
        if (sc.stop != TG_WS_SCAN_CLOSE)
            break; /* the input is used up, or it ends inside a header */
        note_close_frame(t, d, &sc.header, p + sc.consumed, len - sc.consumed, from_client);
    }
    count_relayed(t, from_client, bytes, messages);
    return 0;
}

/* Moves what it can from src to dst. Returns -1 when the tunnel was destroyed. */
static int pump_direction(struct tg_tunnel *t, struct tg_worker *w, struct tg_ws_direction *d, struct tg_conn *src,
                          struct tg_conn *dst, int from_client)
{
    int reads = 0;
    for (;;) {
        if (dst->out) { /* the 101 head, or an injected close frame, goes before anything else */
            int r = tg_conn_flush_buf(dst, dst->out);
            if (r < 0)
                return 0; /* dst failed: noticed by its own direction's read */
            if (r == 0)
                return 0;
            tg_buf_put(&w->bufs, dst->out);
            dst->out = NULL;
        }
        if (d->validated > 0) {
            if (dst->fd < 0 || dst->io_error) {
                tg_buf_consume(src->in, d->validated); /* nowhere to go */
                d->validated = 0;
            } else {
                if (!dst->writable)
                    return 0;
                ssize_t n = tg_conn_write(dst, tg_buf_start(src->in), d->validated);
                if (n < 0)
                    return 0;
                tg_buf_consume(src->in, (size_t)n);
                d->validated -= (uint16_t)n;
                if (d->validated > 0)
                    return 0;
            }
        }
        if (d->stop && tg_buf_len(src->in) > 0 && d->validated == 0)
            tg_buf_consume(src->in, tg_buf_len(src->in)); /* after a proxy close: frames past the boundary drop */
        if (d->inject_pending && d->stop && d->validated == 0 && !d->injected && dst->fd >= 0 && !dst->io_error) {
            uint8_t frame[140];
            uint8_t mask[4];
            uint32_t r = tg_worker_random(w);
            memcpy(mask, &r, sizeof mask);
            /* frames toward the backend are client-to-server frames and must be masked (RFC 6455 §5.3) */
            uint16_t code = from_client ? close_reasons[t->close_reason].to_backend : close_reasons[t->close_reason].to_client;
            size_t n = tg_ws_build_close(frame, code, close_reasons[t->close_reason].text, from_client ? mask : NULL);
            if (!dst->out && !(dst->out = tg_buf_get(&w->bufs)))
                return 0;
            tg_buf_append(dst->out, frame, n);
            d->injected = 1;
            d->inject_pending = 0;
            continue;
        }
        if (tg_buf_len(src->in) > d->validated && !d->stop) {
            size_t before = d->validated;
            if (validate_input(t, d, src, from_client) < 0)
                return t->state == TG_TUNNEL_DONE ? -1 : 0;
            if (d->validated > before)
                continue;
        }
        if (src->in && tg_buf_len(src->in) == 0) {
            tg_buf_put(&w->bufs, src->in);
            src->in = NULL;
        }
        if (d->eof || src->fd < 0 || !src->readable || reads >= TUNNEL_READS_PER_WAKEUP)
            return 0;
        uint32_t iteration = tg_worker_iteration(w);
        if (t->budget_iteration != iteration) { /* a new iteration: both directions start afresh */
            t->budget_iteration = iteration;
            t->c2b.budget_used = t->b2c.budget_used = 0;
        }
        if (d->budget_used >= TUNNEL_BYTES_PER_ITERATION)
            return 0; /* this iteration's share is used: the rest waits for the next wake-up */
        if (!src->in && !(src->in = tg_buf_get(&w->bufs)))
            return 0;
        if (tg_buf_room(src->in) < 16)
            tg_buf_compact(src->in);
        ssize_t n = tg_conn_read(src, tg_buf_end(src->in), tg_buf_room(src->in));
        reads++;
        if (n > 0) {
            src->in->tail += (uint32_t)n;
            d->budget_used += (uint32_t)n;
            atomic_store_explicit(&t->session.last_activity_ms, tg_worker_now_ms(w), memory_order_relaxed);
            continue;
        }
        if (n == TG_IO_AGAIN)
            continue; /* releases an empty buffer on the way out */
        d->eof = 1;   /* EOF or error */
    }
}

/* Decides what the end of one side's input means for the session. */
static void on_side_ended(struct tg_tunnel *t, int client_side)
{
    struct tg_ws_direction *d = client_side ? &t->c2b : &t->b2c;
    if (t->state == TG_TUNNEL_OPEN) {
        if (d->close_seen) {
            /* the side said goodbye properly; finish once the other side has its bytes */
            t->state = TG_TUNNEL_FINISHING;
            t->closing_deadline_ms = tg_now_ms() + TUNNEL_CLOSE_LINGER_MS; /* replaces close_started_ms */
            refresh_timer(t);
        } else if (client_side) {
            /* the client vanished without a close frame: the backend hears "going away" */
            t->session.closed_by = TG_CLOSED_BY_CLIENT;
            tg_tunnel_close(t, TG_TUNNEL_CLIENT_GONE, TG_CLOSED_BY_CLIENT);
            t->session.close_code = 1006;
        } else {
            /* backend connection lost: the client hears 1014 (DESIGN.md) */
            tg_tunnel_close(t, TG_TUNNEL_BACKEND_LOST, TG_CLOSED_BY_BACKEND);
        }
    }
}

static int all_flushed(const struct tg_tunnel *t)
{
    return !t->client.out && !t->backend.out && t->c2b.validated == 0 && t->b2c.validated == 0 &&
           !t->c2b.inject_pending && !t->b2c.inject_pending;
}

/* A relayed close handshake is complete and flushed (all_flushed): the client's close frame went to the backend,
 * the backend's to the client, and the backend — the server, which closes TCP first (RFC 6455 §7.1.1) — has sent
 * its FIN. The proxy, the client's server, may then close both sockets at once, as HAProxy does, instead of
 * shutting their write sides and waiting for the client's FIN (one more wake-up, a recv and two shutdowns):
 * everything written is in the kernel and goes out before our FIN (no SO_LINGER). What would make close(2) send
 * an RST, and could destroy the close frame before the client reads it, is input left unread: the backend's
 * socket has none (its FIN was read, nothing follows a FIN); the client's is checked with one ioctl (after its
 * close frame a client sends nothing, RFC 6455 §5.5.1; one that does — or a TLS client, whose close_notify
 * is still to come — gets the patient path below). */
static int handshake_over(const struct tg_tunnel *t)
{
    return t->state == TG_TUNNEL_FINISHING && t->c2b.close_seen && t->b2c.close_seen && t->b2c.eof &&
           !t->c2b.eof && t->backend.fd >= 0 && !t->backend.io_error && t->client.fd >= 0 && !t->client.io_error &&
           tg_ws_tracker_at_boundary(&t->c2b.tracker) && (!t->client.in || tg_buf_len(t->client.in) == 0) &&
           tg_conn_input_drained(&t->client);
}

static void set_interest(struct tg_tunnel *t, struct ev_loop *loop)
{
    /* a side is read while what it sent before has been taken by the other side (backpressure) */
    int client_ev = 0, backend_ev = 0;
    if (!t->c2b.eof && t->c2b.validated == 0 && !t->backend.out)
        client_ev |= EV_READ;
    if (!t->b2c.eof && t->b2c.validated == 0 && !t->client.out)
        backend_ev |= EV_READ;
    if (t->client.out || t->b2c.validated > 0)
        client_ev |= EV_WRITE;
    if (t->backend.out || t->c2b.validated > 0)
        backend_ev |= EV_WRITE;
    tg_conn_want(loop, &t->client, client_ev);
    tg_conn_want(loop, &t->backend, backend_ev);
}

static void tunnel_pump(struct tg_tunnel *t)
{
    struct tg_worker *w = t->env->w;
    if (krelay_of(t) && !krelay_user_space(t))
        return; /* kernel relay hook: the kernel relays, or is handing the session back (TG_KRELAY_BACK pumps) */
    for (int round = 0; round < 4 && t->state != TG_TUNNEL_DONE; round++) {
        if (pump_direction(t, w, &t->c2b, &t->client, &t->backend, 1) < 0)
            return;
        if (pump_direction(t, w, &t->b2c, &t->backend, &t->client, 0) < 0)
            return;
        if (t->state == TG_TUNNEL_DONE)
            return;
        int ended = 0;
        if (t->c2b.eof && t->c2b.validated == 0 && t->state == TG_TUNNEL_OPEN) {
            on_side_ended(t, 1);
            ended = 1;
        }
        if (t->b2c.eof && t->b2c.validated == 0 && t->state == TG_TUNNEL_OPEN) {
            on_side_ended(t, 0);
            ended = 1;
        }
        if (!ended)
            break;
    }
    if (t->state == TG_TUNNEL_DONE)
        return;
    if (t->state != TG_TUNNEL_OPEN && all_flushed(t)) {
        if (handshake_over(t)) {
            if (t->backend.tls && !t->backend.write_shut) /* a TLS backend still gets our close_notify */
                t->backend.tp->shutdown_write(&t->backend);
            destroy_tunnel(t); /* close(2) both: our FIN follows the close frame, no shutdown, no wait */
            return;
        }
        /* both close handshakes relayed or injected and flushed: end each side once its input ended,
         * shutting our write side first so peers see the FIN after the close frame */
        if (t->state == TG_TUNNEL_CLOSING || t->state == TG_TUNNEL_FINISHING) {
            if (!t->client.write_shut && t->client.fd >= 0) {
                t->client.tp->shutdown_write(&t->client);
                t->client.write_shut = 1;
            }
            if (!t->backend.write_shut && t->backend.fd >= 0) {
                t->backend.tp->shutdown_write(&t->backend);
                t->backend.write_shut = 1;
            }
        }
        if ((t->c2b.eof || t->client.fd < 0) && (t->b2c.eof || t->backend.fd < 0)) {
            destroy_tunnel(t);
            return;
        }
    }
    krelay_offer(t); /* kernel relay hook: an idle session at frame boundaries both ways may move there */
    set_interest(t, w->loop);
}

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_tunnel *t = io->data;
    tg_conn_note_events(&t->client, revents);
    tunnel_pump(t);
}

static void on_backend_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_tunnel *t = io->data;
    tg_conn_note_events(&t->backend, revents);
    tunnel_pump(t);
}

static void close_revoked(struct tg_tunnel *t) { tg_tunnel_close(t, TG_TUNNEL_TOKEN_REVOKED, TG_CLOSED_BY_PROXY); }

static void on_recheck_done(void *arg, int revoked)
{
    struct tg_tunnel *t = arg;
    t->rare->recheck_pending = 0;
    if (t->state == TG_TUNNEL_DONE) { /* ended while the recheck was in flight */
        tg_snapshot_unref(t->snap);
        t->snap = NULL;
        defer_free_tunnel(t);
        return;
    }
    if (revoked) {
        close_revoked(t);
        return;
    }
    t->rare->next_recheck_ms = tg_now_ms() + t->rare->cred.recheck_interval_ms;
    refresh_timer(t);
}

/* Asks the policy that admitted the session whether its credential is still good (introspection). */
static void start_recheck(struct tg_tunnel *t)
{
    struct tg_tunnel_rare *r = t->rare; /* a recheck is due: the session has a credential */
    const struct tg_compiled_policy *p =
        r->cred.policy_index < t->session.proxy->num_policies ? &t->session.proxy->policies[r->cred.policy_index] : NULL;
    if (!p || !p->type->recheck) {
        r->next_recheck_ms = 0;
        return;
    }
    r->recheck_pending = 1;
    p->type->recheck(p->state, t->env->w, &r->cred, on_recheck_done, t);
}

static struct tg_tunnel *tunnel_of(struct tg_session *s)
{
    return (struct tg_tunnel *)((char *)s - offsetof(struct tg_tunnel, session));
}

void tg_tunnels_check_credentials(const struct tg_tunnel_env *env, const struct tg_snapshot *snap)
{
    /* One pass under the lock marks the victims; closing happens outside it (closing may unlink sessions).
     * Linear in the sessions of the worker, however many share the revoked credential. */
    size_t cap = 0, n = 0;
    struct tg_tunnel **victims = NULL;
    pthread_mutex_lock(&env->sessions->lock);
    for (struct tg_session *s = env->sessions->head; s; s = s->next) {
        struct tg_tunnel *t = tunnel_of(s);
        const struct tg_credential *cred = cred_of(t);
        if (!cred || t->state != TG_TUNNEL_OPEN)
            continue;
        const struct tg_proxy_cfg *px = tg_snapshot_find_proxy(snap, t->session.proxy->id);
        if (!px || cred->policy_index >= px->num_policies)
            continue; /* the proxy left (or changed shape): established sessions are not disturbed */
        const struct tg_compiled_policy *p = &px->policies[cred->policy_index];
        const struct tg_compiled_policy *old = &t->session.proxy->policies[cred->policy_index];
        if (p->type != old->type || !p->type->credential_revoked || !p->type->credential_revoked(p->state, cred))
            continue;
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 64;
            struct tg_tunnel **grown = realloc(victims, grown_cap * sizeof *grown);
            if (!grown)
                break; /* out of memory: the rest are found at the next swap */
            victims = grown;
            cap = grown_cap;
        }
        victims[n++] = t;
    }
    pthread_mutex_unlock(&env->sessions->lock);
    for (size_t i = 0; i < n; i++)
        close_revoked(victims[i]); /* closing never frees another session: each victim is still valid */
    free(victims);
}

/* The environment name in px equal to env (the session keeps pointing into the snapshot it holds). */
static const char *same_environment(const struct tg_proxy_cfg *px, const char *env)
{
    for (size_t i = 0; i < px->num_environments; i++)
        if (env && strcmp(px->environments[i], env) == 0)
            return px->environments[i];
    return NULL;
}

void tg_tunnels_follow(const struct tg_tunnel_env *env, struct tg_snapshot *snap)
{
    /* Under the list's lock, because /sessions reads session.proxy and session.environment from the admin
     * thread; the old references are dropped after it (the last one frees a snapshot). */
    size_t cap = 0, n = 0;
    struct tg_snapshot **old = NULL;
    pthread_mutex_lock(&env->sessions->lock);
    for (struct tg_session *s = env->sessions->head; s; s = s->next) {
        struct tg_tunnel *t = tunnel_of(s);
        if (t->snap == snap || t->state == TG_TUNNEL_DONE || recheck_pending(t))
            continue; /* a recheck in flight runs on the old proxy's policy state: follow at the next swap */
        const struct tg_proxy_cfg *px = tg_snapshot_find_proxy(snap, t->session.proxy->id);
        const char *environment = px ? same_environment(px, t->session.environment) : NULL;
        if (!environment)
            continue;
        const struct tg_credential *cred = cred_of(t);
        if (cred && (cred->policy_index >= px->num_policies ||
                     px->policies[cred->policy_index].type != t->session.proxy->policies[cred->policy_index].type))
            continue;
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 64;
            struct tg_snapshot **grown = realloc(old, grown_cap * sizeof *grown);
            if (!grown)
                break; /* out of memory: the rest follow at the next swap */
            old = grown;
            cap = grown_cap;
        }
        old[n++] = t->snap;
        t->snap = tg_snapshot_ref(snap);
        t->session.proxy = px;
        t->session.environment = environment;
    }
    pthread_mutex_unlock(&env->sessions->lock);
    for (size_t i = 0; i < n; i++)
        tg_snapshot_unref(old[i]);
    free(old);
    /* deadlines follow the new settings */
    for (struct tg_session *s = env->sessions->head; s; s = s->next)
        if (tunnel_of(s)->state == TG_TUNNEL_OPEN) {
            refresh_timer(tunnel_of(s));
            if (krelay_of(tunnel_of(s))) /* kernel relay hook: the message limit follows too */
                tg_krelay_set_limit(krelay_of(tunnel_of(s)), tunnel_of(s)->session.proxy->ws_max_message_bytes);
        }
}

static void on_tunnel_timer(struct tg_timer *timer, uint64_t now_ms)
{
    struct tg_tunnel *t = (struct tg_tunnel *)((char *)timer - offsetof(struct tg_tunnel, timer));
    if (krelay_of(t))
        krelay_collect(t); /* kernel relay hook: its last activity moves the idle deadline */
    if (t->state != TG_TUNNEL_OPEN) {
        if (now_ms >= t->closing_deadline_ms)
            destroy_tunnel(t); /* a peer that does not finish its side in time is cut */
        else
            refresh_timer(t);
        return;
    }
    const struct tg_proxy_cfg *px = t->session.proxy;
    if (t->close_started_ms && now_ms >= t->close_started_ms + TUNNEL_CLOSE_HANDSHAKE_MS) {
        destroy_tunnel(t); /* the close was relayed but never answered: end both connections */
        return;
    }
    const struct tg_tunnel_rare *r = t->rare;
    if (r && r->cred_expiry_ms && now_ms >= r->cred_expiry_ms) {
        tg_tunnel_close(t, TG_TUNNEL_TOKEN_EXPIRED, TG_CLOSED_BY_PROXY);
        return;
    }
    if (r && r->next_recheck_ms && !r->recheck_pending && now_ms >= r->next_recheck_ms) {
        start_recheck(t);
        refresh_timer(t);
        return;
    }
    if (px->ws_max_lifetime_ms && now_ms >= t->started_ms + px->ws_max_lifetime_ms) {
        tg_tunnel_close(t, TG_TUNNEL_MAX_LIFETIME, TG_CLOSED_BY_PROXY);
        return;
    }
    if (px->ws_idle_timeout_ms && now_ms >= last_activity(t) + px->ws_idle_timeout_ms) {
        tg_tunnel_close(t, TG_TUNNEL_IDLE_TIMEOUT, TG_CLOSED_BY_PROXY);
        return;
    }
    refresh_timer(t); /* activity moved the deadline: the wheel entry follows lazily */
}

void tg_tunnels_drain(const struct tg_tunnel_env *env)
{
    /* one at a time: closing may destroy a tunnel (and unlink it) */
    for (;;) {
        struct tg_tunnel *victim = NULL;
        pthread_mutex_lock(&env->sessions->lock);
        for (struct tg_session *s = env->sessions->head; s; s = s->next)
            if (tunnel_of(s)->state == TG_TUNNEL_OPEN) {
                victim = tunnel_of(s);
                break;
            }
        pthread_mutex_unlock(&env->sessions->lock);
        if (!victim)
            return;
        tg_tunnel_close(victim, TG_TUNNEL_SHUTDOWN, TG_CLOSED_BY_PROXY);
    }
}

void tg_tunnels_destroy_all(const struct tg_tunnel_env *env)
{
    /* destroying unlinks (under the lock): take the head each time, outside the lock */
    for (;;) {
        pthread_mutex_lock(&env->sessions->lock);
        struct tg_session *s = env->sessions->head;
        pthread_mutex_unlock(&env->sessions->lock);
        if (!s)
            return;
        destroy_tunnel(tunnel_of(s));
    }
}

/* ---- Kernel relay hooks (--kernel-relay, proxy/ws_kernel_relay.h). An OPEN session idle at frame boundaries
 * both ways (everything read was written, no partial header kept) is offered to the kernel, which then relays
 * its valid data frames socket to socket; the sockets stay watched for reading, and the first event on either
 * (a frame the kernel handed up: close, a rule broken, a limit; or EOF) — or any proxy close, which pumps —
 * takes the whole session back before user space reads or writes a byte: tunnel_pump waits until both peers
 * have taken what the kernel relayed, then the trackers continue from the kernel's state. Counts and the last
 * activity come from the BPF map: at each tick of the relay's own timer, at this tunnel's timer, at the end. */

static void krelay_collect(struct tg_tunnel *t)
{
    struct tg_krelay_counts c;
    tg_krelay_collect(t->rare->krelay, &c);
    struct tg_counters *m = t->env->counters;
    tg_counter_add(&t->session.bytes[TG_SESSION_C2B], c.bytes[0]);
    tg_counter_add(&t->session.bytes[TG_SESSION_B2C], c.bytes[1]);
    tg_counter_add(&t->session.messages[TG_SESSION_C2B], c.messages[0]);
    tg_counter_add(&t->session.messages[TG_SESSION_B2C], c.messages[1]);
    tg_counter_add(&m->ws_bytes_c2b, c.bytes[0]);
    tg_counter_add(&m->ws_bytes_b2c, c.bytes[1]);
    tg_counter_add(&m->ws_messages_c2b, c.messages[0]);
    tg_counter_add(&m->ws_messages_b2c, c.messages[1]);
    if (c.last_activity_ms > last_activity(t))
        atomic_store_explicit(&t->session.last_activity_ms, c.last_activity_ms, memory_order_relaxed);
}

static void krelay_resume(struct tg_tunnel *t)
{
    krelay_collect(t);
    tg_krelay_sync_trackers(t->rare->krelay, &t->c2b.tracker, &t->b2c.tracker);
    t->client.readable = t->backend.readable = 1; /* what came while unwatched is read now (EAGAIN is fine) */
}

/* 1 when user space relays the session (again): the pump may go on. */
static int krelay_user_space(struct tg_tunnel *t)
{
    struct tg_krelay_sess *kr = t->rare->krelay;
    if (!tg_krelay_in_kernel(kr))
        return 1;
    if (t->state == TG_TUNNEL_OPEN && !tg_krelay_has_input(kr))
        return 0; /* a stale readiness (data the kernel took after the event was queued): stay there */
    if (tg_krelay_take_back(kr, tg_now_ms())) {
        krelay_resume(t);
        return 1;
    }
    tg_conn_want(t->env->w->loop, &t->client, 0); /* level-triggered: nothing until TG_KRELAY_BACK */
    tg_conn_want(t->env->w->loop, &t->backend, 0);
    return 0;
}

static void on_krelay(void *owner, enum tg_krelay_event ev)
{
    struct tg_tunnel *t = owner;
    if (ev == TG_KRELAY_BACK) {
        krelay_resume(t);
        tunnel_pump(t);
        return;
    }
    krelay_collect(t);
}

static void krelay_offer(struct tg_tunnel *t)
{
    if (t->krelay_offered || t->state != TG_TUNNEL_OPEN || !tg_krelay_requested())
        return;
    if (!all_flushed(t) || (t->client.in && tg_buf_len(t->client.in)) || (t->backend.in && tg_buf_len(t->backend.in)) ||
        t->c2b.eof || t->b2c.eof || t->c2b.close_seen || t->b2c.close_seen || t->close_started_ms ||
        t->client.fd < 0 || t->backend.fd < 0 || !tg_ws_tracker_at_boundary(&t->c2b.tracker) ||
        !tg_ws_tracker_at_boundary(&t->b2c.tracker))
        return; /* not now: at a later pump */
    t->krelay_offered = 1;
    struct tg_tunnel_rare *r = rare_of(t);
    if (!r)
        return; /* out of memory: the session stays in user space */
    struct tg_krelay_offer o = {
        .client_fd = t->client.fd, .backend_fd = t->backend.fd,
        .tls = t->client.tls != NULL || t->backend.tls != NULL,
        .c2b = &t->c2b.tracker, .b2c = &t->b2c.tracker,
        .max_message = t->session.proxy->ws_max_message_bytes, .rsv = t->c2b.tracker.rsv_allowed,
        .wheel = &t->env->w->wheel, .cb = on_krelay, .owner = t,
        .session_id = t->session.id, .kr_slot1_out = &t->session.kr_slot1,
    };
    r->krelay = tg_krelay_offer(&o);
}
