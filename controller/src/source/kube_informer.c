/* kube_informer.c — the informer list+watch state machine; see kube_informer.h.
 *
 * Kubernetes API conventions this follows ("API Concepts" in the Kubernetes docs):
 * - a list returns metadata.resourceVersion; a watch from it delivers every change after it, in order;
 * - a watch may end at any time (timeoutSeconds, server restart); re-watching from the last resourceVersion
 *   seen loses nothing, unless that version has been compacted away: then the server answers 410 Gone (or an
 *   ERROR event with a Status of code 410) and the only correct move is a fresh list;
 * - BOOKMARK events carry only a newer resourceVersion (allowWatchBookmarks=true), keeping re-watches cheap;
 * - paginated lists (limit/continue) are consistent snapshots; an expired continue token answers 410.
 */
#include "source/kube_informer.h"

#include "backoff.h"
#include "kube/kube_lines.h"
#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WATCH_LINE (16u << 20)   /* one event; the API server caps objects well below this */
#define MAX_RV_LEN 64
#define WATCH_TIMEOUT_MIN_S 240
#define WATCH_TIMEOUT_MAX_S 480
#define BACKOFF_INITIAL_MS 500
#define BACKOFF_MAX_MS 30000

enum inf_state { INF_IDLE = 0, INF_LISTING, INF_WATCHING, INF_WAITING };

struct tg_informer {
    struct tg_kube_client *c;
    struct tg_informer_ops ops;
    void *arg;
    char *api_version, *kind, *resource;
    char path[512];             /* collection path */
    char selectors[2048];       /* "&fieldSelector=...&labelSelector=..." already escaped, or "" */
    char describe[256];
    int page_limit;

    enum inf_state state;
    struct tg_kube_request *req;
    ev_timer timer;
    struct tg_backoff backoff;
    int need_relist;            /* the next attempt lists (never listed, 410, list failed) */
    int synced;
    char rv[MAX_RV_LEN + 1];
    char continue_token[4096];
    json_t *pending;            /* items of the pages listed so far */
    struct tg_kube_lines lines;
    int watch_events;           /* events in the current watch */
    int watch_gone;             /* the current watch got an ERROR 410 */
    char watch_error[256];      /* an ERROR event that was not 410 */
    uint64_t watch_started_ms;
    char last_error[1024];       /* the current error, to log once per change */
    int last_error_logged;
    struct tg_informer_stats stats;
};

static const char *const state_names[] = {"idle", "listing", "watching", "waiting"};

static void start_list(struct tg_informer *inf);
static void start_watch(struct tg_informer *inf);

int tg_kube_collection_path(const char *api_version, const char *namespace_, const char *resource, char *out,
                            size_t outlen)
{
    const char *parts[] = {api_version, namespace_ ? namespace_ : "", resource};
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                  (i == 0 && (*p == '/' || (*p >= 'A' && *p <= 'Z')))))
                return -1;
    if (!api_version[0] || !resource[0])
        return -1;
    const char *root = strchr(api_version, '/') ? "/apis/" : "/api/";
    int n;
    if (namespace_ && namespace_[0])
        n = snprintf(out, outlen, "%s%s/namespaces/%s/%s", root, api_version, namespace_, resource);
    else
        n = snprintf(out, outlen, "%s%s/%s", root, api_version, resource);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int tg_kube_sanitize_object(json_t *obj, const char *api_version, const char *kind)
{
    if (!json_is_object(obj))
        return -1;
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md) || !json_is_string(json_object_get(md, "name")))
        return -1;
    if (!json_is_string(json_object_get(obj, "apiVersion")))
        json_object_set_new(obj, "apiVersion", json_string(api_version));
    if (!json_is_string(json_object_get(obj, "kind")))
        json_object_set_new(obj, "kind", json_string(kind));
    json_object_del(md, "managedFields");
    json_t *ann = json_object_get(md, "annotations");
    if (json_is_object(ann)) {
        json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
        if (json_object_size(ann) == 0)
            json_object_del(md, "annotations");
    }
    return 0;
}

