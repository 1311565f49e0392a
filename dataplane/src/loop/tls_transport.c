/* tls_transport.c — see tls_transport.h. */
#include "loop/tls_transport.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static _Thread_local char last_error[160];
static _Thread_local struct tg_counters *handshake_counters;

void tg_tls_count_into(struct tg_counters *counters) { handshake_counters = counters; }

/* A server conn closes: a failed handshake when the client's Finished never arrived (an alert, an error, the
 * client's EOF). Not SSL_is_init_finished: a TLS 1.3 server still writing its tickets is not "finished". */
static void note_end(SSL *ssl)
{
    unsigned char finished[1];
    if (handshake_counters && SSL_is_server(ssl) && SSL_get_peer_finished(ssl, finished, sizeof finished) == 0)
        tg_counter_add(&handshake_counters->tls_handshake_failures, 1);
}
static _Thread_local int last_error_tls; /* the last failure was TLS's (an alert, a bad record), not the socket's */

const char *tg_tls_last_error(void) { return last_error; }
int tg_tls_last_error_protocol(void) { return last_error_tls; }

static void note_error(void)
{
    unsigned long e = ERR_peek_last_error();
    last_error_tls = e != 0;
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
    SSL *ssl = c->tls;
    /* A client connection that ends without close_notify (most backends just close) would have OpenSSL mark its
     * session not resumable on SSL_free; only a connection that failed (a TLS error) should lose it (nginx's
     * upstream does the same with a quiet shutdown). */
    if (!SSL_is_server(ssl) && SSL_is_init_finished(ssl) && !c->io_error)
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    note_end(ssl); /* once per connection, however many reads saw it fail */
    SSL_free(ssl);
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

/* The SSL ex_data index that carries a client connection's session slot (created once per process). */
static int slot_index = -1;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static void make_slot_index(void) { slot_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

/* OpenSSL's new-session callback: the session goes to the connection's slot (1: we keep the reference). */
static int on_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct tg_tls_session_slot *slot = slot_index >= 0 ? SSL_get_ex_data(ssl, slot_index) : NULL;
    if (!slot || !SSL_SESSION_is_resumable(session))
        return 0;
    SSL_SESSION_free(slot->session);
    slot->session = session;
    return 1;
}

/* Whether the kernel lists the `tls` ULP (module loaded): tells a missing module from a session it cannot take.
 * Read at most once a second (sessions ask from every worker). */
int tg_tls_kernel_has_tls_ulp(void)
{
    static _Atomic uint64_t checked_ms;
    static _Atomic int present;
    uint64_t now = tg_now_ms(), last = atomic_load_explicit(&checked_ms, memory_order_relaxed);
    if (last && now - last < 1000)
        return atomic_load_explicit(&present, memory_order_relaxed);
    char line[256] = "";
    int found = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
    if (f) {
        int ok = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        char *save = NULL;
        for (char *tok = strtok_r(line, " \n", &save); ok && tok && !found; tok = strtok_r(NULL, " \n", &save))
            found = strcmp(tok, "tls") == 0;
    }
    atomic_store_explicit(&present, found, memory_order_relaxed);
    atomic_store_explicit(&checked_ms, now ? now : 1, memory_order_relaxed);
    return found;
}

/* Asking for kernel TLS where the kernel has no tls module costs a TLS 1.2 session four failing system calls
 * (TCP_ULP and TLS_TX/TLS_RX, each way) in its handshake — a fifth of a resumed handshake's. So once a session
 * asked and the kernel turned out to have no module (the ask would have loaded it where it can be loaded), new
 * sessions stop asking for KTLS_RECHECK_MS; the first one after it asks again, so a module the host loads later
 * is taken up within a minute. */
#define KTLS_RECHECK_MS 60000u
static _Atomic uint64_t ktls_skip_until_ms;

void tg_tls_offer_ktls(SSL *ssl)
{
    uint64_t skip_until = atomic_load_explicit(&ktls_skip_until_ms, memory_order_relaxed);
    if (!skip_until || tg_now_ms() >= skip_until)
        SSL_set_options(ssl, SSL_OP_ENABLE_KTLS);
}

/* TLS 1.3 sessions stay in user space: OpenSSL 3.0 and Linux 6.1 cannot give a kernel-TLS socket new keys, so a
 * peer's KeyUpdate asking for new sending keys (RFC 8446 §4.6.3) would end the session (docs/tls.md "kTLS"). */
void tg_tls_ktls_version_chosen(SSL *ssl)
{
    if (SSL_version(ssl) == TLS1_3_VERSION)
        SSL_clear_options(ssl, SSL_OP_ENABLE_KTLS);
}

void tg_tls_ktls_settled(const SSL *ssl)
{
    if (SSL_version(ssl) == TLS1_3_VERSION || !(SSL_get_options(ssl) & SSL_OP_ENABLE_KTLS))
        return;
    if (BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1 || BIO_get_ktls_recv(SSL_get_rbio(ssl)) == 1 ||
        tg_tls_kernel_has_tls_ulp())
        return;
    static _Atomic int said;
    if (!atomic_exchange(&said, 1))
        tg_info("TLS: no tls module in this kernel: sessions ask for kernel TLS again once a minute, not each time");
    atomic_store_explicit(&ktls_skip_until_ms, tg_now_ms() + KTLS_RECHECK_MS, memory_order_relaxed);
}

/* A backend connection's handshake: the version settles kernel TLS (tg_tls_ktls_version_chosen, at the
 * ServerHello), and the first handshake says once whether the kernel took the records over. */
static void on_client_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if ((where & SSL_CB_LOOP) && SSL_get_state(ssl) == TLS_ST_CR_SRVR_HELLO)
        tg_tls_ktls_version_chosen((SSL *)ssl);
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    tg_tls_ktls_settled(ssl);
    static _Atomic int said;
    if (SSL_version(ssl) == TLS1_3_VERSION || atomic_load_explicit(&said, memory_order_relaxed) ||
        atomic_exchange(&said, 1))
        return;
    int send = BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1, recv = BIO_get_ktls_recv(SSL_get_rbio(ssl)) == 1;
    tg_info("TLS to backends: kernel TLS %s (send %s, receive %s; first TLS 1.2 session %s)",
            send || recv ? "in use" : "not offered", send ? "yes" : "no", recv ? "yes" : "no",
            SSL_get_cipher_name(ssl));
}

