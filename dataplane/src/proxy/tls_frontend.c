/* tls_frontend.c — see tls_frontend.h. */
#include "proxy/tls_frontend.h"

#include "config/router.h"
#include "config/tls_certs.h"
#include "log.h"
#include "loop/tls_transport.h"

#include "clock.h"

#include <ctype.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static SSL_CTX *server_ctx;
static const char *fallback_host; /* --tls-default-host, or NULL: unrecognized_name */
static int sni_index = -1;        /* SSL ex_data slot: the SNI name (malloc'ed) */

/* Session-ticket keys (RFC 5077 format as OpenSSL writes it: key name, IV, AES-256-CBC, HMAC-SHA256): one ring
 * for the process, so every worker encrypts with the current key and decrypts with any key of the ring. Time is
 * cut into periods of ticket_rotate_ms (--tls-ticket-rotation) from the first key: each period has its own
 * current key, and the two periods before it still decrypt (their tickets are renewed), so a ticket resumes
 * during the period it was issued in and the two after it, never longer — the session timeout says the same.
 * The ring moves on the clock, not on traffic: a handshake after a quiet spell of several periods first drops
 * the keys of the periods that have passed (rotate_ticket_keys_locked, for encryption and decryption alike). */
#define TICKET_KEYS 3
struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    int valid;
};
static struct ticket_key ticket_keys[TICKET_KEYS]; /* [0] is the current period's key, [i] the key of i periods ago */
static uint64_t ticket_rotated_ms;                 /* when the current period began */
static uint64_t ticket_rotate_ms = TG_TLS_TICKET_ROTATION_DEFAULT_MS;
static pthread_mutex_t ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int ktls_noted[2]; /* [0]: TLS 1.2 sessions, [1]: TLS 1.3 sessions — each said once */

/* --tls-ticket-keys-file: the keys come from there (checked for a change every TICKET_FILE_CHECK_MS). */
#define TICKET_FILE_CHECK_MS 60000u
#define TICKET_KEY_FILE_BYTES 80
static const char *ticket_file;
static uint64_t ticket_file_checked_ms;
static struct stat ticket_file_stat;

/* Under ticket_lock (or before the workers start): reads the keys file into the ring. 0, or -1 with *why set
 * (the ring is left as it was). */
