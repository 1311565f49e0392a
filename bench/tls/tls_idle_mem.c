/* tls_idle_mem.c — where the memory of an idle server-side TLS connection goes (issue 12, docs/tls.md "Memory"):
 * N connections between OpenSSL clients and servers set up like the data plane's TLS listener
 * (tg_tls_server_ctx_new, the certificate context switched in the ClientHello callback as proxy/tls_frontend.c does,
 * session tickets), over socket pairs with socket BIOs (SSL_set_fd, as loop/tls_transport.c); each does its
 * handshake, one request and one answer of application data, then sits idle. Every allocation OpenSSL makes goes
 * through CRYPTO_set_mem_functions here and is charged to its OpenSSL source file:line and to the side (server or
 * client) that made it; the live server-side bytes per connection are printed by site, largest first.
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Idataplane/src -Icommon bench/tls/tls_idle_mem.c \
 *      build/obj/dataplane/src/config/tls_certs.o build/libtollgate-common.a -lssl -lcrypto -ljansson -o tls_idle_mem
 *   ./tls_idle_mem [N=200] [1.2|1.3] [free-buffers]
 *
 * "free-buffers": SSL_free_buffers() on each idle server connection before counting (what the data plane does
 * when a drain leaves nothing buffered). Counts are of requested bytes; malloc's own overhead (16 B per chunk
 * on glibc x86-64, rounded to 16) is added in the "with malloc overhead" total. */
#include "config/tls_certs.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SITES 4096

struct site {
    const char *file;
    int line, side;
    long long live_bytes, live_chunks, chunk_overhead;
};
static struct site sites[MAX_SITES];
static int num_sites;
static int current_side; /* 0: setup, 1: server, 2: client */

struct hdr {
    size_t size;
    int site;
    int pad;
};

static int site_of(const char *file, int line)
{
    for (int i = 0; i < num_sites; i++)
        if (sites[i].line == line && sites[i].side == current_side && sites[i].file == file)
            return i;
    if (num_sites == MAX_SITES)
        return MAX_SITES - 1;
    sites[num_sites] = (struct site){file, line, current_side, 0, 0, 0};
    return num_sites++;
}

static size_t overhead(size_t n) { size_t c = (n + sizeof(struct hdr) + 8 + 15) & ~(size_t)15; return c < 32 ? 32 : c; }

static void *m_malloc(size_t n, const char *file, int line)
{
    struct hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    h->site = site_of(file, line);
    sites[h->site].live_bytes += (long long)n;
    sites[h->site].live_chunks++;
    sites[h->site].chunk_overhead += (long long)(overhead(n) - sizeof *h - n);
    return h + 1;
}

static void m_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    sites[h->site].live_bytes -= (long long)h->size;
    sites[h->site].live_chunks--;
    sites[h->site].chunk_overhead -= (long long)(overhead(h->size) - sizeof *h - h->size);
    free(h);
}

static void *m_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p)
        return m_malloc(n, file, line);
    struct hdr *h = (struct hdr *)p - 1;
    void *q = m_malloc(n, file, line);
    if (q) {
        memcpy(q, p, h->size < n ? h->size : n);
        m_free(p, file, line);
    }
    return q;
}

static SSL_CTX *site_ctx;