SSL_CTX *tg_tls_ctx_new(const SSL_METHOD *method, uint64_t extra_options, int read_ahead)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | extra_options);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, read_ahead);
    return ctx;
}

int tg_tls_client_ctx_cache_sessions(SSL_CTX *ctx)
{
    pthread_once(&slot_once, make_slot_index);
    if (slot_index < 0)
        return -1;
    /* OpenSSL's own client cache is keyed by nothing useful to us: only the slots keep sessions */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    return 0;
}

void tg_tls_session_slot_clear(struct tg_tls_session_slot *slot)
{
    SSL_SESSION_free(slot->session);
    slot->session = NULL;
}

int tg_conn_start_tls_client(struct tg_conn *c, SSL_CTX *ctx, const char *server_name,
                             struct tg_tls_session_slot *slot)
{
    SSL *ssl = new_ssl(c, ctx);
    if (!ssl)
        return -1;
    if (server_name && server_name[0]) {
        /* RFC 6066 §3: a host name only (the callers never pass an IP literal here) */
        if (SSL_set_tlsext_host_name(ssl, server_name) != 1 ||
            ((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) && SSL_set1_host(ssl, server_name) != 1)) {
            SSL_free(ssl);
            ERR_clear_error();
            return -1;
        }
    }
    if (slot && slot_index >= 0) {
        SSL_set_ex_data(ssl, slot_index, slot);
        if (slot->session && SSL_SESSION_is_resumable(slot->session))
            SSL_set_session(ssl, slot->session);
    }
    tg_tls_offer_ktls(ssl);
    SSL_set_info_callback(ssl, on_client_info);
    SSL_set_connect_state(ssl);
    c->tls = ssl;
    c->tp = &tg_transport_tls;
    return 0;
}

int tg_conn_tls_handshake(struct tg_conn *c, int *events)
{
    SSL *ssl = c->tls;
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return 0;
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        *events = EV_READ;
        return TG_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *events = EV_WRITE;
        return TG_IO_AGAIN;
    default:
        break;
    }
    long verify = SSL_get_verify_result(ssl);
    last_error_tls = 1;
    if (verify != X509_V_OK) {
        snprintf(last_error, sizeof last_error, "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else if (ERR_peek_last_error() == 0 && errno == 0) {
        snprintf(last_error, sizeof last_error, "the peer closed the connection during the handshake");
        last_error_tls = 0;
    } else {
        note_error();
    }
    return -1;
}

int tg_conn_tls_resumed(const struct tg_conn *c)
{
    SSL *ssl = tg_conn_ssl(c);
    return ssl && SSL_session_reused(ssl);
}
