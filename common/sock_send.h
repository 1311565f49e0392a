/* sock_send.h — "write first, watch for writability only after a short write": the send loop of every
 * non-blocking stream socket that queues its output in one buffer (the side-channel HTTP server, the
 * controller's control-socket client, the demo and bench peers). */
#ifndef TG_SOCK_SEND_H
#define TG_SOCK_SEND_H

#include <stddef.h>

enum tg_send_result {
    TG_SEND_DONE = 1,   /* buf[0..len) is all sent (*off == len) */
    TG_SEND_AGAIN = 0,  /* the socket would block: wait for writability, then call again */
    TG_SEND_ERROR = -1, /* the connection is broken: errno says why (0 when send wrote nothing without error) */
};

/* Sends buf[*off..len) on the non-blocking socket fd (MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE; EINTR
 * is retried), advancing *off by what was sent. */
enum tg_send_result tg_send_pending(int fd, const void *buf, size_t len, size_t *off);

#endif
