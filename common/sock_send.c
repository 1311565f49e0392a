/* sock_send.c — see sock_send.h. */
#include "sock_send.h"

#include <errno.h>
#include <sys/socket.h>

enum tg_send_result tg_send_pending(int fd, const void *buf, size_t len, size_t *off)
{
    while (*off < len) {
        ssize_t n = send(fd, (const char *)buf + *off, len - *off, MSG_NOSIGNAL);
        if (n > 0) {
            *off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return TG_SEND_AGAIN;
        if (n == 0)
            errno = 0;
        return TG_SEND_ERROR;
    }
    return TG_SEND_DONE;
}
