/* kube_lease.c — Lease-based leader election; see kube_lease.h.
 *
 * One attempt: GET the Lease. 404 → create it with us as holder. Otherwise, when it is held by someone else
 * and that record changed less than leaseDurationSeconds ago (by our clock), follow; else PUT it back with us
 * as holder and the resourceVersion we read (the API server refuses with 409 when another replica wrote in
 * between, so at most one writer wins a round).
 */
#include "status/kube_lease.h"

#include "clock.h"
#include "backoff.h"
#include "kube/kube_client.h"
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tg_kube_lease {
    struct tg_kube_client *c;
    struct tg_kube_lease_opts o;
    char *ns, *name, *identity;
    tg_kube_lease_cb cb;
    void *arg;
    struct tg_kube_request *req;
    ev_timer tick;              /* next attempt */
    ev_timer deadline;          /* fires when a leader failed to renew in time */
    struct tg_backoff jitter;
    int leading;
    int releasing, released;
    char holder[256];
    char observed_record[600];  /* holder + renewTime + transitions as last seen */
    uint64_t observed_ms;       /* when observed_record last changed (monotonic) */
    uint64_t last_renew_ms;
    uint64_t transitions;
    char rv[80];                /* resourceVersion of the Lease as we last wrote it (for the release) */
    char acquire_time[64];      /* acquireTime as we last wrote it */
    char last_error[1024];
};

