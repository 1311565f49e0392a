/* tls_transport.h — TLS (OpenSSL 3) as the second transport of a tg_conn (conn.h): the same read/write/
 * shutdown/close ops as plain TCP, over an SSL object bound to the conn's socket, so the protocols above (the
 * HTTP/1 server connection, the WebSocket tunnel) run unchanged on https:// and wss://.
 *
 * The handshake is driven implicitly by the first reads (SSL_read performs it); until it completes, reads
 * answer TG_IO_AGAIN and the owner keeps waiting for EV_READ under its own head timeout, so a client that
 * never finishes its handshake is bounded like one that never sends a request. The SSL is created with
 * SSL_MODE_RELEASE_BUFFERS (tg_tls_ctx_new): an idle TLS connection holds no record buffer. A context without
 * read-ahead leaves a record in the kernel, which keeps the socket readable (level-triggered epoll); one with
 * read-ahead (the listener's) may hold several records, and a read drains them before it returns, so decrypted
 * bytes beyond the caller's length stay in OpenSSL only when the read filled the caller's buffer (conn.c keeps
 * `readable` set then).
 */
#ifndef TG_TLS_TRANSPORT_H
#define TG_TLS_TRANSPORT_H

#include "loop/conn.h"
#include "loop/counters.h"

#include <openssl/ssl.h>

extern const struct tg_transport tg_transport_tls;

/* A context with what this transport relies on — TLS 1.2 to 1.3, no renegotiation, no compression, released
 * buffers while idle, partial writes from a moving buffer — plus the caller's extra options and read-ahead
 * (servers and clients differ there). NULL when OpenSSL cannot make one. */
SSL_CTX *tg_tls_ctx_new(const SSL_METHOD *method, uint64_t extra_options, int read_ahead);

/* Kernel TLS (kTLS), for both sides' connections. tg_tls_offer_ktls sets SSL_OP_ENABLE_KTLS on a new connection
 * (OpenSSL hands TLS 1.2 AES-GCM records to the kernel after the handshake where the kernel has the tls module),
 * unless a recent session found the kernel without the module: asking costs four failing setsockopt calls, so
 * then sessions ask once a minute. tg_tls_ktls_version_chosen, called once the version is known (the
 * ServerHello), keeps TLS 1.3 in user space; tg_tls_ktls_settled, called when a handshake is done, notes a
 * missing module. tg_tls_kernel_has_tls_ulp: the kernel lists the tls ULP (read at most once a second). */
void tg_tls_offer_ktls(SSL *ssl);
void tg_tls_ktls_version_chosen(SSL *ssl);
void tg_tls_ktls_settled(const SSL *ssl);
int tg_tls_kernel_has_tls_ulp(void);

/* Puts c (initialised on its socket, no bytes exchanged yet) on TLS as the server side of ctx; app_data is
 * stored in the SSL (SSL_set_app_data) for ctx's callbacks. Returns 0, or -1 (the socket is left as it was). */
int tg_conn_start_tls_server(struct tg_conn *c, SSL_CTX *ctx, void *app_data);
/* Client-side session reuse (origination to backends). A slot holds the latest resumable session a server gave
 * to connections started with it (one slot per backend endpoint and TLS settings, per worker: its owner keeps
 * it alive for as long as any connection started with it). Zeroed is empty. */
struct tg_tls_session_slot {
    SSL_SESSION *session;           /* one reference, or NULL */
};
/* Makes ctx (a client context) hand every new session to the slot of the connection it belongs to (TLS 1.2: at
 * the end of a full handshake; TLS 1.3: each NewSessionTicket). Call once per context, before it is shared. */
int tg_tls_client_ctx_cache_sessions(SSL_CTX *ctx);
/* Empties a slot (drops its reference). */
void tg_tls_session_slot_clear(struct tg_tls_session_slot *slot);

/* Puts c (a socket connecting or connected, no bytes exchanged) on TLS as the client side of ctx: server_name
 * (NULL or "": none) is sent as SNI and, when ctx verifies peers, is the name the certificate must carry;
 * slot (NULL: no reuse) offers its session for resumption and receives the new ones. The handshake is then
 * driven by tg_conn_tls_handshake. Returns 0, or -1 (the socket is left as it was). */
int tg_conn_start_tls_client(struct tg_conn *c, SSL_CTX *ctx, const char *server_name,
                             struct tg_tls_session_slot *slot);
/* Drives a client handshake one step (a server's is driven by its reads). Returns 0 when it completed, TG_IO_AGAIN
 * with *events set to the readiness to wait for (EV_READ or EV_WRITE), or -1 when it failed: then
 * tg_tls_last_error() says why — for a certificate that failed verification "certificate verify failed: "
 * and OpenSSL's verification result ("Hostname mismatch", "unable to get local issuer certificate", ...). */
int tg_conn_tls_handshake(struct tg_conn *c, int *events);
/* 1 when c's completed handshake resumed a session. */
int tg_conn_tls_resumed(const struct tg_conn *c);
/* The conn's SSL, or NULL for a plain conn. */
static inline SSL *tg_conn_ssl(const struct tg_conn *c) { return c->tp == &tg_transport_tls ? c->tls : NULL; }
/* Failed server handshakes on this thread are counted in counters from now on (its tls_handshake_failures when
 * a server conn's read or write fails or meets EOF before the handshake completed; NULL: not counted). A worker
 * binds its own struct before it starts a server conn; completed handshakes are counted by their owner. */
void tg_tls_count_into(struct tg_counters *counters);
/* The reason the last TLS read or write of this thread failed (OpenSSL's error string, for logs; "" if none).
 * Never contains key material. */
const char *tg_tls_last_error(void);
/* 1 when that failure was TLS's own (an alert from the peer, a record that does not decrypt, a handshake that
 * failed), 0 when it was the socket's (reset, closed). */
int tg_tls_last_error_protocol(void);

#endif
