/* main.c — tollgate-bench: command-line entry of the benchmark tool. Subcommands:
 *   backend  the upstream every peer proxies to (WebSocket echo, HTTP "hello")
 *   echo     WebSocket echo round-trip latency (--window 1) or pipelined throughput (--window N)
 *   upgrade  WebSocket upgrades/s: connections looping connect → upgrade → 101 → close
 *   idle     N idle WebSocket sessions through a proxy and its RSS growth per session
 *   selftest the tool's own arithmetic (histogram, parsers)
 * bench/run.sh drives them against Tollgate, nginx, HAProxy and a direct connection. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bench.h"
#include "idle.h"
#include "scenarios.h"
#include "selftest.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tollgate-bench backend --listen ADDR:PORT [--threads N]\n"
            "       tollgate-bench echo --target ADDR:PORT [--host H] [--path P] [--conns N] [--window W]\n"
            "                           [--size BYTES[k|m]] [--duration S] [--warmup S] [--label L]\n"
            "       tollgate-bench upgrade --target ADDR:PORT [--host H] [--path P] [--header 'Name: value']...\n"
            "                           [--conns N] [--duration S] [--warmup S] [--label L]\n"
            "       tollgate-bench idle --target ADDR:PORT [--host H] [--path P] --sessions N [--procs P]\n"
            "                           [--settle S] [--rss-pid PID]... [--label L]\n"
            "       tollgate-bench selftest\n"
            "Results are printed as one 'RESULT key=value ...' line on stdout.\n");
}

enum {
    OPT_LISTEN = 1, OPT_THREADS, OPT_TARGET, OPT_HOST, OPT_PATH, OPT_CONNS, OPT_WINDOW, OPT_SIZE, OPT_DURATION,
    OPT_WARMUP, OPT_LABEL, OPT_SESSIONS, OPT_PROCS, OPT_SETTLE, OPT_RSS_PID, OPT_TIMEOUT, OPT_HEADER, OPT_HELP,
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},     {"threads", required_argument, NULL, OPT_THREADS},
    {"target", required_argument, NULL, OPT_TARGET},     {"host", required_argument, NULL, OPT_HOST},
    {"path", required_argument, NULL, OPT_PATH},         {"conns", required_argument, NULL, OPT_CONNS},
    {"window", required_argument, NULL, OPT_WINDOW},     {"size", required_argument, NULL, OPT_SIZE},
    {"duration", required_argument, NULL, OPT_DURATION}, {"warmup", required_argument, NULL, OPT_WARMUP},
    {"label", required_argument, NULL, OPT_LABEL},       {"sessions", required_argument, NULL, OPT_SESSIONS},
    {"procs", required_argument, NULL, OPT_PROCS},       {"settle", required_argument, NULL, OPT_SETTLE},
    {"rss-pid", required_argument, NULL, OPT_RSS_PID},   {"connect-timeout", required_argument, NULL, OPT_TIMEOUT},
    {"header", required_argument, NULL, OPT_HEADER},     {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

struct cli {
    const char *listen, *target, *host, *path, *label;
    long threads, conns, window, sessions, procs;
    uint64_t size;
    double duration, warmup, settle, timeout;
    pid_t pids[TG_BENCH_IDLE_MAX_PIDS];
    int npids;
    const char *headers[8];
    int nheaders;
};

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "tollgate-bench: invalid value for --%s: '%s'\n", opt, val);
    return -1;
}

static int parse_cli(int argc, char **argv, struct cli *c)
{
    *c = (struct cli){.host = "bench.local", .path = "/ws", .label = "run", .threads = 1, .conns = 1, .window = 1,
                      .size = 32, .duration = 10, .warmup = 2, .settle = 3, .timeout = 30, .procs = 0};
    int opt;
    long v;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_LISTEN: c->listen = optarg; break;
        case OPT_TARGET: c->target = optarg; break;
        case OPT_HOST: c->host = optarg; break;
        case OPT_PATH: c->path = optarg; break;
        case OPT_LABEL:
            if (!*optarg || strlen(optarg) > 64 || strpbrk(optarg, " \t\n="))
                return bad("label", optarg);
            c->label = optarg;
            break;
        case OPT_THREADS:
            if (tg_bench_parse_long(optarg, 1, 64, &c->threads) != 0)
                return bad("threads", optarg);
            break;
        case OPT_CONNS:
            if (tg_bench_parse_long(optarg, 1, 10000, &c->conns) != 0)
                return bad("conns", optarg);
            break;
        case OPT_WINDOW:
            if (tg_bench_parse_long(optarg, 1, 4096, &c->window) != 0)
                return bad("window", optarg);
            break;
        case OPT_SIZE:
            if (tg_bench_parse_size(optarg, 64u * 1024 * 1024, &c->size) != 0)
                return bad("size", optarg);
            break;
        case OPT_DURATION:
            if (tg_bench_parse_seconds(optarg, 0.01, 3600, &c->duration) != 0)
                return bad("duration", optarg);
            break;
        case OPT_WARMUP:
            if (tg_bench_parse_seconds(optarg, 0, 3600, &c->warmup) != 0)
                return bad("warmup", optarg);
            break;
        case OPT_SETTLE:
            if (tg_bench_parse_seconds(optarg, 0, 3600, &c->settle) != 0)
                return bad("settle", optarg);
            break;
        case OPT_TIMEOUT:
            if (tg_bench_parse_seconds(optarg, 0.1, 3600, &c->timeout) != 0)
                return bad("connect-timeout", optarg);
            break;
        case OPT_SESSIONS:
            if (tg_bench_parse_long(optarg, 1, 1000000, &c->sessions) != 0)
                return bad("sessions", optarg);
            break;
        case OPT_PROCS:
            if (tg_bench_parse_long(optarg, 1, 64, &c->procs) != 0)
                return bad("procs", optarg);
            break;
        case OPT_RSS_PID:
            if (c->npids == TG_BENCH_IDLE_MAX_PIDS || tg_bench_parse_long(optarg, 1, 1L << 30, &v) != 0)
                return bad("rss-pid", optarg);
            c->pids[c->npids++] = (pid_t)v;
            break;
        case OPT_HEADER:
            if (c->nheaders == (int)(sizeof c->headers / sizeof c->headers[0]))
                return bad("header", optarg);
            c->headers[c->nheaders++] = optarg;
            break;
        case OPT_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tollgate-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = argv[1];
    struct cli c;
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "selftest") == 0)
        return argc == 2 && tg_bench_selftest() == 0 ? 0 : 1;
    if (parse_cli(argc, argv, &c) != 0)
        return 2;

    if (strcmp(cmd, "backend") == 0) {
        if (!c.listen) {
            fprintf(stderr, "tollgate-bench backend: --listen is required\n");
            return 2;
        }
        struct tg_bench_backend_opts o = {.listen = c.listen, .threads = c.threads};
        return tg_bench_run_backend(&o) == 0 ? 0 : 1;
    }
    if (strcmp(cmd, "echo") != 0 && strcmp(cmd, "idle") != 0 && strcmp(cmd, "upgrade") != 0) {
        usage(stderr);
        return 2;
    }
    if (!c.target) {
        fprintf(stderr, "tollgate-bench %s: --target is required\n", cmd);
        return 2;
    }
    if (strcmp(cmd, "echo") == 0) {
        struct tg_bench_echo_opts o = {.label = c.label, .conns = c.conns, .window = c.window, .size = c.size,
                                       .warmup_s = c.warmup, .duration_s = c.duration, .connect_timeout_s = c.timeout};
        if (tg_bench_target_init(&o.target, c.target, c.host, c.path) != 0)
            return 2;
        if (tg_bench_raise_nofile() < c.conns + 64) {
            fprintf(stderr, "tollgate-bench echo: the file-descriptor limit is too low for %ld connections\n", c.conns);
            return 2;
        }
        return tg_bench_run_echo(&o, stdout) == 0 ? 0 : 1;
    }
    if (strcmp(cmd, "upgrade") == 0) {
        struct tg_bench_upgrade_opts o = {.label = c.label, .conns = c.conns, .warmup_s = c.warmup,
                                          .duration_s = c.duration};
        if (tg_bench_target_init(&o.target, c.target, c.host, c.path) != 0)
            return 2;
        for (int i = 0; i < c.nheaders; i++)
            if (tg_bench_target_add_header(&o.target, c.headers[i]) != 0)
                return 2;
        if (tg_bench_raise_nofile() < c.conns + 64) {
            fprintf(stderr, "tollgate-bench upgrade: the file-descriptor limit is too low for %ld connections\n",
                    c.conns);
            return 2;
        }
        return tg_bench_run_upgrade(&o, stdout) == 0 ? 0 : 1;
    }
    if (c.sessions == 0) {
        fprintf(stderr, "tollgate-bench idle: --sessions is required\n");
        return 2;
    }
    struct tg_bench_idle_opts o = {.label = c.label, .sessions = c.sessions, .settle_s = c.settle,
                                   .connect_timeout_s = c.timeout, .npids = c.npids};
    /* each client process keeps well under a 20,000-descriptor limit */
    o.procs = c.procs ? c.procs : (c.sessions + 4999) / 5000;
    memcpy(o.pids, c.pids, sizeof c.pids);
    if (tg_bench_target_init(&o.target, c.target, c.host, c.path) != 0)
        return 2;
    return tg_bench_run_idle(&o, stdout) == 0 ? 0 : 1;
}