void tg_kube_micro_time(uint64_t wall_us, char *out, unsigned long outlen)
{
    time_t sec = (time_t)(wall_us / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%06uZ", date, (unsigned)(wall_us % 1000000u));
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void set_leading(struct tg_kube_lease *l, int leading)
{
    struct ev_loop *loop = tg_kube_client_loop(l->c);
    if (leading) {
        l->last_renew_ms = tg_now_ms();
        ev_timer_stop(loop, &l->deadline);
        ev_timer_set(&l->deadline, l->o.renew_deadline_ms / 1000.0, 0.);
        ev_timer_start(loop, &l->deadline);
    } else {
        ev_timer_stop(loop, &l->deadline);
    }
    if (leading == l->leading)
        return;
    l->leading = leading;
    if (leading) {
        snprintf(l->holder, sizeof l->holder, "%s", l->identity);
        tg_info("kube: lease %s/%s: became leader as %s", l->ns, l->name, l->identity);
    } else {
        tg_info("kube: lease %s/%s: stopped leading", l->ns, l->name);
    }
    l->cb(l->arg, leading);
}

static void schedule(struct tg_kube_lease *l, uint32_t ms)
{
    struct ev_loop *loop = tg_kube_client_loop(l->c);
    ev_timer_stop(loop, &l->tick);
    ev_timer_set(&l->tick, ms / 1000.0, 0.);
    ev_timer_start(loop, &l->tick);
}

static void schedule_next(struct tg_kube_lease *l)
{
    /* client-go jitters the retry period by up to 20% (wait.JitterUntil with factor 1.2). */
    uint32_t p = l->o.retry_period_ms;
    schedule(l, tg_backoff_rand(&l->jitter, p, p + p / 5));
}

static void note_error(struct tg_kube_lease *l, const char *msg)
{
    if (strcmp(l->last_error, msg) == 0)
        return;
    snprintf(l->last_error, sizeof l->last_error, "%s", msg);
    tg_warn("kube: lease %s/%s: %s", l->ns, l->name, msg);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_kube_lease *l = t->data;
    if (l->leading) {
        tg_warn("kube: lease %s/%s: could not renew within %u ms; stepping down", l->ns, l->name,
                l->o.renew_deadline_ms);
        set_leading(l, 0);
    }
}

static char *lease_body(struct tg_kube_lease *l, const char *rv, const char *holder, const char *acquire_time,
                        uint64_t transitions, int duration_s)
{
    char now[40];
    tg_kube_micro_time(wall_us(), now, sizeof now);
    json_t *md = json_pack("{s:s, s:s}", "name", l->name, "namespace", l->ns);
    if (rv)
        json_object_set_new(md, "resourceVersion", json_string(rv));
    json_t *spec = json_pack("{s:s, s:i, s:s, s:s, s:I}", "holderIdentity", holder, "leaseDurationSeconds",
                             duration_s, "acquireTime", acquire_time ? acquire_time : now, "renewTime", now,
                             "leaseTransitions", (json_int_t)transitions);
    json_t *lease = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                              "metadata", md, "spec", spec);
    char *body = json_dumps(lease, JSON_COMPACT);
    json_decref(lease);
    return body;
}

static int duration_seconds(const struct tg_kube_lease *l)
{
    int s = (int)((l->o.lease_duration_ms + 999) / 1000);
    return s < 1 ? 1 : s;
}

static void on_written(void *arg, const struct tg_kube_response *resp)
{
    struct tg_kube_lease *l = arg;
    l->req = NULL;
    if (l->releasing) {
        l->released = resp->status == 200;
        if (!l->released) {
            char msg[1024];
            tg_warn("kube: lease %s/%s: release failed (a successor waits out the lease): %s", l->ns, l->name,
                    tg_kube_describe_error(resp, "update", "leases", msg, sizeof msg));
        }
        return;
    }
    if (resp->status == 200 || resp->status == 201) {
        json_t *lease = json_loadb(resp->body, resp->body_len, 0, NULL);
        const char *rv = json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
        const char *at = json_string_value(json_object_get(json_object_get(lease, "spec"), "acquireTime"));
        snprintf(l->rv, sizeof l->rv, "%s", rv ? rv : "");
        snprintf(l->acquire_time, sizeof l->acquire_time, "%s", at ? at : "");
        json_decref(lease);
        l->last_error[0] = '\0';
        set_leading(l, 1);
    } else if (resp->status == 409) {
        /* Another replica updated the Lease between our read and write: it won this round. */
        tg_debug("kube: lease %s/%s: conflict; will look again", l->ns, l->name);
    } else {
        char msg[1024];
        note_error(l, tg_kube_describe_error(resp, resp->status == 404 ? "create" : "update", "leases", msg,
                                             sizeof msg));
    }
    schedule_next(l);
}

static void write_lease(struct tg_kube_lease *l, const char *method, const char *rv, const char *acquire_time,
                        uint64_t transitions)
{
    char *body = lease_body(l, rv, l->identity, acquire_time, transitions, duration_seconds(l));
    char path[768];
    if (strcmp(method, "POST") == 0)
        snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
    else
        snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
    struct tg_kube_request_opts o = {.method = method, .path = path, .body = body,
                                     .body_len = body ? strlen(body) : 0, .timeout_ms = l->o.renew_deadline_ms,
                                     .on_done = on_written, .arg = l};
    l->req = body ? tg_kube_request_start(l->c, &o) : NULL;
    free(body);
    if (!l->req)
        schedule_next(l);
}

static void on_read(void *arg, const struct tg_kube_response *resp)
{
    struct tg_kube_lease *l = arg;
    l->req = NULL;
    if (resp->status == 404) {
        write_lease(l, "POST", NULL, NULL, 0);
        return;
    }
    if (resp->status != 200) {
        char msg[1024];
        note_error(l, tg_kube_describe_error(resp, "get", "leases", msg, sizeof msg));
        schedule_next(l);
        return;
    }
    json_t *lease = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, NULL);
    json_t *spec = json_object_get(lease, "spec");
    const char *rv = json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
    if (!rv) {
        note_error(l, "the Lease has no metadata.resourceVersion");
        json_decref(lease);
        schedule_next(l);
        return;
    }
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    const char *renew = json_string_value(json_object_get(spec, "renewTime"));
    const char *acquire = json_string_value(json_object_get(spec, "acquireTime"));
    json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    uint64_t transitions = (uint64_t)json_integer_value(json_object_get(spec, "leaseTransitions"));
    if (!holder)
        holder = "";
    if (dur <= 0)
        dur = duration_seconds(l);
    char record[600];
    snprintf(record, sizeof record, "%.255s|%.64s|%llu|%lld", holder, renew ? renew : "",
             (unsigned long long)transitions, (long long)dur);
    uint64_t now = tg_now_ms();
    if (strcmp(record, l->observed_record) != 0) {
        snprintf(l->observed_record, sizeof l->observed_record, "%s", record);
        l->observed_ms = now;
    }
    if (strcmp(l->holder, holder) != 0 && strcmp(holder, l->identity) != 0)
        tg_info("kube: lease %s/%s: held by %s", l->ns, l->name, holder[0] ? holder : "(nobody)");
    snprintf(l->holder, sizeof l->holder, "%s", holder);
    l->transitions = transitions;
    l->last_error[0] = '\0';

    int ours = strcmp(holder, l->identity) == 0;
    int expired = now - l->observed_ms >= (uint64_t)dur * 1000u;
    if (holder[0] && !ours && !expired) {
        set_leading(l, 0);
        json_decref(lease);
        schedule_next(l);
        return;
    }
    /* Free, expired, or ours: take or renew it. */
    char acquire_copy[64];
    snprintf(acquire_copy, sizeof acquire_copy, "%s", acquire ? acquire : "");
    char rv_copy[80];
    snprintf(rv_copy, sizeof rv_copy, "%s", rv);
    json_decref(lease);
    write_lease(l, "PUT", rv_copy, ours && acquire_copy[0] ? acquire_copy : NULL, ours ? transitions
                                                                                      : transitions + 1);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_kube_lease *l = t->data;
    if (l->req || l->releasing)
        return;
    char path[768];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
    struct tg_kube_request_opts o = {.method = "GET", .path = path, .timeout_ms = l->o.renew_deadline_ms,
                                     .on_done = on_read, .arg = l};
    l->req = tg_kube_request_start(l->c, &o);
    if (!l->req)
        schedule_next(l);
}