static int load_ticket_file_locked(const char **why)
{
    unsigned char buf[TICKET_KEYS * TICKET_KEY_FILE_BYTES + 1];
    struct stat st;
    int fd = open(ticket_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        *why = "cannot be read";
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0 || n % TICKET_KEY_FILE_BYTES != 0 || n > TICKET_KEYS * TICKET_KEY_FILE_BYTES) {
        *why = "must hold 1 to 3 keys of 80 bytes (16 name, 32 HMAC, 32 AES)";
        OPENSSL_cleanse(buf, sizeof buf);
        return -1;
    }
    memset(ticket_keys, 0, sizeof ticket_keys);
    for (ssize_t i = 0; i < n / TICKET_KEY_FILE_BYTES; i++) {
        const unsigned char *k = buf + i * TICKET_KEY_FILE_BYTES;
        memcpy(ticket_keys[i].name, k, 16);
        memcpy(ticket_keys[i].hmac, k + 16, 32);
        memcpy(ticket_keys[i].aes, k + 48, 32);
        ticket_keys[i].valid = 1;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    ticket_file_stat = st;
    return 0;
}

/* Under ticket_lock: a new current key when the last is older than the period (or, with a keys file, the file
 * re-read when it changed). 0, or -1 (no randomness, or no key at all). */
static int rotate_ticket_keys_locked(uint64_t now_ms)
{
    if (ticket_file) {
        struct stat st;
        if (now_ms - ticket_file_checked_ms >= TICKET_FILE_CHECK_MS) {
            ticket_file_checked_ms = now_ms;
            const char *why = NULL;
            if (stat(ticket_file, &st) == 0 &&
                (st.st_mtim.tv_sec != ticket_file_stat.st_mtim.tv_sec ||
                 st.st_mtim.tv_nsec != ticket_file_stat.st_mtim.tv_nsec || st.st_size != ticket_file_stat.st_size ||
                 st.st_ino != ticket_file_stat.st_ino)) {
                if (load_ticket_file_locked(&why) == 0)
                    tg_info("TLS: session-ticket keys re-read from %s", ticket_file);
                else
                    tg_warn("TLS: session-ticket keys file %s %s; the previous keys stay", ticket_file, why);
            }
        }
        return ticket_keys[0].valid ? 0 : -1;
    }
    uint64_t periods = 0; /* periods that began since the current one, or 0 */
    if (ticket_keys[0].valid) {
        periods = (now_ms - ticket_rotated_ms) / ticket_rotate_ms;
        if (periods == 0)
            return 0;
    }
    struct ticket_key fresh = {.valid = 1};
    if (RAND_bytes(fresh.name, sizeof fresh.name) != 1 || RAND_bytes(fresh.aes, sizeof fresh.aes) != 1 ||
        RAND_bytes(fresh.hmac, sizeof fresh.hmac) != 1)
        return -1;
    /* the key of i periods ago moves to [i + periods]; the periods in between never had a key (nothing was
     * issued in them), so their slots stay empty, and keys older than the ring are wiped */
    size_t shift = periods && periods < TICKET_KEYS ? (size_t)periods : TICKET_KEYS; /* no key yet: all */
    if (shift < TICKET_KEYS)
        memmove(&ticket_keys[shift], &ticket_keys[0], (TICKET_KEYS - shift) * sizeof ticket_keys[0]);
    for (size_t i = 0; i < shift; i++)
        OPENSSL_cleanse(&ticket_keys[i], sizeof ticket_keys[i]);
    ticket_keys[0] = fresh;
    OPENSSL_cleanse(&fresh, sizeof fresh);
    /* periods stay on the grid of the first key, so a key's life never stretches with a late handshake */
    ticket_rotated_ms = periods ? ticket_rotated_ms + periods * ticket_rotate_ms : now_ms;
    return 0;
}

static int on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    /* TLS 1.3: a resumption always gets a fresh ticket (RFC 8446 §C.4: clients use a ticket once; OpenSSL's
     * server sends one after a resumption only when this callback asks for a renewal) */
    int renew_always = SSL_version(ssl) >= TLS1_3_VERSION;
    int result = 0;
    pthread_mutex_lock(&ticket_lock);
    const struct ticket_key *k = NULL;
    if (enc) {
        if (rotate_ticket_keys_locked(tg_now_ms()) == 0 && RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1) {
            k = &ticket_keys[0];
            memcpy(key_name, k->name, 16);
            result = 1;
        }
    } else {
        (void)rotate_ticket_keys_locked(tg_now_ms()); /* a key whose periods are over decrypts nothing */
        for (int i = 0; i < TICKET_KEYS && !k; i++) {
            if (ticket_keys[i].valid && memcmp(ticket_keys[i].name, key_name, 16) == 0) {
                k = &ticket_keys[i];
                result = i == 0 && !renew_always ? 1 : 2; /* 2: decrypts, and a fresh ticket is issued */
            }
        }
    }
    if (k) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        int ok = EVP_MAC_CTX_set_params(hctx, params) == 1 &&
                 (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv)
                      : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv)) == 1;
        if (!ok)
            result = -1;
    }
    pthread_mutex_unlock(&ticket_lock);
    return result;
}

static int counters_index = -1; /* SSL ex_data slot: the accepting worker's struct tg_counters */

/* Once per process and version, after the first handshake: did OpenSSL hand the record layer to the kernel (kTLS:
 * the socket's BIO sends and/or receives through the kernel), and if not, the likely reason. OpenSSL 3.0 does it
 * for TLS 1.2 AES-GCM (and ChaCha20-Poly1305 where the kernel has it) both ways. */
static void note_ktls(const SSL *ssl)
{
    int send = BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1, recv = BIO_get_ktls_recv(SSL_get_rbio(ssl)) == 1;
    const char *version = SSL_get_version(ssl), *cipher = SSL_get_cipher_name(ssl);
    if (SSL_version(ssl) == TLS1_3_VERSION)
        tg_info("TLS: kernel TLS not used for TLS 1.3 sessions (first %s): records in user space, as a peer's "
                "KeyUpdate needs new sending keys the kernel cannot take; TLS 1.2 sessions are said apart",
                cipher);
    else if (send || recv)
        tg_info("TLS: kernel TLS in use (send %s, receive %s; first session %s %s)", send ? "yes" : "no",
                recv ? "yes" : "no", version, cipher);
    else
        tg_info("TLS: kernel TLS not offered (%s; first session %s %s): records in user space",
                tg_tls_kernel_has_tls_ulp()
                    ? "the kernel's tls module does not take this session's cipher or version"
                    : "no tls module in this kernel, or a cipher kernel TLS does not take",
                version, cipher);
}

/* Counts handshakes (done once per connection: TLS 1.3 may report "done" again after its tickets; failures are
 * counted by loop/tls_transport.c when a connection ends before one); after the first handshake of each version,
 * says whether the kernel took the record layer over (kTLS). TLS 1.3 sessions are kept off kTLS once the version
 * is chosen (before any application key exists): with OpenSSL 3.0 and Linux 6.1 a peer's KeyUpdate asking for
 * new sending keys cannot be honoured once the kernel holds them, and the session would end. */
