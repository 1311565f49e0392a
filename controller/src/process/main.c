/* main.c — tollgate-controller's command line (DESIGN.md "Binaries and their command lines"): parses flags,
 * picks the source by --source and hands over to the process (controller.c). */
#include "process/controller.h"
#include "duration.h"
#include "log.h"
#include "source/source.h"
#include "translate/translate_tls_defaults.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tollgate-controller [options]\n"
            "  --source kube|dir:PATH     where objects come from (default kube)\n"
            "  --kubeconfig PATH          kube: kubeconfig file (default $KUBECONFIG, in-cluster, ~/.kube/config)\n"
            "  --namespace NS             kube: watch one namespace (default all)\n"
            "  --leader-elect             kube: only the Lease holder writes status\n"
            "  --lease-duration DUR       kube: Lease duration (default 15s)\n"
            "  --renew-deadline DUR       kube: a leader that cannot renew for this long steps down (default 10s)\n"
            "  --retry-period DUR         kube: how often to acquire/renew the Lease (default 2s)\n"
            "  --lease-name NAME          kube: the Lease's name (default tollgate-controller)\n"
            "  --lease-namespace NS       kube: the Lease's namespace (default --namespace, else the pod's, else default)\n"
            "  --dataplane-socket PATH    data plane control socket (default /run/tollgate/control.sock)\n"
            "  --health ADDR:PORT|off     /healthz, /readyz, /metrics (default 127.0.0.1:9902)\n"
            "  --once                     translate, push, exit (0 ok, 1 input errors, 2 rejected, 3 unreachable)\n"
            "  --print                    translate and print the snapshot JSON to stdout; no push\n"
            "  --timeout SECONDS          --once/--print: give up after this long (default 30)\n"
            "  --log-level LEVEL          debug|info|warn|error|off (default info)\n"
            "  --tls-default-certificate NS/NAME  kubernetes.io/tls Secret answering TLS handshakes no group's\n"
            "                             certificate takes (no SNI, unknown name, a group without spec.tls)\n"
            "  --tls-default-min-version 1.2|1.3, --tls-default-max-version 1.2|1.3\n"
            "                             versions of groups whose spec.tlsOptions sets neither\n"
            "  --tls-default-ciphers A:B, --tls-default-cipher-suites A:B\n"
            "                             TLS 1.2 ciphers / TLS 1.3 suites of groups that name none (OpenSSL names)\n"
            "  --help\n");
}

/* Maps a --source value ("kube", "dir:PATH") to its ops; *dir receives what follows "dir:" (or NULL). NULL when
 * the value names no source. */