static int on_hello(SSL *ssl, int *alert, void *arg)
{
    (void)alert, (void)arg;
    SSL_set_SSL_CTX(ssl, site_ctx); /* as proxy/tls_frontend.c: the certificate context chosen by SNI */
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int cmp_site(const void *a, const void *b)
{
    const struct site *x = a, *y = b;
    return (y->live_bytes > x->live_bytes) - (y->live_bytes < x->live_bytes);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    int tls13 = !(argc > 2 && strcmp(argv[2], "1.2") == 0);
    int free_buffers = argc > 3 && strcmp(argv[3], "free-buffers") == 0;
    if (!CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    SSL_CTX *listener = tg_tls_server_ctx_new();
    site_ctx = tg_tls_server_ctx_new();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"bench.local", -1,
                               -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    if (!listener || !site_ctx || SSL_CTX_use_cert_and_key(site_ctx, x, key, NULL, 1) != 1) {
        fprintf(stderr, "server context failed\n");
        return 1;
    }
    SSL_CTX_set_client_hello_cb(listener, on_hello, NULL);
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(client_ctx, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(client_ctx, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);

    if (n < 1 || n > 100000) {
        fprintf(stderr, "usage: tls_idle_mem [N (1..100000)] [1.2|1.3] [free-buffers]\n");
        return 2;
    }
    SSL **srv = calloc((size_t)n, sizeof *srv), **cli = calloc((size_t)n, sizeof *cli);
    char buf[4096];
    int rc = 1, made = 0;
    if (!srv || !cli)
        goto out;
    for (int i = 0; i < n; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
            goto out;
        made = i + 1;
        current_side = 1;
        srv[i] = SSL_new(listener);
        SSL_set_fd(srv[i], sv[0]);
        SSL_set_mode(srv[i], SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS); /* as loop/tls_transport.c */
        SSL_set_accept_state(srv[i]);
        current_side = 2;
        cli[i] = SSL_new(client_ctx);
        SSL_set_fd(cli[i], sv[1]);
        SSL_set_tlsext_host_name(cli[i], "bench.local");
        SSL_set_connect_state(cli[i]);
        int sdone = 0, cdone = 0;
        for (int round = 0; round < 20 && !(sdone && cdone); round++) {
            current_side = 2;
            if (!cdone)
                cdone = SSL_do_handshake(cli[i]) == 1;
            current_side = 1;
            if (!sdone)
                sdone = SSL_do_handshake(srv[i]) == 1;
        }
        if (!sdone || !cdone) {
            fprintf(stderr, "handshake %d failed\n", i);
            ERR_print_errors_fp(stderr);
            goto out;
        }
        /* one request, one answer: the client reads the tickets with the answer */
        current_side = 2;
        SSL_write(cli[i], "GET / HTTP/1.1\r\n\r\n", 18);
        current_side = 1;
        while (SSL_read(srv[i], buf, sizeof buf) > 0 || SSL_has_pending(srv[i]))
            ;
        SSL_write(srv[i], "HTTP/1.1 101 Switching Protocols\r\n\r\n", 36);
        current_side = 2;
        while (SSL_read(cli[i], buf, sizeof buf) > 0)
            ;
        current_side = 1;
        while (SSL_read(srv[i], buf, sizeof buf) > 0) /* as the data plane: read until it would block */
            ;
        ERR_clear_error();
        if (free_buffers)
            SSL_free_buffers(srv[i]);
    }
    long long total = 0, total_oh = 0;
    qsort(sites, (size_t)num_sites, sizeof sites[0], cmp_site);
    printf("TLS %s, %d idle server connections%s: live server-side bytes per connection by OpenSSL site\n",
           tls13 ? "1.3" : "1.2", n, free_buffers ? " (SSL_free_buffers)" : "");
    for (int i = 0; i < num_sites; i++) {
        if (sites[i].side != 1 || sites[i].live_bytes <= 0)
            continue;
        total += sites[i].live_bytes;
        total_oh += sites[i].chunk_overhead;
        if (sites[i].live_bytes / n >= 16)
            printf("%8lld B %6.1f chunks  %s:%d\n", sites[i].live_bytes / n, (double)sites[i].live_chunks / n,
                   sites[i].file ? sites[i].file : "?", sites[i].line);
    }
    printf("total %lld B per connection requested, %lld B with malloc overhead\n", total / n, (total + total_oh) / n);
    rc = 0;
out:
    for (int i = 0; i < made; i++) {
        if (srv[i])
            close(SSL_get_fd(srv[i]));
        if (cli[i])
            close(SSL_get_fd(cli[i]));
        SSL_free(srv[i]);
        SSL_free(cli[i]);
    }
    free(srv);
    free(cli);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(listener);
    SSL_CTX_free(site_ctx);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}
