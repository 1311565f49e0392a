/* main.c — tollgate-dataplane: command line (DESIGN.md "Binaries"), start-up (workers and the proxying layer on
 * each, with its listener; admin and control servers; the optional --snapshot file), signals, the drain on
 * SIGTERM/SIGINT, and the orderly end (workers joined, then freed). */
#include "process/dataplane.h"
#include "process/metrics_series.h"
#include "proxy/ip_limit.h"
#include "proxy/tls_frontend.h"
#include "proxy/ws_kernel_relay.h"

#include "clock.h"
#include "duration.h"
#include "log.h"
#include "process/trusted_proxies.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>



/* the side channels' own caps (docs/security.md): a flood of admin or control connections is shed there and
 * never reaches the workers; each request has its whole life bounded (10 s admin, 30 s control) */
#define TG_ADMIN_MAX_CONNS 256
#define TG_CONTROL_MAX_CONNS 16

static _Atomic int workers_finished;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tollgate-dataplane [options]\n"
            "  --listen ADDR:PORT          HTTP/WebSocket listener (default 0.0.0.0:8080)\n"
            "  --tls-listen ADDR:PORT      HTTPS/wss:// listener, certificates by SNI from the snapshot (default off)\n"
            "  --tls-default-host NAME     certificate for handshakes without a known SNI (default: refuse them)\n"
            "  --tls-ticket-keys-file PATH session-ticket keys (80 bytes each, first encrypts; re-read when it\n"
            "                              changes) shared by replicas (default: per-process keys rotated hourly)\n"
            "  --tls-ticket-rotation DURATION  period of the per-process session-ticket keys (default 1h, 1s..48h;\n"
            "                              a ticket resumes for at most three periods)\n"
            "  --admin ADDR:PORT           admin API (default 127.0.0.1:9901)\n"
            "  --control-socket PATH       controller pushes snapshots here (default /run/tollgate/control.sock;\n"
            "                              \"\" disables)\n"
            "  --snapshot FILE             start from this snapshot (JSON, docs/control-protocol.md)\n"
            "  --workers N                 worker threads (default: number of CPUs)\n"
            "  --drain-timeout DURATION    SIGTERM: time to finish in-flight work (default 10s)\n"
            "  --max-header-bytes N        request/response head limit (default 32768; 431 above)\n"
            "  --keepalive-timeout DURATION idle client keep-alive connection (default 75s)\n"
            "  --header-timeout DURATION   time to receive a request head (default 30s)\n"
            "  --request-body-timeout DURATION  a request body must arrive whole within it (default 300s; 0: none)\n"
            "  --max-connections N         inbound connections per worker, WebSocket sessions included\n"
            "                              (default 0: unlimited; over it a new connection is closed at once)\n"
            "  --max-connections-per-ip N  live connections per client address, process-wide (default 0: off)\n"
            "  --log-level LEVEL           debug|info|warn|error (default info)\n"
            "  --probe-listen ADDR:PORT    /healthz, /readyz, /metrics only (for kubelet and Prometheus)\n"
            "  --admin-token-file FILE     bearer token the admin API requires (needed off loopback)\n"
            "  --analytics-log PATH|-      one JSON line per request and per WebSocket session (SIGHUP reopens)\n"
            "  --analytics-queue N         analytics lines queued before drops are counted (default 65536)\n"
            "  --trusted-proxies CIDR,...  peers whose X-Forwarded-*/Forwarded are kept (default: none)\n"
            "  --kernel-relay              relay established plain WebSocket sessions in the kernel (BPF sockmap;\n"
            "                              needs CAP_BPF + CAP_NET_ADMIN, else falls back to user space, logged once)\n"
            "  --encoded-slashes MODE      %%2F/%%5C in a path: reject (400, default), keep (encoded; refused when\n"
            "                              the decoded path routes elsewhere) or decode (to /, before routing);\n"
            "                              the default for proxies whose snapshot sets no \"encodedSlashes\"\n"
            "  --max-buffer-memory BYTES   memory in 32 KiB I/O buffers, process-wide, split over the workers\n"
            "                              (suffix k, m or g: KiB, MiB, GiB; default 0: unlimited; at least\n"
            "                              512 KiB per worker); at the cap new work waits and new connections\n"
            "                              are closed at accept\n"
            "  --yield-after-us N          a worker iteration that worked N µs ends with sched_yield, so workers\n"
            "                              sharing a CPU take turns per iteration, not per time slice (default 30;\n"
            "                              0: never; a single worker never yields)\n"
            "  --busy-poll-us N            poll without sleeping for N µs after each burst of work: no wake-up\n"
            "                              latency, at the price of a spinning CPU (default 0: off)\n"
            "  --help\n");
}

