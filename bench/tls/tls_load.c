/* tls_load.c — the TLS load client of bench/tls.sh (built by it, not part of tollgate-bench): the same client for
 * Tollgate, nginx and HAProxy. Blocking sockets, one thread per connection, OpenSSL 3.
 *
 *   tls_load handshakes --target H:P --sni NAME [--conns 4] [--duration 5] [--tls 1.2|1.3] [--resume]
 *       connect → full (or resumed, with a session taken from a first connection) handshake → close, in a loop;
 *       prints "handshakes N rate R/s resumed M".
 *   tls_load echo --target H:P --sni NAME [--conns 8] [--duration 5] [--size 64] [--window 16]
 *       wss:// upgrade, then each connection keeps `window` messages of `size` bytes in flight against the echo
 *       backend; prints "messages N rate R/s bytes_per_s B".
 *   tls_load idle --target H:P --sni NAME --sessions N --rss-pids "PID ..." [--settle 3]
 *       opens N wss:// sessions and holds them; prints the proxy's RSS growth per session
 *       ("sessions N bytes_per_session B").
 * Certificates are not verified (the bench makes a self-signed one); the Host header is the SNI name.
 */
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

static const char *target_host = "127.0.0.1", *sni = "bench.local", *rss_pids = "";
static int target_port, conns = 4, tls_version, resume, window = 16, sessions = 1000;
static double duration = 5, settle = 3;
static size_t msg_size = 64;
static SSL_CTX *ctx;
static SSL_SESSION *saved_session;
static _Atomic uint64_t done_count, resumed_count, byte_count;
static _Atomic int stop;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int tcp_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)target_port)};
    inet_pton(AF_INET, target_host, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static SSL *tls_connect(int fd, SSL_SESSION *sess)
{
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    if (sess)
        SSL_set_session(ssl, sess);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

static int write_all(SSL *ssl, const void *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        int w = SSL_write(ssl, (const char *)p + off, (int)(n - off > 1 << 30 ? 1 << 30 : n - off));
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int read_all(SSL *ssl, void *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        int r = SSL_read(ssl, (char *)p + off, (int)(n - off > 1 << 30 ? 1 << 30 : n - off));
        if (r <= 0)
            return -1;
        off += (size_t)r;
    }
    return 0;
}

/* Sends the upgrade request and reads the head of the 101. */
static int ws_upgrade(SSL *ssl)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /echo HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     sni);
    if (write_all(ssl, req, (size_t)n) != 0)
        return -1;
    char head[4096];
    size_t len = 0;
    while (len < sizeof head - 1) {
        if (SSL_read(ssl, head + len, 1) != 1)
            return -1;
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[len] = 0;
    return strncmp(head, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

/* One masked binary frame of msg_size bytes (mask key 0: the payload is sent as is). */
static unsigned char *make_frame(size_t *len)
{
    size_t hdr = msg_size < 126 ? 6 : msg_size < 65536 ? 8 : 14;
    unsigned char *f = calloc(1, hdr + msg_size);
    f[0] = 0x82;
    if (msg_size < 126) {
        f[1] = 0x80 | (unsigned char)msg_size;
    } else if (msg_size < 65536) {
        f[1] = 0x80 | 126;
        f[2] = (unsigned char)(msg_size >> 8);
        f[3] = (unsigned char)msg_size;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (unsigned char)((uint64_t)msg_size >> (56 - 8 * i));
    }
    memset(f + hdr, 'x', msg_size);
    *len = hdr + msg_size;
    return f;
}

/* Reads one whole echoed message (frames until FIN); its payload length, or -1. */
static long read_message(SSL *ssl, unsigned char *scratch, size_t cap)
{
    long total = 0;
    for (;;) {
        unsigned char h[10];
        if (read_all(ssl, h, 2) != 0)
            return -1;
        uint64_t n = h[1] & 0x7f;
        if (n == 126) {
            if (read_all(ssl, h + 2, 2) != 0)
                return -1;
            n = (uint64_t)h[2] << 8 | h[3];
        } else if (n == 127) {
            if (read_all(ssl, h + 2, 8) != 0)
                return -1;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | h[2 + i];
        }
        while (n > 0) {
            size_t chunk = n < cap ? (size_t)n : cap;
            if (read_all(ssl, scratch, chunk) != 0)
                return -1;
            n -= chunk;
            total += (long)chunk;
        }
        if (h[0] & 0x80)
            return total;
    }
}

/* GET /hello and the head of its answer on ssl (the connection stays open). 0, or -1. */
static int one_request(SSL *ssl)
{
    char req[256], buf[4096];
    int n = snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: %s\r\n\r\n", sni);
    if (write_all(ssl, req, (size_t)n) != 0)
        return -1;
    size_t got = 0;
    while (got < sizeof buf - 1) {
        int r = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

/* Full handshakes: connect, handshake, close. Resumed: each connection offers the session the previous one
 * ended with and makes one request (a TLS 1.3 ticket arrives after the handshake, and OpenSSL's client uses a
 * TLS 1.3 ticket once), so the resumed figures include one small request per handshake. */
static void *handshake_thread(void *arg)
{
    (void)arg;
    SSL_SESSION *sess = resume ? SSL_SESSION_dup(saved_session) : NULL;
    while (!atomic_load(&stop)) {
        int fd = tcp_connect();
        if (fd < 0)
            continue;
        SSL *ssl = tls_connect(fd, sess);
        if (ssl) {
            atomic_fetch_add(&done_count, 1);
            if (SSL_session_reused(ssl))
                atomic_fetch_add(&resumed_count, 1);
            if (resume && one_request(ssl) == 0) {
                SSL_SESSION *next = SSL_get1_session(ssl);
                if (next && SSL_SESSION_is_resumable(next)) {
                    SSL_SESSION_free(sess);
                    sess = next;
                } else {
                    SSL_SESSION_free(next);
                }
            }
            SSL_shutdown(ssl);
            SSL_free(ssl);
        }
        close(fd);
    }
    SSL_SESSION_free(sess);
    return NULL;
}

static void *echo_thread(void *arg)
{
    (void)arg;
    int fd = tcp_connect();
    SSL *ssl = fd >= 0 ? tls_connect(fd, NULL) : NULL;
    if (!ssl || ws_upgrade(ssl) != 0) {
        fprintf(stderr, "tls_load: echo connection failed\n");
        return NULL;
    }
    size_t flen;
    unsigned char *frame = make_frame(&flen);
    size_t cap = 1 << 16;
    unsigned char *scratch = malloc(cap);
    for (int i = 0; i < window; i++)
        if (write_all(ssl, frame, flen) != 0)
            goto out;
    while (!atomic_load(&stop)) {
        long got = read_message(ssl, scratch, cap);
        if (got < 0)
            break;
        atomic_fetch_add(&done_count, 1);
        atomic_fetch_add(&byte_count, (uint64_t)got);
        if (write_all(ssl, frame, flen) != 0)
            break;
    }
out:
    free(frame);
    free(scratch);
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static long rss_bytes(void)
{
    long total = 0;
    char *copy = strdup(rss_pids), *save = NULL;
    for (char *p = strtok_r(copy, " ,", &save); p; p = strtok_r(NULL, " ,", &save)) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", p);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmRSS:", 6) == 0)
                total += atol(line + 6) * 1024;
        fclose(f);
    }
    free(copy);
    return total;
}

/* The kernel's slab memory (/proc/meminfo Slab, the whole machine's): where kernel TLS keeps a session's state. */
static long slab_bytes(void)
{
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Slab:", 5) == 0)
            kb = atol(line + 5);
    fclose(f);
    return kb * 1024;
}

static int run_idle(void)
{
    /* a first session warms the proxy (pools, first-handshake allocations) before the baseline */
    int fd0 = tcp_connect();
    SSL *s0 = fd0 >= 0 ? tls_connect(fd0, NULL) : NULL;
    if (!s0 || ws_upgrade(s0) != 0)
        return 1;
    usleep((useconds_t)(settle * 1e6));
    long before = rss_bytes(), slab_before = slab_bytes();
    SSL **all = calloc((size_t)sessions, sizeof *all);
    int opened = 0;
    for (int i = 0; i < sessions; i++) {
        int fd = tcp_connect();
        SSL *ssl = fd >= 0 ? tls_connect(fd, NULL) : NULL;
        if (!ssl || ws_upgrade(ssl) != 0) {
            fprintf(stderr, "tls_load: session %d failed\n", i);
            break;
        }
        all[opened++] = ssl;
    }
    usleep((useconds_t)(settle * 1e6));
    long after = rss_bytes(), slab_after = slab_bytes();
    printf("sessions %d bytes_per_session %ld rss_before %ld rss_after %ld kernel_slab_per_session %ld\n", opened,
           opened ? (after - before) / opened : 0, before, after, opened ? (slab_after - slab_before) / opened : 0);
    for (int i = 0; i < opened; i++) {
        close(SSL_get_fd(all[i]));
        SSL_free(all[i]);
    }
    free(all);
    return opened == sessions ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tls_load handshakes|echo|idle --target H:P --sni NAME ...\n");
        return 2;
    }
    const char *mode = argv[1];
    static char host[64];
    for (int i = 2; i + 1 < argc || (i < argc && strcmp(argv[i], "--resume") == 0); i++) {
        const char *k = argv[i];
        if (strcmp(k, "--resume") == 0) {
            resume = 1;
            continue;
        }
        const char *v = argv[++i];
        if (strcmp(k, "--target") == 0) {
            const char *colon = strrchr(v, ':');
            snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - v) : 0, v);
            target_host = host;
            target_port = colon ? atoi(colon + 1) : 0;
        } else if (strcmp(k, "--sni") == 0) {
            sni = v;
        } else if (strcmp(k, "--conns") == 0) {
            conns = atoi(v);
        } else if (strcmp(k, "--duration") == 0) {
            duration = atof(v);
        } else if (strcmp(k, "--tls") == 0) {
            tls_version = strcmp(v, "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
        } else if (strcmp(k, "--size") == 0) {
            msg_size = (size_t)atol(v);
        } else if (strcmp(k, "--window") == 0) {
            window = atoi(v);
        } else if (strcmp(k, "--sessions") == 0) {
            sessions = atoi(v);
        } else if (strcmp(k, "--rss-pids") == 0) {
            rss_pids = v;
        } else if (strcmp(k, "--settle") == 0) {
            settle = atof(v);
        } else {
            fprintf(stderr, "tls_load: unknown option %s\n", k);
            return 2;
        }
    }
    if (!target_port || conns < 1 || conns > 256 || window < 1 || msg_size < 1 || msg_size > (64u << 20)) {
        fprintf(stderr, "tls_load: bad options\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    if (tls_version) {
        SSL_CTX_set_min_proto_version(ctx, tls_version);
        SSL_CTX_set_max_proto_version(ctx, tls_version);
    }
    if (strcmp(mode, "idle") == 0)
        return run_idle();
    if (strcmp(mode, "handshakes") == 0 && resume) {
        /* a first connection with a request: the TLS 1.3 ticket arrives after the handshake, before the answer */
        int fd = tcp_connect();
        SSL *ssl = fd >= 0 ? tls_connect(fd, NULL) : NULL;
        if (!ssl || one_request(ssl) != 0) {
            fprintf(stderr, "tls_load: first connection failed\n");
            return 1;
        }
        saved_session = SSL_get1_session(ssl);
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        if (!saved_session || !SSL_SESSION_is_resumable(saved_session)) {
            fprintf(stderr, "tls_load: no resumable session\n");
            return 1;
        }
    }
    void *(*fn)(void *) = strcmp(mode, "handshakes") == 0 ? handshake_thread : echo_thread;
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    for (int i = 0; i < conns; i++)
        pthread_create(&t[i], NULL, fn, NULL);
    /* echo: a second of warm-up, then counted */
    if (fn == echo_thread) {
        usleep(1000000);
        atomic_store(&done_count, 0);
        atomic_store(&byte_count, 0);
    }
    double t0 = now_s();
    usleep((useconds_t)(duration * 1e6));
    double el = now_s() - t0;
    uint64_t done = atomic_load(&done_count), res = atomic_load(&resumed_count), bytes = atomic_load(&byte_count);
    atomic_store(&stop, 1);
    if (fn == handshake_thread) {
        for (int i = 0; i < conns; i++)
            pthread_join(t[i], NULL);
        free(t);
        printf("handshakes %llu rate %.0f resumed %llu\n", (unsigned long long)done, done / el,
               (unsigned long long)res);
        return 0;
    }
    free(t); /* the echo threads are not joined: they may sit in a blocking read */
    printf("messages %llu rate %.0f bytes_per_s %.0f\n", (unsigned long long)done, done / el, bytes / el);
    fflush(stdout);
    _exit(0);
}