static void on_info(const SSL *ssl, int where, int ret)
{
    struct tg_counters *counters = SSL_get_ex_data(ssl, counters_index);
    (void)ret;
    /* at the ServerHello the version is final (before it, SSL_version() need not be the one chosen) */
    if ((where & SSL_CB_LOOP) && SSL_get_state(ssl) == TLS_ST_SW_SRVR_HELLO)
        tg_tls_ktls_version_chosen((SSL *)ssl);
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    if (counters) {
        SSL_set_ex_data((SSL *)ssl, counters_index, NULL); /* counted: a second "done" is not a second handshake */
        tg_counter_add(&counters->tls_handshakes, 1);
        if (SSL_session_reused(ssl))
            tg_counter_add(&counters->tls_resumed, 1);
    }
    tg_tls_ktls_settled(ssl);
    _Atomic int *noted = &ktls_noted[SSL_version(ssl) == TLS1_3_VERSION];
    if (atomic_load_explicit(noted, memory_order_relaxed) || atomic_exchange(noted, 1))
        return;
    note_ktls(ssl);
}

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

static const struct tg_tls_site *find_site(const struct tg_snapshot *snap, const char *name, size_t len)
{
    struct tg_route_match m = tg_snapshot_route(snap, name, len, "/", 1);
    size_t gi = m.group ? (size_t)(m.group - snap->groups) : SIZE_MAX;
    return tg_tls_certs_find(snap->tls, name, len, gi);
}

/* Runs first in the handshake (before version and cipher negotiation): picks the certificate context and applies
 * its group's policy. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    struct tg_snapshot *const *slot = SSL_get_app_data(ssl);
    const struct tg_snapshot *snap = slot ? *slot : NULL;
    char name[256];
    size_t len = read_sni(ssl, name, sizeof name);
    const struct tg_tls_site *site = NULL;
    if (snap && len)
        site = find_site(snap, name, len);
    if (!site && snap && fallback_host)
        site = find_site(snap, fallback_host, strlen(fallback_host));
    if (!site && snap && snap->tls)
        site = snap->tls->fallback; /* the group whose tlsOptions.defaultCertificate is set, else "tlsDefault" */
    if (!site) {
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
    SSL_set_SSL_CTX(ssl, site->ctx);
    /* the group's versions and cipher lists, on this connection: SSL_set_SSL_CTX switches the certificate, not
     * these, and the version is negotiated after this callback */
    if (site->policy && tg_tls_protocol_apply_ssl(ssl, site->policy) != 0) {
        ERR_clear_error();
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

int tg_tls_frontend_init(const char *default_host, const char *ticket_keys_file, uint64_t ticket_rotation_ms)
{
    if (server_ctx)
        return 0;
    if (ticket_rotation_ms)
        ticket_rotate_ms = ticket_rotation_ms;
    fallback_host = default_host && default_host[0] ? default_host : NULL;
    if (ticket_keys_file && ticket_keys_file[0]) {
        const char *why = NULL;
        ticket_file = ticket_keys_file;
        if (load_ticket_file_locked(&why) != 0) {
            tg_error("TLS: --tls-ticket-keys-file %s %s", ticket_keys_file, why);
            return -1;
        }
        ticket_file_checked_ms = tg_now_ms();
        tg_info("TLS: session-ticket keys from %s (shared by every replica that reads it)", ticket_keys_file);
    }
    sni_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_sni);
    counters_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    server_ctx = tg_tls_server_ctx_new();
    if (!server_ctx || sni_index < 0 || counters_index < 0) {
        tg_error("TLS: cannot create the server context");
        return -1;
    }
    SSL_CTX_set_client_hello_cb(server_ctx, on_client_hello, NULL);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(server_ctx, on_ticket_key);
    /* whole seconds, rounded up: a resumption is refused by the key ring, not cut short by the timeout */
    SSL_CTX_set_timeout(server_ctx, (long)((TICKET_KEYS * ticket_rotate_ms + 999) / 1000));
    return 0;
}

int tg_tls_frontend_start(struct tg_conn *conn, struct tg_snapshot *const *snapshot_slot,
                          struct tg_counters *counters)
{
    if (tg_conn_start_tls_server(conn, server_ctx, (void *)snapshot_slot) != 0) {
        ERR_clear_error();
        return -1;
    }
    SSL *ssl = tg_conn_ssl(conn);
    SSL_set_ex_data(ssl, counters_index, counters);
    SSL_set_info_callback(ssl, on_info); /* per SSL: the context changes at the ClientHello */
    tg_tls_offer_ktls(ssl);
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
