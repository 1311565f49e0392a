/* dataplane.h — the process: its configuration, its workers, and the main thread's state (the snapshot in
 * force, the control socket's pending applies, the admin API). The main thread runs libev's default loop for
 * the admin and control servers and signals; workers run their own loops (worker.h). */
#ifndef TG_DATAPLANE_H
#define TG_DATAPLANE_H

#include "mini_http_server.h"
#include "config/snapshot.h"
#include "loop/worker.h"

#include <ev.h>
#include <stdatomic.h>
#include <stdint.h>

struct tg_pending_apply {
    struct tg_pending_apply *next;
    void *conn;                     /* the control request to answer */
    uint64_t version;
};

struct tg_dataplane {
    struct tg_dataplane_config config;
    const char *admin_addr;
    const char *control_socket;
    const char *snapshot_file;
    struct ev_loop *loop;           /* main thread */
    struct tg_worker *workers;
    int num_workers;

    struct tg_snapshot *current;    /* main thread's reference to the snapshot in force */
    uint64_t applied_version;
    uint64_t applied_wall_ms;
    char boot_id[40];

    _Atomic uint64_t acked[TG_METRICS_MAX_WORKERS]; /* version each worker switched to */
    ev_async acks;                  /* workers → main: a worker switched */
    struct tg_pending_apply *pending;

    struct tg_mini_server admin;
    struct tg_mini_server control;
    ev_signal sigterm, sigint;
    ev_timer drain_watch;
    int stopping;
};

extern struct tg_dataplane *tg_dp;

/* control_api.c */
/* Validates doc and swaps it in on every worker. Returns the new snapshot's version (>0), or 0 with errors
 * appended to errors (a JSON array); *conflict is set when the version is older than the applied one. */
uint64_t tg_dataplane_apply(struct tg_dataplane *dp, json_t *doc, json_t *errors, int *conflict);
void tg_control_handle(struct tg_mini_request *req, void *ctx);
void tg_control_on_acks(struct ev_loop *loop, ev_async *a, int revents);
void tg_control_worker_applied(struct tg_worker *w, uint64_t version);

/* admin_api.c */
void tg_admin_handle(struct tg_mini_request *req, void *ctx);

#endif
