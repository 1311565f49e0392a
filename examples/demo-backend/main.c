/* main.c — tollgate-demo-backend: the WebSocket/HTTP backend that `make run` and the data-plane tests put
 * behind the gateway. Owns the command line, the listening socket, accepting (capped per wakeup, pausing on
 * EMFILE), signals, and the single libev loop. The behaviour lives in demo_http.c, demo_ws.c, chat_room.c.
 *
 *   tollgate-demo-backend [--listen ADDR:PORT] [--name NAME] [--subprotocols a,b] [--log-level LEVEL]
 */
#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define ACCEPTS_PER_WAKEUP 64
#define MAX_NAME 64
#define MAX_SUBPROTOCOLS 16

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate-demo-backend [--listen ADDR:PORT] [--name NAME] [--subprotocols a,b]\n"
               "                             [--log-level debug|info|warn|error]\n"
               "  --listen ADDR:PORT   listen address (default 127.0.0.1:9000; [::1]:9000 for IPv6)\n"
               "  --name NAME          backend name echoed in answers (X-Backend, JSON \"backend\"; default demo)\n"
               "  --subprotocols LIST  WebSocket subprotocols accepted (default: the first one offered)\n");
}

/* Splits "ADDR:PORT" / "[V6]:PORT" into host and port strings (in place). */
static int split_host_port(char *s, char **host, char **port)
{
    char *colon;
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        *close = '\0';
        *host = s + 1;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        *colon = '\0';
        *host = s;
    }
    *port = colon + 1;
    if (!**port || !**host)
        return -1;
    for (const char *p = *port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

static int open_listener(const char *spec)
{
    int fd = -1;
    struct addrinfo *ai = NULL;
    char *copy = strdup(spec);
    char *host, *port;
    if (!copy || split_host_port(copy, &host, &port) < 0) {
        tg_error("bad --listen %s (want ADDR:PORT)", spec);
        goto cleanup;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        tg_error("--listen %s: %s", spec, gai_strerror(rc));
        goto cleanup;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tg_error("socket: %s", strerror(errno));
        goto cleanup;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        tg_error("listen on %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
        goto cleanup;
    }
cleanup:
    if (ai)
        freeaddrinfo(ai);
    free(copy);
    return fd;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct demo_server *srv = w->data;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting for a moment instead of spinning on a ready listener. */
                tg_warn("accept: %s (%zu connections); pausing accepts", strerror(errno), srv->n_conns);
                ev_io_stop(loop, &srv->accept_io);
                ev_timer_set(&srv->accept_retry, 0.1, 0.);
                ev_timer_start(loop, &srv->accept_retry);
            }
            return; /* EAGAIN and transient errors (ECONNABORTED, EINTR): next wakeup */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!demo_conn_new(srv, fd))
            close(fd);
    }
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct demo_server *srv = w->data;
    ev_io_start(loop, &srv->accept_io);
}

static void on_before_sleep(struct ev_loop *loop, ev_prepare *w, int revents)
{
    demo_conn_before_sleep(w->data);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    tg_info("signal %d, stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The name goes into a header field and into JSON built by hand: visible ASCII, no quotes or backslashes. */
static int name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME)
        return 0;
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\')
            return 0;
    return 1;
}

/* Splits a copy of the comma-separated list (argv stays as given, so ps shows the real command line). */
static int parse_subprotocols(struct demo_server *srv, const char *arg)
{
    free(srv->subprotocol_buf);
    srv->subprotocol_buf = strdup(arg);
    char *list = srv->subprotocol_buf;
    if (!list)
        return -1;
    if (!srv->subprotocols)
        srv->subprotocols = calloc(MAX_SUBPROTOCOLS, sizeof *srv->subprotocols);
    if (!srv->subprotocols)
        return -1;
    srv->n_subprotocols = 0; /* the last --subprotocols wins */
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (!len)
            continue;
        if (srv->n_subprotocols == MAX_SUBPROTOCOLS)
            return -1;
        srv->subprotocols[srv->n_subprotocols++] = tok;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:9000";
    struct demo_server srv;
    memset(&srv, 0, sizeof srv);
    srv.name = "demo";
    srv.listen_fd = -1;
    int status = 1;
    tg_log_set_component("demo-backend");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto cleanup;
        } else if (strcmp(a, "--listen") == 0 && has_value) {
            listen_spec = argv[++i];
        } else if (strcmp(a, "--name") == 0 && has_value) {
            srv.name = argv[++i];
        } else if (strcmp(a, "--subprotocols") == 0 && has_value) {
            if (parse_subprotocols(&srv, argv[++i]) < 0) {
                fprintf(stderr, "tollgate-demo-backend: bad --subprotocols (at most %d)\n", MAX_SUBPROTOCOLS);
                status = 2;
                goto cleanup;
            }
        } else if (strcmp(a, "--log-level") == 0 && has_value) {
            int level = tg_log_parse_level(argv[++i]);
            if (level < 0) {
                fprintf(stderr, "tollgate-demo-backend: bad --log-level %s\n", argv[i]);
                status = 2;
                goto cleanup;
            }
            tg_log_set_level((enum tg_log_level)level);
        } else {
            fprintf(stderr, "tollgate-demo-backend: unknown or incomplete option %s\n", a);
            usage(stderr);
            status = 2;
            goto cleanup;
        }
    }
    if (!name_ok(srv.name)) {
        fprintf(stderr, "tollgate-demo-backend: --name must be 1..%d visible ASCII characters without quotes\n",
                MAX_NAME);
        status = 2;
        goto cleanup;
    }

    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    srv.loop = ev_default_loop(EVFLAG_AUTO);
    if (!srv.loop) {
        tg_error("cannot create the event loop");
        goto cleanup;
    }
    srv.listen_fd = open_listener(listen_spec);
    if (srv.listen_fd < 0)
        goto cleanup;

    ev_io_init(&srv.accept_io, on_accept, srv.listen_fd, EV_READ);
    srv.accept_io.data = &srv;
    ev_io_start(srv.loop, &srv.accept_io);
    ev_init(&srv.accept_retry, on_accept_retry);
    srv.accept_retry.data = &srv;
    ev_prepare_init(&srv.before_sleep, on_before_sleep);
    srv.before_sleep.data = &srv;
    ev_prepare_start(srv.loop, &srv.before_sleep);
    ev_signal_init(&srv.sigint, on_signal, SIGINT);
    ev_signal_init(&srv.sigterm, on_signal, SIGTERM);
    ev_signal_start(srv.loop, &srv.sigint);
    ev_signal_start(srv.loop, &srv.sigterm);

    tg_info("backend \"%s\" listening on %s", srv.name, listen_spec);
    ev_run(srv.loop, 0);
    status = 0;

    demo_conn_close_all(&srv);
cleanup:
    if (srv.listen_fd >= 0)
        close(srv.listen_fd);
    free(srv.subprotocols);
    free(srv.subprotocol_buf);
    return status;
}
