/* tls_transport.c — see tls_transport.h. */
#include "loop/tls_transport.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static _Thread_local char last_error[160];

const char *tg_tls_last_error(void) { return last_error; }

static void note_error(void)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, last_error, sizeof last_error);
    else
        snprintf(last_error, sizeof last_error, "%s", errno ? "socket error" : "");
    ERR_clear_error();
}

/* Maps an SSL_read/SSL_write result that is not a byte count to the transport's convention. */
static ssize_t map_result(SSL *ssl, int n)
{
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return TG_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && errno == 0)
            return 0; /* EOF without close_notify: a peer that just closed (RFC 8446 §6.1 allows treating it so) */
        note_error();
        return -1;
    default:
        note_error();
        return -1;
    }
}

/* One SSL_read returns one record at most: keep reading while OpenSSL holds bytes it already took from the
 * socket (read-ahead), so a burst of small records costs one call here, not one event-loop turn each (a short
 * read tells the owner the socket is drained: conn.c). Whatever stopped the loop after some bytes (a partial
 * record, close_notify) is seen again on the next call. */
static ssize_t tls_read(struct tg_conn *c, void *buf, size_t len)
{
    SSL *ssl = c->tls;
    size_t got = 0;
    do {
        size_t room = len - got;
        errno = 0;
        int n = SSL_read(ssl, (char *)buf + got, room > INT_MAX ? INT_MAX : (int)room);
        if (n <= 0) {
            if (got == 0)
                return map_result(ssl, n);
            ERR_clear_error();
            break;
        }
        got += (size_t)n;
    } while (got < len && SSL_has_pending(ssl));
    return (ssize_t)got;
}

static ssize_t tls_write(struct tg_conn *c, const void *buf, size_t len)
{
    SSL *ssl = c->tls;
    errno = 0;
    int n = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0)
        return n;
    return map_result(ssl, n);
}

static void tls_shutdown_write(struct tg_conn *c)
{
    SSL *ssl = c->tls;
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl); /* our close_notify; the peer's is not awaited */
    ERR_clear_error();
    shutdown(c->fd, SHUT_WR);
}

static void tls_close(struct tg_conn *c)
{
    SSL_free(c->tls);
    c->tls = NULL;
    close(c->fd);
}

const struct tg_transport tg_transport_tls = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .shutdown_write = tls_shutdown_write,
    .close = tls_close,
};

static SSL *new_ssl(struct tg_conn *c, SSL_CTX *ctx)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    /* the owners retry a short write with the same bytes from a buffer that may have moved */
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    return ssl;
}

int tg_conn_start_tls_server(struct tg_conn *c, SSL_CTX *ctx, void *app_data)
{
    SSL *ssl = new_ssl(c, ctx);
    if (!ssl)
        return -1;
    SSL_set_app_data(ssl, app_data);
    SSL_set_accept_state(ssl);
    c->tls = ssl;
    c->tp = &tg_transport_tls;
    return 0;
}

int tg_conn_start_tls_client(struct tg_conn *c, SSL_CTX *ctx, const char *server_name, SSL_SESSION *session)
{
    SSL *ssl = new_ssl(c, ctx);
    if (!ssl)
        return -1;
    if (server_name && server_name[0]) {
        SSL_set_tlsext_host_name(ssl, server_name);
        SSL_set1_host(ssl, server_name);
    }
    if (session)
        SSL_set_session(ssl, session);
    SSL_set_connect_state(ssl);
    c->tls = ssl;
    c->tp = &tg_transport_tls;
    return 0;
}
