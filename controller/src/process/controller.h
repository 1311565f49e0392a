/* controller.h — the pipeline, one way: source → store → translate → hash → push (with backoff, keeping the
 * last good snapshot), plus the health endpoint, and the one-shot modes (--once, --print). */
#ifndef TG_CONTROLLER_H
#define TG_CONTROLLER_H

#include "source/source.h"

struct tg_controller_opts {
    const struct tg_source_ops *source;
    struct tg_source_config source_cfg;
    const char *dataplane_socket;  /* --dataplane-socket */
    const char *health_addr;       /* --health; NULL = none */
    int once;                      /* --once: translate, push, exit */
    int print;                     /* --print: translate, print the snapshot JSON to stdout, exit */
    double once_timeout_s;         /* --once/--print: give up after this long (0 = 30 s) */
};

/* Runs until SIGINT/SIGTERM (or the one-shot work is done). Returns the process exit code:
 * 0 success; 1 the input has errors (printed; with --once the valid part was still pushed);
 * 2 the data plane rejected the snapshot; 3 the data plane could not be reached in time / startup failed. */
int tg_controller_run(const struct tg_controller_opts *opts);

#endif
