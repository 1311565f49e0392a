/* net_listen.h — listening sockets for every server of the project: "ADDR:PORT" / "[V6]:PORT" / ":PORT" TCP
 * listeners (optionally SO_REUSEPORT, one per worker) and Unix stream sockets (a stale socket file is replaced).
 * All sockets are non-blocking and close-on-exec. */
#ifndef TG_NET_LISTEN_H
#define TG_NET_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses a numeric "ADDR:PORT", "[V6]:PORT" or ":PORT" (all addresses) into a socket address; 0 or -1. */
int tg_parse_listen_address(const char *spec, struct sockaddr_storage *out, socklen_t *len);
/* A listening TCP socket, or -1 with a reason in err. */
int tg_listen_tcp(const char *spec, int backlog, int reuseport, char *err, size_t err_size);
/* A listening Unix stream socket (mode 0660), or -1 with a reason in err. */
int tg_listen_unix(const char *path, int backlog, char *err, size_t err_size);

#endif