static void make_boot_id(char *out, size_t size)
{
    unsigned char raw[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, raw, sizeof raw) != (ssize_t)sizeof raw)
            memset(raw, 0, sizeof raw);
        close(fd);
    }
    uint64_t now = tg_wall_ms();
    memcpy(raw, &now, sizeof now < sizeof raw ? sizeof now : sizeof raw); /* never all-zero */
    size_t o = 0;
    for (size_t i = 0; i < sizeof raw && o + 2 < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%02x", raw[i]);
}

static int load_snapshot_file(struct tg_dataplane *dp, const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        tg_error("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    json_t *errors = json_array();
    int conflict = 0;
    uint64_t version = tg_dataplane_apply(dp, doc, errors, &conflict);
    json_decref(doc);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) tg_error("%s: %s", path, json_string_value(e));
    json_decref(errors);
    return version ? 0 : -1;
}

static void on_worker_finished_check(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_dataplane *dp = t->data;
    if (atomic_load(&workers_finished) >= dp->num_workers)
        ev_break(loop, EVBREAK_ALL);
}

static void *worker_thread_wrapper(void *arg);

static void on_stop_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct tg_dataplane *dp = s->data;
    if (dp->stopping) {
        tg_warn("second signal: exiting now");
        _exit(1);
    }
    dp->stopping = 1;
    tg_info("signal %d: draining (WebSockets get 1001, in-flight HTTP finishes; at most %llu ms)", s->signum,
            (unsigned long long)dp->config.drain_timeout_ms);
    tg_mini_server_close(&dp->control);
    for (int i = 0; i < dp->num_workers; i++)
        tg_worker_post_drain(&dp->workers[i], dp->config.drain_timeout_ms);
    ev_timer_start(loop, &dp->drain_watch);
}

/* Debug sessions end at their duration even when nobody reads them (the live count and listings stay true). */
static void on_debug_expiry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_dataplane *dp = t->data;
    tg_debug_store_expire(&dp->debug);
}

/* logrotate: the analytics log is reopened by its writer before its next line */
static void on_hup_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct tg_dataplane *dp = w->data;
    tg_analytics_log_reopen(&dp->analytics);
}

