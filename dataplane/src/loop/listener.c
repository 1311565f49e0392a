/* listener.c — see listener.h: the accept loop, and TCP_NODELAY set once on the listening socket. */
#include "loop/listener.h"

#include "log.h"
#include "loop/counters.h"
#include "net_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64

/* How many connections one wakeup accepts adapts to the arrivals (accept_batch, 1..ACCEPTS_PER_WAKEUP). Accepting
 * until EAGAIN costs every connection of a lightly loaded listener a failed accept4 (one system call of about 20
 * per TLS handshake); accepting one per wakeup, as nginx does by default, drains a burst one loop iteration at a
 * time. So: one per wakeup while connections arrive one at a time; the batch doubles whenever the listener is
 * still ready on the very next loop iteration (a backlog, not a new arrival), and an EAGAIN after k accepts
 * sets it to k. */
static void on_accept_ready(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_listener *l = io->data;
    unsigned iteration = ev_iteration(loop);
    if (iteration == l->ready_iteration + 1 && l->accept_batch < ACCEPTS_PER_WAKEUP)
        l->accept_batch *= 2;
    l->ready_iteration = iteration;
    for (int i = 0; i < l->accept_batch && !l->paused; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                l->accept_batch = i > 1 ? i : 1;
                return;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                return;
            if (l->accept_errors)
                tg_counter_add(l->accept_errors, 1);
            if (errno == EMFILE || errno == ENFILE) {
                /* out of descriptors: accept-and-close one pending connection with the reserve so clients get a
                 * clean reset instead of hanging, and pause accepting for a moment (libuv's EMFILE trick) */
                if (l->reserve_fd >= 0) {
                    close(l->reserve_fd);
                    int shed = accept(l->fd, NULL, NULL);
                    if (shed >= 0)
                        close(shed);
                    l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
                ev_io_stop(loop, &l->io);
                ev_timer_start(loop, &l->retry);
                tg_warn("worker %d: out of file descriptors, accepting paused for 100 ms", l->id);
            }
            return;
        }
        l->on_accept(l->owner, fd, (struct sockaddr *)&peer);
    }
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_listener *l = t->data;
    if (!l->paused)
        ev_io_start(loop, &l->io);
}

int tg_listener_open(struct tg_listener *l, struct ev_loop *loop, const char *spec, int id,
                     void (*on_accept)(void *owner, int fd, const struct sockaddr *peer), void *owner)
{
    char err[300];
    l->loop = loop;
    l->id = id;
    l->paused = 0;
    l->accept_batch = 1;
    l->ready_iteration = 0;
    l->on_accept = on_accept;
    l->owner = owner;
    l->fd = tg_listen_tcp(spec, 4096, 1, err, sizeof err); /* SO_REUSEPORT: one listener per worker */
    l->reserve_fd = -1;
    if (l->fd < 0) {
        tg_error("%s", err);
        return -1;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener (Linux copies the listener's TCP settings into
     * each child socket): one setsockopt here instead of one per connection. */
    int one = 1;
    if (setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        tg_warn("worker %d: TCP_NODELAY on the listener: %s (replies may be delayed by Nagle)", id, strerror(errno));
    l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ev_io_init(&l->io, on_accept_ready, l->fd, EV_READ);
    l->io.data = l;
    ev_timer_init(&l->retry, on_retry, 0.1, 0.);
    l->retry.data = l;
    return 0;
}

void tg_listener_start(struct tg_listener *l)
{
    if (l->fd >= 0 && !l->paused)
        ev_io_start(l->loop, &l->io);
}

void tg_listener_stop(struct tg_listener *l)
{
    l->paused = 1;
    if (l->fd < 0)
        return;
    ev_io_stop(l->loop, &l->io);
    ev_timer_stop(l->loop, &l->retry);
}

void tg_listener_close(struct tg_listener *l)
{
    tg_listener_stop(l);
    if (l->fd >= 0)
        close(l->fd);
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    l->fd = l->reserve_fd = -1;
}
