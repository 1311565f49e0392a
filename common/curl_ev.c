/* curl_ev.c — see curl_ev.h. The socket callback keeps one ev_io per socket libcurl wants watched (attached with
 * curl_multi_assign, and listed for the final cleanup); the timer callback arms one ev_timer; both events end
 * in curl_multi_socket_action and, once curl is off the stack, a sweep of finished transfers. */
#include "curl_ev.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sock_watch {
    ev_io io; /* first: the ev_io callback gets the watch back from its watcher */
    struct tg_curl_ev *ev;
    struct sock_watch *next, *prev;
};

struct tg_curl_ev {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    struct tg_curl_ev_hooks hooks;
    void *ud;
    int depth;                  /* > 0 while curl_multi_socket_action is on the stack */
    struct sock_watch *watches; /* every socket watch, for the final cleanup */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void unlink_watch(struct tg_curl_ev *ev, struct sock_watch *sw)
{
    if (sw->prev)
        sw->prev->next = sw->next;
    else
        ev->watches = sw->next;
    if (sw->next)
        sw->next->prev = sw->prev;
    sw->next = sw->prev = NULL;
}

/* Hands each finished transfer back to its owner, out of the multi handle (the message is read before the
 * removal, which invalidates it). */
static void sweep(struct tg_curl_ev *ev)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(ev->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode result = m->data.result;
        void *req = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
        curl_multi_remove_handle(ev->multi, easy);
        if (req)
            ev->hooks.done(ev->ud, req, result);
    }
}

static void do_action(struct tg_curl_ev *ev, curl_socket_t fd, int flags)
{
    int running = 0;
    ev->depth++;
    curl_multi_socket_action(ev->multi, fd, flags, &running);
    ev->depth--;
    if (ev->depth)
        return;
    if (ev->hooks.settle)
        ev->hooks.settle(ev->ud);
    sweep(ev);
    if (ev->hooks.settle)
        ev->hooks.settle(ev->ud);
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct sock_watch *sw = (struct sock_watch *)io;
    int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    do_action(sw->ev, io->fd, flags);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    do_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what (IN/OUT/INOUT), or stop watching it (REMOVE). */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct tg_curl_ev *ev = userp;
    struct sock_watch *sw = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sw) {
            ev_io_stop(ev->loop, &sw->io);
            curl_multi_assign(ev->multi, s, NULL);
            unlink_watch(ev, sw);
            free(sw);
        }
        return 0;
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!sw) {
        sw = calloc(1, sizeof *sw);
        if (!sw)
            return -1;
        sw->ev = ev;
        sw->next = ev->watches;
        if (ev->watches)
            ev->watches->prev = sw;
        ev->watches = sw;
        ev_io_init(&sw->io, on_io, s, events);
        curl_multi_assign(ev->multi, s, sw);
    } else {
        ev_io_stop(ev->loop, &sw->io);
        ev_io_set(&sw->io, s, events);
    }
    ev_io_start(ev->loop, &sw->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "call socket_action soon" (from the loop, not here). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct tg_curl_ev *ev = userp;
    ev_timer_stop(ev->loop, &ev->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&ev->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(ev->loop, &ev->timer);
    }
    return 0;
}

struct tg_curl_ev *tg_curl_ev_new(struct ev_loop *loop, const struct tg_curl_ev_hooks *hooks, void *ud)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK || !hooks->done)
        return NULL;
    struct tg_curl_ev *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    ev->loop = loop;
    ev->hooks = *hooks;
    ev->ud = ud;
    ev->multi = curl_multi_init();
    if (!ev->multi) {
        free(ev);
        return NULL;
    }
    ev_timer_init(&ev->timer, on_timer, 0., 0.);
    ev->timer.data = ev;
    curl_multi_setopt(ev->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(ev->multi, CURLMOPT_SOCKETDATA, ev);
    curl_multi_setopt(ev->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(ev->multi, CURLMOPT_TIMERDATA, ev);
    return ev;
}

void tg_curl_ev_free(struct tg_curl_ev *ev)
{
    if (!ev)
        return;
    curl_multi_cleanup(ev->multi); /* REMOVE callbacks free most socket watches */
    ev_timer_stop(ev->loop, &ev->timer);
    struct sock_watch *sw = ev->watches;
    ev->watches = NULL;
    while (sw) {
        struct sock_watch *next = sw->next;
        ev_io_stop(ev->loop, &sw->io);
        free(sw);
        sw = next;
    }
    free(ev);
}

CURLM *tg_curl_ev_multi(const struct tg_curl_ev *ev)
{
    return ev->multi;
}

int tg_curl_ev_busy(const struct tg_curl_ev *ev)
{
    return ev->depth > 0;
}

int tg_curl_body_append(struct tg_curl_body *b, const char *p, size_t n, size_t max)
{
    if (b->len > max || n > max - b->len) {
        b->too_large = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void tg_curl_body_free(struct tg_curl_body *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