static const struct tg_source_ops *source_lookup(const char *spec, const char **dir)
{
    *dir = NULL;
    if (strcmp(spec, "kube") == 0)
        return &tg_kube_source_ops;
    if (strncmp(spec, "dir:", 4) == 0 && spec[4] != '\0') {
        *dir = spec + 4;
        return &tg_dir_source_ops;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    enum { OPT_SOURCE = 1, OPT_KUBECONFIG, OPT_NAMESPACE, OPT_LEADER, OPT_SOCKET, OPT_HEALTH, OPT_ONCE, OPT_PRINT,
           OPT_TIMEOUT, OPT_LOG, OPT_HELP,
           /* kube leader election */
           OPT_LEASE_DURATION, OPT_RENEW_DEADLINE, OPT_RETRY_PERIOD, OPT_LEASE_NAME, OPT_LEASE_NAMESPACE,
           /* cluster-wide TLS defaults */
           OPT_TLS_CERT, OPT_TLS_MIN, OPT_TLS_MAX, OPT_TLS_CIPHERS, OPT_TLS_SUITES };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"namespace", required_argument, NULL, OPT_NAMESPACE},
        {"leader-elect", no_argument, NULL, OPT_LEADER},
        {"dataplane-socket", required_argument, NULL, OPT_SOCKET},
        {"health", required_argument, NULL, OPT_HEALTH},
        {"once", no_argument, NULL, OPT_ONCE},
        {"print", no_argument, NULL, OPT_PRINT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"help", no_argument, NULL, OPT_HELP},
        {"lease-duration", required_argument, NULL, OPT_LEASE_DURATION},
        {"renew-deadline", required_argument, NULL, OPT_RENEW_DEADLINE},
        {"retry-period", required_argument, NULL, OPT_RETRY_PERIOD},
        {"lease-name", required_argument, NULL, OPT_LEASE_NAME},
        {"lease-namespace", required_argument, NULL, OPT_LEASE_NAMESPACE},
        {"tls-default-certificate", required_argument, NULL, OPT_TLS_CERT},
        {"tls-default-min-version", required_argument, NULL, OPT_TLS_MIN},
        {"tls-default-max-version", required_argument, NULL, OPT_TLS_MAX},
        {"tls-default-ciphers", required_argument, NULL, OPT_TLS_CIPHERS},
        {"tls-default-cipher-suites", required_argument, NULL, OPT_TLS_SUITES},
        {NULL, 0, NULL, 0},
    };
    const char *source_spec = "kube";
    struct tg_controller_opts opts = {0};
    opts.dataplane_socket = "/run/tollgate/control.sock";
    opts.health_addr = "127.0.0.1:9902";
    opts.write_status = 1;
    tg_log_set_component("controller");
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_SOURCE:
            source_spec = optarg;
            break;
        case OPT_KUBECONFIG:
            opts.kubeconfig = optarg;
            break;
        case OPT_NAMESPACE:
            opts.namespace_ = optarg;
            break;
        case OPT_LEADER:
            opts.status.leader_elect = 1;
            break;
        case OPT_SOCKET:
            opts.dataplane_socket = optarg;
            break;
        case OPT_HEALTH:
            opts.health_addr = strcmp(optarg, "off") == 0 || !*optarg ? NULL : optarg;
            break;
        case OPT_ONCE:
            opts.once = 1;
            break;
        case OPT_PRINT:
            opts.print = 1;
            break;
        case OPT_TIMEOUT: {
            char *end;
            opts.once_timeout_s = strtod(optarg, &end);
            if (*end || opts.once_timeout_s <= 0 || opts.once_timeout_s > 86400) {
                fprintf(stderr, "error: --timeout %s: expected seconds (0 < s <= 86400)\n", optarg);
                return 3;
            }
            break;
        }
        case OPT_LOG: {
            int lvl = tg_log_parse_level(optarg);
            if (lvl < 0) {
                fprintf(stderr, "error: --log-level %s: expected debug, info, warn, error or off\n", optarg);
                return 3;
            }
            tg_log_set_level((enum tg_log_level)lvl);
            break;
        }
        case OPT_HELP:
            usage(stdout);
            return 0;
        /* kube leader election */
        case OPT_LEASE_DURATION:
        case OPT_RENEW_DEADLINE:
        case OPT_RETRY_PERIOD: {
            uint64_t ms = 0;
            const char *why = NULL;
            if (tg_duration_parse_ms(optarg, 3600000, &ms, &why) != 0 || ms == 0) {
                const char *flag = ch == OPT_LEASE_DURATION   ? "lease-duration"
                                   : ch == OPT_RENEW_DEADLINE ? "renew-deadline"
                                                              : "retry-period";
                fprintf(stderr, "error: --%s %s: %s\n", flag, optarg, why ? why : "must be above zero");
                return 3;
            }
            if (ch == OPT_LEASE_DURATION)
                opts.status.lease_duration_ms = (uint32_t)ms;
            else if (ch == OPT_RENEW_DEADLINE)
                opts.status.renew_deadline_ms = (uint32_t)ms;
            else
                opts.status.retry_period_ms = (uint32_t)ms;
            break;
        }
        case OPT_LEASE_NAME:
            opts.status.lease_name = optarg;
            break;
        case OPT_LEASE_NAMESPACE:
            opts.status.lease_namespace = optarg;
            break;
        case OPT_TLS_CERT: opts.tls_defaults.certificate_secret = optarg; break;
        case OPT_TLS_MIN: opts.tls_defaults.min_version = optarg; break;
        case OPT_TLS_MAX: opts.tls_defaults.max_version = optarg; break;
        case OPT_TLS_CIPHERS: opts.tls_defaults.ciphers = optarg; break;
        case OPT_TLS_SUITES: opts.tls_defaults.cipher_suites = optarg; break;
        default:
            usage(stderr);
            return 3;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return 3;
    }
    if (opts.once && opts.print) {
        fprintf(stderr, "error: --once and --print exclude each other\n");
        return 3;
    }
    char err[512];
    if (tg_tls_defaults_check(&opts.tls_defaults, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 3;
    }
    opts.source = source_lookup(source_spec, &opts.source_dir);
    if (!opts.source) {
        fprintf(stderr, "error: --source %s: expected kube or dir:PATH\n", source_spec);
        return 3;
    }
    if (opts.once || opts.print)
        opts.write_status = 0;
    if (opts.print && tg_log_get_level() < TG_LOG_WARN)
        tg_log_set_level(TG_LOG_WARN); /* stdout carries the JSON; keep stderr for problems */
    return tg_controller_run(&opts);
}