/* Accepts a resourceVersion only when it is short and plain (it goes into a URL). */
static int set_rv(struct tg_informer *inf, const char *rv)
{
    if (!rv || !rv[0] || strlen(rv) > MAX_RV_LEN)
        return -1;
    for (const char *p = rv; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '&' || *p == '#' || *p == '%' || *p == '+')
            return -1;
    memcpy(inf->rv, rv, strlen(rv) + 1);
    return 0;
}

static const char *object_rv(json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* Logs an error once per distinct message (a retry loop with the same error stays quiet). */
static void note_error(struct tg_informer *inf, const char *msg)
{
    if (strcmp(inf->last_error, msg) == 0)
        return;
    snprintf(inf->last_error, sizeof inf->last_error, "%s", msg);
    inf->last_error_logged = 1;
    tg_warn("kube: %s: %s; retrying with backoff", inf->describe, msg);
}

/* A transport failure: the client logs unreachability once for all informers; stay quiet here. */
static void note_transport_error(struct tg_informer *inf, const struct tg_kube_response *resp)
{
    tg_debug("kube: %s: %s", inf->describe, resp->error ? resp->error : "no response");
    if (!inf->last_error[0])
        snprintf(inf->last_error, sizeof inf->last_error, "unreachable");
}

static void note_ok(struct tg_informer *inf)
{
    if (!inf->last_error[0])
        return;
    if (inf->last_error_logged)
        tg_info("kube: %s: recovered (%s)", inf->describe, state_names[inf->state]);
    inf->last_error[0] = '\0';
    inf->last_error_logged = 0;
}

static void note_response_error(struct tg_informer *inf, const struct tg_kube_response *resp, const char *verb)
{
    char msg[1024];
    if (resp->status == 0)
        note_transport_error(inf, resp);
    else
        note_error(inf, tg_kube_describe_error(resp, verb, inf->describe, msg, sizeof msg));
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct tg_informer *inf = w->data;
    if (inf->state != INF_WAITING)
        return;
    if (inf->need_relist || !inf->synced)
        start_list(inf);
    else
        start_watch(inf);
}

static void wait_then(struct tg_informer *inf, int relist, uint32_t delay_ms)
{
    inf->state = INF_WAITING;
    if (relist)
        inf->need_relist = 1;
    struct ev_loop *loop = tg_kube_client_loop(inf->c);
    ev_timer_stop(loop, &inf->timer);
    ev_timer_set(&inf->timer, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(loop, &inf->timer);
}

static void retry_later(struct tg_informer *inf, int relist)
{
    wait_then(inf, relist, tg_backoff_next(&inf->backoff));
}

/* ---- list --------------------------------------------------------------------------------------------- */

static void on_list_done(void *arg, const struct tg_kube_response *resp)
{
    struct tg_informer *inf = arg;
    inf->req = NULL;
    char msg[1024];
    if (resp->error || resp->status != 200) {
        if (resp->status == 410 && inf->continue_token[0]) {
            /* The continue token expired mid-list: start over from the first page, now. */
            tg_info("kube: %s: list continuation expired; listing again", inf->describe);
            json_array_clear(inf->pending);
            inf->continue_token[0] = '\0';
            wait_then(inf, 1, 0);
            return;
        }
        note_response_error(inf, resp, "list");
        json_array_clear(inf->pending);
        inf->continue_token[0] = '\0';
        retry_later(inf, 1);
        return;
    }
    json_error_t jerr;
    json_t *list = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *items = json_object_get(list, "items");
    json_t *md = json_object_get(list, "metadata");
    const char *cont = json_string_value(json_object_get(md, "continue"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (!json_is_object(list) || !(json_is_array(items) || json_is_null(items)) || !rv) {
        snprintf(msg, sizeof msg, "list %s: not a list (%s)", inf->describe, list ? "no items/resourceVersion"
                                                                                 : jerr.text);
        goto bad;
    }
    if (cont && strlen(cont) >= sizeof inf->continue_token) {
        snprintf(msg, sizeof msg, "list %s: continue token too long", inf->describe);
        goto bad;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (tg_kube_sanitize_object(item, inf->api_version, inf->kind) != 0) {
            snprintf(msg, sizeof msg, "list %s: item %zu is not an object with metadata.name", inf->describe, i);
            goto bad;
        }
        json_array_append(inf->pending, item);
    }
    if (cont && cont[0]) {
        snprintf(inf->continue_token, sizeof inf->continue_token, "%s", cont);
        json_decref(list);
        start_list(inf);
        return;
    }
    if (set_rv(inf, rv) != 0) {
        snprintf(msg, sizeof msg, "list %s: bad resourceVersion", inf->describe);
        goto bad;
    }
    inf->continue_token[0] = '\0';
    if (inf->stats.lists++ > 0)
        inf->stats.relists++;
    inf->need_relist = 0;
    inf->synced = 1;
    tg_debug("kube: %s: listed %zu objects at resourceVersion %s", inf->describe, json_array_size(inf->pending),
             inf->rv);
    json_t *all = inf->pending;
    inf->pending = json_array();
    json_decref(list);
    note_ok(inf);
    inf->ops.on_replace(inf->arg, all); /* may free inf? no: owners free informers only outside callbacks */
    json_decref(all);
    start_watch(inf);
    return;
bad:
    json_decref(list);
    json_array_clear(inf->pending);
    inf->continue_token[0] = '\0';
    note_error(inf, msg);
    retry_later(inf, 1);
}

static void start_list(struct tg_informer *inf)
{
    char path[8192], esc[4096 * 3 + 1];
    int n = snprintf(path, sizeof path, "%s?limit=%d%s", inf->path, inf->page_limit, inf->selectors);
    if (inf->continue_token[0] && tg_kube_query_escape(inf->continue_token, esc, sizeof esc))
        n += snprintf(path + n, sizeof path - (size_t)n, "&continue=%s", esc);
    if (n < 0 || (size_t)n >= sizeof path) {
        tg_error("kube: %s: list path too long", inf->describe);
        retry_later(inf, 1);
        return;
    }
    struct tg_kube_request_opts o = {.method = "GET", .path = path, .timeout_ms = 60000,
                                     .on_done = on_list_done, .arg = inf};
    inf->state = INF_LISTING;
    inf->req = tg_kube_request_start(inf->c, &o);
    if (!inf->req)
        retry_later(inf, 1);
}

/* ---- watch -------------------------------------------------------------------------------------------- */

/* One line of the watch stream: {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}. */
static int on_watch_line(void *arg, char *line, size_t len)
{
    struct tg_informer *inf = arg;
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        snprintf(inf->watch_error, sizeof inf->watch_error, "malformed watch event (%s)",
                 ev ? "no type/object" : jerr.text);
        json_decref(ev);
        return -1;
    }
    int rc = 0;
    if (strcmp(type, "ERROR") == 0) {
        /* A Status; 410 means our resourceVersion was compacted away: relist. */
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *m = json_string_value(json_object_get(obj, "message"));
        if (code == 410) {
            inf->watch_gone = 1;
        } else {
            snprintf(inf->watch_error, sizeof inf->watch_error, "watch ERROR event %lld: %s", (long long)code,
                     m ? m : "");
        }
        rc = -1;
    } else if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(inf, object_rv(obj));
    } else {
        enum tg_watch_type t;
        if (strcmp(type, "ADDED") == 0)
            t = TG_WATCH_ADDED;
        else if (strcmp(type, "MODIFIED") == 0)
            t = TG_WATCH_MODIFIED;
        else if (strcmp(type, "DELETED") == 0)
            t = TG_WATCH_DELETED;
        else {
            tg_debug("kube: %s: ignoring watch event type %.32s", inf->describe, type);
            json_decref(ev);
            return 0;
        }
        if (tg_kube_sanitize_object(obj, inf->api_version, inf->kind) != 0) {
            snprintf(inf->watch_error, sizeof inf->watch_error, "watch event without metadata.name");
            rc = -1;
        } else {
            set_rv(inf, object_rv(obj));
            inf->watch_events++;
            inf->stats.events++;
            inf->ops.on_event(inf->arg, t, obj);
        }
    }
    json_decref(ev);
    return rc;
}

static int on_watch_data(void *arg, const char *data, size_t len)
{
    struct tg_informer *inf = arg;
    if (inf->watch_events == 0 && inf->last_error[0])
        note_ok(inf); /* the stream is flowing again */
    int rc = tg_kube_lines_feed(&inf->lines, data, len, on_watch_line, inf);
    if (rc == -2)
        snprintf(inf->watch_error, sizeof inf->watch_error, "watch event over %u bytes", MAX_WATCH_LINE);
    else if (rc == -3)
        snprintf(inf->watch_error, sizeof inf->watch_error, "out of memory");
    return rc == 0 ? 0 : -1;
}

static void on_watch_done(void *arg, const struct tg_kube_response *resp)
{
    struct tg_informer *inf = arg;
    inf->req = NULL;
    size_t tail = tg_kube_lines_pending(&inf->lines);
    tg_kube_lines_reset(&inf->lines);
    if (inf->watch_gone || resp->status == 410) {
        tg_info("kube: %s: resourceVersion %s is too old (410 Gone); relisting", inf->describe, inf->rv);
        wait_then(inf, 1, 0);
        return;
    }
    if (inf->watch_error[0]) {
        note_error(inf, inf->watch_error);
        retry_later(inf, 0);
        return;
    }
    if (resp->error || resp->status != 200) {
        note_response_error(inf, resp, "watch");
        retry_later(inf, resp->status == 404); /* 404: the resource went away; list again when it is back */
        return;
    }
    if (tail) {
        note_error(inf, "watch stream ended in the middle of an event");
        retry_later(inf, 0);
        return;
    }
    /* A normal end (timeoutSeconds, or the server closed the stream): watch again from rv. A watch that
     * ended at once without events is treated as a failure, so a misbehaving server cannot make us spin. */
    note_ok(inf);
    if (inf->watch_events > 0 || tg_now_ms() - inf->watch_started_ms > 1000) {
        tg_backoff_reset(&inf->backoff);
        wait_then(inf, 0, 0);
    } else {
        retry_later(inf, 0);
    }
}

static void start_watch(struct tg_informer *inf)
{
    char path[8192];
    uint32_t timeout_s = tg_backoff_rand(&inf->backoff, WATCH_TIMEOUT_MIN_S, WATCH_TIMEOUT_MAX_S);
    int n = snprintf(path, sizeof path,
                     "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s", inf->path,
                     inf->rv, timeout_s, inf->selectors);
    if (n < 0 || (size_t)n >= sizeof path) {
        retry_later(inf, 1);
        return;
    }
    if (inf->watch_started_ms)
        inf->stats.watch_restarts++;
    inf->watch_started_ms = tg_now_ms();
    inf->watch_events = 0;
    inf->watch_gone = 0;
    inf->watch_error[0] = '\0';
    tg_kube_lines_reset(&inf->lines);
    struct tg_kube_request_opts o = {.method = "GET", .path = path, .timeout_ms = (long)(timeout_s + 30) * 1000,
                                     .on_data = on_watch_data, .on_done = on_watch_done, .arg = inf};
    inf->state = INF_WATCHING;
    inf->req = tg_kube_request_start(inf->c, &o);
    if (!inf->req)
        retry_later(inf, 0);
}

/* ---- public ------------------------------------------------------------------------------------------- */

struct tg_informer *tg_informer_new(struct tg_kube_client *c, const struct tg_informer_spec *spec,
                                    const struct tg_informer_ops *ops, void *arg)
{
    struct tg_informer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->c = c;
    inf->ops = *ops;
    inf->arg = arg;
    inf->api_version = strdup(spec->api_version);
    inf->kind = strdup(spec->kind);
    inf->resource = strdup(spec->resource);
    inf->pending = json_array();
    inf->page_limit = spec->page_limit > 0 ? spec->page_limit : 500;
    if (!inf->api_version || !inf->kind || !inf->resource || !inf->pending ||
        tg_kube_collection_path(spec->api_version, spec->namespace_, spec->resource, inf->path,
                                sizeof inf->path) != 0)
        goto fail;

    char fs[1024] = "", esc[3 * 1024 + 1];
    int n = 0;
    if (spec->name)
        n = snprintf(fs, sizeof fs, "metadata.name=%s", spec->name);
    if (spec->field_selector && spec->field_selector[0])
        n += snprintf(fs + n, sizeof fs - (size_t)n, "%s%s", n ? "," : "", spec->field_selector);
    if (n < 0 || (size_t)n >= sizeof fs)
        goto fail;
    size_t off = 0;
    if (fs[0]) {
        if (!tg_kube_query_escape(fs, esc, sizeof esc))
            goto fail;
        off += (size_t)snprintf(inf->selectors, sizeof inf->selectors, "&fieldSelector=%s", esc);
    }
    if (spec->label_selector && spec->label_selector[0]) {
        if (!tg_kube_query_escape(spec->label_selector, esc, sizeof esc) ||
            off + strlen(esc) + 16 >= sizeof inf->selectors)
            goto fail;
        memcpy(inf->selectors + off, "&labelSelector=", 15);
        memcpy(inf->selectors + off + 15, esc, strlen(esc) + 1);
    }
    snprintf(inf->describe, sizeof inf->describe, "%s%s%s%s%s%s%s", spec->resource,
             spec->namespace_ && spec->namespace_[0] ? " in " : "", spec->namespace_ ? spec->namespace_ : "",
             fs[0] ? " (" : "", fs, fs[0] ? ")" : "", "");
    tg_kube_lines_init(&inf->lines, MAX_WATCH_LINE);
    tg_backoff_init(&inf->backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, tg_now_ms() ^ (uint64_t)(uintptr_t)inf);
    ev_init(&inf->timer, on_timer);
    inf->timer.data = inf;
    inf->need_relist = 1;
    return inf;
fail:
    free(inf->api_version);
    free(inf->kind);
    free(inf->resource);
    json_decref(inf->pending);
    free(inf);
    return NULL;
}

void tg_informer_start(struct tg_informer *inf)
{
    if (inf->state == INF_IDLE)
        start_list(inf);
}

void tg_informer_free(struct tg_informer *inf)
{
    if (!inf)
        return;
    tg_kube_request_cancel(inf->req);
    ev_timer_stop(tg_kube_client_loop(inf->c), &inf->timer);
    tg_kube_lines_free(&inf->lines);
    json_decref(inf->pending);
    free(inf->api_version);
    free(inf->kind);
    free(inf->resource);
    free(inf);
}

/* The accessors accept NULL (an informer already freed during shutdown reads as empty). */
int tg_informer_synced(const struct tg_informer *inf)
{
    return inf ? inf->synced : 0;
}

const struct tg_informer_stats *tg_informer_stats(const struct tg_informer *inf)
{
    static const struct tg_informer_stats none;
    return inf ? &inf->stats : &none;
}

const char *tg_informer_describe(const struct tg_informer *inf)
{
    return inf ? inf->describe : "";
}

const char *tg_informer_resource_version(const struct tg_informer *inf)
{
    return inf ? inf->rv : "";
}
