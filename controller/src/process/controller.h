/* controller.h — the controller process: builds the pipeline's pieces on one libev loop and wires them one way —
 * source (dir or kube) → store → pipeline (translate, hash) → publisher (push.h) → status (status_writer.h, kube
 * only, fed from the pipeline and the publisher's acknowledgements) — plus the health endpoint, signals, and the
 * one-shot modes (--once, --print) with their exit codes. With --source kube it also owns the API client (one
 * HTTP/2 connection shared by the source and the status writer).
 *
 * Timers: the controller's own are libev watchers on the default loop — an ev_idle that runs the step once the
 * current callbacks are done and the --once/--print deadline ev_timer. The controller has one loop and a handful
 * of long-lived owners (source debounce, informers, pusher, status writer, Lease), so each owner embeds its own
 * ev_timer; the data plane's timer wheel exists for tens of thousands of per-connection deadlines, which the
 * controller does not have.
 */
#ifndef TG_CONTROLLER_H
#define TG_CONTROLLER_H

#include "source/source.h"
#include "translate/translation.h"
#include "status/status_writer.h"

struct tg_controller_opts {
    const struct tg_source_ops *source;  /* &tg_dir_source_ops or &tg_kube_source_ops */
    const char *source_dir;              /* dir: PATH */
    const char *kubeconfig;              /* kube: --kubeconfig (NULL: $KUBECONFIG, in-cluster, ~/.kube/config) */
    const char *namespace_;              /* kube: --namespace (NULL: all) */
    int write_status;                    /* kube: 0 in --once/--print runs (no status, no Lease) */
    struct tg_status_writer_opts status; /* kube: --leader-elect, --lease-* */
    const char *dataplane_socket;        /* --dataplane-socket */
    const char *health_addr;             /* --health; NULL = none */
    int once;                            /* --once: translate, push, exit */
    int print;                           /* --print: translate, print the snapshot JSON to stdout, exit */
    double once_timeout_s;               /* --once/--print: give up after this long (0 = 30 s) */
    struct tg_tls_defaults tls_defaults; /* --tls-default-*, checked (translate_tls_defaults.h) */
};

/* Runs until SIGINT/SIGTERM (or the one-shot work is done). Returns the process exit code:
 * 0 success; 1 the input has errors (printed; with --once the valid part was still pushed);
 * 2 the data plane rejected the snapshot; 3 the data plane could not be reached in time / startup failed. */
int tg_controller_run(const struct tg_controller_opts *opts);

#endif