static int parse_duration_flag(const char *name, const char *value, uint64_t *out)
{
    const char *err = "invalid duration";
    if (tg_duration_parse_ms(value, 30ull * 86400000, out, &err) != 0) {
        fprintf(stderr, "tollgate-dataplane: %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

/* --tls-ticket-rotation: a duration within the bounds of proxy/tls_frontend.h. */
static int parse_ticket_rotation(const char *value, uint64_t *out)
{
    if (parse_duration_flag("--tls-ticket-rotation", value, out) != 0)
        return -1;
    if (*out < TG_TLS_TICKET_ROTATION_MIN_MS || *out > TG_TLS_TICKET_ROTATION_MAX_MS) {
        fprintf(stderr, "tollgate-dataplane: --tls-ticket-rotation: between 1s and 48h (a ticket lives at most "
                        "three periods; TLS 1.3 allows 7 days)\n");
        return -1;
    }
    return 0;
}

static int parse_count_flag(const char *name, const char *value, size_t *out)
{
    char *end = NULL;
    long long v = strtoll(value, &end, 10);
    if (!*value || *end || v < 0 || v > 100000000) {
        fprintf(stderr, "tollgate-dataplane: %s: 0..100000000 (0: unlimited)\n", name);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* Microseconds, 0..1000000 (zero_means: what 0 does, for the error message). */
static int parse_micros_flag(const char *name, const char *value, const char *zero_means, size_t *out)
{
    char *end = NULL;
    long long v = strtoll(value, &end, 10);
    if (!*value || *end || v < 0 || v > 1000000) {
        fprintf(stderr, "tollgate-dataplane: %s: microseconds, 0..1000000 (0: %s)\n", name, zero_means);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* A byte count with an optional binary suffix (k, m, g: KiB, MiB, GiB), up to 1 TiB. */
static int parse_size_flag(const char *name, const char *value, size_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(value, &end, 10);
    unsigned shift = 0;
    if (end && (*end == 'k' || *end == 'K'))
        shift = 10;
    else if (end && (*end == 'm' || *end == 'M'))
        shift = 20;
    else if (end && (*end == 'g' || *end == 'G'))
        shift = 30;
    if (shift)
        end++;
    if (!*value || *value == '-' || !end || *end || v > (1ull << 40) >> shift) {
        fprintf(stderr, "tollgate-dataplane: %s: a byte count, optionally with k, m or g (0: unlimited)\n", name);
        return -1;
    }
    *out = (size_t)(v << shift);
    return 0;
}

int main(int argc, char **argv)
{
    static struct tg_ip_limit ip_limit;
    size_t max_per_ip = 0, max_buffer_memory = 0;
    int kernel_relay = 0;
    static struct tg_dataplane dp_storage;
    struct tg_dataplane *dp = &dp_storage;
    tg_log_set_component("dataplane");
    dp->config.proxy.listen_addr = "0.0.0.0:8080";
    dp->admin_addr = "127.0.0.1:9901";
    dp->control_socket = "/run/tollgate/control.sock";
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    dp->config.workers = cpus > 0 ? (int)cpus : 1;
    dp->config.proxy.max_head_bytes = 32768;
    dp->config.proxy.request_head_timeout_ms = 30000;
    dp->config.proxy.keepalive_timeout_ms = 75000;
    dp->config.proxy.request_body_timeout_ms = 300000;
    dp->config.proxy.upstream_idle_timeout_ms = 60000;
    dp->config.proxy.upstream_pool_per_endpoint = 64;
    dp->config.drain_timeout_ms = 10000;
    dp->config.yield_after_us = 30;

    enum { OPT_LISTEN = 1, OPT_ADMIN, OPT_CONTROL, OPT_SNAPSHOT, OPT_WORKERS, OPT_DRAIN, OPT_MAX_HEADER,
           OPT_KEEPALIVE, OPT_HEADER_TIMEOUT, OPT_LOG_LEVEL, OPT_HELP, OPT_MAX_CONNS, OPT_MAX_CONNS_IP,
           OPT_BODY_TIMEOUT, OPT_ANALYTICS, OPT_ANALYTICS_QUEUE, OPT_PROBE, OPT_ADMIN_TOKEN, OPT_TLS_LISTEN,
           OPT_TLS_DEFAULT_HOST, OPT_TLS_TICKET_KEYS, OPT_TRUSTED, OPT_KERNEL_RELAY, OPT_ENCODED_SLASHES,
           OPT_MAX_BUFFER_MEMORY, OPT_YIELD_AFTER, OPT_BUSY_POLL, OPT_TLS_TICKET_ROTATION };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"yield-after-us", required_argument, NULL, OPT_YIELD_AFTER},
        {"busy-poll-us", required_argument, NULL, OPT_BUSY_POLL},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"control-socket", required_argument, NULL, OPT_CONTROL},
        {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN},
        {"max-header-bytes", required_argument, NULL, OPT_MAX_HEADER},
        {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE},
        {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"request-body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
        {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNS_IP},
        {"help", no_argument, NULL, OPT_HELP},
        {"analytics-log", required_argument, NULL, OPT_ANALYTICS},
        {"analytics-queue", required_argument, NULL, OPT_ANALYTICS_QUEUE},
        {"probe-listen", required_argument, NULL, OPT_PROBE},
        {"admin-token-file", required_argument, NULL, OPT_ADMIN_TOKEN},
        {"tls-listen", required_argument, NULL, OPT_TLS_LISTEN},
        {"tls-default-host", required_argument, NULL, OPT_TLS_DEFAULT_HOST},
        {"tls-ticket-keys-file", required_argument, NULL, OPT_TLS_TICKET_KEYS},
        {"tls-ticket-rotation", required_argument, NULL, OPT_TLS_TICKET_ROTATION},
        {"trusted-proxies", required_argument, NULL, OPT_TRUSTED},
        {"kernel-relay", no_argument, NULL, OPT_KERNEL_RELAY},
        {"encoded-slashes", required_argument, NULL, OPT_ENCODED_SLASHES},
        {"max-buffer-memory", required_argument, NULL, OPT_MAX_BUFFER_MEMORY},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case OPT_LISTEN: dp->config.proxy.listen_addr = optarg; break;
        case OPT_ADMIN: dp->admin_addr = optarg; break;
        case OPT_CONTROL: dp->control_socket = optarg; break;
        case OPT_SNAPSHOT: dp->snapshot_file = optarg; break;
        case OPT_WORKERS:
            dp->config.workers = (int)strtol(optarg, &end, 10);
            if (*end || dp->config.workers < 1 || dp->config.workers > TG_METRICS_MAX_WORKERS) {
                fprintf(stderr, "tollgate-dataplane: --workers: 1..%d\n", TG_METRICS_MAX_WORKERS);
                return 2;
            }
            break;
        case OPT_DRAIN:
            if (parse_duration_flag("--drain-timeout", optarg, &dp->config.drain_timeout_ms) != 0)
                return 2;
            break;
        case OPT_KEEPALIVE:
            if (parse_duration_flag("--keepalive-timeout", optarg, &dp->config.proxy.keepalive_timeout_ms) != 0)
                return 2;
            break;
        case OPT_HEADER_TIMEOUT:
            if (parse_duration_flag("--header-timeout", optarg, &dp->config.proxy.request_head_timeout_ms) != 0)
                return 2;
            break;
        case OPT_MAX_HEADER: {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1024 || v > TG_BUF_SIZE) {
                fprintf(stderr, "tollgate-dataplane: --max-header-bytes: 1024..%d\n", TG_BUF_SIZE);
                return 2;
            }
            dp->config.proxy.max_head_bytes = (size_t)v;
            break;
        }
        case OPT_LOG_LEVEL: {
            int level = tg_log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "tollgate-dataplane: --log-level: debug|info|warn|error|off\n");
                return 2;
            }
            tg_log_set_level((enum tg_log_level)level);
            break;
        }
        case OPT_BODY_TIMEOUT:
            if (parse_duration_flag("--request-body-timeout", optarg, &dp->config.proxy.request_body_timeout_ms) != 0)
                return 2;
            break;
        case OPT_MAX_CONNS:
        case OPT_MAX_CONNS_IP:
            if (parse_count_flag(opt == OPT_MAX_CONNS ? "--max-connections" : "--max-connections-per-ip", optarg,
                                 opt == OPT_MAX_CONNS ? &dp->config.proxy.max_connections_per_worker : &max_per_ip) != 0)
                return 2;
            break;
        case OPT_ANALYTICS: dp->analytics_path = optarg; break;
        case OPT_PROBE: dp->exposure.probe_addr = optarg; break;
        case OPT_ADMIN_TOKEN: dp->exposure.token_file = optarg; break;
        case OPT_ANALYTICS_QUEUE:
            dp->analytics_queue = (size_t)strtoul(optarg, &end, 10);
            if (*end || dp->analytics_queue < 1 || dp->analytics_queue > (1u << 24)) {
                fprintf(stderr, "tollgate-dataplane: --analytics-queue: 1..16777216\n");
                return 2;
            }
            break;
        case OPT_HELP: usage(stdout); return 0;
        case OPT_TLS_LISTEN: dp->config.proxy.tls_listen_addr = optarg; break;
        case OPT_TLS_DEFAULT_HOST: dp->config.proxy.tls_default_host = optarg; break;
        case OPT_TLS_TICKET_KEYS: dp->config.proxy.tls_ticket_keys_file = optarg; break;
        case OPT_TLS_TICKET_ROTATION:
            if (parse_ticket_rotation(optarg, &dp->config.proxy.tls_ticket_rotation_ms) != 0)
                return 2;
            break;
        case OPT_TRUSTED:
            if (tg_trusted_proxies_flag(optarg, &dp->config.proxy) != 0)
                return 2;
            break;
        case OPT_KERNEL_RELAY: kernel_relay = 1; break;
        case OPT_ENCODED_SLASHES:
            if (tg_encoded_slashes_parse(optarg, &dp->config.proxy.encoded_slashes) != 0) {
                fprintf(stderr, "tollgate-dataplane: --encoded-slashes: reject|keep|decode\n");
                return 2;
            }
            break;
        case OPT_YIELD_AFTER:
            if (parse_micros_flag("--yield-after-us", optarg, "never yield", &dp->config.yield_after_us) != 0)
                return 2;
            break;
        case OPT_BUSY_POLL:
            if (parse_micros_flag("--busy-poll-us", optarg, "off", &dp->config.busy_poll_us) != 0)
                return 2;
            break;
        case OPT_MAX_BUFFER_MEMORY:
            if (parse_size_flag("--max-buffer-memory", optarg, &max_buffer_memory) != 0)
                return 2;
            break;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (dp->config.proxy.tls_ticket_rotation_ms && dp->config.proxy.tls_ticket_keys_file) {
        fprintf(stderr, "tollgate-dataplane: --tls-ticket-rotation and --tls-ticket-keys-file exclude each other "
                        "(keys from a file rotate when the file changes)\n");
        return 2;
    }
    if (max_buffer_memory) {
        size_t per_worker = max_buffer_memory / TG_BUF_SIZE / (size_t)dp->config.workers;
        if (per_worker < 16) {
            fprintf(stderr, "tollgate-dataplane: --max-buffer-memory: at least 512 KiB per worker (%d workers)\n",
                    dp->config.workers);
            return 2;
        }
        dp->config.proxy.max_buffers_per_worker = per_worker;
        tg_metrics_set_buffer_limit((uint64_t)per_worker * TG_BUF_SIZE * (uint64_t)dp->config.workers);
    }
    if (max_per_ip) {
        tg_ip_limit_init(&ip_limit, max_per_ip);
        dp->config.proxy.ip_limit = &ip_limit;
    }
    signal(SIGPIPE, SIG_IGN);
    /* as many descriptors as the hard limit allows: each relayed session holds two */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    tg_krelay_setup(kernel_relay); /* before the workers: sessions are offered from their first pump */
    make_boot_id(dp->boot_id, sizeof dp->boot_id);
    dp->loop = EV_DEFAULT;
    dp->num_workers = dp->config.workers;
    tg_metrics_init(dp->num_workers);
    dp->workers = calloc((size_t)dp->num_workers, sizeof *dp->workers);
    dp->proxies = calloc((size_t)dp->num_workers, sizeof *dp->proxies);
    if (!dp->workers || !dp->proxies)
        return 1;
    tg_debug_store_init(&dp->debug);
    if (dp->analytics_path &&
        tg_analytics_log_start(&dp->analytics, dp->analytics_path, dp->analytics_queue ? dp->analytics_queue : 65536) != 0)
        return 1;
    const struct tg_proxy_hooks hooks = {
        .owner = dp,
        .snapshot_applied = tg_control_worker_applied,
        .metrics = tg_metrics_series_hooks(),
        .debug = tg_debug_store_hooks(&dp->debug),
        .analytics = dp->analytics_path ? &dp->analytics.hooks : NULL,
    };
    for (int i = 0; i < dp->num_workers; i++) {
        if (tg_worker_init(&dp->workers[i], i) != 0)
            return 1;
        /* yielding lets sibling workers that share a CPU take turns; a lone worker has none, and handing the CPU
         * to other processes only delays its own connections (a full TLS handshake's wall time +15 % beside its
         * clients: docs/performance.md "The tail") */
        dp->workers[i].yield_after_ns = dp->num_workers > 1 ? (uint64_t)dp->config.yield_after_us * 1000u : 0;
        dp->workers[i].busy_poll_ns = (uint64_t)dp->config.busy_poll_us * 1000u;
        if (tg_proxy_worker_init(&dp->proxies[i], &dp->workers[i], &dp->config.proxy, tg_metrics_shard(i), &hooks) != 0)
            return 1;
    }
    ev_async_init(&dp->acks, tg_control_on_acks);
    dp->acks.data = dp;
    ev_async_start(dp->loop, &dp->acks);

    if (dp->snapshot_file && load_snapshot_file(dp, dp->snapshot_file) != 0)
        return 1;
    if (tg_admin_exposure_prepare(&dp->exposure, dp->admin_addr, tg_admin_handle, dp) != 0)
        return 2;
    if (tg_mini_server_listen(&dp->admin, dp->loop, dp->admin_addr, 4096, tg_admin_exposure_admin, &dp->exposure) != 0)
        return 1;
    if (dp->exposure.probe_addr && tg_mini_server_listen(&dp->exposure.probe, dp->loop, dp->exposure.probe_addr, 0,
                                                         tg_admin_exposure_probe, &dp->exposure) != 0)
        return 1;
    dp->admin.max_conns = TG_ADMIN_MAX_CONNS;
    dp->admin.timeout_ms = 10000;
    dp->exposure.probe.max_conns = TG_ADMIN_MAX_CONNS; /* the probe port faces the pod network: the same caps */
    dp->exposure.probe.timeout_ms = 10000;
    if (dp->control_socket[0]) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", dp->control_socket);
        mkdir(dirname(dir), 0750); /* /run/tollgate may not exist yet */
        if (tg_mini_server_listen(&dp->control, dp->loop, dp->control_socket, 64u << 20, tg_control_handle, dp) != 0)
            return 1;
        dp->control.max_conns = TG_CONTROL_MAX_CONNS;
        dp->control.on_abandon = tg_control_on_abandon;
    } else {
        dp->control.fd = -1;
    }
    for (int i = 0; i < dp->num_workers; i++) {
        struct tg_worker *w = &dp->workers[i];
        pthread_t th;
        if (pthread_create(&th, NULL, worker_thread_wrapper, w) != 0) {
            tg_error("cannot start worker %d", i);
            return 1;
        }
        w->thread = th;
    }
    ev_signal_init(&dp->sigterm, on_stop_signal, SIGTERM);
    dp->sigterm.data = dp;
    ev_signal_start(dp->loop, &dp->sigterm);
    ev_signal_init(&dp->sigint, on_stop_signal, SIGINT);
    dp->sigint.data = dp;
    ev_signal_start(dp->loop, &dp->sigint);
    ev_signal_init(&dp->sighup, on_hup_signal, SIGHUP);
    dp->sighup.data = dp;
    ev_signal_start(dp->loop, &dp->sighup);
    ev_timer_init(&dp->debug_expiry, on_debug_expiry, 0.25, 0.25);
    dp->debug_expiry.data = dp;
    ev_timer_start(dp->loop, &dp->debug_expiry);
    ev_timer_init(&dp->drain_watch, on_worker_finished_check, 0.02, 0.02);
    dp->drain_watch.data = dp;
    tg_info("listening on %s (%d workers), admin %s, control %s, boot %s", dp->config.proxy.listen_addr, dp->num_workers,
            dp->admin_addr, dp->control_socket[0] ? dp->control_socket : "(off)", dp->boot_id);

    ev_run(dp->loop, 0);

    for (int i = 0; i < dp->num_workers; i++) {
        pthread_join(dp->workers[i].thread, NULL);
        tg_proxy_worker_destroy(&dp->proxies[i]);
        tg_worker_destroy(&dp->workers[i]);
    }
    tg_mini_server_close(&dp->admin);
    if (dp->exposure.probe_addr)
        tg_mini_server_close(&dp->exposure.probe);
    tg_mini_server_close(&dp->control);
    if (dp->control_socket[0])
        unlink(dp->control_socket);
    while (dp->pending) {
        struct tg_pending_apply *p = dp->pending;
        dp->pending = p->next;
        free(p);
    }
    tg_snapshot_unref(dp->current);
    tg_debug_store_destroy(&dp->debug);
    tg_analytics_log_stop(&dp->analytics);
    free(dp->proxies);
    free(dp->workers);
    tg_info("stopped");
    return 0;
}

static void *worker_thread_wrapper(void *arg)
{
    struct tg_worker *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the main thread's loop */
    tg_worker_run(w);
    atomic_fetch_add(&workers_finished, 1);
    return NULL;
}
