/* listener.h — one listening TCP socket on a worker's loop: SO_REUSEPORT (one listener per worker, the kernel
 * spreads connections), accepts in batches that adapt to the arrivals (bounded: fairness), and survives running
 * out of descriptors (EMFILE: a spare descriptor is closed to accept-and-close one pending connection, then
 * accepting pauses for 100 ms — libuv's trick). Each accepted socket (non-blocking, close-on-exec) is handed to
 * the owner's on_accept, which owns it from then on. The listener knows nothing of what the connections carry. */
#ifndef TG_LISTENER_H
#define TG_LISTENER_H

#include <ev.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct tg_listener {
    struct ev_loop *loop;
    int fd;
    int reserve_fd;                 /* spare descriptor closed to shed a connection when out of fds */
    int paused;                     /* tg_listener_stop: accept nothing more */
    int accept_batch;               /* accepts per wakeup now (listener.c: grows on a backlog, shrinks on EAGAIN) */
    unsigned ready_iteration;       /* the loop iteration of the last wakeup */
    ev_io io;
    ev_timer retry;                 /* re-enables accepting after EMFILE */
    /* the owner: gets every accepted socket (peer = its address) */
    void (*on_accept)(void *owner, int fd, const struct sockaddr *peer);
    void *owner;
    _Atomic uint64_t *accept_errors; /* counted here when not NULL */
    int id;                         /* for logs ("worker 2") */
};

/* Opens spec ("ADDR:PORT") with SO_REUSEPORT and prepares l on loop (not accepting until tg_listener_start).
 * Returns 0, or -1 with a logged error. */
int tg_listener_open(struct tg_listener *l, struct ev_loop *loop, const char *spec, int id,
                     void (*on_accept)(void *owner, int fd, const struct sockaddr *peer), void *owner);
void tg_listener_start(struct tg_listener *l);
/* Stops accepting for good (the drain); the socket stays open until tg_listener_close. */
void tg_listener_stop(struct tg_listener *l);
void tg_listener_close(struct tg_listener *l);

#endif