struct tg_kube_lease *tg_kube_lease_new(struct tg_kube_client *c, const struct tg_kube_lease_opts *o,
                                        tg_kube_lease_cb cb, void *arg)
{
    if (!o->namespace_ || !o->name || !o->identity || !o->namespace_[0] || !o->name[0] || !o->identity[0] ||
        o->renew_deadline_ms >= o->lease_duration_ms || o->retry_period_ms >= o->renew_deadline_ms ||
        o->retry_period_ms == 0)
        return NULL;
    for (const char *p = o->namespace_; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return NULL;
    for (const char *p = o->name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return NULL;
    struct tg_kube_lease *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->c = c;
    l->o = *o;
    l->ns = strdup(o->namespace_);
    l->name = strdup(o->name);
    l->identity = strdup(o->identity);
    l->cb = cb;
    l->arg = arg;
    tg_backoff_init(&l->jitter, 1, 1, tg_now_ms() ^ (uint64_t)(uintptr_t)l);
    ev_init(&l->tick, on_tick);
    l->tick.data = l;
    ev_init(&l->deadline, on_deadline);
    l->deadline.data = l;
    if (!l->ns || !l->name || !l->identity) {
        tg_kube_lease_free(l);
        return NULL;
    }
    return l;
}

void tg_kube_lease_start(struct tg_kube_lease *l)
{
    schedule(l, 0);
}

void tg_kube_lease_release(struct tg_kube_lease *l, uint32_t timeout_ms)
{
    if (!l || !l->leading)
        return;
    set_leading(l, 0);
    tg_kube_request_cancel(l->req);
    l->req = NULL;
    l->releasing = 1;
    /* Clear the record we hold, conditional on it being the one we last wrote (resourceVersion): if someone
     * else wrote since, the Lease is not ours to clear. client-go's release does the same. */
    char now[40];
    tg_kube_micro_time(wall_us(), now, sizeof now);
    char *body = l->rv[0] ? lease_body(l, l->rv, "", l->acquire_time[0] ? l->acquire_time : now, l->transitions, 1)
                          : NULL;
    char path[768];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
    struct tg_kube_request_opts o = {.method = "PUT", .path = path, .body = body,
                                     .body_len = body ? strlen(body) : 0, .timeout_ms = timeout_ms,
                                     .on_done = on_written, .arg = l};
    l->req = body ? tg_kube_request_start(l->c, &o) : NULL;
    free(body);
    struct ev_loop *loop = tg_kube_client_loop(l->c);
    uint64_t until = tg_now_ms() + timeout_ms;
    while (l->req && !l->released && tg_now_ms() < until)
        ev_run(loop, EVRUN_ONCE);
    if (l->released)
        tg_info("kube: lease %s/%s: released", l->ns, l->name);
}

void tg_kube_lease_free(struct tg_kube_lease *l)
{
    if (!l)
        return;
    tg_kube_request_cancel(l->req);
    struct ev_loop *loop = tg_kube_client_loop(l->c);
    ev_timer_stop(loop, &l->tick);
    ev_timer_stop(loop, &l->deadline);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}

