/* status_writer.c — see status_writer.h: leadership switches the conditions writer on and off. */
#include "status/status_writer.h"

#include "status/kube_events.h"
#include "status/kube_lease.h"
#include "status/kube_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tg_status_writer {
    struct tg_kube_events *events;
    struct tg_kube_status *status;
    struct tg_kube_lease *lease;
    int leading;
    char identity[256], lease_ns[256], lease_name[256];
};

static void on_leading(void *arg, int leading)
{
    struct tg_status_writer *w = arg;
    w->leading = leading;
    if (w->status) /* NULL while the Lease is released at shutdown */
        tg_kube_status_set_enabled(w->status, leading);
}

static void make_identity(char *out, size_t outlen)
{
    char host[128] = "tollgate";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    unsigned char rnd[4] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        fclose(f);
    }
    snprintf(out, outlen, "%s_%02x%02x%02x%02x_%d", host, rnd[0], rnd[1], rnd[2], rnd[3], (int)getpid());
}

struct tg_status_writer *tg_status_writer_new(struct tg_kube_client *c, struct tg_store *store,
                                              const struct tg_status_writer_opts *o, char *err, size_t errlen)
{
    struct tg_status_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (o->identity && o->identity[0])
        snprintf(w->identity, sizeof w->identity, "%s", o->identity);
    else
        make_identity(w->identity, sizeof w->identity);
    w->events = tg_kube_events_new(c, "tollgate-controller", w->identity);
    w->status = w->events ? tg_kube_status_new(c, store, w->events) : NULL;
    if (!w->status) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (o->leader_elect) {
        snprintf(w->lease_name, sizeof w->lease_name, "%s",
                 o->lease_name && o->lease_name[0] ? o->lease_name : "tollgate-controller");
        snprintf(w->lease_ns, sizeof w->lease_ns, "%s",
                 o->lease_namespace && o->lease_namespace[0]     ? o->lease_namespace
                 : o->default_namespace && o->default_namespace[0] ? o->default_namespace
                                                                   : "default");
        struct tg_kube_lease_opts lo = {
            .namespace_ = w->lease_ns, .name = w->lease_name, .identity = w->identity,
            .lease_duration_ms = o->lease_duration_ms ? o->lease_duration_ms : 15000,
            .renew_deadline_ms = o->renew_deadline_ms ? o->renew_deadline_ms : 10000,
            .retry_period_ms = o->retry_period_ms ? o->retry_period_ms : 2000};
        w->lease = tg_kube_lease_new(c, &lo, on_leading, w);
        if (!w->lease) {
            snprintf(err, errlen, "invalid leader election settings: need retry-period < renew-deadline < "
                     "lease-duration and a valid lease name/namespace (%s/%s)", w->lease_ns, w->lease_name);
            goto fail;
        }
    }
    return w;
fail:
    tg_status_writer_free(w);
    return NULL;
}

void tg_status_writer_start(struct tg_status_writer *w)
{
    if (w->lease)
        tg_kube_lease_start(w->lease);
    else
        on_leading(w, 1);
}

void tg_status_writer_free(struct tg_status_writer *w)
{
    if (!w)
        return;
    /* Stop writing first: releasing the Lease runs the loop briefly, and no status write may start then. */
    tg_kube_status_free(w->status);
    w->status = NULL;
    tg_kube_events_free(w->events);
    w->events = NULL;
    if (w->lease) {
        tg_kube_lease_release(w->lease, 1000);
        tg_kube_lease_free(w->lease);
    }
    free(w);
}

void tg_status_writer_report(struct tg_status_writer *w, uint64_t version, const struct tg_translation *t)
{
    if (w->status)
        tg_kube_status_report(w->status, version, t);
}

void tg_status_writer_acknowledged(struct tg_status_writer *w, uint64_t version)
{
    if (w->status)
        tg_kube_status_acknowledged(w->status, version);
}

void tg_status_writer_recheck(struct tg_status_writer *w, enum tg_kind kind, const char *ns, const char *name)
{
    if (w->status)
        tg_kube_status_recheck(w->status, kind, ns, name);
}

size_t tg_status_writer_metrics(const struct tg_status_writer *w, char *out, size_t outlen)
{
    if (!outlen)
        return 0;
    const struct tg_kube_status_stats *ss = tg_kube_status_stats(w->status);
    int n = snprintf(out, outlen,
                     "# HELP tollgate_controller_leader 1 while this replica writes status (holds the Lease, or "
                     "leader election is off).\n# TYPE tollgate_controller_leader gauge\n"
                     "tollgate_controller_leader %d\n"
                     "# HELP tollgate_controller_status_writes_total Status subresource writes.\n"
                     "# TYPE tollgate_controller_status_writes_total counter\n"
                     "tollgate_controller_status_writes_total %llu\n"
                     "# HELP tollgate_controller_status_write_failures_total Status writes the API server refused "
                     "or did not answer.\n"
                     "# TYPE tollgate_controller_status_write_failures_total counter\n"
                     "tollgate_controller_status_write_failures_total %llu\n"
                     "# HELP tollgate_controller_events_total Kubernetes Events sent.\n"
                     "# TYPE tollgate_controller_events_total counter\n"
                     "tollgate_controller_events_total %llu\n",
                     w->leading, (unsigned long long)ss->writes, (unsigned long long)ss->write_failures,
                     (unsigned long long)tg_kube_events_sent(w->events));
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}
