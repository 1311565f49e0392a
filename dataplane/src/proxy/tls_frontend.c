/* tls_frontend.c — see tls_frontend.h. */
#include "proxy/tls_frontend.h"

#include "config/router.h"
#include "config/tls_certs.h"
#include "log.h"
#include "loop/tls_transport.h"

#include <ctype.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

static SSL_CTX *server_ctx;
static const char *fallback_host; /* --tls-default-host, or NULL: unrecognized_name */
static int sni_index = -1;        /* SSL ex_data slot: the SNI name (malloc'ed) */

static void free_sni(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

/* The host_name of a ClientHello's server_name extension (RFC 6066 §3), lower-cased into out without a
 * trailing dot; 0 when there is none (or it is malformed or too long). */
static size_t read_sni(SSL *ssl, char *out, size_t size)
{
    const unsigned char *p;
    size_t len;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
        return 0;
    size_t list = (size_t)p[0] << 8 | p[1];
    if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name)
        return 0;
    size_t n = (size_t)p[3] << 8 | p[4];
    if (n == 0 || n + 5 > len || n >= size)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[5 + i];
        if (ch <= ' ' || ch >= 0x7f)
            return 0;
        out[i] = (char)tolower(ch);
    }
    if (out[n - 1] == '.')
        n--;
    out[n] = 0;
    return n;
}

static SSL_CTX *find_ctx(const struct tg_snapshot *snap, const char *name, size_t len)
{
    struct tg_route_match m = tg_snapshot_route(snap, name, len, "/", 1);
    size_t gi = m.group ? (size_t)(m.group - snap->groups) : SIZE_MAX;
    return tg_tls_certs_find(snap->tls, name, len, gi);
}

/* Runs first in the handshake (before version and cipher negotiation): picks the certificate context. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    struct tg_snapshot *const *slot = SSL_get_app_data(ssl);
    const struct tg_snapshot *snap = slot ? *slot : NULL;
    char name[256];
    size_t len = read_sni(ssl, name, sizeof name);
    SSL_CTX *ctx = NULL;
    if (snap && len)
        ctx = find_ctx(snap, name, len);
    if (!ctx && snap && fallback_host)
        ctx = find_ctx(snap, fallback_host, strlen(fallback_host));
    if (!ctx) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (len && !SSL_get_ex_data(ssl, sni_index)) {
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, name, len + 1);
            SSL_set_ex_data(ssl, sni_index, copy);
        }
    }
    SSL_set_SSL_CTX(ssl, ctx);
    return SSL_CLIENT_HELLO_SUCCESS;
}

int tg_tls_frontend_init(const char *default_host)
{
    if (server_ctx)
        return 0;
    fallback_host = default_host && default_host[0] ? default_host : NULL;
    sni_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_sni);
    server_ctx = tg_tls_server_ctx_new();
    if (!server_ctx || sni_index < 0) {
        tg_error("TLS: cannot create the server context");
        return -1;
    }
    SSL_CTX_set_client_hello_cb(server_ctx, on_client_hello, NULL);
    return 0;
}

int tg_tls_frontend_start(struct tg_conn *conn, struct tg_snapshot *const *snapshot_slot)
{
    if (tg_conn_start_tls_server(conn, server_ctx, (void *)snapshot_slot) != 0) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

const char *tg_tls_frontend_sni(const struct tg_conn *conn, size_t *len)
{
    SSL *ssl = tg_conn_ssl(conn);
    const char *name = ssl ? SSL_get_ex_data(ssl, sni_index) : NULL;
    *len = name ? strlen(name) : 0;
    return name;
}

int tg_tls_frontend_misdirected(const struct tg_conn *conn, const struct tg_snapshot *snap,
                                const struct tg_group_cfg *group)
{
    size_t len;
    const char *sni = tg_tls_frontend_sni(conn, &len);
    if (!sni)
        return 0;
    return tg_snapshot_route(snap, sni, len, "/", 1).group != group;
}

int tg_tls_frontend_is_tls(const struct tg_conn *conn) { return tg_conn_ssl(conn) != NULL; }
