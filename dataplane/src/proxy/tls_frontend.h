/* tls_frontend.h — the TLS listener's side of the proxy (--tls-listen): accepted sockets are put on the TLS
 * transport (loop/tls_transport.h) before the HTTP/1 server connection sees a byte, and each handshake picks its
 * certificate by SNI on the accepting worker's snapshot (config/tls_certs.h): the exact hostname, the longest
 * wildcard, the default of the group that serves the name; otherwise the configured default host's
 * certificate (--tls-default-host), else the group marked "defaultCertificate", else the controller's default
 * certificate (the snapshot's "tlsDefault"; config/tls_certs.h folds these two into one fallback), or the
 * handshake fails with an unrecognized_name alert (RFC 6066 §3). The chosen group's versions and cipher lists ("tlsOptions") are set on
 * the connection in the same ClientHello callback, before OpenSSL negotiates the version.
 *
 * One server SSL_CTX serves every worker of the process, so the session-ticket keys it generates are shared by
 * all workers (a ticket issued by one resumes on any). The SNI a connection presented is kept with its SSL so
 * that a request whose Host names another group can be answered 421 (RFC 9110 §15.5.20).
 */
#ifndef TG_TLS_FRONTEND_H
#define TG_TLS_FRONTEND_H

#include "config/snapshot.h"
#include "loop/conn.h"
#include "loop/counters.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* --tls-ticket-rotation: the period of the per-process session-ticket keys, and its bounds (a ticket lives at
 * most three periods, and TLS 1.3 forbids a ticket lifetime over 7 days, RFC 8446 §4.6.1). */
#define TG_TLS_TICKET_ROTATION_DEFAULT_MS (3600ull * 1000)
#define TG_TLS_TICKET_ROTATION_MIN_MS 1000ull
#define TG_TLS_TICKET_ROTATION_MAX_MS (48ull * 3600 * 1000)

/* Once per process, before any worker accepts: the shared server context. ticket_keys_file (or NULL): the
 * session-ticket keys, N × 80 bytes (16 name, 32 HMAC-SHA256, 32 AES-256 — nginx's layout; the first encrypts, all
 * decrypt, at most 3), shared by every replica that reads the same file and re-read within a minute of a change
 * (a mounted Secret); without it each process makes its own and replaces the current one every
 * ticket_rotation_ms (0: the default hour; the caller keeps it within the bounds above), the two before it still
 * decrypting. The session timeout (the ticket lifetime hint) is three periods either way. 0, or -1 with a logged
 * error (the file cannot be read or is not 1–3 keys). */
int tg_tls_frontend_init(const char *default_host, const char *ticket_keys_file, uint64_t ticket_rotation_ms);
/* Puts conn (accepted on the TLS listener, nothing read yet) on TLS; its handshake will pick the certificate
 * on *snapshot_slot, the accepting worker's current snapshot (read on the worker's thread when the
 * ClientHello arrives), and count itself in counters (tls_handshakes, tls_resumed, tls_handshake_failures; the
 * accepting worker's). 0, or -1 (out of memory). */
int tg_tls_frontend_start(struct tg_conn *conn, struct tg_snapshot *const *snapshot_slot,
                          struct tg_counters *counters);
/* The SNI name conn's client presented (lower-case), or NULL (plain TCP, or no SNI); *len its length. */
const char *tg_tls_frontend_sni(const struct tg_conn *conn, size_t *len);
/* 1 when conn presented an SNI name that selects another group of snap than group (the Host's): the request is
 * answered 421 (RFC 9110 §15.5.20). A name no group serves counts as another group. */
int tg_tls_frontend_misdirected(const struct tg_conn *conn, const struct tg_snapshot *snap,
                                const struct tg_group_cfg *group);
/* 1 when conn came through the TLS listener. */
int tg_tls_frontend_is_tls(const struct tg_conn *conn);

#endif
